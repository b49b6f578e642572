/* agent.c - the running agent: collectors and scheduler of one configuration
 * generation, per-publisher bounded queues, and the agent's own metrics.
 *
 * Flow: the scheduler finishes a poll -> on_batch() pushes the batch into the
 * queue of every publisher (a full queue drops its oldest batch and counts
 * it) -> pump() offers each queue's head to its publisher until it pushes
 * back (-EAGAIN; the publisher calls wake() when it can take more). The drop
 * and failure counters are published every interval as device "_agent", so a
 * consumer sees exactly what was lost and where; and, at the period the
 * publishers ask (output.mqtt.self_metrics_interval), the self-metrics
 * message (dcem/selfmetrics.h: polls per collector type, queues, delivery,
 * RSS, CPU) as their record stream "agent".
 *
 * Accounting (agent/acct_runtime.c): every batch is also fed to the energy
 * accounting; its records (closed intervals and roll-ups on stream
 * "intervals", the real-time view on "metrics") go to every publisher that
 * carries records (publish_record), once the accounting state behind them
 * is saved. --once runs no accounting.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acct_runtime.h"
#include "compute_remote.h"
#include "agent.h"
#include "dcem/accounting.h"
#include "dcem/build_config.h"
#include "dcem/queue.h"
#include "dcem/sched.h"
#include "dcem/selfmetrics.h"
#include "log.h"

typedef struct pub_slot {
        const dcem_publisher_ops *ops;
        void *state;
        dcem_queue *q;
        uint64_t failed;  /* batches the publisher refused with an error */
        uint64_t records_failed; /* accounting records it refused (-EAGAIN included: records are not queued) */
        uint64_t carried_dropped_batches, carried_dropped_samples; /* from earlier generations */
} pub_slot;

typedef struct generation {
        dcem_config *cfg;
        dcem_sched *sched;
        void **cstate;     /* per device: the collector's state */
        size_t ndev;
        pub_slot *pubs;
        size_t npubs;
        dcem_publisher_env penv;
        dcem_collector_env cenv;
} generation;

struct dcem_agent {
        dcem_loop *loop;
        dcem_agent_opts opts;
        generation g;
        /* After a reload, the previous generation's scheduler and collectors
         * live on (stopped) until their polls in flight finish, so a SIGHUP
         * loses no reading; its publishers were closed at the swap. */
        generation retiring;
        uint64_t retire_timer;
        uint64_t metrics_timer;
        uint64_t metrics_seq;
        uint64_t selfmetrics_timer; /* <prefix>/<site>/agent (publish_record stream "agent") */
        int64_t start_mono;
        unsigned once_failed;
        dcem_ratelimit rl_pub;
        dcem_acct_rt *acct; /* NULL with --once */
};

/* A strong reference: config.c and config_schema.c refer to the accounting
 * schema weakly (their unit tests link without it), and a weak reference
 * alone does not pull accounting_schema.o out of the dcem_core archive. */
const dcem_schema *const dcem_agent_accounting_schema = &dcem_accounting_schema;

static void pump(dcem_agent *a);
static void generation_free(generation *g);

static void on_wake(void *core) { pump(core); }

static void on_batch(void *ud, dcem_batch *b) {
        dcem_agent *a = ud;
        if (a->opts.once && b->status != 0) {
                a->once_failed++;
                log_error("device %s: %s", b->device, b->error[0] ? b->error : strerror(-b->status));
        }
        if (a->acct)
                dcem_acct_rt_feed(a->acct, b);
        for (size_t i = 0; i < a->g.npubs; i++)
                dcem_queue_push(a->g.pubs[i].q, b);
        pump(a);
}

/* An accounting record: to every publisher that carries records. */
static void on_record(void *ud, const char *stream, const char *json, size_t len) {
        dcem_agent *a = ud;
        int64_t now = dcem_clock_mono(dcem_loop_clock(a->loop));
        for (size_t i = 0; i < a->g.npubs; i++) {
                pub_slot *s = &a->g.pubs[i];
                if (!s->ops->publish_record)
                        continue;
                int r = s->ops->publish_record(s->state, stream, json, len);
                if (r < 0) {
                        s->records_failed++;
                        dcem_log_limited(&a->rl_pub, now, LOG_ERR,
                                         "output %s: could not publish an accounting record (%s): %s (%" PRIu64 " so far)",
                                         s->ops->name, stream, strerror(-r), s->records_failed);
                }
        }
}

