/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Moving up: copies every table of a single-box SQLite database into a
 * PostgreSQL database at the same schema version (`sluice admin migrate`),
 * one transaction per table, and verifies each table by its row count and a
 * digest of its contents read back through both drivers. Statements are
 * built per table, so their texts are kept alive until the copy ends (the
 * statement caches key on the text's address).
 */
#include "db/db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define MAX_COLS   64
#define NAME_MAX_  63
#define MAX_TABLES 200
#define SQL_MAX    (64u * 1024u)     /* a statement built for one table */
#define ROW_MAX    ((size_t)1 << 30) /* one row rendered for its digest */

enum col_kind { COL_INT, COL_REAL, COL_TEXT, COL_BLOB };

struct table {
    char name[NAME_MAX_ + 1];
    int ncols;
    char cols[MAX_COLS][NAME_MAX_ + 1];
    enum col_kind kinds[MAX_COLS];
    bool has_id;
};

struct copy {
    struct sl_db *from, *to;
    char **sql; /* every statement text built, freed at the end */
    size_t nsql;
};

/* Keeps `s` (malloc'd) alive until the copy ends and returns it. */
static const char *keep(struct copy *c, char *s)
{
    c->sql = realloc(c->sql, (c->nsql + 1) * sizeof(*c->sql));
    if (!c->sql)
        abort();
    c->sql[c->nsql++] = s;
    return s;
}

/* SQLite's declared type to how the value is read and bound (the schema
 * uses only these four). */
static enum col_kind kind_of(const char *decl)
{
    if (strstr(decl, "INT"))
        return COL_INT;
    if (strstr(decl, "REAL") || strstr(decl, "FLOA") || strstr(decl, "DOUB"))
        return COL_REAL;
    if (strstr(decl, "TEXT") || strstr(decl, "CHAR") || strstr(decl, "CLOB"))
        return COL_TEXT;
    return COL_BLOB;
}

static bool plain_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= NAME_MAX_ && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* The tables of the source, in the order they were created (parents before
 * the tables that refer to them), with their columns. */
static enum sl_err list_tables(struct copy *c, struct table **out, size_t *n, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(c->from,
                   "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                   "'sqlite_%' ORDER BY rowid",
                   err);
    struct table *t = sl_xcalloc(MAX_TABLES, sizeof(*t));
    size_t count = 0;
    int row;
    enum sl_err rc = SL_OK;

    if (!st) {
        free(t);
        return err->code;
    }
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *name = sl_stmt_col_text(st, 0);
        if (!name || !plain_name(name) || count == MAX_TABLES) {
            rc = sl_error_set(err, SL_EINPUT, "source database: unexpected table \"%s\"",
                              name ? name : "");
            break;
        }
        snprintf(t[count++].name, sizeof(t[0].name), "%s", name);
    }
    sl_stmt_done(st);
    if (row < 0)
        rc = err->code;
    for (size_t i = 0; !rc && i < count; i++) {
        st = sl_db_stmt(c->from, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", err);
        if (!st) {
            rc = err->code;
            break;
        }
        sl_stmt_text(st, 1, t[i].name);
        while ((row = sl_stmt_step(st, err)) == 1) {
            const char *col = sl_stmt_col_text(st, 0), *decl = sl_stmt_col_text(st, 1);
            if (!col || !plain_name(col) || t[i].ncols == MAX_COLS) {
                rc = sl_error_set(err, SL_EINPUT, "source database: unexpected column in %s",
                                  t[i].name);
                break;
            }
            snprintf(t[i].cols[t[i].ncols], sizeof(t[i].cols[0]), "%s", col);
            t[i].kinds[t[i].ncols++] = kind_of(decl ? decl : "");
            if (strcmp(col, "id") == 0 && t[i].kinds[t[i].ncols - 1] == COL_INT)
                t[i].has_id = true;
        }
        sl_stmt_done(st);
        if (row < 0 && !rc)
            rc = err->code;
    }
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    *n = count;
    return SL_OK;
}

/* "a", "b", "c" */
static void col_list(const struct table *t, struct sl_buf *b)
{
    for (int i = 0; i < t->ncols; i++)
        sl_buf_addf(b, "%s\"%s\"", i ? ", " : "", t->cols[i]);
}

static enum sl_err count_rows(struct copy *c, struct sl_db *db, const struct table *t, int64_t *n,
                              struct sl_error *err)
{
    const char *sql = keep(c, sl_xasprintf("SELECT count(*) FROM \"%s\"", t->name));
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    int row;

    *n = 0;
    if (!st)
        return err->code;
    row = sl_stmt_step(st, err);
    if (row == 1)
        *n = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    return SL_OK;
}

/* Copies every row of `t` in the target's transaction. */
static enum sl_err copy_rows(struct copy *c, const struct table *t, struct sl_error *err)
{
    struct sl_buf sel = SL_BUF_INIT(SQL_MAX), ins = SL_BUF_INIT(SQL_MAX);
    const char *sel_sql, *ins_sql;
    struct sl_stmt *src, *dst;
    int row;
    enum sl_err rc = SL_OK;

    sl_buf_adds(&sel, "SELECT ");
    col_list(t, &sel);
    sl_buf_addf(&sel, " FROM \"%s\"", t->name);
    sl_buf_addf(&ins, "INSERT INTO \"%s\" (", t->name);
    col_list(t, &ins);
    sl_buf_adds(&ins, ") VALUES (");
    for (int i = 0; i < t->ncols; i++)
        sl_buf_adds(&ins, i ? ", ?" : "?");
    sl_buf_adds(&ins, ")");
    sel_sql = keep(c, sl_xstrdup(sel.data));
    ins_sql = keep(c, sl_xstrdup(ins.data));
    sl_buf_release(&sel);
    sl_buf_release(&ins);
    src = sl_db_stmt(c->from, sel_sql, err);
    if (!src)
        return err->code;
    while ((row = sl_stmt_step(src, err)) == 1) {
        dst = sl_db_stmt(c->to, ins_sql, err);
        if (!dst) {
            rc = err->code;
            break;
        }
        for (int i = 0; i < t->ncols; i++) {
            size_t n;
            const void *p;
            if (sl_stmt_col_null(src, i)) {
                sl_stmt_null(dst, i + 1);
                continue;
            }
            switch (t->kinds[i]) {
            case COL_INT:
                sl_stmt_int(dst, i + 1, sl_stmt_col_int(src, i));
                break;
            case COL_REAL:
                sl_stmt_real(dst, i + 1, sl_stmt_col_real(src, i));
                break;
            case COL_TEXT:
                sl_stmt_text(dst, i + 1, sl_stmt_col_text(src, i));
                break;
            case COL_BLOB:
                p = sl_stmt_col_blob(src, i, &n);
                sl_stmt_blob(dst, i + 1, p ? p : "", n);
                break;
            }
        }
        rc = sl_stmt_run(dst, err);
        if (rc) {
            char why[sizeof(err->msg)];
            snprintf(why, sizeof(why), "%s", err->msg);
            sl_error_set(err, rc, "copying %s: %s", t->name, why);
            break;
        }
    }
    if (row < 0 && !rc)
        rc = err->code;
    sl_stmt_done(src);
    if (!rc && t->has_id) {
        /* the next id PostgreSQL hands out follows the copied ones */
        char *sql = sl_xasprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) "
                                 "FROM \"%s\" HAVING max(id) IS NOT NULL",
                                 t->name, t->name);
        rc = sl_db_exec(c->to, sql, err);
        free(sql);
    }
    return rc;
}

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* A digest of the table's contents that does not depend on row order (the
 * two databases sort text differently): the sorted SHA-256 of each row. */
