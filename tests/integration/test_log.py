# SPDX-License-Identifier: Apache-2.0
"""The transparency log through the real CLI against a real `sluice serve`
(docs/log.md, docs/cli.md): `sluice log verify` at first contact and after
growth, `--full`, entries without personal data in clear, offline proofs of
a decision and a license, `sluice report`, `sluice log monitor --once`, bad
input to the log's HTTP API and the CLI, and tampering with the server's
database while it is stopped: a changed entry, a dropped entry (a gap, and
a hidden one with the rest shifted to cover it), two entries swapped, a
rollback to an older checkpoint and a fork (entries rewritten, hashes
recomputed, checkpoints re-signed), each caught by a client that verified
the log before.

Users: pubmaria publishes to acme; zoltan and quinella ask for access.
Their names, emails, purposes, reasons and appeals must never appear in the
log's bytes.
"""
import hashlib
import hmac
import json
import os
import random
import shutil
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}
MODEL = "acme/alpha"
PURPOSE = "PURPOSE-zebra-77 studying tokenizer drift"
REASON_DENY = "REASON-quokka-42 not enough detail"
REASON_REVOKE = "REASON-narwhal-13 broke the terms"
APPEAL = "APPEAL-walrus-9 please reconsider"
ZOLTAN_EMAIL = "zoltan@hidden-mail.example"
SECRETS = ["pubmaria", "zoltan", "quinella", ZOLTAN_EMAIL, "hidden-mail", PURPOSE, "zebra-77",
           REASON_DENY, "quokka-42", REASON_REVOKE, "narwhal-13", APPEAL, "walrus-9"]


# ------------------------------------------------------------------ helpers

def tile_n(n):
    """The <N> of a tlog-tiles path: 1234067 -> x001/x234/067."""
    s = "%03d" % (n % 1000)
    n //= 1000
    while n > 0:
        s = "x%03d/%s" % (n % 1000, s)
        n //= 1000
    return s


