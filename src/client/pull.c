/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice pull: read a version's file list (narrowed by --include and
 * --exclude), skip the files already present with the right SHA-256, and
 * fetch the rest pinned to the version's commit (a ref that moves meanwhile
 * cannot mix versions). When local files may hold some of the bytes (the
 * destination's files, say an earlier version, and --seed folders), an
 * open or click version's chunk list is read first and every chunk found
 * locally is copied after its SHA-256 is checked; only the ranges still
 * missing are downloaded, with ranged GETs, several in parallel, written
 * with pwrite into DIR/path.sluice-part. Each part file has a state file
 * beside it,
 *
 *   DIR/path.sluice-part.state: {"sha256": HEX, "size": N,
 *                                "ranges": [[start, length], ...],
 *                                "done": [bytes done in range 0, 1, ...]}
 *
 * (the ranges cover the file in order), rewritten atomically four times a
 * second, so an interrupted pull resumes without fetching finished bytes
 * again. A second thread hashes each file as its bytes arrive (in order,
 * from the start, while the downloads go on); a finished file is fsynced,
 * its hash compared, renamed into place and its folder fsynced; a hash
 * mismatch deletes the part and fails, leaving the old file untouched.
 */
#include "client/client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "store/store.h"
#include "tlog/note.h"
#include "common/banned.h"

#define DEFAULT_SEGMENT (64ull << 20)
#define DEFAULT_STREAMS 4
#define STATE_MAX       (8u << 20)
#define STATE_EVERY     0.25 /* seconds between saves of the progress */
#define PART_SUFFIX     ".sluice-part"
#define STATE_SUFFIX    ".sluice-part.state"

enum fstate { F_TODO, F_PRESENT, F_VERIFYING, F_DONE, F_FAILED };

/* A byte range of a file and how much of it is written (from its start). */
struct range {
    uint64_t start, len, done;
};

/* A chunk some local file holds (the seed index, sorted by id). */
struct seedchunk {
    unsigned char id[SL_SHA256_LEN];
    uint32_t len;
    uint32_t file; /* into pull.seeds */
    uint64_t off;
};

struct pfile {
    const char *path; /* into the version JSON */
    uint64_t size;
    unsigned char sha[SL_SHA256_LEN];
    char hex[2 * SL_SHA256_LEN + 1];
    enum fstate state;
    int dirfd, fd; /* parent folder and part file while downloading */
    const char *base;
    char *part, *statename;
    struct range *r; /* cover the file in order */
    uint64_t nr;
    uint64_t segs_left;         /* ranges not complete */
    uint64_t first_open;        /* first range not complete */
    struct sl_cl_chunk *chunks; /* the server's chunk list, when read */
    size_t nchunks;
    uint64_t reused; /* bytes copied from local files */
    bool dirty;      /* state changed since last saved */
    /* Shared with the hashing thread. The main thread writes the bytes and
     * publishes how far they run unbroken from the start; once `complete`
     * is set, the hashing thread owns fd and dirfd. */
    atomic_uint_least64_t prefix;
    atomic_bool complete;
};

struct job {
    uint32_t file;
    uint32_t seg;
};

struct dl_slot {
    struct pull *p;
    struct sl_pool_slot *ps;
    struct pfile *f;
    uint64_t seg_start, seg_len; /* the segment's place in the file */
    uint64_t *done;              /* &f->r[k].done */
    uint64_t from;               /* first byte asked for */
    bool ranged;
    long status; /* of the response being read */
    bool failed;
    struct sl_error err;
};

struct pull {
    struct sl_client *cl;
    const struct sl_pull_opts *o;
    char *cache, *root_real;
    int rootfd;
    uint64_t segment;
    json_t *version;
    const char *commit;
    struct pfile *files;
    size_t nfiles;
    struct job *jobs;
    size_t njobs;
    /* Local files whose chunks may be reused (built once, when needed). */
    bool delta_ok; /* an open or click version: chunk lists exist */
    bool seeds_built;
    char **seeds;
    bool *seed_fresh; /* chunked in this run, not taken from the cache */
    size_t nseeds;
    struct seedchunk *index;
    size_t nindex;
    int seed_fd;
    uint32_t seed_open;
    uint64_t reused, present, bad_seeds;
    struct dl_slot *slots;
    char *url_prefix;     /* .../versions/{commit}/files/ */
    uint32_t fingerprint; /* the recipient the manifest names, 0 when unmarked */
    uint64_t total, done_before, written, selected;
    double last_save;
    struct sl_cl_progress bar;

    /* The hashing thread and its queue (files in download order). */
    pthread_t verifier;
    bool verifier_on;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t *queue;
    size_t qhead, qtail;
    atomic_bool closing;        /* no more bytes will be written */
    struct sl_error verify_err; /* the first failure */
    bool verify_failed;
};

static uint64_t seg_len(const struct pull *p, const struct pfile *f, uint64_t k)
{
    (void)p;
    return f->r[k].len;
}

/* ---- state files ---- */

static enum sl_err write_at(int dirfd, const char *name, const void *data, size_t len,
                            struct sl_error *err)
{
    unsigned char rnd[6];
    char hex[13], *tmp;
    int fd;
    ssize_t w;
    enum sl_err rc = SL_OK;

    sl_random(rnd, sizeof(rnd));
    sl_hex(rnd, sizeof(rnd), hex);
    tmp = sl_xasprintf("%s.tmp-%s", name, hex);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    w = write(fd, data, len);
    if (w < 0 || (size_t)w != len) {
        rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", tmp,
                          w < 0 ? strerror(errno) : "short write");
        close(fd);
        (void)unlinkat(dirfd, tmp, 0);
        goto out;
    }
    close(fd);
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot rename: %s", name, strerror(errno));
        (void)unlinkat(dirfd, tmp, 0);
    }
out:
    free(tmp);
    return rc;
}

static enum sl_err save_state(struct pull *p, struct pfile *f, struct sl_error *err)
{
    json_t *s = json_object(), *d = json_array(), *rs = json_array();
    char *text;
    size_t len;
    enum sl_err rc;

    (void)p;
    json_object_set_new(s, "sha256", json_string(f->hex));
    json_object_set_new(s, "size", json_integer((json_int_t)f->size));
    for (uint64_t i = 0; i < f->nr; i++) {
        json_array_append_new(d, json_integer((json_int_t)f->r[i].done));
        json_array_append_new(
            rs, json_pack("[I, I]", (json_int_t)f->r[i].start, (json_int_t)f->r[i].len));
    }
    json_object_set_new(s, "ranges", rs);
    json_object_set_new(s, "done", d);
    text = sl_json_dump(s, 0, &len);
    rc = write_at(f->dirfd, f->statename, text, len, err);
    free(text);
    json_decref(s);
    if (!rc)
        f->dirty = false;
    return rc;
}

