/* test_sched.c - the scheduler on a fake clock with fake collectors: grid
 * alignment, interleaving, a slow device not delaying a fast one, deadlines,
 * backoff bounds and cap over many seeds, recovery, wall clock steps, the
 * state hook, --once polling, missed slots, stats, synchronous completion and
 * the dcem_poll_* contract. Expected grid times are computed here from
 * timegm() and plain arithmetic, not by the code under test. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "dcem/sched.h"
#include "fake_clock.h"
#include "fake_collector.h"

#define S DCEM_NS_PER_S
#define MS DCEM_NS_PER_MS

typedef struct brec {
        char device[DCEM_NAME_MAX];
        int64_t ts, done;
        uint64_t seq;
        int status;
        char error[DCEM_ERR_MAX];
        size_t n;
        dcem_sample first;
        dcem_sample more[3]; /* samples 1..3 */
} brec;

typedef struct srec {
        char device[DCEM_NAME_MAX];
        bool up;
        int status;
        char err[DCEM_ERR_MAX];
} srec;

typedef struct fx {
        fake_clock fc;
        dcem_loop *l;
        dcem_sched *s;
        brec b[4096];
        size_t nb;
        srec st[256];
        size_t ns;
        fake_device *devs[8];
        size_t ndevs;
} fx;

/* 2026-11-23T12:00:00Z, from the C library, independently of dcem. */
static int64_t noon(void)
{
        struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 23, .tm_hour = 12 };

        return (int64_t)timegm(&tm) * S;
}

static void on_batch(void *ud, dcem_batch *b)
{
        fx *f = ud;
        brec *r;

        assert_true(f->nb < 4096);
        r = &f->b[f->nb++];
        memcpy(r->device, b->device, sizeof(r->device));
        r->ts = b->ts_ns;
        r->done = b->done_ns;
        r->seq = b->seq;
        r->status = b->status;
        memcpy(r->error, b->error, sizeof(r->error));
        r->n = b->n;
        if (b->n)
                r->first = b->samples[0];
        for (size_t k = 1; k < b->n && k <= 3; k++)
                r->more[k - 1] = b->samples[k];
        assert_int_equal(b->refs, 1); /* borrowed by the hook */
}

static void on_state(void *ud, const char *device, bool up, int status, const char *err)
{
        fx *f = ud;
        srec *r;

        assert_true(f->ns < 256);
        r = &f->st[f->ns++];
        snprintf(r->device, sizeof(r->device), "%s", device);
        r->up = up;
        r->status = status;
        snprintf(r->err, sizeof(r->err), "%s", err ? err : "(null)");
}

/* A fixture at 12:00:03.700 UTC (monotonic 5000 s), polls spread over spread ns. */
static fx *fx_new_spread(int64_t cap, uint64_t seed, int64_t spread)
{
        fx *f = calloc(1, sizeof(*f));
        dcem_sched_opts o = { .backoff_cap = cap, .seed = seed, .spread_ns = spread };
        dcem_sched_hooks h = { .batch = on_batch, .state = on_state };

        assert_non_null(f);
        h.ud = f;
        fake_clock_init(&f->fc, 5000 * S, noon() + 3700 * MS);
        assert_int_equal(dcem_loop_new(&f->fc.clock, &f->l), 0);
        assert_int_equal(dcem_sched_new(f->l, &o, &h, &f->s), 0);
        return f;
}

static fx *fx_new(int64_t cap, uint64_t seed)
{
        return fx_new_spread(cap, seed, 0);
}

static fake_device *fx_dev(fx *f, const char *name, int64_t interval, int64_t timeout)
{
        fake_device *d = NULL;

        assert_int_equal(fake_device_new(f->l, &d), 0);
        assert_int_equal(dcem_sched_add(f->s, name, interval, timeout, &fake_collector_ops, d), 0);
        f->devs[f->ndevs++] = d;
        return d;
}

static void fx_free(fx *f)
{
        size_t i;

        dcem_sched_free(f->s);
        for (i = 0; i < f->ndevs; i++) {
                assert_int_equal(f->devs[i]->overlaps, 0);
                assert_int_equal(f->devs[i]->bad_cancels, 0);
                fake_device_free(f->devs[i]);
        }
        dcem_loop_free(f->l);
        free(f);
}

/* Run the loop until the wall clock (advancing with monotonic) reaches utc. */
static void run_to_utc(fx *f, int64_t utc)
{
        assert_true(fake_clock_run_until(&f->fc, f->l, f->fc.mono_ns + (utc - f->fc.utc_ns)) >= 0);
}

static void run_for(fx *f, int64_t ns)
{
        assert_true(fake_clock_run_until(&f->fc, f->l, f->fc.mono_ns + ns) >= 0);
}

static const fake_step answer2 = {
        .what = FAKE_ANSWER,
        .n = 2,
        .samples = {
                { "energy_kwh", 1234.5, "kWh", DCEM_Q_GOOD, DCEM_KIND_COUNTER },
                { "power_kw", 7.25, "kW", DCEM_Q_GOOD, DCEM_KIND_GAUGE },
        },
};

