/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Version commits. The body names files by path, size, SHA-256 and chunk
 * list. Every chunk must already be stored for this org; every new file is
 * re-read from the packs and re-hashed; the weight headers are inspected and
 * the model classified on the files and the declared facts. The policy
 * decides: a tier below the minimum, or below the hold of a blocking
 * obligation nobody has satisfied yet, is refused with the rule and its
 * citation; without a requested tier the version takes its floor (so an
 * unmet blocking obligation keeps it withheld until satisfied). A body
 * without facts inherits the newest version's, and `main` never moves to a
 * stricter tier unless forced, so a push cannot take a model offline by
 * accident. One transaction creates the version, its files, its log entry
 * and moves `main`; a crash at any point leaves either no version or the
 * whole version.
 */
#include "registry/registry_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jsonout.h"
#include "common/strmap.h"
#include "common/util.h"
#include "compute/compute.h"
#include "db/repo_versions.h"
#include "formats/formats.h"
#include "common/banned.h"

#define MAX_FILES        100000
#define MAX_CHUNKS_TOTAL 20000000

struct cfile {
    const char *path;
    uint64_t size;
    unsigned char sha[32];
    char sha_hex[65];
    const unsigned char (*ids)[32]; /* chunk ids, or NULL: the file must be stored already */
    unsigned char (*ids_own)[32];   /* `ids` when converted from the body's hex */
    int64_t blob_id;                /* existing blob, or 0 */
    bool visible;                   /* the blob exists and this org uploaded all its chunks */
    int64_t *chunk_ids;             /* for a new blob */
    uint32_t *chunk_len;
    size_t nchunks;
};

static int cmp_cfile(const void *a, const void *b)
{
    return strcmp(((const struct cfile *)a)->path, ((const struct cfile *)b)->path);
}

