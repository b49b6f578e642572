/* test_ledger.c - the certification ledger (METRICS.md rule 9): the chain
 * hash against sha256sum, append and resume across a restart, replays not
 * chained twice, signatures checked with the public key, and every kind of
 * tampering (an altered record, a removed or inserted entry, a foreign key)
 * detected; a torn last line cut at open; monthly files chained together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dcem/ledger.h"

#define NS INT64_C(1000000000)
#define T_NOV (INT64_C(1795392000) * NS) /* 2026-11-23T00:00:00Z */
#define T_DEC (INT64_C(1796083200) * NS) /* 2026-12-01T00:00:00Z */

typedef struct fx {
        char dir[64];
        char key[128], key2[128];
        char ledger_dir[128];
} fx;

static int setup(void **state) {
        fx *f = calloc(1, sizeof *f);
        snprintf(f->dir, sizeof f->dir, "/tmp/dcem-ledger-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->key, sizeof f->key, "%s/dev.key", f->dir);
        snprintf(f->key2, sizeof f->key2, "%s/other.key", f->dir);
        snprintf(f->ledger_dir, sizeof f->ledger_dir, "%s/ledger", f->dir);
        char err[256];
        assert_int_equal(dcem_ledger_keygen(f->key, err, sizeof err), 0);
        assert_int_equal(dcem_ledger_keygen(f->key2, err, sizeof err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fx *f = *state;
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static dcem_ledger *open_ok(fx *f, const char *key, unsigned every, bool *repaired) {
        dcem_ledger_conf c = { .dir = f->ledger_dir, .key_file = key, .sign_every = every, .fsync = true };
        dcem_ledger *l = NULL;
        char err[512] = "";
        int r = dcem_ledger_open(&c, "site-a", &l, repaired, err, sizeof err);
        if (r != 0)
                fail_msg("open: %d %s", r, err);
        return l;
}

static void append_ok(dcem_ledger *l, uint64_t rseq, const char *rec, int64_t t) {
        char *e = NULL, err[256] = "";
        size_t n = 0;
        int r = dcem_ledger_append(l, "intervals", rseq, rec, strlen(rec), t, &e, &n, err, sizeof err);
        if (r != 0)
                fail_msg("append: %d %s", r, err);
        assert_non_null(e);
        assert_int_equal(strlen(e), n);
        free(e);
}

/* Verify a file with a fresh verifier; returns 0 or -EBADMSG, why in err. */
static int verify_files(const char *key, const char *const *paths, size_t n, dcem_ledger_stats *st, char *err,
                        size_t errlen) {
        dcem_ledger_verifier *v = NULL;
        assert_int_equal(dcem_ledger_verifier_new(key, &v, err, errlen), 0);
        int r = 0;
        for (size_t i = 0; r == 0 && i < n; i++) {
                FILE *fp = fopen(paths[i], "r");
                assert_non_null(fp);
                bool torn = true;
                r = dcem_ledger_verify_stream(v, fp, paths[i], NULL, &torn, err, errlen);
                if (r == 0)
                        assert_false(torn);
                fclose(fp);
        }
        if (st)
                dcem_ledger_verifier_stats(v, st);
        dcem_ledger_verifier_free(v);
        return r;
}

static char *slurp(const char *path) {
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        buf[n] = '\0';
        fclose(fp);
        return strdup(buf);
}

static void spit(const char *path, const char *s) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(s, fp);
        fclose(fp);
}

/* The formula of ledger.h, checked against sha256sum of the same bytes:
 * printf 'dcem-ledger-1\nsite-a\nintervals\n1\n7\n<64 zeros>\n{"x":1}' | sha256sum */
static void test_hash_formula(void **state) {
        (void)state;
        char h[DCEM_LEDGER_HASH_HEX];
        const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
        assert_int_equal(dcem_ledger_hash("site-a", "intervals", 1, 7, zero, "{\"x\":1}", 7, h), 0);
        assert_string_equal(h, "cb48792befd203b88c1ab26d9826528e54b646a825929be587c411b78c94a3a5");
        assert_int_equal(dcem_ledger_hash("site-a", "intervals", 1, 7, "xyz", "{}", 2, h), -EINVAL);
}

static void test_append_resume_verify(void **state) {
        fx *f = *state;
        bool rep = true;
        dcem_ledger *l = open_ok(f, f->key, 1, &rep);
        assert_false(rep);
        append_ok(l, 1, "{\"interval\":1,\"e_dc_kwh\":10.5}", T_NOV);
        append_ok(l, 2, "{\"interval\":2,\"e_dc_kwh\":11.25}", T_NOV + 900 * NS);
        /* a replay of record 2 (the accounting outbox after a crash) is not chained twice */
        char *e = (char *)1, err[256];
        assert_int_equal(dcem_ledger_append(l, "intervals", 2, "{}", 2, T_NOV, &e, NULL, err, sizeof err), 1);
        assert_null(e);
        assert_int_equal(dcem_ledger_last_seq(l), 2);
        dcem_ledger_close(l);

        /* restart: the chain continues from entry 2 */
        l = open_ok(f, f->key, 1, &rep);
        assert_int_equal(dcem_ledger_last_seq(l), 2);
        assert_int_equal(dcem_ledger_append(l, "intervals", 1, "{}", 2, T_NOV, &e, NULL, err, sizeof err), 1);
        append_ok(l, 3, "{\"interval\":3}", T_NOV + 1800 * NS);
        dcem_ledger_close(l);

        char path[256], pub[160];
        snprintf(path, sizeof path, "%s/ledger-2026-11.jsonl", f->ledger_dir);
        snprintf(pub, sizeof pub, "%s.pub", f->key);
        const char *paths[] = { path };
        dcem_ledger_stats st;
        if (verify_files(pub, paths, 1, &st, err, sizeof err) != 0)
                fail_msg("verify: %s", err);
        assert_int_equal(st.entries, 3);
        assert_int_equal(st.signed_entries, 3);
        assert_int_equal(st.first_seq, 1);
        assert_int_equal(st.last_seq, 3);
        assert_int_equal(st.last_record_seq, 3);
        /* the third entry's prev is the second's hash, recomputed by hand */
        char *txt = slurp(path);
        char *l2 = strchr(txt, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
        char h2[65], p3[65];
        assert_non_null(strstr(l2, "\"hash\":\""));
        memcpy(h2, strstr(l2, "\"hash\":\"") + 8, 64);
        h2[64] = '\0';
        memcpy(p3, strstr(l3, "\"prev\":\"") + 8, 64);
        p3[64] = '\0';
        assert_string_equal(h2, p3);
        free(txt);
        /* another key's public half does not verify it */
        char pub2[160];
        snprintf(pub2, sizeof pub2, "%s.pub", f->key2);
        assert_int_equal(verify_files(pub2, paths, 1, NULL, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, "signed by key"));
}

static void test_tamper_detected(void **state) {
        fx *f = *state;
        dcem_ledger *l = open_ok(f, f->key, 1, NULL);
        for (uint64_t i = 1; i <= 4; i++) {
                char rec[64];
                snprintf(rec, sizeof rec, "{\"interval\":%llu,\"kwh\":%llu.5}", (unsigned long long)i,
                         (unsigned long long)(100 + i));
                append_ok(l, i, rec, T_NOV + (int64_t)i * 900 * NS);
        }
        dcem_ledger_close(l);
        char path[256], pub[160], err[512];
        snprintf(path, sizeof path, "%s/ledger-2026-11.jsonl", f->ledger_dir);
        snprintf(pub, sizeof pub, "%s.pub", f->key);
        const char *paths[] = { path };
        char *orig = slurp(path);

        /* an altered energy value inside a record */
        char *t = strdup(orig);
        char *p = strstr(t, "102.5");
        assert_non_null(p);
        p[2] = '9';
        spit(path, t);
        assert_int_equal(verify_files(pub, paths, 1, NULL, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, "entry 2: hash mismatch"));
        /* the agent refuses to extend it, naming the file and line */
        dcem_ledger_conf c = { .dir = f->ledger_dir, .key_file = f->key, .sign_every = 1 };
        dcem_ledger *l2 = NULL;
        assert_int_equal(dcem_ledger_open(&c, "site-a", &l2, NULL, err, sizeof err), -EBADMSG);
        assert_null(l2);
        assert_non_null(strstr(err, "ledger-2026-11.jsonl:2:"));
        free(t);

        /* a removed entry (the third line) */
        t = strdup(orig);
        char *a = strchr(t, '\n') + 1;
        a = strchr(a, '\n') + 1;
        char *b = strchr(a, '\n') + 1;
        memmove(a, b, strlen(b) + 1);
        spit(path, t);
        assert_int_equal(verify_files(pub, paths, 1, NULL, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, "expected seq 3"));
        free(t);

        /* the original verifies again */
        spit(path, orig);
        assert_int_equal(verify_files(pub, paths, 1, NULL, err, sizeof err), 0);
        free(orig);
}

static void test_torn_tail_cut(void **state) {
        fx *f = *state;
        dcem_ledger *l = open_ok(f, NULL, 1, NULL);
        append_ok(l, 10, "{\"a\":1}", T_NOV);
        append_ok(l, 11, "{\"a\":2}", T_NOV);
        dcem_ledger_close(l);
        char path[256];
        snprintf(path, sizeof path, "%s/ledger-2026-11.jsonl", f->ledger_dir);
        FILE *fp = fopen(path, "a");
        fputs("{\"schema\":1,\"site\":\"site-a\",\"seq\":3,\"ts\":\"20", fp); /* a crash mid-write */
        fclose(fp);
        bool rep = false;
        l = open_ok(f, NULL, 1, &rep);
        assert_true(rep);
        assert_int_equal(dcem_ledger_last_seq(l), 2);
        append_ok(l, 12, "{\"a\":3}", T_NOV);
        dcem_ledger_close(l);
        const char *paths[] = { path };
        dcem_ledger_stats st;
        char err[256];
        assert_int_equal(verify_files(NULL, paths, 1, &st, err, sizeof err), 0);
        assert_int_equal(st.entries, 3);
        assert_int_equal(st.signed_entries, 0);
}

static void test_sign_every_and_months(void **state) {
        fx *f = *state;
        dcem_ledger *l = open_ok(f, f->key, 2, NULL);
        append_ok(l, 1, "{\"m\":\"nov\"}", T_NOV);
        append_ok(l, 2, "{\"m\":\"nov\"}", T_NOV);
        append_ok(l, 3, "{\"m\":\"nov\"}", T_NOV);
        append_ok(l, 4, "{\"m\":\"dec\"}", T_DEC + NS);
        dcem_ledger_close(l);
        l = open_ok(f, f->key, 2, NULL); /* resumes from December's file */
        assert_int_equal(dcem_ledger_last_seq(l), 4);
        append_ok(l, 5, "{\"m\":\"dec\"}", T_DEC + 2 * NS);
        dcem_ledger_close(l);
        char nov[256], dec[256], pub[160], err[256];
        snprintf(nov, sizeof nov, "%s/ledger-2026-11.jsonl", f->ledger_dir);
        snprintf(dec, sizeof dec, "%s/ledger-2026-12.jsonl", f->ledger_dir);
        snprintf(pub, sizeof pub, "%s.pub", f->key);
        const char *both[] = { nov, dec };
        dcem_ledger_stats st;
        if (verify_files(pub, both, 2, &st, err, sizeof err) != 0)
                fail_msg("%s", err);
        assert_int_equal(st.entries, 5);
        assert_int_equal(st.signed_entries, 2); /* seq 2 and 4 */
        /* December alone verifies from its first entry on; in the wrong order the link breaks */
        const char *dec_only[] = { dec }, *swapped[] = { dec, nov };
        assert_int_equal(verify_files(pub, dec_only, 1, &st, err, sizeof err), 0);
        assert_int_equal(st.first_seq, 4);
        assert_int_equal(verify_files(pub, swapped, 2, NULL, err, sizeof err), -EBADMSG);
}

static void test_key_file_rules(void **state) {
        fx *f = *state;
        char err[512];
        assert_int_equal(chmod(f->key, 0644), 0);
        dcem_ledger_conf c = { .dir = f->ledger_dir, .key_file = f->key, .sign_every = 1 };
        dcem_ledger *l = NULL;
        assert_int_equal(dcem_ledger_open(&c, "site-a", &l, NULL, err, sizeof err), -EACCES);
        assert_non_null(strstr(err, "chmod 600"));
        assert_int_equal(chmod(f->key, 0600), 0);
        assert_int_equal(dcem_ledger_keygen(f->key, err, sizeof err), -EEXIST); /* never overwrites a key */
        /* a key of another algorithm is refused */
        char rsa[160], cmd[512];
        snprintf(rsa, sizeof rsa, "%s/rsa.key", f->dir);
        snprintf(cmd, sizeof cmd, "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out '%s' 2>/dev/null && chmod 600 '%s'",
                 rsa, rsa);
        assert_int_equal(system(cmd), 0);
        c.key_file = rsa;
        assert_int_equal(dcem_ledger_open(&c, "site-a", &l, NULL, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "not an Ed25519 key"));
        /* a ledger of another site is not extended */
        c.key_file = NULL;
        assert_int_equal(dcem_ledger_open(&c, "site-a", &l, NULL, err, sizeof err), 0);
        append_ok(l, 1, "{}", T_NOV);
        dcem_ledger_close(l);
        l = NULL;
        assert_int_equal(dcem_ledger_open(&c, "site-b", &l, NULL, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, "site site-a's"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hash_formula),
                cmocka_unit_test_setup_teardown(test_append_resume_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tamper_detected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_torn_tail_cut, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sign_every_and_months, setup, teardown),
                cmocka_unit_test_setup_teardown(test_key_file_rules, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
