/* tcp.c - Modbus TCP transport on the agent's event loop.
 *
 * Why not libmodbus here: libmodbus waits for answers with select() and
 * aborts the process once a socket is fd 1024 or above (collectd dies near
 * 1,018 Modbus TCP hosts), and its calls block the thread. MBAP framing is
 * small: this file builds read requests, matches answers by transaction id
 * and unit, and never blocks: non-blocking connect, sockets watched by the
 * loop (epoll), timeouts as loop timers.
 *
 * One transport per address: a gateway serving many unit ids gets a pool of
 * at most max_connections connections with one transaction in flight on
 * each (most gateways serialise anyway), and a bounded FIFO of requests. A
 * timed-out connection is closed (a late answer can then never be taken for
 * the next request's). Hostnames are resolved once when the transport is
 * created (configuration time), never on the loop.
 *
 * Queue order: a request whose poll is already under way (req->cont) goes
 * before the requests of polls not started yet. When every device of a
 * gateway polls on the same grid instant, a strict FIFO would make each
 * device's second request wait for every other device's first, so nearly
 * all polls would finish at the end of the burst; this way polls finish one
 * after another and their messages leave while the rest is read.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "modbus/mb.h"
#include "modbus/transport.h"

#define TCP_MAX_CONNS 64
#define TCP_SPARE 32     /* request records kept for reuse: no malloc per request */
#define MBAP_MAX 260

typedef struct treq {
        uint64_t id;
        mb_xfer_req r;
        mb_xfer_cb cb;  /* NULL once cancelled */
        void *ud;
        struct treq *next;
} treq;

typedef enum { C_CLOSED, C_CONNECTING, C_DELAY, C_IDLE, C_BUSY } cstate;

typedef struct tconn {
        struct tcp *t;
        int fd;
        cstate st;
        uint64_t timer;
        int64_t timer_at;  /* when the armed timer fires (monotonic) */
        int64_t deadline;  /* C_BUSY: the request's own deadline; the timer may fire earlier (see arm_busy) */
        treq *cur;
        uint16_t tid;
        uint8_t tx[12];
        size_t txlen, txoff;
        uint8_t rx[MBAP_MAX + 8];
        size_t rxlen;
} tconn;

typedef struct tcp {
        dcem_loop *loop;
        struct addrinfo *ai;
        mb_transport_opts o;
        unsigned nconns;
        treq *head, *tail;
        treq *ctail;     /* last continuation: they form the queue's prefix */
        size_t qlen;
        uint64_t next_id;
        uint16_t next_tid;
        uint64_t dispatch_timer;
        bool want_dispatch; /* a request was submitted from inside a callback */
        treq *spare;     /* freed requests kept for reuse (at most TCP_SPARE) */
        unsigned nspare;
        unsigned depth;  /* > 0 while calling back */
        bool dead;       /* freed during a callback: free when unwound */
        tconn conns[];   /* nconns = max_connections slots, allocated with the struct */
} tcp;

static void dispatch(tcp *t);

size_t mb_mbap_request(uint8_t b[12], uint16_t tid, const mb_xfer_req *r) {
        b[0] = (uint8_t)(tid >> 8);
        b[1] = (uint8_t)tid;
        b[2] = 0;
        b[3] = 0;
        b[4] = 0;
        b[5] = 6;
        b[6] = r->unit;
        b[7] = r->fc;
        b[8] = (uint8_t)(r->start >> 8);
        b[9] = (uint8_t)r->start;
        b[10] = (uint8_t)(r->count >> 8);
        b[11] = (uint8_t)r->count;
        return 12;
}

int mb_pdu_parse(const uint8_t *pdu, size_t len, const mb_xfer_req *r, uint16_t *regs, uint8_t *bits,
                 size_t *ret_n, int *ret_exception) {
        if (len < 2)
                return -EBADMSG;
        if (pdu[0] == (r->fc | 0x80)) {
                if (len != 2)
                        return -EBADMSG;
                *ret_exception = pdu[1];
                return -EPROTO;
        }
        if (pdu[0] != r->fc)
                return -EBADMSG;
        size_t bc = pdu[1];
        if (len != 2 + bc)
                return -EBADMSG;
        if (r->fc == MB_FC_COIL || r->fc == MB_FC_DISCRETE) {
                if (r->count == 0 || r->count > MB_MAX_BITS || bc != (r->count + 7u) / 8u)
                        return -EBADMSG;
                for (size_t i = 0; i < r->count; i++)
                        bits[i] = (uint8_t)((pdu[2 + i / 8] >> (i % 8)) & 1u);
        } else {
                if (r->count == 0 || r->count > MB_MAX_REGS || bc != 2u * r->count)
                        return -EBADMSG;
                for (size_t i = 0; i < r->count; i++)
                        regs[i] = (uint16_t)((pdu[2 + 2 * i] << 8) | pdu[3 + 2 * i]);
        }
        *ret_n = r->count;
        return 0;
}

