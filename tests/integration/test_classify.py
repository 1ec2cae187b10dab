# SPDX-License-Identifier: Apache-2.0
"""`sluice classify`: training compute against Epoch AI's figures, and the
decisions of the shipped policy packs on fixtures with known answers.

Every decision is evaluated with an explicit --as-of date (the law changes
with the date; the tests must not).
"""
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluicetest as st  # noqa: E402

AS_OF = "2026-06-01"  # EU AI Act and California SB 53 in force, New York RAISE not yet

# --- Epoch AI training compute ---------------------------------------------
#
# For every row of tests/data/epoch-models.tsv, sluice's central estimate from
# {"params": P, "active_params": A, "training": {"tokens": D}} must be exactly
# the operation-counting figure 6 * A * D. Against Epoch's published
# training_compute_flop we check the rows where 6ND and Epoch agree (the
# research table's ratio 6ND/Epoch is 1.00, i.e. within 1%): those whose Epoch figure
# is pure operation counting (LLaMA-65B, OLMo-7B, Mixtral 8x7B, DeepSeek-V2,
# Gemma 2 27B, Qwen2.5-72B, Llama 4 Scout), counting combined with hardware or
# a reported figure that agrees (Llama 2-7B, Falcon-7B, Falcon-180B,
# Llama 3.2 1B), and reported figures that equal 6ND (GPT-3, PaLM) -- within 1%.
#
# Not held to 1%, each for a reason:
EPOCH_EXCLUDED = {
    # Epoch's 4.3e23 is the metaseq logbook figure including restarts: 6ND/Epoch = 0.73
    # (Epoch/6ND = 1.37). Checked: the ratio stays 0.73.
    "OPT-175B": "reported figure incl. restarts (ratio 1.37)",
    # Epoch's figure is the geometric mean of 6ND and hardware; checked below with the
    # hardware figure given to sluice as well.
    "Phi-4": "geometric mean of counting and hardware",
    # Reported (Chinchilla) or counting+hardware (Nemotron-4) figures 2% off 6ND
    # (ratio 1.02): checked within 3%.
    "Chinchilla": "reported figure, ratio 1.02",
    "Nemotron-4 340B": "counting+hardware, ratio 1.02",
}
EPOCH_CHECKED_1PCT = [
    "GPT-3 175B (davinci)", "PaLM (540B)", "LLaMA-65B", "Llama 2-7B", "Falcon-7B", "Falcon-180B",
    "OLMo-7B", "Mixtral 8x7B", "DeepSeek-V2", "Llama 3.2 1B", "Gemma 2 27B", "Qwen2.5-72B",
    "Llama 4 Scout",
]


class ClassifyBase(st.TempDirTestCase):

    def classify(self, facts, *extra, as_of=AS_OF, paths=()):
        args = ["classify"] + list(paths)
        if facts is not None:
            args += ["--facts", self.write_json("facts-%d.json" % id(facts), facts)]
        if as_of:
            args += ["--as-of", as_of]
        return st.run_json(self, *args, *extra, "--json")

    @staticmethod
    def fired(d):
        return {r["rule"] for r in d["rules_fired"]}

    @staticmethod
    def obligation_ids(d):
        return {o["id"] for o in d["obligations"]}

    @staticmethod
    def not_applied(d):
        return {p["pack"]: p["reason"] for p in d["packs_not_applied"]}


class EpochCompute(ClassifyBase):

    def setUp(self):
        super().setUp()
        self.rows = st.read_tsv("epoch-models.tsv")
        self.by_name = {r["model"]: r for r in self.rows}

    def compute_for(self, row):
        facts = {"params": float(row["params"]), "active_params": float(row["active_params"]),
                 "training": {"tokens": float(row["training_tokens"])}}
        return self.classify(facts)["compute"]

    def test_lists_cover_the_tsv(self):
        self.assertEqual(sorted(EPOCH_CHECKED_1PCT + list(EPOCH_EXCLUDED)),
                         sorted(self.by_name), "epoch-models.tsv changed: update the lists")
        for name in EPOCH_CHECKED_1PCT:
            row = self.by_name[name]
            ratio = (6 * float(row["active_params"]) * float(row["training_tokens"]) /
                     float(row["training_compute_flop"]))
            self.assertLessEqual(abs(ratio - 1), 0.01, name)

    def test_central_is_exactly_6ND_for_every_row(self):
        self.assertEqual(len(self.rows), 17, "epoch-models.tsv changed: update the count")
        for row in self.rows:
            with self.subTest(model=row["model"]):
                c = self.compute_for(row)
                expect = 6 * float(row["active_params"]) * float(row["training_tokens"])
                self.assertTrue(c["known"])
                self.assertRelClose(c["flop_central"], expect, 1e-12)
                self.assertEqual([m["method"] for m in c["methods"]], ["operation_counting"])
                self.assertRelClose(c["methods"][0]["flop"], expect, 1e-12)

    def test_matches_epoch_within_1pct(self):
        for name in EPOCH_CHECKED_1PCT:
            row = self.by_name[name]
            with self.subTest(model=name):
                c = self.compute_for(row)
                self.assertRelClose(c["flop_central"], float(row["training_compute_flop"]), 0.01)

    def test_ratio_1_02_rows_within_3pct(self):
        for name in ("Chinchilla", "Nemotron-4 340B"):
            row = self.by_name[name]
            with self.subTest(model=name):
                c = self.compute_for(row)
                self.assertRelClose(c["flop_central"], float(row["training_compute_flop"]), 0.03)

    def test_opt_175b_ratio(self):
        row = self.by_name["OPT-175B"]
        c = self.compute_for(row)
        self.assertAlmostEqual(c["flop_central"] / float(row["training_compute_flop"]), 0.733,
                               places=2)

    def test_phi4_geometric_mean(self):
        """Phi-4: 1920 H100 SXM x 504 h x 0.30 utilisation and 6 x 14e9 x 1e13;
        Epoch reports their geometric mean, 9.3202e23."""
        row = self.by_name["Phi-4"]
        facts = {"params": 14000000000, "training": {
            "tokens": 1e13,
            "hardware": [{"chip": "nvidia-h100-sxm", "count": 1920, "hours": 504,
                          "utilization": 0.30}]}}
        d = self.classify(facts)
        c = d["compute"]
        counting = 6 * 14e9 * 1e13
        hardware = 1920 * 504 * 3600 * 9.894e14 * 0.30
        methods = {m["method"]: m["flop"] for m in c["methods"]}
        self.assertEqual(set(methods), {"operation_counting", "hardware"})
        self.assertRelClose(methods["operation_counting"], counting, 1e-12)
        self.assertRelClose(methods["hardware"], hardware, 1e-9)
        self.assertRelClose(c["flop_central"], math.sqrt(counting * hardware), 1e-9)
        self.assertRelClose(c["flop_central"], float(row["training_compute_flop"]), 0.02)

    def test_declared_flop_is_central(self):
        facts = {"params": 7e9, "training": {"tokens": 2e12, "declared_flop": 9e22}}
        c = self.classify(facts)["compute"]
        self.assertEqual(c["flop_central"], 9e22)
        self.assertEqual({m["method"] for m in c["methods"]}, {"operation_counting", "declared"})


