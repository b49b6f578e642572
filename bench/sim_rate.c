/* sim_rate - how many requests per second a Modbus TCP or SNMP server
 * answers on this machine: dcem-sim (tools/sim), or, for comparison, a bare
 * libmodbus server loop. Run by bench/sim-rate (docs/SIM.md, "Performance"),
 * which starts the servers and reads their CPU from /proc.
 *
 * The load generators are hand-written and cheap (no libmodbus or net-snmp
 * on the client side), so the server, not the client, is what is measured:
 * closed loops, one outstanding request per connection (Modbus) or per slot
 * (SNMP), non-blocking sockets and epoll.
 *
 *   sim_rate bare-server
 *       A minimal libmodbus server (modbus_tcp_listen, modbus_receive,
 *       modbus_reply, select() over the clients: the shape of libmodbus's own
 *       tests/bandwidth-server-many-up.c) serving the SDM630 input registers
 *       0x0000..0x015F as float32. Prints its port on stdout, serves until
 *       killed.
 *   sim_rate modbus SECONDS CONNS PORT:UNIT...
 *       CONNS connections, spread over the targets in turn; each does
 *       device-polls of the SDM630 map merged into 2 requests (function 4:
 *       0x00 x 18 registers, 0x46 x 10). Every answer is checked (transaction
 *       id, function, byte count).
 *   sim_rate snmp get|sys|bulk SECONDS SLOTS COMMUNITY PORT...
 *       v2c over UDP, SLOTS requests in flight spread over the agents: "get"
 *       one GET of the 6 APC rPDU2 device OIDs of the benchmark workload
 *       (bench/workload.py); "bulk" one GETBULK (non-repeaters 0,
 *       max-repetitions 10) from the rPDU2 device status table. Every answer
 *       is checked (request id, error-status 0, no exception values).
 *       "sys": one GET of 6 system-group OIDs (sysDescr.0 .. sysLocation.0),
 *       which any agent serves: dcem-sim against a real snmpd.
 *
 * Each client mode prints one JSON line: requests, answers, errors, seconds,
 * requests_per_s, (modbus) polls_per_s, (snmp) varbinds, client_cpu_s.
 * Exit 0, or 1 with a message on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "bench_clock.h"

#define MAX_TARGETS 4096
#define MAX_CONNS 4096


/* A decimal integer in [lo, hi] into *ret; -EINVAL if s is not one. */
static int parse_int(const char *s, long lo, long hi, long *ret)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int connect_tcp(int port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        return fd;
}

/* ---- bare libmodbus server ------------------------------------------------ */

static void put_f32(uint16_t *w, float v)
{
        uint32_t u;
        memcpy(&u, &v, sizeof(u));
        w[0] = (uint16_t)(u >> 16);
        w[1] = (uint16_t)u;
}

static int bare_server(void)
{
        modbus_t *ctx = modbus_new_tcp("127.0.0.1", 0);
        modbus_mapping_t *mp = modbus_mapping_new_start_address(0, 0, 0, 0, 0, 0, 0, 0x160);
        uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        int lfd, maxfd;
        fd_set ref, rd;

        if (!ctx || !mp) {
                fprintf(stderr, "sim_rate: bare-server: %s\n", modbus_strerror(errno));
                return 1;
        }
        for (int a = 0; a + 1 < 0x160; a += 2)
                put_f32(&mp->tab_input_registers[a], 230.0f + (float)a / 10.0f);
        lfd = modbus_tcp_listen(ctx, 128);
        if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
                fprintf(stderr, "sim_rate: bare-server: listen: %s\n", modbus_strerror(errno));
                return 1;
        }
        printf("%d\n", ntohs(sa.sin_port));
        fflush(stdout);
        FD_ZERO(&ref);
        FD_SET(lfd, &ref);
        maxfd = lfd;
        for (;;) {
                rd = ref;
                if (select(maxfd + 1, &rd, NULL, NULL, NULL) < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                for (int fd = 0; fd <= maxfd; fd++) {
                        if (!FD_ISSET(fd, &rd))
                                continue;
                        if (fd == lfd) {
                                int c = accept(lfd, NULL, NULL);
                                if (c < 0)
                                        continue;
                                if (c >= FD_SETSIZE) {
                                        close(c);
                                        continue;
                                }
                                int one = 1;
                                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                                FD_SET(c, &ref);
                                if (c > maxfd)
                                        maxfd = c;
                                continue;
                        }
                        modbus_set_socket(ctx, fd);
                        int rc = modbus_receive(ctx, q);
                        if (rc > 0) {
                                modbus_reply(ctx, q, rc, mp);
                        } else if (rc < 0) {
                                close(fd);
                                FD_CLR(fd, &ref);
                        }
                }
        }
}

