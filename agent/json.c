/* json.c - JSON encodings of samples, with UTF-8 repair and NaN-as-null.
 * See json.h.
 *
 * Two ways in: jansson values (dcem_json_string, dcem_json_number) for
 * payloads built as trees, and direct writers for the two per-poll payloads
 * (a device message, a stdout sample line). The writers exist because they
 * run once per device-poll: building and dumping a jansson tree of 14 points
 * cost about 200,000 instructions per poll (callgrind, docs/BENCHMARKS.md),
 * most of the agent's CPU. They write exactly the bytes jansson writes with
 * DCEM_JSON_FLAGS (same escapes, same "%.15g" numbers with ".0" added to
 * integral values, same exponent form); tests/unit/test_json.c compares the
 * two byte for byte.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/clock.h"
#include "json.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid.
 * Rejects overlongs, surrogates and code points past U+10FFFF (RFC 3629). */
static size_t utf8_seq_len(const unsigned char *s, size_t avail) {
        unsigned char c = s[0];
        size_t n;
        uint32_t cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF) {
                n = 2;
                cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
                n = 3;
                cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
                n = 4;
                cp = c & 0x07;
        } else
                return 0;
        if (avail < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *dcem_json_string(const char *s) {
        if (!s)
                s = "";
        size_t len = strlen(s);
        const unsigned char *u = (const unsigned char *)s;
        size_t i = 0;
        for (; i < len;) {
                size_t k = utf8_seq_len(u + i, len - i);
                if (k == 0)
                        break;
                i += k;
        }
        if (i == len)
                return json_stringn(s, len);
        /* Repair: each invalid byte becomes U+FFFD (3 bytes). */
        char *fixed = malloc(len * 3 + 1);
        if (!fixed)
                return NULL;
        size_t o = 0;
        for (i = 0; i < len;) {
                size_t k = utf8_seq_len(u + i, len - i);
                if (k == 0) {
                        memcpy(fixed + o, "\xEF\xBF\xBD", 3);
                        o += 3;
                        i++;
                } else {
                        memcpy(fixed + o, s + i, k);
                        o += k;
                        i += k;
                }
        }
        json_t *j = json_stringn(fixed, o);
        free(fixed);
        return j;
}

json_t *dcem_json_number(double v) {
        return isfinite(v) ? json_real(v) : json_null();
}

/* ---- direct writers ---- */

/* An output buffer that counts what did not fit (len may exceed cap - 1;
 * nothing is written past cap - 1, and buf stays NUL-terminated). */
typedef struct jw {
        char *buf;
        size_t cap, len;
} jw;

static void jw_put(jw *w, const char *s, size_t n) {
        if (w->len < w->cap) {
                size_t room = w->cap - 1 - w->len;
                memcpy(w->buf + w->len, s, n < room ? n : room);
        }
        w->len += n;
}

static void jw_lit(jw *w, const char *s) {
        jw_put(w, s, strlen(s));
}

static void jw_end(jw *w) {
        if (w->cap)
                w->buf[w->len < w->cap ? w->len : w->cap - 1] = '\0';
}

/* A JSON string of arbitrary bytes: invalid UTF-8 replaced byte by byte with
 * U+FFFD (as dcem_json_string), escapes as jansson's dump without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH. */
static void jw_str(jw *w, const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        const unsigned char *u = (const unsigned char *)(s ? s : "");
        size_t len = strlen((const char *)u), i = 0, run = 0;

        jw_put(w, "\"", 1);
        while (i < len) {
                unsigned char c = u[i];
                size_t k;

                if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
                        i++;
                        run++;
                        continue;
                }
                k = c < 0x80 ? 1 : utf8_seq_len(u + i, len - i);
                if (k > 1) {
                        i += k;
                        run += k;
                        continue;
                }
                jw_put(w, (const char *)u + i - run, run);
                run = 0;
                if (k == 0) {
                        jw_put(w, "\xEF\xBF\xBD", 3);
                } else {
                        char e[6] = { '\\', 0, '0', '0', 0, 0 };
                        switch (c) {
                        case '"': e[1] = '"'; break;
                        case '\\': e[1] = '\\'; break;
                        case '\b': e[1] = 'b'; break;
                        case '\f': e[1] = 'f'; break;
                        case '\n': e[1] = 'n'; break;
                        case '\r': e[1] = 'r'; break;
                        case '\t': e[1] = 't'; break;
                        default:
                                e[1] = 'u';
                                e[4] = hex[c >> 4];
                                e[5] = hex[c & 15];
                                jw_put(w, e, 6);
                                i++;
                                continue;
                        }
                        jw_put(w, e, 2);
                }
                i++;
        }
        jw_put(w, (const char *)u + i - run, run);
        jw_put(w, "\"", 1);
}

