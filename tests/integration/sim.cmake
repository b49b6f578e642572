# dcem-sim end to end: real clients (pymodbus, net-snmp's tools) against the simulator.
dcem_py_test(it_sim_modbus test_sim_modbus.py LABELS sim)
dcem_py_test(it_sim_snmp test_sim_snmp.py LABELS sim)
dcem_py_test(it_sim_scale test_sim_scale.py LABELS sim TIMEOUT 240)