/* ---- Modbus load ---------------------------------------------------------- */

typedef struct mconn {
        int fd, unit, step, have;
        uint16_t tid;
        uint8_t buf[300];
} mconn;

static const uint16_t merged[2][2] = { { 0x00, 18 }, { 0x46, 10 } }; /* SDM630 map in 2 requests */

static int mb_send(mconn *c)
{
        uint8_t f[12];
        c->tid++;
        f[0] = (uint8_t)(c->tid >> 8);
        f[1] = (uint8_t)c->tid;
        f[2] = f[3] = 0;
        f[4] = 0;
        f[5] = 6;
        f[6] = (uint8_t)c->unit;
        f[7] = 4; /* read input registers */
        f[8] = (uint8_t)(merged[c->step][0] >> 8);
        f[9] = (uint8_t)merged[c->step][0];
        f[10] = (uint8_t)(merged[c->step][1] >> 8);
        f[11] = (uint8_t)merged[c->step][1];
        return send(c->fd, f, sizeof(f), MSG_NOSIGNAL) == (ssize_t)sizeof(f) ? 0 : -EIO;
}

static int modbus_load(int argc, char **argv)
{
        long secs, nconn, port, unit;
        static mconn conns[MAX_CONNS];
        int ports[MAX_TARGETS], units[MAX_TARGETS], ntargets = 0;
        long long requests = 0, answers = 0, errors = 0;

        if (argc < 5 || parse_int(argv[2], 1, 3600, &secs) < 0 || parse_int(argv[3], 1, MAX_CONNS, &nconn) < 0) {
                fprintf(stderr, "usage: sim_rate modbus SECONDS CONNS PORT:UNIT...\n");
                return 1;
        }
        for (int i = 4; i < argc && ntargets < MAX_TARGETS; i++) {
                char buf[32], *colon;
                snprintf(buf, sizeof(buf), "%s", argv[i]);
                colon = strchr(buf, ':');
                if (!colon)
                        return fprintf(stderr, "sim_rate: target '%s': PORT:UNIT\n", argv[i]), 1;
                *colon = 0;
                if (parse_int(buf, 1, 65535, &port) < 0 || parse_int(colon + 1, 0, 255, &unit) < 0)
                        return fprintf(stderr, "sim_rate: target '%s': PORT:UNIT\n", argv[i]), 1;
                ports[ntargets] = (int)port;
                units[ntargets++] = (int)unit;
        }
        int ep = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < nconn; i++) {
                mconn *c = &conns[i];
                c->fd = connect_tcp(ports[i % ntargets]);
                if (c->fd < 0) {
                        fprintf(stderr, "sim_rate: connect 127.0.0.1:%d: %s\n", ports[i % ntargets], strerror(-c->fd));
                        return 1;
                }
                c->unit = units[i % ntargets];
                c->tid = (uint16_t)(i * 1000);
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
        double c0 = cpu_s(), t0 = now_s(), t_end = t0 + (double)secs, t1;
        for (int i = 0; i < nconn; i++) {
                if (mb_send(&conns[i]) < 0)
                        return fprintf(stderr, "sim_rate: send: %s\n", strerror(errno)), 1;
                requests++;
        }
        struct epoll_event evs[256];
        while ((t1 = now_s()) < t_end) {
                int n = epoll_wait(ep, evs, 256, 1000);
                for (int k = 0; k < n; k++) {
                        mconn *c = evs[k].data.ptr;
                        ssize_t r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - (size_t)c->have, 0);
                        if (r <= 0) {
                                if (r < 0 && errno == EAGAIN)
                                        continue;
                                fprintf(stderr, "sim_rate: connection closed by the server\n");
                                return 1;
                        }
                        c->have += (int)r;
                        if (c->have < 9 || c->have < 6 + (c->buf[4] << 8 | c->buf[5]))
                                continue;
                        uint16_t tid = (uint16_t)(c->buf[0] << 8 | c->buf[1]);
                        if (tid != c->tid || c->buf[7] != 4 || c->buf[8] != 2 * merged[c->step][1])
                                errors++;
                        answers++;
                        c->have = 0;
                        c->step ^= 1;
                        if (mb_send(c) < 0)
                                return fprintf(stderr, "sim_rate: send: %s\n", strerror(errno)), 1;
                        requests++;
                }
        }
        double cpu = cpu_s() - c0, dt = t1 - t0;
        printf("{\"mode\":\"modbus\",\"conns\":%ld,\"requests\":%lld,\"answers\":%lld,\"errors\":%lld,"
               "\"seconds\":%.3f,\"requests_per_s\":%.0f,\"polls_per_s\":%.0f,\"client_cpu_s\":%.3f}\n",
               nconn, requests, answers, errors, dt, (double)answers / dt, (double)answers / 2 / dt, cpu);
        return errors ? 1 : 0;
}

