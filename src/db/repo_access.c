/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations for tiered access (repo_access.h): the SQL that
 * src/registry/access.c used to hold, statement for statement.
 */
#include "db/repo_access.h"

#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "db/repo_int.h"
#include "common/banned.h"

static int64_t col_time(struct sl_stmt *st, int col)
{
    return sl_stmt_col_null(st, col) ? 0 : sl_stmt_col_int(st, col);
}

/* ---- versions ---- */

enum sl_err sl_repo_version_license(struct sl_db *db, int64_t version_id, struct sl_arena *arena,
                                    char **text, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT license FROM versions WHERE id = ?", err);
    int row;

    *text = NULL;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1)
        *text = sl__repo_dup(st, 0, arena);
    sl_stmt_done(st);
    if (row < 0)
        return sl__repo_code(err);
    return row == 1 ? SL_OK : sl_error_set(err, SL_ENOTFOUND, "no such version");
}

enum sl_err sl_repo_main_version(struct sl_db *db, int64_t model_id, struct sl_repo_main *v,
                                 struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT v.id, v.seq, v.commit_hash, v.tier FROM refs f JOIN "
                                    "versions v ON v.id = f.version_id WHERE f.model_id = ? AND "
                                    "f.name = 'main'",
                                    err);
    int row;

    memset(v, 0, sizeof(*v));
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        v->version_id = sl_stmt_col_int(st, 0);
        v->seq = sl_stmt_col_int(st, 1);
        sl__repo_copy(st, 2, v->commit, sizeof(v->commit));
        sl__repo_copy(st, 3, v->tier, sizeof(v->tier));
    }
    sl_stmt_done(st);
    if (row < 0)
        return sl__repo_code(err);
    return row == 1 ? SL_OK : sl_error_set(err, SL_ENOTFOUND, "the model has no main version");
}

enum sl_err sl_repo_eval_key_live(struct sl_db *db, int64_t user_id, bool *yes,
                                  struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT 1 FROM eval_keys WHERE user_id = ? AND revoked IS NULL", err);

    *yes = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    return sl__repo_exists(st, yes, err);
}

/* ---- acceptances ---- */

enum sl_err sl_repo_acceptance_exists(struct sl_db *db, int64_t user_id, int64_t model_id,
                                      const char *sha, bool *yes, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT 1 FROM acceptances WHERE user_id = ? AND model_id = ? "
                                    "AND license_sha256 = ?",
                                    err);

    *yes = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    sl_stmt_int(st, 2, model_id);
    sl_stmt_text(st, 3, sha);
    return sl__repo_exists(st, yes, err);
}

enum sl_err sl_repo_acceptance_insert(struct sl_db *db, int64_t user_id, int64_t model_id,
                                      const char *sha, int64_t now, bool *fresh,
                                      struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO acceptances (user_id, model_id, license_sha256, "
                                    "accepted) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                    err);
    int changes;
    enum sl_err rc;

    *fresh = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    sl_stmt_int(st, 2, model_id);
    sl_stmt_text(st, 3, sha);
    sl_stmt_int(st, 4, now);
    rc = sl__repo_run_changes(db, st, &changes, err);
    *fresh = changes == 1;
    return rc;
}

/* ---- requests and grants ---- */

enum sl_err sl_repo_grant_get(struct sl_db *db, int64_t model_id, int64_t user_id,
                              struct sl_grant_row *g, bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT id, status, expires, reason, grant_seq, purpose, "
                                    "denials, appeal IS NOT NULL, no_auto FROM access_requests "
                                    "WHERE model_id = ? AND user_id = ?",
                                    err);
    int row;

    memset(g, 0, sizeof(*g));
    *found = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        g->id = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, g->status, sizeof(g->status));
        g->expires = col_time(st, 2);
        sl__repo_copy(st, 3, g->reason, sizeof(g->reason));
        g->grant_seq = sl_stmt_col_int(st, 4);
        sl__repo_copy(st, 5, g->purpose, sizeof(g->purpose));
        g->denials = sl_stmt_col_int(st, 6);
        g->appealed = sl_stmt_col_int(st, 7) != 0;
        g->no_auto = sl_stmt_col_int(st, 8) != 0;
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

/* The columns of a request as its API answer shows it (request_row). */
#define REQUEST_COLUMNS                                                                            \
    "SELECT r.id, u.name, r.status, r.purpose, r.fields, r.created, r.decided, r.reason, "         \
    "r.appeal, r.appealed, r.expires, r.auto_rule, r.denials, r.history FROM access_requests r "   \
    "JOIN users u ON u.id = r.user_id "

