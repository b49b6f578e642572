/* test_modbus_plan.c - request planning: merging, gaps, caps, function codes,
 * scale-factor footprints, and split-after-exception with its memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "modbus/mb.h"

static mb_point mkpt(uint8_t fc, uint16_t reg, mb_type t) {
        mb_point p;
        memset(&p, 0, sizeof p);
        snprintf(p.name, sizeof p.name, "p%u_%u", fc, reg);
        p.fc = fc;
        p.reg = reg;
        p.type = (uint8_t)t;
        p.sf_reg = -1;
        p.scale = 1;
        return p;
}

static size_t *all(size_t n) {
        size_t *s = malloc(n * sizeof *s);
        assert_non_null(s);
        for (size_t i = 0; i < n; i++)
                s[i] = i;
        return s;
}

/* Every point lies inside its request, and no request passes its cap. */
static void check_cover(const mb_point *pts, size_t n, const mb_plan *pl, unsigned cap_regs, unsigned cap_bits) {
        for (size_t i = 0; i < pl->n; i++) {
                bool bits = pl->reqs[i].fc <= 2;
                assert_true(pl->reqs[i].count >= 1);
                assert_true(pl->reqs[i].count <= (bits ? cap_bits : cap_regs));
        }
        for (size_t i = 0; i < n; i++) {
                const mb_request *r = &pl->reqs[pl->point_req[i]];
                uint32_t s, e;
                mb_point_span(&pts[i], &s, &e);
                assert_int_equal(r->fc, pts[i].fc);
                assert_true(s >= r->start);
                assert_true(e <= (uint32_t)r->start + r->count);
        }
}

