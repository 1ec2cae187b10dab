#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_mirror: a mirror's cached download against the upstream's own, side by side.

A benchmark program (not a test) for the mirror target of issue 17: a
download from a regional mirror that already holds the version runs at
>=0.9x the rate of the same download from the upstream. In a temporary
folder it writes a safetensors model of --size-mib MiB (48 random F32
tensors), starts `sluice serve` (the upstream) and `sluice serve
--mirror-of UPSTREAM` (the mirror) on 127.0.0.1, pushes the model, pulls it
once through the mirror (the cold fetch, timed and reported apart), then
alternates, --runs times each:

  upstream  `sluice pull acme/m` from the upstream into an empty folder;
  mirror    the same from the mirror.

Each pull starts with an empty folder and an empty client cache. It prints
medians of wall time, the rates, the ratio and the verdict, the exact
commands, the machine and the date. Python 3 standard library only.

    python3 bench/bench_mirror.py [--sluice BIN] [--size-mib N] [--runs N] [--keep]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import server as sv  # noqa: E402
from bench_delta import write_model  # noqa: E402


def pull(env, dest):
    t0 = time.monotonic()
    r = subprocess.run([sv.BIN, "pull", "acme/m", "--dest", dest, "--json"], env=env,
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    if r.returncode:
        raise SystemExit(r.stderr)
    doc = json.loads(r.stdout)
    return wall, doc["bytes_downloaded"], doc["bytes_total"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(os.path.dirname(HERE), "build", "sluice"))
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    sv.BIN = os.path.abspath(a.sluice)
    tmp = tempfile.mkdtemp(prefix="bench-mirror-")
    up = sv.Server(os.path.join(tmp, "up"), workdir=tmp)
    mir = None
    print("bench_mirror %s, %s, load %s" % (datetime.datetime.now(datetime.timezone.utc)
                                             .strftime("%Y-%m-%d %H:%M UTC"), platform.platform(),
                                             os.getloadavg()))
    try:
        up.start()
        tok = up.add_user("alice")
        up.add_org("acme")
        up.add_member("acme", "alice", "publisher")
        facts = os.path.join(tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump({"training": {"tokens": 1e9}}, f)
        model = os.path.join(tmp, "model")
        write_model(model, a.size_mib << 20)
        r = subprocess.run([sv.BIN, "push", "acme/m", model, "--facts", facts, "--json"],
                           env=up.client_env(tok, os.path.join(tmp, "home-push")),
                           capture_output=True, text=True)
        if r.returncode:
            print(r.stderr)
            return 1
        mwork = os.path.join(tmp, "mirror-work")
        os.makedirs(mwork)
        mir = sv.Server(os.path.join(tmp, "mirror"), workdir=mwork,
                        args=["--mirror-of", up.url], origin=None)
        mir.start()
        n = [0]

        def run(srv):
            n[0] += 1
            home = os.path.join(tmp, "home-%d" % n[0])
            dest = os.path.join(tmp, "out-%d" % n[0])
            row = pull(srv.client_env(None, home), dest)
            shutil.rmtree(dest)
            shutil.rmtree(home, ignore_errors=True)
            return row

        cold = run(mir)
        rows = {"upstream": [], "mirror": []}
        for _ in range(a.runs):
            rows["upstream"].append(run(up))
            rows["mirror"].append(run(mir))
        total = cold[2]
        uw = statistics.median(w for w, _, _ in rows["upstream"])
        mw = statistics.median(w for w, _, _ in rows["mirror"])
        ratio = uw / mw  # the mirror's rate over the upstream's
        mib = total / (1 << 20)
        print("model %d MiB (%d bytes), 48 tensors; %d runs each, medians, loopback"
              % (a.size_mib, total, a.runs))
        print("| row | wall time | rate |")
        print("| --- | --- | --- |")
        print("| upstream | %.2f s | %.1f MiB/s |" % (uw, mib / uw))
        print("| mirror, cached | %.2f s | %.1f MiB/s |" % (mw, mib / mw))
        print("| mirror, first fetch (cold) | %.2f s | %.1f MiB/s |" % (cold[0], mib / cold[0]))
        print("mirror/upstream rate: %.2fx (target >=0.9x): %s"
              % (ratio, "PASS" if ratio >= 0.9 else "FAIL"))
        print("(command: SLUICE_URL=URL sluice pull acme/m --dest EMPTY --json, fresh HOME)")
        print("runs:", json.dumps(rows))
    finally:
        if mir:
            mir.stop()
        up.stop()
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
