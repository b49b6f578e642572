/* floor_snmp - the bare cost of polling SNMP PDUs with net-snmp.
 *
 * The floor of the benchmark (bench/run, docs/BENCHMARKS.md): what 6 scalar
 * OIDs per device cost a client that does nothing else, in a tight loop with
 * net-snmp's synchronous API (v2c), one session per agent. "packed": one GET
 * carrying all 6 OIDs per device-poll; "single": 6 GETs of one OID.
 *
 * Usage: floor_snmp packed|single SECONDS PORTS OID...
 *   PORTS: comma-separated UDP ports on 127.0.0.1 (at most 64), OID: numeric.
 * Prints one JSON line: polls, packets (requests sent), cpu_s (this process,
 * getrusage), cpu_s_per_1000_polls. Exit 0, or 1 with a message on stderr.
 */
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "bench_clock.h"

#define MAX_PORTS 64
#define MAX_OIDS 16


/* One GET of oids[0..n) on ss; 0 if every varbind came back with a value. */
static int get(netsnmp_session *ss, oid (*oids)[MAX_OID_LEN], const size_t *lens, int n)
{
        netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_GET), *resp = NULL;
        for (int i = 0; i < n; i++)
                snmp_add_null_var(pdu, oids[i], lens[i]);
        int st = snmp_synch_response(ss, pdu, &resp);
        int ok = st == STAT_SUCCESS && resp && resp->errstat == SNMP_ERR_NOERROR;
        if (ok)
                for (netsnmp_variable_list *v = resp->variables; v; v = v->next_variable)
                        if (v->type == SNMP_NOSUCHOBJECT || v->type == SNMP_NOSUCHINSTANCE)
                                ok = 0;
        snmp_free_pdu(resp);
        return ok ? 0 : -EIO;
}

int main(int argc, char **argv)
{
        if (argc < 5 || argc - 4 > MAX_OIDS || (strcmp(argv[1], "packed") && strcmp(argv[1], "single"))) {
                fprintf(stderr, "usage: floor_snmp packed|single SECONDS PORT[,PORT...] OID... (at most %d OIDs)\n",
                        MAX_OIDS);
                return 1;
        }
        char *end;
        errno = 0;
        long secs = strtol(argv[2], &end, 10);
        if (errno || *end || secs < 1 || secs > 3600) {
                fprintf(stderr, "floor_snmp: bad SECONDS '%s'\n", argv[2]);
                return 1;
        }
        int noids = argc - 4, packed = strcmp(argv[1], "packed") == 0;
        oid oids[MAX_OIDS][MAX_OID_LEN];
        size_t lens[MAX_OIDS];
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_LOAD_HOST_FILES, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
        netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
        netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_ERRORS, 0);
        init_snmp("floor_snmp");
        for (int i = 0; i < noids; i++) {
                lens[i] = MAX_OID_LEN;
                if (!read_objid(argv[4 + i], oids[i], &lens[i])) {
                        fprintf(stderr, "floor_snmp: bad OID '%s'\n", argv[4 + i]);
                        return 1;
                }
        }
        netsnmp_session *sess[MAX_PORTS];
        int nports = 0;
        char ports[1024];
        snprintf(ports, sizeof(ports), "%s", argv[3]);
        for (char *save = NULL, *p = strtok_r(ports, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                errno = 0;
                long port = strtol(p, &end, 10);
                if (errno || *end || port < 1 || port > 65535 || nports == MAX_PORTS) {
                        fprintf(stderr, "floor_snmp: bad port list '%s' (at most %d ports)\n", argv[3], MAX_PORTS);
                        return 1;
                }
                char peer[64];
                snprintf(peer, sizeof(peer), "udp:127.0.0.1:%ld", port);
                netsnmp_session s;
                snmp_sess_init(&s);
                s.version = SNMP_VERSION_2c;
                s.peername = peer;
                s.community = (u_char *)"public";
                s.community_len = 6;
                s.timeout = 1000000;
                s.retries = 0;
                sess[nports] = snmp_open(&s);
                if (!sess[nports]) {
                        fprintf(stderr, "floor_snmp: cannot open a session to %s\n", peer);
                        return 1;
                }
                nports++;
        }
        long polls = 0, packets = 0, errors = 0;
        double c0 = cpu_s(), t_end = now_s() + (double)secs;
        while (now_s() < t_end) {
                for (int d = 0; d < nports; d++) {
                        int bad = 0;
                        if (packed) {
                                bad |= get(sess[d], oids, lens, noids) < 0;
                                packets++;
                        } else {
                                for (int i = 0; i < noids; i++)
                                        bad |= get(sess[d], &oids[i], &lens[i], 1) < 0;
                                packets += noids;
                        }
                        errors += bad;
                        polls++;
                }
        }
        double c = cpu_s() - c0;
        for (int d = 0; d < nports; d++)
                snmp_close(sess[d]);
        printf("{\"tool\":\"floor_snmp\",\"mode\":\"%s\",\"polls\":%ld,\"packets\":%ld,\"errors\":%ld,"
               "\"cpu_s\":%.6f,\"cpu_s_per_1000_polls\":%.6f}\n",
               argv[1], polls, packets, errors, c, polls ? c * 1000.0 / (double)polls : 0.0);
        return errors ? 1 : 0;
}
