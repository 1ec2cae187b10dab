# SPDX-License-Identifier: Apache-2.0
"""`sluice inspect` counts the parameters of real model shapes exactly.

For every row of tests/data/model-shapes.tsv the test rebuilds the model's
tensor list in Hugging Face naming (PyTorch [out, in] order), writes it as a
header-only sparse safetensors folder with a config.json, and checks that
`sluice inspect DIR --json` reports the TSV's total and active parameter
counts exactly, plus the architecture and the tensor count.

Extra shapes of the same data:
  - Llama-3-8B as 4 shards + model.safetensors.index.json,
  - TinyLlama-1.1B as a hand-written GGUF v3 file (llama.cpp tensor names),
  - GPT-2 with its 12 h.N.attn.bias causal-mask buffers, which are stored in
    the checkpoint but are not parameters.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluicetest as st  # noqa: E402

ROWS = {r["model"]: r for r in st.read_tsv("model-shapes.tsv")}


def ival(row, key):
    return int(row[key])


def llama_tensors(row, dtype="BF16"):
    """Tensor list of the llama family (llama, mistral, gemma, qwen2)."""
    V, H, L = ival(row, "vocab_size"), ival(row, "hidden_size"), ival(row, "num_hidden_layers")
    nh, nkv, hd = (ival(row, "num_attention_heads"), ival(row, "num_key_value_heads"),
                   ival(row, "head_dim"))
    inter = ival(row, "intermediate_size")
    tied = row["tie_word_embeddings"] == "true"
    qkv_bias = row["qkv_bias"] == "true"
    t = [("model.embed_tokens.weight", dtype, [V, H])]
    for l in range(L):
        p = "model.layers.%d." % l
        t += [
            (p + "input_layernorm.weight", dtype, [H]),
            (p + "post_attention_layernorm.weight", dtype, [H]),
            (p + "self_attn.q_proj.weight", dtype, [nh * hd, H]),
            (p + "self_attn.k_proj.weight", dtype, [nkv * hd, H]),
            (p + "self_attn.v_proj.weight", dtype, [nkv * hd, H]),
            (p + "self_attn.o_proj.weight", dtype, [H, nh * hd]),
            (p + "mlp.gate_proj.weight", dtype, [inter, H]),
            (p + "mlp.up_proj.weight", dtype, [inter, H]),
            (p + "mlp.down_proj.weight", dtype, [H, inter]),
        ]
        if qkv_bias:
            t += [
                (p + "self_attn.q_proj.bias", dtype, [nh * hd]),
                (p + "self_attn.k_proj.bias", dtype, [nkv * hd]),
                (p + "self_attn.v_proj.bias", dtype, [nkv * hd]),
            ]
    t.append(("model.norm.weight", dtype, [H]))
    if not tied:
        t.append(("lm_head.weight", dtype, [V, H]))
    return t


def gpt2_tensors(row):
    """GPT-2 (Conv1D stores [in, out]) with the causal-mask buffers."""
    V, H, L = ival(row, "vocab_size"), ival(row, "hidden_size"), ival(row, "num_hidden_layers")
    ff = ival(row, "intermediate_size")
    n_ctx = 1024
    d = "BF16"
    t = [("wte.weight", d, [V, H]), ("wpe.weight", d, [n_ctx, H])]
    for i in range(L):
        p = "h.%d." % i
        t += [
            (p + "ln_1.weight", d, [H]), (p + "ln_1.bias", d, [H]),
            (p + "attn.bias", d, [1, 1, n_ctx, n_ctx]),  # causal mask buffer
            (p + "attn.c_attn.weight", d, [H, 3 * H]), (p + "attn.c_attn.bias", d, [3 * H]),
            (p + "attn.c_proj.weight", d, [H, H]), (p + "attn.c_proj.bias", d, [H]),
            (p + "ln_2.weight", d, [H]), (p + "ln_2.bias", d, [H]),
            (p + "mlp.c_fc.weight", d, [H, ff]), (p + "mlp.c_fc.bias", d, [ff]),
            (p + "mlp.c_proj.weight", d, [ff, H]), (p + "mlp.c_proj.bias", d, [H]),
        ]
    t += [("ln_f.weight", d, [H]), ("ln_f.bias", d, [H])]
    return t


def gpt_oss_tensors(row):
    """gpt-oss: attention with biases and sinks, a router, and the experts
    stored as MXFP4 (U8 blocks of 16 bytes = 32 values, U8 scales)."""
    V, H, L = ival(row, "vocab_size"), ival(row, "hidden_size"), ival(row, "num_hidden_layers")
    nh, nkv, hd = (ival(row, "num_attention_heads"), ival(row, "num_key_value_heads"),
                   ival(row, "head_dim"))
    inter, E = ival(row, "intermediate_size"), ival(row, "num_experts")
    b = "BF16"
    t = [("model.embed_tokens.weight", b, [V, H]), ("lm_head.weight", b, [V, H]),
         ("model.norm.weight", b, [H])]
    for l in range(L):
        p = "model.layers.%d." % l
        t += [
            (p + "input_layernorm.weight", b, [H]),
            (p + "post_attention_layernorm.weight", b, [H]),
            (p + "self_attn.q_proj.weight", b, [nh * hd, H]), (p + "self_attn.q_proj.bias", b, [nh * hd]),
            (p + "self_attn.k_proj.weight", b, [nkv * hd, H]), (p + "self_attn.k_proj.bias", b, [nkv * hd]),
            (p + "self_attn.v_proj.weight", b, [nkv * hd, H]), (p + "self_attn.v_proj.bias", b, [nkv * hd]),
            (p + "self_attn.o_proj.weight", b, [H, nh * hd]), (p + "self_attn.o_proj.bias", b, [H]),
            (p + "self_attn.sinks", b, [nh]),
            (p + "mlp.router.weight", b, [E, H]), (p + "mlp.router.bias", b, [E]),
            (p + "mlp.experts.gate_up_proj_blocks", "U8", [E, 2 * inter, H // 32, 16]),
            (p + "mlp.experts.gate_up_proj_scales", "U8", [E, 2 * inter, H // 32]),
            (p + "mlp.experts.gate_up_proj_bias", b, [E, 2 * inter]),
            (p + "mlp.experts.down_proj_blocks", "U8", [E, H, inter // 32, 16]),
            (p + "mlp.experts.down_proj_scales", "U8", [E, H, inter // 32]),
            (p + "mlp.experts.down_proj_bias", b, [E, H]),
        ]
    return t


def tensors_for(row):
    fam = row["tensor_family"]
    if fam == "gpt2":
        return gpt2_tensors(row)
    if fam == "gpt-oss":
        return gpt_oss_tensors(row)
    return llama_tensors(row)


def config_for(row):
    fam = row["tensor_family"]
    cfg = {
        "model_type": {"gpt2": "gpt2", "gpt-oss": "gpt_oss", "qwen2": "qwen2"}.get(fam, "llama"),
        "num_hidden_layers": ival(row, "num_hidden_layers"),
        "hidden_size": ival(row, "hidden_size"),
        "vocab_size": ival(row, "vocab_size"),
        "tie_word_embeddings": row["tie_word_embeddings"] == "true",
    }
    if ival(row, "num_experts"):
        cfg["num_local_experts"] = ival(row, "num_experts")
        # gpt-oss's config.json spells it experts_per_token
        cfg["experts_per_token"] = ival(row, "experts_per_token")
    return cfg


def own_count(tensors):
    """The test's own parameter count of TENSORS (a self-check of the tensor
    lists against the TSV, so a wrong list is not mistaken for a sluice bug):
    4-D attn.bias are buffers, *_scales bookkeeping, U8 *_blocks hold 2 values
    per byte."""
    total = buffers = quant = 0
    for name, dtype, shape in tensors:
        n = st.numel(shape)
        if name.endswith("attn.bias") and len(shape) == 4:
            buffers += n
        elif name.endswith("_scales"):
            quant += n
        elif dtype == "U8" and name.endswith("_blocks"):
            total += 2 * n
        else:
            total += n
    return total, buffers, quant


class ModelShapes(st.TempDirTestCase):

    def inspect(self, *paths):
        return st.run_json(self, "inspect", *paths, "--json")

    def write_model(self, row, tensors):
        d = self.mkdir(row["model"].replace("/", "_").replace(" ", "_"))
        st.write_safetensors(os.path.join(d, "model.safetensors"), tensors)
        st.write_config(d, config_for(row))
        return d

    def check_common(self, row, rep, tensors):
        total = ival(row, "total_params_computed")
        active = ival(row, "active_params_computed")
        self.assertEqual(rep["params_total"], total)
        self.assertEqual(rep["params_active"], active)
        arch = rep["architecture"]
        self.assertEqual(arch["layers"], ival(row, "num_hidden_layers"))
        self.assertEqual(arch["hidden_size"], ival(row, "hidden_size"))
        self.assertEqual(arch["vocab_size"], ival(row, "vocab_size"))
        self.assertEqual(arch["tied_embeddings"], row["tie_word_embeddings"] == "true")
        self.assertEqual(rep["tensor_count"], len(tensors))
        self.assertEqual(rep["header_elements"], sum(st.numel(s) for _, _, s in tensors))
        self.assertEqual(sum(rep["params_by_dtype"].values()), total)

    def test_self_check_tensor_lists(self):
        """The tensor lists reproduce the TSV's computed totals."""
        self.assertEqual(len(ROWS), 8, "model-shapes.tsv changed: update this test")
        for name, row in ROWS.items():
            with self.subTest(model=name):
                total, _, _ = own_count(tensors_for(row))
                self.assertEqual(total, ival(row, "total_params_computed"))

    def test_every_row_single_file(self):
        self.assertEqual(len(ROWS), 8, "model-shapes.tsv changed: update this test")
        for name, row in ROWS.items():
            with self.subTest(model=name):
                tensors = tensors_for(row)
                d = self.write_model(row, tensors)
                rep = self.inspect(d)
                self.check_common(row, rep, tensors)
                self.assertEqual(rep["format"], "safetensors")
                self.assertFalse(rep["sharded"])
                self.assertEqual(rep["warnings"], [])
                E = ival(row, "num_experts")
                self.assertEqual(rep["architecture"]["experts"], E)
                if E:
                    self.assertEqual(rep["architecture"]["experts_per_token"],
                                     ival(row, "experts_per_token"))

    def test_gpt2_buffers_are_not_parameters(self):
        row = ROWS["GPT-2 (124M)"]
        tensors = gpt2_tensors(row)
        rep = self.inspect(self.write_model(row, tensors))
        self.assertEqual(rep["header_elements"], 137022720)
        self.assertEqual(rep["params_total"], 124439808)
        self.assertEqual(rep["excluded"]["buffer_elements"], 137022720 - 124439808)
        self.assertEqual(rep["excluded"]["buffer_elements"], 12 * 1024 * 1024)
        self.assertEqual(rep["excluded"]["quantization_elements"], 0)
        self.assertEqual(rep["params_by_dtype"], {"BF16": 124439808})
        self.assertEqual(rep["data_bytes"], 2 * 137022720)
        self.assertEqual(rep["architecture"]["type"], "gpt2")
        # the per-tensor listing gives the mask the role "buffer"
        rep = st.run_json(self, "inspect", self.path("GPT-2_(124M)"), "--json", "--tensors")
        roles = {t["name"]: (t["role"], t["params"]) for t in rep["tensors"]}
        self.assertEqual(roles["h.0.attn.bias"], ("buffer", 0))
        self.assertEqual(roles["h.0.attn.c_attn.bias"], ("param", 2304))
        self.assertEqual(roles["wte.weight"], ("param", 50257 * 768))

    def test_gpt_oss_mxfp4(self):
        row = ROWS["gpt-oss-20b"]
        tensors = gpt_oss_tensors(row)
        rep = self.inspect(self.write_model(row, tensors))
        self.assertEqual(rep["params_total"], 20914757184)
        self.assertEqual(rep["params_active"], 4187440704)
        _, _, quant = own_count(tensors)
        self.assertEqual(rep["excluded"]["quantization_elements"], quant)
        self.assertEqual(rep["excluded"]["buffer_elements"], 0)
        blocks = sum(2 * st.numel(s) for n, d, s in tensors if n.endswith("_blocks"))
        self.assertEqual(rep["params_by_dtype"], {"U8": blocks, "BF16": 20914757184 - blocks})
        self.assertEqual(rep["architecture"]["experts"], 32)
        self.assertEqual(rep["architecture"]["experts_per_token"], 4)
        self.assertEqual(rep["architecture"]["type"], "gpt_oss")

    def test_mixtral_per_expert_tensors(self):
        """Routed experts stored one tensor per expert (Mixtral naming), k from
        config.json num_experts_per_tok. Not a TSV row: Mixtral-8x7B-v0.1's
        published count is 46,702,792,704 parameters, 12,879,925,248 active
        (2 of 8 experts)."""
        V, H, L, nh, nkv, hd, inter, E = 32000, 4096, 32, 32, 8, 128, 14336, 8
        b = "BF16"
        t = [("model.embed_tokens.weight", b, [V, H])]
        for l in range(L):
            p = "model.layers.%d." % l
            t += [(p + "input_layernorm.weight", b, [H]),
                  (p + "post_attention_layernorm.weight", b, [H]),
                  (p + "self_attn.q_proj.weight", b, [nh * hd, H]),
                  (p + "self_attn.k_proj.weight", b, [nkv * hd, H]),
                  (p + "self_attn.v_proj.weight", b, [nkv * hd, H]),
                  (p + "self_attn.o_proj.weight", b, [H, nh * hd]),
                  (p + "block_sparse_moe.gate.weight", b, [E, H])]
            for e in range(E):
                q = p + "block_sparse_moe.experts.%d." % e
                t += [(q + "w1.weight", b, [inter, H]), (q + "w2.weight", b, [H, inter]),
                      (q + "w3.weight", b, [inter, H])]
        t += [("model.norm.weight", b, [H]), ("lm_head.weight", b, [V, H])]
        d = self.mkdir("mixtral")
        st.write_safetensors(os.path.join(d, "model.safetensors"), t)
        st.write_config(d, {"model_type": "mixtral", "num_hidden_layers": L, "hidden_size": H,
                            "vocab_size": V, "tie_word_embeddings": False,
                            "num_local_experts": E, "num_experts_per_tok": 2})
        rep = self.inspect(d)
        self.assertEqual(rep["params_total"], 46702792704)
        self.assertEqual(rep["params_active"], 12879925248)
        self.assertEqual(rep["architecture"]["experts"], 8)
        self.assertEqual(rep["architecture"]["experts_per_token"], 2)
        self.assertEqual(rep["tensor_count"], len(t))

    def test_gpt_oss_without_experts_per_token(self):
        """A mixture of experts whose config does not say k: active unknown, said so."""
        row = ROWS["gpt-oss-20b"]
        d = self.write_model(row, gpt_oss_tensors(row))
        cfg = config_for(row)
        del cfg["experts_per_token"]
        st.write_config(d, cfg)
        rep = self.inspect(d)
        self.assertEqual(rep["params_total"], 20914757184)
        self.assertIsNone(rep["params_active"])
        self.assertIn("experts per token is unknown", rep["note"])

    def test_llama3_8b_sharded(self):
        row = ROWS["Llama-3-8B / Llama-3.1-8B"]
        tensors = llama_tensors(row)
        d = self.mkdir("llama3-sharded")
        total_size = st.write_sharded(d, tensors, 4)
        st.write_config(d, config_for(row))
        self.assertEqual(sorted(os.listdir(d)), [
            "config.json", "model-00001-of-00004.safetensors",
            "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors",
            "model-00004-of-00004.safetensors", "model.safetensors.index.json"])
        rep = self.inspect(d)
        self.check_common(row, rep, tensors)
        self.assertTrue(rep["sharded"])
        self.assertEqual(len(rep["files"]), 4)
        self.assertEqual([os.path.basename(f["path"]) for f in rep["files"]],
                         ["model-%05d-of-00004.safetensors" % k for k in (1, 2, 3, 4)])
        self.assertEqual(sum(f["tensors"] for f in rep["files"]), len(tensors))
        self.assertEqual(rep["index_total_size"], total_size)
        self.assertEqual(rep["data_bytes"], total_size)
        self.assertEqual(rep["data_bytes"], 2 * 8030261248)
        self.assertEqual(rep["warnings"], [])
        # Naming the shards on the command line (no index) gives the same count.
        shards = [os.path.join(d, "model-%05d-of-00004.safetensors" % k) for k in (1, 2, 3, 4)]
        rep2 = self.inspect(*shards)
        self.assertEqual(rep2["params_total"], 8030261248)
        self.assertEqual(rep2["tensor_count"], len(tensors))

    def test_tinyllama_gguf(self):
        row = ROWS["TinyLlama-1.1B"]
        V, H, L = ival(row, "vocab_size"), ival(row, "hidden_size"), ival(row, "num_hidden_layers")
        nh, nkv, hd = (ival(row, "num_attention_heads"), ival(row, "num_key_value_heads"),
                       ival(row, "head_dim"))
        inter = ival(row, "intermediate_size")
        # llama.cpp names; shapes in PyTorch order, written reversed (ggml ne order)
        t = [("token_embd.weight", "F16", [V, H])]
        for l in range(L):
            p = "blk.%d." % l
            t += [
                (p + "attn_norm.weight", "F32", [H]),
                (p + "attn_q.weight", "F16", [nh * hd, H]),
                (p + "attn_k.weight", "F16", [nkv * hd, H]),
                (p + "attn_v.weight", "F16", [nkv * hd, H]),
                (p + "attn_output.weight", "F16", [H, nh * hd]),
                (p + "ffn_norm.weight", "F32", [H]),
                (p + "ffn_gate.weight", "F16", [inter, H]),
                (p + "ffn_up.weight", "F16", [inter, H]),
                (p + "ffn_down.weight", "F16", [H, inter]),
            ]
        t += [("output_norm.weight", "F32", [H]), ("output.weight", "F16", [V, H])]
        kvs = [
            st.gguf_kv("general.architecture", "str", "llama"),
            st.gguf_kv("general.name", "str", "TinyLlama-1.1B"),
            st.gguf_kv("general.alignment", "u32", 32),
            st.gguf_kv("general.file_type", "u32", 1),
            st.gguf_kv("llama.context_length", "u32", 2048),
            st.gguf_kv("llama.embedding_length", "u32", H),
            st.gguf_kv("llama.block_count", "u32", L),
            st.gguf_kv("llama.feed_forward_length", "u32", inter),
            st.gguf_kv("llama.attention.head_count", "u32", nh),
            st.gguf_kv("llama.attention.head_count_kv", "u32", nkv),
            st.gguf_kv("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5),
            st.gguf_kv("tokenizer.ggml.model", "str", "llama"),
        ]
        path = self.path("tinyllama-1.1b-f16.gguf")
        size = st.write_gguf(path, kvs, t, alignment=32)
        rep = self.inspect(path)
        total = ival(row, "total_params_computed")
        self.assertEqual(rep["format"], "gguf")
        self.assertEqual(rep["params_total"], total)
        self.assertEqual(rep["params_active"], ival(row, "active_params_computed"))
        self.assertEqual(rep["tensor_count"], len(t))
        self.assertEqual(rep["architecture"]["type"], "llama")
        self.assertEqual(rep["architecture"]["layers"], L)
        self.assertEqual(rep["architecture"]["hidden_size"], H)
        self.assertEqual(rep["architecture"]["vocab_size"], V)
        self.assertEqual(rep["architecture"]["tied_embeddings"], False)
        norms = (2 * L + 1) * H
        self.assertEqual(sum(rep["params_by_dtype"].values()), total)
        self.assertEqual(sorted(rep["params_by_dtype"].values()), sorted([norms, total - norms]))
        self.assertEqual(rep["files"][0]["size"], size)
        self.assertEqual(rep["files"][0]["data_start"] % 32, 0)
        # The same file inside a folder gives the same count.
        d = self.mkdir("gguf-folder")
        os.rename(path, os.path.join(d, "tinyllama-1.1b-f16.gguf"))
        self.assertEqual(self.inspect(d)["params_total"], total)


if __name__ == "__main__":
    st.main()
