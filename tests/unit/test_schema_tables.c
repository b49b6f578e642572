/* test_schema_tables.c - lint every schema table the binary carries: the
 * configuration's own (agent/config_schema.c) and every registered
 * collector's and publisher's. Generic over the registry, so it is built
 * twice: against the fake registry (test_schema_tables) and against dcem_core
 * with the real collectors and publishers (test_schema_tables_real).
 *
 * For each table: key names unique and well-formed, a doc for every key,
 * ENUM and NAME_LIKE with values, MAP and LIST with a sub-schema, min <= max,
 * no default on a required key, offsets inside the struct, and every default
 * parsing and within its limits (the table applied to an empty map gives only
 * "missing required key" errors). Then the generated reference has a row for
 * every key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dcem/collector.h"
#include "dcem/config.h"
#include "dcem/publisher.h"
#include "dcem/schema.h"

static size_t slot_size(const dcem_schema_key *k)
{
        switch (k->type) {
        case DCEM_T_STR:
                return sizeof(char *);
        case DCEM_T_BOOL:
                return sizeof(bool);
        case DCEM_T_INT:
        case DCEM_T_DURATION:
                return sizeof(int64_t);
        case DCEM_T_DOUBLE:
                return sizeof(double);
        case DCEM_T_SIZE:
                return sizeof(uint64_t);
        case DCEM_T_ENUM:
                return sizeof(int);
        case DCEM_T_MAP:
                return k->sub ? k->sub->size : 0;
        case DCEM_T_LIST:
                return sizeof(dcem_list);
        case DCEM_T_STRLIST:
                return sizeof(dcem_strlist);
        case DCEM_T_NODE:
                return sizeof(const dcem_node *);
        }
        return 0;
}

static void lint(const dcem_schema *s, const char *path)
{
        unsigned required = 0;
        print_message("schema %s (%s)\n", path, s->name ? s->name : "?");
        assert_non_null(s->keys);
        assert_true(s->size > 0);
        for (const dcem_schema_key *k = s->keys; k->name; k++) {
                print_message("  key %s\n", k->name);
                assert_true(k->name[0] != '\0');
                for (const char *p = k->name; *p; p++)
                        assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
                for (const dcem_schema_key *o = s->keys; o != k; o++)
                        assert_string_not_equal(o->name, k->name);
                assert_non_null(k->doc);
                assert_true(strlen(k->doc) > 0);
                assert_true(k->min <= k->max);
                assert_true(k->offset + slot_size(k) <= s->size);
                if (k->type == DCEM_T_ENUM)
                        assert_non_null(k->values);
                if (k->flags & DCEM_NAME_LIKE) {
                        assert_int_equal(k->type, DCEM_T_STR);
                        assert_non_null(k->values);
                }
                if (k->type == DCEM_T_MAP || k->type == DCEM_T_LIST) {
                        char sub[256];
                        assert_non_null(k->sub);
                        assert_null(k->def);
                        snprintf(sub, sizeof(sub), "%s%s%s%s", path, *path ? "." : "", k->name,
                                 k->type == DCEM_T_LIST ? "[]" : "");
                        lint(k->sub, sub);
                }
                if (k->flags & DCEM_REQUIRED) {
                        assert_null(k->def);
                        required++;
                }
        }

        /* Every default parses: an empty map gives only the missing keys. */
        dcem_diag diag = { 0 };
        dcem_node *root = NULL;
        assert_int_equal(dcem_yaml_load_buffer("empty.yaml", "{}", 2, &root, &diag), 0);
        void *target = calloc(1, s->size);
        assert_non_null(target);
        int r = dcem_schema_apply(s, root, target, &diag);
        for (size_t i = 0; i < diag.n; i++)
                print_message("  diag: %s\n", diag.msgs[i]);
        assert_int_equal(dcem_diag_count(&diag), required);
        for (size_t i = 0; i < diag.n; i++)
                assert_non_null(strstr(diag.msgs[i], "missing required key"));
        assert_int_equal(r, required ? -EINVAL : 0);
        dcem_schema_free(s, target);
        free(target);
        dcem_node_free(root);
        dcem_diag_clear(&diag);
}

static void test_config_tables(void **state)
{
        (void)state;
        lint(&dcem_config_schema, "");
}

static void test_collector_tables(void **state)
{
        (void)state;
        for (size_t i = 0; dcem_collectors[i]; i++) {
                char path[96];
                assert_non_null(dcem_collectors[i]->name);
                assert_ptr_equal(dcem_collector_find(dcem_collectors[i]->name), dcem_collectors[i]);
                snprintf(path, sizeof(path), "devices[].%s", dcem_collectors[i]->name);
                if (dcem_collectors[i]->schema)
                        lint(dcem_collectors[i]->schema, path);
        }
}

static void test_publisher_tables(void **state)
{
        (void)state;
        for (size_t i = 0; dcem_publishers[i]; i++) {
                char path[96];
                assert_non_null(dcem_publishers[i]->name);
                assert_ptr_equal(dcem_publisher_find(dcem_publishers[i]->name), dcem_publishers[i]);
                snprintf(path, sizeof(path), "output.%s", dcem_publishers[i]->name);
                if (dcem_publishers[i]->schema)
                        lint(dcem_publishers[i]->schema, path);
        }
}

/* Every key of s has its row in the section "## `path`" of doc. */
static void doc_has(const char *doc, const dcem_schema *s, const char *path)
{
        char heading[256];
        if (*path)
                snprintf(heading, sizeof(heading), "\n## `%s`\n", path);
        else
                snprintf(heading, sizeof(heading), "\n## Top level\n");
        const char *start = strstr(doc, heading);
        if (!start)
                print_message("no section %s", heading);
        assert_non_null(start);
        if (!start)
                return; /* not reached: tells the compiler */
        const char *end = strstr(start + 1, "\n## ");
        char *sec = strndup(start, end ? (size_t)(end - start) : strlen(start));
        assert_non_null(sec);
        for (const dcem_schema_key *k = s->keys; k->name; k++) {
                char row[128], sub[256];
                snprintf(row, sizeof(row), "\n| `%s` | ", k->name);
                if (!strstr(sec, row))
                        print_message("section %s lacks key %s\n", heading, k->name);
                assert_non_null(strstr(sec, row));
                if (k->type == DCEM_T_MAP || k->type == DCEM_T_LIST) {
                        snprintf(sub, sizeof(sub), "%s%s%s%s", path, *path ? "." : "", k->name,
                                 k->type == DCEM_T_LIST ? "[]" : "");
                        doc_has(doc, k->sub, sub);
                }
        }
        free(sec);
}

static void test_reference_has_every_key(void **state)
{
        (void)state;
        char *doc = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&doc, &len);
        assert_non_null(f);
        dcem_config_doc(f);
        fclose(f);
        doc_has(doc, &dcem_config_schema, "");
        for (size_t i = 0; dcem_collectors[i]; i++) {
                char p[96];
                if (!dcem_collectors[i]->schema)
                        continue;
                snprintf(p, sizeof(p), "devices[].%s", dcem_collectors[i]->name);
                doc_has(doc, dcem_collectors[i]->schema, p);
        }
        for (size_t i = 0; dcem_publishers[i]; i++) {
                char p[96];
                if (!dcem_publishers[i]->schema)
                        continue;
                snprintf(p, sizeof(p), "output.%s", dcem_publishers[i]->name);
                doc_has(doc, dcem_publishers[i]->schema, p);
        }
        free(doc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_tables),
                cmocka_unit_test(test_collector_tables),
                cmocka_unit_test(test_publisher_tables),
                cmocka_unit_test(test_reference_has_every_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
