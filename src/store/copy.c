/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copying one pack from one blob store to another (`sluice admin migrate
 * --from-store --to-store`, docs/database.md "Moving up"): the source's bytes
 * are hashed on the way through a local staging file, the file is handed to
 * the target's `put`, and the object is then read back from the target and
 * hashed again; the two SHA-256 digests must agree.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define COPY_BUF (4u << 20)

/* SHA-256 of the first `size` bytes of pack `name` in `s`. */
static enum sl_err hash_pack(struct sl_store *s, int64_t id, const char *name, uint64_t size,
                             unsigned char *buf, unsigned char out[32], struct sl_error *err)
{
    struct sl_sha256_ctx *h = sl_sha256_new();
    uint64_t off = 0;
    enum sl_err rc = SL_OK;

    while (off < size) {
        size_t n = size - off < COPY_BUF ? (size_t)(size - off) : COPY_BUF;
        rc = sl_store_read(s, id, name, buf, n, off, err);
        if (rc)
            break;
        sl_sha256_update(h, buf, n);
        off += n;
    }
    sl_sha256_final(h, out); /* frees h */
    return rc;
}

/* Streams pack `name` from `src` into the staging file `tmp`, hashing it. */
static enum sl_err stage(struct sl_store *src, int64_t id, const char *name, uint64_t size,
                         const char *tmp, unsigned char *buf, unsigned char out[32],
                         struct sl_error *err)
{
    struct sl_sha256_ctx *h = sl_sha256_new();
    uint64_t off = 0;
    enum sl_err rc = SL_OK;
    int fd = sl_vfs->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0) {
        rc = sl_error_set(err, errno == ENOSPC ? SL_ENOSPACE : SL_EIO, "%s: cannot create: %s", tmp,
                          strerror(errno));
        goto out;
    }
    while (off < size) {
        size_t n = size - off < COPY_BUF ? (size_t)(size - off) : COPY_BUF;
        rc = sl_store_read(src, id, name, buf, n, off, err);
        if (!rc)
            rc = sl_vfs_write_all(fd, buf, n, off, tmp, err);
        if (rc)
            goto out;
        sl_sha256_update(h, buf, n);
        off += n;
    }
    rc = sl_vfs_sync(fd, tmp, err);
out:
    if (fd >= 0)
        sl_vfs->close(fd);
    sl_sha256_final(h, out); /* frees h */
    return rc;
}

enum sl_err sl_store_copy_pack(struct sl_store *src, struct sl_store *dst, int64_t id,
                               const char *name, unsigned char sha256[32], uint64_t *size,
                               bool *copied, struct sl_error *err)
{
    unsigned char *buf = NULL, back[32];
    uint64_t ssize = 0, dsize = 0;
    char *tmp = NULL;
    char shex[65], dhex[65];
    struct sl_error serr;
    enum sl_err rc;

    *copied = false;
    *size = 0;
    rc = sl_store_stat(src, name, &ssize, err);
    if (rc)
        return rc;
    *size = ssize;
    buf = sl_xmalloc(COPY_BUF);
    sl_error_clear(&serr);
    rc = sl_store_stat(dst, name, &dsize, &serr);
    if (rc == SL_OK) {
        /* there already (an earlier run): the same bytes, or refuse */
        rc = hash_pack(src, id, name, ssize, buf, sha256, err);
        if (!rc && dsize != ssize)
            rc = sl_error_set(err, SL_ECONFLICT,
                              "pack %s: %s holds %llu bytes under its name, the source %llu "
                              "(another registry's pack? nothing was overwritten)",
                              name, dst->url, (unsigned long long)dsize, (unsigned long long)ssize);
        if (!rc)
            rc = hash_pack(dst, id, name, dsize, buf, back, err);
        if (!rc && memcmp(back, sha256, 32) != 0) {
            sl_hex(sha256, 32, shex);
            sl_hex(back, 32, dhex);
            rc = sl_error_set(err, SL_ECONFLICT,
                              "pack %s: %s holds other bytes under its name (sha256 %s, the "
                              "source's %s); nothing was overwritten",
                              name, dst->url, dhex, shex);
        }
        goto out;
    }
    if (rc != SL_ENOTFOUND) {
        *err = serr;
        goto out;
    }
    rc = sl_vfs_mkdirs(dst->staging, 0700, err);
    if (rc)
        goto out;
    tmp = sl_xasprintf("%s/%s.pack", dst->staging, name);
    rc = stage(src, id, name, ssize, tmp, buf, sha256, err);
    if (!rc)
        rc = sl_store_put(dst, name, tmp, ssize, err);
    if (rc) {
        sl_vfs->unlink(tmp);
        goto out;
    }
    *copied = true;
    /* read back what the target now holds and compare */
    rc = sl_store_stat(dst, name, &dsize, err);
    if (!rc && dsize != ssize)
        rc = sl_error_set(err, SL_EIO, "pack %s: %s holds %llu bytes after the upload, not %llu",
                          name, dst->url, (unsigned long long)dsize, (unsigned long long)ssize);
    if (!rc)
        rc = hash_pack(dst, id, name, dsize, buf, back, err);
    if (!rc && memcmp(back, sha256, 32) != 0) {
        sl_hex(sha256, 32, shex);
        sl_hex(back, 32, dhex);
        rc = sl_error_set(err, SL_EIO,
                          "pack %s: the copy in %s reads back as sha256 %s, the source is %s; "
                          "the copy was removed",
                          name, dst->url, dhex, shex);
        sl_store_remove(dst, name, &serr);
    }
out:
    sl_store_drop(src, id);
    sl_store_drop(dst, id);
    free(tmp);
    free(buf);
    return rc;
}
