/* snmp.c - the SNMP collector: many agents in flight from the agent's one
 * thread.
 *
 * Each device has one net-snmp single session (snmp_sess_open), whose UDP
 * socket the loop watches (dcem_loop_add_fd); reads go through
 * snmp_sess_read2 with a large fd set (no FD_SETSIZE limit) and net-snmp's
 * retransmissions and timeouts are driven by a loop timer set from
 * snmp_sess_select_info2 and fired into snmp_sess_timeout. Nothing blocks:
 * a dead agent only costs its own timer.
 *
 * A poll runs as a small state machine: (v3: engine-ID discovery, done
 * asynchronously here, since net-snmp's own probe is synchronous) ->
 * (profile: auto: read sysObjectID) -> scalar GETs packed up to max_varbinds
 * (plan.c; tooBig splits and is remembered) -> table walks of all wanted
 * columns together (walk.c; GETBULK on v2c/v3, GETNEXT on v1; tooBig halves
 * max-repetitions) -> evaluation into samples (model.c) -> dcem_poll_done.
 *
 * net-snmp is initialised once, with a private application name, no MIB
 * loading (numeric OIDs only), no configuration files read and no persistent
 * state written, and its logging off (only agent/ logs).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>
#include <net-snmp/library/snmpusm.h>

#include "dcem/config.h"
#include "snmp/conf.h"
#include "snmp/decode.h"
#include "snmp/ident.h"
#include "snmp/model.h"
#include "snmp/plan.h"
#include "snmp/profile.h"
#include "snmp/snmp.h"
#include "snmp/walk.h"

#define STORE_CAP 50000

typedef enum phase {
        PH_IDLE = 0,
        PH_DISCOVER, /* v3 engine ID */
        PH_AUTO,     /* identity objects for profile: auto (ident.h) */
        PH_AUTO_NEXT, /* ... and the first row of its identity tables (one GETNEXT) */
        PH_SCALARS,
        PH_WALK,
} phase;

typedef struct snmp_dev {
        dcem_loop *loop;
        const dcem_clock *clock;
        const snmp_conf *c;
        const dcem_device_conf *dev;
        char *profiles_dir; /* malloc'd copy (a 4 KB array per device before) */
        char peer[SNMP_HOST_MAX + 16];
        char user[64];
        /* Points: the profile's and the device's. */
        snmp_profile_conf *prof;
        snmp_catalog *cat;   /* profile: auto, until a profile is chosen */
        snmp_plan idplan;    /* GETs of the catalog's identity OIDs */
        snmp_ident ident;    /* what the device said (profile: auto) */
        bool auto_tables_done; /* this poll's GETNEXT of the identity tables answered */
        snmp_model *model;
        snmp_plan plan;
        snmp_walk walk;
        bool has_walk;
        vb_store store;
        soid *reqoids;    /* OIDs of the request in flight */
        size_t reqcap;
        /* net-snmp */
        void *sess;
        int fd;
        netsnmp_large_fd_set fds, scratch;
        bool fds_init;
        uint64_t timer;
        /* The poll in flight. */
        dcem_poll *poll;
        phase ph;
        snmp_range range;
        int reqid;
        bool discovered;
        int64_t max_rep;
        int status;
        char err[DCEM_ERR_MAX];
        snmp_dev_stats st;
        uint64_t poll_requests;
} snmp_dev;

static bool lib_ready, lib_v3_ready;

/* Initialise net-snmp once for the process. init_snmp() (SNMPv3: USM and
 * its crypto, which initialises OpenSSL: ~1.6 MB of libcrypto pages) only
 * once a v3 device needs it; v1/v2c sessions work without it. */
static void lib_init(bool v3) {
        if (lib_ready) {
                if (v3 && !lib_v3_ready) {
                        init_snmp("dcem-snmp");
                        lib_v3_ready = true;
                }
                return;
        }
        /* Only agent/ logs: every net-snmp message goes to a handler that
         * drops it (with no handler at all net-snmp writes to stderr). */
        netsnmp_register_loghandler(NETSNMP_LOGHANDLER_NONE, LOG_DEBUG);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_LOAD_HOST_FILES, 1);
        netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0);
        netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, "/nonexistent/dcem-snmp");
        /* No MIBs at all (numeric OIDs only): an empty module list and no
         * MIB directory, so nothing is searched for or parsed. */
        setenv("MIBS", "", 1);
        setenv("MIBDIRS", "", 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_ERRORS, 0);
        if (v3) {
                init_snmp("dcem-snmp");
                lib_v3_ready = true;
        }
        lib_ready = true;
}

