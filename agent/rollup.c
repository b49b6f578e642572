/* rollup.c - energy sums over windows, and the UTC calendar they need.
 *
 * Roll-ups are built from closed interval records only (METRICS.md rules 1
 * and 6): hour, day and month sums add interval energies; rolling 12 months
 * and calendar years add closed months. Ratios are never summed. Calendar
 * arithmetic is proleptic Gregorian on UTC (month lengths, leap years), after
 * Howard Hinnant's days_from_civil. Pure: no I/O, no clock.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "dcem/accounting.h"
#include "dcem/clock.h"

#define NS_PER_DAY (INT64_C(86400) * DCEM_NS_PER_S)
#define NS_PER_HOUR (INT64_C(3600) * DCEM_NS_PER_S)

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0)))
                q--;
        return q;
}

int64_t dcem_days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = floor_div(y, 400);
        int64_t yoe = y - era * 400;                                  /* [0, 399] */
        int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
        return era * 146097 + doe - 719468;
}

void dcem_civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d) {
        z += 719468;
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
        unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
        *ret_y = y + (m <= 2);
        *ret_m = m;
        *ret_d = d;
}

int64_t dcem_month_of(int64_t utc_ns) {
        int64_t y;
        unsigned m, d;
        dcem_civil_from_days(floor_div(utc_ns, NS_PER_DAY), &y, &m, &d);
        return y * 12 + (m - 1);
}

int64_t dcem_month_start_ns(int64_t idx) {
        int64_t y = floor_div(idx, 12);
        unsigned m = (unsigned)(idx - y * 12) + 1;
        return dcem_days_from_civil(y, m, 1) * NS_PER_DAY;
}

int dcem_month_from_str(const char *s, int64_t *ret) {
        if (!s || strlen(s) != 7 || s[4] != '-')
                return -EINVAL;
        int y = 0, m = 0;
        for (int i = 0; i < 4; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                y = y * 10 + (s[i] - '0');
        }
        for (int i = 5; i < 7; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                m = m * 10 + (s[i] - '0');
        }
        if (y < 1970 || m < 1 || m > 12)
                return -EINVAL;
        *ret = (int64_t)y * 12 + (m - 1);
        return 0;
}

void dcem_month_to_str(int64_t idx, char buf[static 16]) {
        int64_t y = floor_div(idx, 12);
        int m = (int)(idx - y * 12) + 1;
        if (y < 0 || y > 9999)
                y = 0; /* out of range for YYYY: never from a valid month */
        snprintf(buf, 16, "%04d-%02d", (int)y, m % 100);
}

const char *dcem_window_name(dcem_window_kind k) {
        static const char *const n[_DCEM_WIN_MAX] = {
                "interval", "hour", "day", "month", "rolling_12_months", "year", "realtime",
        };
        return (unsigned)k < _DCEM_WIN_MAX ? n[k] : "?";
}

const char *dcem_acct_account_name(dcem_acct_account a) {
        static const char *const n[_DCEM_ACC_MAX] = {
                "grid_import", "export", "onsite_renewable", "green_supply",
                "it_cat1", "it_cat2", "it_cat3", "cooling", "other",
                "unit0", "unit1", "unit2", "unit3", "unit4", "unit5", "unit6", "unit7",
        };
        _Static_assert(DCEM_ACCT_MAX_UNITS == 8, "unit account names");
        return (unsigned)a < _DCEM_ACC_MAX ? n[a] : "?";
}

double dcem_acct_sums_edc(const dcem_acct_sums *s) {
        return s->kwh[DCEM_ACC_GRID_IMPORT] + s->kwh[DCEM_ACC_GREEN_SUPPLY] + s->kwh[DCEM_ACC_ONSITE_RENEWABLE] -
               s->kwh[DCEM_ACC_EXPORT];
}

double dcem_acct_sums_edc_est(const dcem_acct_sums *s) {
        /* estimated kWh among the terms of E_DC (absolute: an estimated export is still estimated) */
        return s->est_kwh[DCEM_ACC_GRID_IMPORT] + s->est_kwh[DCEM_ACC_GREEN_SUPPLY] +
               s->est_kwh[DCEM_ACC_ONSITE_RENEWABLE] + s->est_kwh[DCEM_ACC_EXPORT];
}

double dcem_acct_sums_it(const dcem_acct_sums *s, int category) {
        if (category < 1 || category > 3)
                return 0;
        return s->kwh[DCEM_ACC_IT1 + category - 1];
}

double dcem_acct_sums_completeness(const dcem_acct_sums *s) {
        if (s->readings_expected <= 0 || s->end_ns <= s->start_ns)
                return 0;
        double c = s->readings_taken / s->readings_expected;
        double cov = (double)s->covered_ns / (double)(s->end_ns - s->start_ns);
        if (cov > 1)
                cov = 1;
        c *= cov;
        return c > 1 ? 1 : (c < 0 ? 0 : c);
}

double dcem_acct_sums_compute_completeness(const dcem_acct_sums *s) {
        if (!(s->compute_expected > 0) || s->end_ns <= s->start_ns)
                return NAN;
        double c = s->compute_taken / s->compute_expected;
        double cov = (double)s->covered_ns / (double)(s->end_ns - s->start_ns);
        if (cov > 1)
                cov = 1;
        c *= cov;
        return c > 1 ? 1 : (c < 0 ? 0 : c);
}

