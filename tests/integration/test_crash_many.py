# SPDX-License-Identifier: Apache-2.0
"""kill -9 of the server at random moments of a mixed workload, at least 50 times.

One data folder. While three client threads keep the server busy (a pusher
committing small versions over the HTTP API, a governance thread moving
six accounts through access request -> approve -> revoke -> request again,
each step appending to the transparency log, and a reader downloading files
of acknowledged versions and checking their SHA-256), the test sleeps a
random time (0.02 to 0.6 s; SLUICE_CRASH_MAX_DELAY changes the end) and
sends SIGKILL, restarts the server on the same folder and port, and pauses
the clients while it checks:

- every write the server acknowledged (a 2xx answer) is there: each
  acknowledged version is listed with its commit and files, each
  acknowledged access decision is the request's state (a write whose
  answer was lost to the kill may or may not have happened: the state
  tells which, and the log must agree);
- no partial version is visible: every listed version holds exactly the
  files of one version a client tried to commit, and each new one
  downloads byte-identical (every file's SHA-256);
- the log: the signed checkpoint's root is the RFC 6962 tree of the
  entries served, entries seen before are unchanged, every earlier
  checkpoint is a prefix of the tree (and the server's consistency and
  inclusion proofs verify), and it holds exactly one `version.published`
  per version and one `access.*` entry per access change that happened;
- `sluice admin fsck` is clean (every few rounds, and at the end).

At the end the server stops cleanly (SIGTERM), every version is downloaded
again, fsck runs, `sluice pull` of the newest version matches, and
`sluice log verify --full` passes, having checked at least every entry the
test saw.

SLUICE_CRASH_SEED=N replays a run; SLUICE_CRASH_KILLS changes the number of
kills (default 50); SLUICE_CRASH_DEBUG=1 logs each round on stderr.
"""
import hashlib
import http.client
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logcheck  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

KILLS = int(os.environ.get("SLUICE_CRASH_KILLS", "50"))
# the longest a round runs before its kill: a push commits on PostgreSQL and
# uploads its pack to S3, slower than SQLite and a folder (CMake sets more there)
MAX_DELAY = float(os.environ.get("SLUICE_CRASH_MAX_DELAY", "0.6"))
BUDGET = 240.0  # seconds for the rounds: the test fails if KILLS do not fit
FSCK_EVERY = 5
FACTS = {"params": 4224, "training": {"tokens": 1e9}}
USERS = ["u%d" % i for i in range(6)]
CHUNK = 64 << 10


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Lost(Exception):
    """The answer never came (connection refused, reset or timed out)."""


