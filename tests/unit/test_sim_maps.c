/* test_sim_maps.c - dcem-sim's protocol maps, pure: the Modbus register maps
 * (tools/sim/regs.c) and the SNMP MIB views (tools/sim/oids.c). Decoding
 * here uses explicit shifts and memcpy, independent of the encoders. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim.h"
#include "sim_regs.h"
#include "sim_snmp.h"

#define T0 1782000000000ll /* 2026-06-21T00:00:00Z */

static sim_site site;
static sim_model model;

static int setup(void **state)
{
        (void)state;
        sim_site_defaults(&site);
        sim_site_add(&site, "grid", SIM_K_GRID, SIM_P_SUNSPEC, 0, 1, -1, 0, NULL);
        sim_site_add(&site, "pv", SIM_K_PV, SIM_P_SUNSPEC_FLOAT, 50, 0, -1, 0, NULL);
        sim_site_add(&site, "ups", SIM_K_UPS, SIM_P_UPSMIB, 200, 0, -1, 0, NULL);
        sim_site_add(&site, "sdm", SIM_K_IT, SIM_P_SDM630, 30, 0, 2, 0, NULL);
        sim_site_add(&site, "iem", SIM_K_IT, SIM_P_IEM3000, 30, 0, 2, 0, NULL);
        sim_site_add(&site, "apc", SIM_K_IT, SIM_P_APC, 30, 0, 2, 8, NULL);
        sim_site_add(&site, "rar", SIM_K_IT, SIM_P_RARITAN, 30, 0, 2, 4, NULL);
        sim_site_add(&site, "exp", SIM_K_EXPORT, SIM_P_SDM630, 0, 0, -1, 0, NULL);
        sim_site_add(&site, "eaton", SIM_K_IT, SIM_P_EATON, 30, 0, 2, 4, NULL);
        assert_int_equal(sim_site_place(&site), 0);
        assert_int_equal(sim_model_init(&model, &site, T0), 0);
        sim_regs_setup(&model);
        sim_model_advance(&model, T0 + 5 * 3600000ll, NULL, NULL);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        sim_model_fini(&model);
        sim_site_free(&site);
        return 0;
}

static float dec_f32(const uint16_t *w)
{
        uint32_t u = (uint32_t)w[0] << 16 | w[1];
        float f;
        memcpy(&f, &u, sizeof(f));
        return f;
}

static void test_float_encoding_is_abcd(void **state)
{
        (void)state;
        uint16_t w[2];
        sim_put_f32(w, 1.0f); /* 0x3F800000 */
        assert_int_equal(w[0], 0x3F80);
        assert_int_equal(w[1], 0x0000);
        sim_put_f32(w, -2.5f); /* 0xC0200000 */
        assert_int_equal(w[0], 0xC020);
        uint16_t q[4];
        sim_put_i64(q, 0x0102030405060708ll);
        assert_int_equal(q[0], 0x0102);
        assert_int_equal(q[3], 0x0708);
}

static void test_sdm630(void **state)
{
        (void)state;
        sim_dev *d = &site.devs[3];
        int64_t t = model.tk_ms + 500;
        uint16_t r[SIM_MB_MAX_READ];
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0034, 2, r), 0);
        assert_true(fabs(dec_f32(r) - d->p_w) < 1e-3 * d->p_w);
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0048, 2, r), 0);
        assert_true(fabs(dec_f32(r) - sim_dev_energy_wh(&model, d, t) / 1000.0) < 1e-3);
        /* Phase powers add up to the total. */
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x000C, 6, r), 0);
        assert_true(fabs(dec_f32(r) + dec_f32(r + 2) + dec_f32(r + 4) - d->p_w) < 1e-3 * d->p_w);
        /* Gaps, holding registers, bad counts. */
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0032, 2, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0000, 0x50, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, d, t, 3, 0x0034, 2, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0034, 0, r), SIM_MB_EXC_ILLEGAL_VALUE);
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0034, 126, r), SIM_MB_EXC_ILLEGAL_VALUE);
        assert_int_equal(sim_regs_read(&model, d, t, 6, 0x0034, 1, r), SIM_MB_EXC_ILLEGAL_FUNCTION);
        /* A contiguous block 0x00..0x2B is legal in one read. */
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0000, 0x2C, r), 0);
        /* NaN garbage. */
        d->fault.nan = true;
        assert_int_equal(sim_regs_read(&model, d, t, 4, 0x0034, 2, r), 0);
        assert_true(isnan(dec_f32(r)));
        d->fault.nan = false;
}