/* ---- SNMP load (BER by hand) ---------------------------------------------- */

/* Append a BER length at p; returns bytes written. */
static size_t ber_len(uint8_t *p, size_t len)
{
        if (len < 128) {
                p[0] = (uint8_t)len;
                return 1;
        }
        p[0] = 0x82;
        p[1] = (uint8_t)(len >> 8);
        p[2] = (uint8_t)len;
        return 3;
}

/* Wrap body[0..n) in tag: moves it right; returns the new length. */
static size_t ber_wrap(uint8_t *body, size_t n, uint8_t tag)
{
        uint8_t hdr[4];
        size_t h;
        hdr[0] = tag;
        h = 1 + ber_len(hdr + 1, n);
        memmove(body + h, body, n);
        memcpy(body, hdr, h);
        return n + h;
}

/* An OID varbind with a NULL value, from dotted text, at p. Returns its length. */
static size_t ber_varbind(uint8_t *p, const char *dotted)
{
        unsigned long sub[64] = { 1, 3 };
        int ns = 0;
        const char *s = dotted;
        while (*s && ns < 64) {
                char *end;
                if (*s == '.')
                        s++;
                sub[ns++] = strtoul(s, &end, 10);
                s = end;
        }
        uint8_t o[256];
        size_t n = 0;
        o[n++] = (uint8_t)(sub[0] * 40 + sub[1]);
        for (int i = 2; i < ns; i++) {
                uint8_t tmp[8];
                int k = 0;
                unsigned long v = sub[i];
                do {
                        tmp[k++] = (uint8_t)(v & 0x7F);
                        v >>= 7;
                } while (v);
                while (k > 0) {
                        k--;
                        o[n++] = (uint8_t)(tmp[k] | (k ? 0x80 : 0));
                }
        }
        size_t len = 0;
        p[len++] = 0x06;
        len += ber_len(p + len, n);
        memcpy(p + len, o, n);
        len += n;
        p[len++] = 0x05;
        p[len++] = 0x00;
        return ber_wrap(p, len, 0x30);
}

/* A v2c message: GET (0xA0) or GETBULK (0xA5) of the oids, request id as a
 * 4-byte INTEGER at *ret_rid_off (patched per request). */
static size_t snmp_msg(uint8_t *out, const char *community, uint8_t pdu_type, int max_rep, const char **oids,
                       int noids, size_t *ret_rid_off)
{
        uint8_t vbl[1200], pdu[1400];
        size_t nv = 0, np = 0;
        for (int i = 0; i < noids; i++)
                nv += ber_varbind(vbl + nv, oids[i]);
        nv = ber_wrap(vbl, nv, 0x30);
        const uint8_t rid[] = { 0x02, 0x04, 0x40, 0, 0, 0 };
        memcpy(pdu, rid, sizeof(rid));
        np = sizeof(rid);
        pdu[np++] = 0x02; /* error-status or non-repeaters */
        pdu[np++] = 0x01;
        pdu[np++] = 0x00;
        pdu[np++] = 0x02; /* error-index or max-repetitions */
        pdu[np++] = 0x01;
        pdu[np++] = (uint8_t)(pdu_type == 0xA5 ? max_rep : 0);
        memcpy(pdu + np, vbl, nv);
        np += nv;
        np = ber_wrap(pdu, np, pdu_type);
        size_t n = 0, cl = strlen(community);
        out[n++] = 0x02;
        out[n++] = 0x01;
        out[n++] = 0x01; /* version 2c */
        out[n++] = 0x04;
        n += ber_len(out + n, cl);
        memcpy(out + n, community, cl);
        n += cl;
        memcpy(out + n, pdu, np);
        n += np;
        n = ber_wrap(out, n, 0x30);
        /* The request id's 4 content bytes: message header, version (3
         * bytes), community, PDU header, INTEGER header (2 bytes). */
        size_t off = 1 + (out[1] & 0x80 ? 1 + (out[1] & 0x7F) : 1);
        off += 3;
        off += 1 + (out[off + 1] & 0x80 ? 1 + (out[off + 1] & 0x7F) : 1) + cl;
        off += 1 + (out[off + 1] & 0x80 ? 1 + (out[off + 1] & 0x7F) : 1);
        *ret_rid_off = off + 2;
        return n;
}

