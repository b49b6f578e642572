/* snmp_probe.h - `dcem-agent probe snmp://HOST[:PORT]?version=2c&community=...`
 * (v3: user, security_level, auth_protocol, auth_password_file, priv_protocol,
 * priv_password_file, context; also timeout, retries): identify an SNMP agent
 * and print what was found and a ready-to-paste device block.
 *
 * The probe is the collector itself with `profile: auto`, run for one poll on
 * a private loop and scheduler: the same identity GET (ident.h), v3 engine
 * discovery, packed GETs, GETBULK walks and decoding as the agent, so what
 * the probe prints is what the agent will publish.
 *
 * Passwords are never accepted in the URL (they would land in shell history
 * and process listings): only the *_password_file parameters, with the
 * collector's rules for secret files (conf.h).
 */
#ifndef DCEM_SNMP_PROBE_H
#define DCEM_SNMP_PROBE_H

#include <stddef.h>
#include <stdio.h>
#include "dcem/diag.h"
#include "dcem/node.h"
#include "snmp/conf.h"

#define SNMP_PROBE_YAML_MAX 8192

/* Turn the URL into the YAML text of an `snmp:` block (a flow mapping, every
 * value quoted and escaped), with profile: auto. Pure. 0, or -EINVAL with the
 * reason in err (not snmp://, bad host or port, unknown or repeated
 * parameter, a password inline, bad %-escape, too long). */
int snmp_probe_url_to_yaml(const char *url, char *yaml, size_t len, char *err, size_t errlen);

/* Parse the URL into *ret through the collector's own schema and checks
 * (profiles_dir for the check). On success *ret_root holds the node tree the
 * conf was applied from (free it after the conf, with dcem_node_free) and the
 * conf must be freed with dcem_schema_free(&snmp_conf_schema, ret). 0 or
 * -EINVAL (messages in diag / err). */
int snmp_probe_parse(const char *url, const char *profiles_dir, snmp_conf *ret, dcem_node **ret_root, dcem_diag *diag,
                     char *err, size_t errlen);

/* The whole probe (blocking for at most about a minute). Writes the report
 * and the YAML device block to out. 0: identified (exit 0); -EINVAL: bad URL
 * (exit 1); -ENODEV: reached but no profile fits (a skeleton block is still
 * printed); -ETIMEDOUT, -EACCES, ...: not reached / refused. Message in err. */
int dcem_snmp_probe(const char *url, const char *profiles_dir, FILE *out, char *err, size_t errlen);

#endif
