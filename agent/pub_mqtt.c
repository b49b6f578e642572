/* pub_mqtt.c - the MQTT publisher: paho-mqtt-c's asynchronous client behind
 * the publisher seam, with our own spool for store and forward.
 *
 * Why our own spool and not paho's offline buffer and persistence: paho
 * buffers a bounded number of messages (not bytes), either drops the newest
 * or the oldest without telling which, and its file persistence keeps one
 * file per message with no budget, no drop counter, no torn-write recovery
 * and no replay rate control. The spool (agent/spool.c) gives a byte budget,
 * counted drops and crash recovery; paho only ever sees at most max_inflight
 * messages of the current session (persistence NONE, no send while
 * disconnected, no automatic reconnect: we reconnect with full jitter).
 *
 * Two lanes (docs/MQTT.md "Replay"): at each connection the records already
 * in the spool become the backlog lane, replayed in id order at most
 * replay.max_rate messages per second and never in more than the in-flight
 * slots left after a reserve for live data; records spooled during the
 * session form the live lane, sent at once in id order. Within a lane the
 * order is the spool's; across lanes a consumer orders by "seq" (and, with
 * MQTT 5, sees the user property dcem-replay=1 on replayed messages).
 *
 * Threads: paho calls back on its own threads. Those callbacks only copy
 * what happened into a small mutex-protected event ring and signal an
 * eventfd watched by the loop; all state (spool, counters, connection) is
 * touched only on the loop's thread.
 *
 * Subscriptions (the seam's subscribe op, e.g. accounting.live_intensity):
 * renewed after every connection; an arriving message is copied on paho's
 * thread into the event ring (payloads above SUB_PAYLOAD_MAX, or with the
 * ring full, are dropped and counted) and handed to the subscriber's
 * callback on the loop's thread.
 *
 * Spool records: u8 version (1), u8 qos, u8 retained, u8 0, u16 topic length
 * (little endian), the topic, the payload.
 */
#include "dcem/pub_mqtt.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcem/build_config.h"
#include "dcem/clock.h"
#include "dcem/loop.h"
#include "dcem/spool.h"
#include "json.h"
#include "log.h"

/* --- configuration: the output.mqtt block --- */

typedef struct mqtt_tls_conf {
        char *ca_file, *ca_dir, *cert_file, *key_file;
        bool verify_hostname;
        bool insecure_skip_verify;
} mqtt_tls_conf;

typedef struct mqtt_spool_conf {
        uint64_t max_bytes;
        int64_t fsync_ns;
} mqtt_spool_conf;

typedef struct mqtt_reconnect_conf {
        int64_t min_ns, max_ns;
} mqtt_reconnect_conf;

typedef struct mqtt_replay_conf {
        double max_rate;
} mqtt_replay_conf;

typedef struct mqtt_qos_conf {
        int64_t devices, intervals, metrics, status, agent, ledger;
} mqtt_qos_conf;

typedef struct mqtt_conf {
        char *url;
        char *client_id;
        char *prefix;
        int version; /* 0: "5", 1: "3.1.1" */
        char *username;
        char *password_file;
        int64_t keepalive_ns;
        bool clean_session;
        int64_t max_inflight;
        int64_t self_metrics_ns;
        mqtt_qos_conf qos;
        mqtt_tls_conf tls;
        mqtt_spool_conf spool;
        mqtt_reconnect_conf reconnect;
        mqtt_replay_conf replay;
} mqtt_conf;

static const dcem_schema_key tls_keys[] = {
        { .name = "ca_file", .type = DCEM_T_STR, .offset = offsetof(mqtt_tls_conf, ca_file),
          .doc = "PEM file of the CA certificates that sign the broker's certificate." },
        { .name = "ca_dir", .type = DCEM_T_STR, .offset = offsetof(mqtt_tls_conf, ca_dir),
          .doc = "Directory of CA certificates (hashed names, as c_rehash makes them)." },
        { .name = "cert_file", .type = DCEM_T_STR, .offset = offsetof(mqtt_tls_conf, cert_file),
          .doc = "Client certificate (PEM) for mutual TLS; needs key_file." },
        { .name = "key_file", .type = DCEM_T_STR, .offset = offsetof(mqtt_tls_conf, key_file),
          .doc = "Private key (PEM) of cert_file." },
        { .name = "verify_hostname", .type = DCEM_T_BOOL, .def = "true",
          .offset = offsetof(mqtt_tls_conf, verify_hostname),
          .doc = "Check that the broker's certificate names the host of url. Turning it off is logged as a warning." },
        { .name = "insecure_skip_verify", .type = DCEM_T_BOOL, .def = "false",
          .offset = offsetof(mqtt_tls_conf, insecure_skip_verify),
          .doc = "Accept any broker certificate (no chain, no name check). For lab use only: logged as a "
                 "warning at every connection." },
        { 0 },
};
static const dcem_schema tls_schema = { .name = "tls", .doc = "TLS for mqtts:// and wss:// URLs.",
                                        .size = sizeof(mqtt_tls_conf), .keys = tls_keys };

static const dcem_schema_key spool_keys[] = {
        { .name = "max_bytes", .type = DCEM_T_SIZE, .def = "256MiB", .min = 65536, .max = 1099511627776.0,
          .offset = offsetof(mqtt_spool_conf, max_bytes),
          .doc = "Disk budget of the spool (under state_dir/mqtt-spool). Past it the oldest messages are "
                 "dropped and counted (published as spool.dropped_records and dropped_bytes)." },
        { .name = "fsync", .type = DCEM_T_DURATION, .def = "1s", .min = 0, .max = 3600,
          .offset = offsetof(mqtt_spool_conf, fsync_ns),
          .doc = "Longest time spooled data stays unsynced to disk (0: fsync every message). Data is "
                 "written at once either way, so only a power loss can lose this much." },
        { 0 },
};
static const dcem_schema spool_schema = { .name = "spool", .doc = "Store and forward.",
                                          .size = sizeof(mqtt_spool_conf), .keys = spool_keys };

static const dcem_schema_key reconnect_keys[] = {
        { .name = "min", .type = DCEM_T_DURATION, .def = "1s", .min = 0.01, .max = 3600,
          .offset = offsetof(mqtt_reconnect_conf, min_ns),
          .doc = "Base of the reconnect backoff: attempt k waits a uniform random time in [0, min(max, min*2^k)]." },
        { .name = "max", .type = DCEM_T_DURATION, .def = "60s", .min = 0.01, .max = 86400,
          .offset = offsetof(mqtt_reconnect_conf, max_ns), .doc = "Cap of the reconnect backoff." },
        { 0 },
};
static const dcem_schema reconnect_schema = { .name = "reconnect", .doc = "Reconnect backoff with full jitter.",
                                              .size = sizeof(mqtt_reconnect_conf), .keys = reconnect_keys };

static const dcem_schema_key replay_keys[] = {
        { .name = "max_rate", .type = DCEM_T_DOUBLE, .def = "1000", .min = 0, .max = 1000000,
          .offset = offsetof(mqtt_replay_conf, max_rate),
          .doc = "Messages per second at most of the backlog replayed after an outage or a restart (0: no "
                 "limit but the in-flight window). Live messages do not count against it and go first." },
        { 0 },
};
static const dcem_schema replay_schema = { .name = "replay", .doc = "Replay of the spooled backlog.",
                                           .size = sizeof(mqtt_replay_conf), .keys = replay_keys };

static const dcem_schema_key qos_keys[] = {
        { .name = "devices", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 2,
          .offset = offsetof(mqtt_qos_conf, devices), .doc = "QoS of the per-poll device messages." },
        { .name = "intervals", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 2,
          .offset = offsetof(mqtt_qos_conf, intervals), .doc = "QoS of the interval records." },
        { .name = "metrics", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 2,
          .offset = offsetof(mqtt_qos_conf, metrics), .doc = "QoS of the real-time metrics." },
        { .name = "status", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 2,
          .offset = offsetof(mqtt_qos_conf, status), .doc = "QoS of the site and device status messages." },
        { .name = "agent", .type = DCEM_T_INT, .def = "0", .min = 0, .max = 2,
          .offset = offsetof(mqtt_qos_conf, agent), .doc = "QoS of the agent's self-metrics." },
        { .name = "ledger", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 2,
          .offset = offsetof(mqtt_qos_conf, ledger), .doc = "QoS of the certification ledger's entries." },
        { 0 },
};
static const dcem_schema qos_schema = { .name = "qos", .doc = "QoS per stream. QoS 0 messages leave the spool "
                                        "when written to the socket, QoS 1 and 2 when the broker acknowledges.",
                                        .size = sizeof(mqtt_qos_conf), .keys = qos_keys };

static bool url_scheme(const char *url, bool *ret_tls) {
        static const struct { const char *p; bool tls; } s[] = {
                { "mqtt://", false }, { "mqtts://", true }, { "ws://", false }, { "wss://", true },
        };
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
                if (strncmp(url, s[i].p, strlen(s[i].p)) == 0 && url[strlen(s[i].p)] != '\0') {
                        if (ret_tls)
                                *ret_tls = s[i].tls;
                        return true;
                }
        return false;
}

static bool topic_part_ok(const char *s, size_t maxlen, bool slashes) {
        size_t n = strlen(s);
        if (n == 0 || n > maxlen || s[0] == '/' || s[n - 1] == '/')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == '/' && (!slashes || s[i + 1] == '/'))
                        return false;
                if (c == '+' || c == '#' || (unsigned char)c < 0x20 || c == 0x7f)
                        return false;
        }
        return true;
}

/* Cross-key checks: the URL's scheme, TLS only with a TLS scheme, cert and
 * key together, min <= max. */
