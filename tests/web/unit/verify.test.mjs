// SPDX-License-Identifier: Apache-2.0
// Known-answer tests of web/verify.js (what /log and /ORG/NAME/history check
// in the browser) against tests/vectors/{note,merkle}: signed notes with
// WebCrypto and with the pure-JS Ed25519 fallback, checkpoints, RFC 9162
// inclusion and consistency proofs, canonical JSON. `node --test` (no npm).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = process.env.SLUICE_SOURCE || join(HERE, "..", "..", "..");
const VEC = join(SRC, "tests", "vectors");
export const load = async (name) =>
    import("data:text/javascript;base64," + Buffer.from(readFileSync(join(SRC, "web", name))).toString("base64"));
const v = await load("verify.js");
const json = (p) => JSON.parse(readFileSync(join(VEC, p), "utf8"));
const b64 = (s) => new Uint8Array(Buffer.from(s, "base64"));

const derived = json("note/derived-checkpoints.json");

for (const force of [undefined, "js"]) {
    const via = force ? "JavaScript fallback" : "WebCrypto";
    test("every derived checkpoint verifies (" + via + ")", async () => {
        const key = await v.parseVkey(derived.log_key.vkey);
        for (const c of derived.checkpoints_by_size) {
            const r = await v.verifyCheckpoint(c.checkpoint, key, force);
            assert.equal(r.ok, true, c.tree_size + ": " + r.why);
            assert.equal(r.via, via);
            assert.equal(r.size, c.tree_size);
            assert.equal(r.origin, "example.com/testlog");
        }
    });

    test("a checkpoint with one changed byte fails (" + via + ")", async () => {
        const key = await v.parseVkey(derived.log_key.vkey);
        const good = derived.checkpoints_by_size[5].checkpoint;
        const bad = good.replace("\n5\n", "\n6\n");
        const r = await v.verifyCheckpoint(bad, key, force);
        assert.equal(r.ok, false);
        assert.match(r.why, /does not verify/);
        // a flipped bit in the signature itself
        const lines = good.split("\n");
        const sig = lines[4].split(" ");
        const raw = b64(sig[2]);
        raw[10] ^= 1;
        sig[2] = Buffer.from(raw).toString("base64");
        lines[4] = sig.join(" ");
        assert.equal((await v.verifyCheckpoint(lines.join("\n"), key, force)).ok, false);
    });

    test("sumdb, C2SP and sum.golang.org notes verify (" + via + ")", async () => {
        const s = json("note/sumdb-note.json");
        const peter = await v.parseVkey(s.keys[0].vkey);
        const r = await v.verifyNote(s.signed_by_peter, peter, force);
        assert.equal(r.ok, true, r.why);
        assert.equal(r.text, s.text);
        const c = json("note/c2sp-examples.json").signed_note_example;
        assert.equal((await v.verifyNote(c.note, await v.parseVkey(c.vkey), force)).ok, true);
        const real = json("note/real-checkpoints.json");
        for (const sg of real.signatures) {
            const k = await v.parseVkey(sg.vkey);
            const n = real.checkpoint_text + "\n" + sg.line + "\n";
            assert.equal((await v.verifyNote(n, k, force)).ok, true, sg.vkey);
        }
    });
}

test("a note signed by another key, or by two, is refused", async () => {
    const s = json("note/sumdb-note.json");
    const peter = await v.parseVkey(s.keys[0].vkey);
    const enoch = await v.parseVkey(s.keys[1].vkey);
    assert.match((await v.verifyNote(s.signed_by_peter, enoch)).why, /not by the key/);
    assert.match((await v.verifyNote(s.signed_by_peter_and_enoch, peter)).why, /2 signatures/);
    const cos = readFileSync(join(VEC, "note/derived-testlog-size8-cosigned.note"), "utf8");
    const key = await v.parseVkey(derived.log_key.vkey);
    assert.equal((await v.verifyCheckpoint(cos, key)).ok, false);
});

