/* json.c - JSON encodings of samples (jansson), with UTF-8 repair and
 * NaN-as-null. See json.h. */
#include <errno.h>
#include <math.h>
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

int dcem_json_sample_line(const char *site, const dcem_sample *s, char *buf, size_t size) {
        char ts[DCEM_TS_MAX];
        json_t *o = json_object();
        if (!o)
                return -ENOMEM;
        int r = 0;
        r |= json_object_set_new(o, "site", dcem_json_string(site));
        r |= json_object_set_new(o, "device", dcem_json_string(s->device));
        r |= json_object_set_new(o, "point", dcem_json_string(s->point));
        r |= json_object_set_new(o, "value", dcem_json_number(s->value));
        r |= json_object_set_new(o, "unit", dcem_json_string(s->unit));
        r |= json_object_set_new(o, "ts", json_string(dcem_format_utc(s->ts_ns, ts)));
        r |= json_object_set_new(o, "quality", json_string(dcem_quality_name((dcem_quality)s->quality)));
        if (r != 0) {
                json_decref(o);
                return -ENOMEM;
        }
        size_t n = json_dumpb(o, buf, size, DCEM_JSON_FLAGS);
        json_decref(o);
        if (n == 0)
                return -ENOMEM;
        if (n >= size)
                return -ENOBUFS;
        buf[n] = '\0';
        return (int)n;
}
