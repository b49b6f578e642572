# Configuration: YAML reader, schema engine, config loader (issue 2).
# The loader tests use a fake collector/publisher registry (fake_registry.c),
# so they build without the real collectors.
set(DCEM_CONFIG_SOURCES agent/diag.c agent/yaml.c agent/schema.c agent/config.c agent/config_schema.c
    tests/unit/fake_registry.c)

dcem_unit_test(test_yaml SOURCES tests/unit/test_yaml.c agent/diag.c agent/yaml.c LIBS PkgConfig::YAML
  LABELS config)
dcem_unit_test(test_schema SOURCES tests/unit/test_schema.c ${DCEM_CONFIG_SOURCES} LIBS PkgConfig::YAML
  LABELS config)
dcem_unit_test(test_config SOURCES tests/unit/test_config.c ${DCEM_CONFIG_SOURCES} LIBS PkgConfig::YAML
  LABELS config)

# Lint of every schema table (names, docs, limits, defaults, reference rows):
# against the fake registry, and against the real collectors and publishers.
dcem_unit_test(test_schema_tables SOURCES tests/unit/test_schema_tables.c ${DCEM_CONFIG_SOURCES}
  LIBS PkgConfig::YAML LABELS config)
if(TARGET dcem_core)
  dcem_unit_test(test_schema_tables_real SOURCES tests/unit/test_schema_tables.c LIBS dcem_core LABELS config)
endif()

# The fuzz target's corpus replayed as an ordinary test (any compiler): every
# seed of tests/fuzz/corpus/config through LLVMFuzzerTestOneInput.
dcem_unit_test(fuzz_config_replay SOURCES tests/fuzz/replay.c tests/fuzz/fuzz_config.c ${DCEM_CONFIG_SOURCES}
  LIBS PkgConfig::YAML LABELS "config;fuzz")
