# SPDX-License-Identifier: Apache-2.0
"""cmake/embed_web.cmake, the build step that compiles web/ into the binary
(docs/web.md, "Assets and headers"), run by hand (`cmake -P`) on made-up
folders: every file's bytes and SHA-256 come out as they went in, the HTML,
the scripts and the style sheets name each asset they refer to with its
version (a file's version covering those of the files it refers to), a gzip
copy is kept only when smaller and decompresses to the file, the output is
the same on every run, and a file name that could not be embedded safely, a
reference to a file that is not there or a reference cycle stops the build.
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

    def embed(self, gz=True, check=True, order=sorted):
        files = order(os.path.join(dp, f) for dp, _, fs in os.walk(self.web) for f in fs)
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
                                 b'<img src="/ui/img/dot.png"> "/ui/app.js?v=1" /ui/app.js\n')
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
                         '<img src="/ui/img/dot.png?v=%s"> "/ui/app.js?v=1" /ui/app.js\n'
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
        for bad in ('a"b.js', "a b.js", ".hidden.js", "a;b.js", "a[1].js", "d[/x.js"):
            shutil.rmtree(self.web)
            os.makedirs(self.web)
            self.write(bad, b"x")
            r = self.embed(check=False)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(b"asset names", r.stderr, bad)

    def version(self, got, name):
        return hashlib.sha256(got[name][0]).hexdigest()[:8]

    def test_references_in_scripts_and_styles_are_rewritten(self):
        self.write("md.js", b"export const md = 1;\n")
        self.write("img/dot.png", bytes(range(256)))
        self.write("app.js", b'import("/ui/md.js"); import(\'/ui/md.js\'); import(`/ui/md.js`);\n'
                             b'const base = "/ui/" + name; // see /ui/md.js\n'
                             b'const done = "/ui/md.js?v=12345678";\n'
                             b'const icon = "/ui/img/dot.png";\n')
        self.write("app.css", b'a{background:url(/ui/img/dot.png)}'
                              b'b{background:url("/ui/img/dot.png")}\n')
        self.write("index.html", b'<script src="/ui/app.js"></script>'
                                 b'<link href="/ui/app.css">')
        self.write("lib/m.mjs", b'export * from "/ui/md.js";')
        # only the text types are read for references: elsewhere it is data
        self.write("notes.txt", b'"/ui/md.js" "/ui/nothing.js"')
        got = parse(self.embed())
        self.assertEqual(got["lib/m.mjs"][0].decode(), 'export * from "/ui/md.js?v=%s";'
                         % self.version(got, "md.js"))
        self.assertEqual(got["notes.txt"][0], b'"/ui/md.js" "/ui/nothing.js"')
        md, dot = self.version(got, "md.js"), self.version(got, "img/dot.png")
        self.assertEqual(got["app.js"][0].decode(),
                         'import("/ui/md.js?v=%s"); import(\'/ui/md.js?v=%s\'); '
                         'import(`/ui/md.js?v=%s`);\n'
                         'const base = "/ui/" + name; // see /ui/md.js\n'
                         'const done = "/ui/md.js?v=12345678";\n'
                         'const icon = "/ui/img/dot.png?v=%s";\n' % (md, md, md, dot))
        self.assertEqual(got["app.css"][0].decode(),
                         'a{background:url(/ui/img/dot.png?v=%s)}'
                         'b{background:url("/ui/img/dot.png?v=%s")}\n' % (dot, dot))
        # a file without references is served as it is
        self.assertEqual(got["md.js"][0], b"export const md = 1;\n")
        # the digest (the ETag) of a rewritten file is that of the bytes served,
        # and the shell names the rewritten file by that digest
        for name, (data, gz, sha) in got.items():
            self.assertEqual(sha, hashlib.sha256(data).hexdigest(), name)
            if gz is not None:
                self.assertEqual(gzip.decompress(gz), data, name)
        self.assertEqual(got["index.html"][0].decode(),
                         '<script src="/ui/app.js?v=%s"></script><link href="/ui/app.css?v=%s">'
                         % (self.version(got, "app.js"), self.version(got, "app.css")))

    def test_a_version_covers_the_files_referred_to_at_any_depth(self):
        self.write("index.html", b'<script src="/ui/app.js"></script>')
        self.write("app.js", b'import("/ui/lib/md.js"); import("/ui/other.js");')
        self.write("lib/md.js", b'import("/ui/lib/util.js");')
        self.write("lib/util.js", b"one")
        self.write("other.js", b"unrelated")
        first = parse(self.embed())
        chain = ("lib/md.js", "app.js", "index.html")
        for parent, child in (("index.html", "app.js"), ("app.js", "lib/md.js"),
                              ("app.js", "other.js"), ("lib/md.js", "lib/util.js")):
            self.assertIn(('"/ui/%s?v=%s"' % (child, self.version(first, child))).encode(),
                          first[parent][0], (parent, child))
        # an edit to the leaf changes every version on the way up to the shell
        self.write("lib/util.js", b"two")
        second = parse(self.embed())
        for name in chain + ("lib/util.js",):
            self.assertNotEqual(self.version(first, name), self.version(second, name), name)
        self.assertIn(('"/ui/lib/util.js?v=%s"' % self.version(second, "lib/util.js")).encode(),
                      second["lib/md.js"][0])
        self.assertEqual(first["other.js"], second["other.js"])

    def test_a_reference_cycle_stops_the_build(self):
        out = os.path.join(self.tmp, "gen", "web_embedded.c")
        cases = [
            ({"a.js": b'import("/ui/b.js")', "b.js": b'import("/ui/c.js")',
              "c.js": b'import("/ui/a.js")', "index.html": b'<script src="/ui/a.js"></script>'},
             b"web/a.js -> web/b.js -> web/c.js -> web/a.js"),
            ({"self.js": b'const me = "/ui/self.js";'}, b"web/self.js -> web/self.js"),
            ({"x.css": b'a{background:url(/ui/y.css)}', "y.css": b'@import "/ui/x.css";'},
             b"web/x.css -> web/y.css -> web/x.css"),
        ]
        for files, loop in cases:
            shutil.rmtree(self.web)
            os.makedirs(self.web)
            for name, data in files.items():
                self.write(name, data)
            r = self.embed(check=False)
            self.assertNotEqual(r.returncode, 0, files)
            err = b" ".join(r.stderr.split())
            self.assertIn(b"cycle", err, files)
            self.assertIn(loop, err, files)
            self.assertFalse(os.path.exists(out), files)

    def test_a_reference_to_a_file_that_is_not_there_stops_the_build(self):
        for name, data, target in (
                ("app.js", b'import("/ui/nothing.js");', b"/ui/nothing.js"),
                ("index.html", b'<script src="/ui/app.js.map"></script>', b"/ui/app.js.map"),
                ("app.js", b'fetch("/ui/../data/sluice.db");', b"/ui/../data/sluice.db"),
                ("app.js", b"import(`/ui/${name}.js`);", b"/ui/${name}.js"),
                ("app.js", b'import("/ui/APP.JS");', b"/ui/APP.JS"),
                ("app.css", b"a{background:url(/ui/gone.png)}", b"/ui/gone.png"),
                ("app.js", b'import("/ui/lib/");', b"/ui/lib/")):
            shutil.rmtree(self.web)
            os.makedirs(self.web)
            self.write("app.js" if name != "app.js" else "md.js", b"x")
            self.write("lib/x.js", b"x")
            self.write(name, data)
            r = self.embed(check=False)
            self.assertNotEqual(r.returncode, 0, data)
            err = b" ".join(r.stderr.split())
            self.assertIn(b"web/" + name.encode() + b": refers to " + target, err, data)
            self.assertIn(b"not a file in web/", err, data)

    def test_the_output_is_the_same_whatever_the_order(self):
        self.write("index.html", b'<script src="/ui/app.js"></script><link href="/ui/z.css">')
        self.write("app.js", b'import("/ui/b/m.js"); import("/ui/a.js");' * 50)
        self.write("a.js", b'import("/ui/b/m.js");')
        self.write("b/m.js", b"m")
        self.write("z.css", b"a{background:url(/ui/a.js)}")
        first = self.embed()
        self.assertEqual(self.embed(), first)
        self.assertEqual(self.embed(order=lambda it: sorted(it, reverse=True)), first)

    def test_an_empty_file_embeds(self):
        self.write("empty.txt", b"")
        got = parse(self.embed())
        self.assertEqual(got["empty.txt"][0], b"")
        self.assertEqual(got["empty.txt"][2], hashlib.sha256(b"").hexdigest())


if __name__ == "__main__":
    unittest.main(verbosity=2)
