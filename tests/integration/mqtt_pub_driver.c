/* mqtt_pub_driver.c - drives the MQTT publisher (agent/pub_mqtt.c) on the
 * real loop, for the integration tests: reads a small YAML file
 *     site: s1
 *     state_dir: /tmp/...
 *     output: { mqtt: { url: ..., ... } }
 * applies the publisher's own schema to output.mqtt, and publishes synthetic
 * device batches at a given rate. Each batch spooled is announced on stdout
 * as "PUBLISHED <device> <seq>", so a test that kills the driver knows what
 * it had taken. At the end (or on SIGTERM) it waits for the spool to drain
 * (--drain-timeout) and closes the publisher cleanly.
 *
 * Usage: mqtt_pub_driver CONFIG --count N --rate R [--start-seq S]
 *        [--devices D] [--points P] [--status] [--agent-stats MS]
 *        [--hold] [--drain-timeout SEC] [--quiet]
 * --quiet: no PUBLISHED lines (for throughput figures); at the end one line
 * "RESULT published=N seconds=T" (first publish to drained).
 * Exit: 0 drained or stopped by a signal, 2 bad usage or config, 3 init
 * failed, 4 not drained in time.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "dcem/clock.h"
#include "dcem/diag.h"
#include "dcem/loop.h"
#include "dcem/node.h"
#include "dcem/pub_mqtt.h"
#include "dcem/sample.h"
#include "dcem/schema.h"
#include "log.h"

typedef struct drv {
        dcem_loop *loop;
        void *pub;
        uint64_t count, done, start_seq;
        unsigned devices, points;
        int64_t period_ns, next_ns;
        int64_t stats_ns, next_stats;
        bool status, hold, stopping, quiet;
        int64_t t_first;          /* monotonic time of the first publish */
        int64_t drain_deadline;   /* 0 until draining starts */
        int64_t drain_timeout_ns;
        int exit_code;
} drv;

static bool parse_u64(const char *s, uint64_t *ret) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
                return false;
        *ret = v;
        return true;
}

static void wake(void *core) { (void)core; }

static void publish_one(drv *d) {
        uint64_t seq = d->start_seq + d->done / d->devices;
        unsigned dev = (unsigned)(d->done % d->devices);
        char name[DCEM_NAME_MAX];
        snprintf(name, sizeof name, "pdu-%u", dev + 1);
        dcem_batch *b = NULL;
        if (dcem_batch_new(name, d->points, &b) < 0) {
                fprintf(stderr, "driver: out of memory\n");
                exit(3);
        }
        b->seq = seq;
        b->ts_ns = dcem_clock_utc(&dcem_clock_system);
        b->done_ns = b->ts_ns;
        for (unsigned i = 0; i < d->points; i++) {
                dcem_sample s = { 0 };
                snprintf(s.device, sizeof s.device, "%s", name);
                snprintf(s.point, sizeof s.point, "p%u_kw", i);
                snprintf(s.unit, sizeof s.unit, "kW");
                s.value = (double)seq + i * 0.25;
                s.ts_ns = b->ts_ns;
                s.quality = i == 1 ? DCEM_Q_ERROR : DCEM_Q_GOOD;
                if (s.quality == DCEM_Q_ERROR)
                        s.value = NAN;
                if (dcem_batch_add(&b, &s) < 0)
                        exit(3);
        }
        if (d->t_first == 0)
                d->t_first = dcem_clock_mono(&dcem_clock_system);
        int r = dcem_mqtt_publisher.publish(d->pub, b);
        dcem_batch_unref(b);
        if (d->quiet && r >= 0) {
                d->done++;
                return;
        }
        if (r < 0) {
                printf("REFUSED %s %" PRIu64 " %d\n", name, seq, r);
        } else {
                printf("PUBLISHED %s %" PRIu64 "\n", name, seq);
        }
        fflush(stdout);
        d->done++;
}

