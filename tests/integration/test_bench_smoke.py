"""it_bench_smoke - bench/run at a tiny size, so the benchmark never rots.

Runs bench/run (docs/BENCHMARKS.md) with N = 20 devices (the simulator's
--scale minimum is 12), a 1 s interval, a 4 s window and a short
broker outage, against the binaries of this build (--no-build), collectd too
when it is installed. Checks that the Markdown table and the JSON figures
come out, and that the figures are consistent with the site and with what
the simulator counted independently: every device polled about once per
interval, Modbus requests per device-poll equal to the requests the bench
workload's maps need (counted here from bench/workload.py, not from the
agent), one SNMP packet per device-poll, CPU and RSS present and plausible;
the same per profile from the simulator's `status` `profiles` counters. A
second run with --own-ports checks that every meter got a port of its own
and that the rows are marked so.
"""
import json
import os
import subprocess
import sys
import unittest

import dcemtest

BENCH = os.path.join(dcemtest.SOURCE_DIR, "bench")
sys.path.insert(0, BENCH)
import workload  # noqa: E402

N = 20


def merged_requests(points, max_gap=16, max_regs=125):
    """Requests a merging planner needs for one map: runs split at gaps > max_gap."""
    widths = {"float32": 2, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "int64": 4, "uint64": 4}
    spans = sorted((r, r + widths[t]) for (_n, r, t, _u, _k) in points)
    n, start, end = 1, spans[0][0], spans[0][1]
    for s, e in spans[1:]:
        if s - end <= max_gap and e - start <= max_regs:
            end = max(end, e)
        else:
            n, start, end = n + 1, s, e
    return n


def check_profiles(tc, run, devs):
    """Per-profile requests per device-poll (the simulator's `status` profiles) against the maps."""
    name = run["agent"]
    present = {d["profile"] for d in devs}
    tc.assertEqual(set(run["profiles"]), present, name)
    for prof, f in run["profiles"].items():
        if prof in workload.MODBUS:
            pts = workload.MODBUS[prof][2]
            want = merged_requests(pts) if name == "dcem" else len(pts)
        else:
            want = 1.0
        tc.assertGreater(f["device_polls"], 0, (name, prof))
        tc.assertAlmostEqual(f["per_poll"], want, delta=0.15 * want, msg=(name, prof))


