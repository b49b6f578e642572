/* test_yaml.c - the YAML reader (agent/yaml.c) and the diagnostics list
 * (agent/diag.c): tree shape and positions, empty documents, refused
 * constructs (anchors, aliases, tags, non-scalar keys, NUL), duplicate keys,
 * the limits (depth, nodes, bytes), syntax and encoding errors as
 * FILE:LINE:COL, and file errors. Positions were counted by hand.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dcem/node.h"
#include "dcem/schema_path.h"

static void print_diag(const dcem_diag *d)
{
        for (size_t i = 0; i < d->n; i++)
                print_message("  diag[%zu]: %s\n", i, d->msgs[i]);
}

static dcem_node *load(const char *y, dcem_diag *diag)
{
        dcem_node *root = NULL;
        int r = dcem_yaml_load_buffer("t.yaml", y, strlen(y), &root, diag);
        print_diag(diag);
        assert_int_equal(r, 0);
        assert_non_null(root);
        return root;
}

/* Expect failure with exactly these messages, in this order. */
static void load_fails(const char *y, size_t len, const char *const *want, size_t n)
{
        dcem_diag diag = { 0 };
        dcem_node *root = (dcem_node *)(uintptr_t)1;
        int r = dcem_yaml_load_buffer("t.yaml", y, len, &root, &diag);
        print_diag(&diag);
        assert_int_equal(r, -EINVAL);
        assert_ptr_equal(root, (dcem_node *)(uintptr_t)1);
        assert_int_equal(dcem_diag_count(&diag), n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(diag.msgs[i], want[i]);
        dcem_diag_clear(&diag);
}
#define FAILS(y, ...)                                                                               \
        do {                                                                                        \
                static const char *const w_[] = { __VA_ARGS__ };                                    \
                load_fails(y, strlen(y), w_, sizeof(w_) / sizeof(w_[0]));                           \
        } while (0)

static void test_tree_and_positions(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        dcem_node *root = load("# comment\n"
                               "a: 1\n"
                               "b:\n"
                               "  - x\n"
                               "  - { k: 'v', n: ~ }\n"
                               "c: \"q\"\n"
                               "d: |\n"
                               "  line1\n"
                               "  line2\n",
                               &diag);
        assert_int_equal(root->type, DCEM_NODE_MAP);
        assert_int_equal(root->n, 4);
        assert_int_equal(root->line, 2);
        assert_int_equal(root->col, 1);
        assert_string_equal(root->file, "t.yaml");

        const dcem_node *a = dcem_node_get(root, "a");
        assert_non_null(a);
        assert_int_equal(a->type, DCEM_NODE_SCALAR);
        assert_string_equal(a->scalar, "1");
        assert_true(a->plain);
        assert_int_equal(a->line, 2);
        assert_int_equal(a->col, 4);
        assert_int_equal(a->key_line, 2);
        assert_int_equal(a->key_col, 1);

        const dcem_node *b = dcem_node_get(root, "b");
        assert_int_equal(b->type, DCEM_NODE_SEQ);
        assert_int_equal(b->n, 2);
        assert_int_equal(b->line, 4);
        assert_int_equal(b->col, 3);
        assert_string_equal(b->child->scalar, "x");
        assert_null(b->child->key);
        const dcem_node *m = b->child->next;
        assert_int_equal(m->type, DCEM_NODE_MAP);
        assert_int_equal(m->line, 5);
        assert_int_equal(m->col, 5);
        assert_int_equal(m->n, 2);
        const dcem_node *k = dcem_node_get(m, "k");
        assert_string_equal(k->scalar, "v");
        assert_false(k->plain);
        assert_int_equal(k->col, 10);
        const dcem_node *n = dcem_node_get(m, "n");
        assert_string_equal(n->scalar, "~");
        assert_true(n->plain);
        assert_int_equal(n->key_col, 15);

        const dcem_node *c = dcem_node_get(root, "c");
        assert_string_equal(c->scalar, "q");
        assert_false(c->plain);
        const dcem_node *d = dcem_node_get(root, "d");
        assert_string_equal(d->scalar, "line1\nline2\n");

        assert_null(dcem_node_get(root, "zz"));
        assert_null(dcem_node_get(a, "a")); /* not a map */
        assert_null(dcem_node_get(NULL, "a"));
        assert_string_equal(dcem_node_type_name(a), "a scalar");
        assert_string_equal(dcem_node_type_name(b), "a list");
        assert_string_equal(dcem_node_type_name(root), "a map");
        assert_string_equal(dcem_node_type_name(NULL), "nothing");
        dcem_node_free(root);
        dcem_node_free(NULL);
        assert_int_equal(dcem_diag_count(&diag), 0);
}

static void test_empty_documents_are_empty_maps(void **state)
{
        (void)state;
        static const char *const docs[] = { "", "# nothing\n", "---\n", "~\n", "null\n", "\n\n\n" };
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                dcem_diag diag = { 0 };
                dcem_node *root = load(docs[i], &diag);
                assert_int_equal(root->type, DCEM_NODE_MAP);
                assert_int_equal(root->n, 0);
                assert_null(root->child);
                dcem_node_free(root);
        }
        /* A quoted "null" is a string, not an empty document. */
        dcem_diag diag = { 0 };
        dcem_node *root = load("'null'\n", &diag);
        assert_int_equal(root->type, DCEM_NODE_SCALAR);
        dcem_node_free(root);
}

