/* test_host.c - the host collector's parsers: /proc/stat, /proc/loadavg and
 * RAPL counter unwrapping; NVML loading when it is absent (or not NVML), and
 * the collector through the scheduler on a fixture /proc without NVML: GPU
 * absence published once (gpu_count 0), then skipped.
 *
 * Not tested here: a present NVML (no NVIDIA driver on the test machines). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "dcem/sched.h"
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

static void test_nvml_absent(void **st) {
        (void)st;
        dcem_host_nvml *n = (dcem_host_nvml *)&n; /* must stay untouched */
        dcem_host_nvml *const before = n;
        char err[256] = "";
        assert_int_equal(dcem_host_nvml_open("libdcem-test-no-such-nvml.so.1", &n, err, sizeof err), -ENOENT);
        assert_ptr_equal(n, before);
        assert_non_null(strstr(err, "NVML not available"));
        assert_non_null(strstr(err, "libdcem-test-no-such-nvml.so.1"));
        /* a library that is not NVML: the first missing entry point is named */
        err[0] = '\0';
        assert_int_equal(dcem_host_nvml_open("libm.so.6", &n, err, sizeof err), -ENOSYS);
        assert_ptr_equal(n, before);
        assert_non_null(strstr(err, "nvmlInit_v2"));
        dcem_host_nvml_close(NULL);
}

static void test_gpu_busy(void **st) {
        (void)st;
        /* two GPUs at 25 % and 75 % for 10 s: 0.25*10 + 0.75*10 = 10 busy seconds */
        dcem_gpu_reading g = { .count = 2, .util_gpus = 2, .util_sum = 0.25 + 0.75 };
        assert_true(dcem_host_gpu_busy_s(&g, 10.0) == 0.25 * 10 + 0.75 * 10);
        assert_true(dcem_host_gpu_busy_s(&g, 0) == 0);
        assert_true(dcem_host_gpu_busy_s(&g, -1) == 0);
}

/* The collector through the scheduler: batches recorded by the hook. */
typedef struct seen {
        dcem_batch *b[4];
        size_t n;
} seen;

static void on_batch(void *ud, dcem_batch *b) {
        seen *s = ud;
        if (s->n < 4) {
                dcem_batch_ref(b);
                s->b[s->n++] = b;
        }
}

static const dcem_sample *find_point(const dcem_batch *b, const char *point) {
        for (size_t i = 0; i < b->n; i++)
                if (!strcmp(b->samples[i].point, point))
                        return &b->samples[i];
        return NULL;
}

static void write_file(const char *dir, const char *name, const char *text) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_collector_without_nvml(void **st) {
        (void)st;
        char dir[] = "/tmp/dcem-host-XXXXXX";
        assert_non_null(mkdtemp(dir));
        write_file(dir, "stat", "cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\n"
                                "cpu1 50 3 25 500 10 2 1 1 4 0\n");
        write_file(dir, "loadavg", "0.50 0.40 0.30 1/100 42\n");
        dcem_host_conf conf = { .proc_root = dir, .sys_root = dir, .cpu = true, .rapl = true, .gpu = true,
                                .nvml_library = (char *)"libdcem-test-no-such-nvml.so.1" };
        dcem_loop *loop = NULL;
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &loop), 0);
        dcem_collector_env env = { .loop = loop, .clock = &dcem_clock_system, .profiles_dir = dir };
        void *state = NULL;
        char err[256] = "";
        assert_int_equal(dcem_host_collector.init(&env, NULL, &conf, &state, err, sizeof err), 0);
        seen sn = { 0 };
        dcem_sched_hooks h = { .batch = on_batch, .ud = &sn };
        dcem_sched *s = NULL;
        assert_int_equal(dcem_sched_new(loop, NULL, &h, &s), 0);
        assert_int_equal(dcem_sched_add(s, "host", 10 * INT64_C(1000000000), INT64_C(1000000000),
                                        &dcem_host_collector, state), 0);
        for (int i = 0; i < 2; i++) {
                assert_int_equal(dcem_sched_poll_all_now(s), 0);
                for (int k = 0; k < 100 && sn.n < (size_t)i + 1; k++)
                        dcem_loop_run_once(loop, 10 * 1000000);
        }
        assert_int_equal(sn.n, 2);
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(sn.b[i]->status, 0); /* an absent GPU library is not a failure */
        /* the absence is published once, then GPUs are skipped */
        const dcem_sample *g = find_point(sn.b[0], "gpu_count");
        assert_non_null(g);
        assert_true(g->value == 0);
        assert_null(find_point(sn.b[1], "gpu_count"));
        assert_null(find_point(sn.b[1], "gpu_busy_seconds"));
        /* the compute denominator is there: busy ticks / USER_HZ */
        const dcem_sample *c = find_point(sn.b[1], "cpu_core_seconds");
        assert_non_null(c);
        long hz = sysconf(_SC_CLK_TCK);
        assert_true(c->value == (double)(100 + 5 + 50 + 3 + 2 + 1) / (double)(hz > 0 ? hz : 100));
        assert_null(find_point(sn.b[1], "energy_kwh")); /* no RAPL in the fixture */
        for (size_t i = 0; i < sn.n; i++)
                dcem_batch_unref(sn.b[i]);
        dcem_sched_free(s);
        dcem_host_collector.close(state);
        dcem_loop_free(loop);
        char path[512];
        snprintf(path, sizeof path, "%s/stat", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/loadavg", dir);
        unlink(path);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nvml_absent),
                cmocka_unit_test(test_gpu_busy),
                cmocka_unit_test(test_collector_without_nvml),
                cmocka_unit_test(test_parse_stat),
                cmocka_unit_test(test_parse_stat_old_kernel_and_garbage),
                cmocka_unit_test(test_parse_loadavg),
                cmocka_unit_test(test_rapl_unwrap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
