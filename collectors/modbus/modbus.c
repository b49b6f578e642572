/* modbus.c - the Modbus collector (collector.h): the `modbus` device block's
 * schema and checks, and the glue from a device block to a poll engine
 * (device.c) on a shared transport (transport.c: TCP on the loop, RTU in a
 * per-port worker thread). Profiles come from conf/profiles/modbus (profile.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/config.h"
#include "modbus/device.h"
#include "modbus/modbus.h"
#include "modbus/profile.h"
#include "modbus/transport.h"

/* A poll's batch holds at most DCEM_BATCH_MAX samples; SunSpec adds up to 10. */
#define DCEM_MODBUS_MAX_POINTS (DCEM_BATCH_MAX - 16)

typedef struct mb_conf {
        char *address;
        int64_t unit;
        int64_t timeout_ns;
        int64_t retries;
        char *profile;
        dcem_list points;          /* of mb_point_conf */
        int64_t max_gap;
        int64_t max_registers;
        int64_t max_bits;
        int64_t connect_delay_ns;
        int64_t connect_timeout_ns;
        bool close_after_poll;
        int64_t inter_frame_ns;
        int64_t max_connections;
} mb_conf;

static const dcem_schema_key modbus_keys[] = {
        { .name = "address", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(mb_conf, address),
          .doc = "`tcp://HOST[:PORT]` (port 502 by default; IPv6 as `tcp://[::1]:502`) or "
                 "`rtu:///dev/ttyUSB0?baud=9600&parity=E&data=8&stop=1` (parity N, E or O; `&rs485=1` "
                 "switches the port to RS-485 mode). Devices with the same address share one connection "
                 "pool (a gateway) or one serial bus owner." },
        { .name = "unit", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 255, .offset = offsetof(mb_conf, unit),
          .doc = "Modbus unit id (slave address) behind the address." },
        { .name = "timeout", .type = DCEM_T_DURATION, .def = "1s", .min = 0.001, .max = 60,
          .offset = offsetof(mb_conf, timeout_ns), .doc = "How long to wait for each answer." },
        { .name = "retries", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 10,
          .offset = offsetof(mb_conf, retries),
          .doc = "Extra attempts of a request after a timeout or I/O error, within the poll." },
        { .name = "profile", .type = DCEM_T_STR, .offset = offsetof(mb_conf, profile),
          .doc = "A register map from conf/profiles/modbus/ (sdm630, iem3000, pm5000, sunspec...). "
                 "`points` extend it; a point with a profile point's name replaces it." },
        { .name = "points", .type = DCEM_T_LIST, .sub = &mb_point_schema, .offset = offsetof(mb_conf, points),
          .doc = "Points to read, in addition to (or instead of) the profile's." },
        { .name = "max_gap", .type = DCEM_T_INT, .def = "16", .min = 0, .max = 2000,
          .offset = offsetof(mb_conf, max_gap),
          .doc = "Unused registers (or bits) one request may read between two points to save a request." },
        { .name = "max_registers", .type = DCEM_T_INT, .def = "125", .min = 1, .max = 125,
          .offset = offsetof(mb_conf, max_registers),
          .doc = "Most registers per request (protocol limit 125); lower it for fussy devices." },
        { .name = "max_bits", .type = DCEM_T_INT, .def = "2000", .min = 1, .max = 2000,
          .offset = offsetof(mb_conf, max_bits), .doc = "Most coils or discrete inputs per request." },
        { .name = "connect_delay", .type = DCEM_T_DURATION, .def = "0s", .min = 0, .max = 60,
          .offset = offsetof(mb_conf, connect_delay_ns),
          .doc = "Wait after connecting before the first request (devices that need time after accept)." },
        { .name = "connect_timeout", .type = DCEM_T_DURATION, .def = "3s", .min = 0.001, .max = 60,
          .offset = offsetof(mb_conf, connect_timeout_ns), .doc = "How long a TCP connect may take." },
        { .name = "close_after_poll", .type = DCEM_T_BOOL, .def = "false",
          .offset = offsetof(mb_conf, close_after_poll),
          .doc = "Close the TCP connection after each poll, for devices that allow a single master." },
        { .name = "inter_frame_delay", .type = DCEM_T_DURATION, .def = "5ms", .min = 0, .max = 10,
          .offset = offsetof(mb_conf, inter_frame_ns),
          .doc = "RTU: silence on the bus between two transactions (shared by the bus's devices)." },
        { .name = "max_connections", .type = DCEM_T_INT, .def = "1", .min = 1, .max = 64,
          .offset = offsetof(mb_conf, max_connections),
          .doc = "TCP: connection cap towards this address, shared by every unit id behind it (a gateway)." },
        { .name = NULL },
};