static void tcp_destroy(tcp *t);
static void on_dispatch(dcem_loop *l, uint64_t id, void *ud);

static treq *req_get(tcp *t) {
        treq *q = t->spare;
        if (!q)
                return calloc(1, sizeof *q);
        t->spare = q->next;
        t->nspare--;
        memset(q, 0, sizeof *q);
        return q;
}

static void req_put(tcp *t, treq *q) {
        if (t->nspare >= TCP_SPARE) {
                free(q);
                return;
        }
        q->next = t->spare;
        t->spare = q;
        t->nspare++;
}

/* Start dispatch from the loop, soon (so callbacks never run inside submit). */
static int arm_dispatch(tcp *t) {
        if (t->dispatch_timer)
                return 0;
        return dcem_loop_add_timer(t->loop, dcem_clock_mono(dcem_loop_clock(t->loop)), on_dispatch, t,
                                   &t->dispatch_timer);
}

/* Call a request's callback (if not cancelled) and recycle the request. A
 * request the callback submits is dispatched by the caller when
 * dispatching (on_data calls dispatch next: no timer), else from the loop. */
static void complete(tcp *t, treq *q, int status, int exc, const uint16_t *regs, const uint8_t *bits, size_t n,
                     bool dispatching) {
        mb_xfer_cb cb = q->cb;
        void *ud = q->ud;
        req_put(t, q);
        if (!cb)
                return;
        t->depth++;
        cb(ud, status, exc, regs, bits, n);
        t->depth--;
        if (t->depth == 0 && !t->dead && t->want_dispatch && !dispatching && arm_dispatch(t) == 0)
                t->want_dispatch = false;
}

static void conn_close(tconn *c) {
        tcp *t = c->t;
        if (c->timer) {
                (void)dcem_loop_cancel_timer(t->loop, c->timer);
                c->timer = 0;
        }
        if (c->fd >= 0) {
                (void)dcem_loop_del_fd(t->loop, c->fd);
                close(c->fd);
                c->fd = -1;
        }
        c->st = C_CLOSED;
        c->rxlen = 0;
}

/* Close the connection and fail its request with status. */
static void conn_fail(tconn *c, int status) {
        treq *q = c->cur;
        c->cur = NULL;
        conn_close(c);
        if (q)
                complete(c->t, q, status, 0, NULL, NULL, 0, false);
}

/* Connecting failed: every waiting request goes to the same place, fail them
 * all now rather than let each wait for its own timeout. */
static void fail_queue(tcp *t, int status) {
        treq *q = t->head;
        t->head = t->tail = t->ctail = NULL;
        t->qlen = 0;
        while (q) {
                treq *n = q->next;
                complete(t, q, status, 0, NULL, NULL, 0, false);
                if (t->dead)
                        return;
                q = n;
        }
}

static void on_timer(dcem_loop *l, uint64_t id, void *ud);

static int arm_at(tconn *c, int64_t at) {
        tcp *t = c->t;
        if (c->timer)
                (void)dcem_loop_cancel_timer(t->loop, c->timer);
        c->timer = 0;
        c->timer_at = at;
        return dcem_loop_add_timer(t->loop, at, on_timer, c, &c->timer);
}

static int arm(tconn *c, int64_t after_ns) {
        return arm_at(c, dcem_clock_mono(dcem_loop_clock(c->t->loop)) + after_ns);
}

/* A request's timeout, lazily: the connection's timer is left armed when an
 * answer comes, and a new request only moves it when it would fire after
 * the request's deadline; on_timer re-arms when it fires before the
 * deadline of the request then in flight. So a busy connection adds and
 * removes no timer per request (callgrind: a timer add and cancel per
 * request cost more than decoding the answer). */
static int arm_busy(tconn *c, int64_t timeout_ns) {
        c->deadline = dcem_clock_mono(dcem_loop_clock(c->t->loop)) + timeout_ns;
        if (c->timer && c->timer_at <= c->deadline)
                return 0;
        return arm_at(c, c->deadline);
}

