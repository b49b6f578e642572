/* pub_stdout.h - the stdout publisher (JSON lines). */
#ifndef DCEM_PUB_STDOUT_H
#define DCEM_PUB_STDOUT_H

#include <stdio.h>
#include "dcem/publisher.h"

extern const dcem_publisher_ops dcem_stdout_publisher;

/* Write a batch as JSON lines to out and flush. 0, or -errno (EPIPE, EIO, ENOMEM). */
int dcem_stdout_write_batch(FILE *out, const char *site, const dcem_batch *b);

#endif
