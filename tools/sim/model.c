/* model.c - dcem-sim's physics: simulated time in, powers and exact energy
 * counters out (see sim.h for the conservation law and the step grid).
 *
 * Pure: no I/O, no clocks. Randomness is a hash of (seed, device, stream,
 * knot) interpolated between knots ("value noise"), so the value at a given
 * instant never depends on the order of evaluation.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static const char *const kind_names[_SIM_K_MAX] = {
        "grid", "export", "pv", "green", "ups", "it", "cooling", "other",
};
static const char *const profile_names[_SIM_P_MAX] = {
        "sdm630", "iem3000", "sunspec", "sunspec-float", "apc-rpdu2", "raritan-pdu2", "sentry4", "eaton-epdu",
        "ups-mib", "pm5000",
};
/* The dcem-agent profile that reads each (conf/profiles/...). Both SunSpec
 * flavours are found by walking the model chain. */
static const char *const profile_agent_names[_SIM_P_MAX] = {
        "sdm630", "iem3000", "sunspec", "sunspec", "apc-rpdu2", "raritan-pdu2", "sentry4", "eaton-epdu",
        "ups-mib", "pm5000",
};
static const char *const fault_names[_SIM_F_MAX] = {
        "none", "silent", "slow", "exception", "reset", "wrap", "nan", "range",
};
static const char *const holes_names[_SIM_HOLES_MAX] = { "exception", "zero" };

const char *sim_kind_name(sim_kind k)
{
        return (unsigned)k < _SIM_K_MAX ? kind_names[k] : "?";
}

const char *sim_profile_name(sim_profile p)
{
        return (unsigned)p < _SIM_P_MAX ? profile_names[p] : "?";
}

const char *sim_profile_agent_name(sim_profile p)
{
        return (unsigned)p < _SIM_P_MAX ? profile_agent_names[p] : "?";
}

bool sim_profile_is_snmp(sim_profile p)
{
        return p >= SIM_P_APC && p <= SIM_P_UPSMIB;
}

const char *sim_fault_name(sim_fault_kind k)
{
        return (unsigned)k < _SIM_F_MAX ? fault_names[k] : "?";
}

static int find_name(const char *const *names, int n, const char *s)
{
        if (!s)
                return -1;
        for (int i = 0; i < n; i++)
                if (strcmp(names[i], s) == 0)
                        return i;
        return -1;
}

int sim_kind_from_name(const char *s)
{
        return find_name(kind_names, _SIM_K_MAX, s);
}

int sim_profile_from_name(const char *s)
{
        return find_name(profile_names, _SIM_P_MAX, s);
}

int sim_fault_from_name(const char *s)
{
        return find_name(fault_names, _SIM_F_MAX, s);
}

const char *sim_holes_name(sim_holes h)
{
        return (unsigned)h < _SIM_HOLES_MAX ? holes_names[h] : "?";
}

int sim_holes_from_name(const char *s)
{
        return find_name(holes_names, _SIM_HOLES_MAX, s);
}

