#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_serve: sluice serve, push and dedup against nginx and openssl, side by side.

A benchmark program (not a test) for the performance targets of issue 3. In a
temporary folder it builds a model folder (a random safetensors file of
--size-gib GiB, a 1 KiB config.json, a README.md), starts nginx (its own minimal
config, sendfile on, access_log off) and `sluice serve` on free ports of
127.0.0.1, then measures in one run:

  push    `sluice push` of the folder (chunk, hash, upload, store) against
          `openssl dgst -sha256` over the big file, page cache warm for both;
  large   single-stream download of the big file with curl, nginx and sluice
          alternately, --runs times each, medians;
  small   wrk -t2 -c64 -d10s on config.json, nginx and sluice alternately,
          --wrk-runs times each, medians;
  dedup   the same folder pushed again as a new version (README.md changed),
          then a copy with 10% of the tensors rewritten: bytes_uploaded /
          bytes_total from `push --json`.

It prints one table (row, sluice figure, peer figure, ratio, target, PASS or
FAIL, and the commands), the machine and the date, stops both servers and
removes the temporary folder (--keep keeps it). Python 3 standard library only;
needs nginx, wrk, curl and openssl on PATH. Exit status: 0 when it measured
(whatever the verdicts), 1 when it could not.

    python3 bench/bench_serve.py [--size-gib N] [--sluice BIN] [--runs N]
                                 [--wrk-runs N] [--wrk-seconds S] [--tmpdir DIR] [--keep]

The machine is shared by client and server: on a small machine the figures
say as much about the CPUs as about sluice, and anything else running at the
same time moves them (the load average is printed at the start and the end).
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

GIB = 1 << 30
MIB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

ORG, NAME = "bench", "model"
BIG = "model.safetensors"

FACTS = {
    # Enough for the tiered-release pack to decide: compute is known (6 N D),
    # the license is open, so the minimum tier is `open` and anyone may download.
    "params": 2000000000,
    "training": {"tokens": 1e12},
    "license": {"spdx": "Apache-2.0"},
    "modality": ["text"],
}


def say(msg):
    print(msg, flush=True)


