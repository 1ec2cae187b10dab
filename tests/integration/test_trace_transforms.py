# SPDX-License-Identifier: Apache-2.0
"""`sluice trace` against the copies a converter or a leaker makes (issue 12,
item 2; docs/fingerprint.md, "Reading a suspect"): tensors renamed, given a
prefix, stripped of one, given each other's names, reordered, resharded
under new names, converted to f32, converted to GGUF with llama.cpp names
and q/k rows permuted. Each traces like the original copy: the right
licensee, nobody else. Suspect tensors are matched to the original's by
shape and content, not by name.

And the copies that say too little: a model too small to carry a usable
mark, the README tour's all-zero model, a model with no markable tensor, an
unrelated model of the same shapes. Each answers 200 with "accused": [],
"verdict": "insufficient" and a reason, never a 500 and never NaN.
"""
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import unittest
import zlib
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402
from test_fingerprint import (bf16_table, bf16_to_f32, q8_0_block_bytes,  # noqa: E402
                              random_bf16, read_st, write_st)

HIDDEN, INTER, KV, VOCAB, HEADS, KV_HEADS = 512, 1024, 128, 1024, 8, 2
HEAD_DIM = HIDDEN // HEADS


def layer(i):
    p = "model.layers.%d." % i
    return [(p + "self_attn.q_proj.weight", [HIDDEN, HIDDEN]),
            (p + "self_attn.k_proj.weight", [KV, HIDDEN]),
            (p + "self_attn.v_proj.weight", [KV, HIDDEN]),
            (p + "self_attn.o_proj.weight", [HIDDEN, HIDDEN]),
            (p + "mlp.gate_proj.weight", [INTER, HIDDEN]),
            (p + "mlp.up_proj.weight", [INTER, HIDDEN]),
            (p + "mlp.down_proj.weight", [HIDDEN, INTER])]


SHAPES = [("model.embed_tokens.weight", [VOCAB, HIDDEN])] + layer(0) + layer(1)
NORMS = [("model.norm.weight", [HIDDEN]), ("model.layers.0.input_layernorm.weight", [HIDDEN])]

