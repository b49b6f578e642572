/* test_state.c - crash-safe persistence of the accounting state: a restart
 * bridges the downtime with counter readings (no interval lost, no kWh
 * counted twice), the certificate ledger survives, corrupt or mismatched
 * state is refused with a reason, and a process killed with SIGKILL while
 * saving leaves a loadable file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "dcem/accounting.h"
#include "dcem/state.h"

#define NS INT64_C(1000000000)
#define T0 (INT64_C(1767225600) * NS) /* 2026-01-01T00:00:00Z */

typedef struct rec {
        uint64_t seq[4096];
        dcem_acct_sums s[4096];
        size_t n;
        int ev[_DCEM_EV_MAX];
} rec;

static void on_interval(void *ud, const dcem_acct_interval *iv) {
        rec *r = ud;
        assert_true(r->n < 4096);
        r->seq[r->n] = iv->seq;
        r->s[r->n] = iv->sums;
        r->n++;
}

static void on_event(void *ud, const dcem_acct_event *ev) {
        ((rec *)ud)->ev[ev->kind]++;
}

static char dir[256];
static dcem_acct_conf conf;
static dcem_acct_cert_conf certs[1] = { { .serial_first = (char *)"GEC100", .serial_last = (char *)"GEC199",
                                          .vintage = (char *)"2025-12", .kwh_each = 1000 } };

static int setup(void **st) {
        (void)st;
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/dcem-state-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(dir));
        dcem_acct_conf_defaults(&conf);
        conf.record_interval_ns = 60 * NS;
        conf.close_delay_ns = 10 * NS;
        conf.certificates = (dcem_list){ certs, 1 };
        return 0;
}

static int teardown(void **st) {
        (void)st;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, DCEM_STATE_FILE);
        unlink(p);
        snprintf(p, sizeof(p), "%s/%s.tmp", dir, DCEM_STATE_FILE);
        unlink(p);
        rmdir(dir);
        return 0;
}

static dcem_acct *mk(rec *r) {
        dcem_acct_hooks h = { .interval = on_interval, .event = on_event, .ud = r };
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&conf, &h, &a), 0);
        dcem_acct_device g = { .name = "grid", .role = DCEM_ROLE_GRID_IMPORT, .poll_interval_ns = 10 * NS,
                               .rated_kw = 500 };
        dcem_acct_device i = { .name = "pdu", .role = DCEM_ROLE_IT, .pue_category = 2, .poll_interval_ns = 10 * NS,
                               .rated_kw = 300, .counter_bits = 32, .counter_scale_kwh = 0.01 };
        assert_int_equal(dcem_acct_add_device(a, &g), 0);
        assert_int_equal(dcem_acct_add_device(a, &i), 0);
        return a;
}

/* Counters of a site drawing 144 kW (grid) and 96 kW (IT): kWh at time t. */
static double grid_at(int64_t t) { return 5000 + 144.0 * (double)(t - T0) / (3600.0 * NS); }
static double pdu_at(int64_t t) { return 800 + 96.0 * (double)(t - T0) / (3600.0 * NS); }

static void run(dcem_acct *a, int64_t from, int64_t to) {
        for (int64_t t = from; t < to; t += 10 * NS) {
                assert_int_equal(dcem_acct_feed(a, "grid", "energy_kwh", grid_at(t), "kWh", t, DCEM_Q_GOOD), 0);
                assert_int_equal(dcem_acct_feed(a, "pdu", "energy_kwh", pdu_at(t), "kWh", t, DCEM_Q_GOOD), 0);
                assert_int_equal(dcem_acct_advance(a, t), 0);
        }
}

/* Run 5 minutes, save, crash, restart 15 minutes later: the downtime
 * intervals are closed with the bridged energy (completeness 0), sequence
 * numbers continue, and the total equals the counter difference exactly. */