/* ---- randomness ---------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
}

/* A uniform value in [-1, 1] for one knot. */
static double knot(uint64_t seed, uint64_t dev, uint64_t stream, int64_t k)
{
        uint64_t h = mix64(seed ^ mix64(dev * 0x100000001b3ull ^ mix64(stream ^ mix64((uint64_t)k))));
        return (double)(h >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

/* Smooth value noise in [-1, 1] with knots every period_s seconds. */
double sim_noise(uint64_t seed, uint64_t dev, uint64_t stream, double t_s, double period_s)
{
        double x = t_s / period_s;
        double k = floor(x);
        double f = x - k;
        double s = f * f * (3.0 - 2.0 * f);
        double a = knot(seed, dev, stream, (int64_t)k);
        double b = knot(seed, dev, stream, (int64_t)k + 1);
        return a + (b - a) * s;
}

/* ---- sun ------------------------------------------------------------------ */

#define DEG (M_PI / 180.0)

/* sin(solar elevation) at a UTC instant, by the Astronomical Almanac's
 * low-precision formulas (about 0.01 degree 1950-2050): mean longitude and
 * anomaly, ecliptic longitude, declination and right ascension, local
 * sidereal time, hour angle. */
double sim_sun_sin_elevation(double t_unix_s, double lat_deg, double lon_deg)
{
        double n = t_unix_s / 86400.0 + 2440587.5 - 2451545.0; /* days since J2000.0 */
        double L = fmod(280.460 + 0.9856474 * n, 360.0);
        double g = fmod(357.528 + 0.9856003 * n, 360.0) * DEG;
        double lambda = (L + 1.915 * sin(g) + 0.020 * sin(2.0 * g)) * DEG;
        double eps = (23.439 - 0.0000004 * n) * DEG;
        double decl = asin(sin(eps) * sin(lambda));
        double ra = atan2(cos(eps) * sin(lambda), cos(lambda));
        double gmst_h = fmod(18.697374558 + 24.06570982441908 * n, 24.0);
        double h = (gmst_h * 15.0 + lon_deg) * DEG - ra;
        double lat = lat_deg * DEG;
        return sin(lat) * sin(decl) + cos(lat) * cos(decl) * cos(h);
}

/* ---- the physics of one step ---------------------------------------------- */

static double solar_hour(double t_s, double lon)
{
        double h = fmod(t_s / 3600.0 + lon / 15.0, 24.0);
        return h < 0 ? h + 24.0 : h;
}

/* Compute every device's power for the step starting at m->tk_ms, evaluated
 * at the step's midpoint, and the site totals. */
static void compute_step(sim_model *m)
{
        sim_site *s = m->site;
        double t = (double)(m->tk_ms + s->step_ms / 2) / 1000.0;
        double h = solar_hour(t, s->longitude);
        double day = cos(2.0 * M_PI * (h - 15.0) / 24.0); /* +1 at 15:00 solar, -1 at 03:00 */
        sim_totals p = { 0 };
        double direct = 0, sum_cool_w = 0, demand, supply, residual;
        double nexport = 0, sum_grid_w = 0;

        m->t_out_c = s->t_mean_c + s->t_amp_c * day + sim_noise(s->seed, 0, 1, t, 3600.0);
        m->sun = fmax(0.0, sim_sun_sin_elevation(t, s->latitude, s->longitude));
        for (size_t i = 0; i < s->ndevs; i++)
                m->scratch[i] = 0;

        /* IT load, PDU own consumption, distribution, UPS. */
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (d->kind != SIM_K_IT)
                        continue;
                double load = d->rated_kw * 1000.0 * (1.0 + s->it_daily_amp * day) *
                              (1.0 + s->it_noise * sim_noise(s->seed, i + 1, 2, t, 300.0));
                if (load < 0)
                        load = 0;
                double pdu_in = load + 10.0 + 0.002 * load;
                double feed = pdu_in * (1.0 + s->cable_loss);
                d->p_w = pdu_in;
                d->p_aux_w = load;
                d->p_exp_w = 0;
                for (int j = 0; j < d->outlets; j++)
                        d->out_p_w[j] = load * d->out_weight[j];
                p.it3 += load;
                p.it2 += pdu_in;
                p.it1 += feed;
                p.dist_loss += feed - load;
                if (d->ups >= 0)
                        m->scratch[d->ups] += feed;
                else
                        direct += feed;
        }
        (void)direct;
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (d->kind == SIM_K_UPS) {
                        double r = d->rated_kw * 1000.0;
                        double out = m->scratch[i];
                        double x = r > 0 ? out / r : 0;
                        double loss = r * (s->ups_l0 + s->ups_l1 * x + s->ups_l2 * x * x);
                        d->p_w = out;
                        d->p_aux_w = out + loss;
                        d->p_exp_w = 0;
                        p.ups_loss += loss;
                } else if (d->kind == SIM_K_COOLING) {
                        sum_cool_w += d->weight;
                } else if (d->kind == SIM_K_GRID) {
                        sum_grid_w += d->weight;
                } else if (d->kind == SIM_K_EXPORT) {
                        nexport += 1;
                }
        }
        /* Cooling follows IT load and outside air; fans are a fixed 5 % of rating. */
        double k = 0.12 + 0.01 * fmax(0.0, m->t_out_c - 10.0);
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (d->kind == SIM_K_COOLING) {
                        double share = sum_cool_w > 0 ? d->weight / sum_cool_w : 0;
                        d->p_w = share * p.it3 * k + 0.05 * d->rated_kw * 1000.0;
                        d->p_aux_w = d->p_exp_w = 0;
                        p.cooling += d->p_w;
                } else if (d->kind == SIM_K_OTHER) {
                        double sched = (h >= 7.0 && h < 19.0) ? 1.0 : 0.4; /* lights on by day */
                        d->p_w = d->rated_kw * 1000.0 * sched;
                        d->p_aux_w = d->p_exp_w = 0;
                        p.other += d->p_w;
                }
        }
        demand = p.it3 + p.dist_loss + p.ups_loss + p.cooling + p.other;

        /* Supplies: PV, then the green line (it delivers at most what the site
         * draws), then the grid; a surplus is exported. */
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (d->kind == SIM_K_PV) {
                        double clear = 0.8 + 0.2 * sim_noise(s->seed, i + 1, 3, t, 900.0);
                        d->p_w = d->rated_kw * 1000.0 * m->sun * clear;
                        d->p_aux_w = d->p_exp_w = 0;
                        p.onsite += d->p_w;
                }
        }
        supply = p.onsite;
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (d->kind == SIM_K_GREEN) {
                        double want = fmax(0.0, demand - supply);
                        d->p_w = fmin(d->rated_kw * 1000.0, want);
                        d->p_aux_w = d->p_exp_w = 0;
                        p.green += d->p_w;
                        supply += d->p_w;
                }
        }
        residual = demand - p.green - p.onsite;
        p.grid_import = residual > 0 ? residual : 0;
        p.grid_export = residual < 0 ? -residual : 0;
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (d->kind == SIM_K_GRID) {
                        d->p_w = sum_grid_w > 0 ? p.grid_import * d->weight / sum_grid_w : 0;
                        d->p_aux_w = d->p_exp_w = 0;
                } else if (d->kind == SIM_K_EXPORT) {
                        d->p_w = 0;
                        d->p_exp_w = p.grid_export / nexport;
                        d->p_aux_w = 0;
                }
        }
        m->pk = p;
}

