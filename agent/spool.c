/* spool.c - the store-and-forward spool: segment files of length+CRC32
 * records, an ack cursor persisted by write/fsync/rename, recovery that cuts
 * a torn tail, and a disk budget enforced by dropping the oldest segment.
 * See include/dcem/spool.h for the format and the guarantees.
 */
#include "dcem/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define SEG_MAGIC "DCEMSPL1"
#define ACK_MAGIC1 "DCEMACK1" /* cursor only (older spools) */
#define ACK_MAGIC2 "DCEMACK2" /* cursor, next id, acknowledged ranges */
#define ACK_FILE "ack"
#define ACK_TMP "ack.tmp"
#define ACK_HDR 32u           /* magic, ack_next, next_id, nranges, reserved */
#define SEG_MIN (4u << 10)
#define SEG_MAX (16u << 20)
#define RCACHE_BYTES (64u << 10) /* the read cache: one window of one segment */

typedef struct seg {
        uint64_t first_id, next_id; /* records [first_id, next_id) */
        uint64_t size;              /* bytes in the file, header included */
        int fd;
        bool dirty;                 /* written since the last fsync */
        bool sealed;                /* takes no more appends (corrupt tail seen) */
} seg;

/* Acknowledged ids [a, b) above the cursor. */
typedef struct range {
        uint64_t a, b;
} range;

struct dcem_spool {
        char *dir;
        int dirfd;
        const dcem_clock *clock;
        uint64_t max_bytes, segment_bytes;
        uint32_t max_record;
        int64_t fsync_ns;

        seg *segs;                  /* oldest first; the last one takes appends */
        size_t nseg, segcap;
        uint64_t total_bytes;
        uint64_t gen;               /* bumped when a segment goes or shrinks */

        uint64_t next_id;
        uint64_t ack_next;
        uint64_t ack_persisted;
        range *acked;               /* sorted, disjoint, not touching, all above ack_next */
        size_t nacked, ackedcap;
        bool acked_dirty;           /* ranges changed since the last persist */
        uint64_t held;              /* records in [ack_next, next_id) not acked nor dropped */

        dcem_spool_cursor rd;       /* the cursor of dcem_spool_read */

        /* Read cache: bytes [rc_off, rc_off + rc_len) of the segment that
         * starts at rc_seg, valid while gen is rc_gen. Reads go through it
         * (one pread of up to 64 KiB instead of three small ones per
         * record) and appends to the cached segment extend it when they
         * continue it, so the live lane reads back what was just written
         * without a system call. Invalidated whenever a file shrinks or a
         * segment goes (gen, or rc_valid = false). */
        uint8_t *rc_buf;
        bool rc_valid;
        uint64_t rc_gen, rc_seg, rc_off;
        size_t rc_len;

        bool dirty, dir_dirty;
        int64_t dirty_since;
        int64_t last_ack_persist;

        dcem_spool_stats st;
};

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

static uint32_t rec_crc(const uint8_t lenle[4], const void *data, size_t len) {
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, lenle, 4);
        if (len > 0)
                c = crc32(c, data, (uInt)len);
        return (uint32_t)c;
}

/* --- the set of acknowledged ids above the cursor --- */

/* Index of the first range with b > id (nacked if none). */
static size_t acked_find(const dcem_spool *s, uint64_t id) {
        size_t lo = 0, hi = s->nacked;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->acked[mid].b > id)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo;
}

static bool is_acked(const dcem_spool *s, uint64_t id) {
        if (id < s->ack_next)
                return true;
        size_t i = acked_find(s, id);
        return i < s->nacked && s->acked[i].a <= id;
}

/* Add [a, b) (a < b) to the set, merging neighbours. 0 or -ENOMEM. */
static int acked_add(dcem_spool *s, uint64_t a, uint64_t b) {
        size_t i = acked_find(s, a > 0 ? a - 1 : 0); /* a range ending at a touches */
        if (i < s->nacked && s->acked[i].b < a)
                i++;
        if (i < s->nacked && s->acked[i].a <= b) { /* overlaps or touches: merge */
                if (a < s->acked[i].a)
                        s->acked[i].a = a;
                if (b > s->acked[i].b)
                        s->acked[i].b = b;
                size_t j = i + 1;
                while (j < s->nacked && s->acked[j].a <= s->acked[i].b) {
                        if (s->acked[j].b > s->acked[i].b)
                                s->acked[i].b = s->acked[j].b;
                        j++;
                }
                if (j > i + 1) {
                        memmove(s->acked + i + 1, s->acked + j, (s->nacked - j) * sizeof(range));
                        s->nacked -= j - i - 1;
                }
                s->acked_dirty = true;
                return 0;
        }
        if (s->nacked == s->ackedcap) {
                size_t nc = s->ackedcap ? s->ackedcap * 2 : 16;
                range *n = realloc(s->acked, nc * sizeof(range));
                if (!n)
                        return -ENOMEM;
                s->acked = n;
                s->ackedcap = nc;
        }
        memmove(s->acked + i + 1, s->acked + i, (s->nacked - i) * sizeof(range));
        s->acked[i] = (range){ a, b };
        s->nacked++;
        s->acked_dirty = true;
        return 0;
}

