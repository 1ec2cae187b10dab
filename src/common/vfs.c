/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage operations table and the durable-write helpers (vfs.h).
 */
#include "common/vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

static int p_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

const struct sl_vfs sl_vfs_posix = {
    p_open, pwrite, pread, fsync, ftruncate, rename, unlink, mkdir, close,
};

const struct sl_vfs *sl_vfs = &sl_vfs_posix;

void sl_vfs_set(const struct sl_vfs *ops)
{
    sl_vfs = ops ? ops : &sl_vfs_posix;
}

static enum sl_err io_error(int e, const char *what, const char *path, struct sl_error *err)
{
    if (e == ENOSPC || e == EDQUOT)
        return sl_error_set(err, SL_ENOSPACE, "%s: %s: no space left on the device", path, what);
    return sl_error_set(err, SL_EIO, "%s: %s: %s", path, what, strerror(e));
}

enum sl_err sl_vfs_write_all(int fd, const void *buf, size_t n, uint64_t off, const char *path,
                             struct sl_error *err)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = sl_vfs->pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return io_error(errno, "write failed", path, err);
        }
        if (w == 0)
            return io_error(EIO, "write made no progress", path, err);
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return SL_OK;
}

enum sl_err sl_vfs_sync(int fd, const char *path, struct sl_error *err)
{
    if (sl_vfs->fsync(fd) != 0)
        return io_error(errno, "fsync failed", path, err);
    return SL_OK;
}

enum sl_err sl_vfs_sync_dir(const char *dir, struct sl_error *err)
{
    int fd = sl_vfs->open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    enum sl_err rc;

    if (fd < 0)
        return io_error(errno, "cannot open folder", dir, err);
    rc = sl_vfs_sync(fd, dir, err);
    sl_vfs->close(fd);
    return rc;
}

enum sl_err sl_vfs_write_file(const char *path, const void *data, size_t n, mode_t mode,
                              struct sl_error *err)
{
    char *tmp = sl_xasprintf("%s.tmp.%ld", path, (long)getpid());
    char *dir = sl_xstrdup(path);
    char *slash = strrchr(dir, '/');
    int fd;
    enum sl_err rc;

    if (slash)
        *slash = '\0';
    else {
        free(dir);
        dir = sl_xstrdup(".");
    }
    fd = sl_vfs->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = io_error(errno, "cannot create", tmp, err);
        goto out;
    }
    rc = sl_vfs_write_all(fd, data, n, 0, tmp, err);
    if (!rc)
        rc = sl_vfs_sync(fd, tmp, err);
    sl_vfs->close(fd);
    if (!rc && sl_vfs->rename(tmp, path) != 0)
        rc = io_error(errno, "rename failed", path, err);
    if (!rc)
        rc = sl_vfs_sync_dir(dir, err);
    if (rc)
        sl_vfs->unlink(tmp);
out:
    free(tmp);
    free(dir);
    return rc;
}

enum sl_err sl_vfs_mkdirs(const char *path, mode_t mode, struct sl_error *err)
{
    char *p = sl_xstrdup(path);
    enum sl_err rc = SL_OK;

    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (sl_vfs->mkdir(p, mode) != 0 && errno != EEXIST) {
                rc = io_error(errno, "cannot create folder", p, err);
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    free(p);
    return rc;
}
