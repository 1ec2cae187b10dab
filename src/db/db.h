/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata database. Only this module includes SQLite and libpq: callers
 * write SQL through a thin statement wrapper that dispatches through a driver
 * table (db_int.h) to SQLite (db_sqlite.c) or PostgreSQL (db_pg.c). One
 * struct sl_db is one connection; use one per thread. The schema is created
 * and upgraded by numbered migrations (db_schema.c, one list per dialect with
 * the same numbering) inside one transaction each.
 *
 * SQL given to sl_db_stmt() must be portable between the two: `?`
 * placeholders, ON CONFLICT rather than INSERT OR IGNORE, times bound from C
 * rather than strftime(), no PRAGMA.
 */
#ifndef SL_DB_DB_H
#define SL_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct sl_db;
struct sl_stmt;

enum sl_db_kind {
    SL_DB_SQLITE,
    SL_DB_POSTGRESQL,
};

/* Opens the database named by `url` and runs pending migrations:
 * `sqlite:PATH` (or a bare PATH) opens, creating if needed, an SQLite file in
 * WAL mode with a busy timeout; `postgresql://...` or `postgres://...` (a
 * libpq URI; unset parts come from the PG* variables as in psql) connects to
 * PostgreSQL. A server that cannot be reached gives SL_EUNAVAILABLE with the
 * URL (password removed) and libpq's reason. The caller closes it. */
enum sl_err sl_db_open(const char *url, struct sl_db **db, struct sl_error *err);
void sl_db_close(struct sl_db *db);

/* Which driver `db` uses, for the rare dialect branch. */
enum sl_db_kind sl_db_kind(const struct sl_db *db);

/* Copies `url` into `out` (size n) with any password removed (the userinfo
 * password of a URI and a password= parameter), for messages and logs. */
void sl_db_redact_url(const char *url, char *out, size_t n);

/* The schema version after migrations. */
int sl_db_schema_version(struct sl_db *db);

/* Runs SQL without results (may hold several statements). */
enum sl_err sl_db_exec(struct sl_db *db, const char *sql, struct sl_error *err);

/* Transactions. `begin` takes the write lock at once so a transaction never
 * fails half-way on a lock upgrade: BEGIN IMMEDIATE on SQLite, and on
 * PostgreSQL a transaction-level advisory lock that every writer of the hub
 * takes, so reads such as max(idx)+1 followed by an insert are atomic across
 * all servers sharing the database. Nested calls are not supported. */
enum sl_err sl_db_begin(struct sl_db *db, struct sl_error *err);
enum sl_err sl_db_commit(struct sl_db *db, struct sl_error *err);
void sl_db_rollback(struct sl_db *db);

/* What sl_db_lock() serializes. */
enum sl_db_lock {
    SL_DB_LOCK_LOG = 1, /* appending the next log entry (max(idx) + 1) */
    SL_DB_LOCK_SEQ = 2, /* allocating the next version number (max(seq) + 1) */
};

/* Inside a write transaction (sl_db_begin), makes `what` exclusive among all
 * servers sharing the database until the transaction ends: a
 * pg_advisory_xact_lock on PostgreSQL; nothing more to do on SQLite, whose
 * BEGIN IMMEDIATE already excludes every other writer. Call it before reading
 * the value the transaction will take the next one after. */
enum sl_err sl_db_lock(struct sl_db *db, enum sl_db_lock what, struct sl_error *err);

/* ---- many servers, one hub ----
 *
 * These run on a connection of their own (never one a thread uses for
 * transactions): a leader connection, a listening connection.
 *
 * sl_db_try_leader() makes this connection the hub's one leader if no other
 * connection is: a session-level pg_try_advisory_lock on PostgreSQL, held
 * until the connection ends (a killed server's lock is released when
 * PostgreSQL sees its connection close). Call it again on every round: while
 * leading it checks the connection still lives, and after a lost connection
 * it reconnects and tries again. On SQLite (one process) it is always true.
 *
 * sl_db_listen() subscribes this connection to `channel` (lower-case letters
 * and '_'); sl_db_notify() sends `channel` to every listener in the hub
 * (after the current transaction commits, at once outside one); and
 * sl_db_wait() waits up to `timeout_ms` for notifications, setting
 * `*notified` when one or more arrived. A lost listening connection is
 * SL_EUNAVAILABLE: messages sent meanwhile are lost, so the caller opens a
 * new connection, listens again and treats it as a notification. On SQLite
 * listen and notify do nothing and wait just sleeps. */
enum sl_err sl_db_try_leader(struct sl_db *db, bool *leader, struct sl_error *err);
enum sl_err sl_db_listen(struct sl_db *db, const char *channel, struct sl_error *err);
enum sl_err sl_db_notify(struct sl_db *db, const char *channel, struct sl_error *err);
enum sl_err sl_db_wait(struct sl_db *db, int timeout_ms, bool *notified, struct sl_error *err);

/* Moving up (db_copy.c): copies every table of `from` (SQLite) into `to`
 * (PostgreSQL, same schema version), each table in one transaction of `to`,
 * from one snapshot of `from`, and verifies each by its row count and a
 * digest of its contents read back through both drivers. Resumable: a table
 * already in `to` with as many rows is not copied again, only verified; a
 * table with other rows in `to` is SL_ECONFLICT naming it. `note` (may be
 * NULL) hears of each table verified: its rows and whether this run copied
 * it. Close both connections afterwards. */
typedef void (*sl_db_copy_note)(void *ctx, const char *table, int64_t rows, bool copied);
enum sl_err sl_db_copy(struct sl_db *from, struct sl_db *to, sl_db_copy_note note, void *ctx,
                       struct sl_error *err);

/* A read transaction (consistent snapshot across several queries; REPEATABLE
 * READ on PostgreSQL). */
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

/* Steps: 1 a row is ready, 0 done, -1 error (in `err`). Errors are
 * SL_ECONFLICT for a broken constraint, SL_EUNAVAILABLE when the database
 * cannot be reached or asks for a retry (a lost connection, a serialization
 * failure, a deadlock: run the transaction again), SL_EIO for a local disk
 * failure, SL_EINTERNAL otherwise. */
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

/* The id of the last row inserted on this connection (lastval() on
 * PostgreSQL), and the rows changed by the last INSERT, UPDATE or DELETE. */
int64_t sl_db_last_id(struct sl_db *db);
int sl_db_changes(struct sl_db *db);

#endif
