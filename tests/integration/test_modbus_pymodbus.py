"""The Modbus collector against an independent peer: Debian's pymodbus as a
Modbus TCP server on 127.0.0.1 (tests/integration/modbus_server.py), with
registers hand-encoded here with Python's struct. The collector runs on the
real loop and scheduler in tests/integration/modbus_poll_driver.c; the
server logs every request and connection, so the tests count what went over
the wire (merged requests, splits, one connection for a gateway).
"""
import json
import math
import os
import re
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dcemtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = dcemtest.binary("modbus_poll_driver")
ETIMEDOUT, ECONNREFUSED = 110, 111


def regs_of(fmt, value, order):
    """Registers of value packed big-endian with struct fmt, laid out in order
    (A = most significant byte): abcd as is, cdab words reversed, badc bytes
    swapped in each word, dcba the byte string reversed."""
    b = struct.pack(">" + fmt, value)
    if order == "cdab":
        words = [b[i:i + 2] for i in range(0, len(b), 2)]
        b = b"".join(reversed(words))
    elif order == "badc":
        b = b"".join(b[i + 1:i + 2] + b[i:i + 1] for i in range(0, len(b), 2))
    elif order == "dcba":
        b = b[::-1]
    return [(b[i] << 8) | b[i + 1] for i in range(0, len(b), 2)]


def regs_of_text(text, nregs, order="abcd"):
    """nregs registers holding text (bytes), NUL-padded, two bytes per
    register: high byte first, or low byte first for badc/dcba."""
    b = text.ljust(2 * nregs, b"\0")[:2 * nregs]
    if order in ("badc", "dcba"):
        return [(b[i + 1] << 8) | b[i] for i in range(0, len(b), 2)]
    return [(b[i] << 8) | b[i + 1] for i in range(0, len(b), 2)]


def f32(v):
    return struct.unpack(">f", struct.pack(">f", v))[0]


