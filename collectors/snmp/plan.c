/* plan.c - scalar GET packing and tooBig splitting (see plan.h). Pure. */
#include <errno.h>
#include <stdlib.h>
#include "snmp/plan.h"

int snmp_plan_init(snmp_plan *p, size_t n, size_t max_vb) {
        if (max_vb < 1 || n > UINT32_MAX)
                return -EINVAL;
        snmp_range *pend = NULL;
        if (n) {
                /* Ranges are disjoint and non-empty: at most n of them. */
                pend = calloc(n, sizeof(*pend));
                if (!pend)
                        return -ENOMEM;
        }
        *p = (snmp_plan){ .n = n, .max_vb = max_vb, .pending = pend };
        return 0;
}

void snmp_plan_free(snmp_plan *p) {
        if (!p)
                return;
        free(p->pending);
        p->pending = NULL;
        p->npending = 0;
}

void snmp_plan_start(snmp_plan *p) {
        p->npending = 0;
        if (!p->n)
                return;
        /* Push in reverse so the first range is on top. */
        size_t chunks = (p->n + p->max_vb - 1) / p->max_vb;
        for (size_t c = chunks; c-- > 0;) {
                size_t start = c * p->max_vb;
                size_t count = p->n - start < p->max_vb ? p->n - start : p->max_vb;
                p->pending[p->npending++] = (snmp_range){ (uint32_t)start, (uint32_t)count };
        }
}

bool snmp_plan_next(snmp_plan *p, snmp_range *ret) {
        if (!p->npending)
                return false;
        snmp_range r = p->pending[--p->npending];
        if (r.count > p->max_vb) {
                /* Queued before max_vb was lowered: send what the agent takes. */
                p->pending[p->npending++] = (snmp_range){ r.start + (uint32_t)p->max_vb, r.count - (uint32_t)p->max_vb };
                r.count = (uint32_t)p->max_vb;
        }
        *ret = r;
        return true;
}

static void push(snmp_plan *p, uint32_t start, uint32_t count) {
        if (count && p->npending < p->n)
                p->pending[p->npending++] = (snmp_range){ start, count };
}

int snmp_plan_too_big(snmp_plan *p, snmp_range r) {
        if (r.count <= 1)
                return -E2BIG;
        uint32_t first = (r.count + 1) / 2;
        push(p, r.start + first, r.count - first);
        push(p, r.start, first);
        if (first < p->max_vb)
                p->max_vb = first;
        p->splits++;
        return 0;
}

void snmp_plan_drop(snmp_plan *p, snmp_range r, uint32_t bad) {
        if (bad >= r.count) /* a bogus error-index: nothing identifiable to drop */
                return;
        push(p, r.start + bad + 1, r.count - bad - 1);
        push(p, r.start, bad);
}

size_t snmp_plan_requests(const snmp_plan *p) {
        return p->n ? (p->n + p->max_vb - 1) / p->max_vb : 0;
}
