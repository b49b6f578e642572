/* decode.h - from a varbind value to a number a sample can carry.
 *
 * Pure. Numbers come from INTEGER, Gauge32/Unsigned32, Counter32/64,
 * TimeTicks, Opaque floats and doubles, and from OCTET STRINGs holding a
 * decimal number (some agents, e.g. RFC 1628 UPSes behind string gateways).
 * Counters are unwrapped here, at their width: the collector reports a
 * monotonic kind=counter value and says when it saw a wrap or a reset.
 */
#ifndef DCEM_SNMP_DECODE_H
#define DCEM_SNMP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "snmp/snmp_types.h"

/* The numeric value of v. 0, or -EINVAL (not a number: an exception, an OID,
 * a non-numeric string) or -ERANGE (not finite) with a reason in *ret_why. */
int snmp_value_number(const sval *v, double *ret, const char **ret_why);
/* The counter width of v's type in bits: 32 for Counter32/Gauge32/Unsigned32,
 * 64 for Counter64, 31 for INTEGER (never wraps in practice), 0 otherwise. */
unsigned snmp_value_width(const sval *v);
/* v as text for comparisons (row selection): numbers in decimal, strings as
 * they are (trailing NULs and spaces dropped), OIDs dotted. Returns buf. */
char *snmp_value_text(const sval *v, char *buf, size_t len);
/* Locale-independent decimal parse of the whole string (leading/trailing
 * blanks allowed). 0 or -EINVAL. */
int snmp_parse_decimal(const char *s, double *ret);

/* A counter's unwrap state, kept per point across polls. */
typedef struct snmp_counter {
        bool have;
        uint64_t last;    /* last raw value */
        uint64_t offset;  /* added wraps */
} snmp_counter;

typedef enum snmp_counter_event {
        SNMP_COUNTER_OK = 0,
        SNMP_COUNTER_FIRST,   /* first reading */
        SNMP_COUNTER_WRAP,    /* raw went down from the top quarter to the bottom quarter of its range */
        SNMP_COUNTER_RESET,   /* raw went down otherwise: the device restarted or was replaced */
} snmp_counter_event;

/* Feed a raw reading of a counter of width bits (1..64). *ret_ext gets the
 * unwrapped value (raw + wraps * 2^width; after a reset the raw value, so a
 * downstream delta sees the reset). Returns the event. */
snmp_counter_event snmp_counter_update(snmp_counter *c, uint64_t raw, unsigned width, uint64_t *ret_ext);

#endif
