/* sched.c - the poll scheduler: per-device slots on the UTC grid, deadlines,
 * capped exponential backoff with jitter, and the batches of finished polls.
 * It also owns struct dcem_poll and the dcem_poll_* calls collectors use.
 *
 * Why here: the core owns timing (collectors never sleep), so one place
 * decides when a device is polled, how long it may take and what a failure
 * costs. Contract: include/dcem/sched.h; in short:
 *
 * Slots. A device with interval I polls at UTC multiples of I. Each time its
 * timer is armed, the next slot is computed on the wall clock and the wait
 * converted to the monotonic clock (the loop's timers). When the timer fires,
 * the slot is recomputed from the wall clock as it is then:
 *   - the loop is late by over I/2 (monotonic): the slots passed are counted
 *     as missed, no poll, the timer is armed for the next slot;
 *   - slot = the latest grid point reached on the wall clock (with a small
 *     tolerance for a timer that fires a hair early); if that is the slot
 *     polled last (the wall clock went back a little), or it lies over I/2 in
 *     the past (the wall clock jumped forward past it), no poll: the timer is
 *     armed for the next grid point of the new wall time. So a wall clock
 *     step re-aligns the grid and never causes a burst;
 *   - a poll of the device still in flight: the slot is missed;
 *   - the device is waiting out its backoff (below): the slot is missed.
 * So every grid slot passed without a poll started is counted in
 * stats.missed, whatever the reason, as it passes (the timer fires on every
 * slot, also during a backoff).
 * The next slot's timer is armed right after the poll starts, so a slow
 * device never shifts its own grid, and polls are never awaited, so it delays
 * nobody else.
 *
 * Deadline. A poll gets min(timeout, interval) from its start. Past it the
 * core calls ops->cancel and finishes the poll as -ETIMEDOUT with the error
 * "timeout after Xs".
 *
 * Backoff. After k consecutive failures (k >= 1), the next poll is r
 * intervals after the failed poll's slot (not 1), r uniform in
 * [ceil(b/2), b] with b = min(2^k, backoff_cap) ("equal jitter"; r = 1 is the
 * normal interval): the device's resume slot. The r - 1 slots before it fire
 * and are counted missed. A success needs nothing: the next normal slot is
 * armed. The jitter comes from a splitmix64 generator seeded by opts->seed.
 *
 * Spread. With opts->spread_ns > 0 a device's timer fires at its slot plus
 * a fixed offset in [0, min(spread, I/2)), a multiple of 5 ms (1 ms below a
 * 20 ms window), from a hash of its name (the same device, the same offset,
 * at every start): the polls of one grid instant are spread over that
 * window in small groups instead of starting together. The slot (the
 * batch's ts) stays the grid point; the offset only delays the start, and
 * the deadline counts from the start. Default 0: every poll on the grid.
 *
 * Batches. A poll's batch is allocated at its first sample (sized like the
 * device's previous batch), or at its finish when it has none, not at its
 * start: the burst of polls in flight at one grid instant holds no sample
 * memory until the answers arrive.
 *
 * Finishing. dcem_poll_done from inside ops->poll only records the result;
 * the core finishes the poll when ops->poll returns (so hooks never run
 * inside a collector's poll()). Otherwise it finishes at once: the device's
 * state is updated, p is freed, and only then are the state hook (on a change
 * of up/down, and for the first result) and the batch hook called. A poll is
 * finished exactly once: dcem_poll_done during ops->cancel, or twice, is
 * ignored; the deadline timer is cancelled when the poll finishes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/sched.h"

#define SCHED_DEFAULT_BACKOFF_CAP 10
#define SCHED_BATCH_INITIAL 16
#define SCHED_EARLY_TOLERANCE_NS (100 * DCEM_NS_PER_MS) /* capped at I/4 */
#define SCHED_SPREAD_STEP_NS (5 * DCEM_NS_PER_MS)       /* spread offsets: multiples of this */

typedef struct sdev sdev;

struct dcem_poll {
        dcem_sched *s;
        sdev *d;
        int64_t slot_utc;
        int64_t start_mono;
        int64_t deadline_mono;
        uint64_t deadline_timer; /* 0 once fired or cancelled */
        uint64_t seq;
        dcem_batch *batch;
        bool in_poll;    /* inside ops->poll */
        bool done;       /* dcem_poll_done was called */
        bool cancelling; /* the core is giving up on it */
        int status;      /* recorded by a dcem_poll_done inside ops->poll */
        char err[DCEM_ERR_MAX];
};

