/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations of the transparency log (registry/log.c): entries,
 * the stored subtree hashes, signed checkpoints, the log's key/value state,
 * and the rows a model's transparency report gathers. Every operation
 * returns sl_err: SL_ENOTFOUND, SL_ECONFLICT, SL_EUNAVAILABLE (retry) or
 * SL_EINTERNAL/SL_EIO. Lookups whose absence is a normal answer say so
 * through a `bool *found` out parameter instead of SL_ENOTFOUND. List
 * operations call `fn` once a row (non-zero stops the list early, which is
 * not an error); a failed step is always an error, never a short list.
 */
#ifndef SL_DB_REPO_LOG_H
#define SL_DB_REPO_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "db/db.h"

/* One log entry: its index and canonical JSON text as stored (`text` is
 * valid only during the callback; `len` bytes, NUL-terminated). */
struct sl_log_entry_row {
    int64_t idx;
    const char *text;
    size_t len;
};
typedef int (*sl_log_entry_fn)(void *ctx, const struct sl_log_entry_row *row);

/* The number of entries: max(idx) + 1, 0 for an empty log. */
enum sl_err sl_repo_log_size(struct sl_db *db, uint64_t *size, struct sl_error *err);

/* The stored hash of subtree (level, index); `*found` false when there is
 * none (or it is not 32 bytes). */
enum sl_err sl_repo_log_hash_get(struct sl_db *db, int level, uint64_t index, unsigned char out[32],
                                 bool *found, struct sl_error *err);

/* The most subtree hashes one append completes (tlog/merkle.h's
 * SL_MERKLE_MAX_HASHES: the leaf and one per level of a 2^64-leaf tree). */
#define SL_REPO_LOG_MAX_HASHES 65

/* The right edge levels sl_repo_log_tail() reads with the size. */
#define SL_REPO_LOG_EDGE 8

/* The log's size and, in the same read, the stored hashes the next append
 * combines with: for each level l < SL_REPO_LOG_EDGE where the low l + 1
 * bits of the size are all ones, the hash at (l, (size >> l) - 1) goes to
 * edge[l] and have[l] is set (unset when the row is missing or not 32
 * bytes). One round trip instead of one for the size and one per level.
 * Inside the caller's write transaction, after sl_db_lock(SL_DB_LOCK_LOG). */
enum sl_err sl_repo_log_tail(struct sl_db *db, uint64_t *size,
                             unsigned char edge[SL_REPO_LOG_EDGE][32], bool have[SL_REPO_LOG_EDGE],
                             struct sl_error *err);

/* Appends entry `idx` and the `count` subtree hashes its append completes
 * (hashes[l] at (l, idx >> l)), as sl_repo_log_entry_insert() and
 * sl_repo_log_hash_insert() would; on PostgreSQL in one statement (one
 * round trip while the log lock is held). Inside the caller's write
 * transaction, after sl_db_lock(SL_DB_LOCK_LOG). */
enum sl_err sl_repo_log_append(struct sl_db *db, uint64_t idx, const char *text, size_t len,
                               int64_t created, const char *model,
                               const unsigned char (*hashes)[32], int count, struct sl_error *err);

/* Appends entry `idx` (`len` bytes of text, `model` may be NULL). Inside
 * the caller's write transaction, after sl_db_lock(SL_DB_LOCK_LOG). */
enum sl_err sl_repo_log_entry_insert(struct sl_db *db, uint64_t idx, const char *text, size_t len,
                                     int64_t created, const char *model, struct sl_error *err);

/* Stores the hash of subtree (level, index). */
enum sl_err sl_repo_log_hash_insert(struct sl_db *db, int level, uint64_t index,
                                    const unsigned char hash[32], struct sl_error *err);

/* Entries start <= idx < end in order. */
enum sl_err sl_repo_log_entries_range(struct sl_db *db, uint64_t start, uint64_t end,
                                      sl_log_entry_fn fn, void *ctx, struct sl_error *err);

/* The entries about `model` with idx < before, in order. */
enum sl_err sl_repo_log_entries_of_model(struct sl_db *db, const char *model, uint64_t before,
                                         sl_log_entry_fn fn, void *ctx, struct sl_error *err);

/* A signed checkpoint. `note` is allocated from the caller's arena. */
struct sl_log_checkpoint_row {
    int64_t size;
    unsigned char root[32]; /* zero when the stored root is not 32 bytes */
    char *note;
};

/* The newest checkpoint (largest size); `*found` false when none was
 * signed yet. `a` holds the note. */
enum sl_err sl_repo_log_checkpoint_latest(struct sl_db *db, struct sl_arena *a,
                                          struct sl_log_checkpoint_row *row, bool *found,
                                          struct sl_error *err);

/* Stores a checkpoint; one of the same size already stored is kept (two
 * servers signing the same tree at once). */
enum sl_err sl_repo_log_checkpoint_insert(struct sl_db *db, uint64_t size,
                                          const unsigned char root[32], const char *note,
                                          int64_t created, struct sl_error *err);

/* The policy packs last logged as active (log_state key "policy"), from
 * `a`; `*found` false before the first. */
enum sl_err sl_repo_log_policy_get(struct sl_db *db, struct sl_arena *a, char **value, bool *found,
                                   struct sl_error *err);
enum sl_err sl_repo_log_policy_set(struct sl_db *db, const char *value, struct sl_error *err);

/* The log index of version `version_id` / license `license_id`: -1 when
 * there is no such row or it has no entry. */
enum sl_err sl_repo_log_version_idx(struct sl_db *db, int64_t version_id, int64_t *idx,
                                    struct sl_error *err);
enum sl_err sl_repo_log_license_idx(struct sl_db *db, const char *license_id, int64_t *idx,
                                    struct sl_error *err);

/* ---- the rows of a transparency report ---- */

/* Access requests of a model counted by status; `expired` marks approved
 * grants whose expiry is at or before `now` (counted apart). */
struct sl_grant_count_row {
    char status[32];
    bool expired;
    int64_t count;
};
typedef int (*sl_grant_count_fn)(void *ctx, const struct sl_grant_count_row *row);
enum sl_err sl_repo_model_grant_counts(struct sl_db *db, int64_t model_id, int64_t now,
                                       sl_grant_count_fn fn, void *ctx, struct sl_error *err);

/* A model's versions in order, with their floor (the minimum tier when no
 * floor is stored). */
struct sl_version_history_row {
    int64_t seq;
    char commit[65];
    char tier[16], min_tier[16], floor_tier[16];
    int64_t created;
};
typedef int (*sl_version_history_fn)(void *ctx, const struct sl_version_history_row *row);
enum sl_err sl_repo_version_history(struct sl_db *db, int64_t model_id, sl_version_history_fn fn,
                                    void *ctx, struct sl_error *err);

/* A model's evaluator attestations in the order recorded (text valid only
 * during the callback). */
struct sl_model_attestation_row {
    int64_t seq;
    const char *evaluator, *domain, *level;
    int64_t date;
};
typedef int (*sl_model_attestation_fn)(void *ctx, const struct sl_model_attestation_row *row);
enum sl_err sl_repo_attestations_of_model(struct sl_db *db, int64_t model_id,
                                          sl_model_attestation_fn fn, void *ctx,
                                          struct sl_error *err);

#endif
