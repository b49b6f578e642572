/* probe.c - `dcem-agent probe snmp://...` (snmp_probe.h): the collector with
 * profile: auto, one poll on a private loop, and a report.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/config.h"
#include "dcem/loop.h"
#include "dcem/sched.h"
#include "dcem/schema.h"
#include "snmp/snmp.h"
#include "snmp/snmp_probe.h"

#define PROBE_DEADLINE_NS (60 * DCEM_NS_PER_S)

/* Query parameters the probe takes: the snmp: block's own keys (checked by
 * its schema after this). */
static const char *const url_keys[] = {
        "version", "community", "community_file", "user", "security_level", "auth_protocol", "auth_password_file",
        "priv_protocol", "priv_password_file", "context", "timeout", "retries", "max_varbinds", "max_repetitions",
        NULL,
};

static int seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int seterr(char *err, size_t len, const char *fmt, ...) {
        if (err && len) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, len, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int hexval(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode [s, s+n) into buf (len). 0, or -EINVAL (bad escape,
 * control character, too long). */
static int pct_decode(const char *s, size_t n, char *buf, size_t len) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                int c = (unsigned char)s[i];
                if (c == '%') {
                        if (i + 2 >= n)
                                return -EINVAL;
                        int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
                        if (h < 0 || l < 0)
                                return -EINVAL;
                        c = h * 16 + l;
                        i += 2;
                } else if (c == '+')
                        c = ' ';
                if (c < 0x20 || c == 0x7f || o + 1 >= len)
                        return -EINVAL;
                buf[o++] = (char)c;
        }
        buf[o] = 0;
        return 0;
}

/* Append a double-quoted YAML scalar of s. */
static int put_quoted(char *y, size_t len, size_t *o, const char *s) {
        if (*o + 1 >= len)
                return -E2BIG;
        y[(*o)++] = '"';
        for (; *s; s++) {
                if (*o + 3 >= len)
                        return -E2BIG;
                if (*s == '"' || *s == '\\')
                        y[(*o)++] = '\\';
                y[(*o)++] = *s;
        }
        y[(*o)++] = '"';
        y[*o] = 0;
        return 0;
}

static int put_raw(char *y, size_t len, size_t *o, const char *s) {
        size_t n = strlen(s);
        if (*o + n + 1 >= len)
                return -E2BIG;
        memcpy(y + *o, s, n + 1);
        *o += n;
        return 0;
}

