/* sunspec.c - walking the SunSpec model chain and mapping meter models to
 * canonical points.
 *
 * The chain starts after the "SunS" marker (0x5375 0x6E53) at holding
 * register 40000, 0 or 50000; each model is ID, L, then L registers; the
 * chain ends with ID 0xFFFF. Lengths are read, never assumed: the Veris
 * E51C2's common model is 65 registers long where the specification says 66.
 * Offsets of the meter points are those of the SunSpec Alliance's model
 * definitions (models 201-204 integer + scale factors, 211-214 float32).
 * Pure: no I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "modbus/sunspec.h"

const uint16_t mb_sunspec_bases[3] = { 40000, 0, 50000 };

void mb_sunspec_walk_init(mb_sunspec_walk *w) {
        memset(w, 0, sizeof *w);
        w->state = MB_SS_MARKER;
}

int mb_sunspec_walk_next(const mb_sunspec_walk *w, uint16_t *ret_start, uint16_t *ret_count) {
        switch (w->state) {
        case MB_SS_MARKER:
                *ret_start = mb_sunspec_bases[w->base_idx];
                *ret_count = 2;
                return 1;
        case MB_SS_HEADER:
                *ret_start = (uint16_t)w->addr;
                *ret_count = 2;
                return 1;
        case MB_SS_DONE:
                return 0;
        default:
                return w->error ? w->error : -EPROTO;
        }
}

static void fail(mb_sunspec_walk *w, int error) {
        w->state = MB_SS_FAILED;
        w->error = error;
}

void mb_sunspec_walk_feed(mb_sunspec_walk *w, int status, const uint16_t *regs, size_t n) {
        if (w->state == MB_SS_MARKER) {
                if (status == 0 && n >= 2 && regs[0] == 0x5375 && regs[1] == 0x6E53) {
                        w->base = mb_sunspec_bases[w->base_idx];
                        w->addr = w->base + 2;
                        w->state = MB_SS_HEADER;
                        return;
                }
                if (status < 0 && status != -EPROTO) {
                        fail(w, status);
                        return;
                }
                if (++w->base_idx >= sizeof mb_sunspec_bases / sizeof mb_sunspec_bases[0])
                        fail(w, -ENOENT);
                return;
        }
        if (w->state != MB_SS_HEADER)
                return;
        if (status == -EPROTO && w->n > 0) {
                /* No end marker: the device refuses the address past the last model. */
                w->state = MB_SS_DONE;
                return;
        }
        if (status < 0) {
                fail(w, status);
                return;
        }
        if (n < 2) {
                fail(w, -EPROTO);
                return;
        }
        uint16_t id = regs[0], len = regs[1];
        if (id == 0xFFFF || (id == 0 && len == 0)) {
                w->state = w->n > 0 ? MB_SS_DONE : MB_SS_FAILED;
                if (w->n == 0)
                        w->error = -EPROTO;
                return;
        }
        if (w->n >= MB_SUNSPEC_MAX_MODELS) {
                fail(w, -E2BIG);
                return;
        }
        w->models[w->n++] = (mb_sunspec_model){ .id = id, .len = len, .addr = w->addr };
        uint32_t next = w->addr + 2u + len;
        if (next + 2u > 0x10000u) { /* the chain runs off the address space */
                w->state = MB_SS_DONE;
                return;
        }
        w->addr = next;
}

static bool is_meter(uint16_t id) {
        return (id >= 201 && id <= 204) || (id >= 211 && id <= 214);
}

const mb_sunspec_model *mb_sunspec_find_meter(const mb_sunspec_walk *w) {
        for (size_t i = 0; i < w->n; i++)
                if (is_meter(w->models[i].id))
                        return &w->models[i];
        return NULL;
}

const char *mb_sunspec_model_name(uint16_t id) {
        switch (id) {
        case 1: return "common";
        case 201: return "meter single phase (int+sf)";
        case 202: return "meter split phase (int+sf)";
        case 203: return "meter wye (int+sf)";
        case 204: return "meter delta (int+sf)";
        case 211: return "meter single phase (float)";
        case 212: return "meter split phase (float)";
        case 213: return "meter wye (float)";
        case 214: return "meter delta (float)";
        default: return "other";
        }
}

/* One canonical point at model offset off. */
typedef struct canon {
        const char *name, *unit;
        uint16_t off_int, sf_int;  /* models 201-204: value and scale factor offsets */
        uint16_t off_float;        /* models 211-214 */
        double scale;
        uint8_t kind;
        uint8_t int_type;
        uint8_t phases;            /* 0: always; n: only with >= n phases */
} canon;

