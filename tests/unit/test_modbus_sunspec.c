/* test_modbus_sunspec.c - the SunSpec chain walk on a synthetic chain and on
 * the real Veris E51C2 dump (../shared/testdata/sunspec, skipped when absent),
 * and decoding the canonical meter points from the walked models. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "modbus/mb.h"
#include "modbus/sunspec.h"

/* A fake device: 65536 holding registers, each present or not (exception 2). */
typedef struct dev {
        uint16_t reg[65536];
        uint8_t ok[65536];
        unsigned reads;
        int fail_status; /* != 0: every read fails with this */
} dev;

static void put(dev *d, uint32_t a, uint16_t v) {
        d->reg[a] = v;
        d->ok[a] = 1;
}

static int walk(dev *d, mb_sunspec_walk *w) {
        uint16_t start, count, buf[8];
        mb_sunspec_walk_init(w);
        for (int guard = 0; guard < 200; guard++) {
                int r = mb_sunspec_walk_next(w, &start, &count);
                if (r <= 0)
                        return r;
                assert_true(count <= 8);
                d->reads++;
                int st = d->fail_status;
                for (unsigned i = 0; !st && i < count; i++) {
                        if ((uint32_t)start + i > 65535 || !d->ok[start + i])
                                st = -EPROTO;
                        else
                                buf[i] = d->reg[start + i];
                }
                mb_sunspec_walk_feed(w, st, st ? NULL : buf, st ? 0 : count);
        }
        fail_msg("walk did not end");
        return -1;
}

