// SPDX-License-Identifier: Apache-2.0
// What docs/web.md promises about the UI's own files, checked on the files:
// no HTML strings or eval (the CSP and the escaping rule), no inline style,
// nothing but the log key and checkpoint kept in localStorage, every lazy
// module present, the page weight budget, and the accessible names of the
// contract present. The browser suite checks the same names on live pages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = process.env.SLUICE_SOURCE || join(HERE, "..", "..", "..");
const WEB = join(SRC, "web");
const read = (f) => readFileSync(join(WEB, f), "utf8");
const scripts = readdirSync(WEB).filter((f) => f.endsWith(".js"));

test("no HTML strings, eval or inline style in any script", () => {
    for (const f of scripts) {
        const s = read(f);
        for (const bad of [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /\beval\s*\(/, /new\s+Function\s*\(/,
            /\.style\./, /setAttribute\(\s*["']style/, /\bstyle:\s/, /setTimeout\(\s*["'`]/, /\bon[a-z]+\s*=\s*["']/, /sessionStorage/, /DOMParser/, /createContextualFragment/]) {
            assert.doesNotMatch(s, bad, f + " uses " + bad);
        }
    }
});

test("the shell has no inline script or style, and loads only /ui/ assets", () => {
    const html = read("index.html");
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(html, /<style|style=/);
    for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.match(m[1], /^(\/ui\/|\/$|#|\/log$|\/api\/v1\/models$)/, m[1]);
});

test("localStorage holds only the pinned log key and the last verified checkpoint", () => {
    let uses = 0;
    for (const f of scripts) {
        const s = read(f);
        assert.equal((s.match(/localStorage/g) || []).length, (s.match(/localStorage\.(setItem|getItem|removeItem)\(/g) || []).length, f + ": localStorage used other than through setItem/getItem/removeItem");
        for (const m of s.matchAll(/localStorage\.(setItem|getItem|removeItem)\(\s*([^,)]+)/g)) {
            assert.match(m[2], /^(PIN|LAST)$/, f + ": " + m[0]);
            uses++;
        }
        if (/localStorage/.test(s)) {
            assert.match(s, /const PIN = "sluice\.log\.key";/);
            assert.match(s, /const LAST = "sluice\.log\.last";/);
        }
    }
    assert.ok(uses >= 4, "the log pages keep their pin");
});

test("every module a page imports exists, and is an ES module", () => {
    const seen = new Set();
    for (const f of scripts) for (const m of read(f).matchAll(/import\("\/ui\/([a-z]+\.js)"\)/g)) seen.add(m[1]);
    assert.deepEqual([...seen].sort(), ["manage.js", "md.js", "verify.js"]);
    for (const f of seen) assert.match(read(f), /^export (async )?function /m, f);
});

test("the heaviest page's first load stays under 100 KB compressed", () => {
    const gz = (f) => gzipSync(readFileSync(join(WEB, f)), { level: 6 }).length;
    const shell = ["index.html", "app.css", "app.js", "favicon.svg"].reduce((n, f) => n + gz(f), 0);
    const heaviest = shell + gz("md.js") + gz("verify.js") + gz("manage.js");
    assert.ok(heaviest < 100 * 1024, "first load is " + heaviest + " bytes compressed");
    assert.ok(readFileSync(join(WEB, "app.js")).length < 64 * 1024, "app.js grew past 64 KB");
});

test("the accessible names and test ids of docs/web.md are in the pages", () => {
    const all = scripts.map(read).join("\n");
    const names = ["Sign in", "Sign out", "Search models", "Token", "User name", "Full name", "Email", "Affiliation", "Country",
        "Invitation code", "Sign up", "License", "Accept license", "Request access", "Purpose", "Send request", "Appeal",
        "Send appeal", "How to download", "Signed license", "fingerprinted", "Approve", "Deny", "Revoke", "Reason",
        "Expires (days)", "Trace a leaked copy", "Files", "Trace", "Users", "Orgs", "Evaluator keys", "Invitations", "Create invitation"];
    for (const n of names) assert.ok(all.includes('"' + n + '"') || all.includes(n), n);
    for (const id of ["new-token", "access-state", "tier", "trace-result", "checkpoint-state", "proof-state"])
        assert.ok(all.includes('"' + id + '"'), id);
    const doc = readFileSync(join(SRC, "docs", "web.md"), "utf8");
    for (const n of names.filter((x) => x !== "fingerprinted")) assert.ok(doc.includes('"' + n + '"'), "docs/web.md names " + n);
});
