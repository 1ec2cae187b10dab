/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The web UI's account calls (docs/web.md, "Sessions"): open, read and end a
 * browser session, sign up (open or by invitation, a few per client address
 * an hour), invitations, and the admin page's users and orgs. The router
 * (router.c) turns the session cookie into the caller and checks CSRF;
 * these handlers only set or clear the cookie.
 */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "tlog/govdoc.h"
#include "common/banned.h"

#define INVITE_DAYS 7 /* an invitation's default life */

static json_t *time_json(int64_t t)
{
    char buf[21];

    return t > 0 ? json_string(sl_gov_time(t, buf)) : json_null();
}

static json_t *str_json(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *scopes_json(unsigned scopes)
{
    json_t *a = json_array();

    if (scopes & SL_SCOPE_READ)
        json_array_append_new(a, json_string("read"));
    if (scopes & SL_SCOPE_WRITE)
        json_array_append_new(a, json_string("write"));
    if (scopes & SL_SCOPE_ADMIN)
        json_array_append_new(a, json_string("admin"));
    return a;
}

/* The body as a JSON object with only `keys`, every present value a string
 * except those named in `other`; NULL after answering 400. */
static json_t *body_object(struct sl_req *q, const char *const *keys, const char *const *other)
{
    json_error_t je;
    const char *k;
    json_t *v, *b;

    if (q->body.len == 0) {
        sl_reply_status(q, 400, "bad_request", "this request needs a JSON body");
        return NULL;
    }
    b = json_loadb(q->body.data, q->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!b) {
        sl_reply_status(q, 400, "bad_request", "malformed JSON at byte %d: %s", je.position,
                        je.text);
        return NULL;
    }
    if (!json_is_object(b)) {
        json_decref(b);
        sl_reply_status(q, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    json_object_foreach(b, k, v)
    {
        bool known = false, string = true;
        for (const char *const *p = keys; *p; p++)
            known |= strcmp(*p, k) == 0;
        for (const char *const *p = other; p && *p; p++)
            string &= strcmp(*p, k) != 0;
        if (!known) {
            sl_reply_status(q, 400, "bad_request", "unknown key \"%.40s\" in the body", k);
            json_decref(b);
            return NULL;
        }
        if (string && !json_is_null(v) &&
            (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))) {
            sl_reply_status(q, 400, "bad_request", "\"%s\" must be a string without NUL", k);
            json_decref(b);
            return NULL;
        }
    }
    return b;
}

static const char *str_of(json_t *b, const char *key)
{
    return json_string_value(json_object_get(b, key));
}

/* Sets (or, with `id` NULL, clears) the session cookie on the answer. */
static void set_cookie(struct sl_req *q, const char *id, int64_t max_age)
{
    snprintf(q->set_cookie, sizeof(q->set_cookie),
             "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", SL_SESSION_COOKIE,
             id ? id : "", (long long)(id ? max_age : 0), sl_req_https(q) ? "; Secure" : "");
}

/* Browsers get a session only where the UI is served (docs/web.md, "TLS"),
 * and only from a request another site cannot make them send: JSON (a
 * cross-site form cannot send application/json without a CORS preflight,
 * which sluice never grants) and not marked cross-site by the browser.
 * Otherwise another site could sign a visitor in as an account of its
 * choosing (login CSRF). False after answering 403 or 400. */
static bool session_place_ok(struct sl_req *q)
{
    const char *ct = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Type");
    const char *site = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");

    if (!sl_req_ui_ok(q)) {
        sl_reply_status(q, 403, "forbidden",
                        "browser sessions need TLS: put a TLS proxy in front of sluice and start "
                        "it with --trust-proxy yes (docs/deploy.md), or use a loopback address");
        return false;
    }
    if (site && strcmp(site, "cross-site") == 0) {
        sl_reply_status(q, 403, "forbidden", "a session cannot be opened from another site");
        return false;
    }
    if (!ct || strncmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';')) {
        sl_reply_status(q, 400, "bad_request", "send the body as Content-Type: application/json");
        return false;
    }
    return true;
}

static json_t *session_json(const struct sl_session *s)
{
    return json_pack("{s:s, s:b, s:o, s:s, s:o}", "user", s->who.name, "admin", s->who.admin,
                     "scopes", scopes_json(s->who.scopes), "csrf", s->csrf, "expires",
                     time_json(s->expires));
}

/* Opens a session for `token` and answers `status` with `doc` (taken; may
 * be NULL) plus the session's fields and its cookie. */
static void open_and_answer(struct sl_req *q, const char *token, unsigned status, json_t *doc)
{
    struct sl_session s;
    struct sl_error err;
    json_t *out;

    sl_error_clear(&err);
    if (sl_reg_session_open(q->srv->r, token, q->srv->session_hours, &s, &err) != SL_OK) {
        json_decref(doc);
        sl_reply_error(q, &err);
        return;
    }
    out = session_json(&s);
    if (doc) {
        json_object_update(out, doc);
        json_decref(doc);
    }
    set_cookie(q, s.id, s.expires - (int64_t)time(NULL));
    sl_wipe(s.id, sizeof(s.id));
    sl_reply_json(q, status, out);
}

void sl_h_session_open(struct sl_req *q)
{
    static const char *const keys[] = {"token", NULL};
    json_t *b;
    const char *token;

    if (!session_place_ok(q))
        return;
    b = body_object(q, keys, NULL);
    if (!b)
        return;
    token = str_of(b, "token");
    if (!token || !*token) {
        json_decref(b);
        sl_reply_status(q, 400, "bad_request", "the body needs \"token\"");
        return;
    }
    open_and_answer(q, token, 200, NULL);
    json_decref(b);
}

void sl_h_session_get(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_whoami w;
    struct sl_error err;
    json_t *out, *orgs;

    if (!q->by_session) {
        sl_reply_status(q, 401, "unauthorized", "no live session: sign in");
        return;
    }
    sl_error_clear(&err);
    if (sl_reg_whoami(q->srv->r, &q->who, &a, &w, &err) != SL_OK) {
        sl_arena_release(&a);
        sl_reply_error(q, &err);
        return;
    }
    out = session_json(&q->session);
    orgs = json_array();
    for (size_t i = 0; i < w.norgs; i++)
        json_array_append_new(
            orgs, json_pack("{s:s, s:s}", "org", w.orgs[i].org, "role", w.orgs[i].role));
    json_object_set_new(out, "orgs", orgs);
    sl_arena_release(&a);
    sl_reply_json(q, 200, out);
}

void sl_h_session_close(struct sl_req *q)
{
    const char *c = sl_mhd->lookup_connection_value(q->conn, MHD_COOKIE_KIND, SL_SESSION_COOKIE);
    struct sl_error err;

    sl_error_clear(&err);
    if (q->by_session && c && sl_reg_session_close(q->srv->r, c, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    set_cookie(q, NULL, 0);
    sl_reply_json(q, 200, json_pack("{s:b}", "signed_out", q->by_session));
}

/* ---- sign-up ---- */

static const char *mode_name(enum sl_signup m)
{
    return m == SL_SIGNUP_OPEN ? "open" : m == SL_SIGNUP_INVITE ? "invite" : "closed";
}

void sl_h_signup_mode(struct sl_req *q)
{
    sl_reply_json(q, 200, json_pack("{s:s}", "mode", mode_name(q->srv->signup)));
}

/* An IPv6 address as its /64 network: one host usually holds a whole /64,
 * so counting single addresses would give it 2^64 fresh limits. */
static void ipv6_prefix(struct in6_addr *a, char *out, size_t n)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (memcmp(a->s6_addr, v4mapped, sizeof(v4mapped)) == 0) {
        inet_ntop(AF_INET, a->s6_addr + 12, out, (socklen_t)n);
        return;
    }
    memset(a->s6_addr + 8, 0, 8);
    if (inet_ntop(AF_INET6, a, out, (socklen_t)n)) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "/64");
    }
}