static int mqtt_check(const dcem_schema *s, void *target, const dcem_node *map, dcem_diag *diag) {
        (void)s;
        mqtt_conf *c = target;
        const dcem_node *at = map;
        int r = 0;
        bool tls = false;
        const dcem_node *u = map ? dcem_node_get(map, "url") : NULL;
        if (c->url && !url_scheme(c->url, &tls)) {
                at = u ? u : map;
                dcem_diag_add(diag, at ? at->file : "output.mqtt", at ? at->line : 0, at ? at->col : 0,
                              "output.mqtt.url: \"%s\" is not mqtt://, mqtts://, ws:// or wss:// followed by a host",
                              c->url);
                r = -EINVAL;
        }
        const dcem_node *t = map ? dcem_node_get(map, "tls") : NULL;
        if (t && c->url && !tls) {
                dcem_diag_add(diag, t->file, t->key_line, t->key_col,
                              "output.mqtt.tls: given, but url %s is not mqtts:// or wss://", c->url);
                r = -EINVAL;
        }
        if (!c->tls.cert_file != !c->tls.key_file) {
                at = t ? t : map;
                dcem_diag_add(diag, at ? at->file : "output.mqtt", at ? at->line : 0, at ? at->col : 0,
                              "output.mqtt.tls: cert_file and key_file go together");
                r = -EINVAL;
        }
        if (c->reconnect.min_ns > c->reconnect.max_ns) {
                const dcem_node *rc = map ? dcem_node_get(map, "reconnect") : NULL;
                at = rc ? rc : map;
                dcem_diag_add(diag, at ? at->file : "output.mqtt", at ? at->line : 0, at ? at->col : 0,
                              "output.mqtt.reconnect: min is larger than max");
                r = -EINVAL;
        }
        if (c->prefix && !topic_part_ok(c->prefix, 64, true)) {
                const dcem_node *p = map ? dcem_node_get(map, "prefix") : NULL;
                at = p ? p : map;
                dcem_diag_add(diag, at ? at->file : "output.mqtt", at ? at->line : 0, at ? at->col : 0,
                              "output.mqtt.prefix: \"%s\" is not a topic prefix (1..64 chars, no + # or empty levels)",
                              c->prefix);
                r = -EINVAL;
        }
        return r;
}

static const dcem_schema_key mqtt_keys[] = {
        { .name = "url", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(mqtt_conf, url),
          .doc = "The broker: mqtt://host:1883, mqtts://host:8883, ws://host:port/path or wss://..." },
        { .name = "client_id", .type = DCEM_T_STR, .offset = offsetof(mqtt_conf, client_id),
          .doc = "MQTT client id; default dcem-<site>." },
        { .name = "prefix", .type = DCEM_T_STR, .def = "dcem", .offset = offsetof(mqtt_conf, prefix),
          .doc = "First topic level(s): topics are <prefix>/<site>/..." },
        { .name = "version", .type = DCEM_T_ENUM, .def = "5", .values = "5|3.1.1",
          .offset = offsetof(mqtt_conf, version), .doc = "MQTT protocol version." },
        { .name = "username", .type = DCEM_T_STR, .offset = offsetof(mqtt_conf, username),
          .doc = "User name for the broker." },
        { .name = "password_file", .type = DCEM_T_STR, .offset = offsetof(mqtt_conf, password_file),
          .doc = "File holding the password (first line; at most 1 KiB). Keep it mode 0600." },
        { .name = "keepalive", .type = DCEM_T_DURATION, .def = "30s", .min = 1, .max = 65535,
          .offset = offsetof(mqtt_conf, keepalive_ns), .doc = "MQTT keepalive." },
        { .name = "clean_session", .type = DCEM_T_BOOL, .def = "true", .offset = offsetof(mqtt_conf, clean_session),
          .doc = "Start a clean session at each connection (the spool, not the session, keeps unsent data)." },
        { .name = "max_inflight", .type = DCEM_T_INT, .def = "20", .min = 1, .max = 1000,
          .offset = offsetof(mqtt_conf, max_inflight),
          .doc = "Messages sent and not yet acknowledged at once (lowered to the broker's Receive Maximum "
                 "with MQTT 5). 20 carries about 20,000 msg/s at QoS 1 to a local mosquitto (docs/BENCHMARKS.md); "
                 "a larger window only helps over a link with a longer round trip." },
        { .name = "self_metrics_interval", .type = DCEM_T_DURATION, .def = "10s", .min = 0, .max = 86400,
          .offset = offsetof(mqtt_conf, self_metrics_ns),
          .doc = "Period of the agent's self-metrics on <prefix>/<site>/agent (polls per collector, queues, "
                 "spool, replay, RSS, CPU; docs/MQTT.md). They go out ahead of queued device messages. 0: none." },
        { .name = "qos", .type = DCEM_T_MAP, .sub = &qos_schema, .offset = offsetof(mqtt_conf, qos),
          .doc = "QoS per stream." },
        { .name = "tls", .type = DCEM_T_MAP, .sub = &tls_schema, .offset = offsetof(mqtt_conf, tls),
          .doc = "TLS settings (mqtts:// and wss:// only)." },
        { .name = "spool", .type = DCEM_T_MAP, .sub = &spool_schema, .offset = offsetof(mqtt_conf, spool),
          .doc = "Store and forward on disk." },
        { .name = "reconnect", .type = DCEM_T_MAP, .sub = &reconnect_schema, .offset = offsetof(mqtt_conf, reconnect),
          .doc = "Reconnect backoff." },
        { .name = "replay", .type = DCEM_T_MAP, .sub = &replay_schema, .offset = offsetof(mqtt_conf, replay),
          .doc = "Rate of the backlog replay; live data keeps flowing beside it." },
        { 0 },
};

static const dcem_schema mqtt_schema = {
        .name = "mqtt",
        .doc = "Publish over MQTT (docs/MQTT.md), with store and forward on disk: nothing is lost through "
               "broker outages and restarts within the spool's budget.",
        .size = sizeof(mqtt_conf),
        .keys = mqtt_keys,
        .check = mqtt_check,
};

/* --- the publisher's state --- */

enum ev_type {
        EV_CONNECTED = 1, EV_CONNECT_FAILED, EV_LOST, EV_SENT, EV_SEND_FAILED, EV_TLS_ERROR,
        EV_MESSAGE,    /* data: topic NUL payload NUL (len: payload bytes) */
        EV_SUB_FAILED, /* code: subscription index */
};

#define SUBS_MAX 8                   /* subscriptions per publisher */
#define SUB_PAYLOAD_MAX (64 * 1024)  /* bytes; larger messages are dropped and counted */

typedef struct sub_ctx {
        struct mqtt_pub *p;
        unsigned idx;
} sub_ctx;

typedef struct mqtt_sub {
        char *topic;
        sub_ctx ctx; /* paho's context for the subscribe calls (stable: inside mqtt_pub) */
        void (*cb)(void *ud, const char *topic, const void *payload, size_t len);
        void *ud;
} mqtt_sub;

typedef struct send_ctx send_ctx;
typedef struct mqtt_pub mqtt_pub;

struct send_ctx {
        mqtt_pub *p;
        uint64_t id;      /* spool record id */
        uint64_t epoch;   /* connection the send belongs to */
        bool backlog;     /* sent by the backlog lane */
        bool lane;        /* sent by the self-metrics lane */
        send_ctx *prev, *next; /* outstanding sends (freed at close if paho never answers) */
};

typedef struct event {
        int type;
        int code;
        uint64_t epoch;
        send_ctx *ctx;
        char *data;   /* EV_MESSAGE: owned by the event */
        size_t len;
        char msg[160];
} event;

#define EV_RING 1024u

enum conn_state { ST_IDLE, ST_CONNECTING, ST_CONNECTED, ST_CLOSING };

typedef struct stream_seq {
        char suffix[72];
        uint64_t next;
} stream_seq;

/* The self-metrics lane ("agent" stream): its messages are spooled like
 * every message, and a copy of the newest LANE_CAP not yet sent is kept
 * here and sent ahead of both spool lanes, so overload or a long backlog
 * never delays them. An entry sent from here is marked in flight (for this
 * session): the spool lanes skip that record instead of sending it twice;
 * its acknowledgement acks the spool record as usual. If the session ends
 * first, the entry is forgotten and the record is replayed in its turn.
 * A copy pushed out by the cap only loses its priority (counted). */
#define LANE_CAP 8u

typedef struct lane_msg {
        uint64_t id;      /* spool record id */
        uint8_t *rec;     /* the spool record (owned) */
        size_t len;
        bool inflight;
} lane_msg;

struct mqtt_pub {
        dcem_loop *loop;
        const dcem_clock *clock;
        const mqtt_conf *conf;
        char *site, *url, *client_id, *prefix, *username, *password, *state_dir;
        bool tls;
        MQTTAsync client;
        bool client_ok;
        bool recreate;        /* destroy the client before the next session */

        int efd;
        pthread_mutex_t mu;
        event ring[EV_RING];
        unsigned head, n;
        bool overflow;

        enum conn_state state;
        uint64_t epoch, gen;
        uint64_t tick_timer;
        int64_t reconnect_at; /* monotonic; INT64_MAX: none pending */
        unsigned attempt;
        uint64_t rng;
        int64_t start_utc, connected_utc;

        dcem_spool *spool;
        uint8_t *rbuf;
        size_t rbuf_size;
        uint64_t inflight, max_inflight;
        uint64_t window;      /* this session's: max_inflight, or the broker's Receive Maximum if lower */
        uint64_t inflight_backlog, max_backlog_inflight;
        send_ctx *outstanding;

        /* The lanes of the current session: ids below boundary are backlog. */
        uint64_t boundary;
        dcem_spool_cursor cur_live, cur_backlog;
        double tokens;        /* replay token bucket */
        int64_t tokens_t;
        MQTTProperties replay_props; /* MQTT 5: dcem-replay=1 (array: replay_prop) */
        MQTTProperty replay_prop;

        stream_seq seqs[DCEM_MQTT_STREAMS_MAX];
        size_t nseqs;

        lane_msg lane[2 * LANE_CAP]; /* oldest first; at most LANE_CAP queued and LANE_CAP in flight */
        size_t nlane;
        uint64_t lane_dropped;

        int64_t rate_t0;
        uint64_t rate_acked0;
        uint64_t replay_acked;
        double replay_rate;

        char last_error[256];
        dcem_mqtt_stats st;
        char will_topic[DCEM_MQTT_TOPIC_MAX];
        char will_payload[256];

        mqtt_sub subs[SUBS_MAX];
        size_t nsubs;
        uint64_t sub_received, sub_dropped, sub_failures; /* sub_dropped: written under mu */
};

static dcem_ratelimit rl_send = DCEM_RATELIMIT(10 * DCEM_NS_PER_S, 5);
static dcem_ratelimit rl_connect = DCEM_RATELIMIT(60 * DCEM_NS_PER_S, 3);

/* --- paho threads: only push events --- */

/* Wake the loop. Only the event that finds the ring empty needs to: the
 * loop reads the eventfd before it drains the ring, and drains it until it
 * is empty, so an event added to a non-empty ring is always seen. This
 * saves a system call and a loop wake-up per acknowledgement under load. */
static void wake_loop(mqtt_pub *p) {
        uint64_t one = 1;
        ssize_t w = write(p->efd, &one, sizeof one);
        (void)w; /* an eventfd write only fails on counter overflow */
}

static void push_event(mqtt_pub *p, const event *e) {
        pthread_mutex_lock(&p->mu);
        bool was_empty = p->n == 0;
        if (p->n == EV_RING) {
                p->overflow = true; /* the loop resets the session: resend all */
        } else {
                p->ring[(p->head + p->n) % EV_RING] = *e;
                p->n++;
        }
        pthread_mutex_unlock(&p->mu);
        if (was_empty)
                wake_loop(p);
}

