/* accounting.h - energy accounting: counters to energy, energy to 15-minute
 * intervals on the UTC grid, intervals to roll-ups, roll-ups to figures (PUE,
 * pPUE, REF, carbon location- and market-based, CUE, carbon per unit of
 * compute). /work/shared/METRICS.md (docs/METRICS.md) is the reference.
 *
 * Pure code: no I/O and no clock reads; every time is passed in (UTC ns).
 * The engine (agent/accounting.c) turns readings into interval records; the
 * roll-up (agent/rollup.c) sums interval records into hours, days, months,
 * rolling 12 months and calendar years; the figures (agent/figures.c) are
 * always ratios of energy sums over one window (rule 1), never averages of
 * ratios. Persistence is agent/state.c (dcem/state.h).
 */
#ifndef DCEM_ACCOUNTING_H
#define DCEM_ACCOUNTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/config.h"
#include "dcem/sample.h"
#include "dcem/schema.h"

/* ---- configuration (the `accounting:` block, agent/accounting_schema.c) ---- */

/* METRICS.md's official defaults: China grid, data year 2023 (CO2 only). */
#define DCEM_CN_GRID_FACTOR 0.5306
#define DCEM_CN_RESIDUAL_FACTOR 0.6096
#define DCEM_CN_FACTOR_SOURCE \
        "MEE and NBS announcement 2025 No. 47 (China grid CO2 emission factors, data year 2023), national average"
#define DCEM_CN_RESIDUAL_SOURCE \
        "MEE and NBS announcement 2025 No. 47, national average excluding market-traded non-fossil power"

typedef struct dcem_acct_carbon_conf {
        double grid_factor;        /* kg per kWh, location-based */
        int64_t grid_factor_year;  /* data year of the factor */
        char *region;              /* e.g. "CN national" */
        char *source;              /* citation of the factor */
        double residual_factor;    /* kg per kWh, market-based residual */
        char *residual_source;
        char *gas;                 /* "CO2" or "CO2e": the unit label is kg<gas> */
        char *table;               /* a factor table (conf/factors/NAME.yaml or a path) the values
                                      above came from, as its id; NULL = the inline keys only */
        char *factors_dir;         /* where table names are looked up (NULL = the defaults) */
} dcem_acct_carbon_conf;

/* Factor tables (agent/accounting_schema.c): YAML files, one per table, with
 * their id, source, data year, gas (CO2 or CO2e), unit kg/kWh, a factor per
 * region and a market-based residual factor. `accounting.carbon.table: NAME`
 * reads FACTORS_DIR/NAME.yaml, where FACTORS_DIR is carbon.factors_dir, or
 * else the config file's directory + "/factors", then DCEM_FACTORS_DIR; a
 * value with a '/' is a path (relative to the config file). The default table
 * cn-mee-2023 is also built in. Values of the table fill the carbon block;
 * keys given explicitly in the block (grid_factor, residual_factor, sources,
 * year, gas) override it. */
#define DCEM_FACTOR_TABLE_DEFAULT "cn-mee-2023"
/* The YAML text of a built-in table, or NULL. */
const char *dcem_factor_table_builtin(const char *id);
/* Load a table (a file path, or "builtin:ID") and fill *c with its values for
 * region (NULL = the table's default region): grid_factor, grid_factor_year,
 * region, source, residual_factor, residual_source, gas, table (strings
 * malloc'd, replacing (and freeing) what c held; c untouched on failure).
 * Errors go to diag as FILE:LINE:COL (an unknown region at region_at, the
 * configuration's node, when given). 0, -ENOENT (no such file, nothing added
 * to diag), -ESRCH (no such region), -EINVAL (not a valid table), -ENOMEM. */
int dcem_factor_table_apply(const char *path, const char *region, const dcem_node *region_at,
                            dcem_acct_carbon_conf *c, dcem_diag *diag);

typedef struct dcem_acct_contract_conf {
        char *name;
        char *from;                /* "YYYY-MM": first month covered */
        char *to;                  /* "YYYY-MM": last month covered (NULL = from) */
        double kwh;                /* contracted green kWh per month, or 0 */
        double share;              /* share of grid import, 0..1, or 0 */
} dcem_acct_contract_conf;

