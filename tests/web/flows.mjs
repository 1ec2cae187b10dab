// SPDX-License-Identifier: Apache-2.0
// The steps tests/integration/test_web_ui.py asks the browser to take, by the
// names of docs/web.md ("Names the tests look for"). Each flow works in a
// named context (CTX, kept across calls, so a session or a pinned log key
// outlives one step) and mostly reports what the page shows; the Python test
// compares that with what the server holds. A control that is not there
// fails the flow within WAIT_MS, naming it.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { axe, downloadLinks, open, settle, signIn, signedIn, WAIT_MS } from "./lib.mjs";

const btn = (page, name) => page.getByRole("button", { name, exact: true });
const box = (page, name) => page.getByRole("textbox", { name, exact: true });

async function textOf(loc) {
    if ((await loc.count()) === 0) return null;
    return (await loc.first().innerText()).trim();
}

async function ctxPage(s, a) {
    return s.page(a.ctx, a.options || {});
}

/* What a model page shows the viewer. */
async function observeModel(page) {
    const region = (name) => page.getByRole("region", { name, exact: true });
    return {
        url: page.url(),
        tier: await textOf(page.getByTestId("tier")),
        state: await textOf(page.getByTestId("access-state")),
        how_to_download: await textOf(region("How to download")),
        license: await textOf(region("License")),
        accept_button: (await btn(page, "Accept license").count()) > 0,
        request_button: (await btn(page, "Request access").count()) > 0,
        appeal_box: (await box(page, "Appeal").count()) > 0,
        signed_license: await page.getByRole("link", { name: "Signed license", exact: true })
            .evaluateAll((as) => as.map((a) => a.getAttribute("href"))),
        downloads: await downloadLinks(page),
        main: (await page.locator("main").innerText()).trim(),
        signed_in: await signedIn(page),
    };
}

// ------------------------------------------------------------------ accounts

export async function signup(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/signin");
    const fill = { "User name": a.user, "Full name": a.name, "Email": a.email,
                   "Affiliation": a.affiliation, "Country": a.country };
    for (const [label, v] of Object.entries(fill)) await box(page, label).fill(v);
    await btn(page, "Sign up").click();
    const shown = page.getByTestId("new-token");
    await shown.waitFor();
    const token = (await shown.innerText()).trim();
    return { token, signed_in: await signedIn(page),
             main: await page.locator("main").innerText() };
}

/* A sign-up the server should refuse: what the page then says. */
export async function signup_refused(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/signin");
    const fill = { "User name": a.user, "Full name": a.name, "Email": a.email,
                   "Affiliation": a.affiliation, "Country": a.country };
    for (const [label, v] of Object.entries(fill)) await box(page, label).fill(v);
    await btn(page, "Sign up").click();
    await page.waitForLoadState("networkidle");
    const alert = page.locator("[role=alert], [aria-live]").filter({ hasText: /\S/ });
    await alert.first().waitFor();
    return {
        message: (await alert.allInnerTexts()).join(" | ").trim(),
        token_shown: (await page.getByTestId("new-token").count()) > 0,
        signed_in: await signedIn(page),
    };
}

export async function signin(s, a) {
    const page = await ctxPage(s, a);
    await signIn(page, a.base, a.token);
    return { url: page.url() };
}

/* Signs in with a token that is wrong: reports what the page then says. */
export async function signin_wrong(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/signin");
    await box(page, "Token").fill(a.token);
    await btn(page, "Sign in").click();
    await page.waitForLoadState("networkidle");
    const alert = page.locator("[role=alert], [aria-live], .error, output");
    await alert.filter({ hasText: /\S/ }).first().waitFor();
    return {
        message: (await alert.filter({ hasText: /\S/ }).allInnerTexts()).join(" | ").trim(),
        signed_in: await signedIn(page),
        token_box: (await box(page, "Token").count()) > 0,
    };
}

