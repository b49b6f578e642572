/* test_snmp_pure.c - the SNMP collector's pure parts: OIDs and the store,
 * GET packing and tooBig splitting, multi-column walks (out-of-order rows,
 * responses cut short, agents that loop), value decoding and counter unwrap. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "snmp/decode.h"
#include "snmp/plan.h"
#include "snmp/snmp_types.h"
#include "snmp/walk.h"

static soid O(const char *s) {
        soid o;
        assert_int_equal(soid_parse(s, &o), 0);
        return o;
}

static void test_oid_parse(void **st) {
        (void)st;
        soid o;
        char buf[SNMP_OID_TEXT_MAX];
        assert_int_equal(soid_parse(".1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", &o), 0);
        assert_int_equal(o.n, 15);
        assert_string_equal(soid_format(&o, buf, sizeof(buf)), "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1");
        assert_int_equal(soid_parse("1.3.6.4294967295", &o), 0);
        assert_int_equal(o.a[3], 4294967295u);
        assert_string_equal(soid_format(&o, buf, sizeof(buf)), "1.3.6.4294967295");
        /* Cut at a whole sub-identifier when the buffer is short. */
        char small[9];
        assert_string_equal(soid_format(&o, small, sizeof(small)), "1.3.6");
        assert_string_equal(soid_format(&o, small, 2), "1");
        char num[11];
        assert_int_equal(soid_u32_text(0, num), 1);
        assert_string_equal(num, "0");
        assert_int_equal(soid_u32_text(4294967295u, num), 10);
        assert_string_equal(num, "4294967295");
        assert_int_equal(soid_u32_text(100601131u, num), 9);
        assert_string_equal(num, "100601131");
        const char *bad[] = { "", ".", "1", "1..3", "1.3.", "1.3.a", "1.3.4294967296", "1.3 .6", "-1.3", NULL };
        for (int i = 0; bad[i]; i++)
                assert_int_equal(soid_parse(bad[i], &o), -EINVAL);
        char longoid[1024] = "1";
        for (int i = 0; i < SNMP_OID_MAX; i++)
                strcat(longoid, ".1");
        assert_int_equal(soid_parse(longoid, &o), -EINVAL);
        soid a = O("1.3.6.1.2"), b = O("1.3.6.1.2.1"), c = O("1.3.6.1.10");
        assert_true(soid_cmp(&a, &b) < 0);
        assert_true(soid_cmp(&b, &c) < 0); /* numeric, not textual: 2 < 10 */
        assert_true(soid_has_prefix(&b, &a));
        assert_false(soid_has_prefix(&a, &b));
}

static void test_store(void **st) {
        (void)st;
        vb_store s;
        vb_store_init(&s, 3);
        soid x = O("1.3.6.1.5"), y = O("1.3.6.1.2"), z = O("1.3.6.1.10"), w = O("1.3.6.1.1");
        sval v = { .t = SV_INTEGER, .i = 5 };
        assert_int_equal(vb_store_put(&s, &x, &v), 0);
        v.i = 2;
        assert_int_equal(vb_store_put(&s, &y, &v), 0);
        v.i = 10;
        assert_int_equal(vb_store_put(&s, &z, &v), 0);
        v.i = 1;
        assert_int_equal(vb_store_put(&s, &w, &v), -E2BIG); /* capped */
        v.i = 55;
        assert_int_equal(vb_store_put(&s, &x, &v), 0);      /* replacing is fine when full */
        assert_int_equal(s.n, 3);
        assert_int_equal(vb_store_get(&s, &x)->i, 55);
        assert_null(vb_store_get(&s, &w));
        /* sorted by OID order */
        assert_int_equal(soid_cmp(&s.e[0].oid, &y), 0);
        assert_int_equal(soid_cmp(&s.e[2].oid, &z), 0);
        vb_store_free(&s);
}

/* Sends every range the plan gives, answering tooBig for any range larger
 * than agent_max; returns the requests made and checks every OID was
 * answered exactly once. */