struct sdev {
        dcem_sched *s;
        char name[DCEM_NAME_MAX];
        int64_t interval_ns;
        int64_t timeout_ns; /* clamped to interval_ns */
        int64_t offset_ns;  /* spread: the start's delay after the slot, in [0, I/2) */
        const dcem_collector_ops *ops;
        void *state;
        uint64_t timer_id;      /* slot timer, 0 = none */
        int64_t armed_slot_utc; /* slot the timer is for */
        int64_t armed_mono;     /* when it fires */
        bool has_last;
        int64_t last_slot_utc;  /* slot of the last poll started by the grid */
        dcem_poll *inflight;
        uint64_t seq;
        size_t last_n;          /* samples of the last batch: the next one's size */
        bool reported;          /* the state hook has been called once */
        int64_t backoff;        /* intervals to the next slot, applied by arm_next */
        bool resume_set;
        int64_t resume_slot_utc;/* backoff: no poll before this slot (the slots before it are missed) */
        dcem_device_stats st;
};

struct dcem_sched {
        dcem_loop *loop;
        const dcem_clock *clock;
        dcem_sched_hooks hooks;
        int64_t backoff_cap;
        int64_t spread_ns;
        uint64_t rng;
        sdev **devs;
        size_t n, cap;
        sdev **byname;    /* open addressing by name hash; power-of-two size >= 2n */
        size_t byname_cap;
        bool running;
        unsigned in_flight;
};

/* ---- pure helpers ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;

        if (a % b != 0 && ((a < 0) != (b < 0)))
                q--;
        return q;
}

/* The largest multiple of i <= t. */
static int64_t grid_floor(int64_t t, int64_t i)
{
        return floor_div(t, i) * i;
}

/* The smallest multiple of i >= t. */
static int64_t grid_ceil(int64_t t, int64_t i)
{
        int64_t g = grid_floor(t, i);

        return g < t ? g + i : g;
}

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));

        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1, without modulo bias. */
static uint64_t rand_below(uint64_t *x, uint64_t n)
{
        uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        uint64_t v;

        do
                v = splitmix64(x);
        while (v >= limit);
        return v % n;
}

/* Intervals to wait after k >= 1 consecutive failures: [ceil(b/2), b], b = min(2^k, cap). */
static int64_t backoff_intervals(uint64_t *rng, uint64_t k, int64_t cap)
{
        int64_t b = (k >= 62 || (INT64_C(1) << k) > cap) ? cap : (INT64_C(1) << k);
        int64_t lo = b / 2 + b % 2;

        return lo + (int64_t)rand_below(rng, (uint64_t)(b - lo + 1));
}

/* "10s", "2.5s", "0.001s": seconds, locale-independent, trailing zeros cut. */
static void format_seconds(char *buf, size_t len, int64_t ns)
{
        int64_t ms = ns / DCEM_NS_PER_MS;
        int64_t whole = ms / 1000, frac = ms % 1000;

        if (frac == 0) {
                snprintf(buf, len, "%lld", (long long)whole);
        } else {
                char f[24];
                int n = 3;

                snprintf(f, sizeof(f), "%03lld", (long long)frac);
                while (n > 0 && f[n - 1] == '0')
                        f[--n] = '\0';
                snprintf(buf, len, "%lld.%s", (long long)whole, f);
        }
}

