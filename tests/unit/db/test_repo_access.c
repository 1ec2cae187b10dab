/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repository operations of access and accounts (src/db/repo_access.h,
 * repo_accounts.h, repo_hub.h), the same checks on both drivers: errors
 * name what is missing (SL_ENOTFOUND) or what clashes (SL_ECONFLICT);
 * "absent" lookups answer through their out-parameter; a list whose step
 * fails is an error and never a shorter list; licenses belong to one grant;
 * the listing's search is a literal substring. The PostgreSQL half runs
 * under CTest unit_pg.db (suite "pg"), the SQLite half under unit.db.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/repo_access.h"
#include "db/repo_accounts.h"
#include "db/repo_hub.h"
#include "../helpers.h"
#include "dbfix.h"

static void exec_ok(struct sl_db *db, const char *sql)
{
    struct sl_error err;

    cr_assert_eq(sl_db_exec(db, sql, &err), SL_OK, "%s: %s", sql, err.msg);
}

static int64_t user(struct sl_db *db, const char *name, const char *email)
{
    struct sl_error err;
    int64_t id = 0;

    cr_assert_eq(sl_repo_user_insert(db, name, email, NULL, NULL, false, 1000, &id, &err), SL_OK,
                 "%s", err.msg);
    cr_assert_gt(id, 0);
    return id;
}

/* Org "acme" (id 1) with model "acme/m" (id 1), version 1 (license text
 * "TERMS") and version 2 (no license), main at version 2. */
static void model_fixture(struct sl_db *db)
{
    struct sl_error err;

    cr_assert_eq(sl_repo_org_insert(db, "acme", 1000, &err), SL_OK, "%s", err.msg);
    exec_ok(db, "INSERT INTO models (id, org_id, name, created) VALUES (1, 1, 'm', 1000)");
    exec_ok(db, "INSERT INTO versions (id, model_id, seq, commit_hash, manifest, tier, min_tier, "
                "decision, license, bytes_total, created) VALUES (1, 1, 1, 'c1', '{}', 'gated', "
                "'open', '{}', 'TERMS', 10, 1000), (2, 1, 2, 'c2', '{}', 'click', 'open', '{}', "
                "NULL, 20, 2000)");
    exec_ok(db, "INSERT INTO refs (model_id, name, version_id) VALUES (1, 'main', 2)");
}

/* ---- accounts ---- */

