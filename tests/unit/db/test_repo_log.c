/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repository operations of the transparency log (src/db/repo_log.c) on
 * both drivers: an empty log, entries appended and listed in order (and a
 * list stopped early), hashes found and not found, a second entry or hash at
 * the same place a conflict, the newest checkpoint (one of the same size
 * kept), the policy state, and a failed step failing the whole list. The
 * PostgreSQL half runs as `ctest -R unit_pg.db`.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "db/repo_log.h"
#include "../helpers.h"

static char *sqlite_url(void)
{
    char *dir = th_tmpdir();
    char *url = malloc(strlen(dir) + 32);

    snprintf(url, strlen(dir) + 32, "sqlite:%s/t.db", dir);
    free(dir);
    return url;
}

/* A fresh database of its own on the cluster of SLUICE_TEST_PG_URL. */
static char *pg_url(const char *name)
{
    const char *base = getenv("SLUICE_TEST_PG_URL"), *at;
    struct sl_db *db = NULL;
    struct sl_error err;
    char sql[200], *url;

    if (!base || !base[0])
        cr_skip_test("SLUICE_TEST_PG_URL is not set: the PostgreSQL half runs as "
                     "`ctest -R unit_pg.db`");
    at = strstr(base, "///postgres?");
    cr_assert(at, "SLUICE_TEST_PG_URL must name the database postgres: %s", base);
    cr_assert_eq(sl_db_open(base, &db, &err), SL_OK, "%s", err.msg);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    cr_assert_eq(sl_db_exec(db, sql, &err), SL_OK, "%s", err.msg);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template0", name);
    cr_assert_eq(sl_db_exec(db, sql, &err), SL_OK, "%s", err.msg);
    sl_db_close(db);
    url = malloc(strlen(base) + strlen(name) + 1);
    snprintf(url, strlen(base) + strlen(name) + 1, "%.*s///%s?%s", (int)(at - base), base, name,
             at + strlen("///postgres?"));
    return url;
}

struct seen {
    int64_t idx[8];
    int n, stop_at;
};

static int note_entry(void *ctx, const struct sl_log_entry_row *row)
{
    struct seen *s = ctx;

    cr_expect_eq(row->len, strlen(row->text));
    if (s->n < 8)
        s->idx[s->n] = row->idx;
    s->n++;
    return s->n == s->stop_at;
}

static void log_ops(const char *url)
{
    struct sl_db *db = NULL;
    struct sl_error err;
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_log_checkpoint_row cp;
    struct seen s;
    unsigned char h[32], got[32];
    uint64_t size = 99;
    char *value = NULL;
    bool found = true;

    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_log_size(db, &size, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(size, 0, "an empty log has no entries");
    cr_expect_eq(sl_repo_log_checkpoint_latest(db, &a, &cp, &found, &err), SL_OK);
    cr_expect(!found);
    cr_expect_eq(cp.size, -1);
    found = true;
    cr_expect_eq(sl_repo_log_policy_get(db, &a, &value, &found, &err), SL_OK);
    cr_expect(!found);

    cr_assert_eq(sl_db_begin(db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_lock(db, SL_DB_LOCK_LOG, &err), SL_OK, "%s", err.msg);
    for (uint64_t i = 0; i < 3; i++) {
        char text[40];
        snprintf(text, sizeof(text), "{\"n\":%llu}", (unsigned long long)i);
        cr_assert_eq(
            sl_repo_log_entry_insert(db, i, text, strlen(text), 1000, i ? "acme/m" : NULL, &err),
            SL_OK, "%s", err.msg);
    }
    memset(h, 0xab, sizeof(h));
    cr_assert_eq(sl_repo_log_hash_insert(db, 0, 2, h, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_db_commit(db, &err), SL_OK, "%s", err.msg);

    /* the same index twice is a conflict, never a second entry */
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_expect_eq(sl_repo_log_entry_insert(db, 1, "{}", 2, 1, NULL, &err), SL_ECONFLICT, "%s",
                 err.msg);
    sl_db_rollback(db);
    cr_assert_eq(sl_db_begin(db, &err), SL_OK);
    cr_expect_eq(sl_repo_log_hash_insert(db, 0, 2, h, &err), SL_ECONFLICT, "%s", err.msg);
    sl_db_rollback(db);

    cr_expect_eq(sl_repo_log_size(db, &size, &err), SL_OK);
    cr_expect_eq(size, 3);
    memset(&s, 0, sizeof(s));
    cr_expect_eq(sl_repo_log_entries_range(db, 0, 3, note_entry, &s, &err), SL_OK);
    cr_expect_eq(s.n, 3);
    cr_expect(s.idx[0] == 0 && s.idx[1] == 1 && s.idx[2] == 2, "in order");
    memset(&s, 0, sizeof(s));
    s.stop_at = 1;
    cr_expect_eq(sl_repo_log_entries_range(db, 0, 3, note_entry, &s, &err), SL_OK);
    cr_expect_eq(s.n, 1, "stopped when asked");
    memset(&s, 0, sizeof(s));
    cr_expect_eq(sl_repo_log_entries_of_model(db, "acme/m", 2, note_entry, &s, &err), SL_OK);
    cr_expect_eq(s.n, 1, "only the model's entries before the size");
    cr_expect_eq(s.idx[0], 1);
    memset(&s, 0, sizeof(s));
    sl__db_fail_step = 3;
    cr_expect_eq(sl_repo_log_entries_range(db, 0, 3, note_entry, &s, &err), SL_EIO);
    sl__db_fail_step = 0;
    cr_expect_eq(s.n, 2, "two rows came, then the failed step made the list an error");

    cr_expect_eq(sl_repo_log_hash_get(db, 0, 2, got, &found, &err), SL_OK);
    cr_expect(found);
    cr_expect_arr_eq(got, h, 32);
    cr_expect_eq(sl_repo_log_hash_get(db, 0, 3, got, &found, &err), SL_OK);
    cr_expect(!found);

    memset(h, 1, sizeof(h));
    cr_assert_eq(sl_repo_log_checkpoint_insert(db, 2, h, "two\n", 5, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_log_checkpoint_insert(db, 3, h, "three\n", 6, &err), SL_OK);
    cr_assert_eq(sl_repo_log_checkpoint_insert(db, 3, h, "other\n", 7, &err), SL_OK,
                 "a checkpoint of the same size already stored is kept: %s", err.msg);
    cr_expect_eq(sl_repo_log_checkpoint_latest(db, &a, &cp, &found, &err), SL_OK);
    cr_expect(found);
    cr_expect_eq(cp.size, 3);
    cr_expect_str_eq(cp.note, "three\n");
    cr_expect_arr_eq(cp.root, h, 32);

    cr_expect_eq(sl_repo_log_policy_set(db, "[1]", &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_log_policy_set(db, "[2]", &err), SL_OK, "%s", err.msg);
    cr_expect_eq(sl_repo_log_policy_get(db, &a, &value, &found, &err), SL_OK);
    cr_expect(found);
    cr_expect_str_eq(value, "[2]");
    sl_arena_release(&a);
    sl_db_close(db);
}

Test(sqlite, repo_log_operations)
{
    char *url = sqlite_url();

    log_ops(url);
    free(url);
}

Test(pg, repo_log_operations)
{
    char *url = pg_url("t_repo_log");

    log_ops(url);
    free(url);
}
