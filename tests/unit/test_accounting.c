/* test_accounting.c - the accounting engine: counters to deltas (wrap, reset,
 * jump, clock), power integration, interval splitting, completeness, roles,
 * late energy, roll-ups and figures through the engine, the real-time view.
 * Expected values are computed in the tests from the synthetic site they
 * build (constant powers, known counter values), never copied from a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/accounting.h"

#define NS INT64_C(1000000000)
#define T0 (INT64_C(1767225600) * NS) /* 2026-01-01T00:00:00Z */

typedef struct rec {
        dcem_acct_interval iv[1024];
        dcem_acct_dev_stat dev[1024][4];
        size_t n;
        dcem_acct_event ev[256];
        int nev, ev_kind[_DCEM_EV_MAX];
        int closed[_DCEM_WIN_MAX];
        dcem_acct_sums last_closed[_DCEM_WIN_MAX];
} rec;

static void on_interval(void *ud, const dcem_acct_interval *iv) {
        rec *r = ud;
        assert_true(r->n < 1024);
        r->iv[r->n] = *iv;
        for (size_t i = 0; i < iv->ndev && i < 4; i++)
                r->dev[r->n][i] = iv->dev[i];
        r->iv[r->n].dev = r->dev[r->n];
        r->n++;
}

static void on_event(void *ud, const dcem_acct_event *ev) {
        rec *r = ud;
        if (r->nev < 256)
                r->ev[r->nev++] = *ev;
        r->ev_kind[ev->kind]++;
}

static void on_rollup(void *ud, dcem_window_kind k, const dcem_acct_sums *s) {
        rec *r = ud;
        r->closed[k]++;
        r->last_closed[k] = *s;
}

static void near(double got, double want, double tol) {
        if (!(fabs(got - want) <= tol))
                fail_msg("got %.17g, want %.17g", got, want);
}

static dcem_acct *mk(rec *r, int64_t interval_s, dcem_acct_conf *out_conf) {
        static dcem_acct_conf conf;
        dcem_acct_conf_defaults(&conf);
        conf.record_interval_ns = interval_s * NS;
        conf.close_delay_ns = 5 * NS;
        if (out_conf)
                conf = *out_conf;
        dcem_acct_hooks h = { on_interval, on_rollup, on_event, r };
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&conf, &h, &a), 0);
        return a;
}

static void add(dcem_acct *a, const char *name, dcem_role role, int cat, double rated, int64_t poll_s) {
        dcem_acct_device d = { .name = name, .role = role, .pue_category = cat, .rated_kw = rated,
                               .poll_interval_ns = poll_s * NS };
        assert_int_equal(dcem_acct_add_device(a, &d), 0);
}

static void feed(dcem_acct *a, const char *dev, const char *point, double v, int64_t ts) {
        assert_int_equal(dcem_acct_feed(a, dev, point, v, point[0] == 'p' ? "kW" : "kWh", ts, DCEM_Q_GOOD), 0);
}

/* A site where the facility draws 150 kW and IT (category 2) 100 kW: every
 * 60 s interval gets 2.5 and 1.6667 kWh, PUE is exactly 1.5, completeness 1. */
static void test_constant_site_pue(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 500, 10);
        add(a, "pdu", DCEM_ROLE_IT, 2, 200, 10);
        double g0 = 12345.0, i0 = 777.0;
        for (int k = 0; k <= 60; k++) { /* 10 minutes */
                int64_t t = T0 + k * 10 * NS;
                double h = k * 10 / 3600.0;
                feed(a, "grid", "energy_kwh", g0 + 150 * h, t);
                feed(a, "pdu", "energy_kwh", i0 + 100 * h, t);
                assert_int_equal(dcem_acct_advance(a, t), 0);
        }
        assert_int_equal(r->n, 10);
        for (size_t i = 0; i < r->n; i++) {
                const dcem_acct_sums *s = &r->iv[i].sums;
                assert_int_equal(r->iv[i].seq, i);
                assert_int_equal(s->start_ns, T0 + (int64_t)i * 60 * NS);
                near(s->kwh[DCEM_ACC_GRID_IMPORT], 150.0 / 60, 1e-9);
                near(s->kwh[DCEM_ACC_IT2], 100.0 / 60, 1e-9);
                near(dcem_acct_sums_completeness(s), 1.0, 0);
                assert_int_equal(r->iv[i].dev[0].taken, 6);
                near(r->iv[i].dev[0].expected, 6, 0);
                dcem_figure f;
                dcem_fig_params p = { .completeness_threshold = 0.95 };
                dcem_fig_pue(s, DCEM_WIN_INTERVAL, 2, &p, &f);
                assert_int_equal(f.status, DCEM_FIG_OK);
                near(f.value, 1.5, 1e-9);
                assert_false(f.estimated);
                assert_int_equal(f.label, DCEM_LABEL_INTERIM);
        }
        dcem_acct_sums hs;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_HOUR, T0, &hs), 0);
        near(hs.kwh[DCEM_ACC_GRID_IMPORT], 25.0, 1e-9);
        near(dcem_acct_sums_completeness(&hs), 10.0 / 60, 1e-12); /* 10 of 60 minutes covered */
        dcem_acct_sums ms;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_MONTH, T0, &ms), 0);
        near(ms.kwh[DCEM_ACC_IT2], 100.0 / 6, 1e-9);
        assert_false(ms.instruments_final);
        /* the real-time view over the last 5 minutes: PUE 1.5, labelled realtime */
        dcem_acct_sums rt;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, T0 + 600 * NS, &rt), 0);
        near(rt.kwh[DCEM_ACC_GRID_IMPORT], 150.0 * 5 / 60, 1e-9);
        dcem_figure f;
        dcem_fig_params p = { .completeness_threshold = 0.95 };
        dcem_fig_pue(&rt, DCEM_WIN_REALTIME, 2, &p, &f);
        near(f.value, 1.5, 1e-9);
        assert_int_equal(f.label, DCEM_LABEL_REALTIME);
        assert_int_equal(r->nev, 0);
        dcem_acct_free(a);
        free(r);
}