/* Reads the saved progress when it belongs to this file and its part file
 * is there at full size: the ranges and how much of each is done. Returns
 * false (nothing loaded) otherwise. */
static bool load_state(struct pull *p, struct pfile *f)
{
    int fd = openat(f->dirfd, f->statename, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char *buf = NULL;
    json_t *s = NULL, *d, *rs;
    struct range *r = NULL;
    struct stat st;
    ssize_t r_;
    size_t n = 0;
    uint64_t at = 0;
    bool ok = false;

    (void)p;
    if (fd < 0)
        return false;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_MAX)
        goto out;
    buf = sl_xmalloc((size_t)st.st_size + 1);
    r_ = pread(fd, buf, (size_t)st.st_size, 0);
    if (r_ != st.st_size)
        goto out;
    s = json_loadb(buf, (size_t)r_, 0, NULL);
    d = json_object_get(s, "done");
    rs = json_object_get(s, "ranges");
    if (!s || !json_is_string(json_object_get(s, "sha256")) ||
        strcmp(json_string_value(json_object_get(s, "sha256")), f->hex) != 0 ||
        json_integer_value(json_object_get(s, "size")) != (json_int_t)f->size ||
        !json_is_array(rs) || json_array_size(d) != json_array_size(rs))
        goto out;
    n = json_array_size(rs);
    if (n > f->size + 1)
        goto out;
    r = sl_xcalloc(n ? n : 1, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(rs, i);
        json_int_t a = json_integer_value(json_array_get(e, 0));
        json_int_t l = json_integer_value(json_array_get(e, 1));
        json_int_t v = json_integer_value(json_array_get(d, i));
        if (json_array_size(e) != 2 || a < 0 || (uint64_t)a != at || l <= 0 ||
            (uint64_t)l > f->size - at || v < 0 || v > l)
            goto out;
        r[i].start = (uint64_t)a;
        r[i].len = (uint64_t)l;
        r[i].done = (uint64_t)v;
        at += (uint64_t)l;
    }
    if (at != f->size)
        goto out;
    /* The part file must be there, at its full size (it is allocated whole
     * when first opened). */
    if (fstatat(f->dirfd, f->part, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != f->size)
        goto out;
    free(f->r);
    f->r = r;
    f->nr = n;
    r = NULL;
    ok = true;
out:
    free(r);
    json_decref(s);
    free(buf);
    close(fd);
    return ok;
}

/* ---- verification and rename (a thread) ---- */

static void cache_record(struct pull *p, struct pfile *f)
{
    struct sl_scan_file sf;
    struct stat st;

    if (!p->cache || !p->root_real || fstatat(f->dirfd, f->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    memset(&sf, 0, sizeof(sf));
    sf.src = sl_xasprintf("%s/%s", p->root_real, f->path);
    sf.size = (uint64_t)st.st_size;
    sf.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    sf.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    sf.ino = (uint64_t)st.st_ino;
    sf.dev = (uint64_t)st.st_dev;
    memcpy(sf.sha, f->sha, SL_SHA256_LEN);
    /* With the server's chunk list (checked: the file hashed right), a
     * later delta pull need not read the file to know its chunks. */
    sf.chunks = f->chunks;
    sf.nchunks = f->nchunks;
    sl__cl_cache_put(p->cache, &sf);
    free(sf.src);
}

#define HASH_STEP (8u << 20)

/* Compares the digest, renames the part into place and makes it durable. */
static enum sl_err finalize(struct pull *p, struct pfile *f, const unsigned char got[SL_SHA256_LEN],
                            struct sl_error *err)
{
    char hex[2 * SL_SHA256_LEN + 1];

    if (memcmp(got, f->sha, SL_SHA256_LEN) != 0) {
        sl_hex(got, SL_SHA256_LEN, hex);
        (void)unlinkat(f->dirfd, f->part, 0);
        (void)unlinkat(f->dirfd, f->statename, 0);
        return sl_error_set(err, SL_EINTERNAL,
                            "%s: the downloaded bytes hash to %s, not %s; the partial file was "
                            "deleted, pull again",
                            f->path, hex, f->hex);
    }
    if (fsync(f->fd) != 0)
        return sl_error_set(err, SL_EIO, "%s: fsync failed: %s", f->path, strerror(errno));
    if (renameat(f->dirfd, f->part, f->dirfd, f->base) != 0)
        return sl_error_set(err, SL_EIO, "%s: cannot rename into place: %s", f->path,
                            strerror(errno));
    if (fsync(f->dirfd) != 0)
        return sl_error_set(err, SL_EIO, "%s: fsync of the folder failed: %s", f->path,
                            strerror(errno));
    (void)unlinkat(f->dirfd, f->statename, 0);
    cache_record(p, f);
    return SL_OK;
}

static void close_file(struct pfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->dirfd >= 0)
        close(f->dirfd);
    f->fd = f->dirfd = -1;
}

/* Hashes file `f` as its bytes arrive and finalises it. Returns false when
 * the downloads stopped before the file was complete (it stays for a
 * resume). */
static bool hash_file(struct pull *p, struct pfile *f, unsigned char *buf, struct sl_error *e,
                      enum sl_err *rc)
{
    struct sl_sha256_ctx *ctx = sl_sha256_new();
    unsigned char got[SL_SHA256_LEN];
    uint64_t hashed = 0;

    for (;;) {
        bool closing = atomic_load(&p->closing);
        uint64_t pre = atomic_load(&f->prefix);
        bool complete = atomic_load(&f->complete);

        if (closing && !complete) {
            sl_sha256_free(ctx);
            return false;
        }
        if (hashed < pre) {
            size_t n = pre - hashed < HASH_STEP ? (size_t)(pre - hashed) : HASH_STEP;
            *rc = sl_pread_full(f->fd, buf, n, hashed, f->path, e);
            if (*rc) {
                sl_sha256_free(ctx);
                return true;
            }
            sl_sha256_update(ctx, buf, n);
            hashed += n;
            continue;
        }
        if (complete)
            break;
        {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_mutex_lock(&p->lock);
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
            pthread_mutex_unlock(&p->lock);
        }
    }
    sl_sha256_final(ctx, got);
    *rc = finalize(p, f, got, e);
    return true;
}

static void *verify_main(void *arg)
{
    struct pull *p = arg;
    unsigned char *buf = sl_xmalloc(HASH_STEP);

    for (;;) {
        struct pfile *f;
        struct sl_error e;
        enum sl_err rc = SL_OK;
        bool finished;

        pthread_mutex_lock(&p->lock);
        while (p->qhead == p->qtail && !atomic_load(&p->closing))
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->qhead == p->qtail) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        f = &p->files[p->queue[p->qhead++]];
        pthread_mutex_unlock(&p->lock);

        sl_error_clear(&e);
        finished = hash_file(p, f, buf, &e, &rc);
        if (!finished)
            continue; /* main closes it; the part and state stay for a resume */
        close_file(f);
        pthread_mutex_lock(&p->lock);
        f->state = rc ? F_FAILED : F_DONE;
        if (rc && !p->verify_failed) {
            p->verify_failed = true;
            p->verify_err = e;
        }
        pthread_mutex_unlock(&p->lock);
    }
    free(buf);
    return NULL;
}

/* Hands file `i` to the hashing thread (in download order). */
static void verify_enqueue(struct pull *p, size_t i)
{
    p->files[i].state = F_VERIFYING;
    pthread_mutex_lock(&p->lock);
    p->queue[p->qtail++] = i;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void wake_hasher(struct pull *p)
{
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Publishes how many bytes from the start of `f` are written. */
static void advance(struct pull *p, struct pfile *f)
{
    uint64_t pre;

    while (f->first_open < f->nr && f->r[f->first_open].done == seg_len(p, f, f->first_open))
        f->first_open++;
    pre = f->first_open < f->nr ? f->r[f->first_open].start + f->r[f->first_open].done : f->size;
    atomic_store(&f->prefix, pre);
}

/* ---- downloads ---- */

static enum sl_err open_part(struct pull *p, struct pfile *f, struct sl_error *err)
{
    enum sl_err rc;
    int r;

    if (f->fd >= 0)
        return SL_OK;
    if (f->dirfd < 0) {
        rc = sl__cl_open_parent(p->rootfd, f->path, &f->base, &f->dirfd, err);
        if (rc)
            return rc;
    }
    f->fd = openat(f->dirfd, f->part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return sl_error_set(err, SL_EIO, "%s%s: cannot open: %s", f->path, PART_SUFFIX,
                            strerror(errno));
    /* Reserve the space now: a full disk fails here, not half-way. */
    r = fallocate(f->fd, 0, 0, (off_t)f->size);
    if (r != 0 && errno == ENOSPC)
        return sl_error_set(err, SL_ENOSPACE, "%s: no space left on the device for %llu bytes",
                            f->path, (unsigned long long)f->size);
    if (r != 0 && ftruncate(f->fd, (off_t)f->size) != 0)
        return sl_error_set(err, SL_EIO, "%s: cannot size the part file: %s", f->path,
                            strerror(errno));
    return SL_OK;
}

/* Checks the response headers: the status line, Content-Range and ETag. */
static size_t dl_header(char *buf, size_t size, size_t n, void *ud)
{
    struct dl_slot *u = ud;
    size_t len = size * n;
    char line[512];

    if (len >= sizeof(line))
        return len;
    memcpy(line, buf, len);
    line[len] = '\0';
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        line[--len] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = strchr(line, ' ');
        u->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return size * n;
    }
    if (u->status != (u->ranged ? 206 : 200))
        return size * n;
    if (strncasecmp(line, "Content-Range:", 14) == 0) {
        unsigned long long a = 0, b = 0, t = 0;
        if (sscanf(line + 14, " bytes %llu-%llu/%llu", &a, &b, &t) != 3 || a != u->from ||
            b >= u->seg_start + u->seg_len || t != u->f->size) {
            sl_error_set(&u->err, SL_EINTERNAL,
                         "%s: the server answered a range request with \"%s\" (asked for bytes "
                         "%llu-%llu of %llu)",
                         u->f->path, line, (unsigned long long)u->from,
                         (unsigned long long)(u->seg_start + u->seg_len - 1),
                         (unsigned long long)u->f->size);
            u->failed = true;
            return 0;
        }
    } else if (strncasecmp(line, "ETag:", 5) == 0) {
        const char *v = line + 5;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strncmp(v, "W/", 2) != 0 && !(v[0] == '"' && strlen(v) == 66 &&
                                          strncasecmp(v + 1, u->f->hex, 64) == 0 && v[65] == '"')) {
            sl_error_set(&u->err, SL_EINTERNAL,
                         "%s: the server sent a file with ETag %s, expected \"%s\"", u->f->path, v,
                         u->f->hex);
            u->failed = true;
            return 0;
        }
    }
    return size * n;
}

static size_t dl_write(char *ptr, size_t size, size_t n, void *ud)
{
    struct dl_slot *u = ud;
    size_t len = size * n, off = 0;

    if (u->status != (u->ranged ? 206 : 200)) {
        if (u->ranged && u->status == 200) {
            sl_error_set(&u->err, SL_EINTERNAL,
                         "%s: the server ignored the Range header (answered 200, not 206)",
                         u->f->path);
            u->failed = true;
            return 0;
        }
        sl__cl_pool_slot_body(u->ps, ptr, len);
        return len;
    }
    if (!sl__cl_rate_take(u->p->cl, u->ps, len))
        return CURL_WRITEFUNC_PAUSE;
    if (*u->done + len > u->seg_len) {
        sl_error_set(&u->err, SL_EINTERNAL, "%s: the server sent more bytes than asked for",
                     u->f->path);
        u->failed = true;
        return 0;
    }
    while (off < len) {
        ssize_t w = pwrite(u->f->fd, ptr + off, len - off, (off_t)(u->seg_start + *u->done + off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            sl_error_set(&u->err, SL_EIO, "%s%s: write failed: %s", u->f->path, PART_SUFFIX,
                         strerror(errno));
            u->failed = true;
            return 0;
        }
        off += (size_t)w;
    }
    *u->done += len;
    u->p->written += len;
    u->f->dirty = true;
    if (u->done == &u->f->r[u->f->first_open].done)
        advance(u->p, u->f);
    return len;
}

static enum sl_err dl_start(void *ctx, struct sl_pool_slot *s, size_t job, struct sl_error *err)
{
    struct pull *p = ctx;
    struct dl_slot *u = &p->slots[s->index];
    const struct job *j = &p->jobs[job];
    struct pfile *f = &p->files[j->file];
    const struct sl_curl_api *c = p->cl->c;
    struct sl_buf url = SL_BUF_INIT(16384);
    char range[80];
    enum sl_err rc;

    rc = open_part(p, f, err);
    if (rc)
        return rc;
    memset(u, 0, sizeof(*u));
    u->p = p;
    u->ps = s;
    u->f = f;
    u->seg_start = f->r[j->seg].start;
    u->seg_len = f->r[j->seg].len;
    u->done = &f->r[j->seg].done;
    u->from = u->seg_start + *u->done;
    u->ranged = !(u->from == 0 && u->seg_len == f->size);
    sl_buf_adds(&url, p->url_prefix);
    sl__cl_url_escape(&url, f->path, true);
    sl__cl_http_setup(p->cl, s->easy, sl_buf_cstr(&url), &s->headers, NULL, 60);
    sl_buf_release(&url);
    if (u->ranged) {
        snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)u->from,
                 (unsigned long long)(u->seg_start + u->seg_len - 1));
        c->easy_setopt(s->easy, CURLOPT_RANGE, range);
    }
    c->easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
    c->easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, dl_header);
    c->easy_setopt(s->easy, CURLOPT_HEADERDATA, (void *)u);
    c->easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, dl_write);
    c->easy_setopt(s->easy, CURLOPT_WRITEDATA, (void *)u);
    return SL_OK;
}

