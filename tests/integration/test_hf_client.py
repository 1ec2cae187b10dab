# SPDX-License-Identifier: Apache-2.0
"""An unmodified Hugging Face client against sluice: the official JavaScript
client, @huggingface/hub, pinned with its whole dependency tree in
tests/hf/package.json and tests/hf/package-lock.json, run by node with
`hubUrl` pointed at a real `sluice serve`.

The package is installed with `npm ci` from that lockfile into BUILD/node
(BUILD is the folder of the sluice binary); later runs reuse it while the
lockfile is unchanged. When node, npm or the package are missing the tests
fail (they never skip) and say so.

Checked: modelInfo (default revision and "main"), listFiles (top level and
recursive), fileDownloadInfo, downloadFile of every file (bytes compared),
downloadFile of a missing file (null, as on the Hub), fileExists,
parseSafetensorsMetadata, listModels (search, sort, following the Link
header), whoAmI, download counts, snapshotDownload, and the tiers: a gated
model is refused to this client (401 without a token, 403 for an outsider)
while a member gets the bytes; a click model is downloaded by two users who
accepted its license into one shared cacheDir.

@huggingface/hub refuses any access token that does not start with "hf_"
(before sending it), so the tests pass sluice tokens as `accessToken` in
the form the server accepts for this reason: "hf_" + the same secret
(docs/api.md).
"""
import fcntl
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as sv  # noqa: E402
import sluicetest as st  # noqa: E402

HF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hf")
with open(os.path.join(HF_DIR, "package.json")) as _f:
    HF_HUB_VERSION = json.load(_f)["dependencies"]["@huggingface/hub"]
NODE_DIR = os.environ.get("SLUICE_NODE_DIR") or os.path.join(sv.BUILD_DIR, "node")
FACTS = {"params": 4224, "training": {"tokens": 1e9}}

SCRIPT = r"""
import * as hub from "@huggingface/hub";
import { createHash } from "node:crypto";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";

const spec = JSON.parse(process.argv[2]);
const hubUrl = spec.hubUrl;
const repo = spec.repo;
// a sluice token is passed as the client's own accessToken ("hf_" + secret)
const common = spec.token ? { hubUrl, accessToken: spec.token } : { hubUrl };

function sha256(buf) { return createHash("sha256").update(buf).digest("hex"); }

async function walk(dir) {
  const out = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath ?? e.path, e.name);
    if ((await stat(p)).isFile()) out[relative(dir, p)] = sha256(await readFile(p));
  }
  return out;
}

async function op(o) {
  switch (o.op) {
    case "info": {
      const args = { name: repo, ...common, additionalFields: ["sha", "siblings", "safetensors"] };
      if (o.revision) args.revision = o.revision;
      const info = await hub.modelInfo(args);
      return { sha: info.sha, gated: info.gated, private: info.private, id: info.id,
               downloads: info.downloads,
               name: info.name, siblings: info.siblings, safetensors: info.safetensors ?? null };
    }
    case "list": {
      const out = [];
      for await (const f of hub.listFiles({ repo, ...common, recursive: !!o.recursive,
                                             path: o.path }))
        out.push({ type: f.type, path: f.path, size: f.size, oid: f.oid ?? null,
                   lfs: f.lfs ?? null });
      return out;
    }
    case "downloadInfo": {
      const i = await hub.fileDownloadInfo({ repo, path: o.path, ...common });
      return i === null ? null : { size: i.size, etag: i.etag, url: i.url };
    }
    case "download": {
      const blob = await hub.downloadFile({ repo, path: o.path, ...common,
                                            revision: o.revision });
      if (blob === null) return null;
      const buf = Buffer.from(await blob.arrayBuffer());
      return { size: buf.length, sha256: sha256(buf) };
    }
    case "snapshot": {
      const dir = await hub.snapshotDownload({ repo, ...common, cacheDir: o.cacheDir });
      return { dir, files: await walk(dir) };
    }
    case "exists":
      return await hub.fileExists({ repo, path: o.path, revision: o.revision, ...common });
    case "safetensors": {
      const m = await hub.parseSafetensorsMetadata({ repo, ...common,
                                                     computeParametersCount: true });
      return { sharded: m.sharded, parameterCount: m.parameterCount,
               tensors: Object.keys(m.header).filter((k) => k !== "__metadata__").sort() };
    }
    case "listModels": {
      // pageSize: the first request asks for smaller pages, so the client
      // must follow the server's Link header to see everything
      let first = true;
      const paged = o.pageSize ? (url, init) => {
        if (first) { url = url.replace(/limit=\d+/, "limit=" + o.pageSize); first = false; }
        return fetch(url, init);
      } : undefined;
      const out = [];
      for await (const m of hub.listModels({ ...common, search: o.search, sort: o.sort,
                                              limit: o.limit, fetch: paged }))
        out.push({ name: m.name, downloads: m.downloads, gated: m.gated,
                   private: m.private });
      return out;
    }
    case "whoAmI": {
      const me = await hub.whoAmI({ ...common });
      return { name: me.name, type: me.type, orgs: (me.orgs ?? []).map((x) => x.name),
               role: me.auth?.accessToken?.role ?? null };
    }
    default:
      throw new Error("unknown op " + o.op);
  }
}

const results = [];
for (const o of spec.ops) {
  try {
    results.push({ ok: true, value: await op(o) });
  } catch (e) {
    results.push({ ok: false, name: e?.name ?? null, status: e?.statusCode ?? null,
                   message: String(e?.message ?? e), data: e?.data ?? null });
  }
}
// to a file: the client itself logs on stdout ("Downloading ...")
await writeFile(spec.out, JSON.stringify(results));
"""