/* An unsigned integer in decimal. */
static void jw_u64(jw *w, uint64_t v) {
        char d[24];
        size_t n = sizeof d;

        do {
                d[--n] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        jw_put(w, d + n, sizeof d - n);
}

/* "%.15g" of v for 1e-5 <= |v| < 1e15, exactly as glibc prints it (the
 * exact binary value rounded half-to-even at the 15th significant digit),
 * from integers: v = m * 2^e, so v * 10^k = m * 5^k * 2^(e+k), which fits
 * 128 bits for k <= 19. snprintf's arbitrary-precision path cost about
 * 2,500 instructions per number. Returns the length written to t (>= 40
 * bytes), or 0 when v is outside that range (the caller uses snprintf). */
static int fmt_g15(char *t, double v) {
        static const uint64_t p10_14 = UINT64_C(100000000000000), p10_15 = UINT64_C(1000000000000000);
        double a = fabs(v);
        uint64_t bits, q = 0;
        int x, tries;

        if (!(a >= 1e-5 && a < 1e15))
                return 0;
        memcpy(&bits, &a, sizeof bits);
        int be = (int)((bits >> 52) & 0x7ff);
        if (be == 0)
                return 0; /* subnormal: outside the range anyway */
        uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
        int e = be - 1075;
        x = (int)floor(log10(a)); /* may be off by one: corrected below */
        for (tries = 0; tries < 3; tries++) {
                int k = 14 - x, sh = e + k;
                unsigned __int128 nn = m;

                if (k < 0 || k > 19)
                        return 0;
                for (int i = 0; i < k; i++)
                        nn *= 5;
                if (sh >= 0) {
                        if (sh > 20)
                                return 0;
                        nn <<= sh;
                } else {
                        int r = -sh;
                        if (r >= 120)
                                return 0;
                        unsigned __int128 qq = nn >> r, rem = nn - (qq << r), half = (unsigned __int128)1 << (r - 1);
                        if (rem > half || (rem == half && (qq & 1)))
                                qq++;
                        nn = qq;
                }
                if (nn >= p10_15) {
                        x++;
                        continue;
                }
                if (nn < p10_14) {
                        x--;
                        continue;
                }
                q = (uint64_t)nn;
                break;
        }
        if (tries == 3)
                return 0;
        char d[15];
        for (int i = 14; i >= 0; i--) {
                d[i] = (char)('0' + q % 10);
                q /= 10;
        }
        int nd = 15; /* significant digits after cutting trailing zeros */
        while (nd > 1 && d[nd - 1] == '0')
                nd--;
        int n = 0;
        if (v < 0)
                t[n++] = '-';
        if (x >= -4 && x < 15) {
                if (x >= 0) {
                        for (int i = 0; i <= x; i++)
                                t[n++] = d[i];
                        if (nd > x + 1) {
                                t[n++] = '.';
                                for (int i = x + 1; i < nd; i++)
                                        t[n++] = d[i];
                        }
                } else {
                        t[n++] = '0';
                        t[n++] = '.';
                        for (int i = 0; i < -x - 1; i++)
                                t[n++] = '0';
                        for (int i = 0; i < nd; i++)
                                t[n++] = d[i];
                }
        } else {
                t[n++] = d[0];
                if (nd > 1) {
                        t[n++] = '.';
                        for (int i = 1; i < nd; i++)
                                t[n++] = d[i];
                }
                int ax = x < 0 ? -x : x;
                t[n++] = 'e';
                t[n++] = x < 0 ? '-' : '+';
                if (ax >= 100)
                        t[n++] = (char)('0' + ax / 100);
                t[n++] = (char)('0' + ax / 10 % 10);
                t[n++] = (char)('0' + ax % 10);
        }
        t[n] = '\0';
        return n;
}

/* A double as jansson dumps a real with JSON_REAL_PRECISION(15): "%.15g",
 * ".0" appended when the text has neither '.' nor 'e', the exponent without
 * '+' and leading zeros; null when not finite. Integral values below 1e15
 * are written from integers (what "%.15g" prints for them), others from
 * 1e-5 to 1e15 by fmt_g15; the rest go through snprintf, with the decimal
 * point forced to '.' whatever the locale. */
static void jw_num(jw *w, double v) {
        char t[40];
        int n;

        if (!isfinite(v)) {
                jw_put(w, "null", 4);
                return;
        }
        if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
                int64_t i = (int64_t)v;

                if (i < 0 || (i == 0 && signbit(v)))
                        jw_put(w, "-", 1);
                jw_u64(w, i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i);
                jw_put(w, ".0", 2);
                return;
        }
        n = fmt_g15(t, v);
        if (n == 0)
                n = snprintf(t, sizeof t, "%.15g", v);
        if (n <= 0 || (size_t)n >= sizeof t) {
                jw_put(w, "null", 4); /* not reached: %.15g of a finite double fits */
                return;
        }
        bool dot = false;
        char *e = NULL;
        for (int i = 0; i < n; i++) {
                char c = t[i];
                if (c == 'e') {
                        e = t + i;
                } else if (c != '-' && c != '+' && (c < '0' || c > '9')) {
                        t[i] = '.'; /* the locale's decimal point */
                        dot = true;
                }
        }
        if (e) {
                /* "1e+20" -> "1e20", "1e-05" -> "1e-5" */
                char *from = e + 1, *to = e + 1;
                if (*from == '+')
                        from++;
                else if (*from == '-')
                        from++, to++;
                while (*from == '0' && from[1])
                        from++;
                memmove(to, from, (size_t)(t + n - from) + 1);
                n = (int)strlen(t);
        }
        jw_put(w, t, (size_t)n);
        if (!dot && !e)
                jw_put(w, ".0", 2);
}