class BenchSmoke(dcemtest.TempDirTestCase):
    def test_tiny_run(self):
        for b in ("dcem-agent", "dcem-sim"):
            if not os.path.exists(dcemtest.binary(b)):
                self.skipTest("%s is not built" % b)
        out_md = os.path.join(self.tmp, "result.md")
        out_json = os.path.join(self.tmp, "result.json")
        build_dir = os.path.dirname(dcemtest.BIN)
        argv = [sys.executable, os.path.join(BENCH, "run"), "--sizes", str(N), "--intervals", "1",
                "--duration", "4", "--warmup", "2", "--outage", "3", "--recovery", "3", "--floor-seconds", "1",
                "--collectd-read-threads", "5", "--build-dir", build_dir, "--no-build", "--out", out_md,
                "--json", out_json, "--workdir", os.path.join(self.tmp, "work")]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=150)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        with open(out_md) as f:
            md = f.read()
        self.assertEqual(md, r.stdout, "the table on stdout is the one written to --out")
        self.assertIn("| N | interval | agent |", md)
        with open(out_json) as f:
            res = json.load(f)
        with open(os.path.join(self.tmp, "work", "site-%d" % N, "ready.json")) as f:
            ready = json.load(f)
        devs = ready["devices"]
        self.assertEqual(len(devs), N)
        agents = [x["agent"] for x in res["runs"]]
        self.assertIn("dcem", agents)
        if res["collectd"]:
            self.assertIn("collectd", agents)
        mb = [d for d in devs if d["protocol"] == "modbus"]
        sn = [d for d in devs if d["protocol"] == "snmp"]
        # Requests one device-poll of the whole site needs, from the workload's maps.
        dcem_req = sum(merged_requests(workload.MODBUS[d["profile"]][2]) for d in mb) / len(mb)
        collectd_req = sum(len(workload.MODBUS[d["profile"]][2]) for d in mb) / len(mb)
        for run in res["runs"]:
            name = run["agent"]
            # every row is in the table
            self.assertIn("| %d | 1s | %s |" % (N, name), md)
            # about N device-polls per second over the window (edges may cut one slot per device)
            self.assertGreater(run["device_polls"], 0.75 * N * run["window_s"], name)
            self.assertLessEqual(run["device_polls"], N * (run["window_s"] + 1), name)
            self.assertEqual(run["devices_seen"], N, name)
            self.assertGreater(run["cpu_s"], 0.0, name)
            self.assertIsNotNone(run["cpu_per_1000"], name)
            self.assertTrue(1.0 < run["rss_peak_mb"] < 500.0, name)
            self.assertIsNotNone(run["lat_median_ms"], name)
            self.assertLessEqual(run["lat_median_ms"], run["lat_p99_ms"], name)
            # resident memory by mapping: the categories add up to about VmRSS (read at nearly
            # the same moment), and the agent's binary is among the file-backed mappings
            sm = run["smaps"]
            self.assertIsNotNone(sm, name)
            total = sum(v["rss_kb"] for v in sm.values()) / 1024.0
            self.assertAlmostEqual(total, run["rss_mb"], delta=0.2 * run["rss_mb"], msg=name)
            self.assertIn("file " + ("dcem-agent" if name == "dcem" else "collectd"), sm, name)
            if name == "dcem":
                # the device message's `read` (poll completion) lies between its slot and its
                # arrival: read -> broker is never longer than slot -> broker
                self.assertIsNotNone(run["read_lat_median_ms"], name)
                self.assertLessEqual(run["read_lat_median_ms"], run["lat_median_ms"] + 1.0, name)
                self.assertLessEqual(run["read_lat_p99_ms"], run["lat_p99_ms"] + 1.0, name)
            # the simulator's own counters against the workload's arithmetic (15 % for window edges)
            want = dcem_req if name == "dcem" else collectd_req
            self.assertAlmostEqual(run["modbus_req_per_poll"], want, delta=0.15 * want, msg=name)
            if sn:
                self.assertAlmostEqual(run["snmp_pkt_per_poll"], 1.0, delta=0.1, msg=name)
            if run.get("outage_lost") is not None:
                self.assertGreaterEqual(run["outage_lost"], 0)
            check_profiles(self, run, devs)
        # the floor ran and did the requests it claims (the simulator counted them)
        fl = res["floor"].get("modbus_merged")
        self.assertIsNotNone(fl, "floor_modbus merged ran")
        self.assertEqual(fl["requests"], 2 * fl["polls"])
        self.assertEqual(fl["sim_requests"], fl["requests"])
        for k in ("modbus_single", "snmp_packed", "snmp_single"):
            if k.startswith("snmp") and not sn:
                continue
            self.assertIn(k, res["floor"])
            self.assertGreater(res["floor"][k]["polls"], 0)

    def test_own_ports(self):
        """--own-ports: one Modbus TCP port per meter, marked in the table and the JSON."""
        for b in ("dcem-agent", "dcem-sim"):
            if not os.path.exists(dcemtest.binary(b)):
                self.skipTest("%s is not built" % b)
        out_md = os.path.join(self.tmp, "own.md")
        out_json = os.path.join(self.tmp, "own.json")
        argv = [sys.executable, os.path.join(BENCH, "run"), "--sizes", str(N), "--intervals", "1",
                "--duration", "3", "--warmup", "2", "--outage", "0", "--floor-seconds", "0", "--agents", "dcem",
                "--own-ports", "--build-dir", os.path.dirname(dcemtest.BIN), "--no-build", "--out", out_md,
                "--json", out_json, "--workdir", os.path.join(self.tmp, "own")]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        with open(out_json) as f:
            res = json.load(f)
        with open(os.path.join(self.tmp, "own", "site-%d" % N, "ready.json")) as f:
            devs = json.load(f)["devices"]
        mb = [d for d in devs if d["protocol"] == "modbus"]
        # the simulator really put every meter on a port of its own
        self.assertEqual(len({d["port"] for d in mb}), len(mb))
        (run,) = res["runs"]
        self.assertTrue(run["own_ports"])
        self.assertEqual(run["modbus_ports"], len(mb))
        self.assertEqual(run["devices_seen"], N)
        self.assertIn("| %d own ports | 1s | dcem |" % N, r.stdout)
        check_profiles(self, run, devs)


if __name__ == "__main__":
    dcemtest.main()
