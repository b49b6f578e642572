/* accounting_schema.c - the `accounting:` configuration block.
 *
 * The schema table (validation, defaults and docs come from it) and its
 * cross-key checks: the record interval must divide one hour (intervals sit on
 * the UTC grid :00 :15 :30 :45 and roll up into hours), months are YYYY-MM,
 * a contract gives kWh or a share, and no certificate serial is declared twice
 * (a serial declared twice would be a kWh counted twice). Defaults are the
 * official numbers of METRICS.md.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "dcem/accounting.h"
#include "dcem/clock.h"

#define CN_SOURCE DCEM_CN_FACTOR_SOURCE
#define CN_RESIDUAL_SOURCE DCEM_CN_RESIDUAL_SOURCE

static const dcem_schema_key carbon_keys[] = {
        { "grid_factor", DCEM_T_DOUBLE, "0.5306", 0, 0, 10, NULL, offsetof(dcem_acct_carbon_conf, grid_factor), NULL,
          "Location-based grid emission factor, kg per kWh (default: China national average, data year 2023)." },
        { "grid_factor_year", DCEM_T_INT, "2023", 0, 1990, 2100, NULL,
          offsetof(dcem_acct_carbon_conf, grid_factor_year), NULL, "Data year of the grid factor." },
        { "region", DCEM_T_STR, "CN national", 0, 0, 0, NULL, offsetof(dcem_acct_carbon_conf, region), NULL,
          "Grid region the factors belong to (a label carried into every carbon figure)." },
        { "source", DCEM_T_STR, CN_SOURCE, 0, 0, 0, NULL, offsetof(dcem_acct_carbon_conf, source), NULL,
          "Citation of the grid factor, published with every location-based figure." },
        { "residual_factor", DCEM_T_DOUBLE, "0.6096", 0, 0, 10, NULL,
          offsetof(dcem_acct_carbon_conf, residual_factor), NULL,
          "Market-based residual factor, kg per kWh, applied to grid energy not covered by contracts or certificates." },
        { "residual_source", DCEM_T_STR, CN_RESIDUAL_SOURCE, 0, 0, 0, NULL,
          offsetof(dcem_acct_carbon_conf, residual_source), NULL, "Citation of the residual factor." },
        { "gas", DCEM_T_STR, "CO2", 0, 0, 0, NULL, offsetof(dcem_acct_carbon_conf, gas), NULL,
          "CO2 or CO2e, as the factor table says: figures are labelled kgCO2 or kgCO2e." },
        { 0 },
};

static const dcem_schema carbon_schema = {
        "carbon", "Grid emission factors for location- and market-based carbon.", sizeof(dcem_acct_carbon_conf),
        carbon_keys, NULL,
};

static const dcem_schema_key contract_keys[] = {
        { "name", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(dcem_acct_contract_conf, name), NULL,
          "A name for the contract (for the audit trail)." },
        { "from", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(dcem_acct_contract_conf, from), NULL,
          "First month covered, YYYY-MM." },
        { "to", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_contract_conf, to), NULL,
          "Last month covered, YYYY-MM (default: the first)." },
        { "kwh", DCEM_T_DOUBLE, "0", 0, 0, 1e12, NULL, offsetof(dcem_acct_contract_conf, kwh), NULL,
          "Contracted green kWh per month (claimed at month close, at most the month's grid import)." },
        { "share", DCEM_T_DOUBLE, "0", 0, 0, 1, NULL, offsetof(dcem_acct_contract_conf, share), NULL,
          "Or: contracted green share of grid import, 0..1 (claimed per interval)." },
        { 0 },
};

static const dcem_schema contract_schema = {
        "green_contract", "A green-power contract: kWh per month or a share of grid import.",
        sizeof(dcem_acct_contract_conf), contract_keys, NULL,
};

static const dcem_schema_key cert_keys[] = {
        { "serial_first", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(dcem_acct_cert_conf, serial_first),
          NULL, "First serial of the range: an optional letter prefix and up to 18 digits." },
        { "serial_last", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(dcem_acct_cert_conf, serial_last),
          NULL, "Last serial of the range (same prefix)." },
        { "vintage", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(dcem_acct_cert_conf, vintage), NULL,
          "Month the certificates were issued for, YYYY-MM: they are applied to that month, once." },
        { "kwh_each", DCEM_T_DOUBLE, "1000", 0, 1, 1e9, NULL, offsetof(dcem_acct_cert_conf, kwh_each), NULL,
          "kWh per certificate (one Chinese GEC is 1,000 kWh)." },
        { 0 },
};

static const dcem_schema cert_schema = {
        "certificate", "A range of green-electricity certificates (applied once, to one month; the ledger keeps the serials).",
        sizeof(dcem_acct_cert_conf), cert_keys, NULL,
};

static const dcem_schema_key compute_keys[] = {
        { "cpu_core_hours", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_compute_conf, cpu_core_hours), NULL,
          "Source of the CPU core-hour counter for carbon per core-hour (e.g. a host device's name)." },
        { "embodied_kgco2", DCEM_T_DOUBLE, "0", 0, 0, 1e12, NULL, offsetof(dcem_acct_compute_conf, embodied_kgco2),
          NULL, "Total embodied emissions of the hardware (SCI M); 0 = not included." },
        { "lifetime", DCEM_T_DURATION, "0s", 0, 0, 0, NULL, offsetof(dcem_acct_compute_conf, lifetime_ns), NULL,
          "Lifetime over which embodied emissions are spread (e.g. 1460d)." },
        { 0 },
};

static const dcem_schema compute_schema = {
        "compute", "The compute denominator of carbon per unit of compute (SCI).", sizeof(dcem_acct_compute_conf),
        compute_keys, NULL,
};

static const dcem_schema_key target_keys[] = {
        { "pue_max", DCEM_T_DOUBLE, "0", 0, 0, 10, NULL, offsetof(dcem_acct_targets_conf, pue_max), NULL,
          "PUE target (e.g. 1.25); 0 = none. Figures say whether it is met." },
        { "green_share_min", DCEM_T_DOUBLE, "0", 0, 0, 1, NULL, offsetof(dcem_acct_targets_conf, green_share_min),
          NULL, "Green-power share target, 0..1 (e.g. 0.8); 0 = none." },
        { 0 },
};

static const dcem_schema target_schema = {
        "targets", "Targets the figures are compared with (never hard-coded).", sizeof(dcem_acct_targets_conf),
        target_keys, NULL,
};

static void pos(const dcem_node *map, const char *key, const dcem_node **ret) {
        const dcem_node *n = map ? dcem_node_get(map, key) : NULL;
        *ret = n ? n : map;
}

#define ERR(node, ...)                                                                                   \
        do {                                                                                             \
                const dcem_node *n_ = (node);                                                            \
                dcem_diag_add(diag, n_ ? n_->file : "accounting", n_ ? n_->line : 0, n_ ? n_->col : 0, \
                              __VA_ARGS__);                                                              \
                r = -EINVAL;                                                                             \
        } while (0)

static const dcem_node *nth(const dcem_node *seq, size_t i) {
        const dcem_node *c = seq ? seq->child : NULL;
        while (c && i--)
                c = c->next;
        return c;
}

static int check(const dcem_schema *s, void *target, const dcem_node *map, dcem_diag *diag) {
        (void)s;
        dcem_acct_conf *c = target;
        int r = 0;
        const dcem_node *n;
        int64_t hour = INT64_C(3600) * DCEM_NS_PER_S;
        if (c->record_interval_ns < DCEM_NS_PER_S || c->record_interval_ns > hour || hour % c->record_interval_ns) {
                pos(map, "record_interval", &n);
                ERR(n, "record_interval must divide one hour (1s .. 1h, e.g. 15m, 5m, 10s)");
        }
        if (c->max_bridge_ns < c->record_interval_ns) {
                pos(map, "max_bridge", &n);
                ERR(n, "max_bridge must be at least the record interval");
        }
        if (!c->carbon.gas || (strcmp(c->carbon.gas, "CO2") != 0 && strcmp(c->carbon.gas, "CO2e") != 0)) {
                const dcem_node *cm = map ? dcem_node_get(map, "carbon") : NULL;
                pos(cm, "gas", &n);
                ERR(n ? n : map, "carbon.gas must be CO2 or CO2e");
        }
        const dcem_node *seq = map ? dcem_node_get(map, "green_contracts") : NULL;
        const dcem_acct_contract_conf *k = c->green_contracts.items;
        for (size_t i = 0; i < c->green_contracts.n; i++) {
                const dcem_node *item = nth(seq, i);
                int64_t from = 0, to;
                if (dcem_month_from_str(k[i].from, &from) < 0) {
                        pos(item, "from", &n);
                        ERR(n, "green_contracts[%zu].from: expected a month YYYY-MM", i);
                }
                if (k[i].to && (dcem_month_from_str(k[i].to, &to) < 0 || to < from)) {
                        pos(item, "to", &n);
                        ERR(n, "green_contracts[%zu].to: expected a month YYYY-MM not before from", i);
                }
                if ((k[i].kwh > 0) == (k[i].share > 0)) {
                        ERR(item ? item : map, "green_contracts[%zu]: give either kwh (per month) or share", i);
                }
        }
        seq = map ? dcem_node_get(map, "certificates") : NULL;
        const dcem_acct_cert_conf *ce = c->certificates.items;
        for (size_t i = 0; i < c->certificates.n; i++) {
                const dcem_node *item = nth(seq, i);
                char p1[24], p2[24];
                uint64_t f = 0, l = 0;
                int64_t m;
                bool ok = true;
                if (dcem_cert_serial_parse(ce[i].serial_first, p1, &f) < 0) {
                        pos(item, "serial_first", &n);
                        ERR(n, "certificates[%zu].serial_first: expected an optional letter prefix and 1..18 digits", i);
                        ok = false;
                }
                if (dcem_cert_serial_parse(ce[i].serial_last, p2, &l) < 0) {
                        pos(item, "serial_last", &n);
                        ERR(n, "certificates[%zu].serial_last: expected an optional letter prefix and 1..18 digits", i);
                        ok = false;
                }
                if (ok && (strcmp(p1, p2) != 0 || l < f)) {
                        pos(item, "serial_last", &n);
                        ERR(n, "certificates[%zu]: serial_last must have the prefix of serial_first and not be below it", i);
                        ok = false;
                }
                if (dcem_month_from_str(ce[i].vintage, &m) < 0) {
                        pos(item, "vintage", &n);
                        ERR(n, "certificates[%zu].vintage: expected a month YYYY-MM", i);
                }
                for (size_t j = 0; ok && j < i; j++) {
                        char q[24];
                        uint64_t f2, l2;
                        if (dcem_cert_serial_parse(ce[j].serial_first, q, &f2) < 0 ||
                            dcem_cert_serial_parse(ce[j].serial_last, q, &l2) < 0)
                                continue;
                        if (strcmp(q, p1) == 0 && f <= l2 && f2 <= l) {
                                pos(item, "serial_first", &n);
                                ERR(n, "certificates[%zu] overlaps certificates[%zu]: a certificate counts once", i, j);
                        }
                }
        }
        if (c->compute.embodied_kgco2 > 0 && c->compute.lifetime_ns <= 0) {
                const dcem_node *cm = map ? dcem_node_get(map, "compute") : NULL;
                pos(cm, "lifetime", &n);
                ERR(n ? n : map, "compute.lifetime is required with embodied_kgco2");
        }
        return r;
}

static const dcem_schema_key accounting_keys[] = {
        { "record_interval", DCEM_T_DURATION, "15m", 0, 1, 3600, NULL, offsetof(dcem_acct_conf, record_interval_ns),
          NULL, "Length of the authoritative interval records on the UTC grid; must divide one hour." },
        { "completeness_threshold", DCEM_T_DOUBLE, "0.95", 0, 0.01, 1, NULL,
          offsetof(dcem_acct_conf, completeness_threshold), NULL,
          "Below this share of expected readings an annual figure is published as interim." },
        { "realtime_window", DCEM_T_DURATION, "5m", 0, 1, 86400, NULL, offsetof(dcem_acct_conf, realtime_window_ns),
          NULL, "Window of the real-time (operator view) PUE." },
        { "close_delay", DCEM_T_DURATION, "1m", 0, 0, 3600, NULL, offsetof(dcem_acct_conf, close_delay_ns), NULL,
          "How long an interval waits for late readings after its end before it closes." },
        { "max_bridge", DCEM_T_DURATION, "7d", 0, 1, 86400 * 31, NULL, offsetof(dcem_acct_conf, max_bridge_ns), NULL,
          "Longest gap between two counter readings whose delta is still counted (spread over the gap); "
          "at most 4096 record intervals." },
        { "carbon", DCEM_T_MAP, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_conf, carbon), &carbon_schema,
          "Grid emission factors." },
        { "green_contracts", DCEM_T_LIST, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_conf, green_contracts),
          &contract_schema, "Green-power contracts." },
        { "certificates", DCEM_T_LIST, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_conf, certificates), &cert_schema,
          "Green-electricity certificates." },
        { "compute", DCEM_T_MAP, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_conf, compute), &compute_schema,
          "Carbon per unit of compute." },
        { "targets", DCEM_T_MAP, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_conf, targets), &target_schema,
          "Targets for status fields." },
        { 0 },
};

const dcem_schema dcem_accounting_schema = {
        "accounting",
        "Energy accounting: interval records, PUE, green-power share, carbon (docs/METRICS.md).",
        sizeof(dcem_acct_conf),
        accounting_keys,
        check,
};
