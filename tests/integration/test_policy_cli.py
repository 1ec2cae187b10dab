# SPDX-License-Identifier: Apache-2.0
"""`sluice policy list/show/diff` and run-time policy packs (--policy-dir,
SLUICE_POLICY_DIR), including how a broken pack file is reported, and the
kept earlier versions of packs (--pack ID@VERSION)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

EXPECTED_PACKS = {
    # id: (status, jurisdiction, effective, rescinded, default_active)
    "eu-ai-act": ("in_force", "EU", "2025-08-02", None, True),
    "us-ca-sb53": ("in_force", "US-CA", "2026-01-01", None, True),
    "us-ny-raise": ("enacted", "US-NY", "2027-01-01", None, True),
    "tiered-release": ("proposal", "global", "2025-01-01", None, True),
    "tiered-release-indexed": ("proposal", "global", "2025-01-01", None, False),
    "us-eo14110": ("rescinded", "US", "2023-10-30", "2025-01-20", False),
    "us-bis-ai-diffusion": ("rescinded", "US", "2025-01-13", "2025-05-13", False),
    "us-ca-sb1047": ("vetoed", "US-CA", "2025-01-01", None, False),
    "kr-ai-basic-act": ("in_force", "KR", "2026-01-22", None, True),
}


def local_pack(**over):
    """A minimal valid pack "test-local": any model with params > 1 is withheld."""
    p = {
        "id": "test-local",
        "version": "0.1.0",
        "title": "Integration test pack",
        "jurisdiction": "global",
        "status": "framework",
        "default_active": False,
        "effective": "2020-01-01",
        "rescinded": None,
        "sources": [{"title": "sluice integration tests", "url": "https://example.invalid/"}],
        "obligations": [{"id": "test.local-review", "title": "Local review", "cite": "Test §1",
                         "blocking": True}],
        "rules": [{"id": "test.everything-withheld", "title": "Everything is withheld",
                   "cite": "Test §2",
                   "when": {"fact": "params", "op": ">", "value": 1},
                   "then": {"min_tier": "withheld", "labels": ["test.withheld"],
                            "obligations": ["test.local-review"]}}],
    }
    p.update(over)
    return p


class PolicyList(st.TempDirTestCase):

    def test_list_json(self):
        packs = st.run_json(self, "policy", "list", "--json")
        by_id = {p["id"]: p for p in packs}
        self.assertEqual(len(packs), 9)
        self.assertEqual(set(by_id), set(EXPECTED_PACKS))
        for pid, (status, where, eff, resc, default) in EXPECTED_PACKS.items():
            with self.subTest(pack=pid):
                p = by_id[pid]
                self.assertEqual(p["status"], status)
                self.assertEqual(p["jurisdiction"], where)
                self.assertEqual(p["effective"], eff)
                self.assertEqual(p["rescinded"], resc)
                self.assertIs(p["default_active"], default)
                self.assertEqual(p["source"], "built-in")
                self.assertRegex(p["version"], r"^[0-9]+\.[0-9]+\.[0-9]+$")
                self.assertIsInstance(p["rules"], int)
                self.assertIsInstance(p["obligations"], int)
                self.assertGreater(p["rules"], 0)

    def test_list_human(self):
        r = st.run("policy", "list")
        self.assertEqual(r.rc, 0, repr(r))
        for pid, (status, _, eff, resc, _) in EXPECTED_PACKS.items():
            line = [l for l in r.stdout.splitlines() if l.startswith(pid + " ")]
            self.assertEqual(len(line), 1, pid)
            self.assertIn(status, line[0])
            self.assertIn(eff, line[0])
            if resc:
                self.assertIn(resc, line[0])

    def test_show_json_is_the_pack_file(self):
        """The built-in packs are the files in policy/."""
        for pid in EXPECTED_PACKS:
            with self.subTest(pack=pid):
                doc = st.run_json(self, "policy", "show", pid, "--json")
                with open(os.path.join(st.SOURCE, "policy", pid + ".json")) as f:
                    self.assertEqual(doc, json.load(f))

    def test_show_human_has_every_rule_and_citation(self):
        for pid in EXPECTED_PACKS:
            with self.subTest(pack=pid):
                doc = st.run_json(self, "policy", "show", pid, "--json")
                r = st.run("policy", "show", pid)
                self.assertEqual(r.rc, 0, repr(r))
                self.assertTrue(r.stdout.startswith(pid + " "), r.stdout[:200])
                self.assertTrue(doc["rules"])
                for rule in doc["rules"]:
                    self.assertIn("  %s: " % rule["id"], r.stdout)
                    self.assertTrue(rule["cite"])
                    self.assertIn(rule["cite"], r.stdout)
                for o in doc["obligations"]:
                    self.assertIn(o["id"], r.stdout)
                    self.assertIn(o["cite"], r.stdout)

    def test_show_eu_ai_act(self):
        r = st.run("policy", "show", "eu-ai-act")
        self.assertEqual(r.rc, 0, repr(r))
        for rule in ("eu.gpai", "eu.gpai-systemic-risk", "eu.open-source-exempt",
                     "eu.downstream-provider", "eu.downstream-systemic-risk"):
            self.assertIn("  %s: " % rule, r.stdout)
        self.assertIn("Art. 51(2)", r.stdout)
        self.assertIn("compute.cumulative > 1e+25", r.stdout)

    def test_show_unknown(self):
        r = st.run("policy", "show", "nope")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.count("\n"), 1)
        self.assertTrue(r.stderr.startswith("sluice: error: "), r.stderr)
        self.assertIn('"nope"', r.stderr)

    def test_usage(self):
        for args in (("policy",), ("policy", "frobnicate"), ("policy", "show"),
                     ("policy", "show", "a", "b"), ("policy", "diff"),
                     ("policy", "diff", "eu-ai-act@1.0.0"),
                     ("policy", "diff", "a", "b", "c")):
            with self.subTest(args=args):
                r = st.run(*args)
                self.assertEqual(r.rc, 2, repr(r))
                self.assertEqual(r.stdout, "")


class PolicyDir(st.TempDirTestCase):

    FACTS = {"params": 7000000000, "training": {"tokens": 2e12}}

    def pack_dir(self, *packs, name="packs"):
        d = self.mkdir(name)
        for i, p in enumerate(packs):
            fname = "%02d-%s.json" % (i, p.get("id", "x") if isinstance(p, dict) else "raw")
            with open(os.path.join(d, fname), "w") as f:
                f.write(p if isinstance(p, str) else json.dumps(p, indent=1))
        return d

    def classify(self, *extra, env=None):
        facts = self.write_json("facts.json", self.FACTS)
        return st.run_json(self, "classify", "--facts", facts, "--as-of", "2026-06-01",
                           "--json", *extra, env=env)

    def test_local_pack_with_option(self):
        d = self.pack_dir(local_pack())
        base = self.classify()
        self.assertEqual(base["min_tier"], "open")
        # loaded but not default-active: no change without --pack
        d0 = self.classify("--policy-dir", d)
        self.assertEqual(d0["min_tier"], "open")
        self.assertNotIn("test-local@0.1.0", d0["packs"])
        # selected: withheld, with its label, obligation and citation
        d1 = self.classify("--policy-dir", d, "--pack", "test-local")
        self.assertEqual(d1["min_tier"], "withheld")
        self.assertEqual(d1["packs"], ["test-local@0.1.0"])
        self.assertEqual(d1["labels"], ["test.withheld"])
        self.assertEqual([(r["pack"], r["rule"], r["cite"]) for r in d1["rules_fired"]],
                         [("test-local", "test.everything-withheld", "Test §2")])
        self.assertEqual(d1["obligations"][0]["id"], "test.local-review")
        self.assertIs(d1["obligations"][0]["blocking"], True)
        # together with a built-in pack
        d2 = self.classify("--policy-dir", d, "--pack", "test-local", "--pack", "tiered-release")
        self.assertEqual(d2["min_tier"], "withheld")
        self.assertEqual(sorted(d2["packs"]), ["test-local@0.1.0", "tiered-release@1.1.0"])
        # listed, with its file as source
        packs = st.run_json(self, "policy", "list", "--json", "--policy-dir", d)
        self.assertEqual(len(packs), 10)
        mine = [p for p in packs if p["id"] == "test-local"]
        self.assertEqual(len(mine), 1)
        self.assertIn("test-local.json", mine[0]["source"])
        r = st.run("policy", "show", "test-local", "--policy-dir", d)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("test.everything-withheld", r.stdout)
        self.assertIn("Test §2", r.stdout)

    def test_local_pack_with_environment(self):
        d = self.pack_dir(local_pack())
        d1 = self.classify("--pack", "test-local", env={"SLUICE_POLICY_DIR": d})
        self.assertEqual(d1["min_tier"], "withheld")
        self.assertEqual(d1["packs"], ["test-local@0.1.0"])
        packs = st.run_json(self, "policy", "list", "--json", env={"SLUICE_POLICY_DIR": d})
        self.assertIn("test-local", {p["id"] for p in packs})
        # without the variable the pack is unknown
        facts = self.write_json("facts.json", self.FACTS)
        r = st.run("classify", "--facts", facts, "--pack", "test-local", "--json")
        self.assertEqual(r.rc, 2, repr(r))

    def test_default_active_local_pack(self):
        d = self.pack_dir(local_pack(default_active=True))
        d1 = self.classify("--policy-dir", d)
        self.assertEqual(d1["min_tier"], "withheld")
        self.assertIn("test-local@0.1.0", d1["packs"])
        self.assertIn("eu-ai-act@1.1.0", d1["packs"])

    def test_same_id_replaces_builtin(self):
        with open(os.path.join(st.SOURCE, "policy", "tiered-release.json")) as f:
            pack = json.load(f)
        pack["version"] = "9.0.0"
        for rule in pack["rules"]:
            if rule["id"] == "baseline.small-model":
                rule["then"]["min_tier"] = "gated"
        d = self.pack_dir(pack)
        d1 = self.classify("--policy-dir", d)
        self.assertIn("tiered-release@9.0.0", d1["packs"])
        self.assertNotIn("tiered-release@1.1.0", d1["packs"])
        self.assertEqual(d1["min_tier"], "gated")
        packs = st.run_json(self, "policy", "list", "--json", "--policy-dir", d)
        self.assertEqual(len(packs), 9)
        self.assertEqual({p["id"]: p["version"] for p in packs}["tiered-release"], "9.0.0")

    def assertPackError(self, pack, fname_part, needs, code=2):
        d = self.pack_dir(pack, name="bad")
        for args in (("policy", "list"),
                     ("classify", "--facts", self.write_json("f.json", self.FACTS))):
            for how in ("option", "env"):
                with self.subTest(args=args[0], how=how):
                    if how == "option":
                        r = st.run(*args, "--policy-dir", d)
                    else:
                        r = st.run(*args, env={"SLUICE_POLICY_DIR": d})
                    self.assertGreaterEqual(r.rc, 0, repr(r))
                    self.assertEqual(r.rc, code, repr(r))
                    self.assertEqual(r.stdout, "", repr(r))
                    self.assertEqual(r.stderr.count("\n"), 1, repr(r))
                    self.assertTrue(r.stderr.startswith("sluice: error: "), repr(r))
                    self.assertIn(fname_part, r.stderr)
                    for n in needs:
                        self.assertIn(n, r.stderr)

    def test_unknown_top_level_key(self):
        self.assertPackError(local_pack(colour="blue"), "test-local.json", ['"colour"'])

    def test_unknown_rule_key(self):
        p = local_pack()
        p["rules"][0]["whenn"] = p["rules"][0]["when"]
        self.assertPackError(p, "test-local.json", ["rules[0]", '"whenn"'])

    def test_unknown_fact(self):
        p = local_pack()
        p["rules"][0]["when"] = {"all": [{"fact": "params", "op": ">", "value": 1},
                                         {"fact": "compute.flops", "op": ">", "value": 1e25}]}
        self.assertPackError(p, "test-local.json", ["rules[0].when.all[1]", "compute.flops"])

    def test_bad_values(self):
        cases = {
            "bad-op": ({"fact": "params", "op": "=~", "value": 1}, ["rules[0].when", "=~"]),
            "bad-threshold": ({"fact": "compute.cumulative", "op": ">",
                               "value": {"indexed": {"base": 1e26}}},
                              ["rules[0].when", "indexed"]),
            "bad-not": ({"not": {"fact": "nope", "op": ">", "value": 1}},
                        ["rules[0].when.not", '"nope"']),
        }
        for name, (cond, needs) in cases.items():
            with self.subTest(case=name):
                p = local_pack()
                p["rules"][0]["when"] = cond
                self.assertPackError(p, "test-local.json", needs)
        p = local_pack()
        p["rules"][0]["then"]["min_tier"] = "secret"
        self.assertPackError(p, "test-local.json", ["rules[0].then", "min_tier"])
        p = local_pack()
        p["obligations"][0]["blocking"] = "yes"
        self.assertPackError(p, "test-local.json", ["obligations[0]", "blocking"])

    def test_unknown_obligation(self):
        p = local_pack()
        p["rules"][0]["then"]["obligations"] = ["test.no-such-obligation"]
        self.assertPackError(p, "test-local.json", ["test.no-such-obligation"])

    def test_duplicate_obligation_of_builtin(self):
        p = local_pack()
        p["obligations"][0]["id"] = "eu.art52.notification"
        self.assertPackError(p, "test-local.json", ["eu.art52.notification"])

    def test_not_json(self):
        self.assertPackError('{"id": "test-local",', "raw.json", ["line"])

    def test_missing_dir(self):
        missing = self.path("no-such-dir")
        r = st.run("policy", "list", "--policy-dir", missing)
        self.assertEqual(r.rc, 3, repr(r))
        self.assertIn(missing, r.stderr)
        r = st.run("policy", "list", env={"SLUICE_POLICY_DIR": missing})
        self.assertEqual(r.rc, 3, repr(r))


class PackVersions(st.TempDirTestCase):
    """Issue 16 item 7: old decisions stay reproducible."""

    # a fine-tuner of a 3.8e25 base, modification 1e24 (ratio 0.026): EU 1.0.0 gave
    # it the systemic-risk duties, 1.1.0 leaves them with the original provider
    FACTS = {"params": 7e10, "training": {"declared_flop": 1e24}, "modality": ["text"],
             "base_model": {"name": "Big-Base", "training_flop": 3.8e25, "systemic_risk": True},
             "markets": ["EU"]}

    def classify(self, *packs, env=None):
        facts = self.write_json("facts.json", self.FACTS)
        args = ["classify", "--facts", facts, "--as-of", "2026-06-01", "--json"]
        for p in packs:
            args += ["--pack", p]
        return st.run_json(self, *args, env=env)

    def test_old_version_re_runs_as_it_was(self):
        old = self.classify("eu-ai-act@1.0.0")
        new = self.classify("eu-ai-act@1.1.0")
        self.assertEqual(old["packs"], ["eu-ai-act@1.0.0"])
        self.assertEqual(new["packs"], ["eu-ai-act@1.1.0"])
        self.assertEqual(self.classify("eu-ai-act")["packs"], ["eu-ai-act@1.1.0"])
        self.assertIn("eu.gpai-systemic-risk", old["labels"])
        self.assertIn("eu.art52.notification", {o["id"] for o in old["obligations"]})
        self.assertNotIn("eu.gpai-systemic-risk", new["labels"])
        self.assertIn("eu.downstream-not-provider", new["labels"])
        # the old version's own obligation texts, not today's
        evals = [o for o in old["obligations"] if o["id"] == "eu.art55.model-evaluation"][0]
        self.assertEqual(evals["requires_evaluations"], ["cbrn", "cyber", "autonomy"])
        self.assertIn("to verify", evals["title"])

    def test_decision_records_version_and_hash(self):
        old = self.classify("eu-ai-act@1.0.0")
        new = self.classify("eu-ai-act@1.1.0")
        diff = st.run_json(self, "policy", "diff", "eu-ai-act@1.0.0", "eu-ai-act@1.1.0", "--json")
        self.assertEqual(old["pack_versions"], [{"pack": "eu-ai-act", "version": "1.0.0",
                                                 "sha256": diff["from"]["sha256"]}])
        self.assertEqual(new["pack_versions"][0]["sha256"], diff["to"]["sha256"])
        self.assertRegex(diff["from"]["sha256"], "^[0-9a-f]{64}$")
        self.assertNotEqual(diff["from"]["sha256"], diff["to"]["sha256"])
        d = st.run_json(self, "classify", "--facts", self.write_json("f2.json", self.FACTS),
                        "--as-of", "2027-02-01", "--json")
        self.assertEqual([p["pack"] + "@" + p["version"] for p in d["pack_versions"]],
                         d["packs"])

    def test_kept_versions_match_the_files(self):
        for ref in ("eu-ai-act@1.0.0", "us-ca-sb53@1.0.0", "us-ny-raise@1.0.0",
                    "tiered-release@1.0.0"):
            with self.subTest(pack=ref):
                doc = st.run_json(self, "policy", "show", ref, "--json")
                pid, ver = ref.split("@")
                with open(os.path.join(st.SOURCE, "policy", "history",
                                       "%s-%s.json" % (pid, ver))) as f:
                    self.assertEqual(doc, json.load(f))
                self.assertEqual(doc["version"], ver)
        r = st.run("policy", "list")
        self.assertIn("eu-ai-act@1.0.0", r.stdout)
        self.assertEqual(len(st.run_json(self, "policy", "list", "--json")), 9)

    def test_diff(self):
        d = st.run_json(self, "policy", "diff", "eu-ai-act@1.0.0", "eu-ai-act@1.1.0", "--json")
        self.assertEqual(d["from"]["version"], "1.0.0")
        self.assertEqual(d["to"]["version"], "1.1.0")
        self.assertIn("eu.legacy-model", d["rules"]["added"])
        self.assertIn("eu.downstream-not-provider", d["rules"]["added"])
        self.assertEqual(d["rules"]["removed"], [])
        changed = {c["id"]: c["fields"] for c in d["rules"]["changed"]}
        self.assertIn("when", changed["eu.gpai-systemic-risk"])
        self.assertNotIn("eu.art53.copyright-policy",
                         {c["id"] for c in d["obligations"]["changed"]})
        self.assertIn("requires_evaluations",
                      {c["id"]: c["fields"] for c in d["obligations"]["changed"]}
                      ["eu.art55.model-evaluation"])
        self.assertIn("version", d["fields"])
        # and the other way round
        back = st.run_json(self, "policy", "diff", "eu-ai-act@1.1.0", "eu-ai-act@1.0.0",
                           "--json")
        self.assertEqual(back["rules"]["removed"], d["rules"]["added"])
        r = st.run("policy", "diff", "eu-ai-act@1.0.0", "eu-ai-act@1.1.0")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("+ rule eu.legacy-model", r.stdout)
        # identical versions: nothing changed
        same = st.run_json(self, "policy", "diff", "eu-ai-act", "eu-ai-act@1.1.0", "--json")
        self.assertEqual(same["fields"], [])
        self.assertEqual(same["rules"], {"added": [], "removed": [], "changed": []})

    def test_bad_selections(self):
        facts = self.write_json("facts.json", self.FACTS)
        for packs, needle in ((["eu-ai-act@9.9.9"], '"eu-ai-act@9.9.9"'),
                              (["eu-ai-act", "eu-ai-act@1.0.0"], "one version"),
                              (["eu-ai-act@"], '"eu-ai-act@"')):
            with self.subTest(packs=packs):
                args = ["classify", "--facts", facts]
                for p in packs:
                    args += ["--pack", p]
                r = st.run(*args)
                self.assertEqual(r.rc, 2, repr(r))
                self.assertIn(needle, r.stderr)
                self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        r = st.run("policy", "diff", "eu-ai-act@1.0.0", "eu-ai-act@7")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn('"eu-ai-act@7"', r.stderr)

    def test_replaced_builtin_stays_selectable(self):
        with open(os.path.join(st.SOURCE, "policy", "eu-ai-act.json")) as f:
            pack = json.load(f)
        pack["version"] = "9.0.0"
        d = self.mkdir("packs")
        with open(os.path.join(d, "eu.json"), "w") as f:
            json.dump(pack, f)
        env = {"SLUICE_POLICY_DIR": d}
        self.assertEqual(self.classify("eu-ai-act", env=env)["packs"], ["eu-ai-act@9.0.0"])
        self.assertEqual(self.classify("eu-ai-act@1.1.0", env=env)["packs"],
                         ["eu-ai-act@1.1.0"])


class PackHashInLog(st.TempDirTestCase):
    """The sha256 in a decision's pack_versions is the digest the server's
    policy.activated log entry carries, and kept versions are not logged."""

    def test_decision_hash_matches_the_log(self):
        srv = sv.Server(os.path.join(self.tmp, "data"), workdir=self.tmp)
        srv.start()
        try:
            logged = None
            deadline = time.monotonic() + 20
            while logged is None and time.monotonic() < deadline:
                r = srv.request("GET", "/api/v1/log/entries?start=0&end=20")
                if r.status == 200:
                    for e in r.json():
                        if e["entry"].get("type") == "policy.activated":
                            logged = e["entry"]["packs"]
                if logged is None:
                    time.sleep(0.2)
            self.assertIsNotNone(logged, "no policy.activated entry")
        finally:
            srv.stop()
        d = st.run_json(self, "classify", "--facts", self.write_json("f.json", {"params": 7e9}),
                        "--json")
        decided = {p["pack"]: (p["version"], p["sha256"]) for p in d["pack_versions"]}
        self.assertTrue(logged)
        for p in logged:
            self.assertEqual(decided[p["id"]], (p["version"], p["sha256"]), p["id"])
        self.assertNotIn("1.0.0", {p["version"] for p in logged if p["id"] == "eu-ai-act"})


if __name__ == "__main__":
    st.main()
