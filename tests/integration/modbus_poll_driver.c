/* modbus_poll_driver.c - a test driver for the Modbus collector: loads a
 * small YAML file of devices (name, interval, timeout, modbus block), runs
 * the real loop and scheduler, polls every device --polls times and prints
 * one line per sample and per poll, then per-device counters:
 *
 *   sample DEVICE POINT VALUE UNIT QUALITY KIND
 *   (KIND text: VALUE is the text's bytes in hex, "-" when empty)
 *   poll DEVICE STATUS ERROR...
 *   stats DEVICE requests=N exceptions=N timeouts=N splits=N polls=N rejected=N plan=N
 *
 * `modbus_poll_driver --probe URL` runs dcem_modbus_probe instead (what
 * `dcem-agent probe` prints) and exits with 0 or 4 (nothing recognised).
 *
 * Used by tests/integration/test_modbus_*.py against real Modbus servers.
 * Exit status: 0, 1 for a configuration error (printed), 2 for usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/collector.h"
#include "dcem/config.h"
#include "dcem/loop.h"
#include "dcem/node.h"
#include "dcem/sched.h"
#include "dcem/schema.h"
#include "modbus/modbus.h"
#include "modbus/modbus_probe.h"

typedef struct drv_dev {
        char *name;
        int64_t interval_ns;
        int64_t timeout_ns;
        const dcem_node *modbus;
} drv_dev;

static const dcem_schema_key dev_keys[] = {
        { .name = "name", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(drv_dev, name) },
        { .name = "interval", .type = DCEM_T_DURATION, .def = "10s", .offset = offsetof(drv_dev, interval_ns) },
        { .name = "timeout", .type = DCEM_T_DURATION, .def = "5s", .offset = offsetof(drv_dev, timeout_ns) },
        { .name = "modbus", .type = DCEM_T_NODE, .flags = DCEM_REQUIRED, .offset = offsetof(drv_dev, modbus) },
        { .name = NULL },
};
static const dcem_schema dev_schema = { .name = "device", .size = sizeof(drv_dev), .keys = dev_keys };

typedef struct drv_conf {
        dcem_list devices;
} drv_conf;
static const dcem_schema_key top_keys[] = {
        { .name = "devices", .type = DCEM_T_LIST, .sub = &dev_schema, .offset = offsetof(drv_conf, devices) },
        { .name = NULL },
};
static const dcem_schema top_schema = { .name = "driver", .size = sizeof(drv_conf), .keys = top_keys };

static void on_batch(void *ud, dcem_batch *b) {
        (void)ud;
        for (size_t i = 0; i < b->n; i++) {
                const dcem_sample *s = &b->samples[i];
                if (s->kind == DCEM_KIND_TEXT) {
                        /* the text's bytes in hex ("-" when empty): any byte survives the line format */
                        printf("sample %s %s ", s->device, s->point);
                        size_t n = strnlen(s->text, sizeof s->text);
                        for (size_t k = 0; k < n; k++)
                                printf("%02x", (unsigned char)s->text[k]);
                        printf("%s %s %s text\n", n ? "" : "-", s->unit[0] ? s->unit : "-",
                               dcem_quality_name((dcem_quality)s->quality));
                        continue;
                }
                printf("sample %s %s %.17g %s %s %s\n", s->device, s->point, s->value, s->unit[0] ? s->unit : "-",
                       dcem_quality_name((dcem_quality)s->quality), s->kind == DCEM_KIND_COUNTER ? "counter" : "gauge");
        }
        printf("poll %s %d %s\n", b->device, b->status, b->error[0] ? b->error : "-");
        fflush(stdout);
}

static void on_state(void *ud, const char *device, bool up, int status, const char *err) {
        (void)ud;
        printf("state %s %s %d %s\n", device, up ? "up" : "down", status, err ? err : "-");
}