class Fixtures(ClassifyBase):

    def test_llama_3_2_1b_not_gpai(self):
        d = self.classify({"params": 1.23e9, "training": {"tokens": 9e12}, "modality": ["text"]})
        self.assertNotIn("eu.gpai", d["labels"])
        self.assertNotIn("eu.gpai", self.fired(d))
        self.assertEqual(d["min_tier"], "open")
        self.assertIn("baseline.small-model", self.fired(d))
        self.assertIn("baseline.small-model", d["labels"])
        self.assertEqual(d["obligations"], [])

    def test_gemma_2_27b_gpai_not_systemic(self):
        d = self.classify({"params": 2.7e10, "training": {"tokens": 1.3e13}, "modality": ["text"]})
        self.assertIn("eu.gpai", d["labels"])
        self.assertNotIn("eu.gpai-systemic-risk", d["labels"])
        self.assertEqual(d["min_tier"], "open")
        self.assertNotIn("baseline.small-model", d["labels"])
        self.assertEqual(self.obligation_ids(d), {
            "eu.art53.technical-documentation", "eu.art53.downstream-information",
            "eu.art53.copyright-policy", "eu.art53.training-summary",
            "eu.art54.authorised-representative"})

    def test_nemotron_4_340b_systemic_not_frontier(self):
        d = self.classify({"params": 3.4e11, "training": {"tokens": 9e12}, "modality": ["text"]})
        self.assertIn("eu.gpai", d["labels"])
        self.assertIn("eu.gpai-systemic-risk", d["labels"])
        self.assertNotIn("us-ca.frontier-model", d["labels"])
        # tiered release: above 1e25 -> click, evaluations required before release
        self.assertEqual(d["min_tier"], "click")
        self.assertIn("tiered.systemic-click", self.fired(d))
        self.assertNotIn("tiered.frontier-gated", self.fired(d))
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertTrue(obl["safety.evaluations-required"]["blocking"])
        self.assertTrue(obl["eu.art52.notification"]["blocking"])
        self.assertFalse(obl["eu.art53.copyright-policy"]["blocking"])

    def test_frontier_model_by_date_and_market(self):
        facts = {"params": 2000000000000, "training": {"declared_flop": 4e26},
                 "developer": {"annual_revenue_usd": 1e9}, "markets": ["EU", "US-CA", "US-NY"],
                 "modality": ["text"]}
        d = self.classify(facts, as_of="2026-06-01")
        fired = self.fired(d)
        self.assertIn("us-ca.frontier-model", fired)
        self.assertIn("us-ca.large-frontier-developer", fired)
        self.assertNotIn("us-ny.frontier-model", fired)
        self.assertNotIn("us-ny.large-frontier-developer", fired)
        self.assertIn("us-ny-raise", self.not_applied(d))
        self.assertIn("2027-01-01", self.not_applied(d)["us-ny-raise"])
        self.assertNotIn("us-ny-raise@1.1.0", d["packs"])
        self.assertIn("us-ca-sb53@1.1.0", d["packs"])
        self.assertEqual(d["min_tier"], "gated")
        self.assertIn("us-ca.sb53.frontier-ai-framework", self.obligation_ids(d))

        d = self.classify(facts, as_of="2027-02-01")
        fired = self.fired(d)
        for rule in ("us-ca.frontier-model", "us-ca.large-frontier-developer",
                     "us-ny.frontier-model", "us-ny.large-frontier-developer",
                     "eu.gpai-systemic-risk", "tiered.frontier-gated"):
            self.assertIn(rule, fired)
        self.assertIn("us-ny-raise@1.1.0", d["packs"])
        self.assertNotIn("us-ny-raise", self.not_applied(d))
        self.assertEqual(d["min_tier"], "gated")
        self.assertIn("us-ny.raise.frontier-ai-framework", self.obligation_ids(d))

    def test_markets_limit_the_packs(self):
        facts = {"params": 2000000000000, "training": {"declared_flop": 4e26},
                 "developer": {"annual_revenue_usd": 1e9}, "markets": ["EU"]}
        d = self.classify(facts, as_of="2027-02-01")
        self.assertIn("us-ca-sb53", self.not_applied(d))
        self.assertIn("us-ny-raise", self.not_applied(d))
        self.assertNotIn("us-ca.frontier-model", self.fired(d))
        self.assertIn("eu.gpai-systemic-risk", self.fired(d))
        # "US" covers its states
        d = self.classify(dict(facts, markets=["US"]), as_of="2027-02-01")
        self.assertIn("us-ca.frontier-model", self.fired(d))
        self.assertIn("eu-ai-act", self.not_applied(d))

    def test_evaluation_levels(self):
        base = {"params": 7e9, "training": {"tokens": 2e12}}
        d = self.classify(dict(base, evaluations=[{"domain": "cbrn", "level": "high"}]))
        self.assertEqual(d["min_tier"], "hosted")
        self.assertIn("safety.high-capability", self.fired(d))
        self.assertNotIn("baseline.small-model", self.fired(d))
        self.assertEqual(d["facts"]["eval"]["max_level"], "high")
        d = self.classify(dict(base, evaluations=[{"domain": "cyber", "level": "low"},
                                                  {"domain": "cbrn", "level": "critical"}]))
        self.assertEqual(d["min_tier"], "withheld")
        self.assertIn("safety.critical-capability", self.fired(d))
        self.assertIn("safety.halt-development", self.obligation_ids(d))
        d = self.classify(dict(base, evaluations=[{"domain": "cyber", "level": "medium"}]))
        self.assertEqual(d["min_tier"], "open")
        self.assertIn("baseline.small-model", self.fired(d))
        self.assertEqual(d["rules_undecided"], [])


class HistoricalPacks(ClassifyBase):

    def test_eo14110_only_with_pack_and_while_in_force(self):
        facts = {"params": 1000000000000, "training": {"declared_flop": 2e26}}
        d = self.classify(facts, as_of="2024-06-01")
        self.assertNotIn("us.eo14110.dual-use-reporting", self.fired(d))
        self.assertNotIn("us-eo14110", self.not_applied(d))
        self.assertFalse(any(p.startswith("us-eo14110") for p in d["packs"]))

        d = self.classify(facts, "--pack", "us-eo14110", as_of="2024-06-01")
        self.assertEqual(self.fired(d), {"us.eo14110.dual-use-reporting"})
        self.assertEqual(d["packs"], ["us-eo14110@1.0.0"])
        self.assertEqual(self.obligation_ids(d), {"us.eo14110.report-training",
                                                  "us.eo14110.report-weights",
                                                  "us.eo14110.report-red-team"})

        d = self.classify(facts, "--pack", "us-eo14110", as_of="2025-06-01")
        self.assertEqual(d["rules_fired"], [])
        self.assertEqual(d["packs"], [])
        self.assertIn("us-eo14110", self.not_applied(d))
        self.assertIn("2025-01-20", self.not_applied(d)["us-eo14110"])
        # the revocation date itself is the first day it no longer applies
        d = self.classify(facts, "--pack", "us-eo14110", as_of="2025-01-20")
        self.assertEqual(d["rules_fired"], [])
        d = self.classify(facts, "--pack", "us-eo14110", as_of="2025-01-19")
        self.assertEqual(self.fired(d), {"us.eo14110.dual-use-reporting"})

    def test_eo14110_biological_sequence_data(self):
        facts = {"params": 1000000000, "training": {"declared_flop": 2e23},
                 "biological_sequence_data": True}
        d = self.classify(facts, "--pack", "us-eo14110", as_of="2024-06-01")
        self.assertIn("us.eo14110.dual-use-reporting", self.fired(d))
        facts["biological_sequence_data"] = False
        d = self.classify(facts, "--pack", "us-eo14110", as_of="2024-06-01")
        self.assertEqual(d["rules_fired"], [])

    def test_bis_ai_diffusion_window(self):
        facts = {"params": 1000000000000, "training": {"declared_flop": 2e26}}
        expect = {"2025-01-12": False, "2025-01-13": True, "2025-03-01": True,
                  "2025-05-12": True, "2025-05-13": False, "2026-06-01": False}
        for date, fires in expect.items():
            with self.subTest(as_of=date):
                d = self.classify(facts, "--pack", "us-bis-ai-diffusion", as_of=date)
                self.assertEqual("us.bis.eccn-4e091" in self.fired(d), fires)
                self.assertEqual("us-bis-ai-diffusion" in self.not_applied(d), not fires)
        d = self.classify(facts, as_of="2025-03-01")
        self.assertNotIn("us.bis.eccn-4e091", self.fired(d))

    def test_sb1047_vetoed_what_if(self):
        facts = {"params": 1000000000000, "training": {"declared_flop": 2e26}}
        d = self.classify(facts, as_of="2026-06-01")
        self.assertFalse(any(r.startswith("us-ca.sb1047") for r in self.fired(d)))
        d = self.classify(facts, "--pack", "us-ca-sb1047", as_of="2026-06-01")
        self.assertEqual(self.fired(d), {"us-ca.sb1047.covered-model"})
        self.assertEqual(d["packs"], ["us-ca-sb1047@1.0.0"])
        self.assertTrue(any("vetoed" in n and "as if enacted" in n for n in d["notes"]),
                        d["notes"])
        self.assertGreater(d["cost_usd"], 1e8)


