/* oids.c - the MIB views dcem-sim's SNMP agents answer with: which OIDs a
 * device of each profile has, in OID order, and their values from the model
 * with each vendor's real units and scalings. Pure (no net-snmp calls).
 *
 * Sources (vendor OIDs under 1.3.6.1.4.1; the recordings are in
 * ../shared/testdata/snmprec, LibreNMS test data):
 * - APC rPDU2 (PowerNet-MIB): rPDU2DeviceStatusTable .318.1.1.26.4.3.1:
 *   .5 power (hundredths of kW), .9 energy (tenths of kWh), .16 apparent
 *   power (hundredths of kVA), .17 power factor (hundredths);
 *   rPDU2PhaseStatusTable .318.1.1.26.6.3.1, index phase: .5 current
 *   (tenths of A), .6 voltage (V), .7 power (hundredths of kW), .8 apparent
 *   power (hundredths of kVA), .9 power factor (hundredths);
 *   rPDU2OutletMeteredStatusTable .318.1.1.26.9.4.3.1: .7 power (W),
 *   .11 energy (tenths of kWh). (apc_ap8853, apc-ap8641)
 * - Raritan PDU2-MIB: measurementsInletSensorValue .13742.6.5.2.3.1.4.
 *   pdu.inlet.sensorType, scaled by inletSensorDecimalDigits
 *   .13742.6.3.3.4.1.7 (rmsCurrent 1, rmsVoltage 4, activePower 5 W,
 *   apparentPower 6, powerFactor 7, activeEnergy 8 Wh, frequency 23); the
 *   outlet tables .13742.6.5.4.3.1.4 / .13742.6.3.5.4.1.7 likewise.
 *   (raritan-pdu_px2; activeEnergy is absent from that recording but part
 *   of the MIB.)
 * - ServerTech Sentry4-MIB: st4InputCordMonitorTable .1718.4.1.3.3.1,
 *   index unit.cord: .3 active power (W), .5 apparent power (VA), .8 power
 *   factor (hundredths), .10 energy (tenths of kWh), .11 frequency (tenths
 *   of Hz). (sentry4)
 * - Eaton EATON-EPDU-MIB: inputTotal .534.6.6.7.3.5.1, index strap.input:
 *   .3 VA, .4 watts, .5 Wh (Unsigned32), .6 Wh timer, .7 power factor
 *   (thousandths); per phase, index strap.input.n: inputTable .3.1.1
 *   (index strap.input: .2 type 4 = threePhaseWye, .3 frequency 0.1 Hz,
 *   .5/.6/.7 voltage/current/power row counts), inputVoltageTable .3.2.1
 *   (.2 type 2..4 = phaseNtoN, .3 mV), inputCurrentTable .3.3.1 (.2 type
 *   3..5 = phase1..3, .4 mA, .12 "L1".."L3"), inputPowerTable .3.4.1 (.2 type
 *   1..3 = phase1..3, .3 VA, .4 W, .5 Wh, .6 Wh timer, .7 power factor
 *   thousandths); outletPower .534.6.6.7.6.5.1: .2 VA, .3 W, .4 Wh.
 *   (eatonpdu_2)
 *
 * Every simulated PDU and UPS is fed three-phase: phase n carries
 * sim_phase_share(n) of the device's power (shares sum to 1), so the
 * phase powers add up to the device total and each phase counter, that share
 * of the device counter (after a reset; the wrap preset applies to the
 * device counter only), is the exact integral of its phase power.
 * - UPS-MIB (RFC 1628) .1.3.6.1.2.1.33.1: upsInputTable .3.3.1 (.2 freq
 *   0.1 Hz, .3 volts, .4 current 0.1 A, .5 true power W), upsOutputTable
 *   .4.4.1 (.2 volts, .3 current 0.1 A, .4 power W, .5 percent load). No
 *   energy counter: a collector integrates power. (deltaups_rfc1628string)
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_snmp.h"

/* BER tags (fixed by X.690 / RFC 2578), so this file needs no net-snmp. */
#define T_INTEGER 0x02
#define T_OCTETS 0x04
#define T_OID 0x06
#define T_COUNTER 0x41
#define T_GAUGE 0x42
#define T_TICKS 0x43

