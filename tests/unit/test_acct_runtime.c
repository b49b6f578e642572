/* test_acct_runtime.c - the accounting's life in the agent, on a fake clock
 * with synthetic batches: intervals close once and are handed over once, the
 * state (and the outbox) are on disk before a record is handed over, a
 * restart from the saved state (kill -9: no save at exit) continues the
 * sequence without a duplicate or a gap and bridges the downtime so the
 * energy total is exact, an outbox left by a crash is handed over again only
 * when the state covers it, a wall-clock step is detected, a corrupt state is
 * refused, and a reload keeps the sequence.
 *
 * The synthetic site: a grid meter whose counter grows by 0.5 kWh per second
 * (1800 kW), a PDU counter at 0.1 kWh/s (360 kW, category 2) and a UPS giving
 * only power, 360 kW (category 1, integrated, estimated). Expected energies
 * follow from those slopes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "acct_runtime.h"
#include "compute_remote.h"
#include "dcem/state.h"
#include "fake_clock.h"

#define NS INT64_C(1000000000)
#define T0 (INT64_C(1795464000) * NS) /* 2026-11-23T20:00:00Z */
#define MONO0 (INT64_C(1000) * NS)

typedef struct rec {
        char stream[16];
        json_t *o;
} rec;

static struct {
        char dir[256];
        fake_clock fc;
        dcem_loop *loop;
        dcem_acct_conf aconf;
        dcem_device_conf devc[4];
        dcem_config cfg;
        rec recs[512];
        size_t n;
        size_t saved_checks;
} T;

static char *path_in(const char *name) {
        static char p[512];
        snprintf(p, sizeof p, "%s/%s", T.dir, name);
        return p;
}

/* The seq the state on disk says comes next. */
static int64_t disk_next_seq(void) {
        json_error_t je;
        json_t *doc = json_load_file(path_in(DCEM_STATE_FILE), 0, &je);
        if (!doc)
                return -1;
        int64_t s = (int64_t)json_integer_value(json_object_get(json_object_get(doc, "body"), "seq"));
        json_decref(doc);
        return s;
}

static void on_record(void *ud, const char *stream, const char *json, size_t len) {
        (void)ud;
        assert_int_equal(strlen(json), len);
        assert_true(T.n < 512);
        json_error_t je;
        json_t *o = json_loads(json, 0, &je);
        assert_non_null(o);
        if (!strcmp(stream, "intervals")) {
                json_t *rs = json_object_get(o, "record_seq");
                if (rs && json_integer_value(rs) < 90) { /* 99: the hand-made outbox record */
                        /* The state that closed it, and the outbox holding it, are on disk already. */
                        assert_true(disk_next_seq() > json_integer_value(rs));
                        assert_int_equal(access(path_in(DCEM_ACCT_OUTBOX_FILE), F_OK), 0);
                        T.saved_checks++;
                }
        }
        snprintf(T.recs[T.n].stream, sizeof T.recs[T.n].stream, "%s", stream);
        T.recs[T.n++].o = o;
}

