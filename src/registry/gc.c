/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Garbage collection and fsck. GC never blocks reads or writes: it deletes
 * only rows nothing references (after a grace period, so a push in progress
 * keeps its chunks), rewrites mostly-dead packs into new ones before
 * pointing the chunk rows at the copies, and deletes a retired pack file only
 * a while later, so a download that already looked up the old location still
 * reads it. One collector runs at a time (a lock file).
 */
#include "registry/registry_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "db/repo_chunks.h"
#include "common/banned.h"

struct live {
    int64_t chunk_id;
    uint64_t offset, length;
};

struct live_list {
    struct live *v;
    size_t n, cap;
};

static int add_live(void *ctx, const struct sl_pack_chunk_row *row)
{
    struct live_list *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = sl_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].chunk_id = row->chunk_id;
    l->v[l->n].offset = row->offset;
    l->v[l->n].length = row->length;
    l->n++;
    return 0;
}

/* Copies the live chunks of pack `pid` into a new pack and repoints them. */
static enum sl_err compact(struct sl_registry *r, struct sl_db *db, int64_t pid, const char *pname,
                           uint64_t *moved, struct sl_error *err)
{
    struct live_list l = {NULL, 0, 0};
    struct live *v;
    size_t n;
    struct sl_pack_writer *w = NULL;
    unsigned char *buf = sl_xmalloc(SL_CDC_MAX);
    uint64_t *newoff = NULL;
    char name[SL_PACK_NAME_LEN + 1];
    int64_t newid;
    enum sl_err rc = sl_repo_pack_chunks(db, pid, add_live, &l, err);

    v = l.v;
    n = l.n;
    if (rc)
        goto out;
    newoff = sl_xcalloc(n + 1, sizeof(*newoff));
    rc = sl_pack_begin(r->store, &w, err);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = sl_store_read(r->store, pid, pname, buf, (size_t)v[i].length, v[i].offset, err);
        if (!rc)
            rc = sl_pack_append(w, buf, (size_t)v[i].length, &newoff[i], err);
    }
    if (rc)
        goto out;
    {
        uint64_t size = sl_pack_size(w);
        rc = sl_pack_seal(w, name, err);
        w = NULL;
        if (rc)
            goto out;
        rc = sl_db_begin(db, err);
        if (rc)
            goto out_remove;
        rc = sl_repo_pack_insert(db, name, size, sl__now(), &newid, err);
        if (rc)
            goto out_rollback;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        rc = sl_repo_chunk_move(db, v[i].chunk_id, pid, newid, newoff[i], err);
        *moved += v[i].length;
    }
    if (!rc)
        rc = sl_repo_pack_retire(db, pid, sl__now(), err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (!rc)
        goto out;
out_rollback:
    sl_db_rollback(db);
out_remove:
    sl_store_remove(r->store, name, NULL);
out:
    sl_pack_abort(w);
    free(newoff);
    free(v);
    free(buf);
    return rc;
}

struct sweep {
    struct sl_registry *r;
    struct sl_db *db;
    int64_t cutoff; /* objects last written before this may go */
    int removed;
};

/* A pack object no row names, past the grace period, is removed; objects
 * that are not sluice packs (another tool's, in a shared bucket) are never
 * touched. */
static int sweep_one(void *arg, const struct sl_store_obj *o)
{
    struct sweep *w = arg;
    struct sl_error err;
    bool known = true;

    if (!o->pack || o->mtime >= w->cutoff)
        return 0;
    if (sl_repo_pack_known(w->db, o->pack, &known, &err) != SL_OK)
        known = true; /* an error counts as known: keep it */
    if (!known && sl_store_remove(w->r->store, o->pack, &err) == SL_OK)
        w->removed++;
    return 0;
}

/* Removes pack files and objects no row names, and staged packs left by a
 * crash, older than `grace`; aborts unfinished uploads as old. */
static void sweep_files(struct sl_registry *r, struct sl_db *db, int64_t grace, int *removed,
                        int *aborted)
{
    const char *dir = r->store->staging;
    DIR *d = opendir(dir);
    struct dirent *f;
    struct sweep w = {r, db, sl__now() - grace, 0};
    struct sl_error err;

    while (d && (f = readdir(d)) != NULL) {
        char *path;
        struct stat st;
        if (f->d_name[0] == '.' || strlen(f->d_name) != SL_PACK_NAME_LEN + 5)
            continue;
        path = sl_xasprintf("%s/%s", dir, f->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < w.cutoff &&
            unlink(path) == 0)
            w.removed++;
        free(path);
    }
    if (d)
        closedir(d);
    sl_store_list(r->store, sweep_one, &w, &err); /* best effort, as before */
    *removed += w.removed;
    if (r->store->ops->sweep_uploads)
        r->store->ops->sweep_uploads(r->store, w.cutoff, aborted, &err);
}

/* Pack ids and names, collected before any of them is worked on. */
struct pack_list {
    struct {
        int64_t id;
        char name[SL_PACK_NAME_LEN + 1];
    } * v;
    size_t n;
};

