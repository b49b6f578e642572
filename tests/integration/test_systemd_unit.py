"""systemd/dcem-agent.service: systemd itself accepts it, and it is hardened.

- systemd-analyze verify on the unit: every warning or error that names the
  unit fails the test. verify also checks that ExecStart's binary exists, so
  where /usr/bin/dcem-agent is not installed a copy of the unit pointing at the
  built binary is verified instead (the rest of the unit unchanged). A copy
  with a misspelled directive must be reported, proving verify really runs.
- The hardening directives the service relies on are present with their
  values (parsed from the file, repeated keys kept in order).
- systemd-analyze security --offline rates the unit's exposure (where this
  systemd has --offline, v250+).

Skips, with the reason, where systemd-analyze is absent or cannot run here.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import dcemtest

UNIT_NAME = "dcem-agent.service"
UNIT = os.path.join(dcemtest.SOURCE_DIR, "systemd", UNIT_NAME)
INSTALLED_BIN = "/usr/bin/dcem-agent"
# Highest exposure systemd-analyze security may give (0 = locked down,
# 10 = unprotected; 2.0 and below is systemd's "OK" band).
MAX_EXPOSURE = 2.0


def parse_unit(path):
    """{section: [(key, value, line_no), ...]} of a unit file, in file order.

    Follows systemd.syntax: '#' and ';' start comment lines, a trailing
    backslash continues a line, keys may repeat (each occurrence kept)."""
    sections = {}
    current = None
    pending = ""
    pending_no = 0
    with open(path, encoding="utf-8") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if pending:
                line = pending + " " + line.strip()
                no = pending_no
                pending = ""
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if stripped.endswith("\\"):
                pending, pending_no = stripped[:-1].rstrip(), no
                continue
            if stripped.startswith("[") and stripped.endswith("]"):
                current = stripped[1:-1]
                sections.setdefault(current, [])
                continue
            if "=" not in stripped or current is None:
                raise ValueError("%s:%d: not a key=value line in a section: %r" % (path, no, stripped))
            key, value = stripped.split("=", 1)
            sections[current].append((key.strip(), value.strip(), no))
    return sections


def values(sections, section, key):
    """Every value given to key in section, in order."""
    return [v for k, v, _ in sections.get(section, []) if k == key]


def analyze_cmd():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        raise unittest.SkipTest("systemd-analyze is not installed (package systemd; ./scripts/test installs it)")
    return exe


class UnitHardeningTest(unittest.TestCase):
    """The directives the service's security and life cycle depend on."""

    @classmethod
    def setUpClass(cls):
        cls.s = parse_unit(UNIT)

    def one(self, key, section="Service"):
        v = values(self.s, section, key)
        self.assertEqual(len(v), 1, "%s= must be set exactly once in [%s], found %r" % (key, section, v))
        return v[0]

    def test_sections(self):
        self.assertEqual(set(self.s), {"Unit", "Service", "Install"})
        self.assertEqual(self.one("WantedBy", "Install"), "multi-user.target")

    def test_life_cycle(self):
        expected = {
            "Type": "notify",
            "NotifyAccess": "main",
            "ExecStart": INSTALLED_BIN + " -c /etc/dcem/dcem.yaml",
            "ExecReload": "/bin/kill -HUP $MAINPID",
            "WatchdogSec": "30s",
            "Restart": "on-failure",
            "RestartSec": "5s",
        }
        for key, want in expected.items():
            with self.subTest(key=key):
                self.assertEqual(self.one(key), want)
        # Enough to drain: the agent's own drain must fit inside it.
        m = re.fullmatch(r"(\d+)s", self.one("TimeoutStopSec"))
        self.assertIsNotNone(m, "TimeoutStopSec must be in seconds, e.g. 30s")
        self.assertGreaterEqual(int(m.group(1)), 15)

    def test_sandbox(self):
        expected = {
            "DynamicUser": "yes",
            "StateDirectory": "dcem",
            "ConfigurationDirectory": "dcem",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "PrivateTmp": "yes",
            "NoNewPrivileges": "yes",
            "CapabilityBoundingSet": "",
            "AmbientCapabilities": "",
            "SystemCallArchitectures": "native",
            "MemoryDenyWriteExecute": "yes",
            "LockPersonality": "yes",
            "RestrictRealtime": "yes",
            "RestrictNamespaces": "yes",
            "RestrictSUIDSGID": "yes",
            "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes",
            "ProtectKernelLogs": "yes",
            "ProtectControlGroups": "yes",
            "ProtectClock": "yes",
            "ProtectHostname": "yes",
            "UMask": "0027",
            "DevicePolicy": "closed",
            "SupplementaryGroups": "dialout",
        }
        for key, want in expected.items():
            with self.subTest(key=key):
                self.assertEqual(self.one(key), want)

    def test_address_families(self):
        fams = " ".join(values(self.s, "Service", "RestrictAddressFamilies")).split()
        self.assertEqual(sorted(fams), ["AF_INET", "AF_INET6", "AF_UNIX"])

    def test_syscall_filter(self):
        v = values(self.s, "Service", "SystemCallFilter")
        allow = [x for x in v if not x.startswith("~")]
        deny = " ".join(x[1:] for x in v if x.startswith("~")).split()
        self.assertEqual(allow, ["@system-service"])
        self.assertIn("@privileged", deny)
        self.assertIn("@resources", deny)

    def test_serial_devices(self):
        allowed = values(self.s, "Service", "DeviceAllow")
        self.assertEqual(sorted(allowed), ["char-ttyACM rw", "char-ttyS rw", "char-ttyUSB rw"])

    def test_parser_rejects_garbage(self):
        """The parser the checks above rely on notices a broken line."""
        with tempfile.NamedTemporaryFile("w", suffix=".service", delete=False) as f:
            f.write("[Service]\nType=notify\nthis is not a directive\n")
        try:
            with self.assertRaises(ValueError):
                parse_unit(f.name)
        finally:
            os.unlink(f.name)