/* Where the request came from, for the sign-up limit: behind a trusted
 * proxy the last address of X-Forwarded-For (the one the proxy saw). An
 * IPv6 client counts by its /64. */
static void client_addr(struct sl_req *q, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        sl_mhd->get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    struct in6_addr a6;
    const char *xff;

    snprintf(out, n, "?");
    if (q->srv->trust_proxy &&
        (xff = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Forwarded-For"))) {
        const char *last = strrchr(xff, ',');
        last = last ? last + 1 : xff;
        while (*last == ' ')
            last++;
        snprintf(out, n, "%.*s", (int)strcspn(last, " "), last);
        if (inet_pton(AF_INET6, out, &a6) == 1)
            ipv6_prefix(&a6, out, n);
        return;
    }
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    } else if (sa && sa->sa_family == AF_INET6) {
        a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        ipv6_prefix(&a6, out, n);
    }
}

void sl_h_signup(struct sl_req *q)
{
    static const char *const keys[] = {"user",    "name",   "email", "affiliation",
                                       "country", "invite", NULL};
    struct sl_signup_form f;
    bool need_invite = q->srv->signup == SL_SIGNUP_INVITE;
    char token[SL_TOKEN_LEN + 1], addr[64];
    struct sl_error err;
    bool allowed = false;
    json_t *b;

    if (q->srv->signup == SL_SIGNUP_CLOSED) {
        sl_reply_status(q, 403, "forbidden",
                        "sign-up is closed on this server: ask an admin for an account");
        return;
    }
    if (!session_place_ok(q))
        return;
    b = body_object(q, keys, NULL);
    if (!b)
        return;
    f.user = str_of(b, "user");
    f.name = str_of(b, "name");
    f.email = str_of(b, "email");
    f.affiliation = str_of(b, "affiliation");
    f.country = str_of(b, "country");
    f.invite = need_invite ? str_of(b, "invite") : NULL;
    sl_error_clear(&err);
    if (sl_reg_signup_check(&f, need_invite, &err) != SL_OK) {
        json_decref(b);
        sl_reply_error(q, &err);
        return;
    }
    client_addr(q, addr, sizeof(addr));
    /* one count for the whole hub, in the database (sl_reg_signup_take) */
    if (sl_reg_signup_take(q->srv->r, addr, &allowed, &err) != SL_OK) {
        json_decref(b);
        sl_reply_error(q, &err);
        return;
    }
    if (!allowed) {
        json_decref(b);
        sl_reply_status(q, 429, "too_many_requests",
                        "at most %d sign-ups an hour from one address: try again later",
                        SL_SIGNUPS_PER_HOUR);
        return;
    }
    if (sl_reg_signup(q->srv->r, &f, need_invite, token, &err) != SL_OK) {
        json_decref(b);
        sl_reply_error(q, &err);
        return;
    }
    open_and_answer(q, token, 201, json_pack("{s:s, s:s}", "user", f.user, "token", token));
    sl_wipe(token, sizeof(token));
    json_decref(b);
}