/* A 30-point meter map inside 100 registers is one request. */
static void test_thirty_points_one_request(void **state) {
        (void)state;
        mb_point pts[30];
        for (int i = 0; i < 30; i++)
                pts[i] = mkpt(MB_FC_INPUT, (uint16_t)(i * 3), MB_T_FLOAT32); /* a gap of 1 after each */
        size_t *sel = all(30);
        mb_plan pl;
        mb_plan_opts o = { .max_gap = 4, .max_regs = 125, .max_bits = 2000 };
        assert_int_equal(mb_plan_build(pts, sel, 30, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 1);
        assert_int_equal(pl.reqs[0].start, 0);
        assert_int_equal(pl.reqs[0].count, 29 * 3 + 2); /* last point at 87, two registers */
        check_cover(pts, 30, &pl, 125, 2000);
        mb_plan_free(&pl);
        /* no gaps allowed: one request per point */
        o.max_gap = 0;
        assert_int_equal(mb_plan_build(pts, sel, 30, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 30);
        check_cover(pts, 30, &pl, 125, 2000);
        mb_plan_free(&pl);
        free(sel);
}

static void test_gap_rule(void **state) {
        (void)state;
        for (unsigned g = 1; g < 20; g++) {
                mb_point pts[2] = { mkpt(MB_FC_HOLDING, 100, MB_T_UINT32),
                                    mkpt(MB_FC_HOLDING, (uint16_t)(102 + g), MB_T_UINT16) };
                size_t sel[2] = { 1, 0 }; /* order of the input does not matter */
                mb_plan pl;
                mb_plan_opts o = { .max_gap = g, .max_regs = 125, .max_bits = 2000 };
                assert_int_equal(mb_plan_build(pts, sel, 2, &o, NULL, &pl), 0);
                assert_int_equal(pl.n, 1);
                assert_int_equal(pl.reqs[0].start, 100);
                assert_int_equal(pl.reqs[0].count, 2 + g + 1);
                mb_plan_free(&pl);
                o.max_gap = g - 1;
                assert_int_equal(mb_plan_build(pts, sel, 2, &o, NULL, &pl), 0);
                assert_int_equal(pl.n, 2);
                /* sel[0] is point 1, planned second (sorted by address) */
                assert_int_equal(pl.point_req[0], 1);
                assert_int_equal(pl.point_req[1], 0);
                mb_plan_free(&pl);
        }
}

static void test_caps(void **state) {
        (void)state;
        enum { N = 70 };
        mb_point pts[N];
        for (int i = 0; i < N; i++)
                pts[i] = mkpt(MB_FC_HOLDING, (uint16_t)(1000 + 2 * i), MB_T_FLOAT32);
        size_t *sel = all(N);
        mb_plan pl;
        mb_plan_opts o = { .max_gap = 10, .max_regs = 125, .max_bits = 2000 };
        assert_int_equal(mb_plan_build(pts, sel, N, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 2); /* 140 registers: 124 (62 points) + 16 */
        assert_int_equal(pl.reqs[0].count, 124);
        assert_int_equal(pl.reqs[1].count, 16);
        check_cover(pts, N, &pl, 125, 2000);
        mb_plan_free(&pl);
        /* a fussy device: at most 20 registers per request */
        o.max_regs = 20;
        assert_int_equal(mb_plan_build(pts, sel, N, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 7); /* 140 / 20 */
        check_cover(pts, N, &pl, 20, 2000);
        mb_plan_free(&pl);
        /* a cap above the protocol's is clamped to 125 */
        o.max_regs = 1000;
        assert_int_equal(mb_plan_build(pts, sel, N, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 2);
        mb_plan_free(&pl);
        free(sel);
}

static void test_bits_and_function_codes(void **state) {
        (void)state;
        enum { N = 2500 };
        mb_point *pts = calloc(N + 2, sizeof *pts);
        assert_non_null(pts);
        for (int i = 0; i < N; i++)
                pts[i] = mkpt(MB_FC_COIL, (uint16_t)i, MB_T_BOOL);
        pts[N] = mkpt(MB_FC_HOLDING, 5, MB_T_UINT16);
        pts[N + 1] = mkpt(MB_FC_INPUT, 5, MB_T_UINT16);
        size_t *sel = all(N + 2);
        mb_plan pl;
        mb_plan_opts o = { .max_gap = 10, .max_regs = 125, .max_bits = 2000 };
        assert_int_equal(mb_plan_build(pts, sel, N + 2, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 4); /* coils 2000 + 500, holding 1, input 1 */
        assert_int_equal(pl.reqs[0].fc, MB_FC_COIL);
        assert_int_equal(pl.reqs[0].count, 2000);
        assert_int_equal(pl.reqs[1].count, 500);
        assert_int_equal(pl.reqs[2].fc, MB_FC_HOLDING);
        assert_int_equal(pl.reqs[3].fc, MB_FC_INPUT);
        check_cover(pts, N + 2, &pl, 125, 2000);
        mb_plan_free(&pl);
        free(sel);
        free(pts);
}

static void test_scale_factor_footprint(void **state) {
        (void)state;
        mb_point pts[2] = { mkpt(MB_FC_HOLDING, 10, MB_T_INT16), mkpt(MB_FC_HOLDING, 200, MB_T_INT16) };
        pts[0].sf_reg = 30; /* 21 registers away: beyond max_gap, still the same request */
        size_t sel[2] = { 0, 1 };
        mb_plan pl;
        mb_plan_opts o = { .max_gap = 2, .max_regs = 125, .max_bits = 2000 };
        assert_int_equal(mb_plan_build(pts, sel, 2, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 2);
        assert_int_equal(pl.reqs[0].start, 10);
        assert_int_equal(pl.reqs[0].count, 21);
        mb_plan_free(&pl);
        /* footprint larger than the cap: refused */
        o.max_regs = 20;
        assert_int_equal(mb_plan_build(pts, sel, 2, &o, NULL, &pl), -EINVAL);
        /* a point running past register 65535 is refused */
        mb_point last = mkpt(MB_FC_HOLDING, 65535, MB_T_UINT32);
        size_t s0 = 0;
        o.max_regs = 125;
        assert_int_equal(mb_plan_build(&last, &s0, 1, &o, NULL, &pl), -EINVAL);
}

/* A fake device that answers exception 2 for any request covering a bad register. */
static bool covers(const mb_request *r, uint16_t bad) {
        return bad >= r->start && bad < r->start + r->count;
}

/* Run one poll like the collector: plan, "send", split failed requests and
 * replan their points until every request answers or is a single footprint.
 * Returns the number of requests sent; *ret_lost gets points with no value. */
static unsigned run_poll(const mb_point *pts, size_t n, const mb_plan_opts *o, mb_bounds *b, uint16_t bad,
                         size_t *ret_lost, unsigned *ret_splits) {
        size_t *work = all(n), nwork = n;
        unsigned sent = 0, splits = 0;
        size_t lost = 0;
        while (nwork > 0) {
                mb_plan pl;
                assert_int_equal(mb_plan_build(pts, work, nwork, o, b, &pl), 0);
                size_t *next = malloc(nwork * sizeof *next), nnext = 0;
                assert_non_null(next);
                for (size_t r = 0; r < pl.n; r++) {
                        sent++;
                        if (!covers(&pl.reqs[r], bad))
                                continue;
                        size_t *in = malloc(nwork * sizeof *in), nin = 0;
                        assert_non_null(in);
                        for (size_t i = 0; i < nwork; i++)
                                if (pl.point_req[i] == r)
                                        in[nin++] = work[i];
                        int s = mb_plan_split(pts, in, nin, b);
                        assert_true(s >= 0);
                        if (s == 1) {
                                splits++;
                                memcpy(next + nnext, in, nin * sizeof *in);
                                nnext += nin;
                        } else {
                                lost += nin;
                        }
                        free(in);
                }
                mb_plan_free(&pl);
                free(work);
                work = next;
                nwork = nnext;
        }
        free(work);
        *ret_lost = lost;
        *ret_splits = splits;
        return sent;
}

static void test_split_after_exception(void **state) {
        (void)state;
        enum { N = 40 };
        mb_point pts[N];
        for (int i = 0; i < N; i++)
                pts[i] = mkpt(MB_FC_HOLDING, (uint16_t)(2 * i), MB_T_UINT32);
        mb_plan_opts o = { .max_gap = 10, .max_regs = 125, .max_bits = 2000 };
        mb_bounds b;
        memset(&b, 0, sizeof b);
        for (uint16_t bad = 0; bad < 2 * N; bad += 7) {
                memset(&b, 0, sizeof b);
                size_t lost;
                unsigned splits;
                unsigned sent1 = run_poll(pts, N, &o, &b, bad, &lost, &splits);
                assert_int_equal(lost, 1); /* only the point holding the bad register */
                assert_true(splits >= 1);
                assert_true(splits <= 7);  /* halving 40 points: about log2(40) */
                size_t nb = b.n;
                /* the next poll remembers: no new splits, fewer requests, same loss */
                unsigned sent2 = run_poll(pts, N, &o, &b, bad, &lost, &splits);
                assert_int_equal(splits, 0);
                assert_int_equal(lost, 1);
                assert_int_equal(b.n, nb);
                assert_true(sent2 < sent1);
                assert_true(sent2 == nb + 1); /* each boundary adds one request */
        }
}

/* A device that refuses every register no point reads (a map with holes,
 * like dcem-sim's SDM630): splitting at holes converges to one request per
 * contiguous run, and nothing is lost. */
static bool covers_hole(const mb_request *r, const bool *hole) {
        for (unsigned a = r->start; a < (unsigned)r->start + r->count; a++)
                if (hole[a])
                        return true;
        return false;
}

static void test_split_prefers_holes(void **state) {
        (void)state;
        /* runs of uint16 points: [0,10) [12,20) [21,31) [40,44) [46,60) */
        const unsigned runs[][2] = { { 0, 10 }, { 12, 20 }, { 21, 31 }, { 40, 44 }, { 46, 60 } };
        mb_point pts[64];
        bool hole[64];
        size_t n = 0;
        for (unsigned a = 0; a < 64; a++)
                hole[a] = true;
        for (size_t r = 0; r < 5; r++)
                for (unsigned a = runs[r][0]; a < runs[r][1]; a++) {
                        pts[n++] = mkpt(MB_FC_INPUT, (uint16_t)a, MB_T_UINT16);
                        hole[a] = false;
                }
        mb_plan_opts o = { .max_gap = 16, .max_regs = 125, .max_bits = 2000 };
        mb_bounds b;
        memset(&b, 0, sizeof b);
        unsigned sent = 0, polls = 0;
        size_t lost = 0;
        /* poll until a poll needs no split */
        for (;;) {
                size_t *work = all(n), nwork = n;
                unsigned splits = 0;
                sent = 0;
                while (nwork > 0) {
                        mb_plan pl;
                        assert_int_equal(mb_plan_build(pts, work, nwork, &o, &b, &pl), 0);
                        size_t *next = malloc(nwork * sizeof *next), nnext = 0;
                        for (size_t r = 0; r < pl.n; r++) {
                                sent++;
                                if (!covers_hole(&pl.reqs[r], hole))
                                        continue;
                                size_t *in = malloc(nwork * sizeof *in), nin = 0;
                                for (size_t i = 0; i < nwork; i++)
                                        if (pl.point_req[i] == r)
                                                in[nin++] = work[i];
                                int s = mb_plan_split(pts, in, nin, &b);
                                assert_int_equal(s, 1); /* a run never needs splitting */
                                splits++;
                                memcpy(next + nnext, in, nin * sizeof *in);
                                nnext += nin;
                                free(in);
                        }
                        mb_plan_free(&pl);
                        free(work);
                        work = next;
                        nwork = nnext;
                }
                free(work);
                polls++;
                if (splits == 0)
                        break;
                assert_true(polls < 3); /* converges within the first poll */
        }
        assert_int_equal(lost, 0);
        assert_int_equal(sent, 5);  /* one request per run */
        assert_int_equal(b.n, 4);   /* exactly the four holes became boundaries */
}

static void test_bounds_memory(void **state) {
        (void)state;
        mb_bounds b;
        memset(&b, 0, sizeof b);
        assert_int_equal(mb_bounds_add(&b, 3, 10), 0);
        assert_int_equal(mb_bounds_add(&b, 3, 10), 0);
        assert_int_equal(b.n, 1);
        assert_true(mb_bounds_has(&b, 3, 10));
        assert_false(mb_bounds_has(&b, 4, 10));
        for (unsigned i = 0; i < MB_MAX_BOUNDS + 5; i++)
                (void)mb_bounds_add(&b, 4, i);
        assert_int_equal(b.n, MB_MAX_BOUNDS);
        assert_int_equal(b.dropped, 6);
        for (size_t i = 1; i < b.n; i++)
                assert_true(b.key[i - 1] < b.key[i]);
        /* a single footprint cannot be split */
        mb_point p = mkpt(MB_FC_HOLDING, 5, MB_T_UINT32);
        mb_point q = mkpt(MB_FC_HOLDING, 5, MB_T_UINT16);
        mb_point two[2] = { p, q };
        size_t sel[2] = { 0, 1 };
        mb_bounds e;
        memset(&e, 0, sizeof e);
        assert_int_equal(mb_plan_split(two, sel, 2, &e), 0);
        assert_int_equal(e.n, 0);
}

/* A device that refuses reads over some of the map's holes but answers
 * others (dcem-sim's SDM630: it serves the phase angles 0x24..0x29 the
 * profile does not read, and refuses 0x2C, 0x32, ...). Splitting bisects
 * the suspect holes, so it converges to one request per run of registers
 * the device answers: no boundary at a hole it answers. */
static void test_split_spares_answered_holes(void **state) {
        (void)state;
        /* the registers dcem-sim's SDM630 answers (tools/sim/regs.c: float32 points) */
        static const uint16_t served[] = { 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0E, 0x10, 0x12, 0x14, 0x16,
                                           0x18, 0x1A, 0x1C, 0x1E, 0x20, 0x22, 0x24, 0x26, 0x28, 0x2A, 0x2E, 0x30,
                                           0x34, 0x38, 0x3C, 0x3E, 0x42, 0x46, 0x48, 0x4A, 0x4C, 0x4E, 0x54, 0x56 };
        /* the points conf/profiles/modbus/sdm630.yaml reads */
        static const uint16_t wanted[] = { 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0E, 0x10, 0x12, 0x14,
                                           0x16, 0x18, 0x1A, 0x1C, 0x1E, 0x20, 0x22, 0x2A, 0x2E, 0x30, 0x34,
                                           0x38, 0x3C, 0x3E, 0x46, 0x48, 0x4A, 0x4C, 0x4E, 0x54 };
        enum { NW = sizeof wanted / sizeof wanted[0] };
        bool refused[0x60];
        for (unsigned a = 0; a < 0x60; a++)
                refused[a] = true;
        for (size_t i = 0; i < sizeof served / sizeof served[0]; i++)
                refused[served[i]] = refused[served[i] + 1] = false;
        mb_point pts[NW];
        for (size_t i = 0; i < NW; i++)
                pts[i] = mkpt(MB_FC_INPUT, wanted[i], MB_T_FLOAT32);
        /* the fewest requests possible: runs of answered registers holding wanted points */
        unsigned runs = 0;
        for (size_t i = 0; i < NW; i++) {
                bool joined = false;
                if (i > 0) {
                        joined = true;
                        for (unsigned a = wanted[i - 1]; a < wanted[i]; a++)
                                joined = joined && !refused[a];
                }
                runs += !joined;
        }
        assert_int_equal(runs, 7);
        mb_plan_opts o = { .max_gap = 16, .max_regs = 125, .max_bits = 2000 };
        mb_bounds b;
        memset(&b, 0, sizeof b);
        unsigned sent = 0;
        for (int poll = 0; poll < 3; poll++) {
                size_t *work = all(NW), nwork = NW;
                sent = 0;
                while (nwork > 0) {
                        mb_plan pl;
                        assert_int_equal(mb_plan_build(pts, work, nwork, &o, &b, &pl), 0);
                        size_t *next = malloc(nwork * sizeof *next), nnext = 0;
                        for (size_t r = 0; r < pl.n; r++) {
                                sent++;
                                if (!covers_hole(&pl.reqs[r], refused))
                                        continue;
                                size_t *in = malloc(nwork * sizeof *in), nin = 0;
                                for (size_t i = 0; i < nwork; i++)
                                        if (pl.point_req[i] == r)
                                                in[nin++] = work[i];
                                assert_int_equal(mb_plan_split(pts, in, nin, &b), 1);
                                memcpy(next + nnext, in, nin * sizeof *in);
                                nnext += nin;
                                free(in);
                        }
                        mb_plan_free(&pl);
                        free(work);
                        work = next;
                        nwork = nnext;
                }
                free(work);
        }
        assert_int_equal(sent, runs); /* after the first poll: one request per answered run */
        assert_int_equal(b.n, runs - 1);
}

/* String points span their length: merged with numbers like any point,
 * never cut across requests, refused when longer than the cap. */
static void test_string_points(void **state) {
        (void)state;
        mb_point pts[4] = { mkpt(MB_FC_HOLDING, 40004, MB_T_STRING), mkpt(MB_FC_HOLDING, 40020, MB_T_STRING),
                            mkpt(MB_FC_HOLDING, 40052, MB_T_STRING), mkpt(MB_FC_HOLDING, 40072, MB_T_INT16) };
        pts[0].nregs = 16; /* 40004..40019 */
        pts[1].nregs = 16; /* 40020..40035 */
        pts[2].nregs = 16; /* 40052..40067: 16 unused registers after the previous one */
        for (int i = 0; i < 3; i++)
                assert_int_equal(mb_point_width(&pts[i]), 16);
        size_t *sel = all(4);
        mb_plan_opts o = { .max_gap = 16, .max_regs = 125, .max_bits = 2000 };
        mb_plan pl;
        assert_int_equal(mb_plan_build(pts, sel, 4, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 1);
        assert_int_equal(pl.reqs[0].start, 40004);
        assert_int_equal(pl.reqs[0].count, 40073 - 40004);
        check_cover(pts, 4, &pl, 125, 2000);
        mb_plan_free(&pl);
        /* a gap of 16 is the limit: 15 splits the third string off */
        o.max_gap = 15;
        assert_int_equal(mb_plan_build(pts, sel, 4, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 2);
        assert_int_equal(pl.reqs[0].count, 32);
        assert_int_equal(pl.reqs[1].start, 40052);
        check_cover(pts, 4, &pl, 125, 2000);
        mb_plan_free(&pl);
        /* a cap of 20 registers: each string whole in its own request */
        o.max_gap = 16;
        o.max_regs = 20;
        assert_int_equal(mb_plan_build(pts, sel, 4, &o, NULL, &pl), 0);
        assert_int_equal(pl.n, 4); /* 40052..40072 would be 21 registers: the int16 alone */
        check_cover(pts, 4, &pl, 20, 2000);
        mb_plan_free(&pl);
        /* longer than the cap: refused */
        pts[0].nregs = 21;
        assert_int_equal(mb_plan_build(pts, sel, 1, &o, NULL, &pl), -EINVAL);
        pts[0].nregs = 125;
        o.max_regs = 125;
        assert_int_equal(mb_plan_build(pts, sel, 1, &o, NULL, &pl), 0);
        assert_int_equal(pl.reqs[0].count, 125);
        mb_plan_free(&pl);
        free(sel);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_thirty_points_one_request),
                cmocka_unit_test(test_gap_rule),
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_bits_and_function_codes),
                cmocka_unit_test(test_scale_factor_footprint),
                cmocka_unit_test(test_split_after_exception),
                cmocka_unit_test(test_split_prefers_holes),
                cmocka_unit_test(test_bounds_memory),
                cmocka_unit_test(test_string_points),
                cmocka_unit_test(test_split_spares_answered_holes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
