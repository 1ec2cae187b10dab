# SPDX-License-Identifier: Apache-2.0
"""The web UI's accounts (docs/web.md, "Sessions"), against a real `sluice
serve` over real HTTP: signing in and out with the sluice_session cookie,
its attributes, the CSRF rule, what ends a session (sign-out, expiry, a
revoked token, a removed account), sign-up closed / by invitation / open
with its per-address limit (kept in the database: a restart keeps it, old
sign-ups are pruned, the address only as a keyed hash) and field checks, invitations, and the admin
calls for users and orgs. Sessions and sign-ups never enter the public log.
"""
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402

JSON = {"Content-Type": "application/json"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def cookie_of(r):
    """(value, attributes) of the sluice_session Set-Cookie of answer R."""
    h = r.headers.get("Set-Cookie")
    assert h, "no Set-Cookie in %r" % r
    parts = [p.strip() for p in h.split(";")]
    name, _, value = parts[0].partition("=")
    assert name == "sluice_session", h
    return value, parts[1:]


class WebBase(unittest.TestCase):
    ARGS = ()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-web-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.srv = sv.Server(os.path.join(self.tmp, "data"), workdir=self.tmp, args=self.ARGS)
        self.addCleanup(self.srv.cleanup)
        self.srv.start()

    def tearDown(self):
        if self.srv.running():
            self.srv.stop()

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
        self.assertLess(r.status, 500, repr(r))
        return r

    def signin(self, token, headers=None):
        r = self.req("POST", "/api/v1/session", {"token": token}, headers=headers)
        self.assertEqual(r.status, 200, repr(r))
        value, _ = cookie_of(r)
        doc = r.json()
        return value, doc["csrf"], doc, r

    def sessions(self):
        with sv.db_connect(self.srv.data) as c:
            rows = c.execute("SELECT id_hash, csrf, expires FROM web_sessions").fetchall()
        return [(bytes.fromhex(h[2:]) if isinstance(h, str) else bytes(h), csrf, int(e))
                for h, csrf, e in rows]

    def sql(self, sql, params=()):
        with sv.db_connect(self.srv.data) as c:
            c.execute(sql, params)
            c.commit()

    def users(self):
        r = self.req("GET", "/api/v1/users", token=self.srv.admin_token)
        self.assertEqual(r.status, 200, repr(r))
        return {u["user"]: u for u in r.json()}

    def log_size(self):
        with sv.db_connect(self.srv.data) as c:
            return int(c.execute("SELECT count(*) FROM log_entries").fetchone()[0])


class Sessions(WebBase):
    def test_sign_in_read_and_sign_out(self):
        tok = self.srv.add_user("ann")
        self.srv.add_org("lab")
        self.srv.add_member("lab", "ann", "publisher")
        cookie, csrf, doc, r = self.signin(tok)
        self.assertEqual(doc["user"], "ann")
        self.assertIs(doc["admin"], False)
        self.assertEqual(doc["scopes"], ["read", "write"])
        self.assertRegex(doc["csrf"], HEX64)
        self.assertRegex(cookie, HEX64)
        self.assertNotEqual(cookie, csrf)
        self.assertNotIn(tok, r.body.decode())  # the token is not echoed
        # the session's reads: GET /api/v1/session and any route as ann
        r = self.req("GET", "/api/v1/session", cookie=cookie)
        self.assertEqual(r.status, 200, repr(r))
        got = r.json()
        self.assertEqual((got["user"], got["csrf"], got["expires"]),
                         (doc["user"], doc["csrf"], doc["expires"]))
        self.assertEqual(got["orgs"], [{"org": "lab", "role": "publisher"}])
        r = self.req("GET", "/api/whoami-v2", cookie=cookie)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json()["name"], "ann")
        # sign-out needs the CSRF token too
        r = self.req("DELETE", "/api/v1/session", cookie=cookie)
        self.assertEqual((r.status, r.json()["error"]), (403, "csrf"), repr(r))
        self.assertEqual(len(self.sessions()), 1)
        r = self.req("DELETE", "/api/v1/session", cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 200, repr(r))
        value, attrs = cookie_of(r)
        self.assertEqual(value, "")
        self.assertIn("Max-Age=0", attrs)
        self.assertEqual(self.sessions(), [], "the session is gone on the server")
        # the old cookie: anonymous on GET, 401 session_expired on a change
        r = self.req("GET", "/api/v1/session", cookie=cookie)
        self.assertEqual(r.status, 401, repr(r))
        r = self.req("GET", "/api/whoami-v2", cookie=cookie)
        self.assertEqual(r.status, 401, repr(r))
        r = self.req("GET", "/api/v1/models", cookie=cookie)
        self.assertEqual(r.status, 200, repr(r))
        r = self.req("POST", "/api/v1/models/lab/x/access", {"purpose": "p"}, cookie=cookie,
                     csrf=csrf)
        self.assertEqual((r.status, r.json()["error"]), (401, "session_expired"), repr(r))

    def test_cookie_attributes_on_loopback(self):
        tok = self.srv.add_user("ann")
        _, _, doc, r = self.signin(tok)
        _, attrs = cookie_of(r)
        self.assertIn("HttpOnly", attrs)
        self.assertIn("SameSite=Strict", attrs)
        self.assertIn("Path=/", attrs)
        self.assertNotIn("Secure", attrs, "plain http on loopback: no Secure")
        age = int([a for a in attrs if a.startswith("Max-Age=")][0][8:])
        self.assertTrue(12 * 3600 - 60 <= age <= 12 * 3600, age)  # the default 12 hours

    def test_bad_sign_ins(self):
        tok = self.srv.add_user("ann")
        cases = [({"token": "sl_" + secrets.token_hex(32)}, 401),
                 ({"token": "nonsense"}, 401),
                 ({}, 400),
                 ({"token": tok, "extra": 1}, 400),
                 ({"token": 5}, 400),
                 (b"not json", 400),
                 (b"[]", 400)]
        for body, status in cases:
            r = self.req("POST", "/api/v1/session", body, headers=JSON)
            self.assertEqual(r.status, status, (body, r))
            self.assertIsNone(r.headers.get("Set-Cookie"), body)
            self.assertTrue(r.json()["message"])
        self.assertEqual(self.sessions(), [])
        self.srv.admin("token", "revoke", "--token", tok)
        r = self.req("POST", "/api/v1/session", {"token": tok})
        self.assertEqual(r.status, 401, repr(r))
        self.assertIn("revoked", r.json()["message"])

    def test_another_site_cannot_sign_a_visitor_in(self):
        """Login CSRF: a cross-site form can send text/plain or a urlencoded
        body, never application/json; a browser marks it cross-site."""
        tok = self.srv.add_user("mallory")
        body = json.dumps({"token": tok}).encode()
        for h in ({"Content-Type": "text/plain"},
                  {"Content-Type": "application/x-www-form-urlencoded"},
                  {"Content-Type": "application/jsonx"}, {}):
            r = self.req("POST", "/api/v1/session", body, headers=h)
            self.assertEqual(r.status, 400, (h, r))
            self.assertIn("application/json", r.json()["message"])
            self.assertIsNone(r.headers.get("Set-Cookie"), h)
        r = self.req("POST", "/api/v1/session", body,
                     headers=dict(JSON, **{"Sec-Fetch-Site": "cross-site"}))
        self.assertEqual(r.status, 403, repr(r))
        self.assertIsNone(r.headers.get("Set-Cookie"))
        self.assertEqual(self.sessions(), [])
        for h in ({"Content-Type": "application/json; charset=utf-8"},
                  dict(JSON, **{"Sec-Fetch-Site": "same-origin"})):
            r = self.req("POST", "/api/v1/session", body, headers=h)
            self.assertEqual(r.status, 200, (h, r))

    def test_session_id_is_stored_only_hashed(self):
        tok = self.srv.add_user("ann")
        cookie, csrf, _, _ = self.signin(tok)
        rows = self.sessions()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][0], hashlib.sha256(cookie.encode()).digest())
        with sv.db_connect(self.srv.data) as c:
            row = c.execute("SELECT * FROM web_sessions").fetchone()
        for col in row:
            self.assertNotIn(cookie, str(col))
            if isinstance(col, (bytes, bytearray, memoryview)):
                self.assertNotEqual(bytes(col), bytes.fromhex(cookie))
        if self.srv.db is None:  # SQLite: not anywhere in the file either
            self.srv.stop()
            for name in os.listdir(self.srv.data):
                if name.startswith("sluice.db"):
                    with open(os.path.join(self.srv.data, name), "rb") as f:
                        blob = f.read()
                    self.assertNotIn(cookie.encode(), blob, name)
                    self.assertNotIn(bytes.fromhex(cookie), blob, name)

    def test_csrf_missing_or_wrong_changes_nothing(self):
        cookie, csrf, doc, _ = self.signin(self.srv.admin_token)
        self.assertIs(doc["admin"], True)
        other_cookie, other_csrf, _, _ = self.signin(self.srv.admin_token)
        self.assertNotEqual(csrf, other_csrf)
        for bad in (None, "", "0" * 64, other_csrf, csrf.upper(), csrf[:-1], csrf + "0"):
            r = self.req("POST", "/api/v1/orgs", {"org": "made"}, cookie=cookie, csrf=bad)
            self.assertEqual(r.status, 403, (bad, r))
            self.assertEqual(r.json()["error"], "csrf", (bad, r))
        r = self.req("GET", "/api/v1/orgs")
        self.assertNotIn("made", [o["org"] for o in r.json()])
        for method, path, body in (("POST", "/api/v1/users", {"user": "x"}),
                                   ("DELETE", "/api/v1/users/x", None),
                                   ("POST", "/api/v1/invitations", {})):
            r = self.req(method, path, body, cookie=cookie)
            self.assertEqual((r.status, r.json()["error"]), (403, "csrf"), (path, r))
        self.assertNotIn("x", self.users())
        r = self.req("GET", "/api/v1/invitations", token=self.srv.admin_token)
        self.assertEqual(r.json(), [])
        # with it, the same call works
        r = self.req("POST", "/api/v1/orgs", {"org": "made"}, cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 201, repr(r))
        self.assertIn("made", [o["org"] for o in self.req("GET", "/api/v1/orgs").json()])
        # a bearer token needs no CSRF token (it is not ambient)
        r = self.req("POST", "/api/v1/orgs", {"org": "made2"}, token=self.srv.admin_token)
        self.assertEqual(r.status, 201, repr(r))

    def test_read_scope_session_cannot_write(self):
        self.srv.add_user("ann")
        r = self.srv.admin("token", "new", "admin", "--scopes", "read", "--json")
        read_admin = json.loads(r.stdout)["token"]
        cookie, csrf, doc, _ = self.signin(read_admin)
        self.assertEqual(doc["scopes"], ["read"])
        self.assertIs(doc["admin"], False, "an admin's read token is not an admin's")
        r = self.req("POST", "/api/v1/orgs", {"org": "nope"}, cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 403, repr(r))
        r = self.req("DELETE", "/api/v1/users/ann", cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 403, repr(r))
        self.assertFalse(self.users()["ann"]["removed"])
        self.assertNotIn("nope", [o["org"] for o in self.req("GET", "/api/v1/orgs").json()])
        r = self.srv.admin("token", "new", "ann", "--scopes", "read", "--json")
        cookie, csrf, doc, _ = self.signin(json.loads(r.stdout)["token"])
        self.srv.add_org("lab")
        r = self.req("POST", "/api/v1/models/lab/m/access", {"purpose": "p"}, cookie=cookie,
                     csrf=csrf)
        self.assertEqual(r.status, 403, repr(r))
        self.assertEqual(r.json()["scope_needed"], "write")
        # signing out changes no registry state: a read session may
        r = self.req("DELETE", "/api/v1/session", cookie=cookie, csrf=csrf)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.req("GET", "/api/v1/session", cookie=cookie).status, 401)

    def test_revoked_token_ends_its_session_only(self):
        self.srv.add_user("ann")
        tok1 = self.srv.add_user("bob")
        r = self.srv.admin("token", "new", "bob", "--json")
        tok2 = json.loads(r.stdout)["token"]
        c1, csrf1, _, _ = self.signin(tok1)
        c2, _, _, _ = self.signin(tok2)
        self.srv.admin("token", "revoke", "--token", tok1)
        r = self.req("GET", "/api/v1/session", cookie=c1)
        self.assertEqual(r.status, 401, repr(r))
        r = self.req("DELETE", "/api/v1/session", cookie=c1, csrf=csrf1)
        self.assertEqual((r.status, r.json()["error"]), (401, "session_expired"), repr(r))
        r = self.req("GET", "/api/v1/session", cookie=c2)
        self.assertEqual(r.status, 200, "the other token's session lives on: %r" % r)
        self.assertEqual(len(self.sessions()), 1, "the dead session was deleted on use")

    def test_at_most_twenty_sessions_per_user(self):
        """Signing in a 21st time ends the oldest sessions (by the second
        they were opened; within one second any of them), never the new one,
        and not another user's."""
        tok = self.srv.add_user("cat")
        other = self.srv.add_user("dan")
        oc, _, _, _ = self.signin(other)
        old = [self.signin(tok)[0] for _ in range(3)]
        time.sleep(1.1)
        new = [self.signin(tok)[0] for _ in range(20)]

        def alive(cookies):
            return [self.req("GET", "/api/v1/session", cookie=c).status for c in cookies]

        self.assertEqual(alive(old), [401] * 3)
        self.assertEqual(alive(new), [200] * 20)
        last = self.signin(tok)[0]
        self.assertEqual(alive([last]), [200], "the new session is never the one ended")
        self.assertEqual(sorted(alive(new)), [200] * 19 + [401])
        self.assertEqual(alive([oc]), [200], "another user's session is untouched")
        self.assertEqual(len(self.sessions()), 21)

    def test_expired_token_ends_the_session(self):
        self.srv.add_user("ann")
        r = self.srv.admin("token", "new", "ann", "--expires", "2099-01-01", "--json")
        tok = json.loads(r.stdout)["token"]
        cookie, _, _, _ = self.signin(tok)
        self.assertEqual(self.req("GET", "/api/v1/session", cookie=cookie).status, 200)
        self.sql("UPDATE tokens SET expires = %d WHERE expires IS NOT NULL"
                 % int(time.time() - 1))
        r = self.req("GET", "/api/v1/session", cookie=cookie)
        self.assertEqual(r.status, 401, repr(r))
        self.assertEqual(self.sessions(), [])

    def test_removed_user_ends_the_session(self):
        tok = self.srv.add_user("ann")
        cookie, csrf, _, _ = self.signin(tok)
        admin_cookie, admin_csrf, _, _ = self.signin(self.srv.admin_token)
        r = self.req("DELETE", "/api/v1/users/ann", cookie=admin_cookie, csrf=admin_csrf)
        self.assertEqual(r.status, 200, repr(r))
        self.assertTrue(self.users()["ann"]["removed"])
        r = self.req("GET", "/api/v1/session", cookie=cookie)
        self.assertEqual(r.status, 401, repr(r))
        r = self.req("POST", "/api/v1/session", {"token": tok})
        self.assertEqual(r.status, 401, repr(r))

    def test_sessions_and_signups_are_not_logged(self):
        tok = self.srv.add_user("ann")
        time.sleep(1.2)  # let the start's own entries (policy packs) land
        before = self.log_size()
        cookie, csrf, _, _ = self.signin(tok)
        self.req("GET", "/api/v1/session", cookie=cookie)
        self.req("DELETE", "/api/v1/session", cookie=cookie, csrf=csrf)
        time.sleep(1.2)
        self.assertEqual(self.log_size(), before)