void dcem_acct_sums_add(dcem_acct_sums *a, const dcem_acct_sums *b) {
        a->covered_ns += b->covered_ns;
        a->compute_taken += b->compute_taken;
        a->compute_expected += b->compute_expected;
        a->n_intervals += b->n_intervals;
        for (int i = 0; i < _DCEM_ACC_MAX; i++) {
                a->kwh[i] += b->kwh[i];
                a->est_kwh[i] += b->est_kwh[i];
        }
        a->readings_taken += b->readings_taken;
        a->readings_expected += b->readings_expected;
        a->late_kwh += b->late_kwh;
        a->events += b->events;
        a->it_categories |= b->it_categories;
        a->contract_kwh += b->contract_kwh;
        a->cert_kwh += b->cert_kwh;
}

/* An empty sums for a window, instruments final unless told otherwise. */
static void sums_window(dcem_acct_sums *s, int64_t start, int64_t end) {
        memset(s, 0, sizeof(*s));
        s->start_ns = start;
        s->end_ns = end;
}

static void open_windows(dcem_rollup *r, int64_t t) {
        int64_t h = floor_div(t, NS_PER_HOUR) * NS_PER_HOUR;
        int64_t d = floor_div(t, NS_PER_DAY) * NS_PER_DAY;
        int64_t m = dcem_month_of(t);
        sums_window(&r->hour, h, h + NS_PER_HOUR);
        sums_window(&r->day, d, d + NS_PER_DAY);
        sums_window(&r->month, dcem_month_start_ns(m), dcem_month_start_ns(m + 1));
        r->open = true;
}

void dcem_rollup_init(dcem_rollup *r) {
        memset(r, 0, sizeof(*r));
        r->last_closed_month = INT64_MIN;
}

static size_t ring_slot(int64_t month) {
        return (size_t)(month - floor_div(month, DCEM_ROLLUP_MONTHS) * DCEM_ROLLUP_MONTHS);
}

static void emit(const dcem_rollup_hooks *h, dcem_window_kind k, dcem_acct_sums *s) {
        if (h && h->closed)
                h->closed(h->ud, k, s);
}

static void close_month(dcem_rollup *r, const dcem_rollup_hooks *hooks) {
        int64_t m = dcem_month_of(r->month.start_ns);
        r->month.instruments_final = true;
        emit(hooks, DCEM_WIN_MONTH, &r->month);
        size_t i = ring_slot(m);
        r->months[i] = r->month;
        r->month_valid[i] = true;
        r->last_closed_month = m;
}

/* Close open windows that end at or before t (a gap or a completed window). */
static void close_before(dcem_rollup *r, int64_t t, const dcem_rollup_hooks *hooks) {
        if (!r->open)
                return;
        bool reopen = false;
        if (r->hour.end_ns <= t) {
                if (r->hour.n_intervals)
                        emit(hooks, DCEM_WIN_HOUR, &r->hour);
                reopen = true;
        }
        if (r->day.end_ns <= t) {
                if (r->day.n_intervals)
                        emit(hooks, DCEM_WIN_DAY, &r->day);
        }
        if (r->month.end_ns <= t) {
                if (r->month.n_intervals)
                        close_month(r, hooks);
        }
        if (reopen) {
                dcem_acct_sums day = r->day, month = r->month;
                open_windows(r, t);
                if (day.end_ns > t)
                        r->day = day;
                if (month.end_ns > t)
                        r->month = month;
        }
}

int dcem_rollup_add(dcem_rollup *r, const dcem_acct_sums *iv, const dcem_rollup_hooks *hooks) {
        if (iv->end_ns <= iv->start_ns ||
            floor_div(iv->start_ns, NS_PER_HOUR) != floor_div(iv->end_ns - 1, NS_PER_HOUR))
                return -EINVAL;
        if (!r->open)
                open_windows(r, iv->start_ns);
        if (iv->start_ns < r->hour.start_ns)
                return -EINVAL;
        close_before(r, iv->start_ns, hooks);
        dcem_acct_sums_add(&r->hour, iv);
        dcem_acct_sums_add(&r->day, iv);
        dcem_acct_sums_add(&r->month, iv);
        close_before(r, iv->end_ns, hooks);
        return 0;
}

int dcem_rollup_month(const dcem_rollup *r, int64_t month, dcem_acct_sums *ret) {
        if (r->open && dcem_month_of(r->month.start_ns) == month) {
                *ret = r->month;
                return 0;
        }
        size_t i = ring_slot(month);
        if (r->month_valid[i] && dcem_month_of(r->months[i].start_ns) == month) {
                *ret = r->months[i];
                return 0;
        }
        return -ENOENT;
}

void dcem_rollup_months(const dcem_rollup *r, int64_t first, int64_t last, dcem_acct_sums *ret) {
        dcem_acct_sums s;
        sums_window(&s, dcem_month_start_ns(first), dcem_month_start_ns(last + 1));
        s.instruments_final = true;
        for (int64_t m = first; m <= last; m++) {
                dcem_acct_sums ms;
                if (dcem_rollup_month(r, m, &ms) < 0)
                        continue;
                dcem_acct_sums_add(&s, &ms);
                if (ms.n_intervals > 0)
                        s.months_with_data++;
                if (!ms.instruments_final)
                        s.instruments_final = false;
        }
        *ret = s;
}
