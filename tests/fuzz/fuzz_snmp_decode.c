/* fuzz_snmp_decode.c - libFuzzer target: the SNMP collector's path from
 * varbinds to samples, fed by a device answering garbage.
 *
 * The input is a script read byte by byte. A fixed device model (scalars with
 * counters, sentinels, ranges and a fallback; table columns with decimal
 * digits, a divisor and row selection by description; a sum) is polled twice:
 * the scalar GETs go through the plan (tooBig splits, v1 error-index drops,
 * answers truncated, for other OIDs, of any type), the table walks through
 * walk.c with GETBULK-like answers (varbinds in, past, before or outside their
 * columns, repeated, truncated, endOfMibView and other exceptions anywhere),
 * and model.c turns the store into samples. Invariants checked: the walk
 * ends within its request cap, every good sample is finite, plans never
 * exceed their capacity. Also the decimal parser on arbitrary text.
 *
 *   build-fuzz/bin/fuzz_snmp_decode -max_total_time=60 tests/fuzz/corpus/snmp_decode
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "snmp/decode.h"
#include "snmp/model.h"
#include "snmp/plan.h"
#include "snmp/walk.h"

typedef struct rd {
        const uint8_t *p;
        size_t n;
} rd;

static uint8_t u8(rd *r) {
        if (!r->n)
                return 0;
        r->n--;
        return *r->p++;
}

static uint32_t u32(rd *r) {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++)
                v = v << 8 | u8(r);
        return v;
}

#define B "1.3.6.1.4.1.99.1."

#define S(x) ((char *)(x))

static snmp_select_conf sel_desc = { .column = B "3.1.2", .equals = "5" };
static snmp_select_conf sel_idx = { .index = 2, .equals = "1" };
static snmp_fallback_conf fb = { .oid = B "1.9.0", .scale = 0.001, .times_rated_kw = true };
static char *inval[] = { "-1", "65535" };

static snmp_point_conf pts[] = {
        { .name = S("energy_kwh"), .oid = S(B "1.1.0"), .scale = 0.1, .unit = S("kWh"), .kind = DCEM_KIND_COUNTER,
          .invalid = { .items = inval, .n = 2 } },
        { .name = S("energy64_kwh"), .oid = S(B "1.2.0"), .scale = 0.001, .unit = S("kWh"),
          .kind = DCEM_KIND_COUNTER, .type = SNMP_VT_COUNTER64 },
        { .name = S("power_kw"), .oid = S(B "1.3.0"), .scale = 0.01, .unit = S("kW"), .range = S("0..1000"),
          .fallback = { .items = &fb, .n = 1 }, .digits_oid = S(B "1.4.0") },
        { .name = S("temp_c"), .oid = S(B "1.5.0"), .scale = 1, .unit = S("degC"), .type = SNMP_VT_FLOAT,
          .optional = true },
        { .name = S("power_kw.inlet{i1}"), .column = S(B "3.1.3"), .scale = 0.001, .unit = S("kW"),
          .digits_column = S(B "3.1.4"), .select = { .items = &sel_desc, .n = 1 } },
        { .name = S("energy_kwh.outlet{i1}_{i2}"), .column = S(B "4.1.2"), .scale = 0.1, .unit = S("kWh"),
          .kind = DCEM_KIND_COUNTER, .divisor_column = S(B "4.1.3"), .optional = true,
          .select = { .items = &sel_idx, .n = 1 }, .width = 32 },
        { .name = S("supply_c"), .column = S(B "5.1.3"), .scale = 1, .unit = S("degC"), .range = S("-40..100"),
          .select = { .items = &sel_desc, .n = 1 } },
        { .name = S("power_kw.total"), .sum_of = S("power_kw.inlet"), .scale = 1, .unit = S("kW") },
};

static int emit(void *ud, const char *point, double value, const char *unit, dcem_quality q, dcem_kind kind) {
        (void)ud;
        (void)unit;
        (void)kind;
        if (!point || !*point)
                abort();
        if ((q == DCEM_Q_GOOD || q == DCEM_Q_ESTIMATED) && !isfinite(value))
                abort(); /* a good sample is always a number */
        return 0;
}

