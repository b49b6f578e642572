/* encode_records.c - interval, roll-up and metrics records as JSON.
 *
 * What a consumer (a grid-response system, a certification body) receives
 * from the accounting. The shapes are documented in docs/MQTT.md and
 * docs/schemas/intervals.json, metrics.json; docs/ACCOUNTING.md says what
 * the numbers mean. Built with jansson in a fixed member order; numbers are
 * dumped with DCEM_JSON_FLAGS (15 significant digits, locale-independent),
 * NaN and infinities as null. Pure: no I/O, no clock.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/clock.h"
#include "encode_records.h"
#include "compute_remote.h"
#include "json.h"

/* A builder that remembers an allocation failure instead of checking every call. */
typedef struct jb {
        bool fail;
} jb;

static void put(jb *b, json_t *o, const char *k, json_t *v) {
        if (!o || !v || json_object_set_new(o, k, v) < 0)
                b->fail = true;
}

static void push(jb *b, json_t *a, json_t *v) {
        if (!a || !v || json_array_append_new(a, v) < 0)
                b->fail = true;
}

static json_t *jts(int64_t ns) {
        char buf[DCEM_TS_MAX];
        return json_string(dcem_format_utc(ns, buf));
}

static json_t *jnum(double v) {
        return dcem_json_number(v);
}

/* kWh with its unit and estimated part: {"v":..,"u":"kWh","estimated_kwh":..,"q":..}. */
static json_t *jkwh(jb *b, double kwh, double est) {
        json_t *o = json_object();
        put(b, o, "v", jnum(kwh));
        put(b, o, "u", json_string("kWh"));
        put(b, o, "estimated_kwh", jnum(est));
        put(b, o, "q", json_string(est != 0 ? "estimated" : "good"));
        return o;
}

static const char *role_name(dcem_role r) {
        static const char *const n[_DCEM_ROLE_MAX] = { "grid_import", "grid_export", "onsite_renewable",
                                                       "green_supply", "it", "cooling", "other", "none" };
        return (unsigned)r < _DCEM_ROLE_MAX ? n[r] : "unknown";
}

/* The account a device feeds (mirror of the engine's), or -1. */
static int device_account(const dcem_rec_device *d) {
        switch (d->role) {
        case DCEM_ROLE_GRID_IMPORT: return DCEM_ACC_GRID_IMPORT;
        case DCEM_ROLE_GRID_EXPORT: return DCEM_ACC_EXPORT;
        case DCEM_ROLE_ONSITE_RENEWABLE: return DCEM_ACC_ONSITE_RENEWABLE;
        case DCEM_ROLE_GREEN_SUPPLY: return DCEM_ACC_GREEN_SUPPLY;
        case DCEM_ROLE_IT: return d->pue_category >= 1 && d->pue_category <= 3 ? DCEM_ACC_IT1 + d->pue_category - 1 : -1;
        case DCEM_ROLE_COOLING: return DCEM_ACC_COOLING;
        case DCEM_ROLE_OTHER: return DCEM_ACC_OTHER;
        default: return -1;
        }
}

#define BIT(a) (1u << (a))
#define EDC_ACCOUNTS (BIT(DCEM_ACC_GRID_IMPORT) | BIT(DCEM_ACC_EXPORT) | BIT(DCEM_ACC_ONSITE_RENEWABLE) | BIT(DCEM_ACC_GREEN_SUPPLY))

static uint32_t it_bit(int category) {
        return category >= 1 && category <= 3 ? BIT(DCEM_ACC_IT1 + category - 1) : 0;
}

