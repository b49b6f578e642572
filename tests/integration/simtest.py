"""simtest - helpers for tests that run dcem-sim (tools/sim, docs/SIM.md).

start_sim() starts the simulator on free ports of 127.0.0.1 and waits for its
ready file; control() sends one control-socket command; the f32/i64/u32
decoders read Modbus registers with explicit shifts (never libmodbus's or
pymodbus's float helpers), so the tests check the byte order independently.
"""
import json
import os
import socket
import struct
import subprocess
import time
import unittest

import dcemtest

DEMO_SITE = os.path.join(dcemtest.SOURCE_DIR, "conf", "sim", "demo-site.yaml")
# 2026-06-21T00:00:00Z: a UTC-grid instant (and a long day in Shanghai).
SOLSTICE = "2026-06-21T00:00:00Z"


def start_sim(tc, args, name="dcem-sim", timeout=15.0):
    """Start dcem-sim with args (plus --ready-file/--run-dir in tc.tmp).

    Returns (Proc, ready dict). The Proc is stopped at tearDown by pid."""
    exe = dcemtest.binary("dcem-sim")
    if not os.path.exists(exe):
        raise unittest.SkipTest("%s is not built" % exe)
    ready = os.path.join(tc.tmp, name + ".ready.json")
    run_dir = os.path.join(tc.tmp, name + ".run")
    p = tc.spawn([exe, "--ready-file", ready, "--run-dir", run_dir, "--listen", dcemtest.LOOPBACK] + list(args),
                 name=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError("dcem-sim exited with %s:\n%s" % (p.poll(), p.log_text()))
        if os.path.exists(ready):
            with open(ready) as f:
                return p, json.load(f)
        time.sleep(0.05)
    raise TimeoutError("dcem-sim wrote no ready file:\n" + p.log_text())


def control(ready, line, timeout=10.0):
    """Send one command line to the control socket; return the JSON reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(ready["control"])
        s.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf.decode())


def device(ready, name):
    for d in ready["devices"]:
        if d["name"] == name:
            return d
    raise KeyError(name)


def f32(regs, i=0):
    """float32 from two registers, high word first (ABCD)."""
    u = (regs[i] << 16) | regs[i + 1]
    return struct.unpack(">f", u.to_bytes(4, "big"))[0]


def u32(regs, i=0):
    return (regs[i] << 16) | regs[i + 1]


def i64(regs, i=0):
    u = (regs[i] << 48) | (regs[i + 1] << 32) | (regs[i + 2] << 16) | regs[i + 3]
    return u - (1 << 64) if u >= (1 << 63) else u


def s16(v):
    return v - 0x10000 if v >= 0x8000 else v


def read_truth(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def snmp(tool, port, args, v3=None, community="public", timeout=2, retries=1):
    """Run net-snmp's tool (snmpget, snmpwalk, snmpbulkwalk) numerically;
    returns (returncode, {oid: (type, value)}, stderr)."""
    auth = ["-v2c", "-c", community]
    if v3:
        auth = ["-v3", "-l", "authPriv", "-u", v3["user"], "-a", "SHA", "-A", v3["auth"], "-x", "AES", "-X",
                v3["priv"]]
    env = dict(os.environ, MIBS="", MIBDIRS="/nonexistent")
    cmd = [tool, "-On", "-Oe", "-t", str(timeout), "-r", str(retries)] + auth + ["%s:%d" % (dcemtest.LOOPBACK, port)]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, env=env, timeout=60)
    out = {}
    for line in r.stdout.splitlines():
        if " = " not in line:
            continue
        oid, rest = line.split(" = ", 1)
        if rest.startswith("No more variables"):
            continue  # endOfMibView repeats the last OID: not a value
        if ": " in rest:
            typ, val = rest.split(": ", 1)
        else:
            typ, val = rest, ""
        out[oid.lstrip(".")] = (typ, val.strip().strip('"'))
    return r.returncode, out, r.stderr
