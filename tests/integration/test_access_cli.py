# SPDX-License-Identifier: Apache-2.0
"""Tiered access through the real CLI against a real `sluice serve`
(docs/access.md, docs/cli.md): the gated lifecycle (request, list, approve,
pull with LICENSE.sluice, offline and online license checks, revocation
stopping a download in progress), deny and appeal, auto-approval rules,
click-through acceptance, evaluator keys and attestations moving an open
model to hosted, obligations, tier floors and staged release, and the
server key pinned at first contact.

Users: alice publishes to acme; bob (email bob@uni.example) and carol ask
for access; dave is an evaluator; the admin token registers evaluator keys.
"""
import datetime
import hashlib
import itertools
import json
import os
import random
import shutil
import stat
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}
# 6 x 7e10 x 3e13 = 1.26e25 FLOP: systemic risk, minimum tier click, and
# blocking obligations that hold the version at withheld.
BIG_FACTS = {"params": 70000000000, "training": {"tokens": 3e13}}
COUNTER = itertools.count(1)
MiB = 1 << 20
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def utc(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class AccessCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-access-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            r = cls.srv.admin("user", "add", "bob", "--email", "bob@uni.example", "--json")
            cls.bob = json.loads(r.stdout)["token"]
            cls.carol = cls.srv.add_user("carol")
            cls.dave = cls.srv.add_user("dave")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
        except BaseException:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.homes = {}

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.assertTrue(self.srv.running(), "the server is not running any more:\n%s"
                        % self.srv.stderr()[-3000:])
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    # ---------------------------------------------------------------- helpers

    def p(self, *parts):
        return os.path.join(self.work, *parts)

    def home(self, who):
        """Each user has a home of their own (config, state: the pinned key)."""
        h = os.path.join(self.tmp, "home-" + who)
        os.makedirs(h, exist_ok=True)
        return h

    def cli(self, who, *args, timeout=120):
        """Runs sluice as WHO (alice, bob, ..., "admin", or None for anonymous)."""
        token = {"alice": self.alice, "bob": self.bob, "carol": self.carol, "dave": self.dave,
                 "admin": self.srv.admin_token, None: None}[who]
        env = self.srv.client_env(token, self.home(who or "anon"))
        return st.run(*args, env=env, timeout=timeout)

    def ok(self, who, *args):
        r = self.cli(who, *args)
        self.assertEqual(r.rc, 0, repr(r))
        return r

    def ok_json(self, who, *args):
        return json.loads(self.ok(who, *args, "--json").stdout)

    def unique(self, prefix):
        return "%s-%d" % (prefix, next(COUNTER))

    def push(self, model, tier=None, big=MiB, facts=SMALL_FACTS, license_text=None, rows=64):
        folder = self.p(self.unique("src"))
        # Without weight files the facts' parameter count is the one used.
        sv.make_model(folder, big=big, rng=random.Random(next(COUNTER)),
                      safetensors=facts is SMALL_FACTS, rows=rows)
        facts_path = self.p(self.unique("facts") + ".json")
        with open(facts_path, "w") as f:
            json.dump(facts, f)
        args = ["push", model, folder, "--facts", facts_path, "--json"]
        if tier:
            args += ["--tier", tier]
        if license_text is not None:
            lic = self.p(self.unique("license") + ".txt")
            with open(lic, "w") as f:
                f.write(license_text)
            args += ["--license", lic]
        r = self.cli("alice", *args)
        self.assertEqual(r.rc, 0, repr(r))
        return folder, json.loads(r.stdout)

    def terms(self, model, token=None):
        status, doc = self.srv.get_json("/api/v1/models/%s/terms" % model, token=token)
        self.assertEqual(status, 200, doc)
        return doc

    def get_range(self, path, start, end, token=None):
        """One ranged GET through urllib (a new connection each time, as a
        download manager would); returns (status, body)."""
        req = urllib.request.Request(self.srv.url + path,
                                     headers={"Range": "bytes=%d-%d" % (start, end)})
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with NO_PROXY.open(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def slow_download(self, model, commit, path, folder, token, ranges=2):
        """Starts a download of FOLDER/PATH range by range (1 MiB each, with
        a pause), reads RANGES of them and returns a function that reads the
        next range: (status, body)."""
        url = "/api/v1/models/%s/versions/%s/files/%s" % (model, commit, path)
        with open(os.path.join(folder, path), "rb") as f:
            data = f.read()
        pos = [0]

        def next_range():
            a = pos[0]
            status, body = self.get_range(url, a, a + MiB - 1, token)
            if status == 206:
                self.assertEqual(body, data[a:a + MiB], "range at %d" % a)
                pos[0] += len(body)
            return status, body

        for _ in range(ranges):
            status, body = next_range()
            self.assertEqual(status, 206, body[:300])
            time.sleep(0.2)
        return next_range

    # ================================================================ gated

    def test_gated_lifecycle(self):
        model = "acme/" + self.unique("gated")
        # 1024 x 64 weights: about 65 fingerprint positions, so bob's copy
        # differs from the original all but surely (4,096 gave ~4, and
        # sometimes none moved)
        folder, doc = self.push(model, tier="gated", big=8 * MiB, rows=1024)
        commit = doc["commit"]

        r = self.cli("bob", "access", "status", model)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("access request", r.stderr)

        # request, seen by the publisher
        req = self.ok_json("bob", "access", "request", model, "--purpose",
                           "Evaluating multilingual summarisation for a health NGO")
        self.assertEqual(req["status"], "pending", req)
        lst = self.ok_json("alice", "access", "list", model)
        self.assertEqual([(e["user"], e["status"]) for e in lst], [("bob", "pending")])
        self.assertEqual(self.ok_json("alice", "access", "list", model, "--status", "approved"),
                         [])
        r = self.ok("alice", "access", "list", model)
        self.assertIn("bob", r.stdout)
        self.assertIn("pending", r.stdout)
        # requesters cannot list, nobody can decide for themselves
        self.assertEqual(self.cli("bob", "access", "list", model).rc, 1)
        self.assertEqual(self.cli("bob", "access", "approve", model, "bob").rc, 1)

        r = self.cli("bob", "pull", model, "--dest", self.p("refused"))
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("gated", r.stderr)

        # approve: a license comes back
        expires = (datetime.date.today() + datetime.timedelta(days=365)).isoformat()
        dec = self.ok_json("alice", "access", "approve", model, "bob", "--expires", expires)
        self.assertEqual(dec["status"], "approved", dec)
        self.assertIn("sluice license v1", dec["license"])
        me = self.ok_json("bob", "access", "status", model)
        self.assertEqual(me["status"], "approved")
        self.assertTrue(me["expires"].startswith(expires), me)

        # pull: files plus LICENSE.sluice, the key pinned at first contact
        dest = self.p("bob-pull")
        r = self.ok("bob", "pull", model, "--dest", dest)
        self.assertIn("LICENSE.sluice", r.stdout)
        lic = os.path.join(dest, "LICENSE.sluice")
        self.assertTrue(os.path.isfile(lic))
        got = sv.tree_digest(dest)
        del got["LICENSE.sluice"]
        want = sv.tree_digest(folder)
        # the weights are bob's fingerprinted copy (docs/fingerprint.md): same
        # size, other bytes, verified by pull against the signed manifest;
        # every other file is the original
        self.assertNotEqual(got.pop("model.safetensors"), want.pop("model.safetensors"))
        self.assertEqual(os.path.getsize(os.path.join(dest, "model.safetensors")),
                         os.path.getsize(os.path.join(folder, "model.safetensors")))
        self.assertEqual(got, want)
        pins = os.path.join(self.home("bob"), "state", "sluice", "servers.json")
        self.assertEqual(stat.S_IMODE(os.stat(pins).st_mode), 0o600)
        with open(pins) as f:
            pinned = json.load(f)["servers"][self.srv.url]["log_key"]
        r = self.srv.request("GET", "/log/key")
        self.assertEqual(pinned, r.body.decode().strip())

        shown = self.ok_json("bob", "license", "show", lic)
        self.assertEqual(shown["model"], model)
        self.assertEqual(shown["commit"], commit)
        self.assertEqual(shown["tier"], "gated")
        self.assertTrue(shown["licensee"].startswith("acct:"))
        self.assertNotIn("bob", shown["licensee"])
        self.assertEqual(shown["signer"], pinned.split("+")[0])

        r = self.ok("bob", "license", "verify", lic)
        self.assertIn("VALID", r.stdout)
        self.assertIn("not checked", r.stdout)
        r = self.ok("bob", "license", "verify", lic, "--online")
        self.assertIn("not revoked", r.stdout)
        # anyone can check it offline with the key, no account needed
        self.ok(None, "license", "verify", lic, "--key", pinned)
        # `license get` gives the same license again (issued once)
        r = self.ok("bob", "license", "get", "%s@%s" % (model, commit))
        with open(lic) as f:
            self.assertEqual(r.stdout, f.read())

        # a download in progress...
        next_range = self.slow_download(model, commit, "big.bin", folder, self.bob)

        # ...stops at its next request once the grant is revoked
        r = self.ok("alice", "access", "revoke", model, "bob", "--reason", "terms broken")
        status, body = next_range()
        self.assertEqual(status, 403, body[:300])
        self.assertIn(b"revoked", body)

        r = self.cli("bob", "license", "verify", lic, "--online")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("INVALID", r.stdout)
        self.assertIn("revoked", r.stdout)
        # offline the client cannot know, and says so
        r = self.ok("bob", "license", "verify", lic)
        self.assertIn("not checked", r.stdout)
        r = self.cli("bob", "pull", model, "--dest", self.p("after-revoke"))
        self.assertEqual(r.rc, 1, repr(r))
        self.assertFalse(os.path.exists(self.p("after-revoke", "big.bin")))
        me = self.ok_json("bob", "access", "status", model)
        self.assertEqual(me["status"], "revoked")
        self.assertEqual(me["reason"], "terms broken")
        r = self.ok("bob", "access", "status", model)
        self.assertIn("terms broken", r.stdout)

        # a new request starts over
        again = self.ok_json("bob", "access", "request", model, "--purpose", "Second try")
        self.assertEqual(again["status"], "pending")

    def test_deny_appeal_approve(self):
        model = "acme/" + self.unique("appeal")
        self.push(model, tier="gated")
        rules = self.ok_json("alice", "access", "rules", model, "--require-field", "affiliation")
        self.assertEqual(rules["fields"], ["affiliation"])

        r = self.cli("carol", "access", "request", model, "--purpose", "Benchmarking")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("affiliation", r.stderr)
        req = self.ok_json("carol", "access", "request", model, "--purpose", "Benchmarking",
                           "--field", "affiliation=Example University")
        self.assertEqual(req["fields"], {"affiliation": "Example University"})

        self.ok("alice", "access", "deny", model, "carol", "--reason", "purpose too vague")
        r = self.ok("carol", "access", "status", model)
        self.assertIn("denied", r.stdout)
        self.assertIn("purpose too vague", r.stdout)
        self.assertIn("access appeal", r.stdout)

        me = self.ok_json("carol", "access", "appeal", model, "--text",
                          "We compare summaries against clinician-written ones")
        self.assertEqual(me["status"], "pending")
        r = self.ok("carol", "access", "status", model)
        self.assertIn("clinician-written", r.stdout)

        self.ok("alice", "access", "approve", model, "carol")
        me = self.ok_json("carol", "access", "status", model)
        self.assertEqual(me["status"], "approved")
        self.assertIsNone(me["expires"])
        out = self.p("carol.license")
        self.ok("carol", "license", "get", model, "--out", out)
        shown = self.ok_json("carol", "license", "show", out)
        self.assertIsNone(shown["expires"])
        self.ok("carol", "license", "verify", out, "--online")

    def test_usage_errors_send_nothing(self):
        model = "acme/" + self.unique("usage")
        for args in (["access", "request", model],                       # no purpose
                     ["access", "request", model, "--purpose", "x", "--field", "Bad Key=v"],
                     ["access", "approve", model, "bob", "--expires", "2001-01-01"],
                     ["access", "deny", model, "bob"],                      # no reason
                     ["access", "frobnicate", model],
                     ["tier", "set", model, "public"],
                     ["tier", "schedule", model, "open", "--at", "2001-01-01"],
                     ["eval", "sign", "--key", "k", "--model", model + "@main", "--domain", "cbrn",
                      "--level", "high", "--method", "m"],
                     ["eval", "keygen", "--name", "two words", "--out", self.p("k")]):
            r = self.cli("alice", *args)
            self.assertEqual(r.rc, 2, repr(r))
        # the model was never created by any of them
        self.assertEqual(self.srv.get_json("/api/v1/models/" + model)[0], 404)

    def test_auto_approval_by_email_domain(self):
        model = "acme/" + self.unique("auto")
        self.push(model, tier="gated")
        self.ok("alice", "access", "rules", model, "--email-domain", "uni.example")
        req = self.ok_json("bob", "access", "request", model, "--purpose", "Teaching")
        self.assertEqual(req["status"], "approved", req)
        self.assertIn("uni.example", req["auto_rule"])
        req = self.ok_json("carol", "access", "request", model, "--purpose", "Teaching")
        self.assertEqual(req["status"], "pending", req)
        # --clear empties the rules before the options apply
        rules = self.ok_json("alice", "access", "rules", model, "--clear", "--everyone")
        self.assertEqual(rules, {"everyone": True, "email_domains": [], "orgs": [], "fields": []})

    # ================================================================ click

    def test_click_accept(self):
        model = "acme/" + self.unique("click")
        text = "Use these weights for research only.\nNo redistribution.\n"
        folder, _ = self.push(model, tier="click", license_text=text)

        r = self.cli("bob", "pull", model, "--dest", self.p("before"))
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("sluice accept", r.stderr)

        r = self.ok("bob", "accept", model, "--show")
        self.assertEqual(r.stdout, text)
        self.assertIn(hashlib.sha256(text.encode()).hexdigest(), r.stderr)
        self.assertFalse(self.terms(model, self.bob)["accepted"], "--show does not accept")

        doc = self.ok_json("bob", "accept", model)
        self.assertEqual(doc["license_sha256"], hashlib.sha256(text.encode()).hexdigest())
        self.assertTrue(self.terms(model, self.bob)["accepted"])
        dest = self.p("after")
        self.ok("bob", "pull", model, "--dest", dest)
        self.assertEqual(sv.tree_digest(dest), sv.tree_digest(folder), "no LICENSE.sluice")
        # anonymous: signing in is needed first
        r = self.cli(None, "accept", model)
        self.assertEqual(r.rc, 1, repr(r))

    # ================================================================ evaluations

    def test_attestation_moves_open_model_to_hosted(self):
        model = "acme/" + self.unique("open")
        folder, doc = self.push(model, big=8 * MiB)
        self.assertEqual(doc["tier"], "open")
        commit = doc["commit"]

        key = self.p("dave.key")
        r = self.ok("dave", "eval", "keygen", "--name", "dave", "--out", key)
        vkey = r.stdout.strip()
        self.assertTrue(vkey.startswith("dave+"), vkey)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(key) as f:
            self.assertTrue(f.read().startswith("PRIVATE+KEY+dave+"))
        r = self.cli("dave", "eval", "keygen", "--name", "dave", "--out", key)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("never replaced", r.stderr)

        # only an admin registers evaluators, under their account name
        self.assertEqual(self.cli("alice", "eval", "key", "add", "dave", vkey).rc, 1)
        self.assertEqual(self.cli("admin", "eval", "key", "add", "carol", vkey).rc, 2)
        self.ok("admin", "eval", "key", "add", "dave", vkey)
        keys = self.ok_json(None, "eval", "key", "list")
        self.assertIn(vkey, [k["vkey"] for k in keys])

        att = self.p("cbrn-high.note")
        self.ok("dave", "eval", "sign", "--key", key, "--model", "%s@%s" % (model, commit),
                "--domain", "cbrn", "--level", "high", "--method", "WMDP-bio + red team, 40 h",
                "--out", att)
        with open(att) as f:
            note = f.read()
        self.assertTrue(note.startswith("sluice attestation v1\nmodel %s\ncommit %s\n"
                                        % (model, commit)), note)
        self.assertIn("\n\n\u2014 dave ", note)

        # an anonymous download in progress (the model is open)...
        next_range = self.slow_download(model, commit, "big.bin", folder, None)

        res = self.ok_json("alice", "eval", "attach", "%s@main" % model, att)
        self.assertEqual(res["tier"], "hosted", res)
        self.assertTrue(res["moved"], res)
        self.assertEqual(res["decision"]["min_tier"], "hosted")
        # ...stops at its next request, and pulls are refused
        status, body = next_range()
        self.assertIn(status, (401, 403), body[:300])
        r = self.cli(None, "pull", model, "--dest", self.p("late"))
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("hosted", r.stderr)

        # attaching again changes nothing
        r = self.ok("alice", "eval", "attach", "%s@main" % model, att)
        self.assertIn("unchanged", r.stdout)
        lst = self.ok_json(None, "eval", "list", model)
        self.assertEqual([(a["evaluator"], a["domain"], a["level"]) for a in lst],
                         [("dave", "cbrn", "high")])

        # a key nobody registered is not trusted
        stranger = self.p("stranger.key")
        self.ok("carol", "eval", "keygen", "--name", "carol", "--out", stranger)
        att2 = self.p("stranger.note")
        self.ok("carol", "eval", "sign", "--key", stranger, "--model", "%s@%s" % (model, commit),
                "--domain", "cyber", "--level", "critical", "--method", "none", "--out", att2)
        r = self.cli("alice", "eval", "attach", "%s@main" % model, att2)
        self.assertEqual(r.rc, 1, repr(r))

    # ================================================================ obligations, tiers

    def test_obligations_and_floor(self):
        model = "acme/" + self.unique("frontier")
        _, doc = self.push(model, facts=BIG_FACTS, big=64 << 10)
        self.assertEqual(doc["tier"], "withheld", doc)

        obl = self.ok_json("alice", "obligations", model)
        self.assertEqual(obl["floor_tier"], "withheld")
        self.assertIn("eu.art52.notification", obl["held_by"])
        by_id = {o["id"]: o for o in obl["obligations"]}
        self.assertEqual(by_id["eu.art52.notification"]["status"], "open")
        r = self.ok(None, "obligations", model)
        self.assertIn("eu.art52.notification", r.stdout)
        self.assertIn("holds at withheld", r.stdout)

        self.ok("alice", "obligations", "satisfy", model + "@main", "eu.art52.notification",
                "--evidence", "Notified the AI Office on 2026-11-01, ref. 42")
        obl = self.ok_json("alice", "obligations", model)
        by_id = {o["id"]: o for o in obl["obligations"]}
        self.assertEqual(by_id["eu.art52.notification"]["status"], "satisfied")
        self.assertNotIn("eu.art52.notification", obl["held_by"])
        r = self.ok("alice", "obligations", model)
        self.assertIn("ref. 42", r.stdout)
        # evaluations are satisfied by attestations only
        r = self.cli("alice", "obligations", "satisfy", model + "@main",
                     "eu.art55.model-evaluation", "--evidence", "trust us")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("eval attach", r.stderr)
        self.assertEqual(self.cli("bob", "obligations", "satisfy", model + "@main",
                                  "eu.art53.copyright-policy", "--evidence", "x").rc, 1)

        # below the floor: refused, naming the rule
        r = self.cli("alice", "tier", "set", model, "open")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("tiered.systemic-click", r.stderr)
        # still held by open blocking obligations
        r = self.cli("alice", "tier", "set", model, "gated")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("eu.art55.model-evaluation", r.stderr + r.stdout)
        res = self.ok_json("alice", "tier", "set", model, "withheld")
        self.assertEqual(res["tier"], "withheld")

    def test_tier_schedule(self):
        small = "acme/" + self.unique("staged")
        _, doc = self.push(small, tier="gated")
        frontier = "acme/" + self.unique("staged-frontier")
        self.push(frontier, facts=BIG_FACTS, big=64 << 10)

        step = self.ok_json("alice", "tier", "schedule", small, "open", "--at", utc(2))
        self.assertEqual(step["status"], "pending")
        self.assertEqual(step["commit"], doc["commit"])
        self.ok("alice", "tier", "schedule", frontier, "open", "--at", utc(2))
        self.assertEqual(self.cli("bob", "tier", "schedule", small, "click", "--at",
                                  utc(60)).rc, 1, "only publishers schedule")

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            a = self.ok_json(None, "tier", "schedule", small)
            b = self.ok_json(None, "tier", "schedule", frontier)
            if a[0]["status"] != "pending" and b[0]["status"] != "pending":
                break
            time.sleep(0.3)
        self.assertEqual(a[0]["status"], "done", a)
        self.assertEqual(self.terms(small)["tier"], "open")
        self.assertEqual(b[0]["status"], "refused", b)
        self.assertIn("tiered.systemic-click", b[0]["reason"])
        self.assertEqual(self.terms(frontier)["tier"], "withheld")
        r = self.ok(None, "tier", "schedule", frontier)
        self.assertIn("refused", r.stdout)
        self.assertIn("tiered.systemic-click", r.stdout)


class KeyPinning(unittest.TestCase):
    """A server that comes back with another key (its data folder replaced)
    is refused by clients that pinned the first one."""

    def test_changed_server_key_is_refused(self):
        tmp = tempfile.mkdtemp(prefix="sluice-pin-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        first = sv.Server(os.path.join(tmp, "data1"), workdir=tmp)
        self.addCleanup(first.cleanup)
        first.start()
        alice = first.add_user("alice")
        bob = first.add_user("bob")
        first.add_org("acme")
        first.add_member("acme", "alice", "publisher")
        folder = os.path.join(tmp, "m")
        sv.make_model(folder, big=64 << 10)
        facts = os.path.join(tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(SMALL_FACTS, f)

        def run(srv, token, *args):
            return st.run(*args, env=srv.client_env(token, home), timeout=120)

        self.assertEqual(run(first, alice, "push", "acme/m", folder, "--facts", facts,
                             "--tier", "gated").rc, 0)
        self.assertEqual(run(first, bob, "access", "request", "acme/m", "--purpose", "x").rc, 0)
        self.assertEqual(run(first, alice, "access", "approve", "acme/m", "bob").rc, 0)
        lic = os.path.join(tmp, "lic.sluice")
        r = run(first, bob, "license", "get", "acme/m", "--out", lic)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("Pinned", r.stderr)
        port = first.port
        first.stop()

        second = sv.Server(os.path.join(tmp, "data2"), workdir=tmp)
        self.addCleanup(second.cleanup)
        second.start(port=port)
        self.assertEqual(second.port, port, "could not get the same port back")
        r = run(second, None, "license", "verify", lic, "--online")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("the server's key changed", r.stderr)
        self.assertIn("servers.json", r.stderr)
        # offline, the pinned key still verifies the license it signed
        self.assertEqual(run(second, None, "license", "verify", lic).rc, 0)
        # the user removes the pin on purpose: the new key is pinned, and the
        # old license does not verify with it
        os.unlink(os.path.join(home, "state", "sluice", "servers.json"))
        r = run(second, None, "license", "verify", lic, "--online")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("not by the key", r.stdout)
        second.stop()


if __name__ == "__main__":
    st.main()
