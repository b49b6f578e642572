/* profile.h - Modbus point maps: the schema of one point (shared by the
 * device block's `points` and by profile files), its conversion to mb_point,
 * and the loading of conf/profiles/modbus/<name>.yaml.
 */
#ifndef DCEM_MODBUS_PROFILE_H
#define DCEM_MODBUS_PROFILE_H

#include <stdbool.h>
#include "dcem/diag.h"
#include "dcem/node.h"
#include "dcem/schema.h"
#include "modbus/mb.h"

/* One point as written in YAML. */
typedef struct mb_point_conf {
        char *name;
        int function;        /* index in "coil|discrete|holding|input|1|2|3|4" */
        int64_t reg;
        int type;            /* mb_type */
        int order;           /* index in "abcd|cdab|badc|dcba|ABCD|..." (mod 4) */
        double scale, offset;
        char *unit;
        int kind;            /* dcem_kind */
        int64_t sf_register; /* -1: none */
        int64_t length;      /* string points: registers */
        bool sentinel;
} mb_point_conf;

extern const dcem_schema mb_point_schema;

/* A profile file. */
typedef struct mb_profile_conf {
        char *description;
        bool sunspec;        /* discover a SunSpec meter (models 201-204, 211-214) */
        dcem_list points;    /* of mb_point_conf */
} mb_profile_conf;

extern const dcem_schema mb_profile_schema;

/* Convert an applied point. 0, or -EINVAL with a static reason in *ret_why
 * (a name too long, a unit too long, a type that does not fit the function). */
int mb_point_from_conf(const mb_point_conf *c, mb_point *ret, const char **ret_why);

/* A loaded profile: its points, and whether it discovers SunSpec. */
typedef struct mb_profile {
        mb_point *pts;
        size_t n;
        bool sunspec;
} mb_profile;

/* Load profiles_dir/modbus/<name>.yaml ("sunspec-meter" is an alias of
 * "sunspec"). Errors go to diag with the file's positions. 0, -ENOENT (no
 * such profile), -EINVAL, -ENOMEM. */
int mb_profile_load(const char *profiles_dir, const char *name, mb_profile *ret, dcem_diag *diag);
void mb_profile_free(mb_profile *p); /* accepts NULL; frees members */

/* Merge: profile points, then extra points; an extra point with the name of
 * a profile point replaces it. 0 or -ENOMEM; *ret_pts malloc'd. */
int mb_points_merge(const mb_point *base, size_t nbase, const mb_point *extra, size_t nextra, mb_point **ret_pts,
                    size_t *ret_n);

#endif
