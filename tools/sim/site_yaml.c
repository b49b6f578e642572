/* site_yaml.c - load a dcem-sim site from YAML with the agent's own schema
 * machinery (agent/yaml.c, agent/schema.c), so errors read FILE:LINE:COL like
 * the agent's and unknown keys are errors.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/node.h"
#include "dcem/schema.h"
#include "sim.h"
#include "sim_site.h"

typedef struct y_dev {
        char *name;
        int kind;
        int profile;
        double rated_kw;
        double weight;
        char *ups;
        int64_t outlets;
        int64_t unit;
        bool own_port;
} y_dev;

typedef struct y_fault {
        char *device;
        int kind;
        int64_t at_ns, duration_ns, delay_ns;
        int64_t code;
} y_fault;

typedef struct y_snmp {
        char *community, *user, *auth_password, *priv_password;
} y_snmp;

typedef struct y_site {
        char *site;
        double latitude, longitude;
        int64_t seed;
        int64_t step_ns, record_ns;
        double carbon_factor;
        double outside_mean_c, outside_amplitude_c;
        double it_daily_amplitude, it_noise, cable_loss;
        int64_t units_per_port;
        int modbus_holes;
        y_snmp snmp;
        dcem_list devices;
        dcem_list faults;
} y_site;

#define KINDS "grid|export|pv|green|ups|it|cooling|other"
#define PROFILES "sdm630|iem3000|sunspec|sunspec-float|apc-rpdu2|raritan-pdu2|sentry4|eaton-epdu|ups-mib|pm5000"
#define FAULTS "none|silent|slow|exception|reset|wrap|nan|range"

static const dcem_schema_key dev_keys[] = {
        { "name", DCEM_T_STR, NULL, DCEM_REQUIRED | DCEM_NAME_LIKE, 0, 0, "a-z0-9_-", offsetof(y_dev, name), NULL,
          "Unique device name ([a-z0-9_-]+); also its name in the agent config." },
        { "kind", DCEM_T_ENUM, NULL, DCEM_REQUIRED, 0, 0, KINDS, offsetof(y_dev, kind), NULL,
          "What the device is in the power flow." },
        { "profile", DCEM_T_ENUM, NULL, DCEM_REQUIRED, 0, 0, PROFILES, offsetof(y_dev, profile), NULL,
          "The register map or MIB it answers with (Modbus: sdm630, iem3000, pm5000, sunspec = model 203, "
          "sunspec-float = model 213; SNMP: the rest)." },
        { "rated_kw", DCEM_T_DOUBLE, "0", 0, 0, 1e6, NULL, offsetof(y_dev, rated_kw), NULL,
          "it: mean load; ups: rating; pv: peak kW; green: contracted block; cooling: rating; other: base load." },
        { "weight", DCEM_T_DOUBLE, "1", 0, 0, 1e6, NULL, offsetof(y_dev, weight), NULL,
          "grid: share of the import; cooling: share of the cooling load." },
        { "ups", DCEM_T_STR, NULL, DCEM_NAME_LIKE, 0, 0, "a-z0-9_-", offsetof(y_dev, ups), NULL,
          "it: the UPS that feeds it (none: fed from the facility bus)." },
        { "outlets", DCEM_T_INT, "0", 0, 0, SIM_MAX_OUTLETS, NULL, offsetof(y_dev, outlets), NULL,
          "it with an SNMP PDU profile: metered outlets." },
        { "unit", DCEM_T_INT, "0", 0, 0, 247, NULL, offsetof(y_dev, unit), NULL,
          "Modbus unit id (0 = assigned)." },
        { "own_port", DCEM_T_BOOL, "false", 0, 0, 0, NULL, offsetof(y_dev, own_port), NULL,
          "Modbus: listen on a port of its own instead of behind a gateway port." },
        { NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL, NULL },
};
static const dcem_schema dev_schema = { "device", "A simulated device.", sizeof(y_dev), dev_keys, NULL };

static const dcem_schema_key fault_keys[] = {
        { "device", DCEM_T_STR, NULL, DCEM_REQUIRED | DCEM_NAME_LIKE, 0, 0, "a-z0-9_-", offsetof(y_fault, device),
          NULL, "The device." },
        { "kind", DCEM_T_ENUM, NULL, DCEM_REQUIRED, 0, 0, FAULTS, offsetof(y_fault, kind), NULL, "The fault." },
        { "at", DCEM_T_DURATION, "0s", 0, 0, 0, NULL, offsetof(y_fault, at_ns), NULL,
          "Simulated time after the start when it begins." },
        { "duration", DCEM_T_DURATION, "0s", 0, 0, 0, NULL, offsetof(y_fault, duration_ns), NULL,
          "How long it lasts (0 = for good)." },
        { "delay", DCEM_T_DURATION, "1s", 0, 0, 0, NULL, offsetof(y_fault, delay_ns), NULL, "slow: the delay." },
        { "code", DCEM_T_INT, "4", 0, 1, 255, NULL, offsetof(y_fault, code), NULL,
          "exception: the Modbus exception code." },
        { NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL, NULL },
};
static const dcem_schema fault_schema = { "fault", "A scheduled fault.", sizeof(y_fault), fault_keys, NULL };

static const dcem_schema_key snmp_keys[] = {
        { "community", DCEM_T_STR, "public", 0, 0, 0, NULL, offsetof(y_snmp, community), NULL, "v1/v2c community." },
        { "user", DCEM_T_STR, "dcemsim", 0, 0, 0, NULL, offsetof(y_snmp, user), NULL, "v3 user (SHA, AES)." },
        { "auth_password", DCEM_T_STR, "dcem-sim-auth", 0, 0, 0, NULL, offsetof(y_snmp, auth_password), NULL,
          "v3 auth passphrase (8+ characters)." },
        { "priv_password", DCEM_T_STR, "dcem-sim-priv", 0, 0, 0, NULL, offsetof(y_snmp, priv_password), NULL,
          "v3 privacy passphrase (8+ characters)." },
        { NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL, NULL },
};
static const dcem_schema snmp_schema = { "snmp", "SNMP credentials of every simulated agent.", sizeof(y_snmp),
                                         snmp_keys, NULL };

static const dcem_schema_key site_keys[] = {
        { "site", DCEM_T_STR, "sim-dc", DCEM_NAME_LIKE, 0, 0, "a-z0-9-", offsetof(y_site, site), NULL,
          "Site name (also the agent config's)." },
        { "latitude", DCEM_T_DOUBLE, "31.23", 0, -90, 90, NULL, offsetof(y_site, latitude), NULL, "For the sun." },
        { "longitude", DCEM_T_DOUBLE, "121.47", 0, -180, 180, NULL, offsetof(y_site, longitude), NULL,
          "For the sun and the local day." },
        { "seed", DCEM_T_INT, "1", 0, 0, 9e15, NULL, offsetof(y_site, seed), NULL, "Noise seed." },
        { "step", DCEM_T_DURATION, "1s", 0, 0.001, 60, NULL, offsetof(y_site, step_ns), NULL,
          "Integration step: power is constant within a step." },
        { "record_interval", DCEM_T_DURATION, "15m", 0, 1, 86400, NULL, offsetof(y_site, record_ns), NULL,
          "Truth record cadence (on the UTC grid); a multiple of step." },
        { "carbon_factor", DCEM_T_DOUBLE, "0.5306", 0, 0, 10, NULL, offsetof(y_site, carbon_factor), NULL,
          "Location-based grid factor, kgCO2/kWh." },
        { "outside_mean_c", DCEM_T_DOUBLE, "18", 0, -60, 60, NULL, offsetof(y_site, outside_mean_c), NULL,
          "Mean outside air temperature." },
        { "outside_amplitude_c", DCEM_T_DOUBLE, "6", 0, 0, 40, NULL, offsetof(y_site, outside_amplitude_c), NULL,
          "Daily swing (peak at 15:00 solar time)." },
        { "it_daily_amplitude", DCEM_T_DOUBLE, "0.08", 0, 0, 0.9, NULL, offsetof(y_site, it_daily_amplitude),
          NULL, "IT load daily swing, fraction of the mean." },
        { "it_noise", DCEM_T_DOUBLE, "0.03", 0, 0, 0.5, NULL, offsetof(y_site, it_noise), NULL,
          "IT load noise, fraction of the mean." },
        { "cable_loss", DCEM_T_DOUBLE, "0.01", 0, 0, 0.2, NULL, offsetof(y_site, cable_loss), NULL,
          "Distribution loss between UPS and PDU, fraction." },
        { "units_per_port", DCEM_T_INT, "247", 0, 1, 247, NULL, offsetof(y_site, units_per_port), NULL,
          "Modbus units behind one gateway port." },
        { "modbus_holes", DCEM_T_ENUM, "exception", 0, 0, 0, "exception|zero", offsetof(y_site, modbus_holes), NULL,
          "How the Modbus meters answer a read covering registers their map does not define, inside the map's "
          "span: exception (2, illegal data address) or zero (those registers read 0). Outside the span: always "
          "exception 2. The command line's --modbus-holes overrides it." },
        { "snmp", DCEM_T_MAP, NULL, 0, 0, 0, NULL, offsetof(y_site, snmp), &snmp_schema, "SNMP credentials." },
        { "devices", DCEM_T_LIST, NULL, DCEM_REQUIRED, 0, 0, NULL, offsetof(y_site, devices), &dev_schema,
          "The devices." },
        { "faults", DCEM_T_LIST, NULL, 0, 0, 0, NULL, offsetof(y_site, faults), &fault_schema,
          "Faults on a schedule." },
        { NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL, NULL },
};
static const dcem_schema site_schema = { "sim-site", "A dcem-sim site.", sizeof(y_site), site_keys, NULL };

/* The n-th member of a list node (for error positions), or the list itself. */
static const dcem_node *nth(const dcem_node *list, size_t i)
{
        const dcem_node *c = list ? list->child : NULL;
        while (c && i--)
                c = c->next;
        return c ? c : list;
}

