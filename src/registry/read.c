/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads: resolving models and revisions, file lookups, the byte runs a
 * download sends, the JSON documents of the native and Hugging Face APIs,
 * and the tier rule for downloads.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "db/repo_chunks.h"
#include "db/repo_read.h"
#include "common/banned.h"

enum sl_err sl_reg_model_id(struct sl_registry *r, const char *org, const char *name,
                            int64_t *org_id, int64_t *model_id, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    return sl_repo_model_ids(db, org, name, org_id, model_id, err);
}

static bool all_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

enum sl_err sl_reg_last_servable(struct sl_registry *r, const struct sl_principal *p,
                                 const struct sl_version_ref *v, int64_t *seq, char commit[65],
                                 struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_version_ref *cand = NULL;
    size_t n = 0;
    enum sl_err rc;

    *seq = 0;
    commit[0] = '\0';
    if (!db)
        return err->code;
    cand = sl_xcalloc(100, sizeof(*cand));
    rc = sl_repo_versions_newest(db, v->model_id, v->version_id, cand, 100, &n, err);
    if (rc)
        goto out;
    /* the statement is finished before the download rule runs its own */
    for (size_t i = 0; i < n; i++) {
        struct sl_error e2;
        char hint[300];
        cand[i].org_id = v->org_id;
        cand[i].model_id = v->model_id;
        sl_error_clear(&e2);
        if (sl_reg_may_download(r, p, &cand[i], "", hint, sizeof(hint), &e2) == SL_OK) {
            *seq = cand[i].seq;
            snprintf(commit, 65, "%s", cand[i].commit);
            break;
        }
    }
out:
    free(cand);
    return rc;
}

enum sl_err sl_reg_resolve(struct sl_registry *r, const char *org, const char *name,
                           const char *rev, struct sl_version_ref *v, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    size_t len = strlen(rev);
    bool found = false;
    enum sl_err rc;

    memset(v, 0, sizeof(*v));
    if (strcmp(rev, "HEAD") == 0)
        rev = "main"; /* Hugging Face clients ask for the default branch so */
    rc = sl_reg_model_id(r, org, name, &v->org_id, &v->model_id, err);
    if (rc)
        return rc;
    if (!db)
        return err->code;
    if (len >= 12 && len <= 64 && all_hex(rev)) {
        int rows = 0;
        rc = sl_repo_version_by_prefix(db, v->model_id, rev, v, &rows, err);
        if (rc)
            return rc;
        if (rows > 1)
            return sl_error_set(err, SL_EINPUT, "revision %s matches several commits of %s/%s", rev,
                                org, name);
        if (rows == 1)
            return SL_OK;
    }
    if ((rev[0] == 'v' && len > 1 && len < 12) ||
        (len > 0 && len < 12 && rev[0] >= '0' && rev[0] <= '9')) {
        const char *d = rev[0] == 'v' ? rev + 1 : rev;
        char *end;
        long long seq = strtoll(d, &end, 10);
        if (*end == '\0' && seq > 0) {
            rc = sl_repo_version_by_seq(db, v->model_id, seq, v, &found, err);
            if (rc || found)
                return rc;
        }
    }
    rc = sl_repo_version_by_ref(db, v->model_id, rev, v, &found, err);
    if (rc)
        return rc;
    if (!found)
        return sl_error_set(err, SL_ENOTFOUND, "%s/%s has no revision \"%s\"", org, name, rev);
    return SL_OK;
}

enum sl_err sl_reg_file(struct sl_registry *r, int64_t version_id, const char *path,
                        struct sl_file_ref *f, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);

    if (!db)
        return err->code;
    return sl_repo_file_get(db, version_id, path, f, err);
}

struct runs_ctx {
    uint64_t start;
    struct sl_run *v;
    size_t n, cap;
};

/* Adds a chunk to the runs, merged with the one before when it continues
 * it in the same pack. */