static void sval_from_vb(const netsnmp_variable_list *vb, sval *v) {
        memset(v, 0, sizeof(*v));
        switch (vb->type) {
        case ASN_INTEGER:
                v->t = SV_INTEGER;
                v->i = vb->val.integer ? *vb->val.integer : 0;
                break;
        case ASN_GAUGE:
                v->t = SV_UNSIGNED;
                v->u = vb->val.integer ? (uint32_t)*vb->val.integer : 0;
                break;
        case ASN_COUNTER:
                v->t = SV_COUNTER32;
                v->u = vb->val.integer ? (uint32_t)*vb->val.integer : 0;
                break;
        case ASN_TIMETICKS:
                v->t = SV_TIMETICKS;
                v->u = vb->val.integer ? (uint32_t)*vb->val.integer : 0;
                break;
        case ASN_COUNTER64:
#ifdef NETSNMP_WITH_OPAQUE_SPECIAL_TYPES
        case ASN_OPAQUE_COUNTER64:
        case ASN_OPAQUE_U64:
#endif
                v->t = SV_COUNTER64;
                if (vb->val.counter64)
                        v->u = ((uint64_t)vb->val.counter64->high << 32) | (uint32_t)vb->val.counter64->low;
                break;
#ifdef NETSNMP_WITH_OPAQUE_SPECIAL_TYPES
        case ASN_OPAQUE_FLOAT:
                v->t = SV_FLOAT;
                v->f = vb->val.floatVal ? *vb->val.floatVal : NAN;
                break;
        case ASN_OPAQUE_DOUBLE:
                v->t = SV_FLOAT;
                v->f = vb->val.doubleVal ? *vb->val.doubleVal : NAN;
                break;
#endif
        case ASN_OCTET_STR: {
                v->t = SV_STRING;
                size_t n = vb->val_len < SNMP_STR_MAX - 1 ? vb->val_len : SNMP_STR_MAX - 1;
                if (vb->val.string)
                        memcpy(v->s, vb->val.string, n);
                v->s[n] = 0;
                /* An embedded NUL ends the text (C strings). */
                break;
        }
        case ASN_OBJECT_ID: {
                v->t = SV_OID;
                soid o = { 0 };
                size_t n = vb->val_len / sizeof(oid);
                if (n > SNMP_OID_MAX)
                        n = SNMP_OID_MAX;
                for (size_t i = 0; i < n && vb->val.objid; i++)
                        o.a[i] = (uint32_t)vb->val.objid[i];
                o.n = (uint32_t)n;
                soid_format(&o, v->s, sizeof(v->s));
                break;
        }
        case ASN_IPADDRESS:
                v->t = SV_IPADDR;
                if (vb->val_len == 4 && vb->val.string)
                        snprintf(v->s, sizeof(v->s), "%u.%u.%u.%u", vb->val.string[0], vb->val.string[1],
                                 vb->val.string[2], vb->val.string[3]);
                break;
        case ASN_NULL:
                v->t = SV_NULL;
                break;
        case SNMP_NOSUCHOBJECT:
                v->t = SV_NOSUCHOBJECT;
                break;
        case SNMP_NOSUCHINSTANCE:
                v->t = SV_NOSUCHINSTANCE;
                break;
        case SNMP_ENDOFMIBVIEW:
                v->t = SV_ENDOFMIBVIEW;
                break;
        default:
                v->t = SV_OTHER;
                break;
        }
}

/* The vb's name as a soid; false when longer than we keep. */
static bool soid_from_vb(const netsnmp_variable_list *vb, soid *o) {
        if (vb->name_length > SNMP_OID_MAX || !vb->name)
                return false;
        o->n = (uint32_t)vb->name_length;
        for (size_t i = 0; i < vb->name_length; i++)
                o->a[i] = (uint32_t)vb->name[i];
        return true;
}

static void add_oid(netsnmp_pdu *pdu, const soid *o) {
        oid tmp[SNMP_OID_MAX];
        for (uint32_t i = 0; i < o->n; i++)
                tmp[i] = o->a[i];
        snmp_add_null_var(pdu, tmp, o->n);
}

static void rearm(snmp_dev *d);
static void step(snmp_dev *d);
static void choose_profile(snmp_dev *d);
static int on_response(int op, netsnmp_session *s, int reqid, netsnmp_pdu *pdu, void *magic);

static void seterr(snmp_dev *d, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(snmp_dev *d, int status, const char *fmt, ...) {
        if (d->status < 0)
                return; /* keep the first */
        d->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, sizeof(d->err), fmt, ap);
        va_end(ap);
}

static int emit(void *ud, const char *point, double value, const char *unit, dcem_quality q, dcem_kind kind) {
        snmp_dev *d = ud;
        int r = dcem_poll_add(d->poll, point, value, unit, q, kind);
        return r == -EINVAL ? 0 : r; /* a name the core refuses is skipped, not fatal */
}

/* Finish the poll in flight: samples from what was fetched, then done. */
static void finish(snmp_dev *d) {
        dcem_poll *p = d->poll;
        if (!p)
                return;
        char err[DCEM_ERR_MAX] = "";
        int status = d->status;
        if (d->model && (status == 0 || d->store.n > 0)) {
                int failed = snmp_model_eval(d->model, &d->store, d->dev ? d->dev->rated_kw : 0, emit, d, err,
                                             sizeof(err));
                if (failed < 0 && status == 0) {
                        status = failed;
                        snprintf(d->err, sizeof(d->err), "cannot add samples: %s", strerror(-failed));
                } else if (failed > 0 && status == 0) {
                        status = -ENODATA;
                        snprintf(d->err, sizeof(d->err), "%s%s", err, failed > 1 ? " (and more)" : "");
                }
        }
        d->poll = NULL;
        d->ph = PH_IDLE;
        d->reqid = 0;
        d->st.last_requests = d->poll_requests;
        d->st.too_big_splits = d->plan.splits;
        d->st.max_varbinds = d->plan.max_vb;
        d->st.max_repetitions = (uint64_t)d->max_rep;
        dcem_poll_done(p, status, status < 0 ? d->err : NULL);
}

static void fail(snmp_dev *d, int status, const char *msg) {
        seterr(d, status, "%s", msg);
        finish(d);
}

/* Send pdu (consumed) for the poll in flight. */
static int send_pdu(snmp_dev *d, netsnmp_pdu *pdu) {
        int id = snmp_sess_async_send(d->sess, pdu, on_response, d);
        if (id == 0) {
                int liberr = 0, syserr = 0;
                char *msg = NULL;
                snmp_sess_error(d->sess, &liberr, &syserr, &msg);
                snmp_free_pdu(pdu);
                seterr(d, -EIO, "cannot send to %.64s: %.80s", d->peer, msg ? msg : "unknown error");
                free(msg);
                return -EIO;
        }
        d->reqid = id;
        d->st.requests++;
        d->poll_requests++;
        rearm(d);
        return 0;
}

static netsnmp_pdu *new_pdu(snmp_dev *d, int cmd) {
        netsnmp_pdu *pdu = snmp_pdu_create(cmd);
        (void)d;
        return pdu;
}

