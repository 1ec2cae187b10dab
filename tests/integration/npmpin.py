# SPDX-License-Identifier: Apache-2.0
"""Installs a pinned npm package set (a tests/<name>/package.json with its
package-lock.json) with `npm ci` into a folder of the build, once per
lockfile, for the tests that run an unmodified JavaScript client.

    err = npmpin.install(src_dir, node_dir, "openai")   # None, or why not
"""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess


def install(src_dir, node_dir, package, ignore_scripts=False, omit_optional=False):
    """Installs SRC_DIR's lockfile into NODE_DIR unless it is there already;
    returns an error text or None. PACKAGE must then be at the version
    SRC_DIR/package.json pins. IGNORE_SCRIPTS: run no install script (a
    package whose script would download or build what npm did not bring).
    OMIT_OPTIONAL: leave out optional dependencies (the package.json names
    the ones wanted directly)."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are needed for the %s client tests (scripts/deps.sh)" % package
    with open(os.path.join(src_dir, "package.json")) as f:
        version = json.load(f)["dependencies"][package]
    os.makedirs(node_dir, exist_ok=True)
    with open(os.path.join(src_dir, "package-lock.json"), "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(node_dir, ".installed-lock.sha256")
    pkg = os.path.join(node_dir, "node_modules", *package.split("/"), "package.json")
    with open(os.path.join(node_dir, ".install.lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        try:
            with open(stamp) as f, open(pkg) as g:
                if f.read().strip() == want and json.load(g).get("version") == version:
                    return None
        except (OSError, ValueError):
            pass
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(os.path.join(src_dir, name), os.path.join(node_dir, name))
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"] +
                           (["--ignore-scripts"] if ignore_scripts else []) +
                           (["--omit=optional"] if omit_optional else []),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                           cwd=node_dir)
        if p.returncode != 0:
            return "npm ci could not install %s/package-lock.json into %s (exit %d):\n%s" % (
                src_dir, node_dir, p.returncode, p.stdout.decode("utf-8", "replace")[-3000:])
        try:
            with open(pkg) as f:
                got = json.load(f).get("version")
        except (OSError, ValueError) as e:
            return "npm ran but %s is not in %s: %s" % (package, node_dir, e)
        if got != version:
            return "npm installed %s %s, not %s" % (package, got, version)
        with open(stamp, "w") as f:
            f.write(want)
    return None
