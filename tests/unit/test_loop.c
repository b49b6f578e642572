/* test_loop.c - the event loop: timer order (10,000 timers, equal times in
 * insertion order), cancellation, timers added and cancelled from callbacks,
 * fd readiness on real socketpairs (and an fd above 1024), an fd deleted by
 * an earlier callback of the same epoll batch, waits that never end before
 * the timer is due (real and fake clock), EINTR, run/stop; and UTC formatting. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dcem/clock.h"
#include "dcem/loop.h"
#include "fake_clock.h"

/* ---- UTC formatting (expected strings computed with Python's datetime) ---- */

static void test_format_utc(void **state)
{
        char buf[DCEM_TS_MAX];

        (void)state;
        assert_string_equal(dcem_format_utc(0, buf), "1970-01-01T00:00:00.000Z");
        assert_string_equal(dcem_format_utc(-1, buf), "1969-12-31T23:59:59.999Z");
        assert_string_equal(dcem_format_utc(INT64_C(1795435200123456789), buf), "2026-11-23T12:00:00.123Z");
        assert_string_equal(dcem_format_utc(INT64_C(-3153600000000000005), buf), "1870-01-24T23:59:59.999Z");
        /* The extremes must not crash or overflow the buffer. */
        assert_true(strlen(dcem_format_utc(INT64_MAX, buf)) < DCEM_TS_MAX);
        assert_true(strlen(dcem_format_utc(INT64_MIN, buf)) < DCEM_TS_MAX);
}

/* The integer formatter against gmtime_r + snprintf (an independent
 * oracle: the C library's calendar), over the whole int64 range. */
static void test_format_utc_matches_gmtime(void **state)
{
        uint64_t x = 12345;

        (void)state;
        for (int i = 0; i < 200000; i++) {
                uint64_t z = (x += UINT64_C(0x9E3779B97F4A7C15));
                z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
                z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
                z ^= z >> 31;
                /* half over the whole range, half around leap days and years near now */
                int64_t ns = (i & 1) ? (int64_t)z
                                     : INT64_C(951782400) * DCEM_NS_PER_S + (int64_t)(z % (UINT64_C(4000) * 86400 * DCEM_NS_PER_S)) -
                                               INT64_C(2000) * 86400 * DCEM_NS_PER_S;
                int64_t sec = ns / DCEM_NS_PER_S, rem = ns % DCEM_NS_PER_S;
                char want[64], got[DCEM_TS_MAX];
                struct tm tm;
                time_t t;

                if (rem < 0) {
                        rem += DCEM_NS_PER_S;
                        sec--;
                }
                t = (time_t)sec;
                assert_non_null(gmtime_r(&t, &tm));
                snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(rem / DCEM_NS_PER_MS));
                strcat(want, "Z");
                assert_string_equal(dcem_format_utc(ns, got), want);
        }
}

static void test_system_clock(void **state)
{
        int64_t m1 = dcem_clock_mono(&dcem_clock_system);
        int64_t u = dcem_clock_utc(&dcem_clock_system);
        int64_t m2 = dcem_clock_mono(&dcem_clock_system);

        (void)state;
        assert_true(m2 >= m1);
        assert_true(u > INT64_C(1700000000) * DCEM_NS_PER_S); /* after Nov 2023 */
}

/* ---- timers on the fake clock ---- */

typedef struct rec {
        uint64_t ids[20000];
        int64_t at[20000];
        size_t n;
        fake_clock *fc;
} rec;

static void rec_cb(dcem_loop *l, uint64_t id, void *ud)
{
        rec *r = ud;

        (void)l;
        r->at[r->n] = r->fc ? r->fc->mono_ns : 0;
        r->ids[r->n++] = id;
}

typedef struct planned {
        int64_t when;
        size_t index;
        uint64_t id;
        int cancelled;
} planned;

