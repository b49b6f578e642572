"""MQTT connection security against a real mosquitto: TLS with a CA made by
the test (openssl), hostname verification (on by default, a wrong name
fails; off only by an option that is logged), a wrong CA, mutual TLS,
password authentication (right and wrong password, MQTT 5 and 3.1.1), and
WebSockets. Each failure must be a clear error in the log, and no message
may go out over a connection that should have been refused.
"""
import os
import subprocess
import time
import unittest

import dcemtest
import mqtt_util as mu


class MqttSecurity(dcemtest.TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.ca = mu.make_ca(self.tmp, "ca")
        self.other_ca = mu.make_ca(self.tmp, "otherca")
        self.good = mu.make_cert(self.tmp, self.ca, "broker", "IP:127.0.0.1,DNS:localhost")
        self.wrong = mu.make_cert(self.tmp, self.ca, "wrongname", "DNS:wrong.example")
        self.client = mu.make_cert(self.tmp, self.ca, "client1", "DNS:client1", client=True)
        self.p_tls, self.p_wrong, self.p_mtls, self.p_ws = (dcemtest.free_port() for _ in range(4))
        conf = ""
        for port, cert, extra in ((self.p_tls, self.good, ""), (self.p_wrong, self.wrong, ""),
                                  (self.p_mtls, self.good, "require_certificate true\n")):
            conf += "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n%s" % (
                port, self.ca[0], cert[0], cert[1], extra)
        conf += "listener %d 127.0.0.1\nprotocol websockets\n" % self.p_ws
        self.broker, self.port = mu.start_broker(self, extra_conf=conf)
        for p in (self.p_tls, self.p_wrong, self.p_mtls):
            dcemtest.wait_tcp(p)

    def run_driver(self, url, extra, name, count=5, expect_ok=True):
        cfg = mu.write_config(self, url, name=name + ".yaml", state_dir=os.path.join(self.tmp, name),
                              mqtt_extra=extra)
        d = mu.Driver(self, cfg, "--count", count, "--rate", 50, "--drain-timeout", 10 if expect_ok else 3,
                      name=name)
        rc = d.wait_exit(40)
        return d, rc

    def sub(self, cid):
        s = mu.Subscriber(self, self.port, client_id=cid)
        time.sleep(0.5)
        return s

    def test_tls_with_test_ca(self):
        s = self.sub("s-tls")
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_tls, "tls: { ca_file: %s }" % self.ca[0], "tls")
        self.assertEqual(rc, 0, d.proc.log_text())
        msgs = s.wait_for(lambda m: len(mu.device_seqs(m)) >= 5, timeout=10)
        self.assertEqual(sorted(mu.device_seqs(msgs)), list(range(5)))
        # The same with a CA directory (hashed names, as c_rehash makes them).
        cadir = os.path.join(self.tmp, "cadir")
        os.makedirs(cadir)
        h = subprocess.run([mu.need("openssl"), "x509", "-hash", "-noout", "-in", self.ca[0]],
                           capture_output=True, check=True).stdout.decode().strip()
        os.symlink(self.ca[0], os.path.join(cadir, h + ".0"))
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_tls, "tls: { ca_dir: %s }" % cadir, "tlsdir")
        self.assertEqual(rc, 0, d.proc.log_text())

    def test_wrong_hostname_fails_unless_turned_off(self):
        s = self.sub("s-wrong")
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_wrong, "tls: { ca_file: %s }" % self.ca[0],
                                "wrongname", expect_ok=False)
        self.assertEqual(rc, 4, d.proc.log_text())
        log = d.proc.log_text()
        self.assertRegex(log, r"mqtt: connecting to mqtts://127\.0\.0\.1:%d failed: .*certificate check failed"
                         % self.p_wrong)
        self.assertNotIn("mqtt: connected", log)
        time.sleep(0.5)
        self.assertEqual(mu.device_seqs(s.messages()), [])
        # verify_hostname: false connects, with a warning.
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_wrong,
                                "tls: { ca_file: %s, verify_hostname: false }" % self.ca[0], "wrongname-off")
        self.assertEqual(rc, 0, d.proc.log_text())
        self.assertIn("verify_hostname is OFF", d.proc.log_text())
        msgs = s.wait_for(lambda m: len(mu.device_seqs(m)) >= 5, timeout=10)
        self.assertEqual(sorted(mu.device_seqs(msgs)), list(range(5)))

    def test_wrong_ca_fails(self):
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_tls, "tls: { ca_file: %s }" % self.other_ca[0],
                                "wrongca", expect_ok=False)
        self.assertEqual(rc, 4)
        log = d.proc.log_text()
        self.assertRegex(log, r"mqtt: connecting to mqtts://127\.0\.0\.1:%d failed" % self.p_tls)
        self.assertRegex(log, r"failed: .*TLS: certificate verify failed")
        self.assertNotIn("mqtt: connected", log)
        # insecure_skip_verify connects anyway, loudly.
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_tls,
                                "tls: { ca_file: %s, insecure_skip_verify: true }" % self.other_ca[0], "insecure")
        self.assertEqual(rc, 0, d.proc.log_text())
        self.assertIn("insecure_skip_verify is ON", d.proc.log_text())
        self.assertIn("NOT verified", d.proc.log_text())

    def test_mutual_tls(self):
        s = self.sub("s-mtls")
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_mtls, "tls: { ca_file: %s }" % self.ca[0],
                                "nocert", expect_ok=False)
        self.assertEqual(rc, 4)
        self.assertNotIn("mqtt: connected", d.proc.log_text())
        d, rc = self.run_driver("mqtts://127.0.0.1:%d" % self.p_mtls,
                                "tls: { ca_file: %s, cert_file: %s, key_file: %s }" % (self.ca[0], *self.client),
                                "mtls")
        self.assertEqual(rc, 0, d.proc.log_text())
        msgs = s.wait_for(lambda m: len(mu.device_seqs(m)) >= 5, timeout=10)
        self.assertEqual(sorted(mu.device_seqs(msgs)), list(range(5)))

    def test_websockets(self):
        s = self.sub("s-ws")
        d, rc = self.run_driver("ws://127.0.0.1:%d" % self.p_ws, "", "ws")
        self.assertEqual(rc, 0, d.proc.log_text())
        msgs = s.wait_for(lambda m: len(mu.device_seqs(m)) >= 5, timeout=10)
        self.assertEqual(sorted(mu.device_seqs(msgs)), list(range(5)))