int sim_oid_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
        size_t n = na < nb ? na : nb;
        for (size_t i = 0; i < n; i++)
                if (a[i] != b[i])
                        return a[i] < b[i] ? -1 : 1;
        return na < nb ? -1 : na > nb ? 1 : 0;
}

static int entry_cmp(const void *x, const void *y)
{
        const sim_oid_entry *a = x, *b = y;
        return sim_oid_cmp(a->oid, a->len, b->oid, b->len);
}

typedef struct builder {
        sim_oid_view *v;
        size_t cap;
        int err;
} builder;

/* Add base.suffix... (suffix terminated by UINT32_MAX). */
static void add(builder *b, const uint32_t *base, size_t nbase, uint8_t type, sim_val what, int32_t arg, double scale,
                ...)
{
        sim_oid_entry e;
        va_list ap;
        memset(&e, 0, sizeof(e));
        if (b->err || nbase > SIM_OID_MAX)
                return;
        memcpy(e.oid, base, nbase * sizeof(uint32_t));
        e.len = (uint8_t)nbase;
        va_start(ap, scale);
        for (;;) {
                uint32_t x = va_arg(ap, uint32_t);
                if (x == UINT32_MAX)
                        break;
                if (e.len >= SIM_OID_MAX) {
                        b->err = -EINVAL;
                        break;
                }
                e.oid[e.len++] = x;
        }
        va_end(ap);
        e.type = type;
        e.what = (uint8_t)what;
        e.arg = arg;
        e.scale = scale;
        if (b->v->n == b->cap) {
                size_t cap = b->cap ? 2 * b->cap : 64;
                sim_oid_entry *n = realloc(b->v->e, cap * sizeof(*n));
                if (!n) {
                        b->err = -ENOMEM;
                        return;
                }
                b->v->e = n;
                b->cap = cap;
        }
        b->v->e[b->v->n++] = e;
}

#define END UINT32_MAX
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const uint32_t o_system[] = { 1, 3, 6, 1, 2, 1, 1 };
static const uint32_t o_apc_dev[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 4, 3, 1 };
static const uint32_t o_apc_phase[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 6, 3, 1 };
static const uint32_t o_apc_out[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 9, 4, 3, 1 };
static const uint32_t o_rar_inlet_dd[] = { 1, 3, 6, 1, 4, 1, 13742, 6, 3, 3, 4, 1, 7 };
static const uint32_t o_rar_outlet_dd[] = { 1, 3, 6, 1, 4, 1, 13742, 6, 3, 5, 4, 1, 7 };
static const uint32_t o_rar_inlet_m[] = { 1, 3, 6, 1, 4, 1, 13742, 6, 5, 2, 3, 1 };
static const uint32_t o_rar_outlet_m[] = { 1, 3, 6, 1, 4, 1, 13742, 6, 5, 4, 3, 1 };
static const uint32_t o_st4_cord[] = { 1, 3, 6, 1, 4, 1, 1718, 4, 1, 3, 3, 1 };
static const uint32_t o_eaton_in[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 5, 1 };
static const uint32_t o_eaton_input[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 1, 1 };
static const uint32_t o_eaton_volt[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 2, 1 };
static const uint32_t o_eaton_amp[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 3, 1 };
static const uint32_t o_eaton_phase[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 4, 1 };
static const uint32_t o_eaton_out[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 6, 5, 1 };
static const uint32_t o_ups[] = { 1, 3, 6, 1, 2, 1, 33, 1 };

