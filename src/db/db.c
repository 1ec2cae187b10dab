/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The db.h API: picks a driver from the URL's scheme, runs the migrations,
 * and dispatches every call through the connection's driver table
 * (db_int.h). The test seam for failed steps lives here so it works on
 * either driver.
 */
#include "db/db_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/banned.h"

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

void sl_db_redact_url(const char *url, char *out, size_t n)
{
    const char *p = url, *scheme = strstr(url, "://");
    size_t o = 0;

    if (n == 0)
        return;
    /* URI userinfo: scheme://user:password@host -> scheme://user@host */
    if (scheme) {
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?#"), *at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                o = (size_t)snprintf(out, n, "%.*s%s", (int)(colon - url), url, "");
                if (o >= n)
                    return;
                p = at;
            }
        }
    }
    /* copy the rest, dropping password=... in a query or key=value string */
    while (*p && o + 1 < n) {
        bool start = p == url || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ';
        if (start && has_prefix(p, "password=")) {
            const char *stop = p + strcspn(p, "& ");
            const char *rest = "password=...";
            for (; *rest && o + 1 < n; rest++)
                out[o++] = *rest;
            p = stop;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}

enum sl_err sl_db_open(const char *url, struct sl_db **db, struct sl_error *err)
{
    const struct sl_db_driver *drv = &sl__db_sqlite;
    const char *target = url;
    struct sl_db *d = NULL;
    enum sl_err rc;

    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://")) {
        drv = &sl__db_pg;
    } else if (has_prefix(url, "sqlite:")) {
        target = url + strlen("sqlite:");
        if (!target[0])
            return sl_error_set(err, SL_EUSAGE, "database \"%s\": no file after sqlite:", url);
    } else if (strstr(url, "://")) {
        char safe[512];
        sl_db_redact_url(url, safe, sizeof(safe));
        return sl_error_set(err, SL_EUSAGE,
                            "database \"%s\": unknown kind (use sqlite:PATH or postgresql://...)",
                            safe);
    }
    rc = drv->open(target, &d, err);
    if (rc)
        return rc;
    rc = sl__db_migrate(d, err);
    if (rc) {
        drv->close(d);
        return rc;
    }
    *db = d;
    return SL_OK;
}

void sl_db_close(struct sl_db *db)
{
    if (db)
        db->drv->close(db);
}

enum sl_db_kind sl_db_kind(const struct sl_db *db)
{
    return db->drv->kind;
}

int sl_db_schema_version(struct sl_db *db)
{
    return db->schema;
}

static atomic_ullong db_errors;

unsigned long long sl_db_error_count(void)
{
    return atomic_load(&db_errors);
}

/* Counts a failed operation for GET /metrics, whichever driver failed. */
static enum sl_err counted(enum sl_err rc)
{
    if (rc != SL_OK)
        atomic_fetch_add(&db_errors, 1);
    return rc;
}

enum sl_err sl_db_exec(struct sl_db *db, const char *sql, struct sl_error *err)
{
    return counted(db->drv->exec(db, sql, err));
}

enum sl_err sl_db_begin(struct sl_db *db, struct sl_error *err)
{
    return counted(db->drv->begin(db, err));
}

enum sl_err sl_db_begin_read(struct sl_db *db, struct sl_error *err)
{
    return db->drv->begin_read(db, err);
}

enum sl_err sl_db_commit(struct sl_db *db, struct sl_error *err)
{
    return db->drv->commit(db, err);
}

enum sl_err sl_db_lock(struct sl_db *db, enum sl_db_lock what, struct sl_error *err)
{
    return db->drv->lock(db, what, err);
}

/* A channel is an SQL identifier we write into the statement: only lower
 * case letters and '_', at most 63 of them. */
static enum sl_err check_channel(const char *channel, struct sl_error *err)
{
    size_t n = strlen(channel);

    if (n == 0 || n > 63 || strspn(channel, "abcdefghijklmnopqrstuvwxyz_") != n)
        return sl_error_set(err, SL_EINTERNAL, "bad notification channel \"%s\"", channel);
    return SL_OK;
}