static void test_refused_constructs(void **state)
{
        (void)state;
        FAILS("a: &x 1\nb: *x\n", "t.yaml:1:4: anchors (&x) are not allowed in a dcem configuration",
              "t.yaml:2:4: aliases (*x) are not allowed in a dcem configuration");
        FAILS("a: !foo 1\n", "t.yaml:1:4: tag '!foo' is not allowed (only the YAML core tags are)");
        FAILS("a: !!set {x}\n",
              "t.yaml:1:4: tag 'tag:yaml.org,2002:set' is not allowed (only the YAML core tags are)");
        FAILS("[a, b]: 1\nc: 2\n", "t.yaml:1:1: a map key must be a scalar, not a list");
        FAILS("? {x: 1}\n: 1\n", "t.yaml:1:3: a map key must be a scalar, not a map");
        FAILS("a: \"x\\0y\"\n", "t.yaml:1:4: a NUL character is not allowed in a value");
        FAILS("a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is allowed in a file");
        /* Core tags are fine. */
        dcem_diag diag = { 0 };
        dcem_node *root = load("a: !!str 1\nb: !!int 2\n", &diag);
        assert_false(dcem_node_get(root, "a")->plain);
        dcem_node_free(root);
}

static void test_duplicate_keys(void **state)
{
        (void)state;
        FAILS("a: 1\nb: 2\na: 3\nb: 4\na: 5\n",
              "t.yaml:3:1: duplicate key 'a' (first given at line 1, column 1)",
              "t.yaml:5:1: duplicate key 'a' (first given at line 1, column 1)",
              "t.yaml:4:1: duplicate key 'b' (first given at line 2, column 1)");
        FAILS("x:\n  - { k: 1, k: 2 }\n", "t.yaml:2:13: duplicate key 'k' (first given at line 2, column 7)");
        /* The same key in different maps is fine. */
        dcem_diag diag = { 0 };
        dcem_node *root = load("a: { k: 1 }\nb: { k: 1 }\n", &diag);
        dcem_node_free(root);
}