static void copy_text(char *dst, size_t len, const char *src)
{
        size_t n = strnlen(src, len - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

/* ---- arming ---- */

static void slot_fired(dcem_loop *l, uint64_t id, void *ud);

/* Arm d's timer for grid slot slot_utc (it fires at the slot plus d's
 * spread offset). 0 or -errno of the loop. */
static int arm_at(sdev *d, int64_t slot_utc)
{
        dcem_sched *s = d->s;
        int64_t now_utc = dcem_clock_utc(s->clock);
        int64_t now_mono = dcem_clock_mono(s->clock);
        int64_t fire = slot_utc + d->offset_ns;
        int64_t wait = fire > now_utc ? fire - now_utc : 0;
        uint64_t id;
        int r;

        r = dcem_loop_add_timer(s->loop, now_mono + wait, slot_fired, d, &id);
        if (r < 0)
                return r;
        d->timer_id = id;
        d->armed_slot_utc = slot_utc;
        d->armed_mono = now_mono + wait;
        return 0;
}

/* slot + k intervals, saturating far in the future instead of overflowing. */
static int64_t add_intervals(int64_t slot, int64_t k, int64_t interval)
{
        int64_t extra;

        if (__builtin_mul_overflow(k, interval, &extra) || __builtin_add_overflow(slot, extra, &slot))
                return INT64_MAX / 2;
        return slot;
}

/* Arm d for the next grid slot after the wall clock's now less d's offset
 * (at or after it when !strict: at start), never the slot polled last. A
 * pending backoff sets the resume slot: the slots before it fire and are
 * counted missed. From a slot timer strict is a must: the slot just fired
 * must not be armed again. */
static int arm_next(sdev *d, bool strict)
{
        int64_t now = dcem_clock_utc(d->s->clock) - d->offset_ns;
        int64_t slot = strict ? grid_floor(now, d->interval_ns) + d->interval_ns : grid_ceil(now, d->interval_ns);

        if (d->has_last && slot == d->last_slot_utc)
                slot += d->interval_ns;
        if (d->backoff > 1) {
                d->resume_slot_utc = add_intervals(slot, d->backoff - 1, d->interval_ns);
                d->resume_set = true;
        }
        d->backoff = 1;
        return arm_at(d, slot);
}

static void disarm(sdev *d)
{
        if (d->timer_id) {
                (void)dcem_loop_cancel_timer(d->s->loop, d->timer_id);
                d->timer_id = 0;
        }
}

/* ---- finishing ---- */

/* Update d's stats for a finished poll (and push its next slot back after a
 * failure). Returns true when the state hook is due. */
static bool account(sdev *d, int status, int64_t duration_ns)
{
        dcem_sched *s = d->s;
        bool up = status == 0;
        bool changed = !d->reported || d->st.up != up;

        d->st.last_duration_ns = duration_ns;
        if (up) {
                d->st.ok++;
                d->st.consecutive_failures = 0;
        } else {
                d->st.failed++;
                d->st.consecutive_failures++;
        }
        d->st.up = up;
        d->reported = true;

        if (up) {
                d->backoff = 1;
                d->resume_set = false;
        } else {
                d->backoff = backoff_intervals(&s->rng, d->st.consecutive_failures, s->backoff_cap);
                if (s->running && d->timer_id && d->backoff > 1) {
                        /* The next slot is armed already (an asynchronous
                         * finish): the device resumes backoff - 1 slots
                         * after it. Otherwise arm_next applies d->backoff
                         * when the slot timer is armed. */
                        d->resume_slot_utc = add_intervals(d->armed_slot_utc, d->backoff - 1, d->interval_ns);
                        d->resume_set = true;
                        d->backoff = 1;
                }
        }
        return changed;
}

static void emit(dcem_sched *s, sdev *d, bool changed, int status, const char *text, dcem_batch *b)
{
        if (changed && s->hooks.state)
                s->hooks.state(s->hooks.ud, d->name, status == 0, status, text);
        if (b && s->hooks.batch)
                s->hooks.batch(s->hooks.ud, b);
        dcem_batch_unref(b);
}

static void error_text(char *buf, size_t len, int status, const char *err)
{
        char tmp[128];

        if (status == 0)
                buf[0] = '\0';
        else if (err && *err)
                copy_text(buf, len, err);
        else
                snprintf(buf, len, "poll failed: %s", strerror_r(-status, tmp, sizeof(tmp)));
}

/* Finish p: stats, backoff, batch fields, free p, then the hooks. */
static void finish(dcem_poll *p, int status, const char *err)
{
        dcem_sched *s = p->s;
        sdev *d = p->d;
        char text[DCEM_ERR_MAX];
        dcem_batch *b = p->batch;
        bool changed;

        if (status > 0)
                status = -EINVAL; /* a collector bug: not a valid status */
        error_text(text, sizeof(text), status, err);
        if (p->deadline_timer)
                (void)dcem_loop_cancel_timer(s->loop, p->deadline_timer);
        d->inflight = NULL;
        s->in_flight--;
        if (!b && dcem_batch_new(d->name, 0, &b) < 0)
                b = NULL; /* out of memory: the result is still counted and reported by the state hook */
        if (b) {
                if (b->n > 0)
                        d->last_n = b->n;
                b->ts_ns = p->slot_utc;
                b->done_ns = dcem_clock_utc(s->clock);
                b->seq = p->seq;
                b->status = status;
                copy_text(b->error, sizeof(b->error), text);
        }
        changed = account(d, status, dcem_clock_mono(s->clock) - p->start_mono);
        free(p);
        emit(s, d, changed, status, text, b);
}

static void deadline_fired(dcem_loop *l, uint64_t id, void *ud)
{
        dcem_poll *p = ud;
        sdev *d = p->d;
        char secs[32], msg[64];

        (void)l;
        (void)id;
        p->deadline_timer = 0;
        p->cancelling = true;
        if (d->ops->cancel)
                d->ops->cancel(d->state, p);
        d->st.timeouts++;
        format_seconds(secs, sizeof(secs), d->timeout_ns);
        snprintf(msg, sizeof(msg), "timeout after %ss", secs);
        finish(p, -ETIMEDOUT, msg);
}

/* A poll that could not even be set up (out of memory): counted as started
 * and failed, reported like any failure, without a batch. */
static void fail_unstarted(sdev *d, int status)
{
        char text[DCEM_ERR_MAX];
        bool changed;

        d->st.polls++;
        d->seq++;
        error_text(text, sizeof(text), status, NULL);
        changed = account(d, status, 0);
        emit(d->s, d, changed, status, text, NULL);
}

/* Start a poll of d for slot_utc. The device must have none in flight.
 * 0, or -ENOMEM (reported as a failed poll). */
static int start_poll(sdev *d, int64_t slot_utc)
{
        dcem_sched *s = d->s;
        dcem_poll *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p) {
                fail_unstarted(d, -ENOMEM);
                return -ENOMEM;
        }
        /* No batch yet: dcem_poll_add allocates it with the first sample. */
        p->s = s;
        p->d = d;
        p->slot_utc = slot_utc;
        p->start_mono = dcem_clock_mono(s->clock);
        p->deadline_mono = p->start_mono + d->timeout_ns;
        r = dcem_loop_add_timer(s->loop, p->deadline_mono, deadline_fired, p, &p->deadline_timer);
        if (r < 0) {
                free(p);
                fail_unstarted(d, r);
                return r;
        }
        d->inflight = p;
        s->in_flight++;
        d->st.polls++;
        p->seq = ++d->seq;

        p->in_poll = true;
        r = d->ops->poll(d->state, p);
        p->in_poll = false;
        if (r < 0)
                finish(p, r, NULL); /* even if it called dcem_poll_done too */
        else if (p->done)
                finish(p, p->status, p->err);
        return 0;
}

static void slot_fired(dcem_loop *l, uint64_t id, void *ud)
{
        sdev *d = ud;
        dcem_sched *s = d->s;
        int64_t i = d->interval_ns;
        int64_t now_mono = dcem_clock_mono(s->clock);
        int64_t now_utc = dcem_clock_utc(s->clock);
        int64_t late = now_mono - d->armed_mono;
        int64_t tol = i / 4 < SCHED_EARLY_TOLERANCE_NS ? i / 4 : SCHED_EARLY_TOLERANCE_NS;
        int64_t slot;

        (void)l;
        (void)id;
        d->timer_id = 0;
        if (!s->running)
                return;
        if (late > i / 2) {
                /* The loop itself was late: the slots that passed are lost. */
                d->st.missed += (uint64_t)(late / i) + 1;
                (void)arm_next(d, true);
                return;
        }
        now_utc -= d->offset_ns; /* the grid instant this (spread) timer stands for */
        slot = grid_floor(now_utc + tol, i);
        if ((d->has_last && slot == d->last_slot_utc) || now_utc - slot > i / 2) {
                /* The wall clock moved: wait for the next slot of its grid. */
                (void)arm_next(d, true);
                return;
        }
        if (d->inflight) {
                d->st.missed++;
                (void)arm_next(d, true);
                return;
        }
        if (d->resume_set) {
                /* Waiting out a backoff: the slot passes without a poll. A
                 * resume slot further than the cap away means the wall
                 * clock went back: the wait is over. */
                int64_t left = d->resume_slot_utc - slot;

                if (left > 0 && left / i <= s->backoff_cap) {
                        d->st.missed++;
                        (void)arm_next(d, true);
                        return;
                }
                d->resume_set = false;
        }
        d->has_last = true;
        d->last_slot_utc = slot;
        /* Poll first, then arm: the deadline timer is then older than the
         * next slot's, so a deadline falling on the next slot fires first;
         * and a poll finished inside poll() has set d->backoff already. A
         * hook may have armed or stopped us meanwhile. */
        (void)start_poll(d, slot);
        if (s->running && !d->timer_id)
                (void)arm_next(d, true); /* out of memory: re-armed by the next start */
}

/* ---- the collector's side ---- */

/* Add a sample stamped with the clock's UTC time now (the reading time) and
 * the device's name. unit NULL = "". A quality of error forces the value to
 * NaN (the sample model's rule). -EINVAL (p finished or cancelled, NULL or
 * over-long point or unit, bad quality or kind), -ENOMEM, -E2BIG. */
/* The body of dcem_poll_add and dcem_poll_add_text: text is NULL for numbers. */
static int poll_add(dcem_poll *p, const char *point, double value, const char *unit, dcem_quality quality,
                    dcem_kind kind, const char *text)
{
        dcem_sample smp;
        size_t plen, ulen;

        if (!p || p->done || p->cancelling || !point)
                return -EINVAL;
        if ((unsigned)quality >= _DCEM_Q_MAX)
                return -EINVAL;
        if (!unit)
                unit = "";
        plen = strnlen(point, DCEM_NAME_MAX);
        ulen = strnlen(unit, DCEM_UNIT_MAX);
        if (plen == 0 || plen >= DCEM_NAME_MAX || ulen >= DCEM_UNIT_MAX)
                return -EINVAL;
        if (!p->batch) {
                /* Sized like the last poll's batch: no growth, no slack. */
                int r = dcem_batch_new(p->d->name, p->d->last_n ? p->d->last_n : SCHED_BATCH_INITIAL, &p->batch);

                if (r < 0)
                        return r;
        }
        memset(&smp, 0, sizeof(smp));
        memcpy(smp.device, p->d->name, sizeof(smp.device));
        memcpy(smp.point, point, plen + 1);
        memcpy(smp.unit, unit, ulen + 1);
        smp.value = quality == DCEM_Q_ERROR ? (double)NAN : value;
        smp.ts_ns = dcem_clock_utc(p->s->clock);
        smp.quality = (uint8_t)quality;
        smp.kind = (uint8_t)kind;
        if (text && quality != DCEM_Q_ERROR)
                memcpy(smp.text, text, strnlen(text, sizeof(smp.text) - 1)); /* smp is zeroed: NUL-terminated */
        return dcem_batch_add(&p->batch, &smp);
}

int dcem_poll_add(dcem_poll *p, const char *point, double value, const char *unit,
                  dcem_quality quality, dcem_kind kind)
{
        if (kind != DCEM_KIND_GAUGE && kind != DCEM_KIND_COUNTER)
                return -EINVAL;
        return poll_add(p, point, value, unit, quality, kind, NULL);
}

int dcem_poll_add_text(dcem_poll *p, const char *point, const char *text, dcem_quality quality)
{
        return poll_add(p, point, (double)NAN, "", quality, DCEM_KIND_TEXT, text ? text : "");
}

/* Finish a poll (see the top of this file for when the hooks run). Ignored
 * when the poll is already done or being cancelled. p is gone afterwards. */
void dcem_poll_done(dcem_poll *p, int status, const char *err)
{
        if (!p || p->done || p->cancelling)
                return;
        p->done = true;
        if (p->in_poll) {
                p->status = status;
                error_text(p->err, sizeof(p->err), status, err);
                return;
        }
        finish(p, status, err);
}

int64_t dcem_poll_slot_utc(const dcem_poll *p)
{
        return p->slot_utc;
}

int64_t dcem_poll_deadline(const dcem_poll *p)
{
        return p->deadline_mono;
}

/* ---- the scheduler ---- */

/* opts may be NULL (backoff cap 10, seed from the clock, no spread); a
 * backoff_cap of 0 means the default. hooks may be NULL. -EINVAL (no loop,
 * negative cap or spread), -ENOMEM. */
int dcem_sched_new(dcem_loop *loop, const dcem_sched_opts *opts, const dcem_sched_hooks *hooks, dcem_sched **ret)
{
        dcem_sched *s;

        if (!loop || !ret || (opts && (opts->backoff_cap < 0 || opts->spread_ns < 0)))
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->loop = loop;
        s->clock = dcem_loop_clock(loop);
        if (hooks)
                s->hooks = *hooks;
        s->backoff_cap = opts && opts->backoff_cap > 0 ? opts->backoff_cap : SCHED_DEFAULT_BACKOFF_CAP;
        s->spread_ns = opts ? opts->spread_ns : 0;
        if (opts && opts->seed)
                s->rng = opts->seed;
        else
                s->rng = (uint64_t)dcem_clock_mono(s->clock) ^ ((uint64_t)dcem_clock_utc(s->clock) << 1) ^
                         (uint64_t)(uintptr_t)s;
        *ret = s;
        return 0;
}

/* Free: timers cancelled, polls in flight cancelled (ops->cancel) and dropped
 * without hooks. Accepts NULL. Not from inside a hook. */
void dcem_sched_free(dcem_sched *s)
{
        size_t i;

        if (!s)
                return;
        for (i = 0; i < s->n; i++) {
                sdev *d = s->devs[i];
                dcem_poll *p = d->inflight;

                disarm(d);
                if (p) {
                        if (p->deadline_timer)
                                (void)dcem_loop_cancel_timer(s->loop, p->deadline_timer);
                        p->cancelling = true;
                        if (d->ops->cancel)
                                d->ops->cancel(d->state, p);
                        dcem_batch_unref(p->batch);
                        free(p);
                }
                free(d);
        }
        free(s->devs);
        free(s->byname);
        free(s);
}

/* FNV-1a of a NUL-terminated name. */
static uint64_t name_hash(const char *name)
{
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *name; name++)
                h = (h ^ (unsigned char)*name) * UINT64_C(0x100000001b3);
        return h;
}

