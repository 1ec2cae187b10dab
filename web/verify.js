// SPDX-License-Identifier: Apache-2.0
// What the auditor pages check in the browser (docs/web.md, "Verifying in the
// browser"): C2SP signed notes and checkpoints (src/tlog/note.c), Ed25519 with
// WebCrypto or a small BigInt fallback (RFC 8032 5.1.7), RFC 9162 Merkle
// inclusion and consistency proofs with sluice's hashes (src/tlog/merkle.c),
// and the canonical JSON of log entries (src/common/jsonout.c). Pure
// functions over bytes; no DOM. An ES module loaded on /log and history only.

const enc = new TextEncoder();
const subtle = () => (globalThis.crypto && globalThis.crypto.subtle) || null;

export function utf8(s) {
    return enc.encode(s);
}

export function hex(b) {
    let s = "";
    for (const x of b) s += x.toString(16).padStart(2, "0");
    return s;
}

export function unhex(s) {
    if (s.length % 2 || /[^0-9a-f]/i.test(s)) throw new Error("not hex");
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function b64encode(b) {
    let s = "";
    for (let i = 0; i < b.length; i += 3) {
        const n = (b[i] << 16) | ((b[i + 1] || 0) << 8) | (b[i + 2] || 0);
        s += B64[n >> 18] + B64[(n >> 12) & 63];
        s += i + 1 < b.length ? B64[(n >> 6) & 63] : "=";
        s += i + 2 < b.length ? B64[n & 63] : "=";
    }
    return s;
}

// Standard padded base64 that must also be canonical (the unused bits of the
// last group zero), as the server's parser demands; throws otherwise.
export function b64decode(s) {
    if (typeof s !== "string" || s.length % 4 || /[^A-Za-z0-9+/=]/.test(s) ||
        /=[^=]/.test(s) || /={3}$/.test(s))
        throw new Error("not base64");
    const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
    const out = new Uint8Array((s.length / 4) * 3 - pad);
    let o = 0;
    for (let i = 0; i < s.length; i += 4) {
        const v = [0, 1, 2, 3].map((k) => (s[i + k] === "=" ? 0 : B64.indexOf(s[i + k])));
        const n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        if (o < out.length) out[o++] = n >> 16;
        if (o < out.length) out[o++] = (n >> 8) & 255;
        if (o < out.length) out[o++] = n & 255;
    }
    if (b64encode(out) !== s) throw new Error("not canonical base64");
    return out;
}

export function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
        out.set(p, o);
        o += p.length;
    }
    return out;
}

export function equal(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
}

export async function sha256(b) {
    if (!subtle()) throw new Error("this page is not a secure context: WebCrypto is unavailable");
    return new Uint8Array(await subtle().digest("SHA-256", b));
}

async function sha512(b) {
    if (!subtle()) throw new Error("this page is not a secure context: WebCrypto is unavailable");
    return new Uint8Array(await subtle().digest("SHA-512", b));
}

/* ---------- Ed25519 fallback (RFC 8032 5.1.7, cofactorless like OpenSSL) ---------- */

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const mod = (a, m = P) => ((a % m) + m) % m;
function pow(b, e, m = P) {
    let r = 1n;
    b = mod(b, m);
    while (e > 0n) {
        if (e & 1n) r = (r * b) % m;
        b = (b * b) % m;
        e >>= 1n;
    }
    return r;
}
const inv = (a) => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const D2 = mod(2n * D);
const SQRTM1 = pow(2n, (P - 1n) / 4n);
const GX = 15112221349535400772501151409588531511454012693041857206046113283949847762202n;
const GY = 46316835694926478169428394003475163141307993866256225615783033603165251855960n;
const G = [GX, GY, 1n, mod(GX * GY)];
const ZERO = [0n, 1n, 1n, 0n];