class Expiry(WebBase):
    ARGS = ("--session-hours", "1")

    def test_session_hours_and_expiry(self):
        tok = self.srv.add_user("ann")
        t0 = time.time()
        cookie, csrf, doc, r = self.signin(tok)
        _, attrs = cookie_of(r)
        age = int([a for a in attrs if a.startswith("Max-Age=")][0][8:])
        self.assertTrue(3600 - 60 <= age <= 3600, age)
        rows = self.sessions()
        self.assertTrue(t0 + 3600 - 60 <= rows[0][2] <= t0 + 3600 + 60, rows)
        self.assertEqual(self.req("GET", "/api/v1/session", cookie=cookie).status, 200)
        # one second past its end, moved in the database
        self.sql("UPDATE web_sessions SET expires = %d" % int(time.time() - 1))
        r = self.req("GET", "/api/v1/models", cookie=cookie)
        self.assertEqual(r.status, 200, "an expired cookie reads as anonymous: %r" % r)
        self.assertEqual(self.sessions(), [], "an expired session is deleted on use")
        r = self.req("GET", "/api/v1/session", cookie=cookie)
        self.assertEqual(r.status, 401, repr(r))
        r = self.req("POST", "/api/v1/models/lab/m/accept", {}, cookie=cookie, csrf=csrf)
        self.assertEqual((r.status, r.json()["error"]), (401, "session_expired"), repr(r))
        r = self.req("HEAD", "/lab/m/resolve/main/config.json", cookie=cookie)
        self.assertEqual(r.status, 404, "HEAD with a dead cookie is anonymous too: %r" % r)
        # a fresh sign-in works with the stale cookie still in the browser
        r = self.req("POST", "/api/v1/session", {"token": tok}, cookie=cookie)
        self.assertEqual(r.status, 200, repr(r))

    def test_the_ticker_reaps_dead_sessions(self):
        tok = self.srv.add_user("ann")
        self.signin(tok)
        self.signin(tok)
        self.sql("UPDATE web_sessions SET expires = %d" % int(time.time() - 1))
        self.srv.stop()  # the first round after a start reaps
        self.srv.start()
        deadline = time.time() + 10
        while self.sessions() and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.sessions(), [])


