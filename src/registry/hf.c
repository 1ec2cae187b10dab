/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Hugging Face Hub read API's documents (model info and file trees),
 * shaped the way huggingface_hub and @huggingface/hub parse them, so their
 * clients list and download from sluice.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "db/repo_versions.h"
#include "common/banned.h"

static const char *iso(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

/* Git's pointer files for LFS objects are about this long; clients only
 * display it. */
#define POINTER_SIZE 134

struct hf_file {
    char *path;
    uint64_t size;
    char hex[65]; /* the SHA-256 of the bytes the caller receives */
};

static void files_free(struct hf_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].path);
    free(f);
}

/* The rows of a version's files, collected. */
struct file_list {
    struct hf_file *f;
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
    l->blob[l->n] = row->blob_id;
    l->f[l->n].size = (uint64_t)row->size;
    l->f[l->n].hex[0] = '\0';
    if (row->has_sha256)
        sl_hex(row->sha256, 32, l->f[l->n].hex);
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
                                 struct hf_file **out, size_t *count, struct sl_error *err)
{
    struct file_list l = {NULL, NULL, 0, 0};
    struct hf_file *f;
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
        snprintf(ref.sha256, sizeof(ref.sha256), "%s", f[i].hex);
        rc = sl_reg_copy_sha256(r, p, v, f[i].path, &ref, f[i].hex, NULL, err);
    }
    free(blob);
    if (rc) {
        files_free(f, n);
        return rc;
    }
    *out = f;
    *count = n;
    return SL_OK;
}

json_t *sl_reg_hf_info(struct sl_registry *r, const struct sl_principal *p,
                       const struct sl_version_ref *v, const char *org, const char *name,
                       struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    json_t *info, *siblings, *params = NULL;
    char id[256], ts[40], created[40], oid[65], *inspect;
    unsigned char h[32];
    struct hf_file *files = NULL;
    size_t nfiles = 0;
    int64_t first = 0;
    bool found;

    if (!db || version_files(r, db, p, v, &files, &nfiles, err) != SL_OK)
        return NULL;
    snprintf(id, sizeof(id), "%s/%s", org, name);
    sl_sha256(id, strlen(id), h);
    sl_hex(h, 12, oid);
    siblings = json_array();
    for (size_t i = 0; i < nfiles; i++) {
        json_int_t size = (json_int_t)files[i].size;
        json_array_append_new(siblings, json_pack("{s:s, s:I, s:s, s:{s:s, s:I, s:i}}", "rfilename",
                                                  files[i].path, "size", size, "blobId",
                                                  files[i].hex, "lfs", "sha256", files[i].hex,
                                                  "size", size, "pointerSize", POINTER_SIZE));
    }
    files_free(files, nfiles);
    created[0] = '\0';
    /* a failed read is an error, not a model info without its parameters */
    if (sl_repo_version_hf_meta(db, v->model_id, v->version_id, &a, &found, &inspect, &first,
                                err) != SL_OK) {
        sl_arena_release(&a);
        json_decref(siblings);
        return NULL;
    }
    if (found) {
        json_error_t je;
        json_t *ins = inspect ? json_loads(inspect, 0, &je) : NULL;
        if (ins) {
            json_t *by = json_object_get(ins, "params_by_dtype");
            if (json_is_object(by))
                params = json_pack("{s:O, s:O}", "parameters", by, "total",
                                   json_object_get(ins, "params_total"));
            json_decref(ins);
        }
        iso(first, created, sizeof(created));
    }
    sl_arena_release(&a);
    {
        /* the model's downloads, as the Hub reports them: the last 30 days,
         * and all time */
        int64_t recent = 0, all = 0;
        struct sl_error derr;
        sl_error_clear(&derr);
        (void)sl_reg_downloads(r, v->model_id, 0, &recent, &all, &derr);
        char sha[65];
        bool marked = false;
        struct sl_error cerr;
        sl_error_clear(&cerr);
        /* a licensee of marked copies sees the commit id of their own copy */
        if (!p || sl_reg_copy_commit(r, p, v, sha, &marked, &cerr) != SL_OK)
            snprintf(sha, sizeof(sha), "%s", v->commit);
        info = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:I, s:I, s:i, s:[], s:o}", "_id",
            oid, "id", id, "modelId", id, "author", org, "sha", sha, "lastModified",
            iso(v->created, ts, sizeof(ts)), "createdAt", created[0] ? created : ts, "private", 0,
            "disabled", 0, "gated",
            strcmp(v->tier, "open") == 0 ? json_false() : json_string("manual"), "downloads",
            (json_int_t)recent, "downloadsAllTime", (json_int_t)all, "likes", 0, "tags", "siblings",
            siblings);
    }
    if (params)
        json_object_set_new(info, "safetensors", params);
    json_object_set_new(info, "sluice",
                        json_pack("{s:s, s:s, s:I}", "tier", v->tier, "min_tier", v->min_tier,
                                  "version", (json_int_t)v->seq));
    return info;
}

/* Adds the directory entries of `path`'s parent folders below `base`
 * (recursive listings), each once. */
static void add_dirs(json_t *arr, json_t *dirs, const char *path, size_t base)
{
    for (const char *p = strchr(path + base, '/'); p; p = strchr(p + 1, '/')) {
        char *sub = sl_xstrndup(path, (size_t)(p - path));
        if (!json_object_get(dirs, sub)) {
            json_object_set_new(dirs, sub, json_true());
            json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:s}", "type", "directory", "oid",
                                                 "", "size", 0, "path", sub));
        }
        free(sub);
    }
}

json_t *sl_reg_hf_tree(struct sl_registry *r, const struct sl_principal *p,
                       const struct sl_version_ref *v, const char *dir, bool recursive,
                       struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    json_t *arr, *dirs;
    size_t dlen = dir ? strlen(dir) : 0, base = dlen ? dlen + 1 : 0, nfiles = 0;
    struct hf_file *files = NULL;

    if (!db || version_files(r, db, p, v, &files, &nfiles, err) != SL_OK)
        return NULL;
    arr = json_array();
    dirs = json_object();
    for (size_t i = 0; i < nfiles; i++) {
        const char *path = files[i].path;
        const char *hex = files[i].hex;
        json_int_t size = (json_int_t)files[i].size;
        if (dlen && (strncmp(path, dir, dlen) != 0 || path[dlen] != '/'))
            continue;
        if (strchr(path + base, '/')) {
            if (recursive) {
                add_dirs(arr, dirs, path, base);
            } else {
                /* a subfolder: listed once, not entered */
                char *sub = sl_xstrndup(path, (size_t)(strchr(path + base, '/') - path));
                if (!json_object_get(dirs, sub)) {
                    json_object_set_new(dirs, sub, json_true());
                    json_array_append_new(arr,
                                          json_pack("{s:s, s:s, s:i, s:s}", "type", "directory",
                                                    "oid", "", "size", 0, "path", sub));
                }
                free(sub);
                continue;
            }
        }
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:I, s:i}}", "type", "file",
                                        "oid", hex, "size", size, "path", path, "lfs", "oid", hex,
                                        "size", size, "pointerSize", POINTER_SIZE));
    }
    files_free(files, nfiles);
    json_decref(dirs);
    if (dlen && json_array_size(arr) == 0) {
        json_decref(arr);
        sl_error_set(err, SL_ENOTFOUND, "no folder \"%s\" in this version", dir);
        return NULL;
    }
    return arr;
}
