/* test_snmp_model.c - SNMP points to samples (collectors/snmp/model.c):
 * scalings, sentinels, wrong types, ranges, table rows named by index, rows
 * chosen by description (out of index order), decimal digits and divisors
 * read from the device, sums and fallbacks, counter wrap across polls, and
 * the build-time checks of point definitions. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "snmp/model.h"

typedef struct got {
        char name[DCEM_NAME_MAX];
        char unit[DCEM_UNIT_MAX];
        double v;
        dcem_quality q;
        dcem_kind k;
} got;

typedef struct sink {
        got s[64];
        size_t n;
} sink;

static int emit(void *ud, const char *point, double value, const char *unit, dcem_quality q, dcem_kind kind) {
        sink *k = ud;
        assert_true(k->n < 64);
        got *g = &k->s[k->n++];
        snprintf(g->name, sizeof(g->name), "%s", point);
        snprintf(g->unit, sizeof(g->unit), "%s", unit ? unit : "");
        g->v = value;
        g->q = q;
        g->k = kind;
        return 0;
}

static const got *find(const sink *k, const char *name) {
        for (size_t i = 0; i < k->n; i++)
                if (strcmp(k->s[i].name, name) == 0)
                        return &k->s[i];
        return NULL;
}

static void put_int(vb_store *st, const char *oid, int64_t v) {
        soid o;
        assert_int_equal(soid_parse(oid, &o), 0);
        sval x = { .t = SV_INTEGER, .i = v };
        assert_int_equal(vb_store_put(st, &o, &x), 0);
}

static void put(vb_store *st, const char *oid, sval x) {
        soid o;
        assert_int_equal(soid_parse(oid, &o), 0);
        assert_int_equal(vb_store_put(st, &o, &x), 0);
}

static sval str(const char *s) {
        sval v = { .t = SV_STRING };
        snprintf(v.s, sizeof(v.s), "%s", s);
        return v;
}

static snmp_point_conf P(const char *name) {
        return (snmp_point_conf){ .name = (char *)name, .scale = 1, .unit = (char *)"" };
}

static snmp_model *build(snmp_point_conf *pts, size_t n) {
        const snmp_point_conf *pp[32];
        for (size_t i = 0; i < n; i++)
                pp[i] = &pts[i];
        snmp_model *m = NULL;
        char err[256] = "";
        int r = snmp_model_build(pp, n, &m, err, sizeof(err));
        if (r < 0)
                fail_msg("build: %s", err);
        return m;
}

static void test_scalars(void **state) {
        (void)state;
        char *neg1[] = { (char *)"-1" };
        snmp_point_conf pts[5] = { P("energy_kwh"), P("power_kw"), P("temp_c"), P("typed"), P("missing") };
        pts[0].oid = (char *)"1.3.6.1.4.1.318.1.1.26.4.3.1.9.1";
        pts[0].scale = 0.1;
        pts[0].unit = (char *)"kWh";
        pts[0].kind = DCEM_KIND_COUNTER;
        pts[1].oid = (char *)"1.3.6.1.4.1.318.1.1.26.4.3.1.5.1";
        pts[1].scale = 0.01;
        pts[1].unit = (char *)"kW";
        pts[1].invalid = (dcem_strlist){ neg1, 1 };
        pts[2].oid = (char *)".1.3.6.1.4.1.9.3.0";
        pts[2].range = (char *)"-40..100";
        pts[3].oid = (char *)"1.3.6.1.4.1.9.4.0";
        pts[3].type = SNMP_VT_COUNTER64;
        pts[4].oid = (char *)"1.3.6.1.4.1.9.5.0";
        snmp_model *m = build(pts, 5);
        size_t n;
        snmp_model_scalars(m, &n);
        assert_int_equal(n, 5);
        vb_store st;
        vb_store_init(&st, 100);
        put_int(&st, "1.3.6.1.4.1.318.1.1.26.4.3.1.9.1", 35128);
        put_int(&st, "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", 114);
        put_int(&st, "1.3.6.1.4.1.9.3.0", 24);
        put_int(&st, "1.3.6.1.4.1.9.4.0", 7); /* INTEGER where Counter64 is declared */
        put(&st, "1.3.6.1.4.1.9.5.0", (sval){ .t = SV_NOSUCHOBJECT });
        sink k = { 0 };
        char err[160];
        int failed = snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err));
        assert_int_equal(failed, 2); /* typed and missing */
        assert_non_null(strstr(err, "typed"));
        const got *g = find(&k, "energy_kwh");
        assert_non_null(g);
        assert_true(fabs(g->v - 3512.8) < 1e-9);
        assert_string_equal(g->unit, "kWh");
        assert_int_equal(g->k, DCEM_KIND_COUNTER);
        assert_int_equal(g->q, DCEM_Q_GOOD);
        assert_true(fabs(find(&k, "power_kw")->v - 1.14) < 1e-12);
        assert_true(find(&k, "temp_c")->v == 24);
        assert_int_equal(find(&k, "typed")->q, DCEM_Q_ERROR);
        assert_true(isnan(find(&k, "typed")->v));
        assert_int_equal(find(&k, "missing")->q, DCEM_Q_ERROR);
        /* Sentinel and range: -1 power and 150 degC are errors, not numbers. */
        put_int(&st, "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", -1);
        put_int(&st, "1.3.6.1.4.1.9.3.0", 150);
        k.n = 0;
        failed = snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err));
        assert_int_equal(failed, 4);
        assert_int_equal(find(&k, "power_kw")->q, DCEM_Q_ERROR);
        assert_int_equal(find(&k, "temp_c")->q, DCEM_Q_ERROR);
        vb_store_free(&st);
        snmp_model_free(m);
}

