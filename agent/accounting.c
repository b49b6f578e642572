/* accounting.c - the accounting engine: readings to energy to interval records.
 *
 * Energy comes from differences of cumulative counters (METRICS.md rule 2).
 * A delta is checked before it becomes energy (rule 3): a drop is a wrap at
 * the register width (counted modulo 2^bits, exact) or a reset / meter
 * replacement (not counted); a delta beyond rated_kw x elapsed is a jump (not
 * counted); a stamp going back is a clock event (not counted); each is an
 * event. Power-only devices are integrated by the trapezoid rule and flagged
 * estimated. Every delta is split across the UTC interval grid in proportion
 * to time (rule 6), so each interval gets exactly its energy. An interval
 * closes when every device has read past its end, or a close delay after it;
 * energy for an interval already closed lands in the oldest open one, flagged
 * estimated and as an event (never dropped, never counted twice).
 *
 * Compute counters (functional units of carbon per unit of compute, e.g.
 * CPU core-seconds) ride on the same machinery: each (device, point) counted
 * is an internal counter named "DEVICE#POINT" whose deltas go to account
 * DCEM_ACC_UNIT0 + k; they count in no completeness and hold no interval open.
 *
 * Pure: no I/O, no clock. Times are UTC ns passed in by the caller.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "accounting_priv.h"
#include "dcem/clock.h"

#define NS_PER_HOUR (INT64_C(3600) * DCEM_NS_PER_S)
#define DEFAULT_JUMP_FACTOR 1.5
#define POWER_MAX_GAP_POLLS 3 /* power readings further apart are not integrated */
/* Bit of a->it_categories (whose bits 1..3 are IT categories) set once a
 * compute counter is registered: readings of other points are looked up. */
#define UNITS_PRESENT (1u << 31)
#define CATS(a) ((a)->it_categories & ~UNITS_PRESENT)

static bool is_unit(const acct_dev *d) {
        return d->spec.unit != 0;
}

static const char *const ev_names[_DCEM_EV_MAX] = {
        "counter_wrap", "counter_reset", "implausible_jump", "clock_backwards", "clock_step",
        "gap",          "late_energy",   "invalid_reading",  "resumed",
};

const char *dcem_acct_event_name(dcem_acct_event_kind k) {
        return (unsigned)k < _DCEM_EV_MAX ? ev_names[k] : "?";
}

void dcem_acct_conf_defaults(dcem_acct_conf *c) {
        memset(c, 0, sizeof(*c));
        c->record_interval_ns = 15 * 60 * DCEM_NS_PER_S;
        c->completeness_threshold = 0.95;
        c->realtime_window_ns = 5 * 60 * DCEM_NS_PER_S;
        c->close_delay_ns = 60 * DCEM_NS_PER_S;
        c->max_bridge_ns = 7 * 24 * NS_PER_HOUR;
        c->carbon.grid_factor = DCEM_CN_GRID_FACTOR;
        c->carbon.grid_factor_year = 2023;
        c->carbon.region = (char *)"CN national";
        c->carbon.source = (char *)DCEM_CN_FACTOR_SOURCE;
        c->carbon.residual_factor = DCEM_CN_RESIDUAL_FACTOR;
        c->carbon.residual_source = (char *)DCEM_CN_RESIDUAL_SOURCE;
        c->carbon.gas = (char *)"CO2";
        c->live_intensity.max_age_ns = 15 * 60 * DCEM_NS_PER_S;
        c->ledger.enabled = true;
        c->ledger.sign_every = 1;
        c->ledger.fsync = true;
}

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0)))
                q--;
        return q;
}

static int validate_conf(const dcem_acct_conf *c) {
        int64_t L = c->record_interval_ns;
        if (L < DCEM_NS_PER_S || L > NS_PER_HOUR || NS_PER_HOUR % L != 0)
                return -EINVAL;
        if (!(c->completeness_threshold > 0 && c->completeness_threshold <= 1))
                return -EINVAL;
        if (c->realtime_window_ns <= 0 || c->close_delay_ns < 0 || c->max_bridge_ns < L)
                return -EINVAL;
        if (!isfinite(c->carbon.grid_factor) || c->carbon.grid_factor < 0 || !isfinite(c->carbon.residual_factor) ||
            c->carbon.residual_factor < 0)
                return -EINVAL;
        const dcem_acct_contract_conf *k = c->green_contracts.items;
        for (size_t i = 0; i < c->green_contracts.n; i++) {
                int64_t from, to;
                if (dcem_month_from_str(k[i].from, &from) < 0)
                        return -EINVAL;
                if (k[i].to && (dcem_month_from_str(k[i].to, &to) < 0 || to < from))
                        return -EINVAL;
                if (!(k[i].kwh >= 0) || !(k[i].share >= 0 && k[i].share <= 1) || !isfinite(k[i].kwh))
                        return -EINVAL;
        }
        const dcem_acct_cert_conf *ce = c->certificates.items;
        for (size_t i = 0; i < c->certificates.n; i++) {
                char p1[24], p2[24];
                uint64_t f, l;
                int64_t m;
                if (dcem_cert_serial_parse(ce[i].serial_first, p1, &f) < 0 ||
                    dcem_cert_serial_parse(ce[i].serial_last, p2, &l) < 0 || strcmp(p1, p2) != 0 || l < f ||
                    dcem_month_from_str(ce[i].vintage, &m) < 0 || ce[i].kwh_each < 0 || !isfinite(ce[i].kwh_each))
                        return -EINVAL;
                /* a serial declared twice would be a kWh counted twice */
                for (size_t j = 0; j < i; j++) {
                        char q1[24];
                        uint64_t f2, l2;
                        if (dcem_cert_serial_parse(ce[j].serial_first, q1, &f2) < 0 ||
                            dcem_cert_serial_parse(ce[j].serial_last, q1, &l2) < 0)
                                return -EINVAL;
                        if (strcmp(q1, p1) == 0 && f <= l2 && f2 <= l)
                                return -EINVAL;
                }
        }
        return 0;
}