static int setup(void **st) {
        (void)st;
        memset(&T, 0, sizeof T);
        const char *tmp = getenv("TMPDIR");
        snprintf(T.dir, sizeof T.dir, "%s/dcem-rt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(T.dir));
        fake_clock_init(&T.fc, MONO0, T0 + 3500 * DCEM_NS_PER_MS); /* 20:00:03.5: mid-interval */
        assert_int_equal(dcem_loop_new(&T.fc.clock, &T.loop), 0);
        dcem_acct_conf_defaults(&T.aconf);
        T.aconf.record_interval_ns = 10 * NS;
        T.aconf.close_delay_ns = 2 * NS;
        T.aconf.realtime_window_ns = 5 * NS;
        T.devc[0] = (dcem_device_conf){ .name = (char *)"grid", .role = DCEM_ROLE_GRID_IMPORT, .interval_ns = NS };
        T.devc[1] = (dcem_device_conf){ .name = (char *)"pdu", .role = DCEM_ROLE_IT, .pue_category = 2,
                                        .interval_ns = NS };
        T.devc[2] = (dcem_device_conf){ .name = (char *)"ups", .role = DCEM_ROLE_IT, .pue_category = 1,
                                        .interval_ns = NS };
        T.devc[3] = (dcem_device_conf){ .name = (char *)"crah", .role = DCEM_ROLE_COOLING, .interval_ns = NS };
        T.cfg = (dcem_config){ .site = (char *)"t", .interval_ns = NS, .state_dir = T.dir,
                               .devices_list = { T.devc, 3 }, .accounting_conf = &T.aconf };
        return 0;
}

static int teardown(void **st) {
        (void)st;
        for (size_t i = 0; i < T.n; i++)
                json_decref(T.recs[i].o);
        unlink(path_in(DCEM_STATE_FILE));
        unlink(path_in(DCEM_ACCT_OUTBOX_FILE));
        rmdir(T.dir);
        dcem_loop_free(T.loop);
        return 0;
}

static void feed_one(dcem_acct_rt *rt, const char *dev, const char *point, const char *unit, double v, int64_t ts) {
        dcem_batch *b = NULL;
        assert_int_equal(dcem_batch_new(dev, 4, &b), 0);
        dcem_sample s = { .value = v, .ts_ns = ts, .quality = DCEM_Q_GOOD };
        snprintf(s.device, sizeof s.device, "%s", dev);
        snprintf(s.point, sizeof s.point, "%s", point);
        snprintf(s.unit, sizeof s.unit, "%s", unit);
        assert_int_equal(dcem_batch_add(&b, &s), 0);
        b->ts_ns = ts;
        dcem_acct_rt_feed(rt, b);
        dcem_batch_unref(b);
}

/* Run the loop (ticks) and feed every whole second from now until utc `until` (exclusive). */
static void run_feeding(dcem_acct_rt *rt, int64_t until, bool with_crah) {
        for (;;) {
                int64_t now = T.fc.utc_ns;
                int64_t next = (now / NS + 1) * NS;
                if (next >= until)
                        break;
                assert_true(fake_clock_run_until(&T.fc, T.loop, T.fc.mono_ns + (next - now)) >= 0);
                double sec = (double)(next - T0) / (double)NS;
                feed_one(rt, "grid", "energy_kwh", "kWh", 100 + 0.5 * sec, next);
                feed_one(rt, "pdu", "energy_kwh", "Wh", (50 + 0.1 * sec) * 1000, next); /* in Wh: unit scaling */
                feed_one(rt, "ups", "power_kw", "kW", 360, next);
                if (with_crah)
                        feed_one(rt, "crah", "energy_kwh", "kWh", 7 + 0.02 * sec, next);
                feed_one(rt, "_agent", "energy_kwh", "kWh", 1, next); /* not an accounted device: ignored */
        }
        assert_true(fake_clock_run_until(&T.fc, T.loop, T.fc.mono_ns + (until - T.fc.utc_ns)) >= 0);
}

static json_t *interval(size_t i) {
        return T.recs[i].o;
}

static bool is_interval(size_t i) {
        const char *w = json_string_value(json_object_get(T.recs[i].o, "window"));
        return !strcmp(T.recs[i].stream, "intervals") && w && !strcmp(w, "interval");
}

static double energy(json_t *o, const char *acc) {
        json_t *e = json_object_get(json_object_get(o, "energy"), acc);
        return e ? json_number_value(json_object_get(e, "v")) : 0;
}

static double dnum(json_t *o, const char *k) {
        return json_number_value(json_object_get(o, k));
}

static void test_close_save_restart(void **st) {
        (void)st;
        dcem_acct_rt_hooks h = { .record = on_record };
        dcem_acct_rt *rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0); /* no state: a first start */
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        run_feeding(rt, T0 + 35 * NS, false);
        /* 3 intervals closed: [0,10) partial (energy from 04 s on), [10,20), [20,30) */
        int64_t seqs[64];
        size_t ni = 0;
        for (size_t i = 0; i < T.n; i++)
                if (is_interval(i))
                        seqs[ni++] = json_integer_value(json_object_get(interval(i), "record_seq"));
        assert_int_equal(ni, 3);
        size_t first = 0;
        while (!is_interval(first))
                first++;
        json_t *r0 = interval(first);
        assert_int_equal(seqs[0], 0);
        assert_string_equal(json_string_value(json_object_get(r0, "start")), "2026-11-23T20:00:00.000Z");
        assert_true(fabs(energy(r0, "grid_import") - 0.5 * 6) < 1e-9);     /* 04 s .. 10 s */
        /* polls every second: the first readings (04 s) are baselines, not
         * taken readings (the interval's energy before 04 s is unknown); 05 ..
         * 09 s are: 5 of 10 expected per device, 3 devices */
        int taken0 = 9 - 4;
        assert_true(fabs(dnum(r0, "readings_taken") - 3 * taken0) < 1e-12);
        assert_true(fabs(dnum(r0, "completeness") - taken0 / 10.0) < 1e-12);
        json_t *r1 = NULL;
        for (size_t i = first + 1; i < T.n && !r1; i++)
                if (is_interval(i))
                        r1 = interval(i);
        assert_true(fabs(energy(r1, "grid_import") - 5) < 1e-9);
        assert_true(fabs(energy(r1, "it_cat2") - 1) < 1e-9);
        assert_true(fabs(energy(r1, "it_cat1") - 1) < 1e-9);
        assert_true(fabs(dnum(r1, "completeness") - 1) < 1e-12);
        /* PUE cat 2 = 5 / 1 */
        json_t *figs = json_object_get(r1, "figures");
        size_t k;
        json_t *f;
        bool seen_pue2 = false;
        json_array_foreach(figs, k, f) {
                if (!strcmp(json_string_value(json_object_get(f, "metric")), "pue") &&
                    json_integer_value(json_object_get(f, "category")) == 2) {
                        assert_true(fabs(dnum(f, "value") - 5.0) < 1e-9);
                        seen_pue2 = true;
                }
        }
        assert_true(seen_pue2);
        /* metrics every tick: the realtime view over the last 5 s: grid 1800 kW */
        json_t *last_metrics = NULL;
        for (size_t i = 0; i < T.n; i++)
                if (!strcmp(T.recs[i].stream, "metrics"))
                        last_metrics = T.recs[i].o;
        assert_non_null(last_metrics);
        json_t *gl = json_object_get(json_object_get(last_metrics, "load"), "grid_import");
        assert_true(fabs(dnum(gl, "v") - 1800) < 1e-6);
        assert_int_equal(T.saved_checks, 3);

        /* kill -9: no save at exit; 25 s down; restart from the state saved at the last close */
        dcem_acct_rt_free(rt);
        fake_clock_advance(&T.fc, 25 * NS);
        size_t before = T.n;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        run_feeding(rt, T0 + 95 * NS, false);
        dcem_acct_rt_stats stt;
        dcem_acct_rt_get_stats(rt, &stt);
        for (size_t i = before; i < T.n; i++)
                if (is_interval(i))
                        seqs[ni++] = json_integer_value(json_object_get(interval(i), "record_seq"));
        /* [30,40) .. [80,90): six more, seq continuous, none twice */
        assert_int_equal(ni, 9);
        for (size_t i = 0; i < ni; i++)
                assert_int_equal(seqs[i], (int64_t)i);
        assert_int_equal(stt.next_seq, 9);
        /* the counters bridged the downtime: grid exact per interval and in total; the UPS (power) lost the gap */
        double total = 0;
        for (size_t i = 0; i < T.n; i++) {
                if (!is_interval(i))
                        continue;
                json_t *o = interval(i);
                total += energy(o, "grid_import");
                int64_t s = json_integer_value(json_object_get(o, "record_seq"));
                if (s >= 1)
                        assert_true(fabs(energy(o, "grid_import") - 5) < 1e-9);
                if (s >= 3 && s <= 5) {
                        assert_true(dnum(o, "completeness") < 1);
                        assert_true(energy(o, "it_cat1") < 1);
                }
                if (s == 8)
                        assert_true(fabs(energy(o, "it_cat1") - 1) < 1e-9);
        }
        assert_true(fabs(total - 0.5 * (90 - 4)) < 1e-9);
        assert_int_equal(T.saved_checks, 9);

        /* a reload adds a device and keeps the sequence */
        dcem_config cfg2 = T.cfg;
        cfg2.devices_list.n = 4;
        assert_int_equal(dcem_acct_rt_reload(rt, &cfg2), 0);
        before = T.n;
        run_feeding(rt, T0 + 115 * NS, true);
        size_t after = 0;
        for (size_t i = before; i < T.n; i++) {
                if (!is_interval(i))
                        continue;
                json_t *o = interval(i);
                assert_int_equal(json_integer_value(json_object_get(o, "record_seq")), (int64_t)(9 + after));
                after++;
        }
        assert_true(after >= 2);
        /* stop: a last save */
        assert_int_equal(dcem_acct_rt_stop(rt), 0);
        dcem_acct_rt_get_stats(rt, &stt);
        assert_int_equal(disk_next_seq(), (int64_t)stt.next_seq);
        dcem_acct_rt_free(rt);
}

