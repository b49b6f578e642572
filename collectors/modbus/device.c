/* device.c - one Modbus device's poll engine (see device.h).
 *
 * A poll walks the device's plan one request at a time (a device is never
 * asked two things at once; a gateway's parallelism comes from its many
 * devices). Answers are decoded per point. A request refused with exception
 * 1, 2 or 3 is split (plan.c remembers the boundary for later polls) and the
 * halves are retried in the same poll, so a bad address costs only its own
 * points. Timeouts and I/O errors are retried `retries` times; then the
 * device is down for this poll and every point still unread is reported
 * with quality error. String points become text samples (dcem_poll_add_text);
 * their text lives in a per-device table sized by the number of string
 * points (none: no table), DCEM_TEXT_MAX bytes each.
 *
 * Memory: the point table is immutable once given, so devices with the same
 * points (meters of one profile without points of their own) share one
 * interned, reference-counted copy (ptab_get); a device takes a private copy
 * only when SunSpec discovery adds points to it. What changes per poll or
 * per device (values, qualities, learned split boundaries, the SunSpec walk)
 * stays per device; the boundaries and the walk are allocated only when a
 * device first needs them (an exception to split, a discovery).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "modbus/device.h"

typedef struct work {
        mb_request req;
        size_t *sel;   /* points answered by this request */
        size_t nsel;
        unsigned tries;
        bool owned;    /* sel is this item's (a split); else it points into the plan's psel */
} work;

enum { Q_PENDING = 0, Q_OK, Q_BAD };

/* An interned point table: read-only, shared by every device created with
 * equal points, freed with its last device. */
typedef struct mb_ptab {
        struct mb_ptab *next;
        size_t refs;
        uint64_t hash;
        size_t n;
        mb_point pts[];
} mb_ptab;

/* The tables in use. Devices are made and freed on the loop's thread, but
 * the pool is process-wide, so it is locked anyway (only at new/free). */
static pthread_mutex_t ptab_mu = PTHREAD_MUTEX_INITIALIZER;
static mb_ptab *ptab_list;
static const mb_point no_points[1];

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
        const unsigned char *b = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ull;
        return h;
}

/* A hash of what a point means (the strings up to their NUL, the fields,
 * not the padding), consistent with point_eq. */
static uint64_t points_hash(const mb_point *pts, size_t n) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < n; i++) {
                const mb_point *p = &pts[i];
                uint8_t b[5] = { p->fc, p->type, p->order, p->kind, p->sentinel };
                h = fnv(h, p->name, strnlen(p->name, sizeof p->name));
                h = fnv(h, p->unit, strnlen(p->unit, sizeof p->unit));
                h = fnv(h, b, sizeof b);
                h = fnv(h, &p->reg, sizeof p->reg);
                h = fnv(h, &p->nregs, sizeof p->nregs);
                h = fnv(h, &p->sf_reg, sizeof p->sf_reg);
                h = fnv(h, &p->scale, sizeof p->scale);
                h = fnv(h, &p->offset, sizeof p->offset);
        }
        return h;
}

/* Two points that read and report the same thing (doubles compared by
 * their bits: equal bits behave the same). */
static bool point_eq(const mb_point *a, const mb_point *b) {
        return strncmp(a->name, b->name, sizeof a->name) == 0 && strncmp(a->unit, b->unit, sizeof a->unit) == 0 &&
               a->fc == b->fc && a->type == b->type && a->order == b->order && a->kind == b->kind &&
               a->reg == b->reg && a->nregs == b->nregs && a->sf_reg == b->sf_reg &&
               memcmp(&a->scale, &b->scale, sizeof a->scale) == 0 &&
               memcmp(&a->offset, &b->offset, sizeof a->offset) == 0 && a->sentinel == b->sentinel;
}

/* The shared table equal to pts[0..n-1] (n > 0), with a new reference: an
 * existing one, or a copy made now. NULL when out of memory. */
static mb_ptab *ptab_get(const mb_point *pts, size_t n) {
        uint64_t h = points_hash(pts, n);
        mb_ptab *t;
        pthread_mutex_lock(&ptab_mu);
        for (t = ptab_list; t; t = t->next) {
                if (t->hash != h || t->n != n)
                        continue;
                size_t i = 0;
                while (i < n && point_eq(&t->pts[i], &pts[i]))
                        i++;
                if (i == n)
                        break;
        }
        if (t) {
                t->refs++;
        } else if ((t = malloc(sizeof *t + n * sizeof *pts))) {
                t->refs = 1;
                t->hash = h;
                t->n = n;
                memcpy(t->pts, pts, n * sizeof *pts);
                t->next = ptab_list;
                ptab_list = t;
        }
        pthread_mutex_unlock(&ptab_mu);
        return t;
}

