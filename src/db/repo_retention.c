/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's prompt retention and the quota rows as a publisher
 * reads them (repo_hosted.h; docs/hosted.md, "Retention" and "Quotas"):
 * tables hosted_retention and hosted_retained (migration 12), portable
 * between SQLite and PostgreSQL through sl_db_stmt.
 */
#include "db/repo_hosted.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "db/db.h"
#include "db/repo_int.h"
#include "common/banned.h"

enum sl_err sl_repo_retention_set(struct sl_db *db, int64_t model_id, int64_t days, int64_t now,
                                  bool *had, struct sl_error *err)
{
    struct sl_stmt *st;
    int64_t old = 0;
    enum sl_err rc;

    if (days < 0 || days > SL_HOSTED_RETAIN_DAYS_MAX)
        return sl_error_set(err, SL_EINPUT, "days must be 1 to %d", SL_HOSTED_RETAIN_DAYS_MAX);
    rc = sl_repo_retention_get(db, model_id, &old, NULL, err);
    if (rc)
        return rc;
    if (had)
        *had = old > 0;
    if (days == 0) {
        st = sl_db_stmt(db, "DELETE FROM hosted_retention WHERE model_id = ?", err);
        if (!st)
            return err->code;
        sl_stmt_int(st, 1, model_id);
        return sl_stmt_run(st, err);
    }
    st = sl_db_stmt(db,
                    "INSERT INTO hosted_retention (model_id, days, updated) VALUES (?, ?, ?) ON "
                    "CONFLICT (model_id) DO UPDATE SET days = excluded.days, updated = "
                    "excluded.updated",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, days);
    sl_stmt_int(st, 3, now);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_retention_get(struct sl_db *db, int64_t model_id, int64_t *days,
                                  int64_t *updated, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT days, updated FROM hosted_retention WHERE model_id = ?", err);
    int row;

    *days = 0;
    if (updated)
        *updated = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *days = sl_stmt_col_int(st, 0);
        if (updated)
            *updated = sl_stmt_col_int(st, 1);
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_retained_add(struct sl_db *db, const struct sl_hosted_retained *row,
                                 struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "INSERT INTO hosted_retained (model_id, version_id, user_id, created, expires, endpoint, "
        "prompt, prompt_truncated, completion, completion_truncated) VALUES (?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?)",
        err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, row->model_id);
    sl_stmt_int(st, 2, row->version_id);
    sl_stmt_int(st, 3, row->user_id);
    sl_stmt_int(st, 4, row->created);
    sl_stmt_int(st, 5, row->expires);
    sl_stmt_text(st, 6, row->endpoint);
    sl_stmt_text(st, 7, row->prompt ? row->prompt : "");
    sl_stmt_int(st, 8, row->prompt_truncated ? 1 : 0);
    sl_stmt_text(st, 9, row->completion ? row->completion : "");
    sl_stmt_int(st, 10, row->completion_truncated ? 1 : 0);
    return sl_stmt_run(st, err);
}

void sl_repo_retained_free(struct sl_hosted_retained *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        free(rows[i].prompt);
        free(rows[i].completion);
    }
    free(rows);
}