static void write_file(const char *name, const char *txt) {
        FILE *f = fopen(path_in(name), "w");
        assert_non_null(f);
        fputs(txt, f);
        fclose(f);
}

static void test_outbox_replay(void **st) {
        (void)st;
        dcem_acct_rt_hooks h = { .record = on_record };
        dcem_acct_rt *rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        run_feeding(rt, T0 + 25 * NS, false);
        dcem_acct_rt_free(rt);
        int64_t next = disk_next_seq();
        assert_int_equal(next, 2);
        /* A crash after the save, before the hand-over: the outbox is handed over again. */
        char doc[512];
        snprintf(doc, sizeof doc,
                 "{\"format\":\"dcem-accounting-outbox\",\"after_seq\":%lld,\"records\":[{\"stream\":\"intervals\","
                 "\"interval\":true,\"json\":\"{\\\"window\\\":\\\"interval\\\",\\\"record_seq\\\":99}\"}]}",
                 (long long)next);
        write_file(DCEM_ACCT_OUTBOX_FILE, doc);
        size_t before = T.n;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_int_equal(T.n, before); /* not before start */
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        /* the record, then its ledger entry (accounting.ledger is on by default) */
        assert_int_equal(T.n, before + 2);
        assert_int_equal(json_integer_value(json_object_get(T.recs[before].o, "record_seq")), 99);
        assert_string_equal(T.recs[before + 1].stream, "ledger");
        json_t *e99 = T.recs[before + 1].o;
        assert_int_equal(json_integer_value(json_object_get(e99, "record_seq")), 99);
        assert_string_equal(json_string_value(json_object_get(e99, "record")),
                            "{\"window\":\"interval\",\"record_seq\":99}");
        int64_t e99_seq = (int64_t)json_integer_value(json_object_get(e99, "seq"));
        assert_true(e99_seq >= 1);
        assert_int_not_equal(access(path_in(DCEM_ACCT_OUTBOX_FILE), F_OK), 0);
        dcem_acct_rt_stats s;
        dcem_acct_rt_get_stats(rt, &s);
        assert_int_equal(s.replayed, 1);
        assert_int_equal(s.ledger_failures, 0);
        dcem_acct_rt_free(rt);
        /* The same record handed over again (a crash after the ledger append,
         * before the outbox was removed): its existing entry is published
         * again, nothing is chained twice. */
        write_file(DCEM_ACCT_OUTBOX_FILE, doc);
        before = T.n;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        assert_int_equal(T.n, before + 2);
        assert_string_equal(T.recs[before + 1].stream, "ledger");
        assert_true(json_equal(T.recs[before + 1].o, e99));
        dcem_acct_rt_free(rt);
        /* A crash before the save: the state is older, the intervals will be closed again: not handed over. */
        snprintf(doc, sizeof doc,
                 "{\"format\":\"dcem-accounting-outbox\",\"after_seq\":%lld,\"records\":[{\"stream\":\"intervals\","
                 "\"interval\":true,\"json\":\"{\\\"record_seq\\\":98}\"}]}",
                 (long long)next + 1);
        write_file(DCEM_ACCT_OUTBOX_FILE, doc);
        before = T.n;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        assert_int_equal(T.n, before);
        assert_int_not_equal(access(path_in(DCEM_ACCT_OUTBOX_FILE), F_OK), 0);
        dcem_acct_rt_free(rt);
}