/* Drop a reference; the last one frees the table. Accepts NULL. */
static void ptab_put(mb_ptab *t) {
        if (!t)
                return;
        pthread_mutex_lock(&ptab_mu);
        if (--t->refs == 0) {
                mb_ptab **pp = &ptab_list;
                while (*pp != t)
                        pp = &(*pp)->next;
                *pp = t->next;
                free(t);
        }
        pthread_mutex_unlock(&ptab_mu);
}

struct mb_dev {
        mb_transport *t;
        mb_dev_opts o;
        const mb_point *pts;   /* shared->pts, own, or no_points (none yet) */
        mb_ptab *shared;       /* the interned table pts reads, or NULL */
        mb_point *own;         /* a private table (SunSpec added points), or NULL */
        size_t npts;
        mb_bounds *bounds;     /* remembered splits; NULL until the first split */
        mb_plan plan;
        bool plan_ok;
        size_t plan_bounds;    /* bounds.n when the plan was made */
        /* the plan's points grouped by request: request r answers
         * psel[poff[r]] .. psel[poff[r + 1] - 1]; made with the plan, so a
         * poll queues its requests without allocating */
        size_t *psel, *poff;
        /* the poll in flight */
        dcem_poll *poll;
        work *q;
        size_t qn, qcap, qi;
        double *val;
        uint8_t *qual;
        /* string points: txt[tslot[k]] is point k's text (only if ntxt > 0) */
        uint16_t *tslot;
        char (*txt)[DCEM_TEXT_MAX];
        size_t ntxt;
        uint64_t xid;
        bool inflight;
        bool answered;         /* the poll in flight has had an answer */
        int status;
        char err[DCEM_ERR_MAX];
        /* SunSpec discovery */
        bool discovering, discovered;
        size_t ident_once;     /* identity strings at the end of pts, read with the first poll only */
        mb_sunspec_walk *walk; /* allocated at the first discovery, freed when it succeeds */
        unsigned walk_tries;
        mb_dev_stats st;
};

static void next(mb_dev *d);

/* Split boundaries remembered so far. */
static size_t nbounds(const mb_dev *d) { return d->bounds ? d->bounds->n : 0; }

/* Make the point table private (copied out of the shared one) with room for
 * extra more points. 0 or -ENOMEM (the table is unchanged). */
static int own_points(mb_dev *d, size_t extra) {
        size_t cap = d->npts + extra ? d->npts + extra : 1;
        mb_point *np;
        if (d->own) {
                np = realloc(d->own, cap * sizeof *np);
                if (!np)
                        return -ENOMEM;
        } else {
                np = malloc(cap * sizeof *np);
                if (!np)
                        return -ENOMEM;
                if (d->npts)
                        memcpy(np, d->pts, d->npts * sizeof *np);
                ptab_put(d->shared);
                d->shared = NULL;
        }
        d->own = np;
        d->pts = np;
        return 0;
}

/* (Re)build the text table of the string points. 0 or -ENOMEM (the old
 * table is kept). */
static int index_texts(mb_dev *d) {
        size_t n = 0;
        for (size_t i = 0; i < d->npts; i++)
                n += d->pts[i].type == MB_T_STRING;
        if (n == 0)
                return 0;
        uint16_t *ts = realloc(d->tslot, d->npts * sizeof *ts);
        if (!ts)
                return -ENOMEM;
        d->tslot = ts;
        char(*tx)[DCEM_TEXT_MAX] = realloc(d->txt, n * sizeof *tx);
        if (!tx)
                return -ENOMEM;
        d->txt = tx;
        d->ntxt = n;
        n = 0;
        for (size_t i = 0; i < d->npts; i++) {
                d->tslot[i] = (uint16_t)n;
                if (d->pts[i].type == MB_T_STRING)
                        d->txt[n++][0] = '\0';
        }
        return 0;
}

static void set_err(mb_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(mb_dev *d, const char *fmt, ...) {
        if (d->err[0])
                return; /* keep the first error of the poll */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, sizeof d->err, fmt, ap);
        va_end(ap);
}

static void clear_queue(mb_dev *d) {
        for (size_t i = 0; i < d->qn; i++)
                if (d->q[i].owned)
                        free(d->q[i].sel);
        d->qn = d->qi = 0;
}