static size_t run_plan(snmp_plan *p, size_t agent_max) {
        int answered[256] = { 0 };
        size_t reqs = 0;
        snmp_plan_start(p);
        snmp_range r;
        while (snmp_plan_next(p, &r)) {
                reqs++;
                assert_true(r.count >= 1 && r.count <= p->max_vb);
                if (r.count > agent_max) {
                        assert_int_equal(snmp_plan_too_big(p, r), 0);
                        continue;
                }
                for (uint32_t i = 0; i < r.count; i++)
                        answered[r.start + i]++;
        }
        for (size_t i = 0; i < p->n; i++)
                assert_int_equal(answered[i], 1);
        return reqs;
}

static void test_plan_packing(void **st) {
        (void)st;
        snmp_plan p;
        assert_int_equal(snmp_plan_init(&p, 70, 32), 0);
        assert_int_equal(snmp_plan_requests(&p), 3); /* 32 + 32 + 6 */
        snmp_plan_start(&p);
        snmp_range r;
        assert_true(snmp_plan_next(&p, &r));
        assert_int_equal(r.start, 0);
        assert_int_equal(r.count, 32);
        assert_true(snmp_plan_next(&p, &r));
        assert_int_equal(r.start, 32);
        assert_true(snmp_plan_next(&p, &r));
        assert_int_equal(r.start, 64);
        assert_int_equal(r.count, 6);
        assert_false(snmp_plan_next(&p, &r));
        assert_int_equal(run_plan(&p, 1000), 3);
        snmp_plan_free(&p);
        assert_int_equal(snmp_plan_init(&p, 5, 0), -EINVAL);
        assert_int_equal(snmp_plan_init(&p, 0, 4), 0);
        snmp_plan_start(&p);
        assert_false(snmp_plan_next(&p, &r));
        snmp_plan_free(&p);
}

static void test_plan_too_big_learns(void **st) {
        (void)st;
        snmp_plan p;
        assert_int_equal(snmp_plan_init(&p, 40, 40), 0);
        /* The agent takes at most 7 varbinds: first poll splits 40 -> 20 -> 10 -> 5. */
        size_t first = run_plan(&p, 7);
        assert_true(first > 8);
        assert_true(p.max_vb <= 7);
        assert_int_equal(p.max_vb, 5);
        /* The next poll starts with what worked: no tooBig, ceil(40/5) requests. */
        size_t splits = p.splits;
        assert_int_equal(run_plan(&p, 7), 8);
        assert_int_equal(p.splits, splits);
        /* A single OID that is too big cannot be split. */
        snmp_range one = { 3, 1 };
        assert_int_equal(snmp_plan_too_big(&p, one), -E2BIG);
        snmp_plan_free(&p);
}

static void test_plan_drop(void **st) {
        (void)st;
        snmp_plan p;
        assert_int_equal(snmp_plan_init(&p, 10, 10), 0);
        snmp_plan_start(&p);
        snmp_range r, a, b;
        assert_true(snmp_plan_next(&p, &r));
        snmp_plan_drop(&p, r, 4); /* v1 noSuchName at the 5th varbind */
        assert_true(snmp_plan_next(&p, &a));
        assert_true(snmp_plan_next(&p, &b));
        assert_int_equal(a.start, 0);
        assert_int_equal(a.count, 4);
        assert_int_equal(b.start, 5);
        assert_int_equal(b.count, 5);
        assert_false(snmp_plan_next(&p, &r));
        snmp_plan_drop(&p, a, 99); /* a bogus error-index drops nothing */
        assert_false(snmp_plan_next(&p, &r));
        snmp_plan_free(&p);
}

/* A fake agent over a sorted table of (oid, int): GETNEXT/GETBULK semantics. */
typedef struct fake_agent {
        soid oid[64];
        int64_t val[64];
        size_t n;
} fake_agent;

static void agent_add(fake_agent *a, const char *oid, int64_t v) {
        a->oid[a->n] = O(oid);
        a->val[a->n++] = v;
}

