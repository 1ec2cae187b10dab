# SPDX-License-Identifier: Apache-2.0
"""The hosted gateway's concurrency quota (issue 15, docs/hosted.md,
"Quotas"): `sluice hosted quota set ORG/NAME [--user U] --concurrency N`
limits the calls a caller runs at once on a model. Each running call holds
a leased row in the database, so the limit holds across the servers of a
hub. Checked: the call over the limit gets 429 with Retry-After and the
x-ratelimit-*-concurrency headers; the slot is freed when a stream ends,
when its caller disconnects mid-stream, and, when the server is killed, by
the lease running out (a restarted server on the same database still sees
the dead server's call until then); a user's own limit over the model's
default; bad values for the option.
"""
import http.client
import json
import os
import sys
import tempfile
import shutil
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeoai  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

LEASE = 15  # SL_HOSTED_SLOT_LEASE_S (src/db/repo_hosted.h)
FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class Concurrency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-conc-")
        cls.slow = fakeoai.Backend(mode="slow", tokens=400, delay=0.05)  # 20 s a stream
        cls.quick = fakeoai.Backend(tokens=5)
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            srv = cls.srv
            srv.start()
            cls.pub = srv.add_user("pub")
            cls.alice = srv.add_user("alice")
            cls.bob = srv.add_user("bob")
            srv.add_org("lab")
            srv.add_member("lab", "pub", "publisher")
            facts = os.path.join(cls.tmp, "facts.json")
            with open(facts, "w") as f:
                json.dump(FACTS, f)
            env = srv.client_env(cls.pub, os.path.join(cls.tmp, "home"))
            for name, backend in (("slow", cls.slow), ("quick", cls.quick),
                                  ("killed", cls.slow)):
                folder = os.path.join(cls.tmp, name)
                sv.make_model(folder, big=2000)
                r = st.run("push", "lab/" + name, folder, "--facts", facts, "--tier", "hosted",
                           env=env)
                if r.rc != 0:
                    raise AssertionError("push: %r" % r)
                cls.hosted("backend", "add", "lab/" + name, backend.url)
                base = "/api/v1/models/lab/" + name
                for user, tok in (("alice", cls.alice), ("bob", cls.bob)):
                    for r in (srv.request("POST", base + "/access", {"purpose": "evals"},
                                          token=tok),
                              srv.request("POST", base + "/access/%s/approve" % user, {},
                                          token=cls.pub)):
                        if r.status not in (200, 201):
                            raise AssertionError(repr(r))
                cls.hosted("quota", "set", "lab/" + name, "--concurrency", "1")
            cls.hosted("quota", "set", "lab/slow", "--user", "bob", "--concurrency", "2")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            cls.srv.cleanup()
            cls.slow.close()
            cls.quick.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def hosted(cls, *args, check=True):
        srv = cls.srv
        r = st.run("hosted", *args, "--data", srv.data, *(["--db", srv.db] if srv.db else []),
                   *srv.store_args, env=sv.clean_env(srv.store_env))
        if check and r.rc != 0:
            raise AssertionError("sluice hosted %r: %r" % (args, r))
        return r

    def open_stream(self, model, token):
        """A streamed call read up to its first token; (connection, response)."""
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        c.request("POST", "/v1/chat/completions",
                  json.dumps({"model": model, "stream": True,
                              "messages": [{"role": "user", "content": "hi"}]}),
                  {"Content-Type": "application/json", "Authorization": "Bearer " + token})
        resp = c.getresponse()
        if resp.status == 200:
            for _, data in fakeoai.read_sse(resp):
                if "tok0" in data:
                    break
        return c, resp

    def chat(self, model, token):
        return self.srv.request("POST", "/v1/chat/completions",
                                {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                                token=token)

    def assert_refused(self, r, limit):
        self.assertEqual(r.status, 429, repr(r))
        doc = json.loads(r.body if hasattr(r, "body") else r.read())
        self.assertEqual(doc["error"]["code"], "rate_limit_exceeded", doc)
        self.assertIn("%d concurrent calls" % limit, doc["error"]["message"])
        self.assertNotIn("\n", doc["error"]["message"])
        self.assertEqual(r.headers.get("X-Error-Code"), "rate_limit_exceeded")
        self.assertEqual(r.headers.get("Retry-After"), "1")
        self.assertEqual(r.headers.get("x-ratelimit-limit-concurrency"), str(limit))
        self.assertEqual(r.headers.get("x-ratelimit-remaining-concurrency"), "0")

    def wait_admitted(self, model, token, within):
        """Polls with a streamed call until one is admitted; returns seconds waited."""
        t0 = time.monotonic()
        while True:
            c, resp = self.open_stream(model, token)
            status = resp.status
            c.close()
            if status == 200:
                return time.monotonic() - t0
            self.assertEqual(status, 429)
            if time.monotonic() - t0 > within:
                self.fail("still refused after %g s" % within)
            time.sleep(0.2)

    def test_over_the_limit_and_freed_on_disconnect(self):
        c, resp = self.open_stream("lab/slow", self.alice)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.headers.get("x-ratelimit-limit-concurrency"), "1")
        self.assertEqual(resp.headers.get("x-ratelimit-remaining-concurrency"), "0")
        self.assert_refused(self.chat("lab/slow", self.alice), 1)
        c2, resp2 = self.open_stream("lab/slow", self.alice)
        self.assert_refused(resp2, 1)
        c2.close()
        # other callers and other models count apart
        self.assertEqual(self.chat("lab/quick", self.alice).status, 200)
        # the caller goes away mid-stream: the slot is free at once, not after the stream's 20 s
        c.close()
        waited = self.wait_admitted("lab/slow", self.alice, within=5)
        self.assertLess(waited, 5)

    def test_freed_when_the_call_ends(self):
        for _ in range(4):  # one at a time, each ends before the next: never refused
            r = self.chat("lab/quick", self.bob)
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(r.headers.get("x-ratelimit-limit-concurrency"), "1")
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        for _ in range(3):  # streamed to the end
            c.request("POST", "/v1/chat/completions",
                      json.dumps({"model": "lab/quick", "stream": True,
                                  "messages": [{"role": "user", "content": "hi"}]}),
                      {"Content-Type": "application/json", "Authorization": "Bearer " + self.bob})
            resp = c.getresponse()
            self.assertEqual(resp.status, 200)
            events = list(fakeoai.read_sse(resp))
            self.assertEqual(events[-1][1], "[DONE]")
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        c.close()

    def test_a_users_own_limit(self):
        held = [self.open_stream("lab/slow", self.bob) for _ in range(2)]
        try:
            for _, resp in held:
                self.assertEqual(resp.status, 200)
            self.assert_refused(self.chat("lab/slow", self.bob), 2)
        finally:
            for c, _ in held:
                c.close()
        self.wait_admitted("lab/slow", self.bob, within=5)

    def test_bad_values(self):
        for bad in ("-1", "many", "1.5", ""):
            r = self.hosted("quota", "set", "lab/slow", "--concurrency", bad, check=False)
            self.assertEqual(r.rc, 2, (bad, r))
            self.assertIn("--concurrency", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = self.hosted("quota", "set", "lab/slow", "--user", "bob", "--concurrency", "2",
                        "--json")
        self.assertEqual(json.loads(r.stdout)["concurrency"], 2)

    def test_z_killed_server(self):
        """Last: kills the server. The slot of a call whose server died is
        in the database: a server on the same database refuses until its
        lease runs out, then admits."""
        c, resp = self.open_stream("lab/killed", self.alice)
        self.assertEqual(resp.status, 200)
        self.srv.kill9()
        c.close()
        self.srv.start()
        t0 = time.monotonic()
        self.assert_refused(self.chat("lab/killed", self.alice), 1)
        waited = self.wait_admitted("lab/killed", self.alice, within=LEASE + 5)
        self.assertGreater(time.monotonic() - t0, 2)  # not freed by the restart itself
        self.assertLess(waited, LEASE + 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
