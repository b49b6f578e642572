/* test_schema.c - the scalar parsers and the schema engine (agent/schema.c):
 * edge cases of every parser (overflow, negative, empty, units), applying a
 * schema with every type, error collection with positions, every registered
 * schema's defaults, and the Markdown reference containing every key.
 *
 * Expected values are computed from the definitions (e.g. 1m30s = 90 * 1e9 ns,
 * 64KiB = 64 * 1024), not taken from the code's output.
 */
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dcem/config.h"
#include "dcem/schema.h"
#include "dcem/schema_path.h"
#include "fake_registry.h"

#define S_NS 1000000000LL

static void print_diag(const dcem_diag *d)
{
        for (size_t i = 0; i < d->n; i++)
                print_message("  diag[%zu]: %s\n", i, d->msgs[i]);
}

static void test_parse_duration(void **state)
{
        (void)state;
        static const struct {
                const char *s;
                int64_t ns;
        } ok[] = {
                { "500ms", 500LL * 1000000 },
                { "10s", 10 * S_NS },
                { "15m", 15 * 60 * S_NS },
                { "1h", 3600 * S_NS },
                { "1d", 86400 * S_NS },
                { "1m30s", 90 * S_NS },
                { "1h30m", 5400 * S_NS },
                { "1d2h3m4s5ms", ((((1 * 24 + 2) * 60 + 3) * 60 + 4) * 1000 + 5) * 1000000LL },
                { "0s", 0 },
                { "1.5s", 1500000000LL },
                { "0.001s", 1000000LL },
                { ".5m", 30 * S_NS },
                { "0.000000001s", 1 },
                { "106751d", 106751LL * 86400 * S_NS }, /* the largest whole number of days in int64 ns */
        };
        static const struct {
                const char *s, *why;
        } bad[] = {
                { "", "empty value" },
                { "10", "a duration needs a unit: ms, s, m, h or d" },
                { "-5s", "a duration cannot be negative" },
                { "10x", "unknown unit (use ms, s, m, h or d)" },
                { "10sec", "unknown unit (use ms, s, m, h or d)" },
                { "10S", "unknown unit (use ms, s, m, h or d)" },
                { "s", "expected a number and a unit, e.g. 500ms, 10s or 1m30s" },
                { " 10s", "expected a number and a unit, e.g. 500ms, 10s or 1m30s" },
                { "10 s", "expected a number and a unit, e.g. 500ms, 10s or 1m30s" },
                { "1s ", "expected a number and a unit, e.g. 500ms, 10s or 1m30s" },
                { ".s", "expected a number and a unit, e.g. 500ms, 10s or 1m30s" },
                { "1m1m", "units must go from largest to smallest, each once (e.g. 1h30m)" },
                { "30s1m", "units must go from largest to smallest, each once (e.g. 1h30m)" },
                { "1s10", "a duration needs a unit: ms, s, m, h or d" },
                { "106752d", "too large" },
                { "9223372036854775807ms", "too large" },
                { "99999999999999999999s", "too large" },
                { "1.0000000001s", "too many decimals (at most 9)" },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                int64_t v = -1;
                const char *why = NULL;
                print_message("%s\n", ok[i].s);
                assert_int_equal(dcem_parse_duration(ok[i].s, &v, &why), 0);
                assert_int_equal(v, ok[i].ns);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t v = 42;
                const char *why = NULL;
                print_message("%s\n", bad[i].s);
                assert_int_equal(dcem_parse_duration(bad[i].s, &v, &why), -EINVAL);
                assert_string_equal(why, bad[i].why);
                assert_int_equal(v, 42); /* untouched on failure */
        }
        int64_t v;
        assert_int_equal(dcem_parse_duration(NULL, &v, NULL), -EINVAL);
}

