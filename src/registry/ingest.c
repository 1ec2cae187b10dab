/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk uploads. The body is a run of frames (SHA-256, u32 LE length,
 * bytes). Each chunk is re-hashed as it arrives; new bytes go to one new pack
 * file. At the end the pack is fsynced and renamed into place, and only then
 * does one transaction record the pack, the chunks and this org's ownership.
 * A chunk this org stored before is not stored twice. One that only another
 * org stored is handled exactly like a new one (this org must send its bytes,
 * proof that it has them, and they are written), so neither answers nor
 * timing tell anyone what others uploaded; gc reclaims the second copy.
 * An upload naming a file session (?file=ID&from=K) also feeds the file's
 * streamed SHA-256 (filehash.c) with the chunks it verified, or, when it
 * arrived ahead of its turn and got a window, keeps their bytes in memory
 * for the file digest to hash when their turn comes.
 */
#include "registry/registry_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/strmap.h"
#include "common/util.h"
#include "db/repo_chunks.h"
#include "common/banned.h"

enum sl_err sl_reg_chunks_missing(struct sl_registry *r, int64_t org_id,
                                  const unsigned char (*ids)[32], size_t n, bool *missing,
                                  struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_db_begin_read(db, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        bool owned;
        rc = sl_repo_chunk_is_owned(db, ids[i], org_id, &owned, err);
        missing[i] = !owned;
    }
    sl_db_rollback(db); /* read only */
    return rc;
}

struct sl_ingest {
    struct sl_registry *r;
    int64_t org_id;
    uint64_t body_len, received;
    struct sl_pack_writer *pack;
    unsigned char hdr[36];
    size_t hdr_len;
    unsigned char *chunk;  /* SL_CDC_MAX bytes */
    unsigned char *chunk2; /* another, while a chunk is held in `chunk` */
    unsigned char *cur;    /* where the current chunk's bytes go: `chunk`, or the window */
    uint32_t need;         /* bytes of the current chunk still to come */
    uint32_t have;
    struct sl__fh_chunk *v;
    size_t n, cap;
    struct sl_strmap seen; /* hashes in this upload (keys in `arena`) */
    struct sl_arena arena;
    uint64_t bytes_new, bytes_dedup;
    /* a streamed file digest (filehash.c): the frames are the file's
     * chunks from index fh_from on */
    struct sl__fh *fh;
    bool fh_inline;
    uint64_t fh_from;
    /* the window (filehash.c): this request's verified chunk bytes, in
     * order, for the file digest; `window` bytes reserved at open */
    unsigned char *win;
    size_t win_len, window;
    /* a chunk received, its id not yet checked: ids are computed two at a
     * time (sl_sha256_pair), so a chunk waits for the next one or the end */
    struct {
        bool on;
        unsigned char decl[32];
        const unsigned char *bytes;
        uint32_t len;
        uint64_t at; /* its first byte in the body */
    } held;
};

enum sl_err sl_ingest_begin(struct sl_registry *r, int64_t org_id, uint64_t body_len,
                            const unsigned char *file_sid, uint64_t from, struct sl_ingest **out,
                            struct sl_error *err)
{
    struct sl_ingest *in;

    if (body_len > SL_PACK_MAX + SL_PACK_MAX / 128)
        return sl_error_set(err, SL_ELIMIT, "upload of %llu bytes is over the limit of %llu",
                            (unsigned long long)body_len,
                            (unsigned long long)(SL_PACK_MAX + SL_PACK_MAX / 128));
    in = sl_xcalloc(1, sizeof(*in));
    in->r = r;
    in->org_id = org_id;
    in->body_len = body_len;
    in->chunk = sl_xmalloc(SL_CDC_MAX);
    in->chunk2 = sl_xmalloc(SL_CDC_MAX);
    if (file_sid) {
        in->fh_from = from;
        in->fh = sl__fh_open(r, org_id, file_sid, from, body_len, &in->fh_inline, &in->window);
        if (in->window)
            in->win = sl_xmalloc(in->window);
    }
    *out = in;
    return SL_OK;
}

/* Returns true when this org already stored the chunk. One only another org
 * stored is written again, exactly like a new one, so neither the answer
 * ("deduplicated") nor the time taken tells anyone what others uploaded; the
 * second copy is left as dead bytes for the collector. */
