# SPDX-License-Identifier: Apache-2.0
"""The download lookup cache never serves what a change took away (issue 11,
item 12: with the cache not voided on a tier change, an anonymous download
on the same keep-alive connection kept getting 200 after the model went
gated, and no test noticed).

The cache (src/http/cache.c) is per server thread and keeps an entry for a
second; a keep-alive connection stays on one thread. So each case reads a
file on ONE http.client.HTTPConnection (filling that thread's cache), makes
the change on another connection, and reads again on the first connection
within the second; a round that took longer than that proves nothing and is
run again (at most 5 times). Cases:

- tier change: an open model goes gated: anonymous 200, then 401/403;
- `main` moves: a new version's config.json is served, not the old one;
- an attestation raises the tier (cbrn high: hosted): 200, then refused;
- a grant is revoked: the grantee's 200, then 403.
"""
import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}
TTL = 1.0  # the cache's entry lifetime (src/http/cache.c)


class CacheInvalidation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-cache-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            srv = cls.srv
            srv.start()
            cls.pub = srv.add_user("pub")
            cls.bob = srv.add_user("bob")
            cls.eva = srv.add_user("eva")
            srv.add_org("acme")
            srv.add_member("acme", "pub", "publisher")
            cls.n = 0
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

    # ------------------------------------------------------------ helpers

    def call(self, method, path, body=None, token=None, want=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        r = self.srv.request(method, path, body, {"Content-Type": "application/json"} if body
                             else None, token=token)
        if want is not None:
            self.assertEqual(r.status, want, "%s %s -> %r" % (method, path, r))
        return r

    def commit(self, model, files, tier="open"):
        """A version of MODEL holding FILES ({path: bytes, each under 8 KiB,
        so one chunk}) through the HTTP API; returns the commit answer."""
        frames = b"".join(sv.frame(data) for data in files.values())
        self.call("POST", "/api/v1/models/%s/chunks" % model, frames, self.pub, 200)
        doc = {"files": [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                          "chunks": [hashlib.sha256(d).hexdigest()]} for p, d in files.items()],
               "facts": FACTS, "tier": tier, "license": None}
        return self.call("POST", "/api/v1/models/%s/versions" % model, doc, self.pub, 201).json()

    def new_model(self, tier="open"):
        type(self).n += 1
        model = "acme/m%d" % self.n
        config = json.dumps({"model_type": "llama", "v": 1, "model": model}).encode()
        doc = self.commit(model, {"config.json": config, "notes.txt": os.urandom(900)}, tier)
        self.assertEqual(doc["tier"], tier, doc)
        return model, config, doc["commit"]

    def get(self, conn, path, token=None):
        h = {"Authorization": "Bearer " + token} if token else {}
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        return r.status, r.read()

    def rounds(self, prepare, change, check, tries=5):
        """prepare() -> (conn path token); reads on one keep-alive connection,
        calls change(), reads again; check(status, body) on the second read.
        Retried when the two reads were more than TTL apart."""
        for _ in range(tries):
            path, token, undo = prepare()
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
            try:
                status, body = self.get(conn, path, token)
                self.assertEqual(status, 200, body[:300])
                t0 = time.monotonic()
                change()
                status, body = self.get(conn, path, token)
                took = time.monotonic() - t0
                sock = conn.sock
            finally:
                conn.close()
            self.assertIsNotNone(sock, "the connection was not kept alive")
            if took < TTL * 0.8:
                check(status, body)
                return
            if undo:
                undo()
        self.fail("no round finished within the cache lifetime of %g s" % TTL)

    # ------------------------------------------------------------ cases

    def test_tier_change_on_one_connection(self):
        state = {}

        def prepare():
            state["model"], state["config"], _ = self.new_model()
            return "/%s/resolve/main/config.json" % state["model"], None, None

        def change():
            self.call("POST", "/api/v1/models/%s/tier" % state["model"], {"tier": "gated"},
                      self.pub, 200)

        def check(status, body):
            self.assertIn(status, (401, 403), body[:300])
            self.assertEqual(json.loads(body)["tier"], "gated")

        self.rounds(prepare, change, check)

    def test_main_moving_on_one_connection(self):
        state = {}

        def prepare():
            state["model"], state["config"], _ = self.new_model()
            state["new"] = json.dumps({"model_type": "llama", "v": 2}).encode()
            # the new bytes are uploaded before the timed part
            frames = sv.frame(state["new"])
            self.call("POST", "/api/v1/models/%s/chunks" % state["model"], frames, self.pub, 200)
            return "/%s/resolve/main/config.json" % state["model"], None, None

        def change():
            d = state["new"]
            sha = hashlib.sha256(d).hexdigest()
            doc = {"files": [{"path": "config.json", "size": len(d), "sha256": sha,
                              "chunks": [sha]}], "facts": FACTS, "tier": "open", "license": None}
            self.call("POST", "/api/v1/models/%s/versions" % state["model"], doc, self.pub, 201)

        def check(status, body):
            self.assertEqual(status, 200)
            self.assertEqual(body, state["new"], "the old main was served after main moved")

        self.rounds(prepare, change, check)

    def test_attestation_raising_the_tier_on_one_connection(self):
        home = os.path.join(self.tmp, "home-eva")
        key = os.path.join(self.tmp, "eva.key")
        env = self.srv.client_env(self.eva, home)
        r = st.run("eval", "keygen", "--name", "eva", "--out", key, env=env)
        self.assertEqual(r.rc, 0, r)
        r = st.run("eval", "key", "add", "eva", r.stdout.strip(),
                   env=self.srv.client_env(self.srv.admin_token, home))
        self.assertEqual(r.rc, 0, r)
        state = {}

        def prepare():
            state["model"], _, commit = self.new_model()
            note = os.path.join(self.tmp, "att-%s.note" % state["model"].replace("/", "-"))
            r = st.run("eval", "sign", "--key", key, "--model", "%s@%s" % (state["model"], commit),
                       "--domain", "cbrn", "--level", "high", "--method", "red team", "--out",
                       note, env=env)
            self.assertEqual(r.rc, 0, r)
            with open(note, "rb") as f:
                state["note"] = f.read()
            return "/%s/resolve/main/config.json" % state["model"], None, None

        def change():
            r = self.call("POST", "/api/v1/models/%s/versions/main/attestations" % state["model"],
                          state["note"], self.pub)
            self.assertIn(r.status, (200, 201), repr(r))
            self.assertEqual(r.json()["tier"], "hosted", r.json())

        def check(status, body):
            self.assertIn(status, (401, 403), body[:300])
            self.assertEqual(json.loads(body)["tier"], "hosted")

        self.rounds(prepare, change, check)

    def test_grant_revocation_on_one_connection(self):
        state = {}

        def prepare():
            state["model"], _, _ = self.new_model("gated")
            base = "/api/v1/models/%s" % state["model"]
            self.call("POST", base + "/access", {"purpose": "cache test"}, self.bob, 201)
            self.call("POST", base + "/access/bob/approve", {}, self.pub, 200)
            return "/%s/resolve/main/config.json" % state["model"], self.bob, None

        def change():
            self.call("POST", "/api/v1/models/%s/access/bob/revoke" % state["model"],
                      {"reason": "cache test"}, self.pub, 200)

        def check(status, body):
            self.assertEqual(status, 403, body[:300])

        self.rounds(prepare, change, check)


if __name__ == "__main__":
    unittest.main(verbosity=2)
