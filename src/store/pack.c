/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pack files (store.h): a buffered append-only writer that makes a pack
 * durable before it gets a name, and a shared cache of read descriptors.
 * All writes go through the vfs table so tests can inject failures.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define WBUF (1u << 20)

struct sl_pack_writer {
    char *root;
    char *tmp;
    char name[SL_PACK_NAME_LEN + 1];
    int fd;
    uint64_t size;    /* bytes appended */
    uint64_t flushed; /* bytes written to the file */
    unsigned char *buf;
    size_t buf_len;
};

char *sl_pack_path(const char *root, const char *name)
{
    return sl_xasprintf("%s/packs/%.2s/%s.pack", root, name, name);
}

enum sl_err sl_pack_begin(const char *root, struct sl_pack_writer **out, struct sl_error *err)
{
    struct sl_pack_writer *w = sl_xcalloc(1, sizeof(*w));
    unsigned char rnd[SL_PACK_NAME_LEN / 2];
    char *dir = sl_xasprintf("%s/packs/tmp", root);
    enum sl_err rc;

    sl_random(rnd, sizeof(rnd));
    sl_hex(rnd, sizeof(rnd), w->name);
    w->root = sl_xstrdup(root);
    w->tmp = sl_xasprintf("%s/%s.pack", dir, w->name);
    w->fd = -1;
    rc = sl_vfs_mkdirs(dir, 0700, err);
    free(dir);
    if (rc)
        goto fail;
    w->fd = sl_vfs->open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        rc = sl_error_set(err, errno == ENOSPC ? SL_ENOSPACE : SL_EIO, "%s: cannot create: %s",
                          w->tmp, strerror(errno));
        goto fail;
    }
    w->buf = sl_xmalloc(WBUF);
    *out = w;
    return SL_OK;
fail:
    sl_pack_abort(w);
    return rc;
}

static enum sl_err flush(struct sl_pack_writer *w, struct sl_error *err)
{
    enum sl_err rc;

    if (w->buf_len == 0)
        return SL_OK;
    rc = sl_vfs_write_all(w->fd, w->buf, w->buf_len, w->flushed, w->tmp, err);
    if (rc)
        return rc;
    w->flushed += w->buf_len;
    w->buf_len = 0;
    return SL_OK;
}

enum sl_err sl_pack_append(struct sl_pack_writer *w, const void *data, size_t n, uint64_t *offset,
                           struct sl_error *err)
{
    const unsigned char *p = data;

    if (n > SL_PACK_MAX - w->size)
        return sl_error_set(err, SL_ELIMIT, "pack would pass %llu bytes",
                            (unsigned long long)SL_PACK_MAX);
    *offset = w->size;
    if (w->buf_len == 0 && n >= WBUF / 16) {
        /* a whole chunk with nothing buffered: write it from where it is */
        enum sl_err rc = sl_vfs_write_all(w->fd, p, n, w->flushed, w->tmp, err);
        if (rc)
            return rc;
        w->flushed += n;
        w->size += n;
        return SL_OK;
    }
    while (n > 0) {
        size_t take = WBUF - w->buf_len;
        enum sl_err rc;
        if (take > n)
            take = n;
        memcpy(w->buf + w->buf_len, p, take);
        w->buf_len += take;
        w->size += take;
        p += take;
        n -= take;
        if (w->buf_len == WBUF) {
            rc = flush(w, err);
            if (rc)
                return rc;
        }
    }
    return SL_OK;
}

uint64_t sl_pack_size(const struct sl_pack_writer *w)
{
    return w->size;
}

enum sl_err sl_pack_seal(struct sl_pack_writer *w, char *name, struct sl_error *err)
{
    char *dir = sl_xasprintf("%s/packs/%.2s", w->root, w->name);
    char *final = sl_pack_path(w->root, w->name);
    enum sl_err rc = flush(w, err);