static enum sl_err known_chunk(struct sl_ingest *in, const unsigned char *hash, bool *known,
                               struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(in->r, err);
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_repo_chunk_is_owned(db, hash, in->org_id, known, err);
    if (rc)
        return rc;
    /* Also known if this same upload already carried it. */
    if (!*known) {
        char *key = sl_arena_alloc(&in->arena, 32);
        memcpy(key, hash, 32);
        *known = !sl_strmap_insert(&in->seen, key, 32, 0, NULL);
    }
    return SL_OK;
}

/* Checks a chunk's computed id `got` against the declared `decl`, then
 * records the chunk and stores its bytes unless this org has them. */
static enum sl_err accept_chunk(struct sl_ingest *in, const unsigned char *decl,
                                const unsigned char *got, const unsigned char *bytes, uint32_t len,
                                uint64_t at, struct sl_error *err)
{
    char want_hex[65], got_hex[65];
    bool known = false;
    struct sl__fh_chunk *p;
    enum sl_err rc;

    if (memcmp(got, decl, 32) != 0) {
        sl_hex(decl, 32, want_hex);
        sl_hex(got, 32, got_hex);
        return sl_error_set(err, SL_EINPUT,
                            "chunk %zu (body byte %llu): its bytes hash to %s, not to the "
                            "declared %s",
                            in->n, (unsigned long long)at, got_hex, want_hex);
    }
    rc = known_chunk(in, got, &known, err);
    if (rc)
        return rc;
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 1024;
        in->v = sl_xrealloc(in->v, in->cap * sizeof(*in->v));
    }
    p = &in->v[in->n++];
    memcpy(p->hash, got, 32);
    p->length = len;
    p->pack_offset = UINT64_MAX;
    if (known) {
        in->bytes_dedup += len;
        return SL_OK;
    }
    if (!in->pack) {
        rc = sl_pack_begin(in->r->store, &in->pack, err);
        if (rc)
            return rc;
    }
    rc = sl_pack_append(in->pack, bytes, len, &p->pack_offset, err);
    if (!rc)
        in->bytes_new += len;
    return rc;
}

/* Checks and stores the held chunk, if any, on its own. */
static enum sl_err flush_held(struct sl_ingest *in, struct sl_error *err)
{
    unsigned char got[32];

    if (!in->held.on)
        return SL_OK;
    in->held.on = false;
    sl_sha256(in->held.bytes, in->held.len, got);
    return accept_chunk(in, in->held.decl, got, in->held.bytes, in->held.len, in->held.at, err);
}

/* The current chunk's bytes are all in (at in->cur). */
static enum sl_err finish_chunk(struct sl_ingest *in, struct sl_error *err)
{
    const unsigned char *bytes = in->cur;
    uint32_t len = in->have;
    uint64_t at = in->received - in->have;
    unsigned char got[32], held_got[32];
    enum sl_err rc;

    if (in->win)
        in->win_len += len; /* kept where it was received */
    if (in->fh_inline) {
        /* In turn, the file's digest takes the bytes while their id is
         * computed (one pass for both); a mismatch fails the request, which
         * spoils the session (filehash.c), so the digest never vouches for
         * them. */
        sl__fh_feed_hash(in->fh, bytes, len, got);
        return accept_chunk(in, in->hdr, got, bytes, len, at, err);
    }
    if (!in->held.on) {
        in->held.on = true;
        memcpy(in->held.decl, in->hdr, 32);
        in->held.bytes = bytes;
        in->held.len = len;
        in->held.at = at;
        if (!in->win) {
            /* the next chunk goes to the other buffer */
            unsigned char *t = in->chunk;
            in->chunk = in->chunk2;
            in->chunk2 = t;
        }
        return SL_OK;
    }
    sl_sha256_pair(in->held.bytes, in->held.len, held_got, bytes, len, got);
    in->held.on = false;
    rc = accept_chunk(in, in->held.decl, held_got, in->held.bytes, in->held.len, in->held.at, err);
    if (!rc)
        rc = accept_chunk(in, in->hdr, got, bytes, len, at, err);
    return rc;
}

enum sl_err sl_ingest_feed(struct sl_ingest *in, const void *data, size_t n, struct sl_error *err)
{
    const unsigned char *p = data;
    enum sl_err rc;

