"""The SNMP collector against net-snmp's snmpd on 127.0.0.1: v1 GETNEXT and
v2c GETBULK table walks (values checked against snmpwalk's), SNMPv3 authPriv
users created in a temp config (SHA-256/AES-128, SHA-512/AES-256, MD5/DES as
far as this net-snmp builds them), a wrong password reported as an
authentication failure naming the user, and a dead agent that does not delay
the many live devices polled with it from one thread."""
import os
import shutil
import subprocess
import unittest

import dcemtest
import snmp_util

IFMTU = "1.3.6.1.2.1.2.2.1.4"
IFTYPE = "1.3.6.1.2.1.2.2.1.3"
SYSUPTIME = "1.3.6.1.2.1.1.3.0"


def snmpwalk(port, column):
    """{index: int} of a column as net-snmp's own snmpwalk sees it (v1)."""
    exe = shutil.which("snmpwalk")
    if not exe:
        raise unittest.SkipTest("snmpwalk is not installed")
    r = subprocess.run([exe, "-v1", "-c", "public", "-On", "-Oq", "-Ot", "%s:%d" % (dcemtest.LOOPBACK, port), column],
                       capture_output=True, env=dict(os.environ, MIBS=""), check=True)
    out = {}
    for line in r.stdout.decode().splitlines():
        oid, val = line.split(" ", 1)
        out[oid.lstrip(".")[len(column) + 1:]] = int(val)
    return out


def points_yaml():
    return ('points: [ { name: uptime_s, oid: %s, scale: 0.01, unit: s }, { name: "mtu.if{i1}", column: %s }, '
            '{ name: "type.if{i1}", column: %s }, { name: absent, oid: 1.3.6.1.2.1.1.99.0, optional: true } ]'
            % (SYSUPTIME, IFMTU, IFTYPE))


class SnmpAgents(dcemtest.TempDirTestCase):
    V3USERS = [("u256", "SHA-256", "AES-128", "SHA-256", "AES"),
               ("u512", "SHA-512", "AES-256", "SHA-512", "AES-256"),
               ("umd5", "MD5", "DES", "MD5", "DES")]

    def start(self):
        lines = []
        for user, _, _, a, p in self.V3USERS:
            lines.append("createUser %s %s authpass-%s %s privpass-%s" % (user, a, user, p, user))
            lines.append("rouser %s priv" % user)
        return snmp_util.start_snmpd(self, lines)

    def check_walk(self, samples, dev, mtu, types):
        for idx, v in mtu.items():
            self.assertEqual(samples[(dev, "mtu.if" + idx)]["value"], v)
            self.assertEqual(samples[(dev, "type.if" + idx)]["value"], types[idx])
        self.assertFalse([k for k in samples if k[0] == dev and k[1].startswith("mtu.if") and k[1][6:] not in mtu])
        self.assertNotIn((dev, "absent"), samples)

    def test_v1_getnext_v2c_getbulk_and_v3(self):
        port = self.start()
        mtu, types = snmpwalk(port, IFMTU), snmpwalk(port, IFTYPE)
        self.assertTrue(mtu)
        yaml = ('  - { name: v1, snmp: { address: "udp://127.0.0.1:%d", version: 1, %s } }\n'
                '  - { name: v2c, snmp: { address: "udp://127.0.0.1:%d", version: 2c, %s } }\n'
                % (port, points_yaml(), port, points_yaml()))
        for user, auth, priv, _, _ in self.V3USERS:
            a = snmp_util.secret_file(self, user + ".auth", "authpass-" + user)
            p = snmp_util.secret_file(self, user + ".priv", "privpass-" + user)
            yaml += ('  - { name: %s, snmp: { address: "udp://127.0.0.1:%d", version: 3, user: %s, '
                     'security_level: authPriv, auth_protocol: %s, auth_password_file: %s, priv_protocol: %s, '
                     'priv_password_file: %s, %s } }\n' % (user, port, user, auth, a, priv, p, points_yaml()))
        samples, summaries, _ = snmp_util.run_driver(self.tmp, yaml, polls=2)
        last = {s["device"]: s for s in summaries if s["poll"] == 1}
        for dev in ["v1", "v2c"] + [u[0] for u in self.V3USERS]:
            self.assertEqual(last[dev]["status"], 0, "%s: %s" % (dev, last[dev]["error"]))
            self.check_walk(samples, dev, mtu, types)
        # v1: the GET hits noSuchName on the absent OID and is sent again
        # without it (2), then GETNEXT walks a row per request (+1 to see the
        # end). v2c: one GET (absent is a noSuchObject varbind), one GETBULK.
        self.assertEqual(last["v1"]["requests"], 2 + len(mtu) + 1)
        self.assertEqual(last["v2c"]["requests"], 2)
        # v3: engine discovery only on the first poll.
        self.assertEqual(last["u256"]["requests"], 2)

    def test_v3_wrong_password_is_an_authentication_failure(self):
        port = self.start()
        a = snmp_util.secret_file(self, "bad.auth", "not-the-password")
        p = snmp_util.secret_file(self, "u256.priv", "privpass-u256")
        yaml = ('  - { name: bad, snmp: { address: "udp://127.0.0.1:%d", version: 3, user: u256, '
                'auth_protocol: SHA-256, auth_password_file: %s, priv_password_file: %s, timeout: 1s, %s } }\n'
                % (port, a, p, points_yaml()))
        samples, summaries, _ = snmp_util.run_driver(self.tmp, yaml)
        self.assertEqual(summaries[0]["status"], -13)  # -EACCES
        self.assertIn("authentication failed for user u256", summaries[0]["error"])
        self.assertLess(summaries[0]["elapsed_ms"], 1000)  # the report, not a timeout
        yaml = yaml.replace("user: u256", "user: nosuchuser")
        samples, summaries, _ = snmp_util.run_driver(self.tmp, yaml, name="drv2")
        self.assertIn("does not know user nosuchuser", summaries[0]["error"])

    def test_dead_agent_does_not_delay_the_others(self):
        port = self.start()
        dead = dcemtest.free_port(kind=__import__("socket").SOCK_DGRAM)  # nobody answers there
        n = 40
        yaml = ('  - { name: dead, snmp: { address: "udp://127.0.0.1:%d", timeout: 1500ms, retries: 1, %s } }\n'
                % (dead, points_yaml()))
        for i in range(n):
            yaml += ('  - { name: live%d, snmp: { address: "udp://127.0.0.1:%d", timeout: 1500ms, retries: 1, %s } }\n'
                     % (i, port, points_yaml()))
        samples, summaries, _ = snmp_util.run_driver(self.tmp, yaml, polls=2)
        live = [s for s in summaries if s["device"] != "dead"]
        deads = [s for s in summaries if s["device"] == "dead"]
        self.assertEqual(len(live), 2 * n)
        self.assertEqual(len(deads), 2)
        for s in live:
            self.assertEqual(s["status"], 0, s)
            self.assertLess(s["elapsed_ms"], 1000, s)  # loose: the dead one takes 3 s
        for s in deads:
            self.assertEqual(s["status"], -110)
            self.assertIn("no answer from 127.0.0.1:%d" % dead, s["error"])
            self.assertGreater(s["elapsed_ms"], 2500)  # 1.5 s x (1 + 1 retry)


if __name__ == "__main__":
    dcemtest.main()
