/* snmpagent.c - dcem-sim's SNMP side: net-snmp's agent library embedded in
 * the simulator (not an AgentX subagent of a separate snmpd).
 *
 * Why embedded: every simulated PDU or UPS must be its own agent on its own
 * UDP port (real PDUs are separate agents; collectors address them by
 * host:port and the same OIDs repeat on each), and the answer depends on
 * which port the request came in on. Behind one snmpd, all subagents share
 * its ports and OID tree, so per-device answers would need contexts, which
 * is not how these devices are polled. Embedded, one process serves them all
 * with the real net-snmp protocol engine (v1/v2c communities, v3 USM with
 * SHA/AES, GETBULK), needs no root, and stops with the simulator.
 *
 * One raw handler is registered per vendor subtree; it finds the device from
 * the session (each listening transport has its own), and answers GET and
 * GETNEXT from the device's sorted OID view (oids.c). GETBULK is turned into
 * GETNEXTs by the agent library.
 *
 * Faults: silent (datagrams read and dropped before net-snmp sees them),
 * slow (the socket is left unread until the delay has passed), exception
 * (genErr), garbage and counter faults in the values (oids.c).
 *
 * net-snmp is not thread-safe: every net-snmp call happens on the SNMP
 * thread, including initialisation and shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>

#include "sim_snmp.h"

/* Exported by libnetsnmpagent (agent/mibgroup/mibII/vacm_conf.c) but not in
 * the installed headers: the rocommunity/rouser tokens and the access check. */
void init_vacm_conf(void);

typedef struct snmp_dev {
        int dev;          /* index in the site */
        int fd;
        int port;
        int view;         /* index into views */
        int64_t hold_until_ns;
} snmp_dev;

struct sim_snmp {
        sim_rt *rt;
        char listen[64];
        int base_port;
        char dir[512];
        snmp_dev *devs;
        int ndevs;
        int dev_of_fd[FD_SETSIZE];
        sim_oid_view views[64];
        int view_profile[64], view_outlets[64];
        int nviews;
        int64_t mono0_ns;
        pthread_t thread;
        int wake[2];
        int start_err;    /* set by the thread after initialisation */
        bool started;     /* initialisation finished (ok or not) */
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stopping;
};

static sim_snmp *the; /* net-snmp's handlers carry no context pointer we own */

static snmp_dev *dev_of_session(sim_snmp *s, netsnmp_session *sess)
{
        void *sp = snmp_sess_pointer(sess);
        netsnmp_transport *t = sp ? snmp_sess_transport(sp) : NULL;
        if (!t || t->sock < 0 || t->sock >= FD_SETSIZE)
                return NULL;
        int i = s->dev_of_fd[t->sock];
        return i >= 0 ? &s->devs[i] : NULL;
}

static void set_value(netsnmp_variable_list *vb, sim_snmp *s, const sim_dev *d, const sim_oid_entry *e, int64_t t)
{
        long long iv = 0;
        char buf[160];
        uint32_t o32[SIM_OID_MAX];
        oid o[SIM_OID_MAX];
        size_t olen = 0;
        int64_t up = (sim_mono_ns() - s->mono0_ns) / 10000000;
        buf[0] = 0;
        int type = sim_oid_value(&s->rt->model, d, e, t, up, &iv, buf, sizeof(buf), o32, &olen);
        switch (type) {
        case ASN_OCTET_STR:
                snmp_set_var_typed_value(vb, ASN_OCTET_STR, buf, strlen(buf));
                break;
        case ASN_OBJECT_ID:
                for (size_t k = 0; k < olen; k++)
                        o[k] = o32[k];
                snmp_set_var_typed_value(vb, ASN_OBJECT_ID, o, olen * sizeof(oid));
                break;
        case ASN_INTEGER: {
                long v = (long)iv;
                snmp_set_var_typed_value(vb, ASN_INTEGER, &v, sizeof(v));
                break;
        }
        default: {
                u_long v = (u_long)(iv & 0xFFFFFFFF);
                snmp_set_var_typed_value(vb, (u_char)type, &v, sizeof(v));
                break;
        }
        }
}

