#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_hosted: the hosted gateway (issue 15) against calling its backend directly.

A benchmark program (not a test) for the performance targets of issue 15. It
starts a fixed-rate OpenAI-compatible backend (asyncio, in this process: each
token is sent at its deadline t0 + i/rate, so the rate does not drift with
scheduling) and `sluice serve` with a hosted model whose backend it is, then
measures in one run:

  latency  --runs streamed chat calls of --tokens tokens at --rate tokens/s,
           one at a time, alternately straight to the backend and through
           sluice: time to first token (the first content chunk) and time to
           last token ([DONE]), medians side by side;
  streams  --streams concurrent streamed calls through sluice (--stream-tokens
           at --stream-rate each): errors (a status other than 200, a stream
           without [DONE], a token missing) and the server's RSS sampled from
           /proc every 100 ms, growth = highest - before.

Targets (issue 15): TTFT through sluice within 1 ms (p50) of direct, time to
last token within 2%, 256 concurrent streams with no error and RSS growth
under 64 MiB. Prints one table with PASS or FAIL, the machine, the load
average at the start and the end. Python 3 standard library only. Exit
status: 0 when it measured (whatever the verdicts), 1 when it could not.

    python3 bench/bench_hosted.py [--sluice BIN] [--tokens N] [--rate R] [--runs N]
                                  [--streams N] [--stream-tokens N] [--stream-rate R] [--keep]
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

MIB = 1 << 20
FACTS = {"params": 4224, "training": {"tokens": 1e9}}


def say(msg):
    print(msg, flush=True)


