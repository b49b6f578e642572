/* test_modbus_device.c - the poll engine (device.c) behind a fake transport
 * on the same seam as TCP and RTU: merged requests, decoding into samples,
 * split after an exception and its memory, retries and timeouts, SunSpec
 * discovery, cancel. The fake poll records what the engine reports. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "modbus/device.h"

/* ---- a fake dcem_poll (the core's side) ---- */
struct dcem_poll {
        dcem_sample s[256];
        size_t n;
        bool done;
        int status;
        char err[DCEM_ERR_MAX];
};

int dcem_poll_add(dcem_poll *p, const char *point, double value, const char *unit, dcem_quality quality,
                  dcem_kind kind) {
        assert_false(p->done);
        assert_true(p->n < 256);
        dcem_sample *s = &p->s[p->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->point, sizeof s->point, "%s", point);
        snprintf(s->unit, sizeof s->unit, "%s", unit ? unit : "");
        s->value = value;
        s->quality = (uint8_t)quality;
        s->kind = (uint8_t)kind;
        return 0;
}

int dcem_poll_add_text(dcem_poll *p, const char *point, const char *text, dcem_quality quality) {
        int r = dcem_poll_add(p, point, NAN, "", quality, DCEM_KIND_GAUGE);
        dcem_sample *s = &p->s[p->n - 1];
        s->kind = DCEM_KIND_TEXT;
        snprintf(s->text, sizeof s->text, "%s", quality == DCEM_Q_ERROR ? "" : text);
        return r;
}

void dcem_poll_done(dcem_poll *p, int status, const char *err) {
        assert_false(p->done);
        p->done = true;
        p->status = status;
        snprintf(p->err, sizeof p->err, "%s", err ? err : "");
}

static const dcem_sample *sample(const dcem_poll *p, const char *name) {
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->s[i].point, name) == 0)
                        return &p->s[i];
        fail_msg("no sample %s", name);
        return NULL;
}

/* ---- a fake transport: a register map per unit, answers on pump() ---- */
typedef struct fake {
        uint16_t reg[65536];
        uint8_t ok[65536];
        bool silent;           /* never answers: every request times out */
        bool full;             /* the queue is full: submit refuses */
        struct { uint64_t id; mb_xfer_req r; mb_xfer_cb cb; void *ud; bool live; } q[64];
        size_t nq;
        uint64_t next_id;
        unsigned sent, cancelled, released;
} fake;

static int f_submit(void *impl, const mb_xfer_req *req, mb_xfer_cb cb, void *ud, uint64_t *ret_id) {
        fake *f = impl;
        if (f->full)
                return -ENOBUFS;
        assert_true(f->nq < 64);
        f->q[f->nq].id = ++f->next_id;
        f->q[f->nq].r = *req;
        f->q[f->nq].cb = cb;
        f->q[f->nq].ud = ud;
        f->q[f->nq].live = true;
        f->nq++;
        f->sent++;
        *ret_id = f->next_id;
        return 0;
}
static void f_cancel(void *impl, uint64_t id) {
        fake *f = impl;
        for (size_t i = 0; i < f->nq; i++)
                if (f->q[i].id == id && f->q[i].live) {
                        f->q[i].live = false;
                        f->cancelled++;
                }
}
static void f_release(void *impl) { ((fake *)impl)->released++; }
static void f_free(void *impl) { (void)impl; }
static const mb_transport_ops fake_ops = { "fake", f_submit, f_cancel, f_release, f_free };

/* Answer every queued request, including those queued by the callbacks. */
static void pump(fake *f) {
        for (size_t i = 0; i < f->nq; i++) {
                if (!f->q[i].live)
                        continue;
                f->q[i].live = false;
                mb_xfer_req r = f->q[i].r;
                if (f->silent) {
                        f->q[i].cb(f->q[i].ud, -ETIMEDOUT, 0, NULL, NULL, 0);
                        continue;
                }
                uint16_t regs[125];
                bool all = true;
                for (unsigned k = 0; k < r.count; k++) {
                        all = all && f->ok[r.start + k];
                        regs[k] = f->reg[r.start + k];
                }
                if (!all)
                        f->q[i].cb(f->q[i].ud, -EPROTO, 2, NULL, NULL, 0);
                else
                        f->q[i].cb(f->q[i].ud, 0, 0, regs, NULL, r.count);
        }
        f->nq = 0;
}

