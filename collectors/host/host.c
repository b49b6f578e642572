/* host.c - the host collector (see host.h). Synchronous: reading /proc and
 * sysfs is a few microseconds, so poll() finishes the poll before returning.
 * NVML calls are synchronous too (a few tens of microseconds per GPU). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "host.h"

#define HOST_MAX_RAPL 16

typedef struct rapl_zone {
        char energy_path[512];
        uint64_t range, prev_raw, offset;
        bool have_prev;
} rapl_zone;

typedef struct host_state {
        const dcem_host_conf *conf;
        const dcem_clock *clock;
        dcem_cpu_times prev_cpu;
        bool have_prev_cpu;
        rapl_zone rapl[HOST_MAX_RAPL];
        unsigned nrapl;
        uint64_t prev_uj;
        int64_t prev_uj_mono;
        bool have_prev_uj;
        dcem_host_nvml *nvml;        /* NULL: no NVML (or gpu: false) */
        bool gpu_reported;           /* the absence was published once (gpu_count 0) */
        double gpu_busy_s;           /* accumulated since start */
        int64_t gpu_prev_mono;
        bool have_gpu_prev;
} host_state;

static const dcem_schema_key host_keys[] = {
        { .name = "proc_root", .type = DCEM_T_STR, .def = "/proc", .offset = offsetof(dcem_host_conf, proc_root),
          .doc = "Where procfs is mounted (tests point it at a fixture tree)." },
        { .name = "sys_root", .type = DCEM_T_STR, .def = "/sys", .offset = offsetof(dcem_host_conf, sys_root),
          .doc = "Where sysfs is mounted." },
        { .name = "cpu", .type = DCEM_T_BOOL, .def = "true", .offset = offsetof(dcem_host_conf, cpu),
          .doc = "Publish cpu_core_seconds, cpu_cores, cpu_utilization and load1." },
        { .name = "rapl", .type = DCEM_T_BOOL, .def = "true", .offset = offsetof(dcem_host_conf, rapl),
          .doc = "Publish energy_kwh and power_kw from the RAPL package counters, where the kernel exposes them." },
        { .name = "gpu", .type = DCEM_T_BOOL, .def = "true", .offset = offsetof(dcem_host_conf, gpu),
          .doc = "Publish gpu_count, gpu_energy_kwh, gpu_utilization and gpu_busy_seconds from NVIDIA's NVML, "
                 "loaded at run time when present (gpu_count 0 once when it is not)." },
        { .name = "nvml_library", .type = DCEM_T_STR, .def = "libnvidia-ml.so.1",
          .offset = offsetof(dcem_host_conf, nvml_library),
          .doc = "The NVML library to dlopen (a soname or a path)." },
        { 0 }
};

static const dcem_schema host_schema = {
        .name = "host",
        .doc = "The machine the agent runs on, from /proc and the powercap sysfs (RAPL).",
        .size = sizeof(dcem_host_conf),
        .keys = host_keys,
};

