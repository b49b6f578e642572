/* ident.c - the profile catalog and the choice of a device's profile
 * (ident.h). Building and choosing are pure; only snmp_catalog_load reads
 * files (through profile.c). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "snmp/decode.h"
#include "snmp/ident.h"

typedef struct centry {
        char name[64];
        char vendor[SNMP_STR_MAX];
        char description[SNMP_STR_MAX];
        soid *prefix;
        size_t nprefix;
        soid *identify;
        size_t nidentify;
        soid *idtab;
        size_t nidtab;
        soid vendor_oid, model_oid;
        bool has_vendor_oid, has_model_oid;
} centry;

struct snmp_catalog {
        centry *e;
        size_t n;
        soid *oids;
        size_t noids;
        soid *tabs;
        size_t ntabs;
};

void snmp_catalog_free(snmp_catalog *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->e[i].prefix);
                free(c->e[i].identify);
                free(c->e[i].idtab);
        }
        free(c->e);
        free(c->oids);
        free(c->tabs);
        free(c);
}

size_t snmp_catalog_size(const snmp_catalog *c) {
        return c ? c->n : 0;
}

static int add_to(soid **list, size_t *n, const soid *o) {
        for (size_t i = 0; i < *n; i++)
                if (soid_cmp(&(*list)[i], o) == 0)
                        return 0;
        soid *nl = realloc(*list, (*n + 1) * sizeof(soid));
        if (!nl)
                return -ENOMEM;
        nl[(*n)++] = *o;
        *list = nl;
        return 0;
}

static int add_oid(snmp_catalog *c, const soid *o) {
        return add_to(&c->oids, &c->noids, o);
}

static int parse_list(const dcem_strlist *l, soid **ret, size_t *ret_n, const char *pname, const char *key,
                      char *err, size_t errlen) {
        if (!l->n)
                return 0;
        soid *a = calloc(l->n, sizeof(soid));
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++)
                if (soid_parse(l->items[i], &a[i]) < 0) {
                        snprintf(err, errlen, "profile %s: %s \"%.80s\" is not a numeric OID", pname, key,
                                 l->items[i]);
                        free(a);
                        return -EINVAL;
                }
        *ret = a;
        *ret_n = l->n;
        return 0;
}

static int parse_one(const char *s, soid *o, bool *has, const char *pname, const char *key, char *err,
                     size_t errlen) {
        *has = false;
        if (!s || !*s)
                return 0;
        if (soid_parse(s, o) < 0) {
                snprintf(err, errlen, "profile %s: %s \"%.80s\" is not a numeric OID", pname, key, s);
                return -EINVAL;
        }
        *has = true;
        return 0;
}

static int cmp_soid(const void *a, const void *b) {
        return soid_cmp(a, b);
}

static int cmp_entry(const void *a, const void *b) {
        return strcmp(((const centry *)a)->name, ((const centry *)b)->name);
}

int snmp_catalog_build(const snmp_profile_conf *const *profs, size_t n, snmp_catalog **ret, char *err, size_t errlen) {
        snmp_catalog *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        int r = 0;
        if (n && !(c->e = calloc(n, sizeof(centry)))) {
                r = -ENOMEM;
                goto fail;
        }
        static const char *const sys[] = { SNMP_OID_SYSDESCR, SNMP_OID_SYSOBJECTID, SNMP_OID_SYSNAME };
        for (size_t i = 0; i < 3; i++) {
                soid o;
                (void)soid_parse(sys[i], &o);
                if ((r = add_oid(c, &o)) < 0)
                        goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                const snmp_profile_conf *p = profs[i];
                centry *e = &c->e[c->n++];
                const char *pn = p->profile ? p->profile : "?";
                snprintf(e->name, sizeof(e->name), "%s", pn);
                snprintf(e->vendor, sizeof(e->vendor), "%s", p->vendor ? p->vendor : "");
                snprintf(e->description, sizeof(e->description), "%s", p->description ? p->description : "");
                if ((r = parse_list(&p->sys_object_id, &e->prefix, &e->nprefix, pn, "sys_object_id", err, errlen)) < 0 ||
                    (r = parse_list(&p->identify, &e->identify, &e->nidentify, pn, "identify", err, errlen)) < 0 ||
                    (r = parse_list(&p->identify_table, &e->idtab, &e->nidtab, pn, "identify_table", err, errlen)) < 0 ||
                    (r = parse_one(p->vendor_oid, &e->vendor_oid, &e->has_vendor_oid, pn, "vendor_oid", err, errlen)) < 0 ||
                    (r = parse_one(p->model_oid, &e->model_oid, &e->has_model_oid, pn, "model_oid", err, errlen)) < 0)
                        goto fail;
                for (size_t k = 0; k < e->nidentify; k++)
                        if ((r = add_oid(c, &e->identify[k])) < 0)
                                goto fail;
                for (size_t k = 0; k < e->nidtab; k++)
                        if ((r = add_to(&c->tabs, &c->ntabs, &e->idtab[k])) < 0)
                                goto fail;
                if ((e->has_vendor_oid && (r = add_oid(c, &e->vendor_oid)) < 0) ||
                    (e->has_model_oid && (r = add_oid(c, &e->model_oid)) < 0))
                        goto fail;
        }
        if (c->n)
                qsort(c->e, c->n, sizeof(centry), cmp_entry);
        qsort(c->oids, c->noids, sizeof(soid), cmp_soid);
        if (c->ntabs)
                qsort(c->tabs, c->ntabs, sizeof(soid), cmp_soid);
        *ret = c;
        return 0;
fail:
        snmp_catalog_free(c);
        return r;
}

int snmp_catalog_load(const char *profiles_dir, snmp_catalog **ret, size_t *ret_skipped) {
        char dir[4096];
        int k = snprintf(dir, sizeof(dir), "%s/snmp", profiles_dir ? profiles_dir : ".");
        if (k < 0 || (size_t)k >= sizeof(dir))
                return -ENAMETOOLONG;
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        snmp_profile_conf **profs = NULL;
        size_t n = 0, skipped = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len <= 5 || len > 63 + 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
                        continue;
                char name[64];
                memcpy(name, de->d_name, len - 5);
                name[len - 5] = 0;
                if (!snmp_profile_name_ok(name))
                        continue;
                if (n >= 4096) { /* bounded: a catalog of thousands is a mistake */
                        skipped++;
                        continue;
                }
                dcem_diag scratch = { 0 };
                snmp_profile_conf *p = NULL;
                int lr = snmp_profile_load(profiles_dir, name, &p, &scratch);
                dcem_diag_clear(&scratch);
                if (lr < 0) {
                        skipped++;
                        continue;
                }
                snmp_profile_conf **np = realloc(profs, (n + 1) * sizeof(*np));
                if (!np) {
                        snmp_profile_free(p);
                        r = -ENOMEM;
                        break;
                }
                profs = np;
                profs[n++] = p;
        }
        closedir(d);
        snmp_catalog *c = NULL;
        if (r == 0) {
                /* Profiles whose identity OIDs do not parse are skipped, one by one. */
                char err[256];
                size_t kept = 0;
                for (size_t i = 0; i < n; i++) {
                        snmp_catalog *one = NULL;
                        if (snmp_catalog_build((const snmp_profile_conf *const *)&profs[i], 1, &one, err,
                                               sizeof(err)) < 0) {
                                snmp_profile_free(profs[i]);
                                skipped++;
                                continue;
                        }
                        snmp_catalog_free(one);
                        profs[kept++] = profs[i];
                }
                n = kept;
                r = snmp_catalog_build((const snmp_profile_conf *const *)profs, n, &c, err, sizeof(err));
        }
        for (size_t i = 0; i < n; i++)
                snmp_profile_free(profs[i]);
        free(profs);
        if (r < 0)
                return r;
        if (ret_skipped)
                *ret_skipped = skipped;
        *ret = c;
        return 0;
}

