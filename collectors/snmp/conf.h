/* conf.h - the `snmp:` device block: its schema, its checks, its address.
 *
 * Secrets policy: v3 passwords come only from files (auth_password_file,
 * priv_password_file); there is no inline password key, so an inline secret
 * is an unknown key, refused. A password file must be a regular file, not
 * readable or writable by others (mode & 0007 == 0), 8..255 bytes on its
 * first line (net-snmp's minimum is 8). The v1/v2c community may be inline
 * (it travels in clear text on the wire anyway) or in community_file.
 */
#ifndef DCEM_SNMP_CONF_H
#define DCEM_SNMP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/diag.h"
#include "dcem/node.h"
#include "dcem/schema.h"

enum { SNMP_V1 = 0, SNMP_V2C = 1, SNMP_V3 = 2 };
enum { SNMP_SEC_NOAUTH = 0, SNMP_SEC_AUTHNOPRIV = 1, SNMP_SEC_AUTHPRIV = 2 };
enum { SNMP_AUTH_MD5 = 0, SNMP_AUTH_SHA, SNMP_AUTH_SHA224, SNMP_AUTH_SHA256, SNMP_AUTH_SHA384, SNMP_AUTH_SHA512 };
enum { SNMP_PRIV_DES = 0, SNMP_PRIV_AES128, SNMP_PRIV_AES192, SNMP_PRIV_AES256 };

typedef struct snmp_conf {
        char *address;
        int version;
        char *community;
        char *community_file;
        char *user;
        int security_level;
        int auth_protocol;
        char *auth_password_file;
        int priv_protocol;
        char *priv_password_file;
        char *context;
        int64_t timeout_ns;
        int64_t retries;
        int64_t port;
        int64_t max_varbinds;
        int64_t max_repetitions;
        int64_t max_walk_requests;
        char *profile;
        dcem_list points; /* of snmp_point_conf */
} snmp_conf;

extern const dcem_schema snmp_conf_schema;

#define SNMP_HOST_MAX 256
/* Parse "udp://HOST:PORT", "udp://HOST", "HOST:PORT" or "HOST" ([v6] in
 * brackets). port_override (non-zero) wins over the address's. 0, -EINVAL. */
int snmp_parse_address(const char *addr, int64_t port_override, char host[SNMP_HOST_MAX], unsigned *ret_port);

/* The collector's check (dcem_collector_ops.check). */
int snmp_conf_check(const void *conf, const dcem_node *block, const char *profiles_dir, dcem_diag *diag);

/* Read a secret file (path relative to the directory of config_file when not
 * absolute). 0, or -errno / -EPERM (mode) / -EINVAL (length) with a reason
 * in err. */
int snmp_read_secret(const char *path, const char *config_file, char *buf, size_t len, char *err, size_t errlen);

#endif
