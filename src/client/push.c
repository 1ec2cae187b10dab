/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice push: hash the files (scan.c) on their own threads while this one
 * uploads what is already hashed, round by round: ask the server which
 * chunks it lacks, send only those in framed requests of up to 16 MiB over
 * several parallel streams, register each file once all its chunks are
 * sent, then commit the version manifest with the facts, tier and license.
 * An interrupted push run again uploads only what is still missing, and the
 * scan cache spares it the hashing.
 */
#include "client/client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "store/store.h"
#include "common/banned.h"

#define MISSING_BATCH   200000u
#define JSON_BODY_MAX   (64u << 20)
#define FILE_CHUNKS_MAX ((64u << 20) / 32) /* chunk ids in one file registration */
#define DEFAULT_STREAMS 4
#define SESSION_ID_LEN  16
/* Files from this size on name a session in their chunk uploads (?file=,
 * docs/formats/chunk-upload.md): the server then hashes them as the chunks
 * arrive instead of reading them back at registration. Smaller files share
 * requests with others and are read back, which costs little. */
#define SESSION_MIN (16u << 20)

/* ---- frames ---- */

void sl__cl_frame_header(unsigned char out[SL_FRAME_HEADER], const unsigned char id[SL_SHA256_LEN],
                         uint32_t len)
{
    memcpy(out, id, SL_SHA256_LEN);
    out[32] = (unsigned char)len;
    out[33] = (unsigned char)(len >> 8);
    out[34] = (unsigned char)(len >> 16);
    out[35] = (unsigned char)(len >> 24);
}

size_t sl__cl_plan_requests(const uint32_t *lens, size_t n, uint64_t max, size_t *starts)
{
    size_t nreq = 0;
    uint64_t cur = 0;

    for (size_t i = 0; i < n; i++) {
        uint64_t f = SL_FRAME_HEADER + (uint64_t)lens[i];
        if (i == 0 || cur + f > max) {
            starts[nreq++] = i;
            cur = 0;
        }
        cur += f;
    }
    starts[nreq] = n;
    return nreq;
}

/* ---- a set of chunk ids (open addressing; ids are uniform hashes) ---- */

struct idset {
    unsigned char (*ids)[SL_SHA256_LEN];
    unsigned char *state; /* 0 empty, else the caller's mark */
    size_t mask;
    size_t count;
};

static void idset_init(struct idset *s, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n)
        cap *= 2;
    s->ids = sl_xmalloc(cap * sizeof(*s->ids));
    s->state = sl_xcalloc(cap, 1);
    s->mask = cap - 1;
    s->count = 0;
}

static void idset_free(struct idset *s)
{
    free(s->ids);
    free(s->state);
}

/* Returns the slot of `id`, which is empty (state 0) when absent. */
static size_t idset_slot(const struct idset *s, const unsigned char *id)
{
    size_t i = (size_t)sl_load_le64(id) & s->mask;

    while (s->state[i] && memcmp(s->ids[i], id, SL_SHA256_LEN) != 0)
        i = (i + 1) & s->mask;
    return i;
}

/* Adds `id` with mark `state` (it must be absent); the set doubles when
 * half full. Returns its slot. */
static size_t idset_add(struct idset *s, const unsigned char *id, unsigned char state)
{
    size_t slot;

    if (2 * (s->count + 1) > s->mask + 1) {
        struct idset big;
        idset_init(&big, s->mask + 1);
        for (size_t i = 0; i <= s->mask; i++) {
            if (!s->state[i])
                continue;
            slot = idset_slot(&big, s->ids[i]);
            memcpy(big.ids[slot], s->ids[i], SL_SHA256_LEN);
            big.state[slot] = s->state[i];
        }
        big.count = s->count;
        idset_free(s);
        *s = big;
    }
    slot = idset_slot(s, id);
    memcpy(s->ids[slot], id, SL_SHA256_LEN);
    s->state[slot] = state;
    s->count++;
    return slot;
}

/* ---- upload ---- */

struct item {
    uint32_t file;
    uint32_t chunk;
};

struct push;

struct up_slot {
    struct push *p;
    struct sl_pool_slot *ps;
    char *url; /* this request's */
    size_t job;
    size_t item, end;     /* items of the request still to frame */
    unsigned char *frame; /* header + chunk bytes */
    size_t frame_len, frame_pos;
    int fd;
    uint32_t fd_file;
    uint64_t sent; /* chunk bytes handed to curl in this attempt */
    bool failed;
    struct sl_error err;
};