static void test_alignment_10s(void **state)
{
        fx *f = fx_new(0, 1);
        fake_device *d = fx_dev(f, "pdu-1", 10 * S, 2 * S);
        int64_t n0 = noon();
        dcem_device_stats st;
        char buf[DCEM_TS_MAX];
        size_t i;

        (void)state;
        assert_int_equal(fake_device_push(d, &answer2), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, n0 + 60500 * MS); /* 12:01:00.500 */
        assert_int_equal(d->ncalls, 6);
        assert_int_equal(f->nb, 6);
        for (i = 0; i < 6; i++) {
                int64_t slot = n0 + (int64_t)(i + 1) * 10 * S;

                assert_int_equal(d->calls[i].slot_utc, slot);
                assert_int_equal(d->calls[i].start_utc, slot);
                assert_int_equal(d->calls[i].deadline, d->calls[i].start_mono + 2 * S);
                assert_string_equal(f->b[i].device, "pdu-1");
                assert_int_equal(f->b[i].ts, slot);
                assert_int_equal(f->b[i].done, slot);
                assert_int_equal(f->b[i].seq, i + 1);
                assert_int_equal(f->b[i].status, 0);
                assert_string_equal(f->b[i].error, "");
                assert_int_equal(f->b[i].n, 2);
                assert_string_equal(f->b[i].first.device, "pdu-1");
                assert_string_equal(f->b[i].first.point, "energy_kwh");
                assert_string_equal(f->b[i].first.unit, "kWh");
                assert_true(f->b[i].first.value == 1234.5);
                assert_int_equal(f->b[i].first.ts_ns, slot);
                assert_int_equal(f->b[i].first.kind, DCEM_KIND_COUNTER);
        }
        assert_string_equal(dcem_format_utc(f->b[0].ts, buf), "2026-11-23T12:00:10.000Z");
        assert_string_equal(dcem_format_utc(f->b[5].ts, buf), "2026-11-23T12:01:00.000Z");
        assert_int_equal(dcem_sched_stats(f->s, "pdu-1", &st), 0);
        assert_int_equal(st.polls, 6);
        assert_int_equal(st.ok, 6);
        assert_int_equal(st.failed, 0);
        assert_int_equal(st.missed, 0);
        assert_true(st.up);
        assert_int_equal(f->ns, 1); /* the first result only */
        assert_true(f->st[0].up);
        fx_free(f);
}

static void test_interleave_5s_15s(void **state)
{
        fx *f = fx_new(0, 1);
        fake_device *a = fx_dev(f, "a", 5 * S, 1 * S);
        fake_device *b = fx_dev(f, "b", 15 * S, 1 * S);
        int64_t n0 = noon();
        size_t i, ia = 0, ib = 0;

        (void)state;
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, n0 + 60500 * MS);
        assert_int_equal(a->ncalls, 12);
        assert_int_equal(b->ncalls, 4);
        for (i = 0; i < 12; i++)
                assert_int_equal(a->calls[i].slot_utc, n0 + (int64_t)(i + 1) * 5 * S);
        for (i = 0; i < 4; i++)
                assert_int_equal(b->calls[i].slot_utc, n0 + (int64_t)(i + 1) * 15 * S);
        /* The batches arrive in time order, merging both grids. */
        assert_int_equal(f->nb, 16);
        for (i = 1; i < f->nb; i++)
                assert_true(f->b[i].ts >= f->b[i - 1].ts);
        for (i = 0; i < f->nb; i++) {
                if (strcmp(f->b[i].device, "a") == 0)
                        assert_int_equal(f->b[i].seq, ++ia);
                else
                        assert_int_equal(f->b[i].seq, ++ib);
        }
        fx_free(f);
}

static void test_slow_device_does_not_delay_fast(void **state)
{
        fx *f = fx_new(0, 1);
        fake_device *slow = fx_dev(f, "slow", 10 * S, 10 * S);
        fake_device *fast = fx_dev(f, "fast", 1 * S, 1 * S);
        fake_step st = answer2;
        int64_t n0 = noon();
        dcem_device_stats ss, fs;
        size_t i, nslow = 0;

        (void)state;
        st.what = FAKE_DELAY;
        st.delay_ns = 8 * S;
        assert_int_equal(fake_device_push(slow, &st), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, n0 + 63700 * MS);
        assert_int_equal(fast->ncalls, 60); /* 12:00:04 .. 12:01:03 */
        for (i = 0; i < fast->ncalls; i++) {
                assert_int_equal(fast->calls[i].slot_utc, n0 + (int64_t)(i + 4) * S);
                assert_int_equal(fast->calls[i].start_utc, fast->calls[i].slot_utc);
        }
        assert_int_equal(slow->ncalls, 6);
        for (i = 0; i < f->nb; i++) {
                if (strcmp(f->b[i].device, "slow") != 0)
                        continue;
                assert_int_equal(f->b[i].status, 0);
                assert_int_equal(f->b[i].done - f->b[i].ts, 8 * S);
                /* Samples carry the reading time, the batch its slot. */
                assert_int_equal(f->b[i].first.ts_ns, f->b[i].ts + 8 * S);
                nslow++;
        }
        assert_int_equal(nslow, 5);               /* the 12:01:00 one answers at 12:01:08 */
        assert_int_equal(dcem_sched_in_flight(f->s), 1);
        assert_int_equal(dcem_sched_stats(f->s, "slow", &ss), 0);
        assert_int_equal(dcem_sched_stats(f->s, "fast", &fs), 0);
        assert_int_equal(ss.missed + fs.missed, 0);
        assert_int_equal(ss.last_duration_ns, 8 * S);
        assert_int_equal(fs.ok, 60);
        fx_free(f);
}

