/* test_config.c - the configuration loader (agent/config.c) on good and bad
 * files of tests/data/config, against the fake registry (fake_registry.c).
 *
 * Every expected error names its exact line and column: they were counted by
 * hand from the data files (columns are 1-based characters), not copied from
 * the loader's output.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dcem/build_config.h"
#include "dcem/config.h"
#include "fake_registry.h"

#define DATA DCEM_SOURCE_DIR "/tests/data/config/"
#define S_NS 1000000000LL

static void print_diag(const dcem_diag *d)
{
        for (size_t i = 0; i < d->n; i++)
                print_message("  diag[%zu]: %s\n", i, d->msgs[i]);
}

/* Load DATA file, expecting failure with exactly these errors (in any order),
 * each given as "LINE:COL: message", the file name being prepended. */
static void expect_errors_in(const char *file, const char *const *expected, size_t n)
{
        char path[512];
        dcem_diag diag = { 0 };
        dcem_config *cfg = NULL;

        snprintf(path, sizeof(path), DATA "%s", file);
        int r = dcem_config_load(path, &cfg, &diag);
        print_message("%s:\n", file);
        print_diag(&diag);
        assert_int_equal(r, -EINVAL);
        assert_null(cfg);
        for (size_t i = 0; i < n; i++) {
                char want[1024];
                bool found = false;
                snprintf(want, sizeof(want), "%s:%s", path, expected[i]);
                for (size_t k = 0; k < diag.n && !found; k++)
                        found = strcmp(diag.msgs[k], want) == 0;
                if (!found)
                        print_message("missing: %s\n", want);
                assert_true(found);
        }
        assert_int_equal(dcem_diag_count(&diag), n);
        /* Reported in the order of the file. */
        unsigned long pl = 0, pc = 0;
        for (size_t k = 0; k < diag.n; k++) {
                unsigned long l = 0, c = 0;
                sscanf(diag.msgs[k] + strlen(path), ":%lu:%lu:", &l, &c);
                assert_true(l > pl || (l == pl && c >= pc));
                pl = l;
                pc = c;
        }
        dcem_diag_clear(&diag);
}
#define expect_errors(file, ...)                                                                   \
        do {                                                                                       \
                static const char *const e_[] = { __VA_ARGS__ };                                   \
                expect_errors_in(file, e_, sizeof(e_) / sizeof(e_[0]));                            \
        } while (0)

static dcem_config *load_ok(const char *path)
{
        dcem_diag diag = { 0 };
        dcem_config *cfg = NULL;
        int r = dcem_config_load(path, &cfg, &diag);
        print_diag(&diag);
        assert_int_equal(r, 0);
        assert_int_equal(dcem_diag_count(&diag), 0);
        assert_non_null(cfg);
        dcem_diag_clear(&diag);
        return cfg;
}

static size_t pub_index(const char *name)
{
        for (size_t i = 0; dcem_publishers[i]; i++)
                if (!strcmp(dcem_publishers[i]->name, name))
                        return i;
        fail_msg("no publisher %s", name);
        return 0;
}

static void test_good_minimal_defaults(void **state)
{
        (void)state;
        dcem_config *c = load_ok(DATA "good_minimal.yaml");
        assert_string_equal(c->site, "lab");
        assert_int_equal(c->interval_ns, 10 * S_NS);
        assert_int_equal(c->timeout_ns, 5 * S_NS);
        assert_int_equal(c->backoff_cap, 10);
        assert_string_equal(c->state_dir, "/var/lib/dcem");
        assert_string_equal(c->profiles_dir, DCEM_PROFILES_DIR);
        assert_int_equal(c->log_level, 6); /* info */
        assert_int_equal(c->queue_batches, 10000);
        assert_int_equal(c->spread_ns, 0); /* polls on their grid instant */
        assert_int_equal(dcem_config_ndevices(c), 0);
        assert_false(c->output.stdout_enabled);
        assert_null(c->output.mqtt);
        assert_null(c->accounting);
        assert_non_null(c->publisher_conf);
        for (size_t i = 0; dcem_publishers[i]; i++)
                assert_null(c->publisher_conf[i]);
        assert_string_equal(c->file, DATA "good_minimal.yaml");
        assert_non_null(c->root);
        dcem_config_free(c);
}