typedef struct dcem_acct_cert_conf {
        char *serial_first;        /* [PREFIX]DIGITS (<= 18 digits) */
        char *serial_last;         /* same prefix, >= first */
        char *vintage;             /* "YYYY-MM": the month the certificates apply to */
        double kwh_each;           /* default 1000 (one Chinese GEC) */
} dcem_acct_cert_conf;

/* A functional unit R of carbon per unit of compute (SCI): a cumulative
 * counter point published by devices, turned into units by x scale / divisor
 * (cpu_core_seconds / 3600 = CPU core-hours). */
typedef struct dcem_acct_unit_conf {
        char *name;                /* "cpu_core_hour", "gpu_hour", "job", ... */
        char *point;               /* the counter, e.g. "cpu_core_seconds", "jobs_done" */
        dcem_strlist devices;      /* devices publishing it; empty = every device with a host block */
        double scale;              /* default 1 */
        double divisor;            /* default 1 */
} dcem_acct_unit_conf;

#define DCEM_ACCT_MAX_UNITS 8      /* functional units declared, at most */

/* Compute counters of other agents' hosts, received over MQTT: each host
 * agent publishes its host collector's points as device messages
 * (<prefix>/<site>/devices/<device>); the facility agent subscribes to
 * `topic` and counts the declared hosts' counters into the functional units
 * like a local host device's (agent/compute_remote.c). */
#define DCEM_ACCT_MAX_REMOTE_HOSTS 1024

typedef struct dcem_acct_remote_conf {
        char *topic;               /* MQTT filter the host messages arrive on (default dcem/+/devices/+) */
        dcem_strlist hosts;        /* "SITE/DEVICE" of each host expected; empty = no remote compute */
        int64_t interval_ns;       /* the hosts' poll interval: expected readings per record interval */
} dcem_acct_remote_conf;

typedef struct dcem_acct_compute_conf {
        char *cpu_core_hours;      /* source of the core-hour counter ("host" device, ...), or NULL */
        double embodied_kgco2;     /* total embodied emissions M of the hardware, 0 = not included */
        int64_t lifetime_ns;       /* lifetime over which M is spread */
        dcem_list units;           /* of dcem_acct_unit_conf; empty = the defaults (cpu_core_hour, gpu_hour
                                      from the host devices) */
        dcem_acct_remote_conf remote;
} dcem_acct_compute_conf;

/* Live carbon intensity (e.g. WattTime's marginal MOER) arriving as
 * messages on an MQTT topic: for the real-time view only, never for
 * accounting (METRICS.md: official average factors for accounting). */
typedef enum dcem_live_unit {
        DCEM_LIVE_G_PER_KWH,       /* "g/kWh" (also kg/MWh) */
        DCEM_LIVE_LBS_PER_MWH,     /* "lbs/MWh" (WattTime): x 0.4536 */
        DCEM_LIVE_KG_PER_KWH,      /* "kg/kWh": x 1000 */
} dcem_live_unit;

typedef struct dcem_acct_live_conf {
        char *topic;               /* NULL: no live intensity */
        int unit;                  /* dcem_live_unit */
        int kind;                  /* 0 marginal, 1 average */
        int gas;                   /* 0 CO2, 1 CO2e */
        char *source;              /* a label, e.g. "WattTime MOER CAISO_NORTH" */
        int64_t max_age_ns;        /* older values are stale (default 15 min) */
} dcem_acct_live_conf;

typedef struct dcem_acct_targets_conf {
        double pue_max;            /* 0 = no target */
        double green_share_min;    /* 0 = no target */
} dcem_acct_targets_conf;

/* The certification ledger (METRICS.md rule 9; agent/ledger.c, docs/LEDGER.md). */
typedef struct dcem_acct_ledger_conf {
        bool enabled;              /* default true */
        char *key_file;            /* Ed25519 private key (PEM); NULL: chained, not signed */
        int64_t sign_every;        /* sign every Nth entry; default 1 */
        bool fsync;                /* fsync each entry before the record is published; default true */
} dcem_acct_ledger_conf;