static void test_parse_size(void **state)
{
        (void)state;
        static const struct {
                const char *s;
                uint64_t v;
        } ok[] = {
                { "0", 0 },
                { "512", 512 },
                { "512B", 512 },
                { "64KiB", 64 * 1024 },
                { "256MiB", 256ULL * 1024 * 1024 },
                { "1GiB", 1ULL << 30 },
                { "2TiB", 2ULL << 40 },
                { "1KB", 1000 },
                { "5MB", 5000000 },
                { "1GB", 1000000000 },
                { "3TB", 3000000000000ULL },
                { "18446744073709551615", UINT64_MAX },
                { "17179869183GiB", (17179869183ULL) << 30 },
        };
        static const struct {
                const char *s, *why;
        } bad[] = {
                { "", "empty value" },
                { "-1", "a size cannot be negative" },
                { "KiB", "expected a number of bytes, e.g. 512, 64KiB or 1GB" },
                { "1kb", "unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
                { "1.5MB", "unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
                { "1 KiB", "unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)" },
                { "18446744073709551616", "too large" },
                { "17179869184GiB", "too large" }, /* 2^34 * 2^30 = 2^64 */
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                uint64_t v = 1;
                print_message("%s\n", ok[i].s);
                assert_int_equal(dcem_parse_size(ok[i].s, &v, NULL), 0);
                assert_true(v == ok[i].v);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t v = 42;
                const char *why = NULL;
                print_message("%s\n", bad[i].s);
                assert_int_equal(dcem_parse_size(bad[i].s, &v, &why), -EINVAL);
                assert_string_equal(why, bad[i].why);
                assert_true(v == 42);
        }
}

static void test_parse_int(void **state)
{
        (void)state;
        static const struct {
                const char *s;
                int64_t v;
        } ok[] = {
                { "0", 0 },         { "-1", -1 },
                { "+7", 7 },        { "0x10", 16 },
                { "0XfF", 255 },    { "-0x10", -16 },
                { "010", 10 },      /* decimal, not octal */
                { "9223372036854775807", INT64_MAX },
                { "-9223372036854775808", INT64_MIN },
                { "0x7fffffffffffffff", INT64_MAX },
        };
        static const char *const bad[] = {
                "", "-", "+", "0x", "12a", " 1", "1 ", "1.0", "1e3", "0x1g",
                "9223372036854775808", "-9223372036854775809", "0x8000000000000000", "99999999999999999999",
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                int64_t v = 1;
                print_message("%s\n", ok[i].s);
                assert_int_equal(dcem_parse_int(ok[i].s, &v, NULL), 0);
                assert_true(v == ok[i].v);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t v = 42;
                const char *why = NULL;
                print_message("'%s'\n", bad[i]);
                assert_int_equal(dcem_parse_int(bad[i], &v, &why), -EINVAL);
                assert_non_null(why);
                assert_int_equal(v, 42);
        }
        const char *why = NULL;
        int64_t v;
        assert_int_equal(dcem_parse_int("9223372036854775808", &v, &why), -EINVAL);
        assert_string_equal(why, "out of the 64-bit integer range");
        assert_int_equal(dcem_parse_int("", &v, &why), -EINVAL);
        assert_string_equal(why, "empty value");
}

static void test_parse_double_and_bool(void **state)
{
        (void)state;
        static const struct {
                const char *s;
                double v;
        } ok[] = {
                { "1.5", 1.5 }, { "-0.25", -0.25 }, { "1e3", 1000.0 }, { "2.5E-1", 0.25 },
                { ".5", 0.5 },  { "5.", 5.0 },      { "+3", 3.0 },     { "0", 0.0 },
        };
        static const char *const bad[] = { "", "nan", "inf", "-inf", ".inf", "1e", "0x10", "1e999", "-1e999",
                                           "1,5", "1.5.2", ".", "-", "e5", "1 " };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                double v = -99;
                assert_int_equal(dcem_parse_double(ok[i].s, &v, NULL), 0);
                assert_true(v == ok[i].v);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                double v = 42;
                const char *why = NULL;
                print_message("'%s'\n", bad[i]);
                assert_int_equal(dcem_parse_double(bad[i], &v, &why), -EINVAL);
                assert_non_null(why);
                assert_true(v == 42);
        }
        /* Independent of LC_NUMERIC, where a locale with ',' is installed. */
        if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
                double v = 0;
                assert_int_equal(dcem_parse_double("1.5", &v, NULL), 0);
                assert_true(v == 1.5);
                setlocale(LC_NUMERIC, "C");
        } else
                print_message("no comma locale installed: locale case skipped\n");

        static const char *const yes[] = { "true", "yes", "on", "TRUE", "Yes", "ON" };
        static const char *const no[] = { "false", "no", "off", "False", "NO", "Off" };
        for (size_t i = 0; i < 6; i++) {
                bool b = false;
                assert_int_equal(dcem_parse_bool(yes[i], &b, NULL), 0);
                assert_true(b);
                assert_int_equal(dcem_parse_bool(no[i], &b, NULL), 0);
                assert_false(b);
        }
        static const char *const nb[] = { "", "1", "0", "y", "n", "truee", " true" };
        for (size_t i = 0; i < sizeof(nb) / sizeof(nb[0]); i++) {
                bool b = true;
                const char *why = NULL;
                assert_int_equal(dcem_parse_bool(nb[i], &b, &why), -EINVAL);
                assert_non_null(why);
                assert_true(b);
        }
}

