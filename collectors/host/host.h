/* host.h - the host collector: the agent's own machine as a device.
 *
 * Reads /proc and the powercap sysfs (Intel/AMD RAPL) — no network, never
 * blocks. Points: cpu_core_seconds (counter, s: busy CPU time summed over
 * cores, the "CPU core-hour" functional unit of carbon per compute),
 * cpu_cores, cpu_utilization (0..1, from the second poll on), load1, and
 * where RAPL is readable energy_kwh (counter, package energy, unwrapped at
 * max_energy_range_uj) and power_kw (average since the previous poll).
 *
 * GPUs: NVIDIA's NVML is loaded with dlopen (no build dependency) when the
 * library is there. Points: gpu_count, gpu_energy_kwh (counter: the sum of
 * nvmlDeviceGetTotalEnergyConsumption, mJ, over the GPUs that support it),
 * gpu_utilization (0..1, mean over GPUs) and gpu_busy_seconds (counter,
 * estimated: utilization x elapsed time summed over GPUs since the agent
 * started: the "GPU-hour" functional unit). Without NVML (or without GPUs)
 * the first poll publishes gpu_count 0 once, and GPUs are skipped after.
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
        bool gpu;
        char *nvml_library;
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

/* ---- NVML (collectors/host/host.c) ---- */

#define DCEM_HOST_MAX_GPUS 64

typedef struct dcem_host_nvml dcem_host_nvml;

/* One read of every GPU. */
typedef struct dcem_gpu_reading {
        unsigned count;            /* GPUs found */
        unsigned energy_gpus;      /* of which report total energy */
        double energy_mj;          /* sum of their total energy, mJ */
        unsigned util_gpus;        /* of which report utilization */
        double util_sum;           /* sum of their utilization, 0..1 each */
} dcem_gpu_reading;

/* dlopen the NVML library (path or soname, e.g. "libnvidia-ml.so.1"),
 * resolve the symbols, nvmlInit. 0; -ENOENT (no such library), -ENOSYS (a
 * symbol missing), -EIO (nvmlInit failed): a reason in err, *ret untouched. */
int dcem_host_nvml_open(const char *library, dcem_host_nvml **ret, char *err, size_t errlen);
/* Read every GPU. 0 or -EIO (reason in err). */
int dcem_host_nvml_read(dcem_host_nvml *n, dcem_gpu_reading *ret, char *err, size_t errlen);
void dcem_host_nvml_close(dcem_host_nvml *n); /* accepts NULL */
/* GPU busy seconds over dt_s seconds from a mean utilization per GPU: the
 * sum over GPUs of utilization x dt. Pure. */
double dcem_host_gpu_busy_s(const dcem_gpu_reading *r, double dt_s);

#endif