/* ---- invitations ---- */

void sl_h_invites(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_invite_row *rows;
    struct sl_error err;
    size_t n;
    json_t *out;

    sl_error_clear(&err);
    if (sl_reg_invites(q->srv->r, &a, &rows, &n, &err) != SL_OK) {
        sl_arena_release(&a);
        sl_reply_error(q, &err);
        return;
    }
    out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            out,
            json_pack("{s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)rows[i].id, "email",
                      str_json(rows[i].email), "created", time_json(rows[i].created), "expires",
                      time_json(rows[i].expires), "used_by", str_json(rows[i].used_by)));
    sl_arena_release(&a);
    sl_reply_json(q, 200, out);
}

void sl_h_invite_new(struct sl_req *q)
{
    static const char *const keys[] = {"email", "days", NULL};
    static const char *const other[] = {"days", NULL};
    char code[SL_INVITE_CODE_LEN + 1];
    int64_t id, expires, days = INVITE_DAYS;
    struct sl_error err;
    json_t *b, *d;

    b = q->body.len ? body_object(q, keys, other) : json_object();
    if (!b)
        return;
    d = json_object_get(b, "days");
    if (d && !json_is_null(d)) {
        if (!json_is_integer(d) || json_integer_value(d) < 1 ||
            json_integer_value(d) > SL_INVITE_DAYS_MAX) {
            json_decref(b);
            sl_reply_status(q, 400, "bad_request", "\"days\" must be an integer 1-%d",
                            SL_INVITE_DAYS_MAX);
            return;
        }
        days = json_integer_value(d);
    }
    sl_error_clear(&err);
    if (sl_reg_invite_new(q->srv->r, &q->who, str_of(b, "email"), (int)days, code, &id, &expires,
                          &err) != SL_OK) {
        json_decref(b);
        sl_reply_error(q, &err);
        return;
    }
    json_decref(b);
    sl_reply_json(q, 201,
                  json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "code", code, "expires",
                            time_json(expires)));
    sl_wipe(code, sizeof(code));
}

