/* test_accounting_schema.c - the `accounting:` block applied through the
 * schema engine: defaults (METRICS.md's official numbers), parsing of every
 * key, and the cross-key checks with their positions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dcem/accounting.h"
#include "dcem/node.h"

#define NS INT64_C(1000000000)

static int apply(const char *yaml, dcem_acct_conf *c, dcem_diag *d) {
        dcem_node *root = NULL;
        memset(c, 0, sizeof(*c));
        assert_int_equal(dcem_yaml_load_buffer("t.yaml", yaml, strlen(yaml), &root, d), 0);
        int r = dcem_schema_apply(&dcem_accounting_schema, dcem_node_get(root, "accounting"), c, d);
        dcem_node_free(root);
        return r;
}

static bool has(const dcem_diag *d, const char *s) {
        for (size_t i = 0; i < d->n; i++)
                if (strstr(d->msgs[i], s))
                        return true;
        for (size_t i = 0; i < d->n; i++)
                print_message("diag: %s\n", d->msgs[i]);
        return false;
}

static void test_defaults(void **st) {
        (void)st;
        dcem_acct_conf c, ref;
        dcem_diag d = { 0 };
        assert_int_equal(apply("site: x\n", &c, &d), 0);
        dcem_acct_conf_defaults(&ref);
        assert_int_equal(c.record_interval_ns, 15 * 60 * NS);
        assert_true(c.completeness_threshold == 0.95);
        assert_int_equal(c.realtime_window_ns, 5 * 60 * NS);
        assert_int_equal(c.close_delay_ns, ref.close_delay_ns);
        assert_int_equal(c.max_bridge_ns, ref.max_bridge_ns);
        assert_true(c.carbon.grid_factor == 0.5306);
        assert_true(c.carbon.residual_factor == 0.6096);
        assert_int_equal(c.carbon.grid_factor_year, 2023);
        assert_string_equal(c.carbon.source, ref.carbon.source);
        assert_string_equal(c.carbon.residual_source, ref.carbon.residual_source);
        assert_string_equal(c.carbon.gas, "CO2");
        assert_int_equal(c.green_contracts.n, 0);
        /* the defaults make a valid engine */
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&c, NULL, &a), 0);
        dcem_acct_free(a);
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
}

static void test_full_block(void **st) {
        (void)st;
        const char *y = "accounting:\n"
                        "  record_interval: 10s\n"
                        "  completeness_threshold: 0.9\n"
                        "  carbon: { grid_factor: 0.4042, region: CN South, source: table, gas: CO2 }\n"
                        "  green_contracts:\n"
                        "    - { name: ppa, from: 2026-01, to: 2026-12, kwh: 50000 }\n"
                        "    - { name: tariff, from: 2026-03, share: 0.3 }\n"
                        "  certificates:\n"
                        "    - { serial_first: GEC000100, serial_last: GEC000199, vintage: 2026-02 }\n"
                        "  compute: { cpu_core_hours: host, embodied_kgco2: 1200, lifetime: 1460d }\n"
                        "  targets: { pue_max: 1.25, green_share_min: 0.8 }\n";
        dcem_acct_conf c;
        dcem_diag d = { 0 };
        int r = apply(y, &c, &d);
        for (size_t i = 0; i < d.n; i++)
                print_message("%s\n", d.msgs[i]);
        assert_int_equal(r, 0);
        assert_int_equal(c.record_interval_ns, 10 * NS);
        assert_true(c.carbon.grid_factor == 0.4042);
        assert_true(c.carbon.residual_factor == 0.6096); /* untouched key keeps its default */
        assert_string_equal(c.carbon.region, "CN South");
        assert_int_equal(c.green_contracts.n, 2);
        const dcem_acct_contract_conf *k = c.green_contracts.items;
        assert_true(k[0].kwh == 50000 && k[1].share == 0.3);
        assert_int_equal(c.certificates.n, 1);
        const dcem_acct_cert_conf *ce = c.certificates.items;
        assert_true(ce[0].kwh_each == 1000);
        assert_string_equal(ce[0].vintage, "2026-02");
        assert_int_equal(c.compute.lifetime_ns, INT64_C(1460) * 86400 * NS);
        assert_true(c.targets.pue_max == 1.25);
        dcem_acct *a = NULL;
        assert_int_equal(dcem_acct_new(&c, NULL, &a), 0);
        dcem_acct_free(a);
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
}

