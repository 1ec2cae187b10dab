/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded file reading (io.h).
 */
#include "common/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/util.h"
#include "common/banned.h"

enum sl_err sl_file_open(const char *path, int *fd, uint64_t *size, struct sl_error *err)
{
    struct stat st;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
     * below as not a regular file. */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (f < 0)
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return sl_error_set(err, SL_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return sl_error_set(err, SL_EINPUT, "%s: not a regular file", path);
    }
    /* Back to blocking reads. Of the flags F_SETFL can change, only
     * O_NONBLOCK was set by the open() above, so setting none clears it
     * without asking for the flags first (a system call less per file). */
    (void)fcntl(f, F_SETFL, 0);
    *fd = f;
    *size = (uint64_t)st.st_size;
    return SL_OK;
}

enum sl_err sl_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *path,
                          struct sl_error *err)
{
    char *p = buf;
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, p + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return sl_error_set(err, SL_EIO, "%s: read failed at byte %llu: %s", path,
                                (unsigned long long)(off + done), strerror(errno));
        }
        if (r == 0)
            return sl_error_set(err, SL_EIO, "%s: file ended at byte %llu while reading", path,
                                (unsigned long long)(off + done));
        done += (size_t)r;
    }
    return SL_OK;
}

enum sl_err sl_read_file(const char *path, size_t limit, char **data, size_t *len,
                         struct sl_error *err)
{
    int fd;
    uint64_t size;
    char *buf;
    enum sl_err rc;

    rc = sl_file_open(path, &fd, &size, err);
    if (rc)
        return rc;
    if (size > limit) {
        close(fd);
        return sl_error_set(err, SL_ELIMIT, "%s: file is %llu bytes, more than the %zu allowed",
                            path, (unsigned long long)size, limit);
    }
    buf = sl_xmalloc((size_t)size + 1);
    sl_populate(buf, (size_t)size); /* faster than a fault per page */
    rc = sl_pread_full(fd, buf, (size_t)size, 0, path, err);
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *data = buf;
    if (len)
        *len = (size_t)size;
    return SL_OK;
}