/* One delta of 12 kWh over [30 s, 150 s) with 60 s intervals: 3, 6, 3. */
static void test_split_three_intervals(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "m", DCEM_ROLE_GRID_IMPORT, 0, 0, 60);
        feed(a, "m", "energy_kwh", 100, T0 + 30 * NS);
        feed(a, "m", "energy_kwh", 112, T0 + 150 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 185 * NS), 0); /* 180 s + close delay */
        assert_int_equal(r->n, 3);
        assert_true(r->iv[0].sums.kwh[DCEM_ACC_GRID_IMPORT] == 3.0);
        assert_true(r->iv[1].sums.kwh[DCEM_ACC_GRID_IMPORT] == 6.0);
        assert_true(r->iv[2].sums.kwh[DCEM_ACC_GRID_IMPORT] == 3.0);
        /* readings: the baseline at 30 s in interval 0 closes no span (the
         * interval's energy before it is unknown): not taken; none in 1; the
         * reading at 150 s in 2 */
        assert_int_equal(r->iv[0].dev[0].taken, 0);
        near(dcem_acct_sums_completeness(&r->iv[0].sums), 0, 0);
        assert_int_equal(r->iv[2].dev[0].taken, 1);
        assert_int_equal(r->iv[1].dev[0].taken, 0);
        near(r->iv[1].sums.readings_taken, 0, 0);
        near(dcem_acct_sums_completeness(&r->iv[1].sums), 0, 0);
        /* an uneven split sums to exactly the delta */
        feed(a, "m", "energy_kwh", 112 + 1.0 / 3, T0 + 307 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 365 * NS), 0);
        double sum = 0;
        for (size_t i = 3; i < r->n; i++)
                sum += r->iv[i].sums.kwh[DCEM_ACC_GRID_IMPORT];
        near(sum, (112 + 1.0 / 3) - 112, 1e-15);
        /* [150, 180) belongs to interval 2, closed already: late, in interval 3 */
        near(r->iv[3].sums.kwh[DCEM_ACC_GRID_IMPORT], (1.0 / 3) * (30 + 60) / 157, 1e-12);
        near(r->iv[3].sums.late_kwh, (1.0 / 3) * 30 / 157, 1e-12);
        near(r->iv[4].sums.kwh[DCEM_ACC_GRID_IMPORT], (1.0 / 3) * 60 / 157, 1e-12);
        dcem_acct_free(a);
        free(r);
}

/* A 32-bit register of 0.01 kWh counts wraps at 42,949,672.96 kWh. */
static void test_wrap_32(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        dcem_acct_device d = { .name = "pdu", .role = DCEM_ROLE_IT, .pue_category = 2, .rated_kw = 1000,
                               .poll_interval_ns = 60 * NS, .counter_bits = 32, .counter_scale_kwh = 0.01 };
        assert_int_equal(dcem_acct_add_device(a, &d), 0);
        d.name = "pdu-norated";
        d.rated_kw = 0;
        assert_int_equal(dcem_acct_add_device(a, &d), 0);
        double mod = 4294967296.0 * 0.01;
        feed(a, "pdu", "energy_kwh", mod - 1.0, T0);
        feed(a, "pdu", "energy_kwh", 2.0, T0 + 60 * NS); /* 3 kWh in a minute, 180 kW < 1000 kW */
        feed(a, "pdu-norated", "energy_kwh", mod - 1.0, T0);
        feed(a, "pdu-norated", "energy_kwh", 2.0, T0 + 60 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 60 * NS), 0);
        assert_int_equal(r->n, 1);
        near(r->iv[0].dev[0].kwh, 3.0, 1e-6);
        near(r->iv[0].dev[1].kwh, 3.0, 1e-6);
        assert_int_equal(r->ev_kind[DCEM_EV_WRAP], 2);
        assert_int_equal(dcem_acct_event_count(a, DCEM_EV_WRAP), 2);
        near(r->ev[0].kwh, 3.0, 1e-6);
        assert_string_equal(r->ev[0].device, "pdu");
        /* a drop that would be a wrap of 40 million kWh is a reset, not energy */
        feed(a, "pdu", "energy_kwh", 1.0, T0 + 120 * NS);
        assert_int_equal(r->ev_kind[DCEM_EV_RESET], 1);
        dcem_acct_free(a);
        free(r);
}

/* A counter that drops (meter replaced) and one that jumps beyond
 * rated_kw x elapsed: events, no energy; counting resumes afterwards. */
static void test_reset_and_jump(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "m", DCEM_ROLE_GRID_IMPORT, 0, 10, 10); /* 10 kW: at most 1.5 x 10 kW x 10 s = 0.0417 kWh */
        feed(a, "m", "energy_kwh", 5000.00, T0);
        feed(a, "m", "energy_kwh", 5000.02, T0 + 10 * NS); /* 7.2 kW: counted */
        feed(a, "m", "energy_kwh", 3.00, T0 + 20 * NS);    /* replaced */
        feed(a, "m", "energy_kwh", 3.02, T0 + 30 * NS);    /* counted */
        feed(a, "m", "energy_kwh", 103.02, T0 + 40 * NS);  /* 100 kWh in 10 s: jump */
        feed(a, "m", "energy_kwh", 103.04, T0 + 50 * NS);  /* counted */
        feed(a, "m", "energy_kwh", 103.03, T0 + 55 * NS);  /* a small drop without a register width: reset */
        feed(a, "m", "energy_kwh", 103.04, T0 + 58 * NS);  /* 0.01 kWh in 3 s = 12 kW: counted */
        assert_int_equal(dcem_acct_advance(a, T0 + 70 * NS), 0);
        assert_int_equal(r->n, 1);
        near(r->iv[0].sums.kwh[DCEM_ACC_GRID_IMPORT], 0.02 + 0.02 + 0.02 + 0.01, 1e-9);
        assert_int_equal(r->ev_kind[DCEM_EV_RESET], 2);
        assert_int_equal(r->ev_kind[DCEM_EV_JUMP], 1);
        assert_int_equal(r->iv[0].dev[0].events, 3);
        assert_int_equal(r->iv[0].sums.events, 3);
        bool saw = false;
        for (int i = 0; i < r->nev; i++)
                if (r->ev[i].kind == DCEM_EV_JUMP) {
                        near(r->ev[i].prev_value, 3.02, 1e-12);
                        near(r->ev[i].value, 103.02, 1e-12);
                        assert_true(r->ev[i].kwh == 0);
                        saw = true;
                }
        assert_true(saw);
        dcem_acct_free(a);
        free(r);
}

