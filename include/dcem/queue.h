/* queue.h - a bounded FIFO of batches with a drop counter.
 *
 * Every queue in dcem is bounded. When full, the oldest batch is dropped
 * (fresh data wins; the spool, not this queue, is where data waits out an
 * outage) and the drop is counted in batches and in samples. The counters are
 * published by the agent as its own metrics.
 */
#ifndef DCEM_QUEUE_H
#define DCEM_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include "dcem/sample.h"

typedef struct dcem_queue dcem_queue;

/* cap: the most batches held at once (>= 1). 0 or -EINVAL / -ENOMEM. */
int dcem_queue_new(size_t cap, dcem_queue **ret);
void dcem_queue_free(dcem_queue *q); /* accepts NULL; unrefs what it holds */

/* Takes a new reference on b. Returns 0, or 1 if the oldest batch had to be
 * dropped to make room. */
int dcem_queue_push(dcem_queue *q, dcem_batch *b);
/* The oldest batch without removing it, or NULL when empty. Borrowed. */
dcem_batch *dcem_queue_peek(const dcem_queue *q);
/* Remove the oldest and return the queue's reference to the caller (NULL when empty). */
dcem_batch *dcem_queue_pop(dcem_queue *q);
size_t dcem_queue_len(const dcem_queue *q);
size_t dcem_queue_cap(const dcem_queue *q);
uint64_t dcem_queue_dropped_batches(const dcem_queue *q);
uint64_t dcem_queue_dropped_samples(const dcem_queue *q);

#endif