static mb_point mkpt(const char *name, uint16_t reg, mb_type t) {
        mb_point p;
        memset(&p, 0, sizeof p);
        snprintf(p.name, sizeof p.name, "%s", name);
        p.fc = MB_FC_HOLDING;
        p.reg = reg;
        p.type = (uint8_t)t;
        p.sf_reg = -1;
        p.scale = 1;
        p.sentinel = true;
        return p;
}

/* Text into n registers, two bytes each, high byte first, NUL-padded. */
static void put_str(uint16_t *r, unsigned n, const char *txt) {
        size_t len = strlen(txt);
        for (unsigned i = 0; i < n; i++) {
                unsigned char hi = 2 * i < len ? (unsigned char)txt[2 * i] : 0;
                unsigned char lo = 2 * i + 1 < len ? (unsigned char)txt[2 * i + 1] : 0;
                r[i] = (uint16_t)(hi << 8 | lo);
        }
}

static mb_dev_opts opts(unsigned retries) {
        mb_dev_opts o = { .unit = 1, .timeout_ns = DCEM_NS_PER_S, .retries = retries,
                          .plan = { .max_gap = 16, .max_regs = 125, .max_bits = 2000 } };
        return o;
}

static void test_merged_poll(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        mb_point pts[30];
        for (int i = 0; i < 30; i++) {
                char name[16];
                snprintf(name, sizeof name, "p%d", i);
                pts[i] = mkpt(name, (uint16_t)(100 + 3 * i), MB_T_UINT16);
                f->reg[100 + 3 * i] = (uint16_t)(1000 + i);
        }
        for (int a = 100; a < 200; a++)
                f->ok[a] = 1;
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(1);
        assert_int_equal(mb_dev_new(&t, &o, pts, 30, &d, err, sizeof err), 0);
        assert_int_equal(mb_dev_plan(d)->n, 1);
        dcem_poll p = { 0 };
        assert_int_equal(mb_dev_poll(d, &p), 0);
        assert_int_equal(mb_dev_poll(d, &p), -EBUSY);
        assert_false(p.done); /* answers come later, from the transport */
        pump(f);
        assert_true(p.done);
        assert_int_equal(p.status, 0);
        assert_int_equal(p.n, 30);
        assert_int_equal(f->sent, 1);
        for (int i = 0; i < 30; i++) {
                assert_int_equal(p.s[i].quality, DCEM_Q_GOOD);
                assert_true(p.s[i].value == 1000 + i);
        }
        mb_dev_free(d);
        free(f);
}

static void test_exception_costs_own_points(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        mb_point pts[20];
        for (int i = 0; i < 20; i++) {
                char name[16];
                snprintf(name, sizeof name, "p%d", i);
                pts[i] = mkpt(name, (uint16_t)(2 * i), MB_T_UINT32);
                f->reg[2 * i + 1] = (uint16_t)i;
                f->ok[2 * i] = f->ok[2 * i + 1] = 1;
        }
        f->ok[23] = 0; /* p11's low word does not exist */
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(0);
        assert_int_equal(mb_dev_new(&t, &o, pts, 20, &d, err, sizeof err), 0);
        dcem_poll p1 = { 0 }, p2 = { 0 };
        assert_int_equal(mb_dev_poll(d, &p1), 0);
        pump(f);
        assert_true(p1.done);
        assert_int_equal(p1.status, 0); /* the device answered; one point is bad */
        assert_non_null(strstr(p1.err, "exception 2"));
        for (int i = 0; i < 20; i++) {
                char name[16];
                snprintf(name, sizeof name, "p%d", i);
                const dcem_sample *s = sample(&p1, name);
                if (i == 11) {
                        assert_int_equal(s->quality, DCEM_Q_ERROR);
                        assert_true(isnan(s->value));
                } else {
                        assert_int_equal(s->quality, DCEM_Q_GOOD);
                        assert_true(s->value == i);
                }
        }
        const mb_dev_stats *st = mb_dev_get_stats(d);
        unsigned first = f->sent;
        uint64_t splits = st->splits;
        assert_true(splits >= 1);
        /* the next poll remembers the split: one exception at most, no new split */
        f->sent = 0;
        uint64_t exc_before = st->exceptions;
        assert_int_equal(mb_dev_poll(d, &p2), 0);
        pump(f);
        assert_true(p2.done);
        assert_int_equal(st->splits, splits);
        assert_int_equal(st->exceptions - exc_before, 1);
        assert_true(f->sent < first);
        assert_int_equal(sample(&p2, "p11")->quality, DCEM_Q_ERROR);
        assert_int_equal(sample(&p2, "p12")->quality, DCEM_Q_GOOD);
        mb_dev_free(d);
        free(f);
}

