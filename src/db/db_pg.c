/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL driver behind db.h (libpq), for many servers sharing one
 * hub. `?` placeholders become $1..$n once per statement, statements are
 * prepared once per connection (named, re-prepared after a reconnect),
 * results come as text (bytea decoded from hex), and every write transaction
 * holds one transaction-level advisory lock, the hub-wide counterpart of
 * SQLite's BEGIN IMMEDIATE. A lost connection is SL_EUNAVAILABLE; the next
 * call outside a transaction reconnects, with a growing pause between tries.
 */
#include "db/db_int.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "common/banned.h"

#define STMT_CACHE 512
#define BYTEA_OID  17
#define INT8_OID   20
#define TEXT_OID   25
#define FLOAT8_OID 701

/* The key of the hub-wide write lock ("sluice" and 1). */
#define WRITE_LOCK_KEY "7236281745052958721"

/* The key of the session-level leader lock: the write lock's + 16, apart
 * from the transaction-level keys sl_db_lock() adds to it. */
#define LEADER_SQL "SELECT pg_try_advisory_lock(" WRITE_LOCK_KEY " + 16)"

/* Reconnect pauses: from 100 ms doubling to 5 s. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct pg_stmt {
    struct sl_stmt base;
    const char *key; /* the caller's SQL literal (the cache key) */
    char *sql;       /* with $n placeholders */
    char name[24];
    int nparams;
    bool prepared; /* on the current connection */
    char **vals;
    int *lens, *fmts;
    Oid *types; /* what was bound, for a statement PostgreSQL cannot type alone */
    PGresult *res;
    int row, nrows;
    bool ran;
    unsigned char **dec; /* bytea columns of the current row, decoded */
    size_t *declen;
    int ndec;
};

struct pg_db {
    struct sl_db base;
    PGconn *c;
    char *url; /* password removed, for messages */
    struct pg_stmt *cache[STMT_CACHE];
    size_t ncache;
    unsigned next_name;
    int changes;
    bool tx;         /* inside BEGIN ... COMMIT/ROLLBACK */
    unsigned locked; /* bit 1 << area: sl_db_lock areas this transaction holds */
    long backoff_ms; /* current pause between reconnects */
    double next_try; /* monotonic seconds before which we do not reconnect */
    bool leader;     /* holds the session-level leader lock */
};

#define DB(d) ((struct pg_db *)(d))
#define ST(s) ((struct pg_stmt *)(s))

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libpq's messages span lines; ours are one line, single spaces. */
static void one_line(char *s)
{
    char *o = s;
    bool space = false;

    for (const char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = o != s;
            continue;
        }
        if (space)
            *o++ = ' ';
        space = false;
        *o++ = *p;
    }
    *o = '\0';
}

