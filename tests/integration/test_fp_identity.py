# SPDX-License-Identifier: Apache-2.0
"""Per-recipient identity of fingerprinted copies (issue 12, item 1;
docs/fingerprint.md, "Per-recipient identity"), end to end through a real
server: every place a client learns a file's identity (ETag, X-Linked-Etag,
X-Linked-Size, tree and paths-info lfs.oid, model info siblings, the signed
manifest) names the SHA-256 of the bytes that caller receives, for whole
downloads, ranges, HEAD and 304s alike; marked answers say so and forbid
shared caches; two licensees sharing one Hugging Face style cache directory
each end up with their own bytes, and a trace of each copy names its owner.
"""
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import unittest
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402
from test_fingerprint import bf16_table, random_bf16, write_st  # noqa: E402

ROWS, COLS = 1024, 512
TENSORS = ["model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
           "model.layers.1.mlp.down_proj.weight", "model.layers.1.self_attn.o_proj.weight"]
WEIGHTS = "model.safetensors"
URL = "/acme/m/resolve/main/" + WEIGHTS


def sha(b):
    return hashlib.sha256(b).hexdigest()


def etag_of(resp):
    """huggingface_hub's _normalize_etag of X-Linked-Etag, else ETag."""
    tag = resp.headers.get("X-Linked-Etag") or resp.headers.get("ETag")
    if tag is None:
        return None
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


