# SPDX-License-Identifier: Apache-2.0
"""The browser fixture of the web UI tests (docs/web.md, "Browser tests"):
Playwright and axe-core pinned in tests/web/package-lock.json, installed with
`npm ci` into BUILD/node-web (npmpin.py), driving Debian's chromium.

    b = webui.Browser()          # None error, or why not (missing node, chromium)
    b.start()                    # one chromium for the test class
    r = b.call("model", ctx="bob", base=srv.url, model="lab/m")
    b.stop()

Also here: a reverse proxy that can lie about the transparency log
(TamperProxy), a page on another site for cross-site requests (OtherSite,
http://evil.test:PORT/ in the browser) and expire_sessions(), which moves
every browser session's expiry into the past behind the server's back.
"""
import base64
import glob
import http.client
import http.server
import json
import os
import shutil
import subprocess
import threading
import time

import npmpin
import server as sv

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web")
NODE_DIR = os.environ.get("SLUICE_WEB_NODE_DIR") or os.path.join(sv.BUILD_DIR, "node-web")
CHROMIUM = os.environ.get("SLUICE_CHROMIUM") or "/usr/bin/chromium"


def install():
    """None when node, npm, the pinned packages and chromium are ready; else
    a sentence saying what to install."""
    if not shutil.which("node") or not shutil.which("npm"):
        return ("node and npm are needed for the browser tests: "
                "scripts/deps.sh test (apt-get install nodejs npm)")
    if not os.access(CHROMIUM, os.X_OK):
        return ("chromium is needed for the browser tests (%s is missing): "
                "scripts/deps.sh test (apt-get install chromium)" % CHROMIUM)
    err = npmpin.install(SRC, NODE_DIR, "playwright-core", ignore_scripts=True)
    if err:
        return err
    # the scripts import the packages: they run from beside node_modules
    for f in glob.glob(os.path.join(SRC, "*.mjs")):
        shutil.copyfile(f, os.path.join(NODE_DIR, os.path.basename(f)))
    return None


class FlowError(AssertionError):
    pass


