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

/* Format utc_ns as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf and return buf. Times
 * before the epoch are floored (not truncated toward zero), so -1 ns is
 * 1969-12-31T23:59:59.999Z. Every int64 value is representable (years 1677 to
 * 2262); should gmtime_r still fail, buf gets the epoch's text rather than
 * garbage. */
char *dcem_format_utc(int64_t utc_ns, char buf[static DCEM_TS_MAX])
{
        int64_t sec = utc_ns / DCEM_NS_PER_S;
        int64_t rem = utc_ns % DCEM_NS_PER_S;
        char tmp[96]; /* what gcc cannot prove fits; really 24 bytes */
        struct tm tm;
        time_t t;
        size_t n;

        if (rem < 0) {
                rem += DCEM_NS_PER_S;
                sec -= 1;
        }
        t = (time_t)sec;
        if (!gmtime_r(&t, &tm)) {
                memcpy(buf, "1970-01-01T00:00:00.000Z", sizeof("1970-01-01T00:00:00.000Z"));
                return buf;
        }
        snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03" PRId64 "Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 rem / DCEM_NS_PER_MS);
        n = strnlen(tmp, DCEM_TS_MAX - 1);
        memcpy(buf, tmp, n);
        buf[n] = '\0';
        return buf;
}