static void build_system(builder *b)
{
        add(b, o_system, N(o_system), T_OCTETS, SV_SYSDESCR, 0, 1, 1, 0, END);
        add(b, o_system, N(o_system), T_OID, SV_SYSOID, 0, 1, 2, 0, END);
        add(b, o_system, N(o_system), T_TICKS, SV_UPTIME, 0, 1, 3, 0, END);
        add(b, o_system, N(o_system), T_OCTETS, SV_SITE, 1, 1, 4, 0, END); /* contact: the site */
        add(b, o_system, N(o_system), T_OCTETS, SV_NAME, 0, 1, 5, 0, END);
        add(b, o_system, N(o_system), T_OCTETS, SV_SITE, 0, 1, 6, 0, END);
        add(b, o_system, N(o_system), T_INTEGER, SV_CONST, 72, 1, 7, 0, END);
}

static void build_apc(builder *b, int outlets)
{
        add(b, o_apc_dev, N(o_apc_dev), T_INTEGER, SV_CONST, 1, 1, 1, 1, END);    /* index */
        add(b, o_apc_dev, N(o_apc_dev), T_INTEGER, SV_CONST, 1, 1, 2, 1, END);    /* module */
        add(b, o_apc_dev, N(o_apc_dev), T_OCTETS, SV_NAME, 0, 1, 3, 1, END);      /* name */
        add(b, o_apc_dev, N(o_apc_dev), T_INTEGER, SV_CONST, 2, 1, 4, 1, END);    /* loadState normal */
        add(b, o_apc_dev, N(o_apc_dev), T_INTEGER, SV_POWER, 0, 10, 5, 1, END);   /* 0.01 kW */
        add(b, o_apc_dev, N(o_apc_dev), T_INTEGER, SV_ENERGY, 0, 100, 9, 1, END); /* 0.1 kWh */
        add(b, o_apc_dev, N(o_apc_dev), T_INTEGER, SV_VA, 0, 10, 16, 1, END);     /* 0.01 kVA */
        add(b, o_apc_dev, N(o_apc_dev), T_INTEGER, SV_PF, 0, 0.01, 17, 1, END);   /* hundredths */
        /* rPDU2PhaseStatusTable, one row per phase (rPDU2PhaseStatusIndex). */
        for (uint32_t l = 1; l <= 3; l++) {
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_CONST, (int32_t)l, 1, 1, l, END); /* index */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_CONST, 1, 1, 2, l, END);          /* module */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_CONST, (int32_t)l, 1, 3, l, END); /* number */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_CONST, 2, 1, 4, l, END); /* loadState normal */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_AMP, (int32_t)l, 0.1, 5, l, END);  /* 0.1 A */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_VOLT, (int32_t)l, 1, 6, l, END);   /* V */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_LINE_POWER, (int32_t)l, 10, 7, l, END); /* 0.01 kW */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_LINE_VA, (int32_t)l, 10, 8, l, END); /* 0.01 kVA */
                add(b, o_apc_phase, N(o_apc_phase), T_INTEGER, SV_PF, 0, 0.01, 9, l, END);           /* hundredths */
        }
        for (int j = 1; j <= outlets; j++) {
                add(b, o_apc_out, N(o_apc_out), T_INTEGER, SV_CONST, j, 1, 1, (uint32_t)j, END);
                add(b, o_apc_out, N(o_apc_out), T_INTEGER, SV_CONST, 1, 1, 2, (uint32_t)j, END);
                add(b, o_apc_out, N(o_apc_out), T_OCTETS, SV_OUTLET_NAME, j, 1, 3, (uint32_t)j, END);
                add(b, o_apc_out, N(o_apc_out), T_INTEGER, SV_CONST, j, 1, 4, (uint32_t)j, END);
                add(b, o_apc_out, N(o_apc_out), T_INTEGER, SV_OUT_POWER, j, 1, 7, (uint32_t)j, END);
                add(b, o_apc_out, N(o_apc_out), T_INTEGER, SV_OUT_ENERGY, j, 100, 11, (uint32_t)j, END);
        }
}

