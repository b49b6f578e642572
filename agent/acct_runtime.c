/* acct_runtime.c - the accounting engine inside the running agent.
 *
 * Why a module of its own: the engine (accounting.c, rollup.c, figures.c) is
 * pure and the state file (state.c) is one call; what is left is the order of
 * things, which is where records get lost or counted twice. The rules here:
 *   - the engine is built from the configuration only (never from the
 *     devices' answers), and its state is restored before the first reading;
 *     a state that cannot be read is a refusal to start, never zeros;
 *   - records of closed intervals are handed to the publishers only after the
 *     state that closed them is on disk, and after an outbox holding them is
 *     on disk (so a crash between the two hands them over again at the next
 *     start instead of losing them: at least once, deduplicated by seq);
 *   - a wall-clock step (UTC moving against monotonic time) drops every
 *     counter baseline, so no delta spans the step;
 *   - SIGHUP saves, rebuilds and reloads; a failed rebuild keeps the old one.
 * See acct_runtime.h for the contracts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "acct_runtime.h"
#include "compute_remote.h"
#include "dcem/clock.h"
#include "dcem/ledger.h"
#include "dcem/state.h"
#include "encode_records.h"
#include "log.h"

#define STEP_THRESHOLD_NS DCEM_NS_PER_S /* a UTC-monotonic offset change beyond this is a clock step */

typedef struct rt_rec {
        bool interval;          /* an interval record (else a roll-up) */
        char stream[16];
        char *json;
        size_t len;
} rt_rec;

/* Everything built from one configuration (heap: the engine's figure
 * parameters point into it). */
typedef struct rt_gen {
        const dcem_config *cfg;
        dcem_acct_conf defconf; /* when the config carries no applied block */
        dcem_acct *a;
        dcem_rec_device *devs;
        size_t ndev;
        dcem_fig_params fig;
        dcem_rec_env env;
        int64_t interval_ns;    /* the global poll interval: tick period */
        uint64_t next_seq;      /* of the engine: next interval's record_seq */
        const char *unit_names[DCEM_ACCT_MAX_UNITS]; /* functional units (borrowed from cfg or static) */
        size_t nunits;
        dcem_remote *remote;    /* accounting.compute.remote's hosts, or NULL */
} rt_gen;

struct dcem_acct_rt {
        dcem_loop *loop;
        const dcem_clock *clock;
        dcem_acct_rt_hooks hooks;
        rt_gen *g;
        uint64_t timer;
        bool have_off;
        int64_t off;            /* utc - mono at the last tick */
        rt_rec *pend;           /* records waiting for the state save */
        size_t npend, cappend;
        size_t committed;       /* pend[0..committed): from the outbox, state already covers them */
        dcem_rec_event *ev;     /* events waiting for their interval */
        size_t nev;
        uint64_t ev_dropped;    /* since the last interval record */
        dcem_rec_live live;     /* the last live intensity (conf pointer refreshed per generation) */
        int64_t closed_months[8];
        size_t nclosed_months;
        dcem_acct_rt_stats st;
        dcem_ratelimit rl, rl_ev;
        dcem_ledger *ledger;    /* accounting.ledger, or NULL (disabled, or refused at open: logged) */
};

/* ---- records waiting for the save ---- */

static void rec_free(rt_rec *r) {
        free(r->json);
        r->json = NULL;
}

/* Take ownership of json. Drops the oldest beyond the cap (counted). */
static int pend_push(dcem_acct_rt *rt, bool interval, const char *stream, char *json, size_t len) {
        if (rt->npend >= DCEM_ACCT_RT_MAX_PENDING) {
                rec_free(&rt->pend[0]);
                memmove(&rt->pend[0], &rt->pend[1], (rt->npend - 1) * sizeof(rt->pend[0]));
                rt->npend--;
                if (rt->committed > 0)
                        rt->committed--;
                rt->st.pending_dropped++;
        }
        if (rt->npend == rt->cappend) {
                size_t nc = rt->cappend ? rt->cappend * 2 : 16;
                rt_rec *n = realloc(rt->pend, nc * sizeof(*n));
                if (!n) {
                        free(json);
                        rt->st.pending_dropped++;
                        return -ENOMEM;
                }
                rt->pend = n;
                rt->cappend = nc;
        }
        rt_rec *r = &rt->pend[rt->npend++];
        r->interval = interval;
        snprintf(r->stream, sizeof r->stream, "%s", stream);
        r->json = json;
        r->len = len;
        return 0;
}

/* Chain an interval record into the ledger and hand its entry over after
 * the record. A record already chained (handed over again after a crash)
 * gets its existing entry published again, not a second one. A ledger that
 * fails never holds the record back: the failure is logged and counted, and
 * the gap is visible to a verifier as a jump in record_seq. */
