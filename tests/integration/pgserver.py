# SPDX-License-Identifier: Apache-2.0
"""A throwaway PostgreSQL for the integration tests (standard library only).

With SLUICE_TEST_DB=postgres, server.Server runs `sluice serve` and
`sluice admin` with `--db URL` on a database of its own in one PostgreSQL
cluster per test process:

    pg = pgserver.cluster()            # initdb + start on first use
    url = pg.create_db("name")         # a new, empty database; its sluice URL
    pg.sql(url, "SELECT 1")            # psql -c, returns stdout
    pg.clone_db(url, "copy")           # CREATE DATABASE ... TEMPLATE

The cluster lives in a temporary folder, listens only on a Unix socket there
(so `-A trust` is safe; a free port number names the socket), runs without fsync (the documented non-durable mode),
and is stopped and removed when the process exits. PostgreSQL refuses to run
as root, so as root it runs as the `postgres` user. When PostgreSQL is not
installed the tests fail with a sentence saying what to install: they never
skip silently.
"""
import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading

MISSING = ("PostgreSQL 15 is not installed: run `scripts/deps.sh test` as root "
           "(Debian packages postgresql and postgresql-client)")


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def enabled():
    """True when the tests should run against PostgreSQL."""
    return os.environ.get("SLUICE_TEST_DB", "").lower() in ("postgres", "postgresql", "pg")


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise AssertionError(MISSING)
    return os.path.dirname(found[-1])


class Cluster:
    def __init__(self):
        self.bin = _bindir()
        self.psql = shutil.which("psql") or os.path.join(self.bin, "psql")
        if not os.path.exists(self.psql):
            raise AssertionError(MISSING)
        self.dir = tempfile.mkdtemp(prefix="sluice-pg-")
        self.sock = os.path.join(self.dir, "sock")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()  # names the socket file; no TCP listener
        os.mkdir(self.sock)
        self.user = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise AssertionError(MISSING + " (no `postgres` user to run it as)")
            self.user = "postgres"
            os.chmod(self.dir, 0o755)
            for p in (self.dir, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust", "-U",
                   "postgres", "-N", "--no-instructions", "-E", "UTF8", "--locale=C.UTF-8"])
        self.opts = ("-p %d -k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                     "-c full_page_writes=off -c max_connections=200" % (self.port, self.sock))
        self.resume()
        self.stopped = False
        self.lock = threading.Lock()
        atexit.register(self.stop)
        self._watchdog()

    def _watchdog(self):
        """Stops the cluster and removes its folder if this process dies
        without running atexit (killed by a timeout): a separate session
        that outlives it."""
        ctl = os.path.join(self.bin, "pg_ctl")
        stop = "%s -D '%s' -m immediate stop" % (ctl, self.data)
        if self.user:
            stop = "runuser -u %s -- %s" % (self.user, stop)
        script = ("while kill -0 %d 2>/dev/null; do sleep 1; done; "
                  "[ -d '%s' ] && { %s >/dev/null 2>&1; rm -rf '%s'; }; exit 0"
                  % (os.getpid(), self.data, stop, self.dir))
        subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)

    def _run(self, argv, check=True):
        if self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.dir)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (rc %d): %s" % (
                " ".join(argv), p.returncode, p.stderr.decode("utf-8", "replace")[-2000:]))
        return p

    def url(self, dbname):
        return "postgresql:///%s?host=%s&port=%d&user=postgres" % (dbname, self.sock, self.port)

    def sql(self, url, command, fields="|", records="\n"):
        """Runs COMMAND with psql on URL; returns its unaligned stdout (FIELDS
        and RECORDS separate fields and rows)."""
        p = subprocess.run([self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-F", fields, "-R", records, "-d",
                            url.replace("postgresql:", "postgres:", 1), "-c", command],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise AssertionError("psql %r: %s" % (command, p.stderr.decode("utf-8", "replace")))
        return p.stdout.decode("utf-8")

    def create_db(self, name):
        """A new database with a collation like many real ones (ICU en-US:
        "_" < "a" < "B"), not the byte order of the test cluster's C locale,
        so ordering that depends on it shows up in the tests."""
        with self.lock:
            self.sql(self.url("postgres"), 'CREATE DATABASE "%s" TEMPLATE template0 '
                     "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'" % name)
        return self.url(name)

    def clone_db(self, url, name):
        """A copy of URL's database (nobody may be connected to it)."""
        src = url.split("///", 1)[1].split("?", 1)[0]
        with self.lock:
            self.sql(self.url("postgres"), 'CREATE DATABASE "%s" TEMPLATE "%s"' % (name, src))
        return self.url(name)

    def pause(self):
        """Stops PostgreSQL (fast shutdown: connections are cut) but keeps
        its files, for outage tests; resume() starts it again."""
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-m", "fast",
                   "stop"])

    def resume(self):
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-l",
                   os.path.join(self.dir, "log"), "-o", self.opts, "start"])

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "stop"],
                  check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


_cluster = None
_counter = 0


def cluster():
    """This process's cluster, started on first use."""
    global _cluster
    if _cluster is None:
        _cluster = Cluster()
    return _cluster


def new_db(hint="db"):
    """A fresh database in this process's cluster; returns its URL."""
    global _counter
    _counter += 1
    safe = "".join(c if c.isalnum() else "_" for c in hint.lower())[-30:]
    return cluster().create_db("sl_%d_%d_%s" % (os.getpid(), _counter, safe))