static enum sl_err digest(struct copy *c, struct sl_db *db, const struct table *t, int64_t rows,
                          unsigned char out[32], struct sl_error *err)
{
    struct sl_buf sel = SL_BUF_INIT(SQL_MAX), rowbuf = SL_BUF_INIT(ROW_MAX);
    const char *sql;
    struct sl_stmt *st;
    unsigned char *hashes;
    size_t n = 0, cap = rows > 0 ? (size_t)rows : 1;
    int row;
    enum sl_err rc = SL_OK;

    sl_buf_adds(&sel, "SELECT ");
    col_list(t, &sel);
    sl_buf_addf(&sel, " FROM \"%s\"", t->name);
    sql = keep(c, sl_xstrdup(sel.data));
    sl_buf_release(&sel);
    st = sl_db_stmt(db, sql, err);
    if (!st)
        return err->code;
    hashes = sl_xmalloc(cap * 32);
    while ((row = sl_stmt_step(st, err)) == 1) {
        sl_buf_reset(&rowbuf);
        for (int i = 0; i < t->ncols; i++) {
            const void *p;
            size_t len;
            if (sl_stmt_col_null(st, i)) {
                sl_buf_adds(&rowbuf, "N;");
                continue;
            }
            switch (t->kinds[i]) {
            case COL_INT:
                sl_buf_addf(&rowbuf, "I%lld;", (long long)sl_stmt_col_int(st, i));
                break;
            case COL_REAL:
                sl_buf_addf(&rowbuf, "R%.17g;", sl_stmt_col_real(st, i));
                break;
            case COL_TEXT:
                p = sl_stmt_col_text(st, i);
                len = strlen(p);
                sl_buf_addf(&rowbuf, "T%zu:", len);
                sl_buf_add(&rowbuf, p, len);
                break;
            case COL_BLOB:
                p = sl_stmt_col_blob(st, i, &len);
                sl_buf_addf(&rowbuf, "B%zu:", len);
                if (len)
                    sl_buf_add(&rowbuf, p, len);
                break;
            }
        }
        if (n == cap) {
            cap *= 2;
            hashes = realloc(hashes, cap * 32);
            if (!hashes)
                abort();
        }
        sl_sha256(rowbuf.data ? rowbuf.data : "", rowbuf.len, hashes + 32 * n);
        n++;
    }
    sl_stmt_done(st);
    if (row < 0)
        rc = err->code;
    if (!rc) {
        qsort(hashes, n, 32, cmp32);
        sl_sha256(hashes, n * 32, out);
    }
    free(hashes);
    sl_buf_release(&rowbuf);
    return rc;
}