class ModbusServerCase(dcemtest.TempDirTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.exists(DRIVER):
            self.fail("%s is not built" % DRIVER)

    def start_server(self, units):
        spec = os.path.join(self.tmp, "spec.json")
        with open(spec, "w") as f:
            json.dump({"units": {str(u): {k: {str(a): v for a, v in t.items()} for k, t in tables.items()}
                                 for u, tables in units.items()}}, f)
        self.log = os.path.join(self.tmp, "server.log")
        open(self.log, "w").close()
        port = dcemtest.free_port()
        p = self.spawn(["/usr/bin/python3", os.path.join(HERE, "modbus_server.py"), spec, str(port), self.log],
                       name="pymodbus")
        dcemtest.wait_tcp(port, timeout=20, proc=p)
        time.sleep(0.1)
        self.log_mark = self.server_lines()
        return port

    def server_lines(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def server_since_start(self):
        return self.server_lines()[len(self.log_mark):]

    def run_driver(self, devices, polls=1, timeout=60):
        cfg = os.path.join(self.tmp, "devices.yaml")
        with open(cfg, "w") as f:
            f.write("devices:\n")
            for d in devices:
                f.write("  - name: %s\n    interval: 10s\n    timeout: %s\n    modbus:\n" % (d["name"], d.get("deadline", "5s")))
                for k, v in d["modbus"].items():
                    if k == "points":
                        f.write("      points:\n")
                        for p in v:
                            f.write("        - { %s }\n" % ", ".join("%s: %s" % kv for kv in p.items()))
                    else:
                        f.write("      %s: %s\n" % (k, v))
        t0 = time.monotonic()
        r = subprocess.run([DRIVER, cfg, "--polls", str(polls)], capture_output=True, text=True, timeout=timeout)
        elapsed = time.monotonic() - t0
        if r.returncode != 0:
            self.fail("driver exited %d:\n%s\n%s" % (r.returncode, r.stdout, r.stderr))
        polls_out = []  # list of (device, status, error, {point: (value, quality, unit, kind)})
        cur = {}
        stats = {}
        plans = {}
        for line in r.stdout.splitlines():
            parts = line.split(" ")
            if parts[0] == "sample":
                _, dev, point, value, unit, quality, kind = parts
                if kind == "text":  # the text's bytes in hex
                    value = b"" if value == "-" else bytes.fromhex(value)
                else:
                    value = float(value)
                cur.setdefault(dev, {})[point] = (value, quality, unit, kind)
            elif parts[0] == "poll":
                dev, status = parts[1], int(parts[2])
                polls_out.append((dev, status, " ".join(parts[3:]), cur.pop(dev, {})))
            elif parts[0] == "stats":
                stats[parts[1]] = dict(kv.split("=") for kv in parts[2:])
            elif parts[0] == "plan":
                plans[parts[1]] = int(parts[2])
        return polls_out, stats, plans, elapsed, r.stdout


def read_profile(name):
    """(name, register, scale, kind) of each point of a shipped profile, read from the YAML text."""
    path = os.path.join(dcemtest.SOURCE_DIR, "conf", "profiles", "modbus", name + ".yaml")
    pts = []
    with open(path) as f:
        lines = f.readlines()
    for line in lines:
        m = re.match(r"\s*- \{ name: (\w+), function: (\w+), register: (0x[0-9A-Fa-f]+|\d+), type: (\w+)(.*)\}", line)
        if not m:
            continue
        scale = re.search(r"scale: ([0-9.e-]+)", m.group(5))
        kind = re.search(r"kind: (\w+)", m.group(5)).group(1)
        pts.append((m.group(1), int(m.group(3), 0), float(scale.group(1)) if scale else 1.0, kind, m.group(4)))
    return pts


class TestModbusPymodbus(ModbusServerCase):
    def test_sdm630_profile_one_request_per_poll(self):
        pts = read_profile("sdm630")
        self.assertEqual(len(pts), 31)
        ir = {a: 0 for a in range(0, 0x56)}  # a real SDM630 answers the holes too
        want = {}
        for i, (name, reg, scale, kind, typ) in enumerate(pts):
            self.assertEqual(typ, "float32")
            v = 200.25 + 3.5 * i
            ir[reg], ir[reg + 1] = regs_of("f", v, "abcd")
            want[name] = (f32(v) * scale, kind)
        port = self.start_server({1: {"ir": ir}})
        polls = 3
        out, stats, plans, _, _ = self.run_driver(
            [{"name": "sdm", "modbus": {"address": "tcp://127.0.0.1:%d" % port, "unit": 1, "profile": "sdm630"}}],
            polls=polls)
        reqs = [l for l in self.server_since_start() if "fc" in l]
        print("\nSDM630 profile: %d points, %d requests in %d polls (%.1f per poll; one request per point would be %d)"
              % (len(pts), len(reqs), polls, len(reqs) / polls, len(pts)))
        self.assertEqual(len(reqs), polls)
        self.assertTrue(all(r["fc"] == 4 and r["ok"] for r in reqs))
        self.assertEqual(plans["sdm"], 1)
        self.assertEqual(len(out), polls)
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            self.assertEqual(set(samples), set(want))
            for name, (v, kind) in want.items():
                got = samples[name]
                self.assertEqual(got[1], "good", name)
                self.assertEqual(got[3], kind, name)
                self.assertTrue(math.isclose(got[0], v, rel_tol=1e-12), "%s: %r != %r" % (name, got[0], v))
        self.assertEqual(out[0][3]["energy_kwh"][2], "kWh")
        self.assertEqual(out[0][3]["energy_kwh"][3], "counter")

    def test_janitza_profile(self):
        """The Janitza UMG profile against hand-encoded 19xxx holding registers
        (float32 abcd, W and Wh on the wire): one request per poll, scaled values."""
        pts = read_profile("janitza-umg604")
        self.assertEqual(len(pts), 36)
        hr = {a: 0 for a in range(19000, 19094)}
        want = {}
        for i, (name, reg, scale, kind, typ) in enumerate(pts):
            self.assertEqual(typ, "float32")
            v = 1000.0 * (i + 1) + 0.5  # exact in float32
            hr[reg], hr[reg + 1] = regs_of("f", v, "abcd")
            want[name] = (v * scale, kind)
        port = self.start_server({1: {"hr": hr}})
        out, stats, plans, _, _ = self.run_driver(
            [{"name": "umg", "modbus": {"address": "tcp://127.0.0.1:%d" % port, "profile": "janitza-umg604"}}],
            polls=2)
        self.assertEqual(plans["umg"], 1)
        reqs = [l for l in self.server_since_start() if "fc" in l]
        self.assertEqual([(r["fc"], r["addr"], r["count"]) for r in reqs], [(3, 19000, 94)] * 2)
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            for name, (v, kind) in want.items():
                self.assertEqual(samples[name][1], "good", name)
                self.assertEqual(samples[name][3], kind, name)
                self.assertTrue(math.isclose(samples[name][0], v, rel_tol=1e-12), "%s %r != %r" % (name, samples[name], v))
        # the canonical points the accounting reads, in its units
        self.assertEqual(samples["energy_kwh"][2], "kWh")
        self.assertEqual(samples["power_kw"][2], "kW")

    def test_illegal_address_costs_only_its_points(self):
        hr = {a: 1000 + a for a in range(0, 80)}
        del hr[37]  # a hole inside the merged span: no point reads it
        del hr[51]  # the register of point p51
        port = self.start_server({1: {"hr": hr}})
        points = [{"name": "p%d" % a, "function": "holding", "register": a, "type": "uint16"}
                  for a in range(0, 80, 3)]  # 0, 3, ..., 78: 27 points, one request when all is well
        out, stats, plans, _, _ = self.run_driver(
            [{"name": "m", "modbus": {"address": "tcp://127.0.0.1:%d" % port, "points": points, "retries": 0}}],
            polls=3)
        self.assertEqual(plans["m"], 1)
        log = self.server_since_start()
        reqs = [l for l in log if "fc" in l]
        per_poll = []
        # split the request log by poll: the driver polls sequentially, each poll
        # ends with p78's request (the highest address is always read last)
        cur = []
        for r in reqs:
            cur.append(r)
            if r["addr"] <= 78 < r["addr"] + r["count"] and r["ok"]:
                per_poll.append(cur)
                cur = []
        self.assertEqual(len(per_poll), 3, reqs)
        first, second, third = per_poll
        self.assertGreater(len(first), 1)
        # later polls remember the split: fewer requests, and only p51's own request fails
        self.assertLess(len(second), len(first))
        self.assertEqual(second, third)
        bad = [r for r in second if not r["ok"]]
        self.assertEqual(len(bad), 1)
        self.assertEqual((bad[0]["addr"], bad[0]["count"]), (51, 1))
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            self.assertEqual(len(samples), 27)
            for a in range(0, 80, 3):
                v, q, _, _ = samples["p%d" % a]
                if a == 51:
                    self.assertEqual(q, "error")
                    self.assertTrue(math.isnan(v))
                else:
                    self.assertEqual(q, "good", "p%d" % a)
                    self.assertEqual(v, 1000 + a)
        # a partial answer is a good poll (status 0) with per-point quality
        print("\nillegal address: %d requests in the first poll (splitting), %d in later polls"
              % (len(first), len(second)))

    def test_gateway_unit_ids_share_one_connection(self):
        units = {u: {"hr": {a: u * 100 + a for a in range(10)}} for u in (1, 2, 3)}
        port = self.start_server(units)
        devices = [{"name": "u%d" % u, "modbus": {"address": "tcp://127.0.0.1:%d" % port, "unit": u,
                                                  "points": [{"name": "v%d" % a, "register": a, "type": "uint16"}
                                                             for a in range(0, 10, 2)]}}
                   for u in (1, 2, 3)]
        out, stats, _, _, _ = self.run_driver(devices, polls=3)
        log = self.server_since_start()
        self.assertEqual(sum(1 for l in log if "conn" in l), 1, "one connection for the gateway")
        reqs = [l for l in log if "fc" in l]
        self.assertEqual(sorted(r["unit"] for r in reqs), [1, 1, 1, 2, 2, 2, 3, 3, 3])
        self.assertEqual(len(out), 9)
        for dev, status, err, samples in out:
            u = int(dev[1:])
            self.assertEqual(status, 0, err)
            for a in range(0, 10, 2):
                self.assertEqual(samples["v%d" % a][:2], (float(u * 100 + a), "good"))

    def test_gateway_connection_cap(self):
        units = {u: {"hr": {a: u * 100 + a for a in range(4)}} for u in range(1, 7)}
        port = self.start_server(units)
        devices = [{"name": "u%d" % u, "modbus": {"address": "tcp://127.0.0.1:%d" % port, "unit": u,
                                                  "max_connections": 2,
                                                  "points": [{"name": "v", "register": 3, "type": "uint16"}]}}
                   for u in range(1, 7)]
        out, _, _, _, _ = self.run_driver(devices, polls=3)
        conns = sum(1 for l in self.server_since_start() if "conn" in l)
        self.assertEqual(conns, 2, "six unit ids, polled together, over at most two connections")
        self.assertEqual(len(out), 18)
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            self.assertEqual(samples["v"][:2], (float(int(dev[1:]) * 100 + 3), "good"))

    def test_silent_unit_times_out_without_blocking_the_others(self):
        units = {1: {"hr": {a: 500 + a for a in range(4)}}}
        port = self.start_server(units)  # unit 9 is not served: pymodbus does not answer it
        addr = "tcp://127.0.0.1:%d" % port
        pts = [{"name": "a", "register": 0, "type": "uint16"}, {"name": "b", "register": 3, "type": "uint16"}]
        devices = [{"name": "dead", "modbus": {"address": addr, "unit": 9, "timeout": "300ms", "retries": 1,
                                               "points": pts}},
                   {"name": "live", "modbus": {"address": addr, "unit": 1, "timeout": "300ms", "points": pts}}]
        out, stats, _, elapsed, _ = self.run_driver(devices, polls=2)
        by = {}
        for dev, status, err, samples in out:
            by.setdefault(dev, []).append((status, err, samples))
        self.assertEqual(len(by["dead"]), 2)
        self.assertEqual(len(by["live"]), 2)
        for status, err, samples in by["dead"]:
            self.assertEqual(status, -ETIMEDOUT, err)
            self.assertIn("no answer", err)
            self.assertEqual({q for _, q, _, _ in samples.values()}, {"error"})
        for status, err, samples in by["live"]:
            self.assertEqual(status, 0, err)
            self.assertEqual(samples["a"][:2], (500.0, "good"))
            self.assertEqual(samples["b"][:2], (503.0, "good"))
        self.assertEqual(stats["dead"]["timeouts"], "4")  # 2 polls x (1 + 1 retry)
        # 4 timeouts of 300 ms, serialized on one connection, plus the live device's requests
        self.assertLess(elapsed, 8.0)

    def test_types_orders_and_sentinels(self):
        hr = {}
        points = []
        want = {}

        def put(name, fmt, typ, value, order, reg, scale=1.0, expect="good"):
            rs = regs_of(fmt, value, order)
            for i, r in enumerate(rs):
                hr[reg + i] = r
            points.append({"name": name, "register": reg, "type": typ, "order": order, "scale": scale})
            if expect == "good":
                v = f32(value) if fmt == "f" else value
                want[name] = (v * scale, "good")
            else:
                want[name] = (None, "error")

        reg = 0
        for order in ("abcd", "cdab", "badc", "dcba"):
            put("i32_" + order, "i", "int32", -123456789, order, reg); reg += 2
            put("u32_" + order, "I", "uint32", 3000000001, order, reg); reg += 2
            put("f32_" + order, "f", "float32", -1234.5, order, reg); reg += 2
            put("f64_" + order, "d", "float64", 98765.4321, order, reg); reg += 4
            put("i64_" + order, "q", "int64", -1234567890123, order, reg, scale=0.001); reg += 4
            put("u64_" + order, "Q", "uint64", 2 ** 40 + 12345, order, reg); reg += 4
            put("i16_" + order, "h", "int16", -1234, order, reg); reg += 1
        put("u16_na", "H", "uint16", 0xFFFF, "abcd", reg, expect="error"); reg += 1
        put("i16_na", "h", "int16", -32768, "abcd", reg, expect="error"); reg += 1
        put("f32_nan", "f", "float32", float("nan"), "abcd", reg, expect="error"); reg += 2
        # SunSpec scale factor: 5348 x 10^-2, the factor in its own register
        hr[reg] = 5348
        for i in range(1, 5):
            hr[reg + i] = 0
        hr[reg + 5] = 0xFFFE
        points.append({"name": "amps", "register": reg, "type": "int16", "scale_factor_register": reg + 5})
        want["amps"] = (53.48, "good")
        reg += 6
        port = self.start_server({1: {"hr": hr}})
        out, stats, plans, _, _ = self.run_driver(
            [{"name": "t", "modbus": {"address": "tcp://127.0.0.1:%d" % port, "points": points}}])
        self.assertEqual(plans["t"], 1)  # reg registers, contiguous: one request
        self.assertLessEqual(reg, 125)
        (dev, status, err, samples), = out
        self.assertEqual(status, 0, err)
        for name, (v, q) in want.items():
            got = samples[name]
            self.assertEqual(got[1], q, name)
            if q == "good":
                self.assertTrue(math.isclose(got[0], v, rel_tol=1e-15), "%s: %r != %r" % (name, got[0], v))

    def test_string_points(self):
        """Text points (type string, length in registers) come out as text
        samples: byte order per point, cut at 37 bytes, all NULs = not
        implemented; merged in one request with the numbers around them."""
        hr = {}

        def put(reg, regs):
            for i, r in enumerate(regs):
                hr[reg + i] = r
        put(10, regs_of_text(b"SDM630-Modbus", 8))             # 13 characters, NUL-padded
        put(20, regs_of_text(b"V1.2.3", 4, "badc"))             # low byte first
        put(30, [42])
        put(40, regs_of_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn", 20))  # 40 > 37 bytes
        put(60, [0, 0])                                          # not implemented
        put(62, regs_of_text(b"caf\xc3\xa9\x07 ", 4))              # UTF-8 kept, BEL replaced, space trimmed
        for a in range(10, 66):
            hr.setdefault(a, 0)  # the sparse server refuses unlisted registers
        points = [{"name": "model", "register": 10, "type": "string", "length": 8},
                  {"name": "firmware", "register": 20, "type": "string", "length": 4, "order": "badc"},
                  {"name": "n", "register": 30, "type": "uint16"},
                  {"name": "long", "register": 40, "type": "string", "length": 20},
                  {"name": "absent", "register": 60, "type": "string", "length": 2},
                  {"name": "odd", "register": 62, "type": "string", "length": 4}]
        port = self.start_server({1: {"hr": hr}})
        out, stats, plans, _, _ = self.run_driver(
            [{"name": "t", "modbus": {"address": "tcp://127.0.0.1:%d" % port, "points": points}}], polls=2)
        self.assertEqual(plans["t"], 1)
        self.assertEqual(len(out), 2)
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            self.assertEqual(samples["model"], (b"SDM630-Modbus", "good", "-", "text"))
            self.assertEqual(samples["firmware"], (b"V1.2.3", "good", "-", "text"))
            self.assertEqual(samples["long"], (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk", "good", "-", "text"))
            self.assertEqual(samples["absent"], (b"", "error", "-", "text"))
            self.assertEqual(samples["odd"], (b"caf\xc3\xa9?", "good", "-", "text"))
            self.assertEqual(samples["n"][:2], (42.0, "good"))
        reqs = [l for l in self.server_since_start() if "fc" in l]
        self.assertEqual([(r["fc"], r["addr"], r["count"]) for r in reqs], [(3, 10, 56)] * 2)

    def test_nothing_listening(self):
        port = dcemtest.free_port()
        out, stats, _, elapsed, _ = self.run_driver(
            [{"name": "gone", "modbus": {"address": "tcp://127.0.0.1:%d" % port, "retries": 2,
                                         "points": [{"name": "x", "register": 0, "type": "uint16"}]}}])
        (dev, status, err, samples), = out
        self.assertEqual(status, -ECONNREFUSED, err)
        self.assertEqual(samples["x"][1], "error")
        self.assertLess(elapsed, 5.0)


def veris_registers():
    """Holding registers of the real Veris E51C2 dump (../shared), behind a
    SunS marker at 40000 and a common model header of 65 registers (the dump
    starts at model 203, 40069), every other register of the models 0, and
    the end marker after model 203."""
    path = dcemtest.shared_path("testdata", "sunspec", "veris-e51c2-model203.regs")
    hr = {40000: 0x5375, 40001: 0x6E53, 40002: 1, 40003: 65}
    for a in range(40004, 40069 + 2 + 105):
        hr[a] = 0
    with open(path) as f:
        for line in f:
            if line.strip():
                a, v = line.split()
                hr[int(a)] = int(v, 16)
    hr[40176], hr[40177] = 0xFFFF, 0
    return hr


def veris_identity(hr):
    """hr with identity strings in its common model (the dump has none):
    Mn at 40002 + 2, Vr at + 42, SN at + 50 (SunSpec model 1); Md stays NULs."""
    for off, n, text in ((2, 16, b"Veris Industries"), (42, 8, b"1.26"), (50, 16, b"4C2E1FF2")):
        for i, r in enumerate(regs_of_text(text, n)):
            hr[40002 + off + i] = r
    return hr


class TestModbusSunSpecAndProbe(ModbusServerCase):
    def test_sunspec_meter_profile_on_the_veris_dump(self):
        port = self.start_server({1: {"hr": veris_identity(veris_registers())}})
        out, stats, _, _, _ = self.run_driver(
            [{"name": "veris", "modbus": {"address": "tcp://127.0.0.1:%d" % port, "profile": "sunspec-meter"}}],
            polls=2)
        # hand-computed from the dump: TotWhImp 0x00016227 = 90663 x 10^1 Wh; W 654 x 10^1 W;
        # Hz 6001 x 10^-2; PhVphA 1230 x 10^-1 V; AphA 2681 x 10^-2 A
        want = {"energy_kwh": 906.63, "energy_export_kwh": 0.0, "power_kw": 6.54, "frequency_hz": 60.01,
                "voltage_l1": 123.0, "current_l1": 26.81}
        self.assertEqual(len(out), 2)
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            for name, v in want.items():
                self.assertEqual(samples[name][1], "good", name)
                self.assertTrue(math.isclose(samples[name][0], v, abs_tol=1e-9), "%s %r" % (name, samples[name]))
            self.assertEqual(samples["energy_kwh"][3], "counter")
            # the common model's identity strings, as text
            self.assertEqual(samples["manufacturer"], (b"Veris Industries", "good", "-", "text"))
            self.assertEqual(samples["version"], (b"1.26", "good", "-", "text"))
            self.assertEqual(samples["serial_number"], (b"4C2E1FF2", "good", "-", "text"))
            self.assertEqual(samples["model"], (b"", "error", "-", "text"))  # all NULs: not implemented
        reqs = [l for l in self.server_since_start() if "fc" in l]
        # discovery once (marker, 3 headers), then one merged request per poll
        # (identity strings 40004..40067 and the meter 40072..40123 together)
        self.assertEqual(len(reqs), 4 + 2, reqs)
        self.assertEqual([r["addr"] for r in reqs[:4]], [40000, 40002, 40069, 40176])

    def probe(self, url):
        """`dcem-agent probe URL`, the command users run: (exit code, stdout, stderr)."""
        r = subprocess.run([dcemtest.binary("dcem-agent"), "probe", url], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def test_probe_prints_models_and_a_device_block(self):
        port = self.start_server({1: {"hr": veris_registers()}})
        rc, out, err = self.probe("modbus://127.0.0.1:%d?unit=1" % port)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("SunSpec marker at 40000", out)
        self.assertRegex(out, r"#\s+1 common\s+at 40002, 65 registers")
        self.assertRegex(out, r"#\s+203 meter wye \(int\+sf\)\s+at 40069, 105 registers")
        self.assertRegex(out, r"energy_kwh\s+906.63 kWh")
        self.assertIn("address: tcp://127.0.0.1:%d" % port, out)
        self.assertIn("profile: sunspec-meter", out)
        # the printed block is valid for the collector: run it
        block = out[out.index("devices:"):]
        cfg = os.path.join(self.tmp, "probed.yaml")
        with open(cfg, "w") as f:
            f.write(block.replace("    role: other\n", ""))
        r = subprocess.run([DRIVER, cfg], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"sample CHANGE-ME energy_kwh 906.6\d* kWh good counter")

    def test_probe_recognises_an_sdm630(self):
        ir = {a: 0 for a in range(0, 0x56)}
        ir[0], ir[1] = regs_of("f", 231.5, "abcd")
        ir[0x46], ir[0x47] = regs_of("f", 50.01, "abcd")
        port = self.start_server({4: {"ir": ir}})
        rc, out, err = self.probe("modbus://127.0.0.1:%d?unit=4" % port)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("no SunSpec marker", out)
        self.assertIn("Eastron SDM630", out)
        self.assertIn("profile: sdm630", out)
        self.assertIn("unit: 4", out)

    def test_probe_of_an_unknown_device(self):
        port = self.start_server({1: {"hr": {0: 1}}})
        rc, out, err = self.probe("modbus://127.0.0.1:%d" % port)
        self.assertEqual(rc, 2, out + err)  # reached, not recognised (-ENODEV)
        self.assertIn("dcem-agent probe: modbus://127.0.0.1:%d: " % port, err)
        self.assertIn("points: []", out)


class TestModbusRtu(ModbusServerCase):
    """Modbus RTU through libmodbus in the bus's worker thread, against
    pymodbus's RTU server on a pseudo-terminal null-modem pair."""

    def start_rtu_server(self, units):
        self.start_server_rtu = True
        spec = os.path.join(self.tmp, "spec.json")
        with open(spec, "w") as f:
            json.dump({"units": {str(u): {k: {str(a): v for a, v in t.items()} for k, t in tables.items()}
                                 for u, tables in units.items()}}, f)
        self.log = os.path.join(self.tmp, "server.log")
        open(self.log, "w").close()
        p = self.spawn(["/usr/bin/python3", os.path.join(HERE, "modbus_server.py"), spec, "rtu", self.log],
                       name="pymodbus-rtu")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lines = self.server_lines()
            if lines and p.poll() is None:
                time.sleep(0.5)  # the serial server opens its end after logging
                self.log_mark = self.server_lines()
                return lines[0]["rtu"]
            if p.poll() is not None:
                self.fail("the RTU server exited: %s" % p.log_text())
            time.sleep(0.05)
        self.fail("the RTU server did not start")

    def test_bus_polled_in_turn_with_inter_frame_delay(self):
        path = self.start_rtu_server({1: {"hr": {100: 7, 101: 8}}, 2: {"hr": {100: 9, 101: 10}}})
        addr = "rtu://%s?baud=9600&parity=N" % path
        pts = [{"name": "x", "register": 100, "type": "uint16"}, {"name": "y", "register": 101, "type": "uint16"}]
        devices = [{"name": "u1", "modbus": {"address": addr, "unit": 1, "inter_frame_delay": "150ms", "points": pts}},
                   {"name": "u2", "modbus": {"address": addr, "unit": 2, "points": pts}},
                   {"name": "gone", "modbus": {"address": addr, "unit": 5, "timeout": "300ms", "retries": 0,
                                               "points": pts}}]
        out, stats, _, elapsed, _ = self.run_driver(devices, polls=2)
        by = {}
        for dev, status, err, samples in out:
            by.setdefault(dev, []).append((status, err, samples))
        for status, err, samples in by["u1"]:
            self.assertEqual(status, 0, err)
            self.assertEqual((samples["x"][:2], samples["y"][:2]), ((7.0, "good"), (8.0, "good")))
        for status, err, samples in by["u2"]:
            self.assertEqual(status, 0, err)
            self.assertEqual((samples["x"][:2], samples["y"][:2]), ((9.0, "good"), (10.0, "good")))
        for status, err, samples in by["gone"]:
            self.assertEqual(status, -ETIMEDOUT, err)
        reqs = [l for l in self.server_since_start() if "fc" in l]
        self.assertEqual([r["unit"] for r in reqs], [1, 2, 1, 2])
        # 6 transactions on one bus, one at a time, 150 ms of silence after each
        self.assertGreaterEqual(elapsed, 5 * 0.150)

    def test_probe_over_rtu(self):
        path = self.start_rtu_server({3: {"hr": veris_registers()}})
        r = subprocess.run([DRIVER, "--probe", "rtu://%s?baud=9600&parity=N&unit=3" % path],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"#\s+203 meter wye")
        self.assertIn("address: rtu://%s?baud=9600&parity=N&data=8&stop=1" % path, r.stdout)
        self.assertIn("unit: 3", r.stdout)
        self.assertIn("profile: sunspec-meter", r.stdout)

    def test_exception_over_rtu_costs_only_its_point(self):
        hr = {a: a * 2 for a in range(100, 110)}
        del hr[105]
        path = self.start_rtu_server({1: {"hr": hr}})
        pts = [{"name": "r%d" % a, "register": a, "type": "uint16"} for a in range(100, 110)]
        out, stats, _, _, _ = self.run_driver(
            [{"name": "m", "modbus": {"address": "rtu://%s" % path, "unit": 1, "retries": 0, "points": pts}}],
            polls=2)
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            for a in range(100, 110):
                self.assertEqual(samples["r%d" % a][1], "error" if a == 105 else "good", a)
                if a != 105:
                    self.assertEqual(samples["r%d" % a][0], a * 2)
        self.assertGreaterEqual(int(stats["m"]["splits"]), 1)


class BadPeer:
    """A hand-written Modbus TCP peer on 127.0.0.1 that answers read
    requests (fc 3, registers = 100 + address) with a chosen defect."""

    def __init__(self, mode):
        import socket
        import threading
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((dcemtest.LOOPBACK, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while True:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    buf += data
                    while len(buf) >= 12:
                        req, buf = buf[:12], buf[12:]
                        self.requests += 1
                        tid, _, _, unit, fc, start, count = struct.unpack(">HHHBBHH", req)
                        values = b"".join(struct.pack(">H", 100 + start + i) for i in range(count))
                        pdu = bytes([fc, len(values)]) + values
                        if self.mode == "wrong_unit":
                            unit = (unit + 1) & 0xFF
                        elif self.mode == "short":
                            pdu = bytes([fc, len(values)]) + values[:-2]
                        elif self.mode == "wrong_fc":
                            pdu = bytes([fc ^ 1]) + pdu[1:]
                        if self.mode == "stale_tid_first":
                            stale = struct.pack(">HHHB", (tid - 1) & 0xFFFF, 0, len(pdu) + 1, unit) + pdu
                            conn.sendall(stale)
                        conn.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)

    def close(self):
        self.sock.close()


class TestModbusMalformedAnswers(ModbusServerCase):
    def run_against(self, mode):
        peer = BadPeer(mode)
        self.addCleanup(peer.close)
        pts = [{"name": "a", "register": 10, "type": "uint16"}, {"name": "b", "register": 11, "type": "uint16"}]
        out, stats, _, _, _ = self.run_driver(
            [{"name": "m", "modbus": {"address": "tcp://127.0.0.1:%d" % peer.port, "timeout": "500ms",
                                      "retries": 1, "points": pts}}], polls=2)
        return out, stats, peer

    def test_wrong_unit_wrong_length_wrong_function(self):
        for mode in ("wrong_unit", "short", "wrong_fc"):
            out, stats, peer = self.run_against(mode)
            self.assertEqual(len(out), 2, mode)
            for dev, status, err, samples in out:
                self.assertEqual(status, -74, "%s: %s" % (mode, err))  # -EBADMSG
                self.assertIn("malformed answer", err)
                self.assertEqual({q for _, q, _, _ in samples.values()}, {"error"}, mode)
            self.assertEqual(peer.requests, 4, mode)  # each poll: the request and its retry

    def test_stale_answer_is_not_taken_for_the_current_one(self):
        out, stats, peer = self.run_against("stale_tid_first")
        for dev, status, err, samples in out:
            self.assertEqual(status, 0, err)
            self.assertEqual(samples["a"][:2], (110.0, "good"))
            self.assertEqual(samples["b"][:2], (111.0, "good"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
