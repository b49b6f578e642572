"""mqtt_util - helpers of the MQTT integration tests (test_mqtt_*.py).

An independent subscriber (mosquitto_sub, a different MQTT implementation
than the publisher's paho), the publisher driver (mqtt_pub_driver, built by
tests/unit/mqtt.cmake), a test CA made with openssl, a broker that keeps its
sessions across kill -9, and a JSON Schema check of real messages against
docs/schemas/*.json (python3-jsonschema when installed, else a structural
check of the subset of JSON Schema those files use).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import dcemtest

SCHEMAS = os.path.join(dcemtest.SOURCE_DIR, "docs", "schemas")


def need(tool):
    path = shutil.which(tool)
    if not path:
        raise unittest.SkipTest("%s is not installed" % tool)
    return path


# --- brokers ---------------------------------------------------------------

def persistent_broker_conf(workdir, tag):
    """mosquitto settings that keep sessions and queued messages across a
    kill -9: the database is saved after every change."""
    d = os.path.join(workdir, "mosq-db-%s" % tag)
    os.makedirs(d, exist_ok=True)
    return ("persistence true\npersistence_location %s/\nautosave_interval 1\nautosave_on_changes true\n"
            "max_queued_messages 100000\n" % d)


def start_broker(case, port=None, extra_conf="", tag="a"):
    """Start mosquitto through dcemtest.start_mosquitto, registered for teardown."""
    p, port = dcemtest.start_mosquitto(case.tmp, port=port, extra_conf=extra_conf)
    case.procs.append(p)
    return p, port


# --- the independent subscriber ---------------------------------------------

class Subscriber:
    """mosquitto_sub (MQTT 5) on a topic filter, QoS 1, with a persistent
    session (-c) so it gets what was published while it was reconnecting.
    Each line: arrival time (Unix ns), topic, user properties, payload."""

    def __init__(self, case, port, topic="dcem/#", client_id="dcem-test-sub", extra=()):
        exe = need("mosquitto_sub")
        argv = [exe, "-V", "5", "-h", dcemtest.LOOPBACK, "-p", str(port), "-t", topic, "-q", "1", "-c",
                "-i", client_id, "-k", "5", "-F", "%U\t%t\t%P\t%p"] + list(extra)
        self.proc = dcemtest.Proc(argv, case.tmp, name="sub-%s" % client_id)
        case.procs.append(self.proc)
        # mosquitto_sub writes its output to stdout: Proc sends it to the log.
        self.path = self.proc.log_path

    def records(self):
        """[(arrival unix time, topic, user properties text, payload dict)]
        parsed so far (other lines skipped)."""
        out = []
        with open(self.path, "rb") as f:
            for raw in f.read().decode("utf-8", "replace").splitlines():
                parts = raw.split("\t", 3)
                if len(parts) != 4:
                    continue
                try:
                    out.append((float(parts[0]), parts[1], parts[2], json.loads(parts[3])))
                except ValueError:
                    continue
        return out

    def messages(self):
        """[(topic, payload dict)] parsed so far."""
        return [(t, p) for _, t, _, p in self.records()]

    def wait_for(self, pred, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.messages()
            if pred(msgs):
                return msgs
            time.sleep(0.1)
        return self.messages()


def retained(port, topic, timeout=5):
    """The retained message on topic (a dict), or None."""
    exe = need("mosquitto_sub")
    r = subprocess.run([exe, "-h", dcemtest.LOOPBACK, "-p", str(port), "-t", topic, "-C", "1", "-W", str(timeout),
                        "--retained-only"], capture_output=True, timeout=timeout + 5)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    return json.loads(r.stdout.decode())


def device_seqs(msgs, device="pdu-1", site="s1", prefix="dcem"):
    topic = "%s/%s/devices/%s" % (prefix, site, device)
    return [p["seq"] for t, p in msgs if t == topic]


def check_complete_in_order(case, seqs, expected):
    """Every expected seq arrived; after dropping duplicates (what a consumer
    does with seq), they are in order."""
    missing = sorted(set(expected) - set(seqs))
    case.assertEqual(missing, [], "lost sequence numbers")
    first = []
    seen = set()
    for s in seqs:
        if s not in seen:
            seen.add(s)
            first.append(s)
    case.assertEqual(first, sorted(first), "out of order after dropping duplicates")
    return len(seqs) - len(first)


def is_replay(props):
    """Whether the user properties mark a message of the backlog lane."""
    return "dcem-replay:1" in props.split()


def check_complete_lanes(case, recs, expected, device="pdu-1", site="s1", prefix="dcem"):
    """Every expected seq of the device arrived; after dropping duplicates
    (by seq, first arrival kept), each lane - replayed (dcem-replay=1) and
    live - is in order. Returns (duplicates, replayed count, live count)."""
    topic = "%s/%s/devices/%s" % (prefix, site, device)
    mine = [(p["seq"], is_replay(pr)) for _, t, pr, p in recs if t == topic]
    missing = sorted(set(expected) - set(s for s, _ in mine))
    case.assertEqual(missing, [], "lost sequence numbers")
    seen = set()
    lanes = {True: [], False: []}
    for s, rp in mine:
        if s not in seen:
            seen.add(s)
            lanes[rp].append(s)
    for rp, seqs in lanes.items():
        case.assertEqual(seqs, sorted(seqs), "%s lane out of order after dropping duplicates"
                         % ("replay" if rp else "live"))
    return len(mine) - len(seen), len(lanes[True]), len(lanes[False])


# --- the publisher driver ---------------------------------------------------

def write_config(case, url, name="c.yaml", state_dir=None, site="s1", mqtt_extra=""):
    state_dir = state_dir or os.path.join(case.tmp, "state")
    path = os.path.join(case.tmp, name)
    with open(path, "w") as f:
        f.write("site: %s\nstate_dir: %s\noutput:\n  mqtt:\n    url: %s\n"
                "    reconnect: { min: 100ms, max: 1s }\n    keepalive: 5s\n" % (site, state_dir, url))
        for line in mqtt_extra.strip("\n").splitlines():
            f.write("    %s\n" % line)
    return path


class Driver:
    def __init__(self, case, config, *args, name="driver"):
        exe = dcemtest.binary("mqtt_pub_driver")
        if not os.path.exists(exe):
            raise unittest.SkipTest("%s is not built" % exe)
        self.proc = dcemtest.Proc([exe, config] + [str(a) for a in args], case.tmp, name=name)
        case.procs.append(self.proc)

    def lines(self, word):
        return [l for l in self.proc.log_text().splitlines() if l.startswith(word)]

    def published(self, device="pdu-1"):
        return [int(l.split()[2]) for l in self.lines("PUBLISHED ") if l.split()[1] == device]

    def wait_line(self, word, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.lines(word)
            if got:
                return got
            if self.proc.poll() is not None:
                got = self.lines(word)
                return got
            time.sleep(0.05)
        return []

    def wait_exit(self, timeout=60.0):
        try:
            return self.proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def last_stats(self):
        st = self.lines("STATS ")
        return json.loads(st[-1][6:]) if st else None


# --- TLS material -------------------------------------------------------------

def openssl(*args, cwd):
    exe = need("openssl")
    r = subprocess.run([exe] + list(args), cwd=cwd, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))


def make_ca(workdir, name="ca"):
    """A test CA: (cert path, key path)."""
    key, crt = os.path.join(workdir, name + ".key"), os.path.join(workdir, name + ".crt")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
            "-subj", "/CN=dcem test %s" % name, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=workdir)
    return crt, key


def make_cert(workdir, ca, name, san, client=False):
    """A certificate signed by ca with subjectAltName san ("IP:127.0.0.1,DNS:localhost")."""
    ca_crt, ca_key = ca
    key, csr, crt = (os.path.join(workdir, name + ext) for ext in (".key", ".csr", ".crt"))
    ext = os.path.join(workdir, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=%s\n" % (san, "clientAuth" if client else "serverAuth"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=%s" % name,
            cwd=workdir)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
            "-days", "2", "-extfile", ext, cwd=workdir)
    return crt, key


# --- JSON Schema ---------------------------------------------------------------

def load_schema(name):
    with open(os.path.join(SCHEMAS, name)) as f:
        return json.load(f)


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_type(v, t):
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, _TYPES[t])


def _mini_validate(v, s, path="$"):
    """The subset of JSON Schema docs/schemas uses: type, const, enum,
    required, properties, additionalProperties, pattern, minimum, minLength."""
    if "const" in s and v != s["const"]:
        raise ValueError("%s: %r is not %r" % (path, v, s["const"]))
    if "enum" in s and v not in s["enum"]:
        raise ValueError("%s: %r not in %r" % (path, v, s["enum"]))
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not any(_is_type(v, t) for t in types):
            raise ValueError("%s: %r is not %s" % (path, v, types))
    if isinstance(v, str):
        if "pattern" in s and not re.search(s["pattern"], v):
            raise ValueError("%s: %r does not match %s" % (path, v, s["pattern"]))
        if len(v) < s.get("minLength", 0):
            raise ValueError("%s: too short" % path)
    if _is_type(v, "number") and "minimum" in s and v < s["minimum"]:
        raise ValueError("%s: %r < %r" % (path, v, s["minimum"]))
    if isinstance(v, dict):
        for k in s.get("required", []):
            if k not in v:
                raise ValueError("%s: %s is missing" % (path, k))
        props = s.get("properties", {})
        for k, x in v.items():
            if k in props:
                _mini_validate(x, props[k], path + "." + k)
            else:
                ap = s.get("additionalProperties", True)
                if ap is False:
                    raise ValueError("%s: unexpected member %s" % (path, k))
                if isinstance(ap, dict):
                    _mini_validate(x, ap, path + "." + k)


def validate(payload, schema_name):
    """Raise ValueError (or jsonschema's error) if payload does not match."""
    schema = load_schema(schema_name)
    try:
        import jsonschema  # python3-jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        jsonschema.validate(payload, schema)
    _mini_validate(payload, schema)  # both, so the mini validator is exercised too


def kill9(proc):
    proc.send_signal(signal.SIGKILL)
    proc.popen.wait(timeout=10)
