/* yaml.c - read a YAML document into a dcem_node tree (see dcem/node.h).
 *
 * libyaml's event parser drives a small stack machine; every node keeps the
 * file, line and column it came from (1-based), so later validation can point
 * at the place. libyaml's own problems (syntax, encoding) come out as
 * FILE:LINE:COL messages too.
 *
 * Why a tree of our own and not libyaml's document API: positions of keys as
 * well as values, duplicate-key detection, and hard limits (input size, depth,
 * node count); anchors and aliases are refused outright, so no alias bomb can
 * expand, and only the YAML core tags are accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "dcem/node.h"
#include "dcem/schema_path.h"

typedef struct frame {
        dcem_node *node;  /* the open map or sequence */
        dcem_node *last;  /* its last member, for appending */
        bool have_key;    /* map: a key was read, its value comes next */
        bool bad_key;     /* map: that key was not a scalar (value dropped) */
        char *key;        /* map: the pending key's text (owned) */
        unsigned key_line, key_col;
} frame;

typedef struct builder {
        const char *file; /* owned by the root once it exists */
        const char *buf;
        size_t len;
        dcem_diag *diag;
        frame stack[DCEM_YAML_MAX_DEPTH];
        size_t depth;
        size_t nodes;
        unsigned docs;
        dcem_node *root;
        int errors; /* non-fatal errors seen (duplicates, aliases, ...) */
} builder;

/* Free a subtree (members and siblings of members), not n->file. */
static void node_free_tree(dcem_node *n)
{
        while (n) {
                dcem_node *next = n->next;
                node_free_tree(n->child);
                free(n->key);
                free(n->scalar);
                free(n);
                n = next;
        }
}

/* Free a whole tree; the root owns the file name. Accepts NULL. */
void dcem_node_free(dcem_node *root)
{
        if (!root)
                return;
        char *file = (char *)root->file;
        root->next = NULL;
        node_free_tree(root);
        free(file);
}

/* The member of map with this key, or NULL (also when map is not a map). */
const dcem_node *dcem_node_get(const dcem_node *map, const char *key)
{
        if (!map || map->type != DCEM_NODE_MAP || !key)
                return NULL;
        for (const dcem_node *c = map->child; c; c = c->next)
                if (c->key && strcmp(c->key, key) == 0)
                        return c;
        return NULL;
}

/* "a scalar", "a map", "a list"; "nothing" for NULL. */
const char *dcem_node_type_name(const dcem_node *n)
{
        if (!n)
                return "nothing";
        switch (n->type) {
        case DCEM_NODE_SCALAR:
                return "a scalar";
        case DCEM_NODE_MAP:
                return "a map";
        case DCEM_NODE_SEQ:
                return "a list";
        }
        return "an unknown node";
}

static void b_error(builder *b, const yaml_mark_t *m, const char *fmt, const char *arg)
{
        char q[DCEM_QUOTE_MAX];
        if (arg)
                dcem_diag_add(b->diag, b->file, (unsigned)m->line + 1, (unsigned)m->column + 1, fmt,
                              dcem_diag_quote(q, sizeof(q), arg));
        else
                dcem_diag_add(b->diag, b->file, (unsigned)m->line + 1, (unsigned)m->column + 1, "%s", fmt);
        b->errors++;
}

/* A new node at mark m, counted against DCEM_YAML_MAX_NODES. NULL with an
 * error in diag (limit) or without (-ENOMEM, *ret_err set). */
static dcem_node *node_new(builder *b, dcem_node_type type, const yaml_mark_t *m, int *ret_err)
{
        if (b->nodes >= DCEM_YAML_MAX_NODES) {
                dcem_diag_add(b->diag, b->file, (unsigned)m->line + 1, (unsigned)m->column + 1,
                              "too many nodes: a configuration may have at most %u", (unsigned)DCEM_YAML_MAX_NODES);
                *ret_err = -EINVAL;
                return NULL;
        }
        dcem_node *n = calloc(1, sizeof(*n));
        if (!n) {
                *ret_err = -ENOMEM;
                return NULL;
        }
        b->nodes++;
        n->type = type;
        n->file = b->file;
        n->line = (unsigned)m->line + 1;
        n->col = (unsigned)m->column + 1;
        return n;
}

/* Anchors are refused (so are aliases, in the event loop); tags only from the
 * core schema. Non-fatal: the error is noted and parsing goes on. */
