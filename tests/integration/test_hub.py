# SPDX-License-Identifier: Apache-2.0
"""Three `sluice serve` on one PostgreSQL: one leader, shared invalidation
(issue 13, docs/database.md "Several servers on one PostgreSQL").

Always on PostgreSQL (pgserver.py; fails with what to install when missing):

- a tier change through A is seen by B at its very next request, on the
  same keep-alive connection that just had the old answer cached;
- a revocation through A stops B's downloads at the next request;
- exactly one server leads (runs the clock's work); kill -9 of the leader
  hands the clock to another within 10 s, and a staged step that falls due
  after the kill runs exactly once;
- `--keys DIR`: a server with its own data folder and the hub's key files
  signs the same checkpoints; a partial key set, a missing folder, or an
  empty folder beside a database that has a log are refused (exit 2); a new
  hub's empty folder gets fresh keys, the data folder none.
"""
import datetime
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


def leading(srv):
    """The server's last "leader" event: True, False or None (none yet)."""
    last = None
    for line in srv.stderr().splitlines():
        if '"event":"leader"' in line:
            last = json.loads(line)["leader"]
    return last


class Hub(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hub-")
        cls.pg = pgserver.cluster()
        cls.url = pgserver.new_db("hub")
        data = os.path.join(cls.tmp, "data")
        cls.servers = []
        try:
            for name in ("a", "b", "c"):
                wd = os.path.join(cls.tmp, "srv-" + name)
                os.makedirs(wd)
                srv = sv.Server(data, workdir=wd, db=cls.url)
                cls.servers.append(srv)
                srv.start()
            cls.a, cls.b, cls.c = cls.servers
            cls.pub = cls.a.add_user("pubhub")
            cls.user = cls.a.add_user("reader")
            cls.a.add_org("acme")
            cls.a.add_member("acme", "pubhub", "publisher")
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
            for i, (m, tier) in enumerate((("acme/tiers", "open"), ("acme/gated", "gated"))):
                r = cls.cli(cls.a, cls.pub, "push", m, cls.model(i), "--facts", cls.facts,
                            "--tier", tier, "--json")
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
        sv.make_model(folder, big=1 << 14, rng=random.Random(i))
        return folder

    @classmethod
    def cli(cls, srv, token, *args):
        home = os.path.join(cls.tmp, "home-%d" % srv.port)
        os.makedirs(home, exist_ok=True)
        return st.run(*args, env=srv.client_env(token, home), timeout=120)

    def sql(self, q):
        return self.pg.sql(self.url, q).strip()

    def get(self, conn, path, token):
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        r.read()
        return r.status

    def test_a_tier_change_through_a_is_seen_by_b_at_once(self):
        path = "/acme/tiers/resolve/main/config.json"
        conn = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=30)
        self.addCleanup(conn.close)
        for round_ in range(4):
            # B answers (and caches) the open file twice on one connection
            self.assertEqual(self.get(conn, path, self.user), 200)
            self.assertEqual(self.get(conn, path, self.user), 200)
            r = self.a.request("POST", "/api/v1/models/acme/tiers/tier", {"tier": "gated"},
                               token=self.pub)
            self.assertEqual(r.status, 200, r)
            # the very next request through B, same connection: no longer open
            self.assertEqual(self.get(conn, path, self.user), 403, "round %d" % round_)
            r = self.c.request("POST", "/api/v1/models/acme/tiers/tier", {"tier": "open"},
                               token=self.pub)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.get(conn, path, self.user), 200, "round %d" % round_)

    def test_b_revocation_through_a_stops_b_at_once(self):
        base = "/api/v1/models/acme/gated"
        path = "/acme/gated/resolve/main/config.json"
        r = self.c.request("POST", base + "/access", {"purpose": "research on hubs"},
                           token=self.user)
        self.assertEqual(r.status, 201, r)
        r = self.a.request("POST", base + "/access/reader/approve", {}, token=self.pub)
        self.assertEqual(r.status, 200, r)
        conn = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=30)
        self.addCleanup(conn.close)
        self.assertEqual(self.get(conn, path, self.user), 200)
        self.assertEqual(self.get(conn, path, self.user), 200)
        r = self.a.request("POST", base + "/access/reader/revoke", {"reason": "misuse"},
                           token=self.pub)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get(conn, path, self.user), 403)
        # and through the third server too
        self.assertEqual(self.c.request("GET", path, token=self.user).status, 403)

    def test_c_one_leader_and_takeover_after_kill9(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            leaders = [s for s in self.servers if leading(s)]
            if len(leaders) == 1:
                break
            time.sleep(0.2)
        self.assertEqual(len(leaders), 1, [leading(s) for s in self.servers])
        leader = leaders[0]
        # the others say they are not leading, and keep saying so
        time.sleep(1.5)
        self.assertEqual([s for s in self.servers if leading(s)], [leader])
        others = [s for s in self.servers if s is not leader]
        for s in others:
            self.assertIs(leading(s), False)
        # a staged step due after the leader is gone
        at = (datetime.datetime.now(datetime.timezone.utc) +
              datetime.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = self.cli(others[0], self.pub, "tier", "schedule", "acme/gated", "click", "--at", at)
        self.assertEqual(r.rc, 0, repr(r))
        sid = int(self.sql("SELECT max(id) FROM schedule"))
        leader.kill9()
        killed = time.monotonic()
        while time.monotonic() < killed + 10:
            if any(leading(s) for s in others):
                break
            time.sleep(0.1)
        took = time.monotonic() - killed
        self.assertEqual(len([s for s in others if leading(s)]), 1,
                         [leading(s) for s in others])
        self.assertLess(took, 10)
        # the step runs once, on the new leader
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.sql("SELECT status FROM schedule WHERE id = %d" % sid) != "pending":
                break
            time.sleep(0.2)
        self.assertEqual(self.sql("SELECT status FROM schedule WHERE id = %d" % sid), "done")
        time.sleep(1.5)  # a second run, if any, would land now
        texts = self.pg.sql(self.url, "SELECT entry FROM log_entries ORDER BY idx",
                            records="\x1e").split("\x1e")
        steps = [json.loads(t)["step"] for t in texts
                 if t.strip() and json.loads(t)["type"] == "schedule.step"]
        self.assertEqual(steps.count(sid), 1, steps)
        for s in others:
            r = s.request("GET", "/api/v1/models/acme/gated", token=self.pub)
            self.assertEqual(r.status, 200, r)
            self.assertIn('"click"', r.body.decode())
        # checkpoints are signed again (by the new leader) as the log grows
        n = int(self.sql("SELECT count(*) FROM log_entries"))
        deadline = time.monotonic() + 10
        size = 0
        while time.monotonic() < deadline:
            r = others[0].request("GET", "/log/checkpoint")
            size = int(r.body.decode().split("\n")[1]) if r.status == 200 else 0
            if size == n:
                break
            time.sleep(0.2)
        self.assertEqual(size, n)

    def test_d_keys_folder(self):
        keys = os.path.join(self.tmp, "keys")
        os.makedirs(keys)
        names = ("server.key", "fp.key", "log.secret")
        for n in names:
            shutil.copy(os.path.join(self.a.data, n), os.path.join(keys, n))
        wd = os.path.join(self.tmp, "srv-d")
        os.makedirs(wd)
        d = sv.Server(os.path.join(self.tmp, "data-d"), workdir=wd, db=self.url,
                      args=["--keys", keys])
        self.addCleanup(d.cleanup)
        d.start()
        for n in names:
            self.assertFalse(os.path.exists(os.path.join(d.data, n)), n)
        # the same key signs: the servers' checkpoints of one size are equal
        # (test_c killed whichever server led: compare with one still running)
        live = next(s for s in self.servers if s.running())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            notes = [s.request("GET", "/log/checkpoint").body for s in (live, d)]
            if notes[0] == notes[1]:
                break
            time.sleep(0.2)
        self.assertEqual(notes[0], notes[1])
        r = d.request("GET", "/api/v1/models/acme/tiers", token=self.pub)
        self.assertEqual(r.status, 200, r)
        # admin commands take --keys too
        r = st.run("admin", "user", "add", "keyed", "--data", d.data, "--db", self.url,
                   "--keys", keys, env=sv.clean_env(), timeout=60)
        self.assertEqual(r.rc, 0, repr(r))
        d.stop()

        def serve_fails(keys_dir, db):
            data = tempfile.mkdtemp(dir=self.tmp)
            r = st.run("serve", "--data", data, "--db", db, "--keys", keys_dir, "--listen",
                       "127.0.0.1:%d" % sv.free_port(), "--origin", "sluice",
                       env=sv.clean_env(), timeout=60)
            self.assertEqual(r.rc, 2, repr(r))
            self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
            return r.stderr

        # a partial set names what is missing
        part = os.path.join(self.tmp, "keys-part")
        os.makedirs(part)
        shutil.copy(os.path.join(keys, "server.key"), part)
        err = serve_fails(part, self.url)
        self.assertIn("fp.key is missing", err)
        # no such folder
        err = serve_fails(os.path.join(self.tmp, "no-such-keys"), self.url)
        self.assertIn("no such folder", err)
        # an empty folder beside a database with a log: never new keys there
        empty = os.path.join(self.tmp, "keys-empty")
        os.makedirs(empty)
        err = serve_fails(empty, self.url)
        self.assertIn("already has a log", err)
        self.assertEqual(os.listdir(empty), [])
        # a new hub: fresh keys in the keys folder, none in the data folder
        wd = os.path.join(self.tmp, "srv-e")
        os.makedirs(wd)
        e = sv.Server(os.path.join(self.tmp, "data-e"), workdir=wd,
                      db="sqlite:" + os.path.join(self.tmp, "e.db"), args=["--keys", empty])
        self.addCleanup(e.cleanup)
        e.start()
        self.assertEqual(sorted(os.listdir(empty)), sorted(names))
        for n in names:
            self.assertFalse(os.path.exists(os.path.join(e.data, n)), n)
        e.stop()


if __name__ == "__main__":
    st.main()
