"""dcemtest - shared helpers for dcem's integration tests.

Integration tests run real peers (mosquitto, snmpd/snmpsim, Modbus servers,
dcem-sim) and the built binaries, always on 127.0.0.1 with free ports, and
stop every process they start by pid. Tests are unittest modules run by
ctest under /usr/bin/python3 (see dcem_py_test in tests/CMakeLists.txt).

Add general helpers here (append; keep each small and documented); keep
area-specific ones in a module of the area's own (e.g. mqtt_util.py).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.path.abspath(os.environ.get("DCEM_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin")))
SOURCE_DIR = os.environ.get("DCEM_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SHARED_DIR = os.environ.get("DCEM_SHARED_DIR", os.path.join(SOURCE_DIR, "..", "shared"))
LOOPBACK = "127.0.0.1"


def binary(name):
    """Path of a built binary (dcem-agent, dcem-sim, ...)."""
    return os.path.join(BIN, name)


def shared_path(*parts):
    """Path under ../shared, or raise unittest.SkipTest saying it is absent."""
    p = os.path.join(SHARED_DIR, *parts)
    if not os.path.exists(p):
        raise unittest.SkipTest("%s is absent (../shared is not in a user's clone): skipped" % p)
    return p


def free_port(kind=socket.SOCK_STREAM):
    """A port free on 127.0.0.1 right now (TCP by default, or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_tcp(port, timeout=10.0, proc=None):
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on %s:%d after %.1fs" % (LOOPBACK, port, timeout))


class Proc:
    """A child process started by a test and stopped by its pid.

    Output goes to a log file in the test's temporary directory, so a
    failing test can show it (Proc.log_text())."""

    def __init__(self, argv, workdir, name=None, env=None, stdin=subprocess.DEVNULL):
        self.name = name or os.path.basename(argv[0])
        self.log_path = os.path.join(workdir, self.name + ".log")
        self._log = open(self.log_path, "wb")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=stdin,
                                      cwd=workdir, env=e, start_new_session=True)
        self.pid = self.popen.pid

    def poll(self):
        return self.popen.poll()

    def send_signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig to the pid, wait, then SIGKILL if needed. Returns the exit code."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        self._log.close()
        return self.popen.returncode

    def log_text(self):
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def start_mosquitto(workdir, port=None, extra_conf=""):
    """Start a real mosquitto on 127.0.0.1:port (free port if None). Returns (Proc, port)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(exe):
        raise unittest.SkipTest("mosquitto is not installed (./scripts/test installs it)")
    port = port or free_port()
    conf = os.path.join(workdir, "mosquitto-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("listener %d %s\nallow_anonymous true\npersistence false\n" % (port, LOOPBACK))
        if os.geteuid() == 0:
            f.write("user root\n")
        f.write(extra_conf)
    p = Proc([exe, "-c", conf], workdir, name="mosquitto-%d" % port)
    wait_tcp(port, proc=p)
    # Something else may have answered on the port (another test took it and
    # mosquitto could not bind): say so rather than talk to the wrong server.
    time.sleep(0.1)
    if p.poll() is not None:
        raise RuntimeError("mosquitto on port %d exited (%s): the port is taken? %s"
                           % (port, p.poll(), p.log_text()[-500:]))
    return p, port


class TempDirTestCase(unittest.TestCase):
    """A TestCase with self.tmp (a fresh directory) and self.procs stopped at teardown."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dcem-it-")
        self.procs = []

    def spawn(self, argv, name=None, env=None):
        p = Proc(argv, self.tmp, name=name, env=env)
        self.procs.append(p)
        return p

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        if os.environ.get("DCEM_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    """Run the calling module's tests (use instead of unittest.main()).

    Exits 0 if all passed, 1 if any failed, and 77 (ctest's SKIP_RETURN_CODE,
    set by dcem_py_test) when every test was skipped, so a test whose peer or
    data is absent shows as skipped in ctest, not as passed."""
    import sys
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(0)