/* Forget ranges below the cursor. */
static void acked_prune(dcem_spool *s) {
        size_t k = 0;
        while (k < s->nacked && s->acked[k].b <= s->ack_next)
                k++;
        if (k > 0) {
                memmove(s->acked, s->acked + k, (s->nacked - k) * sizeof(range));
                s->nacked -= k;
                s->acked_dirty = true;
        }
        if (s->nacked > 0 && s->acked[0].a < s->ack_next)
                s->acked[0].a = s->ack_next;
}

/* How many ids of [a, b) are acknowledged (the cursor included). */
static uint64_t acked_count(const dcem_spool *s, uint64_t a, uint64_t b) {
        if (a >= b)
                return 0;
        uint64_t n = 0;
        if (a < s->ack_next) {
                uint64_t e = b < s->ack_next ? b : s->ack_next;
                n += e - a;
                a = e;
        }
        for (size_t i = acked_find(s, a); i < s->nacked && s->acked[i].a < b; i++) {
                uint64_t x = s->acked[i].a > a ? s->acked[i].a : a;
                uint64_t y = s->acked[i].b < b ? s->acked[i].b : b;
                if (y > x)
                        n += y - x;
        }
        return n;
}

/* pread exactly len bytes: 0, -EIO on a short read (end of file), -errno. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off) {
        uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = pread(fd, p, len, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
                off += (uint64_t)n;
        }
        return 0;
}

static void rc_invalidate(dcem_spool *s) { s->rc_valid = false; }

/* len bytes at off of segment g, through the read cache. 0, -EIO (past the
 * end of the file), -errno. */
static int seg_read(dcem_spool *s, const seg *g, uint64_t off, void *buf, size_t len) {
        if (len == 0)
                return 0;
        if (s->rc_valid && s->rc_gen == s->gen && s->rc_seg == g->first_id && off >= s->rc_off &&
            off + len <= s->rc_off + s->rc_len) {
                memcpy(buf, s->rc_buf + (off - s->rc_off), len);
                return 0;
        }
        if (!s->rc_buf || len > RCACHE_BYTES)
                return pread_full(g->fd, buf, len, off);
        /* Fill the cache from off: what the file has, up to 64 KiB. */
        size_t want = RCACHE_BYTES;
        if (off < g->size && g->size - off < want)
                want = (size_t)(g->size - off);
        if (want < len)
                want = len;
        size_t got = 0;
        rc_invalidate(s);
        while (got < want) {
                ssize_t n = pread(g->fd, s->rc_buf + got, want - got, (off_t)(off + got));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        if (got < len)
                return -EIO;
        s->rc_valid = true;
        s->rc_gen = s->gen;
        s->rc_seg = g->first_id;
        s->rc_off = off;
        s->rc_len = got;
        memcpy(buf, s->rc_buf, len);
        return 0;
}

/* An append of rec bytes (h, then data) at off of segment g: extend the
 * cache if it ends exactly there and has room; else leave it (still valid:
 * appends never change bytes already written). */
static void rc_append(dcem_spool *s, const seg *g, uint64_t off, const uint8_t *h, const void *data, size_t len) {
        if (!s->rc_valid || s->rc_gen != s->gen || s->rc_seg != g->first_id || s->rc_off + s->rc_len != off ||
            s->rc_len + DCEM_SPOOL_REC_HDR + len > RCACHE_BYTES)
                return;
        memcpy(s->rc_buf + s->rc_len, h, DCEM_SPOOL_REC_HDR);
        if (len)
                memcpy(s->rc_buf + s->rc_len + DCEM_SPOOL_REC_HDR, data, len);
        s->rc_len += DCEM_SPOOL_REC_HDR + len;
}

/* Index of the first segment with next_id > id (nseg if none); segments
 * are sorted by id and do not overlap. */
static size_t seg_after(const dcem_spool *s, uint64_t id) {
        size_t lo = 0, hi = s->nseg;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->segs[mid].next_id > id)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo;
}

/* Index of the segment holding id, or -1. */
static ssize_t seg_of(const dcem_spool *s, uint64_t id) {
        size_t k = seg_after(s, id);
        if (k < s->nseg && id >= s->segs[k].first_id)
                return (ssize_t)k;
        return -1;
}

