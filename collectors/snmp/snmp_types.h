/* snmp_types.h - the SNMP collector's private vocabulary, free of net-snmp
 * types: numeric OIDs, decoded varbind values, and the sorted store of what a
 * poll fetched. The pure modules (oid.c, decode.c, plan.c, walk.c, eval.c)
 * speak only this, so they are unit-tested without an agent or net-snmp.
 */
#ifndef DCEM_SNMP_TYPES_H
#define DCEM_SNMP_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNMP_OID_MAX 64   /* sub-identifiers; longer OIDs are refused */
#define SNMP_STR_MAX 128  /* octet strings kept (longer ones are cut) */
#define SNMP_OID_TEXT_MAX (SNMP_OID_MAX * 11 + 1)

typedef struct soid {
        uint32_t n;
        uint32_t a[SNMP_OID_MAX];
} soid;

/* Parse "1.3.6.1.2.1.1.2.0" (a leading '.' is accepted). 0, or -EINVAL for an
 * empty, malformed, too long OID or a sub-identifier over 2^32-1. */
int soid_parse(const char *s, soid *ret);
/* Dotted text into buf (at least SNMP_OID_TEXT_MAX bytes to never cut; a
 * shorter buf keeps whole sub-identifiers only). Returns buf. */
char *soid_format(const soid *o, char *buf, size_t len);
/* v in decimal into buf (at least 11 bytes), NUL-terminated; returns its
 * length. */
size_t soid_u32_text(uint32_t v, char *buf);
/* Lexicographic order, as SNMP orders OIDs: <0, 0, >0. */
int soid_cmp(const soid *a, const soid *b);
/* prefix is a prefix of o (equal counts). */
bool soid_has_prefix(const soid *o, const soid *prefix);
/* o = prefix + suffix. -E2BIG if too long. */
int soid_join(const soid *prefix, const soid *suffix, soid *ret);

/* A decoded varbind value. */
typedef enum sval_type {
        SV_NONE = 0,        /* not fetched / no answer */
        SV_INTEGER,         /* INTEGER / Integer32: i */
        SV_UNSIGNED,        /* Gauge32 / Unsigned32: u */
        SV_COUNTER32,       /* u */
        SV_COUNTER64,       /* u */
        SV_TIMETICKS,       /* u (hundredths of a second) */
        SV_FLOAT,           /* Opaque-wrapped float or double: f */
        SV_STRING,          /* OCTET STRING: s (cut at SNMP_STR_MAX-1) */
        SV_OID,             /* OBJECT IDENTIFIER: s, dotted */
        SV_IPADDR,          /* s, dotted quad */
        SV_NULL,            /* NULL value */
        SV_NOSUCHOBJECT,    /* v2c/v3 exceptions */
        SV_NOSUCHINSTANCE,
        SV_ENDOFMIBVIEW,
        SV_OTHER,           /* a type we do not decode */
} sval_type;

typedef struct sval {
        sval_type t;
        int64_t i;
        uint64_t u;
        double f;
        char s[SNMP_STR_MAX];
} sval;

const char *sval_type_name(sval_type t);
/* The exceptions and NULL: "this object has no value here". */
bool sval_is_exception(const sval *v);

/* The store: what one poll fetched, sorted by OID, for lookups by OID and by
 * column + row index. Bounded by cap entries (-E2BIG past it). */
typedef struct snmp_entry {
        soid oid;
        sval val;
} snmp_entry;

typedef struct vb_store {
        snmp_entry *e;
        size_t n, alloc, cap;
} vb_store;

void vb_store_init(vb_store *st, size_t cap);
void vb_store_reset(vb_store *st);   /* forget the entries, keep the memory */
void vb_store_free(vb_store *st);    /* accepts NULL */
/* Insert or replace. 0, -ENOMEM, -E2BIG (cap reached). */
int vb_store_put(vb_store *st, const soid *oid, const sval *val);
/* The value at oid, or NULL. Borrowed until the next put/reset. */
const sval *vb_store_get(const vb_store *st, const soid *oid);
/* Index of the first entry >= oid (n when none). */
size_t vb_store_lower_bound(const vb_store *st, const soid *oid);

#endif
