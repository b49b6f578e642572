/* sim_site.h - loading a dcem-sim site from YAML (site_yaml.c). Apart from
 * sim.h so the physics and its tests need no YAML machinery. */
#ifndef DCEM_SIM_SITE_H
#define DCEM_SIM_SITE_H

#include <stdio.h>
#include "dcem/diag.h"
#include "sim.h"

/* Load and validate a site file; every error goes to diag as FILE:LINE:COL.
 * 0 and *ret_site filled (free with sim_site_free), or -EINVAL / -errno with
 * *ret_site untouched. */
int sim_site_load(const char *path, sim_site *ret_site, dcem_diag *diag);
/* The Markdown reference of the site file's keys. */
void sim_site_doc(FILE *out);

#endif