static bool retryable_state(const char *st)
{
    static const char *const prefixes[] = {"40001", "40P01", "55P03", "57P", "08", "53"};

    if (!st)
        return false;
    for (size_t i = 0; i < SL_ARRAY_LEN(prefixes); i++)
        if (strncmp(st, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* Maps a failed result (or a failure with no result) to sl_err. */
static enum sl_err fail(struct pg_db *db, PGresult *res, const char *what, struct sl_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[400];
    enum sl_err code = SL_EINTERNAL;

    /* the primary message only: DETAIL lines may quote row values */
    snprintf(msg, sizeof(msg), "%s", primary ? primary : PQerrorMessage(db->c));
    one_line(msg);
    if (PQstatus(db->c) != CONNECTION_OK) {
        return sl_error_set(err, SL_EUNAVAILABLE, "database %s: connection lost during %s: %s",
                            db->url, what, msg[0] ? msg : "no answer");
    }
    if (state && strncmp(state, "23", 2) == 0)
        code = SL_ECONFLICT;
    else if (state && strcmp(state, "53100") == 0)
        code = SL_ENOSPACE; /* disk_full, as SQLITE_FULL */
    else if (retryable_state(state))
        code = SL_EUNAVAILABLE;
    return sl_error_set(err, code, "database: %s: %s (SQLSTATE %s)", what, msg,
                        state ? state : "none");
}

/* Makes sure there is a connection, reconnecting (with backoff) when it was
 * lost. Inside a transaction a lost connection cannot be replaced: its work
 * is gone, so the caller must roll back and run the transaction again. */
static enum sl_err ensure(struct pg_db *db, struct sl_error *err)
{
    double t;

    if (PQstatus(db->c) == CONNECTION_OK)
        return SL_OK;
    if (db->tx)
        return sl_error_set(err, SL_EUNAVAILABLE,
                            "database %s: connection lost inside a transaction", db->url);
    t = now_s();
    if (t < db->next_try)
        return sl_error_set(err, SL_EUNAVAILABLE, "database %s: unreachable, retrying shortly",
                            db->url);
    PQreset(db->c);
    if (PQstatus(db->c) != CONNECTION_OK) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(db->c));
        one_line(msg);
        db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (db->backoff_ms > BACKOFF_MAX_MS)
            db->backoff_ms = BACKOFF_MAX_MS;
        db->next_try = t + (double)db->backoff_ms / 1000.0;
        return sl_error_set(err, SL_EUNAVAILABLE, "database %s: cannot reconnect: %s", db->url,
                            msg);
    }
    db->backoff_ms = 0;
    db->next_try = 0;
    for (size_t i = 0; i < db->ncache; i++)
        db->cache[i]->prepared = false;
    return SL_OK;
}

static void pg_close(struct sl_db *d);
static void pg_rollback(struct sl_db *d);

/* NOTICEs ("relation already exists, skipping") are not for our users. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static enum sl_err pg_open(const char *url, struct sl_db **out, struct sl_error *err)
{
    struct pg_db *db = sl_xcalloc(1, sizeof(*db));
    const char *keys[4], *vals[4];
    int n = 0;
    char safe[512];

    db->base.drv = &sl__db_pg;
    sl_db_redact_url(url, safe, sizeof(safe));
    db->url = sl_xstrdup(safe);
    /* Defaults first: anything in the URL (or PG* variables) wins. */
    if (!getenv("PGCONNECT_TIMEOUT")) {
        keys[n] = "connect_timeout";
        vals[n++] = "5";
    }
    if (!getenv("PGAPPNAME")) {
        keys[n] = "application_name";
        vals[n++] = "sluice";
    }
    keys[n] = "dbname";
    vals[n++] = url;
    keys[n] = NULL;
    vals[n] = NULL;
    db->c = PQconnectdbParams(keys, vals, 1);
    if (!db->c || PQstatus(db->c) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", db->c ? PQerrorMessage(db->c) : "out of memory");
        one_line(msg);
        sl_error_set(err, SL_EUNAVAILABLE, "database %s: cannot connect: %s", db->url, msg);
        pg_close(&db->base);
        return SL_EUNAVAILABLE;
    }
    PQsetNoticeProcessor(db->c, quiet, NULL);
    *out = &db->base;
    return SL_OK;
}

static void stmt_reset(struct pg_stmt *ps)
{
    for (int i = 0; i < ps->ndec; i++) {
        PQfreemem(ps->dec[i]);
        ps->dec[i] = NULL;
    }
    PQclear(ps->res);
    ps->res = NULL;
    ps->ran = false;
    ps->row = -1;
    ps->nrows = 0;
}

static void stmt_free(struct pg_stmt *ps)
{
    stmt_reset(ps);
    for (int i = 0; i < ps->nparams; i++)
        free(ps->vals[i]);
    free(ps->vals);
    free(ps->lens);
    free(ps->fmts);
    free(ps->types);
    free(ps->dec);
    free(ps->declen);
    free(ps->sql);
    free(ps);
}

static void pg_close(struct sl_db *d)
{
    struct pg_db *db = DB(d);

    for (size_t i = 0; i < db->ncache; i++)
        stmt_free(db->cache[i]);
    if (db->c)
        PQfinish(db->c);
    free(db->url);
    free(db);
}

/* Runs SQL with no parameters (several statements allowed). */
static enum sl_err run(struct pg_db *db, const char *sql, const char *what, struct sl_error *err)
{
    PGresult *res;
    ExecStatusType s;
    enum sl_err rc;

    rc = ensure(db, err);
    if (rc)
        return rc;
    res = PQexec(db->c, sql);
    s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        rc = fail(db, res, what, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    return SL_OK;
}

static enum sl_err pg_exec(struct sl_db *d, const char *sql, struct sl_error *err)
{
    return run(DB(d), sql, "exec", err);
}

/* Nothing has run yet when BEGIN finds the connection gone (a restarted
 * server, an idle connection closed): reconnect at once and try again. */
static enum sl_err begin_with(struct sl_db *d, const char *sql, struct sl_error *err)
{
    struct pg_db *db = DB(d);
    enum sl_err rc;

