# The service frame: the systemd unit (systemd-analyze verify, hardening
# directives, exposure) and the install layout (cmake --install into a DESTDIR).
dcem_py_test(it_systemd_unit test_systemd_unit.py LABELS service TIMEOUT 120)
dcem_py_test(it_install test_install.py LABELS service TIMEOUT 180)
