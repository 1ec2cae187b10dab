# SPDX-License-Identifier: Apache-2.0
"""A fake OpenAI-compatible inference backend for the hosted gateway tests
(Python 3 standard library only), with a fault for every failure path:

    b = fakeoai.Backend(mode="normal")   # listening on 127.0.0.1, b.url
    b.mode = "slow"                      # change behaviour at any time
    b.requests                           # [(path, headers, body dict)] received
    b.close()

Modes: normal (answers at once), slow (one token every `delay` seconds),
5xx (500 with an OpenAI error), 400 and 429 (the backend refuses), hang
(reads the request, never answers), stall (streams two tokens, then sends
nothing more), error_event (an error event after the first token), huge (an event of 2 MiB,
an answer of 17 MiB),
drop (streams two tokens, then closes without [DONE]), malformed (a
non-JSON event after the first token), garbage (a 200 that is not JSON or
SSE). `probe` set to a status answers every GET (the health probes) with
it ("huge": a 200 of 2 MiB, "hang": no answer); `port` reopens a closed backend where it was;
`keepalive` speaks HTTP/1.1 with connections kept open (chunked streams),
`post_peers` the client address of each POST. `words` sets the answer's pieces (one chunk each). A stream sends `tokens` tokens, then a finish chunk, a usage chunk
and [DONE], as llama-server does (with its non-standard "timings").
"""
import http.server
import json
import socket
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    @property
    def protocol_version(self):
        # HTTP/1.0: the body ends when the connection closes; with
        # `keepalive`, HTTP/1.1 as llama-server speaks it (chunked streams,
        # the connection kept for the next request)
        return "HTTP/1.1" if self.server.backend.keepalive else "HTTP/1.0"

    def _w(self, data):
        if self.server.backend.keepalive:
            data = b"%x\r\n" % len(data) + data + b"\r\n"
        self.wfile.write(data)

    def log_message(self, *a):
        pass

    def _send(self, status, doc, ctype="application/json"):
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _end(self):
        """The end of a streamed answer: with `keepalive` the last chunk,
        and the connection closed anyway when `close_idle` is set (as a
        backend whose keep-alive timeout passed)."""
        b = self.server.backend
        if b.keepalive:
            self.wfile.write(b"0\r\n\r\n")
            if b.close_idle:
                self.close_connection = True
        self.wfile.flush()

    def do_GET(self):
        b = self.server.backend
        with b.lock:
            b.probes.append((self.path, dict(self.headers.items())))
        if b.probe == "hang":
            b.hung.wait(120)
            return
        if b.probe == "huge":
            self._send(200, b'{"data":[],"x":"' + b"a" * (2 << 20) + b'"}')
        elif b.probe is not None:
            self._send(b.probe, {"error": {"message": "probe refused", "type": "server_error"}})
        elif self.path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "no route", "type": "not_found_error"}})

    def do_POST(self):
        b = self.server.backend
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with b.lock:
            b.requests.append((self.path, dict(self.headers.items()), body))
            b.post_peers.append(self.client_address)
        mode = b.mode
        if mode == "hang":
            b.hung.wait(120)
            return
        if mode in ("400", "429"):
            self._send(int(mode), {"error": {"message": "context too long\n(4096 tokens)",
                                             "type": "invalid_request_error", "code": 400}})
            return
        if mode == "5xx":
            self._send(500, {"error": {"message": "out of memory", "type": "server_error",
                                       "code": 500}})
            return
        if mode == "huge" and not (body or {}).get("stream"):
            self._send(200, b'{"choices":[],"x":"' + b"a" * (17 << 20) + b'"}')
            return
        if mode == "garbage":
            self._send(200, b"<html>this is not an inference server</html>", "text/html")
            return
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            self._send(404, {"error": {"message": "no route " + self.path}})
            return
        chat = self.path == "/v1/chat/completions"
        words = list(b.words) if b.words else ["tok%d " % i for i in range(b.tokens)]
        if not (body or {}).get("stream"):
            if mode == "slow":
                time.sleep(b.delay * len(words))
            text = "".join(words)
            choice = ({"index": 0, "message": {"role": "assistant", "content": text},
                       "finish_reason": "stop"} if chat else
                      {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None})
            self._send(200, {"id": "cmpl-fake", "object": "chat.completion" if chat
                             else "text_completion", "created": 1760000000,
                             "model": "tiny.gguf", "choices": [choice],
                             "usage": {"prompt_tokens": 3, "completion_tokens": len(words),
                                       "total_tokens": 3 + len(words)},
                             "timings": {"predicted_ms": 1.0}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if b.keepalive:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(delta, finish=None):
            c = {"index": 0, "finish_reason": finish}
            if chat:
                c["delta"] = delta
            else:
                c["text"] = delta.get("content", "")
            return {"id": "c1", "object": obj, "created": 1760000000, "model": "tiny.gguf",
                    "choices": [c]}

        def event(doc, sep=b"\n\n"):
            data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
            self._w(b"data: " + data + sep)
            self.wfile.flush()
        try:
            self._w(b": ping\n\n")
            event(chunk({"role": "assistant", "content": ""}), b"\r\n\r\n")
            for i, w in enumerate(words):
                if mode == "slow":
                    time.sleep(b.delay)
                if mode == "huge" and i == 1:
                    event(b'{"x":"' + b"a" * (2 << 20) + b'"}')
                    return
                if mode == "error_event" and i == 1:
                    event({"error": {"message": "the GPU fell over", "type": "server_error"}})
                    return
                if mode == "stall" and i == 2:
                    b.hung.wait(120)
                    return
                if mode == "drop" and i == 2:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "malformed" and i == 1:
                    event(b"{not json")
                    return
                event(chunk({"content": w}))
            event(chunk({}, "stop"))
            if not b.usage:
                self._w(b"data: [DONE]\n\n")
                self._end()
                return
            usage = chunk({})
            usage["choices"] = []
            usage["usage"] = {"prompt_tokens": 3, "completion_tokens": len(words),
                              "total_tokens": 3 + len(words)}
            usage["timings"] = {"predicted_ms": 1.0}
            event(usage)
            self._w(b"data: [DONE]\n\n")
            self._end()
        except (BrokenPipeError, ConnectionResetError):
            with b.lock:
                b.disconnects += 1


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a kept connection its client closed or reset: expected, not news
        import sys
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Backend:
    def __init__(self, mode="normal", tokens=5, delay=0.05, usage=True, words=None, port=0,
                 keepalive=False):
        self.mode = mode
        self.words = words  # the answer's pieces (one per chunk) instead of tok0 tok1 ...
        self.usage = usage  # False: no usage anywhere, as some engines
        self.tokens = tokens
        self.delay = delay
        self.requests = []
        self.probes = []  # [(path, headers)] of the GETs received (health probes)
        self.probe = None  # a status to answer every GET with instead (500: failing probes)
        self.keepalive = keepalive  # HTTP/1.1, connections kept open (see _Handler)
        self.close_idle = False  # with keepalive: close each connection after its answer
        self.post_peers = []  # the client address of each POST (its connection)
        self.disconnects = 0
        self.lock = threading.Lock()
        self.hung = threading.Event()
        self.srv = _Server(("127.0.0.1", port), _Handler)
        self.srv.backend = self
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d/v1" % self.port
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def calls(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.hung.set()
        self.srv.shutdown()
        self.srv.server_close()


def dead_url():
    """The URL of a port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d/v1" % port


def read_sse(resp):
    """Reads an SSE answer (an http.client response) event by event; yields
    (seconds since the call, data string)."""
    t0 = time.monotonic()
    buf = b""
    while True:
        line = resp.readline()
        if not line:
            return
        if line in (b"\n", b"\r\n"):
            if buf:
                yield time.monotonic() - t0, buf.decode()
            buf = b""
        elif line.startswith(b"data: "):
            buf += line[6:].rstrip(b"\r\n")
