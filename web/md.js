// SPDX-License-Identifier: Apache-2.0
// A small, safe Markdown renderer for model cards (docs/web.md, "Model
// cards"). parse() turns text into a tree of {t, c, ...} nodes whose types
// come from a fixed list; toDom() builds it with createElement/textContent
// only. Raw HTML is never interpreted (it shows as text), links keep only
// http(s), mailto and relative hrefs, images become links. An ES module.

export const MAX_CARD = 512 * 1024;
const MAX_DEPTH = 8;

// The only element types parse() ever produces.
export const TYPES = ["h", "p", "pre", "ul", "ol", "li", "blockquote", "hr", "table", "thead",
    "tbody", "tr", "th", "td", "em", "strong", "code", "a", "del", "br"];

// Returns the href to keep, or null: http(s), mailto, or a relative
// reference (no scheme), after stripping what browsers ignore.
export function safeHref(url) {
    const u = String(url).replace(/[\u0000-\u0020\u007f-\u009f]/g, "");
    if (!u) return null;
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(u);
    if (m) return /^(https?|mailto)$/i.test(m[1]) ? u : null;
    if (u.startsWith("//")) return null; /* protocol-relative: another origin with our scheme */
    if (/^[^/?#]*:/.test(u)) return null;
    return u;
}

function stripFrontMatter(s) {
    if (!s.startsWith("---\n")) return s;
    const end = s.indexOf("\n---", 4);
    if (end < 0) return s;
    const nl = s.indexOf("\n", end + 4);
    return nl < 0 ? "" : s.slice(nl + 1);
}

/* ---------- inline ---------- */

function inline(s, depth) {
    const out = [];
    let text = "";
    const flush = () => {
        if (text) out.push(text);
        text = "";
    };
    let i = 0;
    while (i < s.length) {
        const ch = s[i];
        if (ch === "\\" && i + 1 < s.length && /[!-/:-@[-`{-~]/.test(s[i + 1])) {
            text += s[i + 1];
            i += 2;
            continue;
        }
        if (ch === "`") {
            let n = 0;
            while (s[i + n] === "`") n++;
            const fence = "`".repeat(n);
            const end = s.indexOf(fence, i + n);
            if (end > 0 && s[end + n] !== "`") {
                flush();
                let code = s.slice(i + n, end);
                if (/^ .* $/.test(code) && code.trim()) code = code.slice(1, -1);
                out.push({ t: "code", c: [code] });
                i = end + n;
                continue;
            }
            text += fence;
            i += n;
            continue;
        }
        if ((ch === "*" || ch === "_" || ch === "~") && depth < MAX_DEPTH) {
            const dbl = s[i + 1] === ch;
            if (ch === "~" && !dbl) {
                text += ch;
                i++;
                continue;
            }
            const mark = dbl ? ch + ch : ch;
            const start = i + mark.length;
            const end = s.indexOf(mark, start + 1);
            const wordy = ch === "_" && i > 0 && /\w/.test(s[i - 1]);
            if (end > start && !/\s/.test(s[start]) && !/\s/.test(s[end - 1]) && !wordy) {
                flush();
                out.push({ t: ch === "~" ? "del" : dbl ? "strong" : "em", c: inline(s.slice(start, end), depth + 1) });
                i = end + mark.length;
                continue;
            }
            text += mark;
            i += mark.length;
            continue;
        }
        if ((ch === "[" || (ch === "!" && s[i + 1] === "[")) && depth < MAX_DEPTH) {
            const img = ch === "!";
            const lb = img ? i + 1 : i;
            let k = lb + 1, lvl = 1;
            /* link text is bounded, so a line of brackets stays linear */
            for (const stop = Math.min(s.length, lb + 2000); k < stop && lvl; k++) {
                if (s[k] === "\\") k++;
                else if (s[k] === "[") lvl++;
                else if (s[k] === "]") lvl--;
            }
            const rb = k - 1;
            if (!lvl && s[rb + 1] === "(") {
                const close = s.indexOf(")", rb + 2);
                if (close > 0) {
                    const inner = s.slice(lb + 1, rb);
                    const target = s.slice(rb + 2, close).trim().split(/\s+/)[0].replace(/^<|>$/g, "");
                    const href = safeHref(target);
                    flush();
                    const label = img ? ["image: " + (inner || target)] : inline(inner, depth + 1);
                    if (href) out.push({ t: "a", href, c: label });
                    else out.push(...label);
                    i = close + 1;
                    continue;
                }
            }
            text += ch;
            i++;
            continue;
        }
        if (ch === "<") {
            const m = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/i.exec(s.slice(i));
            if (m) {
                flush();
                out.push({ t: "a", href: m[1], c: [m[1]] });
                i += m[0].length;
                continue;
            }
        }
        if (ch === " " && s.slice(i, i + 3) === "  \n") {
            flush();
            out.push({ t: "br", c: [] });
            i += 3;
            continue;
        }
        text += ch;
        i++;
    }
    flush();
    return out;
}

/* ---------- blocks ---------- */

const reHeading = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const reFence = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const reHr = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const reBullet = /^( {0,3})([-*+])([ \t]+|$)(.*)$/;
const reOrdered = /^( {0,3})(\d{1,9})[.)]([ \t]+|$)(.*)$/;
const reQuote = /^ {0,3}> ?(.*)$/;
const reTableSep = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;

function cells(line) {
    let l = line.trim();
    if (l.startsWith("|")) l = l.slice(1);
    if (l.endsWith("|") && !l.endsWith("\\|")) l = l.slice(0, -1);
    return l.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

function blocks(lines, depth) {
    const out = [];
    let i = 0;
    const isBlank = (l) => !l || !l.trim();
    const startsBlock = (l) =>
        reHeading.test(l) || reFence.test(l) || reHr.test(l) || reQuote.test(l) || reBullet.test(l) || reOrdered.test(l);
    while (i < lines.length) {
        const line = lines[i];
        let m;
        if (isBlank(line)) {
            i++;
            continue;
        }
        if ((m = reFence.exec(line))) {
            const fence = m[1];
            const body = [];
            i++;
            while (i < lines.length && !new RegExp("^ {0,3}" + fence[0] + "{" + fence.length + ",}[ \\t]*$").test(lines[i]))
                body.push(lines[i++]);
            i++;
            out.push({ t: "pre", lang: m[2].trim().split(/\s+/)[0] || "", c: [{ t: "code", c: [body.join("\n")] }] });
            continue;
        }
        if ((m = reHeading.exec(line))) {
            out.push({ t: "h", level: m[1].length, c: inline(m[2] || "", 0) });
            i++;
            continue;
        }
        if (reHr.test(line)) {
            out.push({ t: "hr", c: [] });
            i++;
            continue;
        }
        if (/^( {4}|\t)/.test(line)) {
            const body = [];
            while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || isBlank(lines[i])))
                body.push(lines[i++].replace(/^( {4}|\t)/, ""));
            while (body.length && isBlank(body[body.length - 1])) body.pop();
            out.push({ t: "pre", lang: "", c: [{ t: "code", c: [body.join("\n")] }] });
            continue;
        }
        if (reQuote.test(line)) {
            const body = [];
            while (i < lines.length && !isBlank(lines[i]) && (m = reQuote.exec(lines[i]) || { 1: lines[i] })) {
                body.push(m[1]);
                i++;
            }
            out.push({ t: "blockquote", c: depth < MAX_DEPTH ? blocks(body, depth + 1) : [body.join(" ")] });
            continue;
        }
        if (reBullet.test(line) || reOrdered.test(line)) {
            const ordered = !reBullet.test(line);
            const re = ordered ? reOrdered : reBullet;
            const list = { t: ordered ? "ol" : "ul", c: [] };
            if (ordered) list.start = Number(reOrdered.exec(line)[2]);
            while (i < lines.length && (m = re.exec(lines[i]))) {
                const indent = m[1].length + m[2].length + Math.max(1, m[3].length);
                const item = [m[4]];
                i++;
                while (i < lines.length) {
                    const l = lines[i];
                    if (isBlank(l)) {
                        if (i + 1 < lines.length && /^\s/.test(lines[i + 1]) && !isBlank(lines[i + 1])) {
                            item.push("");
                            i++;
                            continue;
                        }
                        break;
                    }
                    if (re.exec(l) && !/^\s{2,}/.test(l)) break;
                    if (!/^\s/.test(l) && startsBlock(l)) break;
                    item.push(l.replace(new RegExp("^ {0," + indent + "}"), ""));
                    i++;
                }
                const inner = depth < MAX_DEPTH ? blocks(item, depth + 1) : [item.join(" ")];
                /* a tight item's single paragraph renders inline */
                const c = inner.length === 1 && inner[0].t === "p" ? inner[0].c : inner;
                list.c.push({ t: "li", c });
                while (i < lines.length && isBlank(lines[i]) && i + 1 < lines.length && re.test(lines[i + 1])) i++;
            }
            out.push(list);
            continue;
        }
        if (line.includes("|") && i + 1 < lines.length && reTableSep.test(lines[i + 1]) && lines[i + 1].includes("-")) {
            const head = cells(line);
            const align = cells(lines[i + 1]).map((c) => (c.endsWith(":") ? (c.startsWith(":") ? "center" : "right") : c.startsWith(":") ? "left" : ""));
            i += 2;
            const rows = [];
            while (i < lines.length && !isBlank(lines[i]) && lines[i].includes("|")) rows.push(cells(lines[i++]));
            const cell = (t, s, k) => {
                const n = { t, c: inline(s || "", 0) };
                if (align[k]) n.align = align[k];
                return n;
            };
            out.push({
                t: "table",
                c: [
                    { t: "thead", c: [{ t: "tr", c: head.map((s, k) => cell("th", s, k)) }] },
                    { t: "tbody", c: rows.map((r) => ({ t: "tr", c: head.map((_, k) => cell("td", r[k], k)) })) },
                ],
            });
            continue;
        }
        const para = [];
        let setext = 0;
        while (i < lines.length && !isBlank(lines[i])) {
            const l = lines[i];
            if (para.length && (m = /^ {0,3}(=+|-+)[ \t]*$/.exec(l))) {
                setext = m[1][0] === "=" ? 1 : 2;
                i++;
                break;
            }
            if (para.length && startsBlock(l)) break;
            para.push(l.replace(/^\s+/, ""));
            i++;
        }
        if (setext) {
            out.push({ t: "h", level: setext, c: inline(para.join("\n"), 0) });
            continue;
        }
        if (para.length) out.push({ t: "p", c: inline(para.join("\n"), 0) });
    }
    return out;
}

// Parses Markdown text into the node tree; text beyond MAX_CARD is cut.
export function parse(src) {
    let s = String(src).slice(0, MAX_CARD).replace(/\r\n?/g, "\n").replace(/\u0000/g, "\ufffd");
    s = stripFrontMatter(s);
    return blocks(s.split("\n"), 0);
}

// Builds DOM nodes for a tree into `parent`. Card headings move down by
// `shift` levels (so a card's "# Title" sits under the page's own headings).
export function toDom(tree, parent, doc, shift = 0) {
    for (const n of tree) {
        if (typeof n === "string") {
            parent.appendChild(doc.createTextNode(n));
            continue;
        }
        if (!TYPES.includes(n.t)) continue;
        const tag = n.t === "h" ? "h" + Math.min(6, n.level + shift) : n.t;
        const el = doc.createElement(tag);
        if (n.t === "a") {
            el.setAttribute("href", n.href);
            el.setAttribute("rel", "nofollow noopener noreferrer");
        }
        if (n.t === "ol" && n.start !== 1) el.setAttribute("start", String(n.start));
        if (n.align) el.className = "al-" + n.align;
        if (n.t === "pre") {
            el.setAttribute("tabindex", "0"); /* long lines scroll: keyboard users must reach them */
            if (n.lang) el.dataset.lang = n.lang.slice(0, 40);
        }
        toDom(n.c, el, doc, shift);
        parent.appendChild(el);
    }
    return parent;
}