static void request_row(struct sl_stmt *st, struct sl_arena *arena, struct sl_request_row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sl_stmt_col_int(st, 0);
    sl__repo_copy(st, 1, r->user, sizeof(r->user));
    sl__repo_copy(st, 2, r->status, sizeof(r->status));
    r->purpose = sl__repo_dup(st, 3, arena);
    r->fields = sl__repo_dup(st, 4, arena);
    r->created = sl_stmt_col_int(st, 5);
    r->decided = col_time(st, 6);
    r->reason = sl__repo_dup(st, 7, arena);
    r->appeal = sl__repo_dup(st, 8, arena);
    r->appealed = col_time(st, 9);
    r->expires = col_time(st, 10);
    r->auto_rule = sl__repo_dup(st, 11, arena);
    r->denials = sl_stmt_col_int(st, 12);
    r->history = sl_stmt_col_null(st, 13) ? NULL : sl__repo_dup(st, 13, arena);
}

enum sl_err sl_repo_request_get(struct sl_db *db, int64_t id, struct sl_arena *arena,
                                struct sl_request_row *row, struct sl_error *err)
{
    static const char sql[] = REQUEST_COLUMNS "WHERE r.id = ?";
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    int r;

    memset(row, 0, sizeof(*row));
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, id);
    r = sl_stmt_step(st, err);
    if (r == 1)
        request_row(st, arena, row);
    sl_stmt_done(st);
    if (r < 0)
        return sl__repo_code(err);
    return r == 1 ? SL_OK : sl_error_set(err, SL_ENOTFOUND, "no such request");
}

enum sl_err sl_repo_request_list(struct sl_db *db, int64_t model_id, struct sl_arena *arena,
                                 struct sl_request_row **rows, size_t *n, struct sl_error *err)
{
    static const char sql[] = REQUEST_COLUMNS "WHERE r.model_id = ? ORDER BY r.created, r.id";
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    struct sl_request_row *v = NULL;
    size_t cap = 0;
    int row;

