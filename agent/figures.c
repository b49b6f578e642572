/* figures.c - the published figures of a window, and the market instruments.
 *
 * Every figure is a ratio (or a product) of energy sums over one window
 * (METRICS.md rule 1), carries its window, category, completeness, label
 * (annual / interim / realtime, rule 4 and 7) and quality, and a PUE below 1
 * is a metering fault, never a value. Carbon comes twice, location- and
 * market-based, never merged (rule 8). Certificates are applied once, to one
 * month, and the ledger of applied serials proves it. Pure: no I/O.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/accounting.h"

const char *dcem_fig_label_name(dcem_fig_label l) {
        switch (l) {
        case DCEM_LABEL_ANNUAL: return "annual";
        case DCEM_LABEL_INTERIM: return "interim";
        case DCEM_LABEL_REALTIME: return "realtime";
        }
        return "?";
}

const char *dcem_fig_status_name(dcem_fig_status s) {
        switch (s) {
        case DCEM_FIG_OK: return "ok";
        case DCEM_FIG_NO_DATA: return "no_data";
        case DCEM_FIG_METERING_FAULT: return "metering_fault";
        }
        return "?";
}

/* ---- certificates ---- */

void dcem_cert_ledger_free(dcem_cert_ledger *l) {
        if (!l)
                return;
        free(l->e);
        l->e = NULL;
        l->n = l->cap = 0;
}

int dcem_cert_serial_parse(const char *s, char prefix[static 24], uint64_t *ret_num) {
        if (!s)
                return -EINVAL;
        size_t len = strlen(s), p = 0;
        while (p < len && !(s[p] >= '0' && s[p] <= '9'))
                p++;
        if (p >= 24 || p == len || len - p > 18)
                return -EINVAL;
        for (size_t i = 0; i < p; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' || s[i] == '_'))
                        return -EINVAL;
        uint64_t v = 0;
        for (size_t i = p; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        memcpy(prefix, s, p);
        prefix[p] = '\0';
        *ret_num = v;
        return 0;
}

bool dcem_cert_ledger_applied(const dcem_cert_ledger *l, const char *prefix, uint64_t serial, int64_t *ret_month) {
        for (size_t i = 0; i < l->n; i++)
                if (serial >= l->e[i].first && serial <= l->e[i].last && strcmp(l->e[i].prefix, prefix) == 0) {
                        if (ret_month)
                                *ret_month = l->e[i].month;
                        return true;
                }
        return false;
}

static bool overlaps(const dcem_cert_ledger *l, const dcem_cert_entry *e) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->e[i].prefix, e->prefix) == 0 && e->first <= l->e[i].last && l->e[i].first <= e->last)
                        return true;
        return false;
}

int dcem_cert_ledger_add(dcem_cert_ledger *l, const dcem_cert_entry *e) {
        if (e->first > e->last || !isfinite(e->kwh) || e->kwh < 0 || strnlen(e->prefix, 24) >= 24)
                return -EINVAL;
        if (overlaps(l, e))
                return -EEXIST;
        if (l->n >= DCEM_LEDGER_MAX)
                return -E2BIG;
        if (l->n == l->cap) {
                size_t nc = l->cap ? l->cap * 2 : 16;
                dcem_cert_entry *ne = realloc(l->e, nc * sizeof(*ne));
                if (!ne)
                        return -ENOMEM;
                l->e = ne;
                l->cap = nc;
        }
        l->e[l->n++] = *e;
        return 0;
}

/* The first serial >= from in [from, to] not in the ledger; the end of that free run in *ret_end. */
static bool next_free(const dcem_cert_ledger *l, const char *prefix, uint64_t from, uint64_t to, uint64_t *ret_start,
                      uint64_t *ret_end) {
        uint64_t s = from;
        for (;;) {
                bool moved = false;
                for (size_t i = 0; i < l->n; i++)
                        if (strcmp(l->e[i].prefix, prefix) == 0 && s >= l->e[i].first && s <= l->e[i].last) {
                                if (l->e[i].last >= to)
                                        return false;
                                s = l->e[i].last + 1;
                                moved = true;
                        }
                if (!moved)
                        break;
        }
        uint64_t end = to;
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->e[i].prefix, prefix) == 0 && l->e[i].first > s && l->e[i].first - 1 < end)
                        end = l->e[i].first - 1;
        *ret_start = s;
        *ret_end = end;
        return true;
}

