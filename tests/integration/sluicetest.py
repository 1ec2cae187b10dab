# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the sluice integration tests (Python 3 standard library only).

Each test_*.py next to this file is a standalone unittest script. CTest passes
the locations below as environment variables; when they are absent (a plain
`python3 tests/integration/test_x.py` from the repo root after a build) they
default to the source tree and build/.

Weight files are written as SPARSE files: the header is real, the tensor data
is a hole made with os.truncate, so a 20-billion-parameter model costs a few
kilobytes of disk and no time.
"""
import datetime
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.normpath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("SLUICE_BIN") or os.path.join(SOURCE, "build", "sluice")
VECTORS = os.environ.get("SLUICE_VECTORS") or os.path.join(SOURCE, "tests", "vectors")
GEN_VECTORS = os.environ.get("SLUICE_GEN_VECTORS") or os.path.join(SOURCE, "build", "vectors")
DATA = os.environ.get("SLUICE_DATA") or os.path.join(SOURCE, "tests", "data")

# Bytes per element of the safetensors dtypes the tests write.
ST_DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "U8": 1, "I8": 1,
                  "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8, "BOOL": 1,
                  "F8_E4M3": 1, "F8_E5M2": 1}

# ggml type id -> (block elements, block bytes) for the types the tests write.
GGML_TYPES = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q8_0": (8, 32, 34), "BF16": (30, 1, 2)}


class Result:
    """Outcome of one sluice run."""

    def __init__(self, args, rc, stdout, stderr):
        self.args = args
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return "sluice %s -> rc=%d\nstdout: %s\nstderr: %s" % (
            " ".join(self.args), self.rc, self.stdout[:2000], self.stderr[:2000])


def run(*args, env=None, timeout=60, cwd=None):
    """Runs the binary with ARGS; returns a Result (text decoded as UTF-8,
    undecodable bytes replaced)."""
    args = [str(a) for a in args]
    full_env = dict(os.environ)
    # A policy folder in the caller's environment would change every decision.
    full_env.pop("SLUICE_POLICY_DIR", None)
    full_env.pop("SLUICE_TODAY", None)
    if env:
        full_env.update(env)
    p = subprocess.run([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=full_env, timeout=timeout, cwd=cwd)
    return Result(args, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def run_json(testcase, *args, **kw):
    """Runs sluice (the caller includes --json), asserts exit 0, returns the parsed stdout."""
    r = run(*args, **kw)
    testcase.assertEqual(r.rc, 0, repr(r))
    try:
        return json.loads(r.stdout)
    except ValueError as e:  # pragma: no cover - reported as a test failure
        testcase.fail("stdout is not JSON (%s): %r" % (e, r))


# --------------------------------------------------------------------------
# safetensors

def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def st_nbytes(dtype, shape):
    return numel(shape) * ST_DTYPE_BYTES[dtype]


def st_header(tensors, metadata=None):
    """Header dict and data size for TENSORS, a list of (name, dtype, shape),
    laid out back to back in list order."""
    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = metadata
    off = 0
    for name, dtype, shape in tensors:
        n = st_nbytes(dtype, shape)
        hdr[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    return hdr, off


def write_raw_safetensors(path, header_bytes, data_bytes, length=None):
    """Writes 8-byte LE length + HEADER_BYTES, then makes the file
    8 + len(header) + DATA_BYTES long with a hole. LENGTH overrides the
    length prefix (for hostile files)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes) if length is None else length))
        f.write(header_bytes)
    os.truncate(path, 8 + len(header_bytes) + data_bytes)


def write_safetensors(path, tensors, metadata=None):
    """Writes a header-only sparse safetensors file; returns its data size."""
    hdr, data = st_header(tensors, metadata)
    raw = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the reference writer pads to 8 bytes
    write_raw_safetensors(path, raw, data)
    return data


