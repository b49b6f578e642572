/* test_encode_records.c - the accounting's records as JSON: every member a
 * consumer relies on is there with its unit, window, label and quality; a
 * PUE below 1 is a metering fault with a null value; carbon comes as two
 * labelled figures; NaN never reaches the text; window bounds are the
 * record's. Expected numbers are computed by hand from the inputs below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/accounting.h"
#include "encode_records.h"

#define NS INT64_C(1000000000)
#define T0 (INT64_C(1795464000) * NS) /* 2026-11-23T20:00:00Z */
#define L (900 * NS)

static dcem_acct_conf conf;
static dcem_fig_params fig;
static dcem_meter_conf meter_a = { .counter_bits = 32, .resolution_kwh = 0.001, .accuracy_class = (char *)"0.5S",
                                   .ct_ratio = (char *)"400/5", .calibration_date = (char *)"2026-03-01" };
static const dcem_rec_device devs[] = {
        { "utility-a", DCEM_ROLE_GRID_IMPORT, 0, &meter_a },
        { "pv", DCEM_ROLE_ONSITE_RENEWABLE, 0, NULL },
        { "green", DCEM_ROLE_GREEN_SUPPLY, 0, NULL },
        { "exp", DCEM_ROLE_GRID_EXPORT, 0, NULL },
        { "pdu-1", DCEM_ROLE_IT, 2, NULL },
        { "pdu-2", DCEM_ROLE_IT, 2, NULL },
        { "crah", DCEM_ROLE_COOLING, 0, NULL },
};
static dcem_rec_env env;

static int setup(void **st) {
        (void)st;
        dcem_acct_conf_defaults(&conf);
        fig = (dcem_fig_params){ .completeness_threshold = 0.95, .carbon = &conf.carbon };
        env = (dcem_rec_env){ .devices = devs, .ndev = sizeof devs / sizeof devs[0], .fig = &fig,
                              .record_interval_ns = L, .realtime_window_ns = 300 * NS };
        return 0;
}

/* grid 10, onsite 1, green 2, export 0.5 -> E_DC 12.5; IT cat 2: 8 (0.8 estimated); cooling 1.5; other 0.3. */
static dcem_acct_sums sums(double it2) {
        dcem_acct_sums s = { .start_ns = T0, .end_ns = T0 + L, .covered_ns = L, .n_intervals = 1,
                             .readings_taken = 9, .readings_expected = 10, .it_categories = 1u << 2 };
        s.kwh[DCEM_ACC_GRID_IMPORT] = 10;
        s.kwh[DCEM_ACC_ONSITE_RENEWABLE] = 1;
        s.kwh[DCEM_ACC_GREEN_SUPPLY] = 2;
        s.kwh[DCEM_ACC_EXPORT] = 0.5;
        s.kwh[DCEM_ACC_IT2] = it2;
        s.est_kwh[DCEM_ACC_IT2] = 0.8;
        s.kwh[DCEM_ACC_COOLING] = 1.5;
        s.kwh[DCEM_ACC_OTHER] = 0.3;
        return s;
}

static json_t *parse(const char *txt, size_t len) {
        assert_int_equal(strlen(txt), len);
        assert_null(strstr(txt, "nan"));
        assert_null(strstr(txt, "inf"));
        json_error_t je;
        json_t *o = json_loads(txt, JSON_REJECT_DUPLICATES, &je);
        assert_non_null(o);
        return o;
}

static json_t *find_fig(json_t *figs, const char *metric, int category) {
        size_t i;
        json_t *f;
        json_array_foreach(figs, i, f) {
                json_t *c = json_object_get(f, "category");
                if (!strcmp(json_string_value(json_object_get(f, "metric")), metric) &&
                    (category == 0 ? c == NULL : json_integer_value(c) == category))
                        return f;
        }
        return NULL;
}

static double num(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        assert_true(json_is_number(v));
        return json_number_value(v);
}

static const char *str(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        assert_true(json_is_string(v));
        return json_string_value(v);
}

static bool has_source(json_t *f, const char *acc) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(f, "sources"), i, v) if (!strcmp(json_string_value(v), acc)) return true;
        return false;
}

static char *encode_interval(double it2, const dcem_rec_event *ev, size_t nev, size_t *len) {
        dcem_acct_dev_stat st[2] = {
                { .device = "utility-a", .role = DCEM_ROLE_GRID_IMPORT, .kwh = 10, .taken = 9, .expected = 10,
                  .completeness = 0.9, .events = 1 },
                { .device = "pdu-1", .role = DCEM_ROLE_IT, .pue_category = 2, .kwh = it2, .est_kwh = 0.8, .taken = 10,
                  .expected = 10, .completeness = 1 },
        };
        dcem_acct_interval iv = { .seq = 41, .sums = sums(it2), .ndev = 2, .dev = st };
        char *txt = NULL;
        assert_int_equal(dcem_rec_interval(&env, &iv, ev, nev, 3, &txt, len), 0);
        return txt;
}