static void ledger_chain(dcem_acct_rt *rt, const rt_rec *r, char **ret_entry, size_t *ret_len) {
        *ret_entry = NULL;
        json_t *o = json_loadb(r->json, r->len, 0, NULL);
        json_t *js = o ? json_object_get(o, "record_seq") : NULL;
        json_int_t seq = json_is_integer(js) ? json_integer_value(js) : -1;
        json_decref(o);
        char err[512] = "";
        int k = seq >= 0 ? dcem_ledger_append(rt->ledger, r->stream, (uint64_t)seq, r->json, r->len,
                                             dcem_clock_utc(rt->clock), ret_entry, ret_len, err, sizeof err)
                        : -EINVAL;
        if (k == 1)
                k = dcem_ledger_entry_of(rt->ledger, r->stream, (uint64_t)seq, ret_entry, ret_len);
        if (k == 0) {
                rt->st.ledger_entries++;
                return;
        }
        rt->st.ledger_failures++;
        dcem_log_limited(&rt->rl, dcem_clock_mono(rt->clock), LOG_ERR,
                         "accounting: ledger: interval record %lld not chained: %s", (long long)seq,
                         err[0] ? err : strerror(k < 0 ? -k : ENOENT));
}

/* Hand pend[0..n) to the publishers and remove them. */
static void pend_hand_over(dcem_acct_rt *rt, size_t n) {
        for (size_t i = 0; i < n; i++) {
                rt_rec *r = &rt->pend[i];
                char *entry = NULL;
                size_t elen = 0;
                if (r->interval && rt->ledger)
                        ledger_chain(rt, r, &entry, &elen);
                if (rt->hooks.record)
                        rt->hooks.record(rt->hooks.ud, r->stream, r->json, r->len);
                if (entry && rt->hooks.record)
                        rt->hooks.record(rt->hooks.ud, "ledger", entry, elen);
                free(entry);
                if (r->interval)
                        rt->st.intervals++;
                else
                        rt->st.rollups++;
                rec_free(r);
        }
        memmove(&rt->pend[0], &rt->pend[n], (rt->npend - n) * sizeof(rt->pend[0]));
        rt->npend -= n;
        rt->committed = rt->committed > n ? rt->committed - n : 0;
}

/* ---- engine hooks (during feed and advance) ---- */

static void on_event(void *ud, const dcem_acct_event *e) {
        dcem_acct_rt *rt = ud;
        if (rt->nev >= DCEM_ACCT_RT_MAX_EVENTS || !rt->ev) {
                rt->ev_dropped++;
                rt->st.events_dropped++;
                return;
        }
        dcem_rec_event *x = &rt->ev[rt->nev++];
        memset(x, 0, sizeof(*x));
        x->kind = e->kind;
        snprintf(x->device, sizeof x->device, "%s", e->device ? e->device : "");
        snprintf(x->point, sizeof x->point, "%s", e->point ? e->point : "");
        x->prev_ts_ns = e->prev_ts_ns;
        x->ts_ns = e->ts_ns;
        x->prev_value = e->prev_value;
        x->value = e->value;
        x->kwh = e->kwh;
        if (e->kind != DCEM_EV_RESUMED && e->kind != DCEM_EV_LATE)
                dcem_log_limited(&rt->rl_ev, dcem_clock_mono(rt->clock), LOG_NOTICE,
                                 "accounting: %s on %s%s%s (%.6g -> %.6g)", dcem_acct_event_name(e->kind), x->device,
                                 x->point[0] ? " " : "", x->point, e->prev_value, e->value);
}

static void on_interval(void *ud, const dcem_acct_interval *iv) {
        dcem_acct_rt *rt = ud;
        /* The events of this interval (and any older still waiting) go with it. */
        dcem_rec_event *mine = NULL;
        size_t nm = 0;
        if (rt->nev) {
                mine = malloc(rt->nev * sizeof(*mine));
                size_t keep = 0;
                for (size_t i = 0; i < rt->nev; i++) {
                        if (mine && rt->ev[i].ts_ns < iv->sums.end_ns)
                                mine[nm++] = rt->ev[i];
                        else
                                rt->ev[keep++] = rt->ev[i];
                }
                rt->nev = keep;
        }
        char *json = NULL;
        size_t len = 0;
        int r = dcem_rec_interval(&rt->g->env, iv, mine, nm, rt->ev_dropped, &json, &len);
        free(mine);
        rt->ev_dropped = 0;
        rt->g->next_seq = iv->seq + 1;
        if (r < 0) {
                log_error("accounting: cannot encode interval record %" PRIu64 ": %s", iv->seq, strerror(-r));
                rt->st.pending_dropped++;
                return;
        }
        pend_push(rt, true, "intervals", json, len);
}

static void on_rollup(void *ud, dcem_window_kind kind, const dcem_acct_sums *s) {
        dcem_acct_rt *rt = ud;
        char *json = NULL;
        size_t len = 0;
        uint64_t last = rt->g->next_seq ? rt->g->next_seq - 1 : 0;
        if (kind == DCEM_WIN_MONTH && rt->nclosed_months < sizeof rt->closed_months / sizeof rt->closed_months[0])
                rt->closed_months[rt->nclosed_months++] = dcem_month_of(s->start_ns);
        int r = dcem_rec_window(&rt->g->env, kind, s, last, &json, &len);
        if (r < 0) {
                log_error("accounting: cannot encode the %s record: %s", dcem_window_name(kind), strerror(-r));
                rt->st.pending_dropped++;
                return;
        }
        pend_push(rt, false, "intervals", json, len);
}

/* ---- building ---- */

static void gen_free(rt_gen *g) {
        if (!g)
                return;
        dcem_acct_free(g->a);
        dcem_remote_free(g->remote);
        free(g->devs);
        free(g);
}

static bool is_host_device(const dcem_device_conf *d) {
        return d->host != NULL || (d->collector && d->collector->name && !strcmp(d->collector->name, "host"));
}

