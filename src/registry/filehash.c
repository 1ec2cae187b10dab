/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streamed file digests: a push names each large file's chunk uploads with a
 * session id and the index of their first chunk (?file=ID&from=K), and the
 * server computes the file's SHA-256 from the chunk bytes as they arrive, in
 * file order, so registering the file (POST .../files/{sha}?session=ID)
 * compares that digest instead of reading the whole file back from the packs.
 *
 * Only bytes the server verified itself enter a digest: each chunk's bytes
 * are checked against its id before they are hashed, the digest of the ids
 * hashed is kept beside it, and registration accepts the streamed part only
 * when those ids are the first ones of the chunk list it registers; the rest
 * of the file (chunks that were deduplicated, sent out of order and not yet
 * caught up, or after any irregularity) is read back from the packs as
 * before. A session lives in this process's memory only: after a restart, on
 * another server, or when the table is full, registration reads the file back.
 *
 * A push sends a file's requests on several streams at once, so most of them
 * arrive while an earlier one is still being received: ahead of their turn.
 * Such a request gets a window when the shared budget allows (FH_WINDOW_MAX
 * bytes for all sessions): its verified chunk bytes are kept in memory, and
 * when its turn comes they are hashed from there. Without a window (budget
 * spent, a body too large) its chunks are read back from its pack instead,
 * which with packs written past the page cache means from the disk.
 */
#include "registry/registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "common/banned.h"

#define FH_SESSIONS_MAX 64           /* sessions held at once */
#define FH_RANGES_MAX   16           /* out-of-order requests held per session */
#define FH_PENDING_MAX  (256u << 10) /* chunk entries held in all sessions */
#define FH_IDLE_S       600          /* an idle session may be dropped after this */
#define FH_WINDOW_REQ   (16u << 20)  /* the largest body that gets a window (a push's request) */
#define FH_WINDOW_MAX   (192u << 20) /* window bytes reserved in all sessions */

struct fh_range {
    uint64_t from;
    size_t n;
    struct sl__fh_chunk *v; /* owned */
    int64_t pack_id;
    char pack[SL_PACK_NAME_LEN + 1];
    unsigned char *bytes; /* the chunks' bytes in order (a window), or NULL: read the pack */
    size_t held;          /* window bytes reserved for it */
};

struct sl__fh {
    int64_t org_id;
    unsigned char sid[SL_FH_SID_LEN];
    struct sl_sha256_ctx *bytes; /* over the file's bytes so far */
    struct sl_sha256_ctx *ids;   /* over the ids of those chunks */
    uint64_t next;               /* chunks hashed */
    uint64_t nbytes;
    uint64_t nread; /* of those, bytes read back from the packs (catch_up) */
    bool busy;      /* a request is hashing into it */
    bool broken;    /* registration must read the whole file back */
    int refs;       /* requests holding it */
    time_t used;
    struct fh_range ranges[FH_RANGES_MAX];
    size_t nranges;
};

struct sl__fh_table {
    pthread_mutex_t lock;
    struct sl__fh *s[FH_SESSIONS_MAX];
    size_t pending; /* chunk entries in all ranges */
    size_t window;  /* window bytes reserved, all sessions */
};

struct sl__fh_table *sl__fh_table_new(void)
{
    struct sl__fh_table *t = sl_xcalloc(1, sizeof(*t));

    pthread_mutex_init(&t->lock, NULL);
    return t;
}

static void drop_ranges(struct sl__fh_table *t, struct sl__fh *s)
{
    for (size_t i = 0; i < s->nranges; i++) {
        t->pending -= s->ranges[i].n;
        t->window -= s->ranges[i].held;
        free(s->ranges[i].v);
        free(s->ranges[i].bytes);
    }
    s->nranges = 0;
}

static void fh_free(struct sl__fh_table *t, struct sl__fh *s)
{
    drop_ranges(t, s);
    sl_sha256_free(s->bytes);
    sl_sha256_free(s->ids);
    free(s);
}