uint32_t dcem_rec_figure_accounts(const dcem_figure *f) {
        const char *m = f->metric ? f->metric : "";
        uint32_t it = it_bit(f->category);
        if (!strcmp(m, "pue"))
                return EDC_ACCOUNTS | it;
        if (!strcmp(m, "ppue_cooling"))
                return BIT(DCEM_ACC_COOLING) | it;
        if (!strcmp(m, "cue_location"))
                return BIT(DCEM_ACC_GRID_IMPORT) | it;
        if (!strcmp(m, "cue_market"))
                return EDC_ACCOUNTS | it;
        if (!strcmp(m, "energy_it"))
                return it;
        if (!strcmp(m, "energy_cooling"))
                return BIT(DCEM_ACC_COOLING);
        if (!strcmp(m, "energy_other"))
                return BIT(DCEM_ACC_OTHER);
        if (!strcmp(m, "energy_losses"))
                return EDC_ACCOUNTS | it | BIT(DCEM_ACC_COOLING) | BIT(DCEM_ACC_OTHER);
        if (!strcmp(m, "energy_dc") || !strcmp(m, "ref") || !strcmp(m, "carbon_market"))
                return EDC_ACCOUNTS;
        if (!strcmp(m, "carbon_location"))
                return BIT(DCEM_ACC_GRID_IMPORT);
        if (!strcmp(m, "sci"))
                return it | (f->basis && !strcmp(f->basis, "x_pue") ? EDC_ACCOUNTS : 0);
        return 0;
}

/* {"grid_import": ["utility-a", ...], ...}: the devices behind each account present. */
static json_t *source_devices(jb *b, const dcem_rec_env *env) {
        json_t *o = json_object();
        for (int acc = 0; acc < _DCEM_ACC_MAX; acc++) {
                json_t *a = NULL;
                for (size_t i = 0; i < env->ndev; i++) {
                        if (device_account(&env->devices[i]) != acc)
                                continue;
                        if (!a)
                                a = json_array();
                        push(b, a, dcem_json_string(env->devices[i].name));
                }
                if (a)
                        put(b, o, dcem_acct_account_name((dcem_acct_account)acc), a);
        }
        return o;
}

static json_t *figure_json(jb *b, const dcem_figure *f) {
        json_t *o = json_object();
        put(b, o, "metric", json_string(f->metric ? f->metric : "?"));
        if (f->category)
                put(b, o, "category", json_integer(f->category));
        put(b, o, "value", f->status == DCEM_FIG_OK ? jnum(f->value) : json_null());
        put(b, o, "unit", json_string(f->unit ? f->unit : ""));
        if (f->functional_unit)
                put(b, o, "per", json_string(f->functional_unit));
        put(b, o, "status", json_string(dcem_fig_status_name(f->status)));
        put(b, o, "window", json_string(dcem_window_name(f->window)));
        put(b, o, "start", jts(f->start_ns));
        put(b, o, "end", jts(f->end_ns));
        put(b, o, "label", json_string(dcem_fig_label_name(f->label)));
        put(b, o, "completeness", jnum(f->completeness));
        put(b, o, "quality", json_string(f->estimated ? "estimated" : "measured"));
        put(b, o, "estimated_share", jnum(f->estimated_share));
        put(b, o, "numerator", jnum(f->numerator));
        put(b, o, "denominator", jnum(f->denominator));
        if (f->basis)
                put(b, o, "basis", json_string(f->basis));
        if (f->factor_source) {
                put(b, o, "factor", jnum(f->factor));
                put(b, o, "factor_unit", json_string(strstr(f->unit ? f->unit : "", "CO2e") ? "kgCO2e/kWh" : "kgCO2/kWh"));
                put(b, o, "factor_source", dcem_json_string(f->factor_source));
                put(b, o, "factor_table", f->factor_table ? dcem_json_string(f->factor_table) : json_null());
                if (f->factor_region)
                        put(b, o, "factor_region", dcem_json_string(f->factor_region));
                if (f->factor_year)
                        put(b, o, "factor_year", json_integer((json_int_t)f->factor_year));
        }
        if (f->functional_unit)
                put(b, o, "embodied_included", json_boolean(f->embodied));
        if (f->target_met >= 0) {
                put(b, o, "target", jnum(f->target));
                put(b, o, "target_met", json_boolean(f->target_met));
        }
        json_t *src = json_array();
        uint32_t acc = dcem_rec_figure_accounts(f);
        for (int i = 0; i < _DCEM_ACC_MAX; i++)
                if (acc & BIT(i))
                        push(b, src, json_string(dcem_acct_account_name((dcem_acct_account)i)));
        put(b, o, "sources", src);
        return o;
}