static void test_good_full_overrides(void **state)
{
        (void)state;
        fake_check_calls = 0;
        dcem_config *c = load_ok(DATA "good_full.yaml");
        assert_string_equal(c->site, "dc-east-1");
        assert_int_equal(c->interval_ns, 15 * S_NS);
        assert_int_equal(c->timeout_ns, 2 * S_NS);
        assert_int_equal(c->backoff_cap, 20);
        assert_string_equal(c->state_dir, DATA "state"); /* relative to the file */
        assert_string_equal(c->profiles_dir, "/opt/dcem/profiles");
        assert_int_equal(c->log_level, 7); /* debug */
        assert_int_equal(c->queue_batches, 500);
        assert_int_equal(c->spread_ns, 200 * (S_NS / 1000));
        assert_int_equal(dcem_config_ndevices(c), 4);

        const dcem_device_conf *d = dcem_config_devices(c);
        /* utility-main: own interval 5s, timeout min(2s, 5s). */
        assert_string_equal(d[0].name, "utility-main");
        assert_int_equal(d[0].role, DCEM_ROLE_GRID_IMPORT);
        assert_int_equal(d[0].pue_category, 0);
        assert_int_equal(d[0].interval_ns, 5 * S_NS);
        assert_int_equal(d[0].timeout_ns, 2 * S_NS);
        assert_true(d[0].rated_kw == 1250.5);
        assert_ptr_equal(d[0].collector, &fake_modbus_ops);
        assert_non_null(d[0].modbus);
        assert_null(d[0].snmp);
        assert_null(d[0].host);
        assert_int_equal(d[0].node->line, 12);
        const fake_modbus_conf *m = d[0].collector_conf;
        assert_string_equal(m->address, "127.0.0.1");
        assert_int_equal(m->port, 1502);
        assert_int_equal(m->unit_id, 1); /* the collector schema's default */
        assert_null(m->profile);
        /* ups_1: role it with category 1, global interval, own timeout. */
        assert_string_equal(d[1].name, "ups_1");
        assert_int_equal(d[1].role, DCEM_ROLE_IT);
        assert_int_equal(d[1].pue_category, 1);
        assert_int_equal(d[1].interval_ns, 15 * S_NS);
        assert_int_equal(d[1].timeout_ns, 1 * S_NS);
        m = d[1].collector_conf;
        assert_string_equal(m->profile, "ups-x");
        assert_int_equal(m->port, 502);
        /* crac-2: 1m30s, the host collector. */
        assert_int_equal(d[2].role, DCEM_ROLE_COOLING);
        assert_int_equal(d[2].interval_ns, 90 * S_NS);
        assert_int_equal(d[2].timeout_ns, 2 * S_NS);
        assert_ptr_equal(d[2].collector, &fake_host_ops);
        assert_int_equal(((const fake_host_conf *)d[2].collector_conf)->disks.n, 0);
        /* slow: 1s interval caps the 2s global timeout. */
        assert_int_equal(d[3].role, DCEM_ROLE_NONE);
        assert_int_equal(d[3].interval_ns, 1 * S_NS);
        assert_int_equal(d[3].timeout_ns, 1 * S_NS);
        assert_true(d[3].rated_kw == 0);

        /* The check ran for each modbus device, with the resolved profiles_dir. */
        assert_int_equal(fake_check_calls, 3);
        assert_string_equal(fake_check_profiles_dir, "/opt/dcem/profiles");

        assert_true(c->output.stdout_enabled);
        assert_non_null(c->publisher_conf[pub_index("stdout")]);
        const fake_mqtt_conf *q = c->publisher_conf[pub_index("mqtt")];
        assert_non_null(q);
        assert_string_equal(q->broker, "127.0.0.1");
        assert_int_equal(q->port, 1883);
        assert_int_equal(q->keepalive_ns, 60 * S_NS);
        assert_int_equal(q->max_buffer, 1048576);
        assert_non_null(c->accounting);
        assert_int_equal(c->accounting->type, DCEM_NODE_MAP);
        assert_non_null(dcem_node_get(c->accounting, "period"));
        dcem_config_free(c);
}

