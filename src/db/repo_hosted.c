/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's SQL (repo_hosted.h), portable between SQLite and
 * PostgreSQL through sl_db_stmt.
 */
#include "db/repo_hosted.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "db/db.h"
#include "db/repo_int.h"
#include "common/banned.h"

enum sl_err sl_repo_backend_add(struct sl_db *db, const struct sl_hosted_backend *b, int64_t *id,
                                struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT count(*) FROM hosted_backends WHERE model_id = ?", err);
    int64_t have = 0;
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, b->model_id);
    row = sl_stmt_step(st, err);
    if (row == 1)
        have = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (have >= SL_HOSTED_BACKENDS_MAX)
        return sl_error_set(err, SL_ELIMIT, "the model has %lld backends, the most it may have",
                            (long long)have);
    st = sl_db_stmt(db,
                    "INSERT INTO hosted_backends (model_id, version_id, url, backend_model, "
                    "key_env, created) VALUES (?, ?, ?, ?, ?, ?)",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, b->model_id);
    if (b->version_id)
        sl_stmt_int(st, 2, b->version_id);
    else
        sl_stmt_null(st, 2);
    sl_stmt_text(st, 3, b->url);
    sl_stmt_text(st, 4, b->backend_model[0] ? b->backend_model : NULL);
    sl_stmt_text(st, 5, b->key_env[0] ? b->key_env : NULL);
    sl_stmt_int(st, 6, b->created);
    if (sl_stmt_run(st, err) != SL_OK)
        return err->code;
    *id = sl_db_last_id(db);
    return SL_OK;
}

static void read_row(struct sl_stmt *st, struct sl_hosted_backend *b, bool names)
{
    memset(b, 0, sizeof(*b));
    b->id = sl_stmt_col_int(st, 0);
    b->model_id = sl_stmt_col_int(st, 1);
    b->version_id = sl_stmt_col_null(st, 2) ? 0 : sl_stmt_col_int(st, 2);
    sl__repo_copy(st, 3, b->url, sizeof(b->url));
    sl__repo_copy(st, 4, b->backend_model, sizeof(b->backend_model));
    sl__repo_copy(st, 5, b->key_env, sizeof(b->key_env));
    b->created = sl_stmt_col_int(st, 6);
    if (names) {
        sl__repo_copy(st, 7, b->org, sizeof(b->org));
        sl__repo_copy(st, 8, b->name, sizeof(b->name));
        b->version_seq = sl_stmt_col_null(st, 9) ? 0 : sl_stmt_col_int(st, 9);
    }
}

static enum sl_err collect(struct sl_stmt *st, bool names, struct sl_hosted_backend **out,
                           size_t *n, struct sl_error *err)
{
    struct sl_hosted_backend *v = NULL;
    size_t len = 0, cap = 0;
    int row;

    while ((row = sl_stmt_step(st, err)) == 1) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        read_row(st, &v[len++], names);
    }
    sl_stmt_done(st);
    if (row < 0) {
        free(v);
        return err->code;
    }
    *out = v;
    *n = len;
    return SL_OK;
}

enum sl_err sl_repo_backend_list(struct sl_db *db, int64_t model_id, struct sl_hosted_backend **out,
                                 size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT id, model_id, version_id, url, backend_model, key_env, "
                                    "created FROM hosted_backends WHERE model_id = ? ORDER BY id",
                                    err);

    *out = NULL;
    *n = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    return collect(st, false, out, n, err);
}

enum sl_err sl_repo_backend_all(struct sl_db *db, struct sl_hosted_backend **out, size_t *n,
                                struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT b.id, b.model_id, b.version_id, b.url, b.backend_model, b.key_env, "
                   "b.created, o.name, m.name, v.seq FROM hosted_backends b JOIN models m ON "
                   "m.id = b.model_id JOIN orgs o ON o.id = m.org_id LEFT JOIN versions v ON "
                   "v.id = b.version_id ORDER BY o.name, m.name, b.id",
                   err);

    *out = NULL;
    *n = 0;
    if (!st)
        return err->code;
    return collect(st, true, out, n, err);
}

