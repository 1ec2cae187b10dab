/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations on users, tokens, orgs and members (repo_accounts.h):
 * the SQL that src/registry/accounts.c and hub.c used to hold, unchanged.
 */
#include "db/repo_accounts.h"

#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "db/repo_int.h"
#include "common/banned.h"

/* ---- users ---- */

enum sl_err sl_repo_user_insert(struct sl_db *db, const char *name, const char *email,
                                const char *affiliation, const char *country, bool admin,
                                int64_t now, int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO users (name, email, affiliation, country, "
                                    "is_admin, created) VALUES (?, ?, ?, ?, ?, ?)",
                                    err);
    enum sl_err rc;

    *id = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, name);
    sl_stmt_text(st, 2, email);
    sl_stmt_text(st, 3, affiliation);
    sl_stmt_text(st, 4, country);
    sl_stmt_int(st, 5, admin);
    sl_stmt_int(st, 6, now);
    rc = sl_stmt_run(st, err);
    if (rc == SL_ECONFLICT)
        return sl_error_set(err, SL_ECONFLICT, "user \"%s\" already exists", name);
    if (!rc)
        *id = sl_db_last_id(db);
    return rc;
}

static enum sl_err find_id(struct sl_db *db, const char *sql, const char *name, const char *what,
                           int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    bool found;
    enum sl_err rc;

    *id = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, name);
    rc = sl__repo_int(st, id, &found, err);
    if (!rc && !found)
        rc = sl_error_set(err, SL_ENOTFOUND, "no %s named \"%s\"", what, name);
    return rc;
}

enum sl_err sl_repo_user_find(struct sl_db *db, const char *name, int64_t *id, struct sl_error *err)
{
    return find_id(db, "SELECT id FROM users WHERE name = ?", name, "user", id, err);
}

enum sl_err sl_repo_user_find_live(struct sl_db *db, const char *name, int64_t *id,
                                   struct sl_error *err)
{
    return find_id(db, "SELECT id FROM users WHERE name = ? AND removed IS NULL", name, "user", id,
                   err);
}

enum sl_err sl_repo_user_remove(struct sl_db *db, int64_t user_id, int64_t now,
                                struct sl_error *err)
{
    /* the first two take (now, user), the last (user) */
    static const char *const sql[] = {
        "UPDATE users SET removed = ? WHERE id = ?",
        "UPDATE tokens SET revoked = ? WHERE user_id = ? AND revoked IS NULL",
        "DELETE FROM members WHERE user_id = ?",
    };
    enum sl_err rc = SL_OK;

    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && !rc; i++) {
        struct sl_stmt *st = sl_db_stmt(db, sql[i], err);
        if (!st)
            return sl__repo_code(err);
        if (i < 2) {
            sl_stmt_int(st, 1, now);
            sl_stmt_int(st, 2, user_id);
        } else {
            sl_stmt_int(st, 1, user_id);
        }
        rc = sl_stmt_run(st, err);
    }
    return rc;
}

enum sl_err sl_repo_user_admin_count(struct sl_db *db, int64_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT count(*) FROM users WHERE is_admin = 1", err);
    bool found;

    *n = 0;
    if (!st)
        return sl__repo_code(err);
    return sl__repo_int(st, n, &found, err);
}

enum sl_err sl_repo_user_email(struct sl_db *db, int64_t user_id, struct sl_arena *arena,
                               char **email, bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT email FROM users WHERE id = ?", err);
    int row;

    *email = NULL;
    *found = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        const char *s = sl_stmt_col_text(st, 0);
        *found = true;
        *email = s ? sl_arena_strdup(arena, s) : NULL;
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

/* ---- tokens ---- */

enum sl_err sl_repo_token_insert(struct sl_db *db, int64_t user_id, const unsigned char hash[32],
                                 const char *scopes, int64_t now, int64_t expires,
                                 struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "INSERT INTO tokens (user_id, hash, scopes, created, expires) VALUES (?, ?, ?, ?, ?)",
        err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    sl_stmt_blob(st, 2, hash, 32);
    sl_stmt_text(st, 3, scopes);
    sl_stmt_int(st, 4, now);
    if (expires > 0)
        sl_stmt_int(st, 5, expires);
    else
        sl_stmt_null(st, 5);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_token_get(struct sl_db *db, const unsigned char hash[32],
                              struct sl_token_row *row, bool *found, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT u.id, u.name, u.is_admin, t.scopes, t.expires, t.revoked, u.removed "
                   "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                   err);
    int r;

    memset(row, 0, sizeof(*row));
    *found = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_blob(st, 1, hash, 32);
    r = sl_stmt_step(st, err);
    if (r == 1) {
        *found = true;
        row->user_id = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, row->name, sizeof(row->name));
        row->is_admin = sl_stmt_col_int(st, 2) != 0;
        sl__repo_copy(st, 3, row->scopes, sizeof(row->scopes));
        row->expires = sl_stmt_col_null(st, 4) ? 0 : sl_stmt_col_int(st, 4);
        row->revoked = !sl_stmt_col_null(st, 5);
        row->removed = !sl_stmt_col_null(st, 6);
    }
    sl_stmt_done(st);
    return r < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_token_revoke_hash(struct sl_db *db, const unsigned char hash[32], int64_t now,
                                      int *count, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "UPDATE tokens SET revoked = ? WHERE hash = ? AND revoked IS NULL", err);

    *count = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    sl_stmt_blob(st, 2, hash, 32);
    return sl__repo_run_changes(db, st, count, err);
}

enum sl_err sl_repo_token_revoke_user(struct sl_db *db, int64_t user_id, int64_t now, int *count,
                                      struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "UPDATE tokens SET revoked = ? WHERE user_id = ? AND revoked IS NULL", err);

    *count = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    sl_stmt_int(st, 2, user_id);
    return sl__repo_run_changes(db, st, count, err);
}

