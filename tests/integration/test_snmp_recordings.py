"""Every SNMP profile decodes the real device it was written for.

snmpsimd serves the recordings in ../shared/testdata/snmprec on 127.0.0.1;
the collector (through tests' snmp_poll_driver, on the real loop and
scheduler) polls all of them at once from one thread. The expected values are
computed here from the recordings themselves, with the OIDs and scalings of
the vendors' MIBs written out in this test (independently of the profile
YAML files they check). Also prints packets per device-poll."""
import os
import sys
import unittest

import dcemtest
import snmp_util

RECS = ["apc_ap8853", "apc-ap8641", "raritan-pdu_px2", "sentry4", "eatonpdu_2", "vertiv-pdu_mg02e4w1",
        "apc_smx750", "deltaups_rfc1628string", "liebert_weblbds", "apc_inrow-dx"]
E = "1.3.6.1.4.1."


class SnmpRecordings(dcemtest.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.recdir = dcemtest.shared_path("testdata", "snmprec")
        self.rec = {r: snmp_util.parse_snmprec(os.path.join(self.recdir, r + ".snmprec")) for r in RECS}

    def approx(self, samples, dev, point, want, quality="good", tol=1e-9):
        s = samples.get((dev, point))
        self.assertIsNotNone(s, "%s: no sample %s" % (dev, point))
        self.assertEqual(s["quality"], quality, "%s %s: %r" % (dev, point, s))
        self.assertIsNotNone(s["value"], "%s %s" % (dev, point))
        self.assertAlmostEqual(s["value"], want, delta=tol * max(1.0, abs(want)), msg="%s %s" % (dev, point))

    def variant(self, src, name, drop_prefixes):
        """A copy of a recording without some OIDs (community = name)."""
        out = os.path.join(self.tmp, name + ".snmprec")
        with open(os.path.join(self.recdir, src + ".snmprec")) as f, open(out, "w") as g:
            for line in f:
                if not any(line.lstrip(".").startswith(p + ".") or line.lstrip(".").startswith(p + "|")
                           for p in drop_prefixes):
                    g.write(line)
        return out

    def test_every_profile_decodes_its_recording(self):
        v_nototal = self.variant("vertiv-pdu_mg02e4w1", "vertiv_nototal",
                                 [E + "21239.5.2.3.1.1.9", E + "21239.5.2.3.1.1.12"])
        ups_noactive = self.variant("apc_smx750", "smx_noactive", [E + "318.1.1.1.4.2.8"])
        files = [os.path.join(self.recdir, r + ".snmprec") for r in RECS] + [v_nototal, ups_noactive]
        port = snmp_util.start_snmpsimd(self, files, "apc_ap8853")
        devs = [("ap8853", "apc_ap8853", "apc-rpdu2", ""), ("ap8641", "apc-ap8641", "apc-rpdu2", ""),
                ("px2", "raritan-pdu_px2", "raritan-pdu2", ""), ("sentry", "sentry4", "sentry4", ""),
                ("eaton", "eatonpdu_2", "eaton-epdu", ""), ("vertiv", "vertiv-pdu_mg02e4w1", "vertiv-geist", ""),
                ("vertiv_nototal", "vertiv_nototal", "vertiv-geist", ""), ("smx", "apc_smx750", "apc-ups", ""),
                ("smx_noactive", "smx_noactive", "apc-ups", "rated_kw: 0.75, "),
                ("delta", "deltaups_rfc1628string", "ups-mib", ""), ("liebert", "liebert_weblbds", "liebert", ""),
                ("inrow", "apc_inrow-dx", "apc-inrow", ""), ("auto", "apc_ap8853", "auto", "")]
        yaml = "".join('  - { name: %s, %ssnmp: { address: "udp://127.0.0.1:%d", community: "%s", profile: %s, '
                       'timeout: 3s } }\n' % (n, extra, port, c, p) for n, c, p, extra in devs)
        samples, summaries, _ = snmp_util.run_driver(self.tmp, yaml)
        by = {s["device"]: s for s in summaries}
        for n, _, _, _ in devs:
            self.assertIn(n, by, "no poll result for %s" % n)
            self.assertEqual(by[n]["status"], 0, "%s: %s" % (n, by[n]["error"]))
        R = self.rec

        # APC rPDU2 (PowerNet-MIB): device power in hundredths of kW, energy in tenths of kWh.
        for dev, r in (("ap8853", "apc_ap8853"), ("ap8641", "apc-ap8641")):
            rec = R[r]
            self.approx(samples, dev, "power_kw", rec[E + "318.1.1.26.4.3.1.5.1"][1] / 100)
            self.approx(samples, dev, "energy_kwh", rec[E + "318.1.1.26.4.3.1.9.1"][1] / 10)
            self.assertEqual(samples[(dev, "energy_kwh")]["kind"], "counter")
            for idx, v in snmp_util.column_rows(rec, E + "318.1.1.26.6.3.1.7").items():
                self.approx(samples, dev, "power_kw.phase" + idx, v / 100)
        outlets = snmp_util.column_rows(R["apc-ap8641"], E + "318.1.1.26.9.4.3.1.7")
        self.assertEqual(len(outlets), 24)
        for idx, v in outlets.items():   # outlet power in W, energy in tenths of kWh
            self.approx(samples, "ap8641", "power_kw.outlet" + idx, v / 1000)
        for idx, v in snmp_util.column_rows(R["apc-ap8641"], E + "318.1.1.26.9.4.3.1.11").items():
            self.approx(samples, "ap8641", "energy_kwh.outlet" + idx, v / 10)
        self.assertNotIn(("ap8853", "power_kw.outlet1"), samples)  # not outlet-metered: optional, absent

        # Raritan PDU2-MIB: sensor value / 10^decimal digits (read from the device); power in W.
        rec = R["raritan-pdu_px2"]
        raw = rec[E + "13742.6.5.2.3.1.4.1.1.5"][1]
        digits = rec[E + "13742.6.3.3.4.1.7.1.1.5"][1]
        self.approx(samples, "px2", "power_kw.inlet1", raw / 10 ** digits / 1000)
        self.approx(samples, "px2", "power_kw", raw / 10 ** digits / 1000)
        cur = rec[E + "13742.6.5.2.3.1.4.1.1.1"][1] / 10 ** rec[E + "13742.6.3.3.4.1.7.1.1.1"][1]
        self.approx(samples, "px2", "current_a.inlet1", cur)
        self.assertNotEqual(cur, rec[E + "13742.6.5.2.3.1.4.1.1.1"][1])  # digits really applied (3 here)
        for idx, v in snmp_util.column_rows(rec, E + "13742.6.5.4.3.1.4").items():
            pdu, outlet, stype = idx.split(".")
            if stype == "5":
                d = rec[E + "13742.6.3.5.4.1.7." + idx][1]
                self.approx(samples, "px2", "power_kw.outlet" + outlet, v / 10 ** d / 1000)

        # Sentry4-MIB: cord active power in W, energy in tenths of kWh; the device is the sum.
        rec = R["sentry4"]
        pw = snmp_util.column_rows(rec, E + "1718.4.1.3.3.1.3")
        en = snmp_util.column_rows(rec, E + "1718.4.1.3.3.1.10")
        for idx, v in pw.items():
            self.approx(samples, "sentry", "power_kw.cord" + idx.replace(".", "_"), v / 1000)
            self.approx(samples, "sentry", "energy_kwh.cord" + idx.replace(".", "_"), en[idx] / 10)
        self.approx(samples, "sentry", "power_kw", sum(pw.values()) / 1000)
        self.approx(samples, "sentry", "energy_kwh", sum(en.values()) / 10)

        # EATON-EPDU-MIB inputTotalWatts (W) / inputTotalWh (Wh), master unit, input 1.
        rec = R["eatonpdu_2"]
        self.approx(samples, "eaton", "power_kw", rec[E + "534.6.6.7.3.5.1.4.0.1"][1] / 1000)
        self.approx(samples, "eaton", "energy_kwh", rec[E + "534.6.6.7.3.5.1.5.0.1"][1] / 1000)

        # GEIST-V5-MIB: total realPower W / energy Wh; without them, the sum of the phases.
        rec = R["vertiv-pdu_mg02e4w1"]
        self.approx(samples, "vertiv", "power_kw", rec[E + "21239.5.2.3.1.1.9.1"][1] / 1000)
        self.approx(samples, "vertiv", "energy_kwh", rec[E + "21239.5.2.3.1.1.12.1"][1] / 1000)
        ph_p = snmp_util.column_rows(rec, E + "21239.5.2.3.2.1.12")
        ph_e = snmp_util.column_rows(rec, E + "21239.5.2.3.2.1.15")
        self.assertEqual(len(ph_p), 3)
        self.approx(samples, "vertiv_nototal", "power_kw", sum(ph_p.values()) / 1000)
        self.approx(samples, "vertiv_nototal", "energy_kwh", sum(ph_e.values()) / 1000)

        # PowerNet-MIB upsAdvOutputActivePower (W); fallback: upsHighPrecOutputLoad (0.1 %) x rated_kw.
        rec = R["apc_smx750"]
        self.approx(samples, "smx", "power_kw", rec[E + "318.1.1.1.4.2.8.0"][1] / 1000)
        self.approx(samples, "smx_noactive", "power_kw", rec[E + "318.1.1.1.4.3.3.0"][1] / 1000 * 0.75,
                    quality="estimated")
        self.assertNotIn(("smx", "energy_kwh"), samples)  # no high-precision energy on this card

        # RFC 1628 upsOutputPower (W) per line; lines 2 and 3 are NULL in this recording.
        rec = R["deltaups_rfc1628string"]
        self.approx(samples, "delta", "power_kw.line1", rec["1.3.6.1.2.1.33.1.4.4.1.4.1"][1] / 1000)
        self.assertNotIn(("delta", "power_kw.line2"), samples)
        self.approx(samples, "delta", "power_kw", rec["1.3.6.1.2.1.33.1.4.4.1.4.1"][1] / 1000)
        self.assertNotIn(("delta", "energy_kwh"), samples)

        # LIEBERT-GP-ENVIRONMENTAL-MIB: the row whose description OID is lgpEnvSupplyAirTemperature.
        rec = R["liebert_weblbds"]
        desc = snmp_util.column_rows(rec, E + "476.1.42.3.4.1.3.3.1.2")
        vals = snmp_util.column_rows(rec, E + "476.1.42.3.4.1.3.3.1.3")
        for point, which in (("supply_air_temp_c", "3"), ("return_air_temp_c", "2")):
            row = [i for i, d in desc.items() if d == E + "476.1.42.3.4.1.1." + which]
            self.assertEqual(len(row), 1)
            self.approx(samples, "liebert", point, vals[row[0]])
        self.assertNotEqual(desc["2"], E + "476.1.42.3.4.1.1.2")  # the rows are not in sensor order

        # APC InRow data table: value / divisor, row chosen by description and unit.
        rec = R["apc_inrow-dx"]
        base = E + "318.1.1.27.1.4.1.2.1."

        def row(descr, unit):
            d = snmp_util.column_rows(rec, base + "2")
            u = snmp_util.column_rows(rec, base + "4")
            hit = [i for i in d if d[i] == descr and u.get(i) == unit]
            self.assertEqual(len(hit), 1, descr)
            return rec[base + "3." + hit[0]][1] / rec[base + "5." + hit[0]][1]
        comp = row("Compressor Power", "kW")
        fan = row("Condenser Fan Power", "W") / 1000
        self.approx(samples, "inrow", "power_kw.compressor", comp)
        self.approx(samples, "inrow", "power_kw", comp + fan)
        self.approx(samples, "inrow", "supply_air_temp_c", row("Supply Temperature", "C"))
        self.approx(samples, "inrow", "return_air_temp_c", row("Return Temperature", "C"))

        # profile: auto picked apc-rpdu2 from sysObjectID.
        self.assertEqual(by["auto"]["profile"], "apc-rpdu2")
        self.approx(samples, "auto", "energy_kwh", R["apc_ap8853"][E + "318.1.1.26.4.3.1.9.1"][1] / 10)

        sys.stderr.write("\npackets per device-poll (requests sent):\n")
        for n, _, p, _ in devs:
            sys.stderr.write("  %-16s %-13s %3d requests, %6.1f ms\n"
                             % (n, by[n]["profile"] or p, by[n]["requests"], by[n]["elapsed_ms"]))


if __name__ == "__main__":
    dcemtest.main()
