/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed repository operations on models, versions, their files, the stored
 * files (blobs) and chunks a commit names, and the `main` ref: the SQL that
 * src/registry/commit.c, govern.c, inspect.c and hf.c used to write. Every
 * operation runs on the caller's connection, inside the caller's transaction
 * when there is one, and returns an enum sl_err: SL_ENOTFOUND names what is
 * missing, SL_ECONFLICT is a broken constraint, SL_EUNAVAILABLE asks for a
 * retry (the connection is lost or the transaction must run again), anything
 * else is SL_EINTERNAL or SL_EIO. Nothing here prints.
 *
 * Lookups where "absent" is an ordinary answer take a `bool *found` out
 * parameter instead of failing with SL_ENOTFOUND; inserts that may meet a row
 * stored first (ON CONFLICT DO NOTHING) take `bool *inserted`. List
 * operations call `fn` once per row, in the order given; a row's pointers are
 * valid only during that call, and a non-zero return stops the list (the
 * operation then returns SL_OK). A failed step is an error, never the end of
 * the list.
 */
#ifndef SL_DB_REPO_VERSIONS_H
#define SL_DB_REPO_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/repo.h"
#include "db/db.h"

#define SL_REPO_PACK_MAX 64 /* a pack's object name (SL_PACK_NAME_LEN is 32) */

/* ---- stored files (blobs) and chunks ---- */

struct sl_blob_row {
    int64_t id;
    int64_t size;
};

/* The stored file with SHA-256 `sha`; `*found` false when there is none. */
enum sl_err sl_repo_blob_find(struct sl_db *db, const unsigned char sha[32], bool *found,
                              struct sl_blob_row *out, struct sl_error *err);

/* For blob `blob_id` (-1 for none: both counts 0): `*foreign` the chunks of
 * it that org `org_id` did not upload, `*total` all its chunks. `*found` is
 * false only if the database gave no row for the count. */
enum sl_err sl_repo_blob_foreign_chunks(struct sl_db *db, int64_t blob_id, int64_t org_id,
                                        bool *found, int64_t *foreign, int64_t *total,
                                        struct sl_error *err);

/* The chunk ids of blob `blob_id` in file order. */
enum sl_err sl_repo_blob_chunk_ids(struct sl_db *db, int64_t blob_id,
                                   int (*fn)(void *ctx, int64_t chunk_id), void *ctx,
                                   struct sl_error *err);

/* Records a verified new file (its row and its ordered chunks, offsets from
 * `chunk_len`), inside the caller's transaction; a file another request
 * stored meanwhile is taken as it is. `*blob_id` gets the file's id. */
enum sl_err sl_repo_blob_insert(struct sl_db *db, const unsigned char sha[32], uint64_t size,
                                const int64_t *chunk_ids, const uint32_t *chunk_len, size_t nchunks,
                                int64_t now, int64_t *blob_id, struct sl_error *err);

struct sl_chunk_owned_row {
    int64_t id;
    uint32_t length;
};

/* The chunk with hash `hash` when org `org_id` uploaded it: `*owned` false
 * when it is not stored or belongs to other orgs only. */
enum sl_err sl_repo_chunk_owned(struct sl_db *db, int64_t org_id, const unsigned char hash[32],
                                bool *owned, struct sl_chunk_owned_row *out, struct sl_error *err);

/* Where a chunk's bytes are: its pack (id and object name) and place. */
struct sl_chunk_loc_row {
    int64_t pack_id;
    char pack[SL_REPO_PACK_MAX + 1];
    uint64_t pack_offset;
    uint32_t length;
};

/* The location of chunk `chunk_id`; `*found` false when it is gone. */
enum sl_err sl_repo_chunk_locate(struct sl_db *db, int64_t chunk_id, bool *found,
                                 struct sl_chunk_loc_row *out, struct sl_error *err);

/* The locations of blob `blob_id`'s chunks in file order. */
enum sl_err sl_repo_blob_chunk_locs(struct sl_db *db, int64_t blob_id,
                                    int (*fn)(void *ctx, const struct sl_chunk_loc_row *row),
                                    void *ctx, struct sl_error *err);

/* ---- models and the `main` ref ---- */

/* The id of model `name` of org `org_id`; `*found` false when none. */
enum sl_err sl_repo_model_find(struct sl_db *db, int64_t org_id, const char *name, bool *found,
                               int64_t *id, struct sl_error *err);

/* Creates model `name` of org `org_id`; `*id` gets its id. */
enum sl_err sl_repo_model_insert(struct sl_db *db, int64_t org_id, const char *name, int64_t now,
                                 int64_t *id, struct sl_error *err);

/* The version `main` of model `model_id` names: its seq and tier (`*found`
 * false, seq 0 and tier "" when the model has no `main`). */
enum sl_err sl_repo_ref_main_get(struct sl_db *db, int64_t model_id, bool *found, int64_t *seq,
                                 char tier[SL_REPO_TIER_MAX + 1], struct sl_error *err);

/* Points `main` of model `model_id` at version `version_id`. */
enum sl_err sl_repo_ref_main_set(struct sl_db *db, int64_t model_id, int64_t version_id,
                                 struct sl_error *err);

/* ---- versions ---- */