/* The v3 engine-ID probe: an empty GET, noAuthNoPriv, empty user, answered
 * by a report carrying the agent's engine ID. */
static int send_probe(snmp_dev *d) {
        netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_GET);
        if (!pdu)
                return -ENOMEM;
        pdu->version = SNMP_VERSION_3;
        pdu->securityName = strdup("");
        pdu->securityNameLen = 0;
        pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
        pdu->securityModel = SNMP_SEC_MODEL_USM;
        return send_pdu(d, pdu);
}

static int send_scalars(snmp_dev *d) {
        size_t n;
        const soid *sc = snmp_model_scalars(d->model, &n);
        netsnmp_pdu *pdu = new_pdu(d, SNMP_MSG_GET);
        if (!pdu)
                return -ENOMEM;
        for (uint32_t i = 0; i < d->range.count; i++)
                add_oid(pdu, &sc[d->range.start + i]);
        return send_pdu(d, pdu);
}

static int send_walk(snmp_dev *d, size_t k) {
        netsnmp_pdu *pdu;
        if (d->c->version == SNMP_V1) {
                pdu = new_pdu(d, SNMP_MSG_GETNEXT);
        } else {
                pdu = new_pdu(d, SNMP_MSG_GETBULK);
                if (pdu) {
                        /* The answer holds k * repetitions varbinds: keep it
                         * within max_varbinds too (agents cap their answers,
                         * some silently drop what they cannot answer). */
                        long rep = (long)d->max_rep, cap = (long)(d->plan.max_vb / k);
                        pdu->non_repeaters = 0;
                        pdu->max_repetitions = rep < cap ? rep : cap > 1 ? cap : 1;
                }
        }
        if (!pdu)
                return -ENOMEM;
        for (size_t i = 0; i < k; i++)
                add_oid(pdu, &d->reqoids[i]);
        return send_pdu(d, pdu);
}

static int build_model(snmp_dev *d, char *err, size_t errlen) {
        const snmp_conf *c = d->c;
        size_t np = (d->prof ? d->prof->points.n : 0) + c->points.n;
        if (!np) {
                snprintf(err, errlen, "no points (give a profile or points)");
                return -EINVAL;
        }
        const snmp_point_conf **pts = calloc(np, sizeof(*pts));
        if (!pts)
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; d->prof && i < d->prof->points.n; i++)
                pts[k++] = &((const snmp_point_conf *)d->prof->points.items)[i];
        for (size_t i = 0; i < c->points.n; i++)
                pts[k++] = &((const snmp_point_conf *)c->points.items)[i];
        int r = snmp_model_build(pts, np, &d->model, err, errlen);
        free(pts);
        if (r < 0)
                return r;
        size_t ns, ncol;
        snmp_model_scalars(d->model, &ns);
        const soid *cols = snmp_model_columns(d->model, &ncol);
        r = snmp_plan_init(&d->plan, ns, (size_t)c->max_varbinds);
        if (r < 0)
                return r;
        if (ncol) {
                r = snmp_walk_init(&d->walk, cols, ncol, (size_t)c->max_walk_requests);
                if (r < 0)
                        return r;
                d->has_walk = true;
        }
        /* reqoids carries a walk's request only (snmp_walk_request: room
         * for ncol); scalar GETs take their OIDs from the model. */
        d->reqcap = ncol ? ncol : 1;
        d->reqoids = calloc(d->reqcap, sizeof(soid));
        return d->reqoids ? 0 : -ENOMEM;
}

/* Advance the poll: send the next request, or finish. */
static void step(snmp_dev *d) {
        for (;;) {
                if (!d->poll)
                        return;
                int r = 0;
                switch (d->ph) {
                case PH_DISCOVER:
                        r = send_probe(d);
                        break;
                case PH_AUTO: {
                        if (!snmp_plan_next(&d->idplan, &d->range)) {
                                size_t ntab;
                                snmp_catalog_tables(d->cat, &ntab);
                                if (ntab && !d->auto_tables_done) {
                                        d->ph = PH_AUTO_NEXT; /* the identity tables, then choose */
                                        continue;
                                }
                                choose_profile(d);
                                if (d->status < 0) {
                                        finish(d);
                                        return;
                                }
                                continue;
                        }
                        size_t n;
                        const soid *ids = snmp_catalog_oids(d->cat, &n);
                        netsnmp_pdu *pdu = new_pdu(d, SNMP_MSG_GET);
                        if (!pdu) {
                                r = -ENOMEM;
                                break;
                        }
                        for (uint32_t i = 0; i < d->range.count; i++)
                                add_oid(pdu, &ids[d->range.start + i]);
                        r = send_pdu(d, pdu);
                        break;
                }
                case PH_AUTO_NEXT: {
                        /* One GETNEXT of every identity table's column: its
                         * first row, if any (got_auto_next). */
                        size_t ntab;
                        const soid *tabs = snmp_catalog_tables(d->cat, &ntab);
                        netsnmp_pdu *pdu = new_pdu(d, SNMP_MSG_GETNEXT);
                        if (!pdu) {
                                r = -ENOMEM;
                                break;
                        }
                        for (size_t i = 0; i < ntab; i++)
                                add_oid(pdu, &tabs[i]);
                        r = send_pdu(d, pdu);
                        break;
                }
                case PH_SCALARS:
                        if (snmp_plan_next(&d->plan, &d->range)) {
                                r = send_scalars(d);
                                break;
                        }
                        d->ph = PH_WALK;
                        if (d->has_walk)
                                snmp_walk_start(&d->walk);
                        continue;
                case PH_WALK: {
                        size_t k = d->has_walk ? snmp_walk_request(&d->walk, d->reqoids) : 0;
                        if (!k) {
                                /* A walk cut by max_walk_requests lacks rows:
                                 * never silent (a missing PSU or outlet would
                                 * vanish from a sum). */
                                if (d->has_walk && d->walk.truncated)
                                        seterr(d, -E2BIG,
                                               "table walk of %.64s stopped after %zu requests (max_walk_requests): "
                                               "rows may be missing",
                                               d->peer, d->walk.requests);
                                finish(d);
                                return;
                        }
                        r = send_walk(d, k);
                        break;
                }
                case PH_IDLE:
                        return;
                }
                if (r < 0) {
                        if (d->status == 0)
                                seterr(d, r, "cannot build a request: %s", strerror(-r));
                        finish(d);
                }
                return;
        }
}

