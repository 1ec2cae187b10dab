/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice push: scan the files (scan.c), ask the server which chunks it
 * lacks, upload only those in framed requests of up to 64 MiB over several
 * parallel streams, then commit the version manifest with the facts, tier and
 * license. An interrupted push run again uploads only what is still missing,
 * and the scan cache spares it the hashing.
 */
#include "client/client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
};

static void idset_init(struct idset *s, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n)
        cap *= 2;
    s->ids = sl_xmalloc(cap * sizeof(*s->ids));
    s->state = sl_xcalloc(cap, 1);
    s->mask = cap - 1;
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

/* ---- upload ---- */

struct item {
    uint32_t file;
    uint32_t chunk;
};

struct push;

struct up_slot {
    struct push *p;
    struct sl_pool_slot *ps;
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
    struct item *items;
    size_t nitems;
    size_t *starts; /* request boundaries in items */
    size_t nreq;
    char *chunks_url;
    struct up_slot *slots;
    int nslots;
    uint64_t up_total, up_done; /* chunk bytes to upload, and of finished requests */
    struct sl_cl_progress bar;
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
    if (sl_pread_full(u->fd, u->frame + SL_FRAME_HEADER, c->len, c->off, f->src, &u->err))
        return false;
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

    reset_slot(p, u, job);
    u->ps = s;
    sl__cl_http_setup(p->cl, s->easy, p->chunks_url, &s->headers,
                      "Content-Type: application/octet-stream", 120);
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

static void up_tick(void *ctx)
{
    struct push *p = ctx;
    uint64_t done = p->up_done;

    for (int i = 0; i < p->nslots; i++)
        done += p->slots[i].sent;
    sl__cl_progress_set(&p->bar, done > p->up_total ? p->up_total : done);
}

static void scan_tick(void *ctx)
{
    struct push *p = ctx;

    sl__cl_progress_set(&p->bar, atomic_load(&p->scan.hashed));
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

/* Builds the commit body now, so a manifest too large for the server fails
 * before anything is uploaded. Files are named by path, size and SHA-256;
 * their chunk lists go to the server file by file (register_files), so the
 * body stays small however large the model. */
static enum sl_err build_commit(struct push *p, char **text, size_t *len, struct sl_error *err)
{
    /* Room past the limit for the last file's entry, the facts (4 MiB at
     * most) and the license (1 MiB): every append succeeds, and the length
     * is checked at the end. */
    struct sl_buf b = SL_BUF_INIT((size_t)JSON_BODY_MAX * 2);
    char hex[2 * SL_SHA256_LEN + 1];
    json_t *v;

    for (size_t i = 0; i < p->scan.nfiles; i++)
        if (p->scan.files[i].nchunks > FILE_CHUNKS_MAX)
            return sl_error_set(err, SL_ELIMIT,
                                "%s: %zu chunks is more than one file may have (%u, about 128 "
                                "GiB); split the file",
                                p->scan.files[i].rel, p->scan.files[i].nchunks, FILE_CHUNKS_MAX);
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

/* Registers every file with the server from its chunk list (raw ids): the
 * server checks the chunks are this org's, re-hashes the bytes and keeps the
 * file for the commit. Files the server already holds answer at once. */
static enum sl_err register_files(struct push *p, struct sl_error *err)
{
    for (size_t i = 0; i < p->scan.nfiles; i++) {
        const struct sl_scan_file *f = &p->scan.files[i];
        char hex[2 * SL_SHA256_LEN + 1], tail[128];
        unsigned char *ids = sl_xcalloc(f->nchunks + 1, SL_SHA256_LEN);
        char *path;
        long status = 0;
        enum sl_err rc;

        for (size_t k = 0; k < f->nchunks; k++)
            memcpy(ids + k * SL_SHA256_LEN, f->chunks[k].id, SL_SHA256_LEN);
        sl_hex(f->sha, SL_SHA256_LEN, hex);
        snprintf(tail, sizeof(tail), "/files/%s?size=%llu", hex, (unsigned long long)f->size);
        path = model_path(p->o, tail);
        /* The server re-reads the file from its packs: allow it time. */
        rc = sl__cl_http_json(p->cl, "POST", path, (const char *)ids, f->nchunks * SL_SHA256_LEN,
                              3600, &status, NULL, err);
        free(path);
        free(ids);
        if (rc) {
            sl_error_prefix(err, "%s", f->rel);
            return rc;
        }
    }
    return SL_OK;
}

/* Asks which chunks the server lacks; marks them 2 in `set` (1 = known). */
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
            if (!set->state[slot]) {
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

static enum sl_err plan_upload(struct push *p, struct sl_error *err)
{
    struct idset set;
    unsigned char(*uniq)[32] = NULL;
    size_t total = 0, nuniq = 0;
    uint32_t *lens;
    enum sl_err rc;

    for (size_t i = 0; i < p->scan.nfiles; i++)
        total += p->scan.files[i].nchunks;
    idset_init(&set, total);
    uniq = sl_xmalloc((total ? total : 1) * sizeof(*uniq));
    for (size_t i = 0; i < p->scan.nfiles; i++) {
        const struct sl_scan_file *f = &p->scan.files[i];
        for (size_t k = 0; k < f->nchunks; k++) {
            size_t slot = idset_slot(&set, f->chunks[k].id);
            if (set.state[slot])
                continue;
            memcpy(set.ids[slot], f->chunks[k].id, SL_SHA256_LEN);
            set.state[slot] = 1;
            memcpy(uniq[nuniq++], f->chunks[k].id, SL_SHA256_LEN);
        }
    }
    rc = find_missing(p, &set, uniq, nuniq, err);
    free(uniq);
    if (rc)
        goto out;
    /* In file order, each missing chunk once, chunks of a file together. */
    p->items = sl_xmalloc((total ? total : 1) * sizeof(*p->items));
    for (size_t i = 0; i < p->scan.nfiles; i++) {
        const struct sl_scan_file *f = &p->scan.files[i];
        for (size_t k = 0; k < f->nchunks; k++) {
            size_t slot = idset_slot(&set, f->chunks[k].id);
            if (set.state[slot] != 2)
                continue;
            set.state[slot] = 3;
            p->items[p->nitems].file = (uint32_t)i;
            p->items[p->nitems].chunk = (uint32_t)k;
            p->nitems++;
            p->up_total += f->chunks[k].len;
        }
    }
    lens = sl_xmalloc((p->nitems ? p->nitems : 1) * sizeof(*lens));
    for (size_t i = 0; i < p->nitems; i++)
        lens[i] = item_chunk(p, i)->len;
    p->starts = sl_xmalloc((p->nitems + 1) * sizeof(*p->starts));
    p->nreq = sl__cl_plan_requests(lens, p->nitems, SL_UPLOAD_MAX_REQ, p->starts);
    free(lens);
out:
    idset_free(&set);
    return rc;
}

static enum sl_err upload(struct push *p, struct sl_error *err)
{
    static const struct sl_pool_ops ops = {up_start, up_finish, up_tick};
    int streams = p->o->streams > 0 ? p->o->streams : DEFAULT_STREAMS;
    enum sl_err rc;

    if (p->nreq == 0)
        return SL_OK;
    if (streams > 16)
        streams = 16;
    if ((size_t)streams > p->nreq)
        streams = (int)p->nreq;
    p->nslots = streams;
    p->slots = sl_xcalloc((size_t)streams, sizeof(*p->slots));
    for (int i = 0; i < streams; i++) {
        p->slots[i].p = p;
        p->slots[i].fd = -1;
        p->slots[i].frame = sl_xmalloc(SL_FRAME_HEADER + SL_CDC_MAX);
    }
    p->chunks_url =
        sl_xasprintf("%s/api/v1/models/%s/%s/chunks", p->cl->url, p->o->org, p->o->name);
    sl__cl_progress_init(&p->bar, p->o->progress, "uploading", p->up_total);
    rc = sl__cl_pool_run(p->cl, p->nreq, streams, &ops, p, err);
    sl__cl_progress_end(&p->bar);
    if (rc)
        sl_error_prefix(err, "%s/%s", p->o->org, p->o->name);
    for (int i = 0; i < streams; i++) {
        if (p->slots[i].fd >= 0)
            close(p->slots[i].fd);
        free(p->slots[i].frame);
    }
    return rc;
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
    struct sl_scan_opts so;
    char *cache = NULL, *commit_text = NULL, *path = NULL;
    size_t commit_len = 0;
    json_t *answer = NULL;
    long status = 0;
    double t_scan = 0, t_up = 0, t_commit = 0;
    enum sl_err rc;

    memset(&p, 0, sizeof(p));
    p.cl = cl;
    p.o = o;
    if (!sl__cl_name_ok(o->org) || !sl__cl_name_ok(o->name))
        return sl_error_set(err, SL_EUSAGE, "\"%s/%s\": not a valid model name", o->org, o->name);
    if (o->tier && !tier_ok(o->tier))
        return sl_error_set(err, SL_EUSAGE,
                            "\"%s\": not a tier (open, click, gated, hosted, withheld)", o->tier);
    if (o->license && !sl_utf8_valid((const unsigned char *)o->license, strlen(o->license), NULL))
        return sl_error_set(err, SL_EINPUT, "the license text is not UTF-8");

    rc = sl__cl_scan_list(o->path, &p.scan, err);
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
    memset(&so, 0, sizeof(so));
    so.threads = o->threads;
    so.cache_dir = cache;
    so.tick = scan_tick;
    so.tick_ctx = &p;
    sl__cl_progress_init(&p.bar, o->progress, "hashing", p.scan.bytes);
    t_scan = sl__cl_now();
    rc = sl__cl_scan_hash(&p.scan, &so, err);
    t_up = sl__cl_now();
    sl__cl_progress_end(&p.bar);
    if (cache && cache[0])
        sl__cl_cache_prune(cache, SL_CACHE_MAX_BYTES);
    if (rc)
        goto out;
    rc = build_commit(&p, &commit_text, &commit_len, err);
    if (rc)
        goto out;
    rc = plan_upload(&p, err);
    if (rc)
        goto out;
    rc = upload(&p, err);
    if (!rc)
        rc = register_files(&p, err);
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
    /* where the time went (docs/PERFORMANCE.md, "Push") */
    json_object_set_new(answer, "seconds",
                        json_pack("{s:f, s:f, s:f}", "hash", t_up - t_scan, "upload",
                                  t_commit - t_up, "commit", sl__cl_now() - t_commit));
    *result = answer;
    answer = NULL;
out:
    json_decref(answer);
    free(path);
    free(commit_text);
    free(cache);
    free(p.items);
    free(p.starts);
    free(p.slots);
    free(p.chunks_url);
    sl__cl_scan_release(&p.scan);
    return rc;
}