static enum sl_err bad(struct sl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum sl_err bad(struct sl_error *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_error_set(err, SL_EINPUT, "%s", msg);
}

static enum sl_err parse_files(json_t *body, struct cfile **out, size_t *nout, struct sl_error *err)
{
    json_t *files = json_object_get(body, "files"), *f;
    struct sl_strmap seen = SL_STRMAP_INIT;
    struct cfile *v;
    size_t i, total_chunks = 0;
    enum sl_err rc = SL_OK;

    if (!json_is_array(files))
        return bad(err, "\"files\" must be an array");
    if (json_array_size(files) > MAX_FILES)
        return bad(err, "more than %d files", MAX_FILES);
    if (json_array_size(files) == 0)
        return bad(err, "a version needs at least one file");
    v = sl_xcalloc(json_array_size(files) + 1, sizeof(*v));
    json_array_foreach(files, i, f)
    {
        json_t *p = json_object_get(f, "path"), *s = json_object_get(f, "size");
        json_t *h = json_object_get(f, "sha256"), *c = json_object_get(f, "chunks");
        const char *why;
        if (!json_is_object(f) || !json_is_string(p) || !json_is_integer(s) || !json_is_string(h) ||
            (c && !json_is_array(c))) {
            rc = bad(err,
                     "files[%zu] needs \"path\", \"size\", \"sha256\" (and \"chunks\", or "
                     "the file stored before through .../files/SHA256)",
                     i);
            break;
        }
        if (!sl_path_ok(json_string_value(p), json_string_length(p), &why) ||
            !sl_path_portable(json_string_value(p), json_string_length(p), &why)) {
            rc = bad(err, "files[%zu]: path \"%.200s\" %s", i, json_string_value(p), why);
            break;
        }
        if (json_integer_value(s) < 0) {
            rc = bad(err, "files[%zu]: size must not be negative", i);
            break;
        }
        if (!sl_unhex(json_string_value(h), json_string_length(h), v[i].sha, 32)) {
            rc = bad(err, "files[%zu]: sha256 must be 64 hex digits", i);
            break;
        }
        v[i].path = json_string_value(p);
        v[i].size = (uint64_t)json_integer_value(s);
        sl_hex(v[i].sha, 32, v[i].sha_hex);
        if (c) {
            size_t k;
            json_t *e;
            total_chunks += json_array_size(c);
            if (total_chunks > MAX_CHUNKS_TOTAL) {
                rc = bad(err, "more than %d chunks in one commit body", MAX_CHUNKS_TOTAL);
                break;
            }
            v[i].nchunks = json_array_size(c);
            v[i].ids_own = sl_xcalloc(v[i].nchunks + 1, 32);
            v[i].ids = (const unsigned char(*)[32])v[i].ids_own;
            json_array_foreach(c, k, e)
            {
                if (!json_is_string(e) ||
                    !sl_unhex(json_string_value(e), json_string_length(e), v[i].ids_own[k], 32)) {
                    rc = bad(err, "files[%zu]: chunk %zu is not 64 hex digits", i, k);
                    break;
                }
            }
            if (rc)
                break;
        }
        if (!sl_strmap_insert(&seen, v[i].path, strlen(v[i].path), (uint32_t)i, NULL)) {
            rc = bad(err, "files[%zu]: path \"%s\" is listed twice", i, v[i].path);
            break;
        }
    }
    sl_strmap_release(&seen);
    if (rc) {
        for (size_t k = 0; k < json_array_size(files); k++)
            free(v[k].ids_own);
        free(v);
        return rc;
    }
    qsort(v, json_array_size(files), sizeof(*v), cmp_cfile);
    /* Sorted, a file "a" that is also a folder ("a/b") sits right before
     * "a/..." entries or a few places earlier ("a.txt" sorts between). */
    for (size_t k = 0; k < json_array_size(files); k++) {
        size_t plen = strlen(v[k].path);
        for (size_t j = k + 1; j < json_array_size(files); j++) {
            if (strncmp(v[j].path, v[k].path, plen) != 0)
                break;
            if (v[j].path[plen] == '/') {
                rc = bad(err, "\"%s\" is both a file and a folder", v[k].path);
                for (size_t x = 0; x < json_array_size(files); x++)
                    free(v[x].ids_own);
                free(v);
                return rc;
            }
        }
    }
    *out = v;
    *nout = json_array_size(files);
    return SL_OK;
}

/* Looks the file up by hash: `f->blob_id` is set when it is stored, and
 * `f->visible` when this org uploaded every chunk of it. What a caller
 * learns of a stored file depends only on `visible`: a file another org
 * uploaded answers exactly as a file nobody has (docs/storage.md), and the
 * ownership query runs either way so the time taken says nothing either. */
static enum sl_err find_blob(struct sl_db *db, int64_t org_id, struct cfile *f,
                             struct sl_error *err)
{
    struct sl_blob_row b;
    int64_t foreign = 0, total = 0;
    bool found, row;
    enum sl_err rc;

    f->blob_id = 0;
    f->visible = false;
    rc = sl_repo_blob_find(db, f->sha, &found, &b, err);
    if (rc)
        return rc;
    if (!found)
        b.size = -1;
    f->blob_id = b.id;
    rc = sl_repo_blob_foreign_chunks(db, f->blob_id ? f->blob_id : -1, org_id, &row, &foreign,
                                     &total, err);
    if (rc)
        return rc;
    if (row) {
        /* an empty file has no chunks: it is nobody's secret */
        found = total > 0 || b.size == 0;
        f->visible = f->blob_id != 0 && foreign == 0 && found;
    }
    if (f->visible && (uint64_t)b.size != f->size)
        rc = bad(err, "%s: declared size %llu differs from the stored file with the same SHA-256",
                 f->path, (unsigned long long)f->size);
    return rc;
}

/* A file named without chunks: it must be stored, and this org must own
 * every chunk of it (it uploaded them: proof it has the bytes). */
static enum sl_err check_stored(struct sl_db *db, int64_t org_id, struct cfile *f,
                                struct sl_error *err)
{
    enum sl_err rc = find_blob(db, org_id, f, err);

    if (rc)
        return rc;
    if (!f->visible)
        return sl_error_set(err, SL_EINPUT,
                            "%s: this org has stored no file with SHA-256 %s; register it (POST "
                            ".../files/%s) or list its chunks",
                            f->path, f->sha_hex, f->sha_hex);
    return SL_OK;
}

/* Compares a stored file's chunk list with the declared one. */
struct same_chunks {
    const struct cfile *f;
    size_t k;
    bool differ;
};

static int same_chunk(void *ctx, int64_t chunk_id)
{
    struct same_chunks *c = ctx;

    if (c->k >= c->f->nchunks || chunk_id != c->f->chunk_ids[c->k]) {
        c->differ = true;
        return 1;
    }
    c->k++;
    return 0;
}

/* Resolves and checks every chunk a file lists (all stored for this org,
 * lengths adding up to the size); when a file with the same hash is stored,
 * the list must be its list. */
static enum sl_err resolve_file(struct sl_db *db, int64_t org_id, struct cfile *f,
                                struct sl_error *err)
{
    uint64_t sum = 0;
    char hex[65];
    enum sl_err rc = find_blob(db, org_id, f, err);

    if (rc)
        return rc;
    f->chunk_ids = sl_xcalloc(f->nchunks + 1, sizeof(int64_t));
    f->chunk_len = sl_xcalloc(f->nchunks + 1, sizeof(uint32_t));
    for (size_t i = 0; i < f->nchunks; i++) {
        struct sl_chunk_owned_row c;
        bool owned;
        rc = sl_repo_chunk_owned(db, org_id, f->ids[i], &owned, &c, err);
        if (rc)
            return rc;
        if (owned) {
            f->chunk_ids[i] = c.id;
            f->chunk_len[i] = c.length;
            sum += f->chunk_len[i];
        }
        if (f->chunk_ids[i] == 0) {
            sl_hex(f->ids[i], 32, hex);
            return sl_error_set(err, SL_EINPUT,
                                "%s: chunk %zu (%s) was never uploaded for this org; upload it "
                                "before committing",
                                f->path, i, hex);
        }
    }
    if (sum != f->size)
        return bad(err, "%s: chunk lengths add up to %llu bytes, not the declared %llu", f->path,
                   (unsigned long long)sum, (unsigned long long)f->size);
    if (f->visible) {
        /* A file this org stored with this SHA-256: the declared chunks must
         * be its. One stored by another org is not compared (that would
         * tell it exists): the caller's chunks are verified like a new
         * file's instead, and the stored bytes, equal by hash, are used. */
        struct same_chunks c = {f, 0, false};
        rc = sl_repo_blob_chunk_ids(db, f->blob_id, same_chunk, &c, err);
        if (rc)
            return rc;
        if (c.differ || c.k != f->nchunks)
            return bad(err,
                       "%s: the chunk list does not match the stored file with this "
                       "SHA-256",
                       f->path);
    }
    return SL_OK;
}

/* Checks a new file's SHA-256: `h` (taken; NULL for a fresh one) is the
 * digest of its first `from` chunks, which the server computed itself as
 * they arrived (filehash.c); the rest is re-read from the packs, and
 * *reread (may be NULL) counts those bytes. */
static enum sl_err verify_file_from(struct sl_registry *r, struct sl_db *db, struct cfile *f,
                                    struct sl_sha256_ctx *h, size_t from, uint64_t *reread,
                                    struct sl_error *err)
{
    unsigned char *buf = sl_xmalloc(SL_CDC_MAX), got[32];
    enum sl_err rc = SL_OK;

    if (!h)
        h = sl_sha256_new();
    for (size_t i = from; i < f->nchunks && !rc; i++) {
        struct sl_chunk_loc_row loc;
        bool found;
        if (reread)
            *reread += f->chunk_len[i];
        rc = sl_repo_chunk_locate(db, f->chunk_ids[i], &found, &loc, err);
        if (!rc && found)
            rc = sl_store_read(r->store, loc.pack_id, loc.pack, buf, (size_t)loc.length,
                               loc.pack_offset, err);
        else if (!rc)
            rc = sl_error_set(err, SL_EINTERNAL, "chunk row vanished");
        if (!rc)
            sl_sha256_update(h, buf, (size_t)loc.length);
    }
    if (!rc) {
        sl_sha256_final(h, got);
        h = NULL;
        if (memcmp(got, f->sha, 32) != 0) {
            char hex[65];
            sl_hex(got, 32, hex);
            rc = bad(err, "%s: the uploaded bytes hash to %s, not to the declared %s", f->path, hex,
                     f->sha_hex);
        }
    }
    sl_sha256_free(h);
    free(buf);
    return rc;
}

/* Re-reads a new file from the packs and checks its SHA-256. */
static enum sl_err verify_file(struct sl_registry *r, struct sl_db *db, struct cfile *f,
                               struct sl_error *err)
{
    return verify_file_from(r, db, f, NULL, 0, NULL, err);
}

/* How much of `f` the streamed digest of session `sid` covers: its chunks
 * must be the first ones of f's list, in order, and their lengths must add
 * up. Returns that count and hands over the digest in *h (NULL and 0 when
 * nothing can be used; then the whole file is read back); *nread gets the
 * bytes of that prefix the server read back from its packs during the
 * upload (requests that arrived ahead of their turn). */
static size_t streamed_prefix(struct sl_registry *r, int64_t org_id, const unsigned char *sid,
                              const struct cfile *f, struct sl_sha256_ctx **h, uint64_t *nread)
{
    unsigned char ids_digest[32], want[32];
    uint64_t next = 0, nbytes = 0, sum = 0;
    struct sl_sha256_ctx *c;

    *h = NULL;
    *nread = 0;
    if (!sid || !sl__fh_take(r, org_id, sid, h, &next, &nbytes, nread, ids_digest))
        return 0;
    if (next > f->nchunks)
        goto unusable;
    c = sl_sha256_new();
    for (size_t i = 0; i < next; i++) {
        sl_sha256_update(c, f->ids[i], 32);
        sum += f->chunk_len[i];
    }
    sl_sha256_final(c, want);
    if (sum != nbytes || memcmp(want, ids_digest, 32) != 0)
        goto unusable;
    return (size_t)next;
unusable:
    sl_sha256_free(*h);
    *h = NULL;
    *nread = 0;
    return 0;
}

static json_t *manifest_json(const char *org, const char *name, struct cfile *files, size_t n,
                             json_t *facts, const char *tier, const char *license)
{
    json_t *m = json_object(), *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "path", files[i].path, "sha256",
                                             files[i].sha_hex, "size", (json_int_t)files[i].size));
    json_object_set_new(m, "model", json_sprintf("%s/%s", org, name));
    json_object_set_new(m, "files", arr);
    json_object_set_new(m, "facts", facts ? json_incref(facts) : json_null());
    json_object_set_new(m, "tier", json_string(tier));
    if (license) {
        unsigned char h[32];
        char hex[65];
        sl_sha256(license, strlen(license), h);
        sl_hex(h, 32, hex);
        json_object_set_new(m, "license_sha256", json_string(hex));
    } else {
        json_object_set_new(m, "license_sha256", json_null());
    }
    return m;
}