static void test_interval_members(void **st) {
        (void)st;
        dcem_rec_event ev = { .kind = DCEM_EV_WRAP, .device = "utility-a", .point = "energy_kwh",
                              .prev_ts_ns = T0 + 10 * NS, .ts_ns = T0 + 20 * NS, .prev_value = 4294967.0,
                              .value = 0.2, .kwh = 0.496 };
        size_t len;
        char *txt = encode_interval(8, &ev, 1, &len);
        json_t *o = parse(txt, len);
        assert_string_equal(str(o, "window"), "interval");
        assert_int_equal(json_integer_value(json_object_get(o, "record_seq")), 41);
        assert_string_equal(str(o, "start"), "2026-11-23T20:00:00.000Z");
        assert_string_equal(str(o, "end"), "2026-11-23T20:15:00.000Z");
        assert_true(fabs(num(o, "duration_s") - 900) < 1e-9);
        json_t *e = json_object_get(o, "energy");
        json_t *g = json_object_get(e, "grid_import");
        assert_true(fabs(num(g, "v") - 10) < 1e-12);
        assert_string_equal(str(g, "u"), "kWh");
        assert_string_equal(str(g, "q"), "good");
        assert_true(fabs(num(json_object_get(e, "dc"), "v") - 12.5) < 1e-12);
        assert_null(json_object_get(e, "it_cat1")); /* category not present */
        json_t *it2 = json_object_get(e, "it_cat2");
        assert_true(fabs(num(it2, "estimated_kwh") - 0.8) < 1e-12);
        assert_string_equal(str(it2, "q"), "estimated");
        assert_true(fabs(num(o, "completeness") - 0.9) < 1e-12);
        /* estimated share: 0.8 of 10+1+2+0.5+8+1.5+0.3 = 23.3 kWh */
        assert_true(fabs(num(o, "estimated_share") - 0.8 / 23.3) < 1e-12);
        assert_true(json_is_true(json_object_get(o, "estimated")));
        /* devices with the meter's certification data */
        json_t *d0 = json_array_get(json_object_get(o, "devices"), 0);
        assert_string_equal(str(d0, "device"), "utility-a");
        assert_string_equal(str(d0, "role"), "grid_import");
        json_t *m = json_object_get(d0, "meter");
        assert_string_equal(str(m, "accuracy_class"), "0.5S");
        assert_string_equal(str(m, "ct_ratio"), "400/5");
        assert_string_equal(str(m, "calibration_date"), "2026-03-01");
        assert_int_equal(json_integer_value(json_object_get(m, "counter_bits")), 32);
        json_t *d1 = json_array_get(json_object_get(o, "devices"), 1);
        assert_int_equal(json_integer_value(json_object_get(d1, "pue_category")), 2);
        assert_true(json_is_null(json_object_get(json_object_get(d1, "meter"), "accuracy_class")));
        /* the event, and the ones only counted */
        json_t *ev0 = json_array_get(json_object_get(o, "events"), 0);
        assert_string_equal(str(ev0, "kind"), "counter_wrap");
        assert_string_equal(str(ev0, "ts"), "2026-11-23T20:00:20.000Z");
        assert_true(fabs(num(ev0, "counted_kwh") - 0.496) < 1e-12);
        assert_int_equal(json_integer_value(json_object_get(o, "events_dropped")), 3);
        /* who is behind each account */
        json_t *sd = json_object_get(o, "source_devices");
        assert_int_equal(json_array_size(json_object_get(sd, "it_cat2")), 2);
        assert_string_equal(json_string_value(json_array_get(json_object_get(sd, "grid_import"), 0)), "utility-a");
        assert_null(json_object_get(sd, "other"));
        json_decref(o);
        free(txt);
}