static bool profile_fits(sim_kind k, sim_profile p)
{
        switch (k) {
        case SIM_K_UPS:
                return p == SIM_P_UPSMIB;
        case SIM_K_IT:
                return p != SIM_P_UPSMIB;
        default:
                return !sim_profile_is_snmp(p);
        }
}

static void copy_str(char *dst, size_t size, const char *src)
{
        snprintf(dst, size, "%s", src ? src : "");
}

static int build_site(sim_site *s, const y_site *y, const dcem_node *root, dcem_diag *diag)
{
        const dcem_node *ldev = dcem_node_get(root, "devices"), *lf = dcem_node_get(root, "faults");
        const y_dev *yd = y->devices.items;
        const y_fault *yf = y->faults.items;
        int errors = 0, r;

        copy_str(s->name, sizeof(s->name), y->site);
        s->latitude = y->latitude;
        s->longitude = y->longitude;
        s->seed = (uint64_t)y->seed;
        s->step_ms = y->step_ns / 1000000;
        s->record_ms = y->record_ns / 1000000;
        s->carbon_factor = y->carbon_factor;
        s->t_mean_c = y->outside_mean_c;
        s->t_amp_c = y->outside_amplitude_c;
        s->it_daily_amp = y->it_daily_amplitude;
        s->it_noise = y->it_noise;
        s->cable_loss = y->cable_loss;
        s->units_per_port = (int)y->units_per_port;
        s->modbus_holes = y->modbus_holes == 1 ? SIM_HOLES_ZERO : SIM_HOLES_EXCEPTION;
        copy_str(s->snmp_community, sizeof(s->snmp_community), y->snmp.community);
        copy_str(s->snmp_user, sizeof(s->snmp_user), y->snmp.user);
        copy_str(s->snmp_auth_pass, sizeof(s->snmp_auth_pass), y->snmp.auth_password);
        copy_str(s->snmp_priv_pass, sizeof(s->snmp_priv_pass), y->snmp.priv_password);
        if (s->step_ms <= 0 || s->record_ms % s->step_ms != 0) {
                const dcem_node *n = dcem_node_get(root, "step");
                dcem_diag_add(diag, root->file, n ? n->line : 0, n ? n->col : 0,
                              "step: must divide record_interval into whole milliseconds");
                errors++;
        }
        if (strlen(s->snmp_auth_pass) < 8 || strlen(s->snmp_priv_pass) < 8) {
                dcem_diag_add(diag, root->file, 0, 0, "snmp: v3 passphrases need at least 8 characters");
                errors++;
        }

        for (size_t i = 0; i < y->devices.n; i++) {
                const dcem_node *n = nth(ldev, i);
                if (sim_site_find(s, yd[i].name) >= 0) {
                        dcem_diag_add(diag, n->file, n->line, n->col, "devices[%zu].name: duplicate device \"%s\"",
                                      i, yd[i].name);
                        errors++;
                        continue;
                }
                if (!profile_fits((sim_kind)yd[i].kind, (sim_profile)yd[i].profile)) {
                        dcem_diag_add(diag, n->file, n->line, n->col,
                                      "devices[%zu].profile: %s does not fit a device of kind %s", i,
                                      sim_profile_name((sim_profile)yd[i].profile), sim_kind_name((sim_kind)yd[i].kind));
                        errors++;
                        continue;
                }
                r = sim_site_add(s, yd[i].name, (sim_kind)yd[i].kind, (sim_profile)yd[i].profile, yd[i].rated_kw,
                                 yd[i].weight, -1, yd[i].kind == SIM_K_IT ? (int)yd[i].outlets : 0, NULL);
                if (r < 0) {
                        dcem_diag_add(diag, n->file, n->line, n->col, "devices[%zu]: cannot add (%s)", i,
                                      strerror(-r));
                        errors++;
                        continue;
                }
                s->devs[s->ndevs - 1].unit = (int)yd[i].unit;
                s->devs[s->ndevs - 1].own_port = yd[i].own_port;
        }
        /* Second pass: UPS references (a UPS may be listed after its PDUs). */
        for (size_t i = 0; i < y->devices.n; i++) {
                if (!yd[i].ups)
                        continue;
                const dcem_node *n = nth(ldev, i);
                int di = sim_site_find(s, yd[i].name), ui = sim_site_find(s, yd[i].ups);
                if (di < 0)
                        continue;
                if (yd[i].kind != SIM_K_IT || ui < 0 || s->devs[ui].kind != SIM_K_UPS) {
                        dcem_diag_add(diag, n->file, n->line, n->col,
                                      "devices[%zu].ups: \"%s\" is not a device of kind ups (and only kind it has a ups)",
                                      i, yd[i].ups);
                        errors++;
                        continue;
                }
                s->devs[di].ups = ui;
        }
        size_t ngrid = 0;
        for (size_t i = 0; i < s->ndevs; i++)
                ngrid += s->devs[i].kind == SIM_K_GRID;
        if (ngrid == 0 && y->devices.n > 0) {
                dcem_diag_add(diag, root->file, ldev ? ldev->line : 0, ldev ? ldev->col : 0,
                              "devices: at least one device of kind grid is needed (the facility's import)");
                errors++;
        }

        if (y->faults.n > SIM_MAX_FAULTS) {
                dcem_diag_add(diag, root->file, lf->line, lf->col, "faults: at most %d", SIM_MAX_FAULTS);
                return -EINVAL;
        }
        if (y->faults.n) {
                s->faults = calloc(y->faults.n, sizeof(*s->faults));
                if (!s->faults)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < y->faults.n; i++) {
                const dcem_node *n = nth(lf, i);
                int di = sim_site_find(s, yf[i].device);
                if (di < 0) {
                        dcem_diag_add(diag, n->file, n->line, n->col, "faults[%zu].device: no device \"%s\"", i,
                                      yf[i].device);
                        errors++;
                        continue;
                }
                sim_fault_spec *f = &s->faults[s->nfaults++];
                f->dev = di;
                f->kind = (sim_fault_kind)yf[i].kind;
                f->at_ms = yf[i].at_ns / 1000000;
                f->dur_ms = yf[i].duration_ns / 1000000;
                f->delay_ms = yf[i].delay_ns / 1000000;
                f->code = (int)yf[i].code;
        }
        if (errors)
                return -EINVAL;
        if (sim_site_place(s) < 0) {
                dcem_diag_add(diag, root->file, 0, 0, "devices: cannot assign Modbus unit ids");
                return -EINVAL;
        }
        return 0;
}

int sim_site_load(const char *path, sim_site *ret_site, dcem_diag *diag)
{
        dcem_node *root = NULL;
        y_site y;
        sim_site s;
        int r;

        r = dcem_yaml_load_file(path, &root, diag);
        if (r < 0)
                return r;
        memset(&y, 0, sizeof(y));
        r = dcem_schema_apply(&site_schema, root, &y, diag);
        if (r == 0) {
                sim_site_defaults(&s);
                r = build_site(&s, &y, root, diag);
                if (r < 0)
                        sim_site_free(&s);
                else
                        *ret_site = s;
        }
        dcem_schema_free(&site_schema, &y);
        dcem_node_free(root);
        return r;
}

void sim_site_doc(FILE *out)
{
        dcem_schema_doc(&site_schema, "", out);
}