/* The spread offset of a device: in [0, min(spread, interval / 2)), from
 * its name alone (deterministic across starts and reloads); 0 without
 * spread. Offsets are multiples of SCHED_SPREAD_STEP_NS (1 ms below a
 * 20 ms window), so devices share timer instants in small groups: one
 * loop wake-up per group, not per device (measured at 500 devices: per-
 * device instants nearly doubled the CPU per poll). */
static int64_t spread_offset(int64_t spread, const char *name, int64_t interval)
{
        int64_t bound = spread < interval / 2 ? spread : interval / 2;
        int64_t step = bound >= 20 * DCEM_NS_PER_MS ? SCHED_SPREAD_STEP_NS : DCEM_NS_PER_MS;
        uint64_t h, steps;

        if (bound < step)
                return 0;
        steps = (uint64_t)((bound + step - 1) / step); /* k * step < bound for k < steps */
        h = name_hash(name);
        return (int64_t)(splitmix64(&h) % steps) * step;
}

/* The device named name, or NULL. O(1): the agent asks for every device's
 * stats each interval, which was O(n^2) with a linear search. */
static sdev *find(const dcem_sched *s, const char *name)
{
        size_t mask, i;

        if (s->byname_cap == 0)
                return NULL;
        mask = s->byname_cap - 1;
        for (i = (size_t)name_hash(name) & mask; s->byname[i]; i = (i + 1) & mask)
                if (strcmp(s->byname[i]->name, name) == 0)
                        return s->byname[i];
        return NULL;
}