class IndexedThreshold(ClassifyBase):
    """tiered-release-indexed: gated above base 1e26 at 2026-01-01, doubling
    every 2.5 years (docs/policy.md: base * 2^((date - base_date) / doubling_years),
    years of 365.25 days)."""

    @staticmethod
    def threshold(as_of, base=1e26):
        days = (datetime.date.fromisoformat(as_of) - datetime.date(2026, 1, 1)).days
        return base * 2 ** ((days / 365.25) / 2.5)

    def decide(self, flop, as_of):
        facts = {"params": 1000000000000, "training": {"declared_flop": flop}}
        return self.classify(facts, "--pack", "tiered-release-indexed", as_of=as_of)

    def test_gated_now_not_later(self):
        t2026 = self.threshold("2026-06-01")
        t2030 = self.threshold("2030-01-01")
        self.assertLess(t2026, 1.5e26)
        self.assertGreater(t2030, 1.5e26)
        self.assertAlmostEqual(t2030 / 1e26, 2 ** 1.6, places=6)
        d = self.decide(1.5e26, "2026-06-01")
        self.assertEqual(d["min_tier"], "gated")
        self.assertIn("tiered.indexed-frontier-gated", self.fired(d))
        why = [r["why"] for r in d["rules_fired"] if r["rule"] == "tiered.indexed-frontier-gated"]
        self.assertIn("%.3g" % t2026, why[0])
        d = self.decide(1.5e26, "2030-01-01")
        self.assertEqual(d["min_tier"], "click")
        self.assertNotIn("tiered.indexed-frontier-gated", self.fired(d))
        self.assertIn("tiered.indexed-systemic-click", self.fired(d))
        self.assertEqual(d["packs"], ["tiered-release-indexed@1.0.0"])

    def test_boundary_follows_the_formula(self):
        for as_of in ("2026-01-01", "2027-03-15", "2030-01-01", "2035-07-01"):
            t = self.threshold(as_of)
            with self.subTest(as_of=as_of):
                self.assertEqual(self.decide(t * 1.001, as_of)["min_tier"], "gated")
                self.assertEqual(self.decide(t * 0.999, as_of)["min_tier"], "click")

    def test_not_default_active(self):
        facts = {"params": 1000000000000, "training": {"declared_flop": 1.5e26}}
        d = self.classify(facts)
        self.assertFalse(any(p.startswith("tiered-release-indexed") for p in d["packs"]))


class EuRules(ClassifyBase):

    WAIVED = {"eu.art53.technical-documentation", "eu.art53.downstream-information",
              "eu.art54.authorised-representative"}

    def test_open_source_exemption(self):
        facts = {"params": 7e10, "training": {"declared_flop": 2e24}, "modality": ["text"],
                 "license": {"spdx": "Apache-2.0"}}
        d = self.classify(facts)
        self.assertIn("eu.open-source-exempt", self.fired(d))
        self.assertIn("eu.open-source-exempt", d["labels"])
        obl = self.obligation_ids(d)
        for o in self.WAIVED:
            self.assertNotIn(o, obl)
            self.assertIn(o, d["waived"])
        self.assertIn("eu.art53.copyright-policy", obl)
        self.assertIn("eu.art53.training-summary", obl)
        self.assertNotIn("eu.art53.copyright-policy", d["waived"])

    def test_noncommercial_license_is_not_exempt(self):
        facts = {"params": 7e10, "training": {"declared_flop": 2e24}, "modality": ["text"],
                 "license": {"spdx": "Apache-2.0", "noncommercial": True}}
        d = self.classify(facts)
        self.assertNotIn("eu.open-source-exempt", self.fired(d))
        self.assertTrue(self.WAIVED <= self.obligation_ids(d))
        self.assertEqual(d["waived"], [])

    def test_systemic_risk_is_never_exempt(self):
        facts = {"params": 7e11, "training": {"declared_flop": 2e25}, "modality": ["text"],
                 "license": {"spdx": "Apache-2.0"}}
        d = self.classify(facts)
        self.assertNotIn("eu.open-source-exempt", self.fired(d))
        self.assertIn("eu.gpai-systemic-risk", d["labels"])
        self.assertTrue(self.WAIVED <= self.obligation_ids(d))

    def test_downstream_modifier(self):
        base = {"name": "Example-70B", "training_flop": 3.8e25}
        # own = 6 x 7e10 x fine-tune tokens; one third of the base is 1.2667e25
        above = {"params": 7e10, "training": {"fine_tune_tokens": 3.5e13},
                 "base_model": base, "modality": ["text"]}
        d = self.classify(above)
        own = 6 * 7e10 * 3.5e13
        self.assertRelClose(d["compute"]["own_flop"], own, 1e-12)
        self.assertRelClose(d["compute"]["modification_ratio"], own / 3.8e25, 1e-12)
        self.assertGreater(own / 3.8e25, 1 / 3)
        self.assertRelClose(d["compute"]["flop_central"], own + 3.8e25, 1e-12)
        self.assertIn("eu.downstream-provider", self.fired(d))
        self.assertIn("eu.downstream.modification-documentation", self.obligation_ids(d))

        below = dict(above, training={"fine_tune_tokens": 1e13})
        d = self.classify(below)
        self.assertLess(d["compute"]["modification_ratio"], 1 / 3)
        self.assertNotIn("eu.downstream-provider", self.fired(d))

    def test_near_threshold(self):
        d = self.classify({"params": 1e11, "training": {"declared_flop": 9e24},
                           "modality": ["text"]})
        near = d["compute"]["near_threshold"]
        self.assertIn("eu.gpai-systemic-risk", near)
        self.assertIn("tiered.systemic-click", near)
        self.assertNotIn("eu.gpai", near)
        self.assertNotIn("eu.gpai-systemic-risk", d["labels"])
        d = self.classify({"params": 1e11, "training": {"declared_flop": 2e24},
                           "modality": ["text"]})
        self.assertNotIn("eu.gpai-systemic-risk", d["compute"]["near_threshold"])


