"""The self-metrics topic <prefix>/<site>/agent (issue 7), end to end: the
real dcem-agent polls host devices (the host collector on the recorded
/proc of tests/data/host) and publishes to a real mosquitto on 127.0.0.1;
an independent subscriber (mosquitto_sub) checks what arrives:

- every message matches docs/schemas/agent.json; seq goes up by one without
  gaps; uptime and CPU seconds never go back; RSS > 0 and peak >= RSS;
- the poll counters agree with the device messages the subscriber counted:
  a message taken at time T has done >= the device messages stamped more
  than one interval before T (a poll's timeout is at most its interval) and
  <= those stamped up to T (a poll cannot finish before its slot);
- the pseudo-device stream devices/_agent is still published;
- with the broker frozen (SIGSTOP) while device messages pile up in the
  spool, a self-metrics message overtakes the device messages spooled
  before it (its priority lane);
- through a broker outage (kill -9, restart) the messages show the spool
  filling (records > 0, not connected) and then draining with a replay
  rate > 0 down to an empty backlog, and no device message is lost.
"""
import os
import signal
import time

import dcemtest
import mqtt_util as mu

HOST_PROC = os.path.join(dcemtest.SOURCE_DIR, "tests", "data", "host", "proc")


def parse_ts(s):
    """RFC 3339 UTC with milliseconds -> Unix seconds (float)."""
    import calendar
    base, ms = s[:-1].split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0


