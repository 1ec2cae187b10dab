// SPDX-License-Identifier: Apache-2.0
// More browser steps, for tests/integration/test_web_ui2.py (docs/web.md,
// "Browser tests"): invitation sign-up, the publisher's manage page acted on
// for real, keyboard-only requests, reduced motion, the hosted model page.
// driver.mjs serves these beside flows.mjs; the conventions are the same
// (a named context CTX, BASE the server, a missing control fails in WAIT_MS).
import { open, settle, signedIn, WAIT_MS } from "./lib.mjs";

const btn = (page, name) => page.getByRole("button", { name, exact: true });
const box = (page, name) => page.getByRole("textbox", { name, exact: true });

async function ctxPage(s, a) {
    return s.page(a.ctx, a.options || {});
}

/* The text the live region (say()) settles on after an action, and its
 * kind ("ok" or "err"); null when nothing was said within WAIT_MS. */
async function liveMessage(page) {
    const live = page.locator("#live").filter({ hasText: /\S/ });
    try {
        await live.waitFor({ timeout: WAIT_MS });
    } catch (e) {
        return { message: null, kind: null };
    }
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(100);
    return page.locator("#live").evaluate((e) => ({
        message: e.textContent.trim(),
        kind: e.classList.contains("err") ? "err" : e.classList.contains("ok") ? "ok" : null,
    }));
}

// ------------------------------------------------------------------ invitations

/* "Create invitation" on /admin: the code the page shows once. */
export async function create_invitation(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/admin");
    const inv = page.getByRole("region", { name: "Invitations", exact: true });
    if (a.email !== undefined) {
        const e = inv.getByRole("textbox", { name: "Email", exact: true });
        if ((await e.count()) > 0) await e.fill(a.email);
    }
    await btn(inv, "Create invitation").click();
    const code = page.getByTestId("invitation-code");
    await code.waitFor();
    return { code: (await code.innerText()).trim(),
             text: (await inv.innerText()).trim() };
}

/* What /signin offers for signing up: the form's button and its fields. */
export async function signup_form(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/signin");
    return {
        signup_button: await btn(page, "Sign up").count(),
        invite_box: await box(page, "Invitation code").count(),
        user_box: await box(page, "User name").count(),
        main: (await page.locator("main").innerText()).trim(),
    };
}

/* Signs up on /signin typing INVITE into "Invitation code": the token shown
 * or, when refused, the message the page says. */
export async function signup_invite(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/signin");
    const fill = { "User name": a.user, "Full name": a.name, "Email": a.email,
                   "Invitation code": a.invite };
    for (const [label, v] of Object.entries(fill)) await box(page, label).fill(v);
    await btn(page, "Sign up").click();
    const shown = page.getByTestId("new-token");
    const err = page.locator("#live.err").filter({ hasText: /\S/ });
    await shown.or(err).first().waitFor();
    await page.waitForLoadState("networkidle");
    const token = (await shown.count()) ? (await shown.innerText()).trim() : null;
    return {
        token,
        message: token ? null : (await err.innerText()).trim(),
        signed_in: await signedIn(page),
        main: (await page.locator("main").innerText()).trim(),
    };
}

// ------------------------------------------------------------------ manage

function rowOf(page, user, action) {
    const word = new RegExp("(^|\\W)" + user.replace(/[-.]/g, "\\$&") + "(\\W|$)");
    return page.locator("li.req").filter({ hasText: word }).filter({ has: btn(page, action) });
}

/* ACTION on USER's row of the manage page with REASON and DAYS typed as
 * given (also empty): what the live region then says, without reloading. */
export async function manage_try(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const row = rowOf(page, a.user, a.action);
    await row.waitFor();
    if (a.reason !== undefined) await box(row, "Reason").fill(a.reason);
    if (a.days !== undefined) await box(row, "Expires (days)").fill(String(a.days));
    await btn(row, a.action).click();
    const said = await liveMessage(page);
    const focused = await page.evaluate(() => {
        const e = document.activeElement;
        return e && e.id ? (document.querySelector("label[for='" + e.id + "']") || {}).textContent
            || null : null;
    });
    return { ...said, focused };
}

/* "Tier" and "Set tier" on the manage page. */
export async function set_tier(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const sec = page.getByRole("region", { name: "Tier and schedule", exact: true });
    await sec.getByRole("combobox", { name: "Tier", exact: true }).selectOption(a.tier);
    await btn(sec, "Set tier").click();
    const said = await liveMessage(page);
    await settle(page);
    return said;
}

/* A staged step: "Next tier", "On (date)" (YYYY-MM-DD), "Schedule". */
export async function schedule_step(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const sec = page.getByRole("region", { name: "Tier and schedule", exact: true });
    await sec.getByRole("combobox", { name: "Next tier", exact: true }).selectOption(a.tier);
    await sec.getByLabel("On (date)", { exact: true }).fill(a.date);
    await btn(sec, "Schedule").click();
    const said = await liveMessage(page);
    await open(page, a.base + "/" + a.model + "/manage");
    return { ...said, section: (await sec.innerText()).trim() };
}

