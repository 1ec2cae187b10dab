# SPDX-License-Identifier: Apache-2.0
"""`sluice draft` against a real `sluice serve` (docs/drafts.md): every form
drafts from the version's facts, decision, files, attestations and log;
every TODO is a fact the decision really lacks or a question; each draft
quotes the decision's log entry and inclusion proof; a finished document
attached as evidence has its hash in the log; bad input gets a one-line
error."""
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FORMS = ["eu-art52-notification", "eu-annex-xi", "eu-annex-xii", "eu-training-summary",
         "ca-sb53-transparency", "ca-sb53-framework-outline", "ny-raise-transparency"]

# A frontier model: EU systemic risk, SB 53 and RAISE large developer (RAISE
# applies from 2027-01-01: the server decides as of today, so its obligation
# may be absent; the draft says so then).
FRONTIER = {"training": {"declared_flop": 2e26}, "modality": ["text"],
            "license": {"spdx": "Apache-2.0"}, "developer": {"annual_revenue_usd": 1e9},
            "markets": ["EU", "US"]}
UNKNOWN_COMPUTE = {"modality": ["text"], "markets": ["EU"]}
TODO = re.compile(r"TODO\(([^)]*)\)")


def lookup(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


class DraftCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-draft-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.token = cls.srv.add_user("alice")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.env = cls.srv.client_env(cls.token, os.path.join(cls.tmp, "home"))
            for model, facts in (("acme/frontier", FRONTIER), ("acme/unknown", UNKNOWN_COMPUTE)):
                folder = os.path.join(cls.tmp, model.replace("/", "-"))
                sv.make_model(folder, big=1 << 16, rng=random.Random(model))
                fp = folder + ".json"
                with open(fp, "w") as f:
                    json.dump(facts, f)
                r = st.run("push", model, folder, "--facts", fp, "--json", env=cls.env)
                if r.rc != 0:
                    raise AssertionError(repr(r))
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

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def draft(self, model, form, *extra, rc=0):
        r = st.run("draft", model, "--form", form, *extra, env=self.env)
        self.assertEqual(r.rc, rc, repr(r))
        return r

    def decision(self, model):
        status, d = self.srv.get_json("/api/v1/models/%s/versions/main/decision" % model,
                                      token=self.token)
        self.assertEqual(status, 200)
        return d

    def log_entries(self):
        r = self.srv.request("GET", "/api/v1/log/entries?start=0&end=1000")
        self.assertEqual(r.status, 200)
        return [e["entry"] for e in r.json()]

    def test_every_form_quotes_the_log_and_asks_only_for_missing_facts(self):
        for model in ("acme/frontier", "acme/unknown"):
            d = self.decision(model)
            facts = d["facts"]
            for form in FORMS:
                with self.subTest(model=model, form=form):
                    md = self.draft(model, form).stdout
                    self.assertIn("log entry %d, the publication of this version" % d["log_index"],
                                  md)
                    # the proof is against the newest checkpoint, which may have moved
                    # since the decision was fetched: compare the entry it proves
                    self.assertIn("c2sp.org/tlog-proof@v1\nindex %d\n" % d["log_index"], md)
                    self.assertIn("inclusion verified by sluice draft", md)
                    todos = TODO.findall(md)
                    for t in todos:
                        if " " not in t:  # a fact key: the decision must lack it
                            self.assertIsNone(lookup(facts, t), "TODO(%s) but facts have it" % t)
                        self.assertNotIn("\n", t)
                    n = int(re.search(r"## Open items \((\d+)\)", md).group(1))
                    self.assertEqual(n, len(set(todos)))
                    js = json.loads(self.draft(model, form, "--json").stdout)
                    self.assertEqual(js["form"], form)
                    self.assertEqual(js["log"]["index"], d["log_index"])
                    self.assertEqual(sorted(js["todos"]), sorted(set(todos)))

    def test_facts_fill_the_fields(self):
        md = self.draft("acme/frontier", "eu-art52-notification").stdout
        self.assertIn("2e+26 FLOP cumulative", md)
        self.assertIn("Art. 51(2): cumulative training compute above 10^25 FLOP", md)
        self.assertIn("Obligation eu.art52.notification: open", md)
        self.assertNotIn("TODO(training.declared_flop)", md)
        md = self.draft("acme/unknown", "eu-art52-notification").stdout
        self.assertIn("TODO(training.declared_flop)", md)
        self.assertIn("does not require this document", md)
        md = self.draft("acme/frontier", "ca-sb53-transparency").stdout
        self.assertIn("Large frontier developer additions", md)
        self.assertIn("USD 1e+09", md)
        self.assertIn("Apache-2.0", md)
        md = self.draft("acme/frontier", "eu-annex-xi").stdout
        self.assertIn("model.safetensors (sha256 ", md)

    def test_attestations_fill_the_evaluations(self):
        self.srv.add_user("eve-lab")
        key = os.path.join(self.work, "eve.key")
        r = st.run("eval", "keygen", "--name", "eve-lab", "--out", key)
        self.assertEqual(r.rc, 0, repr(r))
        vkey = r.stdout.strip().splitlines()[-1].split()[-1]
        admin = self.srv.client_env(self.srv.admin_token, os.path.join(self.tmp, "home-admin"))
        r = st.run("eval", "key", "add", "eve-lab", vkey, env=admin)
        self.assertEqual(r.rc, 0, repr(r))
        status, v = self.srv.get_json("/api/v1/models/acme/frontier/versions/main",
                                      token=self.token)
        att = os.path.join(self.work, "att.txt")
        r = st.run("eval", "sign", "--key", key, "--model", "acme/frontier@" + v["commit"],
                   "--domain", "cbrn", "--level", "low", "--method", "uplift study",
                   "--out", att)
        self.assertEqual(r.rc, 0, repr(r))
        r = st.run("eval", "attach", "acme/frontier@main", att, env=self.env)
        self.assertEqual(r.rc, 0, repr(r))
        md = self.draft("acme/frontier", "eu-annex-xi").stdout
        self.assertIn("cbrn low (signed attestation by eve-lab, uplift study)", md)
        self.assertNotIn("cbrn low (declared", md)
        md = self.draft("acme/frontier", "ca-sb53-transparency").stdout
        self.assertIn("eve-lab (cbrn)", md)

    def test_out_file_and_evidence_hash_in_the_log(self):
        out = os.path.join(self.work, "annex-xii.md")
        r = self.draft("acme/frontier", "eu-annex-xii", "--out", out)
        self.assertIn("wrote", r.stderr)
        with open(out, "rb") as f:
            data = f.read()
        self.assertLessEqual(len(data), 10000)
        digest = hashlib.sha256(data).hexdigest()
        r = st.run("obligations", "satisfy", "acme/frontier@main",
                   "eu.art53.downstream-information", "--evidence-file", out, "--json",
                   env=self.env)
        self.assertEqual(r.rc, 0, repr(r))
        res = json.loads(r.stdout)
        self.assertEqual(res["evidence_sha256"], "sha256:" + digest)
        logged = [e for e in self.log_entries() if e.get("type") == "obligation.satisfied"
                  and e.get("obligation") == "eu.art53.downstream-information"]
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged[0]["evidence_sha256"], "sha256:" + digest)

        # a document over 10,000 bytes: the log has the digest of the line naming it
        big = os.path.join(self.work, "annex-xi.md")
        with open(big, "w") as f:
            f.write(self.draft("acme/frontier", "eu-annex-xi").stdout + "\n" + "x" * 12000)
        with open(big, "rb") as f:
            data = f.read()
        line = "document sha256:%s size %d bytes" % (hashlib.sha256(data).hexdigest(), len(data))
        r = st.run("obligations", "satisfy", "acme/frontier@main",
                   "eu.art53.technical-documentation", "--evidence-file", big, env=self.env)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("of a line naming the document's", r.stdout)
        logged = [e for e in self.log_entries() if e.get("type") == "obligation.satisfied"
                  and e.get("obligation") == "eu.art53.technical-documentation"]
        self.assertEqual(logged[0]["evidence_sha256"],
                         "sha256:" + hashlib.sha256(line.encode()).hexdigest())

    def test_quoted_proof_verifies_offline(self):
        d = self.decision("acme/frontier")
        md = self.draft("acme/frontier", "eu-annex-xi").stdout
        proof = md.split("```\n")[1]
        self.assertTrue(proof.startswith("c2sp.org/tlog-proof@v1\nindex %d\n" % d["log_index"]),
                        proof)
        pf = os.path.join(self.work, "proof.txt")
        with open(pf, "w") as f:
            f.write(proof)
        r = st.run("log", "entry", str(d["log_index"]), env=self.env)
        self.assertEqual(r.rc, 0, repr(r))
        ef = os.path.join(self.work, "entry.json")
        with open(ef, "w") as f:
            f.write(r.stdout)
        r = st.run("log", "verify-proof", pf, "--entry", ef, env=self.env)
        self.assertEqual(r.rc, 0, repr(r))

    def test_refuses_when_the_log_key_is_not_the_pinned_one(self):
        """A client that pinned another key for this server drafts nothing."""
        home = os.path.join(self.work, "home-impostor")
        os.makedirs(home)
        r = st.run("eval", "keygen", "--name", "other", "--out", os.path.join(home, "k"))
        self.assertEqual(r.rc, 0, repr(r))
        other = r.stdout.strip().splitlines()[-1].split()[-1]
        state = os.path.join(home, "state", "sluice")
        os.makedirs(state)
        with open(os.path.join(state, "servers.json"), "w") as f:
            json.dump({"servers": {self.srv.url: {"log_key": other,
                                                  "pinned": "2026-01-01T00:00:00Z"}}}, f)
        os.chmod(os.path.join(state, "servers.json"), 0o600)
        env = self.srv.client_env(self.token, home)
        r = st.run("draft", "acme/frontier", "--form", "eu-annex-xi", env=env)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("did not verify", r.stderr)
        self.assertIn("pinned", r.stderr)

    def test_bad_input(self):
        cases = [
            (("draft", "acme/frontier"), 2, "--form"),
            (("draft", "acme/frontier", "--form", "eu-annex-xiii"), 2, "unknown form"),
            (("draft", "--form", "eu-annex-xi"), 2, "ORG/NAME"),
            (("draft", "not a model", "--form", "eu-annex-xi"), 2, ""),
            (("draft", "acme/nope", "--form", "eu-annex-xi"), 1, "acme/nope"),
            (("obligations", "satisfy", "acme/frontier@main", "eu.art53.copyright-policy",
              "--evidence", "x", "--evidence-file", "/dev/null"), 2, "not both"),
            (("obligations", "satisfy", "acme/frontier@main", "eu.art53.copyright-policy",
              "--evidence-file", os.path.join(self.tmp, "missing.md")), None, "missing.md"),
        ]
        empty = os.path.join(self.work, "empty.md")
        open(empty, "w").close()
        cases.append((("obligations", "satisfy", "acme/frontier@main",
                       "eu.art53.copyright-policy", "--evidence-file", empty), None, "empty"))
        env = self.srv.client_env(self.token, os.path.join(self.work, "home-down"),
                                  url="http://127.0.0.1:%d" % sv.free_port())
        r = st.run("draft", "acme/frontier", "--form", "eu-annex-xi", env=env)
        self.assertEqual(r.rc, 3, repr(r))
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        for args, rc, needle in cases:
            with self.subTest(args=args):
                r = st.run(*args, env=self.env)
                if rc is None:
                    self.assertNotEqual(r.rc, 0, repr(r))
                else:
                    self.assertEqual(r.rc, rc, repr(r))
                self.assertEqual(r.stdout, "")
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn(needle, r.stderr)


if __name__ == "__main__":
    st.main()
