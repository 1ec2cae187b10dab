/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations for the web UI's accounts (repo_web.h): sessions,
 * invitations, profiles, and the user and org lists of the admin page.
 */
#include "db/repo_web.h"

#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "db/repo_int.h"
#include "common/banned.h"

/* ---- sessions ---- */

enum sl_err sl_repo_session_insert(struct sl_db *db, const unsigned char hash[32], int64_t user_id,
                                   int64_t token_id, const char *scopes, const char *csrf,
                                   int64_t now, int64_t expires, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO web_sessions (id_hash, user_id, token_id, scopes, "
                                    "csrf, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_blob(st, 1, hash, 32);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, token_id);
    sl_stmt_text(st, 4, scopes);
    sl_stmt_text(st, 5, csrf);
    sl_stmt_int(st, 6, now);
    sl_stmt_int(st, 7, expires);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_session_trim(struct sl_db *db, int64_t user_id, const unsigned char keep[32],
                                 int max, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "DELETE FROM web_sessions WHERE user_id = ? AND id_hash <> ? AND id_hash NOT IN "
                   "(SELECT id_hash FROM web_sessions WHERE user_id = ? AND id_hash <> ? "
                   "ORDER BY created DESC, expires DESC, id_hash LIMIT ?)",
                   err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    sl_stmt_blob(st, 2, keep, 32);
    sl_stmt_int(st, 3, user_id);
    sl_stmt_blob(st, 4, keep, 32);
    sl_stmt_int(st, 5, max > 0 ? max - 1 : 0);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_session_get(struct sl_db *db, const unsigned char hash[32],
                                struct sl_session_row *row, bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT u.id, u.name, u.is_admin, s.scopes, s.csrf, s.created, s.expires, t.expires, "
        "t.revoked, u.removed FROM web_sessions s JOIN users u ON u.id = s.user_id "
        "JOIN tokens t ON t.id = s.token_id WHERE s.id_hash = ?",
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
        sl__repo_copy(st, 4, row->csrf, sizeof(row->csrf));
        row->created = sl_stmt_col_int(st, 5);
        row->expires = sl_stmt_col_int(st, 6);
        row->token_expires = sl_stmt_col_null(st, 7) ? 0 : sl_stmt_col_int(st, 7);
        row->token_revoked = !sl_stmt_col_null(st, 8);
        row->removed = !sl_stmt_col_null(st, 9);
    }
    sl_stmt_done(st);
    return r < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_session_delete(struct sl_db *db, const unsigned char hash[32], bool *deleted,
                                   struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "DELETE FROM web_sessions WHERE id_hash = ?", err);
    int n = 0;
    enum sl_err rc;

    *deleted = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_blob(st, 1, hash, 32);
    rc = sl__repo_run_changes(db, st, &n, err);
    *deleted = n > 0;
    return rc;
}

enum sl_err sl_repo_session_reap(struct sl_db *db, int64_t now, int *count, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "DELETE FROM web_sessions WHERE expires <= ? OR token_id IN (SELECT id FROM tokens "
        "WHERE revoked IS NOT NULL OR (expires IS NOT NULL AND expires <= ?)) OR user_id IN "
        "(SELECT id FROM users WHERE removed IS NOT NULL)",
        err);

    *count = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    sl_stmt_int(st, 2, now);
    return sl__repo_run_changes(db, st, count, err);
}

enum sl_err sl_repo_token_id(struct sl_db *db, const unsigned char hash[32], int64_t *id,
                             bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id FROM tokens WHERE hash = ?", err);

    *id = 0;
    *found = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_blob(st, 1, hash, 32);
    return sl__repo_int(st, id, found, err);
}

/* ---- the sign-up limit ---- */

enum sl_err sl_repo_signup_take(struct sl_db *db, const unsigned char hash[32], int64_t now,
                                int64_t window, int max, bool *allowed, struct sl_error *err)
{
    struct sl_stmt *st;
    int64_t n = 0;
    enum sl_err rc;
    int r;

    *allowed = false;
    /* the write lock first: on PostgreSQL every writer of the hub takes it,
     * so the count cannot change between the SELECT and the INSERT */
    rc = sl_db_begin(db, err);
    if (rc)
        return rc;
    st = sl_db_stmt(db, "SELECT count(*) FROM signup_attempts WHERE addr_hash = ? AND at > ?", err);
    if (!st) {
        rc = sl__repo_code(err);
        goto out;
    }
    sl_stmt_blob(st, 1, hash, 32);
    sl_stmt_int(st, 2, now - window);
    r = sl_stmt_step(st, err);
    if (r == 1)
        n = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    if (r != 1) {
        rc = r < 0 ? sl__repo_code(err)
                   : sl_error_set(err, SL_EINTERNAL, "count of sign-ups missing");
        goto out;
    }
    if (n < max) {
        st = sl_db_stmt(db, "INSERT INTO signup_attempts (addr_hash, at) VALUES (?, ?)", err);
        if (!st) {
            rc = sl__repo_code(err);
            goto out;
        }
        sl_stmt_blob(st, 1, hash, 32);
        sl_stmt_int(st, 2, now);
        rc = sl_stmt_run(st, err);
        if (rc)
            goto out;
    }
    rc = sl_db_commit(db, err);
    if (!rc)
        *allowed = n < max;
out:
    if (rc)
        sl_db_rollback(db);
    return rc;
}

enum sl_err sl_repo_signup_prune(struct sl_db *db, int64_t before, int *count, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "DELETE FROM signup_attempts WHERE at <= ?", err);

    *count = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, before);
    return sl__repo_run_changes(db, st, count, err);
}