/* First id at or after id that lies in a segment (next_id if none). */
static uint64_t next_held_id(const dcem_spool *s, uint64_t id) {
        size_t k = seg_after(s, id);
        if (k < s->nseg)
                return s->segs[k].first_id > id ? s->segs[k].first_id : id;
        return s->next_id > id ? s->next_id : id;
}

/* Check the record at off of segment g: 0 and its payload length, -EBADMSG
 * (bad length, past the end, CRC), -errno. If buf is non-NULL the payload is
 * read into it (buf must hold max_record bytes). */
static int rec_check(const dcem_spool *s, const seg *g, uint64_t off, uint8_t *buf, uint32_t *ret_len) {
        uint8_t h[DCEM_SPOOL_REC_HDR];
        if (off + DCEM_SPOOL_REC_HDR > g->size)
                return -EBADMSG;
        int r = seg_read((dcem_spool *)s, g, off, h, sizeof h);
        if (r < 0)
                return r == -EIO ? -EBADMSG : r;
        uint32_t len = get32(h), crc = get32(h + 4);
        if (len > s->max_record || off + DCEM_SPOOL_REC_HDR + len > g->size)
                return -EBADMSG;
        if (buf) {
                r = seg_read((dcem_spool *)s, g, off + DCEM_SPOOL_REC_HDR, buf, len);
                if (r < 0)
                        return r == -EIO ? -EBADMSG : r;
                if (rec_crc(h, buf, len) != crc)
                        return -EBADMSG;
        }
        *ret_len = len;
        return 0;
}

/* Offset of record id in segment g by walking the lengths from record from
 * at offset off (trusting what recovery or our own appends verified). */
static int walk_to(const dcem_spool *s, const seg *g, uint64_t from, uint64_t off, uint64_t id, uint64_t *ret_off) {
        for (uint64_t k = from; k < id; k++) {
                uint32_t len;
                int r = rec_check(s, g, off, NULL, &len);
                if (r < 0)
                        return r;
                off += DCEM_SPOOL_REC_HDR + len;
        }
        *ret_off = off;
        return 0;
}

/* The ack file: magic "DCEMACK2", u64 ack_next, u64 next_id, u32 ranges,
 * u32 0, ranges (u64 a, u64 b), u32 crc32 of all before. At most
 * DCEM_SPOOL_ACK_RANGES ranges are kept (the lowest): acknowledgements not
 * persisted only cause duplicates after a crash. */
static int write_ack_file(dcem_spool *s) {
        size_t n = s->nacked < DCEM_SPOOL_ACK_RANGES ? s->nacked : DCEM_SPOOL_ACK_RANGES;
        size_t len = ACK_HDR + n * 16 + 4;
        uint8_t *b = malloc(len);
        if (!b)
                return -ENOMEM;
        memcpy(b, ACK_MAGIC2, 8);
        put64(b + 8, s->ack_next);
        put64(b + 16, s->next_id);
        put32(b + 24, (uint32_t)n);
        put32(b + 28, 0);
        for (size_t i = 0; i < n; i++) {
                put64(b + ACK_HDR + 16 * i, s->acked[i].a);
                put64(b + ACK_HDR + 16 * i + 8, s->acked[i].b);
        }
        put32(b + len - 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)(len - 4)));
        int fd = openat(s->dirfd, ACK_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int r = 0;
        if (fd < 0)
                r = -errno;
        else {
                ssize_t w = write(fd, b, len);
                if (w != (ssize_t)len)
                        r = w < 0 ? -errno : -EIO;
                if (r == 0 && fsync(fd) < 0)
                        r = -errno;
                close(fd);
        }
        free(b);
        if (r == 0 && renameat(s->dirfd, ACK_TMP, s->dirfd, ACK_FILE) < 0)
                r = -errno;
        if (r == 0 && fsync(s->dirfd) < 0)
                r = -errno;
        if (r == 0) {
                s->ack_persisted = s->ack_next;
                s->acked_dirty = false;
                s->last_ack_persist = dcem_clock_mono(s->clock);
        }
        return r;
}

/* Load the ack file into s (ack_next, a floor for next_id, ranges). A
 * missing or bad file leaves everything at 0: replay everything
 * (duplicates, no loss). */
