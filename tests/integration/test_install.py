"""`cmake --install` puts the agent, the unit, the example configuration, the
profiles and the docs where the service expects them.

The build directory is DCEM_BIN's parent. The install goes into a temporary
DESTDIR (so even absolute destinations such as /etc land inside it and the
machine is never touched), with the prefix the build was configured with.
Expected places follow GNUInstallDirs and the unit: PREFIX/bin/dcem-agent,
PREFIX/lib/systemd/system/dcem-agent.service, SYSCONFDIR/dcem/dcem.yaml.example
(SYSCONFDIR is /etc for the prefix /usr, as on Debian, else PREFIX/etc),
PREFIX/share/dcem/profiles/..., PREFIX/share/doc/dcem/*.md. With the prefix
/usr (./scripts/build's), the unit's ExecStart must name the installed binary.
"""
import filecmp
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import dcemtest

SRC = dcemtest.SOURCE_DIR
BUILD = os.path.abspath(os.path.join(dcemtest.BIN, os.pardir))


def cache_value(build, key):
    """A variable's value from build/CMakeCache.txt, or None."""
    with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^%s:[A-Z]+=(.*)$" % re.escape(key), line.rstrip("\n"))
            if m:
                return m.group(1)
    return None


def project_version():
    """The version in the top CMakeLists.txt's project() call."""
    with open(os.path.join(SRC, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(\s*dcem\s+VERSION\s+([0-9][0-9.]*)", f.read())
    if m is None:
        raise AssertionError("no project(dcem VERSION x.y.z) in CMakeLists.txt")
    return m.group(1)


def sysconfdir_for(prefix):
    """Where GNUInstallDirs puts SYSCONFDIR for a prefix (its special cases)."""
    prefix = prefix.rstrip("/") or "/"
    if prefix in ("/", "/usr"):
        return "/etc"
    if prefix.startswith("/opt/"):
        return "/etc" + prefix
    return prefix + "/etc"


def files_under(root):
    """Relative paths of the regular files under root, sorted."""
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(os.path.join(BUILD, "cmake_install.cmake")):
            raise AssertionError("%s is not a configured build directory (DCEM_BIN=%s)" % (BUILD, dcemtest.BIN))
        cls.cmake = shutil.which("cmake")
        if cls.cmake is None:
            raise AssertionError("cmake is not on PATH")
        cls.prefix = cache_value(BUILD, "CMAKE_INSTALL_PREFIX")
        if not cls.prefix:
            raise AssertionError("no CMAKE_INSTALL_PREFIX in %s/CMakeCache.txt" % BUILD)
        cls.destdir = tempfile.mkdtemp(prefix="dcem-install-")
        p = subprocess.run([cls.cmake, "--install", BUILD], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, DESTDIR=cls.destdir))
        cls.install_log = p.stdout + p.stderr
        if p.returncode != 0:
            shutil.rmtree(cls.destdir, ignore_errors=True)
            raise AssertionError("cmake --install failed (%d):\n%s" % (p.returncode, cls.install_log))

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("DCEM_KEEP_TMP"):
            print("kept", cls.destdir)
        else:
            shutil.rmtree(cls.destdir, ignore_errors=True)

    def staged(self, path):
        """The place of an absolute installed path inside DESTDIR."""
        return os.path.join(self.destdir, path.lstrip("/"))

    def assert_installed(self, path):
        self.assertTrue(os.path.isfile(self.staged(path)),
                        "%s was not installed; cmake --install put:\n%s" % (path, "\n".join(
                            "/" + f for f in files_under(self.destdir))))

    def test_binary(self):
        path = os.path.join(self.prefix, "bin", "dcem-agent")
        self.assert_installed(path)
        self.assertTrue(os.access(self.staged(path), os.X_OK), "%s is not executable" % path)
        p = subprocess.run([self.staged(path), "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(project_version(), p.stdout + p.stderr)

    def test_unit(self):
        path = os.path.join(self.prefix, "lib", "systemd", "system", "dcem-agent.service")
        self.assert_installed(path)
        with open(self.staged(path), encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"^ExecStart=(\S+)", text, re.M)
        self.assertIsNotNone(m, "the installed unit has no ExecStart=")
        if self.prefix.rstrip("/") == "/usr":
            self.assertEqual(m.group(1), "/usr/bin/dcem-agent")
            self.assert_installed(m.group(1))

    def test_example_config(self):
        path = os.path.join(sysconfdir_for(self.prefix), "dcem", "dcem.yaml.example")
        self.assert_installed(path)
        self.assertTrue(filecmp.cmp(self.staged(path), os.path.join(SRC, "conf", "dcem.yaml"), shallow=False),
                        "%s differs from conf/dcem.yaml" % path)
        # Never the live file: an upgrade must not overwrite the operator's.
        self.assertFalse(os.path.exists(self.staged(os.path.join(sysconfdir_for(self.prefix), "dcem", "dcem.yaml"))))

    def test_profiles(self):
        src = os.path.join(SRC, "conf", "profiles")
        profiles = files_under(src) if os.path.isdir(src) else []
        if not profiles:
            self.skipTest("conf/profiles/ has no profiles yet")
        for rel in profiles:
            with self.subTest(profile=rel):
                self.assert_installed(os.path.join(self.prefix, "share", "dcem", "profiles", rel))

    def test_factor_tables(self):
        src = os.path.join(SRC, "conf", "factors")
        tables = files_under(src) if os.path.isdir(src) else []
        self.assertTrue(tables, "conf/factors/ holds the default grid factor table")
        for rel in tables:
            with self.subTest(table=rel):
                self.assert_installed(os.path.join(self.prefix, "share", "dcem", "factors", rel))

    def test_docs(self):
        docs = [f for f in files_under(os.path.join(SRC, "docs")) if f.endswith(".md")] \
            if os.path.isdir(os.path.join(SRC, "docs")) else []
        if not docs:
            self.skipTest("docs/ has no Markdown files yet")
        for rel in docs:
            with self.subTest(doc=rel):
                self.assert_installed(os.path.join(self.prefix, "share", "doc", "dcem", rel))


if __name__ == "__main__":
    dcemtest.main()
