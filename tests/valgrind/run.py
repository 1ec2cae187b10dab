#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs integration tests with every sluice process under valgrind memcheck.

    python3 tests/valgrind/run.py SLUICE_BIN TEST.py [TEST.py ...]

SLUICE_BIN is replaced, for the tests, by a wrapper that runs the real
binary as `valgrind --tool=memcheck --leak-check=full ...` with one log file
per process, so the server and every CLI command the tests run (admin,
push, pull, access, ...) are checked. After the tests, each log is read:
any error (invalid reads or writes, uses of uninitialised values, invalid
frees, fd or syscall misuse) or any definite or indirect leak fails the run,
and the log is printed. (A process killed with SIGKILL cannot be checked:
run it only on tests that stop sluice with SIGTERM or let it exit.)

A run that checked nothing fails: each test script must start at least one
sluice process under valgrind (a script that ignored SLUICE_BIN, or ran no
test, would otherwise pass with nothing checked).

Exit status: 0 when the tests passed, every script ran sluice under
valgrind, and memcheck found nothing.
Environment: VALGRIND (default valgrind), VALGRIND_KEEP=1 keeps the logs.
"""
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    real = os.path.abspath(sys.argv[1])
    tests = [os.path.abspath(t) for t in sys.argv[2:]]
    vg = shutil.which(os.environ.get("VALGRIND", "valgrind"))
    if not vg:
        print("valgrind: not installed (apt-get install -y valgrind)", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="sluice-valgrind-")
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    wrapper = os.path.join(work, "sluice")
    supp = os.path.join(HERE, "sluice.supp")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "exec '%s' --tool=memcheck --quiet --error-exitcode=99 --leak-check=full "
                "--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect "
                "--num-callers=30 --suppressions='%s' --log-file='%s/vg.%%p.log' '%s' \"$@\"\n"
                % (vg, supp, logs, real))
    os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ, SLUICE_BIN=wrapper, PYTHONDONTWRITEBYTECODE="1")
    rc = 0
    idle = []
    t0 = time.monotonic()
    for t in tests:
        before = len(glob.glob(os.path.join(logs, "vg.*.log")))
        p = subprocess.run([sys.executable, t], env=env)
        started = len(glob.glob(os.path.join(logs, "vg.*.log"))) - before
        print("valgrind: %s exited %d, %d sluice processes (%.0f s so far)"
              % (os.path.basename(t), p.returncode, started, time.monotonic() - t0), flush=True)
        rc |= p.returncode != 0
        if started == 0:
            idle.append(os.path.basename(t))
    # With --quiet a log holds nothing but reports: an empty log is a clean
    # process (or one the tests killed with SIGKILL, which valgrind cannot
    # report on; these tests do not kill sluice).
    clean = 0
    bad = []
    for path in sorted(glob.glob(os.path.join(logs, "vg.*.log"))):
        with open(path, errors="replace") as f:
            text = f.read()
        if text.strip():
            bad.append((path, text))
        else:
            clean += 1
    for path, text in bad[:10]:
        print("==== %s\n%s" % (os.path.basename(path), text[-6000:]))
    print("valgrind: %d sluice processes, %d with reports; tests %s; %.0f s"
          % (clean + len(bad), len(bad), "passed" if rc == 0 else "FAILED",
             time.monotonic() - t0), flush=True)
    for t in idle:
        print("valgrind: FAILED: %s ran no sluice process under valgrind: nothing was checked"
              % t, flush=True)
    if os.environ.get("VALGRIND_KEEP"):
        print("valgrind: logs kept in %s" % logs)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if rc or bad or idle or clean + len(bad) == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