static void test_clock_events(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "m", DCEM_ROLE_GRID_IMPORT, 0, 0, 10);
        feed(a, "m", "energy_kwh", 10, T0 + 20 * NS);
        feed(a, "m", "energy_kwh", 11, T0 + 10 * NS); /* stamped before: clock went back */
        feed(a, "m", "energy_kwh", 11, T0 + 10 * NS); /* same stamp again: ignored */
        feed(a, "m", "energy_kwh", 12, T0 + 30 * NS); /* counted from the new baseline: 1 kWh */
        assert_int_equal(r->ev_kind[DCEM_EV_CLOCK_BACK], 1);
        dcem_acct_clock_step(a, T0 + 35 * NS); /* the caller saw a wall-clock step */
        assert_int_equal(r->ev_kind[DCEM_EV_CLOCK_STEP], 1);
        feed(a, "m", "energy_kwh", 50, T0 + 40 * NS); /* a new baseline, nothing counted */
        feed(a, "m", "energy_kwh", 51, T0 + 50 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 70 * NS), 0);
        near(r->iv[0].sums.kwh[DCEM_ACC_GRID_IMPORT], 2.0, 1e-12);
        /* invalid values and error qualities */
        feed(a, "m", "energy_kwh", -5, T0 + 80 * NS);
        assert_int_equal(r->ev_kind[DCEM_EV_INVALID], 1);
        assert_int_equal(dcem_acct_feed(a, "m", "energy_kwh", NAN, "", T0 + 90 * NS, DCEM_Q_ERROR), 0);
        assert_int_equal(dcem_acct_feed(a, "m", "energy_kwh", 1, "furlong", T0 + 90 * NS, DCEM_Q_GOOD), -EINVAL);
        assert_int_equal(dcem_acct_feed(a, "nope", "energy_kwh", 1, "kWh", T0 + 90 * NS, DCEM_Q_GOOD), -ENOENT);
        assert_int_equal(dcem_acct_feed(a, "m", "temperature_c", 21, "degC", T0 + 90 * NS, DCEM_Q_GOOD), 0);
        /* Wh are converted */
        feed(a, "m", "energy_kwh", 52, T0 + 95 * NS);
        assert_int_equal(dcem_acct_feed(a, "m", "energy_kwh", 52500, "Wh", T0 + 100 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(dcem_acct_advance(a, T0 + 130 * NS), 0);
        /* 51 -> 52 over [50, 95): [50, 60) is late (interval 0 closed at 70 s) */
        near(r->iv[1].sums.kwh[DCEM_ACC_GRID_IMPORT], 1.0 + 0.5, 1e-12);
        near(r->iv[1].sums.late_kwh, 10.0 / 45, 1e-12);
        dcem_acct_free(a);
        free(r);
}

/* A UPS with only power: trapezoid, estimated all the way into the PUE. */
static void test_power_integration(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 0, 60);
        add(a, "ups", DCEM_ROLE_IT, 1, 0, 30);
        feed(a, "grid", "energy_kwh", 0, T0);
        feed(a, "grid", "energy_kwh", 1.0, T0 + 60 * NS);
        feed(a, "ups", "power_kw", 30, T0);
        feed(a, "ups", "power_kw", 42, T0 + 30 * NS);
        feed(a, "ups", "power_kw", 30, T0 + 60 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 60 * NS), 0);
        assert_int_equal(r->n, 1);
        double it = (30 + 42) / 2.0 * 30 / 3600 + (42 + 30) / 2.0 * 30 / 3600; /* 0.6 kWh */
        near(r->iv[0].sums.kwh[DCEM_ACC_IT1], it, 1e-12);
        near(r->iv[0].sums.est_kwh[DCEM_ACC_IT1], it, 1e-12);
        near(r->iv[0].dev[1].est_kwh, it, 1e-12);
        dcem_figure f;
        dcem_fig_params p = { .completeness_threshold = 0.95 };
        dcem_fig_pue(&r->iv[0].sums, DCEM_WIN_INTERVAL, 1, &p, &f);
        near(f.value, 1.0 / it, 1e-9);
        assert_true(f.estimated);
        near(f.estimated_share, it / (1.0 + it), 1e-12);
        /* a power gap longer than 3 polls is not integrated (never filled) */
        feed(a, "ups", "power_kw", 30, T0 + 300 * NS);
        assert_int_equal(r->ev_kind[DCEM_EV_GAP], 1);
        /* an AUTO device switches to its counter and stops integrating power */
        dcem_acct_free(a);
        memset(r, 0, sizeof(*r));
        a = mk(r, 60, NULL);
        add(a, "pdu", DCEM_ROLE_IT, 3, 0, 10);
        feed(a, "pdu", "power_kw", 60, T0);
        feed(a, "pdu", "power_kw", 60, T0 + 10 * NS); /* 60 kW x 10 s = 1/6 kWh, estimated */
        feed(a, "pdu", "energy_kwh", 100, T0 + 20 * NS);
        feed(a, "pdu", "power_kw", 60, T0 + 20 * NS);  /* ignored now */
        feed(a, "pdu", "energy_kwh", 101, T0 + 40 * NS);
        feed(a, "pdu", "power_kw", 999, T0 + 40 * NS); /* ignored */
        assert_int_equal(dcem_acct_advance(a, T0 + 70 * NS), 0);
        near(r->iv[0].sums.kwh[DCEM_ACC_IT3], 1.0 + 1.0 / 6, 1e-12);
        near(r->iv[0].sums.est_kwh[DCEM_ACC_IT3], 1.0 / 6, 1e-12);
        dcem_acct_free(a);
        free(r);
}

