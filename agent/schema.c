/* schema.c - apply declarative schema tables (dcem/schema.h) to YAML trees.
 *
 * One table per block says, for every key: its type, default, limits, doc and
 * where the value lands in a C struct. From that one table this file derives
 * validation (every error collected, each as "FILE:LINE:COL: path: message";
 * unknown keys are errors with a did-you-mean), defaults (written as YAML text
 * and parsed by the same parsers as user input, so a bad default is caught by
 * a test), and the Markdown reference (dcem_schema_doc).
 *
 * The scalar parsers are pure and strict: durations need a unit, numbers
 * are range-checked, nothing depends on the locale.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dcem/schema.h"
#include "dcem/schema_path.h"

#define STR_MAX 4096   /* longest string value accepted */
#define NAME_MAX_LEN 63 /* DCEM_NAME_LIKE: 1..63 characters */
#define PATH_MAX_LEN 256

/* ------------------------------------------------------------------ */
/* Scalar parsers                                                       */
/* ------------------------------------------------------------------ */

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Units of a duration, largest first (the order a duration must use). */
static const struct {
        const char *name;
        int64_t ns;
} dur_units[] = {
        { "d", 86400LL * 1000000000LL }, { "h", 3600LL * 1000000000LL }, { "m", 60LL * 1000000000LL },
        { "s", 1000000000LL },           { "ms", 1000000LL },
};
#define N_DUR_UNITS (sizeof(dur_units) / sizeof(dur_units[0]))

static const char why_dur_unit[] = "unknown unit (use ms, s, m, h or d)";

/* The duration parser proper. On an unknown unit, *ret_unit and *ret_unit_len
 * point at it inside s (for a message naming it). */
static int duration_parse(const char *s, int64_t *ret_ns, const char **ret_why, const char **ret_unit,
                          size_t *ret_unit_len)
{
        __int128 total = 0;
        size_t last = 0; /* index + 1 of the last unit used */
        const char *p = s;

        if (!s || !*s) {
                *ret_why = "empty value";
                return -EINVAL;
        }
        if (*p == '-') {
                *ret_why = "a duration cannot be negative";
                return -EINVAL;
        }
        while (*p) {
                uint64_t ip = 0, frac = 0, scale = 1;
                bool digits = false;

                if (!is_digit(*p) && *p != '.') {
                        *ret_why = "expected a number and a unit, e.g. 500ms, 10s or 1m30s";
                        return -EINVAL;
                }
                for (; is_digit(*p); p++) {
                        uint64_t d = (uint64_t)(*p - '0');
                        digits = true;
                        if (ip > (UINT64_MAX - d) / 10) {
                                *ret_why = "too large";
                                return -EINVAL;
                        }
                        ip = ip * 10 + d;
                }
                if (*p == '.') {
                        p++;
                        for (; is_digit(*p); p++) {
                                digits = true;
                                if (scale >= 1000000000ULL) {
                                        *ret_why = "too many decimals (at most 9)";
                                        return -EINVAL;
                                }
                                frac = frac * 10 + (uint64_t)(*p - '0');
                                scale *= 10;
                        }
                }
                if (!digits) {
                        *ret_why = "expected a number and a unit, e.g. 500ms, 10s or 1m30s";
                        return -EINVAL;
                }
                const char *u = p;
                while (is_alpha(*p))
                        p++;
                size_t ulen = (size_t)(p - u);
                if (ulen == 0) {
                        *ret_why = *p ? "expected a number and a unit, e.g. 500ms, 10s or 1m30s"
                                      : "a duration needs a unit: ms, s, m, h or d";
                        return -EINVAL;
                }
                size_t k;
                for (k = 0; k < N_DUR_UNITS; k++)
                        if (strlen(dur_units[k].name) == ulen && memcmp(dur_units[k].name, u, ulen) == 0)
                                break;
                if (k == N_DUR_UNITS) {
                        *ret_why = why_dur_unit;
                        if (ret_unit) {
                                *ret_unit = u;
                                *ret_unit_len = ulen;
                        }
                        return -EINVAL;
                }
                if (k + 1 <= last) {
                        *ret_why = "units must go from largest to smallest, each once (e.g. 1h30m)";
                        return -EINVAL;
                }
                last = k + 1;
                total += (__int128)ip * dur_units[k].ns + (__int128)frac * dur_units[k].ns / (__int128)scale;
                if (total > INT64_MAX) {
                        *ret_why = "too large";
                        return -EINVAL;
                }
        }
        *ret_ns = (int64_t)total;
        return 0;
}

