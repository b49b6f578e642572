/* selfmetrics.c - the payload of <prefix>/<site>/agent (built from figures
 * the agent gathers; pure) and the process figures it needs (RSS from
 * /proc/self/status, CPU seconds from getrusage: the only I/O here).
 * See include/dcem/selfmetrics.h and docs/schemas/agent.json.
 */
#include "dcem/selfmetrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dcem/clock.h"
#include "json.h"

static json_t *u64(uint64_t v) {
        /* json_int_t is 64-bit signed: counters never reach 2^63. */
        return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Set k to v (a new reference, NULL = out of memory) in o; false on failure. */
static bool put(json_t *o, const char *k, json_t *v) {
        return v && json_object_set_new(o, k, v) == 0;
}

static json_t *polls_obj(const dcem_sm_polls *p, const uint64_t *devices) {
        json_t *o = json_object();
        if (!o)
                return NULL;
        if ((devices && !put(o, "devices", u64(*devices))) || !put(o, "done", u64(p->done)) ||
            !put(o, "failed", u64(p->failed)) || !put(o, "timeouts", u64(p->timeouts)) ||
            !put(o, "missed", u64(p->missed))) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *delivery_obj(const dcem_delivery_stats *d) {
        json_t *o = json_object(), *sp = json_object(), *rp = json_object(), *ln = json_object();
        bool ok = o && sp && rp && ln;
        ok = ok && put(sp, "bytes", u64(d->spool_bytes)) && put(sp, "records", u64(d->spool_records)) &&
             put(sp, "budget_bytes", u64(d->spool_budget_bytes)) &&
             put(sp, "dropped_records", u64(d->spool_dropped_records)) &&
             put(sp, "dropped_bytes", u64(d->spool_dropped_bytes));
        ok = ok && put(rp, "backlog", u64(d->backlog)) && put(rp, "rate", dcem_json_number(d->replay_rate)) &&
             put(rp, "replayed", u64(d->replayed));
        ok = ok && put(ln, "depth", u64(d->lane_depth)) && put(ln, "cap", u64(d->lane_cap)) &&
             put(ln, "dropped", u64(d->lane_dropped));
        ok = ok && put(o, "connected", json_boolean(d->connected)) && put(o, "inflight", u64(d->inflight));
        if (ok) {
                ok = put(o, "spool", sp);
                sp = NULL;
                ok = ok && put(o, "replay", rp);
                rp = NULL;
                ok = ok && put(o, "agent_lane", ln);
                ln = NULL;
        }
        json_decref(sp);
        json_decref(rp);
        json_decref(ln);
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *publisher_obj(const dcem_sm_publisher *p) {
        json_t *o = json_object(), *q = json_object();
        bool ok = o && q && put(q, "depth", u64(p->queue_depth)) && put(q, "cap", u64(p->queue_cap)) &&
                  put(q, "dropped_batches", u64(p->queue_dropped_batches)) &&
                  put(q, "dropped_samples", u64(p->queue_dropped_samples));
        if (ok) {
                ok = put(o, "queue", q);
                q = NULL;
        }
        json_decref(q);
        ok = ok && put(o, "publish_failed", u64(p->publish_failed));
        if (ok && p->has_delivery)
                ok = put(o, "delivery", delivery_obj(&p->delivery));
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *process_obj(const dcem_sm_process *p) {
        json_t *o = json_object();
        bool ok = o && put(o, "rss_bytes", p->mem_known ? u64(p->rss_bytes) : json_null()) &&
                  put(o, "peak_rss_bytes", p->mem_known ? u64(p->peak_rss_bytes) : json_null()) &&
                  put(o, "cpu_user_s", dcem_json_number(p->cpu_user_s)) &&
                  put(o, "cpu_system_s", dcem_json_number(p->cpu_system_s));
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *build(const dcem_selfmetrics *m) {
        char ts[DCEM_TS_MAX];
        dcem_format_utc(m->ts_utc_ns, ts);
        json_t *o = json_object(), *dev = json_object(), *polls = json_object(), *byc = json_object(),
               *pubs = json_object();
        dcem_sm_polls total = { 0 };
        bool ok = o && dev && polls && byc && pubs;
        for (size_t i = 0; ok && i < m->ncollectors; i++) {
                const dcem_sm_collector *c = &m->collectors[i];
                total.done += c->polls.done;
                total.failed += c->polls.failed;
                total.timeouts += c->polls.timeouts;
                total.missed += c->polls.missed;
                ok = !json_object_get(byc, c->type) && put(byc, c->type, polls_obj(&c->polls, &c->devices));
        }
        for (size_t i = 0; ok && i < m->npublishers; i++) {
                const dcem_sm_publisher *p = &m->publishers[i];
                ok = !json_object_get(pubs, p->name) && put(pubs, p->name, publisher_obj(p));
        }
        ok = ok && put(dev, "configured", u64(m->devices_configured)) &&
             put(dev, "reachable", u64(m->devices_reachable)) && put(polls, "total", polls_obj(&total, NULL));
        if (ok) {
                ok = put(polls, "by_collector", byc);
                byc = NULL;
        }
        ok = ok && put(o, "ts", json_string(ts)) && put(o, "version", dcem_json_string(m->version)) &&
             put(o, "uptime_s", dcem_json_number(m->uptime_s));
        if (ok) {
                ok = put(o, "devices", dev);
                dev = NULL;
                ok = ok && put(o, "polls", polls);
                polls = NULL;
                ok = ok && put(o, "publishers", pubs);
                pubs = NULL;
        }
        ok = ok && put(o, "process", process_obj(&m->process));
        json_decref(dev);
        json_decref(polls);
        json_decref(byc);
        json_decref(pubs);
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int dcem_selfmetrics_json(const dcem_selfmetrics *m, char **ret_json, size_t *ret_len) {
        if (!m || !ret_json || !m->version || (m->ncollectors && !m->collectors) ||
            (m->npublishers && !m->publishers))
                return -EINVAL;
        for (size_t i = 0; i < m->ncollectors; i++)
                if (!m->collectors[i].type || !m->collectors[i].type[0])
                        return -EINVAL;
        for (size_t i = 0; i < m->npublishers; i++)
                if (!m->publishers[i].name || !m->publishers[i].name[0])
                        return -EINVAL;
        for (size_t i = 0; i < m->ncollectors; i++)
                for (size_t j = 0; j < i; j++)
                        if (strcmp(m->collectors[i].type, m->collectors[j].type) == 0)
                                return -EINVAL;
        for (size_t i = 0; i < m->npublishers; i++)
                for (size_t j = 0; j < i; j++)
                        if (strcmp(m->publishers[i].name, m->publishers[j].name) == 0)
                                return -EINVAL;
        json_t *o = build(m);
        if (!o)
                return -ENOMEM;
        char *s = json_dumps(o, DCEM_JSON_FLAGS);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        if (ret_len)
                *ret_len = strlen(s);
        return 0;
}

/* The kB figure of line "<key>:<spaces><digits> kB", in bytes. */
static bool status_kb(const char *text, const char *key, uint64_t *ret) {
        size_t kl = strlen(key);
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
                if (strncmp(l, key, kl) != 0 || l[kl] != ':')
                        continue;
                const char *p = l + kl + 1;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p < '0' || *p > '9')
                        return false;
                uint64_t v = 0;
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (v > (UINT64_MAX / 1024 - 9) / 10)
                                return false;
                        v = v * 10 + (uint64_t)(*p - '0');
                }
                if (strncmp(p, " kB", 3) != 0)
                        return false;
                *ret = v * 1024;
                return true;
        }
        return false;
}

int dcem_selfmetrics_parse_status(const char *text, uint64_t *ret_rss_bytes, uint64_t *ret_hwm_bytes) {
        uint64_t rss, hwm;
        if (!text || !status_kb(text, "VmRSS", &rss) || !status_kb(text, "VmHWM", &hwm))
                return -ENOENT;
        *ret_rss_bytes = rss;
        *ret_hwm_bytes = hwm;
        return 0;
}

int dcem_selfmetrics_read_process(dcem_sm_process *ret) {
        dcem_sm_process p = { 0 };
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
                p.cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
                p.cpu_system_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        }
        int r = 0;
        char buf[8192];
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                r = -errno;
        else {
                size_t n = 0;
                for (;;) {
                        ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                r = -errno;
                        if (k <= 0)
                                break;
                        n += (size_t)k;
                        if (n == sizeof buf - 1)
                                break;
                }
                close(fd);
                buf[n] = '\0';
                if (r == 0 && dcem_selfmetrics_parse_status(buf, &p.rss_bytes, &p.peak_rss_bytes) == 0)
                        p.mem_known = true;
                else if (r == 0)
                        r = -ENOENT;
        }
        *ret = p;
        return r;
}
