/* test_compute_remote.c - compute counters of other agents' hosts
 * (agent/compute_remote.c) and their aggregation by the engine
 * (agent/accounting.c, compute sources):
 *   - a device message as a host agent publishes it parses into site,
 *     device, slot stamp, seq and points; broken messages are refused with a
 *     reason; RFC 3339 stamps with and without fractions;
 *   - declared hosts are checked (SITE/DEVICE, no wildcard, no duplicate);
 *     the topic pre-filter; per host a message is new only when its stamp is
 *     newer than the last accepted: a QoS 1 redelivery is a duplicate, an
 *     older one out of order, a seeded stamp (a restored state) old;
 *   - the engine sums two hosts' cpu_core_seconds into one functional unit,
 *     per interval exactly (hand-computed), with per-host completeness: a
 *     host going silent makes the interval's compute completeness drop (never
 *     a silently smaller denominator) and the SCI figure per core-hour carries
 *     it; a host's counter reset counts nothing; a delta spanning a boundary
 *     is split in proportion to time. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "compute_remote.h"
#include "dcem/accounting.h"
#include "dcem/clock.h"

#define NS DCEM_NS_PER_S
#define T0 (INT64_C(1795420800) * NS) /* 2026-11-23T08:00:00Z, on every grid */

static const char *msg_a =
        "{\"schema\":1,\"site\":\"rack1\",\"device\":\"host-a\",\"ts\":\"2026-11-23T08:00:10.000Z\",\"seq\":42,"
        "\"points\":{\"cpu_core_seconds\":{\"v\":123456.78,\"u\":\"s\",\"q\":\"good\"},"
        "\"cpu_cores\":{\"v\":8,\"u\":\"\",\"q\":\"good\"},"
        "\"gpu_busy_seconds\":{\"v\":10.5,\"u\":\"s\",\"q\":\"estimated\"},"
        "\"temp_c\":{\"v\":null,\"u\":\"degC\",\"q\":\"error\"}}}";

static const dcem_remote_point *pt(const dcem_remote_msg *m, const char *name) {
        for (size_t i = 0; i < m->npoints; i++)
                if (!strcmp(m->points[i].name, name))
                        return &m->points[i];
        return NULL;
}

static void test_parse(void **st) {
        (void)st;
        dcem_remote_msg m;
        char err[160];
        assert_int_equal(dcem_remote_parse(msg_a, strlen(msg_a), &m, err, sizeof err), 0);
        assert_string_equal(m.site, "rack1");
        assert_string_equal(m.device, "host-a");
        assert_true(m.ts_ns == T0 + 10 * NS);
        assert_int_equal(m.seq, 42);
        assert_int_equal(m.npoints, 4);
        assert_true(fabs(pt(&m, "cpu_core_seconds")->value - 123456.78) < 1e-9);
        assert_string_equal(pt(&m, "cpu_core_seconds")->unit, "s");
        assert_int_equal(pt(&m, "gpu_busy_seconds")->quality, DCEM_Q_ESTIMATED);
        assert_true(isnan(pt(&m, "temp_c")->value));
        assert_int_equal(pt(&m, "temp_c")->quality, DCEM_Q_ERROR);

        static const char *bad[] = {
                "not json",
                "[1,2]",
                "{\"device\":\"h\",\"ts\":\"2026-11-23T08:00:10.000Z\",\"seq\":1,\"points\":{}}",
                "{\"site\":\"s\",\"ts\":\"2026-11-23T08:00:10.000Z\",\"seq\":1,\"points\":{}}",
                "{\"site\":\"s\",\"device\":\"h\",\"ts\":\"yesterday\",\"seq\":1,\"points\":{}}",
                "{\"site\":\"s\",\"device\":\"h\",\"ts\":\"2026-11-23T08:00:10.000Z\",\"seq\":-1,\"points\":{}}",
                "{\"site\":\"s\",\"device\":\"h\",\"ts\":\"2026-11-23T08:00:10.000Z\",\"seq\":1,\"points\":[]}",
                "{\"site\":\"\",\"device\":\"h\",\"ts\":\"2026-11-23T08:00:10.000Z\",\"seq\":1,\"points\":{}}",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                err[0] = 0;
                assert_int_equal(dcem_remote_parse(bad[i], strlen(bad[i]), &m, err, sizeof err), -EINVAL);
                assert_true(err[0] != 0);
        }
        /* a point that is not {"v","q"} is dropped and counted, the rest kept */
        const char *odd = "{\"site\":\"s\",\"device\":\"h\",\"ts\":\"2026-11-23T08:00:10Z\",\"seq\":7,"
                          "\"points\":{\"a\":5,\"b\":{\"v\":\"x\",\"q\":\"good\"},\"c\":{\"v\":1,\"q\":\"weird\"},"
                          "\"d\":{\"v\":2,\"q\":\"good\"}}}";
        assert_int_equal(dcem_remote_parse(odd, strlen(odd), &m, err, sizeof err), 0);
        assert_int_equal(m.npoints, 1);
        assert_int_equal(m.points_dropped, 3);
        assert_string_equal(m.points[0].name, "d");
        assert_string_equal(m.points[0].unit, "");
}