function add(p, q) {
    const a = mod((p[1] - p[0]) * (q[1] - q[0]));
    const b = mod((p[1] + p[0]) * (q[1] + q[0]));
    const c = mod(p[3] * D2 * q[3]);
    const d = mod(p[2] * 2n * q[2]);
    const e = b - a, f = d - c, g = d + c, h = b + a;
    return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

function mul(s, p) {
    let r = ZERO;
    let q = p;
    while (s > 0n) {
        if (s & 1n) r = add(r, q);
        q = add(q, q);
        s >>= 1n;
    }
    return r;
}

function leToBig(b) {
    let n = 0n;
    for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
    return n;
}

function encodePoint(p) {
    const zi = inv(p[2]);
    const x = mod(p[0] * zi), y = mod(p[1] * zi);
    const out = new Uint8Array(32);
    let v = y;
    for (let i = 0; i < 32; i++) {
        out[i] = Number(v & 255n);
        v >>= 8n;
    }
    if (x & 1n) out[31] |= 0x80;
    return out;
}

function decodePoint(b) {
    const c = b.slice();
    const sign = c[31] >> 7;
    c[31] &= 0x7f;
    const y = leToBig(c);
    if (y >= P) return null;
    const u = mod(y * y - 1n), v = mod(D * y * y + 1n);
    let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
    const vx2 = mod(v * x * x);
    if (vx2 === mod(-u)) x = mod(x * SQRTM1);
    else if (vx2 !== u) return null;
    if (x === 0n && sign) return null;
    if (Number(x & 1n) !== sign) x = mod(-x);
    return [x, y, 1n, mod(x * y)];
}

export async function ed25519VerifyJs(pub, sig, msg) {
    if (pub.length !== 32 || sig.length !== 64) return false;
    const a = decodePoint(pub);
    if (!a) return false;
    const s = leToBig(sig.subarray(32));
    if (s >= L) return false;
    const h = mod(leToBig(await sha512(concat(sig.subarray(0, 32), pub, msg))), L);
    const negA = [mod(-a[0]), a[1], a[2], mod(-a[3])];
    const r = add(mul(s, G), mul(h, negA));
    return equal(encodePoint(r), sig.subarray(0, 32));
}

// Verifies with WebCrypto when the browser has Ed25519, else with the
// fallback above. Answers {ok, via}; `force` = "js" skips WebCrypto.
export async function ed25519Verify(pub, sig, msg, force) {
    if (force !== "js" && subtle()) {
        let key = null;
        try {
            key = await subtle().importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
        } catch (e) {
            key = null; /* no Ed25519 in this browser, or a malformed key: the fallback decides */
        }
        if (key) return { ok: await subtle().verify({ name: "Ed25519" }, key, sig, msg), via: "WebCrypto" };
    }
    return { ok: await ed25519VerifyJs(pub, sig, msg), via: "JavaScript fallback" };
}

/* ---------- signed notes (C2SP signed-note; src/tlog/note.c) ---------- */

// Parses a verifier key "name+hex8+base64(0x01||pub)" and checks its key ID.
export async function parseVkey(vkey) {
    const s = vkey.trim();
    const i = s.indexOf("+"), j = i < 0 ? -1 : s.indexOf("+", i + 1);
    if (i <= 0 || j < 0) throw new Error("verifier key: not name+id+key");
    const name = s.slice(0, i), idHex = s.slice(i + 1, j);
    if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error("verifier key: the key ID is not 8 hex digits");
    const raw = b64decode(s.slice(j + 1));
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("verifier key: not an Ed25519 key");
    const pub = raw.subarray(1);
    const id = await keyId(name, pub);
    if (hex(id) !== idHex) throw new Error("verifier key: the key ID does not match the key");
    return { name, id, pub, vkey: s };
}

export async function keyId(name, pub) {
    return (await sha256(concat(utf8(name + "\n"), new Uint8Array([1]), pub))).subarray(0, 4);
}

// Splits a note into its text and signature lines; throws on a malformed note.
export function parseNote(note) {
    if (note.length > 1 << 20) throw new Error("note: larger than 1 MiB");
    const k = note.lastIndexOf("\n\n");
    if (k < 0) throw new Error("note: no blank line before the signatures");
    const text = note.slice(0, k + 1);
    const rest = note.slice(k + 2);
    if (!rest.endsWith("\n")) throw new Error("note: the last signature line lacks its newline");
    const sigs = [];
    for (const line of rest.slice(0, -1).split("\n")) {
        const m = /^\u2014 (\S+) (\S+)$/.exec(line);
        if (!m) throw new Error("note: malformed signature line \"" + line.slice(0, 60) + "\"");
        const raw = b64decode(m[2]);
        if (raw.length < 5) throw new Error("note: signature too short");
        sigs.push({ name: m[1], id: raw.subarray(0, 4), sig: raw.subarray(4) });
    }
    if (!sigs.length) throw new Error("note: no signature");
    return { text, sigs };
}

// Verifies a note against one key (from parseVkey). Like the CLI (docs/log.md)
// it wants exactly one signature, the key's. Answers {ok, why, text, via}.
export async function verifyNote(note, key, force) {
    let n;
    try {
        n = parseNote(note);
    } catch (e) {
        return { ok: false, why: e.message };
    }
    if (n.sigs.length !== 1)
        return { ok: false, why: "the note carries " + n.sigs.length + " signatures; only the log key's is expected" };
    const s = n.sigs[0];
    if (s.name !== key.name) return { ok: false, why: "signed by \"" + s.name + "\", not by the key \"" + key.name + "\"" };
    if (!equal(s.id, key.id)) return { ok: false, why: "the signature's key ID is not the pinned key's" };
    if (s.sig.length !== 64) return { ok: false, why: "the signature is not 64 bytes" };
    const r = await ed25519Verify(key.pub, s.sig, utf8(n.text), force);
    if (!r.ok) return { ok: false, why: "the Ed25519 signature does not verify", via: r.via };
    return { ok: true, text: n.text, via: r.via };
}

// Parses a checkpoint body (origin, size, root); throws on a malformed one.
export function parseCheckpoint(text) {
    const lines = text.split("\n");
    if (lines.length < 4 || lines[lines.length - 1] !== "") throw new Error("checkpoint: fewer than three lines");
    const [origin, size, root] = lines;
    if (!origin) throw new Error("checkpoint: empty origin");
    if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || Number(size) > Number.MAX_SAFE_INTEGER)
        throw new Error("checkpoint: size \"" + size.slice(0, 30) + "\" is not a tree size");
    let r;
    try {
        r = b64decode(root);
    } catch (e) {
        throw new Error("checkpoint: the root hash is not base64");
    }
    if (r.length !== 32) throw new Error("checkpoint: the root hash is not 32 bytes");
    return { origin, size: Number(size), root: r, rootB64: root };
}