static void read_ack_file(dcem_spool *s, uint64_t *ret_next_floor) {
        *ret_next_floor = 0;
        int fd = openat(s->dirfd, ACK_FILE, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        size_t cap = ACK_HDR + (size_t)DCEM_SPOOL_ACK_RANGES * 16 + 4;
        uint8_t *b = malloc(cap + 1);
        ssize_t n = b ? read(fd, b, cap + 1) : -1;
        close(fd);
        if (n == 24 && memcmp(b, ACK_MAGIC1, 8) == 0 &&
            get32(b + 16) == (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, 16)) {
                s->ack_next = get64(b + 8);
                *ret_next_floor = s->ack_next;
        } else if (n >= (ssize_t)ACK_HDR + 4 && n <= (ssize_t)cap && memcmp(b, ACK_MAGIC2, 8) == 0 &&
                   get32(b + n - 4) == (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)(n - 4))) {
                uint64_t ack = get64(b + 8), next = get64(b + 16);
                uint32_t nr = get32(b + 24);
                if ((size_t)n == ACK_HDR + (size_t)nr * 16 + 4 && ack <= next) {
                        /* Ranges must be sorted, non-empty, above the cursor,
                         * below next_id; a bad one ends the list. */
                        uint64_t prev = ack;
                        s->ack_next = ack;
                        *ret_next_floor = next;
                        for (uint32_t i = 0; i < nr; i++) {
                                uint64_t a = get64(b + ACK_HDR + 16 * i), e = get64(b + ACK_HDR + 16 * i + 8);
                                if (a < prev || a >= e || e > next || acked_add(s, a, e) < 0)
                                        break;
                                prev = e;
                        }
                }
        }
        free(b);
}

static void seg_name(char buf[64], uint64_t first_id) {
        snprintf(buf, 64, "seg-%020" PRIu64 ".dsp", first_id);
}

/* Remove segment i from disk and from the array. */
static void seg_remove(dcem_spool *s, size_t i) {
        char name[64];
        seg_name(name, s->segs[i].first_id);
        if (s->segs[i].fd >= 0)
                close(s->segs[i].fd);
        (void)unlinkat(s->dirfd, name, 0);
        rc_invalidate(s);
        s->total_bytes -= s->segs[i].size;
        memmove(s->segs + i, s->segs + i + 1, (s->nseg - i - 1) * sizeof(seg));
        s->nseg--;
        s->dir_dirty = true;
        s->gen++;
}

/* Move ack_next past acknowledged ids and ids in no segment. */
static void ack_advance(dcem_spool *s) {
        for (;;) {
                if (s->ack_next >= s->next_id)
                        break;
                uint64_t to = next_held_id(s, s->ack_next);
                if (to > s->ack_next) {
                        s->ack_next = to;
                        continue;
                }
                if (s->nacked > 0 && s->acked[0].a <= s->ack_next) {
                        s->ack_next = s->acked[0].b;
                        acked_prune(s);
                        continue;
                }
                break;
        }
        acked_prune(s);
}

/* Whether every record of g is acknowledged. */
static bool seg_done(const dcem_spool *s, const seg *g) {
        return acked_count(s, g->first_id, g->next_id) == g->next_id - g->first_id;
}

/* Whether segment i can go: all its records acknowledged, and it is not
 * the last (appendable) one unless that is sealed or half full. */
static bool seg_deletable(const dcem_spool *s, size_t i) {
        const seg *g = &s->segs[i];
        if (i + 1 == s->nseg && !g->sealed && g->size < s->segment_bytes / 2)
                return false;
        return seg_done(s, g);
}

/* Delete segment i if it can go. The ack file (cursor, next id, ranges) is
 * persisted first, so after a crash ids go on from it and the deleted
 * records are not expected. 1 deleted, 0 kept, -errno. */
static int maybe_drop(dcem_spool *s, size_t i) {
        if (i >= s->nseg || !seg_deletable(s, i))
                return 0;
        int r = write_ack_file(s);
        if (r < 0)
                return r;
        seg_remove(s, i);
        return 1;
}

/* Delete every segment that can go (a full scan: after recovery-time
 * events; acknowledgements use drop_after_ack). */
static int drop_acked_segments(dcem_spool *s) {
        for (size_t i = 0; i < s->nseg;) {
                int r = maybe_drop(s, i);
                if (r < 0)
                        return r;
                if (r == 0)
                        i++;
        }
        return 0;
}

/* After acknowledging an id of segment gi: only that segment, the oldest
 * ones (the cursor moved) and the one before the last (kept while it was
 * the last) can have become deletable. O(log) per acknowledgement. */
static int drop_after_ack(dcem_spool *s, size_t gi) {
        int r = maybe_drop(s, gi);
        if (r < 0)
                return r;
        while ((r = maybe_drop(s, 0)) > 0)
                ;
        if (r < 0)
                return r;
        r = s->nseg >= 2 ? maybe_drop(s, s->nseg - 2) : 0;
        return r < 0 ? r : 0;
}

int dcem_spool_ack(dcem_spool *s, uint64_t id) {
        if (id >= s->next_id)
                return -EINVAL;
        if (id < s->ack_next)
                return 0;
        ssize_t gi = seg_of(s, id);
        if (gi < 0 || is_acked(s, id))
                return 0; /* dropped or acked already */
        int r = acked_add(s, id, id + 1);
        if (r < 0)
                return r;
        s->st.acked++;
        s->held--;
        ack_advance(s);
        return drop_after_ack(s, (size_t)gi);
}

