/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite driver behind db.h (the embedded default): WAL, NORMAL synchronous (durable at
 * checkpoint; the pack bytes are fsynced before the transaction that names them), foreign keys on,
 * a small per-connection cache of prepared statements.
 */
#include "db/db_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

/* Distinct statements one connection keeps prepared. Never evicted: a
 * caller may hold a statement (bound, or half-way through its rows) while it
 * prepares another, so an entry must neither move nor be finalized while the
 * connection lives; heap entries keep their addresses. As on PostgreSQL,
 * more distinct statements than this is an error, not a silent reuse. */
#define STMT_CACHE 512

struct lite_stmt {
    struct sl_stmt base;
    sqlite3_stmt *s;
};

struct cached {
    const char *sql;
    struct lite_stmt st;
};

struct lite_db {
    struct sl_db base;
    sqlite3 *h;
    struct cached *cache[STMT_CACHE];
    size_t ncache;
};

#define DB(d) ((struct lite_db *)(d))
#define ST(s) ((struct lite_stmt *)(s))

static void lite_close(struct sl_db *d);
static enum sl_err lite_exec(struct sl_db *d, const char *sql, struct sl_error *err);

static enum sl_err map_error(struct lite_db *db, int rc, const char *what, struct sl_error *err)
{
    int ext = db && db->h ? sqlite3_extended_errcode(db->h) : rc;
    const char *msg = db && db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc);
    enum sl_err code = SL_EINTERNAL;

    switch (rc & 0xff) {
    case SQLITE_FULL:
        code = SL_ENOSPACE;
        break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
        code = SL_EIO;
        break;
    case SQLITE_CONSTRAINT:
        code = SL_ECONFLICT;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = SL_EIO;
        break;
    default:
        break;
    }
    return sl_error_set(err, code, "database: %s: %s (code %d)", what, msg, ext);
}

static enum sl_err lite_open(const char *path, struct sl_db **out, struct sl_error *err)
{
    struct lite_db *db = sl_xcalloc(1, sizeof(*db));
    int rc = sqlite3_open_v2(
        path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    enum sl_err e;

    if (rc != SQLITE_OK) {
        e = map_error(db, rc, path, err);
        lite_close(&db->base);
        return e;
    }
    sqlite3_busy_timeout(db->h, 10000);
    sqlite3_extended_result_codes(db->h, 1);
    db->base.drv = &sl__db_sqlite;
    e = lite_exec(&db->base,
                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                  "PRAGMA temp_store=MEMORY;",
                  err);
    if (e) {
        lite_close(&db->base);
        return e;
    }
    *out = &db->base;
    return SL_OK;
}

static void lite_close(struct sl_db *d)
{
    struct lite_db *db = DB(d);

    for (size_t i = 0; i < db->ncache; i++) {
        sqlite3_finalize(db->cache[i]->st.s);
        free(db->cache[i]);
    }
    sqlite3_close(db->h);
    free(db);
}

static enum sl_err lite_exec(struct sl_db *d, const char *sql, struct sl_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(DB(d)->h, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        enum sl_err e = map_error(DB(d), rc, "exec", err);
        sqlite3_free(msg);
        return e;
    }
    return SL_OK;
}

static enum sl_err lite_begin(struct sl_db *db, struct sl_error *err)
{
    return lite_exec(db, "BEGIN IMMEDIATE", err);
}

static enum sl_err lite_begin_read(struct sl_db *db, struct sl_error *err)
{
    return lite_exec(db, "BEGIN DEFERRED", err);
}

static enum sl_err lite_commit(struct sl_db *db, struct sl_error *err)
{
    return lite_exec(db, "COMMIT", err);
}

static enum sl_err lite_lock(struct sl_db *db, enum sl_db_lock what, struct sl_error *err)
{
    (void)what;
    /* BEGIN IMMEDIATE holds the only write lock already */
    if (sqlite3_get_autocommit(DB(db)->h))
        return sl_error_set(err, SL_EINTERNAL, "database: lock outside a write transaction");
    return SL_OK;
}

static void lite_rollback(struct sl_db *d)
{
    if (!sqlite3_get_autocommit(DB(d)->h))
        sqlite3_exec(DB(d)->h, "ROLLBACK", NULL, NULL, NULL);
}

static struct sl_stmt *lite_stmt(struct sl_db *d, const char *sql, struct sl_error *err)
{
    struct lite_db *db = DB(d);
    sqlite3_stmt *s;
    int rc;

