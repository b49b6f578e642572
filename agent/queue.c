/* queue.c - a bounded FIFO of batch references (a ring buffer).
 *
 * Every queue in dcem has a cap and a drop counter. Pushing into a full queue
 * drops the oldest batch (fresh data wins; waiting out an outage is the
 * spool's job) and counts what was lost, in batches and in samples.
 */
#include <errno.h>
#include <stdlib.h>

#include "dcem/queue.h"

struct dcem_queue {
        size_t cap;
        size_t head; /* index of the oldest */
        size_t len;
        uint64_t dropped_batches;
        uint64_t dropped_samples;
        dcem_batch **slots;
};

/* A queue holding at most cap batches. -EINVAL if cap is 0 or absurd (the
 * slot array would overflow), -ENOMEM. *ret untouched on failure. */
int dcem_queue_new(size_t cap, dcem_queue **ret)
{
        dcem_queue *q;

        if (!ret || cap == 0 || cap > SIZE_MAX / sizeof(dcem_batch *))
                return -EINVAL;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->slots = calloc(cap, sizeof(*q->slots));
        if (!q->slots) {
                free(q);
                return -ENOMEM;
        }
        q->cap = cap;
        *ret = q;
        return 0;
}

/* Free the queue and drop its references. Accepts NULL. */
void dcem_queue_free(dcem_queue *q)
{
        if (!q)
                return;
        while (q->len > 0)
                dcem_batch_unref(dcem_queue_pop(q));
        free(q->slots);
        free(q);
}

/* Append b (taking a reference). When full, the oldest is dropped first and
 * counted: returns 1 then, else 0. */
int dcem_queue_push(dcem_queue *q, dcem_batch *b)
{
        int dropped = 0;

        if (q->len == q->cap) {
                dcem_batch *old = dcem_queue_pop(q);

                q->dropped_batches++;
                q->dropped_samples += old->n;
                dcem_batch_unref(old);
                dropped = 1;
        }
        q->slots[(q->head + q->len) % q->cap] = dcem_batch_ref(b);
        q->len++;
        return dropped;
}

dcem_batch *dcem_queue_peek(const dcem_queue *q)
{
        return q->len ? q->slots[q->head] : NULL;
}

/* Remove the oldest; the caller gets the queue's reference. NULL when empty. */
dcem_batch *dcem_queue_pop(dcem_queue *q)
{
        dcem_batch *b;

        if (q->len == 0)
                return NULL;
        b = q->slots[q->head];
        q->slots[q->head] = NULL;
        q->head = (q->head + 1) % q->cap;
        q->len--;
        return b;
}

size_t dcem_queue_len(const dcem_queue *q)
{
        return q->len;
}

size_t dcem_queue_cap(const dcem_queue *q)
{
        return q->cap;
}

uint64_t dcem_queue_dropped_batches(const dcem_queue *q)
{
        return q->dropped_batches;
}

uint64_t dcem_queue_dropped_samples(const dcem_queue *q)
{
        return q->dropped_samples;
}
