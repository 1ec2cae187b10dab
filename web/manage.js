// SPDX-License-Identifier: Apache-2.0
// The publisher's and the admin's pages (docs/web.md): /ORG/NAME/manage and
// /admin. An ES module that app.js loads only for those two pages, so
// visitors never download it; it builds the DOM with the helpers app.js
// hands to bind() (createElement and textContent only, never HTML strings).

let h, field, section, table, say, act, api, ApiError, render, when, bytes, tierBadge, enc, modelPath, TIERS, state, notFound;

// Receives app.js's helpers; called once before any page function.
export function bind(ui) {
    ({ h, field, section, table, say, act, api, ApiError, render, when, bytes, tierBadge, enc, modelPath, TIERS, state, notFound } = ui);
}

/* ------------------------------------------------------------- manage */

function isoInDays(days) {
    const d = new Date(Date.now() + days * 86400000);
    return d.toISOString().slice(0, 10);
}

export async function pageManage(m) {
    const full = m.org + "/" + m.name;
    const base = modelPath(m);
    const out = [h("h1", { text: "Manage " + full }), h("p", null, h("a", { href: "/" + full, text: "Back to " + full }))];
    if (!state.session) return out.concat([h("p", { text: "Use \u201cSign in\u201d at the top of the page to manage this model." })]);
    const [queue, rules, sched, ver, obl] = await Promise.all([
        api("GET", base + "/access"), api("GET", base + "/access-rules"), api("GET", base + "/schedule"),
        api("GET", base + "/versions/main"), api("GET", base + "/versions/main/obligations"),
    ].map((p) => p.catch((e) => e)));
    if (queue instanceof ApiError && (queue.status === 403 || queue.status === 401))
        return out.concat([h("p.bad", { text: "Only the publishers of " + m.org + " may manage this model (" + queue.message + ")." })]);
    if (ver instanceof ApiError) {
        if (ver.status === 404) return notFound("There is no model " + full + " here.");
        throw ver;
    }
    out.push(queueSection(m, queue));
    out.push(rulesSection(m, rules));
    out.push(tierSection(m, ver, sched));
    out.push(evidenceSection(m, ver, obl));
    out.push(traceSection(m));
    return out;
}

function queueSection(m, queue) {
    const sec = section("Access requests", null);
    if (queue instanceof Error) {
        sec.appendChild(h("p.bad", { text: queue.message }));
        return sec;
    }
    if (!queue.length) {
        sec.appendChild(h("p", { text: "No requests yet." }));
        return sec;
    }
    const order = { pending: 0, approved: 1, denied: 2, revoked: 3, expired: 4 };
    const list = queue.slice().sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9));
    sec.appendChild(h("ul.queue", null, list.map((r) => requestRow(m, r))));
    return sec;
}

