/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accounts, orgs, memberships and API tokens. A token is 32 random bytes
 * shown once as "sl_" + hex; only its SHA-256 is stored.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

static enum sl_err find_id(struct sl_db *db, const char *sql, const char *name, const char *what,
                           int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    bool found;
    enum sl_err rc;

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, name);
    rc = sl__db_int(db, st, id, &found, err);
    if (!rc && !found)
        rc = sl_error_set(err, SL_ENOTFOUND, "no %s named \"%s\"", what, name);
    return rc;
}

static enum sl_err insert_token(struct sl_db *db, int64_t user_id, unsigned scopes, int64_t expires,
                                char *token, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "INSERT INTO tokens (user_id, hash, scopes, created, expires) VALUES (?, ?, ?, ?, ?)",
        err);
    unsigned char h[32];
    char scope_text[32];

    if (!st)
        return err->code;
    sl__token_new(token);
    sl__token_hash(token, h);
    snprintf(scope_text, sizeof(scope_text), "%s%s%s", scopes & SL_SCOPE_READ ? "read " : "",
             scopes & SL_SCOPE_WRITE ? "write " : "", scopes & SL_SCOPE_ADMIN ? "admin" : "");
    sl_stmt_int(st, 1, user_id);
    sl_stmt_blob(st, 2, h, sizeof(h));
    sl_stmt_text(st, 3, scope_text);
    sl_stmt_int(st, 4, sl__now());
    if (expires > 0)
        sl_stmt_int(st, 5, expires);
    else
        sl_stmt_null(st, 5);
    return sl_stmt_run(st, err);
}