int dcem_acct_new(const dcem_acct_conf *conf, const dcem_acct_hooks *hooks, dcem_acct **ret) {
        int r = validate_conf(conf);
        if (r < 0)
                return r;
        dcem_acct *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->conf = *conf;
        if (hooks)
                a->hooks = *hooks;
        a->resume_ns = INT64_MIN;
        dcem_rollup_init(&a->rollup);
        *ret = a;
        return 0;
}

static void slot_free(acct_slot *s) {
        free(s->dev);
        s->dev = NULL;
}

void dcem_acct_free(dcem_acct *a) {
        if (!a)
                return;
        for (size_t i = 0; i < a->nslots; i++)
                slot_free(&a->slots[i]);
        free(a->slots);
        for (size_t i = 0; i < a->ndev; i++)
                free(a->devs[i].rt);
        free(a->devs);
        free(a->index);
        free(a->src);
        free(a->src_scratch);
        free(a->src_newest);
        dcem_cert_ledger_free(&a->ledger);
        free(a);
}

static int role_account(dcem_role role, int cat) {
        switch (role) {
        case DCEM_ROLE_GRID_IMPORT: return DCEM_ACC_GRID_IMPORT;
        case DCEM_ROLE_GRID_EXPORT: return DCEM_ACC_EXPORT;
        case DCEM_ROLE_ONSITE_RENEWABLE: return DCEM_ACC_ONSITE_RENEWABLE;
        case DCEM_ROLE_GREEN_SUPPLY: return DCEM_ACC_GREEN_SUPPLY;
        case DCEM_ROLE_IT: return DCEM_ACC_IT1 + cat - 1;
        case DCEM_ROLE_COOLING: return DCEM_ACC_COOLING;
        case DCEM_ROLE_OTHER: return DCEM_ACC_OTHER;
        default: return -1;
        }
}

static uint64_t name_hash(const char *s) {
        uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
        return h;
}

ssize_t acct_find(const dcem_acct *a, const char *name) {
        if (!a->index_cap)
                return -1;
        size_t mask = a->index_cap - 1;
        for (size_t i = (size_t)name_hash(name) & mask;; i = (i + 1) & mask) {
                uint32_t v = a->index[i];
                if (v == 0)
                        return -1;
                if (strcmp(a->devs[v - 1].name, name) == 0)
                        return (ssize_t)(v - 1);
        }
}

/* Rebuild the name index for ndev devices (+1 about to be added). 0 or -ENOMEM. */
static int index_grow(dcem_acct *a, size_t want) {
        if (a->index_cap >= 2 * want)
                return 0;
        size_t cap = 16;
        while (cap < 2 * want)
                cap *= 2;
        uint32_t *ix = calloc(cap, sizeof(*ix));
        if (!ix)
                return -ENOMEM;
        for (size_t k = 0; k < a->ndev; k++) {
                size_t i = (size_t)name_hash(a->devs[k].name) & (cap - 1);
                while (ix[i])
                        i = (i + 1) & (cap - 1);
                ix[i] = (uint32_t)k + 1;
        }
        free(a->index);
        a->index = ix;
        a->index_cap = cap;
        return 0;
}

int dcem_acct_add_device(dcem_acct *a, const dcem_acct_device *d) {
        if (a->started)
                return -EBUSY;
        if (!d->name || !d->name[0] || strlen(d->name) >= DCEM_NAME_MAX || (unsigned)d->role >= _DCEM_ROLE_MAX ||
            d->poll_interval_ns <= 0 || !(d->rated_kw >= 0) || !isfinite(d->rated_kw) ||
            (d->counter_bits != 0 && d->counter_bits != 16 && d->counter_bits != 32 && d->counter_bits != 64) ||
            !(d->counter_scale_kwh >= 0) || !(d->jump_factor >= 0) || (unsigned)d->source > DCEM_SRC_POWER)
                return -EINVAL;
        if (d->role == DCEM_ROLE_IT ? (d->pue_category < 1 || d->pue_category > 3) : d->pue_category != 0)
                return -EINVAL;
        if (d->unit > DCEM_ACCT_MAX_UNITS || (d->unit && (d->role != DCEM_ROLE_NONE || !(d->unit_scale > 0) ||
                                                          !isfinite(d->unit_scale))))
                return -EINVAL;
        if (acct_find(a, d->name) >= 0)
                return -EEXIST;
        if (a->ndev >= DCEM_ACCT_MAX_DEVICES)
                return -E2BIG;
        if (a->ndev == a->capdev) {
                size_t nc = a->capdev ? a->capdev * 2 : 8;
                acct_dev *nd = realloc(a->devs, nc * sizeof(*nd));
                if (!nd)
                        return -ENOMEM;
                a->devs = nd;
                a->capdev = nc;
        }
        if (index_grow(a, a->ndev + 1) < 0)
                return -ENOMEM;
        acct_dev *v = &a->devs[a->ndev];
        memset(v, 0, sizeof(*v));
        v->spec = *d;
        strcpy(v->name, d->name);
        v->spec.name = NULL; /* the array may move: use v->name */
        if (v->spec.jump_factor == 0)
                v->spec.jump_factor = DEFAULT_JUMP_FACTOR;
        v->account = d->unit ? DCEM_ACC_UNIT0 + (int)d->unit - 1 : role_account(d->role, d->pue_category);
        if (d->unit)
                a->it_categories |= UNITS_PRESENT;
        v->last_ts_ns = INT64_MIN;
        if (d->role == DCEM_ROLE_IT)
                a->it_categories |= 1u << d->pue_category;
        size_t i = (size_t)name_hash(v->name) & (a->index_cap - 1);
        while (a->index[i])
                i = (i + 1) & (a->index_cap - 1);
        a->index[i] = (uint32_t)a->ndev + 1;
        a->ndev++;
        return 0;
}

