/* test_spool.c - the store-and-forward spool (agent/spool.c): append, read,
 * ack and replay; crash recovery with the last record torn at every byte
 * offset and with a flipped bit; the disk budget's drop-oldest accounting;
 * the crash-safe ack cursor (a child process "crashes" with _exit); the
 * fsync policy on a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dcem/spool.h"

/* --- a fake clock --- */
static int64_t fake_now;
static int64_t fake_mono(void *ud) { (void)ud; return fake_now; }
static int64_t fake_utc(void *ud) { (void)ud; return fake_now + INT64_C(1800000000) * DCEM_NS_PER_S; }
static const dcem_clock_ops fake_ops = { fake_mono, fake_utc };
static const dcem_clock fake_clock = { &fake_ops, NULL };

/* --- helpers --- */
/* In /dev/shm when there is one: the same file semantics, but fsync is
 * cheap, and the torn-record test opens and syncs hundreds of copies. */
static char *mkdtemp_spool(void) {
        struct stat st;
        bool shm = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0;
        char *t = strdup(shm ? "/dev/shm/dcem-spool-XXXXXX" : "/tmp/dcem-spool-XXXXXX");
        assert_non_null(mkdtemp(t));
        return t;
}

static void rm_rf(const char *dir) {
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                        unlink(p);
                }
        closedir(d);
        rmdir(dir);
}

static void cp_dir(const char *from, const char *to) {
        rm_rf(to);
        assert_int_equal(mkdir(to, 0700), 0);
        DIR *d = opendir(from);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                char a[512], b[512], buf[8192];
                snprintf(a, sizeof a, "%s/%s", from, e->d_name);
                snprintf(b, sizeof b, "%s/%s", to, e->d_name);
                int fi = open(a, O_RDONLY), fo = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                assert_true(fi >= 0 && fo >= 0);
                ssize_t n;
                while ((n = read(fi, buf, sizeof buf)) > 0)
                        assert_int_equal(write(fo, buf, (size_t)n), n);
                close(fi);
                close(fo);
        }
        closedir(d);
}

/* Sum of the sizes of the segment files, and the newest segment's path. */
static uint64_t disk_usage(const char *dir, char *last, size_t lastlen) {
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        uint64_t sum = 0;
        char best[256] = "";
        while ((e = readdir(d))) {
                if (strncmp(e->d_name, "seg-", 4) != 0)
                        continue;
                char p[512];
                struct stat st;
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                assert_int_equal(stat(p, &st), 0);
                sum += (uint64_t)st.st_size;
                if (strcmp(e->d_name, best) > 0)
                        snprintf(best, sizeof best, "%s", e->d_name);
        }
        closedir(d);
        if (last)
                snprintf(last, lastlen, "%s/%s", dir, best);
        return sum;
}

/* Record i's payload: deterministic, variable length (1..300 bytes). */
static size_t payload(uint64_t i, uint8_t *buf) {
        size_t len = 1 + (size_t)((i * 7919u) % 300u);
        for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)(i * 31u + k);
        return len;
}

static dcem_spool *open_ok(const char *dir, const dcem_spool_opts *o) {
        dcem_spool *s = NULL;
        char err[256];
        int r = dcem_spool_open(dir, o, &fake_clock, &s, err, sizeof err);
        if (r < 0)
                fail_msg("open %s: %d %s", dir, r, err);
        return s;
}

/* Read everything left; check each record is payload(id) and ids are
 * consecutive from first. Returns the count. */
static uint64_t read_all_check(dcem_spool *s, uint64_t first) {
        uint8_t buf[4096], want[512];
        uint64_t id, n = 0;
        size_t len;
        int r;
        while ((r = dcem_spool_read(s, buf, sizeof buf, &id, &len)) == 0) {
                assert_int_equal(id, first + n);
                size_t wl = payload(id, want);
                assert_int_equal(len, wl);
                assert_memory_equal(buf, want, wl);
                n++;
        }
        assert_int_equal(r, -ENOENT);
        return n;
}

static void append_n(dcem_spool *s, uint64_t from, uint64_t n) {
        uint8_t buf[512];
        for (uint64_t i = from; i < from + n; i++) {
                uint64_t id = 0;
                size_t len = payload(i, buf);
                assert_int_equal(dcem_spool_append(s, buf, len, &id), 0);
                assert_int_equal(id, i);
        }
}

