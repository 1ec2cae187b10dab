/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQL of the transparency log (repo_log.h): log_entries, log_hashes,
 * log_checkpoints, log_state, and the rows of a model's transparency report.
 * Portable between SQLite and PostgreSQL; callers hold the transactions.
 */
#include "db/repo_log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "db/repo_int.h"
#include "common/banned.h"

enum sl_err sl_repo_log_size(struct sl_db *db, uint64_t *size, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT coalesce(max(idx) + 1, 0) FROM log_entries", err);
    int row;

    *size = 0;
    if (!st)
        return err->code;
    row = sl_stmt_step(st, err);
    if (row == 1)
        *size = (uint64_t)sl_stmt_col_int(st, 0);
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_log_hash_get(struct sl_db *db, int level, uint64_t index, unsigned char out[32],
                                 bool *found, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT hash FROM log_hashes WHERE level = ? AND idx = ?", err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, level);
    sl_stmt_int(st, 2, (int64_t)index);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        size_t n = 0;
        const void *h = sl_stmt_col_blob(st, 0, &n);
        if (n == 32) {
            memcpy(out, h, 32);
            *found = true;
        }
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_log_entry_insert(struct sl_db *db, uint64_t idx, const char *text, size_t len,
                                     int64_t created, const char *model, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "INSERT INTO log_entries (idx, entry, created, model) VALUES (?, ?, ?, ?)", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, (int64_t)idx);
    sl_stmt_textn(st, 2, text, len);
    sl_stmt_int(st, 3, created);
    sl_stmt_text(st, 4, model);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_log_hash_insert(struct sl_db *db, int level, uint64_t index,
                                    const unsigned char hash[32], struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "INSERT INTO log_hashes (level, idx, hash) VALUES (?, ?, ?)", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, level);
    sl_stmt_int(st, 2, (int64_t)index);
    sl_stmt_blob(st, 3, hash, 32);
    return sl_stmt_run(st, err);
}

/* Each column after the size is the left sibling at one level, read only
 * when the size's low bits make that node a right child (CASE evaluates
 * the subquery lazily on both back ends). */
#define EDGE_COL(l, mask)                                                                          \
    ", CASE WHEN (s.n & " #mask ") = " #mask                                                       \
    " THEN (SELECT hash FROM log_hashes WHERE level = " #l " AND idx = (s.n >> " #l ") - 1) END"

enum sl_err sl_repo_log_tail(struct sl_db *db, uint64_t *size,
                             unsigned char edge[SL_REPO_LOG_EDGE][32], bool have[SL_REPO_LOG_EDGE],
                             struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT s.n" EDGE_COL(0, 1) EDGE_COL(1, 3) EDGE_COL(2, 7) EDGE_COL(3, 15)
                       EDGE_COL(4, 31) EDGE_COL(5, 63) EDGE_COL(6, 127)
                           EDGE_COL(7, 255) " FROM (SELECT coalesce(max(idx) + 1, 0) AS n "
                                            "FROM log_entries) s",
                   err);
    int row;

    *size = 0;
    memset(have, 0, SL_REPO_LOG_EDGE * sizeof(*have));
    if (!st)
        return err->code;
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *size = (uint64_t)sl_stmt_col_int(st, 0);
        for (int l = 0; l < SL_REPO_LOG_EDGE; l++) {
            size_t n = 0;
            const void *h = sl_stmt_col_null(st, l + 1) ? NULL : sl_stmt_col_blob(st, l + 1, &n);
            if (h && n == 32) {
                memcpy(edge[l], h, 32);
                have[l] = true;
            }
        }
    }
    return sl__repo_done(st, row, err);
}

/* The statement inserting an entry and `count` hash rows on PostgreSQL: a
 * data-modifying WITH, so the entry and its hashes travel in one round
 * trip. Built once per count; the address is the statement cache's key. */
static char *append_sql[SL_REPO_LOG_MAX_HASHES + 1];
static pthread_once_t append_once = PTHREAD_ONCE_INIT;

