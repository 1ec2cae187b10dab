/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the Hugging Face clients ask the Hub besides files: download counts
 * (kept per version and UTC day, reported for the last 30 days and all
 * time, as the Hub does), the model listing of GET /api/models and the
 * account document of GET /api/whoami-v2. The HTTP layer validates the
 * query and renders pagination; this file answers from the database.
 */
#include "registry/registry_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/util.h"
#include "common/banned.h"

#define DAY 86400

bool sl_reg_is_query_file(const char *path)
{
    size_t n = strlen(path);

    /* the Hub counts its "query files": config.json at the top, and every
     * GGUF file (a GGUF repository has no config.json) */
    return strcmp(path, "config.json") == 0 || (n > 5 && strcmp(path + n - 5, ".gguf") == 0);
}

/* Adds `n` downloads of `version_id` on `day` to the tally in memory. */
static void tally(struct sl_registry *r, int64_t version_id, int64_t day, int64_t n)
{
    size_t i;

    pthread_mutex_lock(&r->dl_lock);
    for (i = 0; i < r->ndl; i++)
        if (r->dl[i].version_id == version_id && r->dl[i].day == day)
            break;
    if (i == r->ndl) {
        if (r->ndl == r->dl_cap) {
            r->dl_cap = r->dl_cap ? 2 * r->dl_cap : 16;
            r->dl = sl_xrealloc(r->dl, r->dl_cap * sizeof(*r->dl));
        }
        r->dl[i].version_id = version_id;
        r->dl[i].day = day;
        r->dl[i].n = 0;
        r->ndl++;
    }
    r->dl[i].n += n;
    pthread_mutex_unlock(&r->dl_lock);
}

enum sl_err sl_reg_count_download(struct sl_registry *r, int64_t version_id, struct sl_error *err)
{
    (void)err;
    /* kept in memory and written by sl_reg_flush_downloads (the server's
     * ticker, every second, and every reader of the counts) */
    tally(r, version_id, sl__now() / DAY, 1);
    return SL_OK;
}

enum sl_err sl_reg_flush_downloads(struct sl_registry *r, struct sl_error *err)
{
    struct sl_db *db;
    struct sl__dl_pending *v;
    size_t n;
    enum sl_err rc;

    pthread_mutex_lock(&r->dl_flush);
    pthread_mutex_lock(&r->dl_lock);
    v = r->dl;
    n = r->ndl;
    r->dl = NULL;
    r->ndl = r->dl_cap = 0;
    pthread_mutex_unlock(&r->dl_lock);
    if (n == 0) {
        pthread_mutex_unlock(&r->dl_flush);
        return SL_OK;
    }
    db = sl_reg_db(r, err);
    rc = db ? sl_db_begin(db, err) : err->code;
    for (size_t i = 0; i < n && !rc; i++) {
        struct sl_stmt *st = sl_db_stmt(db,
                                        "INSERT INTO downloads (version_id, day, n) VALUES (?, "
                                        "?, ?) ON CONFLICT (version_id, day) DO UPDATE SET n = "
                                        "downloads.n + excluded.n",
                                        err);
        if (!st) {
            rc = err->code;
            break;
        }
        sl_stmt_int(st, 1, v[i].version_id);
        sl_stmt_int(st, 2, v[i].day);
        sl_stmt_int(st, 3, v[i].n);
        rc = sl_stmt_run(st, err);
    }
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc) {
        /* not lost: back into the tally for the next flush */
        if (db)
            sl_db_rollback(db);
        for (size_t i = 0; i < n; i++)
            tally(r, v[i].version_id, v[i].day, v[i].n);
    }
    pthread_mutex_unlock(&r->dl_flush);
    free(v);
    return rc;
}

