/* model.c - compiled points and the evaluation of a poll (model.h). Pure.
 *
 * Memory: an OID is 260 bytes (soid), and a point names up to eight of them
 * (plus selects and fallbacks). Each distinct OID is stored once, in the
 * model's sorted scalar or column list (what a poll fetches anyway); points
 * refer to it by pointer (oref), so a point costs about 150 bytes, not 2 kB. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "snmp/model.h"

#define SNMP_COUNTERS_MAX 4096

/* An OID of a point: while building, its place in the scalar or column list
 * plus one (0: none); once built, a pointer into the sorted list (NULL:
 * none). */
typedef union oref {
        size_t i;
        const soid *p;
} oref;

/* A compiled row condition (snmp_select_conf). */
typedef struct msel {
        bool has_col, has_via;
        oref col, via;       /* columns */
} msel;

typedef struct mpoint {
        const snmp_point_conf *c;
        bool has_oid, is_table, has_digits_oid, has_digits_col, has_divisor_col, has_range;
        bool has_si_col, has_prec_col, has_status_col;
        oref oid, digits_oid;  /* scalars */
        oref column, digits_col, divisor_col, si_col, prec_col, status_col; /* columns */
        msel *sel, *any;   /* per select / select_any */
        double *invalid;
        size_t ninvalid;
        double rmin, rmax;
        oref *fb;          /* per fallback (scalars) */
} mpoint;

typedef struct counter_slot {
        char name[DCEM_NAME_MAX];
        snmp_counter c;
} counter_slot;

typedef struct emitted {
        char name[DCEM_NAME_MAX];
        double v;
        dcem_quality q;
} emitted;

struct snmp_model {
        mpoint *p;
        size_t n;
        soid *scalars, *columns;
        size_t nscalars, ncolumns;
        counter_slot *ctr;
        size_t nctr, ctr_alloc;
        emitted *em;       /* scratch of one evaluation, read by sum_of points */
        bool sums;         /* some point has sum_of: record what is emitted */
        size_t nem, em_alloc;
};

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...) {
        if (!err || !len)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
}

/* Add o to the list unless there; *ret_at: its place. 0 or -ENOMEM. */
static int oid_list_add(soid **list, size_t *n, const soid *o, size_t *ret_at) {
        for (size_t i = 0; i < *n; i++)
                if (soid_cmp(&(*list)[i], o) == 0) {
                        *ret_at = i;
                        return 0;
                }
        soid *nl = realloc(*list, (*n + 1) * sizeof(soid));
        if (!nl)
                return -ENOMEM;
        nl[*n] = *o;
        *ret_at = (*n)++;
        *list = nl;
        return 0;
}

static int cmp_soid(const void *a, const void *b) {
        return soid_cmp(a, b);
}

static int parse_range(const char *s, double *lo, double *hi) {
        const char *dots = strstr(s, "..");
        if (!dots || dots - s > 40)
                return -EINVAL;
        char a[48];
        memcpy(a, s, (size_t)(dots - s));
        a[dots - s] = 0;
        if (snmp_parse_decimal(a, lo) < 0 || snmp_parse_decimal(dots + 2, hi) < 0 || *lo > *hi)
                return -EINVAL;
        return 0;
}

void snmp_model_free(snmp_model *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++) {
                free(m->p[i].sel);
                free(m->p[i].any);
                free(m->p[i].invalid);
                free(m->p[i].fb);
        }
        free(m->p);
        free(m->scalars);
        free(m->columns);
        free(m->ctr);
        free(m->em);
        free(m);
}

static int parse_oid_opt(const char *s, soid *o, bool *has, const char *pname, const char *what, char *err, size_t len) {
        *has = false;
        if (!s || !*s)
                return 0;
        if (soid_parse(s, o) < 0) {
                seterr(err, len, "point %s: %s \"%.80s\" is not a numeric OID", pname, what, s);
                return -EINVAL;
        }
        *has = true;
        return 0;
}

/* Parse the optional OID s (pname's what) and add it to the list (the
 * model's scalars or columns); *ret its place there (see oref), *has
 * whether there is one. 0, -EINVAL with the reason in err, -ENOMEM. */
