/* profile.h - SNMP points and device profiles (conf/profiles/snmp/NAME.yaml).
 *
 * A point maps one object (a scalar OID) or one column of a table (one sample
 * per row, the row index filling {i1}..{i9} / {index} in its name) to a
 * canonical dcem point, with its scale and unit. Rows may be chosen by the
 * text of another column of the same row (select: description columns), of
 * another table's row that this row points to (via: e.g. ENTITY-MIB's
 * entPhysicalContainedIn), or by an index component; all `select` conditions
 * must hold and, when given, one of `select_any`. The value may be divided by
 * 10^digits or by a divisor read from the device in the same row, or scaled
 * by an SI prefix and a precision read from the row (RFC 3433
 * EntitySensorDataScale / EntitySensorPrecision); a status column marks rows
 * whose sensor is not ok as errors. A point may fall back to other OIDs or to
 * the sum of other points ("sum the phases").
 *
 * A profile file holds a list of such points plus the sysObjectID prefixes it
 * is meant for (profile: auto). The schema tables here are applied by the
 * agent's schema engine (dcem/schema.h), which gives validation, defaults and
 * the generated reference.
 *
 * Point naming scheme (docs): canonical name, then ".scopeN" for a part of the
 * device: power_kw, energy_kwh (whole device), power_kw.phase1,
 * energy_kwh.outlet3, power_kw.inlet1, power_kw.cord1_2 (unit 1, cord 2).
 */
#ifndef DCEM_SNMP_PROFILE_H
#define DCEM_SNMP_PROFILE_H

#include <stdbool.h>
#include <stdint.h>
#include "dcem/diag.h"
#include "dcem/schema.h"

typedef enum snmp_vtype {
        SNMP_VT_AUTO = 0, SNMP_VT_INTEGER, SNMP_VT_UNSIGNED, SNMP_VT_COUNTER32, SNMP_VT_COUNTER64,
        SNMP_VT_FLOAT, SNMP_VT_STRING,
} snmp_vtype;

typedef struct snmp_select_conf {
        char *column;   /* a column: its text in this row ... */
        int64_t index;  /* ... or the Nth (1-based) component of the row index */
        char *via;      /* column read in the row whose index the via column of this row gives */
        char *equals;   /* must equal this ... */
        dcem_strlist one_of; /* ... or one of these */
} snmp_select_conf;

typedef struct snmp_fallback_conf {
        char *oid;
        double scale;
        bool times_rated_kw; /* multiply by the device's rated_kw (a load share): estimated */
} snmp_fallback_conf;

typedef struct snmp_point_conf {
        char *name;
        char *oid;            /* a scalar ... */
        char *column;         /* ... or a table column */
        double scale;
        char *unit;
        int kind;             /* dcem_kind */
        int type;             /* snmp_vtype the object must have */
        int64_t width;        /* counter width in bits; 0 = from the SNMP type */
        char *digits_oid;     /* value / 10^(this scalar) */
        char *digits_column;  /* value / 10^(this column, same index) */
        char *divisor_column; /* value / (this column, same index) */
        char *si_scale_column;  /* value x 10^(3*(this column - 9)): RFC 3433 EntitySensorDataScale */
        char *precision_column; /* value / 10^(this column) when 1..9 (RFC 3433 EntitySensorPrecision) */
        char *status_column;    /* the row's status: a value not in status_ok makes the sample an error */
        dcem_strlist status_ok;
        dcem_list select;     /* of snmp_select_conf, all must match */
        dcem_list select_any; /* of snmp_select_conf, one must match (when given) */
        dcem_strlist invalid; /* raw values meaning "not available" (e.g. -1) */
        char *range;          /* "MIN..MAX" of plausible scaled values */
        char *sum_of;         /* name prefix of points to add up (alone, or when the oid fails) */
        dcem_list fallback;   /* of snmp_fallback_conf, tried in order when the oid fails */
        bool optional;        /* absent on some models: no sample, no error */
} snmp_point_conf;

typedef struct snmp_profile_conf {
        char *profile;
        char *description;
        char *source;
        dcem_strlist sys_object_id; /* sysObjectID prefixes this profile is for */
        dcem_strlist identify;      /* scalars that must answer for the profile to be chosen (ident.h) */
        dcem_strlist identify_table; /* table columns that must have a row (one GETNEXT, ident.h) */
        char *vendor;               /* the maker's name, for dcem-agent probe */
        char *vendor_oid;           /* a scalar naming the maker (wins over vendor when it answers) */
        char *model_oid;            /* a scalar naming the model */
        dcem_list points;           /* of snmp_point_conf */
} snmp_profile_conf;

extern const dcem_schema snmp_point_schema;
extern const dcem_schema snmp_profile_schema;

/* A profile name: 1..63 of [a-z0-9-], not starting with '-'. */
bool snmp_profile_name_ok(const char *name);
/* Load profiles_dir/snmp/NAME.yaml. 0 and *ret (free with
 * snmp_profile_free), or -ENOENT (no such profile), -EINVAL (errors in diag),
 * -ENOMEM. */
int snmp_profile_load(const char *profiles_dir, const char *name, snmp_profile_conf **ret, dcem_diag *diag);
void snmp_profile_free(snmp_profile_conf *p); /* accepts NULL */
/* Choose a profile for a sysObjectID among every profile in profiles_dir/snmp:
 * the longest matching prefix wins. 0 and the name into buf, -ENOENT. */
int snmp_profile_match(const char *profiles_dir, const char *sys_object_id, char *buf, size_t len);

#endif
