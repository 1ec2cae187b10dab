# SPDX-License-Identifier: Apache-2.0
"""Hostile and broken input through the CLI.

Every bad file must end in exit code 2 with exactly one line on stderr,
"sluice: error: ...", naming the file and where the problem is (a byte
position, the field or the tensor); nothing on stdout; and never a crash
(a negative return code is a signal). Missing files are exit 3, bad usage
exit 2.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluicetest as st  # noqa: E402

GOOD = [("a.weight", "F32", [4, 4]), ("b.weight", "F32", [4])]


class BadInputBase(st.TempDirTestCase):

    def assertOneLineError(self, r, names=(), needs=(), code=2):
        """R failed with CODE and one "sluice: error:" line that contains every
        string of NAMES and at least one of NEEDS."""
        self.assertGreaterEqual(r.rc, 0, "crashed (signal %d): %r" % (-r.rc, r))
        self.assertEqual(r.rc, code, repr(r))
        self.assertEqual(r.stdout, "", repr(r))
        self.assertTrue(r.stderr.endswith("\n"), repr(r))
        line = r.stderr[:-1]
        self.assertNotIn("\n", line, "more than one line on stderr: %r" % r.stderr)
        self.assertTrue(line.startswith("sluice: error: "), repr(r))
        for n in names:
            self.assertIn(n, line)
        if needs:
            self.assertTrue(any(n in line for n in needs),
                            "none of %r in %r" % (needs, line))
        return line

    def assertBadWeights(self, path, needs=(), also_classify=True):
        """PATH is refused by inspect (and by classify PATH) the same way."""
        name = os.path.basename(path)
        r = st.run("inspect", path, "--json")
        self.assertOneLineError(r, [name], needs)
        r = st.run("inspect", path)
        self.assertOneLineError(r, [name], needs)
        if also_classify:
            r = st.run("classify", path, "--tokens", "1e12", "--as-of", "2026-06-01", "--json")
            self.assertOneLineError(r, [name], needs)

    def raw_st(self, name, header, data_bytes, length=None):
        raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
        p = self.path(name)
        st.write_raw_safetensors(p, raw, data_bytes, length)
        return p


class BadSafetensors(BadInputBase):

    def good_header(self):
        hdr, data = st.st_header(GOOD)
        raw = json.dumps(hdr).encode()
        return raw + b" " * (-len(raw) % 8), data

    def test_good_file_is_accepted(self):
        p = self.path("good.safetensors")
        st.write_safetensors(p, GOOD)
        rep = st.run_json(self, "inspect", p, "--json")
        self.assertEqual(rep["params_total"], 20)

    def test_truncated_inside_header(self):
        raw, data = self.good_header()
        p = self.raw_st("cut-in-header.safetensors", raw, data)
        os.truncate(p, 8 + len(raw) // 2)
        self.assertBadWeights(p, ["byte"])

    def test_truncated_inside_data(self):
        raw, data = self.good_header()
        p = self.raw_st("cut-in-data.safetensors", raw, data)
        os.truncate(p, 8 + len(raw) + data - 5)
        self.assertBadWeights(p, ["byte"])

    def test_trailing_bytes(self):
        raw, data = self.good_header()
        p = self.raw_st("trailing.safetensors", raw, data + 3)
        self.assertBadWeights(p, ["byte"])

    def test_header_length_2_63(self):
        raw, data = self.good_header()
        p = self.raw_st("hdr-2-63.safetensors", raw, data, length=2 ** 63)
        self.assertBadWeights(p, ["byte"])

    def test_header_length_all_ones(self):
        raw, data = self.good_header()
        p = self.raw_st("hdr-ffff.safetensors", raw, data, length=2 ** 64 - 1)
        self.assertBadWeights(p, ["byte"])

    def test_offsets_past_the_end(self):
        hdr = {"a.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
               "b.weight": {"dtype": "F32", "shape": [246], "data_offsets": [16, 1000]}}
        p = self.raw_st("offsets-past-end.safetensors", hdr, 32)
        self.assertBadWeights(p, ["byte"])

    def test_offsets_max_u64(self):
        hdr = {"a.weight": {"dtype": "F32", "shape": [1],
                            "data_offsets": [2 ** 64 - 1, 2 ** 64 - 1]}}
        p = self.raw_st("offsets-max.safetensors", hdr, 4)
        self.assertBadWeights(p, ["a.weight"])

    def test_offsets_over_u64(self):
        hdr = {"a.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 2 ** 64]}}
        p = self.raw_st("offsets-2-64.safetensors", hdr, 4)
        self.assertBadWeights(p, ["byte", "a.weight"])

    def test_offsets_gap(self):
        hdr = {"a.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
               "b.weight": {"dtype": "F32", "shape": [4], "data_offsets": [20, 36]}}
        p = self.raw_st("offsets-gap.safetensors", hdr, 36)
        self.assertBadWeights(p, ["b.weight"])

    def test_offsets_overlap(self):
        hdr = {"a.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
               "b.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
        p = self.raw_st("offsets-overlap.safetensors", hdr, 16)
        self.assertBadWeights(p, ["a.weight", "b.weight"])

    def test_shape_product_overflow(self):
        hdr = {"huge.weight": {"dtype": "F32", "shape": [2 ** 32, 2 ** 32, 16],
                               "data_offsets": [0, 16]}}
        p = self.raw_st("shape-overflow.safetensors", hdr, 16)
        self.assertBadWeights(p, ["huge.weight"])

    def test_size_in_bits_overflow(self):
        hdr = {"huge.weight": {"dtype": "F64", "shape": [2 ** 61], "data_offsets": [0, 8]}}
        p = self.raw_st("bits-overflow.safetensors", hdr, 8)
        self.assertBadWeights(p, ["huge.weight"])

    def test_negative_and_fractional_shape(self):
        for i, shape in enumerate(([-1], [1.0], [1e30], ["4"])):
            with self.subTest(shape=shape):
                hdr = {"a.weight": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}
                p = self.raw_st("shape-%d.safetensors" % i, hdr, 4)
                self.assertBadWeights(p, ["byte"], also_classify=False)

    def test_bad_utf8_in_tensor_name(self):
        hdr = b'{"bad\xff\xfename":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
        p = self.raw_st("bad-utf8.safetensors", hdr, 4)
        self.assertBadWeights(p, ["byte"])

    def test_nul_in_tensor_name(self):
        hdr = {"a\u0000b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
        p = self.raw_st("nul-name.safetensors", hdr, 4)
        self.assertBadWeights(p, ["byte"])

    def test_unknown_dtype(self):
        hdr = {"a.weight": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}
        p = self.raw_st("unknown-dtype.safetensors", hdr, 4)
        self.assertBadWeights(p, ["a.weight"])

    def test_missing_field(self):
        hdr = {"a.weight": {"dtype": "F32", "shape": [1]}}
        p = self.raw_st("missing-offsets.safetensors", hdr, 4)
        self.assertBadWeights(p, ["data_offsets"])

    def test_duplicate_tensor(self):
        hdr = (b'{"a.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
               b'"a.weight":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')
        p = self.raw_st("dup.safetensors", hdr, 8)
        self.assertBadWeights(p, ["a.weight"])

    def test_deeply_nested_json(self):
        cases = {"nested-top.safetensors": b"[" * 100000,
                 "nested-value.safetensors": b'{"a":' + b"[" * 100000,
                 "nested-shape.safetensors": b'{"a":{"dtype":"F32","shape":' + b"[" * 100000 +
                                             b"]" * 100000 + b',"data_offsets":[0,0]}}'}
        for name, hdr in cases.items():
            with self.subTest(case=name):
                self.assertBadWeights(self.raw_st(name, hdr, 0), ["byte"])

    def test_empty_header_and_empty_file(self):
        self.assertBadWeights(self.raw_st("hdr-0.safetensors", b"", 0), ["byte"])
        p = self.path("zero.safetensors")
        open(p, "wb").close()
        self.assertBadWeights(p, ["byte"])  # "file is 0 bytes, too small"
        p = self.path("seven.safetensors")
        with open(p, "wb") as f:
            f.write(b"\x10\0\0\0\0\0\0")
        self.assertBadWeights(p, ["byte"])

    def test_top_level_not_object(self):
        for i, hdr in enumerate((b"[]", b"42", b'"x"', b"null")):
            with self.subTest(header=hdr):
                self.assertBadWeights(self.raw_st("not-object-%d.safetensors" % i, hdr, 0),
                                      ["byte"], also_classify=False)


class ControlCharacters(BadInputBase):
    """Tensor names and facts keys are attacker-controlled text: an error
    message that quotes them stays one line and carries no raw control
    characters (newline, CR, ESC), so it cannot forge log lines or drive the
    terminal."""

    def assertClean(self, r, path):
        line = self.assertOneLineError(r, [os.path.basename(path)])
        self.assertFalse(any(ord(c) < 0x20 or ord(c) == 0x7f for c in line),
                         "raw control character in %r" % line)

    def test_safetensors_tensor_name(self):
        for i, bad in enumerate(("\n", "\r", "\u001b[2J")):
            with self.subTest(char=repr(bad)):
                hdr = {"evil%sname" % bad: {"dtype": "XX", "shape": [1], "data_offsets": [0, 4]}}
                p = self.raw_st("ctrl-name-%d.safetensors" % i, hdr, 4)
                self.assertClean(st.run("inspect", p), p)

    def test_gguf_tensor_name(self):
        st.GGML_TYPES.setdefault("BOGUS99", (99, 1, 4))
        p = self.path("ctrl-name.gguf")
        st.write_gguf(p, [st.gguf_kv("general.architecture", "str", "llama")],
                      [("evil\nname", "BOGUS99", [4])])
        self.assertClean(st.run("inspect", p), p)

    def test_facts_key(self):
        p = self.write_text("ctrl-key.json", '{"evil\\nkey": 1}')
        self.assertClean(st.run("classify", "--facts", p, "--json"), p)


class BadGGUF(BadInputBase):

    KVS = [st.gguf_kv("general.architecture", "str", "llama"),
           st.gguf_kv("llama.block_count", "u32", 1)]
    TENSORS = [("token_embd.weight", "F16", [64, 32]), ("output.weight", "F16", [64, 32])]

    def test_good_file_is_accepted(self):
        p = self.path("good.gguf")
        st.write_gguf(p, self.KVS, self.TENSORS)
        rep = st.run_json(self, "inspect", p, "--json")
        self.assertEqual(rep["params_total"], 2 * 64 * 32)

    def test_truncated_in_header(self):
        head, _ = st.gguf_bytes(self.KVS, self.TENSORS)
        for cut in (3, 10, 30, len(head) - 20):
            with self.subTest(cut=cut):
                p = self.path("cut-%d.gguf" % cut)
                with open(p, "wb") as f:
                    f.write(head[:cut])
                self.assertBadWeights(p, ["byte"])

    def test_truncated_in_data(self):
        p = self.path("cut-data.gguf")
        size = st.write_gguf(p, self.KVS, self.TENSORS)
        os.truncate(p, size - 100)
        self.assertBadWeights(p, ["byte"])

    def test_tensor_count_2_60(self):
        p = self.path("count-2-60.gguf")
        st.write_gguf(p, self.KVS, self.TENSORS, tensor_count=2 ** 60)
        self.assertBadWeights(p, ["tensor_count"])

    def test_kv_count_huge(self):
        head, size = st.gguf_bytes(self.KVS, self.TENSORS)
        head = head[:16] + struct.pack("<Q", 2 ** 63) + head[24:]
        p = self.path("kv-count.gguf")
        with open(p, "wb") as f:
            f.write(head)
        os.truncate(p, size)
        self.assertBadWeights(p, ["metadata_kv_count"])

    def test_version_1(self):
        p = self.path("v1.gguf")
        st.write_gguf(p, self.KVS, self.TENSORS, version=1)
        self.assertBadWeights(p, ["version"])

    def test_big_endian(self):
        p = self.path("big-endian.gguf")
        st.write_gguf(p, self.KVS, self.TENSORS, version=3 << 24)
        self.assertBadWeights(p, ["big-endian"])

    def test_string_length_huge(self):
        head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2 ** 62) + b"key"
        p = self.path("strlen.gguf")
        with open(p, "wb") as f:
            f.write(head + b"\0" * 64)
        self.assertBadWeights(p, ["byte"])

    def test_unknown_ggml_type(self):
        st.GGML_TYPES.setdefault("BOGUS99", (99, 1, 4))
        p = self.path("type99.gguf")
        st.write_gguf(p, self.KVS, [("token_embd.weight", "BOGUS99", [4, 4])])
        self.assertBadWeights(p, ["token_embd.weight"])

    def test_bad_alignment(self):
        kvs = self.KVS + [st.gguf_kv("general.alignment", "u32", 48)]
        p = self.path("align48.gguf")
        st.write_gguf(p, kvs, self.TENSORS, alignment=48)
        self.assertBadWeights(p, ["alignment"])


class BadFacts(BadInputBase):

    def classify_facts(self, name, text, *extra):
        p = self.write_text(name, text)
        return st.run("classify", "--facts", p, "--as-of", "2026-06-01", "--json", *extra)

    def check(self, name, text, needs):
        r = self.classify_facts(name, text)
        return self.assertOneLineError(r, [name], needs)

    def test_good_facts(self):
        r = self.classify_facts("good.json", '{"params": 7000000000, "training": {"tokens": 1e12}}')
        self.assertEqual(r.rc, 0, repr(r))

    def test_nan(self):
        self.check("nan.json", '{"params": NaN}', ["byte"])
        self.check("inf.json", '{"params": 7, "training": {"tokens": Infinity}}', ["byte"])
        self.check("overflow.json", '{"params": 7, "training": {"tokens": 1e400}}', ["byte"])

    def test_unknown_key(self):
        self.check("typo.json", '{"params": 7000000000, "training": {"tokenz": 1e12}}',
                   ["training.tokenz"])
        self.check("typo-top.json", '{"parameters": 7000000000}', ["parameters"])
        self.check("typo-hw.json", '{"training": {"hardware": [{"chip": "nvidia-a100", '
                   '"count": 8, "hours": 10, "util": 0.4}]}}', ["training.hardware[0].util"])

    def test_negative_tokens(self):
        self.check("neg.json", '{"params": 7000000000, "training": {"tokens": -1}}',
                   ["training.tokens"])
        self.check("neg-params.json", '{"params": -7}', ["params"])

    def test_deep_nesting(self):
        self.check("deep.json", "[" * 10000 + "]" * 10000, ["byte"])
        self.check("deep-in.json", '{"training":' + "[" * 10000 + "]" * 10000 + "}", ["byte"])

    def test_wrong_types(self):
        cases = {
            "params-str.json": ('{"params": "seven billion"}', "params"),
            "params-frac.json": ('{"params": 7.5}', "params"),
            "params-huge.json": ('{"params": 1e30}', "params"),
            "tokens-str.json": ('{"training": {"tokens": "1e12"}}', "training.tokens"),
            "modality-str.json": ('{"modality": "text"}', "modality"),
            "modality-bad.json": ('{"modality": ["telepathy"]}', "modality"),
            "markets-lower.json": ('{"markets": ["eu"]}', "markets"),
            "license-bool.json": ('{"license": {"spdx": "MIT", "noncommercial": "no"}}',
                                  "license.noncommercial"),
            "hw-count.json": ('{"training": {"hardware": [{"chip": "nvidia-a100", "count": 0, '
                              '"hours": 1}]}}', "training.hardware[0].count"),
            "hw-util.json": ('{"training": {"hardware": [{"chip": "nvidia-a100", "count": 1, '
                             '"hours": 1, "utilization": 1.5}]}}',
                             "training.hardware[0].utilization"),
            "eval-level.json": ('{"evaluations": [{"domain": "cbrn", "level": "extreme"}]}',
                                "evaluations[0].level"),
            "date.json": ('{"training": {"date": "2026-13-01"}}', "training.date"),
            "base-obj.json": ('{"base_model": "llama"}', "base_model"),
            "not-object.json": ("[1, 2]", "object"),
            "dup-key.json": ('{"params": 7, "params": 8}', "params"),
        }
        for name, (text, need) in cases.items():
            with self.subTest(case=name):
                self.check(name, text, [need])

    def test_empty_and_binary_facts(self):
        self.check("empty.json", "", ["byte"])
        self.check("binary.json", b"\xff\xfe\x00{", ["byte"])

    def test_unknown_chip_names_file_and_field(self):
        """The chip is checked after parsing, but it is still the facts file's
        problem: the message names the file and the key path."""
        self.check("chip.json", '{"params": 7000000000, "training": {"hardware": '
                   '[{"chip": "abacus-9000", "count": 8, "hours": 10}]}}',
                   ["training.hardware[0]"])

    def test_facts_file_missing(self):
        r = st.run("classify", "--facts", self.path("nope.json"))
        self.assertOneLineError(r, ["nope.json"], code=3)


class BadFolders(BadInputBase):

    def folder(self, name):
        d = self.mkdir(name)
        st.write_safetensors(os.path.join(d, "model.safetensors"), GOOD)
        return d

    def test_malformed_config(self):
        d = self.folder("cfg")
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write('{"model_type": "llama",')
        r = st.run("inspect", d)
        self.assertOneLineError(r, ["config.json"], ["byte"])
        r = st.run("classify", d, "--tokens", "1e12", "--json")
        self.assertOneLineError(r, ["config.json"], ["byte"])

    def test_config_not_object(self):
        d = self.folder("cfg2")
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write("[1]")
        self.assertOneLineError(st.run("inspect", d), ["config.json"])

    def test_index_with_unsafe_shard_name(self):
        d = self.folder("idx")
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"a.weight": "../model.safetensors",
                                      "b.weight": "model.safetensors"}}, f)
        self.assertOneLineError(st.run("inspect", d), ["model.safetensors.index.json"],
                                ["a.weight"])

    def test_index_with_missing_shard(self):
        d = self.folder("idx2")
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"a.weight": "model-00001-of-00002.safetensors"}}, f)
        self.assertOneLineError(st.run("inspect", d), ["model.safetensors.index.json",
                                                       "model-00001-of-00002.safetensors"])

    def test_index_disagrees_with_shard(self):
        d = self.folder("idx3")
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"a.weight": "model.safetensors"}}, f)
        self.assertOneLineError(st.run("inspect", d), ["model.safetensors.index.json",
                                                       "b.weight"])

    def test_fifo_does_not_hang(self):
        """A named pipe where a weight file, config.json or the facts file is
        expected (an unpacked archive can hold one) is refused at once as not
        a regular file; opening it for reading must not block."""
        d = self.folder("fifo-weights")
        os.mkfifo(os.path.join(d, "extra.safetensors"))
        d2 = self.folder("fifo-config")
        os.mkfifo(os.path.join(d2, "config.json"))
        facts = self.path("facts-fifo.json")
        os.mkfifo(facts)
        cases = {"weights": (("inspect", d), "extra.safetensors"),
                 "config": (("inspect", d2), "config.json"),
                 "facts": (("classify", "--facts", facts), "facts-fifo.json")}
        for what, (args, name) in cases.items():
            with self.subTest(fifo=what):
                try:
                    r = st.run(*args, timeout=3)
                except st.subprocess.TimeoutExpired:
                    self.fail("sluice %s hangs on a FIFO (killed after 3 s)" % " ".join(args))
                self.assertOneLineError(r, [name], ["regular file"])

    def test_empty_folder(self):
        d = self.mkdir("empty")
        self.assertOneLineError(st.run("inspect", d), ["empty"])

    def test_pickle_refused(self):
        p = self.write_text("pytorch_model.bin", b"\x80\x02}q\x00.")
        self.assertOneLineError(st.run("inspect", p), ["pytorch_model.bin"], ["pickle"])


class BadUsage(BadInputBase):

    def test_nonexistent_path(self):
        missing = self.path("no-such-model")
        r = st.run("inspect", missing)
        self.assertOneLineError(r, [missing], code=3)
        r = st.run("classify", missing, "--tokens", "1e12")
        self.assertOneLineError(r, [missing], code=3)

    def usage_error(self, *args):
        r = st.run(*args)
        self.assertGreaterEqual(r.rc, 0, repr(r))
        self.assertEqual(r.rc, 2, repr(r))
        self.assertEqual(r.stdout, "", repr(r))
        self.assertEqual(r.stderr.count("\n"), 1, repr(r))
        return r.stderr

    def test_unknown_option(self):
        p = self.path("m.safetensors")
        st.write_safetensors(p, GOOD)
        self.assertIn("--bogus", self.usage_error("inspect", p, "--bogus"))
        self.assertIn("--bogus", self.usage_error("classify", p, "--bogus"))
        self.assertIn("--bogus", self.usage_error("policy", "list", "--bogus"))
        self.usage_error("no-such-command")
        self.usage_error("inspect")
        self.usage_error("classify")
        self.usage_error("classify", "--facts")

    def test_unknown_pack(self):
        f = self.write_json("f.json", {"params": 7000000000})
        err = self.usage_error("classify", "--facts", f, "--pack", "no-such-pack")
        self.assertIn("no-such-pack", err)
        self.assertTrue(err.startswith("sluice: error: "), err)

    def test_bad_dates(self):
        f = self.write_json("f.json", {"params": 7000000000})
        for date in ("2026-13-01", "2026-02-30", "2026-00-10", "26-01-01", "2026/01/01",
                     "2026-01-01x", ""):
            with self.subTest(date=date):
                err = self.usage_error("classify", "--facts", f, "--as-of", date)
                if date:
                    self.assertIn(date, err)

    def test_bad_tokens(self):
        f = self.write_json("f.json", {"params": 7000000000})
        for tok in ("-5", "lots", "nan", "inf", "1e30"):
            with self.subTest(tokens=tok):
                self.assertIn(tok, self.usage_error("classify", "--facts", f, "--tokens", tok))


class ReferenceVectors(BadInputBase):
    """The unit-test inputs of the reference safetensors implementation."""

    def test_rust_tests_vectors(self):
        folder = os.path.join(st.VECTORS, "safetensors", "rust-tests")
        with open(os.path.join(folder, "expected.tsv")) as f:
            rows = [l.rstrip("\n").split("\t") for l in f][1:]
        self.assertEqual(len(rows), 21)
        for name, expected, _src in rows:
            with self.subTest(file=name, expected=expected):
                r = st.run("inspect", os.path.join(folder, name), "--json")
                if expected == "OK":
                    self.assertEqual(r.rc, 0, repr(r))
                    json.loads(r.stdout)
                else:
                    self.assertOneLineError(r, [name])

    def test_pr84_unaligned_vectors(self):
        folder = os.path.join(st.VECTORS, "safetensors", "pr84")
        ran = 0
        for name in sorted(os.listdir(folder)):
            with self.subTest(file=name):
                rep = st.run_json(self, "inspect", os.path.join(folder, name), "--json")
                self.assertEqual(rep["params_total"], 54 if name == "overall.safetensors" else 6)
                ran += 1
        self.assertEqual(ran, 10, "the pr84 vectors changed: update the count")


if __name__ == "__main__":
    st.main()