/* Every role lands in its account; E_DC = import + green + on-site - export. */
static void test_roles_and_edc(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        struct { const char *name; dcem_role role; int cat; double kwh, exp; } dv[] = {
                { "grid", DCEM_ROLE_GRID_IMPORT, 0, 10, 0.5 }, /* bidirectional meter */
                { "pv", DCEM_ROLE_ONSITE_RENEWABLE, 0, 2, 0 },
                { "green", DCEM_ROLE_GREEN_SUPPLY, 0, 3, 0 },
                { "it", DCEM_ROLE_IT, 1, 9, 0 },
        };
        for (size_t i = 0; i < 4; i++)
                add(a, dv[i].name, dv[i].role, dv[i].cat, 0, 60);
        for (size_t i = 0; i < 4; i++) {
                feed(a, dv[i].name, "energy_kwh", 1000, T0);
                feed(a, dv[i].name, "energy_kwh", 1000 + dv[i].kwh, T0 + 60 * NS);
        }
        feed(a, "grid", "energy_export_kwh", 7, T0);
        feed(a, "grid", "energy_export_kwh", 7.5, T0 + 60 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 60 * NS), 0);
        assert_int_equal(r->n, 1);
        const dcem_acct_sums *s = &r->iv[0].sums;
        near(s->kwh[DCEM_ACC_GRID_IMPORT], 10, 1e-12);
        near(s->kwh[DCEM_ACC_EXPORT], 0.5, 1e-12);
        near(s->kwh[DCEM_ACC_ONSITE_RENEWABLE], 2, 1e-12);
        near(s->kwh[DCEM_ACC_GREEN_SUPPLY], 3, 1e-12);
        near(s->kwh[DCEM_ACC_IT1], 9, 1e-12);
        near(dcem_acct_sums_edc(s), 10 + 3 + 2 - 0.5, 1e-12);
        near(r->iv[0].dev[0].export_kwh, 0.5, 1e-12);
        assert_int_equal(r->iv[0].dev[0].taken, 1); /* one poll: its export register is not a second reading */
        assert_int_equal(s->it_categories, 1u << 1);
        /* completeness: 1 reading expected per device, taken */
        near(dcem_acct_sums_completeness(s), 1, 0);
        dcem_acct_free(a);
        free(r);
}

/* Completeness per device and overall: one device reads half its polls. */
static void test_completeness(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "a", DCEM_ROLE_GRID_IMPORT, 0, 0, 10); /* 6 expected */
        add(a, "b", DCEM_ROLE_IT, 2, 0, 20);          /* 3 expected */
        for (int k = 0; k < 6; k++)
                feed(a, "a", "energy_kwh", k, T0 + k * 10 * NS);
        feed(a, "b", "energy_kwh", 0, T0 + 0 * NS); /* 1 of 3 */
        assert_int_equal(dcem_acct_advance(a, T0 + 65 * NS), 0);
        assert_int_equal(r->n, 1);
        near(r->iv[0].dev[0].completeness, 1, 0);
        near(r->iv[0].dev[1].completeness, 1.0 / 3, 1e-15);
        near(dcem_acct_sums_completeness(&r->iv[0].sums), (6.0 + 1.0) / (6 + 3), 1e-15);
        dcem_acct_free(a);
        free(r);
}

/* An interval closes early when every device has read past its end, else
 * after the close delay; energy arriving later is placed in the oldest open
 * interval, flagged estimated and as an event: counted once. */
static void test_close_and_late(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "a", DCEM_ROLE_GRID_IMPORT, 0, 0, 30);
        add(a, "b", DCEM_ROLE_GRID_IMPORT, 0, 0, 30);
        feed(a, "a", "energy_kwh", 0, T0);
        feed(a, "b", "energy_kwh", 0, T0);
        feed(a, "a", "energy_kwh", 1, T0 + 60 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 61 * NS), 0);
        assert_int_equal(r->n, 0); /* b has not read past 60 s, delay 5 s not over */
        feed(a, "b", "energy_kwh", 2, T0 + 61 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 62 * NS), 0);
        assert_int_equal(r->n, 1); /* both past the end: closes before the delay */
        near(r->iv[0].sums.kwh[DCEM_ACC_GRID_IMPORT], 1 + 2.0 * 60 / 61, 1e-12);
        /* b goes silent; interval 1 closes by delay; b's next reading is late for it */
        feed(a, "a", "energy_kwh", 2, T0 + 120 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 126 * NS), 0);
        assert_int_equal(r->n, 2);
        near(r->iv[1].sums.kwh[DCEM_ACC_GRID_IMPORT], 1 + 2.0 / 61, 1e-12);
        feed(a, "b", "energy_kwh", 5, T0 + 150 * NS); /* 3 kWh over [61, 150) */
        assert_int_equal(r->ev_kind[DCEM_EV_LATE], 1);
        feed(a, "a", "energy_kwh", 3, T0 + 180 * NS);
        feed(a, "b", "energy_kwh", 5, T0 + 180 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 180 * NS), 0);
        assert_int_equal(r->n, 3);
        double late = 3.0 * (120 - 61) / (150 - 61);
        near(r->iv[2].sums.late_kwh, late, 1e-12);
        near(r->iv[2].sums.kwh[DCEM_ACC_GRID_IMPORT], 1 + 3.0 * 30 / 89 + late, 1e-12);
        near(r->iv[2].sums.est_kwh[DCEM_ACC_GRID_IMPORT], late, 1e-12);
        /* every kWh once: total of intervals = a (3) + b (5) */
        double tot = 0;
        for (size_t i = 0; i < r->n; i++)
                tot += r->iv[i].sums.kwh[DCEM_ACC_GRID_IMPORT];
        near(tot, 8, 1e-12);
        dcem_acct_free(a);
        free(r);
}

/* A delta entirely before the open intervals (the device was slow, its
 * interval closed by the delay) is still counted once, as late energy. And a
 * gap longer than max_bridge is an event, not energy. */
static void test_all_late_and_gap(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct_conf c;
        dcem_acct_conf_defaults(&c);
        c.record_interval_ns = 60 * NS;
        c.close_delay_ns = 5 * NS;
        c.max_bridge_ns = 600 * NS;
        dcem_acct *a = mk(r, 60, &c);
        add(a, "m", DCEM_ROLE_COOLING, 0, 0, 10);
        feed(a, "m", "energy_kwh", 1, T0 + 10 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 200 * NS), 0); /* closes 0..2, no slot open */
        assert_int_equal(r->n, 3);
        feed(a, "m", "energy_kwh", 2, T0 + 50 * NS); /* [10, 50): all in interval 0, closed */
        assert_int_equal(r->ev_kind[DCEM_EV_LATE], 1);
        assert_int_equal(dcem_acct_advance(a, T0 + 245 * NS), 0);
        assert_int_equal(r->n, 4);
        near(r->iv[3].sums.kwh[DCEM_ACC_COOLING], 1, 1e-12);
        near(r->iv[3].sums.late_kwh, 1, 1e-12);
        near(r->iv[3].sums.est_kwh[DCEM_ACC_COOLING], 1, 1e-12);
        /* gap: 11 minutes between readings */
        feed(a, "m", "energy_kwh", 3, T0 + 250 * NS);
        feed(a, "m", "energy_kwh", 9, T0 + 910 * NS);
        assert_int_equal(r->ev_kind[DCEM_EV_GAP], 1);
        feed(a, "m", "energy_kwh", 10, T0 + 920 * NS); /* counted again from the new baseline */
        assert_int_equal(dcem_acct_advance(a, T0 + 990 * NS), 0);
        double tot = 0;
        for (size_t i = 0; i < r->n; i++)
                tot += r->iv[i].sums.kwh[DCEM_ACC_COOLING];
        near(tot, 1 + 1 + 1, 1e-12); /* 1->2 late, 2->3, 9->10; not 3->9 */
        dcem_acct_free(a);
        free(r);
}

