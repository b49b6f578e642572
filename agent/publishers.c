/* publishers.c - the registry of built-in publishers (the keys of output:). */
#include <string.h>
#include "dcem/publisher.h"
#include "dcem/pub_mqtt.h"
#include "pub_stdout.h"

const dcem_publisher_ops *const dcem_publishers[] = {
        &dcem_stdout_publisher,
        &dcem_mqtt_publisher,
        NULL,
};

const dcem_publisher_ops *dcem_publisher_find(const char *name) {
        for (size_t i = 0; dcem_publishers[i]; i++)
                if (strcmp(dcem_publishers[i]->name, name) == 0)
                        return dcem_publishers[i];
        return NULL;
}