/* --- tests --- */

static void test_append_read_ack_replay(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        dcem_spool_opts o = { .max_bytes = 1 << 20, .fsync_interval_ns = DCEM_NS_PER_S };
        dcem_spool *s = open_ok(dir, &o);
        append_n(s, 0, 500); /* spans several 128 KiB segments */
        assert_int_equal(read_all_check(s, 0), 500);
        dcem_spool_stats st;
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.records, 500);
        assert_true(st.segments >= 1);
        /* Ack out of order: 1..99, then 0: the cursor jumps to 100. */
        for (uint64_t i = 1; i < 100; i++)
                assert_int_equal(dcem_spool_ack(s, i), 0);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.ack_next, 0);
        assert_int_equal(st.records, 401);
        assert_int_equal(dcem_spool_ack(s, 0), 0);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.ack_next, 100);
        assert_int_equal(st.records, 400);
        assert_int_equal(dcem_spool_ack(s, 5), 0); /* below the cursor: ignored */
        assert_int_equal(dcem_spool_ack(s, 500), -EINVAL);
        /* Rewind: replay starts at the cursor. */
        dcem_spool_rewind(s);
        assert_int_equal(read_all_check(s, 100), 400);
        dcem_spool_close(s);
        /* Reopen: the acked records are gone, the rest replays in order. */
        s = open_ok(dir, &o);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.records, 400);
        assert_int_equal(st.next_id, 500);
        assert_int_equal(read_all_check(s, 100), 400);
        append_n(s, 500, 10);
        for (uint64_t i = 100; i < 510; i++)
                assert_int_equal(dcem_spool_ack(s, i), 0);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.ack_next, 510);
        dcem_spool_close(s);
        /* Everything acked: ids go on from 510 after a reopen. */
        s = open_ok(dir, &o);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.next_id, 510);
        uint8_t b[8] = { 0 };
        uint64_t id;
        size_t len;
        assert_int_equal(dcem_spool_read(s, b, sizeof b, &id, &len), -ENOENT);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