static void test_timeout(void **state)
{
        fx *f = fx_new(1, 1); /* cap 1: no backoff, to see every slot */
        fake_device *hang = fx_dev(f, "hang", 10 * S, 3 * S);
        fake_device *clamp = fx_dev(f, "clamp", 5 * S, 60 * S);
        fake_device *frac = fx_dev(f, "frac", 10 * S, 2500 * MS);
        fake_step st = { .what = FAKE_HANG };
        int64_t n0 = noon();
        dcem_device_stats s1, s2;
        size_t i, nh = 0, nc = 0, nf = 0;

        (void)state;
        assert_int_equal(fake_device_push(hang, &st), 0);
        assert_int_equal(fake_device_push(clamp, &st), 0);
        assert_int_equal(fake_device_push(frac, &st), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, n0 + 33700 * MS);
        assert_int_equal(hang->ncalls, 3);
        assert_int_equal(hang->cancels, 3);
        for (i = 0; i < hang->ncalls; i++)
                assert_int_equal(hang->calls[i].deadline, hang->calls[i].start_mono + 3 * S);
        /* The 5 s device's deadline is clamped to its interval, and falls on
         * its next slot: the deadline fires first, the slot is still polled. */
        assert_int_equal(clamp->ncalls, 6); /* :05 .. :30 */
        for (i = 0; i < clamp->ncalls; i++) {
                assert_int_equal(clamp->calls[i].slot_utc, n0 + (int64_t)(i + 1) * 5 * S);
                assert_int_equal(clamp->calls[i].deadline, clamp->calls[i].start_mono + 5 * S);
        }
        for (i = 0; i < f->nb; i++) {
                assert_int_equal(f->b[i].status, -ETIMEDOUT);
                if (strcmp(f->b[i].device, "hang") == 0) {
                        assert_string_equal(f->b[i].error, "timeout after 3s");
                        assert_int_equal(f->b[i].done - f->b[i].ts, 3 * S);
                        nh++;
                } else if (strcmp(f->b[i].device, "clamp") == 0) {
                        assert_string_equal(f->b[i].error, "timeout after 5s");
                        nc++;
                } else {
                        assert_string_equal(f->b[i].error, "timeout after 2.5s");
                        nf++;
                }
        }
        assert_int_equal(nh, 3);
        assert_int_equal(nc, 5); /* the :30 one ends at :35 */
        assert_int_equal(nf, 3);
        assert_int_equal(dcem_sched_stats(f->s, "hang", &s1), 0);
        assert_int_equal(s1.timeouts, 3);
        assert_int_equal(s1.failed, 3);
        assert_int_equal(s1.consecutive_failures, 3);
        assert_false(s1.up);
        assert_int_equal(s1.last_duration_ns, 3 * S);
        assert_int_equal(dcem_sched_stats(f->s, "clamp", &s2), 0);
        assert_int_equal(s2.missed, 0);
        assert_int_equal(s2.timeouts, 5);
        assert_int_equal(dcem_sched_in_flight(f->s), 1);
        fx_free(f);
}

/* Run a failing device through n polls; the gaps between its slots, in
 * intervals, go to gaps[1..n-1]. how: 0 fails inside poll(), 1 fails 1 s
 * later from a loop timer, 2 hangs until its 2 s deadline. */
static void failing_gaps(int64_t cap, uint64_t seed, size_t n, int64_t *gaps, int how)
{
        fx *f = fx_new(cap, seed);
        fake_device *d = fx_dev(f, "dead", 10 * S, 2 * S);
        fake_step st = { .what = FAKE_FAIL, .status = -EHOSTUNREACH, .err = "no route to 10.0.0.9" };
        dcem_device_stats ds;

        if (how == 1)
                st.delay_ns = S;
        else if (how == 2)
                st = (fake_step){ .what = FAKE_HANG };
        size_t k;

        assert_int_equal(fake_device_push(d, &st), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        while (d->ncalls < n)
                run_for(f, 60 * S);
        for (k = 0; k < n; k++)
                assert_int_equal(d->calls[k].slot_utc % (10 * S), 0);
        for (k = 1; k < n; k++)
                gaps[k] = (d->calls[k].slot_utc - d->calls[k - 1].slot_utc) / (10 * S);
        assert_int_equal(f->ns, 1); /* one "down", however many failures */
        assert_false(f->st[0].up);
        assert_int_equal(f->st[0].status, how == 2 ? -ETIMEDOUT : -EHOSTUNREACH);
        assert_string_equal(f->st[0].err, how == 2 ? "timeout after 2s" : "no route to 10.0.0.9");
        assert_int_equal(dcem_sched_stats(f->s, "dead", &ds), 0);
        /* The last poll may still be in flight. */
        assert_true(ds.consecutive_failures == d->ncalls || ds.consecutive_failures + 1 == d->ncalls);
        assert_int_equal(ds.failed, ds.consecutive_failures);
        assert_int_equal(ds.ok, 0);
        fx_free(f);
}

static void test_backoff_bounds(void **state)
{
        enum { N = 80 };
        static const int64_t caps[] = { 10, 3, 1, 64, 10, 10 };
        static const int hows[] = { 0, 0, 0, 0, 1, 2 }; /* sync, async, timeout */
        int64_t gaps[N], first[N];
        size_t c, k;

        (void)state;
        for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
                int64_t cap = caps[c];
                int how = hows[c];
                bool seen_lo = false, seen_hi = false, differs = false;
                uint64_t seed;

                for (seed = 1; seed <= 12; seed++) {
                        failing_gaps(cap, seed * 7919, N, gaps, how);
                        for (k = 1; k < N; k++) {
                                /* Poll k follows k consecutive failures. */
                                int64_t b = k >= 62 ? cap : ((INT64_C(1) << k) < cap ? (INT64_C(1) << k) : cap);
                                int64_t lo = (b + 1) / 2;

                                assert_true(gaps[k] >= lo);
                                assert_true(gaps[k] <= b);
                                assert_true(gaps[k] <= cap);
                                if (b == cap && k > 8) {
                                        seen_lo |= gaps[k] == lo;
                                        seen_hi |= gaps[k] == b;
                                }
                        }
                        if (seed == 1)
                                memcpy(first, gaps, sizeof(gaps));
                        else if (memcmp(first + 1, gaps + 1, (N - 1) * sizeof(gaps[0])) != 0)
                                differs = true;
                }
                /* The jitter spans its whole range, and depends on the seed. */
                assert_true(seen_lo);
                assert_true(seen_hi);
                if (cap > 1)
                        assert_true(differs);
                /* The same seed gives the same sequence. */
                failing_gaps(cap, 1 * 7919, N, gaps, how);
                assert_memory_equal(first + 1, gaps + 1, (N - 1) * sizeof(gaps[0]));
        }
}