static int cmp_planned(const void *a, const void *b)
{
        const planned *x = a, *y = b;

        if (x->when != y->when)
                return x->when < y->when ? -1 : 1;
        return x->index < y->index ? -1 : (x->index > y->index);
}

static uint64_t xorshift(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static void test_timers_order_and_cancel(void **state)
{
        enum { N = 12000 };
        static planned p[N];
        static rec r;
        fake_clock fc;
        dcem_loop *l = NULL;
        uint64_t seed = 88172645463325252ull;
        size_t i, k, fired;

        (void)state;
        memset(&r, 0, sizeof(r));
        fake_clock_init(&fc, 1000 * DCEM_NS_PER_S, 0);
        r.fc = &fc;
        assert_int_equal(dcem_loop_new(&fc.clock, &l), 0);
        assert_int_equal(dcem_loop_next_timer(l), INT64_MAX);
        for (i = 0; i < N; i++) {
                /* Only 500 distinct times: many equal keys. */
                p[i].when = fc.mono_ns + (int64_t)(xorshift(&seed) % 500) * DCEM_NS_PER_MS;
                p[i].index = i;
                assert_int_equal(dcem_loop_add_timer(l, p[i].when, rec_cb, &r, &p[i].id), 0);
                assert_true(p[i].id != 0);
                if (i > 0)
                        assert_true(p[i].id > p[i - 1].id);
        }
        /* Cancel every third; cancelling twice or an unknown id is -ENOENT. */
        for (i = 0; i < N; i += 3) {
                assert_int_equal(dcem_loop_cancel_timer(l, p[i].id), 0);
                assert_int_equal(dcem_loop_cancel_timer(l, p[i].id), -ENOENT);
                p[i].cancelled = 1;
        }
        assert_int_equal(dcem_loop_cancel_timer(l, 0), -ENOENT);
        assert_int_equal(dcem_loop_cancel_timer(l, p[N - 1].id + 1000), -ENOENT);

        qsort(p, N, sizeof(p[0]), cmp_planned);
        for (i = 0; i < N && p[i].cancelled; i++)
                ;
        assert_int_equal(dcem_loop_next_timer(l), p[i].when);

        /* Nothing is due yet at the start time unless planned for +0. */
        assert_int_equal(fake_clock_run_until(&fc, l, fc.mono_ns + DCEM_NS_PER_S), N - (N + 2) / 3);
        fired = r.n;
        for (i = 0, k = 0; i < N; i++) {
                if (p[i].cancelled)
                        continue;
                assert_true(k < fired);
                assert_int_equal(r.ids[k], p[i].id);
                assert_int_equal(r.at[k], p[i].when); /* fired at its time, not later */
                k++;
        }
        assert_int_equal(k, fired);
        /* Fired timers cannot be cancelled. */
        assert_int_equal(dcem_loop_cancel_timer(l, r.ids[0]), -ENOENT);
        assert_int_equal(dcem_loop_next_timer(l), INT64_MAX);
        dcem_loop_free(l);
}

static void test_fake_clock_never_early(void **state)
{
        fake_clock fc;
        dcem_loop *l = NULL;
        rec *r = calloc(1, sizeof(*r));

        (void)state;
        fake_clock_init(&fc, 0, 0);
        r->fc = &fc;
        assert_int_equal(dcem_loop_new(&fc.clock, &l), 0);
        assert_int_equal(dcem_loop_add_timer(l, 10 * DCEM_NS_PER_S, rec_cb, r, NULL), 0);
        fake_clock_advance(&fc, 10 * DCEM_NS_PER_S - 1);
        assert_int_equal(dcem_loop_run_once(l, 0), 0);
        assert_int_equal(r->n, 0);
        fake_clock_advance(&fc, 1);
        assert_int_equal(dcem_loop_run_once(l, 0), 1);
        assert_int_equal(r->n, 1);
        assert_int_equal(dcem_loop_run_once(l, 0), 0);
        /* A timer in the past fires at the next turn. */
        assert_int_equal(dcem_loop_add_timer(l, -5, rec_cb, r, NULL), 0);
        assert_int_equal(dcem_loop_run_once(l, 0), 1);
        dcem_loop_free(l);
        free(r);
}

/* Callbacks that add, cancel and re-add timers. */
typedef struct chain {
        fake_clock *fc;
        uint64_t victim;
        int victim_fired;
        int zero_fired;
        int later_fired;
        int64_t later_at;
        int self_cancel_rc;
} chain;

static void victim_cb(dcem_loop *l, uint64_t id, void *ud)
{
        (void)l;
        (void)id;
        ((chain *)ud)->victim_fired++;
}

static void zero_cb(dcem_loop *l, uint64_t id, void *ud)
{
        (void)l;
        (void)id;
        ((chain *)ud)->zero_fired++;
}

static void later_cb(dcem_loop *l, uint64_t id, void *ud)
{
        chain *c = ud;

        (void)l;
        (void)id;
        c->later_fired++;
        c->later_at = c->fc->mono_ns;
}

static void first_cb(dcem_loop *l, uint64_t id, void *ud)
{
        chain *c = ud;
        int64_t now = c->fc->mono_ns;

        /* Cancel a timer due in this very batch, add one due now, one later. */
        c->self_cancel_rc = dcem_loop_cancel_timer(l, id);
        assert_int_equal(dcem_loop_cancel_timer(l, c->victim), 0);
        assert_int_equal(dcem_loop_add_timer(l, now, zero_cb, c, NULL), 0);
        assert_int_equal(dcem_loop_add_timer(l, now + 5 * DCEM_NS_PER_S, later_cb, c, NULL), 0);
}

static void test_timers_from_callbacks(void **state)
{
        fake_clock fc;
        dcem_loop *l = NULL;
        chain c = { .fc = &fc };

        (void)state;
        fake_clock_init(&fc, 100, 0);
        assert_int_equal(dcem_loop_new(&fc.clock, &l), 0);
        assert_int_equal(dcem_loop_add_timer(l, 200, first_cb, &c, NULL), 0);
        assert_int_equal(dcem_loop_add_timer(l, 200, victim_cb, &c, &c.victim), 0);
        fake_clock_advance(&fc, 100);
        /* One turn: first_cb only (victim cancelled, the new "now" timer waits). */
        assert_int_equal(dcem_loop_run_once(l, 0), 1);
        assert_int_equal(c.self_cancel_rc, -ENOENT);
        assert_int_equal(c.victim_fired, 0);
        assert_int_equal(c.zero_fired, 0);
        assert_int_equal(dcem_loop_next_timer(l), 200);
        assert_int_equal(dcem_loop_run_once(l, 0), 1);
        assert_int_equal(c.zero_fired, 1);
        assert_int_equal(fake_clock_run_until(&fc, l, 200 + 10 * DCEM_NS_PER_S), 1);
        assert_int_equal(c.later_fired, 1);
        assert_int_equal(c.later_at, 200 + 5 * DCEM_NS_PER_S);
        assert_int_equal(c.victim_fired, 0);
        dcem_loop_free(l);
}

/* A callback that re-adds itself at "now" forever must not hang one turn. */
static void forever_cb(dcem_loop *l, uint64_t id, void *ud)
{
        (void)id;
        (*(int *)ud)++;
        assert_int_equal(dcem_loop_add_timer(l, dcem_clock_mono(dcem_loop_clock(l)), forever_cb, ud, NULL), 0);
}

static void test_timer_readding_itself_is_bounded(void **state)
{
        fake_clock fc;
        dcem_loop *l = NULL;
        int n = 0;

        (void)state;
        fake_clock_init(&fc, 0, 0);
        assert_int_equal(dcem_loop_new(&fc.clock, &l), 0);
        assert_int_equal(dcem_loop_add_timer(l, 0, forever_cb, &n, NULL), 0);
        assert_int_equal(dcem_loop_run_once(l, 0), 1);
        assert_int_equal(dcem_loop_run_once(l, 0), 1);
        assert_int_equal(n, 2);
        dcem_loop_free(l); /* drops the pending timer */
}

/* ---- file descriptors ---- */

typedef struct fdrec {
        int calls;
        uint32_t events;
        int fd;
        int other;        /* fd to delete when called */
        int readd;        /* re-add `other` after deleting it */
        void *other_ud;
} fdrec;

static void fd_cb(dcem_loop *l, int fd, uint32_t events, void *ud)
{
        fdrec *r = ud;

        r->calls++;
        r->events = events;
        r->fd = fd;
        if (r->other >= 0) {
                assert_int_equal(dcem_loop_del_fd(l, r->other), 0);
                if (r->readd)
                        assert_int_equal(dcem_loop_add_fd(l, r->other, DCEM_EV_READ, fd_cb, r->other_ud), 0);
                r->other = -1;
        }
}

static void test_fd_readiness(void **state)
{
        dcem_loop *l = NULL;
        fdrec r = { .other = -1 };
        int sv[2];
        char c = 'x';

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        assert_int_equal(dcem_loop_add_fd(l, sv[0], DCEM_EV_READ, fd_cb, &r), 0);
        assert_int_equal(dcem_loop_add_fd(l, sv[0], DCEM_EV_READ, fd_cb, &r), -EEXIST);
        assert_int_equal(dcem_loop_add_fd(l, -1, DCEM_EV_READ, fd_cb, &r), -EBADF);
        assert_int_equal(dcem_loop_add_fd(l, sv[1], 0x80, fd_cb, &r), -EINVAL);
        assert_int_equal(dcem_loop_mod_fd(l, sv[1], DCEM_EV_READ), -ENOENT);
        assert_int_equal(dcem_loop_del_fd(l, sv[1]), -ENOENT);

        /* Nothing to read: a bounded wait returns with nothing run. */
        assert_int_equal(dcem_loop_run_once(l, 10 * DCEM_NS_PER_MS), 0);
        assert_int_equal(r.calls, 0);
        assert_int_equal(write(sv[1], &c, 1), 1);
        assert_int_equal(dcem_loop_run_once(l, DCEM_NS_PER_S), 1);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.fd, sv[0]);
        assert_int_equal(r.events, DCEM_EV_READ);
        assert_int_equal(read(sv[0], &c, 1), 1);
        assert_int_equal(dcem_loop_run_once(l, 0), 0);

        /* Writable. */
        assert_int_equal(dcem_loop_mod_fd(l, sv[0], DCEM_EV_WRITE), 0);
        assert_int_equal(dcem_loop_run_once(l, DCEM_NS_PER_S), 1);
        assert_int_equal(r.events, DCEM_EV_WRITE);
        /* Hang-up is reported as an error. */
        close(sv[1]);
        assert_int_equal(dcem_loop_mod_fd(l, sv[0], DCEM_EV_READ), 0);
        assert_int_equal(dcem_loop_run_once(l, DCEM_NS_PER_S), 1);
        assert_true(r.events & DCEM_EV_ERROR);
        assert_true(r.events & DCEM_EV_READ);
        assert_int_equal(dcem_loop_del_fd(l, sv[0]), 0);
        assert_int_equal(dcem_loop_run_once(l, 0), 0);
        assert_int_equal(r.calls, 3);
        close(sv[0]);
        dcem_loop_free(l);
}

