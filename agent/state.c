/* state.c - crash-safe persistence of the accounting engine's state.
 *
 * The only accounting file that does I/O. The document is
 *   {"format": "dcem-accounting-state", "version": 2, "body": {...}, "sha256": "<hex>"}
 * with the SHA-256 over the body dumped compact with sorted keys, so a file
 * that parses but was altered or half-written is still refused. Writes go to
 * accounting.json.tmp, fsync, rename, fsync of the directory. Loading parses
 * and validates everything into temporaries first and only then replaces the
 * engine's state, so a refused file leaves the engine untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "accounting_priv.h"
#include "dcem/state.h"

#define FORMAT_NAME "dcem-accounting-state"
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17))

static void set_err(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *buf, size_t len, const char *fmt, ...) {
        if (!buf || !len)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
}

static int sha256_hex(const char *s, size_t n, char out[65]) {
        unsigned char md[32];
        unsigned mdlen = 0;
        if (!EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
        return 0;
}

/* ---- encoding ---- */

static json_t *jreal(double v) {
        return json_real(isfinite(v) ? v : 0.0);
}

static json_t *darray(const double *v, size_t n) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, jreal(v[i]));
        return a;
}

static json_t *sums_json(const dcem_acct_sums *s) {
        json_t *o = json_pack("{sI sI sI sI so so sf sf sf sI sI sf sf sb}", "start", (json_int_t)s->start_ns, "end",
                              (json_int_t)s->end_ns, "covered", (json_int_t)s->covered_ns, "n",
                              (json_int_t)s->n_intervals, "kwh", darray(s->kwh, _DCEM_ACC_MAX), "est",
                              darray(s->est_kwh, _DCEM_ACC_MAX), "taken", s->readings_taken, "expected",
                              s->readings_expected, "late", s->late_kwh, "events", (json_int_t)s->events, "cats",
                              (json_int_t)s->it_categories, "contract", s->contract_kwh, "cert", s->cert_kwh,
                              "final", s->instruments_final);
        /* compute completeness (optional on load: states saved before it have none) */
        if (o && s->compute_expected > 0) {
                json_object_set_new(o, "ctaken", jreal(s->compute_taken));
                json_object_set_new(o, "cexpected", jreal(s->compute_expected));
        }
        return o;
}

static json_t *reading_json(const acct_reading *r) {
        if (!r->have)
                return json_null();
        return json_pack("{sf sI}", "v", r->value, "ts", (json_int_t)r->ts_ns);
}

