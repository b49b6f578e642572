# The accounting end to end (issue 6): dcem-sim's demo site at --speed 1 with
# its ground truth, a real mosquitto, dcem-agent with 10 s records, a kill -9
# and restart in the middle (tests/integration/test_accounting_e2e.py).
dcem_py_test(it_accounting_e2e test_accounting_e2e.py LABELS "accounting;sim;mqtt" TIMEOUT 400)
# accounting.live_intensity over a real mosquitto: the agent subscribes and the
# metrics record carries carbon_rate_live (tests/integration/test_live_intensity.py).
dcem_py_test(it_live_intensity test_live_intensity.py LABELS "accounting;sim;mqtt" TIMEOUT 180)
