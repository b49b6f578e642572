/* regs.c - the Modbus register maps of dcem-sim's meters (see sim_regs.h).
 *
 * Sources of the maps (addresses are Modbus PDU addresses, 0-based):
 * - Eastron SDM630, input registers (FC 4), float32 big-endian: Eastron's
 *   "SDM630 Modbus protocol" table as reproduced in beireken/SDM220t SDM.h
 *   (merlokk/SmartHome lib/eastron.h): 0x0000.. phase volts, 0x0006.. amps,
 *   0x000C.. phase W, 0x0034 total W, 0x0046 Hz, 0x0048 import kWh,
 *   0x004A export kWh, 0x0156 total kWh.
 * - Schneider iEM3x55 / iEM3x65 / PM5xxx "3000 block" (profiles iem3000 and
 *   pm5000 answer the same map), holding registers
 *   (FC 3): the register list of the iEM3100/3200/3300 user manual
 *   (DOCA0005EN) gives 1-based register numbers; on the wire they are one
 *   less: 3059 total active power (float32 kW), 3109 Hz, 3203 total active
 *   energy import (INT64 Wh), 3207 export (INT64 Wh), 45099/45101 the same
 *   as float32 kWh (as used by htvekov/iem3155_esphome on a real iEM3155).
 * - SunSpec: "SunS" at 40000, common model 1 (66 registers), then meter
 *   model 203 (integer + scale factors) or 213 (float32), then the end model
 *   0xFFFF/0. Point layouts follow the SunSpec Alliance's model JSON
 *   (../shared/testdata/sunspec/model_*.json); offsets are computed from
 *   the (name, size) lists below, never typed by hand.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sim_regs.h"

/* ---- encoders ------------------------------------------------------------- */

void sim_put_u32(uint16_t *w, uint32_t v)
{
        w[0] = (uint16_t)(v >> 16);
        w[1] = (uint16_t)(v & 0xFFFF);
}

/* float32 as IEEE-754 big-endian, high word first (ABCD). By hand: libmodbus
 * 3.1.6's float setters write the wrong bytes. */
void sim_put_f32(uint16_t *w, float v)
{
        uint32_t u;
        memcpy(&u, &v, sizeof(u));
        sim_put_u32(w, u);
}

void sim_put_i64(uint16_t *w, int64_t v)
{
        uint64_t u = (uint64_t)v;
        w[0] = (uint16_t)(u >> 48);
        w[1] = (uint16_t)(u >> 32);
        w[2] = (uint16_t)(u >> 16);
        w[3] = (uint16_t)u;
}

static void put_str(uint16_t *w, unsigned nregs, const char *s)
{
        size_t len = strlen(s);
        for (unsigned i = 0; i < nregs; i++) {
                unsigned char a = 2 * i < len ? (unsigned char)s[2 * i] : 0;
                unsigned char b = 2 * i + 1 < len ? (unsigned char)s[2 * i + 1] : 0;
                w[i] = (uint16_t)(a << 8 | b);
        }
}

/* ---- what a meter measures -------------------------------------------------- */

typedef struct meter {
        double p_w;             /* signed: import positive */
        double e_imp_wh, e_exp_wh;
        double v[3], i[3], pw[3];
        double pf, hz;
        bool nan, range;
} meter;

