/* json.h - JSON encodings of samples shared by the publishers.
 *
 * Strings that are not valid UTF-8 (a Modbus string register, a vendor unit)
 * are repaired byte by byte with U+FFFD rather than refused, so one bad name
 * never loses a reading; non-finite values are encoded as null (JSON has no
 * NaN) and their quality says why.
 */
#ifndef DCEM_JSON_H
#define DCEM_JSON_H

#include <jansson.h>
#include <stddef.h>
#include "dcem/sample.h"

/* A JSON string from arbitrary bytes (invalid UTF-8 replaced). New reference, or NULL on ENOMEM. */
json_t *dcem_json_string(const char *s);
/* A JSON number, or null when v is not finite. New reference. */
json_t *dcem_json_number(double v);

/* One sample as a JSON line, the --once / output.stdout format:
 * {"site":..,"device":..,"point":..,"value":..,"unit":..,"ts":"2026-11-23T10:00:00.000Z","quality":"good"}
 * Writes into buf (NUL-terminated, no newline). Returns the length, -ENOMEM,
 * or -ENOBUFS if buf is too small. */
int dcem_json_sample_line(const char *site, const dcem_sample *s, char *buf, size_t size);

/* One poll as the MQTT device message (docs/MQTT.md), written directly
 * rather than through a jansson tree (it runs once per device-poll):
 * {"schema":S,"site":..,"device":..,"ts":"<slot>","read":"<completion>","seq":N[,"error":..],
 *  "points":{"<point>":{"v":<number|null|"text">,"u":"<unit>","q":"<quality>"},...}}
 * byte for byte what jansson dumps for that tree with DCEM_JSON_FLAGS
 * (a repeated point name keeps its first position and its last value).
 * "error" is present when b->status != 0: b->error, or strerror(-status).
 * On success *ret is a malloc'd NUL-terminated string (the caller frees it)
 * and *ret_len (may be NULL) its length. 0, -EINVAL, -ENOMEM; *ret untouched
 * on failure. */
int dcem_json_device_message(const char *site, long schema, const dcem_batch *b, char **ret, size_t *ret_len);

/* Dump flags used for every payload: compact, in insertion order, numbers
 * with 15 significant digits (0.1 prints as 0.1, not 0.10000000000000001;
 * 15 digits hold any meter reading exactly: 1e12 kWh to the Wh). */
#define DCEM_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

#endif
