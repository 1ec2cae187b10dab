# SPDX-License-Identifier: Apache-2.0
"""The authorization matrix (issue 4): every route x every tier x every kind
of caller against a real `sluice serve`, expected allow or deny generated
from one table (EXPECT below), zero unexpected allows and zero unexpected
denies.

Callers: anonymous, another user, a user who accepted the license, a pending
requester, an approved grantee, a denied requester, a revoked grantee, an
expired grantee, a plain member of the publishing org, the publisher, a
registered evaluator, an admin, a forged token, and the token of a removed
account. Models: one per tier (open, click, gated, hosted, withheld), each
with the same small files.

Mutating routes (approve, tier, attest, push) are only called by callers who
must be refused, and the test then checks that nothing changed.
"""
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeoai  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

TIERS = ["open", "click", "gated", "hosted", "withheld"]
SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}
VECTORS = os.environ.get("SLUICE_VECTORS", os.path.join(os.path.dirname(__file__), "..",
                                                        "vectors"))
# The evaluator's verifier key: the sumdb test key (tests/vectors/note).
EVAL_NAME = "PeterNeumann"
EVAL_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"

CALLERS = ["anon", "other", "accepted", "pending", "grantee", "denied", "revoked", "expired",
           "member", "publisher", "evaluator", "admin", "forged", "removed",
           # the scope dimension: the same accounts with narrower tokens
           "publisher-read", "grantee-read", "admin-write"]
BAD_TOKEN = {"forged", "removed"}
INSIDERS = {"member", "publisher", "admin"}
# What each narrower token reads like: a read token reads all its account
# may; an admin's token without the admin scope is not an admin's.
READS_AS = {"publisher-read": "publisher", "grantee-read": "grantee", "admin-write": "other"}
READ_TOKENS = {"publisher-read", "grantee-read"}


def may_download(tier, who):
    who = READS_AS.get(who, who)
    if who in BAD_TOKEN:
        return False
    if tier == "open":
        return True
    if who == "anon":
        return False
    if tier in ("hosted", "withheld") and who in ("publisher", "admin"):
        return True  # a plain member never reaches hosted or withheld weights
    if tier not in ("hosted", "withheld") and who in INSIDERS:
        return True
    if tier == "withheld":
        return who == "evaluator"
    if tier == "hosted":
        return False
    if tier == "click":
        return who in ("accepted", "grantee")
    return who == "grantee"  # gated


def may_call(tier, who):
    """The hosted gateway (docs/hosted.md): withheld never; hosted the
    org's members (plain ones too) and grantees; the rest as downloads."""
    who = READS_AS.get(who, who)
    if who in BAD_TOKEN or tier == "withheld":
        return False
    if tier == "hosted":
        return who in ("grantee", "member", "publisher", "admin")
    return may_download(tier, who)


def may_list(tier, who):
    who = READS_AS.get(who, who)
    if who in BAD_TOKEN:
        return False
    if tier != "withheld":
        return True
    return who in ("publisher", "admin", "evaluator")


def may_see(tier, who):
    return who not in BAD_TOKEN


def has_request(tier, who):
    who = READS_AS.get(who, who)
    return who in ("pending", "grantee", "denied", "revoked", "expired")


def may_license(tier, who):
    # nothing can be granted on a withheld version (the approvals were 409)
    return READS_AS.get(who, who) == "grantee" and tier != "withheld"


def may_manage(tier, who):
    return READS_AS.get(who, who) in ("publisher", "admin")


def nobody(tier, who):
    return False


def may_list_chunks(tier, who):
    # chunk lists only for versions whose bytes are the stored chunks: a
    # gated copy is marked per recipient, hosted and withheld are not sent
    return tier in ("open", "click") and may_download(tier, who)


def signed_in(tier, who):
    return who not in BAD_TOKEN and who != "anon"


def org_admin(tier, who):
    return READS_AS.get(who, who) == "admin"  # the publisher is no org admin


def server_admin(tier, who):
    return READS_AS.get(who, who) == "admin"  # an admin's token without the admin scope is not