static json_t *figures_json(jb *b, const dcem_rec_env *env, const dcem_acct_sums *s, dcem_window_kind k) {
        dcem_figure figs[DCEM_REC_MAX_FIGURES];
        size_t n = 0;
        (void)dcem_figures_all(s, k, env->fig, figs, DCEM_REC_MAX_FIGURES, &n); /* -ENOBUFS: the first 64 */
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                push(b, a, figure_json(b, &figs[i]));
        return a;
}

static double sum_of(const double *v) {
        double t = 0;
        for (int i = 0; i < DCEM_ACC_ENERGY_MAX; i++)
                t += fabs(v[i]);
        return t;
}

/* {"cpu_core_hour": {"v": 12.5, "u": "cpu_core_hour"}, ...}: the declared functional units' amounts. */
static json_t *compute_json(jb *b, const dcem_rec_env *env, const dcem_acct_sums *s) {
        json_t *o = json_object();
        const dcem_fig_params *p = env->fig;
        for (size_t k = 0; p && k < p->nunit_names && k < DCEM_ACCT_MAX_UNITS; k++) {
                if (!p->unit_names[k])
                        continue;
                json_t *x = json_object();
                put(b, x, "v", jnum(s->kwh[DCEM_ACC_UNIT0 + k]));
                put(b, x, "u", dcem_json_string(p->unit_names[k]));
                put(b, o, p->unit_names[k], x);
        }
        return o;
}

/* The members every window record shares: energies, completeness, quality, claims. */
static void sums_members(jb *b, json_t *o, const dcem_rec_env *env, const dcem_acct_sums *s) {
        put(b, o, "duration_s", jnum((double)(s->end_ns - s->start_ns) / (double)DCEM_NS_PER_S));
        put(b, o, "intervals", json_integer((json_int_t)s->n_intervals));
        put(b, o, "covered_s", jnum((double)s->covered_ns / (double)DCEM_NS_PER_S));
        json_t *e = json_object();
        for (int acc = 0; acc < DCEM_ACC_ENERGY_MAX; acc++) {
                if (acc >= DCEM_ACC_IT1 && acc <= DCEM_ACC_IT3 && !(s->it_categories & (1u << (acc - DCEM_ACC_IT1 + 1))))
                        continue;
                put(b, e, dcem_acct_account_name((dcem_acct_account)acc), jkwh(b, s->kwh[acc], s->est_kwh[acc]));
        }
        put(b, e, "dc", jkwh(b, dcem_acct_sums_edc(s), dcem_acct_sums_edc_est(s)));
        put(b, o, "energy", e);
        put(b, o, "compute", compute_json(b, env, s));
        /* the compute denominator's own completeness (null: no compute source) */
        put(b, o, "compute_completeness", jnum(dcem_acct_sums_compute_completeness(s)));
        put(b, o, "completeness", jnum(dcem_acct_sums_completeness(s)));
        put(b, o, "readings_taken", jnum(s->readings_taken));
        put(b, o, "readings_expected", jnum(s->readings_expected));
        double tot = sum_of(s->kwh), est = sum_of(s->est_kwh);
        put(b, o, "estimated_share", jnum(tot > 0 ? (est > tot ? 1 : est / tot) : 0));
        put(b, o, "estimated", json_boolean(est > 0));
        put(b, o, "late_kwh", jnum(s->late_kwh));
        put(b, o, "event_count", json_integer((json_int_t)s->events));
        json_t *in = json_object();
        put(b, in, "contract_kwh", jnum(s->contract_kwh));
        put(b, in, "certificate_kwh", jnum(s->cert_kwh));
        put(b, in, "claimed_kwh", jnum(dcem_fig_claimed_kwh(s)));
        put(b, in, "final", json_boolean(s->instruments_final));
        put(b, o, "instruments", in);
}

