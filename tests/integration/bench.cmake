# bench/run at a tiny size: the benchmark harness works and prints its figures.
dcem_py_test(it_bench_smoke test_bench_smoke.py LABELS bench TIMEOUT 170)
