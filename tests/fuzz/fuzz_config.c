/* fuzz_config.c - libFuzzer target for the configuration loader: any bytes go
 * through dcem_config_load_buffer (YAML reader, schema engine, config
 * resolution against the fake registry) and everything is freed.
 *
 * Besides crashes and leaks (ASan/UBSan), it checks the loader's contract:
 * success means no diagnostics and a configuration; failure means at least
 * one diagnostic, each starting with the file name; an invalid configuration
 * is never half-returned. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcem/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char name[] = "fuzz.yaml";
        dcem_diag diag = { 0 };
        dcem_config *cfg = NULL;

        int r = dcem_config_load_buffer(name, (const char *)data, size, &cfg, &diag);
        if (r == 0) {
                if (!cfg || dcem_diag_count(&diag) != 0 || !cfg->site)
                        abort();
                for (size_t i = 0; i < dcem_config_ndevices(cfg); i++) {
                        const dcem_device_conf *d = &dcem_config_devices(cfg)[i];
                        if (!d->name || !d->collector || d->interval_ns <= 0 || d->timeout_ns <= 0 ||
                            d->timeout_ns > d->interval_ns)
                                abort();
                }
        } else {
                if (cfg || dcem_diag_count(&diag) == 0)
                        abort();
                for (size_t i = 0; i < diag.n; i++)
                        if (strncmp(diag.msgs[i], name, sizeof(name) - 1) != 0)
                                abort();
        }
        dcem_config_free(cfg);
        dcem_diag_clear(&diag);
        return 0;
}