class FactsHandling(ClassifyBase):

    def test_compute_unknown(self):
        d = self.classify({"params": 7000000000, "modality": ["text"]})
        c = d["compute"]
        self.assertIs(c["known"], False)
        self.assertIsNone(c["flop_central"])
        self.assertIsNone(c["flop_low"])
        self.assertIsNone(c["flop_high"])
        self.assertIsNone(d["cost_usd"])
        self.assertIn("tiered.compute-undeclared", self.fired(d))
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertIn("facts.training-compute", obl)
        self.assertIs(obl["facts.training-compute"]["blocking"], True)
        undecided = {u["rule"]: u["missing"] for u in d["rules_undecided"]}
        for rule in ("eu.gpai", "eu.gpai-systemic-risk", "tiered.frontier-gated",
                     "tiered.systemic-click", "us-ca.frontier-model"):
            self.assertIn(rule, undecided)
            self.assertTrue(undecided[rule], rule)
            self.assertTrue(all(m.startswith("compute.") for m in undecided[rule]),
                            (rule, undecided[rule]))
        self.assertEqual(undecided["eu.gpai"], ["compute.param_update"])
        self.assertEqual(undecided["eu.gpai-systemic-risk"], ["compute.cumulative"])

    def test_tokens_option(self):
        d = self.classify({"params": 7000000000}, "--tokens", "2e12")
        self.assertEqual(d["facts"]["training"]["tokens"], 2000000000000)
        self.assertRelClose(d["compute"]["flop_central"], 6 * 7e9 * 2e12, 1e-12)
        # --tokens overrides the facts' figure
        d = self.classify({"params": 7000000000, "training": {"tokens": 1e12}}, "--tokens", "2e12")
        self.assertEqual(d["facts"]["training"]["tokens"], 2000000000000)
        self.assertRelClose(d["compute"]["flop_central"], 6 * 7e9 * 2e12, 1e-12)

    def test_files_and_facts(self):
        folder = self.mkdir("tiny")
        tensors = [("model.embed_tokens.weight", "BF16", [32000, 2048]),
                   ("model.layers.0.mlp.up_proj.weight", "BF16", [5632, 2048]),
                   ("lm_head.weight", "BF16", [32000, 2048])]
        st.write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
        n = sum(st.numel(s) for _, _, s in tensors)
        d = self.classify({"training": {"tokens": 1e12}}, paths=[folder])
        self.assertEqual(d["facts"]["sources"]["params"], "files")
        self.assertEqual(d["facts"]["sources"]["active_params"], "files")
        self.assertEqual(d["facts"]["params"], n)
        self.assertEqual(d["facts"]["active_params"], n)
        self.assertRelClose(d["compute"]["flop_central"], 6 * n * 1e12, 1e-12)
        # declared params that disagree with the files: the files win, with a note
        d = self.classify({"params": 5, "training": {"tokens": 1e12}}, paths=[folder])
        self.assertEqual(d["facts"]["params"], n)
        self.assertTrue(any("differ from the files" in x for x in d["notes"]), d["notes"])
        # --tokens alone, no facts file
        d = self.classify(None, "--tokens", "1e12", paths=[folder])
        self.assertEqual(d["facts"]["params"], n)
        self.assertRelClose(d["compute"]["flop_central"], 6 * n * 1e12, 1e-12)

    def test_epochs_and_fine_tune_tokens(self):
        d = self.classify({"params": 7000000000, "training": {"tokens": 1e12, "epochs": 2,
                                                               "fine_tune_tokens": 5e11}})
        self.assertRelClose(d["compute"]["flop_central"], 6 * 7e9 * (2e12 + 5e11), 1e-12)

    def test_synthetic_data_counts_towards_cumulative(self):
        """EU: cumulative compute includes non-public synthetic data generation
        (Guidelines Annex A.1); the compute that updated the parameters does not."""
        facts = {"params": 1e11, "training": {"declared_flop": 6e24,
                                              "synthetic_data_flop": 5e24},
                 "modality": ["text"]}
        d = self.classify(facts)
        c = d["compute"]
        self.assertRelClose(c["flop_central"], 1.1e25, 1e-12)
        self.assertRelClose(c["param_update_flop"], 6e24, 1e-12)
        self.assertRelClose(c["own_flop"], 6e24, 1e-12)
        self.assertIn("eu.gpai-systemic-risk", d["labels"])
        del facts["training"]["synthetic_data_flop"]
        self.assertNotIn("eu.gpai-systemic-risk", self.classify(facts)["labels"])

    def test_default_as_of_is_today(self):
        before = st.utc_today()
        r = st.run("classify", "--facts", self.write_json("f.json", {"params": 7000000000}),
                   "--json")
        after = st.utc_today()
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn(json.loads(r.stdout)["as_of"], {before, after})


class OutputContract(ClassifyBase):

    FACTS = {"params": 3.4e11, "training": {"tokens": 9e12}, "modality": ["text"],
             "license": {"spdx": "Apache-2.0"}}

    def test_json_keys(self):
        d = self.classify(self.FACTS)
        for k in ("facts", "compute", "cost_usd", "min_tier", "labels", "obligations",
                  "rules_fired", "packs", "as_of"):
            self.assertIn(k, d)
        self.assertEqual(d["as_of"], AS_OF)
        c = d["compute"]
        for k in ("flop_central", "flop_low", "flop_high", "methods", "near_threshold"):
            self.assertIn(k, c)
        self.assertRelClose(c["flop_low"], 0.7 * c["flop_central"], 1e-12)
        self.assertRelClose(c["flop_high"], 1.3 * c["flop_central"], 1e-12)
        for m in c["methods"]:
            self.assertIsInstance(m["method"], str)
            self.assertIsInstance(m["flop"], (int, float))
        self.assertIsInstance(c["near_threshold"], list)
        self.assertIsInstance(d["cost_usd"], (int, float))
        self.assertIn(d["min_tier"], ("open", "click", "gated", "hosted", "withheld"))
        self.assertTrue(d["obligations"])
        for o in d["obligations"]:
            self.assertEqual({"id", "title", "cite", "blocking"} - set(o), set())
            self.assertIsInstance(o["blocking"], bool)
            self.assertTrue(o["cite"])
        self.assertTrue(d["rules_fired"])
        for r in d["rules_fired"]:
            self.assertEqual({"pack", "rule", "cite", "why"} - set(r), set())
            self.assertTrue(r["why"])
        for p in d["packs"]:
            self.assertRegex(p, r"^[a-z0-9-]+@[0-9]+\.[0-9]+\.[0-9]+$")
        # counts are JSON integers, even when the facts wrote 3.4e11
        self.assertIs(type(d["facts"]["params"]), int)
        self.assertIs(type(d["facts"]["active_params"]), int)
        self.assertEqual(d["facts"]["params"], 340000000000)
        self.assertEqual(d["labels"], sorted(d["labels"]))

    def test_human_cost_matches_json(self):
        """The human "Cost about $N" line shows the JSON cost_usd, also for a
        cost beyond 2^64 dollars (a long-ago training.date makes FLOP dear)."""
        for facts in ({"params": 3.4e11, "training": {"tokens": 9e12}},
                      {"params": 7000000000,
                       "training": {"declared_flop": 1e35, "date": "1990-01-01"}}):
            with self.subTest(facts=facts):
                d = self.classify(facts)
                r = st.run("classify", "--facts", self.write_json("cost.json", facts),
                           "--as-of", AS_OF)
                self.assertEqual(r.rc, 0, repr(r))
                line = [l for l in r.stdout.splitlines() if l.startswith("Cost ")]
                self.assertEqual(len(line), 1, r.stdout)
                shown = float(line[0].split("about $")[1].split()[0].replace(",", ""))
                self.assertRelClose(shown, d["cost_usd"], 1e-3, line[0])

    def test_human_output(self):
        facts_file = self.write_json("human.json", self.FACTS)
        d = self.classify(self.FACTS)
        r = st.run("classify", "--facts", facts_file, "--as-of", AS_OF)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(r.stderr, "")
        self.assertIn("minimum tier %s" % d["min_tier"], r.stdout)
        for rule in d["rules_fired"]:
            self.assertIn(rule["rule"], r.stdout)
            self.assertIn(rule["cite"], r.stdout)
        for o in d["obligations"]:
            self.assertIn(o["id"], r.stdout)