typedef struct dcem_acct_conf {
        int64_t record_interval_ns;   /* default 15 min; must divide one hour */
        double completeness_threshold;/* default 0.95 */
        int64_t realtime_window_ns;   /* default 5 min */
        int64_t close_delay_ns;       /* wait for late readings before closing an interval; default 1 min */
        int64_t max_bridge_ns;        /* longest gap a counter delta may bridge; default 7 days; also
                                         bounded by 4096 open intervals and 2^20 intervals x devices */
        dcem_acct_carbon_conf carbon;
        dcem_list green_contracts;    /* of dcem_acct_contract_conf */
        dcem_list certificates;       /* of dcem_acct_cert_conf */
        dcem_acct_compute_conf compute;
        dcem_acct_targets_conf targets;
        dcem_acct_live_conf live_intensity;
        dcem_acct_ledger_conf ledger;
} dcem_acct_conf;

extern const dcem_schema dcem_accounting_schema;

/* Fill conf with the built-in defaults (what the schema gives an empty block).
 * Strings point at static text: do not dcem_schema_free such a conf. */
void dcem_acct_conf_defaults(dcem_acct_conf *conf);

/* ---- accounts and sums ---- */

typedef enum dcem_acct_account {
        DCEM_ACC_GRID_IMPORT,
        DCEM_ACC_EXPORT,
        DCEM_ACC_ONSITE_RENEWABLE,
        DCEM_ACC_GREEN_SUPPLY,
        DCEM_ACC_IT1,              /* IT energy, PUE category 1 (UPS output) */
        DCEM_ACC_IT2,              /* category 2 (PDU output) */
        DCEM_ACC_IT3,              /* category 3 (IT equipment input) */
        DCEM_ACC_COOLING,
        DCEM_ACC_OTHER,
        /* Not energy: the amounts of the functional units of compute (R of
         * SCI), unit k in DCEM_ACC_UNIT0 + k, summed like energy. */
        DCEM_ACC_UNIT0,
        DCEM_ACC_UNIT_LAST = DCEM_ACC_UNIT0 + DCEM_ACCT_MAX_UNITS - 1,
        _DCEM_ACC_MAX
} dcem_acct_account;

#define DCEM_ACC_ENERGY_MAX DCEM_ACC_UNIT0 /* accounts below this are kWh */

const char *dcem_acct_account_name(dcem_acct_account a); /* "grid_import", ..., "it_cat1", ..., "unit0" */

/* Energy sums over one window: one interval, or a roll-up of intervals. */
typedef struct dcem_acct_sums {
        int64_t start_ns, end_ns;  /* the window [start, end) */
        int64_t covered_ns;        /* total length of the intervals summed (<= window) */
        uint64_t n_intervals;
        double kwh[_DCEM_ACC_MAX];
        double est_kwh[_DCEM_ACC_MAX]; /* the estimated part of kwh[] (integrated power, late energy) */
        double readings_taken;     /* per device capped at expected */
        double readings_expected;
        double late_kwh;           /* energy that arrived after its interval closed (placed here, estimated) */
        uint64_t events;           /* counter anomalies recorded in the window */
        uint32_t it_categories;    /* bit c set: an IT device of category c (1..3) is configured */
        /* Market instruments claimed for the window (see dcem_fig_ref): */
        double contract_kwh;       /* green-power contracts */
        double cert_kwh;           /* certificates applied from the ledger */
        bool instruments_final;    /* false: month not closed, kWh contracts provisional, certificates not yet applied */
        unsigned months_with_data; /* multi-month windows: months with intervals (annual needs 12 consecutive) */
        /* The compute denominator's readings: per compute source (a device or
         * remote host whose counters a functional unit counts), readings taken
         * (capped at expected) and expected; both 0 when no unit is declared. */
        double compute_taken, compute_expected;
        /* Real-time view only (0 in every other window): per account, the part
         * of the window its readings cover (the longest of its devices'); a
         * mean load is kwh[] over this, not over the whole window, which the
         * readings of a starting agent or a silent meter do not fill. */
        int64_t rt_covered_ns[_DCEM_ACC_MAX];
} dcem_acct_sums;

