/* sim.h - dcem-sim's private types: the site (what the YAML describes), the
 * physics model that turns simulated time into powers and exact energy
 * counters, and the per-device fault state the protocol servers honour.
 *
 * The model is pure: no I/O, no clocks, no globals. Everything random is a
 * hash of (seed, device, stream, knot), so the state at a simulated instant
 * depends only on the site and on how far it was advanced, never on how often
 * someone looked at it.
 *
 * Power is piecewise constant on a fixed step grid (default 1 s of simulated
 * time, anchored at the Unix epoch); every counter is the exact integral of
 * that power: E(t) = E(t_k) + P_k * (t - t_k). Conservation holds per step by
 * construction:
 *   grid import + on-site PV + green line - export
 *     = IT (equipment input) + UPS and distribution losses + cooling + other.
 */
#ifndef DCEM_SIM_H
#define DCEM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_NAME_MAX 64
#define SIM_MAX_DEVICES 20000
#define SIM_MAX_OUTLETS 48
#define SIM_MAX_FAULTS 1024
#define SIM_UNITS_PER_PORT_MAX 247

typedef enum sim_kind {
        SIM_K_GRID,    /* utility import meter: a share of the site's import */
        SIM_K_EXPORT,  /* export meter: what the site feeds back */
        SIM_K_PV,      /* on-site PV, metered at its output */
        SIM_K_GREEN,   /* direct green-supply line (a contracted block) */
        SIM_K_UPS,     /* UPS: output feeds its IT devices, losses on top */
        SIM_K_IT,      /* rack PDU or rack sub-meter: the IT load */
        SIM_K_COOLING, /* CRAH/chiller feeder: follows IT load and outside air */
        SIM_K_OTHER,   /* lighting and the rest */
        _SIM_K_MAX
} sim_kind;

typedef enum sim_profile {
        SIM_P_SDM630,     /* Modbus, input registers, float32 */
        SIM_P_IEM3000,    /* Modbus, holding registers, INT64 Wh + float32 kW */
        SIM_P_SUNSPEC,    /* Modbus, SunSpec model 1 + 203 (integer + scale factors) */
        SIM_P_SUNSPEC_FLOAT, /* Modbus, SunSpec model 1 + 213 (float32) */
        SIM_P_APC,        /* SNMP, APC rPDU2 (device + outlets) */
        SIM_P_RARITAN,    /* SNMP, Raritan PDU2 (inlet + outlet sensor tables) */
        SIM_P_SENTRY4,    /* SNMP, ServerTech Sentry4 (input cords) */
        SIM_P_EATON,      /* SNMP, Eaton ePDU (input + outlets) */
        SIM_P_UPSMIB,     /* SNMP, UPS-MIB (RFC 1628) */
        SIM_P_PM5000,     /* Modbus, Schneider PM5xxx: the iEM3000's "3000 block" map */
        _SIM_P_MAX
} sim_profile;

const char *sim_kind_name(sim_kind k);
const char *sim_profile_name(sim_profile p);       /* YAML name, e.g. "sunspec-float" */
const char *sim_profile_agent_name(sim_profile p); /* dcem-agent profile, e.g. "sunspec" */
bool sim_profile_is_snmp(sim_profile p); /* SIM_P_APC .. SIM_P_UPSMIB */
int sim_kind_from_name(const char *s);    /* index or -1 */
int sim_profile_from_name(const char *s); /* index or -1 */

typedef enum sim_fault_kind {
        SIM_F_NONE,
        SIM_F_SILENT,    /* stop answering */
        SIM_F_SLOW,      /* answer after delay_ms */
        SIM_F_EXCEPTION, /* Modbus exception `code`; SNMP: genErr */
        SIM_F_RESET,     /* counter restarts at 0 (meter replaced) */
        SIM_F_WRAP,      /* counter preset so its 32-bit register wraps soon */
        SIM_F_NAN,       /* garbage: NaN floats, "not implemented" sentinels */
        SIM_F_RANGE,     /* garbage: absurd values (negative power, 1e9 kWh) */
        _SIM_F_MAX
} sim_fault_kind;

const char *sim_fault_name(sim_fault_kind k);
int sim_fault_from_name(const char *s); /* index or -1 */

