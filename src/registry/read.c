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
#include "common/banned.h"

enum sl_err sl_reg_model_id(struct sl_registry *r, const char *org, const char *name,
                            int64_t *org_id, int64_t *model_id, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    int row;

    if (!db)
        return err->code;
    st = sl_db_stmt(db,
                    "SELECT o.id, m.id FROM orgs o LEFT JOIN models m ON m.org_id = o.id AND "
                    "m.name = ? WHERE o.name = ?",
                    err);
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

static bool all_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static const char version_cols[] =
    "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
    "versions v ";

static void fill_version(struct sl_stmt *st, struct sl_version_ref *v)
{
    v->version_id = sl_stmt_col_int(st, 0);
    v->seq = sl_stmt_col_int(st, 1);
    snprintf(v->commit, sizeof(v->commit), "%s", sl_stmt_col_text(st, 2));
    snprintf(v->tier, sizeof(v->tier), "%s", sl_stmt_col_text(st, 3));
    snprintf(v->min_tier, sizeof(v->min_tier), "%s", sl_stmt_col_text(st, 4));
    v->created = sl_stmt_col_int(st, 5);
    v->bytes_total = sl_stmt_col_int(st, 6);
}

enum sl_err sl_reg_last_servable(struct sl_registry *r, const struct sl_principal *p,
                                 const struct sl_version_ref *v, int64_t *seq, char commit[65],
                                 struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_version_ref *cand = NULL;
    struct sl_stmt *st;
    size_t n = 0;
    int row = 0;
    enum sl_err rc = SL_OK;

    *seq = 0;
    commit[0] = '\0';
    if (!db)
        return err->code;
    st = sl_db_stmt(db,
                    "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, "
                    "v.bytes_total FROM versions v WHERE v.model_id = ? AND v.id != ? ORDER BY "
                    "v.seq DESC LIMIT 100",
                    err);
    if (!st)
        return err->code;
    cand = sl_xcalloc(100, sizeof(*cand));
    sl_stmt_int(st, 1, v->model_id);
    sl_stmt_int(st, 2, v->version_id);
    while (n < 100 && (row = sl_stmt_step(st, err)) == 1) {
        fill_version(st, &cand[n]);
        cand[n].org_id = v->org_id;
        cand[n].model_id = v->model_id;
        n++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        rc = err->code;
        goto out;
    }
    /* the statement is finished before the download rule runs its own */
    for (size_t i = 0; i < n; i++) {
        struct sl_error e2;
        char hint[300];
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
    static const char by_ref[] =
        "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
        "refs f JOIN versions v ON v.id = f.version_id WHERE f.model_id = ? AND f.name = ?";
    static const char by_seq[] =
        "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
        "versions v WHERE v.model_id = ? AND v.seq = ?";
    static const char by_prefix[] =
        "SELECT v.id, v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total FROM "
        "versions v WHERE v.model_id = ? AND substr(v.commit_hash, 1, ?) = ? LIMIT 2";
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    size_t len = strlen(rev);
    int row, rows = 0;
    enum sl_err rc;

    (void)version_cols;
    memset(v, 0, sizeof(*v));
    if (strcmp(rev, "HEAD") == 0)
        rev = "main"; /* Hugging Face clients ask for the default branch so */
    rc = sl_reg_model_id(r, org, name, &v->org_id, &v->model_id, err);
    if (rc)
        return rc;
    if (!db)
        return err->code;
    if (len >= 12 && len <= 64 && all_hex(rev)) {
        st = sl_db_stmt(db, by_prefix, err);
        if (!st)
            return err->code;
        sl_stmt_int(st, 1, v->model_id);
        sl_stmt_int(st, 2, (int64_t)len);
        sl_stmt_text(st, 3, rev);
        while ((row = sl_stmt_step(st, err)) == 1) {
            fill_version(st, v);
            rows++;
        }
        sl_stmt_done(st);
        if (row < 0)
            return err->code;
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
            st = sl_db_stmt(db, by_seq, err);
            if (!st)
                return err->code;
            sl_stmt_int(st, 1, v->model_id);
            sl_stmt_int(st, 2, seq);
            row = sl_stmt_step(st, err);
            if (row == 1)
                fill_version(st, v);
            sl_stmt_done(st);
            if (row < 0)
                return err->code;
            if (row == 1)
                return SL_OK;
        }
    }
    st = sl_db_stmt(db, by_ref, err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, v->model_id);
    sl_stmt_text(st, 2, rev);
    row = sl_stmt_step(st, err);
    if (row == 1)
        fill_version(st, v);
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (row == 0)
        return sl_error_set(err, SL_ENOTFOUND, "%s/%s has no revision \"%s\"", org, name, rev);
    return SL_OK;
}

enum sl_err sl_reg_file(struct sl_registry *r, int64_t version_id, const char *path,
                        struct sl_file_ref *f, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    int row;

    if (!db)
        return err->code;
    st = sl_db_stmt(db,
                    "SELECT b.id, b.size, b.sha256 FROM version_files vf JOIN blobs b ON b.id = "
                    "vf.blob_id WHERE vf.version_id = ? AND vf.path = ?",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, version_id);
    sl_stmt_text(st, 2, path);
    row = sl_stmt_step(st, err);
    if (row == 1) {
        size_t n;
        const unsigned char *h = sl_stmt_col_blob(st, 2, &n);
        f->blob_id = sl_stmt_col_int(st, 0);
        f->size = (uint64_t)sl_stmt_col_int(st, 1);
        if (n == 32)
            sl_hex(h, 32, f->sha256);
        else
            f->sha256[0] = '\0';
    }
    sl_stmt_done(st);
    if (row < 0)
        return err->code;
    if (row == 0)
        return sl_error_set(err, SL_ENOTFOUND, "no file \"%s\" in this version", path);
    return SL_OK;
}

enum sl_err sl_reg_runs(struct sl_registry *r, int64_t blob_id, uint64_t start, uint64_t end,
                        struct sl_run **out, size_t *nout, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    struct sl_run *v = NULL;
    size_t n = 0, cap = 0;
    int row;

    *out = NULL;
    *nout = 0;
    if (!db)
        return err->code;
    /* A chunk is at most SL_CDC_MAX bytes, so only chunks that start after
     * start - SL_CDC_MAX can reach `start`: an index range scan. */
    st = sl_db_stmt(db,
                    "SELECT bc.file_offset, c.length, c.pack_offset, c.pack_id, p.name FROM "
                    "blob_chunks bc JOIN chunks c ON c.id = bc.chunk_id JOIN packs p ON p.id = "
                    "c.pack_id WHERE bc.blob_id = ? AND bc.file_offset >= ? AND bc.file_offset < "
                    "? ORDER BY bc.file_offset",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    sl_stmt_int(st, 2, start > SL_CDC_MAX ? (int64_t)(start - SL_CDC_MAX) : 0);
    sl_stmt_int(st, 3, (int64_t)end);
    while ((row = sl_stmt_step(st, err)) == 1) {
        uint64_t fo = (uint64_t)sl_stmt_col_int(st, 0), len = (uint64_t)sl_stmt_col_int(st, 1);
        uint64_t po = (uint64_t)sl_stmt_col_int(st, 2);
        int64_t pid = sl_stmt_col_int(st, 3);
        if (fo + len <= start)
            continue;
        if (n > 0 && v[n - 1].pack_id == pid && v[n - 1].pack_offset + v[n - 1].length == po &&
            v[n - 1].file_offset + v[n - 1].length == fo) {
            v[n - 1].length += len;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        v[n].file_offset = fo;
        v[n].length = len;
        v[n].pack_offset = po;
        v[n].pack_id = pid;
        snprintf(v[n].pack, sizeof(v[n].pack), "%s", sl_stmt_col_text(st, 4));
        n++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        free(v);
        return err->code;
    }
    *out = v;
    *nout = n;
    return SL_OK;
}

enum sl_err sl_reg_chunk_list(struct sl_registry *r, int64_t blob_id, struct sl_chunk_ref **out,
                              size_t *nout, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    struct sl_chunk_ref *v = NULL;
    size_t n = 0, cap = 0;
    int row;

    *out = NULL;
    *nout = 0;
    if (!db)
        return err->code;
    st = sl_db_stmt(db,
                    "SELECT bc.file_offset, c.length, c.hash FROM blob_chunks bc JOIN chunks c ON "
                    "c.id = bc.chunk_id WHERE bc.blob_id = ? ORDER BY bc.idx",
                    err);
    if (!st)
        return err->code;
    sl_stmt_int(st, 1, blob_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        size_t hl = 0;
        const void *h = sl_stmt_col_blob(st, 2, &hl);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        v[n].file_offset = (uint64_t)sl_stmt_col_int(st, 0);
        v[n].length = (uint32_t)sl_stmt_col_int(st, 1);
        memset(v[n].id, 0, sizeof(v[n].id));
        if (h && hl == sizeof(v[n].id))
            memcpy(v[n].id, h, hl);
        n++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        free(v);
        return err->code;
    }
    *out = v;
    *nout = n;
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

/* Parses the stored canonical text of a column into JSON. */
static json_t *col_json(struct sl_stmt *st, int col)
{
    const char *t = sl_stmt_col_text(st, col);
    json_error_t je;

    return t ? json_loads(t, 0, &je) : NULL;
}

json_t *sl_reg_version_json(struct sl_registry *r, const struct sl_version_ref *v, const char *org,
                            const char *name, bool files, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *out, *arr;
    char ts[40];
    int row;

    if (!db)
        return NULL;
    out = json_pack("{s:s++, s:I, s:s, s:s, s:s, s:s, s:I}", "model", org, "/", name, "version",
                    (json_int_t)v->seq, "commit", v->commit, "tier", v->tier, "min_tier",
                    v->min_tier, "created", iso_time(v->created, ts, sizeof(ts)), "bytes_total",
                    (json_int_t)v->bytes_total);
    if (files) {
        st = sl_db_stmt(db,
                        "SELECT vf.path, b.size, b.sha256 FROM version_files vf JOIN blobs b ON "
                        "b.id = vf.blob_id WHERE vf.version_id = ? ORDER BY vf.path",
                        err);
        if (!st) {
            json_decref(out);
            return NULL;
        }
        arr = json_array();
        sl_stmt_int(st, 1, v->version_id);
        while ((row = sl_stmt_step(st, err)) == 1) {
            size_t n;
            const unsigned char *h = sl_stmt_col_blob(st, 2, &n);
            char hex[65] = "";
            if (n == 32)
                sl_hex(h, 32, hex);
            json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "path", sl_stmt_col_text(st, 0),
                                                 "size", (json_int_t)sl_stmt_col_int(st, 1),
                                                 "sha256", hex));
        }
        sl_stmt_done(st);
        json_object_set_new(out, "files", arr);
        if (row < 0) {
            json_decref(out);
            return NULL;
        }
    }
    st = sl_db_stmt(db, "SELECT inspect, decision, license, floor_tier FROM versions WHERE id = ?",
                    err);
    if (!st) {
        json_decref(out);
        return NULL;
    }
    sl_stmt_int(st, 1, v->version_id);
    if (sl_stmt_step(st, err) == 1) {
        json_t *ins = files ? col_json(st, 0) : NULL, *dec = col_json(st, 1);
        if (files)
            json_object_set_new(out, "inspect", ins ? ins : json_null());
        json_object_set_new(out, "decision", dec ? dec : json_null());
        json_object_set_new(out, "license",
                            sl_stmt_col_null(st, 2) ? json_null()
                                                    : json_string(sl_stmt_col_text(st, 2)));
        json_object_set_new(
            out, "floor_tier",
            json_string(sl_stmt_col_null(st, 3) ? v->min_tier : sl_stmt_col_text(st, 3)));
    }
    sl_stmt_done(st);
    return out;
}

json_t *sl_reg_decision_json(struct sl_registry *r, const struct sl_version_ref *v,
                             struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *d = NULL;

    if (!db)
        return NULL;
    st = sl_db_stmt(db, "SELECT decision FROM versions WHERE id = ?", err);
    if (!st)
        return NULL;
    sl_stmt_int(st, 1, v->version_id);
    if (sl_stmt_step(st, err) == 1)
        d = col_json(st, 0);
    sl_stmt_done(st);
    return d;
}

json_t *sl_reg_model_json(struct sl_registry *r, int64_t model_id, const char *org,
                          const char *name, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *out, *refs = json_object(), *versions = json_array();
    const char *tier = NULL;
    char ts[40];
    int64_t recent = 0, all = 0;
    int row;

    if (!db || sl_reg_flush_downloads(r, err) != SL_OK)
        return NULL;
    st = sl_db_stmt(db,
                    "SELECT f.name, v.commit_hash FROM refs f JOIN versions v ON v.id = "
                    "f.version_id WHERE f.model_id = ? ORDER BY f.name",
                    err);
    if (!st)
        goto fail;
    sl_stmt_int(st, 1, model_id);
    while ((row = sl_stmt_step(st, err)) == 1)
        json_object_set_new(refs, sl_stmt_col_text(st, 0), json_string(sl_stmt_col_text(st, 1)));
    sl_stmt_done(st);
    /* each version with its downloads (last 30 days and all time, as the
     * Hub counts them: docs/api.md) */
    st = sl_db_stmt(db,
                    "SELECT v.seq, v.commit_hash, v.tier, v.min_tier, v.created, v.bytes_total, "
                    "(SELECT coalesce(sum(d.n), 0) FROM downloads d WHERE d.version_id = v.id AND "
                    "d.day > ?), (SELECT coalesce(sum(d.n), 0) FROM downloads d WHERE "
                    "d.version_id = v.id) FROM versions v WHERE v.model_id = ? ORDER BY v.seq",
                    err);
    if (!st)
        goto fail;
    sl_stmt_int(st, 1, sl__now() / 86400 - 30);
    sl_stmt_int(st, 2, model_id);
    while ((row = sl_stmt_step(st, err)) == 1) {
        recent += sl_stmt_col_int(st, 6);
        all += sl_stmt_col_int(st, 7);
        json_array_append_new(versions,
                              json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "version",
                                        (json_int_t)sl_stmt_col_int(st, 0), "commit",
                                        sl_stmt_col_text(st, 1), "tier", sl_stmt_col_text(st, 2),
                                        "min_tier", sl_stmt_col_text(st, 3), "created",
                                        iso_time(sl_stmt_col_int(st, 4), ts, sizeof(ts)),
                                        "bytes_total", (json_int_t)sl_stmt_col_int(st, 5),
                                        "downloads", (json_int_t)sl_stmt_col_int(st, 6),
                                        "downloads_all_time", (json_int_t)sl_stmt_col_int(st, 7)));
    }
    sl_stmt_done(st);
    if (row < 0)
        goto fail;
    /* the model's tier is what `main` serves (a newer version may be
     * stricter and off main); without `main`, the newest version's */
    {
        const char *main_commit = json_string_value(json_object_get(refs, "main"));
        size_t i;
        json_t *e;
        json_array_foreach(versions, i, e)
        {
            if (main_commit &&
                strcmp(json_string_value(json_object_get(e, "commit")), main_commit) == 0)
                tier = json_string_value(json_object_get(e, "tier"));
        }
    }
    if (!tier && json_array_size(versions))
        tier = json_string_value(
            json_object_get(json_array_get(versions, json_array_size(versions) - 1), "tier"));
    out = json_pack("{s:s++, s:s?, s:o, s:o, s:I, s:I}", "model", org, "/", name, "tier", tier,
                    "refs", refs, "versions", versions, "downloads", (json_int_t)recent,
                    "downloads_all_time", (json_int_t)all);
    return out;
fail:
    json_decref(refs);
    json_decref(versions);
    return NULL;
}

json_t *sl_reg_models_json(struct sl_registry *r, const struct sl_principal *p,
                           struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *arr;

    (void)p;
    if (!db)
        return NULL;
    st = sl_db_stmt(db,
                    "SELECT o.name, m.name, v.tier, v.seq, v.commit_hash FROM models m JOIN orgs "
                    "o ON o.id = m.org_id JOIN refs f ON f.model_id = m.id AND f.name = 'main' "
                    "JOIN versions v ON v.id = f.version_id ORDER BY o.name, m.name",
                    err);
    if (!st)
        return NULL;
    arr = json_array();
    int srow;
    while ((srow = sl_stmt_step(st, err)) == 1)
        json_array_append_new(arr, json_pack("{s:s++, s:s, s:{s:I, s:s}}", "model",
                                             sl_stmt_col_text(st, 0), "/", sl_stmt_col_text(st, 1),
                                             "tier", sl_stmt_col_text(st, 2), "latest", "version",
                                             (json_int_t)sl_stmt_col_int(st, 3), "commit",
                                             sl_stmt_col_text(st, 4)));
    sl_stmt_done(st);
    if (srow < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}
