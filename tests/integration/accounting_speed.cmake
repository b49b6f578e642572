# Issue 6's end-to-end test in its own form: dcem-sim at --speed 60 with its
# truth per 10 s wall-clock window (--truth-wall), a real mosquitto, dcem-agent
# with 10 s records; PUE, green share and carbon within 0.5 % of the truth for
# every complete interval (tests/integration/test_accounting_speed.py).
dcem_py_test(it_accounting_speed test_accounting_speed.py LABELS "accounting;sim;mqtt" TIMEOUT 90)