static enum sl_pool_verdict dl_finish(void *ctx, struct sl_pool_slot *s, CURLcode cc, long status,
                                      struct sl_error *err)
{
    struct pull *p = ctx;
    struct dl_slot *u = &p->slots[s->index];
    struct pfile *f = u->f;

    if (u->failed) {
        *err = u->err;
        return SL_POOL_FAIL;
    }
    if (cc == CURLE_OK && status == (u->ranged ? 206 : 200)) {
        if (*u->done < u->seg_len) {
            sl_error_set(err, SL_EUNREACHABLE, "%s: the server ended the answer early", f->path);
            return SL_POOL_RETRY;
        }
        /* Start writing the segment back now, so the final fsync is short. */
        (void)sync_file_range(f->fd, (off_t)u->seg_start, (off_t)u->seg_len, SYNC_FILE_RANGE_WRITE);
        if (--f->segs_left == 0) {
            /* The state file stays until the rename: a crash before it
             * resumes with every byte already done. */
            (void)save_state(p, f, NULL);
            advance(p, f);
            atomic_store(&f->complete, true);
            wake_hasher(p);
        }
        return SL_POOL_DONE;
    }
    if (cc != CURLE_OK)
        sl__cl_http_curl_error(p->cl, cc, s->errbuf, err);
    else
        sl__cl_http_status_error(status, s->body, s->body_len, f->path, err);
    return sl__cl_http_retryable(cc, status) ? SL_POOL_RETRY : SL_POOL_FAIL;
}

