/* test_json.c - the JSON line format of samples: escaping, UTF-8 repair,
 * non-finite values, time stamps; every line is parsed back with jansson's
 * decoder and compared field by field with the sample it came from. */
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "dcem/clock.h"
#include "json.h"

static dcem_sample mk(const char *dev, const char *point, double v, const char *unit, int64_t ts, dcem_quality q) {
        dcem_sample s = { .value = v, .ts_ns = ts, .quality = (uint8_t)q };
        snprintf(s.device, sizeof s.device, "%s", dev);
        snprintf(s.point, sizeof s.point, "%s", point);
        snprintf(s.unit, sizeof s.unit, "%s", unit);
        return s;
}

static json_t *line_of(const char *site, const dcem_sample *s) {
        char buf[1024];
        int n = dcem_json_sample_line(site, s, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal((size_t)n, strlen(buf));
        assert_null(strchr(buf, '\n'));
        json_error_t e;
        json_t *j = json_loads(buf, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                fail_msg("not JSON: %s (%s)", buf, e.text);
        return j;
}

static void test_field_order_and_values(void **st) {
        (void)st;
        /* 2026-11-23T10:00:00.000Z = 1795428000 s */
        dcem_sample s = mk("utility-main", "energy_kwh", 12345.678, "kWh", INT64_C(1795428000) * 1000000000 + 123456789,
                           DCEM_Q_GOOD);
        char buf[1024];
        int n = dcem_json_sample_line("dc-east-1", &s, buf, sizeof buf);
        assert_true(n > 0);
        assert_string_equal(buf, "{\"site\":\"dc-east-1\",\"device\":\"utility-main\",\"point\":\"energy_kwh\","
                                 "\"value\":12345.678,\"unit\":\"kWh\",\"ts\":\"2026-11-23T10:00:00.123Z\","
                                 "\"quality\":\"good\"}");
}

static void test_escaping(void **st) {
        (void)st;
        const char *nasty = "a\"b\\c\nd\te\x01" "f/\xc2\xb0" "C";
        dcem_sample s = mk("dev", nasty, 1.5, "\xc2\xb0" "C", 0, DCEM_Q_ESTIMATED);
        json_t *j = line_of("site", &s);
        assert_string_equal(json_string_value(json_object_get(j, "point")), nasty);
        assert_string_equal(json_string_value(json_object_get(j, "unit")), "\xc2\xb0" "C");
        assert_string_equal(json_string_value(json_object_get(j, "quality")), "estimated");
        assert_string_equal(json_string_value(json_object_get(j, "ts")), "1970-01-01T00:00:00.000Z");
        json_decref(j);
}

static void test_invalid_utf8_repaired(void **st) {
        (void)st;
        /* a lone continuation byte, an overlong '/', a surrogate, a truncated sequence */
        dcem_sample s = mk("dev", "x\x80y\xc0\xafz\xed\xa0\x80w\xe2\x82", 0, "", 0, DCEM_Q_GOOD);
        json_t *j = line_of("site", &s);
        const char *p = json_string_value(json_object_get(j, "point"));
        assert_non_null(p);
        assert_string_equal(p, "x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdw"
                               "\xef\xbf\xbd\xef\xbf\xbd");
        json_decref(j);
}

static void test_non_finite_is_null(void **st) {
        (void)st;
        double vals[] = { NAN, INFINITY, -INFINITY };
        for (size_t i = 0; i < 3; i++) {
                dcem_sample s = mk("dev", "power_kw", vals[i], "kW", 0, DCEM_Q_ERROR);
                json_t *j = line_of("site", &s);
                assert_true(json_is_null(json_object_get(j, "value")));
                assert_string_equal(json_string_value(json_object_get(j, "quality")), "error");
                json_decref(j);
        }
}

static void test_numbers_round_trip(void **st) {
        (void)st;
        double vals[] = { 0.1, -0.0, 1e-9, 123456789012.345, 4294967295.0, 0.30000000000000004, 1e300 };
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
                dcem_sample s = mk("dev", "p", vals[i], "", 0, DCEM_Q_GOOD);
                json_t *j = line_of("site", &s);
                double got = json_number_value(json_object_get(j, "value"));
                /* 15 significant digits: relative error below 1e-14 */
                assert_true(fabs(got - vals[i]) <= fabs(vals[i]) * 1e-14);
                json_decref(j);
        }
        char buf[256];
        dcem_sample s = mk("dev", "p", 0.1, "", 0, DCEM_Q_GOOD);
        dcem_json_sample_line("site", &s, buf, sizeof buf);
        assert_non_null(strstr(buf, "\"value\":0.1,"));
}

static void test_small_buffer(void **st) {
        (void)st;
        dcem_sample s = mk("dev", "p", 1, "", 0, DCEM_Q_GOOD);
        char buf[16];
        assert_int_equal(dcem_json_sample_line("site", &s, buf, sizeof buf), -ENOBUFS);
}

/* ---- the direct writers against jansson, byte for byte ----
 * The oracle is the jansson tree the MQTT publisher used to build for a
 * device message (and json_dumps with DCEM_JSON_FLAGS), so these tests fail
 * on any byte the writers get differently. */

static char *oracle_device_message(const char *site, long schema, const dcem_batch *b) {
        char ts[DCEM_TS_MAX];
        json_t *o = json_object(), *pts = json_object();
        assert_int_equal(json_object_set_new(o, "schema", json_integer(schema)), 0);
        assert_int_equal(json_object_set_new(o, "site", dcem_json_string(site)), 0);
        assert_int_equal(json_object_set_new(o, "device", dcem_json_string(b->device)), 0);
        assert_int_equal(json_object_set_new(o, "ts", json_string(dcem_format_utc(b->ts_ns, ts))), 0);
        assert_int_equal(json_object_set_new(o, "read", json_string(dcem_format_utc(b->done_ns, ts))), 0);
        assert_int_equal(json_object_set_new(o, "seq", json_integer((json_int_t)b->seq)), 0);
        if (b->status != 0)
                assert_int_equal(json_object_set_new(o, "error", dcem_json_string(b->error[0] ? b->error
                                                                                             : strerror(-b->status))),
                                 0);
        for (size_t i = 0; i < b->n; i++) {
                const dcem_sample *s = &b->samples[i];
                json_t *val = s->kind == DCEM_KIND_TEXT ? dcem_json_string(s->text) : dcem_json_number(s->value);
                json_t *v = json_pack("{s:o,s:o,s:s}", "v", val, "u", dcem_json_string(s->unit),
                                      "q", dcem_quality_name((dcem_quality)s->quality));
                assert_non_null(v);
                assert_int_equal(json_object_set_new(pts, s->point, v), 0);
        }
        assert_int_equal(json_object_set(o, "points", pts), 0);
        char *out = json_dumps(o, DCEM_JSON_FLAGS);
        json_decref(pts);
        json_decref(o);
        assert_non_null(out);
        return out;
}

static void expect_same_message(const char *site, long schema, const dcem_batch *b) {
        char *want = oracle_device_message(site, schema, b);
        char *got = NULL;
        size_t len = 0;
        assert_int_equal(dcem_json_device_message(site, schema, b, &got, &len), 0);
        assert_non_null(got);
        assert_int_equal(len, strlen(got));
        if (strcmp(want, got) != 0)
                fail_msg("device message differs from jansson's\n want %s\n got  %s", want, got);
        free(got);
        free(want);
}

/* splitmix64: reproducible pseudo-random doubles of every kind. */
static uint64_t rng_next(uint64_t *x) {
        uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

static double rng_double(uint64_t *x) {
        uint64_t r = rng_next(x);
        double d;
        switch (r % 6) {
        case 0: /* any bit pattern (NaN and infinities included) */
                r = rng_next(x);
                memcpy(&d, &r, sizeof d);
                return d;
        case 1: { /* a float32 reading widened, as Modbus float registers are */
                uint32_t f32 = (uint32_t)rng_next(x);
                float f;
                memcpy(&f, &f32, sizeof f);
                return (double)f;
        }
        case 2: /* integers around the 1e15 boundary of the integer path */
                return (double)((int64_t)(rng_next(x) % 4000000000000000ULL) - 2000000000000000LL);
        case 3: /* small integers, counters */
                return (double)((int64_t)(rng_next(x) % 2000001) - 1000000);
        case 4: /* decimals with few digits */
                return (double)((int64_t)(rng_next(x) % 2000001) - 1000000) / 1000.0;
        default: /* wide exponents */
                return ldexp((double)(rng_next(x) >> 11) / 9007199254740992.0, (int)(rng_next(x) % 2000) - 1000);
        }
}

static dcem_batch *batch_of(const char *device, size_t n) {
        dcem_batch *b = NULL;
        assert_int_equal(dcem_batch_new(device, n, &b), 0);
        return b;
}

static void test_device_message_matches_jansson(void **st) {
        (void)st;
        uint64_t x = 42;
        dcem_batch *b = batch_of("pdu-a1", 16);
        b->ts_ns = INT64_C(1795428000) * 1000000000 + 7000000;
        b->done_ns = b->ts_ns + 38123456; /* read 38.123456 ms after the slot: "...00.045Z" */
        b->seq = 123456789012ULL;
        const char *units[] = { "kWh", "V", "", "\xc2\xb0" "C", "a\"b" };
        for (size_t i = 0; i < 14; i++) {
                dcem_sample s = mk("pdu-a1", "", 0, units[i % 5], 0, (dcem_quality)(i % 4));
                snprintf(s.point, sizeof s.point, "point_%zu", i);
                assert_int_equal(dcem_batch_add(&b, &s), 0);
        }
        for (int round = 0; round < 3000; round++) {
                for (size_t i = 0; i < b->n; i++)
                        b->samples[i].value = rng_double(&x);
                expect_same_message("dc-east-1", 1, b);
        }
        /* fixed edge values */
        double edge[] = { 0.0, -0.0, 1e15, -1e15, 999999999999999.0, 1e15 - 0.5, 1e-5, 1e-7, 1e21, 1e100, -1e-300,
                          5e-324, 1.7976931348623157e308, 0.1, 2.5, 230.10000610351562, 4294967295.0, NAN, INFINITY };
        for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
                b->samples[0].value = edge[i];
                expect_same_message("dc-east-1", 1, b);
        }
        dcem_batch_unref(b);
}

static void test_device_message_errors_and_strings(void **st) {
        (void)st;
        dcem_batch *b = batch_of("dev\x01\"\\/\xff", 0);
        expect_same_message("site\n\t\b\f\r\x1f\x7f", 7, b); /* no points */
        b->status = -ETIMEDOUT;
        expect_same_message("s", 1, b);                      /* strerror text */
        snprintf(b->error, sizeof b->error, "timeout after 1s \xe2\x82 \xed\xa0\x80");
        expect_same_message("s", 1, b);                      /* the poll's own text, repaired */
        dcem_sample s = mk("d", "x\x01y\"z\xc2\xb0", 1.0, "\x02\x80", 0, DCEM_Q_ERROR);
        assert_int_equal(dcem_batch_add(&b, &s), 0);
        expect_same_message("s", -3, b);
        /* the longest stamps and numbers the fixed part can hold */
        b->ts_ns = INT64_MIN;
        b->done_ns = INT64_MAX;
        b->seq = (uint64_t)INT64_MAX;
        expect_same_message("s", LONG_MIN, b);
        b->ts_ns = b->done_ns = 0;
        b->seq = 0;
        /* A point name that is not UTF-8: jansson refuses it as a key (the
         * whole message was lost); the writer repairs it like any string. */
        snprintf(b->samples[0].point, sizeof b->samples[0].point, "x\x80y");
        char *got = NULL;
        assert_int_equal(dcem_json_device_message("s", 1, b, &got, NULL), 0);
        json_error_t e;
        json_t *j = json_loads(got, JSON_REJECT_DUPLICATES, &e);
        assert_non_null(j);
        assert_non_null(json_object_get(json_object_get(j, "points"), "x\xef\xbf\xbdy"));
        json_decref(j);
        free(got);
        dcem_batch_unref(b);
}

static void test_device_message_repeated_points(void **st) {
        (void)st;
        /* jansson keeps a repeated key at its first position with its last
         * value; checked on a small batch and past the sorting threshold */
        for (size_t n = 5; n <= 80; n += 75) {
                dcem_batch *b = batch_of("d", 0);
                for (size_t i = 0; i < n; i++) {
                        dcem_sample s = mk("d", "", (double)i, "W", 0, DCEM_Q_GOOD);
                        snprintf(s.point, sizeof s.point, "p%zu", i % (n - 2));
                        assert_int_equal(dcem_batch_add(&b, &s), 0);
                }
                expect_same_message("s", 1, b);
                dcem_batch_unref(b);
        }
}

static void test_sample_line_matches_jansson(void **st) {
        (void)st;
        uint64_t x = 7;
        for (int round = 0; round < 3000; round++) {
                dcem_sample s = mk(round % 2 ? "dev\"\\\x01" : "dev", round % 3 ? "p\xff" : "p", rng_double(&x),
                                   round % 2 ? "\xc2\xb0" "C" : "kW", (int64_t)(rng_next(&x) >> 2),
                                   (dcem_quality)(round % 4));
                char ts[DCEM_TS_MAX], buf[1024];
                json_t *o = json_object();
                json_object_set_new(o, "site", dcem_json_string("site"));
                json_object_set_new(o, "device", dcem_json_string(s.device));
                json_object_set_new(o, "point", dcem_json_string(s.point));
                json_object_set_new(o, "value", dcem_json_number(s.value));
                json_object_set_new(o, "unit", dcem_json_string(s.unit));
                json_object_set_new(o, "ts", json_string(dcem_format_utc(s.ts_ns, ts)));
                json_object_set_new(o, "quality", json_string(dcem_quality_name((dcem_quality)s.quality)));
                char *want = json_dumps(o, DCEM_JSON_FLAGS);
                json_decref(o);
                int n = dcem_json_sample_line("site", &s, buf, sizeof buf);
                assert_true(n > 0);
                if (strcmp(want, buf) != 0)
                        fail_msg("sample line differs from jansson's\n want %s\n got  %s", want, buf);
                free(want);
        }
}

/* Text values (DCEM_KIND_TEXT): "v" is a JSON string, written byte for
 * byte as jansson writes dcem_json_string of the text (quotes, backslashes,
 * control bytes escaped; invalid UTF-8 replaced by U+FFFD), in the device
 * message and the sample line; parsed back, it is the text (repaired). */
static void test_text_values(void **st) {
        (void)st;
        static const char *texts[] = {
                "SDM630-Modbus V2",                     /* plain */
                "a\"b\\c",                              /* quote, backslash */
                "\x01\x1f\t\n\r\b\f\x7f/",                 /* control bytes, DEL, slash */
                "\xff\xfe Veris \xc3\xa9\xe2\x82\xac \xed\xa0\x80", /* invalid bytes, UTF-8, a surrogate */
                "\xc3",                                  /* a sequence cut at the field's end */
                "",                                      /* empty */
                "0123456789012345678901234567890123456", /* DCEM_TEXT_MAX - 1 bytes */
        };
        const size_t nt = sizeof texts / sizeof texts[0];
        dcem_batch *b = batch_of("meter-1", 0);
        b->ts_ns = INT64_C(1795428000) * 1000000000;
        b->seq = 9;
        for (size_t i = 0; i < nt; i++) {
                dcem_sample s = mk("meter-1", "", NAN, "", 0, i == 5 ? DCEM_Q_ERROR : DCEM_Q_GOOD);
                snprintf(s.point, sizeof s.point, "text_%zu", i);
                s.kind = DCEM_KIND_TEXT;
                assert_true(strlen(texts[i]) < sizeof s.text);
                memcpy(s.text, texts[i], strlen(texts[i]) + 1);
                assert_int_equal(dcem_batch_add(&b, &s), 0);
                /* numbers between the texts */
                dcem_sample n = mk("meter-1", "", 0.1 * (double)i, "kW", 0, DCEM_Q_GOOD);
                snprintf(n.point, sizeof n.point, "num_%zu", i);
                assert_int_equal(dcem_batch_add(&b, &n), 0);
        }
        expect_same_message("dc-east-1", 1, b);
        char *got = NULL;
        assert_int_equal(dcem_json_device_message("dc-east-1", 1, b, &got, NULL), 0);
        json_error_t e;
        json_t *j = json_loads(got, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                fail_msg("not JSON: %s (%s)", got, e.text);
        json_t *pts = json_object_get(j, "points");
        assert_string_equal(json_string_value(json_object_get(json_object_get(pts, "text_1"), "v")), "a\"b\\c");
        assert_string_equal(json_string_value(json_object_get(json_object_get(pts, "text_2"), "v")),
                            "\x01\x1f\t\n\r\b\f\x7f/");
        assert_string_equal(json_string_value(json_object_get(json_object_get(pts, "text_3"), "v")),
                            "\xef\xbf\xbd\xef\xbf\xbd Veris \xc3\xa9\xe2\x82\xac \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        assert_string_equal(json_string_value(json_object_get(json_object_get(pts, "text_4"), "v")), "\xef\xbf\xbd");
        assert_string_equal(json_string_value(json_object_get(json_object_get(pts, "text_5"), "v")), "");
        assert_true(json_is_number(json_object_get(json_object_get(pts, "num_3"), "v")));
        json_decref(j);
        /* the escapes themselves: no raw control byte reaches the payload */
        for (const char *c = got; *c; c++)
                assert_true((unsigned char)*c >= 0x20);
        assert_non_null(strstr(got, "\"text_1\":{\"v\":\"a\\\"b\\\\c\",\"u\":\"\",\"q\":\"good\"}"));
        assert_non_null(strstr(got, "\"v\":\"\\u0001\\u001F\\t\\n\\r\\b\\f\x7f/\""));
        free(got);
        /* a field without its NUL (a sample built elsewhere): at most DCEM_TEXT_MAX bytes */
        memset(b->samples[0].text, 'x', sizeof b->samples[0].text);
        assert_int_equal(dcem_json_device_message("s", 1, b, &got, NULL), 0);
        j = json_loads(got, 0, &e);
        assert_non_null(j);
        assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(json_object_get(j, "points"), "text_0"),
                                                                  "v"))),
                         DCEM_TEXT_MAX);
        json_decref(j);
        free(got);
        /* the sample line: "value" is the text, as jansson writes it */
        for (size_t i = 1; i < b->n; i++) {
                const dcem_sample *s = &b->samples[i];
                char ts[DCEM_TS_MAX], buf[1024];
                json_t *o = json_object();
                json_object_set_new(o, "site", dcem_json_string("site"));
                json_object_set_new(o, "device", dcem_json_string(s->device));
                json_object_set_new(o, "point", dcem_json_string(s->point));
                json_object_set_new(o, "value", s->kind == DCEM_KIND_TEXT ? dcem_json_string(s->text)
                                                                          : dcem_json_number(s->value));
                json_object_set_new(o, "unit", dcem_json_string(s->unit));
                json_object_set_new(o, "ts", json_string(dcem_format_utc(s->ts_ns, ts)));
                json_object_set_new(o, "quality", json_string(dcem_quality_name((dcem_quality)s->quality)));
                char *want = json_dumps(o, DCEM_JSON_FLAGS);
                json_decref(o);
                int n = dcem_json_sample_line("site", s, buf, sizeof buf);
                assert_true(n > 0);
                if (strcmp(want, buf) != 0)
                        fail_msg("sample line differs from jansson's\n want %s\n got  %s", want, buf);
                free(want);
        }
        dcem_batch_unref(b);
}

