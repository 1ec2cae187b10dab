# SPDX-License-Identifier: Apache-2.0
"""Writes a tiny, valid llama-architecture GGUF v3 that llama.cpp loads:
random F32 weights (2 blocks, 64-wide, 4 heads), and a SentencePiece-style
("llama") vocabulary of control tokens, the 256 byte-fallback tokens and a
few letters and words, with the tokenizer metadata llama.cpp requires. The
text it generates is gibberish; it exists so the tests run a real engine
without downloading a model (issue 15).

    python3 make_gguf.py OUT.gguf [--seed N]
    make_gguf.write(path, seed=1) -> (n_vocab, size in bytes)
"""
import array
import random
import struct
import sys

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 4
N_LAYER = 2
N_FF = 128
N_CTX = 512
ALIGN = 32

WORDS = ["the", "and", "model", "hello", "world", "sluice", "token", "gate"]


def vocab():
    """(tokens, scores, types): SentencePiece order, <unk> <s> </s>, the
    bytes, then pieces, '▁' standing for a space as SentencePiece writes it."""
    toks = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    toks += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    pieces = ["\u2581"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces += [chr(c) for c in range(ord("A"), ord("Z") + 1)] + list(".,!?0123456789")
    pieces += ["\u2581" + w for w in WORDS]
    for i, p in enumerate(pieces):
        toks.append((p, -float(i + 1), 1))
    return toks


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _kv(key, vtype, value):
    out = _str(key)
    if vtype == "u32":
        return out + struct.pack("<II", 4, value)
    if vtype == "f32":
        return out + struct.pack("<If", 6, value)
    if vtype == "str":
        return out + struct.pack("<I", 8) + _str(value)
    if vtype == "arr_str":
        return out + struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_str(v) for v in value)
    if vtype == "arr_f32":
        return out + struct.pack("<IIQ", 9, 6, len(value)) + struct.pack(
            "<%df" % len(value), *value)
    if vtype == "arr_i32":
        return out + struct.pack("<IIQ", 9, 5, len(value)) + struct.pack(
            "<%di" % len(value), *value)
    raise ValueError(vtype)


def tensors(n_vocab):
    """(name, ne) with ggml's order: ne[0] is the innermost dimension."""
    kv = N_EMBD // N_HEAD * N_HEAD_KV
    out = [("token_embd.weight", [N_EMBD, n_vocab]), ("output_norm.weight", [N_EMBD]),
           ("output.weight", [N_EMBD, n_vocab])]
    for i in range(N_LAYER):
        b = "blk.%d." % i
        out += [(b + "attn_norm.weight", [N_EMBD]), (b + "attn_q.weight", [N_EMBD, N_EMBD]),
                (b + "attn_k.weight", [N_EMBD, kv]), (b + "attn_v.weight", [N_EMBD, kv]),
                (b + "attn_output.weight", [N_EMBD, N_EMBD]), (b + "ffn_norm.weight", [N_EMBD]),
                (b + "ffn_gate.weight", [N_EMBD, N_FF]), (b + "ffn_down.weight", [N_FF, N_EMBD]),
                (b + "ffn_up.weight", [N_EMBD, N_FF])]
    return out


def write(path, seed=1):
    rng = random.Random(seed)
    toks = vocab()
    n_vocab = len(toks)
    kvs = [
        _kv("general.architecture", "str", "llama"),
        _kv("general.name", "str", "sluice-tiny-llama"),
        _kv("general.alignment", "u32", ALIGN),
        _kv("general.file_type", "u32", 0),
        _kv("llama.context_length", "u32", N_CTX),
        _kv("llama.embedding_length", "u32", N_EMBD),
        _kv("llama.block_count", "u32", N_LAYER),
        _kv("llama.feed_forward_length", "u32", N_FF),
        _kv("llama.attention.head_count", "u32", N_HEAD),
        _kv("llama.attention.head_count_kv", "u32", N_HEAD_KV),
        _kv("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5),
        _kv("llama.rope.dimension_count", "u32", N_EMBD // N_HEAD),
        _kv("llama.vocab_size", "u32", n_vocab),
        _kv("tokenizer.ggml.model", "str", "llama"),
        _kv("tokenizer.ggml.tokens", "arr_str", [t[0] for t in toks]),
        _kv("tokenizer.ggml.scores", "arr_f32", [t[1] for t in toks]),
        _kv("tokenizer.ggml.token_type", "arr_i32", [t[2] for t in toks]),
        _kv("tokenizer.ggml.unknown_token_id", "u32", 0),
        _kv("tokenizer.ggml.bos_token_id", "u32", 1),
        _kv("tokenizer.ggml.eos_token_id", "u32", 2),
    ]
    infos = b""
    blobs = []
    off = 0
    for name, ne in tensors(n_vocab):
        n = 1
        for d in ne:
            n *= d
        if name.endswith("norm.weight"):
            data = array.array("f", [1.0] * n)
        else:
            data = array.array("f", (rng.gauss(0.0, 0.2) for _ in range(n)))
        if sys.byteorder != "little":
            data.byteswap()
        raw = data.tobytes()
        infos += _str(name) + struct.pack("<I", len(ne)) + b"".join(
            struct.pack("<Q", d) for d in ne) + struct.pack("<IQ", 0, off)
        pad = -len(raw) % ALIGN
        blobs.append(raw + b"\0" * pad)
        off += len(raw) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(blobs), len(kvs)) + b"".join(kvs) + infos
    head += b"\0" * (-len(head) % ALIGN)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
    return n_vocab, len(head) + off


if __name__ == "__main__":
    args = sys.argv[1:]
    seed = 1
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit("usage: make_gguf.py OUT.gguf [--seed N]")
    n, size = write(args[0], seed)
    print("%s: %d tokens, %d bytes" % (args[0], n, size))
