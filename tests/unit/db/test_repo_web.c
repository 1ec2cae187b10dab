/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The web UI's repository operations (src/db/repo_web.h, migration 11), the
 * same checks on both drivers: a session is found by its hash with what
 * decides whether it lives (its token revoked or expired, its account
 * removed), reaping deletes exactly the dead ones, an invitation is taken
 * once and never when expired, and the admin lists come in name order with
 * the profile over the account's own fields. The PostgreSQL half runs under
 * CTest unit_pg.db (suite "pg"), the SQLite half under unit.db.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/repo_accounts.h"
#include "db/repo_web.h"
#include "../helpers.h"
#include "dbfix.h"

static int64_t user(struct sl_db *db, const char *name, const char *email)
{
    struct sl_error err;
    int64_t id = 0;

    cr_assert_eq(sl_repo_user_insert(db, name, email, "Lab", "KE", false, 1000, &id, &err), SL_OK,
                 "%s", err.msg);
    return id;
}

/* A token for `user_id` whose hash is `tag` repeated; returns its id. */
static int64_t token(struct sl_db *db, int64_t user_id, unsigned char tag, int64_t expires)
{
    struct sl_error err;
    unsigned char h[32];
    int64_t id = 0;
    bool found = false;

    memset(h, tag, sizeof(h));
    cr_assert_eq(sl_repo_token_insert(db, user_id, h, "read write ", 1000, expires, &err), SL_OK,
                 "%s", err.msg);
    cr_assert_eq(sl_repo_token_id(db, h, &id, &found, &err), SL_OK, "%s", err.msg);
    cr_assert(found);
    return id;
}

static void session(struct sl_db *db, unsigned char tag, int64_t user_id, int64_t token_id,
                    int64_t expires)
{
    struct sl_error err;
    unsigned char h[32];

    memset(h, tag, sizeof(h));
    cr_assert_eq(sl_repo_session_insert(db, h, user_id, token_id, "read write ",
                                        "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
                                        "c0ffee00",
                                        1000, expires, &err),
                 SL_OK, "%s", err.msg);
}

static bool has_session(struct sl_db *db, unsigned char tag, struct sl_session_row *row)
{
    struct sl_error err;
    unsigned char h[32];
    bool found = false;

    memset(h, tag, sizeof(h));
    cr_assert_eq(sl_repo_session_get(db, h, row, &found, &err), SL_OK, "%s", err.msg);
    return found;
}

