/* SPDX-License-Identifier: Apache-2.0 */
/* Databases for the db unit tests (dbfix.h). */
#include "dbfix.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "../helpers.h"

char *dbfix_sqlite_url(void)
{
    char *dir = th_tmpdir();
    size_t n = strlen(dir) + 32;
    char *url = malloc(n);

    snprintf(url, n, "sqlite:%s/t.db", dir);
    free(dir);
    return url;
}

char *dbfix_pg_url(const char *name)
{
    const char *base = getenv("SLUICE_TEST_PG_URL"), *at;
    struct sl_db *db = NULL;
    struct sl_error err;
    char sql[200], *url;
    size_t n;

    if (!base || !base[0])
        cr_skip_test("SLUICE_TEST_PG_URL is not set: the PostgreSQL half runs as "
                     "`ctest -R unit_pg.db` (tests/integration/pg_run.py starts PostgreSQL)");
    at = strstr(base, "///postgres?");
    cr_assert(at, "SLUICE_TEST_PG_URL must name the database postgres: %s", base);
    cr_assert_eq(sl_db_open(base, &db, &err), SL_OK, "%s", err.msg);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    cr_assert_eq(sl_db_exec(db, sql, &err), SL_OK, "%s", err.msg);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template0", name);
    cr_assert_eq(sl_db_exec(db, sql, &err), SL_OK, "%s", err.msg);
    sl_db_close(db);
    n = strlen(base) + strlen(name) + 1;
    url = malloc(n);
    snprintf(url, n, "%.*s///%s?%s", (int)(at - base), base, name, at + strlen("///postgres?"));
    return url;
}

struct sl_db *dbfix_open(const char *url)
{
    struct sl_db *db = NULL;
    struct sl_error err;

    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "open %s: %s", url, err.msg);
    return db;
}

struct sl_db *dbfix_open_sqlite(void)
{
    char *url = dbfix_sqlite_url();
    struct sl_db *db = dbfix_open(url);

    free(url);
    return db;
}

struct sl_db *dbfix_open_pg(const char *name)
{
    char *url = dbfix_pg_url(name);
    struct sl_db *db = dbfix_open(url);

    free(url);
    return db;
}
