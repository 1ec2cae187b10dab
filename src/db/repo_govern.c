/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repository operations of repo_govern.h: evaluator keys, attestations,
 * obligation evidence and the schedule. Each is the SQL src/registry/govern.c
 * wrote before, statement for statement, portable between SQLite and
 * PostgreSQL.
 */
#include "db/repo_govern.h"

#include <stdio.h>
#include <string.h>

#include "db/repo_int.h"
#include "common/banned.h"

/* ---- evaluator keys ---- */

enum sl_err sl_repo_evaluator_user_id(struct sl_db *db, const char *name, bool *found,
                                      int64_t *user_id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id FROM users WHERE name = ?", err);

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, name);
    return sl__repo_int(st, user_id, found, err);
}

enum sl_err sl_repo_eval_key_count(struct sl_db *db, int64_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT count(*) FROM eval_keys", err);
    bool found;

    if (!st)
        return err->code;
    return sl__repo_int(st, n, &found, err);
}

enum sl_err sl_repo_eval_key_insert(struct sl_db *db, const struct sl_eval_key_new *k,
                                    bool *inserted, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO eval_keys (name, user_id, key_id, pub, vkey, added) VALUES (?, ?, "
                   "?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                   err);
    enum sl_err rc;

    *inserted = false;
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, k->name);
    sl_stmt_int(st, 2, k->user_id);
    sl_stmt_int(st, 3, k->key_id);
    sl_stmt_blob(st, 4, k->pub, 32);
    sl_stmt_text(st, 5, k->vkey);
    sl_stmt_int(st, 6, k->added);
    rc = sl_stmt_run(st, err);
    if (rc)
        return rc;
    *inserted = sl_db_changes(db) == 1;
    return SL_OK;
}

enum sl_err sl_repo_eval_keys_live_names(struct sl_db *db, const char *name, int64_t user_id,
                                         char (*names)[SL_REPO_NAME_MAX + 1], int max, int *n,
                                         struct sl_error *err)
{
    struct sl_stmt *st =
        name ? sl_db_stmt(db, "SELECT name FROM eval_keys WHERE name = ? AND revoked IS NULL", err)
             : sl_db_stmt(db, "SELECT name FROM eval_keys WHERE user_id = ? AND revoked IS NULL",
                          err);
    int row;

