/* modbus.h - the Modbus collector's entry points for the rest of dcem:
 * the collector table (for collectors/registry.c) and small introspection
 * helpers for tests and benchmarks.
 */
#ifndef DCEM_MODBUS_H
#define DCEM_MODBUS_H

#include "dcem/collector.h"

extern const dcem_collector_ops dcem_modbus_collector;

/* The `modbus` block's schema (also dcem_modbus_collector.schema). */
const dcem_schema *dcem_modbus_schema(void);
/* Requests one poll of this device sends when nothing fails (its current
 * plan), for a state made by dcem_modbus_collector.init; -EINVAL if none. */
int dcem_modbus_requests_per_poll(const void *state);
/* One line of counters: "requests=N exceptions=N timeouts=N splits=N polls=N rejected=N plan=N". */
void dcem_modbus_stats_line(const void *state, char *buf, size_t len);

#endif
