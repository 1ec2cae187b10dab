# SPDX-License-Identifier: Apache-2.0
"""The server's main paths in a few processes, for valgrind memcheck.

Written to be run under tests/valgrind/run.py (every sluice process under
memcheck), where each process costs seconds: one server start, then the
paths a registry walks every day, each once: accounts, a push and a pull
(libcurl, chunk upload, commit with inspect and classification), the
Hugging Face reads, ranges, ETags and refusals, a gated model with an
access request, approval, a license and its verification, the log's
checkpoint, entries, proofs and tiles, gc and fsck beside the server, and a
clean SIGTERM (so memcheck's leak check runs on the server at exit). It also
runs without valgrind (`python3 tests/valgrind/test_smoke.py`).
"""
import json
import os
import random
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import logcheck  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class Smoke(unittest.TestCase):

    def test_main_paths(self):
        tmp = tempfile.mkdtemp(prefix="sluice-smoke-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
        self.addCleanup(srv.cleanup)
        srv.start(timeout=60)
        pub = srv.add_user("pub")
        bob = srv.add_user("bob")
        srv.add_org("acme")
        srv.add_member("acme", "pub")
        home = os.path.join(tmp, "home")
        facts = os.path.join(tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        rng = random.Random(11)
        m = os.path.join(tmp, "m")
        sv.make_model(m, big=3 << 20, rng=rng)
        env = srv.client_env(pub, home)

        # push and pull
        r = st.run("push", "acme/m", m, "--facts", facts, "--json", env=env, timeout=300)
        self.assertEqual(r.rc, 0, repr(r))
        commit = json.loads(r.stdout)["commit"]
        dest = os.path.join(tmp, "pulled")
        r = st.run("pull", "acme/m", "--dest", dest, "--json",
                   env=srv.client_env(None, home), timeout=300)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(sv.tree_digest(dest), sv.tree_digest(m))

        # reads, ranges, ETags, refusals
        self.assertEqual(srv.request("GET", "/api/models/acme/m").status, 200)
        self.assertEqual(srv.request("GET", "/api/models/acme/m/tree/main").status, 200)
        self.assertEqual(srv.request("GET", "/api/v1/models/acme/m/versions/v1").status, 200)
        big = os.path.join(m, "big.bin")
        with open(big, "rb") as f:
            data = f.read()
        resp = srv.request("GET", "/acme/m/resolve/main/big.bin",
                           headers={"Range": "bytes=1000-200999"})
        self.assertEqual(resp.status, 206)
        self.assertEqual(resp.body, data[1000:201000])
        etag = resp.headers.get("ETag")
        self.assertEqual(srv.request("GET", "/acme/m/resolve/main/big.bin",
                                     headers={"If-None-Match": etag}).status, 304)
        self.assertEqual(srv.request("HEAD", "/acme/m/resolve/%s/config.json" % commit).status,
                         200)
        self.assertEqual(srv.request("GET", "/acme/m/resolve/main/big.bin",
                                     headers={"Range": "bytes=9-1"}).status, 416)
        self.assertEqual(srv.request("GET", "/acme/m/resolve/main/%2e%2e/x").status, 400)
        self.assertEqual(srv.request("GET", "/acme/nope/resolve/main/x").status, 404)
        self.assertEqual(srv.request("POST", "/api/v1/models/acme/m/chunks",
                                     body=sv.frame(b"x" * 100, digest=b"\0" * 32),
                                     token=pub).status, 400)
        self.assertEqual(srv.request("POST", "/api/v1/models/acme/m/versions", body=b"{nope",
                                     token=pub).status, 400)

        # a gated model: request, approval, license
        g = os.path.join(tmp, "g")
        sv.make_model(g, big=256 << 10, rng=rng)
        r = st.run("push", "acme/g", g, "--facts", facts, "--tier", "gated", "--json", env=env,
                   timeout=300)
        self.assertEqual(r.rc, 0, repr(r))
        benv = srv.client_env(bob, os.path.join(tmp, "bobhome"))
        r = st.run("access", "request", "acme/g", "--purpose", "memcheck", env=benv, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        r = st.run("access", "approve", "acme/g", "bob", env=env, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        gdest = os.path.join(tmp, "gpulled")
        r = st.run("pull", "acme/g", "--dest", gdest, "--json", env=benv, timeout=300)
        self.assertEqual(r.rc, 0, repr(r))
        lic = os.path.join(gdest, "LICENSE.sluice")
        self.assertTrue(os.path.exists(lic), os.listdir(gdest))
        r = st.run("license", "verify", lic, "--online", env=benv, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        r = st.run("access", "revoke", "acme/g", "bob", "--reason", "done", env=env, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))

        # the log: checkpoint, entries, proofs, a tile
        view = logcheck.LogView()
        size = view.check(srv.port)
        self.assertGreater(size, 4)
        self.assertEqual(srv.request("GET", "/log/tile/0/000.p/%d" % min(size, 255)).status, 200)
        self.assertEqual(srv.request("GET", "/log/key").status, 200)
        self.assertEqual(srv.request("GET", "/api/v1/revocations").status, 200)

        # gc and fsck beside the server
        self.assertEqual(srv.admin("gc", "--json").rc, 0)
        r = srv.fsck()
        self.assertEqual(r.rc, 0, repr(r))

        # SIGTERM: exit 0 (and, under valgrind, the leak check at exit)
        srv.stop(timeout=60)


if __name__ == "__main__":
    st.main()
