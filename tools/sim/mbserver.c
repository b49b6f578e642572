/* mbserver.c - dcem-sim's Modbus TCP side: libmodbus's server API
 * (modbus_tcp_listen, modbus_receive, modbus_reply) on one thread that
 * poll()s every listening port and every client socket.
 *
 * A port is either a gateway (many unit ids, one device each, like a
 * Modbus TCP gateway in front of an RS-485 bus) or one device of its own
 * (any unit id accepted). Unknown unit ids behind a gateway get exception
 * 0x0B (gateway target failed to respond), as real gateways answer.
 *
 * Faults: silent (request swallowed), slow (the reply is held back on that
 * connection without blocking the others), exception (that code), garbage
 * and counter faults in the register values (regs.c).
 *
 * libmodbus waits with select(): sockets at or above FD_SETSIZE are refused
 * at accept, so the process never aborts (see ../shared/testdata/README.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim_mb.h"
#include "sim_regs.h"

#define MB_MAX_CLIENTS 900
#define MB_GATEWAY_TARGET 0x0B

typedef struct mb_port {
        modbus_t *ctx;
        int fd;
        int port;
        bool gateway;
        int dev_of_unit[SIM_UNITS_PER_PORT_MAX + 1]; /* device index or -1 */
} mb_port;

typedef struct mb_client {
        int fd;
        int port;        /* index into ports */
        bool pending;    /* a slow reply is held back */
        int64_t due_ns;
        int req_len;
        uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
} mb_client;

struct sim_mb {
        sim_rt *rt;
        mb_port *ports;
        int nports;
        mb_client clients[MB_MAX_CLIENTS];
        int nclients;
        int wake[2];
        pthread_t thread;
        bool running;
};

/* Close client i; the last one takes its slot. */
static void close_client(sim_mb *s, int i)
{
        close(s->clients[i].fd);
        s->clients[i] = s->clients[--s->nclients];
}

/* Answer one request (lock taken here). Returns false if the connection
 * must be closed. */
static bool answer(sim_mb *s, mb_client *c, const uint8_t *req, int len, bool delayed)
{
        mb_port *p = &s->ports[c->port];
        int hl = modbus_get_header_length(p->ctx);
        uint16_t regs[SIM_MB_MAX_READ];
        int unit = req[hl - 1], fc = req[hl], dev, exc = 0, rc;
        unsigned addr = 0, count = 0;
        sim_rt *rt = s->rt;

        atomic_fetch_add(&rt->mb_requests, 1);
        modbus_set_socket(p->ctx, c->fd);
        if (p->gateway)
                dev = unit >= 0 && unit <= SIM_UNITS_PER_PORT_MAX ? p->dev_of_unit[unit] : -1;
        else
                dev = p->dev_of_unit[0];
        if (dev < 0) {
                atomic_fetch_add(&rt->mb_exceptions, 1);
                return modbus_reply_exception(p->ctx, req, MB_GATEWAY_TARGET) >= 0;
        }
        if (len >= hl + 5) {
                addr = (unsigned)req[hl + 1] << 8 | req[hl + 2];
                count = (unsigned)req[hl + 3] << 8 | req[hl + 4];
        }

        pthread_mutex_lock(&rt->lock);
        int64_t t = sim_rt_sync(rt);
        sim_dev *d = &rt->site.devs[dev];
        if (d->fault.silent) {
                pthread_mutex_unlock(&rt->lock);
                atomic_fetch_add(&rt->mb_dropped, 1);
                return true;
        }
        if (!delayed && d->fault.delay_ms > 0) {
                c->pending = true;
                c->due_ns = sim_mono_ns() + d->fault.delay_ms * 1000000;
                c->req_len = len;
                memcpy(c->req, req, (size_t)len);
                pthread_mutex_unlock(&rt->lock);
                return true;
        }
        if (d->fault.exception)
                exc = d->fault.exception;
        else if (fc != MODBUS_FC_READ_HOLDING_REGISTERS && fc != MODBUS_FC_READ_INPUT_REGISTERS)
                exc = MODBUS_EXCEPTION_ILLEGAL_FUNCTION;
        else if (len < hl + 5)
                exc = MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE;
        else
                exc = sim_regs_read(&rt->model, d, t, fc, addr, count, regs);
        pthread_mutex_unlock(&rt->lock);

        if (exc) {
                atomic_fetch_add(&rt->mb_exceptions, 1);
                rc = modbus_reply_exception(p->ctx, req, (unsigned)exc);
        } else {
                /* A mapping that holds exactly the registers asked for. */
                modbus_mapping_t mp;
                memset(&mp, 0, sizeof(mp));
                if (fc == MODBUS_FC_READ_HOLDING_REGISTERS) {
                        mp.start_registers = addr;
                        mp.nb_registers = (int)count;
                        mp.tab_registers = regs;
                } else {
                        mp.start_input_registers = addr;
                        mp.nb_input_registers = (int)count;
                        mp.tab_input_registers = regs;
                }
                rc = modbus_reply(p->ctx, req, len, &mp);
        }
        return rc >= 0;
}

