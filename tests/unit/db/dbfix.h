/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Databases for the db unit tests: a SQLite file in a fresh temporary
 * folder, or a fresh PostgreSQL database of its own on the cluster
 * tests/integration/pg_run.py starts and names in SLUICE_TEST_PG_URL (the
 * tests run in parallel, so each gets its own). Without that variable a
 * PostgreSQL test is skipped here: `ctest -R unit_pg.db` runs that half.
 */
#ifndef SL_TESTS_UNIT_DB_DBFIX_H
#define SL_TESTS_UNIT_DB_DBFIX_H

struct sl_db;

/* "sqlite:DIR/t.db" in a new temporary folder; the caller frees it. */
char *dbfix_sqlite_url(void);
/* The URL of a new, empty PostgreSQL database `name` (dropped first if it
 * exists); the caller frees it. */
char *dbfix_pg_url(const char *name);
/* Opens `url` (asserting it opens). */
struct sl_db *dbfix_open(const char *url);
struct sl_db *dbfix_open_sqlite(void);
struct sl_db *dbfix_open_pg(const char *name);

#endif
