"""dcem-sim's SNMP side, read with net-snmp's own tools (snmpget, snmpwalk,
snmpbulkwalk; v2c and v3 authPriv): every vendor's OIDs with their real
units and scalings against the truth, tables walked in order with GETNEXT
and GETBULK, access control, and faults. Time is frozen (--speed 0)."""
import math
import os
import shutil
import unittest

import dcemtest
import simtest

V3 = {"user": "dcemsim", "auth": "dcem-sim-auth", "priv": "dcem-sim-priv"}
APC_DEV = "1.3.6.1.4.1.318.1.1.26.4.3.1"
APC_OUT = "1.3.6.1.4.1.318.1.1.26.9.4.3.1"
APC_PHASE = "1.3.6.1.4.1.318.1.1.26.6.3.1"
RAR_DD = "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1"
RAR_VAL = "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1"
ST4 = "1.3.6.1.4.1.1718.4.1.3.3.1"
EATON_IN = "1.3.6.1.4.1.534.6.6.7.3.5.1"
EATON_PHASE = "1.3.6.1.4.1.534.6.6.7.3.4.1"
EATON_VOLT = "1.3.6.1.4.1.534.6.6.7.3.2.1"
EATON_AMP = "1.3.6.1.4.1.534.6.6.7.3.3.1"
UPS_OUT = "1.3.6.1.2.1.33.1.4.4.1"
UPS_IN = "1.3.6.1.2.1.33.1.3.3.1"


def oid_key(o):
    return tuple(int(x) for x in o.split("."))