static int opt_oid(soid **list, size_t *n, const char *s, oref *ret, bool *has, const char *pname, const char *what,
                   char *err, size_t len) {
        soid o;
        size_t at;
        ret->i = 0;
        if (parse_oid_opt(s, &o, has, pname, what, err, len) < 0)
                return -EINVAL;
        if (!*has)
                return 0;
        if (oid_list_add(list, n, &o, &at) < 0)
                return -ENOMEM;
        ret->i = at + 1;
        return 0;
}

/* Compile n row conditions into *ret (allocated); their columns join the walk. */
static int build_select(snmp_model *m, const snmp_select_conf *sel, size_t n, msel **ret, const char *nm,
                        const char *key, char *err, size_t len) {
        if (!n)
                return 0;
        msel *ms = calloc(n, sizeof(msel));
        if (!ms)
                return -ENOMEM;
        *ret = ms;
        for (size_t i = 0; i < n; i++) {
                int r = opt_oid(&m->columns, &m->ncolumns, sel[i].column, &ms[i].col, &ms[i].has_col, nm, key,
                                err, len);
                if (r == 0)
                        r = opt_oid(&m->columns, &m->ncolumns, sel[i].via, &ms[i].via, &ms[i].has_via, nm, key, err,
                                    len);
                if (r < 0)
                        return r;
                if (ms[i].has_col == (sel[i].index > 0)) {
                        seterr(err, len, "point %s: each %s needs one of column and index", nm, key);
                        return -EINVAL;
                }
                if (ms[i].has_via && !ms[i].has_col) {
                        seterr(err, len, "point %s: %s via needs a column to read in the other row", nm, key);
                        return -EINVAL;
                }
                if (!sel[i].equals == !sel[i].one_of.n) {
                        seterr(err, len, "point %s: each %s needs one of equals and one_of", nm, key);
                        return -EINVAL;
                }
        }
        return 0;
}

