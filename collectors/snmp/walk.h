/* walk.h - walking table columns together with GETNEXT or GETBULK.
 *
 * Pure: the walk keeps one cursor per column and asks for the successors of
 * every column not yet finished in one request (GETNEXT: one varbind per
 * column; GETBULK: the same list with max-repetitions). The answers go into
 * the poll's store (snmp_types.h) keyed by OID, so rows are assembled by
 * index whatever order they arrive in. A column ends at endOfMibView, an
 * exception, an OID outside the column, or a response that makes no progress
 * (agents that loop or go backwards); a walk also ends after max_requests.
 */
#ifndef DCEM_SNMP_WALK_H
#define DCEM_SNMP_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include "snmp/snmp_types.h"

typedef struct snmp_walk {
        size_t ncol;
        soid *col;        /* the column OIDs (copied) */
        soid *cursor;     /* last OID seen under each column */
        bool *done;
        size_t *req;      /* columns of the last request, in varbind order */
        size_t nreq;
        size_t requests, max_requests;
        size_t backwards; /* answers not after their cursor (agent out of order) */
        bool truncated;   /* ended by max_requests or a full store */
} snmp_walk;

/* 0, -EINVAL (ncol 0) or -ENOMEM. */
int snmp_walk_init(snmp_walk *w, const soid *cols, size_t ncol, size_t max_requests);
void snmp_walk_free(snmp_walk *w); /* accepts NULL */
void snmp_walk_start(snmp_walk *w);
/* The OIDs of the next request into ret (room for ncol). Returns how many;
 * 0 when the walk is over. */
size_t snmp_walk_request(snmp_walk *w, soid *ret);
/* Feed the n varbinds answering the last request. Values under their column
 * go into st. 0, or -E2BIG when st is full (the walk is then over). */
int snmp_walk_feed(snmp_walk *w, const soid *oids, const sval *vals, size_t n, vb_store *st);
/* SNMPv1 noSuchName at error-index pos (0-based in the last request): that
 * column is over. */
void snmp_walk_end_column(snmp_walk *w, size_t pos);
bool snmp_walk_finished(const snmp_walk *w);

#endif