/* Free the retiring generation once nothing of it is in flight (checked on
 * a short timer: its last batch arrives from inside its own scheduler, which
 * must not be freed from its own hook). */
static void on_retire_timer(dcem_loop *l, uint64_t id, void *ud) {
        dcem_agent *a = ud;
        (void)id;
        a->retire_timer = 0;
        if (!a->retiring.cfg)
                return;
        if (dcem_sched_in_flight(a->retiring.sched) == 0) {
                generation_free(&a->retiring);
                return;
        }
        dcem_loop_add_timer(l, dcem_clock_mono(dcem_loop_clock(l)) + 100 * DCEM_NS_PER_MS, on_retire_timer, a,
                            &a->retire_timer);
}

static void on_state(void *ud, const char *device, bool up, int status, const char *err) {
        dcem_agent *a = ud;
        int64_t now = dcem_clock_utc(dcem_loop_clock(a->loop));
        for (size_t i = 0; i < a->g.npubs; i++) {
                pub_slot *s = &a->g.pubs[i];
                if (s->ops->device_status)
                        s->ops->device_status(s->state, device, up, now, up ? NULL : err);
        }
        if (up)
                log_info("device %s: answering", device);
        else
                log_warning("device %s: not answering (%s): %s; retrying with backoff", device,
                            strerror(-status), err && *err ? err : "no detail");
}

static void pump(dcem_agent *a) {
        int64_t now = dcem_clock_mono(dcem_loop_clock(a->loop));
        for (size_t i = 0; i < a->g.npubs; i++) {
                pub_slot *s = &a->g.pubs[i];
                dcem_batch *b;
                while ((b = dcem_queue_peek(s->q))) {
                        int r = s->ops->publish(s->state, b);
                        if (r == -EAGAIN)
                                break;
                        b = dcem_queue_pop(s->q);
                        if (r < 0) {
                                s->failed++;
                                dcem_log_limited(&a->rl_pub, now, LOG_ERR,
                                                 "output %s: could not publish the poll of %s: %s (batch dropped, %" PRIu64 " so far)",
                                                 s->ops->name, b->device, strerror(-r), s->failed);
                        }
                        dcem_batch_unref(b);
                }
        }
}

/* Close the publishers of g (their queues must have been emptied or are dropped). */
static void generation_close_publishers(generation *g) {
        for (size_t i = 0; i < g->npubs; i++) {
                if (g->pubs[i].state)
                        g->pubs[i].ops->close(g->pubs[i].state);
                dcem_queue_free(g->pubs[i].q);
        }
        free(g->pubs);
        g->pubs = NULL;
        g->npubs = 0;
}

static void generation_free(generation *g) {
        dcem_sched_free(g->sched);
        g->sched = NULL;
        if (g->cstate && g->cfg) {
                dcem_device_conf *d = dcem_config_devices(g->cfg);
                for (size_t i = 0; i < g->ndev; i++)
                        if (g->cstate[i])
                                d[i].collector->close(g->cstate[i]);
        }
        free(g->cstate);
        generation_close_publishers(g);
        dcem_config_free(g->cfg);
        memset(g, 0, sizeof *g);
}

