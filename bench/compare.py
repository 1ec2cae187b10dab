#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""compare: sluice, nginx and the CNCF distribution registry side by side (issue 7).

A benchmark program (not a test). In one temporary folder on this machine it
starts, on free ports of 127.0.0.1, `sluice serve`, nginx (sendfile on,
access_log off) and the CNCF distribution registry (Debian's
`docker-registry`, filesystem storage), puts the same bytes in all three,
and measures in one run:

  download      single-stream download of a --size-gib file (curl), the
                servers alternately, --runs times each: sluice resolve,
                nginx static file, registry blob GET
  8 streams     the same file in 8 ranged parts fetched at once (8 curls),
                as parallel clients (sluice pull, hf_transfer) do
  1 KiB         wrk -t2 -c64 on config.json (a 1 KiB blob in the registry)
  HEAD          ab -k -i -c 64 (HEAD) on the big file: the metadata a
                client asks for first (ETag, size); wrk cannot do HEAD
  push 1 GiB    `sluice push` of a --push-gib model folder against the OCI
                blob upload of the same file to the registry (POST, one
                streaming PATCH hashed on the fly, PUT ?digest=); nginx has
                no upload
  dedup         the pushed folder pushed again (README changed) and with 10%
                of its tensors rewritten: bytes uploaded; the registry
                deduplicates whole blobs only, so a changed file is a whole
                new blob (checked with HEAD on its digest)
  sluice only   transparency log append rate and proof time (quoted from
                build/bench/bench_tlog when it is built), fingerprinted vs open
                download of a gated copy (when the server marks gated copies),
                and `sluice classify` time on the model folder

It prints ONE table (each row with its figures, ratios, target and the
commands that produced them), the machine and the date, then stops the
servers and removes the folder (--keep keeps it). Python 3 standard library
only; it imports bench/bench_serve.py for the model, the servers and the
measurement helpers. Needs nginx, wrk, ab (apache2-utils), curl, openssl and docker-registry.

    python3 bench/compare.py [--quick] [--size-gib N] [--push-gib N] [--runs N]
                             [--wrk-seconds S] [--wrk-runs N] [--sluice BIN]
                             [--tlog-entries N] [--tmpdir DIR] [--keep] [--markdown FILE]

--quick: 0.5 GiB download file, 0.25 GiB push, one run of each, wrk 3 s,
100,000 log entries: a few minutes instead of about fifteen.

Client and servers share the machine: on a small machine the figures say as
much about its CPUs as about the servers. Compare ratios, not MB/s.
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
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_serve as bs  # noqa: E402

REPO = bs.REPO
GIB, MIB = bs.GIB, bs.MIB
ORG, NAME, BIG = bs.ORG, bs.NAME, bs.BIG
REPO_NAME = "bench/model"  # the registry repository

say = bs.say


