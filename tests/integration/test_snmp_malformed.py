"""Malformed and truncated SNMP answers on the wire.

A tiny misbehaving agent (snmp_util.BadAgent, a UDP socket on 127.0.0.1 that
encodes its BER by hand) answers each device of one collector loop in its own
way, chosen by community: garbage bytes, a Response cut in half, a Response
with a length field longer than the packet, a Response to another request id,
and well-formed Responses carrying the wrong types for the OIDs. A well-formed
"fake" device on the same socket (the positive control: proof that the
hand-made BER is right) and a real recording served by snmpsimd are polled in
the same loop. The collector must flag the bad devices (poll status, sample
quality), log nothing itself, never crash, and leave the good devices'
results and timing untouched."""
import os
import random
import time
import unittest

import dcemtest
import snmp_util
from snmp_util import ber_int, ber_oid, ber_tlv, ber_uint, build_response

ENT = "1.3.6.1.4.1.99."
P_POWER, P_ENERGY, COL = ENT + "1.1.0", ENT + "1.2.0", ENT + "2.1.3"
NULL_EOM = b"\x82\x00"  # endOfMibView


def good_value(oid):
    if oid == P_POWER:
        return ber_uint(1500, 0x42)        # Gauge32: 1500 W
    if oid == P_ENERGY:
        return ber_uint(12345, 0x41)       # Counter32: 1234.5 kWh in tenths
    return None


ROWS = {COL + ".1": 21, COL + ".2": 23}


def next_row(oid):
    """GETNEXT semantics over the fake table: (oid, value index) or None."""
    for o in sorted(ROWS, key=lambda s: [int(x) for x in s.split(".")]):
        if [int(x) for x in o.split(".")] > [int(x) for x in oid.split(".")]:
            return o
    return None


def answer(req, wrong_types=False):
    vbs = []
    for o in req["oids"]:
        if req["command"] == 0xA0:  # GET
            v = good_value(o)
            if wrong_types:
                v = ber_tlv(0x04, b"n/a") if o == P_POWER else ber_oid("1.3.6.1") if o == P_ENERGY else None
            vbs.append((o, v if v is not None else b"\x80\x00"))  # noSuchObject
        else:  # GETNEXT / GETBULK: one repetition per column
            nxt = next_row(o) if o.startswith(COL) else None
            if nxt is None:
                vbs.append((o, NULL_EOM))
            elif wrong_types:
                vbs.append((nxt, ber_tlv(0x40, b"\x0a\x00\x00\x01") if nxt.endswith(".1")  # IpAddress
                            else ber_tlv(0x44, b"abc")))                                 # Opaque, not a float
            else:
                vbs.append((nxt, ber_int(ROWS[nxt])))
    return build_response(req, vbs)