static void test_fd_deleted_in_same_batch(void **state)
{
        dcem_loop *l = NULL;
        int a[2], b[2];
        fdrec ra = { .other = -1 }, rb = { .other = -1 };
        char c = 'x';

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        /* Each deletes the other: whichever runs first, the other's pending
         * event must be dropped. */
        ra.other = b[0];
        rb.other = a[0];
        assert_int_equal(dcem_loop_add_fd(l, a[0], DCEM_EV_READ, fd_cb, &ra), 0);
        assert_int_equal(dcem_loop_add_fd(l, b[0], DCEM_EV_READ, fd_cb, &rb), 0);
        assert_int_equal(write(a[1], &c, 1), 1);
        assert_int_equal(write(b[1], &c, 1), 1);
        /* Both readable before the wait, so both arrive in one epoll batch. */
        assert_int_equal(dcem_loop_run_once(l, DCEM_NS_PER_S), 1);
        assert_int_equal(ra.calls + rb.calls, 1);
        assert_int_equal(dcem_loop_run_once(l, 0), 1); /* the survivor is still readable */
        assert_int_equal(ra.calls + rb.calls, 2);
        assert_true(ra.calls == 2 || rb.calls == 2);

        /* Delete and re-add in the same batch: the stale event is dropped, the
         * new registration gets its own on the next turn. */
        fdrec *first = ra.calls == 2 ? &ra : &rb;
        int survivor = ra.calls == 2 ? a[0] : b[0];
        int gone = ra.calls == 2 ? b[0] : a[0];
        fdrec rc = { .other = -1 }, rd = { .other = -1 };

        assert_int_equal(dcem_loop_del_fd(l, survivor), 0);
        (void)first;
        rc.other = gone;
        rc.readd = 1;
        rc.other_ud = &rd;
        rd.other = survivor;
        rd.readd = 1;
        rd.other_ud = &rc;
        assert_int_equal(dcem_loop_add_fd(l, survivor, DCEM_EV_READ, fd_cb, &rc), 0);
        assert_int_equal(dcem_loop_add_fd(l, gone, DCEM_EV_READ, fd_cb, &rd), 0);
        assert_int_equal(dcem_loop_run_once(l, DCEM_NS_PER_S), 1);
        assert_int_equal(rc.calls + rd.calls, 1);
        rc.other = rd.other = -1;
        assert_int_equal(dcem_loop_run_once(l, 0), 2); /* both registrations fire now */
        dcem_loop_free(l);
        close(a[0]);
        close(a[1]);
        close(b[0]);
        close(b[1]);
}

