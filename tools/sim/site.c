/* site.c - the simulated site: building it (device list, Modbus placement)
 * and generating big sites for benchmarks. Loading from YAML is site_yaml.c.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sim_site_defaults(sim_site *s)
{
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "sim-dc");
        s->latitude = 31.23; /* Shanghai */
        s->longitude = 121.47;
        s->seed = 1;
        s->step_ms = 1000;
        s->record_ms = 15 * 60 * 1000;
        s->carbon_factor = 0.5306; /* China national average, data year 2023 */
        s->t_mean_c = 18.0;
        s->t_amp_c = 6.0;
        s->it_daily_amp = 0.08;
        s->it_noise = 0.03;
        s->cable_loss = 0.01;
        s->ups_l0 = 0.008;
        s->ups_l1 = 0.010;
        s->ups_l2 = 0.020;
        s->units_per_port = SIM_UNITS_PER_PORT_MAX;
        snprintf(s->snmp_community, sizeof(s->snmp_community), "public");
        snprintf(s->snmp_user, sizeof(s->snmp_user), "dcemsim");
        snprintf(s->snmp_auth_pass, sizeof(s->snmp_auth_pass), "dcem-sim-auth");
        snprintf(s->snmp_priv_pass, sizeof(s->snmp_priv_pass), "dcem-sim-priv");
}

void sim_site_free(sim_site *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->ndevs; i++) {
                free(s->devs[i].out_weight);
                free(s->devs[i].out_p_w);
                free(s->devs[i].out_e_wh);
        }
        free(s->devs);
        free(s->faults);
        s->devs = NULL;
        s->faults = NULL;
        s->ndevs = s->nfaults = 0;
}

int sim_site_add(sim_site *s, const char *name, sim_kind kind, sim_profile prof, double rated_kw, double weight,
                 int ups, int outlets, sim_dev **ret_dev)
{
        if (!s || !name || !*name || strlen(name) >= SIM_NAME_MAX || (unsigned)kind >= _SIM_K_MAX ||
            (unsigned)prof >= _SIM_P_MAX || outlets < 0 || outlets > SIM_MAX_OUTLETS || !isfinite(rated_kw) ||
            rated_kw < 0 || !isfinite(weight) || weight < 0)
                return -EINVAL;
        if (s->ndevs >= SIM_MAX_DEVICES)
                return -E2BIG;
        if (s->ndevs % 64 == 0) {
                sim_dev *n = realloc(s->devs, (s->ndevs + 64) * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                s->devs = n;
        }
        sim_dev *d = &s->devs[s->ndevs];
        memset(d, 0, sizeof(*d));
        if (kind == SIM_K_IT && outlets > 0) {
                d->out_weight = calloc((size_t)outlets, sizeof(double));
                d->out_p_w = calloc((size_t)outlets, sizeof(double));
                d->out_e_wh = calloc((size_t)outlets, sizeof(double));
                if (!d->out_weight || !d->out_p_w || !d->out_e_wh) {
                        free(d->out_weight);
                        free(d->out_p_w);
                        free(d->out_e_wh);
                        return -ENOMEM;
                }
                d->outlets = outlets;
        }
        snprintf(d->name, sizeof(d->name), "%s", name);
        d->kind = kind;
        d->profile = prof;
        d->rated_kw = rated_kw;
        d->weight = weight;
        d->ups = kind == SIM_K_IT ? ups : -1;
        d->port_index = -1;
        s->ndevs++;
        if (ret_dev)
                *ret_dev = d;
        return 0;
}

int sim_site_find(const sim_site *s, const char *name)
{
        for (size_t i = 0; i < s->ndevs; i++)
                if (strcmp(s->devs[i].name, name) == 0)
                        return (int)i;
        return -1;
}

int sim_site_place(sim_site *s)
{
        int upp = s->units_per_port;
        int nports = 0, gw = -1, gw_used = 0;
        bool used[SIM_UNITS_PER_PORT_MAX + 1];

        if (upp < 1 || upp > SIM_UNITS_PER_PORT_MAX)
                return -EINVAL;
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (sim_profile_is_snmp(d->profile) || !d->own_port)
                        continue;
                d->port_index = nports++;
                if (d->unit < 1 || d->unit > SIM_UNITS_PER_PORT_MAX)
                        d->unit = 1;
        }
        /* Gateways: fill unit ids 1..upp, skipping ids taken explicitly. */
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (sim_profile_is_snmp(d->profile) || d->own_port)
                        continue;
                if (gw < 0 || gw_used >= upp) {
                        gw = nports++;
                        gw_used = 0;
                        memset(used, 0, sizeof(used));
                }
                int unit = d->unit;
                if (unit < 1 || unit > SIM_UNITS_PER_PORT_MAX || used[unit]) {
                        unit = 1;
                        while (unit <= SIM_UNITS_PER_PORT_MAX && used[unit])
                                unit++;
                        if (unit > SIM_UNITS_PER_PORT_MAX)
                                return -EINVAL;
                }
                used[unit] = true;
                d->unit = unit;
                d->port_index = gw;
                gw_used++;
        }
        s->nports = nports;
        return 0;
}

