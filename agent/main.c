/* main.c - dcem-agent: arguments, signals, systemd notification, and the
 * main loop. The pipeline itself is agent.c; configuration is config.c.
 *
 *   dcem-agent -c FILE            run (Type=notify service)
 *   dcem-agent -c FILE --check-config   validate: exit 0, or 1 listing every error
 *   dcem-agent -c FILE --once     poll every device once, print JSON lines: exit 0, or 2 if some failed
 *   dcem-agent --config-doc       print the configuration reference (docs/CONFIG.md)
 *   dcem-agent probe URL          identify a device, print a ready-to-paste device block
 *   dcem-agent ledger keygen|verify   the certification ledger's key and its verification
 */
#include <MQTTAsync.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include "agent.h"
#include "dcem/build_config.h"
#include "dcem/config.h"
#include "dcem/loop.h"
#include "log.h"
#include "modbus/modbus_probe.h"
#include "snmp/snmp_probe.h"
#include "ledger_cli.h"

#define EXIT_CONFIG 1
#define EXIT_SOME_FAILED 2
#define DRAIN_SECONDS 10

typedef struct runtime {
        dcem_loop *loop;
        dcem_agent *agent;
        const char *config_path;
        int sigfd;
        bool stopping;
        uint64_t watchdog_usec;
} runtime;

static void usage(FILE *out) {
        fprintf(out,
                "Usage: dcem-agent [-c FILE] [--check-config | --once]\n"
                "       dcem-agent probe modbus://HOST[:PORT]?unit=N | rtu:///dev/ttyUSB0?baud=9600&parity=E&unit=N\n"
                "       dcem-agent probe [--profiles-dir DIR] snmp://HOST[:PORT]?version=2c&community=C\n"
                "                        (v3: ?version=3&user=U&security_level=authPriv&auth_protocol=SHA-256\n"
                "                         &auth_password_file=F&priv_protocol=AES-128&priv_password_file=F)\n"
                "       dcem-agent ledger keygen PATH | ledger verify [--key PUB.pem] FILE...\n"
                "       dcem-agent --config-doc | --version | --help\n"
                "\n"
                "Polls energy meters, PDUs, UPSes and cooling units (Modbus, SNMP), accounts\n"
                "their energy and publishes readings and figures (PUE, green share, carbon).\n"
                "\n"
                "  -c, --config FILE   configuration file (default %s/dcem.yaml)\n"
                "      --check-config  validate the configuration, print every error as\n"
                "                      FILE:LINE:COL: message; exit 0 if valid, 1 if not\n"
                "      --once          poll every device once, print the samples as JSON lines\n"
                "                      on stdout; exit 0 if every device answered, 2 if not\n"
                "      --config-doc    print the configuration reference (Markdown)\n"
                "      --log-level L   err, warning, notice, info or debug (overrides the file)\n"
                "  -V, --version       print the version\n"
                "  -h, --help          print this help\n"
                "\n"
                "Signals: SIGHUP reloads the configuration (an invalid one is refused and the\n"
                "running one kept), SIGTERM/SIGINT drain queues and exit.\n",
                DCEM_SYSCONFDIR);
}

static int parse_level(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        for (int i = 3; i < 8; i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        return -1;
}

/* Load a configuration, printing every error. NULL if invalid. */
static dcem_config *load_config(const char *path, bool to_log) {
        dcem_diag diag = { 0 };
        dcem_config *cfg = NULL;
        int r = dcem_config_load(path, &cfg, &diag);
        for (size_t i = 0; i < diag.n; i++) {
                if (to_log)
                        log_error("%s", diag.msgs[i]);
                else
                        fprintf(stderr, "%s\n", diag.msgs[i]);
        }
        if (diag.dropped) {
                if (to_log)
                        log_error("%s: %zu more errors not shown", path, diag.dropped);
                else
                        fprintf(stderr, "%s: %zu more errors not shown\n", path, diag.dropped);
        }
        if (r < 0 && diag.n == 0) {
                if (to_log)
                        log_error("%s: %s", path, strerror(-r));
                else
                        fprintf(stderr, "%s: %s\n", path, strerror(-r));
        }
        dcem_diag_clear(&diag);
        return r < 0 ? NULL : cfg;
}

static void reload(runtime *rt) {
        sd_notify(0, "RELOADING=1\nSTATUS=Reloading configuration");
        log_notice("SIGHUP: reloading %s", rt->config_path);
        dcem_config *cfg = load_config(rt->config_path, true);
        if (!cfg) {
                log_error("%s is invalid: the running configuration is kept", rt->config_path);
        } else if (dcem_agent_reload(rt->agent, cfg) < 0) {
                log_error("%s could not be started: the running configuration is kept", rt->config_path);
        } else {
                const dcem_config *c = dcem_agent_config(rt->agent);
                log_notice("reloaded %s: %zu devices", rt->config_path, dcem_config_ndevices(c));
        }
        sd_notifyf(0, "READY=1\nSTATUS=Polling %zu devices", dcem_config_ndevices(dcem_agent_config(rt->agent)));
}

static void on_signal(dcem_loop *l, int fd, uint32_t events, void *ud) {
        runtime *rt = ud;
        (void)events;
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof si) == sizeof si) {
                switch (si.ssi_signo) {
                case SIGHUP:
                        reload(rt);
                        break;
                case SIGTERM:
                case SIGINT:
                        log_notice("%s: draining and exiting", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                        rt->stopping = true;
                        dcem_loop_stop(l);
                        break;
                default:
                        break;
                }
        }
}

