# SPDX-License-Identifier: Apache-2.0
"""Runs a command with a throwaway S3 server: starts moto on a free port and
the 503 fault proxy in front of it, makes the bucket "sluice-unit" (with two
objects another tool might have written under foreign/), exports
SLUICE_TEST_S3_ENDPOINT, SLUICE_TEST_S3_FAULT and SLUICE_TEST_S3_BUCKET, runs
the command and exits with its status, or 1 when the command left a multipart
upload open in the bucket (failed uploads must be aborted). CTest runs the
store unit tests
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
        rc = subprocess.run(sys.argv[1:], env=env).returncode
        # every failed multipart upload was aborted, none left behind
        status, body = s3fixture._request(moto.port, "GET", "/sluice-unit?uploads=")
        if status != 200 or b"<Upload>" in body:
            sys.stderr.write("with_s3.py: multipart uploads were left open in the bucket: "
                             "%d %r\n" % (status, body[:2000]))
            rc = rc or 1
        return rc
    finally:
        proxy.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
