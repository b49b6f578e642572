/* main.c - dcem-sim: a simulated data center that speaks real Modbus TCP and
 * real SNMP on 127.0.0.1, with physically consistent numbers and their exact
 * ground truth. See docs/SIM.md.
 *
 * Threads: Modbus (mbserver.c), SNMP (snmpagent.c), and this one: the
 * control socket, signals, and a 100 ms tick that keeps the model (and the
 * truth file) moving when nobody asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dcem/schema.h"
#include "sim.h"
#include "sim_agentconf.h"
#include "sim_control.h"
#include "sim_mb.h"
#include "sim_regs.h"
#include "sim_rt.h"
#include "sim_site.h"
#include "sim_snmp.h"

#define MAX_WANT_PORTS 64
#define CONTROL_CLIENTS 16

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
        stop_signal = sig;
}

static void usage(FILE *f)
{
        fputs("Usage: dcem-sim [-c SITE.yaml | --scale N] [options]\n"
              "A simulated data center speaking Modbus TCP and SNMP on 127.0.0.1 (docs/SIM.md).\n\n"
              "  -c, --config FILE          site description (conf/sim/demo-site.yaml)\n"
              "      --scale N              a generated site of N devices (12..20000) instead\n"
              "      --own-ports            every Modbus meter on a TCP port of its own (no gateways)\n"
              "      --modbus-holes exception|zero  how Modbus meters answer a read covering undefined\n"
              "                             registers inside their map's span (default: the site's, exception)\n"
              "      --seed N               noise seed (overrides the site's)\n"
              "      --speed K              simulated seconds per wall second (default 1; 0 = frozen,\n"
              "                             time moves only with the control command 'advance')\n"
              "      --start TIME           simulated start: now (default), an epoch in ms, or\n"
              "                             YYYY-MM-DDTHH:MM:SSZ\n"
              "      --listen ADDR          listen address (default 127.0.0.1)\n"
              "      --modbus-port P        port of the next Modbus listening port (repeat; default free)\n"
              "      --snmp-port-base P     SNMP agents on P, P+1, ... (default: free ports)\n"
              "      --no-snmp              Modbus only\n"
              "      --truth FILE           append ground-truth JSON lines (one per record interval)\n"
              "      --truth-wall D         also one wall_record line per window D of the UTC wall clock\n"
              "                             (the energies between the simulated instants its bounds map to)\n"
              "      --ready-file FILE      write JSON with the ports once listening\n"
              "      --run-dir DIR          control socket and SNMP state (default: a new /tmp dir)\n"
              "      --print-agent-config FILE  write a dcem-agent config polling these devices\n"
              "      --agent-interval D     its poll interval (default 10s)\n"
              "      --agent-state-dir DIR  its state_dir (default RUN_DIR/agent-state)\n"
              "      --agent-snmp-v3        make it poll SNMP with v3 authPriv (default v2c)\n"
              "      --agent-profiles-dir DIR  its profiles_dir (default: this source tree's conf/profiles\n"
              "                             when it exists, else the agent's installed default)\n"
              "      --check                validate the site and exit\n"
              "      --site-doc             print the site file reference (Markdown) and exit\n"
              "  -h, --help, --version\n",
              f);
}

/* Raise the soft descriptor limit to the hard one: every Modbus port and
 * client connection is a descriptor (thousands with --own-ports). */
static void raise_nofile(void)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the limits stay as they were */
        }
}

/* --start: "now", epoch milliseconds or YYYY-MM-DDTHH:MM:SSZ. 0 or -EINVAL. */
static int parse_start(const char *s, int64_t *ret_ms)
{
        const char *why;
        int64_t v;
        if (strcmp(s, "now") == 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                *ret_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
                return 0;
        }
        if (dcem_parse_int(s, &v, &why) == 0) {
                *ret_ms = v;
                return 0;
        }
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return -EINVAL;
        *ret_ms = (int64_t)timegm(&tm) * 1000;
        return 0;
}

/* Write the ready file (JSON, via path.tmp + rename, so a reader never sees
 * half of it). 0 or -errno. */