static void test_iem3000(void **state)
{
        (void)state;
        sim_dev *d = &site.devs[4];
        int64_t t = model.tk_ms + 250;
        uint16_t r[SIM_MB_MAX_READ];
        assert_int_equal(sim_regs_read(&model, d, t, 3, 3059, 2, r), 0);
        assert_true(fabs(dec_f32(r) - d->p_w / 1000.0) < 1e-3);
        assert_int_equal(sim_regs_read(&model, d, t, 3, 3203, 4, r), 0);
        uint64_t u = (uint64_t)r[0] << 48 | (uint64_t)r[1] << 32 | (uint64_t)r[2] << 16 | r[3];
        assert_int_equal((int64_t)u, (int64_t)floor(sim_dev_energy_wh(&model, d, t)));
        assert_int_equal(sim_regs_read(&model, d, t, 4, 3059, 2, r), SIM_MB_EXC_ILLEGAL_FUNCTION);
        assert_int_equal(sim_regs_read(&model, d, t, 3, 3061, 2, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        /* 3203..3210 (both INT64) in one read. */
        assert_int_equal(sim_regs_read(&model, d, t, 3, 3203, 8, r), 0);
        /* A PM5xxx answers the same "3000 block". */
        uint16_t q[8];
        d->profile = SIM_P_PM5000;
        assert_int_equal(sim_regs_read(&model, d, t, 3, 3203, 8, q), 0);
        assert_memory_equal(q, r, sizeof(q));
        assert_false(sim_profile_is_snmp(SIM_P_PM5000));
        assert_string_equal(sim_profile_agent_name(SIM_P_PM5000), "pm5000");
        d->profile = SIM_P_IEM3000;
}

/* One merged read over [addr, addr + count) against reads of each 2-register
 * pair alone with holes refused: a pair the map answers alone must come back
 * the same in the merged read; a pair it refuses is a hole and must read 0.
 * Returns how many holes were seen. */
static unsigned check_merged(sim_dev *d, int fc, unsigned addr, unsigned count, int64_t t)
{
        uint16_t all[SIM_MB_MAX_READ], one[2];
        unsigned holes = 0;
        site.modbus_holes = SIM_HOLES_ZERO;
        for (unsigned i = 0; i < count; i++)
                all[i] = 0xA5A5;
        assert_int_equal(sim_regs_read(&model, d, t, fc, addr, count, all), 0);
        site.modbus_holes = SIM_HOLES_EXCEPTION;
        for (unsigned a = addr; a + 2 <= addr + count; a += 2) {
                int rc = sim_regs_read(&model, d, t, fc, a, 2, one);
                if (rc == 0) {
                        assert_int_equal(all[a - addr], one[0]);
                        assert_int_equal(all[a - addr + 1], one[1]);
                } else {
                        assert_int_equal(rc, SIM_MB_EXC_ILLEGAL_ADDRESS);
                        assert_int_equal(all[a - addr], 0);
                        assert_int_equal(all[a - addr + 1], 0);
                        holes++;
                }
        }
        return holes;
}

/* site modbus_holes: a read across undefined registers inside a map's span
 * is refused by default and answered with zeros in the holes with "zero";
 * reads reaching outside the span are refused either way. */
static void test_modbus_holes(void **state)
{
        (void)state;
        sim_dev *sdm = &site.devs[3], *iem = &site.devs[4], *ss = &site.devs[0];
        int64_t t = model.tk_ms + 700;
        uint16_t r[SIM_MB_MAX_READ];

        assert_int_equal(sim_holes_from_name("zero"), SIM_HOLES_ZERO);
        assert_int_equal(sim_holes_from_name("exception"), SIM_HOLES_EXCEPTION);
        assert_int_equal(sim_holes_from_name("zeros"), -1);
        assert_string_equal(sim_holes_name(SIM_HOLES_ZERO), "zero");
        assert_int_equal(site.modbus_holes, SIM_HOLES_EXCEPTION); /* the default */

        /* SDM630 0x00..0x57: holes at 0x2C, 0x32, 0x36, 0x3A, 0x40, 0x44, 0x50..0x53. */
        assert_int_equal(sim_regs_read(&model, sdm, t, 4, 0x0000, 0x58, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(check_merged(sdm, 4, 0x0000, 0x58, t), 8);
        /* Total power and import energy in the merged read are the meter's. */
        site.modbus_holes = SIM_HOLES_ZERO;
        assert_int_equal(sim_regs_read(&model, sdm, t, 4, 0x0000, 0x58, r), 0);
        assert_true(fabs(dec_f32(r + 0x34) - sdm->p_w) < 1e-3 * sdm->p_w);
        assert_true(fabs(dec_f32(r + 0x48) - sim_dev_energy_wh(&model, sdm, t) / 1000.0) < 1e-3);
        /* Registers between 0x58 and 0x155 are inside the span: zeros. */
        assert_int_equal(sim_regs_read(&model, sdm, t, 4, 0x0100, 10, r), 0);
        for (int i = 0; i < 10; i++)
                assert_int_equal(r[i], 0);
        /* Past the last register (0x159), or a read crossing it: refused. */
        assert_int_equal(sim_regs_read(&model, sdm, t, 4, 0x015A, 2, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, sdm, t, 4, 0x0150, 12, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, sdm, t, 4, 0x0150, 10, r), 0);
        assert_true(fabs(dec_f32(r + 6) - sim_dev_energy_wh(&model, sdm, t) / 1000.0) < 1e-3); /* 0x156 */
        assert_int_equal(sim_regs_read(&model, sdm, t, 4, 0xFF00, 2, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        /* No holding registers at all, no other function. */
        assert_int_equal(sim_regs_read(&model, sdm, t, 3, 0x0000, 0x58, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, sdm, t, 6, 0x0000, 2, r), SIM_MB_EXC_ILLEGAL_FUNCTION);

        /* iEM3000: 2999..3123 in one read (125 registers) and 3124..3210. */
        site.modbus_holes = SIM_HOLES_EXCEPTION;
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 2999, 125, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_true(check_merged(iem, 3, 2999, 124, t) > 0);
        assert_true(check_merged(iem, 3, 3123, 88, t) > 0);
        site.modbus_holes = SIM_HOLES_ZERO;
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 2999, 125, r), 0);
        assert_true(fabs(dec_f32(r + (3059 - 2999)) - iem->p_w / 1000.0) < 1e-3);
        /* Before 2999, after 3210, between the blocks, into the 45099 block: refused. */
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 2997, 4, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 3203, 10, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 4000, 2, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 45097, 6, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 45099, 4, r), 0);
        assert_int_equal(sim_regs_read(&model, iem, t, 3, 45099, 5, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, iem, t, 4, 3059, 2, r), SIM_MB_EXC_ILLEGAL_FUNCTION);

        /* SunSpec: no holes in the image; past the end model still refused. */
        uint16_t img[SIM_MB_MAX_READ];
        assert_int_equal(sim_regs_read(&model, ss, t, 3, 40000, 100, img), 0);
        assert_int_equal(sim_regs_read(&model, ss, t, 3, 39999, 2, img), SIM_MB_EXC_ILLEGAL_ADDRESS);
        int mm = 2 + 2 + img[3];             /* after the marker and model 1 (ID, L, body) */
        int len = mm + 2 + img[mm + 1] + 2; /* the meter model, then the end model */
        assert_int_equal(img[mm], 203);
        assert_int_equal(sim_regs_read(&model, ss, t, 3, (unsigned)(40000 + len - 4), 4, img), 0);
        assert_int_equal(sim_regs_read(&model, ss, t, 3, (unsigned)(40000 + len - 4), 5, img),
                         SIM_MB_EXC_ILLEGAL_ADDRESS);
        site.modbus_holes = SIM_HOLES_EXCEPTION;
}

/* Walk a SunSpec chain in a 200-register image read from the device. */
static void walk(sim_dev *d, int expect_model, int expect_len)
{
        uint16_t img[200];
        int64_t t = model.tk_ms;
        assert_int_equal(sim_regs_read(&model, d, t, 3, 40000, 100, img), 0);
        int n = expect_model == 203 ? 2 + 68 + 107 + 2 : 2 + 68 + 126 + 2;
        assert_int_equal(sim_regs_read(&model, d, t, 3, 40100, (unsigned)(n - 100), img + 100), 0);
        assert_int_equal(sim_regs_read(&model, d, t, 3, 40000, (unsigned)(n - 100 + 1), img),
                         n - 100 + 1 > 125 ? SIM_MB_EXC_ILLEGAL_VALUE : 0);
        assert_int_equal(sim_regs_read(&model, d, t, 3, 40100, (unsigned)(n - 100 + 1), img + 100),
                         SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(img[0], 0x5375);
        assert_int_equal(img[1], 0x6E53);
        int a = 2;
        assert_int_equal(img[a], 1);
        assert_int_equal(img[a + 1], 66);
        a += 2 + img[a + 1];
        assert_int_equal(img[a], expect_model);
        assert_int_equal(img[a + 1], expect_len);
        int m = a;
        a += 2 + img[a + 1];
        assert_int_equal(img[a], 0xFFFF);
        assert_int_equal(img[a + 1], 0);
        double wh = sim_dev_energy_wh(&model, d, t);
        if (expect_model == 203) {
                int16_t w = (int16_t)img[m + sim_sunspec_offset(203, "W")];
                int16_t sf = (int16_t)img[m + sim_sunspec_offset(203, "W_SF")];
                assert_true(fabs(w * pow(10, sf) - d->p_w) <= pow(10, sf));
                uint32_t tot = (uint32_t)img[m + 46] << 16 | img[m + 47]; /* TotWhImp per model_203.json */
                assert_int_equal(tot, (uint32_t)floor(wh));
                assert_int_equal(sim_sunspec_offset(203, "TotWhImp"), 46);
                assert_int_equal(sim_sunspec_offset(203, "TotWh_SF"), 54);
        } else {
                assert_true(fabs(dec_f32(img + m + sim_sunspec_offset(213, "W")) - d->p_w) < 1e-3 * fmax(1, d->p_w));
                assert_true(fabs(dec_f32(img + m + sim_sunspec_offset(213, "TotWhImp")) - wh) < 1e-3 * fmax(1, wh));
                assert_int_equal(sim_sunspec_offset(213, "TotWhImp"), 68);
        }
}

static void test_sunspec(void **state)
{
        (void)state;
        walk(&site.devs[0], 203, 105);
        walk(&site.devs[1], 213, 124);
        uint16_t r[4];
        assert_int_equal(sim_regs_read(&model, &site.devs[0], model.tk_ms, 3, 39999, 2, r), SIM_MB_EXC_ILLEGAL_ADDRESS);
        assert_int_equal(sim_regs_read(&model, &site.devs[0], model.tk_ms, 4, 40000, 2, r),
                         SIM_MB_EXC_ILLEGAL_FUNCTION);
        /* NaN: int16 points become 0x8000, acc32 0. */
        site.devs[0].fault.nan = true;
        uint16_t img[110];
        assert_int_equal(sim_regs_read(&model, &site.devs[0], model.tk_ms, 3, 40070, 107, img), 0);
        assert_int_equal(img[18], 0x8000);
        assert_int_equal(img[46], 0);
        assert_int_equal(img[47], 0);
        site.devs[0].fault.nan = false;
}

static void test_oid_views_sorted_and_searchable(void **state)
{
        (void)state;
        for (int p = SIM_P_APC; p <= SIM_P_UPSMIB; p++) {
                sim_oid_view v;
                assert_int_equal(sim_oid_view_build((sim_profile)p, 8, &v), 0);
                assert_true(v.n > 8);
                for (size_t i = 1; i < v.n; i++)
                        assert_true(sim_oid_cmp(v.e[i - 1].oid, v.e[i - 1].len, v.e[i].oid, v.e[i].len) < 0);
                for (size_t i = 0; i < v.n; i++) {
                        assert_int_equal(sim_oid_find(&v, v.e[i].oid, v.e[i].len), (long)i);
                        assert_int_equal(sim_oid_next(&v, v.e[i].oid, v.e[i].len), i + 1);
                        /* A prefix of an entry sorts before it. */
                        assert_true(sim_oid_next(&v, v.e[i].oid, v.e[i].len - 1) <= i);
                }
                uint32_t root[] = { 1, 3 };
                assert_int_equal(sim_oid_next(&v, root, 2), 0);
                assert_int_equal(sim_oid_find(&v, root, 2), -1);
                sim_oid_view_free(&v);
        }
        sim_oid_view_free(NULL);
}

static const sim_oid_entry *find(const sim_oid_view *v, const uint32_t *o, size_t n)
{
        long i = sim_oid_find(v, o, n);
        assert_true(i >= 0);
        return &v->e[i];
}

static void test_oid_values_and_scalings(void **state)
{
        (void)state;
        sim_oid_view v;
        long long iv;
        char buf[64];
        uint32_t ob[SIM_OID_MAX];
        size_t on;
        int64_t t = model.tk_ms;
        sim_dev *apc = &site.devs[5], *rar = &site.devs[6], *ups = &site.devs[2];

        assert_int_equal(sim_oid_view_build(SIM_P_APC, 8, &v), 0);
        const uint32_t pw[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 4, 3, 1, 5, 1 };
        const uint32_t en[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 4, 3, 1, 9, 1 };
        sim_oid_value(&model, apc, find(&v, pw, 15), t, 0, &iv, buf, sizeof(buf), ob, &on);
        assert_int_equal(iv, (long long)llround(apc->p_w / 10.0)); /* hundredths of kW */
        sim_oid_value(&model, apc, find(&v, en, 15), t, 0, &iv, buf, sizeof(buf), ob, &on);
        assert_int_equal(iv, (long long)floor(sim_dev_energy_wh(&model, apc, t) / 100.0)); /* tenths of kWh */
        const uint32_t sysoid[] = { 1, 3, 6, 1, 2, 1, 1, 2, 0 };
        sim_oid_value(&model, apc, find(&v, sysoid, 9), t, 0, &iv, buf, sizeof(buf), ob, &on);
        assert_int_equal(on, 11);
        assert_int_equal(ob[6], 318);
        sim_oid_view_free(&v);

        assert_int_equal(sim_oid_view_build(SIM_P_RARITAN, 4, &v), 0);
        const uint32_t rp[] = { 1, 3, 6, 1, 4, 1, 13742, 6, 5, 2, 3, 1, 4, 1, 1, 5 };
        const uint32_t ra[] = { 1, 3, 6, 1, 4, 1, 13742, 6, 5, 2, 3, 1, 4, 1, 1, 1 };
        const uint32_t rad[] = { 1, 3, 6, 1, 4, 1, 13742, 6, 3, 3, 4, 1, 7, 1, 1, 1 };
        sim_oid_value(&model, rar, find(&v, rp, 16), t, 0, &iv, buf, sizeof(buf), ob, &on);
        assert_int_equal(iv, (long long)llround(rar->p_w)); /* W, 0 digits */
        long long amps, digits;
        sim_oid_value(&model, rar, find(&v, ra, 16), t, 0, &amps, buf, sizeof(buf), ob, &on);
        sim_oid_value(&model, rar, find(&v, rad, 16), t, 0, &digits, buf, sizeof(buf), ob, &on);
        assert_int_equal(digits, 3);
        double a = (double)amps / pow(10, (double)digits);
        assert_true(a > 10 && a < 100); /* a phase of a ~30 kW rack at 230 V */
        sim_oid_view_free(&v);

        assert_int_equal(sim_oid_view_build(SIM_P_UPSMIB, 0, &v), 0);
        long long sum = 0, in = 0;
        for (uint32_t l = 1; l <= 3; l++) {
                const uint32_t op[] = { 1, 3, 6, 1, 2, 1, 33, 1, 4, 4, 1, 4, l };
                const uint32_t ip[] = { 1, 3, 6, 1, 2, 1, 33, 1, 3, 3, 1, 5, l };
                sim_oid_value(&model, ups, find(&v, op, 13), t, 0, &iv, buf, sizeof(buf), ob, &on);
                sum += iv;
                sim_oid_value(&model, ups, find(&v, ip, 13), t, 0, &iv, buf, sizeof(buf), ob, &on);
                in += iv;
        }
        assert_true(llabs(sum - llround(ups->p_w)) <= 2);
        assert_true(llabs(in - llround(ups->p_aux_w)) <= 2);
        assert_true(in > sum);
        sim_oid_view_free(&v);
}

/* One integer value of the entry at oid (which must exist). */
static long long oid_int(const sim_oid_view *v, const sim_dev *d, const uint32_t *o, size_t n)
{
        long long iv = 0;
        char buf[64];
        uint32_t ob[SIM_OID_MAX];
        size_t on;
        sim_oid_value(&model, d, find(v, o, n), model.tk_ms, 0, &iv, buf, sizeof(buf), ob, &on);
        return iv;
}

static void test_phase_tables(void **state)
{
        (void)state;
        sim_oid_view v;
        sim_dev *apc = &site.devs[5], *eaton = &site.devs[8];
        int64_t t = model.tk_ms;
        double sum_share = 0;

        for (int l = 1; l <= 3; l++) {
                assert_true(sim_phase_share(l) > 0.30 && sim_phase_share(l) < 0.36);
                sum_share += sim_phase_share(l);
        }
        assert_true(fabs(sum_share - 1.0) < 1e-12);
        assert_true(sim_phase_share(0) == 0.0 && sim_phase_share(4) == 0.0);
        assert_true(apc->p_w > 1000 && eaton->p_w > 1000);

        /* APC rPDU2PhaseStatusTable: .7 hundredths of kW, three rows adding up to .5 of the device. */
        assert_int_equal(sim_oid_view_build(SIM_P_APC, 8, &v), 0);
        long long psum = 0;
        for (uint32_t l = 1; l <= 3; l++) {
                const uint32_t po[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 6, 3, 1, 7, l };
                const uint32_t no[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 6, 3, 1, 3, l };
                long long p = oid_int(&v, apc, po, 15);
                assert_int_equal(p, llround(apc->p_w * sim_phase_share((int)l) / 10.0));
                assert_int_equal(oid_int(&v, apc, no, 15), l);
                psum += p;
        }
        const uint32_t dp[] = { 1, 3, 6, 1, 4, 1, 318, 1, 1, 26, 4, 3, 1, 5, 1 };
        assert_true(llabs(psum - oid_int(&v, apc, dp, 15)) <= 2);
        sim_oid_view_free(&v);

        /* Eaton inputPowerTable: W and Wh per phase, adding up to inputTotal. */
        assert_int_equal(sim_oid_view_build(SIM_P_EATON, 4, &v), 0);
        double e_wh = sim_dev_reported_wh(&model, eaton, t);
        long long wsum = 0, whsum = 0;
        for (uint32_t l = 1; l <= 3; l++) {
                const uint32_t wo[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 4, 1, 4, 0, 1, l };
                const uint32_t eo[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 4, 1, 5, 0, 1, l };
                const uint32_t mo[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 4, 1, 2, 0, 1, l };
                wsum += oid_int(&v, eaton, wo, 17);
                long long wh = oid_int(&v, eaton, eo, 17);
                assert_int_equal(wh, (long long)floor(e_wh * sim_phase_share((int)l)));
                whsum += wh;
                assert_int_equal(oid_int(&v, eaton, mo, 17), l); /* phase1..phase3 */
        }
        const uint32_t tw[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 5, 1, 4, 0, 1 };
        const uint32_t te[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 5, 1, 5, 0, 1 };
        assert_true(llabs(wsum - oid_int(&v, eaton, tw, 16)) <= 2);
        long long tot = oid_int(&v, eaton, te, 16);
        assert_true(tot - whsum >= 0 && tot - whsum <= 3);
        assert_true(whsum > 1000); /* 5 h of load */

        /* A 32-bit Wh register wraps: with 13 GWh behind it, it shows the rest mod 2^32. */
        const uint32_t e1[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 4, 1, 5, 0, 1, 1 };
        double saved = eaton->e_wh;
        eaton->e_wh = 1.3e10;
        double big = floor(sim_dev_reported_wh(&model, eaton, t) * sim_phase_share(1));
        assert_int_equal(oid_int(&v, eaton, e1, 17), (long long)fmod(big, 4294967296.0));
        eaton->e_wh = saved;
        /* Garbage: power -1, counters 0 (the Unsigned32 sentinel). */
        const uint32_t w1[] = { 1, 3, 6, 1, 4, 1, 534, 6, 6, 7, 3, 4, 1, 4, 0, 1, 1 };
        eaton->fault.nan = true;
        assert_int_equal(oid_int(&v, eaton, w1, 17), -1);
        assert_int_equal(oid_int(&v, eaton, e1, 17), 0);
        eaton->fault.nan = false;
        sim_oid_view_free(&v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_float_encoding_is_abcd),
                cmocka_unit_test(test_sdm630),
                cmocka_unit_test(test_iem3000),
                cmocka_unit_test(test_modbus_holes),
                cmocka_unit_test(test_sunspec),
                cmocka_unit_test(test_oid_views_sorted_and_searchable),
                cmocka_unit_test(test_oid_values_and_scalings),
                cmocka_unit_test(test_phase_tables),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