struct push {
    struct sl_client *cl;
    const struct sl_push_opts *o;
    struct sl_scan scan;
    /* the hashing thread (scan.c) and what it hands over */
    struct sl_scan_flow flow;
    struct sl_scan_opts so;
    pthread_t hasher;
    bool hasher_running;
    bool hash_finished; /* under flow.lock */
    enum sl_err hash_rc;
    struct sl_error hash_err;
    double t_start, t_hashed, t_first_upload;
    /* the upload's cursor: chunk `k` of file order[pos]; files before
     * order[reg] are registered */
    size_t pos, k, reg;
    struct idset set;   /* 1 the server has it, 2 missing, 3 sent in this push */
    struct item *items; /* this round's chunks to send */
    size_t nitems, items_cap;
    size_t *starts; /* request boundaries in items */
    size_t nreq;
    char *chunks_url;
    struct up_slot *slots;
    int nslots;
    uint64_t up_total;  /* chunk bytes uploaded (each missing chunk once) */
    uint64_t up_done;   /* of this round's finished requests */
    uint64_t done_base; /* file bytes of the rounds before this one */
    uint64_t reread;    /* bytes the server read back to check file digests */
    struct sl_cl_progress bar;
    /* per file: the session its chunk uploads name, so the server hashes
     * the file as the chunks arrive (has_sid false: none) */
    unsigned char (*sid)[SESSION_ID_LEN];
    bool *has_sid;
};

static const struct sl_cl_chunk *item_chunk(const struct push *p, size_t i)
{
    return &p->scan.files[p->items[i].file].chunks[p->items[i].chunk];
}

/* Loads the next frame of the slot's request; false with `u->err` set on
 * failure. */
static bool load_frame(struct push *p, struct up_slot *u)
{
    const struct item *it = &p->items[u->item];
    const struct sl_scan_file *f = &p->scan.files[it->file];
    const struct sl_cl_chunk *c = &f->chunks[it->chunk];
    struct stat st;

    if (u->fd < 0 || u->fd_file != it->file) {
        if (u->fd >= 0)
            close(u->fd);
        u->fd = open(f->src, O_RDONLY | O_CLOEXEC);
        if (u->fd < 0) {
            sl_error_set(&u->err, SL_EIO, "%s: cannot open: %s", f->src, strerror(errno));
            return false;
        }
        u->fd_file = it->file;
        /* The bytes must still be the ones scanned. The server re-hashes
         * every chunk and would refuse changed ones; this check names the
         * file, without hashing everything a second time. */
        if (fstat(u->fd, &st) != 0 || (uint64_t)st.st_size != f->size ||
            (uint64_t)st.st_ino != f->ino ||
            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != f->mtime_ns) {
            sl_error_set(&u->err, SL_EIO, "%s: changed since it was scanned; run the push again",
                         f->src);
            return false;
        }
    }
    if (sl_pread_full(u->fd, u->frame + SL_FRAME_HEADER, c->len, c->off, f->src, &u->err)) {
        /* shorter than it was when hashed: it changed under the push */
        if (fstat(u->fd, &st) == 0 && (uint64_t)st.st_size != f->size)
            sl_error_set(&u->err, SL_EIO,
                         "%s: changed since it was scanned (now %llu bytes, was %llu); run the "
                         "push again",
                         f->src, (unsigned long long)st.st_size, (unsigned long long)f->size);
        return false;
    }
    sl__cl_frame_header(u->frame, c->id, c->len);
    u->frame_len = SL_FRAME_HEADER + c->len;
    u->frame_pos = 0;
    u->item++;
    return true;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct up_slot *u = ud;
    size_t want = size * nitems, out = 0;

    /* --limit-rate: wait for the bucket (the pool resumes the transfer) */
    if (!sl__cl_rate_take(u->p->cl, u->ps, want))
        return CURL_READFUNC_PAUSE;
    while (out < want) {
        size_t n;
        if (u->frame_pos == u->frame_len) {
            if (u->item == u->end)
                break;
            if (!load_frame(u->p, u)) {
                u->failed = true;
                return CURL_READFUNC_ABORT;
            }
            u->sent += u->frame_len - SL_FRAME_HEADER;
        }
        n = u->frame_len - u->frame_pos;
        if (n > want - out)
            n = want - out;
        memcpy(buf + out, u->frame + u->frame_pos, n);
        u->frame_pos += n;
        out += n;
    }
    return out;
}

static size_t body_cb(char *ptr, size_t size, size_t n, void *ud)
{
    sl__cl_pool_slot_body(ud, ptr, size * n);
    return size * n;
}

static uint64_t request_bytes(const struct push *p, size_t job)
{
    uint64_t n = 0;

    for (size_t i = p->starts[job]; i < p->starts[job + 1]; i++)
        n += SL_FRAME_HEADER + item_chunk(p, i)->len;
    return n;
}