    db->tx = false; /* a new transaction: whatever was left is gone */
    db->locked = 0;
    rc = run(db, sql, "begin", err);
    if (rc && PQstatus(db->c) != CONNECTION_OK) {
        db->next_try = 0;
        rc = run(db, sql, "begin", err);
    }
    if (rc) {
        pg_rollback(d);
        return rc;
    }
    db->tx = true;
    return SL_OK;
}

static enum sl_err pg_begin(struct sl_db *d, struct sl_error *err)
{
    return begin_with(d, "BEGIN; SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY ")", err);
}

static enum sl_err pg_begin_read(struct sl_db *d, struct sl_error *err)
{
    return begin_with(d, "BEGIN ISOLATION LEVEL REPEATABLE READ", err);
}

static enum sl_err pg_commit(struct sl_db *d, struct sl_error *err)
{
    struct pg_db *db = DB(d);
    PGresult *res = PQexec(db->c, "COMMIT");
    enum sl_err rc = SL_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* The outcome of a COMMIT that got no answer is unknown. */
        rc = fail(db, res, "commit", err);
    } else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        /* An earlier statement failed: PostgreSQL rolled back instead. */
        rc = sl_error_set(err, SL_EINTERNAL, "database: commit: the transaction was rolled back");
    }
    PQclear(res);
    db->tx = false;
    db->locked = 0;
    return rc;
}

static enum sl_err pg_lock(struct sl_db *d, enum sl_db_lock what, struct sl_error *err)
{
    struct pg_db *db = DB(d);
    unsigned bit = 1u << ((unsigned)what & 31u);
    char sql[96];
    enum sl_err rc;

    if (!db->tx)
        return sl_error_set(err, SL_EINTERNAL, "database: lock outside a write transaction");
    /* A transaction-level advisory lock is held until COMMIT or ROLLBACK:
     * a second request in the same transaction (a batch of log appends)
     * needs no round trip. */
    if (db->locked & bit)
        return SL_OK;
    /* the write lock's key plus the area: one key space, no collisions */
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%s + %d)", WRITE_LOCK_KEY, (int)what);
    rc = run(db, sql, "lock", err);
    if (!rc)
        db->locked |= bit;
    return rc;
}

static void pg_rollback(struct sl_db *d)
{
    struct pg_db *db = DB(d);

    db->tx = false;
    db->locked = 0;
    if (PQstatus(db->c) == CONNECTION_OK && PQtransactionStatus(db->c) != PQTRANS_IDLE)
        PQclear(PQexec(db->c, "ROLLBACK"));
}

/* `?` becomes $1, $2 ... and `?N` becomes $N, outside quoted strings and
 * identifiers. */
static char *translate(const char *sql, int *nparams)
{
    size_t n = strlen(sql);
    char *out = sl_xmalloc(n * 4 + 1), quote = 0;
    size_t o = 0;
    int k = 0;

    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            out[o++] = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            out[o++] = *p;
        } else if (*p == '?' && p[1] >= '1' && p[1] <= '9') {
            /* SQLite's ?NNN: the same parameter used twice */
            char *end;
            long v = strtol(p + 1, &end, 10);
            if (v > k)
                k = (int)v;
            o += (size_t)snprintf(out + o, 12, "$%ld", v);
            p = end - 1;
        } else if (*p == '?') {
            o += (size_t)snprintf(out + o, 12, "$%d", ++k);
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    *nparams = k;
    return out;
}

static struct sl_stmt *pg_stmt(struct sl_db *d, const char *sql, struct sl_error *err)
{
    struct pg_db *db = DB(d);
    struct pg_stmt *ps;

