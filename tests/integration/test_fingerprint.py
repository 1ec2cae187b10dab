# SPDX-License-Identifier: Apache-2.0
"""Fingerprinted gated downloads and `sluice trace` (issue 6), end to end:
a real server, a gated model of realistic bf16 weights (10.5 M eligible
elements), grantees who pull their copies, and traces of the copies after
the attacks a leaker would try: an exact copy, bf16 -> f32 -> bf16, an f32
copy, a resharded and renamed copy, +-1-ulp noise, a Q8_0 GGUF made here
with llama.cpp names, and the average of two recipients' copies. The right
recipients are accused with z >= 10 and nobody else; the original and a
member's (unmarked) copy accuse nobody. At most 0.1% of the weights change
and none by more than one step; range requests give the same bytes.
"""
import json
import math
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import unittest
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

ROWS, COLS = 2048, 1280
TENSORS = ["model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
           "model.layers.1.mlp.down_proj.weight", "model.layers.1.self_attn.o_proj.weight"]
GGUF_NAMES = {"model.layers.0.mlp.gate_proj.weight": "blk.0.ffn_gate.weight",
              "model.layers.0.mlp.up_proj.weight": "blk.0.ffn_up.weight",
              "model.layers.1.mlp.down_proj.weight": "blk.1.ffn_down.weight",
              "model.layers.1.self_attn.o_proj.weight": "blk.1.attn_output.weight"}
NORM = "model.norm.weight"
FACTS = {"training": {"tokens": 1e9}}


def bf16_table(rng, scale, heavy=False):
    """65,536 bf16 bit patterns drawn from N(0, scale) (or a Laplace law),
    to index with random 16-bit numbers."""
    out = array("H")
    for _ in range(65536):
        x = rng.gauss(0, scale) if not heavy else rng.choice((-1, 1)) * rng.expovariate(1 / scale)
        b = struct.unpack("<I", struct.pack("<f", x))[0]
        out.append(((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF)
    return out


def random_bf16(rng, n, table):
    idx = array("H", rng.randbytes(2 * n))
    return array("H", [table[i] for i in idx])


def bf16_to_f32(a):
    return array("f", struct.unpack("<%df" % len(a),
                                    array("I", [x << 16 for x in a]).tobytes()))


def f32_to_bf16(values):
    bits = array("I", array("f", values).tobytes())
    return array("H", [((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF for b in bits])


def write_st(path, tensors):
    """tensors: [(name, dtype, shape, raw bytes)]"""
    hdr, off = {}, 0
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, _, _, raw in tensors:
            f.write(raw)


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n])
    out = {}
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], data[8 + n + a:8 + n + b])
    return out


def q8_0_block_bytes(vals):
    """ggml's reference quantize_row_q8_0 for one block of 32 floats."""
    amax = max(abs(v) for v in vals)
    d = amax / 127.0
    dh = struct.unpack("<e", struct.pack("<e", d))[0]
    inv = 1.0 / d if d else 0.0
    qs = bytes((int(round(v * inv)) & 0xFF) for v in vals)
    return struct.pack("<e", dh) + qs