static void test_timeout_and_retries(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        mb_point pts[2] = { mkpt("a", 0, MB_T_UINT16), mkpt("b", 500, MB_T_UINT16) };
        f->silent = true;
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(2);
        o.close_after_poll = true;
        assert_int_equal(mb_dev_new(&t, &o, pts, 2, &d, err, sizeof err), 0);
        assert_int_equal(mb_dev_plan(d)->n, 2);
        dcem_poll p = { 0 };
        assert_int_equal(mb_dev_poll(d, &p), 0);
        pump(f);
        assert_true(p.done);
        assert_int_equal(p.status, -ETIMEDOUT);
        assert_int_equal(f->sent, 3); /* first request, 2 retries; the second is not tried */
        assert_int_equal(p.n, 2);
        assert_int_equal(sample(&p, "a")->quality, DCEM_Q_ERROR);
        assert_int_equal(sample(&p, "b")->quality, DCEM_Q_ERROR);
        assert_non_null(strstr(p.err, "no answer"));
        assert_int_equal(f->released, 1);
        /* the device comes back */
        f->silent = false;
        f->ok[0] = f->ok[500] = 1;
        f->reg[500] = 42;
        dcem_poll p2 = { 0 };
        assert_int_equal(mb_dev_poll(d, &p2), 0);
        pump(f);
        assert_int_equal(p2.status, 0);
        assert_true(sample(&p2, "b")->value == 42);
        mb_dev_free(d);
        free(f);
}

static void test_cancel(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        mb_point pts[1] = { mkpt("a", 0, MB_T_UINT16) };
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(0);
        assert_int_equal(mb_dev_new(&t, &o, pts, 1, &d, err, sizeof err), 0);
        dcem_poll p = { 0 };
        assert_int_equal(mb_dev_poll(d, &p), 0);
        mb_dev_cancel(d, &p);
        assert_int_equal(f->cancelled, 1);
        pump(f); /* the cancelled request is not answered */
        assert_false(p.done);
        dcem_poll p2 = { 0 };
        assert_int_equal(mb_dev_poll(d, &p2), 0); /* not busy any more */
        f->ok[0] = 1;
        pump(f);
        assert_true(p2.done);
        mb_dev_free(d);
        free(f);
}

static void test_full_queue(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        mb_point pts[2] = { mkpt("a", 0, MB_T_UINT16), mkpt("b", 900, MB_T_UINT16) };
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(3);
        assert_int_equal(mb_dev_new(&t, &o, pts, 2, &d, err, sizeof err), 0);
        f->full = true;
        dcem_poll p = { 0 };
        assert_int_equal(mb_dev_poll(d, &p), 0);
        assert_true(p.done); /* finished at once: nothing could be queued */
        assert_int_equal(p.status, -ENOBUFS);
        assert_int_equal(sample(&p, "a")->quality, DCEM_Q_ERROR);
        assert_int_equal(sample(&p, "b")->quality, DCEM_Q_ERROR);
        assert_int_equal(mb_dev_get_stats(d)->rejected, 2);
        assert_int_equal(mb_dev_get_stats(d)->requests, 0);
        mb_dev_free(d);
        free(f);
}

