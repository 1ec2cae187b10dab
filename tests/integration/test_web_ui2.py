# SPDX-License-Identifier: Apache-2.0
"""More of the web UI in a real browser (issue 14, docs/web.md "Browser
tests"), beside test_web_ui.py and with its fixture (webui.Browser, the
steps in tests/web/flows2.mjs): sign-up by invitation, the publisher's
manage page acted on for real (a Reason required to deny and revoke, the
expiry of an approval, the tier, a scheduled step, evidence for an
obligation, auto-approval rules), a request made by keyboard alone with a
visible focus ring, reduced motion, and the hosted model's retention
sentence. Everything the pages do is checked against the server's API.

One `sluice serve --signup invite` on 127.0.0.1 and one chromium for the
class; any dialog, page error, CSP violation or 5xx a page sees fails.
"""
import datetime
import http.client
import http.server
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402
import webui  # noqa: E402

KIB = 1024
FACTS = {"params": 4224, "training": {"tokens": 1e9}}
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection",
       "upgrade", "te", "trailer"}


class TLSProxy:
    """A reverse proxy on 127.0.0.1 in front of the server on PORT that says
    what a TLS-terminating proxy says: X-Forwarded-Proto: https (and the
    client in X-Forwarded-For). It passes Set-Cookie through untouched and
    keeps the last ones it saw in `cookies`."""

    def __init__(self, port):
        proxy = self
        self.cookies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                headers["X-Forwarded-Proto"] = "https"
                headers["X-Forwarded-For"] = self.client_address[0]
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    c.request(self.command, self.path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                finally:
                    c.close()
                got = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
                if got:
                    proxy.cookies = got
                self.send_response_only(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                if self.command != "HEAD" and r.status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = relay

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class WebUI2(webui.BrowserCase, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-web2-")
        cls.browser = webui.Browser(artifacts=os.environ.get("SLUICE_WEB_ARTIFACTS"))
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp,
                            args=["--signup", "invite", "--session-hours", "1"])
        cls.counter = 0
        try:
            cls.install_error = webui.install()
            srv = cls.srv
            srv.start()
            cls.pub = srv.add_user("pub")
            srv.add_org("lab")
            srv.add_member("lab", "pub", "publisher")
            for name, tier in (("gated-m", "gated"), ("free-m", "gated"), ("rules-m", "gated"),
                               ("tier-m", "gated"), ("hosted-m", "hosted")):
                cls.push("lab/" + name, tier)
            # no training facts: the blocking obligation facts.training-compute
            cls.push("lab/held-m", None, facts={"params": 4224})
            if not cls.install_error:
                cls.browser.start(cls.tmp)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.browser.stop()
            if cls.srv.running():
                cls.srv.stop()
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def push(cls, model, tier, facts=FACTS):
        cls.counter += 1
        folder = os.path.join(cls.tmp, "src-" + model.replace("/", "-"))
        sv.make_model(folder, big=16 * KIB, rng=random.Random(cls.counter))
        with open(os.path.join(folder, "README.md"), "w") as f:
            f.write("# %s\n\nA tiny model for the browser tests.\n" % model)
        path = os.path.join(cls.tmp, "facts.json")
        with open(path, "w") as f:
            json.dump(facts, f)
        args = ["push", model, folder, "--facts", path, "--json"]
        if tier:
            args += ["--tier", tier]
        r = st.run(*args, env=cls.srv.client_env(cls.pub, os.path.join(cls.tmp, "home-pub")),
                   timeout=120)
        if r.rc != 0:
            raise AssertionError("push %s: %r" % (model, r))
        return json.loads(r.stdout)

    # ---------------------------------------------------------------- helpers

    def setUp(self):
        self.start_case()

    def flow(self, flow, /, srv=None, **args):
        args.setdefault("base", (srv or self.srv).url)
        res, events = self.browser.call(flow, **args)
        bad = [e for e in events if e["kind"] in ("dialog", "pageerror", "csp", "5xx")]
        self.assertEqual(bad, [], "flow %s: the pages saw %s" % (flow, json.dumps(bad, indent=1)))
        return res

    def api(self, method, path, body=None, token=None):
        r = self.srv.request(method, path, body, token=token)
        return r.status, (r.json() if r.body and r.headers.get("Content-Type", "").startswith(
            "application/json") else r.body)

    def signed_in(self, who, token):
        c = self.ctx(who)
        self.flow("signin", ctx=c, token=token)
        return c

    def request(self, model, token, purpose="benchmarks"):
        status, doc = self.api("POST", "/api/v1/models/%s/access" % model,
                               {"purpose": purpose}, token=token)
        self.assertIn(status, (200, 201), doc)
        return doc

    def access_of(self, model, who):
        status, rows = self.api("GET", "/api/v1/models/%s/access" % model, token=self.pub)
        self.assertEqual(status, 200, rows)
        mine = [r for r in rows if r["user"] == who]
        self.assertEqual(len(mine), 1, rows)
        return mine[0]

    def assert_refused(self, res, word):
        """A one-line message, marked as an error, naming WORD."""
        self.assertEqual(res["kind"], "err", res)
        self.assertIsNotNone(res["message"], res)
        self.assertIn(word, res["message"], res)
        self.assertNotIn("\n", res["message"], res)
        self.assertLess(len(res["message"]), 300, res)

    # ================================================================ 1 invitations

    def test_invite_signup(self):
        admin = self.signed_in("admin", self.srv.admin_token)
        inv = self.flow("create_invitation", ctx=admin)
        code = inv["code"]
        self.assertGreater(len(code), 8, inv)
        self.assertRegex(inv["text"], r"(?i)shown once", inv)
        # the form asks for the code; without it nothing is sent
        c = self.ctx("newcomer")
        form = self.flow("signup_form", ctx=c)
        self.assertEqual((form["signup_button"], form["invite_box"]), (1, 1), form)
        res = self.flow("signup_invite", ctx=c, user="noor", name="Noor Haddad",
                        email="noor@uni.example", invite=code)
        token = res["token"]
        self.assertTrue(token, res)
        self.assertTrue(res["signed_in"], res)
        status, who = self.api("GET", "/api/whoami-v2", token=token)
        self.assertEqual((status, who.get("name")), (200, "noor"), who)
        # shown once: a reload shows no token
        again = self.flow("whoami", ctx=c, url=self.srv.url + "/signin")
        self.assertNotIn(token, again["main"])
        # the invitation is used, by noor
        status, invs = self.api("GET", "/api/v1/invitations", token=self.srv.admin_token)
        self.assertEqual(status, 200, invs)
        self.assertEqual([i.get("used_by") for i in invs], ["noor"], invs)
        # the same code a second time: refused with a message, no account
        c2 = self.ctx("second")
        res = self.flow("signup_invite", ctx=c2, user="omar", name="Omar Said",
                        email="omar@uni.example", invite=code)
        self.assertIsNone(res["token"], res)
        self.assertFalse(res["signed_in"], res)
        self.assertRegex(res["message"], r"(?i)invit", res)
        self.assertLess(len(res["message"]), 300, res)
        # a made-up code: the same
        res = self.flow("signup_invite", ctx=c2, user="omar", name="Omar Said",
                        email="omar@uni.example", invite="not-a-code")
        self.assertIsNone(res["token"], res)
        self.assertRegex(res["message"], r"(?i)invit", res)
        status, users = self.api("GET", "/api/v1/users", token=self.srv.admin_token)
        self.assertNotIn("omar", [u["user"] for u in users])
        self.assertEqual([k for k in self.flow("cookies", ctx=c2)
                          if k["name"] == "sluice_session"], [])

    def test_closed_signup_has_no_form(self):
        tmp = tempfile.mkdtemp(prefix="closed-", dir=self.tmp)
        closed = sv.Server(os.path.join(tmp, "data"), workdir=tmp, args=["--signup", "closed"])
        closed.start()
        self.addCleanup(closed.cleanup)
        self.addCleanup(closed.stop)
        form = self.flow("signup_form", srv=closed, ctx=self.ctx("closed"))
        self.assertEqual((form["signup_button"], form["invite_box"], form["user_box"]),
                         (0, 0, 0), form)
        self.assertRegex(form["main"], r"(?i)does not take sign-ups", form)
        # and the API agrees
        r = closed.request("POST", "/api/v1/signup", {"user": "zed", "name": "Z",
                                                      "email": "z@x.example"})
        self.assertEqual(r.status, 403, r)

    # ================================================================ 2 manage

    def test_deny_and_revoke_need_a_reason(self):
        model = "lab/gated-m"
        who, token = self.user("ria")
        self.request(model, token)
        pub = self.signed_in("pub", self.pub)
        for reason in ("", "   "):
            res = self.flow("manage_try", ctx=pub, model=model, user=who, action="Deny",
                            reason=reason)
            self.assert_refused(res, "Reason")
            self.assertEqual(res["focused"], "Reason", res)
            self.assertEqual(self.access_of(model, who)["status"], "pending")
        status, doc = self.api("POST", "/api/v1/models/%s/access/%s/approve" % (model, who), {},
                               token=self.pub)
        self.assertEqual(status, 200, doc)
        res = self.flow("manage_try", ctx=pub, model=model, user=who, action="Revoke", reason="")
        self.assert_refused(res, "Reason")
        self.assertEqual(self.access_of(model, who)["status"], "approved")
        # with a reason it goes through
        res = self.flow("manage_try", ctx=pub, model=model, user=who, action="Revoke",
                        reason="Leaked")
        self.assertEqual(res["kind"], "ok", res)
        row = self.access_of(model, who)
        self.assertEqual((row["status"], row["reason"]), ("revoked", "Leaked"), row)

    def test_approve_with_expiry(self):
        model = "lab/gated-m"
        who, token = self.user("sam")
        self.request(model, token)
        pub = self.signed_in("pub", self.pub)
        # the careless publisher: not a number of days
        for bad in ("0", "abc", "-3", "1.5"):
            res = self.flow("manage_try", ctx=pub, model=model, user=who, action="Approve",
                            days=bad)
            self.assert_refused(res, "Expires (days)")
            self.assertEqual(self.access_of(model, who)["status"], "pending", bad)
        res = self.flow("manage_try", ctx=pub, model=model, user=who, action="Approve", days=45)
        self.assertEqual(res["kind"], "ok", res)
        row = self.access_of(model, who)
        self.assertEqual(row["status"], "approved", row)
        want = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=45)
        got = datetime.date.fromisoformat(str(row["expires"])[:10])
        self.assertLessEqual(abs((got - want).days), 1, row)
        # without days the grant does not expire
        who2, token2 = self.user("tim")
        self.request(model, token2)
        res = self.flow("manage_try", ctx=pub, model=model, user=who2, action="Approve", days="")
        self.assertEqual(res["kind"], "ok", res)
        row = self.access_of(model, who2)
        self.assertEqual((row["status"], row.get("expires")), ("approved", None), row)

    def test_tier_and_schedule_from_the_page(self):
        model = "lab/tier-m"
        base = "/api/v1/models/" + model
        pub = self.signed_in("pub", self.pub)
        res = self.flow("set_tier", ctx=pub, model=model, tier="hosted")
        self.assertEqual(res["kind"], "ok", res)
        status, ver = self.api("GET", base + "/versions/main", token=self.pub)
        self.assertEqual((status, ver["tier"]), (200, "hosted"), ver)
        day = (datetime.datetime.now(datetime.timezone.utc).date()
               + datetime.timedelta(days=20)).isoformat()
        res = self.flow("schedule_step", ctx=pub, model=model, tier="open", date=day)
        self.assertEqual(res["kind"], "ok", res)
        status, sched = self.api("GET", base + "/schedule", token=self.pub)
        self.assertEqual(status, 200, sched)
        steps = [s for s in sched if s["tier"] == "open"]
        self.assertEqual(len(steps), 1, sched)
        self.assertTrue(str(steps[0]["at"]).startswith(day), sched)
        # the page lists the step it made
        self.assertRegex(res["section"], r"\bopen\b", res)
        # the tier did not move yet
        status, ver = self.api("GET", base + "/versions/main", token=self.pub)
        self.assertEqual(ver["tier"], "hosted", ver)

    def test_evidence_for_an_obligation(self):
        model = "lab/held-m"
        path = "/api/v1/models/%s/versions/main/obligations" % model
        status, before = self.api("GET", path, token=self.pub)
        self.assertEqual(status, 200, before)
        ids = [o["id"] for o in before["obligations"] if o["status"] != "satisfied"]
        self.assertIn("facts.training-compute", ids, before)
        pub = self.signed_in("pub", self.pub)
        boxes = self.flow("evidence_boxes", ctx=pub, model=model)
        self.assertIn("facts.training-compute", boxes["ids"], boxes)
        # empty evidence is refused by the page, nothing recorded
        res = self.flow("record_evidence", ctx=pub, model=model, id="facts.training-compute",
                        text="  ")
        self.assert_refused(res, "facts.training-compute")
        status, doc = self.api("GET", path, token=self.pub)
        o = [x for x in doc["obligations"] if x["id"] == "facts.training-compute"][0]
        self.assertNotEqual(o["status"], "satisfied", o)
        text = "Trained on 1e9 tokens; see the card, section Training"
        res = self.flow("record_evidence", ctx=pub, model=model, id="facts.training-compute",
                        text=text)
        self.assertEqual(res["kind"], "ok", res)
        status, doc = self.api("GET", path, token=self.pub)
        o = [x for x in doc["obligations"] if x["id"] == "facts.training-compute"][0]
        self.assertEqual(o["status"], "satisfied", o)
        self.assertEqual((o.get("evidence") or {}).get("text"), text, o)
        # the page no longer offers a box for it
        boxes = self.flow("evidence_boxes", ctx=pub, model=model)
        self.assertNotIn("facts.training-compute", boxes["ids"], boxes)

    def test_auto_approval_rules_take_effect(self):
        model = "lab/rules-m"
        path = "/api/v1/models/%s/access-rules" % model
        self.srv.add_org("friends")
        who, token = self.user("una")
        self.srv.add_member("friends", who, "member")
        other, other_token = self.user("vic")
        # before: una's request waits like anyone's
        self.request(model, other_token)
        self.assertEqual(self.access_of(model, other)["status"], "pending")
        pub = self.signed_in("pub", self.pub)
        res = self.flow("save_rules", ctx=pub, model=model, boxes={"Orgs": "friends"})
        self.assertEqual(res["kind"], "ok", res)
        status, rules = self.api("GET", path, token=self.pub)
        self.assertEqual(rules.get("orgs"), ["friends"], rules)
        self.request(model, token)
        row = self.access_of(model, who)
        self.assertEqual(row["status"], "approved", row)
        self.assertEqual(self.access_of(model, other)["status"], "pending")
        # and the rule is undone from the page as well
        res = self.flow("save_rules", ctx=pub, model=model, boxes={"Orgs": ""})
        self.assertEqual(res["kind"], "ok", res)
        status, rules = self.api("GET", path, token=self.pub)
        self.assertEqual(rules.get("orgs") or [], [], rules)

    # ================================================================ 3 keyboard

    def test_request_access_keyboard_only(self):
        model = "lab/free-m"
        who, token = self.user("kai")
        c = self.signed_in(who, token)
        purpose = "Keyboard-only evaluation of summaries"
        res = self.flow("request_keyboard", ctx=c, model=model, purpose=purpose)
        status, me = self.api("GET", "/api/v1/models/%s/access/me" % model, token=token)
        self.assertEqual((status, me["status"], me["purpose"]), (200, "pending", purpose),
                         (me, res))
        # every control focus reached shows a focus ring
        controls = [f for f in res["seen"] if f["tag"] in ("A", "BUTTON", "INPUT", "TEXTAREA",
                                                             "SELECT")]
        self.assertGreater(len(controls), 2, res)
        bare = [f for f in controls
                if f["outline"].startswith("none") or " 0px" in f["outline"]]
        self.assertEqual(bare, [], res)

    # ================================================================ 4 motion

    def test_reduced_motion(self):
        for path in ("/", "/lab/gated-m", "/signin"):
            url = self.srv.url + path
            moving = self.flow("motion", url=url, motion="no-preference")
            # the check can see motion: links and buttons fade their colour
            self.assertNotEqual(moving["out"], [], (path, moving))
            still = self.flow("motion", url=url, motion="reduce")
            self.assertEqual((still["out"], still["running"]), ([], 0), (path, still))

    # ================================================================ 5 hosted

    def test_hosted_retention_sentence(self):
        model = "lab/hosted-m"
        c = self.ctx("anon")
        res = self.flow("hosted_page", ctx=c, model=model)
        self.assertRegex(res["retention"] or "", r"(?i)does not store", res)
        self.assertIn(self.srv.url + "/v1/chat/completions", res["how_to_download"] or "", res)
        self.assertNotIn("sluice pull", res["how_to_download"], res)
        path = "/api/v1/models/%s/hosted/retention" % model
        # the careless publisher: refused with a message, not a 500
        for bad in ({"days": -1}, {"days": "thirty"}, {"weeks": 4}):
            status, doc = self.api("PUT", path, bad, token=self.pub)
            self.assertEqual(status, 400, (bad, doc))
            self.assertTrue(doc.get("message"), doc)
        # nobody else may set it
        _, token = self.user("mallory")
        status, doc = self.api("PUT", path, {"days": 1}, token=token)
        self.assertIn(status, (403, 404), doc)
        status, doc = self.api("PUT", path, {"days": 30}, token=self.pub)
        self.assertEqual(status, 200, doc)
        res = self.flow("hosted_page", ctx=c, model=model)
        self.assertRegex(res["retention"] or "", r"\b30 days\b", res)
        self.assertRegex(res["retention"], r"(?i)keeps the prompts", res)
        # a model that is not hosted says nothing about prompts
        res = self.flow("hosted_page", ctx=c, model="lab/free-m")
        self.assertIsNone(res["retention"], res)


    # ================================================================ 6 off loopback

    def wide_server(self, *args):
        """A server listening on 0.0.0.0 (not a loopback listener), reached
        at 127.0.0.1, with the admin's token."""
        tmp = tempfile.mkdtemp(prefix="wide-", dir=self.tmp)
        port = sv.free_port()
        srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp,
                        args=["--listen", "0.0.0.0:%d" % port] + list(args))
        srv.start(port=port)
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        self.assertEqual(srv.port, port)
        return srv

    def test_off_loopback_page_explains_tls(self):
        srv = self.wide_server("--signup", "open")
        c = self.ctx("wide")
        for path in ("/", "/signin", "/lab/gated-m"):
            res = self.flow("raw_page", ctx=c, url=srv.url + path)
            self.assertEqual(res["status"], 403, (path, res))
            self.assertRegex(res["text"], r"TLS", res)
            self.assertRegex(res["text"], r"--trust-proxy yes", res)
            self.assertEqual(res["scripts"], 0, res)
        # no session handed out here, even to the right token
        r = srv.request("POST", "/api/v1/session", {"token": srv.admin_token},
                        {"Content-Type": "application/json"})
        self.assertEqual(r.status, 403, r)
        self.assertIsNone(r.headers.get("Set-Cookie"), r)
        # a forged X-Forwarded-Proto changes nothing without --trust-proxy yes
        r = srv.request("GET", "/signin", headers={"X-Forwarded-Proto": "https"})
        self.assertEqual(r.status, 403, r)
        # the JSON API is unaffected
        self.assertEqual(srv.request("GET", "/api/v1/health").status, 200)

    def test_trust_proxy_signin_secure_cookie(self):
        srv = self.wide_server("--trust-proxy", "yes")
        # straight to the server, without the proxy's header: the 403 page
        # names the missing X-Forwarded-Proto
        res = self.flow("raw_page", ctx=self.ctx("direct"), url=srv.url + "/signin")
        self.assertEqual(res["status"], 403, res)
        self.assertIn("X-Forwarded-Proto", res["text"], res)
        p = TLSProxy(srv.port)
        self.addCleanup(p.close)
        c = self.ctx("proxied")
        self.flow("signin", srv=p, ctx=c, token=srv.admin_token)
        self.assertTrue(self.flow("whoami", srv=p, ctx=c, url=p.url + "/admin")["signed_in"])
        # the cookie the server set is Secure (HttpOnly, SameSite=Strict)
        sess = [v for v in p.cookies if v.startswith("sluice_session=")]
        self.assertEqual(len(sess), 1, p.cookies)
        attrs = [a.strip().lower() for a in sess[0].split(";")[1:]]
        for want in ("secure", "httponly", "samesite=strict", "path=/"):
            self.assertIn(want, attrs, sess)
        # and the browser holds it as Secure
        got = [k for k in self.flow("cookies", ctx=c) if k["name"] == "sluice_session"]
        self.assertEqual(len(got), 1, got)
        self.assertTrue(got[0]["secure"], got)


if __name__ == "__main__":
    unittest.main(verbosity=2)
