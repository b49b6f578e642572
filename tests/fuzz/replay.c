/* replay.c - run LLVMFuzzerTestOneInput on files, without libFuzzer, so any
 * compiler can replay a corpus as an ordinary test (and a crash found by the
 * fuzzer can be reproduced under gdb).
 *
 * Usage: replay [FILE|DIR]...   (default: the config corpus of the tree)
 * Exit 0 when every input ran; 1 when one could not be read. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_BYTES (8u << 20)

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        uint8_t *buf = malloc(REPLAY_MAX_BYTES);
        if (!buf) {
                fclose(f);
                return -1;
        }
        size_t n = fread(buf, 1, REPLAY_MAX_BYTES, f);
        int bad = ferror(f);
        fclose(f);
        if (bad) {
                fprintf(stderr, "replay: %s: read error\n", path);
                free(buf);
                return -1;
        }
        /* An exact-size copy, so ASan sees reads past the input. */
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact) {
                free(buf);
                return -1;
        }
        memcpy(exact, buf, n);
        free(buf);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        printf("replay: %s (%zu bytes) ok\n", path, n);
        return 0;
}


static int run_path(const char *path, size_t *count)
{
        struct stat st;
        if (stat(path, &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*count)++;
                return run_file(path);
        }
        struct dirent **list = NULL;
        int n = scandir(path, &list, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                char full[4096];
                if (list[i]->d_name[0] != '.') {
                        snprintf(full, sizeof(full), "%s/%s", path, list[i]->d_name);
                        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
                                (*count)++;
                                if (run_file(full) < 0)
                                        r = -1;
                        }
                }
                free(list[i]);
        }
        free(list);
        return r;
}

int main(int argc, char **argv)
{
        size_t count = 0;
        int r = 0;
#ifdef DCEM_SOURCE_DIR
        static const char *def[] = { DCEM_SOURCE_DIR "/tests/fuzz/corpus/config" };
#else
        static const char *def[] = { "tests/fuzz/corpus/config" };
#endif
        const char **paths = argc > 1 ? (const char **)argv + 1 : def;
        int npaths = argc > 1 ? argc - 1 : 1;

        for (int i = 0; i < npaths; i++)
                if (run_path(paths[i], &count) < 0)
                        r = 1;
        if (count == 0) {
                fprintf(stderr, "replay: no input files\n");
                return 1;
        }
        printf("replay: %zu inputs\n", count);
        return r;
}
