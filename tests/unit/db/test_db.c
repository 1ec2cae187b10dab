/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The db.h contract, the same checks on both drivers: migrations, last_id and
 * changes, ?N parameters, bytea/BLOB and 64-bit round trips, NULLs, a
 * parameter PostgreSQL cannot type alone, error kinds (conflict, unsupported
 * schema, unreachable), the write lock excluding a second connection, the
 * leader lock and notifications between connections, and
 * passwords kept out of messages. The PostgreSQL half runs under
 * tests/integration/pg_run.py (CTest unit_pg.db), which starts a throwaway
 * cluster and passes its URL in SLUICE_TEST_PG_URL; unit.db runs the SQLite
 * half.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "db/db.h"
#include "../helpers.h"
#include "dbfix.h"

static struct sl_db *open_ok(const char *url)
{
    struct sl_db *db = NULL;
    struct sl_error err;

    sl_error_clear(&err);
    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "open %s: %s", url, err.msg);
    return db;
}

static int64_t one_int(struct sl_db *db, const char *sql, const char *arg)
{
    struct sl_error err;
    struct sl_stmt *st = sl_db_stmt(db, sql, &err);
    int64_t v;

    cr_assert(st, "%s: %s", sql, err.msg);
    if (arg)
        sl_stmt_text(st, 1, arg);
    cr_assert_eq(sl_stmt_step(st, &err), 1, "%s: %s", sql, err.msg);
    v = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    return v;
}