static void test_limits(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        dcem_spool *s = NULL;
        char err[256];
        dcem_spool_opts bad = { .max_bytes = 1000 };
        assert_int_equal(dcem_spool_open(dir, &bad, &fake_clock, &s, err, sizeof err), -EINVAL);
        assert_null(s);
        assert_true(strlen(err) > 0);
        dcem_spool_opts o = { .max_bytes = 64 << 10, .max_record = 1000 };
        s = open_ok(dir, &o);
        assert_int_equal(dcem_spool_max_record(s), 1000);
        static uint8_t big[1001];
        assert_int_equal(dcem_spool_append(s, big, 1001, NULL), -E2BIG);
        assert_int_equal(dcem_spool_append(s, big, 1000, NULL), 0);
        assert_int_equal(dcem_spool_append(s, big, 0, NULL), 0);
        uint8_t small[10];
        uint64_t id;
        size_t len;
        assert_int_equal(dcem_spool_read(s, small, sizeof small, &id, &len), -ENOBUFS);
        assert_int_equal(dcem_spool_read(s, big, sizeof big, &id, &len), 0);
        assert_int_equal(len, 1000);
        assert_int_equal(dcem_spool_read(s, small, sizeof small, &id, &len), 0);
        assert_int_equal(len, 0);
        assert_int_equal(id, 1);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

/* Acknowledgements far ahead of the cursor (a live lane while a backlog
 * replays): kept as ranges, skipped by readers, fully acknowledged middle
 * segments deleted, and all of it persisted: after a reopen exactly the
 * unacknowledged records replay. */
static void test_ack_ranges_far_ahead(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        dcem_spool_opts o = { .max_bytes = 16 << 20, .segment_bytes = 64 << 10, .fsync_interval_ns = DCEM_NS_PER_S };
        dcem_spool *s = open_ok(dir, &o);
        const uint64_t n = 200000; /* ids far past any fixed window */
        for (uint64_t i = 0; i < n; i++)
                assert_int_equal(dcem_spool_append(s, "", 0, NULL), 0);
        dcem_spool_stats st;
        dcem_spool_get_stats(s, &st);
        uint64_t segs0 = st.segments;
        assert_true(segs0 > 10);
        /* The "live" part [100000, 200000) acked; the backlog [0, 100000) not,
         * except every third id of [0, 3000). */
        for (uint64_t i = 100000; i < n; i++)
                assert_int_equal(dcem_spool_ack(s, i), 0);
        for (uint64_t i = 0; i < 3000; i += 3)
                assert_int_equal(dcem_spool_ack(s, i), 0);
        assert_int_equal(dcem_spool_ack(s, n), -EINVAL);
        assert_int_equal(dcem_spool_ack(s, n - 1), 0); /* twice: ignored */
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.ack_next, 1);
        uint64_t want = 100000 - 1000;
        assert_int_equal(st.records, want);
        assert_int_equal(dcem_spool_pending(s, 0, UINT64_MAX), want);
        assert_int_equal(dcem_spool_pending(s, 0, 3000), 2000);
        assert_int_equal(dcem_spool_pending(s, 100000, UINT64_MAX), 0);
        assert_true(st.segments < segs0); /* the acked middle segments are gone */
        /* A reader sees exactly the unacked ids, in order. */
        uint8_t buf[16];
        uint64_t id, k = 0;
        size_t len;
        dcem_spool_rewind(s);
        while (dcem_spool_read(s, buf, sizeof buf, &id, &len) == 0) {
                assert_true(id < 100000);
                assert_true(id >= 3000 || id % 3 != 0);
                k++;
        }
        assert_int_equal(k, want);
        /* Two cursors with an end: lanes. */
        dcem_spool_cursor a, b;
        dcem_spool_cursor_init(s, &a, 0);
        dcem_spool_cursor_init(s, &b, 99990);
        assert_int_equal(dcem_spool_read_cursor(s, &a, 5, buf, sizeof buf, &id, &len), 0);
        assert_int_equal(id, 1);
        assert_int_equal(dcem_spool_read_cursor(s, &a, 5, buf, sizeof buf, &id, &len), 0);
        assert_int_equal(id, 2);
        assert_int_equal(dcem_spool_read_cursor(s, &a, 5, buf, sizeof buf, &id, &len), 0);
        assert_int_equal(id, 4);
        assert_int_equal(dcem_spool_read_cursor(s, &a, 5, buf, sizeof buf, &id, &len), -ENOENT);
        for (uint64_t j = 99990; j < 100000; j++) {
                assert_int_equal(dcem_spool_read_cursor(s, &b, UINT64_MAX, buf, sizeof buf, &id, &len), 0);
                assert_int_equal(id, j);
        }
        assert_int_equal(dcem_spool_read_cursor(s, &b, UINT64_MAX, buf, sizeof buf, &id, &len), -ENOENT);
        assert_int_equal(dcem_spool_append(s, "x", 1, &id), 0);
        assert_int_equal(id, n);
        assert_int_equal(dcem_spool_read_cursor(s, &b, UINT64_MAX, buf, sizeof buf, &id, &len), 0);
        assert_int_equal(id, n); /* a live cursor finds later appends */
        dcem_spool_close(s);
        /* Reopen: the ranges were persisted. */
        s = open_ok(dir, &o);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.records, want + 1);
        assert_int_equal(st.next_id, n + 1);
        k = 0;
        while (dcem_spool_read(s, buf, sizeof buf, &id, &len) == 0) {
                assert_true(id < 100000 || id == n);
                assert_true(id >= 3000 || id % 3 != 0);
                k++;
        }
        assert_int_equal(k, want + 1);
        /* Ack everything: every segment but the last goes, ids go on. */
        dcem_spool_rewind(s);
        while (dcem_spool_read(s, buf, sizeof buf, &id, &len) == 0)
                assert_int_equal(dcem_spool_ack(s, id), 0);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.ack_next, n + 1);
        assert_true(st.segments <= 1);
        dcem_spool_close(s);
        s = open_ok(dir, &o);
        assert_int_equal(dcem_spool_append(s, "y", 1, &id), 0);
        assert_int_equal(id, n + 1);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

/* A fully acknowledged last segment deleted while older records are still
 * held: the next id is persisted, so ids never go back after a crash. */