static void test_sunspec_discovery(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        /* SunS at 40000, common model of 65 registers, model 203 at 40069, end */
        uint16_t hdr[] = { 0x5375, 0x6E53, 1, 65 };
        for (int i = 0; i < 4; i++) {
                f->reg[40000 + i] = hdr[i];
                f->ok[40000 + i] = 1;
        }
        for (int a = 40004; a < 40069 + 2 + 105 + 2; a++)
                f->ok[a] = 1;
        f->reg[40069] = 203;
        f->reg[40070] = 105;
        f->reg[40069 + 18] = 1500;   /* W */
        f->reg[40069 + 22] = 0;      /* W_SF */
        f->reg[40069 + 46] = 0x0001; /* TotWhImp high word */
        f->reg[40069 + 47] = 0x86A0; /* = 100000 Wh */
        f->reg[40069 + 54] = 0;      /* TotWh_SF */
        f->reg[40069 + 17] = 0x8000; /* Hz_SF not implemented */
        f->reg[40176] = 0xFFFF;
        /* the common model's identity strings: Mn, Vr and SN set, Md all NULs */
        put_str(&f->reg[40002 + 2], 16, "Veris Industries");
        put_str(&f->reg[40002 + 42], 8, "1.0.3 ");
        put_str(&f->reg[40002 + 50], 16, "4C0123456789ABCDEF0123456789ABCD"); /* 32 characters */
        mb_point extra = mkpt("custom", 40069 + 16, MB_T_UINT16); /* raw Hz, kept from the block */
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(0);
        o.sunspec = true;
        assert_int_equal(mb_dev_new(&t, &o, &extra, 1, &d, err, sizeof err), 0);
        dcem_poll p = { 0 };
        assert_int_equal(mb_dev_poll(d, &p), 0);
        pump(f);
        assert_true(p.done);
        assert_int_equal(p.status, 0);
        assert_int_equal(mb_dev_npoints(d), 1 + 10 + 4);
        assert_int_equal(sample(&p, "manufacturer")->kind, DCEM_KIND_TEXT);
        assert_int_equal(sample(&p, "manufacturer")->quality, DCEM_Q_GOOD);
        assert_string_equal(sample(&p, "manufacturer")->text, "Veris Industries");
        assert_string_equal(sample(&p, "version")->text, "1.0.3"); /* trailing space trimmed */
        assert_string_equal(sample(&p, "serial_number")->text, "4C0123456789ABCDEF0123456789ABCD");
        assert_int_equal(sample(&p, "model")->quality, DCEM_Q_ERROR); /* all NULs: not implemented */
        assert_int_equal(sample(&p, "model")->kind, DCEM_KIND_TEXT);
        assert_true(fabs(sample(&p, "energy_kwh")->value - 100.0) < 1e-9);
        assert_int_equal(sample(&p, "energy_kwh")->kind, DCEM_KIND_COUNTER);
        assert_true(fabs(sample(&p, "power_kw")->value - 1.5) < 1e-9);
        assert_int_equal(sample(&p, "frequency_hz")->quality, DCEM_Q_ERROR); /* its SF says not implemented */
        assert_int_equal(sample(&p, "custom")->quality, DCEM_Q_GOOD);
        /* 40000 marker, 2 headers + end marker, then one merged request
         * (identity strings 40004..40067 and the meter 40072..40123) */
        assert_int_equal(f->sent, 1 + 3 + 1);
        f->sent = 0;
        dcem_poll p2 = { 0 };
        assert_int_equal(mb_dev_poll(d, &p2), 0);
        pump(f);
        assert_int_equal(f->sent, 1); /* no second discovery */
        mb_dev_free(d);

        /* no SunSpec anywhere: the poll fails clearly */
        memset(f->ok, 0, sizeof f->ok);
        assert_int_equal(mb_dev_new(&t, &o, NULL, 0, &d, err, sizeof err), 0);
        dcem_poll p3 = { 0 };
        assert_int_equal(mb_dev_poll(d, &p3), 0);
        pump(f);
        assert_true(p3.done);
        assert_int_equal(p3.status, -ENODEV);
        assert_non_null(strstr(p3.err, "no SunSpec meter"));
        mb_dev_free(d);
        free(f);
}

/* A float meter (model 213, 124 registers) with max_gap 40: its points fit
 * one request (40074..40139, the largest hole 30 registers), but not with
 * the identity strings (40004..40067), so the strings are read and
 * published with the first poll only, and later polls take one request.
 * (At the default max_gap of 16 the meter takes two requests anyway, and
 * the strings ride along every poll.) */
