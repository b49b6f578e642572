/* log.c - stderr logging with syslog priority prefixes and rate limiting.
 *
 * One line per message, written with a single write(2) so lines from the
 * agent never interleave mid-line. Newlines inside a message are replaced by
 * spaces: one message, one journal entry.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "log.h"

static int log_level = LOG_INFO;

void dcem_log_set_level(int prio) {
        if (prio < LOG_EMERG)
                prio = LOG_EMERG;
        if (prio > LOG_DEBUG)
                prio = LOG_DEBUG;
        log_level = prio;
}

int dcem_log_get_level(void) { return log_level; }

static void log_write(int prio, const char *suffix, const char *fmt, va_list ap) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "<%d>", prio);
        int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
        size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
        if (len > sizeof buf - 2)
                len = sizeof buf - 2;
        for (size_t i = (size_t)n; i < len; i++)
                if (buf[i] == '\n' || buf[i] == '\r')
                        buf[i] = ' ';
        if (suffix) {
                size_t sl = strlen(suffix);
                if (len + sl > sizeof buf - 2)
                        sl = sizeof buf - 2 - len;
                memcpy(buf + len, suffix, sl);
                len += sl;
        }
        buf[len++] = '\n';
        ssize_t w = write(STDERR_FILENO, buf, len);
        (void)w; /* nowhere to report a failing stderr */
}

void dcem_log(int prio, const char *fmt, ...) {
        if (prio > log_level)
                return;
        va_list ap;
        va_start(ap, fmt);
        log_write(prio, NULL, fmt, ap);
        va_end(ap);
}

void dcem_log_limited(dcem_ratelimit *rl, int64_t now_ns, int prio, const char *fmt, ...) {
        if (prio > log_level)
                return;
        if (rl->begin_ns == 0 || now_ns - rl->begin_ns >= rl->interval_ns) {
                rl->begin_ns = now_ns;
                rl->num = 0;
        }
        if (rl->num >= rl->burst) {
                rl->suppressed++;
                return;
        }
        rl->num++;
        char suffix[64] = "";
        if (rl->suppressed > 0) {
                snprintf(suffix, sizeof suffix, " (%llu similar messages suppressed)",
                         (unsigned long long)rl->suppressed);
                rl->suppressed = 0;
        }
        va_list ap;
        va_start(ap, fmt);
        log_write(prio, suffix[0] ? suffix : NULL, fmt, ap);
        va_end(ap);
}