/* A value of any type, from the script. */
static void gen_val(rd *r, sval *v) {
        memset(v, 0, sizeof(*v));
        uint8_t t = u8(r) % 16;
        v->t = (sval_type)(t < SV_OTHER + 1 ? t : SV_INTEGER);
        switch (v->t) {
        case SV_INTEGER:
                v->i = (int32_t)u32(r);
                break;
        case SV_UNSIGNED:
        case SV_COUNTER32:
        case SV_TIMETICKS:
                v->u = u32(r);
                break;
        case SV_COUNTER64:
                v->u = (uint64_t)u32(r) << 32 | u32(r);
                break;
        case SV_FLOAT: {
                uint64_t bits = (uint64_t)u32(r) << 32 | u32(r);
                memcpy(&v->f, &bits, sizeof(v->f)); /* NaN and infinities included */
                break;
        }
        case SV_STRING:
        case SV_OID:
        case SV_IPADDR: {
                size_t n = u8(r) % 24;
                for (size_t i = 0; i < n; i++)
                        v->s[i] = (char)(u8(r) % 2 ? "0123456789.-+e 5"[u8(r) % 16] : (char)(u8(r) | 1));
                v->s[n] = 0;
                break;
        }
        default:
                break;
        }
}

/* An OID near cursor c under column col: the kinds of answers agents give. */
static void gen_oid(rd *r, const soid *col, const soid *cur, soid *o) {
        uint8_t how = u8(r) % 8;
        *o = *cur;
        switch (how) {
        case 0: /* the next row (one index component) */
        case 1:
                *o = *col;
                o->a[o->n++] = (cur->n > col->n ? cur->a[col->n] : 0u) + 1u + u8(r) % 3u;
                break;
        case 2: /* a two-component index */
                *o = *col;
                o->a[o->n++] = 1 + u8(r) % 4;
                o->a[o->n++] = u8(r) % 3;
                break;
        case 3: /* the same OID again (no progress) */
                break;
        case 4: /* before the cursor (out of order) */
                *o = *col;
                o->a[o->n++] = u8(r) % 2;
                break;
        case 5: /* outside the column: the next column */
                *o = *col;
                o->a[o->n - 1]++;
                o->a[o->n++] = 1;
                break;
        case 6: /* the column itself, or a parent */
                *o = *col;
                o->n -= u8(r) % 2;
                break;
        default: { /* anything, up to the longest OID */
                o->n = 1 + u8(r) % SNMP_OID_MAX;
                for (uint32_t i = 0; i < o->n; i++)
                        o->a[i] = u8(r) % 2 ? u32(r) : col->a[i % col->n];
                break;
        }
        }
}