static void msg_copy(char *dst, size_t size, const char *src) {
        snprintf(dst, size, "%s", src ? src : "");
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r) {
        (void)r;
        mqtt_pub *p = ctx;
        event e = { .type = EV_CONNECTED };
        push_event(p, &e);
}
/* MQTT 5: the broker's Receive Maximum (CONNACK) goes with the event. */
static void on_connect_ok5(void *ctx, MQTTAsync_successData5 *r) {
        mqtt_pub *p = ctx;
        event e = { .type = EV_CONNECTED };
        if (r && MQTTProperties_hasProperty(&r->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM))
                e.code = MQTTProperties_getNumericValue(&r->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
        push_event(p, &e);
}
/* MQTT 3.1.1 CONNACK return codes (paho passes them as the failure code). */
static const char *connack_text(int code) {
        switch (code) {
        case 1:
                return "unacceptable protocol version";
        case 2:
                return "client identifier rejected";
        case 3:
                return "server unavailable";
        case 4:
                return "bad user name or password";
        case 5:
                return "not authorized";
        default:
                return NULL;
        }
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r) {
        mqtt_pub *p = ctx;
        event e = { .type = EV_CONNECT_FAILED, .code = r ? r->code : -1 };
        const char *t = r ? connack_text(r->code) : NULL;
        if (t)
                snprintf(e.msg, sizeof e.msg, "broker refused: %s", t);
        else
                msg_copy(e.msg, sizeof e.msg, r ? r->message : NULL);
        push_event(p, &e);
}
static void on_connect_fail5(void *ctx, MQTTAsync_failureData5 *r) {
        mqtt_pub *p = ctx;
        event e = { .type = EV_CONNECT_FAILED, .code = r ? (r->reasonCode ? (int)r->reasonCode : r->code) : -1 };
        /* A CONNACK reason ("Not authorized", "Bad user name or password", ...):
         * paho 1.3 puts it in reasonCode or, for a refused CONNECT, in code. */
        if (e.code >= 0x80 && e.code <= 0xff)
                snprintf(e.msg, sizeof e.msg, "broker refused: %s",
                         MQTTReasonCode_toString((enum MQTTReasonCodes)e.code));
        else
                msg_copy(e.msg, sizeof e.msg, r ? r->message : NULL);
        push_event(p, &e);
}
static void on_lost(void *ctx, char *cause) {
        mqtt_pub *p = ctx;
        event e = { .type = EV_LOST };
        msg_copy(e.msg, sizeof e.msg, cause);
        push_event(p, &e);
}
/* A message of a subscription: copied into the ring for the loop. */
static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m) {
        mqtt_pub *p = ctx;
        size_t tl = len > 0 ? (size_t)len : strlen(topic);
        size_t pl = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
        char *d = NULL;
        if (pl <= SUB_PAYLOAD_MAX && tl < DCEM_MQTT_TOPIC_MAX && (d = malloc(tl + 1 + pl + 1))) {
                memcpy(d, topic, tl);
                d[tl] = '\0';
                if (pl)
                        memcpy(d + tl + 1, m->payload, pl);
                d[tl + 1 + pl] = '\0';
        }
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(topic);
        pthread_mutex_lock(&p->mu);
        bool queued = false, was_empty = p->n == 0;
        if (d && p->n < EV_RING) {
                event e = { .type = EV_MESSAGE, .data = d, .len = pl };
                p->ring[(p->head + p->n) % EV_RING] = e;
                p->n++;
                queued = true;
        } else
                p->sub_dropped++; /* not the overflow flag: a lost message is not a lost acknowledgement */
        pthread_mutex_unlock(&p->mu);
        if (!queued) {
                free(d);
                return 1;
        }
        if (was_empty)
                wake_loop(p);
        return 1;
}
/* A subscription refused or failed: the loop logs it (context: its sub_ctx). */
static void on_sub_fail(void *ctx, MQTTAsync_failureData *r) {
        sub_ctx *c = ctx;
        event e = { .type = EV_SUB_FAILED, .code = (int)c->idx };
        msg_copy(e.msg, sizeof e.msg, r && r->message ? r->message : "refused");
        push_event(c->p, &e);
}
static void on_sub_fail5(void *ctx, MQTTAsync_failureData5 *r) {
        sub_ctx *c = ctx;
        event e = { .type = EV_SUB_FAILED, .code = (int)c->idx };
        if (r && r->reasonCode >= 0x80)
                snprintf(e.msg, sizeof e.msg, "%s", MQTTReasonCode_toString(r->reasonCode));
        else
                msg_copy(e.msg, sizeof e.msg, r && r->message ? r->message : "refused");
        push_event(c->p, &e);
}
static void on_sub_ok5(void *ctx, MQTTAsync_successData5 *r) {
        sub_ctx *c = ctx;
        if (!r || r->reasonCode < 0x80)
                return;
        event e = { .type = EV_SUB_FAILED, .code = (int)c->idx };
        snprintf(e.msg, sizeof e.msg, "%s", MQTTReasonCode_toString(r->reasonCode));
        push_event(c->p, &e);
}
static void on_sent(void *ctx, MQTTAsync_successData *r) {
        (void)r;
        send_ctx *c = ctx;
        event e = { .type = EV_SENT, .ctx = c };
        push_event(c->p, &e);
}
static void on_sent5(void *ctx, MQTTAsync_successData5 *r) {
        send_ctx *c = ctx;
        event e = { .type = EV_SENT, .ctx = c };
        if (r && r->reasonCode >= 0x80) { /* MQTT 5 PUBACK with an error reason */
                e.type = EV_SEND_FAILED;
                e.code = r->reasonCode;
                msg_copy(e.msg, sizeof e.msg, MQTTReasonCode_toString(r->reasonCode));
        }
        push_event(c->p, &e);
}
static void on_send_fail(void *ctx, MQTTAsync_failureData *r) {
        send_ctx *c = ctx;
        event e = { .type = EV_SEND_FAILED, .ctx = c, .code = r ? r->code : -1 };
        msg_copy(e.msg, sizeof e.msg, r ? r->message : NULL);
        push_event(c->p, &e);
}
static void on_send_fail5(void *ctx, MQTTAsync_failureData5 *r) {
        send_ctx *c = ctx;
        event e = { .type = EV_SEND_FAILED, .ctx = c, .code = r ? r->code : -1 };
        msg_copy(e.msg, sizeof e.msg, r ? r->message : NULL);
        push_event(c->p, &e);
}
static int on_ssl_error(const char *str, size_t len, void *u) {
        mqtt_pub *p = u;
        event e = { .type = EV_TLS_ERROR };
        size_t n = len < sizeof e.msg - 1 ? len : sizeof e.msg - 1;
        memcpy(e.msg, str, n);
        e.msg[n] = '\0';
        while (n > 0 && (e.msg[n - 1] == '\n' || e.msg[n - 1] == '\r'))
                e.msg[--n] = '\0';
        push_event(p, &e);
        return 0;
}

/* --- helpers on the loop's thread --- */

static uint64_t rng_next(mqtt_pub *p) {
        /* splitmix64 */
        uint64_t z = (p->rng += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Full jitter: uniform in [0, min(max, min*2^attempt)], at least 10 ms. */
static int64_t backoff_ns(mqtt_pub *p) {
        int64_t cap = p->conf->reconnect.min_ns;
        for (unsigned i = 0; i < p->attempt && cap < p->conf->reconnect.max_ns; i++)
                cap = cap > INT64_MAX / 2 ? INT64_MAX : cap * 2;
        if (cap > p->conf->reconnect.max_ns)
                cap = p->conf->reconnect.max_ns;
        int64_t d = (int64_t)(rng_next(p) % ((uint64_t)cap + 1));
        if (p->attempt < 64)
                p->attempt++;
        return d < 10 * DCEM_NS_PER_MS ? 10 * DCEM_NS_PER_MS : d;
}

static int topic_make(const mqtt_pub *p, char *buf, size_t size, const char *suffix) {
        int n = snprintf(buf, size, "%s/%s/%s", p->prefix, p->site, suffix);
        return n < 0 || (size_t)n >= size ? -E2BIG : n;
}

/* --- the self-metrics lane --- */

static void lane_remove(mqtt_pub *p, size_t i) {
        free(p->lane[i].rec);
        memmove(p->lane + i, p->lane + i + 1, (p->nlane - i - 1) * sizeof *p->lane);
        p->nlane--;
}

static ssize_t lane_find(const mqtt_pub *p, uint64_t id) {
        for (size_t i = 0; i < p->nlane; i++)
                if (p->lane[i].id == id)
                        return (ssize_t)i;
        return -1;
}

static size_t lane_count(const mqtt_pub *p, bool inflight) {
        size_t n = 0;
        for (size_t i = 0; i < p->nlane; i++)
                n += p->lane[i].inflight == inflight;
        return n;
}

/* Take rec (ownership passes) as the newest lane entry; the oldest queued
 * one loses its place when LANE_CAP are queued. */
static void lane_push(mqtt_pub *p, uint64_t id, uint8_t *rec, size_t len) {
        for (size_t i = 0; i < p->nlane;) /* forget what the budget dropped meanwhile */
                if (!p->lane[i].inflight && dcem_spool_pending(p->spool, p->lane[i].id, p->lane[i].id + 1) == 0)
                        lane_remove(p, i);
                else
                        i++;
        if (lane_count(p, false) >= LANE_CAP)
                for (size_t i = 0; i < p->nlane; i++)
                        if (!p->lane[i].inflight) {
                                lane_remove(p, i);
                                p->lane_dropped++;
                                break;
                        }
        if (p->nlane == 2 * LANE_CAP) { /* cannot happen: LANE_CAP in flight at most */
                free(rec);
                p->lane_dropped++;
                return;
        }
        p->lane[p->nlane++] = (lane_msg){ .id = id, .rec = rec, .len = len };
}

/* A session ended: what the lane had in flight is replayed by the spool. */
static void lane_forget_inflight(mqtt_pub *p) {
        for (size_t i = 0; i < p->nlane;)
                if (p->lane[i].inflight)
                        lane_remove(p, i);
                else
                        i++;
}

/* Encode and append one record. With lane, a copy goes to the self-metrics
 * lane. 0, -E2BIG (too large: counted as refused), -ENOMEM, -errno of the spool. */
static int spool_put(mqtt_pub *p, const char *topic, const char *payload, size_t plen, int qos, bool retained,
                     bool lane) {
        size_t tlen = strlen(topic);
        if (tlen >= DCEM_MQTT_TOPIC_MAX)
                return -E2BIG;
        size_t len = 6 + tlen + plen;
        if (len > dcem_spool_max_record(p->spool)) {
                p->st.refused++;
                return -E2BIG;
        }
        uint8_t *rec = malloc(len);
        if (!rec)
                return -ENOMEM;
        rec[0] = 1;
        rec[1] = (uint8_t)qos;
        rec[2] = retained ? 1 : 0;
        rec[3] = 0;
        rec[4] = (uint8_t)(tlen & 0xff);
        rec[5] = (uint8_t)(tlen >> 8);
        memcpy(rec + 6, topic, tlen);
        memcpy(rec + 6 + tlen, payload, plen);
        uint64_t id;
        int r = dcem_spool_append(p->spool, rec, len, &id);
        if (r == 0 && lane)
                lane_push(p, id, rec, len);
        else
                free(rec);
        return r;
}

static void ctx_unlink(mqtt_pub *p, send_ctx *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                p->outstanding = c->next;
        if (c->next)
                c->next->prev = c->prev;
}

static void pump(mqtt_pub *p);
static double bucket_cap(const mqtt_pub *p);

/* The session's in-flight window: max_inflight, or the broker's Receive
 * Maximum (MQTT 5 CONNACK; 0: none given) when lower. A quarter of it (at
 * least one slot) is kept for live data. */
static void set_window(mqtt_pub *p, uint64_t receive_max) {
        p->window = p->max_inflight;
        if (receive_max > 0 && receive_max < p->window)
                p->window = receive_max;
        p->max_backlog_inflight = p->window > 1 ? p->window - (p->window + 3) / 4 : 1;
}

static void session_down(mqtt_pub *p, const char *why) {
        p->epoch++;
        lane_forget_inflight(p);
        p->inflight = 0;
        p->inflight_backlog = 0;
        p->state = ST_IDLE;
        if (why)
                msg_copy(p->last_error, sizeof p->last_error, why);
        p->reconnect_at = dcem_clock_mono(p->clock) + backoff_ns(p);
}

/* A session that sent messages ended (or went wrong): paho may still hold
 * some of its messages in its own queue and would send them, out of order,
 * on the next connection. So the client is destroyed (drain_events does it,
 * outside any event handler) and the next session starts from a fresh
 * client and the spool's ack cursor: in order, duplicates possible. */
static void session_fail(mqtt_pub *p, const char *why) {
        session_down(p, why);
        p->recreate = true;
}

static int start_connect(mqtt_pub *p);

static void publish_birth(mqtt_pub *p) {
        char ts[DCEM_TS_MAX], since[DCEM_TS_MAX];
        dcem_format_utc(dcem_clock_utc(p->clock), ts);
        dcem_format_utc(p->start_utc, since);
        json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s}", "schema", DCEM_MQTT_SCHEMA, "site", p->site, "state",
                              "online", "version", DCEM_VERSION, "since", since, "ts", ts);
        char *s = o ? json_dumps(o, DCEM_JSON_FLAGS) : NULL;
        json_decref(o);
        if (!s)
                return;
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = s;
        m.payloadlen = (int)strlen(s);
        m.qos = (int)p->conf->qos.status;
        m.retained = 1;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        int rc = MQTTAsync_sendMessage(p->client, p->will_topic, &m, &ro);
        if (rc != MQTTASYNC_SUCCESS)
                log_warning("mqtt: sending the birth message failed: %s", MQTTAsync_strerror(rc));
        free(s);
}

