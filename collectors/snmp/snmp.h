/* snmp.h - the SNMP collector (collectors/snmp): net-snmp's asynchronous
 * single-session API driven by the agent's loop. See snmp.c. */
#ifndef DCEM_SNMP_SNMP_H
#define DCEM_SNMP_SNMP_H

#include <stdint.h>
#include "dcem/collector.h"
#include "snmp/ident.h"

extern const dcem_collector_ops dcem_snmp_collector;

/* Counters of one device (for tests, benchmarks and the agent's own metrics). */
typedef struct snmp_dev_stats {
        uint64_t polls;
        uint64_t requests;        /* PDUs sent by dcem (net-snmp's own retries not included) */
        uint64_t responses;       /* PDUs received */
        uint64_t last_requests;   /* PDUs of the last finished poll */
        uint64_t too_big_splits;
        uint64_t max_varbinds;    /* current, after tooBig learning */
        uint64_t max_repetitions; /* current */
        char profile[64];         /* the profile in use ("" none yet) */
} snmp_dev_stats;

/* state is what dcem_snmp_collector.init returned. */
void snmp_collector_stats(const void *state, snmp_dev_stats *ret);
/* What the device said about itself when profile: auto chose (or failed to
 * choose) its profile; all "" for a device with a fixed profile. */
void snmp_collector_ident(const void *state, snmp_ident *ret);

#endif
