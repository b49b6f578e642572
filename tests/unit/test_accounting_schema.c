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
#include <string.h>
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full_block),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