/* The real-time view ends at the oldest device's newest reading (so all
 * devices cover the same window) and shows a device gone silent. */
static void test_realtime_window(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 0, 10);
        add(a, "it", DCEM_ROLE_IT, 3, 0, 10);
        for (int k = 0; k <= 60; k++) {
                int64_t t = T0 + k * 10 * NS;
                feed(a, "grid", "energy_kwh", 120.0 * k * 10 / 3600, t); /* 120 kW */
                if (k <= 50)
                        feed(a, "it", "energy_kwh", 80.0 * k * 10 / 3600, t); /* 80 kW, silent after 500 s */
        }
        dcem_acct_sums rt;
        /* at 600 s the IT meter's newest reading is 500 s: the window is [200, 500) */
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, T0 + 600 * NS, &rt), 0);
        assert_int_equal(rt.end_ns, T0 + 500 * NS);
        assert_int_equal(rt.start_ns, T0 + 200 * NS);
        near(rt.kwh[DCEM_ACC_GRID_IMPORT], 120.0 * 300 / 3600, 1e-9);
        near(rt.kwh[DCEM_ACC_IT3], 80.0 * 300 / 3600, 1e-9);
        /* later the IT meter no longer sets the end; what it read in the window
         * still counts, and completeness shows what it missed */
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, T0 + 850 * NS, &rt), 0);
        assert_int_equal(rt.end_ns, T0 + 600 * NS);
        near(rt.kwh[DCEM_ACC_IT3], 80.0 * 200 / 3600, 1e-9);
        /* ... over the 200 s its readings cover (mean load 80 kW), the grid over 300 s */
        assert_int_equal(rt.rt_covered_ns[DCEM_ACC_IT3], 200 * NS);
        assert_int_equal(rt.rt_covered_ns[DCEM_ACC_GRID_IMPORT], 300 * NS);
        assert_int_equal(rt.rt_covered_ns[DCEM_ACC_COOLING], 0);
        near(dcem_acct_sums_completeness(&rt), (30.0 + 20) / 60, 1e-12); /* grid 30 of 30, IT 20 of 30 */
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, T0 + 2000 * NS, &rt), -ENOENT);
        dcem_acct_free(a);
        free(r);
}

/* The ring sized to the poll interval holds what the view needs: with 5 s
 * polls and a 5-minute window, a meter silent for 290 s sets the window's end
 * while the other one read on, so that one must keep 590 s of readings. A
 * reading with both counters is one point, taken once. */
static void test_realtime_ring_size(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 0, 5);
        add(a, "it", DCEM_ROLE_IT, 2, 0, 5);
        const int n = 259; /* readings at 0..1290 s */
        for (int k = 0; k < n; k++) {
                int64_t t = T0 + k * 5 * NS;
                feed(a, "grid", "energy_kwh", 90.0 * k * 5 / 3600, t);        /* 90 kW */
                feed(a, "grid", "energy_export_kwh", 9.0 * k * 5 / 3600, t); /* 9 kW */
                if (k <= 200)
                        feed(a, "it", "energy_kwh", 60.0 * k * 5 / 3600, t); /* 60 kW, silent after 1000 s */
        }
        dcem_acct_sums rt;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_REALTIME, T0 + 1290 * NS, &rt), 0);
        assert_int_equal(rt.end_ns, T0 + 1000 * NS);
        near(rt.kwh[DCEM_ACC_GRID_IMPORT], 90.0 * 300 / 3600, 1e-9);
        near(rt.kwh[DCEM_ACC_EXPORT], 9.0 * 300 / 3600, 1e-9);
        near(rt.kwh[DCEM_ACC_IT2], 60.0 * 300 / 3600, 1e-9);
        assert_int_equal(rt.rt_covered_ns[DCEM_ACC_GRID_IMPORT], 300 * NS);
        assert_int_equal(rt.rt_covered_ns[DCEM_ACC_EXPORT], 300 * NS);
        near(rt.readings_taken, 60 + 60, 1e-12); /* grid's two counters: one reading each time */
        near(dcem_acct_sums_completeness(&rt), 1, 1e-12);
        dcem_acct_free(a);
        free(r);
}

/* Rule 1 through the engine: 2 intervals with PUE 2 and 1.5 of different
 * sizes; the hour's PUE is the ratio of sums. */
static void test_ratio_of_sums_engine(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 0, 60);
        add(a, "it", DCEM_ROLE_IT, 3, 0, 60);
        feed(a, "grid", "energy_kwh", 0, T0);
        feed(a, "it", "energy_kwh", 0, T0);
        feed(a, "grid", "energy_kwh", 10, T0 + 60 * NS);
        feed(a, "it", "energy_kwh", 5, T0 + 60 * NS);
        feed(a, "grid", "energy_kwh", 310, T0 + 120 * NS);
        feed(a, "it", "energy_kwh", 205, T0 + 120 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 120 * NS), 0);
        assert_int_equal(r->n, 2);
        dcem_fig_params p = { .completeness_threshold = 0.95 };
        dcem_figure f1, f2, fh;
        dcem_fig_pue(&r->iv[0].sums, DCEM_WIN_INTERVAL, 3, &p, &f1);
        dcem_fig_pue(&r->iv[1].sums, DCEM_WIN_INTERVAL, 3, &p, &f2);
        near(f1.value, 2.0, 1e-12);
        near(f2.value, 1.5, 1e-12);
        dcem_acct_sums h;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_HOUR, T0, &h), 0);
        dcem_fig_pue(&h, DCEM_WIN_HOUR, 3, &p, &fh);
        near(fh.value, 310.0 / 205.0, 1e-12);
        assert_true(fabs(fh.value - (f1.value + f2.value) / 2) > 0.2);
        dcem_acct_free(a);
        free(r);
}