/* Accept one connection on port pi; refuse (and count) past the cap or FD_SETSIZE. */
static void accept_client(sim_mb *s, int pi)
{
        int fd = accept4(s->ports[pi].fd, NULL, NULL, SOCK_CLOEXEC);
        int one = 1;
        if (fd < 0)
                return;
        if (fd >= FD_SETSIZE || s->nclients >= MB_MAX_CLIENTS) {
                close(fd); /* libmodbus cannot wait on it; refuse rather than abort */
                atomic_fetch_add(&s->rt->mb_refused, 1);
                return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        mb_client *c = &s->clients[s->nclients++];
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->port = pi;
}

/* The Modbus thread: poll every listening port and idle client, answer,
 * release held-back (slow) replies when due; ends when the wake pipe is written. */
static void *mb_thread(void *arg)
{
        sim_mb *s = arg;
        struct pollfd *pfd = calloc((size_t)(1 + s->nports + MB_MAX_CLIENTS), sizeof(*pfd));
        int *who = calloc((size_t)(1 + s->nports + MB_MAX_CLIENTS), sizeof(int));
        uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];

        if (!pfd || !who) {
                free(pfd);
                free(who);
                return NULL;
        }
        for (;;) {
                int n = 0, timeout = -1;
                int64_t now = sim_mono_ns();
                pfd[n++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
                for (int i = 0; i < s->nports; i++) {
                        who[n] = -1 - i;
                        pfd[n++] = (struct pollfd){ .fd = s->ports[i].fd, .events = POLLIN };
                }
                for (int i = 0; i < s->nclients; i++) {
                        mb_client *c = &s->clients[i];
                        if (c->pending) {
                                int64_t ms = (c->due_ns - now) / 1000000 + 1;
                                if (ms < 0)
                                        ms = 0;
                                if (timeout < 0 || ms < timeout)
                                        timeout = (int)ms;
                                continue; /* one request at a time per connection */
                        }
                        who[n] = i;
                        pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
                }
                int r = poll(pfd, (nfds_t)n, timeout);
                if (r < 0 && errno != EINTR)
                        break;
                if (pfd[0].revents)
                        break; /* stop */
                /* Held-back replies that are due. */
                now = sim_mono_ns();
                for (int i = 0; i < s->nclients; i++) {
                        mb_client *c = &s->clients[i];
                        if (c->pending && c->due_ns <= now) {
                                c->pending = false;
                                if (!answer(s, c, c->req, c->req_len, true)) {
                                        close_client(s, i);
                                        i--;
                                }
                        }
                }
                if (r <= 0)
                        continue;
                /* Clients first (indices stay valid while we only read), then
                 * closes from the back, then accepts. */
                int nclients_before = s->nclients;
                bool dead[MB_MAX_CLIENTS] = { false };
                for (int k = 1 + s->nports; k < n; k++) {
                        if (!pfd[k].revents)
                                continue;
                        mb_client *c = &s->clients[who[k]];
                        modbus_t *ctx = s->ports[c->port].ctx;
                        modbus_set_socket(ctx, c->fd);
                        int len = modbus_receive(ctx, req);
                        if (len < 0) {
                                dead[who[k]] = true;
                                continue;
                        }
                        if (len == 0)
                                continue;
                        if (!answer(s, c, req, len, false))
                                dead[who[k]] = true;
                }
                for (int i = nclients_before - 1; i >= 0; i--)
                        if (dead[i])
                                close_client(s, i);
                for (int k = 1; k < 1 + s->nports; k++)
                        if (pfd[k].revents & POLLIN)
                                accept_client(s, -1 - who[k]);
        }
        free(pfd);
        free(who);
        return NULL;
}

int sim_mb_start(sim_rt *rt, const char *listen_addr, const int *want_ports, int nwant, sim_mb **ret)
{
        sim_site *site = &rt->site;
        sim_mb *s = calloc(1, sizeof(*s));
        int r = 0;

        if (!s)
                return -ENOMEM;
        s->rt = rt;
        s->wake[0] = s->wake[1] = -1;
        s->nports = site->nports;
        s->ports = calloc(s->nports > 0 ? (size_t)s->nports : 1, sizeof(*s->ports));
        if (!s->ports) {
                free(s);
                return -ENOMEM;
        }
        for (int i = 0; i < s->nports; i++) {
                s->ports[i].fd = -1;
                for (int u = 0; u <= SIM_UNITS_PER_PORT_MAX; u++)
                        s->ports[i].dev_of_unit[u] = -1;
        }
        for (size_t i = 0; i < site->ndevs; i++) {
                sim_dev *d = &site->devs[i];
                if (sim_profile_is_snmp(d->profile) || d->port_index < 0)
                        continue;
                mb_port *p = &s->ports[d->port_index];
                p->gateway = !d->own_port;
                p->dev_of_unit[p->gateway ? d->unit : 0] = (int)i;
        }
        for (int i = 0; i < s->nports; i++) {
                mb_port *p = &s->ports[i];
                struct sockaddr_in sa;
                socklen_t sl = sizeof(sa);
                int want = i < nwant ? want_ports[i] : 0;
                p->ctx = modbus_new_tcp(listen_addr, want);
                if (!p->ctx) {
                        r = errno ? -errno : -ENOMEM;
                        goto fail;
                }
                /* Bytes of one frame arrive together on loopback; never wait long. */
                modbus_set_byte_timeout(p->ctx, 0, 200000);
                p->fd = modbus_tcp_listen(p->ctx, 64);
                if (p->fd < 0) {
                        r = errno ? -errno : -EADDRINUSE;
                        goto fail;
                }
                if (getsockname(p->fd, (struct sockaddr *)&sa, &sl) < 0) {
                        r = -errno;
                        goto fail;
                }
                p->port = ntohs(sa.sin_port);
        }
        for (size_t i = 0; i < site->ndevs; i++) {
                sim_dev *d = &site->devs[i];
                if (!sim_profile_is_snmp(d->profile) && d->port_index >= 0)
                        d->port = s->ports[d->port_index].port;
        }
        if (pipe2(s->wake, O_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        if ((r = -pthread_create(&s->thread, NULL, mb_thread, s)) < 0)
                goto fail;
        s->running = true;
        *ret = s;
        return 0;
fail:
        sim_mb_stop(s);
        return r < 0 ? r : -EIO;
}

int sim_mb_port(const sim_mb *s, int i)
{
        return s && i >= 0 && i < s->nports ? s->ports[i].port : -1;
}

bool sim_mb_port_is_gateway(const sim_mb *s, int i)
{
        return s && i >= 0 && i < s->nports && s->ports[i].gateway;
}

int sim_mb_nports(const sim_mb *s)
{
        return s ? s->nports : 0;
}

void sim_mb_stop(sim_mb *s)
{
        if (!s)
                return;
        if (s->running) {
                if (write(s->wake[1], "x", 1) < 0) {
                        /* the pipe cannot be full; nothing else to do */
                }
                pthread_join(s->thread, NULL);
        }
        for (int i = 0; i < s->nclients; i++)
                close(s->clients[i].fd);
        for (int i = 0; i < s->nports; i++) {
                if (s->ports[i].fd >= 0)
                        close(s->ports[i].fd);
                if (s->ports[i].ctx) {
                        modbus_set_socket(s->ports[i].ctx, -1);
                        modbus_free(s->ports[i].ctx);
                }
        }
        if (s->wake[0] >= 0)
                close(s->wake[0]);
        if (s->wake[1] >= 0)
                close(s->wake[1]);
        free(s->ports);
        free(s);
}