function requestRow(m, r) {
    const base = modelPath(m) + "/access/" + enc(r.user);
    const reason = field("Reason", "input", { type: "text", maxlength: 2000 }, "Required to deny or revoke; the requester sees it.");
    const exp = field("Expires (days)", "input", { type: "text", inputmode: "numeric", pattern: "[0-9]*", maxlength: 5 }, "Empty: the grant does not expire.");
    const post = (btn, what, body, msg) => act(btn, async () => {
        await api("POST", base + "/" + what, body);
        await render("refresh");
    }, msg);
    const approve = h("button", { type: "button", text: "Approve", onclick: (ev) => {
        const d = exp.ctl.value.trim();
        if (d && !/^[1-9][0-9]{0,4}$/.test(d)) {
            exp.ctl.focus();
            return say("Expires (days): a whole number of days from 1, or empty for no expiry.", "err");
        }
        return post(ev.currentTarget, "approve", d ? { expires: isoInDays(Number(d)) } : {}, "Approved " + r.user + ".");
    } });
    const needReason = (what) => (ev) => {
        const t = reason.ctl.value.trim();
        if (!t) {
            reason.ctl.focus();
            return say("Reason: say why, to " + what + " (the requester sees it).", "err");
        }
        return post(ev.currentTarget, what, { reason: t }, (what === "deny" ? "Denied " : "Revoked ") + r.user + ".");
    };
    const deny = h("button", { type: "button", text: "Deny", onclick: needReason("deny") });
    const revoke = h("button", { type: "button", text: "Revoke", onclick: needReason("revoke") });
    const st = r.status;
    const fieldsText = Object.entries(r.fields || {}).map(([k, v]) => k + ": " + v).join(" · ");
    return h("li.req", { "data-user": r.user },
        h("h3", null, r.user, " ", h("span.st-" + st, { text: st })),
        h("p", null, h("span.lbl", { text: "Purpose: " }), h("span", { text: r.purpose || "" })),
        fieldsText ? h("p", { text: fieldsText }) : null,
        r.appeal ? h("p", null, h("span.lbl", { text: "Appeal: " }), h("span", { text: r.appeal })) : null,
        r.reason ? h("p", null, h("span.lbl", { text: "Reason given: " }), h("span", { text: r.reason })) : null,
        h("p.meta", { text: "requested " + when(r.created) + (r.decided ? " · decided " + when(r.decided) : "") + (r.expires ? " · expires " + when(r.expires) : "") + (r.final ? " · final" : "") }),
        (r.history || []).length ? h("details", null, h("summary", { text: "Earlier revocations and denials (" + r.history.length + ")" }),
            h("ul", null, r.history.map((x) => h("li", { text: x.status + " " + when(x.at) + ": " + (x.reason || "") + " — purpose: " + (x.purpose || "") })))) : null,
        h("div.row", null, reason.wrap, exp.wrap),
        h("div.buttons", null, st === "pending" || st === "denied" ? [approve, " "] : null,
            st === "pending" ? [deny, " "] : null, st === "approved" ? revoke : null));
}

function rulesSection(m, rules) {
    const sec = section("Auto-approval rules", null);
    if (rules instanceof Error) {
        sec.appendChild(h("p.bad", { text: rules.message }));
        return sec;
    }
    const every = h("input", { type: "checkbox", id: "r-every", checked: rules.everyone ? true : null });
    const list = (a) => (a || []).join(", ");
    const doms = field("Email domains", "input", { type: "text", value: list(rules.email_domains) }, "Comma-separated, e.g. uni.example, lab.example");
    const orgs = field("Orgs", "input", { type: "text", value: list(rules.orgs) }, "Members of these orgs are approved at once.");
    const flds = field("Required fields", "input", { type: "text", value: list(rules.fields) }, "Keys every request must fill, e.g. institution, country");
    const split = (s) => s.split(/[\s,]+/).filter(Boolean);
    const btn = h("button", { type: "submit", text: "Save rules" });
    sec.appendChild(h("form", { onsubmit: (ev) => {
        ev.preventDefault();
        act(btn, () => api("PUT", modelPath(m) + "/access-rules", { everyone: every.checked, email_domains: split(doms.ctl.value), orgs: split(orgs.ctl.value), fields: split(flds.ctl.value) }), "Rules saved.");
    } }, h("div.field.check", null, every, h("label", { for: "r-every", text: "Approve everyone who asks" })), doms.wrap, orgs.wrap, flds.wrap, btn));
    return sec;
}

function tierSelect(label, current) {
    const f = field(label, "select", {});
    for (const t of TIERS) f.ctl.appendChild(h("option", { value: t, text: t, selected: t === current ? true : null }));
    return f;
}