int dcem_host_parse_stat(const char *text, dcem_cpu_times *ret) {
        dcem_cpu_times t = { 0 };
        bool have_total = false;
        const char *line = text;
        while (line && *line) {
                if (strncmp(line, "cpu", 3) == 0) {
                        const char *p = line + 3;
                        bool aggregate = (*p == ' ');
                        if (!aggregate) {
                                while (*p >= '0' && *p <= '9')
                                        p++;
                                if (p != line + 3 && *p == ' ')
                                        t.cores++;
                        } else {
                                uint64_t v[10] = { 0 };
                                int n = 0;
                                char *end;
                                for (; n < 10; n++) {
                                        while (*p == ' ')
                                                p++;
                                        if (*p < '0' || *p > '9')
                                                break;
                                        v[n] = strtoull(p, &end, 10);
                                        p = end;
                                }
                                if (n < 4)
                                        return -EINVAL;
                                /* user nice system idle iowait irq softirq steal guest guest_nice;
                                 * guest time is already inside user. */
                                t.busy_ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
                                t.total_ticks = t.busy_ticks + v[3] + v[4];
                                have_total = true;
                        }
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        if (!have_total)
                return -EINVAL;
        *ret = t;
        return 0;
}

int dcem_host_parse_loadavg(const char *text, double *ret) {
        unsigned long ip = 0, fp = 0, scale = 1;
        const char *p = text;
        if (*p < '0' || *p > '9')
                return -EINVAL;
        while (*p >= '0' && *p <= '9')
                ip = ip * 10 + (unsigned long)(*p++ - '0');
        if (*p == '.') {
                p++;
                while (*p >= '0' && *p <= '9' && scale < 1000000) {
                        fp = fp * 10 + (unsigned long)(*p++ - '0');
                        scale *= 10;
                }
        }
        *ret = (double)ip + (double)fp / (double)scale;
        return 0;
}

uint64_t dcem_host_rapl_unwrap(uint64_t raw, uint64_t range, uint64_t *prev_raw, uint64_t *offset, bool *have_prev) {
        if (*have_prev && raw < *prev_raw && range > 0)
                *offset += range + 1;
        *prev_raw = raw;
        *have_prev = true;
        return *offset + raw;
}

/* ---- NVML, loaded at run time ----
 * The few entry points of NVML's public C API (nvml.h) that we use, declared
 * here so that no NVIDIA header or library is needed to build. */

typedef int nvml_ret;                    /* nvmlReturn_t: 0 = NVML_SUCCESS */
typedef struct nvml_dev_st *nvml_dev;    /* nvmlDevice_t */
typedef struct nvml_util {
        unsigned int gpu, memory;        /* nvmlUtilization_t: percent */
} nvml_util;

struct dcem_host_nvml {
        void *lib;
        nvml_ret (*init)(void);
        nvml_ret (*shutdown)(void);
        nvml_ret (*count)(unsigned int *);
        nvml_ret (*handle)(unsigned int, nvml_dev *);
        nvml_ret (*energy)(nvml_dev, unsigned long long *);
        nvml_ret (*util)(nvml_dev, nvml_util *);
        const char *(*errstr)(nvml_ret);
};

static const char *nvml_err(const dcem_host_nvml *n, nvml_ret r) {
        const char *s = n->errstr ? n->errstr(r) : NULL;
        return s ? s : "NVML error";
}

int dcem_host_nvml_open(const char *library, dcem_host_nvml **ret, char *err, size_t errlen) {
        void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                const char *e = dlerror();
                snprintf(err, errlen, "NVML not available (%s): GPUs skipped", e ? e : library);
                return -ENOENT;
        }
        dcem_host_nvml *n = calloc(1, sizeof(*n));
        if (!n) {
                dlclose(lib);
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        n->lib = lib;
        /* POSIX: a function pointer from dlsym goes through a data pointer */
#define SYM(field, name)                                                                           \
        do {                                                                                       \
                void *p_ = dlsym(lib, name);                                                       \
                if (!p_) {                                                                         \
                        snprintf(err, errlen, "NVML library %s has no %s: GPUs skipped", library, name); \
                        dlclose(lib);                                                              \
                        free(n);                                                                   \
                        return -ENOSYS;                                                            \
                }                                                                                  \
                memcpy(&n->field, &p_, sizeof(p_));                                                \
        } while (0)
        SYM(init, "nvmlInit_v2");
        SYM(shutdown, "nvmlShutdown");
        SYM(count, "nvmlDeviceGetCount_v2");
        SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
        SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
        SYM(util, "nvmlDeviceGetUtilizationRates");
        SYM(errstr, "nvmlErrorString");
#undef SYM
        nvml_ret r = n->init();
        if (r != 0) {
                snprintf(err, errlen, "nvmlInit failed: %s: GPUs skipped", nvml_err(n, r));
                dlclose(lib);
                free(n);
                return -EIO;
        }
        *ret = n;
        return 0;
}

int dcem_host_nvml_read(dcem_host_nvml *n, dcem_gpu_reading *ret, char *err, size_t errlen) {
        unsigned int count = 0;
        nvml_ret r = n->count(&count);
        if (r != 0) {
                snprintf(err, errlen, "nvmlDeviceGetCount: %s", nvml_err(n, r));
                return -EIO;
        }
        dcem_gpu_reading g = { .count = count < DCEM_HOST_MAX_GPUS ? count : DCEM_HOST_MAX_GPUS };
        for (unsigned i = 0; i < g.count; i++) {
                nvml_dev d;
                if (n->handle(i, &d) != 0)
                        continue;
                unsigned long long mj;
                if (n->energy(d, &mj) == 0) { /* Volta and newer; NOT_SUPPORTED elsewhere */
                        g.energy_gpus++;
                        g.energy_mj += (double)mj;
                }
                nvml_util u;
                if (n->util(d, &u) == 0 && u.gpu <= 100) {
                        g.util_gpus++;
                        g.util_sum += u.gpu / 100.0;
                }
        }
        *ret = g;
        return 0;
}

void dcem_host_nvml_close(dcem_host_nvml *n) {
        if (!n)
                return;
        n->shutdown();
        dlclose(n->lib);
        free(n);
}

double dcem_host_gpu_busy_s(const dcem_gpu_reading *r, double dt_s) {
        return dt_s > 0 ? r->util_sum * dt_s : 0;
}

/* Read a small file into buf (NUL-terminated). 0 or -errno. */
static int read_small(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        int e = errno;
        close(fd);
        if (n < 0)
                return -e;
        buf[n] = '\0';
        return 0;
}

static int read_u64(const char *path, uint64_t *ret) {
        char buf[64];
        int r = read_small(path, buf, sizeof buf);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno || end == buf)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Find the top-level RAPL package zones (intel-rapl:N, not intel-rapl:N:M). */
static void find_rapl(host_state *h) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/class/powercap", h->conf->sys_root);
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)) && h->nrapl < HOST_MAX_RAPL) {
                const char *c = strchr(de->d_name, ':');
                if (strncmp(de->d_name, "intel-rapl:", 11) != 0 || !c || strchr(c + 1, ':'))
                        continue;
                rapl_zone *z = &h->rapl[h->nrapl];
                char path[600];
                if (snprintf(path, sizeof path, "%s/%s/max_energy_range_uj", dir, de->d_name) >= (int)sizeof path ||
                    read_u64(path, &z->range) < 0)
                        continue;
                if (snprintf(z->energy_path, sizeof z->energy_path, "%s/%s/energy_uj", dir, de->d_name) >=
                    (int)sizeof z->energy_path)
                        continue;
                uint64_t probe;
                if (read_u64(z->energy_path, &probe) < 0) /* unreadable to non-root since CVE-2020-8694 */
                        continue;
                h->nrapl++;
        }
        closedir(d);
}

