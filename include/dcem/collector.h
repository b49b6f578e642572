/* collector.h - the collector seam, after libmodbus's backends: a const table
 * of function pointers per protocol (collectors/modbus, collectors/snmp,
 * collectors/host). The core owns scheduling: it starts a poll, enforces the
 * device's deadline, and receives the samples. A collector never sleeps and
 * never logs: it waits on sockets through the loop (dcem/loop.h) and reports
 * problems as a status and an error text on the poll.
 */
#ifndef DCEM_COLLECTOR_H
#define DCEM_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include "dcem/clock.h"
#include "dcem/diag.h"
#include "dcem/loop.h"
#include "dcem/node.h"
#include "dcem/sample.h"
#include "dcem/schema.h"

struct dcem_device_conf;

/* One poll in flight, owned by the core. */
typedef struct dcem_poll dcem_poll;

/* Add a sample to the poll: the device, the time stamp and the batch are the
 * core's business. unit may be NULL (""). Names longer than DCEM_NAME_MAX-1
 * are refused. 0, -EINVAL, -ENOMEM or -E2BIG. Valid only until done. */
int dcem_poll_add(dcem_poll *p, const char *point, double value, const char *unit,
                  dcem_quality quality, dcem_kind kind);
/* Add a text sample (kind DCEM_KIND_TEXT, value NaN, unit ""): a meter's
 * model, serial number or firmware. text NULL is ""; longer than
 * DCEM_TEXT_MAX-1 bytes is cut; a quality of error empties it. Same rules
 * and errors as dcem_poll_add. */
int dcem_poll_add_text(dcem_poll *p, const char *point, const char *text, dcem_quality quality);
/* Finish the poll: status 0 (everything answered), -errno (the device failed;
 * what was added is still published with its qualities). err may be NULL.
 * After this call p is gone. Calling it from inside poll() is fine. */
void dcem_poll_done(dcem_poll *p, int status, const char *err);
/* The UTC grid slot this poll belongs to, and its monotonic deadline. */
int64_t dcem_poll_slot_utc(const dcem_poll *p);
int64_t dcem_poll_deadline(const dcem_poll *p);

/* What a collector gets from the agent. All borrowed, valid until close(). */
typedef struct dcem_collector_env {
        dcem_loop *loop;
        const dcem_clock *clock;
        const char *profiles_dir;  /* conf/profiles or /etc/dcem/profiles */
} dcem_collector_env;

typedef struct dcem_collector_ops {
        const char *name;          /* the device block key: "modbus", "snmp", "host" */
        const dcem_schema *schema; /* keys of that block; the config loader applies it */
        /* Optional semantic checks beyond the schema (a profile exists, an address
         * parses), run by the loader and --check-config. Errors go to diag with the
         * block's positions. 0 or -EINVAL. */
        int (*check)(const void *conf, const dcem_node *block, const char *profiles_dir, dcem_diag *diag);
        /* Set up a device. conf is the block applied to ops->schema (owned by the
         * configuration, valid until close). On failure return -errno and a
         * message in errbuf; *ret_state untouched. */
        int (*init)(const dcem_collector_env *env, const struct dcem_device_conf *dev, const void *conf,
                    void **ret_state, char *errbuf, size_t errlen);
        /* Start one poll; finish it with dcem_poll_done, now or later from a loop
         * callback. Return 0, or -errno if it could not even start (then the core
         * finishes the poll as failed; do not call dcem_poll_done). */
        int (*poll)(void *state, dcem_poll *p);
        /* The core gives up on a poll in flight (deadline, shutdown): stop using p
         * and drop what is pending on the wire. The core finishes p itself. */
        void (*cancel)(void *state, dcem_poll *p);
        void (*close)(void *state); /* accepts NULL */
} dcem_collector_ops;

/* The registry of built-in collectors (collectors/registry.c). */
const dcem_collector_ops *dcem_collector_find(const char *name);
/* NULL-terminated array of every built-in collector. */
extern const dcem_collector_ops *const dcem_collectors[];

#endif
