/* ledger.c - the certification ledger: hash-chained, signed records on disk.
 *
 * One concept: turning each authoritative record into a ledger entry whose
 * SHA-256 links it to the one before (format and formula in
 * include/dcem/ledger.h and docs/LEDGER.md), signing entries with an Ed25519
 * device key, appending them to monthly files crash-safely, and checking
 * such files. The same verifier serves the agent at start (it refuses to
 * extend a chain it cannot verify) and `dcem-agent ledger verify`.
 *
 * Crash safety: an entry is written with one write() of the whole line and
 * fsync'ed before it is handed over; a torn tail (a crash mid-write) is cut
 * at open. Replays of a record already chained (the accounting outbox after a
 * crash) are recognised by (stream, record_seq) and not chained twice.
 */
#include "dcem/ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LEDGER_TAG "dcem-ledger-1"
#define STREAMS_MAX 8
#define STREAM_NAME_MAX 32
#define LINE_MAX_BYTES (4u * DCEM_LEDGER_RECORD_MAX) /* an escaped record plus the envelope */
#define SIG_B64_LEN 88                               /* base64 of 64 bytes */

static void set_err(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *buf, size_t len, const char *fmt, ...) {
        if (!buf || !len)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
}

static void hex_encode(const unsigned char *in, size_t n, char *out) {
        static const char d[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = d[in[i] >> 4];
                out[2 * i + 1] = d[in[i] & 15];
        }
        out[2 * n] = '\0';
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* 64 lowercase hex digits -> 32 bytes. 0 or -EINVAL. */
static int hex_decode32(const char *hex, unsigned char out[32]) {
        if (!hex || strlen(hex) != 64)
                return -EINVAL;
        for (int i = 0; i < 32; i++) {
                int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (unsigned char)(hi << 4 | lo);
        }
        return 0;
}

static const char ZERO_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";

int dcem_ledger_hash(const char *site, const char *stream, uint64_t seq, uint64_t record_seq, const char *prev_hex,
                     const char *record, size_t len, char ret_hex[static DCEM_LEDGER_HASH_HEX]) {
        unsigned char raw[32];
        if (!site || !stream || !prev_hex || !record || hex_decode32(prev_hex, raw) < 0)
                return -EINVAL;
        char head[512];
        int n = snprintf(head, sizeof head, LEDGER_TAG "\n%s\n%s\n%" PRIu64 "\n%" PRIu64 "\n%s\n", site, stream, seq,
                         record_seq, prev_hex);
        if (n < 0 || (size_t)n >= sizeof head)
                return -EINVAL;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char md[32];
        unsigned mdlen = 0;
        int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, head, (size_t)n) &&
                 EVP_DigestUpdate(ctx, record, len) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return -EIO;
        hex_encode(md, 32, ret_hex);
        return 0;
}

/* key id: the first 8 bytes of SHA-256 over the raw 32-byte public key, hex. */
static int key_id_of(EVP_PKEY *k, char out[17]) {
        unsigned char pub[32], md[32];
        size_t plen = sizeof pub;
        unsigned mdlen = 0;
        if (EVP_PKEY_get_raw_public_key(k, pub, &plen) != 1 || plen != 32 ||
            !EVP_Digest(pub, plen, md, &mdlen, EVP_sha256(), NULL))
                return -EINVAL;
        hex_encode(md, 8, out);
        return 0;
}

/* Load a PEM key: private (want_private, and then the file must not be
 * readable by group or others) or public (a private key file works too). */
static int load_key(const char *path, bool want_private, EVP_PKEY **ret, char *err, size_t errlen) {
        FILE *f = fopen(path, "re");
        if (!f) {
                int r = -errno;
                set_err(err, errlen, "%s: %s", path, strerror(errno));
                return r;
        }
        struct stat st;
        if (want_private && fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
                fclose(f);
                set_err(err, errlen, "%s: the signing key must not be readable by group or others (chmod 600)", path);
                return -EACCES;
        }
        EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        if (!k && !want_private) {
                rewind(f);
                k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        }
        fclose(f);
        if (!k) {
                set_err(err, errlen, "%s: not a PEM %s key", path, want_private ? "private" : "public or private");
                return -EINVAL;
        }
        if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
                EVP_PKEY_free(k);
                set_err(err, errlen, "%s: not an Ed25519 key (make one with `dcem-agent ledger keygen PATH`)", path);
                return -EINVAL;
        }
        *ret = k;
        return 0;
}

