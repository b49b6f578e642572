/* pub_stdout.c - the stdout publisher: one JSON line per sample.
 *
 * The format is the contract of `--once` and `output.stdout: true`:
 * {"site":..,"device":..,"point":..,"value":..,"unit":..,"ts":..,"quality":..}
 * Writes are buffered per batch and flushed at the end of each batch, so a
 * consumer reading a pipe sees whole polls. A closed pipe is an error of this
 * publisher (-EPIPE), never a crash (SIGPIPE is ignored by main).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dcem/publisher.h"
#include "json.h"
#include "pub_stdout.h"

typedef struct stdout_pub {
        char *site;
        FILE *out;
} stdout_pub;

static int stdout_init(const dcem_publisher_env *env, const void *conf, void **ret_state, char *errbuf,
                       size_t errlen) {
        (void)conf;
        stdout_pub *p = calloc(1, sizeof *p);
        if (!p || !(p->site = strdup(env->site))) {
                free(p);
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        p->out = stdout;
        *ret_state = p;
        return 0;
}

int dcem_stdout_write_batch(FILE *out, const char *site, const dcem_batch *b) {
        char line[1024];
        for (size_t i = 0; i < b->n; i++) {
                int n = dcem_json_sample_line(site, &b->samples[i], line, sizeof line - 1);
                if (n < 0)
                        return n;
                line[n++] = '\n';
                if (fwrite(line, 1, (size_t)n, out) != (size_t)n)
                        return errno ? -errno : -EIO;
        }
        if (fflush(out) != 0)
                return errno ? -errno : -EIO;
        return 0;
}

static int stdout_publish(void *state, dcem_batch *b) {
        stdout_pub *p = state;
        return dcem_stdout_write_batch(p->out, p->site, b);
}

static int stdout_flush(void *state) {
        stdout_pub *p = state;
        return fflush(p->out) == 0 ? 0 : -EIO;
}

static void stdout_close(void *state) {
        stdout_pub *p = state;
        if (!p)
                return;
        fflush(p->out);
        free(p->site);
        free(p);
}

const dcem_publisher_ops dcem_stdout_publisher = {
        .name = "stdout",
        .schema = NULL,
        .init = stdout_init,
        .publish = stdout_publish,
        .flush = stdout_flush,
        .close = stdout_close,
};
