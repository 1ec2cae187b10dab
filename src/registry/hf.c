/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the Hugging Face Hub read API's documents (model info and file
 * trees) say of a version: its files as the caller sees them, the inspected
 * parameters, downloads and the commit id. src/http/render_hf.c shapes them
 * the way huggingface_hub and @huggingface/hub parse them.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "db/repo_read.h"
#include "db/repo_versions.h"
#include "common/banned.h"

void sl_hf_files_free(struct sl_hf_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].path);
    free(f);
}

/* The rows of a version's files, collected. */
struct file_list {
    struct sl_hf_file *f;
    int64_t *blob;
    size_t n, cap;
};

static int file_add(void *ctx, const struct sl_version_file_row *row)
{
    struct file_list *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->f = sl_xrealloc(l->f, l->cap * sizeof(*l->f));
        l->blob = sl_xrealloc(l->blob, l->cap * sizeof(*l->blob));
    }
    l->f[l->n].path = sl_xstrdup(row->path);
    l->blob[l->n] = row->f.blob_id;
    l->f[l->n].size = row->f.size;
    memcpy(l->f[l->n].sha256, row->f.sha256, sizeof(l->f[l->n].sha256));
    l->n++;
    return 0;
}

/* The files of `v` in path order, each with the digest of the copy `p`
 * gets: a fingerprinted copy is named by its own SHA-256 (computed once per
 * recipient and file), so a cache keyed by it (huggingface_hub's blobs/,
 * @huggingface/hub's lfs.oid) never hands one licensee's copy to another.
 * The rows are read first and the statement finished before any copy is
 * hashed, which may write to the database. */
static enum sl_err version_files(struct sl_registry *r, struct sl_db *db,
                                 const struct sl_principal *p, const struct sl_version_ref *v,
                                 struct sl_hf_file **out, size_t *count, struct sl_error *err)
{
    struct file_list l = {NULL, NULL, 0, 0};
    struct sl_hf_file *f;
    int64_t *blob;
    size_t n;
    enum sl_err rc;

    *out = NULL;
    *count = 0;
    rc = sl_repo_version_files(db, v->version_id, file_add, &l, err);
    f = l.f;
    blob = l.blob;
    n = l.n;
    /* only a caller who may download gets (and makes) a recipient's digests */
    if (!rc && p && p->user_id && strcmp(v->tier, "gated") == 0) {
        struct sl_error ignore;
        char hint[8];
        if (sl_reg_may_download(r, p, v, "the model", hint, sizeof(hint), &ignore) != SL_OK)
            p = NULL;
    }
    for (size_t i = 0; i < n && !rc && p; i++) {
        struct sl_file_ref ref;
        ref.blob_id = blob[i];
        ref.size = f[i].size;
        snprintf(ref.sha256, sizeof(ref.sha256), "%s", f[i].sha256);
        rc = sl_reg_copy_sha256(r, p, v, f[i].path, &ref, f[i].sha256, NULL, err);
    }
    free(blob);
    if (rc) {
        sl_hf_files_free(f, n);
        return rc;
    }
    *out = f;
    *count = n;
    return SL_OK;
}

enum sl_err sl_reg_hf_files(struct sl_registry *r, const struct sl_principal *p,
                            const struct sl_version_ref *v, struct sl_hf_file **files, size_t *n,
                            struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    *files = NULL;
    *n = 0;
    if (!db)
        return err->code;
    return version_files(r, db, p, v, files, n, err);
}

enum sl_err sl_reg_hf_info(struct sl_registry *r, const struct sl_principal *p,
                           const struct sl_version_ref *v, struct sl_hf_info *out,
                           struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    char *inspect;
    int64_t first = 0;
    bool found;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    rc = version_files(r, db, p, v, &out->files, &out->nfiles, err);
    if (rc)
        return rc;
    /* a failed read is an error, not a model info without its parameters */
    rc = sl_repo_version_hf_meta(db, v->model_id, v->version_id, &a, &found, &inspect, &first, err);
    if (rc) {
        sl_arena_release(&a);
        sl_hf_info_release(out);
        return rc;
    }
    if (found) {
        json_error_t je;
        json_t *ins = inspect ? json_loads(inspect, 0, &je) : NULL;
        if (ins) {
            json_t *by = json_object_get(ins, "params_by_dtype");
            /* both or neither, as the model info shows them */
            if (json_is_object(by) && json_object_get(ins, "params_total")) {
                out->params_by_dtype = json_incref(by);
                out->params_total = json_incref(json_object_get(ins, "params_total"));
            }
            json_decref(ins);
        }
        out->has_created = true;
        out->created = first;
    }
    sl_arena_release(&a);
    {
        /* the model's downloads, as the Hub reports them: the last 30 days,
         * and all time */
        struct sl_error derr;
        bool marked = false;
        struct sl_error cerr;
        sl_error_clear(&derr);
        (void)sl_reg_downloads(r, v->model_id, 0, &out->downloads, &out->downloads_all, &derr);
        sl_error_clear(&cerr);
        /* a licensee of marked copies sees the commit id of their own copy */
        if (!p || sl_reg_copy_commit(r, p, v, out->sha, &marked, &cerr) != SL_OK)
            snprintf(out->sha, sizeof(out->sha), "%s", v->commit);
    }
    return SL_OK;
}

void sl_hf_info_release(struct sl_hf_info *info)
{
    sl_hf_files_free(info->files, info->nfiles);
    json_decref(info->params_by_dtype);
    json_decref(info->params_total);
    memset(info, 0, sizeof(*info));
}
