/* spool.h - the store-and-forward spool: an on-disk FIFO of opaque records
 * that survives broker outages, network cuts and agent restarts (kill -9).
 *
 * Records are appended to segment files "seg-<first id, 20 digits>.dsp" in
 * one directory. Each segment starts with a 16-byte header (magic
 * "DCEMSPL1", first record id, little endian), then records of
 *     u32 length, u32 crc32(length bytes || payload), payload
 * (little endian; zlib's crc32). Record ids are consecutive integers that
 * never go back, across restarts too (a persisted cursor guarantees that).
 *
 * Records leave the spool only when acknowledged (dcem_spool_ack, by id, in
 * any order: a live lane may run far ahead of a replayed backlog) or when the
 * disk budget forces the oldest segment out (counted as dropped, in records
 * and bytes). A segment whose records are all acknowledged is deleted, even
 * in the middle. The acknowledgement state (the lowest id not acknowledged,
 * the acknowledged ranges above it, at most DCEM_SPOOL_ACK_RANGES of them,
 * and the next id) is persisted crash-safely in the file "ack" (write,
 * fsync, rename) at every sync and before any segment is deleted; after a
 * crash the spool replays every record not acknowledged in the persisted
 * state, so an acknowledged record may be replayed again (a duplicate the
 * consumer detects by its sequence number), never lost.
 *
 * Recovery on open: every segment is scanned; the first record whose length
 * is out of bounds, that runs past the end of the file, or whose CRC does not
 * match ends that segment, which is truncated there (a torn last write after
 * a crash; in a middle segment, corruption: the cut bytes are counted as
 * dropped). Everything before is kept and read back in order.
 *
 * Durability: each append is one write() (a kill -9 loses nothing that was
 * appended); fsync (power loss) follows the policy: every fsync_interval_ns
 * on the injected clock (checked on append and on dcem_spool_tick), or after
 * every append when 0, and always on close.
 *
 * Pure file I/O, no MQTT knowledge, single-threaded.
 */
#ifndef DCEM_SPOOL_H
#define DCEM_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/clock.h"

typedef struct dcem_spool dcem_spool;

#define DCEM_SPOOL_SEG_HDR 16u   /* bytes of a segment header */
#define DCEM_SPOOL_REC_HDR 8u    /* bytes of a record header */
#define DCEM_SPOOL_MIN_BYTES (64u << 10) /* smallest budget accepted */
#define DCEM_SPOOL_DEFAULT_BYTES (256ull << 20)
#define DCEM_SPOOL_DEFAULT_RECORD (1u << 20)
#define DCEM_SPOOL_ACK_RANGES 65536u /* acknowledged ranges persisted at most (the lowest) */

typedef struct dcem_spool_opts {
        uint64_t max_bytes;        /* disk budget of all segments; 0 = default 256 MiB; >= 64 KiB */
        uint64_t segment_bytes;    /* 0 = max_bytes/8 clamped to [4 KiB, 16 MiB] */
        uint32_t max_record;       /* payload bound; 0 = min(1 MiB, segment_bytes - headers) */
        int64_t fsync_interval_ns; /* 0 = after every append; > 0 = at most this stale */
} dcem_spool_opts;

typedef struct dcem_spool_stats {
        uint64_t records;          /* records held (not acknowledged, not dropped) */
        uint64_t bytes;            /* bytes of the segment files on disk */
        uint64_t segments;
        uint64_t appended;         /* records appended since open */
        uint64_t acked;            /* records acknowledged since open */
        uint64_t dropped_records;  /* unacknowledged records lost to the budget, since open */
        uint64_t dropped_bytes;    /* their payload bytes */
        uint64_t recovered_records;/* records found on open */
        uint64_t truncated_bytes;  /* bytes cut on open (torn tail, corruption) */
        uint64_t fsyncs;
        uint64_t sync_errors;      /* failed fsyncs on append (retried by tick) */
        uint64_t next_id;          /* id the next append gets */
        uint64_t ack_next;         /* lowest id not acknowledged */
        uint64_t read_next;        /* id dcem_spool_read returns next (or later, past a gap) */
        uint64_t acked_ranges;     /* acknowledged ranges above ack_next held in memory */
} dcem_spool_stats;