static const char *report_text(int type) {
        switch (type) {
        case SNMPERR_AUTHENTICATION_FAILURE:
                return "authentication failed for user %s (wrong auth password or protocol)";
        case SNMPERR_UNKNOWN_USER_NAME:
                return "the agent does not know user %s";
        case SNMPERR_DECRYPTION_ERR:
                return "decryption failed for user %s (wrong privacy password or protocol)";
        case SNMPERR_UNSUPPORTED_SEC_LEVEL:
                return "the agent refuses the security level of user %s";
        case SNMPERR_UNKNOWN_ENG_ID:
                return "the agent did not accept its own engine ID (user %s)";
        case SNMPERR_NOT_IN_TIME_WINDOW:
                return "the agent's clock check failed for user %s (not in time window)";
        default:
                return "the agent sent an SNMPv3 report for user %s";
        }
}

/* A response PDU to the GET of d->range of the OIDs sc, planned by plan. */
static void got_gets(snmp_dev *d, netsnmp_pdu *pdu, snmp_plan *plan, const soid *sc) {
        if (pdu->errstat == SNMP_ERR_TOOBIG) {
                if (snmp_plan_too_big(plan, d->range) < 0) {
                        sval none = { .t = SV_NONE };
                        (void)vb_store_put(&d->store, &sc[d->range.start], &none);
                }
                return;
        }
        if (pdu->errstat != SNMP_ERR_NOERROR) {
                long ei = pdu->errindex;
                if (ei >= 1 && (uint64_t)ei <= d->range.count) {
                        /* v1 noSuchName (or a v2 error pinned on one OID): that
                         * OID is absent, ask again for the others. */
                        sval v = { .t = pdu->errstat == SNMP_ERR_NOSUCHNAME ? SV_NOSUCHOBJECT : SV_OTHER };
                        (void)vb_store_put(&d->store, &sc[d->range.start + (uint32_t)ei - 1], &v);
                        snmp_plan_drop(plan, d->range, (uint32_t)ei - 1);
                } else
                        seterr(d, -EIO, "%.64s answered error %ld (%.40s) to a GET", d->peer, pdu->errstat,
                               snmp_errstring((int)pdu->errstat));
                return;
        }
        uint32_t i = 0;
        for (netsnmp_variable_list *vb = pdu->variables; vb && i < d->range.count; vb = vb->next_variable, i++) {
                const soid *want = &sc[d->range.start + i];
                soid got;
                sval v;
                sval_from_vb(vb, &v);
                if (!soid_from_vb(vb, &got) || soid_cmp(&got, want) != 0)
                        v = (sval){ .t = SV_OTHER }; /* malformed: an answer for another OID */
                if (vb_store_put(&d->store, want, &v) < 0)
                        seterr(d, -E2BIG, "too many values from %.64s", d->peer);
        }
        /* A truncated answer: the OIDs not answered stay absent. */
}

static void got_scalars(snmp_dev *d, netsnmp_pdu *pdu) {
        size_t n;
        got_gets(d, pdu, &d->plan, snmp_model_scalars(d->model, &n));
}

static void got_walk(snmp_dev *d, netsnmp_pdu *pdu) {
        if (pdu->errstat == SNMP_ERR_TOOBIG) {
                if (d->c->version != SNMP_V1 && d->max_rep > 1) {
                        d->max_rep /= 2;
                        d->walk.requests--; /* the same request again, smaller */
                        for (size_t i = 0; i < d->walk.nreq; i++)
                                d->walk.done[d->walk.req[i]] = false;
                } else {
                        for (size_t i = 0; i < d->walk.nreq; i++)
                                snmp_walk_end_column(&d->walk, i);
                }
                return;
        }
        if (pdu->errstat != SNMP_ERR_NOERROR) {
                long ei = pdu->errindex;
                if (d->c->version == SNMP_V1 && pdu->errstat == SNMP_ERR_NOSUCHNAME && ei >= 1)
                        snmp_walk_end_column(&d->walk, (size_t)ei - 1); /* v1: past the end of the MIB */
                else
                        for (size_t i = 0; i < d->walk.nreq; i++)
                                snmp_walk_end_column(&d->walk, i);
                return;
        }
        size_t n = 0;
        for (netsnmp_variable_list *vb = pdu->variables; vb; vb = vb->next_variable)
                n++;
        if (n > 4096)
                n = 4096;
        soid *oids = malloc((n ? n : 1) * sizeof(soid));
        sval *vals = malloc((n ? n : 1) * sizeof(sval));
        if (!oids || !vals) {
                free(oids);
                free(vals);
                seterr(d, -ENOMEM, "out of memory");
                for (size_t i = 0; i < d->walk.nreq; i++)
                        snmp_walk_end_column(&d->walk, i);
                return;
        }
        size_t i = 0;
        for (netsnmp_variable_list *vb = pdu->variables; vb && i < n; vb = vb->next_variable, i++) {
                sval_from_vb(vb, &vals[i]);
                if (!soid_from_vb(vb, &oids[i])) {
                        oids[i] = (soid){ .n = 2, .a = { 0, 0 } }; /* outside every column: ends it */
                        vals[i].t = SV_ENDOFMIBVIEW;
                }
        }
        if (snmp_walk_feed(&d->walk, oids, vals, n, &d->store) < 0)
                seterr(d, -E2BIG, "table walk of %.64s stopped: more than %d values", d->peer, STORE_CAP);
        free(oids);
        free(vals);
}

