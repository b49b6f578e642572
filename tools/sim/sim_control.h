/* sim_control.h - dcem-sim's control commands (control.c). */
#ifndef DCEM_SIM_CONTROL_H
#define DCEM_SIM_CONTROL_H

#include "sim_rt.h"

#define SIM_CONTROL_LINE_MAX 512

/* Execute one command line under the runtime lock (the caller holds it).
 * Returns a malloc'd JSON line ({"ok":true,...} or {"ok":false,"error":..}),
 * or NULL when memory runs out. */
char *sim_control_exec(sim_rt *rt, const char *line);

#endif
