"""`dcem-agent probe snmp://...`, the command users run: it identifies the
device (sysObjectID, then the vendors' identity objects), reads the chosen
profile's points once and prints a device block that the agent accepts
(--check-config) and polls (--once).

Against snmpsimd serving the real recordings in ../shared/testdata/snmprec
(skipped when absent) and against dcem-sim (v2c and v3 authPriv). The profile
expected for each device is written here from what the device is (the
recordings' README and the simulated site's vendors), not from the profiles'
own sys_object_id lists; values are checked against the recordings and the
simulator's truth."""
import json
import os
import re
import shutil
import subprocess
import unittest

import dcemtest
import simtest
import snmp_util

PROFILES = os.path.join(dcemtest.SOURCE_DIR, "conf", "profiles")
E = "1.3.6.1.4.1."

# recording -> the profile for that device (README of testdata/snmprec).
RECORDED = {
    "apc_ap8853": "apc-rpdu2", "apc-ap8641": "apc-rpdu2", "raritan-pdu_px2": "raritan-pdu2",
    "sentry4": "sentry4", "eatonpdu_2": "eaton-epdu", "vertiv-pdu_mg02e4w1": "vertiv-geist",
    "apc_smx750": "apc-ups", "deltaups_rfc1628string": "ups-mib", "liebert_weblbds": "liebert",
    "apc_inrow-dx": "apc-inrow",
}


