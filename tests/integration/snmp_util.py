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


# --- A misbehaving SNMP v1/v2c agent (tests of malformed answers) ---------
# Minimal BER, written from X.690 and RFC 3416's PDU layout: enough to read a
# GET/GETNEXT/GETBULK and to build (or break) a Response.

def _ber_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def ber_tlv(tag, body):
    return bytes([tag]) + _ber_len(len(body)) + body


def ber_int(v, tag=0x02):
    n = max(1, (v.bit_length() + 8) // 8)
    return ber_tlv(tag, v.to_bytes(n, "big", signed=True))


def ber_uint(v, tag):
    b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    if b[0] & 0x80:
        b = b"\x00" + b
    return ber_tlv(tag, b)


def ber_oid(oid):
    a = [int(x) for x in oid.split(".")]
    body = bytes([a[0] * 40 + a[1]])
    for x in a[2:]:
        enc = [x & 0x7F]
        x >>= 7
        while x:
            enc.append(0x80 | (x & 0x7F))
            x >>= 7
        body += bytes(reversed(enc))
    return ber_tlv(0x06, body)


def ber_read(buf, i):
    """(tag, body, next index) of the TLV at buf[i]."""
    tag = buf[i]
    n = buf[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[i:i + k], "big")
        i += k
    return tag, buf[i:i + n], i + n


def ber_items(body):
    out, i = [], 0
    while i < len(body):
        tag, b, i = ber_read(body, i)
        out.append((tag, b))
    return out


def oid_text(body):
    a = [body[0] // 40, body[0] % 40]
    x = 0
    for c in body[1:]:
        x = (x << 7) | (c & 0x7F)
        if not c & 0x80:
            a.append(x)
            x = 0
    return ".".join(str(v) for v in a)


def parse_request(pkt):
    """{version, community, command, reqid, a, b, oids} of a v1/v2c request."""
    _, msg, _ = ber_read(pkt, 0)
    (_, ver), (_, comm), (cmd, pdu) = ber_items(msg)[:3]
    (_, rid), (_, a), (_, b), (_, vbl) = ber_items(pdu)[:4]
    oids = [oid_text(ber_items(vb)[0][1]) for _, vb in ber_items(vbl)]
    return {"version": int.from_bytes(ver, "big"), "community": comm.decode("latin-1"), "command": cmd,
            "reqid": int.from_bytes(rid, "big", signed=True), "a": int.from_bytes(a, "big"),
            "b": int.from_bytes(b, "big"), "oids": oids}


def build_response(req, varbinds, reqid=None, errstat=0, errindex=0):
    """A Response PDU; varbinds: [(oid, encoded value TLV)]."""
    vbl = b"".join(ber_tlv(0x30, ber_oid(o) + v) for o, v in varbinds)
    pdu = ber_tlv(0xA2, ber_int(req["reqid"] if reqid is None else reqid) + ber_int(errstat) + ber_int(errindex)
                  + ber_tlv(0x30, vbl))
    return ber_tlv(0x30, ber_int(req["version"]) + ber_tlv(0x04, req["community"].encode("latin-1")) + pdu)


class BadAgent:
    """A UDP agent on 127.0.0.1 (a thread) whose answers are chosen by the
    request's community with behave(req) -> bytes or None (silence). Counts
    the requests per community; stop() closes it."""

    def __init__(self, behave):
        import socket
        import threading
        self.behave = behave
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((dcemtest.LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = {}
        self.errors = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import socket
        while self.running:
            try:
                pkt, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                req = parse_request(pkt)
            except Exception as e:  # not ours to judge: record it
                self.errors.append(repr(e))
                continue
            self.requests[req["community"]] = self.requests.get(req["community"], 0) + 1
            out = self.behave(req)
            if out:
                self.sock.sendto(out, peer)

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