static void conformance(const char *url)
{
    struct sl_db *db = open_ok(url);
    struct sl_error err;
    struct sl_stmt *st;
    int64_t id1, id2;
    const unsigned char hash[32] = {0, 1, 2, 0, 0xff, 0xfe, '\\', 'x', 0, [31] = 0x80};
    const void *p;
    size_t n;

    cr_assert_eq(sl_db_schema_version(db), 13);

    /* inserts: last_id and changes */
    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    st = sl_db_stmt(db, "INSERT INTO users (name, email, is_admin, created) VALUES (?, ?, 0, ?)",
                    &err);
    cr_assert(st, "%s", err.msg);
    sl_stmt_text(st, 1, "ann");
    sl_stmt_text(st, 2, NULL);
    sl_stmt_int(st, 3, ((int64_t)1 << 40) + 3); /* does not fit PostgreSQL's integer */
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    id1 = sl_db_last_id(db);
    cr_assert_eq(sl_db_changes(db), 1);
    sl_stmt_text(st, 1, "bob");
    sl_stmt_text(st, 2, "bob@example.org");
    sl_stmt_int(st, 3, 7);
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    id2 = sl_db_last_id(db);
    cr_assert_gt(id1, 0);
    cr_assert_eq(id2, id1 + 1);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_commit(db, &err), SL_OK, "%s", err.msg);

    /* ?N used twice; 64-bit values; NULL */
    cr_assert_eq(one_int(db, "SELECT count(*) FROM users WHERE name = ?1 OR email = ?1", "bob"), 1);
    cr_assert_eq(one_int(db, "SELECT created FROM users WHERE name = ?", "ann"),
                 ((int64_t)1 << 40) + 3);
    st = sl_db_stmt(db, "SELECT email, name FROM users WHERE name = ?", &err);
    sl_stmt_text(st, 1, "ann");
    cr_assert_eq(sl_stmt_step(st, &err), 1);
    cr_assert(sl_stmt_col_null(st, 0));
    cr_assert_null(sl_stmt_col_text(st, 0));
    cr_assert_str_eq(sl_stmt_col_text(st, 1), "ann");
    cr_assert_eq(sl_stmt_step(st, &err), 0);
    sl_stmt_done(st);

    /* a parameter with no context to type it ("? IS NULL") */
    st = sl_db_stmt(db, "SELECT count(*) FROM users WHERE (? IS NULL OR name = ?)", &err);
    cr_assert(st, "%s", err.msg);
    sl_stmt_null(st, 1);
    sl_stmt_text(st, 2, "nobody");
    cr_assert_eq(sl_stmt_step(st, &err), 1, "%s", err.msg);
    cr_assert_eq(sl_stmt_col_int(st, 0), 2);
    sl_stmt_done(st);

    /* binary round trip: NUL bytes, 0xff, a backslash-x that is not hex */
    st = sl_db_stmt(
        db, "INSERT INTO tokens (user_id, hash, scopes, created) VALUES (?, ?, 'read', 1)", &err);
    sl_stmt_int(st, 1, id1);
    sl_stmt_blob(st, 2, hash, sizeof(hash));
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    st = sl_db_stmt(db, "SELECT hash, length(hash) FROM tokens WHERE hash = ?", &err);
    sl_stmt_blob(st, 1, hash, sizeof(hash));
    cr_assert_eq(sl_stmt_step(st, &err), 1, "%s", err.msg);
    p = sl_stmt_col_blob(st, 0, &n);
    cr_assert_eq(n, sizeof(hash));
    cr_assert_eq(memcmp(p, hash, n), 0);
    cr_assert_eq(sl_stmt_col_int(st, 1), 32);
    sl_stmt_done(st);

    /* doubles keep all their bits (REAL is 4 bytes on PostgreSQL) */
    st = sl_db_stmt(db, "INSERT INTO orgs (name, created) VALUES ('o', 1)", &err);
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    st = sl_db_stmt(db, "INSERT INTO models (org_id, name, created) VALUES (?, 'm', 1)", &err);
    sl_stmt_int(st, 1, sl_db_last_id(db));
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    st = sl_db_stmt(db, "INSERT INTO fp_lineages (model_id, density, created) VALUES (?, ?, 1)",
                    &err);
    sl_stmt_int(st, 1, sl_db_last_id(db));
    sl_stmt_real(st, 2, 0.1);
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    st = sl_db_stmt(db, "SELECT density FROM fp_lineages", &err);
    cr_assert_eq(sl_stmt_step(st, &err), 1, "%s", err.msg);
    cr_assert_eq(sl_stmt_col_real(st, 0), 0.1);
    sl_stmt_done(st);

    /* a broken constraint is a conflict, and the connection stays usable */
    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    st = sl_db_stmt(db, "INSERT INTO users (name, is_admin, created) VALUES (?, 0, 1)", &err);
    sl_stmt_text(st, 1, "ann");
    cr_assert_eq(sl_stmt_run(st, &err), SL_ECONFLICT, "%s", err.msg);
    sl_db_rollback(db);
    st = sl_db_stmt(db, "UPDATE users SET email = ? WHERE name <> ?", &err);
    sl_stmt_text(st, 1, "x@example.org");
    sl_stmt_text(st, 2, "zed");
    cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_changes(db), 2);

    /* names sort byte by byte on both (SQLite's order), whatever the
     * database's collation */
    {
        const char *names[] = {"b", "_x", "a", "B"}, *want[] = {"B", "_x", "a", "b"};
        st = sl_db_stmt(db, "INSERT INTO orgs (name, created) VALUES (?, 2)", &err);
        for (int i = 0; i < 4; i++) {
            sl_stmt_text(st, 1, names[i]);
            cr_assert_eq(sl_stmt_run(st, &err), SL_OK, "%s", err.msg);
        }
        st = sl_db_stmt(db, "SELECT name FROM orgs WHERE created = 2 ORDER BY name", &err);
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(sl_stmt_step(st, &err), 1, "%s", err.msg);
            cr_assert_str_eq(sl_stmt_col_text(st, 0), want[i]);
        }
        sl_stmt_done(st);
        cr_assert_eq(one_int(db, "SELECT count(*) FROM orgs WHERE created = 2 AND name > ?", "_x"),
                     2);
    }

    /* the lock primitive refuses to run outside a write transaction */
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_SEQ, &err), SL_EINTERNAL);
    sl_db_close(db);
}

Test(sqlite, conformance)
{
    char *url = dbfix_sqlite_url();

    conformance(url);
    free(url);
}

Test(pg, conformance)
{
    char *url = dbfix_pg_url("t_conformance");

    conformance(url);
    free(url);
}

/* ---- the write lock excludes a second connection ---- */

struct waiter {
    const char *url;
    atomic_int state; /* 0 waiting to begin, 1 began, 2 done */
};

