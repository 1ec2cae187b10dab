/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQL of the read path (repo_read.h): models, versions, refs, files and
 * download counts as registry/read.c reads them. Portable between SQLite and
 * PostgreSQL.
 */
#include "db/repo_read.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/repo_int.h"
#include "common/banned.h"

/* The hex of a 32-byte digest column, or "" when it is not 32 bytes. */
static void col_digest(struct sl_stmt *st, int col, char hex[65])
{
    size_t n = 0;
    const unsigned char *h = sl_stmt_col_blob(st, col, &n);

    if (h && n == 32)
        sl_hex(h, 32, hex);
    else
        hex[0] = '\0';
}

enum sl_err sl_repo_model_ids(struct sl_db *db, const char *org, const char *name, int64_t *org_id,
                              int64_t *model_id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT o.id, m.id FROM orgs o LEFT JOIN models m ON m.org_id "
                                    "= o.id AND m.name = ? WHERE o.name = ?",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, name);
    sl_stmt_text(st, 2, org);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *org_id = sl_stmt_col_int(st, 0);
        *model_id = sl_stmt_col_null(st, 1) ? 0 : sl_stmt_col_int(st, 1);
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (row == 0 || *model_id == 0)
        return sl_error_set(err, SL_ENOTFOUND, "no model %s/%s", org, name);
    return SL_OK;
}

/* The version columns every version query here selects first. */
static void fill_version(struct sl_stmt *st, struct sl_version_ref *v)
{
    v->version_id = sl_stmt_col_int(st, 0);
    v->seq = sl_stmt_col_int(st, 1);
    sl__repo_text(v->commit, sizeof(v->commit), sl_stmt_col_text(st, 2));
    sl__repo_text(v->tier, sizeof(v->tier), sl_stmt_col_text(st, 3));
    sl__repo_text(v->min_tier, sizeof(v->min_tier), sl_stmt_col_text(st, 4));
    v->created = sl_stmt_col_int(st, 5);
    v->bytes_total = sl_stmt_col_int(st, 6);
}

