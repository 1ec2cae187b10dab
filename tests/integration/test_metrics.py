# SPDX-License-Identifier: Apache-2.0
"""GET /metrics (issue 13, operator basics) through the real server: the
Prometheus text format as a scraper parses it, and figures that follow what
the server did."""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? '
                    r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def parse(text):
    """{name: {labels-string: value}}; checks HELP/TYPE come first, once."""
    types, out, seen_sample = {}, {}, set()
    assert text.endswith("\n"), "the last line ends with a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, "TYPE twice for " + name
            assert name not in seen_sample, "TYPE after samples of " + name
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(3) or "", float(m.group(5))
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "no TYPE for " + name
        seen_sample.add(base)
        out.setdefault(name, {})
        assert labels not in out[name], "duplicate sample %s{%s}" % (name, labels)
        out[name][labels] = value
    return types, out


class Metrics(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-metrics-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def scrape(self):
        r = self.srv.request("GET", "/metrics")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.headers.get("Content-Type"), "text/plain; version=0.0.4")
        return parse(r.body.decode())

    def test_format_and_counts(self):
        # a route nothing else calls (the fixture polls /api/v1/health); a
        # request is counted when it ends, which may be just after its answer
        # reached the client, so the scrape is repeated until it shows them
        _, before = self.scrape()
        key = 'route="/api/v1/revocations",methods="GET",status="200"'
        n0 = before.get("sluice_http_requests_total", {}).get(key, 0)
        for _ in range(5):
            self.assertEqual(self.srv.request("GET", "/api/v1/revocations").status, 200)
        for _ in range(3):
            self.assertEqual(self.srv.request("GET", "/nowhere/at/all").status, 404)
        for _ in range(50):
            types, m = self.scrape()
            if m["sluice_http_requests_total"].get(key, 0) >= n0 + 5:
                break
            time.sleep(0.05)
        self.assertEqual(types["sluice_http_requests_total"], "counter")
        self.assertEqual(types["sluice_http_request_duration_seconds"], "histogram")
        self.assertEqual(m["sluice_http_requests_total"][key], n0 + 5)
        self.assertGreaterEqual(
            m["sluice_http_requests_total"]['route="none",methods="",status="404"'], 3)
        # the histogram is cumulative and its +Inf bucket is the count
        buckets = m["sluice_http_request_duration_seconds_bucket"]
        les = sorted(((float(k.split('"')[1]) if "Inf" not in k else float("inf")), v)
                     for k, v in buckets.items())
        counts = [v for _, v in les]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(les[-1][1], m["sluice_http_request_duration_seconds_count"][""])
        self.assertGreater(m["sluice_http_response_bytes_total"][""], 0)
        self.assertEqual(m["sluice_build_info"]['version="0.1.0"'], 1)
        self.assertGreaterEqual(m["sluice_http_requests_in_flight"][""], 1)  # this scrape
        self.assertEqual(m["sluice_db_errors_total"][""], 0)

    def test_log_size_and_grants_follow_the_server(self):
        cp = self.srv.request("GET", "/log/checkpoint").body.decode().split("\n")
        _, m = self.scrape()
        self.assertGreaterEqual(m["sluice_log_entries"][""], int(cp[1]))
        pub = self.srv.add_user("metpub")
        self.srv.add_org("met")
        self.srv.add_member("met", "metpub", "publisher")
        folder = os.path.join(self.tmp, "model")
        sv.make_model(folder, big=100000)
        facts = os.path.join(self.tmp, "facts.json")
        with open(facts, "w") as f:
            json.dump({"params": 4224, "training": {"tokens": 1e9}}, f)
        r = st.run("push", "met/m", folder, "--facts", facts, "--tier", "gated", "--json",
                   env=self.srv.client_env(pub, os.path.join(self.tmp, "home")), timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        _, m = self.scrape()
        pending0 = m["sluice_access_requests"]['state="pending"']
        who = self.srv.add_user("metreq")
        r = self.srv.request("POST", "/api/v1/models/met/m/access", b'{"purpose":"metrics"}',
                             {"Content-Type": "application/json"}, token=who)
        self.assertEqual(r.status, 201, repr(r))
        _, m = self.scrape()
        self.assertEqual(m["sluice_access_requests"]['state="pending"'], pending0 + 1)
        for s in ("approved", "denied", "revoked", "expired"):
            self.assertIn('state="%s"' % s, m["sluice_access_requests"])
        cp = self.srv.request("GET", "/log/checkpoint").body.decode().split("\n")
        self.assertGreaterEqual(m["sluice_log_entries"][""], int(cp[1]))

    def test_parser_rejects_what_a_scraper_would(self):
        for bad in ("x 1", "# TYPE x counter\nx{a=b} 1\n", "# TYPE x counter\nx 1\nx 2\n"):
            with self.assertRaises(AssertionError):
                parse(bad if bad.endswith("\n") else bad + "\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