static int host_init(const dcem_collector_env *env, const struct dcem_device_conf *dev, const void *conf,
                     void **ret_state, char *errbuf, size_t errlen) {
        (void)dev;
        host_state *h = calloc(1, sizeof *h);
        if (!h) {
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        h->conf = conf;
        h->clock = env->clock;
        if (h->conf->rapl)
                find_rapl(h);
        if (h->conf->gpu) {
                char why[DCEM_ERR_MAX];
                if (dcem_host_nvml_open(h->conf->nvml_library, &h->nvml, why, sizeof why) < 0)
                        h->nvml = NULL; /* absent: reported once by the first poll (gpu_count 0), skipped after */
        }
        *ret_state = h;
        return 0;
}

/* GPU points (see host.h). Returns 0 or -EIO with a reason in err. */
static int poll_gpu(host_state *h, dcem_poll *p, char *err, size_t errlen) {
        if (!h->nvml) {
                if (h->conf->gpu && !h->gpu_reported) {
                        dcem_poll_add(p, "gpu_count", 0, "", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
                        h->gpu_reported = true;
                }
                return 0;
        }
        dcem_gpu_reading g;
        int r = dcem_host_nvml_read(h->nvml, &g, err, errlen);
        if (r < 0)
                return r;
        int64_t now = dcem_clock_mono(h->clock);
        dcem_poll_add(p, "gpu_count", g.count, "", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
        if (g.count > 0 && g.energy_gpus == g.count)
                dcem_poll_add(p, "gpu_energy_kwh", g.energy_mj / 3.6e9, "kWh", DCEM_Q_GOOD, DCEM_KIND_COUNTER);
        if (g.util_gpus > 0) {
                dcem_poll_add(p, "gpu_utilization", g.util_sum / g.util_gpus, "", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
                if (h->have_gpu_prev && now > h->gpu_prev_mono)
                        h->gpu_busy_s += dcem_host_gpu_busy_s(&g, (double)(now - h->gpu_prev_mono) / 1e9);
                /* sampled utilization x time: an estimate of busy time */
                dcem_poll_add(p, "gpu_busy_seconds", h->gpu_busy_s, "s", DCEM_Q_ESTIMATED, DCEM_KIND_COUNTER);
        }
        h->gpu_prev_mono = now;
        h->have_gpu_prev = true;
        return 0;
}

static int host_poll(void *state, dcem_poll *p) {
        host_state *h = state;
        char buf[16384], err[DCEM_ERR_MAX] = "";
        char path[512];
        int status = 0;

        if (h->conf->cpu) {
                dcem_cpu_times t;
                snprintf(path, sizeof path, "%s/stat", h->conf->proc_root);
                int r = read_small(path, buf, sizeof buf);
                if (r == 0)
                        r = dcem_host_parse_stat(buf, &t);
                if (r < 0) {
                        status = r;
                        snprintf(err, sizeof err, "%.100s: %s", path, strerror(-r));
                } else {
                        long hz = sysconf(_SC_CLK_TCK);
                        if (hz <= 0)
                                hz = 100;
                        dcem_poll_add(p, "cpu_core_seconds", (double)t.busy_ticks / (double)hz, "s", DCEM_Q_GOOD,
                                      DCEM_KIND_COUNTER);
                        dcem_poll_add(p, "cpu_cores", t.cores, "", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
                        if (h->have_prev_cpu && t.total_ticks > h->prev_cpu.total_ticks &&
                            t.busy_ticks >= h->prev_cpu.busy_ticks) {
                                double u = (double)(t.busy_ticks - h->prev_cpu.busy_ticks) /
                                           (double)(t.total_ticks - h->prev_cpu.total_ticks);
                                dcem_poll_add(p, "cpu_utilization", u, "", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
                        }
                        h->prev_cpu = t;
                        h->have_prev_cpu = true;
                }
                double load;
                snprintf(path, sizeof path, "%s/loadavg", h->conf->proc_root);
                r = read_small(path, buf, sizeof buf);
                if (r == 0)
                        r = dcem_host_parse_loadavg(buf, &load);
                if (r == 0)
                        dcem_poll_add(p, "load1", load, "", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
                else if (status == 0) {
                        status = r;
                        snprintf(err, sizeof err, "%.100s: %s", path, strerror(-r));
                }
        }

        if (h->nrapl > 0) {
                uint64_t total = 0;
                int r = 0;
                for (unsigned i = 0; i < h->nrapl && r == 0; i++) {
                        rapl_zone *z = &h->rapl[i];
                        uint64_t raw;
                        r = read_u64(z->energy_path, &raw);
                        if (r == 0)
                                total += dcem_host_rapl_unwrap(raw, z->range, &z->prev_raw, &z->offset, &z->have_prev);
                        else if (status == 0) {
                                status = r;
                                snprintf(err, sizeof err, "%.100s: %s", z->energy_path, strerror(-r));
                        }
                }
                if (r == 0) {
                        int64_t now = dcem_clock_mono(h->clock);
                        dcem_poll_add(p, "energy_kwh", (double)total / 3.6e12, "kWh", DCEM_Q_GOOD, DCEM_KIND_COUNTER);
                        if (h->have_prev_uj && now > h->prev_uj_mono && total >= h->prev_uj) {
                                double kw = (double)(total - h->prev_uj) / 1e6 / ((double)(now - h->prev_uj_mono) / 1e9) / 1e3;
                                dcem_poll_add(p, "power_kw", kw, "kW", DCEM_Q_GOOD, DCEM_KIND_GAUGE);
                        }
                        h->prev_uj = total;
                        h->prev_uj_mono = now;
                        h->have_prev_uj = true;
                }
        }
        char gerr[DCEM_ERR_MAX] = "";
        int gr = poll_gpu(h, p, gerr, sizeof gerr);
        if (gr < 0 && status == 0) {
                status = gr;
                snprintf(err, sizeof err, "%s", gerr);
        }
        dcem_poll_done(p, status, err[0] ? err : NULL);
        return 0;
}

static void host_cancel(void *state, dcem_poll *p) {
        (void)state;
        (void)p; /* never in flight: host polls finish synchronously */
}

static void host_close(void *state) {
        host_state *h = state;
        if (h)
                dcem_host_nvml_close(h->nvml);
        free(h);
}

const dcem_collector_ops dcem_host_collector = {
        .name = "host",
        .schema = &host_schema,
        .init = host_init,
        .poll = host_poll,
        .cancel = host_cancel,
        .close = host_close,
};