/* MQTT topic filter matching: '+' is one level, '#' (last) the rest,
 * including the parent level ("a/#" matches "a"). */
static bool topic_matches(const char *filter, const char *topic) {
        for (;;) {
                if (filter[0] == '#')
                        return true;
                if (filter[0] == '+') {
                        while (*topic && *topic != '/')
                                topic++;
                        filter++;
                } else {
                        while (*filter && *filter != '/' && *filter == *topic) {
                                filter++;
                                topic++;
                        }
                        if ((*filter && *filter != '/') || (*topic && *topic != '/'))
                                return false;
                }
                if (!*topic)
                        return !*filter || strcmp(filter, "/#") == 0;
                if (!*filter)
                        return false;
                filter++; /* both at '/' */
                topic++;
        }
}

/* Subscribe one registered topic; a failure comes back as EV_SUB_FAILED, a
 * refused call is logged here. */
static void subscribe_one(mqtt_pub *p, size_t i) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.context = &p->subs[i].ctx;
        if (p->conf->version == 0) {
                ro.onSuccess5 = on_sub_ok5;
                ro.onFailure5 = on_sub_fail5;
        } else
                ro.onFailure = on_sub_fail;
        int rc = MQTTAsync_subscribe(p->client, p->subs[i].topic, 1, &ro);
        if (rc != MQTTASYNC_SUCCESS) {
                p->sub_failures++;
                log_warning("mqtt: cannot subscribe to %s: %s", p->subs[i].topic, MQTTAsync_strerror(rc));
        }
}

/* Subscribe every registered topic (after a connection). */
static void subscribe_all(mqtt_pub *p) {
        for (size_t i = 0; i < p->nsubs; i++)
                subscribe_one(p, i);
}

/* An arrived message to the subscriptions it matches (not while closing). */
static void dispatch_message(mqtt_pub *p, const event *e) {
        const char *topic = e->data, *payload = e->data + strlen(e->data) + 1;
        p->sub_received++;
        for (size_t i = 0; p->state != ST_CLOSING && i < p->nsubs; i++)
                if (topic_matches(p->subs[i].topic, topic))
                        p->subs[i].cb(p->subs[i].ud, topic, payload, e->len);
}

static void handle_event(mqtt_pub *p, const event *e) {
        switch (e->type) {
        case EV_MESSAGE:
                dispatch_message(p, e);
                free(e->data);
                break;
        case EV_SUB_FAILED:
                p->sub_failures++;
                if (e->code >= 0 && (size_t)e->code < p->nsubs)
                        log_warning("mqtt: subscription to %s failed: %s", p->subs[e->code].topic, e->msg);
                break;
        case EV_CONNECTED:
                if (p->state != ST_CONNECTING)
                        break;
                p->state = ST_CONNECTED;
                p->epoch++;
                p->inflight = 0;
                p->inflight_backlog = 0;
                set_window(p, e->code > 0 ? (uint64_t)e->code : 0);
                p->attempt = 0;
                p->st.connects++;
                p->connected_utc = dcem_clock_utc(p->clock);
                p->last_error[0] = '\0';
                log_info("mqtt: connected to %s as %s", p->url, p->client_id);
                if (p->conf->tls.insecure_skip_verify)
                        log_warning("mqtt: the broker's certificate was NOT verified (tls.insecure_skip_verify)");
                publish_birth(p);
                subscribe_all(p);
                /* What is in the spool now is the backlog; the rest is live. */
                p->boundary = dcem_spool_next_id(p->spool);
                dcem_spool_cursor_init(p->spool, &p->cur_backlog, 0);
                dcem_spool_cursor_init(p->spool, &p->cur_live, p->boundary);
                p->tokens = bucket_cap(p);
                p->tokens_t = dcem_clock_mono(p->clock);
                {
                        uint64_t n = dcem_spool_pending(p->spool, 0, p->boundary);
                        if (n > 0)
                                log_info("mqtt: replaying %" PRIu64 " spooled messages at %s", n,
                                         p->conf->replay.max_rate > 0 ? "the configured rate" : "full speed");
                }
                pump(p);
                break;
        case EV_CONNECT_FAILED:
                if (p->state != ST_CONNECTING)
                        break;
                p->st.connect_failures++;
                {
                        char why[448];
                        bool tls_err = strncmp(p->last_error, "TLS:", 4) == 0;
                        const char *hint = "";
                        if (tls_err)
                                hint = p->last_error;
                        else if (p->tls && strstr(e->msg, "TLS"))
                                hint = p->conf->tls.verify_hostname && !p->conf->tls.insecure_skip_verify
                                               ? "TLS handshake or certificate check failed (is the host of the url "
                                                 "named in the broker's certificate? does the broker want a client "
                                                 "certificate?)"
                                               : "TLS handshake failed (does the broker want a client certificate?)";
                        snprintf(why, sizeof why, "%s%s%s", e->msg[0] ? e->msg : "connection refused or unreachable",
                                 hint[0] ? "; " : "", hint);
                        dcem_log_limited(&rl_connect, dcem_clock_mono(p->clock), LOG_ERR,
                                         "mqtt: connecting to %s failed: %s (code %d); retrying with backoff", p->url,
                                         why, e->code);
                        session_down(p, why);
                }
                break;
        case EV_LOST:
                if (p->state != ST_CONNECTED)
                        break;
                p->st.connection_lost++;
                log_warning("mqtt: connection to %s lost: %s; data waits in the spool", p->url,
                            e->msg[0] ? e->msg : "(no cause given)");
                session_fail(p, e->msg[0] ? e->msg : "connection lost");
                break;
        case EV_SENT: {
                send_ctx *c = e->ctx;
                /* An acknowledgement is one, whatever session it came from. */
                if (dcem_spool_ack(p->spool, c->id) == 0) {
                        p->st.acked++;
                        if (c->backlog)
                                p->replay_acked++;
                }
                if (c->epoch == p->epoch && p->inflight > 0)
                        p->inflight--;
                if (c->epoch == p->epoch && c->backlog && p->inflight_backlog > 0)
                        p->inflight_backlog--;
                if (c->lane) {
                        ssize_t i = lane_find(p, c->id);
                        if (i >= 0 && p->lane[i].inflight)
                                lane_remove(p, (size_t)i);
                }
                ctx_unlink(p, c);
                free(c);
                break;
        }
        case EV_SEND_FAILED: {
                send_ctx *c = e->ctx;
                if (c->epoch == p->epoch) {
                        p->st.send_failures++;
                        if (p->inflight > 0)
                                p->inflight--;
                        if (c->backlog && p->inflight_backlog > 0)
                                p->inflight_backlog--;
                        dcem_log_limited(&rl_send, dcem_clock_mono(p->clock), LOG_WARNING,
                                         "mqtt: message %" PRIu64 " not acknowledged: %s (code %d); it will be resent",
                                         c->id, e->msg[0] ? e->msg : "send failed", e->code);
                        /* Resending within this session would reorder: start
                         * a new one from the ack cursor. */
                        session_fail(p, e->msg[0] ? e->msg : "send failed");
                }
                ctx_unlink(p, c);
                free(c);
                break;
        }
        case EV_TLS_ERROR: {
                /* OpenSSL's "HEX:error:CODE:LIB:FUNC:REASON:FILE:LINE:": keep REASON. */
                const char *f = e->msg;
                for (int i = 0; i < 5 && f; i++) {
                        f = strchr(f, ':');
                        f = f ? f + 1 : NULL;
                }
                size_t n = f ? strcspn(f, ":") : 0;
                if (f && n > 0)
                        snprintf(p->last_error, sizeof p->last_error, "TLS: %.*s", (int)n, f);
                else
                        snprintf(p->last_error, sizeof p->last_error, "TLS: %s", e->msg);
                log_debug("mqtt: %s: TLS error: %s", p->url, e->msg);
                break;
        }
        }
}