enum sl_err sl_db_copy(struct sl_db *from, struct sl_db *to, sl_db_copy_note note, void *ctx,
                       struct sl_error *err)
{
    struct copy c = {from, to, NULL, 0};
    struct table *t = NULL;
    size_t n = 0;
    bool reading = false;
    enum sl_err rc;

    if (sl_db_kind(from) != SL_DB_SQLITE || sl_db_kind(to) != SL_DB_POSTGRESQL)
        return sl_error_set(err, SL_EUSAGE,
                            "migrate copies an SQLite database (--from-db sqlite:PATH) into "
                            "PostgreSQL (--to-db postgresql://...)");
    if (sl_db_schema_version(from) != sl_db_schema_version(to))
        return sl_error_set(err, SL_EINPUT, "schema versions differ: source %d, target %d",
                            sl_db_schema_version(from), sl_db_schema_version(to));
    /* one snapshot of the source for the whole copy */
    rc = sl_db_begin_read(from, err);
    if (rc)
        goto out;
    reading = true;
    rc = list_tables(&c, &t, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t have = 0, want = 0;
        unsigned char a[32], b[32];
        bool copied = false;
        rc = count_rows(&c, from, &t[i], &want, err);
        if (!rc)
            rc = count_rows(&c, to, &t[i], &have, err);
        if (rc)
            break;
        if (have != want && have != 0) {
            rc = sl_error_set(err, SL_ECONFLICT,
                              "table %s has %lld rows in the target and %lld in the source: the "
                              "target is neither empty nor a copy of this source (did a server "
                              "write to it, or the source change since the last run?)",
                              t[i].name, (long long)have, (long long)want);
            break;
        }
        if (have == 0 && want > 0) {
            rc = sl_db_begin(to, err);
            if (!rc)
                rc = copy_rows(&c, &t[i], err);
            if (!rc)
                rc = sl_db_commit(to, err);
            if (rc) {
                sl_db_rollback(to);
                break;
            }
            copied = true;
            rc = count_rows(&c, to, &t[i], &have, err);
            if (rc)
                break;
            if (have != want) {
                rc = sl_error_set(err, SL_EINTERNAL,
                                  "table %s: %lld rows copied but %lld in the target", t[i].name,
                                  (long long)want, (long long)have);
                break;
            }
        }
        rc = digest(&c, from, &t[i], want, a, err);
        if (!rc)
            rc = digest(&c, to, &t[i], have, b, err);
        if (rc)
            break;
        if (memcmp(a, b, 32) != 0) {
            rc = sl_error_set(err, SL_ECONFLICT,
                              "table %s: same row count (%lld) but different contents in the "
                              "target",
                              t[i].name, (long long)want);
            break;
        }
        if (note)
            note(ctx, t[i].name, want, copied);
    }
out:
    if (reading)
        sl_db_rollback(from);
    free(t);
    for (size_t i = 0; i < c.nsql; i++)
        free(c.sql[i]);
    free(c.sql);
    return rc;
}
