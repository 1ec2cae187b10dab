# SPDX-License-Identifier: Apache-2.0
"""Offline bundles (issue 17, docs/bundle.md), end to end: `sluice export`
against a real server, then `verify-bundle` and `import` with no server,
and every way a carried bundle can be wrong: a changed byte, a missing
proof, a wrong key, a rolled-back checkpoint, truncation, entries out of
order or duplicated, path traversal, a manifest that lies about sizes."""
import base64
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}
MANIFEST = "sluice-bundle.json"


def read_tar(path):
    """[(name, bytes)] in order."""
    out = []
    with tarfile.open(path, "r:") as t:
        for m in t.getmembers():
            out.append((m.name, t.extractfile(m).read() if m.isfile() else None))
    return out


def write_tar(path, entries, fix=True, links=()):
    """Writes ENTRIES [(name, bytes)] as a ustar; with FIX the manifest's
    sizes and digests are recomputed for the entries it lists."""
    entries = list(entries)
    if fix:
        man = json.loads(dict(entries)[MANIFEST])
        data = dict(entries)
        for e in man["entries"]:
            if e["name"] in data and not e["name"].startswith("files/"):
                e["size"] = len(data[e["name"]])
                e["sha256"] = hashlib.sha256(data[e["name"]]).hexdigest()
        entries = [(n, json.dumps(man).encode() if n == MANIFEST else b) for n, b in entries]
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for name, body in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(body)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(body))
        for name, target in links:
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            t.addfile(ti)


def other_vkey(name="sluice"):
    pub = random.Random(5).randbytes(32)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    return "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x01" + pub).decode())