/* ---- generated sites ------------------------------------------------------ */

int sim_site_generate(sim_site *s, size_t n, uint64_t seed)
{
        static const sim_profile mb_it[] = { SIM_P_SDM630, SIM_P_IEM3000, SIM_P_SUNSPEC, SIM_P_SUNSPEC_FLOAT };
        static const sim_profile snmp_it[] = { SIM_P_APC, SIM_P_RARITAN, SIM_P_SENTRY4, SIM_P_EATON };
        char name[SIM_NAME_MAX];
        int r;

        if (n < 12 || n > SIM_MAX_DEVICES)
                return -EINVAL;
        s->seed = seed;
        snprintf(s->name, sizeof(s->name), "sim-scale-%zu", n);
        size_t nups = n / 100 > 2 ? n / 100 : 2;
        size_t ncool = n / 50 > 3 ? n / 50 : 3;
        size_t nfixed = 5 + nups + ncool + 1;
        size_t nit = n - nfixed;
        size_t nsnmp = nit / 5;
        double it_kw = 8.0; /* per feed */
        double total_it = it_kw * (double)nit;

        if ((r = sim_site_add(s, "grid-a", SIM_K_GRID, SIM_P_IEM3000, 0, 0.5, -1, 0, NULL)) < 0 ||
            (r = sim_site_add(s, "grid-b", SIM_K_GRID, SIM_P_SUNSPEC, 0, 0.5, -1, 0, NULL)) < 0 ||
            (r = sim_site_add(s, "export", SIM_K_EXPORT, SIM_P_SDM630, 0, 0, -1, 0, NULL)) < 0 ||
            (r = sim_site_add(s, "pv", SIM_K_PV, SIM_P_SUNSPEC_FLOAT, 0.2 * total_it, 0, -1, 0, NULL)) < 0 ||
            (r = sim_site_add(s, "green-line", SIM_K_GREEN, SIM_P_SDM630, 0.2 * total_it, 0, -1, 0, NULL)) < 0)
                return r;
        size_t ups0 = s->ndevs;
        for (size_t i = 0; i < nups; i++) {
                snprintf(name, sizeof(name), "ups-%zu", i + 1);
                r = sim_site_add(s, name, SIM_K_UPS, SIM_P_UPSMIB, 1.6 * total_it / (double)nups, 0, -1, 0, NULL);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ncool; i++) {
                snprintf(name, sizeof(name), "crah-%zu", i + 1);
                r = sim_site_add(s, name, SIM_K_COOLING, mb_it[i % 2], 0.4 * total_it / (double)ncool, 1.0, -1, 0,
                                 NULL);
                if (r < 0)
                        return r;
        }
        if ((r = sim_site_add(s, "lighting", SIM_K_OTHER, SIM_P_SDM630, 0.01 * total_it, 0, -1, 0, NULL)) < 0)
                return r;
        for (size_t i = 0; i < nit; i++) {
                bool snmp = i % 5 == 4 && nsnmp > 0;
                sim_profile p = snmp ? snmp_it[(i / 5) % 4] : mb_it[i % 4];
                int outlets = snmp && (p == SIM_P_APC || p == SIM_P_EATON || p == SIM_P_RARITAN) ? 8 : 0;
                snprintf(name, sizeof(name), "%s-%zu", snmp ? "pdu" : "rack", i + 1);
                r = sim_site_add(s, name, SIM_K_IT, p, it_kw, 0, (int)(ups0 + i % nups), outlets, NULL);
                if (r < 0)
                        return r;
        }
        return sim_site_place(s);
}


int sim_site_own_ports(sim_site *s)
{
        for (size_t i = 0; i < s->ndevs; i++) {
                sim_dev *d = &s->devs[i];
                if (!sim_profile_is_snmp(d->profile) && !d->own_port) {
                        d->own_port = true;
                        d->unit = 1;
                }
        }
        return sim_site_place(s);
}