void sl_h_invite_delete(struct sl_req *q)
{
    struct sl_error err;
    char *end;
    long long id;

    if (strspn(q->sub, "0123456789") != strlen(q->sub) || strlen(q->sub) > 18) {
        sl_reply_status(q, 400, "bad_request", "an invitation id is a number, not \"%.40s\"",
                        q->sub);
        return;
    }
    id = strtoll(q->sub, &end, 10);
    sl_error_clear(&err);
    if (sl_reg_invite_delete(q->srv->r, id, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, json_pack("{s:I}", "deleted", (json_int_t)id));
}

/* ---- users and orgs ---- */

void sl_h_users(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_user_row *rows;
    struct sl_error err;
    size_t n;
    json_t *out;

    sl_error_clear(&err);
    if (sl_reg_users(q->srv->r, &a, &rows, &n, &err) != SL_OK) {
        sl_arena_release(&a);
        sl_reply_error(q, &err);
        return;
    }
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct sl_user_row *u = &rows[i];
        json_array_append_new(out, json_pack("{s:s, s:b, s:b, s:o, s:{s:o, s:o, s:o, s:o}}", "user",
                                             u->user, "admin", u->is_admin, "removed", u->removed,
                                             "created", time_json(u->created), "profile", "name",
                                             str_json(u->name), "email", str_json(u->email),
                                             "affiliation", str_json(u->affiliation), "country",
                                             str_json(u->country)));
    }
    sl_arena_release(&a);
    sl_reply_json(q, 200, out);
}

void sl_h_user_add(struct sl_req *q)
{
    static const char *const keys[] = {"user", "admin", NULL};
    static const char *const other[] = {"admin", NULL};
    char token[SL_TOKEN_LEN + 1];
    struct sl_error err;
    const char *user;
    json_t *b, *adm;

    b = body_object(q, keys, other);
    if (!b)
        return;
    user = str_of(b, "user");
    adm = json_object_get(b, "admin");
    if (!user || !*user) {
        json_decref(b);
        sl_reply_status(q, 400, "bad_request", "the body needs \"user\"");
        return;
    }
    if (adm && !json_is_boolean(adm)) {
        json_decref(b);
        sl_reply_status(q, 400, "bad_request", "\"admin\" must be true or false");
        return;
    }
    sl_error_clear(&err);
    if (sl_reg_user_add(q->srv->r, user, NULL, NULL, NULL, adm && json_is_true(adm), token, &err) !=
        SL_OK) {
        json_decref(b);
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 201, json_pack("{s:s, s:s}", "user", user, "token", token));
    sl_wipe(token, sizeof(token));
    json_decref(b);
}

void sl_h_user_remove(struct sl_req *q)
{
    struct sl_error err;

    if (strcmp(q->sub, q->who.name) == 0) {
        sl_reply_status(q, 409, "conflict",
                        "you cannot remove your own account; another admin can");
        return;
    }
    sl_error_clear(&err);
    if (sl_reg_user_remove(q->srv->r, q->sub, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, json_pack("{s:s}", "removed", q->sub));
}

void sl_h_orgs(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_org_summary *rows;
    struct sl_error err;
    size_t n;
    json_t *out;

    sl_error_clear(&err);
    if (sl_reg_orgs(q->srv->r, &q->who, &a, &rows, &n, &err) != SL_OK) {
        sl_arena_release(&a);
        sl_reply_error(q, &err);
        return;
    }
    out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            out, json_pack("{s:s, s:I}", "org", rows[i].org, "models", (json_int_t)rows[i].models));
    sl_arena_release(&a);
    sl_reply_json(q, 200, out);
}

void sl_h_org_add(struct sl_req *q)
{
    static const char *const keys[] = {"org", NULL};
    struct sl_error err;
    const char *org;
    json_t *b;

    b = body_object(q, keys, NULL);
    if (!b)
        return;
    org = str_of(b, "org");
    if (!org || !*org) {
        json_decref(b);
        sl_reply_status(q, 400, "bad_request", "the body needs \"org\"");
        return;
    }
    sl_error_clear(&err);
    if (sl_reg_org_add(q->srv->r, org, &err) != SL_OK) {
        json_decref(b);
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 201, json_pack("{s:s}", "org", org));
    json_decref(b);
}
