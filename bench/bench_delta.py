#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_delta: a delta pull against a full pull of the same version, side by side.

A benchmark program (not a test) for the delta-pull target of issue 17: a
version with one tensor of 48 changed, pulled over the earlier version,
moves <=5% of the bytes and takes <=10% of the time of a full pull. In a
temporary folder it writes a safetensors model of --size-mib MiB (48 random
F32 tensors), starts `sluice serve` on 127.0.0.1, pushes it (v1) and a copy
with tensor 17 rewritten (v2), then alternates, --runs times each:

  full   `sluice pull acme/m@2` into an empty folder;
  delta  `sluice pull acme/m@2` into a folder holding v1 (copied in fresh
         each run, so its chunks are found by reading it: the cold case).

both with the same `--limit-rate` (the link; default 10M, curl syntax;
"none" for loopback speed). It prints medians of wall time and of
bytes_downloaded from `pull --json`, the ratios and the verdicts, the exact
commands, the machine and the date. Python 3 standard library only.

    python3 bench/bench_delta.py [--sluice BIN] [--size-mib N] [--rate R] [--runs N] [--keep]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import server as sv  # noqa: E402

NT = 48


def write_model(folder, size, changed=None):
    os.makedirs(folder, exist_ok=True)
    per = size // NT // 4 * 4
    tensors = {}
    off = 0
    for i in range(NT):
        tensors["layers.%02d.weight" % i] = {"dtype": "F32", "shape": [per // 4],
                                             "data_offsets": [off, off + per]}
        off += per
    raw = json.dumps(tensors, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for i in range(NT):
            seed = 1000 + i if i == changed else i
            f.write(__import__("random").Random(seed).randbytes(per))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "llama"}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(os.path.dirname(HERE), "build", "sluice"))
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--rate", default="10M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    sv.BIN = os.path.abspath(a.sluice)
    tmp = tempfile.mkdtemp(prefix="bench-delta-")
    srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
    print("bench_delta %s, %s, load %s" % (datetime.datetime.now(datetime.timezone.utc)
                                            .strftime("%Y-%m-%d %H:%M UTC"), platform.platform(),
                                            os.getloadavg()))
    try:
        srv.start()
        tok = srv.add_user("alice")
        srv.add_org("acme")
        srv.add_member("acme", "alice", "publisher")
        facts = os.path.join(tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump({"training": {"tokens": 1e9}}, f)
        v1, v2 = os.path.join(tmp, "v1"), os.path.join(tmp, "v2")
        write_model(v1, a.size_mib << 20)
        write_model(v2, a.size_mib << 20, changed=17)
        env = srv.client_env(tok, os.path.join(tmp, "home"))
        for d in (v1, v2):
            r = subprocess.run([sv.BIN, "push", "acme/m", d, "--facts", facts, "--json"],
                               env=env, capture_output=True, text=True)
            if r.returncode:
                print(r.stderr)
                return 1
        rate = [] if a.rate == "none" else ["--limit-rate", a.rate]
        rows = {"full": [], "delta": []}
        for run in range(a.runs):
            for kind in ("full", "delta"):
                dest = os.path.join(tmp, "out-%s-%d" % (kind, run))
                if kind == "delta":
                    shutil.copytree(v1, dest)
                cmd = [sv.BIN, "pull", "acme/m@2", "--dest", dest, "--json"] + rate
                t0 = time.monotonic()
                r = subprocess.run(cmd, env=env, capture_output=True, text=True)
                wall = time.monotonic() - t0
                if r.returncode:
                    print(r.stderr)
                    return 1
                doc = json.loads(r.stdout)
                rows[kind].append((wall, doc["bytes_downloaded"], doc["bytes_total"]))
                shutil.rmtree(dest)
        cmd_s = "sluice pull acme/m@2 --dest DIR --json %s" % " ".join(rate)
        fw = statistics.median(w for w, _, _ in rows["full"])
        dw = statistics.median(w for w, _, _ in rows["delta"])
        fb = statistics.median(b for _, b, _ in rows["full"])
        db = statistics.median(b for _, b, _ in rows["delta"])
        total = rows["full"][0][2]
        print("model %d MiB, 48 tensors, tensor 17 changed; link %s; %d runs each, medians"
              % (a.size_mib, a.rate, a.runs))
        print("| row | delta | full | ratio | target | result |")
        print("| --- | --- | --- | --- | --- | --- |")
        print("| bytes downloaded | %d | %d | %.2f%% | <=5%% | %s |"
              % (db, fb, 100.0 * db / fb, "PASS" if db <= 0.05 * fb else "FAIL"))
        print("| wall time | %.2f s | %.2f s | %.1f%% | <=10%% | %s |"
              % (dw, fw, 100.0 * dw / fw, "PASS" if dw <= 0.10 * fw else "FAIL"))
        print("(bytes_total %d; command: %s, the delta into a copy of v1)" % (total, cmd_s))
        print("runs:", json.dumps(rows))
    finally:
        srv.stop()
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
