# SPDX-License-Identifier: Apache-2.0
"""An attacker's and a careless user's review of the web UI backend and of
hosted retention over HTTP (issues 14, 15; docs/web.md, docs/hosted.md
"Retention"), against a real `sluice serve` on 127.0.0.1 over real HTTP.

The session cookie is tried on every other surface (the hosted gateway, Hugging
Face routes, chunk uploads and commits, trace uploads, publisher settings):
without the session's X-CSRF-Token nothing is spent or changed. A cookie the
attacker chose is never a session; odd cookies are anonymous, never a 5xx; a
bearer token wins over a cookie. The CSRF token is tied to its session and
read only from its header. Sign-up refuses look-alike names (other case,
other alphabets), oversized and header-injecting fields, and counts the
socket's address whatever X-Forwarded-For says; invitation codes are not
guessable from their ids, bound to their email, and die with the admin who
made them. Pages refuse traversal, never reflect the path, and org names that
page paths cannot reach are refused. The model card of a gated version is its
README and nothing else. Download answers carry their headers on every status
that carries bytes, honour If-Range, and refuse pushed names that would leave
Content-Disposition. Session answers are never stored by a shared cache.
Retention is read by the model's publishers only, whatever `since` says, and a
listing is bounded by bytes and pages on with `after`. Every route of the
table, with bytes that are not UTF-8 in any parameter, is never a 5xx (a Range
of such bytes once stopped the server). A mirror knows no session. An IPv6
client's sign-ups count by its /64.
"""
import hashlib
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeoai  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402
import test_web_session as tws  # noqa: E402
from test_web_serve import disposition_name  # noqa: E402

JSON = {"Content-Type": "application/json"}
FACTS = {"params": 4224, "training": {"tokens": 1e9}}
CARD = (b"# Card\n\n<script>alert(document.cookie)</script><img src=x onerror=alert(1)>\n"
        b"bad UTF-8: \xff\xfe\xc3(\n")
SIGNUP = tws.SIGNUP


def tearDownModule():
    World.release()


class World(unittest.TestCase):
    """One server with two orgs, a hosted model per org (fake backends), a
    gated, an open and a click model with a hostile card, and the people
    below. Built once for the module's classes (each test changes only what
    it undoes or names of its own)."""

    srv = None

    @classmethod
    def setUpClass(cls):
        if World.srv is not None:
            return
        World.tmp = tempfile.mkdtemp(prefix="sluice-webatk-")
        World.backends = []
        World.srv = sv.Server(os.path.join(World.tmp, "data"), workdir=World.tmp)
        try:
            World.setup_world()
        except BaseException:
            World.release()
            raise

    @classmethod
    def release(cls):
        if World.srv is None:
            return
        try:
            if World.srv.running():
                World.srv.stop()
        finally:
            for b in World.backends:
                b.close()
            World.srv.cleanup()
            shutil.rmtree(World.tmp, ignore_errors=True)
            World.srv = None

    @classmethod
    def push(cls, model, folder, tier, who):
        r = st.run("push", model, folder, "--facts", cls.facts, "--tier", tier, "--json",
                   env=cls.srv.client_env(cls.tok[who], cls.home), timeout=120)
        if r.rc != 0:
            raise AssertionError("push %s: %r" % (model, r))

    @classmethod
    def setup_world(cls):
        srv = cls.srv
        srv.start()
        cls.tok = {"admin": srv.admin_token, "anon": None}
        for who in ("pub", "pub2", "member", "grantee", "revoked"):
            cls.tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_org("beta")
        srv.add_member("acme", "pub", "publisher")
        srv.add_member("beta", "pub2", "publisher")
        srv.add_member("acme", "member", "member")
        cls.facts = os.path.join(cls.tmp, "facts.json")
        with open(cls.facts, "w") as f:
            json.dump(FACTS, f)
        cls.home = os.path.join(cls.tmp, "home")
        cls.backend = fakeoai.Backend()
        cls.backends.append(cls.backend)
        for m, tier, who in (("acme/h", "hosted", "pub"), ("acme/g", "gated", "pub"),
                             ("beta/h", "hosted", "pub2"), ("acme/o", "open", "pub"),
                             ("acme/c", "click", "pub")):
            folder = os.path.join(cls.tmp, m.replace("/", "-"))
            sv.make_model(folder, big=3000)
            with open(os.path.join(folder, "README.md"), "wb") as f:
                f.write(CARD)
            cls.push(m, folder, tier, who)
        for m in ("acme/h", "beta/h"):
            r = st.run("hosted", "backend", "add", m, cls.backend.url, "--backend-model", "tiny",
                       "--data", srv.data, *(["--db", srv.db] if srv.db else []),
                       *srv.store_args, env=sv.clean_env(srv.store_env))
            if r.rc != 0:
                raise AssertionError("backend add %s: %r" % (m, r))
        for m, pub in (("acme/h", "pub"), ("acme/g", "pub"), ("beta/h", "pub2")):
            for who in ("grantee", "revoked"):
                r = srv.request("POST", "/api/v1/models/%s/access" % m, b'{"purpose":"p"}', JSON,
                                token=cls.tok[who])
                assert r.status == 201, r
                r = srv.request("POST", "/api/v1/models/%s/access/%s/approve" % (m, who), b"{}",
                                JSON, token=cls.tok[pub])
                assert r.status == 200, r
        for m, pub in (("acme/g", "pub"), ("acme/h", "pub")):
            r = srv.request("POST", "/api/v1/models/%s/access/revoked/revoke" % m,
                            b'{"reason":"leaked"}', JSON, token=cls.tok[pub])
            assert r.status == 200, r
        cls.shell = srv.request("GET", "/").body

    # ------------------------------------------------------------ helpers

    def req(self, method, path, body=None, cookie=None, csrf=None, token=None, headers=None):
        h = dict(headers or {})
        if cookie is not None:
            h["Cookie"] = "sluice_session=" + cookie
        if csrf is not None:
            h["X-CSRF-Token"] = csrf
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        r = self.srv.request(method, path, body, h, token=token)
        self.assertLess(r.status, 500, (method, path, r))
        return r

    def signin(self, who):
        r = self.req("POST", "/api/v1/session", {"token": self.tok[who]})
        self.assertEqual(r.status, 200, repr(r))
        cookie, _ = tws.cookie_of(r)
        return cookie, r.json()["csrf"]

    def calls(self):
        with self.backend.lock:
            return len(self.backend.requests)

    def usage_calls(self, model):
        r = self.req("GET", "/api/v1/models/%s/hosted/usage" % model, token=self.tok["pub"])
        self.assertEqual(r.status, 200, r)
        return sum(d.get("calls", 0) for d in r.json()["usage"])

    def assert_csrf(self, r, what):
        self.assertEqual(r.status, 403, (what, r))
        self.assertEqual(r.json()["error"], "csrf", (what, r))