static void measure(const sim_model *m, const sim_dev *d, int64_t t, meter *r)
{
        static const double imbalance[3] = { 0.98, 1.00, 1.02 };
        uint64_t idx = (uint64_t)(d - m->site->devs) + 1;
        double ts = (double)t / 1000.0;

        memset(r, 0, sizeof(*r));
        r->p_w = d->p_w - d->p_exp_w;
        r->e_imp_wh = sim_dev_reported_wh(m, d, t);
        r->e_exp_wh = sim_dev_reported_exp_wh(m, d, t);
        r->pf = d->kind == SIM_K_IT ? 0.98 : 0.95;
        r->hz = 50.0 + 0.02 * sim_noise(m->site->seed, 0, 7, ts, 60.0);
        for (int k = 0; k < 3; k++) {
                r->v[k] = 230.0 + 2.0 * sim_noise(m->site->seed, idx, 10 + (uint64_t)k, ts, 120.0);
                r->pw[k] = r->p_w * imbalance[k] / 3.0;
                r->i[k] = fabs(r->pw[k]) / (r->v[k] * r->pf);
        }
        r->nan = d->fault.nan;
        r->range = d->fault.range;
        if (r->range) {
                /* Absurd readings a broken meter sends: negative megawatts on a
                 * feeder, a counter that jumped by a gigawatt-hour. */
                r->p_w = -5e6;
                for (int k = 0; k < 3; k++)
                        r->pw[k] = -5e6 / 3.0;
                r->e_imp_wh += 1e9;
                r->e_exp_wh += 1e9;
        }
}

/* A counter as a float in kWh (WRAP applies at 2^32 Wh). */
static float kwh_f(const sim_dev *d, const meter *r, double wh)
{
        if (r->nan)
                return NAN;
        if (d->fault.wrap)
                return (float)((double)sim_dev_raw32(d, wh, 1.0) / 1000.0);
        return (float)(wh / 1000.0);
}

static float fv(const meter *r, double v)
{
        return r->nan ? NAN : (float)v;
}

/* ---- a map is a list of points; a read must hit only registers of points ---- */

typedef struct point {
        uint16_t addr;
        uint8_t nregs;
} point;

/* The span of a map: the address ranges [lo, end) its points lie in. With
 * site modbus_holes: zero, a register inside a span that no point defines
 * reads 0 (a meter that answers undocumented registers); outside every span
 * a read is refused. */
typedef struct span {
        unsigned lo, end;
} span;

/* Fill words for the point starting at addr; returns false if none. */
typedef bool (*fill_fn)(const sim_model *m, const sim_dev *d, const meter *r, unsigned addr, uint16_t *w);

/* SDM630: every point is a float32 in input registers. */
static const uint16_t sdm630_addrs[] = {
        0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0E, 0x10, 0x12, 0x14, 0x16, 0x18, 0x1A, 0x1C, 0x1E, 0x20,
        0x22, 0x24, 0x26, 0x28, 0x2A, 0x2E, 0x30, 0x34, 0x38, 0x3C, 0x3E, 0x42, 0x46, 0x48, 0x4A, 0x4C, 0x4E,
        0x54, 0x56, 0x156, 0x158,
};

/* From the first to the last simulated register (the real meter defines
 * more in between, e.g. 0xC8.. line-to-line volts). */
static const span sdm630_spans[] = { { 0x0000, 0x015A } };

static bool sdm630_fill(const sim_model *m, const sim_dev *d, const meter *r, unsigned a, uint16_t *w)
{
        (void)m;
        double va_k[3], va = 0, var = 0, pf = r->pf;
        for (int k = 0; k < 3; k++) {
                va_k[k] = r->v[k] * r->i[k];
                va += va_k[k];
        }
        var = va * sqrt(fmax(0.0, 1.0 - pf * pf));
        float v;
        switch (a) {
        case 0x00: case 0x02: case 0x04: v = fv(r, r->v[(a - 0x00) / 2]); break;
        case 0x06: case 0x08: case 0x0A: v = fv(r, r->i[(a - 0x06) / 2]); break;
        case 0x0C: case 0x0E: case 0x10: v = fv(r, r->pw[(a - 0x0C) / 2]); break;
        case 0x12: case 0x14: case 0x16: v = fv(r, va_k[(a - 0x12) / 2]); break;
        case 0x18: case 0x1A: case 0x1C: v = fv(r, va_k[(a - 0x18) / 2] * sqrt(1.0 - pf * pf)); break;
        case 0x1E: case 0x20: case 0x22: case 0x3E: v = fv(r, pf); break;
        case 0x24: case 0x26: case 0x28: case 0x42: v = fv(r, acos(pf) * 180.0 / M_PI); break;
        case 0x2A: v = fv(r, (r->v[0] + r->v[1] + r->v[2]) / 3.0); break;
        case 0x2E: v = fv(r, (r->i[0] + r->i[1] + r->i[2]) / 3.0); break;
        case 0x30: v = fv(r, r->i[0] + r->i[1] + r->i[2]); break;
        case 0x34: case 0x54: v = fv(r, r->p_w); break;
        case 0x56: v = fv(r, fmax(r->p_w, d->rated_kw * 1000.0)); break;
        case 0x38: v = fv(r, va); break;
        case 0x3C: v = fv(r, var); break;
        case 0x46: v = fv(r, r->hz); break;
        case 0x48: v = kwh_f(d, r, r->e_imp_wh); break;
        case 0x4A: v = kwh_f(d, r, r->e_exp_wh); break;
        case 0x4C: case 0x4E: case 0x158: v = fv(r, 0.0); break; /* reactive energy: not simulated, 0 */
        case 0x156: v = kwh_f(d, r, r->e_imp_wh + r->e_exp_wh); break;
        default: return false;
        }
        sim_put_f32(w, v);
        return true;
}