/* "Evidence for ID" and "Record evidence" (TEXT may be empty). */
export async function record_evidence(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const sec = page.getByRole("region", { name: "Obligations and attestations", exact: true });
    const ev = sec.getByRole("textbox", { name: "Evidence for " + a.id, exact: true });
    await ev.fill(a.text);
    await ev.locator("xpath=ancestor::form").getByRole("button", { name: "Record evidence" })
        .click();
    return liveMessage(page);
}

/* The obligation ids the manage page offers evidence boxes for. */
export async function evidence_boxes(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const sec = page.getByRole("region", { name: "Obligations and attestations", exact: true });
    await sec.waitFor();
    const labels = await sec.locator("label").allInnerTexts();
    return { ids: labels.filter((t) => t.startsWith("Evidence for "))
        .map((t) => t.slice("Evidence for ".length).trim()),
             text: (await sec.innerText()).trim() };
}

/* "Auto-approval rules": types the given boxes (Email domains, Orgs,
 * Required fields) and presses "Save rules". */
export async function save_rules(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model + "/manage");
    const sec = page.getByRole("region", { name: "Auto-approval rules", exact: true });
    for (const [label, v] of Object.entries(a.boxes || {})) await box(sec, label).fill(v);
    await btn(sec, "Save rules").click();
    return liveMessage(page);
}

// ------------------------------------------------------------------ keyboard

async function focusInfo(page) {
    return page.evaluate(() => {
        const e = document.activeElement;
        if (!e || e === document.body) return null;
        const c = getComputedStyle(e);
        const lab = e.id ? document.querySelector("label[for='" + e.id + "']") : null;
        return {
            tag: e.tagName,
            name: ((lab && lab.textContent) || e.getAttribute("aria-label") || e.textContent || "")
                .trim().slice(0, 60),
            outline: c.outlineStyle + " " + c.outlineWidth,
        };
    });
}

/* Tab until the focused element is TAG named NAME; returns what focus went
 * through (with each element's computed outline). */
async function tabTo(page, tag, name, seen) {
    for (let i = 0; i < 80; i++) {
        await page.keyboard.press("Tab");
        const f = await focusInfo(page);
        seen.push(f);
        if (f && f.tag === tag && f.name.startsWith(name)) return f;
    }
    throw new Error("80 presses of Tab never focused " + tag + " \"" + name + "\"; focus went " +
                    seen.map((f) => (f ? f.tag + ":" + f.name : "none")).join(" -> "));
}

/* "Request access" on MODEL with Tab, Enter and typing only: the purpose
 * typed into "Purpose", the request sent from "Send request" by Enter. */
export async function request_keyboard(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model);
    await page.locator("body").focus();
    const seen = [];
    await tabTo(page, "BUTTON", "Request access", seen);
    await page.keyboard.press("Enter");
    await tabTo(page, "TEXTAREA", "Purpose", seen);
    await page.keyboard.type(a.purpose);
    await tabTo(page, "BUTTON", "Send request", seen);
    await page.keyboard.press("Enter");
    await page.getByTestId("access-state").filter({ hasText: /^\s*pending/ }).waitFor();
    return { seen: seen.filter(Boolean) };
}

// ------------------------------------------------------------------ motion

/* Every element of URL whose computed transition or animation lasts longer
 * than 0s (with a button and a link hovered and focused), under the
 * reduced-motion preference MOTION ("reduce" or "no-preference"). */
export async function motion(s, a) {
    const name = "motion:" + a.motion;
    const page = await s.page(name, { reducedMotion: a.motion });
    await open(page, a.url);
    const b = page.locator("main button, header button").first();
    if (await b.count()) await b.hover();
    const moving = await page.evaluate(() => {
        const long = (v) => v.split(",").some((x) => parseFloat(x) > 0);
        const out = [];
        for (const e of document.querySelectorAll("*")) {
            for (const pseudo of [null, "::before", "::after"]) {
                const c = getComputedStyle(e, pseudo);
                if (long(c.transitionDuration) || (c.animationName !== "none" &&
                                                   long(c.animationDuration))) {
                    out.push(e.tagName + (pseudo || "") + " transition " + c.transitionDuration +
                             " animation " + c.animationName + " " + c.animationDuration);
                }
            }
        }
        return { out, running: document.getAnimations().length };
    });
    await s.close(name);
    return moving;
}

// ------------------------------------------------------------------ hosted

/* The retention sentence and the "How to download" box of MODEL. */
export async function hosted_page(s, a) {
    const page = await ctxPage(s, a);
    await open(page, a.base + "/" + a.model);
    const region = page.getByRole("region", { name: "How to download", exact: true });
    const ret = page.getByTestId("retention");
    return {
        retention: (await ret.count()) ? (await ret.innerText()).trim() : null,
        how_to_download: (await region.count()) ? (await region.innerText()).trim() : null,
    };
}

// ------------------------------------------------------------------ TLS

/* Opens URL: its status, its text, whether it ran a script. */
export async function raw_page(s, a) {
    const page = await ctxPage(s, a);
    const r = await page.goto(a.url);
    await page.waitForLoadState("load");
    return { status: r ? r.status() : null,
             text: (await page.locator("body").innerText().catch(() => "")).trim(),
             scripts: await page.locator("script").count() };
}
