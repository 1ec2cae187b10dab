/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scan cache: what hashing a file found (its SHA-256 and chunk list),
 * keyed by the file's absolute path, size, mtime, ctime, inode and device, so
 * pushing an unchanged folder again, or checking files a pull already wrote,
 * does not read every byte again. One entry per path under
 * $XDG_STATE_HOME/sluice/scan-cache; format in client_int.h. The cache is
 * only an optimisation: every failure here is a miss.
 */
#include "client/client_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/util.h"
#include "store/store.h"
#include "common/banned.h"

#define HEAD 56u /* bytes before the path */

static char *entry_path(const char *dir, const char *src)
{
    unsigned char h[SL_SHA256_LEN];
    char hex[2 * SL_SHA256_LEN + 1];

    sl_sha256(src, strlen(src), h);
    sl_hex(h, sizeof(h), hex);
    return sl_xasprintf("%s/%s", dir, hex);
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

bool sl__cl_cache_get(const char *dir, struct sl_scan_file *f, bool need_chunks)
{
    char *path = entry_path(dir, f->src);
    size_t plen = strlen(f->src), len = 0, n;
    uint64_t max_chunks = f->size / SL_CDC_MIN + 1, sum = 0, count;
    size_t limit = HEAD + plen + 40 + (size_t)max_chunks * 36 + 32;
    unsigned char *b = NULL, check[SL_SHA256_LEN];
    struct sl_cl_chunk *chunks = NULL;
    uint32_t flags;
    bool ok = false;

    if (sl_read_file(path, limit, (char **)&b, &len, NULL) != SL_OK)
        goto out;
    if (len < HEAD + plen + 40 + 32 || memcmp(b, SL_CACHE_MAGIC, 8) != 0)
        goto out;
    sl_sha256(b, len - 32, check);
    if (memcmp(check, b + len - 32, 32) != 0)
        goto out;
    flags = sl_load_le32(b + 8);
    if (sl_load_le32(b + 12) != plen || memcmp(b + HEAD, f->src, plen) != 0)
        goto out;
    if (sl_load_le64(b + 16) != f->size || (int64_t)sl_load_le64(b + 24) != f->mtime_ns ||
        (int64_t)sl_load_le64(b + 32) != f->ctime_ns || sl_load_le64(b + 40) != f->ino ||
        sl_load_le64(b + 48) != f->dev)
        goto out;
    count = sl_load_le64(b + HEAD + plen + 32);
    if (count > max_chunks || len != HEAD + plen + 40 + (size_t)count * 36 + 32)
        goto out;
    if (!(flags & SL_CACHE_HAS_CHUNKS)) {
        if (need_chunks || count != 0)
            goto out;
    } else {
        if ((count == 0) != (f->size == 0))
            goto out;
        n = (size_t)count;
        chunks = sl_xmalloc((n ? n : 1) * sizeof(*chunks));
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = b + HEAD + plen + 40 + i * 36;
            memcpy(chunks[i].id, p, 32);
            chunks[i].len = sl_load_le32(p + 32);
            chunks[i].off = sum;
            if (chunks[i].len == 0 || chunks[i].len > SL_CDC_MAX)
                goto out;
            sum += chunks[i].len;
        }
        if (sum != f->size)
            goto out;
        free(f->chunks);
        f->chunks = chunks;
        f->nchunks = n;
        chunks = NULL;
    }
    memcpy(f->sha, b + HEAD + plen, 32);
    ok = true;
    /* Mark it recently used, for pruning. */
    (void)utimensat(AT_FDCWD, path, NULL, 0);
out:
    free(chunks);
    free(b);
    free(path);
    return ok;
}

void sl__cl_cache_put(const char *dir, const struct sl_scan_file *f)
{
    size_t plen = strlen(f->src), n = f->chunks ? f->nchunks : 0;
    size_t len = HEAD + plen + 40 + n * 36 + 32;
    unsigned char *b;
    char *path;

    if (n > ((size_t)SL_CACHE_MAX_BYTES - HEAD - plen) / 36 / 2)
        return; /* one entry may not take half the cache */
    if (sl__cl_mkdirs(dir, 0700, NULL) != SL_OK)
        return;
    b = sl_xcalloc(1, len);
    memcpy(b, SL_CACHE_MAGIC, 8);
    put32(b + 8, f->chunks ? SL_CACHE_HAS_CHUNKS : 0);
    put32(b + 12, (uint32_t)plen);
    put64(b + 16, f->size);
    put64(b + 24, (uint64_t)f->mtime_ns);
    put64(b + 32, (uint64_t)f->ctime_ns);
    put64(b + 40, f->ino);
    put64(b + 48, f->dev);
    memcpy(b + HEAD, f->src, plen);
    memcpy(b + HEAD + plen, f->sha, 32);
    put64(b + HEAD + plen + 32, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = b + HEAD + plen + 40 + i * 36;
        memcpy(p, f->chunks[i].id, 32);
        put32(p + 32, f->chunks[i].len);
    }
    sl_sha256(b, len - 32, b + len - 32);
    path = entry_path(dir, f->src);
    /* Not fsynced: a torn entry fails its checksum and is a miss. */
    (void)sl__cl_write_atomic(path, b, len, 0600, false, NULL);
    free(path);
    free(b);
}

struct entry {
    char *name;
    uint64_t size;
    struct timespec used;
};

static int cmp_used(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    if (x->used.tv_nsec != y->used.tv_nsec)
        return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
    return 0;
}

void sl__cl_cache_prune(const char *dir, uint64_t max_bytes)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct entry *list = NULL;
    size_t n = 0, alloc = 0;
    uint64_t total = 0;
    time_t now = time(NULL);

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        /* Temporary files of writers that died. */
        if (strstr(e->d_name, ".tmp-")) {
            if (now - st.st_mtim.tv_sec > 3600)
                (void)unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 256;
            list = sl_xrealloc(list, alloc * sizeof(*list));
        }
        list[n].name = sl_xstrdup(e->d_name);
        list[n].size = (uint64_t)st.st_size;
        list[n].used = st.st_mtim;
        total += list[n].size;
        n++;
    }
    if (total > max_bytes) {
        qsort(list, n, sizeof(*list), cmp_used);
        for (size_t i = 0; i < n && total > max_bytes; i++) {
            if (unlinkat(dirfd(d), list[i].name, 0) == 0)
                total -= list[i].size;
        }
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
}
