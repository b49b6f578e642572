/* fake_clock.h - a settable dcem_clock for tests.
 *
 * Monotonic and UTC time advance together with fake_clock_advance(); the wall
 * clock alone can be stepped (fake_clock_step_utc) to simulate an NTP step or
 * an operator changing the time. fake_clock_run_until drives a dcem_loop on
 * this clock: it jumps the clock from timer to timer and runs each due batch
 * with dcem_loop_run_once(l, 0), never sleeping.
 */
#ifndef DCEM_FAKE_CLOCK_H
#define DCEM_FAKE_CLOCK_H

#include <stdint.h>
#include "dcem/clock.h"
#include "dcem/loop.h"

typedef struct fake_clock {
        int64_t mono_ns;
        int64_t utc_ns;
        dcem_clock clock; /* pass &fc->clock to whatever takes a dcem_clock */
} fake_clock;

/* Start at the given times. */
void fake_clock_init(fake_clock *fc, int64_t mono_ns, int64_t utc_ns);
/* Advance both clocks by ns (>= 0). */
void fake_clock_advance(fake_clock *fc, int64_t ns);
/* Step the wall clock alone by delta_ns (either sign); monotonic time stays. */
void fake_clock_step_utc(fake_clock *fc, int64_t delta_ns);

/* Run l (on fc) until monotonic time until_ns: repeatedly advance the clock to
 * the next timer (not past until_ns) and run what is due. Ends with the clock
 * at until_ns. Returns the number of callbacks run, or -errno. Timers that a
 * callback adds in the past are run too (the loop runs them on its next turn). */
static inline int fake_clock_run_until(fake_clock *fc, dcem_loop *l, int64_t until_ns)
{
        int total = 0;

        for (;;) {
                int64_t next = dcem_loop_next_timer(l);
                int r;

                if (next > until_ns)
                        break;
                if (next > fc->mono_ns)
                        fake_clock_advance(fc, next - fc->mono_ns);
                r = dcem_loop_run_once(l, 0);
                if (r < 0)
                        return r;
                total += r;
        }
        if (until_ns > fc->mono_ns)
                fake_clock_advance(fc, until_ns - fc->mono_ns);
        return total;
}

#endif
