/* test_json.c - the JSON line format of samples: escaping, UTF-8 repair,
 * non-finite values, time stamps; every line is parsed back with jansson's
 * decoder and compared field by field with the sample it came from. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_field_order_and_values), cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_invalid_utf8_repaired),  cmocka_unit_test(test_non_finite_is_null),
                cmocka_unit_test(test_numbers_round_trip),     cmocka_unit_test(test_small_buffer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
