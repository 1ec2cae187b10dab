# SPDX-License-Identifier: Apache-2.0
"""Regional mirrors (issue 17, item 5; docs/mirror.md), with real processes:
an upstream `sluice serve` and a `sluice serve --mirror-of URL` in front of
it. The mirror serves an open model while the upstream is stopped, fetches
a new version chunk by chunk (only what it lacks crosses the link), never
keeps a byte of a gated or withheld model, forwards a click acceptance with
the user's token, serves the upstream's log key and proofs so clients
verify against the upstream's key, and stops serving when the upstream's
key changes."""
import hashlib
import json
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"training": {"tokens": 1e9}}
NTENSORS, ROWS, COLS = 16, 64, 512  # F32: 128 KiB a tensor, 2 MiB in all


def tensor_bytes(seed):
    return random.Random(seed).randbytes(ROWS * COLS * 4)


def write_model(folder, seeds):
    os.makedirs(folder, exist_ok=True)
    tensors = [("layers.%02d.weight" % i, "F32", [ROWS, COLS]) for i in range(len(seeds))]
    hdr, _ = st.st_header(tensors, {"format": "pt"})
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for s in seeds:
            f.write(tensor_bytes(s))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "hidden_size": COLS}, f)


def files_under(root):
    for base, _dirs, names in os.walk(root):
        for n in names:
            yield os.path.join(base, n)


