/* log.h - the agent's logging: stderr lines with syslog priority prefixes
 * ("<3>" .. "<7>") so journald keeps the levels, a level filter, and a rate
 * limiter for messages that could repeat every poll. Only agent/ logs.
 */
#ifndef DCEM_LOG_H
#define DCEM_LOG_H

#include <stdint.h>
#include <syslog.h>

/* Messages above this priority (LOG_ERR=3 .. LOG_DEBUG=7) are dropped. */
void dcem_log_set_level(int prio);
int dcem_log_get_level(void);

void dcem_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A rate limiter, after systemd's RATELIMIT: at most burst messages per
 * interval; the first message after a suppressed run says how many were
 * suppressed. Keep one per call site (static). */
typedef struct dcem_ratelimit {
        int64_t interval_ns;
        unsigned burst;
        int64_t begin_ns;
        unsigned num;
        uint64_t suppressed;
} dcem_ratelimit;
#define DCEM_RATELIMIT(interval, b) { .interval_ns = (interval), .burst = (b) }

/* Log through the limiter (now_ns: monotonic). */
void dcem_log_limited(dcem_ratelimit *rl, int64_t now_ns, int prio, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#define log_error(...)   dcem_log(LOG_ERR, __VA_ARGS__)
#define log_warning(...) dcem_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  dcem_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    dcem_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   dcem_log(LOG_DEBUG, __VA_ARGS__)

#endif