static int add_run(void *ctx, const struct sl_chunk_place_row *c)
{
    struct runs_ctx *w = ctx;
    struct sl_run *v = w->v;
    size_t n = w->n;

    if (c->file_offset + c->length <= w->start)
        return 0;
    if (n > 0 && v[n - 1].pack_id == c->pack_id &&
        v[n - 1].pack_offset + v[n - 1].length == c->pack_offset &&
        v[n - 1].file_offset + v[n - 1].length == c->file_offset) {
        v[n - 1].length += c->length;
        return 0;
    }
    if (n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->v = v = sl_xrealloc(v, w->cap * sizeof(*v));
    }
    v[n].file_offset = c->file_offset;
    v[n].length = c->length;
    v[n].pack_offset = c->pack_offset;
    v[n].pack_id = c->pack_id;
    snprintf(v[n].pack, sizeof(v[n].pack), "%s", c->pack ? c->pack : "");
    w->n++;
    return 0;
}

enum sl_err sl_reg_runs(struct sl_registry *r, int64_t blob_id, uint64_t start, uint64_t end,
                        struct sl_run **out, size_t *nout, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct runs_ctx w = {start, NULL, 0, 0};
    enum sl_err rc;

    *out = NULL;
    *nout = 0;
    if (!db)
        return err->code;
    /* A chunk is at most SL_CDC_MAX bytes, so only chunks that start after
     * start - SL_CDC_MAX can reach `start`: an index range scan. */
    rc = sl_repo_blob_chunk_span(db, blob_id, start > SL_CDC_MAX ? start - SL_CDC_MAX : 0, end,
                                 add_run, &w, err);
    if (rc) {
        free(w.v);
        return rc;
    }
    *out = w.v;
    *nout = w.n;
    return SL_OK;
}

struct chunks_ctx {
    struct sl_chunk_ref *v;
    size_t n, cap;
};

static int add_chunk(void *ctx, const struct sl_chunk_id_row *c)
{
    struct chunks_ctx *w = ctx;

    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->v = sl_xrealloc(w->v, w->cap * sizeof(*w->v));
    }
    w->v[w->n].file_offset = c->file_offset;
    w->v[w->n].length = c->length;
    memcpy(w->v[w->n].id, c->hash, sizeof(w->v[w->n].id));
    w->n++;
    return 0;
}

enum sl_err sl_reg_chunk_list(struct sl_registry *r, int64_t blob_id, struct sl_chunk_ref **out,
                              size_t *nout, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct chunks_ctx w = {NULL, 0, 0};
    enum sl_err rc;

    *out = NULL;
    *nout = 0;
    if (!db)
        return err->code;
    rc = sl_repo_blob_chunk_ids(db, blob_id, add_chunk, &w, err);
    if (rc) {
        free(w.v);
        return rc;
    }
    *out = w.v;
    *nout = w.n;
    return SL_OK;
}

enum sl_err sl_reg_read_run(struct sl_registry *r, const struct sl_run *run, uint64_t offset,
                            void *buf, size_t n, struct sl_error *err)
{
    return sl_store_read(r->store, run->pack_id, run->pack, buf, n, run->pack_offset + offset, err);
}

