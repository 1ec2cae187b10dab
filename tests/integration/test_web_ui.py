# SPDX-License-Identifier: Apache-2.0
"""The web UI in a real browser (issue 14, docs/web.md): Debian's chromium
driven by Playwright (tests/web/, pinned with its lockfile, installed with
`npm ci` into BUILD/node-web), against a real `sluice serve --signup open
--session-hours 1` on 127.0.0.1 with models this test pushes with the CLI.

One chromium for the class (webui.Browser); each test works in browser
contexts of its own, one per person, and checks what the pages show against
what the server holds (its JSON API, its database, `sluice pull`). Every flow
also fails on a JavaScript dialog, an uncaught page error, a CSP violation
or a 5xx answer seen by any page: user-supplied markup that ran would open a
dialog. Missing node, npm or chromium fail the tests and say what to install.
"""
import colorsys
import json
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402
import webui  # noqa: E402

KIB = 1024
FACTS = {"params": 4224, "training": {"tokens": 1e9}}
LICENSE = "Sluice Test License 1.0\n\nYou may use these weights for research.\n"
# user-supplied markup: it must show as text and never run
XSS = ('<script>window.__pwned=1;alert("xss")</script>'
       '<img src=x onerror="window.__pwned=2;alert(2)">')
CARD = """# Tiny test model

A model card with **bold** text and a [link](https://example.org/).

<script>window.__pwned=3;alert("card")</script>

<img src=x onerror="window.__pwned=4;alert(4)">

[click me](javascript:window.__pwned=5)
"""
TIERS = ("open", "click", "gated", "hosted", "withheld")


def luminance(css):
    m = re.match(r"rgba?\((\d+), (\d+), (\d+)", css)
    assert m, css
    r, g, b = (int(x) / 255 for x in m.groups())
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def is_red(css):
    m = re.match(r"rgba?\((\d+), (\d+), (\d+)", css)
    if not m:
        return False
    h, l_, s = colorsys.rgb_to_hls(*(int(x) / 255 for x in m.groups()))
    return (h < 0.05 or h > 0.95) and s > 0.4