static void test_clock_step(void **st) {
        (void)st;
        dcem_acct_rt_hooks h = { .record = on_record };
        dcem_acct_rt *rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        run_feeding(rt, T0 + 13 * NS, false);
        fake_clock_step_utc(&T.fc, 3 * NS); /* NTP steps the wall clock 3 s ahead */
        run_feeding(rt, T0 + 35 * NS, false);
        dcem_acct_rt_stats s;
        dcem_acct_rt_get_stats(rt, &s);
        assert_int_equal(s.clock_steps, 1);
        bool seen = false;
        for (size_t i = 0; i < T.n; i++) {
                if (!is_interval(i))
                        continue;
                size_t k;
                json_t *e;
                json_array_foreach(json_object_get(interval(i), "events"), k, e) {
                        if (!strcmp(json_string_value(json_object_get(e, "kind")), "clock_step")) {
                                seen = true;
                                /* the interval [10,20) holds the step: the 3 s skipped plus the delta that
                                 * spanned the step are not energy */
                                assert_string_equal(json_string_value(json_object_get(interval(i), "start")),
                                                    "2026-11-23T20:00:10.000Z");
                                assert_true(energy(interval(i), "grid_import") < 5 - 0.5 * 3 + 1e-9);
                        }
                }
        }
        assert_true(seen);
        dcem_acct_rt_free(rt);
}

static void test_corrupt_state(void **st) {
        (void)st;
        write_file(DCEM_STATE_FILE, "{\"format\": \"dcem-accounting-state\", \"version\": 1, \"body\": {\"seq\": 5}, "
                                    "\"sha256\": \"00\"}\n");
        dcem_acct_rt_hooks h = { .record = on_record };
        dcem_acct_rt *rt = (dcem_acct_rt *)&T; /* untouched on failure */
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), -EBADMSG);
        assert_ptr_equal(rt, (dcem_acct_rt *)&T);
        /* the file is kept for the operator */
        assert_int_equal(access(path_in(DCEM_STATE_FILE), F_OK), 0);
        /* a state written with another record interval does not fit */
        unlink(path_in(DCEM_STATE_FILE));
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_stop(rt), 0);
        dcem_acct_rt_free(rt);
        dcem_acct_conf other = T.aconf;
        other.record_interval_ns = 60 * NS;
        dcem_config c2 = T.cfg;
        c2.accounting_conf = &other;
        rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &c2, &h, &rt), -EINVAL);
        assert_null(rt);
}

/* The record's figure of metric/per/basis, or NULL. */
static json_t *figure_of(json_t *o, const char *metric, const char *per, const char *basis) {
        size_t k;
        json_t *f;
        json_array_foreach(json_object_get(o, "figures"), k, f) {
                const char *m = json_string_value(json_object_get(f, "metric"));
                const char *u = json_string_value(json_object_get(f, "per"));
                const char *b = json_string_value(json_object_get(f, "basis"));
                if (m && !strcmp(m, metric) && (!per || (u && !strcmp(u, per))) && (!basis || (b && !strcmp(b, basis))))
                        return f;
        }
        return NULL;
}

/* Carbon per unit of compute in the running agent: a host device (role none)
 * publishes cpu_core_seconds (8 cores busy) and gpu_busy_seconds (2 GPUs
 * busy): by default they become cpu_core_hour and gpu_hour, with SCI figures
 * per unit, both boundaries, labelled; a declared unit replaces the defaults;
 * a unit naming an unknown device is refused. */