class CookieOnEverySurface(World):
    def test_a_cross_site_post_with_the_cookie_spends_no_quota(self):
        cookie, csrf = self.signin("grantee")
        before, used = self.calls(), self.usage_calls("acme/h")
        chat = {"model": "acme/h", "messages": [{"role": "user", "content": "hi"}]}
        # what a form on another site can send: no X-CSRF-Token, any type
        for ctype in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
            r = self.req("POST", "/v1/chat/completions", json.dumps(chat).encode(), cookie=cookie,
                         headers={"Content-Type": ctype})
            self.assert_csrf(r, ctype)
            r = self.req("POST", "/v1/completions",
                         json.dumps({"model": "acme/h", "prompt": "hi"}).encode(), cookie=cookie,
                         headers={"Content-Type": ctype})
            self.assert_csrf(r, ctype)
        r = self.req("POST", "/v1/chat/completions", chat, cookie=cookie, csrf="0" * 64)
        self.assert_csrf(r, "a made-up token")
        self.assertEqual(self.calls(), before, "no backend call was made")
        self.assertEqual(self.usage_calls("acme/h"), used, "no call was counted")
        # with the header the session may call, so the refusals were CSRF's
        r = self.req("POST", "/v1/chat/completions", chat, cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.calls(), before + 1)

    def test_no_push_commit_or_trace_by_cookie_without_csrf(self):
        cookie, csrf = self.signin("pub")
        blob = b"x" * 100
        frame = sv.frame(blob)
        sha = frame[:32].hex()
        boundary = "----sluiceattack"
        multipart = ("--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.bin\""
                     "\r\nContent-Type: application/octet-stream\r\n\r\n" % boundary).encode() \
            + blob + ("\r\n--%s--\r\n" % boundary).encode()
        calls = [
            ("POST", "/api/v1/models/acme/new/chunks/missing", json.dumps([sha]).encode(), JSON),
            ("POST", "/api/v1/models/acme/new/chunks", frame,
             {"Content-Type": "application/octet-stream"}),
            ("POST", "/api/v1/models/acme/new/files/" + sha,
             json.dumps({"size": 100, "chunks": [sha]}).encode(), JSON),
            ("POST", "/api/v1/models/acme/new/versions",
             json.dumps({"files": {"a.bin": sha}, "message": "m"}).encode(), JSON),
            ("POST", "/api/v1/models/acme/g/trace", multipart,
             {"Content-Type": "multipart/form-data; boundary=" + boundary}),
            ("POST", "/api/models/acme/g/paths-info/main", b'{"paths":["README.md"]}', JSON),
            ("POST", "/api/v1/models/acme/g/tier", b'{"tier":"open"}', JSON),
            ("POST", "/api/v1/models/acme/g/access/revoked/approve", b"{}", JSON),
            ("PUT", "/api/v1/models/acme/h/hosted/retention", b'{"days":30}', JSON),
            ("PUT", "/api/v1/models/acme/h/hosted/quota", b'{"rpm":1}', JSON),
            ("PUT", "/api/v1/models/acme/h/hosted/filter", b'{"rules":[]}', JSON),
            ("PUT", "/api/v1/orgs/acme/members/grantee", b'{"role":"publisher"}', JSON),
        ]
        for method, path, body, h in calls:
            r = self.req(method, path, body, cookie=cookie, headers=h)
            self.assert_csrf(r, path)
        # nothing changed
        self.assertEqual(self.req("GET", "/api/v1/models/acme/new").status, 404)
        r = self.req("GET", "/api/v1/models/acme/g/versions/main", token=self.tok["pub"])
        self.assertEqual(r.json()["tier"], "gated")
        r = self.req("GET", "/api/v1/models/acme/h/hosted/retention", token=self.tok["pub"])
        self.assertIsNone(r.json()["retention_days"])
        r = self.req("GET", "/api/v1/models/acme/h/hosted/quota", token=self.tok["pub"])
        self.assertIsNone(r.json()["default"]["rpm"])
        r = self.req("GET", "/api/v1/models/acme/g/access/me", token=self.tok["revoked"])
        self.assertEqual(r.json()["status"], "revoked")
        # the same session with its token does change things (so the 403s were CSRF)
        r = self.req("PUT", "/api/v1/models/acme/h/hosted/quota", {"rpm": 0}, cookie=cookie,
                     csrf=csrf)
        self.assertEqual(r.status, 200, r)

    def test_csrf_token_is_tied_to_its_session_and_read_from_its_header_only(self):
        a_cookie, a_csrf = self.signin("pub")
        b_cookie, b_csrf = self.signin("pub")  # the same user, another session
        path = "/api/v1/models/acme/h/hosted/quota"
        body = {"rpm": 0}
        self.assert_csrf(self.req("PUT", path, body, cookie=a_cookie, csrf=b_csrf), "B's token")
        self.assert_csrf(self.req("PUT", path, body, cookie=b_cookie, csrf=a_csrf), "A's token")
        for q in ("?csrf=", "?X-CSRF-Token=", "?x_csrf_token="):
            r = self.req("PUT", path + q + a_csrf, body, cookie=a_cookie)
            self.assert_csrf(r, q)
        h = {"Cookie": "sluice_session=%s; X-CSRF-Token=%s; csrf=%s" % (a_cookie, a_csrf, a_csrf)}
        self.assert_csrf(self.req("PUT", path, body, headers=h), "token in a cookie")
        # (leading and trailing blanks are the header's optional white space)
        for bad in (a_csrf.upper(), a_csrf + " x", a_csrf[:32], a_csrf * 2, a_csrf[1:] + "0"):
            self.assert_csrf(self.req("PUT", path, body, cookie=a_cookie, csrf=bad), bad)
        # the session cookie sent as the CSRF token is not it either
        self.assert_csrf(self.req("PUT", path, body, cookie=a_cookie, csrf=a_cookie), "cookie")
        self.assertEqual(self.req("PUT", path, body, cookie=a_cookie, csrf=a_csrf).status, 200)

    def test_no_cross_origin_reads_and_no_shared_cache_keeps_a_session_answer(self):
        """No CORS: another origin's script cannot read the CSRF token. A
        shared cache keeps no answer to a request with Authorization, but a
        cookie does not stop it, so what a session reads is no-store and a
        click-tier file fetched by a session is private."""
        cookie, csrf = self.signin("grantee")
        evil = {"Origin": "https://evil.example"}
        for method in ("GET", "OPTIONS"):
            r = self.req(method, "/api/v1/session", cookie=cookie,
                         headers=dict(evil, **{"Access-Control-Request-Method": "PUT"}))
            for k in r.headers:
                self.assertFalse(k.lower().startswith("access-control-"), (method, k))
        r = self.req("POST", "/api/v1/session", {"token": self.tok["grantee"]})
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        for path in ("/api/v1/session", "/api/whoami-v2", "/api/v1/models",
                     "/api/v1/models/acme/c/versions/main/viewer"):
            r = self.req("GET", path, cookie=cookie)
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.headers.get("Cache-Control"), "no-store", path)
            # the same read with a token or by nobody is as before
            r = self.req("GET", path, token=self.tok["grantee"])
            self.assertIsNone(r.headers.get("Cache-Control"), path)
        r = self.req("POST", "/api/v1/models/acme/c/accept", {}, cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 200, r)
        r = self.req("DELETE", "/api/v1/session", cookie=cookie, csrf=csrf)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        cookie, csrf = self.signin("grantee")
        for path in ("/acme/c/resolve/main/README.md",
                     "/api/v1/models/acme/c/versions/main/files/README.md"):
            for h in ({}, {"Range": "bytes=0-3"}):
                r = self.req("GET", path, cookie=cookie, headers=h)
                self.assertIn(r.status, (200, 206), (path, r))
                self.assertEqual(r.headers.get("Cache-Control"), "private", (path, h))
            r = self.req("GET", path, cookie=cookie, headers={"If-None-Match": r.headers["ETag"]})
            self.assertEqual((r.status, r.headers.get("Cache-Control")), (304, "private"), path)
            self.assertIn(self.req("GET", path).status, (401, 403), path)
        r = self.req("GET", "/acme/o/resolve/main/README.md", cookie=cookie)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.headers.get("Cache-Control"), "an open file may be cached")

    def test_get_and_head_change_nothing(self):
        cookie, csrf = self.signin("pub")
        # method overrides a framework might honour are ignored
        for h in ({"X-HTTP-Method-Override": "DELETE"}, {"X-Method-Override": "DELETE"}):
            r = self.req("GET", "/api/v1/session?_method=DELETE", cookie=cookie, headers=h)
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(r.headers.get("Set-Cookie"), "a GET sets no cookie")
        r = self.req("GET", "/api/v1/models/acme/h/hosted/retention?days=30&_method=PUT",
                     cookie=cookie, headers={"X-HTTP-Method-Override": "PUT"})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json()["retention_days"])
        # a state-changing route asked with GET or HEAD is 405 (never run)
        for path in ("/api/v1/orgs/acme/members/grantee", "/api/v1/users/grantee",
                     "/api/v1/invitations/1", "/api/v1/models/acme/g/access/grantee/revoke",
                     "/api/v1/models/acme/g/tier"):
            for m in ("GET", "HEAD"):
                r = self.req(m, path, cookie=cookie)
                self.assertIn(r.status, (404, 405), (m, path, r))
        r = self.req("GET", "/api/v1/models/acme/g/access/me", token=self.tok["grantee"])
        self.assertEqual(r.json()["status"], "approved")
        self.assertEqual(self.req("GET", "/api/v1/session", cookie=cookie).status, 200)

    def test_an_attacker_chosen_cookie_is_never_a_session(self):
        """Session fixation: the attacker plants a cookie value, the victim
        signs in; the server hands out a fresh value and the planted one
        stays nobody."""
        planted = "ab" * 32
        r = self.req("POST", "/api/v1/session", {"token": self.tok["grantee"]},
                     headers={"Cookie": "sluice_session=" + planted})
        self.assertEqual(r.status, 200, r)
        fresh, _ = tws.cookie_of(r)
        self.assertNotEqual(fresh, planted)
        self.assertEqual(self.req("GET", "/api/v1/session", cookie=planted).status, 401)
        self.assertEqual(self.req("GET", "/api/whoami-v2", cookie=planted).status, 401)
        r = self.req("POST", "/v1/chat/completions",
                     {"model": "acme/h", "messages": [{"role": "user", "content": "x"}]},
                     cookie=planted, csrf=r.json()["csrf"])
        self.assertEqual((r.status, r.json()["error"]), (401, "session_expired"), r)
        # the session id's hash or the CSRF token used as the cookie is nobody
        tws_rows = self.sessions()
        for h, csrf in tws_rows:
            for value in (h, csrf):
                self.assertEqual(self.req("GET", "/api/v1/session", cookie=value).status, 401)

    def sessions(self):
        with sv.db_connect(self.srv.data) as c:
            rows = c.execute("SELECT id_hash, csrf FROM web_sessions").fetchall()
        return [((bytes.fromhex(h[2:]) if isinstance(h, str) else bytes(h)).hex(), csrf)
                for h, csrf in rows]

    def test_odd_cookies_are_anonymous_never_a_5xx(self):
        good, csrf = self.signin("grantee")
        odd = [
            "sluice_session=" + "a" * 8000,
            "sluice_session=" + "f" * 63,
            "sluice_session=" + "g" * 64,
            "sluice_session=\"%s\"" % ("ab" * 32),
            "sluice_session=%00" + "a" * 61,
            "sluice_session=\\x00" + "a" * 60,
            "sluice_session=",
            "sluice_session",
            "=; ;;; ==; sluice_session=;",
            "; ".join("c%d=%d" % (i, i) for i in range(300)),
            "sluice_session=%s%%00" % good,
            "sluice_session=%s " % good.upper(),
        ]
        for c in odd:
            r = self.req("GET", "/api/v1/session", headers={"Cookie": c})
            self.assertEqual(r.status, 401, (c[:80], r))
            r = self.req("GET", "/api/v1/models", headers={"Cookie": c})
            self.assertEqual(r.status, 200, (c[:80], r))
            r = self.req("POST", "/api/v1/models/acme/g/accept", {}, headers={"Cookie": c},
                         csrf=csrf)
            self.assertIn(r.status, (401, 403), (c[:80], r))
            self.assertNotEqual(r.status, 200)
        # the good cookie among many others still works; next to a second
        # sluice_session the result is one of the two, never a 5xx
        many = "; ".join(["a=1"] * 50 + ["sluice_session=" + good] + ["b=2"] * 50)
        r = self.req("GET", "/api/v1/session", headers={"Cookie": many})
        self.assertEqual((r.status, r.json()["user"]), (200, "grantee"), r)
        for dup in ("sluice_session=%s; sluice_session=%s" % (good, "0" * 64),
                    "sluice_session=%s; sluice_session=%s" % ("0" * 64, good)):
            r = self.req("GET", "/api/v1/session", headers={"Cookie": dup})
            self.assertIn(r.status, (200, 401), r)

    def test_the_bearer_token_wins_over_the_cookie(self):
        cookie, csrf = self.signin("pub")
        # a bad bearer next to a good cookie: 401, not the cookie's user
        for auth in ("Bearer sl_" + "0" * 64, "Bearer ", "Basic cHViOnB1Yg==", "bearer x"):
            r = self.req("GET", "/api/whoami-v2", cookie=cookie, headers={"Authorization": auth})
            self.assertEqual(r.status, 401, (auth, r))
            r = self.req("PUT", "/api/v1/models/acme/h/hosted/quota", {"rpm": 0}, cookie=cookie,
                         csrf=csrf, headers={"Authorization": auth})
            self.assertEqual(r.status, 401, (auth, r))
        # another user's token: that user, with that user's rights
        r = self.req("GET", "/api/whoami-v2", cookie=cookie, token=self.tok["member"])
        self.assertEqual(r.json()["name"], "member")
        r = self.req("PUT", "/api/v1/models/acme/h/hosted/quota", {"rpm": 0}, cookie=cookie,
                     csrf=csrf, token=self.tok["member"])
        self.assertEqual(r.status, 403, r)
        # a read token of the session's own user: read only, cookie or not
        r = self.srv.admin("token", "new", "pub", "--scopes", "read", "--json")
        read = json.loads(r.stdout)["token"]
        r = self.req("PUT", "/api/v1/models/acme/h/hosted/quota", {"rpm": 0}, cookie=cookie,
                     csrf=csrf, token=read)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.headers.get("X-Error-Code"), "InsufficientScope")
        # GET /api/v1/session answers for the session only, never a bearer
        r = self.req("GET", "/api/v1/session", token=self.tok["pub"])
        self.assertEqual(r.status, 401, r)

    def test_read_scope_admin_token_and_session_manage_nothing(self):
        r = self.srv.admin("token", "new", "admin", "--scopes", "read", "--json")
        read_admin = json.loads(r.stdout)["token"]
        self.tok["read-admin"] = read_admin
        cookie, csrf = self.signin("read-admin")
        for auth in ({"token": read_admin}, {"cookie": cookie, "csrf": csrf}):
            for method, path, body in (("POST", "/api/v1/users", {"user": "sneaky"}),
                                       ("DELETE", "/api/v1/users/grantee", None),
                                       ("POST", "/api/v1/orgs", {"org": "sneaky"}),
                                       ("POST", "/api/v1/invitations", {}),
                                       ("DELETE", "/api/v1/invitations/1", None),
                                       ("POST", "/api/v1/eval/keys", {"user": "grantee"}),
                                       ("GET", "/api/v1/users", None),
                                       ("GET", "/api/v1/invitations", None)):
                r = self.req(method, path, body, **auth)
                self.assertEqual(r.status, 403, (auth.keys(), method, path, r))
        users = self.req("GET", "/api/v1/users", token=self.tok["admin"]).json()
        self.assertNotIn("sneaky", [u["user"] for u in users])
        self.assertFalse([u for u in users if u["user"] == "grantee"][0]["removed"])
        orgs = [o["org"] for o in self.req("GET", "/api/v1/orgs").json()]
        self.assertNotIn("sneaky", orgs)


