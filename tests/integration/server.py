# SPDX-License-Identifier: Apache-2.0
"""A real `sluice serve` for the server tests (Python 3 standard library only).

    srv = server.Server(data_dir)      # nothing runs yet
    srv.start()                         # free port, waits for /api/v1/health
    alice = srv.add_user("alice")       # token
    srv.add_org("acme"); srv.add_member("acme", "alice", "publisher")
    status, headers, body = srv.request("GET", "/api/v1/models")
    srv.stop()                          # SIGTERM; asserts exit 0 within 10 s

The port: `--listen 127.0.0.1:0` is not reported back reliably, so a free
port is found by binding a socket to port 0 and closing it, and the server is
started on it; when the server does not come up (the port was taken in
between), another port is tried.

The database: SQLite in the data folder, or with SLUICE_TEST_DB=postgres a
PostgreSQL database of its own per data folder (pgserver.py) that `serve`
and `admin` get as `--db URL`; `copy_data()` and `db_connect()` copy and
change either kind, for the tampering tests.

The server's stdout and stderr go to files beside the data folder (a pipe
would fill up with the request log and block the server); `srv.stdout()`
reads what it printed over all its starts.

Also here: `client_env()` (SLUICE_URL/SLUICE_TOKEN for `sluice push`/`pull`,
with private XDG folders), random model folders, file hashing, and a
bandwidth-limited TCP relay (`ThrottledProxy`) for the slow paths of the
resume and drain tests.

Store back ends: with SLUICE_TEST_STORE=s3 in the environment every Server
keeps its packs in S3 instead of DATA/packs: one moto server per test process
(s3fixture.py; a missing moto fails the test with a sentence saying so), one
fresh bucket per registry (per database: servers sharing one share its
bucket), and `serve` and `admin` get `--store s3://BUCKET/packs` and the
AWS_* variables (clean_env() carries them, for commands started by hand;
backend_args() gives their --db and --store). Unset or "file", the default
folder store is used. CTest runs every test that starts a server both ways
(tests/CMakeLists.txt, integration_pgs3.*: PostgreSQL and S3 together).
"""
import hashlib
import http.client
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import pgserver
import s3fixture
import sluicetest as st

BIN = os.path.abspath(st.BIN)
BUILD_DIR = os.path.dirname(os.path.abspath(BIN))

# Error codes docs/api.md allows in {"error": CODE, ...}.
ERROR_CODES = {"bad_request", "unauthorized", "forbidden", "not_found", "conflict", "too_large",
               "range_not_satisfiable", "unprocessable", "insufficient_storage", "internal",
               "method_not_allowed", "unavailable",
               # the web UI's sessions (docs/web.md)
               "csrf", "session_expired", "too_many_requests"}


class ServerError(AssertionError):
    pass


# data folder (absolute) -> its PostgreSQL URL, when the tests run on PostgreSQL
_DBS = {}


def db_url(data):
    """The --db URL for the data folder DATA: None on SQLite (the default
    DATA/sluice.db), else its own PostgreSQL database, made on first use."""
    if not pgserver.enabled():
        return None
    key = os.path.abspath(data)
    if key not in _DBS:
        _DBS[key] = pgserver.new_db(os.path.basename(key))
    return _DBS[key]


def copy_data(src, dst):
    """Copies the (stopped) server's data folder SRC to DST, and on PostgreSQL
    its database to a new one that DST then uses."""
    import shutil
    shutil.copytree(src, dst)
    if pgserver.enabled():
        _DBS[os.path.abspath(dst)] = pgserver.cluster().clone_db(
            db_url(src), "sl_%d_copy_%d" % (os.getpid(), len(_DBS)))
    if STORE == "s3":  # the copy's rows name the same packs: the same bucket
        _STORES[db_url(dst) or os.path.abspath(dst)] = store_for(src)


def _pg_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return "'\\x%s'::bytea" % bytes(v).hex()
    return "'%s'" % str(v).replace("'", "''")


def _pg_sql(sql, params):
    parts = sql.split("?")
    assert len(parts) == len(params) + 1, sql
    text = parts[0]
    for v, rest in zip(params, parts[1:]):
        text += _pg_literal(v) + rest
    return text


class _PgCursor:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def __iter__(self):
        return iter(self.rows)


