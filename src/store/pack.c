/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pack writer (store.h): a buffered append-only file in the store's local
 * staging folder, fsynced and handed to the store's `put` when sealed. All
 * writes go through the vfs table so tests can inject failures.
 *
 * Where the file system allows it the staging file is written with O_DIRECT,
 * in whole aligned blocks from an aligned buffer: the bytes go from that
 * buffer to the disk without being copied into the page cache and written
 * back later, which on the push path cost the server more CPU than anything
 * but SHA-256 (docs/PERFORMANCE.md, "Push against dd"). The unaligned tail
 * and everything after a short or refused direct write go through the page
 * cache as before; the fsync at the seal is what makes the pack durable
 * either way.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define WBUF      (4u << 20)
#define DIO_ALIGN 4096u /* covers every logical block size Linux uses */

struct sl_pack_writer {
    struct sl_store *store;
    char *tmp;
    char name[SL_PACK_NAME_LEN + 1];
    int fd;
    uint64_t size;      /* bytes appended */
    uint64_t flushed;   /* bytes written to the file */
    unsigned char *buf; /* WBUF bytes, DIO_ALIGN-aligned */
    size_t buf_len;
    bool direct; /* fd has O_DIRECT: write whole aligned blocks only */
};

/* Leaves direct I/O for the rest of the file (its tail, or after a short or
 * refused direct write). */
static void drop_direct(struct sl_pack_writer *w)
{
    int fl = fcntl(w->fd, F_GETFL);

    if (fl >= 0)
        (void)fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
    w->direct = false;
}

/* Writes `n` bytes at the end of the file, directly while the file, the
 * buffer and the length allow it; errors name the file as
 * sl_vfs_write_all's do. */
static enum sl_err write_out(struct sl_pack_writer *w, const unsigned char *p, size_t n,
                             struct sl_error *err)
{
    while (n > 0) {
        ssize_t r;
        if (w->direct && ((w->flushed | n | (uintptr_t)p) & (DIO_ALIGN - 1)) != 0)
            drop_direct(w);
        r = sl_vfs->pwrite(w->fd, p, n, (off_t)w->flushed);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EINVAL && w->direct) {
            drop_direct(w); /* the file system refuses this direct write */
            continue;
        }
        if (r < 0 && (errno == ENOSPC || errno == EDQUOT))
            return sl_error_set(err, SL_ENOSPACE, "%s: write failed: no space left on the device",
                                w->tmp);
        if (r < 0)
            return sl_error_set(err, SL_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
        if (r == 0)
            return sl_error_set(err, SL_EIO, "%s: write failed: write made no progress", w->tmp);
        p += r;
        n -= (size_t)r;
        w->flushed += (uint64_t)r;
    }
    return SL_OK;
}

enum sl_err sl_pack_begin(struct sl_store *s, struct sl_pack_writer **out, struct sl_error *err)
{
    struct sl_pack_writer *w = sl_xcalloc(1, sizeof(*w));
    unsigned char rnd[SL_PACK_NAME_LEN / 2];
    enum sl_err rc;

    sl_random(rnd, sizeof(rnd));
    sl_hex(rnd, sizeof(rnd), w->name);
    w->store = s;
    w->tmp = sl_xasprintf("%s/%s.pack", s->staging, w->name);
    w->fd = -1;
    rc = sl_vfs_mkdirs(s->staging, 0700, err);
    if (rc)
        goto fail;
    w->fd = sl_vfs->open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        rc = sl_error_set(err, errno == ENOSPC ? SL_ENOSPACE : SL_EIO, "%s: cannot create: %s",
                          w->tmp, strerror(errno));
        goto fail;
    }
    w->buf = aligned_alloc(DIO_ALIGN, WBUF);
    if (w->buf) {
        int fl = fcntl(w->fd, F_GETFL);
        w->direct = fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0;
    } else {
        w->buf = sl_xmalloc(WBUF); /* unaligned: no direct I/O */
    }
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
    rc = write_out(w, w->buf, w->buf_len, err);
    if (rc)
        return rc;
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
    if (!w->direct && w->buf_len == 0 && n >= WBUF / 16) {
        /* a whole chunk with nothing buffered: write it from where it is */
        enum sl_err rc = write_out(w, p, n, err);
        if (rc)
            return rc;
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
    enum sl_err rc = SL_OK;
    size_t whole = w->buf_len & ~(size_t)(DIO_ALIGN - 1);

    /* the aligned part directly, the tail through the page cache */
    if (w->direct && whole > 0 && whole < w->buf_len) {
        rc = write_out(w, w->buf, whole, err);
        if (!rc) {
            memmove(w->buf, w->buf + whole, w->buf_len - whole);
            w->buf_len -= whole;
        }
    }
    if (!rc)
        rc = flush(w, err);
    if (!rc)
        rc = sl_vfs_sync(w->fd, w->tmp, err);
    if (!rc) {
        sl_vfs->close(w->fd);
        w->fd = -1;
        rc = sl_store_put(w->store, w->name, w->tmp, w->size, err);
    }
    if (!rc) {
        memcpy(name, w->name, SL_PACK_NAME_LEN + 1);
        free(w->tmp);
        w->tmp = NULL; /* stored: nothing to remove */
    }
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
    free(w->buf);
    free(w);
}
