# SPDX-License-Identifier: Apache-2.0
"""A throwaway S3 server for the tests: moto on a free 127.0.0.1 port, and a
small fault-injecting HTTP proxy in front of it (Python 3 standard library,
plus moto, which is preinstalled on the test machines: it cannot be installed
from a package registry here).

    m = s3fixture.Moto().start()     # fails with a clear sentence when moto is missing
    m.create_bucket("b")
    env = m.env()                    # AWS_* variables for sluice --store s3://b/...
    p = s3fixture.FaultProxy(m.url).start()   # 503s, drops, SigV4 checks by path marker
    m.stop(); p.stop()

moto checks no signatures (docs/storage.md says which servers the S3 back end
is written for); the tests exercise the S3 API, not moto's quirks.
"""
import hashlib
import hmac
import http.client
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

MISSING = ("the S3 tests need the moto S3 server (`moto_server` or `python3 -m moto.server`), "
           "which is not installed here: install moto with its server extra "
           "(pip install 'moto[server]') in the Python on PATH")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def moto_command():
    """The command that starts moto, or raises AssertionError(MISSING)."""
    exe = shutil.which("moto_server")
    if exe:
        return [exe]
    for py in (shutil.which("python3"), sys.executable):
        if py and subprocess.run([py, "-c", "import moto.server"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode == 0:
            return [py, "-m", "moto.server"]
    raise AssertionError(MISSING)


# moto refuses anonymous GETs of private objects but checks no signatures:
# the fixture's own requests carry a well-formed, unverified SigV4 header.
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64)


def _request(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Authorization": AUTH}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Moto:
    """One moto server process."""

    def __init__(self):
        self.proc = None
        self.port = None
        self.log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30):
        cmd = moto_command()
        last = ""
        for _ in range(3):
            self.port = free_port()
            self.log = tempfile.TemporaryFile()
            env = dict(os.environ)
            for k in list(env):
                if k.lower().endswith("_proxy"):
                    del env[k]
            self.proc = subprocess.Popen(cmd + ["-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    status, _ = _request(self.port, "GET", "/moto-api/", timeout=2)
                    if status < 500:
                        return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
            last = "moto did not come up on port %d" % self.port
        raise AssertionError(last)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def create_bucket(self, name):
        status, body = _request(self.port, "PUT", "/" + name)
        assert status == 200, "creating bucket %s: HTTP %d %r" % (name, status, body[:300])

    def put_object(self, bucket, key, data):
        status, body = _request(self.port, "PUT", "/%s/%s" % (bucket, key), body=data)
        assert status == 200, "PUT %s/%s: HTTP %d %r" % (bucket, key, status, body[:300])

    def get_object(self, bucket, key):
        return _request(self.port, "GET", "/%s/%s" % (bucket, key))

    def delete_object(self, bucket, key):
        status, body = _request(self.port, "DELETE", "/%s/%s" % (bucket, key))
        assert status in (200, 204), "DELETE %s/%s: HTTP %d %r" % (bucket, key, status, body)

    def start_upload(self, bucket, key):
        """Starts a multipart upload and leaves it unfinished (a killed writer)."""
        status, body = _request(self.port, "POST", "/%s/%s?uploads=" % (bucket, key))
        assert status == 200, body[:300]
        return body.decode().split("<UploadId>")[1].split("<")[0]

    def upload_keys(self, bucket):
        """The keys of the unfinished multipart uploads in BUCKET."""
        status, body = _request(self.port, "GET", "/%s?uploads=" % bucket)
        assert status == 200, body[:300]
        return sorted(u.split("<Key>")[1].split("</Key>")[0]
                      for u in body.decode().split("<Upload>")[1:])

    def list_keys(self, bucket, prefix=""):
        """Every key in BUCKET under PREFIX (ListObjectsV2, all pages)."""
        keys, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            status, body = _request(self.port, "GET",
                                    "/%s?%s" % (bucket, urllib.parse.urlencode(q)))
            assert status == 200, body[:300]
            text = body.decode("utf-8")
            keys += [k.split("</Key>")[0] for k in text.split("<Key>")[1:]]
            if "<IsTruncated>true</IsTruncated>" not in text:
                return keys
            token = text.split("<NextContinuationToken>")[1].split("<")[0]

    def env(self, endpoint=None):
        """The AWS CLI variables sluice reads for an s3:// store."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint or self.url}


def sigv4_problem(method, raw_path, headers, body, secret):
    """Checks an AWS Signature V4 request the way S3 does (canonical URI,
    canonical query, signed headers, payload hash); returns None when the
    signature is right, else what is wrong. HEADERS: a case-insensitive map."""
    auth = headers.get("Authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    fields = dict(kv.strip().split("=", 1) for kv in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[3] != "s3" or cred[4] != "aws4_request":
        return "bad credential scope %r" % fields["Credential"]
    date, region = cred[1], cred[2]
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(signed) or "host" not in signed:
        return "SignedHeaders %r" % signed
    for k in headers.keys():
        if k.lower().startswith("x-amz-") and k.lower() not in signed:
            return "header %s is sent but not signed" % k
    payload = headers.get("x-amz-content-sha256")
    if not payload:
        return "no x-amz-content-sha256 header"
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 is not the body's hash"
    path, _, query = raw_path.partition("?")
    curi = urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    cq = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                  for k, v in sorted(pairs))
    ch = "".join("%s:%s\n" % (h, " ".join((headers.get(h) or "").split())) for h in signed)
    creq = "\n".join([method, curi, cq, ch, ";".join(signed), payload])
    amzdate = headers.get("x-amz-date") or ""
    if not amzdate.startswith(date):
        return "x-amz-date %r does not match the scope date %r" % (amzdate, date)
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, "/".join(cred[1:]),
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields.get("Signature", "")):
        return "signature does not match; canonical request:\n" + creq
    return None


class FaultProxy:
    """An HTTP proxy in front of an S3 server that misbehaves the way real S3
    servers do, chosen by a marker in the request path (the store prefix):

    - "faultCODExN-" answers HTTP CODE (503 is SlowDown, 400 is
      RequestTimeout, which S3 sends only to uploads, others InternalError)
      the first N times each method and full path is seen; "faultCODE-"
      means N = 2;
    - "always503-" answers 503 SlowDown every time;
    - "dropN-" closes the connection without an answer the first N times;
    - "completeerr-" answers CompleteMultipartUpload with 200 and an <Error>
      document (as S3 may);
    - "sigv4-" checks each request's AWS Signature V4 against secret
      "testing" and answers 403 SignatureDoesNotMatch when it is wrong
      (moto checks none), and with "wantregion.REGION." also that the
      request was signed for REGION. `scopes` records the scopes seen.

    Setting `down` makes it answer 503 SlowDown to everything (an outage).
    Everything else is relayed. `seen` counts requests per method+path."""

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.seen = {}
        self.scopes = []
        self.sig_errors = []
        self.down = False
        self.lock = threading.Lock()
        self.server = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _error(self, status, code, message=""):
                doc = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                       "<Message>%s</Message></Error>" % (code, message)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(doc)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(doc)

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                key = self.command + " " + self.path
                with proxy.lock:
                    proxy.seen[key] = count = proxy.seen.get(key, 0) + 1
                m = re.search(r"fault(\d{3})(?:x(\d+))?-", self.path)
                if (m and count <= int(m.group(2) or 2)
                        and (m.group(1) != "400" or self.command in ("PUT", "POST"))):
                    code = int(m.group(1))
                    name = {503: "SlowDown", 400: "RequestTimeout"}.get(code, "InternalError")
                    return self._error(code, name, "injected")
                if proxy.down or "always503-" in self.path:
                    return self._error(503, "SlowDown", "Please reduce your request rate.")
                m = re.search(r"drop(\d+)-", self.path)
                if m and count <= int(m.group(1)):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if "sigv4-" in self.path:
                    auth = self.headers.get("Authorization") or ""
                    with proxy.lock:
                        proxy.scopes.append(auth.split("Credential=")[-1].split(",")[0])
                    why = sigv4_problem(self.command, self.path, self.headers, body, "testing")
                    m = re.search(r"wantregion\.([a-z0-9-]+)\.", self.path)
                    if not why and m and "/%s/s3/" % m.group(1) not in auth:
                        why = "signed for another region than %s: %s" % (m.group(1), auth)
                    if why:
                        with proxy.lock:
                            proxy.sig_errors.append(why)
                        sys.stderr.write("sigv4 check failed: %s %s: %s\n" % (
                            self.command, self.path, why))
                        return self._error(403, "SignatureDoesNotMatch", "checked by the proxy")
                if ("completeerr-" in self.path and self.command == "POST"
                        and "uploadId=" in self.path):
                    doc = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<Error><Code>"
                           b"InternalError</Code><Message>injected</Message></Error>")
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(doc)))
                    self.end_headers()
                    self.wfile.write(doc)
                    return
                c = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port,
                                               timeout=60)
                try:
                    hdrs = {k: v for k, v in self.headers.items()
                            if k.lower() not in ("connection", "expect", "content-length")}
                    hdrs["Content-Length"] = str(len(body))
                    c.request(self.command, self.path, body=body, headers=hdrs)
                    r = c.getresponse()
                    data = r.read()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("connection", "transfer-encoding", "content-length",
                                             "server", "date"):
                            self.send_header(k, v)
                    if self.command == "HEAD":
                        self.send_header("Content-Length", r.getheader("Content-Length") or "0")
                    else:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    c.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