class _PgConn:
    """The part of sqlite3.Connection the tampering tests use, over psql
    (each statement commits at once; the server must be stopped)."""

    def __init__(self, url):
        self.url = url

    def execute(self, sql, params=()):
        out = pgserver.cluster().sql(self.url, _pg_sql(sql, params), fields="\x1f",
                                     records="\x1e")
        rows = []
        for rec in out.split("\x1e"):
            rec = rec.strip("\n")
            if not rec:
                continue
            rows.append(tuple(int(f) if f.lstrip("-").isdigit() else f
                              for f in rec.split("\x1f")))
        return _PgCursor(rows)

    def executemany(self, sql, seq):
        script = ";".join(_pg_sql(sql, p) for p in seq)
        if script:
            pgserver.cluster().sql(self.url, script)

    def commit(self):
        pass

    def close(self):
        pass

    def __enter__(self):  # `with db_connect(data) as c:`, as with sqlite3
        return self

    def __exit__(self, *exc):
        return False


def db_connect(data):
    """A connection to DATA's database for tests that change rows behind the
    server's back: sqlite3 on SQLite, a small psql adaptor on PostgreSQL."""
    url = db_url(data)
    if url is None:
        import sqlite3
        return sqlite3.connect(os.path.join(data, "sluice.db"))
    return _PgConn(url)


STORE = os.environ.get("SLUICE_TEST_STORE", "file") or "file"
if STORE not in ("file", "s3"):
    raise ServerError("SLUICE_TEST_STORE must be file or s3, not %r" % STORE)
_moto = None


def shared_moto():
    """The test process's moto server, started on first use (stopped at exit)."""
    global _moto
    if _moto is None:
        import atexit
        _moto = s3fixture.Moto().start()
        atexit.register(_moto.stop)
    return _moto


# database URL (or data folder) -> (store arguments, environment): the
# servers of one registry share one bucket, whatever their data folders
_STORES = {}


def store_for(data, db=None):
    """(extra arguments, extra environment) for a server on DATA in the
    configured store back end: one bucket per registry, that is per database
    (DB, else DATA's), so servers and admin commands sharing a database
    share its packs."""
    if STORE != "s3":
        return [], {}
    key = db or db_url(data) or os.path.abspath(data)
    if key not in _STORES:
        m = shared_moto()
        bucket = "sl-" + os.urandom(6).hex()
        m.create_bucket(bucket)
        _STORES[key] = (["--store", "s3://%s/packs" % bucket], m.env())
    args, env = _STORES[key]
    return list(args), dict(env)


def backend_args(data, db=None):
    """The --db and --store options of a sluice command (serve or admin,
    started by hand) on DATA in the configured back ends; empty for SQLite +
    folder. The environment comes from clean_env()."""
    url = db or db_url(data)
    return (["--db", url] if url else []) + store_for(data, url)[0]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def clean_env(extra=None):
    """The caller's environment without anything that would change sluice's
    behaviour (policy folder, proxies, a saved login), plus EXTRA."""
    env = dict(os.environ)
    for k in list(env):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy") or k in (
                "SLUICE_POLICY_DIR", "SLUICE_TODAY", "SLUICE_URL", "SLUICE_TOKEN", "SLUICE_DATA",
                "SLUICE_DB"):
            del env[k]
    env["NO_PROXY"] = "*"
    if STORE == "s3":
        # sluice commands started by hand on a server's data folder use the
        # store it recorded (DATA/store.url): they need the same credentials
        env.update(shared_moto().env())
    if extra:
        env.update(extra)
    return env


class Response:
    """status, headers (an http.client.HTTPMessage: case-insensitive get), body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __iter__(self):  # status, headers, body = srv.request(...)
        return iter((self.status, self.headers, self.body))

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "HTTP %d %s %r" % (self.status, dict(self.headers.items()), self.body[:600])


def http_request(port, method, path, body=None, headers=None, token=None, timeout=60):
    """One request on a fresh connection; never raises for an HTTP status."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        if body is not None and "Content-Length" not in h:
            h["Content-Length"] = str(len(body))
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders()
        if body:
            try:
                c.send(body)
            except OSError:  # the server answered early and closed: read that answer
                pass
        r = c.getresponse()
        data = r.read()
        return Response(r.status, r.headers, data)
    finally:
        c.close()