/* E_DC per METRICS.md rule 5: grid import + green supply + on-site generation - export. */
double dcem_acct_sums_edc(const dcem_acct_sums *s);
double dcem_acct_sums_edc_est(const dcem_acct_sums *s);
/* E_IT of a category 1..3. */
double dcem_acct_sums_it(const dcem_acct_sums *s, int category);
/* taken/expected x covered/window: missing intervals count as missing readings. 0..1. */
double dcem_acct_sums_completeness(const dcem_acct_sums *s);
/* Completeness of the compute denominator: compute_taken/compute_expected x
 * covered/window, 0..1; NaN when no compute source is counted. */
double dcem_acct_sums_compute_completeness(const dcem_acct_sums *s);
/* Add b's energies, readings and claims into a (the window of a is kept). */
void dcem_acct_sums_add(dcem_acct_sums *a, const dcem_acct_sums *b);

/* ---- UTC calendar (agent/rollup.c) ---- */

/* Month index: year*12 + (month-1). */
int64_t dcem_month_of(int64_t utc_ns);
int64_t dcem_month_start_ns(int64_t month_idx);
int dcem_month_from_str(const char *yyyy_mm, int64_t *ret_month_idx); /* "2026-02": 0 or -EINVAL */
void dcem_month_to_str(int64_t month_idx, char buf[static 16]);
/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t dcem_days_from_civil(int64_t y, unsigned m, unsigned d);
void dcem_civil_from_days(int64_t days, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d);

/* ---- roll-ups (agent/rollup.c) ---- */

typedef enum dcem_window_kind {
        DCEM_WIN_INTERVAL,
        DCEM_WIN_HOUR,
        DCEM_WIN_DAY,
        DCEM_WIN_MONTH,
        DCEM_WIN_ROLLING12,        /* 12 calendar months ending with the last closed month */
        DCEM_WIN_YEAR,             /* calendar year */
        DCEM_WIN_REALTIME,         /* the last minutes: operator view */
        _DCEM_WIN_MAX
} dcem_window_kind;

const char *dcem_window_name(dcem_window_kind k); /* "interval", "hour", ..., "rolling_12_months", "year", "realtime" */

#define DCEM_ROLLUP_MONTHS 25  /* closed months kept: this year and last, and rolling 12 */

typedef struct dcem_rollup {
        dcem_acct_sums hour, day, month; /* open windows (n_intervals may be 0) */
        bool open;                       /* hour/day/month hold a window */
        dcem_acct_sums months[DCEM_ROLLUP_MONTHS]; /* closed months, ring by month index */
        bool month_valid[DCEM_ROLLUP_MONTHS];
        int64_t last_closed_month;       /* month index, or INT64_MIN */
} dcem_rollup;

typedef struct dcem_rollup_hooks {
        /* A window closed. For DCEM_WIN_MONTH, s may be edited (the market
         * instruments claimed) before it is stored. */
        void (*closed)(void *ud, dcem_window_kind kind, dcem_acct_sums *s);
        void *ud;
} dcem_rollup_hooks;

void dcem_rollup_init(dcem_rollup *r);
/* Add one closed interval (interval windows must not cross an hour). Closes
 * the hour, day, month it completes, calling hooks->closed (may be NULL).
 * 0, or -EINVAL for an interval older than the open windows. */
int dcem_rollup_add(dcem_rollup *r, const dcem_acct_sums *interval, const dcem_rollup_hooks *hooks);
/* A closed month's sums (ring), or the open month. 0 or -ENOENT. */
int dcem_rollup_month(const dcem_rollup *r, int64_t month_idx, dcem_acct_sums *ret);
/* Sum of the months first..last (inclusive), window = their full length;
 * months missing from the ring add nothing (their absence lowers
 * completeness). instruments_final is false if the open month is included. */
void dcem_rollup_months(const dcem_rollup *r, int64_t first_month, int64_t last_month, dcem_acct_sums *ret);

/* ---- the engine (agent/accounting.c) ---- */

