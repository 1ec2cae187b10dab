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

json_t *sl_reg_hf_info(struct sl_registry *r, const struct sl_version_ref *v, const char *org,
                       const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *info, *siblings = json_array(), *params = NULL;
    char id[256], ts[40], created[40], oid[65];
    unsigned char h[32];
    int row;

    if (!db) {
        json_decref(siblings);
        return NULL;
    }
    snprintf(id, sizeof(id), "%s/%s", org, name);
    sl_sha256(id, strlen(id), h);
    sl_hex(h, 12, oid);
    st = sl_db_stmt(db,
                    "SELECT vf.path, b.size, b.sha256 FROM version_files vf JOIN blobs b ON b.id "
                    "= vf.blob_id WHERE vf.version_id = ? ORDER BY vf.path",
                    err);
    if (!st) {
        json_decref(siblings);
        return NULL;
    }
    sl_stmt_int(st, 1, v->version_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        size_t n;
        const unsigned char *b = sl_stmt_col_blob(st, 2, &n);
        char hex[65] = "";
        json_int_t size = (json_int_t)sl_stmt_col_int(st, 1);
        if (n == 32)
            sl_hex(b, 32, hex);
        json_array_append_new(siblings,
                              json_pack("{s:s, s:I, s:s, s:{s:s, s:I, s:i}}", "rfilename",
                                        sl_stmt_col_text(st, 0), "size", size, "blobId", hex, "lfs",
                                        "sha256", hex, "size", size, "pointerSize", POINTER_SIZE));
    }
    sl_stmt_done(st);
    st = sl_db_stmt(db,
                    "SELECT inspect, (SELECT min(created) FROM versions WHERE model_id = ?) "
                    "FROM versions WHERE id = ?",
                    err);
    created[0] = '\0';
    if (st) {
        sl_stmt_int(st, 1, v->model_id);
        sl_stmt_int(st, 2, v->version_id);
        if (sl_stmt_step(st, err) == 1) {
            const char *t = sl_stmt_col_text(st, 0);
            json_error_t je;
            json_t *ins = t ? json_loads(t, 0, &je) : NULL;
            if (ins) {
                json_t *by = json_object_get(ins, "params_by_dtype");
                if (json_is_object(by))
                    params = json_pack("{s:O, s:O}", "parameters", by, "total",
                                       json_object_get(ins, "params_total"));
                json_decref(ins);
            }
            iso(sl_stmt_col_int(st, 1), created, sizeof(created));
        }
        sl_stmt_done(st);
    }
    {
        /* the model's downloads, as the Hub reports them: the last 30 days,
         * and all time */
        int64_t recent = 0, all = 0;
        struct sl_error derr;
        sl_error_clear(&derr);
        (void)sl_reg_downloads(r, v->model_id, 0, &recent, &all, &derr);
        info = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:I, s:I, s:i, s:[], s:o}", "_id",
            oid, "id", id, "modelId", id, "author", org, "sha", v->commit, "lastModified",
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

json_t *sl_reg_hf_tree(struct sl_registry *r, const struct sl_version_ref *v, const char *dir,
                       bool recursive, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *arr, *dirs = json_object();
    size_t dlen = dir ? strlen(dir) : 0, base = dlen ? dlen + 1 : 0;
    int row;

    if (!db) {
        json_decref(dirs);
        return NULL;
    }
    st = sl_db_stmt(db,
                    "SELECT vf.path, b.size, b.sha256 FROM version_files vf JOIN blobs b ON b.id "
                    "= vf.blob_id WHERE vf.version_id = ? ORDER BY vf.path",
                    err);
    if (!st) {
        json_decref(dirs);
        return NULL;
    }
    arr = json_array();
    sl_stmt_int(st, 1, v->version_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *path = sl_stmt_col_text(st, 0);
        size_t n;
        const unsigned char *b = sl_stmt_col_blob(st, 2, &n);
        char hex[65] = "";
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
        if (n == 32)
            sl_hex(b, 32, hex);
        json_array_append_new(
            arr,
            json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:I, s:i}}", "type", "file", "oid", hex, "size",
                      (json_int_t)sl_stmt_col_int(st, 1), "path", path, "lfs", "oid", hex, "size",
                      (json_int_t)sl_stmt_col_int(st, 1), "pointerSize", POINTER_SIZE));
    }
    sl_stmt_done(st);
    json_decref(dirs);
    if (row < 0) {
        json_decref(arr);
        return NULL;
    }
    if (dlen && json_array_size(arr) == 0) {
        json_decref(arr);
        sl_error_set(err, SL_ENOTFOUND, "no folder \"%s\" in this version", dir);
        return NULL;
    }
    return arr;
}
