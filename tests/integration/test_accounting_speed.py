"""test_accounting_speed - issue 6's end-to-end test in its own form: dcem-sim
at --speed 60 plus the agent with 10-second intervals; PUE, green share and
carbon from the agent match the simulator's truth within 0.5 % for every
complete interval.

How the truth maps onto the agent's intervals. The agent stamps readings with
its UTC wall clock and closes 10 s intervals on the UTC wall grid; the
simulator's physics run 60 simulated seconds per wall second. So the truth of
the agent's interval [W, W+10 s) is the energy between the simulated instants
W and W+10 s map to: dcem-sim --truth-wall 10s writes exactly that (a
`wall_record` per 10 s wall window, tools/sim/runtime.c, unit-tested in
test_sim_truth). One agent interval is then 10 simulated minutes of energy,
and the PDUs' 0.1 kWh counter steps are ~0.2 % of an interval's PDU energy.

Real processes on 127.0.0.1: dcem-sim (demo site, started at the site's
local noon so the PV produces), a real mosquitto, dcem-agent polling every
1 s with output.mqtt and `accounting: {record_interval: 10s}`, a green-power
contract (a share of grid import) and the cn-mee-2023 factor table's `east`
region; mosquitto_sub records dcem/+/intervals.

Checked for every complete interval (record completeness 1, every device
complete and without events), each within 0.5 % of the truth:
  - PUE category 2 (PDU input: counters) = E_DC / E_IT_cat2;
  - PUE category 1 (UPS output): UPS-MIB has no energy counter, so the agent
    integrates power over its own (wall) time, and at speed K that is 1/K of
    the simulated energy: physics of the time dilation, not of dcem. The
    figure must be flagged estimated, and the agent's E_IT_cat1 x K and its
    PUE cat 1 / K are checked against the truth within 0.5 %;
  - green share (REF) = (on-site + green line - export + contract) / E_DC,
    the contract = share x grid import (METRICS.md: claims never beyond
    grid import);
  - carbon location-based = E_grid_import x the table's `east` factor;
  - carbon market-based = (E_grid_import - contract) x the table's residual,
    factors read here from conf/factors/cn-mee-2023.yaml.
The test fails if fewer than MIN_COMPLETE complete intervals arrive. The
bound each quantity's meters allow (one register step per device, summed) is
printed next to the error, so a failure can be told apart from a resolution
limit.

Resolution, in numbers: PUE cat 2 cannot be guaranteed within 0.5 % by the
meters alone. Four of the eight PDUs (APC rPDU2, Sentry4) count in 0.1 kWh
steps; an interval holds ~54 kWh of PDU input (~325 kW for 10 simulated
minutes), so their quantization can reach 4 x 0.1 = 0.4 kWh = 0.74 % in the
worst case. It is a sum of four independent triangular errors (sigma 0.082
kWh = 0.15 %), so 0.5 % is 3.3 sigma: about 1 interval in 1,000. Measured
errors are 0.07-0.22 %. The check stays at 0.5 % (not loosened); should it
fail on such an interval, the printed bound shows the meters allowed it.
"""
import calendar
import json
import math
import os
import re
import time
import unittest

import dcemtest
import mqtt_util
import simtest

try:
    import yaml
except ImportError:  # pragma: no cover - python3-yaml is a test dependency
    yaml = None

SPEED = 60
RECORD_S = 10
MIN_COMPLETE = 4          # complete intervals needed
TOL = 0.005               # the 0.5 %
CONTRACT_SHARE = 0.25
REGION = "east"
RUN_WALL_S = 72           # wall time budget for intervals to arrive

RESOLUTION = {"iem3000": 0.001, "pm5000": 0.001, "sunspec": 0.001, "apc-rpdu2": 0.1, "sentry4": 0.1,
              "raritan-pdu2": 0.001, "eaton-epdu": 0.001, "sdm630": None, "sunspec-float": None, "ups-mib": 0}
ROLE_OF_KIND = {"grid": "grid_import", "export": "export", "pv": "onsite_renewable", "green": "green_supply",
                "ups": "it_cat1", "it": "it_cat2", "cooling": "cooling", "other": "other"}


def ms_of(ts):
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$", ts)
    y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms


def ulp32(v):
    v = abs(v)
    return 2.0 ** -149 if v == 0 else 2.0 ** (math.floor(math.log2(v)) - 23)