enum sl_err sl_repo_backend_remove(struct sl_db *db, int64_t model_id, int64_t id,
                                   struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "DELETE FROM hosted_backends WHERE model_id = ? AND id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, id);
    if (sl_stmt_run(st, err) != SL_OK)
        return err->code;
    if (sl_db_changes(db) == 0)
        return sl_error_set(err, SL_ENOTFOUND, "the model has no backend %lld", (long long)id);
    return SL_OK;
}

enum sl_err sl_repo_hosted_access(struct sl_db *db, int64_t version_id, int64_t user_id,
                                  int64_t now, struct sl_hosted_access *out, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT v.tier, (SELECT count(*) FROM access_requests a WHERE a.model_id = v.model_id "
        "AND a.user_id = ? AND a.status = 'approved' AND (a.expires IS NULL OR a.expires > ?)) "
        "FROM versions v WHERE v.id = ?",
        err);
    int row;

    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, user_id);
    sl_stmt_int(st, 2, now);
    sl_stmt_int(st, 3, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        sl__repo_copy(st, 0, out->tier, sizeof(out->tier));
        out->grant_live = sl_stmt_col_int(st, 1) > 0;
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (row == 0)
        return sl_error_set(err, SL_ENOTFOUND, "version %lld is gone", (long long)version_id);
    return SL_OK;
}

/* ---- quotas and usage ---- */

/* A quota field for a nullable column: 0 (no limit) is stored as NULL. */
static void bind_limit(struct sl_stmt *st, int col, int64_t v)
{
    if (v)
        sl_stmt_int(st, col, v);
    else
        sl_stmt_null(st, col);
}