static void try_write(tconn *c) {
        while (c->txoff < c->txlen) {
                ssize_t w = send(c->fd, c->tx + c->txoff, c->txlen - c->txoff, MSG_NOSIGNAL);
                if (w < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                (void)dcem_loop_mod_fd(c->t->loop, c->fd, DCEM_EV_READ | DCEM_EV_WRITE);
                                return;
                        }
                        if (errno == EINTR)
                                continue;
                        conn_fail(c, -errno);
                        return;
                }
                c->txoff += (size_t)w;
        }
        (void)dcem_loop_mod_fd(c->t->loop, c->fd, DCEM_EV_READ);
}

static void start_request(tconn *c) {
        tcp *t = c->t;
        treq *q = t->head;
        t->head = q->next;
        if (!t->head)
                t->tail = NULL;
        if (t->ctail == q)
                t->ctail = NULL;
        t->qlen--;
        q->next = NULL;
        c->cur = q;
        c->tid = ++t->next_tid;
        c->txlen = mb_mbap_request(c->tx, c->tid, &q->r);
        c->txoff = 0;
        c->st = C_BUSY;
        if (arm_busy(c, q->r.timeout_ns) < 0) {
                conn_fail(c, -ENOMEM);
                return;
        }
        try_write(c);
}

/* Parse complete frames in rx. */
static void on_data(tconn *c) {
        tcp *t = c->t;
        for (;;) {
                if (c->rxlen < 7)
                        return;
                size_t len = ((size_t)c->rx[4] << 8) | c->rx[5];
                if (len < 2 || len > MBAP_MAX - 6 || c->rx[2] != 0 || c->rx[3] != 0) {
                        conn_fail(c, -EBADMSG);
                        return;
                }
                if (c->rxlen < 6 + len)
                        return;
                uint16_t tid = (uint16_t)((c->rx[0] << 8) | c->rx[1]);
                uint8_t unit = c->rx[6];
                uint8_t frame[MBAP_MAX + 8];
                size_t flen = 6 + len;
                memcpy(frame, c->rx, flen);
                memmove(c->rx, c->rx + flen, c->rxlen - flen);
                c->rxlen -= flen;
                if (c->st != C_BUSY || !c->cur || tid != c->tid)
                        continue; /* not ours (a stale answer): drop it */
                treq *q = c->cur;
                if (unit != q->r.unit) {
                        conn_fail(c, -EBADMSG);
                        return;
                }
                uint16_t regs[MB_MAX_REGS];
                uint8_t bits[MB_MAX_BITS];
                size_t n = 0;
                int exc = 0;
                int r = mb_pdu_parse(frame + 7, len - 1, &q->r, regs, bits, &n, &exc);
                c->cur = NULL; /* the timer stays armed: see arm_busy */
                if (r == -EBADMSG) {
                        /* the stream cannot be trusted any more */
                        conn_close(c);
                } else {
                        c->st = C_IDLE;
                }
                complete(t, q, r, exc, regs, bits, n, true);
                if (t->dead)
                        return;
                dispatch(t);
                if (t->dead || c->st != C_IDLE)
                        return;
        }
}

static void on_fd(dcem_loop *l, int fd, uint32_t ev, void *ud) {
        tconn *c = ud;
        tcp *t = c->t;
        (void)l;
        (void)fd;
        if (c->st == C_CONNECTING) {
                int err = 0;
                socklen_t sl = sizeof err;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                        err = errno;
                if (err == 0 && !(ev & (DCEM_EV_WRITE | DCEM_EV_READ)))
                        err = ECONNREFUSED;
                if (err) {
                        conn_close(c);
                        fail_queue(t, -err);
                        return;
                }
                (void)dcem_loop_mod_fd(t->loop, c->fd, DCEM_EV_READ);
                if (t->o.connect_delay_ns > 0) {
                        c->st = C_DELAY;
                        if (arm(c, t->o.connect_delay_ns) < 0)
                                conn_close(c);
                        return;
                }
                if (c->timer) {
                        (void)dcem_loop_cancel_timer(t->loop, c->timer);
                        c->timer = 0;
                }
                c->st = C_IDLE;
                dispatch(t);
                return;
        }
        if ((ev & DCEM_EV_WRITE) && c->st == C_BUSY)
                try_write(c);
        if (c->fd < 0)
                return;
        if (ev & (DCEM_EV_READ | DCEM_EV_ERROR)) {
                for (;;) {
                        ssize_t r = recv(c->fd, c->rx + c->rxlen, sizeof c->rx - c->rxlen, 0);
                        if (r > 0) {
                                c->rxlen += (size_t)r;
                                on_data(c);
                                if (t->dead || c->fd < 0)
                                        return;
                                continue;
                        }
                        if (r == 0) {
                                conn_fail(c, -ECONNRESET);
                                return;
                        }
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                conn_fail(c, -errno);
                        return;
                }
        }
}

