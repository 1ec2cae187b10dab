# SPDX-License-Identifier: Apache-2.0
"""The daily usage entry of a hosted model in the transparency log (issue
15, docs/hosted.md, "Usage"): once a UTC day has ended, the leader's ticker
logs one "hosted.usage" event per model called or refused that day, with
counts only: calls, prompt and completion tokens, distinct callers,
refusals by reason; no user name, no pseudonym, no text. The day boundary
is forced by restarting the server with SLUICE_TODAY (the date clock of
common/date.c) set to tomorrow. Checked: nothing is logged while the day
runs, the entry's exact fields and counts, that it is in the model's report
for an auditor, and that a restart does not log the day twice.
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


class UsageLog(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-usagelog-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.backend = fakeoai.Backend(tokens=5)  # usage: 3 prompt, 5 completion tokens
        self.addCleanup(self.backend.close)
        self.srv = sv.Server(os.path.join(self.tmp, "data"), workdir=self.tmp)
        self.addCleanup(self.srv.cleanup)

    def hosted(self, *args):
        srv = self.srv
        r = st.run("hosted", *args, "--data", srv.data, *(["--db", srv.db] if srv.db else []),
                   *srv.store_args, env=sv.clean_env(srv.store_env))
        self.assertEqual(r.rc, 0, r)
        return r

    def entries(self):
        """Every log entry's JSON, once the checkpoint covers what is there."""
        r = self.srv.request("GET", "/log/checkpoint")
        self.assertEqual(r.status, 200, r)
        size = int(r.body.decode().split("\n")[1])
        if size == 0:
            return []
        out = []
        for start in range(0, size, 1000):
            r = self.srv.request("GET", "/api/v1/log/entries?start=%d&end=%d" % (
                start, min(size, start + 1000)))
            self.assertEqual(r.status, 200, r)
            out += [json.loads(e["text"]) for e in r.json()]
        return out

    def usage_entries(self, wait_for=0, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            got = [e for e in self.entries() if e["type"] == "hosted.usage"]
            if len(got) >= wait_for or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def chat(self, model, token):
        return self.srv.request("POST", "/v1/chat/completions",
                                {"model": model, "messages": [{"role": "user",
                                                               "content": "secret prompt"}]},
                                token=token)

    def test_daily_entry(self):
        srv = self.srv
        srv.start()
        pub = srv.add_user("pub")
        alice = srv.add_user("alice")
        bob = srv.add_user("bob")
        srv.add_org("lab")
        srv.add_member("lab", "pub", "publisher")
        facts = os.path.join(self.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        env = srv.client_env(pub, os.path.join(self.tmp, "home"))
        for name in ("used", "idle"):
            folder = os.path.join(self.tmp, name)
            sv.make_model(folder, big=2000)
            r = st.run("push", "lab/" + name, folder, "--facts", facts, "--tier", "hosted",
                       env=env)
            self.assertEqual(r.rc, 0, r)
            self.hosted("backend", "add", "lab/" + name, self.backend.url)
            base = "/api/v1/models/lab/" + name
            for user, tok in (("alice", alice), ("bob", bob)):
                self.assertIn(srv.request("POST", base + "/access", {"purpose": "evals"},
                                          token=tok).status, (200, 201))
                self.assertIn(srv.request("POST", base + "/access/%s/approve" % user, {},
                                          token=pub).status, (200, 201))
        self.hosted("quota", "set", "lab/used", "--user", "bob", "--rpm", "1")
        if time.time() % 60 > 50:
            time.sleep(61 - time.time() % 60)  # bob's two calls in one minute
        today = time.strftime("%Y-%m-%d", time.gmtime())
        for tok in (alice, alice, bob):
            self.assertEqual(self.chat("lab/used", tok).status, 200)
        self.assertEqual(self.chat("lab/used", bob).status, 429)
        time.sleep(1.5)  # a few ticks: the day is not over, nothing is logged
        self.assertEqual(self.usage_entries(), [])

        # the day ends
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
        srv.stop()
        srv.store_env = dict(srv.store_env or {}, SLUICE_TODAY=tomorrow)
        srv.start()
        got = self.usage_entries(wait_for=1)
        self.assertEqual(len(got), 1, got)  # lab/idle had no call: no entry
        e = got[0]
        self.assertEqual(set(e), {"type", "model", "day", "calls", "prompt_tokens",
                                  "completion_tokens", "users", "refusals", "time", "log"}, e)
        self.assertEqual((e["model"], e["day"]), ("lab/used", today))
        self.assertEqual((e["calls"], e["prompt_tokens"], e["completion_tokens"], e["users"]),
                         (3, 9, 15, 2), e)
        self.assertEqual(e["refusals"], {"requests_per_minute": 1}, e)
        text = json.dumps(e)
        for secret in ("alice", "bob", "acct:", "secret prompt", "tok0"):
            self.assertNotIn(secret, text)
        # an auditor finds it in the model's report
        r = srv.request("GET", "/api/v1/models/lab/used/report")
        self.assertEqual(r.status, 200, r)
        self.assertIn("hosted.usage", [ev["entry"]["type"] for ev in r.json()["events"]])
        # a restart does not log the day again
        srv.stop()
        srv.start()
        time.sleep(1.5)
        self.assertEqual(len(self.usage_entries()), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