static int handler(netsnmp_mib_handler *h, netsnmp_handler_registration *reg, netsnmp_agent_request_info *ri,
                   netsnmp_request_info *requests)
{
        sim_snmp *s = the;
        (void)h;
        if (!s || !ri->asp)
                return SNMP_ERR_GENERR;
        snmp_dev *sd = dev_of_session(s, ri->asp->session);
        const sim_oid_view *v = sd ? &s->views[sd->view] : NULL;
        sim_rt *rt = s->rt;

        pthread_mutex_lock(&rt->lock);
        int64_t t = sim_rt_sync(rt);
        const sim_dev *d = sd ? &rt->site.devs[sd->dev] : NULL;
        for (netsnmp_request_info *r = requests; r; r = r->next) {
                uint32_t q[SIM_OID_MAX + 1];
                size_t qlen = r->requestvb->name_length;
                if (r->processed)
                        continue;
                if (!d) {
                        netsnmp_set_request_error(ri, r, SNMP_ERR_GENERR);
                        continue;
                }
                if (d->fault.exception) {
                        netsnmp_set_request_error(ri, r, SNMP_ERR_GENERR);
                        continue;
                }
                if (qlen > SIM_OID_MAX)
                        qlen = SIM_OID_MAX + 1; /* longer than any of ours: compares correctly */
                for (size_t k = 0; k < qlen && k < SIM_OID_MAX + 1; k++)
                        q[k] = (uint32_t)r->requestvb->name[k];
                if (ri->mode == MODE_GET) {
                        long i = qlen <= SIM_OID_MAX ? sim_oid_find(v, q, qlen) : -1;
                        if (i < 0)
                                netsnmp_set_request_error(ri, r, SNMP_NOSUCHOBJECT);
                        else
                                set_value(r->requestvb, s, d, &v->e[i], t);
                } else if (ri->mode == MODE_GETNEXT) {
                        size_t i = sim_oid_next(v, q, qlen);
                        if (i >= v->n)
                                continue;
                        const sim_oid_entry *e = &v->e[i];
                        /* Only within this registration's subtree; else the
                         * agent asks the next one. */
                        if (e->len < reg->rootoid_len)
                                continue;
                        bool inside = true;
                        for (size_t k = 0; k < reg->rootoid_len; k++)
                                if (e->oid[k] != reg->rootoid[k])
                                        inside = false;
                        if (!inside)
                                continue;
                        oid name[SIM_OID_MAX];
                        for (size_t k = 0; k < e->len; k++)
                                name[k] = e->oid[k];
                        snmp_set_var_objid(r->requestvb, name, e->len);
                        set_value(r->requestvb, s, d, e, t);
                } else {
                        netsnmp_set_request_error(ri, r, SNMP_ERR_NOTWRITABLE);
                }
        }
        pthread_mutex_unlock(&rt->lock);
        return SNMP_ERR_NOERROR;
}

static int register_subtree(const char *name, const oid *root, size_t len)
{
        netsnmp_handler_registration *reg =
                netsnmp_create_handler_registration(name, handler, root, len, HANDLER_CAN_RONLY);
        if (!reg)
                return -ENOMEM;
        return netsnmp_register_handler(reg) == MIB_REGISTERED_OK ? 0 : -EEXIST;
}