/* Records a verified new file: its row and its ordered chunks. A file
 * another request stored meanwhile is taken as it is. Runs inside the
 * caller's transaction. */
static enum sl_err insert_blob(struct sl_db *db, struct cfile *f, int64_t now, struct sl_error *err)
{
    return sl_repo_blob_insert(db, f->sha, f->size, f->chunk_ids, f->chunk_len, f->nchunks, now,
                               &f->blob_id, err);
}

/* Where `main` stood before a commit and whether the commit moved it. */
struct main_move {
    bool force;    /* in: move `main` even to a stricter tier */
    bool moved;    /* out: `main` now names the committed version */
    int64_t seq;   /* out: the version `main` names afterwards (0: none) */
    char tier[16]; /* out: that version's tier */
    char was[16];  /* out: the tier of `main` before the commit ("" when new) */
};

/* Reads the version `main` names: its seq and tier (seq 0 when none). */
static enum sl_err main_get(struct sl_db *db, int64_t model_id, int64_t *seq, char *tier,
                            size_t tierlen, struct sl_error *err)
{
    char t[SL_REPO_TIER_MAX + 1];
    bool found;
    enum sl_err rc = sl_repo_ref_main_get(db, model_id, &found, seq, t, err);

    snprintf(tier, tierlen, "%s", t);
    return rc;
}

