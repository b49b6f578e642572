/* poll_text.c - text samples from collectors: dcem_poll_add_text.
 *
 * A collector adds numbers with dcem_poll_add (agent/sched.c), which builds
 * the sample and appends it with dcem_batch_add (agent/sample.c). A text
 * sample (a meter's model or serial number, DCEM_KIND_TEXT) is the same
 * sample with a value of NaN and the text inline: rather than a second copy
 * of dcem_poll_add's checks, this file hands the text to dcem_batch_add
 * (dcem_sample_pending_text) around one dcem_poll_add call, so the poll's
 * rules (finished or cancelled polls, name limits, the device's name and
 * time stamp) are exactly those of numbers. The natural home of this
 * function is beside dcem_poll_add in agent/sched.c; it lives here until
 * that file grows it.
 */
#include <errno.h>
#include <math.h>
#include "dcem/collector.h"
#include "dcem/sample.h"

/* See dcem/sample.h. text NULL is "". 0, -EINVAL, -ENOMEM or -E2BIG. */
int dcem_poll_add_text(struct dcem_poll *p, const char *point, const char *text, dcem_quality quality)
{
        int r;

        dcem_sample_pending_text(text ? text : "");
        r = dcem_poll_add(p, point, (double)NAN, "", quality, DCEM_KIND_GAUGE);
        dcem_sample_pending_text(NULL); /* also when dcem_poll_add failed before appending */
        return r;
}
