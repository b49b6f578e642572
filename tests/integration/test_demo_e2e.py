"""The demo end to end: dcem-sim serves conf/sim/demo-site.yaml (the site
./scripts/demo runs) on free 127.0.0.1 ports and writes the agent config;
`dcem-agent --once` on that config must poll every device of the site with
quality good, and what it reports must be the simulator's ground truth.
Then ./scripts/demo itself runs for 40 s on the built binaries (DemoScript):
it must show complete poll rounds, the agent's closed 15 s intervals with a
PUE in [1, 3] and a green share in [0, 1] (never a PUE below 1 as a number),
its real-time view, an E_DC consistent with the supply power it shows (the
simulator runs in real time), exit 0 and leave no process behind.

In DemoEndToEnd time is frozen (--speed 0) at 2026-06-21T04:00:00Z (noon in Shanghai: PV
produces, counters have run for 4 h), so the agent's readings and the truth
snapshot (control command `truth`) are of the same instant. The tolerance
of each comparison is the resolution of the register the device's profile
reads (hundredths of kW on an APC, W on the others, 10^W_SF W on a SunSpec
203 meter read from the meter itself, float32 rounding on float maps); the
expected values all come from the truth, none is written here."""
import json
import os
import re
import shutil
import subprocess
import time
import unittest

import dcemtest
import simtest

# Resolution of what each profile reads, in the agent's units: (power kW per
# register, number of registers summed, energy kWh per count). None: float32
# (relative rounding), "sunspec": read W_SF from the meter.
RESOLUTION = {
    "sdm630": (None, 1, None),          # float32 W, float32 kWh
    "iem3000": (None, 1, 0.001),        # float32 kW, INT64 Wh
    "pm5000": (None, 1, 0.001),
    "sunspec": ("sunspec", 1, 0.001),   # int16 x 10^W_SF W, acc32 Wh
    "sunspec-float": (None, 1, None),   # model 213: float32 W, float32 Wh
    "apc-rpdu2": (0.01, 1, 0.1),        # hundredths of kW, tenths of kWh
    "raritan-pdu2": (0.001, 1, 0.001),  # W (0 decimal digits), Wh
    "sentry4": (0.001, 1, 0.1),         # W per cord, tenths of kWh
    "eaton-epdu": (0.001, 1, 0.001),    # W, Wh
    "ups-mib": (0.001, 3, None),        # W per output line, 3 lines; no energy counter
}
FLOAT32_REL = 2.0 ** -23