static void test_sunspec_float_identity_once(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        uint16_t hdr[] = { 0x5375, 0x6E53, 1, 66 };
        for (int i = 0; i < 4; i++) {
                f->reg[40000 + i] = hdr[i];
                f->ok[40000 + i] = 1;
        }
        uint32_t a213 = 40002 + 2 + 66; /* 40070 */
        for (uint32_t a = 40004; a < a213 + 2 + 124 + 2; a++)
                f->ok[a] = 1;
        f->reg[a213] = 213;
        f->reg[a213 + 1] = 124;
        f->reg[a213 + 2 + 124] = 0xFFFF;
        float wv = 2500.0f, hz = 50.0f;
        uint32_t u;
        memcpy(&u, &wv, 4);
        f->reg[a213 + 28] = (uint16_t)(u >> 16);
        f->reg[a213 + 29] = (uint16_t)u;
        memcpy(&u, &hz, 4);
        f->reg[a213 + 26] = (uint16_t)(u >> 16);
        f->reg[a213 + 27] = (uint16_t)u;
        put_str(&f->reg[40002 + 50], 16, "SN-213");
        put_str(&f->reg[40002 + 2], 16, "dcem");
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(0);
        o.sunspec = true;
        o.plan.max_gap = 40;
        assert_int_equal(mb_dev_new(&t, &o, NULL, 0, &d, err, sizeof err), 0);
        dcem_poll p = { 0 };
        assert_int_equal(mb_dev_poll(d, &p), 0);
        pump(f);
        assert_true(p.done);
        assert_int_equal(p.status, 0);
        /* marker, 3 headers (common, 213, end), then 40004..40067 with the meter: 2 requests */
        assert_int_equal(f->sent, 1 + 3 + 2);
        assert_string_equal(sample(&p, "serial_number")->text, "SN-213");
        assert_string_equal(sample(&p, "manufacturer")->text, "dcem");
        assert_true(fabs(sample(&p, "power_kw")->value - 2.5) < 1e-9);
        size_t first_n = p.n;
        assert_int_equal(first_n, 10 + 4);
        for (int k = 0; k < 2; k++) {
                f->sent = 0;
                dcem_poll q = { 0 };
                assert_int_equal(mb_dev_poll(d, &q), 0);
                pump(f);
                assert_true(q.done);
                assert_int_equal(q.status, 0);
                assert_int_equal(f->sent, 1); /* the meter alone */
                assert_int_equal(q.n, 10);
                assert_true(fabs(sample(&q, "frequency_hz")->value - 50.0) < 1e-9);
                for (size_t i = 0; i < q.n; i++)
                        assert_int_not_equal(q.s[i].kind, DCEM_KIND_TEXT);
        }
        assert_int_equal(mb_dev_plan(d)->n, 1);
        mb_dev_free(d);

        /* the default max_gap: two requests per poll with or without the
         * strings, so they are read with every poll */
        o.plan.max_gap = 16;
        assert_int_equal(mb_dev_new(&t, &o, NULL, 0, &d, err, sizeof err), 0);
        for (int k = 0; k < 3; k++) {
                f->sent = 0;
                dcem_poll q = { 0 };
                assert_int_equal(mb_dev_poll(d, &q), 0);
                pump(f);
                assert_int_equal(q.status, 0);
                assert_int_equal(f->sent, (k == 0 ? 4u : 0u) + 2u);
                assert_string_equal(sample(&q, "serial_number")->text, "SN-213");
        }
        mb_dev_free(d);
        free(f);
}

/* String points of the device block: decoded into text samples, byte order
 * per point, cut to DCEM_TEXT_MAX - 1 bytes, control bytes replaced; in the
 * same merged request as the numbers. */
