# SPDX-License-Identifier: Apache-2.0
"""`sluice admin migrate --from-store --to-store` (issue 13, docs/database.md
"Moving up"): a single-box registry (SQLite + the packs folder) moves into
PostgreSQL + S3 (moto) in one command.

A registry with an open model, a gated model with a grant and two more
models; the migration is killed (SIGKILL) after its first pack, while the
second pack is being read back through a slow link; a second run skips the
pack already there (hashed on both sides) and copies the rest and the
database; a third run only verifies. Then the packs folder is moved away
and a server on PostgreSQL + S3 serves the grantee's gated pull and an
anonymous open pull, the log verifies against the state pinned before the
move, and `fsck` is clean. A bucket that holds other bytes under a pack's
name is refused and never overwritten; bad flags are exit 2.
"""
import filecmp
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class MigrateStore(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-migstore-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pg = pgserver.cluster()
        self.moto = sv.shared_moto()
        self.data = os.path.join(self.tmp, "data")
        self.lite = "sqlite:" + os.path.join(self.data, "sluice.db")
        self.packs = "file:" + os.path.join(self.data, "packs")
        self.facts = os.path.join(self.tmp, "facts.json")
        with open(self.facts, "w") as f:
            json.dump(FACTS, f)

    def model(self, i):
        folder = os.path.join(self.tmp, "model-%d" % i)
        sv.make_model(folder, big=1 << 20, rng=random.Random(i))
        return folder

    def cli(self, srv, who, token, *args):
        home = os.path.join(self.tmp, "home-" + who)
        os.makedirs(home, exist_ok=True)
        r = st.run(*args, env=srv.client_env(token, home), timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        return r

    def registry(self):
        """SQLite + folder: gated (bob holds a grant), open, and two more."""
        srv = sv.Server(self.data, workdir=self.tmp, db=self.lite)
        srv.store_args, srv.store_env = [], {}  # the single box: the packs folder
        self.addCleanup(srv.cleanup)
        srv.start()
        pub = srv.add_user("pubmia")
        bob = srv.add_user("bob")
        srv.add_org("acme")
        srv.add_member("acme", "pubmia", "publisher")
        for i, (name, tier) in enumerate([("gated", "gated"), ("open", "open"),
                                          ("third", "open"), ("fourth", "open")], 1):
            self.cli(srv, "pub", pub, "push", "acme/" + name, self.model(i), "--facts",
                     self.facts, "--tier", tier)
        r = srv.request("POST", "/api/v1/models/acme/gated/access",
                        {"purpose": "research on moving"}, token=bob)
        self.assertEqual(r.status, 201, r)
        r = srv.request("POST", "/api/v1/models/acme/gated/access/bob/approve", {}, token=pub)
        self.assertEqual(r.status, 200, r)
        self.cli(srv, "bob", bob, "log", "verify")  # bob pins the log's state
        srv.stop()
        return srv, pub, bob

    def pack_names(self):
        out = []
        for root, _, files in os.walk(os.path.join(self.data, "packs")):
            if os.path.basename(root) != "tmp":
                out += [f[:-5] for f in files if f.endswith(".pack")]
        return sorted(out)

    def migrate(self, *args, env):
        return st.run("admin", "migrate", "--data", self.data, *args, env=sv.clean_env(env),
                      timeout=300)

    def test_a_single_box_moves_to_postgresql_and_s3(self):
        srv, pub, bob = self.registry()
        packs = self.pack_names()
        self.assertGreaterEqual(len(packs), 4)
        # another tool's file among the packs: not a pack, not copied, not touched
        with open(os.path.join(self.data, "packs", "README.txt"), "w") as f:
            f.write("not a sluice pack\n")
        bucket = "sl-mig-" + os.urandom(4).hex()
        self.moto.create_bucket(bucket)
        to_store = "s3://%s/packs" % bucket
        url = pgserver.new_db("migstore")
        args = ["--from-db", self.lite, "--to-db", url, "--from-store", self.packs,
                "--to-store", to_store]

        # 1. killed half-way: read-backs cross a slow link (256 KiB/s, 4 s a pack)
        slow = sv.ThrottledProxy(self.moto.port, 256 << 10)
        self.addCleanup(slow.close)
        p = subprocess.Popen([sv.BIN, "admin", "migrate", "--data", self.data] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=sv.clean_env(self.moto.env(slow.url)))
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        first = p.stdout.readline().decode()
        self.assertIn("copied, read back, sha256 verified", first, first)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        p.stderr.close()
        in_bucket = [k for k in self.moto.list_keys(bucket) if k.endswith(".pack")]
        self.assertGreaterEqual(len(in_bucket), 1)
        self.assertLess(len(in_bucket), len(packs), "the kill came too late to test resuming")

        # 2. the second run skips what is there and copies the rest and the database
        r = self.migrate(*args, "--json", env=self.moto.env())
        self.assertEqual(r.rc, 0, repr(r))
        doc = json.loads(r.stdout)
        self.assertEqual(sorted(x["pack"] for x in doc["packs"]), packs)
        done_before = {k.split("/")[-1][:-5] for k in in_bucket}
        for x in doc["packs"]:
            self.assertEqual(x["copied"], x["pack"] not in done_before, x)
            path = os.path.join(self.data, "packs", x["pack"][:2], x["pack"] + ".pack")
            self.assertEqual(x["sha256"], sv.sha256_file(path))
            self.assertEqual(x["bytes"], os.path.getsize(path))
            status, body = self.moto.get_object(bucket,
                                                "packs/%s/%s.pack" % (x["pack"][:2], x["pack"]))
            self.assertEqual(status, 200)
            self.assertEqual(sv.hashlib.sha256(body).hexdigest(), x["sha256"])
        self.assertTrue(any(t["copied"] for t in doc["tables"]))
        self.assertEqual(sorted(k for k in self.moto.list_keys(bucket)),
                         sorted("packs/%s/%s.pack" % (p[:2], p) for p in packs))
        self.assertTrue(os.path.exists(os.path.join(self.data, "packs", "README.txt")))
        self.assertTrue(doc["checkpoint"])
        # 3. a third run changes nothing and verifies everything
        r = self.migrate(*args, "--json", env=self.moto.env())
        self.assertEqual(r.rc, 0, repr(r))
        again = json.loads(r.stdout)
        self.assertFalse(any(x["copied"] for x in again["packs"]), again)
        self.assertFalse(any(t["copied"] for t in again["tables"]), again)
        self.assertEqual(again["checkpoint"], doc["checkpoint"])

        # 4. serve from PostgreSQL + S3 only: the packs folder is moved away
        os.rename(os.path.join(self.data, "packs"), os.path.join(self.tmp, "old-packs"))
        new = sv.Server(self.data, workdir=self.tmp, db=url)
        new.store_args, new.store_env = ["--store", to_store], self.moto.env()
        self.addCleanup(new.cleanup)
        new.start()
        dest = os.path.join(self.tmp, "pulled-gated")
        self.cli(new, "bob", bob, "pull", "acme/gated", "--dest", dest)
        self.assertTrue(filecmp.cmp(os.path.join(dest, "big.bin"),
                                    os.path.join(self.tmp, "model-1", "big.bin"), shallow=False))
        dest = os.path.join(self.tmp, "pulled-open")
        self.cli(new, "anon", None, "pull", "acme/open", "--dest", dest)
        for rel in ("big.bin", "config.json", "sub/dir/extra.txt", "model.safetensors"):
            self.assertTrue(filecmp.cmp(os.path.join(dest, rel),
                                        os.path.join(self.tmp, "model-2", rel), shallow=False),
                            rel)
        # the state bob pinned before the move still verifies (same key, same tree)
        self.cli(new, "bob", bob, "log", "verify")
        # a carol without a grant is still refused the gated model
        carol = new.add_user("carol")
        r = new.request("GET", "/acme/gated/resolve/main/big.bin", token=carol)
        self.assertEqual(r.status, 403, r)
        new.stop()
        r = new.fsck()
        self.assertEqual(r.rc, 0, repr(r))
        rep = json.loads(r.stdout)
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["problems"], [])
        self.assertEqual(rep["foreign_objects"], [])
        self.assertEqual(rep["packs"], len(packs))

    def test_b_other_bytes_under_a_pack_name_and_bad_flags(self):
        self.registry()
        packs = self.pack_names()
        bucket = "sl-mig-" + os.urandom(4).hex()
        self.moto.create_bucket(bucket)
        victim = packs[0]
        key = "packs/%s/%s.pack" % (victim[:2], victim)
        size = os.path.getsize(os.path.join(self.data, "packs", victim[:2], victim + ".pack"))
        junk = b"\x5a" * size
        self.moto.put_object(bucket, key, junk)
        r = self.migrate("--from-store", self.packs, "--to-store", "s3://%s/packs" % bucket,
                         env=self.moto.env())
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("pack %s:" % victim, r.stderr)
        self.assertIn("holds other bytes under its name", r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertEqual(self.moto.get_object(bucket, key), (200, junk), "never overwritten")

        cases = [
            (("--from-store", self.packs), "both --from-store and --to-store"),
            (("--to-store", "s3://x/y"), "both --from-store and --to-store"),
            (("--from-store", self.packs, "--to-store", self.packs), "are the same"),
            (("--from-store", self.packs, "--to-store", "ftp://x"), "is not a store URL"),
            (("--from-db", self.lite, "--from-store", self.packs, "--to-store", "s3://x/y"),
             "migrate wants"),
            ((), "migrate wants"),
        ]
        for args, msg in cases:
            r = self.migrate(*args, env=self.moto.env())
            self.assertEqual(r.rc, 2, repr(r))
            self.assertIn(msg, r.stderr)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        # a pack the database names that the old store lost: exit 3 naming it
        lost = packs[-1]
        os.rename(os.path.join(self.data, "packs", lost[:2], lost + ".pack"),
                  os.path.join(self.tmp, "lost.pack"))
        bucket2 = "sl-mig-" + os.urandom(4).hex()
        self.moto.create_bucket(bucket2)
        r = self.migrate("--from-store", self.packs, "--to-store", "s3://%s/packs" % bucket2,
                         env=self.moto.env())
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn("pack %s: the database names it but" % lost, r.stderr)
        self.assertIn("sluice admin fsck", r.stderr)
        # an unreachable target store: exit 3 naming it
        r = self.migrate("--from-store", self.packs, "--to-store", "s3://nobucket/packs",
                         env=self.moto.env("http://127.0.0.1:1"))
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn("s3://nobucket/packs", r.stderr)


if __name__ == "__main__":
    st.main()
