# SPDX-License-Identifier: Apache-2.0
"""Runs a command with a throwaway PostgreSQL (pgserver.py): its URL, on the
database `postgres`, is in SLUICE_TEST_PG_URL. For the PostgreSQL half of the
db unit tests (CTest unit_pg.db). Fails, with what to install, when
PostgreSQL is missing.

    python3 pg_run.py COMMAND [ARG...]
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: pg_run.py COMMAND [ARG...]\n")
        return 2
    try:
        url = pgserver.cluster().url("postgres")
    except AssertionError as e:
        sys.stderr.write("pg_run.py: %s\n" % e)
        return 1
    env = dict(os.environ, SLUICE_TEST_PG_URL=url)
    return subprocess.call(sys.argv[1:], env=env)


if __name__ == "__main__":
    sys.exit(main())
