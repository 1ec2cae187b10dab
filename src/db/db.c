/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite behind db.h: WAL, NORMAL synchronous (durable at checkpoint; the
 * pack bytes are fsynced before the transaction that names them), foreign
 * keys on, a small per-connection cache of prepared statements.
 */
#include "db/db.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

#define STMT_CACHE 96

struct sl_stmt {
    sqlite3_stmt *s;
    struct sl_db *db;
};

struct cached {
    const char *sql;
    struct sl_stmt st;
};

struct sl_db {
    sqlite3 *h;
    struct cached cache[STMT_CACHE];
    size_t ncache;
    int schema;
};

enum sl_err sl__db_migrate(struct sl_db *db, struct sl_error *err);

static atomic_ullong db_errors;

unsigned long long sl_db_error_count(void)
{
    return atomic_load(&db_errors);
}

static enum sl_err map_error(struct sl_db *db, int rc, const char *what, struct sl_error *err)
{
    atomic_fetch_add(&db_errors, 1);
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

enum sl_err sl_db_open(const char *path, struct sl_db **out, struct sl_error *err)
{
    struct sl_db *db = sl_xcalloc(1, sizeof(*db));
    int rc = sqlite3_open_v2(
        path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    enum sl_err e;

    if (rc != SQLITE_OK) {
        e = map_error(db, rc, path, err);
        sl_db_close(db);
        return e;
    }
    sqlite3_busy_timeout(db->h, 10000);
    sqlite3_extended_result_codes(db->h, 1);
    e = sl_db_exec(db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                   "PRAGMA temp_store=MEMORY;",
                   err);
    if (!e)
        e = sl__db_migrate(db, err);
    if (e) {
        sl_db_close(db);
        return e;
    }
    *out = db;
    return SL_OK;
}

void sl_db_close(struct sl_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->ncache; i++)
        sqlite3_finalize(db->cache[i].st.s);
    sqlite3_close(db->h);
    free(db);
}

int sl_db_schema_version(struct sl_db *db)
{
    return db->schema;
}

void sl__db_set_schema(struct sl_db *db, int v)
{
    db->schema = v;
}

enum sl_err sl_db_exec(struct sl_db *db, const char *sql, struct sl_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        enum sl_err e = map_error(db, rc, "exec", err);
        sqlite3_free(msg);
        return e;
    }
    return SL_OK;
}

enum sl_err sl_db_begin(struct sl_db *db, struct sl_error *err)
{
    return sl_db_exec(db, "BEGIN IMMEDIATE", err);
}

enum sl_err sl_db_begin_read(struct sl_db *db, struct sl_error *err)
{
    return sl_db_exec(db, "BEGIN DEFERRED", err);
}

enum sl_err sl_db_commit(struct sl_db *db, struct sl_error *err)
{
    return sl_db_exec(db, "COMMIT", err);
}

void sl_db_rollback(struct sl_db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

struct sl_stmt *sl_db_stmt(struct sl_db *db, const char *sql, struct sl_error *err)
{
    sqlite3_stmt *s;
    int rc;

    for (size_t i = 0; i < db->ncache; i++)
        if (db->cache[i].sql == sql)
            return &db->cache[i].st;
    rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        map_error(db, rc, "prepare", err);
        return NULL;
    }
    if (db->ncache == STMT_CACHE) {
        /* Cache full: evict the oldest (statements are reset when idle). */
        sqlite3_finalize(db->cache[0].st.s);
        memmove(&db->cache[0], &db->cache[1], (STMT_CACHE - 1) * sizeof(db->cache[0]));
        db->ncache--;
    }
    db->cache[db->ncache].sql = sql;
    db->cache[db->ncache].st.s = s;
    db->cache[db->ncache].st.db = db;
    return &db->cache[db->ncache++].st;
}

void sl_stmt_int(struct sl_stmt *st, int idx, int64_t v)
{
    sqlite3_bind_int64(st->s, idx, v);
}

void sl_stmt_text(struct sl_stmt *st, int idx, const char *s)
{
    if (s)
        sqlite3_bind_text(st->s, idx, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st->s, idx);
}

void sl_stmt_textn(struct sl_stmt *st, int idx, const char *s, size_t n)
{
    sqlite3_bind_text64(st->s, idx, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}

void sl_stmt_blob(struct sl_stmt *st, int idx, const void *p, size_t n)
{
    sqlite3_bind_blob64(st->s, idx, p, n, SQLITE_TRANSIENT);
}

void sl_stmt_real(struct sl_stmt *st, int idx, double v)
{
    sqlite3_bind_double(st->s, idx, v);
}

void sl_stmt_null(struct sl_stmt *st, int idx)
{
    sqlite3_bind_null(st->s, idx);
}

_Thread_local long sl__db_fail_step;

int sl_stmt_step(struct sl_stmt *st, struct sl_error *err)
{
    int rc;

    if (sl__db_fail_step > 0 && --sl__db_fail_step == 0) {
        /* the test seam: this step fails as a lost disk would make it */
        if (err)
            sl_error_set(err, SL_EIO, "step: injected failure (test seam)");
        return -1;
    }
    rc = sqlite3_step(st->s);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    map_error(st->db, rc, "step", err);
    return -1;
}

enum sl_err sl_stmt_run(struct sl_stmt *st, struct sl_error *err)
{
    int r = sl_stmt_step(st, err);

    sl_stmt_done(st);
    if (r < 0)
        return err ? err->code : SL_EINTERNAL;
    return SL_OK;
}

int64_t sl_stmt_col_int(struct sl_stmt *st, int col)
{
    return sqlite3_column_int64(st->s, col);
}

double sl_stmt_col_real(struct sl_stmt *st, int col)
{
    return sqlite3_column_double(st->s, col);
}

const char *sl_stmt_col_text(struct sl_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st->s, col);
}

const void *sl_stmt_col_blob(struct sl_stmt *st, int col, size_t *n)
{
    const void *p = sqlite3_column_blob(st->s, col);

    *n = (size_t)sqlite3_column_bytes(st->s, col);
    return p;
}

bool sl_stmt_col_null(struct sl_stmt *st, int col)
{
    return sqlite3_column_type(st->s, col) == SQLITE_NULL;
}

void sl_stmt_done(struct sl_stmt *st)
{
    sqlite3_reset(st->s);
    sqlite3_clear_bindings(st->s);
}

int64_t sl_db_last_id(struct sl_db *db)
{
    return sqlite3_last_insert_rowid(db->h);
}

int sl_db_changes(struct sl_db *db)
{
    return sqlite3_changes(db->h);
}
