/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's retention and quota listing (db/repo_hosted.h,
 * migration 12) on SQLite: days per model set, replaced and removed, bounds
 * refused; kept calls listed oldest first with the caller's name and the
 * version's number, from a time on, up to a count; deleted exactly when
 * their time is up; quota rows with unset limits apart from 0.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/repo_hosted.h"
#include "../helpers.h"

static struct sl_db *fresh(void)
{
    char *dir = th_tmpdir(), url[300];
    struct sl_db *db = NULL;
    struct sl_error err;

    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    free(dir);
    cr_assert_eq(sl_db_open(url, &db, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(
        sl_db_exec(db,
                   "INSERT INTO users (id, name, created) VALUES (7, 'bob', 0);"
                   "INSERT INTO orgs (id, name, created) VALUES (1, 'lab', 0);"
                   "INSERT INTO models (id, org_id, name, created) VALUES (1, 1, 'm', 0),"
                   " (2, 1, 'n', 0);"
                   "INSERT INTO versions (id, model_id, seq, commit_hash, manifest, tier, "
                   "min_tier, decision, bytes_total, created) VALUES (10, 1, 3, 'c1', '{}', "
                   "'hosted', 'open', '{}', 0, 0);",
                   &err),
        SL_OK, "%s", err.msg);
    return db;
}

Test(repo_retention, days_set_replaced_cleared_and_bounded)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    int64_t days = -1, updated = 0;
    bool had = true;

    cr_assert_eq(sl_repo_retention_get(db, 1, &days, &updated, &err), SL_OK);
    cr_expect_eq(days, 0, "nothing kept by default");
    cr_assert_eq(sl_repo_retention_set(db, 1, 30, 100, &had, &err), SL_OK, "%s", err.msg);
    cr_expect(!had);
    cr_assert_eq(sl_repo_retention_set(db, 1, 365, 200, &had, &err), SL_OK, "%s", err.msg);
    cr_expect(had);
    cr_assert_eq(sl_repo_retention_get(db, 1, &days, &updated, &err), SL_OK);
    cr_expect_eq(days, 365);
    cr_expect_eq(updated, 200);
    cr_assert_eq(sl_repo_retention_get(db, 2, &days, NULL, &err), SL_OK);
    cr_expect_eq(days, 0, "per model");
    cr_expect_eq(sl_repo_retention_set(db, 1, 366, 300, NULL, &err), SL_EINPUT);
    cr_expect_eq(sl_repo_retention_set(db, 1, -1, 300, NULL, &err), SL_EINPUT);
    cr_assert_eq(sl_repo_retention_get(db, 1, &days, NULL, &err), SL_OK);
    cr_expect_eq(days, 365, "a refused value changes nothing");
    cr_assert_eq(sl_repo_retention_set(db, 1, 0, 400, &had, &err), SL_OK);
    cr_expect(had);
    cr_assert_eq(sl_repo_retention_get(db, 1, &days, NULL, &err), SL_OK);
    cr_expect_eq(days, 0);
    cr_assert_eq(sl_repo_retention_set(db, 1, 0, 500, &had, &err), SL_OK);
    cr_expect(!had);
    sl_db_close(db);
}

static void add(struct sl_db *db, int64_t user, int64_t created, int64_t expires, const char *p)
{
    struct sl_hosted_retained row;
    struct sl_error err;

    memset(&row, 0, sizeof(row));
    row.model_id = 1;
    row.version_id = 10;
    row.user_id = user;
    row.created = created;
    row.expires = expires;
    snprintf(row.endpoint, sizeof(row.endpoint), "chat/completions");
    row.prompt = (char *)p;
    row.completion = (char *)"answer";
    row.completion_truncated = true;
    cr_assert_eq(sl_repo_retained_add(db, &row, &err), SL_OK, "%s", err.msg);
}

Test(repo_retention, kept_rows_listed_and_expired_on_time)
{
    struct sl_db *db = fresh();
    struct sl_hosted_retained *rows = NULL;
    struct sl_error err;
    int64_t deleted = -1;
    size_t n = 0;
    bool more = true;

    add(db, 7, 1000, 5000, "second");
    add(db, 0, 900, 4000, "first");
    add(db, 7, 1100, 6000, "third");
    cr_assert_eq(sl_repo_retained_list(db, 1, 0, 0, 100, SIZE_MAX, &rows, &n, &more, &err), SL_OK,
                 "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(rows[0].prompt, "first", "oldest first");
    cr_expect_str_eq(rows[0].user, "", "anonymous");
    cr_expect_str_eq(rows[1].user, "bob");
    cr_expect_eq(rows[1].version_seq, 3);
    cr_expect_str_eq(rows[1].completion, "answer");
    cr_expect(rows[1].completion_truncated);
    cr_expect(!rows[1].prompt_truncated);
    cr_expect_str_eq(rows[1].endpoint, "chat/completions");
    sl_repo_retained_free(rows, n);
    cr_assert_eq(sl_repo_retained_list(db, 1, 1000, 0, 1, SIZE_MAX, &rows, &n, &more, &err), SL_OK);
    cr_assert_eq(n, 1, "at most max");
    cr_expect_str_eq(rows[0].prompt, "second", "from `since` on");
    cr_expect(more, "a row was left");
    sl_repo_retained_free(rows, n);
    cr_assert_eq(sl_repo_retained_list(db, 2, 0, 0, 100, SIZE_MAX, &rows, &n, &more, &err), SL_OK);
    cr_expect_eq(n, 0, "per model");
    sl_repo_retained_free(rows, n);

    cr_assert_eq(sl_repo_retained_expire(db, 3999, &deleted, &err), SL_OK);
    cr_expect_eq(deleted, 0, "nothing is due before its time");
    cr_assert_eq(sl_repo_retained_expire(db, 4000, &deleted, &err), SL_OK);
    cr_expect_eq(deleted, 1, "due at its time");
    cr_assert_eq(sl_repo_retained_expire(db, 5999, &deleted, &err), SL_OK);
    cr_expect_eq(deleted, 1);
    cr_assert_eq(sl_repo_retained_list(db, 1, 0, 0, 100, SIZE_MAX, &rows, &n, &more, &err), SL_OK);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(rows[0].prompt, "third");
    sl_repo_retained_free(rows, n);
    sl_db_close(db);
}

Test(repo_retention, listing_goes_on_after_an_item_and_stops_at_its_bytes)
{
    struct sl_db *db = fresh();
    struct sl_hosted_retained *rows = NULL;
    struct sl_error err;
    size_t n = 0;
    bool more = false;
    int64_t first;

    add(db, 7, 1000, 9000, "b"); /* kept first, made later: listed second */
    add(db, 0, 900, 9000, "a");
    add(db, 7, 1000, 9000, "c"); /* the same second as "b": after it by id */
    /* each row holds its prompt and "answer" (7 bytes) */
    cr_assert_eq(sl_repo_retained_list(db, 1, 0, 0, 100, 15, &rows, &n, &more, &err), SL_OK);
    cr_assert_eq(n, 2, "a third row would pass the bytes");
    cr_expect_str_eq(rows[0].prompt, "a");
    cr_expect_str_eq(rows[1].prompt, "b");
    cr_expect(more);
    first = rows[1].id;
    sl_repo_retained_free(rows, n);
    cr_assert_eq(sl_repo_retained_list(db, 1, 0, first, 100, 15, &rows, &n, &more, &err), SL_OK);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(rows[0].prompt, "c", "after \"b\" in the listing's order");
    cr_expect(!more);
    sl_repo_retained_free(rows, n);
    cr_assert_eq(sl_repo_retained_list(db, 1, 0, 0, 100, 1, &rows, &n, &more, &err), SL_OK);
    cr_expect_eq(n, 1, "the first row comes whatever its size");
    cr_expect(more);
    sl_repo_retained_free(rows, n);
    cr_expect_eq(sl_repo_retained_list(db, 1, 0, 999, 100, 15, &rows, &n, &more, &err),
                 SL_ENOTFOUND, "an item that is not kept");
    sl_repo_retained_free(rows, n);
    sl_db_close(db);
}

Test(repo_retention, quota_rows_tell_unset_from_zero)
{
    struct sl_db *db = fresh();
    struct sl_hosted_quota_row *rows = NULL;
    struct sl_hosted_quota q = {5, -1, -1};
    struct sl_error err;
    size_t n = 0;

    cr_assert_eq(sl_repo_quota_list(db, 1, &rows, &n, &err), SL_OK);
    cr_expect_eq(n, 0);
    free(rows);
    cr_assert_eq(sl_repo_quota_set(db, 1, 7, &q, &err), SL_OK, "%s", err.msg);
    q.rpm = 2;
    q.concurrency = 1;
    cr_assert_eq(sl_repo_quota_set(db, 1, 0, &q, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_quota_list(db, 1, &rows, &n, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_expect_eq(rows[0].user_id, 0, "the default first");
    cr_expect_eq(rows[0].rpm, 2);
    cr_expect_eq(rows[0].tokens_per_day, -1, "not set");
    cr_expect_eq(rows[0].concurrency, 1);
    cr_expect_str_eq(rows[1].user, "bob");
    cr_expect_eq(rows[1].rpm, 5);
    cr_expect_eq(rows[1].concurrency, -1, "takes the default's");
    free(rows);
    sl_db_close(db);
}