static void got_auto(snmp_dev *d, netsnmp_pdu *pdu) {
        size_t n;
        got_gets(d, pdu, &d->idplan, snmp_catalog_oids(d->cat, &n));
}

/* The answer to the GETNEXT of the identity tables: a varbind counts as a
 * row of its column only when it lies under it (an error answer, e.g. v1's
 * noSuchName past the end of the MIB, means no rows). Then choose. */
static void got_auto_next(snmp_dev *d, netsnmp_pdu *pdu) {
        size_t ntab;
        const soid *tabs = snmp_catalog_tables(d->cat, &ntab);
        size_t i = 0;
        for (netsnmp_variable_list *vb = pdu->variables; pdu->errstat == SNMP_ERR_NOERROR && vb && i < ntab;
             vb = vb->next_variable, i++) {
                soid got;
                sval v;
                sval_from_vb(vb, &v);
                if (soid_from_vb(vb, &got) && got.n > tabs[i].n && soid_has_prefix(&got, &tabs[i]) &&
                    !sval_is_exception(&v) && vb_store_put(&d->store, &got, &v) < 0)
                        seterr(d, -E2BIG, "too many values from %.64s", d->peer);
        }
        d->auto_tables_done = true;
        d->ph = PH_AUTO;
}

/* Every identity answer is in the store: choose the profile, load it and
 * compile the model; the poll goes on with the profile's scalars. */
static void choose_profile(snmp_dev *d) {
        char err[256];
        int r = snmp_catalog_choose(d->cat, &d->store, &d->ident);
        if (r == -ENODATA) {
                seterr(d, -ENOENT, "profile auto: %.64s gave no sysObjectID and no identity object", d->peer);
                return;
        }
        if (r < 0) {
                seterr(d, -ENOENT, "profile auto: no profile matches sysObjectID %.100s (%.40s)",
                       d->ident.sys_object_id[0] ? d->ident.sys_object_id : "(none)", d->ident.sys_descr);
                return;
        }
        dcem_diag diag = { 0 };
        r = snmp_profile_load(d->profiles_dir, d->ident.profile, &d->prof, &diag);
        dcem_diag_clear(&diag);
        if (r < 0) {
                seterr(d, r, "profile auto: cannot load profile %s", d->ident.profile);
                return;
        }
        r = build_model(d, err, sizeof(err));
        if (r < 0) {
                /* Undo, so the next poll can try again from a clean state. */
                snmp_model_free(d->model);
                d->model = NULL;
                snmp_plan_free(&d->plan);
                if (d->has_walk)
                        snmp_walk_free(&d->walk);
                d->has_walk = false;
                free(d->reqoids);
                d->reqoids = NULL;
                snmp_profile_free(d->prof);
                d->prof = NULL;
                seterr(d, r, "profile %s: %.100s", d->ident.profile, err);
                return;
        }
        snprintf(d->st.profile, sizeof(d->st.profile), "%s", d->ident.profile);
        snmp_catalog_free(d->cat);
        d->cat = NULL;
        snmp_plan_free(&d->idplan);
        /* The identity answers are not points: start the store afresh. */
        vb_store_reset(&d->store);
        snmp_plan_start(&d->plan);
        d->ph = PH_SCALARS;
}