static size_t agent_next(const fake_agent *a, const soid *after) {
        size_t best = a->n;
        for (size_t i = 0; i < a->n; i++)
                if (soid_cmp(&a->oid[i], after) > 0 && (best == a->n || soid_cmp(&a->oid[i], &a->oid[best]) < 0))
                        best = i;
        return best;
}

/* One GETBULK (rep >= 1) answered row-major; cut after max_vb varbinds. */
static size_t agent_bulk(const fake_agent *a, const soid *req, size_t k, size_t rep, size_t max_vb, soid *oids,
                         sval *vals) {
        soid cur[16];
        memcpy(cur, req, k * sizeof(soid));
        size_t n = 0;
        for (size_t r = 0; r < rep; r++)
                for (size_t j = 0; j < k && n < max_vb; j++) {
                        size_t i = agent_next(a, &cur[j]);
                        if (i == a->n) {
                                oids[n] = cur[j];
                                vals[n] = (sval){ .t = SV_ENDOFMIBVIEW };
                        } else {
                                oids[n] = a->oid[i];
                                vals[n] = (sval){ .t = SV_INTEGER, .i = a->val[i] };
                                cur[j] = a->oid[i];
                        }
                        n++;
                }
        return n;
}

static void fill_table(fake_agent *a) {
        /* Two columns (.2 names, .3 values) of 5 rows, then another object. */
        for (int row = 1; row <= 5; row++) {
                char o[64];
                snprintf(o, sizeof(o), "1.3.6.1.4.1.9.1.2.%d", row);
                agent_add(a, o, 100 + row);
                snprintf(o, sizeof(o), "1.3.6.1.4.1.9.1.3.%d", row);
                agent_add(a, o, 200 + row);
        }
        agent_add(a, "1.3.6.1.4.1.9.2.0", 999);
}

static void walk_all(snmp_walk *w, const fake_agent *a, size_t rep, size_t max_vb, vb_store *st, size_t *ret_reqs) {
        soid req[16], oids[256];
        sval vals[256];
        size_t k, reqs = 0;
        snmp_walk_start(w);
        while ((k = snmp_walk_request(w, req)) > 0) {
                reqs++;
                size_t n = agent_bulk(a, req, k, rep, max_vb, oids, vals);
                assert_int_equal(snmp_walk_feed(w, oids, vals, n, st), 0);
                assert_true(reqs < 100);
        }
        *ret_reqs = reqs;
}

static void check_table(const vb_store *st) {
        for (int row = 1; row <= 5; row++) {
                char o[64];
                snprintf(o, sizeof(o), "1.3.6.1.4.1.9.1.3.%d", row);
                soid x = O(o);
                const sval *v = vb_store_get(st, &x);
                assert_non_null(v);
                assert_int_equal(v->i, 200 + row);
        }
        soid other = O("1.3.6.1.4.1.9.2.0");
        assert_null(vb_store_get(st, &other)); /* nothing past the columns is kept */
}

static void test_walk_getnext_and_bulk(void **st) {
        (void)st;
        fake_agent a = { 0 };
        fill_table(&a);
        soid cols[2] = { O("1.3.6.1.4.1.9.1.2"), O("1.3.6.1.4.1.9.1.3") };
        snmp_walk w;
        assert_int_equal(snmp_walk_init(&w, cols, 2, 100), 0);
        vb_store s;
        size_t reqs;
        /* GETNEXT: one row per request, plus the one that sees the end. */
        vb_store_init(&s, 1000);
        walk_all(&w, &a, 1, 1000, &s, &reqs);
        assert_int_equal(reqs, 6);
        check_table(&s);
        assert_int_equal(s.n, 10);
        /* GETBULK max-repetitions 10: one request covers it all. */
        vb_store_reset(&s);
        walk_all(&w, &a, 10, 1000, &s, &reqs);
        assert_int_equal(reqs, 1);
        check_table(&s);
        /* GETBULK with responses cut at 3 varbinds (an agent that stops early):
         * the walk goes on from each column's cursor and still gets every row. */
        vb_store_reset(&s);
        walk_all(&w, &a, 10, 3, &s, &reqs);
        check_table(&s);
        assert_int_equal(s.n, 10);
        assert_true(reqs >= 4);
        assert_false(w.truncated);
        vb_store_free(&s);
        snmp_walk_free(&w);
}

