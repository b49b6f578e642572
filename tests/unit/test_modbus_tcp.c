/* test_modbus_tcp.c - the Modbus TCP transport's queue order, against a
 * small Modbus server living on the same event loop (127.0.0.1, a free
 * port). The server records the order in which requests reach it and
 * answers each read with registers equal to their addresses, so the test
 * also checks every answer lands with its own request.
 *
 * What is proven: with one connection, a request marked `cont` (its poll is
 * under way) is served before requests of polls not started yet, after the
 * continuations already waiting; fresh requests stay first in, first out; a
 * cancelled continuation leaves the queue consistent; each request times
 * out at its own deadline, although the connection's timer is re-armed
 * lazily (it stays armed across answers). Requests for registers 500..599
 * are answered 60 ms late, from 900 never. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "dcem/clock.h"
#include "dcem/loop.h"
#include "modbus/mb.h"
#include "modbus/transport.h"

#define MAXREQ 32

typedef struct server {
        dcem_loop *loop;
        int lfd, cfd;
        uint8_t buf[512];
        size_t len;
        uint16_t order[MAXREQ]; /* start addresses, in arrival order */
        size_t n;
        uint8_t late[7 + 2 + 2 * MB_MAX_REGS]; /* an answer sent 60 ms late (starts 500..599) */
        size_t late_len;
} server;

static void srv_late(dcem_loop *l, uint64_t id, void *ud) {
        server *s = ud;
        (void)l;
        (void)id;
        assert_int_equal(send(s->cfd, s->late, s->late_len, MSG_NOSIGNAL), (ssize_t)s->late_len);
        s->late_len = 0;
}

static void srv_read(dcem_loop *l, int fd, uint32_t ev, void *ud) {
        server *s = ud;
        (void)l;
        (void)ev;
        ssize_t r = recv(fd, s->buf + s->len, sizeof s->buf - s->len, 0);
        if (r <= 0) {
                dcem_loop_del_fd(s->loop, fd);
                return;
        }
        s->len += (size_t)r;
        while (s->len >= 12) {
                const uint8_t *q = s->buf;
                uint16_t start = (uint16_t)((q[8] << 8) | q[9]), count = (uint16_t)((q[10] << 8) | q[11]);
                uint8_t out[7 + 2 + 2 * MB_MAX_REGS];
                size_t pdu = 2 + 2u * count;
                assert_true(count >= 1 && count <= MB_MAX_REGS);
                memcpy(out, q, 4); /* transaction and protocol ids */
                out[4] = (uint8_t)((pdu + 1) >> 8);
                out[5] = (uint8_t)(pdu + 1);
                out[6] = q[6]; /* unit */
                out[7] = q[7]; /* function */
                out[8] = (uint8_t)(2 * count);
                for (uint16_t i = 0; i < count; i++) {
                        out[9 + 2 * i] = (uint8_t)((start + i) >> 8);
                        out[10 + 2 * i] = (uint8_t)(start + i);
                }
                if (s->n < MAXREQ)
                        s->order[s->n++] = start;
                if (start >= 500 && start < 600) {
                        uint64_t tid;
                        assert_int_equal(s->late_len, 0);
                        memcpy(s->late, out, 7 + pdu);
                        s->late_len = 7 + pdu;
                        assert_int_equal(dcem_loop_add_timer(s->loop, dcem_clock_mono(&dcem_clock_system) +
                                                                              60 * DCEM_NS_PER_MS,
                                                             srv_late, s, &tid),
                                         0);
                } else if (start < 900) {
                        assert_int_equal(send(fd, out, 7 + pdu, MSG_NOSIGNAL), (ssize_t)(7 + pdu));
                }
                memmove(s->buf, s->buf + 12, s->len - 12);
                s->len -= 12;
        }
}

static void srv_accept(dcem_loop *l, int fd, uint32_t ev, void *ud) {
        server *s = ud;
        (void)ev;
        int c = accept(fd, NULL, NULL);
        assert_true(c >= 0);
        s->cfd = c;
        assert_int_equal(dcem_loop_add_fd(l, c, DCEM_EV_READ, srv_read, s), 0);
}

static void srv_start(server *s, dcem_loop *l, char port[8]) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof a;
        memset(s, 0, sizeof *s);
        s->loop = l;
        s->cfd = -1;
        s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->lfd >= 0);
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(listen(s->lfd, 4), 0);
        assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
        snprintf(port, 8, "%u", (unsigned)ntohs(a.sin_port));
        assert_int_equal(dcem_loop_add_fd(l, s->lfd, DCEM_EV_READ, srv_accept, s), 0);
}

static void srv_stop(server *s) {
        if (s->cfd >= 0) {
                dcem_loop_del_fd(s->loop, s->cfd);
                close(s->cfd);
        }
        dcem_loop_del_fd(s->loop, s->lfd);
        close(s->lfd);
}

