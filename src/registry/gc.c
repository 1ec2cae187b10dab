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
#include "common/banned.h"

static enum sl_err run_sql(struct sl_db *db, const char *sql, int64_t a, int *changes,
                           struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    enum sl_err rc;

    if (!st)
        return err->code;
    if (a >= 0)
        sl_stmt_int(st, 1, a);
    rc = sl_stmt_run(st, err);
    if (!rc && changes)
        *changes = sl_db_changes(db);
    return rc;
}

/* run_sql with two integer parameters. */
static enum sl_err run_sql2(struct sl_db *db, const char *sql, int64_t a, int64_t b, int *changes,
                            struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(db, sql, err);
    enum sl_err rc;

    if (!st)
        return err->code;
    sl_stmt_int(st, 1, a);
    sl_stmt_int(st, 2, b);
    rc = sl_stmt_run(st, err);
    if (!rc && changes)
        *changes = sl_db_changes(db);
    return rc;
}

struct live {
    int64_t chunk_id;
    uint64_t offset, length;
};

/* Copies the live chunks of pack `pid` into a new pack and repoints them. */
static enum sl_err compact(struct sl_registry *r, struct sl_db *db, int64_t pid, const char *pname,
                           uint64_t *moved, struct sl_error *err)
{
    struct sl_stmt *st = sl_db_stmt(
        db, "SELECT id, pack_offset, length FROM chunks WHERE pack_id = ? ORDER BY pack_offset",
        err);
    struct live *v = NULL;
    size_t n = 0, cap = 0;
    struct sl_pack_writer *w = NULL;
    unsigned char *buf = sl_xmalloc(SL_CDC_MAX);
    uint64_t *newoff = NULL;
    char name[SL_PACK_NAME_LEN + 1];
    int64_t newid;
    enum sl_err rc = SL_OK;
    int row;

    if (!st) {
        free(buf);
        return err->code;
    }
    sl_stmt_int(st, 1, pid);
    while ((row = sl_stmt_step(st, err)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = sl_xrealloc(v, cap * sizeof(*v));
        }
        v[n].chunk_id = sl_stmt_col_int(st, 0);
        v[n].offset = (uint64_t)sl_stmt_col_int(st, 1);
        v[n].length = (uint64_t)sl_stmt_col_int(st, 2);
        n++;
    }
    sl_stmt_done(st);
    if (row < 0) {
        rc = err->code;
        goto out;
    }
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
        st = sl_db_stmt(db, "INSERT INTO packs (name, size, created) VALUES (?, ?, ?)", err);
        if (!st) {
            rc = err->code;
            goto out_rollback;
        }
        sl_stmt_text(st, 1, name);
        sl_stmt_int(st, 2, (int64_t)size);
        sl_stmt_int(st, 3, sl__now());
        rc = sl_stmt_run(st, err);
        if (rc)
            goto out_rollback;
        newid = sl_db_last_id(db);
    }
    st = sl_db_stmt(db,
                    "UPDATE chunks SET pack_id = ?, pack_offset = ? WHERE id = ? AND "
                    "pack_id = ?",
                    err);
    if (!st) {
        rc = err->code;
        goto out_rollback;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        sl_stmt_int(st, 1, newid);
        sl_stmt_int(st, 2, (int64_t)newoff[i]);
        sl_stmt_int(st, 3, v[i].chunk_id);
        sl_stmt_int(st, 4, pid);
        rc = sl_stmt_run(st, err);
        *moved += v[i].length;
    }
    if (!rc)
        rc = run_sql2(db, "UPDATE packs SET retired = ? WHERE id = ?", sl__now(), pid, NULL, err);
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
    struct sl_stmt *q;
    bool known = true;

    if (!o->pack || o->mtime >= w->cutoff)
        return 0;
    q = sl_db_stmt(w->db, "SELECT 1 FROM packs WHERE name = ?", &err);
    if (q) {
        sl_stmt_text(q, 1, o->pack);
        known = sl_stmt_step(q, &err) != 0; /* an error counts as known: keep it */
        sl_stmt_done(q);
    }
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
        rc = run_sql(db,
                     "DELETE FROM fp_copies WHERE blob_id IN (SELECT id FROM blobs WHERE "
                     "created <= ? AND NOT EXISTS (SELECT 1 FROM version_files vf WHERE "
                     "vf.blob_id = blobs.id))",
                     now - o->grace_seconds, NULL, err);
    if (!rc)
        rc = run_sql(db,
                     "DELETE FROM blob_chunks WHERE blob_id IN (SELECT id FROM blobs WHERE "
                     "created <= ? AND NOT EXISTS (SELECT 1 FROM version_files vf WHERE "
                     "vf.blob_id = blobs.id))",
                     now - o->grace_seconds, NULL, err);
    if (!rc)
        rc = run_sql(db,
                     "DELETE FROM blobs WHERE created <= ? AND NOT EXISTS (SELECT 1 FROM "
                     "version_files vf WHERE vf.blob_id = blobs.id)",
                     now - o->grace_seconds, &blobs, err);
    /* 2. chunks no file uses, older than the grace period */
    if (!rc)
        rc = run_sql(db,
                     "DELETE FROM chunk_owners WHERE chunk_id IN (SELECT c.id FROM chunks c "
                     "WHERE c.created <= ? AND NOT EXISTS (SELECT 1 FROM blob_chunks bc WHERE "
                     "bc.chunk_id = c.id))",
                     now - o->grace_seconds, NULL, err);
    if (!rc)
        rc = run_sql(db,
                     "DELETE FROM chunks WHERE created <= ? AND NOT EXISTS (SELECT 1 FROM "
                     "blob_chunks bc WHERE bc.chunk_id = chunks.id)",
                     now - o->grace_seconds, &chunks, err);
    /* 3. packs left without chunks are retired */
    if (!rc)
        rc = run_sql2(db,
                      "UPDATE packs SET retired = ? WHERE retired IS NULL AND "
                      "created <= ? AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.pack_id = "
                      "packs.id)",
                      sl__now(), now - o->grace_seconds, &retired, err);
    if (!rc)
        rc = sl_db_commit(db, err);
    if (rc) {
        sl_db_rollback(db);
        goto out;
    }
    /* 4. mostly-dead packs are rewritten */
    {
        struct sl_stmt *st = sl_db_stmt(
            db,
            "SELECT p.id, p.name FROM packs p WHERE p.retired IS NULL AND p.created <= ? AND "
            "(SELECT coalesce(sum(length), 0) FROM chunks c WHERE c.pack_id = p.id) <= p.size * "
            "CAST(? AS DOUBLE PRECISION)",
            err);
        int64_t *ids = NULL;
        char(*names)[SL_PACK_NAME_LEN + 1] = NULL;
        size_t n = 0;
        if (!st) {
            rc = err->code;
            goto out;
        }
        sl_stmt_int(st, 1, now - o->grace_seconds);
        sl_stmt_real(st, 2, o->compact_below);
        int srow;
        while ((srow = sl_stmt_step(st, err)) == 1) {
            ids = sl_xrealloc(ids, (n + 1) * sizeof(*ids));
            names = sl_xrealloc(names, (n + 1) * sizeof(*names));
            ids[n] = sl_stmt_col_int(st, 0);
            snprintf(names[n], sizeof(names[n]), "%s", sl_stmt_col_text(st, 1));
            n++;
        }
        sl_stmt_done(st);
        if (srow < 0) {
            free(ids);
            free(names);
            rc = err->code;
            goto out;
        }
        for (size_t i = 0; i < n && !rc; i++) {
            rc = compact(r, db, ids[i], names[i], &moved, err);
            if (!rc)
                compacted++;
        }
        free(ids);
        free(names);
        if (rc)
            goto out;
    }
    /* 5. retired packs, once old enough, are deleted */
    {
        struct sl_stmt *st = sl_db_stmt(
            db,
            "SELECT p.id, p.name FROM packs p WHERE p.retired IS NOT NULL AND p.retired <= ? AND "
            "NOT EXISTS (SELECT 1 FROM chunks c WHERE c.pack_id = p.id)",
            err);
        int64_t *ids = NULL;
        char(*names)[SL_PACK_NAME_LEN + 1] = NULL;
        size_t n = 0;
        if (!st) {
            rc = err->code;
            goto out;
        }
        sl_stmt_int(st, 1, now - o->retire_seconds);
        int srow;
        while ((srow = sl_stmt_step(st, err)) == 1) {
            ids = sl_xrealloc(ids, (n + 1) * sizeof(*ids));
            names = sl_xrealloc(names, (n + 1) * sizeof(*names));
            ids[n] = sl_stmt_col_int(st, 0);
            snprintf(names[n], sizeof(names[n]), "%s", sl_stmt_col_text(st, 1));
            n++;
        }
        sl_stmt_done(st);
        if (srow < 0) {
            free(ids);
            free(names);
            rc = err->code;
            goto out;
        }
        for (size_t i = 0; i < n && !rc; i++) {
            /* the row goes first: a crash between leaves a stray file, not a
             * row naming a missing file */
            rc = run_sql(db, "DELETE FROM packs WHERE id = ?", ids[i], NULL, err);
            if (!rc) {
                sl_store_remove(r->store, names[i], NULL);
                sl_store_drop(r->store, ids[i]);
                deleted++;
            }
        }
        free(ids);
        free(names);
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

enum sl_err sl_reg_fsck(struct sl_registry *r, json_t **report, bool *ok, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_stmt *st;
    json_t *problems = json_array(), *foreign = json_array();
    unsigned char *buf = sl_xmalloc(SL_CDC_MAX);
    int64_t nchunks = 0, nblobs = 0, nversions = 0, npacks = 0;
    uint64_t bytes = 0;
    enum sl_err rc = SL_OK;
    int row;

    *report = NULL;
    if (!db) {
        rc = err->code;
        goto out;
    }
    rc = sl_db_begin_read(db, err);
    if (rc)
        goto out;
    /* packs: file present and long enough */
    st = sl_db_stmt(db, "SELECT id, name, size FROM packs WHERE retired IS NULL", err);
    if (!st)
        goto fail;
    while ((row = sl_stmt_step(st, err)) == 1) {
        uint64_t size = 0;
        struct sl_error serr;
        enum sl_err src = sl_store_stat(r->store, sl_stmt_col_text(st, 1), &size, &serr);
        npacks++;
        if (src == SL_ENOTFOUND)
            problem(problems, "pack %s: file missing", sl_stmt_col_text(st, 1));
        else if (src)
            problem(problems, "pack %s: %s", sl_stmt_col_text(st, 1), serr.msg);
        else if (size < (uint64_t)sl_stmt_col_int(st, 2))
            problem(problems, "pack %s: file has %lld bytes, %lld recorded",
                    sl_stmt_col_text(st, 1), (long long)size, (long long)sl_stmt_col_int(st, 2));
    }
    sl_stmt_done(st);
    /* objects in the store that are not sluice packs: reported, never removed */
    rc = sl_store_list(r->store, note_foreign, foreign, err);
    if (rc) {
        sl_db_rollback(db);
        goto out;
    }
    /* chunks: every byte re-hashed */
    st = sl_db_stmt(db,
                    "SELECT c.hash, c.pack_id, p.name, c.pack_offset, c.length FROM chunks c JOIN "
                    "packs p ON p.id = c.pack_id ORDER BY c.pack_id, c.pack_offset",
                    err);
    if (!st)
        goto fail;
    while ((row = sl_stmt_step(st, err)) == 1) {
        size_t hn;
        const unsigned char *h = sl_stmt_col_blob(st, 0, &hn);
        size_t len = (size_t)sl_stmt_col_int(st, 4);
        unsigned char got[32];
        char hex[65];
        struct sl_error rerr;
        nchunks++;
        if (hn != 32 || len == 0 || len > SL_CDC_MAX) {
            problem(problems, "chunk row %lld: malformed", (long long)nchunks);
            continue;
        }
        sl_hex(h, 32, hex);
        if (sl_store_read(r->store, sl_stmt_col_int(st, 1), sl_stmt_col_text(st, 2), buf, len,
                          (uint64_t)sl_stmt_col_int(st, 3), &rerr) != SL_OK) {
            problem(problems, "chunk %s: %s", hex, rerr.msg);
            continue;
        }
        sl_sha256(buf, len, got);
        bytes += len;
        if (memcmp(got, h, 32) != 0)
            problem(problems, "chunk %s: stored bytes do not hash to its id (pack %s at %lld)", hex,
                    sl_stmt_col_text(st, 2), (long long)sl_stmt_col_int(st, 3));
    }
    sl_stmt_done(st);
    if (row < 0)
        goto fail;
    /* files: chunks contiguous, sizes add up, whole file re-hashed */
    {
        struct sl_stmt *bs = sl_db_stmt(db, "SELECT id, sha256, size FROM blobs", err);
        if (!bs)
            goto fail;
        while ((row = sl_stmt_step(bs, err)) == 1) {
            size_t hn;
            const unsigned char *want = sl_stmt_col_blob(bs, 1, &hn);
            int64_t id = sl_stmt_col_int(bs, 0);
            uint64_t size = (uint64_t)sl_stmt_col_int(bs, 2), off = 0;
            struct sl_sha256_ctx *h = sl_sha256_new();
            unsigned char got[32], wantc[32];
            char hex[65];
            bool bad = false;
            struct sl_stmt *cs = sl_db_stmt(
                db,
                "SELECT bc.file_offset, c.length, c.pack_id, p.name, c.pack_offset FROM "
                "blob_chunks bc LEFT JOIN chunks c ON c.id = bc.chunk_id LEFT JOIN packs p ON "
                "p.id = c.pack_id WHERE bc.blob_id = ? ORDER BY bc.idx",
                err);
            nblobs++;
            memcpy(wantc, want, hn == 32 ? 32 : 0);
            sl_hex(wantc, 32, hex);
            if (!cs) {
                sl_sha256_free(h);
                goto fail;
            }
            sl_stmt_int(cs, 1, id);
            while (!bad && sl_stmt_step(cs, err) == 1) {
                size_t len = (size_t)sl_stmt_col_int(cs, 1);
                struct sl_error rerr;
                if (sl_stmt_col_null(cs, 2)) {
                    problem(problems, "file %s: a chunk it needs is missing", hex);
                    bad = true;
                } else if ((uint64_t)sl_stmt_col_int(cs, 0) != off) {
                    problem(problems, "file %s: chunk offsets are not contiguous at %llu", hex,
                            (unsigned long long)off);
                    bad = true;
                } else if (sl_store_read(r->store, sl_stmt_col_int(cs, 2), sl_stmt_col_text(cs, 3),
                                         buf, len, (uint64_t)sl_stmt_col_int(cs, 4),
                                         &rerr) != SL_OK) {
                    problem(problems, "file %s: %s", hex, rerr.msg);
                    bad = true;
                } else {
                    sl_sha256_update(h, buf, len);
                    off += len;
                }
            }
            sl_stmt_done(cs);
            sl_sha256_final(h, got);
            if (!bad && off != size)
                problem(problems, "file %s: chunks hold %llu bytes, %llu recorded", hex,
                        (unsigned long long)off, (unsigned long long)size);
            else if (!bad && memcmp(got, wantc, 32) != 0)
                problem(problems, "file %s: its chunks do not hash to it", hex);
        }
        sl_stmt_done(bs);
    }
    /* versions: commit digest matches the manifest */
    st = sl_db_stmt(db, "SELECT commit_hash, manifest FROM versions", err);
    if (!st)
        goto fail;
    while ((row = sl_stmt_step(st, err)) == 1) {
        const char *m = sl_stmt_col_text(st, 1);
        unsigned char h[32];
        char hex[65];
        nversions++;
        sl_sha256(m, strlen(m), h);
        sl_hex(h, 32, hex);
        if (strcmp(hex, sl_stmt_col_text(st, 0)) != 0)
            problem(problems, "version %s: manifest does not hash to its commit",
                    sl_stmt_col_text(st, 0));
    }
    sl_stmt_done(st);
    sl_db_rollback(db);
    *ok = json_array_size(problems) == 0;
    *report = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:O, s:O}", "ok", *ok, "packs",
                        (json_int_t)npacks, "chunks", (json_int_t)nchunks, "bytes",
                        (json_int_t)bytes, "files", (json_int_t)nblobs, "versions",
                        (json_int_t)nversions, "problems", problems, "foreign_objects", foreign);
    goto out;
fail:
    rc = err->code;
    sl_db_rollback(db);
out:
    json_decref(problems);
    json_decref(foreign);
    free(buf);
    return rc;
}
