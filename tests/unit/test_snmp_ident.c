/* test_snmp_ident.c - the choice of a profile from what a device says
 * (collectors/snmp/ident.c) and the probe URL's translation to a block
 * (collectors/snmp/probe.c, snmp_probe_url_to_yaml). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "snmp/ident.h"
#include "snmp/snmp_probe.h"

static char *apc_sys[] = { "1.3.6.1.4.1.318.1.3" }, *apc_pdu_sys[] = { "1.3.6.1.4.1.318.1.3.4" };
static char *ups_id[] = { "1.3.6.1.2.1.33.1.2.1.0", "1.3.6.1.2.1.33.1.4.1.0" };
static char *guard_id[] = { "1.3.6.1.4.1.318.1.1.26.2.1.8.1" };

static void put(vb_store *st, const char *oid, sval_type t, const char *s, int64_t i) {
        soid o;
        assert_int_equal(soid_parse(oid, &o), 0);
        sval v = { .t = t, .i = i };
        snprintf(v.s, sizeof(v.s), "%s", s ? s : "");
        assert_int_equal(vb_store_put(st, &o, &v), 0);
}

static snmp_catalog *catalog(void) {
        snmp_profile_conf p[3] = {
                { .profile = "apc-any", .vendor = "APC", .sys_object_id = { apc_sys, 1 } },
                { .profile = "apc-pdu", .vendor = "APC", .sys_object_id = { apc_pdu_sys, 1 },
                  .identify = { guard_id, 1 }, .model_oid = "1.3.6.1.4.1.318.1.1.26.2.1.8.1" },
                { .profile = "ups", .vendor = "generic", .identify = { ups_id, 2 },
                  .vendor_oid = "1.3.6.1.2.1.33.1.1.1.0" },
        };
        const snmp_profile_conf *pp[3] = { &p[0], &p[1], &p[2] };
        snmp_catalog *c = NULL;
        char err[128];
        assert_int_equal(snmp_catalog_build(pp, 3, &c, err, sizeof(err)), 0);
        return c;
}

static void test_choose(void **s) {
        (void)s;
        snmp_catalog *c = catalog();
        size_t n;
        snmp_catalog_oids(c, &n);
        assert_int_equal(n, 3 + 1 + 2 + 1); /* system group + guard/model (one OID) + 2 identify + vendor_oid */
        vb_store st;
        vb_store_init(&st, 100);
        snmp_ident id;
        /* Longest prefix wins, when its identity objects answer. */
        put(&st, SNMP_OID_SYSOBJECTID, SV_OID, "1.3.6.1.4.1.318.1.3.4.6", 0);
        put(&st, "1.3.6.1.4.1.318.1.1.26.2.1.8.1", SV_STRING, "AP8641", 0);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), 0);
        assert_string_equal(id.profile, "apc-pdu");
        assert_string_equal(id.model, "AP8641");
        assert_int_equal(id.how, 1);
        /* Without them, the shorter prefix. */
        vb_store_reset(&st);
        put(&st, SNMP_OID_SYSOBJECTID, SV_OID, "1.3.6.1.4.1.318.1.3.4.6", 0);
        put(&st, "1.3.6.1.4.1.318.1.1.26.2.1.8.1", SV_NOSUCHOBJECT, NULL, 0);
        put(&st, ups_id[0], SV_INTEGER, NULL, 2);
        put(&st, ups_id[1], SV_INTEGER, NULL, 3);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), 0);
        assert_string_equal(id.profile, "apc-any"); /* a prefix match beats identity objects */
        /* No prefix: the identity objects decide; vendor from the device. */
        vb_store_reset(&st);
        put(&st, SNMP_OID_SYSOBJECTID, SV_OID, "1.3.6.1.4.1.2254.2.5", 0);
        put(&st, ups_id[0], SV_INTEGER, NULL, 2);
        put(&st, ups_id[1], SV_INTEGER, NULL, 3);
        put(&st, "1.3.6.1.2.1.33.1.1.1.0", SV_STRING, "Delta\x01", 0);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), 0);
        assert_string_equal(id.profile, "ups");
        assert_string_equal(id.vendor, "Delta?"); /* control characters never reach a terminal */
        assert_int_equal(id.how, 2);
        /* One identity object missing: nothing fits. */
        put(&st, ups_id[1], SV_NOSUCHINSTANCE, NULL, 0);
        put(&st, SNMP_OID_SYSDESCR, SV_STRING, "Mini-SNMP", 0);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), -ENOENT);
        assert_string_equal(id.profile, "");
        assert_string_equal(id.sys_descr, "Mini-SNMP");
        /* Nothing answered at all. */
        vb_store_reset(&st);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), -ENODATA);
        vb_store_free(&st);
        snmp_catalog_free(c);
}