static void test_next_id_survives_deleted_tail(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        /* 1000-byte records, 8 per 8 KiB segment: 25 full segments. */
        dcem_spool_opts o = { .max_bytes = 1 << 20, .segment_bytes = 8 << 10, .fsync_interval_ns = DCEM_NS_PER_S };
        dcem_spool *s = open_ok(dir, &o);
        uint8_t big[1000];
        for (uint64_t i = 0; i < 200; i++) {
                memset(big, (int)(i & 0xff), sizeof big);
                assert_int_equal(dcem_spool_append(s, big, sizeof big, NULL), 0);
        }
        dcem_spool_stats st;
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.segments, 25);
        for (uint64_t i = 100; i < 200; i++)
                assert_int_equal(dcem_spool_ack(s, i), 0);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.records, 100);
        assert_int_equal(st.segments, 13); /* [0, 104): the rest deleted, the last one too */
        char last[512];
        disk_usage(dir, last, sizeof last);
        assert_non_null(strstr(last, "seg-00000000000000000096.dsp"));
        /* Crash: reopen without closing the first handle. */
        dcem_spool *s2 = open_ok(dir, &o);
        dcem_spool_get_stats(s2, &st);
        assert_int_equal(st.next_id, 200);
        assert_int_equal(st.records, 100);
        uint64_t id, k = 0;
        size_t len;
        uint8_t buf[1024];
        while (dcem_spool_read(s2, buf, sizeof buf, &id, &len) == 0) {
                assert_int_equal(id, k);
                assert_int_equal(buf[0], (uint8_t)(k & 0xff));
                k++;
        }
        assert_int_equal(k, 100);
        assert_int_equal(dcem_spool_append(s2, "z", 1, &id), 0);
        assert_int_equal(id, 200);
        dcem_spool_close(s2);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

/* Truncate the newest segment at every byte offset of its last record: the
 * spool keeps exactly the records before it, in order, and goes on. */
static void test_torn_last_record_every_offset(void **state) {
        (void)state;
        char *dir = mkdtemp_spool(), *work = mkdtemp_spool();
        dcem_spool_opts o = { .max_bytes = 1 << 20 };
        dcem_spool *s = open_ok(dir, &o);
        const uint64_t K = 40;
        append_n(s, 0, K - 1);
        dcem_spool_close(s);
        char last[512];
        disk_usage(dir, last, sizeof last);
        struct stat st0;
        assert_int_equal(stat(last, &st0), 0);
        s = open_ok(dir, &o);
        append_n(s, K - 1, 1);
        dcem_spool_close(s);
        struct stat st1;
        assert_int_equal(stat(last, &st1), 0);
        uint8_t tmp[512];
        assert_int_equal((uint64_t)(st1.st_size - st0.st_size), DCEM_SPOOL_REC_HDR + payload(K - 1, tmp));
        const char *base = strrchr(last, '/') + 1;
        for (off_t cut = st0.st_size; cut <= st1.st_size; cut++) {
                cp_dir(dir, work);
                char p[512];
                snprintf(p, sizeof p, "%s/%s", work, base);
                assert_int_equal(truncate(p, cut), 0);
                s = open_ok(work, &o);
                dcem_spool_stats st;
                dcem_spool_get_stats(s, &st);
                uint64_t expect = cut == st1.st_size ? K : K - 1;
                assert_int_equal(st.records, expect);
                assert_int_equal(st.truncated_bytes, cut == st1.st_size ? 0 : (uint64_t)(cut - st0.st_size));
                assert_int_equal(read_all_check(s, 0), expect);
                /* The spool goes on: a new record after the cut survives a reopen. */
                append_n(s, expect, 1);
                dcem_spool_close(s);
                struct stat sc;
                assert_int_equal(stat(p, &sc), 0);
                assert_int_equal(sc.st_size, st0.st_size + (cut == st1.st_size ? (st1.st_size - st0.st_size) : 0) +
                                                      (off_t)(DCEM_SPOOL_REC_HDR + payload(expect, tmp)));
                s = open_ok(work, &o);
                assert_int_equal(read_all_check(s, 0), expect + 1);
                dcem_spool_close(s);
        }
        /* A flipped bit in the last record's payload: CRC catches it. */
        for (off_t at = st0.st_size; at < st1.st_size; at += 5) {
                cp_dir(dir, work);
                char p[512];
                snprintf(p, sizeof p, "%s/%s", work, base);
                int fd = open(p, O_RDWR);
                uint8_t c;
                assert_int_equal(pread(fd, &c, 1, at), 1);
                c ^= 0x10;
                assert_int_equal(pwrite(fd, &c, 1, at), 1);
                close(fd);
                s = open_ok(work, &o);
                assert_int_equal(read_all_check(s, 0), K - 1);
                dcem_spool_close(s);
        }
        rm_rf(dir);
        rm_rf(work);
        free(dir);
        free(work);
}