/* Build a generation for cfg (owned by g from the start). 0 or -errno (logged). */
static int generation_new(dcem_agent *a, dcem_config *cfg, generation *g) {
        char err[256];
        int r;
        memset(g, 0, sizeof *g);
        g->cfg = cfg;
        g->cenv = (dcem_collector_env){ .loop = a->loop, .clock = dcem_loop_clock(a->loop),
                                        .profiles_dir = cfg->profiles_dir };
        g->penv = (dcem_publisher_env){ .loop = a->loop, .clock = dcem_loop_clock(a->loop), .site = cfg->site,
                                        .state_dir = cfg->state_dir, .wake = on_wake, .core = a };

        dcem_sched_opts so = { .backoff_cap = cfg->backoff_cap, .spread_ns = cfg->spread_ns };
        dcem_sched_hooks hooks = { .batch = on_batch, .state = a->opts.once ? NULL : on_state, .ud = a };
        r = dcem_sched_new(a->loop, &so, &hooks, &g->sched);
        if (r < 0) {
                log_error("cannot create the scheduler: %s", strerror(-r));
                return r;
        }

        g->ndev = dcem_config_ndevices(cfg);
        g->cstate = calloc(g->ndev ? g->ndev : 1, sizeof *g->cstate);
        if (!g->cstate)
                return -ENOMEM;
        dcem_device_conf *devs = dcem_config_devices(cfg);
        for (size_t i = 0; i < g->ndev; i++) {
                dcem_device_conf *d = &devs[i];
                err[0] = '\0';
                r = d->collector->init(&g->cenv, d, d->collector_conf, &g->cstate[i], err, sizeof err);
                if (r < 0) {
                        log_error("device %s: cannot start its %s collector: %s", d->name, d->collector->name,
                                  err[0] ? err : strerror(-r));
                        return r;
                }
                r = dcem_sched_add(g->sched, d->name, d->interval_ns, d->timeout_ns, d->collector, g->cstate[i]);
                if (r < 0) {
                        log_error("device %s: cannot schedule it: %s", d->name, strerror(-r));
                        return r;
                }
        }

        size_t npub = 0;
        while (dcem_publishers[npub])
                npub++;
        g->pubs = calloc(npub ? npub : 1, sizeof *g->pubs);
        if (!g->pubs)
                return -ENOMEM;
        for (size_t i = 0; i < npub; i++) {
                const dcem_publisher_ops *ops = dcem_publishers[i];
                const void *conf = cfg->publisher_conf ? cfg->publisher_conf[i] : NULL;
                if (a->opts.once) {
                        if (strcmp(ops->name, "stdout") != 0)
                                continue;
                } else if (!conf)
                        continue;
                pub_slot *s = &g->pubs[g->npubs];
                s->ops = ops;
                r = dcem_queue_new((size_t)cfg->queue_batches, &s->q);
                if (r < 0)
                        return r;
                g->npubs++;
                err[0] = '\0';
                r = ops->init(&g->penv, conf, &s->state, err, sizeof err);
                if (r < 0) {
                        log_error("output %s: cannot start: %s", ops->name, err[0] ? err : strerror(-r));
                        return r;
                }
        }
        if (g->npubs == 0 && !a->opts.once)
                log_warning("no output is enabled (output.stdout, output.mqtt): readings are polled and dropped");
        return 0;
}

/* A message of accounting.live_intensity's topic, on the loop's thread. */
static void on_live_intensity(void *ud, const char *topic, const void *payload, size_t len) {
        dcem_agent *a = ud;
        (void)topic;
        if (a->acct)
                (void)dcem_acct_rt_live_intensity(a->acct, payload, len); /* logs what it ignores */
}

/* A message of accounting.compute.remote's topic filter (other agents'
 * device messages), on the loop's thread. */
static void on_remote_compute(void *ud, const char *topic, const void *payload, size_t len) {
        dcem_agent *a = ud;
        if (a->acct)
                (void)dcem_acct_rt_remote_message(a->acct, topic, payload, len); /* counts and logs what it drops */
}

/* Subscribe g's publishers that can to topic, for what (a config key, in
 * the messages). A failure is logged, not fatal. */
static void subscribe_topic(generation *g, const char *topic, const char *what,
                            void (*cb)(void *ud, const char *topic, const void *payload, size_t len), void *ud) {
        bool any = false;
        for (size_t i = 0; i < g->npubs; i++) {
                pub_slot *s = &g->pubs[i];
                if (!s->ops->subscribe)
                        continue;
                int r = s->ops->subscribe(s->state, topic, cb, ud);
                if (r < 0)
                        log_error("output %s: cannot subscribe to %s (%s): %s", s->ops->name, topic, what,
                                  strerror(-r));
                else
                        any = true;
        }
        if (!any)
                log_warning("%s: no output can subscribe to %s (configure output.mqtt)", what, topic);
}

/* Subscribe g's publishers to the accounting's topics: the live intensity
 * (real-time view only) and the remote hosts' compute counters. */
static void generation_subscribe(dcem_agent *a, generation *g) {
        const char *topic = a->acct ? dcem_acct_rt_live_topic(a->acct) : NULL;
        if (topic)
                subscribe_topic(g, topic, "accounting.live_intensity", on_live_intensity, a);
        topic = a->acct ? dcem_acct_rt_remote_topic(a->acct) : NULL;
        if (topic)
                subscribe_topic(g, topic, "accounting.compute.remote", on_remote_compute, a);
}