static void test_good_relative_paths(void **state)
{
        (void)state;
        dcem_config *c = load_ok(DATA "good_relative.yaml");
        assert_string_equal(c->state_dir, DATA "../state");
        assert_string_equal(c->profiles_dir, DATA "profiles");
        assert_string_equal(fake_check_profiles_dir, DATA "profiles");
        const dcem_device_conf *d = dcem_config_devices(c);
        const fake_host_conf *h = d[1].collector_conf;
        assert_int_equal(h->disks.n, 2);
        assert_string_equal(h->disks.items[0], "sda");
        assert_string_equal(h->disks.items[1], "nvme0n1");
        assert_false(c->output.stdout_enabled);
        assert_null(c->publisher_conf[pub_index("stdout")]);
        assert_non_null(c->publisher_conf[pub_index("mqtt")]);
        dcem_config_free(c);

        /* From a buffer: relative to the name's directory, or kept as given. */
        static const char y[] = "site: x\nprofiles_dir: p\nstate_dir: s/t\n";
        dcem_diag diag = { 0 };
        assert_int_equal(dcem_config_load_buffer("/etc/dcem/dcem.yaml", y, strlen(y), &c, &diag), 0);
        assert_string_equal(c->profiles_dir, "/etc/dcem/p");
        assert_string_equal(c->state_dir, "/etc/dcem/s/t");
        dcem_config_free(c);
        assert_int_equal(dcem_config_load_buffer("dcem.yaml", y, strlen(y), &c, &diag), 0);
        assert_string_equal(c->profiles_dir, "p");
        assert_string_equal(c->state_dir, "s/t");
        dcem_config_free(c);
        assert_int_equal(dcem_diag_count(&diag), 0);
}

static void test_roles_match_enum(void **state)
{
        (void)state;
        /* The schema's role values, in order, must map onto enum dcem_role. */
        for (int r = 0; r < _DCEM_ROLE_MAX; r++) {
                char y[256];
                dcem_diag diag = { 0 };
                dcem_config *c = NULL;
                snprintf(y, sizeof(y), "site: s\ndevices:\n  - name: d\n    role: %s\n%s    host:\n",
                         dcem_role_name((dcem_role)r), r == DCEM_ROLE_IT ? "    pue_category: 3\n" : "");
                int k = dcem_config_load_buffer("r.yaml", y, strlen(y), &c, &diag);
                print_diag(&diag);
                assert_int_equal(k, 0);
                assert_int_equal(dcem_config_devices(c)[0].role, r);
                dcem_config_free(c);
        }
        assert_string_equal(dcem_role_name(DCEM_ROLE_GREEN_SUPPLY), "green_supply");
        assert_string_equal(dcem_role_name(_DCEM_ROLE_MAX), "unknown");
}

static void test_bad_type(void **state)
{
        (void)state;
        expect_errors("bad_type.yaml", "2:11: interval: expected a duration, found a list",
                      "3:14: backoff_cap: 'many' is not an integer: not an integer",
                      "5:3: devices: expected a list of maps, found a map",
                      "7:11: output.stdout: 'maybe' is not a boolean: expected true or false (or yes/no, on/off)");
}

static void test_bad_unknown_keys(void **state)
{
        (void)state;
        expect_errors("bad_unknown_key.yaml", "2:1: unknown key 'intervall' (did you mean 'interval'?)",
                      "8:5: devices[0]: unknown key 'colour' (valid keys: name, role, pue_category, interval, "
                      "timeout, rated_kw, meter, modbus, snmp, host)",
                      "7:7: devices[0].modbus: unknown key 'prot' (did you mean 'port'?)");
}

static void test_bad_duplicate_device(void **state)
{
        (void)state;
        expect_errors("bad_duplicate_device.yaml",
                      "7:11: devices[2].name: duplicate device name 'pdu-1' (first used by devices[0] at line 3)");
}

static void test_bad_durations(void **state)
{
        (void)state;
        expect_errors("bad_duration.yaml",
                      "2:11: interval: '10' is not a duration: a duration needs a unit: ms, s, m, h or d",
                      "3:10: timeout: '5x' is not a duration: unknown unit 'x' (use ms, s, m, h or d)",
                      "6:15: devices[0].interval: '-5s' is not a duration: a duration cannot be negative",
                      "9:15: devices[1].interval: '1.5.s' is not a duration: expected a number and a unit, e.g. "
                      "500ms, 10s or 1m30s",
                      "10:14: devices[1].timeout: '10s20m' is not a duration: units must go from largest to "
                      "smallest, each once (e.g. 1h30m)",
                      "13:15: devices[2].interval: '99999999999999999999d' is not a duration: too large",
                      "17:15: devices[3].interval: '50ms' is out of range: must be between 100ms and 1d");
}

static void test_bad_timeout_longer_than_interval(void **state)
{
        (void)state;
        expect_errors("bad_timeout.yaml",
                      "5:14: devices[0].timeout: the timeout (20s) is longer than the device's interval (10s)",
                      "9:14: devices[1].timeout: the timeout (3s) is longer than the device's interval (2s)");
}