static void on_timer(dcem_loop *l, uint64_t id, void *ud) {
        (void)id;
        drv *d = ud;
        int64_t now = dcem_clock_mono(&dcem_clock_system);
        /* At most 1000 per turn, so acknowledgements are handled in between. */
        for (int k = 0; k < 1000 && !d->stopping && d->done < d->count && now >= d->next_ns; k++) {
                publish_one(d);
                d->next_ns += d->period_ns;
        }
        if (d->stats_ns > 0 && now >= d->next_stats) {
                char buf[2048];
                if (dcem_mqtt_stats_json(d->pub, buf, sizeof buf) >= 0) {
                        printf("STATS %s\n", buf);
                        fflush(stdout);
                        (void)dcem_mqtt_publish_json(d->pub, DCEM_MQTT_AGENT, "agent", buf, -1, false);
                }
                d->next_stats = now + d->stats_ns;
        }
        if ((d->done >= d->count && !d->hold) || d->stopping) {
                if (d->drain_deadline == 0)
                        d->drain_deadline = now + (d->stopping ? 3 * DCEM_NS_PER_S : d->drain_timeout_ns);
                int r = dcem_mqtt_publisher.flush(d->pub);
                dcem_mqtt_stats st;
                dcem_mqtt_get_stats(d->pub, &st);
                if (r == 0 && st.connected) {
                        printf("DRAINED sent=%" PRIu64 " acked=%" PRIu64 "\n", st.sent, st.acked);
                        printf("RESULT published=%" PRIu64 " seconds=%.3f\n", d->done,
                               (double)(now - d->t_first) / 1e9);
                        fflush(stdout);
                        dcem_loop_stop(l);
                        return;
                }
                if (now >= d->drain_deadline) {
                        printf("NOT-DRAINED backlog=%" PRIu64 " inflight=%" PRIu64 "\n", st.backlog, st.inflight);
                        fflush(stdout);
                        d->exit_code = d->stopping ? 0 : 4;
                        dcem_loop_stop(l);
                        return;
                }
        }
        int64_t next = now + 10 * DCEM_NS_PER_MS;
        if (d->done < d->count && d->next_ns < next)
                next = d->next_ns;
        (void)dcem_loop_add_timer(l, next, on_timer, d, NULL);
}

static void on_signal(dcem_loop *l, int fd, uint32_t ev, void *ud) {
        (void)l;
        (void)ev;
        drv *d = ud;
        struct signalfd_siginfo si;
        if (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
                d->stopping = true;
                d->drain_deadline = 0;
        }
}

static const char *scalar_of(const dcem_node *root, const char *key) {
        const dcem_node *n = dcem_node_get(root, key);
        return n && n->type == DCEM_NODE_SCALAR ? n->scalar : NULL;
}