static void poll_once(rd *r, snmp_model *m, vb_store *st, snmp_plan *plan, snmp_walk *w, bool has_walk) {
        vb_store_reset(st);
        size_t ns, nc;
        const soid *sc = snmp_model_scalars(m, &ns);
        snmp_model_columns(m, &nc);
        snmp_plan_start(plan);
        snmp_range rg;
        size_t guard = 0;
        while (snmp_plan_next(plan, &rg)) {
                if (rg.count == 0 || rg.start + rg.count > ns || rg.count > plan->max_vb)
                        abort();
                if (++guard > 4 * ns + 16)
                        abort(); /* splitting and dropping always shrink the work */
                uint8_t act = u8(r) % 8;
                if (act == 0) {
                        if (snmp_plan_too_big(plan, rg) < 0) {
                                sval none = { .t = SV_NONE };
                                (void)vb_store_put(st, &sc[rg.start], &none);
                        }
                        continue;
                }
                if (act == 1) {
                        uint32_t bad = u8(r) % (rg.count + 1); /* == count: a bogus error-index */
                        snmp_plan_drop(plan, rg, bad);
                        continue;
                }
                uint32_t answered = act == 2 ? u8(r) % (rg.count + 1) : rg.count; /* truncated */
                for (uint32_t i = 0; i < answered; i++) {
                        sval v;
                        gen_val(r, &v);
                        if (u8(r) % 16 == 0)
                                v = (sval){ .t = SV_OTHER }; /* an answer for another OID */
                        (void)vb_store_put(st, &sc[rg.start + i], &v);
                }
        }
        if (has_walk) {
                snmp_walk_start(w);
                soid req[16], oids[64];
                sval vals[64];
                size_t reqs = 0;
                for (;;) {
                        size_t k = snmp_walk_request(w, req);
                        if (!k)
                                break;
                        if (++reqs > w->max_requests)
                                abort(); /* the cap holds */
                        if (u8(r) % 16 == 0) {
                                snmp_walk_end_column(w, u8(r) % (k + 1));
                                continue;
                        }
                        size_t n = u8(r) % (k * 4 + 1);
                        for (size_t j = 0; j < n; j++) {
                                size_t c = w->req[j % k];
                                gen_oid(r, &w->col[c], &w->cursor[c], &oids[j]);
                                gen_val(r, &vals[j]);
                        }
                        (void)snmp_walk_feed(w, oids, vals, n, st);
                        if (!r->n) /* out of script: the agent goes silent */
                                for (size_t i = 0; i < w->ncol; i++)
                                        w->done[i] = true;
                }
        }
        char err[160];
        int f = snmp_model_eval(m, st, (double)(u8(r) % 4), emit, NULL, err, sizeof(err));
        if (f < 0)
                abort(); /* emit never fails here */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        rd r = { data, size };
        /* The text decoders on the first bytes. */
        char text[64];
        size_t tl = u8(&r) % sizeof(text);
        for (size_t i = 0; i < tl; i++)
                text[i] = (char)(u8(&r) | 1);
        text[tl] = 0;
        double d;
        if (snmp_parse_decimal(text, &d) == 0 && !isfinite(d))
                abort();
        soid o;
        char back[SNMP_OID_TEXT_MAX];
        if (soid_parse(text, &o) == 0) {
                soid o2;
                if (soid_parse(soid_format(&o, back, sizeof(back)), &o2) != 0 || soid_cmp(&o, &o2) != 0)
                        abort(); /* format and parse round-trip */
        }
        snmp_counter c = { 0 };
        for (int i = 0; i < 4; i++) {
                uint64_t ext;
                unsigned width = 1 + u8(&r) % 64;
                (void)snmp_counter_update(&c, (uint64_t)u32(&r) << 32 | u32(&r), width, &ext);
        }

        const snmp_point_conf *pp[sizeof(pts) / sizeof(pts[0])];
        for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++)
                pp[i] = &pts[i];
        snmp_model *m = NULL;
        char err[160];
        if (snmp_model_build(pp, sizeof(pts) / sizeof(pts[0]), &m, err, sizeof(err)) < 0)
                abort(); /* the fixed model is valid */
        size_t ns, nc;
        snmp_model_scalars(m, &ns);
        const soid *cols = snmp_model_columns(m, &nc);
        snmp_plan plan;
        snmp_walk w;
        vb_store st;
        vb_store_init(&st, 200 + u8(&r) % 64); /* small: the full-store path too */
        if (snmp_plan_init(&plan, ns, 1 + u8(&r) % 8) < 0)
                abort();
        bool has_walk = nc > 0 && nc <= 16 && snmp_walk_init(&w, cols, nc, 1 + u8(&r) % 40) == 0;
        for (int poll = 0; poll < 2; poll++)
                poll_once(&r, m, &st, &plan, &w, has_walk);
        if (has_walk)
                snmp_walk_free(&w);
        snmp_plan_free(&plan);
        vb_store_free(&st);
        snmp_model_free(m);
        return 0;
}