def die(msg):
    print("compare: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# --------------------------------------------------------------------------
# the registry


REGISTRY_CONF = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: sluice-bench-compare
"""


def registry_bin():
    for b in ("/usr/bin/docker-registry", shutil.which("docker-registry") or "",
              shutil.which("registry") or ""):
        if b and os.access(b, os.X_OK):
            return b
    return None


def start_registry(servers, prefix, port):
    os.makedirs(os.path.join(prefix, "storage"))
    conf = os.path.join(prefix, "config.yml")
    with open(conf, "w") as f:
        f.write(REGISTRY_CONF.format(root=os.path.join(prefix, "storage"), port=port))
    p = subprocess.Popen([registry_bin(), "serve", conf], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(prefix, "stderr.log"), "w"),
                         start_new_session=True)
    servers.procs.append(("docker-registry", p, signal.SIGTERM))
    bs.wait_port(port, p, "docker-registry")
    end = time.monotonic() + 20
    while time.monotonic() < end:
        st, _, _ = http_do(port, "GET", "/v2/")
        if st == 200:
            return p
        time.sleep(0.05)
    die("docker-registry did not answer GET /v2/ on 127.0.0.1:%d" % port)


def http_do(port, method, path, body=None, headers=None, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def location(headers, port):
    loc = dict((k.lower(), v) for k, v in headers).get("location")
    if not loc:
        die("the registry gave no Location for the upload")
    u = urllib.parse.urlsplit(loc)
    return u.path + ("?" + u.query if u.query else "")


def registry_push_blob(port, repo, path):
    """The OCI blob push of one file: POST an upload, one PATCH that streams
    the file (hashed as it is read), PUT ?digest=. Returns (digest, seconds,
    bytes sent). The digest is computed once, on the way."""
    size = os.path.getsize(path)
    t0 = time.monotonic()
    st, hdrs, body = http_do(port, "POST", "/v2/%s/blobs/uploads/" % repo)
    if st != 202:
        die("registry upload start: HTTP %d %r" % (st, body[:300]))
    loc = location(hdrs, port)
    h = hashlib.sha256()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        c.putrequest("PATCH", loc)
        c.putheader("Content-Type", "application/octet-stream")
        c.putheader("Content-Length", str(size))
        c.endheaders()
        with open(path, "rb") as f:
            while True:
                b = f.read(8 * MIB)
                if not b:
                    break
                h.update(b)
                c.send(b)
        r = c.getresponse()
        body = r.read()
        if r.status != 202:
            die("registry PATCH: HTTP %d %r" % (r.status, body[:300]))
        loc = location(r.getheaders(), port)
    finally:
        c.close()
    digest = "sha256:" + h.hexdigest()
    sep = "&" if "?" in loc else "?"
    st, _, body = http_do(port, "PUT", loc + sep + "digest=" + urllib.parse.quote(digest),
                          headers={"Content-Length": "0"})
    if st != 201:
        die("registry PUT ?digest: HTTP %d %r" % (st, body[:300]))
    return digest, time.monotonic() - t0, size


def registry_has(port, repo, digest):
    st, _, _ = http_do(port, "HEAD", "/v2/%s/blobs/%s" % (repo, digest))
    return st == 200


# --------------------------------------------------------------------------
# measurements


def parallel_download(url, size, streams=8, headers=()):
    """`streams` curls at once, each a ranged part; returns aggregate MB/s."""
    part = -(-size // streams)
    procs = []
    t0 = time.monotonic()
    for i in range(streams):
        a, b = i * part, min(size, (i + 1) * part) - 1
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
               "-r", "%d-%d" % (a, b)]
        for h in headers:
            cmd += ["-H", h]
        procs.append(subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, text=True))
    got = 0
    for p in procs:
        out, _ = p.communicate()
        code, n = out.split()
        if code != "206":
            die("ranged download %s: HTTP %s" % (url, code))
        got += int(float(n))
    wall = time.monotonic() - t0
    if got != size:
        die("ranged download %s: %d of %d bytes" % (url, got, size))
    return size / wall / 1e6


def curl_dl(url, size, headers=()):
    cmd = ["curl", "-s", "-o", "/dev/null", "-w",
           "%{speed_download} %{size_download} %{http_code}"]
    for h in headers:
        cmd += ["-H", h]
    out, _, _ = bs.run(cmd + [url])
    speed, n, code = out.split()
    if code != "200" or int(float(n)) != size:
        die("download %s: HTTP %s, %s bytes (expected 200, %d)" % (url, code, n, size))
    return float(speed) / 1e6


def wrk_run(url, secs, script=None):
    cmd = ["wrk", "-t2", "-c64", "-d%ds" % secs, "--latency"]
    if script:
        cmd += ["-s", script]
    out, _, _ = bs.run(cmd + [url])
    res = {"rps": float("nan"), "non2xx": 0, "errors": ""}
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("Requests/sec:"):
            res["rps"] = float(s.split()[1])
        elif s.startswith("Non-2xx or 3xx responses:"):
            res["non2xx"] = int(s.split(":")[1])
        elif s.startswith("Socket errors:"):
            res["errors"] = s
        elif s.startswith("99%"):
            res["p99"] = s.split()[1]
    return res


def ab_head(url, secs):
    """HEAD requests/s with ApacheBench (keep-alive, 64 at once): wrk waits
    for a body after a HEAD answer with a Content-Length, so it cannot."""
    out, _, _ = bs.run(["ab", "-k", "-i", "-c", "64", "-t", str(secs), "-n", "100000000", url])
    res = {"rps": float("nan"), "non2xx": 0, "failed": 0}
    for line in out.splitlines():
        if line.startswith("Requests per second:"):
            res["rps"] = float(line.split()[3])
        elif line.startswith("Non-2xx responses:"):
            res["non2xx"] = int(line.split()[2])
        elif line.startswith("Failed requests:"):
            res["failed"] = int(line.split()[2])
    return res


def head_ok(port, path):
    st, hdrs, _ = http_do(port, "HEAD", path)
    return st == 200


def api(port, method, path, body=None, token=None):
    h = {}
    if token:
        h["Authorization"] = "Bearer " + token
    if body is not None:
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    st, _, data = http_do(port, method, path, body, h)
    return st, data


def range_bytes(port, path, n, token=None):
    h = {"Range": "bytes=0-%d" % (n - 1)}
    if token:
        h["Authorization"] = "Bearer " + token
    st, _, data = http_do(port, "GET", path, headers=h)
    if st != 206:
        die("GET %s (first %d bytes): HTTP %d %r" % (path, n, st, data[:300]))
    return data


def run_bench_tlog(build, entries, e2e, sluice):
    exe = os.path.join(build, "bench", "bench_tlog")
    if not os.access(exe, os.X_OK):
        return None, "not built"
    env = dict(os.environ, BENCH_TLOG_ENTRIES=str(entries), BENCH_TLOG_E2E="1" if e2e else "0")
    t0 = time.monotonic()
    p = subprocess.run([exe, sluice], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env)
    wall = time.monotonic() - t0
    if p.returncode not in (0, 1):  # 1: it measured and a target missed
        return None, "bench_tlog exited %d: %s" % (p.returncode, p.stderr.strip()[-300:])
    return p.stdout, "%.0f s" % wall


def parse_tlog(out):
    """Append rate (entries/s), median proof time (us) and the result rows
    (from "(a)" to the first blank line) of bench_tlog's output."""
    append = proof = None
    lines = []
    for line in out.splitlines():
        if not lines and not line.startswith("(a)"):
            continue
        if not line.strip():
            break
        lines.append(line.rstrip())
        if line.startswith("(a)"):
            m = re.search(r"([\d.]+) e/s", line)
            append = float(m.group(1)) if m else None
        elif line.startswith("(b)"):
            m = re.search(r"([\d.]+) us", line)
            proof = float(m.group(1)) if m else None
    return append, proof, lines


def median(xs):
    return bs.median(xs)


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller, shorter run")
    ap.add_argument("--size-gib", type=float, default=None, help="download file (default 4)")
    ap.add_argument("--push-gib", type=float, default=None, help="push file (default 1)")
    ap.add_argument("--runs", type=int, default=None, help="downloads per server (default 3)")
    ap.add_argument("--wrk-seconds", type=int, default=None, help="wrk duration (default 10)")
    ap.add_argument("--wrk-runs", type=int, default=None, help="wrk runs per server (default 3)")
    ap.add_argument("--tlog-entries", type=int, default=None,
                    help="entries for bench_tlog (default 1000000)")
    ap.add_argument("--sluice", default=os.path.join(REPO, "build", "sluice"))
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--markdown", default=None, help="also write the table as Markdown here")
    a = ap.parse_args()
    q = a.quick
    a.size_gib = a.size_gib or (0.5 if q else 4.0)
    a.push_gib = a.push_gib or (0.25 if q else 1.0)
    a.runs = a.runs or (1 if q else 3)
    a.wrk_seconds = a.wrk_seconds or (3 if q else 10)
    a.wrk_runs = a.wrk_runs or (1 if q else 3)
    a.tlog_entries = a.tlog_entries or (100000 if q else 1000000)

    sluice = os.path.abspath(a.sluice)
    if not os.access(sluice, os.X_OK):
        die("no sluice binary at %s (build it: cmake --build build -j2)" % sluice)
    missing = [t for t in ("nginx", "wrk", "curl", "openssl", "ab") if not shutil.which(t)]
    missing = ["apache2-utils" if t == "ab" else t for t in missing]
    if not registry_bin():
        missing.append("docker-registry")
    if missing:
        die("missing %s; on Debian: apt-get install -y %s (scripts/deps.sh bench)"
            % (", ".join(missing), " ".join(missing)))
    base = a.tmpdir or tempfile.gettempdir()
    free0 = shutil.disk_usage(base).free
    # the big file x4 (model, sluice store, registry store, gated push shares
    # the store), the push file x5 (model, copy, two stores, registry copy)
    need = 4.2 * a.size_gib * GIB + 5.5 * a.push_gib * GIB + 2 * GIB
    if need > free0:
        die("needs about %.0f GB free under %s, has %.0f GB; try --quick or --tmpdir"
            % (need / 1e9, base, free0 / 1e9))
    tmp = tempfile.mkdtemp(prefix="sluice-compare-", dir=base)
    servers = bs.Servers()
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        measure(a, sluice, tmp, servers, free0)
        rc = 0
    except KeyboardInterrupt:
        say("compare: interrupted")
        rc = 1
    finally:
        servers.stop()
        if a.keep:
            say("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


def measure(a, sluice_built, T, servers, free0):
    short = lambda s: s.replace(T, "$T")
    load0 = bs.loadavg()
    bin_id = bs.binary_id(sluice_built)
    sluice = os.path.join(T, "sluice")  # a private copy: the build folder may change meanwhile
    shutil.copy2(sluice_built, sluice)
    say("compare: T=%s" % T)

    # ---- the bytes
    model = os.path.join(T, "model")
    sizes = bs.tensor_plan(int(a.size_gib * 1024))
    t0 = time.monotonic()
    bs.make_model(model, sizes)
    big = os.path.join(model, BIG)
    cfg = os.path.join(model, "config.json")
    big_size = os.path.getsize(big)
    say("model: %s %d bytes (%d BF16 tensors), config.json 1 KiB (%.0f s)"
        % (short(big), big_size, len(sizes), time.monotonic() - t0))
    pmodel = os.path.join(T, "push")
    psizes = bs.tensor_plan(int(a.push_gib * 1024))
    phdr = bs.make_model(pmodel, psizes)
    pbig = os.path.join(pmodel, BIG)
    facts = os.path.join(T, "facts.json")
    with open(facts, "w") as f:
        json.dump(bs.FACTS, f)

    # ---- servers
    ports = set()
    while len(ports) < 3:
        ports.add(bs.free_port())
    nport, sport, rport = sorted(ports)
    data = os.path.join(T, "data")
    ngx = servers.start_nginx(os.path.join(T, "nginx"), model, nport)
    srv = servers.start_sluice(sluice, data, sport, os.path.join(T, "sluice-serve.log"))
    reg = start_registry(servers, os.path.join(T, "registry"), rport)
    out, _, _ = bs.run([sluice, "admin", "user", "add", "bencher", "--data", data, "--json"])
    token = json.loads(out)["token"]
    out, _, _ = bs.run([sluice, "admin", "user", "add", "grantee", "--data", data, "--json"])
    gtoken = json.loads(out)["token"]
    bs.run([sluice, "admin", "org", "add", ORG, "--data", data])
    bs.run([sluice, "admin", "org", "member", "add", ORG, "bencher", "--role", "publisher",
            "--data", data])
    env = dict(os.environ, SLUICE_URL="http://127.0.0.1:%d" % sport, SLUICE_TOKEN=token,
               XDG_STATE_HOME=os.path.join(T, "state"), XDG_CONFIG_HOME=os.path.join(T, "config"),
               XDG_CACHE_HOME=os.path.join(T, "cache"), HOME=T)
    say("servers: nginx :%d (pid %d), sluice :%d (pid %d), docker-registry :%d (pid %d)"
        % (nport, ngx.pid, sport, srv.pid, rport, reg.pid))

    # ---- the same bytes in all three (nginx serves the folder as it is)
    say("loading: sluice push of the model folder, registry blob upload of the same files")
    t0 = time.monotonic()
    out, _, _ = bs.run([sluice, "push", "%s/%s" % (ORG, NAME), model, "--facts", facts,
                        "--json"], env=env)
    v1 = json.loads(out)
    if v1.get("tier") != "open":
        die("the model got tier %r, not open" % v1.get("tier"))
    s_load = time.monotonic() - t0
    big_digest, r_load, _ = registry_push_blob(rport, REPO_NAME, big)
    cfg_digest, _, _ = registry_push_blob(rport, REPO_NAME, cfg)
    say("  sluice push %.1f s; registry upload %.1f s; digest %s" % (s_load, r_load, big_digest))

    urls = {
        "sluice": "http://127.0.0.1:%d/%s/%s/resolve/main/%s" % (sport, ORG, NAME, BIG),
        "nginx": "http://127.0.0.1:%d/%s" % (nport, BIG),
        "registry": "http://127.0.0.1:%d/v2/%s/blobs/%s" % (rport, REPO_NAME, big_digest),
    }
    curls = {
        "sluice": "http://127.0.0.1:%d/%s/%s/resolve/main/config.json" % (sport, ORG, NAME),
        "nginx": "http://127.0.0.1:%d/config.json" % nport,
        "registry": "http://127.0.0.1:%d/v2/%s/blobs/%s" % (rport, REPO_NAME, cfg_digest),
    }
    who = ("nginx", "sluice", "registry")

    # ---- single stream
    say("download: one warm-up each, then %d alternating runs" % a.runs)
    bs.run(["cat", big], capture=False)
    for w in who:
        curl_dl(urls[w], big_size)
    dl = {w: [] for w in who}
    for _ in range(a.runs):
        for w in who:
            dl[w].append(curl_dl(urls[w], big_size))
        say("  " + ", ".join("%s %.0f MB/s" % (w, dl[w][-1]) for w in who))

    # ---- 8 streams
    say("8 ranged streams at once: %d alternating runs" % a.runs)
    par = {w: [] for w in who}
    for _ in range(a.runs):
        for w in who:
            par[w].append(parallel_download(urls[w], big_size))
        say("  " + ", ".join("%s %.0f MB/s" % (w, par[w][-1]) for w in who))

    # ---- 1 KiB, 64 connections
    say("1 KiB file: wrk -t2 -c64 -d%ds, %d alternating runs" % (a.wrk_seconds, a.wrk_runs))
    small = {w: [] for w in who}
    for _ in range(a.wrk_runs):
        for w in who:
            small[w].append(wrk_run(curls[w], a.wrk_seconds))
        say("  " + ", ".join("%s %.0f req/s" % (w, small[w][-1]["rps"]) for w in who))

    # ---- HEAD, 64 connections
    for w in who:
        u = urllib.parse.urlsplit(urls[w])
        if not head_ok(u.port, u.path):
            die("HEAD %s did not answer 200" % urls[w])
    say("HEAD of the big file: ab -k -i -c 64 -t %d, %d alternating runs"
        % (a.wrk_seconds, a.wrk_runs))
    heads = {w: [] for w in who}
    for _ in range(a.wrk_runs):
        for w in who:
            heads[w].append(ab_head(urls[w], a.wrk_seconds))
        say("  " + ", ".join("%s %.0f req/s" % (w, heads[w][-1]["rps"]) for w in who))

    # ---- push 1 GiB
    say("push: %s (%d bytes), page cache warm for both" % (short(pbig), os.path.getsize(pbig)))
    bs.run(["cat", pbig], capture=False)
    t0 = time.monotonic()
    out, _, _ = bs.run([sluice, "push", "%s/push" % ORG, pmodel, "--facts", facts, "--json"],
                       env=env)
    s_push = time.monotonic() - t0
    p1 = json.loads(out)
    bs.run(["cat", pbig], capture=False)
    p_digest, r_push, r_bytes = registry_push_blob(rport, "bench/push", pbig)
    s_push_mbs = p1["bytes_total"] / s_push / 1e6
    r_push_mbs = r_bytes / r_push / 1e6
    say("  sluice push %.1f s (%.0f MB/s of %d bytes); registry %.1f s (%.0f MB/s)"
        % (s_push, s_push_mbs, p1["bytes_total"], r_push, r_push_mbs))
    # issue 3's push target is against one SHA-256 pass over the same bytes
    ossl = []
    for _ in range(3):
        _, w, _ = bs.run(["openssl", "dgst", "-sha256", pbig])
        ossl.append(os.path.getsize(pbig) / w / 1e6)
    ossl_mbs = median(ossl)
    say("  openssl dgst -sha256 of the same file: %s MB/s"
        % ", ".join("%.0f" % x for x in ossl))

    # ---- dedup
    with open(os.path.join(pmodel, "README.md"), "a") as f:
        f.write("\nVersion 2: the same weights.\n")
    out, _, _ = bs.run([sluice, "push", "%s/push" % ORG, pmodel, "--facts", facts, "--json"],
                       env=env)
    p2 = json.loads(out)
    same_in_registry = registry_has(rport, "bench/push", p_digest)
    pmodel3 = os.path.join(T, "push-10pct")
    changed_idx, changed = bs.make_changed_copy(pmodel, pmodel3, psizes, phdr)
    out, _, _ = bs.run([sluice, "push", "%s/push" % ORG, pmodel3, "--facts", facts, "--json"],
                       env=env)
    p3 = json.loads(out)
    d3 = "sha256:" + bs.run(["sha256sum", os.path.join(pmodel3, BIG)])[0].split()[0]
    changed_in_registry = registry_has(rport, "bench/push", d3)
    say("  dedup: same folder %d of %d bytes uploaded; 10%% changed %d of %d; registry already "
        "has the same blob: %s, the changed one: %s" % (
            p2["bytes_uploaded"], p2["bytes_total"], p3["bytes_uploaded"], p3["bytes_total"],
            same_in_registry, changed_in_registry))

    # ---- fingerprinted vs open
    say("fingerprint: the model as a gated version, a grant, the first 64 MiB compared")
    out, _, _ = bs.run([sluice, "push", "%s/gated" % ORG, model, "--facts", facts, "--tier",
                        "gated", "--json"], env=env)
    st_, body = api(sport, "POST", "/api/v1/models/%s/gated/access" % ORG,
                    {"purpose": "benchmark of marked downloads"}, gtoken)
    if st_ not in (200, 201):
        die("access request: HTTP %d %r" % (st_, body[:300]))
    st_, body = api(sport, "POST", "/api/v1/models/%s/gated/access/grantee/approve" % ORG, {},
                    token)
    if st_ != 200:
        die("approve: HTTP %d %r" % (st_, body[:300]))
    gpath = "/%s/gated/resolve/main/%s" % (ORG, BIG)
    n = min(big_size, 64 * MIB)
    marked = range_bytes(sport, gpath, n, gtoken) != range_bytes(
        sport, "/%s/%s/resolve/main/%s" % (ORG, NAME, BIG), n)
    fp = None
    if marked:
        gurl = "http://127.0.0.1:%d%s" % (sport, gpath)
        auth = ("Authorization: Bearer " + gtoken,)
        curl_dl(gurl, big_size, auth)
        fp = {"open": [], "marked": []}
        for _ in range(a.runs):
            fp["open"].append(curl_dl(urls["sluice"], big_size))
            fp["marked"].append(curl_dl(gurl, big_size, auth))
        say("  marked %s MB/s, open %s MB/s" % (fp["marked"], fp["open"]))
    else:
        say("  the grantee's copy is byte-identical to the open one: this build does not mark "
            "gated downloads")

    # ---- classify
    cls_cmd = [sluice, "classify", model, "--facts", facts, "--json"]
    bs.run(cls_cmd)
    cls = []
    for _ in range(5 if a.quick else 20):
        _, wall, _ = bs.run(cls_cmd)
        cls.append(wall)

    # ---- the log (bench_tlog)
    build = os.path.dirname(os.path.abspath(sluice_built))
    say("log: build/bench/bench_tlog with %d entries%s" % (
        a.tlog_entries, "" if not a.quick else ", no end-to-end row"))
    tlog_out, tlog_note = run_bench_tlog(build, a.tlog_entries, not a.quick, sluice)
    append, proof, tlog_lines = parse_tlog(tlog_out) if tlog_out else (None, None, [])

    # ---- the table
    rows = []

    def ratio(x, y):
        return "%.2fx" % (x / y) if x and y else "-"

    def row(name, s, ngx_, reg_, rn, rr, target, verdict, cmds):
        rows.append((name, s, ngx_, reg_, rn, rr, target, verdict, cmds))

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    gsz = bs.fmt_bytes(big_size).replace(".00 ", " ")
    m = {w: median(dl[w]) for w in who}
    row("download %s, 1 stream" % gsz, "%.0f MB/s" % m["sluice"], "%.0f MB/s" % m["nginx"],
        "%.0f MB/s" % m["registry"], ratio(m["sluice"], m["nginx"]),
        ratio(m["sluice"], m["registry"]), ">=0.90x nginx", verdict(m["sluice"] >= 0.9 * m["nginx"]),
        [(w, "curl -s -o /dev/null -w '%%{speed_download}' %s" % urls[w]) for w in who])
    m = {w: median(par[w]) for w in who}
    row("download %s, 8 streams" % gsz, "%.0f MB/s" % m["sluice"], "%.0f MB/s" % m["nginx"],
        "%.0f MB/s" % m["registry"], ratio(m["sluice"], m["nginx"]),
        ratio(m["sluice"], m["registry"]), "-", "",
        [(w, "8 x curl -s -o /dev/null -r A-B %s   (eighths of the file, at once)" % urls[w])
         for w in who])
    pick = lambda rs: sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]
    m = {w: pick(small[w]) for w in who}
    non2xx = sum(r["non2xx"] for w in who for r in small[w])
    row("1 KiB file, 64 conns", "%.0f req/s" % m["sluice"]["rps"],
        "%.0f req/s" % m["nginx"]["rps"], "%.0f req/s" % m["registry"]["rps"],
        ratio(m["sluice"]["rps"], m["nginx"]["rps"]),
        ratio(m["sluice"]["rps"], m["registry"]["rps"]), ">=0.50x nginx",
        verdict(m["sluice"]["rps"] >= 0.5 * m["nginx"]["rps"] and non2xx == 0),
        [(w, "wrk -t2 -c64 -d%ds %s" % (a.wrk_seconds, curls[w])) for w in who])
    m = {w: pick(heads[w]) for w in who}
    head_bad = sum(r["non2xx"] + r["failed"] for w in who for r in heads[w])
    row("HEAD big file, 64 conns", "%.0f req/s" % m["sluice"]["rps"],
        "%.0f req/s" % m["nginx"]["rps"], "%.0f req/s" % m["registry"]["rps"],
        ratio(m["sluice"]["rps"], m["nginx"]["rps"]),
        ratio(m["sluice"]["rps"], m["registry"]["rps"]), "-", "" if not head_bad else "ERRORS",
        [(w, "ab -k -i -c 64 -t %d -n 100000000 %s" % (a.wrk_seconds, urls[w])) for w in who])
    psz = bs.fmt_bytes(p1["bytes_total"]).replace(".00 ", " ")
    row("push %s" % psz, "%.0f MB/s" % s_push_mbs, "none", "%.0f MB/s" % r_push_mbs, "-",
        ratio(s_push_mbs, r_push_mbs), "-", "",
        [("sluice", "sluice push %s/push $T/push --facts $T/facts.json --json   (%.1f s)"
          % (ORG, s_push)),
         ("registry", "POST /v2/bench/push/blobs/uploads/; PATCH (the file, streamed, hashed on "
          "the way); PUT ?digest=sha256:...   (%.1f s)" % r_push)])
    row("push %s vs sha256" % psz, "%.0f MB/s" % s_push_mbs, "-", "-", "-", "-",
        ">=0.60x openssl (%.0f MB/s)" % ossl_mbs, verdict(s_push_mbs >= 0.6 * ossl_mbs),
        [("sluice", "the push above"),
         ("openssl", "openssl dgst -sha256 $T/push/model.safetensors   (median of 3)")])
    f2 = p2["bytes_uploaded"] / p2["bytes_total"]
    row("dedup: same model again", "%.3f%% sent" % (100 * f2), "none",
        "%s sent" % ("0%" if same_in_registry else "100%"), "-", "-", "<1%", verdict(f2 < 0.01),
        [("sluice", "sluice push %s/push $T/push --facts $T/facts.json --json   (README.md "
          "changed)" % ORG),
         ("registry", "HEAD /v2/bench/push/blobs/%s -> %s" % (
             p_digest[:19] + "...", "200: nothing to send" if same_in_registry else "404"))])
    f3 = p3["bytes_uploaded"] / p3["bytes_total"]
    row("dedup: 10% of tensors changed", "%.2f%% sent" % (100 * f3), "none",
        "%s sent" % ("0%" if changed_in_registry else "100%"), "-", "-", "<15%",
        verdict(f3 < 0.15),
        [("sluice", "sluice push %s/push $T/push-10pct --facts $T/facts.json --json   (%d of %d "
          "tensors rewritten)" % (ORG, len(changed_idx), len(psizes))),
         ("registry", "HEAD /v2/bench/push/blobs/<new digest> -> %s" % (
             "200" if changed_in_registry else "404: the whole file is a new blob"))])
    if fp:
        mo, mm = median(fp["open"]), median(fp["marked"])
        row("fingerprinted vs open download", "%.0f MB/s" % mm, "-", "-", "-", "-",
            ">=0.70x open (%.0f MB/s)" % mo, verdict(mm >= 0.7 * mo),
            [("sluice", "curl -H 'Authorization: Bearer $GRANTEE' http://127.0.0.1:%d%s   vs the "
          "open URL above" % (sport, gpath))])
    else:
        row("fingerprinted vs open download", "skipped", "-", "-", "-", "-", ">=0.70x open",
            "n/a", [("note", "this build serves a grantee's gated copy byte-identical to the open "
                     "one (first %d MiB compared): no marking to measure" % (n // MIB))])
    cm = median(cls)
    row("classify the model folder", "%.1f ms" % (cm * 1e3), "-", "-", "-", "-", "-", "",
        [("sluice", short(" ".join(cls_cmd)).replace("$T/sluice", "sluice")
          + "   (median of %d)" % len(cls))])
    tlog_cmd = "BENCH_TLOG_ENTRIES=%d BENCH_TLOG_E2E=%d build/bench/bench_tlog" % (
        a.tlog_entries, 0 if a.quick else 1)
    if append is not None:
        row("log append (%d entries)" % a.tlog_entries, "%.0f entries/s" % append, "-", "-", "-",
            "-", ">=20,000/s", verdict(append >= 20000), [("sluice", tlog_cmd)])
    else:
        row("log append", tlog_note if not tlog_out else "unparsed", "-", "-", "-", "-",
            ">=20,000/s", "n/a", [("sluice", tlog_cmd)])
    if proof is not None:
        row("log inclusion proof", "%.1f us" % proof, "-", "-", "-", "-", "<100 us median",
            verdict(proof < 100), [("sluice", tlog_cmd + "   (its row (b))")])
    else:
        row("log inclusion proof", tlog_note if not tlog_out else "unparsed", "-", "-", "-", "-",
            "<100 us", "n/a", [("sluice", tlog_cmd)])

    hdr = ("row", "sluice", "nginx", "registry", "s/nginx", "s/registry", "target", "result")
    w = [max(len(r[i]) for r in rows + [hdr]) for i in range(8)]
    lines = []
    lines.append("== compare: sluice, nginx and the CNCF distribution registry, one run (issue 7)")
    lines.append("date      %s" % datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"))
    lines.append("machine   %s, %d CPUs, %.1f GiB memory, %.0f GB free under %s; %s %s; load "
                 "average %s at start, %s at the end"
                 % (bs.cpu_model(), os.cpu_count() or 0, bs.mem_total() / GIB, free0 / 1e9,
                    os.path.dirname(T), platform.system(), platform.release(), load0,
                    bs.loadavg()))
    lines.append("software  sluice %s (%s, %s, %s); %s; docker-registry %s; %s; %s"
                 % (bs.first_line([sluice, "--version"]).replace("sluice ", ""), sluice_built,
                    bs.git_commit(), bin_id,
                    bs.first_line(["nginx", "-v"]).replace("nginx version: ", ""),
                    bs.first_line([registry_bin(), "--version"]).split()[-1],
                    bs.first_line(["wrk", "-v"]).split(" [")[0],
                    bs.first_line(["curl", "--version"]).split(" (")[0]))
    lines.append("servers   127.0.0.1, same machine as the clients. nginx: worker_processes auto, "
                 "sendfile on, access_log off. docker-registry: filesystem storage, access log "
                 "off. sluice serve: default threads, request log to a file")
    lines.append("workload  %s: %d random bytes (BF16 safetensors); config.json 1,024 bytes; "
                 "push file %d bytes; medians of %d downloads and %d wrk runs per server, "
                 "servers alternating, page cache warm"
                 % (BIG, big_size, os.path.getsize(pbig), a.runs, a.wrk_runs))
    lines.append("")
    lines.append("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
    for r in rows:
        lines.append("  ".join(r[i].ljust(w[i]) for i in range(8)).rstrip())
        for lab, cmd in r[8]:
            lines.append("      %-9s %s" % (lab + ":", short(cmd)))
    if tlog_lines:
        lines.append("")
        lines.append("bench_tlog (%s), quoted:" % tlog_note)
        lines += ["  " + x for x in tlog_lines]
    lines.append("")
    lines.append("s/nginx, s/registry: sluice's figure over the peer's (higher is better for "
                 "sluice). Download runs (MB/s): "
                 + "; ".join("%s %s" % (w_, ", ".join("%.0f" % x for x in dl[w_])) for w_ in who))
    lines.append("8-stream runs (MB/s): " + "; ".join(
        "%s %s" % (w_, ", ".join("%.0f" % x for x in par[w_])) for w_ in who))
    lines.append("wrk 1 KiB runs (req/s): " + "; ".join(
        "%s %s" % (w_, ", ".join("%.0f" % r["rps"] for r in small[w_])) for w_ in who)
        + "; non-2xx %d" % non2xx)
    lines.append("ab HEAD runs (req/s): " + "; ".join(
        "%s %s" % (w_, ", ".join("%.0f" % r["rps"] for r in heads[w_])) for w_ in who)
        + "; non-2xx or failed %d (ab is one thread: a ceiling for the fastest server)"
        % head_bad)
    if tlog_note == "not built":
        lines.append("log rows: %s/bench/bench_tlog is not built in this build folder" % build)
    lines.append("loading the model: sluice push %.1f s, registry blob upload %.1f s (%s)"
                 % (s_load, r_load, bs.fmt_bytes(big_size)))
    say("")
    for line in lines:
        say(line)
    if a.markdown:
        write_markdown(a.markdown, rows, lines, hdr)


def write_markdown(path, rows, lines, hdr):
    with open(path, "w") as f:
        f.write("| " + " | ".join(hdr) + " |\n")
        f.write("|" + "---|" * len(hdr) + "\n")
        for r in rows:
            f.write("| " + " | ".join(x.replace("|", "\\|") for x in r[:8]) + " |\n")
        f.write("\n```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    sys.exit(main())