typedef enum dcem_acct_source {
        DCEM_SRC_AUTO,    /* the counter once one has been seen, power until then */
        DCEM_SRC_COUNTER, /* energy_kwh / energy_export_kwh only */
        DCEM_SRC_POWER,   /* power_kw integrated (trapezoid), estimated */
} dcem_acct_source;

typedef struct dcem_acct_device {
        const char *name;          /* copied */
        dcem_role role;
        int pue_category;          /* 1..3 with DCEM_ROLE_IT, else 0 */
        double rated_kw;           /* 0 = unknown (no jump check) */
        int64_t poll_interval_ns;  /* > 0: expected readings per interval = interval / this */
        unsigned counter_bits;     /* 16, 32, 64: register width for wrap; 0 = not a register (float) */
        double counter_scale_kwh;  /* kWh per count (wrap modulus, resolution); 0 = 1 kWh per count */
        double jump_factor;        /* delta > rated_kw x hours x factor + resolution is a jump; 0 = 1.5 */
        dcem_acct_source source;
        /* Set by dcem_acct_add_unit only (0 in a device spec): */
        unsigned unit;             /* 1 + unit index: a compute counter, not a device */
        double unit_scale;         /* units per count */
} dcem_acct_device;

typedef enum dcem_acct_event_kind {
        DCEM_EV_WRAP,         /* counter wrapped at its width: counted modulo 2^bits (exact) */
        DCEM_EV_RESET,        /* counter went down: reset or meter replaced: not counted */
        DCEM_EV_JUMP,         /* delta beyond rated_kw x elapsed: not counted */
        DCEM_EV_CLOCK_BACK,   /* a reading stamped before the previous one: not counted */
        DCEM_EV_CLOCK_STEP,   /* the caller reported a wall-clock step: baselines dropped */
        DCEM_EV_GAP,          /* a gap too long to bridge (power or counter): not counted */
        DCEM_EV_LATE,         /* energy for intervals already closed: placed in the oldest open one, estimated */
        DCEM_EV_INVALID,      /* negative, NaN or infinite reading: ignored */
        DCEM_EV_RESUMED,      /* first reading after a restart bridged the downtime */
        _DCEM_EV_MAX
} dcem_acct_event_kind;

const char *dcem_acct_event_name(dcem_acct_event_kind k);

typedef struct dcem_acct_event {
        dcem_acct_event_kind kind;
        const char *device;        /* borrowed during the callback */
        const char *point;
        int64_t prev_ts_ns, ts_ns;
        double prev_value, value;
        double kwh;                /* energy counted from this delta (0 when not counted) */
} dcem_acct_event;

typedef struct dcem_acct_dev_stat {
        const char *device;        /* borrowed during the callback */
        dcem_role role;
        int pue_category;
        double kwh;                /* into its role's account */
        double export_kwh;         /* from energy_export_kwh */
        double est_kwh;            /* estimated part of kwh + export_kwh */
        double late_kwh;
        uint32_t taken;            /* good readings of its energy point in the interval */
        double expected;           /* interval / poll interval */
        double completeness;       /* min(1, taken / expected) */
        uint32_t events;
} dcem_acct_dev_stat;

/* One compute source of an interval: a device (or remote host) whose
 * counters functional units count. Its readings are those of any of its
 * counters (a host without GPUs never publishes gpu_busy_seconds: its
 * cpu_core_seconds readings count). */
typedef struct dcem_acct_src_stat {
        const char *source;        /* borrowed during the callback */
        double taken, expected, completeness;
} dcem_acct_src_stat;

typedef struct dcem_acct_interval {
        uint64_t seq;              /* 0, 1, 2, ... persisted across restarts */
        dcem_acct_sums sums;       /* start/end are the interval; share contracts claimed */
        size_t ndev;
        const dcem_acct_dev_stat *dev; /* borrowed during the callback */
        size_t nsrc;
        const dcem_acct_src_stat *src; /* borrowed during the callback */
} dcem_acct_interval;

typedef struct dcem_acct_hooks {
        void (*interval)(void *ud, const dcem_acct_interval *iv);          /* a closed interval */
        void (*rollup)(void *ud, dcem_window_kind kind, const dcem_acct_sums *s); /* a closed hour/day/month */
        void (*event)(void *ud, const dcem_acct_event *ev);               /* a counter anomaly */
        void *ud;
} dcem_acct_hooks;

