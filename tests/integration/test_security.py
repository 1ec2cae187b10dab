# SPDX-License-Identifier: Apache-2.0
"""Issue 11 through the real server, as an attacker and a careless user would
try it: a revoked licensee who simply asks again, a rival org probing for
bytes it does not hold, a re-push of withheld weights under another name, a
removed account, free text that would read differently from what is signed,
non-portable file names, and a log that must name no one.
Each test fails on the code before the fix."""
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}
JSON = {"Content-Type": "application/json"}


class Security(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-security-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            srv = cls.srv
            srv.start()
            cls.admin = srv.admin_token
            cls.pub = srv.add_user("pubann")          # publisher of acme
            cls.rival = srv.add_user("rivalrob")      # publisher of rival
            srv.add_org("acme")
            srv.add_org("rival")
            srv.add_member("acme", "pubann", "publisher")
            srv.add_member("rival", "rivalrob", "publisher")
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(SMALL_FACTS, f)
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

    # ---------------------------------------------------------------- helpers

    def user(self, name, email=None):
        args = ["user", "add", name, "--json"] + (["--email", email] if email else [])
        return json.loads(self.srv.admin(*args).stdout)["token"]

    def folder(self, seed, big=300000):
        Security.n += 1
        path = os.path.join(self.tmp, "m%d" % Security.n)
        sv.make_model(path, big=big, rng=random.Random(seed))
        return path

    def push(self, model, folder, token, tier=None, check=True):
        home = os.path.join(self.tmp, "home-" + hashlib.sha256(token.encode()).hexdigest()[:8])
        args = ["push", model, folder, "--facts", self.facts, "--json"]
        if tier:
            args += ["--tier", tier]
        r = st.run(*args, env=self.srv.client_env(token, home), timeout=120)
        if check:
            self.assertEqual(r.rc, 0, repr(r))
            return json.loads(r.stdout)
        return r

    def call(self, method, path, body=None, token=None, expect=None):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        r = self.srv.request(method, path, data, JSON if data else None, token=token)
        if expect is not None:
            self.assertEqual(r.status, expect, "%s %s -> %r" % (method, path, r))
        return r

    def log_size(self):
        r = self.call("GET", "/log/checkpoint", expect=200)
        return int(r.body.decode().split("\n")[1])

    def entries(self, start=0):
        size = self.log_size()
        out = []
        while start < size:
            end = min(size, start + 256)
            r = self.call("GET", "/api/v1/log/entries?start=%d&end=%d" % (start, end), expect=200)
            out += [e["entry"] for e in r.json()]
            start = end
        return out

    # ------------------------------------------------------------------ tests

    def test_revocation_sticks(self):
        """Item 1: auto-approval rules never approve a revoked or finally
        denied requester again; the publisher sees the history."""
        self.push("acme/sticky", self.folder(1), self.pub, "gated")
        base = "/api/v1/models/acme/sticky"
        self.call("PUT", base + "/access-rules", {"email_domains": ["example.org"]}, self.pub, 200)
        bob = self.user("bobsticky", "bob@example.org")
        r = self.call("POST", base + "/access", {"purpose": "first try"}, bob, 201)
        self.assertEqual(r.json()["status"], "approved", r.json())
        self.call("POST", base + "/access/bobsticky/revoke", {"reason": "leaked a copy"}, self.pub,
                  200)
        # he simply asks again: manual review, with the revocation beside it
        r = self.call("POST", base + "/access", {"purpose": "second try"}, bob, 201)
        self.assertEqual(r.json()["status"], "pending", r.json())
        dl = self.call("GET", "/acme/sticky/resolve/main/config.json", token=bob)
        self.assertEqual(dl.status, 403, repr(dl))
        queue = self.call("GET", base + "/access", token=self.pub, expect=200).json()
        mine = [q for q in queue if q["user"] == "bobsticky"][0]
        self.assertEqual(mine["status"], "pending")
        self.assertEqual([h["status"] for h in mine["history"]], ["revoked"])
        self.assertEqual(mine["history"][0]["reason"], "leaked a copy")
        env = self.srv.client_env(self.pub, os.path.join(self.tmp, "home-pub-cli"))
        r = st.run("access", "list", "acme/sticky", env=env)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("earlier revoked", r.stdout)
        self.assertIn("leaked a copy", r.stdout)
        # even the "everyone" rule does not approve him
        self.call("PUT", base + "/access-rules", {"everyone": True}, self.pub, 200)
        self.call("POST", base + "/access/bobsticky/deny", {"reason": "not now"}, self.pub, 200)
        self.call("POST", base + "/access/me/appeal", {"text": "please"}, bob, 200)
        self.call("POST", base + "/access/bobsticky/deny", {"reason": "final no"}, self.pub, 200)
        r = self.call("POST", base + "/access", {"purpose": "third try"}, bob, 201)
        self.assertEqual(r.json()["status"], "pending", r.json())
        self.assertEqual([h["status"] for h in r.json()["history"]], ["revoked", "denied"])
        # a newcomer is still approved by the rule: the rule itself works
        carol = self.user("carolsticky", "carol@example.org")
        r = self.call("POST", base + "/access", {"purpose": "new here"}, carol, 201)
        self.assertEqual(r.json()["status"], "approved", r.json())
        # the publisher may still approve him by hand
        r = self.call("POST", base + "/access/bobsticky/approve", {}, self.pub, 200)
        self.assertEqual(r.json()["status"], "approved")
        # approvals name the kind of rule, never the domain that matched
        # (the publisher's own rules are public policy, in access.rules_set)
        approvals = [e for e in self.entries() if e["type"] == "access.approved"
                     and e.get("model") == "acme/sticky" and e.get("by") == "rule"]
        self.assertEqual([e["rule"] for e in approvals], ["email_domain", "everyone"])
        self.assertNotIn("example.org", json.dumps(approvals))

    def test_no_content_oracle(self):
        """Item 3: a hash another org uploaded answers exactly like a hash
        nobody has, in status, body, headers and time."""
        folder = self.folder(3, big=600000)
        self.push("acme/secret", folder, self.pub, "withheld")
        path = os.path.join(folder, "big.bin")
        with open(path, "rb") as f:
            data = f.read()
        theirs = hashlib.sha256(data).hexdigest()
        nobody = hashlib.sha256(b"nobody has these bytes " + os.urandom(8)).hexdigest()

        def answer(sha, size):
            body = {"files": [{"path": "big.bin", "sha256": sha, "size": size}]}
            r = self.call("POST", "/api/v1/models/rival/probe/versions", body, self.rival)
            return r

        a, b = answer(theirs, len(data)), answer(nobody, len(data))
        self.assertEqual(a.status, b.status)
        self.assertIn(a.status, (400, 422), repr(a))
        self.assertEqual(a.body.replace(theirs.encode(), b"H"), b.body.replace(nobody.encode(), b"H"))
        self.assertEqual(sorted(k for k in a.headers if k != "Date"),
                         sorted(k for k in b.headers if k != "Date"))
        # a wrong size reveals nothing either
        a2, b2 = answer(theirs, len(data) + 1), answer(nobody, len(data) + 1)
        self.assertEqual(a2.body.replace(theirs.encode(), b"H"),
                         b2.body.replace(nobody.encode(), b"H"))
        self.assertNotIn(b"differs", a2.body)
        # register-by-chunks: the rival lists chunk ids it never uploaded
        fake = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(3)]
        for sha in (theirs, nobody):
            raw = b"".join(bytes.fromhex(c) for c in fake)
            r = self.srv.request("POST", "/api/v1/models/rival/probe/files/%s?size=%d"
                                 % (sha, len(data)), raw,
                                 {"Content-Type": "application/octet-stream"}, token=self.rival)
            self.assertIn(r.status, (400, 422), repr(r))
            if sha == theirs:
                first = (r.status, r.body.replace(theirs.encode(), b"H"))
            else:
                self.assertEqual((r.status, r.body.replace(nobody.encode(), b"H")), first)
        # timing: interleaved samples of both answers; medians within noise
        ta, tb = [], []
        for _ in range(40):
            for sha, acc in ((theirs, ta), (nobody, tb)):
                t0 = time.perf_counter()
                answer(sha, len(data))
                acc.append(time.perf_counter() - t0)
        ma, mb = statistics.median(ta), statistics.median(tb)
        self.assertLess(abs(ma - mb), max(0.002, 0.5 * min(ma, mb)), (ma, mb))

    def test_chunk_upload_says_nothing_about_other_orgs(self):
        """Item 3: uploading a chunk another org stored answers like a new
        chunk (bytes stored, nothing "deduplicated")."""
        chunk = os.urandom(20000)
        frame = sv.frame(chunk)
        r = self.srv.request("POST", "/api/v1/models/acme/chunky/chunks", frame,
                             {"Content-Type": "application/octet-stream"}, token=self.pub)
        self.assertEqual(r.status, 200, repr(r))
        r = self.srv.request("POST", "/api/v1/models/rival/chunky/chunks", frame,
                             {"Content-Type": "application/octet-stream"}, token=self.rival)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json()["deduplicated"], 0, r.json())
        self.assertEqual(r.json()["bytes"], len(chunk), r.json())
        missing = self.call("POST", "/api/v1/models/rival/chunky/chunks/missing",
                            {"chunks": [hashlib.sha256(os.urandom(4)).hexdigest()]}, self.rival,
                            200)
        self.assertEqual(len(missing.json()["missing"]), 1)

    def test_withheld_bytes_cannot_be_laundered(self):
        """Item 4: the same weights (or most of their chunks) under another
        name inherit the stricter version's tier."""
        folder = self.folder(4, big=800000)
        first = self.push("acme/vault", folder, self.pub, "withheld")
        # a rival re-pushes the files with milder facts, asking for open
        r = self.push("rival/free", folder, self.rival, "open", check=False)
        self.assertNotEqual(r.rc, 0, repr(r))
        self.assertIn("provenance.inherited-tier", r.stderr + r.stdout)
        r = self.push("rival/free", folder, self.rival)
        self.assertEqual(r["tier"], "withheld", r)
        fired = [x for x in r["decision"]["rules_fired"] if x["rule"] == "provenance.inherited-tier"]
        self.assertEqual(len(fired), 1, r["decision"])
        prov = r["decision"]["provenance"]
        self.assertEqual(prov["from"], "a stricter version on this server")  # not theirs to see
        self.assertNotIn("acme", json.dumps(r["decision"]))
        self.assertTrue(prov["from_hmac"].startswith("hmac-sha256:"))
        # a modified copy sharing most chunks is caught too
        big = os.path.join(folder, "big.bin")
        with open(big, "r+b") as f:
            f.seek(700000)
            f.write(os.urandom(50000))
        r = self.push("rival/free2", folder, self.rival)
        self.assertEqual(r["tier"], "withheld", r)
        # the publisher's own copy names the version it copies
        r = self.push("acme/vault-copy", folder, self.pub)
        self.assertEqual(r["decision"]["provenance"]["from"], "acme/vault@" + first["commit"])
        # an unrelated model is open as before
        r = self.push("rival/other", self.folder(44), self.rival)
        self.assertEqual(r["tier"], "open", r)
        # lowering the stricter version's own tier releases later copies
        # (versions that already inherited its tier keep theirs)
        folder2 = self.folder(45, big=500000)
        self.push("acme/vault2", folder2, self.pub, "withheld")
        r = self.push("rival/later", folder2, self.rival, "open", check=False)
        self.assertNotEqual(r.rc, 0, repr(r))
        self.call("POST", "/api/v1/models/acme/vault2/tier", {"tier": "open"}, self.pub, 200)
        r = self.push("rival/later", folder2, self.rival, "open")
        self.assertEqual(r["tier"], "open", r)
        self.assertNotIn("provenance", r["decision"])

    def test_withheld_grants_mean_nothing_hosted_grants_mean_api(self):
        """Item 6: no grant on withheld; a hosted license says API only."""
        self.push("acme/locked", self.folder(6), self.pub, "withheld")
        dan = self.user("danlocked")
        self.call("PUT", "/api/v1/models/acme/locked/access-rules", {"everyone": True}, self.pub,
                  200)
        r = self.call("POST", "/api/v1/models/acme/locked/access", {"purpose": "try"}, dan, 201)
        self.assertEqual(r.json()["status"], "pending", "no rule approves on withheld")
        r = self.call("POST", "/api/v1/models/acme/locked/access/danlocked/approve", {}, self.pub,
                      409)
        self.assertIn("withheld: no access can be granted", r.json()["message"])
        self.push("acme/api", self.folder(66), self.pub, "hosted")
        self.call("POST", "/api/v1/models/acme/api/access", {"purpose": "inference"}, dan, 201)
        r = self.call("POST", "/api/v1/models/acme/api/access/danlocked/approve", {}, self.pub, 200)
        self.assertIn("use api-only: inference through the hosted gateway", r.json()["license"])
        r = self.call("GET", "/acme/api/resolve/main/config.json", token=dan)
        self.assertEqual(r.status, 403)

    def test_removed_account_loses_everything(self):
        """Item 5: removing an account revokes its grants (licenses appear on
        /api/v1/revocations) and its evaluator keys, each in the log."""
        self.push("acme/held", self.folder(5), self.pub, "gated")
        eve = self.user("evegone")
        self.call("POST", "/api/v1/models/acme/held/access", {"purpose": "study"}, eve, 201)
        r = self.call("POST", "/api/v1/models/acme/held/access/evegone/approve", {}, self.pub, 200)
        lic_id = [ln for ln in r.json()["license"].split("\n") if ln.startswith("id ")][0][3:]
        key = os.path.join(self.tmp, "eve.key")
        r = st.run("eval", "keygen", "--name", "evegone", "--out", key)
        self.assertEqual(r.rc, 0, repr(r))
        vkey = r.stdout.strip().split()[-1]
        self.call("POST", "/api/v1/eval/keys", {"name": "evegone", "vkey": vkey}, self.admin, 201)
        size = self.log_size()
        self.srv.admin("user", "remove", "evegone")
        revs = self.call("GET", "/api/v1/revocations", expect=200).body.decode()
        self.assertIn(lic_id, revs)
        types = [e["type"] for e in self.entries(size)]
        self.assertIn("access.revoked", types)
        self.assertIn("evaluator.key_revoked", types)
        self.assertIn("account.removed", types)
        keys = self.call("GET", "/api/v1/eval/keys", expect=200).json()
        self.assertTrue([k for k in keys if k["name"] == "evegone" and "revoked" in k], keys)

    def test_eval_key_remove(self):
        """Item 5: `sluice eval key remove` revokes a key; its evaluator no
        longer sees withheld weights; the removal is a log entry."""
        self.push("acme/evalme", self.folder(55), self.pub, "withheld")
        self.user("ivyeval")
        ivy = json.loads(self.srv.admin("token", "new", "ivyeval", "--json").stdout)["token"]
        key = os.path.join(self.tmp, "ivy.key")
        r = st.run("eval", "keygen", "--name", "ivyeval", "--out", key)
        self.assertEqual(r.rc, 0, repr(r))
        vkey = r.stdout.strip().split()[-1]
        env = self.srv.client_env(self.admin, os.path.join(self.tmp, "home-admin"))
        r = st.run("eval", "key", "add", "ivyeval", vkey, env=env)
        self.assertEqual(r.rc, 0, repr(r))
        self.call("GET", "/acme/evalme/resolve/main/config.json", token=ivy, expect=200)
        size = self.log_size()
        r = st.run("eval", "key", "remove", "ivyeval", env=env)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("Revoked", r.stdout)
        self.call("GET", "/acme/evalme/resolve/main/config.json", token=ivy, expect=403)
        self.assertEqual([e["type"] for e in self.entries(size)], ["evaluator.key_revoked"])
        r = st.run("eval", "key", "remove", "ivyeval", env=env)
        self.assertNotEqual(r.rc, 0, repr(r))

    def test_org_admins_manage_members_plain_members_see_less(self):
        """Item 5: an org admin role manages members; a plain member gets
        click and gated weights, never hosted or withheld ones."""
        self.push("acme/g5", self.folder(51), self.pub, "gated")
        self.push("acme/h5", self.folder(52), self.pub, "hosted")
        self.push("acme/w5", self.folder(53), self.pub, "withheld")
        oa = self.user("olgaadmin")
        self.srv.admin("org", "member", "add", "acme", "olgaadmin", "--role", "admin")
        mo = self.user("mona5")
        env = self.srv.client_env(oa, os.path.join(self.tmp, "home-olga"))
        r = st.run("org", "member", "add", "acme", "mona5", env=env)
        self.assertEqual(r.rc, 0, repr(r))
        r = st.run("org", "members", "acme", "--json", env=env)
        self.assertEqual(r.rc, 0, repr(r))
        roles = {m["user"]: m["role"] for m in json.loads(r.stdout)}
        self.assertEqual(roles["mona5"], "member")
        self.assertEqual(roles["olgaadmin"], "admin")
        self.assertEqual(roles["pubann"], "publisher")
        self.call("GET", "/acme/g5/resolve/main/config.json", token=mo, expect=200)
        self.call("GET", "/acme/h5/resolve/main/config.json", token=mo, expect=403)
        self.call("GET", "/acme/w5/resolve/main/config.json", token=mo, expect=403)
        tree = self.call("GET", "/api/models/acme/w5/tree/main", token=mo)
        self.assertNotIn(b"big.bin", tree.body)
        # the org admin reaches them all, and manages access like a publisher
        self.call("GET", "/acme/w5/resolve/main/config.json", token=oa, expect=200)
        self.call("GET", "/api/v1/models/acme/g5/access", token=oa, expect=200)
        # a publisher does not manage members, nor does a member
        for tok in (self.pub, mo):
            r = self.call("PUT", "/api/v1/orgs/acme/members/rivalrob", {"role": "admin"}, tok)
            self.assertEqual(r.status, 403, repr(r))
        r = self.call("PUT", "/api/v1/orgs/acme/members/mona5", {"role": "owner"}, oa)
        self.assertEqual(r.status, 400, repr(r))
        r = st.run("org", "member", "remove", "acme", "mona5", env=env)
        self.assertEqual(r.rc, 0, repr(r))
        self.call("GET", "/acme/g5/resolve/main/config.json", token=mo, expect=403)
        r = st.run("org", "member", "remove", "acme", "mona5", env=env)
        self.assertNotEqual(r.rc, 0, repr(r))
        # the server admin's offline command does the same
        self.srv.admin("org", "member", "add", "acme", "mona5")
        self.srv.admin("org", "member", "remove", "acme", "mona5")
        r = self.srv.admin("org", "member", "remove", "acme", "mona5", check=False)
        self.assertNotEqual(r.rc, 0, repr(r))

    def test_open_source_exemption_follows_the_tier_served(self):
        """Issue 16 item 3 through the registry: the EU open-source exemption
        holds for weights made public (open, click), never at gated."""
        facts = os.path.join(self.tmp, "oss-facts.json")
        with open(facts, "w") as f:
            json.dump({"params": 4224, "training": {"declared_flop": 5e23},
                       "modality": ["text"], "license": {"spdx": "Apache-2.0"}}, f)
        labels = {}
        for tier in ("open", "gated"):
            home = os.path.join(self.tmp, "home-oss")
            r = st.run("push", "acme/oss-" + tier, self.folder(161 if tier == "open" else 162),
                       "--facts", facts, "--tier", tier, "--json",
                       env=self.srv.client_env(self.pub, home), timeout=120)
            self.assertEqual(r.rc, 0, repr(r))
            labels[tier] = json.loads(r.stdout)["decision"]["labels"]
        self.assertIn("eu.open-source-exempt", labels["open"])
        self.assertNotIn("eu.open-source-exempt", labels["gated"])

    def test_text_that_signs_cannot_lie(self):
        """Item 9: separators, bidi controls and C1 controls are refused in
        every free text that is signed or logged, naming the field."""
        self.push("acme/texts", self.folder(9), self.pub, "gated")
        fay = self.user("faytexts")
        base = "/api/v1/models/acme/texts"
        size = self.log_size()
        for bad in ("a\u2028b", "a\u2029b", "a\u0085b", "abc\u202edcba", "x\u2066y", "x\u200fy"):
            r = self.call("POST", base + "/access", {"purpose": bad}, fay)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertIn("purpose", r.json()["message"])
        self.call("POST", base + "/access", {"purpose": "fine text"}, fay, 201)
        r = self.call("POST", base + "/access/faytexts/deny", {"reason": "no\u202eon"}, self.pub)
        self.assertEqual(r.status, 400, repr(r))
        self.assertIn("reason", r.json()["message"])
        self.assertEqual(self.log_size(), size + 1)  # only the good request

    def test_non_portable_file_names_are_refused(self):
        """Item 9: file names that are not portable never get in."""
        for bad in ("model\u2024safetensors", "dir\u2215x.bin", "a\uff0ejson", "CON.txt",
                    "sub/aux", "trailing.", "space ", "what?.bin", "x\u202ey.bin"):
            folder = self.folder(90)
            os.makedirs(os.path.join(folder, os.path.dirname(bad)), exist_ok=True)
            with open(os.path.join(folder, bad), "wb") as f:
                f.write(b"x")
            r = self.push("acme/names", folder, self.pub, check=False)
            self.assertNotEqual(r.rc, 0, (bad, r))
            self.assertIn("files[", r.stderr, (bad, r))
        r = self.call("GET", "/api/v1/models/acme/names")
        self.assertEqual(r.status, 404, "nothing was stored")

    def test_log_names_no_one(self):
        """Item 8: pseudonyms per model; withheld file lists stay private."""
        self.push("acme/pa", self.folder(81), self.pub, "gated")
        self.push("acme/pb", self.folder(82), self.pub, "gated")
        gus = self.user("gusboth")
        size = self.log_size()
        for m in ("pa", "pb"):
            self.call("POST", "/api/v1/models/acme/%s/access" % m, {"purpose": "both"}, gus, 201)
        req = [e for e in self.entries(size) if e["type"] == "access.requested"]
        self.assertEqual(len(req), 2)
        self.assertNotEqual(req[0]["account"], req[1]["account"], "pseudonyms link two models")
        size = self.log_size()
        self.push("acme/private", self.folder(83), self.pub, "withheld")
        pub = [e for e in self.entries(size) if e["type"] == "version.published"]
        self.assertEqual(len(pub), 1)
        self.assertNotIn("files", pub[0])
        self.assertEqual(pub[0]["file_count"], 4)
        self.assertNotIn("big.bin", json.dumps(pub[0]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
