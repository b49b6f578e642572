/* accounting_schema.c - the `accounting:` configuration block.
 *
 * The schema table (validation, defaults and docs come from it) and its
 * cross-key checks: the record interval must divide one hour (intervals sit on
 * the UTC grid :00 :15 :30 :45 and roll up into hours), months are YYYY-MM,
 * a contract gives kWh or a share, and no certificate serial is declared twice
 * (a serial declared twice would be a kWh counted twice). Defaults are the
 * official numbers of METRICS.md.
 *
 * Grid factors can come from a factor table (conf/factors/NAME.yaml, one file
 * per table, with its source, data year and gas): `carbon.table` names it,
 * `carbon.region` picks the region, and keys written in the carbon block
 * override the table's values (the inline keys predate the tables and stay a
 * contract). The default table cn-mee-2023 is also built in, so the agent
 * needs no file for METRICS.md's defaults.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dcem/accounting.h"
#include "compute_remote.h"
#include "dcem/build_config.h"
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
        { "table", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_carbon_conf, table), NULL,
          "A grid factor table: a name (FACTORS_DIR/NAME.yaml, e.g. cn-mee-2023, which is also built in) or a "
          "path (relative to this file). Its values fill the keys above that are not written here; `region` "
          "then picks one of the table's regions (default: the table's default region)." },
        { "factors_dir", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_carbon_conf, factors_dir), NULL,
          "Where table names are looked up (default: the config file's directory + /factors, then the "
          "installed tables)." },
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

static const dcem_schema_key unit_keys[] = {
        { "name", DCEM_T_STR, NULL, DCEM_REQUIRED | DCEM_NAME_LIKE, 0, 0, "a-z0-9_",
          offsetof(dcem_acct_unit_conf, name), NULL,
          "The functional unit R, e.g. cpu_core_hour, gpu_hour, job, request, token." },
        { "point", DCEM_T_STR, NULL, DCEM_REQUIRED | DCEM_NAME_LIKE, 0, 0, "a-z0-9_",
          offsetof(dcem_acct_unit_conf, point), NULL,
          "The cumulative counter point that counts it, e.g. cpu_core_seconds, jobs_done." },
        { "devices", DCEM_T_STRLIST, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_unit_conf, devices), NULL,
          "Devices publishing the point (default: every device with a host block)." },
        { "scale", DCEM_T_DOUBLE, "1", 0, 1e-15, 1e15, NULL, offsetof(dcem_acct_unit_conf, scale), NULL,
          "Units per count of the point (multiplied)." },
        { "divisor", DCEM_T_DOUBLE, "1", 0, 1e-15, 1e15, NULL, offsetof(dcem_acct_unit_conf, divisor), NULL,
          "Counts per unit (divided), e.g. 3600 for cpu_core_seconds to core-hours." },
        { 0 },
};

static const dcem_schema unit_schema = {
        "unit", "A functional unit of compute counted from a counter point.", sizeof(dcem_acct_unit_conf),
        unit_keys, NULL,
};

static const dcem_schema_key remote_keys[] = {
        { "topic", DCEM_T_STR, "dcem/+/devices/+", 0, 0, 0, NULL, offsetof(dcem_acct_remote_conf, topic), NULL,
          "MQTT topic filter the hosts' device messages arrive on (their agents' <prefix>/<site>/devices/<device>); "
          "a narrower filter (dcem/rack-7/devices/+) spares the facility the other devices' messages." },
        { "hosts", DCEM_T_STRLIST, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_remote_conf, hosts), NULL,
          "The hosts whose compute counters are counted, each SITE/DEVICE (the host agent's site and its host "
          "device's name; at most 1024). Each is a compute source: a host that stops publishing makes the compute "
          "denominator incomplete." },
        { "interval", DCEM_T_DURATION, "10s", 0, 0.001, 3600, NULL, offsetof(dcem_acct_remote_conf, interval_ns),
          NULL, "The hosts' poll interval: expected readings per record interval." },
        { 0 },
};

static const dcem_schema remote_schema = {
        "remote", "Compute counters of other agents' hosts, received over MQTT (the facility agent aggregates them).",
        sizeof(dcem_acct_remote_conf), remote_keys, NULL,
};

static const dcem_schema_key compute_keys[] = {
        { "cpu_core_hours", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_compute_conf, cpu_core_hours), NULL,
          "Source of the CPU core-hour counter for carbon per core-hour (e.g. a host device's name): with no "
          "`units`, cpu_core_hour counts only that device's cpu_core_seconds." },
        { "units", DCEM_T_LIST, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_compute_conf, units), &unit_schema,
          "Functional units for carbon per unit of compute (at most 8). Default: cpu_core_hour "
          "(cpu_core_seconds / 3600) and gpu_hour (gpu_busy_seconds / 3600) of the devices with a host block." },
        { "embodied_kgco2", DCEM_T_DOUBLE, "0", 0, 0, 1e12, NULL, offsetof(dcem_acct_compute_conf, embodied_kgco2),
          NULL, "Total embodied emissions of the hardware (SCI M); 0 = not included." },
        { "lifetime", DCEM_T_DURATION, "0s", 0, 0, 0, NULL, offsetof(dcem_acct_compute_conf, lifetime_ns), NULL,
          "Lifetime over which embodied emissions are spread (e.g. 1460d)." },
        { "remote", DCEM_T_MAP, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_compute_conf, remote), &remote_schema,
          "Hosts of other agents counted into the functional units over MQTT (needs output.mqtt). Units without "
          "`devices` (and the defaults) count every remote host too; a unit's `devices` may name SITE/DEVICE." },
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

/* ---- factor tables ---- */