class DemoEndToEnd(dcemtest.TempDirTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.exists(dcemtest.binary("dcem-agent")):
            raise unittest.SkipTest("dcem-agent is not built")
        self.agent_conf = os.path.join(self.tmp, "agent.yaml")
        self.proc, self.ready = simtest.start_sim(
            self, ["-c", simtest.DEMO_SITE, "--speed", "0", "--start", simtest.SOLSTICE,
                   "--print-agent-config", self.agent_conf, "--agent-interval", "2s"])
        r = simtest.control(self.ready, "advance 4h")
        self.assertTrue(r.get("ok"), r)

    def sunspec_w_sf(self, dev):
        """W_SF of a SunSpec model 203 meter, read with pymodbus."""
        from pymodbus.client import ModbusTcpClient
        cl = ModbusTcpClient(dcemtest.LOOPBACK, port=dev["port"], timeout=2, retries=0)
        self.assertTrue(cl.connect())
        try:
            r = cl.read_holding_registers(40070, 23, slave=dev["unit"])
            self.assertFalse(r.isError(), r)
        finally:
            cl.close()
        self.assertEqual(r.registers[0], 203, "model 203 expected at 40070")
        return simtest.s16(r.registers[22])

    def test_once_polls_every_device_good_and_matches_the_truth(self):
        snap = simtest.control(self.ready, "truth")
        self.assertEqual(snap.get("type"), "snapshot", snap)
        truth = snap["devices"]
        r = subprocess.run([dcemtest.binary("dcem-agent"), "-c", self.agent_conf, "--once"], capture_output=True,
                           text=True, timeout=120, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, "dcem-agent --once failed:\n" + r.stderr[-4000:])
        # The instant did not move while the agent polled.
        self.assertEqual(simtest.control(self.ready, "time")["t_ms"], snap["end_ms"])

        samples = {}
        for line in r.stdout.splitlines():
            s = json.loads(line)
            self.assertEqual(s["site"], self.ready_site())
            samples.setdefault(s["device"], {})[s["point"]] = s
        sim_devices = {d["name"]: d for d in self.ready["devices"]}
        self.assertEqual(len(sim_devices), 19)
        self.assertEqual(set(sim_devices) - set(samples), set(), "devices with no sample at all")

        checked_power = checked_energy = 0
        for name, dev in sim_devices.items():
            got, want = samples[name], truth[name]
            pres, nreg, eres = RESOLUTION[dev["profile"]]
            with self.subTest(device=name, profile=dev["profile"]):
                bad = {p: s["quality"] for p, s in got.items() if s["quality"] != "good"}
                self.assertEqual(bad, {}, "samples not good")
                # Power: every device has it.
                self.assertIn("power_kw", got)
                self.assertEqual(got["power_kw"]["unit"], "kW")
                p_true = want["power_kw"]
                if pres == "sunspec":
                    tol = 10.0 ** self.sunspec_w_sf(dev) / 1000.0
                elif pres is None:
                    tol = abs(p_true) * FLOAT32_REL * 2 + 1e-9
                else:
                    tol = pres * nreg
                self.assertLessEqual(abs(got["power_kw"]["value"] - p_true), tol + 1e-9,
                                     "power_kw %r vs truth %r (tolerance %g)" % (got["power_kw"]["value"], p_true, tol))
                checked_power += 1
                # Energy: every device but the UPS-MIB ones (RFC 1628 has no counter).
                if dev["profile"] == "ups-mib":
                    self.assertNotIn("energy_kwh", got)
                    continue
                self.assertIn("energy_kwh", got)
                self.assertEqual(got["energy_kwh"]["unit"], "kWh")
                pairs = [("energy_kwh", want["reported_kwh"])]
                if "energy_export_kwh" in got:
                    pairs.append(("energy_export_kwh", want["reported_export_kwh"]))
                for point, e_true in pairs:
                    v = got[point]["value"]
                    if eres is None:  # float32 kWh: rounded to nearest
                        self.assertLessEqual(abs(v - e_true), abs(e_true) * FLOAT32_REL * 2 + 1e-9, point)
                    else:  # integer counters count whole units: floor
                        self.assertLessEqual(v, e_true + 1e-9, point)
                        self.assertGreater(v, e_true - eres - 1e-9, point)
                    checked_energy += 1
        self.assertEqual(checked_power, 19)
        self.assertGreaterEqual(checked_energy, 17)
        # The instant is meaningful: PV produces and the IT load is real.
        self.assertGreater(truth["pv-roof"]["power_kw"], 10)
        it = sum(truth[n]["power_kw"] for n, d in sim_devices.items() if d["kind"] == "it")
        self.assertGreater(it, 100)
        # The agent's IT power (PDU inputs) adds up to the truth's category-2 IT
        # power within the summed resolutions (the PUE of the demo rests on it).
        got_it = sum(samples[n]["power_kw"]["value"] for n, d in sim_devices.items() if d["kind"] == "it")
        tol = sum(RESOLUTION[d["profile"]][0] for d in sim_devices.values() if d["kind"] == "it")
        self.assertAlmostEqual(got_it, it, delta=tol)

    def ready_site(self):
        with open(self.agent_conf) as f:
            for line in f:
                if line.startswith("site:"):
                    return line.split(":", 1)[1].strip().strip('"')
        self.fail("no site: in the generated agent config")


class DemoScript(dcemtest.TempDirTestCase):
    """./scripts/demo --seconds N on this build (DCEM_DEMO_BIN: no apt, no build).

    Its output is not a terminal here, so the panel (scripts/demo-view) is
    append-only: a block per closed interval record, a line per real-time
    metrics message, a line per poll round, the device table at the first
    round and at the end. The figures are the agent's; this test checks that
    they are shown, plausible and consistent with the readings shown beside
    them (the simulator runs in real time: a 15 s interval's E_DC is the
    facility's supply power times 15 s, which failed when the demo ran the
    simulator 60 times faster than the agent's clock)."""

    DEVICE_CELL = re.compile(r"(\S+)\s+(grid|export|pv|green|ups|it|cooling|other)\s+(-?[0-9.]+) kW")

    def processes_using(self, path):
        """(pid, cmdline) of every process whose command line or open files
        mention path."""
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
                fds = []
                try:
                    for fd in os.listdir("/proc/%s/fd" % pid):
                        try:
                            fds.append(os.readlink("/proc/%s/fd/%s" % (pid, fd)))
                        except OSError:
                            pass
                except OSError:
                    pass
            except OSError:
                continue
            if path in cmd or any(x.startswith(path) for x in fds):
                found.append((int(pid), cmd))
        return found

    def run_demo(self, *args, timeout=150):
        demo = os.path.join(dcemtest.SOURCE_DIR, "scripts", "demo")
        env = dict(os.environ, DCEM_DEMO_BIN=dcemtest.BIN, TMPDIR=self.tmp)
        t0 = time.monotonic()
        r = subprocess.run([demo] + list(args), capture_output=True, text=True, env=env, timeout=timeout,
                           start_new_session=True)
        return r, time.monotonic() - t0

    @staticmethod
    def interval_blocks(out):
        """{record_seq: {"window": (start, end), "completeness": c, "pue": {cat: text},
        "green": text, "e_dc": text}} of every interval block printed."""
        blocks = {}
        cur = None
        for line in out.splitlines():
            m = re.match(r"== interval #(\d+)  (\S+)-(\S+) UTC \((\d+) s\)  completeness ([0-9.]+)", line)
            if m:
                cur = blocks[int(m.group(1))] = {"window": (m.group(2), m.group(3)), "duration": int(m.group(4)),
                                                  "completeness": float(m.group(5)), "pue": {}}
                continue
            if cur is None:
                continue
            if not line.startswith("   "):
                cur = None
                continue
            m = re.match(r"   PUE cat (\d)\s+(METERING FAULT \([^)]*\)|no data|n/a|\S+)", line)
            if m:
                cur["pue"][int(m.group(1))] = m.group(2)
            m = re.match(r"   green share\s+(\S+)", line)
            if m:
                cur["green"] = m.group(1)
            m = re.match(r"   energy kWh\s+E_DC (\S+)", line)
            if m:
                cur["e_dc"] = m.group(1)
        return blocks

    def test_demo_shows_the_agents_figures_and_stops_everything(self):
        for exe in ("dcem-agent", "dcem-sim"):
            if not os.path.exists(dcemtest.binary(exe)):
                raise unittest.SkipTest("%s is not built" % exe)
        if not os.path.exists("/usr/bin/python3"):
            raise unittest.SkipTest("the demo's live panel needs /usr/bin/python3")
        if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")) or not shutil.which("mosquitto_sub"):
            raise unittest.SkipTest("the demo's broker needs mosquitto and mosquitto_sub")
        r, took = self.run_demo("--seconds", "40")
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out[-4000:])
        self.assertLess(took, 100, "the demo did not stop in time")
        self.assertIn("the simulated data center", out)
        self.assertIn("in real time", out)
        self.assertIn("the agent publishes to mqtt://", out)
        self.assertIn("dcem-agent drained and exited cleanly", out)
        self.assertNotIn("Traceback", out)

        # Poll rounds: every device answered in every round after the first
        # (the first may straddle the start).
        rounds = re.findall(r"poll round \S+ UTC: (\d+) of (\d+) devices answered", out)
        self.assertGreaterEqual(len(rounds), 5, out[-4000:])
        self.assertTrue(all(a == b == "19" for a, b in rounds[1:]), rounds)
        self.assertNotIn("no reading this round", out.split("poll round")[-1])

        # Closed intervals: at least one shown with a PUE in [1, 3] and a green
        # share in [0, 1]; no PUE is ever shown as a number below 1 (a
        # metering fault is shown as such).
        blocks = self.interval_blocks(out)
        self.assertGreaterEqual(len(blocks), 1, out[-4000:])
        good = 0
        for seq, b in blocks.items():
            self.assertEqual(b["duration"], 15, b)
            self.assertIn(2, b["pue"], "no PUE of category 2 (PDU output) in interval %d: %r" % (seq, b))
            for cat, text in b["pue"].items():
                if re.fullmatch(r"[0-9.]+", text):
                    self.assertGreaterEqual(float(text), 1.0, "a PUE below 1 shown as a number: %r" % b)
            pues = [float(t) for t in b["pue"].values() if re.fullmatch(r"[0-9.]+", t)]
            if pues and all(1.0 <= p <= 3.0 for p in pues) and re.fullmatch(r"[0-9.]+", b.get("green", "")) \
                    and 0.0 <= float(b["green"]) <= 1.0:
                good += 1
        self.assertGreaterEqual(good, 1, "no interval with PUE in [1, 3] and green share in [0, 1]: %r" % blocks)

        # The real-time view is shown, with a PUE per category.
        rt = re.findall(r"^real time \S+ UTC \(compl\. ([0-9.]+)\): PUE cat 1 (.*) · cat 2 (\S+); "
                        r"green share (\S+); carbon location (\S+) · market (\S+) kgCO2/h\n"
                        r"   loads kW: facility ([0-9.]+) ", out, re.M)
        self.assertGreaterEqual(len(rt), 3, out[-4000:])
        self.assertTrue(any(1.0 <= float(x[2]) <= 3.0 for x in rt if re.fullmatch(r"[0-9.]+", x[2])), rt)

        # Consistency (the simulator in real time): a complete interval's E_DC
        # over its 15 s equals the facility's supply power read at the end
        # (grid import + PV + green line - export: the device table the demo
        # prints last), the load being steady within a few percent.
        supply = {}
        for name, kind, kw in self.DEVICE_CELL.findall(out.split("dcem-agent drained and exited cleanly")[-1]):
            supply[name] = (kind, float(kw))
        self.assertEqual(len(supply), 19, supply)
        p_kw = sum(kw if kind in ("grid", "pv", "green") else -kw if kind == "export" else 0.0
                   for kind, kw in supply.values())
        self.assertGreater(p_kw, 100)
        complete = [b for b in blocks.values() if b["completeness"] >= 0.99 and re.fullmatch(r"[0-9.]+", b["e_dc"])]
        self.assertGreaterEqual(len(complete), 1, "no complete interval in 40 s: %r" % blocks)
        for b in complete:
            e_kwh = p_kw * b["duration"] / 3600.0
            self.assertAlmostEqual(float(b["e_dc"]), e_kwh, delta=0.05 * e_kwh,
                                   msg="E_DC %s kWh over %d s vs %.1f kW read" % (b["e_dc"], b["duration"], p_kw))

        # Nothing left: no process mentions the demo's directory, which is gone.
        time.sleep(0.3)
        self.assertEqual(self.processes_using(self.tmp), [])
        self.assertEqual([x for x in os.listdir(self.tmp) if x.startswith("dcem-demo.")], [])

    def test_speed_option_is_refused(self):
        r, _ = self.run_demo("--speed", "60", timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--speed is gone", r.stderr)


if __name__ == "__main__":
    dcemtest.main()
