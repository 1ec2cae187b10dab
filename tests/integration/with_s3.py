# SPDX-License-Identifier: Apache-2.0
"""Runs a command with a throwaway S3 server: starts moto on a free port and
the 503 fault proxy in front of it, makes the bucket "sluice-unit" (with two
objects another tool might have written under foreign/), exports
SLUICE_TEST_S3_ENDPOINT, SLUICE_TEST_S3_FAULT and SLUICE_TEST_S3_BUCKET, runs
the command and exits with its status. CTest runs the store unit tests
(tests/unit/store/test_s3.c) under it.

    python3 tests/integration/with_s3.py build/tests/unit_store --jobs 2
"""
import os
import subprocess
import sys

import s3fixture


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: with_s3.py COMMAND [ARGS...]")
    try:
        moto = s3fixture.Moto().start()
    except AssertionError as e:
        sys.stderr.write("with_s3.py: %s\n" % e)
        return 1
    proxy = s3fixture.FaultProxy(moto.url).start()
    try:
        moto.create_bucket("sluice-unit")
        moto.put_object("sluice-unit", "foreign/README.txt", b"not a pack\n")
        moto.put_object("sluice-unit", "foreign/ab/abcd.pack", b"not a pack name either\n")
        env = dict(os.environ, SLUICE_TEST_S3_ENDPOINT=moto.url, SLUICE_TEST_S3_FAULT=proxy.url,
                   SLUICE_TEST_S3_BUCKET="sluice-unit", NO_PROXY="*")
        return subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        proxy.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
