/* mbserver.c - dcem-sim's Modbus TCP side: one thread, epoll over every
 * listening port and every client socket, libmodbus for the ports and the
 * replies (modbus_tcp_listen, modbus_reply, modbus_reply_exception).
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
 * No descriptor ceiling. libmodbus 3.1.6's modbus_receive() waits with
 * select() (FD_SET on the context's socket: a socket at fd 1024 or above
 * overflows the fd_set, and glibc's fortified FD_SET aborts the process), so
 * requests are read here: non-blocking sockets, readiness from epoll, frames
 * cut by the MBAP length field. Replies still go through libmodbus
 * (modbus_set_socket + modbus_reply / modbus_reply_exception): those only
 * send(). modbus_reply's one select() path (modbus_flush after an illegal
 * register count) is never reached: the count is checked (exception 3)
 * before modbus_reply is called. Connections are limited only by the
 * process's descriptor limit (main.c raises RLIMIT_NOFILE to its hard limit)
 * and SIM_MB_MAX_CLIENTS; past either, a connection is accepted and closed
 * at once, and counted (modbus_refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim_mb.h"
#include "sim_regs.h"

#define MB_GATEWAY_TARGET 0x0B
#define MB_HEADER 7        /* MBAP: transaction, protocol, length, unit */
#define MB_EVENTS 256      /* epoll events per wait */
#define MB_ACCEPT_BURST 64 /* connections accepted per readiness of a port */

enum { T_WAKE, T_PORT, T_CLIENT };

typedef struct mb_port {
        int tag; /* T_PORT; first member: epoll data points here */
        modbus_t *ctx;
        int fd;
        int port;
        bool gateway;
        int own_dev;      /* own port: the device index */
        int *dev_of_unit; /* gateway: SIM_UNITS_PER_PORT_MAX + 1 entries, device index or -1 */
} mb_port;

typedef struct mb_client {
        int tag; /* T_CLIENT */
        int fd;
        int port;      /* index into ports */
        int slot;      /* index into clients */
        bool pending;  /* a slow reply is held back (reading paused) */
        bool dead;     /* closed at the end of this event batch */
        int64_t due_ns;
        int have;      /* bytes in buf */
        uint8_t buf[MODBUS_TCP_MAX_ADU_LENGTH];
        int req_len;   /* the held-back request */
        uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
} mb_client;

struct sim_mb {
        sim_rt *rt;
        mb_port *ports;
        int nports;
        mb_client **clients;
        int nclients, cap;
        int npending;
        int ep;
        int spare_fd; /* kept open to accept-and-close when descriptors run out */
        int wake[2];
        int wake_tag;
        pthread_t thread;
        bool running;
};

static void client_free(sim_mb *s, mb_client *c)
{
        if (c->pending)
                s->npending--;
        close(c->fd); /* also removes it from the epoll set */
        atomic_fetch_sub(&s->rt->mb_clients, 1);
        int i = c->slot;
        s->clients[i] = s->clients[--s->nclients];
        s->clients[i]->slot = i;
        free(c);
}

/* Pause or resume reading a client (while a slow reply is held back). */
static void client_arm(sim_mb *s, mb_client *c, bool on)
{
        struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = c };
        if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                c->dead = true;
}

/* Answer one request (lock taken here). Returns false if the connection
 * must be closed. */
