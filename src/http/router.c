/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The router: one declarative table of routes, each with the permission it
 * needs. Before any handler runs, the router decodes the path (refusing NUL,
 * control characters and bad escapes), authenticates the bearer token,
 * resolves the org, model and revision the route names, and applies the tier
 * rule to downloads, so no handler can forget a check.
 */
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

const struct sl_route sl_routes[] = {
    {"GET", "/api/v1/health", sl_h_health, P_NONE, BODY_NONE, S_READ},
    {"GET", "/metrics", sl_h_metrics, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/v1/models", sl_h_models, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/v1/models/{org}/{name}", sl_h_model, P_MODEL, BODY_NONE, S_READ},
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}", sl_h_version, P_VERSION, BODY_NONE,
     S_READ},
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}/decision", sl_h_decision, P_VERSION,
     BODY_NONE, S_READ},
    {"GET HEAD", "/api/v1/models/{org}/{name}/versions/{rev}/files/{path*}", sl_h_file, P_DOWNLOAD,
     BODY_NONE, S_READ},
    {"POST", "/api/v1/models/{org}/{name}/chunks/missing", sl_h_missing, P_PUBLISH, BODY_JSON,
     S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/chunks", sl_h_chunks, P_PUBLISH, BODY_STREAM, S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/files/{sha}", sl_h_file_store, P_PUBLISH, BODY_JSON,
     S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/versions", sl_h_commit, P_PUBLISH, BODY_JSON, S_WRITE},
    {"GET", "/api/models/{org}/{name}", sl_h_hf_info, P_VERSION, BODY_NONE, S_READ},
    {"GET", "/api/models/{org}/{name}/revision/{rev}", sl_h_hf_info, P_VERSION, BODY_NONE, S_READ},
    {"GET", "/api/models/{org}/{name}/tree/{rev}", sl_h_hf_tree, P_VERSION, BODY_NONE, S_READ},
    {"GET", "/api/models/{org}/{name}/tree/{rev}/{path*}", sl_h_hf_tree, P_VERSION, BODY_NONE,
     S_READ},
    {"POST", "/api/models/{org}/{name}/paths-info/{rev}", sl_h_hf_paths_info, P_VERSION, BODY_JSON,
     S_READ},
    {"GET HEAD", "/{org}/{name}/resolve/{rev}/{path*}", sl_h_file, P_DOWNLOAD, BODY_NONE, S_READ},
    /* tiered access (docs/access.md) */
    {"GET", "/api/v1/models/{org}/{name}/terms", sl_h_terms, P_MODEL, BODY_NONE, S_READ},
    {"POST", "/api/v1/models/{org}/{name}/accept", sl_h_accept, P_USER_MODEL, BODY_SMALL, S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/access", sl_h_access_request, P_USER_MODEL, BODY_SMALL,
     S_WRITE},
    {"GET", "/api/v1/models/{org}/{name}/access", sl_h_access_list, P_MANAGE, BODY_NONE, S_READ},
    {"GET", "/api/v1/models/{org}/{name}/access/me", sl_h_access_me, P_USER_MODEL, BODY_NONE,
     S_READ},
    {"POST", "/api/v1/models/{org}/{name}/access/me/appeal", sl_h_access_appeal, P_USER_MODEL,
     BODY_SMALL, S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/access/{user}/approve", sl_h_access_approve, P_MANAGE,
     BODY_SMALL, S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/access/{user}/deny", sl_h_access_deny, P_MANAGE,
     BODY_SMALL, S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/access/{user}/revoke", sl_h_access_revoke, P_MANAGE,
     BODY_SMALL, S_WRITE},
    {"GET", "/api/v1/models/{org}/{name}/access-rules", sl_h_access_rules, P_MANAGE, BODY_NONE,
     S_READ},
    {"PUT", "/api/v1/models/{org}/{name}/access-rules", sl_h_access_rules_set, P_MANAGE, BODY_SMALL,
     S_WRITE},
    {"GET", "/api/v1/models/{org}/{name}/license", sl_h_license, P_USER_MODEL, BODY_NONE, S_READ},
    {"GET", "/api/v1/revocations", sl_h_revocations, P_NONE, BODY_NONE, S_READ},
    {"GET", "/log/key", sl_h_log_key, P_NONE, BODY_NONE, S_READ},
    /* the transparency log (docs/log.md) */
    {"GET", "/log/checkpoint", sl_h_log_checkpoint, P_NONE, BODY_NONE, S_READ},
    {"GET", "/log/tile/{path*}", sl_h_log_tile, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/v1/log/proof/inclusion", sl_h_log_inclusion, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/v1/log/proof/consistency", sl_h_log_consistency, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/v1/log/entries", sl_h_log_entries, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/v1/models/{org}/{name}/report", sl_h_report, P_MODEL, BODY_NONE, S_READ},
    /* fingerprints (docs/fingerprint.md) */
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}/manifest", sl_h_manifest, P_DOWNLOAD,
     BODY_NONE, S_READ},
    {"POST", "/api/v1/models/{org}/{name}/trace", sl_h_trace, P_MANAGE, BODY_FILES, S_WRITE},
    {"GET", "/api/v1/eval/keys", sl_h_eval_keys, P_NONE, BODY_NONE, S_READ},
    {"POST", "/api/v1/eval/keys", sl_h_eval_key_add, P_ADMIN, BODY_SMALL, S_ADMIN},
    {"DELETE", "/api/v1/eval/keys/{user}", sl_h_eval_key_remove, P_ADMIN, BODY_NONE, S_ADMIN},
    /* org membership, for the org's admins (docs/access.md) */
    {"GET", "/api/v1/orgs/{org}/members", sl_h_org_members, P_ORG_ADMIN, BODY_NONE, S_READ},
    {"PUT", "/api/v1/orgs/{org}/members/{user}", sl_h_org_member_set, P_ORG_ADMIN, BODY_SMALL,
     S_WRITE},
    {"DELETE", "/api/v1/orgs/{org}/members/{user}", sl_h_org_member_remove, P_ORG_ADMIN, BODY_NONE,
     S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/versions/{rev}/attestations", sl_h_attest,
     P_MANAGE_VERSION, BODY_SMALL, S_WRITE},
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}/attestations", sl_h_attestations, P_VERSION,
     BODY_NONE, S_READ},
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}/obligations", sl_h_obligations, P_VERSION,
     BODY_NONE, S_READ},
    {"POST", "/api/v1/models/{org}/{name}/versions/{rev}/obligations/{id}/satisfy", sl_h_satisfy,
     P_MANAGE_VERSION, BODY_SMALL, S_WRITE},
    {"POST", "/api/v1/models/{org}/{name}/tier", sl_h_tier_set, P_MANAGE, BODY_SMALL, S_WRITE},
    {"GET", "/api/v1/models/{org}/{name}/schedule", sl_h_schedule, P_MODEL, BODY_NONE, S_READ},
    {"POST", "/api/v1/models/{org}/{name}/schedule", sl_h_schedule_add, P_MANAGE, BODY_SMALL,
     S_WRITE},
    /* Hugging Face Hub parity (issue 12; docs/api.md) */
    {"GET HEAD", "/{org}/{name}/raw/{rev}/{path*}", sl_h_file, P_DOWNLOAD, BODY_NONE, S_READ},
    {"GET", "/api/models", sl_h_hf_list, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/whoami-v2", sl_h_whoami, P_USER, BODY_NONE, S_READ},
    /* delta pulls (docs/api.md) */
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}/chunks/{path*}", sl_h_file_chunks,
     P_DOWNLOAD, BODY_NONE, S_READ},
    /* the hosted tier's OpenAI-compatible gateway (docs/hosted.md) */
    {"GET", "/v1/models", sl_h_v1_models, P_NONE, BODY_NONE, S_READ},
    {"GET", "/v1/models/{org}/{name}", sl_h_v1_model, P_NONE, BODY_NONE, S_READ},
    {"POST", "/v1/chat/completions", sl_h_v1_chat, P_NONE, BODY_JSON, S_READ},
    {"POST", "/v1/completions", sl_h_v1_completions, P_NONE, BODY_JSON, S_READ},
    {"GET", "/api/v1/models/{org}/{name}/hosted/filter", sl_h_filter_get, P_MANAGE, BODY_NONE,
     S_READ},
    {"PUT", "/api/v1/models/{org}/{name}/hosted/filter", sl_h_filter_set, P_MANAGE, BODY_SMALL,
     S_WRITE},
    {"DELETE", "/api/v1/models/{org}/{name}/hosted/filter", sl_h_filter_clear, P_MANAGE, BODY_NONE,
     S_WRITE},
    /* prompt retention, quotas and usage for publishers (docs/hosted.md) */
    {"GET", "/api/v1/models/{org}/{name}/hosted/retention", sl_h_retention_get, P_MANAGE, BODY_NONE,
     S_READ},
    {"PUT", "/api/v1/models/{org}/{name}/hosted/retention", sl_h_retention_set, P_MANAGE,
     BODY_SMALL, S_WRITE},
    {"DELETE", "/api/v1/models/{org}/{name}/hosted/retention", sl_h_retention_clear, P_MANAGE,
     BODY_NONE, S_WRITE},
    {"GET", "/api/v1/models/{org}/{name}/hosted/retention/items", sl_h_retained_list, P_MANAGE,
     BODY_NONE, S_READ},
    {"GET", "/api/v1/models/{org}/{name}/hosted/quota", sl_h_quota_get, P_MANAGE, BODY_NONE,
     S_READ},
    {"PUT", "/api/v1/models/{org}/{name}/hosted/quota", sl_h_quota_set, P_MANAGE, BODY_SMALL,
     S_WRITE},
    {"GET", "/api/v1/models/{org}/{name}/hosted/usage", sl_h_usage_get, P_MANAGE, BODY_NONE,
     S_READ},
    /* the web UI's accounts: sessions, sign-up, invitations, users and orgs
     * (docs/web.md, "Sessions"; handlers_web.c) */
    {"POST", "/api/v1/session", sl_h_session_open, P_SIGNIN, BODY_SMALL, S_READ},
    {"GET", "/api/v1/session", sl_h_session_get, P_NONE, BODY_NONE, S_READ},
    {"DELETE", "/api/v1/session", sl_h_session_close, P_NONE, BODY_NONE, S_READ},
    {"GET", "/api/v1/signup", sl_h_signup_mode, P_NONE, BODY_NONE, S_READ},
    {"POST", "/api/v1/signup", sl_h_signup, P_SIGNIN, BODY_SMALL, S_READ},
    {"GET", "/api/v1/invitations", sl_h_invites, P_ADMIN, BODY_NONE, S_READ},
    {"POST", "/api/v1/invitations", sl_h_invite_new, P_ADMIN, BODY_SMALL, S_ADMIN},
    {"DELETE", "/api/v1/invitations/{id}", sl_h_invite_delete, P_ADMIN, BODY_NONE, S_ADMIN},
    {"GET", "/api/v1/users", sl_h_users, P_ADMIN, BODY_NONE, S_READ},
    {"POST", "/api/v1/users", sl_h_user_add, P_ADMIN, BODY_SMALL, S_ADMIN},
    {"DELETE", "/api/v1/users/{user}", sl_h_user_remove, P_ADMIN, BODY_NONE, S_ADMIN},
    {"GET", "/api/v1/orgs", sl_h_orgs, P_NONE, BODY_NONE, S_READ},
    {"POST", "/api/v1/orgs", sl_h_org_add, P_ADMIN, BODY_SMALL, S_ADMIN},
    /* the web UI (issue 14; docs/web.md): its two API calls, then the pages
     * and assets, last so that every route above wins */
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}/card", sl_h_card, P_VERSION, BODY_NONE,
     S_READ},
    {"GET", "/api/v1/models/{org}/{name}/versions/{rev}/viewer", sl_h_viewer, P_VERSION, BODY_NONE,
     S_READ},
    {"GET HEAD", "/", sl_h_page, P_NONE, BODY_NONE, S_READ},
    {"GET HEAD", "/signin", sl_h_page, P_NONE, BODY_NONE, S_READ},
    {"GET HEAD", "/log", sl_h_page, P_NONE, BODY_NONE, S_READ},
    {"GET HEAD", "/admin", sl_h_page, P_NONE, BODY_NONE, S_READ},
    {"GET HEAD", "/ui/{path*}", sl_h_ui, P_NONE, BODY_NONE, S_READ},
    {"GET HEAD", "/{org}/{name}", sl_h_page, P_NONE, BODY_NONE, S_READ},
    {"GET HEAD", "/{org}/{name}/history", sl_h_page, P_NONE, BODY_NONE, S_READ},
    {"GET HEAD", "/{org}/{name}/manage", sl_h_page, P_NONE, BODY_NONE, S_READ},
    {NULL, NULL, NULL, P_NONE, BODY_NONE, S_READ},
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes `s[0..n)`; NULL when an escape is malformed, decodes to
 * NUL or a control character, or the result is not UTF-8 (every name,
 * revision and path is UTF-8, and PostgreSQL refuses other bytes). */
