/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local-folder blob store (store.h): packs at PATH/XX/NAME.pack, staged
 * in PATH/tmp/ (same file system, so `put` is an atomic rename followed by a
 * folder fsync), read through a shared cache of open descriptors.
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "common/vfs.h"
#include "common/banned.h"

struct open_pack {
    int64_t id;
    int fd;
};

struct file_store {
    struct sl_store base;
    char *root;
    pthread_rwlock_t lock;
    struct open_pack *v; /* sorted by id */
    size_t n, cap;
};

static char *pack_path(const struct file_store *f, const char *name)
{
    return sl_xasprintf("%s/%.2s/%s.pack", f->root, name, name);
}

static enum sl_err file_put(struct sl_store *s, const char *name, const char *path, uint64_t size,
                            struct sl_error *err)
{
    struct file_store *f = (struct file_store *)s;
    char *dir = sl_xasprintf("%s/%.2s", f->root, name);
    char *final = pack_path(f, name);
    enum sl_err rc = sl_vfs_mkdirs(dir, 0700, err);

    (void)size;
    if (!rc && sl_vfs->rename(path, final) != 0)
        rc = sl_error_set(err, errno == ENOSPC ? SL_ENOSPACE : SL_EIO, "%s: rename failed: %s",
                          final, strerror(errno));
    else if (!rc) {
        rc = sl_vfs_sync_dir(dir, err);
        if (rc)
            sl_vfs->unlink(final); /* renamed but not durable: no name for it */
    }
    free(dir);
    free(final);
    return rc;
}

static int find_fd(struct file_store *c, int64_t id)
{
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

static int get_fd(struct file_store *c, int64_t id, const char *name, struct sl_error *err)
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
        char *path = pack_path(c, name);
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

static enum sl_err file_read(struct sl_store *s, int64_t id, const char *name, void *buf, size_t n,
                             uint64_t off, struct sl_error *err)
{
    char *p = buf;
    int fd = get_fd((struct file_store *)s, id, name, err);

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

static void file_drop(struct sl_store *s, int64_t id)
{
    struct file_store *c = (struct file_store *)s;

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

static enum sl_err file_list(struct sl_store *s, sl_store_list_fn fn, void *arg,
                             struct sl_error *err)
{
    struct file_store *f = (struct file_store *)s;
    DIR *d = opendir(f->root);
    struct dirent *e;
    int stop = 0;

    if (!d) {
        if (errno == ENOENT)
            return SL_OK;
        return sl_error_set(err, SL_EIO, "%s: cannot list: %s", f->root, strerror(errno));
    }
    while (!stop && (e = readdir(d)) != NULL) {
        char *sub;
        DIR *d2;
        struct dirent *g;
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "tmp") == 0)
            continue;
        sub = sl_xasprintf("%s/%s", f->root, e->d_name);
        if (stat(sub, &st) == 0 && !S_ISDIR(st.st_mode)) {
            /* a file beside the pack folders: not ours */
            struct sl_store_obj o = {e->d_name, NULL, (uint64_t)st.st_size, (int64_t)st.st_mtime};
            stop = fn(arg, &o);
            free(sub);
            continue;
        }
        d2 = opendir(sub);
        while (!stop && d2 && (g = readdir(d2)) != NULL) {
            char *key, *path, name[SL_PACK_NAME_LEN + 1];
            if (strcmp(g->d_name, ".") == 0 || strcmp(g->d_name, "..") == 0)
                continue;
            key = sl_xasprintf("%s/%s", e->d_name, g->d_name);
            path = sl_xasprintf("%s/%s", f->root, key);
            if (stat(path, &st) == 0) {
                bool is_pack = S_ISREG(st.st_mode) && sl_store_pack_key(key, name);
                struct sl_store_obj o = {key, is_pack ? name : NULL, (uint64_t)st.st_size,
                                         (int64_t)st.st_mtime};
                stop = fn(arg, &o);
            }
            free(path);
            free(key);
        }
        if (d2)
            closedir(d2);
        free(sub);
    }
    closedir(d);
    return SL_OK;
}

static enum sl_err file_remove(struct sl_store *s, const char *name, struct sl_error *err)
{
    char *path = pack_path((struct file_store *)s, name);
    enum sl_err rc = SL_OK;

    if (sl_vfs->unlink(path) != 0 && errno != ENOENT)
        rc = sl_error_set(err, SL_EIO, "%s: cannot remove: %s", path, strerror(errno));
    free(path);
    return rc;
}

static enum sl_err file_stat(struct sl_store *s, const char *name, uint64_t *size,
                             struct sl_error *err)
{
    char *path = pack_path((struct file_store *)s, name);
    struct stat st;
    enum sl_err rc = SL_OK;

    if (stat(path, &st) != 0)
        rc = sl_error_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EIO, "%s: %s", path,
                          errno == ENOENT ? "file missing" : strerror(errno));
    else
        *size = (uint64_t)st.st_size;
    free(path);
    return rc;
}

static void file_free(struct sl_store *s)
{
    struct file_store *f = (struct file_store *)s;

    for (size_t i = 0; i < f->n; i++)
        close(f->v[i].fd);
    free(f->v);
    pthread_rwlock_destroy(&f->lock);
    free(f->root);
    free(f->base.url);
    free(f->base.staging);
    free(f);
}

static const struct sl_store_ops file_ops = {
    .kind = "file",
    .put = file_put,
    .read = file_read,
    .list = file_list,
    .remove = file_remove,
    .stat = file_stat,
    .drop = file_drop,
    .free = file_free,
};

/* Re-labels the error in `err` as "store URL unreachable: ..." (exit 3). */
static enum sl_err unreachable(struct sl_error *err, const char *url)
{
    char why[sizeof(err->msg)];

    snprintf(why, sizeof(why), "%s", err->msg);
    if (url)
        return sl_error_set(err, SL_EUNREACHABLE, "store %s unreachable: %s", url, why);
    return sl_error_set(err, SL_EUNREACHABLE, "%s", why);
}

enum sl_err sl__store_file_open(const char *path, struct sl_store **out, struct sl_error *err)
{
    struct file_store *f;
    struct stat st;
    enum sl_err rc;

    if (!path[0])
        return sl_error_set(err, SL_EUSAGE, "store \"file:\" names no folder");
    f = sl_xcalloc(1, sizeof(*f));
    f->base.ops = &file_ops;
    f->base.url = sl_xasprintf("file:%s", path);
    f->base.staging = sl_xasprintf("%s/tmp", path);
    f->root = sl_xstrdup(path);
    pthread_rwlock_init(&f->lock, NULL);
    rc = sl_vfs_mkdirs(f->base.staging, 0700, err);
    if (!rc && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = sl_error_set(err, SL_EUNREACHABLE, "store %s: not a folder", f->base.url);
    if (rc) {
        if (rc == SL_EIO)
            rc = unreachable(err, f->base.url);
        file_free(&f->base);
        return rc;
    }
    *out = &f->base;
    return SL_OK;
}
