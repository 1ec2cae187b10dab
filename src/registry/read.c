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

#include "common/util.h"
#include "db/repo_chunks.h"
#include "db/repo_read.h"
#include "db/repo_versions.h"
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
    rc = sl_repo_blob_chunk_hashes(db, blob_id, add_chunk, &w, err);
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

/* Makes room for element n of an arena array of `size`-byte elements. */
static void *arena_grow(struct sl_arena *a, void *v, size_t n, size_t *cap, size_t size)
{
    void *w;

    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 16;
    w = sl_arena_alloc(a, *cap * size);
    if (n)
        memcpy(w, v, n * size);
    return w;
}

struct doc_ctx {
    struct sl_arena *a;
    void *doc;
    size_t cap, cap2;
};

static int add_file(void *ctx, const struct sl_version_file_row *row)
{
    struct doc_ctx *w = ctx;
    struct sl_reg_version_doc *d = w->doc;
    struct sl_reg_version_file *f;

    d->files = arena_grow(w->a, d->files, d->nfiles, &w->cap, sizeof(*f));
    f = &d->files[d->nfiles++];
    f->path = sl_arena_strdup(w->a, row->path);
    f->size = row->f.size;
    memcpy(f->sha256, row->f.sha256, sizeof(f->sha256));
    return 0;
}

enum sl_err sl_reg_version_doc(struct sl_registry *r, const struct sl_version_ref *v, bool files,
                               struct sl_arena *a, struct sl_reg_version_doc *out,
                               struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_version_docs_row docs;
    struct doc_ctx w = {a, out, 0, 0};
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    out->with_files = files;
    if (files) {
        rc = sl_repo_version_files(db, v->version_id, add_file, &w, err);
        if (rc)
            return rc;
    }
    rc = sl_repo_version_docs(db, a, v->version_id, &docs, &out->stored, err);
    if (rc)
        return rc;
    if (out->stored) {
        out->inspect = files ? docs.inspect : NULL;
        out->decision = docs.decision;
        out->license = docs.license;
        snprintf(out->floor_tier, sizeof(out->floor_tier), "%s",
                 docs.floor_tier[0] ? docs.floor_tier : v->min_tier);
    }
    return SL_OK;
}

json_t *sl_reg_decision_json(struct sl_registry *r, const struct sl_version_ref *v,
                             struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    json_error_t je;
    char *text = NULL;
    json_t *d = NULL;
    bool found;

    if (!db)
        return NULL;
    if (sl_repo_version_decision_get(db, v->version_id, &a, &found, &text, err) == SL_OK && text)
        d = json_loads(text, 0, &je);
    sl_arena_release(&a);
    return d;
}

static int add_ref(void *ctx, const struct sl_ref_row *row)
{
    struct doc_ctx *w = ctx;
    struct sl_reg_model_doc *d = w->doc;
    struct sl_reg_model_ref *f;

    d->refs = arena_grow(w->a, d->refs, d->nrefs, &w->cap, sizeof(*f));
    f = &d->refs[d->nrefs++];
    f->name = sl_arena_strdup(w->a, row->name);
    memcpy(f->commit, row->commit, sizeof(f->commit));
    return 0;
}

static int add_model_version(void *ctx, const struct sl_version_downloads_row *row)
{
    struct doc_ctx *w = ctx;
    struct sl_reg_model_doc *d = w->doc;
    struct sl_reg_model_version *v;

    d->versions = arena_grow(w->a, d->versions, d->nversions, &w->cap2, sizeof(*v));
    v = &d->versions[d->nversions++];
    v->seq = row->seq;
    memcpy(v->commit, row->commit, sizeof(v->commit));
    memcpy(v->tier, row->tier, sizeof(v->tier));
    memcpy(v->min_tier, row->min_tier, sizeof(v->min_tier));
    v->created = row->created;
    v->bytes_total = row->bytes_total;
    v->downloads = row->downloads;
    v->downloads_all_time = row->downloads_all_time;
    d->downloads += row->downloads;
    d->downloads_all_time += row->downloads_all_time;
    return 0;
}

enum sl_err sl_reg_model_doc(struct sl_registry *r, int64_t model_id, struct sl_arena *a,
                             struct sl_reg_model_doc *out, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct doc_ctx w = {a, out, 0, 0};
    const char *main_commit = NULL;
    enum sl_err rc;

    memset(out, 0, sizeof(*out));
    if (!db)
        return err->code;
    rc = sl_reg_flush_downloads(r, err);
    if (!rc)
        rc = sl_repo_model_refs(db, model_id, add_ref, &w, err);
    /* each version with its downloads (last 30 days and all time, as the
     * Hub counts them: docs/api.md) */
    if (!rc)
        rc = sl_repo_model_versions(db, model_id, sl__now() / 86400 - 30, add_model_version, &w,
                                    err);
    if (rc) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    /* the model's tier is what `main` serves (a newer version may be
     * stricter and off main); without `main`, the newest version's */
    for (size_t i = 0; i < out->nrefs; i++)
        if (strcmp(out->refs[i].name, "main") == 0)
            main_commit = out->refs[i].commit;
    for (size_t i = 0; i < out->nversions; i++)
        if (main_commit && strcmp(out->versions[i].commit, main_commit) == 0)
            out->tier = out->versions[i].tier;
    if (!out->tier && out->nversions)
        out->tier = out->versions[out->nversions - 1].tier;
    return SL_OK;
}

struct models_ctx {
    struct sl_arena *a;
    struct sl_reg_model_summary *v;
    size_t n, cap;
};

static int add_model(void *ctx, const struct sl_model_main_row *row)
{
    struct models_ctx *w = ctx;
    struct sl_reg_model_summary *m;

    w->v = arena_grow(w->a, w->v, w->n, &w->cap, sizeof(*m));
    m = &w->v[w->n++];
    m->org = sl_arena_strdup(w->a, row->org);
    m->name = sl_arena_strdup(w->a, row->name);
    memcpy(m->tier, row->tier, sizeof(m->tier));
    m->seq = row->seq;
    memcpy(m->commit, row->commit, sizeof(m->commit));
    return 0;
}

enum sl_err sl_reg_models(struct sl_registry *r, const struct sl_principal *p, struct sl_arena *a,
                          struct sl_reg_model_summary **out, size_t *n, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct models_ctx w = {a, NULL, 0, 0};
    enum sl_err rc;

    (void)p;
    *out = NULL;
    *n = 0;
    if (!db)
        return err->code;
    rc = sl_repo_models_main(db, add_model, &w, err);
    if (rc)
        return rc;
    *out = w.v;
    *n = w.n;
    return SL_OK;
}
