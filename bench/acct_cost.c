/* acct_cost.c - what the accounting engine costs: ns per sample of
 * dcem_acct_feed + dcem_acct_advance, and heap bytes per device, for 10, 100,
 * 1000 and 4000 devices (DCEM_ACCT_MAX_DEVICES is 4096).
 *
 * The workload: every device is an energy meter read every 10 s (one
 * energy_kwh sample per poll, a counter growing at a per-device rate), the
 * record interval is 15 minutes, advance() runs after every poll round, so
 * intervals close and roll up (hours) along the way; 3 simulated hours per
 * size. Heap is measured with mallinfo2() before the engine is built and
 * after the run (steady state: open intervals, the real-time rings full).
 * Pure CPU and memory: no I/O inside the timed loop.
 *
 * Build and run from the top of the tree (no build directory needed):
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Iagent bench/acct_cost.c \
 *      agent/accounting.c agent/rollup.c agent/figures.c -lm -o /tmp/acct_cost && /tmp/acct_cost
 *
 * Prints one line per size: devices, samples, ns per sample (feed+advance),
 * ns per sample of feed alone, heap bytes per device. Most of the bytes are
 * the real-time ring (ACCT_RT_CAP = 256 readings x 32 bytes per device).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dcem/accounting.h"

#define NS INT64_C(1000000000)
#define T0 (INT64_C(1767225600) * NS) /* 2026-01-01T00:00:00Z */
#define POLL_S 10
#define HOURS 3

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static size_t heap_used(void) {
        struct mallinfo2 m = mallinfo2();
        return m.uordblks + m.hblkhd;
}

static uint64_t closed; /* intervals handed to the hook */

static void on_interval(void *ud, const dcem_acct_interval *iv) {
        (void)ud;
        (void)iv;
        closed++;
}

static int run(size_t ndev) {
        char (*names)[24] = calloc(ndev, sizeof *names);
        if (!names)
                return -1;
        for (size_t i = 0; i < ndev; i++)
                snprintf(names[i], sizeof names[i], "dev-%zu", i);
        size_t heap0 = heap_used();
        dcem_acct_conf conf;
        dcem_acct_conf_defaults(&conf);
        dcem_acct_hooks h = { .interval = on_interval };
        dcem_acct *a = NULL;
        if (dcem_acct_new(&conf, &h, &a) < 0)
                return -1;
        for (size_t i = 0; i < ndev; i++) {
                dcem_acct_device d = { .name = names[i], .poll_interval_ns = POLL_S * NS, .rated_kw = 100 };
                if (i == 0) {
                        d.role = DCEM_ROLE_GRID_IMPORT;
                        d.rated_kw = 1e6;
                } else if (i % 10 == 1) {
                        d.role = DCEM_ROLE_COOLING;
                } else {
                        d.role = DCEM_ROLE_IT;
                        d.pue_category = 2;
                }
                if (dcem_acct_add_device(a, &d) < 0)
                        return -1;
        }
        int64_t rounds = HOURS * 3600 / POLL_S;
        uint64_t samples = 0;
        int64_t t_feed = 0, t0 = mono_ns();
        for (int64_t k = 0; k <= rounds; k++) {
                int64_t ts = T0 + k * POLL_S * NS;
                int64_t f0 = mono_ns();
                for (size_t i = 0; i < ndev; i++) {
                        double kw = i == 0 ? 40.0 * (double)ndev : 5.0 + (double)(i % 7);
                        double kwh = 1000.0 + kw * (double)(k * POLL_S) / 3600.0;
                        if (dcem_acct_feed(a, names[i], "energy_kwh", kwh, "kWh", ts, DCEM_Q_GOOD) < 0)
                                return -1;
                        samples++;
                }
                t_feed += mono_ns() - f0;
                if (dcem_acct_advance(a, ts) < 0)
                        return -1;
        }
        int64_t total = mono_ns() - t0;
        size_t heap1 = heap_used();
        printf("%5zu devices  %9llu samples  %7.1f ns/sample (feed+advance)  %7.1f ns/sample (feed)  "
               "%8.0f heap bytes/device  (%llu intervals closed)\n",
               ndev, (unsigned long long)samples, (double)total / (double)samples, (double)t_feed / (double)samples,
               (double)(heap1 - heap0) / (double)ndev, (unsigned long long)closed);
        closed = 0;
        dcem_acct_free(a);
        free(names);
        return 0;
}

int main(void) {
        const size_t sizes[] = { 10, 100, 1000, 4000 };
        printf("dcem accounting engine: %d s polls, 15 min intervals, %d simulated hours per size\n", POLL_S, HOURS);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
                if (run(sizes[i]) < 0) {
                        fprintf(stderr, "acct_cost: the engine refused the workload at %zu devices\n", sizes[i]);
                        return 1;
                }
        return 0;
}
