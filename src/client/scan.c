/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local half of a push: list the files of a model folder, then read each
 * file once, cutting it into Xet chunks and hashing every chunk and the whole
 * file in the same pass. Several files are hashed in parallel; an unchanged
 * file's hashes come from the scan cache (cache.c) instead.
 */
#include "client/client_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "store/store.h"
#include "common/banned.h"

#define READ_BUF  (8u << 20)
#define MAX_DEPTH 64

/* ---- listing ---- */

struct chain {
    dev_t dev;
    ino_t ino;
    const struct chain *up;
};

struct lister {
    struct sl_scan *s;
    size_t alloc;
    const char *root; /* real path of the folder */
    size_t root_len;
    struct sl_error *err;
};

static bool skip_name(const char *n)
{
    size_t len = strlen(n);

    /* LICENSE.sluice is the licensee's signed license that `sluice pull`
     * saves beside a gated model; it is never part of the model */
    return n[0] == '.' || sl_str_has_suffix(n, len, ".sluice-part") ||
           sl_str_has_suffix(n, len, ".sluice-part.state") || strcmp(n, "LICENSE.sluice") == 0;
}

static enum sl_err add_file(struct lister *l, const char *rel, const char *src,
                            const struct stat *st)
{
    struct sl_scan *s = l->s;
    struct sl_scan_file *f;

    if (!sl__cl_path_ok(rel))
        return sl_error_set(l->err, SL_EINPUT,
                            "\"%s\": a file name the registry cannot hold (control characters, "
                            "backslash, not UTF-8, or longer than %d bytes)",
                            rel, SL_PATH_MAX_LEN);
    if (s->nfiles >= SL_SCAN_MAX_FILES)
        return sl_error_set(l->err, SL_ELIMIT, "more than %d files; a version holds at most that",
                            SL_SCAN_MAX_FILES);
    if (s->nfiles == l->alloc) {
        l->alloc = l->alloc ? 2 * l->alloc : 64;
        s->files = sl_xrealloc(s->files, l->alloc * sizeof(*s->files));
    }
    f = &s->files[s->nfiles++];
    memset(f, 0, sizeof(*f));
    f->rel = sl_xstrdup(rel);
    f->src = sl_xstrdup(src);
    f->size = (uint64_t)st->st_size;
    f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    f->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
    f->ino = (uint64_t)st->st_ino;
    f->dev = (uint64_t)st->st_dev;
    s->bytes += f->size;
    return SL_OK;
}

static bool inside_root(const struct lister *l, const char *real)
{
    return strcmp(real, l->root) == 0 ||
           (strncmp(real, l->root, l->root_len) == 0 &&
            (real[l->root_len] == '/' || (l->root_len == 1 && l->root[0] == '/')));
}

static enum sl_err walk(struct lister *l, const char *dir, const char *prefix,
                        const struct chain *up, int depth);