static const dcem_schema modbus_schema = {
        .name = "modbus",
        .doc = "A Modbus TCP or RTU device. Points are merged into as few requests as the wire allows.",
        .size = sizeof(mb_conf),
        .keys = modbus_keys,
};

static void diag_at(dcem_diag *diag, const dcem_node *block, const char *key, const char *fmt, const char *a,
                    const char *b) {
        const dcem_node *n = key ? dcem_node_get(block, key) : NULL;
        if (!n)
                n = block;
        char msg[512];
        snprintf(msg, sizeof msg, fmt, a, b);
        dcem_diag_add(diag, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0, "modbus.%s: %s", key ? key : "",
                      msg);
}

/* The points of a block: its profile's (if any) merged with its own.
 * 0, or -errno with errors in diag. */
static int block_points(const mb_conf *c, const dcem_node *block, const char *profiles_dir, mb_point **ret_pts,
                        size_t *ret_n, bool *ret_sunspec, dcem_diag *diag) {
        mb_profile prof = { 0 };
        mb_point *own = NULL;
        size_t nown = 0;
        int r = 0;

        if (c->profile) {
                r = mb_profile_load(profiles_dir, c->profile, &prof, diag);
                if (r == -ENOENT)
                        diag_at(diag, block, "profile", "no profile '%s' in %s/modbus", c->profile,
                                profiles_dir ? profiles_dir : "(none)");
                else if (r == -EINVAL && dcem_diag_count(diag) == 0)
                        diag_at(diag, block, "profile", "'%s' is not a valid profile name%s", c->profile, "");
                if (r < 0)
                        return r;
        }
        own = calloc(c->points.n + 1, sizeof *own);
        if (!own) {
                mb_profile_free(&prof);
                return -ENOMEM;
        }
        const dcem_node *seq = block ? dcem_node_get(block, "points") : NULL;
        const dcem_node *item = seq ? seq->child : NULL;
        for (size_t i = 0; i < c->points.n; i++, item = item ? item->next : NULL) {
                const mb_point_conf *pc = (const mb_point_conf *)c->points.items + i;
                const char *why = "";
                if (mb_point_from_conf(pc, &own[nown], &why) < 0) {
                        dcem_diag_add(diag, item ? item->file : NULL, item ? item->line : 0, item ? item->col : 0,
                                      "modbus.points[%zu] (%s): %s", i, pc->name ? pc->name : "?", why);
                        r = -EINVAL;
                        continue;
                }
                for (size_t k = 0; k < nown; k++)
                        if (strcmp(own[k].name, own[nown].name) == 0) {
                                dcem_diag_add(diag, item ? item->file : NULL, item ? item->line : 0,
                                              item ? item->col : 0, "modbus.points[%zu]: the name %s is used twice",
                                              i, own[nown].name);
                                r = -EINVAL;
                        }
                nown++;
        }
        if (r == 0)
                r = mb_points_merge(prof.pts, prof.n, own, nown, ret_pts, ret_n);
        if (r == 0)
                *ret_sunspec = prof.sunspec;
        free(own);
        mb_profile_free(&prof);
        return r;
}

static mb_plan_opts plan_opts(const mb_conf *c) {
        return (mb_plan_opts){ .max_gap = (unsigned)c->max_gap, .max_regs = (unsigned)c->max_registers,
                               .max_bits = (unsigned)c->max_bits };
}

static int modbus_check(const void *conf, const dcem_node *block, const char *profiles_dir, dcem_diag *diag) {
        const mb_conf *c = conf;
        mb_addr a;
        const char *why = "";
        int r = 0;

        if (mb_addr_parse(c->address, &a, &why) < 0) {
                diag_at(diag, block, "address", "'%s': %s", c->address ? c->address : "", why);
                r = -EINVAL;
        } else if (a.unit >= 0 && dcem_node_get(block, "unit") && a.unit != c->unit) {
                diag_at(diag, block, "address", "'%s': ?unit= differs from the unit key%s", c->address, "");
                r = -EINVAL;
        }
        mb_point *pts = NULL;
        size_t n = 0;
        bool sunspec = false;
        int k = block_points(c, block, profiles_dir, &pts, &n, &sunspec, diag);
        if (k < 0)
                return k == -ENOMEM ? k : -EINVAL;
        if (n > DCEM_MODBUS_MAX_POINTS) {
                char lim[32];
                snprintf(lim, sizeof lim, "%d", DCEM_MODBUS_MAX_POINTS);
                diag_at(diag, block, "points", "too many points: at most %s per device%s", lim, "");
                r = -EINVAL;
        }
        if (n == 0 && !sunspec) {
                diag_at(diag, block, NULL, "no points to read: give a profile or points%s%s", "", "");
                r = -EINVAL;
        }
        mb_plan_opts o = plan_opts(c);
        for (size_t i = 0; i < n; i++) {
                mb_plan pl;
                if (mb_plan_build(pts, &i, 1, &o, NULL, &pl) < 0) {
                        diag_at(diag, block, "points", "point %s does not fit in one request (see max_registers)%s",
                                pts[i].name, "");
                        r = -EINVAL;
                } else {
                        mb_plan_free(&pl);
                }
        }
        free(pts);
        return r;
}