static void on_watchdog(dcem_loop *l, uint64_t id, void *ud) {
        runtime *rt = ud;
        (void)id;
        sd_notify(0, "WATCHDOG=1");
        int64_t period = (int64_t)rt->watchdog_usec * 1000 / 2;
        dcem_loop_add_timer(l, dcem_clock_mono(dcem_loop_clock(l)) + period, on_watchdog, rt, NULL);
}

static void handled_signals(sigset_t *set) {
        sigemptyset(set);
        sigaddset(set, SIGHUP);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
}

/* Block the signals the loop handles before any thread exists (paho and the
 * RTU workers start threads that inherit the mask: a thread with SIGTERM
 * unblocked would take the default action and kill the process undrained). */
static int block_signals(void) {
        sigset_t set;
        handled_signals(&set);
        return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -EINVAL;
}

static int setup_signals(runtime *rt) {
        sigset_t set;
        handled_signals(&set);
        rt->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (rt->sigfd < 0)
                return -errno;
        return dcem_loop_add_fd(rt->loop, rt->sigfd, DCEM_EV_READ, on_signal, rt);
}

/* Process-wide library settings, before any library is used:
 * - paho-mqtt-c does not initialise OpenSSL itself (SSL_library_init, error
 *   strings, every algorithm): OpenSSL 3 initialises what a TLS connection
 *   uses on first use, so mqtts:// works the same, and an agent without TLS
 *   does not touch ~1.3 MB of libcrypto pages (docs/BENCHMARKS.md, memory).
 *   Must run before the first MQTTAsync call. */
static void init_libraries(void) {
        MQTTAsync_init_options io = MQTTAsync_init_options_initializer;
        io.do_openssl_init = 0;
        MQTTAsync_global_init(&io);
}

/* `dcem-agent probe [--profiles-dir DIR] URL`: 0 when the device was
 * identified, 2 when it was reached but not recognised or not reached, 1 for
 * a bad URL or usage. */
static int probe_main(int argc, char **argv) {
        const char *profiles_dir = DCEM_PROFILES_DIR;
        int ai = 2;
        if (argc == 5 && (strcmp(argv[2], "--profiles-dir") == 0 || strcmp(argv[2], "-p") == 0)) {
                profiles_dir = argv[3];
                ai = 4;
        }
        if (argc != ai + 1) {
                fprintf(stderr, "Usage: dcem-agent probe modbus://HOST[:PORT]?unit=N | tcp://HOST[:PORT]?unit=N |\n"
                                "                        rtu:///dev/ttyUSB0?baud=9600&parity=E&unit=N\n"
                                "       dcem-agent probe [--profiles-dir DIR] snmp://HOST[:PORT]?version=2c&community=C\n"
                                "                        (v3: version=3&user=U&security_level=authPriv&auth_protocol=SHA\n"
                                "                         &auth_password_file=FILE&priv_protocol=AES-128&priv_password_file=FILE;\n"
                                "                         passwords only from files, never in the URL)\n");
                return EXIT_CONFIG;
        }
        const char *url = argv[ai];
        char err[512] = "";
        int r;
        if (strncmp(url, "snmp://", 7) == 0) {
                r = dcem_snmp_probe(url, profiles_dir, stdout, err, sizeof err);
        } else if (ai != 2) {
                fprintf(stderr, "dcem-agent probe: --profiles-dir applies to snmp:// URLs only\n");
                return EXIT_CONFIG;
        } else if (strncmp(url, "modbus://", 9) == 0 || strncmp(url, "tcp://", 6) == 0 ||
                   strncmp(url, "rtu://", 6) == 0) {
                r = dcem_modbus_probe(url, stdout, err, sizeof err);
        } else {
                fprintf(stderr, "dcem-agent probe: '%s': only modbus://, tcp://, rtu:// and snmp:// URLs can be probed\n",
                        url);
                return EXIT_CONFIG;
        }
        fflush(stdout);
        if (r == 0)
                return 0;
        fprintf(stderr, "dcem-agent probe: %s: %s\n", url, err[0] ? err : strerror(-r));
        return r == -EINVAL ? EXIT_CONFIG : EXIT_SOME_FAILED;
}

