"""test_accounting_remote - the facility agent aggregates other agents' hosts'
compute counters over MQTT into the site's compute denominator
(accounting.compute.remote, issue 6's host collector paragraph).

Real processes on 127.0.0.1: a real mosquitto; two host agents (dcem-agent,
sites rack1 and rack2, one host device each, polling every second and
publishing their host collector's points as device messages); one facility
agent (site dc, no device of its own) with
`accounting.compute.remote.hosts: [rack1/host-a, rack2/host-b]` and 5 s
records; mosquitto_sub (an independent client) records everything.

The hosts read a /proc of their own (host.proc_root) that the test rewrites
every 0.2 s: host-a runs 4 busy cores, host-b 1.5, so the counters are
known to differ; host-a's counter is reset (a reboot) once mid-run.

What it proves:
  - every facility interval's cpu_core_hour is the sum over the hosts of
    their cpu_core_seconds deltas in that interval, computed here
    independently from the device messages the test itself received: each
    delta between consecutive readings spread over its span in proportion
    to time, a counter going down (the reset) counting nothing;
  - a message published again (QoS 1 redelivery; the test re-publishes
    host-a's messages with mosquitto_pub) is counted once: the sums above
    still hold;
  - compute_sources lists both hosts with completeness 1 while they publish;
    after host-b's agent is stopped the intervals' compute_completeness
    drops below 1 and host-b's source shows it (never a silently smaller
    denominator);
  - at least MIN_BOTH intervals with both hosts complete are compared.
"""
import json
import os
import subprocess
import threading
import time
import unittest

import dcemtest
import mqtt_util

RECORD_S = 5
MIN_BOTH = 3
RATES = {"host-a": 400, "host-b": 150}  # busy ticks per second (USER_HZ 100: 4 and 1.5 cores)
TICK_HZ = os.sysconf("SC_CLK_TCK")


