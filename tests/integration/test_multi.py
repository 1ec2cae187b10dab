# SPDX-License-Identifier: Apache-2.0
"""Three `sluice serve` behind nginx behave as one server (issue 13).

Always on one PostgreSQL (pgserver.py) and one S3 bucket (moto,
s3fixture.py), whatever SLUICE_TEST_DB and SLUICE_TEST_STORE say; each
missing piece fails the test with what to install. The three servers have
data folders of their own and the same `--keys` folder; nginx (Debian's)
balances round robin in front of them with the configuration printed in
docs/deploy.md, read from there, so the documented text is the tested one.

- pushes of one model through all three at once: every version number used
  once, and each push is pullable through the other two the moment it
  answered;
- a revocation through one stops downloads through the other two (and
  through nginx) at their next request;
- 50 `kill -9` of an instance, spread over pushes into it and over bursts
  of log appends into it, with traffic through nginx meanwhile, the killed
  instance restarted each time; some kills hit the clock's leader, and
  another instance leads within 10 s (`GET /api/v1/health` "leader");
  never two leaders at once;
- afterwards: every version listed pulls whole and byte for byte the folder
  that was pushed; version numbers have no gap per model; the log has no
  gap, verifies in full (`sluice log verify --full`) and is the same
  through every instance; `sluice admin fsck` is clean;
- `sluice admin gc --grace 0` run while the instances serve downloads and
  log appends drops the chunks of a push that never committed and aborts an
  abandoned pack upload, and deletes nothing live: every download during it
  and every version pulled after it is whole, and fsck is still clean.
"""
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logcheck  # noqa: E402
import pgserver  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}
KILLS = int(os.environ.get("SLUICE_MULTI_KILLS", "50"))
MODELS = ("acme/m0", "acme/m1", "acme/m2")
FLIP = "acme/flip"
NGINX_MISSING = ("nginx is not installed: run `scripts/deps.sh test` as root "
                 "(Debian package nginx)")


