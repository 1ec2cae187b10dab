// SPDX-License-Identifier: Apache-2.0
// web/verify.js against a real `sluice serve` (tests/web/serve_fixture.py):
// the checkpoint verifies under /log/key, every event of the model report
// is proven in it after re-serialising its entry canonically (and those
// bytes are exactly the logged ones), a consistency proof holds, the
// requester's license verifies; changed bytes anywhere fail. `node --test`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = process.env.SLUICE_SOURCE || join(HERE, "..", "..", "..");
const v = await import("data:text/javascript;base64," + Buffer.from(readFileSync(join(SRC, "web", "verify.js"))).toString("base64"));

let proc, srv;
before(async () => {
    proc = spawn("python3", [join(SRC, "tests", "web", "serve_fixture.py")], { stdio: ["pipe", "pipe", "inherit"] });
    const line = await new Promise((res, rej) => {
        const rl = createInterface({ input: proc.stdout });
        rl.once("line", res);
        proc.once("exit", (c) => rej(new Error("serve_fixture.py exited with " + c)));
    });
    srv = JSON.parse(line);
    srv.url = "http://127.0.0.1:" + srv.port;
}, { timeout: 240000 });

after(() => {
    if (proc) proc.stdin.end();
});

async function get(path, token, accept) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (accept) headers.Accept = accept;
    const r = await fetch(srv.url + path, { headers });
    assert.equal(r.status, 200, path + ": " + r.status);
    return (r.headers.get("content-type") || "").includes("json") ? r.json() : r.text();
}

test("the server's checkpoint verifies under its key, a changed one does not", async () => {
    const key = await v.parseVkey(await get("/log/key"));
    const note = await get("/log/checkpoint");
    const c = await v.verifyCheckpoint(note, key);
    assert.equal(c.ok, true, c.why);
    assert.ok(c.size >= 4);
    const js = await v.verifyCheckpoint(note, key, "js");
    assert.equal(js.ok, true, "the JS fallback agrees with WebCrypto");
    const grown = note.replace("\n" + c.size + "\n", "\n" + (c.size + 1) + "\n");
    assert.match((await v.verifyCheckpoint(grown, key)).why, /does not verify/);
    assert.match((await v.verifyCheckpoint(grown, key, "js")).why, /does not verify/);
});

test("every event of the model report is proven in its checkpoint; canonical JSON gives the logged bytes", async () => {
    const key = await v.parseVkey(await get("/log/key"));
    const rep = await get("/api/v1/models/lab/m/report");
    const c = await v.verifyCheckpoint(rep.checkpoint, key);
    assert.equal(c.ok, true, c.why);
    assert.equal(c.size, rep.checkpoint_size);
    const types = rep.events.map((e) => e.entry.type);
    for (const t of ["version.published", "access.requested", "access.approved", "license.issued"]) assert.ok(types.includes(t), t + " in " + types);
    const texts = new Map((await get("/api/v1/log/entries?start=0&end=" + c.size)).map((e) => [e.index, e.text]));
    for (const ev of rep.events) {
        const canon = v.canonicalJson(ev.entry);
        assert.equal(canon, texts.get(ev.index), "entry " + ev.index + " re-serialises to the logged bytes");
        const leaf = await v.leafHash(v.utf8(canon));
        const proof = ev.inclusion_proof.map(v.b64decode);
        assert.equal(await v.verifyInclusion(ev.index, c.size, leaf, proof, c.root), true, "entry " + ev.index);
        const forged = Object.assign({}, ev.entry, { type: ev.entry.type + "x" });
        assert.equal(await v.verifyInclusion(ev.index, c.size, await v.leafHash(v.utf8(v.canonicalJson(forged))), proof, c.root), false);
        if (c.size > 1) assert.equal(await v.verifyInclusion((ev.index + 1) % c.size, c.size, leaf, proof, c.root), false);
    }
});

test("a consistency proof from the server holds between an older tree and the checkpoint", async () => {
    const key = await v.parseVkey(await get("/log/key"));
    const c = await v.verifyCheckpoint(await get("/log/checkpoint"), key);
    const ents = await get("/api/v1/log/entries?start=0&end=2");
    const l0 = await v.leafHash(v.utf8(ents[0].text));
    const l1 = await v.leafHash(v.utf8(ents[1].text));
    const root2 = await v.sha256(v.concat(new Uint8Array([1]), l0, l1));
    const p = (await get("/api/v1/log/proof/consistency?from=2&to=" + c.size)).proof.map(v.b64decode);
    assert.equal(await v.verifyConsistency(2, c.size, root2, c.root, p), true);
    const other = root2.slice();
    other[0] ^= 1;
    assert.equal(await v.verifyConsistency(2, c.size, other, c.root, p), false);
});

test("the requester's signed license verifies under the log key, and its tlog-proof proves its issuance", async () => {
    const key = await v.parseVkey(await get("/log/key"));
    const doc = await get("/api/v1/models/lab/m/license", srv.bob, "application/json");
    const r = await v.verifyNote(doc.license, key);
    assert.equal(r.ok, true, r.why);
    assert.match(r.text, /^sluice license v1\n/);
    assert.equal((await v.verifyNote(doc.license.replace("tier gated", "tier open"), key)).ok, false);
    // its issuance is in the log: the entry at log_index names this license, and the proof holds
    const [ent] = await get("/api/v1/log/entries?start=" + doc.log_index + "&end=" + (doc.log_index + 1));
    assert.equal(ent.entry.type, "license.issued");
    assert.equal("id " + ent.entry.license, r.text.split("\n")[1]);
    const p = await v.verifyTlogProof(doc.log_proof, v.utf8(ent.text), key);
    assert.equal(p.ok, true, p.why);
    assert.equal(p.index, doc.log_index);
    assert.equal((await v.verifyTlogProof(doc.log_proof, v.utf8(ent.text.replace("gated", "open")), key)).ok, false);
});

test("the decision's tlog-proof proves the version's publication entry", async () => {
    const key = await v.parseVkey(await get("/log/key"));
    const d = await get("/api/v1/models/lab/m/versions/main/decision");
    const [ent] = await get("/api/v1/log/entries?start=" + d.log_index + "&end=" + (d.log_index + 1));
    assert.equal(ent.entry.type, "version.published");
    assert.equal(ent.entry.model, "lab/m");
    const r = await v.verifyTlogProof(d.log_proof, v.utf8(ent.text), key);
    assert.equal(r.ok, true, r.why);
    const [other] = await get("/api/v1/log/entries?start=0&end=1");
    assert.equal((await v.verifyTlogProof(d.log_proof, v.utf8(other.text), key)).ok, d.log_index === 0);
});