test("malformed verifier keys and notes get a clear error", async () => {
    await assert.rejects(v.parseVkey("nokey"), /not name\+id\+key/);
    await assert.rejects(v.parseVkey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"), /does not match/);
    const key = await v.parseVkey(derived.log_key.vkey);
    for (const bad of ["", "text\n", "text\n\n— example.com/testlog AAAA\n", "a\n\nnot a sig line\n"]) {
        const r = await v.verifyNote(bad, key);
        assert.equal(r.ok, false);
        assert.ok(r.why.length > 5);
    }
});

test("checkpoint bodies: the parse cases of transparency-dev/formats", () => {
    for (const c of json("note/real-checkpoints.json").parse_cases_from_formats_checkpoint_test) {
        if (typeof c.want === "string" && c.want.startsWith("error")) assert.throws(() => v.parseCheckpoint(c.text), c.want);
        else assert.throws(() => v.parseCheckpoint(c.text), /32 bytes/); // a SHA-256 log's root is 32 bytes
    }
    const ok = derived.checkpoints_by_size[3].checkpoint.split("\n\n")[0] + "\n";
    assert.equal(v.parseCheckpoint(ok).size, 3);
    assert.equal(v.parseCheckpoint(ok + "extension line\n").size, 3);
    for (const bad of [ok.replace("\n3\n", "\n03\n"), ok.replace("\n3\n", "\n-3\n"), ok.replace("\n3\n", "\n99999999999999999999\n")]) {
        assert.throws(() => v.parseCheckpoint(bad), /tree size/);
    }
});

test("RFC 8032 7.1 TEST 1 with the JS fallback, and a non-canonical S is refused", async () => {
    const pub = v.unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const sig = v.unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    assert.equal(await v.ed25519VerifyJs(pub, sig, new Uint8Array(0)), true);
    assert.equal(await v.ed25519VerifyJs(pub, sig, new Uint8Array([0])), false);
    // S + L verifies mathematically but is not canonical (RFC 8032 5.1.7 step 1)
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
    s += L;
    const mall = sig.slice();
    for (let i = 32; i < 64; i++) {
        mall[i] = Number(s & 255n);
        s >>= 8n;
    }
    assert.equal(await v.ed25519VerifyJs(pub, mall, new Uint8Array(0)), false);
});

const unb = (s) => (s ? b64(s) : new Uint8Array(0));

function probes(kind) {
    const out = [];
    const walk = (d) => {
        for (const f of readdirSync(d)) {
            const p = join(d, f);
            if (statSync(p).isDirectory()) walk(p);
            else if (f.endsWith(".json")) out.push([p, JSON.parse(readFileSync(p, "utf8"))]);
        }
    };
    walk(join(VEC, "merkle/transparency-dev-merkle", kind));
    return out;
}

test("transparency-dev inclusion probes: happy paths verify, every mutation fails", async () => {
    const all = probes("inclusion");
    assert.ok(all.length > 50);
    for (const [p, c] of all) {
        const ok = await v.verifyInclusion(c.leafIdx, c.treeSize, unb(c.leafHash), (c.proof || []).map(unb), unb(c.root));
        assert.equal(ok, !c.wantErr, p + ": " + c.desc);
    }
});

test("transparency-dev consistency probes: happy paths verify, every mutation fails", async () => {
    const all = probes("consistency");
    assert.ok(all.length > 50);
    for (const [p, c] of all) {
        if (p.endsWith("sizes-are-equal-one-and-proof-is-empty.json")) continue; // 12-byte roots (README)
        const ok = await v.verifyConsistency(c.size1, c.size2, unb(c.root1), unb(c.root2), (c.proof || []).map(unb));
        assert.equal(ok, !c.wantErr, p + ": " + c.desc);
    }
});

test("every derived proof of the 8-leaf tree, and leaf hashes from entries", async () => {
    const d = json("merkle/derived-all-proofs-8-leaves.json");
    for (const [i, e] of d.leaf_inputs_hex.entries()) {
        const leaf = await v.leafHash(v.unhex(e));
        const p = d.inclusion_proofs.find((x) => x.leaf_index === i && x.tree_size === 8);
        assert.equal(v.hex(leaf), p.leaf_hash);
    }
    for (const p of d.inclusion_proofs) {
        const args = [p.leaf_index, p.tree_size, v.unhex(p.leaf_hash), p.proof.map(v.unhex), v.unhex(p.root)];
        assert.equal(await v.verifyInclusion(...args), true);
        args[0] = (p.leaf_index + 1) % p.tree_size;
        if (p.tree_size > 1) assert.equal(await v.verifyInclusion(...args), false);
    }
    for (const p of d.consistency_proofs) {
        const r1 = v.unhex(d.root_hashes_by_tree_size[p.size1 ?? p.first]);
        const r2 = v.unhex(d.root_hashes_by_tree_size[p.size2 ?? p.second]);
        const s1 = p.size1 ?? p.first, s2 = p.size2 ?? p.second;
        assert.equal(await v.verifyConsistency(s1, s2, r1, r2, p.proof.map(v.unhex)), true, s1 + "->" + s2);
        if (s1 < s2) assert.equal(await v.verifyConsistency(s1, s2, r2, r1, p.proof.map(v.unhex)), false);
    }
});

test("canonical JSON matches the C serialiser's rules", () => {
    assert.equal(v.canonicalJson({ b: 1, a: [true, null, "x\ny\u0001\"\\/é"] }), '{"a":[true,null,"x\\ny\\u0001\\"\\\\/é"],"b":1}');
    assert.equal(v.canonicalJson({ z: 0.5, y: 1e-7, x: 1.5e20, w: 2, v: 123456.789 }), '{"v":123456.789,"w":2,"x":1.5e+20,"y":1e-07,"z":0.5}');
    // keys sort by UTF-8 bytes, not UTF-16 units: U+FF5E sorts before U+1F600
    assert.equal(v.canonicalJson({ "\u{1F600}": 1, "\uFF5E": 2 }), '{"\uFF5E":2,"\u{1F600}":1}');
});

test("base64 must be canonical", () => {
    assert.deepEqual([...v.b64decode("AAE=")], [0, 1]);
    assert.throws(() => v.b64decode("AAF="), /canonical/);
    assert.throws(() => v.b64decode("AA E="), /base64/);
});

test("the derived tlog-proof proves entry 5; another entry, index or key does not", async () => {
    const text = readFileSync(join(VEC, "note/derived-testlog-index5.tlog-proof"), "utf8");
    const d = json("merkle/rfc6962-reference-8-leaves.json");
    const key = await v.parseVkey(derived.log_key.vkey);
    // the proof's checkpoint carries a witness cosignature, which the log pages refuse like the CLI
    assert.match((await v.verifyTlogProof(text, v.unhex(d.leaf_inputs_hex[5]), key)).why, /2 signatures/);
    const plain = text.replace(/\n— example\.com\/witness [^\n]+\n$/, "\n");
    const r = await v.verifyTlogProof(plain, v.unhex(d.leaf_inputs_hex[5]), key);
    assert.equal(r.ok, true, r.why);
    assert.equal(r.index, 5);
    assert.equal(r.size, 8);
    assert.equal((await v.verifyTlogProof(plain, v.unhex(d.leaf_inputs_hex[4]), key)).ok, false);
    assert.equal((await v.verifyTlogProof(plain.replace("index 5", "index 4"), v.unhex(d.leaf_inputs_hex[5]), key)).ok, false);
    const peter = await v.parseVkey(json("note/sumdb-note.json").keys[0].vkey);
    assert.match((await v.verifyTlogProof(plain, v.unhex(d.leaf_inputs_hex[5]), peter)).why, /checkpoint/);
    for (const bad of ["", "c2sp.org/tlog-proof@v1\nindex 05\n\n", plain.replace(/\n\n[^]*$/, "\n"), plain.replace(/^(c2sp[^\n]*\nindex 5\n)[^\n]+/, "$1AAAA")])
        assert.equal((await v.verifyTlogProof(bad, v.unhex(d.leaf_inputs_hex[5]), key)).ok, false, JSON.stringify(bad.slice(0, 60)));
});
