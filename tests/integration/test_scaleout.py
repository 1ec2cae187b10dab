# SPDX-License-Identifier: Apache-2.0
"""Several `sluice serve` on one PostgreSQL behave as one hub (issue 13).

Always on PostgreSQL (pgserver.py; fails with what to install when it is
missing), whatever SLUICE_TEST_DB says:

- two servers on one database and one data folder (keys and packs shared)
  take pushes of one model and log appends through both at once: every
  version number is used once and none is skipped, no log entry is lost,
  both serve the same log, and `sluice log verify --full` passes through
  either;
- PostgreSQL stopped while serving: requests get 503 with Retry-After, the
  server stays up, and answers again once PostgreSQL is back;
- `--db` that cannot be reached at start: exit 3 with the URL (password
  removed) and the cause; a `--db` of an unknown kind: exit 2; the PG*
  variables and SLUICE_DB work; `--db sqlite:PATH` puts the file anywhere.
"""
import datetime
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

MODEL = "acme/shared"
FACTS = {"params": 4224, "training": {"tokens": 1e9}}
PUSHES_PER_SERVER = 3
REQUESTERS = 12


class TwoServers(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-scaleout-")
        cls.pg = pgserver.cluster()
        cls.url = pgserver.new_db("scaleout")
        data = os.path.join(cls.tmp, "data")
        cls.servers = []
        try:
            for name in ("a", "b"):
                wd = os.path.join(cls.tmp, "srv-" + name)
                os.makedirs(wd)
                srv = sv.Server(data, workdir=wd, db=cls.url)
                cls.servers.append(srv)
                srv.start()  # a first: it makes the keys and the admin
            cls.a, cls.b = cls.servers
            cls.pub = cls.a.add_user("pubmaria")
            cls.a.add_org("acme")
            cls.a.add_member("acme", "pubmaria", "publisher")
            cls.users = {}
            for i in range(REQUESTERS):
                name = "user%02d" % i
                cls.users[name] = (cls.a if i % 2 else cls.b).add_user(name)
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
            lic = os.path.join(cls.tmp, "license.txt")
            with open(lic, "w") as f:
                f.write("Use it kindly.\n")
            folder = cls.model(0)
            r = cls.cli(cls.a, cls.pub, "pub", "push", MODEL, folder, "--facts", cls.facts,
                        "--tier", "gated", "--license", lic, "--json")
            assert r.rc == 0, repr(r)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for srv in cls.servers:
                if srv.running():
                    srv.stop()
        finally:
            for srv in cls.servers:
                srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def model(cls, i):
        folder = os.path.join(cls.tmp, "model-%d" % i)
        sv.make_model(folder, big=1 << 15, rng=random.Random(i))
        return folder

    @classmethod
    def cli(cls, srv, token, who, *args, timeout=120):
        home = os.path.join(cls.tmp, "home-%s-%d" % (who, srv.port))
        os.makedirs(home, exist_ok=True)
        return st.run(*args, env=srv.client_env(token, home), timeout=timeout)

    def sql(self, q):
        return self.pg.sql(self.url, q).strip()

    def test_a_concurrent_pushes_and_log_appends(self):
        # the data folder holds keys and packs; the rows are in PostgreSQL only
        self.assertFalse(os.path.exists(os.path.join(self.a.data, "sluice.db")))
        entries_before = int(self.sql("SELECT count(*) FROM log_entries"))
        versions_before = int(self.sql("SELECT count(*) FROM versions"))
        folders = [self.model(i) for i in range(1, 2 * PUSHES_PER_SERVER + 1)]
        results, lock = [], threading.Lock()

        def push(i):
            srv = self.servers[i % 2]
            r = self.cli(srv, self.pub, "pub%d" % i, "push", MODEL, folders[i], "--facts",
                         self.facts, "--json")
            with lock:
                results.append(("push", i, r))

        def request(i, name):
            srv = self.servers[i % 2]
            r = self.cli(srv, self.users[name], name, "access", "request", MODEL, "--purpose",
                         "research number %d" % i)
            with lock:
                results.append(("request", name, r))

        threads = [threading.Thread(target=push, args=(i,)) for i in range(len(folders))]
        threads += [threading.Thread(target=request, args=(i, n))
                    for i, n in enumerate(sorted(self.users))]
        random.Random(13).shuffle(threads)
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual(len(results), len(threads))
        for kind, who, r in results:
            self.assertEqual(r.rc, 0, "%s %s: %r" % (kind, who, r))

        # version numbers: each used once, none skipped
        seqs = [int(x) for x in self.sql(
            "SELECT v.seq FROM versions v JOIN models m ON m.id = v.model_id "
            "WHERE m.name = 'shared' ORDER BY v.seq").split()]
        self.assertEqual(seqs, list(range(1, len(folders) + 2)))
        self.assertEqual(int(self.sql("SELECT count(*) FROM versions")),
                         versions_before + len(folders))
        pushed = sorted(json.loads(r.stdout)["version"] for k, _, r in results if k == "push")
        self.assertEqual(len(set(pushed)), len(folders), pushed)

        # the log: one entry per event, indexes 0..n-1 without a gap
        n = int(self.sql("SELECT count(*) FROM log_entries"))
        self.assertEqual(self.sql("SELECT coalesce(max(idx) + 1, 0) FROM log_entries"), str(n))
        self.assertGreaterEqual(n - entries_before, len(folders) + REQUESTERS)
        texts = self.pg.sql(self.url, "SELECT entry FROM log_entries ORDER BY idx",
                            records="\x1e").split("\x1e")
        types = [json.loads(t)["type"] for t in texts if t.strip()]
        self.assertEqual(types.count("access.requested"), REQUESTERS)

        # both servers serve the same log, and it verifies in full through each
        time.sleep(1.1)  # per-server caches live at most 1 s
        notes = []
        for srv in self.servers:
            r = srv.request("GET", "/log/checkpoint")
            self.assertEqual(r.status, 200, r)
            notes.append(r.body.decode())
            self.assertEqual(int(r.body.decode().split("\n")[1]), n, r.body)
        self.assertEqual(notes[0].split("\n")[:3], notes[1].split("\n")[:3])
        for srv in self.servers:
            r = self.cli(srv, None, "witness", "log", "verify", "--full")
            self.assertEqual(r.rc, 0, repr(r))
            self.assertIn("verified at %d entries" % n, r.stdout)
        # connections: at most one per worker thread, one for the clock, one
        # for the fingerprint hashing thread, one for the hosted backends'
        # probes, one from the start, one for the leader lock and one
        # listening, per server (docs/database.md)
        threads = [json.loads(line)["threads"] for srv in self.servers
                   for line in srv.stderr().splitlines() if '"listening"' in line]
        conns = int(self.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                             "'sluice' AND datname = current_database()"))
        self.assertGreaterEqual(conns, 2)
        self.assertLessEqual(conns, sum(t + 6 for t in threads[-2:]), threads)
        # a push through one server is pullable through the other at once
        v = max(pushed)
        dest = os.path.join(self.tmp, "pulled")
        r = self.cli(self.b, self.pub, "pub", "pull", "%s@v%d" % (MODEL, v), "--dest", dest)
        self.assertEqual(r.rc, 0, repr(r))

    def test_b_database_outage_is_503_then_recovers(self):
        srv = self.a
        path = "/api/v1/models/%s" % MODEL
        r = srv.request("GET", path, token=self.pub)
        self.assertEqual(r.status, 200, r)
        changes = "SELECT count(*) FROM log_entries WHERE entry LIKE '%tier.changed%'"
        before = self.sql(changes)
        self.pg.pause()
        try:
            statuses = set()
            for _ in range(6):
                r = srv.request("POST", "/api/v1/models/%s/tier" % MODEL, {"tier": "click"},
                                token=self.pub)
                statuses.add(r.status)
                self.assertEqual(r.status, 503, r)
                self.assertEqual(r.headers.get("Retry-After"), "1", r)
                doc = r.json()
                self.assertEqual(doc["error"], "unavailable", doc)
                self.assertIn("database", doc["message"], doc)
                time.sleep(0.1)
            self.assertTrue(srv.running(), "the server died when its database did")
        finally:
            self.pg.resume()
        # reconnects with backoff (at most 5 s between tries)
        deadline = time.monotonic() + 15
        while True:
            r = srv.request("GET", path, token=self.pub)
            if r.status == 200 or time.monotonic() > deadline:
                break
            self.assertEqual(r.status, 503, r)
            time.sleep(0.2)
        self.assertEqual(r.status, 200, r)
        # nothing was half-written: the tier did not change while it was down
        self.assertEqual(self.sql(changes), before)
        # and writes work again, through both servers
        for s in self.servers:
            deadline = time.monotonic() + 15
            while True:
                r = s.request("GET", "/log/checkpoint")
                if r.status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(r.status, 200, r)

    def test_c_unreachable_database_at_start(self):
        port = sv.free_port()
        data = os.path.join(self.tmp, "data-unreachable")
        url = "postgresql://bob:s3cr3t-pw@127.0.0.1:%d/hub?connect_timeout=2" % port
        for args in (["serve", "--data", data, "--listen", "127.0.0.1:%d" % sv.free_port(),
                      "--db", url],
                     ["admin", "user", "add", "x", "--data", self.a.data, "--db", url]):
            r = st.run(*args, env=sv.clean_env(), timeout=30)
            self.assertEqual(r.rc, 3, repr(r))
            self.assertNotIn("s3cr3t", r.stderr + r.stdout)
            self.assertIn("postgresql://bob@127.0.0.1:%d/hub" % port, r.stderr)
            self.assertIn("cannot connect", r.stderr)
            self.assertIn("refused", r.stderr)  # libpq's cause
            self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        # the password in a parameter is removed too
        r = st.run("admin", "user", "add", "x", "--data", self.a.data, "--db",
                   "postgresql://127.0.0.1:%d/hub?password=s3cr3t-pw" % port,
                   env=sv.clean_env(), timeout=30)
        self.assertEqual(r.rc, 3, repr(r))
        self.assertNotIn("s3cr3t", r.stderr)
        # a kind of database sluice does not know, and an empty path
        for bad in ("mysql://root@localhost/hub", "sqlite:"):
            r = st.run("admin", "user", "add", "x", "--data", self.a.data, "--db", bad,
                       env=sv.clean_env(), timeout=30)
            self.assertEqual(r.rc, 2, repr(r))
            self.assertIn("database", r.stderr)
            self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)

    def test_a2_scheduled_steps_run_once(self):
        # Both servers' tickers see the same due steps; each step runs once:
        # one schedule.step log entry, one status change.
        models = []
        for i in range(4):
            m = "acme/staged%d" % i
            r = self.cli(self.a, self.pub, "pub", "push", m, self.model(100 + i), "--facts",
                         self.facts, "--tier", "gated", "--json")
            self.assertEqual(r.rc, 0, repr(r))
            models.append(m)
        at = (datetime.datetime.now(datetime.timezone.utc) +
              datetime.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for i, m in enumerate(models):
            for tier in ("click", "open", "click"):
                srv = self.servers[i % 2]
                r = self.cli(srv, self.pub, "pub", "tier", "schedule", m, tier, "--at", at)
                self.assertEqual(r.rc, 0, repr(r))
        ids = [int(x) for x in self.sql(
            "SELECT s.id FROM schedule s JOIN versions v ON v.id = s.version_id JOIN models m "
            "ON m.id = v.model_id WHERE m.name LIKE 'staged%' ORDER BY s.id").split()]
        self.assertEqual(len(ids), 12)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = self.sql("SELECT count(*) FROM schedule WHERE status = 'pending'")
            if left == "0":
                break
            time.sleep(0.3)
        self.assertEqual(left, "0")
        time.sleep(1.5)  # a second run, if any, would land now
        texts = self.pg.sql(self.url, "SELECT entry FROM log_entries ORDER BY idx",
                            records="\x1e").split("\x1e")
        steps = [json.loads(t)["step"] for t in texts
                 if t.strip() and json.loads(t)["type"] == "schedule.step"]
        self.assertEqual(sorted(steps), ids)

    def test_b1_cut_connections_are_replaced_without_an_error(self):
        # PostgreSQL ends every server connection (a restart, a pooler, an
        # operator): the next reads and writes reconnect and succeed, since
        # nothing had run on the lost connection yet.
        for round_ in range(3):
            killed = self.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = 'sluice' AND datname = current_database()")
            self.assertGreater(int(killed), 0)
            for srv in self.servers:
                r = srv.request("GET", "/api/v1/models/%s" % MODEL, token=self.pub)
                self.assertEqual(r.status, 200, r)
                r = srv.request("GET", "/api/v1/models/%s/access" % MODEL, token=self.pub)
                self.assertEqual(r.status, 200, r)
            tier = ("click", "gated", "click")[round_]
            r = self.servers[round_ % 2].request("POST", "/api/v1/models/%s/tier" % MODEL,
                                                 {"tier": tier}, token=self.pub)
            self.assertEqual(r.status, 200, r)
        self.assertTrue(all(s.running() for s in self.servers))

    def test_b2_first_start_together_on_a_new_database(self):
        # Keys first (they live in the data folder, shared here), then eight
        # processes open an empty database at once: each migration runs once,
        # one first admin is made, and none of them fails.
        data = os.path.join(self.tmp, "data-together")
        os.makedirs(data)
        r = st.run("admin", "org", "add", "keys", "--data", data, "--db",
                   "sqlite:" + os.path.join(self.tmp, "keys.db"), env=sv.clean_env(), timeout=30)
        self.assertEqual(r.rc, 0, repr(r))
        for attempt in range(4):
            url = pgserver.new_db("together")
            procs = [subprocess.Popen([sv.BIN, "admin", "org", "add", "o%d" % i, "--data", data,
                                       "--db", url], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=sv.clean_env())
                     for i in range(8)]
            for i, p in enumerate(procs):
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 0, "attempt %d, process %d: %r" % (
                    attempt, i, err.decode()))
            self.assertEqual(self.pg.sql(url, "SELECT count(*) FROM users").strip(), "1")
            self.assertEqual(self.pg.sql(url, "SELECT count(*) FROM orgs").strip(), "8")
            self.assertEqual(self.pg.sql(url, "SELECT version FROM schema_version").strip(), "13")

    def test_c2_pg_variables_fill_in_the_url(self):
        # as in psql: what the URL leaves out comes from PGHOST, PGPORT, PGUSER
        dbname = self.url.split("///", 1)[1].split("?", 1)[0]
        env = sv.clean_env({"PGHOST": self.pg.sock, "PGPORT": str(self.pg.port),
                            "PGUSER": "postgres"})
        r = st.run("admin", "user", "add", "viaenv", "--data", self.a.data, "--db",
                   "postgresql:///" + dbname, "--json", env=env, timeout=30)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(self.sql("SELECT count(*) FROM users WHERE name = 'viaenv'"), "1")
        # and SLUICE_DB stands in for --db
        env["SLUICE_DB"] = "postgresql:///" + dbname
        r = st.run("admin", "user", "add", "viaenv2", "--data", self.a.data, env=env, timeout=30)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(self.sql("SELECT count(*) FROM users WHERE name = 'viaenv2'"), "1")

    def test_d_sqlite_url_is_the_default_file(self):
        # `--db sqlite:PATH` is today's embedded database, in any folder
        data = os.path.join(self.tmp, "data-lite")
        path = os.path.join(self.tmp, "elsewhere.db")
        srv = sv.Server(data, workdir=self.tmp, db="sqlite:" + path)
        self.addCleanup(srv.cleanup)
        srv.start()
        tok = srv.add_user("lite")
        self.assertTrue(tok.startswith("sl_"))
        self.assertTrue(os.path.isfile(path))
        self.assertFalse(os.path.exists(os.path.join(data, "sluice.db")))
        # on SQLite the one process leads the clock from its first round
        deadline = time.monotonic() + 5
        while '"event":"leader"' not in srv.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        events = [json.loads(x)["leader"] for x in srv.stderr().splitlines()
                  if '"event":"leader"' in x]
        self.assertEqual(events, [True], srv.stderr())
        self.assertIs(srv.request("GET", "/api/v1/health").json()["leader"], True)
        srv.stop()


if __name__ == "__main__":
    st.main()