/* A schema with every type. */
typedef struct sub_conf {
        int64_t a;
        char *b;
} sub_conf;

typedef struct all_conf {
        char *s;
        char *name;
        bool flag;
        int64_t i;
        double d;
        int64_t dur;
        uint64_t size;
        int e;
        sub_conf sub;
        dcem_list items;
        dcem_strlist tags;
        const dcem_node *raw;
        int checked;
} all_conf;

static const dcem_schema_key sub_keys[] = {
        { .name = "a", .type = DCEM_T_INT, .def = "7", .offset = offsetof(sub_conf, a), .doc = "A." },
        { .name = "b", .type = DCEM_T_STR, .def = "bee", .offset = offsetof(sub_conf, b), .doc = "B." },
        { 0 },
};
static const dcem_schema sub_schema = { .name = "sub", .size = sizeof(sub_conf), .keys = sub_keys };

static unsigned check_calls;
static int all_check(const dcem_schema *s, void *target, const dcem_node *map, dcem_diag *diag)
{
        (void)s;
        all_conf *c = target;
        check_calls++;
        c->checked = 1;
        if (c->i == 13) {
                const dcem_node *n = dcem_node_get(map, "i");
                dcem_diag_add(diag, n->file, n->line, n->col, "i: unlucky");
                return -EINVAL;
        }
        return 0;
}

static const dcem_schema_key all_keys[] = {
        { .name = "s", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(all_conf, s), .doc = "S." },
        { .name = "name", .type = DCEM_T_STR, .def = "x-1", .flags = DCEM_NAME_LIKE, .values = "a-z0-9-",
          .offset = offsetof(all_conf, name), .doc = "Name." },
        { .name = "flag", .type = DCEM_T_BOOL, .def = "on", .offset = offsetof(all_conf, flag), .doc = "Flag." },
        { .name = "i", .type = DCEM_T_INT, .def = "-3", .min = -10, .max = 100, .offset = offsetof(all_conf, i),
          .doc = "I." },
        { .name = "d", .type = DCEM_T_DOUBLE, .def = "0.5", .min = 0, .max = 1, .offset = offsetof(all_conf, d),
          .doc = "D." },
        { .name = "dur", .type = DCEM_T_DURATION, .def = "1m30s", .offset = offsetof(all_conf, dur), .doc = "Dur." },
        { .name = "size", .type = DCEM_T_SIZE, .def = "64KiB", .min = 1024, .max = 1048576,
          .offset = offsetof(all_conf, size), .doc = "Size." },
        { .name = "e", .type = DCEM_T_ENUM, .def = "blue", .values = "red|green|blue", .offset = offsetof(all_conf, e),
          .doc = "E." },
        { .name = "sub", .type = DCEM_T_MAP, .sub = &sub_schema, .offset = offsetof(all_conf, sub), .doc = "Sub." },
        { .name = "items", .type = DCEM_T_LIST, .sub = &sub_schema, .offset = offsetof(all_conf, items),
          .doc = "Items." },
        { .name = "tags", .type = DCEM_T_STRLIST, .offset = offsetof(all_conf, tags), .doc = "Tags." },
        { .name = "raw", .type = DCEM_T_NODE, .offset = offsetof(all_conf, raw), .doc = "Raw | piped." },
        { 0 },
};
static const dcem_schema all_schema = {
        .name = "all", .doc = "Every type.", .size = sizeof(all_conf), .keys = all_keys, .check = all_check,
};

