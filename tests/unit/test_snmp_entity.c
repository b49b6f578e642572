/* test_snmp_entity.c - the generic ENTITY-SENSOR-MIB profile
 * (conf/profiles/snmp/entity-sensor.yaml) and the profile language it needs
 * (collectors/snmp/model.c): SI scale and precision columns (RFC 3433), rows
 * chosen through another row (entPhysicalContainedIn) with select_any and
 * one_of, status columns, and the per-PSU sum.
 *
 * Every expected number below is worked out by hand in the comment next to
 * it from the raw values put in the store. */
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
#include "snmp/profile.h"

#define PROFILES DCEM_SOURCE_DIR "/conf/profiles"
#define SENSOR "1.3.6.1.2.1.99.1.1.1"   /* entPhySensorEntry */
#define PHYS "1.3.6.1.2.1.47.1.1.1.1"   /* entPhysicalEntry */

typedef struct got {
        char name[DCEM_NAME_MAX];
        char unit[DCEM_UNIT_MAX];
        double v;
        dcem_quality q;
} got;

typedef struct sink {
        got s[64];
        size_t n;
} sink;

static int emit(void *ud, const char *point, double value, const char *unit, dcem_quality q, dcem_kind kind) {
        sink *k = ud;
        (void)kind;
        assert_true(k->n < 64);
        got *g = &k->s[k->n++];
        snprintf(g->name, sizeof(g->name), "%s", point);
        snprintf(g->unit, sizeof(g->unit), "%s", unit ? unit : "");
        g->v = value;
        g->q = q;
        return 0;
}

static const got *find(const sink *k, const char *name) {
        for (size_t i = 0; i < k->n; i++)
                if (strcmp(k->s[i].name, name) == 0)
                        return &k->s[i];
        return NULL;
}

static void put_int(vb_store *st, const char *col, uint32_t index, int64_t v) {
        char text[128];
        snprintf(text, sizeof(text), "%s.%u", col, (unsigned)index);
        soid o;
        assert_int_equal(soid_parse(text, &o), 0);
        sval x = { .t = SV_INTEGER, .i = v };
        assert_int_equal(vb_store_put(st, &o, &x), 0);
}

static void assert_close(double got, double want) {
        if (!(fabs(got - want) <= 1e-12 * fmax(1, fabs(want))))
                fail_msg("got %.15g, want %.15g", got, want);
}

static const got *must(const sink *k, const char *name) {
        const got *g = find(k, name);
        if (!g)
                fail_msg("no sample %s", name);
        return g;
}

/* One ENTITY-SENSOR row: type, scale, precision, value, operStatus. */
static void sensor(vb_store *st, uint32_t idx, int type, int scale, int prec, int64_t value, int status) {
        put_int(st, SENSOR ".1", idx, type);
        put_int(st, SENSOR ".2", idx, scale);
        put_int(st, SENSOR ".3", idx, prec);
        put_int(st, SENSOR ".4", idx, value);
        put_int(st, SENSOR ".5", idx, status);
}

/* One ENTITY-MIB row: class and container. */
static void entity(vb_store *st, uint32_t idx, int cls, uint32_t parent) {
        put_int(st, PHYS ".5", idx, cls);
        put_int(st, PHYS ".4", idx, parent);
}

static snmp_model *build(snmp_point_conf *pts, size_t n) {
        const snmp_point_conf *pp[16];
        for (size_t i = 0; i < n; i++)
                pp[i] = &pts[i];
        snmp_model *m = NULL;
        char err[256] = "";
        if (snmp_model_build(pp, n, &m, err, sizeof(err)) < 0)
                fail_msg("build: %s", err);
        return m;
}

