/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed repository operations for governing a version after it is published
 * (src/registry/govern.c): evaluator keys, attestations, obligation
 * evidence and the staged-release schedule. The conventions are those of
 * repo_versions.h: an enum sl_err from every operation (SL_ENOTFOUND,
 * SL_ECONFLICT, SL_EUNAVAILABLE to retry, otherwise SL_EINTERNAL or
 * SL_EIO), `bool *found` where absence is an ordinary answer, `bool
 * *inserted` for inserts that keep a row stored first, and lists as a
 * callback per row whose pointers live only during the call (non-zero
 * stops the list). A failed step is an error, never the end of a list.
 */
#ifndef SL_DB_REPO_GOVERN_H
#define SL_DB_REPO_GOVERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/db.h"
#include "db/repo_versions.h"

/* ---- evaluator keys ---- */

/* The id of account `name` (an evaluator's key is named after its
 * account); `*found` false when there is none. */
enum sl_err sl_repo_evaluator_user_id(struct sl_db *db, const char *name, bool *found,
                                      int64_t *user_id, struct sl_error *err);

/* How many evaluator keys there are, revoked ones included. */
enum sl_err sl_repo_eval_key_count(struct sl_db *db, int64_t *n, struct sl_error *err);

/* A key to register: `pub` is the Ed25519 public key, `vkey` its canonical
 * verifier-key text. */
struct sl_eval_key_new {
    const char *name;
    int64_t user_id;
    int64_t key_id;
    const unsigned char *pub; /* 32 bytes */
    const char *vkey;
    int64_t added;
};

/* Registers a key; `*inserted` false when `name` has one already (the
 * stored key is kept). */
enum sl_err sl_repo_eval_key_insert(struct sl_db *db, const struct sl_eval_key_new *k,
                                    bool *inserted, struct sl_error *err);

/* The names of the live (unrevoked) keys named `name`, or, when `name` is
 * NULL, of account `user_id`: at most `max` of them into `names`, `*n` how
 * many. */
enum sl_err sl_repo_eval_keys_live_names(struct sl_db *db, const char *name, int64_t user_id,
                                         char (*names)[SL_REPO_NAME_MAX + 1], int max, int *n,
                                         struct sl_error *err);

/* Marks key `name` revoked at `now`. */
enum sl_err sl_repo_eval_key_revoke(struct sl_db *db, const char *name, int64_t now,
                                    struct sl_error *err);

struct sl_eval_key_row {
    int64_t id;
    const char *name;
    const char *vkey;         /* sl_repo_eval_keys only */
    const unsigned char *pub; /* sl_repo_eval_keys_live only */
    size_t pub_len;
    int64_t added; /* sl_repo_eval_keys only */
    bool revoked;  /* sl_repo_eval_keys only */
    int64_t revoked_at;
};

/* Every key by name: name, vkey, added and revoked. */
enum sl_err sl_repo_eval_keys(struct sl_db *db,
                              int (*fn)(void *ctx, const struct sl_eval_key_row *row), void *ctx,
                              struct sl_error *err);

/* The live keys in the order they were added: id, name and pub. */
enum sl_err sl_repo_eval_keys_live(struct sl_db *db,
                                   int (*fn)(void *ctx, const struct sl_eval_key_row *row),
                                   void *ctx, struct sl_error *err);

/* ---- attestations ---- */

struct sl_attestation_row {
    const char *evaluator; /* the key's name */
    const char *domain;
    const char *level;  /* not in sl_repo_attestation_domains */
    const char *method; /* not in sl_repo_attestation_domains */
    int64_t date;       /* seconds; not in sl_repo_attestation_domains */
    const char *note;   /* sl_repo_attestations only */
};

/* The attestations of version `version_id` in the order they came: domain
 * and evaluator only. */
enum sl_err sl_repo_attestation_domains(struct sl_db *db, int64_t version_id,
                                        int (*fn)(void *ctx, const struct sl_attestation_row *row),
                                        void *ctx, struct sl_error *err);