static void test_bad_missing_site(void **state)
{
        (void)state;
        expect_errors("bad_missing_site.yaml", "2:1: missing required key 'site'");
}

static void test_bad_names(void **state)
{
        (void)state;
        expect_errors("bad_names.yaml",
                      "1:7: site: 'DC_East' is not a valid name: 'D' is not allowed (use [a-z0-9-], 1 to 63 "
                      "characters)",
                      "3:11: devices[0].name: 'pdu 1' is not a valid name: ' ' is not allowed (use [a-z0-9_-], 1 "
                      "to 63 characters)",
                      "5:11: devices[1].name: 'a-very-long-name-that-goes-on-and-on-well-past-t...' is not a "
                      "valid name: longer than 63 characters");
}

static void test_bad_collector_blocks(void **state)
{
        (void)state;
        expect_errors("bad_collector_blocks.yaml",
                      "3:5: devices[0]: no collector block: give exactly one of modbus, snmp or host",
                      "7:5: devices[1]: only one collector block is allowed: 'host' here and 'modbus' at line 6",
                      "9:5: devices[2].snmp: collector 'snmp' is not built into this dcem",
                      "11:44: profile 'missing' not found in " DCEM_PROFILES_DIR);
}

static void test_bad_pue(void **state)
{
        (void)state;
        expect_errors("bad_pue.yaml",
                      "3:5: devices[0]: role it needs pue_category: 1 (UPS output), 2 (PDU output) or 3 (IT "
                      "equipment input)",
                      "8:5: devices[1].pue_category: only allowed with role it (this device's role is cooling)",
                      "12:19: devices[2].pue_category: '4' is out of range: must be between 1 and 3");
}

static void test_bad_syntax_bracket(void **state)
{
        (void)state;
        expect_errors("bad_syntax_bracket.yaml",
                      "3:1: did not find expected ',' or '}' (while parsing a flow mapping started at line 2, "
                      "column 12)");
}

static void test_bad_indent(void **state)
{
        (void)state;
        expect_errors("bad_indent.yaml",
                      "6:6: did not find expected key (while parsing a block mapping started at line 3, column 5)");
}

static void test_bad_tab(void **state)
{
        (void)state;
        expect_errors("bad_tab.yaml", "3:1: found character that cannot start any token (while scanning for the "
                                      "next token); a tab? YAML indents with spaces only");
}

static void test_bad_duplicate_key(void **state)
{
        (void)state;
        expect_errors("bad_duplicate_key.yaml", "8:7: duplicate key 'port' (first given at line 7, column 7)",
                      "9:1: duplicate key 'interval' (first given at line 2, column 1)");
}

static void test_bad_alias(void **state)
{
        (void)state;
        expect_errors("bad_alias.yaml", "2:11: anchors (&d) are not allowed in a dcem configuration",
                      "5:13: aliases (*d) are not allowed in a dcem configuration");
}

static void test_bad_tag(void **state)
{
        (void)state;
        expect_errors("bad_tag.yaml", "1:7: tag '!custom' is not allowed (only the YAML core tags are)",
                      "2:11: tag 'tag:yaml.org,2002:binary' is not allowed (only the YAML core tags are)");
}

static void test_bad_many_all_reported(void **state)
{
        (void)state;
        expect_errors("bad_many.yaml",
                      "1:7: site: 'Bad Site' is not a valid name: 'B' is not allowed (use [a-z0-9-], 1 to 63 "
                      "characters)",
                      "2:11: interval: '10' is not a duration: a duration needs a unit: ms, s, m, h or d",
                      "3:10: timeout: '2d' is out of range: must be between 10ms and 1d",
                      "4:14: backoff_cap: '0' is out of range: must be between 1 and 1000",
                      "5:12: log_level: 'verbose' is not a valid value; use one of: err, warning, notice, info, debug",
                      "7:16: queue.max_batches: '0' is out of range: must be between 1 and 10000000",
                      "10:11: devices[0].role: 'grid-import' is not a valid value (did you mean 'grid_import'?); use "
                      "one of: grid_import, grid_export, onsite_renewable, green_supply, it, cooling, other, none",
                      "11:41: devices[0].modbus.port: '70000' is out of range: must be between 1 and 65535",
                      "12:5: devices[1]: missing required key 'name'",
                      "18:5: output.mqtt: missing required key 'broker'");
}

/* An error the collector's check places in another file (a profile) is
 * reported at the device's block, in the file's order. */
