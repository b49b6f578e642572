"""test_live_intensity - accounting.live_intensity through a real broker.

Real processes on 127.0.0.1: dcem-sim plays the demo site at --speed 1; a real
mosquitto; dcem-agent polls it every 1 s with output.mqtt and
`accounting.live_intensity: {topic: grid/moer, unit: lbs/MWh}`; mosquitto_pub
(an independent client) publishes the intensity; mosquitto_sub records
dcem/+/metrics and dcem/+/intervals.

What it proves:
  - the agent subscribes to the configured topic over its MQTT connection
    (the value published before the agent started, retained, and a later
    live value both arrive), hands the message to the loop, and the metrics
    record carries carbon_rate_live with status ok, label realtime,
    for_accounting false, the intensity converted from lbs/MWh
    (x 0.4536, METRICS.md) and value = the record's facility load x
    intensity / 1000 (kgCO2/h);
  - a payload that is not an intensity is ignored and logged, the last value
    stays; the live value reaches no accounting record (no interval has it).
"""
import os
import subprocess
import time
import unittest

import dcemtest
import mqtt_util
import simtest

LBS_TO_G = 0.4536  # g/kWh per lbs/MWh (METRICS.md, docs/ACCOUNTING.md)


def pub(port, topic, payload, retain=False):
    argv = [mqtt_util.need("mosquitto_pub"), "-h", dcemtest.LOOPBACK, "-p", str(port), "-t", topic, "-m", payload,
            "-q", "1"]
    if retain:
        argv.append("-r")
    subprocess.run(argv, check=True, timeout=10)


class LiveIntensity(dcemtest.TempDirTestCase):

    def setUp(self):
        super().setUp()
        for b in ("dcem-agent", "dcem-sim"):
            if not os.path.exists(dcemtest.binary(b)):
                self.skipTest("%s is not built" % b)
        mqtt_util.need("mosquitto_sub")
        mqtt_util.need("mosquitto_pub")

    def live_records(self, sub):
        return [p for t, p in sub.messages() if t.endswith("/metrics") and "carbon_rate_live" in p]

    def wait_live(self, sub, agent, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.live_records(sub):
                if pred(p):
                    return p
            if agent.poll() is not None:
                self.fail("the agent exited with %s:\n%s" % (agent.poll(), agent.log_text()[-3000:]))
            time.sleep(0.2)
        last = self.live_records(sub)
        self.fail("no matching carbon_rate_live after %ds (last: %s):\n%s"
                  % (timeout, last[-1]["carbon_rate_live"] if last else None, agent.log_text()[-3000:]))

    def check_live(self, rec, lbs_per_mwh):
        live = rec["carbon_rate_live"]
        g = lbs_per_mwh * LBS_TO_G
        self.assertEqual(live["status"], "ok")
        self.assertIs(live["for_accounting"], False)
        self.assertEqual(live["label"], "realtime")
        self.assertEqual(live["topic"], "grid/moer")
        self.assertEqual(live["kind"], "marginal")
        self.assertEqual(live["source"], "test feed")
        self.assertAlmostEqual(live["intensity"], g, places=6)
        self.assertEqual(live["unit"], "kgCO2/h")
        kw = rec["load"]["facility"]["v"]
        self.assertGreater(kw, 0)
        self.assertAlmostEqual(live["value"], kw * g / 1000.0, delta=1e-6 * max(1.0, kw))

    def test_live_intensity_over_mqtt(self):
        agent_yaml = os.path.join(self.tmp, "agent.yaml")
        self.sim, _ = simtest.start_sim(self, ["-c", os.path.join(dcemtest.SOURCE_DIR, "conf", "sim", "demo-site.yaml"),
                                               "--speed", "1", "--print-agent-config", agent_yaml,
                                               "--agent-interval", "1s",
                                               "--agent-state-dir", os.path.join(self.tmp, "state")])
        _, port = mqtt_util.start_broker(self)
        # a retained value, published before the agent connects: delivered at subscription
        pub(port, "grid/moer", "1000", retain=True)
        with open(agent_yaml) as f:
            cfg = f.read()
        self.assertIn("output:\n  stdout: true\n", cfg)
        cfg = cfg.replace("output:\n  stdout: true\n",
                          "output:\n  mqtt: { url: \"mqtt://127.0.0.1:%d\", spool: { fsync: 0s } }\n"
                          "accounting:\n  record_interval: 10s\n  realtime_window: 20s\n"
                          "  live_intensity: { topic: grid/moer, unit: lbs/MWh, kind: marginal, "
                          "source: \"test feed\", max_age: 10m }\n" % port)
        with open(agent_yaml, "w") as f:
            f.write(cfg)
        sub = mqtt_util.Subscriber(self, port, topic="dcem/+/+", client_id="live-it")
        time.sleep(0.5)
        agent = self.spawn([dcemtest.binary("dcem-agent"), "-c", agent_yaml], name="agent")

        def ok_with(lbs):
            return lambda p: (p["carbon_rate_live"].get("status") == "ok"
                              and abs((p["carbon_rate_live"].get("intensity") or 0) - lbs * LBS_TO_G) < 1e-6
                              and (p.get("load") or {}).get("facility", {}).get("v", 0) > 0)
        rec = self.wait_live(sub, agent, ok_with(1000), 60)
        self.check_live(rec, 1000)
        # a live (not retained) value while connected, as a JSON object
        pub(port, "grid/moer", '{"moer": 812.5}')
        rec = self.wait_live(sub, agent, ok_with(812.5), 30)
        self.check_live(rec, 812.5)
        # something that is not an intensity is ignored (logged), the last value stays
        pub(port, "grid/moer", "not a number")
        time.sleep(2.5)
        last = self.live_records(sub)[-1]
        self.check_live(last, 812.5)
        self.assertEqual(agent.poll(), None)
        self.assertRegex(agent.log_text(), r"live intensity on grid/moer: not a number")
        # the live value never enters an accounting record
        for t, p in sub.messages():
            if t.endswith("/intervals"):
                self.assertNotIn("carbon_rate_live", p)
                self.assertNotIn("carbon_rate_live", str(p.get("figures")))
        self.assertEqual(agent.stop(timeout=30), 0)


if __name__ == "__main__":
    dcemtest.main()
