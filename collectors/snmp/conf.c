/* conf.c - the `snmp:` block's schema and checks (conf.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "snmp/conf.h"
#include "snmp/model.h"
#include "snmp/profile.h"

#define O(f) offsetof(snmp_conf, f)

static const dcem_schema_key snmp_keys[] = {
        { .name = "address", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = O(address),
          .doc = "The agent: udp://HOST:PORT (PORT defaults to 161)." },
        { .name = "version", .type = DCEM_T_ENUM, .def = "2c", .values = "1|2c|3", .offset = O(version),
          .doc = "SNMP version: 1, 2c or 3." },
        { .name = "community", .type = DCEM_T_STR, .def = "public", .offset = O(community),
          .doc = "v1/v2c community (sent in clear text; see community_file)." },
        { .name = "community_file", .type = DCEM_T_STR, .offset = O(community_file),
          .doc = "v1/v2c: read the community from this file (mode 0600 or stricter) instead." },
        { .name = "user", .type = DCEM_T_STR, .offset = O(user), .doc = "v3 security name." },
        { .name = "security_level", .type = DCEM_T_ENUM, .def = "authPriv", .values = "noAuthNoPriv|authNoPriv|authPriv",
          .offset = O(security_level), .doc = "v3 security level." },
        { .name = "auth_protocol", .type = DCEM_T_ENUM, .def = "SHA", .values = "MD5|SHA|SHA-224|SHA-256|SHA-384|SHA-512",
          .offset = O(auth_protocol), .doc = "v3 authentication protocol." },
        { .name = "auth_password_file", .type = DCEM_T_STR, .offset = O(auth_password_file),
          .doc = "v3: file holding the authentication password (never inline; mode 0600 or stricter)." },
        { .name = "priv_protocol", .type = DCEM_T_ENUM, .def = "AES-128", .values = "DES|AES-128|AES-192|AES-256",
          .offset = O(priv_protocol),
          .doc = "v3 privacy protocol (AES-192/256 with the Blumenthal key extension, as net-snmp 5.9 builds them)." },
        { .name = "priv_password_file", .type = DCEM_T_STR, .offset = O(priv_password_file),
          .doc = "v3: file holding the privacy password (mode 0600 or stricter)." },
        { .name = "context", .type = DCEM_T_STR, .offset = O(context), .doc = "v3 context name." },
        { .name = "timeout", .type = DCEM_T_DURATION, .def = "2s", .min = 0.01, .max = 60, .offset = O(timeout_ns),
          .doc = "Time to wait for each answer before a retry." },
        { .name = "retries", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 10, .offset = O(retries),
          .doc = "Retries of a request before the device counts as not answering." },
        { .name = "port", .type = DCEM_T_INT, .def = "0", .min = 0, .max = 65535, .offset = O(port),
          .doc = "UDP port (0: from address, else 161)." },
        { .name = "max_varbinds", .type = DCEM_T_INT, .def = "32", .min = 1, .max = 256, .offset = O(max_varbinds),
          .doc = "Most OIDs per GET; lowered automatically when the agent answers tooBig." },
        { .name = "max_repetitions", .type = DCEM_T_INT, .def = "16", .min = 1, .max = 255, .offset = O(max_repetitions),
          .doc = "GETBULK max-repetitions for table walks (v2c/v3)." },
        { .name = "max_walk_requests", .type = DCEM_T_INT, .def = "200", .min = 1, .max = 10000,
          .offset = O(max_walk_requests), .doc = "Cap on requests of one table walk (agents that never end)." },
        { .name = "profile", .type = DCEM_T_STR, .offset = O(profile),
          .doc = "A profile in profiles_dir/snmp/NAME.yaml, or auto (chosen by sysObjectID)." },
        { .name = "points", .type = DCEM_T_LIST, .sub = &snmp_point_schema, .offset = O(points),
          .doc = "Points of this device, added to the profile's." },
        { 0 },
};

const dcem_schema snmp_conf_schema = {
        .name = "snmp",
        .doc = "An SNMP agent (v1, v2c, v3) polled asynchronously from the agent's loop, with a profile and/or points.",
        .size = sizeof(snmp_conf),
        .keys = snmp_keys,
};

int snmp_parse_address(const char *addr, int64_t port_override, char host[SNMP_HOST_MAX], unsigned *ret_port) {
        if (!addr)
                return -EINVAL;
        if (strncmp(addr, "udp://", 6) == 0)
                addr += 6;
        else if (strstr(addr, "://"))
                return -EINVAL;
        const char *h = addr, *hend, *portp = NULL;
        if (*addr == '[') {
                h = addr + 1;
                hend = strchr(h, ']');
                if (!hend)
                        return -EINVAL;
                if (hend[1] == ':')
                        portp = hend + 2;
                else if (hend[1])
                        return -EINVAL;
        } else {
                const char *colon = strchr(addr, ':');
                if (colon && strchr(colon + 1, ':'))
                        return -EINVAL; /* a bare IPv6 address needs brackets */
                hend = colon ? colon : addr + strlen(addr);
                portp = colon ? colon + 1 : NULL;
        }
        size_t hl = (size_t)(hend - h);
        if (hl == 0 || hl >= SNMP_HOST_MAX)
                return -EINVAL;
        for (size_t i = 0; i < hl; i++) {
                char c = h[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == '_' || c == ':'))
                        return -EINVAL;
        }
        unsigned port = 161;
        if (portp) {
                unsigned v = 0;
                if (!*portp)
                        return -EINVAL;
                for (const char *s = portp; *s; s++) {
                        if (*s < '0' || *s > '9' || (v = v * 10 + (unsigned)(*s - '0')) > 65535)
                                return -EINVAL;
                }
                if (v == 0)
                        return -EINVAL;
                port = v;
        }
        if (port_override)
                port = (unsigned)port_override;
        memcpy(host, h, hl);
        host[hl] = 0;
        *ret_port = port;
        return 0;
}

