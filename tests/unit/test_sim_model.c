/* test_sim_model.c - dcem-sim's physics (tools/sim/model.c, site.c):
 * conservation at many instants, counters as the exact integral of power,
 * the sun (night, solstice noon), export when PV exceeds the load,
 * determinism whatever the advance pattern, and the fault counter maths. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim.h"

/* 2026-06-21T00:00:00Z */
#define T_SOLSTICE 1782000000000ll
#define HOUR_MS 3600000ll

static void build_demo(sim_site *s, double pv_kwp)
{
        sim_site_defaults(s);
        assert_int_equal(sim_site_add(s, "grid-a", SIM_K_GRID, SIM_P_IEM3000, 0, 0.6, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "grid-b", SIM_K_GRID, SIM_P_SUNSPEC, 0, 0.4, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "export", SIM_K_EXPORT, SIM_P_SDM630, 0, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "pv", SIM_K_PV, SIM_P_SUNSPEC_FLOAT, pv_kwp, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "green", SIM_K_GREEN, SIM_P_SDM630, 100, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "ups-a", SIM_K_UPS, SIM_P_UPSMIB, 400, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "ups-b", SIM_K_UPS, SIM_P_UPSMIB, 400, 0, -1, 0, NULL), 0);
        for (int i = 0; i < 8; i++) {
                char name[16];
                snprintf(name, sizeof(name), "pdu-%d", i);
                assert_int_equal(sim_site_add(s, name, SIM_K_IT, (sim_profile)(SIM_P_APC + i % 4), 50 + i, 0,
                                              i < 6 ? 5 + i % 2 : -1, i % 4 == 1 ? 0 : 12, NULL),
                                 0);
        }
        for (int i = 0; i < 3; i++) {
                char name[16];
                snprintf(name, sizeof(name), "crah-%d", i);
                assert_int_equal(sim_site_add(s, name, SIM_K_COOLING, SIM_P_SDM630, 80, 1 + i, -1, 0, NULL), 0);
        }
        assert_int_equal(sim_site_add(s, "lighting", SIM_K_OTHER, SIM_P_SDM630, 12, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_place(s), 0);
}

static double rel(double a, double b)
{
        double m = fmax(fabs(a), fabs(b));
        return m > 0 ? fabs(a - b) / m : 0;
}

/* Sum the device meters by kind, independently of the model's own totals. */
static void check_instant(const sim_model *m, int64_t t)
{
        const sim_site *s = m->site;
        double grid = 0, exp = 0, pv = 0, green = 0, pdu_in = 0, load = 0, ups_out = 0, ups_in = 0, cool = 0,
               other = 0, outlets = 0, direct_feed = 0;
        for (size_t i = 0; i < s->ndevs; i++) {
                const sim_dev *d = &s->devs[i];
                double e = sim_dev_energy_wh(m, d, t);
                switch (d->kind) {
                case SIM_K_GRID: grid += e; break;
                case SIM_K_EXPORT: exp += sim_dev_energy_exp_wh(m, d, t); break;
                case SIM_K_PV: pv += e; break;
                case SIM_K_GREEN: green += e; break;
                case SIM_K_UPS:
                        ups_out += e;
                        ups_in += sim_dev_energy_aux_wh(m, d, t);
                        break;
                case SIM_K_IT:
                        pdu_in += e;
                        load += sim_dev_energy_aux_wh(m, d, t);
                        if (d->ups < 0)
                                direct_feed += e * (1.0 + s->cable_loss);
                        if (d->outlets) {
                                double o = 0;
                                for (int j = 0; j < d->outlets; j++)
                                        o += sim_dev_outlet_energy_wh(m, d, j, t);
                                assert_true(rel(o, sim_dev_energy_aux_wh(m, d, t)) < 1e-9);
                        }
                        outlets += sim_dev_energy_aux_wh(m, d, t);
                        break;
                case SIM_K_COOLING: cool += e; break;
                case SIM_K_OTHER: other += e; break;
                default: break;
                }
        }
        /* The facility boundary equals everything consumed inside it, where
         * the inside is measured at the UPS inputs, the non-UPS feeds,
         * cooling and other. */
        double boundary = grid + pv + green - exp;
        double inside = ups_in + direct_feed + cool + other;
        assert_true(rel(boundary, inside) < 1e-9);
        /* And the model's own totals agree with the meters. */
        sim_totals tot;
        sim_model_totals(m, t, &tot);
        assert_true(rel(tot.grid_import, grid) < 1e-9);
        assert_true(rel(tot.grid_export, exp) < 1e-9 || (tot.grid_export < 1e-9 && exp < 1e-9));
        assert_true(rel(tot.it2, pdu_in) < 1e-9);
        assert_true(rel(tot.it3, load) < 1e-9);
        assert_true(rel(tot.it3, outlets) < 1e-9);
        double lhs = tot.grid_import + tot.onsite + tot.green - tot.grid_export;
        double rhs = tot.it3 + tot.ups_loss + tot.dist_loss + tot.cooling + tot.other;
        assert_true(rel(lhs, rhs) < 1e-9);
        /* UPS output + direct feeds = IT at UPS output (category 1). */
        assert_true(rel(tot.it1, ups_out + direct_feed) < 1e-9);
        /* Ordering of the categories: losses make 1 >= 2 >= 3. */
        assert_true(tot.it1 >= tot.it2 && tot.it2 >= tot.it3);
}

static void test_conservation_many_instants(void **state)
{
        (void)state;
        sim_site s;
        sim_model m;
        build_demo(&s, 250);
        assert_int_equal(sim_model_init(&m, &s, T_SOLSTICE), 0);
        /* 3 days at odd offsets, so many checks fall inside steps. */
        for (int64_t t = T_SOLSTICE + 1; t < T_SOLSTICE + 72 * HOUR_MS; t += 7 * 60000 + 333) {
                sim_model_advance(&m, t, NULL, NULL);
                check_instant(&m, t);
        }
        sim_totals tot;
        sim_model_totals(&m, m.tk_ms, &tot);
        assert_true(tot.onsite > 0);
        assert_true(tot.green > 0);
        assert_true(tot.cooling > 0);
        assert_true(tot.ups_loss > 0);
        sim_model_fini(&m);
        sim_site_free(&s);
}

/* Energy is continuous across step boundaries and its slope inside a step is
 * the power the device reports. */
static void test_counter_is_integral_of_power(void **state)
{
        (void)state;
        sim_site s;
        sim_model m;
        build_demo(&s, 250);
        assert_int_equal(sim_model_init(&m, &s, T_SOLSTICE + 5 * HOUR_MS), 0);
        for (int k = 0; k < 2000; k++) {
                int64_t tk = m.tk_ms, step = s.step_ms;
                for (size_t i = 0; i < s.ndevs; i++) {
                        const sim_dev *d = &s.devs[i];
                        double e0 = sim_dev_energy_wh(&m, d, tk);
                        double e1 = sim_dev_energy_wh(&m, d, tk + 250);
                        assert_true(fabs((e1 - e0) - d->p_w * 250.0 / 3600000.0) < 1e-9 * fmax(1.0, e1));
                }
                /* Just before the boundary, from the old step... */
                double before[64];
                for (size_t i = 0; i < s.ndevs; i++)
                        before[i] = sim_dev_energy_wh(&m, &s.devs[i], tk + step);
                sim_model_advance(&m, tk + step + (k % 3) * 100, NULL, NULL);
                /* ...equals the value at the boundary from the new one. */
                for (size_t i = 0; i < s.ndevs; i++)
                        assert_true(rel(before[i], sim_dev_energy_wh(&m, &s.devs[i], tk + step)) < 1e-12 ||
                                    before[i] == 0);
        }
        /* Over 15 minutes, energy / time is the mean of the step powers. */
        int64_t t1 = m.tk_ms;
        double e1 = sim_dev_energy_wh(&m, &s.devs[0], t1), psum = 0;
        int n = 0;
        while (m.tk_ms < t1 + 900000) {
                psum += s.devs[0].p_w;
                n++;
                sim_model_advance(&m, m.tk_ms + s.step_ms, NULL, NULL);
        }
        double e2 = sim_dev_energy_wh(&m, &s.devs[0], m.tk_ms);
        assert_int_equal(n, 900);
        assert_true(rel((e2 - e1) / 0.25, psum / n) < 1e-9);
        sim_model_fini(&m);
        sim_site_free(&s);
}

static void test_pv_zero_at_night_and_solstice_noon(void **state)
{
        (void)state;
        sim_site s;
        sim_model m;
        build_demo(&s, 250);
        /* Shanghai (121.47 E): local midnight is about 15:54 UTC. */
        assert_int_equal(sim_model_init(&m, &s, T_SOLSTICE + 16 * HOUR_MS), 0);
        for (int64_t t = m.tk_ms; t < T_SOLSTICE + 19 * HOUR_MS; t += 600000) {
                sim_model_advance(&m, t, NULL, NULL);
                assert_true(m.sun == 0);
                assert_true(s.devs[3].p_w == 0);
                assert_true(m.pk.onsite == 0);
        }
        sim_model_fini(&m);
        /* Solstice: noon elevation is 90 - |lat - 23.44|; at 31.23 N that is
         * 82.2 degrees. Search the day's maximum minute by minute. */
        double best = -1;
        for (int64_t t = T_SOLSTICE; t < T_SOLSTICE + 24 * HOUR_MS; t += 60000)
                best = fmax(best, sim_sun_sin_elevation((double)t / 1000.0, 31.23, 121.47));
        assert_true(fabs(best - sin((90.0 - (31.23 - 23.44)) * M_PI / 180.0)) < 0.003);
        /* Winter solstice 2026-12-21, 66.5 N: the sun barely rises. */
        best = -1;
        for (int64_t t = 1797811200000ll; t < 1797811200000ll + 24 * HOUR_MS; t += 60000)
                best = fmax(best, sim_sun_sin_elevation((double)t / 1000.0, 66.5, 0));
        assert_true(fabs(best - sin((90.0 - (66.5 + 23.44)) * M_PI / 180.0)) < 0.003);
        sim_site_free(&s);
}

static void test_export_when_pv_exceeds_load(void **state)
{
        (void)state;
        sim_site s;
        sim_model m;
        build_demo(&s, 5000); /* far more PV than load */
        /* 04:00 UTC is about noon in Shanghai. */
        assert_int_equal(sim_model_init(&m, &s, T_SOLSTICE + 3 * HOUR_MS), 0);
        sim_model_advance(&m, T_SOLSTICE + 5 * HOUR_MS, NULL, NULL);
        assert_true(m.pk.grid_export > 0);
        assert_true(m.pk.grid_import == 0);
        assert_true(m.pk.green == 0); /* the line delivers only what the site draws */
        check_instant(&m, m.tk_ms + 10);
        sim_totals t;
        sim_model_totals(&m, m.tk_ms, &t);
        assert_true(t.grid_export > 0);
        sim_model_fini(&m);
        sim_site_free(&s);
}

static void test_deterministic_whatever_the_advance(void **state)
{
        (void)state;
        sim_site a, b;
        sim_model ma, mb;
        build_demo(&a, 250);
        build_demo(&b, 250);
        assert_int_equal(sim_model_init(&ma, &a, T_SOLSTICE), 0);
        assert_int_equal(sim_model_init(&mb, &b, T_SOLSTICE), 0);
        int64_t end = T_SOLSTICE + 6 * HOUR_MS;
        sim_model_advance(&ma, end, NULL, NULL);
        for (int64_t t = T_SOLSTICE; t <= end; t += 1234)
                sim_model_advance(&mb, t, NULL, NULL);
        sim_model_advance(&mb, end, NULL, NULL);
        assert_true(ma.tk_ms == mb.tk_ms);
        for (size_t i = 0; i < a.ndevs; i++)
                assert_true(sim_dev_energy_wh(&ma, &a.devs[i], end) == sim_dev_energy_wh(&mb, &b.devs[i], end));
        /* A different seed gives different noise. */
        sim_site c;
        sim_model mc;
        build_demo(&c, 250);
        c.seed = 99;
        assert_int_equal(sim_model_init(&mc, &c, T_SOLSTICE), 0);
        sim_model_advance(&mc, end, NULL, NULL);
        assert_true(sim_dev_energy_wh(&mc, &c.devs[7], end) != sim_dev_energy_wh(&ma, &a.devs[7], end));
        sim_model_fini(&ma);
        sim_model_fini(&mb);
        sim_model_fini(&mc);
        sim_site_free(&a);
        sim_site_free(&b);
        sim_site_free(&c);
}

static int boundaries;
static int64_t last_boundary;
static void on_boundary(sim_model *m, void *arg)
{
        (void)arg;
        assert_int_equal(m->tk_ms % m->site->record_ms, 0);
        if (boundaries)
                assert_int_equal(m->tk_ms - last_boundary, m->site->record_ms);
        last_boundary = m->tk_ms;
        boundaries++;
}

static void test_record_boundaries(void **state)
{
        (void)state;
        sim_site s;
        sim_model m;
        build_demo(&s, 250);
        assert_int_equal(sim_model_init(&m, &s, T_SOLSTICE + 7 * 60000 + 5), 0);
        boundaries = 0;
        sim_model_advance(&m, T_SOLSTICE + 2 * HOUR_MS + 1, on_boundary, NULL);
        assert_int_equal(boundaries, 8); /* :15, :30, :45, 1:00, ... 2:00 */
        sim_model_fini(&m);
        sim_site_free(&s);
}

static void test_fault_counters(void **state)
{
        (void)state;
        sim_site s;
        sim_model m;
        build_demo(&s, 250);
        assert_int_equal(sim_model_init(&m, &s, T_SOLSTICE), 0);
        sim_model_advance(&m, T_SOLSTICE + HOUR_MS, NULL, NULL);
        sim_dev *d = &s.devs[7]; /* an IT feed */
        int64_t t = m.tk_ms;
        double before = sim_dev_reported_wh(&m, d, t);
        assert_true(before > 1000);
        /* Reset: the reported counter restarts from 0, the truth does not. */
        sim_fault_apply(&m, d, SIM_F_RESET, 0, 0, t);
        assert_true(sim_dev_reported_wh(&m, d, t) == 0);
        assert_true(sim_dev_energy_wh(&m, d, t) == before);
        sim_model_advance(&m, t + 60000, NULL, NULL);
        double after = sim_dev_reported_wh(&m, d, t + 60000);
        assert_true(rel(after, sim_dev_energy_wh(&m, d, t + 60000) - before) < 1e-9);
        /* Wrap: the 32-bit register sits just under 2^32 and wraps within
         * about two minutes of the current power. */
        t = m.tk_ms;
        sim_fault_apply(&m, d, SIM_F_WRAP, 0, 0, t);
        double e_t = sim_dev_reported_wh(&m, d, t);
        uint32_t r0 = sim_dev_raw32(d, e_t, 1.0);
        uint32_t q0 = sim_dev_raw32(d, e_t, 100.0);
        /* two minutes at the current power, in Wh */
        assert_true(fabs((double)d->fault.wrap_margin - d->p_w * 120.0 / 3600.0) <= 1.0);
        assert_true(r0 == (uint32_t)(0x100000000ull - d->fault.wrap_margin));
        int64_t t2 = t + 180000;
        sim_model_advance(&m, t2, NULL, NULL);
        uint32_t r1 = sim_dev_raw32(d, sim_dev_reported_wh(&m, d, t2), 1.0);
        assert_true(r1 < r0); /* wrapped */
        uint64_t delta = (uint64_t)r1 + (1ull << 32) - r0;
        double de = sim_dev_reported_wh(&m, d, t2) - e_t;
        assert_true(fabs((double)delta - de) <= 1.0);
        /* In tenths of kWh the same preset still wraps. */
        assert_true(q0 == (uint32_t)(0x100000000ull - (uint64_t)ceil(d->fault.wrap_margin / 100.0)));
        /* Clearing stops live faults, not the counter offsets. */
        sim_fault_apply(&m, d, SIM_F_SILENT, 0, 0, t2);
        assert_true(d->fault.silent);
        sim_fault_clear(d);
        assert_false(d->fault.silent);
        assert_true(d->fault.wrap);
        sim_model_fini(&m);
        sim_site_free(&s);
}

static void test_generate_scale(void **state)
{
        (void)state;
        sim_site s;
        sim_model m;
        sim_site_defaults(&s);
        assert_int_equal(sim_site_generate(&s, 2000, 7), 0);
        assert_int_equal(s.ndevs, 2000);
        size_t snmp = 0, mb = 0;
        for (size_t i = 0; i < s.ndevs; i++) {
                if (sim_profile_is_snmp(s.devs[i].profile)) {
                        snmp++;
                } else {
                        mb++;
                        assert_true(s.devs[i].unit >= 1 && s.devs[i].unit <= 247);
                        assert_true(s.devs[i].port_index >= 0 && s.devs[i].port_index < s.nports);
                        for (size_t j = 0; j < i; j++)
                                if (!sim_profile_is_snmp(s.devs[j].profile) &&
                                    s.devs[j].port_index == s.devs[i].port_index)
                                        assert_int_not_equal(s.devs[j].unit, s.devs[i].unit);
                }
        }
        assert_true(mb > 3 * snmp);
        assert_true(s.nports <= 9);
        assert_int_equal(sim_model_init(&m, &s, T_SOLSTICE), 0);
        sim_model_advance(&m, T_SOLSTICE + HOUR_MS, NULL, NULL);
        sim_totals t;
        sim_model_totals(&m, m.tk_ms, &t);
        assert_true(rel(t.grid_import + t.onsite + t.green - t.grid_export,
                        t.it3 + t.ups_loss + t.dist_loss + t.cooling + t.other) < 1e-9);
        sim_model_fini(&m);
        sim_site_free(&s);
        assert_int_equal(sim_site_generate(&s, 5, 1), -EINVAL);
}

/* --own-ports: every Modbus device gets a port index of its own, SNMP
 * devices none, and a site with gateways and own ports mixed keeps both. */
static void test_own_ports(void **state)
{
        (void)state;
        sim_site s;
        sim_site_defaults(&s);
        assert_int_equal(sim_site_generate(&s, 2000, 7), 0);
        assert_int_equal(sim_site_own_ports(&s), 0);
        size_t mb = 0;
        bool *seen = calloc((size_t)s.nports + 1, sizeof(bool));
        assert_non_null(seen);
        for (size_t i = 0; i < s.ndevs; i++) {
                const sim_dev *d = &s.devs[i];
                if (sim_profile_is_snmp(d->profile)) {
                        assert_int_equal(d->port_index, -1);
                        continue;
                }
                mb++;
                assert_true(d->own_port);
                assert_true(d->port_index >= 0 && d->port_index < s.nports);
                assert_false(seen[d->port_index]);
                seen[d->port_index] = true;
        }
        assert_int_equal(s.nports, (int)mb);
        assert_true(mb > 1500);
        free(seen);
        sim_site_free(&s);

        /* Mixed: two devices with their own port, the rest behind gateways of 3. */
        sim_site_defaults(&s);
        s.units_per_port = 3;
        for (int i = 0; i < 8; i++) {
                char name[16];
                sim_dev *d;
                snprintf(name, sizeof(name), "m%d", i);
                assert_int_equal(sim_site_add(&s, name, SIM_K_IT, SIM_P_SDM630, 1, 0, -1, 0, &d), 0);
                d->own_port = i == 2 || i == 5;
        }
        assert_int_equal(sim_site_place(&s), 0);
        assert_int_equal(s.nports, 2 + 2); /* 2 own + 6 units in gateways of 3 */
        assert_int_equal(sim_site_own_ports(&s), 0);
        assert_int_equal(s.nports, 8);
        sim_site_free(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conservation_many_instants),
                cmocka_unit_test(test_counter_is_integral_of_power),
                cmocka_unit_test(test_pv_zero_at_night_and_solstice_noon),
                cmocka_unit_test(test_export_when_pv_exceeds_load),
                cmocka_unit_test(test_deterministic_whatever_the_advance),
                cmocka_unit_test(test_record_boundaries),
                cmocka_unit_test(test_fault_counters),
                cmocka_unit_test(test_generate_scale),
                cmocka_unit_test(test_own_ports),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
