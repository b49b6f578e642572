/* compute_remote.c - parse other agents' device messages and decide, per
 * declared host, which are new (see compute_remote.h for why and how).
 * Pure: jansson for the JSON, no I/O, no clock, no logging.
 */
#include "compute_remote.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/accounting.h"
#include "dcem/clock.h"

struct dcem_remote {
        dcem_remote_host *hosts;
        size_t n;
        uint32_t *ix;           /* open addressing by device-name hash: host index + 1, 0 = empty */
        size_t ix_cap;          /* power of two, >= 2 x n */
        dcem_remote_stats st;
};

static uint64_t name_hash(const char *s) {
        uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
        return h;
}

static void seterr(char *err, size_t errlen, const char *fmt, const char *what) {
        if (err && errlen)
                snprintf(err, errlen, fmt, what);
}

/* Digits s[0..n) as a number; -1 if any is not a digit. */
static int64_t digits(const char *s, size_t n) {
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int dcem_remote_parse_utc(const char *s, int64_t *ret_ns) {
        if (!s || strlen(s) < 20)
                return -EINVAL;
        if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
                return -EINVAL;
        int64_t y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
                mi = digits(s + 14, 2), se = digits(s + 17, 2);
        if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
            se > 60)
                return -EINVAL;
        const char *p = s + 19;
        int64_t frac = 0;
        if (*p == '.') {
                p++;
                size_t n = 0;
                while (p[n] >= '0' && p[n] <= '9')
                        n++;
                if (n < 1 || n > 9)
                        return -EINVAL;
                frac = digits(p, n);
                for (size_t k = n; k < 9; k++)
                        frac *= 10;
                p += n;
        }
        if (p[0] != 'Z' || p[1] != '\0')
                return -EINVAL;
        int64_t days = dcem_days_from_civil(y, (unsigned)mo, (unsigned)d);
        *ret_ns = ((days * 24 + h) * 60 + mi) * 60 * DCEM_NS_PER_S + se * DCEM_NS_PER_S + frac;
        return 0;
}

static int quality_of(const char *q, dcem_quality *ret) {
        for (int i = 0; i < _DCEM_Q_MAX; i++)
                if (strcmp(q, dcem_quality_name((dcem_quality)i)) == 0) {
                        *ret = (dcem_quality)i;
                        return 0;
                }
        return -EINVAL;
}

/* Copy a JSON string member into buf (1..size-1 bytes). 0 or -EINVAL. */
static int str_member(json_t *o, const char *key, char *buf, size_t size) {
        json_t *v = json_object_get(o, key);
        if (!json_is_string(v))
                return -EINVAL;
        size_t n = json_string_length(v);
        if (n == 0 || n >= size || memchr(json_string_value(v), '\0', n))
                return -EINVAL;
        memcpy(buf, json_string_value(v), n + 1);
        return 0;
}

int dcem_remote_parse(const char *payload, size_t len, dcem_remote_msg *ret, char *err, size_t errlen) {
        json_error_t je;
        json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
        if (!o) {
                seterr(err, errlen, "not JSON: %s", je.text);
                return -EINVAL;
        }
        dcem_remote_msg *m = malloc(sizeof(*m));
        int r = -EINVAL;
        if (!m) {
                json_decref(o);
                seterr(err, errlen, "%s", "out of memory");
                return -ENOMEM;
        }
        memset(m, 0, offsetof(dcem_remote_msg, points));
        json_t *ts = json_object_get(o, "ts"), *seq = json_object_get(o, "seq"), *pts = json_object_get(o, "points");
        if (!json_is_object(o)) {
                seterr(err, errlen, "%s", "not a JSON object");
        } else if (str_member(o, "site", m->site, sizeof m->site) < 0) {
                seterr(err, errlen, "%s", "no \"site\" (a string of 1..63 bytes)");
        } else if (str_member(o, "device", m->device, sizeof m->device) < 0) {
                seterr(err, errlen, "%s", "no \"device\" (a string of 1..63 bytes)");
        } else if (!json_is_string(ts) || dcem_remote_parse_utc(json_string_value(ts), &m->ts_ns) < 0) {
                seterr(err, errlen, "%s", "no \"ts\" (YYYY-MM-DDTHH:MM:SS.fffZ)");
        } else if (!json_is_integer(seq) || json_integer_value(seq) < 0) {
                seterr(err, errlen, "%s", "no \"seq\" (a non-negative integer)");
        } else if (!json_is_object(pts)) {
                seterr(err, errlen, "%s", "no \"points\" object");
        } else {
                m->seq = (uint64_t)json_integer_value(seq);
                const char *name;
                json_t *p;
                json_object_foreach(pts, name, p) {
                        dcem_remote_point *x = &m->points[m->npoints];
                        json_t *v = json_object_get(p, "v"), *q = json_object_get(p, "q");
                        size_t nl = strlen(name);
                        if (m->npoints == DCEM_REMOTE_MAX_POINTS || !json_is_object(p) || nl == 0 ||
                            nl >= sizeof x->name || (!json_is_number(v) && !json_is_null(v)) || !json_is_string(q) ||
                            quality_of(json_string_value(q), &x->quality) < 0) {
                                m->points_dropped++;
                                continue;
                        }
                        memcpy(x->name, name, nl + 1);
                        if (str_member(p, "u", x->unit, sizeof x->unit) < 0)
                                x->unit[0] = '\0';
                        x->value = json_is_null(v) ? (double)NAN : json_number_value(v);
                        if (isnan(x->value) && x->quality != DCEM_Q_ERROR)
                                x->quality = DCEM_Q_ERROR; /* no value: nothing to count */
                        m->npoints++;
                }
                r = 0;
        }
        json_decref(o);
        if (r == 0)
                memcpy(ret, m, offsetof(dcem_remote_msg, points) + m->npoints * sizeof(m->points[0]));
        free(m);
        return r;
}