function tierSection(m, ver, sched) {
    const base = modelPath(m);
    const sec = section("Tier and schedule", null, h("p", null, "Version " + ver.version + " is ", tierBadge(ver.tier), "; its floor is ", tierBadge(ver.floor_tier || ver.min_tier || "open"), "."));
    const t = tierSelect("Tier", ver.tier);
    const set = h("button", { type: "submit", text: "Set tier" });
    sec.appendChild(h("form", { onsubmit: (ev) => {
        ev.preventDefault();
        act(set, async () => {
            await api("POST", base + "/tier", { tier: t.ctl.value, rev: ver.commit });
            await render("refresh");
        }, "Tier set to " + t.ctl.value + ".");
    } }, t.wrap, set));
    sec.appendChild(h("h3", { text: "Staged release" }));
    if (sched instanceof Error) sec.appendChild(h("p.bad", { text: sched.message }));
    else if (!sched.length) sec.appendChild(h("p", { text: "No steps planned." }));
    else sec.appendChild(table(["Version", "Tier", "At", "Status"], sched.map((s) => h("tr", null,
        h("td", { text: "v" + s.version }), h("td", null, tierBadge(s.tier)), h("td", { text: when(s.at) }),
        h("td", { text: s.status + (s.reason ? ": " + s.reason : "") }))), "Schedule"));
    const st = tierSelect("Next tier", "open");
    const at = field("On (date)", "input", { type: "date", required: true, min: isoInDays(1) });
    const add = h("button", { type: "submit", text: "Schedule" });
    sec.appendChild(h("form", { onsubmit: (ev) => {
        ev.preventDefault();
        if (!at.ctl.value) return say("On (date): pick a day in the future.", "err");
        act(add, async () => {
            await api("POST", base + "/schedule", { tier: st.ctl.value, at: at.ctl.value, rev: ver.commit });
            await render("refresh");
        }, "Step scheduled.");
    } }, st.wrap, at.wrap, add));
    return sec;
}

function evidenceSection(m, ver, obl) {
    const base = modelPath(m) + "/versions/" + ver.commit;
    const sec = section("Obligations and attestations", null);
    if (obl instanceof Error) sec.appendChild(h("p.bad", { text: obl.message }));
    else if (!(obl.obligations || []).length) sec.appendChild(h("p", { text: "This version has no obligations." }));
    else {
        sec.appendChild(h("ul.obl", null, obl.obligations.map((o) => {
            const li = h("li", null, h("strong", { text: o.id }), " — " + (o.title || "") + " ", h("span.st-" + o.status, { text: o.status }));
            if (o.status !== "satisfied" && !o.requires_evaluations) {
                const ev = field("Evidence for " + o.id, "textarea", { rows: 2, maxlength: 10000 }, "A filing, its URL, or what was done.");
                const b = h("button", { type: "submit", text: "Record evidence" });
                li.appendChild(h("form", { onsubmit: (e) => {
                    e.preventDefault();
                    if (!ev.ctl.value.trim()) return say("Evidence for " + o.id + ": write the evidence first.", "err");
                    act(b, async () => {
                        await api("POST", base + "/obligations/" + enc(o.id) + "/satisfy", { evidence: ev.ctl.value.trim() });
                        await render("refresh");
                    }, "Evidence recorded for " + o.id + ".");
                } }, ev.wrap, b));
            } else if (o.requires_evaluations && o.status !== "satisfied") {
                li.appendChild(h("p.hint", { text: "Needs attested evaluations: " + (o.missing_evaluations || o.requires_evaluations).join(", ") }));
            }
            return li;
        })));
    }
    const note = field("Attestation (signed note)", "textarea", { rows: 6, spellcheck: "false" }, "The note `sluice eval sign` wrote, pasted whole.");
    const b = h("button", { type: "submit", text: "Attach attestation" });
    sec.appendChild(h("form", { onsubmit: (e) => {
        e.preventDefault();
        let t = note.ctl.value.replace(/\r\n/g, "\n");
        if (!t.trim()) return say("Attestation: paste the signed note first.", "err");
        if (!t.endsWith("\n")) t += "\n";
        act(b, async () => {
            const r = await api("POST", base + "/attestations", t);
            await render("refresh");
            return r;
        }, (r) => "Attestation attached; the tier is now " + (r && r.tier) + ".");
    } }, note.wrap, b));
    return sec;
}

// A button for an action that cannot be undone: the first press turns it
// into a confirmation (for 8 s), the second acts. No modal dialog.
function twoStep(label, confirmLabel, fn, done) {
    let armed = 0;
    const b = h("button", { type: "button", text: label, onclick: () => {
        if (!armed) {
            b.textContent = confirmLabel;
            b.classList.add("danger");
            armed = setTimeout(() => {
                armed = 0;
                b.textContent = label;
                b.classList.remove("danger");
            }, 8000);
            say("Press again to confirm: " + label.toLowerCase() + ".", "err");
            return;
        }
        clearTimeout(armed);
        armed = 0;
        act(b, fn, done);
    } });
    return b;
}

