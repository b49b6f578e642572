"""The Modbus collector against dcem-sim (tools/sim): the demo site's meters
(iEM3000, SunSpec int+sf, SunSpec float, SDM630) behind one Modbus TCP port
with a unit id each, like a gateway, read with the shipped profiles and
compared with the simulator's ground truth at a frozen instant. The sim's
SDM630 refuses the holes of its map (exception 2): the collector splits
once and remembers, so later polls cost only the map's contiguous runs.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dcemtest  # noqa: E402
import simtest  # noqa: E402

DRIVER = dcemtest.binary("modbus_poll_driver")

DEVICES = {  # device of the demo site -> profile
    "utility-a": "iem3000",
    "utility-b": "sunspec-meter",
    "pv-roof": "sunspec-meter",
    "crah-1": "sdm630",
    "chiller-1": "iem3000",
    "lighting": "sdm630",
}


class TestModbusCollectorOnSim(dcemtest.TempDirTestCase):
    def test_profiles_against_the_truth(self):
        if not os.path.exists(DRIVER):
            self.fail("%s is not built" % DRIVER)
        proc, ready = simtest.start_sim(self, ["-c", simtest.DEMO_SITE, "--speed", "0", "--start", simtest.SOLSTICE,
                                               "--no-snmp"])
        simtest.control(ready, "advance 2h")
        port = ready["modbus_ports"][0]
        cfg = os.path.join(self.tmp, "devices.yaml")
        with open(cfg, "w") as f:
            f.write("devices:\n")
            for name, profile in DEVICES.items():
                f.write("  - name: %s\n    modbus:\n      address: tcp://127.0.0.1:%d\n      unit: %d\n"
                        "      profile: %s\n      timeout: 2s\n" % (name, port, simtest.device(ready, name)["unit"],
                                                                    profile))
        r = subprocess.run([DRIVER, cfg, "--polls", "3"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        truth = simtest.control(ready, "truth")["devices"]
        samples, polls, stats = {}, {}, {}
        for line in r.stdout.splitlines():
            p = line.split(" ")
            if p[0] == "sample":
                # text samples (SunSpec identity strings) carry their bytes in hex
                v = (b"" if p[3] == "-" else bytes.fromhex(p[3])) if p[6] == "text" else float(p[3])
                samples.setdefault(p[1], {})[p[2]] = (v, p[5])
            elif p[0] == "poll":
                polls.setdefault(p[1], []).append(int(p[2]))
            elif p[0] == "stats":
                stats[p[1]] = dict(kv.split("=") for kv in p[2:])
        for name in DEVICES:
            self.assertEqual(polls[name], [0, 0, 0], "%s:\n%s" % (name, r.stdout))
            s, t = samples[name], truth[name]
            self.assertEqual(s["energy_kwh"][1], "good", name)
            self.assertEqual(s["power_kw"][1], "good", name)
            # float32 kWh, or Wh with a scale factor: well under 0.01 kWh of rounding
            self.assertAlmostEqual(s["energy_kwh"][0], t["reported_kwh"], delta=0.01, msg=name)
            self.assertAlmostEqual(s["power_kw"][0], t["power_kw"], delta=max(0.01 * abs(t["power_kw"]), 0.05),
                                   msg=name)
            self.assertGreater(s["energy_kwh"][0], 0, name)
        # the SunSpec common model's identity strings, as dcem-sim writes them
        # (tools/sim/regs.c: Mn "dcem", Md "dcem-sim <model>", Vr "0.1.0", SN the device's name)
        for name in ("utility-b", "pv-roof"):
            model = 203 if simtest.device(ready, name)["profile"] == "sunspec" else 213
            s = samples[name]
            self.assertEqual(s["manufacturer"], (b"dcem", "good"), name)
            self.assertEqual(s["model"], (b"dcem-sim %d" % model, "good"), name)
            self.assertEqual(s["version"], (b"0.1.0", "good"), name)
            self.assertEqual(s["serial_number"], (name.encode(), "good"), name)
        for name in ("crah-1", "lighting"):
            st = stats[name]
            print("\n%s (sdm630 on dcem-sim): plan %s, %s requests in 3 polls, %s splits"
                  % (name, st["plan"], st["requests"], st["splits"]))
            self.assertGreater(int(st["splits"]), 0)
        for name in ("utility-a", "utility-b", "pv-roof"):
            print("%s: %s requests in 3 polls, plan %s" % (name, stats[name]["requests"], stats[name]["plan"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
