/* snmp_poll_driver.c - drive the SNMP collector against real agents, for the
 * integration tests (tests/integration/test_snmp_*.py) and benchmarks.
 *
 * Loads a small YAML file:
 *   profiles_dir: DIR
 *   polls: N                 # rounds of "poll every device now" (default 1)
 *   devices:
 *     - { name: pdu1, rated_kw: 2.0, timeout: 5s, snmp: { address: ..., profile: ... } }
 * applies each snmp block to the collector's own schema and check, starts the
 * devices on the real loop and scheduler (agent/loop.c, agent/sched.c), polls
 * them all at once N times, and prints one JSON object a line: every sample
 * ({"device","point","value","unit","quality","kind"}) and, per finished poll,
 * {"device","poll","status","error","elapsed_ms","requests","responses",
 *  "max_varbinds","max_repetitions","profile"}. Exit 0, or 2 on a config error.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "dcem/config.h"
#include "dcem/loop.h"
#include "dcem/node.h"
#include "dcem/sched.h"
#include "dcem/schema.h"
#include "snmp/conf.h"
#include "snmp/snmp.h"

typedef struct drv_dev {
        char *name;
        double rated_kw;
        int64_t timeout_ns;
        const dcem_node *snmp;
} drv_dev;

typedef struct drv_conf {
        char *profiles_dir;
        int64_t polls;
        dcem_list devices;
} drv_conf;

static const dcem_schema_key dev_keys[] = {
        { .name = "name", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(drv_dev, name), .doc = "name" },
        { .name = "rated_kw", .type = DCEM_T_DOUBLE, .def = "0", .offset = offsetof(drv_dev, rated_kw), .doc = "kW" },
        { .name = "timeout", .type = DCEM_T_DURATION, .def = "20s", .offset = offsetof(drv_dev, timeout_ns), .doc = "deadline" },
        { .name = "snmp", .type = DCEM_T_NODE, .flags = DCEM_REQUIRED, .offset = offsetof(drv_dev, snmp), .doc = "block" },
        { 0 },
};
static const dcem_schema dev_schema = { .name = "device", .doc = "", .size = sizeof(drv_dev), .keys = dev_keys };
static const dcem_schema_key top_keys[] = {
        { .name = "profiles_dir", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(drv_conf, profiles_dir), .doc = "dir" },
        { .name = "polls", .type = DCEM_T_INT, .def = "1", .min = 1, .max = 1000, .offset = offsetof(drv_conf, polls), .doc = "n" },
        { .name = "devices", .type = DCEM_T_LIST, .flags = DCEM_REQUIRED, .sub = &dev_schema, .offset = offsetof(drv_conf, devices), .doc = "devices" },
        { 0 },
};
static const dcem_schema top_schema = { .name = "driver", .doc = "", .size = sizeof(drv_conf), .keys = top_keys };

typedef struct ctx {
        size_t n;
        char **names;
        void **states;
        uint64_t round;
} ctx;

static void on_batch(void *ud, dcem_batch *b) {
        ctx *c = ud;
        for (size_t i = 0; i < b->n; i++) {
                const dcem_sample *s = &b->samples[i];
                json_t *o = json_object();
                json_object_set_new(o, "device", json_string(s->device));
                json_object_set_new(o, "point", json_string(s->point));
                json_object_set_new(o, "value", isfinite(s->value) ? json_real(s->value) : json_null());
                json_object_set_new(o, "unit", json_string(s->unit));
                json_object_set_new(o, "quality", json_string(dcem_quality_name((dcem_quality)s->quality)));
                json_object_set_new(o, "kind", json_string(s->kind == DCEM_KIND_COUNTER ? "counter" : "gauge"));
                char *txt = json_dumps(o, JSON_COMPACT);
                printf("%s\n", txt);
                free(txt);
                json_decref(o);
        }
        snmp_dev_stats st = { 0 };
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->names[i], b->device) == 0)
                        snmp_collector_stats(c->states[i], &st);
        json_t *o = json_object();
        json_object_set_new(o, "device", json_string(b->device));
        json_object_set_new(o, "poll", json_integer((json_int_t)c->round));
        json_object_set_new(o, "status", json_integer(b->status));
        json_object_set_new(o, "error", json_string(b->error));
        json_object_set_new(o, "elapsed_ms", json_real((double)(b->done_ns - b->ts_ns) / 1e6));
        json_object_set_new(o, "requests", json_integer((json_int_t)st.last_requests));
        json_object_set_new(o, "responses", json_integer((json_int_t)st.responses));
        json_object_set_new(o, "max_varbinds", json_integer((json_int_t)st.max_varbinds));
        json_object_set_new(o, "max_repetitions", json_integer((json_int_t)st.max_repetitions));
        json_object_set_new(o, "profile", json_string(st.profile));
        char *txt = json_dumps(o, JSON_COMPACT);
        printf("%s\n", txt);
        free(txt);
        json_decref(o);
        fflush(stdout);
}

static void print_diag(const dcem_diag *d) {
        for (size_t i = 0; i < d->n; i++)
                fprintf(stderr, "%s\n", d->msgs[i]);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s CONFIG.yaml\n", argv[0]);
                return 2;
        }
        dcem_diag diag = { 0 };
        dcem_node *root = NULL;
        drv_conf conf;
        memset(&conf, 0, sizeof(conf));
        if (dcem_yaml_load_file(argv[1], &root, &diag) < 0 || dcem_schema_apply(&top_schema, root, &conf, &diag) < 0) {
                print_diag(&diag);
                return 2;
        }
        size_t n = conf.devices.n;
        drv_dev *devs = conf.devices.items;
        snmp_conf *sc = calloc(n, sizeof(*sc));
        dcem_device_conf *dc = calloc(n, sizeof(*dc));
        ctx c = { .n = n, .names = calloc(n, sizeof(char *)), .states = calloc(n, sizeof(void *)) };
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
                if (dcem_schema_apply(&snmp_conf_schema, devs[i].snmp, &sc[i], &diag) < 0 ||
                    dcem_snmp_collector.check(&sc[i], devs[i].snmp, conf.profiles_dir, &diag) < 0)
                        bad = 1;
        }
        if (bad) {
                print_diag(&diag);
                return 2;
        }
        dcem_loop *loop = NULL;
        dcem_sched *sched = NULL;
        if (dcem_loop_new(&dcem_clock_system, &loop) < 0)
                return 1;
        dcem_sched_hooks hooks = { .batch = on_batch, .ud = &c };
        dcem_sched_opts opts = { .backoff_cap = 1, .seed = 1 };
        if (dcem_sched_new(loop, &opts, &hooks, &sched) < 0)
                return 1;
        dcem_collector_env env = { .loop = loop, .clock = &dcem_clock_system, .profiles_dir = conf.profiles_dir };
        for (size_t i = 0; i < n; i++) {
                char err[256] = "";
                dc[i].name = devs[i].name;
                dc[i].rated_kw = devs[i].rated_kw;
                dc[i].node = devs[i].snmp;
                dc[i].collector = &dcem_snmp_collector;
                c.names[i] = devs[i].name;
                int r = dcem_snmp_collector.init(&env, &dc[i], &sc[i], &c.states[i], err, sizeof(err));
                if (r < 0) {
                        fprintf(stderr, "%s: init: %s\n", devs[i].name, err);
                        return 1;
                }
                r = dcem_sched_add(sched, devs[i].name, 3600 * DCEM_NS_PER_S, devs[i].timeout_ns, &dcem_snmp_collector,
                                   c.states[i]);
                if (r < 0) {
                        fprintf(stderr, "%s: sched_add: %s\n", devs[i].name, strerror(-r));
                        return 1;
                }
        }
        for (int64_t round = 0; round < conf.polls; round++) {
                c.round = (uint64_t)round;
                int r = dcem_sched_poll_all_now(sched);
                if (r < 0)
                        fprintf(stderr, "poll_all_now: %s\n", strerror(-r));
                while (dcem_sched_in_flight(sched) > 0)
                        if (dcem_loop_run_once(loop, 100 * DCEM_NS_PER_MS) < 0)
                                break;
        }
        dcem_sched_free(sched);
        for (size_t i = 0; i < n; i++) {
                dcem_snmp_collector.close(c.states[i]);
                dcem_schema_free(&snmp_conf_schema, &sc[i]);
        }
        dcem_loop_free(loop);
        free(sc);
        free(dc);
        free(c.names);
        free(c.states);
        dcem_schema_free(&top_schema, &conf);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
        return 0;
}
