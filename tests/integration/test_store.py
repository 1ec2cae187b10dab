# SPDX-License-Identifier: Apache-2.0
"""The blob store seam end to end (docs/storage.md): packs land in the
configured store (the data folder, or the bucket when SLUICE_TEST_STORE=s3),
objects another tool wrote into the store survive gc and are listed by fsck,
a stray pack past the grace period is removed, and a store that cannot be
reached or is misconfigured stops `serve` and `admin` with one clear line.

CTest runs this file twice: integration.test_store (folder, SQLite) and
integration_pgs3.test_store (moto, PostgreSQL)."""
import json
import os
import random
import shutil
import tempfile
import time
import unittest

import s3fixture
import server as sv
import sluicetest as st

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class StoreCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-store-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
        except BaseException:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.home = os.path.join(cls.tmp, "home")
        os.makedirs(cls.home)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    # ---------------------------------------------------------------- helpers

    def push(self, model, folder, srv=None, token=None):
        facts = os.path.join(self.work, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        r = st.run("push", model, folder, "--facts", facts, "--json",
                   env=(srv or self.srv).client_env(token or self.alice, self.home),
                   timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        return json.loads(r.stdout)

    def pull(self, spec, dest):
        r = st.run("pull", spec, "--dest", dest, "--json",
                   env=self.srv.client_env(self.alice, self.home), timeout=120)
        self.assertEqual(r.rc, 0, repr(r))

    def s3(self):
        """(moto, bucket) of the server's store, in the S3 configuration."""
        url = self.srv.store_args[1]
        return sv.shared_moto(), url[len("s3://"):].split("/")[0]

    def store_keys(self):
        """Every object key in the server's store, relative to it."""
        if sv.STORE == "s3":
            m, bucket = self.s3()
            return sorted(k[len("packs/"):] for k in m.list_keys(bucket, "packs/"))
        top = os.path.join(self.srv.data, "packs")
        out = []
        for d in os.listdir(top):
            if d == "tmp":
                continue
            p = os.path.join(top, d)
            if os.path.isdir(p):
                out += [d + "/" + f for f in os.listdir(p)]
            else:
                out.append(d)
        return sorted(out)

    def put_object(self, key, data):
        if sv.STORE == "s3":
            m, bucket = self.s3()
            m.put_object(bucket, "packs/" + key, data)
        else:
            path = os.path.join(self.srv.data, "packs", key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)

    # ---------------------------------------------------------------- tests

    def test_packs_live_in_the_configured_store(self):
        folder = os.path.join(self.work, "m")
        sv.write_random(os.path.join(folder, "w.bin"), 3 << 20, random.Random(1))
        want = sv.tree_digest(folder)
        before = set(self.store_keys())
        self.push("acme/where", folder)
        new = set(self.store_keys()) - before
        self.assertTrue(new, "the push stored no pack in the store")
        for k in new:
            self.assertRegex(k, r"^([0-9a-f]{2})/\1[0-9a-f]{30}\.pack$")
        if sv.STORE == "s3":
            # nothing but the staging folder in DATA/packs
            self.assertEqual(os.listdir(os.path.join(self.srv.data, "packs")), ["tmp"])
            self.assertEqual(os.listdir(os.path.join(self.srv.data, "packs", "tmp")), [])
        dest = os.path.join(self.work, "back")
        self.pull("acme/where", dest)
        self.assertEqual(sv.tree_digest(dest), want)

    def test_other_tools_objects_survive_gc_and_fsck_lists_them(self):
        folder = os.path.join(self.work, "m")
        sv.write_random(os.path.join(folder, "w.bin"), 1 << 20, random.Random(2))
        want = sv.tree_digest(folder)
        self.push("acme/shared", folder)
        foreign = {"README.txt": b"backups of something else\n",
                   "ab/notes.pack": b"looks like a pack, is not one\n",
                   "cd/cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd.bin": b"wrong suffix\n"}
        for k, v in foreign.items():
            self.put_object(k, v)
        # a pack-named object no row names (a crash between upload and commit)
        stray = "ef/ef" + "0" * 30 + ".pack"
        self.put_object(stray, b"\0" * 100)
        time.sleep(1.2)  # past a grace period of 0 s at one-second resolution
        r = self.srv.admin("gc", "--grace", "0", "--json")
        rep = json.loads(r.stdout)
        self.assertEqual(rep["stray_files_removed"], 1, rep)
        keys = set(self.store_keys())
        for k in foreign:
            self.assertIn(k, keys, "gc removed %s, which is not a sluice pack" % k)
        self.assertNotIn(stray, keys)
        r = self.srv.fsck()
        self.assertEqual(r.rc, 0, repr(r))
        doc = json.loads(r.stdout)
        self.assertEqual(sorted(doc["foreign_objects"]), sorted(foreign))
        self.assertEqual(doc["problems"], [])
        dest = os.path.join(self.work, "back")
        self.pull("acme/shared", dest)
        self.assertEqual(sv.tree_digest(dest), want)

    def test_gc_aborts_abandoned_pack_uploads_only(self):
        if sv.STORE != "s3":
            self.skipTest("multipart uploads exist only in S3 (the folder stages in tmp/, "
                          "which the gc tests of test_server_api cover)")
        m, bucket = self.s3()
        pack = "packs/12/12" + "3" * 30 + ".pack"
        other = "packs/someone-elses-upload.bin"
        m.start_upload(bucket, pack)
        m.start_upload(bucket, other)
        time.sleep(1.2)
        r = self.srv.admin("gc", "--grace", "0", "--json")
        rep = json.loads(r.stdout)
        self.assertEqual(rep["uploads_aborted"], 1, rep)
        self.assertEqual(m.upload_keys(bucket), [other])

    def test_a_store_outage_answers_503_with_retry_after_then_recovers(self):
        if sv.STORE != "s3":
            self.skipTest("the outage is simulated by a proxy in front of the S3 server")
        m = sv.shared_moto()
        proxy = s3fixture.FaultProxy(m.url).start()
        self.addCleanup(proxy.stop)
        srv = sv.Server(os.path.join(self.work, "data"), workdir=self.work)
        srv.store_env = m.env(endpoint=proxy.url)
        self.addCleanup(srv.cleanup)
        srv.start()
        alice = srv.add_user("alice")
        srv.add_org("acme")
        srv.add_member("acme", "alice", "publisher")
        folder = os.path.join(self.work, "m")
        sv.write_random(os.path.join(folder, "w.bin"), 12 << 20, random.Random(4))
        with open(os.path.join(folder, "w.bin"), "rb") as f:
            head = f.read(1000)
        self.push("acme/outage", folder, srv, alice)
        url = "/acme/outage/resolve/main/w.bin"
        proxy.down = True
        r = srv.request("GET", url, headers={"Range": "bytes=0-999"}, token=alice)
        self.assertEqual(r.status, 503, repr(r))
        self.assertRegex(r.headers.get("Retry-After", ""), r"^[1-9][0-9]*$", repr(r))
        self.assertEqual(r.json()["error"], "unavailable", repr(r))
        # a large download too: the status is not sent before the store answered
        r = srv.request("GET", url, headers={"Range": "bytes=100-%d" % (1 << 20)}, token=alice)
        self.assertEqual(r.status, 503, repr(r))
        self.assertRegex(r.headers.get("Retry-After", ""), r"^[1-9][0-9]*$", repr(r))
        self.assertTrue(srv.running())
        # a push while the store is down: its upload is answered 503, not 500
        other = os.path.join(self.work, "m2")
        sv.write_random(os.path.join(other, "w.bin"), 300000, random.Random(5))
        facts = os.path.join(self.work, "facts.json")
        r = st.run("push", "acme/outage2", other, "--facts", facts, "--retry-for", "5s",
                   env=srv.client_env(alice, self.home), timeout=120)
        self.assertNotEqual(r.rc, 0, repr(r))
        log = [json.loads(line) for line in srv.stderr().splitlines() if line.startswith("{")]
        uploads = [e for e in log if e.get("path", "").endswith("/outage2/chunks")]
        self.assertTrue(uploads, "no upload reached the server")
        self.assertEqual({e["status"] for e in uploads}, {503}, uploads)
        proxy.down = False
        r = srv.request("GET", url, headers={"Range": "bytes=0-999"}, token=alice)
        self.assertEqual(r.status, 206, repr(r))
        self.assertEqual(r.body, head)
        srv.stop()

    def test_admin_finds_the_servers_store_without_being_told(self):
        folder = os.path.join(self.work, "m")
        sv.write_random(os.path.join(folder, "w.bin"), 100000, random.Random(6))
        self.push("acme/recorded", folder)
        env = sv.clean_env(self.srv.store_env)
        db = ["--db", self.srv.db] if self.srv.db else []  # the store is found, not the db
        doc = st.run_json(self, "admin", "fsck", "--json", "--data", self.srv.data, *db, env=env)
        self.assertTrue(doc["ok"], doc)
        self.assertGreaterEqual(doc["packs"], 1)
        if sv.STORE == "s3":
            # an explicit --store wins over the recorded one
            r = st.run("admin", "fsck", "--json", "--data", self.srv.data, *db, "--store",
                       "file:" + os.path.join(self.srv.data, "packs"), env=env)
            self.assertEqual(r.rc, 1, repr(r))
            self.assertIn("file missing", r.stdout)

    def test_fsck_names_a_pack_missing_from_the_store(self):
        folder = os.path.join(self.work, "m")
        sv.write_random(os.path.join(folder, "w.bin"), 200000, random.Random(3))
        before = set(self.store_keys())
        self.push("acme/lost", folder)
        (key,) = set(self.store_keys()) - before
        # the pack disappears (and comes back afterwards: the server is shared)
        if sv.STORE == "s3":
            m, bucket = self.s3()
            status, saved = m.get_object(bucket, "packs/" + key)
            self.assertEqual(status, 200)
            m.delete_object(bucket, "packs/" + key)
            self.addCleanup(m.put_object, bucket, "packs/" + key, saved)
        else:
            path = os.path.join(self.srv.data, "packs", key)
            os.rename(path, path + ".away")
            self.addCleanup(os.rename, path + ".away", path)
        r = self.srv.fsck()
        self.assertEqual(r.rc, 1, repr(r))
        doc = json.loads(r.stdout)
        name = key.split("/")[1][:-len(".pack")]
        self.assertIn("pack %s: file missing" % name, doc["problems"])
        # a fresh server (no open descriptor, no read-ahead window holding the
        # bytes) fails the download cleanly, never with short bytes
        self.srv.stop()
        self.srv.start()
        # (a 5xx is retried by pull for --retry-for, 10 minutes by default:
        # keep that short here)
        r = st.run("pull", "acme/lost", "--dest", os.path.join(self.work, "x"),
                   "--retry-for", "5s", env=self.srv.client_env(self.alice, self.home),
                   timeout=120)
        self.assertNotEqual(r.rc, 0, repr(r))


class BadStore(unittest.TestCase):
    """What the careless operator meets: one line, exit 3 for a store that
    cannot be reached, exit 2 for a malformed URL or missing credentials."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-badstore-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.data = os.path.join(self.tmp, "data")

    def env(self, extra):
        """The environment without any AWS_* of the caller's, plus EXTRA."""
        e = sv.clean_env()
        for k in list(e):
            if k.startswith("AWS_"):
                del e[k]
        e.update(extra)
        return e

    def serve(self, store, env):
        return st.run("serve", "--data", self.data, "--origin", "sluice", "--listen",
                      "127.0.0.1:%d" % sv.free_port(),
                      "--store", store, env=self.env(env), timeout=60)

    def test_unreachable_endpoint_exits_3_with_url_and_cause(self):
        env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s3cr3t-never-printed",
               "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}
        r = self.serve("s3://my-bucket/packs", env)
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn("s3://my-bucket/packs", r.stderr)
        self.assertIn("Couldn't connect", r.stderr)
        self.assertNotIn("\n", r.stderr.strip(), "one line: %r" % r.stderr)
        self.assertNotIn("s3cr3t", r.stderr + r.stdout)
        r = st.run("admin", "fsck", "--data", self.data, "--store", "s3://my-bucket/packs",
                   env=self.env(env))
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn("s3://my-bucket/packs", r.stderr)
        self.assertIn("Couldn't connect", r.stderr)
        self.assertNotIn("\n", r.stderr.strip(), "one line: %r" % r.stderr)
        self.assertNotIn("s3cr3t", r.stderr + r.stdout)

    def test_missing_bucket_exits_3_naming_it(self):
        m = sv.shared_moto()
        r = self.serve("s3://no-such-bucket/p", m.env())
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn("s3://no-such-bucket/p", r.stderr)
        self.assertIn("NoSuchBucket", r.stderr)

    def test_shared_credentials_file_is_read(self):
        # without the variables, the AWS CLI's shared file (as the systemd
        # unit passes it: contrib/sluice.service) gives the keys
        m = sv.shared_moto()
        env = {k: v for k, v in m.env().items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
        creds = os.path.join(self.tmp, "credentials")
        with open(creds, "w") as f:
            f.write("[other]\naws_access_key_id = wrong\n\n[default]\n"
                    "aws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (m.env()["AWS_ACCESS_KEY_ID"], m.env()["AWS_SECRET_ACCESS_KEY"]))
        r = self.serve("s3://no-such-bucket/p", dict(env, AWS_SHARED_CREDENTIALS_FILE=creds))
        self.assertEqual(r.rc, 3, repr(r))  # the keys were found: S3 itself answered
        self.assertIn("NoSuchBucket", r.stderr)
        r = self.serve("s3://no-such-bucket/p",
                       dict(env, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_PROFILE="missing"))
        self.assertEqual(r.rc, 2, repr(r))
        self.assertIn("AWS_SHARED_CREDENTIALS_FILE", r.stderr)

    def test_folder_store_that_cannot_be_made_exits_3(self):
        blocker = os.path.join(self.tmp, "file")
        with open(blocker, "w") as f:
            f.write("x")
        r = self.serve("file:" + os.path.join(blocker, "packs"), {})
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn("file:" + os.path.join(blocker, "packs"), r.stderr)

    def test_malformed_urls_and_missing_credentials_exit_2(self):
        env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
               "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}
        for url, words in (("gs://bucket/p", "file:PATH or s3://"),
                           ("s3://Bad_Bucket", "bucket name"),
                           ("s3://bucket/has space", "prefix"),
                           ("s3://bucket/../up", "prefix"),
                           ("file:", "names no folder")):
            r = self.serve(url, env)
            self.assertEqual(r.rc, 2, repr(r))
            self.assertIn(words, r.stderr)
        r = self.serve("s3://bucket/p", {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"})
        self.assertEqual(r.rc, 2, repr(r))
        self.assertIn("AWS_ACCESS_KEY_ID", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