// A false-positive bound as a person reads it; 0 is an underflow.
function probability(x) {
    if (typeof x !== "number") return "—";
    if (x === 0) return "below 1e-300";
    return x < 1e-3 ? x.toExponential(1) : x.toPrecision(3);
}

// The trace upload's body (docs/fingerprint.md): per file a u16 LE name
// length, the name, a u64 LE size, the bytes. A Blob of the parts, so the
// files stream from disk instead of being read into memory.
function traceBody(files) {
    const parts = [];
    for (const f of files) {
        const name = new TextEncoder().encode(f.name);
        const head = new DataView(new ArrayBuffer(2 + name.length + 8));
        head.setUint16(0, name.length, true);
        new Uint8Array(head.buffer, 2, name.length).set(name);
        head.setBigUint64(2 + name.length, BigInt(f.size), true);
        parts.push(head.buffer, f);
    }
    return new Blob(parts);
}

function traceSection(m) {
    const files = field("Files", "input", { type: "file", multiple: true, accept: ".safetensors,.gguf,.json" }, "The suspect copy: its .safetensors or .gguf files (and config .json); at most 1,000.");
    const result = h("div.trace", { "data-testid": "trace-result" });
    const btn = h("button", { type: "submit", text: "Trace" });
    const form = h("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        const list = Array.from(files.ctl.files || []);
        if (!list.length) return say("Files: choose the suspect copy's files first.", "err");
        const bad = list.find((f) => !/\.(safetensors|gguf|json)$/.test(f.name));
        if (bad) return say("Files: \"" + bad.name + "\" is not a .safetensors, .gguf or .json file.", "err");
        result.replaceChildren(h("p", { text: "Tracing " + list.length + " file(s), " + bytes(list.reduce((n, f) => n + f.size, 0)) + "…" }));
        const r = await act(btn, () => api("POST", modelPath(m) + "/trace", traceBody(list)));
        if (!r) return result.replaceChildren();
        result.replaceChildren(...[
            h("p", null, "Verdict: ", h("strong.v-" + r.verdict, { text: r.verdict })),
            h("p", { text: r.why || "" }),
            h("dl.facts", null,
                h("dt", { text: "Positions read" }), h("dd", { text: r.positions_read + " of " + r.positions_total + " (" + r.scoring_positions_read + " scoring)" }),
                h("dt", { text: "Recipients scored" }), h("dd", { text: String(r.recipients_scored) }),
                h("dt", { text: "Threshold z" }), h("dd", { text: r.threshold_z === null ? "—" : Number(r.threshold_z).toFixed(2) })),
            (r.accused || []).length ? table(["User", "Grant", "z", "False-positive bound", "Positions"], r.accused.map((a) => h("tr", null,
                h("td", { text: a.user }), h("td", { text: String(a.grant) }), h("td.num", { text: Number(a.z).toFixed(2) }),
                h("td.num", { text: probability(a.fp_bound) }), h("td.num", { text: String(a.positions_read) }))), "Accused") : null,
            (r.unread || []).length ? h("details", null, h("summary", { text: "Unread tensors (" + r.unread.length + ")" }),
                h("ul", null, r.unread.map((u) => h("li", { text: typeof u === "string" ? u : JSON.stringify(u) })))) : null,
        ].filter(Boolean));
        say("Trace finished: " + r.verdict + ".", "ok");
    } }, files.wrap, btn);
    return section("Trace a leaked copy", null, h("p", { text: "Upload a copy found outside; the server reads the fingerprints in it and names the recipient when the evidence is strong enough." }), form, result);
}

/* -------------------------------------------------------------- admin */