/* A fault scheduled by the YAML: applies from `at_ms` (simulated time since
 * the start) for `dur_ms` (0 = until cleared). */
typedef struct sim_fault_spec {
        int dev;
        sim_fault_kind kind;
        int64_t at_ms, dur_ms;
        int64_t delay_ms; /* SLOW */
        int code;         /* EXCEPTION */
        bool started, ended;
} sim_fault_spec;

/* Live fault state of one device (set by the schedule or the control socket;
 * read by the protocol servers under the sim lock). Counter faults persist
 * after clearing: a replaced meter stays replaced. */
typedef struct sim_fault_state {
        bool silent;
        int64_t delay_ms;
        int exception;      /* 0 none, else the Modbus exception code */
        bool nan, range;
        double reset_base_wh;     /* reported = true - base (RESET) */
        double reset_base_exp_wh;
        bool wrap;                /* WRAP active */
        double wrap_at_wh;        /* reported energy when WRAP was set */
        uint32_t wrap_margin;     /* raw units left before 2^32 at that time */
        uint64_t resets, wraps;   /* how many were injected (for status) */
} sim_fault_state;

typedef struct sim_dev {
        char name[SIM_NAME_MAX];
        sim_kind kind;
        sim_profile profile;
        double rated_kw;  /* IT: mean load; UPS: rating; PV: kWp; GREEN: block;
                             COOLING: rating (fans 5 % of it); OTHER: base load */
        double weight;    /* GRID: share of import; COOLING: share of cooling */
        int ups;          /* IT: index of the feeding UPS, or -1 */
        int outlets;      /* IT: metered outlets, 0..SIM_MAX_OUTLETS */
        /* Placement (filled by the site loader; ports by the servers): */
        bool own_port;    /* Modbus: a port of its own instead of a gateway */
        int unit;         /* Modbus unit id */
        int port_index;   /* Modbus: index of its listening port */
        int port;         /* bound TCP (Modbus) or UDP (SNMP) port */
        int w_sf;         /* SunSpec 203: power scale factor, fixed at setup */
        /* Physics state: powers of the current step (W), energies at its start (Wh). */
        double p_w, p_exp_w, p_aux_w;   /* aux: UPS input power, IT outlet sum */
        double e_wh, e_exp_wh, e_aux_wh;
        double *out_weight, *out_p_w, *out_e_wh; /* IT outlets (owned) */
        sim_fault_state fault;
        /* Protocol counters (the servers, under the runtime lock): requests
         * received for this device, Modbus exceptions answered. */
        uint64_t mb_requests, mb_exceptions, snmp_requests;
} sim_dev;

/* How a simulated Modbus meter answers a read that covers a register its map
 * does not define but that lies inside the map's span (sim_regs.h): with
 * exception 2 (the default), or with zeros, like meters that answer reads
 * across undocumented registers. Which a real model does depends on its
 * firmware. Reads reaching outside the span are refused either way. */
typedef enum sim_holes {
        SIM_HOLES_EXCEPTION,
        SIM_HOLES_ZERO,
        _SIM_HOLES_MAX
} sim_holes;

const char *sim_holes_name(sim_holes h);   /* "exception", "zero" */
int sim_holes_from_name(const char *s);    /* index or -1 */

typedef struct sim_site {
        char name[SIM_NAME_MAX];
        double latitude, longitude;
        uint64_t seed;
        int64_t step_ms;          /* integration step; divides record_ms */
        int64_t record_ms;        /* truth cadence (UTC grid) */
        double carbon_factor;     /* kgCO2/kWh, location-based */
        double t_mean_c, t_amp_c; /* outside air */
        double it_daily_amp, it_noise;
        double cable_loss;        /* distribution loss, fraction of PDU input */
        double ups_l0, ups_l1, ups_l2; /* UPS loss = R*(l0 + l1 x + l2 x^2), x = load/R */
        int units_per_port;       /* Modbus gateway size */
        sim_holes modbus_holes;   /* reads over undefined registers inside a map's span */
        char snmp_community[64];
        char snmp_user[64], snmp_auth_pass[64], snmp_priv_pass[64];
        sim_dev *devs;
        size_t ndevs;
        sim_fault_spec *faults;
        size_t nfaults;
        int nports;               /* Modbus listening ports (after placement) */
} sim_site;

