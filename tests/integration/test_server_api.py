# SPDX-License-Identifier: Apache-2.0
"""The registry server end to end: a real `sluice serve` on 127.0.0.1 with a
temporary data folder, raw HTTP (docs/api.md) and the real `sluice push` and
`sluice pull`.

Covered: first start (data folder, admin token), push/pull round trip and the
--json documents, dedup, resumed pulls, the Hugging Face read API and
download headers, ranges, tiers, refusals by the policy, bad input (each a 4xx
JSON error that leaves nothing visible, then a clean fsck), uploads whose
client vanishes mid-body, garbage collection, and SIGTERM draining a download
in flight.

Users in the shared-server classes: alice publishes to acme, bob is a plain
member of acme, eve publishes only to her own org evil.
"""
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}
# the contract keys of `sluice push --json` (docs/cli.md)
PUSH_KEYS = {"model", "version", "commit", "tier", "min_tier", "bytes_total", "bytes_uploaded", "floor_tier",
             "decision", "held_by", "files", "bytes_local", "bytes_reread", "on_main", "main_version", "main_note",
             "facts_note", "log_index", "log_proof", "seconds"}
PULL_KEYS = {"commit", "files", "bytes_downloaded", "bytes_reused", "bytes_total",
             "bad_local_chunks"}
HEX = set("0123456789abcdef")
COUNTER = itertools.count(1)


def is_hex64(s):
    return isinstance(s, str) and len(s) == 64 and set(s) <= HEX


