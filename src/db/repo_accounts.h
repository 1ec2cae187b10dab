/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed repository operations on accounts: users, API tokens, orgs and
 * their members. The SQL for these entities lives here; src/registry/
 * calls these instead (the storage seam, docs/repository.md). Each
 * operation runs one or a few statements on `db`, inside the caller's
 * transaction when there is one, and returns an sl_err: SL_ENOTFOUND names
 * what is missing, SL_ECONFLICT a broken uniqueness, SL_EUNAVAILABLE a
 * database that cannot be reached or asks for a retry, SL_EIO or
 * SL_EINTERNAL anything else. Nothing here prints.
 *
 * Lookups where absence is a normal answer (a role, a membership test) take
 * a `bool *found` (or `bool *yes`) out-parameter instead of returning
 * SL_ENOTFOUND; their comments say which.
 */
#ifndef SL_DB_REPO_ACCOUNTS_H
#define SL_DB_REPO_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/repo.h"

struct sl_db;

#define SL_REPO_ROLE_MAX   15 /* "admin", "publisher", "member" */
#define SL_REPO_SCOPES_MAX 31 /* tokens.scopes: "read write admin" */

/* ---- users ---- */

/* Inserts a user created at `now` (email, affiliation and country may be
 * NULL); `*id` gets its id. SL_ECONFLICT "user \"NAME\" already exists". */
enum sl_err sl_repo_user_insert(struct sl_db *db, const char *name, const char *email,
                                const char *affiliation, const char *country, bool admin,
                                int64_t now, int64_t *id, struct sl_error *err);

/* The id of user `name` (removed accounts included). SL_ENOTFOUND
 * "no user named \"NAME\"". */
enum sl_err sl_repo_user_find(struct sl_db *db, const char *name, int64_t *id,
                              struct sl_error *err);

/* As sl_repo_user_find, but a removed account is not found. */
enum sl_err sl_repo_user_find_live(struct sl_db *db, const char *name, int64_t *id,
                                   struct sl_error *err);

/* Marks user `user_id` removed at `now`, revokes its live tokens and drops
 * its memberships, in this order (call inside a transaction). */
enum sl_err sl_repo_user_remove(struct sl_db *db, int64_t user_id, int64_t now,
                                struct sl_error *err);

/* How many users are admins (removed ones included). */
enum sl_err sl_repo_user_admin_count(struct sl_db *db, int64_t *n, struct sl_error *err);

/* The email of user `user_id`: `*email` is NULL when none was given (a
 * copy in `arena` otherwise); `*found` false when there is no such user. */
enum sl_err sl_repo_user_email(struct sl_db *db, int64_t user_id, struct sl_arena *arena,
                               char **email, bool *found, struct sl_error *err);

/* ---- tokens ---- */

/* Stores a token by its SHA-256 `hash` with `scopes` (text such as
 * "read write "), created at `now`, expiring at `expires` (0: never). */
enum sl_err sl_repo_token_insert(struct sl_db *db, int64_t user_id, const unsigned char hash[32],
                                 const char *scopes, int64_t now, int64_t expires,
                                 struct sl_error *err);

/* A token with its account, as sl_reg_auth() judges it. */
struct sl_token_row {
    int64_t user_id;
    char name[SL_REPO_NAME_MAX + 1];
    bool is_admin; /* the account is an admin */
    char scopes[SL_REPO_SCOPES_MAX + 1];
    int64_t expires; /* 0: never */
    bool revoked;    /* the token was revoked */
    bool removed;    /* the account was removed */
};

/* The token whose SHA-256 is `hash`; `*found` false when none is stored. */
enum sl_err sl_repo_token_get(struct sl_db *db, const unsigned char hash[32],
                              struct sl_token_row *row, bool *found, struct sl_error *err);

/* Revokes at `now` the live token of SHA-256 `hash`, or every live token of
 * user `user_id`; `*count` gets how many were revoked (0 is not an error). */
enum sl_err sl_repo_token_revoke_hash(struct sl_db *db, const unsigned char hash[32], int64_t now,
                                      int *count, struct sl_error *err);
enum sl_err sl_repo_token_revoke_user(struct sl_db *db, int64_t user_id, int64_t now, int *count,
                                      struct sl_error *err);

/* ---- orgs and members ---- */

/* Inserts org `name` created at `now`. SL_ECONFLICT "org \"NAME\" already
 * exists". */
enum sl_err sl_repo_org_insert(struct sl_db *db, const char *name, int64_t now,
                               struct sl_error *err);

/* The id of org `name`. SL_ENOTFOUND "no org named \"NAME\"". */
enum sl_err sl_repo_org_find(struct sl_db *db, const char *name, int64_t *id, struct sl_error *err);

/* Makes `user_id` a member of `org_id` with `role`, or changes its role. */
enum sl_err sl_repo_member_upsert(struct sl_db *db, int64_t org_id, int64_t user_id,
                                  const char *role, struct sl_error *err);

/* Removes `user_id` from `org_id`; `*removed` false when it was no member. */
enum sl_err sl_repo_member_delete(struct sl_db *db, int64_t org_id, int64_t user_id, bool *removed,
                                  struct sl_error *err);

/* The role of `user_id` in `org_id`; `*found` false when it is no member. */
enum sl_err sl_repo_member_role(struct sl_db *db, int64_t org_id, int64_t user_id,
                                char role[SL_REPO_ROLE_MAX + 1], bool *found, struct sl_error *err);

/* `*yes` when `user_id` is an admin member of `org_id`. */
enum sl_err sl_repo_member_is_admin(struct sl_db *db, int64_t org_id, int64_t user_id, bool *yes,
                                    struct sl_error *err);

/* `*yes` when `user_id` is a member (any role) of the org named `org`. */
enum sl_err sl_repo_member_of_org_named(struct sl_db *db, const char *org, int64_t user_id,
                                        bool *yes, struct sl_error *err);

/* A member of an org, or an org of a user. */
struct sl_member_row {
    int64_t org_id;                  /* sl_repo_user_orgs only */
    char org[SL_REPO_NAME_MAX + 1];  /* sl_repo_user_orgs only */
    char user[SL_REPO_NAME_MAX + 1]; /* sl_repo_org_members only */
    char role[SL_REPO_ROLE_MAX + 1];
};

/* The members of `org_id` by user name: `*rows` (allocated in `arena`,
 * NULL when there are none) and `*n`. */
enum sl_err sl_repo_org_members(struct sl_db *db, int64_t org_id, struct sl_arena *arena,
                                struct sl_member_row **rows, size_t *n, struct sl_error *err);

/* The orgs `user_id` belongs to by org name, as above. */
enum sl_err sl_repo_user_orgs(struct sl_db *db, int64_t user_id, struct sl_arena *arena,
                              struct sl_member_row **rows, size_t *n, struct sl_error *err);

#endif
