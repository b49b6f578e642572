/* bench_clock.h - wall and CPU time for the bench clients (floor_modbus.c,
 * floor_snmp.c, sim_rate.c): monotonic seconds, and this process's user +
 * system CPU seconds. */
#ifndef DCEM_BENCH_CLOCK_H
#define DCEM_BENCH_CLOCK_H

#include <sys/resource.h>
#include <time.h>

static inline double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double cpu_s(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6;
}

#endif