static void sessions(struct sl_db *db)
{
    struct sl_session_row row;
    struct sl_error err;
    unsigned char h[32];
    int64_t ann = user(db, "ann", NULL), bob = user(db, "bob", NULL);
    int64_t t1 = token(db, ann, 1, 0), t2 = token(db, ann, 2, 5000), t3 = token(db, bob, 3, 0);
    bool found, deleted;
    int n;

    session(db, 0xa1, ann, t1, 9000); /* lives */
    session(db, 0xa2, ann, t1, 1500); /* expires at 1500 */
    session(db, 0xa3, ann, t2, 9000); /* its token expires at 5000 */
    session(db, 0xb1, bob, t3, 9000); /* bob is removed below */
    memset(h, 0xa1, sizeof(h));
    cr_assert_eq(sl_repo_session_insert(db, h, ann, t1, "read ", "x", 1, 2, &err), SL_ECONFLICT,
                 "a session id is stored once");
    cr_assert(has_session(db, 0xa1, &row));
    cr_expect_eq(row.user_id, ann);
    cr_expect_str_eq(row.name, "ann");
    cr_expect_str_eq(row.scopes, "read write ");
    cr_expect_eq(strlen(row.csrf), 64);
    cr_expect_eq(row.created, 1000);
    cr_expect_eq(row.expires, 9000);
    cr_expect(!row.token_revoked && !row.removed && row.token_expires == 0);
    cr_assert(has_session(db, 0xa3, &row));
    cr_expect_eq(row.token_expires, 5000);
    cr_expect(!has_session(db, 0x77, &row), "an unknown hash is not found");

    /* nothing is dead at 1000 */
    cr_assert_eq(sl_repo_session_reap(db, 1000, &n, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(n, 0);
    /* the removed account and the revoked token show on the row */
    cr_assert_eq(sl_repo_user_remove(db, bob, 1100, &err), SL_OK, "%s", err.msg);
    cr_assert(has_session(db, 0xb1, &row));
    cr_expect(row.removed && row.token_revoked);
    cr_assert_eq(sl_repo_session_reap(db, 1200, &n, &err), SL_OK);
    cr_expect_eq(n, 1, "bob's session");
    cr_expect(!has_session(db, 0xb1, &row));
    /* at 6000: a2 (expired) and a3 (its token expired); a1 lives */
    cr_assert_eq(sl_repo_session_reap(db, 6000, &n, &err), SL_OK);
    cr_expect_eq(n, 2);
    cr_expect(has_session(db, 0xa1, &row));
    cr_expect(!has_session(db, 0xa2, &row) && !has_session(db, 0xa3, &row));
    /* a revoked token kills its sessions */
    memset(h, 1, sizeof(h));
    cr_assert_eq(sl_repo_token_revoke_hash(db, h, 6100, &n, &err), SL_OK);
    cr_assert(has_session(db, 0xa1, &row));
    cr_expect(row.token_revoked);
    cr_assert_eq(sl_repo_session_reap(db, 6200, &n, &err), SL_OK);
    cr_expect_eq(n, 1);
    /* delete */
    session(db, 0xa4, ann, t1, 9000);
    memset(h, 0xa4, sizeof(h));
    cr_assert_eq(sl_repo_session_delete(db, h, &deleted, &err), SL_OK);
    cr_expect(deleted);
    cr_assert_eq(sl_repo_session_delete(db, h, &deleted, &err), SL_OK);
    cr_expect(!deleted);
    memset(h, 0x55, sizeof(h));
    cr_assert_eq(sl_repo_token_id(db, h, &t1, &found, &err), SL_OK);
    cr_expect(!found);
}

Test(sqlite, repo_web_sessions)
{
    struct sl_db *db = dbfix_open_sqlite();
    sessions(db);
    sl_db_close(db);
}

Test(pg, repo_web_sessions)
{
    struct sl_db *db = dbfix_open_pg("repo_web_sessions");
    sessions(db);
    sl_db_close(db);
}

static void invitations(struct sl_db *db)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_invite_row row, *rows;
    struct sl_error err;
    unsigned char h1[32], h2[32], h3[32];
    int64_t admin = user(db, "root", NULL), ann = user(db, "ann", NULL),
            bob = user(db, "bob", NULL);
    int64_t i1, i2, i3, dup;
    bool found, taken, deleted;
    size_t n;

    memset(h1, 1, sizeof(h1));
    memset(h2, 2, sizeof(h2));
    memset(h3, 3, sizeof(h3));
    cr_assert_eq(sl_repo_invite_insert(db, h1, NULL, admin, 1000, 5000, &i1, &err), SL_OK, "%s",
                 err.msg);
    cr_assert_eq(sl_repo_invite_insert(db, h2, "x@example.org", admin, 1100, 2000, &i2, &err),
                 SL_OK);
    cr_assert_eq(sl_repo_invite_insert(db, h3, NULL, 0, 1200, 5000, &i3, &err), SL_OK);
    cr_assert(i1 > 0 && i2 > i1 && i3 > i2);
    cr_assert_eq(sl_repo_invite_insert(db, h1, NULL, admin, 1000, 5000, &dup, &err), SL_ECONFLICT);

    cr_assert_eq(sl_repo_invite_get(db, h2, &a, &row, &found, &err), SL_OK);
    cr_assert(found);
    cr_expect_eq(row.id, i2);
    cr_expect_str_eq(row.email, "x@example.org");
    cr_expect_eq(row.expires, 2000);
    cr_expect_null(row.used_by);

    /* taken once; a second taker loses; an expired one is never taken */
    cr_assert_eq(sl_repo_invite_use(db, i1, ann, 1500, &taken, &err), SL_OK);
    cr_expect(taken);
    cr_assert_eq(sl_repo_invite_use(db, i1, bob, 1500, &taken, &err), SL_OK);
    cr_expect(!taken);
    cr_assert_eq(sl_repo_invite_use(db, i2, bob, 2000, &taken, &err), SL_OK);
    cr_expect(!taken, "expired at 2000");
    cr_assert_eq(sl_repo_invite_get(db, h1, &a, &row, &found, &err), SL_OK);
    cr_expect_str_eq(row.used_by, "ann");

    /* newest first */
    cr_assert_eq(sl_repo_invite_list(db, &a, &rows, &n, &err), SL_OK);
    cr_assert_eq(n, 3);
    cr_expect_eq(rows[0].id, i3);
    cr_expect_eq(rows[2].id, i1);
    cr_expect_str_eq(rows[2].used_by, "ann");
    cr_expect_null(rows[1].used_by);
    cr_expect_eq(rows[1].created, 1100);

    cr_assert_eq(sl_repo_invite_delete(db, i3, &deleted, &err), SL_OK);
    cr_expect(deleted);
    cr_assert_eq(sl_repo_invite_delete(db, i3, &deleted, &err), SL_OK);
    cr_expect(!deleted);
    cr_assert_eq(sl_repo_invite_get(db, h3, &a, &row, &found, &err), SL_OK);
    cr_expect(!found);
    sl_arena_release(&a);
}

Test(sqlite, repo_web_invitations)
{
    struct sl_db *db = dbfix_open_sqlite();
    invitations(db);
    sl_db_close(db);
}

Test(pg, repo_web_invitations)
{
    struct sl_db *db = dbfix_open_pg("repo_web_invitations");
    invitations(db);
    sl_db_close(db);
}

static void lists(struct sl_db *db)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_user_row *rows;
    struct sl_error err;
    int64_t zed = user(db, "zed", "z@example.org"), amy = user(db, "amy", NULL);
    char **orgs;
    size_t n;

    (void)amy;
    cr_assert_eq(
        sl_repo_profile_insert(db, zed, "Zed Z", "zed@example.org", NULL, "Kenya", 1500, &err),
        SL_OK, "%s", err.msg);
    cr_assert_eq(sl_repo_profile_insert(db, zed, "again", NULL, NULL, NULL, 1600, &err),
                 SL_ECONFLICT, "one profile per user");
    cr_assert_eq(sl_repo_user_remove(db, amy, 2000, &err), SL_OK);
    cr_assert_eq(sl_repo_user_list(db, &a, &rows, &n, &err), SL_OK);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(rows[0].user, "amy");
    cr_expect(rows[0].removed);
    cr_expect_null(rows[0].name);
    cr_expect_null(rows[0].email);
    cr_expect_str_eq(rows[0].affiliation, "Lab", "the account's own field without a profile");
    cr_expect_str_eq(rows[1].user, "zed");
    cr_expect(!rows[1].removed);
    cr_expect_eq(rows[1].created, 1000);
    cr_expect_str_eq(rows[1].name, "Zed Z");
    cr_expect_str_eq(rows[1].email, "zed@example.org", "the profile over the account");
    cr_expect_str_eq(rows[1].country, "Kenya");
    cr_expect_str_eq(rows[1].affiliation, "Lab");

    cr_assert_eq(sl_repo_org_list(db, &a, &orgs, &n, &err), SL_OK);
    cr_expect_eq(n, 0);
    cr_assert_eq(sl_repo_org_insert(db, "zlab", 1, &err), SL_OK);
    cr_assert_eq(sl_repo_org_insert(db, "Alab", 1, &err), SL_OK);
    cr_assert_eq(sl_repo_org_insert(db, "alab", 1, &err), SL_OK);
    cr_assert_eq(sl_repo_org_list(db, &a, &orgs, &n, &err), SL_OK);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(orgs[0], "Alab", "byte order on both drivers");
    cr_expect_str_eq(orgs[1], "alab");
    cr_expect_str_eq(orgs[2], "zlab");
    sl_arena_release(&a);
}