static void reset_slot(struct push *p, struct up_slot *u, size_t job)
{
    u->job = job;
    u->item = p->starts[job];
    u->end = p->starts[job + 1];
    u->frame_len = u->frame_pos = 0;
    u->sent = 0;
    u->failed = false;
    sl_error_clear(&u->err);
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
    struct up_slot *u = ud;

    /* Only a rewind to the start (a resend) is supported. */
    if (origin != SEEK_SET || off != 0)
        return CURL_SEEKFUNC_CANTSEEK;
    reset_slot(u->p, u, u->job);
    return CURL_SEEKFUNC_OK;
}

static enum sl_err up_start(void *ctx, struct sl_pool_slot *s, size_t job, struct sl_error *err)
{
    struct push *p = ctx;
    struct up_slot *u = &p->slots[s->index];
    const struct sl_curl_api *c = p->cl->c;

    const struct item *first = &p->items[p->starts[job]];

    reset_slot(p, u, job);
    u->ps = s;
    free(u->url);
    if (p->has_sid[first->file]) {
        char hex[2 * SESSION_ID_LEN + 1];
        sl_hex(p->sid[first->file], SESSION_ID_LEN, hex);
        u->url = sl_xasprintf("%s?file=%s&from=%u", p->chunks_url, hex, first->chunk);
    } else {
        u->url = sl_xstrdup(p->chunks_url);
    }
    sl__cl_http_setup(p->cl, s->easy, u->url, &s->headers, "Content-Type: application/octet-stream",
                      120);
    c->easy_setopt(s->easy, CURLOPT_POST, 1L);
    c->easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request_bytes(p, job));
    c->easy_setopt(s->easy, CURLOPT_READFUNCTION, read_cb);
    c->easy_setopt(s->easy, CURLOPT_READDATA, (void *)u);
    c->easy_setopt(s->easy, CURLOPT_SEEKFUNCTION, seek_cb);
    c->easy_setopt(s->easy, CURLOPT_SEEKDATA, (void *)u);
    c->easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, body_cb);
    c->easy_setopt(s->easy, CURLOPT_WRITEDATA, (void *)s);
    (void)err;
    return SL_OK;
}

static enum sl_pool_verdict up_finish(void *ctx, struct sl_pool_slot *s, CURLcode cc, long status,
                                      struct sl_error *err)
{
    struct push *p = ctx;
    struct up_slot *u = &p->slots[s->index];
    uint64_t bytes = 0;

    if (u->failed) {
        *err = u->err;
        return SL_POOL_FAIL;
    }
    for (size_t i = p->starts[s->job]; i < p->starts[s->job + 1]; i++)
        bytes += item_chunk(p, i)->len;
    u->sent = 0;
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        p->up_done += bytes;
        return SL_POOL_DONE;
    }
    if (cc != CURLE_OK)
        sl__cl_http_curl_error(p->cl, cc, s->errbuf, err);
    else
        sl__cl_http_status_error(status, s->body, s->body_len, "chunk upload", err);
    return sl__cl_http_retryable(cc, status) ? SL_POOL_RETRY : SL_POOL_FAIL;
}

/* The bar counts file bytes dealt with: rounds done (sent or found on the
 * server) and the bytes of this round's requests sent so far. */
static void up_tick(void *ctx)
{
    struct push *p = ctx;
    uint64_t done = p->done_base + p->up_done;

    for (int i = 0; i < p->nslots; i++)
        done += p->slots[i].sent;
    sl__cl_progress_set(&p->bar, done > p->scan.bytes ? p->scan.bytes : done);
}

/* ---- the steps ---- */

static char *model_path(const struct sl_push_opts *o, const char *tail)
{
    return sl_xasprintf("/api/v1/models/%s/%s%s", o->org, o->name, tail);
}

/* Appends `v` as JSON (compact, keys sorted). */
static void add_json(struct sl_buf *b, json_t *v)
{
    size_t n;
    char *t = sl_json_dump(v, 0, &n);

    (void)sl_buf_add(b, t, n);
    free(t);
}

/* Builds the commit body. Called once before anything is hashed (the
 * hashes are still zeros, which takes the same room), so a manifest too
 * large for the server fails at once, and again at the end. Files are named
 * by path, size and SHA-256; their chunk lists go to the server file by file
 * (register_file), so the body stays small however large the model. */
static enum sl_err build_commit(struct push *p, char **text, size_t *len, struct sl_error *err)
{
    /* Room past the limit for the last file's entry, the facts (4 MiB at
     * most) and the license (1 MiB): every append succeeds, and the length
     * is checked at the end. */
    struct sl_buf b = SL_BUF_INIT((size_t)JSON_BODY_MAX * 2);
    char hex[2 * SL_SHA256_LEN + 1];
    json_t *v;

