/* test_selfmetrics.c - the <prefix>/<site>/agent payload builder
 * (agent/selfmetrics.c): hand-built figures give exactly the documented
 * JSON (docs/MQTT.md, docs/schemas/agent.json), the totals are the sums
 * over the collector types, unknown figures are null, bad inputs are
 * refused with outputs untouched; the /proc/self/status parser on real and
 * broken texts; and the process reader on this very process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/selfmetrics.h"

/* 2026-11-23T10:00:05.250Z (computed with Python's datetime). */
#define TS_NS INT64_C(1795428005250000000)

static dcem_sm_collector cols2[] = {
        { .type = "modbus", .devices = 3, .polls = { .done = 100, .failed = 4, .timeouts = 3, .missed = 2 } },
        { .type = "snmp", .devices = 2, .polls = { .done = 50, .failed = 1, .timeouts = 0, .missed = 7 } },
};

static dcem_sm_publisher pubs2[] = {
        { .name = "stdout", .queue_depth = 0, .queue_cap = 100, .queue_dropped_batches = 0,
          .queue_dropped_samples = 0, .publish_failed = 0 },
        { .name = "mqtt", .queue_depth = 5, .queue_cap = 100, .queue_dropped_batches = 2,
          .queue_dropped_samples = 28, .publish_failed = 1, .has_delivery = true,
          .delivery = { .connected = true, .inflight = 20, .spool_bytes = 4096, .spool_records = 12,
                        .spool_budget_bytes = 268435456, .spool_dropped_records = 3, .spool_dropped_bytes = 1500,
                        .backlog = 9, .replay_rate = 150.25, .replayed = 777, .lane_depth = 1, .lane_cap = 8,
                        .lane_dropped = 4 } },
};

static dcem_selfmetrics full(void) {
        return (dcem_selfmetrics){
                .ts_utc_ns = TS_NS, .version = "1.2.3", .uptime_s = 12.5,
                .devices_configured = 5, .devices_reachable = 4,
                .collectors = cols2, .ncollectors = 2, .publishers = pubs2, .npublishers = 2,
                .process = { .mem_known = true, .rss_bytes = 9437184, .peak_rss_bytes = 10485760,
                             .cpu_user_s = 1.5, .cpu_system_s = 0.25 },
        };
}

static void test_full_exact(void **state) {
        (void)state;
        dcem_selfmetrics m = full();
        char *s = NULL;
        size_t len = 0;
        assert_int_equal(dcem_selfmetrics_json(&m, &s, &len), 0);
        const char *want =
                "{\"ts\":\"2026-11-23T10:00:05.250Z\",\"version\":\"1.2.3\",\"uptime_s\":12.5,"
                "\"devices\":{\"configured\":5,\"reachable\":4},"
                "\"polls\":{\"total\":{\"done\":150,\"failed\":5,\"timeouts\":3,\"missed\":9},"
                "\"by_collector\":{\"modbus\":{\"devices\":3,\"done\":100,\"failed\":4,\"timeouts\":3,\"missed\":2},"
                "\"snmp\":{\"devices\":2,\"done\":50,\"failed\":1,\"timeouts\":0,\"missed\":7}}},"
                "\"publishers\":{\"stdout\":{\"queue\":{\"depth\":0,\"cap\":100,\"dropped_batches\":0,"
                "\"dropped_samples\":0},\"publish_failed\":0},"
                "\"mqtt\":{\"queue\":{\"depth\":5,\"cap\":100,\"dropped_batches\":2,\"dropped_samples\":28},"
                "\"publish_failed\":1,\"delivery\":{\"connected\":true,\"inflight\":20,"
                "\"spool\":{\"bytes\":4096,\"records\":12,\"budget_bytes\":268435456,\"dropped_records\":3,"
                "\"dropped_bytes\":1500},\"replay\":{\"backlog\":9,\"rate\":150.25,\"replayed\":777},"
                "\"agent_lane\":{\"depth\":1,\"cap\":8,\"dropped\":4}}}},"
                "\"process\":{\"rss_bytes\":9437184,\"peak_rss_bytes\":10485760,\"cpu_user_s\":1.5,"
                "\"cpu_system_s\":0.25}}";
        assert_string_equal(s, want);
        assert_int_equal(len, strlen(want));
        free(s);
}

