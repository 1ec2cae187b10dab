# SPDX-License-Identifier: Apache-2.0
"""contrib/sluice.service and the Dockerfile (issue 13, docs/database.md
"Running under systemd", "Container image").

- the unit has the hardening the docs promise (DynamicUser, ProtectSystem=
  strict, StateDirectory, LoadCredential= for the three key files and the
  database and object-store secrets, no capabilities, ...); systemd-analyze
  verify finds nothing to say about it (when systemd-analyze is installed);
  and its ExecStart, with %S and %d filled in the way systemd fills them,
  really starts a server that reads its keys from the credentials folder;
- the Dockerfile builds from debian:12 and runs on debian:12-slim as a
  non-root user with a HEALTHCHECK; every package it installs exists in
  Debian 12 (apt-cache policy); the build stage has every build dependency
  of scripts/deps.sh, and the runtime stage every package whose library the
  binary links or loads.
"""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

SRC = os.environ.get("SLUICE_SOURCE") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = os.path.join(SRC, "contrib", "sluice.service")
DOCKERFILE = os.path.join(SRC, "Dockerfile")
KEYS = ("server.key", "fp.key", "log.secret")


def parse_unit(path):
    """{section: [(key, value), ...]} of a systemd unit file."""
    sections, cur = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                cur = sections.setdefault(line[1:-1], [])
                continue
            assert cur is not None and "=" in line, "bad line: %r" % raw
            k, v = line.split("=", 1)
            cur.append((k.strip(), v.strip()))
    return sections


def values(sec, key):
    return [v for k, v in sec if k == key]


def dockerfile_instructions(path):
    """[(INSTRUCTION, text)] with continuation lines joined."""
    out, buf = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def apt_packages(run_text):
    """The packages of every `apt-get install` in a RUN."""
    pkgs = []
    for part in re.split(r"&&|;", run_text):
        words = part.split()
        if len(words) > 2 and words[0] == "apt-get" and "install" in words:
            pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def package_of_library(soname):
    r = subprocess.run(["dpkg", "-S", "*/" + soname], capture_output=True, text=True)
    assert r.returncode == 0, "no Debian package ships %s: %s" % (soname, r.stderr)
    pkgs = {line.split(":", 1)[0] for line in r.stdout.splitlines()}
    # the native package, not a multilib one (lib32gcc-s1 also ships libgcc_s.so.1)
    native = sorted(p for p in pkgs if not p.startswith(("lib32", "libx32", "lib64")))
    return (native or sorted(pkgs))[0]


# Packages every Debian 12 image has, so a stage need not name them: the C
# library (Priority: required) and GCC's runtime, which apt itself needs
# (through libstdc++6) and which a sanitizer build links.
IN_EVERY_IMAGE = {"libc6", "libgcc-s1"}


class Unit(unittest.TestCase):

    def setUp(self):
        self.unit = parse_unit(UNIT)
        self.svc = self.unit["Service"]

    def test_hardening(self):
        need = {
            "DynamicUser": "yes", "ProtectSystem": "strict", "StateDirectory": "sluice",
            "NoNewPrivileges": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
            "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
            "ProtectControlGroups": "yes", "LockPersonality": "yes",
            "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
            "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
        }
        for k, v in need.items():
            self.assertEqual(values(self.svc, k), [v], k)
        self.assertIn("@system-service", values(self.svc, "SystemCallFilter"))
        self.assertEqual(set(values(self.svc, "RestrictAddressFamilies")[0].split()),
                         {"AF_UNIX", "AF_INET", "AF_INET6"})
        self.assertIn("multi-user.target", values(self.unit["Install"], "WantedBy"))
        # secrets come as credentials, never from Environment= values
        creds = dict(v.split(":", 1) for v in values(self.svc, "LoadCredential"))
        for k in KEYS + ("pgpass", "aws-credentials"):
            self.assertIn(k, creds)
            self.assertTrue(creds[k].startswith("/etc/sluice/"), creds[k])
        env = values(self.svc, "Environment")
        self.assertIn("PGPASSFILE=%d/pgpass", env)
        for e in env:
            self.assertNotRegex(e.upper(), r"PASSWORD|SECRET_ACCESS_KEY=")
        argv = shlex.split(values(self.svc, "ExecStart")[0])
        self.assertEqual(argv[:2], ["/usr/local/bin/sluice", "serve"])
        self.assertEqual(argv[argv.index("--keys") + 1], "%d")
        self.assertEqual(argv[argv.index("--data") + 1], "%S/sluice")

    def test_systemd_analyze_verify(self):
        tool = shutil.which("systemd-analyze")
        if not tool:
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sluice.service")
            with open(UNIT) as f:
                text = f.read().replace("/usr/local/bin/sluice", sv.BIN)
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([tool, "verify", path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", "systemd-analyze has remarks")
            # and it would speak up: a misspelt directive is reported
            with open(path, "w") as f:
                f.write(text.replace("ProtectSystem=", "ProtectSystm="))
            r = subprocess.run([tool, "verify", path], capture_output=True, text=True,
                               timeout=60)
            self.assertIn("ProtectSystm", r.stderr)

    def test_exec_start_runs_with_credentials(self):
        # what systemd does: %S is the state root, %d a read-only folder of
        # the credentials, the state directory exists and is private
        tmp = tempfile.mkdtemp(prefix="sluice-unit-")
        self.addCleanup(shutil.rmtree, tmp, True)
        state, creds = os.path.join(tmp, "state"), os.path.join(tmp, "creds")
        os.makedirs(os.path.join(state, "sluice"), mode=0o700)
        os.makedirs(creds)
        # the operator makes the key files once (docs/database.md)
        seed = os.path.join(tmp, "seed")
        os.makedirs(seed)
        r = st.run("admin", "org", "add", "first", "--data", seed, "--keys", creds, "--db",
                   "sqlite:" + os.path.join(seed, "x.db"), env=sv.clean_env(), timeout=60)
        self.assertEqual(r.rc, 0, repr(r))
        self.assertEqual(sorted(os.listdir(creds)), sorted(KEYS))
        for k in KEYS:
            os.chmod(os.path.join(creds, k), 0o400)
        os.chmod(creds, 0o500)
        self.addCleanup(os.chmod, creds, 0o700)
        port = sv.free_port()
        argv = []
        for a in shlex.split(values(self.svc, "ExecStart")[0]):
            a = a.replace("%S", state).replace("%d", creds)
            argv.append(a.replace("127.0.0.1:8080", "127.0.0.1:%d" % port))
        argv[0] = sv.BIN
        env = sv.clean_env()
        for e in values(self.svc, "Environment"):
            k, v = e.split("=", 1)
            env[k] = v.replace("%d", creds)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            deadline, status = time.monotonic() + 20, None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    status = sv.http_request(port, "GET", "/api/v1/health", timeout=2).status
                    break
                except OSError:
                    time.sleep(0.1)
            self.assertEqual(status, 200, proc.stderr.read().decode() if proc.poll() else "")
            # the keys were read from the credentials, none written to the state
            for k in KEYS:
                self.assertFalse(os.path.exists(os.path.join(state, "sluice", k)), k)
            r = sv.http_request(port, "GET", "/log/checkpoint")
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.body.decode().startswith("registry.example.org/log\n"), r.body)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err.decode())