static void test_string_points(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        for (int a = 100; a < 200; a++)
                f->ok[a] = 1;
        put_str(&f->reg[100], 8, "SDM630-M");              /* model, ABCD */
        put_str(&f->reg[110], 4, "eV1r0.");                /* "Ver1.0" with each word's bytes swapped */
        f->reg[120] = 1234;                                  /* a number between them */
        put_str(&f->reg[130], 25, "0123456789012345678901234567890123456789ab"); /* 42 > 37 bytes */
        put_str(&f->reg[160], 4, "a\x01\x7f\xc3\xa9");     /* control bytes and UTF-8 */
        mb_point pts[5] = { mkpt("model", 100, MB_T_STRING), mkpt("firmware", 110, MB_T_STRING),
                            mkpt("n", 120, MB_T_UINT16), mkpt("long", 130, MB_T_STRING),
                            mkpt("odd", 160, MB_T_STRING) };
        pts[0].nregs = 8;
        pts[1].nregs = 4;
        pts[1].order = MB_O_BADC;
        pts[3].nregs = 25;
        pts[4].nregs = 4;
        mb_dev *d;
        char err[128];
        mb_dev_opts o = opts(0);
        assert_int_equal(mb_dev_new(&t, &o, pts, 5, &d, err, sizeof err), 0);
        assert_int_equal(mb_dev_plan(d)->n, 1); /* 100..163 in one request */
        dcem_poll p = { 0 };
        assert_int_equal(mb_dev_poll(d, &p), 0);
        pump(f);
        assert_true(p.done);
        assert_int_equal(p.status, 0);
        assert_int_equal(f->sent, 1);
        assert_string_equal(sample(&p, "model")->text, "SDM630-M");
        assert_int_equal(sample(&p, "model")->kind, DCEM_KIND_TEXT);
        assert_true(isnan(sample(&p, "model")->value));
        assert_string_equal(sample(&p, "firmware")->text, "Ver1.0");
        assert_true(fabs(sample(&p, "n")->value - 1234) < 1e-9);
        assert_string_equal(sample(&p, "long")->text, "0123456789012345678901234567890123456");
        assert_int_equal(strlen(sample(&p, "long")->text), DCEM_TEXT_MAX - 1);
        assert_string_equal(sample(&p, "odd")->text, "a??\xc3\xa9");
        /* the next poll reads new text, not the old one */
        put_str(&f->reg[100], 8, "SDM72");
        dcem_poll p2 = { 0 };
        assert_int_equal(mb_dev_poll(d, &p2), 0);
        pump(f);
        assert_string_equal(sample(&p2, "model")->text, "SDM72");
        /* a refused request: the text sample is there, with quality error and no text */
        memset(f->ok, 0, sizeof f->ok);
        dcem_poll p3 = { 0 };
        assert_int_equal(mb_dev_poll(d, &p3), 0);
        pump(f);
        assert_true(p3.done);
        assert_int_equal(sample(&p3, "model")->quality, DCEM_Q_ERROR);
        assert_string_equal(sample(&p3, "model")->text, "");
        mb_dev_free(d);
        free(f);
}

/* Devices with equal points share one point table (device.c interns it):
 * what each learns stays its own (split boundaries, plan, values), a table
 * that differs in one field (a scale, a unit) is not taken for another, a
 * device outlives the one that made the table, and SunSpec discovery adds
 * points to its own device only. (ASan/UBSan runs catch a table freed or
 * written while shared.) */
