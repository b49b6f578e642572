# MQTT delivery (issue 7): the spool's unit tests, the publisher's driver and
# its integration tests against a real mosquitto.

dcem_unit_test(test_spool SOURCES tests/unit/test_spool.c agent/spool.c LIBS ZLIB::ZLIB LABELS mqtt)

# The publisher's driver for the integration tests (tests/integration/test_mqtt_*.py):
# the real publisher, spool, loop and schema code, without the rest of the agent.
set(DCEM_MQTT_DRIVER_SOURCES tests/integration/mqtt_pub_driver.c agent/pub_mqtt.c agent/spool.c agent/json.c
  agent/log.c agent/loop.c agent/clock.c agent/sample.c agent/schema.c agent/yaml.c agent/diag.c)
set(_srcs)
foreach(s ${DCEM_MQTT_DRIVER_SOURCES})
  list(APPEND _srcs ${PROJECT_SOURCE_DIR}/${s})
endforeach()
add_executable(mqtt_pub_driver ${_srcs})
set_target_properties(mqtt_pub_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
target_include_directories(mqtt_pub_driver PRIVATE ${PROJECT_SOURCE_DIR}/include ${CMAKE_BINARY_DIR}/generated
  ${PROJECT_SOURCE_DIR}/agent)
target_link_libraries(mqtt_pub_driver PRIVATE PkgConfig::YAML PkgConfig::JANSSON eclipse-paho-mqtt-c::paho-mqtt3as
  OpenSSL::SSL OpenSSL::Crypto ZLIB::ZLIB m)

dcem_py_test(it_mqtt_delivery test_mqtt_delivery.py LABELS mqtt TIMEOUT 600)
dcem_py_test(it_mqtt_tls test_mqtt_tls.py LABELS mqtt TIMEOUT 300)

# The spool reader's fuzz corpus replayed as an ordinary test (any compiler).
# With -DDCEM_FUZZ=ON and clang, tests/fuzz/CMakeLists.txt builds the same
# file as a libFuzzer target (fuzz_spool).
dcem_fuzz_replay(fuzz_spool_replay fuzz_spool SOURCES tests/fuzz/fuzz_spool.c agent/spool.c LIBS ZLIB::ZLIB LABELS mqtt)
dcem_py_test(it_mqtt_replay test_mqtt_replay.py LABELS mqtt TIMEOUT 300)

# The self-metrics payload of <prefix>/<site>/agent (agent/selfmetrics.c): exact JSON from
# hand-built figures, the /proc/self/status parser, the process reader.
dcem_unit_test(test_selfmetrics SOURCES tests/unit/test_selfmetrics.c agent/selfmetrics.c agent/json.c
  agent/clock.c agent/sample.c LIBS PkgConfig::JANSSON LABELS mqtt)
