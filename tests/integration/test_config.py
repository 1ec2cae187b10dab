# SPDX-License-Identifier: Apache-2.0
"""`--config FILE` for `sluice serve` and `sluice admin` (issue 13,
docs/cli.md "Configuration file").

The file's keys are the long options; the command line wins over the file;
`admin` takes data, db, store and keys from the server's file and ignores the
server-only keys; unknown keys, duplicate keys and bad values are exit 2
naming FILE:LINE and the key; a file group or others may read that holds a
password gets a warning; a file that cannot be read is exit 3.

Runs on the configured back ends (SLUICE_TEST_DB, SLUICE_TEST_STORE): the
file carries the db and store URLs the fixtures made, so the same test
covers SQLite + folder and PostgreSQL + S3.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402


class Config(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-config-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data = os.path.join(self.tmp, "data")
        self.db = sv.db_url(self.data)
        store_args, self.env = sv.store_for(self.data)
        self.store = store_args[1] if store_args else None
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def write(self, text, name="hub.conf", mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def backend_lines(self):
        lines = "data = %s\n" % self.data
        if self.db:
            lines += "db = %s\n" % self.db
        if self.store:
            lines += "store = %s\n" % self.store
        return lines

    def serve(self, *args):
        err = open(os.path.join(self.tmp, "serve.stderr"), "ab")
        p = subprocess.Popen([sv.BIN, "serve", *args], stdout=subprocess.DEVNULL, stderr=err,
                             stdin=subprocess.DEVNULL, env=sv.clean_env(self.env), cwd=self.tmp)
        err.close()
        self.procs.append(p)
        return p

    def wait_up(self, proc, port, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), "serve exited: %s" % self.serve_err())
            try:
                r = sv.http_request(port, "GET", "/api/v1/health", timeout=2)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.fail("serve did not come up on %d: %s" % (port, self.serve_err()))

    def serve_err(self):
        with open(os.path.join(self.tmp, "serve.stderr"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-2000:]

    def stop(self, proc):
        proc.terminate()
        self.assertEqual(proc.wait(15), 0)

    def admin(self, *args):
        return st.run("admin", *args, env=sv.clean_env(self.env), timeout=120)

    def test_serve_and_admin_share_one_file_and_the_command_line_wins(self):
        port, other = sv.free_port(), sv.free_port()
        conf = self.write("# the hub\n" + self.backend_lines() +
                          "listen = 127.0.0.1:%d\n"
                          "origin = config.example.org/log\n"
                          "threads = 2\n"
                          "drain = 5\n"
                          "max-conns-per-ip = 16\n" % port)
        p = self.serve("--config", conf)
        self.wait_up(p, port)
        # admin reads data/db/store/keys from the server's file (listen and the
        # other server keys are ignored, not refused)
        r = self.admin("user", "add", "bob", "--json", "--config", conf)
        self.assertEqual(r.rc, 0, repr(r))
        tok = json.loads(r.stdout)["token"]
        r = sv.http_request(port, "GET", "/api/whoami-v2", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["name"], "bob")
        r = sv.http_request(port, "GET", "/log/checkpoint")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body.startswith(b"config.example.org/log\n"), r.body[:80])
        r = self.admin("fsck", "--json", "--config=" + conf)
        self.assertEqual(r.rc, 0, repr(r))
        # the file's keys beat SLUICE_DATA / SLUICE_DB, as options do
        env = sv.clean_env(self.env)
        env["SLUICE_DATA"] = os.path.join(self.tmp, "nothing-here")
        if self.db:  # on SQLite the file names no db: SLUICE_DB would apply
            env["SLUICE_DB"] = "sqlite:" + os.path.join(self.tmp, "nothing-here", "x.db")
        r = st.run("admin", "fsck", "--json", "--config", conf, env=env, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        self.stop(p)
        # an option on the command line beats the file's
        p = self.serve("--listen", "127.0.0.1:%d" % other, "--config", conf)
        self.wait_up(p, other)
        with self.assertRaises(OSError):
            sv.http_request(port, "GET", "/api/v1/health", timeout=2)
        self.stop(p)
        # and for admin: --data on the command line names another folder
        elsewhere = os.path.join(self.tmp, "elsewhere")
        os.mkdir(elsewhere, 0o700)
        r = st.run("admin", "user", "add", "carol", "--config", conf, "--data", elsewhere,
                   "--db", "sqlite:" + os.path.join(elsewhere, "sluice.db"), "--store",
                   "file:" + os.path.join(elsewhere, "packs"), env=sv.clean_env(self.env))
        self.assertEqual(r.rc, 0, repr(r))
        self.assertTrue(os.path.exists(os.path.join(elsewhere, "sluice.db")))

    def assertConfError(self, r, *want):
        self.assertEqual(r.rc, 2, repr(r))
        self.assertEqual(r.stdout, "", repr(r))
        self.assertEqual(r.stderr.count("\n"), 1, repr(r))
        for w in want:
            self.assertIn(w, r.stderr)

    def test_bad_files_are_exit_2_naming_file_line_and_key(self):
        cases = [
            ("db = sqlite:/x\nlisten-on = 127.0.0.1:1\n", ":2: unknown key \"listen-on\""),
            ("# a\n\nstore = file:/a\nstore = file:/b\n",
             ":4: duplicate key \"store\" (first set on line 3)"),
            ("threads = lots\n", ":1: threads: wants a number from 0 to 3600"),
            ("max-conns-per-ip = 0\n", ":1: max-conns-per-ip: wants a number"),
            ("listen = 127.0.0.1:99999\n", ":1: listen:"),
            ("store = /var/lib/packs\n", ":1: store: \"/var/lib/packs\" is not a store URL"),
            ("db = mysql://root:hunter2@db/x\n", ":1: db:"),
            ("data /var/lib/sluice\n", ":1: expected \"key = value\""),
            ("data = \n", ":1: data: empty value"),
            ("public-url = hub.example.org\n", ":1: public-url:"),
        ]
        for text, want in cases:
            conf = self.write(text, "bad.conf")
            r = st.run("serve", "--config", conf, env=sv.clean_env(), timeout=30)
            self.assertConfError(r, conf + want)
            self.assertNotIn("hunter2", r.stderr)
            r = st.run("admin", "fsck", "--config", conf, env=sv.clean_env(), timeout=30)
            self.assertConfError(r, conf + want)
        self.assertFalse(os.path.exists(self.data), "a bad file started nothing")

    def test_missing_or_unreadable_file_and_bad_usage(self):
        missing = os.path.join(self.tmp, "nope.conf")
        r = st.run("serve", "--config", missing, env=sv.clean_env())
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn(missing, r.stderr)
        r = st.run("admin", "gc", "--config", missing, env=sv.clean_env())
        self.assertEqual(r.rc, 3, repr(r))
        conf = self.write("data = %s\n" % self.data)
        r = st.run("serve", "--config", conf, "--config", conf, env=sv.clean_env())
        self.assertConfError(r, "--config given twice")
        r = st.run("serve", "--config", env=sv.clean_env())
        self.assertConfError(r, "--config needs a value")
        big = self.write("#" * (70 * 1024), "big.conf")
        r = st.run("admin", "fsck", "--config", big, env=sv.clean_env())
        self.assertConfError(r, "big.conf", "at most 65536 bytes")

    def test_a_readable_file_with_a_password_is_warned_about(self):
        # an unreachable PostgreSQL (port 1): exit 3 with the URL, password removed
        os.mkdir(self.data, 0o700)
        text = "data = %s\ndb = postgresql://sluice:s3cr3t@127.0.0.1:1/hub\n" % self.data
        for mode, warned in ((0o644, True), (0o640, True), (0o600, False)):
            conf = self.write(text, "pw.conf", mode)
            r = self.admin("fsck", "--config", conf)
            self.assertEqual(r.rc, 3, repr(r))
            self.assertNotIn("s3cr3t", r.stderr)
            self.assertIn("postgresql://sluice@127.0.0.1:1/hub", r.stderr)
            self.assertEqual("holds a database password" in r.stderr, warned, (mode, r))
            if warned:
                self.assertIn("mode %04o" % mode, r.stderr)
        # no password, no warning whatever the mode
        conf = self.write("data = %s\ndb = postgresql://sluice@127.0.0.1:1/hub\n" % self.data,
                          "nopw.conf", 0o644)
        r = self.admin("fsck", "--config", conf)
        self.assertEqual(r.rc, 3, repr(r))
        self.assertNotIn("warning", r.stderr)


if __name__ == "__main__":
    unittest.main()
