/* acct_runtime.h - the accounting engine's life in the running agent.
 *
 * Owns one dcem_acct built from the configuration (the `accounting:` block
 * and each device's role, pue_category, rated_kw, interval and `meter:`),
 * its state file in state_dir (loaded at start, saved after every advance
 * that closed intervals, at reload and at stop), a tick timer on the loop
 * (advance + the metrics record, every global poll interval, half an
 * interval after the grid slot so that slot's polls are in), wall-clock step
 * detection (UTC against monotonic time), and the records it hands to the
 * publishers: interval and roll-up records (stream "intervals") only after
 * the state that closed them is on disk, and the real-time view (stream
 * "metrics"). A crash between the state save and the hand-over loses
 * nothing: the records are written to state_dir/accounting-outbox.json
 * first and handed over again at the next start (a consumer drops the
 * duplicates by record_seq / window+start).
 */
#ifndef DCEM_ACCT_RUNTIME_H
#define DCEM_ACCT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include "dcem/accounting.h"
#include "dcem/config.h"
#include "dcem/loop.h"
#include "dcem/sample.h"

#define DCEM_ACCT_OUTBOX_FILE "accounting-outbox.json"
#define DCEM_ACCT_RT_MAX_PENDING 4096 /* records waiting for a state save, at most (oldest dropped, counted) */
#define DCEM_ACCT_RT_MAX_EVENTS 1024  /* counter events waiting for their interval record (rest counted) */

typedef struct dcem_acct_rt dcem_acct_rt;

typedef struct dcem_acct_rt_hooks {
        /* A record for the publishers: stream "intervals", "metrics" or
         * "ledger" (the ledger entry of the interval record just before); json is
         * one JSON object (borrowed, NUL-terminated, len bytes). For
         * "intervals" the state that produced it is already saved. */
        void (*record)(void *ud, const char *stream, const char *json, size_t len);
        void *ud;
} dcem_acct_rt_hooks;

typedef struct dcem_acct_rt_stats {
        uint64_t intervals;        /* interval records handed over */
        uint64_t rollups;          /* roll-up records handed over */
        uint64_t metrics;          /* metrics records handed over */
        uint64_t saves, save_failures;
        uint64_t pending_dropped;  /* records lost to DCEM_ACCT_RT_MAX_PENDING */
        uint64_t events_dropped;   /* events only counted (DCEM_ACCT_RT_MAX_EVENTS) */
        uint64_t clock_steps;
        uint64_t feed_errors;      /* readings refused (unit) */
        uint64_t replayed;         /* outbox records handed over again at start */
        uint64_t ledger_entries;   /* interval records chained (or re-published) in the ledger */
        uint64_t ledger_failures;  /* ledger refused at open, or a record not chained */
        uint64_t next_seq;         /* record_seq of the next interval */
} dcem_acct_rt_stats;

/* Build the engine for cfg (borrowed: must outlive the runtime or the next
 * reload) and restore its state from cfg->state_dir (created if missing).
 * No state: a first start (logged). A corrupt state, or one that does not fit
 * the configuration: -EBADMSG / -EINVAL with the reason logged; the agent must
 * refuse to start. Records of an outbox left by a crash are handed over at
 * dcem_acct_rt_start. 0 or -errno; *ret untouched on failure. */
int dcem_acct_rt_new(dcem_loop *loop, const dcem_config *cfg, const dcem_acct_rt_hooks *hooks,
                     dcem_acct_rt **ret);
/* Hand over the outbox of a crash (if any), then arm the tick timer. 0 or -errno. */
int dcem_acct_rt_start(dcem_acct_rt *rt);
/* Feed one poll's samples (unknown devices and points are ignored). */
void dcem_acct_rt_feed(dcem_acct_rt *rt, const dcem_batch *b);
/* One tick now: clock-step check, advance, save, hand over; then the metrics
 * record. Called by the timer; exposed for tests and for drain. 0 or -errno
 * (logged; the records wait for the next tick). */
int dcem_acct_rt_tick(dcem_acct_rt *rt);
/* SIGHUP: save the state, build an engine for cfg and load the state into it.
 * On failure (logged) the old engine keeps running with the old cfg and
 * -errno is returned. The tick timer is re-armed for cfg's interval. */
int dcem_acct_rt_reload(dcem_acct_rt *rt, const dcem_config *cfg);
/* SIGTERM: cancel the timer, run a last tick (closable intervals are closed
 * and handed over) and save the state. 0 or -errno. */
int dcem_acct_rt_stop(dcem_acct_rt *rt);
void dcem_acct_rt_get_stats(const dcem_acct_rt *rt, dcem_acct_rt_stats *ret);
/* The MQTT topic of accounting.live_intensity (to subscribe to), or NULL. */
const char *dcem_acct_rt_live_topic(const dcem_acct_rt *rt);
/* A message from that topic: the live carbon intensity used by the metrics
 * record's carbon_rate_live (real-time view only, never accounting). 0,
 * -ENOENT (none configured), -EINVAL (not a number in range: logged,
 * rate-limited; the last good value stays). */
int dcem_acct_rt_live_intensity(dcem_acct_rt *rt, const char *payload, size_t len);
/* The MQTT topic filter of accounting.compute.remote (to subscribe to), or
 * NULL when no remote host is declared. */
const char *dcem_acct_rt_remote_topic(const dcem_acct_rt *rt);
/* A message from that filter: a declared host's device message has its
 * compute counters fed into the accounting (agent/compute_remote.c decides
 * what is new). 0 (counted), -ENOENT (not a declared host's; nothing
 * configured), -EALREADY (a duplicate), -ESTALE (older than one counted),
 * -EINVAL (not a device message: logged, rate-limited), -ENOMEM. */
int dcem_acct_rt_remote_message(dcem_acct_rt *rt, const char *topic, const char *payload, size_t len);
struct dcem_remote_stats;
/* Counters of the remote messages (all 0 when none is configured); a reload
 * starts them again. */
void dcem_acct_rt_remote_stats(const dcem_acct_rt *rt, struct dcem_remote_stats *ret);
const dcem_acct *dcem_acct_rt_engine(const dcem_acct_rt *rt);
void dcem_acct_rt_free(dcem_acct_rt *rt); /* accepts NULL; does not save (kill -9 semantics) */

#endif
