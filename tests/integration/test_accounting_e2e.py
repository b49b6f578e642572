"""test_accounting_e2e - the accounting end to end against the simulator's
ground truth.

Real processes on 127.0.0.1: dcem-sim plays the demo site (conf/sim/demo-site.yaml,
its truth records set to the 10 s grid) at --speed 1 with --truth; a real
mosquitto; dcem-agent polls the simulator every 2 s with output.mqtt and
`accounting: {record_interval: 10s}`; mosquitto_sub (an independent MQTT
client) records dcem/+/intervals and dcem/+/metrics.

What it proves:
  - every complete interval's E_grid_import, E_IT per category, E_cooling,
    E_DC, PUE (the published figure) and green share (REF) agree with the
    truth file's same interval within a tolerance derived from the meters:
    twice each register's resolution (both ends of the interval) plus the
    energy of a 0.25 s stamp error at each end, summed over the role's
    devices (and 0.5 % for power-integrated UPS outputs);
  - the first interval, begun before the agent's first reading, is flagged
    incomplete;
  - after a kill -9 of the agent mid-run and a restart from its saved state:
    the record sequence is continuous, no interval is published with two
    different contents, and the energy of every counter-metered role summed
    over the whole run still matches the truth within the meters'
    resolution (counter readings bridged the downtime: nothing lost, nothing
    counted twice);
  - the payloads validate against docs/schemas/intervals.json and metrics.json.
A role is compared only in intervals where all its devices answered (per-device
completeness in the record); the test fails if the facility boundary (grid,
E_DC, green share) could not be compared at least three times.
"""
import json
import math
import os
import re
import signal
import time
import unittest

import dcemtest
import mqtt_util
import simtest

STAMP_S = 0.25            # bound on |reading stamp - instant the meter was read| (loopback polls take ms)
UPS_REL = 0.005           # trapezoid over 2 s samples of the UPS output power (no energy counter in UPS-MIB)
RECORD_S = 10

# kWh per count of each profile's energy register; None = float32 (resolution = one ulp at the value)
RESOLUTION = {"iem3000": 0.001, "pm5000": 0.001, "sunspec": 0.001, "apc-rpdu2": 0.1, "sentry4": 0.1,
              "raritan-pdu2": 0.001, "eaton-epdu": 0.001, "sdm630": None, "sunspec-float": None}
ROLE_OF_KIND = {"grid": "grid_import", "export": "export", "pv": "onsite_renewable", "green": "green_supply",
                "ups": "it_cat1", "it": "it_cat2", "cooling": "cooling", "other": "other"}
TRUTH_KEY = {"grid_import": "E_grid_import_kwh", "export": "E_export_kwh", "onsite_renewable": "E_onsite_renewable_kwh",
             "green_supply": "E_green_supply_kwh", "it_cat1": "E_IT_cat1_kwh", "it_cat2": "E_IT_cat2_kwh",
             "cooling": "E_cooling_kwh", "other": "E_other_kwh", "dc": "E_DC_kwh"}
EDC_ROLES = ("grid_import", "export", "onsite_renewable", "green_supply")


def ulp32(v):
    v = abs(v)
    if v == 0:
        return 2.0 ** -149
    return 2.0 ** (math.floor(math.log2(v)) - 23)


def ms_of(ts):
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$", ts)
    import calendar
    y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms


