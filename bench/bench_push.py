#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_push: a push against `dd conv=fsync` of the same bytes, side by side.

A benchmark program (not a test) for the push target of issue 17: a push runs
at >=0.8x the rate of `dd if=FILE of=OUT bs=1M conv=fsync` of the same bytes
to the same disk. In a temporary folder (on the disk the server's data folder
is on) it starts `sluice serve` on 127.0.0.1, then --runs times:

  dd    `dd if=MODEL of=OUT bs=1M conv=fsync` (OUT removed after);
  push  `sluice push acme/mN MODEL --json` of a new model file of the same
        size (fresh random bytes each run, so nothing is deduplicated and the
        client's hash cache is cold).

Each model is written (and fsynced) before either is timed; the page cache
holds it for both. It prints medians of wall time and rate, the ratio and the
verdict, the push's own split (`seconds` of `push --json`, counted from the
start: hashing done, first chunk request, uploading and registering done,
then the server's commit) and `bytes_reread` (what the server read back from
its packs to check file digests).

Because wall time on a shared machine moves with other people's work, it also
prints the CPU seconds per GiB pushed, user and system, of the client (the
`sluice push` process, from getrusage of children) and of the server (all its
threads, from /proc/PID/stat before and after each push), and the load
average before each run. Python 3 standard library only.

    python3 bench/bench_push.py [--sluice BIN] [--size-mib N] [--runs N] [--keep]
"""

import argparse
import datetime
import json
import os
import platform
import resource
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


def write_model(folder, size):
    """One safetensors file of SIZE bytes of fresh random F32 data."""
    os.makedirs(folder, exist_ok=True)
    n = size // 4 * 4
    hdr = {"w": {"dtype": "F32", "shape": [n // 4], "data_offsets": [0, n]}}
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = os.path.join(folder, "model.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        left = n
        while left:
            k = min(left, 64 << 20)
            f.write(os.urandom(k))
            left -= k
        f.flush()
        os.fsync(f.fileno())
    return path


def proc_cpu(pid):
    """(user, system) CPU seconds of process PID and all its threads so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(os.path.dirname(HERE), "build", "sluice"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    sv.BIN = os.path.abspath(a.sluice)
    tmp = tempfile.mkdtemp(prefix="bench-push-", dir=os.environ.get("BENCH_DIR"))
    srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
    print("bench_push %s, %s, load %s" % (datetime.datetime.now(datetime.timezone.utc)
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
        env = srv.client_env(tok, os.path.join(tmp, "home"))
        rows = {"dd": [], "push": []}
        split = []
        reread = []
        cpu = {"client_user": [], "client_sys": [], "server_user": [], "server_sys": []}
        loads = []
        for run in range(a.runs):
            folder = os.path.join(tmp, "m%d" % run)
            model = write_model(folder, a.size_mib << 20)
            size = os.path.getsize(model)
            out = os.path.join(tmp, "dd.out")
            t0 = time.monotonic()
            subprocess.run(["dd", "if=" + model, "of=" + out, "bs=1M", "conv=fsync"],
                           check=True, capture_output=True)
            rows["dd"].append(time.monotonic() - t0)
            os.unlink(out)
            loads.append(os.getloadavg()[0])
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            su0, ss0 = proc_cpu(srv.proc.pid)
            t0 = time.monotonic()
            r = subprocess.run([sv.BIN, "push", "acme/m%d" % run, folder, "--facts", facts,
                                "--json"], env=env, capture_output=True, text=True)
            rows["push"].append(time.monotonic() - t0)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            su1, ss1 = proc_cpu(srv.proc.pid)
            gib = size / (1 << 30)
            cpu["client_user"].append((ru1.ru_utime - ru0.ru_utime) / gib)
            cpu["client_sys"].append((ru1.ru_stime - ru0.ru_stime) / gib)
            cpu["server_user"].append((su1 - su0) / gib)
            cpu["server_sys"].append((ss1 - ss0) / gib)
            if r.returncode:
                print(r.stderr)
                return 1
            doc = json.loads(r.stdout)
            split.append(doc.get("seconds"))
            reread.append(doc.get("bytes_reread"))
            shutil.rmtree(folder)
        mib = size / (1 << 20)
        dw = statistics.median(rows["dd"])
        pw = statistics.median(rows["push"])
        ratio = dw / pw
        print("model %d MiB (%d bytes), one file; %d runs each, medians" % (a.size_mib, size,
                                                                           a.runs))
        print("| row | wall time | rate |")
        print("| --- | --- | --- |")
        print("| dd bs=1M conv=fsync | %.2f s | %.0f MiB/s |" % (dw, mib / dw))
        print("| sluice push | %.2f s | %.0f MiB/s |" % (pw, mib / pw))
        if all(split):
            for k in ("hash", "first_upload", "upload", "commit"):
                if all(k in s for s in split):
                    v = statistics.median(s[k] for s in split)
                    print("| push: %s | %.2f s | |" % (k, v))
        if all(x is not None for x in reread):
            print("| push: bytes the server read back | %s | |" % ", ".join(map(str, reread)))
        print("| push: CPU s/GiB client user + sys | %.2f + %.2f | |"
              % (statistics.median(cpu["client_user"]), statistics.median(cpu["client_sys"])))
        print("| push: CPU s/GiB server user + sys | %.2f + %.2f | |"
              % (statistics.median(cpu["server_user"]), statistics.median(cpu["server_sys"])))
        print("load average (1 min) before each run:", ", ".join("%.1f" % x for x in loads))
        print("push/dd rate: %.2fx (target >=0.8x): %s" % (ratio, "PASS" if ratio >= 0.8
                                                            else "FAIL"))
        print("runs:", json.dumps({"rows": rows, "split": split, "bytes_reread": reread,
                                  "cpu_s_per_gib": cpu, "load": loads}))
    finally:
        srv.stop()
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