    for (size_t i = 0; i < db->ncache; i++)
        if (db->cache[i]->key == sql)
            return &db->cache[i]->base;
    if (db->ncache == STMT_CACHE) {
        sl_error_set(err, SL_EINTERNAL, "database: more than %d distinct statements", STMT_CACHE);
        return NULL;
    }
    ps = sl_xcalloc(1, sizeof(*ps));
    ps->base.db = d;
    ps->key = sql;
    ps->sql = translate(sql, &ps->nparams);
    snprintf(ps->name, sizeof(ps->name), "sl%u", db->next_name++);
    if (ps->nparams) {
        ps->vals = sl_xcalloc((size_t)ps->nparams, sizeof(*ps->vals));
        ps->lens = sl_xcalloc((size_t)ps->nparams, sizeof(*ps->lens));
        ps->fmts = sl_xcalloc((size_t)ps->nparams, sizeof(*ps->fmts));
        ps->types = sl_xcalloc((size_t)ps->nparams, sizeof(*ps->types));
    }
    ps->row = -1;
    db->cache[db->ncache++] = ps;
    return &ps->base;
}

static void put(struct sl_stmt *st, int idx, char *v, int len, int fmt, Oid type)
{
    struct pg_stmt *ps = ST(st);

    if (idx < 1 || idx > ps->nparams) {
        free(v);
        return;
    }
    free(ps->vals[idx - 1]);
    ps->vals[idx - 1] = v;
    ps->lens[idx - 1] = len;
    ps->fmts[idx - 1] = fmt;
    ps->types[idx - 1] = type;
}

static void pg_bind_int(struct sl_stmt *st, int idx, int64_t v)
{
    put(st, idx, sl_xasprintf("%lld", (long long)v), 0, 0, INT8_OID);
}

static void pg_bind_text(struct sl_stmt *st, int idx, const char *s, size_t n)
{
    put(st, idx, sl_xstrndup(s, n), 0, 0, 0);
}

static void pg_bind_blob(struct sl_stmt *st, int idx, const void *p, size_t n)
{
    char *copy = sl_xmalloc(n ? n : 1);

    if (n)
        memcpy(copy, p, n);
    put(st, idx, copy, (int)n, 1, BYTEA_OID);
}

static void pg_bind_real(struct sl_stmt *st, int idx, double v)
{
    put(st, idx, sl_xasprintf("%.17g", v), 0, 0, FLOAT8_OID);
}

static void pg_bind_null(struct sl_stmt *st, int idx)
{
    put(st, idx, NULL, 0, 0, 0);
}

/* Prepares on this connection. PostgreSQL types parameters from their
 * context; where it cannot (`? IS NULL`), prepare again with the types of
 * what was bound. A failed prepare aborts a transaction, so inside one the
 * first try runs under a savepoint. */
static enum sl_err prepare(struct pg_db *db, struct pg_stmt *ps, struct sl_error *err)
{
    bool in_tx = PQtransactionStatus(db->c) == PQTRANS_INTRANS;
    PGresult *res;
    enum sl_err rc;
    char what[120];

    snprintf(what, sizeof(what), "prepare \"%.80s\"", ps->key);

    if (in_tx)
        PQclear(PQexec(db->c, "SAVEPOINT sl_prepare"));
    res = PQprepare(db->c, ps->name, ps->sql, 0, NULL);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        if (in_tx)
            PQclear(PQexec(db->c, "RELEASE SAVEPOINT sl_prepare"));
        ps->prepared = true;
        return SL_OK;
    }
    {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool untyped = state && (strcmp(state, "42P18") == 0 || strcmp(state, "42725") == 0);
        if (!untyped) {
            rc = fail(db, res, what, err);
            PQclear(res);
            if (in_tx)
                PQclear(PQexec(db->c, "ROLLBACK TO SAVEPOINT sl_prepare"));
            return rc;
        }
    }
    PQclear(res);
    if (in_tx)
        PQclear(PQexec(db->c, "ROLLBACK TO SAVEPOINT sl_prepare"));
    for (int i = 0; i < ps->nparams; i++)
        if (!ps->types[i])
            ps->types[i] = TEXT_OID; /* a NULL or a string */
    res = PQprepare(db->c, ps->name, ps->sql, ps->nparams, ps->types);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail(db, res, what, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    if (in_tx)
        PQclear(PQexec(db->c, "RELEASE SAVEPOINT sl_prepare"));
    ps->prepared = true;
    return SL_OK;
}

static void count_changes(struct pg_db *db, PGresult *res)
{
    const char *n = PQcmdTuples(res), *tag = PQcmdStatus(res);

    if (n[0] && (strncmp(tag, "INSERT", 6) == 0 || strncmp(tag, "UPDATE", 6) == 0 ||
                 strncmp(tag, "DELETE", 6) == 0))
        db->changes = (int)strtol(n, NULL, 10);
}