class ExactThresholds(ClassifyBase):
    """Every compute threshold of the shipped packs at its exact value and one
    representable number either side, through `sluice classify` (issue 11,
    item 12: `>` planted as `>=` survived the suite). Compute is declared, so
    the compared figure is exactly the number given. The unit test
    tests/unit/policy/test_thresholds.c holds the full table, checked
    against the packs; here the thresholds a user meets by default, and the
    two packs that compare with `>=`."""

    # (label, facts beyond the compute, threshold, extra args, as_of,
    #  given below / exactly at / above)
    CASES = [
        ("eu.gpai", {"modality": ["text"]}, 1e23, (), AS_OF, (False, False, True)),
        ("baseline.small-model", {}, 1e23, (), AS_OF, (True, False, False)),
        ("eu.gpai-systemic-risk", {}, 1e25, (), AS_OF, (False, False, True)),
        ("tiered.systemic-click", {}, 1e25, (), AS_OF, (False, False, True)),
        ("tiered.frontier-gated", {}, 1e26, (), AS_OF, (False, False, True)),
        ("us-ca.frontier-model", {}, 1e26, (), AS_OF, (False, False, True)),
        ("us-ny.frontier-model", {}, 1e26, (), "2027-06-01", (False, False, True)),
        ("us.bis.eccn-4e091", {}, 1e26, ("--pack", "us-bis-ai-diffusion"), "2025-03-01",
         (False, True, True)),
        ("us-ca.sb1047.covered-fine-tune", {"base_model": {"name": "o/base"}}, 3e25,
         ("--pack", "us-ca-sb1047"), AS_OF, (False, True, True)),
    ]
    # min_tier by default at and around the tier thresholds
    TIERS = [(1e25, ("open", "open", "click")), (1e26, ("click", "click", "gated"))]

    def decide(self, flop, more, extra, as_of):
        facts = dict(more)
        facts["training"] = {"declared_flop": flop}
        return self.classify(facts, *extra, as_of=as_of)

    def test_each_threshold_on_the_right_side(self):
        ran = 0
        for label, more, t, extra, as_of, want in self.CASES:
            for flop, given, where in zip((math.nextafter(t, 0), t, math.nextafter(t, math.inf)),
                                          want, ("just below", "exactly at", "just above")):
                with self.subTest(label=label, flop=flop):
                    d = self.decide(flop, more, extra, as_of)
                    self.assertEqual(d["compute"]["cumulative_flop"], flop, d["compute"])
                    self.assertEqual(label in d["labels"], given,
                                     "%s %s %r: labels %r" % (where, label, t, d["labels"]))
                    ran += 1
        self.assertEqual(ran, 3 * len(self.CASES))
        self.assertEqual(ran, 27)

    def test_min_tier_at_the_tier_thresholds(self):
        ran = 0
        for t, tiers in self.TIERS:
            for flop, tier in zip((math.nextafter(t, 0), t, math.nextafter(t, math.inf)), tiers):
                with self.subTest(flop=flop):
                    self.assertEqual(self.decide(flop, {}, (), AS_OF)["min_tier"], tier)
                    ran += 1
        self.assertEqual(ran, 6)


class ComputeConflict(ClassifyBase):
    """Issue 16 item 5: figures that disagree by more than the +/-30% band are
    never averaged into a loophole."""

    # hardware: 16384 x 2000 h x 9.894e14 x 0.4 = 4.67e25; counting 6 x 7e8 x 1e12 = 4.2e21
    HW = [{"chip": "nvidia-h100-sxm", "count": 16384, "hours": 2000, "utilization": 0.4}]
    FACTS = {"params": 700000000, "training": {"tokens": 1e12, "hardware": HW},
             "modality": ["text"], "markets": ["EU"]}

    def test_geometric_mean_no_longer_escapes_the_line(self):
        d = self.classify(self.FACTS)
        hw = 16384 * 2000 * 3600 * 9.894e14 * 0.4
        self.assertRelClose(d["compute"]["flop_central"], hw, 1e-9)
        self.assertGreater(d["compute"]["flop_central"], 1e25)
        self.assertIn("eu.gpai-systemic-risk", d["labels"])
        conflict = d["compute"]["conflict"]
        self.assertEqual(conflict["high"]["method"], "hardware")
        self.assertEqual(conflict["low"]["method"], "operation_counting")
        self.assertRelClose(conflict["low"]["flop"], 4.2e21, 1e-12)
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertIn("facts.compute-conflict", obl)
        self.assertIs(obl["facts.compute-conflict"]["blocking"], True)
        self.assertEqual(obl["facts.compute-conflict"]["hold_tier"], "withheld")
        self.assertEqual(obl["facts.compute-conflict"]["pack"], "facts")
        self.assertIn("4.2e+21", obl["facts.compute-conflict"]["title"])
        self.assertIn("4.67e+25", obl["facts.compute-conflict"]["title"])
        self.assertIn("facts.compute-conflict", d["labels"])

    def test_low_declared_figure_does_not_hide_a_large_count(self):
        facts = {"params": 7e10, "training": {"tokens": 1.5e13, "declared_flop": 4.2e21},
                 "modality": ["text"], "markets": ["EU"]}
        d = self.classify(facts)
        self.assertRelClose(d["compute"]["flop_central"], 6 * 7e10 * 1.5e13, 1e-12)
        self.assertIn("eu.gpai", d["labels"])
        self.assertIn("facts.compute-conflict", self.obligation_ids(d))

    def test_agreeing_figures_are_not_a_conflict(self):
        facts = {"params": 7e9, "training": {"tokens": 2e12, "declared_flop": 9e22},
                 "markets": ["EU"]}
        d = self.classify(facts)
        self.assertIsNone(d["compute"]["conflict"])
        self.assertNotIn("facts.compute-conflict", self.obligation_ids(d))
        self.assertEqual(d["compute"]["flop_central"], 9e22)

    def test_headline_names_the_conflict(self):
        r = st.run("classify", "--facts", self.write_json("c.json", self.FACTS),
                   "--as-of", AS_OF)
        self.assertEqual(r.rc, 0, repr(r))
        head = r.stdout.splitlines()[:4]
        self.assertTrue(any(l.startswith("CONFLICT") and "4.2e+21" in l and "4.67e+25" in l
                            for l in head), head)


