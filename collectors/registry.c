/* registry.c - the built-in collectors, by the device block key they own. */
#include <string.h>
#include "dcem/collector.h"
#include "host/host.h"
#include "modbus/modbus.h"
#include "snmp/snmp.h"

const dcem_collector_ops *const dcem_collectors[] = {
        &dcem_host_collector,
        &dcem_modbus_collector,
        &dcem_snmp_collector,
        NULL,
};

const dcem_collector_ops *dcem_collector_find(const char *name) {
        for (size_t i = 0; dcem_collectors[i]; i++)
                if (strcmp(dcem_collectors[i]->name, name) == 0)
                        return dcem_collectors[i];
        return NULL;
}