static void test_interval_figures(void **st) {
        (void)st;
        size_t len;
        char *txt = encode_interval(8, NULL, 0, &len);
        json_t *o = parse(txt, len);
        json_t *figs = json_object_get(o, "figures");
        json_t *pue = find_fig(figs, "pue", 2);
        assert_non_null(pue);
        assert_true(fabs(num(pue, "value") - 12.5 / 8) < 1e-12);
        assert_string_equal(str(pue, "unit"), "kWh/kWh");
        assert_string_equal(str(pue, "status"), "ok");
        assert_string_equal(str(pue, "label"), "interim");
        assert_string_equal(str(pue, "window"), "interval");
        assert_string_equal(str(pue, "start"), "2026-11-23T20:00:00.000Z");
        assert_string_equal(str(pue, "end"), "2026-11-23T20:15:00.000Z");
        assert_string_equal(str(pue, "quality"), "estimated");
        assert_true(fabs(num(pue, "completeness") - 0.9) < 1e-12);
        assert_true(fabs(num(pue, "numerator") - 12.5) < 1e-12);
        assert_true(has_source(pue, "grid_import") && has_source(pue, "it_cat2") && !has_source(pue, "cooling"));
        assert_null(find_fig(figs, "pue", 1));
        /* REF = (onsite 1 - export 0.5 + green 2) / 12.5 */
        json_t *ref = find_fig(figs, "ref", 0);
        assert_true(fabs(num(ref, "value") - 2.5 / 12.5) < 1e-12);
        assert_string_equal(str(ref, "unit"), "1");
        /* carbon twice, labelled, never merged */
        json_t *cl = find_fig(figs, "carbon_location", 0), *cm = find_fig(figs, "carbon_market", 0);
        assert_non_null(cl);
        assert_non_null(cm);
        assert_true(fabs(num(cl, "value") - 10 * 0.5306) < 1e-9);
        assert_true(fabs(num(cm, "value") - 10 * 0.6096) < 1e-9);
        assert_string_equal(str(cl, "basis"), "location");
        assert_string_equal(str(cm, "basis"), "market");
        assert_string_equal(str(cl, "unit"), "kgCO2");
        assert_true(fabs(num(cl, "factor") - 0.5306) < 1e-12);
        assert_true(fabs(num(cm, "factor") - 0.6096) < 1e-12);
        assert_string_equal(str(cl, "factor_source"), DCEM_CN_FACTOR_SOURCE);
        assert_string_equal(str(cm, "factor_source"), DCEM_CN_RESIDUAL_SOURCE);
        assert_string_equal(str(cl, "factor_unit"), "kgCO2/kWh");
        assert_null(find_fig(figs, "carbon", 0));
        /* SCI carries its functional unit and boundary */
        json_t *sci = find_fig(figs, "sci", 2);
        assert_non_null(sci);
        assert_string_equal(str(sci, "per"), "kWh_it");
        assert_non_null(json_object_get(sci, "embodied_included"));
        json_decref(o);
        free(txt);
}

static void test_metering_fault(void **st) {
        (void)st;
        size_t len;
        char *txt = encode_interval(20, NULL, 0, &len); /* E_IT 20 > E_DC 12.5: PUE 0.625 */
        json_t *o = parse(txt, len);
        json_t *pue = find_fig(json_object_get(o, "figures"), "pue", 2);
        assert_string_equal(str(pue, "status"), "metering_fault");
        assert_true(json_is_null(json_object_get(pue, "value")));
        assert_null(strstr(txt, "0.625"));
        json_decref(o);
        free(txt);
}

static void test_nan(void **st) {
        (void)st;
        dcem_acct_carbon_conf nanc = conf.carbon;
        nanc.grid_factor = NAN;
        dcem_fig_params p = fig;
        p.carbon = &nanc;
        dcem_rec_env e2 = env;
        e2.fig = &p;
        dcem_rec_event ev = { .kind = DCEM_EV_CLOCK_STEP, .device = "pdu-1", .ts_ns = T0 + NS, .prev_value = NAN,
                              .value = NAN };
        dcem_acct_interval iv = { .seq = 1, .sums = sums(8) };
        char *txt = NULL;
        size_t len;
        assert_int_equal(dcem_rec_interval(&e2, &iv, &ev, 1, 0, &txt, &len), 0);
        json_t *o = parse(txt, len);
        json_t *cl = find_fig(json_object_get(o, "figures"), "carbon_location", 0);
        assert_true(json_is_null(json_object_get(cl, "value")));
        assert_string_equal(str(cl, "status"), "no_data");
        json_t *ev0 = json_array_get(json_object_get(o, "events"), 0);
        assert_true(json_is_null(json_object_get(ev0, "value")));
        assert_true(json_is_null(json_object_get(ev0, "prev_ts")));
        assert_null(json_object_get(ev0, "point"));
        json_decref(o);
        free(txt);
}

