/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Repository operations of chunks and packs: where a file's bytes lie (the
 * read path), and what garbage collection and fsck read and change
 * (registry/gc.c). Every operation returns sl_err (SL_ENOTFOUND,
 * SL_ECONFLICT, SL_EUNAVAILABLE to retry, SL_EINTERNAL/SL_EIO). Lists call
 * `fn` once a row (text valid only during the call; non-zero stops early
 * and is not an error); a failed step is the list's error, never a short
 * list. `changed` out parameters (may be NULL) get the rows a statement
 * changed.
 */
#ifndef SL_DB_REPO_CHUNKS_H
#define SL_DB_REPO_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "db/db.h"

/* A chunk of a file where it lies: in pack `pack_id` (file name `pack`, NULL
 * when the chunk or its pack row is missing, then `missing` is true). */
struct sl_chunk_place_row {
    uint64_t file_offset, length, pack_offset;
    int64_t pack_id;
    const char *pack;
    bool missing;
};
typedef int (*sl_chunk_place_fn)(void *ctx, const struct sl_chunk_place_row *row);

/* The chunks of blob `blob_id` that start at `from` <= offset < `end`, by
 * offset (an index range scan; the caller widens `from` by the largest
 * chunk). */
enum sl_err sl_repo_blob_chunk_span(struct sl_db *db, int64_t blob_id, uint64_t from, uint64_t end,
                                    sl_chunk_place_fn fn, void *ctx, struct sl_error *err);

/* Every chunk of blob `blob_id` in file order, chunks and packs left-joined:
 * a chunk whose row is gone comes with `missing` set (fsck). */
enum sl_err sl_repo_blob_chunk_places(struct sl_db *db, int64_t blob_id, sl_chunk_place_fn fn,
                                      void *ctx, struct sl_error *err);

/* The chunk ids (SHA-256) of blob `blob_id` in file order; `hash` is all
 * zero when the stored id is not 32 bytes. */
struct sl_chunk_id_row {
    uint64_t file_offset;
    uint32_t length;
    unsigned char hash[32];
};
typedef int (*sl_chunk_id_fn)(void *ctx, const struct sl_chunk_id_row *row);
enum sl_err sl_repo_blob_chunk_hashes(struct sl_db *db, int64_t blob_id, sl_chunk_id_fn fn,
                                      void *ctx, struct sl_error *err);

/* ---- garbage collection ---- */

/* The chunks in pack `pack_id` by offset. */
struct sl_pack_chunk_row {
    int64_t chunk_id;
    uint64_t offset, length;
};
typedef int (*sl_pack_chunk_fn)(void *ctx, const struct sl_pack_chunk_row *row);
enum sl_err sl_repo_pack_chunks(struct sl_db *db, int64_t pack_id, sl_pack_chunk_fn fn, void *ctx,
                                struct sl_error *err);

/* Records a new pack file; `*id` is its row id. */
/* ---- ingest ---- */

/* Whether org `org_id` stored the chunk with hash `hash` (`*yes`). A chunk
 * only another org stored is not this org's: the answer never tells. */
enum sl_err sl_repo_chunk_is_owned(struct sl_db *db, const unsigned char hash[32], int64_t org_id,
                                   bool *yes, struct sl_error *err);

/* Records a chunk at `pack_offset` of pack `pack_id`; a chunk with this hash
 * already recorded (another upload stored it meanwhile) is kept as it is. */
enum sl_err sl_repo_chunk_insert(struct sl_db *db, const unsigned char hash[32], int64_t pack_id,
                                 uint64_t pack_offset, uint32_t length, int64_t created,
                                 struct sl_error *err);

/* Makes org `org_id` an owner of the chunk with hash `hash` (once). */
enum sl_err sl_repo_chunk_owner_add(struct sl_db *db, const unsigned char hash[32], int64_t org_id,
                                    struct sl_error *err);

enum sl_err sl_repo_pack_insert(struct sl_db *db, const char *name, uint64_t size, int64_t created,
                                int64_t *id, struct sl_error *err);

/* Points chunk `chunk_id` at `offset` in pack `to` if it is still in pack
 * `from`. */
