/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tiered access from the client's side (docs/access.md): license terms and
 * click-through acceptance, access requests and their decisions, the
 * signed documents (licenses, the revocation list, the server's key),
 * evaluator keys and attestations, obligations, tier changes and staged
 * release. Each call is one request over the helpers of http.c; the CLI
 * commands accept, access, license, eval, obligations and tier sit on top.
 */
#include "client/client_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "tlog/note.h"
#include "common/banned.h"

#define TEXT_MAX   (SL_NOTE_MAX + 1) /* a license or key answer */
#define REVOKE_MAX (64u << 20)       /* the revocation list may grow long */
#define VKEY_LINE  (SL_NOTE_VKEY_MAX + 2)

static const char *const tiers[] = {"open", "click", "gated", "hosted", "withheld"};

bool sl_client_tier_ok(const char *tier)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(tiers); i++)
        if (strcmp(tier, tiers[i]) == 0)
            return true;
    return false;
}

/* "/api/v1/models/ORG/NAME" followed by `tail` parts; every part after the
 * model is percent-encoded. The caller frees. */
static char *model_path(const char *org, const char *name, const char *const *parts, size_t n)
{
    struct sl_buf b = SL_BUF_INIT(16384);

    sl_buf_adds(&b, "/api/v1/models/");
    sl__cl_url_escape(&b, org, false);
    sl_buf_addc(&b, '/');
    sl__cl_url_escape(&b, name, false);
    for (size_t i = 0; i < n; i++) {
        sl_buf_addc(&b, '/');
        sl__cl_url_escape(&b, parts[i], false);
    }
    return sl_buf_detach(&b, NULL);
}

/* Appends "?KEY=VALUE" (or "&...") to a path made by model_path. */
static char *with_query(char *path, const char *key, const char *value)
{
    struct sl_buf b = SL_BUF_INIT(16384);

    if (!value)
        return path;
    sl_buf_adds(&b, path);
    sl_buf_addc(&b, strchr(path, '?') ? '&' : '?');
    sl_buf_adds(&b, key);
    sl_buf_addc(&b, '=');
    sl__cl_url_escape(&b, value, false);
    free(path);
    return sl_buf_detach(&b, NULL);
}

static void prefix_error(struct sl_error *err, enum sl_err rc, const char *org, const char *name)
{
    /* An unreachable server already names itself. */
    if (rc != SL_EUNREACHABLE && org && name)
        sl_error_prefix(err, "%s/%s", org, name);
}

/* One JSON exchange; `body` (may be NULL) is borrowed and sent as JSON. */
static enum sl_err call(struct sl_client *cl, const char *method, const char *path, json_t *body,
                        const char *org, const char *name, json_t **out, struct sl_error *err)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *answer = NULL;
    enum sl_err rc;

    if (body && !text)
        return sl_error_set(err, SL_ENOMEM, "cannot encode the request");
    rc = sl__cl_http_json(cl, method, path, text, text ? strlen(text) : 0, 60, NULL, &answer, err);
    free(text);
    if (rc) {
        prefix_error(err, rc, org, name);
        return rc;
    }
    if (out)
        *out = answer;
    else
        json_decref(answer);
    return SL_OK;
}

static enum sl_err model_call(struct sl_client *cl, const char *method, const char *org,
                              const char *name, const char *const *parts, size_t n,
                              const char *qkey, const char *qval, json_t *body, json_t **out,
                              struct sl_error *err)
{
    char *path = with_query(model_path(org, name, parts, n), qkey, qval);
    enum sl_err rc = call(cl, method, path, body, org, name, out, err);

    free(path);
    return rc;
}

static json_t *obj_str(const char *key, const char *value)
{
    json_t *o = json_object();

    if (value)
        json_object_set_new(o, key, json_string(value));
    return o;
}

enum sl_err sl_client_terms(struct sl_client *cl, const char *org, const char *name,
                            const char *rev, json_t **out, struct sl_error *err)
{
    static const char *const parts[] = {"terms"};

    return model_call(cl, "GET", org, name, parts, 1, "rev", rev, NULL, out, err);
}