/* The version of `model_id` whose commit is `commit`; `*found` false when
 * none. */
enum sl_err sl_repo_version_by_commit(struct sl_db *db, int64_t model_id, const char *commit,
                                      bool *found, int64_t *id, int64_t *seq, struct sl_error *err);

/* The next version number of `model_id` (1 for the first). Take
 * SL_DB_LOCK_SEQ first. */
enum sl_err sl_repo_version_next_seq(struct sl_db *db, int64_t model_id, int64_t *seq,
                                     struct sl_error *err);

/* A version to store. Text fields may be NULL (stored as NULL). */
struct sl_version_new {
    int64_t model_id, seq;
    const char *commit, *manifest, *tier, *min_tier, *floor_tier;
    const char *decision, *inspect, *license;
    uint64_t bytes_total;
    int64_t created, created_by;
};

/* Stores a version's row; `*id` gets its id. */
enum sl_err sl_repo_version_insert(struct sl_db *db, const struct sl_version_new *v, int64_t *id,
                                   struct sl_error *err);

/* Adds file `path` (stored file `blob_id`) to version `version_id`. */
enum sl_err sl_repo_version_file_insert(struct sl_db *db, int64_t version_id, const char *path,
                                        int64_t blob_id, struct sl_error *err);

/* Sets the log entry a version's decision rests on. */
enum sl_err sl_repo_version_log_idx_set(struct sl_db *db, int64_t version_id, int64_t log_idx,
                                        struct sl_error *err);

/* Whether any version on the server is gated, hosted or withheld. */
enum sl_err sl_repo_versions_any_strict(struct sl_db *db, bool *any, struct sl_error *err);

struct sl_version_tier_row {
    int64_t version_id;
    char tier[SL_REPO_TIER_MAX + 1]; /* "" when the row has none */
};

/* The gated, hosted and withheld versions (each once) holding a file that
 * contains chunk `chunk_id`. */
enum sl_err sl_repo_versions_by_chunk_strict(struct sl_db *db, int64_t chunk_id,
                                             int (*fn)(void *ctx,
                                                       const struct sl_version_tier_row *row),
                                             void *ctx, struct sl_error *err);

/* Whose a version is: its org (id and name), model name and commit. */
struct sl_version_origin_row {
    int64_t org_id;
    char org[SL_REPO_NAME_MAX + 1];
    char model[SL_REPO_NAME_MAX + 1];
    char commit[65];
};

/* The origin of version `version_id`; `*found` false when it is gone. */
enum sl_err sl_repo_version_origin(struct sl_db *db, int64_t version_id, bool *found,
                                   struct sl_version_origin_row *out, struct sl_error *err);

struct sl_version_manifest_row {
    int64_t seq;
    const char *commit;   /* may be NULL */
    const char *manifest; /* may be NULL */
};

/* The versions of model `name` of org `org_id`, newest first, with their
 * manifests. */
enum sl_err sl_repo_versions_manifests(struct sl_db *db, int64_t org_id, const char *name,
                                       int (*fn)(void *ctx,
                                                 const struct sl_version_manifest_row *row),
                                       void *ctx, struct sl_error *err);

/* What a version's row holds now. */
struct sl_version_state_row {
    char tier[SL_REPO_TIER_MAX + 1];
    char commit[65];
    int64_t seq, model_id;
};

/* The state of version `version_id`; SL_ENOTFOUND "no such version" when
 * it is gone. */
enum sl_err sl_repo_version_state(struct sl_db *db, int64_t version_id,
                                  struct sl_version_state_row *out, struct sl_error *err);

/* Sets the tier of version `version_id`. */
enum sl_err sl_repo_version_tier_set(struct sl_db *db, int64_t version_id, const char *tier,
                                     struct sl_error *err);

/* Stores a version's decision (canonical JSON text), minimum and floor. */
enum sl_err sl_repo_version_decision_set(struct sl_db *db, int64_t version_id, const char *decision,
                                         const char *min_tier, const char *floor_tier,
                                         struct sl_error *err);

/* The stored decision text of version `version_id`, copied into `a`
 * (`*decision` NULL when the row or its decision is missing: `*found` tells
 * which). */
enum sl_err sl_repo_version_decision_get(struct sl_db *db, int64_t version_id, struct sl_arena *a,
                                         bool *found, char **decision, struct sl_error *err);

/* What deciding again reads of a version: its manifest and inspection
 * report (JSON text in `a`, NULL when the column is) and its tier. */
struct sl_version_policy_row {
    char *manifest;
    char *inspect;
    char tier[SL_REPO_TIER_MAX + 1];
};

enum sl_err sl_repo_version_policy_inputs(struct sl_db *db, int64_t version_id, struct sl_arena *a,
                                          bool *found, struct sl_version_policy_row *out,
                                          struct sl_error *err);

/* What the Hugging Face model info shows of a version: its inspection
 * report (in `a`, NULL when none) and when the model's first version was
 * made. `*found` false when the version is gone. */
enum sl_err sl_repo_version_hf_meta(struct sl_db *db, int64_t model_id, int64_t version_id,
                                    struct sl_arena *a, bool *found, char **inspect,
                                    int64_t *first_created, struct sl_error *err);

/* ---- version files: sl_repo_version_files() in db/repo_read.h ---- */

#endif