class MqttAgentTopic(dcemtest.TempDirTestCase):

    def broker(self, port=None):
        return mu.start_broker(self, port=port, extra_conf=mu.persistent_broker_conf(self.tmp, "db"))

    def config(self, port, devices, interval, mqtt_extra=""):
        path = os.path.join(self.tmp, "dcem.yaml")
        with open(path, "w") as f:
            f.write("site: s1\ninterval: %s\nstate_dir: %s\ndevices:\n" % (interval, os.path.join(self.tmp, "state")))
            for i in range(devices):
                f.write("  - name: host-%d\n    host: { proc_root: %s, rapl: false }\n" % (i + 1, HOST_PROC))
            f.write("output:\n  mqtt:\n    url: mqtt://127.0.0.1:%d\n    keepalive: 10s\n"
                    "    reconnect: { min: 100ms, max: 500ms }\n    self_metrics_interval: 1s\n"
                    "    spool: { max_bytes: 8MiB }\n" % port)
            for line in mqtt_extra.strip("\n").splitlines():
                f.write("    %s\n" % line)
        return path

    def agent(self, cfg):
        exe = dcemtest.binary("dcem-agent")
        if not os.path.exists(exe):
            self.skipTest("%s is not built" % exe)
        return self.spawn([exe, "-c", cfg], name="agent")

    def stop_agent(self, ag):
        rc = ag.stop()
        with open(ag.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        self.assertEqual(rc, 0, log)

    @staticmethod
    def agent_msgs(msgs):
        return [p for t, p in msgs if t == "dcem/s1/agent"]

    @staticmethod
    def device_msgs(msgs):
        return [(t, p) for t, p in msgs
                if t.startswith("dcem/s1/devices/") and t.count("/") == 3 and not t.endswith("/_agent")]

    def check_common(self, agents, ndev):
        for a in agents:
            mu.validate(a, "agent.json")
            self.assertEqual(a["site"], "s1")
            self.assertEqual(a["devices"]["configured"], ndev)
            self.assertEqual(a["polls"]["by_collector"]["host"]["devices"], ndev)
            self.assertGreater(a["process"]["rss_bytes"], 0)
            self.assertGreaterEqual(a["process"]["peak_rss_bytes"], a["process"]["rss_bytes"])
            lane = a["publishers"]["mqtt"]["delivery"]["agent_lane"]
            self.assertEqual(lane["cap"], 8)
            self.assertEqual(a["publishers"]["mqtt"]["delivery"]["spool"]["budget_bytes"], 8 << 20)
            tot = a["polls"]["total"]
            by = a["polls"]["by_collector"]
            for k in ("done", "failed", "timeouts", "missed"):
                self.assertEqual(tot[k], sum(c[k] for c in by.values()), k)

    def test_steady_counts_agree_with_subscriber(self):
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        ndev, interval = 3, 0.5
        cfg = self.config(port, ndev, "500ms")
        ag = self.agent(cfg)
        sub.wait_for(lambda m: len(self.agent_msgs(m)) >= 6, timeout=40)
        self.stop_agent(ag)
        time.sleep(1.0)
        msgs = sub.messages()
        agents = self.agent_msgs(msgs)
        self.assertGreaterEqual(len(agents), 6)
        self.check_common(agents, ndev)
        seqs = [a["seq"] for a in agents]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "seq with gaps or out of order")
        for x, y in zip(agents, agents[1:]):
            self.assertGreater(parse_ts(y["ts"]), parse_ts(x["ts"]))
            self.assertGreater(y["uptime_s"], x["uptime_s"])
            self.assertGreaterEqual(y["process"]["cpu_user_s"], x["process"]["cpu_user_s"])
            self.assertGreaterEqual(y["process"]["cpu_system_s"], x["process"]["cpu_system_s"])
            self.assertGreaterEqual(y["polls"]["total"]["done"], x["polls"]["total"]["done"])
        # Poll counts against the device messages received (all of them: QoS 1, spooled).
        slots = sorted(parse_ts(p["ts"]) for t, p in self.device_msgs(msgs))
        self.assertGreater(len(slots), ndev * 4)
        for a in agents:
            t = parse_ts(a["ts"])
            done = a["polls"]["total"]["done"]
            lower = sum(1 for s in slots if s < t - interval - 0.01)
            upper = sum(1 for s in slots if s <= t)
            self.assertTrue(lower <= done <= upper,
                            "seq %d at %s: done=%d, device messages stamped before T-interval %d, up to T %d"
                            % (a["seq"], a["ts"], done, lower, upper))
        last = agents[-1]
        self.assertGreater(last["polls"]["total"]["done"], 0)
        self.assertEqual(last["devices"]["reachable"], ndev)
        self.assertTrue(last["publishers"]["mqtt"]["delivery"]["connected"])
        # The pseudo-device stream of the same counters is still there.
        legacy = [p for t, p in msgs if t == "dcem/s1/devices/_agent"]
        self.assertTrue(legacy, "devices/_agent is no longer published")
        self.assertIn("polls_missed", legacy[-1]["points"])

    def test_priority_lane_overtakes_backed_up_devices(self):
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        ndev = 20
        cfg = self.config(port, ndev, "200ms", mqtt_extra="max_inflight: 10")
        ag = self.agent(cfg)
        sub.wait_for(lambda m: len(self.agent_msgs(m)) >= 2, timeout=40)
        b.send_signal(signal.SIGSTOP)  # no PUBACK: device messages pile up in the spool
        frozen = time.time()
        time.sleep(3.5)
        b.send_signal(signal.SIGCONT)
        sub.wait_for(lambda m: any(parse_ts(a["ts"]) > frozen + 2.5 for a in self.agent_msgs(m)), timeout=40)
        time.sleep(3.0)
        self.stop_agent(ag)
        time.sleep(1.0)
        recs = sub.messages()
        # The first self-metrics message taken well into the freeze, and the
        # device messages spooled before it that arrived after it.
        idx = next(i for i, (t, p) in enumerate(recs)
                   if t == "dcem/s1/agent" and parse_ts(p["ts"]) > frozen + 1.5)
        a = recs[idx][1]
        t_a = parse_ts(a["ts"])
        overtaken = [p for t, p in self.device_msgs(recs[idx + 1:]) if parse_ts(p["ts"]) < t_a - 0.2]
        print("agent message %s overtook %d device messages spooled before it (spool then held %d)"
              % (a["ts"], len(overtaken), a["publishers"]["mqtt"]["delivery"]["spool"]["records"]))
        self.assertGreater(a["publishers"]["mqtt"]["delivery"]["spool"]["records"], 100)
        self.assertGreater(len(overtaken), 100)
        self.check_common(self.agent_msgs(recs), ndev)

    def test_outage_spool_fills_then_drains(self):
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        ndev = 5
        cfg = self.config(port, ndev, "200ms", mqtt_extra="replay: { max_rate: 30 }")
        ag = self.agent(cfg)
        sub.wait_for(lambda m: len(self.agent_msgs(m)) >= 2, timeout=40)
        mu.kill9(b)
        time.sleep(float(os.environ.get("DCEM_MQTT_AGENT_OUTAGE", "6")))
        b2, _ = self.broker(port=port)

        def drained(m):
            ag_ = self.agent_msgs(m)
            return any(a["publishers"]["mqtt"]["delivery"]["replay"]["rate"] and
                       a["publishers"]["mqtt"]["delivery"]["replay"]["rate"] > 0 for a in ag_) and \
                ag_ and ag_[-1]["publishers"]["mqtt"]["delivery"]["replay"]["backlog"] == 0 and \
                ag_[-1]["publishers"]["mqtt"]["delivery"]["connected"]
        sub.wait_for(drained, timeout=90)
        self.stop_agent(ag)
        time.sleep(1.0)
        msgs = sub.messages()
        agents = self.agent_msgs(msgs)
        self.check_common(agents, ndev)
        d = [a["publishers"]["mqtt"]["delivery"] for a in agents]
        outage = [x for x in d if not x["connected"]]
        self.assertTrue(outage, "no self-metrics message taken during the outage arrived")
        self.assertTrue(all(x["spool"]["records"] > 0 and x["replay"]["backlog"] > 0 for x in outage))
        self.assertGreater(max(x["spool"]["records"] for x in outage), 50)
        rates = [x["replay"]["rate"] for x in d if x["connected"] and x["replay"]["rate"]]
        self.assertTrue(rates and max(rates) > 0, "no replay rate reported while draining")
        self.assertLessEqual(max(rates), 30 * 1.3, "replay faster than replay.max_rate")
        self.assertEqual(d[-1]["replay"]["backlog"], 0)
        # Nothing lost: every agent seq, and every device's seq, is there.
        seqs = sorted(set(a["seq"] for a in agents))
        self.assertEqual(seqs, list(range(seqs[0], seqs[-1] + 1)), "agent seq with gaps")
        for i in range(ndev):
            dev = sorted(set(p["seq"] for t, p in msgs if t == "dcem/s1/devices/host-%d" % (i + 1)))
            self.assertEqual(dev, list(range(dev[0], dev[-1] + 1)), "host-%d lost messages" % (i + 1))


if __name__ == "__main__":
    dcemtest.main()