/* "DEVICE#POINT" (names hold no '#'), or a hash of both when that is too long. */
static void unit_key(const char *device, const char *point, char buf[static DCEM_NAME_MAX]) {
        int n = snprintf(buf, DCEM_NAME_MAX, "%s#%s", device, point);
        if (n < 0 || n >= DCEM_NAME_MAX) {
                uint64_t h = UINT64_C(1469598103934665603);
                for (const char *p = device; *p; p++)
                        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
                h = (h ^ '#') * UINT64_C(1099511628211);
                for (const char *p = point; *p; p++)
                        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
                snprintf(buf, DCEM_NAME_MAX, "%.40s#%016llx", device, (unsigned long long)h);
        }
}

/* 1-based index of the compute source named name, or 0. */
static uint32_t src_find(const dcem_acct *a, const char *name) {
        for (size_t i = 0; i < a->nsrc; i++)
                if (strcmp(a->src[i].name, name) == 0)
                        return (uint32_t)i + 1;
        return 0;
}

/* Room for one more compute source. 0 or -ENOMEM. */
static int src_reserve(dcem_acct *a) {
        if (a->nsrc < a->capsrc)
                return 0;
        size_t nc = a->capsrc ? a->capsrc * 2 : 8;
        acct_src *ns = realloc(a->src, nc * sizeof(*ns));
        if (!ns)
                return -ENOMEM;
        a->src = ns;
        double *sc = realloc(a->src_scratch, nc * sizeof(*sc));
        if (!sc)
                return -ENOMEM;
        a->src_scratch = sc;
        int64_t *nw = realloc(a->src_newest, nc * sizeof(*nw));
        if (!nw)
                return -ENOMEM;
        a->src_newest = nw;
        a->capsrc = nc;
        return 0;
}

int dcem_acct_add_unit(dcem_acct *a, unsigned k, const char *device, const char *point, double scale,
                       int64_t poll_interval_ns) {
        if (k >= DCEM_ACCT_MAX_UNITS || !device || !device[0] || strlen(device) >= 2 * DCEM_NAME_MAX || !point ||
            !point[0] || strchr(device, '#'))
                return -EINVAL;
        uint32_t src = src_find(a, device);
        if (!src && src_reserve(a) < 0)
                return -ENOMEM;
        char key[DCEM_NAME_MAX];
        unit_key(device, point, key);
        dcem_acct_device d = { .name = key, .role = DCEM_ROLE_NONE, .poll_interval_ns = poll_interval_ns,
                               .source = DCEM_SRC_COUNTER, .unit = k + 1, .unit_scale = scale };
        int r = dcem_acct_add_device(a, &d);
        if (r < 0)
                return r;
        if (!src) {
                acct_src *x = &a->src[a->nsrc++];
                snprintf(x->name, sizeof x->name, "%s", device);
                x->poll_ns = poll_interval_ns;
                src = (uint32_t)a->nsrc;
        }
        a->devs[a->ndev - 1].src = src;
        return 0;
}

void acct_start(dcem_acct *a, int64_t t) {
        if (a->started)
                return;
        a->started = true;
        a->first_ns = floor_div(t, a->conf.record_interval_ns) * a->conf.record_interval_ns;
}

size_t acct_max_slots(const dcem_acct *a) {
        int64_t L = a->conf.record_interval_ns;
        size_t n = (size_t)((a->conf.max_bridge_ns + a->conf.close_delay_ns) / L) + 8;
        size_t cells = ACCT_MAX_CELLS / (a->ndev ? a->ndev : 1); /* memory: slots x devices */
        if (cells < 16)
                cells = 16;
        if (n > cells)
                n = cells;
        return n > ACCT_MAX_SLOTS ? ACCT_MAX_SLOTS : n;
}

int64_t acct_bridge_ns(const dcem_acct *a) {
        int64_t L = a->conf.record_interval_ns;
        int64_t lim = ((int64_t)acct_max_slots(a) - 8) * L - a->conf.close_delay_ns;
        if (lim < L)
                lim = L;
        return a->conf.max_bridge_ns < lim ? a->conf.max_bridge_ns : lim;
}

int acct_ensure_slot(dcem_acct *a, int64_t t) {
        if (t < a->first_ns)
                return 0;
        int64_t idx = (t - a->first_ns) / a->conf.record_interval_ns;
        if ((uint64_t)idx >= acct_max_slots(a))
                return -E2BIG;
        while ((size_t)idx >= a->nslots) {
                if (a->nslots == a->capslots) {
                        size_t nc = a->capslots ? a->capslots * 2 : 4;
                        acct_slot *ns = realloc(a->slots, nc * sizeof(*ns));
                        if (!ns)
                                return -ENOMEM;
                        a->slots = ns;
                        a->capslots = nc;
                }
                acct_slot_dev *d = calloc(a->ndev ? a->ndev : 1, sizeof(*d));
                if (!d)
                        return -ENOMEM;
                a->slots[a->nslots++].dev = d;
        }
        return 0;
}

static void emit_event(dcem_acct *a, acct_dev *d, dcem_acct_event_kind k, const char *point, const acct_reading *prev,
                       double value, int64_t ts, double kwh) {
        a->ev_count[k]++;
        d->events++;
        if (ts >= a->first_ns && acct_ensure_slot(a, ts) == 0) {
                size_t idx = (size_t)((ts - a->first_ns) / a->conf.record_interval_ns);
                a->slots[idx].dev[d - a->devs].events++;
        } else if (a->nslots > 0) {
                a->slots[0].dev[d - a->devs].events++;
        }
        if (!a->hooks.event)
                return;
        dcem_acct_event ev = {
                .kind = k, .device = d->name, .point = point,
                .prev_ts_ns = prev && prev->have ? prev->ts_ns : 0, .ts_ns = ts,
                .prev_value = prev && prev->have ? prev->value : NAN, .value = value, .kwh = kwh,
        };
        a->hooks.event(a->hooks.ud, &ev);
}