/* The same with level, method and date (what deciding again reads). */
enum sl_err sl_repo_attestation_evals(struct sl_db *db, int64_t version_id,
                                      int (*fn)(void *ctx, const struct sl_attestation_row *row),
                                      void *ctx, struct sl_error *err);

/* The same with the signed note itself (what a listing shows). */
enum sl_err sl_repo_attestations(struct sl_db *db, int64_t version_id,
                                 int (*fn)(void *ctx, const struct sl_attestation_row *row),
                                 void *ctx, struct sl_error *err);

/* The attestation whose note has SHA-256 `note_sha256` (hex); `*found`
 * false when none. */
enum sl_err sl_repo_attestation_find(struct sl_db *db, const char *note_sha256, bool *found,
                                     int64_t *id, struct sl_error *err);

struct sl_attestation_new {
    int64_t version_id, key_id;
    const char *domain, *level, *method;
    int64_t date;
    const char *note;
    size_t note_len;
    const char *note_sha256;
    int64_t created;
};

enum sl_err sl_repo_attestation_insert(struct sl_db *db, const struct sl_attestation_new *a,
                                       struct sl_error *err);

/* ---- obligation evidence ---- */

struct sl_evidence_row {
    char *text; /* in the caller's arena */
    char *by;   /* the account that gave it, in the arena */
    int64_t created;
};

/* The evidence given for obligation `obligation` of version `version_id`;
 * `*found` false when none. */
enum sl_err sl_repo_evidence_get(struct sl_db *db, int64_t version_id, const char *obligation,
                                 struct sl_arena *a, bool *found, struct sl_evidence_row *out,
                                 struct sl_error *err);

/* Records evidence; `*inserted` false when the obligation has some
 * already (the first stands). */
enum sl_err sl_repo_evidence_insert(struct sl_db *db, int64_t version_id, const char *obligation,
                                    const char *text, int64_t user_id, int64_t now, bool *inserted,
                                    struct sl_error *err);

/* ---- the staged-release schedule ---- */

/* The pending steps of all versions of model `model_id`. */
enum sl_err sl_repo_schedule_pending_count(struct sl_db *db, int64_t model_id, int64_t *n,
                                           struct sl_error *err);

/* Adds a pending step moving version `version_id` to `tier` at `at`;
 * `*id` gets its id. */
enum sl_err sl_repo_schedule_insert(struct sl_db *db, int64_t version_id, const char *tier,
                                    int64_t at, int64_t now, int64_t created_by, int64_t *id,
                                    struct sl_error *err);

struct sl_schedule_row {
    int64_t id;
    int64_t version; /* the version's seq */
    const char *commit;
    const char *tier;
    int64_t at;
    const char *status;
    const char *reason; /* NULL when none */
    bool has_done;
    int64_t done;
};

/* The steps of model `model_id` by time. */
enum sl_err sl_repo_schedule(struct sl_db *db, int64_t model_id,
                             int (*fn)(void *ctx, const struct sl_schedule_row *row), void *ctx,
                             struct sl_error *err);

/* Whether step `id` is still pending. */
enum sl_err sl_repo_schedule_step_pending(struct sl_db *db, int64_t id, bool *pending,
                                          struct sl_error *err);

/* Records a step's outcome: `status` ("done" or "refused"), `reason` (may
 * be NULL) and when. */
enum sl_err sl_repo_schedule_step_finish(struct sl_db *db, int64_t id, const char *status,
                                         const char *reason, int64_t now, struct sl_error *err);

struct sl_schedule_due_row {
    int64_t id, version_id;
    char tier[SL_REPO_TIER_MAX + 1];
    int64_t at;
    char model[SL_REPO_MODEL_MAX + 1]; /* "org/name" */
};

/* The first pending step due at `now`; `*found` false when none is. */
enum sl_err sl_repo_schedule_next_due(struct sl_db *db, int64_t now, bool *found,
                                      struct sl_schedule_due_row *out, struct sl_error *err);

#endif