/* Add one whole step's energy to every counter. */
static void integrate_step(sim_model *m)
{
        sim_site *s = m->site;
        double dt_h = (double)s->step_ms / 3600000.0;
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                d->e_wh += d->p_w * dt_h;
                d->e_exp_wh += d->p_exp_w * dt_h;
                d->e_aux_wh += d->p_aux_w * dt_h;
                for (int j = 0; j < d->outlets; j++)
                        d->out_e_wh[j] += d->out_p_w[j] * dt_h;
        }
        sim_totals *e = &m->ek, *p = &m->pk;
        e->grid_import += p->grid_import * dt_h;
        e->grid_export += p->grid_export * dt_h;
        e->onsite += p->onsite * dt_h;
        e->green += p->green * dt_h;
        e->it1 += p->it1 * dt_h;
        e->it2 += p->it2 * dt_h;
        e->it3 += p->it3 * dt_h;
        e->ups_loss += p->ups_loss * dt_h;
        e->dist_loss += p->dist_loss * dt_h;
        e->cooling += p->cooling * dt_h;
        e->other += p->other * dt_h;
}

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int sim_model_init(sim_model *m, sim_site *site, int64_t t_ms)
{
        if (!m || !site || site->step_ms <= 0 || site->record_ms <= 0 || site->record_ms % site->step_ms != 0)
                return -EINVAL;
        double *scratch = calloc(site->ndevs ? site->ndevs : 1, sizeof(double));
        if (!scratch)
                return -ENOMEM;
        memset(m, 0, sizeof(*m));
        m->site = site;
        m->scratch = scratch;
        m->tk_ms = floor_div(t_ms, site->step_ms) * site->step_ms;
        m->t0_ms = m->tk_ms;
        for (size_t i = 0; i < site->ndevs; i++) {
                sim_dev *d = &site->devs[i];
                double sum = 0;
                d->e_wh = d->e_exp_wh = d->e_aux_wh = 0;
                for (int j = 0; j < d->outlets; j++) {
                        d->out_weight[j] = 1.5 + knot(site->seed, i + 1, 4, j); /* 0.5 .. 2.5 */
                        sum += d->out_weight[j];
                }
                for (int j = 0; j < d->outlets; j++) {
                        d->out_weight[j] /= sum;
                        d->out_e_wh[j] = 0;
                }
        }
        compute_step(m);
        return 0;
}

void sim_model_fini(sim_model *m)
{
        if (!m)
                return;
        free(m->scratch);
        m->scratch = NULL;
}

void sim_model_advance(sim_model *m, int64_t t_ms, void (*on_boundary)(sim_model *m, void *arg), void *arg)
{
        int64_t step = m->site->step_ms;
        while (m->tk_ms + step <= t_ms) {
                integrate_step(m);
                m->tk_ms += step;
                compute_step(m);
                if (on_boundary && m->tk_ms % m->site->record_ms == 0)
                        on_boundary(m, arg);
        }
}

/* Hours elapsed in the current step at t_ms (clamped into the step). */
static double frac_h(const sim_model *m, int64_t t_ms)
{
        int64_t dt = t_ms - m->tk_ms;
        if (dt < 0)
                dt = 0;
        if (dt > m->site->step_ms)
                dt = m->site->step_ms;
        return (double)dt / 3600000.0;
}

double sim_dev_energy_wh(const sim_model *m, const sim_dev *d, int64_t t_ms)
{
        return d->e_wh + d->p_w * frac_h(m, t_ms);
}

