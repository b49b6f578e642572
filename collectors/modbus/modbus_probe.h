/* modbus_probe.h - `dcem-agent probe modbus://HOST[:PORT]?unit=N` (or
 * rtu:///dev/ttyUSB0?baud=9600&parity=E&unit=N): find a SunSpec model chain
 * (or a known meter), print what was found and a ready-to-paste device block.
 */
#ifndef DCEM_MODBUS_PROBE_H
#define DCEM_MODBUS_PROBE_H

#include <stddef.h>
#include <stdio.h>

/* Blocking (a one-shot command). Writes the report and the YAML block to
 * out. 0; -EINVAL (bad URL), -ENODEV (nothing recognised; out still gets a
 * skeleton block), or -errno of the connection, with a message in errbuf. */
int dcem_modbus_probe(const char *url, FILE *out, char *errbuf, size_t errlen);

#endif
