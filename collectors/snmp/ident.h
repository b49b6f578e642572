/* ident.h - which profile fits a device: what `profile: auto` and
 * `dcem-agent probe snmp://...` decide from what the device says about itself.
 *
 * The catalog lists every profile's identity: its sysObjectID prefixes, the
 * scalars that must answer (`identify:`, e.g. mandatory objects of a standard
 * MIB such as RFC 1628's upsBatteryStatus), and where the device names its
 * maker and model (`vendor_oid:`, `model_oid:`), and the table columns that
 * must have a row (`identify_table:`, for standard MIBs without a scalar,
 * such as RFC 3433's entPhySensorTable). One GET (packed like any scalars,
 * see plan.h) of snmp_catalog_oids() fetches the objects, together with
 * sysDescr, sysObjectID and sysName, and one GETNEXT of
 * snmp_catalog_tables() the first row of each column (the collector puts an
 * answer in the store only when it lies under its column);
 * snmp_catalog_choose() then picks:
 *
 *   1. profiles whose sys_object_id prefix matches (and whose identify
 *      objects and tables, if any, all answered): the longest prefix wins;
 *   2. when no prefix of any profile matches: profiles with identify
 *      objects or tables that all answered; the one with the most of them
 *      wins;
 *   ties go to the first name in alphabetical order (deterministic).
 *
 * Building and choosing are pure; snmp_catalog_load reads the profiles.
 */
#ifndef DCEM_SNMP_IDENT_H
#define DCEM_SNMP_IDENT_H

#include <stddef.h>
#include "snmp/profile.h"
#include "snmp/snmp_types.h"

#define SNMP_OID_SYSDESCR "1.3.6.1.2.1.1.1.0"
#define SNMP_OID_SYSOBJECTID "1.3.6.1.2.1.1.2.0"
#define SNMP_OID_SYSNAME "1.3.6.1.2.1.1.5.0"

typedef struct snmp_catalog snmp_catalog;

/* What a device said and which profile was chosen ("" when none / absent). */
typedef struct snmp_ident {
        char sys_object_id[SNMP_OID_TEXT_MAX];
        char sys_descr[SNMP_STR_MAX];
        char sys_name[SNMP_STR_MAX];
        char profile[64];
        char vendor[SNMP_STR_MAX];
        char model[SNMP_STR_MAX];
        char description[SNMP_STR_MAX]; /* the profile's description */
        int how; /* 0 none, 1 by sysObjectID, 2 by identity objects only */
} snmp_ident;

/* A catalog of n loaded profiles (borrowed only during the call: the catalog
 * copies what it needs). A profile with an OID that does not parse in
 * sys_object_id, identify, vendor_oid or model_oid is refused: -EINVAL and
 * "profile NAME: ..." in err. 0, -ENOMEM. */
int snmp_catalog_build(const snmp_profile_conf *const *profs, size_t n, snmp_catalog **ret, char *err, size_t errlen);
/* Every profile of profiles_dir/snmp (files that do not load are skipped,
 * counted in *ret_skipped when not NULL). 0, -errno of the directory, -ENOMEM. */
int snmp_catalog_load(const char *profiles_dir, snmp_catalog **ret, size_t *ret_skipped);
void snmp_catalog_free(snmp_catalog *c); /* accepts NULL */
size_t snmp_catalog_size(const snmp_catalog *c);

/* The scalars to GET: sysDescr, sysObjectID, sysName and every profile's
 * identify, vendor_oid and model_oid; sorted, no duplicates. Borrowed. */
const soid *snmp_catalog_oids(const snmp_catalog *c, size_t *ret_n);
/* The columns to GETNEXT (every profile's identify_table); sorted, no
 * duplicates, possibly none. Borrowed. */
const soid *snmp_catalog_tables(const snmp_catalog *c, size_t *ret_n);

/* Choose from a store holding the answers to snmp_catalog_oids and, for
 * snmp_catalog_tables, the GETNEXT answers that lie under their column
 * (missing entries are "no answer"). Fills *ret (always: what the device said, even
 * when nothing matches). 0 when a profile was chosen; -ENOENT when the device
 * answered but nothing fits; -ENODATA when not even sysObjectID answered. */
int snmp_catalog_choose(const snmp_catalog *c, const vb_store *st, snmp_ident *ret);

#endif