int dcem_agent_new(dcem_loop *loop, dcem_config *cfg, const dcem_agent_opts *opts, dcem_agent **ret) {
        dcem_agent *a = calloc(1, sizeof *a);
        if (!a) {
                dcem_config_free(cfg);
                return -ENOMEM;
        }
        a->loop = loop;
        a->start_mono = dcem_clock_mono(dcem_loop_clock(loop));
        if (opts)
                a->opts = *opts;
        a->rl_pub = (dcem_ratelimit)DCEM_RATELIMIT(60 * DCEM_NS_PER_S, 5);
        int r = generation_new(a, cfg, &a->g);
        if (r == 0 && !a->opts.once) {
                dcem_acct_rt_hooks h = { .record = on_record, .ud = a };
                r = dcem_acct_rt_new(loop, a->g.cfg, &h, &a->acct);
                if (r == 0)
                        generation_subscribe(a, &a->g);
        }
        if (r < 0) {
                generation_free(&a->g);
                free(a);
                return r;
        }
        *ret = a;
        return 0;
}

/* The agent's own metrics as one batch. */
static int add_point(dcem_batch **b, const char *point, const char *suffix, double v, dcem_kind kind, int64_t ts) {
        dcem_sample s = { .value = v, .ts_ns = ts, .quality = DCEM_Q_GOOD, .kind = (uint8_t)kind };
        snprintf(s.device, sizeof s.device, "%s", DCEM_AGENT_DEVICE);
        if (suffix)
                snprintf(s.point, sizeof s.point, "%s.%s", point, suffix);
        else
                snprintf(s.point, sizeof s.point, "%s", point);
        return dcem_batch_add(b, &s);
}

static int64_t next_grid_mono(const dcem_clock *c, int64_t interval_ns) {
        int64_t utc = dcem_clock_utc(c), mono = dcem_clock_mono(c);
        int64_t slot = (utc / interval_ns + 1) * interval_ns;
        return mono + (slot - utc);
}