/* iEM3000 ("3000 block"), holding registers. */
static const point iem_points[] = {
        { 2999, 2 }, { 3001, 2 }, { 3003, 2 }, { 3005, 2 }, { 3009, 2 }, { 3019, 2 }, { 3021, 2 }, { 3023, 2 },
        { 3025, 2 }, { 3027, 2 }, { 3029, 2 }, { 3031, 2 }, { 3035, 2 }, { 3053, 2 }, { 3055, 2 }, { 3057, 2 },
        { 3059, 2 }, { 3067, 2 }, { 3075, 2 }, { 3083, 2 }, { 3109, 2 }, { 3203, 4 }, { 3207, 4 }, { 45099, 2 },
        { 45101, 2 },
};

/* The "3000 block" and the float energies at 45099. */
static const span iem_spans[] = { { 2999, 3211 }, { 45099, 45103 } };

static bool iem_fill(const sim_model *m, const sim_dev *d, const meter *r, unsigned a, uint16_t *w)
{
        (void)m;
        double s3 = sqrt(3.0), va = 0;
        for (int k = 0; k < 3; k++)
                va += r->v[k] * r->i[k];
        switch (a) {
        case 2999: case 3001: case 3003: sim_put_f32(w, fv(r, r->i[(a - 2999) / 2])); return true;
        case 3005: sim_put_f32(w, fv(r, 0.0)); return true;
        case 3009: sim_put_f32(w, fv(r, (r->i[0] + r->i[1] + r->i[2]) / 3.0)); return true;
        case 3019: sim_put_f32(w, fv(r, (r->v[0] + r->v[1]) / 2.0 * s3)); return true;
        case 3021: sim_put_f32(w, fv(r, (r->v[1] + r->v[2]) / 2.0 * s3)); return true;
        case 3023: sim_put_f32(w, fv(r, (r->v[2] + r->v[0]) / 2.0 * s3)); return true;
        case 3025: sim_put_f32(w, fv(r, (r->v[0] + r->v[1] + r->v[2]) / 3.0 * s3)); return true;
        case 3027: case 3029: case 3031: sim_put_f32(w, fv(r, r->v[(a - 3027) / 2])); return true;
        case 3035: sim_put_f32(w, fv(r, (r->v[0] + r->v[1] + r->v[2]) / 3.0)); return true;
        case 3053: case 3055: case 3057: sim_put_f32(w, fv(r, r->pw[(a - 3053) / 2] / 1000.0)); return true;
        case 3059: sim_put_f32(w, fv(r, r->p_w / 1000.0)); return true;
        case 3067: sim_put_f32(w, fv(r, va * sqrt(1.0 - r->pf * r->pf) / 1000.0)); return true;
        case 3075: sim_put_f32(w, fv(r, va / 1000.0)); return true;
        case 3083: sim_put_f32(w, fv(r, r->pf)); return true;
        case 3109: sim_put_f32(w, fv(r, r->hz)); return true;
        case 3203:
        case 3207: {
                double wh = a == 3203 ? r->e_imp_wh : r->e_exp_wh;
                int64_t v = d->fault.wrap ? (int64_t)sim_dev_raw32(d, wh, 1.0) : (int64_t)floor(wh);
                sim_put_i64(w, r->nan ? INT64_MIN : v); /* 0x8000... = not available */
                return true;
        }
        case 45099: sim_put_f32(w, kwh_f(d, r, r->e_imp_wh)); return true;
        case 45101: sim_put_f32(w, kwh_f(d, r, r->e_exp_wh)); return true;
        default: return false;
        }
}