static void test_restart_bridges_gap(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r);
        run(a, T0, T0 + 305 * NS);
        char err[256] = "";
        assert_int_equal(dcem_state_save(dir, a, T0 + 305 * NS, err, sizeof(err)), 0);
        size_t before = r->n;
        assert_int_equal(before, 5);
        /* readings after the save are lost with the crash: the counter bridges them */
        run(a, T0 + 310 * NS, T0 + 400 * NS);
        dcem_acct_free(a);
        r->n = before; /* what was published before the crash is what was saved */

        a = mk(r);
        dcem_state_info info;
        int64_t restart = T0 + 20 * 60 * NS;
        assert_int_equal(dcem_state_load(dir, a, restart, &info, err, sizeof(err)), 0);
        assert_int_equal(info.devices_restored, 2);
        assert_int_equal(info.devices_dropped, 0);
        assert_int_equal(info.next_seq, 5);
        assert_int_equal(info.saved_ns, T0 + 305 * NS);
        /* before the first readings the downtime intervals wait (close delay after restart) */
        assert_int_equal(dcem_acct_advance(a, restart), 0);
        assert_int_equal(r->n, before);
        run(a, restart + 5 * NS, T0 + 30 * 60 * NS + 10 * NS); /* readings at :05, :15, ... */
        assert_int_equal(r->ev[DCEM_EV_RESUMED], 2);
        assert_int_equal(r->ev[DCEM_EV_LATE], 0);
        assert_int_equal(r->n, 30);
        double g = 0, it = 0;
        for (size_t i = 0; i < r->n; i++) {
                assert_int_equal(r->seq[i], i); /* contiguous, none twice */
                assert_int_equal(r->s[i].start_ns, T0 + (int64_t)i * 60 * NS);
                g += r->s[i].kwh[DCEM_ACC_GRID_IMPORT];
                it += r->s[i].kwh[DCEM_ACC_IT2];
                /* constant power: every interval, bridged or not, gets 144/60 kWh */
                if (fabs(r->s[i].kwh[DCEM_ACC_GRID_IMPORT] - 2.4) > 1e-6)
                        fail_msg("interval %zu: %.9f kWh", i, r->s[i].kwh[DCEM_ACC_GRID_IMPORT]);
        }
        /* the last counted reading was at 30 min, the first at 0: 144 kW x 0.5 h */
        assert_true(fabs(g - (grid_at(T0 + 1800 * NS) - grid_at(T0))) < 1e-6);
        assert_true(fabs(it - (pdu_at(T0 + 1800 * NS) - pdu_at(T0))) < 1e-6);
        /* downtime intervals (6..19 fully) have no readings: completeness 0 */
        for (size_t i = 6; i < 20; i++)
                assert_true(dcem_acct_sums_completeness(&r->s[i]) == 0);
        assert_true(dcem_acct_sums_completeness(&r->s[2]) == 1);
        /* the hour roll-up has all 30 intervals and counts the gap */
        dcem_acct_sums h;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_HOUR, restart, &h), 0);
        assert_int_equal(h.n_intervals, 30);
        assert_true(fabs(h.kwh[DCEM_ACC_GRID_IMPORT] - 72) < 1e-6);
        dcem_acct_free(a);
        free(r);
}

/* A second save/load cycle reproduces the same windows and figures. */
static void test_roundtrip_identical(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r);
        run(a, T0, T0 + 185 * NS);
        char err[256];
        assert_int_equal(dcem_state_save(dir, a, T0 + 185 * NS, err, sizeof(err)), 0);
        dcem_acct *b = mk(r);
        assert_int_equal(dcem_state_load(dir, b, T0 + 185 * NS, NULL, err, sizeof(err)), 0);
        dcem_acct_sums x, y;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_HOUR, T0, &x), 0);
        assert_int_equal(dcem_acct_window(b, DCEM_WIN_HOUR, T0, &y), 0);
        assert_memory_equal(&x, &y, sizeof(x)); /* doubles survive exactly (17 digits) */
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_INTERVAL, T0, &x), 0);
        assert_int_equal(dcem_acct_window(b, DCEM_WIN_INTERVAL, T0, &y), 0);
        assert_memory_equal(&x, &y, sizeof(x));
        /* both continue identically */
        size_t n0 = r->n;
        run(a, T0 + 190 * NS, T0 + 250 * NS);
        double ga = r->s[r->n - 1].kwh[DCEM_ACC_GRID_IMPORT];
        size_t na = r->n - n0;
        r->n = n0;
        run(b, T0 + 190 * NS, T0 + 250 * NS);
        assert_int_equal(r->n - n0, na);
        assert_true(r->s[r->n - 1].kwh[DCEM_ACC_GRID_IMPORT] == ga);
        dcem_acct_free(a);
        dcem_acct_free(b);
        free(r);
}

static void write_file(const char *name, const char *txt, size_t n) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(txt, 1, n, f), n);
        fclose(f);
}

static char *read_state(size_t *len) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, DCEM_STATE_FILE);
        FILE *f = fopen(p, "r");
        assert_non_null(f);
        static char buf[1 << 20];
        *len = fread(buf, 1, sizeof(buf) - 1, f);
        buf[*len] = 0;
        fclose(f);
        char *c = malloc(*len + 1);
        memcpy(c, buf, *len + 1);
        return c;
}