static void test_fd_above_1024(void **state)
{
        struct rlimit rl;
        dcem_loop *l = NULL;
        fdrec r = { .other = -1 };
        int sv[2], hi;
        char c = 'y';

        (void)state;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_cur < 2100) {
                if (rl.rlim_max < 2100) {
                        skip();
                        return;
                }
                rl.rlim_cur = 2100;
                assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
        }
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        hi = fcntl(sv[0], F_DUPFD_CLOEXEC, 2000);
        assert_true(hi >= 2000);
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        assert_int_equal(dcem_loop_add_fd(l, hi, DCEM_EV_READ, fd_cb, &r), 0);
        assert_int_equal(write(sv[1], &c, 1), 1);
        assert_int_equal(dcem_loop_run_once(l, DCEM_NS_PER_S), 1);
        assert_int_equal(r.fd, hi);
        assert_int_equal(dcem_loop_del_fd(l, hi), 0);
        dcem_loop_free(l);
        close(hi);
        close(sv[0]);
        close(sv[1]);
}

/* ---- the real clock ---- */

typedef struct due {
        int64_t when;
        int64_t fired_at;
        int fired;
} due;

static void due_cb(dcem_loop *l, uint64_t id, void *ud)
{
        due *d = ud;

        (void)id;
        d->fired++;
        d->fired_at = dcem_clock_mono(dcem_loop_clock(l));
}