static json_t *meter_json(jb *b, const dcem_meter_conf *m) {
        json_t *o = json_object();
        put(b, o, "accuracy_class", m && m->accuracy_class ? dcem_json_string(m->accuracy_class) : json_null());
        put(b, o, "ct_ratio", m && m->ct_ratio ? dcem_json_string(m->ct_ratio) : json_null());
        put(b, o, "calibration_date", m && m->calibration_date ? dcem_json_string(m->calibration_date) : json_null());
        if (m && m->counter_bits) {
                put(b, o, "counter_bits", json_integer((json_int_t)m->counter_bits));
                put(b, o, "resolution_kwh", jnum(m->resolution_kwh));
        }
        return o;
}

static const dcem_rec_device *find_dev(const dcem_rec_env *env, const char *name) {
        for (size_t i = 0; i < env->ndev; i++)
                if (!strcmp(env->devices[i].name, name))
                        return &env->devices[i];
        return NULL;
}

static int finish(jb *b, json_t *o, char **ret_json, size_t *ret_len) {
        char *s = b->fail || !o ? NULL : json_dumps(o, DCEM_JSON_FLAGS);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        *ret_len = strlen(s);
        return 0;
}

int dcem_rec_interval(const dcem_rec_env *env, const dcem_acct_interval *iv, const dcem_rec_event *events,
                      size_t nev, uint64_t events_dropped, char **ret_json, size_t *ret_len) {
        jb b = { 0 };
        const dcem_acct_sums *s = &iv->sums;
        json_t *o = json_object();
        put(&b, o, "window", json_string("interval"));
        put(&b, o, "record_seq", json_integer((json_int_t)iv->seq));
        put(&b, o, "start", jts(s->start_ns));
        put(&b, o, "end", jts(s->end_ns));
        sums_members(&b, o, env, s);
        json_t *devs = json_array();
        for (size_t i = 0; i < iv->ndev; i++) {
                const dcem_acct_dev_stat *d = &iv->dev[i];
                const dcem_rec_device *rd = find_dev(env, d->device);
                json_t *x = json_object();
                put(&b, x, "device", dcem_json_string(d->device));
                put(&b, x, "role", json_string(role_name(d->role)));
                if (d->pue_category)
                        put(&b, x, "pue_category", json_integer(d->pue_category));
                put(&b, x, "kwh", jnum(d->kwh));
                put(&b, x, "export_kwh", jnum(d->export_kwh));
                put(&b, x, "estimated_kwh", jnum(d->est_kwh));
                put(&b, x, "late_kwh", jnum(d->late_kwh));
                put(&b, x, "readings_taken", json_integer((json_int_t)d->taken));
                put(&b, x, "readings_expected", jnum(d->expected));
                put(&b, x, "completeness", jnum(d->completeness));
                put(&b, x, "events", json_integer((json_int_t)d->events));
                put(&b, x, "meter", meter_json(&b, rd ? rd->meter : NULL));
                push(&b, devs, x);
        }
        put(&b, o, "devices", devs);
        json_t *srcs = json_array();
        for (size_t i = 0; i < iv->nsrc; i++) {
                const dcem_acct_src_stat *c = &iv->src[i];
                json_t *x = json_object();
                put(&b, x, "source", dcem_json_string(c->source));
                put(&b, x, "readings_taken", jnum(c->taken));
                put(&b, x, "readings_expected", jnum(c->expected));
                put(&b, x, "completeness", jnum(c->completeness));
                push(&b, srcs, x);
        }
        put(&b, o, "compute_sources", srcs);
        json_t *evs = json_array();
        for (size_t i = 0; i < nev; i++) {
                const dcem_rec_event *e = &events[i];
                json_t *x = json_object();
                put(&b, x, "kind", json_string(dcem_acct_event_name(e->kind)));
                put(&b, x, "device", dcem_json_string(e->device));
                if (e->point[0])
                        put(&b, x, "point", dcem_json_string(e->point));
                put(&b, x, "ts", jts(e->ts_ns));
                put(&b, x, "prev_ts", e->prev_ts_ns ? jts(e->prev_ts_ns) : json_null());
                put(&b, x, "prev_value", jnum(e->prev_value));
                put(&b, x, "value", jnum(e->value));
                put(&b, x, "counted_kwh", jnum(e->kwh));
                push(&b, evs, x);
        }
        put(&b, o, "events", evs);
        put(&b, o, "events_dropped", json_integer((json_int_t)events_dropped));
        put(&b, o, "source_devices", source_devices(&b, env));
        put(&b, o, "figures", figures_json(&b, env, s, DCEM_WIN_INTERVAL));
        return finish(&b, o, ret_json, ret_len);
}