static void test_compute_units(void **st) {
        (void)st;
        dcem_node dummy = { .type = DCEM_NODE_MAP };
        dcem_device_conf dv[3] = {
                { .name = (char *)"grid", .role = DCEM_ROLE_GRID_IMPORT, .interval_ns = NS },
                { .name = (char *)"pdu", .role = DCEM_ROLE_IT, .pue_category = 2, .interval_ns = NS },
                { .name = (char *)"srv", .role = DCEM_ROLE_NONE, .interval_ns = NS, .host = &dummy },
        };
        dcem_config cfg = T.cfg;
        cfg.devices_list = (dcem_list){ dv, 3 };
        dcem_acct_rt_hooks h = { .record = on_record };
        for (int pass = 0; pass < 2; pass++) {
                dcem_acct_unit_conf job = { .name = (char *)"job", .point = (char *)"jobs_done", .scale = 1,
                                            .divisor = 0.5 }; /* 2 jobs per count */
                char *devs[1] = { (char *)"srv" };
                job.devices = (dcem_strlist){ devs, 1 };
                dcem_acct_conf ac = T.aconf;
                if (pass == 1)
                        ac.compute.units = (dcem_list){ &job, 1 };
                cfg.accounting_conf = &ac;
                unlink(path_in(DCEM_STATE_FILE));
                size_t before = T.n;
                dcem_acct_rt *rt = NULL;
                assert_int_equal(dcem_acct_rt_new(T.loop, &cfg, &h, &rt), 0);
                assert_int_equal(dcem_acct_rt_start(rt), 0);
                int64_t base = T.fc.utc_ns / (10 * NS) * (10 * NS) + 10 * NS; /* the next interval start */
                for (;;) {
                        int64_t now = T.fc.utc_ns, next = (now / NS + 1) * NS;
                        if (next >= base + 35 * NS)
                                break;
                        assert_true(fake_clock_run_until(&T.fc, T.loop, T.fc.mono_ns + (next - now)) >= 0);
                        double sec = (double)(next - T0) / (double)NS;
                        feed_one(rt, "grid", "energy_kwh", "kWh", 100 + 0.5 * sec, next);
                        feed_one(rt, "pdu", "energy_kwh", "kWh", 50 + 0.1 * sec, next);
                        feed_one(rt, "srv", "cpu_core_seconds", "s", 1e6 + 8 * sec, next);
                        feed_one(rt, "srv", "gpu_busy_seconds", "s", 2 * sec, next);
                        feed_one(rt, "srv", "jobs_done", "", 3 * sec, next);
                        feed_one(rt, "srv", "load1", "", 0.5, next);
                }
                json_t *iv = NULL; /* the first whole interval after base */
                for (size_t i = before; i < T.n && !iv; i++)
                        if (is_interval(i) && json_integer_value(json_object_get(interval(i), "record_seq")) >= 2)
                                iv = interval(i);
                assert_non_null(iv);
                json_t *comp = json_object_get(iv, "compute");
                double edc = 0.5 * 10, eit = 0.1 * 10, ef = T.aconf.carbon.grid_factor;
                if (pass == 0) {
                        double ch = 8.0 * 10 / 3600, gh = 2.0 * 10 / 3600;
                        assert_true(fabs(dnum(json_object_get(comp, "cpu_core_hour"), "v") - ch) < 1e-12);
                        assert_true(fabs(dnum(json_object_get(comp, "gpu_hour"), "v") - gh) < 1e-12);
                        assert_null(json_object_get(comp, "job"));
                        json_t *f = figure_of(iv, "sci", "cpu_core_hour", "x_pue");
                        assert_non_null(f);
                        assert_true(fabs(dnum(f, "value") - eit * (edc / eit) * ef * 1000 / ch) < 1e-6);
                        assert_string_equal(json_string_value(json_object_get(f, "unit")), "gCO2");
                        assert_string_equal(json_string_value(json_object_get(f, "factor_source")),
                                            T.aconf.carbon.source);
                        assert_true(json_is_false(json_object_get(f, "embodied_included")));
                        f = figure_of(iv, "sci", "cpu_core_hour", "it_only");
                        assert_true(fabs(dnum(f, "value") - eit * ef * 1000 / ch) < 1e-6);
                        f = figure_of(iv, "sci", "gpu_hour", "x_pue");
                        assert_true(fabs(dnum(f, "value") - edc * ef * 1000 / gh) < 1e-6);
                        f = figure_of(iv, "sci", "kWh_it", "x_pue");
                        assert_true(fabs(dnum(f, "value") - edc * ef * 1000 / eit) < 1e-6);
                        /* the counters are not devices */
                        assert_int_equal(json_array_size(json_object_get(iv, "devices")), 2);
                } else {
                        assert_null(json_object_get(comp, "cpu_core_hour"));
                        double jobs = 3.0 * 10 * 2;
                        assert_true(fabs(dnum(json_object_get(comp, "job"), "v") - jobs) < 1e-9);
                        json_t *f = figure_of(iv, "sci", "job", "x_pue");
                        assert_true(fabs(dnum(f, "value") - edc * ef * 1000 / jobs) < 1e-6);
                }
                dcem_acct_rt_free(rt);
        }
        /* a unit naming an unknown device: refused */
        dcem_acct_unit_conf bad = { .name = (char *)"job", .point = (char *)"jobs_done", .scale = 1, .divisor = 1 };
        char *nd[1] = { (char *)"nosuch" };
        bad.devices = (dcem_strlist){ nd, 1 };
        dcem_acct_conf ac = T.aconf;
        ac.compute.units = (dcem_list){ &bad, 1 };
        cfg.accounting_conf = &ac;
        dcem_acct_rt *rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &cfg, &h, &rt), -EINVAL);
        assert_null(rt);
}

