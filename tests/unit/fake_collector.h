/* fake_collector.h - a scriptable collector behind the real seam, for tests.
 *
 * Each fake device follows a script of steps, one step per poll (the last
 * step repeats; no step at all = answer at once without samples):
 *   FAKE_ANSWER  add the step's samples and finish with status 0 inside poll()
 *   FAKE_DELAY   the same after delay_ns, from a loop timer (status/err of the
 *                step if status != 0, so a slow failure can be scripted too)
 *   FAKE_FAIL    add the step's samples, finish with status (default -EIO) and
 *                err inside poll(), or after delay_ns if it is > 0
 *   FAKE_HANG    never answer; only a cancel ends it
 *   FAKE_REFUSE  poll() returns status (default -ECONNREFUSED), no done
 * It records every poll started (times, slot, deadline) and every cancel, so
 * tests assert on what the core did.
 */
#ifndef DCEM_FAKE_COLLECTOR_H
#define DCEM_FAKE_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include "dcem/collector.h"
#include "dcem/loop.h"

#define FAKE_MAX_SAMPLES 8
#define FAKE_MAX_STEPS 64
#define FAKE_LOG_MAX 4096

typedef enum fake_behaviour {
        FAKE_ANSWER = 0,
        FAKE_DELAY,
        FAKE_FAIL,
        FAKE_HANG,
        FAKE_REFUSE,
} fake_behaviour;

typedef struct fake_sample {
        const char *point; /* borrowed: keep it alive while the script is used */
        double value;
        const char *unit;
        dcem_quality quality;
        dcem_kind kind;
} fake_sample;

typedef struct fake_step {
        fake_behaviour what;
        int64_t delay_ns;
        int status;      /* FAKE_FAIL / FAKE_REFUSE / FAKE_DELAY; 0 = the default */
        const char *err; /* FAKE_FAIL / FAKE_DELAY error text (borrowed) */
        size_t n;
        fake_sample samples[FAKE_MAX_SAMPLES];
} fake_step;

typedef struct fake_call {
        int64_t start_mono; /* clock times when poll() was called */
        int64_t start_utc;
        int64_t slot_utc;   /* dcem_poll_slot_utc */
        int64_t deadline;   /* dcem_poll_deadline */
} fake_call;

typedef struct fake_device {
        dcem_loop *loop;
        fake_step steps[FAKE_MAX_STEPS];
        size_t nsteps;
        size_t step_index;   /* polls since the script was last reset */
        /* Records: */
        unsigned polls;      /* poll() calls */
        unsigned cancels;    /* cancel() calls */
        unsigned answered;   /* dcem_poll_done calls made */
        unsigned overlaps;   /* poll() while one was pending: a core bug */
        unsigned bad_cancels;/* cancel() of a poll that was not pending: a core bug */
        int add_errors;      /* dcem_poll_add failures seen */
        int last_add_rc;
        fake_call calls[FAKE_LOG_MAX]; /* the first FAKE_LOG_MAX polls */
        size_t ncalls;
        /* The poll pending (FAKE_DELAY, delayed FAKE_FAIL, FAKE_HANG): */
        dcem_poll *pending;
        uint64_t timer;
        const fake_step *pending_step;
} fake_device;

extern const dcem_collector_ops fake_collector_ops;

/* A fake device on loop (its delays are loop timers). 0 or -ENOMEM. */
int fake_device_new(dcem_loop *loop, fake_device **ret);
/* Frees it; a pending timer is cancelled. Accepts NULL. */
void fake_device_free(fake_device *fd);
/* Append a step (copied; strings borrowed). 0 or -ENOSPC. */
int fake_device_push(fake_device *fd, const fake_step *step);
/* Forget the script; the next poll uses the next pushed step 0. */
void fake_device_reset(fake_device *fd);

#endif
