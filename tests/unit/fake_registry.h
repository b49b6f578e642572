/* fake_registry.h - the fake collector and publisher registry of the config
 * tests and the config fuzzer (tests/unit/fake_registry.c): a "modbus" and a
 * "host" collector and "stdout"/"mqtt" publishers with small schemas, so the
 * loader is tested without the real collectors. No "snmp": that tests the
 * "not built into this dcem" path. */
#ifndef DCEM_FAKE_REGISTRY_H
#define DCEM_FAKE_REGISTRY_H

#include <stdint.h>
#include "dcem/collector.h"
#include "dcem/publisher.h"
#include "dcem/schema.h"

typedef struct fake_modbus_conf {
        char *address;   /* required */
        int64_t port;    /* default 502, 1..65535 */
        int64_t unit_id; /* default 1, 0..255 */
        char *profile;   /* optional; "missing" and "broken" fail the check */
} fake_modbus_conf;

typedef struct fake_host_conf {
        dcem_strlist disks;
} fake_host_conf;

typedef struct fake_mqtt_conf {
        char *broker;        /* required */
        int64_t port;        /* default 1883 */
        int64_t keepalive_ns;/* default 30s */
        uint64_t max_buffer; /* default 1MiB */
} fake_mqtt_conf;

extern const dcem_collector_ops fake_modbus_ops, fake_host_ops;
extern const dcem_publisher_ops fake_stdout_ops, fake_mqtt_ops;
/* The profiles_dir given to the last check() call, and the number of calls. */
extern char fake_check_profiles_dir[512];
extern unsigned fake_check_calls;

#endif