/* Ring size for the real-time view. The window ends at the oldest device's
 * newest reading, which lags a device's own newest by up to one window, so a
 * device needs two windows of readings at its poll interval (+1), plus 12.5 %
 * and 4 for jitter; within [8, ACCT_RT_CAP_MAX]. With fast polls and a long
 * window the ring covers less: loads stay right (they are over the time
 * covered), completeness shows the readings it no longer holds. */
static size_t acct_rt_cap(const dcem_acct *a, const acct_dev *d) {
        int64_t n = 2 * (a->conf.realtime_window_ns / d->spec.poll_interval_ns) + 2;
        n += n / 8 + 4;
        return n < 8 ? 8 : n > ACCT_RT_CAP_MAX ? ACCT_RT_CAP_MAX : (size_t)n;
}

/* Record the device's running totals at ts for the real-time view. A second
 * point at the same stamp (import and export counters of one reading)
 * updates the newest point. The ring is allocated here, on first use; without
 * memory the point is not kept (the view then reports the device as missing
 * readings), the accounting itself is unaffected. */
static void rt_push(const dcem_acct *a, acct_dev *d, int64_t ts) {
        size_t i;
        if (!d->rt) {
                size_t cap = acct_rt_cap(a, d);
                d->rt = malloc(cap * sizeof(*d->rt));
                if (!d->rt)
                        return;
                d->rt_cap = cap;
                d->rt_head = d->rt_n = 0;
        }
        if (d->rt_n > 0 && d->rt[(d->rt_head + d->rt_n - 1) % d->rt_cap].ts_ns == ts)
                i = (d->rt_head + d->rt_n - 1) % d->rt_cap;
        else if (d->rt_n < d->rt_cap) {
                i = (d->rt_head + d->rt_n) % d->rt_cap;
                d->rt_n++;
        } else {
                i = d->rt_head;
                d->rt_head = (d->rt_head + 1) % d->rt_cap;
        }
        d->rt[i].ts_ns = ts;
        d->rt[i].cum_kwh = d->total_kwh;
        d->rt[i].cum_export_kwh = d->total_export_kwh;
        d->rt[i].cum_est_kwh = d->total_est_kwh;
}

/* Split kwh over [t0, t1) across the grid in proportion to time. Slots up to
 * t1 exist (caller ensured). Portions for closed intervals go to slot 0 as
 * late energy, estimated. */
static void place(dcem_acct *a, acct_dev *d, bool export, int64_t t0, int64_t t1, double kwh, bool est,
                  const char *point, const acct_reading *prev, double value) {
        int64_t L = a->conf.record_interval_ns;
        size_t di = (size_t)(d - a->devs);
        double span = (double)(t1 - t0), left = kwh, late = 0;
        for (int64_t s = floor_div(t0, L) * L; s < t1; s += L) {
                int64_t e = s + L;
                int64_t ov = (t1 < e ? t1 : e) - (t0 > s ? t0 : s);
                double part = e >= t1 ? left : kwh * ((double)ov / span);
                left -= part;
                if (s < a->first_ns) {
                        late += part;
                        continue;
                }
                acct_slot_dev *sd = &a->slots[(s - a->first_ns) / L].dev[di];
                if (export)
                        sd->export_kwh += part;
                else
                        sd->kwh += part;
                if (est)
                        sd->est_kwh += part;
        }
        if (late != 0) {
                acct_slot_dev *sd = &a->slots[0].dev[di];
                if (export)
                        sd->export_kwh += late;
                else
                        sd->kwh += late;
                if (!est)
                        sd->est_kwh += late;
                sd->late_kwh += late;
                emit_event(a, d, DCEM_EV_LATE, point, prev, value, t1, late);
        }
        if (export)
                d->total_export_kwh += kwh;
        else
                d->total_kwh += kwh;
        if (est || late != 0)
                d->total_est_kwh += est ? kwh : late;
        rt_push(a, d, t1);
}

static double unit_scale(const char *unit, bool power) {
        if (!unit)
                return NAN;
        if (power) {
                if (strcmp(unit, "kW") == 0)
                        return 1;
                if (strcmp(unit, "W") == 0)
                        return 1e-3;
                if (strcmp(unit, "MW") == 0)
                        return 1e3;
        } else {
                if (strcmp(unit, "kWh") == 0)
                        return 1;
                if (strcmp(unit, "Wh") == 0)
                        return 1e-3;
                if (strcmp(unit, "MWh") == 0)
                        return 1e3;
        }
        return NAN;
}

/* A baseline (a first reading, or one after a clock going back or a gap too
 * long to bridge) covers no time before it: it is a taken reading only when
 * it sits exactly on an interval start, so that no energy of its interval
 * lies before it. Anywhere else the interval's energy before it is unknown,
 * and counting it would call a partial interval complete. */
static bool baseline_taken(const dcem_acct *a, int64_t ts) {
        return ts == floor_div(ts, a->conf.record_interval_ns) * a->conf.record_interval_ns;
}

/* *ret_taken: the reading closed a span from a previous one (a delta was
 * formed and checked, counted or not), or is a baseline_taken() baseline; a
 * repeat (same stamp) is not a new reading. */