enum sl_err sl_repo_quota_set(struct sl_db *db, int64_t model_id, int64_t user_id,
                              const struct sl_hosted_quota *q, struct sl_error *err)
{
    struct sl_hosted_quota old = {0, 0, 0};
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT rpm, tokens_per_day, concurrency FROM hosted_quotas "
                                    "WHERE model_id = ? AND user_id = ?",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        old.rpm = sl_stmt_col_null(st, 0) ? 0 : sl_stmt_col_int(st, 0);
        old.tokens_per_day = sl_stmt_col_null(st, 1) ? 0 : sl_stmt_col_int(st, 1);
        old.concurrency = sl_stmt_col_null(st, 2) ? 0 : sl_stmt_col_int(st, 2);
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (q->rpm >= 0)
        old.rpm = q->rpm;
    if (q->tokens_per_day >= 0)
        old.tokens_per_day = q->tokens_per_day;
    if (q->concurrency >= 0)
        old.concurrency = q->concurrency;
    st = sl_db_stmt(db,
                    "INSERT INTO hosted_quotas (model_id, user_id, rpm, tokens_per_day, "
                    "concurrency) VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, user_id) DO "
                    "UPDATE SET rpm = excluded.rpm, tokens_per_day = excluded.tokens_per_day, "
                    "concurrency = excluded.concurrency",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    bind_limit(st, 3, old.rpm);
    bind_limit(st, 4, old.tokens_per_day);
    bind_limit(st, 5, old.concurrency);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_quota_get(struct sl_db *db, int64_t model_id, int64_t user_id,
                              struct sl_hosted_quota *out, struct sl_error *err)
{
    /* the user's row first (user_id DESC puts 0, the default, last) */
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT rpm, tokens_per_day, concurrency FROM hosted_quotas "
                                    "WHERE model_id = ? AND (user_id = ? OR user_id = 0) ORDER "
                                    "BY user_id DESC",
                                    err);
    int row;

    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        if (!out->rpm && !sl_stmt_col_null(st, 0))
            out->rpm = sl_stmt_col_int(st, 0);
        if (!out->tokens_per_day && !sl_stmt_col_null(st, 1))
            out->tokens_per_day = sl_stmt_col_int(st, 1);
        if (!out->concurrency && !sl_stmt_col_null(st, 2))
            out->concurrency = sl_stmt_col_int(st, 2);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_slot_take(struct sl_db *db, int64_t model_id, int64_t user_id, int64_t now,
                              int64_t limit, int64_t *slot, int64_t *running, struct sl_error *err)
{
    struct sl_stmt *st;
    int64_t id;
    int row;

    *slot = 0;
    *running = 0;
    st = sl_db_stmt(
        db, "DELETE FROM hosted_slots WHERE model_id = ? AND user_id = ? AND expires < ?", err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, now);
    if (sl_stmt_run(st, err) != SL_OK)
        return err->code;
    st = sl_db_stmt(db, "INSERT INTO hosted_slots (model_id, user_id, expires) VALUES (?, ?, ?)",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, now + SL_HOSTED_SLOT_LEASE_S);
    if (sl_stmt_run(st, err) != SL_OK)
        return err->code;
    id = sl_db_last_id(db);
    st = sl_db_stmt(db,
                    "SELECT count(*) FROM hosted_slots WHERE model_id = ? AND user_id = ? AND "
                    "expires >= ?",
                    err);
    if (!st)
        goto undo;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, now);
    row = sl_stmt_step(st, err);
    if (row == 1)
        *running = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    if (row != 1)
        goto undo;
    if (*running <= limit) {
        *slot = id;
        return SL_OK;
    }
    *running -= 1; /* refused: this one does not run */
    return sl_repo_slot_release(db, id, err);
undo:
    /* keep the error of the count; the slot goes, or its lease frees it */
    {
        struct sl_error e2;
        sl_error_clear(&e2);
        (void)sl_repo_slot_release(db, id, &e2);
    }
    return err->code ? err->code
                     : sl_error_set(err, SL_EINTERNAL, "counting the running calls failed");
}

enum sl_err sl_repo_slot_renew(struct sl_db *db, int64_t id, int64_t now, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "UPDATE hosted_slots SET expires = ? WHERE id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, now + SL_HOSTED_SLOT_LEASE_S);
    sl_stmt_int(st, 2, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_slot_release(struct sl_db *db, int64_t id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "DELETE FROM hosted_slots WHERE id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_rate_hit(struct sl_db *db, int64_t model_id, int64_t user_id, int64_t minute,
                             int64_t *n, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO hosted_rate (model_id, user_id, minute, n) VALUES (?, ?, ?, 1) "
                   "ON CONFLICT (model_id, user_id, minute) DO UPDATE SET n = hosted_rate.n + 1",
                   err);
    int row;

    *n = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, minute);
    if (sl_stmt_run(st, err) != SL_OK)
        return err->code;
    st = sl_db_stmt(
        db, "SELECT n FROM hosted_rate WHERE model_id = ? AND user_id = ? AND minute = ?", err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, minute);
    row = sl_stmt_step(st, err);
    if (row == 1)
        *n = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (*n == 1) {
        /* the first call of a minute sweeps the caller's older minutes */
        st = sl_db_stmt(db,
                        "DELETE FROM hosted_rate WHERE model_id = ? AND user_id = ? AND "
                        "minute < ?",
                        err);
        if (!st)
            return err->code;
        sl_stmt_int(st, 1, model_id);
        sl_stmt_int(st, 2, user_id);
        sl_stmt_int(st, 3, minute);
        return sl_stmt_run(st, err);
    }
    return SL_OK;
}

enum sl_err sl_repo_usage_tokens(struct sl_db *db, int64_t model_id, int64_t user_id, int64_t day,
                                 int64_t *tokens, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) "
                                    "FROM hosted_usage WHERE model_id = ? AND user_id = ? AND "
                                    "day = ?",
                                    err);
    int row;

    *tokens = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, day);
    row = sl_stmt_step(st, err);
    if (row == 1)
        *tokens = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_usage_add(struct sl_db *db, int64_t model_id, int64_t version_id,
                              int64_t user_id, int64_t day, int64_t prompt_tokens,
                              int64_t completion_tokens, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "INSERT INTO hosted_usage (model_id, version_id, user_id, day, calls, prompt_tokens, "
        "completion_tokens) VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (version_id, user_id, day) "
        "DO UPDATE SET calls = hosted_usage.calls + 1, prompt_tokens = "
        "hosted_usage.prompt_tokens + excluded.prompt_tokens, completion_tokens = "
        "hosted_usage.completion_tokens + excluded.completion_tokens",
        err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, version_id);
    sl_stmt_int(st, 3, user_id);
    sl_stmt_int(st, 4, day);
    sl_stmt_int(st, 5, prompt_tokens);
    sl_stmt_int(st, 6, completion_tokens);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_usage_list(struct sl_db *db, int64_t model_id, int64_t since_day,
                               struct sl_hosted_usage **out, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT u.day, v.seq, COALESCE(a.name, ''), u.calls, u.prompt_tokens, "
                   "u.completion_tokens FROM hosted_usage u JOIN versions v ON v.id = "
                   "u.version_id LEFT JOIN users a ON a.id = u.user_id WHERE u.model_id = ? AND "
                   "u.day >= ? ORDER BY u.day, v.seq, 3",
                   err);
    struct sl_hosted_usage *v = NULL;
    size_t len = 0, cap = 0;
    int row;

    *out = NULL;
    *n = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, since_day);
    while ((row = sl_stmt_step(st, err)) == 1) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        memset(&v[len], 0, sizeof(v[len]));
        v[len].day = sl_stmt_col_int(st, 0);
        v[len].version_seq = sl_stmt_col_int(st, 1);
        sl__repo_copy(st, 2, v[len].user, sizeof(v[len].user));
        v[len].calls = sl_stmt_col_int(st, 3);
        v[len].prompt_tokens = sl_stmt_col_int(st, 4);
        v[len].completion_tokens = sl_stmt_col_int(st, 5);
        len++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        free(v);
        return err->code;
    }
    *out = v;
    *n = len;
    return SL_OK;
}