/* A read position of its own (e.g. one per delivery lane). Plain data: init
 * it with dcem_spool_cursor_init; the hint fields only speed up seeking. */
typedef struct dcem_spool_cursor {
        uint64_t id;               /* the next id to consider */
        uint64_t hint_id, hint_off, hint_seg, hint_gen;
} dcem_spool_cursor;

/* Open (creating dir if needed, mode 0700) and recover the spool in dir.
 * clock is borrowed and must outlive the spool. opts may be NULL (defaults).
 * On failure: -EINVAL (bad options), -errno (I/O), a message in errbuf,
 * *ret untouched. The read cursor starts at the ack cursor. */
int dcem_spool_open(const char *dir, const dcem_spool_opts *opts, const dcem_clock *clock,
                    dcem_spool **ret, char *errbuf, size_t errlen);
/* fsync, persist the ack cursor, close. Accepts NULL. */
void dcem_spool_close(dcem_spool *s);

/* Append one record (copied; len 0 is allowed). ret_id (optional) gets its
 * id. May drop the oldest segments to stay within the budget (counted).
 * 0, -E2BIG (len over max_record), or -errno of the write (then nothing was
 * appended: a partial write is cut back). */
int dcem_spool_append(dcem_spool *s, const void *data, size_t len, uint64_t *ret_id);

/* Point c at the first record at or after from (not below the ack cursor). */
void dcem_spool_cursor_init(const dcem_spool *s, dcem_spool_cursor *c, uint64_t from);
/* Read the next record held (not acknowledged, not dropped) with an id in
 * [c->id, end) into buf (cap bytes) and advance c past it. 0 with *ret_id
 * and *ret_len; -ENOENT when there is none (yet: c stays, later appends are
 * found); -ENOBUFS if cap is too small (c unchanged); -errno of I/O. A record
 * whose CRC fails here (disk corruption after the write) ends its segment's
 * readable part: it and the rest of that segment are counted as dropped. */
int dcem_spool_read_cursor(dcem_spool *s, dcem_spool_cursor *c, uint64_t end, void *buf, size_t cap,
                           uint64_t *ret_id, size_t *ret_len);
/* dcem_spool_read_cursor on the spool's own cursor, with no end. */
int dcem_spool_read(dcem_spool *s, void *buf, size_t cap, uint64_t *ret_id, size_t *ret_len);
/* Move the spool's own cursor back to the ack cursor (resend everything
 * unacked, e.g. after a reconnect). */
void dcem_spool_rewind(dcem_spool *s);

/* Acknowledge record id, in any order. Ids already acknowledged or dropped
 * are ignored (0). -EINVAL for an id never appended, -ENOMEM. Fully
 * acknowledged segments are deleted (after the ack state is persisted). */
int dcem_spool_ack(dcem_spool *s, uint64_t id);

/* Apply the fsync policy now (fsync when data is older than the interval)
 * and persist a moved ack cursor. 0 or -errno. Call it from a timer at
 * least every fsync interval. */
int dcem_spool_tick(dcem_spool *s);
/* fsync everything and persist the ack cursor now. 0 or -errno. */
int dcem_spool_sync(dcem_spool *s);

void dcem_spool_get_stats(const dcem_spool *s, dcem_spool_stats *ret);
/* Records held (not acknowledged, not dropped) with an id in [from, to). */
uint64_t dcem_spool_pending(const dcem_spool *s, uint64_t from, uint64_t to);
/* Records held at or after the spool's own read cursor (to send). */
uint64_t dcem_spool_backlog(const dcem_spool *s);
/* The id the next append gets. */
uint64_t dcem_spool_next_id(const dcem_spool *s);
uint32_t dcem_spool_max_record(const dcem_spool *s);

#endif