static void append_sql_build(void)
{
    for (int c = 1; c <= SL_REPO_LOG_MAX_HASHES; c++) {
        struct sl_buf b = SL_BUF_INIT(4096);
        (void)sl_buf_adds(&b,
                          "WITH e AS (INSERT INTO log_entries (idx, entry, created, model) VALUES "
                          "(?, ?, ?, ?)) INSERT INTO log_hashes (level, idx, hash) VALUES ");
        for (int l = 0; l < c; l++)
            (void)sl_buf_adds(&b, l ? ", (?, ?, ?)" : "(?, ?, ?)");
        append_sql[c] = sl_buf_detach(&b, NULL);
    }
}

enum sl_err sl_repo_log_append(struct sl_db *db, uint64_t idx, const char *text, size_t len,
                               int64_t created, const char *model,
                               const unsigned char (*hashes)[32], int count, struct sl_error *err)
{
    struct sl_stmt *st;
    enum sl_err rc;

    if (count < 1 || count > SL_REPO_LOG_MAX_HASHES)
        return sl_error_set(err, SL_EINTERNAL, "a log append completes %d subtrees", count);
    if (sl_db_kind(db) != SL_DB_POSTGRESQL) {
        /* SQLite runs in this process: a statement costs no round trip */
        rc = sl_repo_log_entry_insert(db, idx, text, len, created, model, err);
        for (int l = 0; l < count && !rc; l++)
            rc = sl_repo_log_hash_insert(db, l, idx >> l, hashes[l], err);
        return rc;
    }
    pthread_once(&append_once, append_sql_build);
    st = sl_db_stmt(db, append_sql[count], err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, (int64_t)idx);
    sl_stmt_textn(st, 2, text, len);
    sl_stmt_int(st, 3, created);
    sl_stmt_text(st, 4, model);
    for (int l = 0; l < count; l++) {
        sl_stmt_int(st, 5 + 3 * l, l);
        sl_stmt_int(st, 6 + 3 * l, (int64_t)(idx >> l));
        sl_stmt_blob(st, 7 + 3 * l, hashes[l], 32);
    }
    return sl_stmt_run(st, err);
}

/* Runs a bound statement of (idx, entry) rows through `fn`. */
static enum sl_err entry_rows(struct sl_stmt *st, sl_log_entry_fn fn, void *ctx,
                              struct sl_error *err)
{
    int row;

    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_log_entry_row e;
        const char *text = sl_stmt_col_text(st, 1);
        e.idx = sl_stmt_col_int(st, 0);
        e.text = text ? text : ""; /* canonical JSON holds no NUL */
        e.len = strlen(e.text);
        if (fn(ctx, &e) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_log_entries_range(struct sl_db *db, uint64_t start, uint64_t end,
                                      sl_log_entry_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT idx, entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, (int64_t)start);
    sl_stmt_int(st, 2, (int64_t)end);
    return entry_rows(st, fn, ctx, err);
}

enum sl_err sl_repo_log_entries_of_model(struct sl_db *db, const char *model, uint64_t before,
                                         sl_log_entry_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT idx, entry FROM log_entries WHERE model = ? AND idx < ? ORDER BY idx", err);

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, model);
    sl_stmt_int(st, 2, (int64_t)before);
    return entry_rows(st, fn, ctx, err);
}

enum sl_err sl_repo_log_checkpoint_latest(struct sl_db *db, struct sl_arena *a,
                                          struct sl_log_checkpoint_row *row, bool *found,
                                          struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT size, root, note FROM log_checkpoints ORDER BY size DESC LIMIT 1", err);
    int r;

    memset(row, 0, sizeof(*row));
    row->size = -1;
    *found = false;
    if (!st)
        return err->code;
    r = sl_stmt_step(st, err);
    if (r == 1) {
        size_t n = 0;
        const void *h = sl_stmt_col_blob(st, 1, &n);
        const char *note = sl_stmt_col_text(st, 2);
        row->size = sl_stmt_col_int(st, 0);
        if (n == 32)
            memcpy(row->root, h, 32);
        row->note = sl_arena_strdup(a, note ? note : "");
        *found = true;
    }
    return sl__repo_done(st, r, err);
}