/* Raritan sensor types and their decimal digits as a PX2 reports them. */
static const struct {
        uint32_t type;
        int digits;
        sim_val what;
        int arg;
} rar_inlet[] = {
        { 1, 3, SV_AMP, 0 }, { 4, 0, SV_VOLT, 0 }, { 5, 0, SV_POWER, 0 }, { 6, 0, SV_VA, 0 },
        { 7, 2, SV_PF, 0 }, { 8, 0, SV_ENERGY, 0 }, { 23, 1, SV_FREQ, 0 },
};

static void build_raritan(builder *b, int outlets)
{
        for (size_t k = 0; k < N(rar_inlet); k++)
                add(b, o_rar_inlet_dd, N(o_rar_inlet_dd), T_GAUGE, SV_CONST, rar_inlet[k].digits, 1, 1, 1,
                    rar_inlet[k].type, END);
        for (int j = 1; j <= outlets; j++) {
                add(b, o_rar_outlet_dd, N(o_rar_outlet_dd), T_GAUGE, SV_CONST, 0, 1, 1, (uint32_t)j, 5, END);
                add(b, o_rar_outlet_dd, N(o_rar_outlet_dd), T_GAUGE, SV_CONST, 0, 1, 1, (uint32_t)j, 8, END);
        }
        for (size_t k = 0; k < N(rar_inlet); k++) {
                double scale = pow(10.0, -rar_inlet[k].digits);
                add(b, o_rar_inlet_m, N(o_rar_inlet_m), T_INTEGER, SV_CONST, 1, 1, 2, 1, 1, rar_inlet[k].type,
                    END); /* isAvailable true */
                add(b, o_rar_inlet_m, N(o_rar_inlet_m), T_INTEGER, SV_CONST, 4, 1, 3, 1, 1, rar_inlet[k].type,
                    END); /* state normal */
                /* Power, energy: value / 10^-digits; the others likewise. */
                add(b, o_rar_inlet_m, N(o_rar_inlet_m), T_GAUGE, rar_inlet[k].what, rar_inlet[k].arg,
                    rar_inlet[k].what == SV_ENERGY ? 1.0 : scale, 4, 1, 1, rar_inlet[k].type, END);
        }
        for (int j = 1; j <= outlets; j++) {
                add(b, o_rar_outlet_m, N(o_rar_outlet_m), T_GAUGE, SV_OUT_POWER, j, 1, 4, 1, (uint32_t)j, 5, END);
                add(b, o_rar_outlet_m, N(o_rar_outlet_m), T_GAUGE, SV_OUT_ENERGY, j, 1, 4, 1, (uint32_t)j, 8, END);
        }
}

static void build_sentry4(builder *b)
{
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_CONST, 1, 1, 1, 1, 1, END);      /* state on */
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_CONST, 0, 1, 2, 1, 1, END);      /* status normal */
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_POWER, 0, 1, 3, 1, 1, END);      /* W */
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_CONST, 0, 1, 4, 1, 1, END);
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_VA, 0, 1, 5, 1, 1, END);         /* VA */
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_CONST, 0, 1, 6, 1, 1, END);
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_PF, 0, 0.01, 8, 1, 1, END);      /* hundredths */
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_CONST, 0, 1, 9, 1, 1, END);
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_ENERGY, 0, 100, 10, 1, 1, END);  /* 0.1 kWh */
        add(b, o_st4_cord, N(o_st4_cord), T_INTEGER, SV_FREQ, 0, 0.1, 11, 1, 1, END);    /* 0.1 Hz */
}

