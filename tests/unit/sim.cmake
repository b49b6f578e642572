# dcem-sim's unit tests: the physics and the protocol maps, pure code only.
dcem_unit_test(test_sim_model SOURCES tests/unit/test_sim_model.c tools/sim/model.c tools/sim/site.c)
target_include_directories(test_sim_model PRIVATE ${PROJECT_SOURCE_DIR}/tools/sim)
dcem_unit_test(test_sim_maps SOURCES tests/unit/test_sim_maps.c tools/sim/model.c tools/sim/site.c
  tools/sim/regs.c tools/sim/oids.c)
target_include_directories(test_sim_maps PRIVATE ${PROJECT_SOURCE_DIR}/tools/sim)
find_package(Threads REQUIRED)
dcem_unit_test(test_sim_truth SOURCES tests/unit/test_sim_truth.c tools/sim/model.c tools/sim/site.c
  tools/sim/runtime.c tools/sim/control.c agent/schema.c agent/diag.c agent/yaml.c
  LIBS PkgConfig::JANSSON PkgConfig::YAML Threads::Threads)
target_include_directories(test_sim_truth PRIVATE ${PROJECT_SOURCE_DIR}/tools/sim)
