/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Hugging Face Hub read API's documents (model info and file trees),
 * shaped the way huggingface_hub and @huggingface/hub parse them, so their
 * clients list and download from sluice. The facts come from
 * src/registry/hf.c; only the wire format lives here.
 */
#include "http/render_hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

/* Git's pointer files for LFS objects are about this long; clients only
 * display it. */
#define POINTER_SIZE 134

static const char *iso(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

json_t *sl_render_hf_info(const struct sl_version_ref *v, const char *org, const char *name,
                          const struct sl_hf_info *info)
{
    json_t *out, *siblings = json_array();
    char id[256], ts[40], created[40], oid[65];
    unsigned char h[32];

    snprintf(id, sizeof(id), "%s/%s", org, name);
    sl_sha256(id, strlen(id), h);
    sl_hex(h, 12, oid);
    for (size_t i = 0; i < info->nfiles; i++) {
        const struct sl_hf_file *f = &info->files[i];
        json_int_t size = (json_int_t)f->size;
        json_array_append_new(siblings,
                              json_pack("{s:s, s:I, s:s, s:{s:s, s:I, s:i}}", "rfilename", f->path,
                                        "size", size, "blobId", f->sha256, "lfs", "sha256",
                                        f->sha256, "size", size, "pointerSize", POINTER_SIZE));
    }
    created[0] = '\0';
    if (info->has_created)
        iso(info->created, created, sizeof(created));
    out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:I, s:I, s:i, s:[], s:o}",
                    "_id", oid, "id", id, "modelId", id, "author", org, "sha", info->sha,
                    "lastModified", iso(v->created, ts, sizeof(ts)), "createdAt",
                    created[0] ? created : ts, "private", 0, "disabled", 0, "gated",
                    strcmp(v->tier, "open") == 0 ? json_false() : json_string("manual"),
                    "downloads", (json_int_t)info->downloads, "downloadsAllTime",
                    (json_int_t)info->downloads_all, "likes", 0, "tags", "siblings", siblings);
    if (info->params_by_dtype && info->params_total)
        json_object_set_new(out, "safetensors",
                            json_pack("{s:O, s:O}", "parameters", info->params_by_dtype, "total",
                                      info->params_total));
    json_object_set_new(out, "sluice",
                        json_pack("{s:s, s:s, s:I}", "tier", v->tier, "min_tier", v->min_tier,
                                  "version", (json_int_t)v->seq));
    return out;
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

json_t *sl_render_hf_tree(const struct sl_hf_file *files, size_t n, const char *dir, bool recursive,
                          struct sl_error *err)
{
    json_t *arr = json_array(), *dirs = json_object();
    size_t dlen = dir ? strlen(dir) : 0, base = dlen ? dlen + 1 : 0;

    for (size_t i = 0; i < n; i++) {
        const char *path = files[i].path;
        const char *hex = files[i].sha256;
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
    json_decref(dirs);
    if (dlen && json_array_size(arr) == 0) {
        json_decref(arr);
        sl_error_set(err, SL_ENOTFOUND, "no folder \"%s\" in this version", dir);
        return NULL;
    }
    return arr;
}
