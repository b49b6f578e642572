/* sched.h - the poll scheduler: per-device timers on the UTC grid, deadlines,
 * capped exponential backoff with jitter, and the batches of finished polls.
 *
 * Runs on the loop (dcem/loop.h) and its clock. A device with interval I polls
 * at UTC multiples of I (a 10 s device at :00, :10, ...): the slot is computed
 * in UTC and the wait in monotonic time, recomputed at each slot, so a wall
 * clock step re-aligns the grid without a burst. A poll gets min(timeout,
 * interval); past it the core cancels the poll and finishes it as -ETIMEDOUT.
 * Polls are started, never awaited: a slow device delays nobody.
 *
 * After k consecutive failures a device waits r intervals, r drawn uniformly
 * from [ceil(b/2), b] with b = min(2^k, backoff_cap) (equal jitter), then
 * polls again on the grid. A device that answers again is back on its normal
 * interval at once, and is noticed within backoff_cap intervals.
 *
 * Missed: every grid slot that passes without a poll started is counted in
 * the device's stats.missed as it passes, whatever the reason (its previous
 * poll still running, waiting out a backoff, the loop late).
 *
 * Spread (opts.spread_ns, default 0): each device's polls start a fixed
 * offset after the slot, in [0, min(spread, interval/2)), from a hash of its
 * name, so a site's polls are spread over that window instead of all
 * starting on one instant. The batch's ts stays the grid slot.
 */
#ifndef DCEM_SCHED_H
#define DCEM_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include "dcem/collector.h"
#include "dcem/loop.h"
#include "dcem/sample.h"

typedef struct dcem_sched dcem_sched;

typedef struct dcem_sched_hooks {
        /* A poll finished (good or failed): the batch of its samples. The hook
         * borrows b; take a reference (dcem_batch_ref) to keep it. */
        void (*batch)(void *ud, dcem_batch *b);
        /* A device changed state: up (answered) or down (failed), with the error
         * of the failing poll. Called on changes only (for rate-limited logs and
         * retained status messages), and once for the first poll's result. */
        void (*state)(void *ud, const char *device, bool up, int status, const char *err);
        void *ud;
} dcem_sched_hooks;

typedef struct dcem_sched_opts {
        int64_t backoff_cap;   /* in intervals, >= 1; default 10 */
        uint64_t seed;         /* jitter PRNG seed; 0 = from the clock */
        int64_t spread_ns;     /* >= 0; 0 = every poll on its grid instant (the default) */
} dcem_sched_opts;

typedef struct dcem_device_stats {
        uint64_t polls;        /* polls started */
        uint64_t ok;           /* polls finished with status 0 */
        uint64_t failed;       /* polls finished with status < 0 (timeouts included) */
        uint64_t timeouts;     /* polls cancelled at their deadline */
        uint64_t missed;       /* grid slots passed without a poll started: previous poll still running, waiting out
                                  a backoff, or loop late by over half an interval */
        uint64_t consecutive_failures;
        bool up;               /* last poll succeeded */
        int64_t last_duration_ns;
} dcem_device_stats;

int dcem_sched_new(dcem_loop *loop, const dcem_sched_opts *opts, const dcem_sched_hooks *hooks, dcem_sched **ret);
/* Frees the scheduler, cancelling polls in flight (their batches are not emitted). Accepts NULL. */
void dcem_sched_free(dcem_sched *s);

/* Register a device. name is copied. ops/state are borrowed until dcem_sched_free.
 * interval_ns > 0; timeout_ns > 0 (clamped to interval). 0, -EINVAL, -ENOMEM, -EEXIST. */
int dcem_sched_add(dcem_sched *s, const char *name, int64_t interval_ns, int64_t timeout_ns,
                   const dcem_collector_ops *ops, void *state);

/* Arm every device's timer for its next grid slot. */
int dcem_sched_start(dcem_sched *s);
/* Start a poll of every device now (for --once), slot = now. */
int dcem_sched_poll_all_now(dcem_sched *s);
/* Stop arming new polls; polls in flight go on to their end or deadline. */
void dcem_sched_stop(dcem_sched *s);
/* Number of polls in flight. */
unsigned dcem_sched_in_flight(const dcem_sched *s);

/* Stats of a device by name: 0 or -ENOENT. */
int dcem_sched_stats(const dcem_sched *s, const char *name, dcem_device_stats *ret);
/* Totals over all devices. */
void dcem_sched_totals(const dcem_sched *s, dcem_device_stats *ret);

#endif