int snmp_read_secret(const char *path, const char *config_file, char *buf, size_t len, char *err, size_t errlen) {
        char full[4096];
        if (path[0] != '/' && config_file && strchr(config_file, '/')) {
                const char *slash = strrchr(config_file, '/');
                snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - config_file), config_file, path);
        } else
                snprintf(full, sizeof(full), "%s", path);
        int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int e = errno;
                snprintf(err, errlen, "cannot open %s: %s", full, strerror(e));
                return -e;
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                snprintf(err, errlen, "%s is not a regular file", full);
                return -EINVAL;
        }
        if (st.st_mode & 0007) {
                close(fd);
                snprintf(err, errlen, "%s is accessible by others (mode %04o): chmod o-rwx it", full,
                         (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        char tmp[512];
        ssize_t n = read(fd, tmp, sizeof(tmp) - 1);
        close(fd);
        if (n < 0) {
                int e = errno;
                snprintf(err, errlen, "cannot read %s: %s", full, strerror(e));
                return -e;
        }
        tmp[n] = 0;
        size_t l = strcspn(tmp, "\r\n");
        tmp[l] = 0;
        if (l < 8 || l > 255 || l >= len) {
                snprintf(err, errlen, "%s: the secret must be 8..255 characters on its first line", full);
                return -EINVAL;
        }
        memcpy(buf, tmp, l + 1);
        return 0;
}

static void kerr(dcem_diag *diag, const dcem_node *block, const char *key, const char *fmt, const char *arg) {
        const dcem_node *n = dcem_node_get(block, key);
        if (!n)
                n = block;
        char msg[512];
        snprintf(msg, sizeof(msg), fmt, arg);
        dcem_diag_add(diag, n->file, n->line, n->col, "snmp.%s: %s", key, msg);
}

int snmp_conf_check(const void *conf, const dcem_node *block, const char *profiles_dir, dcem_diag *diag) {
        const snmp_conf *c = conf;
        size_t before = dcem_diag_count(diag);
        char host[SNMP_HOST_MAX], err[512], secret[256];
        unsigned port;
        if (snmp_parse_address(c->address, c->port, host, &port) < 0)
                kerr(diag, block, "address", "\"%.100s\" is not udp://HOST[:PORT]", c->address ? c->address : "");
        const char *cfile = block ? block->file : NULL;
        if (c->version == SNMP_V3) {
                if (!c->user || !*c->user)
                        kerr(diag, block, "user", "%s", "version 3 needs a user");
                if (c->security_level >= SNMP_SEC_AUTHNOPRIV && !c->auth_password_file)
                        kerr(diag, block, "auth_password_file", "%s",
                             "authNoPriv and authPriv need auth_password_file (passwords are never inline)");
                if (c->security_level == SNMP_SEC_AUTHPRIV && !c->priv_password_file)
                        kerr(diag, block, "priv_password_file", "%s", "authPriv needs priv_password_file");
                if (c->security_level >= SNMP_SEC_AUTHNOPRIV && c->auth_password_file &&
                    snmp_read_secret(c->auth_password_file, cfile, secret, sizeof(secret), err, sizeof(err)) < 0)
                        kerr(diag, block, "auth_password_file", "%s", err);
                if (c->security_level == SNMP_SEC_AUTHPRIV && c->priv_password_file &&
                    snmp_read_secret(c->priv_password_file, cfile, secret, sizeof(secret), err, sizeof(err)) < 0)
                        kerr(diag, block, "priv_password_file", "%s", err);
                explicit_bzero(secret, sizeof(secret));
        } else if (c->community_file &&
                   snmp_read_secret(c->community_file, cfile, secret, sizeof(secret), err, sizeof(err)) < 0) {
                kerr(diag, block, "community_file", "%s", err);
        }
        if (c->version != SNMP_V3 && c->community && strlen(c->community) > 255)
                kerr(diag, block, "community", "%s", "longer than 255 characters");

        /* The points: the profile's and the block's, compiled together. */
        snmp_profile_conf *prof = NULL;
        bool is_auto = c->profile && strcmp(c->profile, "auto") == 0;
        if (c->profile && !is_auto) {
                if (!snmp_profile_name_ok(c->profile))
                        kerr(diag, block, "profile", "\"%.80s\" is not a profile name ([a-z0-9-])", c->profile);
                else {
                        int r = snmp_profile_load(profiles_dir, c->profile, &prof, diag);
                        if (r == -ENOENT)
                                kerr(diag, block, "profile", "no profile %s in the profiles directory (snmp/)",
                                     c->profile);
                        else if (r < 0 && r != -EINVAL)
                                kerr(diag, block, "profile", "cannot load %s", c->profile);
                }
        }
        if (!c->profile && c->points.n == 0)
                kerr(diag, block, "points", "%s", "give a profile or points (or both)");
        size_t np = (prof ? prof->points.n : 0) + c->points.n;
        if (np) {
                const snmp_point_conf **pts = calloc(np, sizeof(*pts));
                if (pts) {
                        size_t k = 0;
                        for (size_t i = 0; prof && i < prof->points.n; i++)
                                pts[k++] = &((const snmp_point_conf *)prof->points.items)[i];
                        for (size_t i = 0; i < c->points.n; i++)
                                pts[k++] = &((const snmp_point_conf *)c->points.items)[i];
                        snmp_model *m = NULL;
                        if (snmp_model_build(pts, np, &m, err, sizeof(err)) < 0)
                                kerr(diag, block, "points", "%s", err);
                        snmp_model_free(m);
                        free(pts);
                }
        }
        snmp_profile_free(prof);
        return dcem_diag_count(diag) > before ? -EINVAL : 0;
}