    if (!rc)
        rc = sl_vfs_sync(w->fd, w->tmp, err);
    if (!rc)
        rc = sl_vfs_mkdirs(dir, 0700, err);
    if (!rc && sl_vfs->rename(w->tmp, final) != 0)
        rc = sl_error_set(err, errno == ENOSPC ? SL_ENOSPACE : SL_EIO, "%s: rename failed: %s",
                          final, strerror(errno));
    if (!rc)
        rc = sl_vfs_sync_dir(dir, err);
    if (!rc) {
        memcpy(name, w->name, SL_PACK_NAME_LEN + 1);
        free(w->tmp);
        w->tmp = NULL; /* renamed: nothing to remove */
    } else if (access(final, F_OK) == 0 && w->tmp) {
        /* renamed but the folder sync failed: remove the final name */
        sl_vfs->unlink(final);
    }
    free(dir);
    free(final);
    sl_pack_abort(w);
    return rc;
}

void sl_pack_abort(struct sl_pack_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        sl_vfs->close(w->fd);
    if (w->tmp)
        sl_vfs->unlink(w->tmp);
    free(w->tmp);
    free(w->root);
    free(w->buf);
    free(w);
}

enum sl_err sl_pack_remove(const char *root, const char *name, struct sl_error *err)
{
    char *path = sl_pack_path(root, name);
    enum sl_err rc = SL_OK;

    if (sl_vfs->unlink(path) != 0 && errno != ENOENT)
        rc = sl_error_set(err, SL_EIO, "%s: cannot remove: %s", path, strerror(errno));
    free(path);
    return rc;
}

/* ---- reader cache ---- */

struct open_pack {
    int64_t id;
    int fd;
};

struct sl_pack_cache {
    char *root;
    pthread_rwlock_t lock;
    struct open_pack *v;
    size_t n, cap;
};

struct sl_pack_cache *sl_pack_cache_new(const char *root)
{
    struct sl_pack_cache *c = sl_xcalloc(1, sizeof(*c));

    c->root = sl_xstrdup(root);
    pthread_rwlock_init(&c->lock, NULL);
    return c;
}

void sl_pack_cache_free(struct sl_pack_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        close(c->v[i].fd);
    free(c->v);
    free(c->root);
    pthread_rwlock_destroy(&c->lock);
    free(c);
}

static int find_fd(struct sl_pack_cache *c, int64_t id)
{
    /* Kept sorted by id: binary search. */
    size_t lo = 0, hi = c->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->v[mid].id == id)
            return c->v[mid].fd;
        if (c->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int get_fd(struct sl_pack_cache *c, int64_t id, const char *name, struct sl_error *err)
{
    int fd;
    size_t at;

    pthread_rwlock_rdlock(&c->lock);
    fd = find_fd(c, id);
    pthread_rwlock_unlock(&c->lock);
    if (fd >= 0)
        return fd;
    pthread_rwlock_wrlock(&c->lock);
    fd = find_fd(c, id);
    if (fd < 0) {
        char *path = sl_pack_path(c->root, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            sl_error_set(err, SL_EIO, "%s: cannot open pack: %s", path, strerror(errno));
            free(path);
            pthread_rwlock_unlock(&c->lock);
            return -1;
        }
        free(path);
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->v = sl_xrealloc(c->v, c->cap * sizeof(*c->v));
        }
        at = c->n;
        while (at > 0 && c->v[at - 1].id > id) {
            c->v[at] = c->v[at - 1];
            at--;
        }
        c->v[at].id = id;
        c->v[at].fd = fd;
        c->n++;
    }
    pthread_rwlock_unlock(&c->lock);
    return fd;
}

enum sl_err sl_pack_read(struct sl_pack_cache *c, int64_t id, const char *name, void *buf, size_t n,
                         uint64_t off, struct sl_error *err)
{
    char *p = buf;
    int fd = get_fd(c, id, name, err);

    if (fd < 0)
        return SL_EIO;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return sl_error_set(err, SL_EIO, "pack %s: read of %zu bytes at %llu failed: %s", name,
                                n, (unsigned long long)off,
                                r < 0 ? strerror(errno) : "file is shorter than recorded");
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return SL_OK;
}

void sl_pack_cache_drop(struct sl_pack_cache *c, int64_t id)
{
    pthread_rwlock_wrlock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].id == id) {
            close(c->v[i].fd);
            memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
            c->n--;
            break;
        }
    }
    pthread_rwlock_unlock(&c->lock);
}