    sl_buf_adds(&b, "{\"files\":[");
    for (size_t i = 0; i < p->scan.nfiles && b.len < JSON_BODY_MAX; i++) {
        const struct sl_scan_file *f = &p->scan.files[i];
        sl_buf_adds(&b, i ? ",{\"path\":" : "{\"path\":");
        v = json_string(f->rel);
        add_json(&b, v);
        json_decref(v);
        sl_hex(f->sha, SL_SHA256_LEN, hex);
        sl_buf_addf(&b, ",\"size\":%llu,\"sha256\":\"%s\"}", (unsigned long long)f->size, hex);
    }
    sl_buf_adds(&b, "],\"facts\":");
    add_json(&b, p->o->facts ? p->o->facts : json_null());
    sl_buf_adds(&b, ",\"tier\":");
    v = p->o->tier ? json_string(p->o->tier) : json_null();
    add_json(&b, v);
    json_decref(v);
    sl_buf_adds(&b, ",\"license\":");
    v = p->o->license ? json_string(p->o->license) : json_null();
    add_json(&b, v);
    json_decref(v);
    if (p->o->force)
        sl_buf_adds(&b, ",\"force\":true");
    if (sl_buf_addc(&b, '}') != SL_OK || b.len > JSON_BODY_MAX) {
        sl_buf_release(&b);
        return sl_error_set(err, SL_ELIMIT,
                            "the version manifest would be over the server's %u MiB limit for a "
                            "JSON body (%zu files); split the model into several repositories",
                            JSON_BODY_MAX >> 20, p->scan.nfiles);
    }
    *text = sl_buf_detach(&b, len);
    return SL_OK;
}

static enum sl_err too_many_chunks(const struct sl_scan_file *f, struct sl_error *err)
{
    return sl_error_set(err, SL_ELIMIT,
                        "%s: %zu chunks is more than one file may have (%u, about 128 GiB); split "
                        "the file",
                        f->rel, f->nchunks, FILE_CHUNKS_MAX);
}

/* Registers one file with the server from its chunk list (raw ids): the
 * server checks the chunks are this org's, re-hashes the bytes and keeps the
 * file for the commit. A file the server already holds answers at once. */
static enum sl_err register_file(struct push *p, const struct sl_scan_file *f, struct sl_error *err)
{
    char hex[2 * SL_SHA256_LEN + 1], sid[2 * SESSION_ID_LEN + 1] = "";
    unsigned char *ids;
    char *tail, *path;
    json_t *answer = NULL;
    long status = 0;
    enum sl_err rc;

    if (f->nchunks > FILE_CHUNKS_MAX)
        return too_many_chunks(f, err);
    ids = sl_xcalloc(f->nchunks + 1, SL_SHA256_LEN);
    for (size_t k = 0; k < f->nchunks; k++)
        memcpy(ids + k * SL_SHA256_LEN, f->chunks[k].id, SL_SHA256_LEN);
    sl_hex(f->sha, SL_SHA256_LEN, hex);
    if (p->has_sid[f - p->scan.files])
        sl_hex(p->sid[f - p->scan.files], SESSION_ID_LEN, sid);
    tail = sl_xasprintf("/files/%s?size=%llu%s%s", hex, (unsigned long long)f->size,
                        sid[0] ? "&session=" : "", sid);
    path = model_path(p->o, tail);
    free(tail);
    /* The server may re-read the file from its packs: allow it time. */
    rc = sl__cl_http_json(p->cl, "POST", path, (const char *)ids, f->nchunks * SL_SHA256_LEN, 3600,
                          &status, &answer, err);
    free(path);
    free(ids);
    if (rc)
        sl_error_prefix(err, "%s", f->rel);
    else if (json_is_integer(json_object_get(answer, "reread")))
        p->reread += (uint64_t)json_integer_value(json_object_get(answer, "reread"));
    json_decref(answer);
    return rc;
}

