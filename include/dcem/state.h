/* state.h - crash-safe persistence of the accounting state.
 *
 * One file, <state_dir>/accounting.json: a versioned JSON document whose body
 * is covered by a SHA-256, written to accounting.json.tmp, fsync'ed, renamed
 * over the old file and the directory fsync'ed; so a crash at any point leaves
 * either the old or the new state, whole. It holds the last counter readings
 * per device, the open intervals, the roll-up accumulators, the certificate
 * ledger and the interval sequence number. After a restart the first counter
 * reading of each device bridges the downtime (energy counted once, the gap
 * visible in completeness). Corrupt state is refused with a reason, never
 * silently replaced by zeros.
 */
#ifndef DCEM_STATE_H
#define DCEM_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "dcem/accounting.h"

#define DCEM_STATE_FILE "accounting.json"
/* 2: per-account arrays carry the compute units (17 entries, was 9). A
 * version-1 file is refused with "unsupported state version": no released
 * agent wrote one, so there is no migration. */
#define DCEM_STATE_VERSION 2
#define DCEM_STATE_MAX_BYTES (64u << 20)

typedef struct dcem_state_info {
        int64_t saved_ns;        /* when the state was written */
        uint64_t next_seq;       /* sequence number of the next interval */
        size_t devices_restored; /* baselines restored */
        size_t devices_dropped;  /* in the state but no longer configured (their baselines dropped) */
        size_t devices_new;      /* configured but not in the state (start without a baseline) */
        size_t open_intervals;
        size_t certificates;     /* ledger entries */
} dcem_state_info;

/* Write the state of a into dir (which must exist). 0 or -errno; errbuf gets
 * the reason (file and call) on failure. The old file stays on failure. */
int dcem_state_save(const char *dir, const dcem_acct *a, int64_t now_ns, char *errbuf, size_t errlen);

/* Restore a's state from dir, before any feed or advance (devices added).
 * now_ns is the restart time: intervals before it wait close_delay after it
 * for the bridging readings. Returns 0 (ret_info filled, may be NULL);
 * -ENOENT when there is no state (a first start: say so); -EBADMSG for a corrupt
 * or truncated file, a bad checksum or a bad field; -EINVAL for a state that does
 * not fit the configuration (record interval changed); -EBUSY when a already
 * started; -errno for I/O. On error a is untouched and errbuf says why. */
int dcem_state_load(const char *dir, dcem_acct *a, int64_t now_ns, dcem_state_info *ret_info, char *errbuf,
                    size_t errlen);

#endif
