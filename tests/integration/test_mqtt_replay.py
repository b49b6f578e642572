"""Rate-limited replay with live data flowing (issue 7): the publisher
(mqtt_pub_driver: the real agent/pub_mqtt.c and spool) streams 20 devices
against a real mosquitto on 127.0.0.1; the broker is killed -9 for 30 s
(DCEM_MQTT_REPLAY_OUTAGE) while the stream goes on into the spool, then
restarted on the same port. An independent subscriber (mosquitto_sub, MQTT 5,
with arrival time stamps and user properties) shows:

- every sequence number of every device arrives; after dropping duplicates
  each lane (replayed, marked dcem-replay=1, and live) is in order;
- the backlog is replayed at the configured rate (replay.max_rate), not
  faster, and not starved;
- while the backlog drains, live messages arrive within a bounded delay
  (without the live lane they would wait behind the whole backlog);
- the publisher's counters tell the same story: backlog depth goes down to 0,
  replay_rate near the configured rate.
"""
import os
import signal
import time
import unittest

import dcemtest
import mqtt_util as mu

DEVICES = 20
RATE = 100.0        # live messages per second (all devices)
MAX_RATE = 150.0    # replay.max_rate
LIVE_DELAY_MAX = 1.5  # seconds, live messages during the drain


class MqttReplay(dcemtest.TempDirTestCase):

    def broker(self, port=None):
        return mu.start_broker(self, port=port, extra_conf=mu.persistent_broker_conf(self.tmp, "db"))

    def test_outage_replay_rate_limited_live_flowing(self):
        outage = float(os.environ.get("DCEM_MQTT_REPLAY_OUTAGE", "30"))
        b, port = self.broker()
        sub = mu.Subscriber(self, port)
        time.sleep(0.5)
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port,
                              mqtt_extra="replay: { max_rate: %g }\nmax_inflight: 20" % MAX_RATE)
        d = mu.Driver(self, cfg, "--count", 10 ** 9, "--rate", RATE, "--devices", DEVICES, "--hold",
                      "--agent-stats", 500)
        sub.wait_for(lambda m: len(mu.device_seqs(m, "pdu-1")) >= 10, timeout=20)
        mu.kill9(b)
        down = time.time()
        time.sleep(outage)
        self.assertIn("connecting to mqtt://127.0.0.1:%d failed" % port, d.proc.log_text())
        b2, _ = self.broker(port=port)
        up = time.time()
        spooled = int(RATE * (up - down))
        # Drained when the publisher's backlog counter is back to 0.
        deadline = time.monotonic() + 60 + spooled / MAX_RATE * 2
        backlog_seen = []
        while time.monotonic() < deadline:
            st = d.last_stats()
            if st and st["mqtt"]["connected"] and time.time() > up + 2:
                backlog_seen.append(st["mqtt"]["spool"]["backlog"])
                if st["mqtt"]["spool"]["backlog"] == 0 and st["mqtt"]["replayed"] > 0:
                    break
            time.sleep(0.5)
        self.assertEqual(backlog_seen[-1:], [0], "the backlog did not drain: %s" % backlog_seen[-5:])
        time.sleep(1.0)
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(30), 0, d.proc.log_text()[-2000:])

        # Every seq of every device, each lane in order.
        published = {}
        for line in d.lines("PUBLISHED "):
            _, dev, seq = line.split()
            published.setdefault(dev, []).append(int(seq))
        self.assertEqual(len(published), DEVICES)
        last = {dev: max(s) for dev, s in published.items()}
        sub.wait_for(lambda m: all(set(range(last[dev] + 1)) <= set(mu.device_seqs(m, dev)) for dev in last),
                     timeout=30)
        recs = sub.records()
        dups = replayed = live = 0
        for dev in sorted(published):
            self.assertEqual(sorted(published[dev]), list(range(last[dev] + 1)))
            dd, rp, lv = mu.check_complete_lanes(self, recs, range(last[dev] + 1), device=dev)
            dups, replayed, live = dups + dd, replayed + rp, live + lv
        self.assertGreaterEqual(replayed, 0.8 * spooled, "the outage's messages came back as replay")

        # Replay rate seen by the subscriber (first arrivals of replayed messages).
        dev_topics = {"dcem/s1/devices/%s" % dev for dev in published}
        seen = set()
        rep_t, live_after = [], []
        for t_arr, topic, props, p in recs:
            if topic not in dev_topics or (topic, p["seq"]) in seen:
                continue
            seen.add((topic, p["seq"]))
            if mu.is_replay(props):
                if t_arr >= up:  # (not the few spooled before the very first connection)
                    rep_t.append(t_arr)
            else:
                live_after.append((t_arr, mu_ts(p["ts"])))
        span = max(rep_t) - min(rep_t)
        observed = (len(rep_t) - 1) / span
        print("outage %.0f s: %d spooled, %d replayed over %.1f s = %.0f msg/s (max_rate %g), %d live, %d duplicates"
              % (up - down, spooled, len(rep_t), span, observed, MAX_RATE, live, dups))
        self.assertLessEqual(observed, MAX_RATE * 1.15, "replay faster than replay.max_rate")
        self.assertGreaterEqual(observed, MAX_RATE * 0.6, "replay starved")

        # Live messages made while the backlog drained (once both clients had
        # reconnected) arrived within LIVE_DELAY_MAX.
        drain = [(a, ts) for a, ts in live_after if up + 3 <= ts <= max(rep_t) - 1]
        self.assertGreater(len(drain), RATE * (max(rep_t) - up - 4) * 0.8, "too few live messages during the drain")
        delays = sorted(a - ts for a, ts in drain)
        p99 = delays[int(len(delays) * 0.99)]
        print("live during the drain: %d messages, delay median %.3f s, p99 %.3f s, max %.3f s"
              % (len(delays), delays[len(delays) // 2], p99, delays[-1]))
        self.assertLess(delays[-1], LIVE_DELAY_MAX)
        # The replayed ones waited: the oldest about as long as the drain.
        self.assertGreater(max(rep_t) - up, 0.5 * spooled / MAX_RATE)

        # The publisher's own counters during the drain.
        stats = [json_stats for json_stats in (s for s in [mu_parse(l) for l in d.lines("STATS ")]) if json_stats]
        # (connected with a large backlog; the first 2 s are the rate window's warm-up)
        rates = [s["mqtt"]["replay_rate"] for s in stats
                 if s["mqtt"]["connected"] and s["mqtt"]["spool"]["backlog"] > MAX_RATE * 3][4:]
        self.assertTrue(rates, "no stats while the backlog was large")
        print("publisher's replay_rate during the drain: %s" % " ".join("%.0f" % r for r in rates))
        mid = sorted(rates)[len(rates) // 2]
        self.assertGreater(mid, MAX_RATE * 0.6)
        self.assertLess(mid, MAX_RATE * 1.15)
        depths = [s["mqtt"]["spool"]["backlog"] for s in stats if s["mqtt"]["connected"] and s["mqtt"]["replayed"] > 0]
        self.assertGreater(max(depths), MAX_RATE * 3)
        self.assertEqual(depths[-1], 0)


def mu_ts(text):
    """RFC 3339 UTC with milliseconds -> Unix seconds."""
    import calendar
    main, frac = text.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000.0


def mu_parse(line):
    import json
    try:
        return json.loads(line[6:])
    except ValueError:
        return None


if __name__ == "__main__":
    dcemtest.main()