    if (n > in->body_len - in->received)
        return sl_error_set(err, SL_EINPUT, "the body is longer than its Content-Length");
    while (n > 0) {
        if (in->need == 0) {
            size_t take = sizeof(in->hdr) - in->hdr_len;
            if (take > n)
                take = n;
            memcpy(in->hdr + in->hdr_len, p, take);
            in->hdr_len += take;
            in->received += take;
            p += take;
            n -= take;
            if (in->hdr_len < sizeof(in->hdr))
                break;
            in->need = sl_load_le32(in->hdr + 32);
            in->have = 0;
            if (in->need == 0 || in->need > SL_CDC_MAX)
                return sl_error_set(err, SL_EINPUT,
                                    "chunk %zu (body byte %llu): length %u is not between 1 "
                                    "and %u",
                                    in->n, (unsigned long long)(in->received - 4), in->need,
                                    SL_CDC_MAX);
            if (in->win && in->win_len + in->need > in->window) {
                /* cannot happen (the body holds the chunks) */
                rc = flush_held(in, err); /* it may point into the window */
                if (rc)
                    return rc;
                free(in->win);
                in->win = NULL;
            }
            in->cur = in->win ? in->win + in->win_len : in->chunk;
            continue;
        }
        {
            size_t take = in->need - in->have;
            if (take > n)
                take = n;
            memcpy(in->cur + in->have, p, take);
            in->have += (uint32_t)take;
            in->received += take;
            p += take;
            n -= take;
        }
        if (in->have == in->need) {
            rc = finish_chunk(in, err);
            if (rc)
                return rc;
            in->need = 0;
            in->hdr_len = 0;
        }
    }
    return SL_OK;
}

enum sl_err sl_ingest_finish(struct sl_ingest *in, json_t **result, struct sl_error *err)
{
    struct sl_db *db;
    char name[SL_PACK_NAME_LEN + 1] = "";
    int64_t pack_id = 0, now = sl__now();
    enum sl_err rc;

    if (in->received != in->body_len || in->need != 0 || in->hdr_len != 0) {
        rc = sl_error_set(err, SL_EINPUT, "the body ended inside a frame (got %llu of %llu bytes)",
                          (unsigned long long)in->received, (unsigned long long)in->body_len);
        goto out;
    }
    rc = flush_held(in, err);
    if (rc)
        goto out;
    if (in->pack) {
        uint64_t size = sl_pack_size(in->pack);
        rc = sl_pack_seal(in->pack, name, err);
        in->pack = NULL;
        if (rc)
            goto out;
        db = sl_reg_db(in->r, err);
        if (!db) {
            rc = err->code;
            goto out_unlink;
        }
        rc = sl_db_begin(db, err);
        if (rc)
            goto out_unlink;
        rc = sl_repo_pack_insert(db, name, size, now, &pack_id, err);
        if (rc)
            goto out_rollback;
    } else {
        db = sl_reg_db(in->r, err);
        if (!db) {
            rc = err->code;
            goto out;
        }
        rc = sl_db_begin(db, err);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < in->n; i++) {
        struct sl__fh_chunk *p = &in->v[i];
        if (p->pack_offset != UINT64_MAX) {
            /* Another upload may have stored it meanwhile: keep theirs; ours
             * becomes dead bytes for the collector. */
            rc = sl_repo_chunk_insert(db, p->hash, pack_id, p->pack_offset, p->length, now, err);
            if (rc)
                goto out_rollback;
        }
        rc = sl_repo_chunk_owner_add(db, p->hash, in->org_id, err);
        if (rc)
            goto out_rollback;
    }
    rc = sl_db_commit(db, err);
    if (rc)
        goto out_rollback;
    /* durable and recorded: the file digest may read them back */
    sl__fh_close(in->r, in->fh, in->fh_inline, true, in->fh_from, in->v, in->n, pack_id,
                 name[0] ? name : NULL, in->win, in->win_len, in->window);
    in->fh = NULL;
    in->win = NULL;
    *result = json_pack("{s:I, s:I, s:I}", "stored", (json_int_t)in->n, "bytes",
                        (json_int_t)in->bytes_new, "deduplicated", (json_int_t)in->bytes_dedup);
    goto out;
out_rollback:
    sl_db_rollback(db);
out_unlink:
    if (name[0])
        sl_store_remove(in->r->store, name, NULL);
out:
    sl_ingest_abort(in);
    return rc;
}

void sl_ingest_abort(struct sl_ingest *in)
{
    if (!in)
        return;
    if (in->fh)
        sl__fh_close(in->r, in->fh, in->fh_inline, false, in->fh_from, NULL, 0, 0, NULL, in->win, 0,
                     in->window);
    else
        free(in->win);
    sl_pack_abort(in->pack);
    free(in->chunk);
    free(in->chunk2);
    free(in->v);
    sl_strmap_release(&in->seen);
    sl_arena_release(&in->arena);
    free(in);
}
