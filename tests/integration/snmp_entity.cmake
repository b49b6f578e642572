# The generic ENTITY-SENSOR-MIB profile against snmpsimd serving a switch
# recording the test writes itself (tests/integration/test_snmp_entity.py;
# needs snmp_poll_driver from tests/unit/snmp.cmake).
dcem_py_test(it_snmp_entity test_snmp_entity.py LABELS snmp TIMEOUT 180)
