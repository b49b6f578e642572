/* config_schema.c - the schema tables of the agent's configuration file.
 *
 * The one place the configuration's keys are declared: their types, defaults,
 * limits and documentation. agent/config.c applies these tables (plus every
 * collector's and publisher's own table) to the YAML tree, and
 * dcem_config_doc() turns them into docs/CONFIG.md, so the reference cannot
 * drift from what the loader accepts.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <errno.h>
#include <stdbool.h>

#include "dcem/build_config.h"
#include "dcem/collector.h"
#include "dcem/config.h"
#include "dcem/publisher.h"
#include "dcem/schema.h"

/* Values of `role`, in the order of enum dcem_role (a unit test checks it). */
#define ROLE_VALUES "grid_import|grid_export|onsite_renewable|green_supply|it|cooling|other|none"

/* A calendar date YYYY-MM-DD (month 1..12, day 1..31). */
static bool is_date(const char *s)
{
        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return false;
        for (int i = 0; i < 10; i++)
                if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                        return false;
        int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
        return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/* The meter block's cross-key checks: a register width goes with its resolution. */
static int meter_check(const dcem_schema *s, void *target, const dcem_node *map, dcem_diag *diag)
{
        const dcem_meter_conf *m = target;
        int r = 0;
        (void)s;
        if (m->counter_bits != 0 && m->counter_bits != 16 && m->counter_bits != 32 && m->counter_bits != 64) {
                const dcem_node *n = map ? dcem_node_get(map, "counter_bits") : NULL;
                dcem_diag_add(diag, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
                              "meter.counter_bits: expected 16, 32 or 64 (the energy register's width)");
                r = -EINVAL;
        }
        if (m->counter_bits != 0 && !(m->resolution_kwh > 0)) {
                const dcem_node *n = map ? dcem_node_get(map, "counter_bits") : NULL;
                dcem_diag_add(diag, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
                              "meter.counter_bits needs resolution_kwh (kWh per count: 0.001 for a Wh register, "
                              "0.1 for tenths of kWh)");
                r = -EINVAL;
        }
        if (m->calibration_date && !is_date(m->calibration_date)) {
                const dcem_node *n = map ? dcem_node_get(map, "calibration_date") : NULL;
                dcem_diag_add(diag, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
                              "meter.calibration_date: expected a date YYYY-MM-DD");
                r = -EINVAL;
        }
        return r;
}

static const dcem_schema_key meter_keys[] = {
        { .name = "counter_bits", .type = DCEM_T_INT, .def = "0", .min = 0, .max = 64,
          .offset = offsetof(dcem_meter_conf, counter_bits),
          .doc = "Width of the energy register as the collector reports it raw (16, 32 or 64): a counter that "
                 "drops is then counted as a wrap modulo 2^bits when that is plausible. 0 (default): the value "
                 "is not a raw register (a float, or a counter the collector already unwraps, as SNMP does), "
                 "so every drop is a reset." },
        { .name = "resolution_kwh", .type = DCEM_T_DOUBLE, .def = "0", .min = 0, .max = 1e6,
          .offset = offsetof(dcem_meter_conf, resolution_kwh),
          .doc = "kWh per count of the energy register (0.001 for Wh, 0.1 for tenths of kWh); required with "
                 "counter_bits. Also the resolution allowed for in the jump check." },
        { .name = "energy_source", .type = DCEM_T_ENUM, .def = "auto", .values = "auto|counter|power",
          .offset = offsetof(dcem_meter_conf, energy_source),
          .doc = "Where the device's energy comes from: counter (energy_kwh, energy_export_kwh), power "
                 "(power_kw integrated, flagged estimated), or auto (the counter once one is read, power "
                 "until then)." },
        { .name = "accuracy_class", .type = DCEM_T_STR, .offset = offsetof(dcem_meter_conf, accuracy_class),
          .doc = "Accuracy class of the meter, e.g. 0.5S (IEC 62053-22) or 1; carried into interval records." },
        { .name = "ct_ratio", .type = DCEM_T_STR, .offset = offsetof(dcem_meter_conf, ct_ratio),
          .doc = "Current-transformer ratio, e.g. 400/5; carried into interval records." },
        { .name = "calibration_date", .type = DCEM_T_STR, .offset = offsetof(dcem_meter_conf, calibration_date),
          .doc = "Date of the last calibration, YYYY-MM-DD; carried into interval records." },
        { 0 },
};

static const dcem_schema meter_schema = {
        .name = "meter",
        .doc = "Metering metadata of a device: the energy register (for wrap detection) and the meter's "
               "certification data (METRICS.md: class, CT ratio, calibration date), carried into every interval "
               "record the device contributes to.",
        .size = sizeof(dcem_meter_conf),
        .keys = meter_keys,
        .check = meter_check,
};

static const dcem_schema_key device_keys[] = {
        { .name = "name", .type = DCEM_T_STR, .flags = DCEM_REQUIRED | DCEM_NAME_LIKE, .values = "a-z0-9_-",
          .offset = offsetof(dcem_device_conf, name),
          .doc = "The device's name, unique in the file; it names the device in every sample and topic." },
        { .name = "role", .type = DCEM_T_ENUM, .def = "none", .values = ROLE_VALUES,
          .offset = offsetof(dcem_device_conf, role),
          .doc = "What the device measures, for the energy accounts: grid_import and grid_export (the utility "
                 "meter), onsite_renewable, green_supply (contracted green power), it (IT load, with "
                 "pue_category), cooling, other, or none (monitored only)." },
        { .name = "pue_category", .type = DCEM_T_INT, .min = 1, .max = 3,
          .offset = offsetof(dcem_device_conf, pue_category),
          .doc = "Required with role it, refused with any other role: where the IT energy is measured, "
                 "1 UPS output, 2 PDU output, 3 IT equipment input." },
        { .name = "interval", .type = DCEM_T_DURATION, .min = 0.1, .max = 86400,
          .offset = offsetof(dcem_device_conf, interval_ns),
          .doc = "Poll interval of this device; default: the top-level interval. Polls are aligned to the "
                 "wall-clock grid (a 10s device polls at :00, :10, ...)." },
        { .name = "timeout", .type = DCEM_T_DURATION, .min = 0.01, .max = 86400,
          .offset = offsetof(dcem_device_conf, timeout_ns),
          .doc = "How long one poll of this device may take; at most its interval. Default: the top-level "
                 "timeout, capped at the device's interval." },
        { .name = "rated_kw", .type = DCEM_T_DOUBLE, .min = 0, .max = 1e7,
          .offset = offsetof(dcem_device_conf, rated_kw),
          .doc = "Rated power in kW, used to reject implausible energy steps; 0 or absent: unknown." },
        { .name = "meter", .type = DCEM_T_MAP, .offset = offsetof(dcem_device_conf, meter), .sub = &meter_schema,
          .doc = "The energy register and the meter's certification data (see `devices[].meter`)." },
        { .name = "modbus", .type = DCEM_T_NODE, .offset = offsetof(dcem_device_conf, modbus),
          .doc = "A Modbus device (see `devices[].modbus`). Exactly one of modbus, snmp and host is required." },
        { .name = "snmp", .type = DCEM_T_NODE, .offset = offsetof(dcem_device_conf, snmp),
          .doc = "An SNMP device (see `devices[].snmp`)." },
        { .name = "host", .type = DCEM_T_NODE, .offset = offsetof(dcem_device_conf, host),
          .doc = "This host's own counters (see `devices[].host`)." },
        { 0 },
};

static const dcem_schema device_schema = {
        .name = "device",
        .doc = "One polled device. It has a name, a role in the energy accounts, and exactly one collector "
               "block (`modbus`, `snmp` or `host`) saying how to reach it.",
        .size = sizeof(dcem_device_conf),
        .keys = device_keys,
};

/* schedule: a struct of one int64_t laid over dcem_config.spread_ns. */
static const dcem_schema_key schedule_keys[] = {
        { .name = "spread", .type = DCEM_T_DURATION, .def = "0s", .min = 0, .max = 86400, .offset = 0,
          .doc = "Spread the polls of one grid instant over this window: each device starts a fixed offset "
                 "after its slot, in [0, spread) in 5 ms steps and under half its interval, from a hash of its name (the "
                 "same at every start). A message's ts stays the grid slot and its read the poll's end. "
                 "Default 0: every device polls on its grid instant. Flattens the burst of a large site "
                 "(loop, gateway connections, broker); adds the offset to the slot-to-broker time." },
        { 0 },
};
static const dcem_schema schedule_schema = {
        .name = "schedule",
        .doc = "When the devices' polls start within their grid slot.",
        .size = sizeof(int64_t),
        .keys = schedule_keys,
};

/* queue: a struct of one int64_t laid over dcem_config.queue_batches. */
static const dcem_schema_key queue_keys[] = {
        { .name = "max_batches", .type = DCEM_T_INT, .def = "10000", .min = 1, .max = 10000000, .offset = 0,
          .doc = "Cap of each publisher's queue, in batches (one batch = one poll of one device). When a "
                 "publisher falls behind, the oldest batches beyond the cap are dropped and counted." },
        { 0 },
};

static const dcem_schema queue_schema = {
        .name = "queue",
        .doc = "Bounds of the queues between the pollers and the publishers.",
        .size = sizeof(int64_t),
        .keys = queue_keys,
};

static const dcem_schema_key output_keys[] = {
        { .name = "stdout", .type = DCEM_T_BOOL, .def = "false", .offset = offsetof(dcem_output_conf, stdout_enabled),
          .doc = "Print every sample on standard output as a JSON line." },
        { .name = "mqtt", .type = DCEM_T_NODE, .offset = offsetof(dcem_output_conf, mqtt),
          .doc = "Publish over MQTT (see `output.mqtt`)." },
        { 0 },
};

static const dcem_schema output_schema = {
        .name = "output",
        .doc = "Where samples go. Several outputs may be enabled at once; each has its own bounded queue.",
        .size = sizeof(dcem_output_conf),
        .keys = output_keys,
};

static const dcem_schema_key config_keys[] = {
        { .name = "site", .type = DCEM_T_STR, .flags = DCEM_REQUIRED | DCEM_NAME_LIKE, .values = "a-z0-9-",
          .offset = offsetof(dcem_config, site),
          .doc = "The site (data center) this agent reports for; part of every topic and record." },
        { .name = "interval", .type = DCEM_T_DURATION, .def = "10s", .min = 0.1, .max = 86400,
          .offset = offsetof(dcem_config, interval_ns),
          .doc = "Default poll interval of the devices, e.g. 500ms, 10s, 15m, 1m30s." },
        { .name = "timeout", .type = DCEM_T_DURATION, .def = "5s", .min = 0.01, .max = 86400,
          .offset = offsetof(dcem_config, timeout_ns),
          .doc = "Default time one poll may take. A device's timeout is this or its interval, whichever is "
                 "shorter, unless the device sets its own." },
        { .name = "backoff_cap", .type = DCEM_T_INT, .def = "10", .min = 1, .max = 1000,
          .offset = offsetof(dcem_config, backoff_cap),
          .doc = "A failing device is retried with exponential backoff (with jitter) up to this many of its "
                 "intervals between attempts." },
        { .name = "state_dir", .type = DCEM_T_STR, .def = "/var/lib/dcem", .offset = offsetof(dcem_config, state_dir),
          .doc = "Persisted state, spool and ledger (the service's StateDirectory). A relative path is relative "
                 "to the configuration file's directory." },
        { .name = "profiles_dir", .type = DCEM_T_STR, .def = DCEM_PROFILES_DIR,
          .offset = offsetof(dcem_config, profiles_dir),
          .doc = "Where device profiles are looked up. A relative path is relative to the configuration "
                 "file's directory." },
        { .name = "log_level", .type = DCEM_T_ENUM, .def = "info", .values = "err|warning|notice|info|debug",
          .offset = offsetof(dcem_config, log_level),
          .doc = "Least important messages logged (syslog levels)." },
        { .name = "queue", .type = DCEM_T_MAP, .offset = offsetof(dcem_config, queue_batches), .sub = &queue_schema,
          .doc = "Queue bounds." },
        { .name = "schedule", .type = DCEM_T_MAP, .offset = offsetof(dcem_config, spread_ns), .sub = &schedule_schema,
          .doc = "Poll scheduling." },
        { .name = "devices", .type = DCEM_T_LIST, .offset = offsetof(dcem_config, devices_list),
          .sub = &device_schema, .doc = "The devices to poll (may be empty)." },
        { .name = "output", .type = DCEM_T_MAP, .offset = offsetof(dcem_config, output), .sub = &output_schema,
          .doc = "Outputs." },
        { .name = "accounting", .type = DCEM_T_NODE, .offset = offsetof(dcem_config, accounting),
          .doc = "Energy accounting (PUE, green-power share, carbon; docs/ACCOUNTING.md): see `accounting`." },
        { 0 },
};

/* The accounting block's schema lives with the accounting (agent/accounting_schema.c).
 * Weak: the loader's own unit tests link without the accounting module; the
 * agent (dcem_core) always has it. */
extern const dcem_schema dcem_accounting_schema __attribute__((weak));

const dcem_schema dcem_config_schema = {
        .name = "dcem",
        .doc = "The keys at the top of the file.",
        .size = sizeof(dcem_config),
        .keys = config_keys,
};

/* Write the whole reference, docs/CONFIG.md, as Markdown. */
void dcem_config_doc(FILE *out)
{
        fputs("# dcem configuration reference\n\n"
              "<!-- Generated by `dcem-agent --config-doc` from the schema tables in the sources "
              "(agent/config_schema.c and each collector's and publisher's table). Do not edit. -->\n\n"
              "dcem reads one YAML file (`dcem-agent -c FILE`). "
              "`dcem-agent -c FILE --check-config` validates it and prints every error as "
              "`FILE:LINE:COL: key: message`. Unknown keys are errors. Anchors, aliases and custom tags "
              "are refused.\n\n"
              "Value types:\n\n"
              "- **duration**: one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`, largest "
              "first: `500ms`, `10s`, `15m`, `1h`, `1m30s`. A bare number is an error.\n"
              "- **size**: bytes, with an optional unit `B`, `KB`, `MB`, `GB`, `TB` (powers of 1000) or "
              "`KiB`, `MiB`, `GiB`, `TiB` (powers of 1024).\n"
              "- **bool**: `true`/`false`, `yes`/`no`, `on`/`off`.\n"
              "- **integer**: decimal, or hexadecimal with `0x`.\n"
              "- **name**: 1 to 63 characters from the given set.\n"
              "- **block**: a map validated by the collector or publisher that owns it (its own section "
              "below).\n\n"
              "A minimal file:\n\n"
              "```yaml\n"
              "site: dc-east-1\n"
              "devices:\n"
              "  - name: utility-main\n"
              "    role: grid_import\n"
              "    modbus: { ... }\n"
              "output:\n"
              "  stdout: true\n"
              "```\n\n",
              out);
        dcem_schema_doc(&dcem_config_schema, "", out);
        if (&dcem_accounting_schema)
                dcem_schema_doc(&dcem_accounting_schema, "accounting", out);
        for (size_t i = 0; dcem_collectors[i]; i++) {
                char path[96];
                if (!dcem_collectors[i]->schema)
                        continue;
                snprintf(path, sizeof(path), "devices[].%s", dcem_collectors[i]->name);
                dcem_schema_doc(dcem_collectors[i]->schema, path, out);
        }
        for (size_t i = 0; dcem_publishers[i]; i++) {
                char path[96];
                if (!dcem_publishers[i]->schema)
                        continue;
                snprintf(path, sizeof(path), "output.%s", dcem_publishers[i]->name);
                dcem_schema_doc(dcem_publishers[i]->schema, path, out);
        }
}