class Assumptions(ClassifyBase):
    """Issue 16 item 6: what the decision assumed is in its first lines."""

    def assumed(self, d):
        return {a["fact"]: a["assumed"] for a in d["assumptions"]}

    def test_markets_absent(self):
        d = self.classify({"params": 7e9, "training": {"tokens": 2e12}, "modality": ["text"]})
        self.assertIn("markets", self.assumed(d))
        d = self.classify({"params": 7e9, "training": {"tokens": 2e12}, "modality": ["text"],
                           "markets": ["EU"]})
        self.assertNotIn("markets", self.assumed(d))

    def test_compute_unknown_tier_is_provisional(self):
        facts = {"params": 7000000000, "modality": ["text"], "markets": ["EU"]}
        d = self.classify(facts)
        self.assertEqual(d["min_tier"], "open")
        self.assertIs(d["min_tier_provisional"], True)
        self.assertIn("compute", self.assumed(d))
        r = st.run("classify", "--facts", self.write_json("u.json", facts), "--as-of", AS_OF)
        self.assertEqual(r.rc, 0, repr(r))
        first = r.stdout.splitlines()[0]
        self.assertIn("minimum tier open (provisional", first)
        d = self.classify(dict(facts, training={"tokens": 1e12}))
        self.assertIs(d["min_tier_provisional"], False)
        self.assertNotIn("compute", self.assumed(d))

    def test_modality_missing_leaves_eu_undecided(self):
        facts = {"params": 7e10, "training": {"declared_flop": 2e24}, "markets": ["EU"]}
        d = self.classify(facts)
        self.assertNotIn("eu.gpai", self.fired(d))
        self.assertIn("eu.gpai", {u["rule"] for u in d["rules_undecided"]})
        self.assertIn("general_purpose", self.assumed(d))
        self.assertIn("eu.gpai", self.assumed(d)["general_purpose"])
        r = st.run("classify", "--facts", self.write_json("m.json", facts), "--as-of", AS_OF)
        head = r.stdout.split("\n\n")[0]
        self.assertIn("general_purpose not given", head)
        # with the modality the Guidelines' test decides, and says so
        d = self.classify(dict(facts, modality=["text"]))
        self.assertIn("eu.gpai", self.fired(d))
        self.assertIn("modality test", self.assumed(d)["general_purpose"])
        # stated outright, nothing is assumed
        d = self.classify(dict(facts, modality=["text"], general_purpose=True))
        self.assertNotIn("general_purpose", self.assumed(d))

    def test_dense_assumption(self):
        d = self.classify({"params": 7e9, "training": {"tokens": 2e12}, "markets": ["EU"]})
        self.assertIn("active_params", self.assumed(d))
        d = self.classify({"params": 7e9, "active_params": 7e9, "training": {"tokens": 2e12},
                           "markets": ["EU"]})
        self.assertNotIn("active_params", self.assumed(d))