/* ---- SunSpec ---------------------------------------------------------------- */

typedef struct ss_pt {
        const char *name;
        uint8_t size;
} ss_pt;

static const ss_pt ss_model1[] = {
        { "ID", 1 }, { "L", 1 }, { "Mn", 16 }, { "Md", 16 }, { "Opt", 8 }, { "Vr", 8 }, { "SN", 16 }, { "DA", 1 },
        { "Pad", 1 }, { NULL, 0 },
};

static const ss_pt ss_model203[] = {
        { "ID", 1 }, { "L", 1 }, { "A", 1 }, { "AphA", 1 }, { "AphB", 1 }, { "AphC", 1 }, { "A_SF", 1 },
        { "PhV", 1 }, { "PhVphA", 1 }, { "PhVphB", 1 }, { "PhVphC", 1 }, { "PPV", 1 }, { "PhVphAB", 1 },
        { "PhVphBC", 1 }, { "PhVphCA", 1 }, { "V_SF", 1 }, { "Hz", 1 }, { "Hz_SF", 1 }, { "W", 1 }, { "WphA", 1 },
        { "WphB", 1 }, { "WphC", 1 }, { "W_SF", 1 }, { "VA", 1 }, { "VAphA", 1 }, { "VAphB", 1 }, { "VAphC", 1 },
        { "VA_SF", 1 }, { "VAR", 1 }, { "VARphA", 1 }, { "VARphB", 1 }, { "VARphC", 1 }, { "VAR_SF", 1 },
        { "PF", 1 }, { "PFphA", 1 }, { "PFphB", 1 }, { "PFphC", 1 }, { "PF_SF", 1 }, { "TotWhExp", 2 },
        { "TotWhExpPhA", 2 }, { "TotWhExpPhB", 2 }, { "TotWhExpPhC", 2 }, { "TotWhImp", 2 }, { "TotWhImpPhA", 2 },
        { "TotWhImpPhB", 2 }, { "TotWhImpPhC", 2 }, { "TotWh_SF", 1 }, { "TotVAhExp", 2 }, { "TotVAhExpPhA", 2 },
        { "TotVAhExpPhB", 2 }, { "TotVAhExpPhC", 2 }, { "TotVAhImp", 2 }, { "TotVAhImpPhA", 2 },
        { "TotVAhImpPhB", 2 }, { "TotVAhImpPhC", 2 }, { "TotVAh_SF", 1 }, { "TotVArhImpQ1", 2 },
        { "TotVArhImpQ1PhA", 2 }, { "TotVArhImpQ1PhB", 2 }, { "TotVArhImpQ1PhC", 2 }, { "TotVArhImpQ2", 2 },
        { "TotVArhImpQ2PhA", 2 }, { "TotVArhImpQ2PhB", 2 }, { "TotVArhImpQ2PhC", 2 }, { "TotVArhExpQ3", 2 },
        { "TotVArhExpQ3PhA", 2 }, { "TotVArhExpQ3PhB", 2 }, { "TotVArhExpQ3PhC", 2 }, { "TotVArhExpQ4", 2 },
        { "TotVArhExpQ4PhA", 2 }, { "TotVArhExpQ4PhB", 2 }, { "TotVArhExpQ4PhC", 2 }, { "TotVArh_SF", 1 },
        { "Evt", 2 }, { NULL, 0 },
};