static const char builtin_cn_mee_2023[] =
        "# Grid emission factor table for dcem (docs/ACCOUNTING.md, \"Factor tables\").\n"
        "id: cn-mee-2023\n"
        "title: China grid CO2 emission factors, data year 2023\n"
        "source: MEE and NBS announcement 2025 No. 47 (China grid CO2 emission factors, data year 2023)\n"
        "data_year: 2023\n"
        "gas: CO2\n"
        "unit: kg/kWh\n"
        "default_region: national\n"
        "regions:\n"
        "  national: 0.5306\n"
        "  north: 0.6361\n"
        "  northeast: 0.5122\n"
        "  east: 0.5500\n"
        "  central: 0.5271\n"
        "  northwest: 0.5543\n"
        "  south: 0.4042\n"
        "  southwest: 0.2472\n"
        "residual:\n"
        "  factor: 0.6096\n"
        "  source: national average excluding market-traded non-fossil power\n"
        "informational:\n"
        "  fossil_only: 0.8273\n";

const char *dcem_factor_table_builtin(const char *id) {
        return id && strcmp(id, DCEM_FACTOR_TABLE_DEFAULT) == 0 ? builtin_cn_mee_2023 : NULL;
}

typedef struct ftable_residual {
        double factor;
        char *source;
} ftable_residual;

typedef struct ftable {
        char *id, *title, *source, *gas, *unit, *default_region;
        int64_t data_year;
        const dcem_node *regions, *informational;
        ftable_residual residual;
} ftable;

static const dcem_schema_key residual_keys[] = {
        { "factor", DCEM_T_DOUBLE, NULL, DCEM_REQUIRED, 0, 10, NULL, offsetof(ftable_residual, factor), NULL,
          "Residual factor, kg per kWh." },
        { "source", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(ftable_residual, source), NULL,
          "What the residual factor is (appended to the table's source)." },
        { 0 },
};

static const dcem_schema residual_schema = {
        "residual", "The market-based residual factor.", sizeof(ftable_residual), residual_keys, NULL,
};

static const dcem_schema_key ftable_keys[] = {
        { "id", DCEM_T_STR, NULL, DCEM_REQUIRED | DCEM_NAME_LIKE, 0, 0, "a-z0-9._-", offsetof(ftable, id), NULL,
          "The table's id (published with every carbon figure)." },
        { "title", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(ftable, title), NULL, "A title." },
        { "source", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(ftable, source), NULL,
          "Citation of the factors." },
        { "data_year", DCEM_T_INT, NULL, DCEM_REQUIRED, 1990, 2100, NULL, offsetof(ftable, data_year), NULL,
          "Data year of the factors." },
        { "gas", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(ftable, gas), NULL, "CO2 or CO2e." },
        { "unit", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(ftable, unit), NULL, "kg/kWh." },
        { "default_region", DCEM_T_STR, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(ftable, default_region), NULL,
          "The region used when the configuration names none." },
        { "regions", DCEM_T_NODE, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(ftable, regions), NULL,
          "Location-based factor per region, kg per kWh." },
        { "residual", DCEM_T_MAP, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(ftable, residual), &residual_schema,
          "Market-based residual factor." },
        { "informational", DCEM_T_NODE, NULL, 0, 0, 0, NULL, offsetof(ftable, informational), NULL,
          "Other published factors, kept for reference, used in no figure." },
        { 0 },
};