class Retention(World):
    def items(self, model, who, query=""):
        return self.req("GET", "/api/v1/models/%s/hosted/retention/items%s" % (model, query),
                        token=self.tok[who])

    def test_only_the_models_publishers_read_what_was_kept(self):
        r = self.req("PUT", "/api/v1/models/beta/h/hosted/retention", {"days": 5},
                     token=self.tok["pub2"])
        self.assertEqual(r.status, 200, r)
        self.addCleanup(self.req, "DELETE", "/api/v1/models/beta/h/hosted/retention",
                        token=self.tok["pub2"])
        r = self.req("POST", "/v1/chat/completions",
                     {"model": "beta/h", "messages": [{"role": "user", "content": "SECRET-1"}]},
                     token=self.tok["grantee"])
        self.assertEqual(r.status, 200, r)
        deadline = time.monotonic() + 10  # the call is kept as it ends, after its answer
        while True:
            r = self.items("beta/h", "pub2")
            self.assertEqual(r.status, 200, r)
            if any("SECRET-1" in i["prompt"] for i in r.json()["items"]):
                break
            self.assertLess(time.monotonic(), deadline, "the call was never kept: %r" % r)
            time.sleep(0.05)
        # a publisher of another org, a member, a grantee, a revoked grantee,
        # nobody: none of them, on any of the routes, through any alias
        for who in ("pub", "member", "grantee", "revoked", "anon"):
            for path in ("/api/v1/models/beta/h/hosted/retention/items",
                         "/api/v1/models/beta/h/hosted/retention/items?since=1970-01-02",
                         "/api/v1/models/BETA/h/hosted/retention/items",
                         "/api/v1/models/beta/h/hosted/retention/items/",
                         "/api/v1/models/beta/%68/hosted/retention/items",
                         "/api/v1/models/beta/h/hosted/usage",
                         "/api/v1/models/beta/h/hosted/quota"):
                r = self.req("GET", path, token=self.tok[who])
                self.assertIn(r.status, (401, 403, 404), (who, path, r))
                self.assertNotIn(b"SECRET-1", r.body, (who, path))
        # a revoked token is 401, not its user's old rights
        r = self.srv.admin("token", "new", "pub2", "--json")
        t = json.loads(r.stdout)["token"]
        self.srv.admin("token", "revoke", "--token", t)
        r = self.req("GET", "/api/v1/models/beta/h/hosted/retention/items", token=t)
        self.assertEqual(r.status, 401, r)
        # a removed publisher
        self.srv.add_user("gone")
        self.srv.add_member("beta", "gone", "publisher")
        r = self.srv.admin("token", "new", "gone", "--json")
        gone = json.loads(r.stdout)["token"]
        self.assertEqual(self.req("GET", "/api/v1/models/beta/h/hosted/retention/items",
                                  token=gone).status, 200)
        r = self.req("DELETE", "/api/v1/users/gone", token=self.tok["admin"])
        self.assertEqual(r.status, 200, r)
        r = self.req("GET", "/api/v1/models/beta/h/hosted/retention/items", token=gone)
        self.assertEqual(r.status, 401, r)

    def test_a_huge_listing_is_cut_by_bytes_and_pages_on_with_after(self):
        """Callers choose what is kept, up to 64 KiB a text, and a control
        character is six bytes in JSON: 1,000 rows could make one answer of
        hundreds of MiB. A listing stops at 4 MiB of kept text with `more`,
        and `after=ID` goes on after the last item, also within one day
        (a `since` date alone could never page past a busy day)."""
        with sv.db_connect(self.srv.data) as c:
            mid, vid = c.execute(
                "SELECT m.id, v.id FROM models m JOIN orgs o ON o.id = m.org_id JOIN versions v "
                "ON v.model_id = m.id WHERE o.name = 'beta' AND m.name = 'h'").fetchone()
            now = int(time.time())
            c.executemany(
                "INSERT INTO hosted_retained (model_id, version_id, user_id, created, expires, "
                "endpoint, prompt, prompt_truncated, completion, completion_truncated) "
                "VALUES (?, ?, 0, ?, ?, 'completions', ?, 1, 'x', 0)",
                [(mid, vid, now, now + 3600, "\x01" * 64) for _ in range(70)])
            for _ in range(10):  # 64 KiB each, grown in the database (psql takes no such argv)
                c.execute("UPDATE hosted_retained SET prompt = prompt || prompt "
                          "WHERE model_id = ?", (mid,))
            c.commit()
        # the rows were written behind the server's back: wait until it reads them
        deadline = time.monotonic() + 10
        while not self.req("GET", "/api/v1/models/beta/h/hosted/retention/items?since=1970-01-02",
                           token=self.tok["pub2"]).json()["items"]:
            self.assertLess(time.monotonic(), deadline, "the server never saw the rows")
            time.sleep(0.05)
        base = "/api/v1/models/beta/h/hosted/retention/items?since=1970-01-02"
        seen, after, pages = [], None, 0
        while True:
            r = self.req("GET", base + ("&after=%d" % after if after else ""),
                         token=self.tok["pub2"])
            self.assertEqual(r.status, 200, r)
            self.assertLess(len(r.body), 6 * (4 << 20) + (1 << 20), "bounded by the kept bytes")
            doc = r.json()
            ids = [i["id"] for i in doc["items"]]
            self.assertTrue(ids, (doc["more"], r.body[:300], len(r.body)))
            seen += ids
            pages += 1
            if not doc["more"]:
                break
            after = ids[-1]
        big = [i for i in seen if i not in self.before_big]
        self.assertEqual(len(big), 70, "every row once")
        self.assertEqual(len(set(seen)), len(seen), "no row twice")
        self.assertGreaterEqual(pages, 2)
        for bad in ("x", "-1", "1.5", "", "9" * 30, "1%00"):
            r = self.req("GET", base + "&after=" + bad, token=self.tok["pub2"])
            self.assertEqual(r.status, 400, (bad, r))
            self.assertIn("after", r.json()["message"])
        r = self.req("GET", base + "&after=999999", token=self.tok["pub2"])
        self.assertEqual(r.status, 404, r)
        with sv.db_connect(self.srv.data) as c:
            c.execute("DELETE FROM hosted_retained WHERE model_id = ?", (mid,))
            c.commit()

    def setUp(self):
        with sv.db_connect(self.srv.data) as c:
            self.before_big = {r[0] for r in c.execute("SELECT id FROM hosted_retained")}

    def test_since_far_away_or_odd(self):
        m = "acme/h"
        for q, status in (("?since=9999-12-31", 200), ("?since=1900-01-01", 200),
                          ("?since=1970-01-01", 200), ("?since=1969-12-31", 200),
                          ("?since=0001-01-01", 400), ("?since=%ff%fe", 400),
                          ("?since=" + "%c3%a9" * 40, 400), ("?since=a" + "%c3%a9" * 40, 400),
                          ("?since=2026-12-07&since=2030-01-01", 200),
                          ("?since=99999-01-01", 400), ("?since=-2026-01-01", 400),
                          ("?since=2026-1-1", 400), ("?since=" + "9" * 5000, 400),
                          ("?since=2026-12-07T00:00:00Z", 400), ("?since=%00", 400),
                          ("?since=", 400), ("?since=2026-12-07%0aX", 400)):
            for what in ("retention/items", "usage"):
                r = self.req("GET", "/api/v1/models/%s/hosted/%s%s" % (m, what, q),
                             token=self.tok["pub"])
                self.assertEqual(r.status, status, (what, q[:40], r))
                if status == 400:
                    self.assertLess(len(r.json()["message"]), 200)
                    self.assertNotIn("\n", r.json()["message"])
        r = self.req("GET", "/api/v1/models/%s/hosted/retention/items?since=9999-12-31" % m,
                     token=self.tok["pub"])
        self.assertEqual(r.json()["items"], [])
        self.assertIs(r.json()["more"], False)
        # a page size cannot be asked for: the answer stays bounded
        r = self.req("GET", "/api/v1/models/%s/hosted/retention/items?limit=100000000" % m,
                     token=self.tok["pub"])
        self.assertEqual(r.status, 200, r)


