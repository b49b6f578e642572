# The certification ledger (METRICS.md rule 9): hash chain, signatures, tamper detection.
dcem_unit_test(test_ledger SOURCES tests/unit/test_ledger.c agent/ledger.c
  LIBS PkgConfig::JANSSON OpenSSL::Crypto LABELS accounting)
# The fuzz target's seed corpus, replayed by any compiler (and under the sanitizers).
dcem_fuzz_replay(fuzz_ledger_replay fuzz_ledger SOURCES tests/fuzz/fuzz_ledger.c agent/ledger.c
  LIBS PkgConfig::JANSSON OpenSSL::Crypto LABELS accounting)