void sim_site_defaults(sim_site *s);
void sim_site_free(sim_site *s); /* frees devices and faults; s itself is the caller's */
/* Add a device (copies name; allocates outlets). 0, -EINVAL (bad args), -E2BIG, -ENOMEM. */
int sim_site_add(sim_site *s, const char *name, sim_kind kind, sim_profile prof, double rated_kw,
                 double weight, int ups, int outlets, sim_dev **ret_dev);
int sim_site_find(const sim_site *s, const char *name); /* index or -1 */
/* Assign Modbus units and ports: devices with own_port get a port each; the
 * others fill gateways of units_per_port units. Explicit units are kept when
 * unique in their gateway. Sets s->nports. 0 or -EINVAL. */
int sim_site_place(sim_site *s);
/* A generated site of n devices (n >= 12): 2 grid meters, export, PV, green
 * line, UPSes, cooling, other, and IT feeds, about 80 % Modbus sub-meters and
 * 20 % SNMP PDUs. 0, -EINVAL, -ENOMEM. */
int sim_site_generate(sim_site *s, size_t n, uint64_t seed);
/* Give every Modbus device a port of its own (no gateways) and place the
 * site again: --own-ports, so a benchmark polls separate TCP meters.
 * 0 or -EINVAL. */
int sim_site_own_ports(sim_site *s);

/* Totals per role (Wh), cumulative. */
typedef struct sim_totals {
        double grid_import, grid_export, onsite, green;
        double it1, it2, it3;   /* IT at UPS output / PDU input / equipment input */
        double ups_loss, dist_loss, cooling, other;
} sim_totals;

typedef struct sim_model {
        sim_site *site;   /* not owned */
        int64_t t0_ms;    /* simulated start */
        int64_t tk_ms;    /* start of the current step */
        sim_totals pk;    /* powers of the current step (W) */
        sim_totals ek;    /* energies at tk (Wh) */
        double t_out_c;   /* outside air in this step */
        double sun;       /* sin(elevation) in this step, clipped at 0 */
        double *scratch;  /* per-UPS output sums */
} sim_model;

/* Start the model at t_ms (rounded down to the step grid): all counters 0,
 * powers of the first step computed. 0, -EINVAL, -ENOMEM. */
int sim_model_init(sim_model *m, sim_site *site, int64_t t_ms);
void sim_model_fini(sim_model *m);
/* Advance to the step containing t_ms (never backwards). If on_step_end is
 * given it is called at each record boundary (multiple of record_ms) crossed,
 * with the model standing exactly at the boundary. */
void sim_model_advance(sim_model *m, int64_t t_ms, void (*on_boundary)(sim_model *m, void *arg), void *arg);

/* True cumulative energies at t_ms (>= tk, < tk + step) and powers. */
double sim_dev_energy_wh(const sim_model *m, const sim_dev *d, int64_t t_ms);
double sim_dev_energy_exp_wh(const sim_model *m, const sim_dev *d, int64_t t_ms);
double sim_dev_energy_aux_wh(const sim_model *m, const sim_dev *d, int64_t t_ms);
double sim_dev_outlet_energy_wh(const sim_model *m, const sim_dev *d, int j, int64_t t_ms);
void sim_model_totals(const sim_model *m, int64_t t_ms, sim_totals *ret);

/* What the device's meter shows (faults applied: reset base). */
double sim_dev_reported_wh(const sim_model *m, const sim_dev *d, int64_t t_ms);
double sim_dev_reported_exp_wh(const sim_model *m, const sim_dev *d, int64_t t_ms);
/* A 32-bit raw counter of `wh` in units of unit_wh, with the WRAP fault applied. */
uint32_t sim_dev_raw32(const sim_dev *d, double wh, double unit_wh);

/* Apply or clear a fault at model time t_ms. */
void sim_fault_apply(sim_model *m, sim_dev *d, sim_fault_kind k, int64_t delay_ms, int code, int64_t t_ms);
void sim_fault_clear(sim_dev *d); /* clears live faults (not the counter offsets) */

/* Pure helpers, exposed for tests. */
double sim_sun_sin_elevation(double t_unix_s, double lat_deg, double lon_deg);
double sim_noise(uint64_t seed, uint64_t dev, uint64_t stream, double t_s, double period_s); /* [-1, 1] */

#endif
