/* node.h - a YAML document as a tree of maps, sequences and scalars, each
 * node remembering where it came from (file, line, column), so every later
 * error can point at the place. Built from libyaml events by agent/yaml.c.
 *
 * Bounded: at most DCEM_YAML_MAX_BYTES of input, DCEM_YAML_MAX_DEPTH levels,
 * DCEM_YAML_MAX_NODES nodes. Anchors, aliases and tags other than the core
 * ones are refused (no billion laughs). Duplicate map keys are errors.
 */
#ifndef DCEM_NODE_H
#define DCEM_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include "dcem/diag.h"

#define DCEM_YAML_MAX_BYTES (4u << 20)
#define DCEM_YAML_MAX_DEPTH 32
#define DCEM_YAML_MAX_NODES 200000

typedef enum dcem_node_type {
        DCEM_NODE_SCALAR,
        DCEM_NODE_MAP,
        DCEM_NODE_SEQ,
} dcem_node_type;

typedef struct dcem_node dcem_node;
struct dcem_node {
        dcem_node_type type;
        const char *file;   /* shared by the whole tree; owned by the root */
        unsigned line, col; /* 1-based position of the value */
        char *key;          /* when a member of a map: its key, else NULL */
        unsigned key_line, key_col;
        char *scalar;       /* DCEM_NODE_SCALAR: the text, NUL-terminated */
        bool plain;         /* scalar was unquoted (so "null"/"~" may mean null) */
        dcem_node *child;   /* maps and sequences: first member */
        dcem_node *next;    /* next sibling */
        size_t n;           /* number of members */
};

/* Parse a file (or a buffer named name) into a tree. On failure the diag gets
 * "FILE:LINE:COL: message" and -EINVAL (syntax, limits) or -errno (I/O) is
 * returned; *ret_root is untouched. An empty document gives an empty map. */
int dcem_yaml_load_file(const char *path, dcem_node **ret_root, dcem_diag *diag);
int dcem_yaml_load_buffer(const char *name, const char *buf, size_t len, dcem_node **ret_root, dcem_diag *diag);
void dcem_node_free(dcem_node *root); /* accepts NULL; frees the whole tree */

/* The member of a map with this key, or NULL. */
const dcem_node *dcem_node_get(const dcem_node *map, const char *key);
/* A short name for the node's type: "a scalar", "a map", "a list". */
const char *dcem_node_type_name(const dcem_node *n);

#endif