# route name -> (method, path template, body, expectation)
ROUTES = {
    "resolve": ("GET", "/acme/{m}/resolve/main/config.json", None, may_download),
    "resolve-head": ("HEAD", "/acme/{m}/resolve/main/config.json", None, may_download),
    "resolve-range": ("GET", "/acme/{m}/resolve/main/config.json", "range", may_download),
    "raw": ("GET", "/acme/{m}/raw/main/config.json", None, may_download),
    "raw-head": ("HEAD", "/acme/{m}/raw/main/config.json", None, may_download),
    "native-file": ("GET", "/api/v1/models/acme/{m}/versions/main/files/config.json", None,
                    may_download),
    "native-file-v1": ("GET", "/api/v1/models/acme/{m}/versions/1/files/config.json", None,
                       may_download),
    "tree": ("GET", "/api/models/acme/{m}/tree/main", None, may_list),
    "paths-info": ("POST", "/api/models/acme/{m}/paths-info/main", b'{"paths":["config.json"]}',
                   may_list),
    "version-files": ("GET", "/api/v1/models/acme/{m}/versions/main", "files", may_list),
    "hf-siblings": ("GET", "/api/models/acme/{m}", "siblings", may_list),
    "model": ("GET", "/api/v1/models/acme/{m}", None, may_see),
    "decision": ("GET", "/api/v1/models/acme/{m}/versions/main/decision", None, may_see),
    "terms": ("GET", "/api/v1/models/acme/{m}/terms", None, may_see),
    "obligations": ("GET", "/api/v1/models/acme/{m}/versions/main/obligations", None, may_see),
    "access-me": ("GET", "/api/v1/models/acme/{m}/access/me", None, has_request),
    "license": ("GET", "/api/v1/models/acme/{m}/license", None, may_license),
    "access-list": ("GET", "/api/v1/models/acme/{m}/access", None, may_manage),
    "access-rules": ("GET", "/api/v1/models/acme/{m}/access-rules", None, may_manage),
    # mutating: called only by those who must be refused
    "approve": ("POST", "/api/v1/models/acme/{m}/access/pending/approve", b"{}", nobody),
    "revoke": ("POST", "/api/v1/models/acme/{m}/access/grantee/revoke", b'{"reason":"x"}', nobody),
    "tier-set": ("POST", "/api/v1/models/acme/{m}/tier", b'{"tier":"open"}', nobody),
    "rules-set": ("PUT", "/api/v1/models/acme/{m}/access-rules", b'{"everyone":true}', nobody),
    "attest": ("POST", "/api/v1/models/acme/{m}/versions/main/attestations", b"x", nobody),
    "satisfy": ("POST", "/api/v1/models/acme/{m}/versions/main/obligations/x/satisfy",
                b'{"evidence":"x"}', nobody),
    "missing": ("POST", "/api/v1/models/acme/{m}/chunks/missing", b'{"chunks":[]}', nobody),
    "eval-key-add": ("POST", "/api/v1/eval/keys", b'{"name":"x","vkey":"y"}', nobody),
    "eval-key-remove": ("DELETE", "/api/v1/eval/keys/" + EVAL_NAME, None, nobody),
    # routes added with issues 12, 13 and 17
    "chunk-list": ("GET", "/api/v1/models/acme/{m}/versions/main/chunks/config.json", None,
                   may_list_chunks),
    "metrics": ("GET", "/metrics", None, may_see),
    "whoami": ("GET", "/api/whoami-v2", None, signed_in),
    "org-members": ("GET", "/api/v1/orgs/acme/members", None, org_admin),
    "org-member-set": ("PUT", "/api/v1/orgs/acme/members/other", b'{"role":"publisher"}',
                       nobody),
    "org-member-remove": ("DELETE", "/api/v1/orgs/acme/members/member", None, nobody),
    # the hosted gateway (issue 15): every tier has a backend
    "v1-model": ("GET", "/v1/models/acme/{m}", None, may_call),
    "v1-models": ("GET", "/v1/models", "v1-list", may_call),
    "v1-chat": ("POST", "/v1/chat/completions", "v1-chat", may_call),
    "v1-chat-stream": ("POST", "/v1/chat/completions", "v1-chat-stream", may_call),
    "v1-completions": ("POST", "/v1/completions", "v1-completions", may_call),
    # the hosted filters (issue 15, item 6): publishers and org admins only
    "filter-get": ("GET", "/api/v1/models/acme/{m}/hosted/filter", None, may_manage),
    "filter-set": ("PUT", "/api/v1/models/acme/{m}/hosted/filter",
                   b'{"rules":[{"id":"r","where":"input","kind":"literal","pattern":"x",'
                   b'"action":"refuse"}]}', nobody),
    "filter-clear": ("DELETE", "/api/v1/models/acme/{m}/hosted/filter", None, nobody),
    # the web UI's accounts (issue 14, docs/web.md "Sessions"): a bearer
    # token is never a browser session; the admin page's calls
    "session": ("GET", "/api/v1/session", None, nobody),
    "signup-mode": ("GET", "/api/v1/signup", None, may_see),
    "users": ("GET", "/api/v1/users", None, server_admin),
    "invitations": ("GET", "/api/v1/invitations", None, server_admin),
    "orgs": ("GET", "/api/v1/orgs", None, may_see),
    "user-add": ("POST", "/api/v1/users", b'{"user":"intruder"}', nobody),
    "user-remove": ("DELETE", "/api/v1/users/other", None, nobody),
    "org-add": ("POST", "/api/v1/orgs", b'{"org":"intruder"}', nobody),
    "invite-add": ("POST", "/api/v1/invitations", b'{"days":3}', nobody),
    "invite-delete": ("DELETE", "/api/v1/invitations/1", None, nobody),
    "signup": ("POST", "/api/v1/signup", b'{"user":"intruder","name":"I","email":"i@x.org"}',
               nobody),
    # the web UI (issue 14; docs/web.md): the model card goes with the file
    # list, the viewer and the pages answer everyone (a bad token is 401)
    "card": ("GET", "/api/v1/models/acme/{m}/versions/main/card", None, may_list),
    "viewer": ("GET", "/api/v1/models/acme/{m}/versions/main/viewer", None, may_see),
    "page-model": ("GET", "/acme/{m}", "page", may_see),
    "page-model-head": ("HEAD", "/acme/{m}", "page", may_see),
    "page-history": ("GET", "/acme/{m}/history", "page", may_see),
    "page-manage": ("GET", "/acme/{m}/manage", "page", may_see),
    # the pages that name no model, and an asset: the same for everyone (a
    # bad token is still 401)
    "page-home": ("GET", "/", "page", may_see),
    "page-signin": ("GET", "/signin", "page", may_see),
    "page-log": ("GET", "/log", "page", may_see),
    "page-admin": ("GET", "/admin", "page", may_see),
    "ui-asset": ("GET", "/ui/app.css", None, may_see),
    # prompt retention, quotas and usage over HTTP (issue 15): publishers and
    # org admins only
    "retention-get": ("GET", "/api/v1/models/acme/{m}/hosted/retention", None, may_manage),
    "retention-items": ("GET", "/api/v1/models/acme/{m}/hosted/retention/items", None,
                        may_manage),
    "quota-get": ("GET", "/api/v1/models/acme/{m}/hosted/quota", None, may_manage),
    "usage-get": ("GET", "/api/v1/models/acme/{m}/hosted/usage", None, may_manage),
    "retention-set": ("PUT", "/api/v1/models/acme/{m}/hosted/retention", b'{"days":3}', nobody),
    "retention-clear": ("DELETE", "/api/v1/models/acme/{m}/hosted/retention", None, nobody),
    "quota-set": ("PUT", "/api/v1/models/acme/{m}/hosted/quota", b'{"rpm":1}', nobody),
}
MUTATING = {"approve", "revoke", "tier-set", "rules-set", "attest", "satisfy", "missing",
            "eval-key-add", "eval-key-remove", "org-member-set", "org-member-remove",
            "filter-set", "filter-clear", "user-add", "user-remove", "org-add", "invite-add",
            "invite-delete", "signup", "retention-set",
            "retention-clear", "quota-set"}
