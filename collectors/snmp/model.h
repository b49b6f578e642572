/* model.h - a device's points compiled for polling, and the evaluation of one
 * poll's answers into samples.
 *
 * Pure. Building parses every OID once and lists what a poll must fetch: the
 * scalar OIDs (for GETs, see plan.h) and the table columns (for walks, see
 * walk.h). Evaluating reads the poll's store and calls emit once per sample:
 * values scaled, digits, divisors and RFC 3433 SI scale / precision applied,
 * rows selected (also through another row: select via), rows whose status
 * column is not ok made errors, sentinels and out-of-range values flagged,
 * counters unwrapped (state kept here across polls), fallbacks and sums
 * applied.
 */
#ifndef DCEM_SNMP_MODEL_H
#define DCEM_SNMP_MODEL_H

#include <stddef.h>
#include "dcem/sample.h"
#include "snmp/decode.h"
#include "snmp/profile.h"
#include "snmp/snmp_types.h"

typedef struct snmp_model snmp_model;

/* Compile n points (borrowed: they must outlive the model). 0, or -EINVAL
 * with the reason in err ("point NAME: ..."), -ENOMEM. */
int snmp_model_build(const snmp_point_conf *const *points, size_t n, snmp_model **ret, char *err, size_t errlen);
void snmp_model_free(snmp_model *m); /* accepts NULL */

/* What a poll fetches: sorted, without duplicates. Borrowed. */
const soid *snmp_model_scalars(const snmp_model *m, size_t *ret_n);
const soid *snmp_model_columns(const snmp_model *m, size_t *ret_n);

typedef int (*snmp_emit_fn)(void *ud, const char *point, double value, const char *unit, dcem_quality q, dcem_kind kind);

/* Turn the store into samples. rated_kw: the device's (0 = unknown). Returns
 * the number of required points that failed (0: all good), the first failure
 * described in err; or -errno if emit failed. */
int snmp_model_eval(snmp_model *m, const vb_store *st, double rated_kw, snmp_emit_fn emit, void *ud, char *err,
                    size_t errlen);

/* Expand {i1}..{i9} and {index} in a name with a row index. 0, -EINVAL (an
 * unknown or missing component), -ENAMETOOLONG. */
int snmp_expand_name(const char *tmpl, const soid *index, char *buf, size_t len);

#endif