static void save_dirty(struct pull *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        struct pfile *f = &p->files[i];
        /* Only files still downloading: the verifier owns the others. */
        if (f->segs_left > 0 && f->dirty && f->dirfd >= 0)
            (void)save_state(p, f, NULL);
    }
}

static void dl_tick(void *ctx)
{
    struct pull *p = ctx;
    double now = sl__cl_now();

    sl__cl_progress_set(&p->bar, p->done_before + p->written);
    wake_hasher(p);
    if (now - p->last_save >= STATE_EVERY) {
        save_dirty(p);
        p->last_save = now;
    }
}

/* ---- planning ---- */

static enum sl_err use_manifest(struct pull *p, struct sl_error *err);

static enum sl_err read_version(struct pull *p, struct sl_error *err)
{
    const struct sl_pull_opts *o = p->o;
    struct sl_buf path = SL_BUF_INIT(4096);
    json_t *files, *e;
    size_t i;
    enum sl_err rc;

    sl_buf_addf(&path, "/api/v1/models/%s/%s/versions/", o->org, o->name);
    sl__cl_url_escape(&path, o->rev, false);
    rc = sl__cl_http_json(p->cl, "GET", sl_buf_cstr(&path), NULL, 0, 120, NULL, &p->version, err);
    sl_buf_release(&path);
    if (rc) {
        sl_error_prefix(err, "%s/%s@%s", o->org, o->name, o->rev);
        return rc;
    }
    {
        /* The server says up front when this caller may not download the
         * version (withheld, hosted, a missing grant): its reason names the
         * newest version that can be downloaded. */
        json_t *why = json_object_get(p->version, "download_refused");
        const char *msg = json_string_value(json_object_get(why, "message"));
        if (json_is_false(json_object_get(p->version, "downloadable")) && msg) {
            const char *hint = json_string_value(json_object_get(why, "hint"));
            bool auth =
                json_is_string(json_object_get(why, "error")) &&
                strcmp(json_string_value(json_object_get(why, "error")), "unauthorized") == 0;
            bool h = hint && *hint;
            return sl_error_set(err, auth ? SL_EAUTH : SL_EFORBIDDEN, "%s%s%s%s", msg,
                                h ? " (" : "", h ? hint : "", h ? ")" : "");
        }
    }
    p->commit = json_string_value(json_object_get(p->version, "commit"));
    files = json_object_get(p->version, "files");
    if (!p->commit || strlen(p->commit) != 64 || !json_is_array(files))
        return sl_error_set(err, SL_EINTERNAL,
                            "%s/%s@%s: the server's answer lacks a commit digest or a file list",
                            o->org, o->name, o->rev);
    for (const char *c = p->commit; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return sl_error_set(err, SL_EINTERNAL, "the server sent a malformed commit digest");
    p->nfiles = json_array_size(files);
    if (p->nfiles > SL_SCAN_MAX_FILES)
        return sl_error_set(err, SL_ELIMIT, "the version lists %zu files, more than %d", p->nfiles,
                            SL_SCAN_MAX_FILES);
    p->files = sl_xcalloc(p->nfiles ? p->nfiles : 1, sizeof(*p->files));
    json_array_foreach(files, i, e)
    {
        struct pfile *f = &p->files[i];
        const char *path_s = json_string_value(json_object_get(e, "path"));
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        json_t *size = json_object_get(e, "size");
        f->fd = f->dirfd = -1;
        if (!path_s || !sl__cl_path_ok(path_s))
            return sl_error_set(err, SL_EINTERNAL,
                                "the version lists a file path that could leave the destination "
                                "folder (\"%s\"); refusing it",
                                path_s ? path_s : "(none)");
        if (!json_is_integer(size) || json_integer_value(size) < 0 || !sha || strlen(sha) != 64 ||
            !sl_unhex(sha, 64, f->sha, sizeof(f->sha)))
            return sl_error_set(err, SL_EINTERNAL, "%s: the server sent a bad size or sha256",
                                path_s);
        f->path = path_s;
        f->size = (uint64_t)json_integer_value(size);
        sl_hex(f->sha, SL_SHA256_LEN, f->hex);
        f->part = sl_xasprintf("%s%s", sl_path_base(path_s), PART_SUFFIX);
        f->statename = sl_xasprintf("%s%s", sl_path_base(path_s), STATE_SUFFIX);
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->files[k].path, path_s) == 0)
                return sl_error_set(err, SL_EINTERNAL, "%s: listed twice by the server", path_s);
    }
    {
        const char *tier = json_string_value(json_object_get(p->version, "tier"));
        if (tier && strcmp(tier, "gated") == 0)
            return use_manifest(p, err);
    }
    return SL_OK;
}