/* Feed the host counters (and the meters) every second until utc `until`. */
static void feed_host_until(dcem_acct_rt *rt, int64_t until) {
        for (;;) {
                int64_t now = T.fc.utc_ns, next = (now / NS + 1) * NS;
                if (next >= until)
                        break;
                assert_true(fake_clock_run_until(&T.fc, T.loop, T.fc.mono_ns + (next - now)) >= 0);
                double sec = (double)(next - T0) / (double)NS;
                feed_one(rt, "grid", "energy_kwh", "kWh", 100 + 0.5 * sec, next);
                feed_one(rt, "pdu", "energy_kwh", "kWh", 50 + 0.1 * sec, next);
                feed_one(rt, "srv", "cpu_core_seconds", "s", 1e6 + 8 * sec, next);
        }
}

/* kill -9 and restart: the compute counters' baselines and open amounts are
 * in the saved state, so the core-hours over the downtime are bridged like
 * energy: every whole interval has exactly 8 cores x 10 s, none twice. */
static void test_compute_units_restart(void **st) {
        (void)st;
        dcem_node dummy = { .type = DCEM_NODE_MAP };
        dcem_device_conf dv[3] = {
                { .name = (char *)"grid", .role = DCEM_ROLE_GRID_IMPORT, .interval_ns = NS },
                { .name = (char *)"pdu", .role = DCEM_ROLE_IT, .pue_category = 2, .interval_ns = NS },
                { .name = (char *)"srv", .role = DCEM_ROLE_NONE, .interval_ns = NS, .host = &dummy },
        };
        dcem_config cfg = T.cfg;
        cfg.devices_list = (dcem_list){ dv, 3 };
        dcem_acct_rt_hooks h = { .record = on_record };
        dcem_acct_rt *rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        feed_host_until(rt, T0 + 26 * NS);
        dcem_acct_rt_free(rt); /* kill -9: no save at exit */
        assert_true(fake_clock_run_until(&T.fc, T.loop, T.fc.mono_ns + 13 * NS) >= 0); /* 13 s down */
        rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        feed_host_until(rt, T0 + 75 * NS);
        dcem_acct_rt_stop(rt);
        dcem_acct_rt_free(rt);
        int64_t seen[16] = { 0 };
        double total = 0;
        size_t n = 0;
        for (size_t i = 0; i < T.n; i++) {
                if (!is_interval(i))
                        continue;
                int64_t seq = json_integer_value(json_object_get(interval(i), "record_seq"));
                assert_true(seq >= 0 && seq < 16);
                if (seen[seq]++)
                        continue; /* replayed: the same record again */
                double v = dnum(json_object_get(json_object_get(interval(i), "compute"), "cpu_core_hour"), "v");
                total += v;
                n++;
                if (seq >= 1) /* [10,20) on: whole intervals, across the downtime too */
                        assert_true(fabs(v - 8.0 * 10 / 3600) < 1e-12);
        }
        assert_true(n >= 6);
        /* from the first reading (04 s) to the end of the last closed interval */
        assert_true(fabs(total - 8.0 * ((double)n * 10 - 4) / 3600) < 1e-12);
}