static int write_conf(sim_snmp *s)
{
        char path[600];
        const sim_site *site = &s->rt->site;
        snprintf(path, sizeof(path), "%s/dcem-sim.conf", s->dir);
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        fprintf(f, "# written by dcem-sim; read by its embedded net-snmp agent\n");
        fprintf(f, "rocommunity %s\n", site->snmp_community);
        fprintf(f, "createUser %s SHA \"%s\" AES \"%s\"\n", site->snmp_user, site->snmp_auth_pass,
                site->snmp_priv_pass);
        fprintf(f, "rouser %s priv\n", site->snmp_user);
        int r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

static int view_for(sim_snmp *s, sim_profile p, int outlets)
{
        for (int i = 0; i < s->nviews; i++)
                if (s->view_profile[i] == (int)p && s->view_outlets[i] == outlets)
                        return i;
        if (s->nviews >= 64)
                return -E2BIG;
        int r = sim_oid_view_build(p, outlets, &s->views[s->nviews]);
        if (r < 0)
                return r;
        s->view_profile[s->nviews] = (int)p;
        s->view_outlets[s->nviews] = outlets;
        return s->nviews++;
}

/* Everything net-snmp, on the SNMP thread. */
static int snmp_init(sim_snmp *s)
{
        static const oid r_system[] = { 1, 3, 6, 1, 2, 1, 1 };
        static const oid r_ups[] = { 1, 3, 6, 1, 2, 1, 33 };
        static const oid r_apc[] = { 1, 3, 6, 1, 4, 1, 318 };
        static const oid r_raritan[] = { 1, 3, 6, 1, 4, 1, 13742 };
        static const oid r_sentry[] = { 1, 3, 6, 1, 4, 1, 1718 };
        static const oid r_eaton[] = { 1, 3, 6, 1, 4, 1, 534 };
        int r;

        setenv("MIBS", "", 1);
        setenv("SNMPCONFPATH", s->dir, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 0); /* master */
        netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_NO_ROOT_ACCESS, 1);
        netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_PORTS, "none");
        netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, s->dir);
        netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_CONFIGURATION_DIR, s->dir);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
        snmp_disable_log();
        snmp_enable_stderrlog();
        if (getenv("DCEM_SIM_SNMP_DEBUG")) { /* net-snmp debug tokens, e.g. "read_config" */
                debug_register_tokens(getenv("DCEM_SIM_SNMP_DEBUG"));
                snmp_set_do_debugging(1);
        }

        {
                char no_smux[] = "-smux"; /* no SMUX listener on port 199 */
                add_to_init_list(no_smux);
        }
        if (init_agent("dcem-sim") != 0)
                return -EIO;
        init_vacm_conf();
        if ((r = register_subtree("dcem-system", r_system, OID_LENGTH(r_system))) < 0 ||
            (r = register_subtree("dcem-ups-mib", r_ups, OID_LENGTH(r_ups))) < 0 ||
            (r = register_subtree("dcem-apc", r_apc, OID_LENGTH(r_apc))) < 0 ||
            (r = register_subtree("dcem-raritan", r_raritan, OID_LENGTH(r_raritan))) < 0 ||
            (r = register_subtree("dcem-sentry4", r_sentry, OID_LENGTH(r_sentry))) < 0 ||
            (r = register_subtree("dcem-eaton", r_eaton, OID_LENGTH(r_eaton))) < 0)
                return r;
        init_snmp("dcem-sim");
        if (init_master_agent() != 0)
                return -EIO;

        for (int i = 0; i < s->ndevs; i++) {
                snmp_dev *sd = &s->devs[i];
                char spec[128];
                int want = s->base_port ? s->base_port + i : 0;
                snprintf(spec, sizeof(spec), "udp:%s:%d", s->listen, want);
                netsnmp_transport *t = netsnmp_transport_open_server("snmp", spec);
                if (!t)
                        return -EADDRINUSE;
                if (t->sock < 0 || t->sock >= FD_SETSIZE) {
                        netsnmp_transport_free(t);
                        return -EMFILE;
                }
                struct sockaddr_in sa;
                socklen_t sl = sizeof(sa);
                if (getsockname(t->sock, (struct sockaddr *)&sa, &sl) < 0) {
                        netsnmp_transport_free(t);
                        return -errno;
                }
                sd->fd = t->sock;
                sd->port = ntohs(sa.sin_port);
                s->dev_of_fd[t->sock] = i;
                if (netsnmp_register_agent_nsap(t) <= 0)
                        return -EIO;
        }
        return 0;
}

