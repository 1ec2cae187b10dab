# SPDX-License-Identifier: Apache-2.0
"""The README's registry tour, step by step, against a real server: the
tiny model with random weights (examples/make-sparse-model.py --random),
a gated push with the example facts, bob's request, ada's approval, bob's
pull, and `sluice trace` of bob's copy naming bob. With the all-zero model
the tour used before, the last step could not work: a fingerprint needs
values to mark (issue 12).
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import fakeoai
import server as sv
import sluicetest as st

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class Tour(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-tour-")
        self.srv = sv.Server(os.path.join(self.tmp, "sluice-data"), workdir=self.tmp)
        self.srv.start()

    def tearDown(self):
        try:
            if self.srv.running():
                self.srv.stop()
        finally:
            self.srv.cleanup()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def as_user(self, token, home, *args, timeout=300):
        env = self.srv.client_env(token, os.path.join(self.tmp, "home-" + home))
        r = st.run(*args, env=env, timeout=timeout)
        self.assertEqual(r.rc, 0, repr(r))
        return r

    def test_tour_through_trace(self):
        model = os.path.join(self.tmp, "tiny")
        p = subprocess.run(["python3", os.path.join(ROOT, "examples", "make-sparse-model.py"),
                            model, "tiny-llama", "--random"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout)
        ada = self.srv.add_user("ada")
        bob = self.srv.add_user("bob")
        self.srv.add_org("lab")
        self.srv.add_member("lab", "ada", "publisher")
        facts = os.path.join(ROOT, "examples", "llama-8b.facts.json")
        self.as_user(ada, "ada", "push", "lab/gated", model, "--facts", facts, "--tier", "gated")
        self.as_user(bob, "bob", "access", "request", "lab/gated", "--purpose",
                     "Summarisation research")
        self.as_user(ada, "ada", "access", "approve", "lab/gated", "bob", "--expires",
                     "2099-06-01")
        copy = os.path.join(self.tmp, "bob")
        self.as_user(bob, "bob", "pull", "lab/gated", "--dest", copy)
        self.assertNotEqual(sv.sha256_file(os.path.join(copy, "model.safetensors")),
                            sv.sha256_file(os.path.join(model, "model.safetensors")),
                            "bob's copy is not fingerprinted")
        r = self.as_user(ada, "ada", "trace", copy, "--model", "lab/gated", "--json")
        doc = json.loads(r.stdout)
        self.assertEqual([a["user"] for a in doc["accused"]], ["bob"], r.stdout[:3000])
        self.assertGreaterEqual(doc["accused"][0]["z"], 10)
        # the original accuses nobody
        r = self.as_user(ada, "ada", "trace", model, "--model", "lab/gated", "--json")
        self.assertEqual(json.loads(r.stdout)["accused"], [])

    def test_tour_hosted_call(self):
        """The README's hosted step: a hosted push, a backend (a fake
        llama-server), bob's request and ada's approval, bob's chat call."""
        backend = fakeoai.Backend()
        self.addCleanup(backend.close)
        self.srv.stop()
        self.srv.store_env = dict(self.srv.store_env or {}, LLAMA_KEY="k-123")
        self.srv.start()
        model = os.path.join(self.tmp, "tiny2")
        p = subprocess.run(["python3", os.path.join(ROOT, "examples", "make-sparse-model.py"),
                            model, "tiny-llama", "--random"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout)
        ada = self.srv.add_user("ada")
        bob = self.srv.add_user("bob")
        self.srv.add_org("lab")
        self.srv.add_member("lab", "ada", "publisher")
        facts = os.path.join(ROOT, "examples", "llama-8b.facts.json")
        self.as_user(ada, "ada", "push", "lab/hosted", model, "--facts", facts, "--tier",
                     "hosted")
        r = st.run("hosted", "backend", "add", "lab/hosted", backend.url, "--api-key-env",
                   "LLAMA_KEY", "--data", self.srv.data,
                   *(["--db", self.srv.db] if self.srv.db else []), *self.srv.store_args,
                   env=sv.clean_env(self.srv.store_env))
        self.assertEqual(r.rc, 0, repr(r))
        body = {"model": "lab/hosted", "messages": [{"role": "user", "content": "Hello"}]}
        r = self.srv.request("POST", "/v1/chat/completions", body, token=bob)
        self.assertEqual(r.status, 404, repr(r))  # no grant yet
        self.as_user(bob, "bob", "access", "request", "lab/hosted", "--purpose", "Evaluations")
        self.as_user(ada, "ada", "access", "approve", "lab/hosted", "bob")
        r = self.srv.request("POST", "/v1/chat/completions", body, token=bob)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json()["model"], "lab/hosted")
        self.assertTrue(r.json()["choices"][0]["message"]["content"])
        self.assertEqual(backend.requests[-1][1].get("Authorization"), "Bearer k-123")


if __name__ == "__main__":
    st.main()