static const canon canon_points[] = {
        { "energy_kwh", "kWh", 46, 54, 68, 0.001, DCEM_KIND_COUNTER, MB_T_ACC32, 0 },
        { "energy_export_kwh", "kWh", 38, 54, 60, 0.001, DCEM_KIND_COUNTER, MB_T_ACC32, 0 },
        { "power_kw", "kW", 18, 22, 28, 0.001, DCEM_KIND_GAUGE, MB_T_INT16, 0 },
        { "frequency_hz", "Hz", 16, 17, 26, 1, DCEM_KIND_GAUGE, MB_T_INT16, 0 },
        { "voltage_l1", "V", 8, 15, 12, 1, DCEM_KIND_GAUGE, MB_T_INT16, 1 },
        { "voltage_l2", "V", 9, 15, 14, 1, DCEM_KIND_GAUGE, MB_T_INT16, 2 },
        { "voltage_l3", "V", 10, 15, 16, 1, DCEM_KIND_GAUGE, MB_T_INT16, 3 },
        { "current_l1", "A", 3, 6, 4, 1, DCEM_KIND_GAUGE, MB_T_INT16, 1 },
        { "current_l2", "A", 4, 6, 6, 1, DCEM_KIND_GAUGE, MB_T_INT16, 2 },
        { "current_l3", "A", 5, 6, 8, 1, DCEM_KIND_GAUGE, MB_T_INT16, 3 },
};

int mb_sunspec_meter_points(const mb_sunspec_model *m, mb_point *out, size_t cap) {
        if (!m || !is_meter(m->id))
                return -EINVAL;
        bool flt = m->id >= 211;
        unsigned phases = (m->id % 10 == 1) ? 1 : (m->id % 10 == 2) ? 2 : 3;
        /* the model must hold every offset used: int 0..54, float 0..69 */
        if ((unsigned)m->len + 2u < (flt ? 70u : 55u) || m->addr + 2u + m->len > 0x10000u)
                return -EINVAL;
        size_t k = 0;
        for (size_t i = 0; i < sizeof canon_points / sizeof canon_points[0]; i++) {
                const canon *c = &canon_points[i];
                if (c->phases > phases)
                        continue;
                if (k >= cap)
                        break;
                mb_point *p = &out[k++];
                memset(p, 0, sizeof *p);
                snprintf(p->name, sizeof p->name, "%s", c->name);
                snprintf(p->unit, sizeof p->unit, "%s", c->unit);
                p->fc = MB_FC_HOLDING;
                p->order = MB_O_ABCD;
                p->kind = c->kind;
                p->scale = c->scale;
                p->offset = 0;
                p->sentinel = true;
                if (flt) {
                        p->type = MB_T_FLOAT32;
                        p->reg = (uint16_t)(m->addr + c->off_float);
                        p->sf_reg = -1;
                } else {
                        p->type = c->int_type;
                        p->reg = (uint16_t)(m->addr + c->off_int);
                        p->sf_reg = (int32_t)(m->addr + c->sf_int);
                }
        }
        return (int)k;
}

int mb_sunspec_common_points(const mb_sunspec_walk *w, mb_point *out, size_t cap) {
        static const struct {
                const char *name;
                uint16_t off, len;
        } ids[] = { { "manufacturer", 2, 16 }, { "model", 18, 16 }, { "version", 42, 8 }, { "serial_number", 50, 16 } };
        const mb_sunspec_model *m = NULL;
        for (size_t i = 0; i < w->n && !m; i++)
                if (w->models[i].id == 1)
                        m = &w->models[i];
        if (!m)
                return 0;
        size_t k = 0;
        for (size_t i = 0; i < sizeof ids / sizeof ids[0] && k < cap; i++) {
                if (ids[i].off + ids[i].len > (unsigned)m->len + 2u || m->addr + ids[i].off + ids[i].len > 0x10000u)
                        continue;
                mb_point *p = &out[k++];
                memset(p, 0, sizeof *p);
                snprintf(p->name, sizeof p->name, "%s", ids[i].name);
                p->fc = MB_FC_HOLDING;
                p->type = MB_T_STRING;
                p->order = MB_O_ABCD;
                p->kind = DCEM_KIND_TEXT;
                p->reg = (uint16_t)(m->addr + ids[i].off);
                p->nregs = ids[i].len;
                p->sf_reg = -1;
                p->scale = 1;
                p->sentinel = true; /* all NULs: not implemented */
        }
        return (int)k;
}
