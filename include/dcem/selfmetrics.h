/* selfmetrics.h - the agent's self-metrics: what goes on <prefix>/<site>/agent
 * (docs/MQTT.md "Self-metrics", docs/schemas/agent.json).
 *
 * The agent (agent/agent.c) gathers the figures into a dcem_selfmetrics and
 * dcem_selfmetrics_json() turns them into the message's members (pure: no
 * clock, no I/O; the publisher adds schema, site and the stream's seq in
 * front). The process figures come from /proc/self/status and getrusage()
 * through dcem_selfmetrics_read_process(), the only I/O of agent/selfmetrics.c;
 * the parser of the status text is pure and tested on its own.
 */
#ifndef DCEM_SELFMETRICS_H
#define DCEM_SELFMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/publisher.h"

/* Poll counters (cumulative since the agent started). */
typedef struct dcem_sm_polls {
        uint64_t done;     /* polls finished (good or failed): one device message each */
        uint64_t failed;   /* ... of them failed (timeouts included) */
        uint64_t timeouts; /* ... of them cut at their deadline */
        uint64_t missed;   /* grid slots skipped (previous poll still running, loop late) */
} dcem_sm_polls;

/* One collector type (modbus, snmp, host, ...): its devices' polls summed. */
typedef struct dcem_sm_collector {
        const char *type;  /* borrowed; unique among the collectors passed */
        uint64_t devices;
        dcem_sm_polls polls;
} dcem_sm_collector;

/* One publisher: the agent's bounded queue in front of it, and its delivery
 * figures when it has some (MQTT: spool, replay, in flight). */
typedef struct dcem_sm_publisher {
        const char *name;  /* borrowed; unique */
        uint64_t queue_depth, queue_cap, queue_dropped_batches, queue_dropped_samples;
        uint64_t publish_failed; /* batches the publisher refused with an error */
        bool has_delivery;
        dcem_delivery_stats delivery;
} dcem_sm_publisher;

typedef struct dcem_sm_process {
        bool mem_known;           /* rss figures read (false: published as null) */
        uint64_t rss_bytes;       /* VmRSS */
        uint64_t peak_rss_bytes;  /* VmHWM */
        double cpu_user_s, cpu_system_s; /* getrusage(RUSAGE_SELF): all threads */
} dcem_sm_process;

typedef struct dcem_selfmetrics {
        int64_t ts_utc_ns;        /* when the figures were taken */
        const char *version;      /* the agent's version */
        double uptime_s;
        uint64_t devices_configured, devices_reachable;
        const dcem_sm_collector *collectors;
        size_t ncollectors;
        const dcem_sm_publisher *publishers;
        size_t npublishers;
        dcem_sm_process process;
} dcem_selfmetrics;

/* The message's members, as one JSON object text (compact, fixed order):
 * {"ts":..,"version":..,"uptime_s":..,"devices":{"configured","reachable"},
 *  "polls":{"total":{"done","failed","timeouts","missed"},
 *           "by_collector":{"<type>":{"devices","done","failed","timeouts","missed"},...}},
 *  "publishers":{"<name>":{"queue":{"depth","cap","dropped_batches","dropped_samples"},
 *                "publish_failed",["delivery":{"connected","inflight",
 *                "spool":{"bytes","records","budget_bytes","dropped_records","dropped_bytes"},
 *                "replay":{"backlog","rate","replayed"},"agent_lane":{"depth","cap","dropped"}}]},...},
 *  "process":{"rss_bytes","peak_rss_bytes","cpu_user_s","cpu_system_s"}}
 * "total" is the sum over by_collector. A figure that is not finite, or
 * memory not known, is null. On success *ret_json is malloc'd (the caller
 * frees it) and *ret_len (may be NULL) its length. 0, -EINVAL (NULL or
 * unnamed entries, duplicate names), -ENOMEM; outputs untouched on failure. */
int dcem_selfmetrics_json(const dcem_selfmetrics *m, char **ret_json, size_t *ret_len);

/* Parse the text of /proc/<pid>/status for VmRSS and VmHWM (kB) into bytes.
 * 0, or -ENOENT if either line is missing or malformed (outputs untouched). */
int dcem_selfmetrics_parse_status(const char *text, uint64_t *ret_rss_bytes, uint64_t *ret_hwm_bytes);

/* Read this process's figures: /proc/self/status (mem_known false when it
 * cannot be read or parsed) and getrusage(RUSAGE_SELF). Always fills *ret;
 * returns 0, or -errno of the /proc read (the CPU figures are filled anyway). */
int dcem_selfmetrics_read_process(dcem_sm_process *ret);

#endif