static void test_tables_digits_and_select(void **state) {
        (void)state;
        snmp_point_conf pts[3] = { P("power_kw.inlet{i2}"), P("supply_air_temp_c"), P("power_kw.outlet{i1}") };
        /* Raritan-style: sensor table, type 5 rows, decimal digits from another table. */
        snmp_select_conf sel_type = { .index = 3, .equals = (char *)"5" };
        pts[0].column = (char *)"1.3.6.1.4.1.13742.6.5.2.3.1.4";
        pts[0].select = (dcem_list){ &sel_type, 1 };
        pts[0].digits_column = (char *)"1.3.6.1.4.1.13742.6.3.3.4.1.7";
        pts[0].scale = 0.001;
        pts[0].unit = (char *)"kW";
        /* Liebert-style: the row whose description OID names supply air. */
        snmp_select_conf sel_desc = { .column = (char *)"1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.2",
                                      .equals = (char *)"1.3.6.1.4.1.476.1.42.3.4.1.1.3" };
        pts[1].column = (char *)"1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.3";
        pts[1].select = (dcem_list){ &sel_desc, 1 };
        /* APC-cooling-style divisor column. */
        pts[2].column = (char *)"1.3.6.1.4.1.9.7.3";
        pts[2].divisor_column = (char *)"1.3.6.1.4.1.9.7.5";
        pts[2].optional = true;
        snmp_model *m = build(pts, 3);
        size_t ncol;
        snmp_model_columns(m, &ncol);
        assert_int_equal(ncol, 6);
        vb_store st;
        vb_store_init(&st, 100);
        sval u = { .t = SV_UNSIGNED };
        u.u = 680; put(&st, "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.1", u);
        u.u = 1234; put(&st, "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5", u);
        u.u = 3; put(&st, "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.1", u);
        u.u = 1; put(&st, "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.5", u);
        u.u = 2000; put(&st, "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.2.5", u);
        /* inlet 2 has no digits row: an error sample for that row */
        sval oidv = { .t = SV_OID };
        strcpy(oidv.s, "1.3.6.1.4.1.476.1.42.3.4.1.1.1");
        put(&st, "1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.2.1", oidv);
        strcpy(oidv.s, "1.3.6.1.4.1.476.1.42.3.4.1.1.3");
        put(&st, "1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.2.2", oidv);
        strcpy(oidv.s, "1.3.6.1.4.1.476.1.42.3.4.1.1.2");
        put(&st, "1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.2.3", oidv);
        put_int(&st, "1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.3.1", 24);
        put_int(&st, "1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.3.2", 25);
        put_int(&st, "1.3.6.1.4.1.476.1.42.3.4.1.3.3.1.3.3", 23);
        put_int(&st, "1.3.6.1.4.1.9.7.3.70", 144);
        put_int(&st, "1.3.6.1.4.1.9.7.5.70", 100);
        sink k = { 0 };
        char err[160];
        int failed = snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err));
        assert_int_equal(failed, 1);
        assert_non_null(strstr(err, "power_kw.inlet2"));
        const got *g = find(&k, "power_kw.inlet1");
        assert_non_null(g);
        assert_true(fabs(g->v - 0.1234) < 1e-12); /* 1234 / 10^1 W = 123.4 W */
        assert_int_equal(find(&k, "power_kw.inlet2")->q, DCEM_Q_ERROR);
        assert_null(find(&k, "power_kw.inlet1.1")); /* the current row (type 1) is not selected */
        assert_true(find(&k, "supply_air_temp_c")->v == 25); /* row 2, chosen by description */
        assert_true(fabs(find(&k, "power_kw.outlet70")->v - 1.44) < 1e-12);
        assert_int_equal(k.n, 4);
        vb_store_free(&st);
        snmp_model_free(m);
}