def bundle_paths(size):
    """Paths of the entry bundles of a tree of SIZE entries."""
    out = []
    for b in range((size + 255) // 256):
        w = min(256, size - b * 256)
        out.append("/log/tile/entries/%s%s" % (tile_n(b), "" if w == 256 else ".p/%d" % w))
    return out


def parse_bundle(data):
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 2], "big")
        out.append(data[i + 2:i + 2 + n])
        i += 2 + n
    return out


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def stored_hashes(entries):
    """Every stored hash of the RFC 6962 tree over ENTRIES: {(level, idx): hash}."""
    level = [leaf_hash(e) for e in entries]
    out = {(0, i): h for i, h in enumerate(level)}
    lv = 0
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[2 * i] + level[2 * i + 1]).digest()
               for i in range(len(level) // 2)]
        lv += 1
        out.update({(lv, i): h for i, h in enumerate(nxt)})
        level = nxt
    return out


def state_file_name(url):
    return hashlib.sha256(url.encode()).hexdigest()[:32] + ".json"


def rehome(home, old_url, new_url):
    """Moves a client's pinned key and log state from OLD_URL to NEW_URL (a
    restarted server that could not get its old port back)."""
    if old_url == new_url:
        return
    pins = os.path.join(home, "state", "sluice", "servers.json")
    with open(pins) as f:
        doc = json.load(f)
    doc["servers"][new_url] = doc["servers"].pop(old_url)
    with open(pins, "w") as f:
        json.dump(doc, f)
    logdir = os.path.join(home, "state", "sluice", "log")
    with open(os.path.join(logdir, state_file_name(old_url))) as f:
        state = json.load(f)
    state["url"] = new_url
    os.unlink(os.path.join(logdir, state_file_name(old_url)))
    with open(os.path.join(logdir, state_file_name(new_url)), "w") as f:
        json.dump(state, f)


class LogCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-log-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.maria = cls.srv.add_user("pubmaria")
            r = cls.srv.admin("user", "add", "zoltan", "--email", ZOLTAN_EMAIL, "--json")
            cls.zoltan = json.loads(r.stdout)["token"]
            cls.quinella = cls.srv.add_user("quinella")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "pubmaria", "publisher")
            cls.make_events()
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

    @classmethod
    def home(cls, who):
        h = os.path.join(cls.tmp, "home-" + who)
        os.makedirs(h, exist_ok=True)
        return h

    @classmethod
    def cli(cls, who, *args, url=None, timeout=120):
        token = {"pubmaria": cls.maria, "zoltan": cls.zoltan, "quinella": cls.quinella}.get(who)
        env = cls.srv.client_env(token, cls.home(who), url=url)
        return st.run(*args, env=env, timeout=timeout)

    @classmethod
    def must(cls, who, *args):
        r = cls.cli(who, *args)
        assert r.rc == 0, repr(r)
        return r

    @classmethod
    def make_events(cls):
        """Publication, a gated request approved then revoked, one denied and
        appealed, a tier change and a scheduled step."""
        folder = os.path.join(cls.tmp, "model")
        sv.make_model(folder, big=1 << 16, rng=random.Random(5))
        facts = os.path.join(cls.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(SMALL_FACTS, f)
        lic = os.path.join(cls.tmp, "license.txt")
        with open(lic, "w") as f:
            f.write("Use it kindly.\n")
        r = cls.must("pubmaria", "push", MODEL, folder, "--facts", facts, "--tier", "gated",
                     "--license", lic, "--json")
        cls.push = json.loads(r.stdout)
        cls.must("zoltan", "access", "request", MODEL, "--purpose", PURPOSE)
        cls.must("pubmaria", "access", "approve", MODEL, "zoltan")
        # zoltan's license with its log proof, while the grant is live
        r = cls.srv.request("GET", "/api/v1/models/%s/license" % MODEL,
                            headers={"Accept": "application/json"}, token=cls.zoltan)
        assert r.status == 200, r
        cls.license_doc = r.json()
        cls.must("quinella", "access", "request", MODEL, "--purpose", PURPOSE + " too")
        cls.must("pubmaria", "access", "deny", MODEL, "quinella", "--reason", REASON_DENY)
        cls.must("quinella", "access", "appeal", MODEL, "--text", APPEAL)
        cls.must("pubmaria", "access", "revoke", MODEL, "zoltan", "--reason", REASON_REVOKE)
        cls.must("pubmaria", "tier", "set", MODEL, "hosted")
        cls.must("pubmaria", "tier", "schedule", MODEL, "gated", "--at", "2099-01-01")

    def log_size(self):
        r = self.srv.request("GET", "/log/checkpoint")
        self.assertEqual(r.status, 200, r)
        return int(r.body.decode().split("\n")[1])

    def raw_entries(self, size):
        out = []
        for p in bundle_paths(size):
            r = self.srv.request("GET", p)
            self.assertEqual(r.status, 200, "%s: %r" % (p, r))
            out += parse_bundle(r.body)
        self.assertEqual(len(out), size)
        return out

    def assertJSONError(self, path, statuses=(400, 404)):
        r = self.srv.request("GET", path)
        self.assertIn(r.status, statuses, "%s: %r" % (path, r))
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"),
                        "%s: %r" % (path, r))
        doc = r.json()
        self.assertIn(doc.get("error"), sv.ERROR_CODES, "%s: %r" % (path, doc))
        self.assertTrue(doc.get("message"), "%s: %r" % (path, doc))
        return doc

    # ------------------------------------------------------------ the tests

    def test_a_verify_first_contact_then_growth_then_full(self):
        who = "auditor-a"
        r = self.cli(who, "log", "key")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(r.stdout.strip(), self.srv.request("GET", "/log/key").body.decode().strip())
        self.assertIn("first contact", r.stderr)

        r = self.cli(who, "log", "verify")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("trusted on first use", r.stdout)
        state = os.path.join(self.home(who), "state", "sluice", "log",
                             state_file_name(self.srv.url))
        self.assertTrue(os.path.isfile(state), state)
        self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o600)
        with open(state) as f:
            saved = json.load(f)
        first = saved["size"]
        self.assertEqual(saved["url"], self.srv.url)
        self.assertGreater(first, 5)

        # the log grows; the next check needs a consistency proof
        self.must("pubmaria", "access", "rules", MODEL, "--require-field", "team")
        doc = json.loads(self.cli(who, "log", "verify", "--json").stdout)
        self.assertTrue(doc["ok"], doc)
        self.assertEqual(doc["previous"]["size"], first)
        self.assertGreater(doc["checkpoint"]["size"], first)
        self.assertTrue(doc["consistent"])
        self.assertTrue(doc["saved"])

        r = self.cli(who, "log", "verify", "--full")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("rebuilt", r.stdout)
        doc = json.loads(self.cli(who, "log", "verify", "--full", "--json").stdout)
        self.assertTrue(doc["ok"], doc)
        self.assertEqual(doc["entries_checked"], doc["checkpoint"]["size"])
        self.assertIsNone(doc["first_bad_index"])

        # checkpoint prints the signed note it checked
        r = self.cli(who, "log", "checkpoint")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertTrue(r.stdout.startswith("sluice\n"), r.stdout)
        cp = json.loads(self.cli(who, "log", "checkpoint", "--json").stdout)
        self.assertEqual(cp["origin"], "sluice")
        self.assertEqual(cp["previous_size"], doc["checkpoint"]["size"])

    def test_b_entries_hold_no_personal_data(self):
        size = self.log_size()
        entries = self.raw_entries(size)
        blob = b"\n".join(entries)
        for s in SECRETS:
            self.assertNotIn(s.encode(), blob, "%r appears in the log's entries" % s)
        types = [json.loads(e)["type"] for e in entries]
        for t in ("version.published", "access.requested", "access.approved", "license.issued",
                  "access.denied", "access.appealed", "access.revoked", "tier.changed",
                  "schedule.added"):
            self.assertIn(t, types)
        # the free texts are there as keyed digests (HMAC with the server's
        # log secret): a bare SHA-256 of a guessed text confirms nothing
        digests = [json.loads(e).get("text_hmac") for e in entries]
        for text in (PURPOSE, REASON_REVOKE, REASON_DENY, APPEAL):
            self.assertNotIn(hashlib.sha256(text.encode()).hexdigest().encode(), blob,
                             "a guessable SHA-256 of %r is in the log" % text)
            self.assertNotIn("sha256:" + hashlib.sha256(text.encode()).hexdigest(), digests)
        with open(os.path.join(self.srv.data, "log.secret")) as f:
            secret = bytes.fromhex(f.read().strip())
        self.assertEqual(len(secret), 32)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.srv.data, "log.secret")).st_mode),
                         0o600)
        for text in (PURPOSE, REASON_REVOKE):
            mac = hmac.new(secret, b"text\n" + text.encode(), hashlib.sha256).hexdigest()
            self.assertIn("hmac-sha256:" + mac, digests)
        # auto-approvals name the kind of rule, never the domain or org matched
        for e in entries:
            doc = json.loads(e)
            if doc["type"] == "access.approved" and doc.get("by") == "rule":
                self.assertIn(doc.get("rule"), ("everyone", "email_domain", "org"), doc)
        accounts = {json.loads(e).get("account") for e in entries} - {None}
        self.assertTrue(accounts and all(a.startswith("acct:") for a in accounts), accounts)
        # entries are canonical JSON: what `log entry` prints is the bytes
        k = types.index("access.denied")
        r = self.cli("auditor-b", "log", "entry", str(k))
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(r.stdout.encode(), entries[k] + b"\n")
        doc = json.loads(self.cli("auditor-b", "log", "entry", str(k), "--json").stdout)
        self.assertEqual(doc["text"].encode(), entries[k])
        self.assertTrue(doc["verified"])

    def test_c_proofs_verify_offline(self):
        key = self.srv.request("GET", "/log/key").body.decode().strip()
        # the decision of the pushed version
        status, dec = self.srv.get_json("/api/v1/models/%s/versions/main/decision" % MODEL,
                                        token=self.maria)
        self.assertEqual(status, 200, dec)
        self.assertIn("log_proof", dec)
        work = tempfile.mkdtemp(dir=self.tmp)
        dec_path = os.path.join(work, "decision.json")
        with open(dec_path, "w") as f:
            json.dump(dec, f)
        entry = os.path.join(work, "entry.json")
        r = self.cli("auditor-c", "log", "entry", str(dec["log_index"]))
        self.assertEqual(r.rc, 0, repr(r))
        with open(entry, "w") as f:
            f.write(r.stdout)
        # anyone, offline, with the key alone (no server configured)
        offline = sv.clean_env({"HOME": self.home("offline"),
                                "XDG_STATE_HOME": os.path.join(self.home("offline"), "s"),
                                "XDG_CONFIG_HOME": os.path.join(self.home("offline"), "c")})
        r = st.run("log", "verify-proof", dec_path, "--entry", entry, "--key", key, env=offline)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("VALID", r.stdout)
        self.assertIn("version.published", r.stdout)
        # the proof printed by `log proof` too
        proof = os.path.join(work, "proof.txt")
        r = self.cli("auditor-c", "log", "proof", str(dec["log_index"]))
        self.assertEqual(r.rc, 0, repr(r))
        self.assertTrue(r.stdout.startswith("c2sp.org/tlog-proof@v1\nindex %d\n"
                                            % dec["log_index"]), r.stdout)
        with open(proof, "w") as f:
            f.write(r.stdout)
        doc = json.loads(st.run("log", "verify-proof", proof, "--entry", entry, "--key", key,
                                "--json", env=offline).stdout)
        self.assertTrue(doc["valid"], doc)
        self.assertEqual(doc["index"], dec["log_index"])
        # a changed entry does not verify
        with open(entry) as f:
            text = f.read()
        bad = os.path.join(work, "bad.json")
        changed = text.replace('"tier":"gated"', '"tier":"open"')
        self.assertNotEqual(text, changed)
        with open(bad, "w") as f:
            f.write(changed)
        r = st.run("log", "verify-proof", dec_path, "--entry", bad, "--key", key, env=offline)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("INVALID", r.stdout)
        # nor with another key
        other = "sluice+00000000+AQ" + "A" * 42 + "="
        r = st.run("log", "verify-proof", dec_path, "--entry", entry, "--key", other, env=offline)
        self.assertNotEqual(r.rc, 0, repr(r))

        # the license's issuance, with the license itself
        lic_path = os.path.join(work, "LICENSE.sluice")
        with open(lic_path, "w") as f:
            f.write(self.license_doc["license"])
        lproof = os.path.join(work, "license.json")
        with open(lproof, "w") as f:
            json.dump(self.license_doc, f)
        lentry = os.path.join(work, "lentry.json")
        r = self.cli("auditor-c", "log", "entry", str(self.license_doc["log_index"]))
        self.assertEqual(r.rc, 0, repr(r))
        with open(lentry, "w") as f:
            f.write(r.stdout)
        r = st.run("log", "verify-proof", lproof, "--entry", lentry, "--license", lic_path,
                   "--key", key, env=offline)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("is the license this entry records", r.stdout)
        # the license's entry is not the decision's
        r = st.run("log", "verify-proof", dec_path, "--entry", entry, "--license", lic_path,
                   "--key", key, env=offline)
        self.assertEqual(r.rc, 1, repr(r))

    def test_d_report_verifies_every_event(self):
        r = self.cli("pubmaria", "report", MODEL)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("verified", r.stdout)
        self.assertIn("access.revoked", r.stdout)
        self.assertIn("tier gated -> hosted", r.stdout)
        doc = json.loads(self.cli("pubmaria", "report", MODEL, "--json").stdout)
        v = doc["verification"]
        self.assertGreaterEqual(v["events_total"], 9)
        self.assertEqual(v["events_verified"], v["events_total"], doc)
        self.assertEqual(v["failed"], [])
        self.assertEqual(doc["grants"].get("revoked"), 1, doc["grants"])
        self.assertEqual(doc["grants"].get("pending"), 1, doc["grants"])  # appealed
        # canonical re-serialisation reproduces each logged entry byte for byte
        entries = self.raw_entries(doc["checkpoint_size"])
        for ev in doc["events"]:
            canon = json.dumps(ev["entry"], sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
            if b"e-" not in canon and b"e+" not in canon:  # python writes reals its own way
                self.assertEqual(canon, entries[ev["index"]])
        # an auditor needs no account
        r = self.cli("anon", "report", MODEL)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("trusted on first use", r.stdout)
        self.assertEqual(self.cli("anon", "report", "acme").rc, 2)
        self.assertEqual(self.cli("anon", "report", "acme/nothing-here").rc, 1)

    def test_e_bad_input(self):
        size = self.log_size()
        for q in ("index=abc&size=3", "index=01&size=3", "index=1&size=-1", "index=1",
                  "index=1&size=99999999999999999999999", "index=1&size=18446744073709551616",
                  "index=%d&size=%d" % (size, size), "index=0&size=%d" % (size + 1000),
                  "index=1&size=0x10", "index=&size=3", "index=+1&size=3"):
            self.assertJSONError("/api/v1/log/proof/inclusion?" + q)
        for q in ("from=0&to=3", "from=5&to=3", "from=1&to=%d" % (size + 1), "from=1",
                  "from=01&to=3", "from=a&to=b"):
            self.assertJSONError("/api/v1/log/proof/consistency?" + q)
        for q in ("start=5&end=3", "start=0&end=1001", "start=x&end=1", "start=00&end=1",
                  "start=0"):
            self.assertJSONError("/api/v1/log/entries?" + q)
        for p in ("0/1", "0/01", "0/0001", "0/000.p/0", "0/000.p/256", "0/000.p/01", "64/000",
                  "01/000", "entries/x000/001", "entries/1000", "0/000/", "0/000.p/",
                  "entries/abc", "0/x001", "0/-01", "entries/000.p/999", "x/000"):
            self.assertJSONError("/log/tile/" + p, statuses=(400, 404))
        # a tile beyond the tree
        self.assertJSONError("/log/tile/entries/x001/000", statuses=(404,))

        who = "auditor-e"
        for n, rc in (("abc", 2), ("01", 2), ("-1", 2), ("18446744073709551616", 2), ("", 2),
                      (str(size + 100), 1)):
            r = self.cli(who, "log", "entry", n)
            self.assertEqual(r.rc, rc, "log entry %r: %r" % (n, r))
            self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        r = self.cli(who, "log", "proof", "1x")
        self.assertEqual(r.rc, 2, repr(r))
        for args in (("log", "monitor", "--interval", "0"), ("log", "monitor", "--interval", "x"),
                     ("log", "verify", "--interval", "5"), ("log", "entry"),
                     ("log", "frobnicate"), ("log", "checkpoint", "--full"),
                     ("log", "verify-proof", "nofile")):
            r = self.cli(who, *args)
            self.assertEqual(r.rc, 2, "%r: %r" % (args, r))
        r = self.cli(who, "log", "verify", url="http://127.0.0.1:1")
        self.assertEqual(r.rc, 3, repr(r))
        # a proof file that is not one
        junk = os.path.join(self.tmp, "junk.txt")
        with open(junk, "w") as f:
            f.write("c2sp.org/tlog-proof@v1\nindex 01\n\n")
        r = self.cli(who, "log", "verify-proof", junk, "--entry", junk, "--key",
                     self.srv.request("GET", "/log/key").body.decode().strip())
        self.assertEqual(r.rc, 2, repr(r))

    def test_f_monitor_prints_new_events(self):
        who = "auditor-f"
        r = self.cli(who, "log", "monitor", "--once")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("trusted on first use", r.stderr)
        self.assertEqual(r.stdout, "")
        self.must("pubmaria", "tier", "set", MODEL, "gated")
        r = self.cli(who, "log", "monitor", "--once")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("tier.changed", r.stdout)
        self.assertIn("acme/alpha v1 tier hosted -> gated", r.stdout)
        self.assertIn("each checked against it", r.stderr)
        r = self.cli(who, "log", "monitor", "--once", "--json")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(r.stdout, "")

    # ------------------------------------------------------------ tampering

    def tampered(self, base, name, change):
        """A copy of the stopped server's data folder BASE changed by
        CHANGE(a connection to its database, sv.db_connect), served on the old port when possible.
        Returns (server, url)."""
        data = os.path.join(self.tmp, "data-" + name)
        sv.copy_data(base, data)
        db = sv.db_connect(data)
        try:
            change(db)
            db.commit()
        finally:
            db.close()
        srv = sv.Server(data, workdir=self.tmp)
        self.addCleanup(srv.cleanup)
        srv.start(port=self.port)
        return srv

    def witness(self, name, srv):
        """A copy of the witness's home, pointed at SRV."""
        home = os.path.join(self.tmp, "home-witness-" + name)
        shutil.copytree(self.home("witness"), home)
        rehome(home, "http://127.0.0.1:%d" % self.port, srv.url)
        return srv.client_env(None, home)

    def verify(self, env, *args):
        return st.run("log", "verify", *args, env=env, timeout=60)

    def test_z_tampering(self):
        # a client that verified the whole log
        r = self.cli("witness", "log", "verify", "--full")
        self.assertEqual(r.rc, 0, repr(r))
        n = json.loads(self.cli("witness", "log", "verify", "--json").stdout)["checkpoint"]["size"]
        entries = self.raw_entries(n)
        types = [json.loads(e)["type"] for e in entries]
        self.port = self.srv.port
        self.srv.stop()
        base = os.path.join(self.tmp, "data-base")
        sv.copy_data(self.srv.data, base)
        db = sv.db_connect(base)
        sizes = [s for (s,) in db.execute("SELECT size FROM log_checkpoints ORDER BY size")]
        db.close()

        def expect(name, change, needle, full=True):
            srv = self.tampered(base, name, change)
            try:
                r = self.verify(self.witness(name, srv), *(["--full"] if full else []))
                self.assertEqual(r.rc, 1, "%s: %r" % (name, r))
                self.assertIn(needle, r.stderr, "%s: %r" % (name, r))
                self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
                if os.environ.get("SLUICE_TEST_VERBOSE"):
                    print("\n  %s: %s" % (name, r.stderr.strip()))
                return srv, r
            except BaseException:
                srv.stop()
                raise

        def stop(srv):
            srv.stop()

        # 1. one entry's text changed: the approval becomes a denial
        k = types.index("access.approved")

        def change_one(db):
            db.execute("UPDATE log_entries SET entry = replace(entry, 'access.approved', "
                       "'access.denied') WHERE idx = ?", (k,))
        srv, r = expect("changed", change_one, "the first bad index is %d" % k)
        stop(srv)

        # 2a. one entry dropped: the revocation's row deleted (a gap)
        k = types.index("access.revoked")

        def drop_gap(db):
            db.execute("DELETE FROM log_entries WHERE idx = ?", (k,))
        srv, r = expect("dropped-gap", drop_gap, "the first bad index is %d" % k)
        stop(srv)

        # 2b. dropped and covered up: the later entries moved down one place and
        # the last one repeated, so the count and every stored hash stay
        def drop_shift(db):
            rows = db.execute("SELECT idx, entry FROM log_entries WHERE idx > ? ORDER BY idx",
                              (k,)).fetchall()
            db.execute("DELETE FROM log_entries WHERE idx >= ?", (k,))
            for idx, entry in rows:
                db.execute("INSERT INTO log_entries (idx, entry, created, model) "
                           "VALUES (?, ?, 0, NULL)", (idx - 1, entry))
            db.execute("INSERT INTO log_entries (idx, entry, created, model) VALUES (?, ?, 0, "
                       "NULL)", (n - 1, rows[-1][1]))
        srv, r = expect("dropped-shift", drop_shift, "the first bad index is %d" % k)
        stop(srv)

        # 3. two entries swapped: the request now comes after its denial
        i, j = types.index("access.requested"), types.index("access.denied")
        self.assertLess(i, j)

        def swap(db):
            a = db.execute("SELECT entry FROM log_entries WHERE idx = ?", (i,)).fetchone()[0]
            b = db.execute("SELECT entry FROM log_entries WHERE idx = ?", (j,)).fetchone()[0]
            db.execute("UPDATE log_entries SET entry = ? WHERE idx = ?", (b, i))
            db.execute("UPDATE log_entries SET entry = ? WHERE idx = ?", (a, j))
        srv, r = expect("swapped", swap, "the first bad index is %d" % i)
        stop(srv)

        # 4. rollback: the newest entries, their hashes and checkpoints deleted,
        # so the server serves an older checkpoint
        older = [s for s in sizes if 0 < s < n]
        self.assertTrue(older, sizes)
        m = older[-1]

        def rollback(db):
            db.execute("DELETE FROM log_entries WHERE idx >= ?", (m,))
            db.execute("DELETE FROM log_hashes WHERE ((idx + 1) << CAST(level AS INTEGER)) > ?",
                       (m,))
            db.execute("DELETE FROM log_checkpoints WHERE size > ?", (m,))
        srv, r = expect("rollback", rollback, "rollback", full=False)
        self.assertIn("%d entries" % m, r.stderr)
        self.assertIn("%d entries" % n, r.stderr)
        # the client's record was not moved back
        doc = json.loads(self.verify(self.witness("rollback-again", srv), "--json").stdout)
        self.assertFalse(doc["ok"])
        self.assertEqual(doc["problem"], "Rollback")
        self.assertEqual(doc["previous"]["size"], n)
        stop(srv)

        # 5. fork: an entry rewritten, every stored hash recomputed and the
        # checkpoints deleted, so the server signs another tree of the same size
        k = types.index("access.denied")

        def fork(db):
            rows = db.execute("SELECT idx, entry FROM log_entries ORDER BY idx").fetchall()
            texts = [e.encode() for _, e in rows]
            texts[k] = texts[k].replace(b"access.denied", b"access.approved")
            db.execute("UPDATE log_entries SET entry = ? WHERE idx = ?", (texts[k].decode(), k))
            db.execute("DELETE FROM log_hashes")
            db.executemany("INSERT INTO log_hashes (level, idx, hash) VALUES (?, ?, ?)",
                           [(lv, i, h) for (lv, i), h in stored_hashes(texts).items()])
            db.execute("DELETE FROM log_checkpoints")
        srv, r = expect("fork", fork, "fork", full=False)
        self.assertIn("%d entries" % n, r.stderr)
        # a fresh client sees a perfectly good log: only history tells
        fresh = srv.client_env(None, os.path.join(self.tmp, "home-fresh"))
        r = self.verify(fresh, "--full")
        self.assertEqual(r.rc, 0, repr(r))
        # it grows: now the forked tree is larger and inconsistent
        r = st.run("tier", "set", MODEL, "hosted", env=srv.client_env(self.maria,
                                                                     self.home("pubmaria")))
        self.assertEqual(r.rc, 0, repr(r))
        r = self.verify(self.witness("fork-grown", srv))
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("inconsistent", r.stderr)
        self.assertIn("%d entries" % n, r.stderr)
        stop(srv)

        # the untouched copy still verifies for the same witness
        srv = self.tampered(base, "untouched", lambda db: None)
        r = self.verify(self.witness("untouched", srv), "--full")
        self.assertEqual(r.rc, 0, repr(r))
        stop(srv)


if __name__ == "__main__":
    st.main()