static void test_parse_utc(void **st) {
        (void)st;
        int64_t t;
        assert_int_equal(dcem_remote_parse_utc("2026-11-23T08:00:00Z", &t), 0);
        assert_true(t == T0);
        assert_int_equal(dcem_remote_parse_utc("2026-11-23T08:00:00.5Z", &t), 0);
        assert_true(t == T0 + NS / 2);
        assert_int_equal(dcem_remote_parse_utc("2026-11-23T08:00:01.000000001Z", &t), 0);
        assert_true(t == T0 + NS + 1);
        assert_int_equal(dcem_remote_parse_utc("1970-01-01T00:00:00.000Z", &t), 0);
        assert_true(t == 0);
        static const char *bad[] = { "2026-11-23 08:00:00Z", "2026-11-23T08:00:00", "2026-13-23T08:00:00Z",
                                     "2026-11-23T08:00:00.Z", "2026-11-23T08:00:00.0000000001Z",
                                     "2026-11-23T08:00:00Zx", "", "2026-11-23T8:00:00Z" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(dcem_remote_parse_utc(bad[i], &t), -EINVAL);
}

static void test_tracker(void **st) {
        (void)st;
        char *good[] = { (char *)"rack1/host-a", (char *)"rack2/host-b" };
        dcem_strlist hosts = { good, 2 };
        dcem_remote *r = NULL;
        size_t bad = 99;
        char *b1[] = { (char *)"rack1/host-a", (char *)"nohost" };
        char *b2[] = { (char *)"rack1/host-a", (char *)"rack1/host-a" };
        char *b3[] = { (char *)"rack1/+" };
        char *b4[] = { (char *)"a/b/c" };
        dcem_strlist l1 = { b1, 2 }, l2 = { b2, 2 }, l3 = { b3, 1 }, l4 = { b4, 1 };
        assert_int_equal(dcem_remote_new(&l1, &r, &bad), -EINVAL);
        assert_int_equal(bad, 1);
        assert_int_equal(dcem_remote_new(&l2, &r, &bad), -EINVAL);
        assert_int_equal(bad, 1);
        assert_int_equal(dcem_remote_new(&l3, &r, &bad), -EINVAL);
        assert_int_equal(dcem_remote_new(&l4, &r, &bad), -EINVAL);
        assert_null(r);
        assert_int_equal(dcem_remote_new(&hosts, &r, &bad), 0);
        assert_true(dcem_remote_topic_wanted(r, "dcem/rack1/devices/host-a"));
        assert_true(dcem_remote_topic_wanted(r, "dcem/elsewhere/devices/host-b"));
        assert_false(dcem_remote_topic_wanted(r, "dcem/rack1/devices/pdu-1"));
        assert_false(dcem_remote_topic_wanted(r, "dcem/rack1/devices/host-a/status"));

        dcem_remote_msg m;
        char err[160];
        size_t h = 99;
        assert_int_equal(dcem_remote_parse(msg_a, strlen(msg_a), &m, err, sizeof err), 0);
        assert_int_equal(dcem_remote_accept(r, &m, &h), 0);
        assert_int_equal(h, 0);
        assert_int_equal(dcem_remote_accept(r, &m, &h), -EALREADY); /* QoS 1 redelivery */
        dcem_remote_msg older = m;
        older.ts_ns -= NS;
        older.seq--;
        assert_int_equal(dcem_remote_accept(r, &older, &h), -ESTALE); /* backlog behind live */
        dcem_remote_msg newer = m;
        newer.ts_ns += NS;
        newer.seq++;
        assert_int_equal(dcem_remote_accept(r, &newer, &h), 0);
        dcem_remote_msg other = m;
        snprintf(other.site, sizeof other.site, "rack2"); /* host-a of another site: not declared */
        assert_int_equal(dcem_remote_accept(r, &other, &h), -ENOENT);
        snprintf(other.device, sizeof other.device, "host-b");
        dcem_remote_seed(r, 1, m.ts_ns); /* the state already counted host-b up to m.ts */
        assert_int_equal(dcem_remote_accept(r, &other, &h), -EALREADY);
        other.ts_ns += 2 * NS;
        assert_int_equal(dcem_remote_accept(r, &other, &h), 0);
        assert_int_equal(h, 1);
        dcem_remote_count_invalid(r);
        dcem_remote_stats s;
        dcem_remote_get_stats(r, &s);
        assert_int_equal(s.received, 8);
        assert_int_equal(s.accepted, 3);
        assert_int_equal(s.duplicates, 2);
        assert_int_equal(s.out_of_order, 1);
        assert_int_equal(s.unknown, 1);
        assert_int_equal(s.invalid, 1);
        assert_int_equal(dcem_remote_host_at(r, 0)->accepted, 2);
        assert_int_equal(dcem_remote_host_at(r, 0)->last_seq, 43);
        assert_string_equal(dcem_remote_host_at(r, 1)->key, "rack2/host-b");
        assert_null(dcem_remote_host_at(r, 2));
        dcem_remote_free(r);
        dcem_remote_free(NULL);
}

/* Many hosts, and one device name on several sites: each found by its own
 * site; the 1,025th host is refused. */
static void test_tracker_many(void **st) {
        (void)st;
        static char names[1025][32];
        static char *items[1025];
        for (int i = 0; i < 1025; i++) {
                snprintf(names[i], sizeof names[i], "site%d/%s", i % 100, i % 100 == i ? "node" : "n");
                if (i >= 100)
                        snprintf(names[i], sizeof names[i], "site%d/node-%d", i % 7, i);
                items[i] = names[i];
        }
        dcem_strlist l = { items, 1024 };
        dcem_remote *r = NULL;
        assert_int_equal(dcem_remote_new(&l, &r, NULL), 0);
        for (int i = 0; i < 1024; i++) {
                char site[32];
                const char *slash = strchr(names[i], '/');
                snprintf(site, sizeof site, "%.*s", (int)(slash - names[i]), names[i]);
                assert_int_equal(dcem_remote_find(r, site, slash + 1), i);
        }
        assert_int_equal(dcem_remote_find(r, "site100", "node"), -ENOENT);
        assert_int_equal(dcem_remote_find(r, "site3", "node-4"), -ENOENT);
        assert_true(dcem_remote_topic_wanted(r, "dcem/x/devices/node"));
        assert_true(dcem_remote_topic_wanted(r, "dcem/x/devices/node-1023"));
        assert_false(dcem_remote_topic_wanted(r, "dcem/x/devices/node-1024"));
        dcem_remote_free(r);
        l.n = 1025;
        size_t bad = 0;
        assert_int_equal(dcem_remote_new(&l, &r, &bad), -EINVAL);
        assert_int_equal(bad, 1024);
}

/* ---- the engine aggregating remote hosts ---- */

typedef struct capture {
        int n;
        dcem_acct_sums sums[8];
        double src_taken[8][4];
        double src_compl[8][4];
        size_t nsrc[8];
} capture;

static void on_iv(void *ud, const dcem_acct_interval *iv) {
        capture *c = ud;
        if (c->n >= 8)
                return;
        c->sums[c->n] = iv->sums;
        c->nsrc[c->n] = iv->nsrc;
        for (size_t i = 0; i < iv->nsrc && i < 4; i++) {
                c->src_taken[c->n][i] = iv->src[i].taken;
                c->src_compl[c->n][i] = iv->src[i].completeness;
        }
        c->n++;
}

static double host_a(double t) { return 1000 + 2.0 * t; }  /* 2 busy cores */
static double host_b(double t) { return 500 + 0.5 * t; }   /* half a core */

static void feed_all(dcem_acct *a, int from, int to, int b_until, double b_offset) {
        for (int k = from; k <= to; k++) {
                int64_t t = T0 + k * NS;
                assert_int_equal(dcem_acct_feed(a, "pdu-1", "energy_kwh", 100 + 36.0 * k / 3600, "kWh", t, DCEM_Q_GOOD),
                                 0);
                assert_int_equal(dcem_acct_feed(a, "rack1/host-a", "cpu_core_seconds", host_a(k), "s", t, DCEM_Q_GOOD),
                                 0);
                if (k <= b_until)
                        assert_int_equal(dcem_acct_feed(a, "rack2/host-b", "cpu_core_seconds", host_b(k) - b_offset,
                                                        "s", t, DCEM_Q_GOOD),
                                         0);
        }
}

static void test_engine_aggregates_hosts(void **st) {
        (void)st;
        dcem_acct_conf conf;
        dcem_acct_conf_defaults(&conf);
        conf.record_interval_ns = 10 * NS;
        conf.close_delay_ns = 5 * NS;
        capture cap = { 0 };
        dcem_acct_hooks hooks = { .interval = on_iv, .ud = &cap };
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&conf, &hooks, &a), 0);
        dcem_acct_device it = { .name = "pdu-1", .role = DCEM_ROLE_IT, .pue_category = 2, .poll_interval_ns = NS };
        assert_int_equal(dcem_acct_add_device(a, &it), 0);
        assert_int_equal(dcem_acct_add_unit(a, 0, "rack1/host-a", "cpu_core_seconds", 1.0 / 3600, NS), 0);
        assert_int_equal(dcem_acct_add_unit(a, 0, "rack2/host-b", "cpu_core_seconds", 1.0 / 3600, NS), 0);
        /* a GPU counter host-a never publishes (no NVML): its cpu readings count for it */
        assert_int_equal(dcem_acct_add_unit(a, 1, "rack1/host-a", "gpu_busy_seconds", 1.0 / 3600, NS), 0);
        assert_int_equal(dcem_acct_add_unit(a, 0, "rack1/host-a", "cpu_core_seconds", 1.0, NS), -EEXIST);
        int64_t ts;
        assert_int_equal(dcem_acct_source_last_ts(a, "rack1/host-a", &ts), -ENOENT);

        /* both hosts until 12 s, then host-b is silent; host-a and the PDU to 26 s */
        feed_all(a, 0, 10, 12, 0);
        assert_int_equal(dcem_acct_advance(a, T0 + 10 * NS + NS / 2), 0);
        assert_int_equal(cap.n, 1);
        feed_all(a, 11, 12, 12, 0);
        feed_all(a, 13, 20, -1, 0);
        /* [10, 20) waits for host-b (no reading past 20) until the close delay */
        assert_int_equal(dcem_acct_advance(a, T0 + 20 * NS + NS / 2), 0);
        assert_int_equal(cap.n, 1);
        feed_all(a, 21, 26, -1, 0);
        assert_int_equal(dcem_acct_advance(a, T0 + 25 * NS), 0);
        assert_int_equal(cap.n, 2);
        assert_int_equal(dcem_acct_source_last_ts(a, "rack2/host-b", &ts), 0);
        assert_true(ts == T0 + 12 * NS);

        /* interval 0: both hosts whole: (2 + 0.5) core-s/s x 10 s */
        dcem_acct_sums *s0 = &cap.sums[0];
        assert_true(fabs(s0->kwh[DCEM_ACC_UNIT0] - 25.0 / 3600) < 1e-12);
        assert_true(fabs(s0->kwh[DCEM_ACC_UNIT0 + 1]) < 1e-15);
        assert_int_equal(cap.nsrc[0], 2);
        assert_true(fabs(s0->compute_taken - 20) < 1e-12);
        assert_true(fabs(s0->compute_expected - 20) < 1e-12);
        assert_true(fabs(dcem_acct_sums_compute_completeness(s0) - 1) < 1e-12);
        /* interval 1: host-a 10 s of 2, host-b 10 -> 12 s of 0.5; host-b took 11, 12 (10 is interval 1's
           start: its delta 9 -> 10 belongs to interval 0, the reading at 10 is taken in interval 1) */
        dcem_acct_sums *s1 = &cap.sums[1];
        assert_true(fabs(s1->kwh[DCEM_ACC_UNIT0] - (20.0 + 1.0) / 3600) < 1e-12);
        assert_true(fabs(cap.src_taken[1][0] - 10) < 1e-12);
        assert_true(fabs(cap.src_taken[1][1] - 3) < 1e-12);
        assert_true(fabs(cap.src_compl[1][1] - 0.3) < 1e-12);
        assert_true(fabs(dcem_acct_sums_compute_completeness(s1) - 13.0 / 20) < 1e-12);
        assert_true(fabs(dcem_acct_sums_completeness(s1) - 1) < 1e-12); /* the energy side is complete */

        /* SCI per core-hour carries the compute completeness; per kWh_it does not */
        dcem_fig_params p = { .completeness_threshold = 0.95, .carbon = &conf.carbon };
        dcem_figure f;
        dcem_fig_sci(s1, DCEM_WIN_INTERVAL, 2, false, "cpu_core_hour", s1->kwh[DCEM_ACC_UNIT0], &p, &f);
        assert_int_equal(f.status, DCEM_FIG_OK);
        assert_true(fabs(f.completeness - 0.65) < 1e-12);
        assert_int_equal(f.label, DCEM_LABEL_INTERIM);
        dcem_fig_sci(s1, DCEM_WIN_INTERVAL, 2, false, NULL, 0, &p, &f);
        assert_true(fabs(f.completeness - 1) < 1e-12);

        /* roll-up sums add the compute readings */
        dcem_acct_sums hsum = *s0;
        dcem_acct_sums_add(&hsum, s1);
        hsum.end_ns = s1->end_ns;
        assert_true(fabs(dcem_acct_sums_compute_completeness(&hsum) - 33.0 / 40) < 1e-12);
        dcem_acct_free(a);
}