/* Durations: one or more <number><unit> parts, largest unit first ("1m30s"),
 * units ms s m h d, decimals allowed ("1.5s"). A bare number is an error. */
int dcem_parse_duration(const char *s, int64_t *ret_ns, const char **ret_why)
{
        const char *why = NULL;
        int64_t ns;
        int r = duration_parse(s, &ns, &why, NULL, NULL);
        if (r < 0) {
                if (ret_why)
                        *ret_why = why;
                return r;
        }
        *ret_ns = ns;
        return 0;
}

/* Sizes: a whole number of bytes, with an optional unit B, KB MB GB TB
 * (powers of 1000) or KiB MiB GiB TiB (powers of 1024). */
int dcem_parse_size(const char *s, uint64_t *ret_bytes, const char **ret_why)
{
        static const struct {
                const char *name;
                uint64_t mult;
        } units[] = {
                { "", 1 },
                { "B", 1 },
                { "KB", 1000ULL },
                { "MB", 1000ULL * 1000 },
                { "GB", 1000ULL * 1000 * 1000 },
                { "TB", 1000ULL * 1000 * 1000 * 1000 },
                { "KiB", 1ULL << 10 },
                { "MiB", 1ULL << 20 },
                { "GiB", 1ULL << 30 },
                { "TiB", 1ULL << 40 },
        };
        const char *why = NULL, *p = s;
        uint64_t v = 0;

        if (!s || !*s)
                why = "empty value";
        else if (*p == '-')
                why = "a size cannot be negative";
        else if (!is_digit(*p))
                why = "expected a number of bytes, e.g. 512, 64KiB or 1GB";
        if (why)
                goto fail;
        for (; is_digit(*p); p++) {
                uint64_t d = (uint64_t)(*p - '0');
                if (v > (UINT64_MAX - d) / 10) {
                        why = "too large";
                        goto fail;
                }
                v = v * 10 + d;
        }
        for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
                if (strcmp(p, units[k].name) != 0)
                        continue;
                if (v > UINT64_MAX / units[k].mult) {
                        why = "too large";
                        goto fail;
                }
                *ret_bytes = v * units[k].mult;
                return 0;
        }
        why = "unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)";
fail:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

/* Booleans: true/false, yes/no, on/off, in any case. */
int dcem_parse_bool(const char *s, bool *ret, const char **ret_why)
{
        static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
        for (size_t i = 0; s && i < 3; i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        if (ret_why)
                *ret_why = s && *s ? "expected true or false (or yes/no, on/off)" : "empty value";
        return -EINVAL;
}

/* Integers: optional sign, then decimal digits or 0x and hex digits; the
 * whole of int64_t. */
int dcem_parse_int(const char *s, int64_t *ret, const char **ret_why)
{
        const char *why = NULL, *p = s;
        bool neg = false, any = false;
        unsigned base = 10;
        uint64_t v = 0, lim;

        if (!s || !*s) {
                why = "empty value";
                goto fail;
        }
        if (*p == '-' || *p == '+')
                neg = *p++ == '-';
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                base = 16;
                p += 2;
        }
        lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; *p; p++) {
                unsigned d;
                if (is_digit(*p))
                        d = (unsigned)(*p - '0');
                else if (base == 16 && *p >= 'a' && *p <= 'f')
                        d = (unsigned)(*p - 'a' + 10);
                else if (base == 16 && *p >= 'A' && *p <= 'F')
                        d = (unsigned)(*p - 'A' + 10);
                else {
                        why = base == 16 ? "not a hexadecimal integer" : "not an integer";
                        goto fail;
                }
                if (v > (lim - d) / base) {
                        why = "out of the 64-bit integer range";
                        goto fail;
                }
                v = v * base + d;
                any = true;
        }
        if (!any) {
                why = "not an integer";
                goto fail;
        }
        *ret = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
        return 0;
fail:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void)
{
        c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Decimal numbers: [sign] digits [. digits] [e [sign] digits], finite; no
 * hex, inf or nan; independent of the locale. */
int dcem_parse_double(const char *s, double *ret, const char **ret_why)
{
        const char *why = "not a number", *p = s;
        bool digits = false;

        if (!s || !*s) {
                why = "empty value";
                goto fail;
        }
        if (*p == '-' || *p == '+')
                p++;
        for (; is_digit(*p); p++)
                digits = true;
        if (*p == '.')
                for (p++; is_digit(*p); p++)
                        digits = true;
        if (!digits)
                goto fail;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '-' || *p == '+')
                        p++;
                if (!is_digit(*p))
                        goto fail;
                while (is_digit(*p))
                        p++;
        }
        if (*p)
                goto fail;

        pthread_once(&c_locale_once, c_locale_init);
        if (!c_locale) {
                why = "no C locale";
                goto fail;
        }
        errno = 0;
        double v = strtod_l(s, NULL, c_locale);
        if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0)) {
                why = "out of range";
                goto fail;
        }
        *ret = v;
        return 0;