enum sl_err sl_repo_user_id(struct sl_db *db, const char *name, int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id FROM users WHERE name = ?", err);
    int row;

    *id = 0;
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, name);
    row = sl_stmt_step(st, err);
    if (row == 1)
        *id = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (row == 0)
        return sl_error_set(err, SL_ENOTFOUND, "no user \"%s\"", name);
    return SL_OK;
}

enum sl_err sl_repo_refusal_add(struct sl_db *db, int64_t model_id, int64_t day, const char *reason,
                                const char *rule, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO hosted_refusals (model_id, day, reason, rule, n) "
                                    "VALUES (?, ?, ?, ?, 1) ON CONFLICT (model_id, day, reason, "
                                    "rule) DO UPDATE SET n = hosted_refusals.n + 1",
                                    err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, day);
    sl_stmt_text(st, 3, reason);
    sl_stmt_text(st, 4, rule);
    return sl_stmt_run(st, err);
}

/* Fills the counts of one (model, day) of `d`. */
static enum sl_err day_counts(struct sl_db *db, struct sl_hosted_day *d, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT coalesce(sum(calls), 0), coalesce(sum(prompt_tokens), "
                                    "0), coalesce(sum(completion_tokens), 0), count(DISTINCT "
                                    "user_id) FROM hosted_usage WHERE model_id = ? AND day = ?",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, d->model_id);
    sl_stmt_int(st, 2, d->day);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        d->calls = sl_stmt_col_int(st, 0);
        d->prompt_tokens = sl_stmt_col_int(st, 1);
        d->completion_tokens = sl_stmt_col_int(st, 2);
        d->users = sl_stmt_col_int(st, 3);
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    st = sl_db_stmt(db,
                    "SELECT reason, sum(n) FROM hosted_refusals WHERE model_id = ? AND day = ? "
                    "GROUP BY reason ORDER BY reason",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, d->model_id);
    sl_stmt_int(st, 2, d->day);
    while ((row = sl_stmt_step(st, err)) == 1 && d->nreasons < SL_HOSTED_REASONS_MAX) {
        sl__repo_copy(st, 0, d->refusals[d->nreasons].reason, sizeof(d->refusals[0].reason));
        d->refusals[d->nreasons++].n = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_usage_days_unlogged(struct sl_db *db, int64_t before_day, size_t max,
                                        struct sl_hosted_day **out, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT k.model_id, k.day, o.name, m.name FROM (SELECT model_id, day FROM hosted_usage "
        "WHERE day < ? UNION SELECT model_id, day FROM hosted_refusals WHERE day < ?) k JOIN "
        "models m ON m.id = k.model_id JOIN orgs o ON o.id = m.org_id WHERE NOT EXISTS (SELECT 1 "
        "FROM hosted_usage_logged l WHERE l.model_id = k.model_id AND l.day = k.day) ORDER BY "
        "k.day, k.model_id",
        err);
    struct sl_hosted_day *v = NULL;
    size_t k = 0;
    int row = 0;

    *out = NULL;
    *n = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, before_day);
    sl_stmt_int(st, 2, before_day);
    while (k < max && (row = sl_stmt_step(st, err)) == 1) {
        v = sl_xrealloc(v, (k + 1) * sizeof(*v));
        memset(&v[k], 0, sizeof(v[k]));
        v[k].model_id = sl_stmt_col_int(st, 0);
        v[k].day = sl_stmt_col_int(st, 1);
        sl__repo_copy(st, 2, v[k].org, sizeof(v[k].org));
        sl__repo_copy(st, 3, v[k].name, sizeof(v[k].name));
        k++;
    }
    sl_stmt_done(st);
    if (k < max && row < 0) {
        free(v);
        return err->code;
    }
    for (size_t i = 0; i < k; i++) {
        if (day_counts(db, &v[i], err) != SL_OK) {
            free(v);
            return err->code;
        }
    }
    *out = v;
    *n = k;
    return SL_OK;
}

enum sl_err sl_repo_usage_day_logged(struct sl_db *db, int64_t model_id, int64_t day,
                                     struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "INSERT INTO hosted_usage_logged (model_id, day) VALUES (?, ?)", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, day);
    return sl_stmt_run(st, err);
}

