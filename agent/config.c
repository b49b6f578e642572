/* config.c - load the agent's configuration file into a dcem_config.
 *
 * YAML (agent/yaml.c) -> tree -> the schema tables of agent/config_schema.c
 * (agent/schema.c) -> then what no single table can say: relative paths
 * resolved against the file's directory, per-device interval and timeout
 * resolved from the defaults, role/pue_category consistency, unique device
 * names, exactly one collector block per device applied to that collector's
 * own schema (and its check), and the output blocks applied to their
 * publishers' schemas. Every error is collected (not just the first), each as
 * "FILE:LINE:COL: path: message".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/config.h"
#include "dcem/schema_path.h"

static const char *const role_names[_DCEM_ROLE_MAX] = {
        [DCEM_ROLE_GRID_IMPORT] = "grid_import",
        [DCEM_ROLE_GRID_EXPORT] = "grid_export",
        [DCEM_ROLE_ONSITE_RENEWABLE] = "onsite_renewable",
        [DCEM_ROLE_GREEN_SUPPLY] = "green_supply",
        [DCEM_ROLE_IT] = "it",
        [DCEM_ROLE_COOLING] = "cooling",
        [DCEM_ROLE_OTHER] = "other",
        [DCEM_ROLE_NONE] = "none",
};

/* The config-file spelling of a role; "unknown" when out of range. */
const char *dcem_role_name(dcem_role r)
{
        if ((unsigned)r >= _DCEM_ROLE_MAX)
                return "unknown";
        return role_names[r];
}

/* The `accounting:` block's schema (agent/accounting_schema.c). Weak: the
 * loader's own unit tests link without the accounting module and keep the
 * block raw; the agent (dcem_core) always has it, so --check-config reports
 * its errors with positions like any other block. */
extern const dcem_schema dcem_accounting_schema __attribute__((weak));

/* publisher_conf[i] for an enabled publisher that has no schema (stdout). */
static char enabled_marker;

/* Report at node n (its value position) under path. */
static void __attribute__((format(printf, 4, 5))) cerr(dcem_diag *diag, const dcem_node *n, const char *path,
                                                          const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        dcem_diag_vadd_path(diag, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0, path, fmt, ap);
        va_end(ap);
}

/* Same, at the position of n's key. */
static void __attribute__((format(printf, 4, 5))) cerr_key(dcem_diag *diag, const dcem_node *n, const char *path,
                                                              const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        dcem_diag_vadd_path(diag, n->file, n->key_line, n->key_col, path, fmt, ap);
        va_end(ap);
}

