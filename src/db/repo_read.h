/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations of the read path (registry/read.c): model ids,
 * versions by ref, number or commit prefix, the versions a download may
 * fall back to, files, and the rows of the model and version documents.
 * Every operation returns sl_err (SL_ENOTFOUND, SL_ECONFLICT,
 * SL_EUNAVAILABLE to retry, SL_EINTERNAL/SL_EIO). Lookups by a name the
 * caller gave return SL_ENOTFOUND naming it; lookups whose absence is a
 * normal answer use a `bool *found` out parameter. Lists call `fn` once a
 * row (text valid only during the call; non-zero stops early and is not an
 * error); a failed step is the list's error, never a short list. Rows reuse
 * the plain structs of registry/registry.h; nothing here calls registry/.
 */
#ifndef SL_DB_REPO_READ_H
#define SL_DB_REPO_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/db.h"
#include "registry/registry.h"

/* The ids of org `org` and its model `name`; SL_ENOTFOUND "no model
 * ORG/NAME" when either is missing. */
enum sl_err sl_repo_model_ids(struct sl_db *db, const char *org, const char *name, int64_t *org_id,
                              int64_t *model_id, struct sl_error *err);

/* The versions of `model_id` whose commit starts with the hex `prefix`:
 * `*matches` is 0, 1 (`v` filled) or 2 (two or more; `v` is one of them).
 * Fills the version columns of `v`, not org_id and model_id. */
enum sl_err sl_repo_version_by_prefix(struct sl_db *db, int64_t model_id, const char *prefix,
                                      struct sl_version_ref *v, int *matches, struct sl_error *err);

/* Version number `seq` of `model_id`. */
enum sl_err sl_repo_version_by_seq(struct sl_db *db, int64_t model_id, int64_t seq,
                                   struct sl_version_ref *v, bool *found, struct sl_error *err);

/* The version ref `name` (a branch or tag) of `model_id` points at. */
enum sl_err sl_repo_version_by_ref(struct sl_db *db, int64_t model_id, const char *name,
                                   struct sl_version_ref *v, bool *found, struct sl_error *err);

/* Up to `max` versions of `model_id` other than `except_id`, newest first,
 * into out[0..*n) (version columns only). */
enum sl_err sl_repo_versions_newest(struct sl_db *db, int64_t model_id, int64_t except_id,
                                    struct sl_version_ref *out, size_t max, size_t *n,
                                    struct sl_error *err);

/* File `path` of version `version_id`; SL_ENOTFOUND "no file "PATH" in
 * this version". `sha256` is empty when the stored digest is malformed. */
enum sl_err sl_repo_file_get(struct sl_db *db, int64_t version_id, const char *path,
                             struct sl_file_ref *f, struct sl_error *err);

/* The files of a version by path. */
struct sl_version_file_row {
    const char *path;
    struct sl_file_ref f;
};
typedef int (*sl_version_file_fn)(void *ctx, const struct sl_version_file_row *row);
enum sl_err sl_repo_version_files(struct sl_db *db, int64_t version_id, sl_version_file_fn fn,
                                  void *ctx, struct sl_error *err);

/* The stored documents of a version (from `a`; NULL for SQL NULL). */
struct sl_version_docs_row {
    char *inspect, *decision, *license;
    char floor_tier[16]; /* empty when no floor is stored */
};
enum sl_err sl_repo_version_docs(struct sl_db *db, struct sl_arena *a, int64_t version_id,
                                 struct sl_version_docs_row *row, bool *found,
                                 struct sl_error *err);

/* A model's refs by name with the commit each names. */
struct sl_ref_row {
    const char *name;
    char commit[65];
};
typedef int (*sl_ref_fn)(void *ctx, const struct sl_ref_row *row);
enum sl_err sl_repo_model_refs(struct sl_db *db, int64_t model_id, sl_ref_fn fn, void *ctx,
                               struct sl_error *err);

/* A model's versions by number with their downloads: on days after
 * `after_day` and in all. */
struct sl_version_downloads_row {
    int64_t seq;
    char commit[65];
    char tier[16], min_tier[16];
    int64_t created, bytes_total;
    int64_t downloads, downloads_all_time;
};
typedef int (*sl_version_downloads_fn)(void *ctx, const struct sl_version_downloads_row *row);
enum sl_err sl_repo_model_versions(struct sl_db *db, int64_t model_id, int64_t after_day,
                                   sl_version_downloads_fn fn, void *ctx, struct sl_error *err);

/* Every model with a `main` ref, by org and name, with main's version. */
struct sl_model_main_row {
    const char *org, *name;
    char tier[16];
    int64_t seq;
    char commit[65];
};
typedef int (*sl_model_main_fn)(void *ctx, const struct sl_model_main_row *row);
enum sl_err sl_repo_models_main(struct sl_db *db, sl_model_main_fn fn, void *ctx,
                                struct sl_error *err);

#endif
