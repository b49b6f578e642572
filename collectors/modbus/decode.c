/* decode.c - Modbus register decoding: every type and word/byte order, with
 * explicit shifts (libmodbus 3.1.6's float helpers assume one word order and
 * its setters write wrong bytes), scale and offset, SunSpec scale factors,
 * and "not implemented" sentinels, which become errors instead of values.
 * Pure: no I/O, unit-tested in tests/unit/test_modbus_decode.c.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include "modbus/mb.h"

static const char *const type_names[_MB_T_MAX] = {
        "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64",
        "float32", "float64", "string", "sunssf", "acc32",
};
static const char *const order_names[_MB_O_MAX] = { "abcd", "cdab", "badc", "dcba" };

const char *mb_type_name(mb_type t) { return (unsigned)t < _MB_T_MAX ? type_names[t] : "?"; }
const char *mb_order_name(mb_order o) { return (unsigned)o < _MB_O_MAX ? order_names[o] : "?"; }

/* Index of s in the table (case-insensitive), or -EINVAL. */
int mb_type_from_name(const char *s) {
        for (unsigned i = 0; s && i < _MB_T_MAX; i++)
                if (strcasecmp(s, type_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

int mb_order_from_name(const char *s) {
        for (unsigned i = 0; s && i < _MB_O_MAX; i++)
                if (strcasecmp(s, order_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

unsigned mb_type_regs(mb_type t) {
        switch (t) {
        case MB_T_BOOL: case MB_T_INT16: case MB_T_UINT16: case MB_T_SUNSSF: return 1;
        case MB_T_INT32: case MB_T_UINT32: case MB_T_FLOAT32: case MB_T_ACC32: return 2;
        case MB_T_INT64: case MB_T_UINT64: case MB_T_FLOAT64: return 4;
        default: return 0;
        }
}

unsigned mb_point_width(const mb_point *p) {
        if (p->fc == MB_FC_COIL || p->fc == MB_FC_DISCRETE)
                return 1;
        if (p->type == MB_T_STRING)
                return p->nregs ? p->nregs : 1;
        return mb_type_regs((mb_type)p->type);
}

void mb_point_span(const mb_point *p, uint32_t *ret_start, uint32_t *ret_end) {
        uint32_t s = p->reg, e = (uint32_t)p->reg + mb_point_width(p);
        if (p->sf_reg >= 0 && p->fc != MB_FC_COIL && p->fc != MB_FC_DISCRETE) {
                if ((uint32_t)p->sf_reg < s)
                        s = (uint32_t)p->sf_reg;
                if ((uint32_t)p->sf_reg + 1 > e)
                        e = (uint32_t)p->sf_reg + 1;
        }
        *ret_start = s;
        *ret_end = e;
}

static uint16_t swap16(uint16_t v) { return (uint16_t)((v >> 8) | (v << 8)); }

/* Assemble n (1, 2 or 4) registers into an integer, most significant first
 * after applying the order: word order reversed for CDAB/DCBA, bytes in each
 * word swapped for BADC/DCBA. */
uint64_t mb_raw(const uint16_t *r, unsigned n, mb_order o) {
        bool words_reversed = (o == MB_O_CDAB || o == MB_O_DCBA);
        bool bytes_swapped = (o == MB_O_BADC || o == MB_O_DCBA);
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++) {
                uint16_t w = r[words_reversed ? n - 1 - i : i];
                if (bytes_swapped)
                        w = swap16(w);
                v = (v << 16) | w;
        }
        return v;
}

/* The inverse of mb_raw: the n registers a device would hold for v. */
void mb_encode_raw(uint64_t v, unsigned n, mb_order o, uint16_t *out) {
        bool words_reversed = (o == MB_O_CDAB || o == MB_O_DCBA);
        bool bytes_swapped = (o == MB_O_BADC || o == MB_O_DCBA);
        for (unsigned i = 0; i < n; i++) {
                /* i-th most significant word */
                uint16_t w = (uint16_t)(v >> (16u * (n - 1 - i)));
                if (bytes_swapped)
                        w = swap16(w);
                out[words_reversed ? n - 1 - i : i] = w;
        }
}

/* See mb.h: characters two per register, high byte first (low byte first
 * for BADC/DCBA); word order does not apply to strings. */
int mb_decode_string(const uint16_t *r, unsigned n, mb_order o, char *buf, size_t len) {
        bool bytes_swapped = (o == MB_O_BADC || o == MB_O_DCBA);
        size_t k = 0;
        int rc = 0;
        if (len == 0)
                return -ENOSPC;
        for (unsigned i = 0; i < n; i++) {
                unsigned char c[2] = { (unsigned char)(r[i] >> 8), (unsigned char)(r[i] & 0xff) };
                if (bytes_swapped) {
                        unsigned char t = c[0];
                        c[0] = c[1];
                        c[1] = t;
                }
                for (int j = 0; j < 2; j++) {
                        if (c[j] == 0)
                                goto out;
                        if (k + 1 >= len) {
                                rc = -ENOSPC;
                                goto out;
                        }
                        buf[k++] = (c[j] < 0x20 || c[j] == 0x7f) ? '?' : (char)c[j];
                }
        }
out:
        while (k > 0 && buf[k - 1] == ' ')
                k--;
        buf[k] = '\0';
        return rc;
}

int mb_decode_text(const mb_point *p, uint16_t start, const uint16_t *regs, size_t count, char *buf, size_t len) {
        unsigned w = mb_point_width(p);
        if (p->type != MB_T_STRING || p->fc == MB_FC_COIL || p->fc == MB_FC_DISCRETE || !regs || len == 0 ||
            p->reg < start || (uint32_t)p->reg + w > (uint32_t)start + count)
                return -EINVAL;
        (void)mb_decode_string(regs + (p->reg - start), w, (mb_order)p->order, buf, len); /* cut: fine */
        if (p->sentinel && buf[0] == '\0')
                return -ERANGE;
        return 0;
}

/* 10^e exactly for |e| <= 22 (every such power is a double). */
static double pow10i(int e) {
        double v = 1.0;
        for (int i = 0; i < e; i++)
                v *= 10.0;
        return v;
}

static int decode_sf(const mb_point *p, uint16_t start, const uint16_t *regs, size_t count, int *ret_sf) {
        if (p->sf_reg < 0) {
                *ret_sf = 0;
                return 0;
        }
        if ((uint32_t)p->sf_reg < start || (uint32_t)p->sf_reg >= (uint32_t)start + count)
                return -EINVAL;
        uint16_t raw = regs[(uint32_t)p->sf_reg - start];
        int sf = (int16_t)raw;
        if (raw == 0x8000u || sf < -10 || sf > 10) /* SunSpec range is -10..10 */
                return -ERANGE;
        *ret_sf = sf;
        return 0;
}

int mb_decode_point(const mb_point *p, uint16_t start, const uint16_t *regs, const uint8_t *bits,
                    size_t count, double *ret_value) {
        unsigned w = mb_point_width(p);
        double v;
        int sf = 0, r;

        if (p->reg < start || (uint32_t)p->reg + w > (uint32_t)start + count)
                return -EINVAL;
        if (p->fc == MB_FC_COIL || p->fc == MB_FC_DISCRETE) {
                if (!bits)
                        return -EINVAL;
                v = bits[p->reg - start] ? 1.0 : 0.0;
                *ret_value = v * p->scale + p->offset;
                return 0;
        }
        if (!regs)
                return -EINVAL;
        const uint16_t *rp = regs + (p->reg - start);
        mb_order o = (mb_order)p->order;
        bool sen = p->sentinel;

        switch ((mb_type)p->type) {
        case MB_T_BOOL:
                v = rp[0] ? 1.0 : 0.0;
                break;
        case MB_T_INT16: {
                uint16_t u = (uint16_t)mb_raw(rp, 1, o);
                if (sen && u == 0x8000u)
                        return -ERANGE;
                v = (double)(int16_t)u;
                break;
        }
        case MB_T_UINT16: {
                uint16_t u = (uint16_t)mb_raw(rp, 1, o);
                if (sen && u == 0xFFFFu)
                        return -ERANGE;
                v = (double)u;
                break;
        }
        case MB_T_SUNSSF: {
                uint16_t u = (uint16_t)mb_raw(rp, 1, o);
                if (u == 0x8000u)
                        return -ERANGE;
                v = (double)(int16_t)u;
                break;
        }
        case MB_T_INT32: {
                uint32_t u = (uint32_t)mb_raw(rp, 2, o);
                if (sen && u == 0x80000000u)
                        return -ERANGE;
                v = (double)(int32_t)u;
                break;
        }
        case MB_T_UINT32: {
                uint32_t u = (uint32_t)mb_raw(rp, 2, o);
                if (sen && u == 0xFFFFFFFFu)
                        return -ERANGE;
                v = (double)u;
                break;
        }
        case MB_T_ACC32:
                v = (double)(uint32_t)mb_raw(rp, 2, o);
                break;
        case MB_T_INT64: {
                uint64_t u = mb_raw(rp, 4, o);
                if (sen && u == UINT64_C(0x8000000000000000))
                        return -ERANGE;
                v = (double)(int64_t)u;
                break;
        }
        case MB_T_UINT64: {
                uint64_t u = mb_raw(rp, 4, o);
                if (sen && u == UINT64_MAX)
                        return -ERANGE;
                v = (double)u;
                break;
        }
        case MB_T_FLOAT32: {
                uint32_t u = (uint32_t)mb_raw(rp, 2, o);
                float f;
                memcpy(&f, &u, sizeof f);
                if (!isfinite(f))
                        return -ERANGE;
                v = (double)f;
                break;
        }
        case MB_T_FLOAT64: {
                uint64_t u = mb_raw(rp, 4, o);
                double d;
                memcpy(&d, &u, sizeof d);
                if (!isfinite(d))
                        return -ERANGE;
                v = d;
                break;
        }
        default:
                return -EINVAL; /* strings are not numbers */
        }
        r = decode_sf(p, start, regs, count, &sf);
        if (r < 0)
                return r;
        if (sf > 0)
                v *= pow10i(sf);
        else if (sf < 0)
                v /= pow10i(-sf);
        v = v * p->scale + p->offset;
        if (!isfinite(v))
                return -ERANGE;
        *ret_value = v;
        return 0;
}
