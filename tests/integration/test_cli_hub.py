# SPDX-License-Identifier: Apache-2.0
"""The CLI a hub user expects (issue 12, item 5), through the real binary
and a real server: `models`, `show`, `whoami`, `logout`, `login` reading the
token from standard input or a no-echo prompt, `completion bash|zsh|fish`,
the generated man page and `make install`'s layout, and the fixes: the
report's license expiry, `serve --help` and `admin --help`, the tour's
random-weights model.
"""
import datetime
import json
import os
import pty
import random
import select
import shutil
import struct
import subprocess
import tempfile
import time
import unittest

import server as sv
import sluicetest as st

FACTS = {"params": 4224, "training": {"tokens": 1e9}}
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class HubCli(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hubcli-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.bob = cls.srv.add_user("bob")
            cls.srv.add_org("acme")
            cls.srv.add_org("other")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.srv.add_member("other", "alice", "member")
            cls.facts = os.path.join(cls.tmp, "facts.json")
            with open(cls.facts, "w") as f:
                json.dump(FACTS, f)
            cls.nofacts = os.path.join(cls.tmp, "none.json")
            with open(cls.nofacts, "w") as f:
                f.write("{}")
            env = cls.env_of(cls.alice, "alice")
            cls.commits = {}
            for name, seed, args in (("vision", 1, []), ("speech", 2, []),
                                     ("secret", 3, ["--tier", "gated"])):
                folder = os.path.join(cls.tmp, name)
                sv.make_model(folder, big=30000, rng=random.Random(seed))
                r = st.run("push", "acme/" + name, folder, "--facts", cls.facts, "--json", *args,
                           env=env, timeout=120)
                if r.rc != 0:
                    raise AssertionError("push failed: %r" % r)
                cls.commits[name] = [json.loads(r.stdout)["commit"]]
            # vision v2: withheld, stored off main
            folder = os.path.join(cls.tmp, "vision2")
            sv.make_model(folder, big=30000, rng=random.Random(4))
            r = st.run("push", "acme/vision", folder, "--facts", cls.nofacts, "--json", env=env,
                       timeout=120)
            if r.rc != 0:
                raise AssertionError("push failed: %r" % r)
            cls.commits["vision"].append(json.loads(r.stdout)["commit"])
        except BaseException:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.srv.running():
                cls.srv.stop()
        finally:
            cls.srv.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def env_of(cls, token, home):
        return cls.srv.client_env(token, os.path.join(cls.tmp, "home-" + home))

    def run_ok(self, *args, env=None, input=None):
        r = self.sluice(*args, env=env, input=input)
        self.assertEqual(r.returncode, 0, self.show_run(r))
        return r

    def sluice(self, *args, env=None, input=None, timeout=120):
        return subprocess.run([st.BIN] + [str(a) for a in args], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              timeout=timeout, text=True)

    @staticmethod
    def show_run(r):
        return "%s -> %d\nstdout: %s\nstderr: %s" % (r.args, r.returncode, r.stdout[-3000:],
                                                     r.stderr[-3000:])

    # ------------------------------------------------------------ models

    def test_models(self):
        env = self.env_of(None, "anon")
        out = self.run_ok("models", env=env).stdout
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("MODEL"), out)
        rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
        self.assertEqual(set(rows), {"acme/vision", "acme/speech", "acme/secret"})
        # vision's main stayed at v1 (open): its withheld v2 is off main
        self.assertEqual(rows["acme/vision"][1:3], ["open", "v1"])
        self.assertEqual(rows["acme/secret"][1], "gated")
        out = self.run_ok("models", "--search", "SPEE", env=env).stdout
        self.assertEqual([ln.split()[0] for ln in out.splitlines()[1:]], ["acme/speech"])
        out = self.run_ok("models", "--org", "other", env=env).stdout
        self.assertIn("No models", out)
        doc = json.loads(self.run_ok("models", "--org", "acme", "--json", env=env).stdout)
        self.assertEqual(sorted(m["id"] for m in doc),
                         ["acme/secret", "acme/speech", "acme/vision"])
        for bad in (["--search", "x" * 201], ["--org", "no/slash"], ["stray"], ["--bogus"]):
            r = self.sluice("models", *bad, env=env)
            self.assertEqual(r.returncode, 2, self.show_run(r))
        r = self.sluice("models", env=sv.clean_env({"HOME": os.path.join(self.tmp, "nohome")}))
        self.assertEqual(r.returncode, 2, self.show_run(r))
        self.assertIn("no server configured", r.stderr)

    # ------------------------------------------------------------ show

    def test_show(self):
        env = self.env_of(None, "anon")
        out = self.run_ok("show", "acme/vision", env=env).stdout
        self.assertIn("acme/vision", out)
        v1, v2 = self.commits["vision"]
        lines = out.splitlines()
        line1 = [ln for ln in lines if ln.strip().startswith("v1 ")][0]
        line2 = [ln for ln in lines if ln.strip().startswith("v2 ")][0]
        self.assertIn(v1[:12], line1)
        self.assertIn("<- main", line1)
        self.assertIn("withheld", line2)
        self.assertNotIn("<- main", line2)
        self.assertLess(lines.index(line2), lines.index(line1), "newest first")
        self.assertIn("rules fired   baseline.small-model", out)
        self.assertIn("open duties", out)
        self.assertIn("sluice pull acme/vision@", out)
        # the withheld version: not downloadable, and what is
        out = self.run_ok("show", "acme/vision@v2", env=env).stdout
        self.assertIn(v2, out)
        self.assertIn("not for you", out)
        self.assertIn("newest version you can download is v1", out)
        doc = json.loads(self.run_ok("show", "acme/vision@v2", "--json", env=env).stdout)
        self.assertEqual(set(doc), {"model", "version", "decision", "obligations"})
        self.assertEqual(doc["version"]["commit"], v2)
        self.assertEqual(doc["model"]["refs"]["main"], v1)
        self.assertIn("min_tier", doc["decision"])
        r = self.sluice("show", "acme/nope", env=env)
        self.assertEqual(r.returncode, 1, self.show_run(r))
        self.assertIn("acme/nope", r.stderr)
        for bad in ([], ["acme"], ["acme/vision", "extra"]):
            r = self.sluice("show", *bad, env=env)
            self.assertEqual(r.returncode, 2, self.show_run(r))

    # ------------------------------------------------------------ whoami, login, logout

    def test_whoami(self):
        r = self.run_ok("whoami", env=self.env_of(self.alice, "alice"))
        self.assertIn("alice on %s" % self.srv.url, r.stdout)
        self.assertIn("acme (publisher)", r.stdout)
        self.assertIn("other (member)", r.stdout)
        doc = json.loads(self.run_ok("whoami", "--json",
                                     env=self.env_of(self.bob, "bob")).stdout)
        self.assertEqual((doc["name"], doc["orgs"], doc["server"]), ("bob", [], self.srv.url))
        r = self.sluice("whoami", env=self.env_of(None, "anon"))
        self.assertEqual(r.returncode, 1, self.show_run(r))
        self.assertIn("not logged in", r.stderr)
        r = self.sluice("whoami", env=self.env_of("sl_" + "0" * 64, "forged"))
        self.assertEqual(r.returncode, 1, self.show_run(r))
        self.assertIn("unknown token", r.stderr)

    def home_env(self, name):
        """A private HOME with no SLUICE_URL/SLUICE_TOKEN: what login saves is used."""
        home = os.path.join(self.tmp, "h-" + name)
        return sv.clean_env({"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, "config"),
                             "XDG_STATE_HOME": os.path.join(home, "state")}), home

    def test_login_from_stdin_then_logout(self):
        env, home = self.home_env("stdin")
        r = self.run_ok("login", self.srv.url, env=env, input=self.bob + "\n")
        self.assertNotIn(self.bob, r.stdout + r.stderr)
        cfg = os.path.join(home, "config", "sluice", "config.json")
        self.assertEqual(os.stat(cfg).st_mode & 0o777, 0o600)
        self.assertIn("bob on", self.run_ok("whoami", env=env).stdout)
        # logout forgets it: whoami says so, a second logout has nothing to do
        r = self.run_ok("logout", env=env)
        self.assertIn("Logged out of %s" % self.srv.url, r.stdout)
        with open(cfg) as f:
            self.assertNotIn(self.bob[3:], f.read())
        r = self.sluice("whoami", env=env)
        self.assertEqual(r.returncode, 2, self.show_run(r))  # no server configured now
        r = self.sluice("logout", env=env)
        self.assertEqual(r.returncode, 2, self.show_run(r))
        r = self.sluice("logout", self.srv.url, env=env)
        self.assertEqual(r.returncode, 1, self.show_run(r))
        self.assertIn("no token saved", r.stderr)

    def test_login_keeps_other_servers_on_logout(self):
        env, home = self.home_env("two")
        self.run_ok("login", self.srv.url, "--token", self.alice, env=env)
        other = "http://127.0.0.1:%d" % sv.free_port()
        cfg = os.path.join(home, "config", "sluice", "config.json")
        with open(cfg) as f:
            doc = json.load(f)
        doc["servers"][other] = {"token": self.bob}
        with open(cfg, "w") as f:
            json.dump(doc, f)
        self.run_ok("logout", other, env=env)
        with open(cfg) as f:
            doc = json.load(f)
        self.assertEqual(list(doc["servers"]), [self.srv.url])
        self.assertIn("alice on", self.run_ok("whoami", env=env).stdout)

    def test_login_bad_input(self):
        env, _ = self.home_env("bad")
        r = self.sluice("login", self.srv.url, env=env, input="")
        self.assertEqual(r.returncode, 2, self.show_run(r))
        self.assertIn("no token", r.stderr)
        r = self.sluice("login", self.srv.url, env=env, input="has space\n")
        self.assertEqual(r.returncode, 2, self.show_run(r))
        r = self.sluice("login", self.srv.url, env=env, input="sl_" + "1" * 64 + "\n")
        self.assertEqual(r.returncode, 1, self.show_run(r))
        r = self.sluice("login", env=env, input=self.bob + "\n")
        self.assertEqual(r.returncode, 2, self.show_run(r))

    def test_login_prompt_does_not_echo(self):
        env, home = self.home_env("tty")
        master, slave = pty.openpty()
        p = subprocess.Popen([st.BIN, "login", self.srv.url], stdin=slave, stdout=subprocess.PIPE,
                             stderr=slave, env=env)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 20
        while b"Token for" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
        self.assertIn(b"Token for " + self.srv.url.encode(), seen)
        time.sleep(0.2)  # the prompt is written before echo goes off
        os.write(master, (self.alice + "\n").encode())
        out, _ = p.communicate(timeout=30)
        try:
            while select.select([master], [], [], 0.5)[0]:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                seen += chunk
        except OSError:
            pass
        os.close(master)
        self.assertEqual(p.returncode, 0, (out, seen))
        self.assertNotIn(self.alice[3:].encode(), seen, "the token was echoed")
        self.assertIn("alice on", self.run_ok("whoami", env=env).stdout)

    # ------------------------------------------------------------ completion, man, install

    def commands(self):
        out = self.run_ok("--help").stdout
        return [ln.split()[0] for ln in out.splitlines() if ln.startswith("  ") and ln.split()]

    def test_completion_scripts(self):
        cmds = self.commands()
        self.assertIn("whoami", cmds)
        for shell in ("bash", "zsh", "fish"):
            text = self.run_ok("completion", shell).stdout
            for c in cmds:
                self.assertIn(c, text, "%s completion lacks %s" % (shell, c))
            self.assertIn("force", text, shell)
        for bad in (["tcsh"], [], ["bash", "zsh"]):
            r = self.sluice("completion", *bad)
            self.assertEqual(r.returncode, 2, self.show_run(r))
        if not shutil.which("bash"):
            self.fail("bash is needed to check the bash completion")
        script = self.run_ok("completion", "bash").stdout

        def complete(*words):
            probe = (script + "\nCOMP_WORDS=(%s); COMP_CWORD=%d; _sluice; "
                     "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
                     % (" ".join("'%s'" % w for w in words), len(words) - 1))
            p = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            return sorted(p.stdout.split())
        self.assertEqual(complete("sluice", "pu"), ["pull", "push"])
        self.assertEqual(complete("sluice", "push", "--fo"), ["--force"])
        self.assertEqual(complete("sluice", "access", "re"), ["request", "revoke"])
        self.assertEqual(complete("sluice", "models", "--s"), ["--search"])
        self.assertEqual(complete("sluice", "admin", ""),
                         ["fsck", "gc", "migrate", "org", "token", "user"])

    def test_man_page(self):
        page = self.run_ok("man").stdout
        self.assertTrue(page.startswith(".\\\""), page[:80])
        self.assertIn(".TH SLUICE 1", page)
        for c in self.commands():
            self.assertIn(".SS %s\n" % c, page)
        self.assertIn("\\-\\-force", page)
        if not shutil.which("groff"):
            self.fail("groff is needed to check the man page")
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=page, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        r = self.sluice("man", "extra")
        self.assertEqual(r.returncode, 2)

    def test_install_layout(self):
        prefix = os.path.join(self.tmp, "prefix")
        p = subprocess.run(["cmake", "--install", sv.BUILD_DIR, "--prefix", prefix],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout)
        want = ["bin/sluice", "share/man/man1/sluice.1",
                "share/bash-completion/completions/sluice",
                "share/zsh/site-functions/_sluice",
                "share/fish/vendor_completions.d/sluice.fish"]
        for rel in want:
            self.assertTrue(os.path.isfile(os.path.join(prefix, rel)), rel)
        # the installed files are what the binary generates now
        with open(os.path.join(prefix, "share/man/man1/sluice.1")) as f:
            self.assertEqual(f.read(), self.run_ok("man").stdout)
        with open(os.path.join(prefix, "share/bash-completion/completions/sluice")) as f:
            self.assertEqual(f.read(), self.run_ok("completion", "bash").stdout)
        p = subprocess.run([os.path.join(prefix, "bin", "sluice"), "--version"],
                           stdout=subprocess.PIPE, text=True, timeout=30)
        self.assertTrue(p.stdout.startswith("sluice "), p.stdout)
        # `make install` forwards PREFIX (dry run: nothing is built or copied)
        p = subprocess.run(["make", "-n", "-C", ROOT, "install", "PREFIX=/opt/x",
                            "BUILD=" + sv.BUILD_DIR], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertIn("cmake --install %s --prefix /opt/x" % sv.BUILD_DIR, p.stdout)
        p = subprocess.run(["make", "-n", "-C", ROOT, "install", "BUILD=" + sv.BUILD_DIR],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        self.assertIn("--prefix /usr/local", p.stdout)

    # ------------------------------------------------------------ fixes

    def test_help_texts(self):
        out = self.run_ok("serve", "--help").stdout
        self.assertNotIn("Not yet", out)
        self.assertIn("fingerprinted", out)
        lines = self.run_ok("admin", "--help").stdout.splitlines()
        add = [i for i, ln in enumerate(lines) if ln.strip().startswith("user add NAME")][0]
        self.assertIn("create an account", lines[add + 1])
        rm = [ln for ln in lines if ln.strip().startswith("user remove NAME")][0]
        self.assertIn("its tokens stop working", rm)

    def test_report_and_monitor_show_license_expiry(self):
        expires = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
        bob = self.env_of(self.bob, "bob-r")
        alice = self.env_of(self.alice, "alice-r")
        # the monitor shows entries that come after its first look
        monitor = self.env_of(None, "monitor")
        self.run_ok("log", "monitor", "--once", env=monitor)
        self.run_ok("access", "request", "acme/secret", "--purpose", "reading it", env=bob)
        self.run_ok("access", "approve", "acme/secret", "bob", "--expires", expires, env=alice)
        anon = self.env_of(None, "auditor")
        out = self.run_ok("report", "acme/secret", env=anon).stdout
        issued = [ln for ln in out.splitlines() if "license" in ln and "issued" in ln]
        self.assertTrue(issued, out)
        self.assertIn("expires %s" % expires, issued[0])
        self.assertNotIn("expires never", issued[0])
        approved = [ln for ln in out.splitlines() if "access approved" in ln]
        self.assertTrue(approved and "expires %s" % expires in approved[0], out)
        out = self.run_ok("log", "monitor", "--once", env=monitor).stdout
        issued = [ln for ln in out.splitlines() if "license" in ln and "issued" in ln]
        self.assertTrue(issued, out)
        self.assertIn("expires %s" % expires, issued[-1])

    def test_tour_model_has_random_weights(self):
        folder = os.path.join(self.tmp, "tour")
        p = subprocess.run(["python3", os.path.join(ROOT, "examples", "make-sparse-model.py"),
                            folder, "tiny-llama", "--random"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout)
        path = os.path.join(folder, "model.safetensors")
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            data = f.read(1 << 20)
        self.assertEqual(os.path.getsize(path), 8 + n + max(
            t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"))
        vals = struct.unpack("<%dH" % (len(data) // 2), data)
        # every one of the 512 values (2 signs x 2 exponents x 128 mantissas)
        self.assertGreater(len(set(vals)), 500, "the weights are not random")
        for v in vals:
            exp = (v >> 7) & 0xFF
            self.assertIn(exp, (120, 121), "a value outside 2^-7..2^-5: %#06x" % v)
        doc = json.loads(self.run_ok("inspect", folder, "--json").stdout)
        self.assertEqual(doc["params_total"], 45355520)


if __name__ == "__main__":
    st.main()