static void test_real_wait_never_early(void **state)
{
        static const int64_t delays[] = { 300000, 1000000, 1500001, 20 * DCEM_NS_PER_MS, 37 * DCEM_NS_PER_MS + 1 };
        dcem_loop *l = NULL;
        size_t i;

        (void)state;
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        for (i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
                due d = { 0 };

                d.when = dcem_clock_mono(&dcem_clock_system) + delays[i];
                assert_int_equal(dcem_loop_add_timer(l, d.when, due_cb, &d, NULL), 0);
                /* One unbounded turn: the wait (rounded up to ms) must cover the
                 * timer, so it fires in this very turn and not before its time. */
                assert_int_equal(dcem_loop_run_once(l, -1), 1);
                assert_int_equal(d.fired, 1);
                assert_true(d.fired_at >= d.when);
        }
        /* max_wait caps the wait when there is no earlier timer. */
        int64_t t0 = dcem_clock_mono(&dcem_clock_system);
        assert_int_equal(dcem_loop_run_once(l, 15 * DCEM_NS_PER_MS), 0);
        assert_true(dcem_clock_mono(&dcem_clock_system) - t0 >= 15 * DCEM_NS_PER_MS);
        dcem_loop_free(l);
}

static void on_alarm(int sig)
{
        (void)sig;
}

