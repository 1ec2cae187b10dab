/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's repository operations (db/repo_hosted.h) on SQLite:
 * backends (add, list, remove, the per-model cap, pinned versions), the
 * access facts of a call (tier and live grant, an expired grant not live),
 * quotas (default and per-user override, 0 removes a limit), the per-minute
 * count and usage per version, user and day.
 */
#include <criterion/criterion.h>
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
                            "INSERT INTO users (id, name, created) VALUES (1, 'ann', 0), "
                            "(2, 'bob', 0);"
                            "INSERT INTO orgs (id, name, created) VALUES (1, 'lab', 0);"
                            "INSERT INTO models (id, org_id, name, created) VALUES (1, 1, 'm', 0);"
                            "INSERT INTO versions (id, model_id, seq, commit_hash, manifest, "
                            "tier, min_tier, decision, bytes_total, created) VALUES "
                            "(1, 1, 1, 'c1', '{}', 'hosted', 'open', '{}', 0, 0),"
                            "(2, 1, 2, 'c2', '{}', 'withheld', 'open', '{}', 0, 0);",
                            &err),
                 SL_OK, "%s", err.msg);
    return db;
}

static struct sl_hosted_backend backend(const char *url, int64_t version_id)
{
    struct sl_hosted_backend b;

    memset(&b, 0, sizeof(b));
    b.model_id = 1;
    b.version_id = version_id;
    snprintf(b.url, sizeof(b.url), "%s", url);
    snprintf(b.key_env, sizeof(b.key_env), "KEY");
    return b;
}

Test(repo_hosted, backends)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    struct sl_hosted_backend b = backend("http://a/v1", 0), *list = NULL;
    size_t n = 0;
    int64_t id1, id2;

    cr_assert_eq(sl_repo_backend_add(db, &b, &id1, &err), SL_OK, "%s", err.msg);
    b = backend("http://b/v1", 2);
    cr_assert_eq(sl_repo_backend_add(db, &b, &id2, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_backend_list(db, 1, &list, &n, &err), SL_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[0].url, "http://a/v1");
    cr_assert_eq(list[0].version_id, 0);
    cr_assert_str_eq(list[0].key_env, "KEY");
    cr_assert_str_eq(list[0].backend_model, "");
    cr_assert_eq(list[1].version_id, 2);
    free(list);
    cr_assert_eq(sl_repo_backend_all(db, &list, &n, &err), SL_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[1].org, "lab");
    cr_assert_str_eq(list[1].name, "m");
    cr_assert_eq(list[1].version_seq, 2);
    cr_assert_eq(list[0].version_seq, 0);
    free(list);
    cr_assert_eq(sl_repo_backend_remove(db, 1, id1, &err), SL_OK);
    cr_assert_eq(sl_repo_backend_remove(db, 1, id1, &err), SL_ENOTFOUND);
    cr_assert_eq(sl_repo_backend_remove(db, 7, id2, &err), SL_ENOTFOUND); /* not its model */
    for (int i = 1; i < SL_HOSTED_BACKENDS_MAX; i++) {
        b = backend("http://c/v1", 0);
        cr_assert_eq(sl_repo_backend_add(db, &b, &id1, &err), SL_OK, "%d %s", i, err.msg);
    }
    cr_assert_eq(sl_repo_backend_add(db, &b, &id1, &err), SL_ELIMIT);
    sl_db_close(db);
}

Test(repo_hosted, access)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    struct sl_hosted_access a;

    cr_assert_eq(sl_db_exec(db,
                            "INSERT INTO access_requests (model_id, user_id, status, purpose, "
                            "fields, created, expires) VALUES (1, 1, 'approved', 'p', '{}', 0, "
                            "NULL), (1, 2, 'approved', 'p', '{}', 0, 100);",
                            &err),
                 SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_hosted_access(db, 1, 1, 50, &a, &err), SL_OK, "%s", err.msg);
    cr_assert_str_eq(a.tier, "hosted");
    cr_assert(a.grant_live);
    cr_assert_eq(sl_repo_hosted_access(db, 1, 2, 50, &a, &err), SL_OK);
    cr_assert(a.grant_live);
    cr_assert_eq(sl_repo_hosted_access(db, 1, 2, 100, &a, &err), SL_OK);
    cr_assert_not(a.grant_live, "a grant is not live from its expiry on");
    cr_assert_eq(sl_repo_hosted_access(db, 2, 1, 50, &a, &err), SL_OK);
    cr_assert_str_eq(a.tier, "withheld");
    cr_assert_eq(sl_repo_hosted_access(db, 1, 9, 50, &a, &err), SL_OK);
    cr_assert_not(a.grant_live);
    cr_assert_eq(sl_repo_hosted_access(db, 99, 1, 50, &a, &err), SL_ENOTFOUND);
    sl_db_close(db);
}