static void expect_refused(const char *txt, size_t n, int want, const char *why) {
        write_file(DCEM_STATE_FILE, txt, n);
        rec r0 = { 0 };
        rec *r = &r0;
        dcem_acct *a = mk(r);
        char err[512] = "";
        dcem_state_info info = { .saved_ns = 42 };
        int got = dcem_state_load(dir, a, T0, &info, err, sizeof(err));
        if (got != want || !strstr(err, why))
                fail_msg("load: %d (want %d), \"%s\" (want \"%s\")", got, want, err, why);
        assert_int_equal(info.saved_ns, 42); /* untouched */
        /* the engine is untouched: it starts afresh if the caller decides so */
        assert_int_equal(dcem_acct_feed(a, "grid", "energy_kwh", 1, "kWh", T0, DCEM_Q_GOOD), 0);
        dcem_acct_free(a);
}

static void test_corrupt_refused(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        char err[256] = "";
        dcem_acct *a = mk(r);
        assert_int_equal(dcem_state_load(dir, a, T0, NULL, err, sizeof(err)), -ENOENT);
        assert_non_null(strstr(err, "no accounting state"));
        run(a, T0, T0 + 125 * NS);
        assert_int_equal(dcem_state_save(dir, a, T0 + 125 * NS, err, sizeof(err)), 0);
        size_t n;
        char *good = read_state(&n);
        /* truncated (a torn write without the rename protocol) */
        expect_refused(good, n / 2, -EBADMSG, "corrupt accounting state");
        /* one digit changed: parses, checksum refuses */
        char *bad = strdup(good);
        char *p = strstr(bad, "\"first_ns\": ");
        assert_non_null(p);
        p += strlen("\"first_ns\": ");
        *p = *p == '1' ? '2' : '1';
        expect_refused(bad, n, -EBADMSG, "checksum mismatch");
        free(bad);
        /* another version */
        bad = strdup(good);
        char vkey[32];
        snprintf(vkey, sizeof vkey, "\"version\": %d", DCEM_STATE_VERSION);
        p = strstr(bad, vkey);
        assert_non_null(p);
        p[strlen("\"version\": ")] = '9';
        expect_refused(bad, n, -EBADMSG, "unsupported state version");
        free(bad);
        expect_refused("{}", 2, -EBADMSG, "not a dcem accounting state");
        expect_refused("", 0, -EBADMSG, "corrupt");
        /* a different record interval: refused, not reinterpreted */
        write_file(DCEM_STATE_FILE, good, n);
        dcem_acct_conf c2 = conf;
        c2.record_interval_ns = 30 * NS;
        dcem_acct *b = NULL;
        assert_int_equal(dcem_acct_new(&c2, NULL, &b), 0);
        assert_int_equal(dcem_state_load(dir, b, T0, NULL, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "record interval"));
        dcem_acct_free(b);
        /* an engine that already started cannot load */
        assert_int_equal(dcem_state_load(dir, a, T0, NULL, err, sizeof(err)), -EBUSY);
        /* a failed save says why and leaves the old file */
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/no-such-dir", dir);
        assert_int_equal(dcem_state_save(missing, a, T0, err, sizeof(err)), -ENOENT);
        assert_non_null(strstr(err, "no-such-dir"));
        /* a leftover temp file from a crash is ignored; the good state loads */
        write_file(DCEM_STATE_FILE ".tmp", good, n / 3);
        b = mk(r);
        assert_int_equal(dcem_state_load(dir, b, T0 + 125 * NS, NULL, err, sizeof(err)), 0);
        dcem_acct_free(b);
        free(good);
        dcem_acct_free(a);
        free(r);
}

/* A device removed from the configuration: its baseline is dropped and
 * counted in the info, a new one starts without a baseline. */
static void test_device_changes(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r);
        run(a, T0, T0 + 65 * NS);
        char err[256];
        assert_int_equal(dcem_state_save(dir, a, T0 + 65 * NS, err, sizeof(err)), 0);
        dcem_acct_free(a);
        dcem_acct_hooks h = { .interval = on_interval, .ud = r };
        assert_int_equal(dcem_acct_new(&conf, &h, &a), 0);
        dcem_acct_device g = { .name = "grid", .role = DCEM_ROLE_GRID_IMPORT, .poll_interval_ns = 10 * NS };
        dcem_acct_device c = { .name = "crac", .role = DCEM_ROLE_COOLING, .poll_interval_ns = 10 * NS };
        assert_int_equal(dcem_acct_add_device(a, &g), 0);
        assert_int_equal(dcem_acct_add_device(a, &c), 0);
        dcem_state_info info;
        assert_int_equal(dcem_state_load(dir, a, T0 + 70 * NS, &info, err, sizeof(err)), 0);
        assert_int_equal(info.devices_restored, 1);
        assert_int_equal(info.devices_dropped, 1);
        assert_int_equal(info.devices_new, 1);
        dcem_acct_free(a);
        free(r);
}