Test(sqlite, repo_web_lists)
{
    struct sl_db *db = dbfix_open_sqlite();
    lists(db);
    sl_db_close(db);
}

Test(pg, repo_web_lists)
{
    struct sl_db *db = dbfix_open_pg("repo_web_lists");
    lists(db);
    sl_db_close(db);
}

/* ---- the sign-up limit ---- */

static int64_t signup_rows(struct sl_db *db)
{
    struct sl_error err;
    struct sl_stmt *st = sl_db_stmt(db, "SELECT count(*) FROM signup_attempts", &err);
    int64_t n;

    cr_assert(st, "%s", err.msg);
    cr_assert_eq(sl_stmt_step(st, &err), 1, "%s", err.msg);
    n = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    return n;
}

static bool take(struct sl_db *db, unsigned char tag, int64_t now)
{
    struct sl_error err;
    unsigned char h[32];
    bool ok = true;

    memset(h, tag, sizeof(h));
    cr_assert_eq(sl_repo_signup_take(db, h, now, 3600, 5, &ok, &err), SL_OK, "%s", err.msg);
    return ok;
}

static void signups(struct sl_db *db)
{
    struct sl_error err;
    int n = -1;

    for (int i = 0; i < 5; i++)
        cr_assert(take(db, 1, 1000 + i), "sign-up %d", i);
    cr_assert_not(take(db, 1, 1005), "the 6th in the hour is refused");
    cr_assert_not(take(db, 1, 4599), "still within the hour of the 1st");
    /* a refused attempt records nothing, or a steady trickle would never end */
    cr_assert_eq(signup_rows(db), 5);
    cr_assert(take(db, 2, 1006), "another address has its own count");
    /* the 1st (at 1000) is an hour old at 4600: one more may pass, not two */
    cr_assert(take(db, 1, 4600));
    cr_assert_not(take(db, 1, 4600));
    /* pruning deletes what is at or before the cut, nothing else */
    cr_assert_eq(sl_repo_signup_prune(db, 1003, &n, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(n, 4);
    cr_assert_eq(signup_rows(db), 3);
    cr_assert_eq(sl_repo_signup_prune(db, 1003, &n, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(n, 0);
    /* a failed step is an error, never "allowed" */
    cr_assert_eq(sl_db_exec(db, "DROP TABLE signup_attempts", &err), SL_OK, "%s", err.msg);
    {
        unsigned char h[32] = {3};
        bool ok = true;
        cr_expect_neq(sl_repo_signup_take(db, h, 5000, 3600, 5, &ok, &err), SL_OK);
        cr_expect_not(ok);
        cr_expect_neq(sl_repo_signup_prune(db, 5000, &n, &err), SL_OK);
    }
}

Test(sqlite, repo_web_signups)
{
    struct sl_db *db = dbfix_open_sqlite();
    signups(db);
    sl_db_close(db);
}

Test(pg, repo_web_signups)
{
    struct sl_db *db = dbfix_open_pg("repo_web_signups");
    signups(db);
    sl_db_close(db);
}

/* Two connections (two servers of a hub) race for the same address's
 * sign-ups: exactly 5 get through, never 6. */
struct racer {
    struct sl_db *db;
    int allowed;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct sl_error err;
    unsigned char h[32];

    memset(h, 7, sizeof(h));
    for (int i = 0; i < 20; i++) {
        bool ok = false;
        if (sl_repo_signup_take(r->db, h, 1000, 3600, 5, &ok, &err) != SL_OK)
            return NULL;
        r->allowed += ok;
    }
    r->allowed += 1000; /* finished without an error */
    return NULL;
}

static void racing(const char *url)
{
    struct racer a = {dbfix_open(url), 0}, b = {dbfix_open(url), 0};
    pthread_t ta, tb;

    cr_assert_eq(pthread_create(&ta, NULL, race, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_geq(a.allowed, 1000, "a take failed");
    cr_assert_geq(b.allowed, 1000, "a take failed");
    cr_assert_eq(a.allowed + b.allowed - 2000, 5, "%d and %d got through", a.allowed - 1000,
                 b.allowed - 1000);
    cr_assert_eq(signup_rows(a.db), 5);
    sl_db_close(a.db);
    sl_db_close(b.db);
}

Test(sqlite, repo_web_signups_race)
{
    char *url = dbfix_sqlite_url();
    struct sl_db *db = dbfix_open(url); /* migrated before the race */
    sl_db_close(db);
    racing(url);
    free(url);
}

Test(pg, repo_web_signups_race)
{
    char *url = dbfix_pg_url("repo_web_signups_race");
    struct sl_db *db = dbfix_open(url);
    sl_db_close(db);
    racing(url);
    free(url);
}

/* A failed step is an error, never "not found" or a short list. */
Test(sqlite, repo_web_failed_steps)
{
    struct sl_db *db = dbfix_open_sqlite();
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_session_row row;
    struct sl_invite_row *rows;
    struct sl_user_row *users;
    struct sl_error err;
    unsigned char h[32] = {0};
    bool found;
    size_t n;
    int c;

    cr_assert_eq(sl_db_exec(db, "DROP TABLE web_sessions; DROP TABLE invitations", &err), SL_OK);
    cr_expect_neq(sl_repo_session_get(db, h, &row, &found, &err), SL_OK);
    cr_expect_neq(sl_repo_session_reap(db, 1, &c, &err), SL_OK);
    cr_expect_neq(sl_repo_invite_list(db, &a, &rows, &n, &err), SL_OK);
    cr_assert_eq(sl_db_exec(db, "DROP TABLE user_profiles", &err), SL_OK);
    cr_expect_neq(sl_repo_user_list(db, &a, &users, &n, &err), SL_OK);
    sl_arena_release(&a);
    sl_db_close(db);
}