void sl__fh_table_free(struct sl__fh_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < FH_SESSIONS_MAX; i++)
        if (t->s[i])
            fh_free(t, t->s[i]);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int find(struct sl__fh_table *t, int64_t org_id, const unsigned char *sid)
{
    for (int i = 0; i < FH_SESSIONS_MAX; i++)
        if (t->s[i] && t->s[i]->org_id == org_id && memcmp(t->s[i]->sid, sid, SL_FH_SID_LEN) == 0)
            return i;
    return -1;
}

struct sl__fh *sl__fh_open(struct sl_registry *r, int64_t org_id,
                           const unsigned char sid[SL_FH_SID_LEN], uint64_t from, uint64_t body_len,
                           bool *inline_, size_t *window)
{
    struct sl__fh_table *t = r->fh;
    struct sl__fh *s = NULL;
    time_t now = time(NULL);
    int i;

    *inline_ = false;
    *window = 0;
    pthread_mutex_lock(&t->lock);
    i = find(t, org_id, sid);
    if (i < 0) {
        /* a free slot, else the longest idle session nobody holds */
        int victim = -1;
        for (int k = 0; k < FH_SESSIONS_MAX && i < 0; k++) {
            if (!t->s[k])
                i = k;
            else if (t->s[k]->refs == 0 && now - t->s[k]->used > FH_IDLE_S &&
                     (victim < 0 || t->s[k]->used < t->s[victim]->used))
                victim = k;
        }
        if (i < 0 && victim >= 0) {
            fh_free(t, t->s[victim]);
            t->s[victim] = NULL;
            i = victim;
        }
        if (i < 0)
            goto out; /* full: registration reads the file back */
        s = sl_xcalloc(1, sizeof(*s));
        s->org_id = org_id;
        memcpy(s->sid, sid, SL_FH_SID_LEN);
        s->bytes = sl_sha256_new();
        s->ids = sl_sha256_new();
        t->s[i] = s;
    }
    s = t->s[i];
    s->refs++;
    s->used = now;
    if (!s->broken && !s->busy && s->next == from) {
        s->busy = true;
        *inline_ = true;
    } else if (from < s->next) {
        /* a request over chunks already hashed (a resend, or a lie) */
        s->broken = true;
    } else if (!s->broken && from > s->next && body_len <= FH_WINDOW_REQ &&
               t->window + body_len <= FH_WINDOW_MAX) {
        /* ahead of its turn: hold its bytes in memory till then */
        *window = (size_t)body_len;
        t->window += *window;
    }
out:
    pthread_mutex_unlock(&t->lock);
    return s;
}

static void fh_feed(struct sl__fh *s, const unsigned char id[32], const void *bytes, uint32_t len)
{
    /* the caller holds `busy`: nobody else touches the digests */
    sl_sha256_update(s->bytes, bytes, len);
    sl_sha256_update(s->ids, id, 32);
    s->next++;
    s->nbytes += len;
}

void sl__fh_feed_hash(struct sl__fh *s, const void *bytes, uint32_t len, unsigned char id[32])
{
    sl_sha256_update_and_digest(s->bytes, bytes, len, bytes, len, id);
    sl_sha256_update(s->ids, id, 32);
    s->next++;
    s->nbytes += len;
}

/* Hashes the out-of-order ranges that now follow on, reading their chunks
 * back from the packs (just written: the page cache holds them). Called with
 * the lock held and `busy` taken; drops the lock while it reads. */
static void catch_up(struct sl_registry *r, struct sl__fh_table *t, struct sl__fh *s)
{
    unsigned char *buf = NULL;

    for (;;) {
        struct fh_range rg;
        size_t k;
        bool ok = true;
        for (k = 0; k < s->nranges; k++)
            if (s->ranges[k].from == s->next)
                break;
        if (k == s->nranges || s->broken)
            break;
        rg = s->ranges[k];
        s->ranges[k] = s->ranges[--s->nranges];
        t->pending -= rg.n;
        pthread_mutex_unlock(&t->lock);
        if (rg.bytes) {
            /* Each chunk was checked against its id as it arrived, from
             * these very bytes, and is durable in a pack or was already. */
            const unsigned char *b = rg.bytes;
            for (size_t i = 0; i < rg.n; i++) {
                fh_feed(s, rg.v[i].hash, b, rg.v[i].length);
                b += rg.v[i].length;
            }
        } else {
            if (!buf)
                buf = sl_xmalloc(SL_CDC_MAX);
            /* Each chunk was checked against its id as it arrived and
             * stored in this pack; the packs are read back as registration
             * would. */
            for (size_t i = 0; i < rg.n && ok; i++) {
                struct sl_error err;
                ok = sl_store_read(r->store, rg.pack_id, rg.pack, buf, rg.v[i].length,
                                   rg.v[i].pack_offset, &err) == SL_OK;
                if (ok) {
                    fh_feed(s, rg.v[i].hash, buf, rg.v[i].length);
                    s->nread += rg.v[i].length;
                }
            }
        }
        free(rg.v);
        free(rg.bytes);
        pthread_mutex_lock(&t->lock);
        t->window -= rg.held;
        if (!ok) {
            s->broken = true;
            break;
        }
    }
    free(buf);
}