static void test_walk_out_of_order_and_loops(void **st) {
        (void)st;
        soid cols[1] = { O("1.3.6.1.4.1.9.1.3") };
        snmp_walk w;
        vb_store s;
        vb_store_init(&s, 1000);
        assert_int_equal(snmp_walk_init(&w, cols, 1, 50), 0);
        soid req[1];
        /* An agent answering rows 3, 1, 2 (out of order) in one bulk response. */
        assert_int_equal(snmp_walk_request(&w, req), 1);
        soid oids[3] = { O("1.3.6.1.4.1.9.1.3.3"), O("1.3.6.1.4.1.9.1.3.1"), O("1.3.6.1.4.1.9.1.3.2") };
        sval vals[3] = { { .t = SV_INTEGER, .i = 3 }, { .t = SV_INTEGER, .i = 1 }, { .t = SV_INTEGER, .i = 2 } };
        assert_int_equal(snmp_walk_feed(&w, oids, vals, 3, &s), 0);
        assert_int_equal(s.n, 3);          /* every row kept, sorted by index */
        assert_int_equal(s.e[0].val.i, 1);
        assert_int_equal(w.backwards, 2);
        assert_false(snmp_walk_finished(&w)); /* it moved forward (to .3): go on */
        assert_int_equal(snmp_walk_request(&w, req), 1);
        assert_int_equal(soid_cmp(&req[0], &oids[0]), 0);
        /* The agent loops: answers .3 again. No progress: the column ends. */
        assert_int_equal(snmp_walk_feed(&w, oids, vals, 1, &s), 0);
        assert_true(snmp_walk_finished(&w));
        assert_int_equal(snmp_walk_request(&w, req), 0);
        /* An agent that never ends: capped by max_requests. */
        snmp_walk w2;
        assert_int_equal(snmp_walk_init(&w2, cols, 1, 5), 0);
        size_t reqs = 0;
        for (uint32_t i = 1; snmp_walk_request(&w2, req) > 0; i++) {
                soid o = cols[0];
                o.a[o.n++] = i;
                sval v = { .t = SV_INTEGER, .i = i };
                assert_int_equal(snmp_walk_feed(&w2, &o, &v, 1, &s), 0);
                reqs++;
        }
        assert_int_equal(reqs, 5);
        assert_true(w2.truncated);
        /* noSuchObject / endOfMibView and an empty answer end columns. */
        snmp_walk_start(&w);
        assert_int_equal(snmp_walk_request(&w, req), 1);
        sval nso = { .t = SV_NOSUCHOBJECT };
        assert_int_equal(snmp_walk_feed(&w, &req[0], &nso, 1, &s), 0);
        assert_true(snmp_walk_finished(&w));
        snmp_walk_start(&w);
        assert_int_equal(snmp_walk_request(&w, req), 1);
        assert_int_equal(snmp_walk_feed(&w, NULL, NULL, 0, &s), 0);
        assert_true(snmp_walk_finished(&w));
        /* A full store stops the walk with -E2BIG. */
        vb_store small;
        vb_store_init(&small, 1);
        snmp_walk_start(&w);
        assert_int_equal(snmp_walk_request(&w, req), 1);
        assert_int_equal(snmp_walk_feed(&w, oids, vals, 3, &small), -E2BIG);
        assert_true(w.truncated);
        vb_store_free(&small);
        snmp_walk_free(&w);
        snmp_walk_free(&w2);
        vb_store_free(&s);
}

