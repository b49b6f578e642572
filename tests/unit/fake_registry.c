/* fake_registry.c - a fake collector/publisher registry for the config tests
 * and the config fuzzer: same seam (dcem_collector_find, dcem_collectors[],
 * dcem_publisher_find, dcem_publishers[]) as collectors/registry.c and
 * agent/publishers.c, with small schemas and a check() that can fail. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fake_registry.h"

char fake_check_profiles_dir[512];
unsigned fake_check_calls;

static const dcem_schema_key modbus_keys[] = {
        { .name = "address", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(fake_modbus_conf, address),
          .doc = "Host address." },
        { .name = "port", .type = DCEM_T_INT, .def = "502", .min = 1, .max = 65535,
          .offset = offsetof(fake_modbus_conf, port), .doc = "TCP port." },
        { .name = "unit_id", .type = DCEM_T_INT, .def = "1", .min = 0, .max = 255,
          .offset = offsetof(fake_modbus_conf, unit_id), .doc = "Unit id." },
        { .name = "profile", .type = DCEM_T_STR, .offset = offsetof(fake_modbus_conf, profile), .doc = "Profile." },
        { 0 },
};
static const dcem_schema modbus_schema = {
        .name = "modbus", .doc = "A fake Modbus block.", .size = sizeof(fake_modbus_conf), .keys = modbus_keys,
};

/* Fails on profile "missing" (at the profile value, naming profiles_dir), on
 * profile "keyed" (the same, with the block-relative key path in front, as
 * the real collectors write it) and on profile "broken" (an error placed in
 * the profile file). */
static int modbus_check(const void *conf, const dcem_node *block, const char *profiles_dir, dcem_diag *diag)
{
        const fake_modbus_conf *c = conf;
        fake_check_calls++;
        snprintf(fake_check_profiles_dir, sizeof(fake_check_profiles_dir), "%s", profiles_dir ? profiles_dir : "");
        if (c->profile && strcmp(c->profile, "missing") == 0) {
                const dcem_node *n = dcem_node_get(block, "profile");
                dcem_diag_add(diag, n->file, n->line, n->col, "profile 'missing' not found in %s", profiles_dir);
                return -EINVAL;
        }
        if (c->profile && strcmp(c->profile, "keyed") == 0) {
                /* As the real collectors word it: the path inside the block. */
                const dcem_node *n = dcem_node_get(block, "profile");
                dcem_diag_add(diag, n->file, n->line, n->col, "modbus.profile: no profile 'keyed' in %s", profiles_dir);
                return -EINVAL;
        }
        if (c->profile && strcmp(c->profile, "broken") == 0) {
                /* An error inside the profile file itself. */
                char path[600];
                snprintf(path, sizeof(path), "%s/broken.yaml", profiles_dir);
                dcem_diag_add(diag, path, 2, 3, "bad register");
                return -EINVAL;
        }
        return 0;
}

const dcem_collector_ops fake_modbus_ops = {
        .name = "modbus", .schema = &modbus_schema, .check = modbus_check,
};

static const dcem_schema_key host_keys[] = {
        { .name = "disks", .type = DCEM_T_STRLIST, .offset = offsetof(fake_host_conf, disks), .doc = "Disks." },
        { 0 },
};
static const dcem_schema host_schema = {
        .name = "host", .doc = "A fake host block.", .size = sizeof(fake_host_conf), .keys = host_keys,
};
const dcem_collector_ops fake_host_ops = { .name = "host", .schema = &host_schema };

const dcem_collector_ops *const dcem_collectors[] = { &fake_modbus_ops, &fake_host_ops, NULL };

const dcem_collector_ops *dcem_collector_find(const char *name)
{
        for (size_t i = 0; name && dcem_collectors[i]; i++)
                if (strcmp(dcem_collectors[i]->name, name) == 0)
                        return dcem_collectors[i];
        return NULL;
}

static const dcem_schema_key mqtt_keys[] = {
        { .name = "broker", .type = DCEM_T_STR, .flags = DCEM_REQUIRED, .offset = offsetof(fake_mqtt_conf, broker),
          .doc = "Broker host." },
        { .name = "port", .type = DCEM_T_INT, .def = "1883", .min = 1, .max = 65535,
          .offset = offsetof(fake_mqtt_conf, port), .doc = "Broker port." },
        { .name = "keepalive", .type = DCEM_T_DURATION, .def = "30s", .min = 1, .max = 3600,
          .offset = offsetof(fake_mqtt_conf, keepalive_ns), .doc = "Keep-alive." },
        { .name = "max_buffer", .type = DCEM_T_SIZE, .def = "1MiB", .min = 1024, .max = 1e9,
          .offset = offsetof(fake_mqtt_conf, max_buffer), .doc = "Buffer | cap." },
        { 0 },
};
static const dcem_schema mqtt_schema = {
        .name = "mqtt", .doc = "A fake MQTT block.", .size = sizeof(fake_mqtt_conf), .keys = mqtt_keys,
};

const dcem_publisher_ops fake_stdout_ops = { .name = "stdout" };
const dcem_publisher_ops fake_mqtt_ops = { .name = "mqtt", .schema = &mqtt_schema };
const dcem_publisher_ops *const dcem_publishers[] = { &fake_stdout_ops, &fake_mqtt_ops, NULL };

const dcem_publisher_ops *dcem_publisher_find(const char *name)
{
        for (size_t i = 0; name && dcem_publishers[i]; i++)
                if (strcmp(dcem_publishers[i]->name, name) == 0)
                        return dcem_publishers[i];
        return NULL;
}