int main(int argc, char **argv) {
        drv d = { .count = 10, .devices = 1, .points = 3 };
        double rate = 10;
        uint64_t drain_s = 60, stats_ms = 0;
        if (argc < 2) {
                fprintf(stderr, "usage: %s CONFIG [--count N] [--rate R] ...\n", argv[0]);
                return 2;
        }
        for (int i = 2; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : "";
                uint64_t u;
                if (!strcmp(a, "--status")) {
                        d.status = true;
                        continue;
                }
                if (!strcmp(a, "--quiet")) {
                        d.quiet = true;
                        continue;
                }
                if (!strcmp(a, "--hold")) {
                        d.hold = true;
                        continue;
                }
                if (!strcmp(a, "--rate")) {
                        char *end;
                        rate = strtod(v, &end);
                        if (*end || !(rate > 0 && rate <= 1e6))
                                return 2;
                } else if (!parse_u64(v, &u)) {
                        fprintf(stderr, "driver: bad value for %s\n", a);
                        return 2;
                } else if (!strcmp(a, "--count"))
                        d.count = u;
                else if (!strcmp(a, "--start-seq"))
                        d.start_seq = u;
                else if (!strcmp(a, "--devices") && u >= 1 && u <= 1000)
                        d.devices = (unsigned)u;
                else if (!strcmp(a, "--points") && u >= 1 && u <= DCEM_BATCH_MAX)
                        d.points = (unsigned)u;
                else if (!strcmp(a, "--agent-stats"))
                        stats_ms = u;
                else if (!strcmp(a, "--drain-timeout"))
                        drain_s = u;
                else {
                        fprintf(stderr, "driver: unknown option %s\n", a);
                        return 2;
                }
                i++;
        }
        d.period_ns = (int64_t)(1e9 / rate);
        d.stats_ns = (int64_t)stats_ms * DCEM_NS_PER_MS;
        dcem_log_set_level(LOG_DEBUG);
        setvbuf(stdout, NULL, _IOLBF, 0);

        dcem_diag diag = { 0 };
        dcem_node *root = NULL;
        const dcem_schema *sch = dcem_mqtt_publisher.schema;
        void *conf = NULL;
        int sfd = -1, code = 0, r;
        if (dcem_yaml_load_file(argv[1], &root, &diag) < 0) {
                code = 2;
                goto out;
        }
        const char *site = scalar_of(root, "site"), *state_dir = scalar_of(root, "state_dir");
        const dcem_node *outn = dcem_node_get(root, "output");
        const dcem_node *mq = outn ? dcem_node_get(outn, "mqtt") : NULL;
        if (!site || !state_dir || !mq) {
                fprintf(stderr, "%s: site, state_dir and output.mqtt are needed\n", argv[1]);
                code = 2;
                goto out;
        }
        conf = calloc(1, sch->size);
        if (!conf || dcem_schema_apply(sch, mq, conf, &diag) < 0) {
                fprintf(stderr, "CONFIG-ERROR\n");
                code = 2;
                goto out;
        }
        if (dcem_loop_new(&dcem_clock_system, &d.loop) < 0) {
                code = 3;
                goto out;
        }
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0 || dcem_loop_add_fd(d.loop, sfd, DCEM_EV_READ, on_signal, &d) < 0) {
                code = 3;
                goto out;
        }
        dcem_publisher_env env = { .loop = d.loop, .clock = &dcem_clock_system, .site = site, .state_dir = state_dir,
                                   .wake = wake };
        char err[512] = "";
        r = dcem_mqtt_publisher.init(&env, conf, &d.pub, err, sizeof err);
        if (r < 0) {
                fprintf(stderr, "INIT-ERROR %s (%s)\n", err, strerror(-r));
                code = 3;
                goto out;
        }
        printf("STARTED\n");
        if (d.status)
                for (unsigned i = 0; i < d.devices; i++) {
                        char name[32];
                        snprintf(name, sizeof name, "pdu-%u", i + 1);
                        r = dcem_mqtt_device_status(d.pub, name, true, dcem_clock_utc(&dcem_clock_system), NULL);
                        if (r < 0)
                                fprintf(stderr, "device status: %s\n", strerror(-r));
                }
        d.next_ns = dcem_clock_mono(&dcem_clock_system);
        if (d.count == 0) /* replaying a spool only: timed from the start */
                d.t_first = d.next_ns;
        d.next_stats = d.next_ns;
        d.drain_deadline = 0;
        d.drain_timeout_ns = (int64_t)drain_s * DCEM_NS_PER_S;
        (void)dcem_loop_add_timer(d.loop, d.next_ns, on_timer, &d, NULL);
        r = dcem_loop_run(d.loop);
        code = r < 0 ? 3 : d.exit_code;
        printf("EXIT %d\n", code);
out:
        for (size_t i = 0; i < diag.n; i++)
                fprintf(stderr, "%s\n", diag.msgs[i]);
        if (d.pub)
                dcem_mqtt_publisher.close(d.pub);
        dcem_loop_free(d.loop);
        if (sfd >= 0)
                close(sfd);
        if (conf)
                dcem_schema_free(sch, conf);
        free(conf);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
        return code;
}
