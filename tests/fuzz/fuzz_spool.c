/* fuzz_spool.c - libFuzzer target for the spool's recovery and reader
 * (agent/spool.c): the input becomes segment files and an ack file in a
 * temporary directory (valid records, wrong CRCs, torn records, raw bytes,
 * bad headers, overlapping ids, corrupt or contradictory ack state); the
 * spool is opened and read fully. Invariants checked:
 *   - no crash, no sanitizer report;
 *   - every record returned is byte for byte a record of the segment file
 *     its id belongs to, with a matching length and CRC32 header;
 *   - ids strictly increase and stay below next_id;
 *   - the reader returns exactly the records the spool says it holds;
 *   - after acknowledging them all and reopening, nothing is returned again
 *     and a new append gets an id above every id seen.
 * Built as a libFuzzer target (tests/fuzz/CMakeLists.txt, -DDCEM_FUZZ=ON) and
 * replayed over tests/fuzz/corpus/spool by any compiler (fuzz_spool_replay).
 *
 * Input layout (missing bytes read as 0):
 *   u8 flags: bits 0-1 segments-1, bits 2-3 ack mode (0 none, 1 raw bytes,
 *             2 valid v2 state, 3 valid v1 cursor)
 *   ack: mode 1: u8 n, n bytes; mode 2: u8 ack, u8 next-ack, u8 ranges,
 *        per range u8 gap, u8 len; mode 3: u8 ack
 *   per segment: u8 first-id step, u8 header mode (0 valid, 1 bad magic,
 *        2 wrong id, 3 short), u8 records, per record u8 kind (low 2 bits:
 *        0 valid, 1 wrong CRC, 2 torn (cut inside), 3 raw bytes), u8 len,
 *        len payload bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dcem/spool.h"

static int64_t fz_mono(void *ud) { (void)ud; return 1000 * DCEM_NS_PER_S; }
static int64_t fz_utc(void *ud) { (void)ud; return INT64_C(1800000000) * DCEM_NS_PER_S; }
static const dcem_clock_ops fz_ops = { fz_mono, fz_utc };
static const dcem_clock fz_clock = { &fz_ops, NULL };

typedef struct in {
        const uint8_t *p;
        size_t n, off;
} in;

static uint8_t take(in *x) { return x->off < x->n ? x->p[x->off++] : 0; }

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }

#define MAX_SEGS 4
#define SEG_BUF 8192

typedef struct segfile {
        uint64_t first;
        uint8_t data[SEG_BUF];
        size_t len;
} segfile;

static char dir[64];

static void clean_dir(void) {
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
                if (e->d_name[0] != '.') {
                        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                        unlink(p);
                }
        closedir(d);
}

static void write_file(const char *name, const uint8_t *b, size_t n) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                abort();
        if (n > 0 && write(fd, b, n) != (ssize_t)n)
                abort();
        close(fd);
}

static void app(segfile *s, const void *b, size_t n) {
        if (n > SEG_BUF - s->len)
                n = SEG_BUF - s->len;
        memcpy(s->data + s->len, b, n);
        s->len += n;
}

static uint32_t crc_of(const uint8_t lenle[4], const uint8_t *p, size_t n) {
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, lenle, 4);
        return (uint32_t)crc32(c, p, (uInt)n);
}

static void write_ack(in *x, int mode) {
        uint8_t b[32 + 16 * 16 + 4];
        if (mode == 1) {
                uint8_t n = take(x);
                uint8_t raw[256];
                for (unsigned i = 0; i < n; i++)
                        raw[i] = take(x);
                write_file("ack", raw, n);
        } else if (mode == 2) {
                uint64_t ack = take(x), next = ack + take(x);
                unsigned nr = take(x) % 16;
                memcpy(b, "DCEMACK2", 8);
                put64(b + 8, ack);
                put64(b + 16, next);
                put32(b + 24, nr);
                put32(b + 28, 0);
                uint64_t at = ack;
                for (unsigned i = 0; i < nr; i++) {
                        at += take(x);
                        put64(b + 32 + 16 * i, at);
                        at += take(x);
                        put64(b + 32 + 16 * i + 8, at);
                }
                size_t len = 32 + 16 * nr + 4;
                put32(b + len - 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)(len - 4)));
                write_file("ack", b, len);
        } else if (mode == 3) {
                memcpy(b, "DCEMACK1", 8);
                put64(b + 8, take(x));
                put32(b + 16, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, 16));
                put32(b + 20, 0);
                write_file("ack", b, 24);
        }
}

/* Whether rec (8-byte header + payload) is the (id - first)-th record of a
 * segment file with first <= id, walking the file as the format says
 * (records until the first bad length, overrun or CRC). */