static void check_props(builder *b, const yaml_mark_t *m, const yaml_char_t *anchor, const yaml_char_t *tag)
{
        static const char *const core[] = { "str", "int", "float", "bool", "null", "map", "seq" };
        static const char prefix[] = "tag:yaml.org,2002:";

        if (anchor)
                b_error(b, m, "anchors (&%s) are not allowed in a dcem configuration", (const char *)anchor);
        if (tag) {
                const char *t = (const char *)tag;
                bool ok = false;
                if (strncmp(t, prefix, sizeof(prefix) - 1) == 0)
                        for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
                                if (strcmp(t + sizeof(prefix) - 1, core[i]) == 0)
                                        ok = true;
                if (!ok)
                        b_error(b, m, "tag '%s' is not allowed (only the YAML core tags are)", t);
        }
}

static int cmp_key(const void *a, const void *b)
{
        const dcem_node *x = *(const dcem_node *const *)a, *y = *(const dcem_node *const *)b;
        int c = strcmp(x->key, y->key);
        if (c)
                return c;
        if (x->key_line != y->key_line)
                return x->key_line < y->key_line ? -1 : 1;
        return x->key_col < y->key_col ? -1 : x->key_col > y->key_col;
}

/* Report every key of map given more than once, at the later place, naming
 * the first. O(n log n). 0 or -ENOMEM. */
static int check_duplicates(builder *b, dcem_node *map)
{
        if (map->n < 2)
                return 0;
        dcem_node **v = malloc(map->n * sizeof(*v));
        if (!v)
                return -ENOMEM;
        size_t k = 0;
        for (dcem_node *c = map->child; c && k < map->n; c = c->next)
                v[k++] = c;
        qsort(v, k, sizeof(*v), cmp_key);
        for (size_t i = 1, first = 0; i < k; i++) {
                if (strcmp(v[i]->key, v[first]->key) != 0) {
                        first = i;
                        continue;
                }
                char q[DCEM_QUOTE_MAX];
                dcem_diag_add(b->diag, b->file, v[i]->key_line, v[i]->key_col,
                              "duplicate key '%s' (first given at line %u, column %u)",
                              dcem_diag_quote(q, sizeof(q), v[i]->key), v[first]->key_line, v[first]->key_col);
                b->errors++;
        }
        free(v);
        return 0;
}

/* Hang a finished node under the open container (or make it the root).
 * Takes ownership of n. */
static void attach(builder *b, dcem_node *n)
{
        if (b->depth == 0) {
                if (b->root) /* cannot happen: one document only */
                        node_free_tree(b->root);
                b->root = n;
                return;
        }
        frame *f = &b->stack[b->depth - 1];
        if (f->node->type == DCEM_NODE_MAP) {
                if (!f->have_key) {
                        f->have_key = true;
                        if (n->type != DCEM_NODE_SCALAR) {
                                dcem_diag_add(b->diag, b->file, n->line, n->col,
                                              "a map key must be a scalar, not %s", dcem_node_type_name(n));
                                b->errors++;
                                f->bad_key = true;
                        } else {
                                f->key = n->scalar;
                                n->scalar = NULL;
                                f->key_line = n->line;
                                f->key_col = n->col;
                        }
                        node_free_tree(n);
                        return;
                }
                f->have_key = false;
                if (f->bad_key) {
                        f->bad_key = false;
                        node_free_tree(n);
                        return;
                }
                n->key = f->key;
                n->key_line = f->key_line;
                n->key_col = f->key_col;
                f->key = NULL;
        }
        if (f->last)
                f->last->next = n;
        else
                f->node->child = n;
        f->last = n;
        f->node->n++;
}

