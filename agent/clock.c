/* clock.c - the system clock behind the dcem_clock seam, and UTC formatting.
 *
 * Timing uses CLOCK_MONOTONIC (never steps), stamps use CLOCK_REALTIME. Both
 * go through dcem_clock so tests can inject a fake (tests/unit/fake_clock.c).
 * dcem_format_utc is the one place a UTC stamp becomes text: RFC 3339 with
 * milliseconds and "Z", built from integers only (no locale involved).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dcem/clock.h"

static int64_t read_clock(clockid_t id)
{
        struct timespec ts;

        /* clock_gettime on these two clocks cannot fail on Linux. */
        if (clock_gettime(id, &ts) < 0)
                return 0;
        return (int64_t)ts.tv_sec * DCEM_NS_PER_S + ts.tv_nsec;
}

static int64_t system_mono_ns(void *ud)
{
        (void)ud;
        return read_clock(CLOCK_MONOTONIC);
}

static int64_t system_utc_ns(void *ud)
{
        (void)ud;
        return read_clock(CLOCK_REALTIME);
}

static const dcem_clock_ops system_ops = {
        .mono_ns = system_mono_ns,
        .utc_ns = system_utc_ns,
};

const dcem_clock dcem_clock_system = { .ops = &system_ops, .ud = NULL };

/* Days since 1970-01-01 -> proleptic Gregorian year, month, day (the
 * "civil from days" algorithm: integers only, exact for every int64 day). */
static void civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned)(z - era * 146097);                        /* [0, 146096] */
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);              /* [0, 365] */
        unsigned mp = (5 * doy + 2) / 153;                                   /* [0, 11] */
        unsigned m = mp < 10 ? mp + 3 : mp - 9;

        *ret_d = doy - (153 * mp + 2) / 5 + 1;
        *ret_m = m;
        *ret_y = (int64_t)yoe + era * 400 + (m <= 2);
}

static char *put_digits(char *p, unsigned v, int width)
{
        for (int i = width - 1; i >= 0; i--) {
                p[i] = (char)('0' + v % 10);
                v /= 10;
        }
        return p + width;
}

/* Format utc_ns as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf and return buf. Times
 * before the epoch are floored (not truncated toward zero), so -1 ns is
 * 1969-12-31T23:59:59.999Z. Every int64 value is representable (years 1677 to
 * 2262). Integer arithmetic only (it runs once per published poll; gmtime_r
 * and snprintf cost about 3,700 instructions, this about 100). */
char *dcem_format_utc(int64_t utc_ns, char buf[static DCEM_TS_MAX])
{
        int64_t sec = utc_ns / DCEM_NS_PER_S;
        int64_t rem = utc_ns % DCEM_NS_PER_S;
        int64_t days, y;
        unsigned sod, mon, day;
        char *p = buf;

        if (rem < 0) {
                rem += DCEM_NS_PER_S;
                sec -= 1;
        }
        days = sec / 86400;
        if (sec % 86400 < 0)
                days -= 1;
        sod = (unsigned)(sec - days * 86400);
        civil_from_days(days, &y, &mon, &day);
        p = put_digits(p, (unsigned)y, 4); /* 1677..2262: always four digits */
        *p++ = '-';
        p = put_digits(p, mon, 2);
        *p++ = '-';
        p = put_digits(p, day, 2);
        *p++ = 'T';
        p = put_digits(p, sod / 3600, 2);
        *p++ = ':';
        p = put_digits(p, sod / 60 % 60, 2);
        *p++ = ':';
        p = put_digits(p, sod % 60, 2);
        *p++ = '.';
        p = put_digits(p, (unsigned)(rem / DCEM_NS_PER_MS), 3);
        *p++ = 'Z';
        *p = '\0';
        return buf;
}