typedef struct dcem_acct dcem_acct;

#define DCEM_ACCT_MAX_DEVICES 4096

/* conf is copied except the lists (contracts, certificates) and strings,
 * which are borrowed and must outlive the engine. hooks may be NULL.
 * 0, -EINVAL (a record interval not dividing one hour, a bad threshold, a
 * bad contract or certificate month or serial), -ENOMEM. */
int dcem_acct_new(const dcem_acct_conf *conf, const dcem_acct_hooks *hooks, dcem_acct **ret);
void dcem_acct_free(dcem_acct *a); /* accepts NULL */

/* Register a device (before the first feed/advance/state load). 0, -EINVAL
 * (bad spec), -EEXIST, -EBUSY (already started), -E2BIG, -ENOMEM. */
int dcem_acct_add_device(dcem_acct *a, const dcem_acct_device *dev);

/* Count a compute counter into functional unit k (0..DCEM_ACCT_MAX_UNITS-1):
 * the cumulative `point` of `device` (which need not be an accounted device;
 * a remote host is "SITE/DEVICE", < 2 x DCEM_NAME_MAX), times scale, into
 * account DCEM_ACC_UNIT0 + k of every interval, split in proportion to time
 * like energy (a drop is a reset, not counted; a gap beyond max_bridge is not
 * counted; events as for energy, named "DEVICE#POINT"). `device` becomes a
 * compute source: its readings (of any of its counters, at most one per
 * stamp) are taken against interval / poll_interval_ns expected, into the
 * interval's compute completeness, and an interval waits for every source
 * to read past its end (at most close_delay), as for energy devices. Before
 * the first feed. 0, -EINVAL, -EEXIST (that device and point already
 * counted), -EBUSY, -E2BIG, -ENOMEM. */
int dcem_acct_add_unit(dcem_acct *a, unsigned k, const char *device, const char *point, double scale,
                       int64_t poll_interval_ns);

/* Feed one reading. point: "energy_kwh", "energy_export_kwh" (counters,
 * unit kWh/Wh/MWh) or "power_kw" (gauge, kW/W/MW); other points are ignored
 * (0). Only DCEM_Q_GOOD and DCEM_Q_ESTIMATED readings are used.
 * 0, -ENOENT (unknown device), -EINVAL (unit), -E2BIG (open intervals beyond
 * max_bridge), -ENOMEM. Anomalies are events, not errors. */
int dcem_acct_feed(dcem_acct *a, const char *device, const char *point, double value,
                   const char *unit, int64_t ts_ns, dcem_quality quality);
/* Feed every sample of a batch; returns the first error, after trying all. */
int dcem_acct_feed_batch(dcem_acct *a, const dcem_batch *b);

/* Close every interval whose end has passed: an interval [s, e) closes when
 * now >= e and either every device has a reading at or after e, or
 * now >= max(e, resume) + close_delay. Calls hooks for each interval and each
 * hour/day/month it completes. 0 or -ENOMEM. */
int dcem_acct_advance(dcem_acct *a, int64_t now_ns);

/* The wall clock stepped (the caller compares monotonic and UTC time): every
 * baseline is dropped, so no delta spans the step (one event per device). */
void dcem_acct_clock_step(dcem_acct *a, int64_t now_ns);

/* Sums of a window: INTERVAL = last closed interval; HOUR/DAY = the open
 * ones; MONTH = the month containing ref_ns (closed or open); ROLLING12 = the
 * 12 months ending with the last month closed at ref_ns; YEAR = the calendar
 * year containing ref_ns; REALTIME = the last realtime_window before ref_ns,
 * from the devices' counted energy. 0, -ENOENT (nothing yet), -EINVAL. */
int dcem_acct_window(const dcem_acct *a, dcem_window_kind kind, int64_t ref_ns, dcem_acct_sums *ret);

/* The newest reading stamp of a compute source's counters (restored from a
 * state too): remote messages at or before it are already counted. 0 or
 * -ENOENT (no such source, or none of its counters read yet). */