fail:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Formatting (locale-independent)                                      */
/* ------------------------------------------------------------------ */

/* A number as text without locale: integers as such, others with up to 6
 * decimals. */
static const char *fmt_num(char *buf, size_t size, double v)
{
        if (!isfinite(v)) {
                snprintf(buf, size, "%s", v < 0 ? "-inf" : "inf");
                return buf;
        }
        if (v == trunc(v) && fabs(v) < 9e15) {
                snprintf(buf, size, "%lld", (long long)v);
                return buf;
        }
        bool neg = v < 0;
        double a = fabs(v);
        long long ip = (long long)a;
        long long fp = llround((a - (double)ip) * 1e6);
        if (fp >= 1000000) {
                ip++;
                fp -= 1000000;
        }
        char frac[24];
        snprintf(frac, sizeof(frac), "%06lld", fp);
        for (int i = 5; i > 0 && frac[i] == '0'; i--)
                frac[i] = '\0';
        snprintf(buf, size, "%s%lld.%s", neg ? "-" : "", ip, frac);
        return buf;
}

/* A duration in ns as "1d2h", "1m30s", "100ms", "0s". */
static const char *fmt_duration(char *buf, size_t size, int64_t ns)
{
        size_t o = 0;
        buf[0] = '\0';
        if (ns < 0) {
                snprintf(buf, size, "-");
                o = 1;
                ns = ns == INT64_MIN ? INT64_MAX : -ns;
        }
        for (size_t k = 0; k < N_DUR_UNITS && o < size; k++) {
                int64_t q = ns / dur_units[k].ns;
                if (q == 0)
                        continue;
                ns -= q * dur_units[k].ns;
                int r = snprintf(buf + o, size - o, "%lld%s", (long long)q, dur_units[k].name);
                if (r < 0)
                        break;
                o += (size_t)r;
        }
        if (ns > 0 && o < size) /* below a millisecond */
                snprintf(buf + o, size - o, "%lldns", (long long)ns);
        else if (o == 0)
                snprintf(buf, size, "0s");
        return buf;
}

/* Bytes as "64KiB", "1GB" when exact, else a plain number. */
static const char *fmt_size(char *buf, size_t size, uint64_t v)
{
        static const struct {
                const char *n;
                uint64_t m;
        } u[] = { { "TiB", 1ULL << 40 }, { "GiB", 1ULL << 30 }, { "MiB", 1ULL << 20 }, { "KiB", 1ULL << 10 },
                  { "TB", 1000000000000ULL }, { "GB", 1000000000ULL }, { "MB", 1000000ULL }, { "KB", 1000ULL } };
        for (size_t i = 0; v && i < sizeof(u) / sizeof(u[0]); i++)
                if (v % u[i].m == 0) {
                        snprintf(buf, size, "%llu%s", (unsigned long long)(v / u[i].m), u[i].n);
                        return buf;
                }
        snprintf(buf, size, "%llu", (unsigned long long)v);
        return buf;
}

/* See schema_path.h. */
char *dcem_format_duration(char *buf, size_t size, int64_t ns)
{
        if (size == 0)
                return buf;
        fmt_duration(buf, size, ns);
        return buf;
}

static int64_t secs_to_ns(double s)
{
        double ns = s * 1e9;
        if (ns >= 9.2e18)
                return INT64_MAX;
        if (ns <= -9.2e18)
                return INT64_MIN;
        return (int64_t)llround(ns);
}

static bool has_limits(const dcem_schema_key *k)
{
        return !(k->min == 0 && k->max == 0);
}

/* The limits of a key as text: "1 to 1000", "100ms to 1d". */
static const char *fmt_limits(char *buf, size_t size, const dcem_schema_key *k, bool between)
{
        char a[64], b[64];
        switch (k->type) {
        case DCEM_T_DURATION:
                fmt_duration(a, sizeof(a), secs_to_ns(k->min));
                fmt_duration(b, sizeof(b), secs_to_ns(k->max));
                break;
        case DCEM_T_SIZE:
                fmt_size(a, sizeof(a), k->min <= 0 ? 0 : (uint64_t)k->min);
                fmt_size(b, sizeof(b), k->max <= 0 ? 0 : (uint64_t)k->max);
                break;
        default:
                fmt_num(a, sizeof(a), k->min);
                fmt_num(b, sizeof(b), k->max);
                break;
        }
        if (between)
                snprintf(buf, size, "between %s and %s", a, b);
        else
                snprintf(buf, size, "%s to %s", a, b);
        return buf;
}