/* ---- invitations ---- */

enum sl_err sl_repo_invite_insert(struct sl_db *db, const unsigned char hash[32], const char *email,
                                  int64_t created_by, int64_t now, int64_t expires, int64_t *id,
                                  struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO invitations (code_hash, email, created, expires, "
                                    "created_by) VALUES (?, ?, ?, ?, ?)",
                                    err);
    enum sl_err rc;

    *id = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_blob(st, 1, hash, 32);
    sl_stmt_text(st, 2, email);
    sl_stmt_int(st, 3, now);
    sl_stmt_int(st, 4, expires);
    if (created_by > 0)
        sl_stmt_int(st, 5, created_by);
    else
        sl_stmt_null(st, 5);
    rc = sl_stmt_run(st, err);
    if (!rc)
        *id = sl_db_last_id(db);
    return rc;
}

enum sl_err sl_repo_invite_list(struct sl_db *db, struct sl_arena *arena,
                                struct sl_invite_row **rows, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT i.id, i.email, i.created, i.expires, u.name FROM "
                                    "invitations i LEFT JOIN users u ON u.id = i.used_by "
                                    "ORDER BY i.id DESC",
                                    err);
    struct sl_invite_row *out = NULL;
    size_t cap = 0;
    int row;

    *rows = NULL;
    *n = 0;
    if (!st)
        return sl__repo_code(err);
    while ((row = sl_stmt_step(st, err)) == 1) {
        out = sl__repo_grow(arena, out, &cap, *n, sizeof(*out));
        out[*n].id = sl_stmt_col_int(st, 0);
        out[*n].email = sl__repo_dup(st, 1, arena);
        out[*n].created = sl_stmt_col_int(st, 2);
        out[*n].expires = sl_stmt_col_int(st, 3);
        out[*n].used_by = sl__repo_dup(st, 4, arena);
        (*n)++;
    }
    *rows = out;
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_invite_get(struct sl_db *db, const unsigned char hash[32],
                               struct sl_arena *arena, struct sl_invite_row *row, bool *found,
                               struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT i.id, i.email, i.created, i.expires, u.name, "
                                    "c.removed FROM invitations i LEFT JOIN users u ON u.id = "
                                    "i.used_by LEFT JOIN users c ON c.id = i.created_by "
                                    "WHERE i.code_hash = ?",
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
        row->id = sl_stmt_col_int(st, 0);
        row->email = sl__repo_dup(st, 1, arena);
        row->created = sl_stmt_col_int(st, 2);
        row->expires = sl_stmt_col_int(st, 3);
        row->used_by = sl__repo_dup(st, 4, arena);
        row->creator_removed = !sl_stmt_col_null(st, 5);
    }
    sl_stmt_done(st);
    return r < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_user_name_nocase(struct sl_db *db, const char *name, struct sl_arena *arena,
                                     char **existing, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT name FROM users WHERE lower(name) = lower(CAST(? AS TEXT)) LIMIT 1", err);
    int r;

    *existing = NULL;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, name);
    r = sl_stmt_step(st, err);
    if (r == 1)
        *existing = sl__repo_dup(st, 0, arena);
    sl_stmt_done(st);
    return r < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_invite_use(struct sl_db *db, int64_t id, int64_t user_id, int64_t now,
                               bool *taken, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "UPDATE invitations SET used_by = ? WHERE id = ? AND "
                                    "used_by IS NULL AND expires > ?",
                                    err);
    int n = 0;
    enum sl_err rc;

    *taken = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    sl_stmt_int(st, 2, id);
    sl_stmt_int(st, 3, now);
    rc = sl__repo_run_changes(db, st, &n, err);
    *taken = n == 1;
    return rc;
}