/* A gated version's copy may carry the caller's fingerprint, so its files
 * do not hash to the canonical digests: the server's signed manifest of the
 * caller's copy (checked against the key pinned for the server) gives the
 * digests to verify instead (docs/fingerprint.md). */
static enum sl_err use_manifest(struct pull *p, struct sl_error *err)
{
    struct sl_buf path = SL_BUF_INIT(4096);
    struct sl_note_key key;
    struct sl_note note;
    char *text = NULL, want[512];
    size_t len = 0, matched = 0;
    const char *s, *end;
    enum sl_err rc;

    memset(&note, 0, sizeof(note));
    sl_buf_addf(&path, "/api/v1/models/%s/%s/versions/%s/manifest", p->o->org, p->o->name,
                p->commit);
    rc = sl__cl_http_text(p->cl, "GET", sl_buf_cstr(&path), NULL, NULL, 0, 1u << 20, NULL, &text,
                          &len, err);
    sl_buf_release(&path);
    if (!rc)
        rc = sl_client_server_key(p->cl, &key, NULL, err);
    if (!rc)
        rc = sl_note_open(text, len, &key, 1, &note, err);
    if (rc) {
        sl_error_prefix(err, "the manifest of your copy");
        goto out;
    }
    snprintf(want, sizeof(want), "sluice manifest v1\nmodel %s/%s\ncommit %s\n", p->o->org,
             p->o->name, p->commit);
    if (note.text_len < strlen(want) || memcmp(note.text, want, strlen(want)) != 0) {
        rc = sl_error_set(err, SL_EINTERNAL,
                          "the manifest of your copy is for another model or commit");
        goto out;
    }
    s = note.text + strlen(want);
    end = note.text + note.text_len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        char line[1200], hex[65], fpath[1100];
        unsigned long long size;
        unsigned fp_id;
        size_t n;
        if (!nl)
            break;
        n = (size_t)(nl - s);
        if (n < sizeof(line)) {
            memcpy(line, s, n);
            line[n] = '\0';
            if (sscanf(line, "fingerprint recipient %u", &fp_id) == 1)
                p->fingerprint = fp_id;
            if (sscanf(line, "file %64s %llu %1099[^\n]", hex, &size, fpath) == 3) {
                for (size_t i = 0; i < p->nfiles; i++) {
                    struct pfile *f = &p->files[i];
                    if (strcmp(f->path, fpath) != 0)
                        continue;
                    if (f->size != size || strlen(hex) != 64 ||
                        !sl_unhex(hex, 64, f->sha, sizeof(f->sha))) {
                        rc = sl_error_set(err, SL_EINTERNAL, "%s: the manifest disagrees on it",
                                          fpath);
                        goto out;
                    }
                    sl_hex(f->sha, SL_SHA256_LEN, f->hex);
                    matched++;
                }
            }
        }
        s = nl + 1;
    }
    if (matched != p->nfiles)
        rc = sl_error_set(err, SL_EINTERNAL,
                          "the manifest of your copy lists %zu of the version's %zu files", matched,
                          p->nfiles);
out:
    sl_note_free(&note);
    free(text);
    return rc;
}

/* Is the file already in place with the right bytes? */
static enum sl_err check_present(struct pull *p, struct pfile *f, struct sl_error *err)
{
    struct sl_scan_file sf;
    struct stat st;
    const char *base;
    int dirfd, fd;
    enum sl_err rc;

    rc = sl__cl_open_parent(p->rootfd, f->path, &base, &dirfd, err);
    if (rc)
        return rc;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != f->size) {
        close(dirfd);
        return SL_OK;
    }
    memset(&sf, 0, sizeof(sf));
    sf.src = sl_xasprintf("%s/%s", p->root_real ? p->root_real : "", f->path);
    sf.size = f->size;
    sf.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    sf.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    sf.ino = (uint64_t)st.st_ino;
    sf.dev = (uint64_t)st.st_dev;
    if (!(p->cache && p->root_real && sl__cl_cache_get(p->cache, &sf, false))) {
        /* When local chunks may be reused, the same read also cuts the file
         * into chunks and caches them, so indexing the destination later
         * does not read it again (files changed in the last two seconds are
         * not cached, as in the scan). */
        bool chunks = p->delta_ok && p->cache && p->root_real;
        struct timespec now;
        fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        clock_gettime(CLOCK_REALTIME, &now);
        if (fd < 0 || sl__cl_hash_fd(fd, f->path, f->size, sf.sha, chunks ? &sf.chunks : NULL,
                                     chunks ? &sf.nchunks : NULL, NULL, NULL) != SL_OK)
            memset(sf.sha, 0, sizeof(sf.sha));
        else if (p->cache && p->root_real &&
                 (memcmp(sf.sha, f->sha, SL_SHA256_LEN) == 0 ||
                  (chunks &&
                   sf.mtime_ns < (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - 2000000000LL)))
            sl__cl_cache_put(p->cache, &sf);
        if (fd >= 0)
            close(fd);
    }
    if (memcmp(sf.sha, f->sha, SL_SHA256_LEN) == 0)
        f->state = F_PRESENT;
    free(sf.src);
    free(sf.chunks);
    close(dirfd);
    return SL_OK;
}

/* ---- delta: chunks local files already hold ---- */

static int cmp_seedchunk(const void *a, const void *b)
{
    return memcmp(((const struct seedchunk *)a)->id, ((const struct seedchunk *)b)->id,
                  SL_SHA256_LEN);
}

/* Chunks every regular file under `folder` with the Xet rule (the scan
 * cache spares files already known) and adds their chunks to the index. A
 * folder that cannot be listed adds nothing: seeds are an optimisation. */