static dcem_node *parse(const char *y, dcem_diag *diag)
{
        dcem_node *root = NULL;
        assert_int_equal(dcem_yaml_load_buffer("t.yaml", y, strlen(y), &root, diag), 0);
        return root;
}

static void test_apply_defaults_and_values(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        all_conf c = { 0 };

        /* Defaults only (plus the required key). */
        dcem_node *root = parse("s: hello\n", &diag);
        check_calls = 0;
        assert_int_equal(dcem_schema_apply(&all_schema, root, &c, &diag), 0);
        print_diag(&diag);
        assert_string_equal(c.s, "hello");
        assert_string_equal(c.name, "x-1");
        assert_true(c.flag);
        assert_int_equal(c.i, -3);
        assert_true(c.d == 0.5);
        assert_int_equal(c.dur, 90 * S_NS);
        assert_true(c.size == 65536);
        assert_int_equal(c.e, 2);
        assert_int_equal(c.sub.a, 7); /* an absent map still gets its defaults */
        assert_string_equal(c.sub.b, "bee");
        assert_int_equal(c.items.n, 0);
        assert_null(c.items.items);
        assert_int_equal(c.tags.n, 0);
        assert_null(c.raw);
        assert_int_equal(check_calls, 1);
        dcem_schema_free(&all_schema, &c);
        assert_null(c.s);
        dcem_node_free(root);

        /* Every value given. */
        memset(&c, 0, sizeof(c));
        root = parse("s: 'quoted: text'\nname: abc-9\nflag: no\ni: 0x40\nd: 1\ndur: 250ms\nsize: 1MiB\n"
                     "e: red\nsub: { a: 1, b: '' }\nitems:\n  - a: 2\n  - b: zz\ntags: [x, 'y z']\n"
                     "raw: { anything: [1, 2] }\n",
                     &diag);
        assert_int_equal(dcem_schema_apply(&all_schema, root, &c, &diag), 0);
        print_diag(&diag);
        assert_string_equal(c.s, "quoted: text");
        assert_string_equal(c.name, "abc-9");
        assert_false(c.flag);
        assert_int_equal(c.i, 64);
        assert_true(c.d == 1.0);
        assert_int_equal(c.dur, 250000000LL);
        assert_true(c.size == 1048576);
        assert_int_equal(c.e, 0);
        assert_int_equal(c.sub.a, 1);
        assert_string_equal(c.sub.b, "");
        assert_int_equal(c.items.n, 2);
        const sub_conf *it = c.items.items;
        assert_int_equal(it[0].a, 2);
        assert_string_equal(it[0].b, "bee");
        assert_int_equal(it[1].a, 7);
        assert_string_equal(it[1].b, "zz");
        assert_int_equal(c.tags.n, 2);
        assert_string_equal(c.tags.items[1], "y z");
        assert_non_null(c.raw);
        assert_int_equal(c.raw->type, DCEM_NODE_MAP);
        assert_int_equal(c.raw->line, 14);
        assert_int_equal(c.raw->col, 6);
        dcem_schema_free(&all_schema, &c);
        dcem_schema_free(&all_schema, NULL);
        dcem_node_free(root);
        assert_int_equal(dcem_diag_count(&diag), 0);
}

static void expect_diag(const dcem_diag *d, const char *const *want, size_t n)
{
        print_diag(d);
        for (size_t i = 0; i < n; i++) {
                bool found = false;
                for (size_t k = 0; k < d->n && !found; k++)
                        found = !strcmp(d->msgs[k], want[i]);
                if (!found)
                        print_message("missing: %s\n", want[i]);
                assert_true(found);
        }
        assert_int_equal(dcem_diag_count(d), n);
}