enum sl_err sl_client_accept(struct sl_client *cl, const char *org, const char *name,
                             const char *rev, const char *license_sha256, json_t **out,
                             struct sl_error *err)
{
    static const char *const parts[] = {"accept"};
    json_t *body = obj_str("rev", rev);
    enum sl_err rc;

    if (license_sha256)
        json_object_set_new(body, "license_sha256", json_string(license_sha256));
    rc = model_call(cl, "POST", org, name, parts, 1, NULL, NULL, body, out, err);
    json_decref(body);
    return rc;
}

enum sl_err sl_client_access_request(struct sl_client *cl, const char *org, const char *name,
                                     const char *purpose, json_t *fields, json_t **out,
                                     struct sl_error *err)
{
    static const char *const parts[] = {"access"};
    json_t *body = obj_str("purpose", purpose);
    enum sl_err rc;

    if (fields)
        json_object_set(body, "fields", fields);
    rc = model_call(cl, "POST", org, name, parts, 1, NULL, NULL, body, out, err);
    json_decref(body);
    return rc;
}

enum sl_err sl_client_access_me(struct sl_client *cl, const char *org, const char *name,
                                json_t **out, struct sl_error *err)
{
    static const char *const parts[] = {"access", "me"};

    return model_call(cl, "GET", org, name, parts, 2, NULL, NULL, NULL, out, err);
}

enum sl_err sl_client_access_appeal(struct sl_client *cl, const char *org, const char *name,
                                    const char *text, json_t **out, struct sl_error *err)
{
    static const char *const parts[] = {"access", "me", "appeal"};
    json_t *body = obj_str("text", text);
    enum sl_err rc = model_call(cl, "POST", org, name, parts, 3, NULL, NULL, body, out, err);

    json_decref(body);
    return rc;
}

enum sl_err sl_client_access_list(struct sl_client *cl, const char *org, const char *name,
                                  const char *status, json_t **out, struct sl_error *err)
{
    static const char *const parts[] = {"access"};

    return model_call(cl, "GET", org, name, parts, 1, "status", status, NULL, out, err);
}

enum sl_err sl_client_access_decide(struct sl_client *cl, const char *org, const char *name,
                                    const char *user, const char *action, const char *arg,
                                    json_t **out, struct sl_error *err)
{
    const char *parts[3] = {"access", user, action};
    bool approve = strcmp(action, "approve") == 0;
    json_t *body;
    enum sl_err rc;

    if (!sl__cl_name_ok(user))
        return sl_error_set(err, SL_EUSAGE,
                            "\"%s\": user names are 1-96 of A-Z a-z 0-9 . _ - and start with a "
                            "letter or digit",
                            user);
    if (!approve && strcmp(action, "deny") != 0 && strcmp(action, "revoke") != 0)
        return sl_error_set(err, SL_EUSAGE, "\"%s\": expected approve, deny or revoke", action);
    if (!approve && (!arg || !arg[0]))
        return sl_error_set(err, SL_EUSAGE, "%s needs a reason", action);
    body = obj_str(approve ? "expires" : "reason", arg);
    rc = model_call(cl, "POST", org, name, parts, 3, NULL, NULL, body, out, err);
    json_decref(body);
    return rc;
}

enum sl_err sl_client_access_rules_get(struct sl_client *cl, const char *org, const char *name,
                                       json_t **out, struct sl_error *err)
{
    static const char *const parts[] = {"access-rules"};

    return model_call(cl, "GET", org, name, parts, 1, NULL, NULL, NULL, out, err);
}

enum sl_err sl_client_access_rules_put(struct sl_client *cl, const char *org, const char *name,
                                       json_t *rules, json_t **out, struct sl_error *err)
{
    static const char *const parts[] = {"access-rules"};

    return model_call(cl, "PUT", org, name, parts, 1, NULL, NULL, rules, out, err);
}