class CardAndDownloads(World):
    def test_the_card_of_a_gated_version_is_exactly_its_readme(self):
        for who in ("anon", "grantee", "revoked", "member"):
            r = self.req("GET", "/api/v1/models/acme/g/versions/main/card", token=self.tok[who])
            self.assertEqual(r.status, 200, (who, r))
            self.assertEqual(r.body, CARD, "the README's bytes, nothing added or removed")
            self.assertEqual(r.headers["Content-Type"], "text/markdown; charset=utf-8")
            self.assertEqual(r.headers["Content-Security-Policy"], "sandbox")
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
            self.assertEqual(r.headers["X-Card-Path"], "README.md")
        # no path of the card route reaches another file
        for extra in ("/model.safetensors", "/../files/model.safetensors", "?path=model.safetensors",
                      "%2f..%2fmodel.safetensors"):
            r = self.req("GET", "/api/v1/models/acme/g/versions/main/card" + extra)
            self.assertNotEqual(r.body, CARD if "?" not in extra else b"", extra)
            if "?" not in extra:
                self.assertIn(r.status, (400, 404), (extra, r))
        # the weights of the gated version stay gated for the same callers
        # (the org's members may download by design, docs/access.md)
        for who in ("anon", "revoked"):
            r = self.req("GET", "/api/v1/models/acme/g/versions/main/files/model.safetensors",
                         token=self.tok[who])
            self.assertIn(r.status, (401, 403), (who, r))

    def test_viewer_of_a_revoked_grantee(self):
        r = self.req("GET", "/api/v1/models/acme/g/versions/main/viewer",
                     token=self.tok["revoked"])
        self.assertEqual(r.status, 200, r)
        v = r.json()
        self.assertIs(v["may_download"], False)
        self.assertTrue(v["reason"])
        cookie, _ = self.signin("revoked")
        r = self.req("GET", "/api/v1/models/acme/g/versions/main/viewer", cookie=cookie)
        self.assertEqual((r.json()["user"], r.json()["may_download"]), ("revoked", False))
        r = self.req("GET", "/api/v1/models/acme/g/versions/main/viewer", token=self.tok["grantee"])
        self.assertIs(r.json()["may_download"], True)
        r = self.req("GET", "/api/v1/models/acme/g/versions/main/viewer",
                     token="sl_" + "0" * 64)
        self.assertEqual(r.status, 401, r)

    def assert_download_headers(self, r, what):
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff", what)
        self.assertEqual(r.headers.get("Content-Security-Policy"), "sandbox", what)
        self.assertTrue(r.headers.get("Content-Disposition", "").startswith(
            'attachment; filename="README.md"'), (what, r.headers))

    def test_every_answer_with_file_bytes_carries_the_download_headers(self):
        tok = self.tok["grantee"]
        base = "/api/v1/models/acme/g/versions/main/files/README.md"
        r = self.req("GET", base, token=tok)
        self.assertEqual(r.status, 200, r)
        etag = r.headers["ETag"]
        cases = [
            ({"Range": "bytes=0-3"}, 206),
            ({"Range": "bytes=-3"}, 206),
            ({"Range": "bytes=0-3", "If-Range": etag}, 206),
            ({"Range": "bytes=0-3", "If-Range": '"stale"'}, 200),
            ({"Range": "bytes=0-3", "If-Range": "W/" + etag}, 200),
            ({"Range": "bytes=0-3", "If-Range": "Wed, 21 Oct 2015 07:28:00 GMT"}, 200),
            ({"If-None-Match": etag}, 304),
        ]
        for path in (base, "/acme/g/resolve/main/README.md", "/acme/g/raw/main/README.md"):
            for h, status in cases:
                r = self.req("GET", path, token=tok, headers=h)
                self.assertEqual(r.status, status, (path, h, r))
                self.assert_download_headers(r, (path, h))
                if status == 200:
                    self.assertEqual(len(r.body), int(r.headers["Content-Length"]))
            r = self.req("HEAD", path, token=tok, headers={"Range": "bytes=0-3"})
            self.assertIn(r.status, (200, 206), r)
            self.assert_download_headers(r, (path, "HEAD"))
            r = self.req("GET", path, token=tok, headers={"Range": "bytes=99999999-"})
            self.assertEqual(r.status, 416, r)
            self.assertNotIn(CARD[:10], r.body)

    def raw(self, target, headers=b""):
        """One request written by hand (bytes a client library would not send)."""
        with self.srv.connect() as sock:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
                         + b"Connection: close\r\n\r\n")
            r = sv.read_raw_response(sock)
        self.assertIsNotNone(r, "the server closed without answering %r" % target)
        self.assertLess(r.status, 500, (target, r))
        self.assertTrue(self.srv.running(), "the server is gone after %r" % target)
        return r

    def test_a_range_that_is_not_utf8_is_a_416_not_a_crash(self):
        """A header quoted in an error message is the client's bytes: a
        Range of bytes that are not UTF-8 once stopped the server (the 416's
        JSON could not be built and was dumped anyway). Such bytes in any
        other message (next test) gave a 500."""
        auth = b"Authorization: Bearer " + self.tok["grantee"].encode() + b"\r\n"
        for path in (b"/api/v1/models/acme/g/versions/main/files/README.md",
                     b"/acme/g/resolve/main/README.md"):
            for rng in (b"bytes=\xff\xfe", b"\xc3", b"bytes=" + b"\xc3\xa9" * 60,
                        b"bytes=a" + b"\xc3\xa9" * 60):
                r = self.raw(path, auth + b"Range: " + rng + b"\r\n")
                self.assertEqual(r.status, 416, (rng, r))
                msg = r.json()["message"]
                self.assertIn("Range", msg)
                self.assert_download_headers(r, rng)
        self.assertEqual(self.req("GET", "/api/v1/health").status, 200)

    def test_messages_quoting_bytes_that_are_not_utf8_are_no_500(self):
        pub = b"Authorization: Bearer " + self.tok["pub"].encode() + b"\r\n"
        for target, h in ((b"/api/v1/models/acme/h/hosted/usage?since=%ff", pub),
                          (b"/api/v1/models/acme/h/hosted/retention/items?since=a"
                           + b"%c3%a9" * 40, pub),
                          (b"/api/v1/models/acme/h/hosted/usage?since=\xff\xfe", pub),
                          (b"/ui/%ff", b""), (b"/ui/a" + b"%c3%a9" * 200, b""),
                          (b"/api/v1/invitations/%ff", b"Authorization: Bearer "
                           + self.tok["admin"].encode() + b"\r\n"),
                          (b"/api/v1/models/acme/g/versions/%ff/card", b""),
                          (b"/api/v1/nothing/\xff\xfe", b""),
                          # a file that is not there, its name cut inside a character
                          (b"/api/v1/models/acme/o/versions/main/files/a" + b"%c3%a9" * 300, b""),
                          (b"/acme/o/resolve/main/a" + b"%c3%a9" * 300, b""),
                          (b"/acme/o/raw/main/a" + b"%c3%a9" * 300, b"")):
            r = self.raw(target, h)
            self.assertGreaterEqual(r.status, 400, (target, r))
            self.assertTrue(r.json()["message"], target)
        self.assertEqual(self.req("GET", "/api/v1/health").status, 200)

    def test_pushed_file_names_cannot_break_the_download_headers(self):
        """Names a publisher (or a stolen publisher token) might push to
        break out of Content-Disposition: control characters, backslashes
        and quotes are refused at commit (400 naming the path); what is
        accepted stays inside the quoted string, exact in filename*."""
        pub = self.tok["pub"]
        blob = b"<html><script>alert(1)</script></html>"
        fr = sv.frame(blob)
        sha = fr[:32].hex()
        r = self.req("POST", "/api/v1/models/acme/names/chunks", fr, token=pub,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        fsha = hashlib.sha256(blob).hexdigest()

        def commit(path):
            return self.req("POST", "/api/v1/models/acme/names/versions",
                            {"files": [{"path": path, "size": len(blob), "sha256": fsha,
                                        "chunks": [sha]}], "facts": FACTS, "tier": "open"},
                            token=pub)

        for bad in ("a\r\nSet-Cookie: x=1.html", "a\nb.html", "a\x00b", "a\x7fb", "a\\b.html",
                    "/etc/passwd", "../x.html", "a/../b", "a//b", "x" * 1025):
            r = commit(bad)
            self.assertEqual(r.status, 400, (bad[:40], r))
            msg = r.json()["message"].lower()
            self.assertTrue("path" in msg or "\\u0000" in msg, (bad[:40], msg))
        self.assertEqual(self.req("GET", "/api/v1/models/acme/names").status, 404)
        # a quote (or < > : | ? *) is refused too: the quoted filename= cannot end early
        for odd in ('q"; filename=evil.html; x=".html', "a<b>.html", "a|b"):
            r = commit(odd)
            self.assertEqual(r.status, 400, (odd, r))
            self.assertIn("not portable", r.json()["message"])
        # what is accepted (';', quote-like and percent characters) stays quoted, exact in filename*
        name = "x%22; filename=evil.html; ’.bin"
        r = commit(name)
        self.assertEqual(r.status, 201, r)
        for path in ("/acme/names/resolve/main/", "/api/v1/models/acme/names/versions/main/files/"):
            d = self.req("GET", path + urllib.parse.quote(name))
            self.assertEqual(d.status, 200, d)
            cd = d.headers["Content-Disposition"]
            self.assertEqual(cd.count('"'), 2, cd)
            self.assertEqual(disposition_name(cd), name)
            self.assertEqual(d.headers["Content-Security-Policy"], "sandbox")

    def test_a_file_name_cannot_inject_a_header(self):
        tok = self.tok["grantee"]
        for name in ("a%0d%0aSet-Cookie:%20sluice_session=x", "a%0aX-Evil:%201", "a%0d",
                     "a%00.bin", "..%2f..%2fadmin.token", "a%22%3b%20filename=x.html"):
            for prefix in ("/api/v1/models/acme/g/versions/main/files/",
                           "/acme/g/resolve/main/"):
                r = self.req("GET", prefix + name, token=tok)
                self.assertIn(r.status, (400, 404), (name, r))
                self.assertIsNone(r.headers.get("Set-Cookie"), name)
                self.assertIsNone(r.headers.get("X-Evil"), name)
                self.assertNotIn("\n", r.json()["message"])


class EveryRoute(World):
    def test_bytes_that_are_not_utf8_in_any_parameter_are_never_a_5xx(self):
        """Each route of the table (src/http/router.c), with each path
        parameter in turn (and a query) replaced by bytes that are not UTF-8
        or by a long name cut inside a character, anonymous, as a user and as
        an admin: some 4xx, never a 5xx, and the server stays up."""
        with open(os.path.join(st.SOURCE, "src", "http", "router.c")) as f:
            table = re.findall(r'\{"([A-Z ]+)", "([^"]+)", sl_h_', f.read())
        self.assertGreater(len(table), 80)
        good = {"{org}": b"acme", "{name}": b"o", "{rev}": b"main", "{path*}": b"README.md",
                "{sha}": b"0" * 64, "{user}": b"zz-nobody", "{id}": b"999999"}
        query = (b"?since=\xff&search=%ff&author=%ff&limit=%ff&start=%ff&end=%ff&user=%ff"
                 b"&revision=%ff&expand=%ff&v=%ff&index=%ff&old=%ff&new=%ff&size=%ff")
        body = b'{"x":"\xff"}'
        for (methods, pattern), who in itertools.product(table, ("anon", "pub", "admin")):
            method = methods.split()[0].encode()
            params = re.findall(r"\{[a-z*]+\}", pattern)
            # all parameters good only where it changes nothing (the world is shared)
            first = -1 if method in (b"GET", b"HEAD") else 0
            for i in range(first, len(params)):
                for bad in (b"%ff%fe", b"a" + b"%c3%a9" * 300):
                    path = pattern.encode()
                    for j, prm in enumerate(params):
                        path = path.replace(prm.encode(), bad if j == i else good[prm], 1)
                    for q in (b"", query) if i == -1 else (b"",):
                        h = b"Content-Type: application/json\r\n"
                        if self.tok[who]:
                            h += b"Authorization: Bearer " + self.tok[who].encode() + b"\r\n"
                        if method in (b"POST", b"PUT"):
                            h += b"Content-Length: %d\r\n" % len(body)
                        with self.srv.connect() as sock:
                            sock.sendall(method + b" " + path + q + b" HTTP/1.1\r\nHost: x\r\n"
                                         + h + b"Connection: close\r\n\r\n"
                                         + (body if method in (b"POST", b"PUT") else b""))
                            r = sv.read_raw_response(sock, head_only=method == b"HEAD")
                        what = (method, path[:90], q[:10], who)
                        self.assertIsNotNone(r, what)
                        self.assertLess(r.status, 500, (what, r))
        self.assertTrue(self.srv.running())


class Mirror(World):
    """A pull-through mirror in front of the registry: it holds no
    sessions, so the registry's cookie is nobody there, and it serves file
    ranges by the same If-Range rule."""

    def setUp(self):
        self.mir = sv.Server(os.path.join(self.tmp, "mirror-%d" % id(self)),
                             workdir=self.tmp, args=["--mirror-of", self.srv.url], origin=None)
        self.addCleanup(self.mir.cleanup)
        self.mir.start()

    def mreq(self, method, path, body=None, headers=None, token=None):
        r = self.mir.request(method, path, body, headers, token=token)
        self.assertLess(r.status, 500, (method, path, r))
        return r

    def test_the_registry_session_is_nobody_on_the_mirror(self):
        cookie, csrf = self.signin("grantee")
        h = {"Cookie": "sluice_session=" + cookie, "X-CSRF-Token": csrf}
        self.assertEqual(self.mreq("GET", "/api/v1/session", headers=h).status, 401)
        self.assertEqual(self.mreq("GET", "/api/whoami-v2", headers=h).status, 401)
        r = self.mreq("GET", "/acme/g/resolve/main/model.safetensors", headers=h)
        self.assertIn(r.status, (401, 403), r)
        before = self.calls()
        r = self.mreq("POST", "/v1/chat/completions",
                      json.dumps({"model": "acme/h", "messages": [{"role": "user",
                                                                   "content": "x"}]}).encode(),
                      headers=dict(h, **JSON))
        self.assertIn(r.status, (401, 403, 404), r)
        self.assertEqual(self.calls(), before)
        r = self.mreq("POST", "/api/v1/models/acme/g/access/me/appeal",
                      b'{"text":"let me in"}', headers=dict(h, **JSON))
        self.assertIn(r.status, (401, 403, 404), r)
        # no session is opened through the mirror either
        r = self.mreq("POST", "/api/v1/session", json.dumps({"token": self.tok["grantee"]}).encode(),
                      headers=JSON)
        self.assertIsNone(r.headers.get("Set-Cookie"), r)

    def test_if_range_on_the_mirror(self):
        path = "/acme/o/resolve/main/README.md"
        whole = self.mreq("GET", path)
        self.assertEqual((whole.status, whole.body), (200, CARD), whole)
        etag = whole.headers["ETag"]
        for h, status, body in (({"Range": "bytes=0-3", "If-Range": etag}, 206, CARD[:4]),
                                ({"Range": "bytes=0-3", "If-Range": '"stale"'}, 200, CARD),
                                ({"Range": "bytes=0-3", "If-Range": "W/" + etag}, 200, CARD),
                                ({"Range": "bytes=0-3"}, 206, CARD[:4])):
            r = self.mreq("GET", path, headers=h)
            self.assertEqual((r.status, r.body), (status, body), (h, r))
            self.assertEqual(r.headers.get("Content-Security-Policy"), "sandbox")
        with self.mir.connect() as sock:
            sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                         b"Range: bytes=\xff\xfe\r\nConnection: close\r\n\r\n")
            r = sv.read_raw_response(sock)
        self.assertEqual(r.status, 416, r)
        self.assertTrue(self.mir.running())


