# SPDX-License-Identifier: Apache-2.0
"""`sluice admin migrate`: a single-box registry moves from SQLite into
PostgreSQL (issue 13, docs/database.md "Moving up").

Always on PostgreSQL (pgserver.py; fails with what to install when missing):
push, a grant and a log on SQLite; migrate (every table's rows counted on
both sides here too); a second run only verifies; serve on PostgreSQL: the
grantee pulls, `sluice log verify` passes with the state pinned before the
move, new pushes get fresh ids; bad input is a one-line error: URLs of the
wrong kind, missing flags, half a pair of store flags, and a target that
holds another registry's rows.
"""
import filecmp
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}


class Migrate(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-migrate-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pg = pgserver.cluster()
        self.data = os.path.join(self.tmp, "data")
        self.lite = "sqlite:" + os.path.join(self.data, "sluice.db")
        self.facts = os.path.join(self.tmp, "facts.json")
        with open(self.facts, "w") as f:
            json.dump(FACTS, f)

    def model(self, i):
        folder = os.path.join(self.tmp, "model-%d" % i)
        sv.make_model(folder, big=1 << 15, rng=random.Random(i))
        return folder

    def cli(self, srv, who, token, *args):
        home = os.path.join(self.tmp, "home-" + who)  # one home per person, across servers
        os.makedirs(home, exist_ok=True)
        return st.run(*args, env=srv.client_env(token, home), timeout=120)

    def ok(self, srv, who, token, *args):
        r = self.cli(srv, who, token, *args)
        self.assertEqual(r.rc, 0, repr(r))
        return r

    def migrate(self, *args, data=None):
        return st.run("admin", "migrate", "--data", data or self.data, *args,
                      env=sv.clean_env(), timeout=120)

    def lite_counts(self, path):
        con = sqlite3.connect(path)
        try:
            names = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                "'sqlite_%'")]
            return {n: con.execute('SELECT count(*) FROM "%s"' % n).fetchone()[0]
                    for n in names}
        finally:
            con.close()

    def small_registry(self, data, db):
        """A SQLite registry with a gated model, a grant, an open model and a
        tier change; returns (server, publisher token, grantee token)."""
        srv = sv.Server(data, workdir=self.tmp, db=db)
        self.addCleanup(srv.cleanup)
        srv.start()
        pub = srv.add_user("pubmia")
        bob = srv.add_user("bob")
        srv.add_org("acme")
        srv.add_member("acme", "pubmia", "publisher")
        self.ok(srv, "pub", pub, "push", "acme/gated", self.model(1), "--facts", self.facts,
                "--tier", "gated")
        self.ok(srv, "pub", pub, "push", "acme/open", self.model(2), "--facts", self.facts,
                "--tier", "open")
        r = srv.request("POST", "/api/v1/models/acme/open/tier", {"tier": "click"}, token=pub)
        self.assertEqual(r.status, 200, r)
        r = srv.request("POST", "/api/v1/models/acme/gated/access",
                        {"purpose": "research on moving"}, token=bob)
        self.assertEqual(r.status, 201, r)
        r = srv.request("POST", "/api/v1/models/acme/gated/access/bob/approve", {}, token=pub)
        self.assertEqual(r.status, 200, r)
        return srv, pub, bob

    def test_a_move_up_end_to_end(self):
        srv, pub, bob = self.small_registry(self.data, self.lite)
        # a client pins the log's state before the move
        self.ok(srv, "bob", bob, "log", "verify")
        srv.stop()
        url = pgserver.new_db("migrate")
        r = self.migrate("--from-db", self.lite, "--to-db", url, "--json")
        self.assertEqual(r.rc, 0, repr(r))
        doc = json.loads(r.stdout)
        counts = self.lite_counts(os.path.join(self.data, "sluice.db"))
        self.assertEqual({t["table"]: t["rows"] for t in doc["tables"]}, counts)
        self.assertTrue(all(t["copied"] for t in doc["tables"] if t["rows"]), doc)
        # counted here too, independently of the command
        for table, n in counts.items():
            self.assertEqual(int(self.pg.sql(url, 'SELECT count(*) FROM "%s"' % table).strip()),
                             n, table)
        self.assertGreater(counts["log_entries"], 5)
        # resumable: a second run copies nothing and verifies everything
        r = self.migrate("--from-db", self.lite, "--to-db", url, "--json")
        self.assertEqual(r.rc, 0, repr(r))
        again = json.loads(r.stdout)
        self.assertFalse(any(t["copied"] for t in again["tables"]), again)
        self.assertEqual(again["checkpoint"], doc["checkpoint"])

        # serve the same data folder (keys, packs) on PostgreSQL
        pgsrv = sv.Server(self.data, workdir=self.tmp, db=url)
        self.addCleanup(pgsrv.cleanup)
        pgsrv.start()
        dest = os.path.join(self.tmp, "pulled")
        self.ok(pgsrv, "bob", bob, "pull", "acme/gated", "--dest", dest)
        self.assertTrue(filecmp.cmp(os.path.join(dest, "big.bin"),
                                    os.path.join(self.tmp, "model-1", "big.bin"), shallow=False))
        # the pinned state from before the move still verifies
        r = self.ok(pgsrv, "bob", bob, "log", "verify")
        # the grant moved, and new rows get fresh ids (no clash with copied ones)
        self.ok(pgsrv, "pub", pub, "push", "acme/gated", self.model(3), "--facts", self.facts)
        tok = pgsrv.add_user("carol")
        self.assertTrue(tok.startswith("sl_"))
        r = pgsrv.request("POST", "/api/v1/models/acme/gated/access/bob/revoke",
                          {"reason": "moved"}, token=pub)
        self.assertEqual(r.status, 200, r)
        r = self.ok(pgsrv, "bob", bob, "log", "verify", "--full")
        # the source is still a working single-box registry (nothing moved out)
        self.assertEqual(self.lite_counts(os.path.join(self.data, "sluice.db")), counts)

    def test_b_bad_input(self):
        srv, pub, bob = self.small_registry(self.data, self.lite)
        srv.stop()
        url = pgserver.new_db("migrate-bad")
        cases = [
            (("--from-db", self.lite), "--from-db sqlite:PATH --to-db"),
            (("--from-db", self.lite, "--to-db", "sqlite:" + os.path.join(self.tmp, "x.db")),
             "--to-db must be postgresql"),
            (("--from-db", url, "--to-db", url), "--from-db must be sqlite"),
            (("--from-db", self.lite, "--to-db", url, "--from-store", "file:/x"),
             "both --from-store and --to-store"),
        ]
        for args, msg in cases:
            r = self.migrate(*args)
            self.assertEqual(r.rc, 2, repr(r))
            self.assertIn(msg, r.stderr)
            self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        # a target that already holds another registry: refused, table named,
        # nothing written
        other = os.path.join(self.tmp, "other")
        osrv = sv.Server(other, workdir=os.path.join(self.tmp), db=url)
        self.addCleanup(osrv.cleanup)
        osrv.start()
        osrv.add_user("someone")
        osrv.stop()
        before = self.pg.sql(url, "SELECT count(*) FROM users").strip()
        r = self.migrate("--from-db", self.lite, "--to-db", url)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("table users has", r.stderr)
        self.assertIn("neither empty nor a copy", r.stderr)
        self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        self.assertEqual(self.pg.sql(url, "SELECT count(*) FROM users").strip(), before)
        # a copy changed behind our back: same counts, other contents
        url2 = pgserver.new_db("migrate-tampered")
        r = self.migrate("--from-db", self.lite, "--to-db", url2)
        self.assertEqual(r.rc, 0, repr(r))
        self.pg.sql(url2, "UPDATE users SET email = 'mallory@example.org' WHERE name = 'bob'")
        r = self.migrate("--from-db", self.lite, "--to-db", url2)
        self.assertEqual(r.rc, 1, repr(r))
        self.assertIn("table users: same row count", r.stderr)
        self.assertIn("different contents", r.stderr)


if __name__ == "__main__":
    st.main()