int snmp_probe_url_to_yaml(const char *url, char *yaml, size_t len, char *err, size_t errlen) {
        if (!url || strncmp(url, "snmp://", 7) != 0)
                return seterr(err, errlen, "not an snmp:// URL");
        if (strlen(url) > 2048)
                return seterr(err, errlen, "the URL is longer than 2048 characters");
        const char *hp = url + 7, *q = strchr(hp, '?');
        size_t hl = q ? (size_t)(q - hp) : strlen(hp);
        if (hl && hp[hl - 1] == '/')
                hl--; /* snmp://host/?... */
        char host[SNMP_HOST_MAX + 16], hostonly[SNMP_HOST_MAX];
        unsigned port;
        if (hl == 0 || hl >= sizeof(host))
                return seterr(err, errlen, "no host, or a host too long");
        memcpy(host, hp, hl);
        host[hl] = 0;
        if (snmp_parse_address(host, 0, hostonly, &port) < 0)
                return seterr(err, errlen, "\"%.100s\" is not HOST[:PORT] ([v6] in brackets)", host);
        char addr[SNMP_HOST_MAX + 32];
        snprintf(addr, sizeof(addr), strchr(hostonly, ':') ? "udp://[%s]:%u" : "udp://%s:%u", hostonly, port);
        size_t o = 0;
        bool seen[sizeof(url_keys) / sizeof(url_keys[0])] = { false };
        if (put_raw(yaml, len, &o, "{ address: ") < 0 || put_quoted(yaml, len, &o, addr) < 0 ||
            put_raw(yaml, len, &o, ", profile: auto") < 0)
                return seterr(err, errlen, "the URL is too long");
        for (const char *p = q ? q + 1 : NULL; p && *p;) {
                const char *amp = strchr(p, '&');
                size_t pl = amp ? (size_t)(amp - p) : strlen(p);
                const char *eq = memchr(p, '=', pl);
                if (pl == 0) {
                        p = amp ? amp + 1 : NULL;
                        continue;
                }
                if (!eq)
                        return seterr(err, errlen, "parameter \"%.*s\" has no value (KEY=VALUE)", (int)(pl > 40 ? 40 : pl), p);
                char key[64], val[512];
                if (pct_decode(p, (size_t)(eq - p), key, sizeof(key)) < 0)
                        return seterr(err, errlen, "a parameter name is malformed or too long");
                if (pct_decode(eq + 1, pl - (size_t)(eq - p) - 1, val, sizeof(val)) < 0)
                        return seterr(err, errlen, "the value of %.40s is malformed (bad %%-escape, control "
                                      "character, or over 511 bytes)", key);
                size_t k = 0;
                while (url_keys[k] && strcmp(url_keys[k], key) != 0)
                        k++;
                if (!url_keys[k]) {
                        if (strstr(key, "password") || strstr(key, "passphrase") || strcmp(key, "secret") == 0)
                                return seterr(err, errlen, "%.40s: passwords are never given in the URL (they end "
                                              "up in shell history and process lists): put it in a file only you "
                                              "can read and give auth_password_file= / priv_password_file=", key);
                        return seterr(err, errlen, "unknown parameter \"%.40s\" (known: version, community, "
                                      "community_file, user, security_level, auth_protocol, auth_password_file, "
                                      "priv_protocol, priv_password_file, context, timeout, retries, max_varbinds, "
                                      "max_repetitions)", key);
                }
                if (seen[k])
                        return seterr(err, errlen, "parameter %s is given twice", key);
                seen[k] = true;
                if (put_raw(yaml, len, &o, ", ") < 0 || put_raw(yaml, len, &o, key) < 0 ||
                    put_raw(yaml, len, &o, ": ") < 0 || put_quoted(yaml, len, &o, val) < 0)
                        return seterr(err, errlen, "the URL is too long");
                p = amp ? amp + 1 : NULL;
        }
        if (put_raw(yaml, len, &o, " }\n") < 0)
                return seterr(err, errlen, "the URL is too long");
        return 0;
}

int snmp_probe_parse(const char *url, const char *profiles_dir, snmp_conf *ret, dcem_node **ret_root, dcem_diag *diag,
                     char *err, size_t errlen) {
        char yaml[SNMP_PROBE_YAML_MAX];
        int r = snmp_probe_url_to_yaml(url, yaml, sizeof(yaml), err, errlen);
        if (r < 0)
                return r;
        dcem_node *root = NULL;
        snmp_conf c;
        memset(&c, 0, sizeof(c));
        if (dcem_yaml_load_buffer("URL", yaml, strlen(yaml), &root, diag) < 0 ||
            dcem_schema_apply(&snmp_conf_schema, root, &c, diag) < 0 ||
            snmp_conf_check(&c, root, profiles_dir, diag) < 0) {
                dcem_schema_free(&snmp_conf_schema, &c);
                dcem_node_free(root);
                return seterr(err, errlen, "%s", diag->n ? diag->msgs[0] : "invalid parameters");
        }
        *ret = c;
        *ret_root = root;
        return 0;
}

typedef struct probe_run {
        dcem_batch *batch;
} probe_run;

static void on_batch(void *ud, dcem_batch *b) {
        probe_run *pr = ud;
        if (!pr->batch)
                pr->batch = dcem_batch_ref(b);
}

/* A device name from text: [a-z0-9-], at most 40 characters. */
static void slug(const char *s, char *buf, size_t len) {
        size_t o = 0;
        bool dash = true;
        for (; *s && o + 1 < len && o < 40; s++) {
                char c = *s;
                if (c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                        buf[o++] = c;
                        dash = false;
                } else if (!dash) {
                        buf[o++] = '-';
                        dash = true;
                }
        }
        while (o && buf[o - 1] == '-')
                o--;
        buf[o] = 0;
}

static void yaml_str(FILE *out, const char *s) {
        fputc('"', out);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', out);
                fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
        }
        fputc('"', out);
}