class Pages(World):
    def test_traversal_and_listing_under_ui(self):
        for path in ("/ui/../admin.token", "/ui/%2e%2e/admin.token", "/ui/..%2fadmin.token",
                     "/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/ui/./app.js", "/ui//app.js",
                     "/ui/app.js%00", "/ui/app.js/", "/ui/%5c..%5capp.js", "/ui/APP.JS",
                     "/ui/", "/ui", "/ui/.", "/ui/index.html/..", "/ui/CMakeLists.txt",
                     "/ui/../../data/sluice.db"):
            r = self.req("GET", path)
            self.assertIn(r.status, (400, 404), (path, r))
            self.assertNotIn(b"SQLite", r.body)
            self.assertNotIn(b"sl_", r.body[:200])
        r = self.req("GET", "/ui/" + "a/" * 3000 + "app.js")
        self.assertIn(r.status, (400, 404, 414, 431), r)
        r = self.req("GET", "/" + "x" * 60000)
        self.assertIn(r.status, (400, 404, 414, 431), r)

    def test_head_matches_get_and_validators_hold(self):
        for path in ("/", "/ui/app.js", "/acme/g", "/acme/nope"):
            g = self.req("GET", path, headers={"Accept-Encoding": "identity"})
            h = self.req("HEAD", path, headers={"Accept-Encoding": "identity"})
            self.assertEqual(g.status, h.status, path)
            self.assertEqual(h.body, b"", path)
            self.assertEqual(g.headers["Content-Length"], h.headers["Content-Length"], path)
            self.assertEqual(g.headers["ETag"], h.headers["ETag"], path)
        g = self.req("GET", "/ui/app.js")
        etag = g.headers["ETag"]
        many = ", ".join('"%064x"' % i for i in range(60))
        for inm, status in (("*", 304), (many + ", " + etag, 304), (many, 200),
                            ("W/" + etag, 304), (etag[:-2] + '"', 200), ('"' * 3000, 200), (", ".join(['"x"'] * 3000), (200, 431)),
                            (",,,,", 200), ("", 200)):
            r = self.req("GET", "/ui/app.js", headers={"If-None-Match": inm})
            self.assertIn(r.status, status if isinstance(status, tuple) else (status,),
                          (inm[:60], r))
            if status == 304:
                self.assertEqual(r.body, b"")

    def test_accept_encoding_tricks(self):
        for ae, gz in (("gzip;q=0", False), ("gzip; q=0", False), ("gzip;q=0.000", False),
                       ("GZIP", True), ("x-gzip", True), ("gzip;q=0, *", False),
                       ("*;q=0", False), ("identity", False), ("gzipx", False),
                       ("deflate, br", False), ("gzip;q=1.0", True), ("gzip;q=abc", False),
                       ("gzip;q=0.001", True), (";;;,,,gzip", True), ("g" * 10000, False)):
            r = self.req("GET", "/", headers={"Accept-Encoding": ae})  # the shell compresses
            self.assertEqual(r.status, 200, (ae[:40], r))
            self.assertEqual(r.headers.get("Content-Encoding") == "gzip", gz, ae[:40])
            self.assertEqual(r.headers.get("Vary"), "Accept-Encoding")

    def test_the_404_shell_never_reflects_the_path(self):
        for path in ("/acme/zz-unknown-xyz", "/zz-no-org/zz-unknown-xyz",
                     "/acme/zz-unknown-xyz/history", "/acme/zz-unknown-xyz/manage"):
            r = self.req("GET", path)
            self.assertEqual(r.status, 404, (path, r))
            self.assertEqual(r.body, self.shell, "the same static shell")
            self.assertNotIn(b"zz-unknown", r.body)
        for path in ("/acme/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/acme/a%22%3E%3Cb",
                     "/%3Cimg%20src=x%20onerror=alert(1)%3E/x"):
            r = self.req("GET", path)
            self.assertEqual(r.status, 400, (path, r))
            self.assertTrue(r.headers["Content-Type"].startswith("application/json"), path)
            self.assertNotIn(b"<script", r.body.lower())
            self.assertNotIn(b"<img", r.body.lower())

    def test_org_names_the_pages_cannot_reach_are_refused(self):
        """An org named after the first segment of an API route (docs/web.md,
        "Pages": `api`, `v1`, `log`, `ui`, `metrics`) could never have a model
        page: /ui/NAME is an asset, /log/NAME a log path. Creating one is a
        400 naming the reason, over HTTP and in the CLI; other names work."""
        for org in ("ui", "api", "log", "v1", "metrics"):
            # what a page of such an org's model would be: never the shell
            r = self.req("GET", "/%s/zz-model" % org)
            self.assertNotEqual(r.body, self.shell, org)
            r = self.req("POST", "/api/v1/orgs", {"org": org}, token=self.tok["admin"])
            self.assertEqual(r.status, 400, (org, r))
            self.assertIn("reserved", r.json()["message"], org)
            r = self.srv.admin("org", "add", org, check=False)
            self.assertEqual(r.rc, 2, (org, r))
            self.assertIn("reserved", r.stderr)
        orgs = [o["org"].lower() for o in self.req("GET", "/api/v1/orgs").json()]
        for org in ("ui", "api", "log", "v1", "metrics"):
            self.assertNotIn(org, orgs)
        for org in ("uix", "apis", "logs", "v2", "signin-lab", "UI", "Api"):
            r = self.req("POST", "/api/v1/orgs", {"org": org}, token=self.tok["admin"])
            self.assertEqual(r.status, 201, (org, r))
            # and their model pages are the shell (404: no such model yet)
            r = self.req("GET", "/%s/zz-model" % org)
            self.assertEqual((r.status, r.body), (404, self.shell), org)