static const dcem_schema ftable_schema = {
        "factor_table", "A grid emission factor table (conf/factors/NAME.yaml).", sizeof(ftable), ftable_keys, NULL,
};

#define NERR(node, ...)                                                                                     \
        do {                                                                                                \
                const dcem_node *n_ = (node);                                                               \
                dcem_diag_add(diag, n_ ? n_->file : "factor table", n_ ? n_->line : 0, n_ ? n_->col : 0, \
                              __VA_ARGS__);                                                                 \
                r = -EINVAL;                                                                                \
        } while (0)

/* A factor from a scalar node in 0..10 kg/kWh. 0 or -EINVAL. */
static int factor_of(const dcem_node *n, double *ret) {
        const char *why = NULL;
        double v;
        if (!n || n->type != DCEM_NODE_SCALAR || dcem_parse_double(n->scalar, &v, &why) < 0 || !isfinite(v) ||
            v < 0 || v > 10)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int set_str(char **dst, const char *src) {
        char *c = strdup(src);
        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

int dcem_factor_table_apply(const char *path, const char *region, const dcem_node *region_at,
                            dcem_acct_carbon_conf *c, dcem_diag *diag) {
        dcem_node *root = NULL;
        int r;
        if (strncmp(path, "builtin:", 8) == 0) {
                const char *txt = dcem_factor_table_builtin(path + 8);
                if (!txt)
                        return -ENOENT;
                r = dcem_yaml_load_buffer(path, txt, strlen(txt), &root, diag);
        } else {
                if (access(path, F_OK) < 0)
                        return -ENOENT;
                r = dcem_yaml_load_file(path, &root, diag);
        }
        if (r < 0)
                return r;
        ftable t = { 0 };
        r = dcem_schema_apply(&ftable_schema, root, &t, diag);
        if (r == 0) {
                if (strcmp(t.gas, "CO2") != 0 && strcmp(t.gas, "CO2e") != 0)
                        NERR(dcem_node_get(root, "gas"), "gas must be CO2 or CO2e");
                if (strcmp(t.unit, "kg/kWh") != 0)
                        NERR(dcem_node_get(root, "unit"), "unit must be kg/kWh");
                if (t.regions->type != DCEM_NODE_MAP || t.regions->n == 0)
                        NERR(t.regions, "regions: expected a map of region: factor (kg per kWh)");
                else
                        for (const dcem_node *m = t.regions->child; m; m = m->next) {
                                double v;
                                if (factor_of(m, &v) < 0)
                                        NERR(m, "regions.%s: expected a factor in kg per kWh, 0..10", m->key);
                        }
                if (t.informational && t.informational->type != DCEM_NODE_MAP)
                        NERR(t.informational, "informational: expected a map");
                if (r == 0 && !dcem_node_get(t.regions, t.default_region))
                        NERR(dcem_node_get(root, "default_region"), "default_region %s is not one of the regions",
                             t.default_region);
        }
        const dcem_node *rn = NULL;
        double gf = 0;
        if (r == 0) {
                const char *want = region ? region : t.default_region;
                rn = dcem_node_get(t.regions, want);
                if (!rn || factor_of(rn, &gf) < 0) {
                        char list[512] = "";
                        size_t o = 0;
                        for (const dcem_node *m = t.regions->child; m && o < sizeof list; m = m->next)
                                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", m->key);
                        NERR(region_at ? region_at : t.regions, "region %s is not in factor table %s (%s): one of %s",
                             want, t.id, path, list);
                        r = -ESRCH;
                }
        }
        if (r == 0) {
                char src[1024], rsrc[1024];
                snprintf(src, sizeof src, "%s; table %s, region %s", t.source, t.id, rn->key);
                snprintf(rsrc, sizeof rsrc, "%s, %s; table %s", t.source, t.residual.source, t.id);
                dcem_acct_carbon_conf n = *c;
                char *dup[5] = { strdup(rn->key), strdup(src), strdup(rsrc), strdup(t.gas), strdup(t.id) };
                if (!dup[0] || !dup[1] || !dup[2] || !dup[3] || !dup[4]) {
                        for (int i = 0; i < 5; i++)
                                free(dup[i]);
                        r = -ENOMEM;
                } else {
                        free(n.region);
                        free(n.source);
                        free(n.residual_source);
                        free(n.gas);
                        if (n.table != dup[4])
                                free(n.table);
                        n.region = dup[0];
                        n.source = dup[1];
                        n.residual_source = dup[2];
                        n.gas = dup[3];
                        n.table = dup[4];
                        n.grid_factor = gf;
                        n.grid_factor_year = t.data_year;
                        n.residual_factor = t.residual.factor;
                        *c = n;
                }
        }
        dcem_schema_free(&ftable_schema, &t);
        dcem_node_free(root);
        return r;
}

/* Append ", path" to the list of places looked at (truncated at len). */
static void append_tried(char *buf, size_t len, size_t *o, const char *path) {
        const char *parts[2] = { *o ? ", " : "", path };
        for (int i = 0; i < 2; i++)
                for (const char *p = parts[i]; *p && *o + 1 < len; p++)
                        buf[(*o)++] = *p;
        buf[*o < len ? *o : len - 1] = '\0';
}

/* Where `table: NAME` is: try each candidate; -ENOENT when none exists. */
static int table_resolve_apply(const dcem_acct_carbon_conf *in, const dcem_node *carbon_map, const char *conf_file,
                               dcem_acct_carbon_conf *c, dcem_diag *diag, char *tried, size_t tried_len) {
        const char *name = in->table;
        const dcem_node *rat = carbon_map ? dcem_node_get(carbon_map, "region") : NULL;
        const char *region = rat ? c->region : NULL;
        char dir[1024] = ".";
        if (conf_file && strchr(conf_file, '/')) {
                snprintf(dir, sizeof dir, "%s", conf_file);
                *strrchr(dir, '/') = '\0';
                if (!dir[0])
                        snprintf(dir, sizeof dir, "/");
        }
        char path[2048];
        tried[0] = '\0';
        size_t o = 0;
#define TRY(...)                                                                                     \
        do {                                                                                         \
                snprintf(path, sizeof path, __VA_ARGS__);                                            \
                int k_ = dcem_factor_table_apply(path, region, rat, c, diag);                        \
                if (k_ != -ENOENT)                                                                   \
                        return k_;                                                                   \
                append_tried(tried, tried_len, &o, path);                                            \
        } while (0)
        if (strchr(name, '/')) {
                if (name[0] == '/')
                        TRY("%s", name);
                else
                        TRY("%s/%s", dir, name);
                return -ENOENT;
        }
        if (in->factors_dir) {
                TRY("%s/%s.yaml", in->factors_dir, name);
        } else {
                TRY("%s/factors/%s.yaml", dir, name);
                TRY("%s/%s.yaml", DCEM_FACTORS_DIR, name);
                TRY("builtin:%s", name);
        }
#undef TRY
        return -ENOENT;
}

/* Apply carbon.table, keeping the keys written in the block. */
static bool table_name_ok(const char *name) {
        if (strchr(name, '/'))
                return true; /* a path */
        if (!name[0] || name[0] == '.')
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

static int apply_table(dcem_acct_carbon_conf *c, const dcem_node *cm, const char *conf_file, dcem_diag *diag) {
        int r = 0;
        const dcem_node *tn = cm ? dcem_node_get(cm, "table") : NULL;
        if (!table_name_ok(c->table)) {
                NERR(tn ? tn : cm, "carbon.table %s: expected a table name (a-z 0-9 . _ -) or a path", c->table);
                return r;
        }
        bool ex_gf = cm && dcem_node_get(cm, "grid_factor"), ex_year = cm && dcem_node_get(cm, "grid_factor_year"),
             ex_src = cm && dcem_node_get(cm, "source"), ex_rf = cm && dcem_node_get(cm, "residual_factor"),
             ex_rsrc = cm && dcem_node_get(cm, "residual_source"), ex_gas = cm && dcem_node_get(cm, "gas");
        dcem_acct_carbon_conf keep = *c, n = *c;
        /* the written strings stay ours: the table apply replaces copies */
        n.source = ex_src ? NULL : c->source;
        n.residual_source = ex_rsrc ? NULL : c->residual_source;
        n.gas = ex_gas ? NULL : c->gas;
        char tried[1024];
        int k = table_resolve_apply(c, cm, conf_file, &n, diag, tried, sizeof tried);
        if (k == -ENOENT) {
                NERR(tn ? tn : cm, "carbon.table %s: no such factor table (looked for %s)", c->table, tried);
                return r;
        }
        if (k == -ESRCH) /* the table is fine, the region is not: reported at the region */
                return -EINVAL;
        if (k < 0) {
                NERR(tn ? tn : cm, "carbon.table %s: %s", c->table,
                     k == -EINVAL ? "not a valid factor table (see the errors above)" : strerror(-k));
                return r;
        }
        /* n now holds the table's values (n.table, region, sources, gas freshly allocated); the old
         * c->table / region were freed by the apply when they were n's. Put written keys back. */
        if (ex_gf)
                n.grid_factor = keep.grid_factor;
        if (ex_year)
                n.grid_factor_year = keep.grid_factor_year;
        if (ex_rf)
                n.residual_factor = keep.residual_factor;
        if (ex_src) {
                free(n.source);
                n.source = keep.source;
        } else if (ex_gf) {
                char buf[512];
                snprintf(buf, sizeof buf, "configured grid_factor (overrides table %s, region %s)", n.table, n.region);
                if (set_str(&n.source, buf) < 0)
                        return -ENOMEM;
        }
        if (ex_rsrc) {
                free(n.residual_source);
                n.residual_source = keep.residual_source;
        } else if (ex_rf) {
                char buf[512];
                snprintf(buf, sizeof buf, "configured residual_factor (overrides table %s)", n.table);
                if (set_str(&n.residual_source, buf) < 0)
                        return -ENOMEM;
        }
        if (ex_gas) {
                free(n.gas);
                n.gas = keep.gas;
        }
        *c = n;
        return 0;
}

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
        const dcem_node *carbon_map = map ? dcem_node_get(map, "carbon") : NULL;
        if (c->carbon.table) {
                int k = apply_table(&c->carbon, carbon_map, map ? map->file : NULL, diag);
                if (k < 0)
                        r = k;
        } else if (c->carbon.factors_dir) {
                pos(carbon_map, "factors_dir", &n);
                ERR(n ? n : map, "carbon.factors_dir without carbon.table");
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
        const dcem_node *useq = map ? dcem_node_get(dcem_node_get(map, "compute"), "units") : NULL;
        const dcem_acct_unit_conf *u = c->compute.units.items;
        if (c->compute.units.n > DCEM_ACCT_MAX_UNITS)
                ERR(useq ? useq : map, "compute.units: at most %d functional units", DCEM_ACCT_MAX_UNITS);
        for (size_t i = 0; i < c->compute.units.n; i++) {
                const dcem_node *item = nth(useq, i);
                if (u[i].name && strcmp(u[i].name, "kwh_it") == 0) {
                        pos(item, "name", &n);
                        ERR(n, "compute.units[%zu].name: kwh_it is built in", i);
                }
                for (size_t j = 0; j < i; j++)
                        if (u[i].name && u[j].name && strcmp(u[i].name, u[j].name) == 0) {
                                pos(item, "name", &n);
                                ERR(n, "compute.units[%zu].name %s is declared twice", i, u[i].name);
                        }
        }
        const dcem_node *rm = map ? dcem_node_get(dcem_node_get(map, "compute"), "remote") : NULL;
        const dcem_acct_remote_conf *rc = &c->compute.remote;
        if (rc->hosts.n > DCEM_ACCT_MAX_REMOTE_HOSTS) {
                pos(rm, "hosts", &n);
                ERR(n ? n : map, "compute.remote.hosts: at most %d hosts", DCEM_ACCT_MAX_REMOTE_HOSTS);
        }
        const dcem_node *hseq = rm ? dcem_node_get(rm, "hosts") : NULL;
        for (size_t i = 0; i < rc->hosts.n && i < DCEM_ACCT_MAX_REMOTE_HOSTS; i++) {
                const char *why = NULL;
                const dcem_node *item = nth(hseq, i);
                if (dcem_remote_host_check(rc->hosts.items[i], &why) < 0)
                        ERR(item ? item : map, "compute.remote.hosts[%zu] \"%s\": %s", i, rc->hosts.items[i], why);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(rc->hosts.items[i], rc->hosts.items[j]) == 0)
                                ERR(item ? item : map, "compute.remote.hosts[%zu] %s is declared twice", i,
                                    rc->hosts.items[i]);
        }
        if (rm && rc->hosts.n == 0)
                ERR(rm, "compute.remote: hosts is required (the SITE/DEVICE of each host counted)");
        if (rc->topic) {
                const char *t = rc->topic;
                size_t tn = strlen(t);
                bool ok_t = tn > 0 && tn < 256;
                for (size_t i = 0; ok_t && i < tn; i++) {
                        bool ls = i == 0 || t[i - 1] == '/', le = i + 1 == tn || t[i + 1] == '/';
                        if ((t[i] == '+' && !(ls && le)) || (t[i] == '#' && !(ls && i + 1 == tn)))
                                ok_t = false;
                }
                if (!ok_t) {
                        pos(rm, "topic", &n);
                        ERR(n ? n : map, "compute.remote.topic: not an MQTT topic filter ('+' and '#' must be whole "
                                         "levels, '#' the last; 1..255 bytes)");
                }
        }
        if (c->compute.embodied_kgco2 > 0 && c->compute.lifetime_ns <= 0) {
                const dcem_node *cm = map ? dcem_node_get(map, "compute") : NULL;
                pos(cm, "lifetime", &n);
                ERR(n ? n : map, "compute.lifetime is required with embodied_kgco2");
        }
        return r;
}

static const dcem_schema_key live_keys[] = {
        { "topic", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_live_conf, topic), NULL,
          "MQTT topic carrying the intensity (a JSON number, or an object with \"value\" or \"moer\")." },
        { "unit", DCEM_T_ENUM, "g/kWh", 0, 0, 0, "g/kWh|lbs/MWh|kg/kWh", offsetof(dcem_acct_live_conf, unit), NULL,
          "Unit of the values (WattTime MOER: lbs/MWh; Electricity Maps: g/kWh)." },
        { "kind", DCEM_T_ENUM, "marginal", 0, 0, 0, "marginal|average", offsetof(dcem_acct_live_conf, kind), NULL,
          "Marginal (for scheduling decisions) or average intensity." },
        { "gas", DCEM_T_ENUM, "CO2", 0, 0, 0, "CO2|CO2e", offsetof(dcem_acct_live_conf, gas), NULL,
          "CO2 or CO2e, as the feed says." },
        { "source", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_live_conf, source), NULL,
          "A label for the feed, published with the live figure." },
        { "max_age", DCEM_T_DURATION, "15m", 0, 1, 86400, NULL, offsetof(dcem_acct_live_conf, max_age_ns), NULL,
          "A value older than this is published as stale, without a rate." },
        { 0 },
};

