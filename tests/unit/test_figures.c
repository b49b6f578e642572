/* test_figures.c - figures from window sums: PUE per category with its labels,
 * metering faults, pPUE, breakdown, REF with contracts and certificates (each
 * applied once), carbon location- and market-based, CUE, SCI. Expected values
 * are computed in the tests from the inputs, by the formulas of METRICS.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include "dcem/accounting.h"

#define NS INT64_C(1000000000)
#define EPS 1e-12

static dcem_acct_conf conf;
static dcem_fig_params params;

static int setup(void **st) {
        (void)st;
        dcem_acct_conf_defaults(&conf);
        params = (dcem_fig_params){ .completeness_threshold = 0.95, .carbon = &conf.carbon };
        return 0;
}

/* A window [month m, +months) fully covered and complete. */
static dcem_acct_sums window(int64_t first_month, int months, double complete) {
        dcem_acct_sums s = { 0 };
        s.start_ns = dcem_month_start_ns(first_month);
        s.end_ns = dcem_month_start_ns(first_month + months);
        s.covered_ns = s.end_ns - s.start_ns;
        s.n_intervals = (uint64_t)(s.covered_ns / (900 * NS));
        s.readings_expected = 1000;
        s.readings_taken = 1000 * complete;
        s.instruments_final = true;
        s.months_with_data = (unsigned)months;
        return s;
}

static void near(double got, double want) {
        if (fabs(got - want) > 1e-9 * (fabs(want) > 1 ? fabs(want) : 1))
                fail_msg("got %.17g, want %.17g", got, want);
}

static void test_pue_categories_and_labels(void **st) {
        (void)st;
        int64_t m0 = 2025 * 12;
        dcem_acct_sums s = window(m0, 1, 1.0);
        s.kwh[DCEM_ACC_GRID_IMPORT] = 1300;
        s.kwh[DCEM_ACC_IT1] = 1000; /* UPS output */
        s.kwh[DCEM_ACC_IT3] = 900;  /* IT input: lower, so a higher PUE */
        s.it_categories = (1u << 1) | (1u << 3);
        dcem_figure f;
        dcem_fig_pue(&s, DCEM_WIN_MONTH, 1, &params, &f);
        assert_int_equal(f.status, DCEM_FIG_OK);
        near(f.value, 1300.0 / 1000.0);
        assert_int_equal(f.category, 1);
        assert_int_equal(f.label, DCEM_LABEL_INTERIM); /* a month is interim */
        assert_string_equal(dcem_fig_label_name(f.label), "interim");
        dcem_fig_pue(&s, DCEM_WIN_MONTH, 3, &params, &f);
        near(f.value, 1300.0 / 900.0);
        assert_int_equal(f.category, 3);
        dcem_fig_pue(&s, DCEM_WIN_MONTH, 2, &params, &f); /* no category 2 IT */
        assert_int_equal(f.status, DCEM_FIG_NO_DATA);
        assert_true(isnan(f.value));

        /* 12 consecutive months, complete: annual; below the threshold: interim */
        dcem_acct_sums y = window(m0, 12, 0.96);
        y.kwh[DCEM_ACC_GRID_IMPORT] = 130;
        y.kwh[DCEM_ACC_IT2] = 100;
        y.it_categories = 1u << 2;
        dcem_fig_pue(&y, DCEM_WIN_ROLLING12, 2, &params, &f);
        assert_int_equal(f.label, DCEM_LABEL_ANNUAL);
        near(f.completeness, 0.96);
        dcem_acct_sums y2 = window(m0, 12, 0.94);
        y2.kwh[DCEM_ACC_GRID_IMPORT] = 130;
        y2.kwh[DCEM_ACC_IT2] = 100;
        dcem_fig_pue(&y2, DCEM_WIN_YEAR, 2, &params, &f);
        assert_int_equal(f.label, DCEM_LABEL_INTERIM);
        /* a year with only 11 months of intervals: coverage makes it interim */
        dcem_acct_sums y3 = window(m0, 12, 1.0);
        y3.covered_ns -= dcem_month_start_ns(m0 + 1) - dcem_month_start_ns(m0);
        y3.kwh[DCEM_ACC_GRID_IMPORT] = 130;
        y3.kwh[DCEM_ACC_IT2] = 100;
        dcem_fig_pue(&y3, DCEM_WIN_YEAR, 2, &params, &f);
        assert_int_equal(f.label, DCEM_LABEL_INTERIM);
        near(f.completeness, 334.0 / 365.0);
        /* the threshold is the configured one */
        dcem_fig_params p2 = params;
        p2.completeness_threshold = 0.9;
        dcem_fig_pue(&y3, DCEM_WIN_YEAR, 2, &p2, &f);
        assert_int_equal(f.label, DCEM_LABEL_ANNUAL);
        /* eleven months of data is not annual, whatever the threshold (rule 4) */
        p2.completeness_threshold = 0.5;
        y3.months_with_data = 11;
        dcem_fig_pue(&y3, DCEM_WIN_YEAR, 2, &p2, &f);
        assert_int_equal(f.label, DCEM_LABEL_INTERIM);
        /* real-time is labelled as such */
        dcem_fig_pue(&s, DCEM_WIN_REALTIME, 1, &params, &f);
        assert_int_equal(f.label, DCEM_LABEL_REALTIME);
}