/* Asks which of `uniq` the server lacks; marks them 2 in `set` (1 = known). */
static enum sl_err find_missing(struct push *p, struct idset *set, unsigned char (*uniq)[32],
                                size_t nuniq, struct sl_error *err)
{
    char *path = model_path(p->o, "/chunks/missing");
    struct sl_buf body = SL_BUF_INIT((size_t)MISSING_BATCH * 70 + 64);
    char hex[2 * SL_SHA256_LEN + 1];
    enum sl_err rc = SL_OK;

    for (size_t at = 0; at < nuniq && !rc; at += MISSING_BATCH) {
        size_t end = nuniq - at > MISSING_BATCH ? at + MISSING_BATCH : nuniq, i;
        json_t *a = NULL, *v;
        sl_buf_reset(&body);
        sl_buf_adds(&body, "{\"chunks\":[");
        for (i = at; i < end; i++) {
            sl_hex(uniq[i], SL_SHA256_LEN, hex);
            sl_buf_addf(&body, "%s\"%s\"", i > at ? "," : "", hex);
        }
        sl_buf_adds(&body, "]}");
        rc = sl__cl_http_json(p->cl, "POST", path, body.data, body.len, 300, NULL, &a, err);
        if (rc) {
            sl_error_prefix(err, "%s/%s", p->o->org, p->o->name);
            break;
        }
        if (!json_is_array(json_object_get(a, "missing"))) {
            rc = sl_error_set(err, SL_EINTERNAL, "POST %s: the answer has no \"missing\" array",
                              path);
        }
        json_array_foreach(json_object_get(a, "missing"), i, v)
        {
            const char *s = json_string_value(v);
            unsigned char id[SL_SHA256_LEN];
            size_t slot;
            if (rc)
                break;
            if (!s || strlen(s) != 64 || !sl_unhex(s, 64, id, sizeof(id))) {
                rc = sl_error_set(err, SL_EINTERNAL,
                                  "POST %s: the answer holds a malformed chunk id", path);
                break;
            }
            slot = idset_slot(set, id);
            if (set->state[slot] != 1) {
                rc = sl_error_set(err, SL_EINTERNAL,
                                  "POST %s: the answer names chunk %s, which was not asked about",
                                  path, s);
                break;
            }
            set->state[slot] = 2;
        }
        json_decref(a);
    }
    sl_buf_release(&body);
    free(path);
    return rc;
}

/* ---- the pipeline: hashing on its own thread, the upload on this one ---- */

#define HASH_WINDOW (2ull << 30)  /* hashing runs at most this far ahead */
#define ROUND_MIN   (64u << 20)   /* file bytes hashed before a round starts */
#define ROUND_MAX   (1024u << 20) /* file bytes one round takes at most */

static void *hash_thread(void *arg)
{
    struct push *p = arg;
    struct sl_error e;
    enum sl_err rc;

    sl_error_clear(&e);
    rc = sl__cl_scan_hash(&p->scan, &p->so, &e);
    pthread_mutex_lock(&p->flow.lock);
    p->hash_rc = rc;
    p->hash_err = e;
    p->hash_finished = true;
    p->t_hashed = sl__cl_now();
    pthread_cond_broadcast(&p->flow.cond);
    pthread_mutex_unlock(&p->flow.lock);
    return NULL;
}

static struct sl_scan_file *file_at(struct push *p, size_t pos)
{
    return &p->scan.files[p->scan.order[pos]];
}

/* File bytes of chunks [a, b) of `f` (all published). */
static uint64_t span(const struct sl_scan_file *f, size_t a, size_t b)
{
    return a < b ? f->chunks[b - 1].off + f->chunks[b - 1].len - f->chunks[a].off : 0;
}

/* Hashed bytes ahead of the cursor, up to `cap`; *all_done when every file
 * from the cursor on is hashed. */
static uint64_t ready_ahead(struct push *p, uint64_t cap, bool *all_done)
{
    uint64_t n = 0;
    size_t k = p->k;

    *all_done = true;
    for (size_t pos = p->pos; pos < p->scan.nfiles && n < cap; pos++, k = 0) {
        struct sl_scan_file *f = file_at(p, pos);
        bool done = atomic_load(&f->done);
        size_t ready = atomic_load(&f->ready);
        n += span(f, k, ready);
        if (!done) {
            *all_done = false;
            break;
        }
    }
    return n;
}

/* Waits until a round's worth is hashed (or all of it is); SL_OK with
 * *more false when nothing is left. */
static enum sl_err wait_round(struct push *p, bool *more, struct sl_error *err)
{
    bool all_done = false, failed;
    uint64_t n;

    pthread_mutex_lock(&p->flow.lock);
    for (;;) {
        n = ready_ahead(p, ROUND_MIN, &all_done);
        failed = p->flow.abort || (p->hash_finished && p->hash_rc);
        if (failed || n >= ROUND_MIN || all_done)
            break;
        {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&p->flow.cond, &p->flow.lock, &ts);
        }
        up_tick(p);
    }
    pthread_mutex_unlock(&p->flow.lock);
    if (failed) {
        /* the hasher's own error, once its thread has ended */
        pthread_join(p->hasher, NULL);
        p->hasher_running = false;
        *err = p->hash_err;
        return p->hash_rc ? p->hash_rc : SL_EIO;
    }
    *more = p->pos < p->scan.nfiles;
    return SL_OK;
}

static void add_item(struct push *p, size_t file, size_t chunk)
{
    if (p->nitems == p->items_cap) {
        p->items_cap = p->items_cap ? 2 * p->items_cap : 4096;
        p->items = sl_xrealloc(p->items, p->items_cap * sizeof(*p->items));
    }
    p->items[p->nitems].file = (uint32_t)file;
    p->items[p->nitems].chunk = (uint32_t)chunk;
    p->nitems++;
}