static const dcem_device_conf *find_device(const dcem_config *cfg, const char *name) {
        const dcem_device_conf *d = dcem_config_devices(cfg);
        for (size_t i = 0; i < dcem_config_ndevices(cfg); i++)
                if (!strcmp(d[i].name, name))
                        return &d[i];
        return NULL;
}

/* Count one functional unit from one device. 0 or -errno (logged). */
static int unit_add(rt_gen *g, unsigned k, const dcem_device_conf *d, const char *point, double scale) {
        int r = dcem_acct_add_unit(g->a, k, d->name, point, scale, d->interval_ns > 0 ? d->interval_ns : g->interval_ns);
        if (r < 0)
                log_error("accounting: compute unit %s: cannot count %s of device %s: %s", g->unit_names[k], point,
                          d->name, strerror(-r));
        return r;
}

/* The functional units of carbon per unit of compute: accounting.compute.units,
 * or the defaults: cpu_core_hour (cpu_core_seconds / 3600) of the
 * cpu_core_hours device or of every host device, and gpu_hour
 * (gpu_busy_seconds / 3600) of every host device. 0 or -errno (logged). */
/* Count one functional unit from a remote host ("SITE/DEVICE"), polled at
 * the hosts' interval. 0 or -errno (logged). */
static int remote_unit_add(rt_gen *g, unsigned k, const dcem_acct_conf *conf, const char *host, const char *point,
                           double scale) {
        int r = dcem_acct_add_unit(g->a, k, host, point, scale, conf->compute.remote.interval_ns);
        if (r < 0)
                log_error("accounting: compute unit %s: cannot count %s of remote host %s: %s", g->unit_names[k], point,
                          host, strerror(-r));
        return r;
}

/* Is name one of compute.remote.hosts? */
static bool is_remote_host(const dcem_acct_conf *conf, const char *name) {
        const dcem_strlist *h = &conf->compute.remote.hosts;
        for (size_t i = 0; i < h->n; i++)
                if (!strcmp(h->items[i], name))
                        return true;
        return false;
}

/* Every remote host into unit k. 0 or -EINVAL. */
static int remote_all(rt_gen *g, unsigned k, const dcem_acct_conf *conf, const char *point, double scale) {
        const dcem_strlist *h = &conf->compute.remote.hosts;
        for (size_t i = 0; i < h->n; i++)
                if (remote_unit_add(g, k, conf, h->items[i], point, scale) < 0)
                        return -EINVAL;
        return 0;
}

static int units_setup(rt_gen *g, const dcem_config *cfg, const dcem_acct_conf *conf) {
        const dcem_acct_unit_conf *u = conf->compute.units.items;
        size_t n = conf->compute.units.n;
        const dcem_device_conf *d = dcem_config_devices(cfg);
        size_t nd = dcem_config_ndevices(cfg);
        size_t nremote = conf->compute.remote.hosts.n;
        if (n > DCEM_ACCT_MAX_UNITS) {
                log_error("accounting: compute.units: at most %d", DCEM_ACCT_MAX_UNITS);
                return -E2BIG;
        }
        for (size_t k = 0; k < n; k++) {
                g->unit_names[k] = u[k].name;
                double scale = u[k].scale / u[k].divisor;
                if (u[k].devices.n == 0) {
                        for (size_t i = 0; i < nd; i++)
                                if (is_host_device(&d[i]) && unit_add(g, (unsigned)k, &d[i], u[k].point, scale) < 0)
                                        return -EINVAL;
                        if (remote_all(g, (unsigned)k, conf, u[k].point, scale) < 0)
                                return -EINVAL;
                        continue;
                }
                for (size_t j = 0; j < u[k].devices.n; j++) {
                        const dcem_device_conf *x = find_device(cfg, u[k].devices.items[j]);
                        if (!x && is_remote_host(conf, u[k].devices.items[j])) {
                                if (remote_unit_add(g, (unsigned)k, conf, u[k].devices.items[j], u[k].point, scale) < 0)
                                        return -EINVAL;
                                continue;
                        }
                        if (!x) {
                                log_error("accounting: compute.units[%zu] (%s): no device named %s", k, u[k].name,
                                          u[k].devices.items[j]);
                                return -EINVAL;
                        }
                        if (unit_add(g, (unsigned)k, x, u[k].point, scale) < 0)
                                return -EINVAL;
                }
        }
        g->nunits = n;
        if (n > 0)
                return 0;
        /* defaults */
        size_t nhost = 0;
        for (size_t i = 0; i < nd; i++)
                nhost += is_host_device(&d[i]);
        const dcem_device_conf *cpu_dev = NULL;
        const char *cpu_remote = NULL;
        if (conf->compute.cpu_core_hours) {
                cpu_dev = find_device(cfg, conf->compute.cpu_core_hours);
                if (!cpu_dev && is_remote_host(conf, conf->compute.cpu_core_hours))
                        cpu_remote = conf->compute.cpu_core_hours;
                if (!cpu_dev && !cpu_remote) {
                        log_error("accounting: compute.cpu_core_hours: no device named %s",
                                  conf->compute.cpu_core_hours);
                        return -EINVAL;
                }
        }
        if (!cpu_dev && !cpu_remote && nhost == 0 && nremote == 0)
                return 0;
        g->unit_names[0] = "cpu_core_hour";
        g->nunits = 1;
        if (cpu_dev) {
                if (unit_add(g, 0, cpu_dev, "cpu_core_seconds", 1.0 / 3600) < 0)
                        return -EINVAL;
        } else if (cpu_remote) {
                if (remote_unit_add(g, 0, conf, cpu_remote, "cpu_core_seconds", 1.0 / 3600) < 0)
                        return -EINVAL;
        } else {
                for (size_t i = 0; i < nd; i++)
                        if (is_host_device(&d[i]) && unit_add(g, 0, &d[i], "cpu_core_seconds", 1.0 / 3600) < 0)
                                return -EINVAL;
                if (remote_all(g, 0, conf, "cpu_core_seconds", 1.0 / 3600) < 0)
                        return -EINVAL;
        }
        if (nhost > 0 || nremote > 0) {
                g->unit_names[1] = "gpu_hour";
                g->nunits = 2;
                for (size_t i = 0; i < nd; i++)
                        if (is_host_device(&d[i]) && unit_add(g, 1, &d[i], "gpu_busy_seconds", 1.0 / 3600) < 0)
                                return -EINVAL;
                if (remote_all(g, 1, conf, "gpu_busy_seconds", 1.0 / 3600) < 0)
                        return -EINVAL;
        }
        return 0;
}

