/* profile.c - Modbus point maps: the point schema (one table for the device
 * block's `points` and for profile files), conversion to mb_point, and
 * loading conf/profiles/modbus/<name>.yaml, so a catalog of real meters'
 * register maps ships as data and a device can extend or override it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "modbus/profile.h"

#define FUNCTIONS "coil|discrete|holding|input|1|2|3|4"
#define TYPES "bool|int16|uint16|int32|uint32|int64|uint64|float32|float64|string|sunssf|acc32"
#define ORDERS "abcd|cdab|badc|dcba|ABCD|CDAB|BADC|DCBA"

static const dcem_schema_key point_keys[] = {
        { .name = "name", .type = DCEM_T_STR, .flags = DCEM_REQUIRED | DCEM_NAME_LIKE, .values = "a-z0-9_",
          .offset = offsetof(mb_point_conf, name),
          .doc = "The point's name in samples. Canonical names: `energy_kwh` (import counter), "
                 "`energy_export_kwh`, `power_kw`." },
        { .name = "function", .type = DCEM_T_ENUM, .def = "holding", .values = FUNCTIONS,
          .offset = offsetof(mb_point_conf, function),
          .doc = "Modbus table: coil (1), discrete (2), holding (3) or input (4) registers." },
        { .name = "register", .type = DCEM_T_INT, .flags = DCEM_REQUIRED, .min = 0, .max = 65535,
          .offset = offsetof(mb_point_conf, reg),
          .doc = "Protocol address of the first register or bit, 0-based (register 30001 is input 0)." },
        { .name = "type", .type = DCEM_T_ENUM, .def = "uint16", .values = TYPES,
          .offset = offsetof(mb_point_conf, type),
          .doc = "Data type. `sunssf` is a SunSpec scale factor, `acc32` a SunSpec 32-bit counter "
                 "(0 is a value), `string` text of `length` registers (published as a text value: a "
                 "meter's model, serial number, firmware). Coils and discrete inputs are `bool`." },
        { .name = "order", .type = DCEM_T_ENUM, .def = "abcd", .values = ORDERS,
          .offset = offsetof(mb_point_conf, order),
          .doc = "Byte order, A most significant: abcd big-endian, cdab low word first, badc bytes "
                 "swapped in each word, dcba little-endian; extended to 64 bits word by word." },
        { .name = "scale", .type = DCEM_T_DOUBLE, .def = "1", .min = -1e12, .max = 1e12,
          .offset = offsetof(mb_point_conf, scale), .doc = "Multiplier applied after decoding." },
        { .name = "offset", .type = DCEM_T_DOUBLE, .def = "0", .min = -1e12, .max = 1e12,
          .offset = offsetof(mb_point_conf, offset), .doc = "Added after scaling." },
        { .name = "unit", .type = DCEM_T_STR, .offset = offsetof(mb_point_conf, unit),
          .doc = "Unit of the scaled value (kWh, kW, V, A, Hz...), at most 15 characters." },
        { .name = "kind", .type = DCEM_T_ENUM, .def = "gauge", .values = "gauge|counter",
          .offset = offsetof(mb_point_conf, kind),
          .doc = "gauge (instantaneous) or counter (cumulative, such as kWh)." },
        { .name = "scale_factor_register", .type = DCEM_T_INT, .def = "-1", .min = -1, .max = 65535,
          .offset = offsetof(mb_point_conf, sf_register),
          .doc = "SunSpec: the register holding this point's scale factor (value x 10^SF); always read "
                 "in the same request. -1: none." },
        { .name = "length", .type = DCEM_T_INT, .def = "0", .min = 0, .max = MB_MAX_STR_REGS,
          .offset = offsetof(mb_point_conf, length),
          .doc = "string points (required): length in registers, two characters each (high byte first; "
                 "`order: badc` or `dcba` for low byte first). The sample keeps the first 37 bytes; "
                 "an empty string is a \"not implemented\" error unless not_implemented_is_error is false." },
        { .name = "not_implemented_is_error", .type = DCEM_T_BOOL, .def = "true",
          .offset = offsetof(mb_point_conf, sentinel),
          .doc = "Treat SunSpec's \"not implemented\" patterns (0x8000, 0xFFFF, 0x80000000, 0xFFFFFFFF...) "
                 "as errors. NaN and infinity are always errors." },
        { .name = NULL },
};

const dcem_schema mb_point_schema = {
        .name = "point",
        .doc = "One value read from a Modbus device.",
        .size = sizeof(mb_point_conf),
        .keys = point_keys,
};

static const dcem_schema_key profile_keys[] = {
        { .name = "description", .type = DCEM_T_STR, .offset = offsetof(mb_profile_conf, description),
          .doc = "What the profile is for." },
        { .name = "sunspec", .type = DCEM_T_BOOL, .def = "false", .offset = offsetof(mb_profile_conf, sunspec),
          .doc = "Discover the SunSpec model chain at first connect and read the meter model's canonical points." },
        { .name = "points", .type = DCEM_T_LIST, .sub = &mb_point_schema, .offset = offsetof(mb_profile_conf, points),
          .doc = "The register map." },
        { .name = NULL },
};

const dcem_schema mb_profile_schema = {
        .name = "modbus profile",
        .doc = "A file conf/profiles/modbus/NAME.yaml.",
        .size = sizeof(mb_profile_conf),
        .keys = profile_keys,
};

int mb_point_from_conf(const mb_point_conf *c, mb_point *ret, const char **ret_why) {
        mb_point p;
        memset(&p, 0, sizeof p);
        if (!c->name || strlen(c->name) >= sizeof p.name) {
                *ret_why = "name missing or too long";
                return -EINVAL;
        }
        if (c->unit && strlen(c->unit) >= sizeof p.unit) {
                *ret_why = "unit is longer than 15 characters";
                return -EINVAL;
        }
        snprintf(p.name, sizeof p.name, "%s", c->name);
        snprintf(p.unit, sizeof p.unit, "%s", c->unit ? c->unit : "");
        p.fc = (uint8_t)(c->function % 4 + 1);
        p.type = (uint8_t)c->type;
        p.order = (uint8_t)(c->order % 4);
        p.kind = (uint8_t)c->kind;
        p.reg = (uint16_t)c->reg;
        p.nregs = (uint16_t)c->length;
        p.sf_reg = (int32_t)c->sf_register;
        p.scale = c->scale;
        p.offset = c->offset;
        p.sentinel = c->sentinel;
        bool bits = p.fc == MB_FC_COIL || p.fc == MB_FC_DISCRETE;
        if (bits && p.type != MB_T_BOOL) {
                *ret_why = "coils and discrete inputs are type bool";
                return -EINVAL;
        }
        if (bits && p.sf_reg >= 0) {
                *ret_why = "coils and discrete inputs have no scale factor";
                return -EINVAL;
        }
        if (p.type == MB_T_STRING) {
                if (p.nregs == 0) {
                        *ret_why = "a string point needs its length in registers (length: N)";
                        return -EINVAL;
                }
                if (p.sf_reg >= 0) {
                        *ret_why = "string points have no scale factor";
                        return -EINVAL;
                }
                /* the accounting reads these names as numbers */
                if (!strcmp(p.name, "energy_kwh") || !strcmp(p.name, "energy_export_kwh") ||
                    !strcmp(p.name, "power_kw")) {
                        *ret_why = "energy_kwh, energy_export_kwh and power_kw are numbers, not strings";
                        return -EINVAL;
                }
                p.kind = DCEM_KIND_TEXT;
        } else {
                p.nregs = 0; /* length means nothing for numbers (ignored, as before) */
        }
        uint32_t s, e;
        mb_point_span(&p, &s, &e);
        if (e > 0x10000u) {
                *ret_why = "the point runs past register 65535";
                return -EINVAL;
        }
        *ret = p;
        return 0;
}

