# SPDX-License-Identifier: Apache-2.0
"""A real `sluice serve` for the node tests of the web UI (tests/web/unit).

Starts a server (tests/integration/server.py), has a publisher push a small
gated model with a README, a requester ask for access and the publisher
approve, then prints one JSON line {"port", "ada", "bob"} and serves until
its stdin closes. Python 3 standard library only.
"""
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="sluice-web-")
    srv = sv.Server(os.path.join(tmp, "data"))
    try:
        srv.start()
        ada = srv.add_user("ada")
        bob = srv.add_user("bob")
        srv.add_org("lab")
        srv.add_member("lab", "ada", "publisher")
        model = os.path.join(tmp, "model")
        sv.make_model(model, big=1 << 16)
        with open(os.path.join(model, "README.md"), "w") as f:
            f.write("# Card\n\nA *small* model.\n")

        def as_user(tok, home, *args):
            r = st.run(*args, env=srv.client_env(tok, os.path.join(tmp, "home-" + home)), timeout=300)
            if r.rc != 0:
                raise SystemExit(repr(r))

        facts = os.path.join(HERE, "..", "..", "examples", "llama-8b.facts.json")
        as_user(ada, "ada", "push", "lab/m", model, "--facts", facts, "--tier", "gated")
        as_user(bob, "bob", "access", "request", "lab/m", "--purpose", "Tests \u00e9\u00e8 \"quoted\" \\ back")
        as_user(ada, "ada", "access", "approve", "lab/m", "bob", "--expires", "2099-06-01")
        print(json.dumps({"port": srv.port, "ada": ada, "bob": bob}), flush=True)
        sys.stdin.read()
    finally:
        if srv.running():
            srv.stop()
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