static enum sl_err send_round(struct push *p, struct sl_error *err);

struct range {
    size_t pos, a, b; /* chunks [a, b) of file order[pos] */
};

/* One round: takes the hashed chunks after the cursor (up to ROUND_MAX
 * bytes, in file order), asks which the server lacks, sends those, then
 * registers every file the cursor has passed. */
static enum sl_err run_round(struct push *p, struct sl_error *err)
{
    unsigned char(*uniq)[32] = NULL;
    struct range *ranges = NULL;
    size_t nuniq = 0, cap = 0, nranges = 0, rcap = 0, pos = p->pos, k = p->k;
    uint64_t bytes = 0, cur_off = 0;
    enum sl_err rc;

    /* the chunks of the round; ids new to this push are marked 1 (ask) */
    while (pos < p->scan.nfiles && bytes < ROUND_MAX) {
        struct sl_scan_file *f = file_at(p, pos);
        bool done = atomic_load(&f->done);
        size_t ready = atomic_load(&f->ready), end = k;
        while (end < ready && bytes < ROUND_MAX) {
            size_t slot = idset_slot(&p->set, f->chunks[end].id);
            if (!p->set.state[slot]) {
                idset_add(&p->set, f->chunks[end].id, 1);
                if (nuniq == cap) {
                    cap = cap ? 2 * cap : 4096;
                    uniq = sl_xrealloc(uniq, cap * sizeof(*uniq));
                }
                memcpy(uniq[nuniq++], f->chunks[end].id, SL_SHA256_LEN);
            }
            bytes += f->chunks[end].len;
            end++;
        }
        if (nranges == rcap) {
            rcap = rcap ? 2 * rcap : 64;
            ranges = sl_xrealloc(ranges, rcap * sizeof(*ranges));
        }
        ranges[nranges].pos = pos;
        ranges[nranges].a = k;
        ranges[nranges].b = end;
        nranges++;
        k = end;
        cur_off = k ? f->chunks[k - 1].off + f->chunks[k - 1].len : 0;
        if (done && k == f->nchunks) {
            pos++;
            k = 0;
            cur_off = 0;
            continue;
        }
        break;
    }
    rc = find_missing(p, &p->set, uniq, nuniq, err);
    free(uniq);
    /* the chunks to send: each missing one once, in file order */
    p->nitems = 0;
    for (size_t r = 0; r < nranges && !rc; r++) {
        size_t fi = p->scan.order[ranges[r].pos];
        const struct sl_scan_file *f = &p->scan.files[fi];
        for (size_t c = ranges[r].a; c < ranges[r].b; c++) {
            size_t slot = idset_slot(&p->set, f->chunks[c].id);
            if (p->set.state[slot] != 2)
                continue;
            p->set.state[slot] = 3;
            add_item(p, fi, c);
            p->up_total += f->chunks[c].len;
        }
    }
    free(ranges);
    if (!rc)
        rc = send_round(p, err);
    if (rc)
        return rc;
    p->done_base += bytes;
    p->up_done = 0;
    pthread_mutex_lock(&p->flow.lock);
    p->pos = pos;
    p->k = k;
    p->flow.consumed += bytes;
    p->flow.cur = pos;
    p->flow.cur_off = cur_off;
    pthread_cond_broadcast(&p->flow.cond);
    pthread_mutex_unlock(&p->flow.lock);
    /* every file the cursor passed is whole on the server: register it */
    for (; p->reg < p->pos; p->reg++) {
        rc = register_file(p, file_at(p, p->reg), err);
        if (rc)
            return rc;
    }
    return SL_OK;
}

/* Sends this round's items in requests of up to SL_UPLOAD_MAX_REQ bytes
 * over the parallel streams. */
static enum sl_err send_round(struct push *p, struct sl_error *err)
{
    static const struct sl_pool_ops ops = {up_start, up_finish, up_tick};
    int streams = p->o->streams > 0 ? p->o->streams : DEFAULT_STREAMS;
    uint64_t cur = 0;
    enum sl_err rc;

