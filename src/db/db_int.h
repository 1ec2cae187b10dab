/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The driver table behind db.h. A driver fills a struct sl_db_driver with its
 * functions; each of its connections starts with a struct sl_db and each of
 * its statements with a struct sl_stmt, so db.c can dispatch without knowing
 * the driver. Two drivers: SQLite (db_sqlite.c) and PostgreSQL (db_pg.c).
 */
#ifndef SL_DB_DB_INT_H
#define SL_DB_DB_INT_H

#include "db/db.h"

struct sl_db_driver {
    const char *name;
    enum sl_db_kind kind;
    /* `target` is what follows the scheme: a file path for SQLite, the whole
     * URL or connection string for PostgreSQL. */
    enum sl_err (*open)(const char *target, struct sl_db **db, struct sl_error *err);
    void (*close)(struct sl_db *db);
    enum sl_err (*exec)(struct sl_db *db, const char *sql, struct sl_error *err);
    enum sl_err (*begin)(struct sl_db *db, struct sl_error *err);
    enum sl_err (*begin_read)(struct sl_db *db, struct sl_error *err);
    enum sl_err (*commit)(struct sl_db *db, struct sl_error *err);
    enum sl_err (*lock)(struct sl_db *db, enum sl_db_lock what, struct sl_error *err);
    void (*rollback)(struct sl_db *db);
    struct sl_stmt *(*stmt)(struct sl_db *db, const char *sql, struct sl_error *err);
    void (*bind_int)(struct sl_stmt *st, int idx, int64_t v);
    void (*bind_text)(struct sl_stmt *st, int idx, const char *s, size_t n);
    void (*bind_blob)(struct sl_stmt *st, int idx, const void *p, size_t n);
    void (*bind_real)(struct sl_stmt *st, int idx, double v);
    void (*bind_null)(struct sl_stmt *st, int idx);
    int (*step)(struct sl_stmt *st, struct sl_error *err);
    int64_t (*col_int)(struct sl_stmt *st, int col);
    double (*col_real)(struct sl_stmt *st, int col);
    const char *(*col_text)(struct sl_stmt *st, int col);
    const void *(*col_blob)(struct sl_stmt *st, int col, size_t *n);
    bool (*col_null)(struct sl_stmt *st, int col);
    void (*done)(struct sl_stmt *st);
    int64_t (*last_id)(struct sl_db *db);
    int (*changes)(struct sl_db *db);
    /* The schema version stored in the database (0 when new), and setting it
     * inside the migration's transaction. */
    enum sl_err (*schema_get)(struct sl_db *db, int *version, struct sl_error *err);
    enum sl_err (*schema_set)(struct sl_db *db, int version, struct sl_error *err);
    /* Many servers (db.h); NULL on a driver for one process. */
    enum sl_err (*try_leader)(struct sl_db *db, bool *leader, struct sl_error *err);
    enum sl_err (*wait)(struct sl_db *db, int timeout_ms, bool *notified, struct sl_error *err);
};

/* The head of every driver's connection. */
struct sl_db {
    const struct sl_db_driver *drv;
    int schema;
};

/* The head of every driver's statement. */
struct sl_stmt {
    struct sl_db *db;
};

extern const struct sl_db_driver sl__db_sqlite;
extern const struct sl_db_driver sl__db_pg;

/* Runs the pending migrations of `db` (db_schema.c): the list of its
 * dialect; both lists have the same numbering. */
enum sl_err sl__db_migrate(struct sl_db *db, struct sl_error *err);

#endif