/* Parsed back with jansson: an object, the totals equal the sums of the
 * collector types (summed here, independently of the builder). */
static void test_totals_are_sums(void **state) {
        (void)state;
        dcem_sm_collector cols[5];
        const char *types[] = { "modbus", "snmp", "host", "x1", "x2" };
        uint64_t sum[4] = { 0 };
        for (int i = 0; i < 5; i++) {
                cols[i] = (dcem_sm_collector){ .type = types[i], .devices = (uint64_t)i + 1,
                                               .polls = { .done = 1000u * (unsigned)i + 17, .failed = 31u * (unsigned)i,
                                                          .timeouts = 7u * (unsigned)i, .missed = 3u * (unsigned)i + 1 } };
                sum[0] += cols[i].polls.done;
                sum[1] += cols[i].polls.failed;
                sum[2] += cols[i].polls.timeouts;
                sum[3] += cols[i].polls.missed;
        }
        dcem_selfmetrics m = full();
        m.collectors = cols;
        m.ncollectors = 5;
        char *s = NULL;
        assert_int_equal(dcem_selfmetrics_json(&m, &s, NULL), 0);
        json_error_t je;
        json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &je);
        assert_non_null(o);
        json_t *t = json_object_get(json_object_get(o, "polls"), "total");
        const char *keys[] = { "done", "failed", "timeouts", "missed" };
        for (int k = 0; k < 4; k++)
                assert_int_equal(json_integer_value(json_object_get(t, keys[k])), (json_int_t)sum[k]);
        json_t *byc = json_object_get(json_object_get(o, "polls"), "by_collector");
        assert_int_equal(json_object_size(byc), 5);
        for (int i = 0; i < 5; i++)
                assert_int_equal(json_integer_value(json_object_get(json_object_get(byc, types[i]), "devices")), i + 1);
        json_decref(o);
        free(s);
}

static void test_unknown_is_null(void **state) {
        (void)state;
        dcem_sm_publisher p = { .name = "mqtt", .queue_cap = 10, .has_delivery = true,
                                .delivery = { .replay_rate = NAN, .lane_cap = 8 } };
        dcem_selfmetrics m = { .ts_utc_ns = TS_NS, .version = "0.1.0", .uptime_s = 0.0, .publishers = &p,
                               .npublishers = 1, .process = { .mem_known = false, .cpu_user_s = 0.0 } };
        char *s = NULL;
        assert_int_equal(dcem_selfmetrics_json(&m, &s, NULL), 0);
        const char *want =
                "{\"ts\":\"2026-11-23T10:00:05.250Z\",\"version\":\"0.1.0\",\"uptime_s\":0.0,"
                "\"devices\":{\"configured\":0,\"reachable\":0},"
                "\"polls\":{\"total\":{\"done\":0,\"failed\":0,\"timeouts\":0,\"missed\":0},\"by_collector\":{}},"
                "\"publishers\":{\"mqtt\":{\"queue\":{\"depth\":0,\"cap\":10,\"dropped_batches\":0,\"dropped_samples\":0},"
                "\"publish_failed\":0,\"delivery\":{\"connected\":false,\"inflight\":0,"
                "\"spool\":{\"bytes\":0,\"records\":0,\"budget_bytes\":0,\"dropped_records\":0,\"dropped_bytes\":0},"
                "\"replay\":{\"backlog\":0,\"rate\":null,\"replayed\":0},\"agent_lane\":{\"depth\":0,\"cap\":8,\"dropped\":0}}}},"
                "\"process\":{\"rss_bytes\":null,\"peak_rss_bytes\":null,\"cpu_user_s\":0.0,\"cpu_system_s\":0.0}}";
        assert_string_equal(s, want);
        free(s);
}