/* ---- orgs and members ---- */

enum sl_err sl_repo_org_insert(struct sl_db *db, const char *name, int64_t now,
                               struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "INSERT INTO orgs (name, created) VALUES (?, ?)", err);
    enum sl_err rc;

    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, name);
    sl_stmt_int(st, 2, now);
    rc = sl_stmt_run(st, err);
    if (rc == SL_ECONFLICT)
        rc = sl_error_set(err, SL_ECONFLICT, "org \"%s\" already exists", name);
    return rc;
}

enum sl_err sl_repo_org_find(struct sl_db *db, const char *name, int64_t *id, struct sl_error *err)
{
    return find_id(db, "SELECT id FROM orgs WHERE name = ?", name, "org", id, err);
}

enum sl_err sl_repo_member_upsert(struct sl_db *db, int64_t org_id, int64_t user_id,
                                  const char *role, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO members (org_id, user_id, role) VALUES (?, ?, ?) "
                                    "ON CONFLICT (org_id, user_id) DO UPDATE SET role = "
                                    "excluded.role",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_text(st, 3, role);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_member_delete(struct sl_db *db, int64_t org_id, int64_t user_id, bool *removed,
                                  struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "DELETE FROM members WHERE org_id = ? AND user_id = ?", err);
    int changes;
    enum sl_err rc;

    *removed = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, user_id);
    rc = sl__repo_run_changes(db, st, &changes, err);
    *removed = changes > 0;
    return rc;
}

enum sl_err sl_repo_member_role(struct sl_db *db, int64_t org_id, int64_t user_id,
                                char role[SL_REPO_ROLE_MAX + 1], bool *found, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT role FROM members WHERE org_id = ? AND user_id = ?", err);
    int row;

    role[0] = '\0';
    *found = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        sl__repo_copy(st, 0, role, SL_REPO_ROLE_MAX + 1);
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_member_is_admin(struct sl_db *db, int64_t org_id, int64_t user_id, bool *yes,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT 1 FROM members WHERE org_id = ? AND user_id = ? AND role = 'admin'", err);

    *yes = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, org_id);
    sl_stmt_int(st, 2, user_id);
    return sl__repo_exists(st, yes, err);
}

enum sl_err sl_repo_member_of_org_named(struct sl_db *db, const char *org, int64_t user_id,
                                        bool *yes, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT 1 FROM members m JOIN orgs o ON o.id = m.org_id "
                                    "WHERE o.name = ? AND m.user_id = ?",
                                    err);

    *yes = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, org);
    sl_stmt_int(st, 2, user_id);
    return sl__repo_exists(st, yes, err);
}

enum sl_err sl_repo_org_members(struct sl_db *db, int64_t org_id, struct sl_arena *arena,
                                struct sl_member_row **rows, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT u.name, m.role FROM members m JOIN users u ON u.id = "
                                    "m.user_id WHERE m.org_id = ? ORDER BY u.name",
                                    err);
    struct sl_member_row *v = NULL;
    size_t cap = 0;
    int row;

    *rows = NULL;
    *n = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, org_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        v = sl__repo_grow(arena, v, &cap, *n, sizeof(*v));
        memset(&v[*n], 0, sizeof(v[*n]));
        v[*n].org_id = org_id;
        sl__repo_copy(st, 0, v[*n].user, sizeof(v[*n].user));
        sl__repo_copy(st, 1, v[*n].role, sizeof(v[*n].role));
        (*n)++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        *n = 0;
        return sl__repo_code(err);
    }
    *rows = v;
    return SL_OK;
}

enum sl_err sl_repo_user_orgs(struct sl_db *db, int64_t user_id, struct sl_arena *arena,
                              struct sl_member_row **rows, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT o.id, o.name, m.role FROM members m JOIN orgs o ON "
                                    "o.id = m.org_id WHERE m.user_id = ? ORDER BY o.name",
                                    err);
    struct sl_member_row *v = NULL;
    size_t cap = 0;
    int row;

    *rows = NULL;
    *n = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        v = sl__repo_grow(arena, v, &cap, *n, sizeof(*v));
        memset(&v[*n], 0, sizeof(v[*n]));
        v[*n].org_id = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, v[*n].org, sizeof(v[*n].org));
        sl__repo_copy(st, 2, v[*n].role, sizeof(v[*n].role));
        (*n)++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        *n = 0;
        return sl__repo_code(err);
    }
    *rows = v;
    return SL_OK;
}