export async function signout(s, a) {
    const page = await ctxPage(s, a);
    await btn(page, "Sign out").click();
    await page.getByRole("link", { name: "Sign in", exact: true }).waitFor();
    return { url: page.url() };
}

/* Reloads URL (default: the page's own) and says whether it shows a session. */
export async function whoami(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.url || page.url());
    return { signed_in: await signedIn(page), main: (await page.locator("main").innerText()) };
}

export async function cookies(s, a) {
    return s.context(a.ctx).cookies();
}

export async function add_cookies(s, a) {
    await s.context(a.ctx).addCookies(a.cookies);
    return null;
}

/* Everything a script of the page could read: where a token must never be. */
export async function storage(s, a) {
    const page = await ctxPage(s, a);
    return page.evaluate(() => ({
        local: JSON.stringify({ ...localStorage }),
        session: JSON.stringify({ ...sessionStorage }),
        cookie: document.cookie,
    }));
}

// ------------------------------------------------------------------ models

/* The home page: the model links (named ORG/NAME), then the same after
 * typing QUERY into "Search models". */
export async function index(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/");
    const names = () => page.locator("main a").evaluateAll((as) => as
        .map((x) => ({ name: x.textContent.trim(), href: x.getAttribute("href") }))
        .filter((x) => /^[^/\s]+\/[^/\s]+$/.test(x.name)));
    const all = await names();
    const footer = await page.getByRole("link", { name: "Transparency log", exact: true }).count();
    let found = null;
    if (a.query !== undefined) {
        await page.getByRole("searchbox", { name: "Search models", exact: true }).fill(a.query);
        // the list settles on the answer for the whole query
        await page.waitForFunction((n) => [...document.querySelectorAll("main a")]
            .filter((x) => /^[^/\s]+\/[^/\s]+$/.test(x.textContent.trim())).length !== n,
                                   all.length, { timeout: WAIT_MS }).catch(() => {});
        await page.waitForLoadState("networkidle");
        await page.waitForTimeout(500);
        found = await names();
    }
    return { all, found, log_link: footer };
}

export async function model(s, a) {
    const page = await ctxPage(s, a);
    const status = await open(page, a.base + "/" + a.model);
    return { status, ...(await observeModel(page)) };
}

export async function accept_license(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model);
    await btn(page, "Accept license").click();
    await btn(page, "Accept license").waitFor({ state: "detached" });
    await settle(page);
    await open(page, a.base + "/" + a.model);
    return observeModel(page);
}

/* Reaches "Accept license" with Tab alone and presses Enter on it. */
export async function accept_keyboard(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model);
    await page.locator("body").focus();
    const seen = [];
    for (let i = 0; i < 80; i++) {
        await page.keyboard.press("Tab");
        const f = await page.evaluate(() => {
            const e = document.activeElement;
            return e ? { tag: e.tagName, text: (e.getAttribute("aria-label") ||
                                                e.textContent || "").trim().slice(0, 60) } : null;
        });
        seen.push(f ? f.tag + ":" + f.text : "none");
        if (f && f.tag === "BUTTON" && f.text === "Accept license") {
            await page.keyboard.press("Enter");
            await btn(page, "Accept license").waitFor({ state: "detached" });
            await settle(page);
            return { tabs: i + 1, seen };
        }
    }
    throw new Error("80 presses of Tab never focused the button \"Accept license\"; focus went " +
                    seen.join(" -> "));
}

export async function request_access(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model);
    await btn(page, "Request access").click();
    await box(page, "Purpose").fill(a.purpose);
    // Every required field is on the form from the start (the terms answer
    // names them); one missing would be reported as late_fields.
    const late = [];
    for (const k of Object.keys(a.fields || {})) {
        if ((await box(page, k).count()) === 0) late.push(k);
    }
    if (late.length) {
        await btn(page, "Send request").click();
        for (const k of late) await box(page, k).waitFor();
    }
    for (const [k, v] of Object.entries(a.fields || {})) await box(page, k).fill(v);
    await btn(page, "Send request").click();
    await page.getByTestId("access-state").filter({ hasText: /^\s*pending/ }).waitFor();
    await open(page, a.base + "/" + a.model);
    return { late_fields: late, ...(await observeModel(page)) };
}

