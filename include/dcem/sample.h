/* sample.h - the sample model and the batch that carries one poll's samples.
 *
 * A sample is one reading of one point of one device: a value with its unit,
 * a UTC stamp and a quality. Samples are plain fixed-size data (no pointers)
 * so they can be queued, copied and outlive the configuration that made them
 * (a SIGHUP reload frees the old device list while batches are in flight).
 */
#ifndef DCEM_SAMPLE_H
#define DCEM_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#define DCEM_NAME_MAX 64  /* device and point names, including the NUL */
#define DCEM_UNIT_MAX 16  /* unit strings, including the NUL */
#define DCEM_ERR_MAX 160  /* error text carried with a failed poll */
/* Text values (DCEM_KIND_TEXT: a meter's model, serial number, firmware),
 * including the NUL; longer text is cut. 38 bytes fill the sample up to
 * 200 bytes on LP64 (the field takes the 6 bytes of tail padding after
 * quality/kind, then 32 more): a sample costs 32 bytes more than before. */
#define DCEM_TEXT_MAX 38

typedef enum dcem_quality {
        DCEM_Q_GOOD = 0,  /* read from the device, decoded, plausible */
        DCEM_Q_STALE,     /* a value the device reports as old, or repeated */
        DCEM_Q_ERROR,     /* not read, or the device said "not implemented" */
        DCEM_Q_ESTIMATED, /* derived (integrated power, filled by rule), flagged */
        _DCEM_Q_MAX
} dcem_quality;

typedef enum dcem_kind {
        DCEM_KIND_GAUGE = 0, /* an instantaneous value: kW, degC */
        DCEM_KIND_COUNTER,   /* a cumulative counter: kWh */
        DCEM_KIND_TEXT,      /* a text value in `text` (value is NaN): identity strings */
} dcem_kind;

typedef struct dcem_sample {
        char device[DCEM_NAME_MAX];
        char point[DCEM_NAME_MAX];
        char unit[DCEM_UNIT_MAX];
        double value;  /* NaN when quality is DCEM_Q_ERROR, and for text */
        int64_t ts_ns; /* UTC nanoseconds since the epoch */
        uint8_t quality; /* dcem_quality */
        uint8_t kind;    /* dcem_kind */
        char text[DCEM_TEXT_MAX]; /* kind DCEM_KIND_TEXT: the value, NUL-terminated
                                   * bytes (not necessarily UTF-8: encoders repair);
                                   * "" for other kinds */
} dcem_sample;

const char *dcem_quality_name(dcem_quality q); /* "good", "stale", "error", "estimated" */

/* One poll of one device: what the core hands to publishers. Reference
 * counted (the loop is single-threaded: no atomics), so several publishers
 * can hold the same batch. */
typedef struct dcem_batch {
        unsigned refs;
        char device[DCEM_NAME_MAX];
        int64_t ts_ns;      /* UTC time the poll was scheduled for (grid slot) */
        int64_t done_ns;    /* UTC time the poll completed */
        uint64_t seq;       /* per-device poll sequence number */
        int status;         /* 0 or -errno of the poll as a whole */
        char error[DCEM_ERR_MAX]; /* "" when status == 0 */
        size_t n, cap;
        dcem_sample samples[];
} dcem_batch;

/* Allocate a batch for up to cap samples, refs = 1. Returns 0 or -ENOMEM. */
int dcem_batch_new(const char *device, size_t cap, dcem_batch **ret);
/* Append a sample, growing the batch (the pointer may move). 0, -ENOMEM, or
 * -E2BIG past DCEM_BATCH_MAX samples. */
#define DCEM_BATCH_MAX 4096
int dcem_batch_add(dcem_batch **b, const dcem_sample *s);
dcem_batch *dcem_batch_ref(dcem_batch *b);
void dcem_batch_unref(dcem_batch *b); /* accepts NULL */

#endif