static int feed_counter(dcem_acct *a, acct_dev *d, bool export, const char *point, double v, int64_t ts, bool est,
                        bool *ret_taken) {
        acct_reading *r = export ? &d->exp : &d->imp;
        acct_reading prev = *r;
        *ret_taken = false;
        if (!r->have) {
                *r = (acct_reading){ .have = true, .value = v, .ts_ns = ts };
                *ret_taken = baseline_taken(a, ts);
                return 0;
        }
        if (ts <= r->ts_ns) {
                if (ts < r->ts_ns) {
                        emit_event(a, d, DCEM_EV_CLOCK_BACK, point, &prev, v, ts, 0);
                        *r = (acct_reading){ .have = true, .value = v, .ts_ns = ts };
                        *ret_taken = baseline_taken(a, ts);
                }
                return 0; /* equal stamps: the same reading again */
        }
        int64_t dt = ts - r->ts_ns;
        *r = (acct_reading){ .have = true, .value = v, .ts_ns = ts }; /* the new baseline, whatever follows */
        if (dt > acct_bridge_ns(a)) {
                emit_event(a, d, DCEM_EV_GAP, point, &prev, v, ts, 0);
                *ret_taken = baseline_taken(a, ts);
                return 0;
        }
        *ret_taken = true;
        double scale = d->spec.counter_scale_kwh > 0 ? d->spec.counter_scale_kwh : (d->spec.counter_bits ? 1 : 0);
        double res = scale;
        double mod = d->spec.counter_bits ? ldexp(1.0, (int)d->spec.counter_bits) * scale : 0;
        double hours = (double)dt / (double)NS_PER_HOUR;
        double bound = d->spec.rated_kw > 0 ? d->spec.rated_kw * hours * d->spec.jump_factor + res : INFINITY;
        double delta = v - prev.value;
        bool wrap = false;
        if (delta < 0) {
                double w = v + mod - prev.value;
                bool plausible = mod > 0 && w >= 0 &&
                                 (d->spec.rated_kw > 0 ? w <= bound : (prev.value >= mod / 2 && v < mod / 2));
                if (!plausible) {
                        emit_event(a, d, DCEM_EV_RESET, point, &prev, v, ts, 0);
                        return 0;
                }
                wrap = true;
                delta = w;
        }
        if (delta > bound) {
                emit_event(a, d, DCEM_EV_JUMP, point, &prev, v, ts, 0);
                return 0;
        }
        int r2 = acct_ensure_slot(a, ts - 1 > a->first_ns ? ts - 1 : a->first_ns); /* slot 0 takes late energy */
        if (r2 < 0) {
                emit_event(a, d, DCEM_EV_GAP, point, &prev, v, ts, 0); /* beyond the open intervals: not counted */
                return r2;
        }
        place(a, d, export, prev.ts_ns, ts, delta, est, point, &prev, v);
        if (wrap)
                emit_event(a, d, DCEM_EV_WRAP, point, &prev, v, ts, delta);
        if (d->resumed && !export) {
                d->resumed = false;
                emit_event(a, d, DCEM_EV_RESUMED, point, &prev, v, ts, delta);
        }
        return 0;
}

/* *ret_taken as for feed_counter. */
static int feed_power(dcem_acct *a, acct_dev *d, const char *point, double kw, int64_t ts, bool *ret_taken) {
        acct_reading *r = &d->pw;
        acct_reading prev = *r;
        *ret_taken = false;
        if (!r->have) {
                *r = (acct_reading){ .have = true, .value = kw, .ts_ns = ts };
                *ret_taken = baseline_taken(a, ts);
                return 0;
        }
        if (ts <= r->ts_ns) {
                if (ts < r->ts_ns) {
                        emit_event(a, d, DCEM_EV_CLOCK_BACK, point, &prev, kw, ts, 0);
                        *r = (acct_reading){ .have = true, .value = kw, .ts_ns = ts };
                        *ret_taken = baseline_taken(a, ts);
                }
                return 0;
        }
        int64_t dt = ts - r->ts_ns;
        *r = (acct_reading){ .have = true, .value = kw, .ts_ns = ts };
        if (dt > POWER_MAX_GAP_POLLS * d->spec.poll_interval_ns) {
                emit_event(a, d, DCEM_EV_GAP, point, &prev, kw, ts, 0); /* missing data is not filled */
                *ret_taken = baseline_taken(a, ts);
                return 0;
        }
        *ret_taken = true;
        double kwh = (prev.value + kw) / 2 * ((double)dt / (double)NS_PER_HOUR);
        if (d->spec.rated_kw > 0 && kwh > d->spec.rated_kw * ((double)dt / (double)NS_PER_HOUR) * d->spec.jump_factor) {
                emit_event(a, d, DCEM_EV_JUMP, point, &prev, kw, ts, 0);
                return 0;
        }
        int r2 = acct_ensure_slot(a, ts - 1 > a->first_ns ? ts - 1 : a->first_ns);
        if (r2 < 0) {
                emit_event(a, d, DCEM_EV_GAP, point, &prev, kw, ts, 0);
                return r2;
        }
        place(a, d, false, prev.ts_ns, ts, kwh, true, point, &prev, kw);
        return 0;
}