/* Build the engine for cfg (no state loaded). 0 or -errno (logged). */
static int gen_new(dcem_acct_rt *rt, const dcem_config *cfg, rt_gen **ret) {
        rt_gen *g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->cfg = cfg;
        g->interval_ns = cfg->interval_ns > 0 ? cfg->interval_ns : 10 * DCEM_NS_PER_S;
        const dcem_acct_conf *conf = cfg->accounting_conf;
        if (!conf) {
                dcem_acct_conf_defaults(&g->defconf);
                conf = &g->defconf;
        }
        dcem_acct_hooks h = { .interval = on_interval, .rollup = on_rollup, .event = on_event, .ud = rt };
        int r = dcem_acct_new(conf, &h, &g->a);
        if (r < 0) {
                log_error("accounting: invalid accounting configuration: %s", strerror(-r));
                gen_free(g);
                return r;
        }
        size_t n = dcem_config_ndevices(cfg);
        g->devs = calloc(n ? n : 1, sizeof(*g->devs));
        if (!g->devs) {
                gen_free(g);
                return -ENOMEM;
        }
        const dcem_device_conf *d = dcem_config_devices(cfg);
        for (size_t i = 0; i < n; i++) {
                if (d[i].role == DCEM_ROLE_NONE)
                        continue;
                dcem_acct_device spec = {
                        .name = d[i].name, .role = (dcem_role)d[i].role,
                        .pue_category = d[i].role == DCEM_ROLE_IT ? (int)d[i].pue_category : 0,
                        .rated_kw = d[i].rated_kw, .poll_interval_ns = d[i].interval_ns,
                        .counter_bits = (unsigned)d[i].meter.counter_bits,
                        .counter_scale_kwh = d[i].meter.resolution_kwh,
                        .source = (dcem_acct_source)d[i].meter.energy_source,
                };
                r = dcem_acct_add_device(g->a, &spec);
                if (r < 0) {
                        log_error("accounting: device %s: cannot account for it: %s", d[i].name, strerror(-r));
                        gen_free(g);
                        return r;
                }
                g->devs[g->ndev++] = (dcem_rec_device){ .name = d[i].name, .role = (dcem_role)d[i].role,
                                                        .pue_category = spec.pue_category, .meter = &d[i].meter };
        }
        r = units_setup(g, cfg, conf);
        if (r < 0) {
                gen_free(g);
                return r;
        }
        if (conf->compute.remote.hosts.n > 0) {
                size_t bad = 0;
                r = dcem_remote_new(&conf->compute.remote.hosts, &g->remote, &bad);
                if (r < 0) {
                        log_error("accounting: compute.remote.hosts[%zu]: not a valid SITE/DEVICE, or declared twice",
                                  bad);
                        gen_free(g);
                        return r;
                }
        }
        const dcem_acct_conf *ec = dcem_acct_config(g->a);
        g->fig = (dcem_fig_params){ .completeness_threshold = ec->completeness_threshold, .carbon = &ec->carbon,
                                    .compute = &ec->compute, .targets = &ec->targets,
                                    .unit_names = g->unit_names, .nunit_names = g->nunits };
        g->env = (dcem_rec_env){ .devices = g->devs, .ndev = g->ndev, .fig = &g->fig,
                                 .record_interval_ns = ec->record_interval_ns,
                                 .realtime_window_ns = ec->realtime_window_ns, .live = &rt->live,
                                 .remote = g->remote };
        *ret = g;
        return 0;
}

/* What the restored state already counted of each remote host: messages
 * stamped at or before it (a broker redelivering after our restart) are old. */
static void remote_seed(rt_gen *g) {
        for (size_t i = 0; g->remote && i < dcem_remote_nhosts(g->remote); i++) {
                int64_t ts;
                if (dcem_acct_source_last_ts(g->a, dcem_remote_host_at(g->remote, i)->key, &ts) == 0)
                        dcem_remote_seed(g->remote, i, ts);
        }
}

/* Restore g's state from the state directory. 0 (also: no state, a first
 * start, logged) or -errno (logged with the reason). */
