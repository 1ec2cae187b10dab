# SPDX-License-Identifier: Apache-2.0
"""Hugging Face Hub parity on the wire (issue 12, item 3), through the real
server: the /raw/ route, GET /api/models (search, author, sort, direction,
limit, Link pagination, and 400s naming the bad parameter), GET
/api/whoami-v2, download counts, `hf_` tokens, X-Error-Message on errors
and X-Repo-Commit on a missing file's 404.

The unmodified @huggingface/hub client is driven in test_hf_client.py.
"""
import json
import os
import random
import re
import shutil
import tempfile
import unittest
import urllib.parse

import server as sv
import sluicetest as st

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class HfParity(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hfp-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.bob = cls.srv.add_user("bob")
            cls.srv.add_org("acme")
            cls.srv.add_org("zeta")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.srv.add_member("zeta", "alice", "member")
            facts = os.path.join(cls.tmp, "facts.json")
            with open(facts, "w") as f:
                json.dump(FACTS, f)
            env = cls.srv.client_env(cls.alice, os.path.join(cls.tmp, "home"))
            cls.commits = {}
            # acme/Alpha, acme/beta-small, acme/gamma (gated), acme/delta-gguf
            for i, (name, tier) in enumerate([("Alpha", None), ("beta-small", None),
                                              ("gamma", "gated"), ("delta-gguf", None)]):
                folder = os.path.join(cls.tmp, name)
                sv.make_model(folder, big=20000, rng=random.Random(100 + i))
                if name == "delta-gguf":
                    os.unlink(os.path.join(folder, "config.json"))
                    with open(os.path.join(folder, "m.gguf"), "wb") as f:
                        f.write(b"not really gguf, counted by name")
                args = ["push", "acme/" + name, folder, "--facts", facts, "--json"]
                if tier:
                    args += ["--tier", tier]
                r = st.run(*args, env=env, timeout=120)
                if r.rc != 0:
                    raise AssertionError("push failed: %r" % r)
                cls.commits[name] = json.loads(r.stdout)["commit"]
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

    def get(self, path, token=None, method="GET", headers=None):
        return self.srv.request(method, path, token=token, headers=headers)

    def list_models(self, query, token=None):
        r = self.get("/api/models?" + query, token=token)
        self.assertEqual(r.status, 200, r)
        return r, r.json()

    def bad_request(self, query, param):
        r = self.get("/api/models?" + query)
        self.assertEqual(r.status, 400, "%s: %r" % (query, r))
        msg = r.json()["message"]
        self.assertTrue(msg.startswith(param + ":"), "%s: %s" % (query, msg))
        self.assertEqual(r.headers.get("X-Error-Message"), msg)

    # ------------------------------------------------------------ raw

    def test_raw_route_serves_the_file(self):
        path = os.path.join(self.tmp, "Alpha", "config.json")
        with open(path, "rb") as f:
            data = f.read()
        head = self.get("/acme/Alpha/raw/main/config.json", method="HEAD")
        self.assertEqual(head.status, 200, head)
        self.assertEqual(head.headers["X-Repo-Commit"], self.commits["Alpha"])
        self.assertEqual(head.headers["ETag"], '"%s"' % sv.sha256_file(path))
        self.assertEqual(int(head.headers["Content-Length"]), len(data))
        r = self.get("/acme/Alpha/raw/%s/config.json" % self.commits["Alpha"])
        self.assertEqual((r.status, r.body), (200, data))
        r = self.get("/acme/Alpha/raw/main/config.json", headers={"Range": "bytes=2-5"})
        self.assertEqual((r.status, r.body), (206, data[2:6]))
        # the tier rule applies as on resolve
        r = self.get("/acme/gamma/raw/main/config.json", method="HEAD")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.headers["X-Error-Code"], "GatedRepo")

    def test_missing_file_404_names_commit(self):
        for route in ("raw", "resolve"):
            for method in ("HEAD", "GET"):
                r = self.get("/acme/Alpha/%s/main/nope.json" % route, method=method)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.headers["X-Error-Code"], "EntryNotFound")
                self.assertEqual(r.headers["X-Repo-Commit"], self.commits["Alpha"])
                self.assertIn("nope.json", r.headers["X-Error-Message"])
        # a missing revision is not a missing file: no commit to name
        r = self.get("/acme/Alpha/resolve/v99/config.json")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.headers["X-Error-Code"], "RevisionNotFound")
        self.assertIsNone(r.headers.get("X-Repo-Commit"))

    def test_every_error_has_x_error_message(self):
        cases = [("GET", "/no/such/endpoint/at/all", None, 404),
                 ("GET", "/api/models/acme/nope", None, 404),
                 ("GET", "/acme/gamma/resolve/main/config.json", None, 401),
                 ("GET", "/acme/gamma/resolve/main/config.json", self.bob, 403),
                 ("GET", "/acme/Alpha/resolve/main/%00x", None, 400),
                 ("DELETE", "/api/models", None, 405),
                 ("GET", "/api/whoami-v2", None, 401)]
        for method, path, token, status in cases:
            r = self.srv.request(method, path, token=token)
            self.assertEqual(r.status, status, "%s %s: %r" % (method, path, r))
            msg = r.headers.get("X-Error-Message")
            self.assertTrue(msg, "%s %s: no X-Error-Message: %r" % (method, path, r))
            self.assertEqual(msg, r.json()["message"])
        r = self.get("/acme/Alpha/resolve/main/config.json", headers={"Range": "bytes=999999-"})
        self.assertEqual(r.status, 416, r)
        self.assertIn("beyond the end", r.headers["X-Error-Message"])

    # ------------------------------------------------------------ listing

    def test_list_all_and_fields(self):
        r, items = self.list_models("")
        ids = [m["id"] for m in items]
        self.assertEqual(ids, sorted(ids), "without sort the listing is by id")
        for name in ("Alpha", "beta-small", "gamma", "delta-gguf"):
            self.assertIn("acme/" + name, ids)
        m = {m["id"]: m for m in items}
        self.assertEqual(m["acme/gamma"]["gated"], "manual")
        self.assertIs(m["acme/Alpha"]["gated"], False)
        for item in items:
            for k in ("_id", "id", "private", "downloads", "likes", "lastModified",
                      "createdAt", "author", "sha"):
                self.assertIn(k, item)
        self.assertEqual(m["acme/Alpha"]["sha"], self.commits["Alpha"])
        self.assertIsNone(r.headers.get("Link"), "one page: no next link")
        # unknown parameters and the JavaScript client's expand[] are ignored
        _, same = self.list_models("expand%5B%5D=likes&expand=downloads&filter=x&full=true")
        self.assertEqual([i["id"] for i in same], ids)

    def test_search_and_author(self):
        _, items = self.list_models("search=ALPH")
        self.assertEqual([i["id"] for i in items], ["acme/Alpha"])
        _, items = self.list_models("search=small&author=acme")
        self.assertEqual([i["id"] for i in items], ["acme/beta-small"])
        _, items = self.list_models("author=zeta")
        self.assertEqual(items, [])
        _, items = self.list_models("author=ACME&search=gamma")
        self.assertEqual([i["id"] for i in items], ["acme/gamma"])
        _, items = self.list_models("search=Alpha&search=beta")  # the first is used
        self.assertEqual([i["id"] for i in items], ["acme/Alpha"])
        _, items = self.list_models("search=" + urllib.parse.quote("'; DROP TABLE models; --"))
        self.assertEqual(items, [])
        _, items = self.list_models("search=%25")  # a literal %, not a wildcard
        self.assertEqual(items, [])

    def test_sort_and_direction(self):
        _, desc = self.list_models("sort=id")
        ids = [i["id"] for i in desc]
        self.assertEqual(ids, sorted(ids, reverse=True), "the Hub sorts descending")
        _, asc = self.list_models("sort=id&direction=1")
        self.assertEqual([i["id"] for i in asc], sorted(ids))
        _, asc = self.list_models("sort=id&direction=-1")
        self.assertEqual([i["id"] for i in asc], sorted(ids, reverse=True))
        _, by_mod = self.list_models("sort=lastModified&direction=1")
        mods = [i["lastModified"] for i in by_mod]
        self.assertEqual(mods, sorted(mods))
        for key in ("createdAt", "downloads", "likes", "trendingScore", "mainSize",
                    "num_parameters", "downloadsAllTime", "likes30d", "last_modified"):
            _, got = self.list_models("sort=" + key)
            self.assertEqual(sorted(i["id"] for i in got), sorted(ids), key)

    def test_pagination_link(self):
        seen = []
        url = "/api/models?limit=1&sort=id&direction=1&expand=likes&search=a"
        pages = 0
        while url:
            r = self.get(url)
            self.assertEqual(r.status, 200, r)
            items = r.json()
            self.assertLessEqual(len(items), 1)
            seen += [i["id"] for i in items]
            link = r.headers.get("Link")
            pages += 1
            if not link:
                break
            # the pattern @huggingface/hub parses, and absolute
            m = re.fullmatch(r'<(https?://[^>]+)>;\s+rel="([^"]+)"', link)
            self.assertTrue(m, link)
            self.assertEqual(m.group(2), "next")
            u = urllib.parse.urlsplit(m.group(1))
            self.assertEqual(u.netloc, "127.0.0.1:%d" % self.srv.port)
            q = urllib.parse.parse_qs(u.query)
            for k, v in (("limit", "1"), ("sort", "id"), ("direction", "1"),
                         ("expand", "likes"), ("search", "a")):
                self.assertEqual(q[k], [v], link)
            url = u.path + "?" + u.query
            self.assertLess(pages, 20)
        # behind a TLS proxy the link says https
        r = self.get("/api/models?limit=1", headers={"X-Forwarded-Proto": "https"})
        self.assertTrue(r.headers["Link"].startswith("<https://127.0.0.1:"), r.headers["Link"])
        _, everything = self.list_models("sort=id&direction=1&search=a")
        self.assertEqual(seen, [i["id"] for i in everything])
        self.assertGreater(len(seen), 2)

    def test_bad_list_parameters(self):
        self.bad_request("sort=popularity", "sort")
        self.bad_request("limit=1001", "limit")
        self.bad_request("limit=0", "limit")
        self.bad_request("limit=ten", "limit")
        self.bad_request("limit=-5", "limit")
        self.bad_request("search=" + "x" * 201, "search")
        self.bad_request("search=ok&search=" + "y" * 201, "search")
        self.bad_request("author=" + "x" * 201, "author")
        self.bad_request("direction=up", "direction")
        self.bad_request("cursor=-1", "cursor")
        self.bad_request("cursor=abc", "cursor")
        # the limits themselves are fine
        self.list_models("limit=1000&search=" + "x" * 200)

    # ------------------------------------------------------------ whoami and tokens

    def test_whoami(self):
        r = self.get("/api/whoami-v2", token=self.alice)
        self.assertEqual(r.status, 200, r)
        me = r.json()
        self.assertEqual((me["type"], me["name"]), ("user", "alice"))
        self.assertEqual(sorted(o["name"] for o in me["orgs"]), ["acme", "zeta"])
        self.assertEqual(me["auth"]["type"], "access_token")
        self.assertIn(me["auth"]["accessToken"]["role"], ("read", "write", "admin"))
        roles = {o["name"]: o["roleInOrg"] for o in me["orgs"]}
        self.assertEqual(roles, {"acme": "write", "zeta": "read"})
        r = self.get("/api/whoami-v2", token=self.bob)
        self.assertEqual((r.json()["name"], r.json()["orgs"]), ("bob", []))
        r = self.get("/api/whoami-v2")
        self.assertEqual(r.status, 401, r)

    def test_hf_prefixed_token(self):
        hf = "hf_" + self.alice[3:]
        r = self.get("/api/whoami-v2", token=hf)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["name"], "alice")
        # the alias opens what the token opens
        r = self.get("/acme/gamma/resolve/main/config.json", token=hf)
        self.assertEqual(r.status, 200, r)
        # and nothing else: a wrong secret, a short one, another prefix
        for bad in ("hf_" + "0" * 64, "hf_" + self.alice[3:-1], "xx_" + self.alice[3:],
                    "hf_" + self.alice[3:] + "0"):
            r = self.get("/api/whoami-v2", token=bad)
            self.assertEqual(r.status, 401, "%s: %r" % (bad, r))
            self.assertTrue(r.headers.get("X-Error-Message"))

    def test_hf_alias_shares_revocation(self):
        r = self.srv.admin("token", "new", "bob", "--json")
        tok = json.loads(r.stdout)["token"]
        hf = "hf_" + tok[3:]
        self.assertEqual(self.get("/api/whoami-v2", token=hf).status, 200)
        self.srv.admin("token", "revoke", "--token", tok)
        for t in (tok, hf):
            r = self.get("/api/whoami-v2", token=t)
            self.assertEqual(r.status, 401, r)
            self.assertIn("revoked", r.headers["X-Error-Message"])

    # ------------------------------------------------------------ downloads

    def downloads(self, name):
        status, info = self.srv.get_json("/api/models/acme/" + name)
        self.assertEqual(status, 200, info)
        return info["downloads"], info["downloadsAllTime"]

    def test_download_counts(self):
        self.assertEqual(self.downloads("beta-small"), (0, 0))
        base = "/acme/beta-small/resolve/main/"
        self.assertEqual(self.get(base + "config.json").status, 200)
        self.assertEqual(self.get(base + "config.json", method="HEAD").status, 200)
        self.assertEqual(self.get("/acme/beta-small/raw/main/config.json").status, 200)
        self.assertEqual(self.get(base + "config.json", headers={"Range": "bytes=0-0"}).status,
                         206)
        self.assertEqual(self.downloads("beta-small"), (4, 4))
        # not counted: other files, ranges past the start, missing files
        self.assertEqual(self.get(base + "big.bin").status, 200)
        self.assertEqual(self.get(base + "model.safetensors").status, 200)
        self.assertEqual(self.get(base + "config.json", headers={"Range": "bytes=3-"}).status,
                         206)
        self.assertEqual(self.get(base + "nope.json").status, 404)
        self.assertEqual(self.downloads("beta-small"), (4, 4))
        # the native route (sluice pull) counts too
        self.assertEqual(self.get("/api/v1/models/acme/beta-small/versions/main/files/"
                                  "config.json").status, 200)
        self.assertEqual(self.downloads("beta-small"), (5, 5))
        # per version in the native model document, and in the listing
        status, doc = self.srv.get_json("/api/v1/models/acme/beta-small")
        self.assertEqual((doc["downloads"], doc["downloads_all_time"]), (5, 5))
        self.assertEqual(doc["versions"][0]["downloads"], 5)
        _, items = self.list_models("search=beta-small")
        self.assertEqual((items[0]["downloads"], items[0]["downloadsAllTime"]), (5, 5))
        _, top = self.list_models("sort=downloads&limit=1")
        self.assertEqual(top[0]["id"], "acme/beta-small")
        # a refused download is not a download
        self.assertEqual(self.get("/acme/gamma/resolve/main/config.json").status, 401)
        self.assertEqual(self.downloads("gamma"), (0, 0))

    def test_gguf_counts_when_no_config(self):
        before = self.downloads("delta-gguf")
        self.assertEqual(self.get("/acme/delta-gguf/resolve/main/m.gguf").status, 200)
        self.assertEqual(self.downloads("delta-gguf"), (before[0] + 1, before[1] + 1))


if __name__ == "__main__":
    st.main()
