# SPDX-License-Identifier: Apache-2.0
"""The log's origin (issue 13, operator basics): a new log needs a globally
unique origin, given or derived from --public-url; it is kept in the
database, so later starts need no flag, and a different one is refused
rather than silently making every checkpoint unverifiable."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402


def serve(data, *args):
    """A start that is expected to fail at once (exit code and stderr)."""
    return st.run("serve", "--data", data, "--listen", "127.0.0.1:%d" % sv.free_port(),
                  *sv.backend_args(data), *args, env=sv.clean_env(), timeout=30)


class Origin(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-origin-")
        self.data = os.path.join(self.tmp, "data")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def checkpoint_origin(self, srv):
        r = srv.request("GET", "/log/checkpoint")
        self.assertEqual(r.status, 200, repr(r))
        return r.body.decode().split("\n")[0]

    def test_a_new_log_needs_an_origin(self):
        r = serve(self.data)
        self.assertEqual(r.rc, 2, repr(r))
        self.assertIn("globally unique origin", r.stderr)
        self.assertIn("--public-url", r.stderr)
        for bad in ("ftp://hub.example.org", "https://", "http://user@hub.example.org"):
            r = serve(self.data, "--public-url", bad)
            self.assertEqual(r.rc, 2, (bad, r))
            self.assertIn("--public-url", r.stderr)

    def test_derived_from_the_public_url_and_kept(self):
        srv = sv.Server(self.data, workdir=self.tmp, origin=None,
                        args=["--public-url", "https://hub.example.org/sluice/"])
        try:
            srv.start()
            self.assertEqual(self.checkpoint_origin(srv), "hub.example.org/sluice/log")
            srv.stop()
            # no flag at all: the stored origin
            srv.args = []
            srv.start()
            self.assertEqual(self.checkpoint_origin(srv), "hub.example.org/sluice/log")
            srv.stop()
            # the public URL moved: the log keeps its origin
            srv.args = ["--public-url", "https://new.example.net"]
            srv.start()
            self.assertEqual(self.checkpoint_origin(srv), "hub.example.org/sluice/log")
            srv.stop()
        finally:
            srv.cleanup()
        # a different explicit origin would fork the log's identity: refused
        r = serve(self.data, "--origin", "other.example.org/log")
        self.assertEqual(r.rc, 2, repr(r))
        self.assertIn('has the origin "hub.example.org/sluice/log"', r.stderr)
        # the same one is fine (and a client's pinned checkpoints still verify)
        srv = sv.Server(self.data, workdir=self.tmp, origin="hub.example.org/sluice/log")
        try:
            srv.start()
            self.assertEqual(self.checkpoint_origin(srv), "hub.example.org/sluice/log")
        finally:
            srv.stop()
            srv.cleanup()

    def test_make_run_gives_one(self):
        with open(os.path.join(os.environ.get("SLUICE_SOURCE", "."), "Makefile")) as f:
            self.assertIn("--public-url http://$(LISTEN)", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