/* Handle the queued events, taking up to EV_BATCH of them per lock (fewer
 * lock hand-overs with paho's threads than one per event). */
#define EV_BATCH 32u
static void process_ring(mqtt_pub *p) {
        for (;;) {
                event batch[EV_BATCH];
                unsigned k = 0;
                bool overflow;
                pthread_mutex_lock(&p->mu);
                overflow = p->overflow;
                p->overflow = false;
                while (k < EV_BATCH && p->n > 0) {
                        batch[k++] = p->ring[p->head];
                        p->head = (p->head + 1) % EV_RING;
                        p->n--;
                }
                pthread_mutex_unlock(&p->mu);
                for (unsigned i = 0; i < k; i++)
                        handle_event(p, &batch[i]);
                if (k == 0) {
                        if (overflow && p->state == ST_CONNECTED)
                                session_fail(p, "event queue overflow");
                        break;
                }
                if (overflow && p->state == ST_CONNECTED)
                        session_fail(p, "event queue overflow");
        }
}

/* Destroy the client of a failed session (see session_fail). Events it
 * queued before dying are handled first (acknowledgements still count);
 * after MQTTAsync_destroy no callback can come, so the contexts of sends
 * that never got an answer are freed. start_connect makes a new client. */
static void client_reset(mqtt_pub *p) {
        p->recreate = false;
        if (p->client_ok) {
                if (MQTTAsync_isConnected(p->client)) {
                        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
                        d.timeout = 0;
                        (void)MQTTAsync_disconnect(p->client, &d);
                }
                MQTTAsync_destroy(&p->client);
                p->client_ok = false;
        }
        process_ring(p);
        p->recreate = false;
        while (p->outstanding) {
                send_ctx *c = p->outstanding;
                p->outstanding = c->next;
                free(c);
        }
}

static void drain_events(mqtt_pub *p) {
        uint64_t v;
        ssize_t rr = read(p->efd, &v, sizeof v);
        (void)rr;
        process_ring(p);
        if (p->recreate && p->state != ST_CLOSING)
                client_reset(p);
}

static void on_efd(dcem_loop *l, int fd, uint32_t events, void *ud) {
        (void)l;
        (void)fd;
        (void)events;
        mqtt_pub *p = ud;
        drain_events(p);
        pump(p);
}

static bool record_ok(const uint8_t *rec, size_t len) {
        size_t tlen = len >= 6 ? (size_t)rec[4] | ((size_t)rec[5] << 8) : 0;
        return len >= 6 && rec[0] == 1 && rec[1] <= 2 && 6 + tlen <= len && tlen > 0 && tlen < DCEM_MQTT_TOPIC_MAX;
}

static int send_record(mqtt_pub *p, uint64_t id, const uint8_t *rec, size_t len, bool backlog, bool lane);

/* Send the oldest queued entry of the self-metrics lane. 1 sent, 0 none
 * (or the lane's in-flight share is taken), -1 the session failed. */
static int lane_send_one(mqtt_pub *p) {
        if (lane_count(p, true) >= LANE_CAP)
                return 0;
        for (size_t i = 0; i < p->nlane;) {
                lane_msg *m = &p->lane[i];
                if (m->inflight) {
                        i++;
                        continue;
                }
                /* Acknowledged, sent by a spool lane, or dropped by the budget meanwhile. */
                if (dcem_spool_pending(p->spool, m->id, m->id + 1) == 0 || !record_ok(m->rec, m->len)) {
                        lane_remove(p, i);
                        continue;
                }
                uint64_t id = m->id;
                int r = send_record(p, id, m->rec, m->len, false, true);
                if (r > 0) {
                        ssize_t k = lane_find(p, id); /* m may have moved */
                        if (k >= 0)
                                p->lane[k].inflight = true;
                }
                return r;
        }
        return 0;
}

/* Hand one record of a spool lane to paho. 1 sent, 0 the lane is empty for
 * now, -1 the session failed (stop pumping). A record the self-metrics lane
 * has in flight is skipped; one it still holds is sent here (and leaves it). */
static int send_one(mqtt_pub *p, bool backlog) {
        uint64_t id;
        size_t len;
        for (;;) {
                int r = backlog ? dcem_spool_read_cursor(p->spool, &p->cur_backlog, p->boundary, p->rbuf, p->rbuf_size,
                                                         &id, &len)
                                : dcem_spool_read_cursor(p->spool, &p->cur_live, UINT64_MAX, p->rbuf, p->rbuf_size,
                                                         &id, &len);
                if (r == -ENOENT)
                        return 0;
                if (r < 0) {
                        dcem_log_limited(&rl_send, dcem_clock_mono(p->clock), LOG_ERR, "mqtt: reading the spool: %s",
                                         strerror(-r));
                        return 0;
                }
                if (!record_ok(p->rbuf, len)) {
                        log_error("mqtt: spool record %" PRIu64 " is not a message; skipped", id);
                        (void)dcem_spool_ack(p->spool, id);
                        continue;
                }
                if (p->nlane > 0) {
                        ssize_t k = lane_find(p, id);
                        if (k >= 0 && p->lane[k].inflight)
                                continue;
                        if (k >= 0)
                                lane_remove(p, (size_t)k);
                }
                break;
        }
        return send_record(p, id, p->rbuf, len, backlog, false);
}

/* Hand record id (bytes rec, checked by record_ok) to paho. 1 sent, -1 the
 * session failed. */
static int send_record(mqtt_pub *p, uint64_t id, const uint8_t *rec, size_t len, bool backlog, bool lane) {
        size_t tlen = (size_t)rec[4] | ((size_t)rec[5] << 8);
        char topic[DCEM_MQTT_TOPIC_MAX];
        memcpy(topic, rec + 6, tlen);
        topic[tlen] = '\0';
        send_ctx *c = calloc(1, sizeof *c);
        if (!c) {
                session_fail(p, "out of memory");
                return -1;
        }
        c->p = p;
        c->id = id;
        c->epoch = p->epoch;
        c->backlog = backlog;
        c->lane = lane;
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = (void *)(rec + 6 + tlen);
        m.payloadlen = (int)(len - 6 - tlen);
        m.qos = rec[1];
        m.retained = rec[2];
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.context = c;
        if (p->conf->version == 0) {
                ro.onSuccess5 = on_sent5;
                ro.onFailure5 = on_send_fail5;
                if (backlog)
                        m.properties = p->replay_props;
        } else {
                ro.onSuccess = on_sent;
                ro.onFailure = on_send_fail;
        }
        /* Link before sending: the callback may run before sendMessage returns. */
        c->next = p->outstanding;
        if (c->next)
                c->next->prev = c;
        p->outstanding = c;
        int rc = MQTTAsync_sendMessage(p->client, topic, &m, &ro);
        if (rc != MQTTASYNC_SUCCESS) {
                ctx_unlink(p, c);
                free(c);
                p->st.send_failures++;
                dcem_log_limited(&rl_send, dcem_clock_mono(p->clock), LOG_WARNING,
                                 "mqtt: handing message %" PRIu64 " to the client failed: %s", id, MQTTAsync_strerror(rc));
                /* A new session resends from the oldest unacknowledged. */
                session_fail(p, MQTTAsync_strerror(rc));
                return -1;
        }
        p->inflight++;
        if (backlog)
                p->inflight_backlog++;
        p->st.sent++;
        return 1;
}

/* The replay token bucket holds a tenth of a second's worth (at least one
 * message); it starts full, so a short backlog (a few messages spooled while
 * connecting) goes out at once, ahead of live data. */
static double bucket_cap(const mqtt_pub *p) {
        double rate = p->conf->replay.max_rate;
        return rate / 10 > 1 ? rate / 10 : 1;
}

/* Refill the replay token bucket: max_rate per second. */
static void refill(mqtt_pub *p) {
        double rate = p->conf->replay.max_rate;
        int64_t now = dcem_clock_mono(p->clock);
        if (rate <= 0) {
                p->tokens_t = now;
                return;
        }
        double cap = bucket_cap(p);
        p->tokens += (double)(now - p->tokens_t) * rate / 1e9;
        if (p->tokens > cap)
                p->tokens = cap;
        p->tokens_t = now;
}

/* Send while the window allows: first the backlog lane, within the replay
 * rate and its share of the window (so it progresses even when live data
 * alone would fill the link), then the live lane in every slot left (at
 * least a quarter of the window is never taken by the backlog). */
static void pump(mqtt_pub *p) {
        refill(p);
        while (p->state == ST_CONNECTED && p->inflight < p->window)
                if (lane_send_one(p) <= 0)
                        break;
        bool limited = p->conf->replay.max_rate > 0;
        while (p->state == ST_CONNECTED && p->inflight < p->window &&
               p->inflight_backlog < p->max_backlog_inflight && (!limited || p->tokens >= 1)) {
                if (send_one(p, true) <= 0)
                        break;
                if (limited)
                        p->tokens -= 1;
        }
        while (p->state == ST_CONNECTED && p->inflight < p->window)
                if (send_one(p, false) <= 0)
                        break;
}