/* Points `main` at `version_id` unless that would make the model stricter
 * than `main` is now and the caller did not force it: a push must never
 * take a model offline by accident. Runs inside the caller's transaction. */
static enum sl_err main_move(struct sl_db *db, int64_t model_id, int64_t version_id, int64_t seq,
                             const char *tier, struct main_move *mm, struct sl_error *err)
{
    enum sl_tier now_t, new_t;
    enum sl_err rc = main_get(db, model_id, &mm->seq, mm->was, sizeof(mm->was), err);

    if (rc)
        return rc;
    snprintf(mm->tier, sizeof(mm->tier), "%s", mm->was);
    mm->moved = false;
    if (mm->seq == seq) {
        mm->moved = true;
        return SL_OK;
    }
    if (mm->seq != 0 && !mm->force && sl_tier_parse(mm->was, &now_t) &&
        sl_tier_parse(tier, &new_t) && new_t > now_t)
        return SL_OK;
    rc = sl_repo_ref_main_set(db, model_id, version_id, err);
    if (rc)
        return rc;
    mm->moved = true;
    mm->seq = seq;
    snprintf(mm->tier, sizeof(mm->tier), "%s", tier);
    return SL_OK;
}

static enum sl_err store_version(struct sl_registry *r, struct sl_db *db,
                                 const struct sl_principal *p, int64_t org_id, const char *name,
                                 struct cfile *files, size_t n, const char *commit,
                                 const char *manifest, const char *tier, const char *min_tier,
                                 const char *floor_tier, const char *decision, const char *inspect,
                                 const char *license, uint64_t bytes_total, json_t *event,
                                 struct main_move *mm, int64_t *seq_out, bool *created,
                                 struct sl_error *err)
{
    struct sl_version_new nv;
    int64_t model_id = 0, version_id, seq = 0, now = sl__now(), existing, log_idx = -1;
    bool found;
    enum sl_err rc = sl_db_begin(db, err);

    if (rc)
        return rc;
    rc = sl_repo_model_find(db, org_id, name, &found, &model_id, err);
    if (rc)
        goto fail;
    if (!found) {
        rc = sl_repo_model_insert(db, org_id, name, now, &model_id, err);
        if (rc)
            goto fail;
    }
    /* An identical version (same manifest) is returned, not duplicated;
     * pushed again with force, `main` moves to it. */
    rc = sl_repo_version_by_commit(db, model_id, commit, &found, &version_id, &existing, err);
    if (rc)
        goto fail;
    if (found) {
        *seq_out = existing;
        *created = false;
        rc = main_move(db, model_id, version_id, existing, tier, mm, err);
        if (!rc)
            rc = sl_db_commit(db, err);
        if (rc)
            goto fail;
        return SL_OK;
    }
    rc = sl_db_lock(db, SL_DB_LOCK_SEQ, err); /* max(seq) + 1 across servers */
    if (rc)
        goto fail;
    rc = sl_repo_version_next_seq(db, model_id, &seq, err);
    if (rc)
        goto fail;
    memset(&nv, 0, sizeof(nv));
    nv.model_id = model_id;
    nv.seq = seq;
    nv.commit = commit;
    nv.manifest = manifest;
    nv.tier = tier;
    nv.min_tier = min_tier;
    nv.decision = decision;
    nv.inspect = inspect;
    nv.license = license;
    nv.bytes_total = bytes_total;
    nv.created = now;
    nv.created_by = p->user_id;
    nv.floor_tier = floor_tier;
    rc = sl_repo_version_insert(db, &nv, &version_id, err);
    if (rc)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        struct cfile *f = &files[i];
        if (f->blob_id == 0) {
            rc = insert_blob(db, f, now, err);
            if (rc)
                goto fail;
        }
        rc = sl_repo_version_file_insert(db, version_id, f->path, f->blob_id, err);
        if (rc)
            goto fail;
    }
    rc = main_move(db, model_id, version_id, seq, tier, mm, err);
    if (rc)
        goto fail;
    {
        char who[SL_PSEUDONYM_LEN + 1];
        const char *model = json_string_value(json_object_get(event, "model"));
        sl__pseudonym(r, model ? model : "", p->user_id, who);
        json_object_set_new(event, "version", json_integer(seq));
        json_object_set_new(event, "by", json_string(who));
        rc = sl__log_append(r, db, event, &log_idx, err);
        if (rc)
            goto fail;
        rc = sl_repo_version_log_idx_set(db, version_id, log_idx, err);
        if (rc)
            goto fail;
    }
    rc = sl_db_commit(db, err);
    if (rc)
        goto fail;
    *seq_out = seq;
    *created = true;
    return SL_OK;
fail:
    sl_db_rollback(db);
    return rc;
}

/* The log entry of a published version: commit, files (when there are at
 * most 100 and the version is not withheld), facts, decision and tier. A decision too large for an
 * entry is cut to its summary (the commit still binds the whole manifest). */