/* ---- verification ---- */

typedef struct stream_pos {
        char name[STREAM_NAME_MAX];
        uint64_t record_seq;
} stream_pos;

struct dcem_ledger_verifier {
        EVP_PKEY *key; /* NULL: signatures counted, not checked */
        char key_id[17];
        bool started;
        char site[128];
        uint64_t seq;
        char hash[DCEM_LEDGER_HASH_HEX];
        stream_pos streams[STREAMS_MAX];
        size_t nstreams;
        dcem_ledger_stats st;
};

int dcem_ledger_verifier_new(const char *key_file, dcem_ledger_verifier **ret, char *err, size_t errlen) {
        if (!ret)
                return -EINVAL;
        dcem_ledger_verifier *v = calloc(1, sizeof *v);
        if (!v)
                return -ENOMEM;
        if (key_file) {
                int r = load_key(key_file, false, &v->key, err, errlen);
                if (r < 0 || (r = key_id_of(v->key, v->key_id)) < 0) {
                        dcem_ledger_verifier_free(v);
                        return r;
                }
        }
        *ret = v;
        return 0;
}

void dcem_ledger_verifier_free(dcem_ledger_verifier *v) {
        if (!v)
                return;
        EVP_PKEY_free(v->key);
        free(v);
}

void dcem_ledger_verifier_stats(const dcem_ledger_verifier *v, dcem_ledger_stats *ret) {
        if (v && ret)
                *ret = v->st;
}

static stream_pos *stream_find(stream_pos *s, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(s[i].name, name) == 0)
                        return &s[i];
        return NULL;
}

static int verify_sig(EVP_PKEY *key, const char *hash_hex, const char *b64) {
        unsigned char raw[32], sig[66];
        if (hex_decode32(hash_hex, raw) < 0 || strlen(b64) != SIG_B64_LEN || b64[SIG_B64_LEN - 1] != '=' ||
            b64[SIG_B64_LEN - 2] != '=')
                return -EBADMSG;
        if (EVP_DecodeBlock(sig, (const unsigned char *)b64, SIG_B64_LEN) != 66)
                return -EBADMSG;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
                 EVP_DigestVerify(ctx, sig, 64, raw, sizeof raw) == 1;
        EVP_MD_CTX_free(ctx);
        return ok ? 0 : -EBADMSG;
}

static bool is_hex64(const char *s) {
        unsigned char raw[32];
        return hex_decode32(s, raw) == 0;
}