static void test_pue_below_one_is_fault(void **st) {
        (void)st;
        dcem_acct_sums s = window(2025 * 12, 1, 1);
        s.kwh[DCEM_ACC_GRID_IMPORT] = 950;
        s.kwh[DCEM_ACC_IT2] = 1000;
        s.it_categories = 1u << 2;
        dcem_figure f;
        dcem_fig_pue(&s, DCEM_WIN_MONTH, 2, &params, &f);
        assert_int_equal(f.status, DCEM_FIG_METERING_FAULT);
        assert_true(isnan(f.value));
        assert_string_equal(dcem_fig_status_name(f.status), "metering_fault");
        near(f.numerator, 950);
        near(f.denominator, 1000);
        /* the breakdown's losses would be negative: a fault too, and SCI x PUE */
        dcem_figure all[32];
        size_t n;
        assert_int_equal(dcem_figures_all(&s, DCEM_WIN_MONTH, &params, all, 32, &n), 0);
        bool saw_losses = false, saw_sci = false;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(all[i].metric, "energy_losses") == 0) {
                        assert_int_equal(all[i].status, DCEM_FIG_METERING_FAULT);
                        saw_losses = true;
                }
                if (strcmp(all[i].metric, "sci") == 0 && strcmp(all[i].basis, "x_pue") == 0) {
                        assert_int_equal(all[i].status, DCEM_FIG_METERING_FAULT);
                        saw_sci = true;
                }
        }
        assert_true(saw_losses && saw_sci);
}

/* Rule 1: two periods with PUE 2.0 and 1.5; the window's PUE is the ratio of
 * the sums, not the average of the ratios. */
static void test_ratio_of_sums(void **st) {
        (void)st;
        dcem_acct_sums a = window(2025 * 12, 1, 1), b = window(2025 * 12 + 1, 1, 1);
        a.kwh[DCEM_ACC_GRID_IMPORT] = 10;
        a.kwh[DCEM_ACC_IT3] = 5;
        b.kwh[DCEM_ACC_GRID_IMPORT] = 300;
        b.kwh[DCEM_ACC_IT3] = 200;
        a.it_categories = b.it_categories = 1u << 3;
        dcem_figure fa, fb, fw;
        dcem_fig_pue(&a, DCEM_WIN_MONTH, 3, &params, &fa);
        dcem_fig_pue(&b, DCEM_WIN_MONTH, 3, &params, &fb);
        dcem_acct_sums w = a;
        w.end_ns = b.end_ns;
        dcem_acct_sums_add(&w, &b);
        dcem_fig_pue(&w, DCEM_WIN_MONTH, 3, &params, &fw);
        double avg = (fa.value + fb.value) / 2;
        near(avg, 1.75);
        near(fw.value, 310.0 / 205.0);
        assert_true(fabs(fw.value - avg) > 0.2);
}