int dcem_cert_ledger_apply(dcem_cert_ledger *l, const dcem_acct_cert_conf *certs, size_t n, int64_t month,
                           double claimable, double *ret_kwh) {
        double applied = 0;
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                int64_t vint;
                char pf[24], pl[24];
                uint64_t first, last;
                if (dcem_month_from_str(certs[i].vintage, &vint) < 0 ||
                    dcem_cert_serial_parse(certs[i].serial_first, pf, &first) < 0 ||
                    dcem_cert_serial_parse(certs[i].serial_last, pl, &last) < 0 || strcmp(pf, pl) != 0 ||
                    last < first) {
                        r = -EINVAL;
                        continue;
                }
                double each = certs[i].kwh_each > 0 ? certs[i].kwh_each : 1000.0;
                if (vint != month)
                        continue;
                uint64_t s = first;
                while (s <= last) {
                        uint64_t fs, fe;
                        if (!next_free(l, pf, s, last, &fs, &fe))
                                break;
                        double room = claimable - applied;
                        if (room < each)
                                goto done_range;
                        uint64_t want = (uint64_t)floor(room / each);
                        uint64_t avail = fe - fs + 1;
                        uint64_t take = want < avail ? want : avail;
                        dcem_cert_entry e = { .first = fs, .last = fs + take - 1, .month = month,
                                              .kwh = (double)take * each };
                        memcpy(e.prefix, pf, sizeof(pf));
                        int k = dcem_cert_ledger_add(l, &e);
                        if (k < 0) {
                                if (ret_kwh)
                                        *ret_kwh = applied;
                                return k;
                        }
                        applied += e.kwh;
                        if (fe == UINT64_MAX)
                                break;
                        s = e.last + 1;
                }
        done_range:;
        }
        if (ret_kwh)
                *ret_kwh = applied;
        return r;
}

double dcem_cert_ledger_month_kwh(const dcem_cert_ledger *l, int64_t month) {
        double s = 0;
        for (size_t i = 0; i < l->n; i++)
                if (l->e[i].month == month)
                        s += l->e[i].kwh;
        return s;
}

double dcem_contracts_claim(const dcem_acct_contract_conf *c, size_t n, int64_t month, double grid_kwh,
                            double claimable, bool whole_month) {
        double share = 0, kwh = 0;
        for (size_t i = 0; i < n; i++) {
                int64_t from, to;
                if (dcem_month_from_str(c[i].from, &from) < 0)
                        continue;
                if (!c[i].to || dcem_month_from_str(c[i].to, &to) < 0)
                        to = from;
                if (month < from || month > to)
                        continue;
                share += c[i].share;
                if (whole_month)
                        kwh += c[i].kwh;
        }
        if (share > 1)
                share = 1;
        double claim = share * (grid_kwh > 0 ? grid_kwh : 0) + kwh;
        if (claim > claimable)
                claim = claimable;
        return claim > 0 ? claim : 0;
}

/* ---- figures ---- */

static void fig_init(dcem_figure *f, const dcem_acct_sums *s, dcem_window_kind k, const dcem_fig_params *p,
                     const char *metric, const char *unit, int category) {
        memset(f, 0, sizeof(*f));
        f->metric = metric;
        f->unit = unit;
        f->value = NAN;
        f->status = DCEM_FIG_NO_DATA;
        f->category = category;
        f->window = k;
        f->start_ns = s->start_ns;
        f->end_ns = s->end_ns;
        f->completeness = dcem_acct_sums_completeness(s);
        f->target_met = -1;
        double thr = p && p->completeness_threshold > 0 ? p->completeness_threshold : 0.95;
        if (k == DCEM_WIN_REALTIME)
                f->label = DCEM_LABEL_REALTIME;
        else if ((k == DCEM_WIN_ROLLING12 || k == DCEM_WIN_YEAR) && s->months_with_data >= 12 &&
                 f->completeness >= thr)
                f->label = DCEM_LABEL_ANNUAL;
        else
                f->label = DCEM_LABEL_INTERIM;
}

static void fig_quality(dcem_figure *f, double est, double total) {
        f->estimated_share = total > 0 ? est / total : 0;
        if (f->estimated_share > 1)
                f->estimated_share = 1;
        f->estimated = est > 0;
}

static void fig_value(dcem_figure *f, double num, double den) {
        f->numerator = num;
        f->denominator = den;
        if (!(den > 0) || !isfinite(num)) {
                f->status = DCEM_FIG_NO_DATA;
                return;
        }
        f->status = DCEM_FIG_OK;
        f->value = num / den;
}

static double it_est(const dcem_acct_sums *s, int c) {
        return (c >= 1 && c <= 3) ? s->est_kwh[DCEM_ACC_IT1 + c - 1] : 0;
}