class SimSnmp(dcemtest.TempDirTestCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("snmpget"):
            raise unittest.SkipTest("net-snmp's tools (snmp) are not installed")
        self.proc, self.ready = simtest.start_sim(
            self, ["-c", simtest.DEMO_SITE, "--speed", "0", "--start", simtest.SOLSTICE])
        simtest.control(self.ready, "advance 2h")
        self.truth = simtest.control(self.ready, "truth")["devices"]

    def port(self, name):
        return simtest.device(self.ready, name)["port"]

    def get(self, name, *oids, v3=None, community="public"):
        rc, out, err = simtest.snmp("snmpget", self.port(name), oids, v3=v3, community=community)
        self.assertEqual(rc, 0, err)
        return out

    def ival(self, out, oid):
        typ, val = out[oid]
        self.assertIn(typ, ("INTEGER", "Gauge32", "Counter32"), (oid, typ, val))
        return int(val)

    def test_vendor_values_match_truth(self):
        t = self.truth
        # APC rPDU2: hundredths of kW, tenths of kWh.
        out = self.get("pdu-a1", APC_DEV + ".5.1", APC_DEV + ".9.1")
        self.assertAlmostEqual(self.ival(out, APC_DEV + ".5.1") / 100.0, t["pdu-a1"]["power_kw"], delta=0.006)
        self.assertEqual(self.ival(out, APC_DEV + ".9.1"), math.floor(t["pdu-a1"]["reported_kwh"] * 10 + 1e-9))
        self.assertGreater(self.ival(out, APC_DEV + ".9.1"), 100)  # 2 h of ~40 kW
        # Raritan PX2: inlet sensor values scaled by their decimal digits.
        out = self.get("pdu-a2", RAR_DD + ".5", RAR_DD + ".8", RAR_VAL + ".5", RAR_VAL + ".8", RAR_DD + ".1",
                       RAR_VAL + ".1", RAR_DD + ".23", RAR_VAL + ".23")
        watts = self.ival(out, RAR_VAL + ".5") / 10 ** self.ival(out, RAR_DD + ".5")
        wh = self.ival(out, RAR_VAL + ".8") / 10 ** self.ival(out, RAR_DD + ".8")
        self.assertAlmostEqual(watts / 1000.0, t["pdu-a2"]["power_kw"], delta=0.001)
        self.assertEqual(wh, math.floor(t["pdu-a2"]["reported_kwh"] * 1000 + 1e-6))
        self.assertEqual(self.ival(out, RAR_DD + ".1"), 3)
        self.assertAlmostEqual(self.ival(out, RAR_VAL + ".23") / 10 ** self.ival(out, RAR_DD + ".23"), 50.0, delta=0.1)
        # Sentry4: W and tenths of kWh on input cord 1.1.
        out = self.get("pdu-a3", ST4 + ".3.1.1", ST4 + ".10.1.1", ST4 + ".8.1.1")
        self.assertAlmostEqual(self.ival(out, ST4 + ".3.1.1") / 1000.0, t["pdu-a3"]["power_kw"], delta=0.001)
        self.assertEqual(self.ival(out, ST4 + ".10.1.1"), math.floor(t["pdu-a3"]["reported_kwh"] * 10 + 1e-9))
        self.assertEqual(self.ival(out, ST4 + ".8.1.1"), 98)
        # Eaton ePDU: W and Wh (Unsigned32) at strap 0, input 1.
        out = self.get("pdu-a4", EATON_IN + ".4.0.1", EATON_IN + ".5.0.1")
        self.assertAlmostEqual(self.ival(out, EATON_IN + ".4.0.1") / 1000.0, t["pdu-a4"]["power_kw"], delta=0.001)
        self.assertEqual(self.ival(out, EATON_IN + ".5.0.1"), math.floor(t["pdu-a4"]["reported_kwh"] * 1000 + 1e-6))
        # UPS-MIB: output power per line (W) sums to the UPS output; input true power to its input.
        oids = [UPS_OUT + ".4.%d" % l for l in (1, 2, 3)] + [UPS_IN + ".5.%d" % l for l in (1, 2, 3)]
        out = self.get("ups-a", *oids)
        pout = sum(self.ival(out, UPS_OUT + ".4.%d" % l) for l in (1, 2, 3))
        pin = sum(self.ival(out, UPS_IN + ".5.%d" % l) for l in (1, 2, 3))
        self.assertAlmostEqual(pout, t["ups-a"]["power_kw"] * 1000, delta=2)
        self.assertAlmostEqual(pin, t["ups-a"]["input_power_kw"] * 1000, delta=2)
        self.assertGreater(pin, pout)  # the UPS loses energy
        # APC outlets: their energies add up to the IT load behind the PDU.
        rc, out, err = simtest.snmp("snmpbulkwalk", self.port("pdu-a1"), [APC_OUT + ".11"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out), 24)
        self.assertTrue(all(typ == "INTEGER" for typ, _ in out.values()), out)
        total = sum(int(v) for _, v in out.values()) / 10.0
        self.assertAlmostEqual(total, t["pdu-a1"]["it_load_energy_kwh"], delta=24 * 0.1)
        # sysObjectID says the vendor (what profile: auto reads).
        out = self.get("pdu-a2", "1.3.6.1.2.1.1.2.0")
        self.assertEqual(out["1.3.6.1.2.1.1.2.0"][1].lstrip("."), "1.3.6.1.4.1.13742.6")

    def walk(self, name, oid):
        rc, out, err = simtest.snmp("snmpbulkwalk", self.port(name), [oid])
        self.assertEqual(rc, 0, err)
        return out

    def test_phase_tables_add_up_to_the_device(self):
        """APC rPDU2PhaseStatusTable and Eaton inputPowerTable: three rows whose
        powers (and Eaton's Wh counters) add up to the device's own total and
        truth; current x voltage x power factor gives each phase's power."""
        for name in ("pdu-a1", "pdu-b1"):
            out = self.walk(name, APC_PHASE)
            rows = sorted({int(o.rsplit(".", 1)[1]) for o in out})
            self.assertEqual(rows, [1, 2, 3], name)
            col = {c: [self.ival(out, "%s.%d.%d" % (APC_PHASE, c, r)) for r in rows] for c in (3, 5, 6, 7, 8, 9)}
            self.assertEqual(col[3], rows)  # rPDU2PhaseStatusNumber
            dev = self.ival(self.get(name, APC_DEV + ".5.1"), APC_DEV + ".5.1")
            p_kw = self.truth[name]["power_kw"]
            # hundredths of kW, each rounded: the sum is within 3 x 0.005 kW of the truth.
            self.assertAlmostEqual(sum(col[7]) / 100.0, p_kw, delta=0.015 + 1e-9)
            self.assertLessEqual(abs(sum(col[7]) - dev), 2, name)
            for amps10, volts, kw100, kva100, pf100 in zip(col[5], col[6], col[7], col[8], col[9]):
                self.assertTrue(0.30 < kw100 / 100.0 / p_kw < 0.36, (name, kw100, p_kw))  # a third, +- imbalance
                # P = V I PF within the registers' rounding (0.1 A, 1 V, 0.01 kW, 0.01 PF).
                p_calc = volts * amps10 / 10.0 * pf100 / 100.0 / 1000.0
                self.assertAlmostEqual(p_calc, kw100 / 100.0, delta=0.02 * kw100 / 100.0)
                self.assertAlmostEqual(kva100 * pf100 / 100.0, kw100, delta=1.5)
        for name in ("pdu-a4", "pdu-b4"):
            out = self.walk(name, EATON_PHASE)
            idx = sorted({tuple(int(x) for x in o[len(EATON_PHASE) + 1:].split(".")[1:]) for o in out})
            self.assertEqual(idx, [(0, 1, 1), (0, 1, 2), (0, 1, 3)], name)
            rows = ["0.1.%d" % l for l in (1, 2, 3)]
            meas = [self.ival(out, "%s.2.%s" % (EATON_PHASE, r)) for r in rows]
            self.assertEqual(meas, [1, 2, 3])  # inputPowerMeasType phase1..phase3
            watts = [self.ival(out, "%s.4.%s" % (EATON_PHASE, r)) for r in rows]
            wh = [self.ival(out, "%s.5.%s" % (EATON_PHASE, r)) for r in rows]
            self.assertTrue(all(out["%s.5.%s" % (EATON_PHASE, r)][0] == "Gauge32" for r in rows))
            self.assertAlmostEqual(sum(watts), self.truth[name]["power_kw"] * 1000.0, delta=1.5)
            tot = self.get(name, EATON_IN + ".4.0.1", EATON_IN + ".5.0.1")
            self.assertLessEqual(abs(sum(watts) - self.ival(tot, EATON_IN + ".4.0.1")), 2)
            # Each phase counter is floored to a Wh: the three sum to the device counter within 3 Wh.
            true_wh = self.truth[name]["reported_kwh"] * 1000.0
            self.assertGreater(true_wh, 1000)
            self.assertLessEqual(true_wh - 3 - 1e-6, sum(wh))
            self.assertLessEqual(sum(wh), true_wh + 1e-6)
            self.assertLessEqual(abs(sum(wh) - self.ival(tot, EATON_IN + ".5.0.1")), 3)
            # Voltage in mV, current in mA, phases in the same order.
            v = self.walk(name, EATON_VOLT)
            a = self.walk(name, EATON_AMP)
            for l, w in zip((1, 2, 3), watts):
                mv = self.ival(v, "%s.3.0.1.%d" % (EATON_VOLT, l))
                ma = self.ival(a, "%s.4.0.1.%d" % (EATON_AMP, l))
                self.assertTrue(220000 < mv < 240000, mv)
                self.assertAlmostEqual(mv / 1000.0 * ma / 1000.0 * 0.98, w, delta=0.002 * w + 1)
                self.assertEqual(a["%s.12.0.1.%d" % (EATON_AMP, l)][1], "L%d" % l)

    def test_every_point_of_the_shipped_profiles_is_served(self):
        """Each OID, column and digits column that conf/profiles/snmp/PROFILE.yaml
        reads, for every SNMP device of the demo site, answers (a scalar with a
        value, a column with at least one row, and rows that pass the point's
        select)."""
        import yaml
        seen = set()
        for dev in self.ready["devices"]:
            if dev["protocol"] != "snmp" or dev["profile"] in seen:
                continue
            seen.add(dev["profile"])
            path = os.path.join(dcemtest.SOURCE_DIR, "conf", "profiles", "snmp", dev["profile"] + ".yaml")
            with open(path) as f:
                prof = yaml.safe_load(f)
            port = dev["port"]
            for pt in prof["points"]:
                where = "%s %s" % (dev["profile"], pt["name"])
                if "oid" in pt:
                    rc, out, err = simtest.snmp("snmpget", port, [pt["oid"]])
                    self.assertEqual(rc, 0, (where, err))
                    typ, _ = out[pt["oid"]]
                    self.assertIn(typ, ("INTEGER", "Gauge32", "Counter32", "Counter64"), (where, out))
                for key in ("column", "digits_column"):
                    if key not in pt:
                        continue
                    rc, out, err = simtest.snmp("snmpbulkwalk", port, [pt[key]])
                    self.assertEqual(rc, 0, (where, err))
                    idx = [o[len(pt[key]) + 1:].split(".") for o in out]
                    self.assertTrue(idx, "%s: %s %s has no rows" % (where, key, pt[key]))
                    for sel in pt.get("select", []):
                        i = sel["index"]
                        idx = [x for x in idx if len(x) >= i and x[i - 1] == str(sel["equals"])]
                    self.assertTrue(idx, "%s: no row of %s passes %s" % (where, pt[key], pt.get("select")))
        self.assertEqual(seen, {"apc-rpdu2", "raritan-pdu2", "sentry4", "eaton-epdu", "ups-mib"})

    def test_conservation_through_both_protocols(self):
        """At a frozen instant: grid + PV + green - export (Modbus) = UPS input
        (UPS-MIB over SNMP) + cooling + other (Modbus), within 0.1 %."""
        from pymodbus.client import ModbusTcpClient
        from simtest import f32, s16
        simtest.control(self.ready, "advance 2h")  # 04:00 UTC: noon in Shanghai
        cl = ModbusTcpClient(dcemtest.LOOPBACK, port=self.ready["modbus_ports"][0], timeout=2, retries=0)
        self.assertTrue(cl.connect())

        def regs(name, fc, addr, n):
            u = simtest.device(self.ready, name)["unit"]
            r = (cl.read_input_registers if fc == 4 else cl.read_holding_registers)(addr, n, slave=u)
            self.assertFalse(r.isError(), (name, r))
            return r.registers

        grid = f32(regs("utility-a", 3, 3059, 2)) * 1000
        m203 = regs("utility-b", 3, 40070, 23)
        grid += s16(m203[18]) * 10 ** s16(m203[22])
        pv = f32(regs("pv-roof", 3, 40070 + 28, 2))
        green = f32(regs("green-line", 4, 0x34, 2))
        export = -f32(regs("export-meter", 4, 0x34, 2))
        inside = sum(f32(regs(n, 4, 0x34, 2)) for n in ("crah-1", "crah-2", "lighting"))
        inside += f32(regs("chiller-1", 3, 3059, 2)) * 1000
        cl.close()
        for ups in ("ups-a", "ups-b"):
            out = self.get(ups, *[UPS_IN + ".5.%d" % l for l in (1, 2, 3)])
            inside += sum(self.ival(out, UPS_IN + ".5.%d" % l) for l in (1, 2, 3))
        self.assertGreater(pv, 10000)
        self.assertAlmostEqual((grid + pv + green - export) / inside, 1.0, delta=0.001)

    def test_walks_getnext_and_getbulk_agree_and_are_ordered(self):
        for name in ("pdu-a1", "pdu-a2", "pdu-a3", "pdu-a4", "ups-a"):
            rc, nxt, err = simtest.snmp("snmpwalk", self.port(name), ["1.3.6.1"])
            self.assertEqual(rc, 0, err)
            rc, bulk, err = simtest.snmp("snmpbulkwalk", self.port(name), ["-Cr25", "1.3.6.1"])
            self.assertEqual(rc, 0, err)
            self.assertEqual(list(nxt.keys()), list(bulk.keys()), name)
            keys = [oid_key(o) for o in nxt]
            self.assertEqual(keys, sorted(keys), name)
            self.assertEqual(len(set(keys)), len(keys))
            self.assertIn("1.3.6.1.2.1.1.5.0", nxt)
            self.assertEqual(nxt["1.3.6.1.2.1.1.5.0"][1], name)
        # Tables: the UPS output table has 3 lines x 4 columns.
        rc, out, err = simtest.snmp("snmpbulkwalk", self.port("ups-b"), [UPS_OUT])
        self.assertEqual(len(out), 12)
        # An OID the device does not have.
        rc, out, err = simtest.snmp("snmpget", self.port("pdu-a3"), [APC_DEV + ".5.1"])
        self.assertIn("No Such Object", str(out.get(APC_DEV + ".5.1")))

    def test_v3_authpriv_and_access(self):
        out = self.get("pdu-b1", APC_DEV + ".9.1", v3=V3)
        self.assertEqual(self.ival(out, APC_DEV + ".9.1"), math.floor(self.truth["pdu-b1"]["reported_kwh"] * 10 + 1e-9))
        rc, out, err = simtest.snmp("snmpbulkwalk", self.port("ups-b"), [UPS_OUT], v3=V3)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out), 12)
        bad = dict(V3, auth="not-the-password")
        rc, out, err = simtest.snmp("snmpget", self.port("pdu-b1"), ["1.3.6.1.2.1.1.5.0"], v3=bad, timeout=1,
                                    retries=0)
        self.assertNotEqual(rc, 0)
        self.assertEqual(out, {})
        # A wrong community gets no answer at all (as snmpd does).
        rc, out, err = simtest.snmp("snmpget", self.port("pdu-b1"), ["1.3.6.1.2.1.1.5.0"], community="private",
                                    timeout=1, retries=0)
        self.assertNotEqual(rc, 0)
        self.assertIn("Timeout", err)

    def test_faults(self):
        c = simtest.control
        name = "pdu-b4"
        c(self.ready, "fault %s silent" % name)
        rc, out, err = simtest.snmp("snmpget", self.port(name), [EATON_IN + ".4.0.1"], timeout=1, retries=0)
        self.assertIn("Timeout", err)
        self.get("pdu-b3", ST4 + ".3.1.1")  # the others still answer
        c(self.ready, "clear %s" % name)
        self.get(name, EATON_IN + ".4.0.1")
        c(self.ready, "fault %s exception" % name)
        rc, out, err = simtest.snmp("snmpget", self.port(name), [EATON_IN + ".4.0.1"])
        self.assertIn("genErr", err + str(out))
        c(self.ready, "clear %s" % name)
        # Wrap: the Unsigned32 Wh counter sits just under 2^32, then wraps.
        c(self.ready, "fault %s wrap" % name)
        w0 = self.ival(self.get(name, EATON_IN + ".5.0.1"), EATON_IN + ".5.0.1")
        self.assertGreater(w0, 2 ** 32 - 5000)
        c(self.ready, "advance 10m")
        w1 = self.ival(self.get(name, EATON_IN + ".5.0.1"), EATON_IN + ".5.0.1")
        self.assertLess(w1, w0)
        # Reset on an APC: tenths of kWh restart at 0.
        c(self.ready, "fault pdu-b1 reset")
        self.assertEqual(self.ival(self.get("pdu-b1", APC_DEV + ".9.1"), APC_DEV + ".9.1"), 0)
        # Garbage: "not available" -1.
        c(self.ready, "fault pdu-b3 nan")
        self.assertEqual(self.ival(self.get("pdu-b3", ST4 + ".3.1.1"), ST4 + ".3.1.1"), -1)
        c(self.ready, "clear pdu-b3")
        import time
        c(self.ready, "fault pdu-b3 slow 800ms")
        t0 = time.monotonic()
        self.get("pdu-b3", ST4 + ".3.1.1")
        self.assertGreater(time.monotonic() - t0, 0.75)
        self.assertGreater(c(self.ready, "status")["snmp_requests"], 5)


if __name__ == "__main__":
    unittest.main()