/* The scale/precision math on its own: one watts column, no selection. */
static void test_scale_precision(void **state) {
        (void)state;
        snmp_point_conf p = { .name = (char *)"power_kw.s{i1}", .column = (char *)SENSOR ".4", .scale = 0.001,
                              .unit = (char *)"kW", .si_scale_column = (char *)SENSOR ".2",
                              .precision_column = (char *)SENSOR ".3" };
        snmp_model *m = build(&p, 1);
        size_t ncol;
        snmp_model_columns(m, &ncol);
        assert_int_equal(ncol, 3); /* value, scale, precision walked together */
        vb_store st;
        vb_store_init(&st, 1000);
        sensor(&st, 1, 6, 9, 2, 12345, 1);   /* units, 2 decimals: 123.45 W = 0.12345 kW */
        sensor(&st, 2, 6, 10, 0, 5, 1);      /* kilo: 5 kW */
        sensor(&st, 3, 6, 8, 1, 250000, 1);  /* milli, 1 decimal: 250000 mW/10 = 25 W = 0.025 kW */
        sensor(&st, 4, 6, 9, -2, 480, 1);    /* precision -2 = 2 accurate digits, not a shift: 480 W */
        sensor(&st, 5, 6, 11, 3, 3, 1);      /* mega, 3 decimals: 0.003 MW = 3000 W = 3 kW */
        sensor(&st, 6, 6, 7, 0, 1500000, 1); /* micro: 1.5 W = 0.0015 kW */
        sensor(&st, 7, 6, 18, 0, 7, 1);      /* scale 18 is not an SI prefix of RFC 3433: error */
        sensor(&st, 8, 6, 9, 10, 7, 1);      /* precision 10 is out of -8..9: error */
        sensor(&st, 9, 6, 9, -9, 7, 1);      /* precision -9 likewise */
        sensor(&st, 10, 6, 9, 0, -250, 1);   /* negative values pass through: -0.25 kW */
        sink k = { 0 };
        char err[160];
        int failed = snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err));
        assert_int_equal(failed, 3);
        assert_non_null(strstr(err, "SI scale"));
        assert_close(must(&k, "power_kw.s1")->v, 0.12345);
        assert_close(must(&k, "power_kw.s2")->v, 5);
        assert_close(must(&k, "power_kw.s3")->v, 0.025);
        assert_close(must(&k, "power_kw.s4")->v, 0.48);
        assert_close(must(&k, "power_kw.s5")->v, 3);
        assert_close(must(&k, "power_kw.s6")->v, 0.0015);
        assert_close(must(&k, "power_kw.s10")->v, -0.25);
        assert_int_equal(must(&k, "power_kw.s7")->q, DCEM_Q_ERROR);
        assert_int_equal(must(&k, "power_kw.s8")->q, DCEM_Q_ERROR);
        assert_int_equal(must(&k, "power_kw.s9")->q, DCEM_Q_ERROR);
        assert_true(isnan(must(&k, "power_kw.s7")->v));
        assert_int_equal(must(&k, "power_kw.s1")->q, DCEM_Q_GOOD);
        assert_string_equal(must(&k, "power_kw.s1")->unit, "kW");
        /* A row with no scale at all is an error, not a unit value. */
        vb_store_reset(&st);
        put_int(&st, SENSOR ".4", 1, 100);
        put_int(&st, SENSOR ".3", 1, 0);
        k.n = 0;
        assert_int_equal(snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err)), 1);
        assert_int_equal(must(&k, "power_kw.s1")->q, DCEM_Q_ERROR);
        snmp_model_free(m);
        vb_store_free(&st);
}