static void build_eaton(builder *b, int outlets)
{
        add(b, o_eaton_in, N(o_eaton_in), T_INTEGER, SV_VA, 0, 1, 3, 0, 1, END);
        add(b, o_eaton_in, N(o_eaton_in), T_INTEGER, SV_POWER, 0, 1, 4, 0, 1, END);
        add(b, o_eaton_in, N(o_eaton_in), T_GAUGE, SV_ENERGY, 0, 1, 5, 0, 1, END);   /* Wh */
        add(b, o_eaton_in, N(o_eaton_in), T_GAUGE, SV_CONST, 1700000000, 1, 6, 0, 1, END);
        add(b, o_eaton_in, N(o_eaton_in), T_INTEGER, SV_PF, 0, 0.001, 7, 0, 1, END); /* thousandths */
        /* inputTable (strap 0, input 1): a three-phase wye input with 3 rows per table. */
        add(b, o_eaton_input, N(o_eaton_input), T_INTEGER, SV_CONST, 4, 1, 2, 0, 1, END); /* threePhaseWye */
        add(b, o_eaton_input, N(o_eaton_input), T_INTEGER, SV_FREQ, 0, 0.1, 3, 0, 1, END); /* 0.1 Hz */
        add(b, o_eaton_input, N(o_eaton_input), T_INTEGER, SV_CONST, 0, 1, 4, 0, 1, END);  /* frequency good */
        for (uint32_t c = 5; c <= 7; c++)
                add(b, o_eaton_input, N(o_eaton_input), T_INTEGER, SV_CONST, 3, 1, c, 0, 1, END); /* row counts */
        for (uint32_t l = 1; l <= 3; l++) {
                int32_t li = (int32_t)l;
                /* inputVoltageTable: phase1toN(2) .. phase3toN(4), mV, status good. */
                add(b, o_eaton_volt, N(o_eaton_volt), T_INTEGER, SV_CONST, li + 1, 1, 2, 0, 1, l, END);
                add(b, o_eaton_volt, N(o_eaton_volt), T_INTEGER, SV_VOLT, li, 0.001, 3, 0, 1, l, END);
                add(b, o_eaton_volt, N(o_eaton_volt), T_INTEGER, SV_CONST, 0, 1, 4, 0, 1, l, END);
                /* inputCurrentTable: phase1(3) .. phase3(5), mA, designator. */
                add(b, o_eaton_amp, N(o_eaton_amp), T_INTEGER, SV_CONST, li + 2, 1, 2, 0, 1, l, END);
                add(b, o_eaton_amp, N(o_eaton_amp), T_INTEGER, SV_AMP, li, 0.001, 4, 0, 1, l, END);
                add(b, o_eaton_amp, N(o_eaton_amp), T_OCTETS, SV_LINE_NAME, li, 1, 12, 0, 1, l, END);
                /* inputPowerTable: phase1(1) .. phase3(3): VA, W, Wh (Unsigned32), Wh timer, PF. */
                add(b, o_eaton_phase, N(o_eaton_phase), T_INTEGER, SV_CONST, li, 1, 2, 0, 1, l, END);
                add(b, o_eaton_phase, N(o_eaton_phase), T_INTEGER, SV_LINE_VA, li, 1, 3, 0, 1, l, END);
                add(b, o_eaton_phase, N(o_eaton_phase), T_INTEGER, SV_LINE_POWER, li, 1, 4, 0, 1, l, END);
                add(b, o_eaton_phase, N(o_eaton_phase), T_GAUGE, SV_LINE_ENERGY, li, 1, 5, 0, 1, l, END);
                add(b, o_eaton_phase, N(o_eaton_phase), T_GAUGE, SV_CONST, 1700000000, 1, 6, 0, 1, l, END);
                add(b, o_eaton_phase, N(o_eaton_phase), T_INTEGER, SV_PF, 0, 0.001, 7, 0, 1, l, END);
        }
        for (int j = 1; j <= outlets; j++)
                add(b, o_eaton_out, N(o_eaton_out), T_INTEGER, SV_OUT_POWER, j, 1, 3, 0, (uint32_t)j, END);
        for (int j = 1; j <= outlets; j++)
                add(b, o_eaton_out, N(o_eaton_out), T_GAUGE, SV_OUT_ENERGY, j, 1, 4, 0, (uint32_t)j, END);
}