/* A sample's value: its text as a JSON string for DCEM_KIND_TEXT (repaired
 * and escaped as any string; read at most DCEM_TEXT_MAX bytes even if the
 * field lacks its NUL), else its number (null when not finite). */
static void jw_value(jw *w, const dcem_sample *s) {
        if (s->kind == DCEM_KIND_TEXT) {
                char t[DCEM_TEXT_MAX + 1];
                size_t n = strnlen(s->text, DCEM_TEXT_MAX);
                memcpy(t, s->text, n);
                t[n] = '\0';
                jw_str(w, t);
                return;
        }
        jw_num(w, s->value);
}

static int jw_result(jw *w) {
        jw_end(w);
        if (w->len >= w->cap)
                return -ENOBUFS;
        if (w->len > INT32_MAX)
                return -E2BIG;
        return (int)w->len;
}

int dcem_json_sample_line(const char *site, const dcem_sample *s, char *buf, size_t size) {
        char ts[DCEM_TS_MAX];
        jw w = { .buf = buf, .cap = size };

        if (!s || !buf || size == 0)
                return -EINVAL;
        jw_lit(&w, "{\"site\":");
        jw_str(&w, site);
        jw_lit(&w, ",\"device\":");
        jw_str(&w, s->device);
        jw_lit(&w, ",\"point\":");
        jw_str(&w, s->point);
        jw_lit(&w, ",\"value\":");
        jw_value(&w, s);
        jw_lit(&w, ",\"unit\":");
        jw_str(&w, s->unit);
        jw_lit(&w, ",\"ts\":\"");
        jw_lit(&w, dcem_format_utc(s->ts_ns, ts));
        jw_lit(&w, "\",\"quality\":\"");
        jw_lit(&w, dcem_quality_name((dcem_quality)s->quality));
        jw_lit(&w, "\"}");
        return jw_result(&w);
}

/* Index of the last sample of b named like sample i (jansson's object set
 * replaces the value of a key in place: the first position, the last value). */
static size_t last_same_point(const dcem_batch *b, size_t i) {
        size_t last = i;
        for (size_t k = i + 1; k < b->n; k++)
                if (strcmp(b->samples[k].point, b->samples[i].point) == 0)
                        last = k;
        return last;
}

static bool seen_point(const dcem_batch *b, size_t i) {
        for (size_t k = 0; k < i; k++)
                if (strcmp(b->samples[k].point, b->samples[i].point) == 0)
                        return true;
        return false;
}

