/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pack writer (src/store/pack.c): whatever the sizes of the appends, the
 * sealed pack holds exactly the bytes appended at the offsets returned; on a
 * file system with direct I/O the bytes go to the disk without being kept in
 * the page cache; a direct write the file system refuses, or a short one,
 * falls back to buffered writes and still yields the same pack.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../helpers.h"
#include "common/vfs.h"
#include "crypto/crypto.h"
#include "store/store.h"

/* Appends sizes chosen to cross the writer's 1 MiB buffer and 4 KiB blocks
 * at odd places; the total is not a multiple of 4096. */
static const size_t sizes[] = {1,          4095,  131072, (1u << 20) + 3, 65536, 7,
                               (3u << 20), 12345, 131072, 4096,           1};

static size_t total_size(void)
{
    size_t n = 0;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        n += sizes[i];
    return n;
}

/* Writes a pack of `sizes` from `data` into store `s`; checks the offsets. */
static void write_pack(struct sl_store *s, const unsigned char *data, char *name)
{
    struct sl_pack_writer *w;
    struct sl_error err;
    size_t at = 0;

    cr_assert_eq(sl_pack_begin(s, &w, &err), SL_OK, "%s", err.msg);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t off = 0;
        cr_assert_eq(sl_pack_append(w, data + at, sizes[i], &off, &err), SL_OK, "%s", err.msg);
        cr_assert_eq(off, at, "append %zu landed at %llu, not %zu", i, (unsigned long long)off, at);
        at += sizes[i];
    }
    cr_assert_eq(sl_pack_size(w), at);
    cr_assert_eq(sl_pack_seal(w, name, &err), SL_OK, "%s", err.msg);
}

static void expect_pack(const char *data_dir, const char *name, const unsigned char *want, size_t n)
{
    char rel[80], *path;
    unsigned char *got;
    size_t len = 0;

    snprintf(rel, sizeof(rel), "packs/%.2s/%s.pack", name, name);
    path = th_path(data_dir, rel);
    got = th_read(path, &len);
    cr_assert_eq(len, n, "the pack is %zu bytes, not %zu", len, n);
    cr_assert(memcmp(got, want, n) == 0, "the pack's bytes differ from those appended");
    free(got);
    free(path);
}

static unsigned char *random_bytes(size_t n)
{
    unsigned char *p = malloc(n);

    cr_assert_not_null(p);
    sl_random(p, n);
    return p;
}

