/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed repository operations for tiered access (docs/access.md): access
 * requests and the grants they become, click-through acceptances,
 * auto-approval rules, licenses and their revocations, and the few reads of
 * versions and evaluator keys the download rule needs. The SQL lives here;
 * src/registry/access.c decides and logs (the storage seam,
 * docs/repository.md). Writes run inside the caller's transaction.
 *
 * Errors as in repo_accounts.h: SL_ENOTFOUND names what is missing,
 * SL_ECONFLICT a broken constraint, SL_EUNAVAILABLE a database to retry,
 * SL_EIO/SL_EINTERNAL anything else; nothing prints. Lookups where absence
 * is a normal answer take a `bool *found` (or `*yes`) instead of returning
 * SL_ENOTFOUND. Unbounded text (fields, history, notes, rules) is copied
 * into a caller's arena; bounded text into fixed arrays.
 */
#ifndef SL_DB_REPO_ACCESS_H
#define SL_DB_REPO_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/repo.h"
#include "db/repo_accounts.h"

struct sl_db;

#define SL_REPO_STATUS_MAX  15   /* pending, approved, denied, revoked, expired */
#define SL_REPO_REASON_MAX  2000 /* a decision's reason, an appeal */
#define SL_REPO_PURPOSE_MAX 2000 /* a request's purpose (SL_GOV_PURPOSE_MAX) */
#define SL_REPO_LIC_ID_MAX  32   /* licenses.id: 16 hex digits today */

/* ---- versions (what access needs of them) ---- */

/* The license text of version `version_id` (a copy in `arena`), or NULL
 * when the publisher gave none. SL_ENOTFOUND "no such version". */
enum sl_err sl_repo_version_license(struct sl_db *db, int64_t version_id, struct sl_arena *arena,
                                    char **text, struct sl_error *err);

/* The version `main` of a model points at. */
struct sl_repo_main {
    int64_t version_id, seq;
    char commit[65];
    char tier[SL_REPO_TIER_MAX + 1];
};

/* `main` of `model_id`. SL_ENOTFOUND "the model has no main version". */
enum sl_err sl_repo_main_version(struct sl_db *db, int64_t model_id, struct sl_repo_main *v,
                                 struct sl_error *err);

/* `*yes` when `user_id` holds a live (unrevoked) evaluator key. */
enum sl_err sl_repo_eval_key_live(struct sl_db *db, int64_t user_id, bool *yes,
                                  struct sl_error *err);

/* ---- click-through acceptances ---- */

/* `*yes` when `user_id` accepted the license of SHA-256 `sha` on `model_id`. */
enum sl_err sl_repo_acceptance_exists(struct sl_db *db, int64_t user_id, int64_t model_id,
                                      const char *sha, bool *yes, struct sl_error *err);

/* Records the acceptance at `now`; `*fresh` false when it was recorded
 * before (nothing changes then). */
enum sl_err sl_repo_acceptance_insert(struct sl_db *db, int64_t user_id, int64_t model_id,
                                      const char *sha, int64_t now, bool *fresh,
                                      struct sl_error *err);

/* ---- access requests and grants ---- */

/* One account's request for a model, as the decisions read it. `status`
 * is the stored one: an approval past `expires` is still "approved" here
 * (the registry calls it expired). */
struct sl_grant_row {
    int64_t id, grant_seq;
    int64_t expires; /* 0: never */
    int64_t denials;
    char status[SL_REPO_STATUS_MAX + 1];
    char reason[SL_REPO_REASON_MAX + 1]; /* "" when none */
    char purpose[SL_REPO_PURPOSE_MAX + 1];
    bool appealed; /* an appeal was made */
    bool no_auto;  /* revoked or finally denied once: manual review only */
};

/* The request of `user_id` for `model_id`; `*found` false when none. */
enum sl_err sl_repo_grant_get(struct sl_db *db, int64_t model_id, int64_t user_id,
                              struct sl_grant_row *g, bool *found, struct sl_error *err);

/* A request as its API answer shows it. Text that may be NULL in the
 * database is NULL here; times are 0 when unset. */
struct sl_request_row {
    int64_t id;
    char user[SL_REPO_NAME_MAX + 1];
    char status[SL_REPO_STATUS_MAX + 1]; /* stored (see sl_grant_row) */
    char *purpose;                       /* arena */
    char *fields;                        /* arena: a JSON object's text */
    int64_t created, decided, appealed, expires;
    char *reason, *appeal, *auto_rule; /* arena or NULL */
    int64_t denials;
    char *history; /* arena: a JSON array's text, or NULL */
};

/* Request `id`. SL_ENOTFOUND "no such request". */
enum sl_err sl_repo_request_get(struct sl_db *db, int64_t id, struct sl_arena *arena,
                                struct sl_request_row *row, struct sl_error *err);

/* The requests of `model_id` by creation time: `*rows` (in `arena`; NULL
 * when none) and `*n`. */
enum sl_err sl_repo_request_list(struct sl_db *db, int64_t model_id, struct sl_arena *arena,
                                 struct sl_request_row **rows, size_t *n, struct sl_error *err);

/* A new pending request created at `now` (`fields`: JSON text); `*id` gets
 * its id. */
enum sl_err sl_repo_request_insert(struct sl_db *db, int64_t model_id, int64_t user_id,
                                   const char *purpose, const char *fields, int64_t now,
                                   int64_t *id, struct sl_error *err);

/* Starts request `id` over as pending with a new purpose and fields: the
 * decision, appeal and expiry are cleared; `history` (JSON text) replaces
 * the stored one unless NULL; `no_auto` is stored. */
enum sl_err sl_repo_request_renew(struct sl_db *db, int64_t id, const char *purpose,
                                  const char *fields, int64_t now, const char *history,
                                  bool no_auto, struct sl_error *err);