enum sl_err sl_db_try_leader(struct sl_db *db, bool *leader, struct sl_error *err)
{
    *leader = true;
    if (!db->drv->try_leader)
        return SL_OK;
    return db->drv->try_leader(db, leader, err);
}

enum sl_err sl_db_listen(struct sl_db *db, const char *channel, struct sl_error *err)
{
    char sql[80];
    enum sl_err rc = check_channel(channel, err);

    if (rc || db->drv->kind != SL_DB_POSTGRESQL)
        return rc;
    snprintf(sql, sizeof(sql), "LISTEN %s", channel);
    return db->drv->exec(db, sql, err);
}

enum sl_err sl_db_notify(struct sl_db *db, const char *channel, struct sl_error *err)
{
    char sql[80];
    enum sl_err rc = check_channel(channel, err);

    if (rc || db->drv->kind != SL_DB_POSTGRESQL)
        return rc;
    snprintf(sql, sizeof(sql), "NOTIFY %s", channel);
    return db->drv->exec(db, sql, err);
}

enum sl_err sl_db_wait(struct sl_db *db, int timeout_ms, bool *notified, struct sl_error *err)
{
    *notified = false;
    if (!db->drv->wait) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return SL_OK;
    }
    return db->drv->wait(db, timeout_ms, notified, err);
}

void sl_db_rollback(struct sl_db *db)
{
    db->drv->rollback(db);
}

struct sl_stmt *sl_db_stmt(struct sl_db *db, const char *sql, struct sl_error *err)
{
    return db->drv->stmt(db, sql, err);
}

void sl_stmt_int(struct sl_stmt *st, int idx, int64_t v)
{
    st->db->drv->bind_int(st, idx, v);
}

void sl_stmt_text(struct sl_stmt *st, int idx, const char *s)
{
    if (s)
        st->db->drv->bind_text(st, idx, s, strlen(s));
    else
        st->db->drv->bind_null(st, idx);
}

void sl_stmt_textn(struct sl_stmt *st, int idx, const char *s, size_t n)
{
    st->db->drv->bind_text(st, idx, s, n);
}

void sl_stmt_blob(struct sl_stmt *st, int idx, const void *p, size_t n)
{
    st->db->drv->bind_blob(st, idx, p, n);
}

void sl_stmt_real(struct sl_stmt *st, int idx, double v)
{
    st->db->drv->bind_real(st, idx, v);
}

void sl_stmt_null(struct sl_stmt *st, int idx)
{
    st->db->drv->bind_null(st, idx);
}

_Thread_local long sl__db_fail_step;

int sl_stmt_step(struct sl_stmt *st, struct sl_error *err)
{
    if (sl__db_fail_step > 0 && --sl__db_fail_step == 0) {
        /* the test seam: this step fails as a lost disk would make it */
        if (err)
            sl_error_set(err, SL_EIO, "step: injected failure (test seam)");
        return -1;
    }
    {
        int r = st->db->drv->step(st, err);
        if (r < 0)
            atomic_fetch_add(&db_errors, 1);
        return r;
    }
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
    return st->db->drv->col_int(st, col);
}

double sl_stmt_col_real(struct sl_stmt *st, int col)
{
    return st->db->drv->col_real(st, col);
}

const char *sl_stmt_col_text(struct sl_stmt *st, int col)
{
    return st->db->drv->col_text(st, col);
}

const void *sl_stmt_col_blob(struct sl_stmt *st, int col, size_t *n)
{
    return st->db->drv->col_blob(st, col, n);
}

bool sl_stmt_col_null(struct sl_stmt *st, int col)
{
    return st->db->drv->col_null(st, col);
}

void sl_stmt_done(struct sl_stmt *st)
{
    st->db->drv->done(st);
}

int64_t sl_db_last_id(struct sl_db *db)
{
    return db->drv->last_id(db);
}

int sl_db_changes(struct sl_db *db)
{
    return db->drv->changes(db);
}