class BehindProxy(WebBase):
    ARGS = ("--trust-proxy", "yes")

    def test_secure_cookie_only_over_tls(self):
        tok = self.srv.add_user("ann")
        _, _, _, r = self.signin(tok, headers={"X-Forwarded-Proto": "https"})
        _, attrs = cookie_of(r)
        self.assertIn("Secure", attrs)
        self.assertIn("HttpOnly", attrs)
        self.assertIn("SameSite=Strict", attrs)
        # the proxy says plain http (or nothing): no session is handed out
        for h in ({}, {"X-Forwarded-Proto": "http"}):
            r = self.req("POST", "/api/v1/session", {"token": tok}, headers=h)
            self.assertEqual(r.status, 403, (h, r))
            self.assertIsNone(r.headers.get("Set-Cookie"))
            self.assertIn("TLS", r.json()["message"])
        self.assertEqual(len(self.sessions()), 1)


class ProxySignup(WebBase):
    ARGS = ("--trust-proxy", "yes", "--signup", "open")

    def test_limit_counts_the_address_the_proxy_saw(self):
        tls = {"X-Forwarded-Proto": "https"}
        for i in range(5):
            # what the client claims comes first; the proxy appends what it saw
            h = dict(tls, **{"X-Forwarded-For": "10.9.9.%d, 203.0.113.7" % i})
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="p%d" % i), headers=h)
            self.assertEqual(r.status, 201, (i, r))
            self.assertIn("Secure", cookie_of(r)[1])
        h = dict(tls, **{"X-Forwarded-For": "10.0.0.99, 203.0.113.7"})
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="p5"), headers=h)
        self.assertEqual(r.status, 429, repr(r))
        h = dict(tls, **{"X-Forwarded-For": "198.51.100.1"})
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="p6"), headers=h)
        self.assertEqual(r.status, 201, "another address has its own count: %r" % r)
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="p7"),
                     headers={"X-Forwarded-For": "192.0.2.1"})
        self.assertEqual(r.status, 403, "no session cookie without TLS: %r" % r)