class FakeProc:
    """A /proc with stat and loadavg for one host, its busy ticks growing at rate."""

    def __init__(self, root, rate, cores=8):
        self.root, self.rate, self.cores = root, rate, cores
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "loadavg"), "w") as f:
            f.write("0.50 0.40 0.30 1/100 1234\n")
        self.t0 = time.monotonic()
        self.base = 100000
        self.write()

    def busy(self):
        return self.base + int(self.rate * (time.monotonic() - self.t0))

    def reset(self):
        """A reboot: the counter starts again from a small value."""
        self.base = 50 - int(self.rate * (time.monotonic() - self.t0))

    def write(self):
        busy = self.busy()
        idle = 10 ** 7 + int(1000 * (time.monotonic() - self.t0))
        lines = ["cpu  %d 0 0 %d 0 0 0 0 0 0" % (busy, idle)]
        for i in range(self.cores):
            lines.append("cpu%d %d 0 0 %d 0 0 0 0 0 0" % (i, busy // self.cores, idle // self.cores))
        tmp = os.path.join(self.root, "stat.tmp")
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\nintr 1 0\n")
        os.rename(tmp, os.path.join(self.root, "stat"))


def ms_of(ts):
    import calendar
    import re
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$", ts)
    y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms


def amount_in(readings, start_ms, end_ms):
    """Core-seconds of one host in [start, end): each delta between consecutive
    readings (ts ms, value) spread over its span in proportion to time; a
    counter going down counts nothing."""
    total = 0.0
    for (t0, v0), (t1, v1) in zip(readings, readings[1:]):
        if t1 <= t0 or v1 < v0:
            continue
        lo, hi = max(t0, start_ms), min(t1, end_ms)
        if hi > lo:
            total += (v1 - v0) * (hi - lo) / (t1 - t0)
    return total


class AccountingRemote(dcemtest.TempDirTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(dcemtest.binary("dcem-agent")):
            self.skipTest("dcem-agent is not built")
        mqtt_util.need("mosquitto_sub")
        self.pub = mqtt_util.need("mosquitto_pub")

    def agent_conf(self, name, site, devices, accounting=""):
        path = os.path.join(self.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write("site: %s\ninterval: 1s\nstate_dir: %s\nlog_level: info\n"
                    "devices:%s\n"
                    "output:\n  mqtt: { url: \"mqtt://127.0.0.1:%d\", spool: { fsync: 0s } }\n%s"
                    % (site, os.path.join(self.tmp, name + "-state"), devices, self.port, accounting))
        return path

    def test_facility_sums_remote_hosts(self):
        _, self.port = mqtt_util.start_broker(self)
        procs = {h: FakeProc(os.path.join(self.tmp, h + "-proc"), r) for h, r in RATES.items()}
        stop = threading.Event()

        def updater():
            while not stop.is_set():
                for p in procs.values():
                    p.write()
                stop.wait(0.2)
        th = threading.Thread(target=updater, daemon=True)
        th.start()
        self.addCleanup(lambda: (stop.set(), th.join(2)))

        sub = mqtt_util.Subscriber(self, self.port, topic="dcem/#", client_id="acct-remote")
        time.sleep(0.3)
        fac_cfg = self.agent_conf("facility", "dc", " []",
                                  "accounting:\n  record_interval: %ds\n  close_delay: 3s\n"
                                  "  compute:\n    remote: { hosts: [ rack1/host-a, rack2/host-b ], interval: 1s }\n"
                                  % RECORD_S)
        fac = self.spawn([dcemtest.binary("dcem-agent"), "-c", fac_cfg], name="facility")
        hosts = {}
        for h, site in (("host-a", "rack1"), ("host-b", "rack2")):
            cfg = self.agent_conf(h, site, "\n  - name: %s\n    host: { proc_root: %s, rapl: false }"
                                  % (h, procs[h].root))
            hosts[h] = self.spawn([dcemtest.binary("dcem-agent"), "-c", cfg], name=h)

        def host_msgs(h):
            return [p for t, p in sub.messages() if t == "dcem/%s/devices/%s" % ("rack1" if h == "host-a" else "rack2", h)]

        def wait(pred, timeout, what):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for name, p in (("facility", fac), ("host-a", hosts["host-a"]), ("host-b", hosts["host-b"])):
                    if p.poll() is not None:
                        self.fail("%s exited:\n%s" % (name, p.log_text()[-3000:]))
                if pred():
                    return
                time.sleep(0.2)
            self.fail("timeout waiting for %s:\n%s" % (what, fac.log_text()[-3000:]))

        wait(lambda: len(host_msgs("host-a")) >= 12 and len(host_msgs("host-b")) >= 12, 40, "host messages")
        # QoS 1 redelivery, simulated: host-a's messages published again, verbatim
        for p in host_msgs("host-a")[-6:] + host_msgs("host-a")[-1:]:
            subprocess.run([self.pub, "-h", dcemtest.LOOPBACK, "-p", str(self.port), "-q", "1",
                            "-t", "dcem/rack1/devices/host-a", "-m", json.dumps(p)], check=True, timeout=10)
        time.sleep(3)
        procs["host-a"].reset()   # a reboot of host-a: its counter goes down
        time.sleep(5)
        self.assertEqual(hosts["host-b"].stop(timeout=20), 0)
        time.sleep(RECORD_S * 2 + 4)
        rc = fac.stop(timeout=30)
        with open(fac.log_path, errors="replace") as f:
            flog = f.read()
        self.assertEqual(rc, 0, flog[-3000:])
        hosts["host-a"].stop(timeout=20)
        time.sleep(0.5)

        readings = {}
        for h in RATES:
            seen = {}
            for p in host_msgs(h):
                pt = p["points"].get("cpu_core_seconds")
                if pt and pt["q"] == "good":
                    seen[ms_of(p["ts"])] = pt["v"]   # a re-published copy has the same ts and value
            readings[h] = sorted(seen.items())
        self.assertTrue(any(v1 < v0 for (_, v0), (_, v1) in zip(readings["host-a"], readings["host-a"][1:])),
                        "host-a's counter reset is not in its messages")
        recs = {}
        for t, p in sub.messages():
            if t == "dcem/dc/intervals" and p.get("window") == "interval":
                recs[p["record_seq"]] = p
        self.assertGreater(len(recs), 4, flog[-3000:])
        both, after_stop, rows = 0, 0, []
        for seq in sorted(recs):
            p = recs[seq]
            s, e = ms_of(p["start"]), ms_of(p["end"])
            want = sum(amount_in(readings[h], s, e) for h in RATES)
            got = p["compute"]["cpu_core_hour"]["v"] * 3600
            rows.append((seq, p["start"][11:19], round(got, 4), round(want, 4), p["compute_completeness"]))
            msg = ("record_seq %d: facility %.6f core-s, hosts' messages %.6f (compute completeness %s); all: %s"
                   % (seq, got, want, p["compute_completeness"], rows))
            if p["compute_completeness"] >= 0.999:
                self.assertAlmostEqual(got, want, delta=1e-6 + 1e-9 * want, msg=msg)
            else:
                # The facility missed readings the test's subscriber got (e.g. it
                # subscribed after a host's first messages, on a slow machine):
                # flagged incomplete, and a missing reading can only lose compute,
                # never add any.
                self.assertLessEqual(got, want + 1e-6 + 1e-9 * want, msg=msg)
            src = {x["source"]: x for x in p["compute_sources"]}
            self.assertEqual(set(src), {"rack1/host-a", "rack2/host-b"})
            b_last = readings["host-b"][-1][0]
            if p["compute_completeness"] >= 0.999:
                both += 1
            if s > b_last:
                after_stop += 1
                self.assertLess(p["compute_completeness"], 1.0)
                self.assertEqual(src["rack2/host-b"]["completeness"], 0)
                self.assertGreater(src["rack1/host-a"]["completeness"], 0.5)
        print("facility intervals (seq, start, facility core-s, hosts' core-s, compute completeness):")
        for r in rows:
            print("  %s" % (r,))
        self.assertGreaterEqual(both, MIN_BOTH, "fewer than %d intervals with both hosts complete" % MIN_BOTH)
        self.assertGreaterEqual(after_stop, 1, "no interval after host-b stopped")
        self.assertIn("counter_reset", json.dumps([recs[s]["events"] for s in recs]))
        # the 7 re-published messages were seen and dropped: duplicates or out of order
        metrics = [p for t, p in sub.messages() if t == "dcem/dc/metrics"]
        cr = metrics[-1]["compute_remote"]
        print("compute_remote counters: %s" % cr)
        self.assertGreaterEqual(cr["duplicates"] + cr["out_of_order"], 7)
        self.assertEqual(cr["invalid"], 0)
        self.assertEqual([h["host"] for h in cr["hosts"]], ["rack1/host-a", "rack2/host-b"])
        for p in metrics[-3:]:
            mqtt_util.validate(p, "metrics.json")
        for seq in sorted(recs)[:3]:
            mqtt_util.validate(recs[seq], "intervals.json")


if __name__ == "__main__":
    dcemtest.main()
