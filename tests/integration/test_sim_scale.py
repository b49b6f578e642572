"""dcem-sim at scale: no descriptor ceiling on its Modbus side, and none in
dcem-agent's Modbus TCP transport.

- `--scale 2000 --own-ports`: every Modbus meter on a TCP port of its own
  (1,594 ports). The test opens one connection to every port, all at once
  (1,594 concurrent connections, raising its own RLIMIT_NOFILE), sends one
  hand-encoded read on each and checks every answer (the transaction id
  echoed, SDM630 / iEM3000 frequency, the SunSpec "SunS" marker), so the
  simulator serves well over 1,024 descriptors (ports + clients), which a
  select()-based server (libmodbus's modbus_receive) cannot. The per-profile
  and per-device request counters of `status` must equal what was sent.
- `dcem-agent --once` over a generated `--scale 1500 --own-ports` site
  (1,196 separate Modbus TCP meters plus 289 SNMP PDUs and 15 UPSes) exits 0
  with every device answered, while the simulator sees more than 1,024 of
  the agent's Modbus connections open at once.
127.0.0.1 only; every wait is bounded.
"""
import json
import os
import resource
import selectors
import socket
import struct
import subprocess
import time
import unittest

import dcemtest
import simtest

# Per profile: (function, address, count, check of the registers' bytes).
def _hz(b):
    v = struct.unpack(">f", b[:4])[0]
    return 45.0 <= v <= 65.0


def _suns(b):
    return b[:4] == b"SunS"


READS = {
    "sdm630": (4, 0x46, 2, _hz),         # frequency, float32
    "iem3000": (3, 3109, 2, _hz),        # frequency, float32
    "pm5000": (3, 3109, 2, _hz),
    "sunspec": (3, 40000, 2, _suns),     # the SunSpec marker
    "sunspec-float": (3, 40000, 2, _suns),
}