int dcem_ledger_verify_line(dcem_ledger_verifier *v, const char *line, size_t len, char *err, size_t errlen) {
        if (!v || !line)
                return -EINVAL;
        json_error_t je;
        json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
        int r = -EBADMSG;
        if (!o) {
                set_err(err, errlen, "not JSON (%s, column %d)", je.text, je.column);
                return r;
        }
        json_int_t schema = 0, seq = 0, rseq = -1;
        const char *site = NULL, *ts = NULL, *stream = NULL, *prev = NULL, *hash = NULL, *record = NULL;
        size_t rlen = 0;
        json_t *sig = NULL;
        if (json_unpack_ex(o, &je, JSON_STRICT, "{s:I,s:s,s:I,s:s,s:s,s:I,s:s,s:s,s:s%,s?o}", "schema", &schema,
                           "site", &site, "seq", &seq, "ts", &ts, "stream", &stream, "record_seq", &rseq, "prev",
                           &prev, "hash", &hash, "record", &record, &rlen, "sig", &sig) < 0) {
                set_err(err, errlen, "not a ledger entry: %s", je.text);
                goto out;
        }
        if (schema != 1 || seq < 1 || rseq < 0 || strlen(stream) == 0 || strlen(stream) >= STREAM_NAME_MAX ||
            strlen(site) >= sizeof v->site || !is_hex64(prev) || !is_hex64(hash)) {
                set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": a field is out of range", seq);
                goto out;
        }
        if (v->started) {
                if ((uint64_t)seq != v->seq + 1) {
                        set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": expected seq %" PRIu64
                                             " (an entry was removed, inserted or reordered)", seq, v->seq + 1);
                        goto out;
                }
                if (strcmp(prev, v->hash) != 0) {
                        set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": prev does not match the hash of entry %"
                                             PRIu64 " (the chain is broken)", seq, v->seq);
                        goto out;
                }
                if (strcmp(site, v->site) != 0) {
                        set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": site %s, the chain is site %s", seq,
                                site, v->site);
                        goto out;
                }
        } else if (seq == 1 && strcmp(prev, ZERO_HASH) != 0) {
                set_err(err, errlen, "entry 1: prev must be 64 zeros");
                goto out;
        }
        char h[DCEM_LEDGER_HASH_HEX];
        if (dcem_ledger_hash(site, stream, (uint64_t)seq, (uint64_t)rseq, prev, record, rlen, h) < 0 ||
            strcmp(h, hash) != 0) {
                set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": hash mismatch (the entry or its record was altered)",
                        seq);
                goto out;
        }
        stream_pos *sp = stream_find(v->streams, v->nstreams, stream);
        if (sp && (uint64_t)rseq <= sp->record_seq) {
                set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": record_seq %" JSON_INTEGER_FORMAT
                                     " of stream %s is not after %" PRIu64, seq, rseq, stream, sp->record_seq);
                goto out;
        }
        if (!sp && v->nstreams == STREAMS_MAX) {
                set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": more than %d streams", seq, STREAMS_MAX);
                goto out;
        }
        if (sig) {
                const char *alg = NULL, *kid = NULL, *val = NULL;
                if (json_unpack_ex(sig, &je, JSON_STRICT, "{s:s,s:s,s:s}", "alg", &alg, "key_id", &kid, "value", &val) <
                            0 ||
                    strcmp(alg, "Ed25519") != 0) {
                        set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": sig is not {alg: Ed25519, key_id, value}",
                                seq);
                        goto out;
                }
                if (v->key) {
                        if (strcmp(kid, v->key_id) != 0) {
                                set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": signed by key %s, not %s", seq, kid,
                                        v->key_id);
                                goto out;
                        }
                        if (verify_sig(v->key, hash, val) < 0) {
                                set_err(err, errlen, "entry %" JSON_INTEGER_FORMAT ": bad signature", seq);
                                goto out;
                        }
                }
                v->st.signed_entries++;
        }
        if (!sp) {
                sp = &v->streams[v->nstreams++];
                snprintf(sp->name, sizeof sp->name, "%s", stream);
        }
        sp->record_seq = (uint64_t)rseq;
        if (!v->started)
                v->st.first_seq = (uint64_t)seq;
        v->started = true;
        snprintf(v->site, sizeof v->site, "%s", site);
        v->seq = (uint64_t)seq;
        memcpy(v->hash, hash, DCEM_LEDGER_HASH_HEX);
        v->st.entries++;
        v->st.last_seq = v->seq;
        memcpy(v->st.last_hash, v->hash, DCEM_LEDGER_HASH_HEX);
        snprintf(v->st.last_stream, sizeof v->st.last_stream, "%s", stream);
        v->st.last_record_seq = (uint64_t)rseq;
        r = 0;
out:
        json_decref(o);
        return r;
}

/* ---- the writer ---- */

struct dcem_ledger {
        char *dir, *site;
        EVP_PKEY *key;
        char key_id[17];
        unsigned sign_every;
        bool fsync;
        int fd;          /* the open month's file, -1 until the first append */
        char month[8];   /* "YYYY-MM" of fd */
        uint64_t seq;    /* last entry's seq (0: none) */
        char hash[DCEM_LEDGER_HASH_HEX];
        stream_pos streams[STREAMS_MAX];
        size_t nstreams;
        uint64_t appended;
};