void dcem_fig_pue(const dcem_acct_sums *s, dcem_window_kind k, int c, const dcem_fig_params *p, dcem_figure *f) {
        fig_init(f, s, k, p, "pue", "kWh/kWh", c);
        double edc = dcem_acct_sums_edc(s), eit = dcem_acct_sums_it(s, c);
        fig_quality(f, dcem_acct_sums_edc_est(s) + it_est(s, c), fabs(edc) + eit);
        fig_value(f, edc, eit);
        if (f->status == DCEM_FIG_OK && f->value < 1) {
                f->status = DCEM_FIG_METERING_FAULT;
                f->value = NAN;
        }
        if (f->status == DCEM_FIG_OK && p && p->targets && p->targets->pue_max > 0) {
                f->target = p->targets->pue_max;
                f->target_met = f->value <= f->target;
        }
}

void dcem_fig_ppue_cooling(const dcem_acct_sums *s, dcem_window_kind k, int c, const dcem_fig_params *p,
                           dcem_figure *f) {
        fig_init(f, s, k, p, "ppue_cooling", "kWh/kWh", c);
        double eit = dcem_acct_sums_it(s, c), ec = s->kwh[DCEM_ACC_COOLING];
        fig_quality(f, s->est_kwh[DCEM_ACC_COOLING] + 2 * it_est(s, c), ec + 2 * eit);
        fig_value(f, ec + eit, eit);
        if (f->status == DCEM_FIG_OK && f->value < 1) {
                f->status = DCEM_FIG_METERING_FAULT;
                f->value = NAN;
        }
}

/* Claimable against grid import: grid import, but never more than what E_DC
 * leaves after on-site renewable consumed and metered green supply. */
double dcem_fig_claimable_kwh(const dcem_acct_sums *s) {
        double onsite = s->kwh[DCEM_ACC_ONSITE_RENEWABLE] - s->kwh[DCEM_ACC_EXPORT];
        if (onsite < 0)
                onsite = 0;
        double c = dcem_acct_sums_edc(s) - onsite - s->kwh[DCEM_ACC_GREEN_SUPPLY];
        if (c > s->kwh[DCEM_ACC_GRID_IMPORT])
                c = s->kwh[DCEM_ACC_GRID_IMPORT];
        return c > 0 ? c : 0;
}

double dcem_fig_claimed_kwh(const dcem_acct_sums *s) {
        double c = s->contract_kwh + s->cert_kwh, room = dcem_fig_claimable_kwh(s);
        return c > room ? room : (c > 0 ? c : 0);
}

void dcem_fig_ref(const dcem_acct_sums *s, dcem_window_kind k, const dcem_fig_params *p, dcem_figure *f) {
        fig_init(f, s, k, p, "ref", "1", 0);
        double onsite = s->kwh[DCEM_ACC_ONSITE_RENEWABLE] - s->kwh[DCEM_ACC_EXPORT];
        if (onsite < 0)
                onsite = 0;
        double num = onsite + s->kwh[DCEM_ACC_GREEN_SUPPLY] + dcem_fig_claimed_kwh(s);
        double edc = dcem_acct_sums_edc(s);
        fig_quality(f,
                    s->est_kwh[DCEM_ACC_ONSITE_RENEWABLE] + s->est_kwh[DCEM_ACC_GREEN_SUPPLY] +
                            dcem_acct_sums_edc_est(s),
                    s->kwh[DCEM_ACC_ONSITE_RENEWABLE] + s->kwh[DCEM_ACC_GREEN_SUPPLY] + fabs(edc));
        fig_value(f, num, edc);
        if (f->status == DCEM_FIG_OK && p && p->targets && p->targets->green_share_min > 0) {
                f->target = p->targets->green_share_min;
                f->target_met = f->value >= f->target;
        }
}

static const char *kg_unit(const dcem_fig_params *p) {
        return p && p->carbon && p->carbon->gas && strcmp(p->carbon->gas, "CO2e") == 0 ? "kgCO2e" : "kgCO2";
}

/* The factor's provenance on a carbon figure: table, region, data year. */
static void fig_provenance(dcem_figure *f, const dcem_fig_params *p) {
        const dcem_acct_carbon_conf *c = p ? p->carbon : NULL;
        if (!c)
                return;
        f->factor_table = c->table;
        f->factor_region = c->region;
        f->factor_year = c->grid_factor_year;
}