/* Room for n more work items. 0 or -ENOMEM. */
static int queue_room(mb_dev *d, size_t n) {
        if (d->qn + n <= d->qcap)
                return 0;
        size_t cap = (d->qn + n) * 2;
        work *q = realloc(d->q, cap * sizeof *q);
        if (!q)
                return -ENOMEM;
        d->q = q;
        d->qcap = cap;
        return 0;
}

/* Insert the requests of a plan over sel[] at position at. 0 or -ENOMEM. */
static int queue_plan(mb_dev *d, size_t at, const mb_plan *pl, const size_t *sel) {
        if (queue_room(d, pl->n) < 0)
                return -ENOMEM;
        memmove(&d->q[at + pl->n], &d->q[at], (d->qn - at) * sizeof *d->q);
        for (size_t r = 0; r < pl->n; r++) {
                work *w = &d->q[at + r];
                memset(w, 0, sizeof *w);
                w->req = pl->reqs[r];
                w->owned = true;
                w->sel = malloc(pl->npoints * sizeof *w->sel);
                if (!w->sel) {
                        /* leave a consistent queue: empty items are skipped */
                        for (size_t k = r; k < pl->n; k++)
                                d->q[at + k] = (work){ .req = pl->reqs[k] };
                        d->qn += pl->n;
                        return -ENOMEM;
                }
                for (size_t i = 0; i < pl->npoints; i++)
                        if (pl->point_req[i] == r)
                                w->sel[w->nsel++] = sel[i];
        }
        d->qn += pl->n;
        return 0;
}

/* Make the plan of every point (when the remembered splits changed) and its
 * grouping of points by request (psel/poff). 0 or -ENOMEM / -EINVAL; the old
 * plan is kept on failure. */
static int ensure_plan(mb_dev *d) {
        if (d->plan_ok && d->plan_bounds == nbounds(d))
                return 0;
        size_t n = d->npts ? d->npts : 1;
        size_t *sel = malloc(n * sizeof *sel);
        if (!sel)
                return -ENOMEM;
        for (size_t i = 0; i < d->npts; i++)
                sel[i] = i;
        mb_plan pl;
        int r = mb_plan_build(d->pts, sel, d->npts, &d->o.plan, d->bounds, &pl);
        if (r < 0) {
                free(sel);
                return r;
        }
        size_t *poff = calloc(pl.n + 2, sizeof *poff);
        if (!poff) {
                free(sel);
                mb_plan_free(&pl);
                return -ENOMEM;
        }
        /* a counting sort by request; sel (the identity) becomes psel */
        for (size_t i = 0; i < pl.npoints; i++)
                poff[pl.point_req[i] + 2]++;
        for (size_t k = 0; k < pl.n; k++)
                poff[k + 2] += poff[k + 1];
        for (size_t i = 0; i < pl.npoints; i++)
                sel[poff[pl.point_req[i] + 1]++] = i; /* poff[k + 1] ends as the end of request k */
        mb_plan_free(&d->plan);
        free(d->psel);
        free(d->poff);
        d->plan = pl;
        d->psel = sel;
        d->poff = poff;
        d->plan_ok = true;
        d->plan_bounds = nbounds(d);
        return 0;
}

static void mark(mb_dev *d, const size_t *sel, size_t n, uint8_t q) {
        for (size_t i = 0; i < n; i++)
                if (d->qual[sel[i]] == Q_PENDING)
                        d->qual[sel[i]] = q;
}

static void finish(mb_dev *d) {
        dcem_poll *p = d->poll;
        for (size_t i = 0; i < d->npts; i++) {
                const mb_point *pt = &d->pts[i];
                bool ok = d->qual[i] == Q_OK;
                if (pt->type == MB_T_STRING)
                        (void)dcem_poll_add_text(p, pt->name, ok ? d->txt[d->tslot[i]] : "",
                                                 ok ? DCEM_Q_GOOD : DCEM_Q_ERROR);
                else
                        (void)dcem_poll_add(p, pt->name, ok ? d->val[i] : NAN, pt->unit,
                                            ok ? DCEM_Q_GOOD : DCEM_Q_ERROR, (dcem_kind)pt->kind);
        }
        clear_queue(d);
        d->poll = NULL;
        if (d->ident_once > 0 && d->status == 0) {
                /* published once: later polls read the meter alone */
                d->npts -= d->ident_once;
                d->ident_once = 0;
                d->plan_ok = false;
        }
        if (d->o.close_after_poll && d->t->ops->release)
                d->t->ops->release(d->t->impl);
        dcem_poll_done(p, d->status, d->err[0] ? d->err : NULL);
}

