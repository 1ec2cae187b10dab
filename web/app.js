// SPDX-License-Identifier: Apache-2.0
// The web UI (docs/web.md): renders every page from the path over the JSON
// API. No framework and no HTML strings: every node is made with
// createElement and textContent, so nothing a user wrote is ever parsed as
// markup. web/md.js (model cards), web/verify.js (log checks) and
// web/manage.js (the manage and admin pages) are ES modules loaded only by
// the pages that need them.
"use strict";

(() => {
    const main = document.getElementById("main");
    const nav = document.getElementById("nav");
    const TIERS = ["open", "click", "gated", "hosted", "withheld"];
    const TIER_SENTENCE = {
        open: "Open: anyone may download the weights, no account needed.",
        click: "Click-through: signed-in users download the weights after accepting the license.",
        gated: "Gated: the publisher approves each request; every approved copy is fingerprinted for its recipient.",
        hosted: "Hosted: the weights are not released; approved users reach the model only through the hosted API.",
        withheld: "Withheld: nobody outside the publisher and registered evaluators may download the weights.",
    };
    const state = { session: null };

    /* ---------------------------------------------------------------- DOM */

    // h("tag.class", {attr: value, text: "...", onclick: fn}, child, ...)
    function h(spec, attrs, ...kids) {
        const [tag, ...cls] = spec.split(".");
        const el = document.createElement(tag);
        if (cls.length) el.className = cls.join(" ");
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === undefined || v === null || v === false) continue;
            if (k === "text") el.textContent = v;
            else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
            else if (k === "class") el.className += (el.className ? " " : "") + v;
            else el.setAttribute(k, v === true ? "" : String(v));
        }
        for (const c of kids.flat()) {
            if (c === null || c === undefined || c === false) continue;
            el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
        }
        return el;
    }

    let uid = 0;
    // A visible label and its control: field("Reason", "input", {type: "text"}).
    function field(label, tag, attrs, hint) {
        const id = "f" + ++uid;
        const ctl = h(tag, Object.assign({ id, name: id }, attrs));
        const wrap = h("div.field", null, h("label", { for: id, text: label }), ctl);
        if (hint) {
            const hid = id + "h";
            wrap.appendChild(h("span.hint", { id: hid, text: hint }));
            ctl.setAttribute("aria-describedby", hid);
        }
        return { wrap, ctl };
    }

    function section(title, opts, ...kids) {
        const id = "s" + ++uid;
        const level = (opts && opts.level) || 2;
        return h("section", Object.assign({ "aria-labelledby": id }, opts && opts.attrs), h("h" + level, { id, text: title }), ...kids);
    }

    function table(headers, rows, caption) {
        /* a focusable group, not a region: it scrolls on narrow screens, and
         * its name must not shadow the section's (tests find regions by name) */
        return h("div.scroll", { tabindex: 0, role: "group", "aria-label": caption + " (table)" },
            h("table", null, h("caption.sr", { text: caption }),
                h("thead", null, h("tr", null, headers.map((t) => h("th", { scope: "col" }, t || h("span.sr", { text: "Actions" }))))),
                h("tbody", null, rows)));
    }

    const live = h("div.live", { role: "status", "aria-live": "polite", id: "live" });

    // Shows a message in the live region; kind "err" is red and urgent.
    function say(text, kind) {
        live.className = "live" + (kind ? " " + kind : "");
        live.setAttribute("aria-live", kind === "err" ? "assertive" : "polite");
        live.textContent = "";
        /* a fresh text node so screen readers announce a repeated message */
        setTimeout(() => (live.textContent = text || ""), 30);
    }

    /* --------------------------------------------------------------- HTTP */

    class ApiError extends Error {
        constructor(status, body, fallback) {
            super((body && body.message) || fallback);
            this.status = status;
            this.body = body || {};
        }
    }

    // fetch over the same origin with the session cookie; non-GET requests
    // carry the CSRF token. Answers parsed JSON (or text with {text: true});
    // throws ApiError with the API's `message`.
    async function api(method, path, body, opts) {
        opts = opts || {};
        const headers = {};
        if (opts.accept) headers.Accept = opts.accept;
        if (method !== "GET" && method !== "HEAD" && state.session && state.session.csrf)
            headers["X-CSRF-Token"] = state.session.csrf;
        let payload;
        if (body instanceof Blob) {
            payload = body;
            headers["Content-Type"] = opts.type || "application/octet-stream";
        } else if (typeof body === "string") {
            payload = body;
            headers["Content-Type"] = opts.type || "text/plain; charset=utf-8";
        } else if (body !== undefined) {
            payload = JSON.stringify(body);
            headers["Content-Type"] = "application/json";
        }
        let r;
        try {
            r = await fetch(path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
        } catch (e) {
            throw new ApiError(0, null, "the server could not be reached (" + e.message + ")");
        }
        const ct = r.headers.get("Content-Type") || "";
        if (!r.ok) {
            let doc = null;
            if (ct.includes("json")) doc = await r.json().catch(() => null);
            if (doc && doc.error === "csrf") {
                /* the session was renewed elsewhere (another tab signed in
                 * again): take its CSRF token and try once more */
                const before = state.session && state.session.csrf;
                if (!opts.retried && before) {
                    await loadSession();
                    if (state.session && state.session.csrf && state.session.csrf !== before)
                        return api(method, path, body, Object.assign({}, opts, { retried: true }));
                }
                doc.message = doc.message || "the page's security token is stale: reload the page and try again";
            }
            if (r.status === 401 && doc && doc.error === "session_expired") {
                state.session = null;
                renderNav();
            }
            throw new ApiError(r.status, doc, method + " " + path.split("?")[0] + " failed: HTTP " + r.status);
        }
        if (opts.text || !ct.includes("json")) return r.text();
        return r.json();
    }

    // Runs an action from a button: disables it meanwhile, reports the
    // outcome in the live region, never leaves an exception unshown.
    async function act(btn, fn, done) {
        btn.disabled = true;
        btn.setAttribute("aria-busy", "true");
        try {
            const r = await fn();
            if (done) say(typeof done === "function" ? done(r) : done, "ok");
            return r;
        } catch (e) {
            say(e.message, "err");
            return undefined;
        } finally {
            btn.disabled = false;
            btn.removeAttribute("aria-busy");
        }
    }

    /* ------------------------------------------------------------ formats */

    function bytes(n) {
        if (typeof n !== "number" || !isFinite(n)) return "?";
        const u = ["B", "KB", "MB", "GB", "TB", "PB"];
        let i = 0;
        while (n >= 1000 && i < u.length - 1) {
            n /= 1000;
            i++;
        }
        return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : String(n)) + " " + u[i];
    }

    function when(t) {
        if (t === null || t === undefined || t === "" || t === "never") return t === "never" ? "never" : "";
        const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
        return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
    }

    function tierBadge(tier, testid) {
        return h("span.tier.t-" + (TIERS.includes(tier) ? tier : "unknown"), { "data-testid": testid, text: tier || "?" });
    }

    const enc = encodeURIComponent;
    const modelPath = (m) => "/api/v1/models/" + m.org + "/" + m.name;
    const origin = () => location.origin;

    function codeBox(lines) {
        return h("pre.cmd", { tabindex: 0 }, h("code", { text: lines.join("\n") }));
    }

    /* ------------------------------------------------------------- router */

    const ROUTES = [
        [/^\/$/, () => pageHome()],
        [/^\/signin$/, () => pageSignin()],
        [/^\/log$/, () => pageLog()],
        [/^\/admin$/, () => pageAdmin()],
        [/^\/([A-Za-z0-9][A-Za-z0-9._-]{0,95})\/([A-Za-z0-9][A-Za-z0-9._-]{0,95})$/, (m) => pageModel({ org: m[1], name: m[2] })],
        [/^\/([A-Za-z0-9][A-Za-z0-9._-]{0,95})\/([A-Za-z0-9][A-Za-z0-9._-]{0,95})\/manage$/, (m) => pageManage({ org: m[1], name: m[2] })],
        [/^\/([A-Za-z0-9][A-Za-z0-9._-]{0,95})\/([A-Za-z0-9][A-Za-z0-9._-]{0,95})\/history$/, (m) => pageHistory({ org: m[1], name: m[2] })],
    ];

    function isUiPath(p) {
        if (/^\/(api|ui|log\/|raw\/)/.test(p) || /\/(resolve|raw)\//.test(p)) return false;
        return ROUTES.some(([re]) => re.test(p));
    }

    let renderSeq = 0;

    // Renders the page for the current path. `how`: true after a navigation
    // (focus moves to <main>), false on the first load, "refresh" after an
    // action on the page (the old content stays until the new is ready, the
    // scroll position is kept and focus goes to <main> without scrolling).
    async function render(how) {
        const seq = ++renderSeq;
        const p = location.pathname;
        const refresh = how === "refresh";
        const y = window.scrollY;
        renderNav();
        let page = main.querySelector(".page");
        if (!refresh || !page) {
            page = h("div.page", null, h("p.loading", { text: "Loading…" }));
            main.replaceChildren(live, page);
            live.textContent = "";
            live.className = "live";
        }
        page.setAttribute("aria-busy", "true");
        let content;
        try {
            const route = ROUTES.map(([re, fn]) => [re.exec(p), fn]).find(([m]) => m);
            content = route ? await route[1](route[0]) : notFound("No page at " + p + ".");
        } catch (e) {
            content = [h("h1", { text: "Something went wrong" }), h("p.bad", { text: e.message })];
        }
        if (seq !== renderSeq) return; /* a newer navigation won */
        page.replaceChildren(...[content].flat().filter(Boolean));
        page.removeAttribute("aria-busy");
        const h1 = page.querySelector("h1");
        document.title = (h1 ? h1.textContent + " · " : "") + "sluice";
        if (refresh) {
            main.focus({ preventScroll: true });
            window.scrollTo(0, y);
        } else if (how) {
            main.focus();
        }
    }

    function notFound(msg) {
        return [h("h1", { text: "Not found" }), h("p", { text: msg }), h("p", null, h("a", { href: "/", text: "All models" }))];
    }

    function go(path) {
        history.pushState(null, "", path);
        render(true);
    }

    document.addEventListener("click", (ev) => {
        const a = ev.target.closest && ev.target.closest("a[href]");
        if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
        if (a.hasAttribute("download") || a.target) return;
        const url = new URL(a.href, location.href);
        if (url.origin !== location.origin || !isUiPath(url.pathname)) return;
        ev.preventDefault();
        if (url.pathname + url.search === location.pathname + location.search) return;
        go(url.pathname + url.search);
    });
    window.addEventListener("popstate", () => render(true));

    /* ------------------------------------------------------------ session */

    async function loadSession() {
        try {
            state.session = await api("GET", "/api/v1/session");
        } catch (e) {
            state.session = null;
        }
    }

    function renderNav() {
        const s = state.session;
        const items = [];
        if (s) {
            items.push(h("span.who", { text: "Signed in as " + s.user }));
            if (s.admin) items.push(h("a", { href: "/admin", text: "Admin" }));
            items.push(h("button", {
                type: "button",
                text: "Sign out",
                onclick: async (ev) => {
                    const ok = await act(ev.currentTarget, () => api("DELETE", "/api/v1/session"));
                    if (ok === undefined) return;
                    state.session = null;
                    renderNav();
                    go("/");
                    say("Signed out.", "ok");
                },
            }));
        } else {
            const next = location.pathname === "/signin" ? "" : "?next=" + enc(location.pathname);
            items.push(h("a", { href: "/signin" + next, text: "Sign in" }));
        }
        nav.replaceChildren(...items);
    }

    function isPublisher(m) {
        const s = state.session;
        if (!s) return false;
        if (s.admin) return true;
        return (s.orgs || []).some((o) => o.org === m.org && (o.role === "admin" || o.role === "publisher"));
    }

    /* --------------------------------------------------------------- home */

    async function pageHome() {
        const q = new URLSearchParams(location.search).get("q") || "";
        const box = h("input", { type: "search", id: "q", name: "q", value: q, autocomplete: "off", spellcheck: "false" });
        const results = h("div.results");
        const count = h("p.count", { role: "status" });
        let timer = 0, seq = 0;
        async function search() {
            const mine = ++seq;
            const v = box.value.trim();
            history.replaceState(null, "", v ? "/?q=" + enc(v) : "/");
            let list;
            try {
                list = await api("GET", "/api/models?limit=200&sort=id&direction=1" + (v ? "&search=" + enc(v.slice(0, 200)) : ""));
            } catch (e) {
                if (mine === seq) {
                    results.replaceChildren(h("p.bad", { text: e.message }));
                    count.textContent = "";
                }
                return;
            }
            if (mine !== seq) return;
            count.textContent = list.length === 0 ? "No models match." : list.length + (list.length === 1 ? " model" : " models") + (list.length >= 200 ? " (the first 200; refine the search)" : "");
            results.replaceChildren(h("ul.models", null, list.map((m) => h("li", null,
                h("a.mname", { href: "/" + m.id, text: m.id }), " ",
                tierBadge(m.sluice && m.sluice.tier),
                h("span.meta", { text: " · " + (m.downloads || 0) + " downloads in 30 days · updated " + when(m.lastModified) }),
            ))));
        }
        box.addEventListener("input", () => {
            clearTimeout(timer);
            timer = setTimeout(search, 250);
        });
        const form = h("form.search", { role: "search", onsubmit: (ev) => {
            ev.preventDefault();
            clearTimeout(timer);
            search();
        } }, h("label", { for: "q", text: "Search models" }), box);
        await search();
        return [h("h1", { text: "Models" }), form, count, results];
    }

    /* ------------------------------------------------------------- signin */

    async function pageSignin() {
        const next = new URLSearchParams(location.search).get("next");
        const dest = next && isUiPath(next) ? next : "/";
        const out = [h("h1", { text: "Sign in" })];
        if (state.session) out.push(h("p", { text: "You are signed in as " + state.session.user + "." }));
        const tok = field("Token", "input", { type: "text", autocomplete: "off", spellcheck: "false", required: true, class: "secret" },
            "The sl_… token an admin gave you, or the one sign-up showed. It is sent once and not kept by this page.");
        const btn = h("button", { type: "submit", text: "Sign in" });
        const form = h("form", {
            onsubmit: async (ev) => {
                ev.preventDefault();
                const t = tok.ctl.value.trim();
                if (!t) return say("Token: paste your token first.", "err");
                const s = await act(btn, () => api("POST", "/api/v1/session", { token: t }));
                tok.ctl.value = "";
                if (!s) return;
                await loadSession();
                if (!state.session) state.session = s;
                renderNav();
                go(dest);
                say("Signed in as " + state.session.user + ".", "ok");
            },
        }, tok.wrap, btn);
        out.push(section("With a token", null, form));
        let mode = "closed";
        try {
            mode = (await api("GET", "/api/v1/signup")).mode || "closed";
        } catch (e) {
            mode = "closed";
        }
        if (mode === "open" || mode === "invite") out.push(signupForm(mode));
        else out.push(h("p", { text: "This server does not take sign-ups; ask its operator for an account." }));
        return out;
    }

    function signupForm(mode) {
        const f = {
            user: field("User name", "input", { type: "text", required: true, autocomplete: "username", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" }, "Letters, digits, dot, dash, underscore."),
            name: field("Full name", "input", { type: "text", required: true, autocomplete: "name" }),
            email: field("Email", "input", { type: "email", required: true, autocomplete: "email" }),
            affiliation: field("Affiliation", "input", { type: "text", autocomplete: "organization" }, "Optional: your university, company or group."),
            country: field("Country", "input", { type: "text", autocomplete: "country-name" }, "Optional. Never used to decide access."),
        };
        if (mode === "invite") f.invite = field("Invitation code", "input", { type: "text", required: true, autocomplete: "off" });
        const result = h("div.result");
        const btn = h("button", { type: "submit", text: "Sign up" });
        const form = h("form", {
            onsubmit: async (ev) => {
                ev.preventDefault();
                const body = {};
                for (const [k, v] of Object.entries(f)) {
                    const val = v.ctl.value.trim();
                    if (val) body[k] = val;
                    else if (v.ctl.required) {
                        v.ctl.focus();
                        return say(v.wrap.querySelector("label").textContent + ": this field is required.", "err");
                    }
                }
                const r = await act(btn, () => api("POST", "/api/v1/signup", body));
                if (!r) return;
                await loadSession();
                renderNav();
                result.replaceChildren(
                    h("p", { text: "Welcome, " + r.user + ". This is your token. It is shown only this once: copy it now for the sluice command and Hugging Face clients (SLUICE_TOKEN / HF_TOKEN)." }),
                    h("p", null, h("code.token", { "data-testid": "new-token", text: r.token })),
                    h("p", null, h("a", { href: "/", text: "Continue to the models" })));
                form.hidden = true;
                say("Account created; you are signed in.", "ok");
            },
        }, Object.values(f).map((x) => x.wrap), btn);
        return section("Sign up", null, h("p", { text: mode === "invite" ? "Sign-up needs an invitation code from an admin." : "Anyone may create an account here." }), form, result);
    }

    /* -------------------------------------------------------------- model */

    async function pageModel(m) {
        const base = modelPath(m);
        const signed = !!state.session;
        /* the card renderer loads alongside the data, not after it */
        const mdP = import("/ui/md.js").catch((e) => e);
        const [model, ver, viewer, card, terms, obl, mine] = await Promise.all([
            api("GET", base).catch((e) => e),
            api("GET", base + "/versions/main"),
            api("GET", base + "/versions/main/viewer").catch(() => null),
            api("GET", base + "/versions/main/card", undefined, { text: true }).catch((e) => e),
            api("GET", base + "/terms").catch(() => null),
            api("GET", base + "/versions/main/obligations").catch(() => null),
            signed ? api("GET", base + "/access/me").catch((e) => e) : null,
        ].map((p, i) => (i === 1 ? p.catch((e) => e) : p)));
        if (model instanceof ApiError || ver instanceof ApiError) {
            const e = model instanceof ApiError ? model : ver;
            if (e.status === 404) return notFound("There is no model " + m.org + "/" + m.name + " here (or no version of it yet).");
            throw e;
        }
        const full = m.org + "/" + m.name;
        const tier = ver.tier;
        const mayDownload = viewer ? !!viewer.may_download : !!ver.downloadable;
        const pub = (viewer && viewer.publisher) || isPublisher(m);
        const out = [
            h("h1", { text: full }),
            h("p.tierline", null, tierBadge(tier, "tier"), " ", h("span", { text: TIER_SENTENCE[tier] || "" })),
            h("p.links", null, h("a", { href: "/" + full + "/history", text: "History in the log" }),
                pub ? [" · ", h("a", { href: "/" + full + "/manage", text: "Manage this model" })] : null),
            h("p.meta", { text: "Version " + ver.version + " · commit " + ver.commit.slice(0, 12) + " · " + bytes(ver.bytes_total) + " · published " + when(ver.created) }),
        ];
        const keep = model && model.hosted_retention_days;
        if (keep || tier === "hosted") {
            out.push(h("p.retention", { "data-testid": "retention", text: keep
                ? "The hosted API keeps the prompts and completions sent to this model for " + keep + " day" + (keep === 1 ? "" : "s") + " for abuse review, then deletes them."
                : "The hosted API does not store prompts or completions sent to this model." }));
        }
        out.push(requesterPart(m, tier, ver, viewer, terms, signed, mayDownload, mine));
        out.push(howTo(m, ver, tier, mayDownload));
        out.push(filesSection(m, ver, mayDownload));
        const cardSec = section("Model card", null);
        if (card instanceof ApiError) {
            cardSec.appendChild(h("p", { text: card.status === 404 ? "This version has no README.md." : card.message }));
        } else if (card) {
            const md = await mdP;
            if (md instanceof Error) cardSec.appendChild(h("p.bad", { text: "The card renderer could not be loaded: " + md.message }));
            else md.toDom(md.parse(card), cardSec.appendChild(h("div.card")), document, 2);
        } else {
            cardSec.appendChild(h("p", { text: "This version has no README.md." }));
        }
        out.push(cardSec);
        out.push(decisionSection(ver.decision || {}, m, ver));
        out.push(obligationsSection(obl));
        out.push(versionsSection(model));
        return out;
    }

    function requesterPart(m, tier, ver, viewer, terms, signed, mayDownload, mine) {
        const base = modelPath(m);
        const full = m.org + "/" + m.name;
        const sec = section("Access", null);
        /* words, not a second "Sign in" link: the account link at the top
         * already brings the user back here */
        const signinLink = (what) => h("p.hint", { text: "Use \u201cSign in\u201d at the top of the page to " + what + "." });
        if (viewer && viewer.reason && !mayDownload) sec.appendChild(h("p.note", { text: viewer.reason }));
        if (tier === "open") {
            sec.appendChild(h("p", { text: "Anyone may download this version." }));
            return sec;
        }
        if (tier === "click") {
            const lic = section("License", { level: 3 }, h("pre.license", { tabindex: 0, text: (terms && terms.license) || "(no license text)" }));
            sec.appendChild(lic);
            if (terms && terms.accepted) {
                lic.appendChild(h("p.ok", { text: "You accepted this license; you may download the files." }));
            } else if (signed) {
                const btn = h("button", {
                    type: "button", text: "Accept license",
                    onclick: async () => {
                        const r = await act(btn, () => api("POST", base + "/accept", { rev: ver.commit, license_sha256: terms && terms.license_sha256 }));
                        if (r) {
                            await render("refresh");
                            say("License accepted: the files are yours to download.", "ok");
                        }
                    },
                });
                lic.appendChild(btn);
            } else {
                lic.appendChild(signinLink("accept the license"));
            }
            return sec;
        }
        if (tier === "gated" || tier === "hosted") {
            if (!signed) {
                sec.appendChild(h("p", null, h("span", { "data-testid": "access-state", text: "none" }), ": sign in to request access."));
                sec.appendChild(signinLink("request access"));
                return sec;
            }
            let req = mine;
            if (mine instanceof ApiError) {
                req = null;
                if (mine.status !== 404) sec.appendChild(h("p.bad", { text: mine.message }));
            }
            sec.appendChild(accessState(req));
            const st = req ? req.status : "none";
            const canRequest = !req || st === "revoked" || st === "expired" || (st === "denied" && req.final);
            if (canRequest) sec.appendChild(requestForm(m, terms));
            if (st === "denied" && !req.final && !req.appealed) sec.appendChild(appealForm(m));
            if (st === "approved") {
                sec.appendChild(h("p.fp", { text: tier === "gated"
                    ? "Your copy is fingerprinted: every file you download carries marks that identify you as its recipient, and a leaked copy can be traced to you."
                    : "Your grant is API access through the hosted gateway; the weights are not released." }));
                const licUrl = base + "/license?rev=" + ver.commit;
                sec.appendChild(h("p", null, h("a", { href: licUrl, text: "Signed license" }), " ",
                    h("span.lic-state", { text: "" })));
                checkLicense(licUrl, sec.querySelector(".lic-state"), full);
            }
            return sec;
        }
        sec.appendChild(h("p", { text: "The weights of a withheld version go to nobody outside the publisher and registered evaluators." }));
        return sec;
    }

    function accessState(req) {
        let text = "none";
        if (req) {
            const st = req.status;
            if (st === "pending") text = "pending since " + when(req.appealed || req.created) + (req.appealed ? " (appealed)" : "") + ": the publisher has not decided yet";
            else if (st === "approved") text = "approved " + when(req.decided) + ", expires " + (req.expires ? when(req.expires) : "never") + (req.auto_rule ? " (by an auto-approval rule)" : "");
            else if (st === "denied") text = "denied " + when(req.decided) + ": " + (req.reason || "no reason given") + (req.final ? " (final: the appeal was denied too)" : req.appealed ? "" : " — you may appeal once");
            else if (st === "revoked") text = "revoked " + when(req.decided) + ": " + (req.reason || "no reason given");
            else if (st === "expired") text = "expired " + when(req.expires) + ": request again to renew";
            else text = st;
        }
        return h("p.state", null, "Your request: ", h("strong.st-" + (req ? req.status : "none"), { "data-testid": "access-state", text }));
    }

    function requestForm(m, terms) {
        const base = modelPath(m);
        const purpose = field("Purpose", "textarea", { rows: 3, maxlength: 2000, required: true }, "What you will use the weights for (one line, up to 2,000 characters); the publisher reads it.");
        const extra = h("div.extra");
        const fields = {};
        const addField = (name) => {
            if (fields[name] || !/^[a-z0-9_-]{1,32}$/.test(name)) return null;
            const f = field(name, "input", { type: "text", maxlength: 500, required: true });
            fields[name] = f.ctl;
            extra.appendChild(f.wrap);
            return f.ctl;
        };
        for (const k of (terms && terms.fields) || []) addField(k);
        const send = h("button", { type: "submit", text: "Send request" });
        const form = h("form.request", {
            hidden: true,
            onsubmit: async (ev) => {
                ev.preventDefault();
                const p = purpose.ctl.value.replace(/\s*\n\s*/g, " ").trim();
                if (!p) {
                    purpose.ctl.focus();
                    return say("Purpose: say what you will use the weights for.", "err");
                }
                const body = { purpose: p, fields: {} };
                for (const [k, c] of Object.entries(fields)) body.fields[k] = c.value.trim();
                send.disabled = true;
                try {
                    await api("POST", base + "/access", body);
                    await render("refresh");
                    say("Request sent; its state is shown above.", "ok");
                } catch (e) {
                    const mm = /requires the field "([a-z0-9_-]{1,32})"/.exec(e.message);
                    const c = mm && addField(mm[1]);
                    say(e.message, "err");
                    if (c) c.focus();
                } finally {
                    send.disabled = false;
                }
            },
        }, purpose.wrap, extra, send);
        const open = h("button", {
            type: "button", text: "Request access", "aria-expanded": "false",
            onclick: () => {
                form.hidden = !form.hidden;
                open.setAttribute("aria-expanded", String(!form.hidden));
                if (!form.hidden) purpose.ctl.focus();
            },
        });
        return h("div", null, open, form);
    }

    function appealForm(m) {
        const t = field("Appeal", "textarea", { rows: 3, maxlength: 2000, required: true }, "Why the publisher should reconsider; you may appeal once.");
        const btn = h("button", { type: "submit", text: "Send appeal" });
        return h("form.appeal", {
            onsubmit: async (ev) => {
                ev.preventDefault();
                const text = t.ctl.value.replace(/\s*\n\s*/g, " ").trim();
                if (!text) return say("Appeal: write why the publisher should reconsider.", "err");
                if (await act(btn, () => api("POST", modelPath(m) + "/access/me/appeal", { text }))) {
                    await render("refresh");
                    say("Appeal sent; the request is pending again.", "ok");
                }
            },
        }, t.wrap, btn);
    }

    // Fetches the caller's license with its log proof and checks, against
    // the pinned log key, its signature and that its issuance is in the log
    // (the entry at log_index names this license; its tlog-proof holds).
    async function checkLicense(url, out, model) {
        const fail = (why) => {
            out.textContent = "FAILED: " + why;
            out.className = "lic-state bad";
        };
        try {
            const [doc, v] = await Promise.all([api("GET", url, undefined, { accept: "application/json" }), import("/ui/verify.js")]);
            const key = await pinnedKey(v);
            if (key.changed) return fail("the server's key changed since this browser pinned it (see the transparency log page)");
            const r = await v.verifyNote(doc.license, key.key);
            if (!r.ok) return fail(r.why);
            const id = (/^id (\S+)$/m.exec(r.text) || [])[1];
            if (typeof doc.log_index !== "number" || !doc.log_proof) {
                out.textContent = "signature verified against the pinned server key";
                out.className = "lic-state ok";
                return;
            }
            const [ent] = await api("GET", "/api/v1/log/entries?start=" + doc.log_index + "&end=" + (doc.log_index + 1));
            if (!ent || !ent.entry || ent.entry.type !== "license.issued" || ent.entry.license !== id || ent.entry.model !== model)
                return fail("log entry " + doc.log_index + " is not the issuance of this license");
            const p = await v.verifyTlogProof(doc.log_proof, v.utf8(ent.text), key.key);
            if (!p.ok) return fail(p.why);
            out.textContent = "signature verified against the pinned server key; issued in log entry " + doc.log_index + " (inclusion proof verified)";
            out.className = "lic-state ok";
        } catch (e) {
            fail(e.message);
        }
    }

    function howTo(m, ver, tier, mayDownload) {
        const full = m.org + "/" + m.name;
        const first = (ver.files || []).find((f) => /\.(safetensors|gguf)$/.test(f.path)) || (ver.files || [])[0];
        const auth = tier === "open" ? "" : ' -H "Authorization: Bearer $SLUICE_TOKEN"';
        const lines = [
            "SLUICE_URL=" + origin() + " sluice pull " + full,
            "HF_ENDPOINT=" + origin() + " huggingface-cli download " + full,
        ];
        if (first) lines.push("curl -fLO" + auth + " " + origin() + "/" + full + "/resolve/" + ver.commit + "/" + first.path.split("/").map(enc).join("/"));
        if (tier === "hosted") {
            lines.length = 0;
            lines.push("curl " + origin() + "/v1/chat/completions" + auth + " -H \"Content-Type: application/json\" -d '{\"model\":\"" + full + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'");
            lines.push("# or any OpenAI client with base_url " + origin() + "/v1 and your sluice token as the API key");
        }
        const sec = section("How to download", null, codeBox(lines));
        if (tier !== "open") sec.appendChild(h("p.hint", { text: "These need your token (SLUICE_TOKEN, or HF_TOKEN for the Hugging Face client)" + (mayDownload ? "." : ", and the access above.") }));
        return sec;
    }

    function filesSection(m, ver, mayDownload) {
        const files = ver.files || [];
        const sec = section("Files", null);
        if (!files.length) {
            sec.appendChild(h("p", { text: ver.files_hidden ? "The files of a withheld version are listed only to those who may download them." : "No files listed." }));
            return sec;
        }
        const rows = files.map((f) => h("tr", null,
            h("td", null, mayDownload
                ? h("a", { href: "/" + m.org + "/" + m.name + "/resolve/" + ver.commit + "/" + f.path.split("/").map(enc).join("/"), download: f.path.split("/").pop(), text: f.path })
                : h("span", { text: f.path })),
            h("td.num", { text: bytes(f.size) }),
            h("td.hash", { text: f.sha256 ? f.sha256.slice(0, 16) + "…" : "" })));
        sec.appendChild(table(["File", "Size", "SHA-256"], rows, "Files of version " + ver.version));
        if (!mayDownload) sec.appendChild(h("p.hint", { text: "Download links appear when you may download this version." }));
        return sec;
    }

    function whyText(why) {
        if (why === null || why === undefined) return "";
        if (typeof why === "string") return why;
        if (Array.isArray(why)) return why.map(whyText).join("; ");
        return JSON.stringify(why);
    }

    // On request (it costs three fetches and verify.js): the decision's
    // tlog-proof against the pinned key, and that the entry it proves is this
    // version's publication or an attestation on it.
    async function checkDecision(m, ver, out) {
        const full = m.org + "/" + m.name;
        const fail = (why) => {
            out.textContent = "FAILED: " + why;
            out.className = "bad";
        };
        try {
            const [d, v] = await Promise.all([api("GET", modelPath(m) + "/versions/" + ver.commit + "/decision"), import("/ui/verify.js")]);
            if (typeof d.log_index !== "number" || !d.log_proof) return fail("the decision carries no log proof");
            const key = await pinnedKey(v);
            if (key.changed) return fail("the server's key changed since this browser pinned it (see the transparency log page)");
            const [ent] = await api("GET", "/api/v1/log/entries?start=" + d.log_index + "&end=" + (d.log_index + 1));
            const e = (ent && ent.entry) || {};
            if (e.model !== full || e.commit !== ver.commit || !/^(version\.published|attestation\.attached)$/.test(e.type || ""))
                return fail("log entry " + d.log_index + " is not this version's publication or attestation");
            const p = await v.verifyTlogProof(d.log_proof, v.utf8(ent.text), key.key);
            if (!p.ok) return fail(p.why);
            out.textContent = "verified: " + e.type + " in log entry " + d.log_index + " of a checkpoint of " + p.size + " signed by the pinned key";
            out.className = "ok";
        } catch (e) {
            fail(e.message);
        }
    }

    function decisionSection(d, m, ver) {
        const res = h("span", { "data-testid": "decision-log-state" });
        const check = h("button", { type: "button", text: "Check the decision in the log", onclick: async () => {
            check.disabled = true;
            res.textContent = "checking…";
            await checkDecision(m, ver, res);
            check.disabled = false;
        } });
        const sec = section("Decision", null,
            h("p", null, "Minimum tier: ", tierBadge(d.min_tier), d.min_tier_provisional ? " (provisional: the training compute is not known)" : "", d.as_of ? " · evaluated on " + d.as_of : ""),
            h("p", null, check, " ", res));
        const fired = d.rules_fired || [];
        sec.appendChild(h("h3", { text: "Rules that fired" }));
        sec.appendChild(fired.length ? h("ul.rules", null, fired.map((r) => h("li", null,
            h("strong", { text: r.rule }), " (" + r.pack + ")", r.min_tier ? [" → ", tierBadge(r.min_tier)] : null,
            h("div.cite", { text: r.cite || "" }),
            h("div", { text: whyText(r.why) }),
            r.unverified ? h("div.hint", { text: "Unverified: " + r.unverified }) : null)))
            : h("p", { text: "No rule fired." }));
        const skipped = d.packs_not_applied || [];
        const future = skipped.filter((p) => /not yet in force/.test(p.reason || ""));
        const other = skipped.filter((p) => !/not yet in force/.test(p.reason || ""));
        sec.appendChild(h("h3", { text: "Laws not yet in force" }));
        sec.appendChild(future.length ? h("ul", null, future.map((p) => h("li", null, h("strong", { text: p.pack }), ": " + p.reason))) : h("p", { text: "None." }));
        if (other.length) {
            sec.appendChild(h("h3", { text: "Packs that do not apply" }));
            sec.appendChild(h("ul", null, other.map((p) => h("li", null, h("strong", { text: p.pack }), ": " + p.reason))));
        }
        if ((d.notes || []).length) {
            sec.appendChild(h("details", null, h("summary", { text: "Notes (" + d.notes.length + ")" }), h("ul", null, d.notes.map((n) => h("li", { text: String(n) })))));
        }
        return sec;
    }

    function obligationsSection(obl) {
        const sec = section("Obligations", null);
        const list = (obl && obl.obligations) || [];
        if (!list.length) {
            sec.appendChild(h("p", { text: "None." }));
            return sec;
        }
        sec.appendChild(table(["Obligation", "Cite", "Blocking", "Status"], list.map((o) => h("tr", null,
            h("td", null, h("strong", { text: o.id }), h("div", { text: o.title || "" })),
            h("td", { text: o.cite || "" }),
            h("td", { text: o.blocking ? "yes" + (o.hold_tier ? " (holds at " + o.hold_tier + ")" : "") : "no" }),
            h("td", null, h("span.st-" + o.status, { text: o.status }),
                o.evidence ? h("div.hint", { text: "evidence: " + o.evidence.text + " (" + when(o.evidence.at) + ")" }) : null,
                (o.missing_evaluations || []).length ? h("div.hint", { text: "missing evaluations: " + o.missing_evaluations.join(", ") }) : null))), "Obligations"));
        return sec;
    }

    function versionsSection(model) {
        const sec = section("Versions", null);
        if (!model || model instanceof Error) {
            sec.appendChild(h("p", { text: "The version list could not be loaded." }));
            return sec;
        }
        const main_ = model.refs && model.refs.main;
        sec.appendChild(table(["Version", "Commit", "Tier", "Published", "Size", "Downloads (30 days)"], (model.versions || []).slice().reverse().map((v) => h("tr", null,
            h("td", { text: "v" + v.version + (v.commit === main_ ? " (main)" : "") }),
            h("td.hash", { text: v.commit.slice(0, 12) }),
            h("td", null, tierBadge(v.tier)),
            h("td", { text: when(v.created) }),
            h("td.num", { text: bytes(v.bytes_total) }),
            h("td.num", { text: String(v.downloads || 0) }))), "Versions"));
        return sec;
    }

    /* ------------------------------------------------------- log and keys */

    const PIN = "sluice.log.key";
    const LAST = "sluice.log.last";

    // The log key pinned in this browser (a public key, not a secret): the
    // first visit pins what /log/key says; later visits compare.
    async function pinnedKey(v) {
        const served = (await api("GET", "/log/key", undefined, { text: true })).trim();
        let pinned = null;
        try {
            pinned = localStorage.getItem(PIN);
        } catch (e) {
            pinned = null;
        }
        let first = false;
        if (!pinned) {
            await v.parseVkey(served); /* never pin a malformed key */
            try {
                localStorage.setItem(PIN, served);
            } catch (e) {
                /* storage off: verify against the served key, unpinned */
            }
            pinned = served;
            first = true;
        }
        return { key: await v.parseVkey(pinned), served, changed: served !== pinned, first };
    }

    // Checks a signed checkpoint against the pinned key, then against the last
    // one this browser verified (growth, rollback, fork via a consistency
    // proof). Answers {ok, why, cp, first, changed, served, key, via}.
    async function checkCheckpoint(v, note) {
        const pk = await pinnedKey(v);
        const res = { key: pk.key, first: pk.first, changed: pk.changed, served: pk.served };
        if (pk.changed) return Object.assign(res, { ok: false, why: "key changed: the server now presents " + pk.served + " but this browser pinned " + pk.key.vkey });
        const c = await v.verifyCheckpoint(note, pk.key);
        if (!c.ok) return Object.assign(res, { ok: false, why: c.why });
        res.cp = c;
        res.via = c.via;
        let last = null;
        try {
            last = JSON.parse(localStorage.getItem(LAST) || "null");
        } catch (e) {
            last = null;
        }
        if (last && typeof last.size === "number" && typeof last.root === "string") {
            if (c.size < last.size) return Object.assign(res, { ok: false, why: "rollback: this checkpoint has " + c.size + " entries, but this browser verified " + last.size + " before" });
            if (c.size === last.size && c.rootB64 !== last.root) return Object.assign(res, { ok: false, why: "fork: the same size " + c.size + " with another root than the one verified before" });
            if (c.size > last.size && last.size > 0) {
                let ok = false;
                try {
                    const p = await api("GET", "/api/v1/log/proof/consistency?from=" + last.size + "&to=" + c.size);
                    ok = await v.verifyConsistency(last.size, c.size, v.b64decode(last.root), c.root, p.proof.map((x) => v.b64decode(x)));
                } catch (e) {
                    return Object.assign(res, { ok: false, why: "inconsistent: no valid consistency proof from size " + last.size + " (" + e.message + ")" });
                }
                if (!ok) return Object.assign(res, { ok: false, why: "inconsistent: the log of size " + c.size + " does not extend the one of size " + last.size + " verified before" });
            }
        }
        if (!last || c.size >= last.size) {
            try {
                localStorage.setItem(LAST, JSON.stringify({ size: c.size, root: c.rootB64 }));
            } catch (e) {
                /* nothing to remember with */
            }
        }
        res.ok = true;
        return res;
    }

    function stateEl(ok, why, testid) {
        return h("strong." + (ok ? "ok" : "bad"), { "data-testid": testid, text: ok ? "verified" : "FAILED: " + why });
    }

    function needSecure() {
        if (window.isSecureContext && window.crypto && window.crypto.subtle) return null;
        return [h("p", null, stateEl(false, "this page is not a secure context (https or localhost), so the browser offers no WebCrypto to check the log with. Use https, or `sluice log verify` from a shell.", "checkpoint-state"))];
    }

    async function pageLog() {
        const out = [h("h1", { text: "Transparency log" })];
        const insecure = needSecure();
        if (insecure) return out.concat(insecure);
        const [v, note] = await Promise.all([import("/ui/verify.js"), api("GET", "/log/checkpoint", undefined, { text: true })]);
        const r = await checkCheckpoint(v, note);
        let body = null;
        try {
            body = v.parseCheckpoint(v.parseNote(note).text);
        } catch (e) {
            body = null;
        }
        const dl = h("dl.facts", null,
            h("dt", { text: "State" }), h("dd", null, stateEl(r.ok, r.why, "checkpoint-state"), r.ok ? " (" + r.via + ")" : ""),
            h("dt", { text: "Origin" }), h("dd", { "data-testid": "checkpoint-origin", text: body ? body.origin : "?" }),
            h("dt", { text: "Size" }), h("dd", { "data-testid": "checkpoint-size", text: body ? String(body.size) + " entries" : "?" }),
            h("dt", { text: "Root hash" }), h("dd.hash", { "data-testid": "checkpoint-root", text: body ? body.rootB64 : "?" }),
            h("dt", { text: "Pinned key" }), h("dd.hash", { text: r.key ? r.key.vkey : "" }));
        out.push(h("p", { text: "The newest signed checkpoint of this server's log, checked in your browser: its Ed25519 signature against the key this browser pinned on its first visit, and that it extends the last checkpoint this browser verified." }));
        out.push(dl);
        if (r.first) out.push(h("p.note", { text: "First visit: this browser has now pinned the server's key. Compare it with the key the operator publishes (sluice log key)." }));
        if (r.changed) {
            out.push(h("p.bad", { text: "key changed: if the operator announced a new key, forget the pinned one; otherwise treat this server's log as untrustworthy." }));
            out.push(h("button", { type: "button", text: "Forget the pinned key", onclick: () => {
                localStorage.removeItem(PIN);
                localStorage.removeItem(LAST);
                render(true);
            } }));
        }
        out.push(section("The signed note", null, h("pre.note-text", { tabindex: 0, text: note })));
        return out;
    }

    function eventSummary(e) {
        if (!e || typeof e !== "object") return "";
        const bits = [];
        for (const k of ["version", "tier", "old", "new", "why", "account", "by", "domain", "level", "obligation", "expires", "reason", "step", "at", "status"]) {
            if (e[k] !== undefined && e[k] !== null && typeof e[k] !== "object") bits.push(k + " " + e[k]);
        }
        return bits.join(" · ");
    }

    async function pageHistory(m) {
        const full = m.org + "/" + m.name;
        const out = [h("h1", { text: "History of " + full }),
            h("p", null, "Every event of ", h("a", { href: "/" + full, text: full }), " in the transparency log, each with its inclusion proof checked in your browser against the signed checkpoint.")];
        const insecure = needSecure();
        if (insecure) return out.concat(insecure);
        let rep;
        try {
            rep = await api("GET", modelPath(m) + "/report");
        } catch (e) {
            if (e.status === 404) return notFound("There is no model " + full + " here.");
            throw e;
        }
        const v = await import("/ui/verify.js");
        const r = await checkCheckpoint(v, rep.checkpoint);
        out.push(h("p", null, "Checkpoint: ", stateEl(r.ok, r.why, "checkpoint-state"), r.ok ? " — " + r.cp.size + " entries, root " + r.cp.rootB64 : ""));
        if (r.ok && r.cp.size !== rep.checkpoint_size) {
            r.ok = false;
            out.push(h("p.bad", { text: "FAILED: the report says size " + rep.checkpoint_size + " but its checkpoint has " + r.cp.size }));
        }
        const rows = [];
        for (const ev of rep.events || []) {
            let ok = false, why = "";
            if (!r.ok) why = "the checkpoint did not verify";
            else {
                try {
                    const leaf = await v.leafHash(v.utf8(v.canonicalJson(ev.entry)));
                    ok = await v.verifyInclusion(ev.index, r.cp.size, leaf, (ev.inclusion_proof || []).map((x) => v.b64decode(x)), r.cp.root);
                    if (!ok) why = "the inclusion proof of entry " + ev.index + " does not lead to the signed root";
                } catch (e) {
                    why = e.message;
                }
            }
            const e = ev.entry || {};
            rows.push(h("tr", null,
                h("td.num", { text: String(ev.index) }),
                h("td", { text: when(e.time) }),
                h("td", { text: e.type || "?" }),
                h("td", { text: eventSummary(e) }),
                h("td", null, stateEl(ok, why, "proof-state"))));
        }
        out.push(section("Events", null, rows.length ? table(["Index", "Time", "Event", "Details", "Proof"], rows, "Log entries of " + full) : h("p", { text: "No events." })));
        const g = rep.grants || {};
        if (Object.keys(g).length) out.push(section("Grants", null, h("p", { text: Object.entries(g).map(([k, n]) => k + ": " + n).join(" · ") })));
        return out;
    }

    /* ------------------------------------------- manage and admin (lazy) */

    let manageMod = null;
    async function manage() {
        if (!manageMod) {
            manageMod = await import("/ui/manage.js");
            manageMod.bind({ h, field, section, table, say, act, api, ApiError, render, when, bytes, tierBadge, enc, modelPath, TIERS, state, notFound });
        }
        return manageMod;
    }
    const pageManage = async (m) => (await manage()).pageManage(m);
    const pageAdmin = async () => (await manage()).pageAdmin();

    /* --------------------------------------------------------------- boot */

    (async () => {
        await loadSession();
        renderNav();
        await render(false);
    })();
})();
