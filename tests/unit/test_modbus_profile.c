/* test_modbus_profile.c - the shipped profiles load and plan as documented
 * (SDM630: 31 points in one request), broken profiles are refused with
 * their position, device points override profile points, and the `modbus`
 * block's check() catches bad addresses, profiles and points. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "modbus/modbus.h"
#include "modbus/profile.h"
#include "modbus/transport.h"

#define PROFILES DCEM_SOURCE_DIR "/conf/profiles"

static const mb_point *find(const mb_profile *p, const char *name) {
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->pts[i].name, name) == 0)
                        return &p->pts[i];
        return NULL;
}

static size_t plan_count(const mb_profile *p, unsigned max_gap) {
        size_t *sel = calloc(p->n + 1, sizeof *sel);
        for (size_t i = 0; i < p->n; i++)
                sel[i] = i;
        mb_plan pl;
        mb_plan_opts o = { .max_gap = max_gap, .max_regs = 125, .max_bits = 2000 };
        assert_int_equal(mb_plan_build(p->pts, sel, p->n, &o, NULL, &pl), 0);
        size_t n = pl.n;
        mb_plan_free(&pl);
        free(sel);
        return n;
}

static void test_sdm630(void **state) {
        (void)state;
        dcem_diag diag = { 0 };
        mb_profile p;
        assert_int_equal(mb_profile_load(PROFILES, "sdm630", &p, &diag), 0);
        assert_int_equal(diag.n, 0);
        assert_int_equal(p.n, 31);
        assert_false(p.sunspec);
        const mb_point *e = find(&p, "energy_kwh");
        assert_non_null(e);
        assert_int_equal(e->reg, 0x0048);
        assert_int_equal(e->fc, MB_FC_INPUT);
        assert_int_equal(e->type, MB_T_FLOAT32);
        assert_int_equal(e->kind, DCEM_KIND_COUNTER);
        const mb_point *w = find(&p, "power_kw");
        assert_non_null(w);
        assert_int_equal(w->reg, 0x0034);
        assert_true(w->scale == 0.001);
        assert_non_null(find(&p, "energy_export_kwh"));
        /* the figure of the issue: the whole meter in one request per poll (the
         * default max_gap is 16; the largest hole in the map is 6 registers) */
        printf("sdm630: %zu points, %zu request(s) per poll at max_gap 16, %zu at max_gap 0\n", p.n,
               plan_count(&p, 16), plan_count(&p, 0));
        assert_int_equal(plan_count(&p, 16), 1);
        assert_int_equal(plan_count(&p, 6), 1);
        assert_true(plan_count(&p, 5) > 1);
        mb_profile_free(&p);
}

