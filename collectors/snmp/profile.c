/* profile.c - the schema of SNMP points and profile files, and the profile
 * loader (profile.h). Loading goes through the agent's YAML reader and schema
 * engine, so a profile error reads "FILE:LINE:COL: message" like any config
 * error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/node.h"
#include "snmp/profile.h"
#include "snmp/snmp_types.h"

#define OFF(f) offsetof(snmp_point_conf, f)

static const dcem_schema_key select_keys[] = {
        { .name = "column", .type = DCEM_T_STR, .offset = offsetof(snmp_select_conf, column),
          .doc = "A column whose text in the row (same index) must match (e.g. a description column)." },
        { .name = "index", .type = DCEM_T_INT, .def = "0", .min = 0, .max = 64,
          .offset = offsetof(snmp_select_conf, index),
          .doc = "Instead of a column: the 1-based component of the row index that must match." },
        { .name = "via", .type = DCEM_T_STR, .offset = offsetof(snmp_select_conf, via),
          .doc = "A column of this row holding another row's index, a single number (e.g. ENTITY-MIB "
                 "entPhysicalContainedIn): `column` is then read in that row (0 or no value: the condition fails)." },
        { .name = "equals", .type = DCEM_T_STR, .offset = offsetof(snmp_select_conf, equals),
          .doc = "The text to match (numbers in decimal, OIDs dotted)." },
        { .name = "one_of", .type = DCEM_T_STRLIST, .offset = offsetof(snmp_select_conf, one_of),
          .doc = "Instead of equals: the texts any of which matches." },
        { 0 },
};
static const dcem_schema select_schema = {
        .name = "select", .doc = "A row condition.", .size = sizeof(snmp_select_conf), .keys = select_keys,
};

static const dcem_schema_key fallback_keys[] = {
        { .name = "oid", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(snmp_fallback_conf, oid),
          .doc = "A numeric OID read when the point's own OID fails." },
        { .name = "scale", .type = DCEM_T_DOUBLE, .def = "1", .offset = offsetof(snmp_fallback_conf, scale),
          .doc = "Multiplier from the raw value to the point's unit." },
        { .name = "times_rated_kw", .type = DCEM_T_BOOL, .def = "false",
          .offset = offsetof(snmp_fallback_conf, times_rated_kw),
          .doc = "Multiply by the device's rated_kw (for a load share); the sample is flagged estimated." },
        { 0 },
};
static const dcem_schema fallback_schema = {
        .name = "fallback", .doc = "An alternative source of a point.", .size = sizeof(snmp_fallback_conf),
        .keys = fallback_keys,
};

static const dcem_schema_key point_keys[] = {
        { .name = "name", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = OFF(name),
          .doc = "The dcem point name: energy_kwh, power_kw, power_kw.phase{i1}, energy_kwh.outlet{i1}, ... "
                 "({i1}..{i9}: components of a table row's index; {index}: the whole index)." },
        { .name = "oid", .type = DCEM_T_STR, .offset = OFF(oid), .doc = "A scalar's numeric OID (with its .0 or instance)." },
        { .name = "column", .type = DCEM_T_STR, .offset = OFF(column),
          .doc = "A table column's numeric OID: one sample per row." },
        { .name = "scale", .type = DCEM_T_DOUBLE, .def = "1", .offset = OFF(scale),
          .doc = "Multiplier from the raw value to the unit." },
        { .name = "unit", .type = DCEM_T_STR, .offset = OFF(unit), .doc = "Unit of the scaled value (kW, kWh, degC)." },
        { .name = "kind", .type = DCEM_T_ENUM, .def = "gauge", .values = "gauge|counter", .offset = OFF(kind),
          .doc = "gauge (instantaneous) or counter (cumulative; unwrapped at its width by the collector)." },
        { .name = "type", .type = DCEM_T_ENUM, .def = "auto",
          .values = "auto|integer|unsigned|counter32|counter64|float|string", .offset = OFF(type),
          .doc = "The SNMP type the object must have (auto: any number); another type gives an error sample." },
        { .name = "width", .type = DCEM_T_INT, .def = "0", .min = 0, .max = 64, .offset = OFF(width),
          .doc = "Counter width in bits (0: from the SNMP type: 32 for Counter32/Gauge32, 64 for Counter64)." },
        { .name = "digits_oid", .type = DCEM_T_STR, .offset = OFF(digits_oid),
          .doc = "A scalar giving the number of decimal digits: value / 10^digits." },
        { .name = "digits_column", .type = DCEM_T_STR, .offset = OFF(digits_column),
          .doc = "A column (same row index) giving decimal digits: value / 10^digits (Raritan PDU2)." },
        { .name = "divisor_column", .type = DCEM_T_STR, .offset = OFF(divisor_column),
          .doc = "A column (same row index) giving a divisor: value / divisor (APC cooling tables)." },
        { .name = "si_scale_column", .type = DCEM_T_STR, .offset = OFF(si_scale_column),
          .doc = "A column (same row index) giving an SI prefix as RFC 3433 EntitySensorDataScale (yocto 1 .. "
                 "units 9 .. yotta 17): value x 10^(3 (prefix - 9))." },
        { .name = "precision_column", .type = DCEM_T_STR, .offset = OFF(precision_column),
          .doc = "A column (same row index) giving RFC 3433 EntitySensorPrecision (-8..9): 1..9 decimal places "
                 "(value / 10^precision); 0 and -8..-1 (accurate digits) leave the value as it is." },
        { .name = "status_column", .type = DCEM_T_STR, .offset = OFF(status_column),
          .doc = "A column (same row index) giving the row's status: a value not in status_ok makes the "
                 "sample an error (a row without a status is not checked)." },
        { .name = "status_ok", .type = DCEM_T_STRLIST, .offset = OFF(status_ok),
          .doc = "The status values meaning the reading is good (numbers in decimal); required with status_column." },
        { .name = "select", .type = DCEM_T_LIST, .sub = &select_schema, .offset = OFF(select),
          .doc = "Conditions a row must meet (all of them): rows chosen by description, not by index." },
        { .name = "select_any", .type = DCEM_T_LIST, .sub = &select_schema, .offset = OFF(select_any),
          .doc = "Conditions of which a row must meet at least one (as well as all of select)." },
        { .name = "invalid", .type = DCEM_T_STRLIST, .offset = OFF(invalid),
          .doc = "Raw values meaning \"not available\" (e.g. -1): an error sample, not a number." },
        { .name = "range", .type = DCEM_T_STR, .offset = OFF(range),
          .doc = "\"MIN..MAX\" of plausible scaled values; outside it the sample is an error." },
        { .name = "sum_of", .type = DCEM_T_STR, .offset = OFF(sum_of),
          .doc = "Add up the points whose names start with this (e.g. power_kw.phase): alone, or as the fallback when oid fails." },
        { .name = "fallback", .type = DCEM_T_LIST, .sub = &fallback_schema, .offset = OFF(fallback),
          .doc = "Other OIDs tried in order when oid fails or reads invalid." },
        { .name = "optional", .type = DCEM_T_BOOL, .def = "false", .offset = OFF(optional),
          .doc = "Some models lack this object: when absent, no sample and no error." },
        { 0 },
};

const dcem_schema snmp_point_schema = {
        .name = "point", .doc = "An SNMP object mapped to a dcem point.", .size = sizeof(snmp_point_conf),
        .keys = point_keys,
};

static const dcem_schema_key profile_keys[] = {
        { .name = "profile", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(snmp_profile_conf, profile),
          .doc = "The profile's name (its file name without .yaml)." },
        { .name = "description", .type = DCEM_T_STR, .offset = offsetof(snmp_profile_conf, description),
          .doc = "What devices it is for." },
        { .name = "source", .type = DCEM_T_STR, .offset = offsetof(snmp_profile_conf, source),
          .doc = "The MIB and document the OIDs, units and scalings come from." },
        { .name = "sys_object_id", .type = DCEM_T_STRLIST, .offset = offsetof(snmp_profile_conf, sys_object_id),
          .doc = "sysObjectID prefixes of the devices (for profile: auto)." },
        { .name = "identify", .type = DCEM_T_STRLIST, .offset = offsetof(snmp_profile_conf, identify),
          .doc = "Scalar OIDs that must all answer with a value for profile: auto to choose this profile: with "
                 "sys_object_id, both must match; alone (a standard MIB any vendor implements), the profile is "
                 "chosen only when no sysObjectID prefix matches." },
        { .name = "identify_table", .type = DCEM_T_STRLIST, .offset = offsetof(snmp_profile_conf, identify_table),
          .doc = "Table columns that must each have at least one row (one GETNEXT of them all) for profile: "
                 "auto to choose this profile; counted with identify (a standard MIB with no scalar of its "
                 "own, such as RFC 3433's entPhySensorTable)." },
        { .name = "vendor", .type = DCEM_T_STR, .offset = offsetof(snmp_profile_conf, vendor),
          .doc = "The maker's name (printed by dcem-agent probe)." },
        { .name = "vendor_oid", .type = DCEM_T_STR, .offset = offsetof(snmp_profile_conf, vendor_oid),
          .doc = "A scalar OID naming the maker; when it answers, it wins over vendor." },
        { .name = "model_oid", .type = DCEM_T_STR, .offset = offsetof(snmp_profile_conf, model_oid),
          .doc = "A scalar OID naming the model (printed by dcem-agent probe)." },
        { .name = "points", .type = DCEM_T_LIST, .flags = DCEM_REQUIRED, .sub = &snmp_point_schema,
          .offset = offsetof(snmp_profile_conf, points), .doc = "The points." },
        { 0 },
};

const dcem_schema snmp_profile_schema = {
        .name = "snmp profile", .doc = "A device profile: conf/profiles/snmp/NAME.yaml.",
        .size = sizeof(snmp_profile_conf), .keys = profile_keys,
};

bool snmp_profile_name_ok(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n < 1 || n > 63 || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return false;
        }
        return true;
}

void snmp_profile_free(snmp_profile_conf *p) {
        if (!p)
                return;
        dcem_schema_free(&snmp_profile_schema, p);
        free(p);
}

int snmp_profile_load(const char *profiles_dir, const char *name, snmp_profile_conf **ret, dcem_diag *diag) {
        if (!profiles_dir || !snmp_profile_name_ok(name))
                return -EINVAL;
        char path[4096];
        int k = snprintf(path, sizeof(path), "%s/snmp/%s.yaml", profiles_dir, name);
        if (k < 0 || (size_t)k >= sizeof(path))
                return -ENAMETOOLONG;
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        fclose(f);
        dcem_node *root = NULL;
        int r = dcem_yaml_load_file(path, &root, diag);
        if (r < 0)
                return r;
        snmp_profile_conf *p = calloc(1, sizeof(*p));
        if (!p) {
                dcem_node_free(root);
                return -ENOMEM;
        }
        r = dcem_schema_apply(&snmp_profile_schema, root, p, diag);
        if (r == 0 && (!p->profile || strcmp(p->profile, name) != 0)) {
                dcem_diag_add(diag, path, root->line, root->col, "profile: is \"%s\", the file is named %s.yaml",
                              p->profile ? p->profile : "", name);
                r = -EINVAL;
        }
        dcem_node_free(root);
        if (r < 0) {
                snmp_profile_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

int snmp_profile_match(const char *profiles_dir, const char *sys_object_id, char *buf, size_t len) {
        soid sys;
        if (soid_parse(sys_object_id, &sys) < 0)
                return -EINVAL;
        char dir[4096];
        int k = snprintf(dir, sizeof(dir), "%s/snmp", profiles_dir);
        if (k < 0 || (size_t)k >= sizeof(dir))
                return -ENAMETOOLONG;
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        uint32_t best = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (n <= 5 || n > 63 + 5 || strcmp(de->d_name + n - 5, ".yaml") != 0)
                        continue;
                char name[64];
                memcpy(name, de->d_name, n - 5);
                name[n - 5] = 0;
                if (!snmp_profile_name_ok(name))
                        continue;
                dcem_diag scratch = { 0 };
                snmp_profile_conf *p = NULL;
                if (snmp_profile_load(profiles_dir, name, &p, &scratch) == 0) {
                        for (size_t i = 0; i < p->sys_object_id.n; i++) {
                                soid pre;
                                if (soid_parse(p->sys_object_id.items[i], &pre) == 0 && soid_has_prefix(&sys, &pre) &&
                                    pre.n > best && strlen(name) < len) {
                                        best = pre.n;
                                        snprintf(buf, len, "%s", name);
                                }
                        }
                }
                snmp_profile_free(p);
                dcem_diag_clear(&scratch);
        }
        closedir(d);
        return best ? 0 : -ENOENT;
}