class Dockerfile(unittest.TestCase):

    def setUp(self):
        self.ins = dockerfile_instructions(DOCKERFILE)
        froms = [i for i, (k, _) in enumerate(self.ins) if k == "FROM"]
        self.assertEqual(len(froms), 2, "one build stage and one runtime stage")
        self.build = self.ins[froms[0]:froms[1]]
        self.runtime = self.ins[froms[1]:]

    def test_structure(self):
        self.assertEqual(self.build[0][1].split(), ["debian:12", "AS", "build"])
        self.assertEqual(self.runtime[0][1], "debian:12-slim")
        kinds = [k for k, _ in self.runtime]
        users = [v for k, v in self.runtime if k == "USER"]
        self.assertEqual(len(users), 1)
        self.assertNotIn(users[0].split(":")[0], ("root", "0"))
        self.assertLess(kinds.index("USER"), kinds.index("ENTRYPOINT"))
        health = [v for k, v in self.runtime if k == "HEALTHCHECK"]
        self.assertEqual(len(health), 1)
        cmd = json.loads(health[0].split(" CMD ", 1)[1])  # exec form
        url = [a for a in cmd if a.endswith("/api/v1/health")]
        self.assertEqual(len(url), 1, cmd)
        entry = json.loads([v for k, v in self.runtime if k == "ENTRYPOINT"][0])
        self.assertEqual(entry[:2], ["/usr/local/bin/sluice", "serve"])
        # the check asks the port the server listens on
        port = entry[entry.index("--listen") + 1].rsplit(":", 1)[1]
        self.assertIn(":%s/" % port, url[0])
        self.assertIn("EXPOSE", kinds)
        self.assertIn(port, [v for k, v in self.runtime if k == "EXPOSE"][0].split())
        copies = [v for k, v in self.runtime if k == "COPY"]
        self.assertTrue(any(c.startswith("--from=build") for c in copies), copies)
        for stage in (self.build, self.runtime):
            for k, v in stage:
                if k == "RUN" and "apt-get install" in v:
                    self.assertIn("--no-install-recommends", v)
                    self.assertIn("rm -rf /var/lib/apt/lists/*", v)

    def packages(self, stage):
        return [p for k, v in stage if k == "RUN" for p in apt_packages(v)]

    def test_every_package_is_in_debian_12(self):
        with open("/etc/os-release") as f:
            self.assertIn('VERSION_ID="12"', f.read(), "apt-cache here must be Debian 12's")
        pkgs = self.packages(self.build) + self.packages(self.runtime)
        self.assertGreater(len(pkgs), 10)
        r = subprocess.run(["apt-cache", "policy"] + pkgs, capture_output=True, text=True,
                           timeout=120)
        # one block per package that apt knows: "NAME:\n  Installed: ...\n  Candidate: X"
        found = dict(re.findall(r"^(\S+?)(?::\w+)?:\n\s+Installed: .*\n\s+Candidate: (\S+)",
                                r.stdout, re.M))
        for p in pkgs:
            self.assertIn(p, found, "%s is not a Debian 12 package" % p)
            self.assertNotEqual(found[p], "(none)", "%s has no installable version" % p)

    def test_stages_have_what_sluice_needs(self):
        with open(os.path.join(SRC, "scripts", "deps.sh")) as f:
            text = f.read()
        build_deps = re.search(r'pkgs="([^"]*)"', text).group(1).split()
        self.assertLessEqual(set(build_deps), set(self.packages(self.build)))
        r = subprocess.run(["readelf", "-d", sv.BIN], capture_output=True, text=True, check=True)
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
        # and the two libraries loaded at run time (src/http/mhd.c, src/client/curl.c)
        needed += ["libmicrohttpd.so.12", "libcurl.so.4"]
        runtime = set(self.packages(self.runtime))
        for soname in needed:
            pkg = package_of_library(soname)
            if pkg in IN_EVERY_IMAGE:
                continue
            self.assertIn(pkg, runtime, "%s (from %s) missing in the runtime stage"
                          % (pkg, soname))


if __name__ == "__main__":
    st.main()