/* Write the device message into w; dup: batch names may repeat. */
static void device_message(jw *w, const char *site, long schema, const dcem_batch *b, bool dup) {
        char ts[DCEM_TS_MAX];

        jw_lit(w, "{\"schema\":");
        if (schema < 0) {
                jw_put(w, "-", 1);
                jw_u64(w, (uint64_t)0 - (uint64_t)schema);
        } else {
                jw_u64(w, (uint64_t)schema);
        }
        jw_lit(w, ",\"site\":");
        jw_str(w, site);
        jw_lit(w, ",\"device\":");
        jw_str(w, b->device);
        jw_lit(w, ",\"ts\":\"");
        jw_lit(w, dcem_format_utc(b->ts_ns, ts));
        jw_lit(w, "\",\"read\":\"");
        jw_lit(w, dcem_format_utc(b->done_ns, ts));
        jw_lit(w, "\",\"seq\":");
        jw_u64(w, b->seq);
        if (b->status != 0) {
                jw_lit(w, ",\"error\":");
                jw_str(w, b->error[0] ? b->error : strerror(b->status < 0 ? -b->status : b->status));
        }
        jw_lit(w, ",\"points\":{");
        bool first = true;
        for (size_t i = 0; i < b->n; i++) {
                const dcem_sample *s = &b->samples[i];
                if (dup) {
                        if (seen_point(b, i))
                                continue;
                        s = &b->samples[last_same_point(b, i)];
                }
                if (!first)
                        jw_put(w, ",", 1);
                first = false;
                jw_str(w, s->point);
                jw_lit(w, ":{\"v\":");
                jw_value(w, s);
                jw_lit(w, ",\"u\":");
                jw_str(w, s->unit);
                jw_lit(w, ",\"q\":\"");
                jw_lit(w, dcem_quality_name((dcem_quality)s->quality));
                jw_lit(w, "\"}");
        }
        jw_lit(w, "}}");
}

/* Do two samples of b share a point name? Names of one poll are normally
 * unique (the profile schemas refuse duplicates); this keeps the output
 * identical to jansson's when they are not. Sorted copy for big batches. */
static int has_duplicates(const dcem_batch *b, bool *ret) {
        if (b->n <= 32) {
                /* FNV-1a of each name; strcmp only when two hashes agree */
                uint64_t h[32];
                for (size_t i = 0; i < b->n; i++) {
                        uint64_t x = UINT64_C(0xcbf29ce484222325);
                        for (const char *c = b->samples[i].point; *c; c++)
                                x = (x ^ (unsigned char)*c) * UINT64_C(0x100000001b3);
                        h[i] = x;
                        for (size_t k = 0; k < i; k++)
                                if (h[k] == x && strcmp(b->samples[k].point, b->samples[i].point) == 0) {
                                        *ret = true;
                                        return 0;
                                }
                }
                *ret = false;
                return 0;
        }
        const char **v = malloc(b->n * sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < b->n; i++)
                v[i] = b->samples[i].point;
        qsort(v, b->n, sizeof *v, cmp_str);
        bool dup = false;
        for (size_t i = 1; i < b->n && !dup; i++)
                dup = strcmp(v[i - 1], v[i]) == 0;
        free(v);
        *ret = dup;
        return 0;
}

int dcem_json_device_message(const char *site, long schema, const dcem_batch *b, char **ret, size_t *ret_len) {
        bool dup;
        int r;

        if (!b || !ret)
                return -EINVAL;
        r = has_duplicates(b, &dup);
        if (r < 0)
                return r;
        /* An upper bound: a string byte takes at most 6 bytes (\u00XX), a
         * number at most 26 ("%.15g" plus ".0"), a text value at most
         * DCEM_TEXT_MAX bytes. */
        const char *err = b->status == 0 ? "" : b->error[0] ? b->error : strerror(b->status < 0 ? -b->status : b->status);
        size_t need = 224 + 6 * (strlen(site ? site : "") + strlen(b->device) + strlen(err));
        for (size_t i = 0; i < b->n; i++)
                need += 64 + 6 * (strlen(b->samples[i].point) + strlen(b->samples[i].unit) +
                                  (b->samples[i].kind == DCEM_KIND_TEXT ? DCEM_TEXT_MAX : 0));
        char *buf = malloc(need);
        if (!buf)
                return -ENOMEM;
        jw w = { .buf = buf, .cap = need };
        device_message(&w, site, schema, b, dup);
        jw_end(&w);
        if (w.len >= need) { /* not reached: the bound holds */
                free(buf);
                return -ENOBUFS;
        }
        *ret = buf;
        if (ret_len)
                *ret_len = w.len;
        return 0;
}