static char *decode(const char *s, size_t n)
{
    char *out = sl_xmalloc(n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) {
            free(out);
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (!sl_utf8_valid((const unsigned char *)out, o, NULL)) {
        free(out);
        return NULL;
    }
    return out;
}

static bool method_ok(const char *list, const char *m)
{
    size_t n = strlen(m);
    const char *p = list;

    if (n == 0) /* strstr would find "" forever without advancing */
        return false;
    while ((p = strstr(p, m)) != NULL) {
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
        p += n;
    }
    return false;
}

/* Matches `path` against `pattern`; on success fills q->params. */
static bool match(struct sl_req *q, const char *pattern, const char *path, bool *bad)
{
    const char *p = pattern, *s = path;
    size_t np = 0;
    char *caps[MAX_PARAMS] = {NULL};

    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            bool rest = close[-1] == '*';
            const char *end = rest ? s + strlen(s) : strchr(s, '/');
            if (!end)
                end = s + strlen(s);
            if (end == s)
                goto no;
            caps[np] = decode(s, (size_t)(end - s));
            if (!caps[np]) {
                *bad = true;
                goto no;
            }
            np++;
            s = end;
            p = close + 1;
            continue;
        }
        if (*p != *s)
            goto no;
        p++;
        s++;
    }
    if (*p || *s)
        goto no;
    for (size_t i = 0; i < np; i++)
        q->params[i] = caps[i];
    return true;