static const char *iso_time(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

/* Parses stored canonical text into JSON (NULL for none). */
static json_t *text_json(const char *t)
{
    json_error_t je;

    return t ? json_loads(t, 0, &je) : NULL;
}

static int file_json(void *ctx, const struct sl_version_file_row *row)
{
    json_array_append_new(ctx, json_pack("{s:s, s:I, s:s}", "path", row->path, "size",
                                         (json_int_t)row->f.size, "sha256", row->f.sha256));
    return 0;
}

json_t *sl_reg_version_json(struct sl_registry *r, const struct sl_version_ref *v, const char *org,
                            const char *name, bool files, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_version_docs_row docs;
    json_t *out, *arr;
    char ts[40];
    bool found = false;

    if (!db)
        return NULL;
    out = json_pack("{s:s++, s:I, s:s, s:s, s:s, s:s, s:I}", "model", org, "/", name, "version",
                    (json_int_t)v->seq, "commit", v->commit, "tier", v->tier, "min_tier",
                    v->min_tier, "created", iso_time(v->created, ts, sizeof(ts)), "bytes_total",
                    (json_int_t)v->bytes_total);
    if (files) {
        arr = json_array();
        json_object_set_new(out, "files", arr);
        if (sl_repo_version_files(db, v->version_id, file_json, arr, err) != SL_OK) {
            json_decref(out);
            return NULL;
        }
    }
    if (sl_repo_version_docs(db, &a, v->version_id, &docs, &found, err) != SL_OK) {
        sl_arena_release(&a);
        json_decref(out);
        return NULL;
    }
    if (found) {
        json_t *ins = files ? text_json(docs.inspect) : NULL, *dec = text_json(docs.decision);
        if (files)
            json_object_set_new(out, "inspect", ins ? ins : json_null());
        json_object_set_new(out, "decision", dec ? dec : json_null());
        json_object_set_new(out, "license", docs.license ? json_string(docs.license) : json_null());
        json_object_set_new(out, "floor_tier",
                            json_string(docs.floor_tier[0] ? docs.floor_tier : v->min_tier));
    }
    sl_arena_release(&a);
    return out;
}

json_t *sl_reg_decision_json(struct sl_registry *r, const struct sl_version_ref *v,
                             struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    char *text = NULL;
    json_t *d = NULL;

    if (!db)
        return NULL;
    if (sl_repo_version_decision(db, &a, v->version_id, &text, err) == SL_OK)
        d = text_json(text);
    sl_arena_release(&a);
    return d;
}

static int ref_json(void *ctx, const struct sl_ref_row *row)
{
    json_object_set_new(ctx, row->name, json_string(row->commit));
    return 0;
}

struct model_versions_ctx {
    json_t *versions;
    int64_t recent, all;
};

static int model_version_json(void *ctx, const struct sl_version_downloads_row *row)
{
    struct model_versions_ctx *w = ctx;
    char ts[40];

    w->recent += row->downloads;
    w->all += row->downloads_all_time;
    json_array_append_new(
        w->versions,
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "version", (json_int_t)row->seq,
                  "commit", row->commit, "tier", row->tier, "min_tier", row->min_tier, "created",
                  iso_time(row->created, ts, sizeof(ts)), "bytes_total",
                  (json_int_t)row->bytes_total, "downloads", (json_int_t)row->downloads,
                  "downloads_all_time", (json_int_t)row->downloads_all_time));
    return 0;
}

json_t *sl_reg_model_json(struct sl_registry *r, int64_t model_id, const char *org,
                          const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    json_t *out, *refs = json_object();
    struct model_versions_ctx w = {json_array(), 0, 0};
    const char *tier = NULL;

    if (!db || sl_reg_flush_downloads(r, err) != SL_OK)
        goto fail;
    if (sl_repo_model_refs(db, model_id, ref_json, refs, err) != SL_OK)
        goto fail;
    /* each version with its downloads (last 30 days and all time, as the
     * Hub counts them: docs/api.md) */
    if (sl_repo_model_versions(db, model_id, sl__now() / 86400 - 30, model_version_json, &w, err) !=
        SL_OK)
        goto fail;
    /* the model's tier is what `main` serves (a newer version may be
     * stricter and off main); without `main`, the newest version's */
    {
        const char *main_commit = json_string_value(json_object_get(refs, "main"));
        size_t i;
        json_t *e;
        json_array_foreach(w.versions, i, e)
        {
            if (main_commit &&
                strcmp(json_string_value(json_object_get(e, "commit")), main_commit) == 0)
                tier = json_string_value(json_object_get(e, "tier"));
        }
    }
    if (!tier && json_array_size(w.versions))
        tier = json_string_value(
            json_object_get(json_array_get(w.versions, json_array_size(w.versions) - 1), "tier"));
    out = json_pack("{s:s++, s:s?, s:o, s:o, s:I, s:I}", "model", org, "/", name, "tier", tier,
                    "refs", refs, "versions", w.versions, "downloads", (json_int_t)w.recent,
                    "downloads_all_time", (json_int_t)w.all);
    return out;
fail:
    json_decref(refs);
    json_decref(w.versions);
    return NULL;
}

static int model_main_json(void *ctx, const struct sl_model_main_row *row)
{
    json_array_append_new(ctx, json_pack("{s:s++, s:s, s:{s:I, s:s}}", "model", row->org, "/",
                                         row->name, "tier", row->tier, "latest", "version",
                                         (json_int_t)row->seq, "commit", row->commit));
    return 0;
}

json_t *sl_reg_models_json(struct sl_registry *r, const struct sl_principal *p,
                           struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    json_t *arr;

    (void)p;
    if (!db)
        return NULL;
    arr = json_array();
    if (sl_repo_models_main(db, model_main_json, arr, err) != SL_OK) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}