static int on_response(int op, netsnmp_session *s, int reqid, netsnmp_pdu *pdu, void *magic) {
        snmp_dev *d = magic;
        (void)s;
        if (!d->poll || !d->reqid)
                return 1; /* an answer to a cancelled poll */
        /* One request in flight per device: a v3 report that failed
         * authentication comes with reqid 0 and is about that request. */
        bool report = pdu && pdu->command == SNMP_MSG_REPORT;
        if (reqid != d->reqid && !(reqid == 0 && (op == NETSNMP_CALLBACK_OP_SEC_ERROR || report)))
                return 1;
        if (op == NETSNMP_CALLBACK_OP_RESEND)
                return 1; /* net-snmp retransmits: keep waiting */
        d->reqid = 0;
        if (d->ph == PH_DISCOVER && (op == NETSNMP_CALLBACK_OP_SEC_ERROR || op == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE)) {
                /* The probe's answer: a report (net-snmp hands it over as a
                 * security error) carrying the agent's engine ID. */
                netsnmp_session *ss = snmp_sess_session(d->sess);
                if (pdu && pdu->securityEngineIDLen > 0 && !ss->securityEngineIDLen) {
                        ss->securityEngineID = netsnmp_memdup(pdu->securityEngineID, pdu->securityEngineIDLen);
                        ss->securityEngineIDLen = ss->securityEngineID ? pdu->securityEngineIDLen : 0;
                }
                if (ss->securityEngineIDLen > 0) {
                        d->st.responses++;
                        if (usm_create_user_from_session(ss) != SNMPERR_SUCCESS) {
                                fail(d, -EIO, "cannot set up the SNMPv3 user with the agent's engine ID");
                                return 1;
                        }
                        d->discovered = true;
                        d->ph = d->model ? PH_SCALARS : PH_AUTO;
                        step(d);
                        return 1;
                }
        }
        if (op == NETSNMP_CALLBACK_OP_SEC_ERROR) {
                char msg[DCEM_ERR_MAX];
                if (report)
                        snprintf(msg, sizeof(msg), report_text(snmpv3_get_report_type(pdu)), d->user);
                else
                        snprintf(msg, sizeof(msg),
                                 "SNMPv3 security error for user %.60s (authentication or privacy failed)", d->user);
                fail(d, -EACCES, msg);
                return 1;
        }
        if (op == NETSNMP_CALLBACK_OP_TIMED_OUT) {
                char msg[DCEM_ERR_MAX];
                snprintf(msg, sizeof(msg), "no answer from %.64s (timeout %.3gs, %d retries)%s", d->peer,
                         (double)d->c->timeout_ns / 1e9, (int)d->c->retries,
                         d->c->version == SNMP_V3 ? "" : ": wrong community, or the agent is down");
                fail(d, -ETIMEDOUT, msg);
                return 1;
        }
        if (op != NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE || !pdu) {
                char msg[DCEM_ERR_MAX];
                snprintf(msg, sizeof(msg), "the request to %.64s failed (net-snmp operation %d)", d->peer, op);
                fail(d, -EIO, msg);
                return 1;
        }
        d->st.responses++;
        if (pdu->command == SNMP_MSG_REPORT) {
                int type = snmpv3_get_report_type(pdu);
                if (d->ph == PH_DISCOVER && pdu->securityEngineIDLen > 0) {
                        netsnmp_session *ss = snmp_sess_session(d->sess);
                        free(ss->securityEngineID);
                        ss->securityEngineID = netsnmp_memdup(pdu->securityEngineID, pdu->securityEngineIDLen);
                        ss->securityEngineIDLen = ss->securityEngineID ? pdu->securityEngineIDLen : 0;
                        if (!ss->securityEngineIDLen || usm_create_user_from_session(ss) != SNMPERR_SUCCESS) {
                                fail(d, -EIO, "cannot set up the SNMPv3 user with the agent's engine ID");
                                return 1;
                        }
                        d->discovered = true;
                        d->ph = d->prof || d->model ? PH_SCALARS : PH_AUTO;
                        step(d);
                        return 1;
                }
                char msg[DCEM_ERR_MAX];
                snprintf(msg, sizeof(msg), report_text(type), d->user);
                fail(d, type == SNMPERR_AUTHENTICATION_FAILURE || type == SNMPERR_UNKNOWN_USER_NAME ||
                                        type == SNMPERR_DECRYPTION_ERR
                                ? -EACCES
                                : -EPROTO,
                     msg);
                return 1;
        }
        if (pdu->command != SNMP_MSG_RESPONSE) {
                fail(d, -EPROTO, "the agent answered with an unexpected PDU type");
                return 1;
        }
        switch (d->ph) {
        case PH_DISCOVER:
                /* An agent that answers the probe without a report: go on. */
                d->discovered = true;
                d->ph = d->model ? PH_SCALARS : PH_AUTO;
                break;
        case PH_AUTO:
                got_auto(d, pdu);
                break;
        case PH_AUTO_NEXT:
                got_auto_next(d, pdu);
                break;
        case PH_SCALARS:
                got_scalars(d, pdu);
                break;
        case PH_WALK:
                got_walk(d, pdu);
                break;
        case PH_IDLE:
                return 1;
        }
        if (d->status < 0 && d->status != -ENODATA) {
                finish(d);
                return 1;
        }
        step(d);
        return 1;
}

static void on_timer(dcem_loop *l, uint64_t id, void *ud) {
        snmp_dev *d = ud;
        (void)l;
        if (id == d->timer)
                d->timer = 0;
        snmp_sess_timeout(d->sess);
        rearm(d);
}

/* Set the loop timer to net-snmp's next retransmission or timeout. */
static void rearm(snmp_dev *d) {
        if (d->timer) {
                (void)dcem_loop_cancel_timer(d->loop, d->timer);
                d->timer = 0;
        }
        if (!d->sess)
                return;
        int numfds = 0, block = 1;
        struct timeval tv = { 0, 0 };
        NETSNMP_LARGE_FD_ZERO(&d->scratch);
        snmp_sess_select_info2(d->sess, &numfds, &d->scratch, &tv, &block);
        if (block)
                return; /* nothing pending */
        int64_t wait = (int64_t)tv.tv_sec * DCEM_NS_PER_S + (int64_t)tv.tv_usec * 1000 + DCEM_NS_PER_MS;
        (void)dcem_loop_add_timer(d->loop, dcem_clock_mono(d->clock) + wait, on_timer, d, &d->timer);
}

static void on_read(dcem_loop *l, int fd, uint32_t events, void *ud) {
        snmp_dev *d = ud;
        (void)l;
        (void)fd;
        (void)events;
        /* snmp_sess_read2 reads one datagram and runs the callback; it
         * clears our fd's bit, so set it each time. */
        NETSNMP_LARGE_FD_ZERO(&d->fds);
        NETSNMP_LARGE_FD_SET(d->fd, &d->fds);
        (void)snmp_sess_read2(d->sess, &d->fds);
        if (d->sess)
                rearm(d);
}

static const oid *auth_oid(int proto, size_t *len) {
        switch (proto) {
        case SNMP_AUTH_MD5:
                *len = OID_LENGTH(usmHMACMD5AuthProtocol);
                return usmHMACMD5AuthProtocol;
        case SNMP_AUTH_SHA224:
                *len = OID_LENGTH(usmHMAC128SHA224AuthProtocol);
                return usmHMAC128SHA224AuthProtocol;
        case SNMP_AUTH_SHA256:
                *len = OID_LENGTH(usmHMAC192SHA256AuthProtocol);
                return usmHMAC192SHA256AuthProtocol;
        case SNMP_AUTH_SHA384:
                *len = OID_LENGTH(usmHMAC256SHA384AuthProtocol);
                return usmHMAC256SHA384AuthProtocol;
        case SNMP_AUTH_SHA512:
                *len = OID_LENGTH(usmHMAC384SHA512AuthProtocol);
                return usmHMAC384SHA512AuthProtocol;
        default:
                *len = OID_LENGTH(usmHMACSHA1AuthProtocol);
                return usmHMACSHA1AuthProtocol;
        }
}