def read_raw_response(sock, timeout=10, head_only=False):
    """Parses one HTTP response from a raw socket (for requests written by
    hand); None when the server closed without answering."""
    sock.settimeout(timeout)
    f = sock.makefile("rb")
    try:
        r = http.client.HTTPResponse(sock, method="HEAD" if head_only else "GET")
        r.fp = f
        try:
            r.begin()
        except (http.client.RemoteDisconnected, ConnectionError, socket.timeout,
                http.client.BadStatusLine):
            return None
        try:
            data = r.read()
        except (ConnectionError, http.client.IncompleteRead, socket.timeout) as e:
            data = getattr(e, "partial", b"")
        return Response(r.status, r.headers, data)
    finally:
        f.close()


class Server:
    """One `sluice serve` process on DATA (may be restarted); DB: a --db URL
    to use instead of the test run's default for DATA."""

    def __init__(self, data, workdir=None, args=(), db=None, origin="sluice"):
        """ORIGIN: the log's origin passed to a start (None: pass none, the
        stored one applies; the suites use "sluice")."""
        self.data = data
        self.origin = origin
        self.workdir = workdir or os.path.dirname(os.path.abspath(data))
        self.args = list(args)
        self.proc = None
        self.port = None
        self.starts = 0
        self.out_path = os.path.join(self.workdir, "serve.stdout")
        self.err_path = os.path.join(self.workdir, "serve.stderr")
        self._admin_token = None
        self._termed = False
        self.db = db or db_url(data)  # several servers may share one database
        # the store back end (SLUICE_TEST_STORE): same for serve and admin
        self.store_args, self.store_env = store_for(data, self.db)

    # ---------------------------------------------------------------- process

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=20, attempts=5, port=None):
        """Starts the server and waits until it answers. PORT: try this port
        first (e.g. the one of a killed server, so its clients reconnect)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        last = ""
        wanted = port
        for i in range(attempts):
            port = wanted if wanted and i < 3 else free_port()
            out = open(self.out_path, "ab")
            err = open(self.err_path, "ab")
            err_mark = err.tell()
            try:
                proc = subprocess.Popen(
                    [BIN, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % port]
                    + (["--db", self.db] if self.db else [])
                    + (["--origin", self.origin] if self.origin else []) + self.store_args
                    + self.args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                    env=clean_env(self.store_env), cwd=self.workdir)
            finally:
                out.close()
                err.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                try:
                    r = http_request(port, "GET", "/api/v1/health", timeout=2)
                    if r.status == 200 and r.json().get("ok") is True:
                        self.proc, self.port = proc, port
                        self._termed = False
                        self.starts += 1
                        return self
                except (OSError, ValueError, http.client.HTTPException):
                    pass
                time.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            elif wanted and port == wanted:
                time.sleep(0.1)  # the port may still be held for a moment
            with open(self.err_path, "rb") as f:
                f.seek(err_mark)
                last = f.read().decode("utf-8", "replace")[-2000:]
        raise ServerError("sluice serve did not come up on %s (rc %r): %s" % (
            self.data, proc.returncode, last))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """Sends SIGTERM without waiting."""
        self.proc.send_signal(signal.SIGTERM)
        self._termed = True

    def stop(self, timeout=10):
        """SIGTERM; the server must exit 0 within TIMEOUT seconds."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None and not self._termed:
            self.proc.send_signal(signal.SIGTERM)
            self._termed = True
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise ServerError("sluice serve did not exit within %g s of SIGTERM" % timeout)
        if rc != 0:
            raise ServerError("sluice serve exited %d after SIGTERM; stderr tail:\n%s" % (
                rc, self.stderr()[-2000:]))
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cleanup(self):
        """For addCleanup: never leaves a process behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stdout(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # ---------------------------------------------------------------- admin

    @property
    def admin_token(self):
        if self._admin_token is None:
            with open(os.path.join(self.data, "admin.token")) as f:
                self._admin_token = f.read().strip()
        return self._admin_token

    def admin(self, *args, check=True, timeout=120):
        r = st.run("admin", *args, "--data", self.data, *(["--db", self.db] if self.db else []),
                   *self.store_args, timeout=timeout, env=clean_env(self.store_env))
        if check and r.rc != 0:
            raise ServerError("admin command failed: %r" % r)
        return r

    def add_user(self, name):
        r = self.admin("user", "add", name, "--json")
        doc = json.loads(r.stdout)
        assert doc["user"] == name, r
        return doc["token"]

    def add_org(self, org):
        self.admin("org", "add", org)

    def add_member(self, org, user, role="publisher"):
        self.admin("org", "member", "add", org, user, "--role", role)

    def fsck(self):
        """Runs `sluice admin fsck --json`; returns the Result."""
        return self.admin("fsck", "--json", check=False, timeout=300)

    # ---------------------------------------------------------------- HTTP

    def request(self, method, path, body=None, headers=None, token=None, timeout=60):
        return http_request(self.port, method, path, body, headers, token, timeout)

    def get_json(self, path, token=None):
        r = self.request("GET", path, token=token)
        return r.status, (r.json() if r.body else None)

    def connect(self, timeout=30):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    # ---------------------------------------------------------------- clients

    def client_env(self, token=None, home=None, url=None):
        """Environment for `sluice push`/`pull` against this server. HOME
        (a private folder) keeps the scan cache and login out of the user's."""
        extra = {"SLUICE_URL": url or self.url}
        if token:
            extra["SLUICE_TOKEN"] = token
        if home:
            extra.update(HOME=home, XDG_STATE_HOME=os.path.join(home, "state"),
                         XDG_CONFIG_HOME=os.path.join(home, "config"),
                         XDG_CACHE_HOME=os.path.join(home, "cache"))
        env = clean_env(extra)
        if not token:
            env.pop("SLUICE_TOKEN", None)
        return env