static void test_shared_points(void **state) {
        (void)state;
        fake *f = calloc(1, sizeof *f);
        mb_transport t = { .ops = &fake_ops, .impl = f };
        mb_point pts[20], scaled[20], united[20];
        for (int i = 0; i < 20; i++) {
                char name[16];
                snprintf(name, sizeof name, "p%d", i);
                pts[i] = mkpt(name, (uint16_t)(2 * i), MB_T_UINT32);
                f->reg[2 * i + 1] = (uint16_t)(i + 1);
                f->ok[2 * i] = f->ok[2 * i + 1] = 1;
        }
        f->ok[23] = 0; /* p11's low word does not exist: a split */
        memcpy(scaled, pts, sizeof pts);
        scaled[3].scale = 10;
        memcpy(united, pts, sizeof pts);
        snprintf(united[5].unit, sizeof united[5].unit, "kWh");
        /* the same points with other bytes after the name's NUL: still equal */
        mb_point junk[20];
        memcpy(junk, pts, sizeof pts);
        for (int i = 0; i < 20; i++) {
                size_t len = strlen(junk[i].name);
                memset(junk[i].name + len + 1, 'x', DCEM_NAME_MAX - len - 2);
        }
        mb_dev *a, *b, *c, *u, *j;
        char err[128];
        mb_dev_opts o = opts(0);
        assert_int_equal(mb_dev_new(&t, &o, pts, 20, &a, err, sizeof err), 0);
        assert_int_equal(mb_dev_new(&t, &o, pts, 20, &b, err, sizeof err), 0);
        assert_int_equal(mb_dev_new(&t, &o, scaled, 20, &c, err, sizeof err), 0);
        assert_int_equal(mb_dev_new(&t, &o, united, 20, &u, err, sizeof err), 0);
        assert_int_equal(mb_dev_new(&t, &o, junk, 20, &j, err, sizeof err), 0);
        size_t plan0 = mb_dev_plan(b)->n;
        dcem_poll pa = { 0 };
        assert_int_equal(mb_dev_poll(a, &pa), 0);
        pump(f);
        assert_true(pa.done);
        assert_true(mb_dev_get_stats(a)->splits >= 1);
        /* b learned nothing from a */
        assert_int_equal(mb_dev_plan(b)->n, plan0);
        assert_int_equal(mb_dev_get_stats(b)->splits, 0);
        mb_dev_free(a); /* b, and j if it shares, keep their table */
        dcem_poll pb = { 0 }, pc = { 0 }, pu = { 0 }, pj = { 0 };
        assert_int_equal(mb_dev_poll(b, &pb), 0);
        assert_int_equal(mb_dev_poll(c, &pc), 0);
        assert_int_equal(mb_dev_poll(u, &pu), 0);
        assert_int_equal(mb_dev_poll(j, &pj), 0);
        pump(f);
        assert_true(pb.done && pc.done && pu.done && pj.done);
        assert_true(mb_dev_get_stats(b)->splits >= 1); /* its own split */
        for (int i = 0; i < 20; i++) {
                char name[16];
                snprintf(name, sizeof name, "p%d", i);
                if (i == 11) {
                        assert_int_equal(sample(&pb, name)->quality, DCEM_Q_ERROR);
                        continue;
                }
                assert_true(sample(&pb, name)->value == i + 1);
                assert_true(sample(&pj, name)->value == i + 1);
                assert_true(sample(&pc, name)->value == (i == 3 ? 10.0 * (i + 1) : i + 1));
                assert_string_equal(sample(&pu, name)->unit, i == 5 ? "kWh" : "");
                assert_string_equal(sample(&pb, name)->unit, "");
        }
        mb_dev_free(b);
        mb_dev_free(c);
        mb_dev_free(u);
        mb_dev_free(j);

        /* SunSpec: a discovering device and a plain one with the same block
         * point; discovery adds points to the first only */
        memset(f->ok, 0, sizeof f->ok);
        uint16_t hdr[] = { 0x5375, 0x6E53, 1, 65 };
        for (int i = 0; i < 4; i++) {
                f->reg[40000 + i] = hdr[i];
                f->ok[40000 + i] = 1;
        }
        for (int k = 40004; k < 40069 + 2 + 105 + 2; k++)
                f->ok[k] = 1;
        f->reg[40069] = 203;
        f->reg[40070] = 105;
        f->reg[40069 + 16] = 5000;
        f->reg[40176] = 0xFFFF;
        mb_point extra = mkpt("custom", 40069 + 16, MB_T_UINT16);
        mb_dev *ss, *plain, *ss2;
        mb_dev_opts so = opts(0);
        so.sunspec = true;
        assert_int_equal(mb_dev_new(&t, &so, &extra, 1, &ss, err, sizeof err), 0);
        assert_int_equal(mb_dev_new(&t, &o, &extra, 1, &plain, err, sizeof err), 0);
        assert_int_equal(mb_dev_new(&t, &so, &extra, 1, &ss2, err, sizeof err), 0);
        dcem_poll ps = { 0 };
        assert_int_equal(mb_dev_poll(ss, &ps), 0);
        pump(f);
        assert_int_equal(ps.status, 0);
        assert_int_equal(mb_dev_npoints(ss), 1 + 10 + 4);
        assert_int_equal(mb_dev_npoints(plain), 1);
        assert_int_equal(mb_dev_npoints(ss2), 1);
        mb_dev_free(ss);
        dcem_poll pp = { 0 }, ps2 = { 0 };
        assert_int_equal(mb_dev_poll(plain, &pp), 0);
        assert_int_equal(mb_dev_poll(ss2, &ps2), 0);
        pump(f);
        assert_int_equal(pp.n, 1);
        assert_true(sample(&pp, "custom")->value == 5000);
        assert_int_equal(ps2.status, 0);
        assert_int_equal(ps2.n, 1 + 10 + 4);
        assert_true(sample(&ps2, "custom")->value == 5000);
        mb_dev_free(plain);
        mb_dev_free(ss2);
        free(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_merged_poll),
                cmocka_unit_test(test_exception_costs_own_points),
                cmocka_unit_test(test_timeout_and_retries),
                cmocka_unit_test(test_cancel),
                cmocka_unit_test(test_full_queue),
                cmocka_unit_test(test_sunspec_discovery),
                cmocka_unit_test(test_string_points),
                cmocka_unit_test(test_sunspec_float_identity_once),
                cmocka_unit_test(test_shared_points),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