export async function pageAdmin() {
    const out = [h("h1", { text: "Administration" })];
    if (!state.session) return out.concat([h("p", { text: "Use \u201cSign in\u201d at the top of the page with an admin's token." })]);
    if (!state.session.admin) return out.concat([h("p.bad", { text: "This page is for the server's admins; " + state.session.user + " is not one." })]);
    const [users, orgs, keys, invites] = await Promise.all([
        api("GET", "/api/v1/users"), api("GET", "/api/v1/orgs"), api("GET", "/api/v1/eval/keys"), api("GET", "/api/v1/invitations"),
    ].map((p) => p.catch((e) => e)));
    out.push(usersSection(users), orgsSection(orgs), keysSection(keys), invitesSection(invites));
    return out;
}

const failed = (sec, e) => (sec.appendChild(h("p.bad", { text: e.message })), sec);

function usersSection(users) {
    const sec = section("Users", null);
    if (users instanceof Error) failed(sec, users);
    else sec.appendChild(table(["User", "Name", "Email", "Affiliation", "Country", "Created", ""], users.map((u) => {
        const p = u.profile || {};
        return h("tr", null, h("td", { text: u.user + (u.admin ? " (admin)" : "") + (u.removed ? " (removed)" : "") }),
            h("td", { text: p.name || "" }), h("td", { text: p.email || "" }), h("td", { text: p.affiliation || "" }), h("td", { text: p.country || "" }),
            h("td", { text: when(u.created) }),
            h("td", null, u.removed ? null : twoStep("Remove " + u.user, "Confirm: remove " + u.user + " (tokens, sessions and grants end)", async () => {
                await api("DELETE", "/api/v1/users/" + enc(u.user));
                await render("refresh");
            }, "Removed " + u.user + ".")));
    }), "Users"));
    const name = field("New user name", "input", { type: "text", required: true });
    const adm = h("input", { type: "checkbox", id: "u-admin" });
    const shown = h("div.result");
    const b = h("button", { type: "submit", text: "Add user" });
    sec.appendChild(h("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        const r = await act(b, () => api("POST", "/api/v1/users", { user: name.ctl.value.trim(), admin: adm.checked }));
        if (r) shown.replaceChildren(h("p", { text: "Token for " + r.user + ", shown once; hand it over safely:" }), h("p", null, h("code.token", { "data-testid": "new-token", text: r.token })));
    } }, name.wrap, h("div.field.check", null, adm, h("label", { for: "u-admin", text: "Server admin" })), b, shown));
    return sec;
}

function orgsSection(orgs) {
    const sec = section("Orgs", null);
    if (orgs instanceof Error) return failed(sec, orgs);
    const members = h("div.members");
    const pick = field("Org", "select", {});
    for (const o of orgs) pick.ctl.appendChild(h("option", { value: o.org, text: o.org + " (" + (o.models || 0) + " models)" }));
    async function show() {
        const org = pick.ctl.value;
        if (!org) return members.replaceChildren();
        let list;
        try {
            list = await api("GET", "/api/v1/orgs/" + enc(org) + "/members");
        } catch (e) {
            return members.replaceChildren(h("p.bad", { text: e.message }));
        }
        members.replaceChildren(list.length ? table(["User", "Role", ""], list.map((x) => h("tr", null, h("td", { text: x.user }), h("td", { text: x.role }),
            h("td", null, h("button", { type: "button", text: "Remove " + x.user + " from " + org, onclick: (ev) => act(ev.currentTarget, async () => {
                await api("DELETE", "/api/v1/orgs/" + enc(org) + "/members/" + enc(x.user));
                await show();
            }, "Removed.") })))), "Members of " + org) : h("p", { text: "No members." }));
    }
    pick.ctl.addEventListener("change", show);
    sec.appendChild(h("ul", null, orgs.map((o) => h("li", { text: o.org + " — " + (o.models || 0) + " models" }))));
    const oname = field("New org", "input", { type: "text", required: true });
    const ob = h("button", { type: "submit", text: "Add org" });
    sec.appendChild(h("form", { onsubmit: (ev) => {
        ev.preventDefault();
        act(ob, async () => {
            await api("POST", "/api/v1/orgs", { org: oname.ctl.value.trim() });
            await render("refresh");
        }, "Org added.");
    } }, oname.wrap, ob));
    sec.appendChild(h("h3", { text: "Memberships" }));
    const mu = field("Member user", "input", { type: "text", required: true });
    const role = field("Role", "select", {});
    for (const r of ["member", "publisher", "admin"]) role.ctl.appendChild(h("option", { value: r, text: r }));
    const mb = h("button", { type: "submit", text: "Set role" });
    sec.appendChild(h("form", { onsubmit: (ev) => {
        ev.preventDefault();
        act(mb, async () => {
            await api("PUT", "/api/v1/orgs/" + enc(pick.ctl.value) + "/members/" + enc(mu.ctl.value.trim()), { role: role.ctl.value });
            await show();
        }, "Role set.");
    } }, pick.wrap, mu.wrap, role.wrap, mb));
    sec.appendChild(members);
    show();
    return sec;
}

