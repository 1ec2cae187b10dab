#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a header-only model folder with real shapes, for trying sluice without
downloading weights. The tensor data is a sparse hole (reads as zeros), so a
16 GB model takes a few kilobytes of disk.

With --random the data is random bf16 values instead (magnitudes 2^-7 to
2^-5, either sign, all finite), written in full: a model to push, pull and
trace, since a fingerprint needs values to mark (an all-zero model has none
a trace could read). tiny-llama is about 90 MB so.

usage: make-sparse-model.py DIR [llama-3-8b|mixtral-8x7b|tiny-llama] [--shards N] [--random]
"""
import json
import os
import struct
import sys

SHAPES = {
    # name: (vocab, hidden, layers, heads, kv_heads, head_dim, intermediate, experts, k, tied)
    "llama-3-8b": (128256, 4096, 32, 32, 8, 128, 14336, 0, 0, False),
    "tiny-llama": (32000, 512, 4, 8, 4, 64, 1536, 0, 0, False),
    "mixtral-8x7b": (32000, 4096, 32, 32, 8, 128, 14336, 8, 2, False),
}


def tensors(spec):
    v, h, layers, nh, nkv, hd, inter, experts, _, tied = spec
    out = [("model.embed_tokens.weight", [v, h])]
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", [h]), (p + "post_attention_layernorm.weight", [h]),
                (p + "self_attn.q_proj.weight", [nh * hd, h]),
                (p + "self_attn.k_proj.weight", [nkv * hd, h]),
                (p + "self_attn.v_proj.weight", [nkv * hd, h]),
                (p + "self_attn.o_proj.weight", [h, nh * hd])]
        if experts:
            out.append((p + "block_sparse_moe.gate.weight", [experts, h]))
            for e in range(experts):
                q = p + f"block_sparse_moe.experts.{e}."
                out += [(q + "w1.weight", [inter, h]), (q + "w3.weight", [inter, h]),
                        (q + "w2.weight", [h, inter])]
        else:
            out += [(p + "mlp.gate_proj.weight", [inter, h]), (p + "mlp.up_proj.weight", [inter, h]),
                    (p + "mlp.down_proj.weight", [h, inter])]
    out.append(("model.norm.weight", [h]))
    if not tied:
        out.append(("lm_head.weight", [v, h]))
    return out


# bf16, little-endian: the low byte is the exponent's last bit and the
# mantissa (any value), the high byte the sign and the exponent's other 7
# bits, fixed at 0x3C (exponent 120 or 121): values of 2^-7 to 2^-5.
HIGH = bytes((b & 0x80) | 0x3C for b in range(256))


def write_random(f, nbytes):
    block = 1 << 22
    while nbytes > 0:
        n = min(block, nbytes) // 2
        buf = bytearray(2 * n)
        buf[0::2] = os.urandom(n)
        buf[1::2] = os.urandom(n).translate(HIGH)
        f.write(buf)
        nbytes -= 2 * n


def write_shard(path, items, random_data=False):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in items:
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        if random_data:
            write_random(f, off)
        else:
            f.truncate(8 + len(text) + off)
    return off


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rnd = "--random" in sys.argv
    shards = 1
    if "--shards" in sys.argv:
        shards = int(sys.argv[sys.argv.index("--shards") + 1])
        args = [a for a in args if a != str(shards)]
    if not args:
        sys.exit(__doc__)
    out, kind = args[0], (args[1] if len(args) > 1 else "llama-3-8b")
    spec = SHAPES[kind]
    os.makedirs(out, exist_ok=True)
    items = tensors(spec)
    v, h, layers, nh, nkv, hd, inter, experts, k, tied = spec
    config = {"model_type": "mixtral" if experts else "llama", "num_hidden_layers": layers,
              "hidden_size": h, "vocab_size": v, "tie_word_embeddings": tied}
    if experts:
        config.update(num_local_experts=experts, num_experts_per_tok=k)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if shards == 1:
        write_shard(os.path.join(out, "model.safetensors"), items, rnd)
        return
    per = (len(items) + shards - 1) // shards
    weight_map, total = {}, 0
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = items[s * per:(s + 1) * per]
        total += write_shard(os.path.join(out, name), part, rnd)
        weight_map.update({t: name for t, _ in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)


if __name__ == "__main__":
    main()