/* Everything not read yet is lost for this poll. */
static void give_up(mb_dev *d, int status) {
        for (size_t i = 0; i < d->npts; i++)
                if (d->qual[i] == Q_PENDING)
                        d->qual[i] = Q_BAD;
        d->status = status;
        finish(d);
}

static const char *fc_name(uint8_t fc) {
        switch (fc) {
        case MB_FC_COIL: return "coils";
        case MB_FC_DISCRETE: return "discrete inputs";
        case MB_FC_HOLDING: return "holding registers";
        default: return "input registers";
        }
}

static void on_xfer(void *ud, int status, int exc, const uint16_t *regs, const uint8_t *bits, size_t n);

static int submit(mb_dev *d, uint8_t fc, uint16_t start, uint16_t count) {
        mb_xfer_req r = { .unit = d->o.unit, .fc = fc, .start = start, .count = count,
                          .timeout_ns = d->o.timeout_ns, .cont = d->answered };
        int e = d->t->ops->submit(d->t->impl, &r, on_xfer, d, &d->xid);
        if (e == 0) {
                d->inflight = true;
                d->st.requests++;
        } else if (e == -ENOBUFS) {
                d->st.rejected++;
        }
        return e;
}

static void start_plan(mb_dev *d) {
        int r = ensure_plan(d);
        if (r < 0) {
                set_err(d, "cannot plan the requests: %s", strerror(-r));
                give_up(d, r);
                return;
        }
        /* the queue is empty here: one item per request of the plan, its
         * points borrowed from the plan's grouping (no allocation per poll) */
        r = queue_room(d, d->plan.n);
        if (r < 0) {
                give_up(d, r);
                return;
        }
        for (size_t k = 0; k < d->plan.n; k++)
                d->q[k] = (work){ .req = d->plan.reqs[k], .sel = d->psel + d->poff[k],
                                  .nsel = d->poff[k + 1] - d->poff[k] };
        d->qn = d->plan.n;
        next(d);
}

/* SunSpec discovery done: add the meter's canonical points and the common
 * model's identity strings (points the device block already names win). */
static int adopt_sunspec(mb_dev *d) {
        const mb_sunspec_model *m = mb_sunspec_find_meter(d->walk);
        mb_point cp[24];
        size_t nid = 0; /* identity strings added */
        if (!m)
                return -ENODEV;
        int n = mb_sunspec_meter_points(m, cp, 16);
        if (n < 0)
                return n;
        n += mb_sunspec_common_points(d->walk, cp + n, 8);
        int e = own_points(d, (size_t)n);
        double *nv = realloc(d->val, (d->npts + (size_t)n) * sizeof *nv);
        if (nv)
                d->val = nv;
        uint8_t *nq = realloc(d->qual, d->npts + (size_t)n);
        if (nq)
                d->qual = nq;
        if (e < 0 || !nv || !nq)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                bool dup = false;
                for (size_t k = 0; k < d->npts && !dup; k++)
                        dup = strcmp(d->pts[k].name, cp[i].name) == 0;
                if (dup)
                        continue;
                cp[i].fc = MB_FC_HOLDING;
                d->qual[d->npts] = Q_PENDING;
                d->own[d->npts++] = cp[i];
                nid += cp[i].type == MB_T_STRING; /* they come last: cp holds the meter's points first */
        }
        d->plan_ok = false;
        /* The identity strings are static (SunSpec marks them so). Read with
         * every poll when they cost no request of their own (they merge with
         * the meter's first request); when they would add a request to every
         * poll (a float meter with a max_gap that reads it in one request),
         * read and published with the first poll only. */
        if (nid > 0 && nid < d->npts) {
                size_t *sel = malloc(d->npts * sizeof *sel);
                mb_plan with, without;
                if (!sel)
                        return -ENOMEM;
                for (size_t i = 0; i < d->npts; i++)
                        sel[i] = i;
                if (mb_plan_build(d->pts, sel, d->npts, &d->o.plan, d->bounds, &with) == 0) {
                        if (mb_plan_build(d->pts, sel, d->npts - nid, &d->o.plan, d->bounds, &without) == 0) {
                                if (with.n > without.n)
                                        d->ident_once = nid;
                                mb_plan_free(&without);
                        }
                        mb_plan_free(&with);
                }
                free(sel);
        }
        return index_texts(d);
}