static void test_apply_errors_collected(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        all_conf c = { 0 };
        /* line:col of each value counted by hand. */
        dcem_node *root = parse("name: Abc\n"      /* 1:7 */
                                "flag: 2\n"        /* 2:7 */
                                "i: 101\n"         /* 3:4 */
                                "d: -0.1\n"        /* 4:4 */
                                "dur: 10\n"        /* 5:6 */
                                "size: 512\n"      /* 6:7 */
                                "e: gren\n"        /* 7:4 */
                                "sub: [1]\n"       /* 8:6 */
                                "items: {a: 1}\n"  /* 9:8 */
                                "tags: [a, [b]]\n" /* 10:11 */
                                "sz: 1\n",         /* 11:1 */
                                &diag);
        check_calls = 0;
        assert_int_equal(dcem_schema_apply_at(&all_schema, "top", root, &c, &diag), -EINVAL);
        static const char *const want[] = {
                "t.yaml:1:1: top: missing required key 's'",
                "t.yaml:1:7: top.name: 'Abc' is not a valid name: 'A' is not allowed (use [a-z0-9-], 1 to 63 "
                "characters)",
                "t.yaml:2:7: top.flag: '2' is not a boolean: expected true or false (or yes/no, on/off)",
                "t.yaml:3:4: top.i: '101' is out of range: must be between -10 and 100",
                "t.yaml:4:4: top.d: '-0.1' is out of range: must be between 0 and 1",
                "t.yaml:5:6: top.dur: '10' is not a duration: a duration needs a unit: ms, s, m, h or d",
                "t.yaml:6:7: top.size: '512' is out of range: must be between 1KiB and 1MiB",
                "t.yaml:7:4: top.e: 'gren' is not a valid value (did you mean 'green'?); use one of: red, green, blue",
                "t.yaml:8:6: top.sub: expected a map, found a list",
                "t.yaml:9:8: top.items: expected a list of maps, found a map",
                "t.yaml:10:11: top.tags[1]: expected a string, found a list",
                "t.yaml:11:1: top: unknown key 'sz' (valid keys: s, name, flag, i, d, dur, size, e, sub, items, tags, raw)",
        };
        expect_diag(&diag, want, sizeof(want) / sizeof(want[0]));
        assert_int_equal(check_calls, 0); /* cross-checks only run on a valid map */
        dcem_schema_free(&all_schema, &c);
        dcem_node_free(root);
        dcem_diag_clear(&diag);

        /* The check hook's own error fails the apply. */
        memset(&c, 0, sizeof(c));
        root = parse("s: x\ni: 13\n", &diag);
        assert_int_equal(dcem_schema_apply(&all_schema, root, &c, &diag), -EINVAL);
        static const char *const want2[] = { "t.yaml:2:4: i: unlucky" };
        expect_diag(&diag, want2, 1);
        assert_int_equal(c.checked, 1);
        dcem_schema_free(&all_schema, &c);
        dcem_node_free(root);
        dcem_diag_clear(&diag);

        /* Not a map at all; NULL map: defaults, missing key without position. */
        memset(&c, 0, sizeof(c));
        root = parse("[1, 2]\n", &diag);
        assert_int_equal(dcem_schema_apply(&all_schema, root, &c, &diag), -EINVAL);
        static const char *const want3[] = { "t.yaml:1:1: expected a map, found a list" };
        expect_diag(&diag, want3, 1);
        assert_int_equal(c.i, -3); /* defaults still applied */
        dcem_schema_free(&all_schema, &c);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
        memset(&c, 0, sizeof(c));
        assert_int_equal(dcem_schema_apply(&all_schema, NULL, &c, &diag), -EINVAL);
        static const char *const want4[] = { "missing required key 's'" };
        expect_diag(&diag, want4, 1);
        assert_int_equal(c.i, -3);
        dcem_schema_free(&all_schema, &c);
        dcem_diag_clear(&diag);
}