static const ss_pt ss_model213[] = {
        { "ID", 1 }, { "L", 1 }, { "A", 2 }, { "AphA", 2 }, { "AphB", 2 }, { "AphC", 2 }, { "PhV", 2 },
        { "PhVphA", 2 }, { "PhVphB", 2 }, { "PhVphC", 2 }, { "PPV", 2 }, { "PPVphAB", 2 }, { "PPVphBC", 2 },
        { "PPVphCA", 2 }, { "Hz", 2 }, { "W", 2 }, { "WphA", 2 }, { "WphB", 2 }, { "WphC", 2 }, { "VA", 2 },
        { "VAphA", 2 }, { "VAphB", 2 }, { "VAphC", 2 }, { "VAR", 2 }, { "VARphA", 2 }, { "VARphB", 2 },
        { "VARphC", 2 }, { "PF", 2 }, { "PFphA", 2 }, { "PFphB", 2 }, { "PFphC", 2 }, { "TotWhExp", 2 },
        { "TotWhExpPhA", 2 }, { "TotWhExpPhB", 2 }, { "TotWhExpPhC", 2 }, { "TotWhImp", 2 }, { "TotWhImpPhA", 2 },
        { "TotWhImpPhB", 2 }, { "TotWhImpPhC", 2 }, { "TotVAhExp", 2 }, { "TotVAhExpPhA", 2 },
        { "TotVAhExpPhB", 2 }, { "TotVAhExpPhC", 2 }, { "TotVAhImp", 2 }, { "TotVAhImpPhA", 2 },
        { "TotVAhImpPhB", 2 }, { "TotVAhImpPhC", 2 }, { "TotVArhImpQ1", 2 }, { "TotVArhImpQ1phA", 2 },
        { "TotVArhImpQ1phB", 2 }, { "TotVArhImpQ1phC", 2 }, { "TotVArhImpQ2", 2 }, { "TotVArhImpQ2phA", 2 },
        { "TotVArhImpQ2phB", 2 }, { "TotVArhImpQ2phC", 2 }, { "TotVArhExpQ3", 2 }, { "TotVArhExpQ3phA", 2 },
        { "TotVArhExpQ3phB", 2 }, { "TotVArhExpQ3phC", 2 }, { "TotVArhExpQ4", 2 }, { "TotVArhExpQ4phA", 2 },
        { "TotVArhExpQ4phB", 2 }, { "TotVArhExpQ4phC", 2 }, { "Evt", 2 }, { NULL, 0 },
};

static const ss_pt *ss_model(int model)
{
        return model == 1 ? ss_model1 : model == 203 ? ss_model203 : model == 213 ? ss_model213 : NULL;
}

static int ss_len(const ss_pt *t)
{
        int n = 0;
        for (; t->name; t++)
                n += t->size;
        return n;
}

int sim_sunspec_offset(int model, const char *point)
{
        const ss_pt *t = ss_model(model);
        int off = 0;
        if (!t)
                return -1;
        for (; t->name; t++) {
                if (strcmp(t->name, point) == 0)
                        return off;
                off += t->size;
        }
        return -1;
}

/* The SunSpec block of one device: marker, model 1, the meter model, the end
 * model. Built whole (under 200 registers) and sliced by the reader. */
#define SS_MAX 256

static int16_t sf_scale(double v, int sf, bool nan)
{
        if (nan || !isfinite(v))
                return INT16_MIN; /* 0x8000: not implemented */
        double x = round(v / pow(10.0, sf));
        if (x > 32767 || x < -32767)
                return INT16_MIN;
        return (int16_t)x;
}

