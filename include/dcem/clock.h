/* clock.h - the injected clock: monotonic time for timing, UTC for stamps.
 *
 * Everything that waits or stamps takes a dcem_clock, so the scheduler, the
 * accounting and the spool can be driven by a fake clock in tests. Times are
 * int64 nanoseconds: monotonic since an arbitrary origin, UTC since the epoch.
 */
#ifndef DCEM_CLOCK_H
#define DCEM_CLOCK_H

#include <stdint.h>

#define DCEM_NS_PER_MS INT64_C(1000000)
#define DCEM_NS_PER_S  INT64_C(1000000000)

typedef struct dcem_clock_ops {
        int64_t (*mono_ns)(void *ud); /* CLOCK_MONOTONIC */
        int64_t (*utc_ns)(void *ud);  /* CLOCK_REALTIME */
} dcem_clock_ops;

typedef struct dcem_clock {
        const dcem_clock_ops *ops;
        void *ud;
} dcem_clock;

/* The real clock (clock_gettime). */
extern const dcem_clock dcem_clock_system;

static inline int64_t dcem_clock_mono(const dcem_clock *c) { return c->ops->mono_ns(c->ud); }
static inline int64_t dcem_clock_utc(const dcem_clock *c) { return c->ops->utc_ns(c->ud); }

/* Format a UTC time as RFC 3339 with milliseconds, "2026-11-23T10:00:00.000Z".
 * buf must hold at least DCEM_TS_MAX bytes. Returns buf. */
#define DCEM_TS_MAX 32
char *dcem_format_utc(int64_t utc_ns, char buf[static DCEM_TS_MAX]);

#endif