void sl__fh_close(struct sl_registry *r, struct sl__fh *s, bool inline_, bool committed,
                  uint64_t from, const struct sl__fh_chunk *v, size_t n, int64_t pack_id,
                  const char *pack, unsigned char *win, size_t win_len, size_t window)
{
    struct sl__fh_table *t = r->fh;
    bool located = true;
    uint64_t sum = 0;

    if (!s) {
        free(win);
        return;
    }
    for (size_t i = 0; i < n && !inline_; i++) {
        if (v[i].pack_offset == UINT64_MAX)
            located = false; /* deduplicated: not in this request's pack */
        sum += v[i].length;
    }
    if (win && sum != win_len) {
        free(win); /* cannot happen; read back rather than hash the wrong bytes */
        win = NULL;
    }
    pthread_mutex_lock(&t->lock);
    s->used = time(NULL);
    if (!committed) {
        /* a request that hashed part of its chunks and then failed: the
         * digest may run ahead of what is stored */
        if (inline_)
            s->broken = true;
    } else if (!inline_ && n > 0) {
        /* A range that cannot be read back from this request's pack, over
         * the limits, or over chunks already hashed is left out: the
         * digest then stops before it, and registration reads the rest. */
        if ((win || (located && pack)) && s->nranges < FH_RANGES_MAX &&
            t->pending + n <= FH_PENDING_MAX && from >= s->next) {
            struct fh_range *rg = &s->ranges[s->nranges++];
            rg->from = from;
            rg->n = n;
            rg->v = sl_xmalloc(n * sizeof(*v));
            memcpy(rg->v, v, n * sizeof(*v));
            rg->pack_id = pack_id;
            snprintf(rg->pack, sizeof(rg->pack), "%s", pack ? pack : "");
            rg->bytes = win;
            rg->held = win ? window : 0;
            t->pending += n;
            if (win) {
                win = NULL;
                window = 0;
            }
        }
    }
    free(win);
    t->window -= window; /* a window not handed to a range */
    if (inline_)
        s->busy = false;
    if (s->broken)
        drop_ranges(t, s);
    else if (!s->busy) {
        s->busy = true;
        catch_up(r, t, s);
        s->busy = false;
    }
    s->refs--;
    pthread_mutex_unlock(&t->lock);
}

bool sl__fh_take(struct sl_registry *r, int64_t org_id, const unsigned char sid[SL_FH_SID_LEN],
                 struct sl_sha256_ctx **bytes, uint64_t *next, uint64_t *nbytes, uint64_t *nread,
                 unsigned char ids[32])
{
    struct sl__fh_table *t = r->fh;
    struct sl__fh *s;
    bool ok = false;
    int i;

    pthread_mutex_lock(&t->lock);
    i = find(t, org_id, sid);
    if (i < 0)
        goto out;
    s = t->s[i];
    if (s->refs > 0) {
        /* a request still uploads into it: leave it, read the file back */
        goto out;
    }
    t->s[i] = NULL;
    if (!s->broken) {
        *bytes = s->bytes;
        s->bytes = NULL;
        sl_sha256_final(s->ids, ids);
        s->ids = NULL;
        *next = s->next;
        *nbytes = s->nbytes;
        *nread = s->nread;
        ok = true;
    }
    fh_free(t, s);
out:
    pthread_mutex_unlock(&t->lock);
    return ok;
}
