/* modbus_collector - the Modbus collector alone, next to the floor.
 *
 * Issue 4's CPU goal is about the collector: "CPU within 1.3x the bare loop"
 * (bench/floor_modbus.c: libmodbus, blocking, one connection, the merged
 * requests). The whole agent also formats JSON and talks MQTT; this driver
 * runs only what the collector needs: dcem's event loop (agent/loop.c) and
 * scheduler (agent/sched.c) with the Modbus collector behind the collector
 * seam (dcem_modbus_collector: planning, MBAP framing on the loop, decoding,
 * samples into batches), and throws the batches away (no publisher).
 *
 * The devices are the floor's: unit ids behind one gateway port of dcem-sim
 * (or any Modbus TCP server), one connection (max_connections 1). Each round
 * polls every device once (dcem_sched_poll_all_now) and runs the loop until
 * every poll is done, so the devices of a round are in flight together, as
 * in the agent; rounds follow each other without a pause, as the floor's
 * loop does.
 *
 * Usage: modbus_collector [--rounds N] PORT SECONDS MAP UNIT...
 *   MAP: bench14 (the floor's 14 float32 input registers of an SDM630:
 *        0x00..0x10 and 0x46..0x4E, two merged requests), or the name of a
 *        catalog profile under DCEM_SOURCE_DIR/conf/profiles (sdm630, ...).
 * Prints one JSON line: polls, requests, errors (polls not status 0, and
 * samples not good), cpu_s (this process, getrusage, the polling phase only),
 * cpu_s_per_1000_polls, requests_per_poll. --rounds N: exactly N rounds
 * whatever the time (for instruction counts under callgrind: the same work
 * before and after a change). Exit 0, 1 on errors, 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_clock.h"
#include "dcem/collector.h"
#include "dcem/config.h"
#include "dcem/loop.h"
#include "dcem/node.h"
#include "dcem/sched.h"
#include "dcem/schema.h"
#include "modbus/modbus.h"

#define MAX_UNITS 247

static const int bench14_regs[14] = { 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0E, 0x10,
                                      0x46, 0x48, 0x4A, 0x4C, 0x4E };

typedef struct counts {
        long polls, bad_polls, samples, bad_samples;
} counts;

/* The sink: count, check, drop (the scheduler frees the batch). */
static void on_batch(void *ud, dcem_batch *b)
{
        counts *c = ud;
        c->polls++;
        c->bad_polls += b->status != 0;
        c->samples += (long)b->n;
        for (size_t i = 0; i < b->n; i++)
                c->bad_samples += b->samples[i].quality != DCEM_Q_GOOD;
}

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

/* The modbus block of one device, as YAML text into buf. 0 or -ENOBUFS. */
static int block_text(char *buf, size_t len, long port, long unit, const char *map)
{
        size_t o = (size_t)snprintf(buf, len, "address: tcp://127.0.0.1:%ld\nunit: %ld\nmax_connections: 1\n", port,
                                    unit);
        if (o >= len)
                return -ENOBUFS;
        if (strcmp(map, "bench14") != 0) {
                o += (size_t)snprintf(buf + o, len - o, "profile: %s\n", map);
                return o < len ? 0 : -ENOBUFS;
        }
        o += (size_t)snprintf(buf + o, len - o, "points:\n");
        for (int k = 0; k < 14 && o < len; k++)
                o += (size_t)snprintf(buf + o, len - o,
                                      "  - { name: p%02x, function: input, register: %d, type: float32 }\n",
                                      bench14_regs[k], bench14_regs[k]);
        return o < len ? 0 : -ENOBUFS;
}

/* "requests=N" of the collector's stats line. */
static long stat_requests(const void *state)
{
        char line[256];
        dcem_modbus_stats_line(state, line, sizeof line);
        const char *p = strstr(line, "requests=");
        return p ? strtol(p + 9, NULL, 10) : 0;
}