static int ss_build(const sim_model *m, const sim_dev *d, const meter *r, uint16_t *img)
{
        int meter_model = d->profile == SIM_P_SUNSPEC ? 203 : 213;
        int l1 = ss_len(ss_model1), lm = ss_len(ss_model(meter_model));
        uint16_t *m1 = img + 2, *mm = img + 2 + l1;
        char buf[40];
        (void)m;

        img[0] = 0x5375; /* "Su" */
        img[1] = 0x6E53; /* "nS" */
        memset(m1, 0, (size_t)l1 * sizeof(uint16_t));
        m1[0] = 1;
        m1[1] = (uint16_t)(l1 - 2);
        put_str(m1 + sim_sunspec_offset(1, "Mn"), 16, "dcem");
        snprintf(buf, sizeof(buf), "dcem-sim %d", meter_model);
        put_str(m1 + sim_sunspec_offset(1, "Md"), 16, buf);
        put_str(m1 + sim_sunspec_offset(1, "Vr"), 8, "0.1.0");
        put_str(m1 + sim_sunspec_offset(1, "SN"), 16, d->name);
        m1[sim_sunspec_offset(1, "DA")] = (uint16_t)d->unit;
        m1[sim_sunspec_offset(1, "Pad")] = 0x8000;

        memset(mm, 0, (size_t)lm * sizeof(uint16_t));
        mm[0] = (uint16_t)meter_model;
        mm[1] = (uint16_t)(lm - 2);
#define OFF(name) sim_sunspec_offset(meter_model, name)
        double va = 0, vavg = (r->v[0] + r->v[1] + r->v[2]) / 3.0;
        for (int k = 0; k < 3; k++)
                va += r->v[k] * r->i[k];
        double var = va * sqrt(fmax(0.0, 1.0 - r->pf * r->pf));
        if (meter_model == 203) {
                int wsf = d->w_sf;
                mm[OFF("A")] = (uint16_t)sf_scale(r->i[0] + r->i[1] + r->i[2], -1, r->nan);
                for (int k = 0; k < 3; k++) {
                        static const char *ia[3] = { "AphA", "AphB", "AphC" }, *va_[3] = { "PhVphA", "PhVphB", "PhVphC" },
                                          *wa[3] = { "WphA", "WphB", "WphC" }, *pfa[3] = { "PFphA", "PFphB", "PFphC" };
                        mm[OFF(ia[k])] = (uint16_t)sf_scale(r->i[k], -1, r->nan);
                        mm[OFF(va_[k])] = (uint16_t)sf_scale(r->v[k], -1, r->nan);
                        mm[OFF(wa[k])] = (uint16_t)sf_scale(r->pw[k], wsf, r->nan);
                        mm[OFF(pfa[k])] = (uint16_t)sf_scale(r->pf * 100.0, 0, r->nan);
                }
                mm[OFF("A_SF")] = (uint16_t)-1;
                mm[OFF("PhV")] = (uint16_t)sf_scale(vavg, -1, r->nan);
                mm[OFF("PPV")] = (uint16_t)sf_scale(vavg * sqrt(3.0), -1, r->nan);
                mm[OFF("PhVphAB")] = (uint16_t)sf_scale((r->v[0] + r->v[1]) / 2 * sqrt(3.0), -1, r->nan);
                mm[OFF("PhVphBC")] = (uint16_t)sf_scale((r->v[1] + r->v[2]) / 2 * sqrt(3.0), -1, r->nan);
                mm[OFF("PhVphCA")] = (uint16_t)sf_scale((r->v[2] + r->v[0]) / 2 * sqrt(3.0), -1, r->nan);
                mm[OFF("V_SF")] = (uint16_t)-1;
                mm[OFF("Hz")] = (uint16_t)sf_scale(r->hz, -2, r->nan);
                mm[OFF("Hz_SF")] = (uint16_t)-2;
                mm[OFF("W")] = (uint16_t)sf_scale(r->p_w, wsf, r->nan);
                mm[OFF("W_SF")] = (uint16_t)wsf;
                mm[OFF("VA")] = (uint16_t)sf_scale(va, wsf, r->nan);
                mm[OFF("VA_SF")] = (uint16_t)wsf;
                mm[OFF("VAR")] = (uint16_t)sf_scale(var, wsf, r->nan);
                mm[OFF("VAR_SF")] = (uint16_t)wsf;
                mm[OFF("PF")] = (uint16_t)sf_scale(r->pf * 100.0, 0, r->nan);
                mm[OFF("PF_SF")] = 0; /* PF in percent */
                /* acc32 in Wh (TotWh_SF 0); 0 means "not accumulated". */
                uint32_t imp = r->nan ? 0 : sim_dev_raw32(d, r->e_imp_wh, 1.0);
                uint32_t exp = r->nan ? 0 : sim_dev_raw32(d, r->e_exp_wh, 1.0);
                sim_put_u32(mm + OFF("TotWhImp"), imp);
                sim_put_u32(mm + OFF("TotWhExp"), exp);
                mm[OFF("TotWh_SF")] = 0;
                mm[OFF("TotVAh_SF")] = 0;
                mm[OFF("TotVArh_SF")] = 0;
        } else {
                float nanf_ = NAN;
                static const char *ia[3] = { "AphA", "AphB", "AphC" }, *va_[3] = { "PhVphA", "PhVphB", "PhVphC" },
                                  *wa[3] = { "WphA", "WphB", "WphC" }, *pfa[3] = { "PFphA", "PFphB", "PFphC" };
                sim_put_f32(mm + OFF("A"), fv(r, r->i[0] + r->i[1] + r->i[2]));
                for (int k = 0; k < 3; k++) {
                        sim_put_f32(mm + OFF(ia[k]), fv(r, r->i[k]));
                        sim_put_f32(mm + OFF(va_[k]), fv(r, r->v[k]));
                        sim_put_f32(mm + OFF(wa[k]), fv(r, r->pw[k]));
                        sim_put_f32(mm + OFF(pfa[k]), fv(r, r->pf * 100.0));
                }
                sim_put_f32(mm + OFF("PhV"), fv(r, vavg));
                sim_put_f32(mm + OFF("PPV"), fv(r, vavg * sqrt(3.0)));
                sim_put_f32(mm + OFF("Hz"), fv(r, r->hz));
                sim_put_f32(mm + OFF("W"), fv(r, r->p_w));
                sim_put_f32(mm + OFF("VA"), fv(r, va));
                sim_put_f32(mm + OFF("VAR"), fv(r, var));
                sim_put_f32(mm + OFF("PF"), fv(r, r->pf * 100.0));
                /* Energies in Wh as float32. */
                float imp = r->nan ? nanf_ : d->fault.wrap ? (float)sim_dev_raw32(d, r->e_imp_wh, 1.0) : (float)r->e_imp_wh;
                float exp = r->nan ? nanf_ : d->fault.wrap ? (float)sim_dev_raw32(d, r->e_exp_wh, 1.0) : (float)r->e_exp_wh;
                sim_put_f32(mm + OFF("TotWhImp"), imp);
                sim_put_f32(mm + OFF("TotWhExp"), exp);
        }
#undef OFF
        uint16_t *end = mm + lm;
        end[0] = 0xFFFF;
        end[1] = 0;
        return 2 + l1 + lm + 2;
}

