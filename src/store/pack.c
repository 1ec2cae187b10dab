/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pack writer (store.h): a buffered append-only file in the store's local
 * staging folder, fsynced and handed to the store's `put` when sealed. All
 * writes go through the vfs table so tests can inject failures.
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

#define WBUF (1u << 20)

struct sl_pack_writer {
    struct sl_store *store;
    char *tmp;
    char name[SL_PACK_NAME_LEN + 1];
    int fd;
    uint64_t size;    /* bytes appended */
    uint64_t flushed; /* bytes written to the file */
    unsigned char *buf;
    size_t buf_len;
};

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
    enum sl_err rc = flush(w, err);

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
