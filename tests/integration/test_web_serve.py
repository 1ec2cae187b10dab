# SPDX-License-Identifier: Apache-2.0
"""Serving the web UI (issue 14; docs/web.md "Pages", "Assets and headers",
"TLS" and the card and viewer calls) against a real `sluice serve`.

Every page path answers the shell with the UI's headers (a model that does
not exist: 404); no API route is shadowed; every /ui/ URL in the shell and
in the scripts it loads carries its version and is kept for a year, each
asset fetched once; assets carry ETag, 304, gzip (decompressed and compared
with web/), Cache-Control by version; every file
download route carries nosniff, attachment and sandbox, also for a
fingerprinted copy, HEAD, Range, 304 and a cached file, with a file name
that tries to break out of the header; off loopback without TLS the pages
answer a 403 page and the API does not change; the model card and the
viewer for anonymous callers, a grantee and the publisher on every tier.
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

WEB = os.path.join(st.SOURCE, "web")
CSP = ("default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
PAGES = ["/", "/signin", "/log", "/admin", "/acme/w-open", "/acme/w-open/history",
         "/acme/w-gated/manage", "/acme/w-withheld"]
TIERS = ["open", "click", "gated", "withheld"]
# a name that tries to end the quoted filename and add a parameter; pushed
# paths may not hold '"' (docs/api.md), so '%22' stands in for it here (a
# browser that percent-decodes filename= would read a quote)
WEIRD = "évil;filename=x%22.html'.bin"
CARD = "# A model\n\nIt does things. Ünïcödé and <script>alert(1)</script> stay text.\n"
SMALL_FACTS = {"params": 4224, "training": {"tokens": 1e9}}


def disposition_name(cd):
    """The file name a browser takes from Content-Disposition CD: filename*
    when present (RFC 6266 section 4.3), else the quoted filename."""
    m = re.fullmatch(r'attachment; filename="((?:[^"\\]|\\.)*)"'
                     r"(?:; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+))?", cd)
    assert m, "not one attachment with filename and an optional filename*: %r" % cd
    if m.group(2):
        return urllib.parse.unquote(m.group(2), encoding="utf-8", errors="strict")
    return re.sub(r"\\(.)", r"\1", m.group(1))


def read(path):
    with open(path, "rb") as f:
        return f.read()


class WebServe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-web-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.setup_world()
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
    def push(cls, model, folder, tier):
        r = st.run("push", "acme/" + model, folder, "--facts", cls.facts, "--tier", tier,
                   "--json", env=cls.srv.client_env(cls.tok["publisher"], cls.home),
                   timeout=120)
        if r.rc != 0:
            raise AssertionError("push %s: %r" % (model, r))

    @classmethod
    def setup_world(cls):
        srv = cls.srv
        srv.start()
        cls.tok = {"anon": None}
        for who in ("publisher", "grantee", "other"):
            cls.tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_member("acme", "publisher", "publisher")
        cls.home = os.path.join(cls.tmp, "home")
        cls.facts = os.path.join(cls.tmp, "facts.json")
        with open(cls.facts, "w") as f:
            json.dump(SMALL_FACTS, f)
        folder = os.path.join(cls.tmp, "model")
        sv.make_model(folder, big=100000)
        with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
            f.write(CARD)
        with open(os.path.join(folder, WEIRD), "wb") as f:
            f.write(b"<html><script>alert(document.cookie)</script></html>")
        for t in TIERS:
            cls.push("w-" + t, folder, t)
        # a card named in another case, and one that is not at the top level
        other = os.path.join(cls.tmp, "other")
        sv.make_model(other, big=1000)
        with open(os.path.join(other, "Readme.MD"), "w") as f:
            f.write("lower")
        cls.push("w-case", other, "open")
        os.remove(os.path.join(other, "Readme.MD"))
        os.makedirs(os.path.join(other, "docs"))
        with open(os.path.join(other, "docs", "README.md"), "w") as f:
            f.write("not the card")
        cls.push("w-nocard", other, "open")
        # a card over 512 KiB with a two-byte character across the cut
        big = os.path.join(cls.tmp, "big")
        sv.make_model(big, big=1000)
        cls.big_card = ("a" * (512 * 1024 - 1) + "é" + "tail" * 1000).encode("utf-8")
        with open(os.path.join(big, "README.md"), "wb") as f:
            f.write(cls.big_card)
        cls.push("w-bigcard", big, "open")
        pub = cls.tok["publisher"]
        for t in ("click",):
            r = srv.request("POST", "/api/v1/models/acme/w-%s/accept" % t, b"{}",
                            {"Content-Type": "application/json"}, token=cls.tok["grantee"])
            assert r.status == 200, r
        for t in ("gated", "withheld"):
            r = srv.request("POST", "/api/v1/models/acme/w-%s/access" % t,
                            {"purpose": "web tests"}, token=cls.tok["grantee"])
            assert r.status == 201, r
        r = srv.request("POST", "/api/v1/models/acme/w-gated/access/grantee/approve", {},
                        token=pub)
        assert r.status == 200, r
        cls.shell = srv.request("GET", "/").body

    def get(self, path, headers=None, token=None, method="GET"):
        return self.srv.request(method, path, headers=headers, token=token)

    def assert_ui_headers(self, r, what):
        h = r.headers
        self.assertEqual(h.get("Content-Security-Policy"), CSP, what)
        self.assertNotIn("unsafe-inline", h.get("Content-Security-Policy"), what)
        self.assertNotIn("unsafe-eval", h.get("Content-Security-Policy"), what)
        self.assertEqual(h.get("X-Frame-Options"), "DENY", what)
        self.assertEqual(h.get("Referrer-Policy"), "same-origin", what)
        self.assertEqual(h.get("X-Content-Type-Options"), "nosniff", what)

    # ------------------------------------------------------------ pages

    def test_every_page_answers_the_shell(self):
        self.assertIn(b"/ui/app.js?v=", self.shell)
        for path in PAGES:
            r = self.get(path)
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.headers.get("Content-Type"), "text/html; charset=utf-8", path)
            self.assertEqual(r.body, self.shell, path)
            self.assertEqual(r.headers.get("Cache-Control"), "no-cache", path)
            self.assertEqual(r.headers.get("Vary"), "Accept-Encoding", path)
            self.assert_ui_headers(r, path)
            h = self.get(path, method="HEAD")
            self.assertEqual(h.status, 200, (path, h))
            self.assertEqual(h.body, b"", path)
            self.assertEqual(h.headers.get("Content-Length"), str(len(self.shell)), path)
            self.assert_ui_headers(h, path)

    def test_a_model_that_does_not_exist_is_the_shell_with_404(self):
        for path in ("/acme/nope", "/acme/nope/history", "/acme/nope/manage", "/nobody/w-open"):
            r = self.get(path)
            self.assertEqual(r.status, 404, (path, r))
            self.assertEqual(r.body, self.shell, path)
            self.assert_ui_headers(r, path)
            self.assertEqual(self.get(path, method="HEAD").status, 404, path)

    def test_the_shell_has_no_inline_script_or_style(self):
        text = self.shell.decode("utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            self.assertIn(" src=", tag, tag)
        self.assertNotIn("<style", text)
        self.assertNotRegex(text, r"\sstyle\s*=")
        self.assertNotRegex(text, r"\son[a-z]+\s*=")  # no inline event handlers

    def test_no_api_route_is_shadowed(self):
        cases = [("GET", "/api/models", 200, "application/json"),
                 ("GET", "/api/whoami-v2", 401, "application/json"),
                 ("GET", "/api/v1/models", 200, "application/json"),
                 ("GET", "/api/v1/models/acme/w-open", 200, "application/json"),
                 ("GET", "/log/key", 200, "text/plain; charset=utf-8"),
                 ("GET", "/log/checkpoint", 200, "text/plain; charset=utf-8"),
                 ("GET", "/v1/models", 200, "application/json"),
                 ("GET", "/metrics", 200, None),
                 ("GET", "/api/v1/health", 200, "application/json"),
                 # API paths the pages' patterns would otherwise take
                 ("GET", "/api/nothing", 404, "application/json"),
                 ("GET", "/v1/nothing", 404, "application/json"),
                 ("GET", "/log/nothing/history", 404, "application/json"),
                 ("GET", "/ui/nothing/manage", 404, "application/json"),
                 ("HEAD", "/v1/models", 405, None),
                 ("HEAD", "/api/models", 405, None),
                 ("POST", "/", 405, "application/json"),
                 ("DELETE", "/acme/w-open", 405, "application/json"),
                 ("GET", "/acme/w%20open", 400, "application/json"),
                 ("GET", "/acme/w-open/nothing", 404, "application/json"),
                 ("GET", "/acme/w-open/resolve/main/config.json", 200,
                  "application/octet-stream")]
        for method, path, status, ctype in cases:
            r = self.get(path, method=method)
            self.assertEqual(r.status, status, (method, path, r))
            if ctype:
                self.assertEqual(r.headers.get("Content-Type"), ctype, (method, path, r))
            self.assertNotEqual(r.body, self.shell, (method, path))

    # ------------------------------------------------------------ assets

    def asset_urls(self):
        urls = re.findall(r'"(/ui/[^"?]+)\?v=([0-9a-f]+)"', self.shell.decode("utf-8"))
        self.assertEqual({u for u, _ in urls}, {"/ui/app.js", "/ui/app.css", "/ui/favicon.svg"})
        return urls

    def crawl(self):
        """What a browser asks for from the shell on: every /ui/ URL in the
        shell and in each script and style sheet fetched, followed once each.
        Returns ({url: answer}, [every URL as found, repeats included])."""
        answers, found, queue = {}, [], [self.shell]
        while queue:
            text = queue.pop(0).decode("utf-8")
            for url in re.findall(r"/ui/[^\s\"'`()<>#?]*(?:\?[^\s\"'`()<>#]*)?", text):
                found.append(url)
                if url in answers:
                    continue  # the browser has it
                r = self.get(url)
                answers[url] = r
                if r.status == 200 and re.search(r"\.(js|mjs|css|html)$", url.split("?")[0]):
                    queue.append(r.body)
        return answers, found

    def test_every_asset_the_ui_asks_for_is_versioned_and_kept_for_a_year(self):
        self.asset_urls()
        answers, found = self.crawl()
        names = {}
        for url in found:
            m = re.fullmatch(r"/ui/([^?]+)\?v=([0-9a-f]{8})", url)
            self.assertIsNotNone(m, "a /ui/ URL without its version: %r" % url)
            # one version per asset, so no file is fetched twice under two URLs
            self.assertEqual(names.setdefault(m.group(1), m.group(2)), m.group(2), url)
        # the modules app.js imports are reached, each fetched once however often named
        self.assertTrue({"app.js", "app.css", "favicon.svg", "md.js", "verify.js",
                         "manage.js"} <= set(names), names)
        self.assertGreater(len(found), len(answers), "verify.js is imported in several places")
        self.assertEqual(len(answers), len(names))
        for url, r in answers.items():
            self.assertEqual(r.status, 200, (url, r))
            digest = hashlib.sha256(r.body).hexdigest()
            self.assertEqual(url[-8:], digest[:8], url)
            self.assertEqual(r.headers.get("ETag"), '"%s"' % digest, url)
            # kept for a year: the browser never comes back to revalidate
            self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=31536000, immutable",
                             url)

    def test_assets_are_the_web_files_with_versions(self):
        types = {"app.js": "text/javascript; charset=utf-8", "md.js": None, "verify.js": None,
                 "manage.js": None, "app.css": "text/css; charset=utf-8",
                 "favicon.svg": "image/svg+xml"}
        urls = [tuple(u.split("?v=")) for u in self.crawl()[0]]
        self.assertEqual({u[len("/ui/"):] for u, _ in urls}, set(types))
        for url, v in urls:
            name = url[len("/ui/"):]
            disk = read(os.path.join(WEB, name))
            r = self.get("%s?v=%s" % (url, v))
            self.assertEqual(r.status, 200, (url, r))
            # web/NAME, with the versions of the assets it names added
            self.assertEqual(re.sub(rb"(/ui/[^\"'`()?]+)\?v=[0-9a-f]{8}", rb"\1", r.body), disk,
                             url)
            digest = hashlib.sha256(r.body).hexdigest()
            self.assertEqual(v, digest[:8], url)
            self.assertEqual(r.headers.get("ETag"), '"%s"' % digest, url)
            self.assertEqual(r.headers.get("Content-Type"),
                             types[name] or types["app.js"], url)
            self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=31536000, immutable",
                             url)
            self.assertEqual(r.headers.get("Vary"), "Accept-Encoding", url)
            self.assertIsNone(r.headers.get("Content-Encoding"), url)
            self.assert_ui_headers(r, url)
            # no version, or an old one: revalidated, never kept for a year
            for q in ("", "?v=00000000", "?v=" + digest):
                r2 = self.get(url + q)
                self.assertEqual(r2.status, 200, (url, q))
                self.assertEqual(r2.body, r.body)
                self.assertEqual(r2.headers.get("Cache-Control"), "no-cache", (url, q))
            # the cached copy is current: 304 with no body
            r3 = self.get(url + "?v=" + v, headers={"If-None-Match": r.headers["ETag"]})
            self.assertEqual(r3.status, 304, (url, r3))
            self.assertEqual(r3.body, b"")
            self.assertEqual(r3.headers.get("ETag"), r.headers["ETag"])
            self.assert_ui_headers(r3, url)
            # the digest of the file on disk is not the ETag of a rewritten one
            r4 = self.get(url, headers={"If-None-Match": '"%s"' % ("0" * 64)})
            self.assertEqual(r4.status, 200, url)
            if r.body != disk:
                r5 = self.get(url + "?v=" + v, headers={
                    "If-None-Match": '"%s"' % hashlib.sha256(disk).hexdigest()})
                self.assertEqual((r5.status, r5.body), (200, r.body), url)
            h = self.get(url + "?v=" + v, method="HEAD")
            self.assertEqual((h.status, h.body), (200, b""), url)
            self.assertEqual(h.headers.get("Content-Length"), str(len(r.body)), url)

    def test_gzip_when_the_client_takes_it(self):
        gzipped = 0
        for path in ["/", "/acme/w-open"] + list(self.crawl()[0]):
            plain = self.get(path)
            r = self.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.headers.get("Vary"), "Accept-Encoding", path)
            if r.headers.get("Content-Encoding") == "gzip":
                gzipped += 1
                self.assertEqual(gzip.decompress(r.body), plain.body, path)
                self.assertLess(len(r.body), len(plain.body), path)
                self.assertNotEqual(r.headers["ETag"], plain.headers["ETag"], path)
                r2 = self.get(path, headers={"Accept-Encoding": "gzip",
                                             "If-None-Match": r.headers["ETag"]})
                self.assertEqual((r2.status, r2.body), (304, b""), path)
            else:
                self.assertEqual(r.body, plain.body, path)
            # refused explicitly: never gzip
            r = self.get(path, headers={"Accept-Encoding": "gzip;q=0, br"})
            self.assertIsNone(r.headers.get("Content-Encoding"), path)
            self.assertEqual(r.body, plain.body, path)
        # the shell twice and the icon at least compress
        self.assertGreaterEqual(gzipped, 3)

    def test_asset_lookup_refuses_what_is_not_an_asset(self):
        for path, status in (("/ui/nothing.js", 404), ("/ui/APP.JS", 404), ("/ui/", 404),
                             ("/ui/../data/sluice.db", 400), ("/ui/%2e%2e/x", 400),
                             ("/ui/app.js%00", 400)):
            r = self.get(path)
            self.assertEqual(r.status, status, (path, r))
            self.assertEqual(r.headers.get("Content-Type"), "application/json", path)
            self.assertTrue(r.json()["message"], path)

    # ------------------------------------------------------------ downloads

    def assert_download_headers(self, r, name, what):
        h = r.headers
        self.assertEqual(h.get("X-Content-Type-Options"), "nosniff", what)
        self.assertEqual(h.get("Content-Security-Policy"), "sandbox", what)
        cd = h.get("Content-Disposition")
        self.assertTrue(cd and cd.startswith("attachment;"), (what, cd))
        self.assertEqual(disposition_name(cd), name, (what, cd))

    def download_routes(self, model, path):
        q = urllib.parse.quote(path)
        return ["/api/v1/models/acme/%s/versions/main/files/%s" % (model, q),
                "/acme/%s/resolve/main/%s" % (model, q),
                "/acme/%s/raw/main/%s" % (model, q)]

    def test_every_file_download_carries_the_three_headers(self):
        cases = [("w-open", "config.json", None), ("w-open", "sub/dir/extra.txt", None),
                 ("w-open", "model.safetensors", None),
                 ("w-gated", "model.safetensors", "grantee"),
                 ("w-click", "config.json", "grantee")]
        seen = 0
        for model, path, who in cases:
            name = path.rsplit("/", 1)[-1]
            for url in self.download_routes(model, path):
                tok = self.tok[who] if who else None
                for attempt in range(2):  # the second from the lookup cache
                    r = self.get(url, token=tok)
                    self.assertEqual(r.status, 200, (url, r))
                    self.assert_download_headers(r, name, url)
                    seen += 1
                if model == "w-gated":
                    self.assertEqual(r.headers.get("X-Sluice-Fingerprinted"), "1", url)
                h = self.get(url, token=tok, method="HEAD")
                self.assertEqual(h.status, 200, url)
                self.assert_download_headers(h, name, url + " HEAD")
                g = self.get(url, token=tok, headers={"Range": "bytes=2-9"})
                self.assertEqual(g.status, 206, url)
                self.assertEqual(g.body, r.body[2:10], url)
                self.assert_download_headers(g, name, url + " Range")
                n = self.get(url, token=tok, headers={"If-None-Match": r.headers["ETag"]})
                self.assertEqual(n.status, 304, url)
                self.assert_download_headers(n, name, url + " 304")
                seen += 3
        self.assertEqual(seen, len(cases) * 3 * 5)

    def test_a_hostile_file_name_stays_inside_content_disposition(self):
        for url in self.download_routes("w-open", WEIRD):
            for method in ("GET", "HEAD"):
                r = self.get(url, method=method)
                self.assertEqual(r.status, 200, (url, r))
                self.assert_download_headers(r, WEIRD, url)
                cd = r.headers["Content-Disposition"]
                self.assertTrue(cd.isascii(), cd)
                # the quoted fallback holds no quote, percent or non-ASCII
                # byte, and the one filename= parameter is the fallback
                fallback = re.match(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)$',
                                    cd)
                self.assertIsNotNone(fallback, cd)
                self.assertNotIn("%", fallback.group(1), cd)
                self.assertEqual(urllib.parse.unquote(fallback.group(2)), WEIRD, cd)
                self.assertEqual(r.headers.get("Content-Type"), "application/octet-stream")

    # ------------------------------------------------------------ TLS rule

    def tls_server(self, args, name):
        port = sv.free_port()
        data = os.path.join(self.tmp, name)
        s = sv.Server(data, workdir=self.tmp, args=args(port))
        self.addCleanup(s.cleanup)
        s.start(port=port)
        return s

    def assert_refused_page(self, r, what, want):
        self.assertEqual(r.status, 403, (what, r))
        self.assertEqual(r.headers.get("Content-Type"), "text/html; charset=utf-8", what)
        self.assert_ui_headers(r, what)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", what)
        text = r.body.decode("utf-8")
        self.assertIn("needs https", text, what)
        self.assertIn(want, text, what)
        self.assertNotIn("<script", text, what)
        self.assertNotIn("/ui/app.js", text, what)

    def test_off_loopback_the_pages_explain_and_the_api_works(self):
        s = self.tls_server(lambda p: ["--listen", "0.0.0.0:%d" % p], "any")
        try:
            for path in ["/", "/signin", "/log", "/acme/x", "/ui/app.js"]:
                r = s.request("GET", path)
                self.assert_refused_page(r, path, "--trust-proxy yes")
                # a proxy's header is not believed without --trust-proxy
                r = s.request("GET", path, headers={"X-Forwarded-Proto": "https"})
                self.assert_refused_page(r, path, "--trust-proxy yes")
                h = s.request("HEAD", path)
                self.assertEqual((h.status, h.body), (403, b""), path)
            r = s.request("GET", "/api/v1/models")
            self.assertEqual(r.status, 200, r)
            r.json()
            self.assertEqual(s.request("GET", "/log/key").status, 200)
        finally:
            s.stop()

    def test_behind_a_trusted_proxy_only_https_gets_the_ui(self):
        s = self.tls_server(lambda p: ["--trust-proxy", "yes"], "proxied")
        try:
            for path in ["/", "/admin", "/ui/app.css"]:
                self.assert_refused_page(s.request("GET", path), path, "X-Forwarded-Proto")
                self.assert_refused_page(
                    s.request("GET", path, headers={"X-Forwarded-Proto": "http"}), path,
                    "X-Forwarded-Proto")
                r = s.request("GET", path, headers={"X-Forwarded-Proto": "https"})
                self.assertEqual(r.status, 200, (path, r))
                self.assert_ui_headers(r, path)
            self.assertEqual(s.request("GET", "/api/v1/models").status, 200)
        finally:
            s.stop()

    # ------------------------------------------------------------ card

    def card(self, model, who=None, rev="main"):
        return self.get("/api/v1/models/acme/%s/versions/%s/card" % (model, rev),
                        token=self.tok[who] if who else None)

    def test_the_card_on_every_tier(self):
        for t in TIERS:
            for who in ("anon", "other", "grantee", "publisher"):
                r = self.card("w-" + t, who if who != "anon" else None)
                if t == "withheld" and who != "publisher":
                    # a withheld version's card goes with its file list
                    self.assertEqual(r.status, 403, (t, who, r))
                    doc = r.json()
                    self.assertEqual(doc["error"], "forbidden")
                    self.assertIn("withheld", doc["message"])
                    continue
                self.assertEqual(r.status, 200, (t, who, r))
                self.assertEqual(r.body.decode("utf-8"), CARD, (t, who))
                self.assertEqual(r.headers.get("Content-Type"), "text/markdown; charset=utf-8")
                self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
                self.assertEqual(r.headers.get("Content-Security-Policy"), "sandbox")

    def test_card_names_and_absence(self):
        r = self.card("w-case")
        self.assertEqual((r.status, r.body), (200, b"lower"), r)
        self.assertEqual(r.headers.get("X-Card-Path"), "Readme.MD")
        r = self.card("w-nocard")  # docs/README.md is not the model's card
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["error"], "not_found")
        self.assertIn("README.md", r.json()["message"])
        r = self.card("w-case", rev="1")  # the first version had one
        self.assertEqual(r.status, 200, r)
        r = self.card("nope")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["error"], "not_found")
        r = self.card("w-open", rev="v99")
        self.assertEqual(r.status, 404, r)

    def test_a_card_over_512_kib_is_cut_at_a_character_with_a_note(self):
        r = self.card("w-bigcard")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("X-Card-Truncated"), "1")
        text = r.body.decode("utf-8")  # the cut never splits a character
        head, sep, note = text.partition("\n\n---\n\n")
        self.assertTrue(sep, text[-300:])
        self.assertEqual(head.encode("utf-8"), self.big_card[:512 * 1024 - 1])
        self.assertIn(str(len(self.big_card)), note)
        self.assertLessEqual(len(r.body), 512 * 1024 + 300)

    # ------------------------------------------------------------ viewer

    def test_the_viewer_matches_what_a_download_does(self):
        keys = {"signed_in", "user", "may_download", "reason", "hint", "publisher", "member"}
        want = {("open", "anon"): True, ("open", "grantee"): True, ("open", "publisher"): True,
                ("click", "anon"): False, ("click", "other"): False,
                ("click", "grantee"): True, ("click", "publisher"): True,
                ("gated", "anon"): False, ("gated", "other"): False,
                ("gated", "grantee"): True, ("gated", "publisher"): True,
                ("withheld", "anon"): False, ("withheld", "grantee"): False,
                ("withheld", "publisher"): True}
        for (t, who), may in sorted(want.items()):
            tok = self.tok[who]
            r = self.get("/api/v1/models/acme/w-%s/versions/main/viewer" % t, token=tok)
            self.assertEqual(r.status, 200, (t, who, r))
            doc = r.json()
            self.assertEqual(set(doc), keys, doc)
            self.assertEqual(doc["may_download"], may, (t, who, doc))
            self.assertEqual(doc["signed_in"], who != "anon", doc)
            self.assertEqual(doc["user"], None if who == "anon" else who, doc)
            self.assertEqual(doc["publisher"], who == "publisher", doc)
            self.assertEqual(doc["member"], who == "publisher", doc)
            if may:
                self.assertIsNone(doc["reason"], doc)
                self.assertIsNone(doc["hint"], doc)
            else:
                self.assertIn(t, doc["reason"], doc)
                self.assertTrue(doc["hint"], doc)
            got = self.get("/acme/w-%s/resolve/main/config.json" % t, token=tok).status
            self.assertEqual(got == 200, may, (t, who, got))
        doc = self.get("/api/v1/models/acme/w-click/versions/main/viewer",
                       token=self.tok["other"]).json()
        self.assertIn("sluice accept acme/w-click", doc["hint"] + doc["reason"])
        r = self.get("/api/v1/models/acme/nope/versions/main/viewer")
        self.assertEqual(r.status, 404, r)
        r = self.get("/api/v1/models/acme/w-open/versions/main/viewer", token="sl_" + "0" * 64)
        self.assertEqual(r.status, 401, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
