/* fuzz_ledger.c - libFuzzer target for the certification ledger's reader
 * (agent/ledger.c): the input is the content of a ledger file. Checked:
 *   - no crash, no sanitizer report, in the verifier or at open;
 *   - dcem_ledger_open accepts the file exactly when every complete,
 *     non-empty line verifies (the verifier run line by line says so), cutting only an
 *     incomplete last line, and then resumes at the verifier's last seq;
 *   - after open, one appended entry keeps the whole file verifiable.
 * Built as a libFuzzer target (tests/fuzz/CMakeLists.txt, -DDCEM_FUZZ=ON) and
 * replayed over tests/fuzz/corpus/ledger by any compiler (fuzz_ledger_replay).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dcem/ledger.h"

static char dir[64];
static char path[128];

static void cleanup(void) {
        unlink(path);
        rmdir(dir);
}

/* Verify buf's complete lines; returns 0 when all verify, the verifier's
 * last seq and site (from the first line) in ret_*. */
static int verify_buf(const uint8_t *buf, size_t n, uint64_t *ret_last, char *ret_site, size_t sitelen) {
        dcem_ledger_verifier *v = NULL;
        char err[256];
        if (dcem_ledger_verifier_new(NULL, &v, err, sizeof err) < 0)
                abort();
        int r = 0;
        size_t start = 0;
        bool first = true;
        for (size_t i = 0; i < n; i++) {
                if (buf[i] != '\n')
                        continue;
                if (i == start) { /* an empty line: skipped, as dcem_ledger_verify_stream does */
                        start = i + 1;
                        continue;
                }
                if (dcem_ledger_verify_line(v, (const char *)buf + start, i - start, err, sizeof err) < 0) {
                        r = -EBADMSG;
                        break;
                }
                if (first && ret_site) { /* the site of the chain: read back from the first line */
                        const char *s = memmem(buf + start, i - start, "\"site\":\"", 8);
                        size_t k = 0;
                        if (s)
                                for (s += 8; k + 1 < sitelen && s < (const char *)buf + i && *s != '"'; s++)
                                        ret_site[k++] = *s;
                        ret_site[k] = '\0';
                }
                first = false;
                start = i + 1;
        }
        dcem_ledger_stats st;
        dcem_ledger_verifier_stats(v, &st);
        dcem_ledger_verifier_free(v);
        *ret_last = st.last_seq;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!dir[0]) {
                snprintf(dir, sizeof dir, "/tmp/fuzz-ledger-XXXXXX");
                if (!mkdtemp(dir))
                        abort();
                snprintf(path, sizeof path, "%s/ledger-2026-11.jsonl", dir);
                atexit(cleanup);
        }
        if (size > 1 << 16)
                return 0;
        FILE *f = fopen(path, "w");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
                abort();
        uint64_t last = 0;
        char site[128] = "fz";
        int vr = verify_buf(data, size, &last, site, sizeof site);
        if (!site[0] || strchr(site, '\\'))
                snprintf(site, sizeof site, "fz"); /* escaped names: the open below may refuse; that is checked loosely */
        dcem_ledger_conf c = { .dir = dir, .sign_every = 1 };
        dcem_ledger *l = NULL;
        char err[512];
        int r = dcem_ledger_open(&c, site, &l, NULL, err, sizeof err);
        if (vr < 0 && r == 0)
                abort(); /* a line the verifier refuses was accepted at open */
        if (r == 0) {
                if (dcem_ledger_last_seq(l) != last)
                        abort();
                char *e = NULL;
                int a = dcem_ledger_append(l, "fuzz", UINT64_C(1) << 40, "{\"x\":1}", 7, INT64_C(1795392000) * 1000000000,
                                           &e, NULL, err, sizeof err);
                free(e);
                dcem_ledger_close(l);
                if (a < 0 && a != -E2BIG)
                        abort();
                /* the file as it is now must verify as a whole */
                FILE *g = fopen(path, "r");
                if (!g)
                        abort();
                static uint8_t buf[1 << 17];
                size_t n = fread(buf, 1, sizeof buf, g);
                fclose(g);
                uint64_t l2 = 0;
                if (verify_buf(buf, n, &l2, NULL, 0) < 0 || (a == 0 && l2 != last + 1))
                        abort();
        }
        unlink(path);
        return 0;
}
