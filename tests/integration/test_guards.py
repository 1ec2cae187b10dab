# SPDX-License-Identifier: Apache-2.0
"""The test runners cannot pass vacuously (issue 11, item 12).

- The sanitizer suite (`sanitize.suite` in tests/CMakeLists.txt) is run
  exactly as registered, but against an empty build folder: it must fail,
  because it ran no test (`--no-tests=error`).
- The valgrind runner (tests/valgrind/run.py) fails when a test script
  started no sluice process under valgrind, and passes when one did.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluicetest as st  # noqa: E402

BIN = os.path.abspath(st.BIN)
BUILD = os.path.dirname(BIN)
RUNNER = os.path.join(st.SOURCE, "tests", "valgrind", "run.py")


class Guards(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-guards-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_sanitizer_suite_fails_when_it_runs_no_test(self):
        path = os.path.join(BUILD, "tests", "CTestTestfile.cmake")
        if not os.path.exists(path):
            self.skipTest("no CTest file beside %s" % BIN)
        with open(path) as f:
            text = f.read()
        m = re.search(r"add_test\(\[=\[sanitize\.suite\]=\] (.*)\)\n", text)
        if not m:
            self.skipTest("this build registers no sanitizer suite (the nested one)")
        args = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
        self.assertIn("--no-tests=error", args)
        i = args.index("--test-dir")
        empty = os.path.join(self.tmp, "empty-build")
        os.makedirs(empty)
        args[i + 1] = empty
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0, "ran no test and passed: %r" % r)
        self.assertIn("No tests were found", r.stdout + r.stderr)

    def run_runner(self, script):
        t = os.path.join(self.tmp, "t.py")
        with open(t, "w") as f:
            f.write(script)
        return subprocess.run([sys.executable, RUNNER, BIN, t], capture_output=True, text=True,
                              timeout=300)

    def test_valgrind_runner_fails_when_nothing_was_checked(self):
        if not shutil.which(os.environ.get("VALGRIND", "valgrind")):
            self.skipTest("valgrind is not installed")
        with open(BIN, "rb") as f:
            if b"__asan_init" in f.read():
                self.skipTest("an ASan build does not run under valgrind (the sanitizer suite)")
        r = self.run_runner("import sys\nsys.exit(0)\n")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("ran no sluice process under valgrind", r.stdout)
        r = self.run_runner("import os, subprocess, sys\n"
                            "p = subprocess.run([os.environ['SLUICE_BIN'], '--version'])\n"
                            "sys.exit(p.returncode)\n")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("1 sluice processes, 0 with reports", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