static int pg_step(struct sl_stmt *st, struct sl_error *err)
{
    struct pg_stmt *ps = ST(st);
    struct pg_db *db = DB(st->db);

    for (int i = 0; i < ps->ndec; i++) {
        PQfreemem(ps->dec[i]);
        ps->dec[i] = NULL;
    }
    if (!ps->ran) {
        ExecStatusType s;
        if (ensure(db, err) != SL_OK)
            return -1;
        if (!ps->prepared && prepare(db, ps, err) != SL_OK)
            return -1;
        ps->res = PQexecPrepared(db->c, ps->name, ps->nparams, (const char *const *)ps->vals,
                                 ps->lens, ps->fmts, 0);
        ps->ran = true;
        s = PQresultStatus(ps->res);
        if (s == PGRES_FATAL_ERROR && PQstatus(db->c) != CONNECTION_OK && !db->tx &&
            strncmp(ps->key, "SELECT", 6) == 0) {
            /* A read on its own changes nothing: reconnect and read again. */
            PQclear(ps->res);
            ps->res = NULL;
            db->next_try = 0;
            if (ensure(db, err) != SL_OK || prepare(db, ps, err) != SL_OK)
                return -1;
            ps->res = PQexecPrepared(db->c, ps->name, ps->nparams, (const char *const *)ps->vals,
                                     ps->lens, ps->fmts, 0);
            s = PQresultStatus(ps->res);
        }
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            fail(db, ps->res, "step", err);
            PQclear(ps->res);
            ps->res = NULL;
            return -1;
        }
        count_changes(db, ps->res);
        ps->nrows = s == PGRES_TUPLES_OK ? PQntuples(ps->res) : 0;
        if (s == PGRES_TUPLES_OK && PQnfields(ps->res) > ps->ndec) {
            ps->dec = sl_xrealloc(ps->dec, (size_t)PQnfields(ps->res) * sizeof(*ps->dec));
            ps->declen = sl_xrealloc(ps->declen, (size_t)PQnfields(ps->res) * sizeof(*ps->declen));
            for (int i = ps->ndec; i < PQnfields(ps->res); i++)
                ps->dec[i] = NULL;
            ps->ndec = PQnfields(ps->res);
        }
        ps->row = -1;
    }
    if (ps->row + 1 < ps->nrows) {
        ps->row++;
        return 1;
    }
    ps->row = ps->nrows;
    return 0;
}

static const char *value(struct pg_stmt *ps, int col)
{
    if (!ps->res || ps->row < 0 || ps->row >= ps->nrows || col < 0 || col >= PQnfields(ps->res) ||
        PQgetisnull(ps->res, ps->row, col))
        return NULL;
    return PQgetvalue(ps->res, ps->row, col);
}

static int64_t pg_col_int(struct sl_stmt *st, int col)
{
    const char *v = value(ST(st), col);

    if (!v)
        return 0;
    if (strcmp(v, "t") == 0)
        return 1;
    if (strcmp(v, "f") == 0)
        return 0;
    /* numeric (from sum()) or a float: take the integer part as SQLite does */
    if (strpbrk(v, ".eE"))
        return (int64_t)strtod(v, NULL);
    return (int64_t)strtoll(v, NULL, 10);
}

static double pg_col_real(struct sl_stmt *st, int col)
{
    const char *v = value(ST(st), col);

    return v ? strtod(v, NULL) : 0.0;
}

static const char *pg_col_text(struct sl_stmt *st, int col)
{
    return value(ST(st), col);
}

static const void *pg_col_blob(struct sl_stmt *st, int col, size_t *n)
{
    struct pg_stmt *ps = ST(st);
    const char *v = value(ps, col);

    *n = 0;
    if (!v)
        return NULL;
    if (PQftype(ps->res, col) != BYTEA_OID) {
        *n = (size_t)PQgetlength(ps->res, ps->row, col);
        return v;
    }
    if (!ps->dec[col])
        ps->dec[col] = PQunescapeBytea((const unsigned char *)v, &ps->declen[col]);
    if (!ps->dec[col])
        return NULL;
    *n = ps->declen[col];
    return ps->dec[col];
}

static bool pg_col_null(struct sl_stmt *st, int col)
{
    return value(ST(st), col) == NULL;
}

