/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Renders the access and account answers (render_access.h). Times are
 * RFC 3339 UTC seconds or null; text the database holds as JSON (a
 * request's fields and history) is parsed back into the answer.
 */
#include "http/render_access.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "tlog/govdoc.h"
#include "common/banned.h"

static json_t *time_json(int64_t t)
{
    char buf[21];

    return t > 0 ? json_string(sl_gov_time(t, buf)) : json_null();
}

static json_t *str_json(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *sl_render_terms(const char *model, const struct sl_version_ref *v,
                        const struct sl_reg_terms *t)
{
    json_t *fields = json_array();

    for (size_t i = 0; i < t->nfields; i++)
        json_array_append_new(fields, json_string(t->fields[i]));
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:o}", "model", model,
                     "version", (json_int_t)v->seq, "commit", v->commit, "tier", v->tier,
                     "license_sha256", t->license_sha256, "license", t->license, "license_given",
                     t->given, "accepted", t->accepted, "retention_days",
                     t->retention_days > 0 ? json_integer(t->retention_days) : json_null(),
                     "fields", fields);
}

json_t *sl_render_acceptance(const char *model, const struct sl_version_ref *v,
                             const struct sl_reg_acceptance *a)
{
    return json_pack("{s:s, s:I, s:s, s:b, s:b}", "model", model, "version", (json_int_t)v->seq,
                     "license_sha256", a->license_sha256, "accepted", 1, "new", a->fresh);
}

json_t *sl_render_request(const char *model, const struct sl_reg_request *q)
{
    const struct sl_request_row *w = &q->row;
    json_t *fields = w->fields ? json_loads(w->fields, 0, NULL) : NULL;
    json_t *history = w->history ? json_loads(w->history, 0, NULL) : NULL;
    json_t *out;

    out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "model",
                    model, "user", w->user, "status", q->status, "purpose", w->purpose, "fields",
                    fields ? fields : json_object(), "created", time_json(w->created), "decided",
                    time_json(w->decided), "reason", str_json(w->reason), "appeal",
                    str_json(w->appeal), "appealed", time_json(w->appealed), "expires",
                    time_json(w->expires), "auto_rule", str_json(w->auto_rule), "final", q->final);
    /* earlier revocations and final denials, oldest first: the publisher sees
     * them beside a new request, which no rule approves */
    json_object_set_new(out, "history", json_is_array(history) ? history : json_array());
    if (!json_is_array(history))
        json_decref(history);
    if (q->license)
        json_object_set_new(out, "license", json_string(q->license));
    return out;
}

json_t *sl_render_requests(const char *model, const struct sl_reg_request *q, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, sl_render_request(model, &q[i]));
    return arr;
}

json_t *sl_render_org_members(const struct sl_member_row *rows, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s}", "user", rows[i].user, "role", rows[i].role));
    return arr;
}

/* The Hub's time format: "2024-01-02T03:04:05.000Z". */
static const char *iso(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

json_t *sl_render_hf_models(const struct sl_repo_model_item *items, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        const struct sl_repo_model_item *it = &items[i];
        char oid[25], mod[40], cre[40];
        unsigned char h[32];
        /* _id as in model info: a stable id derived from the name */
        sl_sha256(it->id, strlen(it->id), h);
        sl_hex(h, 12, oid);
        json_array_append_new(
            arr,
            json_pack(
                "{s:s, s:s, s:s, s:s, s:b, s:o, s:I, s:I, s:i, s:s, s:s, s:s, s:[], s:{s:s, s:I}}",
                "_id", oid, "id", it->id, "modelId", it->id, "author", it->org, "private", 0,
                "gated", strcmp(it->tier, "open") == 0 ? json_false() : json_string("manual"),
                "downloads", (json_int_t)it->dl_recent, "downloadsAllTime", (json_int_t)it->dl_all,
                "likes", 0, "sha", it->commit, "lastModified",
                iso(it->version_created, mod, sizeof(mod)), "createdAt",
                iso(it->model_created, cre, sizeof(cre)), "tags", "sluice", "tier", it->tier,
                "version", (json_int_t)it->seq));
    }
    return arr;
}

json_t *sl_render_whoami(const struct sl_principal *p, const struct sl_reg_whoami *w)
{
    json_t *orgs = json_array();
    const char *role;
    char id[32];

    for (size_t i = 0; i < w->norgs; i++) {
        snprintf(id, sizeof(id), "org-%lld", (long long)w->orgs[i].org_id);
        json_array_append_new(
            orgs,
            json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "type", "org", "id", id, "name",
                      w->orgs[i].org, "fullname", w->orgs[i].org, "canPay", 0, "avatarUrl", "",
                      "roleInOrg", strcmp(w->orgs[i].role, "publisher") == 0 ? "write" : "read"));
    }
    /* the Hub's roles: admin > write > read; a sluice token's scopes map so */
    role = (p->scopes & SL_SCOPE_ADMIN) ? "admin" : (p->scopes & SL_SCOPE_WRITE) ? "write" : "read";
    snprintf(id, sizeof(id), "user-%lld", (long long)p->user_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:s, s:o, s:b, s:{s:s, "
                     "s:{s:s, s:s}}}",
                     "type", "user", "id", id, "name", p->name, "fullname", p->name, "email",
                     w->email ? json_string(w->email) : json_null(), "emailVerified", 0, "isPro", 0,
                     "canPay", 0, "avatarUrl", "", "orgs", orgs, "isAdmin", p->admin, "auth",
                     "type", "access_token", "accessToken", "displayName", "sluice token", "role",
                     role);
}