static int file_name_month(const char *name, char month[8]) {
        /* ledger-YYYY-MM.jsonl */
        int y, m;
        char tail[8];
        if (strlen(name) != strlen("ledger-2026-11.jsonl") || sscanf(name, "ledger-%4d-%2d.%6s", &y, &m, tail) != 3 ||
            strcmp(tail, "jsonl") != 0 || m < 1 || m > 12 || y < 1970)
                return -EINVAL;
        memcpy(month, name + 7, 7);
        month[7] = '\0';
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ledger files' months in dir, sorted ascending. */
static int list_months(const char *dir, char (**ret)[8], size_t *ret_n) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        char **names = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                char m[8];
                if (file_name_month(e->d_name, m) < 0)
                        continue;
                if (n == cap) {
                        size_t nc = cap ? 2 * cap : 16;
                        char **t = realloc(names, nc * sizeof *t);
                        if (!t) {
                                r = -ENOMEM;
                                break;
                        }
                        names = t;
                        cap = nc;
                }
                if (!(names[n] = strdup(m))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        char(*out)[8] = NULL;
        if (r == 0 && n) {
                qsort(names, n, sizeof *names, cmp_str);
                out = calloc(n, sizeof *out);
                if (!out)
                        r = -ENOMEM;
                for (size_t i = 0; out && i < n; i++)
                        memcpy(out[i], names[i], 8);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (r < 0)
                return r;
        *ret = out;
        *ret_n = n;
        return 0;
}

static int month_path(const dcem_ledger *l, const char *month, char *buf, size_t len) {
        int n = snprintf(buf, len, "%s/ledger-%s.jsonl", l->dir, month);
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int dcem_ledger_verify_stream(dcem_ledger_verifier *v, FILE *f, const char *name, uint64_t *ret_good_bytes,
                              bool *ret_torn, char *err, size_t errlen) {
        if (!v || !f || !name)
                return -EINVAL;
        char *line = NULL;
        size_t cap = 0, lineno = 0;
        uint64_t good = 0;
        bool torn = false;
        ssize_t n;
        int r = 0;
        while ((n = getline(&line, &cap, f)) > 0) {
                lineno++;
                if (line[n - 1] != '\n') { /* torn: the last write did not finish */
                        torn = true;
                        break;
                }
                if ((size_t)n > LINE_MAX_BYTES) {
                        set_err(err, errlen, "%s:%zu: line longer than %u bytes", name, lineno, LINE_MAX_BYTES);
                        r = -EBADMSG;
                        break;
                }
                char why[256];
                if (n > 1 && dcem_ledger_verify_line(v, line, (size_t)n - 1, why, sizeof why) < 0) {
                        set_err(err, errlen, "%s:%zu: %s", name, lineno, why);
                        r = -EBADMSG;
                        break;
                }
                good += (uint64_t)n;
        }
        free(line);
        if (r == 0) {
                if (ret_good_bytes)
                        *ret_good_bytes = good;
                if (ret_torn)
                        *ret_torn = torn;
        }
        return r;
}

/* Verify one file with v and cut a torn tail (the open's check). */
static int scan_file(const char *path, dcem_ledger_verifier *v, bool *repaired, char *err, size_t errlen) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                set_err(err, errlen, "%s: %s", path, strerror(errno));
                return r;
        }
        FILE *f = fdopen(fd, "r");
        if (!f) {
                int r = -errno;
                close(fd);
                return r;
        }
        uint64_t good = 0;
        bool torn = false;
        int r = dcem_ledger_verify_stream(v, f, path, &good, &torn, err, errlen);
        if (r == 0 && torn) {
                if (ftruncate(fd, (off_t)good) < 0) {
                        r = -errno;
                        set_err(err, errlen, "%s: cannot cut the torn last line: %s", path, strerror(errno));
                } else if (repaired)
                        *repaired = true;
        }
        fclose(f);
        return r;
}

int dcem_ledger_open(const dcem_ledger_conf *c, const char *site, dcem_ledger **ret, bool *ret_repaired, char *err,
                     size_t errlen) {
        if (!c || !c->dir || !site || !*site || !ret || strlen(site) >= 128) {
                set_err(err, errlen, "ledger: no directory or site");
                return -EINVAL;
        }
        dcem_ledger *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->fd = -1;
        l->sign_every = c->sign_every ? c->sign_every : 1;
        l->fsync = c->fsync;
        memcpy(l->hash, ZERO_HASH, sizeof ZERO_HASH);
        dcem_ledger_verifier *v = NULL;
        char (*months)[8] = NULL;
        size_t nmonths = 0;
        bool repaired = false;
        int r = -ENOMEM;
        if (!(l->dir = strdup(c->dir)) || !(l->site = strdup(site)))
                goto fail;
        if (c->key_file) {
                if ((r = load_key(c->key_file, true, &l->key, err, errlen)) < 0)
                        goto fail;
                if ((r = key_id_of(l->key, l->key_id)) < 0) {
                        set_err(err, errlen, "%s: cannot derive the public key", c->key_file);
                        goto fail;
                }
        }
        if (mkdir(l->dir, 0750) < 0 && errno != EEXIST) {
                r = -errno;
                set_err(err, errlen, "%s: %s", l->dir, strerror(errno));
                goto fail;
        }
        if ((r = list_months(l->dir, &months, &nmonths)) < 0) {
                set_err(err, errlen, "%s: %s", l->dir, strerror(-r));
                goto fail;
        }
        /* The chain head is the last entry of the newest file holding one. */
        for (size_t i = nmonths; i-- > 0;) {
                char path[4096];
                if ((r = month_path(l, months[i], path, sizeof path)) < 0)
                        goto fail;
                dcem_ledger_verifier_free(v);
                v = NULL;
                if ((r = dcem_ledger_verifier_new(NULL, &v, err, errlen)) < 0)
                        goto fail;
                if (l->key) { /* check signatures with our own key */
                        v->key = l->key;
                        EVP_PKEY_up_ref(l->key);
                        memcpy(v->key_id, l->key_id, sizeof v->key_id);
                }
                if ((r = scan_file(path, v, &repaired, err, errlen)) < 0)
                        goto fail;
                if (!v->started) /* no complete entry in this file */
                        continue;
                if (strcmp(v->site, l->site) != 0) {
                        set_err(err, errlen, "%s: the ledger is site %s's, not %s's: move it away to start a new chain",
                                path, v->site, l->site);
                        r = -EBADMSG;
                        goto fail;
                }
                l->seq = v->seq;
                memcpy(l->hash, v->hash, sizeof l->hash);
                memcpy(l->streams, v->streams, sizeof l->streams);
                l->nstreams = v->nstreams;
                break;
        }
        dcem_ledger_verifier_free(v);
        free(months);
        if (ret_repaired)
                *ret_repaired = repaired;
        *ret = l;
        return 0;
fail:
        dcem_ledger_verifier_free(v);
        free(months);
        dcem_ledger_close(l);
        return r;
}

/* Find (stream, record_seq) in one file: 0 and the line, -ENOENT, -errno. */
static int find_in_file(const char *path, const char *stream, uint64_t record_seq, char **ret, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        int r = -ENOENT;
        while (r == -ENOENT && (n = getline(&line, &cap, f)) > 0) {
                if (line[n - 1] != '\n')
                        break;
                json_t *o = json_loadb(line, (size_t)n - 1, 0, NULL);
                const char *s = o ? json_string_value(json_object_get(o, "stream")) : NULL;
                json_int_t rs = o ? json_integer_value(json_object_get(o, "record_seq")) : -1;
                if (s && strcmp(s, stream) == 0 && rs >= 0 && (uint64_t)rs == record_seq) {
                        line[n - 1] = '\0';
                        *ret = line;
                        if (ret_len)
                                *ret_len = (size_t)n - 1;
                        line = NULL;
                        r = 0;
                }
                json_decref(o);
        }
        free(line);
        fclose(f);
        return r;
}

int dcem_ledger_entry_of(dcem_ledger *l, const char *stream, uint64_t record_seq, char **ret_entry, size_t *ret_len) {
        if (!l || !stream || !ret_entry)
                return -EINVAL;
        char(*months)[8] = NULL;
        size_t n = 0;
        int r = list_months(l->dir, &months, &n);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (size_t i = n, tried = 0; r == -ENOENT && i-- > 0 && tried < 2; tried++) {
                char path[4096];
                if (month_path(l, months[i], path, sizeof path) == 0)
                        r = find_in_file(path, stream, record_seq, ret_entry, ret_len);
                if (r < 0 && r != -ENOENT)
                        break;
        }
        free(months);
        return r;
}

uint64_t dcem_ledger_last_seq(const dcem_ledger *l) {
        return l ? l->seq : 0;
}

uint64_t dcem_ledger_appended(const dcem_ledger *l) {
        return l ? l->appended : 0;
}

void dcem_ledger_close(dcem_ledger *l) {
        if (!l)
                return;
        if (l->fd >= 0)
                close(l->fd);
        EVP_PKEY_free(l->key);
        free(l->dir);
        free(l->site);
        free(l);
}

static int sign_hash(EVP_PKEY *key, const char *hash_hex, char out[SIG_B64_LEN + 1]) {
        unsigned char raw[32], sig[64];
        size_t slen = sizeof sig;
        if (hex_decode32(hash_hex, raw) < 0)
                return -EINVAL;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
                 EVP_DigestSign(ctx, sig, &slen, raw, sizeof raw) == 1 && slen == 64;
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return -EIO;
        EVP_EncodeBlock((unsigned char *)out, sig, 64);
        return 0;
}

static int open_month(dcem_ledger *l, int64_t now_ns, char *err, size_t errlen) {
        time_t t = (time_t)(now_ns / 1000000000);
        struct tm tm;
        char month[8];
        if (!gmtime_r(&t, &tm) || strftime(month, sizeof month, "%Y-%m", &tm) != 7)
                return -EINVAL;
        if (l->fd >= 0 && strcmp(month, l->month) == 0)
                return 0;
        char path[4096];
        int r = month_path(l, month, path, sizeof path);
        if (r < 0)
                return r;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
                r = -errno;
                set_err(err, errlen, "%s: %s", path, strerror(errno));
                return r;
        }
        if (l->fd >= 0)
                close(l->fd);
        l->fd = fd;
        memcpy(l->month, month, sizeof month);
        return 0;
}

