"""MQTT delivery end to end: the publisher (mqtt_pub_driver: the real
agent/pub_mqtt.c, spool, loop) against a real mosquitto on 127.0.0.1, with
an independent subscriber (mosquitto_sub) counting sequence numbers.

- topics and payloads match docs/schemas (birth, device status, device
  polls, agent stats, clean-shutdown offline), retained where documented;
- the broker frozen (SIGSTOP: a network cut without a TCP reset, messages
  sent but never acknowledged), then killed -9 and restarted on the same
  port: every sequence number arrives, in order after dropping duplicates;
- the broker down and the publisher killed -9 during the outage, then both
  restarted: the spool replays, nothing is lost;
- the last will appears when the publisher dies;
- a spool budget too small during an outage: the published drop counter
  equals exactly what the subscriber misses, nothing else is missing;
- a broker that is not there: a clear error, the data stays spooled.
"""
import json
import os
import signal
import socket
import time
import unittest

import dcemtest
import mqtt_util as mu


class MqttDelivery(dcemtest.TempDirTestCase):

    def broker(self, port=None):
        return mu.start_broker(self, port=port, extra_conf=mu.persistent_broker_conf(self.tmp, "db"))

    def test_topics_payloads_retained(self):
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port)
        d = mu.Driver(self, cfg, "--count", 20, "--rate", 50, "--status", "--agent-stats", 200,
                      "--devices", 2, "--drain-timeout", 20)
        self.assertEqual(d.wait_exit(40), 0, d.proc.log_text())
        msgs = sub.wait_for(lambda m: any(t == "dcem/s1/status" and p["state"] == "offline" for t, p in m))
        kinds = {"devices": 0, "status": 0, "devstatus": 0, "agent": 0}
        for t, p in msgs:
            parts = t.split("/")
            self.assertEqual(parts[:2], ["dcem", "s1"], t)
            self.assertEqual(p["site"], "s1")
            self.assertEqual(p["schema"], 1)
            if t == "dcem/s1/status":
                mu.validate(p, "status.json")
                kinds["status"] += 1
            elif len(parts) == 5 and parts[2] == "devices" and parts[4] == "status":
                mu.validate(p, "device-status.json")
                self.assertEqual(p["device"], parts[3])
                self.assertEqual(p["state"], "reachable")
                kinds["devstatus"] += 1
            elif len(parts) == 4 and parts[2] == "devices":
                mu.validate(p, "device.json")
                self.assertEqual(p["device"], parts[3])
                # The driver's values: p0 = seq, p1 failed (null, "error"), p2 = seq + 0.5.
                self.assertEqual(p["points"]["p0_kw"], {"v": p["seq"], "u": "kW", "q": "good"})
                self.assertEqual(p["points"]["p1_kw"], {"v": None, "u": "kW", "q": "error"})
                self.assertEqual(p["points"]["p2_kw"]["v"], p["seq"] + 0.5)
                kinds["devices"] += 1
            elif t == "dcem/s1/agent":
                mu.validate(p, "envelope.json")
                mu.validate(p, "agent-mqtt.json")
                kinds["agent"] += 1
            else:
                self.fail("unexpected topic %s" % t)
        self.assertEqual(kinds["devices"], 20)
        self.assertEqual(sorted(mu.device_seqs(msgs, "pdu-1")), list(range(10)))
        self.assertEqual(sorted(mu.device_seqs(msgs, "pdu-2")), list(range(10)))
        self.assertEqual(kinds["devstatus"], 2)
        self.assertGreaterEqual(kinds["agent"], 1)
        states = [p["state"] for t, p in msgs if t == "dcem/s1/status"]
        self.assertEqual(states[0], "online")
        self.assertEqual(states[-1], "offline")
        # Retained: the site status (offline after a clean stop) and device status.
        self.assertEqual(mu.retained(port, "dcem/s1/status")["state"], "offline")
        self.assertEqual(mu.retained(port, "dcem/s1/devices/pdu-2/status")["state"], "reachable")
        self.assertIsNone(mu.retained(port, "dcem/s1/devices/pdu-1", timeout=1))
        # Generic streams' seq numbers survive a restart (persisted): 0, 1, ... then on.
        agent_seqs = [p["seq"] for t, p in msgs if t == "dcem/s1/agent"]
        self.assertEqual(agent_seqs, list(range(len(agent_seqs))))
        d2 = mu.Driver(self, cfg, "--count", 1, "--rate", 50, "--agent-stats", 10000, "--drain-timeout", 20,
                       name="driver2")
        self.assertEqual(d2.wait_exit(40), 0, d2.proc.log_text())
        msgs = sub.wait_for(lambda m: len([1 for t, p in m if t == "dcem/s1/agent"]) > len(agent_seqs))
        agent_seqs2 = [p["seq"] for t, p in msgs if t == "dcem/s1/agent"]
        self.assertEqual(agent_seqs2, list(range(len(agent_seqs2))))

    def test_broker_killed_midstream_nothing_lost(self):
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port)
        n = 200
        d = mu.Driver(self, cfg, "--count", n, "--rate", 25, "--drain-timeout", 60)
        sub.wait_for(lambda m: len(mu.device_seqs(m)) >= 30, timeout=20)
        # First a network cut: the broker stops answering (SIGSTOP), the TCP
        # connection stays up, sends go into socket buffers and get no PUBACK;
        # then the broker dies with them. Only a spool that waits for the
        # PUBACK resends those.
        b.send_signal(signal.SIGSTOP)
        time.sleep(2)
        mu.kill9(b)
        down_at = len(d.published())
        # The figure is a 60 s outage: DCEM_MQTT_OUTAGE=60 (CI: 3 s).
        time.sleep(float(os.environ.get("DCEM_MQTT_OUTAGE", "3")))
        self.assertGreater(len(d.published()), min(n, down_at + 40), "the driver kept spooling while the broker was down")
        b2, _ = self.broker(port=port)
        self.assertEqual(d.wait_exit(90), 0, d.proc.log_text())
        sub.wait_for(lambda m: set(range(n)) <= set(mu.device_seqs(m)), timeout=30)
        dups, replayed, live = mu.check_complete_lanes(self, sub.records(), range(n))
        print("broker outage: %d messages, %d duplicates, %d replayed, %d live" % (n, dups, replayed, live))
        self.assertGreater(replayed, 0, "what was spooled during the outage is replayed")
        log = d.proc.log_text()
        # The publisher noticed the session's end (lost, or a send discarded first).
        self.assertRegex(log, r"mqtt: (connection to mqtt://127\.0\.0\.1:%d lost|message \d+ not acknowledged"
                              r"|handing message \d+ to the client failed)" % port)
        self.assertRegex(log, r"(?s)not acknowledged|lost|failed.*mqtt: connected to")

    def test_broker_down_publisher_killed_then_both_restart(self):
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        state = os.path.join(self.tmp, "state")
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port, state_dir=state)
        d = mu.Driver(self, cfg, "--count", 100000, "--rate", 25, "--hold")
        sub.wait_for(lambda m: len(mu.device_seqs(m)) >= 20, timeout=20)
        mu.kill9(b)
        time.sleep(2.5)
        mu.kill9(d.proc)
        published = d.published()
        self.assertGreater(len(published), 40)
        last = max(published)
        # Restart the publisher first (broker still down): it recovers the
        # spool and publishes more on top.
        more = 30
        d2 = mu.Driver(self, cfg, "--count", more, "--rate", 25, "--start-seq", last + 1, "--drain-timeout", 60,
                       name="driver2")
        time.sleep(1.5)
        b2, _ = self.broker(port=port)
        self.assertEqual(d2.wait_exit(90), 0, d2.proc.log_text())
        total = last + 1 + more
        sub.wait_for(lambda m: set(range(total)) <= set(mu.device_seqs(m)), timeout=30)
        dups, replayed, live = mu.check_complete_lanes(self, sub.records(), range(total))
        print("publisher killed during outage: %d messages, %d duplicates, %d replayed" % (total, dups, replayed))
        self.assertGreater(replayed, 0)
        self.assertIn("messages to replay", d2.proc.log_text())

    def test_last_will_on_kill(self):
        b, port = self.broker()
        sub = mu.Subscriber(self, port, topic="dcem/s1/status")
        time.sleep(0.5)
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port)
        d = mu.Driver(self, cfg, "--count", 100000, "--rate", 5, "--hold")
        sub.wait_for(lambda m: any(p["state"] == "online" for t, p in m), timeout=20)
        mu.kill9(d.proc)
        msgs = sub.wait_for(lambda m: any(p["state"] == "offline" for t, p in m), timeout=20)
        states = [p["state"] for t, p in msgs]
        self.assertEqual(states, ["online", "offline"])
        mu.validate(msgs[-1][1], "status.json")
        self.assertEqual(mu.retained(port, "dcem/s1/status")["state"], "offline")

    def test_budget_too_small_drop_counter_exact(self):
        # The subscriber's session is made first and kept by the broker's
        # database; then the broker goes down and everything goes to a 64 KiB spool.
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(1.0)
        mu.kill9(b)
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port,
                              mqtt_extra="spool: { max_bytes: 64KiB, fsync: 1s }")
        n = 400
        d = mu.Driver(self, cfg, "--count", n, "--rate", 400, "--points", 8, "--hold", "--agent-stats", 100)
        deadline = time.monotonic() + 20
        while len(d.published()) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(len(d.published()), n)
        self.assertIn("connecting to mqtt://127.0.0.1:%d failed" % port, d.proc.log_text())
        b2, _ = self.broker(port=port)
        # The spool is replayed; the subscriber's session queues what arrives
        # before mosquitto_sub itself reconnects.
        msgs = sub.wait_for(lambda m: any(t == "dcem/s1/devices/pdu-1" and p["seq"] == n - 1 for t, p in m),
                            timeout=30)
        time.sleep(1.0)
        d.proc.send_signal(signal.SIGTERM)
        d.wait_exit(20)
        msgs = sub.messages()
        got = set(mu.device_seqs(msgs))
        missing = sorted(set(range(n)) - got)
        # The newest are all there; what is missing is a prefix (drop-oldest).
        self.assertGreater(len(missing), 0, "the budget should have forced drops")
        self.assertEqual(missing, list(range(len(missing))))
        # The counter the publisher publishes equals what was lost.
        agent = [p for t, p in msgs if t == "dcem/s1/agent"]
        self.assertTrue(agent, "no agent stats received")
        dropped = max(a["mqtt"]["spool"]["dropped_records"] for a in agent)
        # Agent stats messages spooled during the outage were dropped too;
        # count what the subscriber misses of them: their seqs are 0.. on.
        agent_seqs = sorted(set(a["seq"] for a in agent))
        agent_missing = sorted(set(range(max(agent_seqs) + 1)) - set(agent_seqs))
        self.assertEqual(dropped, len(missing) + len(agent_missing),
                         "dropped_records=%d, devices missing %d, agent messages missing %d"
                         % (dropped, len(missing), len(agent_missing)))

    def test_no_broker_clear_error_data_kept(self):
        # The port is held (bound, not listening: connections are refused)
        # until the broker takes it, so no test running beside this one can
        # pick it up meanwhile.
        hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(hold.close)
        hold.bind((dcemtest.LOOPBACK, 0))
        port = hold.getsockname()[1]
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port)
        d = mu.Driver(self, cfg, "--count", 10, "--rate", 50, "--drain-timeout", 3)
        rc = d.wait_exit(30)
        self.assertEqual(rc, 4, d.proc.log_text())
        log = d.proc.log_text()
        self.assertRegex(log, r"mqtt: connecting to mqtt://127\.0\.0\.1:%d failed: .+\(code -?\d+\)" % port)
        self.assertIn("NOT-DRAINED backlog=10", log)
        # The ten messages are in the spool: a later run delivers them.
        hold.close()
        b, port2 = self.broker(port=port)
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        d2 = mu.Driver(self, cfg, "--count", 0, "--drain-timeout", 20, name="driver2")
        self.assertEqual(d2.wait_exit(30), 0, d2.proc.log_text())
        msgs = sub.wait_for(lambda m: len(mu.device_seqs(m)) >= 10, timeout=10)
        self.assertEqual(sorted(mu.device_seqs(msgs)), list(range(10)))

    def test_bad_config_is_refused_with_position(self):
        cfg = mu.write_config(self, "mqtt://127.0.0.1:1", mqtt_extra="qos: { devices: 3 }\nbogus: 1")
        d = mu.Driver(self, cfg, "--count", 1)
        self.assertEqual(d.wait_exit(10), 2)
        log = d.proc.log_text()
        self.assertRegex(log, r"c\.yaml:9:\d+: unknown key 'bogus'")
        self.assertRegex(log, r"c\.yaml:8:\d+: .*devices.*out of range")
        cfg = mu.write_config(self, "http://127.0.0.1:1", name="c2.yaml")
        d = mu.Driver(self, cfg, "--count", 1, name="driver2")
        self.assertEqual(d.wait_exit(10), 2)
        self.assertRegex(d.proc.log_text(), r"c2\.yaml:5:\d+: output\.mqtt\.url: \"http://127\.0\.0\.1:1\" is not mqtt://")
        cfg = mu.write_config(self, "mqtt://127.0.0.1:1", name="c3.yaml", mqtt_extra="tls: { ca_file: /x }")
        d = mu.Driver(self, cfg, "--count", 1, name="driver3")
        self.assertEqual(d.wait_exit(10), 2)
        self.assertRegex(d.proc.log_text(), r"c3\.yaml:\d+:\d+: output\.mqtt\.tls: given, but url mqtt://127\.0\.0\.1:1 is not")


if __name__ == "__main__":
    dcemtest.main()