static void byname_put(sdev **tab, size_t cap, sdev *d)
{
        size_t i = (size_t)name_hash(d->name) & (cap - 1);

        while (tab[i])
                i = (i + 1) & (cap - 1);
        tab[i] = d;
}

/* Room for one more name (load <= 1/2). 0 or -ENOMEM. */
static int byname_reserve(dcem_sched *s)
{
        size_t ncap, i;
        sdev **nt;

        if ((s->n + 1) * 2 <= s->byname_cap)
                return 0;
        ncap = s->byname_cap ? s->byname_cap * 2 : 32;
        nt = calloc(ncap, sizeof(*nt));
        if (!nt)
                return -ENOMEM;
        for (i = 0; i < s->n; i++)
                byname_put(nt, ncap, s->devs[i]);
        free(s->byname);
        s->byname = nt;
        s->byname_cap = ncap;
        return 0;
}

/* Register a device (armed at once when the scheduler runs). -EINVAL (empty
 * or over-long name, interval or timeout <= 0, ops without poll), -EEXIST,
 * -ENOMEM, or the loop's error arming it. */
int dcem_sched_add(dcem_sched *s, const char *name, int64_t interval_ns, int64_t timeout_ns,
                   const dcem_collector_ops *ops, void *state)
{
        size_t len;
        sdev *d;

        if (!s || !name || !ops || !ops->poll || interval_ns <= 0 || timeout_ns <= 0)
                return -EINVAL;
        len = strnlen(name, DCEM_NAME_MAX);
        if (len == 0 || len >= DCEM_NAME_MAX)
                return -EINVAL;
        if (find(s, name))
                return -EEXIST;
        if (byname_reserve(s) < 0)
                return -ENOMEM;
        if (s->n == s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 16;
                sdev **nd = realloc(s->devs, ncap * sizeof(*nd));

                if (!nd)
                        return -ENOMEM;
                s->devs = nd;
                s->cap = ncap;
        }
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->s = s;
        memcpy(d->name, name, len + 1);
        d->interval_ns = interval_ns;
        d->timeout_ns = timeout_ns < interval_ns ? timeout_ns : interval_ns;
        d->offset_ns = spread_offset(s->spread_ns, name, interval_ns);
        d->ops = ops;
        d->state = state;
        d->backoff = 1;
        s->devs[s->n++] = d;
        byname_put(s->byname, s->byname_cap, d);
        if (s->running)
                return arm_next(d, false);
        return 0;
}