int dcem_rec_window(const dcem_rec_env *env, dcem_window_kind kind, const dcem_acct_sums *s, uint64_t last_seq,
                    char **ret_json, size_t *ret_len) {
        if (kind == DCEM_WIN_INTERVAL || kind == DCEM_WIN_REALTIME || (unsigned)kind >= _DCEM_WIN_MAX)
                return -EINVAL;
        jb b = { 0 };
        json_t *o = json_object();
        put(&b, o, "window", json_string(dcem_window_name(kind)));
        put(&b, o, "last_record_seq", json_integer((json_int_t)last_seq));
        put(&b, o, "start", jts(s->start_ns));
        put(&b, o, "end", jts(s->end_ns));
        sums_members(&b, o, env, s);
        if (kind == DCEM_WIN_ROLLING12 || kind == DCEM_WIN_YEAR)
                put(&b, o, "months_with_data", json_integer((json_int_t)s->months_with_data));
        put(&b, o, "source_devices", source_devices(&b, env));
        put(&b, o, "figures", figures_json(&b, env, s, kind));
        return finish(&b, o, ret_json, ret_len);
}

int dcem_live_intensity_parse(const char *payload, size_t len, dcem_live_unit unit, double *ret) {
        json_error_t je;
        json_t *o = json_loadb(payload, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!o)
                return -EINVAL;
        json_t *v = o;
        if (json_is_object(o)) {
                v = json_object_get(o, "value");
                if (!v)
                        v = json_object_get(o, "moer");
        }
        double x = v && json_is_number(v) ? json_number_value(v) : NAN;
        json_decref(o);
        static const double k[] = { [DCEM_LIVE_G_PER_KWH] = 1, [DCEM_LIVE_LBS_PER_MWH] = 0.4536,
                                    [DCEM_LIVE_KG_PER_KWH] = 1000 };
        if ((unsigned)unit > DCEM_LIVE_KG_PER_KWH)
                return -EINVAL;
        x *= k[unit];
        if (!isfinite(x) || x < 0 || x > 5000)
                return -EINVAL;
        *ret = x;
        return 0;
}

/* Hours over which an account's real-time kWh were read: the time its
 * readings cover in the window (rt_covered_ns), else the whole window (an
 * account nobody reads: its 0 kWh is 0 kW). */
static double acc_hours(const dcem_acct_sums *s, int acc) {
        int64_t c = s->rt_covered_ns[acc];
        if (c <= 0)
                c = s->end_ns - s->start_ns;
        return (double)c / (double)(3600 * DCEM_NS_PER_S);
}

/* The same for E_DC: the longest coverage among its accounts (rule 5). */
static double edc_hours(const dcem_acct_sums *s) {
        static const int accs[] = { DCEM_ACC_GRID_IMPORT, DCEM_ACC_GREEN_SUPPLY, DCEM_ACC_ONSITE_RENEWABLE,
                                    DCEM_ACC_EXPORT };
        int64_t c = 0;
        for (size_t i = 0; i < sizeof accs / sizeof accs[0]; i++)
                if (s->rt_covered_ns[accs[i]] > c)
                        c = s->rt_covered_ns[accs[i]];
        if (c <= 0)
                c = s->end_ns - s->start_ns;
        return (double)c / (double)(3600 * DCEM_NS_PER_S);
}

static bool edc_unread(const dcem_rec_env *env, const dcem_acct_sums *rt);

