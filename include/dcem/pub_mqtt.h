/* pub_mqtt.h - the MQTT publisher (agent/pub_mqtt.c) and the entries the
 * agent calls besides the publisher seam: retained per-device status,
 * generic JSON streams (intervals, metrics, agent), and the publisher's own
 * counters for the self-metrics.
 *
 * Every message goes through the spool (dcem/spool.h) before it is handed to
 * paho; a record leaves the spool only when the broker acknowledged it
 * (PUBACK at QoS 1, PUBCOMP at 2, written to the socket at QoS 0). What was
 * spooled before a connection is replayed as a rate-limited backlog lane
 * beside the live lane (output.mqtt.replay.max_rate). Topics and payloads
 * are documented in docs/MQTT.md.
 */
#ifndef DCEM_PUB_MQTT_H
#define DCEM_PUB_MQTT_H

#include <stdbool.h>
#include <stdint.h>
#include "dcem/publisher.h"

/* The payloads' schema version ("schema" in every message). */
#define DCEM_MQTT_SCHEMA 1
/* Bounds of what the agent passes in. */
#define DCEM_MQTT_TOPIC_MAX 512 /* a whole topic, prefix included */
#define DCEM_MQTT_STREAMS_MAX 32 /* distinct generic streams (topic suffixes) */

extern const dcem_publisher_ops dcem_mqtt_publisher;

typedef enum dcem_mqtt_stream {
        DCEM_MQTT_DEVICES = 0, /* <prefix>/<site>/devices/<device> */
        DCEM_MQTT_INTERVALS,   /* <prefix>/<site>/intervals */
        DCEM_MQTT_METRICS,     /* <prefix>/<site>/metrics */
        DCEM_MQTT_STATUS,      /* site and device status */
        DCEM_MQTT_AGENT,       /* <prefix>/<site>/agent */
        DCEM_MQTT_LEDGER,      /* <prefix>/<site>/ledger (entries as written, no envelope) */
        _DCEM_MQTT_STREAM_MAX
} dcem_mqtt_stream;

typedef struct dcem_mqtt_stats {
        bool connected;
        uint64_t connects;         /* sessions established */
        uint64_t connect_failures;
        uint64_t connection_lost;
        uint64_t sent;             /* handed to paho (replays included) */
        uint64_t acked;            /* acknowledged by the broker */
        uint64_t send_failures;
        uint64_t refused;          /* messages refused: too large for a spool record */
        uint64_t inflight;
        uint64_t backlog;          /* records waiting to be replayed: connected, the backlog lane's
                                    * records not yet acknowledged; not connected, all spooled */
        uint64_t spool_records;    /* spool records not yet acknowledged */
        uint64_t spool_bytes;
        uint64_t spool_dropped_records; /* lost to the disk budget (since start) */
        uint64_t spool_dropped_bytes;
        uint64_t spool_truncated_bytes; /* cut at recovery (torn last record) */
        uint64_t replayed;         /* backlog-lane messages acknowledged (since start) */
        double replay_rate;        /* backlog-lane messages acknowledged per second, last 2 s */
        uint64_t sub_received;     /* messages of subscriptions handed to their callbacks */
        uint64_t sub_dropped;      /* ... dropped: over 64 KiB, no memory, or the event ring full */
        uint64_t sub_failures;     /* subscriptions refused by the broker or not sent */
        uint64_t spool_budget;     /* the spool's disk budget (bytes) */
        uint64_t lane_depth;       /* self-metrics ("agent" stream) messages queued in their priority lane */
        uint64_t lane_cap;
        uint64_t lane_dropped;     /* ... that lost their priority to the cap (still sent in their turn) */
} dcem_mqtt_stats;

/* The publisher's counters. state is what dcem_mqtt_publisher.init returned. */
void dcem_mqtt_get_stats(void *state, dcem_mqtt_stats *ret);
/* The same as a JSON object text for <prefix>/<site>/agent:
 * {"mqtt":{"connected":..,"spool":{"records":..,"bytes":..,"dropped_records":..,...},...}}
 * Writes into buf (NUL-terminated). Length, or -ENOBUFS / -ENOMEM. */
int dcem_mqtt_stats_json(void *state, char *buf, size_t size);

/* Retained device status on <prefix>/<site>/devices/<device>/status:
 * {"schema":1,"site":..,"device":..,"seq":..,"ts":..,"state":"reachable"|"unreachable",
 *  "since":..,"error":..}. since_utc_ns: when the state began; err may be NULL.
 * Spooled like data. 0, -EINVAL (bad name), -E2BIG, -errno of the spool. */
int dcem_mqtt_device_status(void *state, const char *device, bool reachable, int64_t since_utc_ns,
                            const char *err);

/* Publish a JSON object (text, at most the spool's record size) on
 * <prefix>/<site>/<suffix> (suffix: 1..64 chars of [a-z0-9_/-], no "//", no
 * leading or trailing '/'). The publisher adds "schema", "site", a per-suffix
 * "seq" (persisted across restarts under the state directory) and "ts" (now,
 * unless the object has one) in front of the object's own members.
 * qos: 0..2, or -1 for the stream's configured QoS. Spooled like data;
 * stream DCEM_MQTT_AGENT is also copied to the self-metrics lane, sent ahead
 * of queued messages (docs/MQTT.md "Self-metrics").
 * 0, -EINVAL (bad suffix, not a JSON object, bad qos), -E2BIG, -ENOSPC (over
 * DCEM_MQTT_STREAMS_MAX suffixes), -errno. */
int dcem_mqtt_publish_json(void *state, dcem_mqtt_stream stream, const char *suffix, const char *json,
                           int qos, bool retained);

#endif
