/* test_snmp_profile.c - SNMP profiles and the `snmp:` block through the
 * agent's real YAML reader and schema engine: every shipped profile loads and
 * compiles, profile: auto picks the right one for the recorded sysObjectIDs,
 * broken profiles are refused with their place, and the block's checks
 * (address, v3 secrets only from files with a safe mode, profile names). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dcem/node.h"
#include "dcem/schema.h"
#include "snmp/conf.h"
#include "snmp/model.h"
#include "snmp/profile.h"

#define PROFILES DCEM_SOURCE_DIR "/conf/profiles"

static const char *const shipped[] = { "apc-rpdu2", "raritan-pdu2", "sentry4", "eaton-epdu", "vertiv-geist",
                                       "ups-mib", "apc-ups", "liebert", "apc-inrow",
                                       "entity-sensor", NULL };

static const snmp_point_conf *point(const snmp_profile_conf *p, const char *name) {
        for (size_t i = 0; i < p->points.n; i++) {
                const snmp_point_conf *c = &((const snmp_point_conf *)p->points.items)[i];
                if (strcmp(c->name, name) == 0)
                        return c;
        }
        return NULL;
}

static void test_shipped_profiles_load(void **state) {
        (void)state;
        for (int i = 0; shipped[i]; i++) {
                dcem_diag diag = { 0 };
                snmp_profile_conf *p = NULL;
                int r = snmp_profile_load(PROFILES, shipped[i], &p, &diag);
                if (r < 0)
                        fail_msg("%s: %d %s", shipped[i], r, diag.n ? diag.msgs[0] : "");
                assert_string_equal(p->profile, shipped[i]);
                assert_non_null(p->source);
                assert_true(p->points.n > 0);
                const snmp_point_conf *pts[64];
                assert_true(p->points.n <= 64);
                for (size_t k = 0; k < p->points.n; k++)
                        pts[k] = &((const snmp_point_conf *)p->points.items)[k];
                snmp_model *m = NULL;
                char err[256] = "";
                if (snmp_model_build(pts, p->points.n, &m, err, sizeof(err)) < 0)
                        fail_msg("%s: %s", shipped[i], err);
                /* Every profile yields a device power point. */
                if (strcmp(shipped[i], "liebert") != 0)
                        assert_non_null(point(p, "power_kw"));
                snmp_model_free(m);
                snmp_profile_free(p);
                dcem_diag_clear(&diag);
        }
}

static void test_profile_values(void **state) {
        (void)state;
        dcem_diag diag = { 0 };
        snmp_profile_conf *p = NULL;
        assert_int_equal(snmp_profile_load(PROFILES, "apc-rpdu2", &p, &diag), 0);
        const snmp_point_conf *e = point(p, "energy_kwh");
        assert_non_null(e);
        assert_string_equal(e->oid, "1.3.6.1.4.1.318.1.1.26.4.3.1.9.1");
        assert_true(e->scale == 0.1);
        assert_int_equal(e->kind, DCEM_KIND_COUNTER);
        assert_string_equal(e->unit, "kWh");
        assert_int_equal(e->invalid.n, 1);
        const snmp_point_conf *o = point(p, "power_kw.outlet{i1}");
        assert_non_null(o);
        assert_true(o->optional);
        assert_int_equal(point(p, "power_kw")->kind, DCEM_KIND_GAUGE);
        snmp_profile_free(p);
        p = NULL;
        assert_int_equal(snmp_profile_load(PROFILES, "raritan-pdu2", &p, &diag), 0);
        const snmp_point_conf *r = point(p, "power_kw.inlet{i2}");
        assert_non_null(r);
        assert_int_equal(r->select.n, 1);
        assert_int_equal(((snmp_select_conf *)r->select.items)[0].index, 3);
        assert_string_equal(r->digits_column, "1.3.6.1.4.1.13742.6.3.3.4.1.7");
        snmp_profile_free(p);
        p = NULL;
        assert_int_equal(snmp_profile_load(PROFILES, "apc-ups", &p, &diag), 0);
        const snmp_point_conf *u = point(p, "power_kw");
        assert_int_equal(u->fallback.n, 1);
        assert_true(((snmp_fallback_conf *)u->fallback.items)[0].times_rated_kw);
        snmp_profile_free(p);
        dcem_diag_clear(&diag);
}

