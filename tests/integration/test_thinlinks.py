# SPDX-License-Identifier: Apache-2.0
"""Thin links (issue 17), end to end against a real server: delta pulls that
fetch only the chunks no local file holds, resumed and checked chunk by
chunk; --include/--exclude; --limit-rate measured by the clock; the retry
budget; the chunk-list endpoint's download rule."""
import hashlib
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"training": {"tokens": 1e9}}
RAW_FACTS = {"params": 4224, "training": {"tokens": 1e9}}  # for folders without weights
NTENSORS = 48
ROWS, COLS = 256, 512  # F32: 512 KiB a tensor, 24 MiB in all
MIB = 1 << 20
OUTAGE, RETRY_FOR = 30, "1m"  # the issue: an outage of 30 s survived with --retry-for 1m


def tensor_bytes(seed):
    return random.Random(seed).randbytes(ROWS * COLS * 4)


def write_model(folder, seeds):
    """A safetensors file of NTENSORS F32 tensors whose data come from SEEDS
    (one per tensor), plus config.json."""
    os.makedirs(folder, exist_ok=True)
    tensors = [("layers.%02d.weight" % i, "F32", [ROWS, COLS]) for i in range(NTENSORS)]
    hdr, _ = st.st_header(tensors, {"format": "pt"})
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for s in seeds:
            f.write(tensor_bytes(s))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "hidden_size": COLS}, f)


class Relay(sv.ThrottledProxy):
    """The shared relay, also noting when each downstream block passed; with
    PORT it listens there (a link that comes back after an outage)."""

    def __init__(self, target, rate=1e12, port=None):
        self.times = []
        if port is None:
            super().__init__(target, rate)
            return
        self.target_port = target
        self.rate = float(rate)
        self.lock = threading.Lock()
        self.downstream = 0
        self._next = time.monotonic()
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(64)
        self.port = port
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _take(self, n):
        super()._take(n)
        with self.lock:
            self.times.append((time.monotonic(), n))