/* A budget far too small: the oldest records are dropped and counted, the
 * newest are all there, in order, and the files stay within the budget. */
static void test_budget_drop_oldest(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        dcem_spool_opts o = { .max_bytes = 64 << 10, .segment_bytes = 8 << 10, .max_record = 512 };
        dcem_spool *s = open_ok(dir, &o);
        const uint64_t N = 2000;
        uint8_t buf[512];
        for (uint64_t i = 0; i < N; i++) {
                size_t len = payload(i, buf);
                assert_int_equal(dcem_spool_append(s, buf, len, NULL), 0);
                assert_true(disk_usage(dir, NULL, 0) <= o.max_bytes);
        }
        /* Ack a few of the oldest still held: acked records are not "dropped". */
        dcem_spool_stats st;
        dcem_spool_get_stats(s, &st);
        uint64_t first = st.ack_next;
        assert_true(first > 0);
        assert_int_equal(dcem_spool_ack(s, first + 1), 0);
        assert_int_equal(st.dropped_records + st.records, N);
        /* The dropped bytes are the payloads of exactly the dropped ids. */
        uint64_t dropped_payload = 0;
        for (uint64_t i = 0; i < first; i++)
                dropped_payload += payload(i, buf);
        assert_int_equal(st.dropped_records, first);
        assert_int_equal(st.dropped_bytes, dropped_payload);
        /* Pushing more drops segment by segment; the acked record is not counted. */
        uint64_t before = st.dropped_records;
        for (uint64_t i = N; i < N + 500; i++) {
                size_t len = payload(i, buf);
                assert_int_equal(dcem_spool_append(s, buf, len, NULL), 0);
        }
        dcem_spool_get_stats(s, &st);
        uint64_t first2 = st.ack_next;
        assert_true(first2 > first + 1);
        assert_int_equal(st.dropped_records - before, first2 - first - 1);
        assert_int_equal(st.records + st.dropped_records + 1, N + 500);
        assert_int_equal(read_all_check(s, first2), N + 500 - first2);
        dcem_spool_close(s);
        /* Reopen: the same newest records. */
        s = open_ok(dir, &o);
        assert_int_equal(read_all_check(s, first2), N + 500 - first2);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

/* The ack cursor survives a crash: a child acks, syncs, acks more and dies
 * without closing. The parent reopens: nothing synced-acked replays, nothing
 * unacked is lost (records acked after the last sync may replay). */
static void test_ack_cursor_crash_safe(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        dcem_spool_opts o = { .max_bytes = 256 << 10, .segment_bytes = 8 << 10, .fsync_interval_ns = DCEM_NS_PER_S };
        dcem_spool *s = open_ok(dir, &o);
        append_n(s, 0, 600);
        dcem_spool_close(s);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dcem_spool *c = NULL;
                char err[128];
                if (dcem_spool_open(dir, &o, &fake_clock, &c, err, sizeof err) < 0)
                        _exit(2);
                for (uint64_t i = 0; i < 300; i++)
                        if (dcem_spool_ack(c, i) < 0)
                                _exit(3);
                if (dcem_spool_sync(c) < 0)
                        _exit(4);
                for (uint64_t i = 300; i < 400; i++)
                        if (dcem_spool_ack(c, i) < 0)
                                _exit(5);
                /* Appended after the sync point, not fsynced, but written: kept. */
                uint8_t b[512];
                for (uint64_t i = 600; i < 610; i++) {
                        size_t len = payload(i, b);
                        if (dcem_spool_append(c, b, len, NULL) < 0)
                                _exit(6);
                }
                _exit(0); /* crash: no close, no final sync */
        }
        int wst;
        assert_int_equal(waitpid(pid, &wst, 0), pid);
        assert_true(WIFEXITED(wst));
        assert_int_equal(WEXITSTATUS(wst), 0);
        s = open_ok(dir, &o);
        dcem_spool_stats st;
        dcem_spool_get_stats(s, &st);
        /* Cursor at least what was synced, at most what was acked. */
        assert_true(st.ack_next >= 300 && st.ack_next <= 400);
        assert_int_equal(st.next_id, 610);
        assert_int_equal(read_all_check(s, st.ack_next), 610 - st.ack_next);
        dcem_spool_close(s);
        /* A garbage cursor file: replay from the oldest segment, lose nothing. */
        char p[512];
        snprintf(p, sizeof p, "%s/ack", dir);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs("garbage that is not a cursor", f);
        fclose(f);
        s = open_ok(dir, &o);
        dcem_spool_get_stats(s, &st);
        assert_true(st.ack_next <= 400);
        assert_int_equal(read_all_check(s, st.ack_next), 610 - st.ack_next);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

static void test_fsync_policy(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        fake_now = 1000 * DCEM_NS_PER_S;
        dcem_spool_opts o = { .max_bytes = 1 << 20, .fsync_interval_ns = DCEM_NS_PER_S };
        dcem_spool *s = open_ok(dir, &o);
        dcem_spool_stats st;
        append_n(s, 0, 1);
        fake_now += DCEM_NS_PER_S / 2;
        append_n(s, 1, 1);
        assert_int_equal(dcem_spool_tick(s), 0);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.fsyncs, 0);
        fake_now += DCEM_NS_PER_S / 2;
        assert_int_equal(dcem_spool_tick(s), 0);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.fsyncs, 1);
        assert_int_equal(dcem_spool_tick(s), 0); /* nothing new */
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.fsyncs, 1);
        fake_now += 3 * DCEM_NS_PER_S;
        append_n(s, 2, 1); /* dirty since now: no fsync yet */
        fake_now += DCEM_NS_PER_S;
        append_n(s, 3, 1); /* one second old: fsync on append */
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.fsyncs, 2);
        dcem_spool_close(s);
        rm_rf(dir);
        /* fsync 0: every append. */
        dcem_spool_opts o0 = { .max_bytes = 1 << 20, .fsync_interval_ns = 0 };
        s = open_ok(dir, &o0);
        append_n(s, 0, 5);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.fsyncs, 5);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

