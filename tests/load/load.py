#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""load: a bounded mixed workload against `sluice serve` on 127.0.0.1.

Not a test CTest runs (it takes a minute and more): `make load` runs it,
and docs/RELIABILITY.md records its figures. In a temporary folder it starts
the real server, pushes an open model (a 64 MiB file, config.json, a small
safetensors file) and a gated one, creates one account per connection, then
runs --connections client threads, each with its own keep-alive connection
(http.client), for --seconds seconds. Each request is one of:

  metadata   GET /api/v1/models/o/open, /api/v1/models/o/open/versions/v1,
             /api/models/o/open, /api/models/o/open/tree/main,
             HEAD /o/open/resolve/main/big.bin
  range      GET /o/open/resolve/main/big.bin with a random Range of up to
             1 MiB; the bytes are compared with the file
  access     the thread's own account moves through request -> (publisher)
             approve -> GET access/me -> (publisher) revoke -> request ...,
             each change a log entry; and, as a refusal that must happen,
             an anonymous download of the gated model (401 expected)
  log        GET /log/checkpoint, /api/v1/log/entries (100 entries),
             /api/v1/log/proof/inclusion of a random entry

Every answer is predictable, so any 5xx, any 4xx other than the expected
401, any wrong byte or lost connection counts as an error. A sampler reads
the server's VmRSS from /proc every second. At the end it prints requests/s,
p50/p99 latency per kind, the errors, the RSS of the first and the last
10 s and the verdict (zero 5xx, no unexpected 4xx, RSS growth < 10%), stops
the server with SIGTERM (it must exit 0) and removes the folder. Exit status
1 when a target is missed.

    python3 tests/load/load.py [--sluice BIN] [--seconds 60] [--connections 64]
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FACTS = {"params": 4224, "training": {"tokens": 1e9}}
BIG = 64 << 20


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {}          # kind -> [seconds]
        self.status = {}       # status -> count
        self.errors = []       # (kind, what)
        self.error_count = 0
        self.expected_4xx = 0
        self.bytes = 0

    def add(self, kind, secs, status, nbytes=0):
        with self.lock:
            self.lat.setdefault(kind, []).append(secs)
            self.status[status] = self.status.get(status, 0) + 1
            self.bytes += nbytes

    def error(self, kind, what):
        with self.lock:
            self.error_count += 1
            if len(self.errors) < 20:
                self.errors.append((kind, what))


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def request(self, method, path, body=None, token=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                t0 = time.monotonic()
                self.c.request(method, path, body=body, headers=h)
                r = self.c.getresponse()
                data = r.read()
                secs = time.monotonic() - t0
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, data, secs, r
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                # a keep-alive connection the server closed between requests
                # is retried once on a new one; a second failure is an error
                self.close()
                if attempt:
                    raise e
        raise AssertionError("unreachable")

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


class Worker(threading.Thread):
    def __init__(self, i, env, stats, stop):
        super().__init__(daemon=True)
        self.i, self.env, self.stats, self.stop = i, env, stats, stop
        self.rng = random.Random(1000 + i)
        self.cli = Client(env["port"])
        self.user = "load%d" % i
        self.token = env["tokens"][self.user]
        self.state = "none"   # of this worker's access request

    def run(self):
        kinds = ["metadata"] * 40 + ["range"] * 25 + ["access"] * 15 + ["log"] * 20
        while not self.stop.is_set():
            kind = self.rng.choice(kinds)
            try:
                getattr(self, kind)()
            except (OSError, http.client.HTTPException) as e:
                self.stats.error(kind, "connection: %r" % e)
                self.cli.close()

    def expect(self, kind, what, status, data, secs, ok=(200,)):
        self.stats.add(kind, secs, status, len(data))
        if status not in ok:
            self.stats.error(kind, "%s: HTTP %d %r" % (what, status, data[:200]))
            return False
        return True

    def metadata(self):
        paths = [("GET", "/api/v1/models/o/open"), ("GET", "/api/v1/models/o/open/versions/v1"),
                 ("GET", "/api/models/o/open"), ("GET", "/api/models/o/open/tree/main"),
                 ("HEAD", "/o/open/resolve/main/big.bin")]
        m, p = self.rng.choice(paths)
        status, data, secs, r = self.cli.request(m, p)
        if self.expect("metadata", "%s %s" % (m, p), status, data, secs) and m == "HEAD":
            if r.getheader("ETag", "").strip('"') != self.env["big_sha"]:
                self.stats.error("metadata", "HEAD big.bin: ETag %r" % r.getheader("ETag"))

    def range(self):
        big = self.env["big"]
        a = self.rng.randrange(len(big))
        b = min(len(big) - 1, a + self.rng.randrange(1 << 20))
        status, data, secs, _ = self.cli.request("GET", "/o/open/resolve/main/big.bin",
                                                 headers={"Range": "bytes=%d-%d" % (a, b)})
        if self.expect("range", "bytes=%d-%d" % (a, b), status, data, secs, ok=(206,)):
            if data != big[a:b + 1]:
                self.stats.error("range", "bytes=%d-%d: wrong bytes" % (a, b))

    def access(self):
        base = "/api/v1/models/o/gated/access"
        pub = self.env["pub"]
        if self.rng.random() < 0.2:
            status, data, secs, _ = self.cli.request("GET", "/o/gated/resolve/main/config.json")
            self.stats.add("access", secs, status, len(data))
            if status == 401:
                with self.stats.lock:
                    self.stats.expected_4xx += 1
            else:
                self.stats.error("access", "anonymous gated download: HTTP %d (401 expected)"
                                 % status)
            return
        if self.state in ("none", "revoked"):
            st, data, secs, _ = self.cli.request("POST", base, {"purpose": "load test %d"
                                                                % self.rng.randrange(1 << 30)},
                                                 self.token)
            if self.expect("access", "request", st, data, secs, ok=(201,)):
                self.state = "pending"
        elif self.state == "pending":
            st, data, secs, _ = self.cli.request("POST", base + "/%s/approve" % self.user, {}, pub)
            if self.expect("access", "approve", st, data, secs):
                self.state = "approved"
        elif self.state == "approved":
            st, data, secs, _ = self.cli.request("GET", base + "/me", token=self.token)
            if self.expect("access", "access/me", st, data, secs):
                if json.loads(data).get("status") != "approved":
                    self.stats.error("access", "access/me: %r" % data[:200])
                self.state = "checked"
        else:
            st, data, secs, _ = self.cli.request("POST", base + "/%s/revoke" % self.user,
                                                 {"reason": "load test rotation"}, pub)
            if self.expect("access", "revoke", st, data, secs):
                self.state = "revoked"

    def log(self):
        pick = self.rng.random()
        if pick < 0.4:
            status, data, secs, _ = self.cli.request("GET", "/log/checkpoint")
            if self.expect("log", "checkpoint", status, data, secs):
                try:
                    size = int(data.decode().split("\n")[1])
                    with self.stats.lock:
                        self.env["log_size"] = max(self.env["log_size"], size)
                except (ValueError, IndexError):
                    self.stats.error("log", "checkpoint %r" % data[:200])
            return
        size = self.env["log_size"]
        if size < 2:
            return
        if pick < 0.7:
            s = self.rng.randrange(size)
            e = min(size, s + 100)
            status, data, secs, _ = self.cli.request("GET", "/api/v1/log/entries?start=%d&end=%d"
                                                     % (s, e))
            if self.expect("log", "entries %d..%d" % (s, e), status, data, secs):
                if len(json.loads(data)) != e - s:
                    self.stats.error("log", "entries %d..%d: wrong count" % (s, e))
        else:
            i = self.rng.randrange(size)
            status, data, secs, _ = self.cli.request(
                "GET", "/api/v1/log/proof/inclusion?index=%d&size=%d" % (i, size))
            self.expect("log", "inclusion %d/%d" % (i, size), status, data, secs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", default=os.path.join(REPO, "build", "sluice"))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    os.environ["SLUICE_BIN"] = os.path.abspath(a.sluice)
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    import server as sv
    import sluicetest as st

    if not os.access(a.sluice, os.X_OK):
        print("load: no sluice binary at %s" % a.sluice, file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="sluice-load-")
    srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
    try:
        return run(a, sv, st, srv, tmp)
    finally:
        srv.cleanup()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run(a, sv, st, srv, tmp):
    say = lambda m: print(m, flush=True)
    srv.start()
    pub = srv.add_user("pub")
    srv.add_org("o")
    srv.add_member("o", "pub")
    tokens = {}
    t0 = time.monotonic()
    for i in range(a.connections):
        tokens["load%d" % i] = srv.add_user("load%d" % i)
    say("load: server pid %d on 127.0.0.1:%d; %d accounts in %.1f s"
        % (srv.proc.pid, srv.port, a.connections, time.monotonic() - t0))
    home = os.path.join(tmp, "home")
    facts = os.path.join(tmp, "facts.json")
    with open(facts, "w") as f:
        json.dump(FACTS, f)
    rng = random.Random(7)
    m = os.path.join(tmp, "open")
    sv.make_model(m, big=BIG, rng=rng)
    g = os.path.join(tmp, "gated")
    sv.make_model(g, big=1 << 20, rng=rng)
    for model, folder, tier in (("o/open", m, []), ("o/gated", g, ["--tier", "gated"])):
        r = st.run("push", model, folder, "--facts", facts, "--json", *tier,
                   env=srv.client_env(pub, home), timeout=300)
        if r.rc != 0:
            say("load: push of %s failed: %r" % (model, r))
            return 1
    with open(os.path.join(m, "big.bin"), "rb") as f:
        big = f.read()
    env = {"port": srv.port, "pub": pub, "tokens": tokens, "big": big,
           "big_sha": sv.sha256_file(os.path.join(m, "big.bin")), "log_size": 0}

    stats = Stats()
    stop = threading.Event()
    workers = [Worker(i, env, stats, stop) for i in range(a.connections)]
    samples = []  # (seconds since start, RSS KiB, server CPU s, requests so far)
    pid = srv.proc.pid
    say("load: %d connections for %d s: metadata 40%%, range 25%%, access 15%%, log 20%%"
        % (a.connections, a.seconds))
    start = time.monotonic()
    cpu0 = cpu_s(pid)
    for w in workers:
        w.start()
    while True:
        now = time.monotonic() - start
        with stats.lock:
            n = sum(stats.status.values())
        samples.append((now, rss_kib(pid), cpu_s(pid) - cpu0, n))
        if now >= a.seconds:
            break
        time.sleep(min(1.0, a.seconds - now) if a.seconds - now > 0.05 else 0.05)
    stop.set()
    for w in workers:
        w.join(60)
    wall = time.monotonic() - start
    for w in workers:
        w.cli.close()

    # ---- report
    total = sum(stats.status.values())
    n5xx = sum(c for s, c in stats.status.items() if s >= 500)
    n4xx = sum(c for s, c in stats.status.items() if 400 <= s < 500)
    unexpected_4xx = n4xx - stats.expected_4xx
    first = [r for t, r, _, _ in samples if t <= 10.0 and r]
    last = [r for t, r, _, _ in samples if t >= samples[-1][0] - 10.0 and r]
    rss_first, rss_last = statistics.mean(first), statistics.mean(last)
    growth = (rss_last - rss_first) / rss_first * 100.0
    all_lat = [x for xs in stats.lat.values() for x in xs]
    say("")
    say("== load: sluice serve, mixed workload on loopback (issue 7)")
    say("date      %s" % datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"))
    say("machine   %s, %d CPUs, %s %s; clients and server share it"
        % (cpu_model(), os.cpu_count() or 0, platform.system(), platform.release()))
    say("command   python3 tests/load/load.py --sluice %s --seconds %d --connections %d"
        % (a.sluice, a.seconds, a.connections))
    say("requests  %d in %.1f s = %.0f req/s; %.1f MB received; server CPU %.1f s"
        % (total, wall, total / wall, stats.bytes / 1e6, samples[-1][2]))
    say("statuses  %s" % ", ".join("%d: %d" % kv for kv in sorted(stats.status.items())))
    say("%-9s %9s %9s %9s %9s" % ("kind", "requests", "p50 ms", "p99 ms", "max ms"))
    for kind in ("metadata", "range", "access", "log"):
        xs = stats.lat.get(kind, [])
        say("%-9s %9d %9.2f %9.2f %9.1f" % (kind, len(xs), pct(xs, 50) * 1e3, pct(xs, 99) * 1e3,
                                           max(xs or [0]) * 1e3))
    say("%-9s %9d %9.2f %9.2f %9.1f" % ("all", len(all_lat), pct(all_lat, 50) * 1e3,
                                       pct(all_lat, 99) * 1e3, max(all_lat or [0]) * 1e3))
    say("RSS       first 10 s %.1f MiB (mean of %d samples), last 10 s %.1f MiB (%d samples): "
        "%+.1f%%; min %.1f, max %.1f MiB"
        % (rss_first / 1024, len(first), rss_last / 1024, len(last), growth,
           min(r for _, r, _, _ in samples if r) / 1024,
           max(r for _, r, _, _ in samples if r) / 1024))
    say("RSS by second (MiB): %s" % " ".join("%.0f" % (r / 1024) for _, r, _, _ in samples if r))
    say("log      %d entries at the end (access changes: each request, approval and "
        "revocation)" % env["log_size"])
    if stats.errors:
        say("errors (first %d of %d):" % (len(stats.errors), stats.error_count))
        for kind, what in stats.errors:
            say("  %-8s %s" % (kind, what))
    ok = True
    for name, good, fig in (("zero 5xx", n5xx == 0, "%d" % n5xx),
                            ("no unexpected 4xx", unexpected_4xx == 0,
                             "%d (and %d expected 401)" % (unexpected_4xx, stats.expected_4xx)),
                            ("no other error", stats.error_count == 0, "%d" % stats.error_count),
                            ("RSS growth < 10%", growth < 10.0, "%+.1f%%" % growth)):
        say("%-20s %-5s %s" % (name, "PASS" if good else "FAIL", fig))
        ok &= good
    t1 = time.monotonic()
    srv.stop(timeout=30)
    say("server stopped with SIGTERM in %.1f s, exit 0" % (time.monotonic() - t1))
    r = srv.fsck()
    say("fsck after the run: %s" % ("clean" if r.rc == 0 else "FAILED: %s" % r.stdout[-500:]))
    ok &= r.rc == 0
    return 0 if ok else 1


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