static void build_ups(builder *b)
{
        add(b, o_ups, N(o_ups), T_OCTETS, SV_SYSDESCR, 1, 1, 1, 1, 0, END); /* manufacturer */
        add(b, o_ups, N(o_ups), T_OCTETS, SV_SYSDESCR, 2, 1, 1, 2, 0, END); /* model */
        add(b, o_ups, N(o_ups), T_OCTETS, SV_NAME, 0, 1, 1, 5, 0, END);
        add(b, o_ups, N(o_ups), T_INTEGER, SV_CONST, 2, 1, 2, 1, 0, END);   /* battery normal */
        add(b, o_ups, N(o_ups), T_INTEGER, SV_CONST, 0, 1, 2, 2, 0, END);   /* seconds on battery */
        add(b, o_ups, N(o_ups), T_INTEGER, SV_CONST, 30, 1, 2, 3, 0, END);  /* minutes remaining */
        add(b, o_ups, N(o_ups), T_INTEGER, SV_CONST, 100, 1, 2, 4, 0, END); /* charge % */
        add(b, o_ups, N(o_ups), T_INTEGER, SV_CONST, 3, 1, 3, 2, 0, END);   /* input lines */
        for (uint32_t c = 1; c <= 5; c++)
                for (uint32_t l = 1; l <= 3; l++) {
                        sim_val w = c == 1 ? SV_CONST : c == 2 ? SV_FREQ : c == 3 ? SV_VOLT : c == 4 ? SV_IN_AMP
                                                                                             : SV_IN_LINE_POWER;
                        double scale = c == 2 || c == 4 ? 0.1 : 1;
                        add(b, o_ups, N(o_ups), T_INTEGER, w, (int32_t)l, scale, 3, 3, 1, c, l, END);
                }
        add(b, o_ups, N(o_ups), T_INTEGER, SV_CONST, 3, 1, 4, 1, 0, END);   /* output source normal */
        add(b, o_ups, N(o_ups), T_INTEGER, SV_FREQ, 0, 0.1, 4, 2, 0, END);
        add(b, o_ups, N(o_ups), T_INTEGER, SV_CONST, 3, 1, 4, 3, 0, END);   /* output lines */
        for (uint32_t c = 2; c <= 5; c++)
                for (uint32_t l = 1; l <= 3; l++) {
                        sim_val w = c == 2 ? SV_VOLT : c == 3 ? SV_AMP : c == 4 ? SV_LINE_POWER : SV_LOAD_PCT;
                        add(b, o_ups, N(o_ups), T_INTEGER, w, (int32_t)l, c == 3 ? 0.1 : 1, 4, 4, 1, c, l, END);
                }
        add(b, o_ups, N(o_ups), T_INTEGER, SV_RATING_W, 0, 1.25, 9, 5, 0, END); /* VA rating (pf 0.8) */
        add(b, o_ups, N(o_ups), T_INTEGER, SV_RATING_W, 0, 1, 9, 6, 0, END);    /* W rating */
}

int sim_oid_view_build(sim_profile p, int outlets, sim_oid_view *ret)
{
        sim_oid_view v = { NULL, 0 };
        builder b = { &v, 0, 0 };
        build_system(&b);
        switch (p) {
        case SIM_P_APC: build_apc(&b, outlets); break;
        case SIM_P_RARITAN: build_raritan(&b, outlets); break;
        case SIM_P_SENTRY4: build_sentry4(&b); break;
        case SIM_P_EATON: build_eaton(&b, outlets); break;
        case SIM_P_UPSMIB: build_ups(&b); break;
        default: b.err = -EINVAL; break;
        }
        if (b.err) {
                free(v.e);
                return b.err;
        }
        qsort(v.e, v.n, sizeof(*v.e), entry_cmp);
        *ret = v;
        return 0;
}