/* The stored history (JSON text in `arena`, NULL when none) and decision
 * time (0 when none) of request `id`; `*found` false when there is none. */
enum sl_err sl_repo_request_history(struct sl_db *db, int64_t id, struct sl_arena *arena,
                                    char **history, int64_t *decided, bool *found,
                                    struct sl_error *err);

/* Approves request `id` at `now`: `decided_by` (0: none, a rule), `expires`
 * (0: never), `rule` (NULL: none); the grant sequence moves on. */
enum sl_err sl_repo_request_approve(struct sl_db *db, int64_t id, int64_t now, int64_t decided_by,
                                    int64_t expires, const char *rule, struct sl_error *err);

/* Denies pending request `id` (one more denial) with `reason`. */
enum sl_err sl_repo_request_deny(struct sl_db *db, int64_t id, int64_t now, int64_t decided_by,
                                 const char *reason, struct sl_error *err);

/* Revokes the grant of request `id` with `reason`, decided by `decided_by`. */
enum sl_err sl_repo_request_revoke(struct sl_db *db, int64_t id, int64_t now, int64_t decided_by,
                                   const char *reason, struct sl_error *err);

/* Revokes the grant of request `id` with `reason` and no deciding account
 * (the account itself was removed). */
enum sl_err sl_repo_request_revoke_unattributed(struct sl_db *db, int64_t id, int64_t now,
                                                const char *reason, struct sl_error *err);

/* Makes denied request `id` pending again with the appeal `text`. */
enum sl_err sl_repo_request_appeal(struct sl_db *db, int64_t id, const char *text, int64_t now,
                                   struct sl_error *err);

/* Marks request `id` expired. */
enum sl_err sl_repo_request_expire(struct sl_db *db, int64_t id, struct sl_error *err);

/* A grant with its model's name. */
struct sl_grant_ref {
    int64_t id, user_id;
    char model[SL_REPO_MODEL_MAX + 1]; /* "org/name" */
};

/* The approved requests of `user_id` by id (in `arena`). */
enum sl_err sl_repo_grants_of_user(struct sl_db *db, int64_t user_id, struct sl_arena *arena,
                                   struct sl_grant_ref **rows, size_t *n, struct sl_error *err);

/* `*yes` when some approval has an expiry at or before `now`. */
enum sl_err sl_repo_grants_due_exist(struct sl_db *db, int64_t now, bool *yes,
                                     struct sl_error *err);

/* Up to `max` approvals whose expiry is at or before `now` into `rows`;
 * `*n` gets how many. */
enum sl_err sl_repo_grants_due(struct sl_db *db, int64_t now, struct sl_grant_ref *rows, size_t max,
                               size_t *n, struct sl_error *err);

/* Requests by state; an approval whose expiry is at or before `now` counts
 * as expired. */
struct sl_grant_counts {
    int64_t pending, approved, denied, revoked, expired;
};
enum sl_err sl_repo_grant_counts(struct sl_db *db, int64_t now, struct sl_grant_counts *c,
                                 struct sl_error *err);

/* ---- auto-approval rules ---- */

/* The rules of `model_id` (JSON text in `arena`); `*rules` NULL when the
 * model has none stored. */
enum sl_err sl_repo_access_rules_get(struct sl_db *db, int64_t model_id, struct sl_arena *arena,
                                     char **rules, struct sl_error *err);

/* Stores the rules of `model_id` (JSON text), replacing any. */
enum sl_err sl_repo_access_rules_put(struct sl_db *db, int64_t model_id, const char *rules,
                                     struct sl_error *err);

/* ---- licenses ---- */

/* The license of request `req_id` for version `version_id` under the
 * request's current grant: its note (in `arena`) and log index (-1 when
 * not logged); `*note` NULL when none was issued. */
enum sl_err sl_repo_license_current(struct sl_db *db, int64_t req_id, int64_t version_id,
                                    struct sl_arena *arena, char **note, int64_t *log_idx,
                                    struct sl_error *err);

/* What a new license of request `req_id` says. */
struct sl_license_req {
    int64_t user_id, grant_seq;
    int64_t expires; /* 0: never */
    char purpose[SL_REPO_PURPOSE_MAX + 1];
};
/* SL_ENOTFOUND "no such request". */
enum sl_err sl_repo_license_request(struct sl_db *db, int64_t req_id, struct sl_license_req *lr,
                                    struct sl_error *err);

/* Stores license `id` of request `req_id` (grant `grant_seq`) for
 * `version_id`, issued at `issued`, with its signed `note`. */
enum sl_err sl_repo_license_insert(struct sl_db *db, const char *id, int64_t req_id,
                                   int64_t grant_seq, int64_t version_id, int64_t issued,
                                   const char *note, struct sl_error *err);

/* Records the log index of license `id`'s issuance. */
enum sl_err sl_repo_license_set_log_idx(struct sl_db *db, const char *id, int64_t log_idx,
                                        struct sl_error *err);

/* Revokes at `now` every live license of request `req_id`. */
enum sl_err sl_repo_license_revoke_request(struct sl_db *db, int64_t req_id, int64_t now,
                                           struct sl_error *err);

/* A revoked license. */
struct sl_license_revoked {
    char id[SL_REPO_LIC_ID_MAX + 1];
    int64_t revoked;
};

/* Calls `fn` for every revoked license by time of revocation; a non-zero
 * return from `fn` stops the walk (SL_OK). */
enum sl_err sl_repo_licenses_revoked(struct sl_db *db,
                                     int (*fn)(void *ctx, const struct sl_license_revoked *row),
                                     void *ctx, struct sl_error *err);

#endif