class Signup(tws.WebBase):
    ARGS = ("--signup", "open")

    def test_look_alike_user_names_are_refused(self):
        self.srv.add_user("ann")
        self.srv.add_org("acme")
        for user, owner in (("ANN", "ann"), ("Ann", "ann"), ("aNn", "ann"), ("ADMIN", "admin"),
                            ("Admin", "admin")):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user=user))
            self.assertEqual(r.status, 409, (user, r))
            self.assertIn('"%s"' % owner, r.json()["message"])
            self.assertIn("case", r.json()["message"])
            self.assertIsNone(r.headers.get("Set-Cookie"))
        for user in ("\u0430nn", "ann\u200b", "\uff41nn", "ann\u0301", "a\u00adnn"):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user=user))
            self.assertEqual(r.status, 400, (user, r))
            self.assertIn("user", r.json()["message"])
        self.assertEqual(set(self.users()), {"admin", "ann"})

    def test_a_removed_accounts_name_stays_taken_in_every_case(self):
        self.srv.add_user("gone")
        r = self.req("DELETE", "/api/v1/users/gone", token=self.srv.admin_token)
        self.assertEqual(r.status, 200, r)
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="GONE"))
        self.assertEqual(r.status, 409, r)
        self.assertEqual(set(self.users()), {"admin", "gone"})
        # a name in a case of its own is fine
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="Ann-2"))
        self.assertEqual(r.status, 201, r)

    def test_header_injection_and_huge_fields(self):
        n = 0
        for change, field in (({"email": "a@b.org\r\nBcc: all@corp.example"}, "email"),
                              ({"email": "a@b.org\nBcc: x@y.org"}, "email"),
                              ({"email": "a@b.org%0aBcc:x@y.org"}, None),
                              ({"email": "\"a\"@b.org"}, None),
                              ({"name": "Ann\r\nX-Evil: 1"}, "name"),
                              ({"name": "x" * 200000}, "name"),
                              ({"affiliation": "\u2028line"}, None),
                              ({"country": "\x00KE"}, "u0000")):
            n += 1
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="u%d" % n, **change))
            if field:
                self.assertEqual(r.status, 400, (change, r))
                self.assertIn(field, r.json()["message"])
            else:
                self.assertIn(r.status, (201, 400, 413), (str(change)[:60], r))
            self.assertIsNone(r.headers.get("X-Evil"))

    def test_spoofed_forwarded_for_does_not_reset_the_limit(self):
        """Without --trust-proxy yes X-Forwarded-For is the client's word:
        five sign-ups from one socket address, then 429 whatever it says."""
        for i in range(5):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="u%d" % i),
                         headers={"X-Forwarded-For": "10.0.0.%d" % i})
            self.assertEqual(r.status, 201, (i, r))
        for xff in ("10.9.9.9", "1.1.1.1, 2.2.2.2", "", "::1"):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="u9"),
                         headers={"X-Forwarded-For": xff, "X-Real-IP": "3.3.3.3",
                                  "Forwarded": "for=4.4.4.4"})
            self.assertEqual(r.status, 429, (xff, r))
        self.assertNotIn("u9", self.users())