static void on_timer(dcem_loop *l, uint64_t id, void *ud) {
        tconn *c = ud;
        (void)l;
        (void)id;
        c->timer = 0;
        switch (c->st) {
        case C_CONNECTING:
                conn_close(c);
                fail_queue(c->t, -ETIMEDOUT);
                break;
        case C_DELAY:
                c->st = C_IDLE;
                dispatch(c->t);
                break;
        case C_BUSY:
                if (dcem_clock_mono(dcem_loop_clock(c->t->loop)) < c->deadline) {
                        /* armed for an earlier request: wait for this one's deadline */
                        if (arm_at(c, c->deadline) < 0) {
                                conn_fail(c, -ENOMEM);
                                if (!c->t->dead)
                                        dispatch(c->t);
                        }
                        break;
                }
                conn_fail(c, -ETIMEDOUT);
                if (!c->t->dead)
                        dispatch(c->t);
                break;
        default:
                break;
        }
}

static int conn_open(tconn *c) {
        tcp *t = c->t;
        int last = -EHOSTUNREACH;
        for (struct addrinfo *ai = t->ai; ai; ai = ai->ai_next) {
                int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        last = -errno;
                        continue;
                }
                int one = 1;
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
                        last = -errno;
                        close(fd);
                        continue;
                }
                int r = dcem_loop_add_fd(t->loop, fd, DCEM_EV_WRITE, on_fd, c);
                if (r < 0) {
                        close(fd);
                        return r;
                }
                c->fd = fd;
                c->st = C_CONNECTING;
                c->rxlen = 0;
                if (arm(c, t->o.connect_timeout_ns) < 0) {
                        conn_close(c);
                        return -ENOMEM;
                }
                return 0;
        }
        return last;
}

static void dispatch(tcp *t) {
        t->want_dispatch = false;
        while (t->head && !t->dead) {
                tconn *idle = NULL, *closed = NULL;
                bool connecting = false;
                for (unsigned i = 0; i < t->nconns; i++) {
                        tconn *c = &t->conns[i];
                        if (c->st == C_IDLE && !idle)
                                idle = c;
                        else if (c->st == C_CLOSED && !closed)
                                closed = c;
                        else if (c->st == C_CONNECTING || c->st == C_DELAY)
                                connecting = true;
                }
                if (idle) {
                        start_request(idle);
                        continue;
                }
                if (closed && !connecting) {
                        int r = conn_open(closed);
                        if (r < 0)
                                fail_queue(t, r);
                }
                return;
        }
}

static void on_dispatch(dcem_loop *l, uint64_t id, void *ud) {
        tcp *t = ud;
        (void)l;
        (void)id;
        t->dispatch_timer = 0;
        dispatch(t);
}

static int tcp_submit(void *impl, const mb_xfer_req *req, mb_xfer_cb cb, void *ud, uint64_t *ret_id) {
        tcp *t = impl;
        if (!req || !cb || req->fc < 1 || req->fc > 4 || req->count == 0 ||
            req->count > ((req->fc <= 2) ? MB_MAX_BITS : MB_MAX_REGS))
                return -EINVAL;
        if (t->qlen >= t->o.queue_cap)
                return -ENOBUFS;
        treq *q = req_get(t);
        if (!q)
                return -ENOMEM;
        q->id = ++t->next_id;
        q->r = *req;
        q->cb = cb;
        q->ud = ud;
        if (t->depth > 0) {
                /* inside one of our callbacks: dispatched when it returns */
                t->want_dispatch = true;
        } else {
                /* run from the loop, so callbacks never happen inside submit */
                int r = arm_dispatch(t);
                if (r < 0) {
                        req_put(t, q);
                        return r;
                }
        }
        if (req->cont) {
                /* after the continuations already waiting, before fresh polls */
                treq **at = t->ctail ? &t->ctail->next : &t->head;
                q->next = *at;
                *at = q;
                if (!q->next)
                        t->tail = q;
                t->ctail = q;
        } else {
                if (t->tail)
                        t->tail->next = q;
                else
                        t->head = q;
                t->tail = q;
        }
        t->qlen++;
        *ret_id = q->id;
        return 0;
}