static void test_sums_and_fallbacks(void **state) {
        (void)state;
        snmp_point_conf pts[4] = { P("power_kw.phase{i1}"), P("power_kw"), P("ups_kw"), P("energy_kwh") };
        pts[0].column = (char *)"1.3.6.1.4.1.21239.5.2.3.2.1.12";
        pts[0].scale = 0.001;
        pts[1].oid = (char *)"1.3.6.1.4.1.21239.5.2.3.1.1.9.1";
        pts[1].scale = 0.001;
        pts[1].sum_of = (char *)"power_kw.phase";
        snmp_fallback_conf fb = { .oid = (char *)"1.3.6.1.4.1.318.1.1.1.4.3.3.0", .scale = 0.001, .times_rated_kw = true };
        pts[2].oid = (char *)"1.3.6.1.4.1.318.1.1.1.4.2.8.0";
        pts[2].scale = 0.001;
        pts[2].fallback = (dcem_list){ &fb, 1 };
        pts[3].sum_of = (char *)"energy_kwh.cord";
        pts[3].optional = true;
        snmp_model *m = build(pts, 4);
        vb_store st;
        vb_store_init(&st, 100);
        sval g = { .t = SV_UNSIGNED };
        g.u = 198; put(&st, "1.3.6.1.4.1.21239.5.2.3.2.1.12.1", g);
        g.u = 436; put(&st, "1.3.6.1.4.1.21239.5.2.3.2.1.12.2", g);
        g.u = 382; put(&st, "1.3.6.1.4.1.21239.5.2.3.2.1.12.3", g);
        put(&st, "1.3.6.1.4.1.21239.5.2.3.1.1.9.1", (sval){ .t = SV_NOSUCHOBJECT });
        put(&st, "1.3.6.1.4.1.318.1.1.1.4.2.8.0", (sval){ .t = SV_NOSUCHOBJECT });
        g.u = 762; put(&st, "1.3.6.1.4.1.318.1.1.1.4.3.3.0", g);
        sink k = { 0 };
        char err[160];
        /* No rated_kw: the load-share fallback cannot work. */
        assert_int_equal(snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err)), 1);
        assert_non_null(strstr(err, "rated_kw"));
        const got *t = find(&k, "power_kw");
        assert_true(fabs(t->v - 1.016) < 1e-12); /* the sum of the phases */
        assert_int_equal(t->q, DCEM_Q_GOOD);
        assert_null(find(&k, "energy_kwh")); /* optional sum of nothing */
        k.n = 0;
        assert_int_equal(snmp_model_eval(m, &st, 0.75, emit, &k, err, sizeof(err)), 0);
        t = find(&k, "ups_kw");
        assert_true(fabs(t->v - 0.762 * 0.75) < 1e-12);
        assert_int_equal(t->q, DCEM_Q_ESTIMATED);
        /* The device's own total wins when present. */
        g.u = 1017;
        put(&st, "1.3.6.1.4.1.21239.5.2.3.1.1.9.1", g);
        k.n = 0;
        assert_int_equal(snmp_model_eval(m, &st, 0.75, emit, &k, err, sizeof(err)), 0);
        assert_true(fabs(find(&k, "power_kw")->v - 1.017) < 1e-12);
        /* A failed phase makes the sum an error, not a silent partial sum. */
        put(&st, "1.3.6.1.4.1.21239.5.2.3.1.1.9.1", (sval){ .t = SV_NOSUCHOBJECT });
        put(&st, "1.3.6.1.4.1.21239.5.2.3.2.1.12.2", str("n/a"));
        k.n = 0;
        assert_int_equal(snmp_model_eval(m, &st, 0.75, emit, &k, err, sizeof(err)), 2);
        assert_int_equal(find(&k, "power_kw")->q, DCEM_Q_ERROR);
        vb_store_free(&st);
        snmp_model_free(m);
}