class UnitVerifyTest(unittest.TestCase):
    """systemd's own checks of the unit."""

    def setUp(self):
        self.exe = analyze_cmd()
        self.tmp = tempfile.mkdtemp(prefix="dcem-unit-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def unit_copy(self, replace=None):
        """A copy of the unit (same file name) in self.tmp whose ExecStart runs
        the installed binary or, where none is installed, the built one."""
        with open(UNIT, encoding="utf-8") as f:
            text = f.read()
        if not os.access(INSTALLED_BIN, os.X_OK):
            built = os.path.abspath(dcemtest.binary("dcem-agent"))
            self.assertTrue(os.access(built, os.X_OK),
                            "neither %s nor the built %s exists: build dcem-agent first" % (INSTALLED_BIN, built))
            text, n = re.subn(r"^ExecStart=%s " % re.escape(INSTALLED_BIN), "ExecStart=%s " % built, text, flags=re.M)
            self.assertEqual(n, 1, "the unit must have one ExecStart=%s line" % INSTALLED_BIN)
        if replace:
            self.assertIn(replace[0], text)
            text = text.replace(replace[0], replace[1])
        path = os.path.join(self.tmp, UNIT_NAME)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def verify(self, path):
        """(exit code, output lines) of systemd-analyze verify on path."""
        p = subprocess.run([self.exe, "verify", "--man=no", path], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER=""))
        return p.returncode, [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]

    def about_unit(self, lines):
        return [l for l in lines if UNIT_NAME in l]

    def test_verify_clean(self):
        rc, lines = self.verify(self.unit_copy())
        own = self.about_unit(lines)
        self.assertEqual(own, [], "systemd-analyze verify complains about the unit:\n" + "\n".join(lines))
        if rc != 0:
            # Nothing about our unit, yet verify failed: this container cannot
            # run it (no /run/systemd, restricted namespaces, ...).
            self.skipTest("systemd-analyze verify cannot run here (exit %d): %s" % (rc, " | ".join(lines)[:400]))
        if lines:
            print("systemd-analyze verify, not about the unit:\n  " + "\n  ".join(lines))

    def test_verify_catches_a_bad_directive(self):
        """A misspelled directive is reported on its line: the check above can fail."""
        path = self.unit_copy(replace=("ProtectSystem=strict", "ProtectSystm=strict"))
        with open(path, encoding="utf-8") as f:
            bad_line = next(i for i, l in enumerate(f, 1) if l.startswith("ProtectSystm="))
        rc, lines = self.verify(path)
        own = self.about_unit(lines)
        if not own and rc != 0:
            self.skipTest("systemd-analyze verify cannot run here (exit %d): %s" % (rc, " | ".join(lines)[:400]))
        self.assertTrue(any(("%s:%d:" % (UNIT_NAME, bad_line)) in l and "ProtectSystm" in l for l in own),
                        "verify did not report the misspelled directive on line %d:\n%s" % (bad_line, "\n".join(lines)))

    def test_security_exposure(self):
        path = self.unit_copy()
        p = subprocess.run([self.exe, "security", "--offline=yes", "--no-pager", path], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_COLORS="0"))
        out = p.stdout + p.stderr
        m = re.search(r"Overall exposure level for %s: ([0-9.]+)" % re.escape(UNIT_NAME), out)
        if m is None:
            if "offline" in out and ("unrecognized" in out or "Unknown" in out or "invalid" in out):
                self.skipTest("this systemd-analyze has no 'security --offline' (systemd < 250)")
            self.fail("systemd-analyze security gave no exposure level (exit %d):\n%s" % (p.returncode, out[-2000:]))
        exposure = float(m.group(1))
        print("systemd-analyze security: exposure %.1f of 10 (lower is better)" % exposure)
        self.assertLessEqual(exposure, MAX_EXPOSURE, out[-3000:])


if __name__ == "__main__":
    dcemtest.main()