/* Location-based and market-based kg; *ret_factor, *ret_source. */
static double carbon_kg(const dcem_acct_sums *s, bool market, const dcem_fig_params *p, double *ret_factor,
                        const char **ret_source) {
        const dcem_acct_carbon_conf *c = p ? p->carbon : NULL;
        double grid = s->kwh[DCEM_ACC_GRID_IMPORT];
        if (!market) {
                *ret_factor = c ? c->grid_factor : NAN;
                *ret_source = c ? c->source : NULL;
                return grid * *ret_factor;
        }
        *ret_factor = c ? c->residual_factor : NAN;
        *ret_source = c ? c->residual_source : NULL;
        return (grid - dcem_fig_claimed_kwh(s)) * *ret_factor;
}

void dcem_fig_carbon(const dcem_acct_sums *s, dcem_window_kind k, bool market, const dcem_fig_params *p,
                     dcem_figure *f) {
        fig_init(f, s, k, p, market ? "carbon_market" : "carbon_location", kg_unit(p), 0);
        f->basis = market ? "market" : "location";
        double kg = carbon_kg(s, market, p, &f->factor, &f->factor_source);
        fig_provenance(f, p);
        fig_quality(f, s->est_kwh[DCEM_ACC_GRID_IMPORT], s->kwh[DCEM_ACC_GRID_IMPORT]);
        f->numerator = kg;
        f->denominator = 1;
        if (isfinite(kg) && s->n_intervals > 0) {
                f->status = DCEM_FIG_OK;
                f->value = kg;
        }
}

void dcem_fig_cue(const dcem_acct_sums *s, dcem_window_kind k, int c, bool market, const dcem_fig_params *p,
                  dcem_figure *f) {
        fig_init(f, s, k, p, market ? "cue_market" : "cue_location", NULL, c);
        f->unit = strcmp(kg_unit(p), "kgCO2e") == 0 ? "kgCO2e/kWh_it" : "kgCO2/kWh_it";
        f->basis = market ? "market" : "location";
        double kg = carbon_kg(s, market, p, &f->factor, &f->factor_source);
        fig_provenance(f, p);
        double eit = dcem_acct_sums_it(s, c);
        fig_quality(f, s->est_kwh[DCEM_ACC_GRID_IMPORT] + it_est(s, c), s->kwh[DCEM_ACC_GRID_IMPORT] + eit);
        fig_value(f, kg, eit);
}

void dcem_fig_sci(const dcem_acct_sums *s, dcem_window_kind k, int c, bool x_pue, const char *unit, double amount,
                  const dcem_fig_params *p, dcem_figure *f) {
        fig_init(f, s, k, p, "sci", NULL, c);
        f->functional_unit = unit ? unit : "kWh_it";
        f->basis = x_pue ? "x_pue" : "it_only";
        f->unit = strcmp(kg_unit(p), "kgCO2e") == 0 ? "gCO2e" : "gCO2"; /* per functional_unit */
        const dcem_acct_carbon_conf *cc = p ? p->carbon : NULL;
        f->factor = cc ? cc->grid_factor : NAN; /* SCI: location-based intensity only */
        f->factor_source = cc ? cc->source : NULL;
        fig_provenance(f, p);
        double eit = dcem_acct_sums_it(s, c), edc = dcem_acct_sums_edc(s);
        double e = eit;
        fig_quality(f, it_est(s, c) + (x_pue ? dcem_acct_sums_edc_est(s) : 0), eit + (x_pue ? fabs(edc) : 0));
        if (x_pue) {
                if (!(eit > 0)) {
                        f->status = DCEM_FIG_NO_DATA;
                        return;
                }
                if (edc < eit) { /* PUE < 1: the metering is wrong, so is this */
                        f->status = DCEM_FIG_METERING_FAULT;
                        return;
                }
                e = eit * (edc / eit);
        }
        double m = 0;
        const dcem_acct_compute_conf *cp = p ? p->compute : NULL;
        if (cp && cp->embodied_kgco2 > 0 && cp->lifetime_ns > 0) {
                m = cp->embodied_kgco2 * (double)(s->end_ns - s->start_ns) / (double)cp->lifetime_ns;
                f->embodied = true;
        }
        double r = unit ? amount : eit;
        /* R of a functional unit is only as complete as its sources' readings:
         * a host gone silent makes R smaller, so the figure says so */
        double rc = unit ? dcem_acct_sums_compute_completeness(s) : NAN;
        if (!isnan(rc) && rc < f->completeness) {
                f->completeness = rc;
                if (f->label == DCEM_LABEL_ANNUAL &&
                    rc < (p && p->completeness_threshold > 0 ? p->completeness_threshold : 0.95))
                        f->label = DCEM_LABEL_INTERIM;
        }
        fig_value(f, (e * f->factor + m) * 1000.0, r);
}

