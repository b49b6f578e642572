# Modbus collector (issue 4): a driver program running the collector on the
# real loop and scheduler, and Python tests against independent Modbus
# servers (Debian's pymodbus) on 127.0.0.1.
set(DCEM_MODBUS_SOURCES
  collectors/modbus/decode.c collectors/modbus/plan.c collectors/modbus/sunspec.c
  collectors/modbus/profile.c collectors/modbus/transport.c collectors/modbus/tcp.c
  collectors/modbus/rtu.c collectors/modbus/device.c collectors/modbus/modbus.c
  collectors/modbus/probe.c)
set(DCEM_MODBUS_AGENT_SOURCES agent/loop.c agent/clock.c agent/sched.c agent/schema.c agent/yaml.c
  agent/diag.c agent/sample.c)
set(_srcs)
foreach(s tests/integration/modbus_poll_driver.c ${DCEM_MODBUS_SOURCES} ${DCEM_MODBUS_AGENT_SOURCES})
  list(APPEND _srcs ${PROJECT_SOURCE_DIR}/${s})
endforeach()
add_executable(modbus_poll_driver ${_srcs})
set_target_properties(modbus_poll_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
target_include_directories(modbus_poll_driver PRIVATE ${PROJECT_SOURCE_DIR}/include ${CMAKE_BINARY_DIR}/generated
  ${PROJECT_SOURCE_DIR}/agent ${PROJECT_SOURCE_DIR}/collectors)
target_compile_definitions(modbus_poll_driver PRIVATE DCEM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(modbus_poll_driver PRIVATE PkgConfig::YAML PkgConfig::MODBUS m pthread)
dcem_py_test(test_modbus_pymodbus test_modbus_pymodbus.py LABELS modbus TIMEOUT 240)
dcem_py_test(test_modbus_sim test_modbus_sim.py LABELS "modbus;sim" TIMEOUT 240)