SIGNUP = {"user": "newbie", "name": "New Bie", "email": "new@example.org",
          "affiliation": "Univ. of Nairobi", "country": "Kenya"}


class SignupClosed(WebBase):
    def test_closed_by_default(self):
        r = self.req("GET", "/api/v1/signup")
        self.assertEqual(r.json(), {"mode": "closed"})
        r = self.req("POST", "/api/v1/signup", SIGNUP)
        self.assertEqual(r.status, 403, repr(r))
        self.assertIn("closed", r.json()["message"])
        self.assertNotIn("newbie", self.users())


class SignupOpen(WebBase):
    ARGS = ("--signup", "open")

    def test_sign_up_gets_a_token_a_session_and_a_profile(self):
        self.assertEqual(self.req("GET", "/api/v1/signup").json(), {"mode": "open"})
        r = self.req("POST", "/api/v1/signup", SIGNUP)
        self.assertEqual(r.status, 201, repr(r))
        doc = r.json()
        self.assertEqual(doc["user"], "newbie")
        self.assertRegex(doc["token"], r"^sl_[0-9a-f]{64}$")
        self.assertEqual(doc["scopes"], ["read", "write"], "write: they can request access")
        cookie, attrs = cookie_of(r)
        self.assertIn("HttpOnly", attrs)
        r = self.req("GET", "/api/v1/session", cookie=cookie)
        self.assertEqual(r.json()["user"], "newbie")
        r = self.req("GET", "/api/whoami-v2", token=doc["token"])
        self.assertEqual(r.json()["name"], "newbie")
        u = self.users()["newbie"]
        self.assertEqual(u["profile"], {"name": "New Bie", "email": "new@example.org",
                                        "affiliation": "Univ. of Nairobi", "country": "Kenya"})
        self.assertIs(u["admin"], False)
        # the same name again
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, email="other@example.org"))
        self.assertEqual(r.status, 409, repr(r))
        self.assertIn("newbie", r.json()["message"])
        self.assertEqual(self.users()["newbie"]["profile"]["email"], "new@example.org")

    def test_bad_fields_name_the_field(self):
        cases = [
            ({"user": "bad name"}, "user"),
            ({"user": "../x"}, "user"),
            ({"user": ""}, "user"),
            ({"user": "x" * 97}, "user"),
            ({"name": ""}, "name"),
            ({"name": "n" * 201}, "name"),
            ({"name": "a\nb"}, "name"),
            ({"email": "no-at-sign"}, "email"),
            ({"email": "a@b"}, "email"),
            ({"email": "a@@b.org"}, "email"),
            ({"email": "a b@c.org"}, "email"),
            ({"email": "@c.org"}, "email"),
            ({"email": "a@" + "b" * 200 + ".org"}, "email"),
            ({"affiliation": "x" * 201}, "affiliation"),
            ({"country": "c" * 65}, "country"),
            ({"country": "K\x7fE"}, "country"),
            ({"extra": "x"}, "extra"),
            ({"user": 7}, "user"),
            ({"email": ["a@b.org"]}, "email"),
        ]
        for change, field in cases:
            body = dict(SIGNUP, **change)
            r = self.req("POST", "/api/v1/signup", body)
            self.assertEqual(r.status, 400, (change, r))
            self.assertIn(field, r.json()["message"], (change, r.json()))
        r = self.req("POST", "/api/v1/signup", {k: v for k, v in SIGNUP.items() if k != "email"})
        self.assertEqual(r.status, 400)
        self.assertIn("email", r.json()["message"])
        for raw in (b"{", b"[1]", b""):
            r = self.req("POST", "/api/v1/signup", raw, headers=JSON)
            self.assertEqual(r.status, 400, (raw, r))
        r = self.req("POST", "/api/v1/signup", json.dumps(SIGNUP).encode(),
                     headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 400, "a cross-site form cannot sign up: %r" % r)
        self.assertEqual(set(self.users()), {"admin"})
        # bad input does not count against the limit: a good one still works
        r = self.req("POST", "/api/v1/signup", SIGNUP)
        self.assertEqual(r.status, 201, repr(r))
        # at the limits exactly is fine
        r = self.req("POST", "/api/v1/signup",
                     dict(SIGNUP, user="u" * 96, name="n" * 200, country="c" * 64))
        self.assertEqual(r.status, 201, repr(r))

    def test_rate_limit_per_address(self):
        for i in range(5):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="u%d" % i))
            self.assertEqual(r.status, 201, (i, r))
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="u5"))
        self.assertEqual(r.status, 429, repr(r))
        self.assertEqual(r.json()["error"], "too_many_requests")
        self.assertIn("hour", r.json()["message"])
        self.assertNotIn("u5", self.users())
        # an admin still creates accounts
        r = self.req("POST", "/api/v1/users", {"user": "u5"}, token=self.srv.admin_token)
        self.assertEqual(r.status, 201, repr(r))

    def signup_rows(self):
        """(address hash, time) of every sign-up the limit counts."""
        with sv.db_connect(self.srv.data) as c:
            rows = c.execute("SELECT addr_hash, at FROM signup_attempts").fetchall()
        return [(bytes.fromhex(h[2:]) if isinstance(h, str) else bytes(h), int(t))
                for h, t in rows]

    def addr_hash(self, addr):
        """HMAC-SHA-256 of "signup\n" + ADDR under the log secret (docs/web.md)."""
        with open(os.path.join(self.srv.data, "log.secret")) as f:
            secret = bytes.fromhex(f.read().strip())
        return hmac.new(secret, b"signup\n" + addr.encode(), hashlib.sha256).digest()

    def test_limit_survives_a_restart_and_names_no_address(self):
        for i in range(3):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="r%d" % i))
            self.assertEqual(r.status, 201, (i, r))
        rows = self.signup_rows()
        self.assertEqual(len(rows), 3)
        mine = self.addr_hash("127.0.0.1")
        for h, t in rows:
            # a keyed hash: not the address, not a bare SHA-256 of it
            self.assertEqual(h, mine)
            self.assertNotEqual(h, hashlib.sha256(b"127.0.0.1").digest())
            self.assertLessEqual(abs(t - time.time()), 5)
        self.srv.stop()
        self.srv.start()
        for i in range(3, 5):
            r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="r%d" % i))
            self.assertEqual(r.status, 201, (i, r))
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="r5"))
        self.assertEqual(r.status, 429, "the restart forgot the count: %r" % r)
        self.assertNotIn("r5", self.users())
        # a refused sign-up is not recorded
        self.assertEqual(len(self.signup_rows()), 5)

    def test_the_hour_slides_and_old_signups_are_deleted(self):
        now = int(time.time())
        mine = self.addr_hash("127.0.0.1")
        with sv.db_connect(self.srv.data) as c:
            # four inside the hour count; one just over an hour old does not
            c.executemany("INSERT INTO signup_attempts (addr_hash, at) VALUES (?, ?)",
                          [(mine, now - 3000)] * 4 + [(mine, now - 3700)])
            c.commit()
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="h0"))
        self.assertEqual(r.status, 201, repr(r))
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="h1"))
        self.assertEqual(r.status, 429, repr(r))
        # the leader's ticker deletes the old row at its first round after a start
        self.srv.stop()
        self.srv.start()
        deadline = time.monotonic() + 15
        while any(t <= now - 3600 for _, t in self.signup_rows()):
            self.assertLess(time.monotonic(), deadline, "the old sign-up was not deleted")
            time.sleep(0.2)
        self.assertEqual(len(self.signup_rows()), 5, "only the old one may go")

    def test_signup_is_not_logged(self):
        time.sleep(1.2)
        before = self.log_size()
        r = self.req("POST", "/api/v1/signup", SIGNUP)
        self.assertEqual(r.status, 201, repr(r))
        time.sleep(1.2)
        self.assertEqual(self.log_size(), before)


