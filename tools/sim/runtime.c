/* runtime.c - simulated time, the fault schedule and the truth file (see
 * sim_rt.h). The truth is what a test compares the agent with: the exact
 * energies per role for every record interval on the UTC grid, cumulative
 * totals, and every device's true and reported counters. Format: docs/SIM.md.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_rt.h"

int64_t sim_mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sim_fmt_time(char *buf, size_t size, int64_t t_ms)
{
        time_t s = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
        int ms = (int)(t_ms - (int64_t)s * 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* ---- truth ---------------------------------------------------------------- */

static json_t *energies(const sim_site *s, const sim_totals *t)
{
        double edc = t->grid_import + t->onsite + t->green - t->grid_export;
        double ren = t->onsite + t->green - t->grid_export;
        json_t *o = json_object();
        json_object_set_new(o, "E_grid_import_kwh", json_real(t->grid_import / 1000.0));
        json_object_set_new(o, "E_export_kwh", json_real(t->grid_export / 1000.0));
        json_object_set_new(o, "E_onsite_renewable_kwh", json_real(t->onsite / 1000.0));
        json_object_set_new(o, "E_green_supply_kwh", json_real(t->green / 1000.0));
        json_object_set_new(o, "E_IT_cat1_kwh", json_real(t->it1 / 1000.0));
        json_object_set_new(o, "E_IT_cat2_kwh", json_real(t->it2 / 1000.0));
        json_object_set_new(o, "E_IT_cat3_kwh", json_real(t->it3 / 1000.0));
        json_object_set_new(o, "E_ups_loss_kwh", json_real(t->ups_loss / 1000.0));
        json_object_set_new(o, "E_distribution_loss_kwh", json_real(t->dist_loss / 1000.0));
        json_object_set_new(o, "E_cooling_kwh", json_real(t->cooling / 1000.0));
        json_object_set_new(o, "E_other_kwh", json_real(t->other / 1000.0));
        json_object_set_new(o, "E_DC_kwh", json_real(edc / 1000.0));
        json_object_set_new(o, "PUE_cat1", t->it1 > 0 ? json_real(edc / t->it1) : json_null());
        json_object_set_new(o, "PUE_cat2", t->it2 > 0 ? json_real(edc / t->it2) : json_null());
        json_object_set_new(o, "PUE_cat3", t->it3 > 0 ? json_real(edc / t->it3) : json_null());
        json_object_set_new(o, "green_share", edc > 0 ? json_real(ren / edc) : json_null());
        json_object_set_new(o, "carbon_location_kg", json_real(t->grid_import / 1000.0 * s->carbon_factor));
        return o;
}

static void diff(const sim_totals *a, const sim_totals *b, sim_totals *r)
{
        r->grid_import = a->grid_import - b->grid_import;
        r->grid_export = a->grid_export - b->grid_export;
        r->onsite = a->onsite - b->onsite;
        r->green = a->green - b->green;
        r->it1 = a->it1 - b->it1;
        r->it2 = a->it2 - b->it2;
        r->it3 = a->it3 - b->it3;
        r->ups_loss = a->ups_loss - b->ups_loss;
        r->dist_loss = a->dist_loss - b->dist_loss;
        r->cooling = a->cooling - b->cooling;
        r->other = a->other - b->other;
}

static json_t *devices(const sim_model *m, int64_t t)
{
        json_t *o = json_object();
        for (size_t i = 0; i < m->site->ndevs; i++) {
                const sim_dev *d = &m->site->devs[i];
                json_t *e = json_object();
                json_object_set_new(e, "energy_kwh", json_real(sim_dev_energy_wh(m, d, t) / 1000.0));
                json_object_set_new(e, "energy_export_kwh", json_real(sim_dev_energy_exp_wh(m, d, t) / 1000.0));
                json_object_set_new(e, "reported_kwh", json_real(sim_dev_reported_wh(m, d, t) / 1000.0));
                json_object_set_new(e, "reported_export_kwh", json_real(sim_dev_reported_exp_wh(m, d, t) / 1000.0));
                json_object_set_new(e, "power_kw", json_real((d->p_w - d->p_exp_w) / 1000.0));
                if (d->kind == SIM_K_UPS) {
                        json_object_set_new(e, "input_energy_kwh", json_real(sim_dev_energy_aux_wh(m, d, t) / 1000.0));
                        json_object_set_new(e, "input_power_kw", json_real(d->p_aux_w / 1000.0));
                }
                if (d->kind == SIM_K_IT)
                        json_object_set_new(e, "it_load_energy_kwh",
                                            json_real(sim_dev_energy_aux_wh(m, d, t) / 1000.0));
                json_object_set_new(o, d->name, e);
        }
        return o;
}