static int gen_load(dcem_acct_rt *rt, rt_gen *g, dcem_state_info *ret_info, bool *ret_found) {
        const char *dir = g->cfg->state_dir;
        char err[512] = "";
        *ret_found = false;
        if (!dir || !*dir) {
                log_error("accounting: no state_dir: the accounting cannot persist its state");
                return -EINVAL;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                int r = -errno;
                log_error("accounting: cannot create the state directory %s: %s", dir, strerror(-r));
                return r;
        }
        dcem_state_info info = { 0 };
        int r = dcem_state_load(dir, g->a, dcem_clock_utc(rt->clock), &info, err, sizeof err);
        if (r == -ENOENT) {
                log_info("accounting: no state in %s: first start, intervals begin with the first readings", dir);
                return 0;
        }
        if (r < 0) {
                log_error("accounting: cannot restore the accounting state: %s%s", err[0] ? err : strerror(-r),
                          r == -EBADMSG || r == -EINVAL
                                  ? " (refusing to start rather than lose or double-count energy; move the file away "
                                    "to start a new accounting)"
                                  : "");
                return r;
        }
        char ts[DCEM_TS_MAX];
        log_info("accounting: state restored from %s (saved %s): next interval seq %" PRIu64
                 ", %zu device baselines restored, %zu dropped, %zu new, %zu open intervals, %zu certificate entries",
                 dir, dcem_format_utc(info.saved_ns, ts), info.next_seq, info.devices_restored, info.devices_dropped,
                 info.devices_new, info.open_intervals, info.certificates);
        g->next_seq = info.next_seq;
        *ret_found = true;
        remote_seed(g);
        if (ret_info)
                *ret_info = info;
        return 0;
}

/* ---- the outbox ---- */

static int outbox_path(const rt_gen *g, char *buf, size_t len, bool tmp) {
        if (snprintf(buf, len, "%s/%s%s", g->cfg->state_dir, DCEM_ACCT_OUTBOX_FILE, tmp ? ".tmp" : "") >= (int)len)
                return -ENAMETOOLONG;
        return 0;
}

/* Write the pending records with the seq the state will have once saved. */
static int outbox_write(dcem_acct_rt *rt) {
        char path[PATH_MAX], tmp[PATH_MAX];
        if (outbox_path(rt->g, path, sizeof path, false) < 0 || outbox_path(rt->g, tmp, sizeof tmp, true) < 0)
                return -ENAMETOOLONG;
        json_t *recs = json_array();
        for (size_t i = 0; recs && i < rt->npend; i++)
                json_array_append_new(recs, json_pack("{s:s,s:b,s:s%}", "stream", rt->pend[i].stream, "interval",
                                                      rt->pend[i].interval, "json", rt->pend[i].json,
                                                      rt->pend[i].len));
        json_t *doc = json_pack("{s:s,s:I,s:o}", "format", "dcem-accounting-outbox", "after_seq",
                                (json_int_t)rt->g->next_seq, "records", recs);
        char *txt = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!txt)
                return -ENOMEM;
        int r = 0;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                free(txt);
                return -errno;
        }
        size_t n = strlen(txt), off = 0;
        while (off < n) {
                ssize_t w = write(fd, txt + off, n - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                off += (size_t)w;
        }
        free(txt);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r; /* the state save that follows fsyncs the directory */
}

static void outbox_remove(dcem_acct_rt *rt) {
        char path[PATH_MAX];
        if (outbox_path(rt->g, path, sizeof path, false) == 0 && unlink(path) < 0 && errno != ENOENT)
                log_warning("accounting: cannot remove %s: %s", path, strerror(errno));
}

/* At start: the outbox a crash left. Its records are handed over again when
 * the state saved after them (state seq >= after_seq); otherwise the state is
 * older and the engine will close those intervals again. */
static void outbox_recover(dcem_acct_rt *rt, bool state_found) {
        char path[PATH_MAX];
        if (outbox_path(rt->g, path, sizeof path, false) < 0)
                return;
        json_error_t je;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
                if (access(path, F_OK) == 0)
                        log_warning("accounting: %s:%d:%d: unreadable outbox (%s): ignored", path, je.line, je.column,
                                    je.text);
                return;
        }
        json_t *recs = json_object_get(doc, "records"), *as = json_object_get(doc, "after_seq");
        if (!json_is_array(recs) || !json_is_integer(as)) {
                log_warning("accounting: %s: not an outbox: ignored", path);
        } else if (!state_found || (uint64_t)json_integer_value(as) > rt->g->next_seq) {
                log_info("accounting: %s: the state was not saved after these %zu records: they will be made again",
                         path, json_array_size(recs));
        } else {
                size_t i;
                json_t *v;
                json_array_foreach(recs, i, v) {
                        json_t *s = json_object_get(v, "stream"), *j = json_object_get(v, "json");
                        if (!json_is_string(s) || !json_is_string(j))
                                continue;
                        char *copy = strdup(json_string_value(j));
                        if (!copy || pend_push(rt, json_is_true(json_object_get(v, "interval")),
                                               json_string_value(s), copy, strlen(copy)) < 0)
                                continue;
                        rt->committed = rt->npend;
                }
                log_notice("accounting: %zu records of the last run were saved but maybe not published: handing "
                           "them over again (consumers drop duplicates by record_seq)", rt->committed);
        }
        json_decref(doc);
}