/* Certificates applied at a month close survive a restart: a re-run of the
 * month close after loading never applies them again. */
static void test_ledger_persists(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct_conf c = conf;
        c.record_interval_ns = 3600 * NS;
        c.close_delay_ns = 0;
        dcem_acct_conf saved = conf;
        conf = c;
        dcem_acct *a = mk(r);
        int64_t dec = dcem_month_start_ns(2025 * 12 + 11), jan = dcem_month_start_ns(2026 * 12);
        for (int64_t t = dec; t <= jan; t += 3600 * NS) {
                double h = (double)(t - dec) / (3600.0 * NS);
                assert_int_equal(dcem_acct_feed(a, "grid", "energy_kwh", 100 * h, "kWh", t, DCEM_Q_GOOD), 0);
                assert_int_equal(dcem_acct_advance(a, t), 0);
        }
        dcem_acct_sums m;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_MONTH, dec, &m), 0);
        assert_true(fabs(m.kwh[DCEM_ACC_GRID_IMPORT] - 74400) < 1e-6);
        assert_true(m.cert_kwh == 74000); /* 74 whole certificates of the 100 */
        char err[256];
        assert_int_equal(dcem_state_save(dir, a, jan, err, sizeof(err)), 0);
        dcem_acct *b = mk(r);
        dcem_state_info info;
        assert_int_equal(dcem_state_load(dir, b, jan, &info, err, sizeof(err)), 0);
        assert_int_equal(info.certificates, 1);
        dcem_acct_sums m2;
        assert_int_equal(dcem_acct_window(b, DCEM_WIN_MONTH, dec, &m2), 0);
        assert_true(m2.cert_kwh == 74000);
        dcem_acct_sums y;
        assert_int_equal(dcem_acct_window(b, DCEM_WIN_ROLLING12, jan + NS, &y), 0);
        assert_true(y.cert_kwh == 74000);
        dcem_acct_free(a);
        dcem_acct_free(b);
        conf = saved;
        free(r);
}

/* kill -9 between (and during) writes: a child saves a growing state in a
 * loop and is killed at a random moment; the file left behind always loads
 * and is one of the states written (its seq is one the child reached). */
static void test_sigkill_while_saving(void **st) {
        (void)st;
        srand(12345);
        for (int round = 0; round < 12; round++) {
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        rec *r = calloc(1, sizeof(*r));
                        dcem_acct *a = mk(r);
                        char err[256];
                        for (int64_t t = T0;; t += 10 * NS) {
                                if (t > T0 + 6 * 86400 * NS)
                                        t = T0; /* never reached in practice */
                                dcem_acct_feed(a, "grid", "energy_kwh", grid_at(t), "kWh", t, DCEM_Q_GOOD);
                                dcem_acct_feed(a, "pdu", "energy_kwh", pdu_at(t), "kWh", t, DCEM_Q_GOOD);
                                dcem_acct_advance(a, t);
                                if (dcem_state_save(dir, a, t, err, sizeof(err)) < 0)
                                        _exit(3);
                        }
                }
                struct timespec ts = { 0, (long)(20 + rand() % 80) * 1000000L };
                nanosleep(&ts, NULL);
                kill(pid, SIGKILL);
                int status;
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                rec *r = calloc(1, sizeof(*r));
                dcem_acct *a = mk(r);
                char err[256] = "";
                dcem_state_info info;
                int got = dcem_state_load(dir, a, T0, &info, err, sizeof(err));
                if (got != 0)
                        fail_msg("round %d: load after SIGKILL: %d %s", round, got, err);
                assert_true(info.saved_ns >= T0);
                /* every device reads at each 10 s, so an interval closes at the reading
                 * on its end: the seq saved is the number of whole minutes by then */
                assert_int_equal(info.next_seq, (uint64_t)((info.saved_ns - T0) / (60 * NS)));
                dcem_acct_free(a);
                free(r);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_restart_bridges_gap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_roundtrip_identical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_device_changes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ledger_persists, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sigkill_while_saving, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
