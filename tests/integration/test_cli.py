"""The dcem-agent command line, end to end: --version, --help, --check-config
on every example in conf/ and on broken files (every error, with its line and
column), --once (JSON lines, exit codes), --config-doc against docs/CONFIG.md,
and the running service's signals: SIGHUP reload (an invalid file keeps the
old configuration), SIGTERM drains and exits 0, log lines carry syslog
priority prefixes."""
import glob
import json
import os
import re
import signal
import subprocess
import time
import unittest

import dcemtest

AGENT = dcemtest.binary("dcem-agent")
SRC = dcemtest.SOURCE_DIR
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEYS = ["site", "device", "point", "value", "unit", "ts", "quality"]


def run(*args, **kw):
    return subprocess.run([AGENT] + list(args), capture_output=True, text=True, timeout=60, **kw)


def pos_of(path, line_no, token):
    """1-based (line, col) of token on line line_no of the file."""
    with open(path) as f:
        line = f.read().split("\n")[line_no - 1]
    return line_no, line.index(token) + 1


class CliTest(dcemtest.TempDirTestCase):
    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def host_config(self, extra_devices="", stdout=True, interval="1s"):
        proc = os.path.join(SRC, "tests", "data", "host", "proc")
        return self.write("dcem.yaml", (
            "site: test-site\ninterval: %s\nstate_dir: state\n"
            "devices:\n"
            "  - name: host-a\n    host: { proc_root: %s, rapl: false }\n%s"
            "output:\n  stdout: %s\n") % (interval, proc, extra_devices, "true" if stdout else "false"))

    def test_version_and_help(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^dcem-agent \d+\.\d+\.\d+\n$")
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for opt in ("--check-config", "--once", "--config-doc", "--version"):
            self.assertIn(opt, r.stdout)
        r = run("--no-such-option")
        self.assertEqual(r.returncode, 1)

    def test_check_config_examples(self):
        files = sorted(glob.glob(os.path.join(SRC, "conf", "*.yaml")) +
                       glob.glob(os.path.join(SRC, "conf", "examples", "*.yaml")))
        self.assertGreater(len(files), 0)
        for f in files:
            with self.subTest(config=os.path.relpath(f, SRC)):
                r = run("-c", f, "--check-config")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("valid", r.stdout)

    def test_check_config_reports_every_error_with_position(self):
        path = os.path.join(SRC, "tests", "data", "cli", "bad-several.yaml")
        r = run("-c", path, "--check-config")
        self.assertEqual(r.returncode, 1)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        for l in lines:
            self.assertRegex(l, r"^%s:\d+:\d+: " % re.escape(path))
        got = {tuple(map(int, re.match(r"^.*?:(\d+):(\d+): ", l).groups())) for l in lines}
        expected = [pos_of(path, 1, "Bad_Site"), pos_of(path, 2, "10x"), pos_of(path, 10, "maybe"),
                    pos_of(path, 13, "intervall")]
        for e in expected:
            self.assertIn(e, got, "no error at %d:%d in:\n%s" % (e + (r.stderr,)))
        # duplicate device name and both pue_category mistakes are reported too
        self.assertGreaterEqual(len(lines), 7, r.stderr)
        self.assertRegex(r.stderr, r"duplicate")

    def test_check_config_syntax_error(self):
        path = os.path.join(SRC, "tests", "data", "cli", "bad-syntax.yaml")
        r = run("-c", path, "--check-config")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^%s:\d+:\d+: " % re.escape(path))

    def test_check_config_missing_file(self):
        r = run("-c", os.path.join(self.tmp, "absent.yaml"), "--check-config")
        self.assertEqual(r.returncode, 1)
        self.assertIn("absent.yaml", r.stderr)

    def parse_lines(self, out):
        samples = []
        for line in out.splitlines():
            obj = json.loads(line)
            self.assertEqual(list(obj.keys()), KEYS, line)
            self.assertRegex(obj["ts"], TS_RE)
            self.assertIn(obj["quality"], ("good", "stale", "error", "estimated"))
            samples.append(obj)
        return samples

    def test_once_prints_json_lines(self):
        cfg = self.host_config()
        r = run("-c", cfg, "--once")
        self.assertEqual(r.returncode, 0, r.stderr)
        samples = self.parse_lines(r.stdout)
        by_point = {s["point"]: s for s in samples}
        self.assertEqual(by_point["cpu_cores"]["value"], 2)
        # (100+5+50+3+2+1) ticks at the kernel's USER_HZ (100 on Linux)
        self.assertAlmostEqual(by_point["cpu_core_seconds"]["value"], 161 / os.sysconf("SC_CLK_TCK"))
        self.assertEqual(by_point["cpu_core_seconds"]["unit"], "s")
        self.assertAlmostEqual(by_point["load1"]["value"], 0.52)
        for s in samples:
            self.assertEqual(s["site"], "test-site")
            self.assertEqual(s["device"], "host-a")

    def test_once_exit_2_when_a_device_fails(self):
        cfg = self.host_config(extra_devices="  - name: host-broken\n    host: { proc_root: /nonexistent, rapl: false }\n")
        r = run("-c", cfg, "--once")
        self.assertEqual(r.returncode, 2, r.stderr)
        samples = self.parse_lines(r.stdout)
        self.assertTrue(any(s["device"] == "host-a" for s in samples), "the good device's samples are printed")
        self.assertIn("1 of 2 devices failed", r.stderr)

    def test_config_doc_matches_docs(self):
        r = run("--config-doc")
        self.assertEqual(r.returncode, 0)
        with open(os.path.join(SRC, "docs", "CONFIG.md")) as f:
            committed = f.read()
        self.assertEqual(r.stdout, committed,
                         "docs/CONFIG.md is not what `dcem-agent --config-doc` prints: regenerate it with "
                         "build/bin/dcem-agent --config-doc > docs/CONFIG.md")
        for key in ("site", "interval", "state_dir", "devices", "role", "pue_category", "stdout"):
            self.assertIn(key, committed)

    def wait_for(self, proc, path, predicate, timeout=15, what=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(path) as f:
                text = f.read()
            if predicate(text):
                return text
            if proc.poll() is not None:
                self.fail("agent exited with %s:\n%s" % (proc.returncode, open(what).read() if what else text))
            time.sleep(0.1)
        self.fail("timed out; output so far:\n%s" % text)

    def test_service_reload_and_stop(self):
        cfg = self.host_config()
        out_path = os.path.join(self.tmp, "out.jsonl")
        err_path = os.path.join(self.tmp, "err.log")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            p = subprocess.Popen([AGENT, "-c", cfg], stdout=out, stderr=err, start_new_session=True)
        try:
            self.wait_for(p, out_path, lambda t: '"device":"host-a"' in t)
            # the agent's own metrics are published each interval
            self.wait_for(p, out_path, lambda t: '"device":"_agent"' in t and '"point":"polls"' in t)
            # an invalid file is refused, the old configuration keeps running
            good = open(cfg).read()
            with open(cfg, "w") as f:
                f.write("site: test-site\ninterval: 1x\n")
            p.send_signal(signal.SIGHUP)
            errs = self.wait_for(p, err_path, lambda t: "running configuration is kept" in t)
            self.assertRegex(errs, r"<3>.*dcem.yaml:2:\d+: ")
            n_before = open(out_path).read().count('"device":"host-a"')
            self.wait_for(p, out_path, lambda t: t.count('"device":"host-a"') > n_before)
            # a valid new file adds a device
            with open(cfg, "w") as f:
                f.write(good.replace("output:", "  - name: host-b\n    host: { proc_root: %s, rapl: false }\noutput:"
                                     % os.path.join(SRC, "tests", "data", "host", "proc")))
            p.send_signal(signal.SIGHUP)
            self.wait_for(p, out_path, lambda t: '"device":"host-b"' in t)
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=15), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        errs = open(err_path).read()
        for line in errs.splitlines():
            self.assertRegex(line, r"^<[3-7]>", "every log line has a syslog priority prefix")
        self.assertIn("<5>", errs)
        # every stdout line is one valid JSON sample
        self.parse_lines(open(out_path).read())

    def test_service_with_mqtt_drains_on_sigterm(self):
        """With the MQTT publisher (paho's threads) a SIGTERM is still handled by
        the loop: the agent drains, says goodbye on the status topic, exits 0."""
        broker, port = dcemtest.start_mosquitto(self.tmp)
        self.procs.append(broker)
        cfg = open(self.host_config(stdout=False)).read().replace(
            "output:\n  stdout: false\n", "output:\n  stdout: false\n  mqtt: { url: \"mqtt://127.0.0.1:%d\" }\n" % port)
        with open(os.path.join(self.tmp, "dcem.yaml"), "w") as f:
            f.write(cfg)
        sub_out = os.path.join(self.tmp, "sub.txt")
        sub = self.spawn(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-v", "-t", "dcem/#"], name="sub")
        err_path = os.path.join(self.tmp, "err.log")
        with open(err_path, "w") as err:
            p = subprocess.Popen([AGENT, "-c", os.path.join(self.tmp, "dcem.yaml")], stdout=subprocess.DEVNULL,
                                 stderr=err, start_new_session=True)
        try:
            self.wait_for(p, sub.log_path, lambda t: "dcem/test-site/devices/host-a " in t, what=err_path)
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=20), 0, open(err_path).read())
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertIn("draining", open(err_path).read())
        deadline = time.monotonic() + 5
        while '"state":"offline"' not in sub.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = sub.log_text()
        self.assertIn("dcem/test-site/status ", text)
        self.assertIn('"state":"offline"', text)
        self.assertIn("dcem/test-site/devices/host-a/status ", text)


if __name__ == "__main__":
    dcemtest.main()