class Bundles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-bundle-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.tok = {w: cls.srv.add_user(w) for w in ("alice", "bob")}
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
            cls.model = os.path.join(cls.tmp, "m")
            sv.make_model(cls.model, big=1 << 20, rng=random.Random(3))
            r = cls.run_as("alice", "push", "acme/m", cls.model, "--facts", cls.facts, "--json")
            assert r.rc == 0, r
            cls.pushed = json.loads(r.stdout)
            cls.bundle = os.path.join(cls.tmp, "m.bundle")
            r = cls.run_as("alice", "export", "acme/m", "--out", cls.bundle, "--json")
            assert r.rc == 0, r
            cls.exported = json.loads(r.stdout)
            r = cls.run_as("alice", "log", "key")
            assert r.rc == 0, r
            cls.vkey = r.stdout.strip().splitlines()[-1]
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
    def run_as(cls, who, *args, home=None, timeout=180):
        env = cls.srv.client_env(cls.tok.get(who), home or os.path.join(cls.tmp, "home-" + who))
        return st.run(*args, env=env, timeout=timeout)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.work, *parts)

    def offline(self, *args, key=True):
        """A machine that never saw the server: a fresh home, no server URL."""
        env = sv.clean_env({"HOME": self.p("home"), "XDG_STATE_HOME": self.p("home", "s"),
                            "XDG_CONFIG_HOME": self.p("home", "c"),
                            "XDG_CACHE_HOME": self.p("home", "k"),
                            "SLUICE_URL": "http://127.0.0.1:9"})
        if key:
            args = args + ("--key", self.vkey)
        return st.run(*args, env=env, timeout=120)

    def tampered(self, entries, fix=True, links=()):
        path = self.p("bad.bundle")
        write_tar(path, entries, fix=fix, links=links)
        return path

    def assertRefused(self, r, rc, *words):
        self.assertEqual(r.rc, rc, r)
        self.assertEqual(r.stdout, "", r)
        for w in words:
            self.assertIn(w, r.stderr, r)

    def assertNothingImported(self, dest):
        left = []
        for root, dirs, files in os.walk(dest):
            left += [os.path.join(root, n) for n in dirs + files]
        self.assertEqual(left, [], "import left files behind")

    # ------------------------------------------------------------ round trip

    def test_export_verify_import_offline(self):
        self.assertEqual(self.exported["commit"], self.pushed["commit"])
        entries = read_tar(self.bundle)
        self.assertEqual(entries[0][0], MANIFEST)
        with tarfile.open(self.bundle, "r:") as t:
            for m in t.getmembers():
                self.assertEqual((m.mode, m.uid, m.gid, m.mtime), (0o644, 0, 0, 0), m.name)
        # reproducible: the same version exported again is the same file
        again = self.p("again.bundle")
        r = self.run_as("alice", "export", "acme/m@%d" % self.pushed["version"], "--out", again)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sv.sha256_file(again), sv.sha256_file(self.bundle))
        self.assertFalse(os.path.exists(again + ".sluice-export"))
        # with a local copy as --seed, nothing is downloaded
        r = self.run_as("alice", "export", "acme/m", "--out", self.p("seeded.bundle"), "--seed",
                        self.model, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.stdout)["bytes_downloaded"], 0, r.stdout)
        self.assertEqual(sv.sha256_file(self.p("seeded.bundle")), sv.sha256_file(self.bundle))
        self.assertEqual([n for n, _ in entries[1:5]],
                         ["server.vkey", "checkpoint", "log/version.json", "log/version.proof"])
        r = self.offline("verify-bundle", self.bundle, "--json")
        self.assertEqual(r.rc, 0, r)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["commit"], self.pushed["commit"])
        self.assertTrue(doc["verified"])
        dest = self.p("imp")
        r = self.offline("import", self.bundle, "--dest", dest, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sv.tree_digest(dest), sv.tree_digest(self.model))
        # the key may also come from a file, or from the pin of an earlier contact
        with open(self.p("key.vkey"), "w") as f:
            f.write(self.vkey + "\n")
        r = self.offline("verify-bundle", self.bundle, "--key", self.p("key.vkey"), key=False)
        self.assertEqual(r.rc, 0, r)
        r = self.run_as("alice", "verify-bundle", self.bundle)
        self.assertEqual(r.rc, 0, r)

    def test_no_key_anywhere(self):
        r = self.offline("verify-bundle", self.bundle, key=False)
        self.assertRefused(r, 2, "--key")

    # ------------------------------------------------------------ tampering

    def test_changed_byte_in_a_file(self):
        entries = read_tar(self.bundle)
        out = []
        for n, b in entries:
            if n == "files/big.bin":
                b = b[:1000] + bytes([b[1000] ^ 1]) + b[1001:]
            out.append((n, b))
        dest = self.p("imp")
        r = self.offline("import", self.tampered(out), "--dest", dest)
        self.assertRefused(r, 1, "files/big.bin")
        self.assertNothingImported(dest)
        # the manifest's digest made to agree changes nothing: the log decides
        r = self.offline("verify-bundle", self.tampered(out, fix=True))
        self.assertRefused(r, 1, "files/big.bin")

    def test_changed_log_entry(self):
        entries = read_tar(self.bundle)
        out = [(n, b.replace(b'"tier":"open"', b'"tier":"gated"') if n == "log/version.json"
                else b) for n, b in entries]
        self.assertNotEqual(out, entries)
        r = self.offline("verify-bundle", self.tampered(out))
        self.assertRefused(r, 1, "not in the signed log")

    def test_missing_proof(self):
        entries = read_tar(self.bundle)
        proof = json.loads(dict(entries)["log/version.proof"])
        proof["proof"] = []
        out = [(n, json.dumps(proof).encode() if n == "log/version.proof" else b)
               for n, b in entries]
        r = self.offline("verify-bundle", self.tampered(out))
        self.assertRefused(r, 1, "not in the signed log")
        # the entry gone altogether (manifest too): malformed
        man = json.loads(dict(entries)[MANIFEST])
        man["entries"] = [e for e in man["entries"] if e["name"] != "log/version.proof"]
        out = [(n, json.dumps(man).encode() if n == MANIFEST else b)
               for n, b in entries if n != "log/version.proof"]
        r = self.offline("verify-bundle", self.tampered(out, fix=False))
        self.assertRefused(r, 2, "out of place")

    def test_wrong_key(self):
        r = self.offline("verify-bundle", self.bundle, "--key", other_vkey(), key=False)
        self.assertRefused(r, 1, "not the trusted")
        # a bundle whose key was swapped for another one
        entries = read_tar(self.bundle)
        out = [(n, (other_vkey() + "\n").encode() if n == "server.vkey" else b)
               for n, b in entries]
        r = self.offline("verify-bundle", self.tampered(out))
        self.assertRefused(r, 1, "not the trusted")

    def test_rolled_back_checkpoint(self):
        old = read_tar(self.bundle)
        # the log grows: another version
        folder = self.p("m2")
        sv.make_model(folder, big=1 << 20, rng=random.Random(8))
        r = self.run_as("alice", "push", "acme/m", folder, "--facts", self.facts, "--json")
        self.assertEqual(r.rc, 0, r)
        newer = self.p("m2.bundle")
        r = self.run_as("alice", "export", "acme/m", "--out", newer)
        self.assertEqual(r.rc, 0, r)
        new = read_tar(newer)
        # an older (validly signed) checkpoint swapped into the newer bundle
        out = [(n, dict(old)["checkpoint"] if n == "checkpoint" else b) for n, b in new]
        r = self.offline("verify-bundle", self.tampered(out))
        self.assertRefused(r, 1)
        self.assertNotIn("Traceback", r.stderr)
        # a machine that verified the newer log refuses the older checkpoint
        home = self.p("bobhome")
        r = self.run_as("bob", "verify-bundle", newer, "--key", self.vkey, home=home)
        self.assertEqual(r.rc, 0, r)
        r = self.run_as("bob", "log", "verify", home=home)
        self.assertEqual(r.rc, 0, r)
        r = self.run_as("bob", "verify-bundle", self.bundle, "--key", self.vkey, home=home)
        self.assertRefused(r, 1, "older than the one this machine verified")
        # naming another server in the (unsigned) manifest does not escape it
        entries = read_tar(self.bundle)
        man = json.loads(dict(entries)[MANIFEST])
        man["server"] = "http://elsewhere.example"
        out = [(n, json.dumps(man).encode() if n == MANIFEST else b) for n, b in entries]
        r = self.run_as("bob", "verify-bundle", self.tampered(out, fix=False), "--key", self.vkey,
                        home=home)
        self.assertRefused(r, 1, "older than the one this machine verified")

    # ------------------------------------------------------------ bad input: exit 2

    def test_truncated(self):
        with open(self.bundle, "rb") as f:
            data = f.read()
        for cut in (100, 700, len(data) // 2):
            path = self.p("cut.bundle")
            with open(path, "wb") as f:
                f.write(data[:cut])
            dest = self.p("imp%d" % cut)
            r = self.offline("import", path, "--dest", dest)
            self.assertRefused(r, 2, "truncated")
            self.assertNothingImported(dest)
        r = self.offline("verify-bundle", path)
        self.assertRefused(r, 2, "files/big.bin")

    def test_out_of_order(self):
        entries = read_tar(self.bundle)
        files = [e for e in entries if e[0].startswith("files/")]
        rest = [e for e in entries if not e[0].startswith("files/")]
        out = rest + list(reversed(files))
        r = self.offline("verify-bundle", self.tampered(out, fix=False))
        self.assertRefused(r, 2, "out of the manifest's order", files[-1][0])
        # the manifest first, always
        out = entries[1:2] + entries[:1] + entries[2:]
        r = self.offline("verify-bundle", self.tampered(out, fix=False))
        self.assertRefused(r, 2, "first entry must be " + MANIFEST)

    def test_duplicate_entries(self):
        entries = read_tar(self.bundle)
        i = [n for n, _ in entries].index("files/config.json")
        out = entries[:i + 1] + [entries[i]] + entries[i + 1:]
        dest = self.p("imp")
        r = self.offline("import", self.tampered(out, fix=False), "--dest", dest)
        self.assertRefused(r, 2, "second copy", "files/config.json")
        self.assertNothingImported(dest)
        man = json.loads(dict(entries)[MANIFEST])
        man["entries"].append(dict(man["entries"][-1]))
        out = [(n, json.dumps(man).encode() if n == MANIFEST else b) for n, b in entries]
        r = self.offline("verify-bundle", self.tampered(out, fix=False))
        self.assertRefused(r, 2, "listed twice")

    def test_path_traversal(self):
        entries = read_tar(self.bundle)
        outside = os.path.join(self.work, "evil")
        for bad in ("files/../../evil", "../evil", "/tmp/evil", "files/a/../../../evil"):
            # named in the tar only
            out = entries + [(bad, b"pwned")]
            dest = self.p("imp", "d")
            r = self.offline("import", self.tampered(out, fix=False), "--dest", dest)
            self.assertRefused(r, 2, bad)
            self.assertFalse(os.path.exists(outside))
            # named in the manifest too, in place of a real file
            man = json.loads(dict(entries)[MANIFEST])
            for e in man["entries"]:
                if e["name"] == "files/config.json":
                    e["name"] = bad
            out = [(bad if n == "files/config.json" else n,
                    json.dumps(man).encode() if n == MANIFEST else b) for n, b in entries]
            r = self.offline("import", self.tampered(out, fix=False), "--dest", dest)
            self.assertRefused(r, 2, bad)
            self.assertFalse(os.path.exists(outside))
            self.assertFalse(os.path.exists("/tmp/evil") and
                             open("/tmp/evil", "rb").read() == b"pwned")
            if os.path.exists(dest):
                self.assertNothingImported(dest)
        # a symbolic link entry
        dest = self.p("imp2")
        r = self.offline("import", self.tampered(entries, fix=False,
                                                 links=[("files/link", "/etc/passwd")]),
                         "--dest", dest)
        self.assertRefused(r, 2, "not a regular file")
        self.assertNothingImported(dest)

    def test_extra_entry_after_the_last(self):
        entries = read_tar(self.bundle) + [("files/extra.bin", b"more")]
        dest = self.p("imp")
        r = self.offline("import", self.tampered(entries, fix=False), "--dest", dest)
        self.assertRefused(r, 2, "files/extra.bin", "not in the manifest")
        self.assertNothingImported(dest)

    def test_more_than_100_files_is_said_clearly(self):
        folder = self.p("many")
        os.makedirs(folder)
        for i in range(101):
            with open(os.path.join(folder, "f%03d.txt" % i), "w") as f:
                f.write("file %d\n" % i)
        r = self.run_as("alice", "push", "acme/many", folder, "--facts", self.facts)
        self.assertEqual(r.rc, 0, r)
        bundle = self.p("many.bundle")
        r = self.run_as("alice", "export", "acme/many", "--out", bundle)
        self.assertEqual(r.rc, 0, r)
        r = self.offline("verify-bundle", bundle)
        self.assertRefused(r, 2, "100")

    def test_manifest_lies_about_sizes(self):
        entries = read_tar(self.bundle)
        man = json.loads(dict(entries)[MANIFEST])
        for e in man["entries"]:
            if e["name"] == "files/config.json":
                e["size"] += 1
        out = [(n, json.dumps(man).encode() if n == MANIFEST else b) for n, b in entries]
        dest = self.p("imp")
        r = self.offline("import", self.tampered(out, fix=False), "--dest", dest)
        self.assertRefused(r, 2, "files/config.json", "the manifest says")
        self.assertNothingImported(dest)

    def test_manifest_without_a_version_number(self):
        # The fuzzer's find: the version is not under the log's signature,
        # and a manifest that renamed or dropped it once verified and then
        # crashed reporting it. Each variant must be a clear refusal.
        entries = read_tar(self.bundle)
        for i, change in enumerate(({"drop": True}, {"version": "1"}, {"version": 0},
                       {"version": None}, {"version": [1]})):
            man = json.loads(dict(entries)[MANIFEST])
            if change.get("drop"):
                del man["version"]
            else:
                man["version"] = change["version"]
            out = [(n, json.dumps(man).encode() if n == MANIFEST else b)
                   for n, b in entries]
            dest = self.p("imp-v%d" % i)
            r = self.offline("import", self.tampered(out, fix=False), "--dest", dest)
            self.assertRefused(r, 2, "version", "positive whole number")
            self.assertNothingImported(dest)

    def test_not_a_bundle(self):
        path = self.p("junk")
        with open(path, "wb") as f:
            f.write(b"\x00" * 100 + b"junk" * 300)
        r = self.offline("verify-bundle", path)
        self.assertRefused(r, 2)
        r = self.offline("verify-bundle", self.p("missing"))
        self.assertEqual(r.rc, 3, r)

    # ------------------------------------------------------------ gated

    def test_gated_copy_stays_fingerprinted(self):
        folder = self.p("g")
        sv.make_model(folder, big=1 << 20, rng=random.Random(12), rows=512)
        r = self.run_as("alice", "push", "acme/g", folder, "--facts", self.facts, "--tier",
                        "gated", "--json")
        self.assertEqual(r.rc, 0, r)
        r = self.run_as("bob", "access", "request", "acme/g", "--purpose", "evaluation")
        self.assertEqual(r.rc, 0, r)
        r = self.run_as("alice", "access", "approve", "acme/g", "bob")
        self.assertEqual(r.rc, 0, r)
        pulled = self.p("bob-pull")
        r = self.run_as("bob", "pull", "acme/g", "--dest", pulled)
        self.assertEqual(r.rc, 0, r)
        bundle = self.p("g.bundle")
        r = self.run_as("bob", "export", "acme/g", "--out", bundle)
        self.assertEqual(r.rc, 0, r)
        names = [n for n, _ in read_tar(bundle)]
        self.assertIn("copy-manifest.note", names)
        self.assertIn("LICENSE.sluice", names)
        dest = self.p("g-imp")
        r = self.offline("import", bundle, "--dest", dest)
        self.assertEqual(r.rc, 0, r)
        # byte for byte what a pull gives this recipient
        for n in ("model.safetensors", "big.bin", "config.json"):
            self.assertEqual(sv.sha256_file(os.path.join(dest, n)),
                             sv.sha256_file(os.path.join(pulled, n)), n)
        self.assertTrue(os.path.exists(os.path.join(dest, "LICENSE.sluice")))
        # the canonical (unmarked) file in place of the marked one is refused
        entries = read_tar(bundle)
        with open(os.path.join(folder, "model.safetensors"), "rb") as f:
            canon = f.read()
        marked = dict(entries)["files/model.safetensors"]
        self.assertNotEqual(canon, marked, "the exported copy is not fingerprinted")
        out = [(n, canon if n == "files/model.safetensors" else b) for n, b in entries]
        r = self.offline("verify-bundle", self.tampered(out))
        self.assertRefused(r, 1, "files/model.safetensors")
        # withheld: nothing to export
        r = self.run_as("alice", "push", "acme/w", folder, "--facts", self.facts, "--tier",
                        "withheld")
        self.assertEqual(r.rc, 0, r)
        r = self.run_as("bob", "export", "acme/w", "--out", self.p("w.bundle"))
        self.assertEqual(r.rc, 1, r)
        self.assertFalse(os.path.exists(self.p("w.bundle")))


if __name__ == "__main__":
    st.main()