class SignupInvite(WebBase):
    ARGS = ("--signup", "invite")

    def invite(self, body=None):
        r = self.req("POST", "/api/v1/invitations", body or {}, token=self.srv.admin_token)
        self.assertEqual(r.status, 201, repr(r))
        return r.json()

    def test_invitations(self):
        self.assertEqual(self.req("GET", "/api/v1/signup").json(), {"mode": "invite"})
        r = self.req("POST", "/api/v1/signup", SIGNUP)
        self.assertEqual(r.status, 403, repr(r))
        self.assertIn("invitation", r.json()["message"])
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite="inv_" + "0" * 64))
        self.assertEqual(r.status, 403, repr(r))
        inv = self.invite()
        self.assertRegex(inv["code"], r"^inv_[0-9a-f]{64}$")
        listed = self.req("GET", "/api/v1/invitations", token=self.srv.admin_token).json()
        self.assertEqual([(i["id"], i["used_by"], i["email"]) for i in listed],
                         [(inv["id"], None, None)])
        self.assertNotIn("code", listed[0], "the code is shown once")
        self.assertEqual(listed[0]["expires"], inv["expires"])
        with sv.db_connect(self.srv.data) as c:
            (h,) = c.execute("SELECT code_hash FROM invitations").fetchone()
        h = bytes.fromhex(h[2:]) if isinstance(h, str) else bytes(h)
        self.assertEqual(h, hashlib.sha256(inv["code"].encode()).digest())
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=inv["code"]))
        self.assertEqual(r.status, 201, repr(r))
        # used twice
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="second", invite=inv["code"]))
        self.assertEqual(r.status, 403, repr(r))
        self.assertIn("already used", r.json()["message"])
        self.assertNotIn("second", self.users())
        listed = self.req("GET", "/api/v1/invitations", token=self.srv.admin_token).json()
        self.assertEqual(listed[0]["used_by"], "newbie")

    def test_expired_deleted_and_addressed_invitations(self):
        old = self.invite({"days": 1})
        self.sql("UPDATE invitations SET expires = %d WHERE id = %d" % (int(time.time()) - 1,
                                                                       old["id"]))
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=old["code"]))
        self.assertEqual(r.status, 403, repr(r))
        self.assertIn("expired", r.json()["message"])
        gone = self.invite()
        r = self.req("DELETE", "/api/v1/invitations/%d" % gone["id"], token=self.srv.admin_token)
        self.assertEqual(r.status, 200, repr(r))
        r = self.req("DELETE", "/api/v1/invitations/%d" % gone["id"], token=self.srv.admin_token)
        self.assertEqual(r.status, 404, repr(r))
        r = self.req("DELETE", "/api/v1/invitations/abc", token=self.srv.admin_token)
        self.assertEqual(r.status, 400, repr(r))
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=gone["code"]))
        self.assertEqual(r.status, 403, repr(r))
        mine = self.invite({"email": "Ann@Example.org", "days": 30})
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=mine["code"]))
        self.assertEqual(r.status, 403, repr(r))
        self.assertIn("another email", r.json()["message"])
        self.assertNotIn("newbie", self.users())
        r = self.req("POST", "/api/v1/signup",
                     dict(SIGNUP, email="ann@example.org", invite=mine["code"]))
        self.assertEqual(r.status, 201, repr(r))
        for body in ({"days": 0}, {"days": 366}, {"days": "7"}, {"email": "nope"},
                     {"other": 1}):
            r = self.req("POST", "/api/v1/invitations", body, token=self.srv.admin_token)
            self.assertEqual(r.status, 400, (body, r))

    def test_a_failed_sign_up_keeps_the_invitation(self):
        self.srv.add_user("taken")
        inv = self.invite()
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, user="taken", invite=inv["code"]))
        self.assertEqual(r.status, 409, repr(r))
        r = self.req("POST", "/api/v1/signup", dict(SIGNUP, invite=inv["code"]))
        self.assertEqual(r.status, 201, "the invitation was not used up by the failure: %r" % r)


