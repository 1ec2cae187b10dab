/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Access decisions when the database fails part-way (the db test seam
 * sl__db_fail_step), through the repository operations of the storage
 * seam: a failed read of a model's auto-approval rules refuses the request
 * instead of judging it by the empty default; a failed read of a license
 * text is that error, not "no such version"; and grant expiry expires the
 * whole batch or nothing, never the rows read before a failed step.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "registry/registry.h"
#include "../helpers.h"

#include "fixture.h"

/* A second account, signed in. */
static void account(struct fixture *f, const char *name, struct sl_principal *p)
{
    struct sl_error err;
    char tok[SL_TOKEN_LEN + 1];

    cr_assert_eq(sl_reg_user_add(f->r, name, NULL, NULL, NULL, false, tok, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_reg_auth(f->r, tok, p, &err), SL_OK, "%s", err.msg);
}

/* Rows of access_requests with stored status `status`. */
static int64_t stored(struct fixture *f, const char *status)
{
    struct sl_error err;
    struct sl_db *db = sl_reg_db(f->r, &err);
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT count(*) FROM access_requests WHERE status = ?", &err);
    int64_t n;

    cr_assert(st, "%s", err.msg);
    sl_stmt_text(st, 1, status);
    cr_assert_eq(sl_stmt_step(st, &err), 1, "%s", err.msg);
    n = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    return n;
}

Test(access, failed_rules_read_refuses_the_request)
{
    struct fixture f;
    struct sl_principal bob;
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_request req;
    struct sl_error err;
    int64_t org_id, model_id;
    json_t *rules, *res = NULL;
    bool created;

    setup(&f);
    json_decref(commit(&f, "m1", small_facts(), false, &created));
    cr_assert_eq(sl_reg_model_id(f.r, "acme", "m1", &org_id, &model_id, &err), SL_OK);
    /* the publisher requires a field and approves everyone who gives it */
    rules = json_pack("{s:b, s:[s]}", "everyone", 1, "fields", "org");
    cr_assert_eq(sl_reg_access_rules_set(f.r, &f.pub, model_id, "acme/m1", rules, &res, &err),
                 SL_OK, "%s", err.msg);
    json_decref(res);
    json_decref(rules);
    account(&f, "bob", &bob);

    /* the rules cannot be read: no request, rather than one judged by the
     * empty default (no required field) */
    sl_error_clear(&err);
    sl__db_fail_step = 1;
    cr_expect_eq(sl_reg_access_request(f.r, &bob, org_id, model_id, "acme/m1", "research", NULL, &a,
                                       &req, &created, &err),
                 SL_EIO, "%s", err.msg);
    sl__db_fail_step = 0;
    cr_expect(!created);
    cr_expect_eq(sl_reg_access_me(f.r, &bob, model_id, "acme/m1", &a, &req, &err), SL_ENOTFOUND,
                 "a refused request stores nothing");
    /* the seam off: the rules apply */
    cr_expect_eq(sl_reg_access_request(f.r, &bob, org_id, model_id, "acme/m1", "research", NULL, &a,
                                       &req, &created, &err),
                 SL_EINPUT);
    cr_expect(strstr(err.msg, "the publisher requires the field \"org\""), "%s", err.msg);
    sl_arena_release(&a);
    teardown(&f);
}

Test(access, failed_license_read_is_that_error)
{
    struct fixture f;
    struct sl_principal bob;
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_acceptance acc;
    struct sl_reg_terms t;
    struct sl_version_ref v;
    struct sl_error err;
    bool created;

    setup(&f);
    json_decref(commit(&f, "m1", small_facts(), false, &created));
    cr_assert_eq(sl_reg_resolve(f.r, "acme", "m1", "main", &v, &err), SL_OK, "%s", err.msg);
    account(&f, "bob", &bob);
    sl_error_clear(&err);
    sl__db_fail_step = 1;
    cr_expect_eq(sl_reg_accept(f.r, &bob, &v, "acme/m1", NULL, &acc, &err), SL_EIO, "%s", err.msg);
    sl__db_fail_step = 0;
    cr_expect(strstr(err.msg, "no such version") == NULL, "a failed read is not a missing version");
    sl__db_fail_step = 1;
    cr_expect_eq(sl_reg_terms(f.r, &bob, &v, &a, &t, &err), SL_EIO, "%s", err.msg);
    sl__db_fail_step = 0;
    cr_expect_eq(sl_reg_accept(f.r, &bob, &v, "acme/m1", NULL, &acc, &err), SL_OK, "%s", err.msg);
    cr_expect(acc.fresh);
    cr_expect_eq(sl_reg_terms(f.r, &bob, &v, &a, &t, &err), SL_OK, "%s", err.msg);
    cr_expect(t.accepted && !t.given);
    cr_expect_str_eq(t.license_sha256, acc.license_sha256);
    sl_arena_release(&a);
    teardown(&f);
}

Test(access, expiry_is_the_whole_batch_or_nothing)
{
    static const char *const names[] = {"bob", "carol", "dave"};
    struct fixture f;
    struct sl_principal who[3];
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_request req;
    struct sl_error err;
    int64_t org_id, model_id;
    bool created;
    int count, k;

    setup(&f);
    json_decref(commit(&f, "m1", small_facts(), false, &created));
    cr_assert_eq(sl_reg_model_id(f.r, "acme", "m1", &org_id, &model_id, &err), SL_OK);
    for (int i = 0; i < 3; i++) {
        account(&f, names[i], &who[i]);
        cr_assert_eq(sl_reg_access_request(f.r, &who[i], org_id, model_id, "acme/m1", "research",
                                           NULL, &a, &req, &created, &err),
                     SL_OK, "%s", err.msg);
        cr_assert_eq(sl_reg_access_decide(f.r, &f.pub, org_id, model_id, "acme/m1", names[i],
                                          SL_ACCESS_APPROVE, NULL, (int64_t)time(NULL) + 3600, &a,
                                          &req, &err),
                     SL_OK, "%s", err.msg);
    }
    /* every grant's expiry has passed */
    {
        struct sl_db *db = sl_reg_db(f.r, &err);
        cr_assert_eq(sl_db_exec(db, "UPDATE access_requests SET expires = 1", &err), SL_OK, "%s",
                     err.msg);
    }
    cr_assert_eq(stored(&f, "approved"), 3);
    /* each step in turn fails: the batch expires whole or not at all */
    for (k = 1; k < 200; k++) {
        sl_error_clear(&err);
        sl__db_fail_step = k;
        enum sl_err rc = sl_reg_expire_grants(f.r, &count, &err);
        sl__db_fail_step = 0;
        if (rc == SL_OK) {
            cr_expect_eq(stored(&f, "expired"), 3, "step %d failed, yet %lld of 3 expired", k,
                         (long long)stored(&f, "expired"));
            break;
        }
        cr_expect_eq(stored(&f, "expired"), 0, "step %d failed (%s), yet %lld of 3 expired", k,
                     err.msg, (long long)stored(&f, "expired"));
        cr_expect_eq(stored(&f, "approved"), 3);
    }
    cr_expect_gt(k, 3, "the failures reached the rows of the batch");
    cr_expect_lt(k, 200);
    sl_arena_release(&a);
    teardown(&f);
}