static const char *enum_name(const dcem_schema *s, const char *key, int v, char *buf, size_t len) {
        for (const dcem_schema_key *k = s->keys; k->name; k++) {
                if (strcmp(k->name, key) != 0 || !k->values)
                        continue;
                const char *p = k->values;
                for (int i = 0; i < v && p; i++) {
                        p = strchr(p, '|');
                        if (p)
                                p++;
                }
                if (!p)
                        break;
                size_t n = strcspn(p, "|");
                snprintf(buf, len, "%.*s", (int)n, p);
                return buf;
        }
        snprintf(buf, len, "%d", v);
        return buf;
}

static void file_key(FILE *out, const char *key, const char *path) {
        char abs[PATH_MAX];
        fprintf(out, "      %s: ", key);
        yaml_str(out, path[0] != '/' && realpath(path, abs) ? abs : path);
        fputc('\n', out);
}

static void print_block(FILE *out, const snmp_conf *c, const snmp_ident *id, const char *host) {
        char name[64], buf[64];
        const char *sn = id->sys_name;
        slug(sn[0] == '<' ? "" : sn, name, sizeof(name));
        if (!name[0]) {
                char h[48];
                slug(host, h, sizeof(h));
                snprintf(name, sizeof(name), "%.20s-%.40s", id->profile[0] ? id->profile : "snmp", h);
        }
        fprintf(out, "devices:\n  - name: %s\n", name);
        fprintf(out, "    # role: it (with pue_category), cooling, grid_import, ... (see docs/CONFIG.md)\n");
        fprintf(out, "    role: none\n    snmp:\n      address: ");
        yaml_str(out, c->address);
        fprintf(out, "\n      version: %s\n", enum_name(&snmp_conf_schema, "version", c->version, buf, sizeof(buf)));
        if (c->version != SNMP_V3) {
                if (c->community_file)
                        file_key(out, "community_file", c->community_file);
                else {
                        fprintf(out, "      community: ");
                        yaml_str(out, c->community ? c->community : "public");
                        fputc('\n', out);
                }
        } else {
                fprintf(out, "      user: ");
                yaml_str(out, c->user ? c->user : "");
                fprintf(out, "\n      security_level: %s\n",
                        enum_name(&snmp_conf_schema, "security_level", c->security_level, buf, sizeof(buf)));
                if (c->security_level >= SNMP_SEC_AUTHNOPRIV) {
                        fprintf(out, "      auth_protocol: %s\n",
                                enum_name(&snmp_conf_schema, "auth_protocol", c->auth_protocol, buf, sizeof(buf)));
                        file_key(out, "auth_password_file", c->auth_password_file);
                }
                if (c->security_level == SNMP_SEC_AUTHPRIV) {
                        fprintf(out, "      priv_protocol: %s\n",
                                enum_name(&snmp_conf_schema, "priv_protocol", c->priv_protocol, buf, sizeof(buf)));
                        file_key(out, "priv_password_file", c->priv_password_file);
                }
                if (c->context && *c->context) {
                        fprintf(out, "      context: ");
                        yaml_str(out, c->context);
                        fputc('\n', out);
                }
        }
        fprintf(out, "      timeout: %.3gs\n      retries: %d\n", (double)c->timeout_ns / 1e9, (int)c->retries);
        if (id->profile[0])
                fprintf(out, "      profile: %s\n", id->profile);
        else
                fprintf(out, "      points: []   # no profile fits: add { name, oid or column, scale, unit, kind }\n");
}