static void test_recovery(void **state)
{
        fx *f = fx_new(10, 42);
        fake_device *d = fx_dev(f, "flaky", 10 * S, 2 * S);
        fake_step fail = { .what = FAKE_FAIL, .err = "read timeout" };
        dcem_device_stats ds;
        size_t k;

        (void)state;
        for (k = 0; k < 6; k++)
                assert_int_equal(fake_device_push(d, &fail), 0);
        assert_int_equal(fake_device_push(d, &answer2), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        while (d->ncalls < 12)
                run_for(f, 60 * S);
        /* Noticed within the cap, then back on the normal interval at once. */
        assert_true(d->calls[6].slot_utc - d->calls[5].slot_utc <= 10 * 10 * S);
        for (k = 7; k < 12; k++)
                assert_int_equal(d->calls[k].slot_utc - d->calls[k - 1].slot_utc, 10 * S);
        assert_int_equal(f->ns, 2);
        assert_false(f->st[0].up);
        assert_int_equal(f->st[0].status, -EIO);
        assert_string_equal(f->st[0].err, "read timeout");
        assert_true(f->st[1].up);
        assert_int_equal(f->st[1].status, 0);
        assert_int_equal(dcem_sched_stats(f->s, "flaky", &ds), 0);
        assert_int_equal(ds.failed, 6);
        assert_int_equal(ds.ok, d->ncalls - 6);
        assert_int_equal(ds.consecutive_failures, 0);
        assert_true(ds.up);
        fx_free(f);
}

/* Assert the polls from index `from` on are on the grid of the wall clock at
 * their time, never more than I/2 after their slot, and never a burst. */
static void check_no_burst(const fake_device *d, size_t from, int64_t interval)
{
        size_t k;

        for (k = from; k < d->ncalls; k++) {
                assert_int_equal(d->calls[k].slot_utc % interval, 0);
                assert_true(d->calls[k].start_utc - d->calls[k].slot_utc >= 0);
                assert_true(d->calls[k].start_utc - d->calls[k].slot_utc <= interval / 2);
                if (k > 0) {
                        assert_true(d->calls[k].start_mono - d->calls[k - 1].start_mono >= interval / 2);
                        assert_true(d->calls[k].slot_utc != d->calls[k - 1].slot_utc);
                }
        }
}

static void test_wall_clock_steps(void **state)
{
        static const int64_t steps[] = { 3600 * S + 3700 * MS, 7 * S, -3600 * S, -3 * S, -7 * S, 86400 * S };
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                fx *f = fx_new(0, 1);
                fake_device *d = fx_dev(f, "meter", 10 * S, 2 * S);
                size_t before;

                assert_int_equal(dcem_sched_start(f->s), 0);
                run_to_utc(f, noon() + 25 * S);
                before = d->ncalls;
                assert_int_equal(before, 2);
                fake_clock_step_utc(&f->fc, steps[i]);
                run_for(f, 60 * S);
                /* 60 s of monotonic time: about 6 polls, never a burst, never starved. */
                assert_true(d->ncalls - before >= 5);
                assert_true(d->ncalls - before <= 7);
                check_no_burst(d, 0, 10 * S);
                /* Once re-aligned, polls are exactly on the new grid. */
                assert_int_equal(d->calls[d->ncalls - 1].start_utc, d->calls[d->ncalls - 1].slot_utc);
                fx_free(f);
        }
}