static void test_window_records(void **st) {
        (void)st;
        dcem_acct_sums s = sums(8);
        s.end_ns = T0 + 3600 * NS;
        s.covered_ns = L; /* one of four intervals: completeness 0.9 x 1/4 */
        char *txt = NULL;
        size_t len;
        assert_int_equal(dcem_rec_window(&env, DCEM_WIN_INTERVAL, &s, 0, &txt, &len), -EINVAL);
        assert_int_equal(dcem_rec_window(&env, DCEM_WIN_HOUR, &s, 7, &txt, &len), 0);
        json_t *o = parse(txt, len);
        assert_string_equal(str(o, "window"), "hour");
        assert_int_equal(json_integer_value(json_object_get(o, "last_record_seq")), 7);
        assert_string_equal(str(o, "end"), "2026-11-23T21:00:00.000Z");
        assert_true(fabs(num(o, "completeness") - 0.9 * 0.25) < 1e-12);
        json_t *pue = find_fig(json_object_get(o, "figures"), "pue", 2);
        assert_string_equal(str(pue, "window"), "hour");
        assert_string_equal(str(pue, "label"), "interim");
        assert_string_equal(str(pue, "end"), "2026-11-23T21:00:00.000Z");
        json_decref(o);
        free(txt);
        /* 12 months at full completeness: annual */
        dcem_acct_sums y = sums(8);
        y.start_ns = dcem_month_start_ns(2025 * 12 + 10);
        y.end_ns = dcem_month_start_ns(2026 * 12 + 10);
        y.covered_ns = y.end_ns - y.start_ns;
        y.readings_taken = y.readings_expected = 100;
        y.months_with_data = 12;
        assert_int_equal(dcem_rec_window(&env, DCEM_WIN_ROLLING12, &y, 9, &txt, &len), 0);
        o = parse(txt, len);
        assert_string_equal(str(o, "window"), "rolling_12_months");
        assert_int_equal(json_integer_value(json_object_get(o, "months_with_data")), 12);
        assert_string_equal(str(find_fig(json_object_get(o, "figures"), "pue", 2), "label"), "annual");
        json_decref(o);
        free(txt);
        /* 11 months: interim */
        y.months_with_data = 11;
        assert_int_equal(dcem_rec_window(&env, DCEM_WIN_ROLLING12, &y, 9, &txt, &len), 0);
        o = parse(txt, len);
        assert_string_equal(str(find_fig(json_object_get(o, "figures"), "pue", 2), "label"), "interim");
        json_decref(o);
        free(txt);
}

static void test_metrics(void **st) {
        (void)st;
        dcem_acct_sums rt = sums(8);
        rt.start_ns = T0;
        rt.end_ns = T0 + 300 * NS; /* 1/12 h: 10 kWh grid = 120 kW */
        rt.covered_ns = 300 * NS;
        for (int k = 0; k < DCEM_ACC_ENERGY_MAX; k++)
                rt.rt_covered_ns[k] = 300 * NS; /* every account read over the whole window */
        dcem_acct_sums day = sums(8);
        char *txt = NULL;
        size_t len;
        assert_int_equal(dcem_rec_metrics(&env, T0 + 301 * NS, &rt, &day, NULL, &txt, &len), 0);
        json_t *o = parse(txt, len);
        assert_string_equal(str(o, "window"), "realtime");
        assert_string_equal(str(o, "at"), "2026-11-23T20:05:01.000Z");
        json_t *load = json_object_get(o, "load");
        assert_true(fabs(num(json_object_get(load, "grid_import"), "v") - 120) < 1e-9);
        assert_string_equal(str(json_object_get(load, "grid_import"), "u"), "kW");
        assert_true(fabs(num(json_object_get(load, "facility"), "v") - 150) < 1e-9);
        assert_true(fabs(num(json_object_get(load, "it_cat2"), "v") - 96) < 1e-9);
        assert_string_equal(str(json_object_get(load, "it_cat2"), "q"), "estimated");
        assert_true(fabs(num(json_object_get(load, "onsite_generation"), "v") - 12) < 1e-9);
        assert_null(json_object_get(load, "it_cat1"));
        json_t *cr = json_object_get(o, "carbon_rate");
        assert_int_equal(json_array_size(cr), 2);
        assert_string_equal(str(json_array_get(cr, 0), "metric"), "carbon_rate_location");
        assert_true(fabs(num(json_array_get(cr, 0), "value") - 120 * 0.5306) < 1e-9);
        assert_string_equal(str(json_array_get(cr, 0), "unit"), "kgCO2/h");
        assert_string_equal(str(json_array_get(cr, 1), "metric"), "carbon_rate_market");
        assert_true(fabs(num(json_array_get(cr, 1), "value") - 120 * 0.6096) < 1e-9);
        json_t *pue = find_fig(json_object_get(o, "figures"), "pue", 2);
        assert_string_equal(str(pue, "label"), "realtime");
        assert_true(fabs(num(pue, "value") - 12.5 / 8) < 1e-12);
        json_t *in = json_object_get(o, "interim");
        assert_string_equal(str(find_fig(json_object_get(in, "day"), "pue", 2), "label"), "interim");
        assert_string_equal(str(find_fig(json_object_get(in, "day"), "pue", 2), "window"), "day");
        assert_null(json_object_get(in, "month"));
        json_decref(o);
        free(txt);
        /* nothing yet */
        assert_int_equal(dcem_rec_metrics(&env, T0, NULL, NULL, NULL, &txt, &len), 0);
        o = parse(txt, len);
        assert_true(json_is_null(json_object_get(o, "load")));
        assert_int_equal(json_array_size(json_object_get(o, "figures")), 0);
        json_decref(o);
        free(txt);
}