static void test_ppue_breakdown_edc(void **st) {
        (void)st;
        dcem_acct_sums s = window(2025 * 12, 1, 1);
        s.kwh[DCEM_ACC_GRID_IMPORT] = 1000;
        s.kwh[DCEM_ACC_ONSITE_RENEWABLE] = 200;
        s.kwh[DCEM_ACC_EXPORT] = 50;
        s.kwh[DCEM_ACC_GREEN_SUPPLY] = 100;
        s.kwh[DCEM_ACC_IT2] = 800;
        s.kwh[DCEM_ACC_COOLING] = 300;
        s.kwh[DCEM_ACC_OTHER] = 60;
        s.it_categories = 1u << 2;
        double edc = 1000 + 200 + 100 - 50;
        near(dcem_acct_sums_edc(&s), edc);
        dcem_figure f;
        dcem_fig_ppue_cooling(&s, DCEM_WIN_MONTH, 2, &params, &f);
        near(f.value, (300.0 + 800.0) / 800.0);
        dcem_figure all[32];
        size_t n;
        assert_int_equal(dcem_figures_all(&s, DCEM_WIN_MONTH, &params, all, 32, &n), 0);
        double got[4] = { NAN, NAN, NAN, NAN };
        const char *names[4] = { "energy_it", "energy_cooling", "energy_other", "energy_losses" };
        for (size_t i = 0; i < n; i++)
                for (int k = 0; k < 4; k++)
                        if (strcmp(all[i].metric, names[k]) == 0)
                                got[k] = all[i].value;
        near(got[0], 800);
        near(got[1], 300);
        near(got[2], 60);
        near(got[3], edc - 800 - 300 - 60);
        /* too small a buffer: -ENOBUFS, the first ones written */
        assert_int_equal(dcem_figures_all(&s, DCEM_WIN_MONTH, &params, all, 3, &n), -ENOBUFS);
        assert_int_equal(n, 3);
}

static void test_ref_and_carbon(void **st) {
        (void)st;
        dcem_acct_sums s = window(2025 * 12, 1, 1);
        s.kwh[DCEM_ACC_GRID_IMPORT] = 1000;
        s.kwh[DCEM_ACC_ONSITE_RENEWABLE] = 200;
        s.kwh[DCEM_ACC_EXPORT] = 50;
        s.kwh[DCEM_ACC_GREEN_SUPPLY] = 100;
        s.contract_kwh = 300;
        s.cert_kwh = 2000; /* more than the grid: capped so no kWh counts twice */
        double edc = 1250, onsite_used = 150;
        double claimable = 1000; /* min(grid, E_DC - onsite_used - green) = min(1000, 1000) */
        near(dcem_fig_claimable_kwh(&s), claimable);
        near(dcem_fig_claimed_kwh(&s), claimable);
        dcem_figure f;
        dcem_fig_ref(&s, DCEM_WIN_MONTH, &params, &f);
        near(f.value, (onsite_used + 100 + claimable) / edc);
        assert_true(f.value <= 1.0);
        s.cert_kwh = 400;
        dcem_fig_ref(&s, DCEM_WIN_MONTH, &params, &f);
        near(f.value, (onsite_used + 100 + 700) / edc);
        /* carbon: location = grid x 0.5306; market = (grid - claimed) x 0.6096 */
        dcem_figure loc, mkt;
        dcem_fig_carbon(&s, DCEM_WIN_MONTH, false, &params, &loc);
        dcem_fig_carbon(&s, DCEM_WIN_MONTH, true, &params, &mkt);
        near(loc.value, 1000 * 0.5306);
        near(mkt.value, (1000 - 700) * 0.6096);
        assert_string_equal(loc.metric, "carbon_location");
        assert_string_equal(mkt.metric, "carbon_market");
        assert_string_equal(loc.basis, "location");
        assert_string_equal(mkt.basis, "market");
        assert_string_equal(loc.unit, "kgCO2");
        assert_true(loc.factor == 0.5306 && mkt.factor == 0.6096);
        assert_non_null(strstr(loc.factor_source, "2025 No. 47"));
        assert_non_null(strstr(mkt.factor_source, "excluding"));
        /* CO2e tables are labelled so */
        dcem_acct_carbon_conf ce = conf.carbon;
        ce.gas = (char *)"CO2e";
        dcem_fig_params pe = params;
        pe.carbon = &ce;
        dcem_fig_carbon(&s, DCEM_WIN_MONTH, false, &pe, &loc);
        assert_string_equal(loc.unit, "kgCO2e");
        /* targets */
        dcem_acct_targets_conf t = { .pue_max = 1.25, .green_share_min = 0.8 };
        dcem_fig_params pt = params;
        pt.targets = &t;
        dcem_fig_ref(&s, DCEM_WIN_MONTH, &pt, &f);
        assert_int_equal(f.target_met, (onsite_used + 100 + 700) / edc >= 0.8);
        assert_true(f.target == 0.8);
}