static json_t *body_json(const dcem_acct *a, int64_t now) {
        json_t *devs = json_array(), *slots = json_array(), *months = json_array(), *ledger = json_array();
        json_t *evs = json_array();
        if (!devs || !slots || !months || !ledger || !evs)
                goto fail;
        for (size_t i = 0; i < a->ndev; i++) {
                const acct_dev *d = &a->devs[i];
                json_t *o = json_pack("{ss si so so so sb sf sf sf sI sI}", "name", d->name, "role", (int)d->spec.role,
                                      "imp", reading_json(&d->imp), "exp", reading_json(&d->exp), "pw",
                                      reading_json(&d->pw), "seen_counter", d->seen_counter, "total_kwh",
                                      d->total_kwh, "total_export_kwh", d->total_export_kwh, "total_est_kwh",
                                      d->total_est_kwh, "last_ts",
                                      (json_int_t)(d->last_ts_ns == INT64_MIN ? 0 : d->last_ts_ns), "events",
                                      (json_int_t)d->events);
                if (!o || json_array_append_new(devs, o) < 0)
                        goto fail;
        }
        for (size_t k = 0; k < a->nslots; k++) {
                json_t *sl = json_array();
                if (!sl || json_array_append_new(slots, sl) < 0)
                        goto fail;
                for (size_t i = 0; i < a->ndev; i++) {
                        const acct_slot_dev *sd = &a->slots[k].dev[i];
                        json_t *o = json_pack("[f f f f I I]", sd->kwh, sd->export_kwh, sd->est_kwh, sd->late_kwh,
                                              (json_int_t)sd->taken, (json_int_t)sd->events);
                        if (!o || json_array_append_new(sl, o) < 0)
                                goto fail;
                }
        }
        for (size_t i = 0; i < DCEM_ROLLUP_MONTHS; i++)
                if (a->rollup.month_valid[i] && json_array_append_new(months, sums_json(&a->rollup.months[i])) < 0)
                        goto fail;
        for (size_t i = 0; i < a->ledger.n; i++) {
                const dcem_cert_entry *e = &a->ledger.e[i];
                /* serials as strings: uint64 does not fit json_int_t */
                char f[24], l[24];
                snprintf(f, sizeof(f), "%llu", (unsigned long long)e->first);
                snprintf(l, sizeof(l), "%llu", (unsigned long long)e->last);
                json_t *o = json_pack("{ss ss ss sI sf}", "prefix", e->prefix, "first", f, "last", l, "month",
                                      (json_int_t)e->month, "kwh", e->kwh);
                if (!o || json_array_append_new(ledger, o) < 0)
                        goto fail;
        }
        for (int k = 0; k < _DCEM_EV_MAX; k++)
                if (json_array_append_new(evs, json_integer((json_int_t)a->ev_count[k])) < 0)
                        goto fail;
        json_t *rollup = json_pack("{sb so so so so sI}", "open", a->rollup.open, "hour", sums_json(&a->rollup.hour),
                                   "day", sums_json(&a->rollup.day), "month", sums_json(&a->rollup.month), "months",
                                   months, "last_closed_month",
                                   (json_int_t)(a->rollup.last_closed_month == INT64_MIN ? -1
                                                                                          : a->rollup.last_closed_month));
        months = NULL;
        if (!rollup)
                goto fail;
        json_t *body = json_pack("{sI sI sb sI sI so so so so so so}", "record_interval_ns",
                                 (json_int_t)a->conf.record_interval_ns, "saved_ns", (json_int_t)now, "started",
                                 a->started, "first_ns", (json_int_t)a->first_ns, "seq", (json_int_t)a->seq, "devices",
                                 devs, "slots", slots, "last", a->have_last ? sums_json(&a->last) : json_null(),
                                 "rollup", rollup, "ledger", ledger, "events", evs);
        return body; /* json_pack "o" steals even on failure */
fail:
        json_decref(devs);
        json_decref(slots);
        json_decref(months);
        json_decref(ledger);
        json_decref(evs);
        return NULL;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

int dcem_state_save(const char *dir, const dcem_acct *a, int64_t now, char *errbuf, size_t errlen) {
        char path[PATH_MAX], tmp[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, DCEM_STATE_FILE) >= (int)sizeof(path) ||
            snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, DCEM_STATE_FILE) >= (int)sizeof(tmp)) {
                set_err(errbuf, errlen, "state directory path too long");
                return -ENAMETOOLONG;
        }
        json_t *body = body_json(a, now);
        if (!body) {
                set_err(errbuf, errlen, "out of memory encoding the accounting state");
                return -ENOMEM;
        }
        char *btxt = json_dumps(body, DUMP_FLAGS);
        char hex[65];
        if (!btxt || sha256_hex(btxt, strlen(btxt), hex) < 0) {
                free(btxt);
                json_decref(body);
                set_err(errbuf, errlen, "cannot encode the accounting state");
                return -ENOMEM;
        }
        free(btxt);
        json_t *doc = json_pack("{ss si so ss}", "format", FORMAT_NAME, "version", DCEM_STATE_VERSION, "body", body,
                                "sha256", hex);
        char *txt = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
        json_decref(doc);
        if (!txt) {
                set_err(errbuf, errlen, "out of memory encoding the accounting state");
                return -ENOMEM;
        }
        int r = 0;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = -errno;
                set_err(errbuf, errlen, "%s: open: %s", tmp, strerror(-r));
                free(txt);
                return r;
        }
        r = write_all(fd, txt, strlen(txt));
        if (r == 0)
                r = write_all(fd, "\n", 1);
        free(txt);
        if (r < 0) {
                set_err(errbuf, errlen, "%s: write: %s", tmp, strerror(-r));
        } else if (fsync(fd) < 0) {
                r = -errno;
                set_err(errbuf, errlen, "%s: fsync: %s", tmp, strerror(-r));
        }
        if (close(fd) < 0 && r == 0) {
                r = -errno;
                set_err(errbuf, errlen, "%s: close: %s", tmp, strerror(-r));
        }
        if (r == 0 && rename(tmp, path) < 0) {
                r = -errno;
                set_err(errbuf, errlen, "rename %s -> %s: %s", tmp, path, strerror(-r));
        }
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                set_err(errbuf, errlen, "%s: open directory: %s", dir, strerror(-r));
                return r;
        }
        if (fsync(dfd) < 0) {
                r = -errno;
                set_err(errbuf, errlen, "%s: fsync directory: %s", dir, strerror(-r));
        }
        close(dfd);
        return r;
}

