# SPDX-License-Identifier: Apache-2.0
"""cmake/embed_web.cmake, the build step that compiles web/ into the binary
(docs/web.md, "Assets and headers"), run by hand (`cmake -P`) on made-up
folders: every file's bytes and SHA-256 come out as they went in, the HTML
names each asset with its version, a gzip copy is kept only when smaller and
decompresses to the file, the output is the same on every run, and a file
name that could not be embedded safely stops the build.
"""
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluicetest as st  # noqa: E402

SCRIPT = os.path.join(st.SOURCE, "cmake", "embed_web.cmake")
GZIP = shutil.which("gzip")


def parse(c_text):
    """{name: (bytes, gz bytes or None, sha256)} from the generated C."""
    arrays = {}
    for m in re.finditer(r"static const unsigned char (\w+)\[[^\]]*\] = \{([^}]*)\};", c_text):
        arrays[m.group(1)] = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})",
                                                                  m.group(2)))
    out = {}
    for m in re.finditer(r'\{"([^"]+)", (\w+), (\d+), (\w+), (\d+), "([0-9a-f]{64})"\}', c_text):
        name, arr, n, gz, gzn, sha = m.groups()
        data = arrays[arr]
        assert data[-1] == 0 and len(data) == int(n) + 1, name  # NUL after the bytes
        gzdata = None if gz == "NULL" else arrays[gz]
        assert gzdata is None or len(gzdata) == int(gzn), name
        out[name] = (data[:-1], gzdata, sha)
    return out


class EmbedWeb(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-embed-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.web = os.path.join(self.tmp, "web")
        os.makedirs(self.web)

    def write(self, name, data):
        p = os.path.join(self.web, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def embed(self, gz=True, check=True):
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(self.web) for f in fs)
        out = os.path.join(self.tmp, "gen", "web_embedded.c")
        r = subprocess.run(["cmake", "-DOUT=" + out, "-DFILES=" + " ".join(files),
                            "-DWEB_DIR=" + self.web, "-DGZIP=" + (GZIP if gz else ""),
                            "-P", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            with open(out, encoding="utf-8") as f:
                return f.read()
        return r

    def test_bytes_digests_versions_and_gzip(self):
        js = ("// " + "the same line again and again\n" * 200).encode()
        self.write("app.js", js)
        self.write("app.css", b"b{}")  # too small to gain from gzip
        self.write("img/dot.png", bytes(range(256)))
        self.write("index.html", b'<link href="/ui/app.css"><script src="/ui/app.js"></script>'
                                 b'<img src="/ui/img/dot.png"> "/ui/app.js.map" /ui/app.js\n')
        text = self.embed()
        got = parse(text)
        self.assertEqual(set(got), {"app.js", "app.css", "img/dot.png", "index.html"})
        for name in ("app.js", "app.css", "img/dot.png"):
            data, gz, sha = got[name]
            with open(os.path.join(self.web, name), "rb") as f:
                disk = f.read()
            self.assertEqual(data, disk, name)
            self.assertEqual(sha, hashlib.sha256(disk).hexdigest(), name)
            if gz is not None:
                self.assertLess(len(gz), len(disk), name)
                self.assertEqual(gzip.decompress(gz), disk, name)
        self.assertIsNotNone(got["app.js"][1], "a repetitive script compresses")
        self.assertIsNone(got["app.css"][1], "a copy that is not smaller is left out")
        shell, shell_gz, shell_sha = got["index.html"]
        v = {n: hashlib.sha256(got[n][0]).hexdigest()[:8] for n in ("app.js", "app.css",
                                                                    "img/dot.png")}
        self.assertEqual(shell.decode(),
                         '<link href="/ui/app.css?v=%s"><script src="/ui/app.js?v=%s"></script>'
                         '<img src="/ui/img/dot.png?v=%s"> "/ui/app.js.map" /ui/app.js\n'
                         % (v["app.css"], v["app.js"], v["img/dot.png"]))
        self.assertEqual(shell_sha, hashlib.sha256(shell).hexdigest())
        # the same input gives the same output (gzip -n: no name, no time)
        self.assertEqual(self.embed(), text)
        # without gzip there are no copies, and the bytes are the same
        plain = parse(self.embed(gz=False))
        self.assertTrue(all(g is None for _, g, _ in plain.values()))
        self.assertEqual({k: v[0] for k, v in plain.items()}, {k: v[0] for k, v in got.items()})

    def test_an_edit_changes_the_version_the_shell_names(self):
        self.write("index.html", b'<script src="/ui/app.js"></script>')
        self.write("app.js", b"one")
        first = parse(self.embed())["index.html"][0]
        self.write("app.js", b"two")
        second = parse(self.embed())["index.html"][0]
        self.assertNotEqual(first, second)
        self.assertIn(hashlib.sha256(b"two").hexdigest()[:8].encode(), second)

    def test_names_that_cannot_be_embedded_stop_the_build(self):
        for bad in ('a"b.js', "a b.js", ".hidden.js"):
            shutil.rmtree(self.web)
            os.makedirs(self.web)
            self.write(bad, b"x")
            r = self.embed(check=False)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(b"asset names", r.stderr, bad)

    def test_an_empty_file_embeds(self):
        self.write("empty.txt", b"")
        got = parse(self.embed())
        self.assertEqual(got["empty.txt"][0], b"")
        self.assertEqual(got["empty.txt"][2], hashlib.sha256(b"").hexdigest())


if __name__ == "__main__":
    unittest.main(verbosity=2)