/* Drop the oldest segment to make room: its unacknowledged records are lost
 * and counted, records and payload bytes. */
static int drop_oldest(dcem_spool *s) {
        seg *g = &s->segs[0];
        uint64_t off = DCEM_SPOOL_SEG_HDR;
        for (uint64_t id = g->first_id; id < g->next_id; id++) {
                uint32_t len;
                if (rec_check(s, g, off, NULL, &len) < 0)
                        break;
                if (!is_acked(s, id)) {
                        s->st.dropped_records++;
                        s->st.dropped_bytes += len;
                        s->held--;
                }
                off += DCEM_SPOOL_REC_HDR + len;
        }
        uint64_t end = g->next_id;
        seg_remove(s, 0);
        if (s->ack_next < end)
                s->ack_next = end;
        ack_advance(s);
        return 0;
}

static int seg_create(dcem_spool *s) {
        char name[64];
        uint8_t h[DCEM_SPOOL_SEG_HDR];
        if (s->nseg == s->segcap) {
                size_t nc = s->segcap ? s->segcap * 2 : 8;
                seg *n = realloc(s->segs, nc * sizeof(seg));
                if (!n)
                        return -ENOMEM;
                s->segs = n;
                s->segcap = nc;
        }
        seg_name(name, s->next_id);
        int fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        memcpy(h, SEG_MAGIC, 8);
        put64(h + 8, s->next_id);
        if (pwrite(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
                int r = errno ? -errno : -EIO;
                close(fd);
                (void)unlinkat(s->dirfd, name, 0);
                return r;
        }
        s->segs[s->nseg++] = (seg){ .first_id = s->next_id, .next_id = s->next_id, .size = sizeof h, .fd = fd, .dirty = true };
        s->total_bytes += sizeof h;
        s->dir_dirty = true;
        return 0;
}

static int do_sync(dcem_spool *s) {
        int r = 0;
        for (size_t i = 0; i < s->nseg; i++)
                if (s->segs[i].dirty) {
                        if (fdatasync(s->segs[i].fd) < 0 && r == 0)
                                r = -errno;
                        else
                                s->segs[i].dirty = false;
                }
        if (s->dir_dirty) {
                if (fsync(s->dirfd) < 0 && r == 0)
                        r = -errno;
                else
                        s->dir_dirty = false;
        }
        if (r == 0) {
                s->dirty = false;
                s->st.fsyncs++;
        }
        return r;
}

int dcem_spool_append(dcem_spool *s, const void *data, size_t len, uint64_t *ret_id) {
        if (len > s->max_record)
                return -E2BIG;
        uint64_t rec = DCEM_SPOOL_REC_HDR + len;
        int r;
        if (s->nseg == 0 || s->segs[s->nseg - 1].sealed || s->segs[s->nseg - 1].size + rec > s->segment_bytes) {
                r = seg_create(s);
                if (r < 0)
                        return r;
        }
        while (s->total_bytes + rec > s->max_bytes && s->nseg > 1) {
                r = drop_oldest(s);
                if (r < 0)
                        return r;
        }
        seg *g = &s->segs[s->nseg - 1];
        uint8_t h[DCEM_SPOOL_REC_HDR];
        put32(h, (uint32_t)len);
        put32(h + 4, rec_crc(h, data, len));
        struct iovec iov[2] = { { h, sizeof h }, { (void *)data, len } };
        uint64_t off = g->size;
        size_t done = 0;
        while (done < rec) {
                /* Skip what was written already across both iovecs. */
                struct iovec v[2];
                int nv = 0;
                size_t skip = done;
                for (int i = 0; i < 2; i++) {
                        if (skip >= iov[i].iov_len) {
                                skip -= iov[i].iov_len;
                                continue;
                        }
                        v[nv].iov_base = (uint8_t *)iov[i].iov_base + skip;
                        v[nv].iov_len = iov[i].iov_len - skip;
                        skip = 0;
                        nv++;
                }
                ssize_t n = pwritev(g->fd, v, nv, (off_t)(off + done));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        (void)ftruncate(g->fd, (off_t)off); /* no torn record behind us */
                        rc_invalidate(s);
                        return r;
                }
                done += (size_t)n;
        }
        rc_append(s, g, off, h, data, len);
        g->size += rec;
        g->next_id++;
        g->dirty = true;
        s->total_bytes += rec;
        uint64_t id = s->next_id++;
        s->held++;
        s->st.appended++;
        int64_t now = dcem_clock_mono(s->clock);
        if (!s->dirty) {
                s->dirty = true;
                s->dirty_since = now;
        }
        if (s->fsync_ns == 0 || now - s->dirty_since >= s->fsync_ns) {
                /* The record is appended either way; a failed fsync leaves the
                 * spool dirty and dcem_spool_tick retries and reports it. */
                if (do_sync(s) < 0)
                        s->st.sync_errors++;
        }
        if (ret_id)
                *ret_id = id;
        return 0;
}