static void test_other_profiles(void **state) {
        (void)state;
        dcem_diag diag = { 0 };
        mb_profile p;
        assert_int_equal(mb_profile_load(PROFILES, "iem3000", &p, &diag), 0);
        const mb_point *e = find(&p, "energy_kwh");
        assert_non_null(e);
        assert_int_equal(e->reg, 3203);
        assert_int_equal(e->type, MB_T_INT64);
        assert_true(e->scale == 0.001);
        printf("iem3000: %zu points, %zu request(s) per poll\n", p.n, plan_count(&p, 16));
        mb_profile_free(&p);
        assert_int_equal(mb_profile_load(PROFILES, "pm5000", &p, &diag), 0);
        assert_non_null(find(&p, "power_kw"));
        assert_null(find(&p, "power_factor"));
        printf("pm5000: %zu points, %zu request(s) per poll\n", p.n, plan_count(&p, 16));
        mb_profile_free(&p);
        /* every shipped map loads, names the canonical points, and plans */
        const char *all[] = { "sdm120", "em24", "iem3000", "pm5000", "sdm630", "janitza-umg604" };
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
                assert_int_equal(mb_profile_load(PROFILES, all[i], &p, &diag), 0);
                const mb_point *ek = find(&p, "energy_kwh"), *pk = find(&p, "power_kw");
                assert_non_null(ek);
                assert_non_null(pk);
                assert_int_equal(ek->kind, DCEM_KIND_COUNTER);
                assert_string_equal(ek->unit, "kWh");
                assert_string_equal(pk->unit, "kW");
                assert_non_null(find(&p, "energy_export_kwh"));
                printf("%s: %zu points, %zu request(s) per poll\n", all[i], p.n, plan_count(&p, 16));
                mb_profile_free(&p);
        }
        assert_int_equal(mb_profile_load(PROFILES, "em24", &p, &diag), 0);
        assert_int_equal(find(&p, "energy_kwh")->order, MB_O_CDAB);
        assert_int_equal(plan_count(&p, 16), 2);
        assert_int_equal(plan_count(&p, 24), 1);
        mb_profile_free(&p);
        assert_int_equal(mb_profile_load(PROFILES, "sunspec-meter", &p, &diag), 0);
        assert_true(p.sunspec);
        assert_int_equal(p.n, 0);
        mb_profile_free(&p);
        assert_int_equal(diag.n, 0);
        assert_int_equal(mb_profile_load(PROFILES, "no-such-meter", &p, &diag), -ENOENT);
        dcem_diag_clear(&diag);
        assert_int_equal(mb_profile_load(PROFILES, "../etc/passwd", &p, &diag), -EINVAL);
}

/* Janitza UMG 604 / 96-PA: the 19xxx block, float32 abcd holding registers,
 * Wh and W scaled to kWh and kW; 36 points in 19000..19093, one request. */
static void test_janitza(void **state) {
        (void)state;
        dcem_diag diag = { 0 };
        mb_profile p;
        assert_int_equal(mb_profile_load(PROFILES, "janitza-umg604", &p, &diag), 0);
        assert_int_equal(diag.n, 0);
        assert_int_equal(p.n, 36);
        uint32_t lo = UINT32_MAX, hi = 0;
        for (size_t i = 0; i < p.n; i++) {
                uint32_t s, e;
                assert_int_equal(p.pts[i].fc, MB_FC_HOLDING);
                assert_int_equal(p.pts[i].type, MB_T_FLOAT32);
                assert_int_equal(p.pts[i].order, MB_O_ABCD);
                mb_point_span(&p.pts[i], &s, &e);
                lo = s < lo ? s : lo;
                hi = e > hi ? e : hi;
        }
        assert_int_equal(lo, 19000);
        assert_int_equal(hi, 19094);
        const struct { const char *name; unsigned reg; double scale; } want[] = {
                { "voltage_l1", 19000, 1 }, { "current_l3", 19016, 1 }, { "power_kw", 19026, 0.001 },
                { "frequency_hz", 19050, 1 }, { "energy_kwh", 19068, 0.001 }, { "energy_export_kwh", 19076, 0.001 },
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                const mb_point *x = find(&p, want[i].name);
                assert_non_null(x);
                assert_int_equal(x->reg, want[i].reg);
                assert_true(x->scale == want[i].scale);
        }
        assert_int_equal(find(&p, "energy_kwh")->kind, DCEM_KIND_COUNTER);
        assert_int_equal(plan_count(&p, 16), 1);  /* 94 registers */
        assert_int_equal(plan_count(&p, 10), 1);  /* the largest hole: 19052..19061 */
        assert_int_equal(plan_count(&p, 9), 2);
        assert_int_equal(plan_count(&p, 0), 4);   /* 19000..19051, 19062..19077, 19084, 19092 */
        mb_profile_free(&p);
}