/* Is this plain scalar text a YAML null? */
static bool is_null(const dcem_node *n)
{
        if (n->type != DCEM_NODE_SCALAR || !n->plain)
                return false;
        const char *s = n->scalar;
        return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Find the byte at (line, column) (0-based, column in characters). */
static const char *locate(const builder *b, size_t line, size_t column)
{
        const char *p = b->buf, *end = b->buf + b->len;
        for (size_t l = 0; l < line && p < end; p++)
                if (*p == '\n')
                        l++;
        for (size_t c = 0; p < end && *p != '\n'; p++) {
                if (((unsigned char)*p & 0xC0) == 0x80)
                        continue;
                if (c++ == column)
                        return p;
        }
        return p < end ? p : NULL;
}

/* Turn libyaml's error state into one diagnostic. Returns -ENOMEM or -EINVAL. */
static int parser_error(builder *b, const yaml_parser_t *p)
{
        const char *problem = p->problem ? p->problem : "unknown error";

        switch (p->error) {
        case YAML_MEMORY_ERROR:
                dcem_diag_add(b->diag, b->file, 0, 0, "out of memory while parsing");
                return -ENOMEM;
        case YAML_READER_ERROR: {
                /* Only a byte offset is known: count lines up to it. */
                size_t off = p->problem_offset < b->len ? p->problem_offset : b->len;
                unsigned line = 1, col = 1;
                for (size_t i = 0; i < off; i++) {
                        if (b->buf[i] == '\n')
                                line++, col = 1;
                        else
                                col++;
                }
                if (p->problem_value != -1)
                        dcem_diag_add(b->diag, b->file, line, col, "%s (byte 0x%02x)", problem,
                                      (unsigned)p->problem_value & 0xffu);
                else
                        dcem_diag_add(b->diag, b->file, line, col, "%s", problem);
                return -EINVAL;
        }
        default: {
                const char *hint = "";
                char ctx[192] = "";
                const char *at = locate(b, p->problem_mark.line, p->problem_mark.column);
                if (at && *at == '\t')
                        hint = "; a tab? YAML indents with spaces only";
                if (p->context && (p->context_mark.line != p->problem_mark.line ||
                                   p->context_mark.column != p->problem_mark.column))
                        snprintf(ctx, sizeof(ctx), " (%s started at line %u, column %u)", p->context,
                                 (unsigned)p->context_mark.line + 1, (unsigned)p->context_mark.column + 1);
                else if (p->context)
                        snprintf(ctx, sizeof(ctx), " (%s)", p->context);
                dcem_diag_add(b->diag, b->file, (unsigned)p->problem_mark.line + 1,
                              (unsigned)p->problem_mark.column + 1, "%s%s%s", problem, ctx, hint);
                return -EINVAL;
        }
        }
}

/* Run the event loop. 0, or -EINVAL / -ENOMEM after a fatal error. Non-fatal
 * errors are counted in b->errors. */
static int build(builder *b, yaml_parser_t *p)
{
        yaml_event_t ev;
        int r = 0;

        for (;;) {
                if (!yaml_parser_parse(p, &ev))
                        return parser_error(b, p);

                const yaml_mark_t *m = &ev.start_mark;
                dcem_node *n = NULL;
                bool done = false;

                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++b->docs > 1) {
                                dcem_diag_add(b->diag, b->file, (unsigned)m->line + 1, (unsigned)m->column + 1,
                                              "only one YAML document is allowed in a file");
                                r = -EINVAL;
                        }
                        break;
                case YAML_ALIAS_EVENT:
                        b_error(b, m, "aliases (*%s) are not allowed in a dcem configuration",
                                (const char *)ev.data.alias.anchor);
                        /* A placeholder keeps the structure (key/value pairing) intact. */
                        n = node_new(b, DCEM_NODE_SCALAR, m, &r);
                        if (n && !(n->scalar = strdup(""))) {
                                node_free_tree(n);
                                n = NULL;
                                r = -ENOMEM;
                        }
                        if (n)
                                attach(b, n);
                        break;
                case YAML_SCALAR_EVENT:
                        check_props(b, m, ev.data.scalar.anchor, ev.data.scalar.tag);
                        if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
                                b_error(b, m, "a NUL character is not allowed in a value", NULL);
                        }
                        n = node_new(b, DCEM_NODE_SCALAR, m, &r);
                        if (!n)
                                break;
                        n->scalar = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                        if (!n->scalar) {
                                node_free_tree(n);
                                r = -ENOMEM;
                                break;
                        }
                        n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev.data.scalar.tag;
                        attach(b, n);
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT: {
                        bool map = ev.type == YAML_MAPPING_START_EVENT;
                        if (map)
                                check_props(b, m, ev.data.mapping_start.anchor, ev.data.mapping_start.tag);
                        else
                                check_props(b, m, ev.data.sequence_start.anchor, ev.data.sequence_start.tag);
                        if (b->depth >= DCEM_YAML_MAX_DEPTH) {
                                dcem_diag_add(b->diag, b->file, (unsigned)m->line + 1, (unsigned)m->column + 1,
                                              "nested too deeply: at most %u levels", (unsigned)DCEM_YAML_MAX_DEPTH);
                                r = -EINVAL;
                                break;
                        }
                        n = node_new(b, map ? DCEM_NODE_MAP : DCEM_NODE_SEQ, m, &r);
                        if (!n)
                                break;
                        b->stack[b->depth++] = (frame){ .node = n };
                        break;
                }
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT: {
                        if (b->depth == 0) { /* libyaml guarantees balance */
                                r = -EINVAL;
                                break;
                        }
                        frame *f = &b->stack[--b->depth];
                        free(f->key);
                        f->key = NULL;
                        n = f->node;
                        f->node = NULL;
                        if (n->type == DCEM_NODE_MAP)
                                r = check_duplicates(b, n);
                        attach(b, n);
                        break;
                }
                default: /* stream start, document end, no event */
                        break;
                }
                yaml_event_delete(&ev);
                if (r < 0)
                        return r;
                if (done)
                        return 0;
        }
}