class Identity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-fpid-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.build()
        except BaseException:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def p(cls, *parts):
        return os.path.join(cls.tmp, *parts)

    @classmethod
    def run_as(cls, who, *args, timeout=300):
        env = cls.srv.client_env(cls.tok[who], cls.p("home-" + who))
        return st.run(*args, env=env, timeout=timeout)

    @classmethod
    def build(cls):
        srv = cls.srv
        srv.start()
        cls.tok = {}
        for who in ("alice", "bob", "carol", "mia", "eve"):
            cls.tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_member("acme", "alice", "publisher")
        srv.add_member("acme", "mia", "member")
        rng = random.Random(12)
        table = bf16_table(rng, 0.02)
        tensors = [(n, "BF16", [ROWS, COLS], random_bf16(rng, ROWS * COLS, table).tobytes())
                   for n in TENSORS]
        cls.model = cls.p("model")
        os.makedirs(cls.model)
        write_st(os.path.join(cls.model, WEIGHTS), tensors)
        with open(os.path.join(cls.model, WEIGHTS), "rb") as f:
            cls.original = f.read()
        with open(os.path.join(cls.model, "config.json"), "w") as f:
            json.dump({"model_type": "llama", "hidden_size": COLS}, f)
        facts = cls.p("facts.json")
        with open(facts, "w") as f:
            json.dump({"training": {"tokens": 1e9}}, f)
        r = cls.run_as("alice", "push", "acme/m", cls.model, "--facts", facts, "--tier", "gated",
                       "--json")
        assert r.rc == 0, r
        for who in ("bob", "carol"):
            r = cls.run_as(who, "access", "request", "acme/m", "--purpose", "evaluation")
            assert r.rc == 0, r
            r = cls.run_as("alice", "access", "approve", "acme/m", who)
            assert r.rc == 0, r

    def get(self, who, path=URL, method="GET", headers=None):
        return self.srv.request(method, path, headers=headers, token=self.tok[who])

    # -- headers of whole, range, HEAD and conditional answers

    def test_etag_is_the_sha256_of_the_bytes_served(self):
        seen = {}
        for who in ("bob", "carol", "mia"):
            r = self.get(who)
            self.assertEqual(r.status, 200, repr(r))
            digest = sha(r.body)
            self.assertEqual(r.headers["ETag"], '"%s"' % digest, who)
            self.assertEqual(r.headers["X-Linked-Etag"], '"%s"' % digest, who)
            self.assertEqual(r.headers["X-Linked-Size"], str(len(r.body)), who)
            seen[who] = digest
            h = self.get(who, method="HEAD")
            self.assertEqual(h.status, 200, repr(h))
            self.assertEqual(h.headers["ETag"], r.headers["ETag"], who)
            self.assertEqual(h.headers["X-Linked-Etag"], r.headers["X-Linked-Etag"], who)
        self.assertEqual(seen["mia"], sha(self.original))  # a member gets the original
        admin = self.srv.request("HEAD", URL, token=self.srv.admin_token)
        self.assertEqual(admin.headers["ETag"], '"%s"' % sha(self.original))
        self.assertIsNone(admin.headers.get("X-Sluice-Fingerprinted"))
        native = self.get("bob", "/api/v1/models/acme/m/versions/main/files/" + WEIGHTS)
        self.assertEqual(native.headers["ETag"], '"%s"' % seen["bob"])
        self.assertEqual(sha(native.body), seen["bob"])
        self.assertNotEqual(seen["bob"], seen["carol"])
        self.assertNotEqual(seen["bob"], seen["mia"])
        self.assertNotEqual(seen["carol"], seen["mia"])

    def test_marked_answers_say_so_and_forbid_shared_caches(self):
        for method in ("GET", "HEAD"):
            for rng in (None, "bytes=100-5000"):
                r = self.get("bob", method=method, headers={"Range": rng} if rng else None)
                self.assertIn(r.status, (200, 206), repr(r))
                self.assertEqual(r.headers.get("X-Sluice-Fingerprinted"), "1", repr(r))
                cc = [x.strip() for x in (r.headers.get("Cache-Control") or "").split(",")]
                self.assertIn("private", cc, repr(r))
                self.assertIn("no-store", cc, repr(r))
        for who in ("mia",):
            r = self.get(who)
            self.assertIsNone(r.headers.get("X-Sluice-Fingerprinted"), repr(r))
        # files without marks (config.json) are the same for everyone
        r = self.get("bob", "/acme/m/resolve/main/config.json")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.headers.get("X-Sluice-Fingerprinted"))
        self.assertEqual(r.headers["ETag"], '"%s"' % sha(r.body))

    def test_ranges_and_resumes_agree_with_the_etag(self):
        whole = self.get("carol")
        tag = whole.headers["ETag"]
        size = len(whole.body)
        rng = random.Random(5)
        parts, at = [], 0
        while at < size:
            n = min(size - at, rng.randint(1, 700000))
            r = self.get("carol", headers={"Range": "bytes=%d-%d" % (at, at + n - 1)})
            self.assertEqual(r.status, 206, repr(r))
            self.assertEqual(r.headers["ETag"], tag)
            self.assertEqual(r.headers["X-Linked-Etag"], tag)
            self.assertEqual(r.headers["X-Linked-Size"], str(size))
            parts.append(r.body)
            at += n
        self.assertEqual(sha(b"".join(parts)), tag.strip('"'))
        # a resume as huggingface_hub does it: bytes=N- after a broken transfer
        cut = size // 3 + 1
        r = self.get("carol", headers={"Range": "bytes=%d-" % cut})
        self.assertEqual(r.status, 206)
        self.assertEqual(sha(whole.body[:cut] + r.body), tag.strip('"'))
        # the JS client's probe: bytes=0-0, size from Content-Range
        r = self.get("carol", headers={"Range": "bytes=0-0"})
        self.assertEqual(r.headers["Content-Range"], "bytes 0-0/%d" % size)
        self.assertEqual(r.headers["X-Linked-Etag"], tag)

    def test_if_none_match_is_per_copy(self):
        bob = self.get("bob", method="HEAD").headers["ETag"]
        carol = self.get("carol", method="HEAD").headers["ETag"]
        r = self.get("bob", headers={"If-None-Match": bob})
        self.assertEqual(r.status, 304, repr(r))
        self.assertEqual(r.headers["ETag"], bob)
        self.assertEqual(r.headers.get("Cache-Control"), "private, no-store")
        # another licensee's tag, or the canonical one, is not this copy
        for tag in (bob, '"%s"' % sha(self.original)):
            r = self.get("carol", headers={"If-None-Match": tag})
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(r.headers["ETag"], carol)

    def test_tree_paths_info_info_and_manifest_name_the_callers_copy(self):
        for who in ("bob", "carol", "mia"):
            tag = etag_of(self.get(who, method="HEAD"))
            cfg = etag_of(self.get(who, "/acme/m/resolve/main/config.json", method="HEAD"))
            status, tree = self.srv.get_json("/api/models/acme/m/tree/main?recursive=true",
                                             token=self.tok[who])
            self.assertEqual(status, 200)
            files = {e["path"]: e for e in tree if e["type"] == "file"}
            self.assertEqual(files[WEIGHTS]["lfs"]["oid"], tag, who)
            self.assertEqual(files[WEIGHTS]["oid"], tag, who)
            self.assertEqual(files["config.json"]["lfs"]["oid"], cfg, who)
            r = self.srv.request("POST", "/api/models/acme/m/paths-info/main",
                                 body={"paths": [WEIGHTS, "config.json"], "expand": True},
                                 token=self.tok[who])
            self.assertEqual(r.status, 200, repr(r))
            pi = {e["path"]: e for e in r.json()}
            self.assertEqual(pi[WEIGHTS]["lfs"]["oid"], tag, who)
            self.assertEqual(pi["config.json"]["lfs"]["oid"], cfg, who)
            status, info = self.srv.get_json("/api/models/acme/m", token=self.tok[who])
            sib = {s["rfilename"]: s for s in info["siblings"]}
            self.assertEqual(sib[WEIGHTS]["lfs"]["sha256"], tag, who)
            self.assertEqual(sib[WEIGHTS]["blobId"], tag, who)
            r = self.get(who, "/api/v1/models/acme/m/versions/main/manifest")
            self.assertEqual(r.status, 200, repr(r))
            lines = [l.split() for l in r.body.decode().splitlines() if l.startswith("file ")]
            self.assertIn(["file", tag, str(len(self.original)), WEIGHTS], lines, who)
        # someone without a grant sees the canonical digests, and gets no
        # recipient for looking
        status, tree = self.srv.get_json("/api/models/acme/m/tree/main", token=self.tok["eve"])
        self.assertEqual(status, 200)
        files = {e["path"]: e for e in tree if e["type"] == "file"}
        self.assertEqual(files[WEIGHTS]["lfs"]["oid"], sha(self.original))
        self.assertNotIn("eve", self.recipients())
        self.assertLessEqual({"bob", "carol"}, self.recipients())

    def db(self):
        """The server's database, SQLite or PostgreSQL (server.py knows which)."""
        return sv.db_connect(self.srv.data)

    def recipients(self):
        with self.db() as c:
            return {r[0] for r in c.execute(
                "SELECT u.name FROM fp_recipients f JOIN users u ON u.id = f.user_id")}

    def test_copy_digest_is_kept_in_the_database(self):
        tag = etag_of(self.get("bob", method="HEAD"))
        with self.db() as c:
            rows = [r[0] for r in c.execute(
                "SELECT c.sha256 FROM fp_copies c JOIN fp_recipients f ON f.id = c.recipient_id "
                "JOIN users u ON u.id = f.user_id WHERE u.name = 'bob'")]
        self.assertEqual(rows, [tag])

    # -- two licensees, one cache directory

    def hf_hub_download(self, who, cache):
        """huggingface_hub's algorithm: HEAD, blob named by the normalised
        X-Linked-Etag (ETag), download only when blobs/<etag> is absent, the
        snapshot path a symlink to the blob."""
        head = self.get(who, method="HEAD")
        self.assertEqual(head.status, 200, repr(head))
        etag, commit = etag_of(head), head.headers["X-Repo-Commit"]
        repo = os.path.join(cache, "models--acme--m")
        blob = os.path.join(repo, "blobs", etag)
        if not os.path.exists(blob):
            os.makedirs(os.path.dirname(blob), exist_ok=True)
            with open(blob, "wb") as f:
                f.write(self.get(who).body)
        snap = os.path.join(repo, "snapshots", commit, WEIGHTS)
        os.makedirs(os.path.dirname(snap), exist_ok=True)
        if os.path.lexists(snap):
            os.unlink(snap)
        os.symlink(os.path.relpath(blob, os.path.dirname(snap)), snap)
        return snap

    def js_download_to_cache_dir(self, who, cache):
        """@huggingface/hub's downloadFileToCacheDir: paths-info, blob named
        by lfs.oid, download only when blobs/<oid> is absent."""
        r = self.srv.request("POST", "/api/models/acme/m/paths-info/main",
                             body={"paths": [WEIGHTS], "expand": True}, token=self.tok[who])
        self.assertEqual(r.status, 200, repr(r))
        info = r.json()[0]
        oid, commit = info["lfs"]["oid"], info["lastCommit"]["id"]
        repo = os.path.join(cache, "models--acme--m")
        blob = os.path.join(repo, "blobs", oid)
        if not os.path.exists(blob):
            os.makedirs(os.path.dirname(blob), exist_ok=True)
            with open(blob, "wb") as f:
                f.write(self.get(who).body)
        snap = os.path.join(repo, "snapshots", commit, WEIGHTS)
        os.makedirs(os.path.dirname(snap), exist_ok=True)
        if os.path.lexists(snap):
            os.unlink(snap)
        os.symlink(os.path.relpath(blob, os.path.dirname(snap)), snap)
        return snap

    def test_shared_cache_keeps_each_licensees_bytes(self):
        for name, fetch in (("py", self.hf_hub_download), ("js", self.js_download_to_cache_dir)):
            cache = self.p("shared-cache-" + name)
            got = {}
            for who in ("carol", "bob"):  # carol first: her copy is in the cache
                snap = fetch(who, cache)
                with open(snap, "rb") as f:
                    got[who] = f.read()
                self.assertEqual(got[who], self.get(who).body, "%s (%s)" % (who, name))
            self.assertNotEqual(got["bob"], got["carol"], name)
            for who in ("bob", "carol"):
                d = self.p("leak-%s-%s" % (name, who))
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, WEIGHTS), "wb") as f:
                    f.write(got[who])
                r = self.run_as("alice", "trace", d, "--model", "acme/m", "--json")
                self.assertEqual(r.rc, 0, repr(r))
                doc = json.loads(r.stdout)
                self.assertEqual([a["user"] for a in doc["accused"]], [who],
                                 "%s (%s): %s" % (who, name, json.dumps(doc)[:2000]))

    def test_pull_and_license_tell_the_licensee(self):
        rid = self.get("bob", method="HEAD").headers["X-Sluice-Fingerprint"]
        dest = self.p("pull-bob")
        r = self.run_as("bob", "pull", "acme/m", "--dest", dest)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("this copy is fingerprinted", r.stdout)
        self.assertIn("recipient %s" % rid, r.stdout)
        with open(os.path.join(dest, WEIGHTS), "rb") as f:
            self.assertEqual(etag_of(self.get("bob", method="HEAD")), sha(f.read()))
        with open(os.path.join(dest, "LICENSE.sluice")) as f:
            lic = f.read()
        self.assertIn("\nfingerprint recipient %s\n" % rid, lic)
        r = self.run_as("bob", "license", "verify", os.path.join(dest, "LICENSE.sluice"))
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("fingerprinted", r.stdout)
        self.assertIn("recipient %s" % rid, r.stdout)
        r = self.run_as("bob", "pull", "acme/m", "--dest", dest, "--json")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(json.loads(r.stdout)["fingerprint_recipient"], int(rid))
        # a member's copy is the original: nothing to tell
        r = self.run_as("mia", "pull", "acme/m", "--dest", self.p("pull-mia"), "--json")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertNotIn("fingerprint_recipient", json.loads(r.stdout))

    def test_concurrent_first_requests_agree(self):
        # a fresh licensee whose copy nobody has hashed yet: eight requests
        # at once (HEAD, ranges, tree) all name the same digest, that of
        # the bytes
        import threading
        self.tok["dave"] = self.srv.add_user("dave")
        r = self.run_as("dave", "access", "request", "acme/m", "--purpose", "evaluation")
        self.assertEqual(r.rc, 0, repr(r))
        r = self.run_as("alice", "access", "approve", "acme/m", "dave")
        self.assertEqual(r.rc, 0, repr(r))
        tags, errors = [], []

        def one(i):
            try:
                if i % 3 == 2:
                    st_, tree = self.srv.get_json("/api/models/acme/m/tree/main",
                                                  token=self.tok["dave"])
                    tags.append({e["path"]: e for e in tree}[WEIGHTS]["lfs"]["oid"])
                else:
                    h = {"Range": "bytes=%d-" % (i * 1000)} if i % 3 else None
                    tags.append(etag_of(self.get("dave", method="HEAD" if i % 2 else "GET",
                                                 headers=h)))
            except Exception as e:  # reported below
                errors.append(e)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(set(tags)), 1, tags)
        self.assertEqual(tags[0], sha(self.get("dave").body))
        with self.db() as c:
            n = c.execute("SELECT count(*) FROM fp_copies c JOIN fp_recipients f ON f.id = "
                          "c.recipient_id JOIN users u ON u.id = f.user_id WHERE u.name = 'dave'")
            self.assertEqual(n.fetchone()[0], 1)

    def test_copies_are_hashed_before_the_first_request(self):
        # the server hashes a new licensee's copy in the background, so the
        # Hugging Face client's first HEAD (10 s timeout) finds it kept
        import time
        self.tok["gina"] = self.srv.add_user("gina")
        r = self.run_as("gina", "access", "request", "acme/m", "--purpose", "evaluation")
        self.assertEqual(r.rc, 0, repr(r))
        r = self.run_as("alice", "access", "approve", "acme/m", "gina")
        self.assertEqual(r.rc, 0, repr(r))
        q = ("SELECT c.sha256 FROM fp_copies c JOIN fp_recipients f ON f.id = c.recipient_id "
             "JOIN users u ON u.id = f.user_id WHERE u.name = 'gina'")
        rows, deadline = [], time.time() + 30
        while not rows and time.time() < deadline:
            time.sleep(0.2)
            with self.db() as c:
                rows = [x[0] for x in c.execute(q)]
        self.assertEqual(len(rows), 1, "gina's copy was not hashed ahead of her first request")
        self.assertEqual(rows[0], sha(self.get("gina").body))
        # eve, without a grant, has no copy hashed for her
        with self.db() as c:
            self.assertEqual(list(c.execute(q.replace("gina", "eve"))), [])

    def test_evaluator_gets_the_original(self):
        self.tok["ivy"] = self.srv.add_user("ivy")
        self.tok["admin"] = self.srv.admin_token
        r = self.run_as("ivy", "access", "request", "acme/m", "--purpose", "evaluation")
        self.assertEqual(r.rc, 0, repr(r))
        r = self.run_as("alice", "access", "approve", "acme/m", "ivy")
        self.assertEqual(r.rc, 0, repr(r))
        r = self.run_as("ivy", "eval", "keygen", "--name", "ivy", "--out", self.p("ivy.key"))
        self.assertEqual(r.rc, 0, repr(r))
        r = self.run_as("admin", "eval", "key", "add", "ivy", r.stdout.strip())
        self.assertEqual(r.rc, 0, repr(r))
        g = self.get("ivy")
        self.assertEqual(g.status, 200, repr(g))
        self.assertEqual(g.body, self.original)
        self.assertEqual(g.headers["ETag"], '"%s"' % sha(self.original))
        self.assertIsNone(g.headers.get("X-Sluice-Fingerprinted"))

    def test_digest_survives_a_restart(self):
        before = self.get("bob", method="HEAD").headers["ETag"]
        self.srv.stop()
        self.srv.start()
        self.assertEqual(self.get("bob", method="HEAD").headers["ETag"], before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