enum sl_err sl_reg_user_add(struct sl_registry *r, const char *name, const char *email,
                            const char *affiliation, const char *country, bool admin, char *token,
                            struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
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
    st = sl_db_stmt(db,
                    "INSERT INTO users (name, email, affiliation, country, is_admin, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    err);
    if (!st) {
        rc = err->code;
        goto fail;
    }
    sl_stmt_text(st, 1, name);
    sl_stmt_text(st, 2, email);
    sl_stmt_text(st, 3, affiliation);
    sl_stmt_text(st, 4, country);
    sl_stmt_int(st, 5, admin);
    sl_stmt_int(st, 6, sl__now());
    rc = sl_stmt_run(st, err);
    if (rc == SL_ECONFLICT)
        rc = sl_error_set(err, SL_ECONFLICT, "user \"%s\" already exists", name);
    if (!rc)
        rc = insert_token(db, sl_db_last_id(db),
                          SL_SCOPE_READ | SL_SCOPE_WRITE | (admin ? SL_SCOPE_ADMIN : 0), 0, token,
                          err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (!rc)
        return SL_OK;
fail:
    sl_db_rollback(db);
    return rc;
}

enum sl_err sl_reg_org_add(struct sl_registry *r, const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    enum sl_err rc;

    if (!db)
        return err->code;
    if (!sl_name_ok(name))
        return sl_error_set(err, SL_EUSAGE,
                            "org name \"%s\" must be 1-96 letters, digits, '.', '_' or '-'", name);
    st = sl_db_stmt(db, "INSERT INTO orgs (name, created) VALUES (?, ?)", err);
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, name);
    sl_stmt_int(st, 2, sl__now());
    rc = sl_stmt_run(st, err);
    if (rc == SL_ECONFLICT)
        rc = sl_error_set(err, SL_ECONFLICT, "org \"%s\" already exists", name);
    return rc;
}

enum sl_err sl_reg_org_id(struct sl_registry *r, const char *org, int64_t *id, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    return find_id(db, "SELECT id FROM orgs WHERE name = ?", org, "org", id, err);
}

enum sl_err sl_reg_member_add(struct sl_registry *r, const char *org, const char *user,
                              const char *role, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    int64_t org_id, user_id;
    enum sl_err rc;

    if (!db)
        return err->code;
    if (strcmp(role, "admin") != 0 && strcmp(role, "publisher") != 0 && strcmp(role, "member") != 0)
        return sl_error_set(err, SL_EUSAGE, "role must be admin, publisher or member");
    rc = find_id(db, "SELECT id FROM orgs WHERE name = ?", org, "org", &org_id, err);
    if (!rc)
        rc = find_id(db, "SELECT id FROM users WHERE name = ?", user, "user", &user_id, err);
    if (rc)
        return rc;
    st = sl_db_stmt(db,
                    "INSERT INTO members (org_id, user_id, role) VALUES (?, ?, ?) "
                    "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_text(st, 3, role);
    return sl_stmt_run(st, err);
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
    rc = find_id(db, "SELECT id FROM users WHERE name = ?", user, "user", &user_id, err);
    if (!rc)
        rc = insert_token(db, user_id, scopes, expires, token, err);
    return rc;
}

enum sl_err sl_reg_token_revoke(struct sl_registry *r, const char *user, const char *token,
                                int *count, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    enum sl_err rc;

    *count = 0;
    if (!db)
        return err->code;
    if (token) {
        unsigned char h[32];
        sl__token_hash(token, h);
        st =
            sl_db_stmt(db, "UPDATE tokens SET revoked = ? WHERE hash = ? AND revoked IS NULL", err);
        if (!st)
            return err->code;
        sl_stmt_int(st, 1, sl__now());
        sl_stmt_blob(st, 2, h, sizeof(h));
    } else {
        int64_t user_id;
        rc = find_id(db, "SELECT id FROM users WHERE name = ?", user, "user", &user_id, err);
        if (rc)
            return rc;
        st = sl_db_stmt(db, "UPDATE tokens SET revoked = ? WHERE user_id = ? AND revoked IS NULL",
                        err);
        if (!st)
            return err->code;
        sl_stmt_int(st, 1, sl__now());
        sl_stmt_int(st, 2, user_id);
    }
    rc = sl_stmt_run(st, err);
    if (!rc)
        *count = sl_db_changes(db);
    if (!rc && *count == 0)
        rc = sl_error_set(err, SL_ENOTFOUND, "no live token matched");
    return rc;
}

enum sl_err sl_reg_auth(struct sl_registry *r, const char *token, struct sl_principal *p,
                        struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    unsigned char h[32];
    char alias[SL_TOKEN_LEN + 1] = "";
    int row;
    enum sl_err rc = SL_OK;

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
    st = sl_db_stmt(db,
                    "SELECT u.id, u.name, u.is_admin, t.scopes, t.expires, t.revoked, u.removed "
                    "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                    err);
    sl_wipe(alias, sizeof(alias));
    if (!st)
        return err->code;
    sl_stmt_blob(st, 1, h, sizeof(h));
    row = sl_stmt_step(st, err);
    if (row < 0) {
        rc = err->code;
    } else if (row == 0) {
        rc = sl_error_set(err, SL_EAUTH, "unknown token");
    } else if (!sl_stmt_col_null(st, 6)) {
        rc = sl_error_set(err, SL_EAUTH, "the account of this token was removed");
    } else if (!sl_stmt_col_null(st, 5)) {
        rc = sl_error_set(err, SL_EAUTH, "the token was revoked");
    } else if (!sl_stmt_col_null(st, 4) && sl_stmt_col_int(st, 4) <= sl__now()) {
        rc = sl_error_set(err, SL_EAUTH, "the token expired");
    } else {
        const char *scopes = sl_stmt_col_text(st, 3);
        p->user_id = sl_stmt_col_int(st, 0);
        snprintf(p->name, sizeof(p->name), "%s", sl_stmt_col_text(st, 1));
        p->admin = sl_stmt_col_int(st, 2) != 0 && strstr(scopes, "admin") != NULL;
        p->scopes = (strstr(scopes, "read") ? SL_SCOPE_READ : 0) |
                    (strstr(scopes, "write") ? SL_SCOPE_WRITE : 0) |
                    (strstr(scopes, "admin") ? SL_SCOPE_ADMIN : 0);
    }
    sl_stmt_done(st);
    return rc;
}

static bool member_role(struct sl_registry *r, const struct sl_principal *p, int64_t org_id,
                        bool need_publisher);

bool sl_reg_is_org_admin(struct sl_registry *r, const struct sl_principal *p, int64_t org_id)
{
    struct sl_error err;
    struct sl_db *db = sl_reg_db(r, &err);
    struct sl_stmt *st;
    bool ok = false;

    if (p->admin)
        return true;
    if (!db || p->user_id == 0)
        return false;
    st = sl_db_stmt(db, "SELECT 1 FROM members WHERE org_id = ? AND user_id = ? AND role = 'admin'",
                    &err);
    if (!st)
        return false;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, p->user_id);
    ok = sl_stmt_step(st, &err) == 1;
    sl_stmt_done(st);
    return ok;
}

json_t *sl_reg_org_members_json(struct sl_registry *r, int64_t org_id, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *arr;
    int row;

    if (!db)
        return NULL;
    st = sl_db_stmt(db,
                    "SELECT u.name, m.role FROM members m JOIN users u ON u.id = m.user_id WHERE "
                    "m.org_id = ? ORDER BY u.name",
                    err);
    if (!st)
        return NULL;
    sl_stmt_int(st, 1, org_id);
    arr = json_array();
    while ((row = sl_stmt_step(st, err)) == 1)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "user", sl_stmt_col_text(st, 0), "role",
                                             sl_stmt_col_text(st, 1)));
    sl_stmt_done(st);
    if (row < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static bool member_role(struct sl_registry *r, const struct sl_principal *p, int64_t org_id,
                        bool need_publisher)
{
    struct sl_error err;
    struct sl_db *db = sl_reg_db(r, &err);
    struct sl_stmt *st;
    bool ok = false;

    if (!db || p->user_id == 0)
        return false;
    st = sl_db_stmt(db, "SELECT role FROM members WHERE org_id = ? AND user_id = ?", &err);
    if (!st)
        return false;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, p->user_id);
    if (sl_stmt_step(st, &err) == 1)
        ok = !need_publisher || strcmp(sl_stmt_col_text(st, 0), "publisher") == 0 ||
             strcmp(sl_stmt_col_text(st, 0), "admin") == 0;
    sl_stmt_done(st);
    return ok;
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
    struct sl_stmt *st;
    int64_t org_id, user_id;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = find_id(db, "SELECT id FROM orgs WHERE name = ?", org, "org", &org_id, err);
    if (!rc)
        rc = find_id(db, "SELECT id FROM users WHERE name = ?", user, "user", &user_id, err);
    if (rc)
        return rc;
    st = sl_db_stmt(db, "DELETE FROM members WHERE org_id = ? AND user_id = ?", err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, user_id);
    rc = sl_stmt_run(st, err);
    if (!rc && sl_db_changes(db) == 0)
        rc = sl_error_set(err, SL_ENOTFOUND, "%s is not a member of %s", user, org);
    return rc;
}

enum sl_err sl_reg_user_remove(struct sl_registry *r, const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    int64_t user_id;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = find_id(db, "SELECT id FROM users WHERE name = ? AND removed IS NULL", name, "user",
                 &user_id, err);
    if (rc)
        return rc;
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    {
        /* the first two take (now, user), the others (user) */
        static const char *const sql[] = {
            "UPDATE users SET removed = ? WHERE id = ?",
            "UPDATE tokens SET revoked = ? WHERE user_id = ? AND revoked IS NULL",
            "DELETE FROM members WHERE user_id = ?",
        };
        for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && !rc; i++) {
            st = sl_db_stmt(db, sql[i], err);
            if (!st) {
                rc = err->code;
                break;
            }
            if (i < 2) {
                sl_stmt_int(st, 1, sl__now());
                sl_stmt_int(st, 2, user_id);
            } else {
                sl_stmt_int(st, 1, user_id);
            }
            rc = sl_stmt_run(st, err);
        }
    }
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
