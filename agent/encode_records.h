/* encode_records.h - the accounting's published records as JSON (jansson).
 *
 * Three payloads, documented in docs/MQTT.md and docs/schemas/:
 *   - an interval record (stream "intervals", "window":"interval"): the energy
 *     per account of one closed record interval, E_DC, completeness per device
 *     and overall, estimated share, the counter events of the interval, the
 *     meters' certification data, and the interval's figures;
 *   - a roll-up record (stream "intervals", "window":"hour"|"day"|"month"|
 *     "rolling_12_months"|"year"): the same sums and figures over a window;
 *   - a metrics record (stream "metrics"): the real-time operator view (loads
 *     in kW, real-time figures) and the interim figures of the current day
 *     and month.
 * Every value carries its unit, every figure its window, category,
 * completeness, label, quality, source accounts (resolved to devices by the
 * record's "source_devices") and, for carbon, its factor and the factor's
 * source (METRICS.md rule 10). A figure whose status is not "ok" (a PUE
 * below 1 is "metering_fault") has "value": null. Non-finite numbers are null.
 *
 * Pure: no I/O, no clock; the caller passes every time.
 */
#ifndef DCEM_ENCODE_RECORDS_H
#define DCEM_ENCODE_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include "dcem/accounting.h"
#include "dcem/config.h"

/* A device as the records describe it (borrowed from the configuration). */
typedef struct dcem_rec_device {
        const char *name;
        dcem_role role;
        int pue_category;            /* 1..3 with role it */
        const dcem_meter_conf *meter;/* may be NULL */
} dcem_rec_device;

/* A counter event kept until its interval's record is written (owns its text). */
typedef struct dcem_rec_event {
        dcem_acct_event_kind kind;
        char device[DCEM_NAME_MAX];
        char point[DCEM_NAME_MAX];
        int64_t prev_ts_ns, ts_ns;   /* prev_ts_ns 0: none */
        double prev_value, value;    /* in the point's unit as fed (kWh or kW); NaN: none */
        double kwh;                  /* energy counted from the delta */
} dcem_rec_event;

/* The live carbon intensity for the metrics record (real-time view only). */
typedef struct dcem_rec_live {
        const dcem_acct_live_conf *conf; /* NULL or no topic: no live member */
        bool have;                       /* a value was received */
        double g_per_kwh;
        int64_t received_ns;
} dcem_rec_live;

typedef struct dcem_rec_env {
        const dcem_rec_device *devices;
        size_t ndev;
        const dcem_fig_params *fig;  /* completeness threshold, carbon factors, targets */
        int64_t record_interval_ns;
        int64_t realtime_window_ns;
        const dcem_rec_live *live;   /* may be NULL */
        const struct dcem_remote *remote; /* accounting.compute.remote's hosts (NULL: none): their
                                             message counters go into the metrics record */
} dcem_rec_env;

/* A live intensity message: a JSON number, or an object with a number
 * member "value" (or "moer"), in the configured unit. *ret_g_per_kwh in
 * g per kWh. 0 or -EINVAL (not a finite number in 0..5000 g/kWh). Pure. */
int dcem_live_intensity_parse(const char *payload, size_t len, dcem_live_unit unit, double *ret_g_per_kwh);

/* Upper bound on figures of one window (3 categories x 8 + 4 + SCI units). */
#define DCEM_REC_MAX_FIGURES 64

/* One closed interval. events: those of the interval (nev), events_dropped:
 * events beyond the runtime's cap that are only counted. *ret_json is
 * malloc'd (NUL-terminated, compact, members in a fixed order), *ret_len its
 * length. 0, -ENOMEM. Outputs untouched on failure. */
int dcem_rec_interval(const dcem_rec_env *env, const dcem_acct_interval *iv, const dcem_rec_event *events,
                      size_t nev, uint64_t events_dropped, char **ret_json, size_t *ret_len);

/* A roll-up window (hour, day, month, rolling 12 months, year). last_seq: the
 * record_seq of the last interval it contains. 0, -EINVAL (kind), -ENOMEM. */
int dcem_rec_window(const dcem_rec_env *env, dcem_window_kind kind, const dcem_acct_sums *s, uint64_t last_seq,
                    char **ret_json, size_t *ret_len);

/* The metrics record at now: rt = the real-time window (NULL: none yet), day
 * and month = the open day and month (NULL: none yet). 0, -ENOMEM. */
int dcem_rec_metrics(const dcem_rec_env *env, int64_t now_ns, const dcem_acct_sums *rt, const dcem_acct_sums *day,
                     const dcem_acct_sums *month, char **ret_json, size_t *ret_len);

/* The accounts a figure is computed from, as a bit set over dcem_acct_account
 * (exposed for tests). */
uint32_t dcem_rec_figure_accounts(const dcem_figure *f);

#endif