static void test_synthetic_chain(void **state) {
        (void)state;
        dev *d = calloc(1, sizeof *d);
        assert_non_null(d);
        /* marker at 0 (40000 absent), common model 66, model 213 (124), model 64001 (10), end */
        put(d, 0, 0x5375);
        put(d, 1, 0x6E53);
        put(d, 2, 1);
        put(d, 3, 66);
        uint32_t a213 = 2 + 2 + 66; /* 70 */
        put(d, a213, 213);
        put(d, a213 + 1, 124);
        uint32_t avend = a213 + 2 + 124; /* 196 */
        put(d, avend, 64001);
        put(d, avend + 1, 10);
        put(d, avend + 12, 0xFFFF);
        put(d, avend + 13, 0);
        mb_sunspec_walk w;
        assert_int_equal(walk(d, &w), 0);
        assert_int_equal(w.base, 0);
        assert_int_equal(w.n, 3);
        assert_int_equal(w.models[0].id, 1);
        assert_int_equal(w.models[0].addr, 2);
        assert_int_equal(w.models[1].id, 213);
        assert_int_equal(w.models[1].addr, 70);
        assert_int_equal(w.models[1].len, 124);
        assert_int_equal(w.models[2].id, 64001);
        assert_int_equal(w.models[2].addr, 196);
        /* 40000 (refused), 0: marker; then 4 headers */
        assert_int_equal(d->reads, 2 + 4);
        const mb_sunspec_model *m = mb_sunspec_find_meter(&w);
        assert_non_null(m);
        assert_int_equal(m->id, 213);

        /* float model: TotWhImp at offset 68, W at 28 (SunSpec model 213 definition) */
        mb_point pts[16];
        int n = mb_sunspec_meter_points(m, pts, 16);
        assert_int_equal(n, 10);
        float e = 906630.0f, wv = 6540.0f;
        uint32_t eb, wb;
        memcpy(&eb, &e, 4);
        memcpy(&wb, &wv, 4);
        put(d, 70 + 68, (uint16_t)(eb >> 16));
        put(d, 70 + 69, (uint16_t)eb);
        put(d, 70 + 28, (uint16_t)(wb >> 16));
        put(d, 70 + 29, (uint16_t)wb);
        for (int i = 0; i < n; i++) {
                double v;
                if (strcmp(pts[i].name, "energy_kwh") == 0) {
                        assert_int_equal(mb_decode_point(&pts[i], 70, d->reg + 70, NULL, 126, &v), 0);
                        assert_true(fabs(v - 906.63) < 1e-9);
                        assert_int_equal(pts[i].kind, DCEM_KIND_COUNTER);
                }
                if (strcmp(pts[i].name, "power_kw") == 0) {
                        assert_int_equal(mb_decode_point(&pts[i], 70, d->reg + 70, NULL, 126, &v), 0);
                        assert_true(fabs(v - 6.54) < 1e-9);
                }
        }
        /* a model that is not a meter */
        assert_int_equal(mb_sunspec_meter_points(&w.models[0], pts, 16), -EINVAL);

        /* identity strings of the common model at 2: Mn at +2, Md +18, Vr +42,
         * SN +50 (SunSpec model 1 definition) */
        const char *mn = "dcem", *sn = "SN-42";
        for (size_t i = 0; i < strlen(mn); i += 2)
                put(d, 2 + 2 + (uint32_t)i / 2, (uint16_t)(mn[i] << 8 | mn[i + 1]));
        put(d, 2 + 50, ('S' << 8) | 'N');
        put(d, 2 + 51, ('-' << 8) | '4');
        put(d, 2 + 52, ('2' << 8) | 0);
        n = mb_sunspec_common_points(&w, pts, 16);
        assert_int_equal(n, 4);
        const char *names[4] = { "manufacturer", "model", "version", "serial_number" };
        const uint16_t at[4] = { 4, 20, 44, 52 }, len[4] = { 16, 16, 8, 16 };
        for (int i = 0; i < 4; i++) {
                assert_string_equal(pts[i].name, names[i]);
                assert_int_equal(pts[i].reg, at[i]);
                assert_int_equal(pts[i].nregs, len[i]);
                assert_int_equal(pts[i].type, MB_T_STRING);
                assert_int_equal(pts[i].kind, DCEM_KIND_TEXT);
        }
        char txt[DCEM_TEXT_MAX];
        assert_int_equal(mb_decode_text(&pts[0], 0, d->reg, 70, txt, sizeof txt), 0);
        assert_string_equal(txt, mn);
        assert_int_equal(mb_decode_text(&pts[3], 0, d->reg, 70, txt, sizeof txt), 0);
        assert_string_equal(txt, sn);
        assert_int_equal(mb_decode_text(&pts[1], 0, d->reg, 70, txt, sizeof txt), -ERANGE); /* empty */
        assert_int_equal(mb_sunspec_common_points(&w, pts, 2), 2); /* cap */
        /* a common model too short for SN (65 - 2 registers: Veris has 65) */
        w.models[0].len = 63;
        assert_int_equal(mb_sunspec_common_points(&w, pts, 16), 3);
        w.models[0].id = 7; /* no common model */
        assert_int_equal(mb_sunspec_common_points(&w, pts, 16), 0);
        free(d);
}

static void test_no_marker_and_timeouts(void **state) {
        (void)state;
        dev *d = calloc(1, sizeof *d);
        assert_non_null(d);
        mb_sunspec_walk w;
        assert_int_equal(walk(d, &w), -ENOENT);
        assert_int_equal(d->reads, 3); /* 40000, 0, 50000 */
        /* marker at 50000, then the device stops answering */
        put(d, 50000, 0x5375);
        put(d, 50001, 0x6E53);
        d->reads = 0;
        assert_int_equal(walk(d, &w), -EPROTO); /* header refused, no model: a bad chain */
        d->fail_status = -ETIMEDOUT;
        assert_int_equal(walk(d, &w), -ETIMEDOUT);
        /* no end marker: the refused address after the last model ends the chain */
        d->fail_status = 0;
        put(d, 50002, 1);
        put(d, 50003, 66);
        assert_int_equal(walk(d, &w), 0);
        assert_int_equal(w.n, 1);
        free(d);
}

/* The real Veris E51C2 dump: model 203 at 40069, whose common model is 65
 * registers long. The registers before 40069 are not in the dump: we put the
 * marker and the common model header (ID 1, L 65) in front of it. */