class SignupBehindProxy(tws.WebBase):
    ARGS = ("--trust-proxy", "yes", "--signup", "open")

    def test_an_ipv6_client_counts_by_its_64(self):
        """A host usually holds a whole IPv6 /64: counting single addresses
        would let it sign up without limit by changing the last 64 bits."""
        tls = {"X-Forwarded-Proto": "https"}
        for i in range(5):
            h = dict(tls, **{"X-Forwarded-For": "2001:db8:1:2::%x" % (i + 1)})
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="s%d" % i), headers=h)
            self.assertEqual(r.status, 201, (i, r))
        for addr in ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:DB8:1:2:0:0:0:99",
                     "2001:0db8:0001:0002::7"):
            h = dict(tls, **{"X-Forwarded-For": addr})
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="s9"), headers=h)
            self.assertEqual(r.status, 429, (addr, r))
        h = dict(tls, **{"X-Forwarded-For": "2001:db8:1:3::1"})
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="s9"), headers=h)
        self.assertEqual(r.status, 201, "another /64 has its own count: %r" % r)
        # an IPv4 client keeps its own address's count
        for i in range(2):
            h = dict(tls, **{"X-Forwarded-For": "203.0.113.%d" % (i + 1)})
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="v%d" % i), headers=h)
            self.assertEqual(r.status, 201, (i, r))
        # an IPv4-mapped IPv6 address is its IPv4 address
        for i in range(5):
            h = dict(tls, **{"X-Forwarded-For": "::ffff:198.51.100.7"})
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="m%d" % i), headers=h)
            self.assertEqual(r.status, 201, (i, r))
        h = dict(tls, **{"X-Forwarded-For": "198.51.100.7"})
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="m9"), headers=h)
        self.assertEqual(r.status, 429, r)