int mb_points_merge(const mb_point *base, size_t nbase, const mb_point *extra, size_t nextra, mb_point **ret_pts,
                    size_t *ret_n) {
        mb_point *out = malloc((nbase + nextra + 1) * sizeof *out);
        size_t n = 0;
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < nbase; i++) {
                bool replaced = false;
                for (size_t k = 0; k < nextra && !replaced; k++)
                        replaced = strcmp(base[i].name, extra[k].name) == 0;
                if (!replaced)
                        out[n++] = base[i];
        }
        for (size_t k = 0; k < nextra; k++)
                out[n++] = extra[k];
        *ret_pts = out;
        *ret_n = n;
        return 0;
}

static bool name_ok(const char *s) {
        size_t n = 0;
        for (; s[n]; n++)
                if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_'))
                        return false;
        return n > 0 && n < 64;
}

int mb_profile_load(const char *profiles_dir, const char *name, mb_profile *ret, dcem_diag *diag) {
        char path[4096];
        dcem_node *root = NULL;
        mb_profile_conf pc;
        mb_profile p = { 0 };
        int r;

        if (!name || !name_ok(name))
                return -EINVAL;
        if (strcmp(name, "sunspec-meter") == 0)
                name = "sunspec";
        if (!profiles_dir || snprintf(path, sizeof path, "%s/modbus/%s.yaml", profiles_dir, name) >= (int)sizeof path)
                return -ENAMETOOLONG;
        /* A missing profile is the caller's message (it knows the key's
         * position); any other problem with the file is reported in it. */
        if (access(path, F_OK) < 0 && errno == ENOENT)
                return -ENOENT;
        r = dcem_yaml_load_file(path, &root, diag);
        if (r < 0)
                return r;
        memset(&pc, 0, sizeof pc);
        r = dcem_schema_apply(&mb_profile_schema, root, &pc, diag);
        if (r < 0)
                goto out;
        p.sunspec = pc.sunspec;
        p.pts = calloc(pc.points.n + 1, sizeof *p.pts);
        if (!p.pts) {
                r = -ENOMEM;
                goto out;
        }
        const dcem_node *seq = dcem_node_get(root, "points");
        const dcem_node *item = seq ? seq->child : NULL;
        for (size_t i = 0; i < pc.points.n; i++, item = item ? item->next : NULL) {
                const char *why = "";
                const mb_point_conf *c = (const mb_point_conf *)pc.points.items + i;
                if (mb_point_from_conf(c, &p.pts[p.n], &why) < 0) {
                        dcem_diag_add(diag, path, item ? item->line : 0, item ? item->col : 0, "point %s: %s",
                                      c->name ? c->name : "?", why);
                        r = -EINVAL;
                        continue;
                }
                for (size_t k = 0; k < p.n; k++)
                        if (strcmp(p.pts[k].name, p.pts[p.n].name) == 0) {
                                dcem_diag_add(diag, path, item ? item->line : 0, item ? item->col : 0,
                                              "point %s: the name is used twice", c->name);
                                r = -EINVAL;
                        }
                p.n++;
        }
        if (r == 0 && p.n == 0 && !p.sunspec) {
                dcem_diag_add(diag, path, 0, 0, "a profile needs points or sunspec: true");
                r = -EINVAL;
        }
out:
        dcem_schema_free(&mb_profile_schema, &pc);
        dcem_node_free(root);
        if (r < 0) {
                free(p.pts);
                return r;
        }
        *ret = p;
        return 0;
}

void mb_profile_free(mb_profile *p) {
        if (!p)
                return;
        free(p->pts);
        p->pts = NULL;
        p->n = 0;
}