enum sl_err sl_repo_retained_list(struct sl_db *db, int64_t model_id, int64_t since, int64_t after,
                                  size_t max, size_t max_bytes, struct sl_hosted_retained **out,
                                  size_t *n, bool *more, struct sl_error *err)
{
    struct sl_hosted_retained *v = NULL;
    size_t len = 0, cap = 0, bytes = 0;
    int64_t after_created = 0;
    struct sl_stmt *st;
    int row;

    *out = NULL;
    *n = 0;
    *more = false;
    if (after > 0) {
        /* the listing goes on after that item, in the same order; looked up
         * before the listing's statement is prepared (one cache, one at a
         * time) */
        struct sl_stmt *a = sl_db_stmt(
            db, "SELECT created FROM hosted_retained WHERE id = ? AND model_id = ?", err);
        if (!a)
            return err->code;
        sl_stmt_int(a, 1, after);
        sl_stmt_int(a, 2, model_id);
        row = sl_stmt_step(a, err);
        if (row == 1)
            after_created = sl_stmt_col_int(a, 0);
        sl_stmt_done(a);
        if (row < 0)
            return err->code;
        if (row != 1)
            return sl_error_set(err, SL_ENOTFOUND,
                                "item %lld is not kept (any more): list again from a date with "
                                "since",
                                (long long)after);
    }
    st = sl_db_stmt(
        db,
        "SELECT r.id, r.version_id, v.seq, r.user_id, COALESCE(a.name, ''), r.created, "
        "r.expires, r.endpoint, r.prompt, r.prompt_truncated, r.completion, "
        "r.completion_truncated FROM hosted_retained r JOIN versions v ON v.id = r.version_id "
        "LEFT JOIN users a ON a.id = r.user_id WHERE r.model_id = ?1 AND r.created >= ?2 AND "
        "(CAST(?3 AS BIGINT) = 0 OR r.created > ?4 OR (r.created = ?4 AND r.id > ?3)) "
        "ORDER BY r.created, r.id LIMIT ?5",
        err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, since);
    sl_stmt_int(st, 3, after);
    sl_stmt_int(st, 4, after_created);
    sl_stmt_int(st, 5, (int64_t)max + 1); /* one more, to know there is more */
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *p = sl_stmt_col_text(st, 8), *c = sl_stmt_col_text(st, 10);
        size_t size = (p ? strlen(p) : 0) + (c ? strlen(c) : 0);
        if (len == max || (len > 0 && bytes + size > max_bytes)) {
            *more = true;
            break;
        }
        bytes += size;
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        memset(&v[len], 0, sizeof(v[len]));
        v[len].id = sl_stmt_col_int(st, 0);
        v[len].model_id = model_id;
        v[len].version_id = sl_stmt_col_int(st, 1);
        v[len].version_seq = sl_stmt_col_int(st, 2);
        v[len].user_id = sl_stmt_col_int(st, 3);
        sl__repo_copy(st, 4, v[len].user, sizeof(v[len].user));
        v[len].created = sl_stmt_col_int(st, 5);
        v[len].expires = sl_stmt_col_int(st, 6);
        sl__repo_copy(st, 7, v[len].endpoint, sizeof(v[len].endpoint));
        v[len].prompt = sl_xstrdup(p ? p : "");
        v[len].prompt_truncated = sl_stmt_col_int(st, 9) != 0;
        v[len].completion = sl_xstrdup(c ? c : "");
        v[len].completion_truncated = sl_stmt_col_int(st, 11) != 0;
        len++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        sl_repo_retained_free(v, len);
        return err->code;
    }
    *out = v;
    *n = len;
    return SL_OK;
}

enum sl_err sl_repo_retained_expire(struct sl_db *db, int64_t now, int64_t *deleted,
                                    struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT COUNT(*) FROM hosted_retained WHERE expires <= ?", err);
    int64_t due = 0;
    int row, changes = 0;
    enum sl_err rc;

    *deleted = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, now);
    row = sl_stmt_step(st, err);
    if (row == 1)
        due = sl_stmt_col_int(st, 0);
    rc = sl__repo_done(st, row, err);
    if (rc || due == 0)
        return rc;
    st = sl_db_stmt(db, "DELETE FROM hosted_retained WHERE expires <= ?", err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, now);
    rc = sl__repo_run_changes(db, st, &changes, err);
    *deleted = changes;
    return rc;
}

enum sl_err sl_repo_quota_list(struct sl_db *db, int64_t model_id, struct sl_hosted_quota_row **out,
                               size_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT q.user_id, COALESCE(a.name, ''), q.rpm, q.tokens_per_day, q.concurrency FROM "
        "hosted_quotas q LEFT JOIN users a ON a.id = q.user_id WHERE q.model_id = ? ORDER BY "
        "CASE WHEN q.user_id = 0 THEN 0 ELSE 1 END, 2",
        err);
    struct sl_hosted_quota_row *v = NULL;
    size_t len = 0, cap = 0;
    int row;

    *out = NULL;
    *n = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        memset(&v[len], 0, sizeof(v[len]));
        v[len].user_id = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, v[len].user, sizeof(v[len].user));
        v[len].rpm = sl_stmt_col_null(st, 2) ? -1 : sl_stmt_col_int(st, 2);
        v[len].tokens_per_day = sl_stmt_col_null(st, 3) ? -1 : sl_stmt_col_int(st, 3);
        v[len].concurrency = sl_stmt_col_null(st, 4) ? -1 : sl_stmt_col_int(st, 4);
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