# -------------------------------------------------------------------- files

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def tree_digest(folder):
    """{relative path: sha256} of every regular file under FOLDER."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for n in files:
            p = os.path.join(root, n)
            out[os.path.relpath(p, folder)] = sha256_file(p)
    return out


def write_random(path, size, rng=None):
    """SIZE random bytes (fast, not cryptographic) into PATH."""
    rng = rng or random.Random()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(rng.randbytes(n))
            left -= n


def write_tiny_safetensors(path, rng=None, rows=64):
    """A small, valid safetensors file with real (random) data: F32 [ROWS, 64]
    and BF16 [128]. Returns {dtype: parameter count}."""
    rng = rng or random.Random()
    tensors = [("model.w", "F32", [rows, 64]), ("model.b", "BF16", [128])]
    hdr, n = st.st_header(tensors, {"format": "pt"})
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + rng.randbytes(n))
    return {"F32": rows * 64, "BF16": 128}


def make_model(folder, big=4 << 20, rng=None, safetensors=True, rows=64):
    """A model folder: a random big.bin, config.json, sub/dir/extra.txt, a
    tiny real safetensors file. Returns {dtype: count} of the safetensors
    file (or {})."""
    rng = rng or random.Random()
    os.makedirs(os.path.join(folder, "sub", "dir"), exist_ok=True)
    write_random(os.path.join(folder, "big.bin"), big, rng)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "hidden_size": 64, "seed": rng.random()}, f)
    with open(os.path.join(folder, "sub", "dir", "extra.txt"), "wb") as f:
        f.write(rng.randbytes(5000))
    if safetensors:
        return write_tiny_safetensors(os.path.join(folder, "model.safetensors"), rng, rows)
    return {}


# -------------------------------------------------------------------- chunk frames

def frame(data, digest=None, length=None):
    """One chunk-upload frame: sha256 (32 bytes) | u32 LE length | bytes."""
    d = digest if digest is not None else hashlib.sha256(data).digest()
    return d + struct.pack("<I", len(data) if length is None else length) + data


# -------------------------------------------------------------------- slow path

class ThrottledProxy:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:target that passes at most RATE
    bytes/s downstream (server to client), shared by all connections.
    `downstream` counts the bytes relayed to clients."""

    def __init__(self, target_port, rate):
        self.target_port = target_port
        self.rate = float(rate)
        self.lock = threading.Lock()
        self.downstream = 0
        self._next = time.monotonic()
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _take(self, n):
        with self.lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
            self.downstream += n
        delay = start - now
        if delay > 0:
            time.sleep(delay)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                c.close()
                continue
            self.conns += [c, s]
            threading.Thread(target=self._pump, args=(c, s), daemon=True).start()

    def _pump(self, c, s):
        socks = [c, s]
        try:
            while not self.closed:
                r, _, _ = select.select(socks, [], [], 0.5)
                for x in r:
                    if x is s:
                        b = s.recv(64 << 10)
                        if not b:
                            return
                        self._take(len(b))
                        c.sendall(b)
                    else:
                        b = c.recv(64 << 10)
                        if not b:
                            return
                        s.sendall(b)
        except OSError:
            return
        finally:
            for x in socks:
                try:
                    x.close()
                except OSError:
                    pass

    def close(self):
        self.closed = True
        try:
            self.ls.close()
        except OSError:
            pass
        for x in self.conns:
            try:
                x.close()
            except OSError:
                pass
