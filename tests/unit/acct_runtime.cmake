# The accounting in the running agent (issue 6): the records' JSON encoding,
# and the runtime (engine life, state file, outbox, ticks) on a fake clock.
dcem_unit_test(test_encode_records SOURCES tests/unit/test_encode_records.c agent/encode_records.c
  agent/accounting.c agent/rollup.c agent/figures.c agent/json.c agent/clock.c agent/sample.c
  agent/compute_remote.c
  LIBS PkgConfig::JANSSON LABELS accounting)
dcem_unit_test(test_acct_runtime SOURCES tests/unit/test_acct_runtime.c tests/unit/fake_clock.c
  agent/acct_runtime.c agent/ledger.c agent/encode_records.c agent/accounting.c agent/rollup.c agent/figures.c agent/state.c
  agent/json.c agent/clock.c agent/sample.c agent/loop.c agent/log.c agent/compute_remote.c
  LIBS PkgConfig::JANSSON OpenSSL::Crypto LABELS accounting)
