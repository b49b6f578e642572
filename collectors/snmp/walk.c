/* walk.c - multi-column table walks (see walk.h). Pure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "snmp/walk.h"

int snmp_walk_init(snmp_walk *w, const soid *cols, size_t ncol, size_t max_requests) {
        if (!ncol)
                return -EINVAL;
        snmp_walk x = { .ncol = ncol, .max_requests = max_requests ? max_requests : 1 };
        x.col = malloc(ncol * sizeof(soid));
        x.cursor = malloc(ncol * sizeof(soid));
        x.done = calloc(ncol, sizeof(bool));
        x.req = calloc(ncol, sizeof(size_t));
        if (!x.col || !x.cursor || !x.done || !x.req) {
                snmp_walk_free(&x);
                return -ENOMEM;
        }
        memcpy(x.col, cols, ncol * sizeof(soid));
        *w = x;
        snmp_walk_start(w);
        return 0;
}

void snmp_walk_free(snmp_walk *w) {
        if (!w)
                return;
        free(w->col);
        free(w->cursor);
        free(w->done);
        free(w->req);
        w->col = w->cursor = NULL;
        w->done = NULL;
        w->req = NULL;
        w->ncol = 0;
}

void snmp_walk_start(snmp_walk *w) {
        for (size_t i = 0; i < w->ncol; i++) {
                w->cursor[i] = w->col[i];
                w->done[i] = false;
        }
        w->nreq = 0;
        w->requests = 0;
        w->backwards = 0;
        w->truncated = false;
}

bool snmp_walk_finished(const snmp_walk *w) {
        for (size_t i = 0; i < w->ncol; i++)
                if (!w->done[i])
                        return false;
        return true;
}

size_t snmp_walk_request(snmp_walk *w, soid *ret) {
        w->nreq = 0;
        if (snmp_walk_finished(w))
                return 0;
        if (w->requests >= w->max_requests) {
                w->truncated = true;
                for (size_t i = 0; i < w->ncol; i++)
                        w->done[i] = true;
                return 0;
        }
        for (size_t i = 0; i < w->ncol; i++)
                if (!w->done[i]) {
                        ret[w->nreq] = w->cursor[i];
                        w->req[w->nreq++] = i;
                }
        w->requests++;
        return w->nreq;
}

int snmp_walk_feed(snmp_walk *w, const soid *oids, const sval *vals, size_t n, vb_store *st) {
        size_t k = w->nreq;
        if (!k)
                return 0;
        bool progress[k];
        memset(progress, 0, sizeof(progress));
        for (size_t j = 0; j < n; j++) {
                size_t pos = j % k, c = w->req[pos];
                if (w->done[c])
                        continue;
                const soid *o = &oids[j];
                if (sval_is_exception(&vals[j]) || !soid_has_prefix(o, &w->col[c]) || o->n == w->col[c].n) {
                        w->done[c] = true;
                        continue;
                }
                int r = vb_store_put(st, o, &vals[j]);
                if (r < 0) {
                        w->truncated = true;
                        for (size_t i = 0; i < w->ncol; i++)
                                w->done[i] = true;
                        return r;
                }
                if (soid_cmp(o, &w->cursor[c]) > 0) {
                        w->cursor[c] = *o;
                        progress[pos] = true;
                } else
                        w->backwards++;
        }
        /* A column that got answers but no step forward would loop: end it. A
         * column that got no varbind at all (a response cut short) is asked
         * again from its cursor. */
        for (size_t pos = 0; pos < k; pos++) {
                size_t c = w->req[pos];
                if (!w->done[c] && !progress[pos] && pos < n)
                        w->done[c] = true;
        }
        if (n == 0) /* an empty answer ends the walk rather than loop */
                for (size_t pos = 0; pos < k; pos++)
                        w->done[w->req[pos]] = true;
        return 0;
}

void snmp_walk_end_column(snmp_walk *w, size_t pos) {
        if (pos < w->nreq)
                w->done[w->req[pos]] = true;
}