static void test_counter_wrap_across_polls(void **state) {
        (void)state;
        snmp_point_conf pts[1] = { P("energy_kwh") };
        pts[0].oid = (char *)"1.3.6.1.4.1.9.9.0";
        pts[0].kind = DCEM_KIND_COUNTER;
        pts[0].scale = 0.001; /* Wh counter -> kWh */
        snmp_model *m = build(pts, 1);
        vb_store st;
        vb_store_init(&st, 10);
        sval c = { .t = SV_COUNTER32, .u = 4294967000u };
        put(&st, "1.3.6.1.4.1.9.9.0", c);
        sink k = { 0 };
        char err[160];
        assert_int_equal(snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err)), 0);
        double first = k.s[0].v;
        c.u = 704; /* wrapped: 296 + 704 = 1000 Wh later */
        put(&st, "1.3.6.1.4.1.9.9.0", c);
        k.n = 0;
        assert_int_equal(snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err)), 0);
        assert_true(fabs(k.s[0].v - first - 1.0) < 1e-6);
        vb_store_free(&st);
        snmp_model_free(m);
}

static void expect_build_error(snmp_point_conf *pts, size_t n, const char *needle) {
        const snmp_point_conf *pp[8];
        for (size_t i = 0; i < n; i++)
                pp[i] = &pts[i];
        snmp_model *m = NULL;
        char err[256] = "";
        assert_int_equal(snmp_model_build(pp, n, &m, err, sizeof(err)), -EINVAL);
        assert_null(m);
        if (!strstr(err, needle))
                fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

/* OIDs named by several points (an oid that is another point's digits_oid
 * or fallback, a column that is another's divisor or select column) are
 * stored once in the model and each point still reads its own: points are
 * given out of OID order so the lists are reordered when sorted. */
static void test_shared_oids(void **state) {
        (void)state;
        snmp_point_conf pts[6] = { P("c"), P("b"), P("a"), P("u{i1}"), P("v{i1}"), P("w") };
        pts[0].oid = (char *)"1.3.6.1.4.1.9.3.0";
        pts[0].digits_oid = (char *)"1.3.6.1.4.1.9.1.0";
        snmp_fallback_conf fb = { .oid = (char *)"1.3.6.1.4.1.9.3.0", .scale = 2 };
        pts[1].oid = (char *)"1.3.6.1.4.1.9.2.0";
        pts[1].fallback = (dcem_list){ &fb, 1 };
        pts[2].oid = (char *)"1.3.6.1.4.1.9.1.0";
        pts[3].column = (char *)"1.3.6.1.4.1.7.3";
        pts[3].divisor_column = (char *)"1.3.6.1.4.1.7.5";
        pts[4].column = (char *)"1.3.6.1.4.1.7.5";
        pts[4].si_scale_column = (char *)"1.3.6.1.4.1.7.1";
        snmp_select_conf via = { .column = (char *)"1.3.6.1.4.1.7.3", .via = (char *)"1.3.6.1.4.1.7.4",
                                 .equals = (char *)"500" };
        pts[5].column = (char *)"1.3.6.1.4.1.7.2";
        pts[5].select = (dcem_list){ &via, 1 };
        snmp_model *m = build(pts, 6);
        size_t ns, nc;
        const soid *sc = snmp_model_scalars(m, &ns);
        const soid *co = snmp_model_columns(m, &nc);
        assert_int_equal(ns, 3);
        assert_int_equal(nc, 5);
        for (size_t i = 1; i < ns; i++)
                assert_true(soid_cmp(&sc[i - 1], &sc[i]) < 0);
        for (size_t i = 1; i < nc; i++)
                assert_true(soid_cmp(&co[i - 1], &co[i]) < 0);
        vb_store st;
        vb_store_init(&st, 100);
        put_int(&st, "1.3.6.1.4.1.9.1.0", 2);
        put(&st, "1.3.6.1.4.1.9.2.0", (sval){ .t = SV_NOSUCHOBJECT });
        put_int(&st, "1.3.6.1.4.1.9.3.0", 12345);
        put_int(&st, "1.3.6.1.4.1.7.1.1", 9);   /* units */
        put_int(&st, "1.3.6.1.4.1.7.2.1", 111);
        put_int(&st, "1.3.6.1.4.1.7.2.2", 222);
        put_int(&st, "1.3.6.1.4.1.7.3.1", 500);
        put_int(&st, "1.3.6.1.4.1.7.4.2", 1);   /* row 2 reads its select column in row 1 */
        put_int(&st, "1.3.6.1.4.1.7.5.1", 10);
        sink k = { 0 };
        char err[160];
        assert_int_equal(snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err)), 0);
        assert_true(find(&k, "a")->v == 2);
        assert_true(fabs(find(&k, "c")->v - 123.45) < 1e-9); /* 12345 / 10^2 */
        assert_true(find(&k, "b")->v == 24690);              /* the fallback: 12345 * 2 */
        assert_true(find(&k, "u1")->v == 50);                /* 500 / 10 */
        assert_true(find(&k, "v1")->v == 10);                /* SI scale 9: units */
        assert_true(find(&k, "w")->v == 222);                /* row 2, through row 1 */
        assert_int_equal(k.n, 6);
        vb_store_free(&st);
        snmp_model_free(m);
}

