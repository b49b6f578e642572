/* control.c - dcem-sim's control commands, one line in, one JSON line out.
 * The transport (a unix socket in the run directory) is main.c's; this file
 * only parses and executes, under the runtime lock.
 *
 *   fault DEVICE KIND [ARG]  KIND: silent | slow [DELAY] | exception [CODE] |
 *                            reset | wrap | nan | range
 *   clear DEVICE             end live faults (counter offsets stay)
 *   advance DURATION         jump simulated time forward ("15m", "1h")
 *   truth                    cumulative truth now (same JSON as the file)
 *   time                     simulated time now
 *   status [DEVICE]          request counters: process-wide and per profile,
 *                            or one device's
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/schema.h"
#include "sim_control.h"

static char *reply(bool ok, const char *error, json_t *extra)
{
        json_t *o = extra ? extra : json_object();
        json_object_set_new(o, "ok", json_boolean(ok));
        if (error)
                json_object_set_new(o, "error", json_string(error));
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(o);
        return s;
}

/* Split line into at most max words (in place). */
static int split(char *line, char **w, int max)
{
        int n = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && n < max; t = strtok_r(NULL, " \t\r\n", &save))
                w[n++] = t;
        return n;
}

/* One device's (or one profile's) request counters as a new JSON object. */
static json_t *device_counters(const sim_dev *d, bool named)
{
        json_t *o = json_object();
        if (named) {
                json_object_set_new(o, "device", json_string(d->name));
                json_object_set_new(o, "profile", json_string(sim_profile_name(d->profile)));
        }
        if (sim_profile_is_snmp(d->profile)) {
                json_object_set_new(o, "snmp_requests", json_integer((json_int_t)d->snmp_requests));
        } else {
                json_object_set_new(o, "modbus_requests", json_integer((json_int_t)d->mb_requests));
                json_object_set_new(o, "modbus_exceptions", json_integer((json_int_t)d->mb_exceptions));
        }
        return o;
}

/* The status answer: process-wide counters, and per profile the devices
 * and their requests (sums of the per-device counters). */
static json_t *status(const sim_rt *rt)
{
        uint64_t ndev[_SIM_P_MAX] = { 0 }, req[_SIM_P_MAX] = { 0 }, exc[_SIM_P_MAX] = { 0 };
        json_t *o = json_object(), *prof = json_object();
        json_object_set_new(o, "modbus_requests", json_integer((json_int_t)atomic_load(&rt->mb_requests)));
        json_object_set_new(o, "modbus_exceptions", json_integer((json_int_t)atomic_load(&rt->mb_exceptions)));
        json_object_set_new(o, "modbus_dropped", json_integer((json_int_t)atomic_load(&rt->mb_dropped)));
        json_object_set_new(o, "modbus_refused", json_integer((json_int_t)atomic_load(&rt->mb_refused)));
        json_object_set_new(o, "modbus_connections", json_integer(atomic_load(&rt->mb_clients)));
        json_object_set_new(o, "modbus_connections_peak", json_integer(atomic_load(&rt->mb_clients_peak)));
        json_object_set_new(o, "snmp_requests", json_integer((json_int_t)atomic_load(&rt->snmp_requests)));
        json_object_set_new(o, "snmp_dropped", json_integer((json_int_t)atomic_load(&rt->snmp_dropped)));
        for (size_t i = 0; i < rt->site.ndevs; i++) {
                const sim_dev *d = &rt->site.devs[i];
                ndev[d->profile]++;
                req[d->profile] += sim_profile_is_snmp(d->profile) ? d->snmp_requests : d->mb_requests;
                exc[d->profile] += d->mb_exceptions;
        }
        for (int p = 0; p < _SIM_P_MAX; p++) {
                if (!ndev[p])
                        continue;
                json_t *e = json_object();
                bool snmp = sim_profile_is_snmp((sim_profile)p);
                json_object_set_new(e, "protocol", json_string(snmp ? "snmp" : "modbus"));
                json_object_set_new(e, "devices", json_integer((json_int_t)ndev[p]));
                json_object_set_new(e, snmp ? "snmp_requests" : "modbus_requests", json_integer((json_int_t)req[p]));
                if (!snmp)
                        json_object_set_new(e, "modbus_exceptions", json_integer((json_int_t)exc[p]));
                json_object_set_new(prof, sim_profile_name((sim_profile)p), e);
        }
        json_object_set_new(o, "profiles", prof);
        return o;
}