enum sl_err sl_repo_invite_delete(struct sl_db *db, int64_t id, bool *deleted, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "DELETE FROM invitations WHERE id = ?", err);
    int n = 0;
    enum sl_err rc;

    *deleted = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, id);
    rc = sl__repo_run_changes(db, st, &n, err);
    *deleted = n > 0;
    return rc;
}

/* ---- profiles and the admin lists ---- */

enum sl_err sl_repo_profile_insert(struct sl_db *db, int64_t user_id, const char *name,
                                   const char *email, const char *affiliation, const char *country,
                                   int64_t now, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO user_profiles (user_id, name, email, affiliation, "
                                    "country, created) VALUES (?, ?, ?, ?, ?, ?)",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    sl_stmt_text(st, 2, name);
    sl_stmt_text(st, 3, email);
    sl_stmt_text(st, 4, affiliation);
    sl_stmt_text(st, 5, country);
    sl_stmt_int(st, 6, now);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_user_list(struct sl_db *db, struct sl_arena *arena, struct sl_user_row **rows,
                              size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT u.name, u.is_admin, u.removed, u.created, p.name, COALESCE(p.email, u.email), "
        "COALESCE(p.affiliation, u.affiliation), COALESCE(p.country, u.country) FROM users u "
        "LEFT JOIN user_profiles p ON p.user_id = u.id ORDER BY u.name",
        err);
    struct sl_user_row *out = NULL;
    size_t cap = 0;
    int row;

    *rows = NULL;
    *n = 0;
    if (!st)
        return sl__repo_code(err);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_user_row *u;
        out = sl__repo_grow(arena, out, &cap, *n, sizeof(*out));
        u = &out[*n];
        sl__repo_copy(st, 0, u->user, sizeof(u->user));
        u->is_admin = sl_stmt_col_int(st, 1) != 0;
        u->removed = !sl_stmt_col_null(st, 2);
        u->created = sl_stmt_col_int(st, 3);
        u->name = sl__repo_dup(st, 4, arena);
        u->email = sl__repo_dup(st, 5, arena);
        u->affiliation = sl__repo_dup(st, 6, arena);
        u->country = sl__repo_dup(st, 7, arena);
        (*n)++;
    }
    *rows = out;
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_org_list(struct sl_db *db, struct sl_arena *arena, char ***names, size_t *n,
                             struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT name FROM orgs ORDER BY name", err);
    char **out = NULL;
    size_t cap = 0;
    int row;

    *names = NULL;
    *n = 0;
    if (!st)
        return sl__repo_code(err);
    while ((row = sl_stmt_step(st, err)) == 1) {
        out = sl__repo_grow(arena, out, &cap, *n, sizeof(*out));
        out[*n] = sl__repo_dup(st, 0, arena);
        (*n)++;
    }
    *names = out;
    return sl__repo_done(st, row, err);
}
