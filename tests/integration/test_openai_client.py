# SPDX-License-Identifier: Apache-2.0
"""The unmodified `openai` JavaScript client against the hosted gateway
(issue 15, docs/hosted.md): pinned with its lockfile in tests/openai,
installed with `npm ci` into BUILD/node-openai, run by node with `baseURL`
pointed at a real `sluice serve` and a sluice token as its API key. Behind
the gateway: the fake OpenAI-compatible backend of fakeoai.py.

Checked: models.list, chat and completions, streamed and not (the client's
own SSE parser reads what the gateway re-frames), a model the caller may not
use (the client's NotFoundError), and a grant revoked mid-stream (the
client raises the gateway's in-band error within a second). When node, npm
or the package are missing the tests fail and say so.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeoai  # noqa: E402
import npmpin  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "openai")
NODE_DIR = os.environ.get("SLUICE_OPENAI_NODE_DIR") or os.path.join(sv.BUILD_DIR,
                                                                     "node-openai")
FACTS = {"params": 4224, "training": {"tokens": 1e9}}

SCRIPT = r"""
import OpenAI from "openai";
import { writeFile } from "node:fs/promises";

const spec = JSON.parse(process.argv[2]);
const results = [];
const messages = [{ role: "user", content: "hi" }];
for (const o of spec.ops) {
  const client = new OpenAI({ baseURL: spec.baseURL, apiKey: o.key, maxRetries: 0,
                              timeout: 20000 });
  let t0 = null;
  try {
    if (o.kind === "models") {
      const ids = [];
      for await (const m of client.models.list()) ids.push(m.id);
      results.push({ ok: true, ids });
    } else if (o.kind === "chat") {
      const r = await client.chat.completions.create({ model: o.model, messages });
      results.push({ ok: true, model: r.model, text: r.choices[0].message.content,
                     usage: r.usage });
    } else if (o.kind === "completion") {
      const r = await client.completions.create({ model: o.model, prompt: "Once" });
      results.push({ ok: true, model: r.model, text: r.choices[0].text });
    } else if (o.kind === "chat_stream" || o.kind === "completion_stream") {
      const chat = o.kind === "chat_stream";
      const s = chat
        ? await client.chat.completions.create({ model: o.model, messages, stream: true })
        : await client.completions.create({ model: o.model, prompt: "Once", stream: true });
      let text = "", n = 0;
      const models = new Set();
      for await (const c of s) {
        n++;
        models.add(c.model);
        const ch = c.choices[0];
        if (ch) text += (chat ? ch.delta?.content : ch.text) ?? "";
        if (o.revoke && n === o.revoke.after) {
          const r = await fetch(o.revoke.url, { method: "POST", body: "{\"reason\":\"abuse\"}",
            headers: { authorization: "Bearer " + o.revoke.token,
                       "content-type": "application/json" } });
          t0 = Date.now();
          if (r.status !== 200) throw new Error("revoke answered " + r.status);
        }
      }
      results.push({ ok: true, text, n, models: [...models] });
    }
  } catch (e) {
    results.push({ ok: false, name: e?.constructor?.name ?? null, status: e?.status ?? null,
                   code: e?.code ?? null, message: String(e?.message ?? e),
                   ms: t0 === null ? null : Date.now() - t0 });
  }
}
await writeFile(spec.out, JSON.stringify(results));
"""


class OpenAIClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.install_error = npmpin.install(SRC, NODE_DIR, "openai")
        cls.tmp = tempfile.mkdtemp(prefix="sluice-openai-")
        cls.backend = fakeoai.Backend(tokens=5)
        cls.slow = fakeoai.Backend(mode="slow", tokens=200, delay=0.05)
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.script = os.path.join(NODE_DIR, "sluice-openai-check.mjs")
            if not cls.install_error:
                with open(cls.script, "w") as f:
                    f.write(SCRIPT)
            srv = cls.srv
            srv.start()
            cls.pub = srv.add_user("pub")
            cls.alice = srv.add_user("alice")
            cls.eve = srv.add_user("eve")
            srv.add_org("lab")
            srv.add_member("lab", "pub", "publisher")
            facts = os.path.join(cls.tmp, "facts.json")
            with open(facts, "w") as f:
                json.dump(FACTS, f)
            env = srv.client_env(cls.pub, os.path.join(cls.tmp, "home"))
            for name, backend in (("tiny", cls.backend), ("live", cls.slow),
                                  ("limited", cls.backend)):
                folder = os.path.join(cls.tmp, name)
                sv.make_model(folder, big=2000)
                r = st.run("push", "lab/" + name, folder, "--facts", facts, "--tier", "hosted",
                           env=env)
                if r.rc != 0:
                    raise AssertionError("push: %r" % r)
                r = st.run("hosted", "backend", "add", "lab/" + name, backend.url, "--data",
                           srv.data, *(["--db", srv.db] if srv.db else []), *srv.store_args,
                           env=sv.clean_env(srv.store_env))
                if r.rc != 0:
                    raise AssertionError("backend add: %r" % r)
                base = "/api/v1/models/lab/" + name
                for r in (srv.request("POST", base + "/access", {"purpose": "evals"},
                                      token=cls.alice),
                          srv.request("POST", base + "/access/alice/approve", {},
                                      token=cls.pub)):
                    if r.status not in (200, 201):
                        raise AssertionError(repr(r))
            r = st.run("hosted", "quota", "set", "lab/limited", "--rpm", "1", "--data", srv.data,
                       *(["--db", srv.db] if srv.db else []), *srv.store_args,
                       env=sv.clean_env(srv.store_env))
            if r.rc != 0:
                raise AssertionError("quota set: %r" % r)
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
            cls.backend.close()
            cls.slow.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_ops(self, ops):
        if self.install_error:
            self.fail(self.install_error)
        out = os.path.join(self.tmp, "out.json")
        spec = {"baseURL": self.srv.url + "/v1", "ops": ops, "out": out}
        p = subprocess.run(["node", self.script, json.dumps(spec)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120, cwd=NODE_DIR)
        self.assertEqual(p.returncode, 0, p.stdout.decode("utf-8", "replace"))
        with open(out) as f:
            res = json.load(f)
        self.assertEqual(len(res), len(ops))
        return res

    def test_calls(self):
        words = "tok0 tok1 tok2 tok3 tok4 "
        res = self.run_ops([
            {"kind": "models", "key": self.alice},
            {"kind": "models", "key": self.eve},
            {"kind": "chat", "key": self.alice, "model": "lab/tiny"},
            {"kind": "chat_stream", "key": self.alice, "model": "lab/tiny"},
            {"kind": "completion", "key": self.alice, "model": "lab/tiny"},
            {"kind": "completion_stream", "key": self.alice, "model": "lab/tiny"},
            {"kind": "chat", "key": self.eve, "model": "lab/tiny"},
            {"kind": "chat", "key": self.alice, "model": "lab/nosuch"},
        ])
        self.assertEqual(res[0], {"ok": True, "ids": ["lab/limited", "lab/live", "lab/tiny"]})
        self.assertEqual(res[1], {"ok": True, "ids": []})
        self.assertEqual(res[2]["model"], "lab/tiny", res[2])
        self.assertEqual(res[2]["text"], words)
        self.assertEqual(res[2]["usage"]["completion_tokens"], 5)
        self.assertTrue(res[3]["ok"], res[3])
        self.assertEqual(res[3]["text"], words)
        self.assertEqual(res[3]["models"], ["lab/tiny"])
        self.assertEqual(res[4]["text"], words)
        self.assertTrue(res[5]["ok"], res[5])
        self.assertEqual(res[5]["text"], words)
        for r in (res[6], res[7]):
            self.assertFalse(r["ok"], r)
            self.assertEqual(r["name"], "NotFoundError", r)
            self.assertEqual(r["status"], 404, r)
            self.assertEqual(r["code"], "model_not_found", r)

    def test_filter_refusals(self):
        """A filter's refusals as the client sees them (docs/hosted.md,
        "Filters"): an input rule is the client's BadRequestError with code
        content_policy; an output rule ends a stream without an error, the
        chunk that completed the match and all after it withheld."""
        path = "/api/v1/models/lab/tiny/hosted/filter"

        def put(rules):
            r = self.srv.request("PUT", path, json.dumps({"rules": rules}).encode(),
                                 {"Content-Type": "application/json"}, token=self.pub)
            self.assertEqual(r.status, 200, r)
        try:
            put([{"id": "no-hi", "where": "input", "kind": "literal", "pattern": "hi",
                  "action": "refuse"}])
            res = self.run_ops([{"kind": "chat", "key": self.alice, "model": "lab/tiny"}])
            self.assertFalse(res[0]["ok"], res[0])
            self.assertEqual(res[0]["name"], "BadRequestError", res[0])
            self.assertEqual(res[0]["status"], 400, res[0])
            self.assertEqual(res[0]["code"], "content_policy", res[0])
            self.assertIn("`no-hi`", res[0]["message"])
            put([{"id": "two", "where": "output", "kind": "literal", "pattern": "tok2",
                  "action": "refuse"}])
            res = self.run_ops([{"kind": "chat_stream", "key": self.alice, "model": "lab/tiny"}])
            self.assertTrue(res[0]["ok"], res[0])
            self.assertEqual(res[0]["text"], "tok0 tok1 ", res[0])
        finally:
            self.srv.request("DELETE", path, token=self.pub)

    def test_quota(self):
        if time.time() % 60 > 50:
            time.sleep(61 - time.time() % 60)  # both calls in one minute
        res = self.run_ops([{"kind": "chat", "key": self.alice, "model": "lab/limited"}] * 2)
        self.assertTrue(res[0]["ok"], res[0])
        self.assertEqual(res[1]["name"], "RateLimitError", res[1])
        self.assertEqual(res[1]["status"], 429, res[1])
        self.assertEqual(res[1]["code"], "rate_limit_exceeded", res[1])

    def test_revoked_mid_stream(self):
        res = self.run_ops([
            {"kind": "chat_stream", "key": self.alice, "model": "lab/live",
             "revoke": {"after": 3, "token": self.pub,
                        "url": self.srv.url + "/api/v1/models/lab/live/access/alice/revoke"}},
            {"kind": "chat", "key": self.alice, "model": "lab/live"},
        ])
        r = res[0]
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["code"], "access_revoked", r)
        self.assertLess(r["ms"], 1300, r)
        self.assertEqual(res[1]["status"], 404, res[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