def probe(url, timeout=90):
    r = subprocess.run([dcemtest.binary("dcem-agent"), "probe", "--profiles-dir", PROFILES, url],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def readings(out):
    """{point: (value or None, unit)} from the probe's report."""
    got = {}
    for line in out.splitlines():
        m = re.match(r"#   (\S+)\s+(error|[-0-9.e+]+)\s*(\S*)", line)
        if m:
            got[m.group(1)] = (None if m.group(2) == "error" else float(m.group(2)), m.group(3))
    return got


class ProbeCase(dcemtest.TempDirTestCase):
    def check_block_runs(self, out, tag):
        """The printed block, pasted into a minimal config, passes
        --check-config, and --once polls it with exit 0. Returns --once's
        samples as {point: dict}."""
        self.assertIn("devices:", out)
        cfg = os.path.join(self.tmp, tag + ".yaml")
        state = os.path.join(self.tmp, "state-" + tag)
        os.makedirs(state, exist_ok=True)
        with open(cfg, "w") as f:
            f.write("site: probe-test\nstate_dir: %s\nprofiles_dir: %s\noutput:\n  stdout: true\n" % (state, PROFILES))
            f.write(out[out.index("devices:"):])
        agent = dcemtest.binary("dcem-agent")
        r = subprocess.run([agent, "-c", cfg, "--check-config"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "%s: --check-config: %s%s\n%s" % (tag, r.stdout, r.stderr, out))
        r = subprocess.run([agent, "-c", cfg, "--once"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, "%s: --once: %s" % (tag, r.stderr))
        samples = {}
        for line in r.stdout.splitlines():
            o = json.loads(line)
            if o.get("device", "").startswith("_"):
                continue
            samples[o["point"]] = o
        self.assertTrue(samples, "%s: --once printed no sample" % tag)
        return samples


class ProbeRecordings(ProbeCase):
    def setUp(self):
        super().setUp()
        self.recdir = dcemtest.shared_path("testdata", "snmprec")
        files = [os.path.join(self.recdir, r + ".snmprec") for r in list(RECORDED) + ["stulz_wib8000"]]
        self.port = snmp_util.start_snmpsimd(self, files, "apc_ap8853")

    def url(self, community, extra=""):
        return "snmp://127.0.0.1:%d?version=2c&community=%s%s" % (self.port, community, extra)

    def test_each_recording_gets_its_profile_and_a_working_block(self):
        for rec, want in RECORDED.items():
            with self.subTest(rec=rec):
                rc, out, err = probe(self.url(rec))
                self.assertEqual(rc, 0, "%s: %s%s" % (rec, out, err))
                self.assertIn("      profile: %s\n" % want, out)
                self.assertRegex(out, r"# profile:\s+%s \(chosen by" % re.escape(want))
                parsed = snmp_util.parse_snmprec(os.path.join(self.recdir, rec + ".snmprec"))
                self.assertIn("# sysObjectID: %s\n" % parsed["1.3.6.1.2.1.1.2.0"][1].lstrip("."), out)
                samples = self.check_block_runs(out, rec)
                # What the probe printed is what the agent publishes.
                for point, (v, unit) in readings(out).items():
                    if v is None or point not in samples or samples[point]["value"] is None:
                        continue
                    self.assertAlmostEqual(v, samples[point]["value"], delta=1e-6 * max(1, abs(v)),
                                           msg="%s %s" % (rec, point))

    def test_values_and_identity_against_the_recordings(self):
        rec = snmp_util.parse_snmprec(os.path.join(self.recdir, "apc-ap8641.snmprec"))
        rc, out, err = probe(self.url("apc-ap8641"))
        self.assertEqual(rc, 0, err)
        self.assertIn("# model:       %s\n" % rec[E + "318.1.1.26.2.1.8.1"][1], out)  # rPDU2IdentModelNumber
        self.assertIn("# sysName:     %s\n" % rec["1.3.6.1.2.1.1.5.0"][1], out)
        got = readings(out)
        self.assertEqual(got["energy_kwh"], (rec[E + "318.1.1.26.4.3.1.9.1"][1] / 10, "kWh"))
        self.assertEqual(got["power_kw"], (rec[E + "318.1.1.26.4.3.1.5.1"][1] / 100, "kW"))
        outlets = snmp_util.column_rows(rec, E + "318.1.1.26.9.4.3.1.7")
        for idx, w in outlets.items():
            self.assertAlmostEqual(got["power_kw.outlet" + idx][0], w / 1000)
        # The device's sysName names the device in the block.
        self.assertIn("  - name: pwr-dc01-pdu-rack1-01\n", out)

        # RFC 1628 has no sysObjectID: the Delta UPS is recognised by its mandatory objects.
        rec = snmp_util.parse_snmprec(os.path.join(self.recdir, "deltaups_rfc1628string.snmprec"))
        rc, out, err = probe(self.url("deltaups_rfc1628string"))
        self.assertEqual(rc, 0, err)
        self.assertIn("chosen by identity objects", out)
        self.assertEqual(readings(out)["power_kw.line1"], (rec["1.3.6.1.2.1.33.1.4.4.1.4.1"][1] / 1000, "kW"))
        # The Liebert unit answers the same UPS-MIB objects, but its sysObjectID wins.
        rc, out, err = probe(self.url("liebert_weblbds"))
        self.assertEqual(rc, 0, err)
        self.assertIn("liebert (chosen by sysObjectID)", out)

    def test_unknown_device_unreachable_device_and_bad_urls(self):
        rc, out, err = probe(self.url("stulz_wib8000"))
        self.assertEqual(rc, 2, out + err)
        self.assertIn("none of the profiles fits", out)
        self.assertIn("# sysDescr:    Stulz GmbH Klimatechnik WIB 8000", out)
        self.assertIn("points: []", out)
        self.assertIn("no profile fits", err)
        # Wrong community: snmpsimd stays silent -> not reached.
        dead = dcemtest.free_port(kind=__import__("socket").SOCK_DGRAM)
        for url in (self.url("no-such-community", "&timeout=0.3s&retries=0"),
                    "snmp://127.0.0.1:%d?timeout=0.3s&retries=0" % dead):
            rc, out, err = probe(url)
            self.assertEqual(rc, 2, out + err)
            self.assertIn("no answer from 127.0.0.1", err)
            self.assertNotIn("devices:", out)
        for url, why in (("snmp://127.0.0.1?version=3&user=u&auth_password=secret123", "never given in the URL"),
                         ("snmp://127.0.0.1?version=2c&color=red", "unknown parameter"),
                         ("snmp://127.0.0.1:99999", "HOST[:PORT]"),
                         ("snmp://127.0.0.1?version=4", "version"),
                         ("snmp://127.0.0.1?community=%zz", "malformed"),
                         ("snmp://127.0.0.1?version=2c&version=1", "twice")):
            rc, out, err = probe(url)
            self.assertEqual(rc, 1, "%s: %s%s" % (url, out, err))
            self.assertIn(why, err, url)


class ProbeSim(ProbeCase):
    """dcem-sim: the simulated site's vendors (conf/sim/demo-site.yaml)."""
    SITE_PROFILES = {"pdu-a1": "apc-rpdu2", "pdu-a2": "raritan-pdu2", "pdu-a3": "sentry4",
                     "pdu-a4": "eaton-epdu", "ups-a": "ups-mib"}

    def setUp(self):
        super().setUp()
        self.proc, self.ready = simtest.start_sim(
            self, ["-c", simtest.DEMO_SITE, "--speed", "0", "--start", simtest.SOLSTICE])
        simtest.control(self.ready, "advance 1h")
        self.truth = simtest.control(self.ready, "truth")["devices"]

    def test_sim_devices_v2c(self):
        for dev, want in self.SITE_PROFILES.items():
            with self.subTest(dev=dev):
                port = simtest.device(self.ready, dev)["port"]
                rc, out, err = probe("snmp://127.0.0.1:%d?community=public" % port)
                self.assertEqual(rc, 0, out + err)
                self.assertIn("      profile: %s\n" % want, out)
                got = readings(out)
                self.assertAlmostEqual(got["power_kw"][0], self.truth[dev]["power_kw"],
                                       delta=0.02 * max(1, self.truth[dev]["power_kw"]))
                self.check_block_runs(out, dev)

    def test_sim_v3_authpriv(self):
        auth = snmp_util.secret_file(self, "auth", "dcem-sim-auth")
        priv = snmp_util.secret_file(self, "priv", "dcem-sim-priv")
        port = simtest.device(self.ready, "pdu-a1")["port"]
        base = "snmp://127.0.0.1:%d?version=3&user=dcemsim&security_level=authPriv&auth_protocol=SHA" % port
        rc, out, err = probe(base + "&auth_password_file=%s&priv_protocol=AES-128&priv_password_file=%s"
                             % (auth, priv))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("      profile: apc-rpdu2\n", out)
        self.assertIn("      auth_password_file: \"%s\"\n" % auth, out)
        self.assertNotIn("dcem-sim-auth", out)  # the secret itself never printed
        self.check_block_runs(out, "v3")
        # A wrong password is an authentication failure, said so.
        bad = snmp_util.secret_file(self, "bad", "not-the-password")
        rc, out, err = probe(base + "&auth_password_file=%s&priv_protocol=AES-128&priv_password_file=%s"
                             % (bad, priv))
        self.assertEqual(rc, 2, out + err)
        self.assertIn("authentication failed for user dcemsim", err)
        # A world-readable password file is refused before anything is sent.
        os.chmod(bad, 0o644)
        rc, out, err = probe(base + "&auth_password_file=%s&priv_protocol=AES-128&priv_password_file=%s"
                             % (bad, priv))
        self.assertEqual(rc, 1, out + err)
        self.assertIn("accessible by others", err)


if __name__ == "__main__":
    dcemtest.main()
