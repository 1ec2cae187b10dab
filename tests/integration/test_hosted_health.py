# SPDX-License-Identifier: Apache-2.0
"""Active health checks of the hosted gateway's backends and the
connections kept to them (issue 15, docs/hosted.md, "Health checks" and
"Connections to backends") against a real `sluice serve` probing every
300 ms and fake backends (fakeoai.py): one that answers calls but fails its
probes, one that dies and comes back on the same port, all of them dead.
Calls go only to healthy backends; a dead one is marked down and comes back
within the probe interval; `sluice hosted backend list` and /metrics show
the state, and neither a backend's URL nor its key reaches /metrics.
"""
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeoai  # noqa: E402
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

PROBE_MS = 300
KEY = "probe-secret-" + os.urandom(4).hex()


class Health(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-health-")
        cls.backends = []
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        cls.srv.store_env = dict(cls.srv.store_env or {}, LAB_KEY=KEY,
                                 SLUICE_HOSTED_PROBE_MS=str(PROBE_MS),
                                 SLUICE_HOSTED_CONNECT_MS="1000",
                                 SLUICE_HOSTED_FIRST_BYTE_MS="2000")
        try:
            cls.srv.start()
            cls.pub = cls.srv.add_user("publisher")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "publisher", "publisher")
            facts = os.path.join(cls.tmp, "facts.json")
            with open(facts, "w") as f:
                json.dump({"params": 4224, "training": {"tokens": 1e9}}, f)
            env = cls.srv.client_env(cls.pub, os.path.join(cls.tmp, "home"))
            for m in ("h-probe", "h-dead", "h-all", "h-one", "h-unknown", "h-keep", "h-gone", "h-filter", "h-calls", "h-mute"):
                folder = os.path.join(cls.tmp, "model-" + m)
                sv.make_model(folder, big=2000)
                r = st.run("push", "acme/" + m, folder, "--facts", facts, "--tier", "hosted",
                           "--json", env=env, timeout=120)
                if r.rc != 0:
                    raise AssertionError("push %s: %r" % (m, r))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            for b in cls.backends:
                b.close()
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---------------------------------------------------------------- helpers

    def backend(self, **kw):
        b = fakeoai.Backend(**kw)
        self.backends.append(b)
        return b

    def hosted(self, *args, check=True):
        r = st.run("hosted", *args, "--data", self.srv.data,
                   *(["--db", self.srv.db] if self.srv.db else []), *self.srv.store_args,
                   env=sv.clean_env(self.srv.store_env))
        if check and r.rc != 0:
            raise AssertionError("sluice hosted %r: %r" % (args, r))
        return r

    def add(self, model, url, key=True):
        r = self.hosted("backend", "add", model, url, "--backend-model", "tiny",
                        *(["--api-key-env", "LAB_KEY"] if key else []), "--json")
        return json.loads(r.stdout)["id"]

    def states(self, model):
        return {b["id"]: b for b in
                json.loads(self.hosted("backend", "list", model, "--json").stdout)}

    def wait_state(self, model, bid, state, within):
        """Polls `backend list` until backend BID is in STATE; the seconds it
        took."""
        t0 = time.monotonic()
        while True:
            s = self.states(model)[bid]
            if s["state"] == state:
                return time.monotonic() - t0
            if time.monotonic() - t0 > within:
                self.fail("backend %d not %s within %.1f s: %r" % (bid, state, within, s))
            time.sleep(0.05)

    def chat(self, model, stream=False):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}],
                "stream": stream}
        return self.srv.request("POST", "/v1/chat/completions", json.dumps(body).encode(),
                                {"Content-Type": "application/json"}, token=self.pub)

    def metrics(self):
        r = self.srv.request("GET", "/metrics")
        self.assertEqual(r.status, 200, repr(r))
        return r.body.decode()

    def gauge(self, text, bid):
        for line in text.splitlines():
            if line.startswith('sluice_hosted_backend_up{backend="%d"} ' % bid):
                return int(line.split()[-1])
        return None

    # ---------------------------------------------------------------- tests

    def test_failing_probes_keep_calls_away_until_it_answers(self):
        a, b, c = self.backend(), self.backend(), self.backend()
        b.probe = 500  # calls would work: only the probes say it is sick
        ids = [self.add("acme/h-probe", x.url) for x in (a, b, c)]
        took = self.wait_state("acme/h-probe", ids[1], "down", 5)
        self.assertGreaterEqual(took, 0)
        for i in range(8):
            r = self.chat("acme/h-probe", stream=(i % 2 == 1))
            self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(b.calls(), 0, "a call went to the backend whose probes fail")
        self.assertEqual(a.calls() + c.calls(), 8)
        self.assertGreater(a.calls(), 0)  # round robin over the healthy ones
        self.assertGreater(c.calls(), 0)
        # the probes are GET /v1/models with the backend's key
        with a.lock:
            probes = list(a.probes)
        self.assertTrue(probes)
        self.assertEqual(probes[-1][0], "/v1/models")
        self.assertEqual(probes[-1][1].get("Authorization"), "Bearer " + KEY)
        # the operator sees the state and why; the text form too
        st_b = self.states("acme/h-probe")[ids[1]]
        self.assertEqual(st_b["state"], "down")
        self.assertEqual(st_b["last_error"], "probe: GET /v1/models answered HTTP 500")
        self.assertGreaterEqual(st_b["fails"], 2)
        now = time.time()
        self.assertLessEqual(st_b["since"], now + 1)
        self.assertGreater(st_b["since"], now - 60)
        self.assertGreater(st_b["last_probe"], now - 5)
        self.assertGreater(st_b["error_at"], now - 5)
        self.assertEqual(self.states("acme/h-probe")[ids[0]]["state"], "up")
        text = self.hosted("backend", "list", "acme/h-probe").stdout
        line = [x for x in text.splitlines() if x.startswith("%-4d" % ids[1])][0]
        self.assertIn("down (last error: probe: GET /v1/models answered HTTP 500)", line)
        # the gauge, labelled by backend id only: no URL, no key, no model name
        m = self.metrics()
        self.assertIn("# TYPE sluice_hosted_backend_up gauge", m)
        self.assertEqual(self.gauge(m, ids[0]), 1)
        self.assertEqual(self.gauge(m, ids[1]), 0)
        self.assertEqual(self.gauge(m, ids[2]), 1)
        for secret in ("127.0.0.1", KEY, "h-probe", "LAB_KEY"):
            self.assertNotIn(secret, m)
        # it answers its probes again: back within a round or two, and called
        b.probe = None
        self.wait_state("acme/h-probe", ids[1], "up", 3 * PROBE_MS / 1000 + 1)
        for i in range(6):
            self.assertEqual(self.chat("acme/h-probe").status, 200)
        self.assertGreater(b.calls(), 0)
        self.assertEqual(self.gauge(self.metrics(), ids[1]), 1)
        # a wrong key and an endless answer are failed probes too
        wrong, huge, hang = self.backend(), self.backend(), self.backend()
        wrong.probe, huge.probe, hang.probe = 401, "huge", "hang"
        ids += [self.add("acme/h-probe", x.url) for x in (wrong, huge, hang)]
        for i in ids[3:]:
            self.wait_state("acme/h-probe", i, "down", 5)
        states = self.states("acme/h-probe")
        self.assertEqual(states[ids[3]]["last_error"],
                         "probe: GET /v1/models answered HTTP 401 (is the key in $LAB_KEY right?)")
        self.assertEqual(states[ids[4]]["last_error"],
                         "probe: GET /v1/models answered more than 1048576 bytes")
        # the probe waits the interval at most (2 s when the interval is longer)
        self.assertEqual(states[ids[5]]["last_error"],
                         "probe: no answer within %d ms" % PROBE_MS)
        for i in range(4):
            self.assertEqual(self.chat("acme/h-probe").status, 200)
        self.assertEqual(wrong.calls() + huge.calls() + hang.calls(), 0)
        # a removed backend leaves the gauge
        for i in ids:
            self.hosted("backend", "remove", "acme/h-probe", str(i))
        deadline = time.monotonic() + 5
        while self.gauge(self.metrics(), ids[0]) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIsNone(self.gauge(self.metrics(), ids[0]))

    def test_a_dead_backend_is_skipped_and_comes_back(self):
        a, c = self.backend(), self.backend()
        ids = [self.add("acme/h-dead", x.url) for x in (a, c)]
        self.wait_state("acme/h-dead", ids[1], "up", 5)
        port = c.port
        c.close()
        self.wait_state("acme/h-dead", ids[1], "down", 5)
        self.assertIn("cannot connect", self.states("acme/h-dead")[ids[1]]["last_error"])
        n0 = a.calls()
        t0 = time.monotonic()
        for i in range(6):
            r = self.chat("acme/h-dead", stream=(i % 2 == 0))
            self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(a.calls() - n0, 6)
        self.assertLess(time.monotonic() - t0, 5)  # no connect attempt per call
        # back on the same port: up again within the probe interval (plus the
        # time of one probe and of our polling)
        c2 = self.backend(port=port)
        took = self.wait_state("acme/h-dead", ids[1], "up", 5)
        self.assertLess(took, PROBE_MS / 1000 + 0.7, "recovery took %.2f s" % took)
        for i in range(6):
            self.assertEqual(self.chat("acme/h-dead").status, 200)
        self.assertGreater(c2.calls(), 0)

    def test_a_call_failure_and_what_a_good_probe_undoes(self):
        # a backend that answers its probes but fails calls with 500: down
        # for 10 s whatever the probes say
        a, five = self.backend(), self.backend(mode="5xx")
        ids = [self.add("acme/h-calls", x.url) for x in (a, five)]
        for i in ids:
            self.wait_state("acme/h-calls", i, "up", 5)
        for i in range(8):  # over 2 s: several good probes of `five`
            self.assertEqual(self.chat("acme/h-calls").status, 200)
            time.sleep(0.25)
        self.assertEqual(five.calls(), 1, "a backend failing calls came back on a probe")
        s = self.states("acme/h-calls")[ids[1]]
        self.assertEqual(s["state"], "down")
        self.assertEqual(s["last_error"], "a call: answered HTTP 500")
        # one that accepts a call and never answers it is down at once (the
        # call fails over), and back at the next good probe: it may have been
        # busy, it answers again
        five.mode = "hang"
        self.hosted("backend", "remove", "acme/h-calls", str(ids[0]))
        b = self.backend()
        ids[0] = self.add("acme/h-calls", b.url)
        self.wait_state("acme/h-calls", ids[0], "up", 5)
        hang = self.backend(mode="hang")
        hid = self.add("acme/h-calls", hang.url)
        self.hosted("backend", "remove", "acme/h-calls", str(ids[1]))
        self.wait_state("acme/h-calls", hid, "up", 5)
        for _ in range(10):
            if hang.calls():
                break
            r = self.chat("acme/h-calls")
            self.assertEqual(r.status, 200, repr(r))  # failed over to `b`
        self.assertEqual(hang.calls(), 1)
        # (the list shows what the server published after its next round)
        deadline = time.monotonic() + 3
        while (self.states("acme/h-calls")[hid].get("last_error") is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
        s = self.states("acme/h-calls")[hid]
        self.assertEqual(s["last_error"], "a call: no answer within 2000 ms")
        self.wait_state("acme/h-calls", hid, "up", 3 * PROBE_MS / 1000 + 1)
        n = hang.calls()
        hang.mode = "normal"
        for _ in range(10):  # called again, and answers
            if hang.calls() > n:
                break
            self.assertEqual(self.chat("acme/h-calls").status, 200)
        self.assertGreater(hang.calls(), n)

    def test_every_backend_down_is_still_tried(self):
        # the only backend fails its probes but would answer: tried anyway
        b = self.backend()
        b.probe = 500
        bid = self.add("acme/h-one", b.url)
        self.wait_state("acme/h-one", bid, "down", 5)
        r = self.chat("acme/h-one")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(b.calls(), 1)

    def test_every_backend_down_answers_at_once(self):
        ids = [self.add("acme/h-all", fakeoai.dead_url()) for _ in range(2)]
        for i in ids:
            self.wait_state("acme/h-all", i, "down", 5)
        for stream in (False, True):
            t0 = time.monotonic()
            r = self.chat("acme/h-all", stream=stream)
            self.assertLess(time.monotonic() - t0, 3)
            self.assertEqual(r.status, 503, repr(r))
            doc = r.json()
            self.assertEqual(doc["error"]["code"], "backend_unavailable", doc)
            self.assertEqual(r.headers.get("X-Error-Code"), "backend_unavailable")
            self.assertEqual(r.headers.get("Retry-After"), "5")
            self.assertNotIn("127.0.0.1", r.body.decode())

    def test_connections_to_a_backend_are_reused(self):
        b = self.backend(keepalive=True)
        self.add("acme/h-keep", b.url)
        for i in range(6):
            r = self.chat("acme/h-keep", stream=(i % 2 == 0))
            self.assertEqual(r.status, 200, repr(r))
            if i % 2 == 0:
                self.assertTrue(r.body.endswith(b"data: [DONE]\n\n"), r.body)
            else:
                self.assertEqual(r.json()["choices"][0]["message"]["content"],
                                 "tok0 tok1 tok2 tok3 tok4 ")
        self.assertEqual(len(set(b.post_peers)), 1, "a new connection per call")
        # the backend drops its idle connections (its keep-alive timeout
        # passed): the next call opens another, with no error
        b.close_idle = True
        for stream in (True, False, True):
            r = self.chat("acme/h-keep", stream=stream)
            self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(len(set(b.post_peers)), 2)

    def test_a_client_gone_closes_a_kept_backend_connection(self):
        # a connection worth keeping must still be closed when the caller
        # leaves mid-stream: the backend would generate for nobody
        b = self.backend(keepalive=True, mode="slow", tokens=200, delay=0.05)
        self.add("acme/h-gone", b.url)
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        c.request("POST", "/v1/chat/completions", json.dumps(
            {"model": "acme/h-gone", "stream": True,
             "messages": [{"role": "user", "content": "hi"}]}).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer " + self.pub})
        it = fakeoai.read_sse(c.getresponse())
        next(it)
        next(it)
        c.sock.shutdown(2)
        c.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and b.disconnects == 0:
            time.sleep(0.1)
        self.assertEqual(b.disconnects, 1, "the backend kept generating for nobody")
        b.mode = "normal"
        self.assertEqual(self.chat("acme/h-gone", stream=True).status, 200)

    def test_a_filter_refusal_closes_a_kept_backend_connection(self):
        # the answer is cut by the model's output filter: the backend, still
        # generating, loses its connection instead of going on for nobody
        words = ["fine ", "SECRET ", "more "] + ["w%d " % i for i in range(200)]
        b = self.backend(keepalive=True, mode="slow", delay=0.05, words=words)
        self.add("acme/h-filter", b.url)
        r = self.srv.request("PUT", "/api/v1/models/acme/h-filter/hosted/filter", json.dumps(
            {"rules": [{"id": "secret", "where": "output", "kind": "literal",
                        "pattern": "SECRET", "action": "refuse"}]}).encode(),
            {"Content-Type": "application/json"}, token=self.pub)
        self.assertEqual(r.status, 200, repr(r))
        t0 = time.monotonic()
        r = self.chat("acme/h-filter", stream=True)
        self.assertEqual(r.status, 200, repr(r))
        self.assertIn(b"content_filter", r.body)
        self.assertLess(time.monotonic() - t0, 5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and b.disconnects == 0:
            time.sleep(0.1)
        self.assertEqual(b.disconnects, 1, "the backend kept generating for nobody")

    def test_a_backend_that_never_answers_is_not_waited_for(self):
        # it accepts connections and answers nothing, probes or calls: once
        # down it is not tried even with every other backend down too, so
        # the caller is told at once instead of after the first-byte timeout
        mute = self.backend(mode="hang")
        mute.probe = "hang"
        ids = [self.add("acme/h-mute", mute.url), self.add("acme/h-mute", fakeoai.dead_url())]
        for i in ids:
            self.wait_state("acme/h-mute", i, "down", 5)
        self.assertEqual(self.states("acme/h-mute")[ids[0]]["last_error"],
                         "probe: no answer within %d ms" % PROBE_MS)
        for stream in (False, True):
            t0 = time.monotonic()
            r = self.chat("acme/h-mute", stream=stream)
            took = time.monotonic() - t0
            self.assertEqual(r.status, 503, repr(r))
            self.assertEqual(r.json()["error"]["code"], "backend_unavailable")
            self.assertLess(took, 1.5, "waited for a backend that never answers")
        self.assertEqual(mute.calls(), 0)
        # alone, the same
        self.hosted("backend", "remove", "acme/h-mute", str(ids[1]))
        t0 = time.monotonic()
        r = self.chat("acme/h-mute")
        self.assertEqual(r.status, 503, repr(r))
        self.assertEqual(r.json()["error"]["message"],
                         "no backend of the model is answering now; retry later")
        self.assertEqual(r.headers.get("Retry-After"), "5")
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertEqual(mute.calls(), 0)
        # removed, and a new backend added: on SQLite it gets the same id,
        # and must not inherit the state of the one that had it
        self.hosted("backend", "remove", "acme/h-mute", str(ids[0]))
        fresh = self.backend()
        self.add("acme/h-mute", fresh.url)
        r = self.chat("acme/h-mute")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(fresh.calls(), 1)

    def test_state_is_unknown_when_no_server_probes(self):
        bid = self.add("acme/h-unknown", self.backend().url, key=False)
        self.wait_state("acme/h-unknown", bid, "up", 5)
        # a stale snapshot (its server gone) is not believed
        path = os.path.join(self.srv.data, "hosted-health.json")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)  # private, as the folder
        self.srv.stop()
        try:
            with open(path) as f:
                doc = json.load(f)
            self.assertNotIn("127.0.0.1", json.dumps(doc))  # ids and states, no URLs
            self.assertEqual(self.states("acme/h-unknown")[bid]["state"], "up")
            doc["written"] -= 3600
            with open(path, "w") as f:
                json.dump(doc, f)
            self.assertEqual(self.states("acme/h-unknown")[bid]["state"], "unknown")
            os.unlink(path)
            r = self.hosted("backend", "list", "acme/h-unknown")
            self.assertIn("state unknown: no running server has probed", r.stdout)
            self.assertEqual(self.states("acme/h-unknown")[bid]["state"], "unknown")
        finally:
            self.srv.start()


class Settings(unittest.TestCase):
    def test_a_setting_that_is_not_a_number_is_said_and_the_default_used(self):
        tmp = tempfile.mkdtemp(prefix="sluice-health-env-")
        srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp)
        srv.store_env = dict(srv.store_env or {}, SLUICE_HOSTED_PROBE_MS="5s",
                             SLUICE_HOSTED_PROBE_FAILS="0")
        try:
            srv.start()
            deadline = time.monotonic() + 5
            path = os.path.join(srv.data, "hosted-health.json")
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            with open(path) as f:
                self.assertEqual(json.load(f)["probe_ms"], 5000)  # the default
            lines = [json.loads(x) for x in srv.stderr().splitlines()
                     if '"setting_ignored"' in x]
            self.assertEqual(
                [x["message"] for x in lines],
                ["SLUICE_HOSTED_PROBE_MS wants a whole number from 50 to 3600000; using 5000",
                 "SLUICE_HOSTED_PROBE_FAILS wants a whole number from 1 to 100; using 2"])
        finally:
            if srv.running():
                srv.stop()
            srv.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