int dcem_yaml_load_buffer(const char *name, const char *buf, size_t len, dcem_node **ret_root, dcem_diag *diag)
{
        yaml_parser_t parser;
        builder b = { .buf = buf, .len = len, .diag = diag };
        char *file;
        int r;

        if (!name || !ret_root || (!buf && len))
                return -EINVAL;
        file = strdup(name);
        if (!file)
                return -ENOMEM;
        b.file = file;

        if (len > DCEM_YAML_MAX_BYTES) {
                dcem_diag_add(diag, file, 0, 0, "too large: a configuration may have at most %u bytes",
                              (unsigned)DCEM_YAML_MAX_BYTES);
                free(file);
                return -EINVAL;
        }
        if (!yaml_parser_initialize(&parser)) {
                free(file);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), len);
        r = build(&b, &parser);
        yaml_parser_delete(&parser);
        if (r == 0 && b.errors > 0)
                r = -EINVAL;

        /* An empty document (or a null one) is an empty map. */
        if (r == 0 && (!b.root || is_null(b.root))) {
                yaml_mark_t m = { 0 };
                if (b.root) {
                        m.line = b.root->line - 1;
                        m.column = b.root->col - 1;
                        node_free_tree(b.root);
                        b.root = NULL;
                }
                b.root = node_new(&b, DCEM_NODE_MAP, &m, &r);
        }

        if (r < 0) {
                for (size_t i = 0; i < b.depth; i++) {
                        node_free_tree(b.stack[i].node);
                        free(b.stack[i].key);
                }
                node_free_tree(b.root);
                free(file);
                if (r == -ENOMEM)
                        dcem_diag_add(diag, name, 0, 0, "out of memory");
                return r;
        }
        *ret_root = b.root;
        return 0;
}

int dcem_yaml_load_file(const char *path, dcem_node **ret_root, dcem_diag *diag)
{
        struct stat st;
        char *buf = NULL;
        size_t len = 0;
        int fd, r;

        if (!path || !ret_root)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                dcem_diag_add(diag, path, 0, 0, "cannot open: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                dcem_diag_add(diag, path, 0, 0, "cannot read: %s", strerror(-r));
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
                dcem_diag_add(diag, path, 0, 0, "cannot read: %s",
                              S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
                close(fd);
                return r;
        }
        /* Read at most one byte past the limit, to tell "too large". The
         * buffer starts at the file's size (+1 to see EOF) and grows if the
         * file does. */
        size_t cap = DCEM_YAML_MAX_BYTES + 1;
        if (st.st_size >= 0 && (uint64_t)st.st_size < DCEM_YAML_MAX_BYTES)
                cap = (size_t)st.st_size + 1 < 4096 ? 4096 : (size_t)st.st_size + 1;
        buf = malloc(cap);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        while (len < DCEM_YAML_MAX_BYTES + 1) {
                if (len == cap) {
                        size_t ncap = cap * 2 < DCEM_YAML_MAX_BYTES + 1 ? cap * 2 : DCEM_YAML_MAX_BYTES + 1;
                        char *nb = realloc(buf, ncap);
                        if (!nb) {
                                free(buf);
                                close(fd);
                                return -ENOMEM;
                        }
                        buf = nb;
                        cap = ncap;
                }
                ssize_t k = read(fd, buf + len, cap - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        dcem_diag_add(diag, path, 0, 0, "cannot read: %s", strerror(-r));
                        free(buf);
                        close(fd);
                        return r;
                }
                if (k == 0)
                        break;
                len += (size_t)k;
        }
        close(fd);
        r = dcem_yaml_load_buffer(path, buf, len, ret_root, diag);
        free(buf);
        return r;
}