int main(int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "probe") == 0)
                return probe_main(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "ledger") == 0)
                return dcem_ledger_cli(argc, argv);
        enum { OPT_CHECK = 256, OPT_ONCE, OPT_DOC, OPT_LEVEL };
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, OPT_CHECK },
                { "once", no_argument, NULL, OPT_ONCE },
                { "config-doc", no_argument, NULL, OPT_DOC },
                { "log-level", required_argument, NULL, OPT_LEVEL },
                { "version", no_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *path = DCEM_SYSCONFDIR "/dcem.yaml";
        bool check = false, once = false, doc = false;
        int level_override = -1;
        int c;
        while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case OPT_CHECK:
                        check = true;
                        break;
                case OPT_ONCE:
                        once = true;
                        break;
                case OPT_DOC:
                        doc = true;
                        break;
                case OPT_LEVEL:
                        level_override = parse_level(optarg);
                        if (level_override < 0) {
                                fprintf(stderr, "dcem-agent: --log-level: '%s' is not one of err, warning, notice, info, debug\n", optarg);
                                return EXIT_CONFIG;
                        }
                        break;
                case 'V':
                        printf("dcem-agent %s\n", DCEM_VERSION);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return EXIT_CONFIG;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "dcem-agent: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return EXIT_CONFIG;
        }
        if (check + once + doc > 1) {
                fprintf(stderr, "dcem-agent: --check-config, --once and --config-doc exclude each other\n");
                return EXIT_CONFIG;
        }
        if (doc) {
                dcem_config_doc(stdout);
                return fflush(stdout) == 0 ? 0 : EXIT_CONFIG;
        }

        dcem_config *cfg = load_config(path, false);
        if (!cfg)
                return EXIT_CONFIG;
        if (check) {
                printf("%s: valid (site %s, %zu devices)\n", path, cfg->site, dcem_config_ndevices(cfg));
                dcem_config_free(cfg);
                return 0;
        }
        dcem_log_set_level(level_override >= 0 ? level_override : cfg->log_level);
        signal(SIGPIPE, SIG_IGN);
        init_libraries();
        if (!once && block_signals() < 0) {
                log_error("cannot block signals");
                dcem_config_free(cfg);
                return EXIT_FAILURE;
        }

        runtime rt = { .config_path = path, .sigfd = -1 };
        int r = dcem_loop_new(&dcem_clock_system, &rt.loop);
        if (r < 0) {
                log_error("cannot create the event loop: %s", strerror(-r));
                dcem_config_free(cfg);
                return EXIT_FAILURE;
        }
        dcem_agent_opts ao = { .once = once };
        r = dcem_agent_new(rt.loop, cfg, &ao, &rt.agent);
        if (r < 0) {
                dcem_loop_free(rt.loop);
                return EXIT_FAILURE;
        }

        int ret = 0;
        if (once) {
                unsigned failed = 0;
                r = dcem_agent_run_once(rt.agent, &failed);
                if (r < 0) {
                        log_error("--once: %s", strerror(-r));
                        ret = EXIT_FAILURE;
                } else if (failed > 0) {
                        log_error("--once: %u of %zu devices failed", failed,
                                  dcem_config_ndevices(dcem_agent_config(rt.agent)));
                        ret = EXIT_SOME_FAILED;
                }
                dcem_agent_free(rt.agent);
                dcem_loop_free(rt.loop);
                return ret;
        }

        r = setup_signals(&rt);
        if (r >= 0)
                r = dcem_agent_start(rt.agent);
        if (r < 0) {
                log_error("cannot start: %s", strerror(-r));
                dcem_agent_free(rt.agent);
                dcem_loop_free(rt.loop);
                return EXIT_FAILURE;
        }
        if (sd_watchdog_enabled(0, &rt.watchdog_usec) > 0 && rt.watchdog_usec > 0)
                on_watchdog(rt.loop, 0, &rt);
        const dcem_config *cur = dcem_agent_config(rt.agent);
        log_notice("dcem-agent %s: site %s, %zu devices", DCEM_VERSION, cur->site, dcem_config_ndevices(cur));
        sd_notifyf(0, "READY=1\nSTATUS=Polling %zu devices", dcem_config_ndevices(cur));

        r = dcem_loop_run(rt.loop);
        if (r < 0) {
                log_error("event loop failed: %s", strerror(-r));
                ret = EXIT_FAILURE;
        }
        sd_notify(0, "STOPPING=1\nSTATUS=Draining");
        int64_t deadline = dcem_clock_mono(&dcem_clock_system) + DRAIN_SECONDS * DCEM_NS_PER_S;
        if (dcem_agent_drain(rt.agent, deadline) < 0)
                log_warning("drain did not complete within %d s", DRAIN_SECONDS);
        dcem_agent_free(rt.agent);
        if (rt.sigfd >= 0)
                close(rt.sigfd);
        dcem_loop_free(rt.loop);
        log_notice("stopped");
        return ret;
}
