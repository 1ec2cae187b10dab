#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_scale: the scale-out back ends side by side (issue 13).

A benchmark program (not a test). In one run, in a temporary folder, with
the same `sluice` binary throughout:

  get      the 1 KiB config.json of one model, `wrk -t2 -c64` (the load
           generator of bench_serve.py), against a server on SQLite and a
           server on PostgreSQL, alternately, --wrk-runs times each, medians;
           target: PostgreSQL >= 0.7x SQLite;
  append   first the append primitive, measured by bench_tlog (the code
           behind the SQLite log figure of issue 5) on SQLite and on
           PostgreSQL side by side: sl__log_append() called in a loop in one
           process and thread, in transactions of 1,000 entries (as
           bench_tlog's SQLite figure) and of one entry (as the server makes
           them), --tlog-entries each; then
           log appends on PostgreSQL through the HTTP API (each a tier change,
           one transaction and one log entry each, as a publisher makes
           them), wrk with a Lua script, first through one server, then
           through two servers on the one database at once; then the log is
           checked: every answered change is one entry, indexes without a gap,
           both servers serve the same checkpoint and `sluice log verify
           --full` passes (nothing lost, no fork); target >= 5,000 appends/s;
  s3       one --size-mib MiB file of pseudo-random bytes (`openssl enc
           -aes-128-ctr` of zeros) pushed into a server whose packs are in S3
           (moto), downloaded in one GET while the server's VmRSS is sampled
           every 20 ms, against `aws s3 cp s3://BUCKET/PACK -` of the packs
           that hold those bytes (--aws-packs of them, one process each, as
           the target is stated) in the same moto; targets: >= 0.8x aws s3
           cp, RSS growth < 64 MiB. Also, not the target: `aws s3 cp
           --recursive` of all the packs in one process, to a folder. (One
           4 GiB object is no fair peer: moto reads the whole object for
           each ranged GET the CLI makes, so that copy takes hours.)

PostgreSQL is the throwaway cluster of tests/integration/pgserver.py (Unix
socket, fsync off: the documented non-durable mode, as in the tests), S3 is
moto (tests/integration/s3fixture.py). It prints one table (row, figures,
ratio, target, PASS/FAIL), the machine, the load average at start and end,
and the commands. Exit status 0 when it measured (whatever the verdicts), 1
when it could not. Needs wrk, openssl, PostgreSQL 15, moto and the aws CLI.

    python3 bench/bench_scale.py [--sluice BIN] [--wrk-seconds S] [--wrk-runs N]
        [--append-seconds S] [--pg-threads N,...] [--size-mib N] [--aws-packs N]
        [--bench-tlog BIN] [--tlog-entries N] [--skip get,append,s3] [--tmpdir DIR]
        [--keep]
"""
import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)
# the fixtures pick the back ends from these; this program chooses its own
for _k in ("SLUICE_TEST_DB", "SLUICE_TEST_STORE"):
    os.environ.pop(_k, None)

MIB = 1 << 20
FACTS = {"params": 2000000000, "training": {"tokens": 1e12}, "license": {"spdx": "Apache-2.0"},
         "modality": ["text"]}
APPEND_MODELS = 8  # per server: one wrk thread and connection per model

LUA = r"""
-- each wrk thread flips the tier of its own model, so every request changes
-- it (gated, open, gated, ...) and appends exactly one log entry
local counter = 0
local nthreads = 0
function setup(thread)
  thread:set("slot", nthreads)
  nthreads = nthreads + 1
end
function init(args)
  base = tonumber(args[1])
  token = args[2]
end
function request()
  counter = counter + 1
  local tier = "open"
  if counter % 2 == 1 then tier = "gated" end
  return wrk.format("POST", "/api/v1/models/bench/flip" .. (base + slot) .. "/tier",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"},
                    '{"tier":"' .. tier .. '"}')