/* Through a month boundary: the month closes, kWh contracts and certificates
 * of its vintage are applied once, and the rolling/year windows add them. */
static void test_month_close_instruments(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct_conf c;
        dcem_acct_conf_defaults(&c);
        c.record_interval_ns = 3600 * NS;
        c.close_delay_ns = 0;
        dcem_acct_contract_conf k[1] = { { .name = (char *)"ppa", .from = (char *)"2025-12", .kwh = 2000 } };
        dcem_acct_cert_conf ce[1] = { { .serial_first = (char *)"1001", .serial_last = (char *)"1100",
                                        .vintage = (char *)"2025-12", .kwh_each = 1000 } };
        c.green_contracts = (dcem_list){ k, 1 };
        c.certificates = (dcem_list){ ce, 1 };
        dcem_acct *a = mk(r, 3600, &c);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 0, 3600);
        int64_t dec = dcem_month_start_ns(2025 * 12 + 11), jan = dcem_month_start_ns(2026 * 12);
        /* 10 kW all December: 7440 kWh */
        for (int64_t t = dec; t <= jan; t += 3600 * NS) {
                feed(a, "grid", "energy_kwh", 10.0 * (double)((t - dec) / (3600 * NS)), t);
                assert_int_equal(dcem_acct_advance(a, t), 0);
        }
        assert_int_equal(r->closed[DCEM_WIN_MONTH], 1);
        dcem_acct_sums m = r->last_closed[DCEM_WIN_MONTH];
        near(m.kwh[DCEM_ACC_GRID_IMPORT], 7440, 1e-6);
        near(m.contract_kwh, 2000, 1e-9);
        near(m.cert_kwh, 5000, 1e-9); /* floor((7440 - 2000) / 1000) whole certificates */
        assert_true(m.instruments_final);
        assert_int_equal(r->closed[DCEM_WIN_DAY], 31);
        dcem_acct_sums y;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_YEAR, dec, &y), 0);
        near(y.cert_kwh, 5000, 1e-9);
        dcem_acct_sums r12;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_ROLLING12, jan + 1, &r12), 0);
        near(r12.kwh[DCEM_ACC_GRID_IMPORT], 7440, 1e-6);
        near(dcem_acct_sums_completeness(&r12), 31.0 / 365, 1e-12);
        dcem_figure f;
        dcem_fig_params p = { .completeness_threshold = 0.95, .carbon = &c.carbon };
        dcem_fig_carbon(&r12, DCEM_WIN_ROLLING12, true, &p, &f);
        near(f.value, (7440 - 7000) * 0.6096, 1e-6);
        assert_int_equal(f.label, DCEM_LABEL_INTERIM); /* one month of data */
        dcem_acct_free(a);
        free(r);
}

/* A whole year through the engine (hourly intervals): the rolling 12 months
 * and the calendar year are annual, PUE exact; a year in progress is interim. */
static void test_annual_through_engine(void **st) {
        (void)st;
        dcem_acct_conf c;
        dcem_acct_conf_defaults(&c);
        c.record_interval_ns = 3600 * NS;
        c.close_delay_ns = 0;
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&c, NULL, &a), 0);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 0, 3600);
        add(a, "it", DCEM_ROLE_IT, 1, 0, 3600);
        int64_t y0 = dcem_month_start_ns(2025 * 12), y1 = dcem_month_start_ns(2026 * 12);
        for (int64_t t = y0; t <= y1 + 3600 * NS; t += 3600 * NS) {
                double h = (double)(t - y0) / (3600.0 * NS);
                feed(a, "grid", "energy_kwh", 700 * h, t);
                feed(a, "it", "energy_kwh", 500 * h, t);
                assert_int_equal(dcem_acct_advance(a, t), 0);
        }
        dcem_fig_params p = { .completeness_threshold = 0.95, .carbon = &c.carbon };
        dcem_acct_sums s;
        dcem_figure f;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_ROLLING12, y1 + 3600 * NS, &s), 0);
        assert_int_equal(s.start_ns, y0);
        assert_int_equal(s.end_ns, y1);
        assert_int_equal(s.n_intervals, 8760);
        near(s.kwh[DCEM_ACC_GRID_IMPORT], 700.0 * 8760, 1e-3);
        dcem_fig_pue(&s, DCEM_WIN_ROLLING12, 1, &p, &f);
        near(f.value, 1.4, 1e-12);
        assert_int_equal(f.label, DCEM_LABEL_ANNUAL);
        near(f.completeness, 1.0, 0);
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_YEAR, y0 + 100 * 86400 * NS, &s), 0);
        dcem_fig_pue(&s, DCEM_WIN_YEAR, 1, &p, &f);
        assert_int_equal(f.label, DCEM_LABEL_ANNUAL);
        /* 2026 has one hour: interim */
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_YEAR, y1 + 3600 * NS, &s), 0);
        dcem_fig_pue(&s, DCEM_WIN_YEAR, 1, &p, &f);
        assert_int_equal(f.label, DCEM_LABEL_INTERIM);
        near(f.value, 1.4, 1e-9);
        dcem_acct_free(a);
}

