/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accounts, orgs, memberships and API tokens. A token is 32 random bytes
 * shown once as "sl_" + hex; only its SHA-256 is stored.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "db/repo_accounts.h"
#include "common/banned.h"

_Static_assert(SL_REPO_NAME_MAX == SL_NAME_MAX, "the repository's name limit is sl_name_ok's");

enum sl_err sl__token_insert(struct sl_db *db, int64_t user_id, unsigned scopes, int64_t expires,
                             char *token, struct sl_error *err)
{
    unsigned char h[32];
    char scope_text[32];

    sl__token_new(token);
    sl__token_hash(token, h);
    snprintf(scope_text, sizeof(scope_text), "%s%s%s", scopes & SL_SCOPE_READ ? "read " : "",
             scopes & SL_SCOPE_WRITE ? "write " : "", scopes & SL_SCOPE_ADMIN ? "admin" : "");
    return sl_repo_token_insert(db, user_id, h, scope_text, sl__now(), expires, err);
}

enum sl_err sl_reg_user_add(struct sl_registry *r, const char *name, const char *email,
                            const char *affiliation, const char *country, bool admin, char *token,
                            struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int64_t user_id;
    enum sl_err rc;

    if (!db)
        return err->code;
    if (!sl_name_ok(name))
        return sl_error_set(err, SL_EUSAGE,
                            "user name \"%s\" must be 1-96 letters, digits, '.', '_' or '-'", name);
    if (country && (strlen(country) != 2 || country[0] < 'A' || country[0] > 'Z' ||
                    country[1] < 'A' || country[1] > 'Z'))
        return sl_error_set(err, SL_EUSAGE, "country must be a two-letter code such as KE");
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc =
        sl_repo_user_insert(db, name, email, affiliation, country, admin, sl__now(), &user_id, err);
    if (!rc)
        rc = sl__token_insert(db, user_id,
                              SL_SCOPE_READ | SL_SCOPE_WRITE | (admin ? SL_SCOPE_ADMIN : 0), 0,
                              token, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (!rc)
        return SL_OK;
    sl_db_rollback(db);
    return rc;
}

/* The first path segments of the API's own routes (docs/web.md, "Pages"):
 * /ui/NAME is an asset and /log/NAME a log path, so an org of one of these
 * names could never have a model page. test_web_attacks.py checks the list
 * against the route table's answers. */
static const char *const reserved_orgs[] = {"api", "v1", "log", "ui", "metrics", NULL};

enum sl_err sl_reg_org_add(struct sl_registry *r, const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    if (!sl_name_ok(name))
        return sl_error_set(err, SL_EUSAGE,
                            "org name \"%s\" must be 1-96 letters, digits, '.', '_' or '-'", name);
    for (const char *const *p = reserved_orgs; *p; p++)
        if (strcmp(name, *p) == 0)
            return sl_error_set(err, SL_EUSAGE,
                                "org name \"%s\" is reserved: /%s/... is a path of the server's "
                                "own (api, v1, log, ui and metrics are)",
                                name, name);
    return sl_repo_org_insert(db, name, sl__now(), err);
}

enum sl_err sl_reg_org_id(struct sl_registry *r, const char *org, int64_t *id, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    return sl_repo_org_find(db, org, id, err);
}

enum sl_err sl_reg_member_add(struct sl_registry *r, const char *org, const char *user,
                              const char *role, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int64_t org_id, user_id;
    enum sl_err rc;

    if (!db)
        return err->code;
    if (strcmp(role, "admin") != 0 && strcmp(role, "publisher") != 0 && strcmp(role, "member") != 0)
        return sl_error_set(err, SL_EUSAGE, "role must be admin, publisher or member");
    rc = sl_repo_org_find(db, org, &org_id, err);
    if (!rc)
        rc = sl_repo_user_find(db, user, &user_id, err);
    if (rc)
        return rc;
    return sl_repo_member_upsert(db, org_id, user_id, role, err);
}

enum sl_err sl_reg_token_new(struct sl_registry *r, const char *user, unsigned scopes,
                             int64_t expires, char *token, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int64_t user_id;
    enum sl_err rc;

    if (!db)
        return err->code;
    if (expires != 0 && expires <= sl__now())
        return sl_error_set(err, SL_EINPUT,
                            "the expiry is in the past: a token must expire later "
                            "than now");
    rc = sl_repo_user_find(db, user, &user_id, err);
    if (!rc)
        rc = sl__token_insert(db, user_id, scopes, expires, token, err);
    return rc;
}

enum sl_err sl_reg_token_revoke(struct sl_registry *r, const char *user, const char *token,
                                int *count, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    enum sl_err rc;

    *count = 0;
    if (!db)
        return err->code;
    if (token) {
        unsigned char h[32];
        sl__token_hash(token, h);
        rc = sl_repo_token_revoke_hash(db, h, sl__now(), count, err);
    } else {
        int64_t user_id;
        rc = sl_repo_user_find(db, user, &user_id, err);
        if (rc)
            return rc;
        rc = sl_repo_token_revoke_user(db, user_id, sl__now(), count, err);
    }
    if (!rc && *count == 0)
        rc = sl_error_set(err, SL_ENOTFOUND, "no live token matched");
    return rc;
}

enum sl_err sl_reg_auth(struct sl_registry *r, const char *token, struct sl_principal *p,
                        struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_token_row t;
    unsigned char h[32];
    char alias[SL_TOKEN_LEN + 1] = "";
    bool found;
    enum sl_err rc;

    memset(p, 0, sizeof(*p));
    if (!db)
        return err->code;
    if (strlen(token) == SL_TOKEN_LEN && strncmp(token, "hf_", 3) == 0) {
        /* The same secret behind "hf_": @huggingface/hub refuses any access
         * token that does not start so, before sending it (docs/api.md). */
        memcpy(alias, "sl_", 3);
        memcpy(alias + 3, token + 3, SL_TOKEN_LEN - 3 + 1);
        token = alias;
    }
    if (strlen(token) != SL_TOKEN_LEN || strncmp(token, "sl_", 3) != 0)
        return sl_error_set(err, SL_EAUTH,
                            "the token is not a sluice token (sl_ or hf_ + 64 hex digits)");
    sl__token_hash(token, h);
    sl_wipe(alias, sizeof(alias));
    rc = sl_repo_token_get(db, h, &t, &found, err);
    if (rc)
        return rc;
    if (!found)
        return sl_error_set(err, SL_EAUTH, "unknown token");
    if (t.removed)
        return sl_error_set(err, SL_EAUTH, "the account of this token was removed");
    if (t.revoked)
        return sl_error_set(err, SL_EAUTH, "the token was revoked");
    if (t.expires && t.expires <= sl__now())
        return sl_error_set(err, SL_EAUTH, "the token expired");
    p->user_id = t.user_id;
    snprintf(p->name, sizeof(p->name), "%s", t.name);
    p->admin = t.is_admin && strstr(t.scopes, "admin") != NULL;
    p->scopes = (strstr(t.scopes, "read") ? SL_SCOPE_READ : 0) |
                (strstr(t.scopes, "write") ? SL_SCOPE_WRITE : 0) |
                (strstr(t.scopes, "admin") ? SL_SCOPE_ADMIN : 0);
    return SL_OK;
}

static bool member_role(struct sl_registry *r, const struct sl_principal *p, int64_t org_id,
                        bool need_publisher);

bool sl_reg_is_org_admin(struct sl_registry *r, const struct sl_principal *p, int64_t org_id)
{
    struct sl_error err;
    struct sl_db *db = sl_reg_db(r, &err);
    bool ok = false;

    if (p->admin)
        return true;
    if (!db || p->user_id == 0)
        return false;
    /* a failed lookup is no admin */
    if (sl_repo_member_is_admin(db, org_id, p->user_id, &ok, &err) != SL_OK)
        return false;
    return ok;
}

enum sl_err sl_reg_org_members(struct sl_registry *r, int64_t org_id, struct sl_arena *arena,
                               struct sl_member_row **rows, size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *rows = NULL;
    *n = 0;
    if (!db)
        return err->code;
    return sl_repo_org_members(db, org_id, arena, rows, n, err);
}

static bool member_role(struct sl_registry *r, const struct sl_principal *p, int64_t org_id,
                        bool need_publisher)
{
    struct sl_error err;
    struct sl_db *db = sl_reg_db(r, &err);
    char role[SL_REPO_ROLE_MAX + 1];
    bool found;

    if (!db || p->user_id == 0)
        return false;
    /* a failed lookup is no membership */
    if (sl_repo_member_role(db, org_id, p->user_id, role, &found, &err) != SL_OK || !found)
        return false;
    return !need_publisher || strcmp(role, "publisher") == 0 || strcmp(role, "admin") == 0;
}

bool sl_reg_can_publish(struct sl_registry *r, const struct sl_principal *p, int64_t org_id)
{
    /* The role only: the router checks the token's scope for every route. */
    return p->admin || member_role(r, p, org_id, true);
}

bool sl_reg_is_member(struct sl_registry *r, const struct sl_principal *p, int64_t org_id)
{
    return p->admin || member_role(r, p, org_id, false);
}

bool sl_reg_is_insider(struct sl_registry *r, const struct sl_principal *p, int64_t org_id)
{
    return p->admin || member_role(r, p, org_id, true);
}

enum sl_err sl_reg_member_remove(struct sl_registry *r, const char *org, const char *user,
                                 struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int64_t org_id, user_id;
    bool removed;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_repo_org_find(db, org, &org_id, err);
    if (!rc)
        rc = sl_repo_user_find(db, user, &user_id, err);
    if (!rc)
        rc = sl_repo_member_delete(db, org_id, user_id, &removed, err);
    if (!rc && !removed)
        rc = sl_error_set(err, SL_ENOTFOUND, "%s is not a member of %s", user, org);
    return rc;
}

enum sl_err sl_reg_user_remove(struct sl_registry *r, const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int64_t user_id;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_repo_user_find_live(db, name, &user_id, err);
    if (rc)
        return rc;
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    rc = sl_repo_user_remove(db, user_id, sl__now(), err);
    if (!rc) {
        /* everything the account held ends with it, each as a log entry:
         * its grants (and licenses, listed on /api/v1/revocations) and its
         * evaluator keys */
        int n;
        rc = sl__access_revoke_user(r, db, user_id, "account removed", &n, err);
        if (!rc)
            rc = sl__eval_keys_revoke(r, db, NULL, user_id, "account removed", &n, err);
    }
    if (!rc) {
        char who[SL_PSEUDONYM_LEN + 1];
        json_t *e;
        sl__pseudonym(r, "", user_id, who);
        e = json_pack("{s:s, s:s}", "type", "account.removed", "account", who);
        rc = sl__log_append(r, db, e, NULL, err);
        json_decref(e);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc)
        sl_db_rollback(db);
    return rc;
}
