# The certification ledger end to end: keygen, chain across kill -9, both
# verifiers (dcem-agent and the independent Python+openssl one), tampering.
dcem_py_test(it_ledger test_ledger.py LABELS accounting TIMEOUT 240)