static void test_bad_specs(void **st) {
        (void)st;
        dcem_acct_conf c;
        dcem_acct_conf_defaults(&c);
        dcem_acct *a = NULL;
        c.record_interval_ns = 7 * 60 * NS; /* does not divide an hour */
        assert_int_equal(dcem_acct_new(&c, NULL, &a), -EINVAL);
        dcem_acct_conf_defaults(&c);
        c.completeness_threshold = 1.5;
        assert_int_equal(dcem_acct_new(&c, NULL, &a), -EINVAL);
        dcem_acct_conf_defaults(&c);
        dcem_acct_cert_conf ce[2] = {
                { .serial_first = (char *)"A10", .serial_last = (char *)"A20", .vintage = (char *)"2025-01" },
                { .serial_first = (char *)"A15", .serial_last = (char *)"A30", .vintage = (char *)"2025-02" },
        };
        c.certificates = (dcem_list){ ce, 2 }; /* overlapping: a serial declared twice */
        assert_int_equal(dcem_acct_new(&c, NULL, &a), -EINVAL);
        assert_null(a);
        dcem_acct_conf_defaults(&c);
        assert_int_equal(dcem_acct_new(&c, NULL, &a), 0);
        dcem_acct_device d = { .name = "x", .role = DCEM_ROLE_IT, .pue_category = 0, .poll_interval_ns = NS };
        assert_int_equal(dcem_acct_add_device(a, &d), -EINVAL); /* IT needs a category */
        d.pue_category = 4;
        assert_int_equal(dcem_acct_add_device(a, &d), -EINVAL);
        d.pue_category = 1;
        d.counter_bits = 24;
        assert_int_equal(dcem_acct_add_device(a, &d), -EINVAL);
        d.counter_bits = 16;
        assert_int_equal(dcem_acct_add_device(a, &d), 0);
        assert_int_equal(dcem_acct_add_device(a, &d), -EEXIST);
        d.name = "y";
        d.role = DCEM_ROLE_COOLING;
        assert_int_equal(dcem_acct_add_device(a, &d), -EINVAL); /* category only with IT */
        d.pue_category = 0;
        d.poll_interval_ns = 0;
        assert_int_equal(dcem_acct_add_device(a, &d), -EINVAL);
        d.poll_interval_ns = NS;
        assert_int_equal(dcem_acct_add_device(a, &d), 0);
        assert_int_equal(dcem_acct_feed(a, "y", "energy_kwh", 1, "kWh", T0, DCEM_Q_GOOD), 0);
        d.name = "z";
        assert_int_equal(dcem_acct_add_device(a, &d), -EBUSY);
        /* a reading beyond max_bridge of the open intervals is refused */
        assert_int_equal(dcem_acct_feed(a, "y", "energy_kwh", 2, "kWh", T0 + INT64_C(8) * 86400 * NS, DCEM_Q_GOOD),
                         -E2BIG);
        dcem_acct_free(a);
        dcem_acct_free(NULL);
}

/* A batch feeds every sample, names from the batch. */
static void test_feed_batch(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "m", DCEM_ROLE_OTHER, 0, 0, 60);
        dcem_batch *b = calloc(1, sizeof(dcem_batch) + 3 * sizeof(dcem_sample));
        b->n = 3;
        strcpy(b->device, "m");
        b->samples[0] = (dcem_sample){ .device = "m", .point = "energy_kwh", .unit = "kWh", .value = 1, .ts_ns = T0 };
        /* a text sample (a meter's identity string) is never a reading, whatever its name */
        b->samples[1] = (dcem_sample){ .device = "m", .point = "energy_kwh", .unit = "kWh", .value = NAN,
                                       .ts_ns = T0 + 30 * NS, .kind = DCEM_KIND_TEXT, .text = "SDM630" };
        b->samples[2] = (dcem_sample){ .device = "m", .point = "energy_kwh", .unit = "kWh", .value = 4,
                                       .ts_ns = T0 + 60 * NS };
        assert_int_equal(dcem_acct_feed_batch(a, b), 0);
        assert_int_equal(dcem_acct_advance(a, T0 + 60 * NS), 0);
        near(r->iv[0].sums.kwh[DCEM_ACC_OTHER], 3, 0);
        assert_int_equal(r->nev, 0);
        free(b);
        dcem_acct_free(a);
        free(r);
}

/* The baseline rule: a first reading on an interval start is taken, one
 * inside the interval is not (the energy before it is unknown), a repeated
 * stamp is not a second reading, a power-only device likewise. */
static void test_baseline_not_taken(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "on", DCEM_ROLE_GRID_IMPORT, 0, 0, 20);  /* 3 expected */
        add(a, "off", DCEM_ROLE_IT, 1, 0, 20);          /* 3 expected */
        add(a, "pw", DCEM_ROLE_COOLING, 0, 0, 20);      /* 3 expected */
        feed(a, "on", "energy_kwh", 10, T0);            /* baseline on the start: taken */
        feed(a, "on", "energy_kwh", 10, T0);            /* the same stamp again: not a reading */
        feed(a, "on", "energy_kwh", 11, T0 + 20 * NS);
        feed(a, "on", "energy_kwh", 12, T0 + 40 * NS);
        feed(a, "off", "energy_kwh", 5, T0 + 25 * NS);  /* baseline inside: not taken */
        feed(a, "off", "energy_kwh", 6, T0 + 45 * NS);
        feed(a, "pw", "power_kw", 30, T0 + 5 * NS);     /* baseline inside: not taken */
        feed(a, "pw", "power_kw", 30, T0 + 25 * NS);
        feed(a, "pw", "power_kw", 30, T0 + 45 * NS);
        assert_int_equal(dcem_acct_advance(a, T0 + 65 * NS), 0);
        assert_int_equal(r->n, 1);
        assert_int_equal(r->iv[0].dev[0].taken, 3);
        assert_int_equal(r->iv[0].dev[1].taken, 1);
        assert_int_equal(r->iv[0].dev[2].taken, 2);
        near(r->iv[0].dev[1].completeness, 1.0 / 3, 1e-15);
        near(dcem_acct_sums_completeness(&r->iv[0].sums), (3.0 + 1 + 2) / 9, 1e-15);
        dcem_acct_free(a);
        free(r);
}

/* Compute counters (functional units): a host's cpu_core_seconds (4 cores
 * busy) become core-hours per interval, split in proportion to time like
 * energy, in no completeness and no device list; a drop is a reset, not
 * counted; other points and unknown devices are ignored. */
