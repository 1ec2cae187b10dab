# SPDX-License-Identifier: Apache-2.0
"""Prompt retention, quotas and usage over HTTP for publishers (issue 15,
docs/hosted.md "Retention", "Quotas", "Usage") against a real `sluice serve`
and fake backends (fakeoai.py): nothing kept by default; `sluice hosted
retain set` keeps prompt and completion (streamed too) with caller, time and
version, bounded and marked truncated; turned off, the next call is not kept
but the earlier stays until its time; the ticker deletes what is due (the
test moves the rows' deletion time into the past); the terms and the
license text say so; each change is a log entry with no text; who may read
and change it; bad input. Then quotas and usage over HTTP, through the API
and the CLI without a data folder.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeoai  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}
KEEP_MAX = 64 * 1024
MODELS = ("m-ret", "m-acl", "m-big", "m-quota", "m-usage", "m-gated", "m-click", "m-many",
          "m-slow")


class Retention(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hretain-")
        cls.backends = []
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.setup_world()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            for b in cls.backends:
                b.close()
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def setup_world(cls):
        srv = cls.srv
        srv.start()
        tok = {"admin": srv.admin_token, "anon": None}
        for who in ("publisher", "orgadmin", "member", "other", "grantee"):
            tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_member("acme", "publisher", "publisher")
        srv.add_member("acme", "orgadmin", "admin")
        srv.add_member("acme", "member", "member")
        r = srv.admin("token", "new", "publisher", "--scopes", "read", "--json")
        tok["publisher-read"] = json.loads(r.stdout)["token"]
        cls.tok = tok
        facts = os.path.join(cls.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        cls.home = os.path.join(cls.tmp, "home")
        env = srv.client_env(tok["publisher"], cls.home)
        cls.plain = fakeoai.Backend()
        # two pieces of 40,000 bytes: the completion is over the limit, and
        # "é" (two bytes) makes the limit fall inside a character
        cls.big = fakeoai.Backend(words=["a" + "é" * 20000, "b" * 40000])
        cls.slow = fakeoai.Backend(mode="slow", tokens=40, delay=0.1)
        cls.backends += [cls.plain, cls.big, cls.slow]
        for m in MODELS:
            folder = os.path.join(cls.tmp, "model-" + m)
            sv.make_model(folder, big=2000)
            tier = {"m-gated": "gated", "m-click": "click"}.get(m, "hosted")
            r = st.run("push", "acme/" + m, folder, "--facts", facts, "--tier", tier, "--json",
                       env=env, timeout=120)
            if r.rc != 0:
                raise AssertionError("push %s: %r" % (m, r))
            b = {"m-big": cls.big, "m-slow": cls.slow}.get(m, cls.plain)
            r = st.run("hosted", "backend", "add", "acme/" + m, b.url, "--backend-model", "tiny",
                       "--data", srv.data, *(["--db", srv.db] if srv.db else []),
                       *srv.store_args, env=sv.clean_env(srv.store_env))
            if r.rc != 0:
                raise AssertionError("backend add %s: %r" % (m, r))
        # the grantee may call the hosted models
        for m in MODELS:
            base = "/api/v1/models/acme/" + m
            r = srv.request("POST", base + "/access", b'{"purpose":"abuse research"}',
                            {"Content-Type": "application/json"}, token=tok["grantee"])
            assert r.status == 201, r
            r = srv.request("POST", base + "/access/grantee/approve", b"{}",
                            {"Content-Type": "application/json"}, token=tok["publisher"])
            assert r.status == 200, r

    # ---------------------------------------------------------------- helpers

    def api(self, method, model, what, body=None, who="publisher", query=""):
        path = "/api/v1/models/%s/hosted/%s%s" % (model, what, query)
        payload = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        return self.srv.request(method, path, payload,
                                {"Content-Type": "application/json"} if payload else None,
                                token=self.tok[who])

    def items(self, model, query=""):
        r = self.api("GET", model, "retention/items", query=query)
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def cli(self, *args, who="publisher"):
        return st.run("hosted", *args, env=self.srv.client_env(self.tok[who], self.home),
                      timeout=60)

    def chat(self, model, content, who="grantee", stream=False):
        body = {"model": model, "stream": stream,
                "messages": [{"role": "user", "content": content}]}
        r = self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                             {"Content-Type": "application/json"}, token=self.tok[who])
        self.assertEqual(r.status, 200, r)
        if stream:
            self.assertTrue(r.body.endswith(b"data: [DONE]\n\n"), r.body[-200:])
        return r

    def complete(self, model, prompt, who="grantee"):
        r = self.srv.request("POST", "/v1/completions",
                             json.dumps({"model": model, "prompt": prompt}).encode(),
                             {"Content-Type": "application/json"}, token=self.tok[who])
        self.assertEqual(r.status, 200, r)
        return r

    def log_entries(self):
        r = self.srv.request("GET", "/api/v1/log/entries?start=0&end=1000")
        self.assertEqual(r.status, 200, r)
        return [e["entry"] for e in r.json()]

    def db_rows(self, model):
        with sv.db_connect(self.srv.data) as c:
            return c.execute(
                "SELECT r.id, r.expires FROM hosted_retained r JOIN models m ON m.id = "
                "r.model_id WHERE m.name = ? ORDER BY r.id", (model.split("/")[1],)).fetchall()

    # ---------------------------------------------------------------- retention

    def test_kept_only_while_on_and_deleted_on_time(self):
        m = "acme/m-ret"
        # off by default: a call keeps nothing, anywhere
        self.assertIsNone(self.api("GET", m, "retention").json()["retention_days"])
        self.chat(m, "before retention")
        self.assertEqual(self.items(m), [])
        self.assertEqual(self.db_rows(m), [])
        terms = self.srv.request("GET", "/api/v1/models/%s/terms" % m).json()
        self.assertIsNone(terms["retention_days"])
        self.assertNotIn("kept for", terms["license"])
        sha_before = terms["license_sha256"]

        # on, through the CLI with the publisher's token
        r = self.cli("retain", "set", m, "--days", "2")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("kept 2 days", r.stdout)
        t0 = time.time()
        self.chat(m, "first: a plain chat")
        self.chat(m, "second: a stream", stream=True)
        self.complete(m, "third: a completion")
        items = self.items(m)
        self.assertEqual(len(items), 3, items)
        plain, streamed, completion = items
        self.assertEqual(json.loads(plain["prompt"]),
                         [{"role": "user", "content": "first: a plain chat"}])
        self.assertEqual(plain["completion"], "tok0 tok1 tok2 tok3 tok4 ")
        self.assertEqual(plain["endpoint"], "chat/completions")
        self.assertIn("second: a stream", streamed["prompt"])
        self.assertEqual(streamed["completion"], "tok0 tok1 tok2 tok3 tok4 ")
        self.assertEqual(completion["prompt"], "third: a completion")
        self.assertEqual(completion["endpoint"], "completions")
        for it in items:
            self.assertEqual(it["user"], "grantee")
            self.assertEqual(it["version"], 1)
            self.assertFalse(it["prompt_truncated"])
            self.assertFalse(it["completion_truncated"])
            self.assertLessEqual(abs(it["time"] - t0), 30)
            self.assertEqual(it["expires"], it["time"] + 2 * 86400)

        # the model page, the terms and the license text say so; it is a new
        # text to accept
        page = self.srv.request("GET", "/api/v1/models/" + m).json()
        self.assertEqual(page["hosted_retention_days"], 2)
        terms = self.srv.request("GET", "/api/v1/models/%s/terms" % m).json()
        self.assertEqual(terms["retention_days"], 2)
        self.assertIn("kept for 2 days for abuse review", terms["license"])
        self.assertNotEqual(terms["license_sha256"], sha_before)

        # the change is in the log: the days, no text
        entries = [e for e in self.log_entries() if e.get("model") == m and
                   e.get("type", "").startswith("hosted.retention")]
        self.assertEqual([e["type"] for e in entries], ["hosted.retention_set"])
        self.assertEqual(entries[0]["days"], 2)
        self.assertTrue(entries[0]["by"].startswith("acct:"), entries[0])
        self.assertNotIn("publisher", json.dumps(entries[0]))

        # the CLI lists what was kept (text and JSON)
        r = self.cli("retained", m)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("first: a plain chat", r.stdout)
        self.assertIn("grantee", r.stdout)
        r = self.cli("retained", m, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len(json.loads(r.stdout)["items"]), 3)

        # calls refused before a backend answered are not kept: no access,
        # an input rule of the filter
        body = {"model": m, "messages": [{"role": "user", "content": "not mine"}]}
        r = self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                             {"Content-Type": "application/json"}, token=self.tok["other"])
        self.assertEqual(r.status, 404, r)
        flt = {"rules": [{"id": "no-secret", "where": "input", "kind": "literal",
                          "pattern": "secret", "action": "refuse"},
                         {"id": "no-tok2", "where": "output", "kind": "literal",
                          "pattern": "tok2", "action": "refuse"}]}
        self.assertEqual(self.api("PUT", m, "filter", flt).status, 200)
        body = {"model": m, "messages": [{"role": "user", "content": "a secret"}]}
        r = self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                             {"Content-Type": "application/json"}, token=self.tok["grantee"])
        self.assertEqual(r.status, 400, r)
        self.assertEqual(len(self.items(m)), 3)
        # a whole answer an output rule refused is kept as the backend wrote it
        body = {"model": m, "messages": [{"role": "user", "content": "fourth: refused out"}]}
        r = self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                             {"Content-Type": "application/json"}, token=self.tok["grantee"])
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["code"], "content_policy")
        items = self.items(m)
        self.assertEqual(len(items), 4, items)
        self.assertIn("fourth: refused out", items[3]["prompt"])
        self.assertEqual(items[3]["completion"], "tok0 tok1 tok2 tok3 tok4 ")
        self.assertEqual(self.api("DELETE", m, "filter").status, 200)
        with sv.db_connect(self.srv.data) as c:
            c.execute("DELETE FROM hosted_retained WHERE id = ?", (items[3]["id"],))
            c.commit()

        # off: the next call is not kept, the earlier ones stay until due
        r = self.cli("retain", "clear", m)
        self.assertEqual(r.rc, 0, r)
        self.chat(m, "after retention")
        self.chat(m, "after retention, streamed", stream=True)
        items = self.items(m)
        self.assertEqual(len(items), 3, items)
        self.assertNotIn("after retention", json.dumps(items))
        entries = [e["type"] for e in self.log_entries() if e.get("model") == m and
                   e.get("type", "").startswith("hosted.retention")]
        self.assertEqual(entries, ["hosted.retention_set", "hosted.retention_cleared"])
        terms = self.srv.request("GET", "/api/v1/models/%s/terms" % m).json()
        self.assertIsNone(terms["retention_days"])
        self.assertEqual(terms["license_sha256"], sha_before)
        page = self.srv.request("GET", "/api/v1/models/" + m).json()
        self.assertIsNone(page["hosted_retention_days"])
        # clearing again changes nothing and logs nothing
        r = self.api("DELETE", m, "retention")
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json()["cleared"])
        self.assertIsNone(r.json()["log_index"])

        # on time: move the first row's time into the past; the leader's
        # ticker deletes it within a second or two, and only it
        rows = self.db_rows(m)
        self.assertEqual(len(rows), 3)
        with sv.db_connect(self.srv.data) as c:
            c.execute("UPDATE hosted_retained SET expires = ? WHERE id = ?",
                      (int(time.time()) - 1, rows[0][0]))
            c.commit()
        deadline = time.time() + 10
        while time.time() < deadline and len(self.db_rows(m)) == 3:
            time.sleep(0.2)
        left = self.db_rows(m)
        self.assertEqual([x[0] for x in left], [rows[1][0], rows[2][0]])
        self.assertEqual([i["id"] for i in self.items(m)], [rows[1][0], rows[2][0]])
        # the rest go too when their time is up
        with sv.db_connect(self.srv.data) as c:
            c.execute("UPDATE hosted_retained SET expires = ? WHERE id IN (?, ?)",
                      (int(time.time()) - 1, rows[1][0], rows[2][0]))
            c.commit()
        deadline = time.time() + 10
        while time.time() < deadline and self.db_rows(m):
            time.sleep(0.2)
        self.assertEqual(self.db_rows(m), [])
        self.assertEqual(self.items(m), [])

    def test_big_prompts_and_completions_are_cut_and_marked(self):
        m = "acme/m-big"
        self.assertEqual(self.api("PUT", m, "retention", {"days": 1}).status, 200)
        # a prompt of 100,000 bytes, "é" at the limit: cut whole characters
        prompt = "x" + "é" * 50000
        self.complete(m, prompt)
        self.chat(m, "short", stream=True)
        kept = self.items(m)
        self.assertEqual(len(kept), 2, kept)
        for it in kept:
            self.assertTrue(it["completion_truncated"], it["id"])
            size = len(it["completion"].encode())
            self.assertLessEqual(size, KEEP_MAX)
            self.assertGreater(size, KEEP_MAX - 4)
            self.assertTrue(("a" + "é" * 20000 + "b" * 40000).startswith(it["completion"]))
        self.assertTrue(kept[0]["prompt_truncated"])
        self.assertLessEqual(len(kept[0]["prompt"].encode()), KEEP_MAX)
        self.assertTrue(prompt.startswith(kept[0]["prompt"]))
        self.assertFalse(kept[1]["prompt_truncated"])
        # --since: nothing kept from tomorrow on
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400 * 2))
        self.assertEqual(self.items(m, "?since=" + day), [])
        self.assertEqual(len(self.items(m, "?since=2020-01-01")), 2)
        self.assertEqual(self.api("DELETE", m, "retention").status, 200)

    def test_only_publishers_and_org_admins(self):
        m = "acme/m-acl"
        for who in ("member", "other", "grantee"):
            for method, what, body in (("GET", "retention", None),
                                       ("GET", "retention/items", None),
                                       ("PUT", "retention", {"days": 3}),
                                       ("DELETE", "retention", None),
                                       ("GET", "quota", None), ("PUT", "quota", {"rpm": 1}),
                                       ("GET", "usage", None)):
                r = self.api(method, m, what, body, who=who)
                self.assertIn(r.status, (403, 404), (who, method, what, r))
            r = self.cli("retain", "set", m, "--days", "3", who=who)
            self.assertEqual(r.rc, 1, r)
            r = self.cli("quota", "set", m, "--rpm", "1", who=who)
            self.assertEqual(r.rc, 1, r)
            r = self.cli("usage", m, who=who)
            self.assertEqual(r.rc, 1, r)
        for method, what, body in (("GET", "retention", None), ("PUT", "retention", {"days": 3}),
                                   ("GET", "quota", None), ("GET", "usage", None)):
            self.assertEqual(self.api(method, m, what, body, who="anon").status, 401)
        # a read token reads but changes nothing
        self.assertEqual(self.api("GET", m, "retention", who="publisher-read").status, 200)
        self.assertEqual(self.api("GET", m, "quota", who="publisher-read").status, 200)
        for method, what, body in (("PUT", "retention", {"days": 3}), ("DELETE", "retention", None),
                                   ("PUT", "quota", {"rpm": 1})):
            r = self.api(method, m, what, body, who="publisher-read")
            self.assertEqual(r.status, 403, r)
            self.assertEqual(r.headers.get("X-Error-Code"), "InsufficientScope")
        self.assertIsNone(self.api("GET", m, "retention").json()["retention_days"])
        self.assertEqual(self.api("GET", m, "quota").json()["users"], [])
        self.assertIsNone(self.api("GET", m, "quota").json()["default"]["rpm"])
        # an org admin may
        r = self.api("PUT", m, "retention", {"days": 7}, who="orgadmin")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["retention_days"], 7)
        self.assertEqual(self.api("DELETE", m, "retention", who="orgadmin").status, 200)
        # a model that does not exist
        self.assertEqual(self.api("GET", "acme/nope", "retention").status, 404)

    def test_bad_input(self):
        m = "acme/m-acl"
        for body in ({"days": 0}, {"days": 366}, {"days": -1}, {"days": "3"}, {"days": 2.5},
                     {"days": None}, {}, {"days": 3, "keep": True}, b"not json", b"[3]"):
            r = self.api("PUT", m, "retention", body)
            self.assertEqual(r.status, 400, (body, r))
            doc = r.json()
            self.assertEqual(doc["error"], "bad_request")
            self.assertNotIn("\n", doc["message"])
        self.assertIsNone(self.api("GET", m, "retention").json()["retention_days"])
        for days in ("0", "366", "x", "-3", "1.5", ""):
            r = self.cli("retain", "set", m, "--days", days)
            self.assertEqual(r.rc, 2, (days, r))
            self.assertIn("--days", r.stderr)
        self.assertEqual(self.cli("retain", "set", m).rc, 2)
        self.assertEqual(self.cli("retain", "set", "acme", "--days", "3").rc, 2)
        self.assertEqual(self.cli("retain", "set", "acme/m-acl@1", "--days", "3").rc, 2)
        for q in ("?since=2026-13-01", "?since=yesterday", "?since=2026-02-30"):
            for what in ("retention/items", "usage"):
                r = self.api("GET", m, what, query=q)
                self.assertEqual(r.status, 400, (what, q, r))
                self.assertIn("YYYY-MM-DD", r.json()["message"])
        self.assertEqual(self.cli("retained", m, "--since", "soon").rc, 2)
        self.assertEqual(self.cli("usage", m, "--since", "2026-02-30").rc, 2)
        # quotas: unknown user 404, bad values 400, nothing stored
        r = self.api("PUT", m, "quota", {"user": "nobody", "rpm": 3})
        self.assertEqual(r.status, 404, r)
        self.assertIn("nobody", r.json()["message"])
        self.assertEqual(self.api("GET", m, "quota", query="?user=nobody").status, 404)
        for body in ({"rpm": -1}, {"rpm": "3"}, {"tokens_per_day": 1e20}, {"concurrency": 1.5},
                     {}, {"user": "grantee"}, {"user": 3, "rpm": 1}, {"rpm": 1, "burst": 2},
                     b"{"):
            r = self.api("PUT", m, "quota", body)
            self.assertEqual(r.status, 400, (body, r))
        self.assertEqual(self.api("GET", m, "quota").json()["users"], [])
        r = self.cli("quota", "set", m, "--user", "nobody", "--rpm", "1")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("nobody", r.stderr)
        self.assertEqual(self.cli("quota", "set", m, "--rpm", "-1").rc, 2)
        self.assertEqual(self.cli("quota", "set", m).rc, 2)

    # ---------------------------------------------------------------- quotas

    def test_quota_over_http(self):
        m = "acme/m-quota"
        r = self.api("PUT", m, "quota", {"rpm": 2})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["rpm"], 2)
        self.assertIsNone(r.json()["user"])
        # the CLI with no data folder: over HTTP, with the publisher's token
        r = self.cli("quota", "set", m, "--user", "member", "--rpm", "5", "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.stdout)["rpm"], 5)
        doc = self.api("GET", m, "quota").json()
        self.assertEqual(doc["default"], {"rpm": 2, "tokens_per_day": None, "concurrency": None})
        self.assertEqual(doc["users"], [{"user": "member", "rpm": 5, "tokens_per_day": None,
                                         "concurrency": None}])
        self.assertEqual(self.api("GET", m, "quota", query="?user=member").json()["rpm"], 5)
        r = self.cli("quota", "show", m)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("member", r.stdout)
        # and it applies: the default refuses the grantee's third call
        self.chat(m, "one")
        self.chat(m, "two")
        body = {"model": m, "messages": [{"role": "user", "content": "three"}]}
        r = self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                             {"Content-Type": "application/json"}, token=self.tok["grantee"])
        if r.status == 200:  # the minute turned between the calls
            self.chat(m, "four")
            r = self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"}, token=self.tok["grantee"])
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.headers.get("x-ratelimit-limit-requests"), "2")
        # 0 removes the default's limit
        r = self.api("PUT", m, "quota", {"rpm": 0})
        self.assertEqual(r.status, 200, r)
        self.chat(m, "five")

    def test_usage_over_http(self):
        m = "acme/m-usage"
        self.chat(m, "a")
        self.chat(m, "b", stream=True)
        self.chat(m, "c", who="member")
        r = self.api("GET", m, "usage")
        self.assertEqual(r.status, 200, r)
        rows = {row["user"]: row for row in r.json()["usage"]}
        self.assertEqual(rows["grantee"]["calls"], 2)
        self.assertEqual(rows["grantee"]["completion_tokens"], 10)
        self.assertEqual(rows["grantee"]["version"], 1)
        self.assertEqual(rows["member"]["calls"], 1)
        self.assertEqual(rows["grantee"]["day"], time.strftime("%Y-%m-%d", time.gmtime()))
        self.assertEqual(r.json()["refusals"], [])
        self.assertEqual(self.api("GET", m, "usage", query="?since=2099-01-01").json()["usage"],
                         [])
        # the CLI without a data folder: the same rows as the --data form
        r = self.cli("usage", m, "--json")
        self.assertEqual(r.rc, 0, r)
        remote = json.loads(r.stdout)
        local = st.run("hosted", "usage", m, "--json", "--data", self.srv.data,
                       *(["--db", self.srv.db] if self.srv.db else []), *self.srv.store_args,
                       env=sv.clean_env(self.srv.store_env))
        self.assertEqual(local.rc, 0, local)
        self.assertEqual(remote, json.loads(local.stdout))
        r = self.cli("usage", m)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("grantee", r.stdout)

    def test_a_stream_the_caller_leaves_is_kept_as_far_as_it_went(self):
        import http.client
        m = "acme/m-slow"
        self.assertEqual(self.api("PUT", m, "retention", {"days": 1}).status, 200)
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        body = {"model": m, "stream": True, "messages": [{"role": "user", "content": "leave"}]}
        c.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                  {"Content-Type": "application/json",
                   "Authorization": "Bearer " + self.tok["grantee"]})
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        it = fakeoai.read_sse(resp)
        next(it)
        next(it)
        c.close()
        deadline = time.time() + 10
        while time.time() < deadline and not self.items(m):
            time.sleep(0.2)
        kept = self.items(m)
        self.assertEqual(len(kept), 1, kept)
        self.assertTrue(kept[0]["completion"].startswith("tok0 tok1 "), kept[0])
        self.assertNotIn("tok39", kept[0]["completion"])
        self.assertIn("leave", kept[0]["prompt"])
        self.assertEqual(self.api("DELETE", m, "retention").status, 200)

    def test_click_acceptance_is_asked_again(self):
        """The retention sentence is part of the license text: an account
        that accepted the text without it accepts again."""
        m = "acme/m-click"
        terms_path = "/api/v1/models/%s/terms" % m
        r = self.srv.request("POST", "/api/v1/models/%s/accept" % m, b"{}",
                             {"Content-Type": "application/json"}, token=self.tok["other"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.srv.request("GET", terms_path, token=self.tok["other"])
                        .json()["accepted"])
        self.assertEqual(self.api("PUT", m, "retention", {"days": 5}).status, 200)
        terms = self.srv.request("GET", terms_path, token=self.tok["other"]).json()
        self.assertFalse(terms["accepted"])
        self.assertIn("kept for 5 days", terms["license"])
        r = self.srv.request("GET", "/acme/m-click/resolve/main/config.json",
                             token=self.tok["other"])
        self.assertEqual(r.status, 403, r)
        r = self.srv.request("POST", "/api/v1/models/%s/accept" % m, b"{}",
                             {"Content-Type": "application/json"}, token=self.tok["other"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.srv.request("GET", terms_path, token=self.tok["other"])
                        .json()["accepted"])
        self.assertEqual(self.api("DELETE", m, "retention").status, 200)

    def test_listing_is_bounded_and_control_characters_escaped(self):
        m = "acme/m-many"
        with sv.db_connect(self.srv.data) as c:
            mid, vid = c.execute(
                "SELECT m.id, v.id FROM models m JOIN versions v ON v.model_id = m.id "
                "WHERE m.name = 'm-many'").fetchone()
            now = int(time.time())
            # one statement (psql takes it as one argument): 1,001 rows
            c.execute(
                "INSERT INTO hosted_retained (model_id, version_id, user_id, created, expires, "
                "endpoint, prompt, prompt_truncated, completion, completion_truncated) "
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
                "SELECT ?, ?, 0, ? + i, ?, 'completions', 'p' || i, 0, 'x', 0 FROM n",
                (mid, vid, now - 2000, now + 86400))
            c.commit()
        r = self.api("GET", m, "retention/items")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(len(doc["items"]), 1000)
        self.assertTrue(doc["more"])
        self.assertEqual(doc["items"][0]["prompt"], "p0")
        self.assertIsNone(doc["items"][0]["user"])
        with sv.db_connect(self.srv.data) as c:
            c.execute("DELETE FROM hosted_retained WHERE model_id = ?", (mid,))
            c.commit()
        self.assertFalse(self.api("GET", m, "retention/items").json()["more"])
        # what a caller sent cannot move the publisher's terminal
        self.assertEqual(self.api("PUT", m, "retention", {"days": 1}).status, 200)
        self.complete(m, "clear\x1b[2J\nscreen")
        r = self.cli("retained", m)
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("\x1b", r.stdout)
        self.assertIn("clear\\x1b[2J\\x0ascreen", r.stdout)
        self.assertEqual(self.api("DELETE", m, "retention").status, 200)

    def test_gated_models_keep_too(self):
        """Retention is per model, whatever the tier the gateway serves."""
        m = "acme/m-gated"
        self.assertEqual(self.api("PUT", m, "retention", {"days": 30}).status, 200)
        self.chat(m, "gated call")
        kept = self.items(m)
        self.assertEqual(len(kept), 1)
        self.assertEqual(kept[0]["expires"] - kept[0]["time"], 30 * 86400)
        terms = self.srv.request("GET", "/api/v1/models/%s/terms" % m,
                                 token=self.tok["grantee"]).json()
        self.assertEqual(terms["retention_days"], 30)
        self.assertIn("kept for 30 days", terms["license"])
        self.assertEqual(self.api("DELETE", m, "retention").status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