static void test_veris_dump(void **state) {
        (void)state;
        char path[1024];
        snprintf(path, sizeof path, "%s/testdata/sunspec/veris-e51c2-model203.regs", DCEM_SHARED_DIR);
        FILE *f = fopen(path, "r");
        if (!f) {
                printf("SKIP: %s is absent (../shared is not in a user's clone)\n", path);
                skip();
        }
        dev *d = calloc(1, sizeof *d);
        assert_non_null(d);
        put(d, 40000, 0x5375);
        put(d, 40001, 0x6E53);
        put(d, 40002, 1);
        put(d, 40003, 65);
        for (uint32_t a = 40004; a < 40069 + 2 + 105; a++)
                put(d, a, 0); /* unknown registers read as 0 */
        char line[128];
        unsigned loaded = 0;
        while (fgets(line, sizeof line, f)) {
                unsigned long a, v;
                char *end;
                a = strtoul(line, &end, 10);
                v = strtoul(end, NULL, 16);
                assert_true(a >= 40069 && a < 40069 + 2 + 105 && v <= 0xFFFF);
                put(d, (uint32_t)a, (uint16_t)v);
                loaded++;
        }
        fclose(f);
        assert_true(loaded >= 20);
        put(d, 40069 + 2 + 105, 0xFFFF);
        put(d, 40069 + 2 + 105 + 1, 0);

        mb_sunspec_walk w;
        assert_int_equal(walk(d, &w), 0);
        assert_int_equal(w.base, 40000);
        assert_int_equal(w.n, 2);
        assert_int_equal(w.models[0].id, 1);
        assert_int_equal(w.models[0].len, 65);
        assert_int_equal(w.models[1].id, 203);
        assert_int_equal(w.models[1].addr, 40069);
        assert_int_equal(w.models[1].len, 105);

        mb_point pts[16];
        int n = mb_sunspec_meter_points(mb_sunspec_find_meter(&w), pts, 16);
        assert_int_equal(n, 10);
        /* plan them as the collector would, then decode from the fake device */
        size_t sel[16];
        for (int i = 0; i < n; i++)
                sel[i] = (size_t)i;
        mb_plan pl;
        mb_plan_opts o = { .max_gap = 16, .max_regs = 125, .max_bits = 2000 };
        assert_int_equal(mb_plan_build(pts, sel, (size_t)n, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 1); /* offsets 3..54 of one model: one request */
        assert_int_equal(pl.reqs[0].start, 40069 + 3);
        /* Expected values, worked by hand from the dump:
         * TotWhImp 40115/40116 = 0x0001 0x6227 = 90663, TotWh_SF 40123 = 1 -> 906630 Wh
         * TotWhExp 40107/40108 = 0 -> 0 kWh
         * W 40087 = 0x028E = 654, W_SF 40091 = 1 -> 6540 W
         * Hz 40085 = 0x1771 = 6001, Hz_SF 40086 = -2 -> 60.01 Hz
         * PhVphA 40077 = 0x04CE = 1230, V_SF 40084 = -1 -> 123.0 V
         * AphA 40072 = 0x0A79 = 2681, AphC 40074 = 0, A_SF 40075 = -2 -> 26.81 A, 0 A */
        struct { const char *name; double want; } want[] = {
                { "energy_kwh", 906.63 }, { "energy_export_kwh", 0 }, { "power_kw", 6.54 },
                { "frequency_hz", 60.01 }, { "voltage_l1", 123.0 }, { "current_l1", 26.81 },
                { "current_l3", 0 },
        };
        const mb_request *r = &pl.reqs[0];
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
                bool found = false;
                for (int i = 0; i < n; i++) {
                        if (strcmp(pts[i].name, want[k].name) != 0)
                                continue;
                        double v;
                        assert_int_equal(mb_decode_point(&pts[i], r->start, d->reg + r->start, NULL, r->count, &v), 0);
                        if (fabs(v - want[k].want) > 1e-9)
                                fail_msg("%s: %.17g, want %.17g", want[k].name, v, want[k].want);
                        found = true;
                }
                assert_true(found);
        }
        mb_plan_free(&pl);
        free(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_synthetic_chain),
                cmocka_unit_test(test_no_marker_and_timeouts),
                cmocka_unit_test(test_veris_dump),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