static void add_seed_folder(struct pull *p, const char *folder)
{
    struct sl_scan scan;
    struct sl_scan_opts so;
    struct sl_error e;
    struct stat st;

    if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    memset(&scan, 0, sizeof(scan));
    memset(&so, 0, sizeof(so));
    so.cache_dir = p->cache;
    sl_error_clear(&e);
    if (sl__cl_scan_list(folder, &scan, &e) != SL_OK || sl__cl_scan_hash(&scan, &so, &e) != SL_OK) {
        sl__cl_scan_release(&scan);
        return;
    }
    for (size_t i = 0; i < scan.nfiles; i++) {
        struct sl_scan_file *f = &scan.files[i];
        if (!f->nchunks)
            continue;
        p->seeds = sl_xrealloc(p->seeds, (p->nseeds + 1) * sizeof(*p->seeds));
        p->seed_fresh = sl_xrealloc(p->seed_fresh, (p->nseeds + 1) * sizeof(*p->seed_fresh));
        p->seeds[p->nseeds] = sl_xstrdup(f->src);
        p->seed_fresh[p->nseeds] = !f->cached;
        p->index = sl_xrealloc(p->index, (p->nindex + f->nchunks) * sizeof(*p->index));
        for (size_t k = 0; k < f->nchunks; k++) {
            struct seedchunk *c = &p->index[p->nindex++];
            memcpy(c->id, f->chunks[k].id, SL_SHA256_LEN);
            c->len = f->chunks[k].len;
            c->off = f->chunks[k].off;
            c->file = (uint32_t)p->nseeds;
        }
        p->nseeds++;
    }
    sl__cl_scan_release(&scan);
}

static void build_seeds(struct pull *p)
{
    if (p->seeds_built)
        return;
    p->seeds_built = true;
    add_seed_folder(p, p->o->dest);
    for (size_t i = 0; i < p->o->nseeds; i++)
        add_seed_folder(p, p->o->seeds[i]);
    if (p->nindex)
        qsort(p->index, p->nindex, sizeof(*p->index), cmp_seedchunk);
}

/* Copies chunk `c` of `f` from a local file holding it, after checking its
 * SHA-256 (a local file may have changed since it was indexed, or lie).
 * Returns true when the bytes are in the part file. */