static int build_point(snmp_model *m, mpoint *p, const snmp_point_conf *c, char *err, size_t len) {
        const char *nm = c->name ? c->name : "?";
        bool has_col = false;
        p->c = c;
        soid **sl = &m->scalars, **cl = &m->columns;
        size_t *sn = &m->nscalars, *cn = &m->ncolumns;
        int e = opt_oid(sl, sn, c->oid, &p->oid, &p->has_oid, nm, "oid", err, len);
        if (e == 0)
                e = opt_oid(cl, cn, c->column, &p->column, &has_col, nm, "column", err, len);
        if (e == 0)
                e = opt_oid(sl, sn, c->digits_oid, &p->digits_oid, &p->has_digits_oid, nm, "digits_oid", err, len);
        if (e == 0)
                e = opt_oid(cl, cn, c->digits_column, &p->digits_col, &p->has_digits_col, nm, "digits_column", err,
                            len);
        if (e == 0)
                e = opt_oid(cl, cn, c->divisor_column, &p->divisor_col, &p->has_divisor_col, nm, "divisor_column",
                            err, len);
        if (e == 0)
                e = opt_oid(cl, cn, c->si_scale_column, &p->si_col, &p->has_si_col, nm, "si_scale_column", err, len);
        if (e == 0)
                e = opt_oid(cl, cn, c->precision_column, &p->prec_col, &p->has_prec_col, nm, "precision_column", err,
                            len);
        if (e == 0)
                e = opt_oid(cl, cn, c->status_column, &p->status_col, &p->has_status_col, nm, "status_column", err,
                            len);
        if (e < 0)
                return e;
        p->is_table = has_col;
        bool has_sum = c->sum_of && *c->sum_of;
        if (p->has_oid + has_col != 1 && !(has_sum && !has_col)) {
                seterr(err, len, "point %s: give exactly one of oid and column (or sum_of alone)", nm);
                return -EINVAL;
        }
        if (has_col && has_sum) {
                seterr(err, len, "point %s: sum_of goes with a scalar oid or alone, not with a column", nm);
                return -EINVAL;
        }
        if (!has_col && (p->has_digits_col || p->has_divisor_col || p->has_si_col || p->has_prec_col ||
                         p->has_status_col || c->select.n || c->select_any.n)) {
                seterr(err, len,
                       "point %s: digits_column, divisor_column, si_scale_column, precision_column, status_column, "
                       "select and select_any need a column", nm);
                return -EINVAL;
        }
        if (p->has_status_col != (c->status_ok.n > 0)) {
                seterr(err, len, "point %s: status_column and status_ok go together", nm);
                return -EINVAL;
        }
        if (!has_col && strchr(nm, '{')) {
                seterr(err, len, "point %s: {i1}-style names need a column", nm);
                return -EINVAL;
        }
        if (has_col) {
                soid zero = { .n = 9, .a = { 1, 1, 1, 1, 1, 1, 1, 1, 1 } };
                char tmp[DCEM_NAME_MAX];
                if (snmp_expand_name(nm, &zero, tmp, sizeof(tmp)) < 0) {
                        seterr(err, len, "point %s: bad {...} in the name (use {i1}..{i9} or {index})", nm);
                        return -EINVAL;
                }
        }
        if (strlen(nm) >= DCEM_NAME_MAX || !*nm) {
                seterr(err, len, "point %.70s: the name must be 1..%d characters", nm, DCEM_NAME_MAX - 1);
                return -EINVAL;
        }
        if (c->unit && strlen(c->unit) >= DCEM_UNIT_MAX) {
                seterr(err, len, "point %s: unit longer than %d characters", nm, DCEM_UNIT_MAX - 1);
                return -EINVAL;
        }
        if (!isfinite(c->scale) || c->scale == 0) {
                seterr(err, len, "point %s: scale must be a non-zero number", nm);
                return -EINVAL;
        }
        if (c->range && *c->range) {
                if (parse_range(c->range, &p->rmin, &p->rmax) < 0) {
                        seterr(err, len, "point %s: range \"%.40s\" is not MIN..MAX", nm, c->range);
                        return -EINVAL;
                }
                p->has_range = true;
        }
        if (c->invalid.n) {
                p->invalid = calloc(c->invalid.n, sizeof(double));
                if (!p->invalid)
                        return -ENOMEM;
                for (size_t i = 0; i < c->invalid.n; i++)
                        if (snmp_parse_decimal(c->invalid.items[i], &p->invalid[i]) < 0) {
                                seterr(err, len, "point %s: invalid value \"%.40s\" is not a number", nm,
                                       c->invalid.items[i]);
                                return -EINVAL;
                        }
                p->ninvalid = c->invalid.n;
        }
        int r = build_select(m, c->select.items, c->select.n, &p->sel, nm, "select", err, len);
        if (r == 0)
                r = build_select(m, c->select_any.items, c->select_any.n, &p->any, nm, "select_any", err, len);
        if (r < 0)
                return r;
        if (c->fallback.n) {
                if (!p->has_oid) {
                        seterr(err, len, "point %s: fallback needs a scalar oid", nm);
                        return -EINVAL;
                }
                p->fb = calloc(c->fallback.n, sizeof(oref));
                if (!p->fb)
                        return -ENOMEM;
                const snmp_fallback_conf *fb = c->fallback.items;
                for (size_t i = 0; i < c->fallback.n; i++) {
                        bool has = false;
                        r = opt_oid(sl, sn, fb[i].oid, &p->fb[i], &has, nm, "fallback oid", err, len);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* An oref's place (list as built, before sorting) into a pointer into the
 * sorted list. */
static void resolve(oref *r, const soid *built, const soid *sorted, size_t n) {
        r->p = r->i ? bsearch(&built[r->i - 1], sorted, n, sizeof(soid), cmp_soid) : NULL;
}

/* Sort the scalar and column lists and point every oref into them. 0 or
 * -ENOMEM. */
static int finish_oids(snmp_model *m) {
        size_t ns = m->nscalars, nc = m->ncolumns;
        soid *bs = ns ? malloc(ns * sizeof(soid)) : NULL;
        soid *bc = nc ? malloc(nc * sizeof(soid)) : NULL;
        if ((ns && !bs) || (nc && !bc)) {
                free(bs);
                free(bc);
                return -ENOMEM;
        }
        if (ns) {
                memcpy(bs, m->scalars, ns * sizeof(soid));
                qsort(m->scalars, ns, sizeof(soid), cmp_soid);
        }
        if (nc) {
                memcpy(bc, m->columns, nc * sizeof(soid));
                qsort(m->columns, nc, sizeof(soid), cmp_soid);
        }
        for (size_t i = 0; i < m->n; i++) {
                mpoint *p = &m->p[i];
                const snmp_point_conf *c = p->c;
                resolve(&p->oid, bs, m->scalars, ns);
                resolve(&p->digits_oid, bs, m->scalars, ns);
                for (size_t k = 0; p->fb && k < c->fallback.n; k++)
                        resolve(&p->fb[k], bs, m->scalars, ns);
                oref *cols[] = { &p->column, &p->digits_col, &p->divisor_col, &p->si_col, &p->prec_col,
                                 &p->status_col };
                for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
                        resolve(cols[k], bc, m->columns, nc);
                for (size_t k = 0; p->sel && k < c->select.n; k++) {
                        resolve(&p->sel[k].col, bc, m->columns, nc);
                        resolve(&p->sel[k].via, bc, m->columns, nc);
                }
                for (size_t k = 0; p->any && k < c->select_any.n; k++) {
                        resolve(&p->any[k].col, bc, m->columns, nc);
                        resolve(&p->any[k].via, bc, m->columns, nc);
                }
        }
        free(bs);
        free(bc);
        return 0;
}

int snmp_model_build(const snmp_point_conf *const *points, size_t n, snmp_model **ret, char *err, size_t errlen) {
        snmp_model *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        if (n) {
                m->p = calloc(n, sizeof(mpoint));
                if (!m->p) {
                        free(m);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < n; i++) {
                m->n = i + 1;
                for (size_t j = 0; j < i; j++)
                        if (points[j]->name && points[i]->name && strcmp(points[j]->name, points[i]->name) == 0) {
                                seterr(err, errlen, "point %s is defined twice", points[i]->name);
                                snmp_model_free(m);
                                return -EINVAL;
                        }
                int r = build_point(m, &m->p[i], points[i], err, errlen);
                if (r < 0) {
                        snmp_model_free(m);
                        return r;
                }
        }
        for (size_t i = 0; i < n; i++)
                m->sums |= points[i]->sum_of && *points[i]->sum_of;
        if (finish_oids(m) < 0) {
                snmp_model_free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

const soid *snmp_model_scalars(const snmp_model *m, size_t *ret_n) {
        *ret_n = m->nscalars;
        return m->scalars;
}

const soid *snmp_model_columns(const snmp_model *m, size_t *ret_n) {
        *ret_n = m->ncolumns;
        return m->columns;
}

int snmp_expand_name(const char *tmpl, const soid *index, char *buf, size_t len) {
        size_t o = 0;
        for (const char *s = tmpl; *s;) {
                char piece[SNMP_OID_TEXT_MAX];
                const char *add = NULL;
                size_t addlen = 0;
                if (*s == '{') {
                        const char *e = strchr(s, '}');
                        if (!e)
                                return -EINVAL;
                        size_t k = (size_t)(e - s - 1);
                        if (k == 5 && strncmp(s + 1, "index", 5) == 0) {
                                soid_format(index, piece, sizeof(piece));
                        } else if (k == 2 && s[1] == 'i' && s[2] >= '1' && s[2] <= '9') {
                                uint32_t pos = (uint32_t)(s[2] - '1');
                                if (pos >= index->n)
                                        return -EINVAL;
                                soid_u32_text(index->a[pos], piece);
                        } else
                                return -EINVAL;
                        add = piece;
                        addlen = strlen(piece);
                        s = e + 1;
                } else {
                        /* A literal run up to the next '{', copied at once. */
                        const char *e = strchr(s, '{');
                        add = s;
                        addlen = e ? (size_t)(e - s) : strlen(s);
                        s += addlen;
                }
                if (o + addlen >= len)
                        return -ENAMETOOLONG;
                memcpy(buf + o, add, addlen);
                o += addlen;
        }
        if (!len)
                return -ENAMETOOLONG;
        buf[o] = 0;
        return 0;
}

static snmp_counter *counter_for(snmp_model *m, const char *name) {
        for (size_t i = 0; i < m->nctr; i++)
                if (strcmp(m->ctr[i].name, name) == 0)
                        return &m->ctr[i].c;
        if (m->nctr >= SNMP_COUNTERS_MAX)
                return NULL;
        if (m->nctr == m->ctr_alloc) {
                size_t na = m->ctr_alloc ? m->ctr_alloc * 2 : 16;
                counter_slot *nc = realloc(m->ctr, na * sizeof(*nc));
                if (!nc)
                        return NULL;
                m->ctr = nc;
                m->ctr_alloc = na;
        }
        counter_slot *s = &m->ctr[m->nctr++];
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", name);
        return &s->c;
}

static bool type_ok(snmp_vtype want, const sval *v) {
        switch (want) {
        case SNMP_VT_AUTO:
                return true;
        case SNMP_VT_INTEGER:
                return v->t == SV_INTEGER;
        case SNMP_VT_UNSIGNED:
                return v->t == SV_UNSIGNED;
        case SNMP_VT_COUNTER32:
                return v->t == SV_COUNTER32;
        case SNMP_VT_COUNTER64:
                return v->t == SV_COUNTER64;
        case SNMP_VT_FLOAT:
                return v->t == SV_FLOAT;
        case SNMP_VT_STRING:
                return v->t == SV_STRING;
        }
        return false;
}

/* Why a value failed: absent (the object is not there: optional points skip)
 * or bad (there, but unusable). */
typedef enum { V_OK, V_ABSENT, V_BAD } vstate;

/* raw value v of point p, divided by div, to *ret. */
static vstate compute(snmp_model *m, const mpoint *p, const char *name, const sval *v, double div, double *ret,
                      const char **why) {
        if (!v || v->t == SV_NONE) {
                *why = "no answer";
                return V_ABSENT;
        }
        if (v->t == SV_NOSUCHOBJECT || v->t == SV_NOSUCHINSTANCE || v->t == SV_NULL || v->t == SV_ENDOFMIBVIEW) {
                double dummy;
                (void)snmp_value_number(v, &dummy, why);
                return V_ABSENT;
        }
        if (!type_ok((snmp_vtype)p->c->type, v)) {
                *why = "the object has the wrong SNMP type";
                return V_BAD;
        }
        double raw;
        if (snmp_value_number(v, &raw, why) < 0)
                return V_BAD;
        for (size_t i = 0; i < p->ninvalid; i++)
                if (raw == p->invalid[i]) {
                        *why = "the device reports \"not available\"";
                        return V_BAD;
                }
        if (p->c->kind == DCEM_KIND_COUNTER && v->t != SV_FLOAT) {
                unsigned width = p->c->width ? (unsigned)p->c->width : snmp_value_width(v);
                if (width && raw >= 0) {
                        snmp_counter *c = counter_for(m, name);
                        if (c) {
                                uint64_t ext;
                                uint64_t r64 = v->t == SV_INTEGER ? (uint64_t)v->i : v->u;
                                (void)snmp_counter_update(c, r64, width, &ext);
                                raw = (double)ext;
                        }
                }
        }
        if (!(div > 0) || !isfinite(div)) {
                *why = "the device's divisor is zero or not a number";
                return V_BAD;
        }
        double x = raw * p->c->scale / div;
        if (!isfinite(x)) {
                *why = "the value is not finite";
                return V_BAD;
        }
        if (p->has_range && (x < p->rmin || x > p->rmax)) {
                *why = "the value is out of its plausible range";
                return V_BAD;
        }
        *ret = x;
        return V_OK;
}

static int record(snmp_model *m, const char *name, double v, dcem_quality q) {
        if (m->nem == m->em_alloc) {
                size_t na = m->em_alloc ? m->em_alloc * 2 : 32;
                if (na > DCEM_BATCH_MAX)
                        na = DCEM_BATCH_MAX;
                if (m->nem >= na)
                        return -E2BIG;
                emitted *ne = realloc(m->em, na * sizeof(*ne));
                if (!ne)
                        return -ENOMEM;
                m->em = ne;
                m->em_alloc = na;
        }
        emitted *e = &m->em[m->nem++];
        size_t n = strnlen(name, sizeof(e->name) - 1);
        memcpy(e->name, name, n);
        e->name[n] = 0;
        e->v = v;
        e->q = q;
        return 0;
}

typedef struct evalctx {
        snmp_model *m;
        snmp_emit_fn emit;
        void *ud;
        int failed;
        char *err;
        size_t errlen;
} evalctx;

static int out(evalctx *x, const mpoint *p, const char *name, double v, dcem_quality q, const char *why) {
        if (q == DCEM_Q_ERROR) {
                v = NAN;
                if (x->failed++ == 0)
                        seterr(x->err, x->errlen, "point %s: %s", name, why ? why : "error");
        }
        int r = x->emit(x->ud, name, v, p->c->unit, q, (dcem_kind)p->c->kind);
        if (r < 0)
                return r;
        return x->m->sums ? record(x->m, name, v, q) : 0; /* only sum_of reads the record */
}

/* The value of column col in row index, or NULL. */
static const sval *cell(const vb_store *st, const soid *col, const soid *index) {
        soid o;
        if (soid_join(col, index, &o) < 0)
                return NULL;
        return vb_store_get(st, &o);
}

/* Does row index meet condition sel (compiled as ms)? */
static bool cond_holds(const snmp_select_conf *sel, const msel *ms, const vb_store *st, const soid *index) {
        char text[SNMP_STR_MAX];
        if (sel->index > 0) {
                if ((uint64_t)sel->index > index->n)
                        return false;
                snprintf(text, sizeof(text), "%u", (unsigned)index->a[sel->index - 1]);
        } else {
                soid other = *index;
                if (ms->has_via) {
                        /* The via column holds the index of the row to read
                         * (one sub-identifier; 0 means "none"). */
                        const sval *ptr = cell(st, ms->via.p, index);
                        double x;
                        const char *why;
                        if (!ptr || snmp_value_number(ptr, &x, &why) < 0 || !(x >= 1) || x > 4294967295.0 ||
                            x != floor(x))
                                return false;
                        other = (soid){ .n = 1, .a = { (uint32_t)x } };
                }
                const sval *v = cell(st, ms->col.p, &other);
                if (!v || sval_is_exception(v))
                        return false;
                snmp_value_text(v, text, sizeof(text));
        }
        if (sel->equals)
                return strcmp(text, sel->equals) == 0;
        for (size_t i = 0; i < sel->one_of.n; i++)
                if (strcmp(text, sel->one_of.items[i]) == 0)
                        return true;
        return false;
}

static bool row_selected(const mpoint *p, const vb_store *st, const soid *index) {
        const snmp_select_conf *sel = p->c->select.items;
        for (size_t i = 0; i < p->c->select.n; i++)
                if (!cond_holds(&sel[i], &p->sel[i], st, index))
                        return false;
        const snmp_select_conf *any = p->c->select_any.items;
        for (size_t i = 0; i < p->c->select_any.n; i++)
                if (cond_holds(&any[i], &p->any[i], st, index))
                        return true;
        return p->c->select_any.n == 0;
}

/* The row's status (status_column): V_OK when absent or one of status_ok,
 * V_BAD with the reason in buf otherwise. */
static vstate row_status(const mpoint *p, const vb_store *st, const soid *index, char *buf, size_t len,
                         const char **why) {
        if (!p->has_status_col)
                return V_OK;
        const sval *v = cell(st, p->status_col.p, index);
        if (!v || sval_is_exception(v))
                return V_OK; /* no status for this row: not checked */
        char text[SNMP_STR_MAX];
        snmp_value_text(v, text, sizeof(text));
        for (size_t i = 0; i < p->c->status_ok.n; i++)
                if (strcmp(text, p->c->status_ok.items[i]) == 0)
                        return V_OK;
        snprintf(buf, len, "the device reports status %.20s for this row (not ok)", text);
        *why = buf;
        return V_BAD;
}

/* An integer from column col in row index within [lo, hi], or false. */
static bool int_cell(const vb_store *st, const soid *col, const soid *index, double lo, double hi, double *ret) {
        const sval *v = cell(st, col, index);
        double x;
        const char *why;
        if (!v || snmp_value_number(v, &x, &why) < 0 || x < lo || x > hi || x != floor(x))
                return false;
        *ret = x;
        return true;
}

static vstate divisor_of(const vb_store *st, const mpoint *p, const soid *index, double *ret, const char **why) {
        double div = 1;
        if (p->has_digits_oid || p->has_digits_col) {
                soid j;
                const soid *o = p->digits_oid.p;
                if (p->has_digits_col) {
                        if (soid_join(p->digits_col.p, index, &j) < 0)
                                return V_BAD;
                        o = &j;
                }
                const sval *d = vb_store_get(st, o);
                double digits;
                if (!d || snmp_value_number(d, &digits, why) < 0 || digits < 0 || digits > 9 ||
                    digits != floor(digits)) {
                        *why = "the device did not give usable decimal digits";
                        return V_BAD;
                }
                div = pow(10, digits);
        }
        if (p->has_divisor_col) {
                soid o;
                if (soid_join(p->divisor_col.p, index, &o) < 0)
                        return V_BAD;
                const sval *d = vb_store_get(st, &o);
                double dv;
                if (!d || snmp_value_number(d, &dv, why) < 0 || !(dv > 0)) {
                        *why = "the device did not give a usable divisor";
                        return V_BAD;
                }
                div *= dv;
        }
        if (p->has_si_col) {
                /* RFC 3433 EntitySensorDataScale: yocto(1) .. units(9) .. yotta(17),
                 * a factor of 10^(3 (prefix - 9)), so divide by 10^(3 (9 - prefix)). */
                double prefix;
                if (!int_cell(st, p->si_col.p, index, 1, 17, &prefix)) {
                        *why = "the device did not give a usable SI scale (1..17)";
                        return V_BAD;
                }
                div *= pow(10, 3 * (9 - prefix));
        }
        if (p->has_prec_col) {
                /* RFC 3433 EntitySensorPrecision: 1..9 are decimal places of
                 * a fixed-point value; 0 (an integer) and -8..-1 (the number
                 * of accurate digits) leave the value as it is. */
                double prec;
                if (!int_cell(st, p->prec_col.p, index, -8, 9, &prec)) {
                        *why = "the device did not give a usable precision (-8..9)";
                        return V_BAD;
                }
                if (prec > 0)
                        div *= pow(10, prec);
        }
        *ret = div;
        return V_OK;
}

static int eval_table(evalctx *x, const mpoint *p, const vb_store *st) {
        size_t rows = 0;
        const char *why = NULL;
        vstate worst = V_OK;
        const soid *col = p->column.p;
        for (size_t i = vb_store_lower_bound(st, col); i < st->n && soid_has_prefix(&st->e[i].oid, col); i++) {
                const snmp_entry *e = &st->e[i];
                if (e->oid.n == col->n)
                        continue;
                soid index = { .n = e->oid.n - col->n };
                memcpy(index.a, e->oid.a + col->n, index.n * sizeof(uint32_t));
                if (!row_selected(p, st, &index))
                        continue;
                char name[DCEM_NAME_MAX];
                if (snmp_expand_name(p->c->name, &index, name, sizeof(name)) < 0)
                        continue;
                rows++;
                double div = 1, v = 0;
                char whybuf[96];
                vstate s = row_status(p, st, &index, whybuf, sizeof(whybuf), &why);
                if (s == V_OK)
                        s = divisor_of(st, p, &index, &div, &why);
                if (s == V_OK)
                        s = compute(x->m, p, name, &e->val, div, &v, &why);
                if (s == V_ABSENT && p->c->optional)
                        continue;
                int r = out(x, p, name, v, s == V_OK ? DCEM_Q_GOOD : DCEM_Q_ERROR, why);
                if (r < 0)
                        return r;
                if (s != V_OK)
                        worst = s;
                if (!strchr(p->c->name, '{'))
                        break; /* a fixed name: the first matching row */
        }
        (void)worst;
        if (!rows && !p->c->optional && x->failed++ == 0)
                seterr(x->err, x->errlen, "point %s: no row of the table answered", p->c->name);
        return 0;
}

static vstate sum_of(evalctx *x, const mpoint *p, double *ret, dcem_quality *ret_q, const char **why) {
        const char *pre = p->c->sum_of;
        size_t plen = strlen(pre), parts = 0;
        double sum = 0;
        dcem_quality q = DCEM_Q_GOOD;
        for (size_t i = 0; i < x->m->nem; i++) {
                const emitted *e = &x->m->em[i];
                if (strncmp(e->name, pre, plen) != 0 || strcmp(e->name, p->c->name) == 0)
                        continue;
                parts++;
                if (e->q == DCEM_Q_ERROR) {
                        *why = "a part of the sum failed";
                        return V_BAD;
                }
                if (e->q == DCEM_Q_ESTIMATED)
                        q = DCEM_Q_ESTIMATED;
                sum += e->v;
        }
        if (!parts) {
                *why = "nothing to add up";
                return V_ABSENT;
        }
        *ret = sum;
        *ret_q = q;
        return V_OK;
}

static int eval_scalar(evalctx *x, const mpoint *p, const vb_store *st, double rated_kw) {
        const char *why = "no value";
        double v = 0;
        vstate s = V_ABSENT;
        dcem_quality q = DCEM_Q_GOOD;
        if (p->has_oid) {
                double div = 1;
                soid none = { 0 };
                s = divisor_of(st, p, &none, &div, &why);
                if (s == V_OK)
                        s = compute(x->m, p, p->c->name, vb_store_get(st, p->oid.p), div, &v, &why);
        }
        const snmp_fallback_conf *fb = p->c->fallback.items;
        for (size_t i = 0; s != V_OK && i < p->c->fallback.n; i++) {
                const sval *fv = vb_store_get(st, p->fb[i].p);
                double raw;
                if (!fv || snmp_value_number(fv, &raw, &why) < 0)
                        continue;
                bool bad = false;
                for (size_t k = 0; k < p->ninvalid; k++)
                        bad |= raw == p->invalid[k];
                if (bad)
                        continue;
                double f = raw * fb[i].scale;
                if (fb[i].times_rated_kw) {
                        if (!(rated_kw > 0)) {
                                why = "the fallback needs the device's rated_kw";
                                continue;
                        }
                        f *= rated_kw;
                        q = DCEM_Q_ESTIMATED;
                }
                if (p->has_range && (f < p->rmin || f > p->rmax)) {
                        why = "the value is out of its plausible range";
                        continue;
                }
                v = f;
                s = V_OK;
        }
        if (s != V_OK && p->c->sum_of && *p->c->sum_of) {
                const char *swhy = why;
                vstate ss = sum_of(x, p, &v, &q, &swhy);
                if (ss == V_OK || !p->has_oid) {
                        s = ss;
                        why = swhy;
                }
        }
        if (s == V_ABSENT && p->c->optional)
                return 0;
        return out(x, p, p->c->name, v, s == V_OK ? q : DCEM_Q_ERROR, why);
}

int snmp_model_eval(snmp_model *m, const vb_store *st, double rated_kw, snmp_emit_fn emit, void *ud, char *err,
                    size_t errlen) {
        evalctx x = { .m = m, .emit = emit, .ud = ud, .err = err, .errlen = errlen };
        if (err && errlen)
                err[0] = 0;
        m->nem = 0;
        /* Plain points first, then those that add up others. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < m->n; i++) {
                        const mpoint *p = &m->p[i];
                        bool sums = p->c->sum_of && *p->c->sum_of;
                        if (sums != (pass == 1))
                                continue;
                        int r = p->is_table ? eval_table(&x, p, st) : eval_scalar(&x, p, st, rated_kw);
                        if (r < 0)
                                return r;
                }
        return x.failed;
}