class AdminCalls(WebBase):
    def test_users_and_orgs(self):
        admin = self.srv.admin_token
        r = self.req("POST", "/api/v1/users", {"user": "carol"}, token=admin)
        self.assertEqual(r.status, 201, repr(r))
        tok = r.json()["token"]
        self.assertEqual(self.req("GET", "/api/whoami-v2", token=tok).json()["name"], "carol")
        r = self.req("POST", "/api/v1/users", {"user": "root2", "admin": True}, token=admin)
        self.assertEqual(r.status, 201, repr(r))
        u = self.users()
        self.assertIs(u["root2"]["admin"], True)
        self.assertIs(u["carol"]["admin"], False)
        self.assertEqual(u["carol"]["profile"], {"name": None, "email": None,
                                                 "affiliation": None, "country": None})
        self.assertRegex(u["carol"]["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        for body, status in (({"user": "carol"}, 409), ({"user": "bad name"}, 400),
                             ({"user": "x", "admin": "yes"}, 400), ({}, 400),
                             ({"user": "x", "role": "admin"}, 400)):
            r = self.req("POST", "/api/v1/users", body, token=admin)
            self.assertEqual(r.status, status, (body, r))
        r = self.req("DELETE", "/api/v1/users/admin", token=admin)
        self.assertEqual(r.status, 409, "an admin cannot remove itself: %r" % r)
        r = self.req("DELETE", "/api/v1/users/nobody", token=admin)
        self.assertEqual(r.status, 404, repr(r))
        r = self.req("DELETE", "/api/v1/users/carol", token=admin)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.req("GET", "/api/whoami-v2", token=tok).status, 401)
        r = self.req("DELETE", "/api/v1/users/carol", token=admin)
        self.assertEqual(r.status, 404, "already removed: %r" % r)
        # orgs: anyone lists, admins add
        self.assertEqual(self.req("GET", "/api/v1/orgs").json(), [])
        r = self.req("POST", "/api/v1/orgs", {"org": "lab"}, token=admin)
        self.assertEqual((r.status, r.json()), (201, {"org": "lab"}))
        self.assertEqual(self.req("GET", "/api/v1/orgs").json(), [{"org": "lab", "models": 0}])
        for body, status in (({"org": "lab"}, 409), ({"org": "a/b"}, 400), ({}, 400),
                             ({"org": 1}, 400)):
            r = self.req("POST", "/api/v1/orgs", body, token=admin)
            self.assertEqual(r.status, status, (body, r))
        r = self.req("POST", "/api/v1/orgs", {"org": "evil"}, token=tok)
        self.assertEqual(r.status, 401, repr(r))
        other = self.srv.add_user("dave")
        r = self.req("POST", "/api/v1/orgs", {"org": "evil"}, token=other)
        self.assertEqual(r.status, 403, repr(r))
        self.assertEqual([o["org"] for o in self.req("GET", "/api/v1/orgs").json()], ["lab"])



class ServeOptions(unittest.TestCase):
    """docs/cli.md: a bad --signup, --session-hours or --trust-proxy exits 2
    naming the option, before anything is created."""

    def test_bad_values_exit_2_naming_the_option(self):
        tmp = tempfile.mkdtemp(prefix="sluice-serveopt-")
        try:
            for opt, val in (("--signup", "sometimes"), ("--signup", ""),
                             ("--session-hours", "0"), ("--session-hours", "8761"),
                             ("--session-hours", "12h"), ("--trust-proxy", "true"),
                             ("--trust-proxy", "YES")):
                data = os.path.join(tmp, "d")
                r = sv.subprocess.run([sv.BIN, "serve", "--data", data, "--listen",
                                       "127.0.0.1:1", "--origin", "t.example/log", opt, val],
                                      stdout=sv.subprocess.PIPE, stderr=sv.subprocess.PIPE,
                                      timeout=30, env=sv.clean_env())
                self.assertEqual(r.returncode, 2, (opt, val, r.stderr))
                self.assertIn(opt, r.stderr.decode(), (opt, val))
                self.assertFalse(os.path.exists(data), (opt, val, "created the data folder"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    unittest.main(verbosity=2)