static void print_report(FILE *out, const char *url, const snmp_conf *c, const snmp_ident *id,
                         const snmp_dev_stats *st, const dcem_batch *b) {
        char buf[32];
        fprintf(out, "# dcem-agent probe %s (SNMP v%s)\n", url,
                enum_name(&snmp_conf_schema, "version", c->version, buf, sizeof(buf)));
        fprintf(out, "# sysObjectID: %s\n", id->sys_object_id[0] ? id->sys_object_id : "(no answer)");
        fprintf(out, "# sysDescr:    %s\n", id->sys_descr[0] ? id->sys_descr : "(no answer)");
        fprintf(out, "# sysName:     %s\n", id->sys_name[0] ? id->sys_name : "(no answer)");
        if (!id->profile[0]) {
                fprintf(out, "# profile:     none of the profiles fits this device\n");
                return;
        }
        fprintf(out, "# vendor:      %s\n", id->vendor[0] ? id->vendor : "(unknown)");
        fprintf(out, "# model:       %s\n", id->model[0] ? id->model : "(not reported; see sysDescr)");
        fprintf(out, "# profile:     %s (chosen by %s)%s%s\n", id->profile,
                id->how == 1 ? "sysObjectID" : "identity objects", id->description[0] ? ": " : "", id->description);
        if (!b)
                return;
        fprintf(out, "# readings (%zu, %llu requests):\n", b->n, (unsigned long long)st->last_requests);
        for (size_t i = 0; i < b->n; i++) {
                const dcem_sample *s = &b->samples[i];
                if (s->quality == DCEM_Q_ERROR || !isfinite(s->value))
                        fprintf(out, "#   %-28s error\n", s->point);
                else
                        fprintf(out, "#   %-28s %.10g %s%s%s\n", s->point, s->value, s->unit,
                                s->kind == DCEM_KIND_COUNTER ? " (counter)" : "",
                                s->quality == DCEM_Q_ESTIMATED ? " (estimated)" : "");
        }
        if (b->status < 0)
                fprintf(out, "# warning: %s\n", b->error);
}

int dcem_snmp_probe(const char *url, const char *profiles_dir, FILE *out, char *err, size_t errlen) {
        dcem_diag diag = { 0 };
        dcem_node *root = NULL;
        snmp_conf c;
        int r = snmp_probe_parse(url, profiles_dir, &c, &root, &diag, err, errlen);
        dcem_diag_clear(&diag);
        if (r < 0)
                return r;
        char host[SNMP_HOST_MAX];
        unsigned port = 0;
        (void)snmp_parse_address(c.address, c.port, host, &port);
        dcem_loop *loop = NULL;
        dcem_sched *sched = NULL;
        void *state = NULL;
        probe_run pr = { 0 };
        if ((r = dcem_loop_new(&dcem_clock_system, &loop)) < 0)
                goto done;
        dcem_sched_hooks hooks = { .batch = on_batch, .ud = &pr };
        dcem_sched_opts opts = { .backoff_cap = 1, .seed = 1 };
        if ((r = dcem_sched_new(loop, &opts, &hooks, &sched)) < 0)
                goto done;
        dcem_collector_env env = { .loop = loop, .clock = &dcem_clock_system, .profiles_dir = profiles_dir };
        r = dcem_snmp_collector.init(&env, NULL, &c, &state, err, errlen);
        if (r < 0)
                goto done;
        if ((r = dcem_sched_add(sched, "probe", 3600 * DCEM_NS_PER_S, PROBE_DEADLINE_NS, &dcem_snmp_collector,
                                state)) < 0 ||
            (r = dcem_sched_poll_all_now(sched)) < 0) {
                snprintf(err, errlen, "cannot start the poll: %s", strerror(-r));
                goto done;
        }
        while (!pr.batch && dcem_sched_in_flight(sched) > 0)
                if (dcem_loop_run_once(loop, 100 * DCEM_NS_PER_MS) < 0)
                        break;
        snmp_ident id;
        snmp_dev_stats st;
        snmp_collector_ident(state, &id);
        snmp_collector_stats(state, &st);
        if (!pr.batch) {
                r = -EIO;
                snprintf(err, errlen, "the poll did not finish");
                goto done;
        }
        bool reached = id.sys_object_id[0] || id.sys_descr[0] || st.responses > 0;
        print_report(out, url, &c, &id, &st, pr.batch);
        if (id.profile[0]) {
                print_block(out, &c, &id, host);
                r = 0;
        } else if (reached && pr.batch->status == -ENOENT) {
                print_block(out, &c, &id, host);
                snprintf(err, errlen, "reached, but no profile fits: %s", pr.batch->error);
                r = -ENODEV;
        } else {
                r = pr.batch->status < 0 ? pr.batch->status : -EIO;
                snprintf(err, errlen, "%s", pr.batch->error[0] ? pr.batch->error : "no answer");
        }
done:
        dcem_batch_unref(pr.batch);
        dcem_sched_free(sched);
        dcem_snmp_collector.close(state);
        dcem_loop_free(loop);
        dcem_schema_free(&snmp_conf_schema, &c);
        dcem_node_free(root);
        return r;
}