/* ---- filters ---- */

enum sl_err sl_repo_filter_put(struct sl_db *db, int64_t model_id, const char *policy, int64_t now,
                               struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO hosted_filters (model_id, policy, updated) VALUES "
                                    "(?, ?, ?) ON CONFLICT (model_id) DO UPDATE SET policy = "
                                    "excluded.policy, updated = excluded.updated",
                                    err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_text(st, 2, policy);
    sl_stmt_int(st, 3, now);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_filter_get(struct sl_db *db, int64_t model_id, char **policy, int64_t *updated,
                               struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT policy, updated FROM hosted_filters WHERE model_id = ?", err);
    int row;

    *policy = NULL;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        const char *s = sl_stmt_col_text(st, 0);
        *policy = sl_xstrdup(s ? s : "{}");
        if (updated)
            *updated = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_filter_clear(struct sl_db *db, int64_t model_id, bool *had,
                                 struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "DELETE FROM hosted_filters WHERE model_id = ?", err);
    enum sl_err rc;

    *had = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    rc = sl_stmt_run(st, err);
    if (!rc)
        *had = sl_db_changes(db) > 0;
    return rc;
}

enum sl_err sl_repo_refusal_list(struct sl_db *db, int64_t model_id, int64_t since_day,
                                 struct sl_hosted_refusal **out, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT day, reason, rule, n FROM hosted_refusals WHERE "
                                    "model_id = ? AND day >= ? ORDER BY day, reason, rule",
                                    err);
    struct sl_hosted_refusal *v = NULL;
    size_t len = 0, cap = 0;
    int row;

    *out = NULL;
    *n = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, since_day);
    while ((row = sl_stmt_step(st, err)) == 1) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        memset(&v[len], 0, sizeof(v[len]));
        v[len].day = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, v[len].reason, sizeof(v[len].reason));
        sl__repo_copy(st, 2, v[len].rule, sizeof(v[len].rule));
        v[len].n = sl_stmt_col_int(st, 3);
        len++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        free(v);
        return err->code;
    }
    *out = v;
    *n = len;
    return SL_OK;
}