static bool in_a_segment(const segfile *segs, unsigned nseg, uint64_t id, const uint8_t *rec, size_t n) {
        for (unsigned i = 0; i < nseg; i++) {
                const segfile *g = &segs[i];
                if (g->first > id || g->len < 16)
                        continue;
                size_t off = 16;
                uint64_t k = g->first;
                while (off + 8 <= g->len) {
                        uint32_t len = get32(g->data + off);
                        if (len > g->len - off - 8 || crc_of(g->data + off, g->data + off + 8, len) != get32(g->data + off + 4))
                                break;
                        if (k == id) {
                                if (8 + (size_t)len == n && memcmp(g->data + off, rec, n) == 0)
                                        return true;
                                break;
                        }
                        off += 8 + len;
                        k++;
                }
        }
        return false;
}

static segfile segs[MAX_SEGS];

static void remove_dir(void) {
        clean_dir();
        rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!dir[0]) {
                struct stat st;
                bool shm = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0;
                snprintf(dir, sizeof dir, "%s/dcem-fuzz-spool-XXXXXX", shm ? "/dev/shm" : "/tmp");
                if (!mkdtemp(dir))
                        abort();
                atexit(remove_dir);
        }
        clean_dir();
        in x = { data, size, 0 };
        uint8_t flags = take(&x);
        unsigned nseg = (flags & 3) + 1;
        write_ack(&x, (flags >> 2) & 3);
        uint64_t first = 0;
        for (unsigned i = 0; i < nseg; i++) {
                segfile *s = &segs[i];
                first += take(&x);
                s->first = first;
                s->len = 0;
                uint8_t mode = take(&x) % 4;
                uint8_t h[16];
                memcpy(h, mode == 1 ? "DCEMSPLX" : "DCEMSPL1", 8);
                put64(h + 8, mode == 2 ? first + 1 : first);
                app(s, h, mode == 3 ? 11 : 16);
                unsigned nrec = take(&x);
                for (unsigned k = 0; k < nrec; k++) {
                        uint8_t kind = take(&x) & 3;
                        uint8_t len = take(&x);
                        uint8_t pl[256];
                        for (unsigned j = 0; j < len; j++)
                                pl[j] = take(&x);
                        uint8_t rh[8];
                        put32(rh, len);
                        put32(rh + 4, crc_of(rh, pl, len) ^ (kind == 1 ? 0x10u : 0));
                        if (kind == 3) {
                                app(s, pl, len);
                        } else if (kind == 2) {
                                uint8_t full[8 + 256];
                                memcpy(full, rh, 8);
                                memcpy(full + 8, pl, len);
                                app(s, full, (8u + len) / 2);
                        } else {
                                app(s, rh, 8);
                                app(s, pl, len);
                        }
                }
                char name[64];
                snprintf(name, sizeof name, "seg-%020" PRIu64 ".dsp", s->first);
                write_file(name, s->data, s->len);
        }

        dcem_spool_opts o = { .max_bytes = 64 << 10, .segment_bytes = 4 << 10, .fsync_interval_ns = DCEM_NS_PER_S };
        dcem_spool *sp = NULL;
        char err[256];
        if (dcem_spool_open(dir, &o, &fz_clock, &sp, err, sizeof err) < 0)
                return 0; /* refused (I/O): fine, as long as nothing crashed */
        dcem_spool_stats st;
        dcem_spool_get_stats(sp, &st);
        uint64_t held = st.records, next = st.next_id;
        uint8_t buf[8 + 4096];
        uint64_t ids[1024], n = 0, id;
        size_t len;
        int r;
        while ((r = dcem_spool_read(sp, buf + 8, sizeof buf - 8, &id, &len)) == 0) {
                if (n > 0 && id <= ids[n - 1])
                        abort(); /* ids must increase */
                if (id >= next)
                        abort();
                put32(buf, (uint32_t)len);
                put32(buf + 4, crc_of(buf, buf + 8, len));
                if (!in_a_segment(segs, nseg, id, buf, 8 + len))
                        abort(); /* not a record that was on disk, or a bad CRC */
                if (get32(buf) != len)
                        abort();
                if (n >= sizeof ids / sizeof ids[0])
                        abort();
                ids[n++] = id;
        }
        if (r != -ENOENT)
                abort();
        if (n != held)
                abort(); /* the reader and the count disagree */
        for (uint64_t i = 0; i < n; i++)
                if (dcem_spool_ack(sp, ids[i]) < 0)
                        abort();
        dcem_spool_get_stats(sp, &st);
        if (st.records != 0)
                abort();
        dcem_spool_close(sp);
        sp = NULL;
        if (dcem_spool_open(dir, &o, &fz_clock, &sp, err, sizeof err) < 0)
                abort(); /* it opened before */
        if (dcem_spool_read(sp, buf, sizeof buf, &id, &len) != -ENOENT)
                abort(); /* an acknowledged record came back */
        if (dcem_spool_append(sp, "x", 1, &id) < 0)
                abort();
        if (id < next || (n > 0 && id <= ids[n - 1]))
                abort(); /* ids went back */
        dcem_spool_close(sp);
        return 0;
}
