/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations of fingerprinted downloads (registry/fingerprint.c):
 * recipients and their key commitments, lineage densities, the kept SHA-256
 * of marked copies, the background hasher's next copy, and the rows a trace
 * reads. Every operation returns sl_err (SL_ENOTFOUND, SL_ECONFLICT,
 * SL_EUNAVAILABLE to retry, SL_EINTERNAL/SL_EIO). Absence is a normal
 * answer for every lookup here, so they say it through `bool *found`
 * instead of SL_ENOTFOUND. Lists call `fn` once a row (text valid only
 * during the call; non-zero stops early and is not an error); a failed step
 * is the list's error, never a short list.
 */
#ifndef SL_DB_REPO_FP_H
#define SL_DB_REPO_FP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/db.h"
#include "registry/registry.h"

/* The recipient of (model, user) with its hex key commitment. */
enum sl_err sl_repo_fp_recipient_get(struct sl_db *db, int64_t model_id, int64_t user_id,
                                     int64_t *id, char commitment[65], bool *found,
                                     struct sl_error *err);

/* Only the recipient id of (model, user). */
enum sl_err sl_repo_fp_recipient_id(struct sl_db *db, int64_t model_id, int64_t user_id,
                                    int64_t *id, bool *found, struct sl_error *err);

/* A new recipient of (model, user) with an empty commitment; `*id` is its
 * row id. SL_ECONFLICT when the pair has one already. */
enum sl_err sl_repo_fp_recipient_insert(struct sl_db *db, int64_t model_id, int64_t user_id,
                                        int64_t created, int64_t *id, struct sl_error *err);

/* Sets the key commitment of recipient `id`. */
enum sl_err sl_repo_fp_recipient_commit(struct sl_db *db, int64_t id, const char *commitment,
                                        struct sl_error *err);

/* Every recipient of a model's lineage, by id. */
struct sl_fp_recipient_row {
    int64_t id, user_id;
};
typedef int (*sl_fp_recipient_fn)(void *ctx, const struct sl_fp_recipient_row *row);
enum sl_err sl_repo_fp_recipients_of_model(struct sl_db *db, int64_t model_id,
                                           sl_fp_recipient_fn fn, void *ctx, struct sl_error *err);

/* The mark density fixed for a model's lineage. */
enum sl_err sl_repo_fp_lineage_get(struct sl_db *db, int64_t model_id, double *density, bool *found,
                                   struct sl_error *err);

/* Fixes a lineage's density; one already fixed is kept. */
enum sl_err sl_repo_fp_lineage_insert(struct sl_db *db, int64_t model_id, double density,
                                      int64_t created, struct sl_error *err);

/* The stored inspection report of a version (from `a`; NULL when none). */
enum sl_err sl_repo_fp_version_inspect(struct sl_db *db, struct sl_arena *a, int64_t version_id,
                                       char **inspect, struct sl_error *err);

/* The kept SHA-256 (hex) of recipient `recipient`'s copy of blob `blob_id`. */
enum sl_err sl_repo_fp_copy_get(struct sl_db *db, int64_t recipient, int64_t blob_id, char hex[65],
                                bool *found, struct sl_error *err);

/* Keeps it; one kept already stays. */
enum sl_err sl_repo_fp_copy_insert(struct sl_db *db, int64_t recipient, int64_t blob_id,
                                   const char *hex, struct sl_error *err);

/* The next weight file (*.safetensors, *.gguf) of a gated `main` version
 * whose recipient's copy has no kept SHA-256, after the cursor (recipient,
 * blob) in that order. */
struct sl_fp_warm_row {
    int64_t recipient;
    struct sl_principal user; /* id, name and admin; scopes left 0 */
    char org[SL_NAME_MAX + 1], name[SL_NAME_MAX + 1];
    char path[1100];
    struct sl_file_ref f;
};
enum sl_err sl_repo_fp_warm_next(struct sl_db *db, int64_t after_recipient, int64_t after_blob,
                                 struct sl_fp_warm_row *row, bool *found, struct sl_error *err);

/* The version a model's `main` ref names (id, number, commit). */
enum sl_err sl_repo_fp_main_version(struct sl_db *db, int64_t model_id, int64_t *version_id,
                                    int64_t *seq, char commit[65], bool *found,
                                    struct sl_error *err);

/* The name of user `user_id`. */
enum sl_err sl_repo_fp_user_name(struct sl_db *db, int64_t user_id, char name[SL_NAME_MAX + 1],
                                 bool *found, struct sl_error *err);

/* The commit of every version of a model (unordered). */
typedef int (*sl_fp_commit_fn)(void *ctx, const char *commit);
enum sl_err sl_repo_fp_model_commits(struct sl_db *db, int64_t model_id, sl_fp_commit_fn fn,
                                     void *ctx, struct sl_error *err);

#endif
