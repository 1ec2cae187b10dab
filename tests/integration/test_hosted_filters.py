# SPDX-License-Identifier: Apache-2.0
"""The hosted gateway's filters (issue 15 item 6, docs/hosted.md "Filters")
against a real `sluice serve` and fake backends (fakeoai.py): who may set
them, errors that name the rule and the offset, the log entry without the
patterns, input rules before any backend is called, parameters and the
max_tokens cap, output rules on whole answers and on streams as they flow
(a match cut between chunks), unicode case, a huge prompt against a
pathological pattern, refusals counted, and a change during a stream.
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
SECRET = "Project Nightingale"


def rule(rid, where, kind, pattern, action="refuse", ci=False):
    return {"id": rid, "where": where, "kind": kind, "pattern": pattern, "action": action,
            "case_insensitive": ci}


class Filters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hfilter-")
        cls.backends = []
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        cls.srv.store_env = dict(cls.srv.store_env or {}, SLUICE_HOSTED_FIRST_BYTE_MS="3000",
                                 SLUICE_HOSTED_IDLE_MS="3000")
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
        tok = {"admin": srv.admin_token}
        for who in ("publisher", "orgadmin", "member", "other"):
            tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_member("acme", "publisher", "publisher")
        srv.add_member("acme", "orgadmin", "admin")
        srv.add_member("acme", "member", "member")
        cls.tok = tok
        facts = os.path.join(cls.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        cls.home = os.path.join(cls.tmp, "home")
        env = srv.client_env(tok["publisher"], cls.home)
        cls.plain = fakeoai.Backend()
        cls.split = fakeoai.Backend(words=["the card is 12", "34-56", "78-9012 thanks ",
                                           "and more"])
        cls.slow = fakeoai.Backend(mode="slow", tokens=12, delay=0.15)
        cls.backends += [cls.plain, cls.split, cls.slow]
        for m, b in (("m-in", cls.plain), ("m-out", cls.split), ("m-change", cls.slow),
                     ("m-acl", cls.plain)):
            folder = os.path.join(cls.tmp, "model-" + m)
            sv.make_model(folder, big=2000)
            r = st.run("push", "acme/" + m, folder, "--facts", facts, "--tier", "hosted",
                       "--json", env=env, timeout=120)
            if r.rc != 0:
                raise AssertionError("push %s: %r" % (m, r))
            r = st.run("hosted", "backend", "add", "acme/" + m, b.url, "--backend-model",
                       "tiny", "--data", srv.data, *(["--db", srv.db] if srv.db else []),
                       *srv.store_args, env=sv.clean_env(srv.store_env))
            if r.rc != 0:
                raise AssertionError("backend add %s: %r" % (m, r))

    # ---------------------------------------------------------------- helpers

    def cli(self, who, *args):
        return st.run("hosted", "filter", *args,
                      env=self.srv.client_env(self.tok[who], self.home), timeout=60)

    def put(self, model, doc, who="publisher"):
        return self.srv.request("PUT", "/api/v1/models/%s/hosted/filter" % model,
                                json.dumps(doc).encode(), {"Content-Type": "application/json"},
                                token=self.tok[who])

    def set_filter(self, model, doc):
        r = self.put(model, doc)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def show(self, model):
        r = self.srv.request("GET", "/api/v1/models/%s/hosted/filter" % model,
                             token=self.tok["publisher"])
        self.assertEqual(r.status, 200, r)
        return r.json()

    def chat(self, model, content, who="member", **extra):
        body = dict({"model": model, "messages": [{"role": "user", "content": content}]},
                    **extra)
        return self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                                {"Content-Type": "application/json"}, token=self.tok[who])

    def stream(self, model, content="hi", who="member"):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        body = {"model": model, "stream": True,
                "messages": [{"role": "user", "content": content}]}
        c.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                  {"Content-Type": "application/json",
                   "Authorization": "Bearer " + self.tok[who]})
        return c, c.getresponse()

    def refused(self, r, code, rule_id=None):
        self.assertEqual(r.status, 400, r)
        err = r.json()["error"]
        self.assertEqual(err["code"], code, err)
        self.assertEqual(r.headers.get("X-Error-Code"), code)
        if rule_id:
            self.assertIn("`%s`" % rule_id, err["message"])
        return err

    def log_entries(self):
        r = self.srv.request("GET", "/api/v1/log/entries?start=0&end=1000")
        self.assertEqual(r.status, 200, r)
        return [e["entry"] for e in r.json()]

    # ---------------------------------------------------------------- tests

    def test_only_publishers_and_org_admins_set_show_or_clear(self):
        doc = {"rules": [rule("r1", "input", "literal", "forbidden")]}
        for who in ("member", "other"):
            self.assertIn(self.put("acme/m-acl", doc, who).status, (403, 404), who)
            r = self.srv.request("DELETE", "/api/v1/models/acme/m-acl/hosted/filter",
                                 token=self.tok[who])
            self.assertIn(r.status, (403, 404), who)
            r = self.srv.request("GET", "/api/v1/models/acme/m-acl/hosted/filter",
                                 token=self.tok[who])
            self.assertIn(r.status, (403, 404), who)
            r = self.cli(who, "set", "acme/m-acl", self.write(doc))
            self.assertEqual(r.rc, 1, r)
        r = self.srv.request("PUT", "/api/v1/models/acme/m-acl/hosted/filter",
                             json.dumps(doc).encode(), {"Content-Type": "application/json"})
        self.assertEqual(r.status, 401, r)
        self.assertIsNone(self.show("acme/m-acl")["filter"], "nothing was set")
        self.assertEqual(self.put("acme/m-acl", doc, "orgadmin").status, 200)
        self.assertEqual(self.chat("acme/m-acl", "a forbidden word").status, 400)
        r = self.srv.request("DELETE", "/api/v1/models/acme/m-acl/hosted/filter",
                             token=self.tok["orgadmin"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["cleared"])
        self.assertEqual(self.chat("acme/m-acl", "a forbidden word").status, 200)

    def write(self, doc, name="filter.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def test_cli_set_show_clear_and_the_log_entry_keeps_patterns_out(self):
        doc = {"rules": [rule("codename", "input", "literal", SECRET, ci=True),
                         rule("card", "output", "regex", r"\d{4}-\d{4}")],
               "max_tokens": 64, "allowed_parameters": ["temperature"]}
        before = len(self.log_entries())
        r = self.cli("publisher", "set", "acme/m-acl", self.write(doc), "--json")
        self.assertEqual(r.rc, 0, r)
        out = json.loads(r.stdout)
        self.assertEqual(out["filter"]["max_tokens"], 64)
        self.assertEqual([x["id"] for x in out["filter"]["rules"]], ["codename", "card"])
        r = self.cli("publisher", "show", "acme/m-acl")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("codename", r.stdout)
        self.assertIn(SECRET, r.stdout, "the publisher sees the patterns")
        entries = self.log_entries()[before:]
        sets = [e for e in entries if e["type"] == "hosted.filter_set"]
        self.assertEqual(len(sets), 1, entries)
        e = sets[0]
        self.assertEqual(e["model"], "acme/m-acl")
        self.assertEqual(e["rules"], [{"id": "codename", "where": "input", "action": "refuse"},
                                      {"id": "card", "where": "output", "action": "refuse"}])
        self.assertEqual(e["max_tokens"], 64)
        self.assertTrue(e["filter"].startswith("hmac-sha256:"), e)
        self.assertTrue(e["by"].startswith("acct:"), e)
        blob = json.dumps(entries)
        self.assertNotIn("Nightingale", blob)
        self.assertNotIn("d{4}", blob)
        self.assertNotIn("publisher", blob.replace('"publisher"', ""))
        r = self.cli("publisher", "clear", "acme/m-acl")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("filter cleared", r.stdout)
        self.assertEqual([e["type"] for e in self.log_entries()[before:]],
                         ["hosted.filter_set", "hosted.filter_cleared"])
        r = self.cli("publisher", "clear", "acme/m-acl")
        self.assertIn("had no filter", r.stdout)
        self.assertEqual(len(self.log_entries()), before + 2, "clearing nothing logs nothing")

    def test_bad_filters_name_the_rule_and_the_offset(self):
        bad = {"rules": [rule("ok", "input", "literal", "x"),
                         rule("broken", "input", "regex", "ab(cd")]}
        r = self.cli("publisher", "set", "acme/m-acl", self.write(bad))
        self.assertEqual(r.rc, 2, r)
        self.assertIn('rules[1].pattern: rule "broken": missing \')\' for the \'(\' at offset 2',
                      r.stderr)
        r = self.put("acme/m-acl", bad)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"], "bad_filter")
        self.assertIn('rule "broken"', r.json()["message"])
        self.assertIn("at offset 2", r.json()["message"])
        for doc, want in (
                ({"rules": [rule("a", "input", "regex", "(x{100}){100}")]}, "too large"),
                ({"rules": [rule("a", "sideways", "regex", "x")]}, "rules[0].where"),
                ({"rules": [], "max_tokens": -1}, "max_tokens"),
                ({"rules": [], "colour": "red"}, "colour: unknown key"),
                ({"allowed_parameters": ["x y"]}, "allowed_parameters[0]")):
            r = self.put("acme/m-acl", doc)
            self.assertEqual(r.status, 400, (doc, r))
            self.assertIn(want, r.json()["message"])
        r = self.srv.request("PUT", "/api/v1/models/acme/m-acl/hosted/filter", b"{\"rules\": [",
                             {"Content-Type": "application/json"}, token=self.tok["publisher"])
        self.assertEqual(r.status, 400, r)
        r = self.cli("publisher", "set", "acme/m-acl", self.write("x" * 70000, "big.json"))
        self.assertEqual(r.rc, 2, r)
        self.assertIsNone(self.show("acme/m-acl")["filter"], "no bad filter was stored")

    def test_input_rules_refuse_before_the_backend_and_flags_pass(self):
        self.set_filter("acme/m-in", {"rules": [
            rule("codename", "input", "literal", SECRET, ci=True),
            rule("ecole", "input", "literal", "\u00c9COLE", ci=True),
            rule("weather", "input", "regex", "(rain|snow)", action="flag"),
            rule("pathological", "input", "regex", "(a+)+$")]})
        calls = self.plain.calls()
        err = self.refused(self.chat("acme/m-in", "tell me about project NIGHTINGALE"),
                           "content_policy", "codename")
        self.assertNotIn("Nightingale", err["message"], "the rule id, never the pattern")
        self.refused(self.chat("acme/m-in", "l'\u00e9cole est ferm\u00e9e"), "content_policy",
                     "ecole")
        # a list of parts, and a second message
        r = self.chat("acme/m-in", [{"type": "text", "text": "fine"},
                                    {"type": "text", "text": "project nightingale"}])
        self.refused(r, "content_policy", "codename")
        self.assertEqual(self.plain.calls(), calls, "no backend was called for a refusal")
        self.assertEqual(self.chat("acme/m-in", "snow tomorrow?").status, 200, "flag passes")
        self.assertEqual(self.chat("acme/m-in", "Project  Nightingale").status, 200)
        # a prompt near the body limit against (a+)+$: linear, not 2^n (a
        # backtracking engine would not finish in any time; the bound is
        # loose for the sanitizer stage on a busy machine, where it took 5 s)
        t0 = time.monotonic()
        r = self.chat("acme/m-in", "a" * 900000 + "!")
        self.assertEqual(r.status, 200, r)
        self.assertLess(time.monotonic() - t0, 30.0)
        self.refused(self.chat("acme/m-in", "b" + "a" * 900000), "content_policy",
                     "pathological")
        counts = {(x["reason"], x["rule"]): x["n"] for x in self.show("acme/m-in")["refusals"]}
        self.assertEqual(counts.get(("input", "codename")), 2, counts)
        # the server's log: the caller's pseudonym, the rule, never the text or the name
        lines = [json.loads(x) for x in self.srv.stderr().splitlines()
                 if x.startswith("{") and '"hosted_filter"' in x]
        mine = [x for x in lines if x["model"] == "acme/m-in" and x["rule"] == "ecole"]
        self.assertEqual(len(mine), 1, lines)
        self.assertEqual(mine[0]["reason"], "input")
        self.assertRegex(mine[0]["caller"], r"^acct:[0-9a-f]{16}$")
        self.assertNotIn("cole", json.dumps(mine[0]).replace('"ecole"', ""))
        self.assertNotIn("member", json.dumps(lines))
        self.assertEqual(counts.get(("input", "ecole")), 1, counts)
        self.assertEqual(counts.get(("input", "pathological")), 1, counts)
        self.assertEqual(counts.get(("flag_input", "weather")), 1, counts)

    def test_parameters_and_max_tokens(self):
        self.set_filter("acme/m-in", {"max_tokens": 7, "allowed_parameters": ["temperature"]})
        r = self.chat("acme/m-in", "hi", temperature=0.2, logit_bias={"50256": -100})
        err = self.refused(r, "unsupported_parameter")
        self.assertEqual(err["param"], "logit_bias")
        self.assertIn("`logit_bias`", err["message"])
        n = self.plain.calls()
        self.assertEqual(self.chat("acme/m-in", "hi", temperature=0.2, max_tokens=5000).status,
                         200)
        self.assertEqual(self.plain.requests[n][2]["max_tokens"], 7, "capped")
        self.assertEqual(self.chat("acme/m-in", "hi").status, 200)
        self.assertEqual(self.plain.requests[n + 1][2]["max_tokens"], 7, "added")
        self.assertEqual(self.chat("acme/m-in", "hi", max_tokens=3).status, 200)
        self.assertEqual(self.plain.requests[n + 2][2]["max_tokens"], 3, "under the cap: kept")
        counts = {(x["reason"], x["rule"]): x["n"] for x in self.show("acme/m-in")["refusals"]}
        self.assertGreaterEqual(counts.get(("parameter", ""), 0), 1, counts)

    def test_output_rules_on_answers_and_on_streams_across_chunks(self):
        self.set_filter("acme/m-out", {"rules": [
            rule("card", "output", "regex", r"\d{4}-\d{4}-\d{4}"),
            rule("polite", "output", "literal", "THANKS", action="flag", ci=True)]})
        err = self.refused(self.chat("acme/m-out", "hi"), "content_policy", "card")
        self.assertNotIn("\\d", err["message"])
        c, resp = self.stream("acme/m-out")
        self.assertEqual(resp.status, 200)
        events = [d for _, d in fakeoai.read_sse(resp)]
        c.close()
        self.assertEqual(events[-1], "[DONE]", events)
        last = json.loads(events[-2])
        self.assertEqual(last["choices"][0]["finish_reason"], "content_filter", last)
        self.assertIn("`card`", last["choices"][0]["delta"]["refusal"])
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                       for e in events[:-2] if json.loads(e).get("choices"))
        self.assertEqual(text, "the card is 1234-56",
                         "the chunk that completed the match was not sent, nor any after it")
        self.assertNotIn("and more", json.dumps(events))
        # completions: the same, the refusal chunk with an empty text
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        c.request("POST", "/v1/completions",
                  json.dumps({"model": "acme/m-out", "prompt": "x", "stream": True}).encode(),
                  {"Content-Type": "application/json",
                   "Authorization": "Bearer " + self.tok["member"]})
        events = [d for _, d in fakeoai.read_sse(c.getresponse())]
        c.close()
        self.assertEqual(events[-1], "[DONE]", events)
        last = json.loads(events[-2])["choices"][0]
        self.assertEqual((last["finish_reason"], last["text"]), ("content_filter", ""), events)
        self.assertEqual("".join(json.loads(e)["choices"][0]["text"] for e in events[:-2]
                                 if json.loads(e).get("choices")), "the card is 1234-56")
        counts = {(x["reason"], x["rule"]): x["n"] for x in self.show("acme/m-out")["refusals"]}
        self.assertEqual(counts.get(("output", "card")), 3, counts)
        # a flag alone passes, counted once per answer
        flags = counts.get(("flag_output", "polite"), 0)
        self.set_filter("acme/m-out", {"rules": [
            rule("polite", "output", "literal", "THANKS", action="flag", ci=True)]})
        self.assertEqual(self.chat("acme/m-out", "hi").status, 200)
        c, resp = self.stream("acme/m-out")
        events = [d for _, d in fakeoai.read_sse(resp)]
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        self.assertIn("and more", json.dumps(events))
        counts = {(x["reason"], x["rule"]): x["n"] for x in self.show("acme/m-out")["refusals"]}
        self.assertEqual(counts.get(("flag_output", "polite")), flags + 2, counts)

    def test_a_change_applies_to_the_next_call_not_to_a_stream_in_flight(self):
        self.set_filter("acme/m-change", {"rules": []})
        c, resp = self.stream("acme/m-change")
        self.assertEqual(resp.status, 200)
        got = []
        for _, d in fakeoai.read_sse(resp):
            got.append(d)
            if len(got) == 3:
                # mid-stream: tok5 would now be refused
                self.set_filter("acme/m-change",
                                {"rules": [rule("five", "output", "literal", "tok5")]})
        c.close()
        self.assertEqual(got[-1], "[DONE]")
        self.assertIn("tok5", json.dumps(got), "the stream kept the filter it started with")
        c, resp = self.stream("acme/m-change")
        got = [d for _, d in fakeoai.read_sse(resp)]
        c.close()
        self.assertIn("content_filter", got[-2])
        self.assertNotIn("tok5", json.dumps(got[:-2]))


if __name__ == "__main__":
    unittest.main()