int main(int argc, char **argv) {
        const char *file = NULL, *profiles = DCEM_SOURCE_DIR "/conf/profiles";
        long polls = 1;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--polls") == 0 && i + 1 < argc) {
                        char *end;
                        polls = strtol(argv[++i], &end, 10);
                        if (*end || polls < 1 || polls > 100000)
                                return 2;
                } else if (strcmp(argv[i], "--profiles") == 0 && i + 1 < argc) {
                        profiles = argv[++i];
                } else if (strcmp(argv[i], "--probe") == 0 && i + 1 < argc) {
                        char err[256] = "";
                        int r = dcem_modbus_probe(argv[i + 1], stdout, err, sizeof err);
                        printf("probe-result %d %s\n", r, err[0] ? err : "-");
                        return r == 0 ? 0 : 4;
                } else if (!file) {
                        file = argv[i];
                } else {
                        fprintf(stderr, "usage: %s CONFIG.yaml [--polls N] [--profiles DIR]\n", argv[0]);
                        return 2;
                }
        }
        if (!file) {
                fprintf(stderr, "usage: %s CONFIG.yaml [--polls N] [--profiles DIR]\n", argv[0]);
                return 2;
        }
        dcem_diag diag = { 0 };
        dcem_node *root = NULL;
        drv_conf conf = { 0 };
        const dcem_collector_ops *ops = &dcem_modbus_collector;
        if (dcem_yaml_load_file(file, &root, &diag) < 0 || dcem_schema_apply(&top_schema, root, &conf, &diag) < 0) {
                for (size_t i = 0; i < diag.n; i++)
                        printf("config-error %s\n", diag.msgs[i]);
                return 1;
        }
        drv_dev *devs = conf.devices.items;
        size_t n = conf.devices.n;
        void **confs = calloc(n + 1, sizeof *confs), **states = calloc(n + 1, sizeof *states);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
                confs[i] = calloc(1, ops->schema->size);
                if (dcem_schema_apply(ops->schema, devs[i].modbus, confs[i], &diag) < 0 ||
                    ops->check(confs[i], devs[i].modbus, profiles, &diag) < 0)
                        bad = 1;
        }
        if (bad || diag.n) {
                for (size_t i = 0; i < diag.n; i++)
                        printf("config-error %s\n", diag.msgs[i]);
                return 1;
        }
        dcem_loop *loop;
        if (dcem_loop_new(&dcem_clock_system, &loop) < 0)
                return 3;
        dcem_collector_env env = { .loop = loop, .clock = &dcem_clock_system, .profiles_dir = profiles };
        dcem_sched_hooks hooks = { .batch = on_batch, .state = on_state };
        dcem_sched_opts so = { .backoff_cap = 1, .seed = 1 };
        dcem_sched *sched;
        if (dcem_sched_new(loop, &so, &hooks, &sched) < 0)
                return 3;
        for (size_t i = 0; i < n; i++) {
                char err[256] = "";
                dcem_device_conf dc = { .name = devs[i].name, .modbus = devs[i].modbus,
                                        .interval_ns = devs[i].interval_ns, .timeout_ns = devs[i].timeout_ns };
                int r = ops->init(&env, &dc, confs[i], &states[i], err, sizeof err);
                if (r < 0) {
                        printf("init-error %s %d %s\n", devs[i].name, r, err);
                        return 1;
                }
                if (dcem_sched_add(sched, devs[i].name, devs[i].interval_ns, devs[i].timeout_ns, ops, states[i]) < 0)
                        return 3;
                printf("plan %s %d\n", devs[i].name, dcem_modbus_requests_per_poll(states[i]));
        }
        fflush(stdout);
        for (long k = 0; k < polls; k++) {
                if (dcem_sched_poll_all_now(sched) < 0)
                        return 3;
                while (dcem_sched_in_flight(sched) > 0)
                        if (dcem_loop_run_once(loop, 100 * DCEM_NS_PER_MS) < 0)
                                return 3;
        }
        for (size_t i = 0; i < n; i++) {
                char line[256];
                dcem_modbus_stats_line(states[i], line, sizeof line);
                printf("stats %s %s\n", devs[i].name, line);
        }
        dcem_sched_free(sched);
        for (size_t i = 0; i < n; i++) {
                ops->close(states[i]);
                dcem_schema_free(ops->schema, confs[i]);
                free(confs[i]);
        }
        free(confs);
        free(states);
        dcem_loop_free(loop);
        dcem_schema_free(&top_schema, &conf);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
        return 0;
}