static bool answer(sim_mb *s, mb_client *c, const uint8_t *req, int len, bool delayed)
{
        mb_port *p = &s->ports[c->port];
        uint16_t regs[SIM_MB_MAX_READ];
        int unit = req[MB_HEADER - 1], fc = req[MB_HEADER], dev, exc = 0, rc;
        unsigned addr = 0, count = 0;
        sim_rt *rt = s->rt;

        if (!delayed)
                atomic_fetch_add(&rt->mb_requests, 1);
        modbus_set_socket(p->ctx, c->fd);
        if (!p->gateway)
                dev = p->own_dev;
        else
                dev = unit <= SIM_UNITS_PER_PORT_MAX ? p->dev_of_unit[unit] : -1; /* unit: one byte */
        if (dev < 0) {
                atomic_fetch_add(&rt->mb_exceptions, 1);
                return modbus_reply_exception(p->ctx, req, MB_GATEWAY_TARGET) >= 0;
        }
        if (len >= MB_HEADER + 5) {
                addr = (unsigned)req[MB_HEADER + 1] << 8 | req[MB_HEADER + 2];
                count = (unsigned)req[MB_HEADER + 3] << 8 | req[MB_HEADER + 4];
        }

        pthread_mutex_lock(&rt->lock);
        int64_t t = sim_rt_sync(rt);
        sim_dev *d = &rt->site.devs[dev];
        if (!delayed)
                d->mb_requests++;
        if (d->fault.silent) {
                pthread_mutex_unlock(&rt->lock);
                atomic_fetch_add(&rt->mb_dropped, 1);
                return true;
        }
        if (!delayed && d->fault.delay_ms > 0) {
                c->pending = true;
                s->npending++;
                c->due_ns = sim_mono_ns() + d->fault.delay_ms * 1000000;
                c->req_len = len;
                memcpy(c->req, req, (size_t)len);
                pthread_mutex_unlock(&rt->lock);
                client_arm(s, c, false);
                return true;
        }
        if (d->fault.exception)
                exc = d->fault.exception;
        else if (fc != MODBUS_FC_READ_HOLDING_REGISTERS && fc != MODBUS_FC_READ_INPUT_REGISTERS)
                exc = MODBUS_EXCEPTION_ILLEGAL_FUNCTION;
        else if (len < MB_HEADER + 5)
                exc = MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE;
        else
                exc = sim_regs_read(&rt->model, d, t, fc, addr, count, regs);
        if (exc)
                d->mb_exceptions++;
        pthread_mutex_unlock(&rt->lock);

        if (exc) {
                atomic_fetch_add(&rt->mb_exceptions, 1);
                rc = modbus_reply_exception(p->ctx, req, (unsigned)exc);
        } else {
                /* A mapping that holds exactly the registers asked for (count
                 * checked by sim_regs_read: modbus_reply never flushes). */
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

/* Answer every complete frame in c's buffer, until one is held back (slow).
 * Returns false if the connection must be closed (a bad MBAP length, or a
 * failed reply). */
static bool serve_buffer(sim_mb *s, mb_client *c)
{
        int off = 0;
        bool ok = true;
        while (!c->pending && c->have - off >= MB_HEADER) {
                const uint8_t *f = c->buf + off;
                int len = f[4] << 8 | f[5]; /* unit id + PDU */
                if (len < 2 || 6 + len > MODBUS_TCP_MAX_ADU_LENGTH) {
                        ok = false; /* not Modbus TCP: no way to resynchronise */
                        break;
                }
                if (c->have - off < 6 + len)
                        break;
                if (!answer(s, c, f, 6 + len, false)) {
                        ok = false;
                        break;
                }
                off += 6 + len;
        }
        if (off > 0) {
                memmove(c->buf, c->buf + off, (size_t)(c->have - off));
                c->have -= off;
        }
        return ok;
}

/* Readable client: read what fits and serve it. False: close it. */
static bool client_read(sim_mb *s, mb_client *c)
{
        ssize_t n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - (size_t)c->have, 0);
        if (n == 0)
                return false;
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        c->have += (int)n;
        return serve_buffer(s, c);
}

/* Accept pending connections on port pi. Past SIM_MB_MAX_CLIENTS, or when
 * descriptors run out (the spare descriptor is given up for a moment to take
 * the connection off the queue), a connection is closed at once and counted. */
static void accept_clients(sim_mb *s, int pi)
{
        for (int k = 0; k < MB_ACCEPT_BURST; k++) {
                int one = 1;
                int fd = accept4(s->ports[pi].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
                                close(s->spare_fd);
                                fd = accept(s->ports[pi].fd, NULL, NULL);
                                if (fd >= 0)
                                        close(fd);
                                s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                atomic_fetch_add(&s->rt->mb_refused, 1);
                                continue;
                        }
                        return; /* EAGAIN: the queue is empty */
                }
                mb_client *c = s->nclients < SIM_MB_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
                if (c && s->nclients == s->cap) {
                        int ncap = s->cap ? 2 * s->cap : 256;
                        mb_client **nc = realloc(s->clients, (size_t)ncap * sizeof(*nc));
                        if (nc) {
                                s->clients = nc;
                                s->cap = ncap;
                        } else {
                                free(c);
                                c = NULL;
                        }
                }
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        free(c);
                        close(fd);
                        atomic_fetch_add(&s->rt->mb_refused, 1);
                        continue;
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                c->tag = T_CLIENT;
                c->fd = fd;
                c->port = pi;
                c->slot = s->nclients;
                s->clients[s->nclients++] = c;
                atomic_fetch_add(&s->rt->mb_clients, 1);
                if (s->nclients > atomic_load(&s->rt->mb_clients_peak))
                        atomic_store(&s->rt->mb_clients_peak, s->nclients); /* only this thread writes it */
        }
}

/* Release the held-back replies that are due; returns the poll timeout in
 * ms until the next one (-1: none held). */
static int release_due(sim_mb *s)
{
        int timeout = -1;
        if (s->npending == 0)
                return -1;
        int64_t now = sim_mono_ns();
        for (int i = 0; i < s->nclients; i++) {
                mb_client *c = s->clients[i];
                if (!c->pending)
                        continue;
                if (c->due_ns <= now) {
                        c->pending = false;
                        s->npending--;
                        bool ok = answer(s, c, c->req, c->req_len, true) && serve_buffer(s, c);
                        if (ok && !c->pending)
                                client_arm(s, c, true);
                        if (!ok || c->dead) {
                                client_free(s, c);
                                i--;
                                continue;
                        }
                }
                if (c->pending) {
                        int64_t ms = (c->due_ns - now) / 1000000 + 1;
                        if (timeout < 0 || ms < timeout)
                                timeout = (int)ms;
                }
        }
        return timeout;
}