static void test_figure_accounts(void **st) {
        (void)st;
        dcem_figure f = { .metric = "pue", .category = 3 };
        uint32_t a = dcem_rec_figure_accounts(&f);
        assert_true(a & (1u << DCEM_ACC_IT3));
        assert_false(a & (1u << DCEM_ACC_IT2));
        assert_true(a & (1u << DCEM_ACC_EXPORT));
        f = (dcem_figure){ .metric = "carbon_location" };
        assert_int_equal(dcem_rec_figure_accounts(&f), 1u << DCEM_ACC_GRID_IMPORT);
        f = (dcem_figure){ .metric = "sci", .category = 1, .basis = "it_only" };
        assert_int_equal(dcem_rec_figure_accounts(&f), 1u << DCEM_ACC_IT1);
}

/* Compute amounts and factor provenance: the interval record carries each
 * declared unit's amount under "compute" (not among the energies), SCI per
 * unit with its functional unit and boundary, and every carbon figure names
 * the factor table, region and data year. */
static void test_compute_and_provenance(void **st) {
        (void)st;
        const char *names[2] = { "cpu_core_hour", "job" };
        dcem_acct_conf c = conf;
        c.carbon.table = (char *)"cn-mee-2023";
        c.carbon.region = (char *)"south";
        c.carbon.grid_factor = 0.4042;
        dcem_fig_params p = fig;
        p.carbon = &c.carbon;
        p.unit_names = names;
        p.nunit_names = 2;
        dcem_rec_env e = env;
        e.fig = &p;
        dcem_acct_sums sm = sums(8);
        sm.kwh[DCEM_ACC_UNIT0] = 40;   /* core-hours */
        sm.kwh[DCEM_ACC_UNIT0 + 1] = 0; /* no job done: no data */
        dcem_acct_interval iv = { .seq = 7, .sums = sm, .ndev = 0, .dev = NULL };
        char *txt = NULL;
        size_t len = 0;
        assert_int_equal(dcem_rec_interval(&e, &iv, NULL, 0, 0, &txt, &len), 0);
        json_t *o = parse(txt, len);
        json_t *comp = json_object_get(o, "compute");
        assert_true(num(json_object_get(comp, "cpu_core_hour"), "v") == 40);
        assert_string_equal(str(json_object_get(comp, "cpu_core_hour"), "u"), "cpu_core_hour");
        assert_true(num(json_object_get(comp, "job"), "v") == 0);
        assert_null(json_object_get(json_object_get(o, "energy"), "unit0"));
        size_t i, nsci = 0;
        json_t *f;
        double edc = 10 + 2 + 1 - 0.5;
        json_array_foreach(json_object_get(o, "figures"), i, f) {
                const char *m = str(f, "metric");
                if (!strcmp(m, "carbon_location") || !strcmp(m, "carbon_market") || !strcmp(m, "sci")) {
                        assert_string_equal(str(f, "factor_table"), "cn-mee-2023");
                        assert_string_equal(str(f, "factor_region"), "south");
                        assert_true(num(f, "factor_year") == 2023);
                }
                if (!strcmp(m, "carbon_location"))
                        assert_true(fabs(num(f, "value") - 10 * 0.4042) < 1e-12);
                if (strcmp(m, "sci") != 0 || !json_object_get(f, "per"))
                        continue;
                const char *per = str(f, "per");
                bool xp = !strcmp(str(f, "basis"), "x_pue");
                if (!strcmp(per, "cpu_core_hour")) {
                        nsci++;
                        assert_true(fabs(num(f, "value") - (xp ? edc : 8) * 0.4042 * 1000 / 40) < 1e-9);
                        assert_true(json_is_false(json_object_get(f, "embodied_included")));
                } else if (!strcmp(per, "job")) {
                        nsci++;
                        assert_true(json_is_null(json_object_get(f, "value")));
                        assert_string_equal(str(f, "status"), "no_data");
                }
        }
        assert_int_equal(nsci, 4);
        json_decref(o);
        free(txt);
        /* inline factors: factor_table null */
        assert_int_equal(dcem_rec_interval(&env, &iv, NULL, 0, 0, &txt, &len), 0);
        o = parse(txt, len);
        f = find_fig(json_object_get(o, "figures"), "carbon_location", 0);
        assert_true(json_is_null(json_object_get(f, "factor_table")));
        assert_int_equal(json_object_size(json_object_get(o, "compute")), 0);
        json_decref(o);
        free(txt);
}