def die(msg):
    print("bench_serve: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# --------------------------------------------------------------------------
# the machine


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def first_line(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return (p.stdout.strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.SubprocessError):
        return "?"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def binary_id(path):
    """First 12 hex digits of the binary's SHA-256 and its modification time: the
    build folder is rebuilt while people work, so the commit alone is not enough."""
    import hashlib
    try:
        with open(path, "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()[:12]
        m = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        return "binary sha256 %s, built %s" % (h, m.strftime("%Y-%m-%d %H:%M UTC"))
    except OSError:
        return "binary ?"


def git_commit():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               timeout=30).stdout.strip()
        return (rev + (" with uncommitted changes" if dirty else "")) if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


# --------------------------------------------------------------------------
# processes and CPU time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            die("%s exited at start (status %s)" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    die("%s did not listen on 127.0.0.1:%d within %.0f s" % (what, port, timeout))


def clk_tck():
    return os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime (seconds) of pid and of its direct children (nginx workers)."""
    total = 0
    pids = [pid]
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / clk_tck()


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, env=None, check=True, capture=True):
    """Runs cmd; returns (stdout, wall s, child CPU s)."""
    c0, t0 = children_cpu(), time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall, cpu = time.monotonic() - t0, children_cpu() - c0
    if check and p.returncode != 0:
        die("%s failed (status %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-2000:]))
    return p.stdout, wall, cpu


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------------
# the model folder


def random_into(f, n):
    """Writes n random bytes to f: `openssl rand` (about 2 GB/s), else os.urandom."""
    try:
        p = subprocess.Popen(["openssl", "rand", str(n)], stdout=subprocess.PIPE)
        left = n
        while left:
            b = p.stdout.read(min(left, 8 * MIB))
            if not b:
                break
            f.write(b)
            left -= len(b)
        p.stdout.close()
        if p.wait() == 0 and left == 0:
            return
        f.seek(-(n - left), os.SEEK_CUR)
    except OSError:
        pass
    left = n
    while left:
        k = min(left, 64 * MIB)
        f.write(os.urandom(k))
        left -= k


def tensor_plan(total_mib):
    """Tensor sizes in MiB: a multiple of 10 tensors (80 for 4 GiB) of 1 MiB multiples."""
    count = 10 * max(1, round(total_mib / 512))
    base, extra = divmod(total_mib, count)
    if base == 0:
        die("--size-gib too small: need at least %d MiB" % count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def st_header(sizes_mib):
    """A safetensors header: BF16 [rows, 4096] tensors, contiguous, 8-byte aligned."""
    hdr = {"__metadata__": {"format": "pt"}}
    off = 0
    for i, mib in enumerate(sizes_mib):
        n = mib * MIB
        hdr["model.layers.%d.mlp.up_proj.weight" % i] = {
            "dtype": "BF16", "shape": [mib * 128, 4096], "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def config_json():
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
           "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
           "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
           "torch_dtype": "bfloat16", "tie_word_embeddings": False,
           "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu",
           "initializer_range": 0.02, "attention_bias": False, "mlp_bias": False,
           "transformers_version": "4.44.0", "use_cache": True}
    raw = json.dumps(cfg, indent=2).encode()
    if len(raw) > 1024:
        die("config.json grew over 1 KiB")
    return raw[:-1] + b" " * (1024 - len(raw)) + b"}"  # exactly 1,024 bytes


def make_model(folder, sizes_mib):
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "wb") as f:
        f.write(config_json())
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write("# bench/model\n\nRandom bytes for bench/bench_serve.py.\n")
    hdr = st_header(sizes_mib)
    with open(os.path.join(folder, BIG), "wb") as f:
        f.write(hdr)
        for mib in sizes_mib:
            random_into(f, mib * MIB)
    return len(hdr)


def make_changed_copy(src, dst, sizes_mib, hdr_len):
    """dst = src with every tensor i where i % 10 == 5 rewritten: 10% of the tensors."""
    os.makedirs(dst)
    for n in ("config.json", BIG):
        shutil.copyfile(os.path.join(src, n), os.path.join(dst, n))
    with open(os.path.join(dst, "README.md"), "w") as f:
        f.write("# bench/model\n\nVersion 3: 10% of the tensors retrained.\n")
    changed_idx = [i for i in range(len(sizes_mib)) if i % 10 == 5]
    changed = 0
    with open(os.path.join(dst, BIG), "r+b") as f:
        for i in changed_idx:
            f.seek(hdr_len + sum(sizes_mib[:i]) * MIB)
            random_into(f, sizes_mib[i] * MIB)
            changed += sizes_mib[i] * MIB
        f.flush()
    return changed_idx, changed


# --------------------------------------------------------------------------
# servers


NGINX_CONF = """\
daemon off;
worker_processes auto;
{user}pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


class Servers:
    def __init__(self):
        self.procs = []

    def start_nginx(self, prefix, root, port):
        os.makedirs(prefix)
        # As root, nginx would switch its workers to `nobody`, who cannot read a
        # mode-0700 temporary folder; keep them as the current user instead.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(user=user, p=prefix, port=port, root=root))
        cmd = ["nginx", "-p", prefix, "-e", os.path.join(prefix, "error.log"), "-c", conf]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(
            os.path.join(prefix, "stderr.log"), "w"), start_new_session=True)
        self.procs.append(("nginx", p, signal.SIGQUIT))
        wait_port(port, p, "nginx")
        return p

    def start_sluice(self, sluice, data, port, log):
        cmd = [sluice, "serve", "--data", data, "--listen", "127.0.0.1:%d" % port,
               "--origin", "bench.localhost/log"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                             start_new_session=True)
        self.procs.append(("sluice", p, signal.SIGTERM))
        wait_port(port, p, "sluice serve")
        return p

    def stop(self):
        for what, p, sig in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.send_signal(sig)
                    p.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    say("bench_serve: %s did not stop on %s; killing it" % (what, sig.name))
                    p.kill()
                    p.wait()
        self.procs = []


class LogWatch(threading.Thread):
    """Follows the server's JSON request log while a push runs, stamping each
    line with the monotonic time it appeared (polled every 10 ms), to split the
    push into its phases: scan (before the big chunks/missing), upload, commit.
    Idle otherwise, so that it takes no CPU from the download and wrk runs."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.lines = path, []
        self.active, self.seek_end = threading.Event(), threading.Event()

    def begin(self):
        self.lines = []
        self.seek_end.set()
        self.active.set()
        while self.seek_end.is_set():
            time.sleep(0.005)

    def end(self):
        time.sleep(0.05)
        self.active.clear()
        return list(self.lines)

    def run(self):
        with open(self.path) as f:
            part = ""
            while True:
                if not self.active.wait(0.1):
                    continue
                if self.seek_end.is_set():
                    f.seek(0, os.SEEK_END)
                    part = ""
                    self.seek_end.clear()
                chunk = f.read()
                if not chunk:
                    time.sleep(0.01)
                    continue
                now = time.monotonic()
                part += chunk
                *done, part = part.split("\n")
                for line in done:
                    try:
                        d = json.loads(line)
                    except ValueError:
                        continue
                    if "path" in d:
                        self.lines.append((now, d))


def push_phases(lines, t0, t1):
    """Splits one push into phases by the server's request log, or None.

    scan:     from the start until the client asks which chunks are missing
              (the last chunks/missing before the first upload): local chunking
              and hashing;
    upload:   until the last chunk upload ends (server: re-hash, pack, fsync);
    verify:   until the commit starts: file registrations (POST .../files/SHA,
              where the server re-reads and re-hashes each new file), if any;
    commit:   the POST .../versions request (checks, inspect, classify, and
              the file re-hash when the server does it there);
    rest:     whatever is left (start-up, the client's own bookkeeping)."""
    start = lambda td: td[0] - td[1]["ms"] / 1e3
    kind = lambda d: ("missing" if d["path"].endswith("/chunks/missing") else
                      "chunks" if d["path"].endswith("/chunks") else
                      "versions" if d["path"].endswith("/versions") else
                      "files" if "/files/" in d["path"] and d["method"] == "POST" else "other")
    by = {}
    for td in lines:
        by.setdefault(kind(td[1]), []).append(td)
    if "missing" not in by or "versions" not in by:
        return None
    later = [start(td) for k in ("chunks", "files", "versions") for td in by.get(k, [])]
    first_after = min(later)
    before = [td for td in by["missing"] if td[0] <= first_after + 0.02] or by["missing"]
    scan_end = start(before[-1])
    up_end = max([td[0] for td in by.get("chunks", [])] + [scan_end])
    commit = by["versions"][-1]
    commit_start = start(commit)
    ph = (scan_end - t0, max(0.0, up_end - scan_end), max(0.0, commit_start - up_end),
          commit[1]["ms"] / 1e3)
    return ph + (max(0.0, (t1 - t0) - sum(ph)),)


# --------------------------------------------------------------------------
# measurements


def curl_download(url, expect):
    out, _, cpu = run(["curl", "-s", "-o", "/dev/null", "-w",
                       "%{speed_download} %{size_download} %{http_code} %{time_total}", url])
    speed, size, code, total = out.split()
    if code != "200" or int(float(size)) != expect:
        die("download %s: HTTP %s, %s bytes (expected 200, %d bytes)" % (url, code, size, expect))
    return float(speed) / 1e6, float(total), cpu


def wrk(url, threads, conns, secs):
    out, _, _ = run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--latency", url])
    res = {"rps": float("nan"), "non2xx": 0, "errors": "", "p50": "?", "p99": "?", "raw": out}
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("Requests/sec:"):
            res["rps"] = float(s.split()[1])
        elif s.startswith("Non-2xx or 3xx responses:"):
            res["non2xx"] = int(s.split(":")[1])
        elif s.startswith("Socket errors:"):
            res["errors"] = s
        elif s.startswith("50%"):
            res["p50"] = s.split()[1]
        elif s.startswith("99%"):
            res["p99"] = s.split()[1]
    return res


def push(sluice, folder, env, facts, watch):
    cmd = [sluice, "push", "%s/%s" % (ORG, NAME), folder, "--facts", facts, "--json"]
    watch.begin()
    t0 = time.monotonic()
    out, wall, cpu = run(cmd, env=env)
    t1 = time.monotonic()
    d = json.loads(out)
    d["_phases"] = push_phases(watch.end(), t0, t1)
    return d, wall, cpu


def fmt_phases(ph):
    if not ph:
        return "phases unknown"
    return ("scan (client: chunk and hash) %.1f s, upload (server: verify chunks, pack, fsync) "
            "%.1f s, verify files %.1f s, commit %.1f s, rest %.1f s" % ph)


def fmt_bytes(n):
    return "%.2f GiB" % (n / GIB) if n >= GIB else "%.1f MiB" % (n / MIB)


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-gib", type=float, default=4.0,
                    help="size of the big file in GiB (default 4)")
    ap.add_argument("--sluice", default=os.path.join(REPO, "build", "sluice"),
                    help="the sluice binary (default build/sluice of this checkout)")
    ap.add_argument("--runs", type=int, default=3, help="downloads per server (default 3)")
    ap.add_argument("--wrk-seconds", type=int, default=10, help="wrk duration (default 10)")
    ap.add_argument("--wrk-runs", type=int, default=3, help="wrk runs per server (default 3)")
    ap.add_argument("--tmpdir", default=None, help="where the temporary folder goes "
                    "(default $TMPDIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()

    sluice = os.path.abspath(a.sluice)
    if not os.access(sluice, os.X_OK):
        die("no sluice binary at %s (build it: cmake --build build -j2)" % sluice)
    missing = [t for t in ("nginx", "wrk", "curl", "openssl") if not shutil.which(t)]
    if missing:
        die("missing %s; on Debian: apt-get install -y %s" % (
            ", ".join(missing), " ".join({"nginx": "nginx", "wrk": "wrk", "curl": "curl",
                                          "openssl": "openssl"}[m] for m in missing)))

    base = a.tmpdir or tempfile.gettempdir()
    load0 = loadavg()
    free0 = shutil.disk_usage(base).free
    size_gib = a.size_gib
    # Disk use: the model (1x), its copy with 10% changed (1x), the store after
    # the first push (1x), the changed tensors (0.1x) and the reference copy
    # (1x, deleted at once), plus room to spare.
    need = lambda g: 4.2 * g * GIB + 2 * GIB
    if free0 < 20e9 or need(size_gib) > free0:
        fit = int(max(0.0, (free0 - 2 * GIB) / (4.2 * GIB)) * 4) / 4  # quarter-GiB steps
        fit = min(fit, size_gib)
        if fit < 0.25:
            die("only %s free under %s; need at least %s" % (fmt_bytes(free0), base,
                                                               fmt_bytes(need(0.25))))
        if fit < size_gib:
            say("bench_serve: only %.1f GB free under %s (%s): scaling the big file down from "
                "%g GiB to %g GiB; the figures are NOT the issue's 4 GiB workload"
                % (free0 / 1e9, base, "under 20 GB" if free0 < 20e9 else "the run needs about "
                   "4.2x the big file", size_gib, fit))
        size_gib = fit
    total_mib = int(size_gib * 1024)
    sizes = tensor_plan(total_mib)

    tmp = tempfile.mkdtemp(prefix="sluice-bench-serve-", dir=base)
    servers = Servers()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        measure(a, sluice, tmp, size_gib, sizes, free0, load0, servers)
    except KeyboardInterrupt:
        say("bench_serve: interrupted")
        return_code = 1
    else:
        return_code = 0
    finally:
        servers.stop()
        if a.keep:
            say("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return return_code


def measure(a, sluice, tmp, size_gib, sizes, free0, load0, servers):
    T = tmp
    short = lambda s: s.replace(T, "$T")
    model = os.path.join(T, "model")
    big = os.path.join(model, BIG)

    say("bench_serve: T=%s" % T)
    # The build folder may be rebuilt while this runs: run a private copy, so that
    # the server and every client command are the same binary.
    bin_id = binary_id(sluice)
    frozen = os.path.join(T, "sluice")
    shutil.copy2(sluice, frozen)
    bin_from, sluice = sluice, frozen
    say("making %s: %s (%d BF16 tensors), config.json (1 KiB), README.md"
        % (short(model), BIG, len(sizes)))
    t0 = time.monotonic()
    hdr_len = make_model(model, sizes)
    big_size = os.path.getsize(big)
    cfg_size = os.path.getsize(os.path.join(model, "config.json"))
    folder_size = sum(os.path.getsize(os.path.join(model, n)) for n in os.listdir(model))
    say("  %d bytes in %.1f s" % (big_size, time.monotonic() - t0))
    facts = os.path.join(T, "facts.json")
    with open(facts, "w") as f:
        json.dump(FACTS, f)

    # ---- servers
    nport, sport = free_port(), free_port()
    while sport == nport:
        sport = free_port()
    data = os.path.join(T, "data")
    slog = os.path.join(T, "sluice-serve.log")
    ngx = servers.start_nginx(os.path.join(T, "nginx"), model, nport)
    srv = servers.start_sluice(sluice, data, sport, slog)
    watch = LogWatch(slog)
    watch.start()
    with open(os.path.join(data, "admin.token")) as f:
        admin_token = f.read().strip()
    out, _, _ = run([sluice, "admin", "user", "add", "bencher", "--data", data, "--json"])
    token = json.loads(out)["token"]
    run([sluice, "admin", "org", "add", ORG, "--data", data])
    run([sluice, "admin", "org", "member", "add", ORG, "bencher", "--role", "publisher",
         "--data", data])
    say("servers: nginx 127.0.0.1:%d (pid %d), sluice 127.0.0.1:%d (pid %d); admin token read "
        "(%d chars), publisher bencher of org %s" % (nport, ngx.pid, sport, srv.pid,
                                                      len(admin_token), ORG))
    env = dict(os.environ)
    env.update(SLUICE_URL="http://127.0.0.1:%d" % sport, SLUICE_TOKEN=token,
               XDG_STATE_HOME=os.path.join(T, "state"), XDG_CONFIG_HOME=os.path.join(T, "config"))

    # ---- 1. push ingest against openssl dgst
    say("push ingest: warming the page cache, openssl dgst -sha256 x%d, then sluice push"
        % a.runs)
    run(["cat", big], capture=False)
    ossl_cmd = ["openssl", "dgst", "-sha256", big]
    ossl = []
    digest = None
    for _ in range(a.runs):
        out, wall, _ = run(ossl_cmd)
        digest = out.strip().split()[-1]
        ossl.append(big_size / wall / 1e6)
    run(["cat", big], capture=False)
    srv_cpu0 = proc_cpu(srv.pid)
    v1, push_wall, push_cpu = push(sluice, model, env, facts, watch)
    push_srv_cpu = proc_cpu(srv.pid) - srv_cpu0
    if v1.get("tier") != "open":
        die("the first push got tier %r, not open: downloads would be refused" % v1.get("tier"))
    push_mbs = v1["bytes_total"] / push_wall / 1e6
    say("  openssl %s MB/s; sluice push %.1f s = %.0f MB/s (push CPU %.1f s, server CPU %.1f s), "
        "uploaded %d of %d bytes" % (", ".join("%.0f" % x for x in ossl), push_wall, push_mbs,
                                     push_cpu, push_srv_cpu, v1["bytes_uploaded"],
                                     v1["bytes_total"]))
    say("  " + fmt_phases(v1["_phases"]))

    # ---- 2. single-stream download
    nurl = "http://127.0.0.1:%d/%s" % (nport, BIG)
    surl = "http://127.0.0.1:%d/%s/%s/resolve/main/%s" % (sport, ORG, NAME, BIG)
    req = urllib.request.Request(surl, method="HEAD")
    with urllib.request.urlopen(req) as r:
        etag = (r.headers.get("ETag") or "").strip('"')
    if etag != digest:
        die("sluice's ETag %s is not the file's SHA-256 %s" % (etag, digest))
    say("download: one warm-up each, then %d alternating runs (nginx first)" % a.runs)
    curl_download(nurl, big_size)
    curl_download(surl, big_size)
    dl = {"nginx": [], "sluice": []}
    dl_cpu = {"nginx": [], "sluice": []}
    for _ in range(a.runs):
        for who, url, pid in (("nginx", nurl, ngx.pid), ("sluice", surl, srv.pid)):
            c0 = proc_cpu(pid)
            mbs, secs, ccpu = curl_download(url, big_size)
            dl[who].append(mbs)
            dl_cpu[who].append((proc_cpu(pid) - c0, ccpu, secs))
            say("  %-6s %7.0f MB/s  %.2f s  server CPU %.2f s, curl CPU %.2f s"
                % (who, mbs, secs, dl_cpu[who][-1][0], ccpu))

    # ---- 3. 1 KiB file, 64 connections
    ncfg = "http://127.0.0.1:%d/config.json" % nport
    scfg = "http://127.0.0.1:%d/%s/%s/resolve/main/config.json" % (sport, ORG, NAME)
    say("small file: wrk -t2 -c64 -d%ds, %d alternating runs (nginx first)"
        % (a.wrk_seconds, a.wrk_runs))
    wruns = {"nginx": [], "sluice": []}
    for _ in range(a.wrk_runs):
        for who, url, pid in (("nginx", ncfg, ngx.pid), ("sluice", scfg, srv.pid)):
            c0 = proc_cpu(pid)
            r = wrk(url, 2, 64, a.wrk_seconds)
            r["cpu"] = proc_cpu(pid) - c0
            wruns[who].append(r)
            say("  %-6s %9.0f req/s  p50 %s p99 %s  non-2xx %d  %s  server CPU %.1f s"
                % (who, r["rps"], r["p50"], r["p99"], r["non2xx"],
                   r["errors"] or "no socket errors", r["cpu"]))
    # the run with the median requests/s stands for each server
    wr = {who: sorted(rs, key=lambda r: r["rps"])[len(rs) // 2] for who, rs in wruns.items()}

    # ---- 4. dedup
    say("dedup: the same folder as version 2 (README.md changed)")
    with open(os.path.join(model, "README.md"), "a") as f:
        f.write("\nVersion 2: the same weights.\n")
    v2, v2_wall, _ = push(sluice, model, env, facts, watch)
    say("  version %s: uploaded %d of %d bytes in %.1f s"
        % (v2["version"], v2["bytes_uploaded"], v2["bytes_total"], v2_wall))
    model3 = os.path.join(T, "model-10pct")
    changed_idx, changed = make_changed_copy(model, model3, sizes, hdr_len)
    say("dedup: a copy with tensors %s rewritten (%d of %d tensors, %d bytes = %.1f%% of %s)"
        % (",".join(map(str, changed_idx)), len(changed_idx), len(sizes), changed,
           100.0 * changed / big_size, BIG))
    v3, v3_wall, _ = push(sluice, model3, env, facts, watch)
    say("  version %s: uploaded %d of %d bytes in %.1f s"
        % (v3["version"], v3["bytes_uploaded"], v3["bytes_total"], v3_wall))
    if not (v1["version"] != v2["version"] != v3["version"]):
        die("the dedup pushes did not create new versions (%s, %s, %s)"
            % (v1["version"], v2["version"], v3["version"]))

    # ---- a reference for the machine, no target: what it costs here to write
    # the big file's bytes durably, the least a store must do (after the rest,
    # so that it does not free memory the push would then reuse)
    copy = os.path.join(T, "copy.bin")
    dd_cmd = ["dd", "if=" + big, "of=" + copy, "bs=8M", "conv=fsync", "status=none"]
    _, dd_wall, dd_cpu = run(dd_cmd)
    os.unlink(copy)
    dd_mbs = big_size / dd_wall / 1e6
    say("reference: %s: %.1f s = %.0f MB/s (CPU %.1f s)" % (short(" ".join(dd_cmd)), dd_wall,
                                                           dd_mbs, dd_cpu))

    # ---- the table
    rows = []

    def row(name, s_fig, p_fig, ratio, target, ok, s_cmd, p_cmd):
        rows.append((name, s_fig, p_fig, ratio, target, "PASS" if ok else "FAIL", s_cmd, p_cmd))

    sl_dl, ng_dl = median(dl["sluice"]), median(dl["nginx"])
    row("download %s, 1 stream" % fmt_bytes(big_size).replace(".00 ", " "),
        "%.0f MB/s" % sl_dl, "nginx %.0f MB/s" % ng_dl, "%.2fx" % (sl_dl / ng_dl), ">=0.90x",
        sl_dl >= 0.9 * ng_dl,
        "curl -s -o /dev/null -w '%%{speed_download}' %s" % surl,
        "curl -s -o /dev/null -w '%%{speed_download}' %s" % nurl)
    sr, nr = wr["sluice"]["rps"], wr["nginx"]["rps"]
    ok_small = sr >= 0.5 * nr and all(r["non2xx"] == 0 for rs in wruns.values() for r in rs)
    row("config.json 1 KiB, 64 conns", "%.0f req/s" % sr, "nginx %.0f req/s" % nr,
        "%.2fx" % (sr / nr), ">=0.50x", ok_small,
        "wrk -t2 -c64 -d%ds %s" % (a.wrk_seconds, scfg),
        "wrk -t2 -c64 -d%ds %s" % (a.wrk_seconds, ncfg))
    om = median(ossl)
    row("push ingest %s" % fmt_bytes(v1["bytes_total"]).replace(".00 ", " "),
        "%.0f MB/s" % push_mbs, "openssl %.0f MB/s" % om, "%.2fx" % (push_mbs / om),
        ">=0.60x", push_mbs >= 0.6 * om,
        "sluice push %s/%s $T/model --facts $T/facts.json --json" % (ORG, NAME),
        short(" ".join(ossl_cmd)))
    f2 = v2["bytes_uploaded"] / v2["bytes_total"]
    row("same model, new version", "%.3f%% uploaded" % (100 * f2), "-", "-", "<1%",
        f2 < 0.01, "sluice push %s/%s $T/model --facts $T/facts.json --json   "
        "(README.md changed)" % (ORG, NAME), "")
    f3 = v3["bytes_uploaded"] / v3["bytes_total"]
    row("10% of tensors changed", "%.2f%% uploaded" % (100 * f3),
        "%.2f%% changed" % (100.0 * changed / v3["bytes_total"]), "-", "<15%", f3 < 0.15,
        "sluice push %s/%s $T/model-10pct --facts $T/facts.json --json" % (ORG, NAME), "")

    say("")
    say("== bench_serve: sluice serve, push and dedup against nginx and openssl (issue 3)")
    say("date      %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    say("machine   %s, %d CPUs (nproc), %.1f GiB memory, %.0f GB free under %s at start; %s %s; "
        "load average %s at start, %s at the end"
        % (cpu_model(), os.cpu_count() or 0, mem_total() / GIB, free0 / 1e9, os.path.dirname(T),
           platform.system(), platform.release(), load0, loadavg()))
    say("software  sluice %s (%s, %s, %s); %s; %s; %s; %s"
        % (first_line([sluice, "--version"]).replace("sluice ", ""), bin_from, git_commit(),
           bin_id,
           first_line(["nginx", "-v"]).replace("nginx version: ", ""),
           first_line(["wrk", "-v"]).split(" [")[0], first_line(["openssl", "version"]).split(" (")[0],
           first_line(["curl", "--version"]).split(" (")[0]))
    say("workload  $T/model: %s %d bytes (%d BF16 tensors, random), config.json %d bytes, "
        "README.md; folder %d bytes" % (BIG, big_size, len(sizes), cfg_size, folder_size))
    say("          servers on 127.0.0.1, same machine as the clients; nginx: worker_processes "
        "auto, sendfile on, access_log off; sluice serve: default threads, JSON request log on "
        "stderr to a file")
    say("")
    w = [max(len(r[i]) for r in rows + [("row", "sluice", "peer", "ratio", "target", "result")])
         for i in range(6)]
    hdr = ("row", "sluice", "peer", "ratio", "target", "result")
    say("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + "  command")
    for r in rows:
        say("  ".join(r[i].ljust(w[i]) for i in range(6)) + "  sluice: " + short(r[6]))
        if r[7]:
            peer = r[2].split()[0]
            say(" " * (sum(w) + 12) + "%s:%s%s" % (peer, " " * max(1, 7 - len(peer)), short(r[7])))
    say("reference (no target): writing the big file's bytes durably on this machine, %s: "
        "%.0f MB/s (%.1f s, CPU %.1f s)" % (short(" ".join(dd_cmd)), dd_mbs, dd_wall, dd_cpu))
    say("")
    say("download runs (MB/s, alternating): nginx %s; sluice %s"
        % (", ".join("%.0f" % x for x in dl["nginx"]), ", ".join("%.0f" % x for x in dl["sluice"])))
    for who in ("nginx", "sluice"):
        c = dl_cpu[who]
        say("  %-6s per download: server CPU %.2f s, curl CPU %.2f s, wall %.2f s (medians)"
            % (who, median([x[0] for x in c]), median([x[1] for x in c]),
               median([x[2] for x in c])))
    say("wrk runs (req/s, alternating): nginx %s; sluice %s"
        % (", ".join("%.0f" % r["rps"] for r in wruns["nginx"]),
           ", ".join("%.0f" % r["rps"] for r in wruns["sluice"])))
    for who in ("nginx", "sluice"):
        say("  %-6s median run: p50 %s, p99 %s, non-2xx %d, %s, server CPU %.1f s of %d s"
            % (who, wr[who]["p50"], wr[who]["p99"], wr[who]["non2xx"],
               wr[who]["errors"] or "no socket errors", wr[who]["cpu"], a.wrk_seconds))
    say("push: %.1f s wall for %d bytes; sluice push used %.1f s CPU, the server %.1f s; "
        "openssl runs %s MB/s" % (push_wall, v1["bytes_total"], push_cpu, push_srv_cpu,
                                  ", ".join("%.0f" % x for x in ossl)))
    say("push phases (from the server's request log): " + fmt_phases(v1["_phases"]))
    say("dedup: version %s uploaded %d of %d bytes (%.1f s); version %s uploaded %d of %d bytes "
        "(%.1f s), %d of %d tensors rewritten"
        % (v2["version"], v2["bytes_uploaded"], v2["bytes_total"], v2_wall, v3["version"],
           v3["bytes_uploaded"], v3["bytes_total"], v3_wall, len(changed_idx), len(sizes)))
    say("  version %s: %s" % (v3["version"], fmt_phases(v3["_phases"])))
    say("medians of %d downloads each (after one warm-up each) and of %d wrk runs each; push once "
        "(a fresh store), openssl median of %d, page cache warm for both"
        % (a.runs, a.wrk_runs, a.runs))


if __name__ == "__main__":
    sys.exit(main())