static void test_error_in_other_file(void **state)
{
        (void)state;
        static const char y[] = "site: s\n"
                                "devices:\n"
                                "  - name: a\n"
                                "    modbus: { address: h, profile: broken }\n"
                                "  - name: b\n"
                                "    modbus: { address: h }\n"
                                "    colour: red\n";
        dcem_diag diag = { 0 };
        dcem_config *c = NULL;
        assert_int_equal(dcem_config_load_buffer("/etc/o.yaml", y, strlen(y), &c, &diag), -EINVAL);
        print_diag(&diag);
        assert_int_equal(diag.n, 2);
        assert_string_equal(diag.msgs[0], "/etc/o.yaml:4:13: devices[0].modbus: " DCEM_PROFILES_DIR "/broken.yaml:2:3: "
                                          "bad register");
        assert_string_equal(diag.msgs[1], "/etc/o.yaml:7:5: devices[1]: unknown key 'colour' (valid keys: name, role, "
                                          "pue_category, interval, timeout, rated_kw, meter, modbus, snmp, host)");
        dcem_diag_clear(&diag);
}

/* A collector's check knows only its block ("modbus.profile: ..."); the
 * loader puts the device's place in front: the full path from the root. */
static void test_check_error_full_path(void **state)
{
        (void)state;
        static const char y[] = "site: s\n"
                                "devices:\n"
                                "  - name: a\n"
                                "    modbus: { address: h }\n"
                                "  - name: b\n"
                                "    modbus: { address: h, profile: keyed }\n";
        dcem_diag diag = { 0 };
        dcem_config *c = NULL;
        assert_int_equal(dcem_config_load_buffer("/etc/o.yaml", y, strlen(y), &c, &diag), -EINVAL);
        print_diag(&diag);
        assert_int_equal(diag.n, 1);
        assert_string_equal(diag.msgs[0], "/etc/o.yaml:6:36: devices[1].modbus.profile: no profile 'keyed' in "
                                          DCEM_PROFILES_DIR);
        dcem_diag_clear(&diag);
}

static void test_missing_file(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        dcem_config *cfg = (dcem_config *)(uintptr_t)1; /* must stay untouched */
        int r = dcem_config_load(DATA "no-such-file.yaml", &cfg, &diag);
        assert_int_equal(r, -ENOENT);
        assert_ptr_equal(cfg, (dcem_config *)(uintptr_t)1);
        assert_int_equal(diag.n, 1);
        assert_string_equal(diag.msgs[0], DATA "no-such-file.yaml: cannot open: No such file or directory");
        dcem_diag_clear(&diag);

        r = dcem_config_load(DATA, &cfg, &diag); /* a directory */
        assert_int_equal(r, -EISDIR);
        assert_int_equal(diag.n, 1);
        dcem_diag_clear(&diag);
}

/* Build "site: x\na: [[[...]]]" with depth brackets. */
static char *nested(size_t depth)
{
        size_t len = 12 + 2 * depth;
        char *s = malloc(len + 1), *p = s;
        assert_non_null(s);
        p += sprintf(p, "site: x\na: ");
        for (size_t i = 0; i < depth; i++)
                *p++ = '[';
        for (size_t i = 0; i < depth; i++)
                *p++ = ']';
        *p++ = '\n';
        *p = '\0';
        return s;
}

static void test_limits(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        dcem_config *cfg = NULL;

        /* The root map is level 1, so the 31st bracket reaches level 32, the
         * limit: the error is then about the unknown key 'a' only. */
        char *y = nested(31);
        assert_int_equal(dcem_config_load_buffer("deep.yaml", y, strlen(y), &cfg, &diag), -EINVAL);
        assert_int_equal(diag.n, 1);
        assert_string_equal(diag.msgs[0], "deep.yaml:2:1: unknown key 'a' (valid keys: site, interval, timeout, "
                                          "backoff_cap, state_dir, profiles_dir, log_level, queue, schedule, devices, output, "
                                          "accounting)");
        dcem_diag_clear(&diag);
        free(y);
        /* The 32nd bracket, at column 3 + 32, is one level too deep. */
        y = nested(40);
        assert_int_equal(dcem_config_load_buffer("deep.yaml", y, strlen(y), &cfg, &diag), -EINVAL);
        assert_int_equal(diag.n, 1);
        assert_string_equal(diag.msgs[0], "deep.yaml:2:35: nested too deeply: at most 32 levels");
        dcem_diag_clear(&diag);
        free(y);
        assert_null(cfg);
}