static void test_unknown_key_long_and_control(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        all_conf c = { 0 };
        dcem_node *root = parse("s: x\n\"a\\tb\": 1\n"
                                "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij: 2\n",
                                &diag);
        assert_int_equal(dcem_schema_apply(&all_schema, root, &c, &diag), -EINVAL);
        static const char *const want[] = {
                "t.yaml:2:1: unknown key 'a\\x09b' (valid keys: s, name, flag, i, d, dur, size, e, sub, items, "
                "tags, raw)",
                "t.yaml:3:1: unknown key 'abcdefghijabcdefghijabcdefghijabcdefghijabcdefgh...' (valid keys: s, "
                "name, flag, i, d, dur, size, e, sub, items, tags, raw)",
        };
        expect_diag(&diag, want, 2);
        dcem_schema_free(&all_schema, &c);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
}

typedef struct more_conf {
        char *name, *n2, *s;
        double d, d2;
        uint64_t sz;
        dcem_strlist tags;
} more_conf;

static const dcem_schema_key more_keys[] = {
        { .name = "name", .type = DCEM_T_STR, .flags = DCEM_NAME_LIKE, .values = "a-z", .offset = offsetof(more_conf, name) },
        { .name = "n2", .type = DCEM_T_STR, .flags = DCEM_NAME_LIKE, .values = "a-z", .offset = offsetof(more_conf, n2) },
        { .name = "s", .type = DCEM_T_STR, .offset = offsetof(more_conf, s) },
        { .name = "d", .type = DCEM_T_DOUBLE, .offset = offsetof(more_conf, d) },
        { .name = "d2", .type = DCEM_T_DOUBLE, .min = 0.5, .max = 2.25, .offset = offsetof(more_conf, d2) },
        { .name = "sz", .type = DCEM_T_SIZE, .offset = offsetof(more_conf, sz) },
        { .name = "tags", .type = DCEM_T_STRLIST, .offset = offsetof(more_conf, tags) },
        { 0 },
};
static const dcem_schema more_schema = { .name = "more", .size = sizeof(more_conf), .keys = more_keys };

static void test_more_value_errors(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        more_conf c = { 0 };
        char *y = malloc(8192);
        assert_non_null(y);
        int o = sprintf(y, "name: ''\nn2: \"a\\x01\"\nd: abc\nd2: 3\nsz: 12 parsecs\ntags: [~, ok]\ns: ");
        memset(y + o, 'x', 4097);
        strcpy(y + o + 4097, "\n");
        dcem_node *root = parse(y, &diag);
        free(y);
        assert_int_equal(dcem_schema_apply(&more_schema, root, &c, &diag), -EINVAL);
        static const char *const want[] = {
                "t.yaml:1:7: name: a name cannot be empty (use [a-z], 1 to 63 characters)",
                "t.yaml:2:5: n2: 'a\\x01' is not a valid name: '\\x01' is not allowed (use [a-z], 1 to 63 characters)",
                "t.yaml:3:4: d: 'abc' is not a number: not a number",
                "t.yaml:4:5: d2: '3' is out of range: must be between 0.5 and 2.25",
                "t.yaml:5:5: sz: '12 parsecs' is not a size: unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)",
                "t.yaml:6:8: tags[0]: expected a string, found nothing",
                "t.yaml:7:4: s: too long: at most 4096 characters",
        };
        expect_diag(&diag, want, sizeof(want) / sizeof(want[0]));
        assert_int_equal(c.tags.n, 2);
        assert_null(c.tags.items[0]);
        assert_string_equal(c.tags.items[1], "ok");
        dcem_schema_free(&more_schema, &c);
        dcem_node_free(root);
        dcem_diag_clear(&diag);

        /* Fractional limits in the reference. */
        char *doc = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&doc, &len);
        dcem_schema_doc(&more_schema, "more", f);
        fclose(f);
        assert_non_null(strstr(doc, "| `d2` | number | - | 0.5 to 2.25 | no |"));
        free(doc);
}