static void *second_writer(void *arg)
{
    struct waiter *w = arg;
    struct sl_db *db = NULL;
    struct sl_error err;

    if (sl_db_open(w->url, &db, &err) != SL_OK)
        return NULL;
    atomic_store(&w->state, 0);
    if (sl_db_begin(db, &err) == SL_OK) {
        atomic_store(&w->state, 1);
        sl_db_commit(db, &err);
    }
    sl_db_close(db);
    atomic_store(&w->state, 2);
    return NULL;
}

static void exclusion(const char *url)
{
    struct sl_db *a = open_ok(url);
    struct sl_error err;
    struct waiter w = {.url = url, .state = -1};
    pthread_t t;

    cr_assert_eq(sl_db_begin(a, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(a, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    pthread_create(&t, NULL, second_writer, &w);
    usleep(400 * 1000);
    cr_assert_leq(atomic_load(&w.state), 0, "a second writer began while the first held the lock");
    cr_assert_eq(sl_db_commit(a, &err), SL_OK, "%s", err.msg);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&w.state), 2);
    sl_db_close(a);
}

Test(sqlite, write_lock_excludes_a_second_connection)
{
    char *url = dbfix_sqlite_url();
    struct sl_db *db = open_ok(url); /* make the file and schema first */

    sl_db_close(db);
    exclusion(url);
    free(url);
}

Test(pg, write_lock_excludes_a_second_connection)
{
    char *url = dbfix_pg_url("t_exclusion");

    exclusion(url);
    free(url);
}

/* Whether a second connection, outside any write transaction, can take the
 * advisory lock of `what` now (and gives it back at once). */
static bool lock_free(struct sl_db *other, enum sl_db_lock what)
{
    struct sl_error err;
    struct sl_stmt *st;
    bool got;

    cr_assert_eq(sl_db_begin_read(other, &err), SL_OK, "%s", err.msg);
    st = sl_db_stmt(other, "SELECT pg_try_advisory_xact_lock(7236281745052958721 + ?)::int", &err);
    cr_assert(st, "%s", err.msg);
    sl_stmt_int(st, 1, (int64_t)what);
    cr_assert_eq(sl_stmt_step(st, &err), 1, "%s", err.msg);
    got = sl_stmt_col_int(st, 0) == 1;
    sl_stmt_done(st);
    sl_db_rollback(other);
    return got;
}

/* A lock asked for twice in one transaction costs one round trip, but the
 * next transaction (after a commit or a rollback) takes it again for real. */
Test(pg, area_lock_is_held_once_per_transaction)
{
    char *url = dbfix_pg_url("t_area_lock");
    struct sl_db *db = open_ok(url), *other = open_ok(url);
    struct sl_error err;

    cr_assert(lock_free(other, SL_DB_LOCK_LOG));
    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    cr_expect(!lock_free(other, SL_DB_LOCK_LOG), "held inside the transaction");
    cr_expect(lock_free(other, SL_DB_LOCK_SEQ), "another area is not held");
    cr_assert_eq(sl_db_commit(db, &err), SL_OK, "%s", err.msg);
    cr_expect(lock_free(other, SL_DB_LOCK_LOG), "released at commit");
    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    cr_expect(!lock_free(other, SL_DB_LOCK_LOG), "taken again after a commit");
    sl_db_rollback(db);
    cr_expect(lock_free(other, SL_DB_LOCK_LOG), "released at rollback");
    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    cr_expect(!lock_free(other, SL_DB_LOCK_LOG), "taken again after a rollback");
    sl_db_rollback(db);
    sl_db_close(other);
    sl_db_close(db);
    free(url);
}

/* ---- first opens at once on a new database run each migration once ---- */

struct opener {
    const char *url;
    enum sl_err rc;
    int version;
    char msg[512];
};

static void *open_one(void *arg)
{
    struct opener *o = arg;
    struct sl_db *db = NULL;
    struct sl_error err;

    sl_error_clear(&err);
    o->rc = sl_db_open(o->url, &db, &err);
    snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
    if (!o->rc) {
        o->version = sl_db_schema_version(db);
        sl_db_close(db);
    }
    return NULL;
}

static void concurrent_first_open(const char *url)
{
    struct opener o[4];
    pthread_t t[4];

    for (int i = 0; i < 4; i++) {
        memset(&o[i], 0, sizeof(o[i]));
        o[i].url = url;
        pthread_create(&t[i], NULL, open_one, &o[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(o[i].rc, SL_OK, "opener %d: %s", i, o[i].msg);
        cr_assert_eq(o[i].version, 13);
    }
}

Test(sqlite, concurrent_first_open)
{
    char *url = dbfix_sqlite_url();

    concurrent_first_open(url);
    free(url);
}

Test(pg, concurrent_first_open)
{
    char *url = dbfix_pg_url("t_first_open");

    concurrent_first_open(url);
    free(url);
}

/* ---- both migration lists make the same tables and columns ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "table.column" of every column, sorted; the caller frees. */
static char **columns(struct sl_db *db, const char *sql, size_t *n)
{
    struct sl_error err;
    struct sl_stmt *st = sl_db_stmt(db, sql, &err);
    char **out = NULL;
    int r;

    cr_assert(st, "%s", err.msg);
    *n = 0;
    while ((r = sl_stmt_step(st, &err)) == 1) {
        const char *t = sl_stmt_col_text(st, 0), *c = sl_stmt_col_text(st, 1);
        size_t len = strlen(t) + strlen(c) + 2;
        out = realloc(out, (*n + 1) * sizeof(*out));
        out[*n] = malloc(len);
        snprintf(out[*n], len, "%s.%s", t, c);
        (*n)++;
    }
    cr_assert_eq(r, 0, "%s", err.msg);
    sl_stmt_done(st);
    qsort(out, *n, sizeof(*out), cmp_str);
    return out;
}

Test(pg, same_tables_and_columns_as_sqlite)
{
    char *lite_url = dbfix_sqlite_url(), *url = dbfix_pg_url("t_schema");
    struct sl_db *lite = open_ok(lite_url), *pg = open_ok(url);
    size_t nl, np;
    char **l = columns(lite,
                       "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
                       "WHERE m.type = 'table'",
                       &nl);
    char **p = columns(pg,
                       "SELECT table_name::text, column_name::text FROM "
                       "information_schema.columns WHERE table_schema = 'public' AND "
                       "table_name <> 'schema_version'",
                       &np);

    cr_assert_gt(nl, 50);
    for (size_t i = 0; i < nl && i < np; i++)
        cr_assert_str_eq(p[i], l[i], "column %zu differs: SQLite has %s, PostgreSQL %s", i, l[i],
                         p[i]);
    cr_assert_eq(np, nl, "SQLite has %zu columns, PostgreSQL %zu", nl, np);
    for (size_t i = 0; i < nl; i++)
        free(l[i]);
    for (size_t i = 0; i < np; i++)
        free(p[i]);
    free(l);
    free(p);
    sl_db_close(lite);
    sl_db_close(pg);
    free(lite_url);
    free(url);
}

/* ---- a schema newer than this program ---- */

Test(sqlite, newer_schema_is_refused)
{
    char *url = dbfix_sqlite_url();
    struct sl_db *db = open_ok(url);
    struct sl_error err;

    cr_assert_eq(sl_db_exec(db, "PRAGMA user_version = 99", &err), SL_OK);
    sl_db_close(db);
    db = NULL;
    cr_assert_eq(sl_db_open(url, &db, &err), SL_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "99"), "%s", err.msg);
    free(url);
}

Test(pg, newer_schema_is_refused)
{
    char *url = dbfix_pg_url("t_newer");
    struct sl_db *db = open_ok(url);
    struct sl_error err;

    cr_assert_eq(sl_db_exec(db, "UPDATE schema_version SET version = 99", &err), SL_OK, "%s",
                 err.msg);
    sl_db_close(db);
    db = NULL;
    cr_assert_eq(sl_db_open(url, &db, &err), SL_EUNSUPPORTED, "%s", err.msg);
    cr_assert(strstr(err.msg, "99"), "%s", err.msg);
    free(url);
}

/* ---- URLs ---- */

Test(url, unknown_kinds_and_unreachable_servers)
{
    struct sl_db *db = NULL;
    struct sl_error err;

    cr_assert_eq(sl_db_open("mysql://root:pw@localhost/x", &db, &err), SL_EUSAGE);
    cr_assert(strstr(err.msg, "unknown kind"), "%s", err.msg);
    cr_assert_null(strstr(err.msg, "pw@"), "%s", err.msg);
    cr_assert_eq(sl_db_open("sqlite:", &db, &err), SL_EUSAGE);
    /* nothing listens on port 1 of a private socket folder */
    cr_assert_eq(
        sl_db_open("postgresql://u:topsecret@/db?host=/nonexistent-sluice&port=1", &db, &err),
        SL_EUNAVAILABLE);
    cr_assert(strstr(err.msg, "cannot connect"), "%s", err.msg);
    cr_assert_null(strstr(err.msg, "topsecret"), "%s", err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "%s", err.msg);
}

Test(url, redaction)
{
    char out[256];

    sl_db_redact_url("postgresql://ann:pw@db.example.org:5432/hub", out, sizeof(out));
    cr_assert_str_eq(out, "postgresql://ann@db.example.org:5432/hub");
    sl_db_redact_url("postgresql://ann@h/hub?password=pw&sslmode=require", out, sizeof(out));
    cr_assert_str_eq(out, "postgresql://ann@h/hub?password=...&sslmode=require");
    sl_db_redact_url("postgres://a:b:c@h/x", out, sizeof(out));
    cr_assert_str_eq(out, "postgres://a@h/x");
    sl_db_redact_url("postgresql://h/x?user=me", out, sizeof(out));
    cr_assert_str_eq(out, "postgresql://h/x?user=me");
    sl_db_redact_url("sqlite:/var/lib/sluice/sluice.db", out, sizeof(out));
    cr_assert_str_eq(out, "sqlite:/var/lib/sluice/sluice.db");
    sl_db_redact_url("postgresql://ann:pw@h/x", out, 8);
    cr_assert_eq(strlen(out), 7);
    cr_assert_null(strstr(out, "pw"));
}

/* ---- many servers: the leader lock and notifications (db.h) ---- */

static bool leads(struct sl_db *db)
{
    struct sl_error err;
    bool leader = false;

    sl_error_clear(&err);
    if (sl_db_try_leader(db, &leader, &err) != SL_OK)
        return false;
    return leader;
}

/* Asks up to two seconds for leadership. */
static bool comes_to_lead(struct sl_db *db)
{
    for (int i = 0; i < 40; i++) {
        if (leads(db))
            return true;
        usleep(50 * 1000);
    }
    return false;
}

Test(sqlite, one_process_leads_and_waits_quietly)
{
    char *url = dbfix_sqlite_url();
    struct sl_db *db = open_ok(url);
    struct sl_error err;
    bool notified = true;

    cr_assert(leads(db));
    cr_assert_eq(sl_db_listen(db, "sluice_cache", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_notify(db, "sluice_cache", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_wait(db, 20, &notified, &err), SL_OK, "%s", err.msg);
    cr_assert_not(notified);
    /* a channel is an identifier we write into SQL: nothing else gets in */
    cr_assert_neq(sl_db_notify(db, "x; DROP TABLE users", &err), SL_OK);
    cr_assert_neq(sl_db_listen(db, "", &err), SL_OK);
    sl_db_close(db);
    free(url);
}

Test(pg, one_leader_until_its_connection_ends)
{
    char *url = dbfix_pg_url("t_leader");
    struct sl_db *a = open_ok(url), *b = open_ok(url), *c = open_ok(url);
    struct sl_error err;

    cr_assert(leads(a));
    cr_assert_not(leads(b));
    cr_assert(leads(a), "the leader keeps leading");
    cr_assert_not(leads(c));
    /* the leader goes away: another takes over */
    sl_db_close(a);
    cr_assert(comes_to_lead(b), "no takeover after the leader's connection closed");
    cr_assert_not(leads(c));
    /* PostgreSQL ends the leader's session (as when its server is killed) */
    cr_assert_eq(sl_db_exec(c,
                            /* this test's database only: tests run in parallel
                             * on one cluster, and migrations take advisory
                             * locks too */
                            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                            "'advisory' AND granted AND pid <> pg_backend_pid() AND database = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())",
                            &err),
                 SL_OK, "%s", err.msg);
    cr_assert(comes_to_lead(c), "no takeover after the leader's session ended");
    cr_assert_not(leads(b), "the old leader must learn it lost the lock");
    sl_db_close(b);
    sl_db_close(c);
    free(url);
}

Test(pg, notifications_arrive_after_commit)
{
    char *url = dbfix_pg_url("t_notify");
    struct sl_db *a = open_ok(url), *b = open_ok(url);
    struct sl_error err;
    bool notified = false;

    cr_assert_eq(sl_db_listen(a, "sluice_cache", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_wait(a, 10, &notified, &err), SL_OK, "%s", err.msg);
    cr_assert_not(notified);
    cr_assert_eq(sl_db_notify(b, "sluice_cache", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_wait(a, 2000, &notified, &err), SL_OK, "%s", err.msg);
    cr_assert(notified);
    cr_assert_eq(sl_db_wait(a, 10, &notified, &err), SL_OK, "%s", err.msg);
    cr_assert_not(notified, "one notification is reported once");
    /* inside a transaction: only once it commits */
    cr_assert_eq(sl_db_begin(b, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_notify(b, "sluice_cache", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_wait(a, 100, &notified, &err), SL_OK, "%s", err.msg);
    cr_assert_not(notified, "seen before the commit");
    cr_assert_eq(sl_db_commit(b, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_wait(a, 2000, &notified, &err), SL_OK, "%s", err.msg);
    cr_assert(notified);
    /* another channel is not heard */
    cr_assert_eq(sl_db_notify(b, "other_channel", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_wait(a, 100, &notified, &err), SL_OK, "%s", err.msg);
    cr_assert_not(notified);
    /* the listening session ended: an error, so the caller listens anew */
    cr_assert_eq(sl_db_exec(b,
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "datname = current_database() AND pid <> pg_backend_pid()",
                            &err),
                 SL_OK, "%s", err.msg);
    {
        enum sl_err rc = SL_OK;
        for (int i = 0; i < 20 && rc == SL_OK; i++)
            rc = sl_db_wait(a, 100, &notified, &err);
        cr_assert_eq(rc, SL_EUNAVAILABLE, "a lost listening connection went unnoticed");
    }
    sl_db_close(a);
    sl_db_close(b);
    free(url);
}

/* A statement held (bound, half-way through its rows) while a connection
 * prepares more distinct statements than a small cache would keep stays
 * that statement: the SQLite driver once evicted the oldest entry and moved
 * the others, so a held pointer ran someone else's SQL after 96. */
static void held_statement_survives(const char *url)
{
    struct sl_db *db = dbfix_open(url);
    struct sl_error err;
    struct sl_stmt *held, *other;
    char *sql[300];

    held = sl_db_stmt(db, "SELECT ? + 1 UNION ALL SELECT ? + 2", &err);
    cr_assert(held, "%s", err.msg);
    sl_stmt_int(held, 1, 40);
    sl_stmt_int(held, 2, 40);
    cr_assert_eq(sl_stmt_step(held, &err), 1, "%s", err.msg);
    cr_assert_eq(sl_stmt_col_int(held, 0), 41);
    for (int i = 0; i < 300; i++) {
        sql[i] = sl_xasprintf("SELECT %d", i);
        other = sl_db_stmt(db, sql[i], &err);
        cr_assert(other, "statement %d: %s", i, err.msg);
        cr_assert_eq(sl_stmt_step(other, &err), 1, "%s", err.msg);
        cr_assert_eq(sl_stmt_col_int(other, 0), i);
        sl_stmt_done(other);
    }
    cr_assert_eq(sl_stmt_step(held, &err), 1, "%s", err.msg);
    cr_assert_eq(sl_stmt_col_int(held, 0), 42, "the held statement was replaced");
    cr_assert_eq(sl_stmt_step(held, &err), 0, "%s", err.msg);
    sl_stmt_done(held);
    sl_db_close(db);
    for (int i = 0; i < 300; i++)
        free(sql[i]);
}

Test(sqlite, held_statement_survives_many_others)
{
    char *url = dbfix_sqlite_url();

    held_statement_survives(url);
    free(url);
}

Test(pg, held_statement_survives_many_others)
{
    char *url = dbfix_pg_url("sl_held_stmt");

    held_statement_survives(url);
    free(url);
}