static void test_cue_and_sci(void **st) {
        (void)st;
        int64_t m0 = 2025 * 12 + 5;
        dcem_acct_sums s = window(m0, 1, 1);
        s.kwh[DCEM_ACC_GRID_IMPORT] = 150;
        s.kwh[DCEM_ACC_IT3] = 100;
        s.it_categories = 1u << 3;
        dcem_figure f;
        dcem_fig_cue(&s, DCEM_WIN_MONTH, 3, false, &params, &f);
        near(f.value, 150 * 0.5306 / 100); /* grid-only site: CUE = factor x PUE */
        near(f.value, 0.5306 * 1.5);
        assert_string_equal(f.unit, "kgCO2/kWh_it");
        /* SCI per kWh of IT energy, x PUE, in grams */
        dcem_fig_sci(&s, DCEM_WIN_MONTH, 3, true, NULL, 0, &params, &f);
        near(f.value, 100 * 1.5 * 0.5306 * 1000 / 100);
        assert_string_equal(f.functional_unit, "kWh_it");
        assert_string_equal(f.basis, "x_pue");
        assert_false(f.embodied);
        dcem_fig_sci(&s, DCEM_WIN_MONTH, 3, false, NULL, 0, &params, &f);
        near(f.value, 0.5306 * 1000);
        assert_string_equal(f.basis, "it_only");
        /* per CPU core-hour */
        dcem_fig_sci(&s, DCEM_WIN_MONTH, 3, true, "cpu_core_hour", 400, &params, &f);
        near(f.value, 150 * 0.5306 * 1000 / 400);
        assert_string_equal(f.functional_unit, "cpu_core_hour");
        /* embodied: M = total x window / lifetime */
        dcem_acct_compute_conf cc = { .embodied_kgco2 = 3650, .lifetime_ns = INT64_C(3650) * 86400 * NS };
        dcem_fig_params pc = params;
        pc.compute = &cc;
        dcem_fig_sci(&s, DCEM_WIN_MONTH, 3, true, "cpu_core_hour", 400, &pc, &f);
        double days = (double)(s.end_ns - s.start_ns) / (86400.0 * NS);
        near(days, 30); /* June */
        near(f.value, (150 * 0.5306 + 1.0 * days) * 1000 / 400);
        assert_true(f.embodied);
        /* all figures carry the SCI per unit given */
        dcem_fig_unit u[2] = { { "cpu_core_hour", 400 }, { "job", 20 } };
        pc.units = u;
        pc.nunits = 2;
        dcem_figure all[32];
        size_t n;
        assert_int_equal(dcem_figures_all(&s, DCEM_WIN_MONTH, &pc, all, 32, &n), 0);
        int sci = 0;
        for (size_t i = 0; i < n; i++)
                if (strcmp(all[i].metric, "sci") == 0) {
                        sci++;
                        if (all[i].functional_unit && strcmp(all[i].functional_unit, "job") == 0)
                                near(all[i].value, (150 * 0.5306 + days) * 1000 / 20);
                }
        assert_int_equal(sci, 4);
}

static void test_estimated_propagates(void **st) {
        (void)st;
        dcem_acct_sums s = window(2025 * 12, 1, 1);
        s.kwh[DCEM_ACC_GRID_IMPORT] = 150;
        s.kwh[DCEM_ACC_IT1] = 100;
        s.est_kwh[DCEM_ACC_IT1] = 100; /* an integrated UPS */
        s.it_categories = 1u << 1;
        dcem_figure f;
        dcem_fig_pue(&s, DCEM_WIN_MONTH, 1, &params, &f);
        assert_true(f.estimated);
        near(f.estimated_share, 100.0 / 250.0);
        dcem_fig_carbon(&s, DCEM_WIN_MONTH, false, &params, &f);
        assert_false(f.estimated); /* the grid meter is a counter */
}