static void test_bad_input(void **state) {
        (void)state;
        char *s = (char *)"untouched";
        size_t len = 42;
        dcem_selfmetrics m = full();
        m.version = NULL;
        assert_int_equal(dcem_selfmetrics_json(&m, &s, &len), -EINVAL);
        dcem_sm_collector dup[] = { { .type = "snmp" }, { .type = "snmp" } };
        m = full();
        m.collectors = dup;
        m.ncollectors = 2;
        assert_int_equal(dcem_selfmetrics_json(&m, &s, &len), -EINVAL);
        dcem_sm_publisher unnamed[] = { { .name = "" } };
        m = full();
        m.publishers = unnamed;
        m.npublishers = 1;
        assert_int_equal(dcem_selfmetrics_json(&m, &s, &len), -EINVAL);
        m = full();
        m.collectors = NULL;
        assert_int_equal(dcem_selfmetrics_json(&m, &s, &len), -EINVAL);
        assert_int_equal(dcem_selfmetrics_json(NULL, &s, &len), -EINVAL);
        assert_string_equal(s, "untouched");
        assert_int_equal(len, 42);
}

static void test_parse_status(void **state) {
        (void)state;
        const char *text = "Name:\tdcem-agent\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  123456 kB\n"
                           "VmSize:\t  120000 kB\nVmHWM:\t   10240 kB\nVmRSS:\t    9216 kB\nRssAnon:\t    3000 kB\n"
                           "Threads:\t3\n";
        uint64_t rss = 1, hwm = 2;
        assert_int_equal(dcem_selfmetrics_parse_status(text, &rss, &hwm), 0);
        assert_int_equal(rss, 9216u * 1024u);
        assert_int_equal(hwm, 10240u * 1024u);
        /* VmRSS missing (a kernel thread's status has no Vm lines). */
        rss = 1, hwm = 2;
        assert_int_equal(dcem_selfmetrics_parse_status("Name:\tkthreadd\nVmHWM:\t1 kB\n", &rss, &hwm), -ENOENT);
        assert_int_equal(rss, 1);
        assert_int_equal(hwm, 2);
        /* Malformed figures, a prefix that only looks alike, absurd size. */
        assert_int_equal(dcem_selfmetrics_parse_status("VmRSS:\tabc kB\nVmHWM:\t1 kB\n", &rss, &hwm), -ENOENT);
        assert_int_equal(dcem_selfmetrics_parse_status("VmRSSx:\t5 kB\nVmHWM:\t1 kB\n", &rss, &hwm), -ENOENT);
        assert_int_equal(dcem_selfmetrics_parse_status("VmRSS:\t5 MB\nVmHWM:\t1 kB\n", &rss, &hwm), -ENOENT);
        assert_int_equal(dcem_selfmetrics_parse_status("VmRSS:\t99999999999999999999999 kB\nVmHWM:\t1 kB\n", &rss,
                                                       &hwm),
                         -ENOENT);
        assert_int_equal(dcem_selfmetrics_parse_status(NULL, &rss, &hwm), -ENOENT);
        assert_int_equal(rss, 1);
        assert_int_equal(hwm, 2);
}

/* This process: memory known and plausible, CPU seconds grow with work. */
static void test_read_process(void **state) {
        (void)state;
        dcem_sm_process a, b;
        assert_int_equal(dcem_selfmetrics_read_process(&a), 0);
        assert_true(a.mem_known);
        assert_true(a.rss_bytes > 0);
        assert_true(a.peak_rss_bytes >= a.rss_bytes);
        /* Touch 32 MiB: the peak must follow. */
        size_t n = 32u << 20;
        volatile unsigned char *big = malloc(n);
        assert_non_null(big);
        for (size_t i = 0; i < n; i += 4096)
                big[i] = (unsigned char)i;
        volatile double x = 0;
        for (long i = 0; i < 30000000; i++)
                x += (double)i * 1e-9;
        assert_int_equal(dcem_selfmetrics_read_process(&b), 0);
        assert_true(b.peak_rss_bytes >= a.peak_rss_bytes + (24u << 20));
        assert_true(b.cpu_user_s + b.cpu_system_s > a.cpu_user_s + a.cpu_system_s);
        assert_true(b.cpu_user_s >= a.cpu_user_s);
        free((void *)big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_exact),      cmocka_unit_test(test_totals_are_sums),
                cmocka_unit_test(test_unknown_is_null), cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_parse_status),    cmocka_unit_test(test_read_process),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