/* Live intensity: messages parsed in their unit (WattTime lbs/MWh x 0.4536),
 * garbage refused; the metrics record's carbon_rate_live = facility load x
 * intensity, labelled realtime and not for accounting; stale and no_data. */
static void test_live_intensity(void **st) {
        (void)st;
        double g = -1;
        assert_int_equal(dcem_live_intensity_parse("850", 3, DCEM_LIVE_LBS_PER_MWH, &g), 0);
        assert_true(fabs(g - 850 * 0.4536) < 1e-12);
        const char *obj = "{\"point_time\":\"2026-11-23T20:00:00Z\",\"value\":412.5}";
        assert_int_equal(dcem_live_intensity_parse(obj, strlen(obj), DCEM_LIVE_G_PER_KWH, &g), 0);
        assert_true(g == 412.5);
        assert_int_equal(dcem_live_intensity_parse("{\"moer\":0.4}", 12, DCEM_LIVE_KG_PER_KWH, &g), 0);
        assert_true(fabs(g - 400) < 1e-12);
        const char *bad[] = { "abc", "-1", "6000", "\"400\"", "{\"v\":1}", "[1]", "", "1e999" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                g = 7;
                assert_int_equal(dcem_live_intensity_parse(bad[i], strlen(bad[i]), DCEM_LIVE_G_PER_KWH, &g), -EINVAL);
                assert_true(g == 7);
        }
        dcem_acct_live_conf lc = { .topic = (char *)"grid/moer", .unit = DCEM_LIVE_LBS_PER_MWH, .kind = 0,
                                   .source = (char *)"WattTime MOER", .max_age_ns = 600 * NS };
        dcem_rec_live live = { .conf = &lc, .have = true, .g_per_kwh = 850 * 0.4536, .received_ns = T0 + 200 * NS };
        dcem_rec_env e = env;
        e.live = &live;
        dcem_acct_sums rt = sums(8);
        rt.start_ns = T0;
        rt.end_ns = T0 + 300 * NS; /* 1/12 h: E_DC 12.5 kWh = 150 kW */
        rt.covered_ns = 300 * NS;
        for (int k = 0; k < DCEM_ACC_ENERGY_MAX; k++)
                rt.rt_covered_ns[k] = 300 * NS;
        char *txt = NULL;
        size_t len;
        assert_int_equal(dcem_rec_metrics(&e, T0 + 301 * NS, &rt, NULL, NULL, &txt, &len), 0);
        json_t *o = parse(txt, len);
        json_t *l = json_object_get(o, "carbon_rate_live");
        assert_string_equal(str(l, "status"), "ok");
        assert_true(fabs(num(l, "value") - 150 * 850 * 0.4536 / 1000) < 1e-9);
        assert_string_equal(str(l, "unit"), "kgCO2/h");
        assert_string_equal(str(l, "kind"), "marginal");
        assert_string_equal(str(l, "label"), "realtime");
        assert_true(json_is_false(json_object_get(l, "for_accounting")));
        assert_true(num(l, "age_s") == 101);
        /* the accounting's carbon is untouched by it */
        assert_true(fabs(num(json_array_get(json_object_get(o, "carbon_rate"), 0), "value") - 120 * 0.5306) < 1e-9);
        json_decref(o);
        free(txt);
        /* stale */
        assert_int_equal(dcem_rec_metrics(&e, T0 + 801 * NS, &rt, NULL, NULL, &txt, &len), 0);
        o = parse(txt, len);
        l = json_object_get(o, "carbon_rate_live");
        assert_string_equal(str(l, "status"), "stale");
        assert_true(json_is_null(json_object_get(l, "value")));
        json_decref(o);
        free(txt);
        /* nothing received yet */
        live.have = false;
        assert_int_equal(dcem_rec_metrics(&e, T0 + 301 * NS, &rt, NULL, NULL, &txt, &len), 0);
        o = parse(txt, len);
        l = json_object_get(o, "carbon_rate_live");
        assert_string_equal(str(l, "status"), "no_data");
        assert_true(json_is_null(json_object_get(l, "intensity")));
        json_decref(o);
        free(txt);
        /* not configured: no member */
        assert_int_equal(dcem_rec_metrics(&env, T0 + 301 * NS, &rt, NULL, NULL, &txt, &len), 0);
        o = parse(txt, len);
        assert_null(json_object_get(o, "carbon_rate_live"));
        json_decref(o);
        free(txt);
}

