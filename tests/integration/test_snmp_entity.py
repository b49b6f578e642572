"""The generic ENTITY-SENSOR-MIB profile (conf/profiles/snmp/entity-sensor.yaml)
against snmpsimd.

No recording in ../shared/testdata/snmprec carries entPhySensorTable, so this
test writes its own: a switch shaped like an Arista/Cisco one (entity indexes
and names in the style of an Arista DCS-7050, whose LibreNMS recording shows
the same layout), with two power supplies whose sensors are entities of class
sensor(8) contained in the powerSupply(6) entities, plus sensors that must be
ignored: a CPU temperature, a fan's rpm, a transceiver's DOM TX power (watts,
but not a PSU's). The expected values are worked out by hand below, from
RFC 3433 (value x 10^(3 (scale - 9)) / 10^precision) and not from the profile.

It also checks `profile: auto` choosing entity-sensor for a sysObjectID no
vendor profile claims (v2c and v1: the GETNEXT that finds entPhySensorTable),
a PSU sensor whose operStatus is unavailable(2) (that sensor and the sum are
errors, and the poll reports it), and a walk cut by max_walk_requests (the
poll fails instead of publishing a sum with a supply missing)."""
import os
import unittest

import dcemtest
import snmp_util

SENSOR = "1.3.6.1.2.1.99.1.1.1"    # entPhySensorEntry (RFC 3433)
PHYS = "1.3.6.1.2.1.47.1.1.1.1"    # entPhysicalEntry (RFC 6933)

# entPhysicalTable rows: index -> (class, containedIn, name)
ENTITIES = {
    1: (3, 0, "DCS-7050SX3-48YC8"),                       # chassis
    100006001: (8, 1, "Cpu temp sensor"),                  # sensor on the chassis
    100601000: (5, 1, "PowerSupply1 slot"),                # container
    100601110: (6, 100601000, "PowerSupply1"),             # powerSupply
    100601111: (8, 100601110, "PowerSupply1 temp sensor"),
    100601121: (8, 100601110, "PowerSupply1 input current"),
    100601131: (8, 100601110, "PowerSupply1 input power"),
    100602000: (5, 1, "PowerSupply2 slot"),
    100602110: (6, 100602000, "PowerSupply2"),
    100602131: (8, 100602110, "PowerSupply2 input power"),
    100701000: (7, 1, "Fan1"),                             # fan
    100701111: (8, 100701000, "Fan1 speed sensor"),
    100301100: (10, 1, "Xcvr for Ethernet1"),              # port / transceiver
    100301212: (8, 100301100, "DOM TX Power Sensor for Ethernet1"),
}
# entPhySensorTable rows: index -> (type, scale, precision, value, operStatus)
SENSORS = {
    100006001: (8, 9, 1, 452, 1),         # celsius: 45.2 degC (ignored: not a PSU's)
    100601111: (8, 9, 1, 287, 1),         # celsius in PSU 1 (not a power point)
    100601121: (5, 8, 0, 1520, 1),        # amperes, milli: 1.52 A
    100601131: (6, 9, 1, 1785, 1),        # watts, units, 1 decimal: 178.5 W
    100602131: (6, 8, 0, 201250, 1),      # watts, milli: 201.25 W
    100701111: (10, 9, 0, 9120, 1),       # rpm (ignored)
    100301212: (6, 8, 2, 51234, 1),       # watts, milli, 2 decimals: 0.51234 W (DOM, ignored)
}
# By hand: PSU 1 178.5 W = 0.1785 kW; PSU 2 201.25 W = 0.20125 kW; sum 0.37975 kW.
WANT = {"power_kw.psu100601131": 0.1785, "power_kw.psu100602131": 0.20125, "current_a.psu100601121": 1.52,
        "power_kw": 0.37975}


def oid_key(oid):
    return [int(x) for x in oid.split(".")]


def write_recording(path, psu2_status=1):
    """The switch as an snmpsim recording (OID-sorted, as snmprec files are)."""
    rows = {
        "1.3.6.1.2.1.1.1.0": "4|Arista Networks EOS version 4.28.3M running on an Arista Networks DCS-7050SX3-48YC8",
        "1.3.6.1.2.1.1.2.0": "6|1.3.6.1.4.1.30065.1.3011.7050.3741.48.2818.8",
        "1.3.6.1.2.1.1.3.0": "67|1234567",
        "1.3.6.1.2.1.1.5.0": "4|leaf-17",
        "1.3.6.1.2.1.47.1.4.1.0": "67|4321",   # entLastChangeTime
    }
    for idx, (cls, parent, name) in ENTITIES.items():
        rows["%s.2.%d" % (PHYS, idx)] = "4|%s" % name
        rows["%s.4.%d" % (PHYS, idx)] = "2|%d" % parent
        rows["%s.5.%d" % (PHYS, idx)] = "2|%d" % cls
        rows["%s.7.%d" % (PHYS, idx)] = "4|%s" % name
    for idx, (typ, scale, prec, val, status) in SENSORS.items():
        if idx == 100602131:
            status = psu2_status
        rows["%s.1.%d" % (SENSOR, idx)] = "2|%d" % typ
        rows["%s.2.%d" % (SENSOR, idx)] = "2|%d" % scale
        rows["%s.3.%d" % (SENSOR, idx)] = "2|%d" % prec
        rows["%s.4.%d" % (SENSOR, idx)] = "2|%d" % val
        rows["%s.5.%d" % (SENSOR, idx)] = "2|%d" % status
        rows["%s.6.%d" % (SENSOR, idx)] = "4|units"
    with open(path, "w") as f:
        for oid in sorted(rows, key=oid_key):
            f.write("%s|%s\n" % (oid, rows[oid]))