void sim_oid_view_free(sim_oid_view *v)
{
        if (!v)
                return;
        free(v->e);
        v->e = NULL;
        v->n = 0;
}

long sim_oid_find(const sim_oid_view *v, const uint32_t *oid, size_t len)
{
        size_t lo = 0, hi = v->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = sim_oid_cmp(v->e[mid].oid, v->e[mid].len, oid, len);
                if (c == 0)
                        return (long)mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

size_t sim_oid_next(const sim_oid_view *v, const uint32_t *oid, size_t len)
{
        size_t lo = 0, hi = v->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (sim_oid_cmp(v->e[mid].oid, v->e[mid].len, oid, len) <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static const uint32_t sysoid_apc[] = { 1, 3, 6, 1, 4, 1, 318, 1, 3, 4, 6 };
static const uint32_t sysoid_raritan[] = { 1, 3, 6, 1, 4, 1, 13742, 6 };
static const uint32_t sysoid_sentry4[] = { 1, 3, 6, 1, 4, 1, 1718, 4 };
static const uint32_t sysoid_eaton[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7 };
static const uint32_t sysoid_ups[] = { 1, 3, 6, 1, 2, 1, 33 };

double sim_phase_share(int line)
{
        static const double imbalance[3] = { 0.98, 1.00, 1.02 };
        return line >= 1 && line <= 3 ? imbalance[line - 1] / 3.0 : 0.0;
}

/* RMS voltage of phase `line` (L-N, 230 V nominal, slow noise). */
static double phase_volts(const sim_model *m, const sim_dev *d, int line, int64_t t_ms)
{
        return 230.0 + 2.0 * sim_noise(m->site->seed, (uint64_t)(d - m->site->devs) + 1, 10 + (uint64_t)line - 1,
                                       (double)t_ms / 1000.0, 120.0);
}

static long long clamp_ll(double x, bool integer32)
{
        if (!isfinite(x))
                return -1;
        x = round(x);
        if (integer32) {
                if (x > 2147483647.0)
                        return 2147483647;
                if (x < -2147483648.0)
                        return -2147483647 - 1;
        } else {
                if (x > 4294967295.0)
                        return 4294967295ll;
                if (x < 0)
                        return 0;
        }
        return (long long)x;
}

int sim_oid_value(const sim_model *m, const sim_dev *d, const sim_oid_entry *e, int64_t t_ms, int64_t uptime_cs,
                  long long *ret_int, char *buf, size_t size, uint32_t *ret_oid, size_t *ret_oid_len)
{
        bool int32 = e->type == T_INTEGER;
        bool nan = d->fault.nan, range = d->fault.range;
        double p = d->p_w - d->p_exp_w, pf = 0.98, x = 0;
        int line = e->arg >= 1 && e->arg <= 3 ? e->arg : 1;
        double share = sim_phase_share(line);

        if (range)
                p = -5e6;
        switch ((sim_val)e->what) {
        case SV_CONST:
                *ret_int = e->arg;
                return e->type;
        case SV_SYSDESCR:
                if (e->arg == 1)
                        snprintf(buf, size, "dcem-sim");
                else if (e->arg == 2)
                        snprintf(buf, size, "dcem-sim %s", sim_profile_name(d->profile));
                else
                        snprintf(buf, size, "dcem-sim %s %s (simulated %s)", sim_profile_name(d->profile), d->name,
                                 sim_kind_name(d->kind));
                return e->type;
        case SV_NAME:
                snprintf(buf, size, "%s", d->name);
                return e->type;
        case SV_SITE:
                snprintf(buf, size, "%s", m->site->name);
                return e->type;
        case SV_OUTLET_NAME:
                snprintf(buf, size, "Outlet %d", e->arg);
                return e->type;
        case SV_SYSOID: {
                const uint32_t *o = d->profile == SIM_P_APC       ? sysoid_apc
                                    : d->profile == SIM_P_RARITAN ? sysoid_raritan
                                    : d->profile == SIM_P_SENTRY4 ? sysoid_sentry4
                                    : d->profile == SIM_P_EATON   ? sysoid_eaton
                                                                  : sysoid_ups;
                size_t n = d->profile == SIM_P_APC       ? N(sysoid_apc)
                           : d->profile == SIM_P_RARITAN ? N(sysoid_raritan)
                           : d->profile == SIM_P_SENTRY4 ? N(sysoid_sentry4)
                           : d->profile == SIM_P_EATON   ? N(sysoid_eaton)
                                                         : N(sysoid_ups);
                memcpy(ret_oid, o, n * sizeof(uint32_t));
                *ret_oid_len = n;
                return e->type;
        }
        case SV_UPTIME:
                *ret_int = uptime_cs & 0xFFFFFFFF;
                return e->type;
        case SV_POWER: x = p; break;
        case SV_VA: x = fabs(p) / pf; break;
        case SV_PF: x = pf; break;
        case SV_FREQ: x = 50.0 + 0.02 * sim_noise(m->site->seed, 0, 7, (double)t_ms / 1000.0, 60.0); break;
        case SV_VOLT: x = phase_volts(m, d, line, t_ms); break;
        case SV_LINE_POWER: x = p * share; break;
        case SV_LINE_VA: x = fabs(p) * share / pf; break;
        case SV_IN_LINE_POWER: x = (range ? p : d->p_aux_w) * share; break;
        case SV_AMP: x = fabs(p) * share / (phase_volts(m, d, line, t_ms) * pf); break;
        case SV_IN_AMP: x = fabs(range ? p : d->p_aux_w) * share / (phase_volts(m, d, line, t_ms) * pf); break;
        case SV_LINE_NAME:
                snprintf(buf, size, "L%d", line);
                return e->type;
        case SV_LOAD_PCT:
                /* The line's load against a third of the rating. */
                x = d->rated_kw > 0 ? 100.0 * fabs(p) * share * 3.0 / (d->rated_kw * 1000.0) : 0;
                break;
        case SV_RATING_W: x = d->rated_kw * 1000.0; break;
        case SV_OUT_POWER: {
                int j = e->arg - 1;
                x = j >= 0 && j < d->outlets ? d->out_p_w[j] : 0;
                if (range)
                        x = -5e6;
                break;
        }
        case SV_ENERGY:
        case SV_LINE_ENERGY:
        case SV_OUT_ENERGY: {
                double wh;
                if (e->what == SV_ENERGY)
                        wh = sim_dev_reported_wh(m, d, t_ms);
                else if (e->what == SV_LINE_ENERGY)
                        wh = sim_dev_reported_wh(m, d, t_ms) * share;
                else
                        wh = sim_dev_outlet_energy_wh(m, d, e->arg - 1, t_ms);
                if (range)
                        wh += 1e9;
                if (nan) {
                        *ret_int = int32 ? -1 : 0;
                        return e->type;
                }
                uint32_t raw;
                if (e->what == SV_ENERGY)
                        raw = sim_dev_raw32(d, wh, e->scale);
                else if (e->what == SV_LINE_ENERGY) /* a 32-bit register: wraps */
                        raw = wh > 0 ? (uint32_t)fmod(floor(wh / e->scale), 4294967296.0) : 0;
                else
                        raw = (uint32_t)fmin(4294967295.0, floor(wh / e->scale));
                /* INTEGER counters wrap at 2^31 (they cannot go negative). */
                *ret_int = int32 ? (long long)(raw & 0x7FFFFFFFu) : (long long)raw;
                return e->type;
        }
        default:
                *ret_int = 0;
                return e->type;
        }
        if (nan) {
                *ret_int = -1; /* the "not available" most devices send */
                return e->type;
        }
        *ret_int = clamp_ll(x / e->scale, int32);
        return e->type;
}