/* ---- the ledger ---- */

/* (Re)open accounting.ledger for the current generation: the key file
 * relative to the configuration file's directory, the files under
 * <state_dir>/ledger. A ledger that cannot be opened is logged and left off:
 * the records still flow. */
static void ledger_open(dcem_acct_rt *rt) {
        dcem_ledger_close(rt->ledger);
        rt->ledger = NULL;
        const dcem_acct_ledger_conf *lc = &dcem_acct_config(rt->g->a)->ledger;
        if (!lc->enabled)
                return;
        const dcem_config *cfg = rt->g->cfg;
        char dir[4096], key[4096];
        const char *keyp = lc->key_file;
        if (snprintf(dir, sizeof dir, "%s/ledger", cfg->state_dir) >= (int)sizeof dir) {
                log_error("accounting: ledger: state_dir too long");
                return;
        }
        if (keyp && keyp[0] != '/' && cfg->file && strrchr(cfg->file, '/')) {
                int dl = (int)(strrchr(cfg->file, '/') - cfg->file);
                if (snprintf(key, sizeof key, "%.*s/%s", dl, cfg->file, keyp) >= (int)sizeof key) {
                        log_error("accounting: ledger: key_file path too long");
                        return;
                }
                keyp = key;
        }
        dcem_ledger_conf c = { .dir = dir, .key_file = keyp, .sign_every = (unsigned)lc->sign_every, .fsync = lc->fsync };
        bool repaired = false;
        char err[1024] = "";
        int r = dcem_ledger_open(&c, cfg->site, &rt->ledger, &repaired, err, sizeof err);
        if (r < 0) {
                rt->st.ledger_failures++;
                log_error("accounting: ledger refused, interval records are published but NOT chained: %s", err);
                return;
        }
        if (repaired)
                log_warning("accounting: ledger: cut a torn last line in %s (a crash mid-write); the chain goes on from "
                            "entry %" PRIu64, dir, dcem_ledger_last_seq(rt->ledger));
        if (!keyp)
                log_warning("accounting: ledger: no key_file: entries are chained but not signed (make a key with "
                            "`dcem-agent ledger keygen PATH`)");
        log_info("accounting: ledger %s: chain at entry %" PRIu64 "%s", dir, dcem_ledger_last_seq(rt->ledger),
                 keyp ? ", signed" : "");
}

/* ---- public ---- */


int dcem_acct_rt_new(dcem_loop *loop, const dcem_config *cfg, const dcem_acct_rt_hooks *hooks, dcem_acct_rt **ret) {
        dcem_acct_rt *rt = calloc(1, sizeof(*rt));
        if (!rt)
                return -ENOMEM;
        rt->loop = loop;
        rt->clock = dcem_loop_clock(loop);
        if (hooks)
                rt->hooks = *hooks;
        rt->rl = (dcem_ratelimit)DCEM_RATELIMIT(60 * DCEM_NS_PER_S, 5);
        rt->rl_ev = (dcem_ratelimit)DCEM_RATELIMIT(60 * DCEM_NS_PER_S, 20);
        rt->ev = calloc(DCEM_ACCT_RT_MAX_EVENTS, sizeof(*rt->ev));
        int r = rt->ev ? gen_new(rt, cfg, &rt->g) : -ENOMEM;
        bool found = false;
        if (r == 0)
                r = gen_load(rt, rt->g, NULL, &found);
        if (r < 0) {
                dcem_acct_rt_free(rt);
                return r;
        }
        outbox_recover(rt, found);
        ledger_open(rt);
        *ret = rt;
        return 0;
}

static int64_t next_tick_mono(const dcem_acct_rt *rt) {
        int64_t utc = dcem_clock_utc(rt->clock), mono = dcem_clock_mono(rt->clock);
        int64_t iv = rt->g->interval_ns, half = iv / 2;
        int64_t slot = ((utc - half) / iv + 1) * iv + half;
        return mono + (slot - utc);
}

static void on_timer(dcem_loop *l, uint64_t id, void *ud) {
        dcem_acct_rt *rt = ud;
        (void)id;
        rt->timer = 0;
        (void)dcem_acct_rt_tick(rt);
        dcem_loop_add_timer(l, next_tick_mono(rt), on_timer, rt, &rt->timer);
}

int dcem_acct_rt_start(dcem_acct_rt *rt) {
        if (rt->committed > 0) {
                rt->st.replayed += rt->committed;
                pend_hand_over(rt, rt->committed);
                if (rt->npend == 0)
                        outbox_remove(rt);
        } else if (rt->npend == 0) {
                outbox_remove(rt);
        }
        if (rt->timer)
                dcem_loop_cancel_timer(rt->loop, rt->timer);
        rt->timer = 0;
        return dcem_loop_add_timer(rt->loop, next_tick_mono(rt), on_timer, rt, &rt->timer);
}

void dcem_acct_rt_feed(dcem_acct_rt *rt, const dcem_batch *b) {
        int r = dcem_acct_feed_batch(rt->g->a, b);
        if (r == 0 || r == -ENOENT)
                return;
        rt->st.feed_errors++;
        dcem_log_limited(&rt->rl, dcem_clock_mono(rt->clock), LOG_WARNING, "accounting: device %s: reading refused: %s",
                         b->device, r == -EINVAL ? "energy or power in a unit other than Wh/kWh/MWh or W/kW/MW"
                                                 : strerror(-r));
}