// The whole check of a checkpoint note: signature by the key, then a body
// whose origin is the key's name. Answers {ok, why, origin, size, root, via}.
export async function verifyCheckpoint(note, key, force) {
    const v = await verifyNote(note, key, force);
    if (!v.ok) return v;
    try {
        const c = parseCheckpoint(v.text);
        if (c.origin !== key.name) return { ok: false, why: "origin \"" + c.origin + "\" is not the key's name \"" + key.name + "\"" };
        return Object.assign({ ok: true, via: v.via }, c);
    } catch (e) {
        return { ok: false, why: e.message };
    }
}

/* ---------- Merkle proofs (RFC 9162 2.1.3.2 and 2.1.4.2) ---------- */

export async function leafHash(entry) {
    return sha256(concat(new Uint8Array([0]), entry));
}

async function node(l, r) {
    return sha256(concat(new Uint8Array([1]), l, r));
}

const odd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);

// True when `proof` (array of 32-byte hashes) proves `leaf` at `index` in the
// tree of `size` whose root is `root`.
export async function verifyInclusion(index, size, leaf, proof, root) {
    if (!(index >= 0 && index < size) || leaf.length !== 32 || root.length !== 32) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
        if (p.length !== 32 || sn === 0) return false;
        if (odd(fn) || fn === sn) {
            r = await node(p, r);
            while (!odd(fn) && fn !== 0) {
                fn = half(fn);
                sn = half(sn);
            }
        } else {
            r = await node(r, p);
        }
        fn = half(fn);
        sn = half(sn);
    }
    return sn === 0 && equal(r, root);
}

// True when `proof` shows the tree of size1 (root1) is a prefix of size2 (root2).
export async function verifyConsistency(size1, size2, root1, root2, proof) {
    if (size1 < 1 || size1 > size2) return false;
    if (size1 === size2) return proof.length === 0 && equal(root1, root2);
    if (!proof.length || proof.some((p) => p.length !== 32)) return false;
    let path = proof;
    if (Number.isInteger(Math.log2(size1))) path = [root1].concat(proof);
    let fn = size1 - 1, sn = size2 - 1;
    while (odd(fn)) {
        fn = half(fn);
        sn = half(sn);
    }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
        if (sn === 0) return false;
        if (odd(fn) || fn === sn) {
            fr = await node(c, fr);
            sr = await node(c, sr);
            while (!odd(fn) && fn !== 0) {
                fn = half(fn);
                sn = half(sn);
            }
        } else {
            sr = await node(sr, c);
        }
        fn = half(fn);
        sn = half(sn);
    }
    return sn === 0 && equal(fr, root1) && equal(sr, root2);
}

/* ---------- canonical JSON of log entries (src/common/jsonout.c) ---------- */

