// SPDX-License-Identifier: Apache-2.0
// web/md.js, the model-card renderer: what it renders, and what an
// adversarial card cannot make it do (no element outside its list, no
// script URL, raw HTML shown as text). A tiny fake DOM records what toDom
// builds with createElement/textContent. `node --test` (no npm).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = process.env.SLUICE_SOURCE || join(HERE, "..", "..", "..");
const md = await import("data:text/javascript;base64," + Buffer.from(readFileSync(join(SRC, "web", "md.js"))).toString("base64"));

// A fake document: elements serialise to HTML with every text escaped, so
// the output shows exactly which elements and attributes were made.
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
class El {
    constructor(tag) {
        this.tag = tag;
        this.attrs = {};
        this.kids = [];
        this.dataset = {};
        this.className = "";
    }
    setAttribute(k, v) {
        this.attrs[k] = v;
    }
    appendChild(n) {
        this.kids.push(n);
        return n;
    }
    get html() {
        const a = Object.entries(this.attrs).map(([k, v]) => " " + k + '="' + esc(v) + '"').join("");
        const c = this.className ? ' class="' + this.className + '"' : "";
        const d = Object.entries(this.dataset).map(([k, v]) => " data-" + k + '="' + esc(v) + '"').join("");
        return "<" + this.tag + a + c + d + ">" + this.kids.map((k) => k.html).join("") + "</" + this.tag + ">";
    }
}
const doc = {
    created: [],
    createElement(t) {
        this.created.push(t);
        return new El(t);
    },
    createTextNode(s) {
        return { html: esc(s) };
    },
};
const render = (s, shift = 0) => md.toDom(md.parse(s), new El("div"), doc, shift).html.slice(5, -6);

test("headings, paragraphs, emphasis, code, lists, quotes, rules", () => {
    assert.equal(render("# Title\n\nSome *em* and **strong** and `a<b>`."), "<h1>Title</h1><p>Some <em>em</em> and <strong>strong</strong> and <code>a&lt;b&gt;</code>.</p>");
    assert.equal(render("# T", 2), "<h3>T</h3>");
    assert.equal(render("Title\n=====\nsub\n---"), "<h1>Title</h1><h2>sub</h2>");
    assert.equal(render("- a\n- b *c*\n\n1. x\n2. y"), "<ul><li>a</li><li>b <em>c</em></li></ul><ol><li>x</li><li>y</li></ol>");
    assert.equal(render("3. x"), '<ol start="3"><li>x</li></ol>');
    assert.equal(render("- a\n  - nested"), "<ul><li><p>a</p><ul><li>nested</li></ul></li></ul>");
    assert.equal(render("> quoted\n> more"), "<blockquote><p>quoted\nmore</p></blockquote>");
    assert.equal(render("a\n\n---\n\nb"), "<p>a</p><hr></hr><p>b</p>");
    assert.equal(render("```python\nprint('<x>')\n```"), '<pre tabindex="0" data-lang="python"><code>print(\'&lt;x&gt;\')</code></pre>');
    assert.equal(render("    indented\n    code"), '<pre tabindex="0"><code>indented\ncode</code></pre>');
    assert.equal(render("~~gone~~ snake_case_name"), "<p><del>gone</del> snake_case_name</p>");
});

test("tables with alignment", () => {
    assert.equal(render("| a | b |\n|:--|--:|\n| 1 | 2 |\n| 3 |"),
        '<table><thead><tr><th class="al-left">a</th><th class="al-right">b</th></tr></thead><tbody><tr><td class="al-left">1</td><td class="al-right">2</td></tr><tr><td class="al-left">3</td><td class="al-right"></td></tr></tbody></table>');
});

test("links keep http(s), mailto and relative hrefs, with rel nofollow noopener", () => {
    assert.equal(render("[x](https://e.org/a?b=1)"), '<p><a href="https://e.org/a?b=1" rel="nofollow noopener noreferrer">x</a></p>');
    assert.equal(render("[x](docs/a.md)"), '<p><a href="docs/a.md" rel="nofollow noopener noreferrer">x</a></p>');
    assert.equal(render("<https://e.org>"), '<p><a href="https://e.org" rel="nofollow noopener noreferrer">https://e.org</a></p>');
    assert.equal(render("![a cat](https://e.org/cat.png)"), '<p><a href="https://e.org/cat.png" rel="nofollow noopener noreferrer">image: a cat</a></p>');
});

test("an adversarial card: no script URL, no raw HTML, no element outside the list", () => {
    doc.created = [];
    const evil = [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](java\tscript:alert(1)) [d](\u0001javascript:alert(1))",
        "[e](data:text/html;base64,PHNjcmlwdD4=) [f](vbscript:x) [g](//evil.example/x) [h](file:///etc/passwd)",
        "![i](javascript:alert(1))",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<iframe src=https://evil.example></iframe>",
        "| <b>x</b> |\n|---|\n| <svg onload=alert(1)> |",
        "```\n</code></pre><script>alert(1)</script>\n```",
    ].join("\n\n");
    const html = render(evil);
    assert.doesNotMatch(html, /href="(?!https?:|mailto:)[a-z]+:/i);
    assert.doesNotMatch(html, /href="\/\//);
    assert.doesNotMatch(html, /<(script|img|iframe|svg|b)[ >]/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
    for (const t of doc.created) assert.ok(["div", "p", "a", "table", "thead", "tbody", "tr", "th", "td", "pre", "code"].includes(t), t);
    assert.equal(md.safeHref("javascript:x"), null);
    assert.equal(md.safeHref(" javascript:x"), null);
    assert.equal(md.safeHref("a:b/c"), null);
    assert.equal(md.safeHref("mailto:a@b.org"), "mailto:a@b.org");
});

test("front matter is dropped; huge, deeply nested and unterminated input stays bounded", () => {
    assert.equal(render("---\nlicense: mit\ntags: [x]\n---\n# Card"), "<h1>Card</h1>");
    const t0 = Date.now();
    const deep = ">".repeat(5000) + " x\n" + "- ".repeat(3000) + "y\n" + "*".repeat(20000) + "x [".repeat(20000) + "\n\n" + "[".repeat(50000) + "`".repeat(9999);
    render(deep);
    render("a".repeat(md.MAX_CARD + 1000));
    const big = md.parse("x ".repeat(md.MAX_CARD));
    assert.ok(JSON.stringify(big).length < md.MAX_CARD * 2);
    assert.ok(Date.now() - t0 < 5000, "took " + (Date.now() - t0) + " ms");
    assert.equal(render("```\nno end"), '<pre tabindex="0"><code>no end</code></pre>');
});