/* Arm every device not armed yet. 0, or the first -errno (others still armed). */
int dcem_sched_start(dcem_sched *s)
{
        int ret = 0;
        size_t i;

        s->running = true;
        for (i = 0; i < s->n; i++) {
                sdev *d = s->devs[i];

                if (!d->timer_id) {
                        int r = arm_next(d, false);

                        if (r < 0 && ret == 0)
                                ret = r;
                }
        }
        return ret;
}

/* Poll every device not already in flight, slot = the wall clock now. No
 * backoff is applied unless the scheduler is also running. 0, or the first
 * -errno (the other devices are still polled). */
int dcem_sched_poll_all_now(dcem_sched *s)
{
        int64_t now = dcem_clock_utc(s->clock);
        int ret = 0;
        size_t i;

        /* Index afresh each turn: a hook may add devices meanwhile. */
        for (i = 0; i < s->n; i++) {
                sdev *d = s->devs[i];

                if (!d->inflight) {
                        int r = start_poll(d, now);

                        if (r < 0 && ret == 0)
                                ret = r;
                }
        }
        return ret;
}

void dcem_sched_stop(dcem_sched *s)
{
        size_t i;

        s->running = false;
        for (i = 0; i < s->n; i++)
                disarm(s->devs[i]);
}

unsigned dcem_sched_in_flight(const dcem_sched *s)
{
        return s->in_flight;
}

int dcem_sched_stats(const dcem_sched *s, const char *name, dcem_device_stats *ret)
{
        sdev *d = name ? find(s, name) : NULL;

        if (!d)
                return -ENOENT;
        *ret = d->st;
        return 0;
}

/* Sums over the devices; up = every device up (true with no devices);
 * consecutive_failures = the sum; last_duration_ns = the longest. */
void dcem_sched_totals(const dcem_sched *s, dcem_device_stats *ret)
{
        dcem_device_stats t = { .up = true };
        size_t i;

        for (i = 0; i < s->n; i++) {
                const dcem_device_stats *st = &s->devs[i]->st;

                t.polls += st->polls;
                t.ok += st->ok;
                t.failed += st->failed;
                t.timeouts += st->timeouts;
                t.missed += st->missed;
                t.consecutive_failures += st->consecutive_failures;
                t.up = t.up && st->up;
                if (st->last_duration_ns > t.last_duration_ns)
                        t.last_duration_ns = st->last_duration_ns;
        }
        *ret = t;
}