class Browser:
    """tests/web/driver.mjs: one chromium; call() runs one flow of flows.mjs."""

    def __init__(self, artifacts=None):
        self.proc = None
        self.next_id = 0
        self.version = None
        self.artifacts = artifacts
        self.log_path = None

    def start(self, workdir):
        err = install()
        if err:
            raise FlowError(err)
        env = sv.clean_env({"SLUICE_CHROMIUM": CHROMIUM})
        if self.artifacts:
            env["SLUICE_WEB_ARTIFACTS"] = self.artifacts
        self.log_path = os.path.join(workdir, "driver.stderr")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["node", os.path.join(NODE_DIR, "driver.mjs")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, cwd=NODE_DIR, env=env)
        hello = self._read(120)
        if not hello.get("ready"):
            raise FlowError("the browser driver did not start: %r" % hello)
        self.version = hello.get("version")
        return self

    def _stderr(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def _read(self, timeout):
        box = {}

        def reader():
            box["line"] = self.proc.stdout.readline()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise FlowError("the browser driver did not answer within %d s; its stderr:\n%s" % (
                timeout, self._stderr()))
        line = box.get("line") or b""
        if not line:
            raise FlowError("the browser driver exited (rc %r); its stderr:\n%s" % (
                self.proc.poll(), self._stderr()))
        return json.loads(line)

    def call(self, flow, /, timeout=180, **args):
        """Runs FLOW with ARGS; returns (result, events). A flow that failed
        raises FlowError with the browser's message."""
        self.next_id += 1
        self.proc.stdin.write((json.dumps({"id": self.next_id, "flow": flow, "args": args})
                               + "\n").encode())
        self.proc.stdin.flush()
        ans = self._read(timeout)
        if not ans.get("ok"):
            raise FlowError("browser flow %s failed: %s\nevents: %s" % (
                flow, ans.get("error"), json.dumps(ans.get("events"), indent=1)[:3000]))
        return ans.get("result"), ans.get("events") or []

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.write(b'{"flow":"quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc = None
        self.log.close()


# -------------------------------------------------------------------- lying proxy

class BrowserCase:
    """What a browser test class shares (mixed into a unittest.TestCase
    whose setUpClass sets `srv`, `browser`, `install_error` and `counter`):
    each test fails at once when the install failed or the server died, gets
    its own browser contexts (closed after it) and fresh accounts."""

    def start_case(self):
        if self.install_error:
            self.fail(self.install_error)
        self.assertTrue(self.srv.running(), "the server is not running any more:\n%s"
                        % self.srv.stderr()[-3000:])
        self.ctxs = []
        self.addCleanup(self.close_contexts)

    def close_contexts(self):
        for c in self.ctxs:
            try:
                self.browser.call("close", ctx=c)
            except FlowError:
                pass

    def ctx(self, name):
        """A browser context for this test only (one person's browser)."""
        c = "%s:%s" % (self._testMethodName, name)
        self.ctxs.append(c)
        return c

    def user(self, prefix):
        type(self).counter += 1
        name = "%s%d" % (prefix, self.counter)
        return name, self.srv.add_user(name)


def flip_b64(s):
    """S (base64) with one bit of its first byte flipped: still valid base64."""
    raw = bytearray(base64.b64decode(s))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def tamper_root(note):
    """A signed checkpoint note with one bit of its root hash changed (the
    third line), the signature left as it was."""
    lines = note.split("\n")
    lines[2] = flip_b64(lines[2])
    return "\n".join(lines)


HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
       "proxy-connection", "upgrade", "te", "trailer"}


class TamperProxy:
    """A reverse proxy on 127.0.0.1 in front of the server on PORT. MODE:
    "honest" passes everything; "root" changes one bit of the root hash of
    every checkpoint it passes (/log/checkpoint and the model report's);
    "key" answers /log/checkpoint from the server on OTHER_PORT (a checkpoint
    signed by another key), "newkey" also its /log/key; "proof" changes one bit of every
    inclusion proof (the report's, /api/v1/log/proof/inclusion) and of every
    hash tile. `tampered` counts the answers it changed."""

    def __init__(self, port, other_port=None):
        self.target = port
        self.other = other_port
        self.mode = "honest"
        self.tampered = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                path = self.path.split("?")[0]
                port = proxy.target
                if (proxy.mode == "key" and path == "/log/checkpoint") or (
                        proxy.mode == "newkey" and path in ("/log/key", "/log/checkpoint")):
                    port = proxy.other
                # no gzip (the proxy rewrites bodies) and no 304s (a cached
                # honest answer must not hide a lie)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP and k.lower() not in (
                               "accept-encoding", "if-none-match", "if-modified-since")}
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    c.request(self.command, self.path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                    status, rheaders = r.status, r.getheaders()
                finally:
                    c.close()
                data = proxy.rewrite(path, data, status)
                self.send_response_only(status)
                for k, v in rheaders:
                    if k.lower() not in HOP and k.lower() not in ("etag", "last-modified"):
                        self.send_header(k, v)
                if self.command != "HEAD" and status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = relay

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def rewrite(self, path, data, status):
        if status != 200 or self.mode not in ("root", "proof"):
            return data
        before = data
        try:
            if self.mode == "root" and path == "/log/checkpoint":
                data = tamper_root(data.decode()).encode()
            elif path.endswith("/report"):
                doc = json.loads(data)
                if self.mode == "root" and doc.get("checkpoint"):
                    doc["checkpoint"] = tamper_root(doc["checkpoint"])
                if self.mode == "proof":
                    for e in doc.get("events") or []:
                        p = e.get("inclusion_proof")
                        if isinstance(p, list) and p:
                            p[0] = flip_b64(p[0])
                        elif isinstance(p, dict) and p.get("proof"):
                            p["proof"][0] = flip_b64(p["proof"][0])
                data = json.dumps(doc).encode()
            elif self.mode == "proof" and path == "/api/v1/log/proof/inclusion":
                doc = json.loads(data)
                if doc.get("proof"):
                    doc["proof"][0] = flip_b64(doc["proof"][0])
                data = json.dumps(doc).encode()
            elif self.mode == "proof" and path.startswith("/log/tile/") and \
                    not path.startswith("/log/tile/entries/") and data:
                data = bytes([data[0] ^ 1]) + data[1:]
        except (ValueError, KeyError, IndexError, UnicodeDecodeError):
            return before
        if data != before:
            self.tampered += 1
        return data

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class OtherSite:
    """Serves one HTML page (set `html`) at http://evil.test:PORT/ in the
    browser (the driver maps evil.test to 127.0.0.1): another site than the
    server's, for cross-site requests."""

    def __init__(self):
        site = self
        self.html = "<!doctype html><title>other</title>"

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://evil.test:%d/" % self.port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# -------------------------------------------------------------------- sessions

def _tables(c, pg):
    if pg:
        rows = c.execute("SELECT table_name FROM information_schema.tables "
                         "WHERE table_schema = current_schema()").fetchall()
    else:
        rows = c.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return [r[0] for r in rows]


def _columns(c, pg, table):
    if pg:
        rows = c.execute("SELECT column_name FROM information_schema.columns "
                         "WHERE table_schema = current_schema() AND table_name = ?",
                         (table,)).fetchall()
        return [r[0] for r in rows]
    return [r[1] for r in c.execute("PRAGMA table_info(%s)" % table).fetchall()]


def expire_sessions(data):
    """Moves the expiry of every browser session of DATA's database an hour
    into the past (the session table: the one with a csrf column; its expiry
    column: the one named expir*, an epoch number or an ISO time like the
    value it holds). Returns (table, column, rows changed)."""
    c = sv.db_connect(data)
    pg = sv.db_url(data) is not None
    try:
        for t in _tables(c, pg):
            cols = _columns(c, pg, t)
            if not any("csrf" in x for x in cols):
                continue
            exp = [x for x in cols if x.startswith("expir")]
            if not exp:
                continue
            col = exp[0]
            rows = c.execute("SELECT %s FROM %s" % (col, t)).fetchall()
            if not rows:
                return t, col, 0
            v = rows[0][0]
            past = int(time.time()) - 3600
            if not isinstance(v, int):
                past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(past))
            c.execute("UPDATE %s SET %s = ?" % (t, col), (past,))
            c.commit()
            return t, col, len(rows)
        raise AssertionError("no session table (one with a csrf column and an expir* column) "
                             "in the database of %s" % data)
    finally:
        c.close()