/* A host's counter going down (reboot) counts nothing; a delta across a
 * boundary is split in proportion to time. */
static void test_engine_reset_and_split(void **st) {
        (void)st;
        dcem_acct_conf conf;
        dcem_acct_conf_defaults(&conf);
        conf.record_interval_ns = 10 * NS;
        conf.close_delay_ns = 2 * NS;
        capture cap = { 0 };
        dcem_acct_hooks hooks = { .interval = on_iv, .ud = &cap };
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&conf, &hooks, &a), 0);
        assert_int_equal(dcem_acct_add_unit(a, 0, "s/h", "cpu_core_seconds", 1.0 / 3600, 4 * NS), 0);
        /* readings at 0, 4, 8, 12 (value +4 per 4 s), reset at 16 (value 1), 20 (value 5) */
        double v[] = { 100, 104, 108, 112, 1, 5 };
        for (int i = 0; i < 6; i++)
                assert_int_equal(dcem_acct_feed(a, "s/h", "cpu_core_seconds", v[i], "s", T0 + 4 * i * NS, DCEM_Q_GOOD),
                                 0);
        assert_int_equal(dcem_acct_advance(a, T0 + 23 * NS), 0);
        assert_int_equal(cap.n, 2);
        /* [0,10): 0->4, 4->8 and half of 8->12 = 10 core-s; [10,20): the other half, 12->16 a reset
           (nothing), 16->20 from the new counter: 2 + 4 */
        assert_true(fabs(cap.sums[0].kwh[DCEM_ACC_UNIT0] - 10.0 / 3600) < 1e-12);
        assert_true(fabs(cap.sums[1].kwh[DCEM_ACC_UNIT0] - 6.0 / 3600) < 1e-12);
        assert_int_equal(dcem_acct_event_count(a, DCEM_EV_RESET), 1);
        /* expected 10/4 = 2.5 readings per interval: 0 (on the grid), 4, 8 -> capped at 2.5 */
        assert_true(fabs(cap.sums[0].compute_expected - 2.5) < 1e-12);
        assert_true(fabs(cap.sums[0].compute_taken - 2.5) < 1e-12);
        /* 12 and 16 taken in [10,20) (a reset is a taken reading: its span was checked) */
        assert_true(fabs(cap.src_taken[1][0] - 2) < 1e-12);
        dcem_acct_free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_utc),
                cmocka_unit_test(test_tracker),
                cmocka_unit_test(test_tracker_many),
                cmocka_unit_test(test_engine_aggregates_hosts),
                cmocka_unit_test(test_engine_reset_and_split),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