function keysSection(keys) {
    const sec = section("Evaluator keys", null);
    if (keys instanceof Error) return failed(sec, keys);
    sec.appendChild(keys.length ? table(["Evaluator", "Verifier key", "Added", ""], keys.map((k) => h("tr", null,
        h("td", { text: k.name }), h("td.hash", { text: k.vkey }), h("td", { text: when(k.added) + (k.revoked ? " · revoked " + when(k.revoked) : "") }),
        h("td", null, k.revoked ? null : h("button", { type: "button", text: "Revoke " + k.name, onclick: (ev) => act(ev.currentTarget, async () => {
            await api("DELETE", "/api/v1/eval/keys/" + enc(k.name));
            await render("refresh");
        }, "Key revoked.") })))), "Evaluator keys") : h("p", { text: "No evaluator keys." }));
    const n = field("Evaluator account", "input", { type: "text", required: true });
    const vk = field("Verifier key", "input", { type: "text", required: true, spellcheck: "false" }, "As `sluice eval keygen` printed it: NAME+hex+base64.");
    const b = h("button", { type: "submit", text: "Add key" });
    sec.appendChild(h("form", { onsubmit: (ev) => {
        ev.preventDefault();
        act(b, async () => {
            await api("POST", "/api/v1/eval/keys", { name: n.ctl.value.trim(), vkey: vk.ctl.value.trim() });
            await render("refresh");
        }, "Key added.");
    } }, n.wrap, vk.wrap, b));
    return sec;
}

function invitesSection(inv) {
    const sec = section("Invitations", null);
    if (inv instanceof Error) failed(sec, inv);
    else sec.appendChild(inv.length ? table(["Id", "Email", "Created", "Expires", "Used by", ""], inv.map((i) => h("tr", null,
        h("td", { text: String(i.id) }), h("td", { text: i.email || "" }), h("td", { text: when(i.created) }), h("td", { text: when(i.expires) }),
        h("td", { text: i.used_by || "" }),
        h("td", null, i.used_by ? null : h("button", { type: "button", text: "Withdraw invitation " + i.id, onclick: (ev) => act(ev.currentTarget, async () => {
            await api("DELETE", "/api/v1/invitations/" + enc(i.id));
            await render("refresh");
        }, "Invitation withdrawn.") })))), "Invitations") : h("p", { text: "No invitations." }));
    const email = field("Invite email (optional)", "input", { type: "email" });
    const days = field("Valid for (days)", "input", { type: "text", inputmode: "numeric", value: "14" });
    const shown = h("div.result");
    const b = h("button", { type: "submit", text: "Create invitation" });
    sec.appendChild(h("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        const body = {};
        if (email.ctl.value.trim()) body.email = email.ctl.value.trim();
        const d = days.ctl.value.trim();
        if (d && !/^[1-9][0-9]{0,3}$/.test(d)) return say("Valid for (days): a whole number of days from 1.", "err");
        if (d) body.days = Number(d);
        const r = await act(b, () => api("POST", "/api/v1/invitations", body));
        if (r) shown.replaceChildren(h("p", { text: "Invitation code (shown once), valid until " + when(r.expires) + ":" }), h("p", null, h("code.token", { "data-testid": "invitation-code", text: r.code })));
    } }, email.wrap, days.wrap, b, shown));
    return sec;
}
