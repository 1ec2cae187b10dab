# SPDX-License-Identifier: Apache-2.0
"""The data folder is private whatever the operator did first, and the first
admin token is printed only to a terminal (issue 11, item 10;
docs/storage.md, "Permissions").

- A data folder left group- or world-readable (0755, files 0644), or only
  traversable (0711), is tightened by `serve`: the folder and its folders
  0700, its files without group, other and execute bits; a symbolic link
  inside is not followed (its target keeps its mode); the start-up log says
  so (`data_folder_made_private`, with the old mode and the count).
- A folder that is already 0700 is not walked and no event is logged.
- A careless user pointing --data at a folder of their own (a script in
  it, no sluice.db yet): the folder becomes 0700, their files keep their
  modes (an executable stays executable).
- When a change is refused (an immutable file), serve exits 3 with one line
  naming the file and the exact `chmod -R go-rwx DIR` to run, and does not
  start.
- With stdout a file, the token is not printed; stdout says where it is.
  With stdout a terminal (a pty), it is printed once.
"""
import json
import os
import pty
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402


def modes(root):
    """{relative path: mode} of ROOT and everything under it (links: lstat)."""
    out = {".": stat.S_IMODE(os.stat(root).st_mode)}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def loosen(root, dmode=0o755, fmode=0o644):
    """What a careless operator does: chmod -R a+rX."""
    n = 0
    for d, dirs, files in os.walk(root):
        for x in dirs:
            os.chmod(os.path.join(d, x), dmode)
            n += 1
        for x in files:
            p = os.path.join(d, x)
            if not os.path.islink(p):
                os.chmod(p, fmode)
                n += 1
    os.chmod(root, dmode)
    return n + 1


def events(srv, name):
    out = []
    for line in srv.stderr().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("event") == name:
            out.append(doc)
    return out


class Permissions(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-perm-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.data = os.path.join(self.tmp, "data")
        self.srv = sv.Server(self.data, workdir=self.tmp)
        self.addCleanup(self.srv.cleanup)
        self.srv.start()
        self.srv.add_user("someone")  # a few more rows, a WAL
        self.assertEqual(self.srv.stop(), 0)
        # a link to a file outside the folder: never followed
        self.outside = os.path.join(self.tmp, "outside.txt")
        with open(self.outside, "w") as f:
            f.write("not sluice's\n")
        os.chmod(self.outside, 0o644)
        os.symlink(self.outside, os.path.join(self.data, "link"))

    def check_private(self):
        for path, mode in modes(self.data).items():
            if path == "link":
                continue
            full = os.path.join(self.data, path)
            if path == "." or os.path.isdir(full):
                self.assertEqual(mode, 0o700, "%s is %o" % (path, mode))
            else:
                self.assertEqual(mode & 0o177, 0, "%s is %o" % (path, mode))
        self.assertEqual(stat.S_IMODE(os.stat(self.outside).st_mode), 0o644,
                         "the link's target was changed")

    def test_world_readable_folder_is_made_private(self):
        n = loosen(self.data)
        self.assertGreaterEqual(n, 5)
        self.srv.start()
        ev = events(self.srv, "data_folder_made_private")
        self.assertEqual(len(ev), 1, self.srv.stderr()[-2000:])
        self.assertEqual(ev[0]["mode_was"], "0755")
        self.assertEqual(ev[0]["mode"], "0700")
        self.assertEqual(ev[0]["folder"], self.data)
        self.assertEqual(ev[0]["changed"], n)
        self.check_private()
        # it still works, and a second start has nothing to say
        r = self.srv.request("GET", "/api/v1/models", token=self.srv.admin_token)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.srv.stop(), 0)
        self.srv.start()
        self.assertEqual(len(events(self.srv, "data_folder_made_private")), 1)
        self.assertEqual(self.srv.stop(), 0)

    def test_traversable_folder_is_made_private(self):
        # 0711: nobody can list it, but anyone could open server.key by name
        loosen(self.data, dmode=0o711, fmode=0o604)
        self.srv.start()
        ev = events(self.srv, "data_folder_made_private")
        self.assertEqual([e["mode_was"] for e in ev], ["0711"])
        self.check_private()
        self.assertEqual(self.srv.stop(), 0)

    def test_private_folder_is_left_alone(self):
        key = os.path.join(self.data, "server.key")
        os.chmod(key, 0o640)  # unreachable behind a 0700 folder
        before = modes(self.data)
        self.assertEqual(before["."], 0o700)
        self.srv.start()
        self.assertEqual(events(self.srv, "data_folder_made_private"), [])
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o640)
        self.assertEqual(self.srv.stop(), 0)

    def test_a_foreign_folder_keeps_its_files_modes(self):
        mine = os.path.join(self.tmp, "project")
        os.makedirs(os.path.join(mine, "src"))
        script = os.path.join(mine, "run.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\necho hi\n")
        os.chmod(script, 0o755)
        os.chmod(os.path.join(mine, "src"), 0o755)
        os.chmod(mine, 0o755)
        srv = sv.Server(mine, workdir=self.tmp)
        self.addCleanup(srv.cleanup)
        srv.start()
        ev = events(srv, "data_folder_made_private")
        self.assertEqual([(e["folder"], e["mode_was"], e["changed"]) for e in ev],
                         [(mine, "0755", 1)])
        self.assertEqual(stat.S_IMODE(os.stat(mine).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(script).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(mine, "src")).st_mode), 0o755)
        self.assertEqual(srv.stop(), 0)

    def test_refused_change_stops_the_start(self):
        if os.geteuid() != 0 or not shutil.which("chattr"):
            self.skipTest("needs root and chattr to make a file whose mode cannot change")
        loosen(self.data)
        key = os.path.join(self.data, "admin.token")
        if subprocess.run(["chattr", "+i", key], capture_output=True).returncode != 0:
            self.skipTest("this file system has no immutable files")
        self.addCleanup(subprocess.run, ["chattr", "-i", key], capture_output=True)
        r = st.run("serve", "--data", self.data, "--listen", "127.0.0.1:%d" % sv.free_port(),
                   *sv.backend_args(self.data), env=sv.clean_env(), timeout=20)
        self.assertEqual(r.rc, 3, r)  # local I/O failure (docs/cli.md)
        err = r.stderr.strip()
        self.assertEqual(err.count("\n"), 0, "not one line: %r" % err)
        self.assertIn(key, err)
        self.assertIn("`chmod -R go-rwx %s`" % self.data, err)
        self.assertNotIn("listening", r.stderr)