int dcem_acct_feed(dcem_acct *a, const char *device, const char *point, double value, const char *unit, int64_t ts,
                   dcem_quality q) {
        enum { P_IMP, P_EXP, P_PW, P_UNIT } pt;
        if (strcmp(point, "energy_kwh") == 0)
                pt = P_IMP;
        else if (strcmp(point, "energy_export_kwh") == 0)
                pt = P_EXP;
        else if (strcmp(point, "power_kw") == 0)
                pt = P_PW;
        else
                pt = P_UNIT;
        ssize_t di;
        if (pt == P_UNIT) {
                if (!(a->it_categories & UNITS_PRESENT))
                        return 0;
                char key[DCEM_NAME_MAX];
                unit_key(device, point, key);
                di = acct_find(a, key);
                if (di < 0)
                        return 0; /* a point nobody counts */
        } else {
                di = acct_find(a, device);
                if (di < 0)
                        return -ENOENT;
        }
        acct_dev *d = &a->devs[di];
        if (q != DCEM_Q_GOOD && q != DCEM_Q_ESTIMATED)
                return 0;
        double k = pt == P_UNIT ? d->spec.unit_scale : unit_scale(unit, pt == P_PW);
        if (isnan(k))
                return -EINVAL;
        if (d->account < 0 || (is_unit(d) && pt != P_UNIT))
                return 0;
        acct_start(a, ts);
        double v = value * k;
        if (!isfinite(v) || v < 0) {
                emit_event(a, d, DCEM_EV_INVALID, point, NULL, value, ts, 0);
                return 0;
        }
        bool counter_mode = d->spec.source == DCEM_SRC_COUNTER || (d->spec.source == DCEM_SRC_AUTO && d->seen_counter);
        if (pt != P_PW && d->spec.source == DCEM_SRC_POWER)
                return 0;
        if (pt == P_PW && (counter_mode || d->spec.source == DCEM_SRC_COUNTER))
                return 0;
        /* Is this reading the one that counts for completeness? Only when it
         * closes a span from a previous reading: a device's first reading (or
         * the first after a dropped baseline) is a baseline, with no energy
         * before it, so the interval it falls in is covered only from there. */
        bool primary = pt == P_PW || pt == P_IMP || pt == P_UNIT || (pt == P_EXP && !d->imp.have);
        if (pt == P_UNIT)
                pt = P_IMP; /* a counter like energy_kwh, into its unit account */
        if (ts >= a->first_ns) {
                int r = acct_ensure_slot(a, ts);
                if (r < 0)
                        return r;
        }
        int r;
        bool taken = false;
        if (pt == P_PW) {
                r = feed_power(a, d, point, v, ts, &taken);
        } else {
                if (!d->seen_counter && d->spec.source == DCEM_SRC_AUTO)
                        d->pw.have = false; /* power integration stops where the counter takes over */
                d->seen_counter = true;
                r = feed_counter(a, d, pt == P_EXP, point, v, ts, q == DCEM_Q_ESTIMATED, &taken);
        }
        if (primary && taken && ts >= a->first_ns && acct_ensure_slot(a, ts) == 0)
                a->slots[(ts - a->first_ns) / a->conf.record_interval_ns].dev[di].taken++;
        if (r == 0 && ts > d->last_ts_ns)
                d->last_ts_ns = ts;
        return r;
}

int dcem_acct_feed_batch(dcem_acct *a, const dcem_batch *b) {
        int first = 0;
        for (size_t i = 0; i < b->n; i++) {
                const dcem_sample *s = &b->samples[i];
                if (s->kind == DCEM_KIND_TEXT) /* identity strings (model, serial): never energy or compute */
                        continue;
                int r = dcem_acct_feed(a, s->device[0] ? s->device : b->device, s->point, s->value, s->unit,
                                       s->ts_ns, (dcem_quality)s->quality);
                if (r < 0 && first == 0)
                        first = r;
        }
        return first;
}

void dcem_acct_clock_step(dcem_acct *a, int64_t now) {
        for (size_t i = 0; i < a->ndev; i++) {
                acct_dev *d = &a->devs[i];
                if (!d->imp.have && !d->exp.have && !d->pw.have)
                        continue;
                acct_reading prev = d->imp.have ? d->imp : (d->exp.have ? d->exp : d->pw);
                d->imp.have = d->exp.have = d->pw.have = false;
                emit_event(a, d, DCEM_EV_CLOCK_STEP, "", &prev, NAN, now, 0);
        }
}

/* ---- closing ---- */

static void rollup_closed(void *ud, dcem_window_kind kind, dcem_acct_sums *s) {
        dcem_acct *a = ud;
        if (kind == DCEM_WIN_MONTH) {
                int64_t m = dcem_month_of(s->start_ns);
                double room = dcem_fig_claimable_kwh(s) - s->contract_kwh;
                s->contract_kwh += dcem_contracts_claim(a->conf.green_contracts.items, a->conf.green_contracts.n, m,
                                                        0, room, true);
                room = dcem_fig_claimable_kwh(s) - s->contract_kwh;
                double got = 0;
                (void)dcem_cert_ledger_apply(&a->ledger, a->conf.certificates.items, a->conf.certificates.n, m,
                                             room - dcem_cert_ledger_month_kwh(&a->ledger, m), &got);
                s->cert_kwh = dcem_cert_ledger_month_kwh(&a->ledger, m);
                s->instruments_final = true;
        }
        if (a->hooks.rollup)
                a->hooks.rollup(a->hooks.ud, kind, s);
}

