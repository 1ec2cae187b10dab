#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""slow_body: a stalled request body, and a download nobody reads, are
closed after the body idle timeout (issue 11, item 7; docs/RELIABILITY.md,
"Slow and idle clients").

Not in `make test` (it waits out the 30 s timeout): `make load` runs it. In a
temporary folder it starts the real server, pushes a small open model, then
sends `POST /api/models/acme/m/paths-info/main` with `Content-Length: 1000`
and 10 bytes of body, and stops sending. The server must close the
connection between 29 and 35 s later (30 s without a byte), and log the
request with status 499. At the same time a client asks for a 32 MiB file
and reads nothing: the server must give up on it too (logged 499 after 29
to 36 s, fewer bytes sent than the file holds). Meanwhile another
connection's health check must answer. Exit status 1 when a check fails.

    python3 tests/load/slow_body.py [--sluice BIN]
"""
import argparse
import json
import os
import select
import shutil
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

BODY_IDLE = 30.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", default=os.path.join(HERE, "..", "..", "build", "sluice"))
    args = ap.parse_args()
    os.environ["SLUICE_BIN"] = os.path.abspath(args.sluice)
    import server as sv  # noqa: E402 (after SLUICE_BIN is set)
    import sluicetest as st  # noqa: E402

    tmp = tempfile.mkdtemp(prefix="sluice-slowbody-")
    srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
    failures = []
    try:
        srv.start()
        pub = srv.add_user("pub")
        srv.add_org("acme")
        srv.add_member("acme", "pub", "publisher")
        folder = os.path.join(tmp, "model")
        os.makedirs(folder)
        sv.write_tiny_safetensors(os.path.join(folder, "model.safetensors"))
        big = 32 << 20
        sv.write_random(os.path.join(folder, "big.bin"), big)
        facts = os.path.join(tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump({"params": 4224, "training": {"tokens": 1e9}}, f)
        r = st.run("push", "acme/m", folder, "--facts", facts, "--tier", "open",
                   env=srv.client_env(pub, os.path.join(tmp, "home")), timeout=120)
        if r.rc != 0:
            raise SystemExit("push failed: %r" % r)

        # a download nobody reads (small receive buffer, so the server blocks)
        dl = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        dl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        dl.connect(("127.0.0.1", srv.port))
        dl.sendall(b"GET /acme/m/resolve/main/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
        s.sendall(b"POST /api/models/acme/m/paths-info/main HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                  b'{"paths": ')
        t0 = time.monotonic()
        p = select.poll()
        p.register(s, select.POLLIN)
        closed = None
        while time.monotonic() - t0 < BODY_IDLE + 10:
            if p.poll(500):
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    closed = time.monotonic() - t0
                    break
                failures.append("the server answered a stalled body: %r" % data[:200])
                break
            h = srv.request("GET", "/api/v1/health", timeout=5)
            if h.status != 200:
                failures.append("health: %r" % h)
        s.close()
        # now read what the stalled download left: it must end early
        got = 0
        dl.settimeout(10)
        try:
            while True:
                b = dl.recv(1 << 20)
                if not b:
                    break
                got += len(b)
        except OSError:
            pass
        dl.close()
        print("unread download: %d of %d bytes before the server gave up" % (got, big))
        if got >= big:
            failures.append("the unread download was sent in full (%d bytes)" % got)
        print("stalled body closed after %s s" % ("%.1f" % closed if closed else "never"))
        if closed is None or not (BODY_IDLE - 1 <= closed <= BODY_IDLE + 5):
            failures.append("the stalled body was closed after %r s, not about %g s"
                            % (closed, BODY_IDLE))
        time.sleep(0.5)
        lines = [json.loads(x) for x in srv.stderr().splitlines() if x.startswith("{")]
        posts = [x for x in lines if x.get("path", "").endswith("/paths-info/main")]
        if len(posts) != 1 or posts[0].get("status") != 499:
            failures.append("request log: %r" % posts)
        gets = [x for x in lines if x.get("path", "").endswith("/big.bin")]
        if (len(gets) != 1 or gets[0].get("status") != 499
                or not (BODY_IDLE - 1) * 1000 <= gets[0].get("ms", 0) <= (BODY_IDLE + 6) * 1000):
            failures.append("request log of the unread download: %r" % gets)
        srv.stop()
    finally:
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL", f)
    print("slow_body: %s" % ("FAIL" if failures else "PASS"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