static const oid *priv_oid(int proto, size_t *len) {
        switch (proto) {
#ifndef NETSNMP_DISABLE_DES
        case SNMP_PRIV_DES:
                *len = OID_LENGTH(usmDESPrivProtocol);
                return usmDESPrivProtocol;
#endif
#ifdef NETSNMP_DRAFT_BLUMENTHAL_AES_04
        case SNMP_PRIV_AES192:
                *len = OID_LENGTH(usmAES192PrivProtocol);
                return usmAES192PrivProtocol;
        case SNMP_PRIV_AES256:
                *len = OID_LENGTH(usmAES256PrivProtocol);
                return usmAES256PrivProtocol;
#endif
        case SNMP_PRIV_AES128:
                *len = OID_LENGTH(usmAESPrivProtocol);
                return usmAESPrivProtocol;
        default:
                return NULL;
        }
}

static void coll_close(void *state);

static int coll_init(const dcem_collector_env *env, const struct dcem_device_conf *dev, const void *conf,
                     void **ret_state, char *errbuf, size_t errlen) {
        const snmp_conf *c = conf;
        char host[SNMP_HOST_MAX], secret[256];
        unsigned port;
        if (snmp_parse_address(c->address, c->port, host, &port) < 0) {
                snprintf(errbuf, errlen, "bad address \"%.100s\"", c->address ? c->address : "");
                return -EINVAL;
        }
        lib_init(c->version == SNMP_V3);
        snmp_dev *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->profiles_dir = strdup(env->profiles_dir ? env->profiles_dir : ".");
        if (!d->profiles_dir) {
                free(d);
                return -ENOMEM;
        }
        d->loop = env->loop;
        d->clock = env->clock;
        d->c = c;
        d->dev = dev;
        d->fd = -1;
        d->max_rep = c->max_repetitions;
        snprintf(d->peer, sizeof(d->peer), "%s:%u", host, port);
        snprintf(d->user, sizeof(d->user), "%.60s", c->user ? c->user : "");
        vb_store_init(&d->store, STORE_CAP);
        const char *cfile = dev && dev->node ? dev->node->file : NULL;
        int r = 0;

        if (c->profile && strcmp(c->profile, "auto") != 0) {
                dcem_diag diag = { 0 };
                r = snmp_profile_load(d->profiles_dir, c->profile, &d->prof, &diag);
                if (r < 0) {
                        snprintf(errbuf, errlen, "cannot load profile %s: %s", c->profile,
                                 diag.n ? diag.msgs[0] : strerror(-r));
                        dcem_diag_clear(&diag);
                        goto fail;
                }
                snprintf(d->st.profile, sizeof(d->st.profile), "%s", c->profile);
        }
        if (!c->profile || strcmp(c->profile, "auto") != 0) {
                r = build_model(d, errbuf, errlen);
                if (r < 0)
                        goto fail;
        } else {
                size_t nids;
                r = snmp_catalog_load(d->profiles_dir, &d->cat, NULL);
                if (r < 0) {
                        snprintf(errbuf, errlen, "profile auto: cannot read the profiles in %.200s/snmp: %s",
                                 d->profiles_dir, strerror(-r));
                        goto fail;
                }
                snmp_catalog_oids(d->cat, &nids);
                r = snmp_plan_init(&d->idplan, nids, (size_t)c->max_varbinds);
                if (r < 0)
                        goto fail;
        }

        netsnmp_session s;
        snmp_sess_init(&s);
        char peername[SNMP_HOST_MAX + 32];
        snprintf(peername, sizeof(peername), strchr(host, ':') ? "udp6:[%s]:%u" : "udp:%s:%u", host, port);
        s.peername = peername;
        s.timeout = (long)(c->timeout_ns / 1000);
        s.retries = (int)c->retries;
        s.callback = on_response;
        s.callback_magic = d;
        char community[256];
        if (c->version != SNMP_V3) {
                s.version = c->version == SNMP_V1 ? SNMP_VERSION_1 : SNMP_VERSION_2c;
                if (c->community_file) {
                        r = snmp_read_secret(c->community_file, cfile, community, sizeof(community), errbuf, errlen);
                        if (r < 0)
                                goto fail;
                } else
                        snprintf(community, sizeof(community), "%s", c->community ? c->community : "public");
                s.community = (u_char *)community;
                s.community_len = strlen(community);
        } else {
                s.version = SNMP_VERSION_3;
                s.flags |= SNMP_FLAGS_DONT_PROBE;
                s.securityName = d->user;
                s.securityNameLen = strlen(d->user);
                s.securityModel = SNMP_SEC_MODEL_USM;
                s.contextName = c->context ? c->context : (char *)"";
                s.contextNameLen = strlen(s.contextName);
                s.securityLevel = c->security_level == SNMP_SEC_NOAUTH       ? SNMP_SEC_LEVEL_NOAUTH
                                  : c->security_level == SNMP_SEC_AUTHNOPRIV ? SNMP_SEC_LEVEL_AUTHNOPRIV
                                                                             : SNMP_SEC_LEVEL_AUTHPRIV;
                if (c->security_level >= SNMP_SEC_AUTHNOPRIV) {
                        size_t alen;
                        const oid *ao = auth_oid(c->auth_protocol, &alen);
                        s.securityAuthProto = snmp_duplicate_objid(ao, alen);
                        s.securityAuthProtoLen = alen;
                        r = snmp_read_secret(c->auth_password_file, cfile, secret, sizeof(secret), errbuf, errlen);
                        if (r < 0)
                                goto fail_sess;
                        s.securityAuthKeyLen = USM_AUTH_KU_LEN;
                        if (generate_Ku(s.securityAuthProto, (u_int)s.securityAuthProtoLen, (u_char *)secret,
                                        strlen(secret), s.securityAuthKey, &s.securityAuthKeyLen) != SNMPERR_SUCCESS) {
                                snprintf(errbuf, errlen, "cannot derive the auth key for user %s", d->user);
                                r = -EINVAL;
                                goto fail_sess;
                        }
                }
                if (c->security_level == SNMP_SEC_AUTHPRIV) {
                        size_t plen = 0;
                        const oid *po = priv_oid(c->priv_protocol, &plen);
                        if (!po) {
                                snprintf(errbuf, errlen, "this net-snmp build lacks that privacy protocol");
                                r = -EOPNOTSUPP;
                                goto fail_sess;
                        }
                        s.securityPrivProto = snmp_duplicate_objid(po, plen);
                        s.securityPrivProtoLen = plen;
                        r = snmp_read_secret(c->priv_password_file, cfile, secret, sizeof(secret), errbuf, errlen);
                        if (r < 0)
                                goto fail_sess;
                        s.securityPrivKeyLen = USM_PRIV_KU_LEN;
                        if (generate_Ku(s.securityAuthProto, (u_int)s.securityAuthProtoLen, (u_char *)secret,
                                        strlen(secret), s.securityPrivKey, &s.securityPrivKeyLen) != SNMPERR_SUCCESS) {
                                snprintf(errbuf, errlen, "cannot derive the privacy key for user %s", d->user);
                                r = -EINVAL;
                                goto fail_sess;
                        }
                }
                explicit_bzero(secret, sizeof(secret));
        }
        d->sess = snmp_sess_open(&s);
        explicit_bzero(community, sizeof(community));
        explicit_bzero(s.securityAuthKey, sizeof(s.securityAuthKey));
        explicit_bzero(s.securityPrivKey, sizeof(s.securityPrivKey));
        free(s.securityAuthProto);
        free(s.securityPrivProto);
        s.securityAuthProto = s.securityPrivProto = NULL;
        if (!d->sess) {
                snprintf(errbuf, errlen, "cannot open an SNMP session to %s: %s", d->peer,
                         snmp_api_errstring(snmp_errno));
                r = -EIO;
                goto fail;
        }
        /* net-snmp clears DONT_PROBE once the session is open, and would then
         * probe the engine ID synchronously on the first send: set it again,
         * the probe is ours (PH_DISCOVER). */
        if (c->version == SNMP_V3)
                snmp_sess_session(d->sess)->flags |= SNMP_FLAGS_DONT_PROBE;
        netsnmp_transport *t = snmp_sess_transport(d->sess);
        if (!t || t->sock < 0) {
                snprintf(errbuf, errlen, "the SNMP session to %s has no socket", d->peer);
                r = -EIO;
                goto fail;
        }
        d->fd = t->sock;
        netsnmp_large_fd_set_init(&d->fds, d->fd + 1);
        netsnmp_large_fd_set_init(&d->scratch, d->fd + 1);
        d->fds_init = true;
        NETSNMP_LARGE_FD_SET(d->fd, &d->fds);
        r = dcem_loop_add_fd(d->loop, d->fd, DCEM_EV_READ, on_read, d);
        if (r < 0) {
                snprintf(errbuf, errlen, "cannot watch the socket: %s", strerror(-r));
                d->fd = -1;
                goto fail;
        }
        *ret_state = d;
        return 0;
fail_sess:
        explicit_bzero(secret, sizeof(secret));
        free(s.securityAuthProto);
        free(s.securityPrivProto);
fail:
        coll_close(d);
        return r < 0 ? r : -EINVAL;
}