class Mirror(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-mirror-")
        cls.up = sv.Server(os.path.join(cls.tmp, "up"), workdir=cls.mkd("up-work"))
        cls.up.start()
        cls.alice = cls.up.add_user("alice")
        cls.eve = cls.up.add_user("eve")
        cls.bob = cls.up.add_user("bob")
        cls.up.add_org("acme")
        cls.up.add_member("acme", "alice", "publisher")
        cls.facts = os.path.join(cls.tmp, "facts.json")
        with open(cls.facts, "w") as f:
            json.dump(FACTS, f)
        cls.v1_dir = os.path.join(cls.tmp, "v1")
        write_model(cls.v1_dir, list(range(NTENSORS)))
        cls.v1 = cls.push_as(cls.alice, "acme/open", cls.v1_dir)
        cls.v2_dir = os.path.join(cls.tmp, "v2")
        write_model(cls.v2_dir, [s if s != 5 else 777 for s in range(NTENSORS)])
        cls.v2 = cls.push_as(cls.alice, "acme/open", cls.v2_dir)
        # the mirror reaches the upstream through a relay that counts bytes
        cls.link = sv.ThrottledProxy(cls.up.port, 1e12)
        cls.mir = sv.Server(os.path.join(cls.tmp, "mirror"), workdir=cls.mkd("mirror-work"),
                            args=["--mirror-of", cls.link.url], origin=None)
        cls.mir.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.mir.stop()  # exits 0 after SIGTERM (a sanitizer build: no leak)
            cls.up.stop()
        finally:
            cls.mir.cleanup()
            cls.up.cleanup()
            cls.link.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def mkd(cls, name):
        p = os.path.join(cls.tmp, name)
        os.makedirs(p, exist_ok=True)
        return p

    @classmethod
    def push_as(cls, token, model, folder, *args):
        env = cls.up.client_env(token, os.path.join(cls.tmp, "home-push"))
        r = st.run("push", model, folder, "--facts", cls.facts, "--json", *args, env=env,
                   timeout=300)
        assert r.rc == 0, r
        return json.loads(r.stdout)

    def setUp(self):
        self.assertTrue(self.up.running(), self.up.stderr()[-3000:])
        self.assertTrue(self.mir.running(), self.mir.stderr()[-3000:])
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.work, *parts)

    def run_cli(self, *args, token=None, url=None, home="home", timeout=180):
        env = self.mir.client_env(token, self.p(home), url or self.mir.url)
        return st.run(*args, env=env, timeout=timeout)

    def pull_json(self, spec, dest, token=None, url=None):
        r = self.run_cli("pull", spec, "--dest", dest, "--json", token=token, url=url)
        self.assertEqual(r.rc, 0, repr(r) + self.mir.stderr()[-2000:])
        return json.loads(r.stdout)

    def assertDownloadHeaders(self, r):
        """A mirror's file answers carry the download headers of docs/web.md:
        a file on the UI's origin is never shown or run as a page."""
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff", r)
        self.assertEqual(r.headers.get("Content-Security-Policy"), "sandbox", r)
        self.assertEqual(r.headers.get("Content-Disposition"),
                         'attachment; filename="model.safetensors"', r)

    def assertTree(self, folder, want):
        self.assertEqual(sv.tree_digest(folder), sv.tree_digest(want))

    # ------------------------------------------------------------------ open

    def test_open_model_served_while_the_upstream_is_stopped(self):
        got = self.pull_json("acme/open@%d" % self.v1["version"], self.p("a"))
        self.assertTree(self.p("a"), self.v1_dir)
        self.assertEqual(got["commit"], self.v1["commit"])
        port = self.up.port
        self.up.stop()
        try:
            got = self.pull_json("acme/open@%d" % self.v1["version"], self.p("b"))
            self.assertTree(self.p("b"), self.v1_dir)
            # Hugging Face's download route too, with the identity headers
            r = self.mir.request("GET", "/acme/open/resolve/%s/model.safetensors"
                                 % self.v1["commit"])
            self.assertEqual(r.status, 200, r)
            with open(os.path.join(self.v1_dir, "model.safetensors"), "rb") as f:
                want = f.read()
            self.assertEqual(r.body, want)
            self.assertEqual(r.headers["ETag"], '"%s"' % hashlib.sha256(want).hexdigest())
            self.assertEqual(r.headers["X-Repo-Commit"], self.v1["commit"])
            self.assertEqual(r.headers["X-Sluice-Mirror"], "kept")
            self.assertDownloadHeaders(r)
            r = self.mir.request("GET", "/acme/open/resolve/%s/model.safetensors"
                                 % self.v1["commit"], headers={"Range": "bytes=10-19"})
            self.assertEqual((r.status, r.body), (206, want[10:20]))
            self.assertEqual(r.headers["Content-Range"], "bytes 10-19/%d" % len(want))
            self.assertDownloadHeaders(r)
            # huggingface_hub's HEAD before a download
            r = self.mir.request("HEAD", "/acme/open/resolve/%s/model.safetensors"
                                 % self.v1["commit"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers["X-Linked-Size"], str(len(want)))
            self.assertEqual(r.headers["Content-Length"], str(len(want)))
            self.assertEqual(r.body, b"")
            self.assertDownloadHeaders(r)
            r = self.mir.request("GET", "/acme/open/resolve/%s/model.safetensors"
                                 % self.v1["commit"], headers={"Range": "bytes=%d-" % len(want)})
            self.assertEqual(r.status, 416, r)
            # what it never fetched it cannot serve, and says why
            r = self.mir.request("GET", "/api/v1/models/acme/never/versions/main")
            self.assertEqual(r.status, 502, r)
            self.assertIn(self.link.url, r.json()["message"])
        finally:
            self.up.start(port=port)
            self.assertEqual(self.up.port, port)

    def test_the_web_ui_is_the_mirrors_own(self):
        """The pages and assets come from the mirror's binary with the UI's
        headers (docs/web.md), never an upstream answer relayed without
        them; the pages' API calls go upstream through the mirror."""
        shell = self.up.request("GET", "/").body
        for path in ("/", "/acme/open", "/acme/open/history", "/log"):
            r = self.mir.request("GET", path)
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.body, shell, path)
            self.assertIsNone(r.headers.get("X-Sluice-Mirror"), path)
            self.assertEqual(r.headers.get("X-Frame-Options"), "DENY", path)
            self.assertIn("default-src 'self'", r.headers.get("Content-Security-Policy"), path)
        js = re.search(rb'"(/ui/app\.js\?v=[0-9a-f]{8})"', shell).group(1).decode()
        r = self.mir.request("GET", js)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=31536000, immutable")
        r = self.mir.request("GET", "/api/v1/models/acme/open/versions/main/viewer")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["may_download"], True)

    def test_a_new_version_crosses_the_link_chunk_by_chunk(self):
        self.pull_json("acme/open@%d" % self.v1["version"], self.p("a"))
        before = self.link.downstream
        got = self.pull_json("acme/open@%d" % self.v2["version"], self.p("b"))
        self.assertTree(self.p("b"), self.v2_dir)
        moved = self.link.downstream - before
        total = os.path.getsize(os.path.join(self.v2_dir, "model.safetensors"))
        # one tensor of 16 changed: the mirror fetched about 1/16 of it
        self.assertLess(moved, 0.25 * total, (moved, total, got))
        # a second user's pull moves nothing over the link
        before = self.link.downstream
        self.pull_json("acme/open@%d" % self.v2["version"], self.p("c"), url=self.mir.url)
        self.assertLess(self.link.downstream - before, 64 * 1024)

    def test_a_damaged_copy_in_the_mirror_is_refetched_or_caught(self):
        self.pull_json("acme/open@%d" % self.v1["version"], self.p("a"))
        kept = os.path.join(self.mir.data, "mirror", "files", "acme", "open", self.v1["commit"],
                            "model.safetensors")
        self.assertTrue(os.path.exists(kept))
        # a copy whose size changed is dropped and fetched again
        with open(kept, "ab") as f:
            f.write(b"junk")
        self.pull_json("acme/open@%d" % self.v1["version"], self.p("b"))
        self.assertTree(self.p("b"), self.v1_dir)
        self.assertIn("mirror_copy_damaged", self.mir.stderr())
        # a byte flipped in place reaches the client, whose check refuses it
        with open(kept, "r+b") as f:
            f.seek(4096)
            b = f.read(1)
            f.seek(4096)
            f.write(bytes([b[0] ^ 1]))
        r = self.run_cli("pull", "acme/open@%d" % self.v1["version"], "--dest", self.p("c"),
                         "--retry-for", "0")
        self.assertNotEqual(r.rc, 0, r)
        self.assertFalse(os.path.exists(self.p("c", "model.safetensors")))
        os.unlink(kept)  # the next request fetches it again

    # ------------------------------------------------------- gated, withheld

    def test_gated_and_withheld_are_never_stored(self):
        folder = self.p("g")
        write_model(folder, [50000 + i for i in range(NTENSORS)])
        gated = self.push_as(self.alice, "acme/gated", folder, "--tier", "gated")
        secret = self.push_as(self.alice, "acme/secret", folder, "--tier", "withheld")
        for model, pushed in (("acme/gated", gated), ("acme/secret", secret)):
            for token in (None, self.alice, self.eve):
                path = "/api/v1/models/%s/versions/%s/files/model.safetensors" % (
                    model, pushed["commit"])
                r = self.mir.request("GET", path, token=token)
                self.assertIn(r.status, (401, 403), r)
                self.assertNotIn(tensor_bytes(50000)[:64], r.body)
            # the publisher is told where to go
            r = self.mir.request("GET", "/%s/resolve/main/model.safetensors" % model,
                                 token=self.alice)
            self.assertEqual(r.status, 403, r)
            self.assertIn(self.link.url, r.json()["message"])
            # and the CLI through the mirror fails cleanly
            r = self.run_cli("pull", model, "--dest", self.p("out-" + model[5:]),
                             token=self.alice)
            self.assertEqual(r.rc, 1, r)
        # nothing of its bytes anywhere in the mirror's folder
        sample = tensor_bytes(50003)[1000:1064]
        for f in files_under(self.mir.data):
            with open(f, "rb") as fh:
                self.assertNotIn(sample, fh.read(), f)
        self.assertFalse(os.path.exists(os.path.join(self.mir.data, "mirror", "files", "acme",
                                                     "gated")))

    def test_a_version_made_gated_upstream_is_dropped_by_the_mirror(self):
        folder = self.p("t")
        write_model(folder, [70000 + i for i in range(NTENSORS)])
        pushed = self.push_as(self.alice, "acme/later", folder)
        self.pull_json("acme/later", self.p("a"))
        kept = os.path.join(self.mir.data, "mirror", "files", "acme", "later", pushed["commit"])
        self.assertTrue(os.path.exists(os.path.join(kept, "model.safetensors")))
        r = self.up.request("POST", "/api/v1/models/acme/later/tier", {"tier": "gated"},
                            token=self.alice)
        self.assertEqual(r.status, 200, r)
        # kept anonymous answers are reused for at most 5 s (docs/mirror.md)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            r = self.mir.request("GET", "/acme/later/resolve/%s/model.safetensors"
                                 % pushed["commit"])
            if r.status != 200:
                break
            time.sleep(0.5)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["tier"], "gated")
        self.assertFalse(os.path.exists(kept))

    def test_uploads_through_the_mirror_are_refused(self):
        r = self.mir.request("POST", "/api/v1/models/acme/open/chunks", body=b"x" * 10,
                             token=self.alice)
        self.assertEqual(r.status, 403, r)
        self.assertIn(self.link.url, r.json()["message"])

    def test_bad_names_and_paths_are_refused_before_anything_is_fetched(self):
        c = self.v1["commit"]
        for path in ("/api/v1/models/%2e%2e/open/versions/main/files/config.json",
                     "/api/v1/models/acme/%2e%2e/versions/main/files/config.json",
                     "/api/v1/models/acme/open/versions/%2e%2e/files/config.json",
                     "/api/v1/models/acme/open/versions/main%3fx=1/files/config.json",
                     "/api/v1/models/acme/open/versions/%s/files/a/%%2e%%2e/%%2e%%2e/x" % c,
                     "/acme/open/resolve/%s/sub//config.json" % c):
            r = self.mir.request("GET", path)
            self.assertEqual(r.status, 400, (path, r))
            self.assertIn("message", r.json())
            # refused by the mirror itself, not passed on
            self.assertNotIn("X-Sluice-Mirror", r.headers, path)
        self.assertFalse(os.path.exists(os.path.join(self.mir.data, "mirror", "files", "..",
                                                     "open")))

    # ------------------------------------------------------------------ click

    def test_click_acceptance_reaches_the_upstream(self):
        folder = self.p("c")
        write_model(folder, [60000 + i for i in range(NTENSORS)])
        lic = self.p("license.txt")
        with open(lic, "w") as f:
            f.write("Use it kindly.\n")
        self.push_as(self.alice, "acme/click", folder, "--tier", "click", "--license", lic)
        r = self.run_cli("pull", "acme/click", "--dest", self.p("no"), token=self.eve)
        self.assertEqual(r.rc, 1, r)
        r = self.run_cli("accept", "acme/click", token=self.eve)
        self.assertEqual(r.rc, 0, r)
        # the upstream recorded it: eve's terms say accepted there
        status, terms = self.up.get_json("/api/v1/models/acme/click/terms", token=self.eve)
        self.assertEqual(status, 200, terms)
        self.assertTrue(terms["accepted"], terms)
        got = self.pull_json("acme/click", self.p("out"), token=self.eve)
        self.assertTree(self.p("out"), folder)
        self.assertEqual(got["bytes_total"], got["bytes_downloaded"], got)
        # bob has not accepted: the kept copy is not his
        r = self.mir.request("GET", "/acme/click/resolve/main/model.safetensors", token=self.bob)
        self.assertEqual(r.status, 403, r)
        r = self.mir.request("GET", "/acme/click/resolve/main/model.safetensors")
        self.assertEqual(r.status, 401, r)

    # ------------------------------------------------------------------- log

    def test_clients_verify_against_the_upstream_key(self):
        r = self.run_cli("log", "key", "--json", url=self.up.url, home="h-up")
        self.assertEqual(r.rc, 0, r)
        up_key = json.loads(r.stdout)["key"]
        r = self.run_cli("log", "key", "--json", home="h-mir")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.stdout)["key"], up_key)
        r = self.run_cli("log", "verify", "--full", "--json", home="h-mir")
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(json.loads(r.stdout)["ok"])
        # the decision's proof, read through the mirror, checks offline with
        # the upstream's key
        status, dec = self.mir.get_json("/api/v1/models/acme/open/versions/%s/decision"
                                        % self.v1["commit"])
        self.assertEqual(status, 200, dec)
        self.assertIn("log_proof", dec)
        proof = self.p("decision.json")
        with open(proof, "w") as f:
            json.dump(dec, f)
        entry = self.p("entry")
        r = self.run_cli("log", "entry", str(dec["log_index"]), url=self.up.url, home="h-up")
        self.assertEqual(r.rc, 0, r)
        with open(entry, "w") as f:
            f.write(r.stdout)
        key = self.up.request("GET", "/log/key").body.decode().strip()
        r = self.run_cli("log", "verify-proof", proof, "--entry", entry, "--key", key,
                         home="h-none")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("VALID", r.stdout)
        # and the health says whose mirror it is and that the key holds
        status, h = self.mir.get_json("/api/v1/health")
        self.assertEqual(status, 200, h)
        self.assertEqual(h["mirror"]["upstream"], self.link.url)
        self.assertEqual(h["mirror"]["key"], "pinned")
        self.assertEqual(h["mirror"]["pinned_key"], key)

    def test_answers_to_a_token_are_not_kept(self):
        r = self.mir.request("GET", "/api/whoami-v2", token=self.eve)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["X-Sluice-Mirror"], "passed")
        name = r.json()["name"].encode()
        for f in files_under(os.path.join(self.mir.data, "mirror")):
            with open(f, "rb") as fh:
                self.assertNotIn(b'"name":"%s"' % name, fh.read(), f)
        # and a bad token is the upstream's refusal, not the mirror's pass
        r = self.mir.request("GET", "/api/whoami-v2", token="nonsense")
        self.assertEqual(r.status, 401, r)

    def test_a_mirror_of_a_mirror(self):
        work = self.p("campus-work")
        os.makedirs(work)
        campus = sv.Server(self.p("campus"), workdir=work, args=["--mirror-of", self.mir.url],
                           origin=None)
        campus.start()
        self.addCleanup(campus.cleanup)
        r = self.run_cli("pull", "acme/open@%d" % self.v1["version"], "--dest", self.p("out"),
                         url=campus.url)
        self.assertEqual(r.rc, 0, r)
        self.assertTree(self.p("out"), self.v1_dir)
        self.assertEqual(campus.request("GET", "/log/key").body,
                         self.up.request("GET", "/log/key").body)