static json_t *publish_event(const char *org, const char *name, struct cfile *files, size_t n,
                             json_t *facts, json_t *decision, const char *commit, const char *tier,
                             const char *floor, const char *license)
{
    json_t *e = json_pack("{s:s, s:s++, s:s, s:s, s:s, s:O, s:O}", "type", "version.published",
                          "model", org, "/", name, "commit", commit, "tier", tier, "floor_tier",
                          floor, "facts", facts ? facts : json_null(), "decision", decision);
    char *text;
    size_t len;

    if (strcmp(tier, "withheld") == 0) {
        /* One rule with the API (docs/access.md): a withheld version's file
         * names and hashes are for members and evaluators only. The commit
         * still binds them; the count says how many. */
        json_object_set_new(e, "file_count", json_integer((json_int_t)n));
    } else if (n <= 100) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr,
                                  json_pack("{s:s, s:s, s:I}", "path", files[i].path, "sha256",
                                            files[i].sha_hex, "size", (json_int_t)files[i].size));
        json_object_set_new(e, "files", arr);
    } else {
        json_object_set_new(e, "file_count", json_integer((json_int_t)n));
    }
    if (license) {
        char digest[73];
        sl__public_digest(license, digest);
        json_object_set_new(e, "license_sha256", json_string(digest));
    }
    text = sl_json_dump(e, 0, &len);
    free(text);
    if (len > 60000) {
        json_t *sum = json_object(), *rules = json_array(), *ob = json_array(), *x;
        size_t i;
        json_array_foreach(json_object_get(decision, "rules_fired"), i, x)
            json_array_append(rules, json_object_get(x, "rule"));
        json_array_foreach(json_object_get(decision, "obligations"), i, x)
            json_array_append(ob, json_object_get(x, "id"));
        json_object_set(sum, "min_tier", json_object_get(decision, "min_tier"));
        json_object_set(sum, "as_of", json_object_get(decision, "as_of"));
        json_object_set_new(sum, "rules_fired", rules);
        json_object_set_new(sum, "obligations", ob);
        json_object_set_new(e, "decision", sum);
        json_object_del(e, "facts");
        json_object_del(e, "files");
        json_object_set_new(e, "file_count", json_integer((json_int_t)n));
    }
    return e;
}

/* Weight files by name: what provenance compares (a README or config shared
 * with a withheld model says nothing about its weights). */
static bool weight_file(const char *path)
{
    static const char *const ext[] = {".safetensors", ".gguf", ".bin", ".pt",      ".pth", ".ckpt",
                                      ".npz",         ".onnx", ".h5",  ".msgpack", ".pkl"};
    size_t n = strlen(path);

    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t k = strlen(ext[i]);
        if (n > k && strcasecmp(path + n - k, ext[i]) == 0)
            return true;
    }
    return false;
}

struct prov_hit {
    int64_t version_id;
    enum sl_tier tier;
    size_t shared;
};

/* The chunk ids of a file named by hash only, collected. */
struct id_list {
    int64_t *ids;
    size_t n, cap;
};

static int id_add(void *ctx, int64_t id)
{
    struct id_list *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->ids = sl_xrealloc(l->ids, l->cap * sizeof(*l->ids));
    }
    l->ids[l->n++] = id;
    return 0;
}

/* The versions sharing a chunk, tallied. */
struct hit_list {
    struct prov_hit *hits;
    size_t n;
};

static int hit_add(void *ctx, const struct sl_version_tier_row *row)
{
    struct hit_list *l = ctx;
    size_t j = 0;

    while (j < l->n && l->hits[j].version_id != row->version_id)
        j++;
    if (j == l->n) {
        l->hits = sl_xrealloc(l->hits, (l->n + 1) * sizeof(*l->hits));
        l->hits[j].version_id = row->version_id;
        l->hits[j].shared = 0;
        if (!sl_tier_parse(row->tier, &l->hits[j].tier))
            l->hits[j].tier = SL_TIER_WITHHELD;
        l->n++;
    }
    l->hits[j].shared++;
    return 0;
}

/* Provenance (docs/access.md): the strictest tier among versions (any org)
 * at gated or above that hold a weight file identical to, or sharing at
 * least half the chunks of, a weight file of this push. `*out` gets a
 * description of the match (or NULL): {tier, file, shared, chunks,
 * version_id}. */
static enum sl_err provenance(struct sl_db *db, struct cfile *files, size_t n, json_t **out,
                              struct sl_error *err)
{
    enum sl_err rc;
    bool any;

    *out = NULL;
    /* the common case on an open hub: nothing stricter to copy from */
    rc = sl_repo_versions_any_strict(db, &any, err);
    if (rc || !any)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        struct cfile *f = &files[i];
        struct id_list stored = {NULL, 0, 0};
        const int64_t *ids = f->chunk_ids;
        size_t nids = f->nchunks;
        struct hit_list hl = {NULL, 0};
        if (!weight_file(f->path))
            continue;
        if (!ids) {
            /* named by hash only: its stored chunk list */
            rc = sl_repo_blob_chunk_ids(db, f->blob_id, id_add, &stored, err);
            if (rc) {
                free(stored.ids);
                break;
            }
            ids = stored.ids;
            nids = stored.n;
        }
        for (size_t k = 0; k < nids && !rc; k++) {
            /* a chunk repeated inside the file counts once per occurrence
             * in both numerator and denominator: fine for a ratio */
            rc = sl_repo_versions_by_chunk_strict(db, ids[k], hit_add, &hl, err);
        }
        for (size_t j = 0; j < hl.n && !rc; j++) {
            enum sl_tier have = SL_TIER_OPEN;
            if (*out)
                sl_tier_parse(json_string_value(json_object_get(*out, "tier")), &have);
            if (nids > 0 && hl.hits[j].shared * 2 >= nids && (!*out || hl.hits[j].tier > have)) {
                json_decref(*out);
                *out = json_pack("{s:s, s:s, s:I, s:I, s:I}", "tier", sl_tier_name(hl.hits[j].tier),
                                 "file", f->path, "shared", (json_int_t)hl.hits[j].shared, "chunks",
                                 (json_int_t)nids, "version_id", (json_int_t)hl.hits[j].version_id);
            }
        }
        free(hl.hits);
        free(stored.ids);
    }
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* Names the matched version for the decision: ORG/NAME@COMMIT when the
 * pusher may see it (a member of its org, or an admin), otherwise "a
 * stricter version on this server". */