int dcem_acct_source_last_ts(const dcem_acct *a, const char *source, int64_t *ret_ts);

/* Counters of anomalies since creation, per kind. */
uint64_t dcem_acct_event_count(const dcem_acct *a, dcem_acct_event_kind k);
size_t dcem_acct_ndevices(const dcem_acct *a);
const dcem_acct_conf *dcem_acct_config(const dcem_acct *a);

/* ---- certificates ledger (agent/figures.c) ---- */

typedef struct dcem_cert_entry {
        char prefix[24];
        uint64_t first, last;      /* serial numbers, inclusive */
        int64_t month;             /* month index it was applied to */
        double kwh;                /* kWh claimed with these serials */
} dcem_cert_entry;

#define DCEM_LEDGER_MAX 65536

typedef struct dcem_cert_ledger {
        dcem_cert_entry *e;
        size_t n, cap;
} dcem_cert_ledger;

void dcem_cert_ledger_free(dcem_cert_ledger *l); /* frees the entries; l stays usable */
/* Parse "[PREFIX]DIGITS" into a prefix and a number. 0 or -EINVAL. */
int dcem_cert_serial_parse(const char *s, char prefix[static 24], uint64_t *ret_num);
/* Was this serial applied (to any month)? ret_month gets the month (may be NULL). */
bool dcem_cert_ledger_applied(const dcem_cert_ledger *l, const char *prefix, uint64_t serial, int64_t *ret_month);
/* Apply the certificates of vintage `month` that are not in the ledger yet,
 * whole certificates only, in config order, while the remaining claimable kWh
 * allow a whole one. Records the serials. *ret_kwh = kWh applied now.
 * 0, -EINVAL (bad serial), -E2BIG (ledger full), -ENOMEM. */
int dcem_cert_ledger_apply(dcem_cert_ledger *l, const dcem_acct_cert_conf *certs, size_t n, int64_t month,
                           double claimable_kwh, double *ret_kwh);
/* kWh of certificates the ledger holds for a month. */
double dcem_cert_ledger_month_kwh(const dcem_cert_ledger *l, int64_t month);
/* Append an entry (state loading). Refuses an overlap: 0, -EEXIST, -E2BIG, -ENOMEM. */
int dcem_cert_ledger_add(dcem_cert_ledger *l, const dcem_cert_entry *e);

/* Contracted green kWh for a window inside one month: share x grid plus (when
 * whole_month) the monthly kWh of the contracts covering it, capped at
 * claimable. Pure. */
double dcem_contracts_claim(const dcem_acct_contract_conf *c, size_t n, int64_t month, double grid_kwh,
                            double claimable_kwh, bool whole_month);

/* ---- figures (agent/figures.c) ---- */

typedef enum dcem_fig_label {
        DCEM_LABEL_ANNUAL,    /* 12 consecutive months at or above the completeness threshold */
        DCEM_LABEL_INTERIM,   /* anything shorter, or incomplete */
        DCEM_LABEL_REALTIME,  /* operator view, not for reporting */
} dcem_fig_label;

typedef enum dcem_fig_status {
        DCEM_FIG_OK,
        DCEM_FIG_NO_DATA,         /* a zero denominator */
        DCEM_FIG_METERING_FAULT,  /* e.g. PUE < 1: reported, value not published */
} dcem_fig_status;

const char *dcem_fig_label_name(dcem_fig_label l);   /* "annual", "interim", "realtime" */
const char *dcem_fig_status_name(dcem_fig_status s); /* "ok", "no_data", "metering_fault" */