/* One truth line: energies over [from, to) = now - base (cumulative). */
static json_t *record_obj(sim_rt *rt, const char *type, int64_t from, int64_t to, const sim_totals *base,
                          const sim_totals *now)
{
        char a[32], b[32];
        sim_totals iv;
        json_t *o = json_object();
        sim_fmt_time(a, sizeof(a), from);
        sim_fmt_time(b, sizeof(b), to);
        diff(now, base, &iv);
        json_object_set_new(o, "type", json_string(type));
        json_object_set_new(o, "site", json_string(rt->site.name));
        json_object_set_new(o, "start", json_string(a));
        json_object_set_new(o, "end", json_string(b));
        json_object_set_new(o, "start_ms", json_integer(from));
        json_object_set_new(o, "end_ms", json_integer(to));
        json_object_set_new(o, "partial", json_boolean(from % rt->site.record_ms != 0 || to % rt->site.record_ms != 0));
        json_object_set_new(o, "carbon_factor", json_real(rt->site.carbon_factor));
        json_object_set_new(o, "interval", energies(&rt->site, &iv));
        json_object_set_new(o, "cumulative", energies(&rt->site, now));
        json_object_set_new(o, "devices", devices(&rt->model, to));
        return o;
}

static char *dump(json_t *o)
{
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(o);
        return s;
}

static char *record(sim_rt *rt, const char *type, int64_t from, int64_t to, const sim_totals *now)
{
        return dump(record_obj(rt, type, from, to, &rt->last_totals, now));
}

static void put_line(sim_rt *rt, char *s)
{
        if (s) {
                fputs(s, rt->truth);
                fputc('\n', rt->truth);
                fflush(rt->truth);
                free(s);
        }
}

static void on_boundary(sim_model *m, void *arg)
{
        sim_rt *rt = arg;
        sim_totals now;
        if (!rt->truth)
                return;
        sim_model_totals(m, m->tk_ms, &now);
        put_line(rt, record(rt, "record", rt->last_record_ms, m->tk_ms, &now));
        rt->last_record_ms = m->tk_ms;
        rt->last_totals = now;
}

char *sim_rt_truth_json(sim_rt *rt, const char *type)
{
        sim_totals now;
        int64_t t = sim_rt_sync(rt);
        sim_model_totals(&rt->model, t, &now);
        /* A snapshot's "interval" runs from the last record to now. */
        return record(rt, type, rt->last_record_ms, t, &now);
}

int64_t sim_rt_wall_to_sim(const sim_rt *rt, int64_t wall_ms)
{
        double d_ms = (double)(wall_ms * 1000000 - rt->wall0_ns) / 1e6 * rt->speed;
        return rt->sim0_ms + (int64_t)llround(d_ms);
}

int sim_rt_truth_wall(sim_rt *rt, int64_t win_ms)
{
        if (!rt->truth || !(rt->speed > 0) || win_ms < 1 || win_ms > 86400000)
                return -EINVAL;
        int64_t w0 = rt->wall0_ns / 1000000; /* whole ms: the start is at or after it */
        rt->wall_win_ms = win_ms;
        rt->wall_last_ms = w0;
        rt->wall_last_sim_ms = rt->model.tk_ms;
        sim_model_totals(&rt->model, rt->model.tk_ms, &rt->wall_totals);
        rt->wall_next_ms = (w0 / win_ms + 1) * win_ms;
        return 0;
}

/* Model standing in the step holding sim_ms = the wall boundary's instant:
 * write the wall window ending there. */
static void wall_boundary(sim_rt *rt, int64_t sim_ms)
{
        sim_totals now;
        char a[32], b[32];
        sim_model_totals(&rt->model, sim_ms, &now);
        json_t *o = record_obj(rt, "wall_record", rt->wall_last_sim_ms, sim_ms, &rt->wall_totals, &now);
        sim_fmt_time(a, sizeof(a), rt->wall_last_ms);
        sim_fmt_time(b, sizeof(b), rt->wall_next_ms);
        json_object_set_new(o, "wall_start", json_string(a));
        json_object_set_new(o, "wall_end", json_string(b));
        json_object_set_new(o, "wall_start_ms", json_integer(rt->wall_last_ms));
        json_object_set_new(o, "wall_end_ms", json_integer(rt->wall_next_ms));
        json_object_set_new(o, "speed", json_real(rt->speed));
        /* partial: the window began before the simulator did */
        json_object_set_new(o, "partial", json_boolean(rt->wall_last_ms % rt->wall_win_ms != 0));
        put_line(rt, dump(o));
        rt->wall_totals = now;
        rt->wall_last_sim_ms = sim_ms;
        rt->wall_last_ms = rt->wall_next_ms;
        rt->wall_next_ms += rt->wall_win_ms;
}

/* ---- time and the fault schedule ---------------------------------------------- */