/* The first seconds of a run: the real-time window is 300 s but readings
 * cover only 29 s of it (1 s polls, readings at 0..29 s, the first a
 * baseline). Loads and carbon rates are the kWh over the covered time, not
 * over the whole window (which made a 150 kW site climb 0, 14.5, ... kW),
 * and completeness still says how little of the window was read. */
static void test_metrics_partial_window(void **st) {
        (void)st;
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&conf, NULL, &a), 0);
        dcem_acct_device g = { .name = "utility-a", .role = DCEM_ROLE_GRID_IMPORT, .poll_interval_ns = NS };
        dcem_acct_device it = { .name = "pdu-1", .role = DCEM_ROLE_IT, .pue_category = 2, .poll_interval_ns = NS };
        assert_int_equal(dcem_acct_add_device(a, &g), 0);
        assert_int_equal(dcem_acct_add_device(a, &it), 0);
        const double kw_grid = 150, kw_it = 100;
        const int n = 30;
        for (int k = 0; k < n; k++) {
                int64_t t = T0 + k * NS;
                assert_int_equal(dcem_acct_feed(a, "utility-a", "energy_kwh", 500 + kw_grid * k / 3600.0, "kWh", t,
                                                DCEM_Q_GOOD), 0);
                assert_int_equal(dcem_acct_feed(a, "pdu-1", "energy_kwh", 70 + kw_it * k / 3600.0, "kWh", t,
                                                DCEM_Q_GOOD), 0);
        }
        dcem_acct_sums rt;
        int64_t now = T0 + (n - 1) * NS;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, now, &rt), 0);
        int64_t covered = (int64_t)(n - 2) * NS; /* first delta ends at 1 s, last at n-1 s */
        assert_int_equal(rt.rt_covered_ns[DCEM_ACC_GRID_IMPORT], covered);
        assert_int_equal(rt.rt_covered_ns[DCEM_ACC_IT2], covered);
        assert_int_equal(rt.end_ns - rt.start_ns, 300 * NS);
        char *txt = NULL;
        size_t len;
        assert_int_equal(dcem_rec_metrics(&env, now, &rt, NULL, NULL, &txt, &len), 0);
        json_t *o = parse(txt, len);
        json_t *load = json_object_get(o, "load");
        assert_true(fabs(num(json_object_get(load, "grid_import"), "v") - kw_grid) < 1e-6);
        assert_true(fabs(num(json_object_get(load, "facility"), "v") - kw_grid) < 1e-6);
        assert_true(fabs(num(json_object_get(load, "it_cat2"), "v") - kw_it) < 1e-6);
        /* crah is configured but no reading of it came: no load (null), never 0 kW */
        assert_true(json_is_null(json_object_get(json_object_get(load, "cooling"), "v")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(load, "cooling"), "q")), "no_data");
        /* an account no configured device meters is 0 by definition */
        assert_true(fabs(num(json_object_get(load, "other"), "v")) < 1e-12);
        json_t *cr = json_object_get(o, "carbon_rate");
        assert_true(fabs(num(json_array_get(cr, 0), "value") - kw_grid * conf.carbon.grid_factor) < 1e-6);
        /* completeness: per device n - 1 readings taken (1..n-1 s) of 300 expected */
        assert_true(fabs(num(o, "completeness") - (double)(n - 1) / 300) < 1e-12);
        json_decref(o);
        free(txt);
        dcem_acct_free(a);
}

/* The first tick: only the PDU has a counted delta, the grid meter one
 * reading (a baseline): grid and facility loads and the carbon rates are
 * null (no_data), never 0 kW; every real-time figure is no_data (E_DC 0 over
 * E_IT would be a PUE of 0). Once the grid meter has a delta they are numbers. */