static int present_max(const dcem_acct_sums *s) {
        for (int c = 3; c >= 1; c--)
                if (s->it_categories & (1u << c))
                        return c;
        return 0;
}

int dcem_figures_all(const dcem_acct_sums *s, dcem_window_kind k, const dcem_fig_params *p, dcem_figure *out,
                     size_t cap, size_t *ret_n) {
        size_t n = 0;
        bool full = false;
#define PUT(call)                        \
        do {                             \
                dcem_figure f_;          \
                dcem_figure *f = &f_;    \
                call;                    \
                if (n < cap)             \
                        out[n++] = f_;   \
                else                     \
                        full = true;     \
        } while (0)
        for (int c = 1; c <= 3; c++) {
                if (!(s->it_categories & (1u << c)))
                        continue;
                PUT(dcem_fig_pue(s, k, c, p, f));
                PUT(dcem_fig_ppue_cooling(s, k, c, p, f));
                PUT(dcem_fig_cue(s, k, c, false, p, f));
                PUT(dcem_fig_cue(s, k, c, true, p, f));
                /* breakdown: IT, cooling, other, losses = E_DC - the rest */
                double edc = dcem_acct_sums_edc(s), eit = dcem_acct_sums_it(s, c);
                double parts[4] = { eit, s->kwh[DCEM_ACC_COOLING], s->kwh[DCEM_ACC_OTHER],
                                    edc - eit - s->kwh[DCEM_ACC_COOLING] - s->kwh[DCEM_ACC_OTHER] };
                double ests[4] = { it_est(s, c), s->est_kwh[DCEM_ACC_COOLING], s->est_kwh[DCEM_ACC_OTHER],
                                   dcem_acct_sums_edc_est(s) + it_est(s, c) + s->est_kwh[DCEM_ACC_COOLING] +
                                           s->est_kwh[DCEM_ACC_OTHER] };
                static const char *const names[4] = { "energy_it", "energy_cooling", "energy_other", "energy_losses" };
                for (int i = 0; i < 4; i++) {
                        PUT({
                                fig_init(f, s, k, p, names[i], "kWh", c);
                                fig_quality(f, ests[i], i == 3 ? fabs(edc) + eit : parts[i]);
                                f->numerator = parts[i];
                                f->denominator = 1;
                                if (s->n_intervals > 0) {
                                        f->status = parts[i] < 0 ? DCEM_FIG_METERING_FAULT : DCEM_FIG_OK;
                                        f->value = parts[i] < 0 ? NAN : parts[i];
                                }
                        });
                }
        }
        PUT({
                fig_init(f, s, k, p, "energy_dc", "kWh", 0);
                double edc = dcem_acct_sums_edc(s);
                fig_quality(f, dcem_acct_sums_edc_est(s), fabs(edc));
                f->numerator = edc;
                f->denominator = 1;
                if (s->n_intervals > 0) {
                        f->status = edc < 0 ? DCEM_FIG_METERING_FAULT : DCEM_FIG_OK;
                        f->value = edc < 0 ? NAN : edc;
                }
        });
        PUT(dcem_fig_ref(s, k, p, f));
        PUT(dcem_fig_carbon(s, k, false, p, f));
        PUT(dcem_fig_carbon(s, k, true, p, f));
        int sc = p && p->sci_category ? p->sci_category : present_max(s);
        if (sc) {
                PUT(dcem_fig_sci(s, k, sc, true, NULL, 0, p, f));
                PUT(dcem_fig_sci(s, k, sc, false, NULL, 0, p, f));
                for (size_t i = 0; p && i < p->nunits; i++)
                        PUT(dcem_fig_sci(s, k, sc, true, p->units[i].name, p->units[i].amount, p, f));
                /* declared functional units: R is the window's amount of the unit's account; both
                 * boundaries, labelled (SCI proper is x_pue) */
                for (size_t i = 0; p && i < p->nunit_names && i < DCEM_ACCT_MAX_UNITS; i++) {
                        if (!p->unit_names[i])
                                continue;
                        double amount = s->kwh[DCEM_ACC_UNIT0 + i];
                        PUT(dcem_fig_sci(s, k, sc, true, p->unit_names[i], amount, p, f));
                        PUT(dcem_fig_sci(s, k, sc, false, p->unit_names[i], amount, p, f));
                }
        }
#undef PUT
        *ret_n = n;
        return full ? -ENOBUFS : 0;
}
