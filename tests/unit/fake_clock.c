/* fake_clock.c - a settable dcem_clock for tests (see fake_clock.h). */
#include "fake_clock.h"

static int64_t fake_mono(void *ud)
{
        return ((const fake_clock *)ud)->mono_ns;
}

static int64_t fake_utc(void *ud)
{
        return ((const fake_clock *)ud)->utc_ns;
}

static const dcem_clock_ops fake_ops = {
        .mono_ns = fake_mono,
        .utc_ns = fake_utc,
};

void fake_clock_init(fake_clock *fc, int64_t mono_ns, int64_t utc_ns)
{
        fc->mono_ns = mono_ns;
        fc->utc_ns = utc_ns;
        fc->clock.ops = &fake_ops;
        fc->clock.ud = fc;
}

void fake_clock_advance(fake_clock *fc, int64_t ns)
{
        if (ns < 0)
                ns = 0; /* monotonic time never goes back */
        fc->mono_ns += ns;
        fc->utc_ns += ns;
}

void fake_clock_step_utc(fake_clock *fc, int64_t delta_ns)
{
        fc->utc_ns += delta_ns;
}