export async function appeal(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model);
    await box(page, "Appeal").fill(a.text);
    await btn(page, "Send appeal").click();
    await page.waitForLoadState("networkidle");
    await open(page, a.base + "/" + a.model);
    return observeModel(page);
}

/* Clicks the link of the file PATH and saves what the browser downloads. */
export async function download(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model);
    const links = await downloadLinks(page);
    const i = links.findIndex((l) => l.name === a.path);
    if (i < 0) throw new Error("no download link named " + a.path + " (links: " +
                               JSON.stringify(links) + ")");
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 6 * WAIT_MS }),
                                    page.locator("a[download]").nth(i).click()]);
    await dl.saveAs(a.dest);
    const failure = await dl.failure();
    if (failure) throw new Error("the download of " + a.path + " failed: " + failure);
    return { suggested: dl.suggestedFilename(), url: dl.url(),
             sha256: createHash("sha256").update(readFileSync(a.dest)).digest("hex") };
}

/* The publisher's queue: ACTION (Approve, Deny, Revoke) on USER's row, with
 * REASON and DAYS typed into the row's boxes when given. */
export async function manage(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const word = new RegExp("(^|\\W)" + a.user.replace(/[-.]/g, "\\$&") + "(\\W|$)");
    const row = page.locator("tr, li, [role=row], article, fieldset, form, section, div")
        .filter({ hasText: word })
        .filter({ has: btn(page, a.action) })
        .last();
    await row.waitFor();
    if (a.reason !== undefined) await box(row, "Reason").fill(a.reason);
    if (a.days !== undefined) await box(row, "Expires (days)").fill(String(a.days));
    await btn(row, a.action).click();
    await page.waitForLoadState("networkidle");
    await open(page, a.base + "/" + a.model + "/manage");
    return { main: (await page.locator("main").innerText()).trim() };
}

/* What /ORG/NAME/manage offers the viewer: its action buttons. */
export async function manage_view(s, a) {
    const page = await ctxPage(s, a);
    const status = await open(page, a.base + "/" + a.model + "/manage");
    const count = (name) => btn(page, name).count();
    return { status, approve: await count("Approve"), deny: await count("Deny"),
             revoke: await count("Revoke"), trace: await count("Trace"),
             main: (await page.locator("main").innerText()).trim() };
}

/* "Trace a leaked copy" on the manage page with the files FILES: what the
 * result says. */
export async function trace(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const region = page.getByRole("region", { name: "Trace a leaked copy", exact: true });
    await region.getByLabel("Files", { exact: true }).setInputFiles(a.files);
    await btn(region, "Trace").click();
    const out = page.getByTestId("trace-result");
    await out.filter({ hasText: /accused|not_accused|insufficient/ })
        .waitFor({ timeout: 6 * WAIT_MS });
    return { text: (await out.innerText()).trim() };
}

/* Markup from a user (card, purpose, reason) must stay text: reports what
 * ran and what reached the DOM. */
export async function xss_probe(s, a) {
    const page = await ctxPage(s, a);
    await page.addInitScript(() => { window.__pwned = 0; });
    await open(page, a.url);
    await page.waitForTimeout(300); // an image's onerror fires after load
    return page.evaluate(() => ({
        pwned: window.__pwned,
        scripts_in_main: document.querySelectorAll("main script").length,
        handlers: [...document.querySelectorAll("main *")].filter((e) =>
            [...e.attributes].some((at) => at.name.startsWith("on")))
            .map((e) => e.outerHTML.slice(0, 120)),
        js_links: [...document.querySelectorAll("a[href]")].filter((e) =>
            /^\s*(javascript|vbscript|data):/i.test(e.getAttribute("href")))
            .map((e) => e.outerHTML),
        main: document.querySelector("main").innerText,
    }));
}

// ------------------------------------------------------------------ admin

