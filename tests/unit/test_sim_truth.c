/* test_sim_truth.c - dcem-sim's truth file and control commands
 * (tools/sim/runtime.c, control.c) with frozen time: records land on the UTC
 * grid, each interval is the difference of the cumulative values, the
 * derived figures (E_DC, PUE per category, green share, carbon) follow from
 * the energies, the devices add up to the roles, and scheduled faults start
 * and end at their simulated instants. Parsed back with jansson. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "sim.h"
#include "sim_control.h"
#include "sim_rt.h"

#define T0 1782000000000ll /* 2026-06-21T00:00:00Z */

static void build(sim_site *s)
{
        sim_site_defaults(s);
        assert_int_equal(sim_site_add(s, "grid-a", SIM_K_GRID, SIM_P_IEM3000, 0, 1, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "grid-b", SIM_K_GRID, SIM_P_SDM630, 0, 3, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "pv", SIM_K_PV, SIM_P_SUNSPEC_FLOAT, 80, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "green", SIM_K_GREEN, SIM_P_SDM630, 50, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "ups", SIM_K_UPS, SIM_P_UPSMIB, 300, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "pdu-1", SIM_K_IT, SIM_P_APC, 60, 0, 4, 4, NULL), 0);
        assert_int_equal(sim_site_add(s, "pdu-2", SIM_K_IT, SIM_P_EATON, 70, 0, 4, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "crah", SIM_K_COOLING, SIM_P_SDM630, 40, 1, -1, 0, NULL), 0);
        assert_int_equal(sim_site_add(s, "light", SIM_K_OTHER, SIM_P_SDM630, 5, 0, -1, 0, NULL), 0);
        assert_int_equal(sim_site_place(s), 0);
}

static double num(json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);
        assert_non_null(v);
        assert_true(json_is_number(v));
        return json_number_value(v);
}

static void test_truth_records(void **state)
{
        (void)state;
        sim_rt rt;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        memset(&rt, 0, sizeof(rt));
        build(&rt.site);
        assert_int_equal(sim_rt_init(&rt, T0 + 7 * 60000, 0.0, f), 0); /* starts at 00:07 */
        pthread_mutex_lock(&rt.lock);
        sim_rt_skip(&rt, 3 * 3600000ll); /* to 03:07 */
        pthread_mutex_unlock(&rt.lock);
        fflush(f);

        /* Parse line by line. */
        json_t *recs[64];
        size_t n = 0;
        for (char *line = strtok(buf, "\n"); line && n < 64; line = strtok(NULL, "\n")) {
                json_error_t err;
                recs[n] = json_loads(line, 0, &err);
                assert_non_null(recs[n]);
                n++;
        }
        /* start, a partial 00:07-00:15, then 11 full quarter-hours to 03:00. */
        assert_int_equal(n, 1 + 1 + 11);
        assert_string_equal(json_string_value(json_object_get(recs[0], "type")), "start");
        assert_true(json_is_true(json_object_get(recs[1], "partial")));
        assert_string_equal(json_string_value(json_object_get(recs[1], "end")), "2026-06-21T00:15:00.000Z");
        assert_string_equal(json_string_value(json_object_get(recs[n - 1], "end")), "2026-06-21T03:00:00.000Z");
        double prev_import = 0, prev_it2 = 0;
        for (size_t i = 1; i < n; i++) {
                json_t *iv = json_object_get(recs[i], "interval"), *cum = json_object_get(recs[i], "cumulative");
                json_t *dev = json_object_get(recs[i], "devices");
                double imp = num(iv, "E_grid_import_kwh"), on = num(iv, "E_onsite_renewable_kwh"),
                       gr = num(iv, "E_green_supply_kwh"), ex = num(iv, "E_export_kwh");
                double edc = imp + on + gr - ex;
                assert_true(fabs(num(iv, "E_DC_kwh") - edc) < 1e-9 * edc);
                double inside = num(iv, "E_IT_cat3_kwh") + num(iv, "E_ups_loss_kwh") +
                                num(iv, "E_distribution_loss_kwh") + num(iv, "E_cooling_kwh") + num(iv, "E_other_kwh");
                assert_true(fabs(edc - inside) < 1e-9 * edc);
                for (int c = 1; c <= 3; c++) {
                        char k[32], e[32];
                        snprintf(k, sizeof(k), "PUE_cat%d", c);
                        snprintf(e, sizeof(e), "E_IT_cat%d_kwh", c);
                        assert_true(fabs(num(iv, k) - edc / num(iv, e)) < 1e-12);
                        assert_true(num(iv, k) > 1.0);
                }
                assert_true(fabs(num(iv, "green_share") - (on + gr - ex) / edc) < 1e-12);
                assert_true(fabs(num(iv, "carbon_location_kg") - imp * 0.5306) < 1e-9);
                /* Interval = difference of cumulative values. */
                assert_true(fabs(imp - (num(cum, "E_grid_import_kwh") - prev_import)) < 1e-9);
                assert_true(fabs(num(iv, "E_IT_cat2_kwh") - (num(cum, "E_IT_cat2_kwh") - prev_it2)) < 1e-9);
                prev_import = num(cum, "E_grid_import_kwh");
                prev_it2 = num(cum, "E_IT_cat2_kwh");
                /* Devices add up to their roles; grid shares follow the weights 1:3. */
                double ga = num(json_object_get(dev, "grid-a"), "energy_kwh");
                double gb = num(json_object_get(dev, "grid-b"), "energy_kwh");
                assert_true(fabs(ga + gb - prev_import) < 1e-9 * prev_import);
                assert_true(fabs(gb - 3 * ga) < 1e-9 * gb);
                double pdus = num(json_object_get(dev, "pdu-1"), "energy_kwh") +
                              num(json_object_get(dev, "pdu-2"), "energy_kwh");
                assert_true(fabs(pdus - prev_it2) < 1e-9 * prev_it2);
                assert_true(fabs(num(json_object_get(dev, "ups"), "energy_kwh") - num(cum, "E_IT_cat1_kwh")) <
                            1e-9 * num(cum, "E_IT_cat1_kwh"));
        }
        /* A full quarter-hour of ~135 kW of IT: about 34 kWh. */
        double q = num(json_object_get(recs[2], "interval"), "E_IT_cat3_kwh");
        assert_true(q > 25 && q < 45);
        for (size_t i = 0; i < n; i++)
                json_decref(recs[i]);
        sim_rt_fini(&rt); /* closes f */
        free(buf);
        sim_site_free(&rt.site);
}

