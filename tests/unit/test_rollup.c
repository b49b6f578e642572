/* test_rollup.c - UTC calendar arithmetic and roll-ups built from intervals.
 *
 * The calendar is checked against libc's timegm/gmtime_r (an independent
 * implementation) over 1970..2400, and the roll-ups against sums computed in
 * the test from month lengths it derives itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include "dcem/accounting.h"

#define NS INT64_C(1000000000)
#define HOUR (3600 * NS)

static int64_t tg(int y, int m, int d) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
        return (int64_t)timegm(&tm);
}

static bool leap(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(int y, int m) {
        static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && leap(y) ? 29 : d[m - 1];
}

static void test_civil_against_timegm(void **st) {
        (void)st;
        for (int y = 1970; y <= 2261; y++) /* int64 ns end in 2262 */
                for (int m = 1; m <= 12; m++) {
                        int64_t days = dcem_days_from_civil(y, (unsigned)m, 1);
                        assert_int_equal(days * 86400, tg(y, m, 1));
                        int64_t yy;
                        unsigned mm, dd;
                        dcem_civil_from_days(days + mdays(y, m) - 1, &yy, &mm, &dd);
                        assert_int_equal(yy, y);
                        assert_int_equal(mm, m);
                        assert_int_equal(dd, mdays(y, m)); /* last day of the month */
                        int64_t idx = (int64_t)y * 12 + m - 1;
                        assert_int_equal(dcem_month_start_ns(idx), tg(y, m, 1) * NS);
                        assert_int_equal(dcem_month_start_ns(idx + 1) - dcem_month_start_ns(idx),
                                         (int64_t)mdays(y, m) * 86400 * NS);
                        assert_int_equal(dcem_month_of(dcem_month_start_ns(idx)), idx);
                        assert_int_equal(dcem_month_of(dcem_month_start_ns(idx + 1) - 1), idx);
                }
        /* 2000 is leap, 1900 and 2100 are not */
        assert_int_equal(dcem_days_from_civil(2000, 3, 1) - dcem_days_from_civil(2000, 2, 1), 29);
        assert_int_equal(dcem_days_from_civil(2100, 3, 1) - dcem_days_from_civil(2100, 2, 1), 28);
        assert_int_equal(dcem_days_from_civil(1900, 3, 1) - dcem_days_from_civil(1900, 2, 1), 28);
        assert_int_equal(dcem_days_from_civil(1970, 1, 1), 0);
}

static void test_month_strings(void **st) {
        (void)st;
        int64_t m;
        assert_int_equal(dcem_month_from_str("2026-02", &m), 0);
        assert_int_equal(m, 2026 * 12 + 1);
        char buf[16];
        dcem_month_to_str(m, buf);
        assert_string_equal(buf, "2026-02");
        assert_int_equal(dcem_month_from_str("2026-13", &m), -EINVAL);
        assert_int_equal(dcem_month_from_str("2026-00", &m), -EINVAL);
        assert_int_equal(dcem_month_from_str("2026-2", &m), -EINVAL);
        assert_int_equal(dcem_month_from_str("20x6-02", &m), -EINVAL);
        assert_int_equal(dcem_month_from_str(NULL, &m), -EINVAL);
        assert_int_equal(dcem_month_from_str("2026-02x", &m), -EINVAL);
}

typedef struct closed_log {
        int n[_DCEM_WIN_MAX];
        dcem_acct_sums last[_DCEM_WIN_MAX];
} closed_log;

static void on_closed(void *ud, dcem_window_kind k, dcem_acct_sums *s) {
        closed_log *l = ud;
        l->n[k]++;
        l->last[k] = *s;
}

static dcem_acct_sums iv(int64_t start, int64_t len, double kwh) {
        dcem_acct_sums s = { .start_ns = start, .end_ns = start + len, .covered_ns = len, .n_intervals = 1 };
        s.kwh[DCEM_ACC_GRID_IMPORT] = kwh;
        s.kwh[DCEM_ACC_IT2] = kwh / 2;
        s.readings_taken = 90;
        s.readings_expected = 90;
        return s;
}

/* Jan and Feb 2024 (leap) in 15-minute intervals of 1 kWh: hours, days and
 * months close at their ends with the right counts. */
static void test_hour_day_month(void **st) {
        (void)st;
        dcem_rollup r;
        dcem_rollup_init(&r);
        closed_log log = { 0 };
        dcem_rollup_hooks h = { on_closed, &log };
        int64_t t0 = tg(2024, 1, 1) * NS, t1 = tg(2024, 3, 1) * NS, L = 15 * 60 * NS;
        for (int64_t t = t0; t < t1; t += L) {
                dcem_acct_sums s = iv(t, L, 1.0);
                assert_int_equal(dcem_rollup_add(&r, &s, &h), 0);
        }
        assert_int_equal(log.n[DCEM_WIN_HOUR], 24 * (31 + 29));
        assert_int_equal(log.n[DCEM_WIN_DAY], 31 + 29);
        assert_int_equal(log.n[DCEM_WIN_MONTH], 2);
        assert_true(log.last[DCEM_WIN_HOUR].kwh[DCEM_ACC_GRID_IMPORT] == 4.0);
        assert_true(log.last[DCEM_WIN_DAY].kwh[DCEM_ACC_GRID_IMPORT] == 96.0);
        dcem_acct_sums feb;
        assert_int_equal(dcem_rollup_month(&r, 2024 * 12 + 1, &feb), 0);
        assert_true(feb.kwh[DCEM_ACC_GRID_IMPORT] == 29 * 96.0);
        assert_int_equal(feb.n_intervals, 29 * 96);
        assert_int_equal(feb.start_ns, tg(2024, 2, 1) * NS);
        assert_int_equal(feb.end_ns, t1);
        assert_true(dcem_acct_sums_completeness(&feb) == 1.0);
        assert_true(feb.instruments_final);
        /* an interval older than the open windows, or crossing an hour, is refused */
        dcem_acct_sums old = iv(t0, L, 1);
        assert_int_equal(dcem_rollup_add(&r, &old, &h), -EINVAL);
        dcem_acct_sums cross = iv(t1 + 50 * 60 * NS, L, 1);
        assert_int_equal(dcem_rollup_add(&r, &cross, &h), -EINVAL);
}