static void test_decode_numbers(void **st) {
        (void)st;
        double x;
        const char *why = NULL;
        sval v = { .t = SV_INTEGER, .i = -946 };
        assert_int_equal(snmp_value_number(&v, &x, &why), 0);
        assert_true(x == -946);
        v = (sval){ .t = SV_COUNTER64, .u = UINT64_C(1) << 40 };
        assert_int_equal(snmp_value_number(&v, &x, &why), 0);
        assert_true(x == 1099511627776.0);
        assert_int_equal(snmp_value_width(&v), 64);
        v = (sval){ .t = SV_FLOAT, .f = 12.5 };
        assert_int_equal(snmp_value_number(&v, &x, &why), 0);
        assert_true(x == 12.5);
        v.f = INFINITY;
        assert_int_equal(snmp_value_number(&v, &x, &why), -ERANGE);
        v = (sval){ .t = SV_STRING };
        strcpy(v.s, " 230.5 ");
        assert_int_equal(snmp_value_number(&v, &x, &why), 0);
        assert_true(x == 230.5);
        strcpy(v.s, "12,5");
        assert_int_equal(snmp_value_number(&v, &x, &why), -EINVAL);
        strcpy(v.s, "noTempSensorInstalled");
        assert_int_equal(snmp_value_number(&v, &x, &why), -EINVAL);
        v = (sval){ .t = SV_NOSUCHINSTANCE };
        assert_int_equal(snmp_value_number(&v, &x, &why), -EINVAL);
        assert_non_null(strstr(why, "noSuchInstance"));
        v = (sval){ .t = SV_OID };
        strcpy(v.s, "1.3.6.1");
        assert_int_equal(snmp_value_number(&v, &x, &why), -EINVAL);
        assert_int_equal(snmp_parse_decimal("1e3", &x), 0);
        assert_true(x == 1000);
        assert_int_equal(snmp_parse_decimal("-", &x), -EINVAL);
        assert_int_equal(snmp_parse_decimal("", &x), -EINVAL);
        char buf[64];
        v = (sval){ .t = SV_UNSIGNED, .u = 4294967295u };
        assert_string_equal(snmp_value_text(&v, buf, sizeof(buf)), "4294967295");
        v = (sval){ .t = SV_STRING };
        strcpy(v.s, "Supply Temperature  ");
        assert_string_equal(snmp_value_text(&v, buf, sizeof(buf)), "Supply Temperature");
}

static void test_counter_unwrap(void **st) {
        (void)st;
        snmp_counter c = { 0 };
        uint64_t ext;
        const uint64_t top = UINT32_MAX;
        assert_int_equal(snmp_counter_update(&c, top - 10, 32, &ext), SNMP_COUNTER_FIRST);
        assert_true(ext == top - 10);
        assert_int_equal(snmp_counter_update(&c, top - 5, 32, &ext), SNMP_COUNTER_OK);
        /* 32-bit wrap: top-5 -> 4 is 10 steps on. */
        assert_int_equal(snmp_counter_update(&c, 4, 32, &ext), SNMP_COUNTER_WRAP);
        assert_true(ext - (top - 5) == 10);
        assert_int_equal(snmp_counter_update(&c, 20, 32, &ext), SNMP_COUNTER_OK);
        assert_true(ext == (top + 1) + 20);
        /* A drop from the middle of the range is a reset, not a wrap. */
        assert_int_equal(snmp_counter_update(&c, 2000000000u, 32, &ext), SNMP_COUNTER_OK);
        assert_int_equal(snmp_counter_update(&c, 7, 32, &ext), SNMP_COUNTER_RESET);
        assert_true(ext == 7);
        /* 64-bit counters never wrap in practice: a drop is a reset. */
        snmp_counter d = { 0 };
        (void)snmp_counter_update(&d, UINT64_MAX - 1, 64, &ext);
        assert_int_equal(snmp_counter_update(&d, 3, 64, &ext), SNMP_COUNTER_RESET);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_oid_parse),
                cmocka_unit_test(test_store),
                cmocka_unit_test(test_plan_packing),
                cmocka_unit_test(test_plan_too_big_learns),
                cmocka_unit_test(test_plan_drop),
                cmocka_unit_test(test_walk_getnext_and_bulk),
                cmocka_unit_test(test_walk_out_of_order_and_loops),
                cmocka_unit_test(test_decode_numbers),
                cmocka_unit_test(test_counter_unwrap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