static const dcem_schema live_schema = {
        "live_intensity",
        "Live carbon intensity over MQTT, for the real-time view only (never used for accounting).",
        sizeof(dcem_acct_live_conf), live_keys, NULL,
};

static const dcem_schema_key ledger_keys[] = {
        { "enabled", DCEM_T_BOOL, "true", 0, 0, 0, NULL, offsetof(dcem_acct_ledger_conf, enabled), NULL,
          "Chain every interval record into the ledger (<state_dir>/ledger/ledger-YYYY-MM.jsonl) and publish "
          "each entry on <prefix>/<site>/ledger." },
        { "key_file", DCEM_T_STR, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_ledger_conf, key_file), NULL,
          "Ed25519 private key (PEM) that signs the entries, readable by the agent only (make one with "
          "`dcem-agent ledger keygen PATH`); relative to the configuration file's directory. Without it the "
          "entries are chained but not signed." },
        { "sign_every", DCEM_T_INT, "1", 0, 1, 10000, NULL, offsetof(dcem_acct_ledger_conf, sign_every), NULL,
          "Sign every Nth entry (a signature covers the whole chain before it; 4 = hourly with 15-minute "
          "records)." },
        { "fsync", DCEM_T_BOOL, "true", 0, 0, 0, NULL, offsetof(dcem_acct_ledger_conf, fsync), NULL,
          "fsync each entry before its record is published." },
        { 0 },
};

static const dcem_schema ledger_schema = {
        "ledger",
        "The certification ledger (METRICS.md rule 9): interval records hash-chained with SHA-256 and signed with "
        "an Ed25519 device key (docs/LEDGER.md).",
        sizeof(dcem_acct_ledger_conf), ledger_keys, NULL,
};

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
        { "live_intensity", DCEM_T_MAP, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_conf, live_intensity), &live_schema,
          "Live carbon intensity (e.g. a marginal MOER) for the real-time view." },
        { "ledger", DCEM_T_MAP, NULL, 0, 0, 0, NULL, offsetof(dcem_acct_conf, ledger), &ledger_schema,
          "The signed, hash-chained certification ledger of the interval records." },
        { 0 },
};

const dcem_schema dcem_accounting_schema = {
        "accounting",
        "Energy accounting: interval records, PUE, green-power share, carbon (docs/METRICS.md).",
        sizeof(dcem_acct_conf),
        accounting_keys,
        check,
};
