/* plan.h - packing scalar OIDs into GET requests, and splitting on tooBig.
 *
 * Pure: the plan works on indices 0..n-1 of the scalar OIDs of a device.
 * A poll sends ranges of at most max_vb consecutive OIDs; a range that comes
 * back tooBig is split in two and max_vb is lowered to the half, so the next
 * poll starts with requests the agent can answer (the plan remembers).
 */
#ifndef DCEM_SNMP_PLAN_H
#define DCEM_SNMP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct snmp_range {
        uint32_t start, count;
} snmp_range;

typedef struct snmp_plan {
        size_t n;          /* scalar OIDs */
        size_t max_vb;     /* varbinds per GET: configured, lowered by tooBig */
        size_t splits;     /* tooBig splits so far (for figures) */
        snmp_range *pending; /* a stack: the next range to send is on top */
        size_t npending;
} snmp_plan;

/* n OIDs (may be 0), max_vb >= 1. 0, -EINVAL or -ENOMEM. */
int snmp_plan_init(snmp_plan *p, size_t n, size_t max_vb);
void snmp_plan_free(snmp_plan *p); /* accepts NULL */
/* Begin a poll: every OID pending, in ranges of max_vb, in OID order. */
void snmp_plan_start(snmp_plan *p);
/* Take the next range to send. false when nothing is pending. */
bool snmp_plan_next(snmp_plan *p, snmp_range *ret);
/* r came back tooBig: push its halves (first half sent first) and lower
 * max_vb to the first half's size. -E2BIG if r holds a single OID (it cannot
 * be split: that OID fails). */
int snmp_plan_too_big(snmp_plan *p, snmp_range r);
/* r failed at one OID (v1 noSuchName/badValue, error-index bad, 0-based
 * within r): push the rest of r to be sent again without it. */
void snmp_plan_drop(snmp_plan *p, snmp_range r, uint32_t bad);
/* Number of requests a poll makes with the current max_vb (no errors). */
size_t snmp_plan_requests(const snmp_plan *p);

#endif