static void test_state_hook_on_changes(void **state)
{
        fx *f = fx_new(1, 3);
        fake_device *d = fx_dev(f, "ups-2", 10 * S, 2 * S);
        fake_step fail = { .what = FAKE_FAIL, .status = -EPROTO, .err = "boom" };
        static const bool want[] = { true, false, true, false };
        size_t k;

        (void)state;
        /* ok ok fail fail ok fail (fail repeats) */
        assert_int_equal(fake_device_push(d, &answer2), 0);
        assert_int_equal(fake_device_push(d, &answer2), 0);
        assert_int_equal(fake_device_push(d, &fail), 0);
        assert_int_equal(fake_device_push(d, &fail), 0);
        assert_int_equal(fake_device_push(d, &answer2), 0);
        assert_int_equal(fake_device_push(d, &fail), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        while (d->ncalls < 9)
                run_for(f, 60 * S);
        assert_int_equal(f->ns, 4);
        for (k = 0; k < 4; k++) {
                assert_string_equal(f->st[k].device, "ups-2");
                assert_int_equal(f->st[k].up, want[k]);
                assert_int_equal(f->st[k].status, want[k] ? 0 : -EPROTO);
                assert_string_equal(f->st[k].err, want[k] ? "" : "boom");
        }
        fx_free(f);
}

static void test_poll_all_now(void **state)
{
        fx *f = fx_new(0, 1);
        fake_device *a = fx_dev(f, "a", 10 * S, 5 * S);
        fake_device *b = fx_dev(f, "b", 10 * S, 5 * S);
        fake_device *c = fx_dev(f, "c", 10 * S, 5 * S);
        fake_step slow = { .what = FAKE_DELAY, .delay_ns = 2 * S };
        fake_step fail = { .what = FAKE_FAIL };
        int64_t now = f->fc.utc_ns;
        dcem_device_stats t;
        char buf[DCEM_TS_MAX];
        size_t i;

        (void)state;
        assert_int_equal(fake_device_push(b, &slow), 0);
        assert_int_equal(fake_device_push(c, &fail), 0);
        assert_int_equal(dcem_sched_poll_all_now(f->s), 0);
        assert_int_equal(f->nb, 2); /* a and c finished inside poll() */
        assert_int_equal(dcem_sched_in_flight(f->s), 1);
        /* A device still in flight is not polled twice. */
        assert_int_equal(dcem_sched_poll_all_now(f->s), 0);
        assert_int_equal(b->ncalls, 1);
        assert_int_equal(a->ncalls, 2);
        run_for(f, 60 * S);
        assert_int_equal(dcem_sched_in_flight(f->s), 0);
        assert_int_equal(a->ncalls, 2); /* not started: nothing more */
        assert_int_equal(b->ncalls, 1);
        assert_int_equal(c->ncalls, 2);
        for (i = 0; i < f->nb; i++) {
                assert_int_equal(f->b[i].ts, now);
                if (strcmp(f->b[i].device, "b") == 0) {
                        assert_int_equal(f->b[i].done, now + 2 * S);
                        assert_int_equal(f->b[i].status, 0);
                } else if (strcmp(f->b[i].device, "c") == 0) {
                        assert_int_equal(f->b[i].status, -EIO);
                }
        }
        assert_string_equal(dcem_format_utc(f->b[0].ts, buf), "2026-11-23T12:00:03.700Z");
        assert_int_equal(f->nb, 5);
        dcem_sched_totals(f->s, &t);
        assert_int_equal(t.polls, 5);
        assert_int_equal(t.ok, 3);
        assert_int_equal(t.failed, 2);
        assert_int_equal(t.timeouts, 0);
        assert_int_equal(t.consecutive_failures, 2);
        assert_false(t.up);
        assert_int_equal(t.last_duration_ns, 2 * S);
        fx_free(f);
}

static void test_missed_slots(void **state)
{
        fx *f = fx_new(1, 1);
        fake_device *late = fx_dev(f, "late", 10 * S, 2 * S);
        dcem_device_stats st;
        int64_t n0 = noon();

        (void)state;
        assert_int_equal(dcem_sched_start(f->s), 0);
        /* The loop stalls from 12:00:03.7 to 12:00:45: slots :10 :20 :30 :40 are lost. */
        fake_clock_advance(&f->fc, n0 + 45 * S - f->fc.utc_ns);
        assert_true(dcem_loop_run_once(f->l, 0) >= 1);
        assert_int_equal(late->ncalls, 0);
        assert_int_equal(dcem_sched_stats(f->s, "late", &st), 0);
        assert_int_equal(st.missed, 4);
        run_to_utc(f, n0 + 55 * S);
        assert_int_equal(late->ncalls, 1);
        assert_int_equal(late->calls[0].slot_utc, n0 + 50 * S);
        fx_free(f);

        /* A poll still running at its next slot: that slot is missed. */
        f = fx_new(1, 1);
        fake_device *hang = fx_dev(f, "hang", 10 * S, 10 * S);
        fake_step st_hang = { .what = FAKE_HANG };

        assert_int_equal(fake_device_push(hang, &st_hang), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        fake_clock_advance(&f->fc, n0 + 13 * S - f->fc.utc_ns); /* 3 s late: still polls :10 */
        assert_true(dcem_loop_run_once(f->l, 0) >= 1);
        assert_int_equal(hang->ncalls, 1);
        assert_int_equal(hang->calls[0].slot_utc, n0 + 10 * S);
        run_to_utc(f, n0 + 30500 * MS);
        assert_int_equal(dcem_sched_stats(f->s, "hang", &st), 0);
        assert_int_equal(st.missed, 1); /* :20 */
        assert_int_equal(st.timeouts, 1); /* at :23 */
        assert_int_equal(hang->ncalls, 2);
        assert_int_equal(hang->calls[1].slot_utc, n0 + 30 * S);
        fx_free(f);
}

/* Slots passed while a device waits out its backoff are missed too: at every
 * point of the run, the grid slots passed since the first one (plain
 * arithmetic here) equal the polls started (the fake's log) plus the slots
 * counted missed; and once the device answers again nothing more is missed.
 * For the three ways a poll fails: inside poll(), later from a timer, at its
 * deadline. */
static void test_backoff_slots_missed(void **state)
{
        int64_t n0 = noon();
        int how;

        (void)state;
        for (how = 0; how < 3; how++) {
                fx *f = fx_new(10, 77 + (uint64_t)how);
                fake_device *d = fx_dev(f, "dead", 10 * S, 2 * S);
                fake_step fail = { .what = FAKE_FAIL, .status = -EHOSTUNREACH, .err = "no route" };
                dcem_device_stats ds;
                uint64_t missed_at_recovery = 0;
                int64_t t, recovered_at = 0;
                size_t k;

                if (how == 1)
                        fail.delay_ns = S;
                else if (how == 2)
                        fail = (fake_step){ .what = FAKE_HANG };
                for (k = 0; k < 12; k++)
                        assert_int_equal(fake_device_push(d, &fail), 0);
                assert_int_equal(fake_device_push(d, &answer2), 0);
                assert_int_equal(dcem_sched_start(f->s), 0);
                /* first slot 12:00:10; look 5 s after each slot (past the 2 s deadline) */
                for (t = 1; t <= 200; t++) {
                        run_to_utc(f, n0 + t * 10 * S + 5 * S);
                        assert_int_equal(dcem_sched_stats(f->s, "dead", &ds), 0);
                        assert_int_equal(ds.polls, d->ncalls);
                        assert_int_equal(ds.missed + d->ncalls, (uint64_t)t);
                        if (!recovered_at && ds.ok > 0) {
                                recovered_at = t;
                                missed_at_recovery = ds.missed;
                        }
                }
                assert_true(recovered_at > 0);
                assert_true(recovered_at < 190);
                /* 12 failures with cap 10 skip many slots; none after recovery */
                assert_true(missed_at_recovery >= 12);
                assert_int_equal(ds.missed, missed_at_recovery);
                assert_int_equal(ds.failed, 12);
                /* every poll on its own grid slot, in order */
                for (k = 1; k < d->ncalls; k++) {
                        assert_int_equal(d->calls[k].slot_utc % (10 * S), 0);
                        assert_true(d->calls[k].slot_utc > d->calls[k - 1].slot_utc);
                }
                fx_free(f);
        }
}

/* Run n devices named dev-0.. (in reverse order when rev) at 1 s with the
 * given spread for about 7 s; offs[i] = the start's delay after the slot of
 * dev-i, checked to be the same at every poll and the batch stamped with
 * the grid slot. */
static void spread_offsets(int64_t spread, size_t n, bool rev, int64_t *offs)
{
        fx *f = fx_new_spread(1, 1, spread);
        fake_device *d[40];
        size_t i, k;
        char name[32];

        assert_true(n <= 40);
        for (i = 0; i < n; i++) {
                size_t j = rev ? n - 1 - i : i;

                snprintf(name, sizeof(name), "dev-%zu", j);
                assert_int_equal(fake_device_new(f->l, &d[j]), 0);
                assert_int_equal(dcem_sched_add(f->s, name, S, S, &fake_collector_ops, d[j]), 0);
        }
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, noon() + 10 * S + 900 * MS);
        for (i = 0; i < n; i++) {
                assert_int_equal(d[i]->ncalls, 7); /* slots :04 .. :10 */
                offs[i] = d[i]->calls[0].start_utc - d[i]->calls[0].slot_utc;
                for (k = 0; k < d[i]->ncalls; k++) {
                        assert_int_equal(d[i]->calls[k].slot_utc, noon() + (int64_t)(4 + k) * S);
                        assert_int_equal(d[i]->calls[k].start_utc - d[i]->calls[k].slot_utc, offs[i]);
                }
        }
        assert_int_equal(f->nb, 7 * n);
        for (k = 0; k < f->nb; k++) {
                assert_int_equal(f->b[k].ts % S, 0);
                assert_true(f->b[k].done >= f->b[k].ts);
        }
        dcem_sched_free(f->s);
        for (i = 0; i < n; i++) {
                assert_int_equal(d[i]->overlaps, 0);
                fake_device_free(d[i]);
        }
        dcem_loop_free(f->l);
        free(f);
}

static void test_spread(void **state)
{
        int64_t a[40], b[40], lo = INT64_MAX, hi = INT64_MIN;
        size_t i, k, distinct = 0;
        dcem_sched_opts bad = { .spread_ns = -1 };
        dcem_sched *s = NULL;
        dcem_loop *l = NULL;
        fake_clock fc;

        (void)state;
        /* default: every poll on its grid instant */
        spread_offsets(0, 40, false, a);
        for (i = 0; i < 40; i++)
                assert_int_equal(a[i], 0);
        /* 200 ms: offsets in [0, 200 ms), multiples of 5 ms (40 instants), spread out, the
         * same for a name whatever the order */
        spread_offsets(200 * MS, 40, false, a);
        spread_offsets(200 * MS, 40, true, b);
        assert_memory_equal(a, b, sizeof(a));
        for (i = 0; i < 40; i++) {
                bool seen = false;

                assert_true(a[i] >= 0 && a[i] < 200 * MS);
                assert_int_equal(a[i] % (5 * MS), 0);
                lo = a[i] < lo ? a[i] : lo;
                hi = a[i] > hi ? a[i] : hi;
                for (k = 0; k < i; k++)
                        seen |= a[k] == a[i];
                distinct += !seen;
        }
        assert_true(hi - lo > 100 * MS);
        assert_true(distinct >= 15); /* 40 names in 40 buckets: ~25 expected */
        /* a spread past half the interval is capped there */
        spread_offsets(5 * S, 40, false, a);
        hi = 0;
        for (i = 0; i < 40; i++) {
                assert_true(a[i] >= 0 && a[i] < 500 * MS);
                assert_int_equal(a[i] % (5 * MS), 0);
                hi = a[i] > hi ? a[i] : hi;
        }
        assert_true(hi >= 200 * MS);
        /* a window under 20 ms: 1 ms steps; under 1 ms: none */
        spread_offsets(7 * MS, 40, false, a);
        distinct = 0;
        for (i = 0; i < 40; i++) {
                assert_true(a[i] >= 0 && a[i] < 7 * MS);
                assert_int_equal(a[i] % MS, 0);
                distinct += a[i] != a[0];
        }
        assert_true(distinct > 0);
        spread_offsets(MS / 2, 40, false, a);
        for (i = 0; i < 40; i++)
                assert_int_equal(a[i], 0);
        /* a negative spread is refused */
        fake_clock_init(&fc, 5000 * S, noon());
        assert_int_equal(dcem_loop_new(&fc.clock, &l), 0);
        assert_int_equal(dcem_sched_new(l, &bad, NULL, &s), -EINVAL);
        assert_null(s);
        dcem_loop_free(l);
}

/* ---- a hand-written synchronous collector probing the dcem_poll contract ---- */

typedef struct probe {
        fx *f;
        int mode;      /* 0: add+done+done, 1: done then return -EIO */
        size_t nb_inside;
        int add_after_done, add_long_point, add_long_unit, add_bad_quality, add_error_q;
        int text_ok, text_long, text_error, text_bad_quality, text_after_done;
        int64_t slot;
} probe;

static int probe_poll(void *state, dcem_poll *p)
{
        probe *pr = state;
        char longname[DCEM_NAME_MAX + 8];

        memset(longname, 'p', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        pr->slot = dcem_poll_slot_utc(p);
        pr->add_long_point = dcem_poll_add(p, longname, 1, "kW", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
        pr->add_long_unit = dcem_poll_add(p, "power_kw", 1, "kilowatt-hours-x", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
        pr->add_bad_quality = dcem_poll_add(p, "power_kw", 1, "kW", _DCEM_Q_MAX, DCEM_KIND_GAUGE);
        pr->add_error_q = dcem_poll_add(p, "voltage_v", 230.0, NULL, DCEM_Q_ERROR, DCEM_KIND_GAUGE);
        /* text samples: a kind dcem_poll_add refuses, added by dcem_poll_add_text */
        assert_int_equal(dcem_poll_add(p, "model", 0, "", DCEM_Q_GOOD, DCEM_KIND_TEXT), -EINVAL);
        pr->text_ok = dcem_poll_add_text(p, "model", "SDM630-Modbus V2", DCEM_Q_GOOD);
        pr->text_long = dcem_poll_add_text(p, "serial_number", "0123456789012345678901234567890123456789xyz",
                                           DCEM_Q_GOOD);
        pr->text_error = dcem_poll_add_text(p, "firmware", "not shown", DCEM_Q_ERROR);
        pr->text_bad_quality = dcem_poll_add_text(p, "firmware", "x", _DCEM_Q_MAX);
        dcem_poll_done(p, 0, NULL);
        /* The hooks run after poll() returns, not inside it. */
        pr->nb_inside = pr->f->nb;
        pr->add_after_done = dcem_poll_add(p, "late", 1, "kW", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
        pr->text_after_done = dcem_poll_add_text(p, "late", "x", DCEM_Q_GOOD);
        dcem_poll_done(p, -EIO, "second done is ignored");
        return pr->mode == 1 ? -EIO : 0;
}

static void probe_cancel(void *state, dcem_poll *p)
{
        (void)state;
        (void)p;
        fail_msg("a finished poll must never be cancelled");
}

static const dcem_collector_ops probe_ops = {
        .name = "probe",
        .poll = probe_poll,
        .cancel = probe_cancel,
};

static void test_sync_completion_and_poll_api(void **state)
{
        fx *f = fx_new(0, 1);
        probe pr = { .f = f };
        char longname[DCEM_NAME_MAX + 1];

        (void)state;
        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(dcem_sched_add(f->s, longname, 10 * S, S, &probe_ops, &pr), -EINVAL);
        assert_int_equal(dcem_sched_add(f->s, "", 10 * S, S, &probe_ops, &pr), -EINVAL);
        assert_int_equal(dcem_sched_add(f->s, "x", 0, S, &probe_ops, &pr), -EINVAL);
        assert_int_equal(dcem_sched_add(f->s, "x", 10 * S, 0, &probe_ops, &pr), -EINVAL);
        assert_int_equal(dcem_sched_add(f->s, "probe", 10 * S, S, &probe_ops, &pr), 0);
        assert_int_equal(dcem_sched_add(f->s, "probe", 10 * S, S, &probe_ops, &pr), -EEXIST);

        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, noon() + 10500 * MS);
        assert_int_equal(pr.nb_inside, 0);
        assert_int_equal(f->nb, 1);
        assert_int_equal(pr.slot, noon() + 10 * S);
        assert_int_equal(pr.add_long_point, -EINVAL);
        assert_int_equal(pr.add_long_unit, -EINVAL);
        assert_int_equal(pr.add_bad_quality, -EINVAL);
        assert_int_equal(pr.add_error_q, 0);
        assert_int_equal(pr.add_after_done, -EINVAL);
        assert_int_equal(f->b[0].status, 0);
        assert_int_equal(pr.text_ok, 0);
        assert_int_equal(pr.text_long, 0);
        assert_int_equal(pr.text_error, 0);
        assert_int_equal(pr.text_bad_quality, -EINVAL);
        assert_int_equal(pr.text_after_done, -EINVAL);
        assert_int_equal(f->b[0].n, 4);
        assert_int_equal(f->b[0].more[0].kind, DCEM_KIND_TEXT);
        assert_string_equal(f->b[0].more[0].point, "model");
        assert_string_equal(f->b[0].more[0].text, "SDM630-Modbus V2");
        assert_string_equal(f->b[0].more[0].unit, "");
        assert_true(isnan(f->b[0].more[0].value));
        assert_int_equal(f->b[0].more[0].ts_ns, f->b[0].first.ts_ns);
        /* cut to DCEM_TEXT_MAX - 1 bytes, NUL-terminated */
        assert_int_equal(strlen(f->b[0].more[1].text), DCEM_TEXT_MAX - 1);
        assert_memory_equal(f->b[0].more[1].text, "0123456789012345678901234567890123456789", DCEM_TEXT_MAX - 1);
        /* an error carries no text */
        assert_int_equal(f->b[0].more[2].quality, DCEM_Q_ERROR);
        assert_string_equal(f->b[0].more[2].text, "");
        assert_int_equal(f->b[0].more[2].kind, DCEM_KIND_TEXT);
        assert_string_equal(f->b[0].first.point, "voltage_v");
        assert_string_equal(f->b[0].first.unit, "");
        assert_true(isnan(f->b[0].first.value));
        assert_int_equal(f->b[0].first.quality, DCEM_Q_ERROR);

        /* poll() returning -errno wins, even after a done: one batch, failed. */
        pr.mode = 1;
        run_to_utc(f, noon() + 20500 * MS);
        assert_int_equal(f->nb, 2);
        assert_int_equal(f->b[1].status, -EIO);
        assert_int_equal(dcem_sched_in_flight(f->s), 0);
        fx_free(f);
}

static void test_refused_and_stop_and_free(void **state)
{
        fx *f = fx_new(1, 1);
        fake_device *r = fx_dev(f, "refuse", 10 * S, 2 * S);
        fake_device *slow = fx_dev(f, "slow", 10 * S, 9 * S);
        fake_device *hang = fx_dev(f, "hang", 10 * S, 9 * S);
        fake_step refuse = { .what = FAKE_REFUSE };
        fake_step delay = { .what = FAKE_DELAY, .delay_ns = 4 * S };
        fake_step st_hang = { .what = FAKE_HANG };
        char want[DCEM_ERR_MAX];
        dcem_device_stats st;
        size_t i, nslow = 0;

        (void)state;
        assert_int_equal(fake_device_push(r, &refuse), 0);
        assert_int_equal(fake_device_push(slow, &delay), 0);
        assert_int_equal(fake_device_push(hang, &st_hang), 0);
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, noon() + 11 * S);
        snprintf(want, sizeof(want), "poll failed: %s", strerror(ECONNREFUSED));
        assert_int_equal(f->nb, 1);
        assert_int_equal(f->b[0].status, -ECONNREFUSED);
        assert_string_equal(f->b[0].error, want);
        assert_int_equal(dcem_sched_in_flight(f->s), 2);

        /* Stop: no new polls, but the slow poll in flight still finishes. */
        dcem_sched_stop(f->s);
        run_for(f, 60 * S);
        assert_int_equal(r->ncalls, 1);
        assert_int_equal(slow->ncalls, 1);
        for (i = 0; i < f->nb; i++)
                nslow += strcmp(f->b[i].device, "slow") == 0;
        assert_int_equal(nslow, 1);
        assert_int_equal(dcem_sched_stats(f->s, "hang", &st), 0);
        assert_int_equal(st.timeouts, 1); /* its deadline still applies */
        assert_int_equal(dcem_sched_stats(f->s, "nope", &st), -ENOENT);

        /* Start again, then free with polls in flight: cancelled, not emitted. */
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_for(f, 10 * S); /* one slot each: hang and slow are in flight */
        assert_int_equal(dcem_sched_in_flight(f->s), 2);
        size_t nb = f->nb;
        unsigned hc = hang->cancels, sc = slow->cancels;
        dcem_sched_free(f->s);
        f->s = NULL;
        assert_int_equal(f->nb, nb);
        assert_int_equal(hang->cancels, hc + 1);
        assert_int_equal(slow->cancels, sc + 1);
        assert_null(hang->pending);
        assert_null(slow->pending);
        dcem_sched_free(NULL);
        fx_free(f);
}

static void test_add_while_running(void **state)
{
        fx *f = fx_new(0, 1);
        fake_device *a;

        (void)state;
        assert_int_equal(dcem_sched_start(f->s), 0);
        run_to_utc(f, noon() + 12 * S);
        a = fx_dev(f, "late-comer", 5 * S, S);
        run_to_utc(f, noon() + 21 * S);
        assert_int_equal(a->ncalls, 2);
        assert_int_equal(a->calls[0].slot_utc, noon() + 15 * S);
        assert_int_equal(a->calls[1].slot_utc, noon() + 20 * S);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alignment_10s),
                cmocka_unit_test(test_interleave_5s_15s),
                cmocka_unit_test(test_slow_device_does_not_delay_fast),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_backoff_bounds),
                cmocka_unit_test(test_recovery),
                cmocka_unit_test(test_wall_clock_steps),
                cmocka_unit_test(test_state_hook_on_changes),
                cmocka_unit_test(test_poll_all_now),
                cmocka_unit_test(test_missed_slots),
                cmocka_unit_test(test_backoff_slots_missed),
                cmocka_unit_test(test_spread),
                cmocka_unit_test(test_sync_completion_and_poll_api),
                cmocka_unit_test(test_refused_and_stop_and_free),
                cmocka_unit_test(test_add_while_running),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