class SnmpEntitySensor(dcemtest.TempDirTestCase):
    def approx(self, samples, dev, point, want):
        s = samples.get((dev, point))
        self.assertIsNotNone(s, "%s: no sample %s" % (dev, point))
        self.assertEqual(s["quality"], "good", "%s %s: %r" % (dev, point, s))
        self.assertAlmostEqual(s["value"], want, delta=1e-9 * max(1.0, abs(want)), msg="%s %s" % (dev, point))

    def test_psus_of_a_switch(self):
        good = os.path.join(self.tmp, "switch.snmprec")
        bad = os.path.join(self.tmp, "switch_psu2_down.snmprec")
        write_recording(good)
        write_recording(bad, psu2_status=2)
        port = snmp_util.start_snmpsimd(self, [good, bad], "switch")
        devs = [("sw", "switch", "entity-sensor", ""), ("sw_auto", "switch", "auto", ""),
                ("sw_down", "switch_psu2_down", "entity-sensor", ""),
                ("sw_v1", "switch", "entity-sensor", ", version: 1"),
                ("sw_auto_v1", "switch", "auto", ", version: 1"),
                ("sw_cut", "switch", "entity-sensor", ", max_walk_requests: 2")]
        yaml = "".join('  - { name: %s, snmp: { address: "udp://127.0.0.1:%d", community: "%s", profile: %s, '
                       'timeout: 3s%s } }\n' % (n, port, c, p, extra) for n, c, p, extra in devs)
        samples, summaries, _ = snmp_util.run_driver(self.tmp, yaml)
        by = {s["device"]: s for s in summaries}
        for n in ("sw", "sw_auto", "sw_v1", "sw_auto_v1"):
            self.assertIn(n, by, "no poll result for %s" % n)
            self.assertEqual(by[n]["status"], 0, "%s: %s" % (n, by[n]["error"]))
            for point, want in WANT.items():
                self.approx(samples, n, point, want)
            self.assertEqual(samples[(n, "power_kw")]["unit"], "kW")
            # Only the PSU points: no CPU temperature, fan, DOM or temperature point.
            got = sorted(p for (d, p) in samples if d == n)
            self.assertEqual(got, sorted(WANT), n)
            # No energy counter in these MIBs: energy is the accounting's (integrated, estimated).
            self.assertNotIn((n, "energy_kwh"), samples)
        # profile: auto found entPhySensorTable with one GETNEXT (no vendor profile claims this sysObjectID).
        self.assertEqual(by["sw_auto"]["profile"], "entity-sensor")
        self.assertEqual(by["sw_auto_v1"]["profile"], "entity-sensor")
        # v2c walks with GETBULK, v1 with GETNEXT: the same values, fewer packets with GETBULK.
        self.assertLess(by["sw"]["requests"], by["sw_v1"]["requests"])

        # PSU 2's power sensor unavailable(2): it and the sum are errors, PSU 1 stays good.
        d = by["sw_down"]
        self.assertNotEqual(d["status"], 0)
        self.assertIn("power_kw.psu100602131", d["error"])
        self.assertEqual(samples[("sw_down", "power_kw.psu100602131")]["quality"], "error")
        self.assertIsNone(samples[("sw_down", "power_kw.psu100602131")]["value"])
        self.assertEqual(samples[("sw_down", "power_kw")]["quality"], "error")
        self.approx(samples, "sw_down", "power_kw.psu100601131", 0.1785)
        # A walk cut short by max_walk_requests is a failed poll, never a quietly smaller sum.
        c = by["sw_cut"]
        self.assertNotEqual(c["status"], 0)
        self.assertIn("max_walk_requests", c["error"])
        print("packets per poll: v2c %d, v1 %d" % (by["sw"]["requests"], by["sw_v1"]["requests"]))

    def test_shared_recordings_have_no_entity_sensors(self):
        """If a real recording with entPhySensorTable appears in shared/, this test must grow."""
        recdir = dcemtest.shared_path("testdata", "snmprec")
        with_table = []
        for name in sorted(os.listdir(recdir)):
            if name.endswith(".snmprec"):
                with open(os.path.join(recdir, name), "rb") as f:
                    if any(line.lstrip(b".").startswith(SENSOR.encode() + b".") for line in f):
                        with_table.append(name)
        self.assertEqual(with_table, [], "recordings with ENTITY-SENSOR-MIB: test them here too")


if __name__ == "__main__":
    dcemtest.main()