static void test_empty_and_odd_documents(void **state)
{
        (void)state;
        static const struct {
                const char *yaml, *msg;
        } cases[] = {
                { "", "e.yaml:1:1: missing required key 'site'" },
                { "# just a comment\n", "e.yaml:1:1: missing required key 'site'" },
                { "~\n", "e.yaml:1:1: missing required key 'site'" },
                { "- a\n- b\n", "e.yaml:1:1: expected a map, found a list" },
                { "hello\n", "e.yaml:1:1: expected a map, found a scalar" },
                { "site: a\n---\nsite: b\n", "e.yaml:2:1: only one YAML document is allowed in a file" },
                { "site: a\ndevices: [ 1 ]\n", "e.yaml:2:12: devices[0]: expected a map, found a scalar" },
                { "site: a\ndevices:\n  - name: x\n    modbus: 5\n",
                  "e.yaml:4:13: devices[0].modbus: expected a map, found a scalar" },
                { "site: a\noutput: { mqtt: [] }\n", "e.yaml:2:17: output.mqtt: expected a map, found a list" },
                { "site: a\nstate_dir: ''\n", "e.yaml:2:12: state_dir: a path cannot be empty" },
                { "site: a\ninterval:\n", "e.yaml:2:10: interval: expected a duration, found nothing" },
                /* A null block is an empty map, positioned where its value would be. */
                { "site: a\ndevices:\n  - name: x\n    modbus:\n",
                  "e.yaml:4:12: devices[0].modbus: missing required key 'address'" },
                { "site: a\noutput:\n  mqtt:\n", "e.yaml:3:8: output.mqtt: missing required key 'broker'" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                dcem_diag diag = { 0 };
                dcem_config *cfg = NULL;
                int r = dcem_config_load_buffer("e.yaml", cases[i].yaml, strlen(cases[i].yaml), &cfg, &diag);
                print_message("case %zu:\n", i);
                print_diag(&diag);
                assert_int_equal(r, -EINVAL);
                assert_null(cfg);
                assert_int_equal(diag.n, 1);
                assert_string_equal(diag.msgs[0], cases[i].msg);
                dcem_diag_clear(&diag);
        }
}

static void test_null_values_are_empty(void **state)
{
        (void)state;
        /* "devices:" and "output:" with no value: an empty list, defaults. */
        static const char y[] = "site: a\ndevices:\noutput:\nqueue: ~\n";
        dcem_diag diag = { 0 };
        dcem_config *c = NULL;
        assert_int_equal(dcem_config_load_buffer("n.yaml", y, strlen(y), &c, &diag), 0);
        assert_int_equal(dcem_config_ndevices(c), 0);
        assert_false(c->output.stdout_enabled);
        assert_int_equal(c->queue_batches, 10000);
        dcem_config_free(c);
        dcem_config_free(NULL);

        /* Without a diag list the verdict is the same. */
        static const char bad[] = "site: A\n";
        c = (dcem_config *)(uintptr_t)1;
        assert_int_equal(dcem_config_load_buffer("n.yaml", bad, strlen(bad), &c, NULL), -EINVAL);
        assert_ptr_equal(c, (dcem_config *)(uintptr_t)1);
        assert_int_equal(dcem_config_load_buffer("n.yaml", y, strlen(y), &c, NULL), 0);
        dcem_config_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good_minimal_defaults),
                cmocka_unit_test(test_good_full_overrides),
                cmocka_unit_test(test_good_relative_paths),
                cmocka_unit_test(test_roles_match_enum),
                cmocka_unit_test(test_bad_type),
                cmocka_unit_test(test_bad_unknown_keys),
                cmocka_unit_test(test_bad_duplicate_device),
                cmocka_unit_test(test_bad_durations),
                cmocka_unit_test(test_bad_timeout_longer_than_interval),
                cmocka_unit_test(test_bad_missing_site),
                cmocka_unit_test(test_bad_names),
                cmocka_unit_test(test_bad_collector_blocks),
                cmocka_unit_test(test_bad_pue),
                cmocka_unit_test(test_bad_syntax_bracket),
                cmocka_unit_test(test_bad_indent),
                cmocka_unit_test(test_bad_tab),
                cmocka_unit_test(test_bad_duplicate_key),
                cmocka_unit_test(test_bad_alias),
                cmocka_unit_test(test_bad_tag),
                cmocka_unit_test(test_bad_many_all_reported),
                cmocka_unit_test(test_error_in_other_file),
                cmocka_unit_test(test_check_error_full_path),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_empty_and_odd_documents),
                cmocka_unit_test(test_null_values_are_empty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
