# Scale and footprint work (issue 8): the Modbus TCP transport's queue order
# against an in-process server on 127.0.0.1 (continuations of a poll under
# way before fresh polls).
dcem_unit_test(test_modbus_tcp SOURCES tests/unit/test_modbus_tcp.c collectors/modbus/tcp.c agent/loop.c
  agent/clock.c LABELS modbus)
