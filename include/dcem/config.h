/* config.h - the agent's configuration: the YAML file applied to the schema
 * tables of agent/config_schema.c, with every collector's and publisher's
 * block applied to its own schema. See docs/CONFIG.md (generated).
 */
#ifndef DCEM_CONFIG_H
#define DCEM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include "dcem/collector.h"
#include "dcem/diag.h"
#include "dcem/node.h"
#include "dcem/publisher.h"
#include "dcem/schema.h"

typedef enum dcem_role {
        DCEM_ROLE_GRID_IMPORT,
        DCEM_ROLE_GRID_EXPORT,
        DCEM_ROLE_ONSITE_RENEWABLE,
        DCEM_ROLE_GREEN_SUPPLY,
        DCEM_ROLE_IT,
        DCEM_ROLE_COOLING,
        DCEM_ROLE_OTHER,
        DCEM_ROLE_NONE,
        _DCEM_ROLE_MAX
} dcem_role;

const char *dcem_role_name(dcem_role r);

/* Metering metadata of a device (`meter:` in the device's map): what the
 * accounting needs to tell a counter wrap from a reset, and what
 * certification records carry about the meter (METRICS.md "Metering quality"). */
typedef struct dcem_meter_conf {
        int64_t counter_bits;    /* 16, 32 or 64: the energy register's width (wrap); 0 = not a register */
        double resolution_kwh;   /* kWh per count of that register (wrap modulus, resolution); 0 = unknown */
        int energy_source;       /* 0 auto, 1 counter, 2 power (dcem_acct_source) */
        char *accuracy_class;    /* e.g. "0.5S" (IEC 62053-22), "1" */
        char *ct_ratio;          /* e.g. "400/5" */
        char *calibration_date;  /* YYYY-MM-DD */
} dcem_meter_conf;

struct dcem_acct_conf; /* dcem/accounting.h */

typedef struct dcem_device_conf {
        char *name;
        int role;            /* dcem_role */
        int64_t pue_category;/* 1..3 with role it, else 0 */
        int64_t interval_ns; /* resolved: the device's, or the global default */
        int64_t timeout_ns;  /* resolved likewise */
        double rated_kw;     /* 0 = unknown; bounds plausible energy deltas */
        dcem_meter_conf meter;
        const dcem_node *modbus, *snmp, *host; /* raw blocks, as given */
        /* Resolved by the loader: */
        const dcem_collector_ops *collector;
        void *collector_conf; /* the block applied to collector->schema */
        const dcem_node *node;/* the device's map, for error positions */
} dcem_device_conf;

typedef struct dcem_output_conf {
        bool stdout_enabled;
        const dcem_node *mqtt; /* raw; applied by the mqtt publisher's schema */
} dcem_output_conf;

typedef struct dcem_config {
        char *site;
        int64_t interval_ns;
        int64_t timeout_ns;
        int64_t backoff_cap;   /* in intervals */
        int64_t spread_ns;     /* schedule.spread: polls start up to this long after their slot (0: on it) */
        char *state_dir;
        char *profiles_dir;
        int log_level;         /* syslog priority: 3 err .. 7 debug */
        int64_t queue_batches; /* cap of each publisher's queue */
        dcem_list devices_list;/* of dcem_device_conf */
        dcem_output_conf output;
        const dcem_node *accounting; /* raw, as given (for positions) */
        struct dcem_acct_conf *accounting_conf; /* the block applied to dcem_accounting_schema (defaults when
                                                   absent); NULL only where the accounting module is not linked */
        /* Owned: */
        char *file;
        dcem_node *root;
        /* Resolved publisher blocks, parallel to dcem_publishers[]: NULL = not enabled. */
        void **publisher_conf;
} dcem_config;

#define dcem_config_devices(c) ((dcem_device_conf *)(c)->devices_list.items)
#define dcem_config_ndevices(c) ((c)->devices_list.n)

/* Load and validate a file. Every error found goes to diag (all of them, not
 * just the first). 0 and *ret_cfg, or -EINVAL / -errno and *ret_cfg untouched. */
int dcem_config_load(const char *path, dcem_config **ret_cfg, dcem_diag *diag);
/* The same from a buffer (tests, fuzzing); name is used in messages. */
int dcem_config_load_buffer(const char *name, const char *buf, size_t len, dcem_config **ret_cfg, dcem_diag *diag);
void dcem_config_free(dcem_config *c); /* accepts NULL */

/* The top-level schema (agent/config_schema.c) and the generated reference. */
extern const dcem_schema dcem_config_schema;
void dcem_config_doc(FILE *out);

#endif