def die(msg):
    print("bench_hosted: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# --------------------------------------------------------------------------
# the fixed-rate backend

class FixedRateBackend:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 that streams
    `tokens` tokens (the request's max_tokens) at `rate` per second, each at
    its own deadline, on an asyncio loop of its own thread."""

    def __init__(self, rate):
        self.rate = rate
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
            self.port = self.server.sockets[0].getsockname()[1]
            self.ready.set()
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _serve(self, reader, writer):
        # As llama-server and vLLM do: an HTTP/1.1 caller gets a chunked
        # answer on a connection kept open for its next request; HTTP/1.0
        # or "Connection: close" an answer that ends when it closes.
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def _one(self, reader, writer):
        """Answers one request; whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.split(b"\r\n")
        keep = lines[0].endswith(b"HTTP/1.1")
        n = 0
        for line in lines[1:]:
            low = line.lower()
            if low.startswith(b"content-length:"):
                n = int(line.split(b":")[1])
            if low.startswith(b"connection:") and b"close" in low:
                keep = False
        body = json.loads(await reader.readexactly(n)) if n else {}
        tokens = int(body.get("max_tokens") or 16)
        rate = float(body.get("x_rate") or self.rate)

        def put(data):
            if keep:
                writer.write(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                writer.write(data)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Cache-Control: no-cache\r\n" +
                     (b"Transfer-Encoding: chunked\r\n\r\n" if keep
                      else b"Connection: close\r\n\r\n"))
        t0 = time.monotonic()
        pre = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",' \
              b'"choices":[{"index":0,"delta":{"content":"'
        post = b'"},"finish_reason":null}]}\n\n'
        for i in range(tokens):
            wait = t0 + i / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            put(pre + b"t%d " % i + post)
            await writer.drain()
        put(b'data: {"id":"c1","object":"chat.completion.chunk","created":1,'
            b'"model":"m","choices":[{"index":0,"delta":{},"finish_reason":'
            b'"length"}]}\n\n')
        put(b'data: {"id":"c1","object":"chat.completion.chunk","created":1,'
            b'"model":"m","choices":[],"usage":{"prompt_tokens":3,'
            b'"completion_tokens":%d,"total_tokens":%d}}\n\n' % (tokens, tokens + 3))
        put(b"data: [DONE]\n\n")
        if keep:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


# --------------------------------------------------------------------------
# the client: one streamed call, timed

async def stream_call(port, path, model, token, tokens, rate=None):
    """(status, ttft s, ttlt s, content chunks, done) of one streamed chat call."""
    body = {"model": model, "stream": True, "max_tokens": tokens,
            "messages": [{"role": "user", "content": "go"}]}
    if rate:
        body["x_rate"] = rate  # unknown fields are passed on (docs/hosted.md)
    raw = json.dumps(body).encode()
    req = (b"POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n" % (path.encode(), len(raw)))
    if token:
        req += b"Authorization: Bearer %s\r\n" % token.encode()
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    ttft = None
    chunks = 0
    done = False
    status = 0
    try:
        writer.write(req + b"\r\n" + raw)
        await writer.drain()
        line = await reader.readline()
        status = int(line.split()[1])
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        while True:
            line = await reader.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue  # chunked framing lines, comments, blank lines
            data = line[6:].strip()
            if data == b"[DONE]":
                done = True
                break
            if b'"content":"t' in data:
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - t0
    finally:
        writer.close()
    return status, ttft, time.perf_counter() - t0, chunks, done


# --------------------------------------------------------------------------
# the server and its RSS

def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d CPUs (%s), Python %s" % (platform.platform(), os.cpu_count() or 0, cpu,
                                          platform.python_version())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", default=os.path.join(REPO, "build", "sluice"))
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=500.0, help="tokens per second")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--streams", type=int, default=256)
    ap.add_argument("--stream-tokens", type=int, default=200)
    ap.add_argument("--stream-rate", type=float, default=20.0)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not os.access(a.sluice, os.X_OK):
        die("no sluice binary at %s (build first or pass --sluice)" % a.sluice)
    os.environ["SLUICE_BIN"] = os.path.abspath(a.sluice)
    import server as sv  # noqa: E402  (reads SLUICE_BIN)
    import sluicetest as st  # noqa: E402

    say("bench_hosted: %s" % datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"))
    say("machine: %s" % machine())
    load0 = loadavg()
    say("load average at start: %s" % load0)
    tmp = tempfile.mkdtemp(prefix="sluice-bench-hosted-")
    backend = FixedRateBackend(a.rate)
    # every client is on 127.0.0.1: the per-address cap (64 by default,
    # docs/cli.md) is raised as an operator would for a load balancer
    srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp,
                    args=["--max-conns-per-ip", str(a.streams + 64)])
    rows = []
    try:
        srv.start()
        pub = srv.add_user("pub")
        srv.add_org("bench")
        srv.add_member("bench", "pub", "publisher")
        folder = os.path.join(tmp, "m")
        sv.make_model(folder, big=4096)
        facts = os.path.join(tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump(FACTS, f)
        r = st.run("push", "bench/m", folder, "--facts", facts, "--tier", "hosted",
                   env=srv.client_env(pub, os.path.join(tmp, "home")))
        if r.rc != 0:
            die("push failed: %r" % r)
        r = st.run("hosted", "backend", "add", "bench/m", backend.url, "--data", srv.data,
                   *(["--db", srv.db] if srv.db else []), *srv.store_args,
                   env=sv.clean_env(srv.store_env))
        if r.rc != 0:
            die("backend add failed: %r" % r)
        model, path = "bench/m", "/v1/chat/completions"

        async def latency():
            direct, via = [], []
            for i in range(a.runs + 1):  # the first pair warms both paths up
                d = await stream_call(backend.port, path, "m", None, a.tokens)
                s = await stream_call(srv.port, path, model, pub, a.tokens)
                for res, who in ((d, "direct"), (s, "sluice")):
                    if res[0] != 200 or res[3] != a.tokens or not res[4]:
                        die("%s stream failed: %r" % (who, res))
                if i:
                    direct.append(d)
                    via.append(s)
            return direct, via

        direct, via = asyncio.run(latency())
        ttft_d = statistics.median(x[1] for x in direct) * 1000
        ttft_s = statistics.median(x[1] for x in via) * 1000
        ttlt_d = statistics.median(x[2] for x in direct) * 1000
        ttlt_s = statistics.median(x[2] for x in via) * 1000
        rows.append(("TTFT p50 (ms), %d tokens at %g/s" % (a.tokens, a.rate),
                     "%.2f" % ttft_s, "%.2f" % ttft_d, "+%.2f ms" % (ttft_s - ttft_d),
                     "<= +1 ms", ttft_s - ttft_d <= 1.0))
        rows.append(("time to last token p50 (ms)", "%.1f" % ttlt_s, "%.1f" % ttlt_d,
                     "%+.2f%%" % ((ttlt_s / ttlt_d - 1) * 100), "<= +2%",
                     ttlt_s <= ttlt_d * 1.02))

        pid = srv.proc.pid
        base = rss_bytes(pid)
        peak = [base]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], rss_bytes(pid))
                except OSError:
                    return
                stop.wait(0.1)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def many():
            return await asyncio.gather(
                *(stream_call(srv.port, path, model, pub, a.stream_tokens, a.stream_rate)
                  for _ in range(a.streams)), return_exceptions=True)

        t0 = time.monotonic()
        res = asyncio.run(many())
        wall = time.monotonic() - t0
        stop.set()
        sampler.join()
        errors = [r for r in res if isinstance(r, BaseException) or r[0] != 200 or
                  r[3] != a.stream_tokens or not r[4]]
        growth = (peak[0] - base) / MIB
        rows.append(("%d concurrent streams: errors" % a.streams, str(len(errors)), "-",
                     "%.1f s wall" % wall, "0", not errors))
        rows.append(("server RSS growth (MiB)", "%.1f" % growth, "-",
                     "%.1f -> %.1f" % (base / MIB, peak[0] / MIB), "< 64", growth < 64))
        if errors:
            say("first errors: %r" % errors[:3])
    finally:
        if srv.running():
            srv.stop(timeout=30)
        srv.cleanup()
        backend.close()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    say("")
    say("| row | sluice | direct | difference | target | verdict |")
    say("|---|---|---|---|---|---|")
    for name, s, d, diff, target, ok in rows:
        say("| %s | %s | %s | %s | %s | %s |" % (name, s, d, diff, target,
                                                 "PASS" if ok else "FAIL"))
    say("")
    say("load average at start: %s, at end: %s" % (load0, loadavg()))
    say("command: python3 bench/bench_hosted.py %s" % " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
