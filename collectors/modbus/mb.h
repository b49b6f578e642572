/* mb.h - private types of the Modbus collector: points, request plans,
 * decoding and the SunSpec chain walker. Everything declared here is pure
 * (no I/O): plan.c, decode.c and sunspec.c are unit-tested on their own.
 */
#ifndef DCEM_MODBUS_MB_H
#define DCEM_MODBUS_MB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/sample.h"

/* Modbus limits of one read request (the PDU is at most 253 bytes). */
#define MB_MAX_REGS 125u
#define MB_MAX_BITS 2000u
/* At most this many remembered split boundaries per device. */
#define MB_MAX_BOUNDS 256u
/* Longest string point, in registers (one request; the sample keeps the
 * first DCEM_TEXT_MAX-1 bytes). */
#define MB_MAX_STR_REGS 125u

typedef enum mb_fc {
        MB_FC_COIL = 1,
        MB_FC_DISCRETE = 2,
        MB_FC_HOLDING = 3,
        MB_FC_INPUT = 4,
} mb_fc;

/* Order of mb_type must match the schema's enum text in modbus.c. */
typedef enum mb_type {
        MB_T_BOOL,
        MB_T_INT16,
        MB_T_UINT16,
        MB_T_INT32,
        MB_T_UINT32,
        MB_T_INT64,
        MB_T_UINT64,
        MB_T_FLOAT32,
        MB_T_FLOAT64,
        MB_T_STRING,
        MB_T_SUNSSF, /* int16 scale factor, 0x8000 = not implemented */
        MB_T_ACC32,  /* SunSpec acc32: uint32 counter, 0 is a value */
        _MB_T_MAX
} mb_type;

/* Byte/word orders: A is the most significant byte of the value.
 * ABCD big-endian words and bytes; CDAB low word first; BADC bytes swapped
 * in each word; DCBA little-endian. Generalised to 64 bits by words. */
typedef enum mb_order {
        MB_O_ABCD,
        MB_O_CDAB,
        MB_O_BADC,
        MB_O_DCBA,
        _MB_O_MAX
} mb_order;

/* One point to read and decode. */
typedef struct mb_point {
        char name[DCEM_NAME_MAX];
        char unit[DCEM_UNIT_MAX];
        uint8_t fc;        /* mb_fc */
        uint8_t type;      /* mb_type */
        uint8_t order;     /* mb_order */
        uint8_t kind;      /* dcem_kind */
        uint16_t reg;      /* first register (0-based protocol address) */
        uint16_t nregs;    /* string points: length in registers; else derived */
        int32_t sf_reg;    /* SunSpec scale factor register (same fc), or -1 */
        double scale, offset;
        bool sentinel;     /* treat "not implemented" patterns as errors */
} mb_point;

/* Registers (or bits, for coils and discrete inputs) a point spans. */
unsigned mb_point_width(const mb_point *p);
/* The point's footprint: first register and one past the last, including
 * its scale-factor register: the planner keeps a footprint in one request. */
void mb_point_span(const mb_point *p, uint32_t *ret_start, uint32_t *ret_end);

/* ---- planning (plan.c) ---- */

typedef struct mb_request {
        uint8_t fc;
        uint16_t start;
        uint16_t count;
} mb_request;

/* Remembered split boundaries: a request never holds both b-1 and b. */
typedef struct mb_bounds {
        uint32_t key[MB_MAX_BOUNDS]; /* (fc << 16) | b, sorted */
        size_t n;
        uint64_t dropped;            /* boundaries not remembered (full) */
} mb_bounds;

typedef struct mb_plan_opts {
        unsigned max_gap;      /* unused registers/bits a request may carry between points */
        unsigned max_regs;     /* 1..125 */
        unsigned max_bits;     /* 1..2000 */
} mb_plan_opts;

typedef struct mb_plan {
        mb_request *reqs;
        size_t n;
        size_t *point_req; /* per point of the input: index of its request */
        size_t npoints;
} mb_plan;

/* Plan the points sel[0..nsel-1] (indexes into pts) into the fewest requests
 * per function code honouring opts and bounds. Requests are sorted by (fc,
 * start). 0, -EINVAL (a point's footprint exceeds the cap) or -ENOMEM;
 * ret untouched on failure. */
int mb_plan_build(const mb_point *pts, const size_t *sel, size_t nsel, const mb_plan_opts *opts,
                  const mb_bounds *bounds, mb_plan *ret);
void mb_plan_free(mb_plan *p); /* accepts NULL; frees the members, not p */

/* A request covering the points sel[] failed with a Modbus exception: pick
 * the footprint start nearest its middle and remember it as a boundary.
 * Returns 1 if a boundary was added (replan those points: they now take at
 * least two requests), 0 if the request cannot be split (one footprint:
 * its points are bad), -ENOSPC if the memory is full. */
int mb_plan_split(const mb_point *pts, const size_t *sel, size_t nsel, mb_bounds *bounds);
bool mb_bounds_has(const mb_bounds *b, uint8_t fc, uint32_t reg);
int mb_bounds_add(mb_bounds *b, uint8_t fc, uint32_t reg);

/* ---- decoding (decode.c) ---- */

/* Decode point p from a request's data. regs holds count registers read from
 * start (fc 3/4); bits holds count bit values 0/1 from start (fc 1/2).
 * On success *ret_value is the scaled value (value * 10^sf * scale + offset)
 * and 0 is returned. -ERANGE: a "not implemented" sentinel, NaN or infinity,
 * or a missing/invalid scale factor (quality error). -EINVAL: the point is
 * not inside the data. */
int mb_decode_point(const mb_point *p, uint16_t start, const uint16_t *regs, const uint8_t *bits,
                    size_t count, double *ret_value);
/* The raw unsigned 16/32/64-bit pattern of n registers in the given order. */
uint64_t mb_raw(const uint16_t *r, unsigned n, mb_order o);
/* Decode n registers of text into buf (NUL-terminated): two bytes per
 * register, high byte first (low byte first for BADC/DCBA; word order does
 * not apply); ends at the first NUL; trailing spaces trimmed; control bytes
 * (below 0x20, 0x7f) become '?'; bytes from 0x80 are kept (UTF-8 passes,
 * the JSON encoders repair the rest). 0, or -ENOSPC when buf is too small
 * (the text is cut). */
int mb_decode_string(const uint16_t *r, unsigned n, mb_order o, char *buf, size_t len);
/* Decode string point p from a request's data (as mb_decode_point) into buf.
 * 0 (text cut to len-1 bytes if longer), -ERANGE for an empty string when
 * p->sentinel (SunSpec: all NULs is "not implemented"), -EINVAL (not a
 * string point, or not inside the data). */
int mb_decode_text(const mb_point *p, uint16_t start, const uint16_t *regs, size_t count, char *buf, size_t len);
/* Encoders for tests and the simulator: the registers of a value. */
void mb_encode_raw(uint64_t v, unsigned n, mb_order o, uint16_t *out);

int mb_type_from_name(const char *s);  /* -EINVAL if unknown */
int mb_order_from_name(const char *s); /* accepts upper or lower case */
const char *mb_type_name(mb_type t);
const char *mb_order_name(mb_order o);
/* Registers needed by a type (string: 0, bool: 1). */
unsigned mb_type_regs(mb_type t);

#endif