class Malformed(dcemtest.TempDirTestCase):
    def setUp(self):
        super().setUp()
        rnd = random.Random(1234)

        def behave(req):
            c = req["community"]
            if c == "goodfake":
                return answer(req)
            if c == "wrongtypes":
                return answer(req, wrong_types=True)
            if c == "garbage":
                return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
            if c == "truncated":
                full = answer(req)
                return full[:len(full) // 2]
            if c == "badlength":
                full = bytearray(answer(req))
                full[1] = 0x84  # the outer SEQUENCE claims 4 GB
                return bytes(full[:2]) + b"\xff\xff\xff\xf0" + bytes(full[2:])
            if c == "wrongid":
                return build_response(req, [(o, good_value(o) or NULL_EOM) for o in req["oids"]],
                                      reqid=req["reqid"] + 1)
            return None
        self.agent = snmp_util.BadAgent(behave)

    def tearDown(self):
        self.agent.stop()
        super().tearDown()

    def test_bad_answers_are_flagged_and_the_good_device_is_unaffected(self):
        rec = None
        try:
            recdir = dcemtest.shared_path("testdata", "snmprec")
            rec_file = os.path.join(recdir, "apc_ap8853.snmprec")
            rec = snmp_util.parse_snmprec(rec_file)
            sim_port = snmp_util.start_snmpsimd(self, [rec_file], "apc_ap8853")
        except unittest.SkipTest as e:
            print("note: no real recording in the loop (%s); the fake good device stays" % e)
        points = ('points: [{ name: power_kw, oid: "%s", scale: 0.001, unit: kW }, '
                  '{ name: energy_kwh, oid: "%s", scale: 0.1, unit: kWh, kind: counter }, '
                  '{ name: "temp_c.s{i1}", column: "%s", unit: degC }]' % (P_POWER, P_ENERGY, COL))
        bad = ["wrongtypes", "garbage", "truncated", "badlength", "wrongid"]
        yaml = ""
        for c in ["goodfake"] + bad:
            yaml += ('  - { name: %s, snmp: { address: "udp://127.0.0.1:%d", community: %s, timeout: 0.5s, '
                     'retries: 1, %s } }\n' % (c, self.agent.port, c, points))
        if rec is not None:
            yaml += ('  - { name: real, snmp: { address: "udp://127.0.0.1:%d", community: apc_ap8853, '
                     'profile: apc-rpdu2, timeout: 3s } }\n' % sim_port)
        t0 = time.monotonic()
        samples, summaries, stderr = snmp_util.run_driver(self.tmp, yaml, polls=2)
        wall = time.monotonic() - t0
        self.assertEqual(stderr, "", "the collector (and net-snmp under it) must not log")
        self.assertEqual(self.agent.errors, [], "the fake agent could not parse a request")
        by = {}
        for s in summaries:
            by.setdefault(s["device"], []).append(s)
        for dev in ["goodfake"] + bad + (["real"] if rec else []):
            self.assertEqual(len(by.get(dev, [])), 2, "%s: two polls expected, got %r" % (dev, by.get(dev)))

        # Positive control: the hand-made BER is right, so the faults below are the faults.
        for s in by["goodfake"]:
            self.assertEqual(s["status"], 0, s["error"])
        self.assertEqual(samples[("goodfake", "power_kw")]["value"], 1.5)
        self.assertEqual(samples[("goodfake", "power_kw")]["quality"], "good")
        self.assertEqual(samples[("goodfake", "energy_kwh")]["value"], 1234.5)
        self.assertEqual(samples[("goodfake", "temp_c.s1")]["value"], 21)
        self.assertEqual(samples[("goodfake", "temp_c.s2")]["value"], 23)

        # Wrong types: the device answered, every point is an error sample.
        for s in by["wrongtypes"]:
            self.assertLess(s["status"], 0)
            self.assertIn("point", s["error"])
        for p in ("power_kw", "energy_kwh", "temp_c.s1", "temp_c.s2"):
            self.assertEqual(samples[("wrongtypes", p)]["quality"], "error", p)
            self.assertIsNone(samples[("wrongtypes", p)]["value"], p)

        # Unparseable, cut or foreign answers are dropped: the device does not answer.
        for dev in ("garbage", "truncated", "badlength", "wrongid"):
            for s in by[dev]:
                self.assertLess(s["status"], 0, dev)
                self.assertIn("no answer from 127.0.0.1", s["error"], dev)
            self.assertFalse([k for k in samples if k[0] == dev and samples[k]["quality"] == "good"], dev)
            # one request and its retry per poll (net-snmp's own retries)
            self.assertEqual(self.agent.requests.get(dev), 4, dev)

        # The real device in the same loop: right values, not delayed by the others.
        if rec is not None:
            for s in by["real"]:
                self.assertEqual(s["status"], 0, s["error"])
                self.assertLess(s["elapsed_ms"], 500, "the good device waited for the bad ones")
            self.assertAlmostEqual(samples[("real", "power_kw")]["value"],
                                   rec["1.3.6.1.4.1.318.1.1.26.4.3.1.5.1"][1] / 100)
        for s in by["goodfake"]:
            self.assertLess(s["elapsed_ms"], 500)
        self.assertLess(wall, 30)


if __name__ == "__main__":
    dcemtest.main()