class EuLaw2026(ClassifyBase):
    """Issue 16 item 3: the AI Act and the Commission's GPAI guidelines
    C(2025) 5045 as they stand on 2026-12-07, at their own boundaries."""

    BIG = {"params": 7e11, "training": {"declared_flop": 2e25}, "markets": ["EU"]}
    SYSTEMIC = {"eu.art52.notification", "eu.art55.model-evaluation"}

    def test_not_general_purpose_is_not_flagged_on_compute(self):
        d = self.classify(dict(self.BIG, general_purpose=False, modality=["text"]))
        self.assertNotIn("eu.gpai-systemic-risk", d["labels"])
        self.assertNotIn("eu.gpai", d["labels"])
        self.assertFalse(self.SYSTEMIC & self.obligation_ids(d))
        # the Guidelines' modality test: a robotics-only model is not GPAI by default
        d = self.classify(dict(self.BIG, modality=["robotics"]))
        self.assertNotIn("eu.gpai-systemic-risk", d["labels"])
        # ... unless its facts say it is general-purpose
        d = self.classify(dict(self.BIG, modality=["robotics"], general_purpose=True))
        self.assertIn("eu.gpai-systemic-risk", d["labels"])
        # text-to-video generates video: general-purpose by the indicative test
        d = self.classify(dict(self.BIG, modality=["video"]))
        self.assertIn("eu.gpai-systemic-risk", d["labels"])

    def test_leaving_out_the_modality_does_not_escape_systemic_risk(self):
        d = self.classify(self.BIG)
        self.assertIn("eu.gpai-systemic-risk", d["labels"])
        self.assertTrue(self.SYSTEMIC <= self.obligation_ids(d))
        assumed = {a["fact"]: a["assumed"] for a in d["assumptions"]}
        self.assertIn("presumed general-purpose", assumed["general_purpose"])

    def modifier(self, own, base_flop=3.8e25, systemic=True):
        base = {"name": "Example-400B", "systemic_risk": systemic}
        if base_flop is not None:
            base["training_flop"] = base_flop
        return dict(self.BIG, training={"declared_flop": own}, base_model=base,
                    modality=["text"])

    def test_small_modifier_owes_no_art52_or_art55(self):
        d = self.classify(self.modifier(1e24))  # ratio 0.026
        self.assertIn("eu.downstream-not-provider", self.fired(d))
        self.assertFalse(self.SYSTEMIC & self.obligation_ids(d), self.obligation_ids(d))
        self.assertNotIn("eu.gpai", d["labels"])
        self.assertNotIn("eu.gpai-systemic-risk", d["labels"])
        self.assertNotIn("eu.art53.technical-documentation", self.obligation_ids(d))

    def test_modifier_of_an_original_below_the_line_is_unverified(self):
        d = self.classify(self.modifier(6e24, base_flop=5e24, systemic=False))
        fired = [r for r in d["rules_fired"] if r["rule"] == "eu.downstream-systemic-by-compute"]
        self.assertEqual(len(fired), 1)
        self.assertIn("our reading", fired[0]["unverified"])
        self.assertTrue(self.SYSTEMIC <= self.obligation_ids(d))

    def test_one_third_boundary(self):
        # exactly one third is not "more than one third" (powers of two keep it exact)
        own = float(2 ** 82)
        d = self.classify(self.modifier(own, base_flop=3 * own))
        self.assertIn("eu.downstream-not-provider", self.fired(d))
        self.assertNotIn("eu.downstream-provider", self.fired(d))
        d = self.classify(self.modifier(own * 1.001, base_flop=3 * own))
        self.assertIn("eu.downstream-provider", self.fired(d))
        self.assertIn("eu.downstream-systemic-risk", self.fired(d))
        obl = self.obligation_ids(d)
        self.assertTrue(self.SYSTEMIC <= obl)
        self.assertIn("eu.downstream.modification-documentation", obl)
        self.assertIn("eu.art54.authorised-representative", obl)
        # documentation is limited to the modification: not the full Annex XI duty
        self.assertNotIn("eu.art53.technical-documentation", obl)

    def test_unknown_original_compute_uses_the_threshold_third(self):
        d = self.classify(self.modifier(3.3e24, base_flop=None))
        self.assertIn("eu.downstream-not-provider", self.fired(d))
        self.assertFalse(self.SYSTEMIC & self.obligation_ids(d))
        d = self.classify(self.modifier(3.4e24, base_flop=None))
        self.assertIn("eu.downstream-provider", self.fired(d))
        self.assertTrue(self.SYSTEMIC <= self.obligation_ids(d))

    def test_open_source_exemption_needs_public_weights(self):
        facts = {"params": 7e10, "training": {"declared_flop": 2e24}, "modality": ["text"],
                 "license": {"spdx": "CC-BY-4.0"}, "markets": ["EU"]}
        d = self.classify(facts)
        self.assertIn("eu.open-source-exempt", self.fired(d))
        self.assertIn("release_tier", {a["fact"] for a in d["assumptions"]})
        d = self.classify(dict(facts, license={"spdx": "CC0-1.0"}, release_tier="click"))
        self.assertIn("eu.open-source-exempt", self.fired(d))
        for tier in ("gated", "hosted", "withheld"):
            with self.subTest(tier=tier):
                d = self.classify(dict(facts, release_tier=tier))
                self.assertNotIn("eu.open-source-exempt", self.fired(d))
                self.assertIn("eu.art53.technical-documentation", self.obligation_ids(d))
        d = self.classify(dict(facts, license={"spdx": "CC-BY-NC-4.0"}))
        self.assertNotIn("eu.open-source-exempt", self.fired(d))
        # a tier the policy itself holds at hosted keeps the weights private
        d = self.classify(dict(facts, evaluations=[{"domain": "cyber", "level": "high"}]))
        self.assertEqual(d["min_tier"], "hosted")
        self.assertNotIn("eu.open-source-exempt", self.fired(d))
        self.assertNotIn("eu.open-source-exempt", d["labels"])
        self.assertEqual(d["waived"], [])
        self.assertIn("eu.art53.technical-documentation", self.obligation_ids(d))
        self.assertTrue(any(n.startswith("eu.open-source-exempt (eu-ai-act) does not apply: "
                                         "the minimum tier hosted") for n in d["notes"]),
                        d["notes"])
        d = self.classify(dict(facts, evaluations=[{"domain": "cyber", "level": "medium"}]))
        self.assertIn("eu.open-source-exempt", self.fired(d))

    def test_art55_covers_the_code_risks(self):
        d = self.classify(dict(self.BIG, modality=["text"]))
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertEqual(set(obl["eu.art55.model-evaluation"]["requires_evaluations"]),
                         {"cbrn", "cyber", "autonomy", "persuasion"})
        self.assertIn("harmful manipulation", obl["eu.art55.model-evaluation"]["title"])
        self.assertIn("loss of control", obl["eu.art55.model-evaluation"]["title"])

    def test_legacy_models_have_until_2027(self):
        facts = dict(self.BIG, modality=["text"], placed_on_market="2025-08-01")
        d = self.classify(facts, as_of="2026-12-07")
        self.assertIn("eu.legacy-model", self.fired(d))
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertIs(obl["eu.art52.notification"]["blocking"], False)
        self.assertIn("2027-08-02", obl["eu.art52.notification"]["deadline"])
        self.assertEqual(obl["eu.art52.notification"]["deferred"],
                         {"until": "2027-08-02", "rule": "eu.legacy-model"})
        self.assertNotIn("hold_tier", obl["eu.art52.notification"])
        # the tiered-release pack's own evaluations still block: only EU duties move
        self.assertIs(obl["safety.evaluations-required"]["blocking"], True)
        # placed on the day Chapter V applied: not a legacy model
        d = self.classify(dict(facts, placed_on_market="2025-08-02"), as_of="2026-12-07")
        self.assertNotIn("eu.legacy-model", self.fired(d))
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertIs(obl["eu.art52.notification"]["blocking"], True)
        # on 2027-08-02 the grace period is over
        d = self.classify(facts, as_of="2027-08-02")
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertIs(obl["eu.art52.notification"]["blocking"], True)

    def test_enforcement_date_in_decisions(self):
        facts = dict(self.BIG, modality=["text"])
        before = self.classify(facts, as_of="2026-08-01")["notes"]
        after = self.classify(facts, as_of="2026-08-02")["notes"]
        self.assertTrue(any("apply from 2026-08-02" in n for n in before), before)
        self.assertTrue(any("apply since 2026-08-02" in n for n in after), after)
        self.assertTrue(any("2027-08-02" in n and "Art. 111(3)" in n for n in after), after)

    def test_code_of_practice_route(self):
        facts = dict(self.BIG, modality=["text"],
                     code_of_practice_signatory=["transparency", "copyright", "safety-security"])
        d = self.classify(facts)
        self.assertIn("eu.code-of-practice", self.fired(d))
        why = [r["why"] for r in d["rules_fired"] if r["rule"] == "eu.code-of-practice"][0]
        self.assertIn("safety-security", why)
        d = self.classify(dict(facts, code_of_practice_signatory=[]))
        self.assertNotIn("eu.code-of-practice", self.fired(d))

    def test_new_facts_are_validated(self):
        for bad in ({"general_purpose": "yes"}, {"placed_on_market": "2025-13-01"},
                    {"code_of_practice_signatory": ["safety"]}, {"release_tier": "public"}):
            with self.subTest(facts=bad):
                r = st.run("classify", "--facts", self.write_json("bad.json", bad))
                self.assertEqual(r.rc, 2, repr(r))
                self.assertIn(list(bad)[0], r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class UsStateLaws2026(ClassifyBase):
    """Issue 16 items 1-2: SB 53 (Stats. 2025, ch. 138) and the RAISE Act as
    re-enacted by S.8828, at the statutes' own boundaries."""

    def facts(self, own, revenue=None, base=None):
        f = {"params": 2000000000000, "training": {"declared_flop": own}, "modality": ["text"],
             "markets": ["US-CA", "US-NY"]}
        if revenue is not None:
            f["developer"] = {"annual_revenue_usd": revenue}
        if base is not None:
            f["base_model"] = {"name": "Other-Lab-Base", "training_flop": base}
        return f

    def test_more_than_1e26_means_more(self):
        d = self.classify(self.facts(1e26, revenue=1e9), as_of="2027-01-01")
        self.assertFalse({"us-ca.frontier-model", "us-ny.frontier-model"} & self.fired(d))
        d = self.classify(self.facts(1.0001e26, revenue=1e9), as_of="2027-01-01")
        self.assertTrue({"us-ca.frontier-model", "us-ny.frontier-model",
                         "us-ca.large-frontier-developer",
                         "us-ny.large-frontier-developer"} <= self.fired(d))

    def test_every_frontier_developer_versus_large(self):
        small = self.classify(self.facts(2e26, revenue=5e8), as_of="2027-01-01")
        obl = self.obligation_ids(small)
        # every frontier developer: transparency report and incident reports
        for o in ("us-ny.raise.transparency-report", "us-ny.raise.incident-report",
                  "us-ca.sb53.transparency-report", "us-ca.sb53.critical-incident-report"):
            self.assertIn(o, obl)
        # $500 M exactly is not "more than $500 M": no large-developer duties
        for o in ("us-ny.raise.frontier-ai-framework", "us-ny.raise.disclosure-statement",
                  "us-ny.raise.internal-use-risk-summaries", "us-ca.sb53.frontier-ai-framework",
                  "us-ca.sb53.internal-use-risk-summaries"):
            self.assertNotIn(o, obl)
        large = self.classify(self.facts(2e26, revenue=5.00001e8), as_of="2027-01-01")
        by_id = {o["id"]: o for o in large["obligations"]}
        self.assertIs(by_id["us-ny.raise.disclosure-statement"]["blocking"], True)
        self.assertIn("§1428", by_id["us-ny.raise.disclosure-statement"]["cite"])
        self.assertIn("72 hours", by_id["us-ny.raise.incident-report"]["deadline"])
        self.assertIn("15 days", by_id["us-ca.sb53.critical-incident-report"]["deadline"])
        self.assertIn("three months", by_id["us-ca.sb53.internal-use-risk-summaries"]["deadline"])
        self.assertIn("agreed with the Office",
                      by_id["us-ny.raise.internal-use-risk-summaries"]["deadline"])
        self.assertIn("us-ca.sb53.framework-annual-review", by_id)
        self.assertIs(by_id["us-ny.raise.transparency-report"]["blocking"], True)
        self.assertIs(by_id["us-ca.sb53.transparency-report"]["blocking"], True)
        cites = {o["id"]: o["cite"] for o in large["obligations"]}
        for oid, cite in (("us-ca.sb53.framework-annual-review", "§22757.12(b)"),
                          ("us-ca.sb53.transparency-report", "§22757.12(c)(1)"),
                          ("us-ca.sb53.internal-use-risk-summaries", "§22757.12(d)"),
                          ("us-ca.sb53.critical-incident-report", "§22757.13(c)"),
                          ("us-ny.raise.frontier-ai-framework", "§1421(1)"),
                          ("us-ny.raise.internal-use-risk-summaries", "§1422(2)"),
                          ("us-ny.raise.incident-report", "§1422(3)")):
            self.assertIn(cite, cites[oid], oid)
        self.assertEqual(by_id["us-ca.sb53.frontier-ai-framework"]["cite"],
                         "Cal. Bus. & Prof. Code §22757.12(a)(1)-(10)")

    def test_raise_not_in_force_before_2027(self):
        d = self.classify(self.facts(2e26, revenue=1e9), as_of="2026-12-31")
        self.assertIn("us-ny-raise", self.not_applied(d))
        self.assertIn("us-ca.frontier-model", self.fired(d))

    def test_fine_tuner_of_a_frontier_base_is_contested_not_asserted(self):
        d = self.classify(self.facts(1e24, revenue=1e9, base=2e26), as_of="2027-01-01")
        self.assertFalse({"us-ca.frontier-model", "us-ny.frontier-model",
                          "us-ca.large-frontier-developer"} & self.fired(d))
        for rule in ("us-ca.frontier-base-compute", "us-ny.frontier-base-compute"):
            fired = [r for r in d["rules_fired"] if r["rule"] == rule]
            self.assertEqual(len(fired), 1, rule)
            self.assertIn("not settled", fired[0]["ambiguity"])
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertIs(obl["us-ca.sb53.frontier-status-review"]["blocking"], False)
        self.assertNotIn("us-ny.raise.disclosure-statement", obl)

    def test_preemption_is_information_only(self):
        d = self.classify(self.facts(2e26, revenue=1e9), as_of="2027-01-01")
        notes = [n for n in d["notes"] if "14365" in n]
        self.assertEqual(len(notes), 2, d["notes"])
        self.assertTrue(all("do not change" in n for n in notes))
        self.assertIn("us-ny.raise.disclosure-statement", self.obligation_ids(d))


class KoreaAndFrameworks(ClassifyBase):
    """Issue 16 item 4: Korea's AI Basic Act (criterion unverified, said so) and
    the tiered-release pack's framework citations."""

    def decide(self, flop, **kw):
        facts = {"params": 2000000000000, "training": {"declared_flop": flop},
                 "markets": ["KR", "US"], "developer": {"annual_revenue_usd": 1e9}}
        facts.update(kw)
        return self.classify(facts, as_of=kw.pop("as_of", "2026-12-07"))

    def test_or_more_includes_the_line(self):
        d = self.decide(1e26)
        self.assertIn("kr.high-performance-ai", self.fired(d))
        self.assertNotIn("us-ca.frontier-model", self.fired(d))  # "more than" in the US
        fired = [r for r in d["rules_fired"] if r["rule"] == "kr.high-performance-ai"][0]
        self.assertIn("decree text", fired["unverified"])
        obl = {o["id"]: o for o in d["obligations"]}
        self.assertIn("kr.art32.risk-management", obl)
        self.assertIn("unverified", obl["kr.art32.risk-management"])
        self.assertTrue(any(n.startswith("kr-ai-basic-act: ") and "not verified" in n
                            for n in d["notes"]), d["notes"])
        d = self.decide(9.99e25)
        self.assertNotIn("kr.high-performance-ai", self.fired(d))

    def test_dates_and_markets(self):
        facts = {"params": 2000000000000, "training": {"declared_flop": 2e26},
                 "markets": ["KR"]}
        d = self.classify(facts, as_of="2026-01-21")
        self.assertIn("kr-ai-basic-act", self.not_applied(d))
        d = self.classify(facts, as_of="2026-01-22")
        self.assertIn("kr.high-performance-ai", self.fired(d))
        d = self.classify(dict(facts, markets=["EU"]), as_of="2026-06-01")
        self.assertIn("kr-ai-basic-act", self.not_applied(d))

    def test_caveats_in_human_output(self):
        facts = {"params": 2000000000000, "training": {"declared_flop": 2e26},
                 "markets": ["KR", "US"], "developer": {"annual_revenue_usd": 1e9},
                 "base_model": {"name": "b", "training_flop": 1e26}}
        facts["training"]["declared_flop"] = 1e25
        r = st.run("classify", "--facts", self.write_json("cav.json", facts), "--as-of",
                   "2027-02-01")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("UNVERIFIED: the threshold value (10^26)", r.stdout)
        self.assertIn("CONTESTED: §22757.11(i)(2)", r.stdout)
        r = st.run("policy", "show", "kr-ai-basic-act")
        self.assertIn("UNVERIFIED: ", r.stdout)
        self.assertIn("Sources (checked 2026-12-07)", r.stdout)
        self.assertIn("[until 2027-01-22]", r.stdout)

    def test_tiered_release_cites_current_frameworks(self):
        doc = st.run_json(self, "policy", "show", "tiered-release", "--json")
        cites = " ".join([r["cite"] for r in doc["rules"]] +
                         [o["cite"] for o in doc["obligations"]])
        self.assertNotIn("Meta Frontier AI Framework", cites)
        self.assertIn("RSP v3.0", cites)
        self.assertNotIn("URL to verify", json.dumps(doc["sources"]))
        self.assertIn("design choice", [r for r in doc["rules"]
                                        if r["id"] == "safety.critical-capability"][0]["cite"])


class GoldenDecisions(ClassifyBase):
    """Golden decisions for the issue's examples (tests/data/golden/*.json):
    the whole decision, exactly. After a deliberate pack change, rewrite them
    with SLUICE_GOLDEN_UPDATE=1 and review the diff."""

    def test_golden(self):
        folder = os.path.join(st.DATA, "golden")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        self.assertGreaterEqual(len(names), 7)
        for name in names:
            path = os.path.join(folder, name)
            with open(path) as f:
                case = json.load(f)
            with self.subTest(case=name):
                args = []
                for p in case["packs"]:
                    args += ["--pack", p]
                d = self.classify(case["facts"], *args, as_of=case["as_of"])
                if os.environ.get("SLUICE_GOLDEN_UPDATE") == "1":
                    case["decision"] = d
                    with open(path, "w") as f:
                        json.dump(case, f, indent=1, sort_keys=True)
                        f.write("\n")
                    continue
                self.assertEqual(d, case["decision"], "%s: %s" % (name, case["about"]))


if __name__ == "__main__":
    st.main()