/* /admin: which of its regions show, and with CREATE, the "Invitations"
 * region's text before and after pressing "Create invitation". */
export async function admin(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/admin");
    const regions = {};
    for (const name of ["Users", "Orgs", "Evaluator keys", "Invitations"]) {
        regions[name] = (await page.getByRole("region", { name, exact: true }).count()) > 0;
    }
    const out = { regions, main: (await page.locator("main").innerText()).trim() };
    if (a.create) {
        const inv = page.getByRole("region", { name: "Invitations", exact: true });
        out.before = (await inv.innerText()).trim();
        await btn(inv, "Create invitation").click();
        await page.waitForLoadState("networkidle");
        await inv.filter({ hasText: /shown once/i }).or(inv.locator("code"))
            .first().waitFor().catch(() => {});
        await page.waitForTimeout(300);
        out.after = (await inv.innerText()).trim();
    }
    return out;
}

// ------------------------------------------------------------------ requests

/* fetch() from the page (same origin, with its cookie). CSRF: "none" sends
 * no X-CSRF-Token, "wrong" a made-up one, "session" the session's own. */
export async function fetch_from_page(s, a) {
    const page = await ctxPage(s, a);
    if (!page.url().startsWith(a.origin + "/")) await open(page, a.origin + "/");
    return page.evaluate(async ({ path, method, body, csrf }) => {
        const headers = { "content-type": "application/json" };
        if (csrf === "wrong") headers["x-csrf-token"] = "0".repeat(43);
        if (csrf === "session") {
            const r = await fetch("/api/v1/session");
            headers["x-csrf-token"] = (await r.json()).csrf;
        }
        const r = await fetch(path, { method, headers, body: body === undefined ? undefined :
                                      JSON.stringify(body) });
        return { status: r.status, body: await r.text() };
    }, { path: a.path, method: a.method || "POST", body: a.body, csrf: a.csrf || "none" });
}

/* Opens URL (e.g. the attacker's page) and waits for its navigations to end. */
export async function visit(s, a) {
    const page = await ctxPage(s, a);
    await page.goto(a.url);
    await page.waitForLoadState("networkidle");
    if (a.wait_url) await page.waitForURL(a.wait_url, { timeout: WAIT_MS });
    await page.waitForLoadState("networkidle");
    return { url: page.url(), text: await page.locator("body").innerText().catch(() => "") };
}

// ------------------------------------------------------------------ the log

async function stateColor(loc) {
    return loc.first().evaluate((e) => {
        const c = getComputedStyle(e);
        return { color: c.color, background: c.backgroundColor };
    });
}

export async function log_page(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/log");
    const st = page.getByTestId("checkpoint-state");
    await st.filter({ hasText: /^\s*(verified|FAILED)/ }).first().waitFor();
    return { state: await textOf(st), colors: await stateColor(st),
             main: (await page.locator("main").innerText()).trim() };
}

export async function history_page(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/history");
    const st = page.getByTestId("proof-state");
    await st.first().waitFor();
    // every row's check has finished
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=proof-state]")]
        .every((e) => /^\s*(verified|FAILED)/.test(e.textContent)), null, { timeout: WAIT_MS });
    const states = (await st.allInnerTexts()).map((t) => t.trim());
    const colors = [];
    for (let i = 0; i < states.length; i++) colors.push(await stateColor(st.nth(i)));
    return { states, colors, main: (await page.locator("main").innerText()).trim() };
}

// ------------------------------------------------------------------ pages

/* axe-core on each of PAGES [{url, token?, colorScheme?}], one context with
 * bypassCSP per viewer (needed only to inject axe). */