/* Past DCEM_DIAG_MAX messages, errors are still counted, each once. */
static void test_many_errors_counted(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        more_conf c = { 0 };
        char *y = malloc(250 * 16 + 1), *p = y;
        assert_non_null(y);
        for (int i = 0; i < 250; i++)
                p += sprintf(p, "bad%03d: 1\n", i);
        dcem_node *root = parse(y, &diag);
        free(y);
        assert_int_equal(dcem_schema_apply(&more_schema, root, &c, &diag), -EINVAL);
        assert_int_equal(diag.n, DCEM_DIAG_MAX);
        assert_int_equal(dcem_diag_count(&diag), 250);
        assert_string_equal(diag.msgs[0], "t.yaml:1:1: unknown key 'bad000' (valid keys: name, n2, s, d, d2, sz, tags)");
        dcem_schema_free(&more_schema, &c);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
}

static void test_bad_default_is_caught(void **state)
{
        (void)state;
        static const dcem_schema_key keys[] = {
                { .name = "t", .type = DCEM_T_DURATION, .def = "10", .offset = 0 },
                { 0 },
        };
        static const dcem_schema s = { .name = "bug", .size = sizeof(int64_t), .keys = keys };
        int64_t v = 0;
        dcem_diag diag = { 0 };
        assert_int_equal(dcem_schema_apply(&s, NULL, &v, &diag), -EINVAL);
        static const char *const want[] = {
                "schema default: t: '10' is not a duration: a duration needs a unit: ms, s, m, h or d" };
        expect_diag(&diag, want, 1);
        dcem_diag_clear(&diag);
}

/* Apply s to an empty map: the only errors allowed are missing required keys
 * (so every default in every table parses and is within its limits). */
static void apply_empty(const dcem_schema *s, const char *what)
{
        dcem_diag diag = { 0 };
        dcem_node *root = NULL;
        unsigned required = 0;
        assert_int_equal(dcem_yaml_load_buffer("empty.yaml", "{}", 2, &root, &diag), 0);
        void *target = calloc(1, s->size);
        assert_non_null(target);
        int r = dcem_schema_apply(s, root, target, &diag);
        for (const dcem_schema_key *k = s->keys; k->name; k++) {
                if (k->flags & DCEM_REQUIRED)
                        required++;
                if (k->type == DCEM_T_MAP)
                        apply_empty(k->sub, k->name);
                if (k->type == DCEM_T_LIST)
                        apply_empty(k->sub, k->name);
        }
        print_message("%s: %u required\n", what, required);
        print_diag(&diag);
        assert_int_equal(dcem_diag_count(&diag), required);
        for (size_t i = 0; i < diag.n; i++)
                assert_non_null(strstr(diag.msgs[i], "missing required key"));
        assert_int_equal(r, required ? -EINVAL : 0);
        dcem_schema_free(s, target);
        free(target);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
}

static void test_every_schema_default_parses(void **state)
{
        (void)state;
        apply_empty(&dcem_config_schema, "top level");
        for (size_t i = 0; dcem_collectors[i]; i++)
                if (dcem_collectors[i]->schema)
                        apply_empty(dcem_collectors[i]->schema, dcem_collectors[i]->name);
        for (size_t i = 0; dcem_publishers[i]; i++)
                if (dcem_publishers[i]->schema)
                        apply_empty(dcem_publishers[i]->schema, dcem_publishers[i]->name);
}

/* The section "## `path`" of doc (NULL if absent), up to the next section. */
static char *section(const char *doc, const char *heading)
{
        const char *p = strstr(doc, heading);
        if (!p)
                return NULL;
        const char *e = strstr(p + 1, "\n## ");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        return strndup(p, n);
}