/* One client request; on its answer it may submit its poll's next one. */
typedef struct req {
        void *impl;
        uint16_t start;
        int status;
        bool done;
        uint16_t first_reg;
        struct req *then; /* submitted from this one's callback */
        bool then_cont;
        uint64_t id;
        int64_t timeout_ns;  /* 0: 2 s */
        int64_t sent_ns, done_ns;
} req;

static int submit(req *r, bool cont);

static void on_answer(void *ud, int status, int exc, const uint16_t *regs, const uint8_t *bits, size_t n) {
        req *r = ud;
        (void)exc;
        (void)bits;
        r->status = status;
        r->done = true;
        r->done_ns = dcem_clock_mono(&dcem_clock_system);
        if (status == 0 && n > 0)
                r->first_reg = regs[0];
        if (r->then)
                assert_int_equal(submit(r->then, r->then_cont), 0);
}

static int submit(req *r, bool cont) {
        mb_xfer_req x = { .unit = 1, .fc = MB_FC_HOLDING, .start = r->start, .count = 2,
                          .timeout_ns = r->timeout_ns ? r->timeout_ns : 2 * DCEM_NS_PER_S, .cont = cont };
        r->sent_ns = dcem_clock_mono(&dcem_clock_system);
        return mb_tcp_ops.submit(r->impl, &x, on_answer, r, &r->id);
}

static void *client(dcem_loop *l, const char *port) {
        mb_addr a = { .kind = MB_ADDR_TCP, .host = "127.0.0.1" };
        mb_transport_opts o = { .connect_timeout_ns = DCEM_NS_PER_S, .max_connections = 1, .queue_cap = 64 };
        char err[128];
        void *impl = NULL;
        snprintf(a.port, sizeof a.port, "%s", port);
        assert_int_equal(mb_tcp_new(l, &a, &o, &impl, err, sizeof err), 0);
        return impl;
}

static void run_until(dcem_loop *l, req **rs, size_t n) {
        int64_t end = dcem_clock_mono(&dcem_clock_system) + 5 * DCEM_NS_PER_S;
        for (;;) {
                bool all = true;
                for (size_t i = 0; i < n; i++)
                        all = all && rs[i]->done;
                if (all)
                        return;
                assert_true(dcem_clock_mono(&dcem_clock_system) < end);
                assert_true(dcem_loop_run_once(l, 100 * DCEM_NS_PER_MS) >= 0);
        }
}

/* A1 answered -> A2 (cont) goes before B1 and C1, queued earlier. A1's
 * answer -> A2; A2's answer -> A3 (cont) still before B1. */
static void test_continuation_first(void **st) {
        (void)st;
        dcem_loop *l;
        server s;
        char port[8];
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        srv_start(&s, l, port);
        void *impl = client(l, port);
        req a3 = { .impl = impl, .start = 102 }, a2 = { .impl = impl, .start = 101, .then = &a3, .then_cont = true };
        req a1 = { .impl = impl, .start = 100, .then = &a2, .then_cont = true };
        req b1 = { .impl = impl, .start = 200 }, c1 = { .impl = impl, .start = 300 };
        assert_int_equal(submit(&a1, false), 0);
        assert_int_equal(submit(&b1, false), 0);
        assert_int_equal(submit(&c1, false), 0);
        req *all[] = { &a1, &a2, &a3, &b1, &c1 };
        run_until(l, all, 5);
        const uint16_t want[] = { 100, 101, 102, 200, 300 };
        assert_int_equal(s.n, 5);
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(s.order[i], want[i]);
                assert_int_equal(all[i]->status, 0);
                assert_int_equal(all[i]->first_reg, all[i]->start); /* its own answer */
        }
        mb_tcp_ops.free(impl);
        srv_stop(&s);
        dcem_loop_free(l);
}

/* Without the mark, the same sequence is first in, first out. */
static void test_fresh_requests_fifo(void **st) {
        (void)st;
        dcem_loop *l;
        server s;
        char port[8];
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        srv_start(&s, l, port);
        void *impl = client(l, port);
        req a2 = { .impl = impl, .start = 101 }, a1 = { .impl = impl, .start = 100, .then = &a2, .then_cont = false };
        req b1 = { .impl = impl, .start = 200 }, c1 = { .impl = impl, .start = 300 };
        assert_int_equal(submit(&a1, false), 0);
        assert_int_equal(submit(&b1, false), 0);
        assert_int_equal(submit(&c1, false), 0);
        req *all[] = { &a1, &a2, &b1, &c1 };
        run_until(l, all, 4);
        const uint16_t want[] = { 100, 200, 300, 101 };
        assert_int_equal(s.n, 4);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(s.order[i], want[i]);
        mb_tcp_ops.free(impl);
        srv_stop(&s);
        dcem_loop_free(l);
}

/* Continuations queued while the connection is busy keep their own order;
 * cancelling the last one leaves the rest (and the fresh tail) intact. */