/* Corruption found while reading (after open): the rest of that segment is
 * counted as dropped, later segments are still read. */
static void test_corruption_while_reading(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        dcem_spool_opts o = { .max_bytes = 256 << 10, .segment_bytes = 8 << 10 };
        dcem_spool *s = open_ok(dir, &o);
        append_n(s, 0, 200);
        dcem_spool_stats st;
        dcem_spool_get_stats(s, &st);
        assert_true(st.segments >= 3);
        /* Flip a byte of the 3rd record of the first segment. */
        char p[512];
        snprintf(p, sizeof p, "%s/seg-%020d.dsp", dir, 0);
        uint8_t tmp[512];
        off_t at = DCEM_SPOOL_SEG_HDR;
        for (uint64_t i = 0; i < 2; i++)
                at += (off_t)(DCEM_SPOOL_REC_HDR + payload(i, tmp));
        at += DCEM_SPOOL_REC_HDR;
        int fd = open(p, O_RDWR);
        assert_true(fd >= 0);
        uint8_t c;
        assert_int_equal(pread(fd, &c, 1, at), 1);
        c ^= 0xff;
        assert_int_equal(pwrite(fd, &c, 1, at), 1);
        close(fd);
        uint8_t buf[4096], want[512];
        uint64_t id, n = 0, next_expected = 0;
        size_t len;
        int r;
        uint64_t seg2_first = UINT64_MAX;
        while ((r = dcem_spool_read(s, buf, sizeof buf, &id, &len)) == 0) {
                if (next_expected == 2) { /* the jump over the cut tail */
                        assert_true(id > 2);
                        seg2_first = id;
                } else {
                        assert_int_equal(id, next_expected);
                }
                assert_int_equal(len, payload(id, want));
                assert_memory_equal(buf, want, len);
                next_expected = id + 1;
                n++;
        }
        assert_int_equal(r, -ENOENT);
        assert_int_equal(next_expected, 200);
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.dropped_records, seg2_first - 2);
        assert_int_equal(n + st.dropped_records, 200);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

/* The read cache (64 KiB of one segment; appends extend it): what is read
 * is always what is on disk now. A torn tail read into the cache by
 * recovery and cut there is never served after new records took its
 * place; reads interleaved with appends, segment roll-overs and segments
 * deleted by acknowledgements return every record exactly. */