def write_config(folder, config):
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def write_sharded(folder, tensors, nshards):
    """Splits TENSORS over NSHARDS files model-0000K-of-0000N.safetensors plus
    model.safetensors.index.json (as transformers writes them). Returns the
    total data bytes."""
    per = (len(tensors) + nshards - 1) // nshards
    weight_map = {}
    total = 0
    for k in range(nshards):
        part = tensors[k * per:(k + 1) * per]
        name = "model-%05d-of-%05d.safetensors" % (k + 1, nshards)
        total += write_safetensors(os.path.join(folder, name), part)
        for t in part:
            weight_map[t[0]] = name
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    return total


# --------------------------------------------------------------------------
# GGUF v3

def _gguf_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, vtype, value):
    """One metadata pair. VTYPE: 'u32', 'u64', 'f32', 'str', 'bool',
    ('arr_str', [..]) or ('arr_i32', [..])."""
    out = _gguf_str(key)
    if vtype == "u32":
        out += struct.pack("<II", 4, value)
    elif vtype == "u64":
        out += struct.pack("<IQ", 10, value)
    elif vtype == "f32":
        out += struct.pack("<If", 6, value)
    elif vtype == "bool":
        out += struct.pack("<IB", 7, 1 if value else 0)
    elif vtype == "str":
        out += struct.pack("<I", 8) + _gguf_str(value)
    elif vtype == "arr_str":
        out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_gguf_str(v) for v in value)
    elif vtype == "arr_i32":
        out += struct.pack("<IIQ", 9, 5, len(value)) + b"".join(struct.pack("<i", v) for v in value)
    else:
        raise ValueError(vtype)
    return out


def gguf_bytes(kvs, tensors, alignment=32, version=3, tensor_count=None):
    """Header of a GGUF file and its total size. KVS: list of gguf_kv()
    byte strings. TENSORS: (name, ggml type name, PyTorch-order shape); the
    dims are written reversed (ggml ne[0] is the innermost). Each tensor's
    data is padded to ALIGNMENT, and so is the start of the data section."""
    infos = b""
    off = 0
    for name, tname, shape in tensors:
        tid, be, bb = GGML_TYPES[tname]
        ne = list(reversed(shape))
        assert ne[0] % be == 0
        nbytes = numel(shape) // be * bb
        infos += _gguf_str(name) + struct.pack("<I", len(ne))
        infos += b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", tid, off)
        off += nbytes + (-nbytes % alignment)
    head = b"GGUF" + struct.pack("<IQQ", version,
                                 len(tensors) if tensor_count is None else tensor_count, len(kvs))
    head += b"".join(kvs) + infos
    head += b"\0" * (-len(head) % alignment)
    return head, len(head) + off


def write_gguf(path, kvs, tensors, alignment=32, **kw):
    head, size = gguf_bytes(kvs, tensors, alignment, **kw)
    with open(path, "wb") as f:
        f.write(head)
    os.truncate(path, size)
    return size


# --------------------------------------------------------------------------
# test scaffolding

class TempDirTestCase(unittest.TestCase):
    """Gives each test self.tmp, a fresh folder removed afterwards."""

    def setUp(self):
        self.assertTrue(os.access(BIN, os.X_OK), "sluice binary not found at %s (build first "
                        "or set SLUICE_BIN)" % BIN)
        self.tmp = tempfile.mkdtemp(prefix="sluice-it-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def mkdir(self, *parts):
        p = self.path(*parts)
        os.makedirs(p, exist_ok=True)
        return p

    def write_json(self, name, obj):
        p = self.path(name)
        with open(p, "w") as f:
            json.dump(obj, f)
        return p

    def write_text(self, name, text):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(text.encode("utf-8") if isinstance(text, str) else text)
        return p

    def assertRelClose(self, actual, expected, rel, msg=None):
        self.assertIsNotNone(actual, msg)
        self.assertTrue(abs(actual - expected) <= rel * abs(expected),
                        "%r is not within %g%% of %r%s" % (actual, rel * 100, expected,
                                                          ": " + msg if msg else ""))


def utc_today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def read_tsv(name):
    """Rows of DATA/NAME as dicts (header line gives the keys)."""
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    keys = lines[0].split("\t")
    return [dict(zip(keys, l.split("\t"))) for l in lines[1:]]


def main():
    unittest.main(verbosity=2)