/* Save the state; on success hand over every pending record. */
static int commit(dcem_acct_rt *rt, int64_t now) {
        if (rt->npend == 0)
                return 0;
        char err[512] = "";
        int r = outbox_write(rt);
        if (r < 0) {
                rt->st.save_failures++;
                dcem_log_limited(&rt->rl, dcem_clock_mono(rt->clock), LOG_ERR,
                                 "accounting: cannot write the outbox in %s: %s (%zu records wait)",
                                 rt->g->cfg->state_dir, strerror(-r), rt->npend);
                return r;
        }
        r = dcem_state_save(rt->g->cfg->state_dir, rt->g->a, now, err, sizeof err);
        if (r < 0) {
                rt->st.save_failures++;
                dcem_log_limited(&rt->rl, dcem_clock_mono(rt->clock), LOG_ERR,
                                 "accounting: cannot save the state: %s (%zu records wait for the next save)", err,
                                 rt->npend);
                return r;
        }
        rt->st.saves++;
        pend_hand_over(rt, rt->npend);
        outbox_remove(rt);
        return 0;
}

static void emit_metrics(dcem_acct_rt *rt, int64_t now) {
        dcem_acct_sums s_rt, s_day, s_month;
        bool h_rt = dcem_acct_window(rt->g->a, DCEM_WIN_REALTIME, now, &s_rt) == 0;
        bool h_day = dcem_acct_window(rt->g->a, DCEM_WIN_DAY, now, &s_day) == 0;
        bool h_month = dcem_acct_window(rt->g->a, DCEM_WIN_MONTH, now, &s_month) == 0;
        char *json = NULL;
        size_t len = 0;
        rt->live.conf = &dcem_acct_config(rt->g->a)->live_intensity;
        if (dcem_rec_metrics(&rt->g->env, now, h_rt ? &s_rt : NULL, h_day ? &s_day : NULL, h_month ? &s_month : NULL,
                             &json, &len) < 0)
                return;
        if (rt->hooks.record)
                rt->hooks.record(rt->hooks.ud, "metrics", json, len);
        rt->st.metrics++;
        free(json);
}

int dcem_acct_rt_tick(dcem_acct_rt *rt) {
        int64_t now = dcem_clock_utc(rt->clock), off = now - dcem_clock_mono(rt->clock);
        if (rt->have_off && (off - rt->off > STEP_THRESHOLD_NS || rt->off - off > STEP_THRESHOLD_NS)) {
                log_warning("accounting: the wall clock stepped by %+.3f s: counter baselines dropped (no energy "
                            "is counted across the step; the gap shows in completeness)",
                            (double)(off - rt->off) / (double)DCEM_NS_PER_S);
                dcem_acct_clock_step(rt->g->a, now);
                rt->st.clock_steps++;
        }
        rt->off = off;
        rt->have_off = true;
        rt->nclosed_months = 0;
        int r = dcem_acct_advance(rt->g->a, now);
        if (r < 0)
                log_error("accounting: cannot close intervals: %s", strerror(-r));
        /* A closed month also closes a rolling 12 months and updates its year. */
        for (size_t i = 0; i < rt->nclosed_months; i++) {
                int64_t ref = dcem_month_start_ns(rt->closed_months[i] + 1);
                dcem_window_kind kinds[2] = { DCEM_WIN_ROLLING12, DCEM_WIN_YEAR };
                for (int k = 0; k < 2; k++) {
                        dcem_acct_sums s;
                        char *json = NULL;
                        size_t len = 0;
                        if (dcem_acct_window(rt->g->a, kinds[k], kinds[k] == DCEM_WIN_YEAR ? ref - 1 : ref, &s) == 0 &&
                            dcem_rec_window(&rt->g->env, kinds[k], &s, rt->g->next_seq ? rt->g->next_seq - 1 : 0, &json,
                                            &len) == 0)
                                pend_push(rt, false, "intervals", json, len);
                }
        }
        int c = commit(rt, now);
        emit_metrics(rt, now);
        return r < 0 ? r : c;
}

int dcem_acct_rt_reload(dcem_acct_rt *rt, const dcem_config *cfg) {
        char err[512] = "";
        int64_t now = dcem_clock_utc(rt->clock);
        int r = commit(rt, now);
        if (r == 0)
                r = dcem_state_save(rt->g->cfg->state_dir, rt->g->a, now, err, sizeof err);
        if (r < 0) {
                log_error("accounting: reload: cannot save the state first: %s: keeping the running configuration",
                          err[0] ? err : strerror(-r));
                return r;
        }
        rt_gen *g = NULL;
        r = gen_new(rt, cfg, &g);
        bool found = false;
        if (r == 0 && strcmp(cfg->state_dir, rt->g->cfg->state_dir) != 0) {
                /* A new state directory: carry the state over through a save there. */
                if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST)
                        r = -errno;
                else
                        r = dcem_state_save(cfg->state_dir, rt->g->a, now, err, sizeof err);
                if (r < 0)
                        log_error("accounting: reload: cannot write the state to %s: %s", cfg->state_dir,
                                  err[0] ? err : strerror(-r));
        }
        if (r == 0)
                r = gen_load(rt, g, NULL, &found);
        if (r < 0) {
                gen_free(g);
                log_error("accounting: reload refused: keeping the running accounting configuration");
                return r;
        }
        gen_free(rt->g);
        rt->g = g;
        ledger_open(rt);
        log_info("accounting: reloaded (%zu devices)", g->ndev);
        if (rt->timer) {
                dcem_loop_cancel_timer(rt->loop, rt->timer);
                rt->timer = 0;
                return dcem_loop_add_timer(rt->loop, next_tick_mono(rt), on_timer, rt, &rt->timer);
        }
        return 0;
}