/* ---- the reader ----------------------------------------------------------------- */

void sim_regs_setup(const sim_model *m)
{
        for (size_t i = 0; i < m->site->ndevs; i++) {
                sim_dev *d = &m->site->devs[i];
                /* The largest power the meter should show: three times what it
                 * shows now or 1.5 times its rating, at least 1 kW. */
                double pmax = fmax(1000.0, fmax(3.0 * fmax(d->p_w, d->p_exp_w), 1500.0 * d->rated_kw));
                int sf = -1;
                while (sf < 6 && pmax / pow(10.0, sf) > 30000.0)
                        sf++;
                d->w_sf = sf;
        }
}

static bool in_spans(const span *sp, size_t nsp, unsigned addr, unsigned count)
{
        for (size_t i = 0; i < nsp; i++)
                if (addr >= sp[i].lo && addr + count <= sp[i].end)
                        return true;
        return false;
}

/* Fill out[0..count) from the points of a map. Every register must belong to
 * a point, or (holes zero) lie inside one span, which the whole read must. */
static int read_points(const sim_model *m, const sim_dev *d, const meter *r, const point *pts, size_t npts,
                       const span *sp, size_t nsp, fill_fn fill, unsigned addr, unsigned count, uint16_t *out)
{
        unsigned filled = 0;
        uint16_t w[4];
        bool holes_zero = m->site->modbus_holes == SIM_HOLES_ZERO && in_spans(sp, nsp, addr, count);
        if (holes_zero)
                memset(out, 0, count * sizeof(uint16_t));
        for (size_t i = 0; i < npts; i++) {
                unsigned a = pts[i].addr, n = pts[i].nregs;
                if (a + n <= addr || a >= addr + count)
                        continue;
                if (!fill(m, d, r, a, w))
                        return SIM_MB_EXC_ILLEGAL_ADDRESS;
                for (unsigned k = 0; k < n; k++) {
                        if (a + k >= addr && a + k < addr + count) {
                                out[a + k - addr] = w[k];
                                filled++;
                        }
                }
        }
        return filled == count || holes_zero ? 0 : SIM_MB_EXC_ILLEGAL_ADDRESS;
}