const soid *snmp_catalog_oids(const snmp_catalog *c, size_t *ret_n) {
        *ret_n = c->noids;
        return c->oids;
}

const soid *snmp_catalog_tables(const snmp_catalog *c, size_t *ret_n) {
        *ret_n = c->ntabs;
        return c->tabs;
}

/* Column col has a row in the store (a usable value under it). */
static bool has_row(const vb_store *st, const soid *col) {
        size_t i = vb_store_lower_bound(st, col);
        for (; i < st->n && soid_has_prefix(&st->e[i].oid, col); i++)
                if (st->e[i].oid.n > col->n && !sval_is_exception(&st->e[i].val) && st->e[i].val.t != SV_OTHER)
                        return true;
        return false;
}

/* The value at oid when it is a usable answer (not absent, not an exception). */
static const sval *answer(const vb_store *st, const soid *oid) {
        const sval *v = vb_store_get(st, oid);
        if (!v || sval_is_exception(v) || v->t == SV_OTHER)
                return NULL;
        return v;
}

static void text_of(const vb_store *st, const char *oidtext, char *buf, size_t len) {
        soid o;
        buf[0] = 0;
        if (soid_parse(oidtext, &o) < 0)
                return;
        const sval *v = answer(st, &o);
        if (v)
                snmp_value_text(v, buf, len);
}