int dcem_ledger_append(dcem_ledger *l, const char *stream, uint64_t record_seq, const char *record, size_t len,
                       int64_t now_utc_ns, char **ret_entry, size_t *ret_len, char *err, size_t errlen) {
        if (!l || !stream || !*stream || strlen(stream) >= STREAM_NAME_MAX || !record || len == 0 ||
            len > DCEM_LEDGER_RECORD_MAX || !ret_entry || record_seq > (uint64_t)INT64_MAX)
                return -EINVAL;
        stream_pos *sp = stream_find(l->streams, l->nstreams, stream);
        if (sp && record_seq <= sp->record_seq) {
                *ret_entry = NULL;
                if (ret_len)
                        *ret_len = 0;
                return 1;
        }
        if (!sp && l->nstreams == STREAMS_MAX)
                return -E2BIG;
        int r = open_month(l, now_utc_ns, err, errlen);
        if (r < 0)
                return r;
        uint64_t seq = l->seq + 1;
        char hash[DCEM_LEDGER_HASH_HEX], ts[64], sig[SIG_B64_LEN + 1];
        if ((r = dcem_ledger_hash(l->site, stream, seq, record_seq, l->hash, record, len, hash)) < 0)
                return r;
        time_t t = (time_t)(now_utc_ns / 1000000000);
        struct tm tm;
        if (!gmtime_r(&t, &tm))
                return -EINVAL;
        snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((now_utc_ns % 1000000000) / 1000000));
        json_t *o = json_pack("{s:i,s:s,s:I,s:s,s:s,s:I,s:s,s:s,s:s%}", "schema", 1, "site", l->site, "seq",
                              (json_int_t)seq, "ts", ts, "stream", stream, "record_seq", (json_int_t)record_seq, "prev",
                              l->hash, "hash", hash, "record", record, len);
        if (!o)
                return -ENOMEM;
        if (l->key && seq % l->sign_every == 0) {
                if ((r = sign_hash(l->key, hash, sig)) < 0) {
                        json_decref(o);
                        set_err(err, errlen, "ledger: signing entry %" PRIu64 " failed", seq);
                        return r;
                }
                json_t *s = json_pack("{s:s,s:s,s:s}", "alg", "Ed25519", "key_id", l->key_id, "value", sig);
                if (!s || json_object_set_new(o, "sig", s) < 0) {
                        json_decref(o);
                        return -ENOMEM;
                }
        }
        char *line = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!line)
                return -ENOMEM;
        size_t n = strlen(line);
        line[n] = '\n'; /* write the line with its newline in one write(), then put the NUL back */
        off_t before = lseek(l->fd, 0, SEEK_END);
        ssize_t w = write(l->fd, line, n + 1);
        line[n] = '\0';
        if (w != (ssize_t)(n + 1)) {
                r = w < 0 ? -errno : -EIO;
                if (before >= 0 && ftruncate(l->fd, before) < 0) { /* keep the file whole; open() cuts a torn tail anyway */
                }
                set_err(err, errlen, "ledger-%s.jsonl: write: %s", l->month, strerror(-r));
                free(line);
                return r;
        }
        if (l->fsync && fsync(l->fd) < 0) { /* not known to be durable: take it back, nothing is chained */
                r = -errno;
                set_err(err, errlen, "ledger-%s.jsonl: fsync: %s", l->month, strerror(errno));
                if (before >= 0 && ftruncate(l->fd, before) < 0) {
                }
                free(line);
                return r;
        }
        if (!sp) {
                sp = &l->streams[l->nstreams++];
                snprintf(sp->name, sizeof sp->name, "%s", stream);
        }
        sp->record_seq = record_seq;
        l->seq = seq;
        memcpy(l->hash, hash, sizeof hash);
        l->appended++;
        *ret_entry = line;
        if (ret_len)
                *ret_len = n;
        return 0;
}