static int close_first(dcem_acct *a) {
        int r = acct_ensure_slot(a, a->first_ns);
        if (r < 0)
                return r;
        int64_t L = a->conf.record_interval_ns;
        acct_slot *sl = &a->slots[0];
        dcem_acct_dev_stat stack[64], *st = a->ndev <= 64 ? stack : calloc(a->ndev, sizeof(*st));
        if (!st)
                return -ENOMEM;
        dcem_acct_sums s = { .start_ns = a->first_ns, .end_ns = a->first_ns + L, .covered_ns = L, .n_intervals = 1,
                             .it_categories = CATS(a), .instruments_final = false };
        size_t nst = 0;
        for (size_t i = 0; i < a->nsrc; i++)
                a->src_scratch[i] = 0;
        for (size_t i = 0; i < a->ndev; i++) {
                acct_dev *d = &a->devs[i];
                acct_slot_dev *sd = &sl->dev[i];
                if (is_unit(d)) { /* an amount of compute: no device stat; its source's readings */
                        s.kwh[d->account] += sd->kwh;
                        s.est_kwh[d->account] += sd->est_kwh;
                        s.events += sd->events;
                        if (d->src && a->src_scratch[d->src - 1] < sd->taken)
                                a->src_scratch[d->src - 1] = sd->taken;
                        continue;
                }
                double expected = d->account < 0 ? 0 : (double)L / (double)d->spec.poll_interval_ns;
                double taken = sd->taken < expected ? sd->taken : expected;
                st[nst++] = (dcem_acct_dev_stat){
                        .device = d->name, .role = d->spec.role, .pue_category = d->spec.pue_category,
                        .kwh = sd->kwh, .export_kwh = sd->export_kwh, .est_kwh = sd->est_kwh,
                        .late_kwh = sd->late_kwh, .taken = sd->taken, .expected = expected,
                        .completeness = expected > 0 ? taken / expected : 1, .events = sd->events,
                };
                if (d->account >= 0) {
                        s.kwh[d->account] += sd->kwh;
                        s.kwh[DCEM_ACC_EXPORT] += sd->export_kwh;
                        /* estimated kWh: attribute to the account(s) in proportion */
                        double tot = sd->kwh + sd->export_kwh;
                        if (tot > 0 && sd->est_kwh > 0) {
                                s.est_kwh[d->account] += sd->est_kwh * (sd->kwh / tot);
                                s.est_kwh[DCEM_ACC_EXPORT] += sd->est_kwh * (sd->export_kwh / tot);
                        }
                        s.readings_taken += taken;
                        s.readings_expected += expected;
                }
                s.late_kwh += sd->late_kwh;
                s.events += sd->events;
        }
        s.contract_kwh = dcem_contracts_claim(a->conf.green_contracts.items, a->conf.green_contracts.n,
                                              dcem_month_of(s.start_ns), s.kwh[DCEM_ACC_GRID_IMPORT],
                                              dcem_fig_claimable_kwh(&s), false);
        dcem_acct_src_stat sstack[16], *ss = a->nsrc <= 16 ? sstack : calloc(a->nsrc, sizeof(*ss));
        size_t nss = 0;
        for (size_t i = 0; i < a->nsrc; i++) {
                double expected = (double)L / (double)a->src[i].poll_ns;
                double taken = a->src_scratch[i] < expected ? a->src_scratch[i] : expected;
                s.compute_taken += taken;
                s.compute_expected += expected;
                if (ss)
                        ss[nss++] = (dcem_acct_src_stat){ .source = a->src[i].name, .taken = a->src_scratch[i],
                                                          .expected = expected,
                                                          .completeness = expected > 0 ? taken / expected : 1 };
        }
        if (a->hooks.interval) {
                dcem_acct_interval iv = { .seq = a->seq, .sums = s, .ndev = nst, .dev = st, .nsrc = nss, .src = ss };
                a->hooks.interval(a->hooks.ud, &iv);
        }
        if (ss != sstack)
                free(ss);
        if (st != stack)
                free(st);
        a->last = s;
        a->have_last = true;
        dcem_rollup_hooks rh = { .closed = rollup_closed, .ud = a };
        (void)dcem_rollup_add(&a->rollup, &s, &rh); /* intervals are contiguous and hour-aligned: cannot fail */
        slot_free(sl);
        memmove(&a->slots[0], &a->slots[1], (a->nslots - 1) * sizeof(a->slots[0]));
        a->nslots--;
        a->first_ns += L;
        a->seq++;
        return 0;
}

static bool closable(const dcem_acct *a, int64_t end, int64_t now) {
        if (now < end)
                return false;
        int64_t base = end > a->resume_ns ? end : a->resume_ns;
        if (now >= base + a->conf.close_delay_ns)
                return true;
        for (size_t i = 0; i < a->ndev; i++)
                if (a->devs[i].account >= 0 && !is_unit(&a->devs[i]) && a->devs[i].last_ts_ns < end)
                        return false;
        /* compute sources: any of a source's counters read past the end */
        if (a->nsrc == 0)
                return true;
        for (size_t i = 0; i < a->nsrc; i++)
                a->src_newest[i] = INT64_MIN;
        for (size_t i = 0; i < a->ndev; i++) {
                const acct_dev *d = &a->devs[i];
                if (d->src && d->last_ts_ns > a->src_newest[d->src - 1])
                        a->src_newest[d->src - 1] = d->last_ts_ns;
        }
        for (size_t i = 0; i < a->nsrc; i++)
                if (a->src_newest[i] < end)
                        return false;
        return true;
}

int dcem_acct_source_last_ts(const dcem_acct *a, const char *source, int64_t *ret_ts) {
        int64_t best = INT64_MIN;
        for (size_t i = 0; i < a->nsrc; i++) {
                if (strcmp(a->src[i].name, source) != 0)
                        continue;
                for (size_t j = 0; j < a->ndev; j++) {
                        const acct_dev *d = &a->devs[j];
                        if (d->src == i + 1 && d->imp.have && d->imp.ts_ns > best)
                                best = d->imp.ts_ns;
                }
                if (best == INT64_MIN)
                        return -ENOENT;
                *ret_ts = best;
                return 0;
        }
        return -ENOENT;
}

