"""dcem-sim's Modbus TCP side, read with an independent client (pymodbus,
Debian's /usr/bin/python3) and decoded here with explicit shifts:
the SunSpec marker and model chain, SDM630 and iEM3000 maps, exception 2 on
illegal addresses, the gateway's exception 0x0B, conservation through the
meters, the truth file against the registers, and every fault via the
control socket. Time is frozen (--speed 0) and moved with 'advance', so
every reading is at a known simulated instant."""
import json
import math
import os
import time
import unittest

from pymodbus.client import ModbusTcpClient

import dcemtest
import simtest
from simtest import f32, i64, u32, s16


class SimModbus(dcemtest.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.truth = os.path.join(self.tmp, "truth.jsonl")
        self.proc, self.ready = simtest.start_sim(
            self, ["-c", simtest.DEMO_SITE, "--speed", "0", "--start", simtest.SOLSTICE, "--truth", self.truth,
                   "--no-snmp"])
        self.port = self.ready["modbus_ports"][0]
        self.client = ModbusTcpClient(dcemtest.LOOPBACK, port=self.port, timeout=2, retries=0)
        self.assertTrue(self.client.connect())

    def tearDown(self):
        self.client.close()
        super().tearDown()

    def unit(self, name):
        return simtest.device(self.ready, name)["unit"]

    def hr(self, name, addr, n):
        r = self.client.read_holding_registers(addr, n, slave=self.unit(name))
        self.assertFalse(r.isError(), "%s %d+%d: %s" % (name, addr, n, r))
        return r.registers

    def hr_long(self, name, addr, n):
        """Holding registers in reads of at most 125 (the Modbus limit)."""
        out = []
        while n > 0:
            k = min(n, 125)
            out += self.hr(name, addr, k)
            addr += k
            n -= k
        return out

    def ir(self, name, addr, n):
        r = self.client.read_input_registers(addr, n, slave=self.unit(name))
        self.assertFalse(r.isError(), "%s %d+%d: %s" % (name, addr, n, r))
        return r.registers

    def walk_sunspec(self, name):
        """Walk the chain from the marker, never assuming lengths."""
        regs = self.hr(name, 40000, 2)
        self.assertEqual(regs, [0x5375, 0x6E53])  # "SunS"
        models, addr = [], 40002
        for _ in range(10):
            mid, length = self.hr(name, addr, 2)
            if mid == 0xFFFF:
                self.assertEqual(length, 0)
                return models
            models.append((mid, length, addr))
            addr += 2 + length
        self.fail("chain does not end")

    def test_sunspec_chain_and_values(self):
        lengths = {}
        try:
            for m in (1, 203, 213):
                with open(dcemtest.shared_path("testdata", "sunspec", "model_%d.json" % m)) as f:
                    pts = json.load(f)["group"]["points"]
                lengths[m] = {"L": sum(p["size"] for p in pts) - 2,
                              "off": {p["name"]: sum(q["size"] for q in pts[:i]) for i, p in enumerate(pts)}}
        except unittest.SkipTest:
            lengths = {}
        chain = self.walk_sunspec("utility-b")
        self.assertEqual([m for m, _, _ in chain], [1, 203])
        chain_pv = self.walk_sunspec("pv-roof")
        self.assertEqual([m for m, _, _ in chain_pv], [1, 213])
        if lengths:  # lengths and offsets from the SunSpec Alliance's JSON
            for m, l, _ in chain + chain_pv:
                self.assertEqual(l, lengths[m]["L"], "model %d" % m)
        simtest.control(self.ready, "advance 2h")
        # Model 203: W with W_SF, TotWhImp acc32 with TotWh_SF.
        _, l203, a203 = chain[1]
        regs = self.hr("utility-b", a203, l203 + 2)
        off = lengths[203]["off"] if lengths else {"W": 18, "W_SF": 22, "TotWhImp": 46, "TotWh_SF": 54, "Hz": 16,
                                                   "Hz_SF": 17}
        w = s16(regs[off["W"]]) * 10 ** s16(regs[off["W_SF"]])
        wh = u32(regs, off["TotWhImp"]) * 10 ** s16(regs[off["TotWh_SF"]])
        hz = s16(regs[off["Hz"]]) * 10 ** s16(regs[off["Hz_SF"]])
        self.assertAlmostEqual(hz, 50.0, delta=0.1)
        truth = simtest.control(self.ready, "truth")
        t = truth["devices"]["utility-b"]
        self.assertAlmostEqual(w / 1000.0, t["power_kw"], delta=max(0.01 * t["power_kw"], 10 ** s16(regs[off["W_SF"]]) / 1000.0))
        self.assertAlmostEqual(wh / 1000.0, t["reported_kwh"], delta=0.002)
        self.assertGreater(wh, 100000)  # two hours of a few hundred kW
        # Model 213 (float): PV at 08:00 in Shanghai generates.
        _, l213, a213 = chain_pv[1]
        regs = self.hr_long("pv-roof", a213, l213 + 2)
        off213 = lengths[213]["off"] if lengths else {"W": 28, "TotWhImp": 68}
        self.assertAlmostEqual(f32(regs, off213["W"]) / 1000.0, truth["devices"]["pv-roof"]["power_kw"], delta=0.01)
        self.assertAlmostEqual(f32(regs, off213["TotWhImp"]) / 1000.0, truth["devices"]["pv-roof"]["reported_kwh"],
                               delta=0.01)
        self.assertGreater(f32(regs, off213["W"]), 0)

    def test_sdm630_and_iem3000_maps(self):
        simtest.control(self.ready, "advance 1h")
        truth = simtest.control(self.ready, "truth")["devices"]
        regs = self.ir("crah-1", 0x0000, 0x12)
        volts = [f32(regs, i) for i in (0, 2, 4)]
        phase_w = [f32(regs, i) for i in (0x0C, 0x0E, 0x10)]
        for v in volts:
            self.assertTrue(220 < v < 240, v)
        total = f32(self.ir("crah-1", 0x0034, 2))
        self.assertAlmostEqual(total, sum(phase_w), delta=abs(total) * 1e-5)
        self.assertAlmostEqual(total / 1000.0, truth["crah-1"]["power_kw"], delta=0.001)
        imp = f32(self.ir("crah-1", 0x0048, 2))
        exp = f32(self.ir("crah-1", 0x004A, 2))
        tot = f32(self.ir("crah-1", 0x0156, 2))
        self.assertAlmostEqual(imp, truth["crah-1"]["reported_kwh"], delta=0.01)
        self.assertEqual(exp, 0.0)
        self.assertAlmostEqual(tot, imp + exp, delta=0.01)
        self.assertAlmostEqual(f32(self.ir("crah-1", 0x0046, 2)), 50.0, delta=0.1)
        # iEM3000: float32 kW and INT64 Wh in holding registers (one less than the manual's numbers).
        kw = f32(self.hr("utility-a", 3059, 2))
        wh = i64(self.hr("utility-a", 3203, 4))
        fkwh = f32(self.hr("utility-a", 45099, 2))
        self.assertAlmostEqual(kw, truth["utility-a"]["power_kw"], delta=0.01)
        self.assertEqual(wh, math.floor(truth["utility-a"]["reported_kwh"] * 1000 + 1e-6))
        self.assertAlmostEqual(fkwh, wh / 1000.0, delta=0.05)
        # Export meter: the export register carries the export.
        self.assertAlmostEqual(f32(self.ir("export-meter", 0x004A, 2)), truth["export-meter"]["reported_export_kwh"],
                               delta=0.01)

    def test_illegal_addresses_get_exception_2(self):
        cases = [
            ("input", "crah-1", 0x0032, 2),      # SDM630 gap
            ("input", "crah-1", 0x0044, 4),      # runs into a gap
            ("input", "crah-1", 0x0400, 2),      # far away
            ("holding", "utility-a", 3011, 2),   # iEM3000 gap
            ("holding", "utility-a", 3211, 2),   # after the energies
            ("holding", "utility-b", 39998, 4),  # before the SunSpec marker
            ("holding", "pv-roof", 40100, 100),  # past the end model (the chain is 40000..40197)
            ("holding", "crah-1", 0x0000, 2),    # SDM630 setup registers are not simulated
        ]
        for kind, name, addr, n in cases:
            f = self.client.read_input_registers if kind == "input" else self.client.read_holding_registers
            r = f(addr, n, slave=self.unit(name))
            self.assertTrue(r.isError(), (name, addr, n))
            self.assertEqual(r.exception_code, 2, (name, addr, n, r))
        # A partial read of a point and an exact chain read are legal.
        self.hr("pv-roof", 40073, 125)
        self.hr("utility-a", 3000, 2)
        # Unknown unit behind the gateway: 0x0B, as gateways answer.
        r = self.client.read_holding_registers(0, 2, slave=200)
        self.assertTrue(r.isError())
        self.assertEqual(r.exception_code, 0x0B)
        # A function the iEM does not have: exception 1.
        r = self.client.read_input_registers(3059, 2, slave=self.unit("utility-a"))
        self.assertEqual(r.exception_code, 1)

    def test_conservation_through_the_meters(self):
        """Powers read over Modbus balance: grid + PV + green - export =
        UPS input + cooling + other (UPS input from the truth: UPS-MIB is SNMP),
        and the truth's energies balance to 1e-9."""
        simtest.control(self.ready, "advance 3h")  # 03:00 UTC = 11:00 in Shanghai: PV, no export
        truth = simtest.control(self.ready, "truth")
        dev = truth["devices"]
        grid = f32(self.hr("utility-a", 3059, 2)) * 1000
        regs = self.hr("utility-b", 40070, 107)
        grid += s16(regs[18]) * 10 ** s16(regs[22])
        pv = f32(self.hr_long("pv-roof", 40070, 126), 28)
        green = f32(self.ir("green-line", 0x0034, 2))
        export = -f32(self.ir("export-meter", 0x0034, 2))
        load = sum(f32(self.ir(n, 0x0034, 2)) for n in ("crah-1", "crah-2", "lighting"))
        load += f32(self.hr("chiller-1", 3059, 2)) * 1000
        ups_in = sum(dev[n]["input_power_kw"] * 1000 for n in ("ups-a", "ups-b"))  # UPS-MIB is SNMP
        lhs = grid + pv + green - export
        rhs = ups_in + load
        self.assertGreater(pv, 0)
        self.assertAlmostEqual(lhs / rhs, 1.0, delta=0.001)
        c = truth["cumulative"]
        edc = c["E_grid_import_kwh"] + c["E_onsite_renewable_kwh"] + c["E_green_supply_kwh"] - c["E_export_kwh"]
        inside = (c["E_IT_cat3_kwh"] + c["E_ups_loss_kwh"] + c["E_distribution_loss_kwh"] + c["E_cooling_kwh"] +
                  c["E_other_kwh"])
        self.assertAlmostEqual(edc / inside, 1.0, delta=1e-9)
        self.assertAlmostEqual(c["E_DC_kwh"], edc, delta=1e-9 * edc)

    def test_truth_file(self):
        simtest.control(self.ready, "advance 1h")
        # Registers at the 01:00 boundary, before the truth records are read.
        wh_a = i64(self.hr("utility-a", 3203, 4))
        self.proc.stop()
        recs = simtest.read_truth(self.truth)
        self.assertEqual(recs[0]["type"], "start")
        records = [r for r in recs if r["type"] == "record"]
        self.assertEqual([r["end"] for r in records],
                         ["2026-06-21T00:15:00.000Z", "2026-06-21T00:30:00.000Z", "2026-06-21T00:45:00.000Z",
                          "2026-06-21T01:00:00.000Z"])
        self.assertEqual(recs[-1]["type"], "final")
        prev = {k: 0.0 for k in records[0]["cumulative"] if k.endswith("_kwh")}
        for r in records:
            self.assertFalse(r["partial"])
            iv, cum = r["interval"], r["cumulative"]
            for k in prev:
                self.assertAlmostEqual(iv[k], cum[k] - prev[k], delta=1e-9 * max(1.0, abs(cum[k])), msg=k)
            edc = iv["E_grid_import_kwh"] + iv["E_onsite_renewable_kwh"] + iv["E_green_supply_kwh"] - iv["E_export_kwh"]
            self.assertAlmostEqual(iv["E_DC_kwh"], edc, delta=1e-9 * edc)
            for cat in (1, 2, 3):
                self.assertAlmostEqual(iv["PUE_cat%d" % cat], edc / iv["E_IT_cat%d_kwh" % cat], delta=1e-12)
            self.assertGreater(iv["PUE_cat2"], 1.0)
            ren = iv["E_onsite_renewable_kwh"] + iv["E_green_supply_kwh"] - iv["E_export_kwh"]
            self.assertAlmostEqual(iv["green_share"], ren / edc, delta=1e-12)
            self.assertAlmostEqual(iv["carbon_location_kg"], iv["E_grid_import_kwh"] * 0.5306, delta=1e-9)
            # Sum of the grid meters = the grid import.
            dev = r["devices"]
            self.assertAlmostEqual(dev["utility-a"]["energy_kwh"] + dev["utility-b"]["energy_kwh"],
                                   cum["E_grid_import_kwh"], delta=1e-9 * cum["E_grid_import_kwh"])
            prev = {k: cum[k] for k in prev}
        # 15 minutes of a ~350 kW IT load.
        self.assertTrue(50 < records[0]["interval"]["E_IT_cat2_kwh"] < 150)
        # The register read at 01:00 is the truth's counter at 01:00.
        self.assertEqual(wh_a, math.floor(records[-1]["devices"]["utility-a"]["reported_kwh"] * 1000 + 1e-6))

    def test_faults_via_control_socket(self):
        simtest.control(self.ready, "advance 30m")
        c = simtest.control
        # Exception.
        self.assertTrue(c(self.ready, "fault crah-2 exception 6")["ok"])
        r = self.client.read_input_registers(0x0034, 2, slave=self.unit("crah-2"))
        self.assertEqual(r.exception_code, 6)
        # NaN garbage (float) and the SunSpec "not implemented" sentinel.
        c(self.ready, "clear crah-2")
        c(self.ready, "fault crah-2 nan")
        self.assertTrue(math.isnan(f32(self.ir("crah-2", 0x0034, 2))))
        c(self.ready, "fault utility-b nan")
        regs = self.hr("utility-b", 40070, 107)
        self.assertEqual(regs[18], 0x8000)
        c(self.ready, "clear utility-b")
        c(self.ready, "clear crah-2")
        self.assertFalse(math.isnan(f32(self.ir("crah-2", 0x0034, 2))))
        # Out of range.
        c(self.ready, "fault lighting range")
        self.assertLess(f32(self.ir("lighting", 0x0034, 2)), -1e6)
        c(self.ready, "clear lighting")
        # Counter reset (meter replaced): the counter restarts, the truth does not.
        before = i64(self.hr("utility-a", 3203, 4))
        self.assertGreater(before, 1000)
        c(self.ready, "fault utility-a reset")
        self.assertEqual(i64(self.hr("utility-a", 3203, 4)), 0)
        c(self.ready, "advance 1m")
        after = i64(self.hr("utility-a", 3203, 4))
        truth = c(self.ready, "truth")["devices"]["utility-a"]
        self.assertTrue(0 < after < before)
        self.assertAlmostEqual(truth["energy_kwh"] - truth["reported_kwh"], before / 1000.0, delta=0.002)
        # 32-bit wrap: SunSpec acc32 preset under 2^32, wraps after ~2 minutes.
        c(self.ready, "fault utility-b wrap")
        w0 = u32(self.hr("utility-b", 40070 + 46, 2))
        self.assertGreater(w0, 0xFFFF0000)
        c(self.ready, "advance 5m")
        w1 = u32(self.hr("utility-b", 40070 + 46, 2))
        self.assertLess(w1, w0)
        # Silent: no answer at all (the client times out), other units still answer.
        c(self.ready, "fault crah-1 silent")
        t0 = time.monotonic()
        r = self.client.read_input_registers(0x0034, 2, slave=self.unit("crah-1"))
        self.assertTrue(r.isError())
        self.assertGreater(time.monotonic() - t0, 1.5)
        self.client.close()
        self.assertTrue(self.client.connect())
        self.ir("crah-2", 0x0034, 2)
        c(self.ready, "clear crah-1")
        self.ir("crah-1", 0x0034, 2)
        # Slow: the answer comes after the delay.
        c(self.ready, "fault crah-1 slow 700ms")
        t0 = time.monotonic()
        self.ir("crah-1", 0x0034, 2)
        self.assertGreater(time.monotonic() - t0, 0.65)
        c(self.ready, "clear crah-1")
        st = c(self.ready, "status")
        self.assertGreater(st["modbus_requests"], 10)
        self.assertGreaterEqual(st["modbus_dropped"], 1)
        # Bad commands are refused, clearly.
        self.assertFalse(c(self.ready, "fault nosuch silent")["ok"])
        self.assertFalse(c(self.ready, "fault crah-1 melt")["ok"])
        self.assertFalse(c(self.ready, "advance soon")["ok"])

    def test_concurrent_clients_and_a_slow_device_blocks_no_one(self):
        import threading
        simtest.control(self.ready, "advance 1h")
        expect = f32(self.ir("crah-2", 0x0048, 2))
        simtest.control(self.ready, "fault crah-1 slow 3s")
        results, errors = [], []

        def slow_reader():
            cl = ModbusTcpClient(dcemtest.LOOPBACK, port=self.port, timeout=5, retries=0)
            cl.connect()
            t0 = time.monotonic()
            r = cl.read_input_registers(0x34, 2, slave=self.unit("crah-1"))
            results.append(("slow", time.monotonic() - t0, r.isError(), time.monotonic()))
            cl.close()

        def reader(k):
            cl = ModbusTcpClient(dcemtest.LOOPBACK, port=self.port, timeout=2, retries=0)
            if not cl.connect():
                errors.append("connect %d" % k)
                return
            t0 = time.monotonic()
            for _ in range(25):
                r = cl.read_input_registers(0x0048, 2, slave=self.unit("crah-2"))
                if r.isError() or f32(r.registers) != expect:
                    errors.append((k, r))
            results.append(("fast", time.monotonic() - t0, False, time.monotonic()))
            cl.close()

        threads = [threading.Thread(target=slow_reader)] + [threading.Thread(target=reader, args=(k,)) for k in range(16)]
        time_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        fast = [end for kind, _, _, end in results if kind == "fast"]
        slow = [(d, e, end) for kind, d, e, end in results if kind == "slow"]
        self.assertEqual(len(fast), 16)
        self.assertEqual(len(slow), 1)
        self.assertFalse(slow[0][1])
        self.assertGreater(slow[0][0], 2.9)
        # 16 x 25 reads on the same port all finish while the slow reply is held back.
        self.assertLess(max(fast), slow[0][2])
        self.assertLess(time.monotonic() - time_start, 10)

    def test_yaml_faults_and_stop_by_pid(self):
        site = os.path.join(self.tmp, "site.yaml")
        with open(simtest.DEMO_SITE) as f:
            text = f.read()
        text += "faults:\n  - { device: crah-1, kind: exception, at: 10m, duration: 5m, code: 4 }\n"
        with open(site, "w") as f:
            f.write(text)
        p, ready = simtest.start_sim(self, ["-c", site, "--speed", "0", "--start", simtest.SOLSTICE, "--no-snmp"],
                                     name="sim2")
        cl = ModbusTcpClient(dcemtest.LOOPBACK, port=ready["modbus_ports"][0], timeout=2, retries=0)
        cl.connect()
        u = simtest.device(ready, "crah-1")["unit"]
        self.assertFalse(cl.read_input_registers(0x34, 2, slave=u).isError())
        simtest.control(ready, "advance 11m")
        self.assertEqual(cl.read_input_registers(0x34, 2, slave=u).exception_code, 4)
        simtest.control(ready, "advance 5m")
        self.assertFalse(cl.read_input_registers(0x34, 2, slave=u).isError())
        cl.close()
        self.assertEqual(p.stop(), 0)

    def test_own_port_scale_and_agent_config(self):
        import subprocess
        import yaml
        # One device on a port of its own answers whatever the unit id.
        site = os.path.join(self.tmp, "own.yaml")
        with open(simtest.DEMO_SITE) as f:
            text = f.read()
        with open(site, "w") as f:
            f.write(text.replace("{ name: crah-2, kind: cooling,", "{ name: crah-2, own_port: true, kind: cooling,"))
        conf_demo = os.path.join(self.tmp, "agent-demo.yaml")
        p, ready = simtest.start_sim(self, ["-c", site, "--speed", "0", "--print-agent-config", conf_demo,
                                            "--agent-snmp-v3"], name="own")
        self.assertEqual(len(ready["modbus_ports"]), 2)
        own = simtest.device(ready, "crah-2")
        self.assertNotEqual(own["port"], simtest.device(ready, "crah-1")["port"])
        cl = ModbusTcpClient(dcemtest.LOOPBACK, port=own["port"], timeout=2, retries=0)
        cl.connect()
        for unit in (1, 77):
            self.assertGreater(f32(cl.read_input_registers(0x34, 2, slave=unit).registers), 0)
        cl.close()
        p.stop()
        # A generated site: gateways of 247 units, an SNMP agent per PDU, and an
        # agent config naming every device with its address, unit and profile.
        conf = os.path.join(self.tmp, "agent.yaml")
        p, ready = simtest.start_sim(self, ["--scale", "600", "--speed", "0", "--print-agent-config", conf],
                                     name="scale")
        devs = ready["devices"]
        self.assertEqual(len(devs), 600)
        mb = [d for d in devs if d["protocol"] == "modbus"]
        self.assertEqual(len(ready["modbus_ports"]), (len(mb) + 246) // 247)
        last = mb[-1]
        cl = ModbusTcpClient(dcemtest.LOOPBACK, port=last["port"], timeout=2, retries=0)
        cl.connect()
        fc = cl.read_input_registers if last["profile"] == "sdm630" else cl.read_holding_registers
        addr = {"sdm630": 0x48, "iem3000": 3059, "sunspec": 40000, "sunspec-float": 40000}[last["profile"]]
        self.assertFalse(fc(addr, 2, slave=last["unit"]).isError())
        cl.close()
        with open(conf) as f:
            cfg = yaml.safe_load(f)
        self.assertEqual(cfg["site"], "sim-scale-600")
        self.assertEqual(len(cfg["devices"]), 600)
        roles = {"grid": "grid_import", "export": "grid_export", "pv": "onsite_renewable", "green": "green_supply",
                 "ups": "it", "it": "it", "cooling": "cooling", "other": "other"}
        agent_profile = {"sunspec-float": "sunspec"}
        for d, c in zip(devs, cfg["devices"]):
            self.assertEqual(c["name"], d["name"])
            self.assertEqual(c["role"], roles[d["kind"]])
            if d["kind"] in ("ups", "it"):
                self.assertEqual(c["pue_category"], 1 if d["kind"] == "ups" else 2)
            block = c[d["protocol"]]
            self.assertEqual(block["profile"], agent_profile.get(d["profile"], d["profile"]))
            if d["protocol"] == "modbus":
                self.assertEqual(block["address"], "tcp://127.0.0.1:%d" % d["port"])
                self.assertEqual(block["unit"], d["unit"])
            else:
                self.assertEqual(block["address"], "udp://127.0.0.1:%d" % d["port"])
                self.assertEqual(block["version"], "2c")
        agent = dcemtest.binary("dcem-agent")
        if os.path.exists(agent):  # the agent validates what the simulator wrote
            r = subprocess.run([agent, "-c", conf_demo, "--check-config"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("valid", r.stdout)

    def test_broken_site_is_refused_with_position(self):
        import subprocess

        def check(text):
            site = os.path.join(self.tmp, "bad.yaml")
            with open(site, "w") as f:
                f.write(text)
            r = subprocess.run([dcemtest.binary("dcem-sim"), "-c", site, "--check"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, r.stdout)
            return r.stderr

        err = check("site: x\ndevices:\n  - { name: a, kind: grid, profile: sdm630 }\n"
                    "  - { name: b, kind: ups, profile: sdm630 }\n  - { name: c, kind: it, profile: sentry4, ups: a }\n")
        self.assertIn("bad.yaml:4:", err)   # a UPS with a Modbus meter profile
        self.assertIn("bad.yaml:5:", err)   # ups: a is not a UPS
        err = check("site: x\ndevices:\n  - { name: d, kind: grid, profile: sdm630, colour: red }\n")
        self.assertIn("bad.yaml:3:", err)
        self.assertIn("colour", err)        # unknown keys are errors
        err = check("site: x\ndevices:\n  - { name: d, kind: grid, profile: sdm631 }\n")
        self.assertIn("bad.yaml:3:", err)


if __name__ == "__main__":
    unittest.main()