def nginx_conf_from_docs():
    """The load-balancer example of docs/deploy.md (the ```nginx block)."""
    with open(os.path.join(st.SOURCE, "docs", "deploy.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"```nginx\n(.*?)```", text, re.S)
    assert m, "docs/deploy.md has no ```nginx block"
    return m.group(1)


def nginx_conf(prefix, listen_port, upstream_ports):
    """The documented block with this test's addresses, in a main
    configuration that runs as the current user with every path in PREFIX."""
    block = nginx_conf_from_docs()
    servers = re.findall(r"^(\s*)server [0-9.]+:\d+( .*;)$", block, re.M)
    assert len(servers) == 3, "expected three upstream servers in docs/deploy.md"
    lines = iter(upstream_ports)
    block = re.sub(r"^(\s*)server [0-9.]+:\d+( .*;)$",
                   lambda m: "%sserver 127.0.0.1:%d%s" % (m.group(1), next(lines), m.group(2)),
                   block, flags=re.M)
    block, n = re.subn(r"^(\s*)listen 80;$", r"\1listen 127.0.0.1:%d;" % listen_port, block,
                       flags=re.M)
    assert n == 1, "expected `listen 80;` in docs/deploy.md's nginx block"
    user = "user root;\n" if os.geteuid() == 0 else ""
    return ("daemon off;\nworker_processes 1;\n%spid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
            "events { worker_connections 1024; }\nhttp {\n    access_log off;\n"
            "    client_body_temp_path %s/body;\n    proxy_temp_path %s/proxy;\n"
            "    fastcgi_temp_path %s/fastcgi;\n    uwsgi_temp_path %s/uwsgi;\n"
            "    scgi_temp_path %s/scgi;\n%s}\n" % ((user,) + (prefix,) * 7 + (block,)))


class Nginx:
    def __init__(self, prefix, port, upstream_ports):
        exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                        else None)
        if not exe:
            raise AssertionError(NGINX_MISSING)
        os.makedirs(prefix)
        self.prefix, self.port = prefix, port
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(prefix, port, upstream_ports))
        err = os.path.join(prefix, "error.log")
        t = subprocess.run([exe, "-t", "-p", prefix, "-e", err, "-c", conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert t.returncode == 0, "nginx -t: %s" % t.stdout.decode()
        self.proc = subprocess.Popen([exe, "-p", prefix, "-e", err, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                r = sv.http_request(port, "GET", "/api/v1/health", timeout=2)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("nginx did not come up: %s" % open(err).read()[-2000:])

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def health(srv):
    """The instance's /api/v1/health document, or None when it is down."""
    try:
        r = sv.http_request(srv.port, "GET", "/api/v1/health", timeout=2)
        return r.json() if r.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


class Multi(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-multi-")
        cls.servers, cls.nginx = [], None
        try:
            cls.pg = pgserver.cluster()
            cls.url = pgserver.new_db("multi")
            cls.moto = sv.shared_moto()
            cls.bucket = "sl-multi-" + os.urandom(4).hex()
            cls.moto.create_bucket(cls.bucket)
            cls.store_args = ["--store", "s3://%s/packs" % cls.bucket]
            cls.store_env = cls.moto.env()
            cls.keys = os.path.join(cls.tmp, "keys")
            os.makedirs(cls.keys)
            lb_port = sv.free_port()
            for name in ("a", "b", "c"):
                wd = os.path.join(cls.tmp, "srv-" + name)
                os.makedirs(wd)
                srv = sv.Server(os.path.join(cls.tmp, "data-" + name), workdir=wd, db=cls.url,
                                origin=None, args=["--keys", cls.keys, "--public-url",
                                                   "http://127.0.0.1:%d" % lb_port])
                srv.store_args, srv.store_env = list(cls.store_args), dict(cls.store_env)
                cls.servers.append(srv)
                srv.start()  # a first: its empty --keys folder gets the hub's keys
            cls.nginx = Nginx(os.path.join(cls.tmp, "nginx"), lb_port,
                              [s.port for s in cls.servers])
            cls.pub = cls.admin("user", "add", "pubmulti", "--json")["token"]
            cls.reader = cls.admin("user", "add", "reader", "--json")["token"]
            cls.admin("org", "add", "acme")
            cls.admin("org", "member", "add", "acme", "pubmulti", "--role", "publisher")
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
            cls.folders = {}  # tree digest -> (model, folder)
            cls.counter = 0
            r = cls.push(cls.nginx.url, FLIP, cls.new_folder(FLIP), "--tier", "open")
            assert r.rc == 0, repr(r)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.nginx:
                cls.nginx.stop()
            for srv in cls.servers:
                if srv.running():
                    srv.stop()
        finally:
            for srv in cls.servers:
                srv.cleanup()
            if os.environ.get("SLUICE_KEEP_TMP"):
                print("kept %s" % cls.tmp)
            else:
                shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers

    @classmethod
    def admin(cls, *args, timeout=300):
        """`sluice admin ARGS` on the shared database, bucket and keys (the
        data folder of instance a); parsed JSON when --json is in ARGS."""
        r = st.run("admin", *args, "--data", cls.servers[0].data, "--db", cls.url, "--keys",
                   cls.keys, *cls.store_args, env=sv.clean_env(cls.store_env), timeout=timeout)
        assert r.rc == 0, repr(r)
        return json.loads(r.stdout) if "--json" in args else r

    @classmethod
    def new_folder(cls, model, big=1 << 20):
        cls.counter += 1
        folder = os.path.join(cls.tmp, "model-%d" % cls.counter)
        sv.make_model(folder, big=big, rng=random.Random(cls.counter))
        cls.folders[cls.digest(sv.tree_digest(folder))] = (model, folder)
        return folder

    @staticmethod
    def digest(tree):
        return hashlib.sha256(json.dumps(sorted(tree.items())).encode()).hexdigest()

    @classmethod
    def env(cls, url, token, who):
        home = os.path.join(cls.tmp, "home-" + who)
        os.makedirs(home, exist_ok=True)
        env = sv.clean_env({"SLUICE_URL": url, "HOME": home,
                            "XDG_STATE_HOME": os.path.join(home, "state"),
                            "XDG_CONFIG_HOME": os.path.join(home, "config"),
                            "XDG_CACHE_HOME": os.path.join(home, "cache")})
        if token:
            env["SLUICE_TOKEN"] = token
        else:
            env.pop("SLUICE_TOKEN", None)
        return env

    @classmethod
    def push(cls, url, model, folder, *extra, who="pub", timeout=120):
        return st.run("push", model, folder, "--facts", cls.facts, "--json", *extra,
                      env=cls.env(url, cls.pub, who), timeout=timeout)

    def pull(self, url, model, version, who="puller"):
        dest = tempfile.mkdtemp(dir=self.tmp, prefix="pulled-")
        r = st.run("pull", "%s@v%d" % (model, version), "--dest", dest,
                   env=self.env(url, self.pub, who), timeout=120)
        return r, dest

    def sql(self, q):
        return self.pg.sql(self.url, q).strip()

    def versions(self, model):
        """[(version, commit)] the hub lists for MODEL, through nginx."""
        r = sv.http_request(self.nginx.port, "GET", "/api/v1/models/" + model, token=self.pub)
        if r.status == 404:
            return []
        self.assertEqual(r.status, 200, r)
        return sorted((v["version"], v["commit"]) for v in r.json()["versions"])

    def seqs(self, model):
        name = model.split("/")[1]
        return [int(x) for x in self.sql(
            "SELECT v.seq FROM versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = '%s' ORDER BY v.seq" % name).split()]

    def leaders(self):
        return [s for s in self.servers if s.running() and (health(s) or {}).get("leader")]

    def wait_one_leader(self, among, timeout=10):
        """Waits until exactly one of AMONG says it leads; returns (it, seconds)."""
        t0 = time.monotonic()
        while time.monotonic() < t0 + timeout:
            ls = [s for s in among if (health(s) or {}).get("leader")]
            if len(ls) == 1:
                return ls[0], time.monotonic() - t0
            self.assertLessEqual(len(ls), 1, "two leaders at once")
            time.sleep(0.05)
        self.fail("no instance of %d leads within %g s" % (len(among), timeout))

    def check_whole(self, model, version, url=None):
        """Pulls MODEL@vVERSION; its files must be exactly a folder pushed to MODEL."""
        r, dest = self.pull(url or self.nginx.url, model, version)
        self.assertEqual(r.rc, 0, repr(r))
        got = self.digest(sv.tree_digest(dest))
        self.assertIn(got, self.folders, "%s v%d is no folder that was pushed" % (model, version))
        self.assertEqual(self.folders[got][0], model)
        shutil.rmtree(dest, ignore_errors=True)
        return got

    # ------------------------------------------------------------ tests

    def test_a_concurrent_pushes_pull_through_the_others(self):
        model = "acme/together"
        jobs = [(i, self.servers[i % 3], self.new_folder(model)) for i in range(6)]
        results, lock = [], threading.Lock()

        def one(i, srv, folder):
            r = self.push(srv.url, model, folder, who="together%d" % i)
            pulled = []
            if r.rc == 0:
                v = json.loads(r.stdout)["version"]
                # the moment it answered: through each of the other two
                for other in self.servers:
                    if other is not srv:
                        pulled.append(self.pull(other.url, model, v, who="p%d%d" % (
                            i, other.port)))
            with lock:
                results.append((i, folder, r, pulled))

        threads = [threading.Thread(target=one, args=j) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual(len(results), len(jobs))
        for i, folder, r, pulled in results:
            self.assertEqual(r.rc, 0, repr(r))
            self.assertEqual(len(pulled), 2)
            for pr, dest in pulled:
                self.assertEqual(pr.rc, 0, repr(pr))
                self.assertEqual(sv.tree_digest(dest), sv.tree_digest(folder))
        self.assertEqual(self.seqs(model), list(range(1, len(jobs) + 1)))
        got = sorted(json.loads(r.stdout)["version"] for _, _, r, _ in results)
        self.assertEqual(got, list(range(1, len(jobs) + 1)))

    def test_b_revocation_through_one_stops_the_others(self):
        model = "acme/gated"
        r = self.push(self.servers[0].url, model, self.new_folder(model), "--tier", "gated")
        self.assertEqual(r.rc, 0, repr(r))
        a, b, c = self.servers
        base = "/api/v1/models/%s" % model
        path = "/%s/resolve/main/config.json" % model
        r = c.request("POST", base + "/access", {"purpose": "research on load balancers"},
                      token=self.reader)
        self.assertEqual(r.status, 201, r)
        r = a.request("POST", base + "/access/reader/approve", {}, token=self.pub)
        self.assertEqual(r.status, 200, r)
        conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=30)
                 for p in (b.port, c.port, self.nginx.port)]
        for conn in conns:
            self.addCleanup(conn.close)

        def get(conn):
            conn.request("GET", path, headers={"Authorization": "Bearer " + self.reader})
            resp = conn.getresponse()
            resp.read()
            return resp.status

        for conn in conns:  # twice each: the answer is cached on every instance
            self.assertEqual([get(conn), get(conn)], [200, 200])
        r = a.request("POST", base + "/access/reader/revoke", {"reason": "misuse"},
                      token=self.pub)
        self.assertEqual(r.status, 200, r)
        for conn in conns:  # the very next request, on the same keep-alive connections
            self.assertEqual(get(conn), 403)

    def test_c_kill9_during_pushes_and_log_appends(self):
        rng = random.Random(1313)
        leader, _ = self.wait_one_leader(self.servers)
        log_before = int(self.sql("SELECT count(*) FROM log_entries"))
        stop_bg = threading.Event()
        bg = {"ok": 0, "failed": 0, "bad": []}
        bg_lock = threading.Lock()

        def background():
            # log appends and reads through nginx all along: nginx passes a
            # request a killed instance refused to another, so reads always
            # succeed; an append that instance was answering gets 502
            i = 0
            while not stop_bg.is_set():
                i += 1
                tier = ("gated", "open")[i % 2]
                try:
                    r = sv.http_request(self.nginx.port, "POST",
                                        "/api/v1/models/%s/tier" % FLIP, {"tier": tier},
                                        token=self.pub, timeout=30)
                    g = sv.http_request(self.nginx.port, "GET",
                                        "/api/v1/models/%s" % FLIP, token=self.pub,
                                        timeout=30)
                    statuses = (r.status, g.status)
                except (OSError, http.client.HTTPException) as e:
                    statuses = (str(e),)
                with bg_lock:
                    if all(s == 200 for s in statuses):
                        bg["ok"] += 1
                    elif statuses[0] == 502 and statuses[1:] == (200,):
                        bg["failed"] += 1  # the POST was cut while answered
                    else:
                        bg["bad"].append(statuses)
                time.sleep(0.02)

        bgt = threading.Thread(target=background)
        bgt.start()
        cut_pushes = cut_appends = retried = 0
        takeovers = []
        pushes = []  # (model, folder, Result)
        try:
            for k in range(KILLS):
                victim = self.servers[k % 3]
                if k % 10 == 4:  # now and then, the leader itself
                    victim = self.leaders()[0] if self.leaders() else victim
                was_leader = (health(victim) or {}).get("leader", False)
                kind = "push" if k % 2 == 0 else "append"
                work = {}
                if kind == "push":
                    model = MODELS[k % len(MODELS)]
                    folder = self.new_folder(model, big=rng.choice((1 << 20, 3 << 20)))

                    def job(model=model, folder=folder, url=victim.url):
                        # the client retries while the instance is down, and
                        # resumes once it is back
                        r = self.push(url, model, folder, "--retry-for", "60s",
                                      who="kill%d" % k, timeout=120)
                        work["first"] = r
                        for _ in range(5):
                            if r.rc == 0:
                                break
                            # a request outside the chunk transfers was cut:
                            # run it again, as a user would (an identical
                            # manifest is the same version, never a second)
                            time.sleep(1)
                            r = self.push(url, model, folder, who="kill%d" % k, timeout=120)
                        work["r"] = r
                    delay = rng.uniform(0.02, 0.35)
                else:
                    def job(port=victim.port):
                        n = ok = cut = 0
                        deadline = time.monotonic() + 3
                        while time.monotonic() < deadline:
                            n += 1
                            try:
                                r = sv.http_request(port, "POST",
                                                    "/api/v1/models/%s/tier" % FLIP,
                                                    {"tier": ("gated", "open")[n % 2]},
                                                    token=self.pub, timeout=10)
                                if r.status != 200:
                                    work.setdefault("bad", []).append(r)
                                ok += 1
                            except (OSError, http.client.HTTPException):
                                cut += 1
                                break
                        work["ok"], work["cut"] = ok, cut
                    delay = rng.uniform(0.05, 0.3)
                t = threading.Thread(target=job)
                t.start()
                time.sleep(delay)
                in_flight = t.is_alive()
                victim.kill9()
                killed = time.monotonic()
                if was_leader:
                    others = [s for s in self.servers if s is not victim]
                    self.wait_one_leader(others)
                    takeovers.append(time.monotonic() - killed)
                port = victim.port
                victim.start(port=port)
                self.assertEqual(victim.port, port, "restarted on another port than nginx's")
                t.join(150)
                self.assertFalse(t.is_alive(), "a client hung on a killed instance")
                if kind == "push":
                    pushes.append((model, folder, work["r"]))
                    retried += work["first"].rc != 0
                    cut_pushes += in_flight
                    # cut or not, the push went through once the instance was back
                    self.assertEqual(work["r"].rc, 0, repr(work["r"]))
                else:
                    self.assertEqual(work.get("bad", []), [])
                    cut_appends += work["cut"]
                self.assertLessEqual(len(self.leaders()), 1)
        finally:
            stop_bg.set()
            bgt.join(60)
        sys.stderr.write("\n%d kills: %d pushes and %d appends cut in flight, %d pushes "
                         "failed and were run again, leader moved %d times (%s s); through "
                         "nginx %d rounds ok, %d appends cut\n" % (
                             KILLS, cut_pushes, cut_appends,
                             retried,
                             len(takeovers), ", ".join("%.1f" % t for t in takeovers),
                             bg["ok"], bg["failed"]))
        self.assertEqual(bg["bad"], [])
        self.assertGreater(bg["ok"], 0)
        # the kills hit work in flight: pushes cut, appends cut
        self.assertGreaterEqual(cut_pushes, KILLS // 6, "too few pushes were cut")
        self.assertGreaterEqual(cut_appends, KILLS // 6, "too few appends were cut")
        self.assertGreaterEqual(len(takeovers), 1, "no kill hit the leader")
        for took in takeovers:
            self.assertLess(took, 10)
        self.__class__.pushes = pushes

        # no partial version: every version listed is a whole pushed folder
        for model in MODELS:
            vs = self.versions(model)
            self.assertEqual([v for v, _ in vs], list(range(1, len(vs) + 1)), model)
            self.assertEqual(self.seqs(model), [v for v, _ in vs], model)
            seen = set()
            for v, _ in vs:
                seen.add(self.check_whole(model, v))
            # every push that answered success is one of them
            for m, folder, r in pushes:
                if m == model and r.rc == 0:
                    self.assertIn(self.digest(sv.tree_digest(folder)), seen, repr(r))
        # one log, no gap, no fork: the same through every instance
        n = int(self.sql("SELECT count(*) FROM log_entries"))
        self.assertEqual(self.sql("SELECT coalesce(max(idx) + 1, 0) FROM log_entries"), str(n))
        self.assertGreater(n, log_before + KILLS)
        deadline = time.monotonic() + 10
        views = []
        while time.monotonic() < deadline:
            views = []
            for s in self.servers:
                last_view = logcheck.LogView()
                views.append((last_view.check(s.port), last_view.checkpoints[-1]))
            if all(size == n for size, _ in views):
                break
            time.sleep(0.3)
        self.assertEqual([size for size, _ in views], [n] * 3)
        self.assertEqual(len(set(cp for _, cp in views)), 1)
        # every checkpoint any instance signed, leader after leader, is a head
        # of this one tree (none signed a fork)
        leaves = [logcheck.leaf_hash(t) for t in last_view.texts]
        rows = self.sql("SELECT size, encode(root, 'hex') FROM log_checkpoints ORDER BY size")
        cps = [(int(a), bytes.fromhex(b)) for a, b in (x.split("|") for x in rows.split())]
        self.assertGreater(len(cps), 1)
        for size, root in cps:
            self.assertEqual(logcheck.tree_root(leaves[:size]), root, "checkpoint %d" % size)
        r = st.run("log", "verify", "--full", env=self.env(self.nginx.url, None, "witness"),
                   timeout=300)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertIn("verified at %d entries" % n, r.stdout)
        doc = self.admin("fsck", "--json")
        self.assertTrue(doc.get("ok", True), doc)

    def test_d_gc_while_serving_deletes_nothing_live(self):
        for srv in self.servers:
            if not srv.running():
                srv.start(port=srv.port)
        live = [(m, v) for m in MODELS + ("acme/together",) for v, _ in self.versions(m)]
        self.assertGreater(len(live), 3)
        # garbage beside the live packs: chunks uploaded by a push that never
        # committed, and a pack upload a killed server left open
        rng = random.Random(99)
        blobs = [rng.randbytes(100000) for _ in range(3)]
        r = sv.http_request(self.nginx.port, "POST", "/api/v1/models/%s/chunks" % MODELS[0],
                            b"".join(sv.frame(b) for b in blobs),
                            {"Content-Type": "application/octet-stream"}, token=self.pub)
        self.assertEqual(r.status, 200, r)
        self.moto.start_upload(self.bucket, "packs/12/12" + "3" * 30 + ".pack")
        time.sleep(1.2)  # past a grace period of 0 s at one-second resolution
        stop = threading.Event()
        errors, done = [], []

        def serve():
            i = 0
            while not stop.is_set():
                m, v = live[i % len(live)]
                i += 1
                srv = self.servers[i % 3]
                r = sv.http_request(srv.port, "GET", "/api/v1/models/%s/versions/v%d" % (m, v),
                                    token=self.pub)
                if r.status != 200:
                    errors.append(r)
                    continue
                for f in r.json()["files"]:
                    g = sv.http_request(srv.port, "GET", "/%s/resolve/v%d/%s" % (m, v, f["path"]),
                                        token=self.pub)
                    if g.status != 200 or hashlib.sha256(g.body).hexdigest() != f["sha256"]:
                        errors.append(("download", m, v, f["path"], g.status))
                t = sv.http_request(self.nginx.port, "POST", "/api/v1/models/%s/tier" % FLIP,
                                    {"tier": ("gated", "open")[i % 2]}, token=self.pub)
                if t.status != 200:
                    errors.append(t)
                done.append(1)

        threads = [threading.Thread(target=serve) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            gc = self.admin("gc", "--grace", "0", "--json")
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        sys.stderr.write("\ngc while serving: %s; %d rounds of downloads\n" % (
            json.dumps(gc, sort_keys=True), len(done)))
        self.assertEqual(errors, [])
        self.assertGreater(len(done), 0)
        self.assertGreaterEqual(gc["chunks_dropped"], len(blobs), gc)
        self.assertGreaterEqual(gc["uploads_aborted"], 1, gc)
        self.assertEqual(self.moto.upload_keys(self.bucket), [])
        for m, v in live:
            self.check_whole(m, v, url=self.servers[v % 3].url)
        doc = self.admin("fsck", "--json")
        self.assertTrue(doc.get("ok", True), doc)


if __name__ == "__main__":
    st.main()