static void test_cancel_continuation(void **st) {
        (void)st;
        dcem_loop *l;
        server s;
        char port[8];
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        srv_start(&s, l, port);
        void *impl = client(l, port);
        req f1 = { .impl = impl, .start = 10 }, f2 = { .impl = impl, .start = 20 };
        req k1 = { .impl = impl, .start = 30 }, k2 = { .impl = impl, .start = 40 }, k3 = { .impl = impl, .start = 50 };
        req f3 = { .impl = impl, .start = 60 };
        assert_int_equal(submit(&f1, false), 0); /* goes out first (the connection is idle once open) */
        assert_int_equal(submit(&f2, false), 0);
        assert_int_equal(submit(&k1, true), 0);
        assert_int_equal(submit(&k2, true), 0);
        assert_int_equal(submit(&k3, true), 0);
        mb_tcp_ops.cancel(impl, k3.id); /* the last continuation */
        assert_int_equal(submit(&f3, false), 0);
        k3.done = true;
        req *all[] = { &f1, &f2, &k1, &k2, &k3, &f3 };
        run_until(l, all, 6);
        /* nothing was on the wire when they were queued: continuations first */
        const uint16_t want[] = { 30, 40, 10, 20, 60 };
        assert_int_equal(s.n, 5);
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(s.order[i], want[i]);
        mb_tcp_ops.free(impl);
        srv_stop(&s);
        dcem_loop_free(l);
}

/* The lazy timeout timer: it stays armed across answers. A request with an
 * earlier deadline than the armed timer moves it (a 0.3 s request after a
 * 2 s one times out after 0.3 s); a request whose deadline is later than
 * the armed timer is not failed when that timer fires (0.5 s after a 0.4 s
 * one: not before 0.5 s). An answered request is never failed by it. */
static void test_lazy_timeouts(void **st) {
        (void)st;
        dcem_loop *l;
        server s;
        char port[8];
        assert_int_equal(dcem_loop_new(&dcem_clock_system, &l), 0);
        srv_start(&s, l, port);
        void *impl = client(l, port);
        /* a (2 s, answered) then b (0.3 s, silent), chained so b starts right after a */
        req b = { .impl = impl, .start = 900, .timeout_ns = 300 * DCEM_NS_PER_MS };
        req a = { .impl = impl, .start = 100, .then = &b, .then_cont = true };
        assert_int_equal(submit(&a, false), 0);
        req *ab[] = { &a, &b };
        run_until(l, ab, 2);
        assert_int_equal(a.status, 0);
        assert_int_equal(b.status, -ETIMEDOUT);
        int64_t waited = b.done_ns - b.sent_ns;
        assert_true(waited >= 280 * DCEM_NS_PER_MS);
        assert_true(waited < 1500 * DCEM_NS_PER_MS); /* not a's 2 s */
        /* c (0.4 s, answered) then d (0.5 s, silent): the timer armed for c fires
         * first and must not fail d */
        req d = { .impl = impl, .start = 901, .timeout_ns = 500 * DCEM_NS_PER_MS };
        req c = { .impl = impl, .start = 101, .timeout_ns = 400 * DCEM_NS_PER_MS, .then = &d, .then_cont = true };
        assert_int_equal(submit(&c, false), 0);
        req *cd[] = { &c, &d };
        run_until(l, cd, 2);
        assert_int_equal(c.status, 0);
        assert_int_equal(c.first_reg, 101);
        assert_int_equal(d.status, -ETIMEDOUT);
        waited = d.done_ns - d.sent_ns;
        assert_true(waited >= 480 * DCEM_NS_PER_MS);
        assert_true(waited < 1500 * DCEM_NS_PER_MS);
        /* 12 requests in a row, each answered after 60 ms with a timeout of
         * 150 ms: 720 ms in all, so the timer armed for an earlier request
         * fires while a later one is in flight: it is re-armed, nobody fails */
        req chain[12];
        for (int i = 11; i >= 0; i--)
                chain[i] = (req){ .impl = impl, .start = (uint16_t)(500 + i), .timeout_ns = 150 * DCEM_NS_PER_MS,
                                  .then = i < 11 ? &chain[i + 1] : NULL, .then_cont = true };
        int64_t t0 = dcem_clock_mono(&dcem_clock_system);
        assert_int_equal(submit(&chain[0], false), 0);
        req *all[12];
        for (int i = 0; i < 12; i++)
                all[i] = &chain[i];
        run_until(l, all, 12);
        assert_true(chain[11].done_ns - t0 >= 12 * 60 * DCEM_NS_PER_MS);
        for (int i = 0; i < 12; i++) {
                assert_int_equal(chain[i].status, 0);
                assert_int_equal(chain[i].first_reg, chain[i].start);
        }
        mb_tcp_ops.free(impl);
        srv_stop(&s);
        dcem_loop_free(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_continuation_first),
                cmocka_unit_test(test_fresh_requests_fifo),
                cmocka_unit_test(test_cancel_continuation),
                cmocka_unit_test(test_lazy_timeouts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
