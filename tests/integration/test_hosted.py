# SPDX-License-Identifier: Apache-2.0
"""The hosted tier's OpenAI-compatible gateway (issue 15, docs/hosted.md)
against a real `sluice serve` and fake OpenAI-compatible backends
(fakeoai.py) with every fault: /v1/models, chat and completions streamed and
not, who may call each tier, revocation and a tier change ending a stream in
flight, failover, timeouts, a backend sending garbage, and bad input.
"""
import http.client
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
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

TIERS = ["open", "click", "gated", "hosted", "withheld"]
SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}
KEY = "backend-secret-" + os.urandom(4).hex()
QUOTA_MODELS = {"acme/m-quota", "acme/m-tokens", "acme/m-usage"}


class Hosted(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hosted-")
        cls.backends = []
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        cls.srv.store_env = dict(cls.srv.store_env or {}, LAB_KEY=KEY,
                                 SLUICE_HOSTED_FIRST_BYTE_MS="1500",
                                 SLUICE_HOSTED_IDLE_MS="1500",
                                 SLUICE_HOSTED_CONNECT_MS="1000",
                                 SLUICE_HOSTED_KEEPALIVE_MS="300")
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
    def backend(cls, **kw):
        b = fakeoai.Backend(**kw)
        cls.backends.append(b)
        return b

    @classmethod
    def hosted(cls, *args, check=True):
        r = st.run("hosted", *args, "--data", cls.srv.data,
                   *(["--db", cls.srv.db] if cls.srv.db else []), *cls.srv.store_args,
                   env=sv.clean_env(cls.srv.store_env))
        if check and r.rc != 0:
            raise AssertionError("sluice hosted %r: %r" % (args, r))
        return r

    @classmethod
    def call(cls, method, path, body=None, token=None, expect=None):
        r = cls.srv.request(method, path, body, {"Content-Type": "application/json"}
                            if body is not None else None, token=token)
        if expect is not None and r.status != expect:
            raise AssertionError("%s %s -> %r" % (method, path, r))
        return r

    @classmethod
    def setup_world(cls):
        srv = cls.srv
        srv.start()
        tok = {"anon": None, "admin": srv.admin_token}
        for who in ("publisher", "member", "other", "grantee", "revoked", "streamer"):
            tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_member("acme", "publisher", "publisher")
        srv.add_member("acme", "member", "member")
        cls.tok = tok
        home = os.path.join(cls.tmp, "home")
        facts = os.path.join(cls.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(SMALL_FACTS, f)
        env = srv.client_env(tok["publisher"], home)
        models = ["m-" + t for t in TIERS] + ["m-live", "m-tier", "m-faults", "m-none",
                                              "m-quota", "m-tokens", "m-usage"]
        for m in models:
            tier = m[2:] if m[2:] in TIERS else "hosted"
            # different bytes per model: a copy would inherit the strictest tier
            folder = os.path.join(cls.tmp, "model-" + m)
            sv.make_model(folder, big=2000)
            r = st.run("push", "acme/" + m, folder, "--facts", facts, "--tier", tier, "--json",
                       env=env, timeout=120)
            if r.rc != 0:
                raise AssertionError("push %s: %r" % (m, r))
        pub = tok["publisher"]
        for m in ("m-click", "m-gated", "m-hosted", "m-withheld", "m-live", "m-tier", "m-quota",
                  "m-tokens", "m-usage"):
            base = "/api/v1/models/acme/" + m
            for who in ("grantee", "revoked", "streamer"):
                cls.call("POST", base + "/access", {"purpose": "research"}, tok[who], 201)
            if m == "m-withheld":
                continue
            for who in ("grantee", "revoked", "streamer"):
                cls.call("POST", base + "/access/%s/approve" % who, {}, pub, 200)
            cls.call("POST", base + "/access/revoked/revoke", {"reason": "misuse"}, pub, 200)
        cls.normal = cls.backend()
        for m in models:
            if m in ("m-faults", "m-none"):
                continue
            cls.hosted("backend", "add", "acme/" + m, cls.normal.url, "--backend-model", "tiny",
                       "--api-key-env", "LAB_KEY")

    # ---------------------------------------------------------------- helpers

    def chat(self, model, token, stream=False, **extra):
        body = dict({"model": model, "messages": [{"role": "user", "content": "hi"}],
                     "stream": stream}, **extra)
        return self.call("POST", "/v1/chat/completions", body, token)

    def stream(self, path, body, token):
        """Starts a streamed call; returns (connection, response)."""
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        data = json.dumps(body).encode()
        c.request("POST", path, data, {"Content-Type": "application/json",
                                       "Authorization": "Bearer " + token})
        return c, c.getresponse()

    def assert_oai_error(self, r, status, code=None):
        self.assertEqual(r.status, status, repr(r))
        doc = r.json()
        self.assertEqual(set(doc), {"error"}, doc)
        self.assertTrue(doc["error"]["message"], doc)
        self.assertIn("type", doc["error"])
        self.assertEqual(r.headers.get("X-Error-Code"), doc["error"]["code"], repr(r))
        if code:
            self.assertEqual(doc["error"]["code"], code, doc)
        # the header carries the message in printable ASCII ('?' for the rest)
        self.assertEqual(r.headers.get("X-Error-Message"),
                         "".join(c if " " <= c <= "~" else "?" for c in
                                 doc["error"]["message"].encode().decode("latin-1")), repr(r))
        self.assertNotIn("127.0.0.1", r.body.decode(), "a backend URL leaked")
        return doc

    # ---------------------------------------------------------------- tests

    def test_models_lists_what_the_caller_may_call(self):
        want = {
            "anon": {"acme/m-open"},
            "other": {"acme/m-open"},
            "grantee": {"acme/m-open", "acme/m-click", "acme/m-gated", "acme/m-hosted",
                        "acme/m-live", "acme/m-tier"} | QUOTA_MODELS,
            "revoked": {"acme/m-open"},
            "member": {"acme/m-open", "acme/m-click", "acme/m-gated", "acme/m-hosted",
                       "acme/m-live", "acme/m-tier"} | QUOTA_MODELS,
        }
        for who, ids in want.items():
            r = self.call("GET", "/v1/models", token=self.tok[who], expect=200)
            doc = r.json()
            self.assertEqual(doc["object"], "list")
            got = {m["id"] for m in doc["data"]}
            # m-tier may have been made withheld by its own test
            self.assertEqual(got - {"acme/m-tier"}, ids - {"acme/m-tier"}, who)
            for m in doc["data"]:
                self.assertEqual(m["object"], "model")
                self.assertEqual(m["owned_by"], "acme")
                self.assertIsInstance(m["created"], int)
            self.assertNotIn("127.0.0.1", r.body.decode())
        # withheld: never, not even for the publisher or an admin
        for who in ("publisher", "admin"):
            ids = {m["id"] for m in self.call("GET", "/v1/models", token=self.tok[who],
                                              expect=200).json()["data"]}
            self.assertNotIn("acme/m-withheld", ids)
            self.assertIn("acme/m-hosted", ids)
        r = self.call("GET", "/v1/models/acme/m-hosted", token=self.tok["grantee"], expect=200)
        self.assertEqual(r.json()["id"], "acme/m-hosted")
        self.assert_oai_error(self.call("GET", "/v1/models/acme/m-hosted",
                                        token=self.tok["other"]), 404, "model_not_found")

    def test_chat_not_streamed(self):
        before = self.normal.calls()
        r = self.chat("acme/m-hosted", self.tok["grantee"], user_extra_field={"ignored": 1})
        self.assertEqual(r.status, 200, repr(r))
        doc = r.json()
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["model"], "acme/m-hosted")  # written back, not tiny.gguf
        self.assertEqual(doc["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3 tok4 ")
        self.assertEqual(doc["usage"]["completion_tokens"], 5)
        self.assertNotIn("timings", doc)
        path, headers, body = self.normal.requests[before]
        self.assertEqual(path, "/v1/chat/completions")
        self.assertEqual(body["model"], "tiny")  # --backend-model
        self.assertEqual(headers.get("Authorization"), "Bearer " + KEY)
        self.assertEqual(body["user_extra_field"], {"ignored": 1})
        self.assertNotIn(KEY, r.body.decode())

    def test_chat_streamed_arrives_as_it_is_made(self):
        b = self.backend(mode="slow", tokens=10, delay=0.15)
        out = self.hosted("backend", "add", "acme/m-faults", b.url, "--json")
        bid = json.loads(out.stdout)["id"]
        try:
            c, resp = self.stream("/v1/chat/completions",
                                  {"model": "acme/m-faults", "stream": True,
                                   "messages": [{"role": "user", "content": "hi"}]},
                                  self.tok["publisher"])
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("Content-Type"), "text/event-stream")
            events = list(fakeoai.read_sse(resp))
            c.close()
            self.assertEqual(events[-1][1], "[DONE]")
            docs = [json.loads(d) for _, d in events[:-1]]
            text = "".join(d["choices"][0]["delta"].get("content", "") for d in docs
                           if d["choices"])
            self.assertEqual(text, "".join("tok%d " % i for i in range(10)))
            for d in docs:
                self.assertEqual(d["model"], "acme/m-faults")
                self.assertEqual(d["object"], "chat.completion.chunk")
                self.assertNotIn("timings", d)
            # not buffered: the first token came long before the last
            first = next(t for t, d in events if "tok0" in d)
            last = events[-1][0]
            self.assertLess(first, last - 1.0, events)
            # and each as it came (150 ms apart), not in clumps at a heartbeat
            times = [t for t, d in events if "tok" in d]
            gaps = [b - a for a, b in zip(times, times[1:])]
            self.assertEqual([g for g in gaps if g < 0.05], [], gaps)
        finally:
            self.hosted("backend", "remove", "acme/m-faults", str(bid))

    def test_completions_streamed_and_not(self):
        body = {"model": "acme/m-open", "prompt": "Once upon", "max_tokens": 16}
        r = self.call("POST", "/v1/completions", body, None)
        self.assertEqual(r.status, 200, repr(r))
        doc = r.json()
        self.assertEqual(doc["object"], "text_completion")
        self.assertEqual(doc["model"], "acme/m-open")
        self.assertEqual(doc["choices"][0]["text"], "tok0 tok1 tok2 tok3 tok4 ")
        self.assertEqual(self.normal.requests[-1][0], "/v1/completions")
        c, resp = self.stream("/v1/completions", dict(body, stream=True), self.tok["other"])
        events = list(fakeoai.read_sse(resp))
        c.close()
        self.assertEqual(events[-1][1], "[DONE]")
        texts = [json.loads(d)["choices"][0]["text"] for _, d in events[:-1]
                 if json.loads(d)["choices"]]
        self.assertEqual("".join(texts), "tok0 tok1 tok2 tok3 tok4 ")

    def test_who_may_call(self):
        allowed = {
            "open": {"anon", "other", "grantee", "revoked", "member", "publisher", "admin"},
            "click": {"grantee", "member", "publisher", "admin"},
            "gated": {"grantee", "member", "publisher", "admin"},
            "hosted": {"grantee", "member", "publisher", "admin"},
            "withheld": set(),
        }
        for tier, ok in allowed.items():
            for who in ("anon", "other", "grantee", "revoked", "member", "publisher", "admin"):
                r = self.chat("acme/m-" + tier, self.tok[who])
                if who in ok:
                    self.assertEqual(r.status, 200, (tier, who, r))
                else:
                    doc = self.assert_oai_error(r, 404, "model_not_found")
                    self.assertIn("does not exist or you do not have access", doc["error"]
                                  ["message"])

    def test_unknown_and_forbidden_models_answer_alike(self):
        a = self.chat("acme/m-nosuch", self.tok["other"])
        b = self.chat("acme/m-hosted", self.tok["other"])
        c = self.chat("acme/m-none", self.tok["publisher"])  # no backend
        for r, m in ((a, "acme/m-nosuch"), (b, "acme/m-hosted"), (c, "acme/m-none")):
            doc = self.assert_oai_error(r, 404, "model_not_found")
            self.assertEqual(doc["error"]["message"], "The model `%s` does not exist or you do "
                             "not have access to it." % m)
            self.assertEqual(doc["error"]["param"], "model")
        for bad in ("acme", "acme/", "/x", "acme/m-open@", "../../etc", "acme/m\u00e9"):
            self.assert_oai_error(self.chat(bad, self.tok["other"]), 404, "model_not_found")
        # a pinned revision works; an unknown one is the same 404
        self.assertEqual(self.chat("acme/m-open@1", None).status, 200)
        self.assert_oai_error(self.chat("acme/m-open@99", None), 404, "model_not_found")

    def test_bad_input(self):
        t = self.tok["grantee"]
        msgs = [{"role": "user", "content": "hi"}]
        cases = [
            (b"{not json", 400, "invalid_json"),
            (b"[]", 400, "invalid_json"),
            (b"", 400, "invalid_json"),
            ({"messages": msgs}, 400, "missing_model"),
            ({"model": 5, "messages": msgs}, 400, "missing_model"),
            ({"model": "acme/m-hosted"}, 400, "invalid_value"),
            ({"model": "acme/m-hosted", "messages": []}, 400, "invalid_value"),
            ({"model": "acme/m-hosted", "messages": ["hi"]}, 400, "invalid_value"),
            ({"model": "acme/m-hosted", "messages": msgs, "n": 2}, 400, "invalid_value"),
            ({"model": "acme/m-hosted", "messages": msgs, "max_tokens": -1}, 400,
             "invalid_value"),
            ({"model": "acme/m-hosted", "messages": msgs, "max_tokens": 10 ** 12}, 400,
             "invalid_value"),
            ({"model": "acme/m-hosted", "messages": msgs, "max_completion_tokens": 0}, 400,
             "invalid_value"),
            ({"model": "acme/m-hosted", "messages": msgs, "max_tokens": "9"}, 400,
             "invalid_value"),
            ({"model": "acme/m-hosted", "messages": msgs, "stream": "yes"}, 400,
             "invalid_value"),
        ]
        for body, status, code in cases:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            r = self.srv.request("POST", "/v1/chat/completions", payload,
                                 {"Content-Type": "application/json"}, token=t)
            self.assert_oai_error(r, status, code)
            self.assertNotIn("\n", r.json()["error"]["message"])
        r = self.call("POST", "/v1/completions", {"model": "acme/m-hosted"}, t)
        self.assert_oai_error(r, 400, "invalid_value")
        # over 1 MiB
        big = {"model": "acme/m-hosted", "messages": [{"role": "user",
                                                       "content": "x" * (1 << 20)}]}
        self.assert_oai_error(self.call("POST", "/v1/chat/completions", big, t), 413,
                              "body_too_large")
        # unknown fields are ignored, as OpenAI does
        self.assertEqual(self.chat("acme/m-hosted", t, frobnicate=True).status, 200)

    def test_failover_before_the_first_byte(self):
        five = self.backend(mode="5xx")
        ok = self.backend()
        ids = []
        for url in (fakeoai.dead_url(), five.url, ok.url):
            ids.append(json.loads(self.hosted("backend", "add", "acme/m-faults", url,
                                              "--json").stdout)["id"])
        try:
            for i in range(6):
                r = self.chat("acme/m-faults", self.tok["publisher"], stream=(i % 2 == 1))
                self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(ok.calls(), 6)
            # a failed backend is skipped for a while: at most one more try
            self.assertLessEqual(five.calls(), 2)
            # every backend down: 503 with Retry-After
            ok.mode = "5xx"
            five.mode = "5xx"
            r = self.chat("acme/m-faults", self.tok["publisher"])
            self.assertIn(r.status, (502, 503), repr(r))
            self.assert_oai_error(r, r.status)
        finally:
            for i in ids:
                self.hosted("backend", "remove", "acme/m-faults", str(i))

    def with_backend(self, **kw):
        b = self.backend(**kw)
        bid = json.loads(self.hosted("backend", "add", "acme/m-faults", b.url,
                                     "--json").stdout)["id"]
        self.addCleanup(self.hosted, "backend", "remove", "acme/m-faults", str(bid))
        return b

    def test_garbage_is_502(self):
        self.with_backend(mode="garbage")
        r = self.chat("acme/m-faults", self.tok["publisher"])
        doc = self.assert_oai_error(r, 502, "bad_gateway")
        self.assertNotIn("<html>", doc["error"]["message"])
        r = self.chat("acme/m-faults", self.tok["publisher"], stream=True)
        self.assert_oai_error(r, 502, "bad_gateway")

    def test_hang_times_out(self):
        self.with_backend(mode="hang")
        t0 = time.monotonic()
        r = self.chat("acme/m-faults", self.tok["publisher"])
        self.assert_oai_error(r, 504, "backend_timeout")
        self.assertLess(time.monotonic() - t0, 10)

    def stream_faults(self, mode):
        self.with_backend(mode=mode, tokens=6)
        c, resp = self.stream("/v1/chat/completions",
                              {"model": "acme/m-faults", "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]},
                              self.tok["publisher"])
        self.assertEqual(resp.status, 200)
        events = list(fakeoai.read_sse(resp))
        c.close()
        self.assertNotEqual(events[-1][1], "[DONE]")
        last = json.loads(events[-1][1])
        self.assertIn("error", last)
        return last["error"]

    def test_keep_alive_comments_while_the_backend_is_quiet(self):
        self.with_backend(mode="slow", tokens=3, delay=1.0)
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        c.request("POST", "/v1/chat/completions", json.dumps(
            {"model": "acme/m-faults", "stream": True,
             "messages": [{"role": "user", "content": "hi"}]}).encode(),
            {"Content-Type": "application/json",
             "Authorization": "Bearer " + self.tok["publisher"]})
        raw = c.getresponse().read().decode()
        c.close()
        self.assertGreaterEqual(raw.count(": keep-alive\n\n"), 2, raw)
        self.assertTrue(raw.endswith("data: [DONE]\n\n"), raw)
        self.assertNotIn(": ping", raw)  # the backend's own comments are dropped

    def test_silent_stream_times_out(self):
        t0 = time.monotonic()
        err = self.stream_faults("stall")
        self.assertEqual(err["code"], "timeout")
        self.assertLess(time.monotonic() - t0, 10)

    def test_backend_refusals(self):
        b = self.with_backend(mode="400")
        doc = self.assert_oai_error(self.chat("acme/m-faults", self.tok["publisher"]), 400,
                                    "backend_refused")
        self.assertIn("context too long (4096 tokens)", doc["error"]["message"])
        b.mode = "429"
        r = self.chat("acme/m-faults", self.tok["publisher"])
        self.assert_oai_error(r, 429, "rate_limited")
        self.assertEqual(r.headers.get("Retry-After"), "5")
        # a refusal is the request's fault, not the backend's: still healthy
        b.mode = "normal"
        self.assertEqual(self.chat("acme/m-faults", self.tok["publisher"]).status, 200)

    def test_oversized_event_and_answer(self):
        err = self.stream_faults("huge")
        self.assertEqual(err["code"], "bad_gateway")
        self.assertIn("malformed", err["message"])
        doc = self.assert_oai_error(self.chat("acme/m-faults", self.tok["publisher"]), 502,
                                    "bad_gateway")
        self.assertIn("over the limit", doc["error"]["message"])

    def test_backend_error_event_ends_the_stream(self):
        err = self.stream_faults("error_event")
        self.assertEqual(err["code"], "backend_error")

    def test_pinned_version_backend(self):
        r = self.hosted("backend", "add", "acme/m-none@1", self.normal.url, "--json")
        doc = json.loads(r.stdout)
        self.assertEqual(doc["version"], 1)
        self.addCleanup(self.hosted, "backend", "remove", "acme/m-none", str(doc["id"]))
        ids = {m["id"] for m in self.call("GET", "/v1/models", token=self.tok["publisher"],
                                          expect=200).json()["data"]}
        self.assertIn("acme/m-none@v1", ids)
        self.assertNotIn("acme/m-none", ids)
        r = self.chat("acme/m-none@v1", self.tok["publisher"])
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json()["model"], "acme/m-none@v1")
        self.assert_oai_error(self.chat("acme/m-none@2", self.tok["publisher"]), 404)
        lst = json.loads(self.hosted("backend", "list", "acme/m-none", "--json").stdout)
        self.assertEqual([b["version"] for b in lst], [1])

    def test_at_most_64_backends(self):
        ids = []
        try:
            for i in range(64):
                r = self.hosted("backend", "add", "acme/m-none", "http://10.0.0.%d/v1" % i,
                                "--json")
                ids.append(json.loads(r.stdout)["id"])
            r = self.hosted("backend", "add", "acme/m-none", "http://10.0.1.1/v1", check=False)
            self.assertEqual(r.rc, 2, repr(r))
            self.assertIn("64", r.stderr)
        finally:
            for i in ids:
                self.hosted("backend", "remove", "acme/m-none", str(i))

    def test_drop_mid_stream_ends_with_an_error_event(self):
        err = self.stream_faults("drop")
        self.assertEqual(err["code"], "bad_gateway")
        self.assertIn("dropped", err["message"])

    def test_malformed_event_ends_with_an_error_event(self):
        err = self.stream_faults("malformed")
        self.assertIn("malformed", err["message"])

    def revoke_mid_stream(self, model, who, act):
        slow = self.backend(mode="slow", tokens=200, delay=0.05)
        bid = json.loads(self.hosted("backend", "add", "acme/" + model, slow.url,
                                     "--json").stdout)["id"]
        # only the slow backend: remove the normal one for this model
        for b in json.loads(self.hosted("backend", "list", "acme/" + model,
                                        "--json").stdout):
            if b["id"] != bid:
                self.hosted("backend", "remove", "acme/" + model, str(b["id"]))
        c, resp = self.stream("/v1/chat/completions",
                              {"model": "acme/" + model, "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]},
                              self.tok[who])
        self.assertEqual(resp.status, 200)
        it = fakeoai.read_sse(resp)
        for _ in range(3):
            next(it)
        t_act = time.monotonic()
        act()
        rest = list(it)
        t_end = time.monotonic()
        c.close()
        self.assertLess(t_end - t_act, 1.0 + 0.3, "the stream outlived the revocation")
        self.assertGreater(len(rest), 0)
        last = json.loads(rest[-1][1])
        self.assertEqual(last["error"]["code"], "access_revoked", last)
        self.assertLess(len(rest), 60)  # 200 tokens would take 10 s
        # and no new call
        self.assert_oai_error(self.chat("acme/" + model, self.tok[who]), 404)

    def test_revocation_ends_a_stream_within_a_second(self):
        pub = self.tok["publisher"]
        self.revoke_mid_stream("m-live", "streamer", lambda: self.call(
            "POST", "/api/v1/models/acme/m-live/access/streamer/revoke", {"reason": "abuse"},
            pub, 200))

    def test_withheld_tier_change_ends_a_stream(self):
        pub = self.tok["publisher"]
        self.revoke_mid_stream("m-tier", "member", lambda: self.call(
            "POST", "/api/v1/models/acme/m-tier/tier", {"tier": "withheld"}, pub, 200))

    def test_client_gone_closes_the_backend_stream(self):
        b = self.with_backend(mode="slow", tokens=200, delay=0.05)
        c, resp = self.stream("/v1/chat/completions",
                              {"model": "acme/m-faults", "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]},
                              self.tok["publisher"])
        it = fakeoai.read_sse(resp)
        next(it)
        next(it)
        c.sock.shutdown(2)
        c.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and b.disconnects == 0:
            time.sleep(0.1)
        self.assertEqual(b.disconnects, 1, "the backend kept generating for nobody")

    def test_quota_requests_per_minute(self):
        if time.time() % 60 > 50:
            time.sleep(61 - time.time() % 60)  # one minute window for the whole test
        self.hosted("quota", "set", "acme/m-quota", "--rpm", "3")
        self.hosted("quota", "set", "acme/m-quota", "--user", "member", "--rpm", "5")
        before = self.normal.calls()
        for i in range(3):
            r = self.chat("acme/m-quota", self.tok["grantee"], stream=(i == 2))
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(r.headers.get("x-ratelimit-limit-requests"), "3")
            self.assertEqual(r.headers.get("x-ratelimit-remaining-requests"), str(2 - i))
            self.assertRegex(r.headers.get("x-ratelimit-reset-requests"), r"^[0-9]+s$")
        r = self.chat("acme/m-quota", self.tok["grantee"])
        doc = self.assert_oai_error(r, 429, "rate_limit_exceeded")
        self.assertEqual(doc["error"]["type"], "rate_limit_error")
        self.assertIn("3 requests per minute", doc["error"]["message"])
        self.assertTrue(1 <= int(r.headers["Retry-After"]) <= 60, repr(r))
        self.assertEqual(r.headers.get("x-ratelimit-remaining-requests"), "0")
        self.assertIsNone(r.headers.get("x-should-retry"))  # next minute it works
        self.assertEqual(self.normal.calls(), before + 3, "a refused call reached the backend")
        # the member's own quota
        for i in range(5):
            self.assertEqual(self.chat("acme/m-quota", self.tok["member"]).status, 200)
        self.assert_oai_error(self.chat("acme/m-quota", self.tok["member"]), 429)
        # other models are not limited
        self.assertEqual(self.chat("acme/m-hosted", self.tok["grantee"]).status, 200)
        r = self.hosted("quota", "set", "acme/m-quota", "--rpm", "0", "--json")
        self.assertEqual(json.loads(r.stdout)["rpm"], 0)
        r = self.chat("acme/m-quota", self.tok["grantee"])
        self.assertEqual(r.status, 200, repr(r))
        self.assertIsNone(r.headers.get("x-ratelimit-limit-requests"))

    def test_quota_tokens_per_day(self):
        self.hosted("quota", "set", "acme/m-tokens", "--tokens-per-day", "10")
        r = self.chat("acme/m-tokens", self.tok["grantee"])  # 3 + 5 tokens
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.headers.get("x-ratelimit-remaining-tokens"), "10")
        r = self.chat("acme/m-tokens", self.tok["grantee"], stream=True)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.headers.get("x-ratelimit-remaining-tokens"), "2")
        r = self.chat("acme/m-tokens", self.tok["grantee"])
        doc = self.assert_oai_error(r, 429, "rate_limit_exceeded")
        self.assertIn("10 tokens per day", doc["error"]["message"])
        self.assertEqual(r.headers.get("x-ratelimit-remaining-tokens"), "0")
        self.assertRegex(r.headers.get("x-ratelimit-reset-tokens"), r"^[0-9]+s$")
        self.assertTrue(1 <= int(r.headers["Retry-After"]) <= 86400, repr(r))
        self.assertEqual(r.headers.get("x-should-retry"), "false")

    def test_usage_is_metered(self):
        t = self.tok["grantee"]
        before = self.normal.calls()
        self.assertEqual(self.chat("acme/m-usage", t).status, 200)
        # streamed, without asking for usage: the gateway asks, and drops it
        c, resp = self.stream("/v1/chat/completions",
                              {"model": "acme/m-usage", "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]}, t)
        events = list(fakeoai.read_sse(resp))
        c.close()
        self.assertTrue(self.normal.requests[before + 1][2]["stream_options"]["include_usage"])
        for _, d in events[:-1]:
            doc = json.loads(d)
            self.assertTrue(doc["choices"], doc)  # no usage-only chunk
            self.assertNotIn("usage", doc)
        # asking for it: it comes
        c, resp = self.stream("/v1/chat/completions",
                              {"model": "acme/m-usage", "stream": True,
                               "stream_options": {"include_usage": True},
                               "messages": [{"role": "user", "content": "hi"}]},
                              self.tok["member"])
        docs = [json.loads(d) for _, d in fakeoai.read_sse(resp) if d != "[DONE]"]
        c.close()
        self.assertEqual(docs[-1]["choices"], [])
        self.assertEqual(docs[-1]["usage"]["completion_tokens"], 5)
        time.sleep(0.3)  # usage is written as the call's thread ends
        rows = json.loads(self.hosted("usage", "acme/m-usage", "--json").stdout)
        got = {(r["user"], r["version"]): (r["calls"], r["prompt_tokens"],
                                           r["completion_tokens"]) for r in rows}
        self.assertEqual(got, {("grantee", 1): (2, 6, 10), ("member", 1): (1, 3, 5)})
        self.assertEqual(rows[0]["day"], time.strftime("%Y-%m-%d", time.gmtime()))
        rows = json.loads(self.hosted("usage", "acme/m-usage", "--since", "2099-01-01",
                                      "--json").stdout)
        self.assertEqual(rows, [])
        for bad in (("usage", "acme/m-usage", "--since", "yesterday"),
                    ("quota", "set", "acme/m-usage"),
                    ("quota", "set", "acme/m-usage", "--rpm", "-1"),
                    ("quota", "set", "acme/m-usage", "--rpm", "many")):
            r = self.hosted(*bad, check=False)
            self.assertEqual(r.rc, 2, (bad, r))
        r = self.hosted("quota", "set", "acme/m-usage", "--user", "nobody", "--rpm", "1",
                        check=False)
        self.assertEqual(r.rc, 1, repr(r))

    def admin_usage(self):
        rows = json.loads(self.hosted("usage", "acme/m-faults", "--json").stdout)
        return [(r["calls"], r["prompt_tokens"], r["completion_tokens"]) for r in rows
                if r["user"] == "admin"]

    def test_usage_counted_without_backend_usage_and_for_a_client_gone(self):
        b = self.with_backend(usage=False, tokens=7)
        self.assertEqual(self.admin_usage(), [])
        r = self.chat("acme/m-faults", self.tok["admin"], stream=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(self.admin_usage(), [(1, 0, 7)])  # 7 content chunks counted
        b.mode = "slow"
        b.usage = True
        b.tokens = 100
        c, resp = self.stream("/v1/chat/completions",
                              {"model": "acme/m-faults", "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]},
                              self.tok["admin"])
        it = fakeoai.read_sse(resp)
        next(it)
        next(it)
        c.sock.shutdown(2)
        c.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.admin_usage()[0][0] < 2:
            time.sleep(0.1)
        calls, _, completion = self.admin_usage()[0]
        self.assertEqual(calls, 2, "a stream the caller left was not counted")
        self.assertGreaterEqual(completion, 7 + 1)

    def test_stop_during_a_stream(self):
        """SIGTERM with a stream in flight: the stream ends with an error
        event and the server exits 0 (libmicrohttpd aborts when stopped
        with a connection suspended)."""
        self.with_backend(mode="slow", tokens=400, delay=0.05)
        c, resp = self.stream("/v1/chat/completions",
                              {"model": "acme/m-faults", "stream": True,
                               "messages": [{"role": "user", "content": "hi"}]},
                              self.tok["publisher"])
        it = fakeoai.read_sse(resp)
        next(it)
        stopper = threading.Thread(target=self.srv.stop)
        stopper.start()
        try:
            rest = list(it)
        finally:
            stopper.join()
            c.close()
            self.srv.start()
        self.assertEqual(json.loads(rest[-1][1])["error"]["code"], "unavailable", rest[-1])
        self.assertLess(len(rest), 200)

    def test_backend_cli_checks_its_input(self):
        cases = [
            ("add", "acme/m-open", "ftp://x"),
            ("add", "acme/m-open", "http://x y"),
            ("add", "acme/m-open", "http://x/?q=1"),
            ("add", "acme/m-open", "http://x", "--api-key-env", "sk-live-123 456"),
            ("add", "acme", "http://x"),
            ("remove", "acme/m-open", "abc"),
            ("frob", "acme/m-open"),
        ]
        for args in cases:
            r = self.hosted("backend", *args, check=False)
            self.assertEqual(r.rc, 2, (args, r))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r)
        r = self.hosted("backend", "add", "acme/m-nosuch", "http://x", check=False)
        self.assertEqual(r.rc, 1, repr(r))
        r = self.hosted("backend", "remove", "acme/m-open", "999999", check=False)
        self.assertEqual(r.rc, 1, repr(r))
        lst = json.loads(self.hosted("backend", "list", "acme/m-open", "--json").stdout)
        self.assertEqual(len(lst), 1)
        self.assertEqual(lst[0]["api_key_env"], "LAB_KEY")
        self.assertNotIn(KEY, json.dumps(lst))  # the key itself is never stored


if __name__ == "__main__":
    unittest.main(verbosity=2)
