# The demo end to end: dcem-sim's demo site polled by dcem-agent --once, every
# device good and equal to the simulator's ground truth (test_demo_e2e.py).
dcem_py_test(it_demo_e2e test_demo_e2e.py LABELS "sim;demo")
