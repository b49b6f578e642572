# The SNMP collector (collectors/snmp): the pure parts, the model (points to
# samples), profile loading through the real YAML reader and schema engine,
# and a driver program for the integration tests against real agents
# (tests/integration/test_snmp_*.py).
set(DCEM_SNMP_PURE collectors/snmp/oid.c collectors/snmp/plan.c collectors/snmp/walk.c collectors/snmp/decode.c)
set(DCEM_SNMP_CONFIG agent/yaml.c agent/schema.c agent/diag.c)

dcem_unit_test(test_snmp_pure SOURCES tests/unit/test_snmp_pure.c ${DCEM_SNMP_PURE} LABELS snmp)
dcem_unit_test(test_snmp_model SOURCES tests/unit/test_snmp_model.c collectors/snmp/oid.c collectors/snmp/decode.c
  collectors/snmp/model.c LABELS snmp)
dcem_unit_test(test_snmp_profile SOURCES tests/unit/test_snmp_profile.c collectors/snmp/oid.c collectors/snmp/decode.c
  collectors/snmp/model.c collectors/snmp/profile.c collectors/snmp/conf.c ${DCEM_SNMP_CONFIG}
  LIBS PkgConfig::YAML LABELS snmp)
# The generic ENTITY-SENSOR-MIB profile: SI scale / precision columns, rows chosen
# through entPhysicalContainedIn, status columns, the per-PSU sum (the real YAML).
dcem_unit_test(test_snmp_entity SOURCES tests/unit/test_snmp_entity.c collectors/snmp/oid.c collectors/snmp/decode.c
  collectors/snmp/model.c collectors/snmp/profile.c ${DCEM_SNMP_CONFIG} LIBS PkgConfig::YAML LABELS snmp)

# The driver: the collector on the real loop and scheduler, printing JSON lines.
set(snmp_driver_srcs tests/integration/snmp_poll_driver.c collectors/snmp/oid.c collectors/snmp/plan.c
  collectors/snmp/walk.c collectors/snmp/decode.c collectors/snmp/model.c collectors/snmp/profile.c
  collectors/snmp/conf.c collectors/snmp/ident.c collectors/snmp/snmp.c ${DCEM_SNMP_CONFIG} agent/loop.c agent/sched.c agent/sample.c
  agent/clock.c)
list(TRANSFORM snmp_driver_srcs PREPEND ${PROJECT_SOURCE_DIR}/)
add_executable(snmp_poll_driver ${snmp_driver_srcs})
target_include_directories(snmp_poll_driver PRIVATE ${PROJECT_SOURCE_DIR}/include ${CMAKE_BINARY_DIR}/generated
  ${PROJECT_SOURCE_DIR}/agent ${PROJECT_SOURCE_DIR}/collectors)
target_link_libraries(snmp_poll_driver PRIVATE PkgConfig::YAML PkgConfig::JANSSON PkgConfig::NETSNMP m)

# Integration tests against snmpsimd (real recordings) and a real snmpd.
dcem_py_test(it_snmp_recordings test_snmp_recordings.py LABELS snmp TIMEOUT 240)
dcem_py_test(it_snmp_agents test_snmp_agents.py LABELS snmp TIMEOUT 240)

# dcem-agent probe snmp://... (collectors/snmp/probe.c) against snmpsimd and dcem-sim.
dcem_py_test(it_snmp_probe test_snmp_probe.py LABELS snmp TIMEOUT 300)

# The varbinds-to-samples fuzz corpus replayed as an ordinary test (any
# compiler). With -DDCEM_FUZZ=ON and clang, tests/fuzz/CMakeLists.txt builds
# the same file as a libFuzzer target (fuzz_snmp_decode).
dcem_fuzz_replay(fuzz_snmp_replay fuzz_snmp_decode SOURCES tests/fuzz/fuzz_snmp_decode.c collectors/snmp/oid.c
  collectors/snmp/decode.c collectors/snmp/plan.c collectors/snmp/walk.c collectors/snmp/model.c LABELS snmp)

# Malformed, truncated, foreign and mistyped answers on the wire (a misbehaving
# UDP agent in Python) next to good devices in the same loop.
dcem_py_test(it_snmp_malformed test_snmp_malformed.py LABELS snmp TIMEOUT 120)

# profile: auto's choice (ident.c) and the probe URL (probe.c; the rest of
# probe.c runs in it_snmp_probe).
dcem_unit_test(test_snmp_ident SOURCES tests/unit/test_snmp_ident.c collectors/snmp/oid.c collectors/snmp/decode.c
  collectors/snmp/ident.c collectors/snmp/probe.c collectors/snmp/model.c collectors/snmp/plan.c
  collectors/snmp/walk.c collectors/snmp/profile.c collectors/snmp/conf.c collectors/snmp/snmp.c
  ${DCEM_SNMP_CONFIG} agent/loop.c agent/sched.c agent/sample.c agent/clock.c
  LIBS PkgConfig::YAML PkgConfig::NETSNMP LABELS snmp)
