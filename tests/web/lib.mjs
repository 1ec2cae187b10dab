// SPDX-License-Identifier: Apache-2.0
// What the browser flows (flows.mjs) and the screenshot script
// (screenshots.mjs) share: launching Debian's chromium, named contexts that
// record what their pages did wrong, signing in, waiting for a page to
// render, and axe-core.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);

export const CHROMIUM = process.env.SLUICE_CHROMIUM || "/usr/bin/chromium";

// Every wait has a bound: a missing control fails the flow in seconds,
// naming the locator, instead of hanging the suite.
export const WAIT_MS = Number(process.env.SLUICE_WEB_WAIT_MS || 10000);

/* The one browser of a test class. evil.test is a second site on loopback
 * (the cross-site CSRF page): a different site from 127.0.0.1 for SameSite. */
export async function launch() {
    return chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ["--no-sandbox", "--host-resolver-rules=MAP evil.test 127.0.0.1",
               "--disable-dev-shm-usage"],
    });
}

export class Session {
    constructor(browser) {
        this.browser = browser;
        this.contexts = new Map(); // name -> {context, page, opts}
        this.events = [];
    }

    /* The page of context NAME, made on first use with OPTS (Playwright
     * newContext options: colorScheme, bypassCSP, viewport, ...). */
    async page(name, opts = {}) {
        let c = this.contexts.get(name);
        if (c) return c.page;
        const context = await this.browser.newContext({ acceptDownloads: true, ...opts });
        context.setDefaultTimeout(WAIT_MS);
        context.setDefaultNavigationTimeout(4 * WAIT_MS);
        // Reports a CSP violation through the console whatever the page does;
        // init scripts come from the browser, not the page, so CSP allows them.
        await context.addInitScript(() => {
            document.addEventListener("securitypolicyviolation", (e) => {
                console.error("CSP-VIOLATION " + e.violatedDirective + " blocked " +
                    (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
            });
        });
        const page = await context.newPage();
        c = { context, page, opts };
        this.contexts.set(name, c);
        this.watch(name, page);
        context.on("page", (p) => this.watch(name, p));
        return page;
    }

    context(name) {
        const c = this.contexts.get(name);
        if (!c) throw new Error("no browser context named " + name);
        return c.context;
    }

    watch(name, page) {
        const add = (kind, text) => this.events.push({ context: name, kind, text,
                                                       url: page.url() });
        page.on("dialog", async (d) => {
            add("dialog", d.type() + ": " + d.message());
            await d.dismiss().catch(() => {});
        });
        page.on("pageerror", (e) => add("pageerror", String(e?.stack || e)));
        page.on("console", (m) => {
            const t = m.text();
            if (t.startsWith("CSP-VIOLATION ") || /Content Security Policy/i.test(t)) {
                add("csp", t);
            } else if (m.type() === "error") {
                add("console", t);
            }
        });
        page.on("response", (r) => {
            if (r.status() >= 500) add("5xx", r.status() + " " + r.request().method() + " " +
                                        r.url());
        });
    }

    async close(name) {
        const c = this.contexts.get(name);
        if (!c) return;
        this.contexts.delete(name);
        await c.context.close();
    }

    async closeAll() {
        for (const name of [...this.contexts.keys()]) await this.close(name);
    }

    drain() {
        const e = this.events;
        this.events = [];
        return e;
    }

    /* After a failed flow: a PNG and the DOM of each open page, in
     * SLUICE_WEB_ARTIFACTS when that is set. */
    async snapshot(tag) {
        const dir = process.env.SLUICE_WEB_ARTIFACTS;
        if (!dir) return;
        mkdirSync(dir, { recursive: true });
        for (const [name, c] of this.contexts) {
            for (const [i, p] of c.context.pages().entries()) {
                const base = join(dir, `${tag}-${name}-${i}`);
                await p.screenshot({ path: base + ".png", fullPage: true, timeout: 5000 })
                    .catch(() => {});
                writeFileSync(base + ".html", await p.content().catch(() => ""));
            }
        }
    }
}

/* Waits until the script has rendered the page: the load is over, the
 * network quiet, and main holds something besides the <noscript>. */
export async function settle(page) {
    await page.waitForLoadState("networkidle", { timeout: 4 * WAIT_MS });
    await page.waitForFunction(() => {
        const m = document.querySelector("main");
        return m && [...m.children].some((e) => e.tagName !== "NOSCRIPT");
    }, null, { timeout: WAIT_MS });
}

export async function open(page, url) {
    const r = await page.goto(url);
    await settle(page);
    return r ? r.status() : null;
}

/* Signs in with TOKEN on BASE/signin the way a person does. */
export async function signIn(page, base, token) {
    await open(page, base + "/signin");
    await page.getByRole("textbox", { name: "Token", exact: true }).fill(token);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
}

export async function signedIn(page) {
    const out = page.getByRole("button", { name: "Sign out", exact: true });
    const inn = page.getByRole("link", { name: "Sign in", exact: true });
    await out.or(inn).first().waitFor();
    return (await out.count()) > 0;
}

/* The download links on the page: [{name, href}] (name: the accessible name). */
export async function downloadLinks(page) {
    return page.locator("a[download]").evaluateAll((as) => as.map((a) => ({
        name: (a.getAttribute("aria-label") || a.textContent || "").trim(),
        href: a.getAttribute("href"),
    })));
}

const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa",
                         "best-practice"];

/* axe-core on PAGE (whose context must have bypassCSP: the injected script
 * is inline); returns the serious and critical violations. */
export async function axe(page) {
    await page.addScriptTag({ content: AXE_SOURCE });
    const res = await page.evaluate(async (tags) => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { runOnly: { type: "tag", values: tags },
                                            resultTypes: ["violations"] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                          nodes: v.nodes.slice(0, 5)
                                              .map((n) => n.target.join(" ")) }));
    }, AXE_TAGS);
    return res.filter((v) => v.impact === "serious" || v.impact === "critical");
}
