# The agent's own modules: JSON lines, the host collector's parsers.
dcem_unit_test(test_json SOURCES tests/unit/test_json.c agent/json.c agent/clock.c agent/sample.c
  LIBS PkgConfig::JANSSON)
dcem_unit_test(test_host SOURCES tests/unit/test_host.c collectors/host/host.c agent/sched.c agent/sample.c
  agent/loop.c agent/clock.c)