def raise_nofile(want):
    """Raise this process's soft descriptor limit to want (bounded by the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else want
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def open_fds(pid):
    """(count, highest number) of the descriptors open in process pid."""
    fds = [int(x) for x in os.listdir("/proc/%d/fd" % pid)]
    return len(fds), max(fds)


class SimScale(dcemtest.TempDirTestCase):
    def test_own_ports_2000_meters_all_connected_at_once(self):
        proc, ready = simtest.start_sim(self, ["--scale", "2000", "--own-ports", "--no-snmp", "--speed", "0",
                                               "--start", simtest.SOLSTICE], timeout=60)
        mb = [d for d in ready["devices"] if d["protocol"] == "modbus"]
        ports = [d["port"] for d in mb]
        self.assertEqual(len(set(ports)), len(mb), "one port per Modbus device")
        self.assertEqual(sorted(ports), sorted(ready["modbus_ports"]))
        self.assertGreaterEqual(len(mb), 1500)
        if raise_nofile(len(mb) + 256) < len(mb) + 64:
            self.skipTest("RLIMIT_NOFILE hard limit too low for %d connections" % len(mb))

        socks = []
        sel = selectors.DefaultSelector()  # epoll: no select() ceiling here either
        try:
            t0 = time.monotonic()
            for d in mb:
                s = socket.create_connection((dcemtest.LOOPBACK, d["port"]), timeout=5)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                socks.append(s)
            # Every connection is open now; the simulator accepts them all
            # (connect() returns once the kernel queued it: wait for accept).
            deadline = time.monotonic() + 20
            st = simtest.control(ready, "status")
            while st["modbus_connections"] < len(mb) and time.monotonic() < deadline:
                time.sleep(0.05)
                st = simtest.control(ready, "status")
            self.assertEqual(st["modbus_connections"], len(mb))
            self.assertEqual(st["modbus_refused"], 0)
            nfd, top = open_fds(proc.pid)
            self.assertGreater(nfd, 2 * len(mb), "ports + clients are descriptors of the simulator")
            self.assertGreater(top, 1024)

            want = {}
            for i, (s, d) in enumerate(zip(socks, mb)):
                fc, addr, count, _ = READS[d["profile"]]
                tid = (i * 7 + 1) & 0xFFFF
                s.sendall(struct.pack(">HHHBBHH", tid, 0, 6, d["unit"], fc, addr, count))
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, i)
                want[i] = tid
            bufs = {i: b"" for i in want}
            done = {}
            deadline = time.monotonic() + 60
            while len(done) < len(mb) and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1.0):
                    i = key.data
                    chunk = key.fileobj.recv(512)
                    if not chunk:
                        self.fail("connection to %s closed without an answer" % mb[i]["name"])
                    bufs[i] += chunk
                    b = bufs[i]
                    if len(b) >= 6 and len(b) >= 6 + struct.unpack(">H", b[4:6])[0]:
                        done[i] = b
                        sel.unregister(key.fileobj)
            elapsed = time.monotonic() - t0
            self.assertEqual(len(done), len(mb), "answers within 60 s")
            for i, b in done.items():
                d = mb[i]
                fc, addr, count, check = READS[d["profile"]]
                tid, proto, ln, unit, rfc, nbytes = struct.unpack(">HHHBBB", b[:9])
                self.assertEqual((tid, proto, unit, rfc, nbytes), (want[i], 0, d["unit"], fc, 2 * count), d["name"])
                self.assertTrue(check(b[9:9 + nbytes]), "%s: %r" % (d["name"], b[9:]))
            print("%d connections to %d ports, one read each: %.2f s" % (len(mb), len(set(ports)), elapsed))

            # The counters: per profile and per device, equal to what was sent.
            st = simtest.control(ready, "status")
            self.assertEqual(st["modbus_requests"], len(mb))
            self.assertEqual(st["modbus_exceptions"], 0)
            self.assertGreaterEqual(st["modbus_connections_peak"], len(mb))
            per_profile = {}
            for d in mb:
                per_profile[d["profile"]] = per_profile.get(d["profile"], 0) + 1
            got = {p: e["modbus_requests"] for p, e in st["profiles"].items() if e["protocol"] == "modbus"}
            self.assertEqual(got, per_profile)
            for p, e in st["profiles"].items():
                self.assertEqual(e["devices"], sum(1 for d in ready["devices"] if d["profile"] == p))
            one = simtest.control(ready, "status " + mb[0]["name"])
            self.assertEqual((one["device"], one["modbus_requests"], one["modbus_exceptions"]),
                             (mb[0]["name"], 1, 0))
            self.assertFalse(simtest.control(ready, "status no-such-device")["ok"])
        finally:
            sel.close()
            for s in socks:
                s.close()
        # Closed by the clients: the simulator lets every connection go.
        deadline = time.monotonic() + 10
        while simtest.control(ready, "status")["modbus_connections"] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(simtest.control(ready, "status")["modbus_connections"], 0)

    def test_agent_once_over_1500_device_own_ports_site(self):
        agent = dcemtest.binary("dcem-agent")
        if not os.path.exists(agent):
            self.skipTest("%s is not built" % agent)
        cfg = os.path.join(self.tmp, "agent.yaml")
        proc, ready = simtest.start_sim(self, ["--scale", "1500", "--own-ports", "--print-agent-config", cfg,
                                               "--agent-state-dir", os.path.join(self.tmp, "state")], timeout=60)
        mb = [d for d in ready["devices"] if d["protocol"] == "modbus"]
        self.assertGreater(len(mb), 1024)
        self.assertEqual(len(set(d["port"] for d in mb)), len(mb))
        # The agent needs more than 1,024 descriptors; let it have them.
        env_limit = raise_nofile(4096)
        self.assertGreater(env_limit, len(ready["devices"]) + 64)
        out_path = os.path.join(self.tmp, "once.jsonl")
        with open(out_path, "wb") as out, open(os.path.join(self.tmp, "once.err"), "wb") as err:
            r = subprocess.run([agent, "-c", cfg, "--once"], stdout=out, stderr=err, timeout=120)
        with open(os.path.join(self.tmp, "once.err"), "rb") as f:
            err_text = f.read().decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, "dcem-agent --once: exit %d\n%s" % (r.returncode, err_text[-3000:]))
        seen = set()
        with open(out_path) as f:
            for line in f:
                seen.add(json.loads(line)["device"])
        self.assertEqual(seen, set(d["name"] for d in ready["devices"]), "a sample of every device")
        st = simtest.control(ready, "status")
        self.assertEqual(st["modbus_refused"], 0)
        for p, e in st["profiles"].items():
            n = sum(1 for d in ready["devices"] if d["profile"] == p)
            self.assertGreaterEqual(e.get("modbus_requests", e.get("snmp_requests")), n, p)
        print("agent --once: %d devices (%d Modbus TCP meters on their own ports); simulator saw at most %d "
              "Modbus connections at once" % (len(ready["devices"]), len(mb), st["modbus_connections_peak"]))
        self.assertGreater(st["modbus_connections_peak"], 1024,
                           "the agent held more than 1,024 Modbus connections at once (no select() ceiling); "
                           "if the agent now bounds its concurrency, this test must open its own >1,024 sockets")


if __name__ == "__main__":
    dcemtest.main()