/* Printable: control characters become '?' (device strings go to terminals). */
static void printable(char *s) {
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = '?';
}

int snmp_catalog_choose(const snmp_catalog *c, const vb_store *st, snmp_ident *ret) {
        snmp_ident id;
        memset(&id, 0, sizeof(id));
        text_of(st, SNMP_OID_SYSDESCR, id.sys_descr, sizeof(id.sys_descr));
        text_of(st, SNMP_OID_SYSNAME, id.sys_name, sizeof(id.sys_name));
        soid so, sys;
        (void)soid_parse(SNMP_OID_SYSOBJECTID, &so);
        const sval *sv = answer(st, &so);
        bool have_sys = sv && sv->t == SV_OID && soid_parse(sv->s, &sys) == 0;
        if (have_sys)
                snprintf(id.sys_object_id, sizeof(id.sys_object_id), "%s", sv->s);
        printable(id.sys_descr);
        printable(id.sys_name);

        const centry *best = NULL;
        uint32_t best_score = 0;
        int how = 0;
        bool any_prefix = false;
        for (int pass = 1; pass <= 2 && !best; pass++) {
                for (size_t i = 0; i < c->n; i++) {
                        const centry *e = &c->e[i];
                        uint32_t pre = 0;
                        for (size_t k = 0; have_sys && k < e->nprefix; k++)
                                if (soid_has_prefix(&sys, &e->prefix[k]) && e->prefix[k].n > pre)
                                        pre = e->prefix[k].n;
                        bool idok = true;
                        for (size_t k = 0; k < e->nidentify; k++)
                                idok &= answer(st, &e->identify[k]) != NULL;
                        for (size_t k = 0; k < e->nidtab; k++)
                                idok &= has_row(st, &e->idtab[k]);
                        uint32_t score = 0;
                        if (pass == 1 && pre && idok)
                                score = pre;
                        else if (pass == 2 && !any_prefix && (e->nidentify || e->nidtab) && idok)
                                score = (uint32_t)(e->nidentify + e->nidtab);
                        if (pass == 1 && pre)
                                any_prefix = true;
                        if (score > best_score) { /* entries are sorted: the first name wins ties */
                                best = e;
                                best_score = score;
                                how = pass;
                        }
                }
        }
        if (best) {
                snprintf(id.profile, sizeof(id.profile), "%s", best->name);
                snprintf(id.description, sizeof(id.description), "%s", best->description);
                snprintf(id.vendor, sizeof(id.vendor), "%s", best->vendor);
                const sval *v;
                if (best->has_vendor_oid && (v = answer(st, &best->vendor_oid)) && v->t == SV_STRING && v->s[0])
                        snmp_value_text(v, id.vendor, sizeof(id.vendor));
                if (best->has_model_oid && (v = answer(st, &best->model_oid)) && v->t == SV_STRING)
                        snmp_value_text(v, id.model, sizeof(id.model));
                printable(id.vendor);
                printable(id.model);
                id.how = how;
        }
        *ret = id;
        if (best)
                return 0;
        return have_sys || id.sys_descr[0] || id.sys_name[0] ? -ENOENT : -ENODATA;
}