/* ------------------------------------------------------------------ */
/* Helpers for values                                                   */
/* ------------------------------------------------------------------ */

/* Is this plain scalar a YAML null ("", "~", "null")? */
static bool node_is_null(const dcem_node *n)
{
        if (!n || n->type != DCEM_NODE_SCALAR || !n->plain)
                return false;
        const char *s = n->scalar;
        return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Is c in a charset spec like "a-z0-9_-" (ranges x-y, other characters
 * literal; a '-' first or last is literal)? */
static bool charset_has(const char *spec, char c)
{
        for (const char *p = spec; p && *p; p++) {
                if (p[1] == '-' && p[2]) {
                        if (c >= p[0] && c <= p[2])
                                return true;
                        p += 2;
                } else if (*p == c)
                        return true;
        }
        return false;
}

/* Optimal string alignment distance (edits with adjacent transpositions),
 * for did-you-mean; strings longer than 64 give a large number. */
static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        size_t d[65][65];
        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t i = 0; i <= la; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = a[i - 1] != b[j - 1];
                        size_t v = d[i - 1][j] + 1;
                        if (d[i][j - 1] + 1 < v)
                                v = d[i][j - 1] + 1;
                        if (d[i - 1][j - 1] + cost < v)
                                v = d[i - 1][j - 1] + cost;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                                v = d[i - 2][j - 2] + 1;
                        d[i][j] = v;
                }
        return d[la][lb];
}

/* Is the candidate close enough to what was typed to suggest it? */
static bool close_enough(const char *typed, const char *cand)
{
        size_t d = edit_distance(typed, cand);
        size_t allowed = strlen(cand) >= 5 ? 2 : 1;
        return d <= allowed && d < strlen(cand);
}

typedef struct ctx {
        dcem_diag *diag;
        unsigned errors;
} ctx;

/* Report "FILE:LINE:COL: path: message" at node n. */
static void __attribute__((format(printf, 4, 5))) err(ctx *c, const dcem_node *n, const char *path,
                                                         const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        dcem_diag_vadd_path(c->diag, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0, path, fmt, ap);
        va_end(ap);
        c->errors++;
}

static void path_join(char *buf, size_t size, const char *path, const char *key)
{
        if (path && *path)
                snprintf(buf, size, "%s.%s", path, key);
        else
                snprintf(buf, size, "%s", key);
}

/* What a key expects, for messages: "a duration", "one of: a, b". */
static const char *type_desc(const dcem_schema_key *k)
{
        switch (k->type) {
        case DCEM_T_STR:
                return k->flags & DCEM_NAME_LIKE ? "a name" : "a string";
        case DCEM_T_BOOL:
                return "true or false";
        case DCEM_T_INT:
                return "an integer";
        case DCEM_T_DOUBLE:
                return "a number";
        case DCEM_T_DURATION:
                return "a duration";
        case DCEM_T_SIZE:
                return "a size";
        case DCEM_T_ENUM:
                return "one of the listed values";
        case DCEM_T_MAP:
                return "a map";
        case DCEM_T_LIST:
                return "a list of maps";
        case DCEM_T_STRLIST:
                return "a list of strings";
        case DCEM_T_NODE:
                return "a value";
        }
        return "a value";
}

/* The enum's values as "a, b, c" into buf. */
static const char *enum_list(char *buf, size_t size, const char *values, const char *sep)
{
        size_t o = 0;
        buf[0] = '\0';
        for (const char *p = values; p && *p && o + 1 < size;) {
                const char *e = strchr(p, '|');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                int r = snprintf(buf + o, size - o, "%s%.*s", o ? sep : "", (int)l, p);
                if (r < 0)
                        break;
                o += (size_t)r;
                if (o >= size)
                        o = size - 1;
                p += l + (e ? 1 : 0);
                if (!e)
                        break;
        }
        return buf;
}

/* Index of s in "a|b|c", or -1; *ret_close gets a close value (or NULL). */
static int enum_find(const char *values, const char *s, char *close_buf, size_t close_size, bool *ret_close)
{
        int i = 0;
        *ret_close = false;
        for (const char *p = values; p && *p; i++) {
                const char *e = strchr(p, '|');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                if (strlen(s) == l && memcmp(p, s, l) == 0)
                        return i;
                if (!*ret_close && l < close_size) {
                        char cand[64];
                        if (l < sizeof(cand)) {
                                memcpy(cand, p, l);
                                cand[l] = '\0';
                                if (close_enough(s, cand)) {
                                        memcpy(close_buf, cand, l + 1);
                                        *ret_close = true;
                                }
                        }
                }
                if (!e)
                        break;
                p = e + 1;
        }
        return -1;
}