int sim_rt_init(sim_rt *rt, int64_t start_ms, double speed, FILE *truth)
{
        int r;
        memset(&rt->model, 0, sizeof(rt->model));
        r = sim_model_init(&rt->model, &rt->site, start_ms);
        if (r < 0)
                return r;
        pthread_mutex_init(&rt->lock, NULL);
        rt->speed = speed;
        rt->start_ms = rt->model.tk_ms;
        rt->sim0_ms = rt->model.tk_ms;
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        rt->mono0_ns = sim_mono_ns();
        rt->wall0_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
        rt->wall_win_ms = 0;
        rt->truth = truth;
        rt->last_record_ms = rt->model.tk_ms;
        memset(&rt->last_totals, 0, sizeof(rt->last_totals));
        atomic_init(&rt->mb_requests, 0);
        atomic_init(&rt->mb_exceptions, 0);
        atomic_init(&rt->mb_dropped, 0);
        atomic_init(&rt->mb_refused, 0);
        atomic_init(&rt->snmp_requests, 0);
        atomic_init(&rt->snmp_dropped, 0);
        atomic_init(&rt->mb_clients, 0);
        atomic_init(&rt->mb_clients_peak, 0);
        if (truth) {
                char a[32];
                json_t *o = json_object();
                sim_fmt_time(a, sizeof(a), rt->start_ms);
                json_object_set_new(o, "type", json_string("start"));
                json_object_set_new(o, "site", json_string(rt->site.name));
                json_object_set_new(o, "start", json_string(a));
                json_object_set_new(o, "start_ms", json_integer(rt->start_ms));
                json_object_set_new(o, "record_interval_ms", json_integer(rt->site.record_ms));
                json_object_set_new(o, "step_ms", json_integer(rt->site.step_ms));
                json_object_set_new(o, "speed", json_real(speed));
                json_object_set_new(o, "wall0_ns", json_integer(rt->wall0_ns));
                json_object_set_new(o, "carbon_factor", json_real(rt->site.carbon_factor));
                char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
                json_decref(o);
                if (s) {
                        fprintf(truth, "%s\n", s);
                        fflush(truth);
                        free(s);
                }
        }
        return 0;
}

void sim_rt_fini(sim_rt *rt)
{
        if (!rt)
                return;
        if (rt->truth)
                fclose(rt->truth);
        rt->truth = NULL;
        sim_model_fini(&rt->model);
        pthread_mutex_destroy(&rt->lock);
}

int64_t sim_rt_now(const sim_rt *rt)
{
        double dt_ms = (double)(sim_mono_ns() - rt->mono0_ns) / 1e6 * rt->speed;
        return rt->sim0_ms + (int64_t)dt_ms;
}

/* The next scheduled fault event after the model's position, or INT64_MAX. */
static int64_t next_event(const sim_rt *rt)
{
        int64_t best = INT64_MAX;
        for (size_t i = 0; i < rt->site.nfaults; i++) {
                const sim_fault_spec *f = &rt->site.faults[i];
                if (!f->started)
                        best = best < rt->start_ms + f->at_ms ? best : rt->start_ms + f->at_ms;
                else if (!f->ended && f->dur_ms > 0)
                        best = best < rt->start_ms + f->at_ms + f->dur_ms ? best : rt->start_ms + f->at_ms + f->dur_ms;
        }
        return best;
}

static void run_events(sim_rt *rt, int64_t t)
{
        for (size_t i = 0; i < rt->site.nfaults; i++) {
                sim_fault_spec *f = &rt->site.faults[i];
                sim_dev *d = &rt->site.devs[f->dev];
                if (!f->started && rt->start_ms + f->at_ms <= t) {
                        f->started = true;
                        sim_fault_apply(&rt->model, d, f->kind, f->delay_ms, f->code, t);
                }
                if (f->started && !f->ended && f->dur_ms > 0 && rt->start_ms + f->at_ms + f->dur_ms <= t) {
                        f->ended = true;
                        sim_fault_clear(d);
                }
        }
}

static void advance_to(sim_rt *rt, int64_t now)
{
        for (;;) {
                int64_t ev = next_event(rt);
                int64_t wb = rt->wall_win_ms > 0 && rt->truth ? sim_rt_wall_to_sim(rt, rt->wall_next_ms) : INT64_MAX;
                if (wb < rt->model.tk_ms)
                        wb = rt->model.tk_ms; /* never backwards */
                if (ev <= wb) {
                        if (ev > now)
                                break;
                        sim_model_advance(&rt->model, ev, on_boundary, rt);
                        run_events(rt, ev);
                } else {
                        if (wb > now)
                                break;
                        sim_model_advance(&rt->model, wb, on_boundary, rt);
                        wall_boundary(rt, wb);
                }
        }
        sim_model_advance(&rt->model, now, on_boundary, rt);
}

int64_t sim_rt_sync(sim_rt *rt)
{
        int64_t now = sim_rt_now(rt);
        if (now < rt->model.tk_ms)
                now = rt->model.tk_ms;
        advance_to(rt, now);
        return now;
}

int64_t sim_rt_skip(sim_rt *rt, int64_t ms)
{
        if (ms > 0)
                rt->sim0_ms += ms;
        return sim_rt_sync(rt);
}