    struct cached *c;

    for (size_t i = 0; i < db->ncache; i++)
        if (db->cache[i]->sql == sql)
            return &db->cache[i]->st.base;
    if (db->ncache == STMT_CACHE) {
        sl_error_set(err, SL_EINTERNAL, "database: more than %d distinct statements", STMT_CACHE);
        return NULL;
    }
    rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        map_error(db, rc, "prepare", err);
        return NULL;
    }
    c = sl_xcalloc(1, sizeof(*c));
    c->sql = sql;
    c->st.s = s;
    c->st.base.db = d;
    db->cache[db->ncache++] = c;
    return &c->st.base;
}

static void lite_bind_int(struct sl_stmt *st, int idx, int64_t v)
{
    sqlite3_bind_int64(ST(st)->s, idx, v);
}

static void lite_bind_text(struct sl_stmt *st, int idx, const char *s, size_t n)
{
    sqlite3_bind_text64(ST(st)->s, idx, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}

static void lite_bind_blob(struct sl_stmt *st, int idx, const void *p, size_t n)
{
    sqlite3_bind_blob64(ST(st)->s, idx, p, n, SQLITE_TRANSIENT);
}

static void lite_bind_real(struct sl_stmt *st, int idx, double v)
{
    sqlite3_bind_double(ST(st)->s, idx, v);
}

static void lite_bind_null(struct sl_stmt *st, int idx)
{
    sqlite3_bind_null(ST(st)->s, idx);
}

static int lite_step(struct sl_stmt *st, struct sl_error *err)
{
    int rc = sqlite3_step(ST(st)->s);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    map_error(DB(st->db), rc, "step", err);
    return -1;
}

static int64_t lite_col_int(struct sl_stmt *st, int col)
{
    return sqlite3_column_int64(ST(st)->s, col);
}

static double lite_col_real(struct sl_stmt *st, int col)
{
    return sqlite3_column_double(ST(st)->s, col);
}

static const char *lite_col_text(struct sl_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(ST(st)->s, col);
}

static const void *lite_col_blob(struct sl_stmt *st, int col, size_t *n)
{
    const void *p = sqlite3_column_blob(ST(st)->s, col);

    *n = (size_t)sqlite3_column_bytes(ST(st)->s, col);
    return p;
}

static bool lite_col_null(struct sl_stmt *st, int col)
{
    return sqlite3_column_type(ST(st)->s, col) == SQLITE_NULL;
}

static void lite_done(struct sl_stmt *st)
{
    sqlite3_reset(ST(st)->s);
    sqlite3_clear_bindings(ST(st)->s);
}

static int64_t lite_last_id(struct sl_db *db)
{
    return sqlite3_last_insert_rowid(DB(db)->h);
}

static int lite_changes(struct sl_db *db)
{
    return sqlite3_changes(DB(db)->h);
}

static enum sl_err lite_schema_get(struct sl_db *db, int *version, struct sl_error *err)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(DB(db)->h, "PRAGMA user_version", -1, &s, NULL);

    if (rc != SQLITE_OK)
        return map_error(DB(db), rc, "schema version", err);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return map_error(DB(db), rc, "schema version", err);
    }
    *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return SL_OK;
}

static enum sl_err lite_schema_set(struct sl_db *db, int version, struct sl_error *err)
{
    char bump[64];

    snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version);
    return lite_exec(db, bump, err);
}

const struct sl_db_driver sl__db_sqlite = {
    .name = "sqlite",
    .kind = SL_DB_SQLITE,
    .open = lite_open,
    .close = lite_close,
    .exec = lite_exec,
    .begin = lite_begin,
    .begin_read = lite_begin_read,
    .commit = lite_commit,
    .lock = lite_lock,
    .rollback = lite_rollback,
    .stmt = lite_stmt,
    .bind_int = lite_bind_int,
    .bind_text = lite_bind_text,
    .bind_blob = lite_bind_blob,
    .bind_real = lite_bind_real,
    .bind_null = lite_bind_null,
    .step = lite_step,
    .col_int = lite_col_int,
    .col_real = lite_col_real,
    .col_text = lite_col_text,
    .col_blob = lite_col_blob,
    .col_null = lite_col_null,
    .done = lite_done,
    .last_id = lite_last_id,
    .changes = lite_changes,
    .schema_get = lite_schema_get,
    .schema_set = lite_schema_set,
};
