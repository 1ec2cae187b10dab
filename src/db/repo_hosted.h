/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed repository operations for the hosted gateway (docs/hosted.md): the
 * inference backends of a model and the access facts a call is checked
 * against. All of the gateway's SQL is here; src/hosted/ and the CLI speak
 * these structs. Errors: SL_ENOTFOUND, SL_ECONFLICT, SL_EUNAVAILABLE (the
 * database asks for a retry), SL_EINTERNAL.
 */
#ifndef SL_DB_REPO_HOSTED_H
#define SL_DB_REPO_HOSTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct sl_db;

#define SL_HOSTED_URL_MAX      1024
#define SL_HOSTED_NAME_MAX     256
#define SL_HOSTED_ENV_MAX      128
#define SL_HOSTED_BACKENDS_MAX 64 /* per model */

/* One inference backend: an OpenAI-compatible server at `url` serving model
 * `model_id` (every version when `version_id` is 0, else that version). */
struct sl_hosted_backend {
    int64_t id;
    int64_t model_id;
    int64_t version_id;
    char url[SL_HOSTED_URL_MAX + 1];
    char backend_model[SL_HOSTED_NAME_MAX + 1]; /* "" sends the caller's ORG/NAME */
    char key_env[SL_HOSTED_ENV_MAX + 1];        /* "" when the backend takes no key */
    int64_t created;
    /* filled by sl_repo_backend_all only */
    char org[97], name[97];
    int64_t version_seq; /* the pinned version's number, 0 for every version */
};

/* Adds a backend; `*id` gets its id. SL_ELIMIT past SL_HOSTED_BACKENDS_MAX
 * for the model. */
enum sl_err sl_repo_backend_add(struct sl_db *db, const struct sl_hosted_backend *b, int64_t *id,
                                struct sl_error *err);

/* The backends of `model_id`, oldest first, into a malloc'd array the caller
 * frees (`*out` NULL when there are none). */
enum sl_err sl_repo_backend_list(struct sl_db *db, int64_t model_id, struct sl_hosted_backend **out,
                                 size_t *n, struct sl_error *err);

/* Every backend of every model with the model's org and name, ordered by
 * org, name and id (for GET /v1/models). The caller frees `*out`. */
enum sl_err sl_repo_backend_all(struct sl_db *db, struct sl_hosted_backend **out, size_t *n,
                                struct sl_error *err);

/* Removes backend `id` of `model_id`; SL_ENOTFOUND when it has none such. */
enum sl_err sl_repo_backend_remove(struct sl_db *db, int64_t model_id, int64_t id,
                                   struct sl_error *err);

/* What decides whether `user_id` may call version `version_id` now: the
 * version's current tier and whether the user holds a live grant on its
 * model (approved and unexpired at `now`). Read fresh on every call: grants
 * are never cached. SL_ENOTFOUND when the version is gone. */
struct sl_hosted_access {
    char tier[16];
    bool grant_live;
};
enum sl_err sl_repo_hosted_access(struct sl_db *db, int64_t version_id, int64_t user_id,
                                  int64_t now, struct sl_hosted_access *out, struct sl_error *err);

/* The id of user `name`; SL_ENOTFOUND when there is none. */
enum sl_err sl_repo_user_id(struct sl_db *db, const char *name, int64_t *id, struct sl_error *err);

/* ---- quotas and usage (docs/hosted.md, "Quotas" and "Usage") ---- */

/* A quota: 0 for no limit. */
struct sl_hosted_quota {
    int64_t rpm;            /* calls per minute */
    int64_t tokens_per_day; /* prompt and completion tokens per UTC day */
    int64_t concurrency;    /* calls running at once */
};

/* Sets the quota of `model_id` for `user_id` (0: the model's default). A
 * field below 0 keeps its stored value; 0 removes that limit. */
enum sl_err sl_repo_quota_set(struct sl_db *db, int64_t model_id, int64_t user_id,
                              const struct sl_hosted_quota *q, struct sl_error *err);

/* The quota that applies to `user_id`: each field from the user's own row
 * when it sets one, else from the model's default. */
enum sl_err sl_repo_quota_get(struct sl_db *db, int64_t model_id, int64_t user_id,
                              struct sl_hosted_quota *out, struct sl_error *err);

/* Counts a call of `user_id` to `model_id` in `minute` (unix seconds / 60)
 * and sets `*n` to the calls counted in that minute, this one included.
 * Older minutes are deleted. */
enum sl_err sl_repo_rate_hit(struct sl_db *db, int64_t model_id, int64_t user_id, int64_t minute,
                             int64_t *n, struct sl_error *err);