static void pg_done(struct sl_stmt *st)
{
    struct pg_stmt *ps = ST(st);

    stmt_reset(ps);
    for (int i = 0; i < ps->nparams; i++) {
        free(ps->vals[i]);
        ps->vals[i] = NULL;
        ps->lens[i] = 0;
        ps->fmts[i] = 0;
    }
}

static int64_t pg_last_id(struct sl_db *d)
{
    struct pg_db *db = DB(d);
    PGresult *res = PQexec(db->c, "SELECT lastval()");
    int64_t id = 0;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        id = (int64_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

static int pg_changes(struct sl_db *d)
{
    return DB(d)->changes;
}

static enum sl_err pg_schema_get(struct sl_db *d, int *version, struct sl_error *err)
{
    struct pg_db *db = DB(d);
    PGresult *res;
    enum sl_err rc = SL_OK;

    *version = 0;
    rc = ensure(db, err);
    if (rc)
        return rc;
    /* Ask whether the table exists first: a failed query would abort the
     * migration's transaction. */
    res = PQexec(db->c, "SELECT to_regclass('schema_version') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail(db, res, "schema version", err);
        PQclear(res);
        return rc;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        PQclear(res);
        return SL_OK; /* a new database */
    }
    PQclear(res);
    res = PQexec(db->c, "SELECT max(version) FROM schema_version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail(db, res, "schema version", err);
        PQclear(res);
        return rc;
    }
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        *version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return SL_OK;
}

static enum sl_err pg_schema_set(struct sl_db *d, int version, struct sl_error *err)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);"
             "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
             version);
    return run(DB(d), sql, "schema version", err);
}

/* The leader lock lives as long as this connection: while we hold it a
 * trivial query proves the connection (and so the lock) is still there; a
 * lost connection drops leadership at once, and a later round reconnects and
 * competes again. */
static enum sl_err pg_try_leader(struct sl_db *d, bool *leader, struct sl_error *err)
{
    struct pg_db *db = DB(d);
    PGresult *res;
    enum sl_err rc;

    *leader = false;
    if (PQstatus(db->c) != CONNECTION_OK)
        db->leader = false;
    rc = ensure(db, err);
    if (rc)
        return rc;
    res = PQexec(db->c, db->leader ? "SELECT true" : LEADER_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rc = fail(db, res, "leader lock", err);
        PQclear(res);
        db->leader = false;
        return rc;
    }
    db->leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    *leader = db->leader;
    return SL_OK;
}

/* Drains what libpq has already read; true when a notification was there. */
static bool drain(struct pg_db *db)
{
    PGnotify *n;
    bool got = false;

    while ((n = PQnotifies(db->c)) != NULL) {
        got = true;
        PQfreemem(n);
    }
    return got;
}

static enum sl_err pg_wait(struct sl_db *d, int timeout_ms, bool *notified, struct sl_error *err)
{
    struct pg_db *db = DB(d);
    struct pollfd p;

    *notified = false;
    if (PQstatus(db->c) != CONNECTION_OK || PQsocket(db->c) < 0)
        return sl_error_set(err, SL_EUNAVAILABLE, "database %s: listening connection lost",
                            db->url);
    if (!PQconsumeInput(db->c))
        goto lost;
    if (drain(db)) {
        *notified = true;
        return SL_OK;
    }
    p.fd = PQsocket(db->c);
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, timeout_ms) > 0) {
        if (!PQconsumeInput(db->c))
            goto lost;
        *notified = drain(db);
    }
    if (PQstatus(db->c) != CONNECTION_OK)
        goto lost;
    return SL_OK;
lost:
    return sl_error_set(err, SL_EUNAVAILABLE, "database %s: listening connection lost", db->url);
}

const struct sl_db_driver sl__db_pg = {
    .name = "postgresql",
    .kind = SL_DB_POSTGRESQL,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .begin_read = pg_begin_read,
    .commit = pg_commit,
    .lock = pg_lock,
    .rollback = pg_rollback,
    .stmt = pg_stmt,
    .bind_int = pg_bind_int,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_real = pg_bind_real,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_int = pg_col_int,
    .col_real = pg_col_real,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_null = pg_col_null,
    .done = pg_done,
    .last_id = pg_last_id,
    .changes = pg_changes,
    .schema_get = pg_schema_get,
    .schema_set = pg_schema_set,
    .try_leader = pg_try_leader,
    .wait = pg_wait,
};
