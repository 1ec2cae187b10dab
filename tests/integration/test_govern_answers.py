# SPDX-License-Identifier: Apache-2.0
"""The exact JSON of the governance answers rendered in src/http/
render_govern.c (issue 13's storage seam): the evaluator keys, attestations
and schedule lists and the answers to adding and removing a key and adding a
step, every key (answers are sent with sorted keys) with its nulls, so that
moving the rendering out of registry/ changes nothing a client parses. Bad
input to these routes gets a one-line error, never a 500.
"""
import datetime
import json
import os
import random
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}
TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def utc(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def ordered(body):
    """The answer parsed with its keys in the order they came."""
    return json.loads(body, object_pairs_hook=lambda pairs: pairs)


def keys_of(pairs):
    return [k for k, _ in pairs]


class GovernAnswers(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-govern-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.dave = cls.srv.add_user("dave")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
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

    def p(self, *parts):
        return os.path.join(self.tmp, *parts)

    def cli(self, token, *args):
        home = self.p("home")
        os.makedirs(home, exist_ok=True)
        r = st.run(*args, env=self.srv.client_env(token, home), timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        return r

    def call(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        return self.srv.request(method, path, data, token=token)

    def test_keys_attestations_and_schedule(self):
        admin = self.srv.admin_token
        folder = self.p("m")
        sv.make_model(folder, big=1 << 16, rng=random.Random(5))
        facts = self.p("facts.json")
        with open(facts, "w") as f:
            json.dump(SMALL_FACTS, f)
        doc = json.loads(self.cli(self.alice, "push", "acme/m", folder, "--facts", facts,
                                  "--json").stdout)
        commit = doc["commit"]

        # no keys yet: an empty list
        r = self.call("GET", "/api/v1/eval/keys")
        self.assertEqual((r.status, r.body), (200, b"[]"), repr(r))

        key = self.p("dave.key")
        vkey = self.cli(self.dave, "eval", "keygen", "--name", "dave", "--out", key).stdout.strip()
        r = self.call("POST", "/api/v1/eval/keys", {"name": "dave", "vkey": vkey}, token=admin)
        self.assertEqual(r.status, 201, repr(r))
        self.assertEqual(r.body, json.dumps({"name": "dave", "vkey": vkey},
                                            separators=(",", ":")).encode())
        # a second key for the same evaluator: a conflict, not a 500
        r = self.call("POST", "/api/v1/eval/keys", {"name": "dave", "vkey": vkey}, token=admin)
        self.assertEqual(r.status, 409, repr(r))
        self.assertIn("already has a key", r.json()["message"])
        r = self.call("GET", "/api/v1/eval/keys")
        self.assertEqual(r.status, 200, repr(r))
        (k,) = ordered(r.body)
        self.assertEqual(keys_of(k), ["added", "name", "vkey"])
        k = dict(k)
        self.assertEqual((k["name"], k["vkey"]), ("dave", vkey))
        self.assertRegex(k["added"], TIME)

        att = self.p("a.note")
        self.cli(self.dave, "eval", "sign", "--key", key, "--model", "acme/m@" + commit,
                 "--domain", "cyber", "--level", "low", "--method", "CTF suite, 4 h", "--out",
                 att)
        with open(att, "rb") as f:
            note = f.read()
        r = self.call("POST", "/api/v1/models/acme/m/versions/main/attestations", note,
                      token=self.alice)
        self.assertEqual(r.status, 201, repr(r))
        doc = ordered(r.body)
        self.assertEqual(keys_of(doc), ["attestation", "decision", "floor_tier", "held_by",
                                        "min_tier", "moved", "old_tier", "tier"])
        doc = dict(doc)
        self.assertEqual(doc["attestation"], [("commit", commit), ("domain", "cyber"),
                                              ("evaluator", "dave"), ("level", "low"),
                                              ("method", "CTF suite, 4 h")])
        self.assertEqual((doc["tier"], doc["old_tier"], doc["moved"], doc["held_by"]),
                         ("open", "open", False, []))
        # the same note again: taken, not stored twice
        r = self.call("POST", "/api/v1/models/acme/m/versions/main/attestations", note,
                      token=self.alice)
        self.assertEqual(r.status, 200, repr(r))
        r = self.call("GET", "/api/v1/models/acme/m/versions/main/attestations")
        self.assertEqual(r.status, 200, repr(r))
        (a,) = ordered(r.body)
        self.assertEqual(keys_of(a), ["date", "domain", "evaluator", "level", "method", "note"])
        a = dict(a)
        self.assertEqual([a[x] for x in ("evaluator", "domain", "level", "method", "note")],
                         ["dave", "cyber", "low", "CTF suite, 4 h", note.decode()])
        self.assertRegex(a["date"], TIME)

        # the schedule: empty, a step added, listed with null reason and done
        r = self.call("GET", "/api/v1/models/acme/m/schedule")
        self.assertEqual((r.status, r.body), (200, b"[]"), repr(r))
        at = utc(3600)
        r = self.call("POST", "/api/v1/models/acme/m/schedule", {"tier": "click", "at": at},
                      token=self.alice)
        self.assertEqual(r.status, 201, repr(r))
        step = ordered(r.body)
        self.assertEqual(keys_of(step), ["at", "commit", "id", "reason", "status", "tier",
                                         "version"])
        step = dict(step)
        self.assertEqual([step[x] for x in ("version", "commit", "tier", "at", "status",
                                            "reason")], [1, commit, "click", at, "pending", None])
        r = self.call("GET", "/api/v1/models/acme/m/schedule")
        self.assertEqual(r.status, 200, repr(r))
        (s,) = ordered(r.body)
        self.assertEqual(keys_of(s), ["at", "commit", "done", "id", "reason", "status", "tier",
                                      "version"])
        s = dict(s)
        self.assertIsNone(s.pop("done"))
        self.assertEqual(s, step)
        # the careless user: a step in the past, a tier that is none
        for body, word in (({"tier": "click", "at": "2001-01-01"}, "future"),
                           ({"tier": "public", "at": at}, "not open, click")):
            r = self.call("POST", "/api/v1/models/acme/m/schedule", body, token=self.alice)
            self.assertEqual(r.status, 400, repr(r))
            self.assertIn(word, r.json()["message"])

        # removing the key: the answer, the listing, and a second removal
        r = self.call("DELETE", "/api/v1/eval/keys/dave", token=admin)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.body, b'{"name":"dave","revoked":true}')
        r = self.call("GET", "/api/v1/eval/keys")
        (k,) = ordered(r.body)
        self.assertEqual(keys_of(k), ["added", "name", "revoked", "vkey"])
        self.assertRegex(dict(k)["revoked"], TIME)
        r = self.call("DELETE", "/api/v1/eval/keys/dave", token=admin)
        self.assertEqual(r.status, 404, repr(r))
        self.assertIn("no live key", r.json()["message"])

    def test_obligations_satisfy_and_tier(self):
        # no training facts: the blocking obligation facts.training-compute
        # holds the version at withheld until evidence is given
        folder = self.p("held")
        os.makedirs(folder)
        sv.write_random(os.path.join(folder, "blob.dat"), 5000)
        facts = self.p("held-facts.json")
        with open(facts, "w") as f:
            json.dump({"params": 1000000}, f)
        doc = json.loads(self.cli(self.alice, "push", "acme/held", folder, "--facts", facts,
                                  "--json").stdout)
        self.assertEqual(doc["tier"], "withheld", doc)
        base = "/api/v1/models/acme/held"
        r = self.call("GET", base + "/versions/main/obligations", token=self.alice)
        self.assertEqual(r.status, 200, repr(r))
        o = ordered(r.body)
        self.assertEqual(keys_of(o), ["commit", "floor_tier", "held_by", "min_tier", "model",
                                      "obligations", "tier", "version"])
        o = dict(o)
        self.assertEqual((o["model"], o["version"], o["commit"], o["tier"], o["floor_tier"],
                          o["held_by"]),
                         ("acme/held", 1, doc["commit"], "withheld", "withheld",
                          ["facts.training-compute"]))
        # below the floor: refused with the decision and what holds it
        r = self.call("POST", base + "/tier", {"tier": "open"}, token=self.alice)
        self.assertEqual(r.status, 422, repr(r))
        self.assertEqual(keys_of(ordered(r.body)), ["decision", "error", "floor_tier",
                                                    "held_by", "message"])
        self.assertIn("facts.training-compute", r.json()["message"])
        # the careless user: evidence that is empty, an obligation that is none
        r = self.call("POST", base + "/versions/main/obligations/facts.training-compute/satisfy",
                      {"evidence": ""}, token=self.alice)
        self.assertEqual(r.status, 400, repr(r))
        r = self.call("POST", base + "/versions/main/obligations/no.such/satisfy",
                      {"evidence": "x"}, token=self.alice)
        self.assertEqual(r.status, 404, repr(r))
        self.assertIn("no obligation no.such", r.json()["message"])
        r = self.call("POST", base + "/versions/main/obligations/facts.training-compute/satisfy",
                      {"evidence": "1e9 tokens, see the card"}, token=self.alice)
        self.assertEqual(r.status, 200, repr(r))
        d = ordered(r.body)
        self.assertEqual(keys_of(d), ["floor_tier", "held_by", "min_tier", "model", "moved",
                                      "obligation", "old_tier", "status", "tier", "version"])
        d = dict(d)
        self.assertEqual((d["obligation"], d["status"], d["held_by"], d["moved"]),
                         ("facts.training-compute", "satisfied", [], False))
        r = self.call("POST", base + "/tier", {"tier": "open"}, token=self.alice)
        self.assertEqual(r.status, 200, repr(r))
        t = ordered(r.body)
        self.assertEqual(keys_of(t), ["commit", "floor_tier", "min_tier", "model", "old_tier",
                                      "tier", "version"])
        t = dict(t)
        self.assertEqual((t["tier"], t["old_tier"], t["commit"]),
                         ("open", "withheld", doc["commit"]))


if __name__ == "__main__":
    unittest.main()