class MirrorKeyChange(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-mkey-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_a_changed_upstream_key_is_refused_and_shown_on_health(self):
        up = sv.Server(os.path.join(self.tmp, "up"), workdir=self.tmp)
        up.start()
        self.addCleanup(up.cleanup)
        mir = sv.Server(os.path.join(self.tmp, "mirror"), workdir=os.path.join(self.tmp),
                        args=["--mirror-of", up.url], origin=None)
        mir.start()
        self.addCleanup(mir.cleanup)
        self.assertEqual(mir.request("GET", "/log/key").body, up.request("GET", "/log/key").body)
        port = up.port
        up.stop()
        # another server with its own key takes the upstream's address
        other = sv.Server(os.path.join(self.tmp, "other"), workdir=self.tmp)
        other.start(port=port)
        self.addCleanup(other.cleanup)
        self.assertEqual(other.port, port)
        self.assertNotEqual(other.request("GET", "/log/key").body,
                            mir.request("GET", "/log/key").body)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = mir.request("GET", "/api/v1/health")
            if r.status != 200:
                break
            time.sleep(0.5)
        self.assertEqual(r.status, 503, r)
        h = r.json()
        self.assertFalse(h["ok"])
        self.assertEqual(h["mirror"]["key"], "changed")
        self.assertIn(up.url, h["message"])
        r = mir.request("GET", "/api/v1/models/acme/open/versions/main")
        self.assertEqual(r.status, 503, r)
        self.assertIn("different log key", r.json()["message"])
        r = mir.request("GET", "/log/checkpoint")
        self.assertEqual(r.status, 503, r)
        self.assertIn("mirror_upstream_key_changed", mir.stderr())
        mir.stop()

    def test_a_bad_upstream_url_is_a_usage_error(self):
        r = st.run("serve", "--data", os.path.join(self.tmp, "d"), "--mirror-of", "ftp://x",
                   env=sv.clean_env())
        self.assertEqual(r.rc, 2, r)
        self.assertIn("--mirror-of", r.stderr)

    def test_no_first_contact_no_mirror(self):
        port = sv.free_port()
        r = st.run("serve", "--data", os.path.join(self.tmp, "d"), "--listen",
                   "127.0.0.1:%d" % sv.free_port(), "--mirror-of", "http://127.0.0.1:%d" % port,
                   env=sv.clean_env())
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("first contact", r.stderr)


if __name__ == "__main__":
    unittest.main()
