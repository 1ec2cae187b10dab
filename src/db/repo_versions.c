/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repository operations of repo_versions.h: models, versions, version
 * files, blobs and chunks, the `main` ref. Each is the SQL the registry wrote
 * before, statement for statement, portable between SQLite and PostgreSQL.
 */
#include "db/repo_versions.h"

#include <stdio.h>
#include <string.h>

#include "db/repo_int.h"
#include "common/banned.h"

/* ---- blobs and chunks ---- */

enum sl_err sl_repo_blob_find(struct sl_db *db, const unsigned char sha[32], bool *found,
                              struct sl_blob_row *out, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id, size FROM blobs WHERE sha256 = ?", err);
    int row;

    *found = false;
    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_blob(st, 1, sha, 32);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        out->id = sl_stmt_col_int(st, 0);
        out->size = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_blob_foreign_chunks(struct sl_db *db, int64_t blob_id, int64_t org_id,
                                        bool *found, int64_t *foreign, int64_t *total,
                                        struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT count(*), (SELECT count(*) FROM blob_chunks WHERE blob_id = ?1) FROM "
                   "blob_chunks bc WHERE bc.blob_id = ?1 AND NOT EXISTS (SELECT 1 FROM "
                   "chunk_owners o WHERE o.chunk_id = bc.chunk_id AND o.org_id = ?2)",
                   err);
    int row;

    *found = false;
    *foreign = 0;
    *total = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    sl_stmt_int(st, 2, org_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        *foreign = sl_stmt_col_int(st, 0);
        *total = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_blob_chunk_ids(struct sl_db *db, int64_t blob_id,
                                   int (*fn)(void *ctx, int64_t chunk_id), void *ctx,
                                   struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT chunk_id FROM blob_chunks WHERE blob_id = ? ORDER BY idx", err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        if (fn(ctx, sl_stmt_col_int(st, 0)) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_blob_insert(struct sl_db *db, const unsigned char sha[32], uint64_t size,
                                const int64_t *chunk_ids, const uint32_t *chunk_len, size_t nchunks,
                                int64_t now, int64_t *blob_id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO blobs (sha256, size, nchunks, created) VALUES "
                                    "(?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                                    err);
    bool found;
    enum sl_err rc;

    if (!st)
        return err->code;
    sl_stmt_blob(st, 1, sha, 32);
    sl_stmt_int(st, 2, (int64_t)size);
    sl_stmt_int(st, 3, (int64_t)nchunks);
    sl_stmt_int(st, 4, now);
    rc = sl_stmt_run(st, err);
    if (rc)
        return rc;
    if (sl_db_changes(db) == 1) {
        uint64_t off = 0;
        *blob_id = sl_db_last_id(db);
        st = sl_db_stmt(db,
                        "INSERT INTO blob_chunks (blob_id, idx, file_offset, chunk_id) VALUES (?, "
                        "?, ?, ?)",
                        err);
        if (!st)
            return err->code;
        for (size_t k = 0; k < nchunks; k++) {
            sl_stmt_int(st, 1, *blob_id);
            sl_stmt_int(st, 2, (int64_t)k);
            sl_stmt_int(st, 3, (int64_t)off);
            sl_stmt_int(st, 4, chunk_ids[k]);
            rc = sl_stmt_run(st, err);
            if (rc)
                return rc;
            off += chunk_len[k];
        }
        return SL_OK;
    }
    /* stored by a concurrent request first */
    st = sl_db_stmt(db, "SELECT id FROM blobs WHERE sha256 = ?", err);
    if (!st)
        return err->code;
    sl_stmt_blob(st, 1, sha, 32);
    return sl__repo_int(st, blob_id, &found, err);
}

enum sl_err sl_repo_chunk_owned(struct sl_db *db, int64_t org_id, const unsigned char hash[32],
                                bool *owned, struct sl_chunk_owned_row *out, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT c.id, c.length, (SELECT 1 FROM chunk_owners o WHERE o.chunk_id = c.id "
                   "AND o.org_id = ?) FROM chunks c WHERE c.hash = ?",
                   err);
    int row;

    *owned = false;
    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_blob(st, 2, hash, 32);
    row = sl_stmt_step(st, err);
    if (row == 1 && !sl_stmt_col_null(st, 2)) {
        *owned = true;
        out->id = sl_stmt_col_int(st, 0);
        out->length = (uint32_t)sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

static void loc_read(struct sl_stmt *st, struct sl_chunk_loc_row *l)
{
    l->pack_id = sl_stmt_col_int(st, 0);
    sl__repo_copy(st, 1, l->pack, sizeof(l->pack));
    l->pack_offset = (uint64_t)sl_stmt_col_int(st, 2);
    l->length = (uint32_t)sl_stmt_col_int(st, 3);
}

enum sl_err sl_repo_chunk_locate(struct sl_db *db, int64_t chunk_id, bool *found,
                                 struct sl_chunk_loc_row *out, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT c.pack_id, p.name, c.pack_offset, c.length FROM chunks c JOIN packs p ON "
        "p.id = c.pack_id WHERE c.id = ?",
        err);
    int row;

    *found = false;
    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, chunk_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        loc_read(st, out);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_blob_chunk_locs(struct sl_db *db, int64_t blob_id,
                                    int (*fn)(void *ctx, const struct sl_chunk_loc_row *row),
                                    void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT c.pack_id, p.name, c.pack_offset, c.length FROM "
                                    "blob_chunks bc JOIN chunks c ON c.id = bc.chunk_id JOIN "
                                    "packs p ON p.id = c.pack_id WHERE bc.blob_id = ? ORDER BY "
                                    "bc.idx",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_chunk_loc_row l;
        loc_read(st, &l);
        if (fn(ctx, &l) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

/* ---- models and the `main` ref ---- */

enum sl_err sl_repo_model_find(struct sl_db *db, int64_t org_id, const char *name, bool *found,
                               int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id FROM models WHERE org_id = ? AND name = ?", err);

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_text(st, 2, name);
    return sl__repo_int(st, id, found, err);
}

enum sl_err sl_repo_model_insert(struct sl_db *db, int64_t org_id, const char *name, int64_t now,
                                 int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "INSERT INTO models (org_id, name, created) VALUES (?, ?, ?)", err);
    enum sl_err rc;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_text(st, 2, name);
    sl_stmt_int(st, 3, now);
    rc = sl_stmt_run(st, err);
    if (rc)
        return rc;
    *id = sl_db_last_id(db);
    return SL_OK;
}

enum sl_err sl_repo_ref_main_get(struct sl_db *db, int64_t model_id, bool *found, int64_t *seq,
                                 char tier[SL_REPO_TIER_MAX + 1], struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT v.seq, v.tier FROM refs f JOIN versions v ON v.id = "
                                    "f.version_id WHERE f.model_id = ? AND f.name = 'main'",
                                    err);
    int row;

    *found = false;
    *seq = 0;
    tier[0] = '\0';
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        *seq = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, tier, SL_REPO_TIER_MAX + 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_ref_main_set(struct sl_db *db, int64_t model_id, int64_t version_id,
                                 struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO refs (model_id, name, version_id) VALUES (?, 'main', ?) "
                   "ON CONFLICT (model_id, name) DO UPDATE SET version_id = excluded.version_id",
                   err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, version_id);
    return sl_stmt_run(st, err);
}

/* ---- versions ---- */

enum sl_err sl_repo_version_by_commit(struct sl_db *db, int64_t model_id, const char *commit,
                                      bool *found, int64_t *id, int64_t *seq, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT id, seq FROM versions WHERE model_id = ? AND commit_hash = ?", err);
    int row;

    *found = false;
    *id = 0;
    *seq = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_text(st, 2, commit);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        *id = sl_stmt_col_int(st, 0);
        *seq = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_version_next_seq(struct sl_db *db, int64_t model_id, int64_t *seq,
                                     struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT coalesce(max(seq), 0) + 1 FROM versions WHERE model_id = ?", err);
    bool found;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    return sl__repo_int(st, seq, &found, err);
}

enum sl_err sl_repo_version_insert(struct sl_db *db, const struct sl_version_new *v, int64_t *id,
                                   struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO versions (model_id, seq, commit_hash, manifest, tier, min_tier, "
                   "decision, inspect, license, bytes_total, created, created_by, floor_tier) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   err);
    enum sl_err rc;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, v->model_id);
    sl_stmt_int(st, 2, v->seq);
    sl_stmt_text(st, 3, v->commit);
    sl_stmt_text(st, 4, v->manifest);
    sl_stmt_text(st, 5, v->tier);
    sl_stmt_text(st, 6, v->min_tier);
    sl_stmt_text(st, 7, v->decision);
    sl_stmt_text(st, 8, v->inspect);
    sl_stmt_text(st, 9, v->license);
    sl_stmt_int(st, 10, (int64_t)v->bytes_total);
    sl_stmt_int(st, 11, v->created);
    sl_stmt_int(st, 12, v->created_by);
    sl_stmt_text(st, 13, v->floor_tier);
    rc = sl_stmt_run(st, err);
    if (rc)
        return rc;
    *id = sl_db_last_id(db);
    return SL_OK;
}

enum sl_err sl_repo_version_file_insert(struct sl_db *db, int64_t version_id, const char *path,
                                        int64_t blob_id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "INSERT INTO version_files (version_id, path, blob_id) VALUES (?, ?, ?)", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    sl_stmt_text(st, 2, path);
    sl_stmt_int(st, 3, blob_id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_version_log_idx_set(struct sl_db *db, int64_t version_id, int64_t log_idx,
                                        struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "UPDATE versions SET log_idx = ? WHERE id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, log_idx);
    sl_stmt_int(st, 2, version_id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_versions_any_strict(struct sl_db *db, bool *any, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT 1 FROM versions WHERE tier IN ('gated', 'hosted', 'withheld') LIMIT 1", err);
    int row;

    *any = false;
    if (!st)
        return err->code;
    row = sl_stmt_step(st, err);
    sl_stmt_done(st);
    *any = row == 1;
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_versions_by_chunk_strict(struct sl_db *db, int64_t chunk_id,
                                             int (*fn)(void *ctx,
                                                       const struct sl_version_tier_row *row),
                                             void *ctx, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT DISTINCT v.id, v.tier FROM blob_chunks bc JOIN version_files vf ON "
                   "vf.blob_id = bc.blob_id JOIN versions v ON v.id = vf.version_id WHERE "
                   "bc.chunk_id = ? AND v.tier IN ('gated', 'hosted', 'withheld')",
                   err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, chunk_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_version_tier_row t;
        t.version_id = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, t.tier, sizeof(t.tier));
        if (fn(ctx, &t) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_version_origin(struct sl_db *db, int64_t version_id, bool *found,
                                   struct sl_version_origin_row *out, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT o.id, o.name, m.name, v.commit_hash FROM versions v JOIN models m ON m.id = "
        "v.model_id JOIN orgs o ON o.id = m.org_id WHERE v.id = ?",
        err);
    int row;

    *found = false;
    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        out->org_id = sl_stmt_col_int(st, 0);
        sl__repo_copy(st, 1, out->org, sizeof(out->org));
        sl__repo_copy(st, 2, out->model, sizeof(out->model));
        sl__repo_copy(st, 3, out->commit, sizeof(out->commit));
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_versions_manifests(struct sl_db *db, int64_t org_id, const char *name,
                                       int (*fn)(void *ctx,
                                                 const struct sl_version_manifest_row *row),
                                       void *ctx, struct sl_error *err)
{
    /* newest first; the manifest is parsed by the caller (no JSON functions
     * in SQL, which differ between SQLite and PostgreSQL) */
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT v.seq, v.commit_hash, v.manifest FROM versions v JOIN "
                                    "models m ON m.id = v.model_id WHERE m.org_id = ? AND m.name "
                                    "= ? ORDER BY v.seq DESC",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_text(st, 2, name);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_version_manifest_row m;
        m.seq = sl_stmt_col_int(st, 0);
        m.commit = sl_stmt_col_text(st, 1);
        m.manifest = sl_stmt_col_text(st, 2);
        if (fn(ctx, &m) != 0)
            break;
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_version_state(struct sl_db *db, int64_t version_id,
                                  struct sl_version_state_row *out, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT tier, commit_hash, seq, model_id FROM versions WHERE id = ?", err);
    int row;

    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        sl__repo_copy(st, 0, out->tier, sizeof(out->tier));
        sl__repo_copy(st, 1, out->commit, sizeof(out->commit));
        out->seq = sl_stmt_col_int(st, 2);
        out->model_id = sl_stmt_col_int(st, 3);
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    return row == 1 ? SL_OK : sl_error_set(err, SL_ENOTFOUND, "no such version");
}

enum sl_err sl_repo_version_tier_set(struct sl_db *db, int64_t version_id, const char *tier,
                                     struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "UPDATE versions SET tier = ? WHERE id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, tier);
    sl_stmt_int(st, 2, version_id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_version_decision_set(struct sl_db *db, int64_t version_id, const char *decision,
                                         const char *min_tier, const char *floor_tier,
                                         struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "UPDATE versions SET decision = ?, min_tier = ?, floor_tier = ? WHERE id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, decision);
    sl_stmt_text(st, 2, min_tier);
    sl_stmt_text(st, 3, floor_tier);
    sl_stmt_int(st, 4, version_id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_version_decision_get(struct sl_db *db, int64_t version_id, struct sl_arena *a,
                                         bool *found, char **decision, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT decision FROM versions WHERE id = ?", err);
    int row;

    *found = false;
    *decision = NULL;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        *decision = sl__repo_dup(st, 0, a);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_version_policy_inputs(struct sl_db *db, int64_t version_id, struct sl_arena *a,
                                          bool *found, struct sl_version_policy_row *out,
                                          struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT manifest, inspect, tier FROM versions WHERE id = ?", err);
    int row;

    *found = false;
    memset(out, 0, sizeof(*out));
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        out->manifest = sl__repo_dup(st, 0, a);
        out->inspect = sl__repo_dup(st, 1, a);
        sl__repo_copy(st, 2, out->tier, sizeof(out->tier));
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

enum sl_err sl_repo_version_hf_meta(struct sl_db *db, int64_t model_id, int64_t version_id,
                                    struct sl_arena *a, bool *found, char **inspect,
                                    int64_t *first_created, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT inspect, (SELECT min(created) FROM versions WHERE "
                                    "model_id = ?) FROM versions WHERE id = ?",
                                    err);
    int row;

    *found = false;
    *inspect = NULL;
    *first_created = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *found = true;
        *inspect = sl__repo_dup(st, 0, a);
        *first_created = sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    return row < 0 ? err->code : SL_OK;
}

/* ---- version files ---- */
