/* sample.c - the sample model's helpers: quality names and batches.
 *
 * A batch carries one poll's samples from the scheduler to the publishers. It
 * is reference counted without atomics (the loop is single-threaded), grows by
 * doubling up to DCEM_BATCH_MAX samples, and is one allocation (samples are a
 * flexible array), so a publisher can hold it past a configuration reload.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/sample.h"

/* The name of a quality as it appears in payloads; "unknown" for a value out
 * of range (never NULL). */
const char *dcem_quality_name(dcem_quality q)
{
        switch (q) {
        case DCEM_Q_GOOD:
                return "good";
        case DCEM_Q_STALE:
                return "stale";
        case DCEM_Q_ERROR:
                return "error";
        case DCEM_Q_ESTIMATED:
                return "estimated";
        default:
                return "unknown";
        }
}

/* The size every batch pays per sample (sample.h: the text field fills the
 * tail padding, then 32 bytes more); checked on LP64 so growth is a choice. */
_Static_assert(sizeof(void *) != 8 || sizeof(dcem_sample) == 200, "dcem_sample is 200 bytes on LP64");

static size_t batch_bytes(size_t cap)
{
        return sizeof(dcem_batch) + cap * sizeof(dcem_sample);
}

/* Allocate an empty batch for device with room for cap samples (0 is fine,
 * it grows on add) and one reference. -EINVAL if device is NULL or longer
 * than DCEM_NAME_MAX-1, or cap > DCEM_BATCH_MAX; -ENOMEM. *ret untouched on
 * failure. */
int dcem_batch_new(const char *device, size_t cap, dcem_batch **ret)
{
        dcem_batch *b;
        size_t len;

        if (!device || !ret || cap > DCEM_BATCH_MAX)
                return -EINVAL;
        len = strnlen(device, DCEM_NAME_MAX);
        if (len >= DCEM_NAME_MAX)
                return -EINVAL;
        /* Only the header is cleared: samples past n are never read, and
         * clearing cap of them cost a memset of cap * sizeof(dcem_sample)
         * bytes per poll (callgrind: the largest single cost of a poll). */
        b = malloc(batch_bytes(cap));
        if (!b)
                return -ENOMEM;
        memset(b, 0, sizeof(*b));
        b->refs = 1;
        memcpy(b->device, device, len + 1);
        b->cap = cap;
        *ret = b;
        return 0;
}

/* Append a copy of *s to *b, reallocating when full (*b may then move, so
 * only the sole owner may add: -EBUSY if the batch is shared). 0, -EINVAL,
 * -EBUSY, -ENOMEM (the batch is unchanged), or -E2BIG past DCEM_BATCH_MAX. */
int dcem_batch_add(dcem_batch **b, const dcem_sample *s)
{
        dcem_batch *cur;

        if (!b || !*b || !s)
                return -EINVAL;
        cur = *b;
        if (cur->refs != 1)
                return -EBUSY;
        if (cur->n >= DCEM_BATCH_MAX)
                return -E2BIG;
        if (cur->n == cur->cap) {
                size_t ncap = cur->cap ? cur->cap * 2 : 8;
                dcem_batch *nb;

                if (ncap > DCEM_BATCH_MAX)
                        ncap = DCEM_BATCH_MAX;
                nb = realloc(cur, batch_bytes(ncap));
                if (!nb)
                        return -ENOMEM;
                nb->cap = ncap;
                cur = nb;
                *b = nb;
        }
        cur->samples[cur->n] = *s;
        cur->n++;
        return 0;
}

/* Take one more reference; returns b (NULL stays NULL). */
dcem_batch *dcem_batch_ref(dcem_batch *b)
{
        if (b) {
                assert(b->refs > 0);
                b->refs++;
        }
        return b;
}

/* Drop a reference, freeing the batch with the last one. Accepts NULL. */
void dcem_batch_unref(dcem_batch *b)
{
        if (!b)
                return;
        assert(b->refs > 0);
        if (--b->refs == 0)
                free(b);
}