void dcem_spool_cursor_init(const dcem_spool *s, dcem_spool_cursor *c, uint64_t from) {
        *c = (dcem_spool_cursor){ .id = from < s->ack_next ? s->ack_next : from };
}

/* A record of g failed its check while reading (corrupted after it was
 * written): the rest of g is unreadable. Count what was held there as
 * dropped and seal g at id. */
static void seal_at(dcem_spool *s, seg *g, uint64_t id) {
        for (uint64_t k = id; k < g->next_id; k++)
                if (!is_acked(s, k)) {
                        s->st.dropped_records++;
                        s->held--;
                }
        g->next_id = id;
        g->sealed = true;
        rc_invalidate(s);
        s->gen++;
        ack_advance(s);
        (void)drop_acked_segments(s);
}

int dcem_spool_read_cursor(dcem_spool *s, dcem_spool_cursor *c, uint64_t end, void *buf, size_t cap,
                           uint64_t *ret_id, size_t *ret_len) {
        for (;;) {
                if (c->id < s->ack_next)
                        c->id = s->ack_next;
                if (c->id >= end || c->id >= s->next_id)
                        return -ENOENT;
                size_t k = acked_find(s, c->id);
                if (k < s->nacked && s->acked[k].a <= c->id) { /* acknowledged already: skip */
                        c->id = s->acked[k].b;
                        continue;
                }
                ssize_t i = seg_of(s, c->id);
                if (i < 0) { /* dropped or deleted: to the next segment */
                        c->id = next_held_id(s, c->id);
                        continue;
                }
                seg *g = &s->segs[i];
                uint64_t off;
                bool hint = c->hint_gen == s->gen && c->hint_seg == g->first_id && c->hint_off != 0 &&
                            c->hint_id <= c->id;
                int r = walk_to(s, g, hint ? c->hint_id : g->first_id, hint ? c->hint_off : DCEM_SPOOL_SEG_HDR,
                                c->id, &off);
                if (r == -EBADMSG) {
                        seal_at(s, g, c->id);
                        continue;
                }
                if (r < 0)
                        return r;
                c->hint_gen = s->gen;
                c->hint_seg = g->first_id;
                c->hint_id = c->id;
                c->hint_off = off;
                uint8_t h[DCEM_SPOOL_REC_HDR];
                r = seg_read(s, g, off, h, sizeof h);
                if (r < 0 && r != -EIO)
                        return r;
                uint32_t len = r == 0 ? get32(h) : UINT32_MAX;
                if (r == 0 && len <= s->max_record && len > cap)
                        return -ENOBUFS;
                r = r == 0 ? rec_check(s, g, off, buf, &len) : -EBADMSG;
                if (r == -EBADMSG) {
                        seal_at(s, g, c->id);
                        continue;
                }
                if (r < 0)
                        return r;
                *ret_id = c->id;
                *ret_len = len;
                c->id++;
                c->hint_id = c->id;
                c->hint_off = off + DCEM_SPOOL_REC_HDR + len;
                return 0;
        }
}

int dcem_spool_read(dcem_spool *s, void *buf, size_t cap, uint64_t *ret_id, size_t *ret_len) {
        return dcem_spool_read_cursor(s, &s->rd, UINT64_MAX, buf, cap, ret_id, ret_len);
}

void dcem_spool_rewind(dcem_spool *s) {
        dcem_spool_cursor_init(s, &s->rd, s->ack_next);
}

int dcem_spool_sync(dcem_spool *s) {
        int r = do_sync(s);
        if (s->ack_persisted != s->ack_next || s->acked_dirty) {
                int q = write_ack_file(s);
                if (r == 0)
                        r = q;
        }
        return r;
}

int dcem_spool_tick(dcem_spool *s) {
        int64_t now = dcem_clock_mono(s->clock);
        int r = 0;
        if (s->dirty && now - s->dirty_since >= s->fsync_ns)
                r = do_sync(s);
        if ((s->ack_persisted != s->ack_next || s->acked_dirty) && now - s->last_ack_persist >= s->fsync_ns) {
                int q = write_ack_file(s);
                if (r == 0)
                        r = q;
        }
        return r;
}

void dcem_spool_get_stats(const dcem_spool *s, dcem_spool_stats *ret) {
        *ret = s->st;
        ret->records = s->held;
        ret->bytes = s->total_bytes;
        ret->segments = s->nseg;
        ret->next_id = s->next_id;
        ret->ack_next = s->ack_next;
        ret->read_next = s->rd.id < s->ack_next ? s->ack_next : s->rd.id;
        ret->acked_ranges = s->nacked;
}