static int coll_poll(void *state, dcem_poll *p) {
        snmp_dev *d = state;
        if (d->poll)
                return -EBUSY;
        d->poll = p;
        d->status = 0;
        d->err[0] = 0;
        d->poll_requests = 0;
        d->st.polls++;
        vb_store_reset(&d->store);
        if (d->model)
                snmp_plan_start(&d->plan);
        if (d->cat) {
                snmp_plan_start(&d->idplan);
                d->auto_tables_done = false;
        }
        if (d->c->version == SNMP_V3 && !d->discovered)
                d->ph = PH_DISCOVER;
        else
                d->ph = d->model ? PH_SCALARS : PH_AUTO;
        step(d);
        return 0;
}

static void coll_cancel(void *state, dcem_poll *p) {
        snmp_dev *d = state;
        if (d->poll != p)
                return;
        /* Answers still on the wire are ignored (their reqid is forgotten);
         * net-snmp drops them at their own timeout. */
        d->poll = NULL;
        d->ph = PH_IDLE;
        d->reqid = 0;
}

static void coll_close(void *state) {
        snmp_dev *d = state;
        if (!d)
                return;
        if (d->timer)
                (void)dcem_loop_cancel_timer(d->loop, d->timer);
        if (d->fd >= 0)
                (void)dcem_loop_del_fd(d->loop, d->fd);
        if (d->sess)
                snmp_sess_close(d->sess);
        if (d->fds_init) {
                netsnmp_large_fd_set_cleanup(&d->fds);
                netsnmp_large_fd_set_cleanup(&d->scratch);
        }
        snmp_model_free(d->model);
        snmp_profile_free(d->prof);
        snmp_catalog_free(d->cat);
        snmp_plan_free(&d->idplan);
        snmp_plan_free(&d->plan);
        if (d->has_walk)
                snmp_walk_free(&d->walk);
        vb_store_free(&d->store);
        free(d->reqoids);
        free(d->profiles_dir);
        free(d);
}

void snmp_collector_stats(const void *state, snmp_dev_stats *ret) {
        const snmp_dev *d = state;
        *ret = d->st;
        ret->max_varbinds = d->plan.max_vb;
        ret->max_repetitions = (uint64_t)d->max_rep;
        ret->too_big_splits = d->plan.splits;
}

void snmp_collector_ident(const void *state, snmp_ident *ret) {
        const snmp_dev *d = state;
        *ret = d->ident;
}

const dcem_collector_ops dcem_snmp_collector = {
        .name = "snmp",
        .schema = &snmp_conf_schema,
        .check = snmp_conf_check,
        .init = coll_init,
        .poll = coll_poll,
        .cancel = coll_cancel,
        .close = coll_close,
};
