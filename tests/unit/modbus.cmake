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

# bench/modbus_collector.c: the collector alone (loop + scheduler + Modbus
# collector, batches dropped) against the floor client bench/floor_modbus.c
# on the same devices and requests (docs/BENCHMARKS.md, "Modbus collector vs
# floor"). A benchmark, not a test: built here, run by hand.
set(_mbc_srcs bench/modbus_collector.c collectors/modbus/decode.c collectors/modbus/plan.c
  collectors/modbus/sunspec.c collectors/modbus/profile.c collectors/modbus/transport.c collectors/modbus/tcp.c
  collectors/modbus/rtu.c collectors/modbus/device.c collectors/modbus/modbus.c collectors/modbus/probe.c
  agent/loop.c agent/clock.c agent/sched.c agent/schema.c agent/yaml.c agent/diag.c agent/sample.c)
list(TRANSFORM _mbc_srcs PREPEND ${PROJECT_SOURCE_DIR}/)
add_executable(bench_modbus_collector ${_mbc_srcs})
set_target_properties(bench_modbus_collector PROPERTIES OUTPUT_NAME modbus_collector
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
target_include_directories(bench_modbus_collector PRIVATE ${PROJECT_SOURCE_DIR}/include
  ${CMAKE_BINARY_DIR}/generated ${PROJECT_SOURCE_DIR}/agent ${PROJECT_SOURCE_DIR}/collectors
  ${PROJECT_SOURCE_DIR}/bench)
target_compile_definitions(bench_modbus_collector PRIVATE DCEM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(bench_modbus_collector PRIVATE PkgConfig::YAML PkgConfig::MODBUS m pthread)