static enum sl_err visit(struct lister *l, const char *dir, const char *name, const char *prefix,
                         const struct chain *up, int depth)
{
    char *full = sl_path_join(dir, name);
    char *rel = prefix[0] ? sl_xasprintf("%s/%s", prefix, name) : sl_xstrdup(name);
    char *real = NULL;
    const char *src = full;
    struct stat st;
    enum sl_err rc = SL_OK;

    if (lstat(full, &st) != 0) {
        rc = sl_error_set(l->err, SL_EIO, "%s: cannot stat: %s", full, strerror(errno));
        goto out;
    }
    if (S_ISLNK(st.st_mode)) {
        real = realpath(full, NULL);
        if (!real) {
            rc = sl_error_set(l->err, SL_EINPUT, "%s: broken symbolic link (%s)", rel,
                              strerror(errno));
            goto out;
        }
        if (!inside_root(l, real)) {
            rc = sl_error_set(l->err, SL_EINPUT,
                              "%s: symbolic link leads outside the folder (to %s); refusing it",
                              rel, real);
            goto out;
        }
        if (stat(real, &st) != 0) {
            rc = sl_error_set(l->err, SL_EIO, "%s: cannot stat: %s", real, strerror(errno));
            goto out;
        }
        src = real;
    }
    if (S_ISDIR(st.st_mode)) {
        for (const struct chain *c = up; c; c = c->up) {
            if (c->dev == st.st_dev && c->ino == st.st_ino) {
                rc = sl_error_set(l->err, SL_EINPUT,
                                  "%s: symbolic link to a folder that contains it (a loop)", rel);
                goto out;
            }
        }
        if (depth >= MAX_DEPTH) {
            rc = sl_error_set(l->err, SL_ELIMIT, "%s: folders nested more than %d deep", rel,
                              MAX_DEPTH);
            goto out;
        }
        rc = walk(l, src, rel, up, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
        rc = add_file(l, rel, src, &st);
    } else {
        rc = sl_error_set(l->err, SL_EINPUT,
                          "%s: not a regular file (a device, FIFO or socket); move it out of "
                          "the folder",
                          rel);
    }
out:
    free(real);
    free(rel);
    free(full);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum sl_err walk(struct lister *l, const char *dir, const char *prefix,
                        const struct chain *up, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    struct chain me;
    char **names = NULL;
    size_t n = 0, alloc = 0;
    enum sl_err rc = SL_OK;

    if (!d)
        return sl_error_set(l->err, SL_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    if (fstat(dirfd(d), &st) != 0) {
        closedir(d);
        return sl_error_set(l->err, SL_EIO, "%s: cannot stat: %s", dir, strerror(errno));
    }
    me.dev = st.st_dev;
    me.ino = st.st_ino;
    me.up = up;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (skip_name(e->d_name))
            continue;
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 32;
            names = sl_xrealloc(names, alloc * sizeof(*names));
        }
        names[n++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && !rc; i++)
        rc = visit(l, dir, names[i], prefix, &me, depth);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int cmp_rel(const void *a, const void *b)
{
    return strcmp(((const struct sl_scan_file *)a)->rel, ((const struct sl_scan_file *)b)->rel);
}

enum sl_err sl__cl_scan_list(const char *path, struct sl_scan *s, struct sl_error *err)
{
    struct lister l = {s, 0, NULL, 0, err};
    char *real = realpath(path, NULL);
    struct stat st;
    enum sl_err rc;

    memset(s, 0, sizeof(*s));
    if (!real || stat(real, &st) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    l.root = real;
    l.root_len = strlen(real);
    if (S_ISREG(st.st_mode)) {
        char *given = sl_xstrdup(path);
        size_t len = strlen(given);
        while (len > 1 && given[len - 1] == '/')
            given[--len] = '\0';
        rc = add_file(&l, sl_path_base(given), real, &st);
        free(given);
    } else if (S_ISDIR(st.st_mode)) {
        struct chain top = {st.st_dev, st.st_ino, NULL};
        rc = walk(&l, real, "", &top, 0);
        if (!rc && s->nfiles == 0)
            rc = sl_error_set(err, SL_EINPUT,
                              "%s: no files to push (names starting with '.' are skipped)", path);
    } else {
        rc = sl_error_set(err, SL_EINPUT, "%s: not a file or a folder", path);
    }
    if (!rc && s->nfiles > 1)
        qsort(s->files, s->nfiles, sizeof(*s->files), cmp_rel);
out:
    free(real);
    if (rc)
        sl__cl_scan_release(s);
    return rc;
}

void sl__cl_scan_release(struct sl_scan *s)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        free(s->files[i].rel);
        free(s->files[i].src);
        free(s->files[i].chunks);
    }
    free(s->files);
    free(s->order);
    memset(s, 0, sizeof(*s));
}

/* ---- hashing ---- */

/* A file hashed for a consumer (struct sl_scan_flow); NULL otherwise. */
struct feed {
    struct sl_scan_flow *flow;
    struct sl_scan *s;
    struct sl_scan_file *f;
    size_t pos; /* of the file in s->order */
};

/* Before each read (`read` bytes of the file so far): waits while the
 * hashing is more than the window ahead of the consumer. False when the
 * push was stopped. */
static bool ahead(const struct feed *fd, uint64_t read)
{
    const struct sl_scan_flow *fl = fd->flow;

    if (!fl->window)
        return false;
    if (fd->pos == fl->cur)
        return read > fl->cur_off && read - fl->cur_off > fl->window;
    return atomic_load(&fd->s->hashed) - fl->consumed > fl->window;
}

static bool feed_wait(const struct feed *fd, uint64_t read)
{
    struct sl_scan_flow *fl = fd->flow;
    bool go;

    pthread_mutex_lock(&fl->lock);
    while (!fl->abort && ahead(fd, read))
        pthread_cond_wait(&fl->cond, &fl->lock);
    go = !fl->abort;
    pthread_mutex_unlock(&fl->lock);
    return go;
}

/* Makes chunks[0..n) of the file visible to the consumer. */
static void feed_publish(const struct feed *fd, size_t n)
{
    atomic_store(&fd->f->ready, n);
    pthread_mutex_lock(&fd->flow->lock);
    pthread_cond_broadcast(&fd->flow->cond);
    pthread_mutex_unlock(&fd->flow->lock);
}

/* The chunk count a file of `size` bytes can reach: every chunk but the
 * last is at least SL_CDC_MIN bytes. */
static size_t chunks_max(uint64_t size)
{
    return (size_t)(size / SL_CDC_MIN) + 2;
}

static void push_chunk(struct sl_cl_chunk **chunks, size_t *n, size_t *alloc,
                       const unsigned char *p, size_t len, uint64_t off)
{
    struct sl_cl_chunk *c;

    if (*n == *alloc) {
        *alloc = *alloc ? 2 * *alloc : 64;
        *chunks = sl_xrealloc(*chunks, *alloc * sizeof(**chunks));
    }
    c = &(*chunks)[(*n)++];
    sl_sha256(p, len, c->id);
    c->len = (uint32_t)len;
    c->off = off;
}

/* Reads until `n` bytes or the end of the file; returns the count or -1. */
static ssize_t read_full(int fd, unsigned char *p, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = read(fd, p + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

/* Frees a chunk list on failure; a consumer may still read a published
 * one, so that stays with the file (sl__cl_scan_release frees it). */
static void drop_chunks(const struct feed *fd, struct sl_cl_chunk *chunks)
{
    if (!fd)
        free(chunks);
}

static enum sl_err changed_error(const char *name, uint64_t total, uint64_t size,
                                 struct sl_error *err)
{
    return sl_error_set(err, SL_EIO, "%s: changed while it was read (%llu bytes, expected %llu)",
                        name, (unsigned long long)total, (unsigned long long)size);
}

static enum sl_err hash_fd_buf(int fd, const char *name, uint64_t size,
                               unsigned char sha[SL_SHA256_LEN], struct sl_cl_chunk **chunks_out,
                               size_t *nchunks_out, atomic_uint_least64_t *progress,
                               unsigned char *buf, size_t cap, const struct feed *feed,
                               struct sl_error *err)
{
    struct sl_sha256_ctx *fs = sl_sha256_new();
    struct sl_cl_chunk *chunks = NULL;
    size_t nchunks = 0, alloc = 0, have = 0, scanned = 0;
    uint64_t total = 0, buf_off = 0; /* file offset of buf[0] */
    struct sl_cdc cdc;
    bool want_chunks = chunks_out != NULL;

    if (want_chunks) {
        /* For a consumer the list is allocated whole, so it never moves
         * while the consumer reads it (untouched pages cost nothing). */
        alloc = feed ? chunks_max(size) : (size_t)(size / (48u * 1024u)) + 4;
        chunks = sl_xmalloc(alloc * sizeof(*chunks));
        if (feed)
            feed->f->chunks = chunks;
    }
    sl_cdc_init(&cdc);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        ssize_t r;
        size_t start = 0;
        if (feed && !feed_wait(feed, total)) {
            sl_sha256_free(fs);
            return sl_error_set(err, SL_EIO, "%s: hashing stopped", name);
        }
        r = read_full(fd, buf + have, cap - have);
        if (r < 0) {
            int e = errno;
            sl_sha256_free(fs);
            drop_chunks(feed, chunks);
            return sl_error_set(err, SL_EIO, "%s: read failed: %s", name, strerror(e));
        }
        if (r == 0)
            break;
        if (feed && total + (uint64_t)r > size) {
            /* it grew: the list must not outgrow its allocation */
            sl_sha256_free(fs);
            return changed_error(name, total + (uint64_t)r, size, err);
        }
        sl_sha256_update(fs, buf + have, (size_t)r);
        have += (size_t)r;
        total += (uint64_t)r;
        if (progress)
            atomic_fetch_add(progress, (uint_least64_t)r);
        if (!want_chunks) {
            have = 0;
            continue;
        }
        while (scanned < have) {
            bool cut;
            scanned += sl_cdc_scan(&cdc, buf + scanned, have - scanned, &cut);
            if (cut) {
                push_chunk(&chunks, &nchunks, &alloc, buf + start, scanned - start,
                           buf_off + start);
                start = scanned;
            }
        }
        if (feed)
            feed_publish(feed, nchunks);
        /* Keep the unfinished chunk (under 128 KiB) at the front. */
        memmove(buf, buf + start, have - start);
        have -= start;
        scanned -= start;
        buf_off += start;
    }
    if (want_chunks && have > 0)
        push_chunk(&chunks, &nchunks, &alloc, buf, have, buf_off);
    sl_sha256_final(fs, sha);
    if (total != size) {
        drop_chunks(feed, chunks);
        return changed_error(name, total, size, err);
    }
    if (feed)
        feed_publish(feed, nchunks);
    if (want_chunks) {
        *chunks_out = chunks;
        *nchunks_out = nchunks;
    }
    return SL_OK;
}

/* ---- one large file on two threads ----
 *
 * Cutting chunks is sequential, and so is hashing the whole file, but they
 * need not run on one CPU: with a spare CPU, the reading thread cuts the
 * chunks of one buffer while a helper hashes the previous buffer (the file
 * hash, in order, then each chunk). Two buffers alternate; the unfinished
 * chunk at the end of one is copied to the start of the other.
 */

#define PIPE_MAX_CHUNKS ((READ_BUF + SL_CDC_MAX) / SL_CDC_MIN + 2)

struct pipe_job {
    const unsigned char *base;
    size_t fresh, fresh_len; /* bytes of `base` new to the file hash */
    struct sl_sha256_ctx *file;
    size_t n;
    size_t first; /* index of its first chunk in the file's list */
    uint32_t start[PIPE_MAX_CHUNKS], len[PIPE_MAX_CHUNKS];
    unsigned char ids[PIPE_MAX_CHUNKS][SL_SHA256_LEN];
};

struct pipe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct pipe_job *job; /* posted, not yet done */
    bool quit;
};

static void *pipe_helper(void *arg)
{
    struct pipe *p = arg;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct pipe_job *j;
        while (!p->job && !p->quit)
            pthread_cond_wait(&p->cond, &p->lock);
        if (!p->job)
            break;
        j = p->job;
        pthread_mutex_unlock(&p->lock);
        {
            /* Each chunk's id and the file's digest over the same bytes, two
             * streams at once (sl_sha256_update_and_digest); the file takes
             * only the fresh bytes (a chunk carried over from the other
             * buffer was fed to it there), then the unfinished tail. */
            size_t pos = j->fresh, end = j->fresh + j->fresh_len;
            for (size_t i = 0; i < j->n; i++) {
                size_t s = j->start[i], e = s + j->len[i], from = s > pos ? s : pos;
                size_t upto = e < end ? e : end;
                if (from > pos && pos < end) /* a gap (chunks are contiguous: never) */
                    sl_sha256_update(j->file, j->base + pos, (from < end ? from : end) - pos);
                sl_sha256_update_and_digest(j->file, j->base + from, upto > from ? upto - from : 0,
                                            j->base + s, j->len[i], j->ids[i]);
                if (upto > pos)
                    pos = upto;
            }
            if (pos < end)
                sl_sha256_update(j->file, j->base + pos, end - pos);
        }
        pthread_mutex_lock(&p->lock);
        p->job = NULL;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Waits until the helper is idle, then copies the ids of `done` (if any). */
static void pipe_collect(struct pipe *p, struct pipe_job *done, struct sl_cl_chunk *chunks)
{
    pthread_mutex_lock(&p->lock);
    while (p->job)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    if (!done)
        return;
    for (size_t i = 0; i < done->n; i++)
        memcpy(chunks[done->first + i].id, done->ids[i], SL_SHA256_LEN);
    done->n = 0;
}

static void pipe_post(struct pipe *p, struct pipe_job *j)
{
    pthread_mutex_lock(&p->lock);
    p->job = j;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void add_piped(struct pipe_job *j, struct sl_cl_chunk **chunks, size_t *n, size_t *alloc,
                      size_t start, size_t len, uint64_t buf_off)
{
    if (*n == *alloc) {
        *alloc = *alloc ? 2 * *alloc : 64;
        *chunks = sl_xrealloc(*chunks, *alloc * sizeof(**chunks));
    }
    if (j->n == 0)
        j->first = *n;
    j->start[j->n] = (uint32_t)start;
    j->len[j->n] = (uint32_t)len;
    j->n++;
    (*chunks)[*n].len = (uint32_t)len;
    (*chunks)[*n].off = buf_off + start;
    (*n)++;
}

static enum sl_err hash_fd_piped(int fd, const char *name, uint64_t size,
                                 unsigned char sha[SL_SHA256_LEN], struct sl_cl_chunk **chunks_out,
                                 size_t *nchunks_out, atomic_uint_least64_t *progress,
                                 unsigned char *buf0, size_t cap, const struct feed *feed,
                                 struct sl_error *err)
{
    unsigned char *bufs[2] = {buf0, sl_xmalloc(cap)};
    struct pipe_job *jobs = sl_xcalloc(2, sizeof(*jobs));
    struct sl_sha256_ctx *fs = sl_sha256_new();
    struct sl_cl_chunk *chunks = NULL;
    size_t nchunks = 0, have = 0, scanned = 0;
    size_t alloc = feed ? chunks_max(size) : (size_t)(size / (48u * 1024u)) + 4;
    uint64_t total = 0, buf_off = 0;
    struct sl_cdc cdc;
    struct pipe p;
    pthread_t tid;
    int cur = 0, e = 0;
    enum sl_err rc = SL_OK;

    chunks = sl_xmalloc(alloc * sizeof(*chunks));
    if (feed)
        feed->f->chunks = chunks;
    memset(&p, 0, sizeof(p));
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    if (pthread_create(&tid, NULL, pipe_helper, &p) != 0) {
        pthread_cond_destroy(&p.cond);
        pthread_mutex_destroy(&p.lock);
        sl_sha256_free(fs);
        if (feed)
            feed->f->chunks = NULL;
        free(chunks);
        free(jobs);
        free(bufs[1]);
        return hash_fd_buf(fd, name, size, sha, chunks_out, nchunks_out, progress, buf0, cap, feed,
                           err);
    }
    sl_cdc_init(&cdc);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        unsigned char *b = bufs[cur];
        ssize_t r;
        size_t start = 0, upto;
        if (feed && !feed_wait(feed, total)) {
            rc = SL_EINTERNAL; /* stopped */
            break;
        }
        r = read_full(fd, b + have, cap - have);
        if (r < 0) {
            e = errno;
            rc = SL_EIO;
            break;
        }
        if (feed && total + (uint64_t)r > size) {
            total += (uint64_t)r;
            rc = SL_ELIMIT; /* it grew */
            break;
        }
        jobs[cur].fresh = have;
        jobs[cur].fresh_len = (size_t)r;
        have += (size_t)r;
        total += (uint64_t)r;
        if (progress)
            atomic_fetch_add(progress, (uint_least64_t)r);
        while (scanned < have) {
            bool cut;
            scanned += sl_cdc_scan(&cdc, b + scanned, have - scanned, &cut);
            if (cut) {
                add_piped(&jobs[cur], &chunks, &nchunks, &alloc, start, scanned - start, buf_off);
                start = scanned;
            }
        }
        if (r == 0 && have > start) {
            add_piped(&jobs[cur], &chunks, &nchunks, &alloc, start, have - start, buf_off);
            start = have;
        }
        /* The other buffer's chunks must be hashed before it is reused. */
        upto = jobs[cur ^ 1].n ? jobs[cur ^ 1].first + jobs[cur ^ 1].n : 0;
        pipe_collect(&p, &jobs[cur ^ 1], chunks);
        if (feed && upto)
            feed_publish(feed, upto);
        jobs[cur].base = b;
        jobs[cur].file = fs;
        pipe_post(&p, &jobs[cur]);
        if (r == 0)
            break;
        memcpy(bufs[cur ^ 1], b + start, have - start);
        have -= start;
        scanned -= start;
        buf_off += start;
        cur ^= 1;
    }
    pipe_collect(&p, &jobs[cur], chunks);
    pthread_mutex_lock(&p.lock);
    p.quit = true;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    pthread_join(tid, NULL);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
    free(jobs);
    free(bufs[1]);
    if (rc) {
        sl_sha256_free(fs);
        drop_chunks(feed, chunks);
        if (rc == SL_EINTERNAL)
            return sl_error_set(err, SL_EIO, "%s: hashing stopped", name);
        if (rc == SL_ELIMIT)
            return changed_error(name, total, size, err);
        return sl_error_set(err, SL_EIO, "%s: read failed: %s", name, strerror(e));
    }
    sl_sha256_final(fs, sha);
    if (total != size) {
        drop_chunks(feed, chunks);
        return changed_error(name, total, size, err);
    }
    if (feed)
        feed_publish(feed, nchunks);
    *chunks_out = chunks;
    *nchunks_out = nchunks;
    return SL_OK;
}

enum sl_err sl__cl_hash_fd(int fd, const char *name, uint64_t size,
                           unsigned char sha[SL_SHA256_LEN], struct sl_cl_chunk **chunks,
                           size_t *nchunks, atomic_uint_least64_t *progress, struct sl_error *err)
{
    size_t cap = size < READ_BUF ? (size_t)size + SL_CDC_MAX + 1 : READ_BUF + SL_CDC_MAX;
    unsigned char *buf = sl_xmalloc(cap);
    enum sl_err rc =
        hash_fd_buf(fd, name, size, sha, chunks, nchunks, progress, buf, cap, NULL, err);

    free(buf);
    return rc;
}

struct hasher {
    struct sl_scan *s;
    const struct sl_scan_opts *o;
    atomic_size_t next;
    atomic_int finished; /* workers done */
    atomic_int spare;    /* CPUs no worker uses: helpers for large files */
    atomic_bool stop;
    pthread_mutex_t lock;
    struct sl_error err; /* the first failure */
};

static int64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define PIPE_MIN (32u << 20)

static bool take_spare(struct hasher *h)
{
    int n = atomic_load(&h->spare);

    while (n > 0)
        if (atomic_compare_exchange_weak(&h->spare, &n, n - 1))
            return true;
    return false;
}

/* The file is final: the consumer may register it. */
static void feed_done(const struct feed *fd)
{
    atomic_store(&fd->f->ready, fd->f->nchunks);
    atomic_store(&fd->f->done, true);
    feed_publish(fd, fd->f->nchunks);
}

static enum sl_err hash_one(struct hasher *h, size_t pos, unsigned char *buf, size_t cap,
                            struct sl_error *err)
{
    const char *cache = h->o->cache_dir && h->o->cache_dir[0] ? h->o->cache_dir : NULL;
    struct sl_scan_file *f = &h->s->files[h->s->order[pos]];
    struct feed feed = {h->o->flow, h->s, f, pos};
    const struct feed *fp = h->o->flow ? &feed : NULL;
    struct stat before, after;
    int64_t started;
    int fd;
    enum sl_err rc;

    fd = open(f->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", f->src, strerror(errno));
    if (fstat(fd, &before) != 0 || !S_ISREG(before.st_mode)) {
        close(fd);
        return sl_error_set(err, SL_EIO, "%s: not a regular file any more", f->src);
    }
    f->size = (uint64_t)before.st_size;
    f->mtime_ns = (int64_t)before.st_mtim.tv_sec * 1000000000 + before.st_mtim.tv_nsec;
    f->ctime_ns = (int64_t)before.st_ctim.tv_sec * 1000000000 + before.st_ctim.tv_nsec;
    f->ino = (uint64_t)before.st_ino;
    f->dev = (uint64_t)before.st_dev;
    if (cache && sl__cl_cache_get(cache, f, true)) {
        f->cached = true;
        atomic_fetch_add(&h->s->hashed, f->size);
        close(fd);
        if (fp)
            feed_done(fp);
        return SL_OK;
    }
    started = realtime_ns();
    if (f->size >= PIPE_MIN && take_spare(h)) {
        rc = hash_fd_piped(fd, f->src, f->size, f->sha, &f->chunks, &f->nchunks, &h->s->hashed, buf,
                           cap, fp, err);
        atomic_fetch_add(&h->spare, 1);
    } else {
        rc = hash_fd_buf(fd, f->src, f->size, f->sha, &f->chunks, &f->nchunks, &h->s->hashed, buf,
                         cap, fp, err);
    }
    if (!rc && (fstat(fd, &after) != 0 || after.st_size != before.st_size ||
                after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
                after.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
        rc = sl_error_set(err, SL_EIO, "%s: changed while it was read; push again when it is done",
                          f->src);
    close(fd);
    /* A file written in the last two seconds may change again within the
     * same timestamp tick without its mtime moving: do not cache it. */
    if (!rc && cache && f->mtime_ns < started - 2000000000LL)
        sl__cl_cache_put(cache, f);
    if (!rc && fp)
        feed_done(fp);
    return rc;
}

static void *hash_worker(void *arg)
{
    struct hasher *h = arg;
    size_t cap = READ_BUF + SL_CDC_MAX;
    unsigned char *buf = sl_xmalloc(cap);
    struct sl_error e;

    for (;;) {
        size_t i = atomic_fetch_add(&h->next, 1);
        if (i >= h->s->nfiles || atomic_load(&h->stop))
            break;
        sl_error_clear(&e);
        if (hash_one(h, i, buf, cap, &e) != SL_OK) {
            pthread_mutex_lock(&h->lock);
            if (!atomic_load(&h->stop)) {
                h->err = e;
                atomic_store(&h->stop, true);
            }
            pthread_mutex_unlock(&h->lock);
            if (h->o->flow) {
                /* the other hashers may wait for the consumer, which
                 * waits for this file: stop them all */
                pthread_mutex_lock(&h->o->flow->lock);
                h->o->flow->abort = true;
                pthread_cond_broadcast(&h->o->flow->cond);
                pthread_mutex_unlock(&h->o->flow->lock);
            }
            break;
        }
    }
    free(buf);
    /* This CPU is free now: a worker still on a large file may use it. */
    atomic_fetch_add(&h->spare, 1);
    atomic_fetch_add(&h->finished, 1);
    return NULL;
}

static int cmp_size_desc(const void *a, const void *b, void *arg)
{
    const struct sl_scan *s = arg;
    uint64_t x = s->files[*(const size_t *)a].size;
    uint64_t y = s->files[*(const size_t *)b].size;

    return x < y ? 1 : x > y ? -1 : 0;
}

void sl__cl_scan_order(struct sl_scan *s)
{
    if (s->order)
        return;
    s->order = sl_xmalloc((s->nfiles ? s->nfiles : 1) * sizeof(size_t));
    for (size_t i = 0; i < s->nfiles; i++)
        s->order[i] = i;
    /* Biggest files first, so one large file does not start last. */
    qsort_r(s->order, s->nfiles, sizeof(size_t), cmp_size_desc, s);
}

enum sl_err sl__cl_scan_hash(struct sl_scan *s, const struct sl_scan_opts *o, struct sl_error *err)
{
    struct hasher h;
    pthread_t tids[8];
    int n = o->threads, cpus, started = 0;
    unsigned char warm[SL_SHA256_LEN];
    enum sl_err rc = SL_OK;

    if (n <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    if (n > 8)
        n = 8;
    cpus = n;
    if ((size_t)n > s->nfiles)
        n = s->nfiles ? (int)s->nfiles : 1;
    memset(&h, 0, sizeof(h));
    h.s = s;
    h.o = o;
    sl__cl_scan_order(s);
    atomic_init(&h.next, 0);
    atomic_init(&h.finished, 0);
    atomic_init(&h.spare, 0);
    atomic_init(&h.stop, false);
    pthread_mutex_init(&h.lock, NULL);
    sl_error_clear(&h.err);
    atomic_store(&s->hashed, 0);
    /* The SHA-256 implementation is fetched once; do it before the threads. */
    sl_sha256("", 0, warm);
    atomic_store(&h.spare, cpus - n);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&tids[i], NULL, hash_worker, &h) != 0)
            break;
        started++;
    }
    if (started == 0) {
        rc = sl_error_set(err, SL_EIO, "cannot start a hashing thread");
        goto out;
    }
    while (atomic_load(&h.finished) < started) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        if (o->tick)
            o->tick(o->tick_ctx);
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (o->tick)
        o->tick(o->tick_ctx);
    if (atomic_load(&h.stop)) {
        rc = h.err.code ? h.err.code : SL_EIO;
        if (err)
            *err = h.err;
        goto out;
    }
    s->cached_bytes = 0;
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i].cached)
            s->cached_bytes += s->files[i].size;
out:
    pthread_mutex_destroy(&h.lock);
    return rc;
}
