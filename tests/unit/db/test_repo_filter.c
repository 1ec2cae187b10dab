/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted filters' repository operations (db/repo_hosted.h, migration 9)
 * on SQLite: one policy per model replaced in place, cleared once, and the
 * refusal counts per model, day, reason and rule.
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
    cr_assert_eq(sl_db_exec(db,
                            "INSERT INTO orgs (id, name, created) VALUES (1, 'lab', 0);"
                            "INSERT INTO models (id, org_id, name, created) VALUES (1, 1, 'm', 0),"
                            " (2, 1, 'n', 0);",
                            &err),
                 SL_OK, "%s", err.msg);
    return db;
}

Test(repo_filter, put_get_clear)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    char *text = NULL;
    int64_t updated = 0;
    bool had = true;

    cr_assert_eq(sl_repo_filter_get(db, 1, &text, &updated, &err), SL_OK);
    cr_expect_null(text);
    cr_assert_eq(sl_repo_filter_put(db, 1, "{\"rules\":[]}", 100, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_filter_put(db, 1, "{\"max_tokens\":5}", 200, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_filter_get(db, 1, &text, &updated, &err), SL_OK);
    cr_expect_str_eq(text, "{\"max_tokens\":5}", "replaced, not added");
    cr_expect_eq(updated, 200);
    free(text);
    cr_assert_eq(sl_repo_filter_get(db, 2, &text, NULL, &err), SL_OK);
    cr_expect_null(text, "per model");
    cr_assert_eq(sl_repo_filter_clear(db, 1, &had, &err), SL_OK);
    cr_expect(had);
    cr_assert_eq(sl_repo_filter_clear(db, 1, &had, &err), SL_OK);
    cr_expect(!had);
    cr_assert_eq(sl_repo_filter_get(db, 1, &text, NULL, &err), SL_OK);
    cr_expect_null(text);
    sl_db_close(db);
}

Test(repo_filter, refusal_counts)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    struct sl_hosted_refusal *rows = NULL;
    size_t n = 0;

    for (int i = 0; i < 3; i++)
        cr_assert_eq(sl_repo_refusal_add(db, 1, 20000, "input", "codename", &err), SL_OK, "%s",
                     err.msg);
    cr_assert_eq(sl_repo_refusal_add(db, 1, 20001, "input", "codename", &err), SL_OK);
    cr_assert_eq(sl_repo_refusal_add(db, 1, 20001, "parameter", "", &err), SL_OK);
    cr_assert_eq(sl_repo_refusal_add(db, 2, 20001, "output", "card", &err), SL_OK);
    cr_assert_eq(sl_repo_refusal_list(db, 1, 0, &rows, &n, &err), SL_OK);
    cr_assert_eq(n, 3);
    cr_expect_eq(rows[0].day, 20000);
    cr_expect_eq(rows[0].n, 3);
    cr_expect_str_eq(rows[0].reason, "input");
    cr_expect_str_eq(rows[0].rule, "codename");
    cr_expect_str_eq(rows[1].reason, "input");
    cr_expect_eq(rows[1].n, 1);
    cr_expect_str_eq(rows[2].reason, "parameter");
    cr_expect_str_eq(rows[2].rule, "");
    free(rows);
    cr_assert_eq(sl_repo_refusal_list(db, 1, 20001, &rows, &n, &err), SL_OK);
    cr_expect_eq(n, 2, "since a day");
    free(rows);
    sl_db_close(db);
}
