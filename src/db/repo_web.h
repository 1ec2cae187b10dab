/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed repository operations for the web UI's accounts (docs/web.md,
 * "Sessions"; migration 11): browser sessions, sign-up invitations and the
 * profiles users give at sign-up. Secrets are stored only as their SHA-256:
 * a session id and an invitation code never reach the database. Error
 * conventions as in repo_accounts.h; nothing here prints.
 */
#ifndef SL_DB_REPO_WEB_H
#define SL_DB_REPO_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/repo.h"

struct sl_db;

#define SL_REPO_CSRF_MAX   64  /* a CSRF token: 64 hex digits */
#define SL_REPO_SCOPES_TXT 31  /* "read write admin" */
#define SL_REPO_FIELD_MAX  200 /* a profile field or an invitation's email */

/* ---- sessions ---- */

/* Stores a session by the SHA-256 `hash` of its id, for `user_id`, opened
 * with token `token_id` whose `scopes` it keeps, with `csrf`, from `now`
 * until `expires`. */
/* Deletes the user's sessions beyond the `max` newest, never `keep` (the
 * one just opened). */
enum sl_err sl_repo_session_trim(struct sl_db *db, int64_t user_id, const unsigned char keep[32],
                                 int max, struct sl_error *err);
enum sl_err sl_repo_session_insert(struct sl_db *db, const unsigned char hash[32], int64_t user_id,
                                   int64_t token_id, const char *scopes, const char *csrf,
                                   int64_t now, int64_t expires, struct sl_error *err);

/* A session with what decides whether it is alive. */
struct sl_session_row {
    int64_t user_id;
    char name[SL_REPO_NAME_MAX + 1];
    bool is_admin;
    char scopes[SL_REPO_SCOPES_TXT + 1];
    char csrf[SL_REPO_CSRF_MAX + 1];
    int64_t created, expires;
    int64_t token_expires; /* 0: never */
    bool token_revoked;
    bool removed; /* the account was removed */
};

/* The session whose id hashes to `hash`; `*found` false when none. */
enum sl_err sl_repo_session_get(struct sl_db *db, const unsigned char hash[32],
                                struct sl_session_row *row, bool *found, struct sl_error *err);

/* Deletes the session of `hash`; `*deleted` false when there was none. */
enum sl_err sl_repo_session_delete(struct sl_db *db, const unsigned char hash[32], bool *deleted,
                                   struct sl_error *err);

/* Deletes every session that is dead at `now`: expired, or opened with a
 * token that is revoked or expired, or of a removed account. `*count` gets
 * how many. */
enum sl_err sl_repo_session_reap(struct sl_db *db, int64_t now, int *count, struct sl_error *err);

/* The id of the token whose SHA-256 is `hash`; `*found` false when none. */
enum sl_err sl_repo_token_id(struct sl_db *db, const unsigned char hash[32], int64_t *id,
                             bool *found, struct sl_error *err);

/* ---- the sign-up limit (migration 13) ---- */

/* Takes one of `max` sign-ups allowed per `window` seconds to the client
 * address whose keyed hash is `hash`: in one write transaction of its own
 * (so two servers of a hub racing for the last one cannot both get it) it
 * counts the sign-ups of `hash` after `now - window` and, when fewer than
 * `max`, records one at `now` and sets `*allowed`. A refused attempt records
 * nothing. Call it outside any transaction. */
enum sl_err sl_repo_signup_take(struct sl_db *db, const unsigned char hash[32], int64_t now,
                                int64_t window, int max, bool *allowed, struct sl_error *err);

/* Deletes every sign-up recorded at or before `before`; `*count` gets how
 * many. */
enum sl_err sl_repo_signup_prune(struct sl_db *db, int64_t before, int *count,
                                 struct sl_error *err);

/* ---- invitations ---- */

/* Stores an invitation by the SHA-256 `hash` of its code (`email` may be
 * NULL: anyone holding the code), made by `created_by` at `now`, valid
 * until `expires`; `*id` gets its id. */
enum sl_err sl_repo_invite_insert(struct sl_db *db, const unsigned char hash[32], const char *email,
                                  int64_t created_by, int64_t now, int64_t expires, int64_t *id,
                                  struct sl_error *err);

struct sl_invite_row {
    int64_t id;
    char *email; /* NULL: any */
    int64_t created, expires;
    char *used_by;        /* the user name, NULL while unused */
    bool creator_removed; /* sl_repo_invite_get only: the admin who made it was removed */
};

/* The name of a user (removed ones included) equal to `name` ignoring
 * ASCII case, in `arena`, or NULL when there is none. */
enum sl_err sl_repo_user_name_nocase(struct sl_db *db, const char *name, struct sl_arena *arena,
                                     char **existing, struct sl_error *err);

/* Every invitation, newest first: `*rows` in `arena` (NULL when none). */
enum sl_err sl_repo_invite_list(struct sl_db *db, struct sl_arena *arena,
                                struct sl_invite_row **rows, size_t *n, struct sl_error *err);

/* The invitation whose code hashes to `hash`: its id, email (in `arena`,
 * NULL for any), expiry, whether it is used and whether the admin who made
 * it was removed since; `*found` false when none. */
enum sl_err sl_repo_invite_get(struct sl_db *db, const unsigned char hash[32],
                               struct sl_arena *arena, struct sl_invite_row *row, bool *found,
                               struct sl_error *err);

/* Marks invitation `id` used by `user_id` if it is unused and unexpired at
 * `now`: `*taken` true when this call took it (one caller wins a race). */
enum sl_err sl_repo_invite_use(struct sl_db *db, int64_t id, int64_t user_id, int64_t now,
                               bool *taken, struct sl_error *err);

/* Deletes invitation `id`; `*deleted` false when there was none. */
enum sl_err sl_repo_invite_delete(struct sl_db *db, int64_t id, bool *deleted,
                                  struct sl_error *err);

/* ---- profiles and the admin lists ---- */

/* Stores the profile of `user_id` (any field may be NULL). */
enum sl_err sl_repo_profile_insert(struct sl_db *db, int64_t user_id, const char *name,
                                   const char *email, const char *affiliation, const char *country,
                                   int64_t now, struct sl_error *err);

/* A user as the admin page lists it: the profile's fields, else those the
 * account was created with (name NULL without a profile). */
struct sl_user_row {
    char user[SL_REPO_NAME_MAX + 1];
    bool is_admin;
    bool removed;
    int64_t created;
    char *name, *email, *affiliation, *country; /* NULL when not given */
};

/* Every user by name: `*rows` in `arena` (NULL when none). */
enum sl_err sl_repo_user_list(struct sl_db *db, struct sl_arena *arena, struct sl_user_row **rows,
                              size_t *n, struct sl_error *err);

/* Every org name, in order: `*names` in `arena` (NULL when none). */
enum sl_err sl_repo_org_list(struct sl_db *db, struct sl_arena *arena, char ***names, size_t *n,
                             struct sl_error *err);

#endif