    *n = 0;
    if (!st)
        return err->code;
    if (name)
        sl_stmt_text(st, 1, name);
    else
        sl_stmt_int(st, 1, user_id);
    while ((row = sl_stmt_step(st, err)) == 1 && *n < max) {
        sl__repo_copy(st, 0, names[*n], SL_REPO_NAME_MAX + 1);
        (*n)++;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_eval_key_revoke(struct sl_db *db, const char *name, int64_t now,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "UPDATE eval_keys SET revoked = ? WHERE name = ?", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, now);
    sl_stmt_text(st, 2, name);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_eval_keys(struct sl_db *db,
                              int (*fn)(void *ctx, const struct sl_eval_key_row *row), void *ctx,
                              struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT name, vkey, added, revoked FROM eval_keys ORDER BY name", err);
    int row;

    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_eval_key_row k;
        memset(&k, 0, sizeof(k));
        k.name = sl_stmt_col_text(st, 0);
        k.vkey = sl_stmt_col_text(st, 1);
        k.added = sl_stmt_col_int(st, 2);
        k.revoked = !sl_stmt_col_null(st, 3);
        k.revoked_at = k.revoked ? sl_stmt_col_int(st, 3) : 0;
        if (fn(ctx, &k) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_eval_keys_live(struct sl_db *db,
                                   int (*fn)(void *ctx, const struct sl_eval_key_row *row),
                                   void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT id, name, pub FROM eval_keys WHERE revoked IS NULL ORDER BY id", err);
    int row;

    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_eval_key_row k;
        memset(&k, 0, sizeof(k));
        k.id = sl_stmt_col_int(st, 0);
        k.name = sl_stmt_col_text(st, 1);
        k.pub = sl_stmt_col_blob(st, 2, &k.pub_len);
        if (fn(ctx, &k) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

/* ---- attestations ---- */

enum sl_err sl_repo_attestation_domains(struct sl_db *db, int64_t version_id,
                                        int (*fn)(void *ctx, const struct sl_attestation_row *row),
                                        void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT a.domain, k.name FROM attestations a JOIN eval_keys "
                                    "k ON k.id = a.key_id WHERE a.version_id = ? ORDER BY a.id",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_attestation_row a;
        memset(&a, 0, sizeof(a));
        a.domain = sl_stmt_col_text(st, 0);
        a.evaluator = sl_stmt_col_text(st, 1);
        if (fn(ctx, &a) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_attestation_evals(struct sl_db *db, int64_t version_id,
                                      int (*fn)(void *ctx, const struct sl_attestation_row *row),
                                      void *ctx, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT a.domain, a.level, a.method, a.date, k.name FROM attestations a JOIN "
                   "eval_keys k ON k.id = a.key_id WHERE a.version_id = ? ORDER BY a.id",
                   err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_attestation_row a;
        memset(&a, 0, sizeof(a));
        a.domain = sl_stmt_col_text(st, 0);
        a.level = sl_stmt_col_text(st, 1);
        a.method = sl_stmt_col_text(st, 2);
        a.date = sl_stmt_col_int(st, 3);
        a.evaluator = sl_stmt_col_text(st, 4);
        if (fn(ctx, &a) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_attestations(struct sl_db *db, int64_t version_id,
                                 int (*fn)(void *ctx, const struct sl_attestation_row *row),
                                 void *ctx, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT k.name, a.domain, a.level, a.method, a.date, a.note FROM attestations "
                   "a JOIN eval_keys k ON k.id = a.key_id WHERE a.version_id = ? ORDER BY a.id",
                   err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_attestation_row a;
        a.evaluator = sl_stmt_col_text(st, 0);
        a.domain = sl_stmt_col_text(st, 1);
        a.level = sl_stmt_col_text(st, 2);
        a.method = sl_stmt_col_text(st, 3);
        a.date = sl_stmt_col_int(st, 4);
        a.note = sl_stmt_col_text(st, 5);
        if (fn(ctx, &a) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_attestation_find(struct sl_db *db, const char *note_sha256, bool *found,
                                     int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id FROM attestations WHERE note_sha256 = ?", err);

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, note_sha256);
    return sl__repo_int(st, id, found, err);
}

enum sl_err sl_repo_attestation_insert(struct sl_db *db, const struct sl_attestation_new *a,
                                       struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO attestations (version_id, key_id, domain, level, "
                                    "method, date, note, note_sha256, created) VALUES (?, ?, ?, "
                                    "?, ?, ?, ?, ?, ?)",
                                    err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, a->version_id);
    sl_stmt_int(st, 2, a->key_id);
    sl_stmt_text(st, 3, a->domain);
    sl_stmt_text(st, 4, a->level);
    sl_stmt_text(st, 5, a->method);
    sl_stmt_int(st, 6, a->date);
    sl_stmt_textn(st, 7, a->note, a->note_len);
    sl_stmt_text(st, 8, a->note_sha256);
    sl_stmt_int(st, 9, a->created);
    return sl_stmt_run(st, err);
}

/* ---- obligation evidence ---- */

enum sl_err sl_repo_evidence_get(struct sl_db *db, int64_t version_id, const char *obligation,
                                 struct sl_arena *a, bool *found, struct sl_evidence_row *out,
                                 struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT e.evidence, u.name, e.created FROM evidence "
                                    "e JOIN users u ON u.id = e.user_id WHERE "
                                    "e.version_id = ? AND e.obligation = ?",
                                    err);
    int row;

    *found = false;
    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    sl_stmt_text(st, 2, obligation);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        out->text = sl__repo_dup(st, 0, a);
        out->by = sl__repo_dup(st, 1, a);
        out->created = sl_stmt_col_int(st, 2);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_evidence_insert(struct sl_db *db, int64_t version_id, const char *obligation,
                                    const char *text, int64_t user_id, int64_t now, bool *inserted,
                                    struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO evidence (version_id, obligation, evidence, user_id, created) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   err);
    enum sl_err rc;

    *inserted = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    sl_stmt_text(st, 2, obligation);
    sl_stmt_text(st, 3, text);
    sl_stmt_int(st, 4, user_id);
    sl_stmt_int(st, 5, now);
    rc = sl_stmt_run(st, err);
    if (rc)
        return rc;
    *inserted = sl_db_changes(db) == 1;
    return SL_OK;
}

/* ---- the schedule ---- */

enum sl_err sl_repo_schedule_pending_count(struct sl_db *db, int64_t model_id, int64_t *n,
                                           struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT count(*) FROM schedule s JOIN versions v ON v.id = s.version_id WHERE "
                   "v.model_id = ? AND s.status = 'pending'",
                   err);
    bool found;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    return sl__repo_int(st, n, &found, err);
}

enum sl_err sl_repo_schedule_insert(struct sl_db *db, int64_t version_id, const char *tier,
                                    int64_t at, int64_t now, int64_t created_by, int64_t *id,
                                    struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO schedule (version_id, tier, at, status, created, created_by) "
                   "VALUES (?, ?, ?, 'pending', ?, ?)",
                   err);
    enum sl_err rc;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    sl_stmt_text(st, 2, tier);
    sl_stmt_int(st, 3, at);
    sl_stmt_int(st, 4, now);
    sl_stmt_int(st, 5, created_by);
    rc = sl_stmt_run(st, err);
    if (rc)
        return rc;
    *id = sl_db_last_id(db);
    return SL_OK;
}

enum sl_err sl_repo_schedule(struct sl_db *db, int64_t model_id,
                             int (*fn)(void *ctx, const struct sl_schedule_row *row), void *ctx,
                             struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT s.id, v.seq, v.commit_hash, s.tier, s.at, s.status, s.reason, s.done "
                   "FROM schedule s JOIN versions v ON v.id = s.version_id WHERE v.model_id = ? "
                   "ORDER BY s.at, s.id",
                   err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_schedule_row s;
        s.id = sl_stmt_col_int(st, 0);
        s.version = sl_stmt_col_int(st, 1);
        s.commit = sl_stmt_col_text(st, 2);
        s.tier = sl_stmt_col_text(st, 3);
        s.at = sl_stmt_col_int(st, 4);
        s.status = sl_stmt_col_text(st, 5);
        s.reason = sl_stmt_col_text(st, 6);
        s.has_done = !sl_stmt_col_null(st, 7);
        s.done = s.has_done ? sl_stmt_col_int(st, 7) : 0;
        if (fn(ctx, &s) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_schedule_step_pending(struct sl_db *db, int64_t id, bool *pending,
                                          struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT count(*) FROM schedule WHERE id = ? AND status = 'pending'", err);
    int64_t n = 0;
    bool found;
    enum sl_err rc;

    *pending = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, id);
    rc = sl__repo_int(st, &n, &found, err);
    *pending = !rc && n > 0;
    return rc;
}

enum sl_err sl_repo_schedule_step_finish(struct sl_db *db, int64_t id, const char *status,
                                         const char *reason, int64_t now, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "UPDATE schedule SET status = ?, reason = ?, done = ? WHERE id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, status);
    sl_stmt_text(st, 2, reason);
    sl_stmt_int(st, 3, now);
    sl_stmt_int(st, 4, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_schedule_next_due(struct sl_db *db, int64_t now, bool *found,
                                      struct sl_schedule_due_row *out, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT s.id, s.version_id, s.tier, s.at, o.name || '/' "
                                    "|| m.name FROM schedule s JOIN versions v ON v.id = "
                                    "s.version_id JOIN models m ON m.id = v.model_id JOIN "
                                    "orgs o ON o.id = m.org_id WHERE s.status = 'pending' "
                                    "AND s.at <= ? ORDER BY s.at, s.id LIMIT 1",
                                    err);
    int row;

    *found = false;
    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, now);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        out->id = sl_stmt_col_int(st, 0);
        out->version_id = sl_stmt_col_int(st, 1);
        sl__repo_copy(st, 2, out->tier, sizeof(out->tier));
        out->at = sl_stmt_col_int(st, 3);
        sl__repo_copy(st, 4, out->model, sizeof(out->model));
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}