static bool copy_local(struct pull *p, struct pfile *f, const struct sl_cl_chunk *c,
                       unsigned char *buf)
{
    struct seedchunk key, *hit;
    unsigned char got[SL_SHA256_LEN];
    size_t lo, hi;

    memcpy(key.id, c->id, SL_SHA256_LEN);
    hit = bsearch(&key, p->index, p->nindex, sizeof(*p->index), cmp_seedchunk);
    if (!hit)
        return false;
    /* any copy of it will do: step back to the first */
    lo = (size_t)(hit - p->index);
    while (lo > 0 && memcmp(p->index[lo - 1].id, c->id, SL_SHA256_LEN) == 0)
        lo--;
    for (hi = lo; hi < p->nindex && memcmp(p->index[hi].id, c->id, SL_SHA256_LEN) == 0; hi++) {
        const struct seedchunk *sc = &p->index[hi];
        ssize_t r;
        if (sc->len != c->len)
            continue;
        if (p->seed_fd < 0 || p->seed_open != sc->file) {
            if (p->seed_fd >= 0)
                close(p->seed_fd);
            p->seed_fd = open(p->seeds[sc->file], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            p->seed_open = sc->file;
            if (p->seed_fd < 0)
                continue;
        }
        r = pread(p->seed_fd, buf, c->len, (off_t)sc->off);
        if (r != (ssize_t)c->len)
            continue;
        /* A chunk list from the cache may be stale or lie: check the bytes.
         * One just computed from the file is checked by the file's own
         * SHA-256 before the rename (a file changed meanwhile fails there). */
        if (!p->seed_fresh[sc->file]) {
            sl_sha256(buf, c->len, got);
            if (memcmp(got, c->id, SL_SHA256_LEN) != 0) {
                p->bad_seeds++;
                continue;
            }
        }
        for (size_t w = 0; w < c->len;) {
            ssize_t n = pwrite(f->fd, buf + w, c->len - w, (off_t)(c->off + w));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            w += (size_t)n;
        }
        return true;
    }
    return false;
}

/* Reads the chunk list of `f` (open and click versions) and checks it
 * describes exactly `f->size` bytes in order. False when there is none. */
static bool read_chunks(struct pull *p, struct pfile *f)
{
    struct sl_buf path = SL_BUF_INIT(4096);
    json_t *a = NULL, *list, *e;
    struct sl_error e2;
    uint64_t at = 0;
    size_t i;
    bool ok = false;

    sl_error_clear(&e2);
    sl_buf_addf(&path, "/api/v1/models/%s/%s/versions/%s/chunks/", p->o->org, p->o->name,
                p->commit);
    sl__cl_url_escape(&path, f->path, true);
    if (sl__cl_http_json(p->cl, "GET", sl_buf_cstr(&path), NULL, 0, 60, NULL, &a, &e2) != SL_OK)
        goto out;
    list = json_object_get(a, "chunks");
    if (!json_is_array(list) ||
        json_integer_value(json_object_get(a, "size")) != (json_int_t)f->size)
        goto out;
    f->nchunks = json_array_size(list);
    if (f->nchunks > f->size)
        goto out;
    f->chunks = sl_xcalloc(f->nchunks ? f->nchunks : 1, sizeof(*f->chunks));
    json_array_foreach(list, i, e)
    {
        json_int_t off = json_integer_value(json_array_get(e, 0));
        json_int_t len = json_integer_value(json_array_get(e, 1));
        const char *hex = json_string_value(json_array_get(e, 2));
        if (off < 0 || (uint64_t)off != at || len <= 0 || len > SL_CDC_MAX || !hex ||
            strlen(hex) != 64 || !sl_unhex(hex, 64, f->chunks[i].id, SL_SHA256_LEN))
            goto out;
        f->chunks[i].off = at;
        f->chunks[i].len = (uint32_t)len;
        at += (uint64_t)len;
    }
    ok = at == f->size;
out:
    if (!ok) {
        free(f->chunks);
        f->chunks = NULL;
        f->nchunks = 0;
    }
    json_decref(a);
    sl_buf_release(&path);
    return ok;
}

static void add_range(struct pfile *f, uint64_t start, uint64_t len, bool done, uint64_t segment)
{
    /* network ranges are at most a segment long */
    while (len > 0) {
        uint64_t n = done || len <= segment ? len : segment;
        f->r = sl_xrealloc(f->r, (f->nr + 1) * sizeof(*f->r));
        f->r[f->nr].start = start;
        f->r[f->nr].len = n;
        f->r[f->nr].done = done ? n : 0;
        f->nr++;
        start += n;
        len -= n;
    }
}

/* Fills the part file of `f` from local chunks and leaves the ranges still
 * to download. False when the delta path does not apply (no chunk list). */
static bool plan_delta(struct pull *p, struct pfile *f, struct sl_error *err, enum sl_err *rc)
{
    unsigned char *buf;
    uint64_t run_start = 0;
    bool run_local = false;

    *rc = SL_OK;
    if (!read_chunks(p, f))
        return false;
    *rc = open_part(p, f, err);
    if (*rc)
        return true;
    buf = sl_xmalloc(SL_CDC_MAX);
    for (size_t i = 0; i <= f->nchunks; i++) {
        bool local = i < f->nchunks && copy_local(p, f, &f->chunks[i], buf);
        uint64_t at = i < f->nchunks ? f->chunks[i].off : f->size;
        if (i == f->nchunks || (i > 0 && local != run_local)) {
            if (at > run_start)
                add_range(f, run_start, at - run_start, run_local, p->segment);
            run_start = at;
        }
        if (local)
            f->reused += f->chunks[i].len;
        run_local = local;
    }
    free(buf);
    p->reused += f->reused;
    /* What was copied counts as done should the pull be interrupted. */
    (void)save_state(p, f, NULL);
    return true;
}

/* --include / --exclude with Hugging Face's rules: a path is kept when it
 * matches any include (or there are none) and no exclude; matching is
 * fnmatch without FNM_PATHNAME ('*' crosses '/'), case-sensitive, '\\'
 * in a pattern is '/', and a pattern ending in '/' means everything under
 * that folder. */
bool sl__cl_glob_match(const char *pat, const char *path)
{
    size_t n = strlen(pat);
    char *q = sl_xmalloc(n + 2);
    bool hit;

    for (size_t i = 0; i < n; i++)
        q[i] = pat[i] == '\\' ? '/' : pat[i];
    q[n] = '\0';
    if (n && q[n - 1] == '/') {
        q[n] = '*';
        q[n + 1] = '\0';
    }
    hit = fnmatch(q, path, FNM_NOESCAPE) == 0;
    free(q);
    return hit;
}

static bool selected(const struct sl_pull_opts *o, const char *path)
{
    bool keep = o->ninclude == 0;

    for (size_t i = 0; i < o->ninclude && !keep; i++)
        keep = sl__cl_glob_match(o->include[i], path);
    for (size_t i = 0; i < o->nexclude && keep; i++)
        keep = !sl__cl_glob_match(o->exclude[i], path);
    return keep;
}

static enum sl_err select_files(struct pull *p, struct sl_error *err)
{
    size_t kept = 0;

    for (size_t i = 0; i < p->nfiles; i++) {
        if (!selected(p->o, p->files[i].path)) {
            free(p->files[i].part);
            free(p->files[i].statename);
            continue;
        }
        p->files[kept++] = p->files[i];
    }
    if (kept == 0 && p->nfiles > 0) {
        size_t n = p->nfiles;
        p->nfiles = 0;
        return sl_error_set(err, SL_EUSAGE,
                            "--include/--exclude select none of the version's %zu files", n);
    }
    p->nfiles = kept;
    return SL_OK;
}

static enum sl_err plan(struct pull *p, struct sl_error *err)
{
    uint64_t need = 0;
    struct statvfs vfs;
    const char *tier = json_string_value(json_object_get(p->version, "tier"));
    /* Only open and click versions have chunk lists: a gated copy carries
     * its recipient's marks, so it is always fetched whole (ranges of the
     * marked stream on resume). */
    bool delta_ok = tier && (strcmp(tier, "open") == 0 || strcmp(tier, "click") == 0);
    enum sl_err rc;

    p->delta_ok = delta_ok;
    p->jobs = NULL;
    for (size_t i = 0; i < p->nfiles; i++) {
        struct pfile *f = &p->files[i];
        rc = check_present(p, f, err);
        if (rc)
            return rc;
        if (f->state == F_PRESENT) {
            p->present += f->size;
            continue;
        }
        p->total += f->size;
        rc = sl__cl_open_parent(p->rootfd, f->path, &f->base, &f->dirfd, err);
        if (rc)
            return rc;
        if (!load_state(p, f)) {
            bool delta = false;
            /* Local chunks are indexed once, when the first file needs
             * bytes: a pull with everything present reads nothing more. */
            if (delta_ok && f->size > 0)
                build_seeds(p);
            if (delta_ok && p->nindex && f->size > 0) {
                delta = plan_delta(p, f, err, &rc);
                if (rc)
                    return rc;
            }
            if (!delta) {
                free(f->r);
                f->r = NULL;
                f->nr = 0;
                add_range(f, 0, f->size, false, p->segment);
            }
        }
        for (uint64_t k = 0; k < f->nr; k++) {
            p->done_before += f->r[k].done;
            if (f->r[k].done < f->r[k].len) {
                f->segs_left++;
                need += f->r[k].len - f->r[k].done;
            }
        }
        advance(p, f);
        if (f->fd < 0 && (f->segs_left == 0 || atomic_load(&f->prefix) > 0)) {
            /* Empty, resumed or all there: the hashing thread reads it now. */
            f->fd = openat(f->dirfd, f->part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (f->fd < 0)
                return sl_error_set(err, SL_EIO, "%s%s: cannot open: %s", f->path, PART_SUFFIX,
                                    strerror(errno));
        } else if (f->fd < 0) {
            /* Few descriptors stay open: the folder is opened again on start. */
            close(f->dirfd);
            f->dirfd = -1;
        }
        if (f->segs_left == 0)
            atomic_store(&f->complete, true);
        if (f->segs_left == 0)
            continue;
        p->jobs = sl_xrealloc(p->jobs, (p->njobs + f->segs_left) * sizeof(*p->jobs));
        for (uint64_t k = 0; k < f->nr; k++) {
            if (f->r[k].done < f->r[k].len) {
                p->jobs[p->njobs].file = (uint32_t)i;
                p->jobs[p->njobs].seg = (uint32_t)k;
                p->njobs++;
            }
        }
    }
    /* Every local copy is made before any file is renamed into place (an
     * earlier version being replaced may be the source of chunks). */
    for (size_t i = 0; i < p->nfiles; i++)
        if (p->files[i].state != F_PRESENT)
            verify_enqueue(p, i);
    if (need && fstatvfs(p->rootfd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
        char a[32], b[32];
        return sl_error_set(err, SL_ENOSPACE, "%s: %s free, %s needed", p->o->dest,
                            sl__cl_fmt_bytes((uint64_t)vfs.f_bavail * vfs.f_frsize, a, sizeof(a)),
                            sl__cl_fmt_bytes(need, b, sizeof(b)));
    }
    return SL_OK;
}

enum sl_err sl_client_pull(struct sl_client *cl, const struct sl_pull_opts *o, json_t **result,
                           struct sl_error *err)
{
    static const struct sl_pool_ops ops = {dl_start, dl_finish, dl_tick};
    struct pull p;
    int streams = o->streams > 0 ? o->streams : DEFAULT_STREAMS;
    json_t *res = NULL, *list;
    unsigned char warm[SL_SHA256_LEN];
    enum sl_err rc;

    memset(&p, 0, sizeof(p));
    p.cl = cl;
    p.o = o;
    p.rootfd = -1;
    p.seed_fd = -1;
    p.segment = o->segment ? o->segment : DEFAULT_SEGMENT;
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    /* The SHA-256 implementation is fetched once; do it before the thread. */
    sl_sha256("", 0, warm);
    if (!sl__cl_name_ok(o->org) || !sl__cl_name_ok(o->name)) {
        rc = sl_error_set(err, SL_EUSAGE, "\"%s/%s\": not a valid model name", o->org, o->name);
        goto out;
    }
    rc = read_version(&p, err);
    if (!rc)
        rc = select_files(&p, err);
    if (rc)
        goto out;
    rc = sl__cl_mkdirs(o->dest, 0755, err);
    if (rc)
        goto out;
    p.rootfd = open(o->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p.rootfd < 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot open: %s", o->dest, strerror(errno));
        goto out;
    }
    p.root_real = realpath(o->dest, NULL);
    if (o->cache_dir) {
        p.cache = o->cache_dir[0] ? sl_xstrdup(o->cache_dir) : NULL;
    } else {
        char *st = sl__cl_xdg_dir("XDG_CACHE_HOME", ".cache");
        p.cache = st ? sl_xasprintf("%s/scan-cache", st) : NULL;
        free(st);
    }
    p.queue = sl_xmalloc((p.nfiles ? p.nfiles : 1) * sizeof(*p.queue));
    if (pthread_create(&p.verifier, NULL, verify_main, &p) != 0) {
        rc = sl_error_set(err, SL_EIO, "cannot start the verifying thread");
        goto out;
    }
    p.verifier_on = true;
    rc = plan(&p, err);
    if (rc)
        goto out;
    if (p.njobs) {
        struct sl_buf u = SL_BUF_INIT(4096);
        sl_buf_addf(&u, "%s/api/v1/models/%s/%s/versions/%s/files/", cl->url, o->org, o->name,
                    p.commit);
        p.url_prefix = sl_buf_detach(&u, NULL);
        if ((size_t)streams > p.njobs)
            streams = (int)p.njobs;
        p.slots = sl_xcalloc((size_t)streams, sizeof(*p.slots));
        sl__cl_progress_init(&p.bar, o->progress, "downloading", p.total);
        p.bar.base = p.done_before;
        p.bar.reused = p.reused;
        p.last_save = sl__cl_now();
        rc = sl__cl_pool_run(cl, p.njobs, streams, &ops, &p, err);
        save_dirty(&p);
        sl__cl_progress_end(&p.bar);
        if (rc)
            sl_error_prefix(err, "%s/%s", o->org, o->name);
    }
out:
    if (p.verifier_on) {
        atomic_store(&p.closing, true);
        wake_hasher(&p);
        pthread_join(p.verifier, NULL);
    }
    if (!rc && p.verify_failed) {
        rc = p.verify_err.code;
        if (err)
            *err = p.verify_err;
    }
    if (!rc) {
        size_t i;
        res = json_object();
        list = json_array();
        for (i = 0; i < p.nfiles; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "path", json_string(p.files[i].path));
            json_object_set_new(e, "size", json_integer((json_int_t)p.files[i].size));
            json_object_set_new(e, "sha256", json_string(p.files[i].hex));
            json_object_set_new(e, "downloaded", json_boolean(p.files[i].state == F_DONE));
            json_array_append_new(list, e);
        }
        json_object_set_new(res, "commit", json_string(p.commit));
        json_object_set_new(res, "files", list);
        json_object_set_new(res, "bytes_downloaded", json_integer((json_int_t)p.written));
        /* the licensee is told that the copy identifies them */
        json_object_set_new(res, "fingerprint_recipient",
                            p.fingerprint ? json_integer(p.fingerprint) : json_null());
        json_object_set_new(res, "bytes_reused", json_integer((json_int_t)(p.reused + p.present)));
        {
            uint64_t total = 0;
            for (i = 0; i < p.nfiles; i++)
                total += p.files[i].size;
            json_object_set_new(res, "bytes_total", json_integer((json_int_t)total));
        }
        json_object_set_new(res, "bad_local_chunks", json_integer((json_int_t)p.bad_seeds));
        for (i = 0; i < 3; i++) {
            static const char *const keys[] = {"model", "version", "tier"};
            json_t *v = json_object_get(p.version, keys[i]);
            json_object_set(res, keys[i], v ? v : json_null());
        }
        *result = res;
    }
    for (size_t i = 0; i < p.nfiles; i++) {
        struct pfile *f = &p.files[i];
        uint64_t got = 0;
        for (uint64_t k = 0; k < f->nr; k++)
            got += f->r[k].done;
        /* A part file that never received a byte (the download was refused,
         * say) is not worth keeping. */
        if (rc && f->segs_left > 0 && got == 0 && f->dirfd >= 0) {
            (void)unlinkat(f->dirfd, f->part, 0);
            (void)unlinkat(f->dirfd, f->statename, 0);
        }
        close_file(f);
        free(p.files[i].part);
        free(p.files[i].statename);
        free(p.files[i].r);
        free(p.files[i].chunks);
    }
    if (p.rootfd >= 0)
        close(p.rootfd);
    free(p.files);
    free(p.jobs);
    free(p.slots);
    free(p.queue);
    free(p.url_prefix);
    free(p.cache);
    free(p.root_real);
    for (size_t i = 0; i < p.nseeds; i++)
        free(p.seeds[i]);
    free(p.seeds);
    free(p.seed_fresh);
    free(p.index);
    if (p.seed_fd >= 0)
        close(p.seed_fd);
    json_decref(p.version);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
    return rc;
}