static enum sl_err provenance_name(struct sl_registry *r, struct sl_db *db,
                                   const struct sl_principal *p, json_t *match, char *name,
                                   size_t cap, char *commit, struct sl_error *err)
{
    struct sl_version_origin_row o;
    bool found;
    enum sl_err rc;

    snprintf(name, cap, "a stricter version on this server");
    commit[0] = '\0';
    rc = sl_repo_version_origin(db, json_integer_value(json_object_get(match, "version_id")),
                                &found, &o, err);
    if (rc || !found)
        return rc;
    {
        struct sl_principal who = *p;
        snprintf(commit, 65, "%s", o.commit);
        if (sl_reg_is_member(r, &who, o.org_id))
            snprintf(name, cap, "%s/%s@%s", o.org, o.model, o.commit);
    }
    return SL_OK;
}

/* The first manifest with facts, newest first. */
struct facts_found {
    json_t *facts;
    int64_t from;
    char *commit;
};

static int facts_of(void *ctx, const struct sl_version_manifest_row *row)
{
    struct facts_found *ff = ctx;
    json_t *man = row->manifest ? json_loads(row->manifest, 0, NULL) : NULL;
    json_t *f = json_object_get(man, "facts");
    int stop = 0;

    if (json_is_object(f)) {
        ff->facts = json_incref(f);
        ff->from = row->seq;
        snprintf(ff->commit, 65, "%s", row->commit ? row->commit : "");
        stop = 1;
    }
    json_decref(man);
    return stop;
}

/* The facts of the newest version of `org_id/name` that has any: a push
 * without facts inherits them, so re-publishing new files never drops the
 * declared training compute (and with it the tier). `*facts` is NULL and
 * `*from` 0 when no version has facts. The caller frees `*facts`. */
static enum sl_err inherited_facts(struct sl_db *db, int64_t org_id, const char *name,
                                   json_t **facts, int64_t *from, char *commit,
                                   struct sl_error *err)
{
    struct facts_found ff = {NULL, 0, commit};
    enum sl_err rc = sl_repo_versions_manifests(db, org_id, name, facts_of, &ff, err);

    *facts = ff.facts;
    *from = ff.from;
    return rc;
}