/* ------------------------------------------------------------------ */
/* Applying                                                             */
/* ------------------------------------------------------------------ */

static void apply_map(ctx *c, const dcem_schema *s, const dcem_node *map, const dcem_node *where, void *target,
                      const char *path);

/* Parse one scalar node into its slot. */
static void apply_scalar(ctx *c, const dcem_schema_key *k, const dcem_node *n, void *dst, const char *path)
{
        char q[DCEM_QUOTE_MAX], lim[160];
        const char *why = NULL, *s = n->scalar;

        dcem_diag_quote(q, sizeof(q), s);
        switch (k->type) {
        case DCEM_T_STR: {
                size_t len = strlen(s);
                if (len > STR_MAX) {
                        err(c, n, path, "too long: at most %u characters", (unsigned)STR_MAX);
                        return;
                }
                if (k->flags & DCEM_NAME_LIKE) {
                        if (len == 0) {
                                err(c, n, path, "a name cannot be empty (use [%s], 1 to %u characters)", k->values,
                                    (unsigned)NAME_MAX_LEN);
                                return;
                        }
                        if (len > NAME_MAX_LEN) {
                                err(c, n, path, "'%s' is not a valid name: longer than %u characters", q,
                                    (unsigned)NAME_MAX_LEN);
                                return;
                        }
                        for (const char *p = s; *p; p++)
                                if (!charset_has(k->values, *p)) {
                                        char bad[8];
                                        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                                                snprintf(bad, sizeof(bad), "\\x%02x", (unsigned char)*p);
                                        else
                                                snprintf(bad, sizeof(bad), "%c", *p);
                                        err(c, n, path, "'%s' is not a valid name: '%s' is not allowed (use [%s], 1 to %u characters)",
                                            q, bad, k->values, (unsigned)NAME_MAX_LEN);
                                        return;
                                }
                }
                char *v = strdup(s);
                if (!v) {
                        err(c, n, path, "out of memory");
                        return;
                }
                free(*(char **)dst);
                *(char **)dst = v;
                return;
        }
        case DCEM_T_BOOL: {
                bool v;
                if (dcem_parse_bool(s, &v, &why) < 0) {
                        err(c, n, path, "'%s' is not a boolean: %s", q, why);
                        return;
                }
                *(bool *)dst = v;
                return;
        }
        case DCEM_T_INT: {
                int64_t v;
                if (dcem_parse_int(s, &v, &why) < 0) {
                        err(c, n, path, "'%s' is not an integer: %s", q, why);
                        return;
                }
                if (has_limits(k) && ((double)v < k->min || (double)v > k->max)) {
                        err(c, n, path, "'%s' is out of range: must be %s", q, fmt_limits(lim, sizeof(lim), k, true));
                        return;
                }
                *(int64_t *)dst = v;
                return;
        }
        case DCEM_T_DOUBLE: {
                double v;
                if (dcem_parse_double(s, &v, &why) < 0) {
                        err(c, n, path, "'%s' is not a number: %s", q, why);
                        return;
                }
                if (has_limits(k) && (v < k->min || v > k->max)) {
                        err(c, n, path, "'%s' is out of range: must be %s", q, fmt_limits(lim, sizeof(lim), k, true));
                        return;
                }
                *(double *)dst = v;
                return;
        }
        case DCEM_T_DURATION: {
                int64_t v;
                const char *unit = NULL;
                size_t ulen = 0;
                if (duration_parse(s, &v, &why, &unit, &ulen) < 0) {
                        if (why == why_dur_unit && unit) {
                                char u[24], uq[DCEM_QUOTE_MAX];
                                snprintf(u, sizeof(u), "%.*s", (int)(ulen < 20 ? ulen : 20), unit);
                                err(c, n, path, "'%s' is not a duration: unknown unit '%s' (use ms, s, m, h or d)", q,
                                    dcem_diag_quote(uq, sizeof(uq), u));
                        } else
                                err(c, n, path, "'%s' is not a duration: %s", q, why);
                        return;
                }
                if (has_limits(k) && (v < secs_to_ns(k->min) || v > secs_to_ns(k->max))) {
                        err(c, n, path, "'%s' is out of range: must be %s", q, fmt_limits(lim, sizeof(lim), k, true));
                        return;
                }
                *(int64_t *)dst = v;
                return;
        }
        case DCEM_T_SIZE: {
                uint64_t v;
                if (dcem_parse_size(s, &v, &why) < 0) {
                        err(c, n, path, "'%s' is not a size: %s", q, why);
                        return;
                }
                if (has_limits(k) && ((double)v < k->min || (double)v > k->max)) {
                        err(c, n, path, "'%s' is out of range: must be %s", q, fmt_limits(lim, sizeof(lim), k, true));
                        return;
                }
                *(uint64_t *)dst = v;
                return;
        }
        case DCEM_T_ENUM: {
                char close[64], all[512];
                bool has_close;
                int i = enum_find(k->values, s, close, sizeof(close), &has_close);
                if (i < 0) {
                        enum_list(all, sizeof(all), k->values, ", ");
                        if (has_close)
                                err(c, n, path, "'%s' is not a valid value (did you mean '%s'?); use one of: %s", q,
                                    close, all);
                        else
                                err(c, n, path, "'%s' is not a valid value; use one of: %s", q, all);
                        return;
                }
                *(int *)dst = i;
                return;
        }
        default:
                return;
        }
}

