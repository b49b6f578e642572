/* rtu.c - Modbus RTU transport: libmodbus in one worker thread per serial
 * port, completing through an eventfd watched by the loop.
 *
 * libmodbus does RTU framing, CRC, serial settings and RS-485 mode well; its
 * calls block, so they run in a thread that owns the port: devices on the
 * same bus are polled strictly in turn, with a configurable silence
 * (inter_frame_delay) between transactions, never concurrently. Requests and
 * answers cross the thread boundary through two bounded lists under one
 * mutex; the loop thread alone calls the callbacks. The port is opened when
 * the transport is created (configuration time, a low fd: libmodbus's
 * select() cannot wait on fds >= 1024), and reopened by the worker after an
 * I/O error.
 */
#include <errno.h>
#include <modbus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "modbus/mb.h"
#include "modbus/transport.h"

typedef struct rreq {
        uint64_t id;
        mb_xfer_req r;
        mb_xfer_cb cb;   /* NULL once cancelled */
        void *ud;
        int status, exc;
        size_t n;
        uint16_t regs[MB_MAX_REGS];
        uint8_t bits[MB_MAX_BITS];
        struct rreq *next;
} rreq;

typedef struct rtu {
        dcem_loop *loop;
        mb_addr addr;
        mb_transport_opts o;
        modbus_t *ctx;
        bool connected;
        pthread_t th;
        bool th_started;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        rreq *in_head, *in_tail;
        size_t qlen;
        rreq *cur;
        rreq *done_head, *done_tail;
        int evfd;
        bool stop;
        uint64_t next_id;
} rtu;

/* Worker side: (re)open the port. 0 or -errno. */
static int rtu_open(rtu *t) {
        if (t->connected)
                return 0;
        if (modbus_connect(t->ctx) < 0)
                return -errno;
        if (t->addr.rs485 && modbus_rtu_set_serial_mode(t->ctx, MODBUS_RTU_RS485) < 0) {
                int e = -errno;
                modbus_close(t->ctx);
                return e;
        }
        t->connected = true;
        return 0;
}

static void do_request(rtu *t, rreq *q) {
        int r = rtu_open(t);
        if (r < 0) {
                q->status = r;
                return;
        }
        int64_t to = q->r.timeout_ns > 0 ? q->r.timeout_ns : DCEM_NS_PER_S;
        (void)modbus_set_response_timeout(t->ctx, (uint32_t)(to / DCEM_NS_PER_S),
                                          (uint32_t)((to % DCEM_NS_PER_S) / 1000));
        (void)modbus_set_slave(t->ctx, q->r.unit);
        switch (q->r.fc) {
        case MB_FC_COIL: r = modbus_read_bits(t->ctx, q->r.start, q->r.count, q->bits); break;
        case MB_FC_DISCRETE: r = modbus_read_input_bits(t->ctx, q->r.start, q->r.count, q->bits); break;
        case MB_FC_HOLDING: r = modbus_read_registers(t->ctx, q->r.start, q->r.count, q->regs); break;
        default: r = modbus_read_input_registers(t->ctx, q->r.start, q->r.count, q->regs); break;
        }
        if (r == (int)q->r.count) {
                q->status = 0;
                q->n = (size_t)r;
                return;
        }
        int e = r < 0 ? errno : EBADMSG;
        if (e > MODBUS_ENOBASE && e < EMBXGTAR + 1) {
                q->status = -EPROTO;
                q->exc = e - MODBUS_ENOBASE;
                return;
        }
        if (e == EMBBADCRC || e == EMBBADDATA || e == EMBBADSLAVE || e == EMBBADEXC || e == EMBMDATA ||
            e == EBADMSG)
                q->status = -EBADMSG;
        else if (e == ETIMEDOUT)
                q->status = -ETIMEDOUT;
        else {
                q->status = -(e > 0 && e < MODBUS_ENOBASE ? e : EIO);
                modbus_close(t->ctx); /* an I/O error: reopen for the next request */
                t->connected = false;
                return;
        }
        (void)modbus_flush(t->ctx); /* drop what is left of a bad frame */
}

static void *worker(void *arg) {
        rtu *t = arg;
        pthread_mutex_lock(&t->mu);
        for (;;) {
                while (!t->stop && !t->in_head)
                        pthread_cond_wait(&t->cv, &t->mu);
                if (t->stop)
                        break;
                rreq *q = t->in_head;
                t->in_head = q->next;
                if (!t->in_head)
                        t->in_tail = NULL;
                t->qlen--;
                q->next = NULL;
                t->cur = q;
                pthread_mutex_unlock(&t->mu);

                do_request(t, q);

                pthread_mutex_lock(&t->mu);
                t->cur = NULL;
                if (t->done_tail)
                        t->done_tail->next = q;
                else
                        t->done_head = q;
                t->done_tail = q;
                pthread_mutex_unlock(&t->mu);
                uint64_t one = 1;
                ssize_t w = write(t->evfd, &one, sizeof one);
                (void)w; /* a full eventfd counter still wakes the loop */
                if (t->o.inter_frame_ns > 0) {
                        struct timespec ts = { .tv_sec = (time_t)(t->o.inter_frame_ns / DCEM_NS_PER_S),
                                               .tv_nsec = (long)(t->o.inter_frame_ns % DCEM_NS_PER_S) };
                        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                                ;
                }
                pthread_mutex_lock(&t->mu);
        }
        pthread_mutex_unlock(&t->mu);
        return NULL;
}