static void walk_step(mb_dev *d) {
        uint16_t start, count;
        int r = mb_sunspec_walk_next(d->walk, &start, &count);
        if (r == 1) {
                int e = submit(d, MB_FC_HOLDING, start, count);
                if (e < 0) {
                        set_err(d, "cannot queue a request: %s", strerror(-e));
                        d->discovering = false;
                        give_up(d, e);
                }
                return;
        }
        d->discovering = false;
        if (r == 0)
                r = adopt_sunspec(d);
        if (r < 0) {
                if (r == -ENOENT || r == -ENODEV)
                        set_err(d, "no SunSpec meter (models 201-204, 211-214) found");
                else
                        set_err(d, "SunSpec discovery failed: %s", strerror(-r));
                give_up(d, r == -ENOENT ? -ENODEV : r);
                return;
        }
        d->discovered = true;
        free(d->walk); /* done: its models are in the points now */
        d->walk = NULL;
        start_plan(d);
}

static void decode_work(mb_dev *d, const work *w, const uint16_t *regs, const uint8_t *bits, size_t n) {
        for (size_t i = 0; i < w->nsel; i++) {
                size_t k = w->sel[i];
                double v = 0;
                int r = d->pts[k].type == MB_T_STRING
                                ? mb_decode_text(&d->pts[k], w->req.start, regs, n, d->txt[d->tslot[k]], DCEM_TEXT_MAX)
                                : mb_decode_point(&d->pts[k], w->req.start, regs, bits, n, &v);
                if (r == 0) {
                        d->val[k] = v;
                        d->qual[k] = Q_OK;
                } else {
                        d->qual[k] = Q_BAD; /* not implemented, NaN, bad scale factor */
                }
        }
}

static void on_xfer(void *ud, int status, int exc, const uint16_t *regs, const uint8_t *bits, size_t n) {
        mb_dev *d = ud;
        d->inflight = false;
        d->xid = 0;
        if (!d->poll)
                return;
        d->answered = true;
        if (status == -ETIMEDOUT)
                d->st.timeouts++;
        if (status == -EPROTO)
                d->st.exceptions++;
        if (d->discovering) {
                if ((status == -ETIMEDOUT || status == -ECONNRESET) && d->walk_tries < d->o.retries) {
                        d->walk_tries++;
                        walk_step(d); /* same read again */
                        return;
                }
                d->walk_tries = 0;
                mb_sunspec_walk_feed(d->walk, status, regs, n);
                walk_step(d);
                return;
        }
        work *w = &d->q[d->qi];
        if (status == 0) {
                decode_work(d, w, regs, bits, n);
                d->qi++;
                next(d);
                return;
        }
        if (status == -EPROTO && exc >= 1 && exc <= 3) {
                /* illegal function / address / value: split and retry the halves */
                if (!d->bounds)
                        d->bounds = calloc(1, sizeof *d->bounds);
                int s = d->bounds ? mb_plan_split(d->pts, w->sel, w->nsel, d->bounds) : -ENOMEM;
                if (s == 1) {
                        mb_plan pl;
                        size_t *sel = w->sel, nsel = w->nsel;
                        int r = mb_plan_build(d->pts, sel, nsel, &d->o.plan, d->bounds, &pl);
                        if (r == 0) {
                                bool owned = w->owned;
                                d->st.splits++;
                                w->sel = NULL;
                                w->nsel = 0;
                                w->owned = false;
                                d->qi++; /* the failed request is done */
                                r = queue_plan(d, d->qi, &pl, sel); /* w may move: not used below */
                                mb_plan_free(&pl);
                                if (owned)
                                        free(sel);
                                if (r < 0) {
                                        give_up(d, r);
                                        return;
                                }
                                next(d);
                                return;
                        }
                }
                set_err(d, "exception %d reading %u %s at %u", exc, w->req.count, fc_name(w->req.fc),
                        w->req.start);
                mark(d, w->sel, w->nsel, Q_BAD);
                d->qi++;
                next(d);
                return;
        }
        if (w->tries < d->o.retries) {
                w->tries++;
                next(d); /* qi unchanged: the same request again */
                return;
        }
        if (status == -EPROTO || status == -EBADMSG) {
                /* the device answers, but not this: lose these points only */
                if (status == -EPROTO)
                        set_err(d, "exception %d reading %u %s at %u", exc, w->req.count, fc_name(w->req.fc),
                                w->req.start);
                else
                        set_err(d, "malformed answer reading %u %s at %u", w->req.count, fc_name(w->req.fc),
                                w->req.start);
                if (status == -EBADMSG)
                        d->status = -EBADMSG;
                mark(d, w->sel, w->nsel, Q_BAD);
                d->qi++;
                next(d);
                return;
        }
        set_err(d, "%s reading %s at %u", status == -ETIMEDOUT ? "no answer" : strerror(-status),
                fc_name(w->req.fc), w->req.start);
        give_up(d, status);
}

