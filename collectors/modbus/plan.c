/* plan.c - Modbus request planning: points to the fewest read requests.
 *
 * Points are merged per function code (a device is one unit id) into
 * requests that are contiguous or carry gaps of at most max_gap unused
 * registers, never longer than 125 registers / 2000 bits or the device's own
 * cap. A point and its SunSpec scale-factor register (its "footprint") always
 * land in the same request. When a merged request fails with a Modbus
 * exception, mb_plan_split remembers a boundary near its middle, so the
 * replanned halves are retried and one bad address ends up costing only its
 * own points, in this poll and every later one. Pure: no I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "modbus/mb.h"

typedef struct item {
        size_t pos;       /* index into sel[] */
        uint8_t fc;
        uint32_t s, e;    /* footprint [s, e) */
} item;

static int item_cmp(const void *a, const void *b) {
        const item *x = a, *y = b;
        if (x->fc != y->fc)
                return x->fc < y->fc ? -1 : 1;
        if (x->s != y->s)
                return x->s < y->s ? -1 : 1;
        if (x->e != y->e)
                return x->e < y->e ? -1 : 1;
        return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

static size_t bounds_lower(const mb_bounds *b, uint32_t key) {
        size_t lo = 0, hi = b->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (b->key[mid] < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

bool mb_bounds_has(const mb_bounds *b, uint8_t fc, uint32_t reg) {
        uint32_t key = ((uint32_t)fc << 16) | (reg & 0xffffu);
        size_t i = bounds_lower(b, key);
        return i < b->n && b->key[i] == key;
}

/* Add a boundary. 0 (also when already known), -ENOSPC when full (counted). */
int mb_bounds_add(mb_bounds *b, uint8_t fc, uint32_t reg) {
        uint32_t key = ((uint32_t)fc << 16) | (reg & 0xffffu);
        size_t i = bounds_lower(b, key);
        if (i < b->n && b->key[i] == key)
                return 0;
        if (b->n >= MB_MAX_BOUNDS) {
                b->dropped++;
                return -ENOSPC;
        }
        memmove(&b->key[i + 1], &b->key[i], (b->n - i) * sizeof b->key[0]);
        b->key[i] = key;
        b->n++;
        return 0;
}

/* Is there a boundary b with lo < b <= hi for this fc? */
static bool bound_between(const mb_bounds *b, uint8_t fc, uint32_t lo, uint32_t hi) {
        if (!b || hi <= lo)
                return false;
        uint32_t k = ((uint32_t)fc << 16) | ((lo + 1) & 0xffffu);
        if (lo + 1 > 0xffffu)
                return false;
        size_t i = bounds_lower(b, k);
        return i < b->n && b->key[i] <= (((uint32_t)fc << 16) | (hi & 0xffffu));
}

static unsigned cap_of(uint8_t fc, const mb_plan_opts *o) {
        unsigned regs = o->max_regs ? o->max_regs : MB_MAX_REGS;
        unsigned bits = o->max_bits ? o->max_bits : MB_MAX_BITS;
        if (regs > MB_MAX_REGS)
                regs = MB_MAX_REGS;
        if (bits > MB_MAX_BITS)
                bits = MB_MAX_BITS;
        return (fc == MB_FC_COIL || fc == MB_FC_DISCRETE) ? bits : regs;
}

int mb_plan_build(const mb_point *pts, const size_t *sel, size_t nsel, const mb_plan_opts *opts,
                  const mb_bounds *bounds, mb_plan *ret) {
        item *it = NULL;
        mb_request *reqs = NULL;
        size_t *point_req = NULL, n = 0;
        int r = -ENOMEM;

        if (!pts || !opts || !ret || (nsel && !sel))
                return -EINVAL;
        if (nsel == 0) {
                *ret = (mb_plan){ 0 };
                return 0;
        }
        it = calloc(nsel, sizeof *it);
        reqs = calloc(nsel, sizeof *reqs);
        point_req = calloc(nsel, sizeof *point_req);
        if (!it || !reqs || !point_req)
                goto fail;
        for (size_t i = 0; i < nsel; i++) {
                const mb_point *p = &pts[sel[i]];
                it[i].pos = i;
                it[i].fc = p->fc;
                mb_point_span(p, &it[i].s, &it[i].e);
                if (p->fc < MB_FC_COIL || p->fc > MB_FC_INPUT || it[i].e > 0x10000u ||
                    it[i].e - it[i].s > cap_of(p->fc, opts)) {
                        r = -EINVAL;
                        goto fail;
                }
        }
        qsort(it, nsel, sizeof *it, item_cmp);

        uint32_t cs = 0, ce = 0;
        uint8_t cfc = 0;
        for (size_t i = 0; i < nsel; i++) {
                const item *x = &it[i];
                bool join = false;
                if (n > 0 && x->fc == cfc) {
                        uint32_t end = x->e > ce ? x->e : ce;
                        uint32_t gap = x->s > ce ? x->s - ce : 0;
                        join = gap <= opts->max_gap && end - cs <= cap_of(cfc, opts) &&
                               !bound_between(bounds, cfc, cs, x->s);
                }
                if (join) {
                        if (x->e > ce)
                                ce = x->e;
                } else {
                        if (n > 0)
                                reqs[n - 1].count = (uint16_t)(ce - cs);
                        cfc = x->fc;
                        cs = x->s;
                        ce = x->e;
                        reqs[n].fc = cfc;
                        reqs[n].start = (uint16_t)cs;
                        n++;
                }
                point_req[x->pos] = n - 1;
        }
        reqs[n - 1].count = (uint16_t)(ce - cs);
        free(it);
        *ret = (mb_plan){ .reqs = reqs, .n = n, .point_req = point_req, .npoints = nsel };
        return 0;
fail:
        free(it);
        free(reqs);
        free(point_req);
        return r;
}

void mb_plan_free(mb_plan *p) {
        if (!p)
                return;
        free(p->reqs);
        free(p->point_req);
        *p = (mb_plan){ 0 };
}

/* Splitting prefers a point that follows a hole (registers no point reads):
 * holes are what devices refuse most (a map with undefined registers), so
 * halving at holes converges to "one request per contiguous run" on such
 * devices. Among the points that follow a hole, the median one wins: the
 * boundary halves the suspect holes (a bisection over them, so a bad hole
 * among h is isolated in about log2(h) steps, and holes the device does
 * answer are less often made boundaries than when splitting at the middle
 * address, which can land right after a harmless hole). Without holes, the
 * point starting nearest the middle of the request wins (a bad register is
 * then isolated in about log2(n) steps). */
int mb_plan_split(const mb_point *pts, const size_t *sel, size_t nsel, mb_bounds *bounds) {
        item *it;
        uint8_t fc;
        if (nsel == 0)
                return 0;
        it = calloc(nsel, sizeof *it);
        if (!it)
                return -ENOMEM;
        for (size_t i = 0; i < nsel; i++) {
                it[i].pos = i;
                it[i].fc = pts[sel[i]].fc;
                mb_point_span(&pts[sel[i]], &it[i].s, &it[i].e);
        }
        fc = it[0].fc;
        qsort(it, nsel, sizeof *it, item_cmp);
        uint32_t lo = it[0].s, hi = 0;
        for (size_t i = 0; i < nsel; i++)
                if (it[i].e > hi)
                        hi = it[i].e;
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t best = 0, bestd = UINT32_MAX; /* nearest the middle, any point */
        size_t nholes = 0;                      /* points after a hole: their starts, in it[].s order */
        uint32_t covered = it[0].e;
        for (size_t i = 1; i < nsel; i++) {
                uint32_t s = it[i].s;
                if (s != lo) {
                        uint32_t d = s > mid ? s - mid : mid - s;
                        if (s > covered)
                                it[nholes++].s = s; /* it[nholes] is read already (nholes <= i - 1) */
                        if (d < bestd) {
                                bestd = d;
                                best = s;
                        }
                }
                if (it[i].e > covered)
                        covered = it[i].e;
        }
        if (nholes > 0)
                best = it[(nholes - 1) / 2].s;
        free(it);
        if (nholes == 0 && bestd == UINT32_MAX)
                return 0; /* every point starts at lo: nothing to split */
        int r = mb_bounds_add(bounds, fc, best);
        return r < 0 ? r : 1;
}