/* The tokens `user_id` used on `model_id` on `day` (days since 1970, UTC). */
enum sl_err sl_repo_usage_tokens(struct sl_db *db, int64_t model_id, int64_t user_id, int64_t day,
                                 int64_t *tokens, struct sl_error *err);

/* Adds one call and its tokens to the usage of (version, user, day). */
enum sl_err sl_repo_usage_add(struct sl_db *db, int64_t model_id, int64_t version_id,
                              int64_t user_id, int64_t day, int64_t prompt_tokens,
                              int64_t completion_tokens, struct sl_error *err);

/* ---- the concurrency quota: one leased row per running call ---- */

/* How long a running call's slot counts without being renewed (seconds):
 * the slots of a server that died free themselves within this. */
#define SL_HOSTED_SLOT_LEASE_S 15
/* How often a running call renews its slot (seconds). */
#define SL_HOSTED_SLOT_RENEW_S 5

/* Takes a slot for a call of `user_id` to `model_id` unless `limit` calls of
 * that caller are running (slots whose lease is past at `now` do not count,
 * and are deleted). The slot is inserted first and the live slots counted
 * after, so two servers racing for the last slot never both get it (both
 * may be refused). `*slot` gets the slot's id, or 0 when refused;
 * `*running` the calls running, this one included when taken. */
enum sl_err sl_repo_slot_take(struct sl_db *db, int64_t model_id, int64_t user_id, int64_t now,
                              int64_t limit, int64_t *slot, int64_t *running, struct sl_error *err);

/* Extends slot `id`'s lease to `now` + SL_HOSTED_SLOT_LEASE_S. */
enum sl_err sl_repo_slot_renew(struct sl_db *db, int64_t id, int64_t now, struct sl_error *err);

/* Frees slot `id` (a no-op when it is gone). */
enum sl_err sl_repo_slot_release(struct sl_db *db, int64_t id, struct sl_error *err);

/* ---- the daily usage entry of the transparency log ---- */

#define SL_HOSTED_REASONS_MAX 16 /* refusal reasons kept in one day's entry */

/* One model's day, counts only (no user, no text). */
struct sl_hosted_day {
    int64_t model_id, day;
    char org[97], name[97];
    int64_t calls, prompt_tokens, completion_tokens;
    int64_t users; /* distinct callers; anonymous callers count as one */
    size_t nreasons;
    struct {
        char reason[48];
        int64_t n;
    } refusals[SL_HOSTED_REASONS_MAX];
};

/* The (model, day) pairs before `before_day` with calls or refusals whose
 * entry is not logged yet, oldest first, at most `max`, with their counts,
 * into a malloc'd array the caller frees. */
enum sl_err sl_repo_usage_days_unlogged(struct sl_db *db, int64_t before_day, size_t max,
                                        struct sl_hosted_day **out, size_t *n,
                                        struct sl_error *err);

/* Marks (model, day) as logged; SL_ECONFLICT when it is already (another
 * server logged it: the caller rolls back its entry). */
enum sl_err sl_repo_usage_day_logged(struct sl_db *db, int64_t model_id, int64_t day,
                                     struct sl_error *err);

/* One row of a model's usage: a version, a caller and a day. */
struct sl_hosted_usage {
    int64_t day, version_seq, calls, prompt_tokens, completion_tokens;
    char user[97]; /* "" for anonymous callers */
};

/* The usage of `model_id` from `since_day` on, by day, version and user;
 * the caller frees `*out`. */
enum sl_err sl_repo_usage_list(struct sl_db *db, int64_t model_id, int64_t since_day,
                               struct sl_hosted_usage **out, size_t *n, struct sl_error *err);

/* ---- filters (docs/hosted.md, "Filters"; migration 9) ---- */

/* Stores `policy` (canonical JSON, validated by the caller) as the filter of
 * `model_id`, replacing any, at `now`. */
enum sl_err sl_repo_filter_put(struct sl_db *db, int64_t model_id, const char *policy, int64_t now,
                               struct sl_error *err);

/* The filter of `model_id`: `*policy` a malloc'd string the caller frees,
 * NULL when the model has none; `*updated` (may be NULL) when it was set. */
enum sl_err sl_repo_filter_get(struct sl_db *db, int64_t model_id, char **policy, int64_t *updated,
                               struct sl_error *err);

/* Removes the filter of `model_id`; `*had` says whether there was one. */
enum sl_err sl_repo_filter_clear(struct sl_db *db, int64_t model_id, bool *had,
                                 struct sl_error *err);

