/* publisher.h - the publisher seam: where batches go (stdout, MQTT, ...).
 *
 * The core keeps one bounded queue per publisher and offers it batches in
 * order. A publisher takes a batch (0), pushes back (-EAGAIN: the core keeps
 * the batch and offers it again when the publisher's fd is ready or on its
 * next tick), or fails (-errno: the batch is counted as dropped).
 */
#ifndef DCEM_PUBLISHER_H
#define DCEM_PUBLISHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/clock.h"
#include "dcem/loop.h"
#include "dcem/sample.h"
#include "dcem/schema.h"

/* One named counter or gauge of a publisher (name: static text). */
typedef struct dcem_counter {
        const char *name;
        double value;
        dcem_kind kind;
} dcem_counter;

/* A store-and-forward publisher's delivery figures, for the agent's
 * self-metrics (<prefix>/<site>/agent, docs/MQTT.md). */
typedef struct dcem_delivery_stats {
        bool connected;
        uint64_t inflight;            /* sent, not yet acknowledged */
        uint64_t spool_bytes;         /* on disk */
        uint64_t spool_records;       /* held, not yet acknowledged */
        uint64_t spool_budget_bytes;  /* the disk budget */
        uint64_t spool_dropped_records, spool_dropped_bytes; /* lost to the budget, since start */
        uint64_t backlog;             /* records waiting to be replayed */
        double replay_rate;           /* backlog messages acknowledged per second, last period */
        uint64_t replayed;            /* backlog messages acknowledged, since start */
        /* The self-metrics' priority lane: queued, its cap, and how many lost
         * their priority to the cap (they still go out in their normal lane). */
        uint64_t lane_depth, lane_cap, lane_dropped;
} dcem_delivery_stats;

typedef struct dcem_publisher_env {
        dcem_loop *loop;
        const dcem_clock *clock;
        const char *site;
        const char *state_dir;
        /* The publisher calls this when it can take batches again after -EAGAIN. */
        void (*wake)(void *core);
        void *core;
} dcem_publisher_env;

typedef struct dcem_publisher_ops {
        const char *name;          /* the key under output: "stdout", "mqtt" */
        const dcem_schema *schema; /* its block; NULL when the key is a plain bool */
        int (*init)(const dcem_publisher_env *env, const void *conf, void **ret_state, char *errbuf, size_t errlen);
        int (*publish)(void *state, dcem_batch *b);
        /* Optional: a record of another stream than device polls, already
         * encoded as one JSON object: stream "intervals" (closed accounting
         * intervals, authoritative), "metrics" (real-time figures), "events".
         * Same return convention as publish; NULL = the publisher does not
         * carry records (stdout prints samples only). json is borrowed. */
        int (*publish_record)(void *state, const char *stream, const char *json, size_t len);
        /* Optional: a device became reachable or unreachable (called on changes
         * only, with the time the state began and the failing poll's error). */
        int (*device_status)(void *state, const char *device, bool reachable, int64_t since_utc_ns,
                             const char *err);
        /* Optional: the publisher's own counters (spool drops, reconnects, ...),
         * published by the agent with its metrics as "<name>.<publisher>".
         * Fills at most max entries; returns how many. */
        size_t (*counters)(void *state, dcem_counter *ret, size_t max);
        /* Push out what is buffered (shutdown, drain). 0, -EAGAIN (not yet), -errno. */
        int (*flush)(void *state);
        void (*close)(void *state); /* accepts NULL */
        /* Optional: receive the messages of a topic (filter) of the
         * publisher's broker, e.g. a live carbon intensity feed. The
         * subscription is renewed at every (re)connection and lasts until
         * close. cb runs on the loop's thread (never on a client library's
         * own thread), once per message, with the topic and the payload
         * (borrowed for the call; payload not NUL-terminated). topic is
         * copied. 0, -EINVAL (bad topic), -E2BIG (too many), -ENOMEM. NULL =
         * the publisher has no broker to subscribe to. */
        int (*subscribe)(void *state, const char *topic,
                         void (*cb)(void *ud, const char *topic, const void *payload, size_t len), void *ud);
        /* Optional: the period (ns) at which this publisher wants the agent's
         * self-metrics record (publish_record stream "agent"); 0 = none. The
         * agent publishes them at the shortest period any publisher asks. */
        int64_t (*self_metrics_interval)(void *state);
        /* Optional: delivery figures for the self-metrics. 0, or -errno. */
        int (*delivery)(void *state, dcem_delivery_stats *ret);
} dcem_publisher_ops;

/* Built-in publishers (agent/publishers.c). */
const dcem_publisher_ops *dcem_publisher_find(const char *name);
extern const dcem_publisher_ops *const dcem_publishers[];

#endif