/* The live intensity member of the metrics record: the facility's real-time
 * load x the live intensity, labelled realtime and not for accounting. */
static json_t *live_json(jb *b, const dcem_rec_env *env, int64_t now, const dcem_acct_sums *rt) {
        const dcem_rec_live *l = env->live;
        const dcem_acct_live_conf *c = l->conf;
        bool co2e = c->gas == 1;
        json_t *o = json_object();
        put(b, o, "metric", json_string("carbon_rate_live"));
        put(b, o, "kind", json_string(c->kind == 1 ? "average" : "marginal"));
        put(b, o, "label", json_string("realtime"));
        put(b, o, "for_accounting", json_false());
        put(b, o, "source", c->source ? dcem_json_string(c->source) : json_null());
        put(b, o, "topic", dcem_json_string(c->topic));
        put(b, o, "intensity", l->have ? jnum(l->g_per_kwh) : json_null());
        put(b, o, "intensity_unit", json_string(co2e ? "gCO2e/kWh" : "gCO2/kWh"));
        put(b, o, "received", l->have ? jts(l->received_ns) : json_null());
        double age = l->have ? (double)(now - l->received_ns) / (double)DCEM_NS_PER_S : NAN;
        put(b, o, "age_s", jnum(age));
        const char *status = "ok";
        double kg_h = NAN;
        if (!l->have)
                status = "no_data";
        else if (now - l->received_ns > c->max_age_ns)
                status = "stale";
        else if (!rt || rt->end_ns <= rt->start_ns || edc_unread(env, rt))
                status = "no_data";
        else {
                kg_h = dcem_acct_sums_edc(rt) / edc_hours(rt) * l->g_per_kwh / 1000.0;
        }
        put(b, o, "status", json_string(status));
        put(b, o, "value", jnum(kg_h));
        put(b, o, "unit", json_string(co2e ? "kgCO2e/h" : "kgCO2/h"));
        return o;
}

/* Mean power of an account over a window, kW: {"v":..,"u":"kW"}. */
static json_t *jkw(jb *b, double kwh, double hours, bool est) {
        json_t *o = json_object();
        put(b, o, "v", jnum(hours > 0 ? kwh / hours : NAN));
        put(b, o, "u", json_string("kW"));
        put(b, o, "q", json_string(est ? "estimated" : "good"));
        return o;
}

/* No reading yet: {"v":null,"u":"kW","q":"no_data"} (never 0 kW). */
static json_t *jkw_none(jb *b) {
        json_t *o = json_object();
        put(b, o, "v", json_null());
        put(b, o, "u", json_string("kW"));
        put(b, o, "q", json_string("no_data"));
        return o;
}

/* Is account acc metered by a configured device? Such an account with no
 * reading covering the window (an agent's first tick, a meter silent for the
 * whole window) has no load yet: null, not 0. An account no device meters is
 * 0 by definition (e.g. export at a site without an export meter). */
static bool acc_metered(const dcem_rec_env *env, int acc) {
        for (size_t i = 0; i < env->ndev; i++) {
                const dcem_rec_device *d = &env->devices[i];
                int a;
                switch (d->role) {
                case DCEM_ROLE_GRID_IMPORT: a = DCEM_ACC_GRID_IMPORT; break;
                case DCEM_ROLE_GRID_EXPORT: a = DCEM_ACC_EXPORT; break;
                case DCEM_ROLE_ONSITE_RENEWABLE: a = DCEM_ACC_ONSITE_RENEWABLE; break;
                case DCEM_ROLE_GREEN_SUPPLY: a = DCEM_ACC_GREEN_SUPPLY; break;
                case DCEM_ROLE_IT: a = DCEM_ACC_IT1 + d->pue_category - 1; break;
                case DCEM_ROLE_COOLING: a = DCEM_ACC_COOLING; break;
                case DCEM_ROLE_OTHER: a = DCEM_ACC_OTHER; break;
                default: continue;
                }
                if (a == acc)
                        return true;
        }
        return false;
}

static bool acc_unread(const dcem_rec_env *env, const dcem_acct_sums *rt, int acc) {
        return rt->rt_covered_ns[acc] <= 0 && acc_metered(env, acc);
}

