/* oid.c - numeric OIDs and the sorted store of fetched varbinds.
 *
 * dcem uses numeric OIDs only (no MIB loading), so parsing and ordering are
 * ours and pure. The store keeps one poll's answers sorted by OID: scalars are
 * found by OID, table cells by column + index, whatever order the agent sent
 * them in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "snmp/snmp_types.h"

int soid_parse(const char *s, soid *ret) {
        soid o = { 0 };
        if (!s)
                return -EINVAL;
        if (*s == '.')
                s++;
        if (!*s)
                return -EINVAL;
        while (*s) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                uint64_t v = 0;
                size_t digits = 0;
                while (*s >= '0' && *s <= '9') {
                        v = v * 10 + (uint64_t)(*s - '0');
                        if (v > UINT32_MAX || ++digits > 10)
                                return -EINVAL;
                        s++;
                }
                if (o.n >= SNMP_OID_MAX)
                        return -EINVAL;
                o.a[o.n++] = (uint32_t)v;
                if (*s == '.') {
                        s++;
                        if (!*s)
                                return -EINVAL;
                } else if (*s)
                        return -EINVAL;
        }
        if (o.n < 2)
                return -EINVAL;
        *ret = o;
        return 0;
}

size_t soid_u32_text(uint32_t v, char *buf) {
        char tmp[10];
        size_t n = 0;
        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        for (size_t i = 0; i < n; i++)
                buf[i] = tmp[n - 1 - i];
        buf[n] = 0;
        return n;
}

/* Hand-formatted (no printf): names of table rows are built from OIDs on
 * every poll, and snprintf was a tenth of a poll's instructions. */
char *soid_format(const soid *o, char *buf, size_t len) {
        size_t off = 0;
        if (len == 0)
                return buf;
        buf[0] = 0;
        for (uint32_t i = 0; i < o->n; i++) {
                char num[11];
                size_t k = soid_u32_text(o->a[i], num);
                if (off + (i ? 1 : 0) + k >= len)
                        break; /* cut at a whole sub-identifier */
                if (i)
                        buf[off++] = '.';
                memcpy(buf + off, num, k + 1);
                off += k;
        }
        return buf;
}

int soid_cmp(const soid *a, const soid *b) {
        uint32_t n = a->n < b->n ? a->n : b->n;
        for (uint32_t i = 0; i < n; i++)
                if (a->a[i] != b->a[i])
                        return a->a[i] < b->a[i] ? -1 : 1;
        return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

bool soid_has_prefix(const soid *o, const soid *prefix) {
        if (o->n < prefix->n)
                return false;
        return memcmp(o->a, prefix->a, prefix->n * sizeof(uint32_t)) == 0;
}

int soid_join(const soid *prefix, const soid *suffix, soid *ret) {
        if (prefix->n + suffix->n > SNMP_OID_MAX)
                return -E2BIG;
        soid o = *prefix;
        memcpy(o.a + o.n, suffix->a, suffix->n * sizeof(uint32_t));
        o.n += suffix->n;
        *ret = o;
        return 0;
}

const char *sval_type_name(sval_type t) {
        static const char *const names[] = {
                [SV_NONE] = "no value", [SV_INTEGER] = "INTEGER", [SV_UNSIGNED] = "Gauge32",
                [SV_COUNTER32] = "Counter32", [SV_COUNTER64] = "Counter64", [SV_TIMETICKS] = "TimeTicks",
                [SV_FLOAT] = "Opaque float", [SV_STRING] = "OCTET STRING", [SV_OID] = "OBJECT IDENTIFIER",
                [SV_IPADDR] = "IpAddress", [SV_NULL] = "NULL", [SV_NOSUCHOBJECT] = "noSuchObject",
                [SV_NOSUCHINSTANCE] = "noSuchInstance", [SV_ENDOFMIBVIEW] = "endOfMibView",
                [SV_OTHER] = "an unsupported type",
        };
        return (unsigned)t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "?";
}

bool sval_is_exception(const sval *v) {
        return v->t == SV_NONE || v->t == SV_NULL || v->t == SV_NOSUCHOBJECT || v->t == SV_NOSUCHINSTANCE ||
               v->t == SV_ENDOFMIBVIEW;
}

void vb_store_init(vb_store *st, size_t cap) {
        memset(st, 0, sizeof(*st));
        st->cap = cap;
}

void vb_store_reset(vb_store *st) {
        st->n = 0;
}

void vb_store_free(vb_store *st) {
        if (!st)
                return;
        free(st->e);
        st->e = NULL;
        st->n = st->alloc = 0;
}

size_t vb_store_lower_bound(const vb_store *st, const soid *oid) {
        size_t lo = 0, hi = st->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (soid_cmp(&st->e[mid].oid, oid) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int vb_store_put(vb_store *st, const soid *oid, const sval *val) {
        /* Answers mostly come in OID order: appending needs no search. */
        size_t i = st->n && soid_cmp(&st->e[st->n - 1].oid, oid) < 0 ? st->n : vb_store_lower_bound(st, oid);
        if (i < st->n && soid_cmp(&st->e[i].oid, oid) == 0) {
                st->e[i].val = *val;
                return 0;
        }
        if (st->n >= st->cap)
                return -E2BIG;
        if (st->n == st->alloc) {
                size_t na = st->alloc ? st->alloc * 2 : 8; /* a 6-OID device: 8 entries, not 64 (424 B each) */
                if (na > st->cap)
                        na = st->cap;
                snmp_entry *ne = realloc(st->e, na * sizeof(*ne));
                if (!ne)
                        return -ENOMEM;
                st->e = ne;
                st->alloc = na;
        }
        memmove(st->e + i + 1, st->e + i, (st->n - i) * sizeof(*st->e));
        st->e[i].oid = *oid;
        st->e[i].val = *val;
        st->n++;
        return 0;
}

const sval *vb_store_get(const vb_store *st, const soid *oid) {
        size_t i = vb_store_lower_bound(st, oid);
        if (i < st->n && soid_cmp(&st->e[i].oid, oid) == 0)
                return &st->e[i].val;
        return NULL;
}