typedef struct mb_state {
        mb_transport *t;
        mb_dev *dev;
} mb_state;

static int modbus_init(const dcem_collector_env *env, const struct dcem_device_conf *dev, const void *conf,
                       void **ret_state, char *errbuf, size_t errlen) {
        const mb_conf *c = conf;
        dcem_diag diag = { 0 };
        mb_addr a;
        const char *why = "";
        mb_point *pts = NULL;
        size_t n = 0;
        bool sunspec = false;
        int r;

        if (mb_addr_parse(c->address, &a, &why) < 0) {
                snprintf(errbuf, errlen, "address '%s': %s", c->address ? c->address : "", why);
                return -EINVAL;
        }
        r = block_points(c, dev ? dev->modbus : NULL, env->profiles_dir, &pts, &n, &sunspec, &diag);
        if (r < 0) {
                snprintf(errbuf, errlen, "%s", diag.n ? diag.msgs[0] : "cannot load the points");
                dcem_diag_clear(&diag);
                return r;
        }
        dcem_diag_clear(&diag);
        mb_state *s = calloc(1, sizeof *s);
        if (!s) {
                free(pts);
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        mb_transport_opts to = {
                .connect_timeout_ns = c->connect_timeout_ns,
                .connect_delay_ns = c->connect_delay_ns,
                .inter_frame_ns = c->inter_frame_ns,
                .max_connections = (unsigned)c->max_connections,
                .queue_cap = 1024,
        };
        r = mb_transport_get(env->loop, &a, &to, &s->t, errbuf, errlen);
        if (r < 0) {
                free(pts);
                free(s);
                return r;
        }
        mb_dev_opts o = {
                .unit = (uint8_t)(a.unit >= 0 ? a.unit : c->unit),
                .timeout_ns = c->timeout_ns,
                .retries = (unsigned)c->retries,
                .plan = plan_opts(c),
                .close_after_poll = c->close_after_poll,
                .sunspec = sunspec,
        };
        r = mb_dev_new(s->t, &o, pts, n, &s->dev, errbuf, errlen);
        free(pts);
        if (r < 0) {
                mb_transport_put(s->t);
                free(s);
                return r;
        }
        *ret_state = s;
        return 0;
}

static int modbus_poll(void *state, dcem_poll *p) {
        mb_state *s = state;
        return mb_dev_poll(s->dev, p);
}

static void modbus_cancel(void *state, dcem_poll *p) {
        mb_state *s = state;
        mb_dev_cancel(s->dev, p);
}

static void modbus_close(void *state) {
        mb_state *s = state;
        if (!s)
                return;
        mb_dev_free(s->dev);
        mb_transport_put(s->t);
        free(s);
}

const dcem_collector_ops dcem_modbus_collector = {
        .name = "modbus",
        .schema = &modbus_schema,
        .check = modbus_check,
        .init = modbus_init,
        .poll = modbus_poll,
        .cancel = modbus_cancel,
        .close = modbus_close,
};

const dcem_schema *dcem_modbus_schema(void) { return &modbus_schema; }

int dcem_modbus_requests_per_poll(const void *state) {
        const mb_state *s = state;
        return s && s->dev ? (int)mb_dev_plan(s->dev)->n : -EINVAL;
}

void dcem_modbus_stats_line(const void *state, char *buf, size_t len) {
        const mb_state *s = state;
        if (!s || !s->dev) {
                snprintf(buf, len, "none");
                return;
        }
        const mb_dev_stats *st = mb_dev_get_stats(s->dev);
        snprintf(buf, len, "requests=%llu exceptions=%llu timeouts=%llu splits=%llu polls=%llu rejected=%llu plan=%zu",
                 (unsigned long long)st->requests, (unsigned long long)st->exceptions,
                 (unsigned long long)st->timeouts, (unsigned long long)st->splits, (unsigned long long)st->polls,
                 (unsigned long long)st->rejected, mb_dev_plan(s->dev)->n);
}