end
function done(summary, latency, requests)
  io.write(string.format('RESULT {"requests":%d,"non2xx":%d,"connect":%d,"read":%d,' ..
                         '"write":%d,"timeout":%d,"us":%d,"p50_us":%d,"p99_us":%d}\n',
                         summary.requests, summary.errors.status, summary.errors.connect,
                         summary.errors.read, summary.errors.write, summary.errors.timeout,
                         summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def say(msg=""):
    print(msg, flush=True)


def die(msg):
    print("bench_scale: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def wrk(url, seconds, threads, conns, script=None, args=()):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if args:
        cmd += ["--"] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        die("%s failed: %s" % (" ".join(cmd), p.stdout[-2000:]))
    return cmd, p.stdout


def req_per_s(out):
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        die("no Requests/sec in wrk's output: %s" % out[-1000:])
    return float(m.group(1))


class Rows(list):
    """The table's rows, each also printed as it is measured (a run cut short
    still shows what it measured)."""

    def append(self, row):
        say("  " + " | ".join(row))
        super().append(row)


class Bench:
    def __init__(self, a):
        self.a = a
        os.environ["SLUICE_BIN"] = os.path.abspath(a.sluice)
        import pgserver
        import server as sv
        import sluicetest as st
        import bench_serve
        self.pgserver, self.sv, self.st, self.bs = pgserver, sv, st, bench_serve
        self.tmp = tempfile.mkdtemp(prefix="bench-scale-", dir=a.tmpdir)
        self.servers = []
        self.rows = Rows()  # (row, sluice/PG figure, peer figure, ratio, target, verdict)
        self.commands = []
        self.notes = []

    def server(self, name, db=None, args=(), store=None):
        sv = self.sv
        wd = os.path.join(self.tmp, "srv-" + name)
        os.makedirs(wd, exist_ok=True)
        srv = sv.Server(os.path.join(self.tmp, "data-" + name), workdir=wd, db=db,
                        args=list(args))
        if store:
            srv.store_args, srv.store_env = store
        self.servers.append(srv)
        srv.start()
        return srv

    def push(self, srv, token, model, folder, *extra):
        home = os.path.join(self.tmp, "home")
        r = self.st.run("push", model, folder, "--facts", self.facts, "--json", *extra,
                        env=srv.client_env(token, home), timeout=7200)
        if r.rc != 0:
            die("push %s failed: %r" % (model, r))
        return json.loads(r.stdout)

    def setup_publisher(self, srv):
        token = srv.add_user("pub")
        srv.add_org("bench")
        srv.add_member("bench", "pub", "publisher")
        return token

    # ---------------------------------------------------------------- get

    def xacts(self, url):
        """Transactions PostgreSQL counted for URL's database so far (its
        statistics are flushed about once a second: wait before reading)."""
        dbn = url.split("///", 1)[1].split("?", 1)[0]
        return int(self.pgserver.cluster().sql(
            url, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '%s'"
            % dbn).strip())

    def run_get(self):
        a = self.a
        folder = os.path.join(self.tmp, "small-model")
        os.makedirs(folder)
        with open(os.path.join(folder, "config.json"), "wb") as f:
            f.write(self.bs.config_json())
        self.sv.write_tiny_safetensors(os.path.join(folder, "model.safetensors"))
        lite = self.server("sqlite")
        plan = [("SQLite", lite, None)]
        for t in a.pg_threads:
            url = self.pgserver.new_db("get%d" % t)
            srv = self.server("pg%d" % t, db=url, args=["--threads", str(t)] if t else [])
            plan.append(("PostgreSQL" + (", --threads %d" % t if t else ""), srv, url))
        for _, srv, _ in plan:
            tok = self.setup_publisher(srv)
            self.push(srv, tok, "bench/model", folder, "--tier", "open")
            r = srv.request("GET", "/bench/model/resolve/main/config.json")
            if r.status != 200 or len(r.body) != 1024:
                die("config.json: %r" % r)
        time.sleep(2)
        rates = {name: [] for name, _, _ in plan}
        reads = {name: [0, 0] for name, _, _ in plan}  # transactions, requests
        for i in range(a.wrk_runs):
            for name, srv, url in plan:
                x0 = self.xacts(url) if url else 0
                cmd, out = wrk("http://127.0.0.1:%d/bench/model/resolve/main/config.json"
                               % srv.port, a.wrk_seconds, 2, 64)
                rates[name].append(req_per_s(out))
                if url:
                    time.sleep(2)  # PostgreSQL's statistics arrive within a second or so
                    m = re.search(r"(\d+) requests in", out)
                    reads[name][0] += self.xacts(url) - x0 - 1
                    reads[name][1] += int(m.group(1)) if m else 0
        self.commands.append(" ".join(cmd[:-1] + ["http://127.0.0.1:PORT/bench/model/resolve/"
                                                   "main/config.json"]))
        lite_r = statistics.median(rates["SQLite"])
        for name, srv, url in plan[1:]:
            pg_r = statistics.median(rates[name])
            ratio = pg_r / lite_r
            self.rows.append(("1 KiB GET, 64 conns (%s vs SQLite)" % name,
                              "%s req/s" % format(round(pg_r), ","),
                              "%s req/s" % format(round(lite_r), ","), "%.2fx" % ratio,
                              ">= 0.70x", "PASS" if ratio >= 0.7 else "FAIL"))
            self.notes.append("%s: %.2f database transactions per GET" % (
                name, reads[name][0] / max(1, reads[name][1])))
        self.notes.append("get runs (req/s): " + "; ".join(
            "%s %s" % (name, ", ".join("%.0f" % x for x in rates[name])) for name, _, _ in plan))
        for _, srv, _ in plan:
            srv.stop()

    # ---------------------------------------------------------------- append

    def log_size(self, url):
        return int(self.pgserver.cluster().sql(url, "SELECT count(*) FROM log_entries").strip())

    def tlog_rate(self, db, batch):
        """bench_tlog's row (a): entries/s of sl__log_append in transactions
        of BATCH entries on DB (None: the data folder's SQLite)."""
        env = dict(os.environ, BENCH_TLOG_ENTRIES=str(self.a.tlog_entries),
                   BENCH_TLOG_BATCH=str(batch), BENCH_TLOG_PROOFS="100", BENCH_TLOG_E2E="0",
                   TMPDIR=self.tmp)
        env.pop("BENCH_TLOG_DB", None)
        if db:
            env["BENCH_TLOG_DB"] = db
        p = subprocess.run([self.a.bench_tlog], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=3600)
        m = re.search(r"^\(a\)\s+append.*?([0-9.]+) e/s", p.stdout, re.M)
        if not m:
            die("bench_tlog gave no append row (exit %d): %s" % (p.returncode,
                                                                 (p.stdout + p.stderr)[-1500:]))
        return float(m.group(1))

    def run_primitive(self):
        a = self.a
        for batch, what in ((1000, "transactions of 1,000"), (1, "one per transaction")):
            lite = self.tlog_rate(None, batch)
            pg = self.tlog_rate(self.pgserver.new_db("tlog%d" % batch), batch)
            self.rows.append(("append primitive, %s: PostgreSQL vs SQLite" % what,
                              "%s/s" % format(round(pg), ","), "%s/s" % format(round(lite), ","),
                              "%.2fx" % (pg / lite), ">= 5,000/s",
                              "PASS" if pg >= 5000 else "FAIL"))
        self.commands.append("BENCH_TLOG_ENTRIES=%d BENCH_TLOG_BATCH=1000|1 BENCH_TLOG_PROOFS=100 "
                             "BENCH_TLOG_E2E=0 [BENCH_TLOG_DB=postgresql://...] %s" % (
                                 a.tlog_entries, os.path.relpath(a.bench_tlog, REPO)
                                 if a.bench_tlog.startswith(REPO + os.sep) else a.bench_tlog))

    def run_append(self):
        a = self.a
        url = self.pgserver.new_db("append")
        data = os.path.join(self.tmp, "data-append")
        wa = os.path.join(self.tmp, "srv-append-a")
        wb = os.path.join(self.tmp, "srv-append-b")
        os.makedirs(wa)
        os.makedirs(wb)
        # two servers, one database, one data folder (keys and packs)
        sa = self.sv.Server(data, workdir=wa, db=url)
        self.servers.append(sa)
        sa.start()
        sb = self.sv.Server(data, workdir=wb, db=url)
        self.servers.append(sb)
        sb.start()
        tok = self.setup_publisher(sa)
        folder = os.path.join(self.tmp, "flip-model")
        os.makedirs(folder)
        with open(os.path.join(folder, "config.json"), "wb") as f:
            f.write(self.bs.config_json())
        for i in range(2 * APPEND_MODELS):
            self.push(sa, tok, "bench/flip%d" % i, folder, "--tier", "open")
        script = os.path.join(self.tmp, "flip.lua")
        with open(script, "w") as f:
            f.write(LUA)

        def one(srv, base, out):
            cmd, text = wrk("http://127.0.0.1:%d" % srv.port, a.append_seconds, APPEND_MODELS,
                            APPEND_MODELS, script, (str(base), tok))
            m = re.search(r"^RESULT (.*)$", text, re.M)
            if not m:
                die("no RESULT from the wrk script: %s" % text[-1000:])
            out.append((cmd, json.loads(m.group(1))))

        results = {}
        for label, plan in (("one server", [(sa, 0)]),
                            ("two servers at once", [(sa, 0), (sb, APPEND_MODELS)])):
            before = self.log_size(url)
            outs = []
            threads = [threading.Thread(target=one, args=(srv, base, outs)) for srv, base in plan]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - t0
            time.sleep(0.5)  # requests still in flight when wrk stopped land now
            after = self.log_size(url)
            ok = sum(r["requests"] - r["non2xx"] for _, r in outs)
            errors = sum(r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
                         for _, r in outs)
            secs = max(r["us"] for _, r in outs) / 1e6
            results[label] = (after - before, ok, errors, secs, outs)
            if label == "one server":
                self.commands.append(" ".join(outs[0][0][:-4]).replace(script, "flip.lua") +
                                     " http://127.0.0.1:PORT -- BASE TOKEN  (one per server; "
                                     "bench/bench_scale.py writes flip.lua)")
            rate = (after - before) / secs
            self.rows.append(("log appends, %s (PostgreSQL)" % label, "%s/s" % format(
                round(rate), ","), "-", "-", ">= 5,000/s", "PASS" if rate >= 5000 else "FAIL"))
            self.notes.append(
                "append %s: %d entries in %.1f s (wall %.1f s), %d answered 200, %d errors, "
                "latency p50 %s ms, p99 %s ms" % (
                    label, after - before, secs, wall, ok, errors,
                    "/".join("%.1f" % (r["p50_us"] / 1000) for _, r in outs),
                    "/".join("%.1f" % (r["p99_us"] / 1000) for _, r in outs)))
        # nothing lost, no gap, one tree
        problems = []
        for label, (added, ok, errors, _, _) in results.items():
            # every answered change is an entry; a change answered after wrk
            # stopped counting (at most one per connection) is one more
            if not ok <= added <= ok + 2 * APPEND_MODELS:
                problems.append("%s: %d entries for %d answered changes" % (label, added, ok))
        cl = self.pgserver.cluster()
        n = self.log_size(url)
        if cl.sql(url, "SELECT coalesce(max(idx) + 1, 0) FROM log_entries").strip() != str(n):
            problems.append("the log's indexes have a gap")
        deadline = time.monotonic() + 15
        notes = []
        while time.monotonic() < deadline:
            notes = [s.request("GET", "/log/checkpoint").body.decode() for s in (sa, sb)]
            if all(x.split("\n")[1] == str(n) for x in notes) and notes[0] == notes[1]:
                break
            time.sleep(0.3)
        if not (notes and notes[0] == notes[1] and notes[0].split("\n")[1] == str(n)):
            problems.append("the servers do not serve one checkpoint of %d entries" % n)
        home = os.path.join(self.tmp, "witness")
        r = self.st.run("log", "verify", "--full", env=sa.client_env(None, home), timeout=600)
        if r.rc != 0 or ("verified at %d entries" % n) not in r.stdout:
            problems.append("sluice log verify --full: %r" % r)
        self.rows.append(("two servers: nothing lost, no fork (%d entries)" % n,
                          "ok" if not problems else "; ".join(problems), "-", "-",
                          "all entries, one tree", "PASS" if not problems else "FAIL"))
        sa.stop()
        sb.stop()

    # ---------------------------------------------------------------- s3

    def run_s3(self):
        a = self.a
        if not shutil.which("aws"):
            die("the aws CLI is not on PATH")
        moto = self.sv.shared_moto()
        bucket = "bench-" + os.urandom(4).hex()
        moto.create_bucket(bucket)
        store = (["--store", "s3://%s/packs" % bucket], moto.env())
        srv = self.server("s3", store=store)
        tok = self.setup_publisher(srv)
        folder = os.path.join(self.tmp, "big-model")
        os.makedirs(folder)
        big = os.path.join(folder, "w.bin")
        # incompressible, and no two chunks alike: AES-CTR of zeros
        key = hashlib.sha256(b"bench_scale").hexdigest()[:32]
        with open(big, "wb") as f:
            gen = subprocess.Popen(["openssl", "enc", "-aes-128-ctr", "-nosalt", "-K", key,
                                    "-iv", "0" * 32, "-in", "/dev/zero"], stdout=subprocess.PIPE)
            left = a.size_mib * MIB
            while left:
                b = gen.stdout.read(min(left, 64 * MIB))
                if not b:
                    die("openssl enc stopped early")
                f.write(b)
                left -= len(b)
            gen.kill()
            gen.wait()
        t0 = time.monotonic()
        self.push(srv, tok, "bench/big", folder, "--tier", "open")
        push_s = time.monotonic() - t0

        pid = srv.proc.pid
        base = rss_kib(pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
        t0 = time.monotonic()
        c.request("GET", "/bench/big/resolve/main/w.bin")
        resp = c.getresponse()
        n = 0
        while True:
            b = resp.read(4 * MIB)
            if not b:
                break
            n += len(b)
        t_sluice = time.monotonic() - t0
        done.set()
        th.join()
        c.close()
        if resp.status != 200 or n != a.size_mib * MIB:
            die("download got HTTP %d, %d bytes" % (resp.status, n))
        # aws s3 cp of the packs that hold those bytes, one object at a time
        # (`aws s3 cp s3://.../pack -`, as the target is stated), from the same moto
        env = dict(os.environ, **moto.env(), AWS_DEFAULT_REGION="us-east-1")
        keys = sorted(moto.list_keys(bucket, "packs/"))
        keys = [k for k in keys if k.endswith(".pack")]
        if not keys:
            die("no packs in s3://%s/packs/" % bucket)
        sample = keys[:a.aws_packs] if a.aws_packs else keys
        aws_bytes, t_aws = 0, 0.0
        for k in sample:
            t0 = time.monotonic()
            p = subprocess.Popen(["aws", "s3", "cp", "s3://%s/%s" % (bucket, k), "-"], env=env,
                                 stdout=subprocess.PIPE)
            while True:
                b = p.stdout.read(4 * MIB)
                if not b:
                    break
                aws_bytes += len(b)
            if p.wait() != 0:
                die("aws s3 cp s3://%s/%s - failed" % (bucket, k))
            t_aws += time.monotonic() - t0
        # and all packs in one process (its own parallel ranged GETs), to a folder
        dest = os.path.join(self.tmp, "aws-packs")
        t0 = time.monotonic()
        subprocess.run(["aws", "s3", "cp", "--recursive", "--only-show-errors",
                        "s3://%s/packs/" % bucket, dest], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        t_rec = time.monotonic() - t0
        rec_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(dest)
                        for f in fs)
        shutil.rmtree(dest, ignore_errors=True)
        self.notes.append("s3: aws s3 cp of %d of the %d packs (%.0f MiB), one process each, "
                          "%.1f s" % (len(sample), len(keys), aws_bytes / MIB, t_aws))
        mb = a.size_mib * MIB / 1e6
        aws_rate = aws_bytes / 1e6 / t_aws
        ratio = (mb / t_sluice) / aws_rate
        growth = (peak[0] - base) / 1024
        self.rows.append(("%d MiB download from S3 (sluice vs aws s3 cp)" % a.size_mib,
                          "%.1f MB/s" % (mb / t_sluice), "%.1f MB/s" % aws_rate,
                          "%.2fx" % ratio, ">= 0.80x", "PASS" if ratio >= 0.8 else "FAIL"))
        rec_rate = rec_bytes / 1e6 / t_rec
        self.rows.append(("  same, vs aws s3 cp --recursive of all packs (1 process)",
                          "%.1f MB/s" % (mb / t_sluice), "%.1f MB/s" % rec_rate,
                          "%.2fx" % ((mb / t_sluice) / rec_rate), "(not the target)", "-"))
        self.rows.append(("server RSS growth during that download", "%.1f MiB" % growth, "-",
                          "-", "< 64 MiB", "PASS" if growth < 64 else "FAIL"))
        self.notes.append("s3: push of %d MiB took %.1f s; RSS %.1f MiB before, peak %.1f MiB" % (
            a.size_mib, push_s, base / 1024, peak[0] / 1024))
        self.commands.append("GET /bench/big/resolve/main/w.bin (one stream, python "
                             "http.client, 4 MiB reads)")
        self.commands.append("aws s3 cp s3://BUCKET/packs/XX/NAME.pack -  for each pack "
                             "(AWS_ENDPOINT_URL_S3=moto)")
        self.commands.append("aws s3 cp --recursive --only-show-errors s3://BUCKET/packs/ DIR")
        srv.stop()

    # ---------------------------------------------------------------- report

    def report(self, load0):
        bs = self.bs
        say()
        say("bench_scale (issue 13), %s" % datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"))
        say("machine   %s, %d CPUs, %.1f GiB, %s" % (
            bs.cpu_model(), os.cpu_count() or 0, bs.mem_total() / (1 << 30), platform.platform()))
        say("sluice    %s, commit %s" % (bs.binary_id(self.a.sluice), bs.git_commit()))
        say("load      %s at the start, %s at the end" % (load0, loadavg()))
        say()
        w = max(len(r[0]) for r in self.rows)
        say("%-*s  %-16s %-16s %-7s %-22s %s" % (w, "row", "figure", "peer", "ratio", "target",
                                                  "verdict"))
        for r in self.rows:
            say("%-*s  %-16s %-16s %-7s %-22s %s" % ((w,) + r))
        say()
        for n in self.notes:
            say("  " + n)
        say()
        say("commands:")
        for c in self.commands:
            say("  " + c)

    def close(self):
        for srv in self.servers:
            try:
                if srv.running():
                    srv.stop()
            except AssertionError:
                pass
            srv.cleanup()
        if self.a.keep:
            say("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", default=os.path.join(REPO, "build", "sluice"))
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--wrk-runs", type=int, default=3)
    ap.add_argument("--append-seconds", type=int, default=10)
    ap.add_argument("--pg-threads", default="0",
                    help="comma-separated --threads of the servers on PostgreSQL in the get "
                    "rows, one row each (0: the server's default, as on SQLite)")
    ap.add_argument("--size-mib", type=int, default=4096)
    ap.add_argument("--aws-packs", type=int, default=16,
                    help="how many of the file's packs `aws s3 cp` copies (0: all)")
    ap.add_argument("--bench-tlog", help="bench_tlog program (default: bench/bench_tlog "
                    "beside --sluice)")
    ap.add_argument("--tlog-entries", type=int, default=10000,
                    help="entries bench_tlog appends in each append-primitive row")
    ap.add_argument("--skip", default="", help="comma-separated: get, append, s3")
    ap.add_argument("--tmpdir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    skip = set(x for x in a.skip.split(",") if x)
    try:
        a.pg_threads = [int(x) for x in a.pg_threads.split(",")]
    except ValueError:
        die("--pg-threads takes numbers separated by commas")
    if not a.bench_tlog:
        a.bench_tlog = os.path.join(os.path.dirname(os.path.abspath(a.sluice)), "bench",
                                    "bench_tlog")
    if a.tlog_entries < 1000:
        die("--tlog-entries must be at least 1000 (bench_tlog's minimum)")
    if skip - {"get", "append", "s3"}:
        die("--skip takes get, append and s3")
    for tool in ("wrk", "openssl"):
        if not shutil.which(tool):
            die("%s is not on PATH (scripts/deps.sh bench installs it)" % tool)
    load0 = loadavg()
    b = Bench(a)
    try:
        b.facts = os.path.join(b.tmp, "facts.json")
        with open(b.facts, "w") as f:
            json.dump(FACTS, f)
        if "get" not in skip:
            say("get: 1 KiB GET rate, SQLite and PostgreSQL ...")
            b.run_get()
        if "append" not in skip:
            if not os.access(a.bench_tlog, os.X_OK):
                die("%s is not a program (build with -DSLUICE_BENCH=ON, or give "
                    "--bench-tlog)" % a.bench_tlog)
            say("append: the append primitive (bench_tlog), SQLite and PostgreSQL ...")
            b.run_primitive()
            say("append: log appends on PostgreSQL, one and two servers ...")
            b.run_append()
        if "s3" not in skip:
            say("s3: %d MiB download from the S3 store and with aws s3 cp ..." % a.size_mib)
            b.run_s3()
        b.report(load0)
        return 0
    finally:
        b.close()


if __name__ == "__main__":
    sys.exit(main())
