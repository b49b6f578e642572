# Modbus collector (issue 4): pure planning, decoding and SunSpec walking,
# the profile loader, and the collector against a fake transport.
dcem_unit_test(test_modbus_plan SOURCES tests/unit/test_modbus_plan.c
  collectors/modbus/plan.c collectors/modbus/decode.c LABELS modbus)
dcem_unit_test(test_modbus_decode SOURCES tests/unit/test_modbus_decode.c
  collectors/modbus/decode.c LABELS modbus)
dcem_unit_test(test_modbus_sunspec SOURCES tests/unit/test_modbus_sunspec.c
  collectors/modbus/sunspec.c collectors/modbus/plan.c collectors/modbus/decode.c LABELS modbus)
dcem_unit_test(test_modbus_device SOURCES tests/unit/test_modbus_device.c
  collectors/modbus/device.c collectors/modbus/plan.c collectors/modbus/decode.c collectors/modbus/sunspec.c
  LABELS modbus)
dcem_unit_test(test_modbus_profile SOURCES tests/unit/test_modbus_profile.c
  collectors/modbus/profile.c collectors/modbus/modbus.c collectors/modbus/device.c collectors/modbus/transport.c
  collectors/modbus/tcp.c collectors/modbus/rtu.c collectors/modbus/plan.c collectors/modbus/decode.c
  collectors/modbus/sunspec.c agent/yaml.c agent/schema.c agent/diag.c agent/loop.c agent/clock.c
  agent/sched.c agent/sample.c
  LIBS PkgConfig::YAML PkgConfig::MODBUS pthread LABELS modbus)

# The response decoder's fuzz corpus replayed as an ordinary test (any
# compiler). With -DDCEM_FUZZ=ON and clang, tests/fuzz/CMakeLists.txt can
# build the same file as a libFuzzer target (fuzz_modbus_pdu).
dcem_fuzz_replay(fuzz_modbus_replay fuzz_modbus_pdu SOURCES tests/fuzz/fuzz_modbus_pdu.c collectors/modbus/tcp.c
  collectors/modbus/decode.c collectors/modbus/sunspec.c agent/loop.c agent/clock.c LABELS modbus)