static void test_read_cache_consistency(void **state) {
        (void)state;
        char *dir = mkdtemp_spool();
        dcem_spool_opts o = { .max_bytes = 1 << 20 };
        dcem_spool *s = open_ok(dir, &o);
        append_n(s, 0, 50);
        dcem_spool_close(s);
        /* A torn last write: a header announcing 200 bytes, 120 of them there. */
        char last[512];
        disk_usage(dir, last, sizeof last);
        int fd = open(last, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        uint8_t junk[128];
        memset(junk, 0xA5, sizeof junk);
        junk[0] = 200, junk[1] = junk[2] = junk[3] = 0;
        assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
        close(fd);
        s = open_ok(dir, &o);
        dcem_spool_stats st;
        dcem_spool_get_stats(s, &st);
        assert_int_equal(st.truncated_bytes, sizeof junk);
        dcem_spool_cursor c;
        dcem_spool_cursor_init(s, &c, 0);
        uint8_t buf[4096], want[512];
        uint64_t id;
        size_t len;
        for (uint64_t i = 0; i < 50; i++) {
                assert_int_equal(dcem_spool_read_cursor(s, &c, UINT64_MAX, buf, sizeof buf, &id, &len), 0);
                assert_int_equal(id, i);
        }
        assert_int_equal(dcem_spool_read_cursor(s, &c, UINT64_MAX, buf, sizeof buf, &id, &len), -ENOENT);
        /* New records where the torn bytes were; read on through the same cache. */
        append_n(s, 50, 30);
        for (uint64_t i = 50; i < 80; i++) {
                assert_int_equal(dcem_spool_read_cursor(s, &c, UINT64_MAX, buf, sizeof buf, &id, &len), 0);
                assert_int_equal(id, i);
                assert_int_equal(len, payload(i, want));
                assert_memory_equal(buf, want, len);
        }
        assert_int_equal(read_all_check(s, 0), 80);
        dcem_spool_close(s);
        rm_rf(dir);

        /* Lockstep: small segments, each record read right after its append
         * (the live lane), a second cursor far behind (the backlog), and
         * acknowledgements deleting segments under both. */
        s = open_ok(dir, &(dcem_spool_opts){ .max_bytes = 256 << 10, .segment_bytes = 8 << 10 });
        dcem_spool_cursor live, back;
        dcem_spool_cursor_init(s, &live, 0);
        dcem_spool_cursor_init(s, &back, 0);
        uint64_t back_next = 0;
        for (uint64_t i = 0; i < 2000; i++) {
                append_n(s, i, 1);
                assert_int_equal(dcem_spool_read_cursor(s, &live, UINT64_MAX, buf, sizeof buf, &id, &len), 0);
                assert_int_equal(id, i);
                assert_int_equal(len, payload(i, want));
                assert_memory_equal(buf, want, len);
                if (i % 3 == 0) {
                        assert_int_equal(dcem_spool_read_cursor(s, &back, UINT64_MAX, buf, sizeof buf, &id, &len), 0);
                        assert_int_equal(id, back_next);
                        assert_int_equal(len, payload(id, want));
                        assert_memory_equal(buf, want, len);
                        assert_int_equal(dcem_spool_ack(s, id), 0);
                        back_next++;
                }
        }
        dcem_spool_get_stats(s, &st);
        assert_true(st.segments > 1);
        while (dcem_spool_read_cursor(s, &back, UINT64_MAX, buf, sizeof buf, &id, &len) == 0) {
                assert_int_equal(id, back_next);
                assert_int_equal(len, payload(id, want));
                assert_memory_equal(buf, want, len);
                back_next++;
        }
        assert_int_equal(back_next, 2000);
        dcem_spool_close(s);
        rm_rf(dir);
        free(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_read_ack_replay),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_ack_ranges_far_ahead),
                cmocka_unit_test(test_next_id_survives_deleted_tail),
                cmocka_unit_test(test_torn_last_record_every_offset),
                cmocka_unit_test(test_budget_drop_oldest),
                cmocka_unit_test(test_ack_cursor_crash_safe),
                cmocka_unit_test(test_fsync_policy),
                cmocka_unit_test(test_corruption_while_reading),
                cmocka_unit_test(test_read_cache_consistency),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