    if (p->nitems == 0)
        return SL_OK;
    free(p->starts);
    p->starts = sl_xmalloc((p->nitems + 1) * sizeof(*p->starts));
    p->nreq = 0;
    /* up to SL_UPLOAD_MAX_REQ bytes a request; a file with a session gets
     * requests of its own, each a run of consecutive chunks */
    for (size_t i = 0; i < p->nitems; i++) {
        const struct item *it = &p->items[i], *prev = i ? it - 1 : NULL;
        uint64_t fsz = SL_FRAME_HEADER + (uint64_t)item_chunk(p, i)->len;
        bool cut = !prev || cur + fsz > SL_UPLOAD_MAX_REQ;
        if (prev && (p->has_sid[it->file] || p->has_sid[prev->file]))
            cut = cut || it->file != prev->file || it->chunk != prev->chunk + 1;
        if (cut) {
            p->starts[p->nreq++] = i;
            cur = 0;
        }
        cur += fsz;
    }
    p->starts[p->nreq] = p->nitems;
    if (streams > 16)
        streams = 16;
    if (!p->slots) {
        p->nslots = streams;
        p->slots = sl_xcalloc((size_t)streams, sizeof(*p->slots));
        for (int i = 0; i < streams; i++) {
            p->slots[i].p = p;
            p->slots[i].fd = -1;
            p->slots[i].frame = sl_xmalloc(SL_FRAME_HEADER + SL_CDC_MAX);
        }
        p->chunks_url =
            sl_xasprintf("%s/api/v1/models/%s/%s/chunks", p->cl->url, p->o->org, p->o->name);
    }
    if (p->t_first_upload == 0)
        p->t_first_upload = sl__cl_now();
    rc = sl__cl_pool_run(p->cl, p->nreq, (size_t)streams > p->nreq ? (int)p->nreq : streams, &ops,
                         p, err);
    for (int i = 0; i < p->nslots; i++)
        p->slots[i].sent = 0;
    if (rc)
        sl_error_prefix(err, "%s/%s", p->o->org, p->o->name);
    return rc;
}

static void stop_hashing(struct push *p)
{
    if (!p->hasher_running)
        return;
    pthread_mutex_lock(&p->flow.lock);
    p->flow.abort = true;
    pthread_cond_broadcast(&p->flow.cond);
    pthread_mutex_unlock(&p->flow.lock);
    pthread_join(p->hasher, NULL);
    p->hasher_running = false;
}

/* Hashes and uploads at once; on success every file is registered. */
static enum sl_err pipeline(struct push *p, struct sl_error *err)
{
    bool more = true;
    enum sl_err rc;

    sl__cl_scan_order(&p->scan);
    idset_init(&p->set, (size_t)(p->scan.bytes / (64u << 10)) + 16);
    p->sid = sl_xcalloc(p->scan.nfiles + 1, SESSION_ID_LEN);
    p->has_sid = sl_xcalloc(p->scan.nfiles + 1, sizeof(bool));
    for (size_t i = 0; i < p->scan.nfiles; i++) {
        if (p->scan.files[i].size >= SESSION_MIN) {
            sl_random(p->sid[i], SESSION_ID_LEN);
            p->has_sid[i] = true;
        }
    }
    p->flow.window = HASH_WINDOW;
    p->so.flow = &p->flow;
    p->so.tick = NULL; /* the bar is drawn from this thread */
    if (pthread_create(&p->hasher, NULL, hash_thread, p) != 0)
        return sl_error_set(err, SL_EIO, "cannot start the hashing thread");
    p->hasher_running = true;
    sl__cl_progress_init(&p->bar, p->o->progress, "pushing", p->scan.bytes);
    for (;;) {
        rc = wait_round(p, &more, err);
        if (rc || !more)
            break;
        rc = run_round(p, err);
        if (rc)
            break;
    }
    up_tick(p);
    sl__cl_progress_end(&p->bar);
    if (rc) {
        stop_hashing(p);
        return rc;
    }
    pthread_join(p->hasher, NULL);
    p->hasher_running = false;
    if (p->hash_rc) {
        *err = p->hash_err;
        return p->hash_rc;
    }
    return SL_OK;
}

static bool tier_ok(const char *t)
{
    static const char *const tiers[] = {"open", "click", "gated", "hosted", "withheld"};

    for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++)
        if (strcmp(t, tiers[i]) == 0)
            return true;
    return false;
}

enum sl_err sl_client_push(struct sl_client *cl, const struct sl_push_opts *o, json_t **result,
                           struct sl_error *err)
{
    struct push p;
    char *cache = NULL, *commit_text = NULL, *path = NULL;
    size_t commit_len = 0;
    json_t *answer = NULL;
    long status = 0;
    double t_commit = 0;
    enum sl_err rc;

    memset(&p, 0, sizeof(p));
    p.cl = cl;
    p.o = o;
    pthread_mutex_init(&p.flow.lock, NULL);
    pthread_cond_init(&p.flow.cond, NULL);
    if (!sl__cl_name_ok(o->org) || !sl__cl_name_ok(o->name)) {
        rc = sl_error_set(err, SL_EUSAGE, "\"%s/%s\": not a valid model name", o->org, o->name);
        goto out;
    }
    if (o->tier && !tier_ok(o->tier)) {
        rc = sl_error_set(err, SL_EUSAGE,
                          "\"%s\": not a tier (open, click, gated, hosted, withheld)", o->tier);
        goto out;
    }
    if (o->license && !sl_utf8_valid((const unsigned char *)o->license, strlen(o->license), NULL)) {
        rc = sl_error_set(err, SL_EINPUT, "the license text is not UTF-8");
        goto out;
    }