enum sl_err sl_reg_commit(struct sl_registry *r, const struct sl_principal *p, const char *org,
                          const char *name, json_t *body, json_t **result, bool *created,
                          struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct cfile *files = NULL;
    size_t n = 0;
    int64_t org_id, seq = 0;
    json_t *facts = NULL, *decision = NULL, *inspect = NULL, *manifest = NULL;
    json_t *jtier = json_object_get(body, "tier"), *jlic = json_object_get(body, "license");
    const char *want = NULL, *license = NULL, *tier;
    struct sl_param_count pc;
    bool have_counts = false;
    char *manifest_text = NULL, *decision_text = NULL, *inspect_text = NULL, commit[65];
    uint64_t bytes_total = 0;
    enum sl_tier want_tier = SL_TIER_OPEN, min_tier, floor = SL_TIER_WITHHELD;
    json_t *obl = NULL, *held = NULL, *event = NULL, *prov = NULL,
           *jforce = json_object_get(body, "force");
    struct main_move mm;
    int64_t facts_from = 0;
    char facts_commit[65] = "";
    enum sl_err rc;

    *result = NULL;
    if (!db)
        return err->code;
    if (!json_is_object(body))
        return bad(err, "the body must be a JSON object");
    {
        static const char *const keys[] = {"files", "facts", "tier", "license", "force", NULL};
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
            bool ok = false;
            (void)v;
            for (const char *const *k = keys; *k; k++)
                ok |= strcmp(*k, key) == 0;
            if (!ok)
                return bad(err, "unknown key \"%s\" in the commit body", key);
        }
    }
    memset(&mm, 0, sizeof(mm));
    if (jforce && !json_is_boolean(jforce))
        return bad(err, "\"force\" must be true or false");
    mm.force = json_is_true(jforce);
    if (json_is_string(jtier)) {
        want = json_string_value(jtier);
        if (!sl_tier_parse(want, &want_tier))
            return bad(err, "tier \"%s\" is not open, click, gated, hosted or withheld", want);
    } else if (jtier && !json_is_null(jtier)) {
        return bad(err, "\"tier\" must be a string or null");
    }
    if (json_is_string(jlic)) {
        license = json_string_value(jlic);
        if (json_string_length(jlic) > (1u << 20))
            return bad(err, "the license text is over 1 MiB");
    } else if (jlic && !json_is_null(jlic)) {
        return bad(err, "\"license\" must be a string or null");
    }
    if (json_is_object(json_object_get(body, "facts"))) {
        facts = json_deep_copy(json_object_get(body, "facts"));
        rc = sl_facts_validate("facts", facts, err);
        if (rc)
            goto out;
    } else if (json_object_get(body, "facts") && !json_is_null(json_object_get(body, "facts"))) {
        rc = bad(err, "\"facts\" must be an object or null");
        goto out;
    }
    rc = sl_reg_org_id(r, org, &org_id, err);
    if (rc)
        goto out;
    if (!sl_reg_can_publish(r, p, org_id)) {
        rc = sl_error_set(err, SL_EFORBIDDEN,
                          "%s may not publish to org %s (needs the publisher "
                          "role)",
                          p->name, org);
        goto out;
    }
    if (!facts) {
        /* No facts given ("facts" absent or null): the newest version's
         * facts carry over; "facts": {} declares none. */
        rc = inherited_facts(db, org_id, name, &facts, &facts_from, facts_commit, err);
        if (rc)
            goto out;
    }
    rc = parse_files(body, &files, &n, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < n && !rc; i++) {
        if (files[i].ids) {
            rc = resolve_file(db, org_id, &files[i], err);
            if (!rc && !files[i].visible)
                rc = verify_file(r, db, &files[i], err);
        } else {
            rc = check_stored(db, org_id, &files[i], err);
        }
        bytes_total += files[i].size;
    }
    if (rc)
        goto out;

    /* Inspect the weights in the version (when there are any). */
    {
        struct sl_model *m = NULL;
        struct sl__ifile *ifs = sl_xcalloc(n + 1, sizeof(*ifs));
        for (size_t i = 0; i < n; i++) {
            ifs[i].path = files[i].path;
            ifs[i].size = files[i].size;
            ifs[i].blob_id = files[i].blob_id;
            ifs[i].chunk_ids = files[i].chunk_ids;
            ifs[i].chunk_len = files[i].chunk_len;
            ifs[i].nchunks = files[i].nchunks;
        }
        rc = sl__reg_inspect(r, db, ifs, n, &m, err);
        free(ifs);
        if (rc == SL_OK && m) {
            sl_count_params(m, &pc);
            have_counts = true;
            inspect = sl_model_report(m, &pc, false);
            sl_model_free(m);
        } else if (rc == SL_ENOTFOUND) {
            rc = SL_OK; /* no weight files: facts only */
        }
        if (rc)
            goto out;
    }
    {
        struct sl_classify_in in;
        json_t *cfacts = facts;
        memset(&in, 0, sizeof(in));
        if (want && !json_object_get(facts, "release_tier")) {
            /* the tier asked for is the release tier the policy reads
             * (the EU open-source exemption never holds at gated and up);
             * the stored facts stay as the publisher gave them */
            cfacts = facts ? json_deep_copy(facts) : json_object();
            json_object_set_new(cfacts, "release_tier", json_string(want));
        }
        in.facts = cfacts;
        in.files = have_counts ? &pc : NULL;
        in.as_of = (int32_t)(sl__now() / 86400);
        rc = sl_classify(r->policy, &in, &decision, err);
        if (cfacts != facts)
            json_decref(cfacts);
        if (rc)
            goto out;
        if (facts_from) {
            json_t *fi =
                json_pack("{s:I, s:s}", "version", (json_int_t)facts_from, "commit", facts_commit);
            json_object_set_new(fi, "note",
                                json_sprintf("facts inherited from v%lld", (long long)facts_from));
            json_object_set_new(decision, "facts_inherited_from", fi);
        }
    }
    sl_tier_parse(json_string_value(json_object_get(decision, "min_tier")), &min_tier);
    rc = provenance(db, files, n, &prov, err);
    if (rc)
        goto out;
    if (prov) {
        /* Withheld and gated bytes cannot be laundered under another name:
         * the strictest matching version's tier is this one's floor, until
         * its publisher lowers that version's own tier. */
        enum sl_tier ptier;
        char pname[3 * SL_NAME_MAX + 80], pcommit[65], why[600];
        sl_tier_parse(json_string_value(json_object_get(prov, "tier")), &ptier);
        rc = provenance_name(r, db, p, prov, pname, sizeof(pname), pcommit, err);
        if (rc)
            goto out;
        snprintf(why, sizeof(why),
                 "%s shares %lld of its %lld chunks with a weight file of %s, which is %s",
                 json_string_value(json_object_get(prov, "file")),
                 (long long)json_integer_value(json_object_get(prov, "shared")),
                 (long long)json_integer_value(json_object_get(prov, "chunks")), pname,
                 sl_tier_name(ptier));
        json_array_append_new(json_object_get(decision, "rules_fired"),
                              json_pack("{s:s, s:s, s:s, s:s, s:s}", "rule",
                                        "provenance.inherited-tier", "pack", "registry", "min_tier",
                                        sl_tier_name(ptier), "cite",
                                        "sluice registry rule: a version inherits the tier of the "
                                        "stricter version it copies (docs/access.md)",
                                        "why", why));
        json_object_set_new(decision, "provenance",
                            json_pack("{s:s, s:s, s:O, s:O, s:s}", "inherited_tier",
                                      sl_tier_name(ptier), "from", pname, "shared",
                                      json_object_get(prov, "shared"), "chunks",
                                      json_object_get(prov, "chunks"), "file",
                                      json_string_value(json_object_get(prov, "file"))));
        if (ptier > min_tier) {
            min_tier = ptier;
            json_object_set_new(decision, "min_tier", json_string(sl_tier_name(ptier)));
        }
        if (pcommit[0]) {
            /* the log keeps a keyed digest of the matched commit: auditors
             * with the operator can confirm it, nobody can link it */
            char d[SL_TEXT_DIGEST_LEN + 1];
            sl__text_digest(r, pcommit, d);
            json_object_set_new(json_object_get(decision, "provenance"), "from_hmac",
                                json_string(d));
        }
    }
    obl = sl__obligations_status(db, 0, decision, &floor, &held, err);
    if (!obl) {
        rc = err->code;
        goto out;
    }
    if (prov) {
        enum sl_tier ptier;
        sl_tier_parse(json_string_value(json_object_get(prov, "tier")), &ptier);
        if (ptier > floor)
            floor = ptier;
    }
    if (want && want_tier < floor) {
        rc = sl__refusal(decision, held, want, err);
        *result = json_pack("{s:O, s:s, s:O}", "decision", decision, "floor_tier",
                            sl_tier_name(floor), "held_by", held);
        goto out;
    }
    tier = want ? want : sl_tier_name(floor);
    manifest = manifest_json(org, name, files, n, facts, tier, license);
    manifest_text = sl_json_dump(manifest, 0, NULL);
    {
        unsigned char h[32];
        sl_sha256(manifest_text, strlen(manifest_text), h);
        sl_hex(h, 32, commit);
    }
    decision_text = sl_json_dump(decision, 0, NULL);
    inspect_text = inspect ? sl_json_dump(inspect, 0, NULL) : NULL;
    event = publish_event(org, name, files, n, facts, decision, commit, tier, sl_tier_name(floor),
                          license);
    rc = store_version(r, db, p, org_id, name, files, n, commit, manifest_text, tier,
                       sl_tier_name(min_tier), sl_tier_name(floor), decision_text, inspect_text,
                       license, bytes_total, event, &mm, &seq, created, err);
    if (rc)
        goto out;
    {
        json_t *ids = json_array(), *e;
        size_t i;
        json_array_foreach(held, i, e) json_array_append(ids, json_object_get(e, "id"));
        *result =
            json_pack("{s:s++, s:I, s:s, s:s, s:s, s:s, s:o, s:I, s:O, s:b, s:I}", "model", org,
                      "/", name, "version", (json_int_t)seq, "commit", commit, "tier", tier,
                      "min_tier", sl_tier_name(min_tier), "floor_tier", sl_tier_name(floor),
                      "held_by", ids, "bytes_total", (json_int_t)bytes_total, "decision", decision,
                      "on_main", mm.moved, "main_version", (json_int_t)mm.seq);
        if (!mm.moved)
            json_object_set_new(
                *result, "main_note",
                json_sprintf("main stays at v%lld (tier %s): v%lld's tier %s is stricter, and "
                             "moving main would take the model from %s to %s; push again with "
                             "--force (\"force\": true) to move it",
                             (long long)mm.seq, mm.tier, (long long)seq, tier, mm.tier, tier));
        if (facts_from)
            json_object_set_new(*result, "facts_note",
                                json_sprintf("facts inherited from v%lld", (long long)facts_from));
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(files[i].chunk_ids);
        free(files[i].chunk_len);
        free(files[i].ids_own);
    }
    free(files);
    free(manifest_text);
    free(decision_text);
    free(inspect_text);
    json_decref(manifest);
    json_decref(inspect);
    json_decref(decision);
    json_decref(facts);
    json_decref(obl);
    json_decref(held);
    json_decref(event);
    json_decref(prov);
    return rc;
}