def call(port, method, path, body=None, token=None, timeout=15):
    """(status, body bytes); raises Lost when the server did not answer."""
    h = {}
    if token:
        h["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()
    except (OSError, http.client.HTTPException) as e:
        raise Lost(repr(e))


def tiny_safetensors(rng):
    hdr, n = st.st_header([("model.w", "F32", [32, 64]), ("model.b", "BF16", [64])],
                          {"format": "pt"})
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + rng.randbytes(n)


class Version:
    """The files of version attempt N: a shared base, a part new each time."""

    def __init__(self, n, base):
        rng = random.Random(n * 7919 + 1)
        self.n = n
        self.files = {
            "model.safetensors": tiny_safetensors(rng),
            "big.bin": base + rng.randbytes(rng.randrange(1, 6) * CHUNK + rng.randrange(CHUNK)),
            "config.json": json.dumps({"model_type": "llama", "attempt": n}).encode(),
        }
        self.manifest = {p: sha(b) for p, b in self.files.items()}

    def chunks(self, path):
        b = self.files[path]
        return [b[i:i + CHUNK] for i in range(0, len(b), CHUNK)] or [b""]


class Workload:
    """Three client threads; `go` runs them, `pause()` stops them between
    operations. Everything they learn goes under `lock`."""

    def __init__(self, t):
        self.t = t
        self.port = t.srv.port
        self.lock = threading.Lock()
        self.go = threading.Event()
        self.stopping = False
        self.idle = {}
        self.errors = []          # answers no healthy server gives
        self.base = random.Random(t.seed).randbytes(6 * CHUNK)
        # versions
        self.attempt = 0
        self.attempted = {}       # manifest key -> attempt number
        self.acked = {}           # attempt number -> commit
        self.unknown_push = set()  # attempts whose commit answer was lost
        # access
        self.state = {u: "none" for u in USERS}
        self.unknown_access = {}  # user -> (action, from, to)
        self.applied = {"access.requested": 0, "access.approved": 0, "access.revoked": 0}
        self.ops = {"push": 0, "push_lost": 0, "access": 0, "access_lost": 0, "read": 0,
                    "read_lost": 0}
        self.threads = [threading.Thread(target=self._loop, args=(name, fn), daemon=True)
                        for name, fn in (("push", self.push_one), ("access", self.access_one),
                                         ("read", self.read_one))]
        for th in self.threads:
            self.idle[th.name] = True
            th.start()

    @staticmethod
    def key(manifest):
        return json.dumps(manifest, sort_keys=True)

    def _loop(self, name, fn):
        rng = random.Random(self.t.seed * 31 + sum(map(ord, name)))
        while not self.stopping:
            if not self.go.wait(0.05):
                continue
            self.idle[name] = False
            try:
                fn(rng)
            except Exception as e:  # a bug in the test itself: report it, do not hang
                with self.lock:
                    self.errors.append("%s thread: %r" % (name, e))
                self.go.clear()
            finally:
                self.idle[name] = True

    def pause(self):
        self.go.clear()
        end = time.monotonic() + 60
        while not all(self.idle.values()):
            if time.monotonic() > end:
                raise AssertionError("client threads did not stop within 60 s")
            time.sleep(0.005)

    def stop(self):
        self.pause()
        self.stopping = True
        for th in self.threads:
            th.join(5)

    def bad(self, what, status, body):
        with self.lock:
            self.errors.append("%s: HTTP %d %r" % (what, status, body[:300]))

    # ---- the pusher: missing chunks, two uploads, the commit

    def push_one(self, rng):
        with self.lock:
            self.attempt += 1
            v = Version(self.attempt, self.base)
            self.attempted[self.key(v.manifest)] = v.n
        tok, port = self.t.pub, self.port
        base = "/api/v1/models/o/w"
        ids = {}
        for path in v.files:
            for c in v.chunks(path):
                ids[sha(c)] = c
        try:
            status, body = call(port, "POST", base + "/chunks/missing", {"chunks": list(ids)}, tok)
            if status != 200:
                return self.bad("chunks/missing", status, body)
            missing = json.loads(body)["missing"]
            # two uploads, so that kills also land between them
            for part in (missing[::2], missing[1::2]):
                if not part:
                    continue
                frames = b"".join(bytes.fromhex(h) + struct.pack("<I", len(ids[h])) + ids[h]
                                  for h in part)
                status, body = call(port, "POST", base + "/chunks", frames, tok)
                if status != 200:
                    return self.bad("chunks", status, body)
        except Lost:
            with self.lock:
                self.ops["push_lost"] += 1
            return
        files = [{"path": p, "size": len(b), "sha256": v.manifest[p],
                  "chunks": [sha(c) for c in v.chunks(p)]} for p, b in v.files.items()]
        try:
            status, body = call(port, "POST", base + "/versions",
                                {"files": files, "facts": FACTS, "tier": None, "license": None},
                                tok, timeout=30)
        except Lost:
            with self.lock:
                self.unknown_push.add(v.n)
                self.ops["push_lost"] += 1
            return
        if status not in (200, 201):
            return self.bad("commit of attempt %d" % v.n, status, body)
        doc = json.loads(body)
        with self.lock:
            self.acked[v.n] = doc["commit"]
            self.ops["push"] += 1

    # ---- the governance thread

    NEXT = {"none": ("request", "pending", "access.requested"),
            "revoked": ("request", "pending", "access.requested"),
            "pending": ("approve", "approved", "access.approved"),
            "approved": ("revoke", "revoked", "access.revoked")}

    def access_one(self, rng):
        u = rng.choice(USERS)
        with self.lock:
            if u in self.unknown_access:
                return
            cur = self.state[u]
        action, to, etype = self.NEXT[cur]
        base = "/api/v1/models/o/g/access"
        try:
            if action == "request":
                status, body = call(self.port, "POST", base, {"purpose": "research %d"
                                                              % rng.randrange(1 << 30)},
                                    self.t.tok[u])
                ok = status == 201
            elif action == "approve":
                status, body = call(self.port, "POST", base + "/%s/approve" % u, {}, self.t.pub)
                ok = status == 200
            else:
                status, body = call(self.port, "POST", base + "/%s/revoke" % u,
                                    {"reason": "rotation %d" % rng.randrange(1000)}, self.t.pub)
                ok = status == 200
        except Lost:
            with self.lock:
                self.unknown_access[u] = (action, cur, to, etype)
                self.ops["access_lost"] += 1
            return
        if not ok:
            return self.bad("%s by/for %s (state %s)" % (action, u, cur), status, body)
        with self.lock:
            self.state[u] = to
            self.applied[etype] += 1
            self.ops["access"] += 1

    # ---- the reader

    def read_one(self, rng):
        with self.lock:
            if not self.acked:
                time.sleep(0.01)
                return
            n = rng.choice(sorted(self.acked))
        v = Version(n, self.base)
        path = rng.choice(sorted(v.files))
        try:
            status, body = call(self.port, "GET", "/o/w/resolve/%s/%s"
                                % (self.acked[n], path))
        except Lost:
            with self.lock:
                self.ops["read_lost"] += 1
            return
        if status != 200 or sha(body) != v.manifest[path]:
            return self.bad("download of %s from attempt %d (sha %s, want %s)"
                            % (path, n, sha(body), v.manifest[path]), status, b"")
        with self.lock:
            self.ops["read"] += 1


class CrashMany(unittest.TestCase):

    def setUp(self):
        self.seed = int(os.environ.get("SLUICE_CRASH_SEED") or random.randrange(1 << 30))
        self.rng = random.Random(self.seed)
        self.tmp = tempfile.mkdtemp(prefix="sluice-crash-many-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.data = os.path.join(self.tmp, "data")
        self.srv = sv.Server(self.data, workdir=self.tmp)
        self.addCleanup(self.srv.cleanup)
        self.srv.start()
        self.pub = self.srv.add_user("pub")
        self.srv.add_org("o")
        self.srv.add_member("o", "pub")
        self.tok = {u: self.srv.add_user(u) for u in USERS}
        self.home = os.path.join(self.tmp, "home")
        # the gated model the access workflow runs on
        g = os.path.join(self.tmp, "gated")
        sv.make_model(g, big=64 << 10, rng=random.Random(self.seed))
        facts = os.path.join(self.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        r = st.run("push", "o/g", g, "--facts", facts, "--tier", "gated", "--json",
                   env=self.srv.client_env(self.pub, self.home), timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        self.log = logcheck.LogView()
        self.verified = {}       # commit -> attempt, downloaded and compared
        self.debug = os.environ.get("SLUICE_CRASH_DEBUG")
        # writes whose answer the kill took: (kind, happened) -> count
        self.lost = {(k, h): 0 for k in ("commit", "access") for h in (True, False)}

    def msg(self, text):
        return "%s (SLUICE_CRASH_SEED=%d)" % (text, self.seed)

    # ---------------------------------------------------------------- checks

    def get_json(self, path, token=None):
        status, body = call(self.srv.port, "GET", path, token=token, timeout=60)
        return status, (json.loads(body) if body else None)

    def check_versions(self, w, where, download_all=False):
        """Acknowledged versions are listed; every listed one is a whole
        attempted version; new ones download identical. Resolves the
        attempts whose answer was lost."""
        status, doc = self.get_json("/api/v1/models/o/w")
        if status == 404:
            self.assertEqual(w.acked, {}, self.msg("%s: model gone with acknowledged versions"
                                                   % where))
            listed = {}
        else:
            self.assertEqual(status, 200, self.msg("%s: %r" % (where, doc)))
            listed = {v["commit"]: v["version"] for v in doc["versions"]}
        for n, commit in w.acked.items():
            self.assertIn(commit, listed, self.msg("%s: acknowledged version (attempt %d, %s) "
                                                   "is gone" % (where, n, commit)))
        attempt_commit = {}
        for commit, num in sorted(listed.items(), key=lambda kv: kv[1]):
            if commit in self.verified and not download_all:
                attempt_commit[self.verified[commit]] = commit
                continue  # versions are immutable: checked once in full
            status, v = self.get_json("/api/v1/models/o/w/versions/v%d" % num)
            self.assertEqual(status, 200, self.msg("%s: v%d: %r" % (where, num, v)))
            manifest = {f["path"]: f["sha256"] for f in v["files"]}
            n = w.attempted.get(Workload.key(manifest))
            self.assertIsNotNone(n, self.msg("%s: v%d holds files of no attempted version: %r"
                                             % (where, num, manifest)))
            attempt_commit[n] = commit
            if n in w.acked:
                self.assertEqual(w.acked[n], commit)
            ver = Version(n, w.base)
            for path in sorted(ver.files):
                status, body = call(self.srv.port, "GET", "/o/w/resolve/%s/%s" % (commit, path),
                                    timeout=60)
                self.assertEqual(status, 200, self.msg("%s: v%d %s: HTTP %d"
                                                       % (where, num, path, status)))
                self.assertEqual(sha(body), ver.manifest[path],
                                 self.msg("%s: v%d %s downloads different bytes"
                                          % (where, num, path)))
            self.verified[commit] = n
        # a commit whose answer was lost either happened (and is listed) or not
        for n in sorted(w.unknown_push):
            happened = n in attempt_commit
            if happened:
                w.acked[n] = attempt_commit[n]
            self.lost["commit", happened] += 1
        w.unknown_push.clear()
        return listed

    def manifest_of(self, num):
        status, v = self.get_json("/api/v1/models/o/w/versions/v%d" % num)
        return Workload.key({f["path"]: f["sha256"] for f in v["files"]})

    def check_access(self, w, where):
        status, reqs = self.get_json("/api/v1/models/o/g/access", token=self.pub)
        self.assertEqual(status, 200, self.msg("%s: access list: %r" % (where, reqs)))
        actual = {r["user"]: r["status"] for r in reqs}
        for u in USERS:
            got = actual.get(u, "none")
            if u in w.unknown_access:
                action, frm, to, etype = w.unknown_access.pop(u)
                self.assertIn(got, (frm, to),
                              self.msg("%s: %s's request is %s after a lost %s from %s"
                                       % (where, u, got, action, frm)))
                if got == to:
                    w.applied[etype] += 1
                self.lost["access", got == to] += 1
                w.state[u] = got
            self.assertEqual(got, w.state[u],
                             self.msg("%s: %s's request is %s, acknowledged %s"
                                      % (where, u, got, w.state[u])))

    def check_log(self, w, listed, where):
        try:
            self.log.check(self.srv.port)
        except logcheck.LogError as e:
            self.fail(self.msg("%s: log: %s" % (where, e)))
        # the log covers everything: a checkpoint is signed on demand
        counts = {}
        for e in self.log.entries:
            if e.get("model") in ("o/w", "o/g"):
                k = (e["type"], e["model"])
                counts[k] = counts.get(k, 0) + 1
        self.assertEqual(counts.get(("version.published", "o/w"), 0), len(listed),
                         self.msg("%s: %d version.published entries for %d versions"
                                  % (where, counts.get(("version.published", "o/w"), 0),
                                     len(listed))))
        for etype, n in w.applied.items():
            self.assertEqual(counts.get((etype, "o/g"), 0), n,
                             self.msg("%s: %d %s entries for %d such changes"
                                      % (where, counts.get((etype, "o/g"), 0), etype, n)))

    def fsck(self, where):
        r = self.srv.fsck()
        self.assertEqual(r.rc, 0, self.msg("%s: fsck: %r" % (where, r)))

    def check_all(self, w, where, fsck, download_all=False):
        listed = self.check_versions(w, where, download_all)
        self.check_access(w, where)
        self.check_log(w, listed, where)
        if fsck:
            self.fsck(where)
        with w.lock:
            self.assertEqual(w.errors, [], self.msg("%s: answers a healthy server never gives"
                                                    % where))

    # ---------------------------------------------------------------- the test

    def test_kill9_mixed_workload(self):
        t0 = time.monotonic()
        w = Workload(self)
        self.addCleanup(w.stop)
        kills = 0
        restart_s = []
        while kills < KILLS:
            self.assertLess(time.monotonic() - t0, BUDGET,
                            self.msg("only %d kills in %.0f s" % (kills, BUDGET)))
            delay = self.rng.uniform(0.02, MAX_DELAY)
            w.port = self.srv.port
            w.go.set()
            time.sleep(delay)
            port = self.srv.port
            self.srv.kill9()
            kills += 1
            w.pause()
            t1 = time.monotonic()
            self.srv.start(port=port)
            restart_s.append(time.monotonic() - t1)
            w.port = self.srv.port
            where = "kill %d (after %.3f s)" % (kills, delay)
            self.check_all(w, where, fsck=kills % FSCK_EVERY == 0)
            if self.debug:
                sys.stderr.write("%s: %.1f s, ops %r\n" % (where, time.monotonic() - t0, w.ops))

        w.stop()
        # the server stops cleanly; everything is checked once more, in full
        self.srv.stop()
        self.srv.start()
        w.port = self.srv.port
        listed = self.check_versions(w, "at the end", download_all=True)
        self.check_access(w, "at the end")
        self.check_log(w, listed, "at the end")
        self.fsck("at the end")
        self.assertEqual(w.errors, [], self.msg("answers a healthy server never gives"))
        self.assertGreater(w.ops["push"], KILLS // 5, self.msg("few pushes: %r" % w.ops))
        self.assertGreater(w.ops["access"], KILLS // 2, self.msg("few access changes: %r"
                                                                 % w.ops))
        # as a user would: the newest version pulls identical with the CLI
        newest = max(listed.items(), key=lambda kv: kv[1])
        dest = os.path.join(self.tmp, "pulled")
        r = st.run("pull", "o/w@v%d" % newest[1], "--dest", dest, "--json",
                   env=self.srv.client_env(None, self.home), timeout=120)
        self.assertEqual(r.rc, 0, self.msg(repr(r)))
        self.assertEqual(json.loads(r.stdout)["commit"], newest[0])
        n = w.attempted[self.manifest_of(newest[1])]
        self.assertEqual(sv.tree_digest(dest), Version(n, w.base).manifest)
        # the client's own verifier, always, over every entry the test saw
        r = st.run("log", "verify", "--full", "--json", env=self.srv.client_env(None, self.home),
                   timeout=300)
        self.assertEqual(r.rc, 0, self.msg("sluice log verify --full: %r" % r))
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"], self.msg(repr(doc)))
        self.assertGreaterEqual(doc["entries_checked"], len(self.log.texts),
                                self.msg("log verify --full checked too few entries: %r" % doc))
        self.assertGreater(doc["entries_checked"], 0)
        self.srv.stop()
        sys.stderr.write(
            "crash_many: %d kills in %.0f s (seed %d); restarts %.2f s median, %.2f s max; "
            "%d versions listed, all acknowledged or resolved; %d access changes acknowledged; "
            "answers lost to a kill: %d commits (%d had happened), %d access changes (%d had "
            "happened); log %d entries, %d checkpoints checked; %d downloads verified\n"
            % (kills, time.monotonic() - t0, self.seed, sorted(restart_s)[len(restart_s) // 2],
               max(restart_s), len(listed), w.ops["access"],
               self.lost["commit", True] + self.lost["commit", False], self.lost["commit", True],
               self.lost["access", True] + self.lost["access", False], self.lost["access", True],
               len(self.log.texts), len(self.log.checkpoints), w.ops["read"]))


if __name__ == "__main__":
    st.main()
