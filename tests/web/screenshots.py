# SPDX-License-Identifier: Apache-2.0
"""`make screenshots`: starts a real `sluice serve` on 127.0.0.1 with demo
data (an org, a model in every tier, requests in every state), then runs
tests/web/screenshots.mjs in Debian's chromium to write a PNG of every page
into docs/web/ (docs/web.md shows them). Uses the fixtures of the
integration tests (tests/integration/server.py, webui.py) and needs what
they need: node, npm, chromium (scripts/deps.sh test).

    python3 tests/web/screenshots.py [--out docs/web]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402
import webui  # noqa: E402

FACTS = {"params": 4224, "training": {"tokens": 1e9}}
LICENSE = """OpenLab Responsible Use License 1.0

1. You may use, study and fine-tune these weights for research and education.
2. You may not use them to build systems that identify people from images.
3. Keep this notice with every copy.
"""
CARD = """# %s

A small %s model published by **OpenLab** for the sluice demo.

| | |
| --- | --- |
| Parameters | 4,224 |
| Training tokens | 10^9 |

## Intended use

Evaluation and teaching. See the license for the rest.
"""
MODELS = [("tiny-open", "open"), ("summarizer", "click"), ("bio-gated", "gated"),
          ("agent-hosted", "hosted"), ("frontier-withheld", "withheld")]


def push(srv, tmp, token, model, tier, n):
    folder = os.path.join(tmp, "src-" + model.replace("/", "-"))
    sv.make_model(folder, big=256 << 10, rng=random.Random(n), rows=256)
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write(CARD % (model, tier))
    facts = os.path.join(tmp, "facts.json")
    with open(facts, "w") as f:
        json.dump(FACTS, f)
    args = ["push", model, folder, "--facts", facts, "--tier", tier, "--json"]
    if tier == "click":
        lic = os.path.join(tmp, "license.txt")
        with open(lic, "w") as f:
            f.write(LICENSE)
        args += ["--license", lic]
    r = st.run(*args, env=srv.client_env(token, os.path.join(tmp, "home")), timeout=120)
    if r.rc != 0:
        raise SystemExit("screenshots: push %s failed: %r" % (model, r))


def call(srv, method, path, body, token):
    r = srv.request(method, path, body, token=token)
    if r.status not in (200, 201):
        raise SystemExit("screenshots: %s %s answered %r" % (method, path, r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(st.SOURCE, "docs", "web"))
    ap.add_argument("--max-bytes", type=int, default=150_000)
    a = ap.parse_args()
    err = webui.install()
    if err:
        raise SystemExit("screenshots: " + err)
    tmp = tempfile.mkdtemp(prefix="sluice-shots-")
    srv = sv.Server(os.path.join(tmp, "data"), workdir=tmp, args=["--signup", "open"])
    try:
        srv.start()
        pub = srv.add_user("maria")
        srv.add_org("openlab")
        srv.add_member("openlab", "maria", "publisher")
        users = {u: srv.add_user(u) for u in ("amara", "kenji", "lucia")}
        for n, (name, tier) in enumerate(MODELS):
            push(srv, tmp, pub, "openlab/" + name, tier, n)
        g = "/api/v1/models/openlab/bio-gated"
        call(srv, "POST", g + "/access", {"purpose": "Benchmarking protein-structure "
                                          "summaries for a university course"}, users["amara"])
        call(srv, "POST", g + "/access", {"purpose": "Safety evaluation for the national "
                                          "AI safety institute"}, users["kenji"])
        call(srv, "POST", g + "/access/kenji/approve", {}, pub)
        call(srv, "POST", g + "/access", {"purpose": "research"}, users["lucia"])
        call(srv, "POST", g + "/access/lucia/deny",
             {"reason": "Please describe the research and your institution"}, pub)
        log_ready = "[data-testid=checkpoint-state] >> text=/verified|FAILED/"
        shots = [
            {"name": "home", "url": "/"},
            {"name": "signin", "url": "/signin"},
            {"name": "model-open", "url": "/openlab/tiny-open"},
            {"name": "model-click", "url": "/openlab/summarizer", "token": users["amara"],
             "who": "amara"},
            {"name": "model-gated-pending", "url": "/openlab/bio-gated",
             "token": users["amara"], "who": "amara"},
            {"name": "model-gated-approved", "url": "/openlab/bio-gated",
             "token": users["kenji"], "who": "kenji"},
            {"name": "model-gated-denied", "url": "/openlab/bio-gated",
             "token": users["lucia"], "who": "lucia"},
            {"name": "model-hosted", "url": "/openlab/agent-hosted"},
            {"name": "manage", "url": "/openlab/bio-gated/manage", "token": pub,
             "who": "maria"},
            {"name": "history", "url": "/openlab/bio-gated/history",
             "ready": "[data-testid=proof-state] >> text=/verified|FAILED/"},
            {"name": "log", "url": "/log", "ready": log_ready},
            {"name": "admin", "url": "/admin", "token": srv.admin_token, "who": "admin"},
            {"name": "model-dark", "url": "/openlab/bio-gated", "colorScheme": "dark"},
        ]
        spec = {"base": srv.url, "out": os.path.abspath(a.out), "max_bytes": a.max_bytes,
                "shots": shots}
        p = subprocess.run(["node", os.path.join(webui.NODE_DIR, "screenshots.mjs"),
                            json.dumps(spec)], cwd=webui.NODE_DIR, timeout=600,
                           env=sv.clean_env({"SLUICE_CHROMIUM": webui.CHROMIUM}))
        if p.returncode != 0:
            raise SystemExit("screenshots: the browser script failed (exit %d)" % p.returncode)
    finally:
        try:
            if srv.running():
                srv.stop()
        finally:
            srv.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