enum sl_err sl_reg_file_store(struct sl_registry *r, const struct sl_principal *p, int64_t org_id,
                              const unsigned char sha[32], uint64_t size,
                              const unsigned char (*ids)[32], size_t n,
                              const unsigned char *file_sid, bool *created, uint64_t *reread,
                              struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct cfile f;
    enum sl_err rc;

    (void)p;
    *created = false;
    if (reread)
        *reread = 0;
    if (!db)
        return err->code;
    memset(&f, 0, sizeof(f));
    memcpy(f.sha, sha, 32);
    sl_hex(sha, 32, f.sha_hex);
    f.path = f.sha_hex;
    f.size = size;
    f.ids = ids;
    f.nchunks = n;
    rc = resolve_file(db, org_id, &f, err);
    if (!rc && !f.visible) {
        /* new to this org: verified from its own chunks whether or not
         * another org stored the same bytes, and answered the same way;
         * what the server hashed as the chunks arrived is not read again */
        struct sl_sha256_ctx *h = NULL;
        uint64_t caught = 0;
        size_t from = streamed_prefix(r, org_id, file_sid, &f, &h, &caught);
        rc = verify_file_from(r, db, &f, h, from, reread, err);
        if (reread)
            *reread += caught; /* read back during the upload, out of turn */
        if (!rc)
            rc = sl_db_begin(db, err);
        if (!rc) {
            rc = f.blob_id == 0 ? insert_blob(db, &f, sl__now(), err) : SL_OK;
            if (!rc)
                rc = sl_db_commit(db, err);
            if (rc)
                sl_db_rollback(db);
            else
                *created = true;
        }
    }
    free(f.chunk_ids);
    free(f.chunk_len);
    return rc;
}