/* Read a TLV header at p (bounded by end): tag, content length; returns the
 * header length or 0 on malformed input. */
static size_t tlv(const uint8_t *p, const uint8_t *end, uint8_t *tag, size_t *len)
{
        if (end - p < 2)
                return 0;
        *tag = p[0];
        if (p[1] < 0x80) {
                *len = p[1];
                return (size_t)(end - p) >= 2 + *len ? 2 : 0;
        }
        int k = p[1] & 0x7F;
        if (k < 1 || k > 2 || end - p < 2 + k)
                return 0;
        *len = k == 1 ? p[2] : (size_t)(p[2] << 8 | p[3]);
        return (size_t)(end - p) >= (size_t)(2 + k) + *len ? (size_t)(2 + k) : 0;
}

/* Check a response: GetResponse with request id rid, error-status 0, no
 * noSuchObject/noSuchInstance/endOfMibView. Returns the varbind count, or -1. */
static int snmp_check(const uint8_t *p, size_t n, uint32_t *ret_rid)
{
        const uint8_t *end = p + n;
        uint8_t tag;
        size_t len, h;
        if (!(h = tlv(p, end, &tag, &len)) || tag != 0x30)
                return -1;
        p += h;
        for (int i = 0; i < 2; i++) { /* version, community */
                if (!(h = tlv(p, end, &tag, &len)))
                        return -1;
                p += h + len;
        }
        if (!(h = tlv(p, end, &tag, &len)) || tag != 0xA2)
                return -1;
        p += h;
        if (!(h = tlv(p, end, &tag, &len)) || tag != 0x02 || len < 1 || len > 4)
                return -1;
        uint32_t rid = 0;
        for (size_t i = 0; i < len; i++)
                rid = rid << 8 | p[h + i];
        *ret_rid = rid;
        p += h + len;
        if (!(h = tlv(p, end, &tag, &len)) || tag != 0x02 || len != 1 || p[h] != 0)
                return -1; /* error-status */
        p += h + len;
        if (!(h = tlv(p, end, &tag, &len)))
                return -1;
        p += h + len;
        if (!(h = tlv(p, end, &tag, &len)) || tag != 0x30)
                return -1;
        p += h;
        int nvb = 0;
        while (p < end) {
                const uint8_t *vb;
                if (!(h = tlv(p, end, &tag, &len)) || tag != 0x30)
                        return -1;
                vb = p + h;
                p = vb + len;
                if (!(h = tlv(vb, p, &tag, &len)) || tag != 0x06)
                        return -1;
                vb += h + len;
                if (!(h = tlv(vb, p, &tag, &len)) || (tag >= 0x80 && tag <= 0x82))
                        return -1;
                nvb++;
        }
        return nvb;
}

typedef struct sslot {
        int target;
        uint32_t rid;
        double sent;
} sslot;

static int snmp_load(int argc, char **argv)
{
        static const char *get_oids[] = {
                "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", "1.3.6.1.4.1.318.1.1.26.4.3.1.9.1",
                "1.3.6.1.4.1.318.1.1.26.4.3.1.16.1", "1.3.6.1.4.1.318.1.1.26.4.3.1.17.1",
                "1.3.6.1.4.1.318.1.1.26.4.3.1.4.1", "1.3.6.1.4.1.318.1.1.26.4.3.1.2.1",
        };
        static const char *bulk_oid[] = { "1.3.6.1.4.1.318.1.1.26.4.3.1" };
        static const char *sys_oids[] = {
                "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0",
                "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0",
        };
        long secs, nslots, port;
        int fds[MAX_TARGETS], ntargets = 0;
        static sslot slots[MAX_CONNS];
        uint8_t msg[1500], rx[65536];
        size_t rid_off, mlen;
        long long requests = 0, answers = 0, errors = 0, timeouts = 0, varbinds = 0;
        bool bulk, sys;

        if (argc < 7 || (strcmp(argv[2], "get") && strcmp(argv[2], "bulk") && strcmp(argv[2], "sys")) ||
            parse_int(argv[3], 1, 3600, &secs) < 0 || parse_int(argv[4], 1, MAX_CONNS, &nslots) < 0) {
                fprintf(stderr, "usage: sim_rate snmp get|sys|bulk SECONDS SLOTS COMMUNITY PORT...\n");
                return 1;
        }
        bulk = strcmp(argv[2], "bulk") == 0;
        sys = strcmp(argv[2], "sys") == 0;
        mlen = bulk ? snmp_msg(msg, argv[5], 0xA5, 10, bulk_oid, 1, &rid_off)
                    : snmp_msg(msg, argv[5], 0xA0, 0, sys ? sys_oids : get_oids, 6, &rid_off);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 6; i < argc && ntargets < MAX_TARGETS; i++) {
                struct sockaddr_in sa = { .sin_family = AF_INET };
                if (parse_int(argv[i], 1, 65535, &port) < 0)
                        return fprintf(stderr, "sim_rate: bad port '%s'\n", argv[i]), 1;
                sa.sin_port = htons((uint16_t)port);
                inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
                int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        return fprintf(stderr, "sim_rate: udp 127.0.0.1:%ld: %s\n", port, strerror(errno)), 1;
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)ntargets };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                fds[ntargets++] = fd;
        }
        uint32_t next_rid = 0x40000000u;
        double c0 = cpu_s(), t0 = now_s(), t_end = t0 + (double)secs, t1;