// C's "%.*g" for the shortest precision that reads back (sl_fmt_double).
function fmtDouble(v) {
    if (!Number.isFinite(v)) return Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toFixed(0);
    for (let prec = 1; prec <= 17; prec++) {
        const e = v.toExponential(prec - 1);
        if (Number(e) !== v) continue;
        let [mant, ex] = e.split("e");
        const x = Number(ex);
        if (x < -4 || x >= prec) {
            if (mant.includes(".")) mant = mant.replace(/0+$/, "").replace(/\.$/, "");
            return mant + "e" + (x < 0 ? "-" : "+") + String(Math.abs(x)).padStart(2, "0");
        }
        let f = v.toFixed(Math.max(0, prec - 1 - x));
        if (f.includes(".")) f = f.replace(/0+$/, "").replace(/\.$/, "");
        return f;
    }
    return String(v);
}

function putString(s) {
    let o = '"';
    for (const ch of s) {
        const c = ch.charCodeAt(0);
        if (ch === '"') o += '\\"';
        else if (ch === "\\") o += "\\\\";
        else if (ch === "\n") o += "\\n";
        else if (ch === "\r") o += "\\r";
        else if (ch === "\t") o += "\\t";
        else if (ch === "\b") o += "\\b";
        else if (ch === "\f") o += "\\f";
        else if (c < 0x20) o += "\\u00" + c.toString(16).padStart(2, "0");
        else o += ch;
    }
    return o + '"';
}

function cmpBytes(a, b) {
    const x = utf8(a), y = utf8(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
}

// The exact bytes the server logged for a parsed entry: keys sorted by byte
// value, no whitespace, integers exact, reals as the C side prints them.
export function canonicalJson(v) {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "number") return fmtDouble(v);
    if (typeof v === "string") return putString(v);
    if (Array.isArray(v)) return "[" + v.map(canonicalJson).join(",") + "]";
    const keys = Object.keys(v).sort(cmpBytes);
    return "{" + keys.map((k) => putString(k) + ":" + canonicalJson(v[k])).join(",") + "}";
}

/* ---------- tlog-proof (c2sp.org/tlog-proof@v1; src/tlog/note.c) ---------- */

// Parses a tlog-proof: header, optional "extra", "index N", the proof
// hashes, an empty line, then the signed checkpoint; throws when malformed.
export function parseTlogProof(text) {
    const lines = text.split("\n");
    if (lines[0] !== "c2sp.org/tlog-proof@v1") throw new Error("tlog-proof: line 1 is not \"c2sp.org/tlog-proof@v1\"");
    let i = 1;
    let extra = null;
    if ((lines[i] || "").startsWith("extra ")) extra = b64decode(lines[i++].slice(6));
    const m = /^index (0|[1-9][0-9]{0,15})$/.exec(lines[i] || "");
    if (!m) throw new Error("tlog-proof: line " + (i + 1) + ": want \"index \" and the leaf index");
    const index = Number(m[1]);
    const hashes = [];
    for (i++; i < lines.length && lines[i] !== ""; i++) {
        let hsh = null;
        try {
            hsh = b64decode(lines[i]);
        } catch (e) {
            hsh = null;
        }
        if (!hsh || hsh.length !== 32) throw new Error("tlog-proof: line " + (i + 1) + ": not the base64 of a 32-byte hash");
        hashes.push(hsh);
    }
    if (i >= lines.length) throw new Error("tlog-proof: no empty line before the checkpoint");
    const checkpoint = lines.slice(i + 1).join("\n");
    if (!checkpoint) throw new Error("tlog-proof: no checkpoint after the empty line");
    return { index, hashes, checkpoint, extra };
}

// Checks that `entry` (the logged bytes) is at the proof's index in the
// checkpoint it carries, signed by `key`. Answers {ok, why, index, size}.
export async function verifyTlogProof(text, entry, key, force) {
    let p;
    try {
        p = parseTlogProof(text);
    } catch (e) {
        return { ok: false, why: e.message };
    }
    const c = await verifyCheckpoint(p.checkpoint, key, force);
    if (!c.ok) return { ok: false, why: "its checkpoint: " + c.why, index: p.index };
    const ok = await verifyInclusion(p.index, c.size, await leafHash(entry), p.hashes, c.root);
    if (!ok) return { ok: false, why: "entry " + p.index + " is not proven in the checkpoint of size " + c.size, index: p.index, size: c.size };
    return { ok: true, index: p.index, size: c.size };
}