static void test_eintr(void **state)
{
        struct sigaction sa = { 0 }, old;
        struct itimerval it = { 0 };
        dcem_loop *l = NULL;
        due d = { 0 };
        int r;

        (void)state;
        sa.sa_handler = on_alarm; /* no SA_RESTART: epoll_wait gets EINTR */
        sigemptyset(&sa.sa_mask);
        assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        d.when = dcem_clock_mono(&dcem_clock_system) + 300 * DCEM_NS_PER_MS;
        assert_int_equal(dcem_loop_add_timer(l, d.when, due_cb, &d, NULL), 0);
        it.it_value.tv_usec = 20000;
        assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
        r = dcem_loop_run_once(l, -1);
        assert_int_equal(r, 0); /* interrupted: not an error, nothing due yet */
        assert_int_equal(d.fired, 0);
        assert_true(dcem_clock_mono(&dcem_clock_system) < d.when);
        while (!d.fired)
                assert_true(dcem_loop_run_once(l, -1) >= 0);
        assert_true(d.fired_at >= d.when);
        dcem_loop_free(l);
        assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
}

static void stop_cb(dcem_loop *l, uint64_t id, void *ud)
{
        (void)id;
        (*(int *)ud)++;
        dcem_loop_stop(l);
}

static void test_run_stop(void **state)
{
        dcem_loop *l = NULL;
        int n = 0;
        int64_t now = dcem_clock_mono(&dcem_clock_system);

        (void)state;
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        assert_int_equal(dcem_loop_add_timer(l, now + 5 * DCEM_NS_PER_MS, stop_cb, &n, NULL), 0);
        assert_int_equal(dcem_loop_add_timer(l, now + 2 * DCEM_NS_PER_S, stop_cb, &n, NULL), 0);
        assert_int_equal(dcem_loop_run(l), 0);
        assert_int_equal(n, 1);
        /* A stop before run makes it return at once. */
        dcem_loop_stop(l);
        assert_int_equal(dcem_loop_run(l), 0);
        assert_int_equal(n, 1);
        assert_ptr_equal(dcem_loop_clock(l), &dcem_clock_system);
        dcem_loop_free(l);
        dcem_loop_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_utc),
                cmocka_unit_test(test_format_utc_matches_gmtime),
                cmocka_unit_test(test_system_clock),
                cmocka_unit_test(test_timers_order_and_cancel),
                cmocka_unit_test(test_fake_clock_never_early),
                cmocka_unit_test(test_timers_from_callbacks),
                cmocka_unit_test(test_timer_readding_itself_is_bounded),
                cmocka_unit_test(test_fd_readiness),
                cmocka_unit_test(test_fd_deleted_in_same_batch),
                cmocka_unit_test(test_fd_above_1024),
                cmocka_unit_test(test_real_wait_never_early),
                cmocka_unit_test(test_eintr),
                cmocka_unit_test(test_run_stop),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