class Fingerprint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-fp-")
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
    def build(cls):
        srv = cls.srv
        srv.start()
        cls.tok = {}
        for who in ("alice", "bob", "carol", "dave", "mia"):
            cls.tok[who] = srv.add_user(who)
        srv.add_org("acme")
        srv.add_member("acme", "alice", "publisher")
        srv.add_member("acme", "mia", "member")
        rng = random.Random(6)
        normal = bf16_table(rng, 0.02)
        heavy = bf16_table(rng, 0.015, heavy=True)
        cls.orig = {}
        tensors = []
        for i, name in enumerate(TENSORS):
            a = random_bf16(rng, ROWS * COLS, heavy if i == 2 else normal)
            cls.orig[name] = a
            tensors.append((name, "BF16", [ROWS, COLS], a.tobytes()))
        norm = array("H", [0x3F80] * COLS)  # 1.0, a norm: never marked
        tensors.append((NORM, "BF16", [COLS], norm.tobytes()))
        cls.model = cls.p("model")
        os.makedirs(cls.model)
        write_st(os.path.join(cls.model, "model.safetensors"), tensors)
        with open(os.path.join(cls.model, "config.json"), "w") as f:
            json.dump({"model_type": "llama", "hidden_size": COLS}, f)
        facts = cls.p("facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        r = cls.run_as("alice", "push", "acme/m", cls.model, "--facts", facts, "--tier", "gated",
                       "--json")
        assert r.rc == 0, r
        for who in ("bob", "carol", "dave"):
            r = cls.run_as(who, "access", "request", "acme/m", "--purpose", "evaluation")
            assert r.rc == 0, r
            r = cls.run_as("alice", "access", "approve", "acme/m", who)
            assert r.rc == 0, r
        cls.copies = {}
        for who in ("bob", "carol", "mia"):
            dest = cls.p("pull-" + who)
            r = cls.run_as(who, "pull", "acme/m", "--dest", dest)
            assert r.rc == 0, r
            cls.copies[who] = read_st(os.path.join(dest, "model.safetensors"))

    def trace(self, *paths):
        r = self.run_as("alice", "trace", *paths, "--model", "acme/m", "--json")
        self.assertEqual(r.rc, 0, repr(r))
        doc = json.loads(r.stdout)
        self.assertGreater(doc["positions_read"], 0, doc)
        return doc

    def assertAccused(self, doc, who):
        got = sorted(a["user"] for a in doc["accused"])
        self.assertEqual(got, sorted(who), json.dumps(doc, indent=1)[:3000])
        for a in doc["accused"]:
            self.assertGreaterEqual(a["z"], 10, a)
            self.assertLess(a["fp_bound"], 1e-4, a)

    def folder(self, name):
        d = self.p(name)
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
        return d

    def copy_tensors(self, who, transform=None, dtype="BF16"):
        out = []
        for name in TENSORS:
            a = array("H", self.copies[who][name][2])
            raw = transform(a) if transform else a.tobytes()
            out.append((name, dtype, [ROWS, COLS], raw))
        return out

    # -- the marks themselves

    def test_copies_differ_by_at_most_one_step_in_few_places(self):
        total = changed = 0
        for name in TENSORS:
            a = self.orig[name]
            b = array("H", self.copies["bob"][name][2])
            self.assertEqual(len(a), len(b))
            for x, y in zip(a, b):
                if x != y:
                    changed += 1
                    self.assertEqual(x >> 15, y >> 15, "a mark flipped a sign")
                    self.assertLessEqual(abs((x & 0x7FFF) - (y & 0x7FFF)), 1, (x, y))
            total += len(a)
        self.assertGreater(changed, 0)
        self.assertLessEqual(changed / total, 0.001, (changed, total))
        # the norm and the config are untouched; mia (a member) has the original
        self.assertEqual(self.copies["bob"][NORM], read_st(
            os.path.join(self.model, "model.safetensors"))[NORM])
        for name in TENSORS:
            self.assertEqual(self.copies["mia"][name][2], self.orig[name].tobytes())
        self.assertNotEqual(self.copies["bob"][TENSORS[0]][2], self.copies["carol"][TENSORS[0]][2])

    def test_ranges_give_the_same_bytes(self):
        url = "/acme/m/resolve/main/model.safetensors"
        whole = self.srv.request("GET", url, token=self.tok["bob"])
        self.assertEqual(whole.status, 200)
        self.assertIn("X-Sluice-Fingerprint", whole.headers)
        size = len(whole.body)
        parts, at, rng = [], 0, random.Random(3)
        while at < size:
            n = min(size - at, rng.randint(1, 3 << 20))
            r = self.srv.request("GET", url, headers={"Range": "bytes=%d-%d" % (at, at + n - 1)},
                                 token=self.tok["bob"])
            self.assertEqual(r.status, 206, repr(r))
            parts.append(r.body)
            at += n
        self.assertEqual(b"".join(parts), whole.body)
        with open(os.path.join(self.p("pull-bob"), "model.safetensors"), "rb") as f:
            self.assertEqual(f.read(), whole.body)

    # -- traces

    def test_exact_copy(self):
        self.assertAccused(self.trace(self.p("pull-bob", "model.safetensors")), ["bob"])

    def test_payload_names_the_recipient(self):
        doc = self.trace(self.p("pull-carol", "model.safetensors"))
        self.assertIsNotNone(doc["payload_id"], doc)
        self.assertEqual([a["grant"] for a in doc["accused"]], [doc["payload_id"]])

    def test_original_and_member_copy_accuse_nobody(self):
        for path in (os.path.join(self.model, "model.safetensors"),
                     self.p("pull-mia", "model.safetensors")):
            doc = self.trace(path)
            self.assertEqual(doc["accused"], [], doc)
            self.assertIsNone(doc["payload_id"], doc)

    def test_bf16_f32_bf16_and_f32_copy(self):
        d = self.folder("roundtrip")
        write_st(os.path.join(d, "model.safetensors"),
                 self.copy_tensors("bob", lambda a: f32_to_bf16(bf16_to_f32(a)).tobytes()))
        self.assertAccused(self.trace(d), ["bob"])
        d = self.folder("as-f32")
        write_st(os.path.join(d, "model.safetensors"),
                 self.copy_tensors("bob", lambda a: bf16_to_f32(a).tobytes(), "F32"))
        self.assertAccused(self.trace(d), ["bob"])

    def test_resharded_and_renamed_files(self):
        d = self.folder("resharded")
        t = self.copy_tensors("carol")
        write_st(os.path.join(d, "model-00001-of-00002.safetensors"), [t[3], t[0]])
        write_st(os.path.join(d, "model-00002-of-00002.safetensors"), [t[2], t[1]])
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": {
                t[3][0]: "model-00001-of-00002.safetensors",
                t[0][0]: "model-00001-of-00002.safetensors",
                t[2][0]: "model-00002-of-00002.safetensors",
                t[1][0]: "model-00002-of-00002.safetensors"}}, f)
        self.assertAccused(self.trace(d), ["carol"])

    def test_one_ulp_noise(self):
        rng = random.Random(11)

        def noise(a):
            b = array("H", a)
            for i in rng.sample(range(len(b)), len(b) // 10):
                x = b[i]
                if 0 < (x & 0x7FFF) < 0x7F00:
                    b[i] = x + rng.choice((-1, 1))
            return b.tobytes()
        d = self.folder("noise")
        write_st(os.path.join(d, "model.safetensors"), self.copy_tensors("bob", noise))
        self.assertAccused(self.trace(d), ["bob"])

    def test_q8_0_gguf(self):
        d = self.folder("gguf")
        names = [GGUF_NAMES[n] for n in TENSORS]
        kvs = [st.gguf_kv("general.architecture", "str", "llama")]
        head, size = st.gguf_bytes(kvs, [(n, "Q8_0", [ROWS, COLS]) for n in names])
        data = bytearray()
        for name in TENSORS:
            vals = bf16_to_f32(array("H", self.copies["bob"][name][2]))
            blob = bytearray()
            for b in range(0, len(vals), 32):
                blob += q8_0_block_bytes(vals[b:b + 32])
            data += blob + b"\0" * (-len(blob) % 32)
        path = os.path.join(d, "model-Q8_0.gguf")
        with open(path, "wb") as f:
            f.write(head + bytes(data))
        self.assertEqual(os.path.getsize(path), size)
        doc = self.trace(path)
        self.assertTrue(doc["quantised_reference"], doc)
        self.assertAccused(doc, ["bob"])

    def test_average_of_two_copies(self):
        def avg(name):
            a = bf16_to_f32(array("H", self.copies["bob"][name][2]))
            b = bf16_to_f32(array("H", self.copies["carol"][name][2]))
            return f32_to_bf16([(x + y) / 2 for x, y in zip(a, b)]).tobytes()
        d = self.folder("average")
        write_st(os.path.join(d, "model.safetensors"),
                 [(n, "BF16", [ROWS, COLS], avg(n)) for n in TENSORS])
        doc = self.trace(d)
        self.assertAccused(doc, ["bob", "carol"])

    def test_trace_is_for_publishers_and_checks_its_input(self):
        r = self.run_as("bob", "trace", self.p("pull-bob", "model.safetensors"), "--model",
                        "acme/m")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("publisher", r.stderr)
        # A large file too: the refusal must reach the client, not a broken
        # pipe. The server refuses on the headers and closes; `sluice trace`
        # sends "Expect: 100-continue" so no byte of the body is in flight
        # then (a make test run once lost the answer to that race; it does
        # not reproduce on demand, so this checks the answer, not the race).
        big = self.p("big-bob.safetensors")
        write_st(big, [("model.layers.0.mlp.down_proj.weight", "BF16", [2048, 4096],
                        bytes(2048 * 4096 * 2))])
        r = self.run_as("bob", "trace", big, "--model", "acme/m")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("publisher", r.stderr)
        os.unlink(big)
        bad = self.p("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
        r = self.run_as("alice", "trace", bad, "--model", "acme/m")
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("bad.safetensors", r.stderr)
        self.assertNotIn("trace-", r.stderr)  # no server paths in messages
        # nothing left behind on the server (it removes the upload when the
        # request ends, which may be just after the answer reached the CLI)
        left = None
        for _ in range(50):
            left = [n for n in os.listdir(os.path.join(self.srv.data, "packs", "tmp"))
                    if n.startswith("trace-")]
            if not left:
                break
            time.sleep(0.1)
        self.assertEqual(left, [])

    def test_grant_log_entry_commits_to_the_key(self):
        r = self.srv.request("GET", "/api/v1/log/entries?start=0&end=1000")
        entries = [e["entry"] for e in r.json()]
        approvals = [e for e in entries if e["type"] == "access.approved"]
        self.assertEqual(len(approvals), 3)
        keys = {e["fingerprint_key_sha256"] for e in approvals}
        self.assertEqual(len(keys), 3)
        for k in keys:
            self.assertEqual(len(k), 64)


if __name__ == "__main__":
    unittest.main(verbosity=2)
