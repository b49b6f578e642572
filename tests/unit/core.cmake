# Core seams: samples and batches, the bounded queue, the event loop, the clock
# and the scheduler, each linked only with what it needs (fakes at the seams).
dcem_unit_test(test_queue SOURCES tests/unit/test_queue.c agent/queue.c agent/sample.c LABELS core)
dcem_unit_test(test_loop SOURCES tests/unit/test_loop.c agent/loop.c agent/clock.c tests/unit/fake_clock.c
  LABELS core)
dcem_unit_test(test_sched SOURCES tests/unit/test_sched.c agent/sched.c agent/loop.c agent/sample.c agent/clock.c
  tests/unit/fake_clock.c tests/unit/fake_collector.c LABELS core)