static void test_errors(void **st) {
        (void)st;
        dcem_acct_conf c;
        dcem_diag d = { 0 };
        assert_int_equal(apply("accounting:\n  record_interval: 7m\n", &c, &d), -EINVAL);
        assert_true(has(&d, "t.yaml:2:"));
        assert_true(has(&d, "divide one hour"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);

        const char *y = "accounting:\n"
                        "  green_contracts:\n"
                        "    - { name: a, from: 2026-13, kwh: 5 }\n"
                        "    - { name: b, from: 2026-01, kwh: 5, share: 0.5 }\n"
                        "  certificates:\n"
                        "    - { serial_first: A100, serial_last: A199, vintage: 2026-01 }\n"
                        "    - { serial_first: A150, serial_last: A250, vintage: 2026-02 }\n"
                        "    - { serial_first: A300, serial_last: B301, vintage: 2026-02 }\n";
        assert_int_equal(apply(y, &c, &d), -EINVAL);
        assert_true(has(&d, "t.yaml:3:"));
        assert_true(has(&d, "green_contracts[0].from"));
        assert_true(has(&d, "either kwh"));
        assert_true(has(&d, "certificates[1] overlaps certificates[0]"));
        assert_true(has(&d, "t.yaml:7:"));
        assert_true(has(&d, "certificates[2]: serial_last must have the prefix"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);

        assert_int_equal(apply("accounting:\n  carbon: { gas: CH4 }\n", &c, &d), -EINVAL);
        assert_true(has(&d, "CO2 or CO2e"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);

        assert_int_equal(apply("accounting:\n  recrd_interval: 15m\n", &c, &d), -EINVAL);
        assert_true(has(&d, "unknown key"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);

        assert_int_equal(apply("accounting:\n  completeness_threshold: 1.5\n", &c, &d), -EINVAL);
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
}

/* ---- factor tables ---- */

/* The China 2023 factors as METRICS.md states them (the reference). */
static const struct {
        const char *region;
        double factor;
} cn2023[] = {
        { "national", 0.5306 }, { "north", 0.6361 },     { "northeast", 0.5122 }, { "east", 0.5500 },
        { "central", 0.5271 },  { "northwest", 0.5543 }, { "south", 0.4042 },     { "southwest", 0.2472 },
};

static void test_table_default_builtin(void **st) {
        (void)st;
        dcem_diag d = { 0 };
        for (size_t i = 0; i < sizeof cn2023 / sizeof cn2023[0]; i++) {
                char y[256];
                snprintf(y, sizeof y, "accounting:\n  carbon: { table: cn-mee-2023, region: %s }\n", cn2023[i].region);
                dcem_acct_conf c;
                int r = apply(y, &c, &d);
                for (size_t k = 0; k < d.n; k++)
                        print_message("%s\n", d.msgs[k]);
                assert_int_equal(r, 0);
                assert_true(c.carbon.grid_factor == cn2023[i].factor);
                assert_true(c.carbon.residual_factor == 0.6096);
                assert_int_equal(c.carbon.grid_factor_year, 2023);
                assert_string_equal(c.carbon.gas, "CO2");
                assert_string_equal(c.carbon.table, "cn-mee-2023");
                assert_string_equal(c.carbon.region, cn2023[i].region);
                assert_non_null(strstr(c.carbon.source, "2025 No. 47"));
                assert_non_null(strstr(c.carbon.source, cn2023[i].region));
                assert_non_null(strstr(c.carbon.residual_source, "excluding market-traded non-fossil power"));
                dcem_schema_free(&dcem_accounting_schema, &c);
        }
        /* no region: the table's default (national) */
        dcem_acct_conf c;
        assert_int_equal(apply("accounting:\n  carbon: { table: cn-mee-2023 }\n", &c, &d), 0);
        assert_true(c.carbon.grid_factor == 0.5306);
        assert_string_equal(c.carbon.region, "national");
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
}

/* conf/factors/cn-mee-2023.yaml and the built-in copy say the same. */
static void test_table_file_is_builtin(void **st) {
        (void)st;
        char path[1024];
        snprintf(path, sizeof path, "%s/conf/factors/cn-mee-2023.yaml", DCEM_SOURCE_DIR);
        dcem_diag d = { 0 };
        for (size_t i = 0; i < sizeof cn2023 / sizeof cn2023[0]; i++) {
                dcem_acct_carbon_conf a = { 0 }, b = { 0 };
                assert_int_equal(dcem_factor_table_apply(path, cn2023[i].region, NULL, &a, &d), 0);
                assert_int_equal(dcem_factor_table_apply("builtin:cn-mee-2023", cn2023[i].region, NULL, &b, &d), 0);
                assert_true(a.grid_factor == b.grid_factor && a.grid_factor == cn2023[i].factor);
                assert_true(a.residual_factor == b.residual_factor);
                assert_int_equal(a.grid_factor_year, b.grid_factor_year);
                assert_string_equal(a.source, b.source);
                assert_string_equal(a.residual_source, b.residual_source);
                assert_string_equal(a.gas, b.gas);
                assert_string_equal(a.table, b.table);
                assert_string_equal(a.region, b.region);
                char **f[] = { &a.region, &a.source, &a.residual_source, &a.gas, &a.table,
                               &b.region, &b.source, &b.residual_source, &b.gas, &b.table };
                for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
                        free(*f[k]);
        }
        assert_int_equal(d.n, 0);
        dcem_acct_carbon_conf x = { 0 };
        assert_int_equal(dcem_factor_table_apply("builtin:nope", NULL, NULL, &x, &d), -ENOENT);
        assert_int_equal(dcem_factor_table_apply("/nonexistent/t.yaml", NULL, NULL, &x, &d), -ENOENT);
        assert_int_equal(dcem_factor_table_apply("builtin:cn-mee-2023", "atlantis", NULL, &x, &d), -ESRCH);
        assert_true(has(&d, "region atlantis is not in factor table cn-mee-2023"));
        dcem_diag_clear(&d);
        assert_null(x.table);
}

static char tmpdir[64];

static void put_file(const char *rel, const char *text) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* Apply the accounting block of a config file written in tmpdir (so tables
 * are looked up next to it). */
static int apply_file(const char *yaml, dcem_acct_conf *c, dcem_diag *d) {
        put_file("dcem.yaml", yaml);
        char path[256];
        snprintf(path, sizeof path, "%s/dcem.yaml", tmpdir);
        dcem_node *root = NULL;
        memset(c, 0, sizeof(*c));
        assert_int_equal(dcem_yaml_load_file(path, &root, d), 0);
        int r = dcem_schema_apply(&dcem_accounting_schema, dcem_node_get(root, "accounting"), c, d);
        dcem_node_free(root);
        return r;
}

static const char user_table[] = "id: my-grid-2024\n"
                                 "source: Grid operator X, annual report 2025\n"
                                 "data_year: 2024\n"
                                 "gas: CO2e\n"
                                 "unit: kg/kWh\n"
                                 "default_region: west\n"
                                 "regions: { west: 0.31, east: 0.22 }\n"
                                 "residual: { factor: 0.45, source: residual mix 2024 }\n";

static void test_table_user(void **st) {
        (void)st;
        snprintf(tmpdir, sizeof tmpdir, "/tmp/dcem-ftab-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        char sub[128];
        snprintf(sub, sizeof sub, "%s/factors", tmpdir);
        assert_int_equal(mkdir(sub, 0700), 0);
        snprintf(sub, sizeof sub, "%s/mine", tmpdir);
        assert_int_equal(mkdir(sub, 0700), 0);
        put_file("factors/my-grid.yaml", user_table);
        put_file("mine/t.yaml", user_table);
        dcem_acct_conf c;
        dcem_diag d = { 0 };
        /* by name, next to the config file; the table's gas labels the figures */
        assert_int_equal(apply_file("accounting:\n  carbon: { table: my-grid, region: east }\n", &c, &d), 0);
        assert_true(c.carbon.grid_factor == 0.22);
        assert_true(c.carbon.residual_factor == 0.45);
        assert_int_equal(c.carbon.grid_factor_year, 2024);
        assert_string_equal(c.carbon.gas, "CO2e");
        assert_string_equal(c.carbon.table, "my-grid-2024");
        dcem_fig_params p = { .carbon = &c.carbon };
        dcem_acct_sums s = { .start_ns = 0, .end_ns = 900 * NS, .covered_ns = 900 * NS, .n_intervals = 1 };
        s.kwh[DCEM_ACC_GRID_IMPORT] = 100;
        dcem_figure f;
        dcem_fig_carbon(&s, DCEM_WIN_INTERVAL, false, &p, &f);
        assert_true(f.value == 100 * 0.22);
        assert_string_equal(f.unit, "kgCO2e");
        assert_string_equal(f.factor_table, "my-grid-2024");
        assert_string_equal(f.factor_region, "east");
        assert_int_equal(f.factor_year, 2024);
        assert_non_null(strstr(f.factor_source, "Grid operator X"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        /* by path, relative to the config file */
        assert_int_equal(apply_file("accounting:\n  carbon: { table: mine/t.yaml }\n", &c, &d), 0);
        assert_true(c.carbon.grid_factor == 0.31);
        dcem_schema_free(&dcem_accounting_schema, &c);
        /* in an explicit factors_dir */
        char y[256];
        snprintf(y, sizeof y, "accounting:\n  carbon: { table: t, factors_dir: %s/mine }\n", tmpdir);
        assert_int_equal(apply_file(y, &c, &d), 0);
        assert_true(c.carbon.grid_factor == 0.31);
        dcem_schema_free(&dcem_accounting_schema, &c);
        /* a written key overrides the table; its source says so */
        assert_int_equal(apply_file("accounting:\n  carbon: { table: my-grid, grid_factor: 0.5 }\n", &c, &d), 0);
        assert_true(c.carbon.grid_factor == 0.5);
        assert_true(c.carbon.residual_factor == 0.45);
        assert_non_null(strstr(c.carbon.source, "overrides table my-grid-2024"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        assert_int_equal(apply_file("accounting:\n  carbon: { table: my-grid, residual_factor: 0.7, residual_source: "
                                    "supplier letter, gas: CO2, source: own }\n",
                                    &c, &d),
                         0);
        assert_true(c.carbon.grid_factor == 0.31 && c.carbon.residual_factor == 0.7);
        assert_string_equal(c.carbon.residual_source, "supplier letter");
        assert_string_equal(c.carbon.source, "own");
        assert_string_equal(c.carbon.gas, "CO2");
        dcem_schema_free(&dcem_accounting_schema, &c);
        assert_int_equal(d.n, 0);

        /* errors, with positions */
        assert_int_equal(apply_file("accounting:\n  carbon:\n    table: my-grid\n    region: north\n", &c, &d),
                         -EINVAL);
        assert_true(has(&d, "dcem.yaml:4:13: region north is not in factor table my-grid-2024"));
        assert_true(has(&d, "one of west, east"));
        assert_int_equal(d.n, 1); /* the table itself is fine */
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        assert_int_equal(apply_file("accounting:\n  carbon: { table: nope }\n", &c, &d), -EINVAL);
        assert_true(has(&d, "dcem.yaml:2:20: carbon.table nope: no such factor table"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        assert_int_equal(apply_file("accounting:\n  carbon: { table: Bad Name }\n", &c, &d), -EINVAL);
        assert_true(has(&d, "expected a table name"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        put_file("factors/broken.yaml", "id: broken\nsource: x\ndata_year: 2024\ngas: CH4\nunit: kg/kWh\n"
                                        "default_region: a\nregions: { a: 0.3, b: lots }\n"
                                        "residual: { factor: 0.4, source: y }\n");
        assert_int_equal(apply_file("accounting:\n  carbon: { table: broken }\n", &c, &d), -EINVAL);
        assert_true(has(&d, "factors/broken.yaml:4:6: gas must be CO2 or CO2e"));
        assert_true(has(&d, "factors/broken.yaml:7:23: regions.b: expected a factor"));
        assert_true(has(&d, "carbon.table broken: not a valid factor table"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        put_file("factors/nosrc.yaml", "id: nosrc\ndata_year: 2024\ngas: CO2\nunit: kg/kWh\n"
                                       "default_region: a\nregions: { a: 0.3 }\nresidual: { factor: 0.4, source: y }\n");
        assert_int_equal(apply_file("accounting:\n  carbon: { table: nosrc }\n", &c, &d), -EINVAL);
        assert_true(has(&d, "source"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        assert_int_equal(apply_file("accounting:\n  carbon: { factors_dir: /x }\n", &c, &d), -EINVAL);
        assert_true(has(&d, "factors_dir without carbon.table"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        const char *files[] = { "factors/my-grid.yaml", "factors/broken.yaml", "factors/nosrc.yaml", "mine/t.yaml",
                                "dcem.yaml", "factors", "mine" };
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                char path[256];
                snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
                (void)(i < 5 ? unlink(path) : rmdir(path));
        }
        rmdir(tmpdir);
}

static void test_compute_units_conf(void **st) {
        (void)st;
        dcem_acct_conf c;
        dcem_diag d = { 0 };
        const char *y = "accounting:\n"
                        "  compute:\n"
                        "    units:\n"
                        "      - { name: cpu_core_hour, point: cpu_core_seconds, divisor: 3600 }\n"
                        "      - { name: job, point: jobs_done, devices: [batch-a, batch-b], scale: 2 }\n";
        assert_int_equal(apply(y, &c, &d), 0);
        assert_int_equal(c.compute.units.n, 2);
        const dcem_acct_unit_conf *u = c.compute.units.items;
        assert_string_equal(u[0].name, "cpu_core_hour");
        assert_true(u[0].scale == 1 && u[0].divisor == 3600);
        assert_int_equal(u[0].devices.n, 0);
        assert_int_equal(u[1].devices.n, 2);
        assert_string_equal(u[1].devices.items[1], "batch-b");
        assert_true(u[1].scale == 2);
        dcem_schema_free(&dcem_accounting_schema, &c);
        y = "accounting:\n"
            "  compute:\n"
            "    units:\n"
            "      - { name: job, point: a }\n"
            "      - { name: job, point: b }\n"
            "      - { name: kwh_it, point: c }\n";
        assert_int_equal(apply(y, &c, &d), -EINVAL);
        assert_true(has(&d, "t.yaml:5:17: compute.units[1].name job is declared twice"));
        assert_true(has(&d, "kwh_it is built in"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        assert_int_equal(apply("accounting:\n  compute: { units: [ { name: x, point: d, divisor: 0 } ] }\n", &c, &d),
                         -EINVAL);
        assert_true(has(&d, "t.yaml:2:53: compute.units[0].divisor"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        char big[2048] = "accounting:\n  compute:\n    units:\n";
        for (int i = 0; i < 9; i++)
                snprintf(big + strlen(big), sizeof big - strlen(big), "      - { name: u%d, point: p }\n", i);
        assert_int_equal(apply(big, &c, &d), -EINVAL);
        assert_true(has(&d, "at most 8"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
}

/* accounting.compute.remote: the hosts, the topic filter's default, the
 * hosts' interval; errors named at their place. */
static void test_compute_remote_conf(void **st) {
        (void)st;
        dcem_acct_conf c;
        dcem_diag d = { 0 };
        const char *y = "accounting:\n"
                        "  compute:\n"
                        "    remote: { hosts: [ rack1/host-a, rack2/host-b ], interval: 5s }\n";
        assert_int_equal(apply(y, &c, &d), 0);
        assert_int_equal(c.compute.remote.hosts.n, 2);
        assert_string_equal(c.compute.remote.hosts.items[1], "rack2/host-b");
        assert_string_equal(c.compute.remote.topic, "dcem/+/devices/+");
        assert_true(c.compute.remote.interval_ns == 5 * DCEM_NS_PER_S);
        dcem_schema_free(&dcem_accounting_schema, &c);
        y = "accounting:\n"
            "  compute:\n"
            "    remote:\n"
            "      topic: dcem/a+/devices/#/x\n"
            "      hosts:\n"
            "        - rack1/host-a\n"
            "        - nohost\n"
            "        - rack1/host-a\n"
            "        - rack1/+\n";
        assert_int_equal(apply(y, &c, &d), -EINVAL);
        assert_true(has(&d, "t.yaml:7:11: compute.remote.hosts[1] \"nohost\": must be SITE/DEVICE"));
        assert_true(has(&d, "t.yaml:8:11: compute.remote.hosts[2] rack1/host-a is declared twice"));
        assert_true(has(&d, "compute.remote.hosts[3] \"rack1/+\": must not hold the MQTT wildcards"));
        assert_true(has(&d, "t.yaml:4:14: compute.remote.topic: not an MQTT topic filter"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
        assert_int_equal(apply("accounting:\n  compute: { remote: { interval: 5s } }\n", &c, &d), -EINVAL);
        assert_true(has(&d, "compute.remote: hosts is required"));
        dcem_schema_free(&dcem_accounting_schema, &c);
        dcem_diag_clear(&d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table_default_builtin),
                cmocka_unit_test(test_table_file_is_builtin),
                cmocka_unit_test(test_table_user),
                cmocka_unit_test(test_compute_units_conf),
                cmocka_unit_test(test_compute_remote_conf),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full_block),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