Test(repo_hosted, quotas)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    struct sl_hosted_quota q = {10, -1, -1}, got;
    int64_t id;

    cr_assert_eq(sl_repo_quota_get(db, 1, 1, &got, &err), SL_OK);
    cr_assert_eq(got.rpm, 0);
    cr_assert_eq(got.tokens_per_day, 0);
    cr_assert_eq(sl_repo_quota_set(db, 1, 0, &q, &err), SL_OK, "%s", err.msg);
    q = (struct sl_hosted_quota){-1, 1000, 3};
    cr_assert_eq(sl_repo_quota_set(db, 1, 0, &q, &err), SL_OK);
    q = (struct sl_hosted_quota){50, -1, -1};
    cr_assert_eq(sl_repo_quota_set(db, 1, 2, &q, &err), SL_OK);
    cr_assert_eq(sl_repo_quota_get(db, 1, 1, &got, &err), SL_OK);
    cr_assert_eq(got.rpm, 10);
    cr_assert_eq(got.tokens_per_day, 1000); /* kept when not given */
    cr_assert_eq(sl_repo_quota_get(db, 1, 2, &got, &err), SL_OK);
    cr_assert_eq(got.rpm, 50);              /* the user's own */
    cr_assert_eq(got.tokens_per_day, 1000); /* the default's */
    cr_assert_eq(got.concurrency, 3);       /* the default's */
    q = (struct sl_hosted_quota){0, -1, -1};
    cr_assert_eq(sl_repo_quota_set(db, 1, 0, &q, &err), SL_OK);
    cr_assert_eq(sl_repo_quota_get(db, 1, 1, &got, &err), SL_OK);
    cr_assert_eq(got.rpm, 0);
    cr_assert_eq(sl_repo_user_id(db, "bob", &id, &err), SL_OK);
    cr_assert_eq(id, 2);
    cr_assert_eq(sl_repo_user_id(db, "nobody", &id, &err), SL_ENOTFOUND);
    sl_db_close(db);
}

Test(repo_hosted, concurrency_slots)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    int64_t a, b, c, d, n;

    /* two at once for user 1 on model 1; others count apart */
    cr_assert_eq(sl_repo_slot_take(db, 1, 1, 100, 2, &a, &n, &err), SL_OK, "%s", err.msg);
    cr_assert_gt(a, 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(sl_repo_slot_take(db, 1, 1, 100, 2, &b, &n, &err), SL_OK);
    cr_assert_gt(b, 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(sl_repo_slot_take(db, 1, 1, 101, 2, &c, &n, &err), SL_OK);
    cr_assert_eq(c, 0); /* refused, and left no row behind */
    cr_assert_eq(n, 2);
    cr_assert_eq(sl_repo_slot_take(db, 1, 2, 101, 2, &d, &n, &err), SL_OK);
    cr_assert_gt(d, 0);
    cr_assert_eq(n, 1);
    /* a call that ends frees its slot */
    cr_assert_eq(sl_repo_slot_release(db, a, &err), SL_OK);
    cr_assert_eq(sl_repo_slot_take(db, 1, 1, 102, 2, &c, &n, &err), SL_OK);
    cr_assert_gt(c, 0);
    cr_assert_eq(n, 2);
    /* a renewed slot outlives its first lease; one not renewed (its server
     * died) stops counting once its lease is past */
    cr_assert_eq(sl_repo_slot_renew(db, c, 100 + SL_HOSTED_SLOT_LEASE_S, &err), SL_OK);
    cr_assert_eq(sl_repo_slot_take(db, 1, 1, 101 + SL_HOSTED_SLOT_LEASE_S, 2, &a, &n, &err), SL_OK);
    cr_assert_gt(a, 0); /* b's lease ran out: only c and this one run */
    cr_assert_eq(n, 2);
    sl_db_close(db);
}

Test(repo_hosted, rate_and_usage)
{
    struct sl_db *db = fresh();
    struct sl_error err;
    struct sl_hosted_usage *u = NULL;
    int64_t n, tokens;
    size_t nu;

    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(sl_repo_rate_hit(db, 1, 1, 1000, &n, &err), SL_OK, "%s", err.msg);
        cr_assert_eq(n, i);
    }
    cr_assert_eq(sl_repo_rate_hit(db, 1, 2, 1000, &n, &err), SL_OK);
    cr_assert_eq(n, 1, "counts are per user");
    cr_assert_eq(sl_repo_rate_hit(db, 1, 1, 1001, &n, &err), SL_OK);
    cr_assert_eq(n, 1, "counts are per minute");
    cr_assert_eq(sl_repo_usage_add(db, 1, 1, 1, 20000, 3, 5, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_usage_add(db, 1, 1, 1, 20000, 4, 6, &err), SL_OK);
    cr_assert_eq(sl_repo_usage_add(db, 1, 2, 0, 20001, 1, 1, &err), SL_OK);
    cr_assert_eq(sl_repo_usage_tokens(db, 1, 1, 20000, &tokens, &err), SL_OK);
    cr_assert_eq(tokens, 18);
    cr_assert_eq(sl_repo_usage_tokens(db, 1, 1, 20001, &tokens, &err), SL_OK);
    cr_assert_eq(tokens, 0);
    cr_assert_eq(sl_repo_usage_list(db, 1, 0, &u, &nu, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(nu, 2);
    cr_assert_eq(u[0].day, 20000);
    cr_assert_eq(u[0].version_seq, 1);
    cr_assert_str_eq(u[0].user, "ann");
    cr_assert_eq(u[0].calls, 2);
    cr_assert_eq(u[0].prompt_tokens, 7);
    cr_assert_eq(u[0].completion_tokens, 11);
    cr_assert_str_eq(u[1].user, ""); /* anonymous */
    free(u);
    cr_assert_eq(sl_repo_usage_list(db, 1, 20001, &u, &nu, &err), SL_OK);
    cr_assert_eq(nu, 1);
    free(u);
    sl_db_close(db);
}
