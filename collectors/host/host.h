/* host.h - the host collector: the agent's own machine as a device.
 *
 * Reads /proc and the powercap sysfs (Intel/AMD RAPL) — no network, never
 * blocks. Points: cpu_core_seconds (counter, s: busy CPU time summed over
 * cores, the "CPU core-hour" functional unit of carbon per compute),
 * cpu_cores, cpu_utilization (0..1, from the second poll on), load1, and
 * where RAPL is readable energy_kwh (counter, package energy, unwrapped at
 * max_energy_range_uj) and power_kw (average since the previous poll).
 */
#ifndef DCEM_HOST_H
#define DCEM_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include "dcem/collector.h"

extern const dcem_collector_ops dcem_host_collector;

typedef struct dcem_host_conf {
        char *proc_root;
        char *sys_root;
        bool cpu;
        bool rapl;
} dcem_host_conf;

typedef struct dcem_cpu_times {
        uint64_t busy_ticks;  /* user+nice+system+irq+softirq+steal over all cores */
        uint64_t total_ticks; /* busy + idle + iowait */
        unsigned cores;       /* cpuN lines */
} dcem_cpu_times;

/* Parse the text of /proc/stat. 0, or -EINVAL if there is no aggregate "cpu" line. Pure. */
int dcem_host_parse_stat(const char *text, dcem_cpu_times *ret);
/* Parse the first field of /proc/loadavg. 0 or -EINVAL. Pure. */
int dcem_host_parse_loadavg(const char *text, double *ret);
/* Unwrap a RAPL reading: given the previous raw value and the accumulated
 * offset, return the monotonic total in microjoules. Pure. */
uint64_t dcem_host_rapl_unwrap(uint64_t raw, uint64_t range, uint64_t *prev_raw, uint64_t *offset, bool *have_prev);

#endif
