/* agent.h - the running agent: one configuration generation's collectors and
 * scheduler, the publishers with their bounded queues, and the agent's own
 * metrics. main.c owns the process (arguments, signals, systemd); this owns
 * the pipeline: poll -> batch -> per-publisher queue -> publisher.
 */
#ifndef DCEM_AGENT_H
#define DCEM_AGENT_H

#include <stdbool.h>
#include "dcem/config.h"
#include "dcem/loop.h"

typedef struct dcem_agent dcem_agent;

typedef struct dcem_agent_opts {
        bool once; /* --once: stdout only, no other publisher, no agent metrics */
} dcem_agent_opts;

/* Build the pipeline for cfg (ownership of cfg passes to the agent, also on
 * failure). Initialises every collector and publisher. 0, or -errno with a
 * message already logged; *ret untouched on failure. */
int dcem_agent_new(dcem_loop *loop, dcem_config *cfg, const dcem_agent_opts *opts, dcem_agent **ret);
/* Arm the scheduler (grid-aligned polls) and the agent-metrics timer. */
int dcem_agent_start(dcem_agent *a);
/* --once: poll every device now, run the loop until every poll finished and
 * its samples were written. *ret_failed gets the number of devices that failed. */
int dcem_agent_run_once(dcem_agent *a, unsigned *ret_failed);
/* SIGHUP: swap in a new, already validated configuration (ownership passes).
 * If a collector or publisher of the new one cannot start, the old one keeps
 * running and -errno is returned (logged). Queued batches carry over. */
int dcem_agent_reload(dcem_agent *a, dcem_config *cfg);
/* SIGTERM: stop polling, let polls in flight finish (until deadline_ns on the
 * monotonic clock), hand every queued batch to its publisher and flush. */
int dcem_agent_drain(dcem_agent *a, int64_t deadline_ns);
const dcem_config *dcem_agent_config(const dcem_agent *a);
void dcem_agent_free(dcem_agent *a); /* accepts NULL */

/* The reserved device name of the agent's own metrics. */
#define DCEM_AGENT_DEVICE "_agent"

#endif