static int add_pack(void *ctx, const struct sl_pack_row *row)
{
    struct pack_list *l = ctx;

    l->v = sl_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n].id = row->id;
    snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", row->name);
    l->n++;
    return 0;
}

enum sl_err sl_reg_gc(struct sl_registry *r, const struct sl_gc_opts *o, json_t **report,
                      struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    char *lockpath = sl_xasprintf("%s/gc.lock", r->root);
    int lock = -1, blobs = 0, chunks = 0, retired = 0, deleted = 0, compacted = 0, stray = 0;
    int aborted = 0;
    uint64_t moved = 0;
    int64_t now = sl__now();
    enum sl_err rc = SL_OK;

    *report = NULL;
    if (!db) {
        free(lockpath);
        return err->code;
    }
    lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
        rc = sl_error_set(err, SL_ECONFLICT, "another garbage collection is running");
        goto out;
    }
    /* 1. files no version names, past the grace period (a push registers
     * its files before it commits) */
    rc = sl_db_begin(db, err);
    if (!rc)
        rc = sl_repo_blobs_drop_unused(db, now - o->grace_seconds, &blobs, err);
    /* 2. chunks no file uses, older than the grace period */
    if (!rc)
        rc = sl_repo_chunks_drop_unused(db, now - o->grace_seconds, &chunks, err);
    /* 3. packs left without chunks are retired */
    if (!rc)
        rc = sl_repo_packs_retire_empty(db, sl__now(), now - o->grace_seconds, &retired, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc) {
        sl_db_rollback(db);
        goto out;
    }
    /* 4. mostly-dead packs are rewritten */
    {
        struct pack_list l = {NULL, 0};
        rc = sl_repo_packs_to_compact(db, now - o->grace_seconds, o->compact_below, add_pack, &l,
                                      err);
        for (size_t i = 0; i < l.n && !rc; i++) {
            rc = compact(r, db, l.v[i].id, l.v[i].name, &moved, err);
            if (!rc)
                compacted++;
        }
        free(l.v);
        if (rc)
            goto out;
    }
    /* 5. retired packs, once old enough, are deleted */
    {
        struct pack_list l = {NULL, 0};
        rc = sl_repo_packs_to_delete(db, now - o->retire_seconds, add_pack, &l, err);
        for (size_t i = 0; i < l.n && !rc; i++) {
            /* the row goes first: a crash between leaves a stray file, not a
             * row naming a missing file */
            rc = sl_repo_pack_delete(db, l.v[i].id, err);
            if (!rc) {
                sl_store_remove(r->store, l.v[i].name, NULL);
                sl_store_drop(r->store, l.v[i].id);
                deleted++;
            }
        }
        free(l.v);
        if (rc)
            goto out;
    }
    sweep_files(r, db, o->grace_seconds, &stray, &aborted);
    *report =
        json_pack("{s:i, s:i, s:i, s:i, s:I, s:i, s:i, s:i}", "files_dropped", blobs,
                  "chunks_dropped", chunks, "packs_retired", retired + compacted, "packs_compacted",
                  compacted, "bytes_moved", (json_int_t)moved, "packs_deleted", deleted,
                  "stray_files_removed", stray, "uploads_aborted", aborted);
out:
    if (lock >= 0)
        close(lock);
    free(lockpath);
    return rc;
}