class Invitations(tws.WebBase):
    ARGS = ("--signup", "invite")

    def invite(self, body=None, token=None):
        r = self.req("POST", "/api/v1/invitations", body or {},
                     token=token or self.srv.admin_token)
        self.assertEqual(r.status, 201, repr(r))
        return r.json()

    def test_codes_are_not_ids_and_not_guessable(self):
        """An id is not a code; a code is compared whole; and guessing is
        throttled: each wrong code counts against the address's limit."""
        inv = self.invite()
        for guess in (str(inv["id"]), "inv_%d" % inv["id"], inv["code"].upper(),
                      inv["code"][:-1] + ("1" if inv["code"].endswith("0") else "0"), inv["code"][4:]):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=guess))
            self.assertEqual(r.status, 403, (guess, r))
        for guess in ("inv_" + "f" * 64, inv["code"]):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=guess))
            self.assertEqual(r.status, 429, (guess, r))
        self.assertNotIn("newbie", self.users())
        listed = self.req("GET", "/api/v1/invitations", token=self.srv.admin_token).json()
        self.assertIsNone(listed[0]["used_by"])
        # the listing never shows the code, nor anything derived from it
        listed = self.req("GET", "/api/v1/invitations", token=self.srv.admin_token).body
        self.assertNotIn(inv["code"][4:].encode(), listed)
        self.assertNotIn(inv["code"][4:20].encode(), listed)

    def test_without_a_code_no_name_is_confirmed(self):
        """In invite mode the name is checked after the code: an uninvited
        caller gets the same 403 for a taken name as for a free one."""
        self.srv.add_user("ann")
        for user in ("ann", "ANN", "free-name"):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user=user,
                                                        invite="inv_" + "1" * 64))
            self.assertEqual(r.status, 403, (user, r))
            self.assertIn("unknown invitation", r.json()["message"])

    def test_an_addressed_invitation_does_not_move_to_another_address(self):
        inv = self.invite({"email": "ann@example.org"})
        for email in ("ann@example.org.evil.example", "ann@example.org ", "x@example.org",
                      "ann@exampl e.org", "ann+1@example.org"):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, email=email, invite=inv["code"]))
            self.assertIn(r.status, (400, 403), (email, r))
        r = self.req("POST", "/api/v1/signup",
                     dict(SIGNUP, email="ANN@example.ORG", invite=inv["code"]))
        self.assertEqual(r.status, 201, r)

    def test_a_removed_admins_invitations_die_with_it(self):
        r = self.req("POST", "/api/v1/users", {"user": "root2", "admin": True},
                     token=self.srv.admin_token)
        self.assertEqual(r.status, 201, r)
        root2 = r.json()["token"]
        r = self.srv.admin("token", "new", "root2", "--scopes", "read,write,admin", "--json")
        root2 = json.loads(r.stdout)["token"]
        mine = self.invite(token=root2)
        kept = self.invite()
        r = self.req("DELETE", "/api/v1/users/root2", token=self.srv.admin_token)
        self.assertEqual(r.status, 200, r)
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=mine["code"]))
        self.assertEqual(r.status, 403, r)
        self.assertIn("removed", r.json()["message"])
        self.assertNotIn("newbie", self.users())
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=kept["code"]))
        self.assertEqual(r.status, 201, r)


if __name__ == "__main__":
    unittest.main()