/* Make *p (a malloc'd path) relative to the directory of file. 0 or -ENOMEM. */
static int resolve_path(char **p, const char *file)
{
        const char *slash = strrchr(file, '/');
        char *n;

        if (!*p || (*p)[0] == '/' || !slash)
                return 0;
        if (asprintf(&n, "%.*s/%s", (int)(slash - file), file, *p) < 0)
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

static void free_publisher_confs(dcem_config *c)
{
        if (!c->publisher_conf)
                return;
        for (size_t i = 0; dcem_publishers[i]; i++) {
                void *conf = c->publisher_conf[i];
                if (!conf || conf == &enabled_marker)
                        continue;
                dcem_schema_free(dcem_publishers[i]->schema, conf);
                free(conf);
        }
        free(c->publisher_conf);
        c->publisher_conf = NULL;
}

/* Free a configuration and everything it owns. Accepts NULL. */
void dcem_config_free(dcem_config *c)
{
        if (!c)
                return;
        for (size_t i = 0; c->devices_list.items && i < c->devices_list.n; i++) {
                dcem_device_conf *d = &dcem_config_devices(c)[i];
                if (d->collector && d->collector_conf) {
                        dcem_schema_free(d->collector->schema, d->collector_conf);
                        free(d->collector_conf);
                }
                d->collector_conf = NULL;
        }
        free_publisher_confs(c);
        if (c->accounting_conf && &dcem_accounting_schema) {
                dcem_schema_free(&dcem_accounting_schema, c->accounting_conf);
                free(c->accounting_conf);
        }
        c->accounting_conf = NULL;
        dcem_schema_free(&dcem_config_schema, c);
        free(c->file);
        dcem_node_free(c->root);
        free(c);
}

typedef struct name_ref {
        const char *name;
        size_t index;
} name_ref;

static int cmp_name_ref(const void *a, const void *b)
{
        const name_ref *x = a, *y = b;
        int r = strcmp(x->name, y->name);
        if (r)
                return r;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Report every device name given twice, at the later one. 0 or -EINVAL
 * (duplicates), -ENOMEM. */
static int check_unique_names(dcem_config *c, const dcem_node *const *items, dcem_diag *diag)
{
        size_t n = dcem_config_ndevices(c), k = 0;
        int r = 0;
        if (n < 2)
                return 0;
        name_ref *v = malloc(n * sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (dcem_config_devices(c)[i].name)
                        v[k++] = (name_ref){ dcem_config_devices(c)[i].name, i };
        qsort(v, k, sizeof(*v), cmp_name_ref);
        for (size_t i = 1, first = 0; i < k; i++) {
                if (strcmp(v[i].name, v[first].name) != 0) {
                        first = i;
                        continue;
                }
                const dcem_node *at = dcem_node_get(items[v[i].index], "name");
                const dcem_node *was = dcem_node_get(items[v[first].index], "name");
                char path[64], q[DCEM_QUOTE_MAX];
                snprintf(path, sizeof(path), "devices[%zu].name", v[i].index);
                cerr(diag, at, path, "duplicate device name '%s' (first used by devices[%zu] at line %u)",
                     dcem_diag_quote(q, sizeof(q), v[i].name), v[first].index, was ? was->line : 0);
                r = -EINVAL;
        }
        free(v);
        return r;
}

/* Apply a block (a null value counts as an empty map) to a schema, into a
 * fresh zeroed struct in *ret_conf (set even on error, to be freed). */
static int apply_block(const dcem_schema *schema, const char *path, const dcem_node *block, void **ret_conf,
                       dcem_diag *diag)
{
        static const dcem_schema_key no_keys[] = { { 0 } };
        static const dcem_schema empty = { .name = "empty", .size = 1, .keys = no_keys };
        const dcem_schema *s = schema ? schema : &empty;
        void *conf = calloc(1, s->size ? s->size : 1);

        if (!conf) {
                cerr(diag, block, path, "out of memory");
                return -ENOMEM;
        }
        /* A null block ("host:") is an empty map: schema.c knows. */
        int r = dcem_schema_apply_at(s, path, block, conf, diag);
        if (!schema) { /* nothing to keep */
                free(conf);
                conf = NULL;
        }
        *ret_conf = conf;
        return r;
}

/* Messages from index first on that name another file (a collector's check
 * reporting a line of a profile) are prefixed with the block's place in the
 * configuration and its path: "dcem.yaml:9:13: devices[2].modbus:
 * /etc/dcem/profiles/x.yaml:4:7: ...", so each error starts in the file
 * the user gave. Messages in the configuration's own file whose text starts
 * with the block's key ("modbus.profile: ...": a collector knows only its
 * block) get the device's place in front of the key ("devices[2].modbus.
 * profile: ..."). On allocation failure a message is left as it was. */
static void anchor_foreign(dcem_diag *diag, size_t first, const dcem_node *block, const char *path)
{
        size_t flen = strlen(block->file), klen = strlen(block->key);
        size_t plen = strlen(path) >= klen ? strlen(path) - klen : 0; /* "devices[2]." */
        for (size_t i = first; diag && i < diag->n; i++) {
                char *m = diag->msgs[i], *n;
                if (strncmp(m, block->file, flen) == 0 && m[flen] == ':') {
                        char *t = strstr(m + flen, ": ");
                        if (!t || strncmp(t + 2, block->key, klen) != 0 || !strchr(".:[", t[2 + klen]) ||
                            t[2 + klen] == '\0')
                                continue;
                        t += 2;
                        if (asprintf(&n, "%.*s%.*s%s", (int)(t - m), m, (int)plen, path, t) < 0)
                                continue;
                        free(m);
                        diag->msgs[i] = n;
                        continue;
                }
                if (asprintf(&n, "%s:%u:%u: %s: %s", block->file, block->line, block->col, path, m) < 0)
                        continue;
                free(m);
                diag->msgs[i] = n;
        }
}

/* Everything about one device beyond its schema. 0 or -EINVAL/-ENOMEM. */
static int resolve_device(dcem_config *c, size_t i, const dcem_node *item, dcem_diag *diag)
{
        dcem_device_conf *d = &dcem_config_devices(c)[i];
        char path[64], p2[96];
        int r = 0;

        d->node = item;
        if (!item || item->type != DCEM_NODE_MAP)
                return -EINVAL; /* already reported by the schema */
        snprintf(path, sizeof(path), "devices[%zu]", i);

        /* Interval and timeout. */
        if (d->interval_ns == 0)
                d->interval_ns = c->interval_ns;
        if (d->timeout_ns != 0) {
                if (d->interval_ns > 0 && d->timeout_ns > d->interval_ns) {
                        char a[48], b[48];
                        snprintf(p2, sizeof(p2), "%s.timeout", path);
                        cerr(diag, dcem_node_get(item, "timeout"), p2,
                             "the timeout (%s) is longer than the device's interval (%s)",
                             dcem_format_duration(a, sizeof(a), d->timeout_ns),
                             dcem_format_duration(b, sizeof(b), d->interval_ns));
                        r = -EINVAL;
                }
        } else
                d->timeout_ns = c->timeout_ns < d->interval_ns ? c->timeout_ns : d->interval_ns;

        /* Role and PUE category: only judged when the role itself parsed. */
        const dcem_node *rn = dcem_node_get(item, "role"), *pn = dcem_node_get(item, "pue_category");
        bool role_ok = !rn || (rn->type == DCEM_NODE_SCALAR && !strcmp(rn->scalar, dcem_role_name(d->role)));
        if (role_ok && d->role == DCEM_ROLE_IT && !pn) {
                cerr(diag, item, path,
                     "role it needs pue_category: 1 (UPS output), 2 (PDU output) or 3 (IT equipment input)");
                r = -EINVAL;
        } else if (role_ok && d->role != DCEM_ROLE_IT && pn) {
                snprintf(p2, sizeof(p2), "%s.pue_category", path);
                cerr_key(diag, pn, p2, "only allowed with role it (this device's role is %s)",
                         dcem_role_name(d->role));
                r = -EINVAL;
        }

        /* Exactly one collector block. */
        const dcem_node *blocks[] = { d->modbus, d->snmp, d->host }, *block = NULL;
        for (size_t k = 0; k < 3; k++) {
                if (!blocks[k])
                        continue;
                if (block) {
                        cerr_key(diag, blocks[k], path,
                                 "only one collector block is allowed: '%s' here and '%s' at line %u", blocks[k]->key,
                                 block->key, block->key_line);
                        r = -EINVAL;
                        continue;
                }
                block = blocks[k];
        }
        if (!block) {
                cerr(diag, item, path, "no collector block: give exactly one of modbus, snmp or host");
                return -EINVAL;
        }
        snprintf(p2, sizeof(p2), "%s.%s", path, block->key);
        const dcem_collector_ops *ops = dcem_collector_find(block->key);
        if (!ops) {
                cerr_key(diag, block, p2, "collector '%s' is not built into this dcem", block->key);
                return -EINVAL;
        }
        d->collector = ops;
        int k = apply_block(ops->schema, p2, block, &d->collector_conf, diag);
        if (k == -ENOMEM)
                return k;
        if (k == 0 && ops->check && c->profiles_dir) { /* no profiles_dir: already an error */
                size_t before = dcem_diag_count(diag), first = diag ? diag->n : 0;
                k = ops->check(d->collector_conf, block, c->profiles_dir, diag);
                if (k == 0 && dcem_diag_count(diag) != before)
                        k = -EINVAL;
                anchor_foreign(diag, first, block, p2);
        }
        return k < 0 ? k : r;
}

/* The output blocks, each applied to its publisher's schema. */
static int resolve_outputs(dcem_config *c, dcem_diag *diag)
{
        size_t n = 0;
        int r = 0;
        bool mqtt_seen = false, stdout_seen = false;

        while (dcem_publishers[n])
                n++;
        c->publisher_conf = calloc(n + 1, sizeof(void *));
        if (!c->publisher_conf)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const dcem_publisher_ops *p = dcem_publishers[i];
                if (!strcmp(p->name, "stdout")) {
                        stdout_seen = true;
                        if (c->output.stdout_enabled)
                                c->publisher_conf[i] = &enabled_marker;
                        continue;
                }
                if (strcmp(p->name, "mqtt") != 0 || !c->output.mqtt)
                        continue;
                mqtt_seen = true;
                if (!p->schema) {
                        c->publisher_conf[i] = &enabled_marker;
                        continue;
                }
                int k = apply_block(p->schema, "output.mqtt", c->output.mqtt, &c->publisher_conf[i], diag);
                if (k < 0)
                        r = k;
        }
        if (c->output.stdout_enabled && !stdout_seen) {
                const dcem_node *o = dcem_node_get(c->root, "output");
                const dcem_node *at = dcem_node_get(o, "stdout");
                if (at)
                        cerr_key(diag, at, "output.stdout", "publisher 'stdout' is not built into this dcem");
                else
                        cerr(diag, o, "output.stdout", "publisher 'stdout' is not built into this dcem");
                r = -EINVAL;
        }
        if (c->output.mqtt && !mqtt_seen) {
                cerr_key(diag, c->output.mqtt, "output.mqtt", "publisher 'mqtt' is not built into this dcem");
                r = -EINVAL;
        }
        return r;
}

/* Take ownership of root; build and validate the configuration. */
static int load_tree(const char *file, dcem_node *root, dcem_config **ret_cfg, dcem_diag *diag)
{
        dcem_config *c = calloc(1, sizeof(*c));
        bool failed = false;
        int r;

        if (!c) {
                dcem_node_free(root);
                return -ENOMEM;
        }
        c->root = root;
        c->file = strdup(file);
        if (!c->file) {
                dcem_config_free(c);
                return -ENOMEM;
        }

        if (dcem_schema_apply(&dcem_config_schema, root, c, diag) < 0)
                failed = true;
        c->log_level += 3; /* err|warning|notice|info|debug -> syslog 3..7 */

        /* Paths relative to the file's directory. */
        const char *pk[] = { "state_dir", "profiles_dir" };
        char **pv[] = { &c->state_dir, &c->profiles_dir };
        for (size_t i = 0; i < 2; i++) {
                if (*pv[i] && !(*pv[i])[0]) {
                        cerr(diag, dcem_node_get(root, pk[i]), pk[i], "a path cannot be empty");
                        failed = true;
                }
                if (resolve_path(pv[i], file) < 0) {
                        dcem_config_free(c);
                        return -ENOMEM;
                }
        }

        /* Devices. The list items line up with the nodes of the devices list. */
        const dcem_node *seq = dcem_node_get(root, "devices");
        size_t n = dcem_config_ndevices(c);
        if (n > 0 && seq && seq->type == DCEM_NODE_SEQ && seq->n == n) {
                const dcem_node **items = malloc(n * sizeof(*items));
                if (!items) {
                        dcem_config_free(c);
                        return -ENOMEM;
                }
                size_t i = 0;
                for (const dcem_node *it = seq->child; it && i < n; it = it->next)
                        items[i++] = it;
                for (i = 0; i < n; i++) {
                        r = resolve_device(c, i, items[i], diag);
                        if (r == -ENOMEM) {
                                free(items);
                                dcem_config_free(c);
                                return r;
                        }
                        if (r < 0)
                                failed = true;
                }
                r = check_unique_names(c, items, diag);
                free(items);
                if (r == -ENOMEM) {
                        dcem_config_free(c);
                        return r;
                }
                if (r < 0)
                        failed = true;
        }

        r = resolve_outputs(c, diag);
        if (r == -ENOMEM) {
                dcem_config_free(c);
                return r;
        }
        if (r < 0)
                failed = true;

        /* The accounting block (all defaults when absent). */
        if (&dcem_accounting_schema) {
                void *ac = NULL;
                r = apply_block(&dcem_accounting_schema, "accounting", c->accounting, &ac, diag);
                c->accounting_conf = ac;
                if (r == -ENOMEM) {
                        dcem_config_free(c);
                        return r;
                }
                if (r < 0)
                        failed = true;
        }

        if (failed) {
                dcem_config_free(c);
                return -EINVAL;
        }
        *ret_cfg = c;
        return 0;
}

/* The line and column of a message "file:LINE:COL: ..." (0, 0 when it has
 * none), for sorting. */
static void msg_pos(const char *msg, size_t flen, unsigned long *ret_line, unsigned long *ret_col)
{
        unsigned long v[2] = { 0, 0 };
        const char *p = msg + flen;
        for (int i = 0; i < 2 && *p == ':' && p[1] >= '0' && p[1] <= '9'; i++) {
                p++;
                while (*p >= '0' && *p <= '9' && v[i] < 100000000UL)
                        v[i] = v[i] * 10 + (unsigned long)(*p++ - '0');
        }
        *ret_line = v[0];
        *ret_col = v[1];
}

/* Order the messages this load added (from index first on) by position in
 * the file, as a reader goes through it. Stable, so messages at one place keep
 * their order; a message about another file (a collector's check reading a
 * profile) stays right after the message it followed. */
static void sort_diag(dcem_diag *diag, size_t first, const char *file)
{
        unsigned long key[DCEM_DIAG_MAX][2];
        size_t flen = strlen(file);

        if (!diag || diag->n <= first + 1 || diag->n > DCEM_DIAG_MAX)
                return;
        for (size_t i = first; i < diag->n; i++) {
                if (strncmp(diag->msgs[i], file, flen) == 0)
                        msg_pos(diag->msgs[i], flen, &key[i][0], &key[i][1]);
                else if (i > first) {
                        key[i][0] = key[i - 1][0];
                        key[i][1] = key[i - 1][1];
                } else
                        key[i][0] = key[i][1] = 0;
        }
        for (size_t i = first + 1; i < diag->n; i++) { /* insertion sort: at most DCEM_DIAG_MAX */
                char *m = diag->msgs[i];
                unsigned long l = key[i][0], c = key[i][1];
                size_t j = i;
                while (j > first && (key[j - 1][0] > l || (key[j - 1][0] == l && key[j - 1][1] > c))) {
                        diag->msgs[j] = diag->msgs[j - 1];
                        key[j][0] = key[j - 1][0];
                        key[j][1] = key[j - 1][1];
                        j--;
                }
                diag->msgs[j] = m;
                key[j][0] = l;
                key[j][1] = c;
        }
}

/* Load and validate a file: 0 and *ret_cfg, or -EINVAL (invalid; every error
 * in diag) / -errno (cannot read; the reason in diag), *ret_cfg untouched. */
int dcem_config_load(const char *path, dcem_config **ret_cfg, dcem_diag *diag)
{
        dcem_node *root = NULL;
        int r;

        if (!path || !ret_cfg)
                return -EINVAL;
        size_t first = diag ? diag->n : 0;
        r = dcem_yaml_load_file(path, &root, diag);
        if (r == 0)
                r = load_tree(path, root, ret_cfg, diag);
        sort_diag(diag, first, path);
        return r;
}

/* The same from memory; name stands for the file in messages and for
 * resolving relative paths. */
int dcem_config_load_buffer(const char *name, const char *buf, size_t len, dcem_config **ret_cfg, dcem_diag *diag)
{
        dcem_node *root = NULL;
        int r;

        if (!name || !ret_cfg || (!buf && len))
                return -EINVAL;
        size_t first = diag ? diag->n : 0;
        r = dcem_yaml_load_buffer(name, buf, len, &root, diag);
        if (r == 0)
                r = load_tree(name, root, ret_cfg, diag);
        sort_diag(diag, first, name);
        return r;
}