enum sl_err sl_reg_downloads(struct sl_registry *r, int64_t model_id, int64_t version_id,
                             int64_t *recent, int64_t *all, struct sl_error *err)
{
    enum sl_err rc;
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    int row;

    *recent = *all = 0;
    if (!db)
        return err->code;
    rc = sl_reg_flush_downloads(r, err);
    if (rc)
        return rc;
    st = sl_db_stmt(db,
                    "SELECT coalesce(sum(CASE WHEN d.day > ? THEN d.n ELSE 0 END), 0), "
                    "coalesce(sum(d.n), 0) FROM downloads d JOIN versions v ON v.id = "
                    "d.version_id WHERE v.model_id = ? AND (? = 0 OR v.id = ?)",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, sl__now() / DAY - 30);
    sl_stmt_int(st, 2, model_id);
    sl_stmt_int(st, 3, version_id);
    sl_stmt_int(st, 4, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *recent = sl_stmt_col_int(st, 0);
        *all = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

static const char *iso(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

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

bool sl_reg_hf_sort_ok(const char *key)
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

json_t *sl_reg_hf_list(struct sl_registry *r, const struct sl_principal *p,
                       const struct sl_hf_list_query *lq, bool *more, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    size_t which = 0; /* "id" */
    bool asc = true;  /* without a sort key: by id, ascending */
    json_t *arr = NULL;
    int64_t n = 0;
    int row;

    (void)p; /* every model's metadata is public; the tiers guard the files */
    *more = false;
    if (!db || sl_reg_flush_downloads(r, err) != SL_OK)
        return NULL;
    pthread_once(&list_sql_once, build_list_sql);
    if (lq->sort) {
        for (size_t i = 0; i < NSORTS; i++)
            if (strcmp(sorts[i].key, lq->sort) == 0)
                which = i;
        asc = lq->ascending;
    }
    st = sl_db_stmt(db, list_sql[sl_db_kind(db) == SL_DB_POSTGRESQL][which][asc], err);
    if (!st)
        return NULL;
    sl_stmt_int(st, 1, sl__now() / DAY - 30);
    if (lq->search) {
        /* a substring, case-insensitive: LIKE '%s%' with the search's own %,
         * _ and \ taken literally (portable: no instr or strpos) */
        struct sl_buf pat = SL_BUF_INIT(1024);
        sl_buf_addc(&pat, '%');
        for (const char *c = lq->search; *c; c++) {
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
    if (lq->author)
        sl_stmt_text(st, 3, lq->author);
    else
        sl_stmt_null(st, 3);
    sl_stmt_int(st, 4, lq->limit + 1);
    sl_stmt_int(st, 5, lq->offset);
    arr = json_array();
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *id = sl_stmt_col_text(st, 0);
        char oid[25], mod[40], cre[40];
        unsigned char h[32];
        json_t *item;
        if (n++ == lq->limit) {
            *more = true;
            continue;
        }
        /* _id as in model info: a stable id derived from the name */
        sl_sha256(id, strlen(id), h);
        sl_hex(h, 12, oid);
        item = json_pack(
            "{s:s, s:s, s:s, s:s, s:b, s:o, s:I, s:I, s:i, s:s, s:s, s:s, s:[], s:{s:s, s:I}}",
            "_id", oid, "id", id, "modelId", id, "author", sl_stmt_col_text(st, 1), "private", 0,
            "gated",
            strcmp(sl_stmt_col_text(st, 2), "open") == 0 ? json_false() : json_string("manual"),
            "downloads", (json_int_t)sl_stmt_col_int(st, 7), "downloadsAllTime",
            (json_int_t)sl_stmt_col_int(st, 8), "likes", 0, "sha", sl_stmt_col_text(st, 3),
            "lastModified", iso(sl_stmt_col_int(st, 4), mod, sizeof(mod)), "createdAt",
            iso(sl_stmt_col_int(st, 5), cre, sizeof(cre)), "tags", "sluice", "tier",
            sl_stmt_col_text(st, 2), "version", (json_int_t)sl_stmt_col_int(st, 9));
        json_array_append_new(arr, item);
    }
    sl_stmt_done(st);
    if (row < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *sl_reg_whoami_json(struct sl_registry *r, const struct sl_principal *p,
                           struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *orgs, *me = NULL;
    const char *role;
    char id[32];
    int row;

    if (!db)
        return NULL;
    st = sl_db_stmt(db,
                    "SELECT o.id, o.name, m.role FROM members m JOIN orgs o ON o.id = m.org_id "
                    "WHERE m.user_id = ? ORDER BY o.name",
                    err);
    if (!st)
        return NULL;
    orgs = json_array();
    sl_stmt_int(st, 1, p->user_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        snprintf(id, sizeof(id), "org-%lld", (long long)sl_stmt_col_int(st, 0));
        json_array_append_new(
            orgs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "type", "org", "id", id, "name",
                            sl_stmt_col_text(st, 1), "fullname", sl_stmt_col_text(st, 1), "canPay",
                            0, "avatarUrl", "", "roleInOrg",
                            strcmp(sl_stmt_col_text(st, 2), "publisher") == 0 ? "write" : "read"));
    }
    sl_stmt_done(st);
    if (row < 0) {
        json_decref(orgs);
        return NULL;
    }
    st = sl_db_stmt(db, "SELECT email FROM users WHERE id = ?", err);
    if (!st) {
        json_decref(orgs);
        return NULL;
    }
    sl_stmt_int(st, 1, p->user_id);
    row = sl_stmt_step(st, err);
    /* the Hub's roles: admin > write > read; a sluice token's scopes map so */
    role = (p->scopes & SL_SCOPE_ADMIN) ? "admin" : (p->scopes & SL_SCOPE_WRITE) ? "write" : "read";
    snprintf(id, sizeof(id), "user-%lld", (long long)p->user_id);
    if (row == 1) {
        const char *email = sl_stmt_col_text(st, 0);
        me = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:s, s:o, s:b, s:{s:s, "
                       "s:{s:s, s:s}}}",
                       "type", "user", "id", id, "name", p->name, "fullname", p->name, "email",
                       email ? json_string(email) : json_null(), "emailVerified", 0, "isPro", 0,
                       "canPay", 0, "avatarUrl", "", "orgs", orgs, "isAdmin", p->admin, "auth",
                       "type", "access_token", "accessToken", "displayName", "sluice token", "role",
                       role);
        orgs = NULL;
    } else if (row == 0) {
        sl_error_set(err, SL_EAUTH, "the account of this token is gone");
    }
    sl_stmt_done(st);
    json_decref(orgs);
    return me;
}
