/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQL of fingerprinted downloads (repo_fp.h): fp_recipients,
 * fp_lineages, fp_copies and the reads of versions and users a trace and
 * the background hasher need. Portable between SQLite and PostgreSQL.
 */
#include "db/repo_fp.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/repo_int.h"
#include "common/banned.h"

enum sl_err sl_repo_fp_recipient_get(struct sl_db *db, int64_t model_id, int64_t user_id,
                                     int64_t *id, char commitment[65], bool *found,
                                     struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT id, commitment FROM fp_recipients WHERE model_id = ? AND user_id = ?", err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *id = sl_stmt_col_int(st, 0);
        sl__repo_text(commitment, 65, sl_stmt_col_text(st, 1));
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_recipient_id(struct sl_db *db, int64_t model_id, int64_t user_id,
                                    int64_t *id, bool *found, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT id FROM fp_recipients WHERE model_id = ? AND user_id = ?", err);
    int row;

    *found = false;
    *id = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *id = sl_stmt_col_int(st, 0);
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_recipient_insert(struct sl_db *db, int64_t model_id, int64_t user_id,
                                        int64_t created, int64_t *id, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO fp_recipients (model_id, user_id, commitment, "
                                    "created) VALUES (?, ?, '', ?)",
                                    err);
    enum sl_err rc;

    *id = 0;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_int(st, 2, user_id);
    sl_stmt_int(st, 3, created);
    rc = sl_stmt_run(st, err);
    if (!rc)
        *id = sl_db_last_id(db);
    return rc;
}

enum sl_err sl_repo_fp_recipient_commit(struct sl_db *db, int64_t id, const char *commitment,
                                        struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "UPDATE fp_recipients SET commitment = ? WHERE id = ?", err);

    if (!st)
        return err->code;
    sl_stmt_text(st, 1, commitment);
    sl_stmt_int(st, 2, id);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_fp_recipients_of_model(struct sl_db *db, int64_t model_id,
                                           sl_fp_recipient_fn fn, void *ctx, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT id, user_id FROM fp_recipients WHERE model_id = ? ORDER BY id", err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        struct sl_fp_recipient_row r;
        r.id = sl_stmt_col_int(st, 0);
        r.user_id = sl_stmt_col_int(st, 1);
        if (fn(ctx, &r) != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_lineage_get(struct sl_db *db, int64_t model_id, double *density, bool *found,
                                   struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT density FROM fp_lineages WHERE model_id = ?", err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *density = sl_stmt_col_real(st, 0);
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_lineage_insert(struct sl_db *db, int64_t model_id, double density,
                                      int64_t created, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO fp_lineages (model_id, density, created) VALUES "
                                    "(?, ?, ?) ON CONFLICT DO NOTHING",
                                    err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    sl_stmt_real(st, 2, density);
    sl_stmt_int(st, 3, created);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_fp_version_inspect(struct sl_db *db, struct sl_arena *a, int64_t version_id,
                                       char **inspect, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT inspect FROM versions WHERE id = ?", err);
    int row;

    *inspect = NULL;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    row = sl_stmt_step(st, err);
    if (row == 1 && sl_stmt_col_text(st, 0))
        *inspect = sl_arena_strdup(a, sl_stmt_col_text(st, 0));
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_copy_get(struct sl_db *db, int64_t recipient, int64_t blob_id, char hex[65],
                                bool *found, struct sl_error *err)
{
    struct sl_stmt *st =
        sl_db_stmt(db, "SELECT sha256 FROM fp_copies WHERE recipient_id = ? AND blob_id = ?", err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, recipient);
    sl_stmt_int(st, 2, blob_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        sl__repo_text(hex, 65, sl_stmt_col_text(st, 0));
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_copy_insert(struct sl_db *db, int64_t recipient, int64_t blob_id,
                                   const char *hex, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "INSERT INTO fp_copies (recipient_id, blob_id, sha256) VALUES "
                                    "(?, ?, ?) ON CONFLICT DO NOTHING",
                                    err);

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, recipient);
    sl_stmt_int(st, 2, blob_id);
    sl_stmt_text(st, 3, hex);
    return sl_stmt_run(st, err);
}

enum sl_err sl_repo_fp_warm_next(struct sl_db *db, int64_t after_recipient, int64_t after_blob,
                                 struct sl_fp_warm_row *row, bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db,
        "SELECT fr.id, fr.user_id, u.name, u.is_admin, o.name, m.name, vf.path, b.id, b.size, "
        "b.sha256 FROM fp_recipients fr JOIN users u ON u.id = fr.user_id JOIN models m ON m.id "
        "= fr.model_id JOIN orgs o ON o.id = m.org_id JOIN refs rf ON rf.model_id = m.id AND "
        "rf.name = 'main' JOIN versions v ON v.id = rf.version_id AND v.tier = 'gated' JOIN "
        "version_files vf ON vf.version_id = v.id JOIN blobs b ON b.id = vf.blob_id WHERE "
        "(vf.path LIKE '%.safetensors' OR vf.path LIKE '%.gguf') AND (fr.id > ? OR (fr.id = ? "
        "AND b.id > ?)) AND NOT EXISTS (SELECT 1 FROM fp_copies c WHERE c.recipient_id = fr.id "
        "AND c.blob_id = b.id) ORDER BY fr.id, b.id LIMIT 1",
        err);
    int r;

    memset(row, 0, sizeof(*row));
    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, after_recipient);
    sl_stmt_int(st, 2, after_recipient);
    sl_stmt_int(st, 3, after_blob);
    r = sl_stmt_step(st, err);
    if (r == 1) {
        size_t hl = 0;
        const unsigned char *h = sl_stmt_col_blob(st, 9, &hl);
        row->recipient = sl_stmt_col_int(st, 0);
        row->user.user_id = sl_stmt_col_int(st, 1);
        sl__repo_text(row->user.name, sizeof(row->user.name), sl_stmt_col_text(st, 2));
        row->user.admin = sl_stmt_col_int(st, 3) != 0;
        sl__repo_text(row->org, sizeof(row->org), sl_stmt_col_text(st, 4));
        sl__repo_text(row->name, sizeof(row->name), sl_stmt_col_text(st, 5));
        sl__repo_text(row->path, sizeof(row->path), sl_stmt_col_text(st, 6));
        row->f.blob_id = sl_stmt_col_int(st, 7);
        row->f.size = (uint64_t)sl_stmt_col_int(st, 8);
        if (h && hl == 32)
            sl_hex(h, 32, row->f.sha256);
        *found = true;
    }
    return sl__repo_done(st, r, err);
}

enum sl_err sl_repo_fp_main_version(struct sl_db *db, int64_t model_id, int64_t *version_id,
                                    int64_t *seq, char commit[65], bool *found,
                                    struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db,
                                    "SELECT v.id, v.seq, v.commit_hash FROM refs f JOIN versions "
                                    "v ON v.id = f.version_id WHERE f.model_id = ? AND f.name = "
                                    "'main'",
                                    err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        *version_id = sl_stmt_col_int(st, 0);
        *seq = sl_stmt_col_int(st, 1);
        sl__repo_text(commit, 65, sl_stmt_col_text(st, 2));
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_user_name(struct sl_db *db, int64_t user_id, char name[SL_NAME_MAX + 1],
                                 bool *found, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT name FROM users WHERE id = ?", err);
    int row;

    *found = false;
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, user_id);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        sl__repo_text(name, SL_NAME_MAX + 1, sl_stmt_col_text(st, 0));
        *found = true;
    }
    return sl__repo_done(st, row, err);
}

enum sl_err sl_repo_fp_model_commits(struct sl_db *db, int64_t model_id, sl_fp_commit_fn fn,
                                     void *ctx, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, "SELECT commit_hash FROM versions WHERE model_id = ?", err);
    int row;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *c = sl_stmt_col_text(st, 0);
        if (fn(ctx, c ? c : "") != 0)
            break;
    }
    return sl__repo_done(st, row, err);
}