no:
    for (size_t i = 0; i < np; i++)
        free(caps[i]);
    return false;
}

const struct sl_route *sl_route_match(struct sl_req *q, unsigned *status, const char **why)
{
    bool path_found = false, bad = false;

    for (const struct sl_route *r = sl_routes; r->methods; r++) {
        /* a model's pages never take an API path (sl__page_path_reserved) */
        if (r->handler == sl_h_page && r->pattern[1] == '{' && sl__page_path_reserved(q->raw_path))
            continue;
        if (!match(q, r->pattern, q->raw_path, &bad)) {
            if (bad) {
                *status = 400;
                *why = "the path has a malformed escape, a NUL, a control character or bytes "
                       "that are not UTF-8";
                return NULL;
            }
            continue;
        }
        if (method_ok(r->methods, q->method)) {
            /* names of the captures, in pattern order */
            const char *pat = r->pattern;
            size_t i = 0;
            while ((pat = strchr(pat, '{')) != NULL && i < MAX_PARAMS) {
                if (strncmp(pat, "{org}", 5) == 0)
                    q->org = q->params[i];
                else if (strncmp(pat, "{name}", 6) == 0)
                    q->name = q->params[i];
                else if (strncmp(pat, "{rev}", 5) == 0)
                    q->rev = q->params[i];
                else if (strncmp(pat, "{sha}", 5) == 0)
                    q->sha = q->params[i];
                else if (strncmp(pat, "{user}", 6) == 0 || strncmp(pat, "{id}", 4) == 0)
                    q->sub = q->params[i];
                else
                    q->path = q->params[i];
                i++;
                pat++;
            }
            return r;
        }
        path_found = true;
        for (size_t i = 0; i < MAX_PARAMS; i++) {
            free(q->params[i]);
            q->params[i] = NULL;
        }
    }
    *status = path_found ? 405 : 404;
    *why = path_found ? "this method is not allowed here" : "no such endpoint";
    return NULL;
}