static void on_metrics_timer(dcem_loop *l, uint64_t id, void *ud) {
        dcem_agent *a = ud;
        (void)id;
        const dcem_clock *c = dcem_loop_clock(l);
        int64_t ts = dcem_clock_utc(c);
        dcem_batch *b = NULL;
        if (dcem_batch_new(DCEM_AGENT_DEVICE, 32, &b) == 0) {
                dcem_device_stats t;
                dcem_sched_totals(a->g.sched, &t);
                size_t up = 0;
                dcem_device_conf *d = dcem_config_devices(a->g.cfg);
                for (size_t i = 0; i < a->g.ndev; i++) {
                        dcem_device_stats s;
                        if (dcem_sched_stats(a->g.sched, d[i].name, &s) == 0 && s.up)
                                up++;
                }
                b->ts_ns = b->done_ns = ts;
                b->seq = ++a->metrics_seq;
                int r = 0;
                r |= add_point(&b, "devices", NULL, (double)a->g.ndev, DCEM_KIND_GAUGE, ts);
                r |= add_point(&b, "devices_up", NULL, (double)up, DCEM_KIND_GAUGE, ts);
                r |= add_point(&b, "polls", NULL, (double)t.polls, DCEM_KIND_COUNTER, ts);
                r |= add_point(&b, "polls_failed", NULL, (double)t.failed, DCEM_KIND_COUNTER, ts);
                r |= add_point(&b, "polls_timeout", NULL, (double)t.timeouts, DCEM_KIND_COUNTER, ts);
                r |= add_point(&b, "polls_missed", NULL, (double)t.missed, DCEM_KIND_COUNTER, ts);
                for (size_t i = 0; i < a->g.npubs; i++) {
                        pub_slot *s = &a->g.pubs[i];
                        r |= add_point(&b, "queue_len", s->ops->name, (double)dcem_queue_len(s->q), DCEM_KIND_GAUGE, ts);
                        r |= add_point(&b, "queue_dropped_batches", s->ops->name,
                                       (double)(dcem_queue_dropped_batches(s->q) + s->carried_dropped_batches),
                                       DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "queue_dropped_samples", s->ops->name,
                                       (double)(dcem_queue_dropped_samples(s->q) + s->carried_dropped_samples),
                                       DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "publish_failed", s->ops->name, (double)s->failed, DCEM_KIND_COUNTER, ts);
                        if (s->ops->publish_record)
                                r |= add_point(&b, "records_failed", s->ops->name, (double)s->records_failed,
                                               DCEM_KIND_COUNTER, ts);
                        if (s->ops->counters) {
                                dcem_counter cs[32];
                                size_t n = s->ops->counters(s->state, cs, 32);
                                for (size_t k = 0; k < n; k++)
                                        r |= add_point(&b, cs[k].name, s->ops->name, cs[k].value, cs[k].kind, ts);
                        }
                }
                if (a->acct) {
                        dcem_acct_rt_stats as;
                        dcem_acct_rt_get_stats(a->acct, &as);
                        r |= add_point(&b, "accounting", "intervals", (double)as.intervals, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "accounting", "next_seq", (double)as.next_seq, DCEM_KIND_GAUGE, ts);
                        r |= add_point(&b, "accounting", "save_failures", (double)as.save_failures, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "accounting", "records_dropped", (double)as.pending_dropped,
                                       DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "accounting", "events_dropped", (double)as.events_dropped, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "accounting", "clock_steps", (double)as.clock_steps, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "accounting", "readings_refused", (double)as.feed_errors, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "accounting", "ledger_entries", (double)as.ledger_entries, DCEM_KIND_COUNTER,
                                       ts);
                        r |= add_point(&b, "accounting", "ledger_failures", (double)as.ledger_failures,
                                       DCEM_KIND_COUNTER, ts);
                        dcem_remote_stats rs;
                        dcem_acct_rt_remote_stats(a->acct, &rs);
                        r |= add_point(&b, "compute_remote", "received", (double)rs.received, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "compute_remote", "accepted", (double)rs.accepted, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "compute_remote", "duplicates", (double)rs.duplicates, DCEM_KIND_COUNTER, ts);
                        r |= add_point(&b, "compute_remote", "out_of_order", (double)rs.out_of_order, DCEM_KIND_COUNTER,
                                       ts);
                        r |= add_point(&b, "compute_remote", "invalid", (double)(rs.invalid + rs.unknown),
                                       DCEM_KIND_COUNTER, ts);
                }
                if (r == 0)
                        on_batch(a, b);
                dcem_batch_unref(b);
        }
        dcem_loop_add_timer(l, next_grid_mono(c, a->g.cfg->interval_ns), on_metrics_timer, a, &a->metrics_timer);
}

/* The self-metrics period: the shortest any publisher asks (0: none). */
static int64_t selfmetrics_period(const dcem_agent *a) {
        int64_t best = 0;
        for (size_t i = 0; i < a->g.npubs; i++) {
                const pub_slot *s = &a->g.pubs[i];
                if (!s->ops->publish_record || !s->ops->self_metrics_interval)
                        continue;
                int64_t v = s->ops->self_metrics_interval(s->state);
                if (v > 0 && (best == 0 || v < best))
                        best = v;
        }
        return best;
}

#define SELFMETRICS_TYPES_MAX 16 /* distinct collector types reported */

/* Gather the self-metrics (selfmetrics.h) and hand them to every publisher
 * that wants them (publish_record stream "agent"; the MQTT publisher sends
 * them ahead of queued device messages). */