enum sl_err sl_repo_chunk_move(struct sl_db *db, int64_t chunk_id, int64_t from, int64_t to,
                               uint64_t offset, struct sl_error *err);

/* Marks pack `pack_id` retired at `when`. */
enum sl_err sl_repo_pack_retire(struct sl_db *db, int64_t pack_id, int64_t when,
                                struct sl_error *err);

/* Deletes the files (blobs) no version names, created at or before
 * `before`, with their chunk lists and fingerprinted copies' digests;
 * `*changed` gets the files deleted. */
enum sl_err sl_repo_blobs_drop_unused(struct sl_db *db, int64_t before, int *changed,
                                      struct sl_error *err);

/* Deletes the chunks no file uses, created at or before `before`, with their
 * owners; `*changed` gets the chunks deleted. */
enum sl_err sl_repo_chunks_drop_unused(struct sl_db *db, int64_t before, int *changed,
                                       struct sl_error *err);

/* Retires (at `now`) the packs created at or before `before` that hold no
 * chunk; `*changed` gets how many. */
enum sl_err sl_repo_packs_retire_empty(struct sl_db *db, int64_t now, int64_t before, int *changed,
                                       struct sl_error *err);

/* A pack by id and file name. */
struct sl_pack_row {
    int64_t id;
    const char *name;
    uint64_t size; /* only where the operation says so */
    bool retired;  /* sl_repo_packs_all only */
};
typedef int (*sl_pack_fn)(void *ctx, const struct sl_pack_row *row);

/* Live packs created at or before `before` whose live chunks hold at most
 * `below` of their size (worth rewriting). */
enum sl_err sl_repo_packs_to_compact(struct sl_db *db, int64_t before, double below, sl_pack_fn fn,
                                     void *ctx, struct sl_error *err);

/* Packs retired at or before `before` that hold no chunk (to delete). */
enum sl_err sl_repo_packs_to_delete(struct sl_db *db, int64_t before, sl_pack_fn fn, void *ctx,
                                    struct sl_error *err);

/* Every pack row, live or retired, by id (admin migrate --to-store). */
enum sl_err sl_repo_packs_all(struct sl_db *db, sl_pack_fn fn, void *ctx, struct sl_error *err);

/* Deletes the row of pack `pack_id`. */
enum sl_err sl_repo_pack_delete(struct sl_db *db, int64_t pack_id, struct sl_error *err);

/* Whether a pack row names file `name`. */
enum sl_err sl_repo_pack_known(struct sl_db *db, const char *name, bool *known,
                               struct sl_error *err);

/* ---- fsck ---- */

/* Every live (not retired) pack with its recorded size. */
enum sl_err sl_repo_packs_live(struct sl_db *db, sl_pack_fn fn, void *ctx, struct sl_error *err);

/* Every chunk with its pack, by pack and offset. `hash_ok` is false when the
 * stored id is not 32 bytes. */
struct sl_chunk_row {
    unsigned char hash[32];
    bool hash_ok;
    int64_t pack_id;
    const char *pack;
    uint64_t pack_offset, length;
};
typedef int (*sl_chunk_fn)(void *ctx, const struct sl_chunk_row *row);
enum sl_err sl_repo_chunks_all(struct sl_db *db, sl_chunk_fn fn, void *ctx, struct sl_error *err);

/* Every file (blob) with its digest (`sha_ok` false when not 32 bytes) and
 * size. */
struct sl_blob_scan_row {
    int64_t id;
    unsigned char sha256[32];
    bool sha_ok;
    uint64_t size;
};
typedef int (*sl_blob_fn)(void *ctx, const struct sl_blob_scan_row *row);
enum sl_err sl_repo_blobs_all(struct sl_db *db, sl_blob_fn fn, void *ctx, struct sl_error *err);

/* Every version's commit and manifest text. */
struct sl_manifest_row {
    const char *commit, *manifest;
};
typedef int (*sl_manifest_fn)(void *ctx, const struct sl_manifest_row *row);
enum sl_err sl_repo_version_manifests(struct sl_db *db, sl_manifest_fn fn, void *ctx,
                                      struct sl_error *err);

#endif
