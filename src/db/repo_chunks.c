/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQL of chunks and packs (repo_chunks.h): byte ranges of files for
 * downloads, and the reads and deletes of garbage collection and fsck.
 * Portable between SQLite and PostgreSQL; callers hold the transactions.
 */
#include "db/repo_chunks.h"

#include <string.h>

#include "db/repo_int.h"
#include "common/banned.h"

/* Copies a 32-byte digest column into out; false (out zeroed) otherwise. */
static bool col_hash(struct sl_stmt *st, int col, unsigned char out[32])
{
    size_t n = 0;
    const void *h = sl_stmt_col_blob(st, col, &n);

    if (h && n == 32) {
        memcpy(out, h, 32);
        return true;
    }
    memset(out, 0, 32);
    return false;
}

/* Runs a bound statement of (file_offset, length, ...) rows whose pack
 * offset, pack id and pack name are in columns `po`, `pid` and `pname`. */
static enum sl_err place_rows(struct sl_stmt *st, int po, int pid, int pname, sl_chunk_place_fn fn,
                              void *ctx, struct sl_error *err)
{
    int row;

    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_chunk_place_row p;
        p.file_offset = (uint64_t)sl_stmt_col_int(st, 0);
        p.length = (uint64_t)sl_stmt_col_int(st, 1);
        p.pack_offset = (uint64_t)sl_stmt_col_int(st, po);
        p.missing = sl_stmt_col_null(st, pid);
        p.pack_id = p.missing ? 0 : sl_stmt_col_int(st, pid);
        p.pack = sl_stmt_col_text(st, pname);
        if (fn(ctx, &p) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_blob_chunk_span(struct sl_db *db, int64_t blob_id, uint64_t from, uint64_t end,
                                    sl_chunk_place_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT bc.file_offset, c.length, c.pack_offset, c.pack_id, p.name FROM blob_chunks bc "
        "JOIN chunks c ON c.id = bc.chunk_id JOIN packs p ON p.id = c.pack_id WHERE bc.blob_id = "
        "? AND bc.file_offset >= ? AND bc.file_offset < ? ORDER BY bc.file_offset",
        err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    sl_stmt_int(st, 2, (int64_t)from);
    sl_stmt_int(st, 3, (int64_t)end);
    return place_rows(st, 2, 3, 4, fn, ctx, err);
}

enum sl_err sl_repo_blob_chunk_places(struct sl_db *db, int64_t blob_id, sl_chunk_place_fn fn,
                                      void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT bc.file_offset, c.length, c.pack_id, p.name, c.pack_offset FROM blob_chunks bc "
        "LEFT JOIN chunks c ON c.id = bc.chunk_id LEFT JOIN packs p ON p.id = c.pack_id WHERE "
        "bc.blob_id = ? ORDER BY bc.idx",
        err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    return place_rows(st, 4, 2, 3, fn, ctx, err);
}

enum sl_err sl_repo_blob_chunk_hashes(struct sl_db *db, int64_t blob_id, sl_chunk_id_fn fn,
                                      void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT bc.file_offset, c.length, c.hash FROM blob_chunks bc "
                                    "JOIN chunks c ON c.id = bc.chunk_id WHERE bc.blob_id = ? "
                                    "ORDER BY bc.idx",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_chunk_id_row c;
        c.file_offset = (uint64_t)sl_stmt_col_int(st, 0);
        c.length = (uint32_t)sl_stmt_col_int(st, 1);
        col_hash(st, 2, c.hash);
        if (fn(ctx, &c) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

/* ---- garbage collection ---- */

enum sl_err sl_repo_pack_chunks(struct sl_db *db, int64_t pack_id, sl_pack_chunk_fn fn, void *ctx,
                                struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT id, pack_offset, length FROM chunks WHERE pack_id = ? ORDER BY pack_offset",
        err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, pack_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_pack_chunk_row c;
        c.chunk_id = sl_stmt_col_int(st, 0);
        c.offset = (uint64_t)sl_stmt_col_int(st, 1);
        c.length = (uint64_t)sl_stmt_col_int(st, 2);
        if (fn(ctx, &c) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_pack_insert(struct sl_db *db, const char *name, uint64_t size, int64_t created,
                                int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "INSERT INTO packs (name, size, created) VALUES (?, ?, ?)", err);
    enum sl_err rc;

    *id = 0;
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, name);
    sl_stmt_int(st, 2, (int64_t)size);
    sl_stmt_int(st, 3, created);
    rc = sl_stmt_run(st, err);
    if (!rc)
        *id = sl_db_last_id(db);
    return rc;
}

enum sl_err sl_repo_chunk_is_owned(struct sl_db *db, const unsigned char hash[32], int64_t org_id,
                                   bool *yes, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT 1 FROM chunks c JOIN chunk_owners o ON o.chunk_id = c.id "
                   "WHERE c.hash = ? AND o.org_id = ?",
                   err);

    *yes = false;
    if (!st)
        return err->code;
    sl_stmt_blob(st, 1, hash, 32);
    sl_stmt_int(st, 2, org_id);
    return sl__repo_exists(st, yes, err);
}

enum sl_err sl_repo_chunk_insert(struct sl_db *db, const unsigned char hash[32], int64_t pack_id,
                                 uint64_t pack_offset, uint32_t length, int64_t created,
                                 struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO chunks (hash, pack_id, pack_offset, length, created) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
                   err);

    if (!st)
        return err->code;
    sl_stmt_blob(st, 1, hash, 32);
    sl_stmt_int(st, 2, pack_id);
    sl_stmt_int(st, 3, (int64_t)pack_offset);
    sl_stmt_int(st, 4, length);
    sl_stmt_int(st, 5, created);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_chunk_owner_add(struct sl_db *db, const unsigned char hash[32], int64_t org_id,
                                    struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "INSERT INTO chunk_owners (chunk_id, org_id) "
                   "SELECT id, ? FROM chunks WHERE hash = ? ON CONFLICT DO NOTHING",
                   err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, org_id);
    sl_stmt_blob(st, 2, hash, 32);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_chunk_move(struct sl_db *db, int64_t chunk_id, int64_t from, int64_t to,
                               uint64_t offset, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "UPDATE chunks SET pack_id = ?, pack_offset = ? WHERE id = ? AND pack_id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, to);
    sl_stmt_int(st, 2, (int64_t)offset);
    sl_stmt_int(st, 3, chunk_id);
    sl_stmt_int(st, 4, from);
    return sl_stmt_run(st, err);
}

/* Runs a change with integer parameters a (and b when `two`). */
static enum sl_err change(struct sl_db *db, const char *sql, int64_t a, bool two, int64_t b,
                          int *changed, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    enum sl_err rc;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, a);
    if (two)
        sl_stmt_int(st, 2, b);
    rc = sl_stmt_run(st, err);
    if (!rc && changed)
        *changed = sl_db_changes(db);
    return rc;
}

enum sl_err sl_repo_pack_retire(struct sl_db *db, int64_t pack_id, int64_t when,
                                struct sl_error *err)
{
    return change(db, "UPDATE packs SET retired = ? WHERE id = ?", when, true, pack_id, NULL, err);
}

enum sl_err sl_repo_blobs_drop_unused(struct sl_db *db, int64_t before, int *changed,
                                      struct sl_error *err)
{
    enum sl_err rc = change(db,
                            "DELETE FROM fp_copies WHERE blob_id IN (SELECT id FROM blobs WHERE "
                            "created <= ? AND NOT EXISTS (SELECT 1 FROM version_files vf WHERE "
                            "vf.blob_id = blobs.id))",
                            before, false, 0, NULL, err);

    if (!rc)
        rc = change(db,
                    "DELETE FROM blob_chunks WHERE blob_id IN (SELECT id FROM blobs WHERE "
                    "created <= ? AND NOT EXISTS (SELECT 1 FROM version_files vf WHERE "
                    "vf.blob_id = blobs.id))",
                    before, false, 0, NULL, err);
    if (!rc)
        rc = change(db,
                    "DELETE FROM blobs WHERE created <= ? AND NOT EXISTS (SELECT 1 FROM "
                    "version_files vf WHERE vf.blob_id = blobs.id)",
                    before, false, 0, changed, err);
    return rc;
}

enum sl_err sl_repo_chunks_drop_unused(struct sl_db *db, int64_t before, int *changed,
                                       struct sl_error *err)
{
    enum sl_err rc = change(db,
                            "DELETE FROM chunk_owners WHERE chunk_id IN (SELECT c.id FROM chunks "
                            "c WHERE c.created <= ? AND NOT EXISTS (SELECT 1 FROM blob_chunks bc "
                            "WHERE bc.chunk_id = c.id))",
                            before, false, 0, NULL, err);

    if (!rc)
        rc = change(db,
                    "DELETE FROM chunks WHERE created <= ? AND NOT EXISTS (SELECT 1 FROM "
                    "blob_chunks bc WHERE bc.chunk_id = chunks.id)",
                    before, false, 0, changed, err);
    return rc;
}

enum sl_err sl_repo_packs_retire_empty(struct sl_db *db, int64_t now, int64_t before, int *changed,
                                       struct sl_error *err)
{
    return change(db,
                  "UPDATE packs SET retired = ? WHERE retired IS NULL AND created <= ? AND NOT "
                  "EXISTS (SELECT 1 FROM chunks c WHERE c.pack_id = packs.id)",
                  now, true, before, changed, err);
}

/* Runs a bound statement of (id, name[, size]) pack rows. */
static enum sl_err pack_rows(struct sl_stmt *st, bool sized, sl_pack_fn fn, void *ctx,
                             struct sl_error *err)
{
    int row;

    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_pack_row p;
        const char *name = sl_stmt_col_text(st, 1);
        p.id = sl_stmt_col_int(st, 0);
        p.name = name ? name : "";
        p.size = sized ? (uint64_t)sl_stmt_col_int(st, 2) : 0;
        p.retired = false;
        if (fn(ctx, &p) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_packs_to_compact(struct sl_db *db, int64_t before, double below, sl_pack_fn fn,
                                     void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT p.id, p.name FROM packs p WHERE p.retired IS NULL AND p.created <= ? AND "
        "(SELECT coalesce(sum(length), 0) FROM chunks c WHERE c.pack_id = p.id) <= p.size * "
        "CAST(? AS DOUBLE PRECISION)",
        err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, before);
    sl_stmt_real(st, 2, below);
    return pack_rows(st, false, fn, ctx, err);
}

enum sl_err sl_repo_packs_to_delete(struct sl_db *db, int64_t before, sl_pack_fn fn, void *ctx,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT p.id, p.name FROM packs p WHERE p.retired IS NOT NULL AND p.retired <= ? AND "
        "NOT EXISTS (SELECT 1 FROM chunks c WHERE c.pack_id = p.id)",
        err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, before);
    return pack_rows(st, false, fn, ctx, err);
}

enum sl_err sl_repo_pack_delete(struct sl_db *db, int64_t pack_id, struct sl_error *err)
{
    return change(db, "DELETE FROM packs WHERE id = ?", pack_id, false, 0, NULL, err);
}

enum sl_err sl_repo_pack_known(struct sl_db *db, const char *name, bool *known,
                               struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT 1 FROM packs WHERE name = ?", err);
    int row;

    *known = false;
    if (!st)
        return err->code;
    sl_stmt_text(st, 1, name);
    row = sl_stmt_step(st, err);
    *known = row == 1;
    return sl__repo_done(st, row, err);
}

/* ---- fsck ---- */

enum sl_err sl_repo_packs_live(struct sl_db *db, sl_pack_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT id, name, size FROM packs WHERE retired IS NULL", err);

    if (!st)
        return err->code;
    return pack_rows(st, true, fn, ctx, err);
}

enum sl_err sl_repo_packs_all(struct sl_db *db, sl_pack_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id, name, retired FROM packs ORDER BY id", err);
    int row;

    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_pack_row p;
        const char *name = sl_stmt_col_text(st, 1);
        p.id = sl_stmt_col_int(st, 0);
        p.name = name ? name : "";
        p.size = 0;
        p.retired = !sl_stmt_col_null(st, 2);
        if (fn(ctx, &p) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_chunks_all(struct sl_db *db, sl_chunk_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT c.hash, c.pack_id, p.name, c.pack_offset, c.length "
                                    "FROM chunks c JOIN packs p ON p.id = c.pack_id ORDER BY "
                                    "c.pack_id, c.pack_offset",
                                    err);
    int row;

    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_chunk_row c;
        const char *pack = sl_stmt_col_text(st, 2);
        c.hash_ok = col_hash(st, 0, c.hash);
        c.pack_id = sl_stmt_col_int(st, 1);
        c.pack = pack ? pack : "";
        c.pack_offset = (uint64_t)sl_stmt_col_int(st, 3);
        c.length = (uint64_t)sl_stmt_col_int(st, 4);
        if (fn(ctx, &c) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_blobs_all(struct sl_db *db, sl_blob_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT id, sha256, size FROM blobs", err);
    int row;

    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_blob_scan_row b;
        b.id = sl_stmt_col_int(st, 0);
        b.sha_ok = col_hash(st, 1, b.sha256);
        b.size = (uint64_t)sl_stmt_col_int(st, 2);
        if (fn(ctx, &b) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_version_manifests(struct sl_db *db, sl_manifest_fn fn, void *ctx,
                                      struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT commit_hash, manifest FROM versions", err);
    int row;

    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_manifest_row m;
        const char *c = sl_stmt_col_text(st, 0), *t = sl_stmt_col_text(st, 1);
        m.commit = c ? c : "";
        m.manifest = t ? t : "";
        if (fn(ctx, &m) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}