class ThinLinks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-thin-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.eve = cls.srv.add_user("eve")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
            cls.raw_facts = os.path.join(cls.tmp, "raw-facts.json")
            with open(cls.raw_facts, "w") as f:
                json.dump(RAW_FACTS, f)
            cls.seeds1 = list(range(NTENSORS))
            cls.v1_dir = os.path.join(cls.tmp, "v1")
            write_model(cls.v1_dir, cls.seeds1)
            cls.v1 = cls.push_as(cls.alice, "acme/delta", cls.v1_dir)
            # v2: one tensor of 48 replaced
            cls.seeds2 = list(cls.seeds1)
            cls.seeds2[17] = 1000
            cls.v2_dir = os.path.join(cls.tmp, "v2")
            write_model(cls.v2_dir, cls.seeds2)
            cls.v2 = cls.push_as(cls.alice, "acme/delta", cls.v2_dir)
            # v3: v2 with 4 bytes changed in the middle of tensor 30
            cls.v3_dir = os.path.join(cls.tmp, "v3")
            shutil.copytree(cls.v2_dir, cls.v3_dir)
            path = os.path.join(cls.v3_dir, "model.safetensors")
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.seek(size - 17 * ROWS * COLS * 4 + 12345)
                f.write(b"\x01\x02\x03\x04")
            cls.v3 = cls.push_as(cls.alice, "acme/delta", cls.v3_dir)
            # v4: half the tensors replaced (for the interrupted pull)
            cls.seeds4 = [s if i % 2 else 5000 + i for i, s in enumerate(cls.seeds1)]
            cls.v4_dir = os.path.join(cls.tmp, "v4")
            write_model(cls.v4_dir, cls.seeds4)
            cls.v4 = cls.push_as(cls.alice, "acme/delta", cls.v4_dir)
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
    def push_as(cls, token, model, folder, *args, facts=None):
        env = cls.srv.client_env(token, os.path.join(cls.tmp, "home-push"))
        r = st.run("push", model, folder, "--facts", facts or cls.facts, "--json", *args,
                   env=env, timeout=300)
        assert r.rc == 0, r
        return json.loads(r.stdout)

    def setUp(self):
        self.assertTrue(self.srv.running(), self.srv.stderr()[-3000:])
        self.work = tempfile.mkdtemp(prefix="t-", dir=self.tmp)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        self.home = os.path.join(self.work, "home")

    def p(self, *parts):
        return os.path.join(self.work, *parts)

    def pull(self, spec, dest, *args, url=None, token=None, timeout=180):
        env = self.srv.client_env(token, self.home, url)
        return st.run("pull", spec, "--dest", dest, *args, env=env, timeout=timeout)

    def pull_json(self, spec, dest, *args, **kw):
        r = self.pull(spec, dest, "--json", *args, **kw)
        self.assertEqual(r.rc, 0, repr(r))
        return json.loads(r.stdout)

    def relay(self, rate=1e12):
        r = Relay(self.srv.port, rate)
        self.addCleanup(r.close)
        return r

    def assertTree(self, folder, want_folder):
        self.assertEqual(sv.tree_digest(folder), sv.tree_digest(want_folder))

    # ------------------------------------------------------------ delta pulls

    def test_one_tensor_of_48_moves_under_5_percent(self):
        dest = self.p("out")
        full = self.pull_json("acme/delta@%d" % self.v1["version"], dest)
        total = full["bytes_total"]
        self.assertEqual(full["bytes_downloaded"], total, full)
        self.assertEqual(full["bytes_reused"], 0, full)
        relay = self.relay()
        got = self.pull_json("acme/delta@%d" % self.v2["version"], dest, url=relay.url)
        relay.close()
        self.assertTree(dest, self.v2_dir)
        self.assertEqual(got["commit"], self.v2["commit"])
        self.assertEqual(got["bytes_total"], total, got)
        self.assertLess(got["bytes_downloaded"], 0.05 * total, got)
        self.assertLess(relay.downstream, 0.05 * total, "bytes on the wire")
        self.assertGreaterEqual(got["bytes_downloaded"], ROWS * COLS * 4, got)
        self.assertEqual(got["bytes_downloaded"] + got["bytes_reused"], total, got)
        self.assertEqual(sorted(os.listdir(dest)), ["config.json", "model.safetensors"])

    def test_four_byte_change_moves_under_1_mib(self):
        dest = self.p("out")
        self.pull_json("acme/delta@%d" % self.v2["version"], dest)
        relay = self.relay()
        got = self.pull_json("acme/delta@%d" % self.v3["version"], dest, url=relay.url)
        relay.close()
        self.assertTree(dest, self.v3_dir)
        self.assertLess(got["bytes_downloaded"], MIB, got)
        self.assertGreater(got["bytes_downloaded"], 0, got)
        self.assertLess(relay.downstream, MIB + 256 * 1024, "bytes on the wire")

    def test_seed_folder_elsewhere(self):
        """A fresh destination reuses chunks from a --seed folder."""
        seed = self.p("old")
        self.pull_json("acme/delta@%d" % self.v1["version"], seed)
        dest = self.p("new")
        got = self.pull_json("acme/delta@%d" % self.v2["version"], dest, "--seed", seed)
        self.assertTree(dest, self.v2_dir)
        self.assertLess(got["bytes_downloaded"], 0.05 * got["bytes_total"], got)
        self.assertTree(seed, self.v1_dir)  # the seed is only read

    def test_without_local_copies_everything_is_fetched(self):
        dest = self.p("out")
        got = self.pull_json("acme/delta@%d" % self.v2["version"], dest)
        self.assertEqual(got["bytes_downloaded"], got["bytes_total"], got)
        self.assertTree(dest, self.v2_dir)

    def test_corrupted_cached_chunk_is_refetched(self):
        """The scan cache claims chunks a local file no longer holds (the file
        changed behind its back, the entry still matches): each reused chunk is
        checked, the bad one fetched, and the result is exact."""
        dest = self.p("out")
        cache = self.p("cache")
        self.pull_json("acme/delta@%d" % self.v1["version"], dest, "--cache", cache)
        # a delta pull records the new file's chunk list (the server's) in the cache
        self.pull_json("acme/delta@%d" % self.v2["version"], dest, "--cache", cache)
        target = os.path.realpath(os.path.join(dest, "model.safetensors"))
        entries = os.listdir(cache)
        self.assertTrue(entries, "no scan cache entries")
        # corrupt tensor 5, then make the entry match the file's new stat
        size = os.path.getsize(target)
        off = size - (NTENSORS - 5) * ROWS * COLS * 4 + 1000
        with open(target, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0xFF]))
        found = False
        for name in entries:
            path = os.path.join(cache, name)
            with open(path, "rb") as f:
                blob = bytearray(f.read())
            plen = struct.unpack_from("<I", blob, 12)[0]
            if bytes(blob[56:56 + plen]).decode() != target:
                continue
            self.assertEqual(struct.unpack_from("<I", blob, 8)[0] & 1, 1, "no chunk list")
            stt = os.stat(target)
            struct.pack_into("<QqqQQ", blob, 16, stt.st_size, stt.st_mtime_ns, stt.st_ctime_ns,
                             stt.st_ino, stt.st_dev)
            blob[-32:] = hashlib.sha256(bytes(blob[:-32])).digest()
            with open(path, "wb") as f:
                f.write(blob)
            found = True
        self.assertTrue(found, "no cache entry for %s" % target)
        got = self.pull_json("acme/delta@%d" % self.v1["version"], dest, "--cache", cache)
        self.assertTree(dest, self.v1_dir)
        self.assertGreaterEqual(got["bad_local_chunks"], 1, got)
        # two tensors' worth at most: the changed one and the corrupted chunk
        self.assertLess(got["bytes_downloaded"], 0.05 * got["bytes_total"], got)
        self.assertGreater(got["bytes_downloaded"], ROWS * COLS * 4, got)

    def test_interrupted_delta_pull_resumes(self):
        dest = self.p("out")
        self.pull_json("acme/delta@%d" % self.v1["version"], dest)
        changed = (NTENSORS // 2) * ROWS * COLS * 4
        slow = self.relay(3e6)
        env = self.srv.client_env(None, self.home, slow.url)
        proc = subprocess.Popen([sv.BIN, "pull", "acme/delta@%d" % self.v4["version"], "--dest",
                                 dest, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        state = os.path.join(dest, "model.safetensors.sluice-part.state")
        deadline = time.monotonic() + 30
        saved_net = 0
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                with open(state) as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                continue
            # bytes done in ranges not complete plus complete ones beyond the
            # locally copied: network progress shows as partly done ranges
            saved_net = slow.downstream
            if saved_net > changed // 4:
                time.sleep(0.5)  # one more save of the state
                break
        if proc.poll() is not None:
            self.fail("the pull ended before it could be interrupted: %r"
                      % (proc.communicate(),))
        proc.kill()
        proc.communicate()
        slow.close()
        first = slow.downstream
        self.assertLess(first, changed, "too late to interrupt")
        with open(state) as f:
            doc = json.load(f)
        lens = [ln for _, ln in doc["ranges"]]
        left = sum(lens) - sum(doc["done"])
        # network progress was saved: a range part way through
        self.assertTrue(any(0 < d < ln for d, ln in zip(doc["done"], lens)), doc)
        # the old file is untouched
        self.assertEqual(sv.sha256_file(os.path.join(dest, "model.safetensors")),
                         sv.sha256_file(os.path.join(self.v1_dir, "model.safetensors")))
        fast = self.relay()
        got = self.pull_json("acme/delta@%d" % self.v4["version"], dest, url=fast.url)
        fast.close()
        self.assertTree(dest, self.v4_dir)
        # exactly what the first run had not saved, and no more on the wire
        self.assertEqual(got["bytes_downloaded"], left, got)
        self.assertLess(fast.downstream, left + MIB, "bytes on the wire")
        self.assertLess(got["bytes_downloaded"], 0.75 * got["bytes_total"], got)
        self.assertEqual(sorted(os.listdir(dest)), ["config.json", "model.safetensors"])

    # ------------------------------------------------------------ the endpoint

    def chunks_path(self, model, commit, path):
        return "/api/v1/models/%s/versions/%s/chunks/%s" % (model, commit, path)

    def test_chunk_list_matches_the_file(self):
        r = self.srv.request("GET", self.chunks_path("acme/delta", self.v2["commit"],
                                                     "model.safetensors"))
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        data = open(os.path.join(self.v2_dir, "model.safetensors"), "rb").read()
        self.assertEqual(doc["size"], len(data))
        at = 0
        for off, ln, hx in doc["chunks"]:
            self.assertEqual(off, at)
            self.assertEqual(hashlib.sha256(data[off:off + ln]).hexdigest(), hx)
            at += ln
        self.assertEqual(at, len(data))
        r = self.srv.request("GET", self.chunks_path("acme/delta", self.v2["commit"], "nope.bin"))
        self.assertEqual(r.status, 404, r)

    def test_chunk_list_follows_the_download_rule(self):
        folder = self.p("g")
        # its own tensors: a version that shared most chunks with the open
        # ones would make their later copies inherit its tier (provenance)
        write_model(folder, [7000 + i for i in range(NTENSORS)])
        gated = self.push_as(self.alice, "acme/gated", folder, "--tier", "gated")
        withheld = self.push_as(self.alice, "acme/secret", folder, "--tier", "withheld")
        for model, pushed in (("acme/gated", gated), ("acme/secret", withheld)):
            path = self.chunks_path(model, pushed["commit"], "model.safetensors")
            r = self.srv.request("GET", path)
            self.assertIn(r.status, (401, 403), r)
            r = self.srv.request("GET", path, token=self.eve)
            self.assertEqual(r.status, 403, r)
            self.assertNotIn(b"chunks", r.body)
        # the publisher may download the gated files, but there is no chunk
        # list: a copy may be fingerprinted and the digests would be an oracle
        r = self.srv.request("GET", self.chunks_path("acme/gated", gated["commit"],
                                                     "model.safetensors"), token=self.alice)
        self.assertEqual(r.status, 409, r)
        self.assertNotIn(b"chunks\"", r.body)
        # a gated pull over an earlier copy is whole and exact
        dest = self.p("gout")
        env_tok = self.alice
        self.pull_json("acme/gated", dest, token=env_tok)
        got = self.pull_json("acme/gated", dest, token=env_tok)
        self.assertEqual(got["bytes_downloaded"], 0, got)
        self.assertTree(dest, folder)

    def test_chunk_list_of_a_click_version_needs_the_acceptance(self):
        folder = self.p("c")
        write_model(folder, [9000 + i for i in range(2)] + list(range(NTENSORS - 2)))
        lic = self.p("license.txt")
        with open(lic, "w") as f:
            f.write("Use it kindly.\n")
        click = self.push_as(self.alice, "acme/click", folder, "--tier", "click", "--license", lic)
        path = self.chunks_path("acme/click", click["commit"], "model.safetensors")
        self.assertEqual(self.srv.request("GET", path).status, 401)
        self.assertEqual(self.srv.request("GET", path, token=self.eve).status, 403)
        env = self.srv.client_env(self.eve, self.home)
        r = st.run("accept", "acme/click", env=env)
        self.assertEqual(r.rc, 0, r)
        r = self.srv.request("GET", path, token=self.eve)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["chunks"]) > 0, True)
        # and a click pull over an earlier copy is a delta
        dest = self.p("cout")
        self.pull_json("acme/delta@%d" % self.v1["version"], dest)
        got = self.pull_json("acme/click", dest, token=self.eve)
        self.assertTree(dest, folder)
        self.assertLess(got["bytes_downloaded"], 0.1 * got["bytes_total"], got)

    # ------------------------------------------------------------ selection

    def test_include_exclude(self):
        folder = self.p("sel")
        sv.make_model(folder, big=1 << 20, rng=random.Random(4))
        self.push_as(self.alice, "acme/sel", folder, facts=self.raw_facts)
        dest = self.p("a")
        got = self.pull_json("acme/sel", dest, "--include", "*.json", "--include", "sub/")
        self.assertEqual(sorted(f["path"] for f in got["files"]),
                         ["config.json", "sub/dir/extra.txt"])
        self.assertEqual(sorted(os.listdir(dest)), ["config.json", "sub"])
        # '*' crosses '/', as in huggingface_hub
        dest = self.p("b")
        got = self.pull_json("acme/sel", dest, "--include", "*.txt")
        self.assertEqual([f["path"] for f in got["files"]], ["sub/dir/extra.txt"])
        # excludes win over includes
        dest = self.p("c")
        got = self.pull_json("acme/sel", dest, "--exclude", "*.bin", "--exclude", "sub/*")
        self.assertEqual(sorted(f["path"] for f in got["files"]),
                         ["config.json", "model.safetensors"])
        self.assertFalse(os.path.exists(os.path.join(dest, "big.bin")))
        self.assertEqual(got["bytes_total"],
                         sum(os.path.getsize(os.path.join(folder, n))
                             for n in ("config.json", "model.safetensors")))
        # case-sensitive; selecting nothing is a usage error naming the options
        r = self.pull("acme/sel", self.p("d"), "--include", "*.JSON")
        self.assertEqual(r.rc, 2, r)
        self.assertIn("--include/--exclude", r.stderr)
        r = self.pull("acme/sel", self.p("d"), "--include", "")
        self.assertEqual(r.rc, 2, r)

    # ------------------------------------------------------------ politeness

    def test_progress_line_shows_rate_eta_and_reuse(self):
        """On a terminal the pull draws one line: bytes, rate, ETA, reused."""
        import pty
        dest = self.p("out")
        self.pull_json("acme/delta@%d" % self.v1["version"], dest)
        env = self.srv.client_env(None, self.home)
        master, slave = pty.openpty()
        proc = subprocess.Popen([sv.BIN, "pull", "acme/delta@%d" % self.v4["version"], "--dest",
                                 dest, "--limit-rate", "4M"], stdout=subprocess.PIPE,
                                stderr=slave, env=env)
        os.close(slave)
        seen = b""
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:
                break
            if not b:
                break
            seen += b
        os.close(master)
        proc.communicate()
        self.assertEqual(proc.returncode, 0, seen)
        text = seen.decode("utf-8", "replace")
        lines = [ln for ln in text.split("\r") if "downloading" in ln]
        self.assertTrue(lines, text)
        self.assertTrue(any("/s" in ln and "ETA" in ln and "reused)" in ln for ln in lines),
                        lines[-3:])
        self.assertTree(dest, self.v4_dir)

    def test_limit_rate_bad_values(self):
        for bad in ("0", "garbage", "2.5M", "-1", "2X", "", "2MB", "99999999999999G"):
            r = self.pull("acme/delta", self.p("x"), "--limit-rate", bad)
            self.assertEqual(r.rc, 2, (bad, r))
            self.assertIn("limit-rate", r.stderr, bad)
            self.assertEqual(r.stderr.count("\n"), 1 + r.stderr.count("usage:"), r.stderr)
        for bad in ("abc", "1d", "-5s", "10 m"):
            r = self.pull("acme/delta", self.p("x"), "--retry-for", bad)
            self.assertEqual(r.rc, 2, (bad, r))
            self.assertIn("retry-for", r.stderr)
        env = self.srv.client_env(self.alice, self.home)
        r = st.run("push", "acme/delta", self.v1_dir, "--limit-rate", "0", env=env)
        self.assertEqual(r.rc, 2, r)
        self.assertFalse(os.path.exists(self.p("x")))

    def test_limit_rate_2m_within_15_percent(self):
        folder = self.p("rate")
        sv.write_random(os.path.join(folder, "w.bin"), 8 * MIB, random.Random(9))
        self.push_as(self.alice, "acme/rate", folder, facts=self.raw_facts)
        t0 = time.monotonic()
        got = self.pull_json("acme/rate", self.p("out"), "--limit-rate", "2M", "--no-cache")
        wall = time.monotonic() - t0
        self.assertEqual(got["bytes_downloaded"], 8 * MIB)
        # measured by the clock of the whole command (start-up included): the
        # relay's side would count what sits in socket buffers as delivered
        rate = 8 * MIB / wall
        self.assertGreater(rate, 0.85 * 2 * MIB, "measured %.0f B/s in %.2f s" % (rate, wall))
        self.assertLess(rate, 1.15 * 2 * MIB, "measured %.0f B/s in %.2f s" % (rate, wall))

    def test_push_limit_rate(self):
        folder = self.p("prate")
        sv.write_random(os.path.join(folder, "w.bin"), 3 * MIB, random.Random(10))
        env = self.srv.client_env(self.alice, self.home)
        t0 = time.monotonic()
        r = st.run("push", "acme/prate", folder, "--facts", self.raw_facts, "--limit-rate", "1M",
                   "--json", env=env, timeout=120)
        wall = time.monotonic() - t0
        self.assertEqual(r.rc, 0, r)
        self.assertGreater(wall, 0.85 * 3, "3 MiB at 1 MiB/s took %.2f s" % wall)
        self.assertLess(wall, 3 * 1.15 + 3, "3 MiB at 1 MiB/s took %.2f s" % wall)

    def test_outage_of_30s_survived(self):
        """The link goes down for 30 s in the middle of a pull (a relay between
        client and server is closed, connections cut, then opened again on
        the same port): with --retry-for 1m the pull resumes and finishes."""
        folder = self.p("outage")
        sv.write_random(os.path.join(folder, "w.bin"), 6 * MIB, random.Random(11))
        self.push_as(self.alice, "acme/outage", folder, facts=self.raw_facts)
        link = self.relay()
        port = link.port
        env = self.srv.client_env(None, self.home, link.url)
        proc = subprocess.Popen([sv.BIN, "pull", "acme/outage", "--dest", self.p("out"),
                                 "--json", "--limit-rate", "512K", "--retry-for", RETRY_FOR],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        time.sleep(2)
        self.assertIsNone(proc.poll(), "the pull ended before the outage")
        link.close()
        try:
            time.sleep(OUTAGE)
            if proc.poll() is not None:
                self.fail("the pull gave up during the outage: %r" % (proc.communicate(),))
        finally:
            link = Relay(self.srv.port, port=port)
            self.addCleanup(link.close)
        out, errs = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, errs)
        doc = json.loads(out)
        self.assertEqual(doc["bytes_total"], 6 * MIB)
        # resumed where it stopped: not everything twice
        self.assertLess(doc["bytes_downloaded"], 6 * MIB + MIB, doc)
        self.assertTree(self.p("out"), folder)

    def test_retry_budget_runs_out(self):
        """--retry-for 0 with no server: fails at once with exit 3."""
        env = self.srv.client_env(None, self.home, "http://127.0.0.1:%d" % sv.free_port())
        t0 = time.monotonic()
        r = st.run("pull", "acme/delta", "--dest", self.p("x"), "--retry-for", "0", env=env)
        self.assertEqual(r.rc, 3, r)
        self.assertLess(time.monotonic() - t0, 20)


if __name__ == "__main__":
    st.main()