#define SEND(sl)                                                                          \
        do {                                                                              \
                (sl)->rid = next_rid++;                                                   \
                msg[rid_off] = (uint8_t)((sl)->rid >> 24);                                \
                msg[rid_off + 1] = (uint8_t)((sl)->rid >> 16);                            \
                msg[rid_off + 2] = (uint8_t)((sl)->rid >> 8);                             \
                msg[rid_off + 3] = (uint8_t)(sl)->rid;                                    \
                (sl)->sent = now_s();                                                     \
                if (send(fds[(sl)->target], msg, mlen, 0) == (ssize_t)mlen)               \
                        requests++;                                                       \
        } while (0)
        for (int i = 0; i < nslots; i++) {
                slots[i].target = i % ntargets;
                SEND(&slots[i]);
        }
        struct epoll_event evs[256];
        double last_sweep = t0;
        while ((t1 = now_s()) < t_end) {
                int n = epoll_wait(ep, evs, 256, 200);
                for (int k = 0; k < n; k++) {
                        int t = (int)evs[k].data.u32;
                        ssize_t r;
                        while ((r = recv(fds[t], rx, sizeof(rx), 0)) > 0) {
                                uint32_t rid = 0;
                                int nvb = snmp_check(rx, (size_t)r, &rid);
                                int si = -1;
                                for (int i = t; i < nslots; i += ntargets) /* slots of this target */
                                        if (slots[i].rid == rid) {
                                                si = i;
                                                break;
                                        }
                                if (si < 0)
                                        continue; /* a late answer to a request given up */
                                if (nvb < 0 || nvb != (bulk ? 10 : 6))
                                        errors++;
                                else
                                        varbinds += nvb;
                                answers++;
                                SEND(&slots[si]);
                        }
                }
                if (t1 - last_sweep > 0.2) { /* UDP: resend what waited over a second */
                        last_sweep = t1;
                        for (int i = 0; i < nslots; i++)
                                if (t1 - slots[i].sent > 1.0) {
                                        timeouts++;
                                        SEND(&slots[i]);
                                }
                }
        }
        double cpu = cpu_s() - c0, dt = t1 - t0;
        printf("{\"mode\":\"snmp-%s\",\"slots\":%ld,\"agents\":%d,\"requests\":%lld,\"answers\":%lld,\"errors\":%lld,"
               "\"timeouts\":%lld,\"varbinds\":%lld,\"seconds\":%.3f,\"requests_per_s\":%.0f,\"client_cpu_s\":%.3f}\n",
               argv[2], nslots, ntargets, requests, answers, errors, timeouts, varbinds, dt, (double)answers / dt, cpu);
        return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
        struct rlimit rl; /* thousands of connections: take every descriptor allowed */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (argc >= 2 && strcmp(argv[1], "bare-server") == 0)
                return bare_server();
        if (argc >= 2 && strcmp(argv[1], "modbus") == 0)
                return modbus_load(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "snmp") == 0)
                return snmp_load(argc, argv);
        fprintf(stderr, "usage: sim_rate bare-server | modbus SECONDS CONNS PORT:UNIT... |\n"
                        "       snmp get|sys|bulk SECONDS SLOTS COMMUNITY PORT...\n");
        return 1;
}