static void test_metrics_first_tick(void **st) {
        (void)st;
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&conf, NULL, &a), 0);
        dcem_acct_device g = { .name = "utility-a", .role = DCEM_ROLE_GRID_IMPORT, .poll_interval_ns = NS };
        dcem_acct_device it = { .name = "pdu-1", .role = DCEM_ROLE_IT, .pue_category = 2, .poll_interval_ns = NS };
        dcem_acct_device cr = { .name = "crah", .role = DCEM_ROLE_COOLING, .poll_interval_ns = NS };
        assert_int_equal(dcem_acct_add_device(a, &g), 0);
        assert_int_equal(dcem_acct_add_device(a, &it), 0);
        assert_int_equal(dcem_acct_add_device(a, &cr), 0);
        static const dcem_rec_device mine[] = { { "utility-a", DCEM_ROLE_GRID_IMPORT, 0, NULL },
                                                { "pdu-1", DCEM_ROLE_IT, 2, NULL },
                                                { "crah", DCEM_ROLE_COOLING, 0, NULL } };
        dcem_rec_env e3 = env;
        e3.devices = mine;
        e3.ndev = 3;
        assert_int_equal(dcem_acct_feed(a, "pdu-1", "energy_kwh", 70, "kWh", T0, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "pdu-1", "energy_kwh", 70.05, "kWh", T0 + NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "pdu-1", "energy_kwh", 70.1, "kWh", T0 + 2 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "utility-a", "energy_kwh", 500, "kWh", T0 + 2 * NS, DCEM_Q_GOOD), 0);
        dcem_acct_sums rt;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, T0 + 2 * NS, &rt), 0);
        char *txt = NULL;
        size_t len;
        assert_int_equal(dcem_rec_metrics(&e3, T0 + 2 * NS, &rt, NULL, NULL, &txt, &len), 0);
        json_t *o = parse(txt, len);
        json_t *load = json_object_get(o, "load");
        for (const char *const *k = (const char *const[]){ "grid_import", "facility", "cooling", NULL }; *k; k++) {
                json_t *x = json_object_get(load, *k);
                assert_true(json_is_null(json_object_get(x, "v")));
                assert_string_equal(json_string_value(json_object_get(x, "q")), "no_data");
        }
        assert_true(fabs(num(json_object_get(load, "it_cat2"), "v") - 0.05 / (1.0 / 3600)) < 1e-6);
        json_t *crate = json_object_get(o, "carbon_rate");
        assert_true(json_array_size(crate) == 2);
        for (size_t i = 0; i < 2; i++) {
                assert_true(json_is_null(json_object_get(json_array_get(crate, i), "value")));
                assert_string_equal(json_string_value(json_object_get(json_array_get(crate, i), "status")), "no_data");
        }
        json_t *figs = json_object_get(o, "figures");
        assert_true(json_array_size(figs) > 0);
        for (size_t i = 0; i < json_array_size(figs); i++) {
                assert_true(json_is_null(json_object_get(json_array_get(figs, i), "value")));
                assert_string_equal(json_string_value(json_object_get(json_array_get(figs, i), "status")), "no_data");
        }
        json_decref(o);
        free(txt);
        /* every account read: numbers again */
        assert_int_equal(dcem_acct_feed(a, "utility-a", "energy_kwh", 500.1, "kWh", T0 + 3 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "utility-a", "energy_kwh", 500.2, "kWh", T0 + 4 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "crah", "energy_kwh", 9, "kWh", T0 + 2 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "crah", "energy_kwh", 9.01, "kWh", T0 + 3 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "crah", "energy_kwh", 9.02, "kWh", T0 + 4 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "pdu-1", "energy_kwh", 70.15, "kWh", T0 + 3 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_feed(a, "pdu-1", "energy_kwh", 70.2, "kWh", T0 + 4 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, T0 + 4 * NS, &rt), 0);
        assert_int_equal(dcem_rec_metrics(&e3, T0 + 4 * NS, &rt, NULL, NULL, &txt, &len), 0);
        o = parse(txt, len);
        load = json_object_get(o, "load");
        assert_true(fabs(num(json_object_get(load, "grid_import"), "v") - 0.1 / (1.0 / 3600)) < 1e-6);
        assert_true(fabs(num(json_object_get(load, "facility"), "v") - 0.1 / (1.0 / 3600)) < 1e-6);
        assert_true(fabs(num(json_object_get(load, "cooling"), "v") - 0.01 / (1.0 / 3600)) < 1e-6);
        assert_true(fabs(num(json_array_get(json_object_get(o, "carbon_rate"), 0), "value") -
                         0.1 / (1.0 / 3600) * conf.carbon.grid_factor) < 1e-6);
        assert_string_not_equal(str(find_fig(json_object_get(o, "figures"), "pue", 2), "status"), "no_data");
        json_decref(o);
        free(txt);
        dcem_acct_free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_metrics_first_tick),
                cmocka_unit_test(test_live_intensity),
                cmocka_unit_test(test_compute_and_provenance),
                cmocka_unit_test(test_interval_members), cmocka_unit_test(test_interval_figures),
                cmocka_unit_test(test_metering_fault),   cmocka_unit_test(test_nan),
                cmocka_unit_test(test_window_records),   cmocka_unit_test(test_metrics),
                cmocka_unit_test(test_metrics_partial_window),
                cmocka_unit_test(test_figure_accounts),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