class ServerCase(unittest.TestCase):
    """One server for the whole class; users: alice (publisher of acme), bob
    (member of acme), eve (publisher of her own org evil, nothing in acme)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-srv-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.bob = cls.srv.add_user("bob")
            cls.eve = cls.srv.add_user("eve")
            cls.srv.add_org("acme")
            cls.srv.add_org("evil")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.srv.add_member("acme", "bob", "member")
            cls.srv.add_member("evil", "eve", "publisher")
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

    # ---------------------------------------------------------------- helpers

    def setUp(self):
        self.assertTrue(self.srv.running(), "the server is not running any more:\n%s"
                        % self.srv.stderr()[-3000:])
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.work, *parts)

    def facts(self, doc, name="facts.json"):
        path = self.p(name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def push(self, model, folder, *args, token=None, url=None, timeout=120):
        env = self.srv.client_env(token or self.alice, self.home, url)
        return st.run("push", model, folder, *args, env=env, timeout=timeout)

    def push_json(self, model, folder, *args, **kw):
        r = self.push(model, folder, *args, "--json", **kw)
        self.assertEqual(r.rc, 0, repr(r))
        return json.loads(r.stdout)

    def pull(self, spec, dest, *args, token=None, url=None, timeout=120):
        env = self.srv.client_env(token, self.home, url)
        return st.run("pull", spec, "--dest", dest, *args, env=env, timeout=timeout)

    def pull_json(self, spec, dest, **kw):
        r = self.pull(spec, dest, "--json", **kw)
        self.assertEqual(r.rc, 0, repr(r))
        return json.loads(r.stdout)

    def model_folder(self, name="m", big=4 << 20, seed=None, safetensors=True):
        folder = self.p(name)
        rng = random.Random(seed)
        counts = sv.make_model(folder, big=big, rng=rng, safetensors=safetensors)
        return folder, counts

    def assertSameTree(self, expected_folder, got_folder):
        exp = sv.tree_digest(expected_folder)
        got = sv.tree_digest(got_folder)
        self.assertEqual(got, exp, "pulled files differ from the pushed ones")

    def assertJsonError(self, r, statuses, what=""):
        """R is one of STATUSES with a JSON body {"error", "message"}; returns it."""
        if isinstance(statuses, int):
            statuses = (statuses,)
        self.assertIsNotNone(r, "%s: the server closed the connection without an answer" % what)
        self.assertIn(r.status, statuses, "%s: %r" % (what, r))
        ctype = r.headers.get("Content-Type", "")
        self.assertTrue(ctype.startswith("application/json"), "%s: Content-Type %r: %r"
                        % (what, ctype, r))
        try:
            doc = r.json()
        except ValueError:
            self.fail("%s: error body is not JSON: %r" % (what, r))
        self.assertIsInstance(doc, dict, what)
        self.assertIn("error", doc, "%s: %r" % (what, doc))
        self.assertIn("message", doc, "%s: %r" % (what, doc))
        self.assertIn(doc["error"], sv.ERROR_CODES,
                      "%s: error code %r is not one of docs/api.md's" % (what, doc["error"]))
        self.assertIsInstance(doc["message"], str)
        self.assertTrue(doc["message"], what)
        return doc

    def unique(self, prefix):
        return "%s-%d" % (prefix, next(COUNTER))

    def assertNotVisible(self, org, name):
        status, doc = self.srv.get_json("/api/v1/models/%s/%s" % (org, name), token=self.alice)
        self.assertEqual(status, 404, "%s/%s should not exist: %r" % (org, name, doc))
        status, doc = self.srv.get_json("/api/v1/models", token=self.alice)
        self.assertEqual(status, 200, doc)
        self.assertNotIn("%s/%s" % (org, name), [m.get("model") for m in doc])

    # raw store API

    def upload(self, org, name, blobs, token=None):
        body = b"".join(sv.frame(b) for b in blobs)
        return self.srv.request("POST", "/api/v1/models/%s/%s/chunks" % (org, name), body,
                                {"Content-Type": "application/octet-stream"},
                                token=token or self.alice)

    def missing(self, org, name, hexes, token=None):
        r = self.srv.request("POST", "/api/v1/models/%s/%s/chunks/missing" % (org, name),
                             {"chunks": hexes}, token=token or self.alice)
        self.assertEqual(r.status, 200, repr(r))
        return set(r.json()["missing"])

    def commit(self, org, name, files, facts=SMALL_FACTS, tier=None, token=None):
        return self.srv.request("POST", "/api/v1/models/%s/%s/versions" % (org, name),
                                {"files": files, "facts": facts, "tier": tier, "license": None},
                                token=token or self.alice)


def h(b):
    return hashlib.sha256(b).hexdigest()


# ============================================================================


class FirstStart(unittest.TestCase):

    def test_first_start_creates_data_and_keeps_token_off_stdout(self):
        tmp = tempfile.mkdtemp(prefix="sluice-first-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        data = os.path.join(tmp, "data")
        srv = sv.Server(data, workdir=tmp)
        self.addCleanup(srv.cleanup)
        self.assertFalse(os.path.exists(data))
        srv.start()
        self.assertTrue(os.path.isdir(data))
        tok_path = os.path.join(data, "admin.token")
        self.assertTrue(os.path.isfile(tok_path))
        mode = stat.S_IMODE(os.stat(tok_path).st_mode)
        self.assertEqual(mode, 0o600, "admin.token has mode %o" % mode)
        with open(tok_path) as f:
            token = f.read().strip()
        self.assertRegex(token, r"^sl_[0-9a-f]{64}$")
        out1 = srv.stdout()
        # stdout is a file here, not a terminal: the token stays in
        # admin.token (test_data_folder.py checks a terminal gets it once)
        self.assertEqual(out1.count(token), 0, "the token went to a file: %r" % out1)
        self.assertIn(tok_path, out1)
        # the token works: an admin may see the (empty) model list
        r = srv.request("GET", "/api/v1/models", token=token)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(srv.stop(), 0)

        srv.start()
        out2 = srv.stdout()[len(out1):]
        self.assertNotIn(token, out2)
        self.assertNotRegex(out2, r"sl_[0-9a-f]{64}", "a second start printed a token")
        with open(tok_path) as f:
            self.assertEqual(f.read().strip(), token, "admin.token changed on restart")
        self.assertEqual(srv.stop(), 0)
        # the log on stderr is one JSON object a line
        lines = srv.stderr().splitlines()
        self.assertTrue(lines)
        for line in lines:
            try:
                self.assertIsInstance(json.loads(line), dict, line)
            except ValueError:
                self.fail("stderr line is not JSON: %r" % line)


# ============================================================================


class PushPull(ServerCase):

    def test_push_pull_round_trip(self):
        folder, _ = self.model_folder(seed=1)
        total = sum(os.path.getsize(os.path.join(r, f))
                    for r, _, fs in os.walk(folder) for f in fs)
        doc = self.push_json("acme/roundtrip", folder, "--facts", self.facts(SMALL_FACTS))
        self.assertEqual(set(doc), PUSH_KEYS, doc)
        self.assertEqual(doc["model"], "acme/roundtrip")
        self.assertEqual(doc["version"], 1)
        self.assertTrue(is_hex64(doc["commit"]), doc["commit"])
        self.assertEqual(doc["tier"], "open")
        self.assertEqual(doc["min_tier"], "open")
        self.assertEqual(doc["bytes_total"], total)
        self.assertEqual(doc["bytes_uploaded"], total)
        # where the push's time went, each phase a number of seconds
        # (hashing and the upload overlap, both counted from the start)
        self.assertEqual(set(doc["seconds"]), {"hash", "upload", "first_upload", "commit"},
                         doc["seconds"])
        self.assertTrue(all(v >= 0 for v in doc["seconds"].values()), doc["seconds"])
        self.assertLessEqual(doc["seconds"]["first_upload"], doc["seconds"]["upload"])
        self.assertIsInstance(doc["decision"], dict)
        self.assertEqual(doc["decision"].get("min_tier"), "open")

        dest = self.p("out")
        got = self.pull_json("acme/roundtrip", dest)
        self.assertEqual(set(got), PULL_KEYS, got)
        self.assertEqual(got["commit"], doc["commit"])
        self.assertEqual(got["bytes_downloaded"], total)
        digest = sv.tree_digest(folder)
        self.assertEqual({f["path"]: f["sha256"] for f in got["files"]}, digest)
        for f in got["files"]:
            self.assertEqual(f["size"], os.path.getsize(os.path.join(folder, f["path"])))
            self.assertTrue(f["downloaded"], f)
        self.assertSameTree(folder, dest)

        # the native API lists the version
        status, m = self.srv.get_json("/api/v1/models/acme/roundtrip")
        self.assertEqual(status, 200, m)
        self.assertEqual(m["refs"].get("main"), doc["commit"])
        self.assertEqual([v["version"] for v in m["versions"]], [1])
        self.assertEqual(m["versions"][0]["commit"], doc["commit"])
        self.assertEqual(m["versions"][0]["bytes_total"], total)
        status, v = self.srv.get_json("/api/v1/models/acme/roundtrip/versions/v1")
        self.assertEqual(status, 200, v)
        self.assertEqual({f["path"]: f["sha256"] for f in v["files"]}, digest)
        status, d = self.srv.get_json("/api/v1/models/acme/roundtrip/versions/main/decision")
        self.assertEqual(status, 200, d)
        self.assertEqual(d.get("min_tier"), "open")

    def test_dedup_same_folder_and_small_change(self):
        folder = self.p("dd")
        rng = random.Random(2)
        sv.write_random(os.path.join(folder, "weights.bin"), 32 << 20, rng)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({"model_type": "llama"}, f)
        facts = self.facts(SMALL_FACTS)
        first = self.push_json("acme/dedup", folder, "--facts", facts)
        total = first["bytes_total"]
        self.assertEqual(first["bytes_uploaded"], total)

        again = self.push_json("acme/dedup", folder, "--facts", facts)
        self.assertEqual(again["bytes_uploaded"], 0, again)
        self.assertEqual(again["bytes_total"], total)
        self.assertEqual(again["commit"], first["commit"],
                         "same manifest and facts: the commit digest should be the same")

        # change 10% of the big file in two places (as if two tensors changed),
        # in place and within the same second (the scan cache must notice)
        path = os.path.join(folder, "weights.bin")
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            for off in (size // 5, size * 3 // 5):
                f.seek(off)
                f.write(rng.randbytes(size // 20))
        third = self.push_json("acme/dedup", folder, "--facts", facts)
        self.assertLess(third["bytes_uploaded"], 0.15 * total, third)
        self.assertGreaterEqual(third["bytes_uploaded"], 0.09 * total, third)
        self.assertNotEqual(third["commit"], first["commit"])
        dest = self.p("out")
        self.pull_json("acme/dedup@%d" % third["version"], dest)
        self.assertSameTree(folder, dest)

    def test_resume_interrupted_pull(self):
        folder = self.p("big")
        size = 200 << 20
        sv.write_random(os.path.join(folder, "huge.bin"), size, random.Random(3))
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write("{}")
        pushed = self.push_json("acme/resume", folder, "--facts", self.facts(SMALL_FACTS))
        want = sv.tree_digest(folder)
        dest = os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else self.work,
                            "sluice-resume-%d" % os.getpid())
        self.addCleanup(shutil.rmtree, dest, ignore_errors=True)

        # slow path: at most 80 MB/s through a relay; killed once the pull has
        # saved progress (its state file, rewritten about once a second)
        # showing at least 30% done, and before it finishes
        slow = sv.ThrottledProxy(self.srv.port, 80e6)
        self.addCleanup(slow.close)
        env = self.srv.client_env(None, self.home, slow.url)
        proc = subprocess.Popen([sv.BIN, "pull", "acme/resume", "--dest", dest, "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        state_path = os.path.join(dest, "huge.bin.sluice-part.state")
        saved = 0
        deadline = time.monotonic() + 30
        while saved < 0.3 * size and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
            try:
                with open(state_path) as f:
                    saved = sum(json.load(f)["done"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        if proc.poll() is not None:
            self.fail("the pull ended before it could be interrupted: %r" % (proc.communicate(),))
        self.assertGreaterEqual(saved, 0.3 * size, "no progress saved within 30 s")
        self.assertLess(slow.downstream, 0.95 * size, "too late to interrupt")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        slow.close()
        first_bytes = slow.downstream
        self.assertFalse(os.path.exists(os.path.join(dest, "huge.bin")),
                         "an unverified file was renamed into place")
        leftovers = os.listdir(dest)
        self.assertTrue(any(n.startswith("huge.bin.sluice-part") for n in leftovers), leftovers)
        with open(state_path) as f:
            saved = sum(json.load(f)["done"])

        # second run, counted by a fast relay: only what was not saved moves
        fast = sv.ThrottledProxy(self.srv.port, 1e12)
        self.addCleanup(fast.close)
        got = self.pull_json("acme/resume", dest, url=fast.url)
        fast.close()
        self.assertEqual(got["commit"], pushed["commit"])
        self.assertLessEqual(got["bytes_downloaded"], size - saved,
                             "the resumed pull downloaded %d of %d bytes, %d were saved "
                             "(first run moved %d)" % (got["bytes_downloaded"], size, saved,
                                                        first_bytes))
        self.assertLess(got["bytes_downloaded"], 0.75 * size)
        self.assertLess(fast.downstream, size - saved + (1 << 20), "bytes on the wire")
        self.assertEqual(sv.tree_digest(dest), want)
        self.assertEqual(sorted(os.listdir(dest)), ["config.json", "huge.bin"],
                         "part/state files left behind")

        # everything present and right: nothing downloaded
        again = self.pull_json("acme/resume", dest)
        self.assertEqual(again["bytes_downloaded"], 0, again)
        self.assertFalse(any(f["downloaded"] for f in again["files"]), again)

        # a file with wrong bytes is fetched again, the right one skipped
        with open(os.path.join(dest, "config.json"), "w") as f:
            f.write("[]")
        again = self.pull_json("acme/resume", dest)
        self.assertEqual(again["bytes_downloaded"], 2, again)
        self.assertEqual(sv.tree_digest(dest), want)


# ============================================================================


class HfReads(ServerCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = os.path.join(cls.tmp, "hfmodel")
        cls.counts = sv.make_model(cls.folder, big=3 << 20, rng=random.Random(4))
        facts = os.path.join(cls.tmp, "hf.facts.json")
        with open(facts, "w") as f:
            json.dump(SMALL_FACTS, f)
        env = cls.srv.client_env(cls.alice, cls.home)
        r = st.run("push", "acme/hf", cls.folder, "--facts", facts, "--json", env=env)
        if r.rc != 0:
            cls.tearDownClass()
            raise AssertionError("push failed: %r" % r)
        cls.pushed = json.loads(r.stdout)
        cls.commit_id = cls.pushed["commit"]
        cls.digest = sv.tree_digest(cls.folder)
        with open(os.path.join(cls.folder, "big.bin"), "rb") as f:
            cls.big = f.read()

    def check_info(self, info):
        self.assertEqual(info["id"], "acme/hf")
        self.assertEqual(info["modelId"], "acme/hf")
        self.assertEqual(info["sha"], self.commit_id)
        self.assertIs(info["private"], False)
        self.assertIs(info["gated"], False)
        self.assertIs(info["disabled"], False)
        sib = {s["rfilename"]: s for s in info["siblings"]}
        self.assertEqual(set(sib), set(self.digest))
        for path, sha in self.digest.items():
            size = os.path.getsize(os.path.join(self.folder, path))
            self.assertEqual(sib[path]["size"], size, path)
            self.assertEqual(sib[path]["lfs"]["sha256"], sha, path)
            self.assertEqual(sib[path]["lfs"]["size"], size, path)
        self.assertEqual(info["sluice"], {"tier": "open", "min_tier": "open", "version": 1})

    def test_model_info(self):
        status, info = self.srv.get_json("/api/models/acme/hf")
        self.assertEqual(status, 200, info)
        self.check_info(info)
        for key in ("_id", "createdAt", "lastModified", "tags", "downloads", "likes"):
            self.assertIn(key, info)

    def test_model_info_safetensors_parameters(self):
        status, info = self.srv.get_json("/api/models/acme/hf")
        self.assertEqual(status, 200, info)
        self.assertIn("safetensors", info, "no safetensors parameter counts although the "
                      "version has model.safetensors (F32 [64,64] + BF16 [128])")
        self.assertEqual(info["safetensors"]["parameters"], self.counts)
        self.assertEqual(info["safetensors"]["total"], sum(self.counts.values()))

    def test_model_info_by_revision(self):
        for rev in ("main", "v1", "1", self.commit_id, self.commit_id[:12]):
            status, info = self.srv.get_json("/api/models/acme/hf/revision/" + rev)
            self.assertEqual(status, 200, "%s: %r" % (rev, info))
            self.check_info(info)

    def test_tree(self):
        status, tree = self.srv.get_json("/api/models/acme/hf/tree/main")
        self.assertEqual(status, 200, tree)
        entries = {e["path"]: e for e in tree}
        self.assertEqual(set(entries), {"big.bin", "config.json", "model.safetensors", "sub"})
        self.assertEqual(entries["sub"]["type"], "directory")
        for path in ("big.bin", "config.json", "model.safetensors"):
            e = entries[path]
            self.assertEqual(e["type"], "file")
            self.assertEqual(e["size"], os.path.getsize(os.path.join(self.folder, path)))
            self.assertEqual(e["lfs"]["oid"], self.digest[path])
            self.assertEqual(e["lfs"]["size"], e["size"])
        status, sub = self.srv.get_json("/api/models/acme/hf/tree/%s/sub" % self.commit_id)
        self.assertEqual(status, 200, sub)
        self.assertEqual([(e["path"], e["type"]) for e in sub], [("sub/dir", "directory")])
        status, sub = self.srv.get_json("/api/models/acme/hf/tree/v1/sub/dir")
        self.assertEqual(status, 200, sub)
        self.assertEqual([(e["path"], e["type"]) for e in sub], [("sub/dir/extra.txt", "file")])
        self.assertEqual(sub[0]["lfs"]["oid"], self.digest["sub/dir/extra.txt"])

    def test_tree_recursive(self):
        # The Hub's ?recursive=true lists every file and folder below (what
        # huggingface_hub's list_repo_files and @huggingface/hub's listFiles
        # with recursive: true send).
        status, tree = self.srv.get_json("/api/models/acme/hf/tree/main?recursive=true")
        self.assertEqual(status, 200, tree)
        files = {e["path"] for e in tree if e["type"] == "file"}
        dirs = {e["path"] for e in tree if e["type"] == "directory"}
        self.assertEqual(files, set(self.digest))
        self.assertEqual(dirs, {"sub", "sub/dir"})

    def test_tree_unknown_folder_404(self):
        # the Hub answers 404 for a folder that is not in the revision
        # (huggingface_hub raises EntryNotFoundError on it)
        for d in ("nodir", "sub/nodir", "config.json"):
            r = self.srv.request("GET", "/api/models/acme/hf/tree/main/" + d)
            self.assertJsonError(r, 404, "tree of %s" % d)

    def check_file_headers(self, r, sha, size):
        self.assertEqual(r.headers.get("ETag"), '"%s"' % sha)
        self.assertEqual(r.headers.get("X-Linked-Etag"), '"%s"' % sha)
        self.assertEqual(r.headers.get("X-Linked-Size"), str(size))
        self.assertEqual(r.headers.get("X-Repo-Commit"), self.commit_id)
        self.assertEqual(r.headers.get("Accept-Ranges"), "bytes")
        self.assertEqual(r.headers.get("Content-Type"), "application/octet-stream")

    def test_resolve_head_and_get(self):
        for path in sorted(self.digest):
            sha = self.digest[path]
            with open(os.path.join(self.folder, path), "rb") as f:
                data = f.read()
            for url in ("/acme/hf/resolve/main/" + path,
                        "/api/v1/models/acme/hf/versions/v1/files/" + path):
                r = self.srv.request("HEAD", url)
                self.assertEqual(r.status, 200, "%s: %r" % (url, r))
                self.check_file_headers(r, sha, len(data))
                self.assertEqual(r.headers.get("Content-Length"), str(len(data)))
                self.assertEqual(r.body, b"")
                r = self.srv.request("GET", url)
                self.assertEqual(r.status, 200, "%s: %r" % (url, r))
                self.check_file_headers(r, sha, len(data))
                self.assertEqual(r.headers.get("Content-Length"), str(len(data)))
                self.assertEqual(r.body, data, url)
        # by commit digest and its prefix too
        for rev in (self.commit_id, self.commit_id[:16], "v1"):
            r = self.srv.request("GET", "/acme/hf/resolve/%s/config.json" % rev)
            self.assertEqual(r.status, 200, "%s: %r" % (rev, r))
            self.assertEqual(h(r.body), self.digest["config.json"])

    def test_ranges(self):
        url = "/acme/hf/resolve/main/big.bin"
        size = len(self.big)
        sha = self.digest["big.bin"]
        cases = [("bytes=0-0", 0, 0), ("bytes=100-1099", 100, 1099),
                 ("bytes=%d-" % (size - 777), size - 777, size - 1),
                 ("bytes=1048576-", 1048576, size - 1),
                 ("bytes=-500", size - 500, size - 1),
                 ("bytes=%d-%d" % (size - 10, size + 5000), size - 10, size - 1),  # clipped
                 ("bytes=-%d" % (size + 10), 0, size - 1)]  # suffix longer than the file
        for rng, a, b in cases:
            r = self.srv.request("GET", url, headers={"Range": rng})
            self.assertEqual(r.status, 206, "%s: %r" % (rng, r))
            self.assertEqual(r.headers.get("Content-Range"), "bytes %d-%d/%d" % (a, b, size), rng)
            self.assertEqual(r.headers.get("Content-Length"), str(b - a + 1), rng)
            self.assertEqual(r.body, self.big[a:b + 1], rng)
            self.assertEqual(r.headers.get("ETag"), '"%s"' % sha, rng)
            self.assertEqual(r.headers.get("X-Repo-Commit"), self.commit_id, rng)
        # HEAD with a range
        r = self.srv.request("HEAD", url, headers={"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206, repr(r))
        self.assertEqual(r.headers.get("Content-Range"), "bytes 10-19/%d" % size)

    def test_bad_ranges(self):
        url = "/acme/hf/resolve/main/big.bin"
        size = len(self.big)
        for rng in ("bytes=abc", "bytes=5-2", "bytes=-", "bytes=", "items=0-10", "bytes=0-1,5-9",
                    "bytes=0-1, 5-9", "bytes=%d-" % size, "bytes=%d-%d" % (size + 5, size + 9),
                    "bytes=-0", "bytes=1-2-3", "bytes=99999999999999999999999-"):
            r = self.srv.request("GET", url, headers={"Range": rng})
            doc = self.assertJsonError(r, 416, rng)
            self.assertEqual(doc["error"], "range_not_satisfiable", rng)

    def test_if_none_match(self):
        url = "/acme/hf/resolve/main/big.bin"
        etag = '"%s"' % self.digest["big.bin"]
        for method in ("GET", "HEAD"):
            r = self.srv.request(method, url, headers={"If-None-Match": etag})
            self.assertEqual(r.status, 304, "%s %r" % (method, r))
            self.assertEqual(r.body, b"")
            self.assertEqual(r.headers.get("ETag"), etag)
        for other in ('"%s"' % ("0" * 64), '"abc"'):
            r = self.srv.request("GET", url, headers={"If-None-Match": other})
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(r.body, self.big)
        r = self.srv.request("GET", url, headers={"If-None-Match": '"x", ' + etag})
        self.assertEqual(r.status, 304, repr(r))
        r = self.srv.request("GET", url, headers={"If-None-Match": "*"})
        self.assertEqual(r.status, 304, repr(r))

    def test_keep_alive_many_requests_one_connection(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        self.addCleanup(c.close)
        for i in range(20):
            c.request("GET", "/acme/hf/resolve/main/config.json")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(h(r.read()), self.digest["config.json"])
            c.request("GET", "/acme/hf/resolve/main/big.bin", headers={"Range": "bytes=%d-%d"
                                                                          % (i, i + 99)})
            r = c.getresponse()
            self.assertEqual(r.status, 206)
            self.assertEqual(r.read(), self.big[i:i + 100])


# ============================================================================


class Tiers(ServerCase):

    def test_gated_version(self):
        folder, _ = self.model_folder(big=1 << 20, seed=5)
        doc = self.push_json("acme/gated", folder, "--tier", "gated",
                             "--facts", self.facts(SMALL_FACTS))
        self.assertEqual(doc["tier"], "gated")
        self.assertEqual(doc["min_tier"], "open")

        for url in ("/acme/gated/resolve/main/config.json",
                    "/api/v1/models/acme/gated/versions/main/files/config.json"):
            for method in ("GET", "HEAD"):
                r = self.srv.request(method, url)
                self.assertEqual(r.status, 401, "%s %s: %r" % (method, url, r))
                if method == "GET":
                    d = self.assertJsonError(r, 401, url)
                    self.assertEqual(d.get("tier"), "gated", d)
                    self.assertTrue(d.get("hint"), d)
            r = self.srv.request("GET", url, token=self.eve)
            d = self.assertJsonError(r, 403, url)
            self.assertEqual(d.get("tier"), "gated", d)
            self.assertTrue(d.get("hint"), d)
            self.assertNotIn(b"model_type", r.body)
            # members of the org may download
            for tok in (self.bob, self.alice):
                r = self.srv.request("GET", url, token=tok)
                self.assertEqual(r.status, 200, repr(r))
                self.assertEqual(h(r.body), sv.sha256_file(os.path.join(folder, "config.json")))

        # metadata stays visible; the HF info says gated
        status, info = self.srv.get_json("/api/models/acme/gated")
        self.assertEqual(status, 200, info)
        self.assertEqual(info["gated"], "manual")
        self.assertEqual(info["sluice"]["tier"], "gated")

        # sluice pull: refused without a token and for eve, works for bob
        r = self.pull("acme/gated", self.p("anon"))
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("gated", r.stderr + r.stdout)
        r = self.pull("acme/gated", self.p("eve"), token=self.eve)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertFalse(os.path.exists(self.p("eve", "big.bin")))
        got = self.pull_json("acme/gated", self.p("bob"), token=self.bob)
        self.assertEqual(got["commit"], doc["commit"])
        self.assertSameTree(folder, self.p("bob"))

    def test_refused_above_threshold(self):
        # no weight files, so the facts' parameter count is used:
        # 6 x 7e10 x 3e13 = 1.26e25 FLOP > 1e25
        folder = self.p("frontier")
        os.makedirs(folder)
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write('{"model_type": "llama"}')
        sv.write_random(os.path.join(folder, "blob.dat"), 200000)
        facts = self.facts({"params": 70000000000, "training": {"tokens": 3e13}})
        r = self.push("acme/frontier", folder, "--facts", facts, "--tier", "open")
        self.assertEqual(r.rc, 1, repr(r))
        text = r.stderr + r.stdout
        self.assertIn("tiered.systemic-click", text)      # the rule
        self.assertIn("Art. 51", text)                    # and its citation
        self.assertNotVisible("acme", "frontier")

    def test_held_without_training_facts(self):
        # facts.training-compute is a blocking obligation: a requested tier
        # below its hold is refused, naming it; without a tier the version
        # is stored but held at withheld until the obligation is satisfied.
        folder = self.p("nofacts")
        os.makedirs(folder)
        sv.write_random(os.path.join(folder, "blob.dat"), 100000)
        r = self.push("acme/nofacts", folder, "--facts", self.facts({"params": 1000000}),
                      "--tier", "open")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("facts.training-compute", r.stderr + r.stdout)
        self.assertNotVisible("acme", "nofacts")
        doc = self.push_json("acme/nofacts", folder)
        self.assertEqual(doc["tier"], "withheld", doc)
        self.assertEqual(doc["floor_tier"], "withheld", doc)
        self.assertEqual(doc["held_by"], ["facts.training-compute"], doc)
        # visible, with the decision, but no files for outsiders
        status, v = self.srv.get_json("/api/v1/models/acme/nofacts/versions/main", token=self.eve)
        self.assertEqual(status, 200, v)
        self.assertTrue(v.get("files_hidden"), v)
        self.assertNotIn("files", v)
        self.assertIn("decision", v)
        r = self.srv.request("GET", "/acme/nofacts/resolve/main/blob.dat", token=self.eve)
        self.assertEqual(r.status, 403, repr(r))

    def test_push_to_foreign_org_refused(self):
        folder, _ = self.model_folder(big=1000, seed=6)
        for tok in (self.eve, self.bob):
            r = self.push("acme/intruder", folder, "--facts", self.facts(SMALL_FACTS), token=tok)
            self.assertEqual(r.rc, 1, repr(r))
        self.assertNotVisible("acme", "intruder")


# ============================================================================


class BadInput(ServerCase):
    """Each bad request gets a 4xx JSON error and leaves nothing visible; then
    fsck is clean (test_zz_fsck runs last)."""

    def good_chunk(self, n=1000):
        data = os.urandom(n)
        r = self.upload("acme", "bad", [data])
        self.assertEqual(r.status, 200, repr(r))
        doc = r.json()
        self.assertEqual(doc.get("stored"), 1, doc)
        return data

    def file_entry(self, data, path="f.bin"):
        return {"path": path, "size": len(data), "sha256": h(data), "chunks": [h(data)]}

    def test_control_good_commit(self):
        """The requests below differ from this accepted one in one point."""
        data = self.good_chunk()
        name = self.unique("good")
        r = self.commit("acme", name, [self.file_entry(data)])
        self.assertEqual(r.status, 201, repr(r))
        doc = r.json()
        self.assertEqual(doc["model"], "acme/" + name)
        self.assertEqual(doc["version"], 1)
        r = self.srv.request("GET", "/acme/%s/resolve/main/f.bin" % name)
        self.assertEqual(r.body, data)

    def test_wrong_chunk_hash(self):
        data = os.urandom(2000)
        wrong = hashlib.sha256(b"something else").digest()
        body = sv.frame(data, digest=wrong)
        r = self.srv.request("POST", "/api/v1/models/acme/bad/chunks", body, token=self.alice)
        self.assertJsonError(r, (400, 422), "wrong chunk hash")
        self.assertEqual(self.missing("acme", "bad", [wrong.hex(), h(data)]),
                         {wrong.hex(), h(data)})
        # a good frame followed by a bad one: the request fails
        good = os.urandom(1500)
        body = sv.frame(good) + sv.frame(data, digest=wrong)
        r = self.srv.request("POST", "/api/v1/models/acme/bad/chunks", body, token=self.alice)
        self.assertJsonError(r, (400, 422), "good then wrong frame")
        self.assertIn(wrong.hex(), self.missing("acme", "bad", [wrong.hex()]))

    def test_frame_length_past_the_body(self):
        # Content-Length ends inside the frame its length field announces;
        # the bytes after it are not part of this request
        data = os.urandom(1000)
        full = sv.frame(data)
        s = self.srv.connect()
        self.addCleanup(s.close)
        declared = 36 + 500
        s.sendall(("POST /api/v1/models/acme/bad/chunks HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                   % (self.alice, declared)).encode() + full)
        r = sv.read_raw_response(s)
        self.assertJsonError(r, (400, 422), "frame longer than the body")
        self.assertEqual(self.missing("acme", "bad", [h(data)]), {h(data)})

    def test_body_longer_than_declared(self):
        # two whole frames sent, Content-Length covers only the first
        a, b = os.urandom(800), os.urandom(900)
        s = self.srv.connect()
        self.addCleanup(s.close)
        fa, fb = sv.frame(a), sv.frame(b)
        s.sendall(("POST /api/v1/models/acme/bad/chunks HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                   % (self.alice, len(fa))).encode() + fa + fb)
        r = sv.read_raw_response(s)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 200, repr(r))  # the declared body is a good frame
        # the rest is garbage as a next request: refused, nothing stored from it
        r2 = sv.read_raw_response(s)
        if r2 is not None:
            self.assertGreaterEqual(r2.status, 400, repr(r2))
            self.assertLess(r2.status, 500, repr(r2))
        self.assertEqual(self.missing("acme", "bad", [h(a), h(b)]), {h(b)})

    def test_truncated_body(self):
        a, b = os.urandom(3000), os.urandom(3000)
        body = sv.frame(a) + sv.frame(b)
        s = self.srv.connect()
        s.sendall(("POST /api/v1/models/acme/bad/chunks HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                   % (self.alice, len(body))).encode() + body[:len(body) - 1000])
        s.shutdown(socket.SHUT_WR)
        r = sv.read_raw_response(s, timeout=10)
        s.close()
        if r is not None:  # an answer is not required once the client is gone
            self.assertJsonError(r, (400, 408, 413, 422), "truncated body")
        # the incomplete chunk is not stored (the complete one may be)
        self.assertIn(h(b), self.missing("acme", "bad", [h(a), h(b)]))
        # the same, the client closing a while after sending part of the body
        c_data = os.urandom(5000)
        fc = sv.frame(c_data)
        s = self.srv.connect()
        s.sendall(("POST /api/v1/models/acme/bad/chunks HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                   % (self.alice, len(fc))).encode() + fc[:3000])
        time.sleep(0.3)
        s.close()
        time.sleep(0.2)
        self.assertTrue(self.srv.running())
        self.assertEqual(self.missing("acme", "bad", [h(c_data)]), {h(c_data)})
        r = self.srv.request("GET", "/api/v1/health")
        self.assertEqual(r.status, 200)

    def test_chunked_transfer_encoding(self):
        data = os.urandom(1000)
        body = sv.frame(data)
        s = self.srv.connect()
        self.addCleanup(s.close)
        s.sendall(("POST /api/v1/models/acme/bad/chunks HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n"
                   % (self.alice, len(body))).encode() + body + b"\r\n0\r\n\r\n")
        r = sv.read_raw_response(s)
        self.assertJsonError(r, (400, 411), "chunked upload")
        self.assertEqual(self.missing("acme", "bad", [h(data)]), {h(data)})

    def test_oversized_chunk_and_request(self):
        big = os.urandom((128 << 10) + 1)
        r = self.upload("acme", "bad", [big])
        self.assertJsonError(r, (400, 413), "chunk over 128 KiB")
        self.assertEqual(self.missing("acme", "bad", [h(big)]), {h(big)})
        # a request carrying more than 64 MiB of chunks (513 full 128 KiB frames)
        frames = [sv.frame(os.urandom(128 << 10)) for _ in range(513)]
        r = self.srv.request("POST", "/api/v1/models/acme/bad/chunks", b"".join(frames),
                             token=self.alice)
        self.assertJsonError(r, 413, "request over 64 MiB")

    def test_commit_names_chunks_never_uploaded(self):
        data = os.urandom(4000)
        name = self.unique("ghost")
        r = self.commit("acme", name, [self.file_entry(data)])
        self.assertJsonError(r, (400, 409, 422), "commit with chunks never uploaded")
        self.assertNotVisible("acme", name)
        # half there: one chunk stored, one not
        good = self.good_chunk()
        entry = {"path": "f.bin", "size": len(good) + len(data), "sha256": h(good + data),
                 "chunks": [h(good), h(data)]}
        r = self.commit("acme", name, [self.file_entry(good, "ok.bin"), entry])
        self.assertJsonError(r, (400, 409, 422), "commit with one chunk never uploaded")
        self.assertNotVisible("acme", name)

    def test_commit_inconsistent_manifest(self):
        data = self.good_chunk()
        name = self.unique("incons")
        bad_entries = {
            "size too large": dict(self.file_entry(data), size=len(data) + 1),
            "size too small": dict(self.file_entry(data), size=len(data) - 1),
            "wrong file sha256": dict(self.file_entry(data), sha256=h(b"other")),
            "sha256 not hex": dict(self.file_entry(data), sha256="zz" * 32),
            "chunk not hex": dict(self.file_entry(data), chunks=["nothex"]),
            "no chunks": dict(self.file_entry(data), chunks=[]),
            "negative size": dict(self.file_entry(data), size=-1),
        }
        for what, e in bad_entries.items():
            r = self.commit("acme", name, [e])
            self.assertJsonError(r, (400, 409, 422), what)
        r = self.commit("acme", name, [self.file_entry(data), self.file_entry(data)])
        self.assertJsonError(r, (400, 409, 422), "duplicate path")
        r = self.commit("acme", name, [self.file_entry(data)], tier="platinum")
        self.assertJsonError(r, (400, 422), "unknown tier")
        r = self.commit("acme", name, [self.file_entry(data)], facts={"paramz": 1})
        self.assertJsonError(r, (400, 422), "unknown facts key")
        self.assertNotVisible("acme", name)

    def test_path_both_file_and_folder(self):
        # "x" and "x/y" in one version: no folder can hold it (sluice pull
        # fails on it) and the tree lists "x" twice
        data = self.good_chunk()
        name = self.unique("clash")
        for files in ([self.file_entry(data, "x"), self.file_entry(data, "x/y")],
                      [self.file_entry(data, "a/b/c"), self.file_entry(data, "a/b")]):
            r = self.commit("acme", name, files)
            self.assertJsonError(r, (400, 409, 422), "paths %s" % [f["path"] for f in files])
        self.assertNotVisible("acme", name)

    def test_bad_file_names_in_commit(self):
        data = self.good_chunk()
        name = self.unique("names")
        for path in ("..", "../f.bin", "a/../f.bin", "a/..", "/etc/passwd", "/f.bin", "a\u0000b",
                     "f.bin\u0000", "a\u0001b", "a\nb", "a\u001fb", "a\u007fb", "a\\b", "",
                     "a//b", "./f.bin", "a/./b", "a/", "x" * 1025, "a/" * 600 + "b"):
            r = self.commit("acme", name, [self.file_entry(data, path)])
            self.assertJsonError(r, (400, 422), "file name %r" % path[:40])
        self.assertNotVisible("acme", name)
        # the 1,024-byte limit itself is fine
        ok = self.unique("longname")
        r = self.commit("acme", ok, [self.file_entry(data, "d/" + "x" * 1022)])
        self.assertEqual(r.status, 201, repr(r))

    def test_bad_names_in_urls(self):
        for url in ("/acme/hf-none/resolve/main/a%00b", "/acme/x/resolve/main/a%01b",
                    "/acme/x/resolve/main/a%0ab", "/acme/x/resolve/main/a%zzb",
                    "/acme/x/resolve/main/%2e%2e/etc", "/acme/x/resolve/main/../../etc/passwd",
                    "/acme/x/resolve/main/a/../b", "/acme/x/resolve/main/a%5cb",
                    "/api/models/acme/m%00x", "/api/models/ac%00me/m",
                    "/api/v1/models/acme/m%01/versions/main",
                    "/api/v1/models/acme/x/chunks%00/missing"):
            r = self.srv.request("GET", url)
            self.assertJsonError(r, (400, 404), url)
        for url in ("/api/v1/models/acme/..", "/api/v1/models/-bad/x", "/api/models/acme/.",
                    "/api/v1/models/acme/%s" % ("n" * 97), "/api/v1/models/ac%2fme/x"):
            r = self.srv.request("GET", url)
            self.assertJsonError(r, (400, 404), url)
        # publishing under a bad name
        r = self.srv.request("POST", "/api/v1/models/acme/a%20b/chunks/missing",
                             {"chunks": []}, token=self.alice)
        self.assertJsonError(r, 400, "model name with a space")

    def test_unknown_things_404(self):
        data = self.good_chunk()
        name = self.unique("known")
        self.assertEqual(self.commit("acme", name, [self.file_entry(data)]).status, 201)
        for url in ("/api/models/acme/nope", "/api/models/nobody/nope",
                    "/api/v1/models/acme/nope", "/api/v1/models/nobody/x",
                    "/acme/nope/resolve/main/f.bin", "/nobody/x/resolve/main/f.bin",
                    "/api/models/acme/%s/revision/v99" % name,
                    "/api/models/acme/%s/revision/nobranch" % name,
                    "/api/models/acme/%s/revision/%s" % (name, "f" * 64),
                    "/api/models/acme/%s/revision/%s" % (name, "0123456789ab"),
                    "/api/models/acme/%s/tree/v2" % name,
                    "/api/v1/models/acme/%s/versions/7" % name,
                    "/api/v1/models/acme/%s/versions/v1/files/nofile" % name,
                    "/acme/%s/resolve/nobranch/f.bin" % name,
                    "/acme/%s/resolve/main/nofile" % name,
                    "/acme/%s/resolve/main/f.bin/x" % name,
                    "/no/such/endpoint/at/all/here/x"):
            self.assertJsonError(self.srv.request("GET", url), 404, url)
        r = self.srv.request("HEAD", "/acme/%s/resolve/main/nofile" % name)
        self.assertEqual(r.status, 404, repr(r))
        # publishing to an org that does not exist
        r = self.srv.request("POST", "/api/v1/models/noorg/x/chunks/missing", {"chunks": []},
                             token=self.alice)
        self.assertJsonError(r, (403, 404), "unknown org")

    def test_method_not_allowed(self):
        for m, url in (("DELETE", "/api/v1/models"), ("PUT", "/api/v1/health"),
                       ("POST", "/acme/x/resolve/main/f.bin")):
            r = self.srv.request(m, url, body=b"" if m != "DELETE" else None, token=self.alice)
            self.assertJsonError(r, 405, "%s %s" % (m, url))

    def test_malformed_json(self):
        name = self.unique("json")
        for body in (b"{", b"[1,2", b"not json", b'{"chunks": [', b"", b"\xff\xfe{}",
                     b'{"chunks": ["a"]} trailing', b'{"a":1,"a":2'):
            for path in ("chunks/missing", "versions"):
                r = self.srv.request("POST", "/api/v1/models/acme/%s/%s" % (name, path), body,
                                     {"Content-Type": "application/json"}, token=self.alice)
                self.assertJsonError(r, 400, "%s %r" % (path, body))
        for body in ({"chunks": "x"}, {"chunks": [1, 2]}, {"chunks": ["zz"]}, [], {"files": 3},
                     {"files": [{"path": 3}]}, {"files": [{}]}):
            path = "chunks/missing" if "chunks" in body or body == [] else "versions"
            r = self.srv.request("POST", "/api/v1/models/acme/%s/%s" % (name, path), body,
                                 token=self.alice)
            self.assertJsonError(r, (400, 422), "%s %r" % (path, body))
        self.assertNotVisible("acme", name)

    def test_json_over_limit(self):
        name = self.unique("huge")
        pad = (64 << 20) + 1
        body = b'{"chunks": [], "pad": "' + b"x" * pad + b'"}'
        r = self.srv.request("POST", "/api/v1/models/acme/%s/versions" % name, body,
                             {"Content-Type": "application/json"}, token=self.alice)
        self.assertJsonError(r, 413, "JSON body over 64 MiB")
        many = ["%064x" % i for i in range(200001)]
        r = self.srv.request("POST", "/api/v1/models/acme/%s/chunks/missing" % name,
                             {"chunks": many}, token=self.alice)
        self.assertJsonError(r, (400, 413), "more than 200,000 chunks")
        self.assertNotVisible("acme", name)

    def test_bad_tokens(self):
        bad = "sl_" + "0" * 64
        revoked_user = self.unique("gone")
        revoked = self.srv.add_user(revoked_user)
        self.srv.add_member("acme", revoked_user, "publisher")
        r = self.srv.request("POST", "/api/v1/models/acme/x/chunks/missing", {"chunks": []},
                             token=revoked)
        self.assertEqual(r.status, 200, repr(r))
        self.srv.admin("token", "revoke", "--token", revoked)
        for tok in (bad, "garbage", "sl_" + "g" * 64, revoked, ""):
            hdr = {"Authorization": "Bearer " + tok}
            r = self.srv.request("POST", "/api/v1/models/acme/x/chunks/missing", {"chunks": []},
                                 hdr)
            self.assertJsonError(r, 401, "publish with token %r" % tok[:12])
            r = self.srv.request("GET", "/api/v1/models", headers=hdr)
            self.assertJsonError(r, 401, "read with token %r" % tok[:12])
        for hdr in ("Basic YWxpY2U6cHc=", "bearer", "Token " + self.alice):
            r = self.srv.request("POST", "/api/v1/models/acme/x/chunks/missing", {"chunks": []},
                                 {"Authorization": hdr})
            self.assertJsonError(r, 401, "Authorization: %s" % hdr[:12])
        # no token at all on a publish route
        r = self.srv.request("POST", "/api/v1/models/acme/x/chunks/missing", {"chunks": []})
        self.assertJsonError(r, 401, "publish without a token")

    def test_not_a_publisher(self):
        data = os.urandom(700)
        name = self.unique("foreign")
        for tok in (self.eve, self.bob):
            r = self.srv.request("POST", "/api/v1/models/acme/%s/chunks/missing" % name,
                                 {"chunks": [h(data)]}, token=tok)
            self.assertJsonError(r, 403, "missing")
            r = self.upload("acme", name, [data], token=tok)
            self.assertJsonError(r, 403, "chunks")
            r = self.commit("acme", name, [self.file_entry(data)], token=tok)
            self.assertJsonError(r, 403, "versions")
        self.assertEqual(self.missing("acme", "bad", [h(data)]), {h(data)})
        self.assertNotVisible("acme", name)

    def test_chunk_of_another_org_counts_as_missing(self):
        data = self.good_chunk()  # stored by acme
        self.assertEqual(self.missing("evil", "x", [h(data)], token=self.eve), {h(data)})
        # eve cannot commit it without uploading its bytes
        r = self.commit("evil", self.unique("steal"), [self.file_entry(data)], token=self.eve)
        self.assertJsonError(r, (400, 409, 422), "commit of a chunk only acme stored")
        r = self.upload("evil", "x", [data], token=self.eve)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.missing("evil", "x", [h(data)], token=self.eve), set())

    def test_zz_fsck_clean_after_bad_input(self):
        r = self.srv.fsck()
        self.assertEqual(r.rc, 0, repr(r))
        self.assertTrue(self.srv.running())


# ============================================================================


class AbandonedUpload(unittest.TestCase):
    """Clients that send the headers of an upload, then part of its body and
    close the connection at once (body bytes and FIN back to back, as
    http.client's close() after a short send does): the server must notice,
    end each request, and still stop promptly on SIGTERM. Ten tries, as the
    failure depends on timing."""

    TRIES = 10

    def test_clients_gone_mid_body(self):
        import http.client
        tmp = tempfile.mkdtemp(prefix="sluice-gone-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
        self.addCleanup(srv.cleanup)
        srv.start()
        tok = srv.add_user("pub")
        srv.add_org("o")
        srv.add_member("o", "pub")
        sent = []
        for _ in range(self.TRIES):
            data = os.urandom(5000)
            sent.append(h(data))
            fc = sv.frame(data)
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            c.putrequest("POST", "/api/v1/models/o/m/chunks")
            c.putheader("Authorization", "Bearer " + tok)
            c.putheader("Content-Length", str(len(fc)))
            c.endheaders()
            time.sleep(0.05)
            c.send(fc[:3000])
            c.close()
        # each request writes its log line when it ends
        key = '"path":"/api/v1/models/o/m/chunks"'
        deadline = time.monotonic() + 5
        while srv.stderr().count(key) < self.TRIES and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = srv.stderr().count(key)
        self.assertEqual(ended, self.TRIES, "5 s after %d clients closed their connections "
                         "mid-body, only %d of the requests have ended"
                         % (self.TRIES, ended))
        r = srv.request("POST", "/api/v1/models/o/m/chunks/missing", {"chunks": sent},
                        token=tok)
        self.assertEqual(set(r.json()["missing"]), set(sent))

    def test_sigterm_with_an_abandoned_upload(self):
        import http.client
        tmp = tempfile.mkdtemp(prefix="sluice-gone-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
        self.addCleanup(srv.cleanup)
        srv.start()
        tok = srv.add_user("pub")
        srv.add_org("o")
        srv.add_member("o", "pub")
        for _ in range(self.TRIES):
            fc = sv.frame(os.urandom(5000))
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            c.putrequest("POST", "/api/v1/models/o/m/chunks")
            c.putheader("Authorization", "Bearer " + tok)
            c.putheader("Content-Length", str(len(fc)))
            c.endheaders()
            time.sleep(0.05)
            c.send(fc[:3000])
            c.close()
        time.sleep(0.3)
        srv.stop(timeout=10)


# ============================================================================


class GarbageCollection(ServerCase):

    def test_gc_keeps_referenced_chunks(self):
        folder = self.p("gc")
        rng = random.Random(7)
        sv.write_random(os.path.join(folder, "w.bin"), 12 << 20, rng)
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write('{"v": 1}')
        facts = self.facts(SMALL_FACTS)
        v1 = self.push_json("acme/gc", folder, "--facts", facts)
        want1 = sv.tree_digest(folder)
        with open(os.path.join(folder, "w.bin"), "r+b") as f:
            f.seek(5 << 20)
            f.write(rng.randbytes(1 << 20))
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write('{"v": 2}')
        v2 = self.push_json("acme/gc", folder, "--facts", facts)
        want2 = sv.tree_digest(folder)
        self.assertLess(v2["bytes_uploaded"], v2["bytes_total"] // 4)

        # an orphan: uploaded, never committed
        orphan = os.urandom(5000)
        r = self.upload("acme", "gc", [orphan])
        self.assertEqual(r.status, 200, repr(r))

        r = self.srv.admin("gc", "--grace", "0", "--json")
        rep = json.loads(r.stdout)
        self.assertGreaterEqual(rep.get("chunks_dropped", 0), 1, rep)
        self.assertEqual(self.missing("acme", "gc", [h(orphan)]), {h(orphan)})

        for v, want in ((v1, want1), (v2, want2)):
            dest = self.p("pull-%d" % v["version"])
            got = self.pull_json("acme/gc@v%d" % v["version"], dest)
            self.assertEqual(got["commit"], v["commit"])
            self.assertEqual(sv.tree_digest(dest), want)
        r = self.srv.fsck()
        self.assertEqual(r.rc, 0, repr(r))
        # a second gc finds nothing more to drop and changes nothing
        self.srv.admin("gc", "--grace", "0")
        dest = self.p("again")
        self.pull_json("acme/gc@v1", dest)
        self.assertEqual(sv.tree_digest(dest), want1)
        self.assertEqual(self.srv.fsck().rc, 0)


# ============================================================================


class Drain(unittest.TestCase):

    def test_sigterm_lets_a_download_finish(self):
        tmp = tempfile.mkdtemp(prefix="sluice-drain-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
        self.addCleanup(srv.cleanup)
        srv.start()
        tok = srv.add_user("pub")
        srv.add_org("o")
        srv.add_member("o", "pub")
        folder = os.path.join(tmp, "m")
        size = 48 << 20
        sv.write_random(os.path.join(folder, "w.bin"), size, random.Random(8))
        facts = os.path.join(tmp, "f.json")
        with open(facts, "w") as f:
            json.dump(SMALL_FACTS, f)
        r = st.run("push", "o/m", folder, "--facts", facts, env=srv.client_env(tok, tmp))
        self.assertEqual(r.rc, 0, repr(r))
        want = sv.sha256_file(os.path.join(folder, "w.bin"))

        s = srv.connect()
        self.addCleanup(s.close)
        s.sendall(b"GET /o/m/resolve/main/w.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            b = s.recv(4096)
            self.assertTrue(b)
            head += b
        head, body = head.split(b"\r\n\r\n", 1)
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        hasher = hashlib.sha256(body)
        got = len(body)
        while got < 1 << 20:
            b = s.recv(65536)
            self.assertTrue(b)
            hasher.update(b)
            got += len(b)

        srv.terminate()
        time.sleep(0.7)
        self.assertTrue(srv.running(), "the server exited with a download in flight")
        while got < size:
            b = s.recv(1 << 20)
            if not b:
                break
            hasher.update(b)
            got += len(b)
            time.sleep(0.002)
        self.assertEqual(got, size, "the download was cut off after %d of %d bytes" % (got, size))
        self.assertEqual(hasher.hexdigest(), want)
        # the connection stays open (keep-alive): the server must still exit
        self.assertEqual(srv.stop(timeout=10), 0)
        log = srv.stderr()
        self.assertIn('"stopped"', log)


if __name__ == "__main__":
    st.main()