static void test_bad_profile_oid(void **s) {
        (void)s;
        char *bad[] = { "1.3.six" };
        snmp_profile_conf p = { .profile = "x", .identify = { bad, 1 } };
        const snmp_profile_conf *pp = &p;
        snmp_catalog *c = NULL;
        char err[128] = "";
        assert_int_equal(snmp_catalog_build(&pp, 1, &c, err, sizeof(err)), -EINVAL);
        assert_null(c);
        assert_non_null(strstr(err, "profile x: identify"));
}

/* The shipped catalog: a device no vendor profile claims, whose
 * entPhySensorTable has a row (the GETNEXT answer the collector stores under
 * its column), gets the generic entity-sensor profile; a UPS-MIB agent with
 * sensors too still gets ups-mib (more identity objects), and a vendor prefix
 * still wins. */
static void test_real_catalog_entity(void **s) {
        (void)s;
        snmp_catalog *c = NULL;
        size_t skipped = 99;
        assert_int_equal(snmp_catalog_load(DCEM_SOURCE_DIR "/conf/profiles", &c, &skipped), 0);
        assert_int_equal(skipped, 0);
        size_t nt;
        const soid *tabs = snmp_catalog_tables(c, &nt);
        assert_int_equal(nt, 1);
        char text[SNMP_OID_TEXT_MAX];
        assert_string_equal(soid_format(&tabs[0], text, sizeof(text)), "1.3.6.1.2.1.99.1.1.1.1");
        vb_store st;
        vb_store_init(&st, 100);
        snmp_ident id;
        put(&st, SNMP_OID_SYSOBJECTID, SV_OID, "1.3.6.1.4.1.30065.1.3011.7050.1958.128", 0); /* an Arista switch */
        put(&st, "1.3.6.1.2.1.99.1.1.1.1.100006001", SV_INTEGER, NULL, 8);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), 0);
        assert_string_equal(id.profile, "entity-sensor");
        assert_int_equal(id.how, 2);
        put(&st, "1.3.6.1.2.1.33.1.2.1.0", SV_INTEGER, NULL, 2);
        put(&st, "1.3.6.1.2.1.33.1.4.1.0", SV_INTEGER, NULL, 3);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), 0);
        assert_string_equal(id.profile, "ups-mib");
        vb_store_reset(&st);
        put(&st, SNMP_OID_SYSOBJECTID, SV_OID, "1.3.6.1.4.1.318.1.3.4.6", 0);
        put(&st, "1.3.6.1.2.1.99.1.1.1.1.5", SV_INTEGER, NULL, 6);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), 0);
        assert_string_equal(id.profile, "apc-rpdu2");
        /* No row (only an exception, or nothing under the column): nothing fits. */
        vb_store_reset(&st);
        put(&st, SNMP_OID_SYSOBJECTID, SV_OID, "1.3.6.1.4.1.30065.1.3011.7050.1958.128", 0);
        assert_int_equal(snmp_catalog_choose(c, &st, &id), -ENOENT);
        put(&st, "1.3.6.1.2.1.99.1.1.1.1.7", SV_NOSUCHINSTANCE, NULL, 0);
        put(&st, "1.3.6.1.2.1.99.1.1.1.2.7", SV_INTEGER, NULL, 9); /* another column's row */
        assert_int_equal(snmp_catalog_choose(c, &st, &id), -ENOENT);
        vb_store_free(&st);
        snmp_catalog_free(c);
}

static void test_url(void **s) {
        (void)s;
        char y[1024], err[256];
        assert_int_equal(snmp_probe_url_to_yaml("snmp://10.0.0.1:1161?version=2c&community=a%22b%5c", y, sizeof(y),
                                                err, sizeof(err)), 0);
        assert_string_equal(y, "{ address: \"udp://10.0.0.1:1161\", profile: auto, version: \"2c\", "
                               "community: \"a\\\"b\\\\\" }\n");
        assert_int_equal(snmp_probe_url_to_yaml("snmp://[::1]/", y, sizeof(y), err, sizeof(err)), 0);
        assert_string_equal(y, "{ address: \"udp://[::1]:161\", profile: auto }\n");
        const char *bad[] = { "modbus://x", "snmp://", "snmp://h:0", "snmp://h?user", "snmp://h?priv_password=x",
                              "snmp://h?x=1", "snmp://h?user=a&user=b", "snmp://h?user=%0a", "snmp://h?user=%4" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = 0;
                assert_int_equal(snmp_probe_url_to_yaml(bad[i], y, sizeof(y), err, sizeof(err)), -EINVAL);
                assert_true(err[0] != 0);
        }
        assert_int_equal(snmp_probe_url_to_yaml("snmp://h?priv_password=x", y, sizeof(y), err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "never given in the URL"));
        char small[40];
        assert_int_equal(snmp_probe_url_to_yaml("snmp://host.example?community=aaaaaaaaaaaaaaaa", small,
                                                sizeof(small), err, sizeof(err)), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_choose),
                cmocka_unit_test(test_bad_profile_oid),
                cmocka_unit_test(test_real_catalog_entity),
                cmocka_unit_test(test_url),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
