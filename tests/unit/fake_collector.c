/* fake_collector.c - a scriptable collector for tests (see fake_collector.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_collector.h"

int fake_device_new(dcem_loop *loop, fake_device **ret)
{
        fake_device *fd = calloc(1, sizeof(*fd));

        if (!fd)
                return -ENOMEM;
        fd->loop = loop;
        *ret = fd;
        return 0;
}

void fake_device_free(fake_device *fd)
{
        if (!fd)
                return;
        if (fd->timer)
                (void)dcem_loop_cancel_timer(fd->loop, fd->timer);
        free(fd);
}

int fake_device_push(fake_device *fd, const fake_step *step)
{
        if (fd->nsteps >= FAKE_MAX_STEPS || step->n > FAKE_MAX_SAMPLES)
                return -ENOSPC;
        fd->steps[fd->nsteps++] = *step;
        return 0;
}

void fake_device_reset(fake_device *fd)
{
        fd->nsteps = 0;
        fd->step_index = 0;
}

static const fake_step default_step = { .what = FAKE_ANSWER };

static const fake_step *next_step(fake_device *fd)
{
        const fake_step *st;

        if (fd->nsteps == 0)
                return &default_step;
        st = &fd->steps[fd->step_index < fd->nsteps ? fd->step_index : fd->nsteps - 1];
        fd->step_index++;
        return st;
}

static void add_samples(fake_device *fd, dcem_poll *p, const fake_step *st)
{
        size_t i;

        for (i = 0; i < st->n; i++) {
                const fake_sample *s = &st->samples[i];
                int r = dcem_poll_add(p, s->point, s->value, s->unit, s->quality, s->kind);

                fd->last_add_rc = r;
                if (r < 0)
                        fd->add_errors++;
        }
}

static void answer(fake_device *fd, dcem_poll *p, const fake_step *st)
{
        int status = 0;

        add_samples(fd, p, st);
        if (st->what == FAKE_FAIL)
                status = st->status ? st->status : -EIO;
        else if (st->what == FAKE_DELAY)
                status = st->status;
        fd->answered++;
        dcem_poll_done(p, status, status ? st->err : NULL);
}

static void delay_fired(dcem_loop *l, uint64_t id, void *ud)
{
        fake_device *fd = ud;
        dcem_poll *p = fd->pending;
        const fake_step *st = fd->pending_step;

        (void)l;
        (void)id;
        fd->timer = 0;
        fd->pending = NULL;
        fd->pending_step = NULL;
        if (p)
                answer(fd, p, st);
}

static int fake_init(const dcem_collector_env *env, const struct dcem_device_conf *dev, const void *conf,
                     void **ret_state, char *errbuf, size_t errlen)
{
        fake_device *fd;
        int r;

        (void)dev;
        (void)conf;
        r = fake_device_new(env->loop, &fd);
        if (r < 0) {
                if (errbuf && errlen)
                        errbuf[0] = '\0';
                return r;
        }
        *ret_state = fd;
        return 0;
}

static int fake_poll(void *state, dcem_poll *p)
{
        fake_device *fd = state;
        const dcem_clock *c = dcem_loop_clock(fd->loop);
        const fake_step *st = next_step(fd);

        fd->polls++;
        if (fd->ncalls < FAKE_LOG_MAX) {
                fake_call *call = &fd->calls[fd->ncalls++];

                call->start_mono = dcem_clock_mono(c);
                call->start_utc = dcem_clock_utc(c);
                call->slot_utc = dcem_poll_slot_utc(p);
                call->deadline = dcem_poll_deadline(p);
        }
        if (fd->pending)
                fd->overlaps++;
        switch (st->what) {
        case FAKE_ANSWER:
                answer(fd, p, st);
                return 0;
        case FAKE_FAIL:
                if (st->delay_ns <= 0) {
                        answer(fd, p, st);
                        return 0;
                }
                __attribute__((fallthrough)); /* a delayed failure */
        case FAKE_DELAY: {
                int r = dcem_loop_add_timer(fd->loop, dcem_clock_mono(c) + st->delay_ns, delay_fired, fd, &fd->timer);

                if (r < 0)
                        return r;
                fd->pending = p;
                fd->pending_step = st;
                return 0;
        }
        case FAKE_HANG:
                fd->pending = p;
                fd->pending_step = st;
                return 0;
        case FAKE_REFUSE:
        default:
                return st->status ? st->status : -ECONNREFUSED;
        }
}

static void fake_cancel(void *state, dcem_poll *p)
{
        fake_device *fd = state;

        fd->cancels++;
        if (fd->pending != p) {
                fd->bad_cancels++;
                return;
        }
        if (fd->timer)
                (void)dcem_loop_cancel_timer(fd->loop, fd->timer);
        fd->timer = 0;
        fd->pending = NULL;
        fd->pending_step = NULL;
}

static void fake_close(void *state)
{
        fake_device_free(state);
}

const dcem_collector_ops fake_collector_ops = {
        .name = "fake",
        .schema = NULL,
        .check = NULL,
        .init = fake_init,
        .poll = fake_poll,
        .cancel = fake_cancel,
        .close = fake_close,
};