int dcem_remote_host_check(const char *key, const char **ret_why) {
        const char *slash = key ? strchr(key, '/') : NULL;
        const char *why = NULL;
        if (!slash)
                why = "must be SITE/DEVICE";
        else if (slash == key || slash[1] == '\0')
                why = "SITE and DEVICE must not be empty";
        else if (strchr(slash + 1, '/'))
                why = "must be SITE/DEVICE (one '/')";
        else if ((size_t)(slash - key) >= DCEM_NAME_MAX || strlen(slash + 1) >= DCEM_NAME_MAX)
                why = "SITE and DEVICE are at most 63 bytes each";
        else if (strpbrk(key, "+#"))
                why = "must not hold the MQTT wildcards + or #";
        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

int dcem_remote_new(const dcem_strlist *hosts, dcem_remote **ret, size_t *ret_bad) {
        size_t n = hosts ? hosts->n : 0;
        if (n > DCEM_ACCT_MAX_REMOTE_HOSTS) {
                if (ret_bad)
                        *ret_bad = DCEM_ACCT_MAX_REMOTE_HOSTS;
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                for (size_t j = 0; j < i; j++)
                        dup |= strcmp(hosts->items[i], hosts->items[j]) == 0;
                if (dup || dcem_remote_host_check(hosts->items[i], NULL) < 0) {
                        if (ret_bad)
                                *ret_bad = i;
                        return -EINVAL;
                }
        }
        dcem_remote *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->hosts = calloc(n ? n : 1, sizeof(*r->hosts));
        if (!r->hosts) {
                free(r);
                return -ENOMEM;
        }
        r->ix_cap = 16;
        while (r->ix_cap < 2 * n)
                r->ix_cap *= 2;
        r->ix = calloc(r->ix_cap, sizeof(*r->ix));
        if (!r->ix) {
                free(r->hosts);
                free(r);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                dcem_remote_host *h = &r->hosts[i];
                snprintf(h->key, sizeof h->key, "%s", hosts->items[i]);
                h->device = strchr(h->key, '/') + 1;
                h->last_ts_ns = INT64_MIN;
                size_t k = (size_t)name_hash(h->device) & (r->ix_cap - 1);
                while (r->ix[k])
                        k = (k + 1) & (r->ix_cap - 1);
                r->ix[k] = (uint32_t)i + 1;
        }
        r->n = n;
        *ret = r;
        return 0;
}

void dcem_remote_free(dcem_remote *r) {
        if (!r)
                return;
        free(r->hosts);
        free(r->ix);
        free(r);
}

/* Index of the next host at or after probe position *k whose device is
 * device, or -1 at the end of the probe chain; *k moves past it. */
static int probe(const dcem_remote *r, const char *device, size_t *k) {
        for (;; *k = (*k + 1) & (r->ix_cap - 1)) {
                uint32_t v = r->ix[*k];
                if (!v)
                        return -1;
                if (strcmp(r->hosts[v - 1].device, device) == 0) {
                        *k = (*k + 1) & (r->ix_cap - 1);
                        return (int)v - 1;
                }
        }
}

bool dcem_remote_topic_wanted(const dcem_remote *r, const char *topic) {
        const char *last = topic ? strrchr(topic, '/') : NULL;
        last = last ? last + 1 : topic;
        if (!last)
                return false;
        size_t k = (size_t)name_hash(last) & (r->ix_cap - 1);
        return probe(r, last, &k) >= 0;
}

int dcem_remote_find(const dcem_remote *r, const char *site, const char *device) {
        size_t sl = strlen(site);
        size_t k = (size_t)name_hash(device) & (r->ix_cap - 1);
        int i;
        while ((i = probe(r, device, &k)) >= 0) {
                const dcem_remote_host *h = &r->hosts[i];
                if ((size_t)(h->device - 1 - h->key) == sl && memcmp(h->key, site, sl) == 0)
                        return i;
        }
        return -ENOENT;
}

void dcem_remote_seed(dcem_remote *r, size_t i, int64_t ts_ns) {
        if (i < r->n && ts_ns > r->hosts[i].last_ts_ns)
                r->hosts[i].last_ts_ns = ts_ns;
}

int dcem_remote_accept(dcem_remote *r, const dcem_remote_msg *m, size_t *ret_host) {
        r->st.received++;
        int i = dcem_remote_find(r, m->site, m->device);
        if (i < 0) {
                r->st.unknown++;
                return -ENOENT;
        }
        dcem_remote_host *h = &r->hosts[i];
        if (m->ts_ns == h->last_ts_ns) {
                h->duplicates++;
                r->st.duplicates++;
                return -EALREADY;
        }
        if (m->ts_ns < h->last_ts_ns) {
                h->out_of_order++;
                r->st.out_of_order++;
                return -ESTALE;
        }
        h->last_ts_ns = m->ts_ns;
        h->last_seq = m->seq;
        h->seen = true;
        h->accepted++;
        r->st.accepted++;
        *ret_host = (size_t)i;
        return 0;
}

void dcem_remote_count_invalid(dcem_remote *r) {
        r->st.received++;
        r->st.invalid++;
}

size_t dcem_remote_nhosts(const dcem_remote *r) {
        return r->n;
}

const dcem_remote_host *dcem_remote_host_at(const dcem_remote *r, size_t i) {
        return i < r->n ? &r->hosts[i] : NULL;
}

void dcem_remote_get_stats(const dcem_remote *r, dcem_remote_stats *ret) {
        *ret = r->st;
}