/* ---- decoding ---- */

typedef struct loader {
        char *err;
        size_t errlen;
        bool bad;
} loader;

static void bad(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(loader *L, const char *fmt, ...) {
        if (L->bad)
                return; /* keep the first reason */
        L->bad = true;
        if (!L->err || !L->errlen)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err, L->errlen, fmt, ap);
        va_end(ap);
}

static int64_t get_int(loader *L, const json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v)) {
                bad(L, "field \"%s\": expected an integer", key);
                return 0;
        }
        return (int64_t)json_integer_value(v);
}

static double get_num(loader *L, const json_t *v, const char *what) {
        if (!json_is_number(v)) {
                bad(L, "%s: expected a number", what);
                return 0;
        }
        double d = json_number_value(v);
        if (!isfinite(d)) {
                bad(L, "%s: not finite", what);
                return 0;
        }
        return d;
}

static double get_dbl(loader *L, const json_t *o, const char *key) {
        return get_num(L, json_object_get(o, key), key);
}

static bool get_bool(loader *L, const json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        if (!json_is_boolean(v)) {
                bad(L, "field \"%s\": expected true or false", key);
                return false;
        }
        return json_is_true(v);
}

static void get_sums(loader *L, const json_t *o, dcem_acct_sums *s, const char *what) {
        memset(s, 0, sizeof(*s));
        if (!json_is_object(o)) {
                bad(L, "%s: expected an object", what);
                return;
        }
        s->start_ns = get_int(L, o, "start");
        s->end_ns = get_int(L, o, "end");
        s->covered_ns = get_int(L, o, "covered");
        int64_t n = get_int(L, o, "n");
        s->n_intervals = n < 0 ? 0 : (uint64_t)n;
        json_t *k = json_object_get(o, "kwh"), *e = json_object_get(o, "est");
        if (!json_is_array(k) || !json_is_array(e) || json_array_size(k) != _DCEM_ACC_MAX ||
            json_array_size(e) != _DCEM_ACC_MAX) {
                bad(L, "%s: kwh/est must be arrays of %d numbers", what, _DCEM_ACC_MAX);
                return;
        }
        for (size_t i = 0; i < _DCEM_ACC_MAX; i++) {
                s->kwh[i] = get_num(L, json_array_get(k, i), "kwh");
                s->est_kwh[i] = get_num(L, json_array_get(e, i), "est");
        }
        s->readings_taken = get_dbl(L, o, "taken");
        s->readings_expected = get_dbl(L, o, "expected");
        s->late_kwh = get_dbl(L, o, "late");
        int64_t ev = get_int(L, o, "events"), cats = get_int(L, o, "cats");
        s->events = ev < 0 ? 0 : (uint64_t)ev;
        s->it_categories = (uint32_t)(cats & 0xe);
        s->contract_kwh = get_dbl(L, o, "contract");
        s->cert_kwh = get_dbl(L, o, "cert");
        s->instruments_final = get_bool(L, o, "final");
        if (json_object_get(o, "cexpected")) {
                s->compute_taken = get_dbl(L, o, "ctaken");
                s->compute_expected = get_dbl(L, o, "cexpected");
        }
        if (!L->bad && (n < 0 || ev < 0 || s->end_ns < s->start_ns || s->covered_ns < 0 || s->readings_taken < 0 ||
                        s->readings_expected < 0 || s->compute_taken < 0 || s->compute_expected < 0))
                bad(L, "%s: inconsistent window or counts", what);
}