/* Apply node n (present in the map) for key k into target. */
static void apply_value(ctx *c, const dcem_schema_key *k, const dcem_node *n, void *target, const char *path)
{
        void *dst = (char *)target + k->offset;

        switch (k->type) {
        case DCEM_T_NODE:
                *(const dcem_node **)dst = n;
                return;
        case DCEM_T_MAP:
                apply_map(c, k->sub, node_is_null(n) ? NULL : n, n, dst, path);
                return;
        case DCEM_T_LIST:
        case DCEM_T_STRLIST: {
                if (node_is_null(n))
                        return; /* an empty list */
                if (n->type != DCEM_NODE_SEQ) {
                        err(c, n, path, "expected %s, found %s", type_desc(k), dcem_node_type_name(n));
                        return;
                }
                if (n->n == 0)
                        return;
                size_t isz = k->type == DCEM_T_LIST ? k->sub->size : sizeof(char *);
                void *items = calloc(n->n, isz);
                if (!items) {
                        err(c, n, path, "out of memory");
                        return;
                }
                if (k->type == DCEM_T_LIST) {
                        dcem_list *l = dst;
                        l->items = items;
                        l->n = n->n;
                } else {
                        dcem_strlist *l = dst;
                        l->items = items;
                        l->n = n->n;
                }
                size_t i = 0;
                for (const dcem_node *it = n->child; it && i < n->n; it = it->next, i++) {
                        char ipath[PATH_MAX_LEN];
                        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
                        if (k->type == DCEM_T_LIST) {
                                apply_map(c, k->sub, it, it, (char *)items + i * isz, ipath);
                                continue;
                        }
                        if (it->type != DCEM_NODE_SCALAR || node_is_null(it)) {
                                err(c, it, ipath, "expected a string, found %s",
                                    it->type == DCEM_NODE_SCALAR ? "nothing" : dcem_node_type_name(it));
                                continue;
                        }
                        if (strlen(it->scalar) > STR_MAX) {
                                err(c, it, ipath, "too long: at most %u characters", (unsigned)STR_MAX);
                                continue;
                        }
                        ((char **)items)[i] = strdup(it->scalar);
                        if (!((char **)items)[i])
                                err(c, it, ipath, "out of memory");
                }
                return;
        }
        default:
                break;
        }

        if (n->type != DCEM_NODE_SCALAR) {
                err(c, n, path, "expected %s, found %s", type_desc(k), dcem_node_type_name(n));
                return;
        }
        if (node_is_null(n)) {
                err(c, n, path, "expected %s, found nothing", type_desc(k));
                return;
        }
        apply_scalar(c, k, n, dst, path);
}

/* The key named name in s, or NULL. */
static const dcem_schema_key *find_key(const dcem_schema *s, const char *name)
{
        for (const dcem_schema_key *k = s->keys; k && k->name; k++)
                if (strcmp(k->name, name) == 0)
                        return k;
        return NULL;
}

/* Apply map (NULL: absent, all defaults) to target. where gives the position
 * for "missing key" errors when map is NULL. */