# the routes that need the admin scope (the rest of WRITES need write)
ADMIN_SCOPE = {"eval-key-add", "eval-key-remove", "user-add", "user-remove", "org-add",
               "invite-add", "invite-delete"}
# Every state-changing route, for the scope test: a read token may do none
# of them, whatever its account may (403, X-Error-Code: InsufficientScope).
WRITES = dict({k: ROUTES[k] for k in MUTATING}, **{
    "accept": ("POST", "/api/v1/models/acme/{m}/accept", b"{}", nobody),
    "request": ("POST", "/api/v1/models/acme/{m}/access", b'{"purpose":"read token"}', nobody),
    "appeal": ("POST", "/api/v1/models/acme/{m}/access/me/appeal", b'{"text":"again"}', nobody),
    "deny": ("POST", "/api/v1/models/acme/{m}/access/pending/deny", b'{"reason":"x"}', nobody),
    "schedule": ("POST", "/api/v1/models/acme/{m}/schedule",
                 b'{"tier":"open","at":"2030-01-01"}', nobody),
    "commit": ("POST", "/api/v1/models/acme/{m}/versions", b'{"files":[]}', nobody),
    "file-store": ("POST", "/api/v1/models/acme/{m}/files/" + "0" * 64,
                   b'{"size":0,"chunks":[]}', nobody),
    "chunks": ("POST", "/api/v1/models/acme/{m}/chunks", b"", nobody),
    "trace": ("POST", "/api/v1/models/acme/{m}/trace", b"", nobody),
})


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Matrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-matrix-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.setup_world()
        except BaseException:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            if getattr(cls, "backend", None):
                cls.backend.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            cls.backend.close()

    @classmethod
    def call(cls, method, path, body=None, token=None, expect=None):
        headers = {"Content-Type": "application/json"} if body else None
        r = cls.srv.request(method, path, body, headers, token=token)
        if expect is not None and r.status != expect:
            raise AssertionError("%s %s -> %r" % (method, path, r))
        return r

    @classmethod
    def setup_world(cls):
        srv = cls.srv
        srv.start()
        tok = {"anon": None, "admin": srv.admin_token}
        for who in ("publisher", "member", "other", "accepted", "pending", "grantee", "denied",
                    "revoked", "expired", "removed"):
            tok[who] = srv.add_user(who)
        tok["evaluator"] = srv.add_user(EVAL_NAME)
        tok["forged"] = "sl_" + secrets.token_hex(32)
        srv.add_org("acme")
        srv.add_member("acme", "publisher", "publisher")
        srv.add_member("acme", "member", "member")
        srv.add_member("acme", "removed", "publisher")
        for who, user, scopes in (("publisher-read", "publisher", "read"),
                                  ("grantee-read", "grantee", "read"),
                                  ("admin-write", "admin", "read,write")):
            r = srv.admin("token", "new", user, "--scopes", scopes, "--json")
            tok[who] = json.loads(r.stdout)["token"]
        cls.tok = tok
        # an invitation for the refused deletes to aim at (id 1)
        r = cls.call("POST", "/api/v1/invitations", b"{}", tok["admin"], 201)
        assert r.json()["id"] == 1, r
        # the evaluator's key
        cls.call("POST", "/api/v1/eval/keys",
                 json.dumps({"name": EVAL_NAME, "vkey": EVAL_VKEY}).encode(), tok["admin"], 201)
        # one model per tier
        home = os.path.join(cls.tmp, "home")
        folder = os.path.join(cls.tmp, "model")
        sv.make_model(folder, big=200000)
        with open(os.path.join(folder, "README.md"), "w") as f:
            f.write("# m\n\nThe model card.\n")
        facts = os.path.join(cls.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(SMALL_FACTS, f)
        env = srv.client_env(tok["publisher"], home)
        for t in TIERS:
            r = st.run("push", "acme/m-" + t, folder, "--facts", facts, "--tier", t, "--json",
                       env=env, timeout=120)
            if r.rc != 0:
                raise AssertionError("push %s: %r" % (t, r))
        expires = time.time() + 4
        for t in TIERS:
            base = "/api/v1/models/acme/m-%s" % t
            cls.call("POST", base + "/accept", b"{}", tok["accepted"], 200)
            for who in ("pending", "grantee", "denied", "revoked", "expired"):
                cls.call("POST", base + "/access",
                         json.dumps({"purpose": "research on %s" % who}).encode(), tok[who], 201)
            pub = tok["publisher"]
            if t == "withheld":
                # nothing can be granted on a withheld version
                for who in ("grantee", "revoked", "expired"):
                    r = cls.call("POST", base + "/access/%s/approve" % who, b"{}", pub, 409)
                    assert "withheld: no access can be granted" in r.json()["message"], r
                cls.call("POST", base + "/access/denied/deny", b'{"reason": "no purpose"}', pub,
                         200)
                continue
            cls.call("POST", base + "/access/grantee/approve", b"{}", pub, 200)
            cls.call("POST", base + "/access/revoked/approve", b"{}", pub, 200)
            cls.call("POST", base + "/access/revoked/revoke", b'{"reason": "misuse"}', pub, 200)
            cls.call("POST", base + "/access/denied/deny", b'{"reason": "no purpose"}', pub, 200)
            cls.call("POST", base + "/access/expired/approve",
                     json.dumps({"expires": iso(expires)}).encode(), pub, 200)
        srv.admin("user", "remove", "removed")
        # an inference backend behind every model (the hosted gateway)
        cls.backend = fakeoai.Backend()
        for t in TIERS:
            r = st.run("hosted", "backend", "add", "acme/m-" + t, cls.backend.url, "--data",
                       srv.data, *(["--db", srv.db] if srv.db else []), *srv.store_args,
                       env=sv.clean_env(srv.store_env))
            if r.rc != 0:
                raise AssertionError("hosted backend add: %r" % r)
        # let the short grants expire
        while time.time() < expires + 1.2:
            time.sleep(0.2)

    def outcome(self, route, tier, who):
        method, path, body, _ = ROUTES[route]
        path = path.format(m="m-" + tier)
        headers = None
        payload = None
        model = "acme/m-" + tier
        if body == "range":
            headers = {"Range": "bytes=0-3"}
        elif body in ("v1-chat", "v1-chat-stream", "v1-completions"):
            doc = {"model": model, "stream": body == "v1-chat-stream"}
            if body == "v1-completions":
                doc["prompt"] = "hi"
            else:
                doc["messages"] = [{"role": "user", "content": "hi"}]
            payload = json.dumps(doc).encode()
            headers = {"Content-Type": "application/json"}
        elif isinstance(body, bytes):
            payload = body
            headers = {"Content-Type": "application/json"}
        r = self.srv.request(method, path, payload, headers, token=self.tok[who])
        if r.status >= 500:
            self.fail("%s %s as %s: server error %r" % (method, path, who, r))
        ok = 200 <= r.status < 300
        if ok and body == "files":
            ok = "files" in r.json()
        if ok and body == "siblings":
            ok = len(r.json().get("siblings", [])) > 0
        if ok and body == "v1-list":
            ok = model in {m["id"] for m in r.json()["data"]}
        if ok and body == "page":
            ok = r.headers.get("Content-Type") == "text/html; charset=utf-8"
        if ok and body == "v1-chat-stream":
            ok = r.body.endswith(b"data: [DONE]\n\n") and b'"error"' not in r.body
        if path.startswith("/v1/") and r.status >= 400 and who not in BAD_TOKEN:
            # the gateway answers in OpenAI's error object
            doc = r.json()
            self.assertEqual(r.status, 404, (method, path, who, doc))
            self.assertEqual(doc["error"]["code"], "model_not_found", doc)
            self.assertEqual(r.headers.get("X-Error-Code"), "model_not_found")
            return ok, r.status
        if r.status >= 400 and method != "HEAD" and r.body:
            doc = r.json()  # every refusal is a JSON error
            self.assertIn(doc.get("error"), sv.ERROR_CODES, (method, path, who, doc))
            self.assertTrue(doc.get("message"), (method, path, who, doc))
        return ok, r.status

    maxDiff = None

    def test_matrix(self):
        unexpected_allow, unexpected_deny, cells = [], [], 0
        before = self.snapshot()
        for route, (_, _, _, rule) in sorted(ROUTES.items()):
            for tier in TIERS:
                for who in CALLERS:
                    want = rule(tier, who)
                    if route in MUTATING and who in ("publisher", "admin"):
                        continue  # mutations are called only by those refused
                    got, status = self.outcome(route, tier, who)
                    cells += 1
                    if got and not want:
                        unexpected_allow.append((route, tier, who, status))
                    elif want and not got:
                        unexpected_deny.append((route, tier, who, status))
        self.assertGreater(cells, 1500)
        self.assertEqual(unexpected_allow, [], "unexpected allows")
        self.assertEqual(unexpected_deny, [], "unexpected denies")
        self.assertEqual(self.snapshot(), before, "a refused request changed something")

    def test_viewer_agrees_with_downloads(self):
        """The web UI shows download links when the viewer says
        may_download: for every tier and caller that is exactly when a
        download succeeds."""
        for tier in TIERS:
            for who in CALLERS:
                r = self.srv.request("GET", "/api/v1/models/acme/m-%s/versions/main/viewer" % tier,
                                     token=self.tok[who])
                dl = self.srv.request("GET", "/acme/m-%s/resolve/main/config.json" % tier,
                                      token=self.tok[who])
                if who in BAD_TOKEN:
                    self.assertEqual(r.status, 401, (tier, who, r))
                    continue
                self.assertEqual(r.status, 200, (tier, who, r))
                doc = r.json()
                self.assertEqual(doc["may_download"], may_download(tier, who), (tier, who, doc))
                self.assertEqual(doc["may_download"], dl.status == 200, (tier, who, dl))
                self.assertEqual(doc["signed_in"], who != "anon", doc)
                self.assertEqual(doc["publisher"], may_manage(tier, who), (tier, who, doc))

    def snapshot(self):
        """What the refused mutations must not change: tiers, requests and
        rules of every model, evaluator keys."""
        out = {}
        admin = self.tok["admin"]

        def without_counts(doc):
            # allowed downloads in the matrix count (docs/api.md); refused
            # ones do not, which test_hf_parity.py checks
            for d in [doc] + doc.get("versions", []):
                d.pop("downloads", None)
                d.pop("downloads_all_time", None)
            return doc
        for t in TIERS:
            base = "/api/v1/models/acme/m-%s" % t
            out[t] = (without_counts(self.call("GET", "/api/v1/models/acme/m-" + t,
                                               token=admin).json()),
                      self.call("GET", base + "/access", token=admin).json(),
                      self.call("GET", base + "/access-rules", token=admin).json(),
                      self.call("GET", base + "/versions/main/attestations", token=admin).json(),
                      self.call("GET", base + "/hosted/filter", token=admin).json()["filter"],
                      self.call("GET", base + "/hosted/retention", token=admin).json(),
                      self.call("GET", base + "/hosted/quota", token=admin).json())
        out["keys"] = self.call("GET", "/api/v1/eval/keys").json()
        out["members"] = self.call("GET", "/api/v1/orgs/acme/members", token=admin).json()
        out["users"] = self.call("GET", "/api/v1/users", token=admin).json()
        out["orgs"] = self.call("GET", "/api/v1/orgs").json()
        out["invitations"] = self.call("GET", "/api/v1/invitations", token=admin).json()
        return json.dumps(out, sort_keys=True)

    def test_read_tokens_change_nothing(self):
        """Scopes: read tokens (even a publisher's) and an admin's token
        without the admin scope are refused every state change, checked by
        the router before the handler, with the scope named."""
        before = self.snapshot()
        cells = 0
        for route, (method, path, body, _) in sorted(WRITES.items()):
            if route == "signup":
                continue  # sign-up takes no token: closed here for every caller
            for tier in TIERS:
                for who in ("publisher-read", "grantee-read"):
                    headers = {"Content-Type": "application/json"} if body else None
                    r = self.srv.request(method, path.format(m="m-" + tier), body, headers,
                                         token=self.tok[who])
                    cells += 1
                    self.assertEqual(r.status, 403, (route, tier, who, r))
                    self.assertEqual(r.headers.get("X-Error-Code"), "InsufficientScope",
                                     (route, tier, who, r))
                    doc = r.json()
                    self.assertEqual(doc["scope_needed"], "admin" if route in ADMIN_SCOPE
                                     else "write", doc)
                    self.assertIn("scope", doc["message"])
        self.assertEqual(cells, (len(WRITES) - 1) * len(TIERS) * 2)
        for route in sorted(ADMIN_SCOPE):
            method, path, body, _ = WRITES[route]
            r = self.srv.request(method, path, body, {"Content-Type": "application/json"},
                                 token=self.tok["admin-write"])
            self.assertEqual(r.status, 403, repr(r))
            self.assertEqual(r.json()["scope_needed"], "admin")
        # the read token still reads what its account may
        r = self.srv.request("GET", "/api/v1/models/acme/m-gated/access",
                             token=self.tok["publisher-read"])
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.snapshot(), before, "a refused request changed something")

    def test_sessions_act_as_their_tokens(self):
        """Every principal signed in through the web UI's session cookie
        (docs/web.md) gets what its token gets, and no more, on the routes
        of the admin page and a sample of the rest; the refused writes (sent
        with the right CSRF token) change nothing; bad tokens get no
        session."""
        before = self.snapshot()
        sample = ["users", "invitations", "orgs", "signup-mode", "whoami", "access-list",
                  "resolve", "license", "org-members"] + sorted(MUTATING)
        cells = 0
        for who in CALLERS:
            if who == "anon":
                continue
            r = self.srv.request("POST", "/api/v1/session",
                                 json.dumps({"token": self.tok[who]}).encode(),
                                 {"Content-Type": "application/json"})
            if who in BAD_TOKEN:
                self.assertEqual(r.status, 401, (who, r))
                continue
            self.assertEqual(r.status, 200, (who, r))
            cookie = r.headers["Set-Cookie"].split(";")[0]
            csrf = r.json()["csrf"]
            for route in sample:
                method, path, body, rule = ROUTES[route]
                if route in MUTATING and who in ("publisher", "admin"):
                    continue
                headers = {"Cookie": cookie}
                if method not in ("GET", "HEAD"):
                    headers["X-CSRF-Token"] = csrf
                if isinstance(body, bytes):
                    headers["Content-Type"] = "application/json"
                payload = body if isinstance(body, bytes) else None
                for tier in ("gated", "withheld"):
                    r = self.srv.request(method, path.format(m="m-" + tier), payload, headers)
                    self.assertLess(r.status, 500, (route, who, r))
                    self.assertEqual(200 <= r.status < 300, rule(tier, who),
                                     (route, tier, who, r))
                    cells += 1
            r = self.srv.request("GET", "/api/v1/session", headers={"Cookie": cookie})
            account = {"publisher-read": "publisher", "grantee-read": "grantee",
                       "admin-write": "admin", "evaluator": EVAL_NAME}.get(who, who)
            self.assertEqual(r.json()["user"], account, r)
        self.assertGreater(cells, 300)
        self.assertEqual(self.snapshot(), before, "a refused request changed something")

    def test_token_expiring_in_the_past_is_refused_at_issue(self):
        r = self.srv.admin("token", "new", "other", "--expires", "2020-01-01", check=False)
        self.assertNotEqual(r.rc, 0, repr(r))
        self.assertIn("past", r.stderr)

    def test_states_are_what_the_matrix_assumes(self):
        want = {"pending": "pending", "grantee": "approved", "denied": "denied",
                "revoked": "revoked", "expired": "expired"}
        for who, status in want.items():
            r = self.call("GET", "/api/v1/models/acme/m-gated/access/me", token=self.tok[who])
            self.assertEqual(r.status, 200, repr(r))
            self.assertEqual(r.json()["status"], status, r.json())
        r = self.call("GET", "/api/v1/models/acme/m-gated/access/me", token=self.tok["removed"])
        self.assertEqual(r.status, 401, repr(r))
        self.assertIn("removed", r.json()["message"])

    def test_refusals_say_what_to_do(self):
        cases = [("m-click", "other", "sluice accept acme/m-click"),
                 ("m-gated", "other", "sluice access request acme/m-gated"),
                 ("m-gated", "denied", "appeal"),
                 ("m-gated", "pending", "sluice access status"),
                 ("m-hosted", "grantee", "inference"),
                 ("m-withheld", "other", "decision")]
        for model, who, hint in cases:
            r = self.srv.request("GET", "/acme/%s/resolve/main/config.json" % model,
                                 token=self.tok[who])
            self.assertEqual(r.status, 403, repr(r))
            doc = r.json()
            self.assertEqual(doc["tier"], model[2:], doc)
            self.assertIn(hint, doc["hint"] + " " + doc["message"], doc)
        r = self.srv.request("GET", "/acme/m-gated/resolve/main/config.json",
                             token=self.tok["revoked"])
        self.assertIn("misuse", r.json()["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
