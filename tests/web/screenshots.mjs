// SPDX-License-Identifier: Apache-2.0
// `make screenshots` (docs/web.md): photographs each page of a running
// server into PNGs. tests/web/screenshots.py starts the server with demo
// data and passes a JSON spec: {"base", "out", "max_bytes", "shots": [{"name",
// "url", "token"?, "colorScheme"?, "ready"?}]}. Each PNG is the 1000x700
// viewport; one larger than max_bytes fails the run.
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { launch, open, Session, signIn } from "./lib.mjs";

const spec = JSON.parse(process.argv[2]);
const browser = await launch();
const session = new Session(browser);
const failures = [];
mkdirSync(spec.out, { recursive: true });
try {
    for (const shot of spec.shots) {
        const who = (shot.token ? shot.who || "user" : "anon") + ":" +
            (shot.colorScheme || "light");
        let page = session.contexts.get(who)?.page;
        if (!page) {
            page = await session.page(who, { viewport: { width: 1000, height: 700 },
                                             colorScheme: shot.colorScheme || "light",
                                             reducedMotion: "reduce" });
            if (shot.token) await signIn(page, spec.base, shot.token);
        }
        await open(page, spec.base + shot.url);
        if (shot.ready) await page.locator(shot.ready).first().waitFor();
        await page.waitForTimeout(200);
        const path = join(spec.out, shot.name + ".png");
        await page.screenshot({ path, animations: "disabled", caret: "hide" });
        const size = statSync(path).size;
        process.stdout.write(`${path} ${size} bytes\n`);
        if (size > spec.max_bytes) {
            failures.push(`${path} is ${size} bytes (at most ${spec.max_bytes})`);
        }
    }
    const bad = session.drain()
        .filter((e) => ["dialog", "pageerror", "csp", "5xx"].includes(e.kind));
    for (const e of bad) failures.push(`${e.url}: ${e.kind} ${e.text}`);
} finally {
    await session.closeAll();
    await browser.close();
}
if (failures.length) {
    process.stderr.write("screenshots: " + failures.join("\n") + "\n");
    process.exit(1);
}