    rc = sl__cl_scan_list(o->path, &p.scan, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < p.scan.nfiles; i++) {
        if (p.scan.files[i].size / SL_CDC_MAX > FILE_CHUNKS_MAX) {
            p.scan.files[i].nchunks = p.scan.files[i].size / SL_CDC_MAX;
            rc = too_many_chunks(&p.scan.files[i], err);
            p.scan.files[i].nchunks = 0;
            goto out;
        }
    }
    rc = build_commit(&p, &commit_text, &commit_len, err);
    free(commit_text);
    commit_text = NULL;
    if (rc)
        goto out;
    /* Before hashing what may be hundreds of gigabytes: is the server there,
     * and may this token publish to the org? An empty question answers
     * both. */
    path = model_path(o, "/chunks/missing");
    rc = sl__cl_http_json(cl, "POST", path, "{\"chunks\":[]}", 13, 60, NULL, NULL, err);
    free(path);
    path = NULL;
    if (rc) {
        sl_error_prefix(err, "%s/%s", o->org, o->name);
        goto out;
    }
    if (o->cache_dir)
        cache = sl_xstrdup(o->cache_dir);
    else {
        char *st = sl__cl_state_dir();
        cache = st ? sl_xasprintf("%s/scan-cache", st) : NULL;
        free(st);
    }
    p.so.threads = o->threads;
    p.so.cache_dir = cache;
    p.t_start = sl__cl_now();
    rc = pipeline(&p, err);
    if (cache && cache[0])
        sl__cl_cache_prune(cache, SL_CACHE_MAX_BYTES);
    if (rc)
        goto out;
    rc = build_commit(&p, &commit_text, &commit_len, err);
    if (rc)
        goto out;
    t_commit = sl__cl_now();
    path = model_path(o, "/versions");
    /* The server re-hashes every file before it answers: allow it time. */
    rc = sl__cl_http_json(cl, "POST", path, commit_text, commit_len, 3600, &status, &answer, err);
    if (rc) {
        sl_error_prefix(err, "%s/%s", o->org, o->name);
        goto out;
    }
    if (!json_is_object(answer) || !json_is_string(json_object_get(answer, "commit"))) {
        rc = sl_error_set(err, SL_EINTERNAL, "POST %s: the answer has no commit", path);
        goto out;
    }
    json_object_set_new(answer, "bytes_uploaded", json_integer((json_int_t)p.up_total));
    json_object_set_new(answer, "files", json_integer((json_int_t)p.scan.nfiles));
    json_object_set_new(answer, "bytes_local", json_integer((json_int_t)p.scan.bytes));
    json_object_set_new(answer, "bytes_hash_cached", json_integer((json_int_t)p.scan.cached_bytes));
    /* what the server read back from its packs to check file digests (the
     * rest it hashed as the chunks arrived; docs/storage.md) */
    json_object_set_new(answer, "bytes_reread", json_integer((json_int_t)p.reread));
    /* Where the time went (docs/PERFORMANCE.md, "Push"). Hashing and the
     * upload overlap: both count from the start; "upload" ends when the
     * last file is registered; "first_upload" is when the first chunk
     * request left, which is before "hash" ends whenever the model is
     * bigger than one round. */
    json_object_set_new(answer, "seconds",
                        json_pack("{s:f, s:f, s:f, s:f}", "hash", p.t_hashed - p.t_start, "upload",
                                  t_commit - p.t_start, "first_upload",
                                  p.t_first_upload > 0 ? p.t_first_upload - p.t_start : 0.0,
                                  "commit", sl__cl_now() - t_commit));
    *result = answer;
    answer = NULL;
out:
    stop_hashing(&p);
    json_decref(answer);
    free(path);
    free(commit_text);
    free(cache);
    free(p.items);
    free(p.starts);
    if (p.set.ids)
        idset_free(&p.set);
    for (int i = 0; i < p.nslots; i++) {
        if (p.slots[i].fd >= 0)
            close(p.slots[i].fd);
        free(p.slots[i].frame);
        free(p.slots[i].url);
    }
    free(p.slots);
    free(p.sid);
    free(p.has_sid);
    free(p.chunks_url);
    sl__cl_scan_release(&p.scan);
    pthread_cond_destroy(&p.flow.cond);
    pthread_mutex_destroy(&p.flow.lock);
    return rc;
}