/* --truth-wall at speed 60: wall_record lines on the 10 s UTC wall grid,
 * each covering the simulated instants its bounds map to (sim0 + (wall -
 * wall0) x 60), contiguous, each = the difference of its cumulative values,
 * and consistent with the simulated-grid records around it. The clocks'
 * origins are set 35 s in the past, so a sync lands 35 wall s (2,100
 * simulated s) after the start. */
static void test_truth_wall(void **state)
{
        (void)state;
        sim_rt rt;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        memset(&rt, 0, sizeof(rt));
        build(&rt.site);
        assert_int_equal(sim_rt_init(&rt, T0, 60.0, f), 0);
        assert_int_equal(sim_rt_truth_wall(&rt, 0), -EINVAL);
        /* wall0 at 2.5 s past a 10 s boundary, 35 s ago */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wall_now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        int64_t mono_now = sim_mono_ns();
        int64_t wall0 = (wall_now / 10000000000ll) * 10000000000ll - 40000000000ll + 2500000000ll;
        if (wall_now - wall0 < 35000000000ll)
                wall0 -= 10000000000ll;
        int64_t back = wall_now - wall0; /* 35 .. 45 s */
        rt.wall0_ns = wall0;
        rt.mono0_ns = mono_now - back;
        assert_int_equal(sim_rt_truth_wall(&rt, 10000), 0);
        assert_int_equal(sim_rt_wall_to_sim(&rt, wall0 / 1000000), T0);
        assert_int_equal(sim_rt_wall_to_sim(&rt, wall0 / 1000000 + 7500), T0 + 450000);
        pthread_mutex_lock(&rt.lock);
        int64_t now = sim_rt_sync(&rt);
        pthread_mutex_unlock(&rt.lock);
        assert_true(now >= T0 + back / 1000000 * 60);
        fflush(f);

        json_t *recs[512];
        size_t n = 0;
        for (char *line = strtok(buf, "\n"); line && n < 512; line = strtok(NULL, "\n")) {
                json_error_t err;
                recs[n] = json_loads(line, 0, &err);
                assert_non_null(recs[n]);
                n++;
        }
        size_t nwall = 0;
        int64_t prev_end_wall = wall0 / 1000000, prev_end_sim = T0;
        double prev_cum = 0, sum_iv = 0, last_cum = 0;
        for (size_t i = 0; i < n; i++) {
                const char *type = json_string_value(json_object_get(recs[i], "type"));
                if (strcmp(type, "wall_record") != 0)
                        continue;
                int64_t ws = (int64_t)json_integer_value(json_object_get(recs[i], "wall_start_ms"));
                int64_t we = (int64_t)json_integer_value(json_object_get(recs[i], "wall_end_ms"));
                int64_t ss = (int64_t)json_integer_value(json_object_get(recs[i], "start_ms"));
                int64_t se = (int64_t)json_integer_value(json_object_get(recs[i], "end_ms"));
                assert_int_equal(ws, prev_end_wall);
                assert_int_equal(we % 10000, 0);
                assert_int_equal(ss, prev_end_sim);
                /* the mapping, computed here independently */
                assert_int_equal(se, T0 + (we * 1000000 - wall0) * 60 / 1000000);
                assert_int_equal(json_is_true(json_object_get(recs[i], "partial")), nwall == 0);
                if (nwall > 0)
                        assert_int_equal(se - ss, 600000); /* 10 wall s = 10 simulated minutes */
                json_t *iv = json_object_get(recs[i], "interval"), *cum = json_object_get(recs[i], "cumulative");
                double c = num(cum, "E_IT_cat2_kwh");
                assert_true(fabs(num(iv, "E_IT_cat2_kwh") - (c - prev_cum)) < 1e-9);
                double edc = num(iv, "E_DC_kwh");
                assert_true(fabs(num(iv, "PUE_cat2") - edc / num(iv, "E_IT_cat2_kwh")) < 1e-12);
                /* ~130 kW of PDU input for 10 simulated minutes: ~22 kWh */
                if (nwall > 0)
                        assert_true(num(iv, "E_IT_cat2_kwh") > 15 && num(iv, "E_IT_cat2_kwh") < 30);
                /* between the simulated-grid records around its end */
                for (size_t j = 1; j < n; j++) {
                        if (strcmp(json_string_value(json_object_get(recs[j], "type")), "record") != 0)
                                continue;
                        int64_t re = (int64_t)json_integer_value(json_object_get(recs[j], "end_ms"));
                        double rc = num(json_object_get(recs[j], "cumulative"), "E_IT_cat2_kwh");
                        if (re <= se)
                                assert_true(rc <= c + 1e-9);
                        else
                                assert_true(rc >= c - 1e-9);
                }
                sum_iv += num(iv, "E_IT_cat2_kwh");
                last_cum = c;
                prev_cum = c;
                prev_end_wall = we;
                prev_end_sim = se;
                nwall++;
        }
        assert_true(nwall >= 3 && nwall <= 5);
        assert_true(fabs(sum_iv - last_cum) < 1e-9);
        for (size_t i = 0; i < n; i++)
                json_decref(recs[i]);
        sim_rt_fini(&rt);
        free(buf);
        sim_site_free(&rt.site);
}