/* E_DC has no reading yet: a metered boundary account and none covered. */
static bool edc_unread(const dcem_rec_env *env, const dcem_acct_sums *rt) {
        static const int accs[] = { DCEM_ACC_GRID_IMPORT, DCEM_ACC_GREEN_SUPPLY, DCEM_ACC_ONSITE_RENEWABLE,
                                    DCEM_ACC_EXPORT };
        bool metered = false;
        for (size_t i = 0; i < sizeof accs / sizeof accs[0]; i++) {
                if (rt->rt_covered_ns[accs[i]] > 0)
                        return false;
                metered |= acc_metered(env, accs[i]);
        }
        return metered;
}

/* jkw of one account of the real-time view. */
static json_t *jacc(jb *b, const dcem_rec_env *env, const dcem_acct_sums *rt, int acc) {
        if (acc_unread(env, rt, acc))
                return jkw_none(b);
        return jkw(b, rt->kwh[acc], acc_hours(rt, acc), rt->est_kwh[acc] > 0);
}

/* Real-time figures; while any metered account has no reading in the window
 * (the first ticks), every figure is no_data: a ratio with a missing part
 * would be a wrong number (E_DC 0 over E_IT: a "PUE" of 0). */
static json_t *rt_figures_json(jb *b, const dcem_rec_env *env, const dcem_acct_sums *rt) {
        bool unread = false;
        for (int acc = 0; acc < DCEM_ACC_ENERGY_MAX; acc++)
                unread |= acc_unread(env, rt, acc);
        if (!unread)
                return figures_json(b, env, rt, DCEM_WIN_REALTIME);
        dcem_figure figs[DCEM_REC_MAX_FIGURES];
        size_t n = 0;
        (void)dcem_figures_all(rt, DCEM_WIN_REALTIME, env->fig, figs, DCEM_REC_MAX_FIGURES, &n);
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
                figs[i].status = DCEM_FIG_NO_DATA;
                figs[i].value = NAN;
                figs[i].target_met = figs[i].target_met < 0 ? -1 : 0;
                push(b, a, figure_json(b, &figs[i]));
        }
        return a;
}

/* The remote hosts' message counters (accounting.compute.remote): per host
 * the last stamp counted and its accepted / duplicate / out-of-order
 * messages, and in total the unknown and invalid ones. */
static json_t *remote_json(jb *b, const dcem_remote *r) {
        dcem_remote_stats st;
        dcem_remote_get_stats(r, &st);
        json_t *o = json_object();
        put(b, o, "received", json_integer((json_int_t)st.received));
        put(b, o, "accepted", json_integer((json_int_t)st.accepted));
        put(b, o, "duplicates", json_integer((json_int_t)st.duplicates));
        put(b, o, "out_of_order", json_integer((json_int_t)st.out_of_order));
        put(b, o, "unknown", json_integer((json_int_t)st.unknown));
        put(b, o, "invalid", json_integer((json_int_t)st.invalid));
        json_t *hs = json_array();
        for (size_t i = 0; i < dcem_remote_nhosts(r); i++) {
                const dcem_remote_host *h = dcem_remote_host_at(r, i);
                json_t *x = json_object();
                put(b, x, "host", dcem_json_string(h->key));
                put(b, x, "last_ts", h->last_ts_ns != INT64_MIN ? jts(h->last_ts_ns) : json_null());
                put(b, x, "accepted", json_integer((json_int_t)h->accepted));
                put(b, x, "duplicates", json_integer((json_int_t)h->duplicates));
                put(b, x, "out_of_order", json_integer((json_int_t)h->out_of_order));
                push(b, hs, x);
        }
        put(b, o, "hosts", hs);
        return o;
}