static void test_syntax_errors(void **state)
{
        (void)state;
        FAILS("a: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence started "
                            "at line 1, column 4)");
        FAILS("a: 'open\n", "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar started at "
                            "line 1, column 4)");
        FAILS("a:\n\tb: 1\n", "t.yaml:2:1: found character that cannot start any token (while scanning for the next "
                              "token); a tab? YAML indents with spaces only");
        FAILS("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
        /* Invalid UTF-8: only a byte offset is known, turned into line:col. */
        FAILS("a: 1\nb: \xff\n", "t.yaml:2:4: invalid leading UTF-8 octet (byte 0xff)");
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
        char *s = malloc(hl + ul * n + tl + 1);
        assert_non_null(s);
        memcpy(s, head, hl);
        for (size_t i = 0; i < n; i++)
                memcpy(s + hl + i * ul, unit, ul);
        memcpy(s + hl + n * ul, tail, tl + 1);
        return s;
}

static void test_limits(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        dcem_node *root = NULL;

        /* Depth: 32 levels (31 sequences under the root map) are fine. */
        char *y = repeat("a: ", "[", 31, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
        root = load(y, &diag);
        dcem_node_free(root);
        free(y);
        /* 40 brackets: the 32nd, at column 3 + 32, is too deep. */
        y = repeat("a: ", "[", 40, "\n");
        FAILS(y, "t.yaml:1:35: nested too deeply: at most 32 levels");
        free(y);

        /* Nodes: root map (1), key 'l' (2), the list (3), then item j is node
         * 3 + j: node 200001 is item 199998, on line 1 + 199998. */
        y = repeat("l:\n", "- 1\n", DCEM_YAML_MAX_NODES, "");
        FAILS(y, "t.yaml:199999:3: too many nodes: a configuration may have at most 200000");
        free(y);
        y = repeat("l:\n", "- 1\n", DCEM_YAML_MAX_NODES - 3, "");
        root = load(y, &diag);
        assert_int_equal(dcem_node_get(root, "l")->n, DCEM_YAML_MAX_NODES - 3);
        dcem_node_free(root);
        free(y);

        /* Bytes. */
        size_t big = DCEM_YAML_MAX_BYTES + 1;
        y = malloc(big);
        assert_non_null(y);
        memset(y, '#', big);
        static const char *const w[] = { "t.yaml: too large: a configuration may have at most 4194304 bytes" };
        load_fails(y, big, w, 1);
        free(y);
}

static void test_files(void **state)
{
        (void)state;
        dcem_diag diag = { 0 };
        dcem_node *root = (dcem_node *)(uintptr_t)1;
        assert_int_equal(dcem_yaml_load_file("/nonexistent/x.yaml", &root, &diag), -ENOENT);
        assert_ptr_equal(root, (dcem_node *)(uintptr_t)1);
        assert_string_equal(diag.msgs[0], "/nonexistent/x.yaml: cannot open: No such file or directory");
        dcem_diag_clear(&diag);
        assert_int_equal(dcem_yaml_load_file("/", &root, &diag), -EISDIR);
        assert_string_equal(diag.msgs[0], "/: cannot read: it is a directory");
        dcem_diag_clear(&diag);

        char path[] = "/tmp/dcem-test-yaml-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fputs("x: 1\n", f);
        fclose(f);
        root = NULL;
        assert_int_equal(dcem_yaml_load_file(path, &root, &diag), 0);
        assert_string_equal(root->file, path);
        assert_string_equal(dcem_node_get(root, "x")->scalar, "1");
        dcem_node_free(root);

        /* Exactly the limit is read whole; one byte more is refused. */
        f = fopen(path, "w");
        assert_non_null(f);
        for (size_t i = 0; i < DCEM_YAML_MAX_BYTES / 64 - 1; i++)
                fprintf(f, "#%062zu\n", i);
        fprintf(f, "last: %057d\n", 1); /* 64 bytes */
        fclose(f);
        assert_int_equal(dcem_yaml_load_file(path, &root, &diag), 0);
        assert_int_equal(strlen(dcem_node_get(root, "last")->scalar), 57);
        dcem_node_free(root);
        f = fopen(path, "a");
        fputc('\n', f);
        fclose(f);
        root = (dcem_node *)(uintptr_t)1;
        assert_int_equal(dcem_yaml_load_file(path, &root, &diag), -EINVAL);
        assert_ptr_equal(root, (dcem_node *)(uintptr_t)1);
        assert_int_equal(diag.n, 1);
        assert_non_null(strstr(diag.msgs[0], ": too large: a configuration may have at most 4194304 bytes"));
        dcem_diag_clear(&diag);
        unlink(path);
}

static void test_diag_bounded(void **state)
{
        (void)state;
        dcem_diag d = { 0 };
        for (unsigned i = 0; i < DCEM_DIAG_MAX + 50; i++)
                dcem_diag_add(&d, "f", i + 1, 2, "error %u", i);
        assert_int_equal(d.n, DCEM_DIAG_MAX);
        assert_int_equal(d.dropped, 50);
        assert_int_equal(dcem_diag_count(&d), DCEM_DIAG_MAX + 50);
        assert_string_equal(d.msgs[0], "f:1:2: error 0");
        assert_string_equal(d.msgs[DCEM_DIAG_MAX - 1], "f:200:2: error 199");
        dcem_diag_clear(&d);
        assert_int_equal(dcem_diag_count(&d), 0);
        dcem_diag_add(&d, "f", 3, 0, "line only");
        dcem_diag_add(&d, "f", 0, 0, "file only");
        dcem_diag_add(&d, NULL, 0, 0, "bare");
        assert_string_equal(d.msgs[0], "f:3: line only");
        assert_string_equal(d.msgs[1], "f: file only");
        assert_string_equal(d.msgs[2], "bare");
        dcem_diag_clear(&d);
        dcem_diag_clear(NULL);
        dcem_diag_add(NULL, "f", 1, 1, "ignored");
        assert_int_equal(dcem_diag_count(NULL), 0);

        char q[DCEM_QUOTE_MAX];
        assert_string_equal(dcem_diag_quote(q, sizeof(q), "a\tb\x7f"), "a\\x09b\\x7f");
        assert_string_equal(dcem_diag_quote(q, sizeof(q), NULL), "");
        /* 60 two-byte characters: 48 shown, never cut inside one, then "...". */
        char s[121];
        for (int i = 0; i < 60; i++)
                memcpy(s + 2 * i, "\xc3\xa9", 2);
        s[120] = '\0';
        dcem_diag_quote(q, sizeof(q), s);
        assert_int_equal(strlen(q), 96 + 3);
        assert_string_equal(q + 96, "...");
        char small[6];
        dcem_diag_quote(small, sizeof(small), s); /* 5 bytes of room: 2 whole characters */
        assert_int_equal(strlen(small), 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tree_and_positions),
                cmocka_unit_test(test_empty_documents_are_empty_maps),
                cmocka_unit_test(test_refused_constructs),
                cmocka_unit_test(test_duplicate_keys),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_diag_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