static int write_ready(const char *path, const sim_rt *rt, const sim_mb *mb, const char *control,
                       const char *truth, const char *agent_conf)
{
        char tmp[4200];
        json_t *o = json_object(), *ports = json_array(), *devs = json_array();
        json_object_set_new(o, "pid", json_integer(getpid()));
        for (int i = 0; i < sim_mb_nports(mb); i++)
                json_array_append_new(ports, json_integer(sim_mb_port(mb, i)));
        json_object_set_new(o, "modbus_ports", ports);
        for (size_t i = 0; i < rt->site.ndevs; i++) {
                const sim_dev *d = &rt->site.devs[i];
                json_t *e = json_object();
                json_object_set_new(e, "name", json_string(d->name));
                json_object_set_new(e, "kind", json_string(sim_kind_name(d->kind)));
                json_object_set_new(e, "profile", json_string(sim_profile_name(d->profile)));
                json_object_set_new(e, "protocol", json_string(sim_profile_is_snmp(d->profile) ? "snmp" : "modbus"));
                json_object_set_new(e, "port", json_integer(d->port));
                if (!sim_profile_is_snmp(d->profile))
                        json_object_set_new(e, "unit", json_integer(d->unit));
                if (d->kind == SIM_K_IT)
                        json_object_set_new(e, "outlets", json_integer(d->outlets));
                json_array_append_new(devs, e);
        }
        json_object_set_new(o, "devices", devs);
        json_object_set_new(o, "control", json_string(control));
        json_object_set_new(o, "truth", truth ? json_string(truth) : json_null());
        json_object_set_new(o, "agent_config", agent_conf ? json_string(agent_conf) : json_null());
        json_object_set_new(o, "start_ms", json_integer(rt->start_ms));
        json_object_set_new(o, "speed", json_real(rt->speed));
        json_object_set_new(o, "modbus_holes", json_string(sim_holes_name(rt->site.modbus_holes)));
        json_object_set_new(o, "snmp_community", json_string(rt->site.snmp_community));
        json_object_set_new(o, "snmp_user", json_string(rt->site.snmp_user));
        json_object_set_new(o, "snmp_auth_password", json_string(rt->site.snmp_auth_pass));
        json_object_set_new(o, "snmp_priv_password", json_string(rt->site.snmp_priv_pass));
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int r = json_dump_file(o, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
        json_decref(o);
        if (r < 0)
                return -EIO;
        return rename(tmp, path) < 0 ? -errno : 0;
}

/* Listen on a unix socket at path (replacing a stale one). The fd, or -errno. */
static int control_listen(const char *path)
{
        struct sockaddr_un sa;
        int fd;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        unlink(path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

typedef struct ctl_client {
        int fd;
        size_t len;
        char buf[SIM_CONTROL_LINE_MAX];
} ctl_client;

/* Read what the client sent and execute every complete line (under the
 * runtime lock), answering each with one JSON line. Returns false when the
 * connection must be closed (EOF, error, or a line over the limit). */
static bool control_read(sim_rt *rt, ctl_client *c)
{
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (n <= 0)
                return false;
        c->len += (size_t)n;
        for (;;) {
                char *nl = memchr(c->buf, '\n', c->len);
                if (!nl) {
                        if (c->len >= sizeof(c->buf) - 1)
                                return false; /* a line longer than the limit */
                        return true;
                }
                *nl = 0;
                pthread_mutex_lock(&rt->lock);
                char *out = sim_control_exec(rt, c->buf);
                pthread_mutex_unlock(&rt->lock);
                if (out) {
                        size_t len = strlen(out);
                        out[len] = '\n'; /* replaces the NUL; written with its length */
                        ssize_t w = write(c->fd, out, len + 1);
                        free(out);
                        if (w < 0)
                                return false;
                }
                size_t used = (size_t)(nl - c->buf) + 1;
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
        }
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "scale", required_argument, NULL, 1 },
                { "seed", required_argument, NULL, 2 },
                { "speed", required_argument, NULL, 3 },
                { "start", required_argument, NULL, 4 },
                { "listen", required_argument, NULL, 5 },
                { "modbus-port", required_argument, NULL, 6 },
                { "snmp-port-base", required_argument, NULL, 7 },
                { "no-snmp", no_argument, NULL, 8 },
                { "truth", required_argument, NULL, 9 },
                { "ready-file", required_argument, NULL, 10 },
                { "run-dir", required_argument, NULL, 11 },
                { "print-agent-config", required_argument, NULL, 12 },
                { "agent-interval", required_argument, NULL, 13 },
                { "agent-state-dir", required_argument, NULL, 14 },
                { "agent-snmp-v3", no_argument, NULL, 15 },
                { "check", no_argument, NULL, 16 },
                { "site-doc", no_argument, NULL, 17 },
                { "version", no_argument, NULL, 18 },
                { "agent-profiles-dir", required_argument, NULL, 19 },
                { "own-ports", no_argument, NULL, 20 },
                { "truth-wall", required_argument, NULL, 21 },
                { "modbus-holes", required_argument, NULL, 22 },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        const char *config = NULL, *listen_addr = "127.0.0.1", *truth_path = NULL, *ready = NULL, *run_dir = NULL,
                   *agent_conf = NULL, *agent_interval = "10s", *agent_state = NULL, *why = NULL,
                   *agent_profiles = NULL;
        int64_t scale = 0, seed = -1, start_ms = -1, snmp_base = 0, v, truth_wall_ns = 0;
        double speed = 1.0;
        bool no_snmp = false, check = false, agent_v3 = false, own_ports = false;
        int want[MAX_WANT_PORTS], nwant = 0, c, r, holes = -1;
        char run_buf[256], control[512], state_buf[600];
        sim_rt rt;
        sim_mb *mb = NULL;
        sim_snmp *snmp = NULL;
        dcem_diag diag = { 0 };

        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c': config = optarg; break;
                case 1:
                        if (dcem_parse_int(optarg, &scale, &why) < 0 || scale < 12 || scale > SIM_MAX_DEVICES) {
                                fprintf(stderr, "dcem-sim: --scale: 12..%d devices\n", SIM_MAX_DEVICES);
                                return 1;
                        }
                        break;
                case 2:
                        if (dcem_parse_int(optarg, &seed, &why) < 0 || seed < 0) {
                                fprintf(stderr, "dcem-sim: --seed: a non-negative integer\n");
                                return 1;
                        }
                        break;
                case 3:
                        if (dcem_parse_double(optarg, &speed, &why) < 0 || speed < 0 || speed > 1e6) {
                                fprintf(stderr, "dcem-sim: --speed: 0..1000000\n");
                                return 1;
                        }
                        break;
                case 4:
                        if (parse_start(optarg, &start_ms) < 0) {
                                fprintf(stderr, "dcem-sim: --start: now, epoch ms or YYYY-MM-DDTHH:MM:SSZ\n");
                                return 1;
                        }
                        break;
                case 5: listen_addr = optarg; break;
                case 6:
                        if (nwant >= MAX_WANT_PORTS || dcem_parse_int(optarg, &v, &why) < 0 || v < 0 || v > 65535) {
                                fprintf(stderr, "dcem-sim: --modbus-port: 0..65535, at most %d times\n", MAX_WANT_PORTS);
                                return 1;
                        }
                        want[nwant++] = (int)v;
                        break;
                case 7:
                        if (dcem_parse_int(optarg, &snmp_base, &why) < 0 || snmp_base < 1 || snmp_base > 65535) {
                                fprintf(stderr, "dcem-sim: --snmp-port-base: 1..65535\n");
                                return 1;
                        }
                        break;
                case 8: no_snmp = true; break;
                case 9: truth_path = optarg; break;
                case 10: ready = optarg; break;
                case 11: run_dir = optarg; break;
                case 12: agent_conf = optarg; break;
                case 13: agent_interval = optarg; break;
                case 14: agent_state = optarg; break;
                case 15: agent_v3 = true; break;
                case 19: agent_profiles = optarg; break;
                case 20: own_ports = true; break;
                case 21:
                        if (dcem_parse_duration(optarg, &truth_wall_ns, &why) < 0 || truth_wall_ns < 1000000 ||
                            truth_wall_ns > INT64_C(86400000000000) || truth_wall_ns % 1000000 != 0) {
                                fprintf(stderr, "dcem-sim: --truth-wall: a duration of whole ms, 1ms .. 1d\n");
                                return 1;
                        }
                        break;
                case 22:
                        if ((holes = sim_holes_from_name(optarg)) < 0) {
                                fprintf(stderr, "dcem-sim: --modbus-holes: exception or zero\n");
                                return 1;
                        }
                        break;
                case 16: check = true; break;
                case 17: sim_site_doc(stdout); return 0;
                case 18: puts("dcem-sim 0.1.0"); return 0;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (truth_wall_ns && (!truth_path || !(speed > 0))) {
                fprintf(stderr, "dcem-sim: --truth-wall needs --truth FILE and a --speed above 0\n");
                return 1;
        }
        if (optind < argc || (!config && !scale) || (config && scale)) {
                fprintf(stderr, "dcem-sim: give exactly one of -c SITE.yaml or --scale N\n");
                usage(stderr);
                return 1;
        }

        memset(&rt, 0, sizeof(rt));
        sim_site_defaults(&rt.site);
        if (config) {
                r = sim_site_load(config, &rt.site, &diag);
                if (r < 0) {
                        for (size_t i = 0; i < diag.n; i++)
                                fprintf(stderr, "%s\n", diag.msgs[i]);
                        if (diag.dropped)
                                fprintf(stderr, "(%zu more errors)\n", diag.dropped);
                        if (!diag.n)
                                fprintf(stderr, "dcem-sim: %s: %s\n", config, strerror(-r));
                        dcem_diag_clear(&diag);
                        return 1;
                }
        } else {
                r = sim_site_generate(&rt.site, (size_t)scale, seed >= 0 ? (uint64_t)seed : 1);
                if (r < 0) {
                        fprintf(stderr, "dcem-sim: cannot generate a site of %lld devices: %s\n", (long long)scale,
                                strerror(-r));
                        return 1;
                }
        }
        if (seed >= 0)
                rt.site.seed = (uint64_t)seed;
        if (holes >= 0)
                rt.site.modbus_holes = (sim_holes)holes;
        if (own_ports && (r = sim_site_own_ports(&rt.site)) < 0) {
                fprintf(stderr, "dcem-sim: --own-ports: %s\n", strerror(-r));
                sim_site_free(&rt.site);
                return 1;
        }
        if (check) {
                printf("%s: %zu devices, %d Modbus ports, OK\n", config ? config : "generated", rt.site.ndevs,
                       rt.site.nports);
                sim_site_free(&rt.site);
                return 0;
        }
        if (!run_dir) {
                snprintf(run_buf, sizeof(run_buf), "/tmp/dcem-sim-XXXXXX");
                if (!mkdtemp(run_buf)) {
                        fprintf(stderr, "dcem-sim: mkdtemp: %s\n", strerror(errno));
                        return 1;
                }
                run_dir = run_buf;
        } else if (mkdir(run_dir, 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "dcem-sim: %s: %s\n", run_dir, strerror(errno));
                return 1;
        }
        snprintf(control, sizeof(control), "%s/control.sock", run_dir);

        FILE *truth = NULL;
        if (truth_path && !(truth = fopen(truth_path, "ae"))) {
                fprintf(stderr, "dcem-sim: %s: %s\n", truth_path, strerror(errno));
                return 1;
        }
        if (start_ms < 0)
                parse_start("now", &start_ms);
        r = sim_rt_init(&rt, start_ms, speed, truth);
        if (r < 0) {
                fprintf(stderr, "dcem-sim: cannot start the model: %s\n", strerror(-r));
                return 1;
        }
        if (truth_wall_ns)
                (void)sim_rt_truth_wall(&rt, truth_wall_ns / 1000000); /* arguments checked above */
        sim_regs_setup(&rt.model);

        signal(SIGPIPE, SIG_IGN);
        raise_nofile();
        /* SNMP first: net-snmp's agent waits with select(), so its sockets
         * must get descriptors below FD_SETSIZE before thousands of Modbus
         * ports and clients take the low numbers (the Modbus side has no
         * such ceiling: mbserver.c). */
        if (!no_snmp) {
                r = sim_snmp_start(&rt, listen_addr, (int)snmp_base, run_dir, &snmp);
                if (r < 0) {
                        if (r == -EMFILE)
                                fprintf(stderr, "dcem-sim: SNMP: too many agents for one process (net-snmp's agent "
                                                "waits with select(): every agent's socket must be below "
                                                "descriptor %d; about 1,000 agents; use --no-snmp or fewer)\n",
                                        FD_SETSIZE);
                        else
                                fprintf(stderr, "dcem-sim: SNMP on %s: %s\n", listen_addr, strerror(-r));
                        goto out;
                }
        }
        r = sim_mb_start(&rt, listen_addr, want, nwant, &mb);
        if (r < 0) {
                fprintf(stderr, "dcem-sim: Modbus on %s: %s\n", listen_addr, strerror(-r));
                goto out;
        }
        /* After net-snmp's initialisation, which installs handlers of its own. */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        int cfd = control_listen(control);
        if (cfd < 0) {
                r = cfd;
                fprintf(stderr, "dcem-sim: control socket %s: %s\n", control, strerror(-r));
                goto out;
        }
        if (agent_conf) {
                if (!agent_state) {
                        snprintf(state_buf, sizeof(state_buf), "%s/agent-state", run_dir);
                        agent_state = state_buf;
                }
                if (!agent_profiles && access(DCEM_SIM_SOURCE_PROFILES, R_OK) == 0)
                        agent_profiles = DCEM_SIM_SOURCE_PROFILES;
                sim_agentconf_opts ao = { listen_addr, agent_interval, agent_state, agent_v3, agent_profiles };
                r = sim_agentconf_write(&rt.site, agent_conf, &ao);
                if (r < 0) {
                        fprintf(stderr, "dcem-sim: %s: %s\n", agent_conf, strerror(-r));
                        close(cfd);
                        goto out;
                }
        }
        if (ready && (r = write_ready(ready, &rt, mb, control, truth_path, agent_conf)) < 0) {
                fprintf(stderr, "dcem-sim: %s: %s\n", ready, strerror(-r));
                close(cfd);
                goto out;
        }
        fprintf(stderr, "dcem-sim: site %s, %zu devices, %d Modbus port(s) from %d, control %s\n", rt.site.name,
                rt.site.ndevs, sim_mb_nports(mb), sim_mb_port(mb, 0), control);

        ctl_client clients[CONTROL_CLIENTS];
        int nclients = 0;
        while (!stop_signal) {
                struct pollfd pfd[1 + CONTROL_CLIENTS];
                pfd[0] = (struct pollfd){ .fd = cfd, .events = POLLIN };
                for (int i = 0; i < nclients; i++)
                        pfd[1 + i] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
                int n = poll(pfd, (nfds_t)(1 + nclients), 100);
                if (n < 0 && errno != EINTR)
                        break;
                pthread_mutex_lock(&rt.lock);
                sim_rt_sync(&rt);
                pthread_mutex_unlock(&rt.lock);
                if (n <= 0)
                        continue;
                for (int i = nclients - 1; i >= 0; i--) {
                        if (pfd[1 + i].revents && !control_read(&rt, &clients[i])) {
                                close(clients[i].fd);
                                clients[i] = clients[--nclients];
                        }
                }
                if (pfd[0].revents & POLLIN) {
                        int fd = accept4(cfd, NULL, NULL, SOCK_CLOEXEC);
                        if (fd >= 0 && nclients < CONTROL_CLIENTS) {
                                clients[nclients].fd = fd;
                                clients[nclients].len = 0;
                                nclients++;
                        } else if (fd >= 0) {
                                close(fd);
                        }
                }
        }
        for (int i = 0; i < nclients; i++)
                close(clients[i].fd);
        close(cfd);
        unlink(control);
        r = 0;
out:
        sim_snmp_stop(snmp);
        sim_mb_stop(mb);
        if (rt.truth) {
                pthread_mutex_lock(&rt.lock);
                char *s = sim_rt_truth_json(&rt, "final");
                pthread_mutex_unlock(&rt.lock);
                if (s) {
                        fprintf(rt.truth, "%s\n", s);
                        free(s);
                }
        }
        sim_rt_fini(&rt);
        sim_site_free(&rt.site);
        if (run_dir == run_buf)
                rmdir(run_buf); /* only if empty (SNMP state removed by its stop) */
        return r < 0 ? 1 : 0;
}