static void test_build_errors(void **state) {
        (void)state;
        snmp_point_conf a = P("x");
        a.oid = (char *)"1.3.6.1.2.1.1.3.0";
        a.column = (char *)"1.3.6.1.2.1.2.2.1.10";
        expect_build_error(&a, 1, "exactly one");
        a = P("x");
        a.oid = (char *)"1.3.6.1.2.1.1.3.x";
        expect_build_error(&a, 1, "not a numeric OID");
        a = P("x{i1}");
        a.oid = (char *)"1.3.6.1.2.1.1.3.0";
        expect_build_error(&a, 1, "need a column");
        a = P("x{i0}");
        a.column = (char *)"1.3.6.1.2.1.2.2.1.10";
        expect_build_error(&a, 1, "{...}");
        a = P("x");
        a.oid = (char *)"1.3.6.1.2.1.1.3.0";
        a.range = (char *)"5..1";
        expect_build_error(&a, 1, "range");
        snmp_point_conf two[2] = { P("x"), P("x") };
        two[0].oid = two[1].oid = (char *)"1.3.6.1.2.1.1.3.0";
        expect_build_error(two, 2, "twice");
        char buf[64];
        soid idx = { .n = 2, .a = { 3, 17 } };
        assert_int_equal(snmp_expand_name("p.cord{i1}_{i2}", &idx, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "p.cord3_17");
        assert_int_equal(snmp_expand_name("p{index}", &idx, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "p3.17");
        assert_int_equal(snmp_expand_name("p{i3}", &idx, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(snmp_expand_name("p{index}", &idx, buf, 4), -ENAMETOOLONG);
        assert_int_equal(snmp_expand_name("x{i2}.tail", &idx, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "x17.tail");
        assert_int_equal(snmp_expand_name("abc", &idx, buf, 4), 0); /* exactly fits with its NUL */
        assert_string_equal(buf, "abc");
        assert_int_equal(snmp_expand_name("abcd", &idx, buf, 4), -ENAMETOOLONG);
        assert_int_equal(snmp_expand_name("p{i1", &idx, buf, sizeof(buf)), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scalars),
                cmocka_unit_test(test_tables_digits_and_select),
                cmocka_unit_test(test_sums_and_fallbacks),
                cmocka_unit_test(test_counter_wrap_across_polls),
                cmocka_unit_test(test_build_errors),
                cmocka_unit_test(test_shared_oids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