int dcem_acct_rt_stop(dcem_acct_rt *rt) {
        if (rt->timer)
                dcem_loop_cancel_timer(rt->loop, rt->timer);
        rt->timer = 0;
        (void)dcem_acct_rt_tick(rt);
        char err[512] = "";
        int64_t now = dcem_clock_utc(rt->clock);
        int r = commit(rt, now);
        if (r == 0)
                r = dcem_state_save(rt->g->cfg->state_dir, rt->g->a, now, err, sizeof err);
        if (r < 0)
                log_error("accounting: cannot save the state at stop: %s", err[0] ? err : strerror(-r));
        else
                rt->st.saves++;
        return r;
}

void dcem_acct_rt_get_stats(const dcem_acct_rt *rt, dcem_acct_rt_stats *ret) {
        *ret = rt->st;
        ret->next_seq = rt->g->next_seq;
}

const char *dcem_acct_rt_live_topic(const dcem_acct_rt *rt) {
        return dcem_acct_config(rt->g->a)->live_intensity.topic;
}

int dcem_acct_rt_live_intensity(dcem_acct_rt *rt, const char *payload, size_t len) {
        const dcem_acct_live_conf *c = &dcem_acct_config(rt->g->a)->live_intensity;
        if (!c->topic)
                return -ENOENT;
        double g;
        if (dcem_live_intensity_parse(payload, len, (dcem_live_unit)c->unit, &g) < 0) {
                dcem_log_limited(&rt->rl, dcem_clock_mono(rt->clock), LOG_WARNING,
                                 "accounting: live intensity on %s: not a number in range (%.*s): ignored", c->topic,
                                 (int)(len < 64 ? len : 64), payload);
                return -EINVAL;
        }
        rt->live.have = true;
        rt->live.g_per_kwh = g;
        rt->live.received_ns = dcem_clock_utc(rt->clock);
        return 0;
}

const char *dcem_acct_rt_remote_topic(const dcem_acct_rt *rt) {
        const dcem_acct_remote_conf *c = &dcem_acct_config(rt->g->a)->compute.remote;
        return rt->g->remote && c->hosts.n > 0 ? c->topic : NULL;
}

int dcem_acct_rt_remote_message(dcem_acct_rt *rt, const char *topic, const char *payload, size_t len) {
        dcem_remote *rm = rt->g->remote;
        if (!rm)
                return -ENOENT;
        if (!dcem_remote_topic_wanted(rm, topic))
                return -ENOENT; /* another device's messages: not even parsed */
        dcem_remote_msg *m = malloc(sizeof(*m));
        if (!m)
                return -ENOMEM;
        char err[160];
        int r = dcem_remote_parse(payload, len, m, err, sizeof err);
        if (r < 0) {
                dcem_remote_count_invalid(rm);
                dcem_log_limited(&rt->rl, dcem_clock_mono(rt->clock), LOG_WARNING,
                                 "accounting: compute.remote: message on %s is not a device message (%s): ignored",
                                 topic, err);
                free(m);
                return r;
        }
        size_t h = 0;
        r = dcem_remote_accept(rm, m, &h);
        if (r == 0) {
                const char *key = dcem_remote_host_at(rm, h)->key;
                for (size_t i = 0; i < m->npoints; i++) {
                        const dcem_remote_point *p = &m->points[i];
                        /* only the points a unit counts are taken (energy_kwh of a host is not
                           the facility's energy: no device of that name is accounted) */
                        int fr = dcem_acct_feed(rt->g->a, key, p->name, p->value, p->unit, m->ts_ns, p->quality);
                        if (fr < 0 && fr != -ENOENT) {
                                rt->st.feed_errors++;
                                dcem_log_limited(&rt->rl, dcem_clock_mono(rt->clock), LOG_WARNING,
                                                 "accounting: compute.remote: %s %s refused: %s", key, p->name,
                                                 strerror(-fr));
                        }
                }
        }
        free(m);
        return r;
}

void dcem_acct_rt_remote_stats(const dcem_acct_rt *rt, dcem_remote_stats *ret) {
        memset(ret, 0, sizeof(*ret));
        if (rt->g->remote)
                dcem_remote_get_stats(rt->g->remote, ret);
}

const dcem_acct *dcem_acct_rt_engine(const dcem_acct_rt *rt) {
        return rt->g->a;
}

void dcem_acct_rt_free(dcem_acct_rt *rt) {
        if (!rt)
                return;
        if (rt->timer)
                dcem_loop_cancel_timer(rt->loop, rt->timer);
        for (size_t i = 0; i < rt->npend; i++)
                rec_free(&rt->pend[i]);
        free(rt->pend);
        free(rt->ev);
        gen_free(rt->g);
        dcem_ledger_close(rt->ledger);
        free(rt);
}
