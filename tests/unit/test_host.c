/* test_host.c - the host collector's parsers: /proc/stat, /proc/loadavg and
 * RAPL counter unwrapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "host/host.h"

static void test_parse_stat(void **st) {
        (void)st;
        const char *text = "cpu  100 5 50 1000 20 3 2 1 7 0\n"
                           "cpu0 50 2 25 500 10 1 1 0 3 0\n"
                           "cpu1 50 3 25 500 10 2 1 1 4 0\n"
                           "intr 12345 0 0\n"
                           "cpufreq 1\n";
        dcem_cpu_times t;
        assert_int_equal(dcem_host_parse_stat(text, &t), 0);
        /* busy = user+nice+system+irq+softirq+steal; guest is inside user */
        assert_int_equal(t.busy_ticks, 100 + 5 + 50 + 3 + 2 + 1);
        assert_int_equal(t.total_ticks, 100 + 5 + 50 + 3 + 2 + 1 + 1000 + 20);
        assert_int_equal(t.cores, 2);
}

static void test_parse_stat_old_kernel_and_garbage(void **st) {
        (void)st;
        dcem_cpu_times t = { 0 };
        assert_int_equal(dcem_host_parse_stat("cpu  1 2 3 4\ncpu0 1 2 3 4\n", &t), 0);
        assert_int_equal(t.busy_ticks, 6);
        assert_int_equal(t.total_ticks, 10);
        assert_int_equal(dcem_host_parse_stat("cpu0 1 2 3 4\n", &t), -EINVAL);
        assert_int_equal(dcem_host_parse_stat("cpu  x\n", &t), -EINVAL);
        assert_int_equal(dcem_host_parse_stat("", &t), -EINVAL);
}

static void test_parse_loadavg(void **st) {
        (void)st;
        double v = -1;
        assert_int_equal(dcem_host_parse_loadavg("0.52 0.58 0.59 2/345 6789\n", &v), 0);
        assert_true(v > 0.519 && v < 0.521);
        assert_int_equal(dcem_host_parse_loadavg("12 1 1", &v), 0);
        assert_true(v == 12.0);
        assert_int_equal(dcem_host_parse_loadavg("abc", &v), -EINVAL);
}

static void test_rapl_unwrap(void **st) {
        (void)st;
        uint64_t prev = 0, off = 0;
        bool have = false;
        const uint64_t range = 262143328850ULL; /* a real max_energy_range_uj */
        assert_int_equal(dcem_host_rapl_unwrap(range - 100, range, &prev, &off, &have), range - 100);
        /* wrapped: 100 uj to the top, then 50 after zero -> +151 */
        assert_int_equal(dcem_host_rapl_unwrap(50, range, &prev, &off, &have), range - 100 + 151);
        assert_int_equal(dcem_host_rapl_unwrap(60, range, &prev, &off, &have), range - 100 + 161);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_stat),
                cmocka_unit_test(test_parse_stat_old_kernel_and_garbage),
                cmocka_unit_test(test_parse_loadavg),
                cmocka_unit_test(test_rapl_unwrap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