uint64_t dcem_spool_pending(const dcem_spool *s, uint64_t from, uint64_t to) {
        if (from < s->ack_next)
                from = s->ack_next;
        if (to > s->next_id)
                to = s->next_id;
        uint64_t n = 0;
        for (size_t i = 0; i < s->nseg && from < to; i++) {
                uint64_t a = s->segs[i].first_id > from ? s->segs[i].first_id : from;
                uint64_t b = s->segs[i].next_id < to ? s->segs[i].next_id : to;
                if (b > a)
                        n += (b - a) - acked_count(s, a, b);
        }
        return n;
}

uint64_t dcem_spool_backlog(const dcem_spool *s) {
        return dcem_spool_pending(s, s->rd.id, UINT64_MAX);
}

uint64_t dcem_spool_next_id(const dcem_spool *s) { return s->next_id; }

uint32_t dcem_spool_max_record(const dcem_spool *s) { return s->max_record; }

/* --- open and recovery --- */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static bool parse_seg_name(const char *n, uint64_t *ret) {
        /* seg-%020llu.dsp */
        if (strlen(n) != 4 + 20 + 4 || strncmp(n, "seg-", 4) != 0 || strcmp(n + 24, ".dsp") != 0)
                return false;
        uint64_t v = 0;
        for (int i = 4; i < 24; i++) {
                if (n[i] < '0' || n[i] > '9')
                        return false;
                uint64_t d = (uint64_t)(n[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *ret = v;
        return true;
}

/* Scan one segment file; keep it (appended to s->segs) or delete it. */
static int recover_one(dcem_spool *s, uint64_t first, bool last, uint8_t *buf) {
        char name[64];
        seg_name(name, first);
        int fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat stt;
        if (fstat(fd, &stt) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        seg g = { .first_id = first, .next_id = first, .size = (uint64_t)stt.st_size, .fd = fd };
        uint8_t h[DCEM_SPOOL_SEG_HDR];
        bool bad_hdr = g.size < sizeof h || pread_full(fd, h, sizeof h, 0) < 0 ||
                       memcmp(h, SEG_MAGIC, 8) != 0 || get64(h + 8) != first ||
                       (s->nseg > 0 && first < s->segs[s->nseg - 1].next_id);
        if (bad_hdr) {
                s->st.truncated_bytes += g.size;
                close(fd);
                (void)unlinkat(s->dirfd, name, 0);
                s->dir_dirty = true;
                return 0;
        }
        uint64_t off = sizeof h;
        for (;;) {
                uint32_t len;
                int r = rec_check(s, &g, off, buf, &len);
                if (r == -EBADMSG)
                        break;
                if (r < 0) {
                        close(fd);
                        return r;
                }
                off += DCEM_SPOOL_REC_HDR + len;
                g.next_id++;
        }
        if (off < g.size) { /* torn tail or corruption: cut */
                rc_invalidate(s);
                if (ftruncate(fd, (off_t)off) < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                s->st.truncated_bytes += g.size - off;
                g.size = off;
                g.dirty = true;
                s->dirty = true;
                s->dirty_since = dcem_clock_mono(s->clock);
        }
        if ((g.next_id > g.first_id && seg_done(s, &g)) || (g.next_id == g.first_id && !last)) {
                /* Fully acknowledged (the process died before deleting
                 * it), or an empty middle segment. */
                rc_invalidate(s);
                close(fd);
                (void)unlinkat(s->dirfd, name, 0);
                s->dir_dirty = true;
                return 0;
        }
        if (s->nseg == s->segcap) {
                size_t nc = s->segcap ? s->segcap * 2 : 8;
                seg *n = realloc(s->segs, nc * sizeof(seg));
                if (!n) {
                        close(fd);
                        return -ENOMEM;
                }
                s->segs = n;
                s->segcap = nc;
        }
        s->segs[s->nseg++] = g;
        s->total_bytes += g.size;
        return 0;
}

static int recover(dcem_spool *s, uint64_t next_floor, char *errbuf, size_t errlen) {
        int dfd = dup(s->dirfd);
        if (dfd < 0)
                return -errno;
        DIR *d = fdopendir(dfd);
        if (!d) {
                int r = -errno;
                close(dfd);
                return r;
        }
        uint64_t *ids = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                uint64_t id;
                if (!parse_seg_name(e->d_name, &id))
                        continue;
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        uint64_t *m = realloc(ids, nc * sizeof *m);
                        if (!m) {
                                r = -ENOMEM;
                                break;
                        }
                        ids = m;
                        cap = nc;
                }
                ids[n++] = id;
        }
        closedir(d);
        if (r == 0 && n > 0) {
                qsort(ids, n, sizeof *ids, cmp_u64);
                uint8_t *buf = malloc(s->max_record ? s->max_record : 1);
                if (!buf)
                        r = -ENOMEM;
                for (size_t i = 0; r == 0 && i < n; i++) {
                        r = recover_one(s, ids[i], i + 1 == n, buf);
                        if (r < 0)
                                snprintf(errbuf, errlen, "spool %s: recovering segment %" PRIu64 ": %s",
                                         s->dir, ids[i], strerror(-r));
                }
                free(buf);
        }
        free(ids);
        if (r < 0)
                return r;
        uint64_t end = s->ack_next > next_floor ? s->ack_next : next_floor;
        if (s->nseg > 0 && s->segs[s->nseg - 1].next_id > end)
                end = s->segs[s->nseg - 1].next_id;
        s->next_id = end;
        ack_advance(s);
        for (size_t i = 0; i < s->nseg; i++) {
                s->held += dcem_spool_pending(s, s->segs[i].first_id, s->segs[i].next_id);
                s->st.recovered_records += s->segs[i].next_id - s->segs[i].first_id;
        }
        return 0;
}

int dcem_spool_open(const char *dir, const dcem_spool_opts *opts, const dcem_clock *clock,
                    dcem_spool **ret, char *errbuf, size_t errlen) {
        dcem_spool_opts o = opts ? *opts : (dcem_spool_opts){ 0 };
        if (errlen)
                errbuf[0] = '\0';
        if (o.max_bytes == 0)
                o.max_bytes = DCEM_SPOOL_DEFAULT_BYTES;
        if (o.max_bytes < DCEM_SPOOL_MIN_BYTES || o.fsync_interval_ns < 0) {
                snprintf(errbuf, errlen, "spool: max_bytes must be at least %u bytes and fsync >= 0", DCEM_SPOOL_MIN_BYTES);
                return -EINVAL;
        }
        if (o.segment_bytes == 0) {
                o.segment_bytes = o.max_bytes / 8;
                if (o.segment_bytes < SEG_MIN)
                        o.segment_bytes = SEG_MIN;
                if (o.segment_bytes > SEG_MAX)
                        o.segment_bytes = SEG_MAX;
        }
        if (o.segment_bytes < SEG_MIN || o.segment_bytes > o.max_bytes / 2) {
                snprintf(errbuf, errlen, "spool: segment size %" PRIu64 " must be in [%u, max_bytes/2]",
                         o.segment_bytes, SEG_MIN);
                return -EINVAL;
        }
        uint64_t room = o.segment_bytes - DCEM_SPOOL_SEG_HDR - DCEM_SPOOL_REC_HDR;
        if (o.max_record == 0)
                o.max_record = (uint32_t)(room < DCEM_SPOOL_DEFAULT_RECORD ? room : DCEM_SPOOL_DEFAULT_RECORD);
        if (o.max_record > room) {
                snprintf(errbuf, errlen, "spool: max_record %" PRIu32 " does not fit a segment of %" PRIu64 " bytes",
                         o.max_record, o.segment_bytes);
                return -EINVAL;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                int r = -errno;
                snprintf(errbuf, errlen, "spool %s: cannot create the directory: %s", dir, strerror(errno));
                return r;
        }
        dcem_spool *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->dir = strdup(dir);
        s->clock = clock;
        s->max_bytes = o.max_bytes;
        s->segment_bytes = o.segment_bytes;
        s->max_record = o.max_record;
        s->fsync_ns = o.fsync_interval_ns;
        s->dirfd = -1;
        s->rc_buf = malloc(RCACHE_BYTES); /* without it, reads go straight to the files */
        if (!s->dir) {
                dcem_spool_close(s);
                return -ENOMEM;
        }
        s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dirfd < 0) {
                int r = -errno;
                snprintf(errbuf, errlen, "spool %s: %s", dir, strerror(errno));
                dcem_spool_close(s);
                return r;
        }
        uint64_t next_floor;
        read_ack_file(s, &next_floor);
        s->ack_persisted = s->ack_next;
        s->acked_dirty = false;
        s->last_ack_persist = dcem_clock_mono(clock);
        int r = recover(s, next_floor, errbuf, errlen);
        if (r < 0) {
                if (errlen && !errbuf[0])
                        snprintf(errbuf, errlen, "spool %s: %s", dir, strerror(-r));
                dcem_spool_close(s);
                return r;
        }
        dcem_spool_cursor_init(s, &s->rd, s->ack_next);
        *ret = s;
        return 0;
}

void dcem_spool_close(dcem_spool *s) {
        if (!s)
                return;
        if (s->dirfd >= 0) {
                (void)dcem_spool_sync(s);
                close(s->dirfd);
        }
        for (size_t i = 0; i < s->nseg; i++)
                if (s->segs[i].fd >= 0)
                        close(s->segs[i].fd);
        free(s->segs);
        free(s->acked);
        free(s->rc_buf);
        free(s->dir);
        free(s);
}
