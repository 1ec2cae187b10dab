# SPDX-License-Identifier: Apache-2.0
"""A push never takes a model offline by accident (issue 12, item 4).

Through the real server and the real `sluice push`/`pull`:

- a push without --facts inherits the newest version's facts (the decision
  and the answer say "facts inherited from vN"), so the tier stays;
- a version whose tier is stricter than main's is stored but main stays
  (the answer says so and why) until it is pushed again with --force;
- a download or pull of a version the caller cannot have names the newest
  version they can.
"""
import json
import os
import random
import shutil
import tempfile
import unittest

import server as sv
import sluicetest as st

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class PushKeepsMain(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-main-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.env = cls.srv.client_env(cls.alice, os.path.join(cls.tmp, "home"))
            cls.anon = cls.srv.client_env(None, os.path.join(cls.tmp, "anon"))
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
            cls.nofacts = os.path.join(cls.tmp, "none.json")
            with open(cls.nofacts, "w") as f:
                f.write("{}")
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

    def folder(self, name, seed):
        path = os.path.join(self.tmp, name)
        sv.make_model(path, big=50000, rng=random.Random(seed))
        return path

    def get(self, path):
        status, doc = self.srv.get_json(path)
        self.assertEqual(status, 200, doc)
        return doc

    def push(self, model, folder, *args, ok=True):
        r = st.run("push", model, folder, "--json", *args, env=self.env, timeout=120)
        if ok:
            self.assertEqual(r.rc, 0, repr(r))
            return json.loads(r.stdout)
        return r

    def test_push_without_facts_inherits_and_stays_online(self):
        v1 = self.push("acme/inherit", self.folder("i1", 1), "--facts", self.facts)
        self.assertEqual(v1["tier"], "open")
        self.assertIsNone(v1["facts_note"])
        self.assertNotIn("facts_inherited_from", v1["decision"])
        f2 = self.folder("i2", 2)
        v2 = self.push("acme/inherit", f2)
        self.assertEqual(v2["version"], 2)
        self.assertEqual(v2["tier"], "open", v2)
        self.assertEqual(v2["facts_note"], "facts inherited from v1")
        inh = v2["decision"]["facts_inherited_from"]
        self.assertEqual((inh["version"], inh["commit"]), (1, v1["commit"]))
        self.assertIs(v2["on_main"], True)
        # the stored version carries the facts: its decision says so too
        d = self.get("/api/v1/models/acme/inherit/versions/v2/decision")
        self.assertEqual(d["facts_inherited_from"]["version"], 1)
        # an anonymous pull of main gets version 2
        dest = os.path.join(self.tmp, "pull-inherit")
        r = st.run("pull", "acme/inherit", "--dest", dest, "--json", env=self.anon, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(json.loads(r.stdout)["commit"], v2["commit"])
        self.assertEqual(sv.tree_digest(dest), sv.tree_digest(f2))
        # human output says it too
        r = st.run("push", "acme/inherit", self.folder("i3", 3), env=self.env, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("facts inherited from v2", r.stdout)

    def test_stricter_tier_does_not_move_main(self):
        v1 = self.push("acme/strict", self.folder("s1", 11), "--facts", self.facts)
        self.assertEqual((v1["tier"], v1["on_main"], v1["main_version"]), ("open", True, 1))
        # "{}" declares no facts: no training compute, so the version is withheld
        f2 = self.folder("s2", 12)
        v2 = self.push("acme/strict", f2, "--facts", self.nofacts)
        self.assertEqual(v2["version"], 2)
        self.assertEqual(v2["tier"], "withheld", v2)
        self.assertIs(v2["on_main"], False, v2)
        self.assertEqual(v2["main_version"], 1)
        self.assertIn("main stays at v1", v2["main_note"])
        self.assertIn("--force", v2["main_note"])
        main = self.get("/api/v1/models/acme/strict/versions/main")
        self.assertEqual(main["commit"], v1["commit"])
        # the model's tier is what main serves, not the newest version's
        self.assertEqual(self.get("/api/v1/models/acme/strict")["tier"], "open")
        # the model stays online: an anonymous pull of main gets version 1
        dest = os.path.join(self.tmp, "pull-strict")
        r = st.run("pull", "acme/strict", "--dest", dest, "--json", env=self.anon, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(json.loads(r.stdout)["commit"], v1["commit"])
        # the human answer says main did not move
        r = st.run("push", "acme/strict", f2, "--facts", self.nofacts, env=self.env, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("NOT on main", r.stdout)
        # pulling the withheld version names the last one that can be served
        r = st.run("pull", "acme/strict@v2", "--dest", os.path.join(self.tmp, "p2"),
                   env=self.anon, timeout=120)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("withheld", r.stderr)
        self.assertIn("newest version you can download is v1", r.stderr)
        self.assertNotIn("lacks a commit digest", r.stderr)
        # so does a direct download (native and Hugging Face routes)
        for path in ("/api/v1/models/acme/strict/versions/v2/files/config.json",
                     "/acme/strict/resolve/%s/config.json" % v2["commit"]):
            resp = self.srv.request("GET", path)
            self.assertEqual(resp.status, 401, resp)
            body = resp.json()
            self.assertEqual(body["last_servable"], {"version": 1, "commit": v1["commit"]})
            self.assertIn("acme/strict@v1", body["message"])
        # --force moves main (the identical version is not stored twice)
        v2f = self.push("acme/strict", f2, "--facts", self.nofacts, "--force")
        self.assertEqual((v2f["version"], v2f["on_main"], v2f["main_version"]), (2, True, 2))
        self.assertIsNone(v2f["main_note"])
        main = self.get("/api/v1/models/acme/strict/versions/main")
        self.assertEqual(main["commit"], v2["commit"])
        self.assertEqual(self.get("/api/v1/models/acme/strict")["tier"], "withheld")
        r = st.run("pull", "acme/strict", "--dest", os.path.join(self.tmp, "p3"), env=self.anon,
                   timeout=120)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("newest version you can download is v1", r.stderr)
        # a looser tier moves main without --force
        v3 = self.push("acme/strict", self.folder("s3", 13), "--facts", self.facts)
        self.assertEqual((v3["tier"], v3["on_main"], v3["main_version"]), ("open", True, 3))

    def test_nothing_servable_says_so(self):
        self.push("acme/none", self.folder("n1", 21), "--facts", self.nofacts)
        resp = self.srv.request("GET", "/api/v1/models/acme/none/versions/main/files/config.json")
        self.assertEqual(resp.status, 401, resp)
        self.assertIsNone(resp.json()["last_servable"])
        self.assertIn("no version of acme/none can be downloaded by you", resp.json()["message"])

    def test_force_must_be_boolean(self):
        v1 = self.push("acme/badforce", self.folder("b1", 31), "--facts", self.facts)
        body = {"files": [{"path": "config.json", "size": 1, "sha256": "00" * 32}],
                "force": "yes"}
        resp = self.srv.request("POST", "/api/v1/models/acme/badforce/versions", body=body,
                                token=self.alice)
        self.assertEqual(resp.status, 400, resp)
        self.assertIn("\"force\" must be true or false", resp.json()["message"])
        self.assertTrue(v1["commit"])

    def test_push_json_contract_keys(self):
        folder = self.folder("j1", 41)
        v = self.push("acme/keys", folder, "--facts", self.facts)
        for k in ("model", "version", "commit", "tier", "min_tier", "floor_tier", "held_by",
                  "bytes_total", "bytes_uploaded", "files", "bytes_local", "decision",
                  "log_index", "log_proof"):
            self.assertIn(k, v)
            self.assertIsNotNone(v[k], k)
        self.assertEqual(v["files"], 4)
        self.assertEqual(v["bytes_local"], sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs))
        # the decision is a document of its own: it carries the proof of its entry
        self.assertEqual(v["decision"]["log_index"], v["log_index"])
        self.assertEqual(v["decision"]["log_proof"], v["log_proof"])
        self.assertTrue(v["log_proof"].startswith("c2sp.org/tlog-proof@v1"), v["log_proof"])


if __name__ == "__main__":
    st.main()