/* Every key of s (recursively) has its row in its section. */
static void doc_has_schema(const char *doc, const dcem_schema *s, const char *path)
{
        char heading[256];
        if (*path)
                snprintf(heading, sizeof(heading), "## `%s`\n", path);
        else
                snprintf(heading, sizeof(heading), "## Top level\n");
        char *sec = section(doc, heading);
        if (!sec)
                print_message("no section %s", heading);
        assert_non_null(sec);
        for (const dcem_schema_key *k = s->keys; k->name; k++) {
                char row[128], sub[256];
                snprintf(row, sizeof(row), "\n| `%s` | ", k->name);
                if (!strstr(sec, row))
                        print_message("section %s lacks key %s\n", heading, k->name);
                assert_non_null(strstr(sec, row));
                if (k->def) {
                        snprintf(row, sizeof(row), "`%s`", k->def);
                        assert_non_null(strstr(sec, row));
                }
                if (k->type == DCEM_T_MAP || k->type == DCEM_T_LIST) {
                        snprintf(sub, sizeof(sub), "%s%s%s%s", path, *path ? "." : "", k->name,
                                 k->type == DCEM_T_LIST ? "[]" : "");
                        doc_has_schema(doc, k->sub, sub);
                }
        }
        free(sec);
}

static void test_doc_contains_every_key(void **state)
{
        (void)state;
        char *doc = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&doc, &len);
        assert_non_null(f);
        dcem_config_doc(f);
        fclose(f);
        assert_non_null(strstr(doc, "# dcem configuration reference\n"));
        doc_has_schema(doc, &dcem_config_schema, "");
        for (size_t i = 0; dcem_collectors[i]; i++) {
                char p[96];
                snprintf(p, sizeof(p), "devices[].%s", dcem_collectors[i]->name);
                doc_has_schema(doc, dcem_collectors[i]->schema, p);
        }
        for (size_t i = 0; dcem_publishers[i]; i++) {
                char p[96];
                if (!dcem_publishers[i]->schema)
                        continue;
                snprintf(p, sizeof(p), "output.%s", dcem_publishers[i]->name);
                doc_has_schema(doc, dcem_publishers[i]->schema, p);
        }
        /* Limits and values come out as a user writes them. */
        assert_non_null(strstr(doc, "| `interval` | duration | `10s` | 100ms to 1d | no |"));
        assert_non_null(strstr(doc, "| `site` | name | - | `[a-z0-9-]`, 1 to 63 characters | yes |"));
        assert_non_null(strstr(doc, "`grid_import`, `grid_export`, `onsite_renewable`, `green_supply`, `it`, "
                                    "`cooling`, `other`, `none`"));
        assert_non_null(strstr(doc, "| `max_buffer` | size | `1MiB` | 1KiB to 1GB | no | Buffer \\| cap. |"));
        free(doc);

        /* A schema's own section, with a pipe in a doc escaped. */
        f = open_memstream(&doc, &len);
        dcem_schema_doc(&all_schema, "x", f);
        fclose(f);
        doc_has_schema(doc, &all_schema, "x");
        assert_non_null(strstr(doc, "## `x.items[]`\n"));
        assert_non_null(strstr(doc, "| `d` | number | `0.5` | 0 to 1 | no | D. |"));
        assert_non_null(strstr(doc, "Raw \\| piped."));
        free(doc);
}

static void test_format_duration(void **state)
{
        (void)state;
        char b[64];
        assert_string_equal(dcem_format_duration(b, sizeof(b), 0), "0s");
        assert_string_equal(dcem_format_duration(b, sizeof(b), 90 * S_NS), "1m30s");
        assert_string_equal(dcem_format_duration(b, sizeof(b), 100000000), "100ms");
        assert_string_equal(dcem_format_duration(b, sizeof(b), 86400 * S_NS + 1), "1d1ns");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_parse_int),
                cmocka_unit_test(test_parse_double_and_bool),
                cmocka_unit_test(test_apply_defaults_and_values),
                cmocka_unit_test(test_apply_errors_collected),
                cmocka_unit_test(test_unknown_key_long_and_control),
                cmocka_unit_test(test_more_value_errors),
                cmocka_unit_test(test_many_errors_counted),
                cmocka_unit_test(test_bad_default_is_caught),
                cmocka_unit_test(test_every_schema_default_parses),
                cmocka_unit_test(test_doc_contains_every_key),
                cmocka_unit_test(test_format_duration),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