int dcem_rec_metrics(const dcem_rec_env *env, int64_t now, const dcem_acct_sums *rt, const dcem_acct_sums *day,
                     const dcem_acct_sums *month, char **ret_json, size_t *ret_len) {
        jb b = { 0 };
        json_t *o = json_object();
        put(&b, o, "window", json_string("realtime"));
        put(&b, o, "at", jts(now));
        put(&b, o, "realtime_window_s", jnum((double)env->realtime_window_ns / (double)DCEM_NS_PER_S));
        if (rt) {
                /* mean loads over the time each account's readings cover (a starting
                 * agent's readings fill only part of the window); completeness still
                 * tells how much of the window was read */
                put(&b, o, "start", jts(rt->start_ns));
                put(&b, o, "end", jts(rt->end_ns));
                put(&b, o, "completeness", jnum(dcem_acct_sums_completeness(rt)));
                json_t *l = json_object();
                for (int c = 1; c <= 3; c++) {
                        if (!(rt->it_categories & (1u << c)))
                                continue;
                        char k[16];
                        snprintf(k, sizeof k, "it_cat%d", c);
                        put(&b, l, k, jacc(&b, env, rt, DCEM_ACC_IT1 + c - 1)); /* = dcem_acct_sums_it(rt, c) */
                }
                put(&b, l, "facility",
                    edc_unread(env, rt) ? jkw_none(&b)
                                        : jkw(&b, dcem_acct_sums_edc(rt), edc_hours(rt), dcem_acct_sums_edc_est(rt) > 0));
                put(&b, l, "cooling", jacc(&b, env, rt, DCEM_ACC_COOLING));
                put(&b, l, "other", jacc(&b, env, rt, DCEM_ACC_OTHER));
                put(&b, l, "grid_import", jacc(&b, env, rt, DCEM_ACC_GRID_IMPORT));
                put(&b, l, "export", jacc(&b, env, rt, DCEM_ACC_EXPORT));
                put(&b, l, "onsite_generation", jacc(&b, env, rt, DCEM_ACC_ONSITE_RENEWABLE));
                put(&b, l, "green_supply", jacc(&b, env, rt, DCEM_ACC_GREEN_SUPPLY));
                put(&b, o, "load", l);
                /* Carbon rates: the window's kg over its hours, both bases, never merged. */
                json_t *cr = json_array();
                double h = acc_hours(rt, DCEM_ACC_GRID_IMPORT); /* carbon is of the grid import */
                bool grid_unread = acc_unread(env, rt, DCEM_ACC_GRID_IMPORT);
                for (int market = 0; market <= 1; market++) {
                        dcem_figure f;
                        dcem_fig_carbon(rt, DCEM_WIN_REALTIME, market, env->fig, &f);
                        if (grid_unread) { /* no grid reading yet: no rate, not 0 kg/h */
                                f.status = DCEM_FIG_NO_DATA;
                                f.value = NAN;
                        }
                        json_t *x = figure_json(&b, &f);
                        json_object_set_new(x, "metric", json_string(market ? "carbon_rate_market" : "carbon_rate_location"));
                        json_object_set_new(x, "value", f.status == DCEM_FIG_OK && h > 0 ? jnum(f.value / h) : json_null());
                        json_object_set_new(x, "unit", json_string(strstr(f.unit, "CO2e") ? "kgCO2e/h" : "kgCO2/h"));
                        push(&b, cr, x);
                }
                put(&b, o, "carbon_rate", cr);
                put(&b, o, "figures", rt_figures_json(&b, env, rt));
        } else {
                put(&b, o, "load", json_null());
                put(&b, o, "figures", json_array());
        }
        if (env->live && env->live->conf && env->live->conf->topic)
                put(&b, o, "carbon_rate_live", live_json(&b, env, now, rt));
        if (env->remote)
                put(&b, o, "compute_remote", remote_json(&b, env->remote));
        json_t *in = json_object();
        if (day)
                put(&b, in, "day", figures_json(&b, env, day, DCEM_WIN_DAY));
        if (month)
                put(&b, in, "month", figures_json(&b, env, month, DCEM_WIN_MONTH));
        put(&b, o, "interim", in);
        put(&b, o, "source_devices", source_devices(&b, env));
        return finish(&b, o, ret_json, ret_len);
}