int sim_regs_read(const sim_model *m, const sim_dev *d, int64_t t_ms, int fc, unsigned addr, unsigned count,
                  uint16_t *out)
{
        meter r;
        if (fc != 3 && fc != 4)
                return SIM_MB_EXC_ILLEGAL_FUNCTION;
        if (count < 1 || count > SIM_MB_MAX_READ || addr + count > 0x10000)
                return SIM_MB_EXC_ILLEGAL_VALUE;
        switch (d->profile) {
        case SIM_P_SDM630: {
                point pts[sizeof(sdm630_addrs) / sizeof(sdm630_addrs[0])];
                if (fc != 4)
                        return SIM_MB_EXC_ILLEGAL_ADDRESS; /* setup (holding) registers are not simulated */
                for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
                        pts[i].addr = sdm630_addrs[i];
                        pts[i].nregs = 2;
                }
                measure(m, d, t_ms, &r);
                return read_points(m, d, &r, pts, sizeof(pts) / sizeof(pts[0]), sdm630_spans,
                                   sizeof(sdm630_spans) / sizeof(sdm630_spans[0]), sdm630_fill, addr, count, out);
        }
        case SIM_P_IEM3000:
        case SIM_P_PM5000:
                if (fc != 3)
                        return SIM_MB_EXC_ILLEGAL_FUNCTION; /* holding registers only */
                measure(m, d, t_ms, &r);
                return read_points(m, d, &r, iem_points, sizeof(iem_points) / sizeof(iem_points[0]), iem_spans,
                                   sizeof(iem_spans) / sizeof(iem_spans[0]), iem_fill, addr, count, out);
        case SIM_P_SUNSPEC:
        case SIM_P_SUNSPEC_FLOAT: {
                uint16_t img[SS_MAX];
                if (fc != 3)
                        return SIM_MB_EXC_ILLEGAL_FUNCTION; /* SunSpec lives in holding registers */
                measure(m, d, t_ms, &r);
                int n = ss_build(m, d, &r, img);
                if (addr < SIM_SUNSPEC_BASE || addr + count > (unsigned)(SIM_SUNSPEC_BASE + n))
                        return SIM_MB_EXC_ILLEGAL_ADDRESS;
                memcpy(out, img + (addr - SIM_SUNSPEC_BASE), count * sizeof(uint16_t));
                return 0;
        }
        default:
                return SIM_MB_EXC_ILLEGAL_FUNCTION;
        }
}