static void test_broken_profile(void **state) {
        (void)state;
        char dir[] = "/tmp/dcem-mbprof-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char sub[300], file[400];
        snprintf(sub, sizeof sub, "%s/modbus", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        snprintf(file, sizeof file, "%s/bad.yaml", sub);
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fputs("points:\n"
              "  - { name: a, register: 1, type: uint16 }\n"
              "  - { name: b, register: 2, type: float16 }\n"
              "  - { name: c, function: coil, register: 3, type: uint16 }\n", f);
        fclose(f);
        dcem_diag diag = { 0 };
        mb_profile p;
        assert_int_equal(mb_profile_load(dir, "bad", &p, &diag), -EINVAL);
        assert_true(diag.n >= 1);
        bool pos = false;
        for (size_t i = 0; i < diag.n; i++) {
                printf("  %s\n", diag.msgs[i]);
                pos = pos || (strstr(diag.msgs[i], "bad.yaml:3:") && strstr(diag.msgs[i], "float16"));
        }
        assert_true(pos);
        dcem_diag_clear(&diag);
        unlink(file);
        rmdir(sub);
        rmdir(dir);
}

static void test_merge(void **state) {
        (void)state;
        mb_point base[3], extra[2];
        memset(base, 0, sizeof base);
        memset(extra, 0, sizeof extra);
        strcpy(base[0].name, "a");
        strcpy(base[1].name, "b");
        strcpy(base[2].name, "c");
        base[1].reg = 1;
        strcpy(extra[0].name, "b");
        extra[0].reg = 99;
        strcpy(extra[1].name, "d");
        mb_point *out;
        size_t n;
        assert_int_equal(mb_points_merge(base, 3, extra, 2, &out, &n), 0);
        assert_int_equal(n, 4);
        int seen_b = 0;
        for (size_t i = 0; i < n; i++)
                if (strcmp(out[i].name, "b") == 0) {
                        seen_b++;
                        assert_int_equal(out[i].reg, 99);
                }
        assert_int_equal(seen_b, 1);
        free(out);
}

/* check() of the modbus block, with positions. */
static int check_block(const char *yaml, dcem_diag *diag) {
        dcem_node *root = NULL;
        assert_int_equal(dcem_yaml_load_buffer("dev.yaml", yaml, strlen(yaml), &root, diag), 0);
        const dcem_schema *s = dcem_modbus_collector.schema;
        void *conf = calloc(1, s->size);
        int r = dcem_schema_apply(s, root, conf, diag);
        if (r == 0)
                r = dcem_modbus_collector.check(conf, root, PROFILES, diag);
        dcem_schema_free(s, conf);
        free(conf);
        dcem_node_free(root);
        return r;
}

static bool has(const dcem_diag *d, const char *a, const char *b) {
        for (size_t i = 0; i < d->n; i++)
                if (strstr(d->msgs[i], a) && (!b || strstr(d->msgs[i], b)))
                        return true;
        return false;
}

static void test_check(void **state) {
        (void)state;
        dcem_diag d = { 0 };
        assert_int_equal(check_block("address: tcp://127.0.0.1:1502\nunit: 3\nprofile: sdm630\n", &d), 0);
        assert_int_equal(d.n, 0);
        assert_int_equal(check_block("address: rtu:///dev/ttyUSB0?baud=9600&parity=E&data=8&stop=1\n"
                                     "points:\n  - { name: energy_kwh, function: input, register: 0x0048, "
                                     "type: float32, order: abcd, scale: 1, unit: kWh, kind: counter }\n", &d), 0);
        assert_int_equal(check_block("address: udp://x\nprofile: sdm630\n", &d), -EINVAL);
        assert_true(has(&d, "dev.yaml:1:", "tcp:// or rtu://"));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: rtu:///dev/ttyS0?parity=X\nprofile: sdm630\n", &d), -EINVAL);
        assert_true(has(&d, "parity", NULL));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h:99999\nprofile: sdm630\n", &d), -EINVAL);
        assert_true(has(&d, "port", NULL));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\nprofile: nope\n", &d), -EINVAL);
        assert_true(has(&d, "dev.yaml:2:", "no profile 'nope'"));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\n", &d), -EINVAL);
        assert_true(has(&d, "no points", NULL));
        dcem_diag_clear(&d);
        /* string points: a length is required (1..125 registers), no scale
         * factor, and not under a name the accounting reads as a number */
        assert_int_equal(check_block("address: tcp://h\npoints:\n  - { name: s, register: 1, type: string, length: 4 }\n",
                                     &d), 0);
        assert_int_equal(d.n, 0);
        assert_int_equal(check_block("address: tcp://h\npoints:\n  - { name: s, register: 1, type: string, length: 125 }\n",
                                     &d), 0);
        assert_int_equal(check_block("address: tcp://h\npoints:\n  - { name: s, register: 1, type: string }\n", &d),
                         -EINVAL);
        assert_true(has(&d, "dev.yaml:3:", "needs its length"));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\npoints:\n  - { name: s, register: 1, type: string, length: 126 }\n",
                                     &d), -EINVAL);
        assert_true(has(&d, "length", NULL));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\npoints:\n  - { name: s, register: 1, type: string, length: 2, "
                                     "scale_factor_register: 9 }\n", &d), -EINVAL);
        assert_true(has(&d, "dev.yaml:3:", "no scale factor"));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\npoints:\n  - { name: energy_kwh, register: 1, type: string, "
                                     "length: 2 }\n", &d), -EINVAL);
        assert_true(has(&d, "dev.yaml:3:", "numbers, not strings"));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\nmax_registers: 8\n"
                                     "points:\n  - { name: s, register: 1, type: string, length: 9 }\n", &d), -EINVAL);
        assert_true(has(&d, "does not fit", NULL));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\nmax_registers: 2\n"
                                     "points:\n  - { name: x, register: 1, type: float64 }\n", &d), -EINVAL);
        assert_true(has(&d, "does not fit", NULL));
        dcem_diag_clear(&d);
        assert_int_equal(check_block("address: tcp://h\npoints:\n  - { name: x, register: 1, typo: 2 }\n", &d), -EINVAL);
        dcem_diag_clear(&d);
}

