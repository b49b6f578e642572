# Energy accounting (issue 6): the pure engine, roll-ups and figures, and the
# crash-safe state file. Each test names exactly the sources it needs.
dcem_unit_test(test_rollup SOURCES tests/unit/test_rollup.c agent/rollup.c LABELS accounting)
dcem_unit_test(test_figures SOURCES tests/unit/test_figures.c agent/figures.c agent/rollup.c agent/accounting.c
  LABELS accounting)
dcem_unit_test(test_accounting SOURCES tests/unit/test_accounting.c agent/accounting.c agent/rollup.c
  agent/figures.c LABELS accounting)
dcem_unit_test(test_state SOURCES tests/unit/test_state.c agent/state.c agent/accounting.c agent/rollup.c
  agent/figures.c LIBS PkgConfig::JANSSON OpenSSL::Crypto LABELS accounting)
# The `accounting:` block through the schema engine (agent/schema.c, yaml.c, diag.c).
dcem_unit_test(test_accounting_schema SOURCES tests/unit/test_accounting_schema.c agent/accounting_schema.c
  agent/accounting.c agent/rollup.c agent/figures.c agent/schema.c agent/yaml.c agent/diag.c
  agent/compute_remote.c agent/sample.c
  LIBS PkgConfig::YAML PkgConfig::JANSSON LABELS accounting)
# Compute counters of other agents' hosts over MQTT (accounting.compute.remote):
# parsing device messages, duplicates and order per host, and the engine
# aggregating several hosts into the compute denominator with completeness.
dcem_unit_test(test_compute_remote SOURCES tests/unit/test_compute_remote.c agent/compute_remote.c
  agent/accounting.c agent/rollup.c agent/figures.c agent/sample.c
  LIBS PkgConfig::JANSSON LABELS accounting)
