/* ledger.h - the certification ledger: hash-chained, signed interval records.
 *
 * METRICS.md rule 9: records for certification carry a monotonic sequence
 * number, a SHA-256 over the previous record's hash and this record, and
 * periodic signatures with a device key, so that a removed, inserted or
 * altered record is detectable by anyone holding the public key.
 *
 * Each authoritative record (an accounting interval, exactly the bytes the
 * agent publishes) becomes one ledger entry: one JSON line in an append-only
 * monthly file <dir>/ledger-YYYY-MM.jsonl, also published on
 * <prefix>/<site>/ledger. The chain hash of entry n is
 *
 *   SHA-256( "dcem-ledger-1\n" site "\n" stream "\n" seq "\n" record_seq "\n"
 *            prev "\n" record )
 *
 * with seq and record_seq in decimal, prev the previous entry's hash in
 * lowercase hex (64 zeros for the first entry) and record the record's exact
 * bytes; signed entries carry an Ed25519 signature over the 32 raw bytes of
 * the hash. Signing the hash signs the whole chain before it. docs/LEDGER.md
 * shows how to check it with sha256sum and openssl alone.
 */
#ifndef DCEM_LEDGER_H
#define DCEM_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DCEM_LEDGER_HASH_HEX 65      /* 64 hex digits + NUL */
#define DCEM_LEDGER_RECORD_MAX (1u << 20) /* bytes of one record */

typedef struct dcem_ledger_conf {
        const char *dir;      /* directory of the ledger files (created 0750) */
        const char *key_file; /* Ed25519 private key (PEM, PKCS#8); NULL: unsigned chain */
        unsigned sign_every;  /* sign every Nth entry (1 = each); ignored without a key */
        bool fsync;           /* fsync each append before it is handed over */
} dcem_ledger_conf;

typedef struct dcem_ledger dcem_ledger;

/* The chain hash of one entry (pure). prev_hex: 64 lowercase hex digits.
 * 0, -EINVAL (bad arguments), -EIO (the digest failed). */
int dcem_ledger_hash(const char *site, const char *stream, uint64_t seq, uint64_t record_seq, const char *prev_hex,
                     const char *record, size_t len, char ret_hex[static DCEM_LEDGER_HASH_HEX]);

/* Open the ledger of site in c->dir: resumes the chain from the newest file's
 * last entry, after checking every entry of that file (hashes, links,
 * signatures when a key is given). A torn last line (a crash mid-append) is
 * cut off, and *ret_repaired says so. Errors, with a message naming the file
 * and line in err: -EBADMSG (an entry does not verify: the ledger was altered
 * or belongs to another key or site), -EACCES (the key file is readable by
 * group or others), -EINVAL (not an Ed25519 key, bad conf), -errno (I/O). */
int dcem_ledger_open(const dcem_ledger_conf *c, const char *site, dcem_ledger **ret, bool *ret_repaired, char *err,
                     size_t errlen);

/* Chain one record. On 0, *ret_entry is the entry's JSON line without its
 * newline (malloc'ed, the caller frees) and it is on disk (fsync'ed if
 * configured). Returns 1 and *ret_entry = NULL when (stream, record_seq) is
 * not after the last entry of that stream: the record is already chained (a
 * replay after a crash). -EINVAL (empty or oversized record), -ENOMEM,
 * -errno (write): nothing was chained and the ledger is unchanged. */
int dcem_ledger_append(dcem_ledger *l, const char *stream, uint64_t record_seq, const char *record, size_t len,
                       int64_t now_utc_ns, char **ret_entry, size_t *ret_len, char *err, size_t errlen);

/* The entry already chained for (stream, record_seq), from the two newest
 * files (a record handed over again after a crash, whose entry may never
 * have been published). 0 and *ret_entry (malloc'ed line without newline),
 * -ENOENT, -ENOMEM, -errno. */
int dcem_ledger_entry_of(dcem_ledger *l, const char *stream, uint64_t record_seq, char **ret_entry, size_t *ret_len);

/* The sequence number of the last entry (0: none yet) and entries appended by
 * this handle. */
uint64_t dcem_ledger_last_seq(const dcem_ledger *l);
uint64_t dcem_ledger_appended(const dcem_ledger *l);

void dcem_ledger_close(dcem_ledger *l); /* accepts NULL */

/* ---- verification (for `dcem-agent ledger verify` and the agent's open) ---- */

typedef struct dcem_ledger_verifier dcem_ledger_verifier;

/* key_file: an Ed25519 public key (PEM SubjectPublicKeyInfo) or private key;
 * NULL: hashes and links only, signatures are counted but not checked.
 * 0, -EINVAL, -ENOENT, -ENOMEM. */
int dcem_ledger_verifier_new(const char *key_file, dcem_ledger_verifier **ret, char *err, size_t errlen);

/* Check the next entry line (without its newline) against the chain so far:
 * JSON shape, seq = previous + 1, prev = previous hash, hash recomputed,
 * signature if present (and a key is known), record_seq increasing per
 * stream. The first line seen may start anywhere in the chain (a later
 * monthly file); its prev is taken as given. 0 or -EBADMSG with the reason
 * in err. */
int dcem_ledger_verify_line(dcem_ledger_verifier *v, const char *line, size_t len, char *err, size_t errlen);

/* Check every complete line of f (a ledger file, or entries collected from
 * MQTT, one per line; empty lines are skipped) with v. Stops at an
 * incomplete last line (a torn write): *ret_torn, and *ret_good_bytes is the
 * length of what precedes it. name is for messages ("FILE:LINE: why").
 * 0, -EBADMSG (the first line that does not verify), -EINVAL. */
int dcem_ledger_verify_stream(dcem_ledger_verifier *v, FILE *f, const char *name, uint64_t *ret_good_bytes,
                              bool *ret_torn, char *err, size_t errlen);

typedef struct dcem_ledger_stats {
        uint64_t entries, signed_entries, first_seq, last_seq;
        char last_hash[DCEM_LEDGER_HASH_HEX];
        char last_stream[32];
        uint64_t last_record_seq;
} dcem_ledger_stats;
void dcem_ledger_verifier_stats(const dcem_ledger_verifier *v, dcem_ledger_stats *ret);
void dcem_ledger_verifier_free(dcem_ledger_verifier *v); /* accepts NULL */

/* Write a new Ed25519 key pair: path (private, 0600, refused if it exists)
 * and path.pub (public). 0, -EEXIST, -errno. */
int dcem_ledger_keygen(const char *path, char *err, size_t errlen);

#endif
