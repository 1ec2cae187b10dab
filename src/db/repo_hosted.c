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
#include "common/banned.h"

static void copy_col(struct sl_stmt *st, int col, char *out, size_t cap)
{
    const char *s = sl_stmt_col_text(st, col);

    snprintf(out, cap, "%s", s ? s : "");
}

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
    copy_col(st, 3, b->url, sizeof(b->url));
    copy_col(st, 4, b->backend_model, sizeof(b->backend_model));
    copy_col(st, 5, b->key_env, sizeof(b->key_env));
    b->created = sl_stmt_col_int(st, 6);
    if (names) {
        copy_col(st, 7, b->org, sizeof(b->org));
        copy_col(st, 8, b->name, sizeof(b->name));
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
        copy_col(st, 0, out->tier, sizeof(out->tier));
        out->grant_live = sl_stmt_col_int(st, 1) > 0;
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (row == 0)
        return sl_error_set(err, SL_ENOTFOUND, "version %lld is gone", (long long)version_id);
    return SL_OK;
}