static void on_selfmetrics_timer(dcem_loop *l, uint64_t id, void *ud) {
        dcem_agent *a = ud;
        (void)id;
        a->selfmetrics_timer = 0;
        const dcem_clock *c = dcem_loop_clock(l);
        int64_t period = selfmetrics_period(a);
        if (period <= 0)
                return;
        dcem_sm_collector cols[SELFMETRICS_TYPES_MAX];
        size_t ncols = 0;
        dcem_selfmetrics m = { .ts_utc_ns = dcem_clock_utc(c), .version = DCEM_VERSION,
                               .uptime_s = (double)(dcem_clock_mono(c) - a->start_mono) / 1e9,
                               .devices_configured = a->g.ndev };
        dcem_device_conf *d = dcem_config_devices(a->g.cfg);
        for (size_t i = 0; i < a->g.ndev; i++) {
                dcem_device_stats st;
                if (dcem_sched_stats(a->g.sched, d[i].name, &st) < 0)
                        continue;
                if (st.up)
                        m.devices_reachable++;
                const char *type = d[i].collector->name;
                size_t k = 0;
                while (k < ncols && strcmp(cols[k].type, type) != 0)
                        k++;
                if (k == ncols) {
                        if (ncols == SELFMETRICS_TYPES_MAX)
                                continue; /* more collector types than exist today */
                        cols[ncols++] = (dcem_sm_collector){ .type = type };
                }
                cols[k].devices++;
                cols[k].polls.done += st.ok + st.failed;
                cols[k].polls.failed += st.failed;
                cols[k].polls.timeouts += st.timeouts;
                cols[k].polls.missed += st.missed;
        }
        m.collectors = cols;
        m.ncollectors = ncols;
        dcem_sm_publisher *pubs = calloc(a->g.npubs ? a->g.npubs : 1, sizeof *pubs);
        if (pubs) {
                for (size_t i = 0; i < a->g.npubs; i++) {
                        pub_slot *s = &a->g.pubs[i];
                        dcem_sm_publisher *p = &pubs[i];
                        p->name = s->ops->name;
                        p->queue_depth = dcem_queue_len(s->q);
                        p->queue_cap = (uint64_t)a->g.cfg->queue_batches;
                        p->queue_dropped_batches = dcem_queue_dropped_batches(s->q) + s->carried_dropped_batches;
                        p->queue_dropped_samples = dcem_queue_dropped_samples(s->q) + s->carried_dropped_samples;
                        p->publish_failed = s->failed;
                        p->has_delivery = s->ops->delivery && s->ops->delivery(s->state, &p->delivery) == 0;
                }
                m.publishers = pubs;
                m.npublishers = a->g.npubs;
        }
        (void)dcem_selfmetrics_read_process(&m.process); /* unknown memory is published as null */
        char *json = NULL;
        size_t len = 0;
        int r = pubs ? dcem_selfmetrics_json(&m, &json, &len) : -ENOMEM;
        free(pubs);
        int64_t now = dcem_clock_mono(c);
        if (r < 0)
                dcem_log_limited(&a->rl_pub, now, LOG_ERR, "self-metrics: cannot build the message: %s", strerror(-r));
        for (size_t i = 0; r == 0 && i < a->g.npubs; i++) {
                pub_slot *s = &a->g.pubs[i];
                if (!s->ops->publish_record || !s->ops->self_metrics_interval ||
                    s->ops->self_metrics_interval(s->state) <= 0)
                        continue;
                int q = s->ops->publish_record(s->state, "agent", json, len);
                if (q < 0) {
                        s->records_failed++;
                        dcem_log_limited(&a->rl_pub, now, LOG_ERR, "output %s: could not publish the self-metrics: %s",
                                         s->ops->name, strerror(-q));
                }
        }
        free(json);
        dcem_loop_add_timer(l, next_grid_mono(c, period), on_selfmetrics_timer, a, &a->selfmetrics_timer);
}

int dcem_agent_start(dcem_agent *a) {
        int r = dcem_sched_start(a->g.sched);
        if (r < 0)
                return r;
        if (a->acct) {
                r = dcem_acct_rt_start(a->acct);
                if (r < 0)
                        return r;
        }
        const dcem_clock *c = dcem_loop_clock(a->loop);
        int64_t sm = selfmetrics_period(a);
        if (sm > 0) {
                r = dcem_loop_add_timer(a->loop, next_grid_mono(c, sm), on_selfmetrics_timer, a, &a->selfmetrics_timer);
                if (r < 0)
                        return r;
        }
        return dcem_loop_add_timer(a->loop, next_grid_mono(c, a->g.cfg->interval_ns), on_metrics_timer, a,
                                   &a->metrics_timer);
}

int dcem_agent_run_once(dcem_agent *a, unsigned *ret_failed) {
        a->once_failed = 0;
        int r = dcem_sched_poll_all_now(a->g.sched);
        if (r < 0)
                return r;
        while (dcem_sched_in_flight(a->g.sched) > 0) {
                r = dcem_loop_run_once(a->loop, -1);
                if (r < 0)
                        return r;
        }
        pump(a);
        *ret_failed = a->once_failed;
        return 0;
}