static void tcp_cancel(void *impl, uint64_t id) {
        tcp *t = impl;
        for (treq **pp = &t->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
                if ((*pp)->id == id) {
                        treq *q = *pp;
                        *pp = q->next;
                        if (t->tail == q)
                                t->tail = prev;
                        if (t->ctail == q)
                                t->ctail = prev; /* a continuation too, or NULL */
                        t->qlen--;
                        req_put(t, q);
                        return;
                }
        }
        for (unsigned i = 0; i < t->nconns; i++)
                if (t->conns[i].cur && t->conns[i].cur->id == id)
                        t->conns[i].cur->cb = NULL; /* the answer, if any, is dropped */
}

static void tcp_release(void *impl) {
        tcp *t = impl;
        if (t->head)
                return;
        for (unsigned i = 0; i < t->nconns; i++)
                if (t->conns[i].st == C_IDLE || t->conns[i].st == C_DELAY)
                        conn_close(&t->conns[i]);
}

static void tcp_destroy(tcp *t) {
        for (unsigned i = 0; i < t->nconns; i++) {
                tconn *c = &t->conns[i];
                free(c->cur);
                c->cur = NULL;
                conn_close(c);
        }
        while (t->head) {
                treq *n = t->head->next;
                free(t->head);
                t->head = n;
        }
        while (t->spare) {
                treq *n = t->spare->next;
                free(t->spare);
                t->spare = n;
        }
        if (t->dispatch_timer)
                (void)dcem_loop_cancel_timer(t->loop, t->dispatch_timer);
        if (t->ai)
                freeaddrinfo(t->ai);
        free(t);
}

static void tcp_free(void *impl) {
        tcp *t = impl;
        if (!t)
                return;
        /* Requests still queued belong to devices being closed: drop them silently. */
        for (unsigned i = 0; i < t->nconns; i++)
                if (t->conns[i].cur)
                        t->conns[i].cur->cb = NULL;
        for (treq *q = t->head; q; q = q->next)
                q->cb = NULL;
        if (t->depth > 0) {
                t->dead = true; /* not reached in practice: devices close outside callbacks */
                return;
        }
        tcp_destroy(t);
}

int mb_tcp_new(dcem_loop *loop, const mb_addr *a, const mb_transport_opts *o, void **ret, char *errbuf,
               size_t errlen) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
        int r;
        /* numeric first (never blocks), names once at configuration time */
        hints.ai_flags |= AI_NUMERICHOST;
        r = getaddrinfo(a->host, a->port, &hints, &ai);
        if (r != 0) {
                hints.ai_flags &= ~AI_NUMERICHOST;
                r = getaddrinfo(a->host, a->port, &hints, &ai);
        }
        if (r != 0) {
                snprintf(errbuf, errlen, "cannot resolve %s: %s", a->host, gai_strerror(r));
                return -EHOSTUNREACH;
        }
        unsigned nconns = o->max_connections == 0 ? 1 : o->max_connections > TCP_MAX_CONNS ? TCP_MAX_CONNS
                                                                                          : o->max_connections;
        /* Only the slots the cap allows: 2,000 meters with one connection each
         * must not carry 64 slots (19 KB) apiece. */
        tcp *t = calloc(1, sizeof *t + nconns * sizeof(tconn));
        if (!t) {
                freeaddrinfo(ai);
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        t->loop = loop;
        t->ai = ai;
        t->o = *o;
        t->o.max_connections = nconns;
        if (t->o.queue_cap < 1)
                t->o.queue_cap = 1024;
        if (t->o.connect_timeout_ns <= 0)
                t->o.connect_timeout_ns = 3 * DCEM_NS_PER_S;
        t->nconns = t->o.max_connections;
        for (unsigned i = 0; i < t->nconns; i++) {
                t->conns[i].t = t;
                t->conns[i].fd = -1;
        }
        *ret = t;
        return 0;
}

const mb_transport_ops mb_tcp_ops = {
        .name = "tcp",
        .submit = tcp_submit,
        .cancel = tcp_cancel,
        .release = tcp_release,
        .free = tcp_free,
};