static int read_password(const char *path, char **ret, char *errbuf, size_t errlen) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                snprintf(errbuf, errlen, "output.mqtt.password_file %s: %s", path, strerror(errno));
                return r;
        }
        char buf[1025];
        ssize_t n = read(fd, buf, sizeof buf);
        int e = errno;
        close(fd);
        if (n < 0) {
                snprintf(errbuf, errlen, "output.mqtt.password_file %s: %s", path, strerror(e));
                return -e;
        }
        if (n > 1024) {
                snprintf(errbuf, errlen, "output.mqtt.password_file %s: longer than 1 KiB", path);
                return -E2BIG;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        char *s = strdup(buf);
        explicit_bzero(buf, sizeof buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* A paho client for the next session: no persistence, no sending while
 * disconnected (the spool does that). 0, or -EINVAL / -EIO with errbuf. */
static int client_create(mqtt_pub *p, char *errbuf, size_t errlen) {
        MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
        cro.MQTTVersion = p->conf->version == 0 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
        cro.sendWhileDisconnected = 0;
        cro.maxBufferedMessages = (int)(p->max_inflight * 2 + 16);
        int rc = MQTTAsync_createWithOptions(&p->client, p->url, p->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
        if (rc != MQTTASYNC_SUCCESS) {
                snprintf(errbuf, errlen, "output.mqtt: cannot create the client for %s: %s", p->url,
                         MQTTAsync_strerror(rc));
                return -EINVAL;
        }
        p->client_ok = true;
        rc = MQTTAsync_setCallbacks(p->client, p, on_lost, on_message, NULL);
        if (rc != MQTTASYNC_SUCCESS) {
                snprintf(errbuf, errlen, "output.mqtt: setting callbacks: %s", MQTTAsync_strerror(rc));
                MQTTAsync_destroy(&p->client);
                p->client_ok = false;
                return -EIO;
        }
        return 0;
}

static int start_connect(mqtt_pub *p) {
        if (!p->client_ok) {
                char err[256];
                if (client_create(p, err, sizeof err) < 0) {
                        dcem_log_limited(&rl_connect, dcem_clock_mono(p->clock), LOG_ERR, "mqtt: %s", err);
                        session_down(p, err);
                        return -EIO;
                }
        }
        MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
        MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
        MQTTAsync_connectOptions *o = p->conf->version == 0 ? &co5 : &co;
        MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
        MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
        MQTTProperties props = MQTTProperties_initializer;
        char since[DCEM_TS_MAX];
        dcem_format_utc(dcem_clock_utc(p->clock), since);
        snprintf(p->will_payload, sizeof p->will_payload,
                 "{\"schema\":%d,\"site\":\"%s\",\"state\":\"offline\",\"version\":\"%s\",\"since\":\"%s\",\"ts\":\"%s\"}",
                 DCEM_MQTT_SCHEMA, p->site, DCEM_VERSION, since, since);
        will.topicName = p->will_topic;
        will.message = p->will_payload;
        will.retained = 1;
        will.qos = (int)p->conf->qos.status;
        o->will = &will;
        o->keepAliveInterval = (int)(p->conf->keepalive_ns / DCEM_NS_PER_S);
        /* paho's own limit well above ours: paho counts a message in flight
         * until after its acknowledgement callback returned, so with equal
         * limits the next send often found paho's window full, and paho's
         * send thread then waited on its 1 s timed condition (the stalls
         * of docs/BENCHMARKS.md). Our window alone bounds what is sent. */
        o->maxInflight = (int)(p->max_inflight * 2 + 16);
        o->connectTimeout = 10;
        o->username = p->username;
        o->password = p->password;
        o->automaticReconnect = 0;
        o->context = p;
        if (p->conf->version == 0) {
                o->cleanstart = p->conf->clean_session;
                o->onSuccess5 = on_connect_ok5;
                o->onFailure5 = on_connect_fail5;
                if (!p->conf->clean_session) {
                        MQTTProperty pr = { .identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL };
                        pr.value.integer4 = 7 * 86400;
                        MQTTProperties_add(&props, &pr);
                        o->connectProperties = &props;
                }
        } else {
                o->MQTTVersion = MQTTVERSION_3_1_1;
                o->cleansession = p->conf->clean_session;
                o->onSuccess = on_connect_ok;
                o->onFailure = on_connect_fail;
        }
        if (p->tls) {
                const mqtt_tls_conf *t = &p->conf->tls;
                ssl.trustStore = t->ca_file;
                ssl.CApath = t->ca_dir;
                ssl.keyStore = t->cert_file;
                ssl.privateKey = t->key_file;
                ssl.enableServerCertAuth = !t->insecure_skip_verify;
                ssl.verify = !t->insecure_skip_verify && t->verify_hostname;
                ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
                ssl.ssl_error_cb = on_ssl_error;
                ssl.ssl_error_context = p;
                o->ssl = &ssl;
        }
        p->state = ST_CONNECTING;
        p->reconnect_at = INT64_MAX;
        p->last_error[0] = '\0';
        int rc = MQTTAsync_connect(p->client, o);
        MQTTProperties_free(&props);
        if (rc != MQTTASYNC_SUCCESS) {
                p->st.connect_failures++;
                dcem_log_limited(&rl_connect, dcem_clock_mono(p->clock), LOG_ERR,
                                 "mqtt: cannot start connecting to %s: %s", p->url, MQTTAsync_strerror(rc));
                session_down(p, MQTTAsync_strerror(rc));
                return -EIO;
        }
        return 0;
}

#define TICK_NS (100 * DCEM_NS_PER_MS)

static void on_tick(dcem_loop *l, uint64_t id, void *ud) {
        (void)id;
        mqtt_pub *p = ud;
        int64_t now = dcem_clock_mono(p->clock);
        int r = dcem_spool_tick(p->spool);
        if (r < 0)
                dcem_log_limited(&rl_send, now, LOG_ERR, "mqtt: syncing the spool: %s", strerror(-r));
        if (p->state == ST_IDLE && now >= p->reconnect_at)
                (void)start_connect(p);
        drain_events(p);
        pump(p);
        if (now - p->rate_t0 >= 2 * DCEM_NS_PER_S) {
                p->replay_rate = (double)(p->replay_acked - p->rate_acked0) * 1e9 / (double)(now - p->rate_t0);
                p->rate_t0 = now;
                p->rate_acked0 = p->replay_acked;
        }
        if (dcem_loop_add_timer(l, now + TICK_NS, on_tick, p, &p->tick_timer) < 0)
                p->tick_timer = 0;
}

/* --- per-stream sequence numbers of the generic streams --- */

static void seq_path(const mqtt_pub *p, char *buf, size_t size, bool tmp) {
        snprintf(buf, size, "%s/mqtt-seq.json%s", p->state_dir, tmp ? ".tmp" : "");
}

static void seq_load(mqtt_pub *p) {
        char path[4096];
        seq_path(p, path, sizeof path, false);
        json_error_t je;
        json_t *o = json_load_file(path, 0, &je);
        if (!o)
                return;
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
                if (p->nseqs >= DCEM_MQTT_STREAMS_MAX || strlen(k) >= sizeof p->seqs[0].suffix ||
                    !json_is_integer(v) || json_integer_value(v) < 0)
                        continue;
                snprintf(p->seqs[p->nseqs].suffix, sizeof p->seqs[0].suffix, "%s", k);
                p->seqs[p->nseqs++].next = (uint64_t)json_integer_value(v);
        }
        json_decref(o);
}

/* Persist the counters (write, fsync, rename) before the message using the
 * number is spooled: a number is never reused after a crash. */
static int seq_save(mqtt_pub *p) {
        json_t *o = json_object();
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < p->nseqs; i++)
                json_object_set_new(o, p->seqs[i].suffix, json_integer((json_int_t)p->seqs[i].next));
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        char path[4096], tmp[4096];
        seq_path(p, path, sizeof path, false);
        seq_path(p, tmp, sizeof tmp, true);
        int r = 0;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                r = -errno;
        else {
                size_t len = strlen(s);
                if (write(fd, s, len) != (ssize_t)len)
                        r = errno ? -errno : -EIO;
                if (r == 0 && p->conf->spool.fsync_ns == 0 && fsync(fd) < 0)
                        r = -errno;
                close(fd);
                if (r == 0 && rename(tmp, path) < 0)
                        r = -errno;
        }
        free(s);
        return r;
}

static int seq_take(mqtt_pub *p, const char *suffix, uint64_t *ret) {
        size_t i;
        for (i = 0; i < p->nseqs; i++)
                if (strcmp(p->seqs[i].suffix, suffix) == 0)
                        break;
        if (i == p->nseqs) {
                if (p->nseqs >= DCEM_MQTT_STREAMS_MAX || strlen(suffix) >= sizeof p->seqs[0].suffix)
                        return -ENOSPC;
                snprintf(p->seqs[i].suffix, sizeof p->seqs[0].suffix, "%s", suffix);
                p->seqs[i].next = 0;
                p->nseqs++;
        }
        uint64_t v = p->seqs[i].next++;
        int r = seq_save(p);
        if (r < 0) {
                p->seqs[i].next--;
                return r;
        }
        *ret = v;
        return 0;
}

/* --- the publisher seam --- */

static void mqtt_close(void *state);

static char *dup_or_null(const char *s, bool *oom) {
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

static int mqtt_init(const dcem_publisher_env *env, const void *conf, void **ret_state, char *errbuf, size_t errlen) {
        const mqtt_conf *c = conf;
        if (!c || !c->url || !env->site || !env->state_dir) {
                snprintf(errbuf, errlen, "output.mqtt: url, site and state_dir are needed");
                return -EINVAL;
        }
        mqtt_pub *p = calloc(1, sizeof *p);
        if (!p) {
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        p->efd = -1;
        pthread_mutex_init(&p->mu, NULL);
        p->loop = env->loop;
        p->clock = env->clock;
        p->conf = c;
        p->reconnect_at = INT64_MAX;
        p->max_inflight = (uint64_t)c->max_inflight;
        set_window(p, 0);
        p->start_utc = dcem_clock_utc(p->clock);
        p->rng = (uint64_t)dcem_clock_mono(p->clock) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)p->start_utc;
        p->rate_t0 = dcem_clock_mono(p->clock);
        bool oom = false;
        char cid[128];
        snprintf(cid, sizeof cid, "dcem-%s", env->site);
        p->site = dup_or_null(env->site, &oom);
        p->url = dup_or_null(c->url, &oom);
        p->client_id = dup_or_null(c->client_id ? c->client_id : cid, &oom);
        p->prefix = dup_or_null(c->prefix ? c->prefix : "dcem", &oom);
        p->username = dup_or_null(c->username, &oom);
        p->state_dir = dup_or_null(env->state_dir, &oom);
        if (oom) {
                mqtt_close(p);
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
        }
        int r;
        if (!url_scheme(p->url, &p->tls)) {
                snprintf(errbuf, errlen, "output.mqtt.url: %s: not mqtt://, mqtts://, ws:// or wss://", p->url);
                mqtt_close(p);
                return -EINVAL;
        }
        if (!topic_part_ok(p->site, 64, false) || topic_make(p, p->will_topic, sizeof p->will_topic, "status") < 0) {
                snprintf(errbuf, errlen, "output.mqtt: site \"%s\" cannot be a topic level", p->site);
                mqtt_close(p);
                return -EINVAL;
        }
        if (c->password_file && (r = read_password(c->password_file, &p->password, errbuf, errlen)) < 0) {
                mqtt_close(p);
                return r;
        }
        if (p->tls && c->tls.insecure_skip_verify)
                log_warning("mqtt: output.mqtt.tls.insecure_skip_verify is ON: any certificate is accepted, "
                            "the connection can be intercepted");
        else if (p->tls && !c->tls.verify_hostname)
                log_warning("mqtt: output.mqtt.tls.verify_hostname is OFF: the broker's name is not checked");

        /* The spool. */
        char dir[4096];
        if (mkdir(p->state_dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                snprintf(errbuf, errlen, "state_dir %s: %s", p->state_dir, strerror(errno));
                mqtt_close(p);
                return r;
        }
        snprintf(dir, sizeof dir, "%s/mqtt-spool", p->state_dir);
        dcem_spool_opts so = { .max_bytes = c->spool.max_bytes, .fsync_interval_ns = c->spool.fsync_ns };
        r = dcem_spool_open(dir, &so, p->clock, &p->spool, errbuf, errlen);
        if (r < 0) {
                mqtt_close(p);
                return r;
        }
        p->rbuf_size = dcem_spool_max_record(p->spool);
        p->rbuf = malloc(p->rbuf_size ? p->rbuf_size : 1);
        if (!p->rbuf) {
                mqtt_close(p);
                return -ENOMEM;
        }
        dcem_spool_stats ss;
        dcem_spool_get_stats(p->spool, &ss);
        if (ss.recovered_records > 0 || ss.truncated_bytes > 0)
                log_notice("mqtt: spool %s: %" PRIu64 " messages to replay, %" PRIu64 " bytes of a torn record cut",
                           dir, ss.records, ss.truncated_bytes);
        seq_load(p);

        /* The MQTT 5 user property of replayed messages, built by hand on
         * static storage: paho deep-copies message properties, and its
         * MQTTProperties_add/free pair leaks through paho's heap tracker. */
        p->replay_prop.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
        p->replay_prop.value.data.data = (char *)"dcem-replay";
        p->replay_prop.value.data.len = (int)strlen("dcem-replay");
        p->replay_prop.value.value.data = (char *)"1";
        p->replay_prop.value.value.len = 1;
        p->replay_props.count = 1;
        p->replay_props.max_count = 1;
        p->replay_props.length = 1 + 2 + (int)strlen("dcem-replay") + 2 + 1;
        p->replay_props.array = &p->replay_prop;

        /* The client. */
        r = client_create(p, errbuf, errlen);
        if (r < 0) {
                mqtt_close(p);
                return r;
        }
        p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (p->efd < 0 || (r = dcem_loop_add_fd(p->loop, p->efd, DCEM_EV_READ, on_efd, p)) < 0) {
                r = p->efd < 0 ? -errno : r;
                snprintf(errbuf, errlen, "output.mqtt: eventfd: %s", strerror(-r));
                mqtt_close(p);
                return r;
        }
        r = dcem_loop_add_timer(p->loop, dcem_clock_mono(p->clock) + TICK_NS, on_tick, p, &p->tick_timer);
        if (r < 0) {
                snprintf(errbuf, errlen, "output.mqtt: timer: %s", strerror(-r));
                mqtt_close(p);
                return r;
        }
        /* Connect now; a broker that is down is not an error (data spools). */
        (void)start_connect(p);
        *ret_state = p;
        return 0;
}

static int mqtt_publish(void *state, dcem_batch *b) {
        mqtt_pub *p = state;
        char topic[DCEM_MQTT_TOPIC_MAX], suffix[DCEM_MQTT_TOPIC_MAX];
        if (!topic_part_ok(b->device, DCEM_NAME_MAX, false))
                return -EINVAL;
        snprintf(suffix, sizeof suffix, "devices/%s", b->device);
        if (topic_make(p, topic, sizeof topic, suffix) < 0)
                return -E2BIG;
        char *s = NULL;
        size_t slen = 0;
        int r = dcem_json_device_message(p->site, DCEM_MQTT_SCHEMA, b, &s, &slen);
        if (r < 0)
                return r;
        r = spool_put(p, topic, s, slen, (int)p->conf->qos.devices, false, false);
        free(s);
        if (r == -E2BIG)
                dcem_log_limited(&rl_send, dcem_clock_mono(p->clock), LOG_ERR,
                                 "mqtt: the message of device %s (%zu points) exceeds the spool's record size; dropped",
                                 b->device, b->n);
        else if (r < 0)
                dcem_log_limited(&rl_send, dcem_clock_mono(p->clock), LOG_ERR, "mqtt: spooling device %s: %s",
                                 b->device, strerror(-r));
        if (r == 0)
                pump(p);
        return r;
}

static int stream_qos(const mqtt_pub *p, dcem_mqtt_stream st) {
        switch (st) {
        case DCEM_MQTT_DEVICES:
                return (int)p->conf->qos.devices;
        case DCEM_MQTT_INTERVALS:
                return (int)p->conf->qos.intervals;
        case DCEM_MQTT_METRICS:
                return (int)p->conf->qos.metrics;
        case DCEM_MQTT_STATUS:
                return (int)p->conf->qos.status;
        case DCEM_MQTT_LEDGER:
                return (int)p->conf->qos.ledger;
        case DCEM_MQTT_AGENT:
        default:
                return (int)p->conf->qos.agent;
        }
}

/* Prepend schema, site, seq, ts to obj's members; spool it (lane: and give
 * it to the self-metrics lane). */
static int put_json(mqtt_pub *p, const char *topic, const char *seq_key, json_t *obj, int qos, bool retained,
                    bool lane) {
        uint64_t seq;
        int r = seq_take(p, seq_key, &seq);
        if (r < 0)
                return r;
        char ts[DCEM_TS_MAX];
        dcem_format_utc(dcem_clock_utc(p->clock), ts);
        json_t *o = json_object();
        if (!o)
                return -ENOMEM;
        json_object_set_new(o, "schema", json_integer(DCEM_MQTT_SCHEMA));
        json_object_set_new(o, "site", dcem_json_string(p->site));
        json_object_set_new(o, "seq", json_integer((json_int_t)seq));
        if (!json_object_get(obj, "ts"))
                json_object_set_new(o, "ts", json_string(ts));
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
                if (strcmp(k, "schema") && strcmp(k, "site") && strcmp(k, "seq"))
                        json_object_set(o, k, v);
        }
        char *s = json_dumps(o, DCEM_JSON_FLAGS);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        r = spool_put(p, topic, s, strlen(s), qos, retained, lane);
        free(s);
        if (r == 0)
                pump(p);
        return r;
}

int dcem_mqtt_publish_json(void *state, dcem_mqtt_stream stream, const char *suffix, const char *json, int qos,
                           bool retained) {
        mqtt_pub *p = state;
        if (!p || !suffix || !json || qos < -1 || qos > 2 || (unsigned)stream >= _DCEM_MQTT_STREAM_MAX)
                return -EINVAL;
        if (!topic_part_ok(suffix, 64, true))
                return -EINVAL;
        for (const char *c = suffix; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '/'))
                        return -EINVAL;
        char topic[DCEM_MQTT_TOPIC_MAX];
        if (topic_make(p, topic, sizeof topic, suffix) < 0)
                return -E2BIG;
        if (strlen(json) > dcem_spool_max_record(p->spool))
                return -E2BIG;
        json_error_t je;
        json_t *obj = json_loads(json, JSON_REJECT_DUPLICATES, &je);
        if (!obj || !json_is_object(obj)) {
                json_decref(obj);
                return -EINVAL;
        }
        int r = put_json(p, topic, suffix, obj, qos < 0 ? stream_qos(p, stream) : qos, retained,
                         stream == DCEM_MQTT_AGENT);
        json_decref(obj);
        return r;
}

int dcem_mqtt_device_status(void *state, const char *device, bool reachable, int64_t since_utc_ns, const char *err) {
        mqtt_pub *p = state;
        if (!p || !device || !topic_part_ok(device, DCEM_NAME_MAX, false))
                return -EINVAL;
        char suffix[DCEM_MQTT_TOPIC_MAX], topic[DCEM_MQTT_TOPIC_MAX], since[DCEM_TS_MAX];
        snprintf(suffix, sizeof suffix, "devices/%s/status", device);
        if (topic_make(p, topic, sizeof topic, suffix) < 0)
                return -E2BIG;
        dcem_format_utc(since_utc_ns, since);
        json_t *o = json_pack("{s:o,s:s,s:s,s:o}", "device", dcem_json_string(device), "state",
                              reachable ? "reachable" : "unreachable", "since", since, "error",
                              err && err[0] ? dcem_json_string(err) : json_null());
        if (!o)
                return -ENOMEM;
        /* One sequence for the status of every device: per-device counters
         * would be unbounded in number. */
        int r = put_json(p, topic, "devices/+/status", o, stream_qos(p, DCEM_MQTT_STATUS), true, false);
        json_decref(o);
        return r;
}

void dcem_mqtt_get_stats(void *state, dcem_mqtt_stats *ret) {
        mqtt_pub *p = state;
        dcem_spool_stats ss;
        dcem_spool_get_stats(p->spool, &ss);
        *ret = p->st;
        ret->connected = p->state == ST_CONNECTED;
        ret->inflight = p->inflight;
        /* Connected: the backlog lane's records not yet acknowledged; not
         * connected: everything held (all of it is replayed at the next
         * connection). */
        ret->backlog = dcem_spool_pending(p->spool, 0, p->state == ST_CONNECTED ? p->boundary : UINT64_MAX);
        ret->spool_records = ss.records;
        ret->spool_bytes = ss.bytes;
        ret->spool_dropped_records = ss.dropped_records;
        ret->spool_dropped_bytes = ss.dropped_bytes;
        ret->spool_truncated_bytes = ss.truncated_bytes;
        ret->replayed = p->replay_acked;
        ret->replay_rate = p->replay_rate;
        ret->sub_received = p->sub_received;
        ret->sub_failures = p->sub_failures;
        ret->spool_budget = p->conf->spool.max_bytes ? p->conf->spool.max_bytes : DCEM_SPOOL_DEFAULT_BYTES;
        ret->lane_depth = lane_count(p, false);
        ret->lane_cap = LANE_CAP;
        ret->lane_dropped = p->lane_dropped;
        pthread_mutex_lock(&p->mu);
        ret->sub_dropped = p->sub_dropped;
        pthread_mutex_unlock(&p->mu);
}

int dcem_mqtt_stats_json(void *state, char *buf, size_t size) {
        dcem_mqtt_stats s;
        dcem_mqtt_get_stats(state, &s);
        json_t *o = json_pack("{s:{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:{s:I,s:I,s:I,s:I,s:I,s:I}}}", "mqtt",
                              "connected", s.connected, "connects", (json_int_t)s.connects, "connect_failures",
                              (json_int_t)s.connect_failures, "connection_lost", (json_int_t)s.connection_lost, "sent",
                              (json_int_t)s.sent, "acked", (json_int_t)s.acked, "send_failures",
                              (json_int_t)s.send_failures, "refused", (json_int_t)s.refused, "inflight",
                              (json_int_t)s.inflight, "replayed", (json_int_t)s.replayed, "replay_rate",
                              s.replay_rate, "spool", "records",
                              (json_int_t)s.spool_records, "bytes", (json_int_t)s.spool_bytes, "backlog",
                              (json_int_t)s.backlog, "dropped_records", (json_int_t)s.spool_dropped_records,
                              "dropped_bytes", (json_int_t)s.spool_dropped_bytes, "truncated_bytes",
                              (json_int_t)s.spool_truncated_bytes);
        if (!o)
                return -ENOMEM;
        char *t = json_dumps(o, DCEM_JSON_FLAGS);
        json_decref(o);
        if (!t)
                return -ENOMEM;
        size_t n = strlen(t);
        int r = n < size ? (int)n : -ENOBUFS;
        if (r >= 0)
                memcpy(buf, t, n + 1);
        free(t);
        return r;
}

/* Everything spooled was acknowledged: 0. Still sending: -EAGAIN. Not
 * connected: 0 (the data is safe in the spool and goes out after a restart). */
/* While it returns -EAGAIN the spool follows its fsync policy (the caller
 * may call this in a loop: a full sync each time cost two fsyncs of the
 * ack file per call); the full sync comes with the final answer. */
static int mqtt_flush(void *state) {
        mqtt_pub *p = state;
        drain_events(p);
        pump(p);
        if (p->state == ST_CONNECTED && (p->inflight > 0 || dcem_spool_pending(p->spool, 0, UINT64_MAX) > 0)) {
                int r = dcem_spool_tick(p->spool);
                return r < 0 ? r : -EAGAIN;
        }
        return dcem_spool_sync(p->spool);
}

/* Publish "offline", let acknowledgements in flight arrive (up to 2 s),
 * disconnect, and close the spool (fsync, cursor). */
static void mqtt_close(void *state) {
        mqtt_pub *p = state;
        if (!p)
                return;
        if (p->tick_timer)
                (void)dcem_loop_cancel_timer(p->loop, p->tick_timer);
        if (p->client_ok) {
                if (p->state == ST_CONNECTED) {
                        MQTTAsync_message m = MQTTAsync_message_initializer;
                        char now[DCEM_TS_MAX];
                        dcem_format_utc(dcem_clock_utc(p->clock), now);
                        char payload[256];
                        snprintf(payload, sizeof payload,
                                 "{\"schema\":%d,\"site\":\"%s\",\"state\":\"offline\",\"version\":\"%s\",\"since\":\"%s\",\"ts\":\"%s\"}",
                                 DCEM_MQTT_SCHEMA, p->site, DCEM_VERSION, now, now);
                        m.payload = payload;
                        m.payloadlen = (int)strlen(payload);
                        m.qos = (int)p->conf->qos.status;
                        m.retained = 1;
                        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
                        (void)MQTTAsync_sendMessage(p->client, p->will_topic, &m, &ro);
                        /* Wait for the acknowledgements in flight. */
                        int64_t end = dcem_clock_mono(&dcem_clock_system) + 2 * DCEM_NS_PER_S;
                        while (p->inflight > 0 && p->state == ST_CONNECTED &&
                               dcem_clock_mono(&dcem_clock_system) < end) {
                                struct pollfd pf = { .fd = p->efd, .events = POLLIN };
                                (void)poll(&pf, 1, 100);
                                drain_events(p);
                        }
                        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
                        d.timeout = 1000;
                        (void)MQTTAsync_disconnect(p->client, &d);
                        for (int i = 0; i < 20 && MQTTAsync_isConnected(p->client); i++)
                                usleep(50000);
                }
                MQTTAsync_destroy(&p->client);
        }
        if (p->efd >= 0) {
                p->state = ST_CLOSING;
                drain_events(p); /* late acknowledgements still count */
                (void)dcem_loop_del_fd(p->loop, p->efd);
                close(p->efd);
        }
        while (p->outstanding) {
                send_ctx *c = p->outstanding;
                p->outstanding = c->next;
                free(c);
        }
        for (unsigned i = 0; i < p->n; i++) /* only when the eventfd never existed */
                free(p->ring[(p->head + i) % EV_RING].data);
        for (size_t i = 0; i < p->nsubs; i++)
                free(p->subs[i].topic);
        while (p->nlane > 0)
                lane_remove(p, p->nlane - 1);
        dcem_spool_close(p->spool);
        pthread_mutex_destroy(&p->mu);
        free(p->rbuf);
        free(p->site);
        free(p->url);
        free(p->client_id);
        free(p->prefix);
        free(p->username);
        if (p->password) {
                explicit_bzero(p->password, strlen(p->password));
                free(p->password);
        }
        free(p->state_dir);
        free(p);
}

/* The publisher seam's counters: what the agent publishes as "<name>.mqtt". */
static size_t mqtt_counters(void *state, dcem_counter *ret, size_t max) {
        dcem_mqtt_stats st;
        dcem_mqtt_get_stats(state, &st);
        const dcem_counter all[] = {
                { "connected", st.connected ? 1 : 0, DCEM_KIND_GAUGE },
                { "connects", (double)st.connects, DCEM_KIND_COUNTER },
                { "connection_lost", (double)st.connection_lost, DCEM_KIND_COUNTER },
                { "acked", (double)st.acked, DCEM_KIND_COUNTER },
                { "backlog", (double)st.backlog, DCEM_KIND_GAUGE },
                { "replay_rate", st.replay_rate, DCEM_KIND_GAUGE },
                { "inflight", (double)st.inflight, DCEM_KIND_GAUGE },
                { "spool_records", (double)st.spool_records, DCEM_KIND_GAUGE },
                { "spool_bytes", (double)st.spool_bytes, DCEM_KIND_GAUGE },
                { "spool_dropped_records", (double)st.spool_dropped_records, DCEM_KIND_COUNTER },
                { "spool_dropped_bytes", (double)st.spool_dropped_bytes, DCEM_KIND_COUNTER },
                { "spool_truncated_bytes", (double)st.spool_truncated_bytes, DCEM_KIND_COUNTER },
                { "refused", (double)st.refused, DCEM_KIND_COUNTER },
                { "sub_received", (double)st.sub_received, DCEM_KIND_COUNTER },
                { "sub_dropped", (double)st.sub_dropped, DCEM_KIND_COUNTER },
                { "sub_failures", (double)st.sub_failures, DCEM_KIND_COUNTER },
        };
        size_t n = sizeof all / sizeof all[0];
        if (n > max)
                n = max;
        memcpy(ret, all, n * sizeof *ret);
        return n;
}

/* A certification ledger entry (agent/ledger.c) to <prefix>/<site>/ledger:
 * published byte for byte as it is in the ledger file (it carries its own
 * schema, site, chain seq and ts; no envelope is added), spooled like every
 * stream. 0, -EINVAL (not a JSON object), -E2BIG, -errno. */
static int publish_ledger(void *state, const char *json, size_t len) {
        mqtt_pub *p = state;
        char topic[DCEM_MQTT_TOPIC_MAX];
        if (!p || topic_make(p, topic, sizeof topic, "ledger") < 0)
                return -E2BIG;
        if (len > dcem_spool_max_record(p->spool))
                return -E2BIG;
        json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
        bool ok = json_is_object(o);
        json_decref(o);
        if (!ok)
                return -EINVAL;
        int r = spool_put(p, topic, json, len, stream_qos(p, DCEM_MQTT_LEDGER), false, false);
        if (r == 0)
                pump(p);
        return r;
}

/* The publisher seam's record entry: stream "intervals", "metrics" or
 * "agent" to <prefix>/<site>/<stream> at the stream's QoS. */
static int mqtt_publish_record(void *state, const char *stream, const char *json, size_t len) {
        static const struct {
                const char *name;
                dcem_mqtt_stream stream;
        } map[] = { { "intervals", DCEM_MQTT_INTERVALS }, { "metrics", DCEM_MQTT_METRICS }, { "agent", DCEM_MQTT_AGENT } };
        if (strlen(json) != len)
                return -EINVAL;
        if (strcmp(stream, "ledger") == 0)
                return publish_ledger(state, json, len);
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                if (strcmp(stream, map[i].name) == 0)
                        return dcem_mqtt_publish_json(state, map[i].stream, stream, json, -1, false);
        return -EINVAL;
}

static int64_t mqtt_self_metrics_interval(void *state) {
        mqtt_pub *p = state;
        return p->conf->self_metrics_ns;
}

static int mqtt_delivery(void *state, dcem_delivery_stats *ret) {
        dcem_mqtt_stats st;
        dcem_mqtt_get_stats(state, &st);
        *ret = (dcem_delivery_stats){
                .connected = st.connected,
                .inflight = st.inflight,
                .spool_bytes = st.spool_bytes,
                .spool_records = st.spool_records,
                .spool_budget_bytes = st.spool_budget,
                .spool_dropped_records = st.spool_dropped_records,
                .spool_dropped_bytes = st.spool_dropped_bytes,
                .backlog = st.backlog,
                .replay_rate = st.replay_rate,
                .replayed = st.replayed,
                .lane_depth = st.lane_depth,
                .lane_cap = st.lane_cap,
                .lane_dropped = st.lane_dropped,
        };
        return 0;
}

/* The seam's subscribe op: topic is an MQTT filter of 1..DCEM_MQTT_TOPIC_MAX-1
 * bytes ('+' and '#' as whole levels, '#' last). Subscribed at once when
 * connected, and after every connection. */
static int mqtt_subscribe(void *state, const char *topic,
                          void (*cb)(void *ud, const char *topic, const void *payload, size_t len), void *ud) {
        mqtt_pub *p = state;
        size_t n = topic ? strnlen(topic, DCEM_MQTT_TOPIC_MAX) : 0;
        if (!p || !cb || n == 0 || n >= DCEM_MQTT_TOPIC_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                bool level_start = i == 0 || topic[i - 1] == '/';
                bool level_end = i + 1 == n || topic[i + 1] == '/';
                if ((topic[i] == '+' && !(level_start && level_end)) ||
                    (topic[i] == '#' && !(level_start && i + 1 == n)))
                        return -EINVAL;
        }
        if (p->nsubs == SUBS_MAX)
                return -E2BIG;
        char *t = strdup(topic);
        if (!t)
                return -ENOMEM;
        mqtt_sub *s = &p->subs[p->nsubs];
        *s = (mqtt_sub){ .topic = t, .ctx = { .p = p, .idx = (unsigned)p->nsubs }, .cb = cb, .ud = ud };
        p->nsubs++;
        if (p->state == ST_CONNECTED && p->client_ok)
                subscribe_one(p, p->nsubs - 1);
        return 0;
}

const dcem_publisher_ops dcem_mqtt_publisher = {
        .name = "mqtt",
        .schema = &mqtt_schema,
        .init = mqtt_init,
        .publish = mqtt_publish,
        .publish_record = mqtt_publish_record,
        .device_status = dcem_mqtt_device_status,
        .counters = mqtt_counters,
        .flush = mqtt_flush,
        .close = mqtt_close,
        .subscribe = mqtt_subscribe,
        .self_metrics_interval = mqtt_self_metrics_interval,
        .delivery = mqtt_delivery,
};
