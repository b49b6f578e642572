/* sim_regs.h - the Modbus register maps dcem-sim's meters answer with
 * (regs.c): Eastron SDM630, Schneider iEM3xxx, SunSpec models 1 + 203 / 213.
 * Pure: registers from the model's state, no I/O.
 */
#ifndef DCEM_SIM_REGS_H
#define DCEM_SIM_REGS_H

#include <stdint.h>
#include "sim.h"

#define SIM_MB_EXC_ILLEGAL_FUNCTION 1
#define SIM_MB_EXC_ILLEGAL_ADDRESS 2
#define SIM_MB_EXC_ILLEGAL_VALUE 3
#define SIM_MB_MAX_READ 125

#define SIM_SUNSPEC_BASE 40000 /* the "SunS" marker */

/* Fix per-device constants real meters have (SunSpec power scale factors)
 * from the model's first step. Call once after sim_model_init. */
void sim_regs_setup(const sim_model *m);

/* Read `count` registers from `addr` with function code fc (3 holding,
 * 4 input) of device d at time t_ms into out. Returns 0, or the Modbus
 * exception code to answer with: 1 for a function the map does not have,
 * 3 for a count out of 1..125, 2 when any register in the range is not in
 * the map (as many real meters do) -- unless the site's modbus_holes is
 * SIM_HOLES_ZERO and the whole range lies inside one span of the map (for
 * SDM630 0x0000..0x0159, for iEM3000/PM5000 2999..3210 and 45099..45102):
 * undefined registers then read 0. SunSpec images have no holes; reads past
 * the end model are refused either way. Faults NaN/RANGE/WRAP/RESET are
 * applied. */
int sim_regs_read(const sim_model *m, const sim_dev *d, int64_t t_ms, int fc, unsigned addr, unsigned count,
                  uint16_t *out);

/* Big-endian word encoders (ABCD), shared with tests. */
void sim_put_f32(uint16_t *w, float v);
void sim_put_u32(uint16_t *w, uint32_t v);
void sim_put_i64(uint16_t *w, int64_t v);

/* Offset of a SunSpec point within its model (from the model's ID
 * register), or -1. model is 1, 203 or 213. */
int sim_sunspec_offset(int model, const char *point);

#endif