int dcem_acct_advance(dcem_acct *a, int64_t now) {
        acct_start(a, now);
        while (closable(a, a->first_ns + a->conf.record_interval_ns, now)) {
                int r = close_first(a);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- windows ---- */

static int month_sums(const dcem_acct *a, int64_t m, dcem_acct_sums *ret) {
        dcem_acct_sums s;
        int r = dcem_rollup_month(&a->rollup, m, &s);
        if (r < 0)
                return r;
        if (!s.instruments_final) { /* open month: kWh contracts provisional, certificates not yet */
                double room = dcem_fig_claimable_kwh(&s) - s.contract_kwh;
                s.contract_kwh += dcem_contracts_claim(a->conf.green_contracts.items, a->conf.green_contracts.n, m, 0,
                                                       room, true);
        }
        *ret = s;
        return 0;
}

static void months_sum(const dcem_acct *a, int64_t first, int64_t last, dcem_acct_sums *ret) {
        dcem_acct_sums s = { .start_ns = dcem_month_start_ns(first), .end_ns = dcem_month_start_ns(last + 1),
                             .instruments_final = true, .it_categories = CATS(a) };
        for (int64_t m = first; m <= last; m++) {
                dcem_acct_sums ms;
                if (month_sums(a, m, &ms) < 0)
                        continue;
                dcem_acct_sums_add(&s, &ms);
                if (ms.n_intervals > 0)
                        s.months_with_data++;
                s.instruments_final &= ms.instruments_final;
        }
        *ret = s;
}

static double rt_cum(const acct_dev *d, int64_t t, int which) {
#define RTV(p) ((which) == 0 ? (p)->cum_kwh : (which) == 1 ? (p)->cum_export_kwh : (p)->cum_est_kwh)
        const acct_rt_point *o = &d->rt[d->rt_head];
        if (t <= o->ts_ns)
                return RTV(o);
        for (size_t k = 1; k < d->rt_n; k++) {
                const acct_rt_point *p = &d->rt[(d->rt_head + k - 1) % d->rt_cap];
                const acct_rt_point *q = &d->rt[(d->rt_head + k) % d->rt_cap];
                if (t <= q->ts_ns) {
                        double f = (double)(t - p->ts_ns) / (double)(q->ts_ns - p->ts_ns);
                        return RTV(p) + (RTV(q) - RTV(p)) * f;
                }
        }
        return RTV(&d->rt[(d->rt_head + d->rt_n - 1) % d->rt_cap]);
#undef RTV
}

static int realtime(const dcem_acct *a, int64_t ref, dcem_acct_sums *ret) {
        int64_t W = a->conf.realtime_window_ns, end = INT64_MAX;
        for (size_t i = 0; i < a->ndev; i++) {
                const acct_dev *d = &a->devs[i];
                if (d->account < 0 || is_unit(d) || d->rt_n == 0)
                        continue;
                int64_t newest = d->rt[(d->rt_head + d->rt_n - 1) % d->rt_cap].ts_ns;
                if (newest <= ref - W || newest > ref)
                        continue;
                if (newest < end)
                        end = newest;
        }
        if (end == INT64_MAX)
                return -ENOENT;
        dcem_acct_sums s = { .start_ns = end - W, .end_ns = end, .covered_ns = W, .n_intervals = 1,
                             .it_categories = CATS(a) };
        for (size_t i = 0; i < a->ndev; i++) {
                const acct_dev *d = &a->devs[i];
                if (d->account < 0)
                        continue;
                double expected = (double)W / (double)d->spec.poll_interval_ns, taken = 0;
                if (d->rt_n > 0) {
                        /* the readings span [oldest, newest]: the part of the window they cover */
                        int64_t lo = d->rt[d->rt_head].ts_ns, hi = d->rt[(d->rt_head + d->rt_n - 1) % d->rt_cap].ts_ns;
                        lo = lo > end - W ? lo : end - W;
                        hi = hi < end ? hi : end;
                        int64_t cov = hi > lo ? hi - lo : 0;
                        double ex = rt_cum(d, end, 1) - rt_cum(d, end - W, 1);
                        if (cov > s.rt_covered_ns[d->account])
                                s.rt_covered_ns[d->account] = cov;
                        if ((ex != 0 || d->account == DCEM_ACC_EXPORT) && cov > s.rt_covered_ns[DCEM_ACC_EXPORT])
                                s.rt_covered_ns[DCEM_ACC_EXPORT] = cov;
                        s.kwh[d->account] += rt_cum(d, end, 0) - rt_cum(d, end - W, 0);
                        s.kwh[DCEM_ACC_EXPORT] += ex;
                        s.est_kwh[d->account] += rt_cum(d, end, 2) - rt_cum(d, end - W, 2);
                        for (size_t k = 0; k < d->rt_n; k++) {
                                int64_t t = d->rt[(d->rt_head + k) % d->rt_cap].ts_ns;
                                if (t > end - W && t <= end)
                                        taken++;
                        }
                }
                if (is_unit(d))
                        continue; /* its amount is in, it counts in no completeness */
                s.readings_taken += taken < expected ? taken : expected;
                s.readings_expected += expected;
        }
        *ret = s;
        return 0;
}

int dcem_acct_window(const dcem_acct *a, dcem_window_kind kind, int64_t ref, dcem_acct_sums *ret) {
        switch (kind) {
        case DCEM_WIN_INTERVAL:
                if (!a->have_last)
                        return -ENOENT;
                *ret = a->last;
                return 0;
        case DCEM_WIN_HOUR:
        case DCEM_WIN_DAY:
                if (!a->rollup.open)
                        return -ENOENT;
                *ret = kind == DCEM_WIN_HOUR ? a->rollup.hour : a->rollup.day;
                return 0;
        case DCEM_WIN_MONTH:
                return month_sums(a, dcem_month_of(ref), ret);
        case DCEM_WIN_ROLLING12: {
                int64_t last = dcem_month_of(ref) - 1;
                months_sum(a, last - 11, last, ret);
                return 0;
        }
        case DCEM_WIN_YEAR: {
                int64_t m = dcem_month_of(ref);
                int64_t y = floor_div(m, 12);
                months_sum(a, y * 12, y * 12 + 11, ret);
                return 0;
        }
        case DCEM_WIN_REALTIME:
                return realtime(a, ref, ret);
        default:
                return -EINVAL;
        }
}

uint64_t dcem_acct_event_count(const dcem_acct *a, dcem_acct_event_kind k) {
        return (unsigned)k < _DCEM_EV_MAX ? a->ev_count[k] : 0;
}

size_t dcem_acct_ndevices(const dcem_acct *a) {
        return a->ndev;
}

const dcem_acct_conf *dcem_acct_config(const dcem_acct *a) {
        return &a->conf;
}
