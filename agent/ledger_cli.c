/* ledger_cli.c - `dcem-agent ledger keygen PATH` and
 * `dcem-agent ledger verify [--key PUB.pem] FILE...`.
 *
 * What a certification body runs on the ledger files (or on the entries it
 * collected from <prefix>/<site>/ledger, one per line): every entry's hash
 * recomputed, every link and sequence number checked across the files in the
 * order given, every signature checked against the public key. The first
 * failure is reported with its file and line.
 */
#include "ledger_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/ledger.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: dcem-agent ledger keygen PATH            write an Ed25519 key pair: PATH (private, 0600) and PATH.pub\n"
                   "       dcem-agent ledger verify [--key PUB.pem] FILE...\n"
                   "                                                check ledger files (in chain order; '-' = stdin)\n");
}

/* 0 when every entry of f verifies, 2 (reported on stderr) when not. */
static int verify_stream(dcem_ledger_verifier *v, FILE *f, const char *name) {
        char err[512] = "";
        bool torn = false;
        if (dcem_ledger_verify_stream(v, f, name, NULL, &torn, err, sizeof err) < 0) {
                fprintf(stderr, "%s\n", err);
                return 2;
        }
        if (torn) {
                fprintf(stderr, "%s: the last line is incomplete (a torn write): not verified\n", name);
                return 2;
        }
        return 0;
}

int dcem_ledger_cli(int argc, char **argv) {
        char err[512] = "";
        if (argc == 4 && strcmp(argv[2], "keygen") == 0) {
                int r = dcem_ledger_keygen(argv[3], err, sizeof err);
                if (r < 0) {
                        fprintf(stderr, "dcem-agent ledger keygen: %s\n",
                                r == -EEXIST ? "the key exists: never overwritten" : err);
                        return 1;
                }
                printf("private key: %s (keep it secret; accounting.ledger.key_file)\npublic key:  %s.pub (give it to "
                       "whoever verifies the ledger)\n",
                       argv[3], argv[3]);
                return 0;
        }
        if (argc >= 3 && strcmp(argv[2], "verify") == 0) {
                int ai = 3;
                const char *key = NULL;
                if (argc >= 5 && strcmp(argv[3], "--key") == 0) {
                        key = argv[4];
                        ai = 5;
                }
                if (ai >= argc) {
                        usage(stderr);
                        return 1;
                }
                dcem_ledger_verifier *v = NULL;
                if (dcem_ledger_verifier_new(key, &v, err, sizeof err) < 0) {
                        fprintf(stderr, "dcem-agent ledger verify: %s\n", err);
                        return 1;
                }
                int r = 0;
                for (int i = ai; r == 0 && i < argc; i++) {
                        FILE *f = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "re");
                        if (!f) {
                                fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                                r = 2;
                                break;
                        }
                        r = verify_stream(v, f, argv[i]);
                        if (f != stdin)
                                fclose(f);
                }
                dcem_ledger_stats st;
                dcem_ledger_verifier_stats(v, &st);
                dcem_ledger_verifier_free(v);
                if (r == 0 && st.entries == 0) {
                        fprintf(stderr, "dcem-agent ledger verify: no entries\n");
                        return 2;
                }
                if (r == 0) {
                        printf("ok: %" PRIu64 " entries (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64
                               " signed%s; last hash %s\n",
                               st.entries, st.first_seq, st.last_seq, st.signed_entries,
                               key ? " and checked" : " (not checked: no --key)", st.last_hash);
                        if (!key && st.signed_entries)
                                printf("note: pass --key PUB.pem to check the signatures\n");
                }
                return r;
        }
        usage(argc >= 3 && strcmp(argv[2], "--help") == 0 ? stdout : stderr);
        return argc >= 3 && strcmp(argv[2], "--help") == 0 ? 0 : 1;
}