    *rows = NULL;
    *n = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        v = sl__repo_grow(arena, v, &cap, *n, sizeof(*v));
        request_row(st, arena, &v[*n]);
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

enum sl_err sl_repo_request_insert(struct sl_db *db, int64_t model_id, int64_t user_id,
                                   const char *purpose, const char *fields, int64_t now,
                                   int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO access_requests (model_id, user_id, status, "
                                    "purpose, fields, created) VALUES (?, ?, 'pending', ?, ?, ?)",
                                    err);
    enum sl_err rc;

    *id = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_text(st, 3, purpose);
    sl_stmt_text(st, 4, fields);
    sl_stmt_int(st, 5, now);
    rc = sl_stmt_run(st, err);
    if (!rc)
        *id = sl_db_last_id(db);
    return rc;
}

enum sl_err sl_repo_request_renew(struct sl_db *db, int64_t id, const char *purpose,
                                  const char *fields, int64_t now, const char *history,
                                  bool no_auto, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "UPDATE access_requests SET status = 'pending', purpose = ?, fields = ?, "
                   "created = ?, decided = NULL, decided_by = NULL, reason = NULL, appeal = "
                   "NULL, appealed = NULL, denials = 0, expires = NULL, auto_rule = NULL, "
                   "history = COALESCE(?, history), no_auto = ? WHERE id = ?",
                   err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, purpose);
    sl_stmt_text(st, 2, fields);
    sl_stmt_int(st, 3, now);
    if (history)
        sl_stmt_text(st, 4, history);
    else
        sl_stmt_null(st, 4);
    sl_stmt_int(st, 5, no_auto);
    sl_stmt_int(st, 6, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_request_history(struct sl_db *db, int64_t id, struct sl_arena *arena,
                                    char **history, int64_t *decided, bool *found,
                                    struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT history, decided FROM access_requests WHERE id = ?", err);
    int row;

    *history = NULL;
    *decided = 0;
    *found = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        *history = sl_stmt_col_null(st, 0) ? NULL : sl__repo_dup(st, 0, arena);
        *decided = col_time(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_request_approve(struct sl_db *db, int64_t id, int64_t now, int64_t decided_by,
                                    int64_t expires, const char *rule, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "UPDATE access_requests SET status = 'approved', decided = ?, "
                                    "decided_by = ?, reason = NULL, expires = ?, auto_rule = ?, "
                                    "grant_seq = grant_seq + 1 WHERE id = ?",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    if (decided_by)
        sl_stmt_int(st, 2, decided_by);
    else
        sl_stmt_null(st, 2);
    if (expires)
        sl_stmt_int(st, 3, expires);
    else
        sl_stmt_null(st, 3);
    sl_stmt_text(st, 4, rule);
    sl_stmt_int(st, 5, id);
    return sl_stmt_run(st, err);
}

/* Runs a decision statement that takes (now, decided_by, reason, id). */
static enum sl_err decide(struct sl_db *db, const char *sql, int64_t id, int64_t now,
                          int64_t decided_by, const char *reason, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, sql, err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    sl_stmt_int(st, 2, decided_by);
    sl_stmt_text(st, 3, reason);
    sl_stmt_int(st, 4, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_request_deny(struct sl_db *db, int64_t id, int64_t now, int64_t decided_by,
                                 const char *reason, struct sl_error *err)
{
    return decide(db,
                  "UPDATE access_requests SET status = 'denied', decided = ?, decided_by = ?, "
                  "reason = ?, denials = denials + 1 WHERE id = ?",
                  id, now, decided_by, reason, err);
}

enum sl_err sl_repo_request_revoke(struct sl_db *db, int64_t id, int64_t now, int64_t decided_by,
                                   const char *reason, struct sl_error *err)
{
    return decide(db,
                  "UPDATE access_requests SET status = 'revoked', decided = ?, decided_by = ?, "
                  "reason = ? WHERE id = ?",
                  id, now, decided_by, reason, err);
}

enum sl_err sl_repo_request_revoke_unattributed(struct sl_db *db, int64_t id, int64_t now,
                                                const char *reason, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "UPDATE access_requests SET status = 'revoked', decided = ?, "
                                    "decided_by = NULL, reason = ? WHERE id = ?",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    sl_stmt_text(st, 2, reason);
    sl_stmt_int(st, 3, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_request_appeal(struct sl_db *db, int64_t id, const char *text, int64_t now,
                                   struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "UPDATE access_requests SET status = 'pending', appeal = ?, "
                                    "appealed = ? WHERE id = ?",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, text);
    sl_stmt_int(st, 2, now);
    sl_stmt_int(st, 3, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_request_expire(struct sl_db *db, int64_t id, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "UPDATE access_requests SET status = 'expired' WHERE id = ?", err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_grants_of_user(struct sl_db *db, int64_t user_id, struct sl_arena *arena,
                                   struct sl_grant_ref **rows, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT r.id, o.name, m.name FROM access_requests r JOIN "
                                    "models m ON m.id = r.model_id JOIN orgs o ON o.id = m.org_id "
                                    "WHERE r.user_id = ? AND r.status = 'approved' ORDER BY r.id",
                                    err);
    struct sl_grant_ref *v = NULL;
    size_t cap = 0;
    int row;

    *rows = NULL;
    *n = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, user_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        v = sl__repo_grow(arena, v, &cap, *n, sizeof(*v));
        v[*n].id = sl_stmt_col_int(st, 0);
        v[*n].user_id = user_id;
        snprintf(v[*n].model, sizeof(v[*n].model), "%s/%s", sl_stmt_col_text(st, 1),
                 sl_stmt_col_text(st, 2));
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

enum sl_err sl_repo_grants_due_exist(struct sl_db *db, int64_t now, bool *yes, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT 1 FROM access_requests WHERE status = 'approved' AND "
                                    "expires IS NOT NULL AND expires <= ? LIMIT 1",
                                    err);

    *yes = false;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    return sl__repo_exists(st, yes, err);
}

enum sl_err sl_repo_grants_due(struct sl_db *db, int64_t now, struct sl_grant_ref *rows, size_t max,
                               size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT r.id, r.user_id, o.name || '/' || m.name FROM "
                                    "access_requests r JOIN models m ON m.id = r.model_id JOIN "
                                    "orgs o ON o.id = m.org_id WHERE r.status = 'approved' AND "
                                    "r.expires IS NOT NULL AND r.expires <= ?",
                                    err);
    int row = 0;

    *n = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    while (*n < max && (row = sl_stmt_step(st, err)) == 1) {
        rows[*n].id = sl_stmt_col_int(st, 0);
        rows[*n].user_id = sl_stmt_col_int(st, 1);
        sl__repo_copy(st, 2, rows[*n].model, sizeof(rows[*n].model));
        (*n)++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        *n = 0;
        return sl__repo_code(err);
    }
    return SL_OK;
}

enum sl_err sl_repo_grant_counts(struct sl_db *db, int64_t now, struct sl_grant_counts *c,
                                 struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT CASE WHEN status = 'approved' AND expires IS NOT NULL "
                                    "AND expires <= ? THEN 'expired' ELSE status END AS s, "
                                    "count(*) FROM access_requests GROUP BY s",
                                    err);
    int row;

    memset(c, 0, sizeof(*c));
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *s = sl_stmt_col_text(st, 0);
        int64_t k = sl_stmt_col_int(st, 1);
        if (!s)
            continue;
        if (strcmp(s, "pending") == 0)
            c->pending += k;
        else if (strcmp(s, "approved") == 0)
            c->approved += k;
        else if (strcmp(s, "denied") == 0)
            c->denied += k;
        else if (strcmp(s, "revoked") == 0)
            c->revoked += k;
        else if (strcmp(s, "expired") == 0)
            c->expired += k;
    }
    sl_stmt_done(st);
    if (row < 0) {
        memset(c, 0, sizeof(*c));
        return sl__repo_code(err);
    }
    return SL_OK;
}

/* ---- rules ---- */

enum sl_err sl_repo_access_rules_get(struct sl_db *db, int64_t model_id, struct sl_arena *arena,
                                     char **rules, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT rules FROM access_rules WHERE model_id = ?", err);
    int row;

    *rules = NULL;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1)
        *rules = sl__repo_dup(st, 0, arena);
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_access_rules_put(struct sl_db *db, int64_t model_id, const char *rules,
                                     struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO access_rules (model_id, rules) VALUES (?, ?) ON "
                                    "CONFLICT (model_id) DO UPDATE SET rules = excluded.rules",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, model_id);
    sl_stmt_text(st, 2, rules);
    return sl_stmt_run(st, err);
}

/* ---- licenses ---- */

enum sl_err sl_repo_license_current(struct sl_db *db, int64_t req_id, int64_t version_id,
                                    struct sl_arena *arena, char **note, int64_t *log_idx,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT l.note, l.log_idx FROM licenses l JOIN "
                                    "access_requests r ON r.id = l.request_id AND r.grant_seq = "
                                    "l.grant_seq WHERE l.request_id = ? AND l.version_id = ?",
                                    err);
    int row;

    *note = NULL;
    *log_idx = -1;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, req_id);
    sl_stmt_int(st, 2, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        const char *s = sl_stmt_col_text(st, 0);
        *note = sl_arena_strdup(arena, s ? s : "");
        *log_idx = sl_stmt_col_null(st, 1) ? -1 : sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_license_request(struct sl_db *db, int64_t req_id, struct sl_license_req *lr,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT user_id, purpose, expires, grant_seq FROM access_requests WHERE id = ?", err);
    int row;

    memset(lr, 0, sizeof(*lr));
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, req_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        lr->user_id = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, lr->purpose, sizeof(lr->purpose));
        lr->expires = col_time(st, 2);
        lr->grant_seq = sl_stmt_col_int(st, 3);
    }
    sl_stmt_done(st);
    if (row < 0)
        return sl__repo_code(err);
    return row == 1 ? SL_OK : sl_error_set(err, SL_ENOTFOUND, "no such request");
}

enum sl_err sl_repo_license_insert(struct sl_db *db, const char *id, int64_t req_id,
                                   int64_t grant_seq, int64_t version_id, int64_t issued,
                                   const char *note, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO licenses (id, request_id, grant_seq, version_id, "
                                    "issued, note) VALUES (?, ?, ?, ?, ?, ?)",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, id);
    sl_stmt_int(st, 2, req_id);
    sl_stmt_int(st, 3, grant_seq);
    sl_stmt_int(st, 4, version_id);
    sl_stmt_int(st, 5, issued);
    sl_stmt_text(st, 6, note);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_license_set_log_idx(struct sl_db *db, const char *id, int64_t log_idx,
                                        struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "UPDATE licenses SET log_idx = ? WHERE id = ?", err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, log_idx);
    sl_stmt_text(st, 2, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_license_revoke_request(struct sl_db *db, int64_t req_id, int64_t now,
                                           struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "UPDATE licenses SET revoked = ? WHERE request_id = ? AND revoked IS NULL", err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, now);
    sl_stmt_int(st, 2, req_id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_licenses_revoked(struct sl_db *db,
                                     int (*fn)(void *ctx, const struct sl_license_revoked *row),
                                     void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT id, revoked FROM licenses WHERE revoked IS NOT NULL ORDER BY revoked, id", err);
    struct sl_license_revoked l;
    int row;

    if (!st)
        return sl__repo_code(err);
    while ((row = sl_stmt_step(st, err)) == 1) {
        sl__repo_copy(st, 0, l.id, sizeof(l.id));
        l.revoked = sl_stmt_col_int(st, 1);
        if (fn(ctx, &l) != 0) {
            row = 0;
            break;
        }
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}