static void test_certificates_once(void **st) {
        (void)st;
        dcem_acct_cert_conf certs[2] = {
                { .serial_first = (char *)"GEC0000001001", .serial_last = (char *)"GEC0000001010",
                  .vintage = (char *)"2025-03", .kwh_each = 1000 },
                { .serial_first = (char *)"GEC0000002001", .serial_last = (char *)"GEC0000002005",
                  .vintage = (char *)"2025-04", .kwh_each = 1000 },
        };
        int64_t mar = 2025 * 12 + 2, apr = mar + 1;
        dcem_cert_ledger l = { 0 };
        double got;
        /* March can claim 3,500 kWh: three whole certificates */
        assert_int_equal(dcem_cert_ledger_apply(&l, certs, 2, mar, 3500, &got), 0);
        near(got, 3000);
        assert_true(dcem_cert_ledger_applied(&l, "GEC", 1001, NULL));
        assert_true(dcem_cert_ledger_applied(&l, "GEC", 1003, NULL));
        assert_false(dcem_cert_ledger_applied(&l, "GEC", 1004, NULL));
        assert_false(dcem_cert_ledger_applied(&l, "GEC", 2001, NULL)); /* April's vintage */
        /* applying March again never applies a serial twice; the month's total stays */
        assert_int_equal(dcem_cert_ledger_apply(&l, certs, 2, mar, 3500 - 3000, &got), 0);
        near(got, 0);
        near(dcem_cert_ledger_month_kwh(&l, mar), 3000);
        /* with more room the rest of March's range is applied, and only it */
        assert_int_equal(dcem_cert_ledger_apply(&l, certs, 2, mar, 100000, &got), 0);
        near(got, 7000);
        near(dcem_cert_ledger_month_kwh(&l, mar), 10000);
        assert_int_equal(dcem_cert_ledger_apply(&l, certs, 2, mar, 100000, &got), 0);
        near(got, 0);
        int64_t m;
        assert_true(dcem_cert_ledger_applied(&l, "GEC", 1010, &m));
        assert_int_equal(m, mar);
        assert_int_equal(dcem_cert_ledger_apply(&l, certs, 2, apr, 100000, &got), 0);
        near(got, 5000);
        /* a ledger entry overlapping an applied range is refused */
        dcem_cert_entry dup = { .prefix = "GEC", .first = 1005, .last = 1020, .month = apr, .kwh = 16000 };
        assert_int_equal(dcem_cert_ledger_add(&l, &dup), -EEXIST);
        dcem_cert_entry other = { .prefix = "XYZ", .first = 1005, .last = 1020, .month = apr, .kwh = 16000 };
        assert_int_equal(dcem_cert_ledger_add(&l, &other), 0);
        /* serial syntax */
        char p[24];
        uint64_t v;
        assert_int_equal(dcem_cert_serial_parse("1234567890123456789", p, &v), -EINVAL); /* 19 digits */
        assert_int_equal(dcem_cert_serial_parse("123456789012345678", p, &v), 0);
        assert_int_equal(dcem_cert_serial_parse("GEC12a", p, &v), -EINVAL);
        assert_int_equal(dcem_cert_serial_parse("GEC", p, &v), -EINVAL);
        dcem_cert_ledger_free(&l);
        dcem_cert_ledger_free(NULL);
}

static void test_contracts(void **st) {
        (void)st;
        dcem_acct_contract_conf c[2] = {
                { .name = (char *)"ppa", .from = (char *)"2025-01", .to = (char *)"2025-06", .kwh = 500 },
                { .name = (char *)"green-tariff", .from = (char *)"2025-03", .share = 0.25 },
        };
        int64_t jan = 2025 * 12, mar = jan + 2, jul = jan + 6;
        /* sub-month window: share only */
        near(dcem_contracts_claim(c, 2, mar, 1000, 1000, false), 250);
        near(dcem_contracts_claim(c, 2, jan, 1000, 1000, false), 0);
        /* whole month: share + monthly kWh, capped at claimable */
        near(dcem_contracts_claim(c, 2, mar, 1000, 1000, true), 750);
        near(dcem_contracts_claim(c, 2, mar, 1000, 600, true), 600);
        near(dcem_contracts_claim(c, 2, jul, 1000, 1000, true), 0); /* both ended (share was March only) */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pue_categories_and_labels),
                cmocka_unit_test(test_pue_below_one_is_fault),
                cmocka_unit_test(test_ratio_of_sums),
                cmocka_unit_test(test_ppue_breakdown_edc),
                cmocka_unit_test(test_ref_and_carbon),
                cmocka_unit_test(test_cue_and_sci),
                cmocka_unit_test(test_estimated_propagates),
                cmocka_unit_test(test_certificates_once),
                cmocka_unit_test(test_contracts),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