/* Counts one refusal or flag of a call to `model_id` on `day` (days since
 * 1970, UTC): `reason` a short stable word: a quota's ("requests_per_minute",
 * ...), "input", "output" or "parameter" for a filter's refusals,
 * "flag_input" or "flag_output" for its flags; `rule` the filter rule id
 * ("" for quotas and parameters: the caller's text is never stored). The
 * daily log entry counts refusals by reason (sl_repo_usage_days_unlogged). */
enum sl_err sl_repo_refusal_add(struct sl_db *db, int64_t model_id, int64_t day, const char *reason,
                                const char *rule, struct sl_error *err);

/* One row of a model's refusal counts. */
struct sl_hosted_refusal {
    int64_t day, n;
    char reason[16];
    char rule[65];
};

/* The refusal counts of `model_id` from `since_day` on, by day, reason and
 * rule; the caller frees `*out`. */
enum sl_err sl_repo_refusal_list(struct sl_db *db, int64_t model_id, int64_t since_day,
                                 struct sl_hosted_refusal **out, size_t *n, struct sl_error *err);

/* ---- prompt retention (docs/hosted.md, "Retention"; migration 12) ---- */

#define SL_HOSTED_RETAIN_DAYS_MAX   365
#define SL_HOSTED_RETAIN_TEXT_MAX   (64u << 10) /* bytes kept of a prompt, of a completion */
#define SL_HOSTED_RETAINED_LIST_MAX 1000        /* rows in one listing */
/* kept text (prompts and completions) in one listing: callers choose the
 * bytes (a control character is six in JSON), so rows alone do not bound
 * an answer; past this the listing stops and says there is more */
#define SL_HOSTED_RETAINED_LIST_BYTES (4u << 20)

/* Sets the retention of `model_id` to `days` (1 to SL_HOSTED_RETAIN_DAYS_MAX)
 * at `now`; `days` 0 removes it (`*had`, may be NULL, says whether there
 * was one). */
enum sl_err sl_repo_retention_set(struct sl_db *db, int64_t model_id, int64_t days, int64_t now,
                                  bool *had, struct sl_error *err);

/* The retention of `model_id` in days (0: none) and when it was set
 * (`updated` may be NULL). */
enum sl_err sl_repo_retention_get(struct sl_db *db, int64_t model_id, int64_t *days,
                                  int64_t *updated, struct sl_error *err);

/* One call kept for abuse review. */
struct sl_hosted_retained {
    int64_t id, model_id, version_id, user_id, created, expires;
    int64_t version_seq;       /* filled by sl_repo_retained_list */
    char user[97];             /* filled by sl_repo_retained_list; "" for anonymous callers */
    char endpoint[32];         /* "chat/completions" or "completions" */
    char *prompt, *completion; /* malloc'd, at most SL_HOSTED_RETAIN_TEXT_MAX bytes */
    bool prompt_truncated, completion_truncated;
};

/* Stores one kept call (`id`, `version_seq`, `user` are not read). */
enum sl_err sl_repo_retained_add(struct sl_db *db, const struct sl_hosted_retained *row,
                                 struct sl_error *err);

/* The kept calls of `model_id` created at `since` or later, oldest first
 * (by time, then id), and when `after` is not 0 those that come after item
 * `after` in that order (SL_ENOTFOUND when it is no longer kept), into a
 * malloc'd array; free it with sl_repo_retained_free. At most `max` rows,
 * and no row that would take the prompts and completions past `max_bytes`
 * (the first row always comes); `*more` says rows were left for a next
 * call with `after` = the last id. */
enum sl_err sl_repo_retained_list(struct sl_db *db, int64_t model_id, int64_t since, int64_t after,
                                  size_t max, size_t max_bytes, struct sl_hosted_retained **out,
                                  size_t *n, bool *more, struct sl_error *err);
void sl_repo_retained_free(struct sl_hosted_retained *rows, size_t n);

/* Deletes every kept call whose time is up at `now`; `*deleted` gets how
 * many. Reads first, so a round with nothing due writes nothing. */
enum sl_err sl_repo_retained_expire(struct sl_db *db, int64_t now, int64_t *deleted,
                                    struct sl_error *err);

/* ---- quotas as a publisher reads them ---- */

/* One stored quota row: `user_id` 0 is the model's default; a field below
 * 0 is not set on that row (a user's row then takes the default's). */
struct sl_hosted_quota_row {
    int64_t user_id;
    char user[97]; /* "" for the default */
    int64_t rpm, tokens_per_day, concurrency;
};

/* The stored quota rows of `model_id`, the default first, then by user
 * name; the caller frees `*out`. */
enum sl_err sl_repo_quota_list(struct sl_db *db, int64_t model_id, struct sl_hosted_quota_row **out,
                               size_t *n, struct sl_error *err);

#endif