export async function axe_pages(s, a) {
    const out = [];
    const made = [];
    for (const p of a.pages) {
        const name = "axe:" + (p.token || "anon") + ":" + (p.colorScheme || "light");
        if (!made.includes(name)) {
            made.push(name);
            const page = await s.page(name, { bypassCSP: true,
                                              colorScheme: p.colorScheme || "light" });
            if (p.token) await signIn(page, a.base, p.token);
        }
        const page = await s.page(name);
        const status = await open(page, a.base + p.url);
        if (p.ready) await page.locator(p.ready).first().waitFor();
        out.push({ url: p.url, viewer: p.who || "anonymous", scheme: p.colorScheme || "light",
                   status, violations: await axe(page) });
    }
    for (const n of made) await s.close(n);
    return out;
}

/* Bytes transferred for the first load of URL in an empty cache (CDP
 * encodedDataLength: headers and compressed bodies), and with THROTTLE
 * {kbit, rtt} how long until data-testid=tier shows a word. */
export async function weigh(s, a) {
    const name = "weigh:" + Math.random();
    const page = await s.page(name, a.options || {});
    const cdp = await s.context(name).newCDPSession(page);
    await cdp.send("Network.enable");
    const urls = new Map();
    const sizes = [];
    cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, e.response.url));
    cdp.on("Network.loadingFinished", (e) => sizes.push({ url: urls.get(e.requestId),
                                                          bytes: e.encodedDataLength }));
    if (a.throttle) {
        const bps = (a.throttle.kbit * 1000) / 8;
        await cdp.send("Network.emulateNetworkConditions", {
            offline: false, latency: a.throttle.rtt, downloadThroughput: bps,
            uploadThroughput: bps });
    }
    const t0 = Date.now();
    await page.goto(a.url, { waitUntil: "commit", timeout: 60000 });
    let ready_ms = null;
    if (a.wait_tier) {
        await page.getByTestId("tier").filter({ hasText: /\w/ }).first()
            .waitFor({ timeout: 30000 });
        ready_ms = Date.now() - t0;
    }
    await page.waitForLoadState("networkidle", { timeout: 60000 });
    const total = sizes.reduce((n, x) => n + x.bytes, 0);
    await s.close(name);
    return { total, sizes, ready_ms };
}

/* Two visits to A.URL in one browser, one after the other: per visit, every
 * /ui/ URL the page used and whether the server was asked for it (a
 * revalidation counts; an answer from the browser's cache does not). */
export async function revisit(s, a) {
    const name = "revisit:" + Math.random();
    const page = await s.page(name, a.options || {});
    const cdp = await s.context(name).newCDPSession(page);
    await cdp.send("Network.enable");
    const fromCache = new Set();
    let seen = [];
    cdp.on("Network.requestServedFromCache", (e) => fromCache.add(e.requestId));
    cdp.on("Network.responseReceived", (e) => {
        if (new URL(e.response.url).pathname.startsWith("/ui/"))
            seen.push({ id: e.requestId, url: e.response.url, status: e.response.status,
                        disk: e.response.fromDiskCache === true });
    });
    const visits = [];
    for (let i = 0; i < 2; i++) {
        seen = [];
        await page.goto(a.url, { waitUntil: "commit", timeout: 60000 });
        await page.getByTestId("tier").filter({ hasText: /\w/ }).first()
            .waitFor({ timeout: 30000 });
        await page.waitForLoadState("networkidle", { timeout: 60000 });
        visits.push(seen.map((x) => ({ url: x.url, status: x.status,
                                       server: !x.disk && !fromCache.has(x.id) })));
    }
    await s.close(name);
    return { visits };
}

/* The computed page background and text colours under a colour scheme. */
export async function scheme(s, a) {
    const name = "scheme:" + a.colorScheme;
    const page = await s.page(name, { colorScheme: a.colorScheme });
    await open(page, a.url);
    const r = await page.evaluate(() => {
        const pick = (e) => {
            for (; e; e = e.parentElement) {
                const c = getComputedStyle(e).backgroundColor;
                if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return c;
            }
            return "rgb(255, 255, 255)";
        };
        return { background: pick(document.querySelector("main")),
                 color: getComputedStyle(document.querySelector("main")).color };
    });
    await s.close(name);
    return r;
}

export async function close(s, a) {
    await s.close(a.ctx);
    return null;
}