/* The caller by its sluice_session cookie (docs/web.md, "Sessions"), when
 * it sent no Authorization header: a live session is its user with the
 * scopes of the token it was opened with, and a state change must carry
 * the session's CSRF token. A dead or unknown cookie is anonymous on GET
 * and HEAD and refused on anything else, so a form posted after expiry
 * never runs as nobody. Sign-in and sign-up read no cookie. */
static bool session_authenticate(struct sl_req *q)
{
    const char *c = sl_mhd->lookup_connection_value(q->conn, MHD_COOKIE_KIND, SL_SESSION_COOKIE);
    bool safe = strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0, alive;
    const char *csrf;
    struct sl_error err;

    if (!c || q->route->perm == P_SIGNIN)
        return true;
    sl_error_clear(&err);
    if (sl_reg_session_get(q->srv->r, c, &q->session, &alive, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return false;
    }
    if (!alive) {
        if (safe)
            return true;
        sl_reply_status(q, 401, "session_expired",
                        "your session expired or was ended: sign in again");
        return false;
    }
    if (!safe) {
        csrf = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-CSRF-Token");
        if (!csrf || strlen(csrf) != SL_SESSION_HEX ||
            !sl_secret_eq(csrf, q->session.csrf, SL_SESSION_HEX)) {
            sl_reply_status(q, 403, "csrf",
                            "a request with the session cookie must carry the session's "
                            "X-CSRF-Token header");
            return false;
        }
    }
    q->who = q->session.who;
    q->by_session = true;
    return true;
}

static bool authenticate(struct sl_req *q)
{
    const char *h = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Authorization");
    struct sl_error err;

    memset(&q->who, 0, sizeof(q->who));
    if (!h)
        return session_authenticate(q);
    if (strncmp(h, "Bearer ", 7) != 0) {
        sl_reply_status(q, 401, "unauthorized", "use Authorization: Bearer TOKEN");
        return false;
    }
    sl_error_clear(&err);
    if (sl_reg_auth(q->srv->r, h + 7, &q->who, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return false;
    }
    return true;
}

/* The route's token scope, checked for every authenticated caller before its
 * permission: a read token never changes anything, whatever its account may. */
static bool scope_ok(struct sl_req *q)
{
    static const char *const names[] = {"read", "write", "admin"};
    enum need_scope need = q->route->scope;
    unsigned have = q->who.scopes;
    json_t *e;

    if (q->who.user_id == 0 || need == S_READ)
        return true;
    if (need == S_WRITE && (have & (SL_SCOPE_WRITE | SL_SCOPE_ADMIN)))
        return true;
    if (need == S_ADMIN && (have & SL_SCOPE_ADMIN))
        return true;
    q->x_error = "InsufficientScope";
    e = json_pack("{s:s, s:s+++, s:s}", "error", "forbidden", "message",
                  "this needs a token with the ", names[need], " scope; this one has ",
                  (have & SL_SCOPE_WRITE) ? "write" : "read", "scope_needed", names[need]);
    sl_reply_json(q, 403, e);
    return false;
}

/* Checks the route's permission; answers and returns false when refused. */
bool sl_permitted(struct sl_req *q)
{
    struct sl_registry *r = q->srv->r;
    struct sl_error err;
    enum perm p = q->route->perm;

    sl_error_clear(&err);
    if (!authenticate(q))
        return false;
    if (!scope_ok(q))
        return false;
    if ((q->org && !sl_name_ok(q->org)) || (q->name && !sl_name_ok(q->name))) {
        sl_reply_status(q, 400, "bad_request",
                        "org and model names use letters, digits, '.', '_' and '-'");
        return false;
    }
    if (q->sub && strlen(q->sub) > 200) {
        sl_reply_status(q, 400, "bad_request", "the name in the path is over 200 bytes");
        return false;
    }
    if (q->path) {
        const char *why;
        if (!sl_path_ok(q->path, strlen(q->path), &why)) {
            sl_reply_status(q, 400, "bad_request", "file path %s", why);
            return false;
        }
    }
    switch (p) {
    case P_NONE:
    case P_SIGNIN:
        return true;
    case P_USER:
    case P_ADMIN:
        if (q->who.user_id == 0) {
            sl_reply_status(q, 401, "unauthorized", "this needs a token");
            return false;
        }
        if (p == P_ADMIN && !q->who.admin) {
            sl_reply_status(q, 403, "forbidden", "this needs an admin token");
            return false;
        }
        return true;
    case P_PUBLISH:
        if (q->who.user_id == 0) {
            sl_reply_status(q, 401, "unauthorized", "publishing needs a token");
            return false;
        }
        if (sl_reg_org_id(r, q->org, &q->org_id, &err) != SL_OK) {
            sl_reply_error(q, &err);
            return false;
        }
        if (!sl_reg_can_publish(r, &q->who, q->org_id)) {
            sl_reply_status(q, 403, "forbidden",
                            "%s may not publish to %s: it needs the publisher role there",
                            q->who.name, q->org);
            return false;
        }
        return true;
    case P_USER_MODEL:
    case P_MANAGE:
    case P_MANAGE_VERSION:
        if (q->who.user_id == 0) {
            sl_reply_status(q, 401, "unauthorized", "this needs a token");
            return false;
        }
        if (sl_reg_model_id(r, q->org, q->name, &q->org_id, &q->model_id, &err) != SL_OK) {
            sl_reply_error(q, &err);
            return false;
        }
        if (p != P_USER_MODEL && !sl_reg_can_publish(r, &q->who, q->org_id)) {
            sl_reply_status(q, 403, "forbidden",
                            "%s is not a publisher of %s (this needs the publisher role there)",
                            q->who.name, q->org);
            return false;
        }
        if (p == P_MANAGE_VERSION &&
            sl_reg_resolve(r, q->org, q->name, q->rev ? q->rev : "main", &q->v, &err) != SL_OK) {
            sl_reply_error(q, &err);
            return false;
        }
        return true;
    case P_ORG_ADMIN:
        if (q->who.user_id == 0) {
            sl_reply_status(q, 401, "unauthorized", "this needs a token");
            return false;
        }
        if (sl_reg_org_id(r, q->org, &q->org_id, &err) != SL_OK) {
            sl_reply_error(q, &err);
            return false;
        }
        if (!sl_reg_is_org_admin(r, &q->who, q->org_id)) {
            sl_reply_status(q, 403, "forbidden", "%s is not an admin of org %s", q->who.name,
                            q->org);
            return false;
        }
        return true;
    case P_MODEL:
        if (sl_reg_model_id(r, q->org, q->name, &q->org_id, &q->model_id, &err) != SL_OK) {
            q->x_error = "RepoNotFound";
            sl_reply_error(q, &err);
            return false;
        }
        return true;
    case P_VERSION:
    case P_DOWNLOAD:
        if (p == P_DOWNLOAD && sl_reg_hub_stamp(r, &q->cache_hub, &err) != SL_OK) {
            q->cache_hub = UINT64_MAX; /* resolve below reports what failed */
            sl_error_clear(&err);
        }
        if (p == P_DOWNLOAD && sl_cache_get(q, &q->v, &q->file, &q->cached_bytes))
            q->cached = true;
        else if (sl_reg_resolve(r, q->org, q->name, q->rev ? q->rev : "main", &q->v, &err) !=
                     SL_OK &&
                 /* a licensee's own copy commit (sl_reg_copy_commit) */
                 !(err.code == SL_ENOTFOUND && q->v.model_id && q->rev &&
                   sl_reg_resolve_copy(r, &q->who, q->org, q->name, q->rev, &q->v, &err) ==
                       SL_OK)) {
            q->x_error = q->v.model_id ? "RevisionNotFound" : "RepoNotFound";
            sl_reply_error(q, &err);
            return false;
        }
        q->org_id = q->v.org_id;
        q->model_id = q->v.model_id;
        if (p == P_DOWNLOAD) {
            char model[2 * SL_NAME_MAX + 2], hint[300];
            json_t *e;
            snprintf(model, sizeof(model), "%s/%s", q->org, q->name);
            if (sl_reg_may_download(r, &q->who, &q->v, model, hint, sizeof(hint), &err) == SL_OK)
                return true;
            q->x_error = "GatedRepo";
            e = json_pack("{s:s, s:s, s:s, s:s}", "error",
                          err.code == SL_EAUTH ? "unauthorized" : "forbidden", "message", err.msg,
                          "tier", q->v.tier, "hint", hint);
            sl_note_last_servable(q, e);
            sl_reply_json(q, err.code == SL_EAUTH ? 401 : 403, e);
            return false;
        }
        return true;
    }
    return true;
}

void sl_dispatch(struct sl_req *q)
{
    if (q->srv->mirror) {
        /* a mirror has no models of its own: the upstream decides */
        sl_mirror_dispatch(q);
        return;
    }
    if (!q->checked && !sl_permitted(q))
        return;
    q->route->handler(q);
    if (!q->answered && !q->suspended) {
        struct sl_error e;
        sl_error_set(&e, SL_EINTERNAL, "the handler gave no answer");
        sl_reply_error(q, &e);
    }
}
