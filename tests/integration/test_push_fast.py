# SPDX-License-Identifier: Apache-2.0
"""Push at the disk's speed (issue 17, item 3), through the real server and
the real `sluice push`:

- the client uploads while it hashes: the first chunk request leaves before
  the last byte is hashed, and the pushed files come back byte for byte;
- the client's memory stays bounded (hashing buffers, one chunk per stream,
  the chunk lists), far below the size of the file it pushes;
- a file that changes while it is pushed stops the push with one clear line
  naming it, without hanging and without creating a version.
"""
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
        # a big file (several rounds of 64-256 MiB) and small ones after it
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
        out = self.p("overlap-out")
        r = st.run("pull", "acme/overlap", "--dest", out, "--json", env=self.env, timeout=300)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sv.tree_digest(out), sv.tree_digest(folder))
        # pushed again: nothing to send, and the version is the same files
        r = self.push("acme/overlap", folder)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.stdout)["bytes_uploaded"], 0)

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
        self.assertLess(rss, 96 * 1024, "peak RSS %d KiB" % rss)
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


if __name__ == "__main__":
    unittest.main()