static void test_addresses(void **state) {
        (void)state;
        mb_addr a;
        const char *why;
        assert_int_equal(mb_addr_parse("tcp://10.0.0.5:502", &a, &why), 0);
        assert_int_equal(a.kind, MB_ADDR_TCP);
        assert_string_equal(a.host, "10.0.0.5");
        assert_string_equal(a.port, "502");
        assert_int_equal(mb_addr_parse("modbus://meter.example?unit=7", &a, &why), 0);
        assert_string_equal(a.host, "meter.example");
        assert_string_equal(a.port, "502");
        assert_int_equal(a.unit, 7);
        assert_int_equal(mb_addr_parse("tcp://[::1]:1502", &a, &why), 0);
        assert_string_equal(a.host, "::1");
        assert_string_equal(a.port, "1502");
        assert_int_equal(mb_addr_parse("rtu:///dev/ttyUSB0?baud=19200&parity=e&data=7&stop=2&rs485=1", &a, &why), 0);
        assert_string_equal(a.device, "/dev/ttyUSB0");
        assert_int_equal(a.baud, 19200);
        assert_int_equal(a.parity, 'E');
        assert_int_equal(a.data_bits, 7);
        assert_int_equal(a.stop_bits, 2);
        assert_true(a.rs485);
        assert_int_equal(mb_addr_parse("rtu://dev/ttyUSB0", &a, &why), -EINVAL);
        assert_int_equal(mb_addr_parse("tcp://h:0", &a, &why), -EINVAL);
        assert_int_equal(mb_addr_parse("tcp://h?unit=300", &a, &why), -EINVAL);
        assert_int_equal(mb_addr_parse("tcp://h?foo=1", &a, &why), -EINVAL);
        assert_int_equal(mb_addr_parse("tcp://", &a, &why), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sdm630),
                cmocka_unit_test(test_other_profiles),
                cmocka_unit_test(test_janitza),
                cmocka_unit_test(test_broken_profile),
                cmocka_unit_test(test_merge),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_addresses),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
