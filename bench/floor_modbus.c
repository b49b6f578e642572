/* floor_modbus - the bare cost of polling SDM630 meters with libmodbus.
 *
 * The floor of the benchmark (bench/run, docs/BENCHMARKS.md): what the same
 * 14 float32 input registers of an SDM630-style map cost a client that does
 * nothing else, in a tight loop, blocking, over one TCP connection to a
 * gateway port. "merged": 2 requests per device-poll (0x00..0x11, the
 * per-phase V, A, W; 0x46..0x4F, Hz and the energy counters); "single": 14
 * requests of 2 registers (what collectd's modbus plugin sends).
 *
 * Usage: floor_modbus PORT merged|single SECONDS UNIT...
 * Prints one JSON line: polls, requests, cpu_s (this process, getrusage),
 * cpu_s_per_1000_polls. Exit 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "bench_clock.h"

#define MAX_UNITS 247

static const int single_addrs[14] = { 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0E, 0x10,
                                      0x46, 0x48, 0x4A, 0x4C, 0x4E };

/* Parses a decimal integer in [lo, hi] into *ret; -EINVAL if s is not one. */
static int parse_int(const char *s, long lo, long hi, long *ret)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}


int main(int argc, char **argv)
{
        long port, secs, units[MAX_UNITS];
        int nunits = argc - 4;
        if (argc < 5 || nunits > MAX_UNITS || parse_int(argv[1], 1, 65535, &port) < 0 ||
            parse_int(argv[3], 1, 3600, &secs) < 0 || (strcmp(argv[2], "merged") && strcmp(argv[2], "single"))) {
                fprintf(stderr, "usage: floor_modbus PORT merged|single SECONDS UNIT... (at most %d units)\n", MAX_UNITS);
                return 1;
        }
        for (int i = 0; i < nunits; i++)
                if (parse_int(argv[4 + i], 1, 247, &units[i]) < 0) {
                        fprintf(stderr, "floor_modbus: bad unit '%s'\n", argv[4 + i]);
                        return 1;
                }
        int merged = strcmp(argv[2], "merged") == 0;
        modbus_t *ctx = modbus_new_tcp("127.0.0.1", (int)port);
        if (!ctx || modbus_connect(ctx) < 0) {
                fprintf(stderr, "floor_modbus: connect 127.0.0.1:%ld: %s\n", port, modbus_strerror(errno));
                modbus_free(ctx);
                return 1;
        }
        uint16_t regs[32];
        long polls = 0, requests = 0, errors = 0;
        double c0 = cpu_s(), t_end = now_s() + (double)secs;
        while (now_s() < t_end) {
                for (int u = 0; u < nunits; u++) {
                        modbus_set_slave(ctx, (int)units[u]);
                        int bad = 0;
                        if (merged) {
                                bad |= modbus_read_input_registers(ctx, 0x00, 18, regs) != 18;
                                bad |= modbus_read_input_registers(ctx, 0x46, 10, regs) != 10;
                                requests += 2;
                        } else {
                                for (int k = 0; k < 14; k++)
                                        bad |= modbus_read_input_registers(ctx, single_addrs[k], 2, regs) != 2;
                                requests += 14;
                        }
                        errors += bad;
                        polls++;
                }
        }
        double c = cpu_s() - c0;
        modbus_close(ctx);
        modbus_free(ctx);
        printf("{\"tool\":\"floor_modbus\",\"mode\":\"%s\",\"polls\":%ld,\"requests\":%ld,\"errors\":%ld,"
               "\"cpu_s\":%.6f,\"cpu_s_per_1000_polls\":%.6f}\n",
               argv[2], polls, requests, errors, c, polls ? c * 1000.0 / (double)polls : 0.0);
        return errors ? 1 : 0;
}