/* A device message as a host agent publishes it (docs/MQTT.md). */
static int remote_msg(dcem_acct_rt *rt, const char *site, const char *dev, int64_t ts, uint64_t seq, double cs) {
        char ts_s[40], payload[512], topic[128];
        time_t sec = (time_t)(ts / NS);
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(ts_s, sizeof ts_s, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(payload, sizeof payload,
                 "{\"schema\":1,\"site\":\"%s\",\"device\":\"%s\",\"ts\":\"%s.%03dZ\",\"seq\":%llu,"
                 "\"points\":{\"cpu_core_seconds\":{\"v\":%.2f,\"u\":\"s\",\"q\":\"good\"},"
                 "\"gpu_count\":{\"v\":0,\"u\":\"\",\"q\":\"good\"}}}",
                 site, dev, ts_s, (int)(ts % NS / 1000000), (unsigned long long)seq, cs);
        snprintf(topic, sizeof topic, "dcem/%s/devices/%s", site, dev);
        return dcem_acct_rt_remote_message(rt, topic, payload, strlen(payload));
}

/* Host-a: 4 busy cores, host-b: 1 (core-seconds per second). */
static double cs_a(int64_t t) { return 5e5 + 4.0 * (double)(t - T0) / (double)NS; }
static double cs_b(int64_t t) { return 2e4 + 1.0 * (double)(t - T0) / (double)NS; }

/* Meters and both remote hosts every second until utc `until`; host-b stops at b_stop. */
static void feed_remote_until(dcem_acct_rt *rt, int64_t until, int64_t b_stop) {
        for (;;) {
                int64_t now = T.fc.utc_ns, next = (now / NS + 1) * NS;
                if (next >= until)
                        break;
                assert_true(fake_clock_run_until(&T.fc, T.loop, T.fc.mono_ns + (next - now)) >= 0);
                double sec = (double)(next - T0) / (double)NS;
                feed_one(rt, "grid", "energy_kwh", "kWh", 100 + 0.5 * sec, next);
                feed_one(rt, "pdu", "energy_kwh", "kWh", 50 + 0.1 * sec, next);
                uint64_t seq = (uint64_t)((next - T0) / NS);
                assert_int_equal(remote_msg(rt, "r1", "host-a", next, seq, cs_a(next)), 0);
                assert_int_equal(remote_msg(rt, "r1", "host-a", next, seq, cs_a(next)), -EALREADY); /* QoS 1 again */
                if (next < b_stop)
                        assert_int_equal(remote_msg(rt, "r2", "host-b", next, seq, cs_b(next)), 0);
        }
}

/* accounting.compute.remote in the runtime: two hosts' cpu_core_seconds,
 * arriving as device messages, summed into cpu_core_hour per interval
 * (hand-computed: 5 cores x 10 s); a redelivered message counted once; a
 * message older than one counted dropped; other devices' messages not even
 * parsed; a kill -9 and restart: the restored state seeds what was counted
 * (a redelivery of a message from before the crash is old), and the amounts
 * bridge the downtime; host-b going silent: compute_completeness drops and
 * compute_sources say which host. */
static void test_remote_hosts(void **st) {
        (void)st;
        dcem_device_conf dv[2] = {
                { .name = (char *)"grid", .role = DCEM_ROLE_GRID_IMPORT, .interval_ns = NS },
                { .name = (char *)"pdu", .role = DCEM_ROLE_IT, .pue_category = 2, .interval_ns = NS },
        };
        char *hosts[] = { (char *)"r1/host-a", (char *)"r2/host-b" };
        dcem_acct_conf ac = T.aconf;
        ac.compute.remote = (dcem_acct_remote_conf){ .topic = (char *)"dcem/+/devices/+", .hosts = { hosts, 2 },
                                                     .interval_ns = NS };
        dcem_config cfg = T.cfg;
        cfg.devices_list = (dcem_list){ dv, 2 };
        cfg.accounting_conf = &ac;
        dcem_acct_rt_hooks h = { .record = on_record };
        dcem_acct_rt *rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_null(dcem_acct_rt_remote_topic(rt));
        assert_int_equal(remote_msg(rt, "r1", "host-a", T0, 1, 1), -ENOENT);
        dcem_acct_rt_free(rt);
        assert_int_equal(dcem_acct_rt_new(T.loop, &cfg, &h, &rt), 0);
        assert_string_equal(dcem_acct_rt_remote_topic(rt), "dcem/+/devices/+");
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        assert_int_equal(dcem_acct_rt_remote_message(rt, "dcem/r1/devices/pdu-9", "garbage", 7), -ENOENT);
        assert_int_equal(dcem_acct_rt_remote_message(rt, "dcem/r1/devices/host-a", "garbage", 7), -EINVAL);
        feed_remote_until(rt, T0 + 26 * NS, INT64_MAX);
        assert_int_equal(remote_msg(rt, "r1", "host-a", T0 + 20 * NS, 20, cs_a(T0 + 20 * NS)), -ESTALE);
        dcem_acct_rt_free(rt); /* kill -9 */
        assert_true(fake_clock_run_until(&T.fc, T.loop, T.fc.mono_ns + 13 * NS) >= 0);
        assert_int_equal(dcem_acct_rt_new(T.loop, &cfg, &h, &rt), 0);
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        /* the broker redelivers what the crashed agent had not acknowledged: what the
           saved state (closing [10,20) at 20.5 s) counted is old, what came after is new */
        assert_int_equal(remote_msg(rt, "r1", "host-a", T0 + 20 * NS, 20, cs_a(T0 + 20 * NS)), -EALREADY);
        assert_int_equal(remote_msg(rt, "r2", "host-b", T0 + 15 * NS, 15, cs_b(T0 + 15 * NS)), -ESTALE);
        assert_int_equal(remote_msg(rt, "r1", "host-a", T0 + 25 * NS, 25, cs_a(T0 + 25 * NS)), 0);
        feed_remote_until(rt, T0 + 85 * NS, T0 + 63 * NS);
        struct dcem_remote_stats rs;
        dcem_acct_rt_remote_stats(rt, &rs);
        assert_int_equal(rs.out_of_order, 1);
        assert_true(rs.duplicates >= 40);
        dcem_acct_rt_stop(rt);
        dcem_acct_rt_free(rt);
        int64_t seen[16] = { 0 };
        size_t n = 0;
        for (size_t i = 0; i < T.n; i++) {
                if (!is_interval(i))
                        continue;
                json_t *iv = interval(i);
                int64_t seq = json_integer_value(json_object_get(iv, "record_seq"));
                assert_true(seq >= 0 && seq < 16);
                if (seen[seq]++)
                        continue;
                n++;
                double v = dnum(json_object_get(json_object_get(iv, "compute"), "cpu_core_hour"), "v");
                json_t *srcs = json_object_get(iv, "compute_sources");
                assert_int_equal(json_array_size(srcs), 2);
                assert_string_equal(json_string_value(json_object_get(json_array_get(srcs, 0), "source")), "r1/host-a");
                assert_string_equal(json_string_value(json_object_get(json_array_get(srcs, 1), "source")), "r2/host-b");
                double cb = dnum(json_array_get(srcs, 1), "completeness");
                if (seq >= 1 && seq <= 4) { /* whole intervals, across the downtime too: 5 cores x 10 s */
                        assert_true(fabs(v - 5.0 * 10 / 3600) < 1e-12);
                        if (seq != 2 && seq != 3) /* [20,30) and [30,40) hold the downtime: readings missing */
                                assert_true(fabs(dnum(iv, "compute_completeness") - 1) < 1e-12);
                }
                if (seq == 6) { /* [60,70): host-b read at 60, 61, 62: its counter 60 -> 62 only */
                        assert_true(fabs(v - (4.0 * 10 + 1.0 * 2) / 3600) < 1e-12);
                        assert_true(fabs(cb - 0.3) < 1e-12);
                        assert_true(fabs(dnum(iv, "compute_completeness") - 13.0 / 20) < 1e-12);
                }
                if (seq == 7) { /* [70,80): host-b silent: the denominator is flagged, not silently smaller */
                        assert_true(fabs(v - 4.0 * 10 / 3600) < 1e-12);
                        assert_true(fabs(cb) < 1e-12);
                        assert_true(fabs(dnum(iv, "compute_completeness") - 0.5) < 1e-12);
                        json_t *sci = figure_of(iv, "sci", "cpu_core_hour", "x_pue");
                        assert_non_null(sci);
                        assert_true(dnum(sci, "completeness") <= 0.5 + 1e-12);
                }
        }
        assert_true(n >= 8);
        /* the metrics record carries the message counters (since the restart) */
        json_t *m = NULL;
        for (size_t i = 0; i < T.n; i++)
                if (!strcmp(T.recs[i].stream, "metrics"))
                        m = T.recs[i].o;
        assert_non_null(m);
        json_t *cr = json_object_get(m, "compute_remote");
        assert_non_null(cr);
        assert_int_equal(json_integer_value(json_object_get(cr, "out_of_order")), 1);
        assert_int_equal(json_integer_value(json_object_get(cr, "duplicates")), rs.duplicates);
        json_t *ha = json_array_get(json_object_get(cr, "hosts"), 0);
        assert_string_equal(json_string_value(json_object_get(ha, "host")), "r1/host-a");
        assert_int_equal(json_integer_value(json_object_get(ha, "duplicates")), rs.duplicates);
        assert_string_equal(json_string_value(json_object_get(ha, "last_ts")), "2026-11-23T20:01:24.000Z");
}

/* Live intensity through the runtime: refused when not configured; with a
 * topic, a message feeds the next metrics record's carbon_rate_live, garbage
 * keeps the last good value, and the accounting records never use it. */
static void test_live_intensity(void **st) {
        (void)st;
        dcem_acct_rt_hooks h = { .record = on_record };
        dcem_acct_rt *rt = NULL;
        assert_int_equal(dcem_acct_rt_new(T.loop, &T.cfg, &h, &rt), 0);
        assert_null(dcem_acct_rt_live_topic(rt));
        assert_int_equal(dcem_acct_rt_live_intensity(rt, "400", 3), -ENOENT);
        dcem_acct_rt_free(rt);
        dcem_acct_conf ac = T.aconf;
        ac.live_intensity = (dcem_acct_live_conf){ .topic = (char *)"grid/moer", .unit = DCEM_LIVE_LBS_PER_MWH,
                                                   .source = (char *)"WattTime", .max_age_ns = 600 * NS };
        dcem_config cfg = T.cfg;
        cfg.accounting_conf = &ac;
        assert_int_equal(dcem_acct_rt_new(T.loop, &cfg, &h, &rt), 0);
        assert_string_equal(dcem_acct_rt_live_topic(rt), "grid/moer");
        assert_int_equal(dcem_acct_rt_start(rt), 0);
        assert_int_equal(dcem_acct_rt_live_intensity(rt, "{\"value\": 1000}", 15), 0);
        assert_int_equal(dcem_acct_rt_live_intensity(rt, "oops", 4), -EINVAL);
        run_feeding(rt, T0 + 25 * NS, false);
        json_t *m = NULL;
        for (size_t i = 0; i < T.n; i++)
                if (!strcmp(T.recs[i].stream, "metrics"))
                        m = T.recs[i].o;
        assert_non_null(m);
        json_t *l = json_object_get(m, "carbon_rate_live");
        assert_string_equal(json_string_value(json_object_get(l, "status")), "ok");
        assert_true(fabs(dnum(l, "intensity") - 1000 * 0.4536) < 1e-9);
        /* facility = grid 1800 kW (0.5 kWh/s): kg/h = 1800 x 453.6 / 1000 */
        assert_true(fabs(dnum(l, "value") - 1800 * 453.6 / 1000) < 1e-6);
        /* interval records carry no live intensity: carbon stays the official factor */
        for (size_t i = 0; i < T.n; i++)
                if (is_interval(i)) {
                        json_t *f = figure_of(interval(i), "carbon_location", NULL, NULL);
                        assert_true(dnum(f, "factor") == T.aconf.carbon.grid_factor);
                        assert_null(json_object_get(interval(i), "carbon_rate_live"));
                }
        dcem_acct_rt_free(rt);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_live_intensity, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compute_units_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remote_hosts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compute_units, setup, teardown),
                cmocka_unit_test_setup_teardown(test_close_save_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_outbox_replay, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_step, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_state, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