double sim_dev_energy_exp_wh(const sim_model *m, const sim_dev *d, int64_t t_ms)
{
        return d->e_exp_wh + d->p_exp_w * frac_h(m, t_ms);
}

double sim_dev_energy_aux_wh(const sim_model *m, const sim_dev *d, int64_t t_ms)
{
        return d->e_aux_wh + d->p_aux_w * frac_h(m, t_ms);
}

double sim_dev_outlet_energy_wh(const sim_model *m, const sim_dev *d, int j, int64_t t_ms)
{
        if (j < 0 || j >= d->outlets)
                return 0;
        return d->out_e_wh[j] + d->out_p_w[j] * frac_h(m, t_ms);
}

void sim_model_totals(const sim_model *m, int64_t t_ms, sim_totals *ret)
{
        double f = frac_h(m, t_ms);
        const sim_totals *e = &m->ek, *p = &m->pk;
        ret->grid_import = e->grid_import + p->grid_import * f;
        ret->grid_export = e->grid_export + p->grid_export * f;
        ret->onsite = e->onsite + p->onsite * f;
        ret->green = e->green + p->green * f;
        ret->it1 = e->it1 + p->it1 * f;
        ret->it2 = e->it2 + p->it2 * f;
        ret->it3 = e->it3 + p->it3 * f;
        ret->ups_loss = e->ups_loss + p->ups_loss * f;
        ret->dist_loss = e->dist_loss + p->dist_loss * f;
        ret->cooling = e->cooling + p->cooling * f;
        ret->other = e->other + p->other * f;
}

double sim_dev_reported_wh(const sim_model *m, const sim_dev *d, int64_t t_ms)
{
        return sim_dev_energy_wh(m, d, t_ms) - d->fault.reset_base_wh;
}

double sim_dev_reported_exp_wh(const sim_model *m, const sim_dev *d, int64_t t_ms)
{
        return sim_dev_energy_exp_wh(m, d, t_ms) - d->fault.reset_base_exp_wh;
}

uint32_t sim_dev_raw32(const sim_dev *d, double wh, double unit_wh)
{
        uint64_t raw = wh > 0 ? (uint64_t)floor(wh / unit_wh) : 0;
        if (d->fault.wrap) {
                uint64_t at = d->fault.wrap_at_wh > 0 ? (uint64_t)floor(d->fault.wrap_at_wh / unit_wh) : 0;
                uint64_t margin = d->fault.wrap_margin;
                /* wrap_margin is in Wh; express it in this encoding's units. */
                margin = (uint64_t)ceil((double)margin / unit_wh);
                if (margin < 1)
                        margin = 1;
                raw = raw - at + ((1ull << 32) - margin); /* modular on purpose */
        }
        return (uint32_t)raw;
}

void sim_fault_apply(sim_model *m, sim_dev *d, sim_fault_kind k, int64_t delay_ms, int code, int64_t t_ms)
{
        sim_fault_state *f = &d->fault;
        switch (k) {
        case SIM_F_NONE:
                sim_fault_clear(d);
                break;
        case SIM_F_SILENT:
                f->silent = true;
                break;
        case SIM_F_SLOW:
                f->delay_ms = delay_ms > 0 ? delay_ms : 1000;
                break;
        case SIM_F_EXCEPTION:
                f->exception = code > 0 && code < 256 ? code : 4; /* server device failure */
                break;
        case SIM_F_RESET:
                f->reset_base_wh = sim_dev_energy_wh(m, d, t_ms);
                f->reset_base_exp_wh = sim_dev_energy_exp_wh(m, d, t_ms);
                f->wrap = false;
                f->resets++;
                break;
        case SIM_F_WRAP: {
                /* Leave two minutes of the current power (at least 1 Wh)
                 * before the 32-bit register wraps. */
                double margin = fmax(1.0, fmax(d->p_w, d->p_exp_w) * 120.0 / 3600.0);
                f->wrap = true;
                f->wrap_at_wh = fmax(sim_dev_reported_wh(m, d, t_ms), sim_dev_reported_exp_wh(m, d, t_ms));
                f->wrap_margin = margin > 4e9 ? 4000000000u : (uint32_t)ceil(margin);
                f->wraps++;
                break;
        }
        case SIM_F_NAN:
                f->nan = true;
                break;
        case SIM_F_RANGE:
                f->range = true;
                break;
        default:
                break;
        }
}

void sim_fault_clear(sim_dev *d)
{
        sim_fault_state *f = &d->fault;
        f->silent = false;
        f->delay_ms = 0;
        f->exception = 0;
        f->nan = f->range = false;
}