/* The integer formatting of numbers against glibc's "%.15g" (through
 * jansson's post-processing: the oracle is jansson's own dump), on values
 * drawn across 1e-6..1e16 and on exact ties, which must round half to even. */
static void test_numbers_match_printf(void **st) {
        (void)st;
        uint64_t x = 99;
        dcem_batch *b = batch_of("d", 64);
        for (size_t i = 0; i < 64; i++) {
                dcem_sample s = mk("d", "", 0, "", 0, DCEM_Q_GOOD);
                snprintf(s.point, sizeof s.point, "p%zu", i);
                assert_int_equal(dcem_batch_add(&b, &s), 0);
        }
        for (int round = 0; round < 4000; round++) {
                for (size_t i = 0; i < b->n; i++) {
                        double m = 1.0 + (double)(rng_next(&x) >> 11) / 9007199254740992.0;
                        double v = m * pow(10.0, (double)((int)(rng_next(&x) % 23) - 6));
                        if (i % 4 == 1) {
                                float f = (float)v; /* float32 registers widened */
                                v = (double)f;
                        } else if (i % 4 == 2) {
                                v = nextafter(pow(10.0, (double)((int)(rng_next(&x) % 21) - 5)), (i & 8) ? 0.0 : 1e300);
                        }
                        b->samples[i].value = (rng_next(&x) & 1) ? -v : v;
                }
                expect_same_message("s", 1, b);
        }
        /* exact ties at the 15th digit, and values that round up to a power of ten */
        double ties[] = { 123456789012345.5, 123456789012344.5, 12345678901234.25, 1234567890123.125,
                          0.5, 2.5, 99999999999999.95, 999999999999999.5, 9.999999999999995, 0.000099999999999999995 };
        for (size_t i = 0; i < sizeof ties / sizeof ties[0]; i++) {
                b->samples[0].value = ties[i];
                b->samples[1].value = -ties[i];
                expect_same_message("s", 1, b);
        }
        dcem_batch_unref(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_field_order_and_values), cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_invalid_utf8_repaired),  cmocka_unit_test(test_non_finite_is_null),
                cmocka_unit_test(test_numbers_round_trip),     cmocka_unit_test(test_small_buffer),
                cmocka_unit_test(test_device_message_matches_jansson),
                cmocka_unit_test(test_device_message_errors_and_strings),
                cmocka_unit_test(test_device_message_repeated_points),
                cmocka_unit_test(test_sample_line_matches_jansson),
                cmocka_unit_test(test_text_values),
                cmocka_unit_test(test_numbers_match_printf),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