static char *ctl(sim_rt *rt, const char *line, json_t **ret)
{
        pthread_mutex_lock(&rt->lock);
        char *s = sim_control_exec(rt, line);
        pthread_mutex_unlock(&rt->lock);
        json_error_t err;
        assert_non_null(s);
        *ret = json_loads(s, 0, &err);
        assert_non_null(*ret);
        return s;
}

static void test_control_and_schedule(void **state)
{
        (void)state;
        sim_rt rt;
        json_t *o;
        memset(&rt, 0, sizeof(rt));
        build(&rt.site);
        /* A scheduled fault: crah silent from 00:10 for 5 minutes. */
        rt.site.faults = calloc(1, sizeof(*rt.site.faults));
        assert_non_null(rt.site.faults);
        rt.site.nfaults = 1;
        rt.site.faults[0] = (sim_fault_spec){ .dev = 7, .kind = SIM_F_SILENT, .at_ms = 600000, .dur_ms = 300000 };
        assert_int_equal(sim_rt_init(&rt, T0, 0.0, NULL), 0);

        free(ctl(&rt, "advance 9m59s", &o));
        assert_true(json_is_true(json_object_get(o, "ok")));
        json_decref(o);
        assert_false(rt.site.devs[7].fault.silent);
        free(ctl(&rt, "advance 1s", &o));
        json_decref(o);
        assert_true(rt.site.devs[7].fault.silent);
        free(ctl(&rt, "advance 5m", &o));
        json_decref(o);
        assert_false(rt.site.devs[7].fault.silent);

        free(ctl(&rt, "time", &o));
        assert_int_equal((long long)json_integer_value(json_object_get(o, "t_ms")), T0 + 15 * 60000);
        json_decref(o);
        free(ctl(&rt, "fault pdu-1 slow 250ms", &o));
        json_decref(o);
        assert_int_equal(rt.site.devs[5].fault.delay_ms, 250);
        free(ctl(&rt, "fault pdu-1 exception 11", &o));
        json_decref(o);
        assert_int_equal(rt.site.devs[5].fault.exception, 11);
        free(ctl(&rt, "clear pdu-1", &o));
        json_decref(o);
        assert_int_equal(rt.site.devs[5].fault.exception, 0);
        assert_int_equal(rt.site.devs[5].fault.delay_ms, 0);

        static const char *bad[] = { "", "fly", "fault", "fault pdu-1", "fault nope silent", "fault pdu-1 explode",
                                     "fault pdu-1 exception 0", "fault pdu-1 slow forever", "advance", "advance -1s" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                free(ctl(&rt, bad[i], &o));
                assert_true(json_is_false(json_object_get(o, "ok")));
                assert_true(json_is_string(json_object_get(o, "error")));
                json_decref(o);
        }
        char longline[SIM_CONTROL_LINE_MAX + 10];
        memset(longline, 'a', sizeof(longline) - 1);
        longline[sizeof(longline) - 1] = 0;
        free(ctl(&rt, longline, &o));
        assert_true(json_is_false(json_object_get(o, "ok")));
        json_decref(o);

        free(ctl(&rt, "truth", &o));
        json_t *cum = json_object_get(o, "cumulative");
        assert_true(json_number_value(json_object_get(cum, "E_DC_kwh")) > 0);
        assert_true(json_is_true(json_object_get(o, "ok")));
        json_decref(o);
        sim_rt_fini(&rt);
        sim_site_free(&rt.site);
}