static void apply_map(ctx *c, const dcem_schema *s, const dcem_node *map, const dcem_node *where, void *target,
                      const char *path)
{
        unsigned before = c->errors;
        size_t diag_before = dcem_diag_count(c->diag);
        bool not_map = false;

        if (map && node_is_null(map)) { /* "key:" with no value: an empty map */
                where = map;
                map = NULL;
        }
        if (map && map->type != DCEM_NODE_MAP) {
                /* Reported once; its keys are then not judged (defaults only). */
                err(c, map, path, "expected a map, found %s", dcem_node_type_name(map));
                not_map = true;
                where = map;
                map = NULL;
        }
        if (map)
                where = map;

        /* Unknown keys, at the key's position. */
        for (const dcem_node *m = map ? map->child : NULL; m; m = m->next) {
                if (!m->key || find_key(s, m->key))
                        continue;
                if (c->diag && c->diag->n >= DCEM_DIAG_MAX) {
                        /* Only counted now: skip the suggestion's cost. */
                        err(c, m, path, "unknown key");
                        continue;
                }
                dcem_node at = *m;
                char q[DCEM_QUOTE_MAX], all[1024];
                const char *close = NULL;
                size_t o = 0;
                at.line = m->key_line;
                at.col = m->key_col;
                all[0] = '\0';
                for (const dcem_schema_key *k = s->keys; k && k->name; k++) {
                        if (!close && close_enough(m->key, k->name))
                                close = k->name;
                        int r = snprintf(all + o, sizeof(all) - o, "%s%s", o ? ", " : "", k->name);
                        if (r > 0)
                                o = o + (size_t)r < sizeof(all) ? o + (size_t)r : sizeof(all) - 1;
                }
                dcem_diag_quote(q, sizeof(q), m->key);
                if (close)
                        err(c, &at, path, "unknown key '%s' (did you mean '%s'?)", q, close);
                else
                        err(c, &at, path, "unknown key '%s' (valid keys: %s)", q, o ? all : "none");
        }

        for (const dcem_schema_key *k = s->keys; k && k->name; k++) {
                char kpath[PATH_MAX_LEN];
                const dcem_node *n = dcem_node_get(map, k->name);
                path_join(kpath, sizeof(kpath), path, k->name);
                if (n) {
                        apply_value(c, k, n, target, kpath);
                        continue;
                }
                if (k->flags & DCEM_REQUIRED) {
                        if (!not_map)
                                err(c, where, path, "missing required key '%s'", k->name);
                        continue;
                }
                if (k->type == DCEM_T_MAP) {
                        apply_map(c, k->sub, NULL, where, (char *)target + k->offset, kpath);
                        continue;
                }
                if (!k->def)
                        continue;
                /* The default goes through the same parser as user text. */
                dcem_node d = { .type = DCEM_NODE_SCALAR, .file = "schema default", .scalar = (char *)k->def,
                                .plain = true };
                if (k->type == DCEM_T_LIST || k->type == DCEM_T_STRLIST || k->type == DCEM_T_NODE)
                        err(c, &d, kpath, "a default is not supported for this type (schema bug)");
                else
                        apply_value(c, k, &d, target, kpath);
        }

        if (s->check && c->errors == before) {
                int r = s->check(s, target, map, c->diag);
                if (r < 0 || dcem_diag_count(c->diag) != diag_before)
                        c->errors++;
        }
}

int dcem_schema_apply_at(const dcem_schema *s, const char *path, const dcem_node *map, void *target,
                         dcem_diag *diag)
{
        ctx c = { .diag = diag };
        if (!s || !target)
                return -EINVAL;
        apply_map(&c, s, map, map, target, path ? path : "");
        return c.errors ? -EINVAL : 0;
}

/* See schema.h: defaults, every key parsed and checked, unknown and missing
 * keys reported; every error collected. 0 or -EINVAL. */
int dcem_schema_apply(const dcem_schema *s, const dcem_node *map, void *target, dcem_diag *diag)
{
        return dcem_schema_apply_at(s, "", map, target, diag);
}

/* Free what apply allocated inside target; target itself stays. */
void dcem_schema_free(const dcem_schema *s, void *target)
{
        if (!s || !target)
                return;
        for (const dcem_schema_key *k = s->keys; k && k->name; k++) {
                void *dst = (char *)target + k->offset;
                switch (k->type) {
                case DCEM_T_STR:
                        free(*(char **)dst);
                        *(char **)dst = NULL;
                        break;
                case DCEM_T_MAP:
                        dcem_schema_free(k->sub, dst);
                        break;
                case DCEM_T_LIST: {
                        dcem_list *l = dst;
                        for (size_t i = 0; l->items && i < l->n; i++)
                                dcem_schema_free(k->sub, (char *)l->items + i * k->sub->size);
                        free(l->items);
                        l->items = NULL;
                        l->n = 0;
                        break;
                }
                case DCEM_T_STRLIST: {
                        dcem_strlist *l = dst;
                        for (size_t i = 0; l->items && i < l->n; i++)
                                free(l->items[i]);
                        free(l->items);
                        l->items = NULL;
                        l->n = 0;
                        break;
                }
                default:
                        break;
                }
        }
}