/* The Modbus thread: wait on every port and client, answer, release
 * held-back (slow) replies when due; ends when the wake pipe is written. */
static void *mb_thread(void *arg)
{
        sim_mb *s = arg;
        struct epoll_event ev[MB_EVENTS];
        mb_client *dead[MB_EVENTS];

        for (;;) {
                int timeout = release_due(s);
                int n = epoll_wait(s->ep, ev, MB_EVENTS, timeout);
                int ndead = 0;
                if (n < 0 && errno != EINTR)
                        break;
                for (int k = 0; k < n; k++) {
                        int tag = *(int *)ev[k].data.ptr;
                        if (tag == T_WAKE)
                                goto out;
                        if (tag == T_PORT) {
                                accept_clients(s, (int)((mb_port *)ev[k].data.ptr - s->ports));
                                continue;
                        }
                        mb_client *c = ev[k].data.ptr;
                        if (c->dead)
                                continue; /* already queued for closing in this batch */
                        if (c->pending) {
                                /* Paused (events 0): only errors and hang-ups are
                                 * reported, and would be again at once: close. */
                                if (!(ev[k].events & (EPOLLERR | EPOLLHUP)))
                                        continue;
                        } else if (client_read(s, c) && !c->dead) {
                                continue;
                        }
                        c->dead = true;
                        dead[ndead++] = c;
                }
                /* Freed only now: later events of the batch may point at them. */
                for (int i = 0; i < ndead; i++)
                        client_free(s, dead[i]);
        }
out:
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
        s->ep = s->spare_fd = -1;
        s->wake[0] = s->wake[1] = -1;
        s->wake_tag = T_WAKE;
        s->nports = site->nports;
        s->ports = calloc(s->nports > 0 ? (size_t)s->nports : 1, sizeof(*s->ports));
        if (!s->ports) {
                free(s);
                return -ENOMEM;
        }
        for (int i = 0; i < s->nports; i++) {
                s->ports[i].tag = T_PORT;
                s->ports[i].fd = -1;
                s->ports[i].own_dev = -1;
        }
        for (size_t i = 0; i < site->ndevs; i++) {
                sim_dev *d = &site->devs[i];
                if (sim_profile_is_snmp(d->profile) || d->port_index < 0)
                        continue;
                mb_port *p = &s->ports[d->port_index];
                if (d->own_port) {
                        p->own_dev = (int)i;
                        continue;
                }
                if (!p->dev_of_unit) {
                        p->gateway = true;
                        p->dev_of_unit = malloc((SIM_UNITS_PER_PORT_MAX + 1) * sizeof(int));
                        if (!p->dev_of_unit) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        for (int u = 0; u <= SIM_UNITS_PER_PORT_MAX; u++)
                                p->dev_of_unit[u] = -1;
                }
                p->dev_of_unit[d->unit] = (int)i;
        }
        if ((s->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || pipe2(s->wake, O_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &s->wake_tag };
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wake[0], &wev) < 0) {
                r = -errno;
                goto fail;
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
                p->fd = modbus_tcp_listen(p->ctx, 128);
                if (p->fd < 0) {
                        r = errno ? -errno : -EADDRINUSE;
                        goto fail;
                }
                if (getsockname(p->fd, (struct sockaddr *)&sa, &sl) < 0 ||
                    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK) < 0) {
                        r = -errno;
                        goto fail;
                }
                p->port = ntohs(sa.sin_port);
                struct epoll_event pev = { .events = EPOLLIN, .data.ptr = p };
                if (epoll_ctl(s->ep, EPOLL_CTL_ADD, p->fd, &pev) < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        for (size_t i = 0; i < site->ndevs; i++) {
                sim_dev *d = &site->devs[i];
                if (!sim_profile_is_snmp(d->profile) && d->port_index >= 0)
                        d->port = s->ports[d->port_index].port;
        }
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
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

int sim_mb_nclients(const sim_mb *s)
{
        return s ? s->nclients : 0;
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
        for (int i = 0; i < s->nclients; i++) {
                close(s->clients[i]->fd);
                free(s->clients[i]);
        }
        free(s->clients);
        for (int i = 0; i < s->nports; i++) {
                if (s->ports[i].fd >= 0)
                        close(s->ports[i].fd);
                if (s->ports[i].ctx) {
                        modbus_set_socket(s->ports[i].ctx, -1);
                        modbus_free(s->ports[i].ctx);
                }
                free(s->ports[i].dev_of_unit);
        }
        if (s->ep >= 0)
                close(s->ep);
        if (s->spare_fd >= 0)
                close(s->spare_fd);
        if (s->wake[0] >= 0)
                close(s->wake[0]);
        if (s->wake[1] >= 0)
                close(s->wake[1]);
        free(s->ports);
        free(s);
}