typedef struct dcem_figure {
        const char *metric;       /* "pue", "ppue_cooling", "ref", "carbon_location", "carbon_market",
                                     "cue_location", "cue_market", "sci", "energy_it", "energy_cooling",
                                     "energy_other", "energy_losses", "energy_dc" */
        const char *unit;         /* "kWh/kWh", "1", "kgCO2", "kgCO2/kWh", "gCO2/kWh_it", ... */
        double value;             /* NaN unless status == DCEM_FIG_OK */
        dcem_fig_status status;
        int category;             /* PUE category 1..3, or 0 */
        dcem_window_kind window;
        int64_t start_ns, end_ns;
        dcem_fig_label label;
        double completeness;      /* of the window, 0..1 */
        double estimated_share;   /* estimated kWh / kWh among the energies used */
        bool estimated;           /* estimated_share > 0 */
        double numerator, denominator; /* kWh or kg, for the audit trail */
        double factor;            /* carbon: kg per kWh used, else 0 */
        const char *factor_source;/* carbon: the factor's source, else NULL */
        const char *factor_table; /* carbon: the factor table's id, or NULL (inline factors) */
        const char *factor_region;/* carbon: the grid region of the factor */
        int64_t factor_year;      /* carbon: the data year of the factor */
        const char *basis;        /* carbon: "location" or "market"; sci: boundary "it_only"/"x_pue" */
        const char *functional_unit; /* sci: "kWh_it", "cpu_core_hour", ...; else NULL */
        bool embodied;            /* sci: embodied emissions M included */
        int target_met;           /* -1 no target, 0 missed, 1 met */
        double target;
} dcem_figure;

typedef struct dcem_fig_unit {
        const char *name;         /* "cpu_core_hour", "gpu_hour", "job", ... */
        double amount;            /* R over the window (> 0) */
} dcem_fig_unit;

typedef struct dcem_fig_params {
        double completeness_threshold;
        const dcem_acct_carbon_conf *carbon;
        const dcem_acct_compute_conf *compute;  /* may be NULL */
        const dcem_acct_targets_conf *targets;  /* may be NULL */
        const dcem_fig_unit *units;             /* extra functional units for SCI, amounts given */
        size_t nunits;
        const char *const *unit_names;          /* unit k's name: amount = sums kwh[DCEM_ACC_UNIT0 + k] */
        size_t nunit_names;                     /* <= DCEM_ACCT_MAX_UNITS */
        int sci_category;                       /* IT category for SCI; 0 = highest present */
} dcem_fig_params;

/* Each returns the figure in *ret (always filled; see status). */
void dcem_fig_pue(const dcem_acct_sums *s, dcem_window_kind k, int category, const dcem_fig_params *p, dcem_figure *ret);
void dcem_fig_ppue_cooling(const dcem_acct_sums *s, dcem_window_kind k, int category, const dcem_fig_params *p, dcem_figure *ret);
/* REF = (on-site renewable consumed + metered green supply + contracts + certificates) / E_DC.
 * On-site renewable consumed = max(0, on-site - export); claims capped so no kWh counts twice. */
void dcem_fig_ref(const dcem_acct_sums *s, dcem_window_kind k, const dcem_fig_params *p, dcem_figure *ret);
/* Green kWh claimed against grid import (contracts + certificates, capped at claimable). */
double dcem_fig_claimed_kwh(const dcem_acct_sums *s);
/* What market instruments may claim: grid import, at most E_DC minus on-site
 * renewable consumed and metered green supply (so no kWh counts twice). */
double dcem_fig_claimable_kwh(const dcem_acct_sums *s);
void dcem_fig_carbon(const dcem_acct_sums *s, dcem_window_kind k, bool market, const dcem_fig_params *p, dcem_figure *ret);
void dcem_fig_cue(const dcem_acct_sums *s, dcem_window_kind k, int category, bool market, const dcem_fig_params *p, dcem_figure *ret);
/* Carbon per unit of compute (SCI, location-based): (E_IT [x PUE] x EF + M) / R, in g per unit. */
void dcem_fig_sci(const dcem_acct_sums *s, dcem_window_kind k, int category, bool x_pue, const char *unit,
                  double amount, const dcem_fig_params *p, dcem_figure *ret);
/* Every figure of a window: PUE, pPUE, breakdown per category present, REF,
 * carbon x2, CUE x2, SCI per kWh_it and per each unit. Up to cap; *ret_n = count
 * written. 0, or -ENOBUFS when cap was too small (the first cap are written). */
int dcem_figures_all(const dcem_acct_sums *s, dcem_window_kind k, const dcem_fig_params *p,
                     dcem_figure *out, size_t cap, size_t *ret_n);

#endif