static void accounts_errors(struct sl_db *db)
{
    struct sl_error err;
    struct sl_token_row t;
    unsigned char h[32], other[32];
    char role[SL_REPO_ROLE_MAX + 1];
    int64_t alice, id, org;
    bool found, removed, yes;
    int n;

    alice = user(db, "alice", "a@example.org");
    cr_assert_eq(sl_repo_user_insert(db, "alice", NULL, NULL, NULL, false, 1000, &id, &err),
                 SL_ECONFLICT);
    cr_assert_str_eq(err.msg, "user \"alice\" already exists");
    cr_assert_eq(sl_repo_user_find(db, "bob", &id, &err), SL_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no user named \"bob\"");
    cr_assert_eq(sl_repo_user_find(db, "alice", &id, &err), SL_OK);
    cr_assert_eq(id, alice);

    cr_assert_eq(sl_repo_org_insert(db, "acme", 1000, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_org_insert(db, "acme", 1000, &err), SL_ECONFLICT);
    cr_assert_str_eq(err.msg, "org \"acme\" already exists");
    cr_assert_eq(sl_repo_org_find(db, "nope", &org, &err), SL_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no org named \"nope\"");
    cr_assert_eq(sl_repo_org_find(db, "acme", &org, &err), SL_OK);

    /* tokens: found by hash, revoked once */
    memset(h, 7, sizeof(h));
    memset(other, 8, sizeof(other));
    cr_assert_eq(sl_repo_token_insert(db, alice, h, "read write ", 1000, 0, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_repo_token_insert(db, alice, h, "read ", 1000, 0, &err), SL_ECONFLICT);
    cr_assert_eq(sl_repo_token_get(db, other, &t, &found, &err), SL_OK);
    cr_assert(!found);
    cr_assert_eq(sl_repo_token_get(db, h, &t, &found, &err), SL_OK);
    cr_assert(found);
    cr_assert_eq(t.user_id, alice);
    cr_assert_str_eq(t.name, "alice");
    cr_assert_str_eq(t.scopes, "read write ");
    cr_assert_eq(t.expires, 0);
    cr_assert(!t.revoked && !t.removed && !t.is_admin);
    cr_assert_eq(sl_repo_token_revoke_hash(db, h, 2000, &n, &err), SL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(sl_repo_token_revoke_hash(db, h, 2000, &n, &err), SL_OK);
    cr_assert_eq(n, 0, "a revoked token is not revoked twice");
    cr_assert_eq(sl_repo_token_get(db, h, &t, &found, &err), SL_OK);
    cr_assert(found && t.revoked);

    /* members: the role changes in place; removing twice says so */
    cr_assert_eq(sl_repo_member_role(db, org, alice, role, &found, &err), SL_OK);
    cr_assert(!found);
    cr_assert_eq(sl_repo_member_upsert(db, org, alice, "publisher", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_member_upsert(db, org, alice, "admin", &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_member_role(db, org, alice, role, &found, &err), SL_OK);
    cr_assert(found);
    cr_assert_str_eq(role, "admin");
    cr_assert_eq(sl_repo_member_is_admin(db, org, alice, &yes, &err), SL_OK);
    cr_assert(yes);
    cr_assert_eq(sl_repo_member_of_org_named(db, "acme", alice, &yes, &err), SL_OK);
    cr_assert(yes);
    cr_assert_eq(sl_repo_member_of_org_named(db, "ACME", alice, &yes, &err), SL_OK);
    cr_assert(!yes, "org names are exact");
    cr_assert_eq(sl_repo_member_delete(db, org, alice, &removed, &err), SL_OK);
    cr_assert(removed);
    cr_assert_eq(sl_repo_member_delete(db, org, alice, &removed, &err), SL_OK);
    cr_assert(!removed);

    /* removal: the account is gone for live lookups, its tokens revoked */
    memset(h, 9, sizeof(h));
    cr_assert_eq(sl_repo_token_insert(db, alice, h, "read ", 1000, 5000, &err), SL_OK);
    cr_assert_eq(sl_repo_member_upsert(db, org, alice, "member", &err), SL_OK);
    cr_assert_eq(sl_repo_user_remove(db, alice, 3000, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_user_find_live(db, "alice", &id, &err), SL_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no user named \"alice\"");
    cr_assert_eq(sl_repo_user_find(db, "alice", &id, &err), SL_OK, "the row stays");
    cr_assert_eq(sl_repo_token_get(db, h, &t, &found, &err), SL_OK);
    cr_assert(found && t.revoked && t.removed);
    cr_assert_eq(t.expires, 5000);
    cr_assert_eq(sl_repo_member_role(db, org, alice, role, &found, &err), SL_OK);
    cr_assert(!found, "memberships end with the account");
}

Test(sqlite, repo_accounts_errors)
{
    struct sl_db *db = dbfix_open_sqlite();
    accounts_errors(db);
    sl_db_close(db);
}

Test(pg, repo_accounts_errors)
{
    struct sl_db *db = dbfix_open_pg("repo_accounts_errors");
    accounts_errors(db);
    sl_db_close(db);
}

/* ---- a failed step is an error, never a shorter list ---- */

static int count_rows(void *ctx, const struct sl_license_revoked *row)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

static int count_models(void *ctx, const struct sl_repo_model_item *it)
{
    (void)it;
    (*(int *)ctx)++;
    return 0;
}

static void lists_never_partial(struct sl_db *db)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_error err;
    struct sl_member_row *members;
    struct sl_request_row *reqs;
    struct sl_grant_ref due[8], *grants;
    struct sl_grant_counts c;
    struct sl_repo_model_query q = {NULL, NULL, NULL, false, 10, 0, 0};
    int64_t u[3], rid;
    size_t n;
    int seen;

    model_fixture(db);
    u[0] = user(db, "u0", NULL);
    u[1] = user(db, "u1", NULL);
    u[2] = user(db, "u2", NULL);
    for (int i = 0; i < 3; i++) {
        char lic[8];
        cr_assert_eq(sl_repo_member_upsert(db, 1, u[i], "member", &err), SL_OK);
        cr_assert_eq(sl_repo_request_insert(db, 1, u[i], "p", "{}", 1000 + i, &rid, &err), SL_OK);
        cr_assert_eq(sl_repo_request_approve(db, rid, 1500, 0, 1600, NULL, &err), SL_OK);
        snprintf(lic, sizeof(lic), "l%d", i);
        cr_assert_eq(sl_repo_license_insert(db, lic, rid, 1, 2, 1500, "note", &err), SL_OK);
        cr_assert_eq(sl_repo_license_revoke_request(db, rid, 1700 + i, &err), SL_OK);
    }
    /* the whole lists first */
    cr_assert_eq(sl_repo_org_members(db, 1, &a, &members, &n, &err), SL_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(sl_repo_request_list(db, 1, &a, &reqs, &n, &err), SL_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(sl_repo_grants_due(db, 2000, due, 8, &n, &err), SL_OK);
    cr_assert_eq(n, 3);
    seen = 0;
    cr_assert_eq(sl_repo_licenses_revoked(db, count_rows, &seen, &err), SL_OK);
    cr_assert_eq(seen, 3);

    /* then the same with the third step failing */
    sl__db_fail_step = 3;
    cr_assert_neq(sl_repo_org_members(db, 1, &a, &members, &n, &err), SL_OK);
    cr_assert(n == 0 && members == NULL);
    sl__db_fail_step = 3;
    cr_assert_neq(sl_repo_request_list(db, 1, &a, &reqs, &n, &err), SL_OK);
    cr_assert(n == 0 && reqs == NULL);
    sl__db_fail_step = 3;
    cr_assert_neq(sl_repo_grants_due(db, 2000, due, 8, &n, &err), SL_OK);
    cr_assert_eq(n, 0);
    sl__db_fail_step = 1;
    cr_assert_neq(sl_repo_grants_of_user(db, u[0], &a, &grants, &n, &err), SL_OK);
    cr_assert(n == 0 && grants == NULL);
    sl__db_fail_step = 2;
    cr_assert_neq(sl_repo_user_orgs(db, u[0], &a, &members, &n, &err), SL_OK);
    cr_assert_eq(n, 0);
    seen = 0;
    sl__db_fail_step = 3;
    cr_assert_neq(sl_repo_licenses_revoked(db, count_rows, &seen, &err), SL_OK);
    sl__db_fail_step = 1;
    cr_assert_neq(sl_repo_grant_counts(db, 2000, &c, &err), SL_OK);
    cr_assert_eq(c.expired, 0);
    seen = 0;
    sl__db_fail_step = 2;
    cr_assert_neq(sl_repo_model_list(db, &q, count_models, &seen, &err), SL_OK);
    sl__db_fail_step = 0;
    sl_arena_release(&a);
}

Test(sqlite, repo_lists_never_partial)
{
    struct sl_db *db = dbfix_open_sqlite();
    lists_never_partial(db);
    sl_db_close(db);
}

Test(pg, repo_lists_never_partial)
{
    struct sl_db *db = dbfix_open_pg("repo_lists_never_partial");
    lists_never_partial(db);
    sl_db_close(db);
}

/* ---- requests, grants, licenses ---- */

static void grants_and_licenses(struct sl_db *db)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_error err;
    struct sl_grant_row g;
    struct sl_request_row q;
    struct sl_repo_main mv;
    struct sl_license_req lr;
    struct sl_grant_counts c;
    struct sl_grant_ref due[1];
    char *text, *note;
    int64_t u, v, rid, idx;
    size_t n;
    bool found, fresh, yes;

    model_fixture(db);
    u = user(db, "carol", "c@example.org");
    v = user(db, "dave", NULL);

    /* versions: license text or none, and a clear miss */
    cr_assert_eq(sl_repo_version_license(db, 1, &a, &text, &err), SL_OK);
    cr_assert_str_eq(text, "TERMS");
    cr_assert_eq(sl_repo_version_license(db, 2, &a, &text, &err), SL_OK);
    cr_assert_null(text);
    cr_assert_eq(sl_repo_version_license(db, 99, &a, &text, &err), SL_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no such version");
    cr_assert_eq(sl_repo_main_version(db, 1, &mv, &err), SL_OK);
    cr_assert(mv.version_id == 2 && mv.seq == 2);
    cr_assert_str_eq(mv.commit, "c2");
    cr_assert_str_eq(mv.tier, "click");
    cr_assert_eq(sl_repo_main_version(db, 99, &mv, &err), SL_ENOTFOUND);
    cr_assert_str_eq(err.msg, "the model has no main version");
    cr_assert_eq(sl_repo_eval_key_live(db, u, &yes, &err), SL_OK);
    cr_assert(!yes);

    /* acceptances are recorded once */
    cr_assert_eq(sl_repo_acceptance_insert(db, u, 1, "abc", 1000, &fresh, &err), SL_OK);
    cr_assert(fresh);
    cr_assert_eq(sl_repo_acceptance_insert(db, u, 1, "abc", 1001, &fresh, &err), SL_OK);
    cr_assert(!fresh);
    cr_assert_eq(sl_repo_acceptance_exists(db, u, 1, "abc", &yes, &err), SL_OK);
    cr_assert(yes);
    cr_assert_eq(sl_repo_acceptance_exists(db, u, 1, "abd", &yes, &err), SL_OK);
    cr_assert(!yes, "another license text is not accepted");

    /* a request: absent, then pending, one per account and model */
    cr_assert_eq(sl_repo_grant_get(db, 1, u, &g, &found, &err), SL_OK);
    cr_assert(!found);
    cr_assert_eq(
        sl_repo_request_insert(db, 1, u, "research", "{\"org\":\"uni\"}", 1100, &rid, &err), SL_OK,
        "%s", err.msg);
    cr_assert_eq(sl_repo_request_insert(db, 1, u, "again", "{}", 1101, &idx, &err), SL_ECONFLICT);
    cr_assert_eq(sl_repo_grant_get(db, 1, u, &g, &found, &err), SL_OK);
    cr_assert(found && g.id == rid && g.grant_seq == 0 && !g.appealed && !g.no_auto);
    cr_assert_str_eq(g.status, "pending");
    cr_assert_str_eq(g.purpose, "research");
    cr_assert_str_eq(g.reason, "");
    cr_assert_eq(sl_repo_request_get(db, rid + 100, &a, &q, &err), SL_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no such request");

    /* approved until 1600: expired from then on, in the counts too */
    cr_assert_eq(sl_repo_request_approve(db, rid, 1200, v, 1600, NULL, &err), SL_OK);
    cr_assert_eq(sl_repo_grant_counts(db, 1599, &c, &err), SL_OK);
    cr_assert(c.approved == 1 && c.expired == 0 && c.pending == 0);
    cr_assert_eq(sl_repo_grant_counts(db, 1600, &c, &err), SL_OK);
    cr_assert(c.approved == 0 && c.expired == 1);
    cr_assert_eq(sl_repo_grants_due_exist(db, 1599, &yes, &err), SL_OK);
    cr_assert(!yes);
    cr_assert_eq(sl_repo_grants_due(db, 1600, due, 1, &n, &err), SL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(due[0].id, rid);
    cr_assert_eq(due[0].user_id, u);
    cr_assert_str_eq(due[0].model, "acme/m");

    /* the license of this grant, and none after a new grant */
    cr_assert_eq(sl_repo_license_request(db, rid, &lr, &err), SL_OK);
    cr_assert(lr.user_id == u && lr.grant_seq == 1 && lr.expires == 1600);
    cr_assert_str_eq(lr.purpose, "research");
    cr_assert_eq(sl_repo_license_request(db, rid + 100, &lr, &err), SL_ENOTFOUND);
    cr_assert_eq(sl_repo_license_current(db, rid, 2, &a, &note, &idx, &err), SL_OK);
    cr_assert_null(note);
    cr_assert_eq(sl_repo_license_insert(db, "lic1", rid, 1, 2, 1200, "NOTE", &err), SL_OK);
    cr_assert_eq(sl_repo_license_insert(db, "lic2", rid, 1, 2, 1200, "NOTE", &err), SL_ECONFLICT,
                 "one license per grant and version");
    cr_assert_eq(sl_repo_license_current(db, rid, 2, &a, &note, &idx, &err), SL_OK);
    cr_assert_str_eq(note, "NOTE");
    cr_assert_eq(idx, -1);
    cr_assert_eq(sl_repo_license_set_log_idx(db, "lic1", 42, &err), SL_OK);
    cr_assert_eq(sl_repo_license_current(db, rid, 2, &a, &note, &idx, &err), SL_OK);
    cr_assert_eq(idx, 42);
    cr_assert_eq(sl_repo_request_approve(db, rid, 1300, v, 0, "everyone", &err), SL_OK);
    cr_assert_eq(sl_repo_license_current(db, rid, 2, &a, &note, &idx, &err), SL_OK);
    cr_assert_null(note, "a license of an earlier grant is not this grant's");

    /* revoke, then renew with history: the row shows it all */
    cr_assert_eq(sl_repo_request_revoke(db, rid, 1400, v, "misuse", &err), SL_OK);
    cr_assert_eq(sl_repo_grant_get(db, 1, u, &g, &found, &err), SL_OK);
    cr_assert_str_eq(g.status, "revoked");
    cr_assert_str_eq(g.reason, "misuse");
    cr_assert_eq(sl_repo_request_history(db, rid, &a, &text, &idx, &found, &err), SL_OK);
    cr_assert(found && text == NULL && idx == 1400);
    cr_assert_eq(sl_repo_request_renew(db, rid, "second", "{}", 1500, "[1]", true, &err), SL_OK);
    cr_assert_eq(sl_repo_request_renew(db, rid, "third", "{}", 1501, NULL, true, &err), SL_OK);
    cr_assert_eq(sl_repo_request_get(db, rid, &a, &q, &err), SL_OK);
    cr_assert_str_eq(q.user, "carol");
    cr_assert_str_eq(q.status, "pending");
    cr_assert_str_eq(q.purpose, "third");
    cr_assert_str_eq(q.history, "[1]", "a NULL history keeps the stored one");
    cr_assert(q.decided == 0 && q.reason == NULL && q.auto_rule == NULL && q.created == 1501);
    cr_assert_eq(sl_repo_grant_get(db, 1, u, &g, &found, &err), SL_OK);
    cr_assert(g.no_auto);

    /* deny twice, appeal */
    cr_assert_eq(sl_repo_request_deny(db, rid, 1600, v, "no", &err), SL_OK);
    cr_assert_eq(sl_repo_request_appeal(db, rid, "please", 1700, &err), SL_OK);
    cr_assert_eq(sl_repo_request_deny(db, rid, 1800, v, "still no", &err), SL_OK);
    cr_assert_eq(sl_repo_request_get(db, rid, &a, &q, &err), SL_OK);
    cr_assert(q.denials == 2 && q.appealed == 1700);
    cr_assert_str_eq(q.appeal, "please");
    cr_assert_str_eq(q.reason, "still no");

    /* rules: none stored, then replaced */
    cr_assert_eq(sl_repo_access_rules_get(db, 1, &a, &text, &err), SL_OK);
    cr_assert_null(text);
    cr_assert_eq(sl_repo_access_rules_put(db, 1, "{\"everyone\":true}", &err), SL_OK);
    cr_assert_eq(sl_repo_access_rules_put(db, 1, "{\"everyone\":false}", &err), SL_OK);
    cr_assert_eq(sl_repo_access_rules_get(db, 1, &a, &text, &err), SL_OK);
    cr_assert_str_eq(text, "{\"everyone\":false}");
    sl_arena_release(&a);
}

Test(sqlite, repo_grants_and_licenses)
{
    struct sl_db *db = dbfix_open_sqlite();
    grants_and_licenses(db);
    sl_db_close(db);
}

Test(pg, repo_grants_and_licenses)
{
    struct sl_db *db = dbfix_open_pg("repo_grants_and_licenses");
    grants_and_licenses(db);
    sl_db_close(db);
}

/* ---- the model listing and download counts ---- */

struct names {
    char v[8][200];
    int n;
};

static int add_name(void *ctx, const struct sl_repo_model_item *it)
{
    struct names *ns = ctx;

    if (ns->n < 8)
        snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", it->id);
    return 0;
}

static void listing(struct sl_db *db)
{
    struct sl_error err;
    struct sl_repo_model_query q = {NULL, NULL, NULL, false, 10, 0, 0};
    struct names ns;
    int64_t recent, all;

    model_fixture(db);
    exec_ok(db, "INSERT INTO models (id, org_id, name, created) VALUES (2, 1, 'a_b', 1000), "
                "(3, 1, 'axb', 1000)");
    exec_ok(db, "INSERT INTO versions (id, model_id, seq, commit_hash, manifest, tier, min_tier, "
                "decision, bytes_total, created) VALUES (3, 2, 1, 'c3', '{}', 'open', 'open', "
                "'{}', 5, 1000), (4, 3, 1, 'c4', '{}', 'open', 'open', '{}', 7, 1000)");
    exec_ok(db, "INSERT INTO refs (model_id, name, version_id) VALUES (2, 'main', 3), "
                "(3, 'main', 4)");
    memset(&ns, 0, sizeof(ns));
    cr_assert_eq(sl_repo_model_list(db, &q, add_name, &ns, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(ns.n, 3);
    cr_assert_str_eq(ns.v[0], "acme/a_b");
    cr_assert_str_eq(ns.v[2], "acme/m");
    /* '_' and '%' in a search are themselves, not LIKE wildcards */
    q.search = "A_B";
    memset(&ns, 0, sizeof(ns));
    cr_assert_eq(sl_repo_model_list(db, &q, add_name, &ns, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(ns.n, 1);
    cr_assert_str_eq(ns.v[0], "acme/a_b");
    q.search = "%";
    memset(&ns, 0, sizeof(ns));
    cr_assert_eq(sl_repo_model_list(db, &q, add_name, &ns, &err), SL_OK);
    cr_assert_eq(ns.n, 0);
    /* by size, largest first */
    q.search = NULL;
    q.sort = "mainSize";
    memset(&ns, 0, sizeof(ns));
    cr_assert_eq(sl_repo_model_list(db, &q, add_name, &ns, &err), SL_OK);
    cr_assert_str_eq(ns.v[0], "acme/m");
    cr_assert_str_eq(ns.v[1], "acme/axb");
    cr_assert(sl_repo_model_sort_ok("mainSize"));
    cr_assert(!sl_repo_model_sort_ok("m.id; DROP TABLE models"));

    /* downloads: per day, summed, recent only after `since_day` */
    cr_assert_eq(sl_repo_downloads_add(db, 2, 10, 3, &err), SL_OK);
    cr_assert_eq(sl_repo_downloads_add(db, 2, 10, 4, &err), SL_OK);
    cr_assert_eq(sl_repo_downloads_add(db, 1, 20, 5, &err), SL_OK);
    cr_assert_eq(sl_repo_downloads_sum(db, 1, 0, 15, &recent, &all, &err), SL_OK);
    cr_assert(recent == 5 && all == 12);
    cr_assert_eq(sl_repo_downloads_sum(db, 1, 2, 0, &recent, &all, &err), SL_OK);
    cr_assert(recent == 7 && all == 7);
}

Test(sqlite, repo_listing)
{
    struct sl_db *db = dbfix_open_sqlite();
    listing(db);
    sl_db_close(db);
}

Test(pg, repo_listing)
{
    struct sl_db *db = dbfix_open_pg("repo_listing");
    listing(db);
    sl_db_close(db);
}