enum sl_err sl_client_license_get(struct sl_client *cl, const char *org, const char *name,
                                  const char *rev, char **text, size_t *len, struct sl_error *err)
{
    static const char *const parts[] = {"license"};
    char *path = with_query(model_path(org, name, parts, 1), "rev", rev);
    enum sl_err rc =
        sl__cl_http_text(cl, "GET", path, NULL, NULL, 0, TEXT_MAX, NULL, text, len, err);

    if (rc)
        prefix_error(err, rc, org, name);
    free(path);
    return rc;
}

enum sl_err sl_client_revocations(struct sl_client *cl, char **text, size_t *len,
                                  struct sl_error *err)
{
    enum sl_err rc = sl__cl_http_text(cl, "GET", "/api/v1/revocations", NULL, NULL, 0, REVOKE_MAX,
                                      NULL, text, len, err);

    if (rc && rc != SL_EUNREACHABLE)
        sl_error_prefix(err, "GET %s/api/v1/revocations", cl->url);
    return rc;
}

enum sl_err sl_client_log_key(struct sl_client *cl, char **vkey, struct sl_error *err)
{
    char *text = NULL;
    size_t len = 0;
    enum sl_err rc =
        sl__cl_http_text(cl, "GET", "/log/key", NULL, NULL, 0, VKEY_LINE, NULL, &text, &len, err);

    if (rc) {
        if (rc != SL_EUNREACHABLE)
            sl_error_prefix(err, "GET %s/log/key", cl->url);
        return rc;
    }
    /* One line: the key, then an optional newline (CRLF tolerated). */
    if (len && text[len - 1] == '\n')
        text[--len] = '\0';
    if (len && text[len - 1] == '\r')
        text[--len] = '\0';
    if (len == 0 || memchr(text, '\n', len) || strlen(text) != len) {
        free(text);
        return sl_error_set(err, SL_EINTERNAL,
                            "GET %s/log/key: the answer is not one line holding a key", cl->url);
    }
    *vkey = text;
    return SL_OK;
}

enum sl_err sl_client_eval_keys(struct sl_client *cl, json_t **out, struct sl_error *err)
{
    return call(cl, "GET", "/api/v1/eval/keys", NULL, NULL, NULL, out, err);
}

enum sl_err sl_client_eval_key_add(struct sl_client *cl, const char *name, const char *vkey,
                                   json_t **out, struct sl_error *err)
{
    json_t *body = obj_str("name", name);
    enum sl_err rc;

    json_object_set_new(body, "vkey", json_string(vkey));
    rc = call(cl, "POST", "/api/v1/eval/keys", body, NULL, NULL, out, err);
    json_decref(body);
    return rc;
}

enum sl_err sl_client_eval_key_remove(struct sl_client *cl, const char *name, json_t **out,
                                      struct sl_error *err)
{
    struct sl_buf b = SL_BUF_INIT(16384);
    char *path;
    enum sl_err rc;

    sl_buf_adds(&b, "/api/v1/eval/keys/");
    sl__cl_url_escape(&b, name, false);
    path = sl_buf_detach(&b, NULL);
    rc = call(cl, "DELETE", path, NULL, NULL, NULL, out, err);
    free(path);
    return rc;
}

/* "/api/v1/orgs/ORG/members[/USER]" (malloc'd). */
static char *org_path(const char *org, const char *user)
{
    struct sl_buf b = SL_BUF_INIT(16384);

    sl_buf_adds(&b, "/api/v1/orgs/");
    sl__cl_url_escape(&b, org, false);
    sl_buf_adds(&b, "/members");
    if (user) {
        sl_buf_addc(&b, '/');
        sl__cl_url_escape(&b, user, false);
    }
    return sl_buf_detach(&b, NULL);
}

enum sl_err sl_client_org_members(struct sl_client *cl, const char *org, json_t **out,
                                  struct sl_error *err)
{
    char *path = org_path(org, NULL);
    enum sl_err rc = call(cl, "GET", path, NULL, NULL, NULL, out, err);