/* Loop side: hand finished requests to their callbacks. */
static void on_event(dcem_loop *l, int fd, uint32_t ev, void *ud) {
        rtu *t = ud;
        uint64_t v;
        (void)l;
        (void)ev;
        ssize_t r = read(fd, &v, sizeof v);
        (void)r;
        pthread_mutex_lock(&t->mu);
        rreq *q = t->done_head;
        t->done_head = t->done_tail = NULL;
        pthread_mutex_unlock(&t->mu);
        while (q) {
                rreq *n = q->next;
                pthread_mutex_lock(&t->mu);
                mb_xfer_cb cb = q->cb;
                pthread_mutex_unlock(&t->mu);
                if (cb)
                        cb(q->ud, q->status, q->exc, q->regs, q->bits, q->n);
                free(q);
                q = n;
        }
}

static int rtu_submit(void *impl, const mb_xfer_req *req, mb_xfer_cb cb, void *ud, uint64_t *ret_id) {
        rtu *t = impl;
        if (!req || !cb || req->fc < 1 || req->fc > 4 || req->count == 0 ||
            req->count > ((req->fc <= 2) ? MB_MAX_BITS : MB_MAX_REGS))
                return -EINVAL;
        rreq *q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        q->r = *req;
        q->cb = cb;
        q->ud = ud;
        pthread_mutex_lock(&t->mu);
        if (t->qlen >= t->o.queue_cap) {
                pthread_mutex_unlock(&t->mu);
                free(q);
                return -ENOBUFS;
        }
        q->id = ++t->next_id;
        if (t->in_tail)
                t->in_tail->next = q;
        else
                t->in_head = q;
        t->in_tail = q;
        t->qlen++;
        *ret_id = q->id;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        return 0;
}

static void rtu_cancel(void *impl, uint64_t id) {
        rtu *t = impl;
        pthread_mutex_lock(&t->mu);
        for (rreq **pp = &t->in_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
                if ((*pp)->id == id) {
                        rreq *q = *pp;
                        *pp = q->next;
                        if (t->in_tail == q)
                                t->in_tail = prev;
                        t->qlen--;
                        free(q);
                        pthread_mutex_unlock(&t->mu);
                        return;
                }
        }
        if (t->cur && t->cur->id == id)
                t->cur->cb = NULL;
        for (rreq *q = t->done_head; q; q = q->next)
                if (q->id == id)
                        q->cb = NULL;
        pthread_mutex_unlock(&t->mu);
}

static void rtu_release(void *impl) {
        (void)impl; /* a serial line has no connection to give up */
}

static void rtu_free(void *impl) {
        rtu *t = impl;
        if (!t)
                return;
        if (t->th_started) {
                pthread_mutex_lock(&t->mu);
                t->stop = true;
                pthread_cond_signal(&t->cv);
                pthread_mutex_unlock(&t->mu);
                pthread_join(t->th, NULL);
        }
        for (rreq *q = t->in_head, *n; q; q = n) {
                n = q->next;
                free(q);
        }
        for (rreq *q = t->done_head, *n; q; q = n) {
                n = q->next;
                free(q);
        }
        if (t->evfd >= 0) {
                (void)dcem_loop_del_fd(t->loop, t->evfd);
                close(t->evfd);
        }
        if (t->ctx) {
                if (t->connected)
                        modbus_close(t->ctx);
                modbus_free(t->ctx);
        }
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        free(t);
}

int mb_rtu_new(dcem_loop *loop, const mb_addr *a, const mb_transport_opts *o, void **ret, char *errbuf,
               size_t errlen) {
        rtu *t = calloc(1, sizeof *t);
        int r;
        if (!t) {
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        t->loop = loop;
        t->addr = *a;
        t->o = *o;
        if (t->o.queue_cap < 1)
                t->o.queue_cap = 1024;
        t->evfd = -1;
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
        t->ctx = modbus_new_rtu(a->device, a->baud, a->parity, a->data_bits, a->stop_bits);
        if (!t->ctx) {
                r = -errno ? -errno : -EINVAL;
                snprintf(errbuf, errlen, "%s: cannot set up the serial port: %s", a->device, modbus_strerror(errno));
                goto fail;
        }
        t->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (t->evfd < 0) {
                r = -errno;
                snprintf(errbuf, errlen, "eventfd: %s", strerror(errno));
                goto fail;
        }
        r = dcem_loop_add_fd(loop, t->evfd, DCEM_EV_READ, on_event, t);
        if (r < 0) {
                snprintf(errbuf, errlen, "cannot watch the eventfd: %s", strerror(-r));
                goto fail;
        }
        /* Open now, at configuration time (low fd); a missing port is retried
         * by the worker at each request and reported per poll. */
        (void)rtu_open(t);
        r = pthread_create(&t->th, NULL, worker, t);
        if (r != 0) {
                r = -r;
                snprintf(errbuf, errlen, "cannot start the serial worker: %s", strerror(-r));
                goto fail;
        }
        t->th_started = true;
        *ret = t;
        return 0;
fail:
        rtu_free(t);
        return r;
}

const mb_transport_ops mb_rtu_ops = {
        .name = "rtu",
        .submit = rtu_submit,
        .cancel = rtu_cancel,
        .release = rtu_release,
        .free = rtu_free,
};
