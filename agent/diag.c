/* diag.c - a bounded list of "FILE:LINE:COL: message" diagnostics.
 *
 * Validation code collects every error it finds here instead of stopping at
 * the first, so --check-config can show them all. The list is bounded: past
 * DCEM_DIAG_MAX messages (or when memory runs out) further errors are only
 * counted in `dropped`, never lost silently.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/diag.h"

/* Longest single message kept; longer ones are truncated (they quote user
 * input, which is itself truncated by the callers). */
#define DIAG_MSG_MAX 1024

/* Append one message. line/col 0 omit the position; file NULL omits the file.
 * Never fails: when the list is full or memory is short the message is counted
 * in d->dropped instead. d NULL is ignored. */
void dcem_diag_add(dcem_diag *d, const char *file, unsigned line, unsigned col, const char *fmt, ...)
{
        char buf[DIAG_MSG_MAX];
        size_t len = 0;
        va_list ap;
        int r;

        if (!d)
                return;
        if (d->n >= DCEM_DIAG_MAX) {
                d->dropped++;
                return;
        }

        if (file && line > 0 && col > 0)
                r = snprintf(buf, sizeof(buf), "%s:%u:%u: ", file, line, col);
        else if (file && line > 0)
                r = snprintf(buf, sizeof(buf), "%s:%u: ", file, line);
        else if (file)
                r = snprintf(buf, sizeof(buf), "%s: ", file);
        else
                r = 0;
        if (r < 0)
                r = 0;
        len = (size_t)r < sizeof(buf) ? (size_t)r : sizeof(buf) - 1;

        va_start(ap, fmt);
        r = vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
        va_end(ap);
        if (r < 0)
                buf[len] = '\0';

        /* Grow the array in steps; DCEM_DIAG_MAX bounds it. */
        if ((d->n & 15) == 0) {
                char **m = realloc(d->msgs, (d->n + 16) * sizeof(*m));
                if (!m) {
                        d->dropped++;
                        return;
                }
                d->msgs = m;
        }
        d->msgs[d->n] = strdup(buf);
        if (!d->msgs[d->n]) {
                d->dropped++;
                return;
        }
        d->n++;
}

/* Every error seen: kept plus dropped. d NULL counts as 0. */
void dcem_diag_vadd_path(dcem_diag *d, const char *file, unsigned line, unsigned col, const char *path,
                         const char *fmt, va_list ap)
{
        char msg[768];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (path && *path)
                dcem_diag_add(d, file, line, col, "%s: %s", path, msg);
        else
                dcem_diag_add(d, file, line, col, "%s", msg);
}

size_t dcem_diag_count(const dcem_diag *d)
{
        return d ? d->n + d->dropped : 0;
}

/* Free the messages and reset the counters; d stays usable. Accepts NULL. */
void dcem_diag_clear(dcem_diag *d)
{
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                free(d->msgs[i]);
        free(d->msgs);
        d->msgs = NULL;
        d->n = 0;
        d->dropped = 0;
}

#include "dcem/schema_path.h"

/* See schema_path.h. Cuts at a UTF-8 character boundary. */
char *dcem_diag_quote(char *buf, size_t size, const char *s)
{
        const size_t shown = 48; /* characters of input shown at most */
        size_t o = 0, chars = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';
        if (!s)
                return buf;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                bool cont = (*p & 0xC0) == 0x80; /* a UTF-8 continuation byte */
                if (!cont && chars >= shown) {
                        if (o + 4 <= size)
                                memcpy(buf + o, "...", 3), o += 3;
                        break;
                }
                if (*p < 0x20 || *p == 0x7f) {
                        if (o + 5 > size)
                                break;
                        snprintf(buf + o, 5, "\\x%02x", *p);
                        o += 4;
                } else {
                        if (o + 2 > size)
                                break;
                        buf[o++] = (char)*p;
                }
                if (!cont)
                        chars++;
        }
        /* Never end inside a UTF-8 sequence (when cut by size). */
        while (o > 0 && ((unsigned char)buf[o - 1] & 0x80)) {
                size_t k = o;
                while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80)
                        k--;
                if (k == 0)
                        break;
                /* buf[k-1] is the lead byte; its sequence length must fit. */
                unsigned char lead = (unsigned char)buf[k - 1];
                size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
                if (o - (k - 1) >= need)
                        break;
                o = k - 1;
        }
        buf[o] = '\0';
        return buf;
}