/* A gap (agent down 3 hours, no intervals): hours close, the day's
 * completeness counts the missing intervals. */
static void test_gap_completeness(void **st) {
        (void)st;
        dcem_rollup r;
        dcem_rollup_init(&r);
        closed_log log = { 0 };
        dcem_rollup_hooks h = { on_closed, &log };
        int64_t t0 = tg(2025, 6, 1) * NS, L = 15 * 60 * NS;
        int added = 0;
        for (int64_t t = t0; t < t0 + 24 * HOUR; t += L) {
                if (t >= t0 + 5 * HOUR && t < t0 + 8 * HOUR)
                        continue;
                dcem_acct_sums s = iv(t, L, 2.0);
                assert_int_equal(dcem_rollup_add(&r, &s, &h), 0);
                added++;
        }
        assert_int_equal(log.n[DCEM_WIN_DAY], 1);
        assert_int_equal(log.n[DCEM_WIN_HOUR], 21);
        dcem_acct_sums d = log.last[DCEM_WIN_DAY];
        assert_int_equal(d.n_intervals, added);
        assert_true(d.kwh[DCEM_ACC_GRID_IMPORT] == 2.0 * added);
        double want = (double)added / 96.0; /* each present interval complete, 12 of 96 missing */
        assert_true(fabs(dcem_acct_sums_completeness(&d) - want) < 1e-12);
}

/* Hourly intervals from 2025-01 to 2026-12 with kWh = month number: the
 * rolling 12 months ending March 2026 cross the year boundary. */
static void test_rolling_12_across_year(void **st) {
        (void)st;
        dcem_rollup r;
        dcem_rollup_init(&r);
        int64_t t0 = tg(2025, 1, 1) * NS, t1 = tg(2026, 4, 1) * NS;
        for (int64_t t = t0; t < t1 - HOUR; t += HOUR) { /* March 2026 lacks its last hour */
                int64_t m = dcem_month_of(t);
                dcem_acct_sums s = iv(t, HOUR, (double)(m % 12 + 1));
                assert_int_equal(dcem_rollup_add(&r, &s, NULL), 0);
        }
        /* March 2026 is still open: the roll-up has closed up to Feb 2026 */
        assert_int_equal(r.last_closed_month, 2026 * 12 + 1);
        double want = 0;
        int hours = 0;
        for (int k = 0; k < 12; k++) { /* 2025-04 .. 2026-03 */
                int y = 2025 + (3 + k) / 12, m = (3 + k) % 12 + 1;
                want += (double)m * 24 * mdays(y, m);
                hours += 24 * mdays(y, m);
        }
        want -= 3; /* the missing last hour of March */
        hours -= 1;
        dcem_acct_sums s;
        dcem_rollup_months(&r, 2025 * 12 + 3, 2026 * 12 + 2, &s);
        assert_true(fabs(s.kwh[DCEM_ACC_GRID_IMPORT] - want) < 1e-9);
        assert_int_equal(s.n_intervals, hours);
        assert_int_equal(s.start_ns, tg(2025, 4, 1) * NS);
        assert_int_equal(s.end_ns, tg(2026, 4, 1) * NS);
        assert_false(s.instruments_final); /* March 2026 not closed */
        /* calendar year 2025: 8760 hours, kWh = sum m x hours(m) */
        double y25 = 0;
        for (int m = 1; m <= 12; m++)
                y25 += (double)m * 24 * mdays(2025, m);
        dcem_rollup_months(&r, 2025 * 12, 2025 * 12 + 11, &s);
        assert_true(fabs(s.kwh[DCEM_ACC_GRID_IMPORT] - y25) < 1e-9);
        assert_int_equal(s.n_intervals, 8760);
        assert_int_equal(s.months_with_data, 12);
        assert_true(dcem_acct_sums_completeness(&s) == 1.0);
        assert_true(s.instruments_final);
        /* a window reaching before the data: completeness says so */
        dcem_rollup_months(&r, 2024 * 12 + 7, 2025 * 12 + 6, &s);
        int have = 0, all = 0; /* Aug 2024 .. Jul 2025, data from Jan 2025 */
        for (int k = 0; k < 12; k++) {
                int y = 2024 + (7 + k) / 12, m = (7 + k) % 12 + 1;
                all += mdays(y, m);
                if (y == 2025)
                        have += mdays(y, m);
        }
        assert_true(fabs(dcem_acct_sums_completeness(&s) - (double)have / all) < 1e-12);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_civil_against_timegm),
                cmocka_unit_test(test_month_strings),
                cmocka_unit_test(test_hour_day_month),
                cmocka_unit_test(test_gap_completeness),
                cmocka_unit_test(test_rolling_12_across_year),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
