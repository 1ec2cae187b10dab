// SPDX-License-Identifier: Apache-2.0
// The browser half of tests/integration/test_web_ui.py (docs/web.md, "Browser
// tests"): one headless Debian chromium, launched once, driven by Playwright.
// Python writes one JSON request a line on stdin, {"id", "flow", "args"}; the
// flow (flows.mjs) runs in named browser contexts that live across requests,
// and the answer is one JSON line on stdout: {"id", "ok", "result" | "error",
// "events"}. "events" is what every page saw since the last answer: dialogs,
// uncaught page errors, CSP violations, console errors and 5xx answers.
import { createInterface } from "node:readline";
import { launch, Session } from "./lib.mjs";
import * as flows1 from "./flows.mjs";
import * as flows2 from "./flows2.mjs";

const flows = { ...flows1, ...flows2 };

const browser = await launch();
const session = new Session(browser);

function send(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

send({ ready: true, version: browser.version() });

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
    if (!line.trim()) continue;
    let req;
    try {
        req = JSON.parse(line);
    } catch (e) {
        send({ id: null, ok: false, error: "driver: a request line is not JSON: " + e.message });
        continue;
    }
    if (req.flow === "quit") break;
    const fn = flows[req.flow];
    let answer;
    if (typeof fn !== "function") {
        answer = { id: req.id, ok: false,
                   error: "driver: no flow named " + JSON.stringify(req.flow) };
    } else {
        try {
            const result = await fn(session, req.args || {});
            answer = { id: req.id, ok: true, result: result ?? null };
        } catch (e) {
            answer = { id: req.id, ok: false, error: String(e?.stack || e) };
            await session.snapshot(req.flow).catch(() => {});
        }
    }
    answer.events = session.drain();
    send(answer);
}
await session.closeAll();
await browser.close();