char *sim_control_exec(sim_rt *rt, const char *line_in)
{
        char line[SIM_CONTROL_LINE_MAX];
        char *w[5];
        char msg[160];
        int n;

        if (strlen(line_in) >= sizeof(line))
                return reply(false, "line too long", NULL);
        snprintf(line, sizeof(line), "%s", line_in);
        n = split(line, w, 5);
        if (n == 0)
                return reply(false, "empty command", NULL);

        if (strcmp(w[0], "time") == 0) {
                char ts[32];
                int64_t t = sim_rt_sync(rt);
                json_t *o = json_object();
                sim_fmt_time(ts, sizeof(ts), t);
                json_object_set_new(o, "t_ms", json_integer(t));
                json_object_set_new(o, "time", json_string(ts));
                return reply(true, NULL, o);
        }
        if (strcmp(w[0], "truth") == 0) {
                char *s = sim_rt_truth_json(rt, "snapshot");
                json_error_t err;
                json_t *o = s ? json_loads(s, 0, &err) : NULL;
                free(s);
                return o ? reply(true, NULL, o) : reply(false, "out of memory", NULL);
        }
        if (strcmp(w[0], "status") == 0) {
                if (n >= 2) {
                        int di = sim_site_find(&rt->site, w[1]);
                        if (di < 0) {
                                snprintf(msg, sizeof(msg), "no device \"%.64s\"", w[1]);
                                return reply(false, msg, NULL);
                        }
                        return reply(true, NULL, device_counters(&rt->site.devs[di], true));
                }
                return reply(true, NULL, status(rt));
        }
        if (strcmp(w[0], "advance") == 0) {
                int64_t ns;
                const char *why = NULL;
                if (n != 2 || dcem_parse_duration(w[1], &ns, &why) < 0 || ns < 0) {
                        snprintf(msg, sizeof(msg), "advance DURATION: %s", why ? why : "one duration needed");
                        return reply(false, msg, NULL);
                }
                int64_t t = sim_rt_skip(rt, ns / 1000000);
                json_t *o = json_object();
                json_object_set_new(o, "t_ms", json_integer(t));
                return reply(true, NULL, o);
        }
        if (strcmp(w[0], "fault") == 0 || strcmp(w[0], "clear") == 0) {
                bool clear = w[0][0] == 'c';
                if (n < 2 || (!clear && n < 3))
                        return reply(false, clear ? "clear DEVICE" : "fault DEVICE KIND [ARG]", NULL);
                int di = sim_site_find(&rt->site, w[1]);
                if (di < 0) {
                        snprintf(msg, sizeof(msg), "no device \"%.64s\"", w[1]);
                        return reply(false, msg, NULL);
                }
                int64_t t = sim_rt_sync(rt);
                sim_dev *d = &rt->site.devs[di];
                if (clear) {
                        sim_fault_clear(d);
                        return reply(true, NULL, NULL);
                }
                int k = sim_fault_from_name(w[2]);
                if (k <= 0) {
                        snprintf(msg, sizeof(msg), "unknown fault \"%.32s\" (silent, slow, exception, reset, wrap, nan, range)",
                                 w[2]);
                        return reply(false, msg, NULL);
                }
                int64_t delay_ms = 1000;
                int code = 4;
                if (n >= 4 && k == SIM_F_SLOW) {
                        int64_t ns;
                        const char *why = NULL;
                        if (dcem_parse_duration(w[3], &ns, &why) < 0 || ns <= 0 || ns > 600000000000ll) {
                                snprintf(msg, sizeof(msg), "slow DELAY: %s", why ? why : "between 1ms and 10m");
                                return reply(false, msg, NULL);
                        }
                        delay_ms = ns / 1000000;
                } else if (n >= 4 && k == SIM_F_EXCEPTION) {
                        int64_t v;
                        const char *why = NULL;
                        if (dcem_parse_int(w[3], &v, &why) < 0 || v < 1 || v > 255)
                                return reply(false, "exception CODE: 1..255", NULL);
                        code = (int)v;
                }
                sim_fault_apply(&rt->model, d, (sim_fault_kind)k, delay_ms, code, t);
                json_t *o = json_object();
                json_object_set_new(o, "t_ms", json_integer(t));
                return reply(true, NULL, o);
        }
        snprintf(msg, sizeof(msg), "unknown command \"%.32s\" (fault, clear, advance, truth, time, status)", w[0]);
        return reply(false, msg, NULL);
}