int dcem_ledger_keygen(const char *path, char *err, size_t errlen) {
        if (!path || !*path)
                return -EINVAL;
        char pub[4096];
        if (snprintf(pub, sizeof pub, "%s.pub", path) >= (int)sizeof pub)
                return -ENAMETOOLONG;
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!k) {
                set_err(err, errlen, "cannot generate an Ed25519 key");
                return -EIO;
        }
        int r = 0;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                r = -errno;
                set_err(err, errlen, "%s: %s", path, strerror(errno));
                EVP_PKEY_free(k);
                return r;
        }
        FILE *f = fdopen(fd, "w");
        if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) || fflush(f) != 0 || fsync(fd) < 0) {
                r = -EIO;
                set_err(err, errlen, "%s: cannot write the private key", path);
        }
        if (f)
                fclose(f);
        else
                close(fd);
        if (r == 0) {
                int pfd = open(pub, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                FILE *pf = pfd >= 0 ? fdopen(pfd, "w") : NULL;
                if (!pf || !PEM_write_PUBKEY(pf, k) || fflush(pf) != 0) {
                        r = pfd < 0 ? -errno : -EIO;
                        set_err(err, errlen, "%s: cannot write the public key: %s", pub, strerror(-r));
                }
                if (pf)
                        fclose(pf);
                else if (pfd >= 0)
                        close(pfd);
        }
        EVP_PKEY_free(k);
        return r;
}