static void *snmp_thread(void *arg)
{
        sim_snmp *s = arg;
        int r = snmp_init(s);

        pthread_mutex_lock(&s->mu);
        s->start_err = r;
        s->started = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (r < 0) {
                snmp_shutdown("dcem-sim");
                return NULL;
        }
        for (;;) {
                fd_set rfds;
                int maxfd = 0, block = 0;
                struct timeval tv = { 0, 100000 };
                int64_t now = sim_mono_ns();
                FD_ZERO(&rfds);
                snmp_select_info(&maxfd, &rfds, &tv, &block);
                if (tv.tv_sec > 0 || tv.tv_usec > 100000 || block)
                        tv = (struct timeval){ 0, 100000 };
                /* Devices answering slowly: leave their datagrams queued. */
                pthread_mutex_lock(&s->rt->lock);
                for (int i = 0; i < s->ndevs; i++) {
                        snmp_dev *sd = &s->devs[i];
                        if (sd->hold_until_ns > now) {
                                FD_CLR(sd->fd, &rfds);
                                int64_t us = (sd->hold_until_ns - now) / 1000 + 1;
                                if (us < (int64_t)tv.tv_sec * 1000000 + tv.tv_usec)
                                        tv = (struct timeval){ (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };
                        }
                }
                pthread_mutex_unlock(&s->rt->lock);
                FD_SET(s->wake[0], &rfds);
                if (s->wake[0] >= maxfd)
                        maxfd = s->wake[0] + 1;
                int n = select(maxfd, &rfds, NULL, NULL, &tv);
                if (n < 0 && errno != EINTR)
                        break;
                if (n > 0 && FD_ISSET(s->wake[0], &rfds))
                        break;
                if (n > 0) {
                        now = sim_mono_ns();
                        pthread_mutex_lock(&s->rt->lock);
                        for (int i = 0; i < s->ndevs; i++) {
                                snmp_dev *sd = &s->devs[i];
                                sim_dev *d = &s->rt->site.devs[sd->dev];
                                if (!FD_ISSET(sd->fd, &rfds))
                                        continue;
                                if (d->fault.silent) {
                                        char junk[2048];
                                        while (recv(sd->fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0) {
                                                d->snmp_requests++;
                                                atomic_fetch_add(&s->rt->snmp_requests, 1);
                                                atomic_fetch_add(&s->rt->snmp_dropped, 1);
                                        }
                                        FD_CLR(sd->fd, &rfds);
                                        n--;
                                } else if (d->fault.delay_ms > 0) {
                                        if (sd->hold_until_ns == 0) {
                                                sd->hold_until_ns = now + d->fault.delay_ms * 1000000;
                                                FD_CLR(sd->fd, &rfds);
                                                n--;
                                        } else {
                                                sd->hold_until_ns = 0; /* its time has come */
                                        }
                                } else {
                                        sd->hold_until_ns = 0;
                                }
                                if (FD_ISSET(sd->fd, &rfds)) {
                                        /* snmp_read() takes one datagram from each readable socket */
                                        d->snmp_requests++;
                                        atomic_fetch_add(&s->rt->snmp_requests, 1);
                                }
                        }
                        pthread_mutex_unlock(&s->rt->lock);
                        if (n > 0)
                                snmp_read(&rfds);
                } else if (n == 0) {
                        snmp_timeout();
                }
                run_alarms();
                netsnmp_check_outstanding_agent_requests();
        }
        snmp_shutdown("dcem-sim");
        return NULL;
}

int sim_snmp_start(sim_rt *rt, const char *listen_addr, int base_port, const char *run_dir, sim_snmp **ret)
{
        sim_site *site = &rt->site;
        sim_snmp *s;
        int r, n = 0;

        for (size_t i = 0; i < site->ndevs; i++)
                n += sim_profile_is_snmp(site->devs[i].profile);
        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        if (the)
                return -EBUSY; /* net-snmp's agent is one per process */
        if (strlen(listen_addr) >= sizeof(s->listen) || strlen(run_dir) + 16 >= sizeof(s->dir))
                return -ENAMETOOLONG;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->rt = rt;
        s->base_port = base_port;
        s->wake[0] = s->wake[1] = -1;
        snprintf(s->listen, sizeof(s->listen), "%s", listen_addr);
        snprintf(s->dir, sizeof(s->dir), "%s/snmp", run_dir);
        for (int i = 0; i < FD_SETSIZE; i++)
                s->dev_of_fd[i] = -1;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        s->mono0_ns = sim_mono_ns();
        s->devs = calloc((size_t)n, sizeof(*s->devs));
        if (!s->devs) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < site->ndevs; i++) {
                if (!sim_profile_is_snmp(site->devs[i].profile))
                        continue;
                snmp_dev *sd = &s->devs[s->ndevs++];
                sd->dev = (int)i;
                sd->fd = -1;
                r = view_for(s, site->devs[i].profile, site->devs[i].outlets);
                if (r < 0)
                        goto fail;
                sd->view = r;
        }
        if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                goto fail;
        }
        if ((r = write_conf(s)) < 0)
                goto fail;
        if (pipe2(s->wake, O_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        the = s;
        if ((r = -pthread_create(&s->thread, NULL, snmp_thread, s)) < 0) {
                the = NULL;
                goto fail;
        }
        pthread_mutex_lock(&s->mu);
        while (!s->started)
                pthread_cond_wait(&s->cv, &s->mu);
        r = s->start_err;
        pthread_mutex_unlock(&s->mu);
        if (r < 0) {
                pthread_join(s->thread, NULL);
                the = NULL;
                goto fail;
        }
        for (int i = 0; i < s->ndevs; i++)
                site->devs[s->devs[i].dev].port = s->devs[i].port;
        *ret = s;
        return 0;
fail:
        if (s->wake[0] >= 0)
                close(s->wake[0]);
        if (s->wake[1] >= 0)
                close(s->wake[1]);
        for (int i = 0; i < s->nviews; i++)
                sim_oid_view_free(&s->views[i]);
        free(s->devs);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return r;
}

void sim_snmp_stop(sim_snmp *s)
{
        char path[600];
        if (!s)
                return;
        if (write(s->wake[1], "x", 1) < 0) {
                /* cannot be full */
        }
        pthread_join(s->thread, NULL);
        the = NULL;
        close(s->wake[0]);
        close(s->wake[1]);
        for (int i = 0; i < s->nviews; i++)
                sim_oid_view_free(&s->views[i]);
        snprintf(path, sizeof(path), "%s/dcem-sim.conf", s->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/cert_indexes", s->dir);
        rmdir(path); /* created by net-snmp's TLS support, empty */
        rmdir(s->dir); /* only if net-snmp left nothing behind */
        free(s->devs);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
}
