/* sim_rt.h - dcem-sim's runtime: the model behind one lock, simulated time
 * mapped onto the monotonic clock (--speed), the fault schedule and the
 * truth writer. The protocol threads call sim_rt_sync() under the lock
 * before reading any value, so every answer is the model at "now".
 */
#ifndef DCEM_SIM_RT_H
#define DCEM_SIM_RT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "sim.h"

typedef struct sim_rt {
        pthread_mutex_t lock;
        sim_site site;
        sim_model model;
        double speed;      /* simulated seconds per wall second; 0 = frozen */
        int64_t sim0_ms;   /* simulated time at mono0 */
        int64_t mono0_ns;
        int64_t start_ms;  /* simulated start (fault schedule origin) */
        FILE *truth;       /* JSON lines, or NULL */
        int64_t last_record_ms; /* end of the last truth record */
        sim_totals last_totals; /* cumulative at last_record_ms */
        /* Truth per wall-clock window (--truth-wall): a client stamping its
         * readings with its own UTC clock sees simulated time run `speed`
         * times faster; wall_record lines give the energies between the
         * simulated instants that the wall-clock grid boundaries map to. */
        int64_t wall0_ns;       /* CLOCK_REALTIME read together with mono0_ns */
        int64_t wall_win_ms;    /* window on the UTC wall grid; 0 = no wall records */
        int64_t wall_next_ms;   /* the next wall boundary to write */
        int64_t wall_last_ms;   /* wall instant of the last boundary written (or of the start) */
        int64_t wall_last_sim_ms; /* the simulated instant it maps to */
        sim_totals wall_totals; /* cumulative at wall_last_sim_ms */
        atomic_uint_fast64_t mb_requests, mb_exceptions, mb_dropped, mb_refused, snmp_requests, snmp_dropped;
        /* mb_requests: Modbus requests received (a held-back slow one once);
         * mb_dropped: requests swallowed by a silent fault; mb_refused:
         * connections closed at accept (client cap or no descriptor left);
         * snmp_requests: datagrams received by the SNMP agents (snmp_dropped:
         * those of them swallowed by a silent fault). */
        atomic_int mb_clients, mb_clients_peak; /* Modbus connections open now, at most so far */
} sim_rt;

int64_t sim_mono_ns(void);
/* Initialise: model at start_ms; truth may be NULL (not owned... closed by fini). */
int sim_rt_init(sim_rt *rt, int64_t start_ms, double speed, FILE *truth);
void sim_rt_fini(sim_rt *rt);
/* Turn on wall_record truth lines for windows of win_ms on the UTC wall grid
 * (needs a truth file and speed > 0): the first window runs from the wall
 * instant of the simulated start (wall0) to the next grid boundary and is
 * partial. -EINVAL (no truth, speed 0, win_ms outside 1 ms .. 1 day). */
int sim_rt_truth_wall(sim_rt *rt, int64_t win_ms);
/* The simulated instant (ms) a UTC wall instant maps to: sim0 + (wall -
 * wall0) x speed, rounded to the nearest ms. Pure. */
int64_t sim_rt_wall_to_sim(const sim_rt *rt, int64_t wall_ms);
/* Lock held: the simulated time now. */
int64_t sim_rt_now(const sim_rt *rt);
/* Lock held: advance the model to now (applying scheduled faults at their
 * exact simulated instants, writing truth records at boundaries); returns now. */
int64_t sim_rt_sync(sim_rt *rt);
/* Lock held: jump simulated time forward by ms (control "advance"). */
int64_t sim_rt_skip(sim_rt *rt, int64_t ms);
/* Lock held: the cumulative truth at now as one JSON line (malloc'd), or NULL. */
char *sim_rt_truth_json(sim_rt *rt, const char *type);

/* ISO-8601 UTC with milliseconds into buf (>= 25 bytes). */
void sim_fmt_time(char *buf, size_t size, int64_t t_ms);

#endif