static void test_auto_match(void **state) {
        (void)state;
        struct {
                const char *sys, *want;
        } cases[] = {
                { "1.3.6.1.4.1.318.1.3.4.6", "apc-rpdu2" },     /* AP8853, AP8641 recordings */
                { "1.3.6.1.4.1.318.1.3.14.23", "apc-inrow" },   /* InRow DX */
                { "1.3.6.1.4.1.318.1.3.27", "apc-ups" },        /* SMX750 */
                { "1.3.6.1.4.1.13742.6", "raritan-pdu2" },
                { "1.3.6.1.4.1.1718.4", "sentry4" },
                { "1.3.6.1.4.1.534.6.6.7", "eaton-epdu" },
                { "1.3.6.1.4.1.21239.42.1.52", "vertiv-geist" },
                { "1.3.6.1.4.1.476.1.42", "liebert" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char name[64] = "";
                assert_int_equal(snmp_profile_match(PROFILES, cases[i].sys, name, sizeof(name)), 0);
                assert_string_equal(name, cases[i].want);
        }
        char name[64];
        assert_int_equal(snmp_profile_match(PROFILES, "1.3.6.1.4.1.99999.1", name, sizeof(name)), -ENOENT);
        assert_int_equal(snmp_profile_match(PROFILES, "not an oid", name, sizeof(name)), -EINVAL);
}

static char tmpdir[256];

static void write_file(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        assert_int_equal(chmod(path, mode), 0);
}

static void test_bad_profiles(void **state) {
        (void)state;
        char path[512], sub[300];
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/dcem-snmp-prof-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        snprintf(sub, sizeof(sub), "%s/snmp", tmpdir);
        assert_int_equal(mkdir(sub, 0700), 0);
        snprintf(path, sizeof(path), "%s/bad.yaml", sub);
        write_file(path, "profile: bad\npoints:\n  - { name: x, oid: 1.3.6.1.2.1.1.3.0, colour: red }\n", 0644);
        dcem_diag diag = { 0 };
        snmp_profile_conf *p = NULL;
        assert_int_equal(snmp_profile_load(tmpdir, "bad", &p, &diag), -EINVAL);
        assert_null(p);
        assert_true(diag.n >= 1);
        assert_non_null(strstr(diag.msgs[0], "bad.yaml:3:"));
        assert_non_null(strstr(diag.msgs[0], "colour"));
        dcem_diag_clear(&diag);
        snprintf(path, sizeof(path), "%s/other.yaml", sub);
        write_file(path, "profile: notother\npoints: []\n", 0644);
        assert_int_equal(snmp_profile_load(tmpdir, "other", &p, &diag), -EINVAL);
        assert_non_null(strstr(diag.msgs[0], "other.yaml"));
        dcem_diag_clear(&diag);
        assert_int_equal(snmp_profile_load(tmpdir, "absent", &p, &diag), -ENOENT);
        assert_int_equal(snmp_profile_load(tmpdir, "../etc/passwd", &p, &diag), -EINVAL);
        assert_false(snmp_profile_name_ok("A"));
        assert_false(snmp_profile_name_ok("-x"));
        assert_true(snmp_profile_name_ok("apc-rpdu2"));
}

/* Apply a YAML `snmp:` block text and run the collector's check. */
static int check_block(const char *yaml, dcem_diag *diag) {
        dcem_node *root = NULL;
        char name[512];
        snprintf(name, sizeof(name), "%s/dcem.yaml", tmpdir);
        assert_int_equal(dcem_yaml_load_buffer(name, yaml, strlen(yaml), &root, diag), 0);
        snmp_conf c;
        memset(&c, 0, sizeof(c));
        int r = dcem_schema_apply(&snmp_conf_schema, root, &c, diag);
        if (r == 0)
                r = snmp_conf_check(&c, root, PROFILES, diag);
        dcem_schema_free(&snmp_conf_schema, &c);
        dcem_node_free(root);
        return r;
}

static bool diag_has(const dcem_diag *d, const char *needle) {
        for (size_t i = 0; i < d->n; i++)
                if (strstr(d->msgs[i], needle))
                        return true;
        return false;
}

static void test_block_checks(void **state) {
        (void)state;
        char path[512];
        dcem_diag diag = { 0 };
        int r1 = check_block("address: udp://127.0.0.1:1161\nprofile: apc-rpdu2\n", &diag);
        if (r1 != 0 || diag.n)
                fail_msg("%d %s", r1, diag.n ? diag.msgs[0] : "");
        int r0 = check_block("address: udp://127.0.0.1:1161\nversion: 1\n"
                                     "points:\n  - { name: uptime, oid: 1.3.6.1.2.1.1.3.0 }\n", &diag);
        if (r0 != 0 || diag.n)
                fail_msg("%d %s", r0, diag.n ? diag.msgs[0] : "");
        assert_int_equal(check_block("address: tcp://1.2.3.4\nprofile: nope\n", &diag), -EINVAL);
        assert_true(diag_has(&diag, "snmp.address"));
        assert_true(diag_has(&diag, "no profile nope"));
        dcem_diag_clear(&diag);
        /* An inline v3 password is not a key at all: refused. */
        assert_int_equal(check_block("address: 127.0.0.1\nversion: 3\nuser: u\nauth_password: secret123\n"
                                     "profile: apc-rpdu2\n", &diag), -EINVAL);
        assert_true(diag_has(&diag, "auth_password"));
        dcem_diag_clear(&diag);
        /* authPriv without the files. */
        assert_int_equal(check_block("address: 127.0.0.1\nversion: 3\nuser: u\nprofile: apc-rpdu2\n", &diag), -EINVAL);
        assert_true(diag_has(&diag, "auth_password_file"));
        assert_true(diag_has(&diag, "priv_password_file"));
        dcem_diag_clear(&diag);
        /* A world-readable secret file is refused, a 0600 one accepted (relative
         * to the config file's directory). */
        snprintf(path, sizeof(path), "%s/auth", tmpdir);
        write_file(path, "authpass123\n", 0644);
        snprintf(path, sizeof(path), "%s/priv", tmpdir);
        write_file(path, "privpass123\n", 0600);
        assert_int_equal(check_block("address: 127.0.0.1\nversion: 3\nuser: u\nauth_password_file: auth\n"
                                     "priv_password_file: priv\nprofile: apc-rpdu2\n", &diag), -EINVAL);
        assert_true(diag_has(&diag, "accessible by others"));
        dcem_diag_clear(&diag);
        snprintf(path, sizeof(path), "%s/auth", tmpdir);
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(check_block("address: 127.0.0.1\nversion: 3\nuser: u\nauth_password_file: auth\n"
                                     "priv_password_file: priv\nauth_protocol: SHA-256\nprofile: apc-rpdu2\n", &diag), 0);
        /* Too short a password. */
        write_file(path, "short\n", 0600);
        assert_int_equal(check_block("address: 127.0.0.1\nversion: 3\nuser: u\nsecurity_level: authNoPriv\n"
                                     "auth_password_file: auth\nprofile: apc-rpdu2\n", &diag), -EINVAL);
        assert_true(diag_has(&diag, "8..255"));
        dcem_diag_clear(&diag);
        /* A bad point in the block. */
        assert_int_equal(check_block("address: 127.0.0.1\npoints:\n  - { name: x, oid: 1.3.x }\n", &diag), -EINVAL);
        assert_true(diag_has(&diag, "not a numeric OID"));
        dcem_diag_clear(&diag);
        assert_int_equal(check_block("address: 127.0.0.1\n", &diag), -EINVAL);
        assert_true(diag_has(&diag, "give a profile or points"));
        dcem_diag_clear(&diag);
        assert_int_equal(check_block("address: 127.0.0.1\nprofile: auto\n", &diag), 0);
}

static void test_address(void **state) {
        (void)state;
        char host[SNMP_HOST_MAX];
        unsigned port;
        assert_int_equal(snmp_parse_address("udp://10.0.1.10:161", 0, host, &port), 0);
        assert_string_equal(host, "10.0.1.10");
        assert_int_equal(port, 161);
        assert_int_equal(snmp_parse_address("pdu-7.example", 0, host, &port), 0);
        assert_int_equal(port, 161);
        assert_int_equal(snmp_parse_address("udp://127.0.0.1:1161", 2000, host, &port), 0);
        assert_int_equal(port, 2000);
        assert_int_equal(snmp_parse_address("udp://[::1]:1161", 0, host, &port), 0);
        assert_string_equal(host, "::1");
        const char *bad[] = { "", "udp://", "tcp://h", "h:0", "h:65536", "h:", "::1", "h;rm", "h:12x", NULL };
        for (int i = 0; bad[i]; i++)
                assert_int_equal(snmp_parse_address(bad[i], 0, host, &port), -EINVAL);
}

static int teardown_all(void **state) {
        (void)state;
        if (tmpdir[0]) {
                char cmd[300];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
                if (system(cmd) != 0)
                        return -1;
        }
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped_profiles_load),
                cmocka_unit_test(test_profile_values),
                cmocka_unit_test(test_auto_match),
                cmocka_unit_test(test_bad_profiles),
                cmocka_unit_test(test_block_checks),
                cmocka_unit_test(test_address),
        };
        return cmocka_run_group_tests(tests, NULL, teardown_all);
}