class MqttPassword(dcemtest.TempDirTestCase):

    def test_password_auth(self):
        passwd = mu.need("mosquitto_passwd")
        pwfile = os.path.join(self.tmp, "mosq.passwd")
        subprocess.run([passwd, "-b", "-c", pwfile, "dcem", "s3cret pass"], check=True, capture_output=True)
        os.chmod(pwfile, 0o644)
        b, port = mu.start_broker(self, extra_conf="allow_anonymous false\npassword_file %s\n" % pwfile)
        good = os.path.join(self.tmp, "good.pass")
        bad = os.path.join(self.tmp, "bad.pass")
        with open(good, "w") as f:
            f.write("s3cret pass\n")
        with open(bad, "w") as f:
            f.write("wrong\n")
        for version in ("5", "3.1.1"):
            name = "pw-ok-%s" % version
            cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port, name=name + ".yaml",
                                  state_dir=os.path.join(self.tmp, name),
                                  mqtt_extra="version: %s\nusername: dcem\npassword_file: %s" % (version, good))
            d = mu.Driver(self, cfg, "--count", 3, "--rate", 50, "--drain-timeout", 10, name=name)
            self.assertEqual(d.wait_exit(30), 0, d.proc.log_text())
            name = "pw-bad-%s" % version
            cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port, name=name + ".yaml",
                                  state_dir=os.path.join(self.tmp, name),
                                  mqtt_extra="version: %s\nusername: dcem\npassword_file: %s" % (version, bad))
            d = mu.Driver(self, cfg, "--count", 3, "--rate", 50, "--drain-timeout", 3, name=name)
            self.assertEqual(d.wait_exit(30), 4)
            log = d.proc.log_text()
            self.assertRegex(log, r"mqtt: connecting to mqtt://127\.0\.0\.1:%d failed: .*([Nn]ot authori[sz]ed|[Bb]ad user name or password)" % port,
                             log)
        # A password file that is not there: init fails, naming the file.
        cfg = mu.write_config(self, "mqtt://127.0.0.1:%d" % port, name="nofile.yaml",
                              mqtt_extra="username: dcem\npassword_file: %s/nope" % self.tmp)
        d = mu.Driver(self, cfg, "--count", 1, name="nofile")
        self.assertEqual(d.wait_exit(10), 3)
        self.assertIn("password_file %s/nope: No such file" % self.tmp, d.proc.log_text())


if __name__ == "__main__":
    dcemtest.main()