    free(path);
    return rc;
}

enum sl_err sl_client_org_member_set(struct sl_client *cl, const char *org, const char *user,
                                     const char *role, json_t **out, struct sl_error *err)
{
    char *path = org_path(org, user);
    json_t *body = obj_str("role", role);
    enum sl_err rc = call(cl, "PUT", path, body, NULL, NULL, out, err);

    json_decref(body);
    free(path);
    return rc;
}

enum sl_err sl_client_org_member_remove(struct sl_client *cl, const char *org, const char *user,
                                        json_t **out, struct sl_error *err)
{
    char *path = org_path(org, user);
    enum sl_err rc = call(cl, "DELETE", path, NULL, NULL, NULL, out, err);

    free(path);
    return rc;
}

enum sl_err sl_client_attest_attach(struct sl_client *cl, const char *org, const char *name,
                                    const char *rev, const char *note, size_t len, json_t **out,
                                    struct sl_error *err)
{
    const char *parts[3] = {"versions", rev, "attestations"};
    char *path = model_path(org, name, parts, 3), *text = NULL;
    size_t tlen = 0;
    json_error_t je;
    enum sl_err rc = sl__cl_http_text(cl, "POST", path, "text/plain; charset=utf-8", note, len,
                                      SL_CLIENT_JSON_MAX, NULL, &text, &tlen, err);

    if (rc) {
        prefix_error(err, rc, org, name);
        goto out;
    }
    if (out) {
        *out = json_loadb(text, tlen, 0, &je);
        if (!*out)
            rc = sl_error_set(err, SL_EINTERNAL,
                              "%s/%s: the server's answer is not JSON (%s at byte %d)", org, name,
                              je.text, je.position);
    }
out:
    free(text);
    free(path);
    return rc;
}

enum sl_err sl_client_attestations(struct sl_client *cl, const char *org, const char *name,
                                   const char *rev, json_t **out, struct sl_error *err)
{
    const char *parts[3] = {"versions", rev ? rev : "main", "attestations"};

    return model_call(cl, "GET", org, name, parts, 3, NULL, NULL, NULL, out, err);
}

enum sl_err sl_client_decision(struct sl_client *cl, const char *org, const char *name,
                               const char *rev, json_t **out, struct sl_error *err)
{
    const char *parts[3] = {"versions", rev ? rev : "main", "decision"};

    return model_call(cl, "GET", org, name, parts, 3, NULL, NULL, NULL, out, err);
}

enum sl_err sl_client_obligations(struct sl_client *cl, const char *org, const char *name,
                                  const char *rev, json_t **out, struct sl_error *err)
{
    const char *parts[3] = {"versions", rev ? rev : "main", "obligations"};

    return model_call(cl, "GET", org, name, parts, 3, NULL, NULL, NULL, out, err);
}

enum sl_err sl_client_obligation_satisfy(struct sl_client *cl, const char *org, const char *name,
                                         const char *rev, const char *id, const char *evidence,
                                         json_t **out, struct sl_error *err)
{
    const char *parts[5] = {"versions", rev ? rev : "main", "obligations", id, "satisfy"};
    json_t *body;
    enum sl_err rc;

    if (!id[0])
        return sl_error_set(err, SL_EUSAGE, "the obligation id is empty");
    if (!evidence || !evidence[0])
        return sl_error_set(err, SL_EUSAGE, "the evidence is empty");
    body = obj_str("evidence", evidence);
    rc = model_call(cl, "POST", org, name, parts, 5, NULL, NULL, body, out, err);
    json_decref(body);
    return rc;
}

enum sl_err sl_client_tier_set(struct sl_client *cl, const char *org, const char *name,
                               const char *rev, const char *tier, json_t **out,
                               struct sl_error *err)
{
    static const char *const parts[] = {"tier"};
    json_t *body;
    enum sl_err rc;

