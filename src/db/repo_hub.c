/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations for download counts, the model listing and the
 * hub-wide state read at start (repo_hub.h): the SQL that src/registry/hub.c
 * and registry.c used to hold, unchanged. The listing's statements are
 * built once per dialect, sort key and direction from a fixed table, so
 * nothing from a query reaches the SQL text.
 */
#include "db/repo_hub.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "db/db.h"
#include "db/repo_int.h"
#include "common/banned.h"

/* ---- download counts ---- */

enum sl_err sl_repo_downloads_add(struct sl_db *db, int64_t version_id, int64_t day, int64_t n,
                                  struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO downloads (version_id, day, n) VALUES (?, "
                                    "?, ?) ON CONFLICT (version_id, day) DO UPDATE SET n = "
                                    "downloads.n + excluded.n",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, version_id);
    sl_stmt_int(st, 2, day);
    sl_stmt_int(st, 3, n);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_downloads_sum(struct sl_db *db, int64_t model_id, int64_t version_id,
                                  int64_t since_day, int64_t *recent, int64_t *all,
                                  struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT coalesce(sum(CASE WHEN d.day > ? THEN d.n ELSE 0 "
                                    "END), 0), coalesce(sum(d.n), 0) FROM downloads d JOIN "
                                    "versions v ON v.id = d.version_id WHERE v.model_id = ? AND "
                                    "(? = 0 OR v.id = ?)",
                                    err);
    int row;

    *recent = *all = 0;
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, since_day);
    sl_stmt_int(st, 2, model_id);
    sl_stmt_int(st, 3, version_id);
    sl_stmt_int(st, 4, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *recent = sl_stmt_col_int(st, 0);
        *all = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

/* ---- the model listing ---- */

/* Sort keys of GET /api/models and the SQL each orders by (a fixed list:
 * nothing from the query reaches the SQL text). */
static const struct {
    const char *key, *sql;
} sorts[] = {
    {"id", "mid"},
    {"author", "o.name"},
    {"createdAt", "m.created"},
    {"created_at", "m.created"},
    {"lastModified", "v.created"},
    {"last_modified", "v.created"},
    {"downloads", "dl30"},
    {"downloadsAllTime", "dlall"},
    {"likes", "m.id * 0"}, /* no likes here: all equal, by id */
    {"likes30d", "m.id * 0"},
    {"trendingScore", "dl30"},
    {"trending_score", "dl30"},
    {"mainSize", "v.bytes_total"},
    {"num_parameters", NULL}, /* per dialect: num_params_sql[] */
};

/* The one sort key whose SQL differs between the dialects (JSON access). */
static const char *const num_params_sql[2] = {
    "coalesce(json_extract(v.inspect, '$.params_total'), 0)",
    "coalesce(CAST(CAST(v.inspect AS jsonb) ->> 'params_total' AS BIGINT), 0)",
};

bool sl_repo_model_sort_ok(const char *key)
{
    for (size_t i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++)
        if (strcmp(sorts[i].key, key) == 0)
            return true;
    return false;
}

/* The listing's statements, one per sort key and direction: built once,
 * at fixed addresses (the statement cache knows SQL by its address). */
#define NSORTS (sizeof(sorts) / sizeof(sorts[0]))
static char list_sql[2][NSORTS][2][1536]; /* [dialect][sort][ascending] */
static pthread_once_t list_sql_once = PTHREAD_ONCE_INIT;

static void build_list_sql(void)
{
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < NSORTS; i++)
            for (int asc = 0; asc < 2; asc++)
                snprintf(
                    list_sql[d][i][asc], sizeof(list_sql[d][i][asc]),
                    "SELECT o.name || '/' || m.name AS mid, o.name, v.tier, v.commit_hash, "
                    "v.created, m.created, v.bytes_total, (SELECT coalesce(sum(d.n), 0) FROM "
                    "downloads d JOIN versions w ON w.id = d.version_id WHERE w.model_id = m.id "
                    "AND "
                    "d.day > ?1) AS dl30, (SELECT coalesce(sum(d.n), 0) FROM downloads d JOIN "
                    "versions w ON w.id = d.version_id WHERE w.model_id = m.id) AS dlall, v.seq "
                    "FROM "
                    "models m JOIN orgs o ON o.id = m.org_id JOIN refs f ON f.model_id = m.id AND "
                    "f.name = 'main' JOIN versions v ON v.id = f.version_id WHERE (CAST(?2 AS "
                    "TEXT) "
                    "IS NULL OR lower(o.name || '/' || m.name) LIKE CAST(?2 AS TEXT) ESCAPE '\\') "
                    "AND (CAST(?3 AS TEXT) IS NULL OR lower(o.name) = lower(CAST(?3 AS TEXT))) "
                    "ORDER BY %s %s, mid ASC LIMIT ?4 OFFSET ?5",
                    sorts[i].sql ? sorts[i].sql : num_params_sql[d], asc ? "ASC" : "DESC");
}

enum sl_err sl_repo_model_list(struct sl_db *db, const struct sl_repo_model_query *q,
                               int (*fn)(void *ctx, const struct sl_repo_model_item *item),
                               void *ctx, struct sl_error *err)
{
    struct sl_repo_model_item it;
    struct sl_stmt *st;
    size_t which = 0; /* "id" */
    bool asc = true;  /* without a sort key: by id, ascending */
    int row;

    pthread_once(&list_sql_once, build_list_sql);
    if (q->sort) {
        for (size_t i = 0; i < NSORTS; i++)
            if (strcmp(sorts[i].key, q->sort) == 0)
                which = i;
        asc = q->ascending;
    }
    st = sl_db_stmt(db, list_sql[sl_db_kind(db) == SL_DB_POSTGRESQL][which][asc], err);
    if (!st)
        return sl__repo_code(err);
    sl_stmt_int(st, 1, q->since_day);
    if (q->search) {
        /* a substring, case-insensitive: LIKE '%s%' with the search's own %,
         * _ and \ taken literally (portable: no instr or strpos) */
        struct sl_buf pat = SL_BUF_INIT(1024);
        sl_buf_addc(&pat, '%');
        for (const char *c = q->search; *c; c++) {
            char ch = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
            if (ch == '%' || ch == '_' || ch == '\\')
                sl_buf_addc(&pat, '\\');
            sl_buf_addc(&pat, ch);
        }
        sl_buf_addc(&pat, '%');
        sl_buf_cstr(&pat);
        sl_stmt_text(st, 2, pat.data);
        sl_buf_release(&pat);
    } else {
        sl_stmt_null(st, 2);
    }
    if (q->author)
        sl_stmt_text(st, 3, q->author);
    else
        sl_stmt_null(st, 3);
    sl_stmt_int(st, 4, q->limit);
    sl_stmt_int(st, 5, q->offset);
    while ((row = sl_stmt_step(st, err)) == 1) {
        memset(&it, 0, sizeof(it));
        sl__repo_copy(st, 0, it.id, sizeof(it.id));
        sl__repo_copy(st, 1, it.org, sizeof(it.org));
        sl__repo_copy(st, 2, it.tier, sizeof(it.tier));
        sl__repo_copy(st, 3, it.commit, sizeof(it.commit));
        it.version_created = sl_stmt_col_int(st, 4);
        it.model_created = sl_stmt_col_int(st, 5);
        it.bytes_total = sl_stmt_col_int(st, 6);
        it.dl_recent = sl_stmt_col_int(st, 7);
        it.dl_all = sl_stmt_col_int(st, 8);
        it.seq = sl_stmt_col_int(st, 9);
        if (fn(ctx, &it) != 0) {
            row = 0;
            break;
        }
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

/* ---- hub-wide state ---- */

enum sl_err sl_repo_log_origin_get(struct sl_db *db, struct sl_arena *arena, char **origin,
                                   struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT value FROM log_state WHERE key = 'origin'", err);
    int row;

    *origin = NULL;
    if (!st)
        return sl__repo_code(err);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        const char *s = sl_stmt_col_text(st, 0);
        *origin = sl_arena_strdup(arena, s ? s : "");
    }
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

enum sl_err sl_repo_log_origin_put(struct sl_db *db, const char *origin, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO log_state (key, value) VALUES ('origin', ?) ON "
                                    "CONFLICT (key) DO NOTHING",
                                    err);

    if (!st)
        return sl__repo_code(err);
    sl_stmt_text(st, 1, origin);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_log_entry_count(struct sl_db *db, int64_t *n, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT count(*) FROM log_entries", err);
    bool found;

    *n = 0;
    if (!st)
        return sl__repo_code(err);
    return sl__repo_int(st, n, &found, err);
}

enum sl_err sl_repo_listener_ping(struct sl_db *db, struct sl_error *err)
{
    return sl_db_exec(db, "SELECT 1 AS sluice_listener", err);
}
