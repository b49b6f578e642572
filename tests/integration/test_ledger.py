"""test_ledger - the certification ledger end to end (METRICS.md rule 9).

Real processes on 127.0.0.1: dcem-sim plays the demo site; a real mosquitto;
dcem-agent with 5 s accounting intervals, output.mqtt and
accounting.ledger.key_file (a key made by `dcem-agent ledger keygen`);
mosquitto_sub records <prefix>/<site>/intervals and <prefix>/<site>/ledger.

What it proves:
  - every interval record is chained: one ledger entry per record_seq, with
    the record's exact content, on disk and on the ledger topic;
  - the agent killed with SIGKILL and restarted continues the same chain:
    seq contiguous, record_seq never chained twice, no record missing;
  - the files verify with `dcem-agent ledger verify --key` AND with an
    independent implementation (tools/ledger/dcem-ledger-verify: Python
    hashlib + the openssl CLI for Ed25519), and so do the entries collected
    from MQTT;
  - tampering is detected by both: an altered energy value (hash mismatch),
    a removed entry (seq gap), and an altered record whose chain an attacker
    re-hashed without the key (bad signature);
  - the agent refuses to extend a tampered ledger, naming file and line, and
    keeps publishing the interval records.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import dcemtest
import mqtt_util
import simtest

VERIFY_PY = os.path.join(dcemtest.SOURCE_DIR, "tools", "ledger", "dcem-ledger-verify")


def chain_hash(site, stream, seq, record_seq, prev, record):
    head = "dcem-ledger-1\n%s\n%s\n%d\n%d\n%s\n" % (site, stream, seq, record_seq, prev)
    return hashlib.sha256(head.encode() + record.encode()).hexdigest()


class Ledger(dcemtest.TempDirTestCase):

    def setUp(self):
        super().setUp()
        for b in ("dcem-agent", "dcem-sim"):
            if not os.path.exists(dcemtest.binary(b)):
                self.skipTest("%s is not built" % b)
        mqtt_util.need("mosquitto_sub")
        if not shutil.which("openssl"):
            self.skipTest("openssl is not installed")

    def agent_bin(self):
        return dcemtest.binary("dcem-agent")

    def verify_c(self, files, key):
        return subprocess.run([self.agent_bin(), "ledger", "verify", "--key", key] + files,
                              capture_output=True, text=True, timeout=60)

    def verify_py(self, files, key):
        return subprocess.run([sys.executable, VERIFY_PY, "--key", key] + files,
                              capture_output=True, text=True, timeout=120)

    def assert_both_reject(self, files, key, why):
        for name, r in (("dcem-agent", self.verify_c(files, key)), ("python", self.verify_py(files, key))):
            self.assertEqual(r.returncode, 2, "%s accepted a tampered ledger: %s %s" % (name, r.stdout, r.stderr))
            self.assertIn(why, r.stderr, name)

    def ledger_msgs(self, sub):
        return [p for t, p in sub.messages() if t.endswith("/ledger")]

    def wait_entries(self, sub, agent, n, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seqs = {p["seq"] for p in self.ledger_msgs(sub)}
            if len(seqs) >= n:
                return
            if agent.poll() is not None:
                self.fail("the agent exited with %s:\n%s" % (agent.poll(), agent.log_text()[-3000:]))
            time.sleep(0.2)
        self.fail("fewer than %d ledger entries after %ds:\n%s" % (n, timeout, agent.log_text()[-3000:]))

    def test_ledger_chain_restart_and_tampering(self):
        key = os.path.join(self.tmp, "ledger.key")
        r = subprocess.run([self.agent_bin(), "ledger", "keygen", key], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        pub = key + ".pub"
        # never overwrites a key
        r = subprocess.run([self.agent_bin(), "ledger", "keygen", key], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)

        state = os.path.join(self.tmp, "state")
        agent_yaml = os.path.join(self.tmp, "agent.yaml")
        self.sim, _ = simtest.start_sim(self, ["-c", os.path.join(dcemtest.SOURCE_DIR, "conf", "sim", "demo-site.yaml"),
                                               "--speed", "1", "--print-agent-config", agent_yaml,
                                               "--agent-interval", "1s", "--agent-state-dir", state])
        _, port = mqtt_util.start_broker(self)
        with open(agent_yaml) as f:
            cfg = f.read()
        self.assertIn("output:\n  stdout: true\n", cfg)
        cfg = cfg.replace("output:\n  stdout: true\n",
                          "output:\n  mqtt: { url: \"mqtt://127.0.0.1:%d\", spool: { fsync: 0s } }\n"
                          "accounting:\n  record_interval: 5s\n"
                          "  ledger: { key_file: \"%s\", sign_every: 1 }\n" % (port, key))
        with open(agent_yaml, "w") as f:
            f.write(cfg)
        sub = mqtt_util.Subscriber(self, port, topic="dcem/+/+", client_id="ledger-it")
        time.sleep(0.5)
        agent = self.spawn([self.agent_bin(), "-c", agent_yaml], name="agent")
        self.wait_entries(sub, agent, 3, 60)
        mqtt_util.kill9(agent)
        before = max(p["seq"] for p in self.ledger_msgs(sub))
        agent = self.spawn([self.agent_bin(), "-c", agent_yaml], name="agent2")
        self.wait_entries(sub, agent, before + 3, 60)
        self.assertEqual(agent.stop(timeout=30), 0)
        time.sleep(1.0)

        files = sorted(glob.glob(os.path.join(state, "ledger", "ledger-*.jsonl")))
        self.assertTrue(files, "no ledger file under %s" % state)
        for name, r in (("dcem-agent", self.verify_c(files, pub)), ("python", self.verify_py(files, pub))):
            self.assertEqual(r.returncode, 0, "%s: %s %s" % (name, r.stdout, r.stderr))
            self.assertIn("signed and checked", r.stdout)

        lines = []
        for p in files:
            with open(p) as f:
                lines += [ln for ln in f.read().split("\n") if ln]
        entries = [json.loads(ln) for ln in lines]
        self.assertEqual([e["seq"] for e in entries], list(range(1, len(entries) + 1)))
        self.assertGreaterEqual(len(entries), before + 3)
        rseqs = [e["record_seq"] for e in entries if e["stream"] == "intervals"]
        self.assertEqual(rseqs, list(range(rseqs[0], rseqs[0] + len(rseqs))),
                         "a record chained twice or missing across the kill -9")
        # each entry's record is the interval record published with that record_seq
        published = {}
        for t, p in sub.messages():
            if t.endswith("/intervals") and p.get("window") == "interval":
                published.setdefault(p["record_seq"], p)
        matched = 0
        for e in entries:
            rec = json.loads(e["record"])
            self.assertEqual(rec["record_seq"], e["record_seq"])
            if e["record_seq"] in published:
                # the interval message is the record plus the MQTT envelope (schema, site, seq, ts)
                msg = {k: v for k, v in published[e["record_seq"]].items()
                       if k in rec or k not in ("schema", "site", "seq", "ts")}
                self.assertEqual(rec, msg)
                self.assertEqual(published[e["record_seq"]]["site"], e["site"])
                matched += 1
        self.assertGreaterEqual(matched, len(entries) - 1)
        # the entries collected from MQTT are the file's entries and verify as a chain
        by_seq = {e["seq"]: e for e in entries}
        got = {}
        for p in self.ledger_msgs(sub):
            got.setdefault(p["seq"], p)
        for s, p in got.items():
            self.assertEqual(p, by_seq[s])
            mqtt_util.validate(p, "ledger.json")
        collected = os.path.join(self.tmp, "collected.jsonl")
        with open(collected, "w") as f:
            for s in sorted(got):
                f.write(json.dumps(got[s]) + "\n")
        self.assertEqual(self.verify_py([collected], pub).returncode, 0)
        self.assertEqual(self.verify_c([collected], pub).returncode, 0)

        # --- tampering ---
        bad = os.path.join(self.tmp, "bad.jsonl")

        def write(es):
            with open(bad, "w") as f:
                for e in es:
                    f.write(json.dumps(e) + "\n")

        def alter(e):
            rec = json.loads(e["record"])
            rec["record_seq"] = rec["record_seq"]  # same keys, altered content below
            rec["tampered"] = True
            e = dict(e)
            e["record"] = json.dumps(rec)
            return e

        es = [dict(e) for e in entries]
        es[1] = alter(es[1])
        write(es)
        self.assert_both_reject([bad], pub, "hash mismatch")
        es = [dict(e) for e in entries]
        del es[2]
        write(es)
        self.assert_both_reject([bad], pub, "expected")
        # an attacker without the key re-hashes the chain after the altered record
        es = [dict(e) for e in entries]
        es[1] = alter(es[1])
        for i in range(1, len(es)):
            es[i]["prev"] = es[i - 1]["hash"]
            es[i]["hash"] = chain_hash(es[i]["site"], es[i]["stream"], es[i]["seq"], es[i]["record_seq"],
                                       es[i]["prev"], es[i]["record"])
        write(es)
        self.assert_both_reject([bad], pub, "bad signature")

        # the agent refuses to extend a tampered ledger and still publishes the records
        with open(files[-1]) as f:
            text = f.read()
        first = json.loads(text.split("\n")[0])
        altered = alter(first)
        with open(files[-1], "w") as f:
            f.write(text.replace(text.split("\n")[0], json.dumps(altered, separators=(",", ":")), 1))
        n_int = len([1 for t, p in sub.messages() if t.endswith("/intervals")])
        agent = self.spawn([self.agent_bin(), "-c", agent_yaml], name="agent3")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if len([1 for t, p in sub.messages() if t.endswith("/intervals")]) >= n_int + 2:
                break
            time.sleep(0.3)
        self.assertGreaterEqual(len([1 for t, p in sub.messages() if t.endswith("/intervals")]), n_int + 2,
                                agent.log_text()[-3000:])
        self.assertRegex(agent.log_text(), r"ledger-\d{4}-\d{2}\.jsonl:1: .*hash mismatch")
        self.assertEqual(agent.stop(timeout=30), 0)


if __name__ == "__main__":
    dcemtest.main()