class WebUI(webui.BrowserCase, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-web-")
        cls.browser = webui.Browser(artifacts=os.environ.get("SLUICE_WEB_ARTIFACTS"))
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp,
                            args=["--signup", "open", "--session-hours", "1"])
        os.makedirs(os.path.join(cls.tmp, "other"))
        cls.other = sv.Server(os.path.join(cls.tmp, "other", "data"),
                              workdir=os.path.join(cls.tmp, "other"))
        cls.proxies = []
        cls.counter = 0
        try:
            cls.install_error = webui.install()
            srv = cls.srv
            srv.start()
            cls.other.start()
            cls.pub = srv.add_user("pub")
            srv.add_org("lab")
            srv.add_member("lab", "pub", "publisher")
            cls.files = {}
            for tier in TIERS:
                cls.push("lab/%s-m" % tier, tier)
            cls.push("lab/xss-m", "open", card=CARD)
            # the publisher's required field of the gated model
            path = "/api/v1/models/lab/gated-m/access-rules"
            st_, rules = srv.get_json(path, token=cls.pub)
            assert st_ == 200, rules
            rules["fields"] = ["institution"]
            r = srv.request("PUT", path, rules, token=cls.pub)
            assert r.status == 200, r
            if not cls.install_error:
                cls.browser.start(cls.tmp)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.browser.stop()
            for p in cls.proxies:
                p.close()
            for s in (cls.srv, cls.other):
                if s.running():
                    s.stop()
        finally:
            cls.srv.cleanup()
            cls.other.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def push(cls, model, tier, card="# %s\n\nA tiny model for the browser tests.\n"):
        cls.counter += 1
        folder = os.path.join(cls.tmp, "src-" + model.replace("/", "-"))
        # 1024 x 64 weights: enough positions that a gated copy differs
        sv.make_model(folder, big=64 * KIB, rng=random.Random(cls.counter), rows=1024)
        with open(os.path.join(folder, "README.md"), "w") as f:
            f.write(card % model if "%s" in card else card)
        facts = os.path.join(cls.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        args = ["push", model, folder, "--facts", facts, "--tier", tier, "--json"]
        if tier == "click":
            lic = os.path.join(cls.tmp, "license.txt")
            with open(lic, "w") as f:
                f.write(LICENSE)
            args += ["--license", lic]
        r = st.run(*args, env=cls.srv.client_env(cls.pub, os.path.join(cls.tmp, "home-pub")),
                   timeout=120)
        if r.rc != 0:
            raise AssertionError("push %s: %r" % (model, r))
        cls.files[model] = sv.tree_digest(folder)
        return json.loads(r.stdout)

    # ---------------------------------------------------------------- helpers

    def setUp(self):
        self.start_case()
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def flow(self, flow, /, **args):
        """Runs a browser flow; fails on any dialog, page error, CSP
        violation or 5xx any page saw meanwhile."""
        args.setdefault("base", self.srv.url)
        res, events = self.browser.call(flow, **args)
        bad = [e for e in events if e["kind"] in ("dialog", "pageerror", "csp", "5xx")]
        self.assertEqual(bad, [], "flow %s: the pages saw %s" % (flow, json.dumps(bad, indent=1)))
        return res

    def api(self, method, path, body=None, token=None):
        r = self.srv.request(method, path, body, token=token)
        return r.status, (r.json() if r.body and r.headers.get("Content-Type", "").startswith(
            "application/json") else r.body)

    def access_me(self, model, token):
        status, doc = self.api("GET", "/api/v1/models/%s/access/me" % model, token=token)
        self.assertEqual(status, 200, doc)
        return doc

    def signed_in(self, who, token):
        c = self.ctx(who)
        self.flow("signin", ctx=c, token=token)
        return c

    # ================================================================ accounts

    def test_signup_then_signin_with_token(self):
        c = self.ctx("new")
        res = self.flow("signup", ctx=c, user="amara", name="Amara Okafor",
                        email="amara@uni.example", affiliation="University of Lagos",
                        country="NG")
        token = res["token"]
        self.assertTrue(res["signed_in"], res)
        # the token shown once works against the API, and is amara's
        status, who = self.api("GET", "/api/whoami-v2", token=token)
        self.assertEqual(status, 200, who)
        self.assertEqual(who["name"], "amara", who)
        # the profile the form asked for reached the server
        status, users = self.api("GET", "/api/v1/users", token=self.srv.admin_token)
        self.assertEqual(status, 200, users)
        me = [u for u in users if u["user"] == "amara"]
        self.assertEqual(len(me), 1, users)
        self.assertEqual(me[0]["profile"], {"name": "Amara Okafor", "email": "amara@uni.example",
                                            "affiliation": "University of Lagos",
                                            "country": "NG"})
        # the session cookie: HttpOnly, SameSite=Strict, Path=/, not readable by scripts
        cookies = self.flow("cookies", ctx=c)
        sess = [k for k in cookies if k["name"] == "sluice_session"]
        self.assertEqual(len(sess), 1, cookies)
        self.assertTrue(sess[0]["httpOnly"], sess)
        self.assertEqual(sess[0]["sameSite"], "Strict", sess)
        self.assertEqual(sess[0]["path"], "/", sess)
        store = self.flow("storage", ctx=c)
        for where in ("local", "session", "cookie"):
            self.assertNotIn(token, store[where], where)
            self.assertNotIn(sess[0]["value"], store[where], where)
        # signed out, then in again with the token
        self.flow("signout", ctx=c)
        self.assertFalse(self.flow("whoami", ctx=c, url=self.srv.url + "/")["signed_in"])
        status, _ = self.api("GET", "/api/whoami-v2", token=token)
        self.assertEqual(status, 200, "signing out must not revoke the token")
        self.flow("signin", ctx=c, token=token)
        self.assertTrue(self.flow("whoami", ctx=c, url=self.srv.url + "/")["signed_in"])
        store = self.flow("storage", ctx=c)
        self.assertNotIn(token, store["local"] + store["session"] + store["cookie"])

    def test_signin_wrong_token_says_so(self):
        """The careless user: a mistyped token gets a sentence, not a
        blank page or a 500, and no session."""
        _, token = self.user("typo")
        c = self.ctx("typo")
        for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "not a token", " "):
            res = self.flow("signin_wrong", ctx=c, token=wrong)
            self.assertFalse(res["signed_in"], res)
            self.assertTrue(res["token_box"], res)
            self.assertRegex(res["message"], r"(?i)token", res)
            self.assertLess(len(res["message"]), 300, res)
        self.assertEqual(self.flow("cookies", ctx=c), [])

    def test_signup_taken_name_says_so(self):
        """The careless user signs up with a name that is taken: a message
        naming the problem, no token, no session, the account untouched."""
        c = self.ctx("dup")
        res = self.flow("signup_refused", ctx=c, user="pub", name="Not The Publisher",
                        email="evil@example.org", affiliation="x", country="FR")
        self.assertFalse(res["token_shown"], res)
        self.assertFalse(res["signed_in"], res)
        self.assertRegex(res["message"], r"(?i)pub|taken|exists|in use", res)
        status, users = self.api("GET", "/api/v1/users", token=self.srv.admin_token)
        pub = [u for u in users if u["user"] == "pub"]
        self.assertNotEqual((pub[0]["profile"] or {}).get("name"), "Not The Publisher", pub)
        status, who = self.api("GET", "/api/whoami-v2", token=self.pub)
        self.assertEqual(status, 200, who)

    # ================================================================ click

    def test_click_license(self):
        who, token = self.user("clicker")
        c = self.signed_in(who, token)
        before = self.flow("model", ctx=c, model="lab/click-m")
        self.assertEqual(before["tier"], "click", before)
        self.assertIn("research", before["license"] or "", before)
        self.assertTrue(before["accept_button"], before)
        self.assertEqual(before["downloads"], [], "download links before the license is accepted")
        status, terms = self.api("GET", "/api/v1/models/lab/click-m/terms", token=token)
        self.assertFalse(terms["accepted"], terms)
        after = self.flow("accept_license", ctx=c, model="lab/click-m")
        status, terms = self.api("GET", "/api/v1/models/lab/click-m/terms", token=token)
        self.assertTrue(terms["accepted"], terms)
        self.assertFalse(after["accept_button"], after)
        self.assertEqual(sorted(d["name"] for d in after["downloads"]),
                         sorted(self.files["lab/click-m"]), after)

    def test_click_license_keyboard_only(self):
        who, token = self.user("keys")
        c = self.signed_in(who, token)
        res = self.flow("accept_keyboard", ctx=c, model="lab/click-m")
        self.assertGreater(res["tabs"], 0)
        status, terms = self.api("GET", "/api/v1/models/lab/click-m/terms", token=token)
        self.assertTrue(terms["accepted"], (terms, res))

    # ================================================================ gated

    def test_gated_request_approve_download(self):
        model = "lab/gated-m"
        who, token = self.user("bob")
        bob = self.signed_in(who, token)
        pub = self.signed_in("pub", self.pub)
        view = self.flow("model", ctx=bob, model=model)
        self.assertEqual(view["tier"], "gated", view)
        self.assertTrue(view["request_button"], view)
        self.assertEqual(view["downloads"], [], view)
        purpose = "Evaluating multilingual summarisation for a health NGO"
        view = self.flow("request_access", ctx=bob, model=model, purpose=purpose,
                         fields={"institution": "Makerere University"})
        # the form asked for the required field before the first send
        self.assertEqual(view["late_fields"], [], view)
        self.assertTrue(view["state"].startswith("pending"), view)
        self.assertEqual(view["downloads"], [], view)
        me = self.access_me(model, token)
        self.assertEqual((me["status"], me["purpose"], me["fields"]),
                         ("pending", purpose, {"institution": "Makerere University"}), me)

        # the publisher approves in another browser, for 30 days
        q = self.flow("manage", ctx=pub, model=model, user=who, action="Approve", days=30)
        me = self.access_me(model, token)
        self.assertEqual(me["status"], "approved", (me, q))
        self.assertTrue(me["expires"], me)

        view = self.flow("model", ctx=bob, model=model)
        self.assertTrue(view["state"].startswith("approved"), view)
        self.assertRegex(view["main"], r"(?i)fingerprinted", view)
        self.assertEqual(len(view["signed_license"]), 1, view)
        names = sorted(d["name"] for d in view["downloads"])
        self.assertEqual(names, sorted(self.files[model]), view)

        # the page's copy is the one `sluice pull` gives bob: his fingerprint
        got = self.flow("download", ctx=bob, model=model, path="model.safetensors",
                        dest=os.path.join(self.work, "page.safetensors"))
        dest = os.path.join(self.work, "pulled")
        r = st.run("pull", model, "--dest", dest,
                   env=self.srv.client_env(token, os.path.join(self.work, "home")), timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        pulled = sv.sha256_file(os.path.join(dest, "model.safetensors"))
        self.assertEqual(got["sha256"], pulled, got)
        self.assertNotEqual(pulled, self.files[model]["model.safetensors"],
                            "the gated copy is not fingerprinted")
        self.assertEqual(got["suggested"], "model.safetensors", got)

        # the publisher traces that copy from the manage page and sees the
        # verdict, positions read and z the API gives for the same bytes (a
        # model this small is too small to accuse anyone: "insufficient")
        copy = os.path.join(self.work, "page.safetensors")
        res = self.flow("trace", ctx=pub, model=model, files=[copy])
        with open(copy, "rb") as f:
            data = f.read()
        name = b"model.safetensors"
        body = struct.pack("<H", len(name)) + name + struct.pack("<Q", len(data)) + data
        r = self.srv.request("POST", "/api/v1/models/%s/trace" % model, body,
                             {"Content-Type": "application/octet-stream"}, token=self.pub)
        self.assertEqual(r.status, 200, r)
        want = r.json()
        self.assertRegex(res["text"], r"\b%s\b" % want["verdict"], (res, want))
        self.assertRegex(res["text"], r"(?i)positions read", res)
        self.assertIn(str(want["positions_read"]), res["text"], (res, want))

    def test_deny_with_reason_then_appeal(self):
        model = "lab/gated-m"
        who, token = self.user("carol")
        carol = self.signed_in(who, token)
        pub = self.signed_in("pub", self.pub)
        purpose = "Red-teaming " + XSS
        view = self.flow("request_access", ctx=carol, model=model, purpose=purpose,
                         fields={"institution": XSS})
        self.assertTrue(view["state"].startswith("pending"), view)
        reason = "Purpose too vague " + XSS
        q = self.flow("manage", ctx=pub, model=model, user=who, action="Deny", reason=reason)
        me = self.access_me(model, token)
        self.assertEqual((me["status"], me["reason"]), ("denied", reason), (me, q))
        # the publisher's queue showed the purpose as text
        probe = self.flow("xss_probe", ctx=pub, url=self.srv.url + "/" + model + "/manage")
        self.assert_inert(probe, [XSS])
        view = self.flow("model", ctx=carol, model=model)
        self.assertTrue(view["state"].startswith("denied"), view)
        self.assertIn(reason, view["main"], "the reason is shown as text")
        self.assertTrue(view["appeal_box"], view)
        self.assertEqual(view["downloads"], [], view)
        probe = self.flow("xss_probe", ctx=carol, url=self.srv.url + "/" + model)
        self.assert_inert(probe, [reason])
        text = "We are a registered NGO; our ethics approval is attached."
        view = self.flow("appeal", ctx=carol, model=model, text=text)
        me = self.access_me(model, token)
        self.assertEqual(me["appeal"] if isinstance(me["appeal"], str)
                         else (me["appeal"] or {}).get("text"), text, me)

    def test_manage_page_is_the_publishers(self):
        """A requester who opens the manage page of the model gets no queue
        and no buttons (the API refuses them anyway); the publisher does."""
        model = "lab/gated-m"
        who, token = self.user("sneaky")
        self.api("POST", "/api/v1/models/%s/access" % model,
                 {"purpose": "x", "fields": {"institution": "y"}}, token=token)
        res = self.flow("manage_view", ctx=self.signed_in(who, token), model=model)
        self.assertEqual((res["approve"], res["deny"], res["revoke"], res["trace"]),
                         (0, 0, 0, 0), res)
        res = self.flow("manage_view", ctx=self.ctx("anon"), model=model)
        self.assertEqual((res["approve"], res["deny"], res["trace"]), (0, 0, 0), res)
        res = self.flow("manage_view", ctx=self.signed_in("pub", self.pub), model=model)
        self.assertGreater(res["approve"], 0, res)
        self.assertIn(who, res["main"], res)
        self.assertEqual(self.access_me(model, token)["status"], "pending")

    def test_revocation(self):
        model = "lab/gated-m"
        who, token = self.user("dave")
        base = "/api/v1/models/" + model
        self.assertIn(self.api("POST", base + "/access", {"purpose": "benchmarks",
                                                         "fields": {"institution": "x"}},
                               token=token)[0], (200, 201))
        status, doc = self.api("POST", base + "/access/%s/approve" % who, {}, token=self.pub)
        self.assertEqual(status, 200, doc)
        dave = self.signed_in(who, token)
        pub = self.signed_in("pub", self.pub)
        view = self.flow("model", ctx=dave, model=model)
        self.assertTrue(view["state"].startswith("approved"), view)
        self.assertNotEqual(view["downloads"], [], view)
        reason = "Shared the weights on a public mirror"
        self.flow("manage", ctx=pub, model=model, user=who, action="Revoke", reason=reason)
        me = self.access_me(model, token)
        self.assertEqual((me["status"], me["reason"]), ("revoked", reason), me)
        view = self.flow("model", ctx=dave, model=model)
        self.assertTrue(view["state"].startswith("revoked"), view)
        self.assertIn(reason, view["state"] + view["main"], view)
        self.assertEqual(view["downloads"], [], "download links after the revocation")
        self.assertEqual(view["signed_license"], [], view)

    # ================================================================ auditors

    def proxy(self):
        p = webui.TamperProxy(self.srv.port, self.other.port)
        type(self).proxies.append(p)
        return p

    def test_log_checkpoint_verified_then_tampered(self):
        p = self.proxy()
        c = self.ctx("auditor")
        notes = [self.api("GET", "/log/checkpoint")[1]]
        res = self.flow("log_page", ctx=c, base=p.url)
        notes.append(self.api("GET", "/log/checkpoint")[1])
        self.assertEqual(res["state"], "verified", res)
        # the page shows the origin, size and root hash of the checkpoint
        # the server served (before or after it loaded, should a new one
        # have been signed meanwhile)
        shown = [n for n in notes
                 if all(w in res["main"] for w in n.decode().split("\n")[:3])]
        self.assertNotEqual(shown, [], (notes, res))
        self.assertFalse(is_red(res["colors"]["color"]) or is_red(res["colors"]["background"]),
                         res)
        for mode in ("root", "key", "newkey"):
            p.mode = mode
            res = self.flow("log_page", ctx=c, base=p.url)
            if mode == "root":
                self.assertGreater(p.tampered, 0, "the page read no checkpoint through the proxy")
            self.assertTrue(res["state"].startswith("FAILED"), (mode, res))
            self.assertTrue(is_red(res["colors"]["color"]) or is_red(res["colors"]["background"]),
                            (mode, res))
        # honest again: the pinned key still verifies
        p.mode = "honest"
        res = self.flow("log_page", ctx=c, base=p.url)
        self.assertEqual(res["state"], "verified", res)

    def test_history_proofs(self):
        model = "lab/gated-m"
        status, report = self.api("GET", "/api/v1/models/%s/report" % model)
        self.assertEqual(status, 200, report)
        p = self.proxy()
        c = self.ctx("historian")
        res = self.flow("history_page", ctx=c, base=p.url, model=model)
        self.assertEqual(len(res["states"]), len(report["events"]), res)
        self.assertEqual(set(res["states"]), {"verified"}, res)
        p.mode = "proof"
        res = self.flow("history_page", ctx=c, base=p.url, model=model)
        self.assertGreater(p.tampered, 0)
        failed = [s for s in res["states"] if s.startswith("FAILED")]
        self.assertGreater(len(failed), 0, res)
        for i, s in enumerate(res["states"]):
            if s.startswith("FAILED"):
                col = res["colors"][i]
                self.assertTrue(is_red(col["color"]) or is_red(col["background"]), res)
        p.mode = "root"
        res = self.flow("history_page", ctx=c, base=p.url, model=model)
        self.assertTrue(all(s.startswith("FAILED") for s in res["states"]), res)

    # ================================================================ CSRF, sessions

    def test_csrf_same_origin_fetch(self):
        who, token = self.user("erin")
        c = self.signed_in(who, token)
        path = "/api/v1/models/lab/click-m/accept"
        for csrf in ("none", "wrong"):
            r = self.flow("fetch_from_page", ctx=c, origin=self.srv.url, path=path, body={},
                          csrf=csrf)
            self.assertEqual(r["status"], 403, (csrf, r))
            self.assertEqual(json.loads(r["body"]).get("error"), "csrf", r)
            status, terms = self.api("GET", "/api/v1/models/lab/click-m/terms", token=token)
            self.assertFalse(terms["accepted"], (csrf, terms))
        r = self.flow("fetch_from_page", ctx=c, origin=self.srv.url, path=path, body={},
                      csrf="session")
        self.assertEqual(r["status"], 200, r)
        status, terms = self.api("GET", "/api/v1/models/lab/click-m/terms", token=token)
        self.assertTrue(terms["accepted"], terms)

    def test_csrf_cross_site_form(self):
        """A page on another site posts a form (and a no-cors fetch) at the
        publisher's approve call while the publisher is signed in: no
        approval happens."""
        model = "lab/gated-m"
        who, token = self.user("frank")
        base = "/api/v1/models/" + model
        self.assertIn(self.api("POST", base + "/access", {"purpose": "x",
                                                         "fields": {"institution": "y"}},
                               token=token)[0], (200, 201))
        pub = self.signed_in("pub", self.pub)
        evil = webui.OtherSite()
        self.addCleanup(evil.close)
        target = self.srv.url + base + "/access/%s/approve" % who
        evil.html = """<!doctype html><html><body>
<form id=f method=post action="%s" enctype="text/plain">
<input name='{"expires":"2099-01-01","x":"' value='"}'></form>
<script>
fetch(%s, {method: "POST", mode: "no-cors", credentials: "include",
           body: "{}"}).finally(() => document.getElementById("f").submit());
</script></body></html>""" % (target, json.dumps(target))
        res = self.flow("visit", ctx=pub, url=evil.url, wait_url=target)
        self.assertEqual(self.access_me(model, token)["status"], "pending", res)
        # the publisher's own session still works from the UI's origin
        self.assertTrue(self.flow("whoami", ctx=pub, url=self.srv.url + "/")["signed_in"])

    def test_login_csrf(self):
        """Another site posts the attacker's token to the sign-in call (and
        a sign-up) from the visitor's browser: the visitor is not signed in
        as the attacker, and no account is made."""
        _, mallory = self.user("mallory")
        c = self.ctx("visitor")
        evil = webui.OtherSite()
        self.addCleanup(evil.close)
        target = self.srv.url + "/api/v1/session"
        evil.html = """<!doctype html><html><body>
<form id=f method=post action="%s" enctype="text/plain">
<input name='{"token":"%s","x":"' value='"}'></form>
<script>
fetch(%s, {method: "POST", mode: "no-cors", credentials: "include",
           body: JSON.stringify({user: "sockpuppet", name: "S", email: "s@evil.test",
                                 affiliation: "x", country: "FR"})})
  .finally(() => document.getElementById("f").submit());
</script></body></html>""" % (target, mallory, json.dumps(self.srv.url + "/api/v1/signup"))
        self.flow("visit", ctx=c, url=evil.url, wait_url=target)
        self.assertEqual([k for k in self.flow("cookies", ctx=c)
                          if k["name"] == "sluice_session"], [], "a session cookie was set")
        self.assertFalse(self.flow("whoami", ctx=c, url=self.srv.url + "/")["signed_in"])
        status, users = self.api("GET", "/api/v1/users", token=self.srv.admin_token)
        self.assertNotIn("sockpuppet", [u["user"] for u in users])

    def test_session_expired(self):
        who, token = self.user("gina")
        c = self.signed_in(who, token)
        table, col, n = webui.expire_sessions(self.srv.data)
        self.assertGreater(n, 0, (table, col))
        res = self.flow("whoami", ctx=c, url=self.srv.url + "/lab/click-m")
        self.assertFalse(res["signed_in"], res)
        r = self.flow("fetch_from_page", ctx=c, origin=self.srv.url,
                      path="/api/v1/models/lab/click-m/accept", body={}, csrf="wrong")
        self.assertEqual(r["status"], 401, r)
        self.assertIn("session_expired", r["body"], r)

    def test_signed_out_cookie_reused(self):
        who, token = self.user("hal")
        c = self.signed_in(who, token)
        saved = [k for k in self.flow("cookies", ctx=c) if k["name"] == "sluice_session"]
        self.assertEqual(len(saved), 1)
        self.flow("signout", ctx=c)
        self.assertEqual([k for k in self.flow("cookies", ctx=c)
                          if k["name"] == "sluice_session"], [], "the cookie was not cleared")
        self.flow("add_cookies", ctx=c, cookies=saved)
        res = self.flow("whoami", ctx=c, url=self.srv.url + "/")
        self.assertFalse(res["signed_in"], "a signed-out session came back from its cookie")
        r = self.flow("fetch_from_page", ctx=c, origin=self.srv.url, path="/api/v1/session",
                      method="GET", csrf="none")
        self.assertEqual(r["status"], 401, r)
        r = self.flow("fetch_from_page", ctx=c, origin=self.srv.url,
                      path="/api/v1/models/lab/click-m/accept", body={}, csrf="wrong")
        self.assertEqual(r["status"], 401, r)
        self.assertIn("session_expired", r["body"], r)
        status, terms = self.api("GET", "/api/v1/models/lab/click-m/terms", token=token)
        self.assertFalse(terms["accepted"], terms)

    # ================================================================ hostile text

    def assert_inert(self, probe, texts):
        self.assertEqual(probe["pwned"], 0, "user-supplied markup ran: %r" % probe)
        self.assertEqual(probe["scripts_in_main"], 0, probe)
        self.assertEqual(probe["handlers"], [], probe)
        self.assertEqual(probe["js_links"], [], probe)
        for t in texts:
            self.assertIn(t, probe["main"], "not shown as text: %r" % t)

    def test_model_card_markup_never_runs(self):
        """The card is Markdown with HTML off: its <script> and <img
        onerror> are text, its javascript: link no link, with CSP on and,
        to test the escaping itself, with CSP bypassed."""
        for opts in ({}, {"bypassCSP": True}):
            c = self.ctx("card-%d" % len(opts))
            probe = self.flow("xss_probe", ctx=c, options=opts, url=self.srv.url + "/lab/xss-m")
            self.assert_inert(probe, ["Tiny test model"])
            self.assertNotIn("**bold**", probe["main"], "the card is not rendered as Markdown")
        # purposes and reasons with CSP bypassed too
        model = "lab/gated-m"
        who, token = self.user("ivan")
        base = "/api/v1/models/" + model
        self.api("POST", base + "/access", {"purpose": XSS, "fields": {"institution": XSS}},
                 token=token)
        self.api("POST", base + "/access/%s/deny" % who, {"reason": XSS}, token=self.pub)
        c = self.ctx("ivan-nocsp")
        self.flow("signin", ctx=c, token=token, options={"bypassCSP": True})
        probe = self.flow("xss_probe", ctx=c, url=self.srv.url + "/" + model)
        self.assert_inert(probe, [XSS])

    # ================================================================ admins

    def test_admin_page(self):
        """The admin sees users, orgs, evaluator keys and invitations, and
        creates an invitation from the page; anyone else sees none of it."""
        who, token = self.user("nosy")
        c = self.signed_in(who, token)
        res = self.flow("admin", ctx=c)
        self.assertEqual(set(res["regions"].values()), {False}, res)
        self.assertNotIn("pub", res["main"].split(), res)
        status, before = self.api("GET", "/api/v1/invitations", token=self.srv.admin_token)
        self.assertEqual(status, 200, before)
        c = self.signed_in("admin", self.srv.admin_token)
        res = self.flow("admin", ctx=c, create=True)
        self.assertEqual(set(res["regions"].values()), {True}, res)
        self.assertIn("pub", res["main"], "the user list")
        self.assertIn("lab", res["main"], "the org list")
        status, after = self.api("GET", "/api/v1/invitations", token=self.srv.admin_token)
        self.assertEqual(len(after), len(before) + 1, (before, after))
        self.assertNotEqual(res["before"], res["after"], res)

    # ================================================================ every page

    def axe(self, pages):
        res = self.flow("axe_pages", pages=pages, timeout=600)
        self.assertEqual(len(res), len(pages))
        bad = [r for r in res if r["violations"]]
        self.assertEqual(bad, [], json.dumps(bad, indent=1))

    def test_axe_signed_out(self):
        """axe-core on every page a visitor sees, each tier, light and dark."""
        pages = [{"url": u} for u in ("/", "/signin", "/log", "/lab/gated-m/history",
                                      "/no/such-model")]
        pages += [{"url": "/lab/%s-m" % t} for t in TIERS]
        pages += [{"url": u, "colorScheme": "dark"} for u in ("/", "/lab/gated-m", "/log")]
        self.axe(pages)

    def test_axe_signed_in(self):
        """axe-core on every page signed in: a requester on each tier (and
        with a pending request), the publisher's manage pages, the admin's."""
        who, token = self.user("reader")
        self.api("POST", "/api/v1/models/lab/gated-m/access",
                 {"purpose": "axe", "fields": {"institution": "x"}}, token=token)
        pages = [{"url": "/lab/%s-m" % t, "token": token, "who": who} for t in TIERS]
        pages += [{"url": u, "token": token, "who": who} for u in ("/", "/signin")]
        pages += [{"url": "/lab/%s-m/manage" % t, "token": self.pub, "who": "pub"}
                  for t in ("click", "gated")]
        pages += [{"url": "/admin", "token": self.srv.admin_token, "who": "admin"}]
        pages += [{"url": "/lab/gated-m", "token": token, "who": who, "colorScheme": "dark"}]
        self.axe(pages)

    def test_tiers_and_download_links(self):
        """Each tier's word, the how-to box, and download links exactly where
        the viewer may download (signed out: open only)."""
        c = self.ctx("anon")
        for t in TIERS:
            model = "lab/%s-m" % t
            view = self.flow("model", ctx=c, model=model)
            if t == "withheld" and view["status"] == 404:
                continue
            self.assertEqual(view["tier"], t, view)
            if t == "open":
                self.assertEqual(sorted(d["name"] for d in view["downloads"]),
                                 sorted(self.files[model]), view)
                self.assertIn("sluice pull " + model, view["how_to_download"] or "", view)
            else:
                self.assertEqual(view["downloads"], [], view)
        got = self.flow("download", ctx=c, model="lab/open-m", path="config.json",
                        dest=os.path.join(self.work, "config.json"))
        self.assertEqual(got["sha256"], self.files["lab/open-m"]["config.json"])
        view = self.flow("model", ctx=c, model="no/such-model")
        self.assertEqual(view["status"], 404, view)

    def test_index_and_search(self):
        """/ links every model a visitor may see as ORG/NAME to /ORG/NAME;
        "Search models" narrows the list to the matching ones."""
        res = self.flow("index", ctx=self.ctx("home"), query="gated")
        status, listed = self.api("GET", "/api/v1/models")
        self.assertEqual(status, 200, listed)
        want = sorted(m["model"] for m in listed)
        self.assertIn("lab/open-m", want)
        self.assertEqual(sorted(x["name"] for x in res["all"]), want, res)
        for x in res["all"]:
            self.assertEqual(x["href"], "/" + x["name"], x)
        self.assertEqual(sorted(x["name"] for x in res["found"]), ["lab/gated-m"], res)
        self.assertEqual(res["log_link"], 1, res)

    def test_page_weight_and_slow_link(self):
        for path in ("/", "/lab/gated-m"):
            res = self.flow("weigh", url=self.srv.url + path)
            self.assertLessEqual(res["total"], 100_000, (path, res))
            self.assertGreater(res["total"], 0, res)
        res = self.flow("weigh", url=self.srv.url + "/lab/gated-m", wait_tier=True,
                        throttle={"kbit": 400, "rtt": 400})
        self.assertLess(res["ready_ms"], 5000, res)

    def test_a_second_visit_asks_the_server_for_no_asset(self):
        """docs/web.md "Assets and headers": every asset, the modules app.js
        imports too, is kept for a year, so a second visit takes them all
        from the browser's cache, with no revalidation round trip."""
        res = self.flow("revisit", url=self.srv.url + "/lab/open-m")
        first, second = res["visits"]
        used = {u["url"].split("/ui/", 1)[1] for u in first}
        self.assertTrue({"app.js", "app.css", "md.js"} <= {u.split("?")[0] for u in used}, res)
        # the first visit fetched the scripts (so the count below means something)
        self.assertTrue(all(u["server"] and u["status"] == 200 for u in first
                            if ".js?" in u["url"] or u["url"].endswith(".js")), res)
        self.assertEqual([u for u in second if u["server"]], [], res)
        for u in first + second:
            self.assertRegex(u["url"], r"/ui/[^?]+\?v=[0-9a-f]{8}$", res)

    def test_dark_scheme(self):
        light = self.flow("scheme", url=self.srv.url + "/lab/gated-m", colorScheme="light")
        dark = self.flow("scheme", url=self.srv.url + "/lab/gated-m", colorScheme="dark")
        self.assertGreater(luminance(light["background"]), 0.6, light)
        self.assertLess(luminance(dark["background"]), 0.3, dark)
        self.assertGreater(luminance(dark["color"]), 0.6, dark)


class Screenshots(unittest.TestCase):
    """docs/web.md's screenshots (make screenshots): each page shown is a
    1000x700 PNG of at most 150 KB in docs/web/, and none is left unshown."""

    def test_pngs(self):
        docs = os.path.join(st.SOURCE, "docs")
        with open(os.path.join(docs, "web.md")) as f:
            shown = re.findall(r"!\[[^\]]*\]\((web/[^)]+\.png)\)", f.read())
        self.assertGreaterEqual(len(shown), 12, shown)
        on_disk = sorted("web/" + n for n in os.listdir(os.path.join(docs, "web"))
                         if n.endswith(".png"))
        self.assertEqual(sorted(shown), on_disk)
        for rel in shown:
            with open(os.path.join(docs, rel), "rb") as f:
                png = f.read()
            self.assertLessEqual(len(png), 150_000, rel)
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n", rel)
            self.assertEqual(struct.unpack(">II", png[16:24]), (1000, 700), rel)


if __name__ == "__main__":
    unittest.main(verbosity=2)