class FirstToken(unittest.TestCase):
    def test_not_printed_when_stdout_is_a_file(self):
        tmp = tempfile.mkdtemp(prefix="sluice-tok-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        data = os.path.join(tmp, "data")
        srv = sv.Server(data, workdir=tmp)
        self.addCleanup(srv.cleanup)
        srv.start()
        token = srv.admin_token
        self.assertRegex(token, r"^sl_[0-9a-f]{64}$")
        out = srv.stdout()
        self.assertNotIn(token, out)
        self.assertNotRegex(out, r"sl_[0-9a-f]{64}")
        self.assertIn(os.path.join(data, "admin.token"), out)
        self.assertIn("not a terminal", out)
        self.assertEqual(srv.stop(), 0)

    def test_printed_once_to_a_terminal(self):
        tmp = tempfile.mkdtemp(prefix="sluice-tty-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        data = os.path.join(tmp, "data")
        port = sv.free_port()
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        with open(os.path.join(tmp, "err"), "wb") as err:
            p = subprocess.Popen([sv.BIN, "serve", "--data", data, "--listen",
                                  "127.0.0.1:%d" % port, "--origin", "sluice"], stdout=slave,
                                 stderr=err,
                                 stdin=subprocess.DEVNULL, env=sv.clean_env())
        os.close(slave)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        deadline = time.monotonic() + 20
        up = False
        while time.monotonic() < deadline and not up:
            try:
                up = sv.http_request(port, "GET", "/api/v1/health", timeout=2).status == 200
            except OSError:
                time.sleep(0.05)
        self.assertTrue(up, "the server did not come up")
        out = b""
        os.set_blocking(master, False)
        try:
            while True:
                b = os.read(master, 4096)
                if not b:
                    break
                out += b
        except (BlockingIOError, OSError):
            pass
        with open(os.path.join(data, "admin.token")) as f:
            token = f.read().strip()
        self.assertEqual(out.decode().count(token), 1, out)
        p.terminate()
        self.assertEqual(p.wait(10), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
