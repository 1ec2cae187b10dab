# SPDX-License-Identifier: Apache-2.0
"""The hosted gateway on two `sluice serve` sharing one PostgreSQL (issue 15
on issue 13's hub): a quota counts the calls made through both servers, and
a grant revoked through one server ends the caller's stream on the other
within a second, and a concurrency quota counts the calls running on both. Always on PostgreSQL (pgserver.py), like test_scaleout.py.
"""
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeoai  # noqa: E402
import pgserver  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class HostedHub(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hosted-hub-")
        cls.backend = fakeoai.Backend()
        cls.slow = fakeoai.Backend(mode="slow", tokens=200, delay=0.05)
        cls.servers = []
        try:
            pgserver.cluster()
            url = pgserver.new_db("hosted_hub")
            data = os.path.join(cls.tmp, "data")
            for name in ("a", "b"):
                wd = os.path.join(cls.tmp, "srv-" + name)
                os.makedirs(wd)
                srv = sv.Server(data, workdir=wd, db=url)
                cls.servers.append(srv)
                srv.start()
            cls.a, cls.b = cls.servers
            cls.pub = cls.a.add_user("pub")
            cls.ann = cls.a.add_user("ann")
            cls.a.add_org("lab")
            cls.a.add_member("lab", "pub", "publisher")
            facts = os.path.join(cls.tmp, "facts.json")
            with open(facts, "w") as f:
                json.dump(FACTS, f)
            env = cls.a.client_env(cls.pub, os.path.join(cls.tmp, "home"))
            for name, b in (("quota", cls.backend), ("live", cls.slow), ("conc", cls.slow),
                            ("keep", cls.backend)):
                folder = os.path.join(cls.tmp, name)
                sv.make_model(folder, big=2000)
                r = st.run("push", "lab/" + name, folder, "--facts", facts, "--tier", "hosted",
                           env=env)
                assert r.rc == 0, repr(r)
                cls.hosted("backend", "add", "lab/" + name, b.url)
                base = "/api/v1/models/lab/" + name
                r = cls.a.request("POST", base + "/access", {"purpose": "evals"}, token=cls.ann)
                assert r.status == 201, repr(r)
                r = cls.b.request("POST", base + "/access/ann/approve", {}, token=cls.pub)
                assert r.status == 200, repr(r)
            cls.hosted("quota", "set", "lab/quota", "--rpm", "4")
            cls.hosted("quota", "set", "lab/conc", "--concurrency", "1")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for srv in cls.servers:
                if srv.running():
                    srv.stop()
        finally:
            for srv in cls.servers:
                srv.cleanup()
            cls.backend.close()
            cls.slow.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def hosted(cls, *args):
        srv = cls.a
        r = st.run("hosted", *args, "--data", srv.data, "--db", srv.db, *srv.store_args,
                   env=sv.clean_env(srv.store_env))
        assert r.rc == 0, repr(r)
        return r

    @staticmethod
    def body(model, stream=False):
        return {"model": model, "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]}

    def test_quota_counts_calls_through_both_servers(self):
        if time.time() % 60 > 50:
            time.sleep(61 - time.time() % 60)  # all calls in one minute
        for i in range(4):
            srv = self.servers[i % 2]
            r = srv.request("POST", "/v1/chat/completions", self.body("lab/quota"),
                            token=self.ann)
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(r.headers.get("x-ratelimit-remaining-requests"), str(3 - i))
        for srv in self.servers:
            r = srv.request("POST", "/v1/chat/completions", self.body("lab/quota"),
                            token=self.ann)
            self.assertEqual(r.status, 429, repr(r))
            self.assertEqual(r.json()["error"]["code"], "rate_limit_exceeded")

    def test_concurrency_counts_calls_running_on_both_servers(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.a.port, timeout=30)
        c.request("POST", "/v1/chat/completions", json.dumps(self.body("lab/conc", True)),
                  {"Content-Type": "application/json", "Authorization": "Bearer " + self.ann})
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        next(fakeoai.read_sse(resp))
        r = self.b.request("POST", "/v1/chat/completions", self.body("lab/conc"), token=self.ann)
        self.assertEqual(r.status, 429, repr(r))
        self.assertEqual(r.headers.get("x-ratelimit-limit-concurrency"), "1")
        c.close()  # the call on server a ends: server b admits the next one
        deadline = time.monotonic() + 5
        while True:
            c = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=30)
            c.request("POST", "/v1/chat/completions", json.dumps(self.body("lab/conc", True)),
                      {"Content-Type": "application/json",
                       "Authorization": "Bearer " + self.ann})
            status = c.getresponse().status
            c.close()
            if status == 200:
                break
            self.assertEqual(status, 429)
            self.assertLess(time.monotonic(), deadline, "the slot was not freed")
            time.sleep(0.2)

    def test_revocation_on_one_server_ends_a_stream_on_the_other(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=30)
        c.request("POST", "/v1/chat/completions", json.dumps(self.body("lab/live", True)),
                  {"Content-Type": "application/json", "Authorization": "Bearer " + self.ann})
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        it = fakeoai.read_sse(resp)
        next(it)
        next(it)
        t0 = time.monotonic()
        r = self.a.request("POST", "/api/v1/models/lab/live/access/ann/revoke",
                           {"reason": "abuse"}, token=self.pub)
        self.assertEqual(r.status, 200, repr(r))
        rest = list(it)
        took = time.monotonic() - t0
        c.close()
        self.assertLess(took, 1.3, "the stream on the other server outlived the revocation")
        self.assertEqual(json.loads(rest[-1][1])["error"]["code"], "access_revoked")

    def test_a_filter_set_through_one_server_applies_on_the_other_at_the_next_call(self):
        """Filters live in the shared database and are read at the start of
        every call: no delay, no cache to expire (docs/hosted.md)."""
        path = "/api/v1/models/lab/live/hosted/filter"
        doc = {"rules": [{"id": "secret", "where": "input", "kind": "literal",
                          "pattern": "open sesame", "action": "refuse"}]}
        r = self.a.request("PUT", path, json.dumps(doc).encode(),
                           {"Content-Type": "application/json"}, token=self.pub)
        self.assertEqual(r.status, 200, r)
        body = {"model": "lab/live", "messages": [{"role": "user", "content": "open sesame"}]}
        r = self.b.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                           {"Content-Type": "application/json"}, token=self.ann)
        self.assertEqual(r.status, 400, r)
        self.assertIn("`secret`", r.json()["error"]["message"])
        r = self.b.request("DELETE", path, token=self.pub)
        self.assertEqual(r.status, 200, r)
        r = self.a.request("GET", path, token=self.pub)
        self.assertIsNone(r.json()["filter"])
        self.assertEqual([(x["reason"], x["rule"], x["n"]) for x in r.json()["refusals"]],
                         [("input", "secret", 1)], "counted in the shared database")

    def test_retention_set_through_one_server_applies_on_the_other(self):
        """Retention lives in the shared database and is read at the start of
        every call; the leader deletes what is due, whichever server kept it
        (docs/hosted.md, "Retention")."""
        path = "/api/v1/models/lab/keep/hosted/retention"
        r = self.a.request("PUT", path, json.dumps({"days": 3}).encode(),
                           {"Content-Type": "application/json"}, token=self.pub)
        self.assertEqual(r.status, 200, r)
        for srv in (self.b, self.a):
            r = srv.request("POST", "/v1/chat/completions", self.body("lab/keep"),
                            token=self.ann)
            self.assertEqual(r.status, 200, r)
        items = self.a.request("GET", path + "/items", token=self.pub).json()["items"]
        self.assertEqual([i["user"] for i in items], ["ann", "ann"])
        r = self.b.request("DELETE", path, token=self.pub)
        self.assertEqual(r.status, 200, r)
        r = self.a.request("POST", "/v1/chat/completions", self.body("lab/keep"), token=self.ann)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.b.request("GET", path + "/items",
                                            token=self.pub).json()["items"]), 2)
        sv._PgConn(self.a.db).execute("UPDATE hosted_retained SET expires = ?",
                                      (int(time.time()) - 1,))
        deadline = time.monotonic() + 10
        while self.a.request("GET", path + "/items", token=self.pub).json()["items"]:
            self.assertLess(time.monotonic(), deadline, "kept calls outlived their time")
            time.sleep(0.2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