    if (!sl_client_tier_ok(tier))
        return sl_error_set(err, SL_EUSAGE,
                            "\"%s\": the tier is one of open, click, gated, hosted, withheld",
                            tier);
    body = obj_str("tier", tier);
    if (rev)
        json_object_set_new(body, "rev", json_string(rev));
    rc = model_call(cl, "POST", org, name, parts, 1, NULL, NULL, body, out, err);
    json_decref(body);
    return rc;
}

enum sl_err sl_client_schedule_list(struct sl_client *cl, const char *org, const char *name,
                                    json_t **out, struct sl_error *err)
{
    static const char *const parts[] = {"schedule"};

    return model_call(cl, "GET", org, name, parts, 1, NULL, NULL, NULL, out, err);
}

enum sl_err sl_client_schedule_add(struct sl_client *cl, const char *org, const char *name,
                                   const char *rev, const char *tier, const char *at, json_t **out,
                                   struct sl_error *err)
{
    static const char *const parts[] = {"schedule"};
    json_t *body;
    enum sl_err rc;

    if (!sl_client_tier_ok(tier))
        return sl_error_set(err, SL_EUSAGE,
                            "\"%s\": the tier is one of open, click, gated, hosted, withheld",
                            tier);
    body = obj_str("tier", tier);
    json_object_set_new(body, "at", json_string(at));
    if (rev)
        json_object_set_new(body, "rev", json_string(rev));
    rc = model_call(cl, "POST", org, name, parts, 1, NULL, NULL, body, out, err);
    json_decref(body);
    return rc;
}

static bool is_commit(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

enum sl_err sl_client_license_fetch(struct sl_client *cl, const char *org, const char *name,
                                    const char *rev, char **text, size_t *len,
                                    struct sl_license_check *c, bool *pinned_now,
                                    struct sl_error *err)
{
    struct sl_note_key k;
    struct sl_error e;
    char *model = sl_xasprintf("%s/%s", org, name);
    enum sl_err rc;

    *text = NULL;
    memset(&k, 0, sizeof(k));
    rc = sl_client_license_get(cl, org, name, rev, text, len, err);
    if (rc)
        goto out;
    rc = sl_client_server_key(cl, &k, pinned_now, err);
    if (rc)
        goto out;
    rc = sl_client_license_verify(*text, *len, &k, 0, NULL, 0, c, &e);
    if (rc) {
        rc = sl_error_set(err, SL_EREFUSED,
                          "%s: the license the server sent does not check out: %s", model, e.msg);
        goto out;
    }
    if (strcmp(c->lic.model, model) != 0 || (is_commit(rev) && strcmp(c->lic.commit, rev) != 0))
        rc = sl_error_set(err, SL_EREFUSED,
                          "%s: the server sent the license of another version (%s commit %.12s)",
                          model, c->lic.model, c->lic.commit);
out:
    if (rc) {
        free(*text);
        *text = NULL;
    }
    free(model);
    return rc;
}

enum sl_err sl_client_write_file(const char *path, const void *data, size_t len, unsigned mode,
                                 struct sl_error *err)
{
    return sl__cl_write_atomic(path, data, len, (mode_t)mode, true, err);
}

/* ---- the hosted gateway's filter (docs/hosted.md, "Filters") ---- */

enum sl_err sl_client_hosted(struct sl_client *cl, const char *method, const char *org,
                             const char *name, const char *what, const char *qkey, const char *qval,
                             json_t *body, json_t **out, struct sl_error *err)
{
    const char *parts[3] = {"hosted", what, NULL};
    size_t n = 2;

    if (strcmp(what, "retention/items") == 0) {
        parts[1] = "retention";
        parts[2] = "items";
        n = 3;
    }
    return model_call(cl, method, org, name, parts, n, qkey, qval, body, out, err);
}

enum sl_err sl_client_hosted_filter(struct sl_client *cl, const char *method, const char *org,
                                    const char *name, json_t *filter, json_t **out,
                                    struct sl_error *err)
{
    static const char *const parts[] = {"hosted", "filter"};

    return model_call(cl, method, org, name, parts, 2, NULL, NULL, filter, out, err);
}
