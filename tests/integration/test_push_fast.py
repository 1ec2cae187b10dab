# SPDX-License-Identifier: Apache-2.0
"""Push at the disk's speed (issue 17, item 3), through the real server and
the real `sluice push`:

- the client uploads while it hashes: the first chunk request leaves before
  the last byte is hashed, and the pushed files come back byte for byte;
- the client's memory stays bounded (hashing buffers, one chunk per stream,
  the chunk lists), far below the size of the file it pushes;
- a file that changes while it is pushed stops the push with one clear line
  naming it, without hanging and without creating a version;
- the server computes a file's SHA-256 from the chunks as they arrive
  (?file=ID&from=K on the chunk uploads, ?session=ID at registration) and
  reads back only what it did not hash itself ("reread" in the answer):
  chunk lists that differ from what was streamed, chunks sent out of order,
  skipped (deduplicated) chunks, a failed upload, a restart, two sessions of
  one file, and a wrong declared digest are each caught; another org's chunk
  answers exactly as a chunk nobody stored.
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import server as sv
import sluicetest as st

MIB = 1 << 20
FACTS = {"params": 4224, "training": {"tokens": 1e9}}

# Runs a command and prints its peak resident size in KiB on the last line
# of stderr (the test process's own children would mix in the server).
RSS_WRAPPER = r"""
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
sys.stdout.buffer.write(r.stdout)
sys.stderr.buffer.write(r.stderr)
sys.stderr.write("\nmaxrss_kib=%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)
"""


class PushFast(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-pushfast-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.env = cls.srv.client_env(cls.alice, os.path.join(cls.tmp, "home"))
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
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

    def p(self, *parts):
        return os.path.join(self.tmp, *parts)

    def push(self, model, folder, *args, timeout=300):
        return st.run("push", model, folder, "--facts", self.facts, "--json",
                      *args, env=self.env, timeout=timeout)

    def test_uploads_while_hashing_and_round_trips(self):
        folder = self.p("overlap")
        # a big file (more than one round of up to 512 MiB) and small ones after it
        sv.make_model(folder, big=320 * MIB, rng=random.Random(1))
        r = self.push("acme/overlap", folder)
        self.assertEqual(r.rc, 0, r)
        doc = json.loads(r.stdout)
        sec = doc["seconds"]
        # the first chunk request left before hashing ended (the old push
        # hashed everything first)
        self.assertGreater(sec["first_upload"], 0, sec)
        self.assertLess(sec["first_upload"], sec["hash"], sec)
        self.assertEqual(doc["bytes_uploaded"], doc["bytes_local"], doc)
        # the server hashed the big file as its chunks arrived (4 streams,
        # so most requests ahead of their turn: held in memory windows until
        # then, not read back, which "bytes_reread" would count) and read
        # back only the small files
        small = doc["bytes_local"] - 320 * MIB
        self.assertEqual(doc["bytes_reread"], small, doc)
        out = self.p("overlap-out")
        r = st.run("pull", "acme/overlap", "--dest", out, "--json", env=self.env, timeout=300)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sv.tree_digest(out), sv.tree_digest(folder))
        # pushed again: nothing to send, and the version is the same files
        r = self.push("acme/overlap", folder)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.stdout)["bytes_uploaded"], 0)

    def test_ten_digit_size_and_repeated_chunks(self):
        """A file of 10^9 bytes (a ten-digit size in the registration URL
        beside its session) of zeros: every chunk but the last the same, sent once; the
        server reads back the repeats it did not receive."""
        folder = self.p("zeros")
        os.makedirs(folder)
        with open(os.path.join(folder, "z.bin"), "wb") as f:
            f.truncate(10 ** 9)
        r = self.push("acme/zeros", folder, timeout=600)
        self.assertEqual(r.rc, 0, r)
        doc = json.loads(r.stdout)
        self.assertLessEqual(doc["bytes_uploaded"], 2 * (128 << 10), doc)  # a chunk and the tail
        self.assertGreater(doc["bytes_reread"], 10 ** 9 - (1 << 20), doc)

    def test_memory_stays_bounded(self):
        """Peak RSS of a 400 MiB push stays under 96 MiB: bytes are read in
        8 MiB buffers, sent one chunk per stream, never held whole."""
        folder = self.p("mem")
        sv.write_random(os.path.join(folder, "w.bin"), 400 * MIB, random.Random(2))
        r = subprocess.run([sys.executable, "-c", RSS_WRAPPER, sv.BIN, "push", "acme/mem", folder,
                            "--facts", self.facts, "--json"],
                           env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=300)
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, err)
        rss = int(err.rsplit("maxrss_kib=", 1)[1].split()[0])
        # Under ASan (the sanitizer stage) shadow memory and the quarantine
        # add their own; the bound there still fails a push that held the
        # 400 MiB file whole.
        with open(sv.BIN, "rb") as f:
            asan = b"__asan_init" in f.read()
        limit = (256 if asan else 96) * 1024
        self.assertLess(rss, limit, "peak RSS %d KiB" % rss)
        self.assertEqual(json.loads(r.stdout)["bytes_uploaded"], 400 * MIB)

    def test_file_changed_during_push_fails_cleanly(self):
        folder = self.p("changing")
        path = os.path.join(folder, "w.bin")
        sv.write_random(path, 512 * MIB, random.Random(3))
        proc = subprocess.Popen([sv.BIN, "push", "acme/changing", folder, "--facts", self.facts,
                                 "--json", "--limit-rate", "40M"],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        os.truncate(path, 100 * MIB)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail("the push hung after its file changed")
        err = err.decode("utf-8", "replace")
        self.assertNotEqual(proc.returncode, 0, err)
        self.assertIn("w.bin", err)
        self.assertIn("changed", err)
        self.assertEqual(err.strip().count("\n"), 0, err)
        status, _ = self.srv.get_json("/api/v1/models/acme/changing")
        self.assertEqual(status, 404)

    # ------------------------------------------------ streamed file digests

    OCTET = {"Content-Type": "application/octet-stream"}

    def pieces(self, n=6, size=50000, seed=0):
        """N random chunks (the server takes any cut of 1 byte to 128 KiB)."""
        rng = random.Random(seed)
        return [rng.randbytes(size + i) for i in range(n)]

    def send(self, chunks, sid=None, frm=None, model="acme/fh", token=None, query=None):
        path = "/api/v1/models/%s/chunks" % model
        if query is not None:
            path += query
        elif sid is not None:
            path += "?file=%s&from=%d" % (sid, frm)
        body = b"".join(sv.frame(c) for c in chunks)
        return self.srv.request("POST", path, body, self.OCTET, token=token or self.alice)

    def register(self, chunks, sid=None, sha=None, model="acme/fh", token=None, ids=None):
        data = b"".join(chunks)
        sha = sha or hashlib.sha256(data).hexdigest()
        path = "/api/v1/models/%s/files/%s?size=%d" % (model, sha, len(data))
        if sid:
            path += "&session=" + sid
        body = ids if ids is not None else b"".join(hashlib.sha256(c).digest() for c in chunks)
        return self.srv.request("POST", path, body, self.OCTET, token=token or self.alice)

    def ok(self, r, status=200):
        self.assertEqual(r.status, status, repr(r))
        return r.json()

    def refused(self, chunks, sid, sha):
        r = self.register(chunks, sid, sha=sha)
        self.assertEqual(r.status, 400, repr(r))
        self.assertIn("hash to", r.json()["message"])

    def test_streamed_in_order_is_not_read_back(self):
        c = self.pieces(seed=10)
        sid = os.urandom(16).hex()
        self.ok(self.send(c[:2], sid, 0))
        self.ok(self.send(c[2:5], sid, 2))
        self.ok(self.send(c[5:], sid, 5))
        # a wrong digest is refused even though every chunk was streamed
        self.refused(c, sid, hashlib.sha256(b"not it").hexdigest())
        # (the refusal used the session up: the next registration reads back)
        sid = os.urandom(16).hex()
        c = self.pieces(seed=11)
        self.ok(self.send(c, sid, 0))
        doc = self.ok(self.register(c, sid), 201)
        self.assertEqual(doc["reread"], 0, doc)

    def test_out_of_order_requests_are_caught_up(self):
        c = self.pieces(seed=12)
        sid = os.urandom(16).hex()
        self.ok(self.send(c[4:], sid, 4))
        self.ok(self.send(c[2:4], sid, 2))
        self.ok(self.send(c[:2], sid, 0))
        doc = self.ok(self.register(c, sid), 201)
        self.assertEqual(doc["reread"], 0, doc)

    def test_windows_are_released_and_bounded(self):
        """A request ahead of its turn is held in memory (a window) until its
        turn, then hashed from there: nothing is read back. The windows share
        one budget of 192 MiB; thirteen rounds of 15 MiB ahead of its turn
        (195 MiB in all) each read nothing back, so each window was released
        when it was hashed, not kept. A body over 16 MiB gets no window: it is
        read back from its pack, and "reread" says so. A deduplicated chunk
        inside a window is hashed from the window like the others."""
        rng = random.Random(40)
        ahead = [rng.randbytes(128 << 10) for _ in range(120)]  # 15 MiB
        for rnd in range(13):
            first = [b"round %d " % rnd + rng.randbytes(1000)]
            sid = os.urandom(16).hex()
            self.ok(self.send(ahead, sid, 1))  # chunks 1..120, known after round 0
            self.ok(self.send(first, sid, 0))
            doc = self.ok(self.register(first + ahead, sid), 201)
            self.assertEqual(doc["reread"], 0, "round %d: %r" % (rnd, doc))
        big = [rng.randbytes(128 << 10) for _ in range(129)]  # 16 MiB and more
        first = [rng.randbytes(999)]
        sid = os.urandom(16).hex()
        self.ok(self.send(big, sid, 1))
        self.ok(self.send(first, sid, 0))
        doc = self.ok(self.register(first + big, sid), 201)
        self.assertEqual(doc["reread"], len(b"".join(big)), doc)

    def test_abandoned_windows_do_not_leak(self):
        """Sessions whose first request never comes hold their windows until
        registration gives up on them; registering reads the file back and
        frees the window, so later pushes still get windows."""
        rng = random.Random(41)
        ahead = [rng.randbytes(128 << 10) for _ in range(120)]
        for rnd in range(13):  # 195 MiB of windows: more than the budget
            first = [b"abandoned %d " % rnd + rng.randbytes(500)]
            sid = os.urandom(16).hex()
            self.ok(self.send(ahead, sid, 1))
            # registered without chunk 0 ever arriving in the session: the
            # window is dropped and the file read back (chunk 0 stored apart)
            self.ok(self.send(first))
            doc = self.ok(self.register(first + ahead, sid), 201)
            self.assertEqual(doc["reread"], len(b"".join(first + ahead)), doc)
        first = [rng.randbytes(777)]
        sid = os.urandom(16).hex()
        self.ok(self.send(ahead, sid, 1))
        self.ok(self.send(first, sid, 0))
        doc = self.ok(self.register(first + ahead, sid), 201)
        self.assertEqual(doc["reread"], 0, doc)

    def test_list_other_than_streamed_is_read_back(self):
        """A session of file A does not vouch for file B: B's list (A's chunks
        in another order) registers only with B's true digest, read back."""
        a = self.pieces(seed=13)
        sid = os.urandom(16).hex()
        self.ok(self.send(a, sid, 0))
        b = [a[1], a[0]] + a[2:]
        ids_b = b"".join(hashlib.sha256(x).digest() for x in b)
        # B's chunk list under A's digest (what the session streamed): refused
        r = self.register(b, sid, sha=hashlib.sha256(b"".join(a)).hexdigest(), ids=ids_b)
        self.assertEqual(r.status, 400, repr(r))
        self.assertIn("hash to", r.json()["message"])
        # a client lying about order: chunks 1, 0 sent as from=0
        sid = os.urandom(16).hex()
        self.ok(self.send(b, sid, 0))
        r = self.register(a, sid)  # A's list and A's true digest
        doc = self.ok(r, 201)
        self.assertEqual(doc["reread"], len(b"".join(a)), doc)

    def test_skipped_and_failed_chunks_are_read_back(self):
        c = self.pieces(seed=14)
        size = len(b"".join(c))
        self.ok(self.send([c[1]]))  # held before: a push would skip it
        sid = os.urandom(16).hex()
        self.ok(self.send([c[0]], sid, 0))
        self.ok(self.send(c[2:], sid, 2))
        self.refused(c, sid, hashlib.sha256(b"x").hexdigest())
        sid = os.urandom(16).hex()
        self.ok(self.send([c[0]], sid, 0))
        self.ok(self.send(c[2:], sid, 2))
        doc = self.ok(self.register(c, sid), 201)
        self.assertEqual(doc["reread"], size - len(c[0]), doc)
        # a request that fails half-way (a chunk whose bytes are not its id)
        d = self.pieces(seed=15)
        sid = os.urandom(16).hex()
        body = sv.frame(d[0]) + sv.frame(d[1], digest=hashlib.sha256(b"other").digest())
        r = self.srv.request("POST", "/api/v1/models/acme/fh/chunks?file=%s&from=0" % sid, body,
                             self.OCTET, token=self.alice)
        self.assertEqual(r.status, 400, repr(r))
        self.ok(self.send(d, sid, 0))  # sent again, from the start
        self.refused(d, sid, hashlib.sha256(b"y").hexdigest())
        sid2 = os.urandom(16).hex()
        r = self.srv.request("POST", "/api/v1/models/acme/fh/chunks?file=%s&from=0" % sid2, body,
                             self.OCTET, token=self.alice)
        self.assertEqual(r.status, 400, repr(r))
        self.ok(self.send(d, sid2, 0))
        doc = self.ok(self.register(d, sid2), 201)
        self.assertEqual(doc["reread"], len(b"".join(d)), doc)

    def test_two_sessions_one_file_and_a_restart(self):
        c = self.pieces(seed=16)
        s1, s2 = os.urandom(16).hex(), os.urandom(16).hex()
        self.ok(self.send(c[:3], s1, 0))
        self.ok(self.send(c[:3], s2, 0))
        self.ok(self.send(c[3:], s2, 3))
        self.ok(self.send(c[3:], s1, 3))
        self.refused(c, s1, hashlib.sha256(b"z").hexdigest())
        doc = self.ok(self.register(c, s2), 201)
        self.assertEqual(doc["reread"], 0, doc)
        # a restart between the chunks and the registration: read back
        e = self.pieces(seed=17)
        sid = os.urandom(16).hex()
        self.ok(self.send(e, sid, 0))
        port = self.srv.port
        self.srv.stop()
        self.srv.start(port=port)
        self.refused(e, sid, hashlib.sha256(b"w").hexdigest())
        sid = os.urandom(16).hex()
        self.ok(self.send(e, sid, 0))
        self.srv.stop()
        self.srv.start(port=port)
        doc = self.ok(self.register(e, sid), 201)
        self.assertEqual(doc["reread"], len(b"".join(e)), doc)

    def test_other_orgs_chunk_answers_like_nobodys(self):
        self.srv.add_org("rival")
        self.srv.add_member("rival", "alice", "publisher")
        c = self.pieces(n=2, seed=18)
        self.ok(self.send([c[1]], model="rival/fh"))  # only the rival org holds it
        sid = os.urandom(16).hex()
        self.ok(self.send([c[0]], sid, 0))
        theirs = self.register(c, sid)
        nobody = self.register([c[0], os.urandom(50001)], None)
        self.assertEqual(theirs.status, 400, repr(theirs))
        self.assertEqual(nobody.status, 400, repr(nobody))
        t, n = theirs.json(), nobody.json()
        self.assertEqual(t["error"], n["error"])
        self.assertEqual(t["message"].split("(")[0].split(":")[1:],
                         n["message"].split("(")[0].split(":")[1:])
        self.assertIn("never uploaded for this org", t["message"])

    def test_sessions_are_per_org_and_bounded(self):
        c = self.pieces(n=3, seed=20)
        sid = os.urandom(16).hex()
        self.ok(self.send(c, sid, 0))
        # another org naming the same id opens its own session
        self.srv.add_org("rival2")
        self.srv.add_member("rival2", "alice", "publisher")
        self.ok(self.send(self.pieces(n=3, seed=21), sid, 0, model="rival2/fh"))
        doc = self.ok(self.register(c, sid), 201)
        self.assertEqual(doc["reread"], 0, doc)
        # the table holds 64 sessions; past that, registration reads back
        files = [self.pieces(n=1, size=9000, seed=100 + i) for i in range(70)]
        sids = [os.urandom(16).hex() for _ in files]
        for f, s_ in zip(files, sids):
            self.ok(self.send(f, s_, 0))
        rereads = [self.ok(self.register(f, s_), 201)["reread"] for f, s_ in zip(files, sids)]
        self.assertLessEqual(rereads.count(0), 64, rereads)
        self.assertGreaterEqual(sum(1 for r, f in zip(rereads, files) if r == len(f[0])), 6,
                                rereads)

    def test_bad_session_parameters(self):
        c = self.pieces(n=1, seed=19)
        for q in ("?file=xyz&from=0", "?file=%s" % ("ab" * 16), "?file=%s&from=-1" % ("ab" * 16),
                  "?file=%s&from=1x" % ("ab" * 16), "?file=%s&from=0" % ("ab" * 17)):
            r = self.send(c, query=q)
            self.assertEqual(r.status, 400, (q, repr(r)))
            msg = r.json()["message"]
            self.assertTrue("?file" in msg or "?from" in msg, (q, msg))
            self.assertNotIn("\n", msg)
        r = self.register(c, "nothex")
        self.assertEqual(r.status, 400, repr(r))
        self.assertIn("?session", r.json()["message"])


if __name__ == "__main__":
    unittest.main()
