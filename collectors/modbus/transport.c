/* transport.c - Modbus device addresses and the registry of shared
 * transports: every device with the same address (a TCP gateway with many
 * unit ids, a serial bus) shares one transport, so a serial port has exactly
 * one owner and a gateway one capped pool of connections.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modbus/transport.h"

static int parse_uint(const char *s, size_t len, long min, long max, long *ret) {
        long v = 0;
        if (len == 0 || len > 9)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        if (v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_query(const char *q, mb_addr *a, const char **why) {
        while (q && *q) {
                const char *amp = strchr(q, '&');
                size_t len = amp ? (size_t)(amp - q) : strlen(q);
                const char *eq = memchr(q, '=', len);
                long v;
                if (!eq) {
                        *why = "query parameters are key=value";
                        return -EINVAL;
                }
                size_t klen = (size_t)(eq - q);
                const char *val = eq + 1;
                size_t vlen = len - klen - 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(q, k, klen) == 0)
                if (KEY("unit")) {
                        if (parse_uint(val, vlen, 0, 255, &v) < 0) {
                                *why = "unit must be 0..255";
                                return -EINVAL;
                        }
                        a->unit = (int)v;
                } else if (KEY("baud")) {
                        if (parse_uint(val, vlen, 50, 4000000, &v) < 0) {
                                *why = "baud must be 50..4000000";
                                return -EINVAL;
                        }
                        a->baud = (int)v;
                } else if (KEY("parity")) {
                        if (vlen != 1 || !strchr("NEOneo", val[0])) {
                                *why = "parity must be N, E or O";
                                return -EINVAL;
                        }
                        a->parity = (char)(val[0] & ~0x20);
                } else if (KEY("data")) {
                        if (parse_uint(val, vlen, 5, 8, &v) < 0) {
                                *why = "data must be 5..8";
                                return -EINVAL;
                        }
                        a->data_bits = (int)v;
                } else if (KEY("stop")) {
                        if (parse_uint(val, vlen, 1, 2, &v) < 0) {
                                *why = "stop must be 1 or 2";
                                return -EINVAL;
                        }
                        a->stop_bits = (int)v;
                } else if (KEY("rs485")) {
                        if (parse_uint(val, vlen, 0, 1, &v) < 0) {
                                *why = "rs485 must be 0 or 1";
                                return -EINVAL;
                        }
                        a->rs485 = v == 1;
                } else {
                        *why = "unknown query parameter (unit, baud, parity, data, stop, rs485)";
                        return -EINVAL;
                }
#undef KEY
                q = amp ? amp + 1 : NULL;
        }
        return 0;
}

int mb_addr_parse(const char *url, mb_addr *ret, const char **ret_why) {
        mb_addr a;
        const char *why = "";
        memset(&a, 0, sizeof a);
        a.unit = -1;
        a.baud = 9600;
        a.parity = 'N';
        a.data_bits = 8;
        a.stop_bits = 1;
        snprintf(a.port, sizeof a.port, "502");
        if (!url || strlen(url) > 512) {
                why = "address missing or too long";
                goto bad;
        }
        const char *q = strchr(url, '?');
        size_t mainlen = q ? (size_t)(q - url) : strlen(url);
        if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "modbus://", 9) == 0) {
                a.kind = MB_ADDR_TCP;
                const char *h = strstr(url, "://") + 3;
                size_t hlen = mainlen - (size_t)(h - url);
                if (hlen > 0 && h[hlen - 1] == '/')
                        hlen--;
                const char *port = NULL;
                size_t plen = 0;
                if (hlen > 0 && h[0] == '[') {
                        const char *rb = memchr(h, ']', hlen);
                        if (!rb) {
                                why = "unclosed [ in an IPv6 address";
                                goto bad;
                        }
                        size_t l = (size_t)(rb - h - 1);
                        if (l == 0 || l >= sizeof a.host) {
                                why = "bad IPv6 address";
                                goto bad;
                        }
                        memcpy(a.host, h + 1, l);
                        const char *rest = rb + 1;
                        size_t rlen = hlen - (size_t)(rest - h);
                        if (rlen > 0) {
                                if (rest[0] != ':') {
                                        why = "expected :PORT after ]";
                                        goto bad;
                                }
                                port = rest + 1;
                                plen = rlen - 1;
                        }
                } else {
                        const char *c = memchr(h, ':', hlen);
                        size_t l = hlen;
                        if (c && !memchr(c + 1, ':', hlen - (size_t)(c + 1 - h))) {
                                l = (size_t)(c - h);
                                port = c + 1;
                                plen = hlen - l - 1;
                        }
                        if (l == 0 || l >= sizeof a.host) {
                                why = "host missing or too long";
                                goto bad;
                        }
                        memcpy(a.host, h, l);
                        if (memchr(a.host, '/', l)) {
                                why = "a TCP address has no path";
                                goto bad;
                        }
                }
                if (port) {
                        long v;
                        if (parse_uint(port, plen, 1, 65535, &v) < 0) {
                                why = "port must be 1..65535";
                                goto bad;
                        }
                        snprintf(a.port, sizeof a.port, "%ld", v);
                }
        } else if (strncmp(url, "rtu://", 6) == 0) {
                a.kind = MB_ADDR_RTU;
                const char *p = url + 6;
                size_t l = mainlen - 6;
                if (l < 2 || p[0] != '/' || l >= sizeof a.device) {
                        why = "rtu:// needs an absolute device path, rtu:///dev/ttyUSB0";
                        goto bad;
                }
                memcpy(a.device, p, l);
        } else {
                why = "address must start with tcp:// or rtu://";
                goto bad;
        }
        if (q && parse_query(q + 1, &a, &why) < 0)
                goto bad;
        *ret = a;
        return 0;
bad:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

/* The registry: few entries (one per gateway or bus), a list is enough. */
static mb_transport *registry;

static void make_key(const mb_addr *a, const dcem_loop *loop, char *buf, size_t len) {
        if (a->kind == MB_ADDR_TCP)
                snprintf(buf, len, "%p tcp %s %s", (const void *)loop, a->host, a->port);
        else
                snprintf(buf, len, "%p rtu %s", (const void *)loop, a->device);
}

int mb_transport_get(dcem_loop *loop, const mb_addr *a, const mb_transport_opts *o, mb_transport **ret,
                     char *errbuf, size_t errlen) {
        char key[600];
        make_key(a, loop, key, sizeof key);
        for (mb_transport *t = registry; t; t = t->next) {
                if (strcmp(t->key, key) == 0) {
                        t->refs++;
                        *ret = t;
                        return 0;
                }
        }
        mb_transport *t = calloc(1, sizeof *t);
        if (!t || !(t->key = strdup(key))) {
                free(t);
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        int r;
        if (a->kind == MB_ADDR_TCP) {
                t->ops = &mb_tcp_ops;
                r = mb_tcp_new(loop, a, o, &t->impl, errbuf, errlen);
        } else {
                t->ops = &mb_rtu_ops;
                r = mb_rtu_new(loop, a, o, &t->impl, errbuf, errlen);
        }
        if (r < 0) {
                free(t->key);
                free(t);
                return r;
        }
        t->refs = 1;
        t->loop = loop;
        t->next = registry;
        registry = t;
        *ret = t;
        return 0;
}

void mb_transport_put(mb_transport *t) {
        if (!t || --t->refs > 0)
                return;
        for (mb_transport **pp = &registry; *pp; pp = &(*pp)->next) {
                if (*pp == t) {
                        *pp = t->next;
                        break;
                }
        }
        t->ops->free(t->impl);
        free(t->key);
        free(t);
}
