/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata database. Only this module includes SQLite: callers write SQL
 * through a thin statement wrapper, so a PostgreSQL back end can come later
 * behind the same calls. One struct sl_db is one connection; use one per
 * thread. The schema is created and upgraded by numbered migrations
 * (db_schema.c) inside one transaction each.
 */
#ifndef SL_DB_DB_H
#define SL_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct sl_db;
struct sl_stmt;

/* Opens (creating if needed) the database at `path` in WAL mode with a busy
 * timeout, and runs pending migrations. The caller closes it. */
enum sl_err sl_db_open(const char *path, struct sl_db **db, struct sl_error *err);
void sl_db_close(struct sl_db *db);

/* The schema version after migrations. */
int sl_db_schema_version(struct sl_db *db);

/* Runs SQL without results (may hold several statements). */
enum sl_err sl_db_exec(struct sl_db *db, const char *sql, struct sl_error *err);

/* Transactions. `begin` takes the write lock at once (BEGIN IMMEDIATE) so a
 * transaction never fails half-way on a lock upgrade. Nested calls are not
 * supported. */
enum sl_err sl_db_begin(struct sl_db *db, struct sl_error *err);
enum sl_err sl_db_commit(struct sl_db *db, struct sl_error *err);
void sl_db_rollback(struct sl_db *db);

/* A read transaction (consistent snapshot across several queries). */
enum sl_err sl_db_begin_read(struct sl_db *db, struct sl_error *err);

/* Returns a prepared statement for `sql`, cached per connection by the
 * address of `sql` (pass string literals). Reset it with sl_stmt_done()
 * before preparing the same SQL again. NULL on a preparation error. */
struct sl_stmt *sl_db_stmt(struct sl_db *db, const char *sql, struct sl_error *err);

void sl_stmt_int(struct sl_stmt *st, int idx, int64_t v);
void sl_stmt_text(struct sl_stmt *st, int idx, const char *s); /* NULL binds NULL */
void sl_stmt_textn(struct sl_stmt *st, int idx, const char *s, size_t n);
void sl_stmt_blob(struct sl_stmt *st, int idx, const void *p, size_t n);
void sl_stmt_null(struct sl_stmt *st, int idx);
void sl_stmt_real(struct sl_stmt *st, int idx, double v);

/* Database operations that failed in this process (GET /metrics). */
unsigned long long sl_db_error_count(void);

/* The test seam for database errors: when set to N > 0, the N-th step from
 * now on this thread fails with SL_EIO (then the seam is off again). */
extern _Thread_local long sl__db_fail_step;

/* Steps: 1 a row is ready, 0 done, -1 error (in `err`). */
int sl_stmt_step(struct sl_stmt *st, struct sl_error *err);

/* Runs a statement that returns no rows, then resets it. */
enum sl_err sl_stmt_run(struct sl_stmt *st, struct sl_error *err);

int64_t sl_stmt_col_int(struct sl_stmt *st, int col);
double sl_stmt_col_real(struct sl_stmt *st, int col);
const char *sl_stmt_col_text(struct sl_stmt *st, int col); /* NULL for SQL NULL */
const void *sl_stmt_col_blob(struct sl_stmt *st, int col, size_t *n);
bool sl_stmt_col_null(struct sl_stmt *st, int col);

/* Resets the statement and clears its bindings (back to the cache). */
void sl_stmt_done(struct sl_stmt *st);

int64_t sl_db_last_id(struct sl_db *db);
int sl_db_changes(struct sl_db *db);

#endif