/* Build-time checks of the new keys. */
static void test_bad_definitions(void **state) {
        (void)state;
        char *ok[] = { (char *)"1" };
        char err[256];
        snmp_model *m = NULL;
        /* status_column without status_ok */
        snmp_point_conf p = { .name = (char *)"x{i1}", .column = (char *)"1.3.6.1.9.4", .scale = 1,
                              .status_column = (char *)"1.3.6.1.9.5" };
        const snmp_point_conf *pp[1] = { &p };
        assert_int_equal(snmp_model_build(pp, 1, &m, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "status_ok"));
        p.status_ok = (dcem_strlist){ ok, 1 };
        assert_int_equal(snmp_model_build(pp, 1, &m, err, sizeof(err)), 0);
        snmp_model_free(m);
        m = NULL;
        /* si_scale_column on a scalar */
        snmp_point_conf s = { .name = (char *)"y", .oid = (char *)"1.3.6.1.9.4.0", .scale = 1,
                              .si_scale_column = (char *)"1.3.6.1.9.2" };
        pp[0] = &s;
        assert_int_equal(snmp_model_build(pp, 1, &m, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "need a column"));
        /* a select with both equals and one_of, with neither, and via without a column */
        snmp_select_conf sel = { .column = (char *)"1.3.6.1.9.1", .equals = (char *)"6", .one_of = { ok, 1 } };
        snmp_point_conf q = { .name = (char *)"z{i1}", .column = (char *)"1.3.6.1.9.4", .scale = 1,
                              .select = { &sel, 1 } };
        pp[0] = &q;
        assert_int_equal(snmp_model_build(pp, 1, &m, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "one of equals and one_of"));
        sel.one_of.n = 0;
        sel.equals = NULL;
        assert_int_equal(snmp_model_build(pp, 1, &m, err, sizeof(err)), -EINVAL);
        sel = (snmp_select_conf){ .index = 1, .via = (char *)"1.3.6.1.9.3", .equals = (char *)"6" };
        assert_int_equal(snmp_model_build(pp, 1, &m, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "via"));
        /* the via column joins the walk */
        sel = (snmp_select_conf){ .column = (char *)"1.3.6.1.9.1", .via = (char *)"1.3.6.1.9.3", .equals = (char *)"6" };
        q.select_any = (dcem_list){ &sel, 1 };
        q.select = (dcem_list){ 0 };
        assert_int_equal(snmp_model_build(pp, 1, &m, err, sizeof(err)), 0);
        size_t n;
        snmp_model_columns(m, &n);
        assert_int_equal(n, 3);
        snmp_model_free(m);
}

static snmp_profile_conf *load_profile(void) {
        dcem_diag diag = { 0 };
        snmp_profile_conf *p = NULL;
        int r = snmp_profile_load(PROFILES, "entity-sensor", &p, &diag);
        if (r < 0)
                fail_msg("entity-sensor: %d %s", r, diag.n ? diag.msgs[0] : "");
        dcem_diag_clear(&diag);
        return p;
}

static snmp_model *profile_model(const snmp_profile_conf *p) {
        const snmp_point_conf *pts[16];
        assert_true(p->points.n <= 16);
        for (size_t i = 0; i < p->points.n; i++)
                pts[i] = &((const snmp_point_conf *)p->points.items)[i];
        snmp_model *m = NULL;
        char err[256] = "";
        if (snmp_model_build(pts, p->points.n, &m, err, sizeof(err)) < 0)
                fail_msg("entity-sensor: %s", err);
        return m;
}

/* A switch-like entity tree (Cisco/Arista style):
 *   1 chassis(3)
 *   10 powerSupply(6) in 1: sensors 11 watts, 12 amperes, 13 celsius (class sensor(8), in 10)
 *   20 powerSupply(6) in 1: sensor 21 watts
 *   60 powerSupply(6) in 1 carrying its own watts sensor (row 60 in entPhySensorTable)
 *   30 sensor(8) in 1: CPU temperature, celsius      -> ignored
 *   40 fan(7) in 1 with sensor 41 rpm                 -> ignored
 *   50 sensor(8) in 1: a transceiver's DOM TX power, watts (milli) -> ignored: not in a PSU
 *   70 module(9) in PSU 10 with a watts sensor of its own -> ignored: itself neither PSU nor sensor
 *   80 sensor(8) with containedIn 0 (none), watts     -> ignored */
static void fill_switch(vb_store *st, int psu2_status) {
        entity(st, 1, 3, 0);
        entity(st, 10, 6, 1);
        entity(st, 11, 8, 10);
        entity(st, 12, 8, 10);
        entity(st, 13, 8, 10);
        entity(st, 20, 6, 1);
        entity(st, 21, 8, 20);
        entity(st, 30, 8, 1);
        entity(st, 40, 7, 1);
        entity(st, 41, 8, 40);
        entity(st, 50, 8, 1);
        entity(st, 60, 6, 1);
        entity(st, 70, 9, 10);
        entity(st, 80, 8, 0);
        sensor(st, 11, 6, 9, 1, 3456, 1);          /* 345.6 W */
        sensor(st, 12, 5, 8, 0, 1520, 1);          /* 1520 mA = 1.52 A */
        sensor(st, 13, 8, 9, 0, 41, 1);            /* 41 degC, not published */
        sensor(st, 21, 6, 8, 0, 298000, psu2_status); /* 298000 mW = 298 W */
        sensor(st, 60, 6, 10, 3, 1250, 1);         /* kilo, 3 decimals: 1.250 kW = 1250 W */
        sensor(st, 30, 8, 9, 0, 55, 1);
        sensor(st, 41, 10, 9, 0, 9000, 1);
        sensor(st, 50, 6, 8, 2, 123, 1);           /* 1.23 mW */
        sensor(st, 70, 6, 9, 0, 99, 1);
        sensor(st, 80, 6, 9, 0, 77, 1);
}

