/* sim_mb.h - dcem-sim's Modbus TCP server (mbserver.c). */
#ifndef DCEM_SIM_MB_H
#define DCEM_SIM_MB_H

#include <stdbool.h>
#include "sim_rt.h"

typedef struct sim_mb sim_mb;

/* Concurrent client connections served; the process's descriptor limit
 * (RLIMIT_NOFILE) is the other bound. */
#define SIM_MB_MAX_CLIENTS 60000

/* Listen on listen_addr, one port per rt->site.nports (want_ports[i], or a
 * free one when 0 or absent), set every Modbus device's port, and serve from
 * a thread of its own. 0 and *ret, or -errno (nothing left running). */
int sim_mb_start(sim_rt *rt, const char *listen_addr, const int *want_ports, int nwant, sim_mb **ret);
void sim_mb_stop(sim_mb *s); /* accepts NULL; joins the thread, closes every socket */
int sim_mb_nports(const sim_mb *s);
int sim_mb_port(const sim_mb *s, int i);
bool sim_mb_port_is_gateway(const sim_mb *s, int i);
int sim_mb_nclients(const sim_mb *s); /* connections open now (read racily: for status) */

#endif