class AccountingE2E(dcemtest.TempDirTestCase):

    def setUp(self):
        super().setUp()
        for b in ("dcem-agent", "dcem-sim"):
            if not os.path.exists(dcemtest.binary(b)):
                self.skipTest("%s is not built" % b)
        mqtt_util.need("mosquitto_sub")

    def start_everything(self):
        site = os.path.join(self.tmp, "site.yaml")
        with open(os.path.join(dcemtest.SOURCE_DIR, "conf", "sim", "demo-site.yaml")) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^record_interval:.*$", "record_interval: %ds" % RECORD_S, text)
        self.assertEqual(n, 1)
        with open(site, "w") as f:
            f.write(text)
        self.truth_path = os.path.join(self.tmp, "truth.jsonl")
        agent_yaml = os.path.join(self.tmp, "agent.yaml")
        self.sim, self.ready = simtest.start_sim(self, ["-c", site, "--speed", "1", "--truth", self.truth_path,
                                                        "--print-agent-config", agent_yaml, "--agent-interval", "2s",
                                                        "--agent-state-dir", os.path.join(self.tmp, "state")])
        _, self.port = mqtt_util.start_broker(self)
        with open(agent_yaml) as f:
            cfg = f.read()
        self.assertIn("output:\n  stdout: true\n", cfg)
        cfg = cfg.replace("output:\n  stdout: true\n",
                          "output:\n  mqtt: { url: \"mqtt://127.0.0.1:%d\", spool: { fsync: 0s } }\n"
                          "accounting: { record_interval: %ds, close_delay: 4s, realtime_window: 30s }\n"
                          % (self.port, RECORD_S))
        with open(agent_yaml, "w") as f:
            f.write(cfg)
        self.agent_yaml = agent_yaml
        self.sub = mqtt_util.Subscriber(self, self.port, topic="dcem/+/+", client_id="acct-e2e")
        time.sleep(0.5)

    def start_agent(self, name):
        return self.spawn([dcemtest.binary("dcem-agent"), "-c", self.agent_yaml], name=name)

    def intervals(self):
        """Interval records, deduplicated by the MQTT stream seq (at-least-once delivery)."""
        seen, out = set(), []
        for t, p in self.sub.messages():
            if t.endswith("/intervals") and p.get("window") == "interval" and p["seq"] not in seen:
                seen.add(p["seq"])
                out.append(p)
        return out

    def wait_intervals(self, n, timeout, agent):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.intervals()) >= n:
                return
            if agent.poll() is not None:
                self.fail("the agent exited with %s:\n%s" % (agent.poll(), agent.log_text()[-3000:]))
            time.sleep(0.2)
        self.fail("fewer than %d interval records after %ds:\n%s" % (n, timeout, self.procs[-1].log_text()[-3000:]))

    def test_against_truth_with_kill9(self):
        self.start_everything()
        a1 = self.start_agent("agent1")
        self.wait_intervals(6, 120, a1)
        # kill -9 mid-interval, stay down past a whole interval, restart from the saved state
        time.sleep(3)
        a1.send_signal(signal.SIGKILL)
        a1.popen.wait(timeout=10)
        time.sleep(14)
        a2 = self.start_agent("agent2")
        n_before = len(self.intervals())
        self.wait_intervals(n_before + 6, 120, a2)
        t_stop = time.monotonic()
        rc = a2.stop(timeout=30)  # the drain itself is bounded at 10 s
        print("agent drained and stopped in %.1f s" % (time.monotonic() - t_stop))
        with open(a2.log_path, errors="replace") as f:
            log2 = f.read()
        self.assertEqual(rc, 0, log2[-3000:])
        time.sleep(0.5)
        self.sim.stop()
        self.assertIn("state restored", log2)
        self.assertIn("first start", a1.log_text())

        truth = {}
        devices_truth = {}
        for rec in simtest.read_truth(self.truth_path):
            if rec["type"] == "record":
                truth[rec["start_ms"]] = rec
        recs = self.intervals()
        kinds = {d["name"]: d for d in self.ready["devices"]}

        # --- sequence: continuous, nothing published twice with different contents
        by_seq = {}
        for p in recs:
            by_seq.setdefault(p["record_seq"], []).append(p)
        seqs = sorted(by_seq)
        self.assertEqual(seqs, list(range(0, seqs[-1] + 1)), "record_seq not continuous: %s" % seqs)
        for s, copies in by_seq.items():
            strip = [{k: v for k, v in c.items() if k not in ("seq", "ts")} for c in copies]
            self.assertTrue(all(x == strip[0] for x in strip), "record_seq %d published with different contents" % s)
        starts = [ms_of(by_seq[s][0]["start"]) for s in seqs]
        self.assertEqual(starts, list(range(starts[0], starts[0] + RECORD_S * 1000 * len(seqs), RECORD_S * 1000)))

        # --- the first interval began before the first reading: incomplete
        first = by_seq[0][0]
        self.assertLess(first["completeness"], 1.0)
        self.assertTrue(any(f["label"] == "interim" for f in first["figures"]))

        for p in recs[:3]:
            mqtt_util.validate(p, "intervals.json")
        metrics = [p for t, p in self.sub.messages() if t.endswith("/metrics")]
        self.assertGreater(len(metrics), 10)
        for p in metrics[-3:]:
            mqtt_util.validate(p, "metrics.json")
        self.assertTrue(any(f["label"] == "realtime" for f in metrics[-1]["figures"]))

        # --- tolerance per role of one interval, from the meters
        def ratio_tol(num_tol, den_low):
            """Bound of a ratio's error given its numerator's tolerance and the lowest
            possible denominator; unbounded when the denominator's tolerance reaches
            its value (e.g. 0.1 kWh PDU counters against ~1 kWh per 10 s interval)."""
            return num_tol / den_low if den_low > 0 else float("inf")

        def dev_tol(name, tdev, e_int, ends):
            prof = kinds[name]["profile"]
            if prof == "ups-mib":
                return UPS_REL * abs(e_int) + 2 * abs(tdev["power_kw"]) * STAMP_S / 3600
            res = RESOLUTION[prof]
            if res is None:
                v = max(abs(tdev["reported_kwh"]), abs(tdev.get("reported_export_kwh", 0)))
                res = ulp32(v if prof == "sdm630" else v * 1000) / (1 if prof == "sdm630" else 1000)
            return ends * res + ends * abs(tdev["power_kw"]) * STAMP_S / 3600

        def role_devices(role):
            return [n for n, d in kinds.items() if ROLE_OF_KIND[d["kind"]] == role]

        def answered(p, role):
            st = {d["device"]: d for d in p["devices"]}
            return all(n in st and st[n]["completeness"] >= 0.999 and st[n]["events"] == 0 for n in role_devices(role))

        compared = {k: 0 for k in ("grid_import", "it_cat1", "it_cat2", "cooling", "dc", "pue1", "pue2", "ref")}
        worst = {k: 0.0 for k in compared}
        report = []
        for s in seqs[1:]:
            p = by_seq[s][0]
            t = truth.get(ms_of(p["start"]))
            if t is None or p["completeness"] < 0.999:
                continue
            ti = t["interval"]
            tol = {}
            for role in TRUTH_KEY:
                if role == "dc":
                    continue
                tol[role] = sum(dev_tol(n, t["devices"][n], t["devices"][n]["energy_kwh"], 2) for n in role_devices(role))
            tol["dc"] = sum(tol[r] for r in EDC_ROLES)
            e = p["energy"]

            def check(key, got, want, tl):
                if tl == float("inf"):
                    return  # the meters' resolution cannot bound this ratio in one interval
                self.assertLessEqual(abs(got - want), tl, "record_seq %d %s: agent %.6f truth %.6f tolerance %.6f"
                                     % (s, key, got, want, tl))
                compared[key] += 1
                rel = abs(got - want) / abs(want) if want else 0
                worst[key] = max(worst[key], rel)

            ok_dc = all(answered(p, r) for r in EDC_ROLES)
            if answered(p, "grid_import"):
                check("grid_import", e["grid_import"]["v"], ti["E_grid_import_kwh"], tol["grid_import"])
            if answered(p, "cooling"):
                check("cooling", e["cooling"]["v"], ti["E_cooling_kwh"], tol["cooling"])
            for c in (1, 2):
                r = "it_cat%d" % c
                if answered(p, r):
                    check(r, e[r]["v"], ti[TRUTH_KEY[r]], tol[r])
            if ok_dc:
                check("dc", e["dc"]["v"], ti["E_DC_kwh"], tol["dc"])
                D, tD = ti["E_DC_kwh"], tol["dc"]
                ref = [f for f in p["figures"] if f["metric"] == "ref"][0]
                G = ti["green_share"]
                tnum = tol["onsite_renewable"] + tol["green_supply"] + tol["export"]
                check("ref", ref["value"], G, ratio_tol(tnum + G * tD, D - tD))
                for c in (1, 2):
                    r = "it_cat%d" % c
                    if not answered(p, r):
                        continue
                    pue = [f for f in p["figures"] if f["metric"] == "pue" and f.get("category") == c][0]
                    self.assertEqual(pue["status"], "ok")
                    self.assertEqual(pue["label"], "interim")
                    I, tI, P = ti[TRUTH_KEY[r]], tol[r], ti["PUE_cat%d" % c]
                    check("pue%d" % c, pue["value"], P, ratio_tol(tD + P * tI, I - tI))
            report.append(s)
        print("compared intervals: %s" % report)
        print("comparisons per quantity: %s" % compared)
        print("worst relative error: %s" % {k: "%.3g%%" % (100 * v) for k, v in worst.items()})
        for k in ("grid_import", "dc", "ref", "cooling"):
            self.assertGreaterEqual(compared[k], 3, "%s compared in fewer than 3 complete intervals" % k)
        for k in ("it_cat1", "it_cat2", "pue1", "pue2"):
            if compared[k] == 0:
                print("NOTE: %s never compared: a device of that role did not answer in any complete interval" % k)

        # --- totals over the whole run (restart included): counters bridge the downtime exactly
        last = seqs[-1]
        t0, t1 = ms_of(by_seq[1][0]["start"]), ms_of(by_seq[last][0]["end"])
        spans = [truth[m] for m in range(t0, t1, RECORD_S * 1000) if m in truth]
        self.assertEqual(len(spans), last, "truth records missing for the run")
        end_rec = truth[t1 - RECORD_S * 1000]
        start_rec = truth[t0]
        totals = {}
        for role in ("grid_import", "green_supply", "cooling", "other", "it_cat2", "dc"):
            got = sum(by_seq[s][0]["energy"][role]["v"] for s in seqs[1:])
            want = sum(r["interval"][TRUTH_KEY[role]] for r in spans)
            roles = EDC_ROLES if role == "dc" else (role,)
            tl = 0
            for r in roles:
                for n in role_devices(r):
                    tl += dev_tol(n, end_rec["devices"][n], 0, 1) + dev_tol(n, start_rec["devices"][n], 0, 1)
            totals[role] = (got, want, tl)
            self.assertLessEqual(abs(got - want), tl, "run total %s: agent %.6f truth %.6f tolerance %.6f"
                                 % (role, got, want, tl))
        print("run totals (agent, truth, tolerance) kWh: %s" % {k: tuple(round(x, 6) for x in v) for k, v in totals.items()})


if __name__ == "__main__":
    dcemtest.main()
