# The dcem-agent command line and service behaviour, end to end.
dcem_py_test(it_cli test_cli.py)