enum sl_err sl_repo_log_checkpoint_insert(struct sl_db *db, uint64_t size,
                                          const unsigned char root[32], const char *note,
                                          int64_t created, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO log_checkpoints (size, root, note, created) "
                                    "VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
                                    err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, (int64_t)size);
    sl_stmt_blob(st, 2, root, 32);
    sl_stmt_text(st, 3, note);
    sl_stmt_int(st, 4, created);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_log_policy_get(struct sl_db *db, struct sl_arena *a, char **value, bool *found,
                                   struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT value FROM log_state WHERE key = 'policy'", err);
    int row;

    *value = NULL;
    *found = false;
    if (!st)
        return err->code;
    row = sl_stmt_step(st, err);
    if (row == 1 && sl_stmt_col_text(st, 0)) {
        *value = sl_arena_strdup(a, sl_stmt_col_text(st, 0));
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_log_policy_set(struct sl_db *db, const char *value, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO log_state (key, value) VALUES ('policy', ?) ON "
                                    "CONFLICT (key) DO UPDATE SET value = excluded.value",
                                    err);

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, value);
    return sl_stmt_run(st, err);
}

/* One nullable integer of one row, -1 when absent or NULL. */
static enum sl_err one_idx(struct sl_stmt *st, int64_t *idx, struct sl_error *err)
{
    int row = sl_stmt_step(st, err);

    *idx = -1;
    if (row == 1 && !sl_stmt_col_null(st, 0))
        *idx = sl_stmt_col_int(st, 0);
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_log_version_idx(struct sl_db *db, int64_t version_id, int64_t *idx,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT log_idx FROM versions WHERE id = ?", err);

    *idx = -1;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    return one_idx(st, idx, err);
}

enum sl_err sl_repo_log_license_idx(struct sl_db *db, const char *license_id, int64_t *idx,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT log_idx FROM licenses WHERE id = ?", err);

    *idx = -1;
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, license_id);
    return one_idx(st, idx, err);
}

enum sl_err sl_repo_model_grant_counts(struct sl_db *db, int64_t model_id, int64_t now,
                                       sl_grant_count_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT status, (status = 'approved' AND expires IS NOT NULL "
                                    "AND expires <= ?), count(*) FROM access_requests WHERE "
                                    "model_id = ? GROUP BY 1, 2",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, now);
    sl_stmt_int(st, 2, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_grant_count_row g;
        sl__repo_text(g.status, sizeof(g.status), sl_stmt_col_text(st, 0));
        g.expired = sl_stmt_col_int(st, 1) != 0;
        g.count = sl_stmt_col_int(st, 2);
        if (fn(ctx, &g) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_version_history(struct sl_db *db, int64_t model_id, sl_version_history_fn fn,
                                    void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT seq, commit_hash, tier, min_tier, coalesce(floor_tier, "
                                    "min_tier), created FROM versions WHERE model_id = ? ORDER BY "
                                    "seq",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_version_history_row v;
        v.seq = sl_stmt_col_int(st, 0);
        sl__repo_text(v.commit, sizeof(v.commit), sl_stmt_col_text(st, 1));
        sl__repo_text(v.tier, sizeof(v.tier), sl_stmt_col_text(st, 2));
        sl__repo_text(v.min_tier, sizeof(v.min_tier), sl_stmt_col_text(st, 3));
        sl__repo_text(v.floor_tier, sizeof(v.floor_tier), sl_stmt_col_text(st, 4));
        v.created = sl_stmt_col_int(st, 5);
        if (fn(ctx, &v) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_attestations_of_model(struct sl_db *db, int64_t model_id,
                                          sl_model_attestation_fn fn, void *ctx,
                                          struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT v.seq, k.name, a.domain, a.level, a.date FROM "
                                    "attestations a JOIN versions v ON v.id = a.version_id JOIN "
                                    "eval_keys k ON k.id = a.key_id WHERE v.model_id = ? ORDER BY "
                                    "a.id",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_model_attestation_row a;
        a.seq = sl_stmt_col_int(st, 0);
        a.evaluator = sl_stmt_col_text(st, 1);
        a.domain = sl_stmt_col_text(st, 2);
        a.level = sl_stmt_col_text(st, 3);
        a.date = sl_stmt_col_int(st, 4);
        if (fn(ctx, &a) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}