def month_str(t, delta):
    y, m = time.gmtime(t)[:2]
    m += delta
    while m < 1:
        y, m = y - 1, m + 12
    while m > 12:
        y, m = y + 1, m - 12
    return "%04d-%02d" % (y, m)


class AccountingSpeed(dcemtest.TempDirTestCase):

    def setUp(self):
        super().setUp()
        for b in ("dcem-agent", "dcem-sim"):
            if not os.path.exists(dcemtest.binary(b)):
                self.skipTest("%s is not built" % b)
        mqtt_util.need("mosquitto_sub")
        if yaml is None:
            self.skipTest("python3-yaml is not installed")

    def factors(self):
        with open(os.path.join(dcemtest.SOURCE_DIR, "conf", "factors", "cn-mee-2023.yaml")) as f:
            t = yaml.safe_load(f)
        return float(t["regions"][REGION]), float(t["residual"]["factor"])

    def test_speed60_against_wall_truth(self):
        ef_loc, ef_res = self.factors()
        truth_path = os.path.join(self.tmp, "truth.jsonl")
        agent_yaml = os.path.join(self.tmp, "agent.yaml")
        # Shanghai's noon (UTC+8): the PV produces during the whole run
        self.sim, ready = simtest.start_sim(self, ["-c", simtest.DEMO_SITE, "--speed", str(SPEED),
                                                   "--start", "2026-06-21T03:30:00Z", "--truth", truth_path,
                                                   "--truth-wall", "%ds" % RECORD_S,
                                                   "--print-agent-config", agent_yaml, "--agent-interval", "1s",
                                                   "--agent-state-dir", os.path.join(self.tmp, "state")])
        _, port = mqtt_util.start_broker(self)
        with open(agent_yaml) as f:
            cfg = f.read()
        self.assertIn("output:\n  stdout: true\n", cfg)
        now = time.time()
        cfg = cfg.replace("output:\n  stdout: true\n",
                          "output:\n  mqtt: { url: \"mqtt://127.0.0.1:%d\", spool: { fsync: 0s } }\n"
                          "accounting:\n"
                          "  record_interval: %ds\n  close_delay: 3s\n  realtime_window: 30s\n"
                          "  carbon: { table: cn-mee-2023, region: %s }\n"
                          "  green_contracts: [ { name: ppa, from: \"%s\", to: \"%s\", share: %s } ]\n"
                          % (port, RECORD_S, REGION, month_str(now, -1), month_str(now, 1), CONTRACT_SHARE))
        with open(agent_yaml, "w") as f:
            f.write(cfg)
        sub = mqtt_util.Subscriber(self, port, topic="dcem/+/intervals", client_id="acct-speed")
        time.sleep(0.3)
        agent = self.spawn([dcemtest.binary("dcem-agent"), "-c", agent_yaml], name="agent")
        kinds = {d["name"]: d for d in ready["devices"]}

        def intervals():
            seen, out = set(), []
            for t, p in sub.messages():
                if p.get("window") == "interval" and p["record_seq"] not in seen:
                    seen.add(p["record_seq"])
                    out.append(p)
            return out

        def complete(p):
            return p["completeness"] >= 0.999 and all(d["completeness"] >= 0.999 and d["events"] == 0
                                                      for d in p["devices"])

        deadline = time.monotonic() + RUN_WALL_S
        while time.monotonic() < deadline:
            if agent.poll() is not None:
                self.fail("the agent exited with %s:\n%s" % (agent.poll(), agent.log_text()[-3000:]))
            if sum(1 for p in intervals() if complete(p)) >= MIN_COMPLETE + 1:
                break
            time.sleep(0.25)
        rc = agent.stop(timeout=30)
        with open(agent.log_path, errors="replace") as f:
            log = f.read()
        self.assertEqual(rc, 0, log[-3000:])
        time.sleep(0.3)
        self.sim.stop()

        wall = {}
        for rec in simtest.read_truth(truth_path):
            if rec["type"] == "wall_record":
                wall[rec["wall_start_ms"]] = rec
        recs = sorted(intervals(), key=lambda p: p["record_seq"])
        self.assertGreater(len(recs), 0, "no interval records:\n" + log[-3000:])
        self.assertLess(recs[0]["completeness"], 1.0, "the first interval began before the first reading")

        def fig(p, metric, **kw):
            for f in p["figures"]:
                if f["metric"] == metric and all(f.get(k) == v for k, v in kw.items()):
                    return f
            self.fail("record_seq %d has no %s %s figure" % (p["record_seq"], metric, kw))

        def res_bound(role, tdevs):
            """kWh: the most an interval's difference of two quantized readings can be
            off (one register step: both ends truncate alike), summed over the role's devices."""
            b = 0.0
            for n, d in kinds.items():
                if ROLE_OF_KIND[d["kind"]] != role:
                    continue
                r = RESOLUTION[d["profile"]]
                if r is None:
                    v = abs(tdevs[n]["reported_kwh"]) + abs(tdevs[n].get("reported_export_kwh", 0))
                    r = ulp32(v) if d["profile"] == "sdm630" else ulp32(v * 1000) / 1000
                b += r
            return b

        rows, compared = [], 0
        worst = {}
        for p in recs:
            if not complete(p):
                continue
            t = wall.get(ms_of(p["start"]))
            self.assertIsNotNone(t, "no wall truth for the interval starting %s" % p["start"])
            self.assertEqual(t["wall_end_ms"], ms_of(p["end"]))
            self.assertFalse(t["partial"])
            ti, td = t["interval"], t["devices"]
            D, G = ti["E_DC_kwh"], ti["E_grid_import_kwh"]
            I1, I2 = ti["E_IT_cat1_kwh"], ti["E_IT_cat2_kwh"]
            renewable = ti["E_onsite_renewable_kwh"] + ti["E_green_supply_kwh"] - ti["E_export_kwh"]
            claimable = min(G, D - renewable)
            contract = min(CONTRACT_SHARE * G, claimable)
            want = {
                "pue2": D / I2,
                "pue1_dilated": SPEED * D / I1,
                "it1_x_speed": I1,
                "ref": (renewable + contract) / D,
                "carbon_location": G * ef_loc,
                "carbon_market": (G - contract) * ef_res,
            }
            pue1 = fig(p, "pue", category=1)
            self.assertEqual(pue1["quality"], "estimated", "a power-integrated PUE must be flagged estimated")
            got = {
                "pue2": fig(p, "pue", category=2)["value"],
                "pue1_dilated": pue1["value"],
                "it1_x_speed": p["energy"]["it_cat1"]["v"] * SPEED,
                "ref": fig(p, "ref")["value"],
                "carbon_location": fig(p, "carbon_location")["value"],
                "carbon_market": fig(p, "carbon_market")["value"],
            }
            self.assertEqual(fig(p, "carbon_location")["factor"], ef_loc)
            self.assertEqual(fig(p, "carbon_market")["factor"], ef_res)
            rD = sum(res_bound(r, td) for r in ("grid_import", "export", "onsite_renewable", "green_supply")) / D
            rI2 = res_bound("it_cat2", td) / I2
            rG = res_bound("grid_import", td) / G
            bound = {"pue2": rD + rI2, "pue1_dilated": rD, "it1_x_speed": 0.0, "ref": 2 * rD,
                     "carbon_location": rG, "carbon_market": rG}
            row = {}
            for k in want:
                err = abs(got[k] - want[k]) / abs(want[k])
                worst[k] = max(worst.get(k, 0.0), err)
                row[k] = (err, bound[k])
            rows.append((p["record_seq"], row))
            compared += 1
        print("interval record_seq: {quantity: (relative error, resolution bound)}")
        for s, row in rows:
            print("  %d: %s" % (s, {k: "%.3f%% (res %.3f%%)" % (100 * e, 100 * b) for k, (e, b) in row.items()}))
        print("worst relative error: %s" % {k: "%.3f%%" % (100 * v) for k, v in worst.items()})
        self.assertGreaterEqual(compared, MIN_COMPLETE, "only %d complete intervals (need %d); records: %s" %
                                (compared, MIN_COMPLETE, [(p["record_seq"], p["completeness"]) for p in recs]))
        for s, row in rows:
            for k, (err, b) in row.items():
                self.assertLessEqual(err, TOL, "record_seq %d %s: %.4f%% off the truth (meters' resolution "
                                     "allows %.4f%%)" % (s, k, 100 * err, 100 * b))


if __name__ == "__main__":
    dcemtest.main()