int dcem_agent_reload(dcem_agent *a, dcem_config *cfg) {
        generation ng;
        int r = generation_new(a, cfg, &ng);
        if (r == 0 && a->acct)
                r = dcem_acct_rt_reload(a->acct, ng.cfg); /* save, rebuild, load; the old one stays on failure */
        if (r < 0) {
                generation_free(&ng);
                return r;
        }
        generation_subscribe(a, &ng);
        /* Carry queued batches and drop counters over to the same outputs. */
        for (size_t i = 0; i < a->g.npubs; i++) {
                pub_slot *old = &a->g.pubs[i];
                pub_slot *to = NULL;
                for (size_t j = 0; j < ng.npubs; j++)
                        if (ng.pubs[j].ops == old->ops)
                                to = &ng.pubs[j];
                dcem_batch *b;
                while ((b = dcem_queue_pop(old->q))) {
                        if (to)
                                dcem_queue_push(to->q, b);
                        dcem_batch_unref(b);
                }
                if (to) {
                        to->carried_dropped_batches = old->carried_dropped_batches + dcem_queue_dropped_batches(old->q);
                        to->carried_dropped_samples = old->carried_dropped_samples + dcem_queue_dropped_samples(old->q);
                        to->failed = old->failed;
                }
        }
        dcem_loop_cancel_timer(a->loop, a->metrics_timer);
        if (a->selfmetrics_timer)
                dcem_loop_cancel_timer(a->loop, a->selfmetrics_timer);
        a->selfmetrics_timer = 0;
        /* Only one generation retires at a time: a second reload in quick
         * succession cancels what the first left in flight. */
        if (a->retiring.cfg)
                generation_free(&a->retiring);
        if (a->retire_timer)
                dcem_loop_cancel_timer(a->loop, a->retire_timer);
        a->retire_timer = 0;
        generation_close_publishers(&a->g);
        dcem_sched_stop(a->g.sched);
        a->retiring = a->g;
        a->g = ng;
        on_retire_timer(a->loop, 0, a);
        r = dcem_agent_start(a);
        pump(a);
        return r;
}

int dcem_agent_drain(dcem_agent *a, int64_t deadline_ns) {
        const dcem_clock *c = dcem_loop_clock(a->loop);
        dcem_sched_stop(a->g.sched);
        dcem_loop_cancel_timer(a->loop, a->metrics_timer);
        if (a->selfmetrics_timer)
                dcem_loop_cancel_timer(a->loop, a->selfmetrics_timer);
        a->selfmetrics_timer = 0;
        int64_t now;
        int ra = 0;
        while ((dcem_sched_in_flight(a->g.sched) > 0 || (a->retiring.cfg && dcem_sched_in_flight(a->retiring.sched) > 0)) &&
               (now = dcem_clock_mono(c)) < deadline_ns)
                dcem_loop_run_once(a->loop, deadline_ns - now);
        /* The last readings are in: close what can be closed, save the state,
         * hand the records over before the publishers flush. */
        if (a->acct)
                ra = dcem_acct_rt_stop(a->acct);
        pump(a);
        int r = 0;
        for (size_t i = 0; i < a->g.npubs; i++) {
                pub_slot *s = &a->g.pubs[i];
                while (s->ops->flush && (r = s->ops->flush(s->state)) == -EAGAIN &&
                       (now = dcem_clock_mono(c)) < deadline_ns) {
                        dcem_loop_run_once(a->loop, deadline_ns - now);
                        pump(a);
                }
                if (dcem_queue_len(s->q) > 0)
                        log_warning("output %s: %zu batches still queued at exit", s->ops->name, dcem_queue_len(s->q));
        }
        if (r == 0 && ra < 0)
                r = ra;
        return r == -EAGAIN ? -ETIMEDOUT : r;
}

const dcem_config *dcem_agent_config(const dcem_agent *a) { return a->g.cfg; }

void dcem_agent_free(dcem_agent *a) {
        if (!a)
                return;
        if (a->metrics_timer)
                dcem_loop_cancel_timer(a->loop, a->metrics_timer);
        if (a->selfmetrics_timer)
                dcem_loop_cancel_timer(a->loop, a->selfmetrics_timer);
        if (a->retire_timer)
                dcem_loop_cancel_timer(a->loop, a->retire_timer);
        dcem_acct_rt_free(a->acct);
        generation_free(&a->retiring);
        generation_free(&a->g);
        free(a);
}