enum sl_err sl_repo_version_by_prefix(struct sl_db *db, int64_t model_id, const char *prefix,
                                      struct sl_version_ref *v, int *matches, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
        "versions v WHERE v.model_id = ? AND substr(v.commit_hash, 1, ?) = ? LIMIT 2",
        err);
    int row;

    *matches = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, (int64_t)strlen(prefix));
    sl_stmt_text(st, 3, prefix);
    while ((row = sl_stmt_step(st, err)) == 1) {
        fill_version(st, v);
        (*matches)++;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_version_by_seq(struct sl_db *db, int64_t model_id, int64_t seq,
                                   struct sl_version_ref *v, bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
        "versions v WHERE v.model_id = ? AND v.seq = ?",
        err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, seq);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        fill_version(st, v);
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_version_by_ref(struct sl_db *db, int64_t model_id, const char *name,
                                   struct sl_version_ref *v, bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
        "refs f JOIN versions v ON v.id = f.version_id WHERE f.model_id = ? AND f.name = ?",
        err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_text(st, 2, name);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        fill_version(st, v);
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_versions_newest(struct sl_db *db, int64_t model_id, int64_t except_id,
                                    struct sl_version_ref *out, size_t max, size_t *n,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
        "versions v WHERE v.model_id = ? AND v.id != ? ORDER BY v.seq DESC LIMIT 100",
        err);
    int row = 0;

    *n = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, except_id);
    while (*n < max && (row = sl_stmt_step(st, err)) == 1) {
        memset(&out[*n], 0, sizeof(out[*n]));
        fill_version(st, &out[*n]);
        (*n)++;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_file_get(struct sl_db *db, int64_t version_id, const char *path,
                             struct sl_file_ref *f, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT b.id, b.size, b.sha256 FROM version_files vf JOIN "
                                    "blobs b ON b.id = vf.blob_id WHERE vf.version_id = ? AND "
                                    "vf.path = ?",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    sl_stmt_text(st, 2, path);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        f->blob_id = sl_stmt_col_int(st, 0);
        f->size = (uint64_t)sl_stmt_col_int(st, 1);
        col_digest(st, 2, f->sha256);
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (row == 0)
        return sl_error_set(err, SL_ENOTFOUND, "no file \"%s\" in this version", path);
    return SL_OK;
}

enum sl_err sl_repo_version_files(struct sl_db *db, int64_t version_id, sl_version_file_fn fn,
                                  void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT vf.path, b.id, b.size, b.sha256 FROM version_files vf "
                                    "JOIN blobs b ON b.id = vf.blob_id WHERE vf.version_id = ? "
                                    "ORDER BY vf.path",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_version_file_row r;
        const char *path = sl_stmt_col_text(st, 0);
        r.path = path ? path : "";
        r.f.blob_id = sl_stmt_col_int(st, 1);
        r.f.size = (uint64_t)sl_stmt_col_int(st, 2);
        col_digest(st, 3, r.f.sha256);
        if (fn(ctx, &r) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_version_docs(struct sl_db *db, struct sl_arena *a, int64_t version_id,
                                 struct sl_version_docs_row *row, bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT inspect, decision, license, floor_tier FROM versions WHERE id = ?", err);
    int r;

    memset(row, 0, sizeof(*row));
    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    r = sl_stmt_step(st, err);
    if (r == 1) {
        row->inspect = sl__repo_dup(st, 0, a);
        row->decision = sl__repo_dup(st, 1, a);
        row->license = sl__repo_dup(st, 2, a);
        sl__repo_text(row->floor_tier, sizeof(row->floor_tier), sl_stmt_col_text(st, 3));
        *found = true;
    }
    return sl__repo_done(st, r, err);
}

enum sl_err sl_repo_model_refs(struct sl_db *db, int64_t model_id, sl_ref_fn fn, void *ctx,
                               struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT f.name, v.commit_hash FROM refs f JOIN versions v ON "
                                    "v.id = f.version_id WHERE f.model_id = ? ORDER BY f.name",
                                    err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_ref_row r;
        const char *name = sl_stmt_col_text(st, 0);
        r.name = name ? name : "";
        sl__repo_text(r.commit, sizeof(r.commit), sl_stmt_col_text(st, 1));
        if (fn(ctx, &r) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_model_versions(struct sl_db *db, int64_t model_id, int64_t after_day,
                                   sl_version_downloads_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total, (SELECT "
        "coalesce(sum(d.n), 0) FROM downloads d WHERE d.version_id = v.id AND d.day > ?), "
        "(SELECT coalesce(sum(d.n), 0) FROM downloads d WHERE d.version_id = v.id) FROM versions "
        "v WHERE v.model_id = ? ORDER BY v.seq",
        err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, after_day);
    sl_stmt_int(st, 2, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_version_downloads_row v;
        v.seq = sl_stmt_col_int(st, 0);
        sl__repo_text(v.commit, sizeof(v.commit), sl_stmt_col_text(st, 1));
        sl__repo_text(v.tier, sizeof(v.tier), sl_stmt_col_text(st, 2));
        sl__repo_text(v.min_tier, sizeof(v.min_tier), sl_stmt_col_text(st, 3));
        v.created = sl_stmt_col_int(st, 4);
        v.bytes_total = sl_stmt_col_int(st, 5);
        v.downloads = sl_stmt_col_int(st, 6);
        v.downloads_all_time = sl_stmt_col_int(st, 7);
        if (fn(ctx, &v) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_models_main(struct sl_db *db, sl_model_main_fn fn, void *ctx,
                                struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db,
                   "SELECT o.name, m.name, v.tier, v.seq, v.commit_hash FROM models m JOIN orgs o "
                   "ON o.id = m.org_id JOIN refs f ON f.model_id = m.id AND f.name = 'main' JOIN "
                   "versions v ON v.id = f.version_id ORDER BY o.name, m.name",
                   err);
    int row;

    if (!st)
        return err->code;
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_model_main_row m;
        const char *org = sl_stmt_col_text(st, 0), *name = sl_stmt_col_text(st, 1);
        m.org = org ? org : "";
        m.name = name ? name : "";
        sl__repo_text(m.tier, sizeof(m.tier), sl_stmt_col_text(st, 2));
        m.seq = sl_stmt_col_int(st, 3);
        sl__repo_text(m.commit, sizeof(m.commit), sl_stmt_col_text(st, 4));
        if (fn(ctx, &m) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}