static void get_reading(loader *L, const json_t *o, const char *key, acct_reading *r) {
        json_t *v = json_object_get(o, key);
        memset(r, 0, sizeof(*r));
        if (json_is_null(v))
                return;
        if (!json_is_object(v)) {
                bad(L, "device reading \"%s\": expected an object or null", key);
                return;
        }
        r->have = true;
        r->value = get_dbl(L, v, "v");
        r->ts_ns = get_int(L, v, "ts");
}

static int read_file(const char *path, char **ret, size_t *ret_len, char *errbuf, size_t errlen) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                if (r != -ENOENT)
                        set_err(errbuf, errlen, "%s: open: %s", path, strerror(-r));
                else
                        set_err(errbuf, errlen, "%s: no accounting state (first start)", path);
                return r;
        }
        size_t cap = 65536, n = 0;
        char *buf = malloc(cap + 1);
        int r = 0;
        while (buf) {
                if (n == cap) {
                        if (cap >= DCEM_STATE_MAX_BYTES) {
                                r = -EFBIG;
                                set_err(errbuf, errlen, "%s: larger than %u bytes", path, DCEM_STATE_MAX_BYTES);
                                break;
                        }
                        char *nb = realloc(buf, cap * 2 + 1);
                        if (!nb)
                                break;
                        buf = nb;
                        cap *= 2;
                }
                ssize_t k = read(fd, buf + n, cap - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        set_err(errbuf, errlen, "%s: read: %s", path, strerror(-r));
                        break;
                }
                if (k == 0) {
                        close(fd);
                        buf[n] = '\0';
                        *ret = buf;
                        *ret_len = n;
                        return 0;
                }
                n += (size_t)k;
        }
        close(fd);
        free(buf);
        if (r == 0) {
                r = -ENOMEM;
                set_err(errbuf, errlen, "%s: out of memory", path);
        }
        return r;
}