static void next(mb_dev *d) {
        while (d->qi < d->qn) {
                work *w = &d->q[d->qi];
                if (!w->sel || w->nsel == 0) {
                        d->qi++;
                        continue;
                }
                int e = submit(d, w->req.fc, w->req.start, w->req.count);
                if (e == 0)
                        return;
                set_err(d, "cannot queue a request: %s", strerror(-e));
                mark(d, w->sel, w->nsel, Q_BAD);
                d->status = e;
                d->qi++;
        }
        finish(d);
}

int mb_dev_poll(mb_dev *d, dcem_poll *p) {
        if (d->poll)
                return -EBUSY;
        if (d->o.sunspec && !d->discovered && !d->walk && !(d->walk = malloc(sizeof *d->walk)))
                return -ENOMEM;
        d->poll = p;
        d->answered = false;
        d->status = 0;
        d->err[0] = '\0';
        d->st.polls++;
        clear_queue(d);
        for (size_t i = 0; i < d->npts; i++)
                d->qual[i] = Q_PENDING;
        if (d->o.sunspec && !d->discovered) {
                d->discovering = true;
                d->walk_tries = 0;
                mb_sunspec_walk_init(d->walk);
                walk_step(d);
                return 0;
        }
        start_plan(d);
        return 0;
}

void mb_dev_cancel(mb_dev *d, dcem_poll *p) {
        if (!d || d->poll != p)
                return;
        if (d->inflight)
                d->t->ops->cancel(d->t->impl, d->xid);
        d->inflight = false;
        d->discovering = false;
        clear_queue(d);
        d->poll = NULL;
}

int mb_dev_new(mb_transport *t, const mb_dev_opts *o, const mb_point *pts, size_t npts, mb_dev **ret,
               char *errbuf, size_t errlen) {
        mb_dev *d = calloc(1, sizeof *d);
        if (!d) {
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        d->t = t;
        d->o = *o;
        size_t cap = npts ? npts : 1;
        d->pts = no_points; /* the planner wants a table, even an empty one */
        if (npts) {
                d->shared = ptab_get(pts, npts);
                if (d->shared)
                        d->pts = d->shared->pts;
        }
        d->val = calloc(cap, sizeof *d->val);
        d->qual = calloc(cap, 1);
        if ((npts && !d->shared) || !d->val || !d->qual) {
                mb_dev_free(d);
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        d->npts = npts;
        if (index_texts(d) < 0) {
                mb_dev_free(d);
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        if (npts == 0 && !o->sunspec) {
                mb_dev_free(d);
                snprintf(errbuf, errlen, "no points to read (give a profile or points)");
                return -EINVAL;
        }
        int r = ensure_plan(d);
        if (r < 0) {
                /* name the first point that cannot be planned on its own */
                for (size_t i = 0; i < npts; i++) {
                        mb_plan pl;
                        if (mb_plan_build(pts, &i, 1, &o->plan, NULL, &pl) < 0) {
                                snprintf(errbuf, errlen, "point %s at %u does not fit in one request", pts[i].name,
                                         pts[i].reg);
                                break;
                        }
                        mb_plan_free(&pl);
                }
                mb_dev_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

void mb_dev_free(mb_dev *d) {
        if (!d)
                return;
        if (d->inflight && d->t)
                d->t->ops->cancel(d->t->impl, d->xid);
        clear_queue(d);
        free(d->q);
        mb_plan_free(&d->plan);
        free(d->psel);
        free(d->poff);
        ptab_put(d->shared);
        free(d->own);
        free(d->bounds);
        free(d->walk);
        free(d->val);
        free(d->qual);
        free(d->tslot);
        free(d->txt);
        free(d);
}

const mb_dev_stats *mb_dev_get_stats(const mb_dev *d) { return &d->st; }
const mb_plan *mb_dev_plan(const mb_dev *d) { return &d->plan; }
size_t mb_dev_npoints(const mb_dev *d) { return d->npts; }
