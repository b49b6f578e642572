/* sunspec.h - the SunSpec model chain walker and the mapping of meter
 * models to dcem's canonical points. Pure: the walker is a state machine
 * that says which registers to read next and is fed the answers, so the
 * blocking probe and the non-blocking collector drive the same code.
 */
#ifndef DCEM_MODBUS_SUNSPEC_H
#define DCEM_MODBUS_SUNSPEC_H

#include <stddef.h>
#include <stdint.h>
#include "modbus/mb.h"

#define MB_SUNSPEC_MAX_MODELS 64

typedef struct mb_sunspec_model {
        uint16_t id;
        uint16_t len;   /* registers after the ID and L registers */
        uint32_t addr;  /* address of the model's ID register */
} mb_sunspec_model;

typedef enum mb_sunspec_state {
        MB_SS_MARKER,   /* looking for "SunS" at the next base */
        MB_SS_HEADER,   /* reading the header of the model at addr */
        MB_SS_DONE,
        MB_SS_FAILED,
} mb_sunspec_state;

typedef struct mb_sunspec_walk {
        mb_sunspec_state state;
        unsigned base_idx;      /* index into the candidate bases */
        uint32_t base;          /* where "SunS" was found */
        uint32_t addr;          /* next model header */
        mb_sunspec_model models[MB_SUNSPEC_MAX_MODELS];
        size_t n;
        int error;              /* MB_SS_FAILED: -ENOENT (no marker), -EPROTO (bad chain) */
} mb_sunspec_walk;

/* The bases tried in order: 40000, 0, 50000. */
extern const uint16_t mb_sunspec_bases[3];

void mb_sunspec_walk_init(mb_sunspec_walk *w);
/* What to read next (holding registers). 1 with *ret_start and *ret_count, 0 when
 * the walk is done (models in w->models), or w->error when it failed. */
int mb_sunspec_walk_next(const mb_sunspec_walk *w, uint16_t *ret_start, uint16_t *ret_count);
/* Feed the answer to the last read: status 0 and n registers, or -errno
 * (status -EPROTO = a Modbus exception: the address does not exist). Other
 * errors (timeouts) fail the walk with that error. */
void mb_sunspec_walk_feed(mb_sunspec_walk *w, int status, const uint16_t *regs, size_t n);

/* The first meter model (201-204, 211-214) of the chain, or NULL. */
const mb_sunspec_model *mb_sunspec_find_meter(const mb_sunspec_walk *w);
/* The canonical points of a meter model: energy_kwh (TotWhImp),
 * energy_export_kwh (TotWhExp), power_kw (W), per-phase voltage_lN and
 * current_lN, frequency_hz. Writes at most cap points into out. Returns the
 * number written, or -EINVAL if m is not a meter model (or is too short). */
int mb_sunspec_meter_points(const mb_sunspec_model *m, mb_point *out, size_t cap);
/* The identity strings of the chain's common model (model 1, SunSpec
 * offsets from its ID register): manufacturer (Mn, +2, 16 registers), model
 * (Md, +18, 16), version (Vr, +42, 8: the firmware) and serial_number (SN,
 * +50, 16), each only if the model as read holds it. Writes at most cap
 * string points (kind DCEM_KIND_TEXT) into out; returns how many (0 without
 * a common model). */
int mb_sunspec_common_points(const mb_sunspec_walk *w, mb_point *out, size_t cap);
/* A short name of a model: "common", "meter-wye (203)"... */
const char *mb_sunspec_model_name(uint16_t id);

#endif