GGUF = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
for _i in range(2):
    for _hf, _gg in (("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
                     ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"),
                     ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"),
                     ("mlp.down_proj", "ffn_down"), ("input_layernorm", "attn_norm")):
        GGUF["model.layers.%d.%s.weight" % (_i, _hf)] = "blk.%d.%s.weight" % (_i, _gg)


def permute_qk(raw, rows, cols, n_head, esize):
    """convert_hf_to_gguf.py's row permutation of attn_q / attn_k: within
    each head, GGUF row 2i + a is HF row a * head_dim / 2 + i."""
    hd = rows // n_head
    rb = cols * esize
    out = bytearray(len(raw))
    for h in range(n_head):
        for i in range(hd // 2):
            for a in range(2):
                src = h * hd + a * hd // 2 + i
                dst = h * hd + 2 * i + a
                out[dst * rb:(dst + 1) * rb] = raw[src * rb:(src + 1) * rb]
    return bytes(out)


def write_gguf(path, tensors, kvs):
    """tensors: [(name, ggml type name, shape, raw bytes)]"""
    head, size = st.gguf_bytes(kvs, [(n, t, s) for n, t, s, _ in tensors])
    data = bytearray(head)
    for _, _, _, raw in tensors:
        data += raw + b"\0" * (-len(raw) % 32)
    assert len(data) == size
    with open(path, "wb") as f:
        f.write(data)


class Trace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-trace-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.build()
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
    def p(cls, *parts):
        return os.path.join(cls.tmp, *parts)

    @classmethod
    def run_as(cls, who, *args, timeout=300):
        env = cls.srv.client_env(cls.tok[who], cls.p("home-" + who))
        return st.run(*args, env=env, timeout=timeout)

    @classmethod
    def publish(cls, name, tensors, grantees=("bob", "carol")):
        """Pushes a gated model acme/NAME, grants GRANTEES and pulls their
        copies; returns {who: {tensor: (dtype, shape, raw)}}."""
        folder = cls.p("src-" + name)
        os.makedirs(folder)
        write_st(os.path.join(folder, "model.safetensors"), tensors)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({"model_type": "llama", "hidden_size": HIDDEN}, f)
        r = cls.run_as("alice", "push", "acme/" + name, folder, "--facts", cls.facts, "--tier",
                       "gated", "--json")
        assert r.rc == 0, r
        copies = {}
        for who in grantees:
            r = cls.run_as(who, "access", "request", "acme/" + name, "--purpose", "evaluation")
            assert r.rc == 0, r
            r = cls.run_as("alice", "access", "approve", "acme/" + name, who)
            assert r.rc == 0, r
            dest = cls.p("pull-%s-%s" % (name, who))
            r = cls.run_as(who, "pull", "acme/" + name, "--dest", dest)
            assert r.rc == 0, r
            copies[who] = read_st(os.path.join(dest, "model.safetensors"))
        return copies

    @classmethod
    def build(cls):
        srv = cls.srv
        srv.start()
        cls.tok = {}
        for who in ("alice", "bob", "carol"):
            cls.tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_member("acme", "alice", "publisher")
        cls.facts = cls.p("facts.json")
        with open(cls.facts, "w") as f:
            json.dump({"training": {"tokens": 1e9}}, f)
        rng = random.Random(1212)
        table = bf16_table(rng, 0.02)
        cls.table = table
        tensors = [(n, "BF16", s, random_bf16(rng, s[0] * s[1], table).tobytes())
                   for n, s in SHAPES]
        tensors += [(n, "BF16", s, array("H", [0x3F80] * s[0]).tobytes()) for n, s in NORMS]
        cls.copies = cls.publish("m", tensors)
        # too small: one 512 x 512 matrix, about 260 positions, so even an
        # exact copy scores about 9 where some 24 are needed
        cls.publish("tiny", [("model.layers.0.mlp.up_proj.weight", "BF16", [512, 512],
                              random_bf16(rng, 512 * 512, table).tobytes())], grantees=("bob",))
        # the README tour's model: real shapes, every weight zero
        cls.publish("zeros", [(n, "BF16", s, bytes(2 * s[0] * s[1])) for n, s in SHAPES[:3]],
                    grantees=("bob",))
        # never issued to anyone
        cls.publish("unissued", [(n, "BF16", s, random_bf16(rng, s[0] * s[1], table).tobytes())
                                 for n, s in SHAPES[5:8]], grantees=())
        # nothing a mark could go into: norms only
        cls.publish("flat", [(n, "BF16", s, array("H", [0x3F80] * s[0]).tobytes())
                             for n, s in NORMS], grantees=("bob",))

    # -- helpers

    def tensors_of(self, who, model="m"):
        c = self.copies[who] if model == "m" else None
        return [(n, c[n][0], c[n][1], c[n][2]) for n, _ in SHAPES + NORMS]

    def folder(self, name):
        d = self.p("suspect-" + name)
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
        return d

    def trace(self, path, model="acme/m"):
        r = self.run_as("alice", "trace", path, "--model", model, "--json")
        self.assertEqual(r.rc, 0, repr(r))
        doc = json.loads(r.stdout)
        for k in ("accused", "positions_read", "positions_total", "verdict", "why",
                  "recipients_scored", "unread", "payload_id"):
            self.assertIn(k, doc, doc)
        for a in doc["accused"]:
            self.assertIsInstance(a["z"], float)
            self.assertIsInstance(a["fp_bound"], float)
        self.assertTrue(doc["threshold_z"] is None or isinstance(doc["threshold_z"], float), doc)
        return doc

    def assertTraces(self, doc, who="bob", unread=0):
        msg = json.dumps(doc, indent=1)[:4000]
        self.assertEqual([a["user"] for a in doc["accused"]], [who], msg)
        self.assertEqual(doc["verdict"], "accused", msg)
        self.assertGreaterEqual(doc["accused"][0]["z"], 10, msg)
        self.assertLess(doc["accused"][0]["fp_bound"], 1e-6, msg)
        self.assertEqual(len(doc["unread"]), unread, msg)
        return doc

    def write(self, name, tensors, files=1):
        d = self.folder(name)
        if files == 1:
            write_st(os.path.join(d, "model.safetensors"), tensors)
            return d
        wmap = {}
        for k in range(files):
            part = tensors[k::files]
            fn = "model-%05d-of-%05d.safetensors" % (k + 1, files)
            write_st(os.path.join(d, fn), part)
            for t in part:
                wmap[t[0]] = fn
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wmap}, f)
        return d

    def content_pairs(self, doc):
        return {m["tensor"]: m["suspect"] for m in doc["matched_by_content"]}

    # -- copies that trace

    def test_exact_copy_matches_by_name(self):
        doc = self.assertTraces(self.trace(self.write("exact", self.tensors_of("bob"))))
        self.assertEqual(doc["matched_by_content"], [])
        self.assertTraces(self.trace(self.write("exact-c", self.tensors_of("carol"))), "carol")

    def test_prefixed(self):
        t = [("renamed." + n, d, s, raw) for n, d, s, raw in self.tensors_of("bob")]
        doc = self.assertTraces(self.trace(self.write("prefixed", t)))
        pairs = self.content_pairs(doc)
        self.assertEqual(len(pairs), len(SHAPES))
        for orig, sus in pairs.items():
            self.assertEqual(sus, "renamed." + orig)

    def test_prefix_stripped(self):
        t = [(n[len("model."):], d, s, raw) for n, d, s, raw in self.tensors_of("carol")]
        doc = self.assertTraces(self.trace(self.write("stripped", t)), "carol")
        for orig, sus in self.content_pairs(doc).items():
            self.assertEqual(sus, orig[len("model."):])

    def test_names_swapped_between_layers(self):
        # layer 0's tensors carry layer 1's names and the other way round:
        # names would pair every matrix with the wrong original
        def swap(n):
            if ".layers.0." in n:
                return n.replace(".layers.0.", ".layers.1.")
            if ".layers.1." in n:
                return n.replace(".layers.1.", ".layers.0.")
            return n
        t = [(swap(n), d, s, raw) for n, d, s, raw in self.tensors_of("bob")]
        doc = self.assertTraces(self.trace(self.write("swapped", t)))
        pairs = self.content_pairs(doc)
        for n, _ in SHAPES:
            if ".layers." in n:
                self.assertEqual(pairs.get(n), swap(n), json.dumps(doc)[:3000])

    def test_reordered_resharded_and_renamed(self):
        t = self.tensors_of("carol")
        random.Random(4).shuffle(t)
        t = [("w%03d" % i, d, s, raw) for i, (n, d, s, raw) in enumerate(t)]
        self.assertTraces(self.trace(self.write("resharded", t, files=3)), "carol")

    def test_f32_copy_under_other_names(self):
        t = []
        for n, d, s, raw in self.tensors_of("bob"):
            t.append(("transformer." + n.split("model.")[-1], "F32", s,
                      bf16_to_f32(array("H", raw)).tobytes()))
        self.assertTraces(self.trace(self.write("f32", t)))

    def test_renamed_copy_with_garbage_values(self):
        # 3% of the weights overwritten with NaN, infinities and +-3e38
        # (bf16 0x7f64): such outliers must not hide which tensor is which
        rng = random.Random(8)
        junk = (0x7FC0, 0x7F80, 0xFF80, 0x7F64, 0xFF64)

        def spoil(raw):
            a = array("H", raw)
            for i in rng.sample(range(len(a)), len(a) * 3 // 100):
                a[i] = rng.choice(junk)
            return a.tobytes()
        t = [("junk." + n, d, s, spoil(raw) if len(s) == 2 else raw)
             for n, d, s, raw in self.tensors_of("carol")]
        doc = self.assertTraces(self.trace(self.write("garbage", t)), "carol")
        self.assertEqual(len(self.content_pairs(doc)), len(SHAPES))

    def test_q8_0_gguf_with_unknown_names(self):
        # re-quantised, renamed and with q/k rows permuted: every tensor is
        # still found by its values (Q8_0 hides most marks, so on a model
        # this small the verdict may be too weak to accuse; never someone
        # else)
        kvs = [st.gguf_kv("general.architecture", "str", "llama")]
        out = []
        for n, _, s, raw in self.tensors_of("bob"):
            if n.endswith("q_proj.weight"):
                raw = permute_qk(raw, s[0], s[1], HEADS, 2)
            elif n.endswith("k_proj.weight"):
                raw = permute_qk(raw, s[0], s[1], KV_HEADS, 2)
            if len(s) == 2:
                vals = bf16_to_f32(array("H", raw))
                raw = b"".join(q8_0_block_bytes(vals[b:b + 32]) for b in range(0, len(vals), 32))
                out.append(("q.%08x" % zlib.crc32(n.encode()), "Q8_0", s, raw))
        d = self.folder("q8")
        write_gguf(os.path.join(d, "model-Q8_0.gguf"), out, kvs)
        doc = self.trace(d)
        self.assertTrue(doc["quantised_reference"], doc)
        self.assertEqual(doc["unread"], [], doc)
        self.assertEqual(len(doc["matched_by_content"]), len(SHAPES), doc)
        self.assertIn(doc["verdict"], ("accused", "insufficient"), doc)
        self.assertIn([a["user"] for a in doc["accused"]], ([], ["bob"]), doc)

    def gguf(self, name, who, ggml_type, names):
        kvs = [st.gguf_kv("general.architecture", "str", "llama"),
               st.gguf_kv("llama.attention.head_count", "u32", HEADS),
               st.gguf_kv("llama.attention.head_count_kv", "u32", KV_HEADS)]
        out = []
        for n, _, s, raw in self.tensors_of(who):
            if ggml_type == "F32":
                raw = bf16_to_f32(array("H", raw)).tobytes()
            esize = 4 if ggml_type == "F32" else 2
            if n.endswith("q_proj.weight"):
                raw = permute_qk(raw, s[0], s[1], HEADS, esize)
            elif n.endswith("k_proj.weight"):
                raw = permute_qk(raw, s[0], s[1], KV_HEADS, esize)
            out.append((names(n), ggml_type, s, raw))
        d = self.folder(name)
        write_gguf(os.path.join(d, "model.gguf"), out, kvs)
        return d

    def test_gguf_bf16_with_llama_cpp_names(self):
        doc = self.assertTraces(self.trace(self.gguf("gguf", "bob", "BF16", lambda n: GGUF[n])))
        self.assertEqual(doc["unread"], [], doc)  # q and k too: their rows are put back
        undone = {m["tensor"]: m.get("qk_rows_unpermuted_head_dim")
                  for m in doc["matched_by_content"]}
        self.assertEqual(undone, {n: HEAD_DIM for n, _ in SHAPES
                                  if n.endswith(("q_proj.weight", "k_proj.weight"))}, doc)

    def test_gguf_f32_with_unknown_names(self):
        doc = self.trace(self.gguf("gguf-f32", "carol", "F32",
                                   lambda n: "t.%08x" % zlib.crc32(n.encode())))
        self.assertTraces(doc, "carol")

    def test_original_accuses_nobody(self):
        doc = self.trace(os.path.join(self.p("src-m"), "model.safetensors"))
        self.assertEqual(doc["accused"], [], doc)
        self.assertEqual(doc["verdict"], "not_accused", doc)
        self.assertGreater(doc["positions_read"], 1000, doc)

    # -- copies that say too little

    def assertInsufficient(self, doc):
        msg = json.dumps(doc, indent=1)[:3000]
        self.assertEqual(doc["accused"], [], msg)
        self.assertEqual(doc["verdict"], "insufficient", msg)
        self.assertTrue(doc["why"], msg)
        self.assertIsInstance(doc["positions_read"], int, msg)

    def test_too_few_positions(self):
        doc = self.trace(self.p("pull-tiny-bob", "model.safetensors"), "acme/tiny")
        self.assertInsufficient(doc)
        self.assertGreater(doc["positions_read"], 100, doc)
        self.assertLess(doc["positions_read"], 400, doc)
        self.assertIn("even an exact copy", doc["why"])
        self.assertIsInstance(doc["threshold_z"], float)

    def test_all_zero_model(self):
        doc = self.trace(self.p("pull-zeros-bob", "model.safetensors"), "acme/zeros")
        self.assertInsufficient(doc)
        self.assertEqual(doc["positions_read"], 0, doc)
        self.assertIn("no fingerprint position", doc["why"])
        self.assertIsNone(doc["threshold_z"], doc)
        # and a renamed all-zero copy: nothing to match by, still an answer
        t = [("x." + n, d, s, raw) for n, (d, s, raw) in
             read_st(self.p("pull-zeros-bob", "model.safetensors")).items()]
        self.assertInsufficient(self.trace(self.write("zeros-renamed", t), "acme/zeros"))

    def test_model_without_markable_tensors(self):
        doc = self.trace(self.p("pull-flat-bob", "model.safetensors"), "acme/flat")
        self.assertInsufficient(doc)
        self.assertIn("no tensor that carries a fingerprint", doc["why"])

    def test_unrelated_model_of_the_same_shapes(self):
        rng = random.Random(99)
        t = [(n, "BF16", s, random_bf16(rng, s[0] * s[1], self.table).tobytes())
             for n, s in SHAPES]
        doc = self.trace(self.write("unrelated", t))
        self.assertInsufficient(doc)
        self.assertEqual(len(doc["unread"]), len(SHAPES), doc)
        self.assertIn("matches its values", doc["unread"][0]["why"])

    def test_model_never_issued(self):
        doc = self.trace(os.path.join(self.p("src-unissued"), "model.safetensors"),
                         "acme/unissued")
        self.assertEqual(doc["accused"], [], doc)
        self.assertEqual(doc["recipients_scored"], 0, doc)
        self.assertEqual(doc["verdict"], "not_accused", doc)
        self.assertIn("never issued", doc["why"])

    def test_bad_copies_get_clear_answers(self):
        good = self.tensors_of("bob")
        # cut short: a 400 naming the file and what is wrong
        d = self.write("truncated", good)
        path = os.path.join(d, "model.safetensors")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        r = self.run_as("alice", "trace", d, "--model", "acme/m", "--json")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("model.safetensors", r.stderr)
        self.assertIn("truncated", r.stderr)
        self.assertIn("400", r.stderr)
        # no weights at all: the message has no empty folder name in it
        d = self.folder("config-only")
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write("{}")
        r = self.run_as("alice", "trace", d, "--model", "acme/m", "--json")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("the suspect copy: no safetensors or GGUF weights found", r.stderr)
        # the right shapes in a type trace cannot read: said per tensor
        doc = self.trace(self.write("int16", [(n, "I16", s, raw) for n, _, s, raw in good]))
        self.assertInsufficient(doc)
        self.assertEqual(len(doc["unread"]), len(SHAPES), doc)
        for u in doc["unread"]:
            self.assertIn("which trace cannot read", u["why"])
            self.assertIn("I16", u["why"])
        # every weight NaN
        doc = self.trace(self.write("nan", [(n, d_, s, b"\xc0\x7f" * (len(raw) // 2))
                                            for n, d_, s, raw in good]))
        self.assertInsufficient(doc)
        # random Q8_0 bytes under unknown names
        d = self.folder("random-q8")
        head, size = st.gguf_bytes([st.gguf_kv("general.architecture", "str", "llama")],
                                   [("zz.%d" % i, "Q8_0", s) for i, (_, s) in enumerate(SHAPES)])
        with open(os.path.join(d, "m.gguf"), "wb") as f:
            f.write(head + random.Random(2).randbytes(size - len(head)))
        self.assertInsufficient(self.trace(d))

    def test_human_report_says_why(self):
        r = self.run_as("alice", "trace", self.p("pull-zeros-bob", "model.safetensors"),
                        "--model", "acme/zeros")
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("too little to accuse anyone", r.stdout)
        self.assertIn("no fingerprint position", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
