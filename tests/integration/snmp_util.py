"""snmp_util - helpers for the SNMP integration tests: real agents (snmpsimd
serving recordings, net-snmp's snmpd from a temp config), the .snmprec
parser the tests compute their expectations with, and the collector's test
driver (snmp_poll_driver, JSON lines)."""
import json
import os
import shutil
import subprocess
import time
import unittest

import dcemtest


def parse_snmprec(path):
    """{oid: (type, value)} of an snmpsim recording (OID|TYPE|VALUE).

    Numbers become int, 4x (hex strings) are decoded, other strings stay str."""
    out = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("|", 2)
            if len(parts) != 3:
                continue
            oid, typ, val = parts
            oid = oid.lstrip(".")
            if typ == "4x":
                val = bytes.fromhex(val).decode("utf-8", "replace")
                typ = "4"
            elif typ in ("2", "65", "66", "67", "70"):
                val = int(val)
            out[oid] = (typ, val)
    return out


def column_rows(rec, column):
    """{index: value} of a table column in a parsed recording."""
    pre = column + "."
    return {oid[len(pre):]: v[1] for oid, v in rec.items() if oid.startswith(pre)}


def driver():
    exe = dcemtest.binary("snmp_poll_driver")
    if not os.path.exists(exe):
        raise unittest.SkipTest("snmp_poll_driver is not built (cmake --build ... --target snmp_poll_driver)")
    return exe


def run_driver(workdir, devices_yaml, polls=1, timeout=120, name="drv"):
    """Run the driver on a config whose devices: list is devices_yaml.

    Returns (samples, summaries, stderr): samples as {(device, point): dict},
    summaries as a list of dicts (one per device-poll)."""
    conf = os.path.join(workdir, name + ".yaml")
    with open(conf, "w") as f:
        f.write("profiles_dir: %s\n" % os.path.join(dcemtest.SOURCE_DIR, "conf", "profiles"))
        f.write("polls: %d\n" % polls)
        f.write("devices:\n")
        f.write(devices_yaml)
    p = subprocess.run([driver(), conf], capture_output=True, timeout=timeout, cwd=workdir)
    if p.returncode != 0:
        raise AssertionError("driver exited %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")))
    samples, summaries = {}, []
    for line in p.stdout.decode().splitlines():
        o = json.loads(line)
        if "point" in o:
            samples[(o["device"], o["point"])] = o
        else:
            summaries.append(o)
    return samples, summaries, p.stderr.decode("utf-8", "replace")


def wait_snmp(port, community="public", timeout=20.0, proc=None, version="2c"):
    """Wait until an agent answers sysObjectID on 127.0.0.1:port (uses snmpget)."""
    exe = shutil.which("snmpget")
    deadline = time.monotonic() + timeout
    env = dict(os.environ, MIBS="")
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("agent exited with %s" % proc.poll())
        if exe is None:
            time.sleep(2.0)
            return
        r = subprocess.run([exe, "-v", version, "-c", community, "-t", "0.5", "-r", "0", "-On",
                            "%s:%d" % (dcemtest.LOOPBACK, port), "1.3.6.1.2.1.1.2.0"],
                           capture_output=True, env=env)
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise TimeoutError("no SNMP agent on %s:%d after %.0fs" % (dcemtest.LOOPBACK, port, timeout))


def start_snmpsimd(test, recordings, first_community):
    """snmpsimd on a free UDP port serving the given .snmprec files (paths;
    the community is the file name without .snmprec). Returns the port."""
    exe = shutil.which("snmpsimd") or shutil.which("snmpsimd.py")
    if not exe:
        raise unittest.SkipTest("snmpsimd is not installed (Debian package snmpsim)")
    data = os.path.join(test.tmp, "snmprec")
    cache = os.path.join(test.tmp, "snmpsim-cache")
    os.makedirs(data, exist_ok=True)
    os.makedirs(cache, exist_ok=True)
    for r in recordings:
        shutil.copy(r, data)
    port = dcemtest.free_port(kind=__import__("socket").SOCK_DGRAM)
    argv = [exe, "--data-dir=" + data, "--cache-dir=" + cache,
            "--agent-udpv4-endpoint=%s:%d" % (dcemtest.LOOPBACK, port)]
    if os.geteuid() == 0:
        # snmpsimd refuses to run as root: it drops to nobody, who must read
        # the data and write the cache.
        for d in (test.tmp, data, cache):
            os.chmod(d, 0o777)
        for f in os.listdir(data):
            os.chmod(os.path.join(data, f), 0o644)
        argv += ["--process-user=nobody", "--process-group=nogroup"]
    p = test.spawn(argv, name="snmpsimd")
    wait_snmp(port, community=first_community, proc=p)
    return port


def start_snmpd(test, conf_lines, community="public"):
    """net-snmp's snmpd, unprivileged-style (-f -Lo -C -c FILE) on a free UDP
    port, its persistent state in the test's temp dir. Returns the port."""
    exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
    if not os.path.exists(exe):
        raise unittest.SkipTest("snmpd is not installed (Debian package snmpd)")
    port = dcemtest.free_port(kind=__import__("socket").SOCK_DGRAM)
    state = os.path.join(test.tmp, "snmpd-state-%d" % port)
    os.makedirs(state, exist_ok=True)
    conf = os.path.join(test.tmp, "snmpd-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("agentAddress udp:%s:%d\n" % (dcemtest.LOOPBACK, port))
        f.write("rocommunity %s %s\n" % (community, dcemtest.LOOPBACK))
        for line in conf_lines:
            f.write(line + "\n")
    pidfile = os.path.join(test.tmp, "snmpd-%d.pid" % port)
    p = test.spawn([exe, "-f", "-Lo", "-C", "-c", conf, "-p", pidfile], name="snmpd-%d" % port,
                   env={"SNMP_PERSISTENT_DIR": state, "MIBS": ""})
    wait_snmp(port, community=community, proc=p)
    return port


def secret_file(test, name, text):
    path = os.path.join(test.tmp, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path
