/* compute_remote.h - compute counters of other agents' hosts, received over
 * MQTT, for the facility's compute denominator (accounting.compute.remote).
 *
 * Each host agent publishes its host collector's points as device messages
 * on <prefix>/<site>/devices/<device> (docs/MQTT.md); the facility agent
 * subscribes to them and counts the declared hosts' cumulative counters
 * (cpu_core_seconds, gpu_busy_seconds, gpu_energy_kwh, user counters) into
 * its functional units, one compute source per host ("SITE/DEVICE"), like a
 * local host device: deltas per host, reset handling, split across
 * intervals, completeness per host (agent/accounting.c).
 *
 * This module is the pure part: parsing a device message (jansson) and
 * deciding, per host, whether a message is new. A message is accepted only
 * when its stamp is newer than the host's last accepted one: QoS 1
 * redelivery (same stamp and seq) is a duplicate, a message older than one
 * already accepted (a host agent replaying its spool's backlog while live
 * messages pass it) is out of order; both are counted and dropped, which
 * loses nothing: the counters are cumulative, the next delta covers them.
 * No I/O, no clock, no logging.
 */
#ifndef DCEM_COMPUTE_REMOTE_H
#define DCEM_COMPUTE_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/config.h"
#include "dcem/sample.h"

#define DCEM_REMOTE_MAX_POINTS 64          /* points kept per message (the rest counted) */
#define DCEM_REMOTE_KEY_MAX (2 * DCEM_NAME_MAX) /* "SITE/DEVICE" + NUL */

typedef struct dcem_remote_point {
        char name[DCEM_NAME_MAX];
        char unit[DCEM_UNIT_MAX];
        double value;               /* NaN: null in the message */
        dcem_quality quality;
} dcem_remote_point;

/* One parsed device message. */
typedef struct dcem_remote_msg {
        char site[DCEM_NAME_MAX];
        char device[DCEM_NAME_MAX];
        int64_t ts_ns;              /* the poll's UTC grid slot ("ts") */
        uint64_t seq;               /* the host agent's per-device poll sequence */
        size_t npoints;
        size_t points_dropped;      /* beyond DCEM_REMOTE_MAX_POINTS, or not parseable */
        dcem_remote_point points[DCEM_REMOTE_MAX_POINTS];
} dcem_remote_msg;

/* Parse a device message (docs/schemas/device.json): "site", "device", "ts"
 * (YYYY-MM-DDTHH:MM:SS[.fff]Z), "seq" and "points" {name: {"v", "u", "q"}}.
 * 0, or -EINVAL with a reason in err (not JSON, a member missing or of the
 * wrong type, a name too long). *ret is filled only on success. */
int dcem_remote_parse(const char *payload, size_t len, dcem_remote_msg *ret, char *err, size_t errlen);

/* Parse "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" into UTC ns. 0 or -EINVAL. */
int dcem_remote_parse_utc(const char *s, int64_t *ret_ns);

/* Is topic's last level the device of a declared host? Cheap, before any JSON
 * parsing (a facility may hear every device of the broker). */
typedef struct dcem_remote_host {
        char key[DCEM_REMOTE_KEY_MAX];  /* "SITE/DEVICE" */
        const char *device;             /* points into key, after the '/' */
        bool seen;                      /* a message was accepted */
        int64_t last_ts_ns;             /* newest stamp accepted (or seeded) */
        uint64_t last_seq;
        uint64_t accepted, duplicates, out_of_order;
} dcem_remote_host;

typedef struct dcem_remote_stats {
        uint64_t received;          /* messages handed in */
        uint64_t accepted;
        uint64_t duplicates;        /* same stamp as the last accepted (QoS 1 redelivery) */
        uint64_t out_of_order;      /* older than the last accepted */
        uint64_t unknown;           /* parsed, but not a declared host */
        uint64_t invalid;           /* not a device message */
} dcem_remote_stats;

typedef struct dcem_remote dcem_remote;

/* A tracker for the declared hosts (each "SITE/DEVICE", both parts 1..63
 * bytes without '/', '+', '#'; no duplicates; at most
 * DCEM_ACCT_MAX_REMOTE_HOSTS). 0, -EINVAL (with the host index in
 * *ret_bad when not NULL), -ENOMEM. */
int dcem_remote_new(const dcem_strlist *hosts, dcem_remote **ret, size_t *ret_bad);
void dcem_remote_free(dcem_remote *r); /* accepts NULL */

/* May topic carry a declared host's messages (its last level is one of the
 * hosts' device names)? */
bool dcem_remote_topic_wanted(const dcem_remote *r, const char *topic);

/* Index of the host "site/device", or -ENOENT. */
int dcem_remote_find(const dcem_remote *r, const char *site, const char *device);

/* Mark what the accounting already counted for host i (e.g. restored from a
 * saved state): messages stamped at or before ts_ns are dropped as old. */
void dcem_remote_seed(dcem_remote *r, size_t i, int64_t ts_ns);

/* Decide on a parsed message: 0 (new: count it; *ret_host = its host index),
 * -ENOENT (not a declared host), -EALREADY (a duplicate: same stamp as the
 * last accepted), -ESTALE (older than the last accepted). Counts it. */
int dcem_remote_accept(dcem_remote *r, const dcem_remote_msg *m, size_t *ret_host);

/* A parse failure, for the statistics. */
void dcem_remote_count_invalid(dcem_remote *r);

size_t dcem_remote_nhosts(const dcem_remote *r);
const dcem_remote_host *dcem_remote_host_at(const dcem_remote *r, size_t i);
void dcem_remote_get_stats(const dcem_remote *r, dcem_remote_stats *ret);

/* Check one declared host string "SITE/DEVICE". 0 or -EINVAL (why in *ret_why). */
int dcem_remote_host_check(const char *key, const char **ret_why);

#endif
