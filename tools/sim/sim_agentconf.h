/* sim_agentconf.h - a dcem-agent config for the simulated site (agentconf.c). */
#ifndef DCEM_SIM_AGENTCONF_H
#define DCEM_SIM_AGENTCONF_H

#include <stdbool.h>
#include "sim.h"

typedef struct sim_agentconf_opts {
        const char *host;      /* the address the servers listen on */
        const char *interval;  /* the agent's poll interval, e.g. "10s" */
        const char *state_dir;
        bool snmp_v3;          /* v3 authPriv (secrets written next to the file, mode 0600) */
        const char *profiles_dir; /* the agent's profiles_dir, or NULL for its default */
} sim_agentconf_opts;

/* Write the config to path (atomically, via path.tmp). Ports must be bound.
 * 0 or -errno. */
int sim_agentconf_write(const sim_site *s, const char *path, const sim_agentconf_opts *o);

#endif
