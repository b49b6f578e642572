# accounting.compute.remote: two host agents publish their host collector's
# counters over a real mosquitto, the facility agent sums them into its
# compute denominator (tests/integration/test_accounting_remote.py).
dcem_py_test(it_accounting_remote test_accounting_remote.py LABELS "accounting;mqtt" TIMEOUT 120)