int main(int argc, char **argv)
{
        long port, secs, units[MAX_UNITS], max_rounds = 0;
        if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
                if (parse_int(argv[2], 1, 100000000, &max_rounds) < 0) {
                        fprintf(stderr, "modbus_collector: bad --rounds '%s'\n", argv[2]);
                        return 2;
                }
                argv += 2;
                argc -= 2;
        }
        int n = argc - 4;
        const char *map = argc > 3 ? argv[3] : "";
        if (argc < 5 || n > MAX_UNITS || parse_int(argv[1], 1, 65535, &port) < 0 ||
            parse_int(argv[2], 1, 3600, &secs) < 0) {
                fprintf(stderr, "usage: modbus_collector PORT SECONDS bench14|PROFILE UNIT... (at most %d units)\n",
                        MAX_UNITS);
                return 2;
        }
        for (int i = 0; i < n; i++)
                if (parse_int(argv[4 + i], 1, 247, &units[i]) < 0) {
                        fprintf(stderr, "modbus_collector: bad unit '%s'\n", argv[4 + i]);
                        return 2;
                }
        const dcem_collector_ops *ops = &dcem_modbus_collector;
        const char *profiles = DCEM_SOURCE_DIR "/conf/profiles";
        dcem_diag diag = { 0 };
        dcem_node *roots[MAX_UNITS] = { 0 };
        void *confs[MAX_UNITS] = { 0 }, *states[MAX_UNITS] = { 0 };
        dcem_loop *loop = NULL;
        dcem_sched *sched = NULL;
        counts c = { 0 };
        int rc = 1;

        if (dcem_loop_new(&dcem_clock_system, &loop) < 0)
                return 1;
        dcem_collector_env env = { .loop = loop, .clock = &dcem_clock_system, .profiles_dir = profiles };
        dcem_sched_hooks hooks = { .batch = on_batch, .ud = &c };
        dcem_sched_opts so = { .backoff_cap = 1, .seed = 1 };
        if (dcem_sched_new(loop, &so, &hooks, &sched) < 0)
                goto out;
        for (int i = 0; i < n; i++) {
                char text[4096], name[32], err[256] = "";
                if (block_text(text, sizeof text, port, units[i], map) < 0 ||
                    dcem_yaml_load_buffer("bench", text, strlen(text), &roots[i], &diag) < 0)
                        goto config_error;
                confs[i] = calloc(1, ops->schema->size);
                if (!confs[i] || dcem_schema_apply(ops->schema, roots[i], confs[i], &diag) < 0 ||
                    ops->check(confs[i], roots[i], profiles, &diag) < 0)
                        goto config_error;
                snprintf(name, sizeof name, "meter-%ld", units[i]);
                dcem_device_conf dc = { .name = name, .modbus = roots[i], .interval_ns = 3600 * DCEM_NS_PER_S,
                                        .timeout_ns = 5 * DCEM_NS_PER_S };
                if (ops->init(&env, &dc, confs[i], &states[i], err, sizeof err) < 0) {
                        fprintf(stderr, "modbus_collector: %s: %s\n", name, err);
                        goto out;
                }
                if (dcem_sched_add(sched, name, dc.interval_ns, dc.timeout_ns, ops, states[i]) < 0)
                        goto out;
        }
        /* one round first: connections, and SunSpec discovery for profile sunspec */
        long req0 = 0, rounds = 0;
        if (dcem_sched_poll_all_now(sched) < 0)
                goto out;
        while (dcem_sched_in_flight(sched) > 0)
                if (dcem_loop_run_once(loop, 100 * DCEM_NS_PER_MS) < 0)
                        goto out;
        for (int i = 0; i < n; i++)
                req0 += stat_requests(states[i]);
        c = (counts){ 0 };
        double c0 = cpu_s(), t_end = now_s() + (double)secs;
        while (max_rounds ? rounds < max_rounds : now_s() < t_end) {
                if (dcem_sched_poll_all_now(sched) < 0)
                        goto out;
                while (dcem_sched_in_flight(sched) > 0)
                        if (dcem_loop_run_once(loop, 100 * DCEM_NS_PER_MS) < 0)
                                goto out;
                rounds++;
        }
        double cpu = cpu_s() - c0;
        long requests = -req0;
        for (int i = 0; i < n; i++)
                requests += stat_requests(states[i]);
        printf("{\"tool\":\"modbus_collector\",\"map\":\"%s\",\"devices\":%d,\"rounds\":%ld,\"polls\":%ld,"
               "\"requests\":%ld,\"errors\":%ld,\"samples\":%ld,\"cpu_s\":%.6f,\"cpu_s_per_1000_polls\":%.6f,"
               "\"requests_per_poll\":%.3f}\n",
               map, n, rounds, c.polls, requests, c.bad_polls + c.bad_samples, c.samples, cpu,
               c.polls ? cpu * 1000.0 / (double)c.polls : 0.0, c.polls ? (double)requests / (double)c.polls : 0.0);
        rc = c.polls > 0 && c.bad_polls == 0 && c.bad_samples == 0 ? 0 : 1;
        goto out;
config_error:
        for (size_t k = 0; k < diag.n; k++)
                fprintf(stderr, "modbus_collector: %s\n", diag.msgs[k]);
out:
        dcem_sched_free(sched);
        for (int i = 0; i < n; i++) {
                ops->close(states[i]);
                if (confs[i])
                        dcem_schema_free(ops->schema, confs[i]);
                free(confs[i]);
                dcem_node_free(roots[i]);
        }
        dcem_loop_free(loop);
        dcem_diag_clear(&diag);
        return rc;
}