/* status: per-profile sums of the per-device counters, one device's
 * counters, and the process-wide ones. */
static void test_status_counters(void **state)
{
        (void)state;
        sim_rt rt;
        json_t *o;
        memset(&rt, 0, sizeof(rt));
        build(&rt.site);
        assert_int_equal(sim_rt_init(&rt, T0, 0.0, NULL), 0);
        /* sdm630: grid-b, green, crah, light; iem3000: grid-a; apc: pdu-1. */
        rt.site.devs[1].mb_requests = 5;
        rt.site.devs[3].mb_requests = 7;
        rt.site.devs[3].mb_exceptions = 2;
        rt.site.devs[8].mb_requests = 11;
        rt.site.devs[0].mb_requests = 13;
        rt.site.devs[5].snmp_requests = 17;
        atomic_store(&rt.mb_requests, 36);
        atomic_store(&rt.snmp_requests, 17);
        free(ctl(&rt, "status", &o));
        assert_true(json_is_true(json_object_get(o, "ok")));
        assert_int_equal((int)num(o, "modbus_requests"), 36);
        assert_int_equal((int)num(o, "snmp_requests"), 17);
        json_t *p = json_object_get(o, "profiles");
        json_t *sdm = json_object_get(p, "sdm630"), *iem = json_object_get(p, "iem3000");
        json_t *apc = json_object_get(p, "apc-rpdu2"), *eat = json_object_get(p, "eaton-epdu");
        assert_int_equal((int)num(sdm, "devices"), 4);
        assert_int_equal((int)num(sdm, "modbus_requests"), 5 + 7 + 11);
        assert_int_equal((int)num(sdm, "modbus_exceptions"), 2);
        assert_int_equal((int)num(iem, "modbus_requests"), 13);
        assert_int_equal((int)num(apc, "snmp_requests"), 17);
        assert_null(json_object_get(apc, "modbus_requests"));
        assert_int_equal((int)num(eat, "snmp_requests"), 0);
        assert_null(json_object_get(p, "sentry4")); /* no such device on the site */
        assert_int_equal((int)json_object_size(p), 6); /* sdm630 iem3000 sunspec-float ups-mib apc eaton */
        json_decref(o);
        free(ctl(&rt, "status green", &o));
        assert_string_equal(json_string_value(json_object_get(o, "profile")), "sdm630");
        assert_int_equal((int)num(o, "modbus_requests"), 7);
        assert_int_equal((int)num(o, "modbus_exceptions"), 2);
        json_decref(o);
        free(ctl(&rt, "status nope", &o));
        assert_true(json_is_false(json_object_get(o, "ok")));
        json_decref(o);
        sim_rt_fini(&rt);
        sim_site_free(&rt.site);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_truth_records),
                cmocka_unit_test(test_truth_wall),
                cmocka_unit_test(test_control_and_schedule),
                cmocka_unit_test(test_status_counters),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