int dcem_state_load(const char *dir, dcem_acct *a, int64_t now, dcem_state_info *ret_info, char *errbuf,
                    size_t errlen) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, DCEM_STATE_FILE) >= (int)sizeof(path)) {
                set_err(errbuf, errlen, "state directory path too long");
                return -ENAMETOOLONG;
        }
        if (a->started) {
                set_err(errbuf, errlen, "accounting already started: load the state before the first reading");
                return -EBUSY;
        }
        char *txt = NULL;
        size_t len = 0;
        int r = read_file(path, &txt, &len, errbuf, errlen);
        if (r < 0)
                return r;
        json_error_t jerr;
        json_t *doc = json_loadb(txt, len, JSON_REJECT_DUPLICATES, &jerr);
        free(txt);
        if (!doc) {
                set_err(errbuf, errlen, "%s:%d:%d: corrupt accounting state: %s", path, jerr.line, jerr.column,
                        jerr.text);
                return -EBADMSG;
        }
        loader L = { .err = errbuf, .errlen = errlen };
        /* Temporaries, committed only when everything validated. */
        acct_slot *slots = NULL;
        size_t nslots = 0;
        dcem_cert_ledger ledger = { 0 };
        acct_dev *devs = NULL;
        dcem_rollup ro;
        dcem_acct_sums last = { 0 };
        size_t dropped = 0, restored = 0;
        ssize_t *map = NULL; /* state device index -> engine index or -1 */
        r = -EBADMSG;

        json_t *fmt = json_object_get(doc, "format"), *ver = json_object_get(doc, "version");
        json_t *body = json_object_get(doc, "body"), *sum = json_object_get(doc, "sha256");
        if (!json_is_string(fmt) || strcmp(json_string_value(fmt), FORMAT_NAME) != 0) {
                bad(&L, "%s: not a dcem accounting state (format)", path);
                goto out;
        }
        if (!json_is_integer(ver) || json_integer_value(ver) != DCEM_STATE_VERSION) {
                bad(&L, "%s: unsupported state version (this agent reads version %d)", path, DCEM_STATE_VERSION);
                goto out;
        }
        if (!json_is_object(body) || !json_is_string(sum)) {
                bad(&L, "%s: body or sha256 missing", path);
                goto out;
        }
        char *btxt = json_dumps(body, DUMP_FLAGS);
        char hex[65];
        if (!btxt || sha256_hex(btxt, strlen(btxt), hex) < 0) {
                free(btxt);
                r = -ENOMEM;
                bad(&L, "%s: out of memory", path);
                goto out;
        }
        free(btxt);
        if (strcmp(hex, json_string_value(sum)) != 0) {
                bad(&L, "%s: checksum mismatch: the accounting state was altered or damaged", path);
                goto out;
        }
        L.bad = false;
        int64_t rec = get_int(&L, body, "record_interval_ns");
        if (!L.bad && rec != a->conf.record_interval_ns) {
                bad(&L, "%s: state written with a record interval of %lld s, configuration says %lld s: move the state away to start afresh",
                    path, (long long)(rec / 1000000000), (long long)(a->conf.record_interval_ns / 1000000000));
                r = -EINVAL;
                goto out;
        }
        int64_t saved = get_int(&L, body, "saved_ns");
        bool started = get_bool(&L, body, "started");
        int64_t first_ns = get_int(&L, body, "first_ns");
        int64_t seq = get_int(&L, body, "seq");
        if (L.bad)
                goto out;
        if (seq < 0 || first_ns % a->conf.record_interval_ns != 0) {
                bad(&L, "%s: bad seq or interval start", path);
                goto out;
        }
        json_t *jd = json_object_get(body, "devices");
        if (!json_is_array(jd) || json_array_size(jd) > DCEM_ACCT_MAX_DEVICES) {
                bad(&L, "%s: devices: expected a list", path);
                goto out;
        }
        size_t nsd = json_array_size(jd);
        map = calloc(nsd ? nsd : 1, sizeof(*map));
        devs = calloc(a->ndev ? a->ndev : 1, sizeof(*devs));
        if (!map || !devs) {
                r = -ENOMEM;
                bad(&L, "out of memory");
                goto out;
        }
        if (a->ndev)
                memcpy(devs, a->devs, a->ndev * sizeof(*devs));
        for (size_t i = 0; i < nsd; i++) {
                json_t *o = json_array_get(jd, i), *jn = json_object_get(o, "name");
                if (!json_is_string(jn)) {
                        bad(&L, "%s: devices[%zu].name: expected a string", path, i);
                        goto out;
                }
                ssize_t k = acct_find(a, json_string_value(jn));
                for (size_t j = 0; k >= 0 && j < i; j++)
                        if (map[j] == k) {
                                bad(&L, "%s: device %s listed twice", path, json_string_value(jn));
                                goto out;
                        }
                map[i] = k;
                if (k < 0) {
                        dropped++;
                        continue;
                }
                acct_dev *d = &devs[k];
                get_reading(&L, o, "imp", &d->imp);
                get_reading(&L, o, "exp", &d->exp);
                get_reading(&L, o, "pw", &d->pw);
                d->seen_counter = get_bool(&L, o, "seen_counter");
                d->total_kwh = get_dbl(&L, o, "total_kwh");
                d->total_export_kwh = get_dbl(&L, o, "total_export_kwh");
                d->total_est_kwh = get_dbl(&L, o, "total_est_kwh");
                int64_t lt = get_int(&L, o, "last_ts");
                d->last_ts_ns = lt == 0 ? INT64_MIN : lt;
                int64_t ev = get_int(&L, o, "events");
                d->events = ev < 0 ? 0 : (uint64_t)ev;
                d->resumed = d->imp.have;
                d->rt_head = d->rt_n = 0;
                if (L.bad)
                        goto out;
                if ((d->imp.have && d->imp.value < 0) || (d->exp.have && d->exp.value < 0) ||
                    (d->pw.have && d->pw.value < 0)) {
                        bad(&L, "%s: device %s: negative reading", path, d->name);
                        goto out;
                }
                if ((int)json_integer_value(json_object_get(o, "role")) != (int)d->spec.role) {
                        /* a device whose role changed starts without a baseline: its old readings meant something else */
                        d->imp.have = d->exp.have = d->pw.have = false;
                        d->resumed = false;
                        dropped++;
                        continue;
                }
                restored++;
        }
        json_t *js = json_object_get(body, "slots");
        size_t maxs = acct_max_slots(a);
        if (!json_is_array(js) || json_array_size(js) > maxs) {
                bad(&L, "%s: slots: expected a list of at most %zu open intervals", path, maxs);
                goto out;
        }
        nslots = json_array_size(js);
        slots = calloc(nslots ? nslots : 1, sizeof(*slots));
        if (!slots) {
                r = -ENOMEM;
                bad(&L, "out of memory");
                goto out;
        }
        for (size_t k = 0; k < nslots; k++) {
                json_t *sl = json_array_get(js, k);
                slots[k].dev = calloc(a->ndev ? a->ndev : 1, sizeof(acct_slot_dev));
                if (!slots[k].dev) {
                        r = -ENOMEM;
                        bad(&L, "out of memory");
                        goto out;
                }
                if (!json_is_array(sl) || json_array_size(sl) != nsd) {
                        bad(&L, "%s: slots[%zu]: expected one entry per device", path, k);
                        goto out;
                }
                for (size_t i = 0; i < nsd; i++) {
                        json_t *e = json_array_get(sl, i);
                        if (!json_is_array(e) || json_array_size(e) != 6 || !json_is_integer(json_array_get(e, 4)) ||
                            !json_is_integer(json_array_get(e, 5))) {
                                bad(&L, "%s: slots[%zu][%zu]: expected [kwh, export, est, late, taken, events]", path,
                                    k, i);
                                goto out;
                        }
                        if (map[i] < 0)
                                continue;
                        acct_slot_dev *sd = &slots[k].dev[map[i]];
                        sd->kwh = get_num(&L, json_array_get(e, 0), "slot kwh");
                        sd->export_kwh = get_num(&L, json_array_get(e, 1), "slot export");
                        sd->est_kwh = get_num(&L, json_array_get(e, 2), "slot est");
                        sd->late_kwh = get_num(&L, json_array_get(e, 3), "slot late");
                        json_int_t t = json_integer_value(json_array_get(e, 4)),
                                   ev = json_integer_value(json_array_get(e, 5));
                        if (t < 0 || t > UINT32_MAX || ev < 0 || ev > UINT32_MAX) {
                                bad(&L, "%s: slots[%zu][%zu]: counts out of range", path, k, i);
                                goto out;
                        }
                        sd->taken = (uint32_t)t;
                        sd->events = (uint32_t)ev;
                }
        }
        json_t *jl = json_object_get(body, "last");
        bool have_last = !json_is_null(jl);
        if (have_last)
                get_sums(&L, jl, &last, "last");
        json_t *jr = json_object_get(body, "rollup");
        dcem_rollup_init(&ro);
        if (!json_is_object(jr)) {
                bad(&L, "%s: rollup: expected an object", path);
                goto out;
        }
        ro.open = get_bool(&L, jr, "open");
        get_sums(&L, json_object_get(jr, "hour"), &ro.hour, "rollup.hour");
        get_sums(&L, json_object_get(jr, "day"), &ro.day, "rollup.day");
        get_sums(&L, json_object_get(jr, "month"), &ro.month, "rollup.month");
        int64_t lcm = get_int(&L, jr, "last_closed_month");
        ro.last_closed_month = lcm < 0 ? INT64_MIN : lcm;
        json_t *jm = json_object_get(jr, "months");
        if (!json_is_array(jm) || json_array_size(jm) > DCEM_ROLLUP_MONTHS) {
                bad(&L, "%s: rollup.months: expected a list of at most %d months", path, DCEM_ROLLUP_MONTHS);
                goto out;
        }
        for (size_t i = 0; i < json_array_size(jm); i++) {
                dcem_acct_sums ms;
                get_sums(&L, json_array_get(jm, i), &ms, "rollup.months[]");
                if (L.bad)
                        goto out;
                int64_t m = dcem_month_of(ms.start_ns);
                size_t slot = (size_t)(((m % DCEM_ROLLUP_MONTHS) + DCEM_ROLLUP_MONTHS) % DCEM_ROLLUP_MONTHS);
                if (ms.start_ns != dcem_month_start_ns(m) || ro.month_valid[slot]) {
                        bad(&L, "%s: rollup.months[%zu]: not a month, or a month twice", path, i);
                        goto out;
                }
                ro.months[slot] = ms;
                ro.month_valid[slot] = true;
        }
        json_t *jg = json_object_get(body, "ledger");
        if (!json_is_array(jg) || json_array_size(jg) > DCEM_LEDGER_MAX) {
                bad(&L, "%s: ledger: expected a list", path);
                goto out;
        }
        for (size_t i = 0; i < json_array_size(jg); i++) {
                json_t *o = json_array_get(jg, i);
                json_t *pf = json_object_get(o, "prefix"), *f = json_object_get(o, "first"),
                       *l = json_object_get(o, "last");
                dcem_cert_entry e = { 0 };
                char sf[64], sl[64], p1[24], p2[24];
                if (!json_is_string(pf) || !json_is_string(f) || !json_is_string(l) ||
                    strlen(json_string_value(pf)) >= 24 || strlen(json_string_value(f)) > 20 ||
                    strlen(json_string_value(l)) > 20) {
                        bad(&L, "%s: ledger[%zu]: bad serials", path, i);
                        goto out;
                }
                snprintf(sf, sizeof(sf), "%s%s", json_string_value(pf), json_string_value(f));
                snprintf(sl, sizeof(sl), "%s%s", json_string_value(pf), json_string_value(l));
                if (dcem_cert_serial_parse(sf, p1, &e.first) < 0 || dcem_cert_serial_parse(sl, p2, &e.last) < 0 ||
                    strcmp(p1, json_string_value(pf)) != 0) {
                        bad(&L, "%s: ledger[%zu]: bad serials", path, i);
                        goto out;
                }
                memcpy(e.prefix, p1, sizeof(e.prefix));
                e.month = get_int(&L, o, "month");
                e.kwh = get_dbl(&L, o, "kwh");
                if (L.bad)
                        goto out;
                int k = dcem_cert_ledger_add(&ledger, &e);
                if (k < 0) {
                        r = k == -ENOMEM ? -ENOMEM : -EBADMSG;
                        bad(&L, "%s: ledger[%zu]: %s", path, i,
                            k == -EEXIST ? "a serial applied twice" : "invalid entry");
                        goto out;
                }
        }
        json_t *je = json_object_get(body, "events");
        if (!json_is_array(je) || json_array_size(je) != _DCEM_EV_MAX) {
                bad(&L, "%s: events: expected %d counters", path, _DCEM_EV_MAX);
                goto out;
        }
        if (L.bad)
                goto out;

        /* Commit. */
        for (size_t k = 0; k < a->nslots; k++)
                free(a->slots[k].dev);
        free(a->slots);
        a->slots = slots;
        a->nslots = a->capslots = nslots;
        slots = NULL;
        if (a->ndev)
                memcpy(a->devs, devs, a->ndev * sizeof(*devs));
        dcem_cert_ledger_free(&a->ledger);
        a->ledger = ledger;
        ledger = (dcem_cert_ledger){ 0 };
        a->rollup = ro;
        a->last = last;
        a->have_last = have_last;
        a->started = started;
        a->first_ns = first_ns;
        a->seq = (uint64_t)seq;
        a->resume_ns = now;
        for (int k = 0; k < _DCEM_EV_MAX; k++) {
                json_int_t v = json_integer_value(json_array_get(je, (size_t)k));
                a->ev_count[k] = v < 0 ? 0 : (uint64_t)v;
        }
        if (ret_info)
                *ret_info = (dcem_state_info){
                        .saved_ns = saved, .next_seq = (uint64_t)seq, .devices_restored = restored,
                        .devices_dropped = dropped, .devices_new = a->ndev - restored, .open_intervals = nslots,
                        .certificates = a->ledger.n,
                };
        r = 0;
out:
        if (slots) {
                for (size_t k = 0; k < nslots; k++)
                        free(slots[k].dev);
                free(slots);
        }
        dcem_cert_ledger_free(&ledger);
        free(devs);
        free(map);
        json_decref(doc);
        if (r == -EBADMSG && !L.bad)
                set_err(errbuf, errlen, "%s: corrupt accounting state", path);
        return r;
}