/* ------------------------------------------------------------------ */
/* Documentation                                                        */
/* ------------------------------------------------------------------ */

/* Text for a Markdown table cell: '|' and '<' escaped, line breaks as spaces. */
static void md_cell(FILE *out, const char *s)
{
        for (const char *p = s ? s : ""; *p; p++) {
                if (*p == '|')
                        fputs("\\|", out);
                else if (*p == '<')
                        fputs("&lt;", out);
                else if (*p == '\n' || *p == '\r')
                        fputc(' ', out);
                else
                        fputc(*p, out);
        }
}

static const char *type_name_doc(const dcem_schema_key *k)
{
        switch (k->type) {
        case DCEM_T_STR:
                return k->flags & DCEM_NAME_LIKE ? "name" : "string";
        case DCEM_T_BOOL:
                return "bool";
        case DCEM_T_INT:
                return "integer";
        case DCEM_T_DOUBLE:
                return "number";
        case DCEM_T_DURATION:
                return "duration";
        case DCEM_T_SIZE:
                return "size";
        case DCEM_T_ENUM:
                return "enum";
        case DCEM_T_MAP:
                return "map";
        case DCEM_T_LIST:
                return "list of maps";
        case DCEM_T_STRLIST:
                return "list of strings";
        case DCEM_T_NODE:
                return "block";
        }
        return "?";
}

/* See schema.h. One section per schema: its doc, a table of keys, then a
 * section for every MAP ("path.key") and LIST ("path.key[]") key. */
void dcem_schema_doc(const dcem_schema *s, const char *path, FILE *out)
{
        if (!s || !out)
                return;
        if (path && *path)
                fprintf(out, "## `%s`\n\n", path);
        else
                fprintf(out, "## Top level\n\n");
        if (s->doc)
                fprintf(out, "%s\n\n", s->doc);
        fputs("| Key | Type | Default | Values / limits | Required | Description |\n", out);
        fputs("|-----|------|---------|-----------------|----------|-------------|\n", out);
        for (const dcem_schema_key *k = s->keys; k && k->name; k++) {
                char lim[600], sub[PATH_MAX_LEN];
                lim[0] = '\0';
                path_join(sub, sizeof(sub), path, k->name);
                switch (k->type) {
                case DCEM_T_ENUM: {
                        char all[512];
                        snprintf(lim, sizeof(lim), "`%s`", enum_list(all, sizeof(all), k->values, "`, `"));
                        break;
                }
                case DCEM_T_STR:
                        if (k->flags & DCEM_NAME_LIKE)
                                snprintf(lim, sizeof(lim), "`[%s]`, 1 to %u characters", k->values,
                                         (unsigned)NAME_MAX_LEN);
                        break;
                case DCEM_T_INT:
                case DCEM_T_DOUBLE:
                case DCEM_T_DURATION:
                case DCEM_T_SIZE:
                        if (has_limits(k))
                                fmt_limits(lim, sizeof(lim), k, false);
                        break;
                case DCEM_T_MAP:
                        snprintf(lim, sizeof(lim), "see `%s`", sub);
                        break;
                case DCEM_T_LIST:
                        snprintf(lim, sizeof(lim), "see `%s[]`", sub);
                        break;
                default:
                        break;
                }
                fprintf(out, "| `%s` | %s | ", k->name, type_name_doc(k));
                if (k->def) {
                        fputc('`', out);
                        md_cell(out, k->def);
                        fputc('`', out);
                } else
                        fputc('-', out);
                fputs(" | ", out);
                md_cell(out, lim[0] ? lim : "-");
                fprintf(out, " | %s | ", k->flags & DCEM_REQUIRED ? "yes" : "no");
                md_cell(out, k->doc);
                fputs(" |\n", out);
        }
        fputc('\n', out);
        for (const dcem_schema_key *k = s->keys; k && k->name; k++) {
                char sub[PATH_MAX_LEN];
                if (!k->sub || (k->type != DCEM_T_MAP && k->type != DCEM_T_LIST))
                        continue;
                path_join(sub, sizeof(sub), path, k->name);
                if (k->type == DCEM_T_LIST && strlen(sub) + 3 <= sizeof(sub))
                        strcat(sub, "[]");
                dcem_schema_doc(k->sub, sub, out);
        }
}