static void test_compute_units(void **st) {
        (void)st;
        rec *r = calloc(1, sizeof(*r));
        dcem_acct *a = mk(r, 60, NULL);
        add(a, "pdu", DCEM_ROLE_IT, 2, 0, 10);
        add(a, "grid", DCEM_ROLE_GRID_IMPORT, 0, 0, 10);
        assert_int_equal(dcem_acct_add_unit(a, 0, "host", "cpu_core_seconds", 1.0 / 3600, 10 * NS), 0);
        assert_int_equal(dcem_acct_add_unit(a, 0, "host", "cpu_core_seconds", 1.0 / 3600, 10 * NS), -EEXIST);
        assert_int_equal(dcem_acct_add_unit(a, 1, "host", "jobs_done", 1, 10 * NS), 0);
        assert_int_equal(dcem_acct_add_unit(a, DCEM_ACCT_MAX_UNITS, "host", "x", 1, 10 * NS), -EINVAL);
        assert_int_equal(dcem_acct_add_unit(a, 2, "ho#st", "x", 1, 10 * NS), -EINVAL);
        assert_int_equal(dcem_acct_add_unit(a, 2, "host", "y", 0, 10 * NS), -EINVAL);
        const double cores = 4, c0 = 5000;
        for (int k = 0; k <= 12; k++) { /* 2 minutes, readings every 10 s, stamps 5 s off the grid */
                int64_t t = T0 + 5 * NS + k * 10 * NS;
                double sec = (double)(t - T0) / NS;
                feed(a, "pdu", "energy_kwh", 100 + sec / 3600 * 60, t);  /* 60 kW */
                feed(a, "grid", "energy_kwh", 300 + sec / 3600 * 90, t); /* 90 kW */
                assert_int_equal(dcem_acct_feed(a, "host", "cpu_core_seconds", c0 + cores * sec, "s", t, DCEM_Q_GOOD),
                                 0);
                assert_int_equal(dcem_acct_feed(a, "host", "jobs_done", 2 * k, "", t, DCEM_Q_GOOD), 0);
                assert_int_equal(dcem_acct_feed(a, "host", "load1", 3, "", t, DCEM_Q_GOOD), 0);   /* not counted */
                assert_int_equal(dcem_acct_feed(a, "nobody", "cpu_core_seconds", 1, "s", t, DCEM_Q_GOOD), 0);
        }
        assert_int_equal(dcem_acct_add_unit(a, 3, "other", "z", 1, NS), -EBUSY);
        assert_int_equal(dcem_acct_advance(a, T0 + 125 * NS), 0);
        assert_int_equal(r->n, 2);
        /* interval 1 [60, 120) is fully covered: 4 cores x 60 s = 240 core-seconds; 6 jobs per minute */
        const dcem_acct_sums *s = &r->iv[1].sums;
        near(s->kwh[DCEM_ACC_UNIT0], cores * 60 / 3600, 1e-12);
        near(s->kwh[DCEM_ACC_UNIT0 + 1], 2.0 * 6, 1e-9);
        assert_int_equal(r->iv[1].ndev, 2); /* the counters are not devices */
        near(dcem_acct_sums_completeness(s), 1, 0);
        /* interval 0 from the first reading (5 s) on: 55 s */
        near(r->iv[0].sums.kwh[DCEM_ACC_UNIT0], cores * 55 / 3600, 1e-12);
        /* SCI per core-hour (x PUE, location-based): E_IT x PUE x EF x 1000 / core-hours */
        const char *names[2] = { "cpu_core_hour", "job" };
        dcem_acct_conf c;
        dcem_acct_conf_defaults(&c);
        dcem_fig_params p = { .completeness_threshold = 0.95, .carbon = &c.carbon, .unit_names = names,
                              .nunit_names = 2 };
        dcem_figure f[64];
        size_t n = 0;
        assert_int_equal(dcem_figures_all(s, DCEM_WIN_INTERVAL, &p, f, 64, &n), 0);
        double eit = 1.0, edc = 1.5, ch = cores * 60 / 3600; /* 60 kW and 90 kW over one minute */
        int found = 0;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(f[i].metric, "sci") || !f[i].functional_unit || strcmp(f[i].functional_unit, "cpu_core_hour"))
                        continue;
                bool xp = !strcmp(f[i].basis, "x_pue");
                near(f[i].value, (xp ? eit * (edc / eit) : eit) * c.carbon.grid_factor * 1000 / ch, 1e-9);
                assert_string_equal(f[i].unit, "gCO2");
                assert_string_equal(f[i].factor_source, c.carbon.source);
                assert_false(f[i].embodied);
                found |= xp ? 1 : 2;
        }
        assert_int_equal(found, 3);
        /* the hour window carries the amounts */
        dcem_acct_sums hs;
        assert_int_equal(dcem_acct_window(a, DCEM_WIN_HOUR, T0, &hs), 0);
        near(hs.kwh[DCEM_ACC_UNIT0], cores * 115 / 3600, 1e-12);
        /* a drop (the host rebooted) is a reset: not counted, an event on DEVICE#POINT */
        int64_t t = T0 + 125 * NS;
        assert_int_equal(dcem_acct_feed(a, "host", "cpu_core_seconds", 10, "s", t + 10 * NS, DCEM_Q_GOOD), 0);
        assert_int_equal(r->ev_kind[DCEM_EV_RESET], 1);
        assert_string_equal(r->ev[r->nev - 1].device, "host#cpu_core_seconds");
        assert_int_equal(dcem_acct_feed(a, "host", "cpu_core_seconds", 10 + cores * 10, "s", t + 20 * NS, DCEM_Q_GOOD),
                         0);
        for (int k = 1; k <= 4; k++) {
                feed(a, "pdu", "energy_kwh", 100 + (125.0 + 10 * k) / 3600 * 60, t + k * 10 * NS);
                feed(a, "grid", "energy_kwh", 300 + (125.0 + 10 * k) / 3600 * 90, t + k * 10 * NS);
        }
        assert_int_equal(dcem_acct_advance(a, T0 + 185 * NS), 0);
        assert_int_equal(r->n, 3);
        /* [120,180): 5 s before the drop + nothing across the reset + 10 s after it */
        near(r->iv[2].sums.kwh[DCEM_ACC_UNIT0], cores * (5 + 10) / 3600, 1e-12);
        dcem_acct_free(a);
        free(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_baseline_not_taken),
                cmocka_unit_test(test_compute_units),
                cmocka_unit_test(test_constant_site_pue),
                cmocka_unit_test(test_split_three_intervals),
                cmocka_unit_test(test_wrap_32),
                cmocka_unit_test(test_reset_and_jump),
                cmocka_unit_test(test_clock_events),
                cmocka_unit_test(test_power_integration),
                cmocka_unit_test(test_roles_and_edc),
                cmocka_unit_test(test_completeness),
                cmocka_unit_test(test_close_and_late),
                cmocka_unit_test(test_all_late_and_gap),
                cmocka_unit_test(test_realtime_window),
                cmocka_unit_test(test_realtime_ring_size),
                cmocka_unit_test(test_ratio_of_sums_engine),
                cmocka_unit_test(test_month_close_instruments),
                cmocka_unit_test(test_annual_through_engine),
                cmocka_unit_test(test_bad_specs),
                cmocka_unit_test(test_feed_batch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
