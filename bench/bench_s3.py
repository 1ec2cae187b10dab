#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_s3: a large download from the S3 store against `aws s3 cp`, side by side.

A benchmark program (not a test) for issue 13's S3 target: in a temporary
folder it starts a moto S3 server (tests/integration/s3fixture.py) and
`sluice serve --store s3://BUCKET/packs`, pushes one random file of --size-mib
MiB (default 4096), then measures:

  sluice  a single-stream GET of the file from the server (HF resolve URL),
          while the server's resident memory is sampled every 20 ms;
  aws     `aws s3 cp s3://BUCKET/big -` of the same bytes stored as one object
          in the same moto server.

It prints the throughput of both, the ratio (target >= 0.8) and the server's
RSS growth during the download (target < 64 MiB), then stops everything and
removes the folder (--keep keeps it). Needs moto and the aws CLI on PATH.
moto is in-memory: the bucket holds the file twice, so give the machine
2.5 x --size-mib of free memory. Exit status 0 when it measured, 1 when not.

    python3 bench/bench_s3.py [--size-mib N] [--sluice BIN] [--tmpdir DIR] [--keep]
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
os.environ["SLUICE_TEST_STORE"] = "s3"

MIB = 1 << 20


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=4096)
    ap.add_argument("--sluice", default=os.path.join(os.path.dirname(HERE), "build", "sluice"))
    ap.add_argument("--tmpdir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    os.environ["SLUICE_BIN"] = os.path.abspath(a.sluice)
    import server as sv
    import sluicetest as st

    if not shutil.which("aws"):
        print("bench_s3: the aws CLI is not on PATH", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="bench-s3-", dir=a.tmpdir)
    srv = None
    try:
        srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
        srv.start()
        token = srv.add_user("alice")
        srv.add_org("bench")
        srv.add_member("bench", "alice", "publisher")
        folder = os.path.join(tmp, "model")
        os.makedirs(folder)
        big = os.path.join(folder, "w.bin")
        with open(big, "wb") as f:
            for _ in range(a.size_mib):
                f.write(os.urandom(MIB))
        facts = os.path.join(tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump({"params": 4224, "training": {"tokens": 1e9}}, f)
        home = os.path.join(tmp, "home")
        r = st.run("push", "bench/model", folder, "--facts", facts, "--json",
                   env=srv.client_env(token, home), timeout=7200)
        if r.rc != 0:
            print("bench_s3: push failed: %r" % r, file=sys.stderr)
            return 1

        # sluice: one GET, memory sampled meanwhile
        pid = srv.proc.pid
        base = rss_kib(pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.02)

        threading.Thread(target=sample, daemon=True).start()
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
        t0 = time.monotonic()
        c.request("GET", "/bench/model/resolve/main/w.bin",
                  headers={"Authorization": "Bearer " + token})
        resp = c.getresponse()
        n = 0
        while True:
            b = resp.read(MIB)
            if not b:
                break
            n += len(b)
        t_sluice = time.monotonic() - t0
        done.set()
        c.close()
        if resp.status != 200 or n != a.size_mib * MIB:
            print("bench_s3: download got HTTP %d, %d bytes" % (resp.status, n), file=sys.stderr)
            return 1

        # aws s3 cp of the same bytes as one object in the same moto
        m = sv.shared_moto()
        bucket = srv.store_args[1][len("s3://"):].split("/")[0]
        env = dict(os.environ, **m.env(), AWS_DEFAULT_REGION="us-east-1")
        subprocess.run(["aws", "s3", "cp", big, "s3://%s/big" % bucket], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        with open(os.devnull, "wb") as null:
            subprocess.run(["aws", "s3", "cp", "s3://%s/big" % bucket, "-"], env=env, check=True,
                           stdout=null)
        t_aws = time.monotonic() - t0

        mb = a.size_mib * MIB / 1e6
        growth = (peak[0] - base) / 1024
        ratio = t_aws / t_sluice
        print("bench_s3: %d MiB from moto on %s" % (a.size_mib, os.uname().nodename))
        print("%-34s %10s %10s %7s %8s %s" % ("row", "sluice", "aws cp", "ratio", "target",
                                              "verdict"))
        print("%-34s %7.1f MB/s %7.1f MB/s %7.2f %8s %s" % (
            "download throughput", mb / t_sluice, mb / t_aws, ratio, ">= 0.8",
            "PASS" if ratio >= 0.8 else "FAIL"))
        print("%-34s %7.1f MiB %10s %7s %8s %s" % (
            "server RSS growth during download", growth, "-", "-", "< 64",
            "PASS" if growth < 64 else "FAIL"))
        return 0
    finally:
        if srv is not None:
            try:
                srv.stop()
            finally:
                srv.cleanup()
        if a.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