def install_client():
    """Installs tests/hf's lockfile with `npm ci` into NODE_DIR (once per
    lockfile); returns an error text or None."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are needed for the Hugging Face client tests"
    os.makedirs(NODE_DIR, exist_ok=True)
    with open(os.path.join(HF_DIR, "package-lock.json"), "rb") as f:
        lock = f.read()
    stamp = os.path.join(NODE_DIR, ".installed-lock.sha256")
    want = hashlib.sha256(lock).hexdigest()
    pkg = os.path.join(NODE_DIR, "node_modules", "@huggingface", "hub", "package.json")
    with open(os.path.join(NODE_DIR, ".install.lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        try:
            with open(stamp) as f, open(pkg) as g:
                if f.read().strip() == want and json.load(g).get("version") == HF_HUB_VERSION:
                    return None
        except (OSError, ValueError):
            pass
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(os.path.join(HF_DIR, name), os.path.join(NODE_DIR, name))
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                           cwd=NODE_DIR)
        if p.returncode != 0:
            return "npm ci could not install tests/hf/package-lock.json into %s (exit %d):\n%s" % (
                NODE_DIR, p.returncode, p.stdout.decode("utf-8", "replace")[-3000:])
        try:
            with open(pkg) as f:
                got = json.load(f).get("version")
        except (OSError, ValueError) as e:
            return "npm ran but @huggingface/hub is not in %s: %s" % (NODE_DIR, e)
        if got != HF_HUB_VERSION:
            return "npm installed @huggingface/hub %s, not %s" % (got, HF_HUB_VERSION)
        with open(stamp, "w") as f:
            f.write(want)
    return None


def hf_token(token):
    """The form of a sluice token @huggingface/hub accepts."""
    return "hf_" + token[3:]


class HfClient(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.install_error = install_client()
        cls.tmp = tempfile.mkdtemp(prefix="sluice-hfjs-")
        cls.srv = sv.Server(os.path.join(cls.tmp, "data"), workdir=cls.tmp)
        try:
            cls.script = os.path.join(NODE_DIR, "sluice-hf-check.mjs")
            if not cls.install_error:
                with open(cls.script, "w") as f:
                    f.write(SCRIPT)
            cls.srv.start()
            cls.alice = cls.srv.add_user("alice")
            cls.bob = cls.srv.add_user("bob")
            cls.eve = cls.srv.add_user("eve")
            cls.srv.add_org("acme")
            cls.srv.add_member("acme", "alice", "publisher")
            cls.srv.add_member("acme", "bob", "member")
            facts = os.path.join(cls.tmp, "facts.json")
            with open(facts, "w") as f:
                json.dump(FACTS, f)
            home = os.path.join(cls.tmp, "home")
            env = cls.srv.client_env(cls.alice, home)
            cls.folder = os.path.join(cls.tmp, "open")
            cls.counts = sv.make_model(cls.folder, big=3 << 20, rng=random.Random(11))
            r = st.run("push", "acme/open", cls.folder, "--facts", facts, "--json", env=env)
            if r.rc != 0:
                raise AssertionError("push failed: %r" % r)
            cls.commit = json.loads(r.stdout)["commit"]
            cls.digest = sv.tree_digest(cls.folder)
            cls.gfolder = os.path.join(cls.tmp, "gated")
            sv.make_model(cls.gfolder, big=100000, rng=random.Random(12))
            r = st.run("push", "acme/gated", cls.gfolder, "--facts", facts, "--tier", "gated",
                       env=env)
            if r.rc != 0:
                raise AssertionError("push failed: %r" % r)
            # a click model, and two users who accepted its license
            cls.carol = cls.srv.add_user("carol")
            cls.cfolder = os.path.join(cls.tmp, "click")
            sv.make_model(cls.cfolder, big=70000, rng=random.Random(13))
            lic = os.path.join(cls.tmp, "LICENSE.txt")
            with open(lic, "w") as f:
                f.write("Use it kindly.\n")
            r = st.run("push", "acme/click", cls.cfolder, "--facts", facts, "--tier", "click",
                       "--license", lic, env=env)
            if r.rc != 0:
                raise AssertionError("push failed: %r" % r)
            for who, tok in (("eve", cls.eve), ("carol", cls.carol)):
                r = st.run("accept", "acme/click",
                           env=cls.srv.client_env(tok, os.path.join(cls.tmp, "home-" + who)))
                if r.rc != 0:
                    raise AssertionError("accept failed: %r" % r)
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

    def setUp(self):
        if self.install_error:
            self.fail(self.install_error)

    def js(self, repo, ops, token=None):
        """Runs the node script; returns one result per op."""
        out = os.path.join(self.tmp, "js-result.json")
        if os.path.exists(out):
            os.unlink(out)
        spec = {"hubUrl": self.srv.url, "repo": repo, "ops": ops, "out": out}
        if token:
            spec["token"] = token
        env = sv.clean_env({"HF_HOME": os.path.join(self.tmp, "hf-home")})
        p = subprocess.run(["node", self.script, json.dumps(spec)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=120, cwd=NODE_DIR)
        self.assertEqual(p.returncode, 0, "node failed: %s" % p.stderr.decode()[-3000:])
        self.assertTrue(os.path.exists(out), "node wrote no result: %s %s"
                        % (p.stdout.decode()[-2000:], p.stderr.decode()[-2000:]))
        with open(out) as f:
            res = json.load(f)
        self.assertEqual(len(res), len(ops))
        return res

    def ok(self, res, what):
        self.assertTrue(res["ok"], "%s: the client failed: %s" % (what, res))
        return res["value"]

    def check_siblings(self, value):
        sib = {s["rfilename"]: s for s in value["siblings"]}
        self.assertEqual(set(sib), set(self.digest))

    def test_model_info_default_revision(self):
        # modelInfo without a revision asks for /api/models/acme/open/revision/HEAD,
        # which the Hub resolves to the default branch
        (res,) = self.js("acme/open", [{"op": "info"}])
        v = self.ok(res, "modelInfo()")
        self.assertEqual(v["sha"], self.commit)
        self.assertEqual(v["name"], "acme/open")
        self.assertIs(v["gated"], False)
        self.check_siblings(v)

    def test_model_info_main(self):
        (res,) = self.js("acme/open", [{"op": "info", "revision": "main"}])
        v = self.ok(res, "modelInfo(main)")
        self.assertEqual(v["sha"], self.commit)
        self.assertIs(v["private"], False)
        self.check_siblings(v)

    def test_list_files(self):
        top, rec, sub = self.js("acme/open", [{"op": "list"}, {"op": "list", "recursive": True},
                                              {"op": "list", "path": "sub/dir"}])
        top = self.ok(top, "listFiles")
        self.assertEqual({(e["path"], e["type"]) for e in top},
                         {("big.bin", "file"), ("config.json", "file"),
                          ("model.safetensors", "file"), ("sub", "directory")})
        for e in top:
            if e["type"] == "file":
                self.assertEqual(e["lfs"]["oid"], self.digest[e["path"]])
                self.assertEqual(e["size"], os.path.getsize(os.path.join(self.folder, e["path"])))
        sub = self.ok(sub, "listFiles(path: sub/dir)")
        self.assertEqual([(e["path"], e["type"]) for e in sub], [("sub/dir/extra.txt", "file")])
        rec = self.ok(rec, "listFiles(recursive)")
        self.assertEqual({e["path"] for e in rec if e["type"] == "file"}, set(self.digest),
                         "listFiles({recursive: true}) does not list every file")

    def test_download_files(self):
        paths = sorted(self.digest)
        ops = [{"op": "download", "path": p} for p in paths]
        ops += [{"op": "download", "path": "config.json", "revision": self.commit},
                {"op": "downloadInfo", "path": "big.bin"}]
        res = self.js("acme/open", ops)
        for p, r in zip(paths, res):
            v = self.ok(r, "downloadFile(%s)" % p)
            self.assertEqual(v["sha256"], self.digest[p], p)
            self.assertEqual(v["size"], os.path.getsize(os.path.join(self.folder, p)))
        v = self.ok(res[len(paths)], "downloadFile(config.json, commit)")
        self.assertEqual(v["sha256"], self.digest["config.json"])
        v = self.ok(res[-1], "fileDownloadInfo(big.bin)")
        self.assertEqual(v["size"], os.path.getsize(os.path.join(self.folder, "big.bin")))
        self.assertEqual(v["etag"], '"%s"' % self.digest["big.bin"])

    def test_download_missing_file_is_null(self):
        # the Hub marks a missing file with X-Error-Code: EntryNotFound, and
        # the client then answers null instead of throwing
        (res,) = self.js("acme/open", [{"op": "download", "path": "no-such-file.bin"}])
        self.assertTrue(res["ok"], "downloadFile of a missing file threw: %s" % res)
        self.assertIsNone(res["value"])

    def test_snapshot_download(self):
        # snapshotDownload: modelInfo(main) for the commit, listFiles
        # recursive at that commit, then per file POST .../paths-info/{commit}
        # (expand: true) and a download into CACHE/models--acme--open/blobs,
        # linked from snapshots/{id}/{path} where id is the entry's
        # lastCommit.id (its own check for a commit id wants 40 hex digits)
        cache = os.path.join(self.tmp, "snap-cache")
        (res,) = self.js("acme/open", [{"op": "snapshot", "cacheDir": cache}])
        v = self.ok(res, "snapshotDownload")
        self.assertIn(self.commit, v["dir"])
        self.assertEqual(v["files"], self.digest, "the snapshot folder %s does not hold the "
                         "model's files" % v["dir"])

    def test_gated_model_refused(self):
        info, dl, dlinfo = self.js("acme/gated", [{"op": "info", "revision": "main"},
                                                  {"op": "download", "path": "config.json"},
                                                  {"op": "downloadInfo", "path": "big.bin"}])
        v = self.ok(info, "modelInfo of a gated model")  # metadata stays visible
        self.assertEqual(v["gated"], "manual")
        for r in (dl, dlinfo):
            self.assertFalse(r["ok"], "a gated file was handed out: %s" % r)
            self.assertEqual(r["status"], 401, r)
            self.assertIn("gated", json.dumps(r["data"]), r)
        dl, = self.js("acme/gated", [{"op": "download", "path": "config.json"}], token=hf_token(self.eve))
        self.assertFalse(dl["ok"], "a gated file was handed to an outsider: %s" % dl)
        self.assertEqual(dl["status"], 403, dl)
        dl, = self.js("acme/gated", [{"op": "download", "path": "config.json"}], token=hf_token(self.bob))
        v = self.ok(dl, "downloadFile by a member of the org")
        self.assertEqual(v["sha256"], sv.sha256_file(os.path.join(self.gfolder, "config.json")))


    def test_gated_grantee_with_access_token(self):
        # a grantee (not a member) gets the gated files through the client's
        # own accessToken: info, fileExists, a download and a snapshot
        dave = self.srv.add_user("dave")
        home = os.path.join(self.tmp, "home-dave")
        r = st.run("access", "request", "acme/gated", "--purpose", "testing the JS client",
                   env=self.srv.client_env(dave, home))
        self.assertEqual(r.rc, 0, repr(r))
        r = st.run("access", "approve", "acme/gated", "dave",
                   env=self.srv.client_env(self.alice, os.path.join(self.tmp, "home")))
        self.assertEqual(r.rc, 0, repr(r))
        cache = os.path.join(self.tmp, "dave-cache")
        exists, dl, snap = self.js("acme/gated", [
            {"op": "exists", "path": "model.safetensors"},
            {"op": "download", "path": "config.json"},
            {"op": "snapshot", "cacheDir": cache}], token=hf_token(dave))
        self.assertIs(self.ok(exists, "fileExists(gated, grantee)"), True)
        want = sv.tree_digest(self.gfolder)
        self.assertEqual(self.ok(dl, "downloadFile(gated, grantee)")["sha256"],
                         want["config.json"])
        files = self.ok(snap, "snapshotDownload(gated, grantee)")["files"]
        self.assertEqual(set(files), set(want))
        for name in ("config.json", "sub/dir/extra.txt"):  # never marked
            self.assertEqual(files[name], want[name], name)

    def test_gated_shared_cache_two_grantees(self):
        # issue 12 item 1 with the unmodified client: two licensees share one
        # cacheDir; each ends up with their own marked bytes, exactly what a
        # `sluice pull` of their own gives them, never the other's copy
        cache = os.path.join(self.tmp, "gated-shared-cache")
        pub_env = self.srv.client_env(self.alice, os.path.join(self.tmp, "home"))
        # a weight matrix big enough that two recipients' marks always differ
        # (a 64x64 one carries about four positions, and may carry none)
        # (in an org of its own: the listing tests count acme's models)
        self.srv.add_org("team")
        self.srv.add_member("team", "alice", "publisher")
        folder = os.path.join(self.tmp, "gated-big")
        sv.make_model(folder, big=50000, rng=random.Random(21), rows=1024)
        facts = os.path.join(self.tmp, "facts-big.json")
        with open(facts, "w") as f:
            json.dump({"params": 1024 * 64 + 128, "training": {"tokens": 1e9}}, f)
        r = st.run("push", "team/gated-big", folder, "--facts", facts, "--tier", "gated",
                   env=pub_env, timeout=120)
        self.assertEqual(r.rc, 0, repr(r))
        got, pulled = {}, {}
        for name in ("gina", "hank"):
            tok = self.srv.add_user(name)
            env = self.srv.client_env(tok, os.path.join(self.tmp, "home-" + name))
            r = st.run("access", "request", "team/gated-big", "--purpose", "a shared cache",
                       env=env)
            self.assertEqual(r.rc, 0, repr(r))
            r = st.run("access", "approve", "team/gated-big", name, env=pub_env)
            self.assertEqual(r.rc, 0, repr(r))
            (res,) = self.js("team/gated-big", [{"op": "snapshot", "cacheDir": cache}],
                             token=hf_token(tok))
            got[name] = self.ok(res, "snapshotDownload(gated) by %s into a shared cache" % name)
            dest = os.path.join(self.tmp, "pull-" + name)
            r = st.run("pull", "team/gated-big", "--dest", dest, env=env, timeout=120)
            self.assertEqual(r.rc, 0, repr(r))
            pulled[name] = sv.tree_digest(dest)
        for name in ("gina", "hank"):
            self.assertIn("model.safetensors", got[name]["files"], (name, got[name]))
            self.assertEqual(got[name]["files"]["model.safetensors"],
                             pulled[name]["model.safetensors"], name)
        self.assertNotEqual(got["gina"]["files"]["model.safetensors"],
                            got["hank"]["files"]["model.safetensors"],
                            "the second licensee got the first one's marked copy from the cache")

    def test_sluice_token_form(self):
        # the client itself refuses "sl_..." before sending it: that is why
        # sluice accepts "hf_" + the same secret
        (res,) = self.js("acme/gated", [{"op": "download", "path": "config.json"}],
                         token=self.bob)
        self.assertFalse(res["ok"], res)
        self.assertIn("hf_", res["message"])
        (res,) = self.js("acme/gated", [{"op": "download", "path": "config.json"}],
                         token="hf_" + "0" * 64)
        self.assertFalse(res["ok"], res)
        self.assertEqual(res["status"], 401, res)

    def test_file_exists(self):
        ok, missing, at_commit = self.js("acme/open", [
            {"op": "exists", "path": "model.safetensors"},
            {"op": "exists", "path": "no-such.safetensors"},
            {"op": "exists", "path": "sub/dir/extra.txt", "revision": self.commit}])
        self.assertIs(self.ok(ok, "fileExists"), True)
        self.assertIs(self.ok(missing, "fileExists(missing)"), False)
        self.assertIs(self.ok(at_commit, "fileExists(at commit)"), True)
        # gated: a member's token sees it; without one the client throws
        # (only a 404 means "absent")
        (res,) = self.js("acme/gated", [{"op": "exists", "path": "config.json"}],
                         token=hf_token(self.bob))
        self.assertIs(self.ok(res, "fileExists(gated, member)"), True)
        (res,) = self.js("acme/gated", [{"op": "exists", "path": "config.json"}])
        self.assertFalse(res["ok"], res)

    def test_parse_safetensors_metadata(self):
        (res,) = self.js("acme/open", [{"op": "safetensors"}])
        v = self.ok(res, "parseSafetensorsMetadata")
        self.assertIs(v["sharded"], False)
        self.assertEqual(v["parameterCount"], self.counts)
        self.assertEqual(v["tensors"], ["model.b", "model.w"])
        (res,) = self.js("acme/gated", [{"op": "safetensors"}], token=hf_token(self.bob))
        v = self.ok(res, "parseSafetensorsMetadata(gated, member)")
        self.assertEqual(sum(v["parameterCount"].values()), sum(self.counts.values()))

    def test_list_models(self):
        everything, paged, one, searched = self.js("acme/open", [
            {"op": "listModels"},
            {"op": "listModels", "pageSize": 1, "sort": "id"},
            {"op": "listModels", "limit": 1},
            {"op": "listModels", "search": {"query": "GAT", "owner": "acme"}}])
        names = sorted(m["name"] for m in self.ok(everything, "listModels"))
        # (other tests add models of other orgs)
        self.assertEqual([n for n in names if n.startswith("acme/")],
                         ["acme/click", "acme/gated", "acme/open"])
        by = {m["name"]: m for m in self.ok(everything, "listModels")}
        self.assertIs(by["acme/open"]["gated"], False)
        self.assertEqual(by["acme/gated"]["gated"], "manual")
        # one model per page: the client follows the Link header to the end
        got = [m["name"] for m in self.ok(paged, "listModels(pages of 1)")]
        self.assertEqual(got, sorted(names, reverse=True))
        self.assertEqual(len(self.ok(one, "listModels(limit 1)")), 1)
        self.assertEqual([m["name"] for m in self.ok(searched, "listModels(search)")],
                         ["acme/gated"])

    def test_who_am_i(self):
        (res,) = self.js("acme/open", [{"op": "whoAmI"}], token=hf_token(self.bob))
        v = self.ok(res, "whoAmI")
        self.assertEqual((v["name"], v["type"], v["orgs"]), ("bob", "user", ["acme"]))
        self.assertIn(v["role"], ("read", "write", "admin"))
        (res,) = self.js("acme/open", [{"op": "whoAmI"}], token="hf_" + "1" * 64)
        self.assertFalse(res["ok"], res)

    def test_downloads_counted(self):
        before, _, after = self.js("acme/open", [
            {"op": "info", "revision": "main"},
            {"op": "download", "path": "config.json"},
            {"op": "info", "revision": "main"}])
        b = self.ok(before, "modelInfo")["downloads"]
        a = self.ok(after, "modelInfo")["downloads"]
        self.assertGreater(a, b, "downloading config.json did not count")
        (res,) = self.js("acme/open", [{"op": "listModels", "sort": "downloads"}])
        top = self.ok(res, "listModels(sort downloads)")
        self.assertEqual(top[0]["name"], "acme/open")
        self.assertGreaterEqual(top[0]["downloads"], a)

    def test_click_model_shared_cache_two_users(self):
        cache = os.path.join(self.tmp, "shared-cache")
        want = sv.tree_digest(self.cfolder)
        (anon,) = self.js("acme/click", [{"op": "snapshot", "cacheDir": cache}])
        self.assertFalse(anon["ok"], "a click model was handed out without a token: %s" % anon)
        for who in (self.eve, self.carol):
            (res,) = self.js("acme/click", [{"op": "snapshot", "cacheDir": cache}],
                             token=hf_token(who))
            v = self.ok(res, "snapshotDownload(click) into a shared cache")
            self.assertEqual(v["files"], want)
        # bob never accepted but is a member of the publishing org; an outsider
        # who never accepted is refused, naming the tier
        (res,) = self.js("acme/click", [{"op": "download", "path": "config.json"}],
                         token=hf_token(self.bob))
        self.assertTrue(res["ok"], res)  # a member of the publishing org
        outsider = self.srv.add_user("frank")
        (res,) = self.js("acme/click", [{"op": "download", "path": "config.json"}],
                         token=hf_token(outsider))
        self.assertFalse(res["ok"], res)
        self.assertEqual(res["status"], 403, res)
        self.assertIn("click", json.dumps(res["data"]), res)


if __name__ == "__main__":
    st.main()
