/* diag.h - a bounded list of diagnostics, each "FILE:LINE:COL: message".
 *
 * Validation collects every error it finds instead of stopping at the first,
 * so --check-config can print them all. Bounded: past DCEM_DIAG_MAX messages
 * the rest are only counted.
 */
#ifndef DCEM_DIAG_H
#define DCEM_DIAG_H

#include <stdarg.h>
#include <stddef.h>

#define DCEM_DIAG_MAX 200

typedef struct dcem_diag {
        char **msgs;
        size_t n;
        size_t dropped; /* errors past DCEM_DIAG_MAX, counted only */
} dcem_diag;

/* Append "file:line:col: message". line/col are 1-based; 0 omits them. */
void dcem_diag_add(dcem_diag *d, const char *file, unsigned line, unsigned col, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
/* The same with a key path in front of the message ("file:l:c: path: msg");
 * path NULL or "" omits it. For the validators' own printf-style helpers. */
void dcem_diag_vadd_path(dcem_diag *d, const char *file, unsigned line, unsigned col, const char *path,
                         const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
size_t dcem_diag_count(const dcem_diag *d); /* n + dropped */
void dcem_diag_clear(dcem_diag *d);          /* frees the messages; d stays usable */

#endif
