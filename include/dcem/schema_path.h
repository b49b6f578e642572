/* schema_path.h - additions to schema.h and diag.h used by the config loader
 * (agent/config.c) and the YAML reader (agent/yaml.c).
 *
 * Kept apart from schema.h/diag.h only because those headers belong to the
 * lead; they may be folded into them.
 */
#ifndef DCEM_SCHEMA_PATH_H
#define DCEM_SCHEMA_PATH_H

#include <stddef.h>
#include <stdint.h>
#include "dcem/diag.h"
#include "dcem/node.h"
#include "dcem/schema.h"

/* dcem_schema_apply, with every error message naming keys under path (e.g.
 * "devices[1].modbus" gives "devices[1].modbus.port: ..."). path may be NULL
 * or "" (top level). Same contract as dcem_schema_apply otherwise. */
int dcem_schema_apply_at(const dcem_schema *s, const char *path, const dcem_node *map, void *target,
                         dcem_diag *diag);

/* Write a duration in ns the way a user writes it: "1m30s", "100ms", "0s".
 * Returns buf. */
char *dcem_format_duration(char *buf, size_t size, int64_t ns);

/* Copy user text s into buf for quoting in a message: control bytes become
 * \xNN, and text longer than ~48 characters is cut with "...". Always
 * NUL-terminates (size > 0). Returns buf. s NULL gives "". */
char *dcem_diag_quote(char *buf, size_t size, const char *s);
#define DCEM_QUOTE_MAX 208 /* a buffer this big never truncates before the "..." */

#endif