static void problem(json_t *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(json_t *list, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (json_array_size(list) < 1000)
        json_array_append_new(list, json_string(msg));
}

static int note_foreign(void *arg, const struct sl_store_obj *o)
{
    json_t *list = arg;

    if (!o->pack && json_array_size(list) < 1000)
        json_array_append_new(list, json_string(o->key));
    return 0;
}

struct fsck {
    struct sl_registry *r;
    struct sl_db *db;
    json_t *problems;
    unsigned char *buf; /* SL_CDC_MAX bytes */
    int64_t nchunks, nblobs, nversions, npacks;
    uint64_t bytes;
    /* the file being checked */
    struct sl_sha256_ctx *h;
    const char *hex;
    uint64_t off;
    bool bad;
};

/* packs: file present and long enough */
static int fsck_pack(void *ctx, const struct sl_pack_row *p)
{
    struct fsck *f = ctx;
    uint64_t size = 0;
    struct sl_error serr;
    enum sl_err src = sl_store_stat(f->r->store, p->name, &size, &serr);

    f->npacks++;
    if (src == SL_ENOTFOUND)
        problem(f->problems, "pack %s: file missing", p->name);
    else if (src)
        problem(f->problems, "pack %s: %s", p->name, serr.msg);
    else if (size < p->size)
        problem(f->problems, "pack %s: file has %lld bytes, %lld recorded", p->name,
                (long long)size, (long long)p->size);
    return 0;
}

/* chunks: every byte re-hashed */
static int fsck_chunk(void *ctx, const struct sl_chunk_row *c)
{
    struct fsck *f = ctx;
    size_t len = (size_t)c->length;
    unsigned char got[32];
    char hex[65];
    struct sl_error rerr;

    f->nchunks++;
    if (!c->hash_ok || len == 0 || len > SL_CDC_MAX) {
        problem(f->problems, "chunk row %lld: malformed", (long long)f->nchunks);
        return 0;
    }
    sl_hex(c->hash, 32, hex);
    if (sl_store_read(f->r->store, c->pack_id, c->pack, f->buf, len, c->pack_offset, &rerr) !=
        SL_OK) {
        problem(f->problems, "chunk %s: %s", hex, rerr.msg);
        return 0;
    }
    sl_sha256(f->buf, len, got);
    f->bytes += len;
    if (memcmp(got, c->hash, 32) != 0)
        problem(f->problems, "chunk %s: stored bytes do not hash to its id (pack %s at %lld)", hex,
                c->pack, (long long)c->pack_offset);
    return 0;
}

/* one chunk of the file being checked, in order; stops at the first fault */
static int fsck_file_chunk(void *ctx, const struct sl_chunk_place_row *c)
{
    struct fsck *f = ctx;
    size_t len = (size_t)c->length;
    struct sl_error rerr;

    if (c->missing) {
        problem(f->problems, "file %s: a chunk it needs is missing", f->hex);
        f->bad = true;
    } else if (c->file_offset != f->off) {
        problem(f->problems, "file %s: chunk offsets are not contiguous at %llu", f->hex,
                (unsigned long long)f->off);
        f->bad = true;
    } else if (sl_store_read(f->r->store, c->pack_id, c->pack, f->buf, len, c->pack_offset,
                             &rerr) != SL_OK) {
        problem(f->problems, "file %s: %s", f->hex, rerr.msg);
        f->bad = true;
    } else {
        sl_sha256_update(f->h, f->buf, len);
        f->off += len;
    }
    return f->bad;
}

/* files: chunks contiguous, sizes add up, whole file re-hashed; a failed
 * read of its chunk list stops fsck (-1 in *rc) */
struct fsck_files {
    struct fsck *f;
    struct sl_error *err;
    enum sl_err rc;
};

static int fsck_blob(void *ctx, const struct sl_blob_scan_row *b)
{
    struct fsck_files *ff = ctx;
    struct fsck *f = ff->f;
    unsigned char got[32];
    char hex[65];

    f->nblobs++;
    sl_hex(b->sha256, 32, hex);
    f->h = sl_sha256_new();
    f->hex = hex;
    f->off = 0;
    f->bad = false;
    ff->rc = sl_repo_blob_chunk_places(f->db, b->id, fsck_file_chunk, f, ff->err);
    sl_sha256_final(f->h, got);
    f->h = NULL;
    if (ff->rc)
        return 1;
    if (!f->bad && f->off != b->size)
        problem(f->problems, "file %s: chunks hold %llu bytes, %llu recorded", hex,
                (unsigned long long)f->off, (unsigned long long)b->size);
    else if (!f->bad && memcmp(got, b->sha256, 32) != 0)
        problem(f->problems, "file %s: its chunks do not hash to it", hex);
    return 0;
}

/* versions: commit digest matches the manifest */
static int fsck_version(void *ctx, const struct sl_manifest_row *m)
{
    struct fsck *f = ctx;
    unsigned char h[32];
    char hex[65];

    f->nversions++;
    sl_sha256(m->manifest, strlen(m->manifest), h);
    sl_hex(h, 32, hex);
    if (strcmp(hex, m->commit) != 0)
        problem(f->problems, "version %s: manifest does not hash to its commit", m->commit);
    return 0;
}

enum sl_err sl_reg_fsck(struct sl_registry *r, json_t **report, bool *ok, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    json_t *foreign = json_array();
    struct fsck f;
    struct fsck_files ff;
    enum sl_err rc = SL_OK;

    memset(&f, 0, sizeof(f));
    f.r = r;
    f.db = db;
    f.problems = json_array();
    f.buf = sl_xmalloc(SL_CDC_MAX);
    *report = NULL;
    if (!db) {
        rc = err->code;
        goto out;
    }
    rc = sl_db_begin_read(db, err);
    if (rc)
        goto out;
    rc = sl_repo_packs_live(db, fsck_pack, &f, err);
    /* objects in the store that are not sluice packs: reported, never removed */
    if (!rc)
        rc = sl_store_list(r->store, note_foreign, foreign, err);
    if (!rc)
        rc = sl_repo_chunks_all(db, fsck_chunk, &f, err);
    if (!rc) {
        ff.f = &f;
        ff.err = err;
        ff.rc = SL_OK;
        rc = sl_repo_blobs_all(db, fsck_blob, &ff, err);
        if (!rc)
            rc = ff.rc;
    }
    if (!rc)
        rc = sl_repo_version_manifests(db, fsck_version, &f, err);
    sl_db_rollback(db);
    if (rc)
        goto out;
    *ok = json_array_size(f.problems) == 0;
    *report =
        json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:O, s:O}", "ok", *ok, "packs",
                  (json_int_t)f.npacks, "chunks", (json_int_t)f.nchunks, "bytes",
                  (json_int_t)f.bytes, "files", (json_int_t)f.nblobs, "versions",
                  (json_int_t)f.nversions, "problems", f.problems, "foreign_objects", foreign);
out:
    json_decref(f.problems);
    json_decref(foreign);
    free(f.buf);
    return rc;
}