Test(store_pack, holds_exactly_the_bytes_appended)
{
    char *data = th_tmpdir(), name[SL_PACK_NAME_LEN + 1];
    size_t n = total_size();
    unsigned char *bytes = random_bytes(n), back[4096];
    struct sl_store *s;
    struct sl_error err;

    cr_assert_eq(sl_store_open(NULL, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    write_pack(s, bytes, name);
    expect_pack(data, name, bytes, n);
    /* and through the store, at an offset that is no block boundary */
    cr_assert_eq(sl_store_read(s, 1, name, back, sizeof(back), n - sizeof(back) - 5, &err), SL_OK,
                 "%s", err.msg);
    cr_assert(memcmp(back, bytes + n - sizeof(back) - 5, sizeof(back)) == 0);
    sl_store_free(s);
    free(bytes);
    th_rmtree(data);
}

/* True when files in `dir` can be opened with O_DIRECT. */
static bool direct_io_works(const char *dir)
{
    char *path = th_path(dir, "probe");
    int fd = open(path, O_WRONLY | O_CREAT | O_DIRECT, 0600);

    if (fd >= 0)
        close(fd);
    unlink(path);
    free(path);
    return fd >= 0;
}

Test(store_pack, bytes_bypass_the_page_cache_where_direct_io_works)
{
    char *data = th_tmpdir(), name[SL_PACK_NAME_LEN + 1], rel[80], *path;
    size_t n = total_size(), pages, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *bytes = random_bytes(n), *vec;
    struct sl_store *s;
    struct sl_error err;
    void *map;
    int fd;

    if (!direct_io_works(data)) {
        th_rmtree(data);
        cr_skip_test("the temporary folder's file system has no direct I/O");
    }
    cr_assert_eq(sl_store_open(NULL, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    write_pack(s, bytes, name);
    snprintf(rel, sizeof(rel), "packs/%.2s/%s.pack", name, name);
    path = th_path(data, rel);
    fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    map = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
    cr_assert_neq(map, MAP_FAILED);
    pages = (n + (size_t)page - 1) / (size_t)page;
    vec = calloc(pages, 1);
    cr_assert_eq(mincore(map, n, vec), 0, "%s", strerror(errno));
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1;
    /* only the unaligned tail goes through the page cache */
    cr_assert_leq(resident, 2, "%zu of the pack's %zu pages are in the page cache", resident,
                  pages);
    munmap(map, n);
    close(fd);
    expect_pack(data, name, bytes, n);
    free(vec);
    free(path);
    sl_store_free(s);
    free(bytes);
    th_rmtree(data);
}

/* A pwrite that refuses the first direct write it sees (as a file system
 * without direct I/O for some files would), then cuts every write short. */
static int refused;

static ssize_t fussy_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0 && (fl & O_DIRECT) && !refused) {
        refused = 1;
        errno = EINVAL;
        return -1;
    }
    return sl_vfs_posix.pwrite(fd, buf, n > 3000 ? 3000 : n, off);
}

static ssize_t short_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    /* half of it, which leaves the next direct write unaligned */
    return sl_vfs_posix.pwrite(fd, buf, n > 1 ? n / 2 + 1 : n, off);
}

Test(store_pack, refused_and_short_direct_writes_fall_back)
{
    char *data = th_tmpdir(), name[SL_PACK_NAME_LEN + 1];
    size_t n = total_size();
    unsigned char *bytes = random_bytes(n);
    struct sl_store *s;
    struct sl_error err;
    struct sl_vfs ops = sl_vfs_posix;

    cr_assert_eq(sl_store_open(NULL, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    ops.pwrite = fussy_pwrite;
    refused = 0;
    sl_vfs_set(&ops);
    write_pack(s, bytes, name);
    sl_vfs_set(NULL);
    expect_pack(data, name, bytes, n);
    ops.pwrite = short_pwrite;
    sl_vfs_set(&ops);
    write_pack(s, bytes, name);
    sl_vfs_set(NULL);
    expect_pack(data, name, bytes, n);
    sl_store_free(s);
    free(bytes);
    th_rmtree(data);
}

static int full_calls;

static ssize_t full_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    (void)fd;
    (void)buf;
    (void)n;
    (void)off;
    full_calls++;
    errno = ENOSPC;
    return -1;
}

Test(store_pack, a_full_disk_is_reported_not_retried)
{
    char *data = th_tmpdir();
    /* more than the writer buffers (4 MiB): append must write */
    unsigned char *bytes = random_bytes(9u << 20);
    struct sl_store *s;
    struct sl_pack_writer *w;
    struct sl_error err;
    struct sl_vfs ops = sl_vfs_posix;
    uint64_t off;
    enum sl_err rc;

    cr_assert_eq(sl_store_open(NULL, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_pack_begin(s, &w, &err), SL_OK, "%s", err.msg);
    ops.pwrite = full_pwrite;
    full_calls = 0;
    sl_vfs_set(&ops);
    rc = sl_pack_append(w, bytes, 9u << 20, &off, &err);
    sl_vfs_set(NULL);
    cr_assert_eq(rc, SL_ENOSPACE, "%s", err.msg);
    cr_assert(strstr(err.msg, "no space") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, ".pack") != NULL, "the message names the file: %s", err.msg);
    cr_assert_eq(full_calls, 1, "a full disk was written to %d times", full_calls);
    sl_pack_abort(w);
    sl_store_free(s);
    free(bytes);
    th_rmtree(data);
}