static void test_profile_psus(void **state) {
        (void)state;
        snmp_profile_conf *p = load_profile();
        assert_string_equal(p->profile, "entity-sensor");
        assert_int_equal(p->identify_table.n, 1);
        assert_string_equal(p->identify_table.items[0], SENSOR ".1");
        snmp_model *m = profile_model(p);
        vb_store st;
        vb_store_init(&st, 1000);
        fill_switch(&st, 1);
        sink k = { 0 };
        char err[160] = "";
        int failed = snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err));
        if (failed != 0)
                fail_msg("failed %d: %s", failed, err);
        /* Exactly the PSU points: 3 watts sensors, 1 amperes, and the sum. */
        assert_int_equal(k.n, 5);
        assert_close(must(&k, "power_kw.psu11")->v, 0.3456);
        assert_close(must(&k, "power_kw.psu21")->v, 0.298);
        assert_close(must(&k, "power_kw.psu60")->v, 1.25);
        assert_close(must(&k, "current_a.psu12")->v, 1.52);
        assert_string_equal(must(&k, "current_a.psu12")->unit, "A");
        /* 0.3456 + 0.298 + 1.25 = 1.8936 kW */
        const got *sum = must(&k, "power_kw");
        assert_close(sum->v, 1.8936);
        assert_int_equal(sum->q, DCEM_Q_GOOD);
        assert_string_equal(sum->unit, "kW");
        assert_null(find(&k, "power_kw.psu50"));
        assert_null(find(&k, "power_kw.psu70"));
        assert_null(find(&k, "power_kw.psu80"));
        /* No energy point: the accounting integrates power_kw (estimated). */
        assert_null(find(&k, "energy_kwh"));

        /* PSU 20's sensor unavailable(2): its sample and the sum are errors. */
        vb_store_reset(&st);
        fill_switch(&st, 2);
        k.n = 0;
        failed = snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err));
        assert_int_equal(failed, 2);
        assert_non_null(strstr(err, "power_kw.psu21"));
        assert_non_null(strstr(err, "status 2"));
        assert_int_equal(must(&k, "power_kw.psu21")->q, DCEM_Q_ERROR);
        assert_int_equal(must(&k, "power_kw.psu11")->q, DCEM_Q_GOOD);
        assert_int_equal(must(&k, "power_kw")->q, DCEM_Q_ERROR);
        assert_true(isnan(must(&k, "power_kw")->v));
        /* nonoperational(3) likewise */
        vb_store_reset(&st);
        fill_switch(&st, 3);
        k.n = 0;
        assert_int_equal(snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err)), 2);
        assert_int_equal(must(&k, "power_kw")->q, DCEM_Q_ERROR);

        /* A PSU sensor that points at a parent the walk did not return is not
         * a PSU's: moving sensor 21 under entity 99 (absent) drops it. */
        vb_store_reset(&st);
        fill_switch(&st, 1);
        put_int(&st, PHYS ".4", 21, 99);
        k.n = 0;
        assert_int_equal(snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err)), 0);
        assert_null(find(&k, "power_kw.psu21"));
        assert_close(must(&k, "power_kw")->v, 1.5956); /* 0.3456 + 1.25 */

        /* A device without any PSU watts sensor: errors, never a 0 kW sum. */
        vb_store_reset(&st);
        entity(&st, 1, 3, 0);
        entity(&st, 30, 8, 1);
        sensor(&st, 30, 8, 9, 0, 55, 1);
        k.n = 0;
        failed = snmp_model_eval(m, &st, 0, emit, &k, err, sizeof(err));
        assert_true(failed >= 1);
        assert_int_equal(must(&k, "power_kw")->q, DCEM_Q_ERROR);
        snmp_model_free(m);
        snmp_profile_free(p);
        vb_store_free(&st);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scale_precision),
                cmocka_unit_test(test_bad_definitions),
                cmocka_unit_test(test_profile_psus),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
