/* device.h - one Modbus device's poll engine: runs the request plan through
 * a transport (transport.h), retries, splits requests refused with an
 * exception, decodes, and reports samples with per-point quality. Optionally
 * discovers a SunSpec meter first. Knows no backend and no socket.
 */
#ifndef DCEM_MODBUS_DEVICE_H
#define DCEM_MODBUS_DEVICE_H

#include "dcem/collector.h"
#include "modbus/mb.h"
#include "modbus/sunspec.h"
#include "modbus/transport.h"

typedef struct mb_dev_opts {
        uint8_t unit;
        int64_t timeout_ns;     /* per request */
        unsigned retries;       /* extra attempts after a timeout or I/O error */
        mb_plan_opts plan;
        bool close_after_poll;
        bool sunspec;           /* discover a SunSpec meter at first poll */
} mb_dev_opts;

typedef struct mb_dev_stats {
        uint64_t requests;      /* requests sent (answered or not) */
        uint64_t exceptions;    /* answers with a Modbus exception */
        uint64_t timeouts;
        uint64_t splits;        /* requests split after an exception */
        uint64_t rejected;      /* requests refused by the transport's full queue (dropped) */
        uint64_t polls;
} mb_dev_stats;

typedef struct mb_dev mb_dev;

/* pts (copied) may be empty only with opts->sunspec. The transport is
 * borrowed (the caller holds a reference until mb_dev_free). 0, -EINVAL
 * (a point cannot be planned; errbuf says which) or -ENOMEM. */
int mb_dev_new(mb_transport *t, const mb_dev_opts *o, const mb_point *pts, size_t npts, mb_dev **ret,
               char *errbuf, size_t errlen);
void mb_dev_free(mb_dev *d); /* accepts NULL; cancels what is in flight */

/* Start a poll (collector.h semantics): 0, or -EBUSY / -errno. */
int mb_dev_poll(mb_dev *d, dcem_poll *p);
void mb_dev_cancel(mb_dev *d, dcem_poll *p);

const mb_dev_stats *mb_dev_get_stats(const mb_dev *d);
/* The current plan (requests per poll when nothing fails). */
const mb_plan *mb_dev_plan(const mb_dev *d);
size_t mb_dev_npoints(const mb_dev *d);

#endif
