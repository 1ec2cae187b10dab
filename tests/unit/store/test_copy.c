/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store/copy.c: a pack copied from one store to another is hashed on both
 * sides; a copy that reads back differently is removed and refused, a pack
 * the target holds already is skipped only when its bytes are the same, and
 * other bytes under its name are never overwritten.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../helpers.h"
#include "crypto/crypto.h"
#include "store/store.h"

static struct sl_store *open_at(const char *data, const char *sub)
{
    char url[1200];
    struct sl_store *s;
    struct sl_error err;

    snprintf(url, sizeof(url), "file:%s/%s", data, sub);
    cr_assert_eq(sl_store_open(url, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    return s;
}

static void one_pack(struct sl_store *s, char *name, unsigned char sha[32])
{
    struct sl_pack_writer *w;
    struct sl_error err;
    uint64_t off;
    unsigned char buf[100000];

    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    cr_assert_eq(sl_pack_begin(s, &w, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_pack_append(w, buf, sizeof(buf), &off, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_pack_seal(w, name, &err), SL_OK, "%s", err.msg);
    sl_sha256(buf, sizeof(buf), sha);
}

static void pack_file(const char *data, const char *sub, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s/%.2s/%s.pack", data, sub, name, name);
}

Test(store_copy, copies_verifies_and_skips_on_a_second_run)
{
    char *data = th_tmpdir(), name[SL_PACK_NAME_LEN + 1], path[1300];
    struct sl_store *a = open_at(data, "a"), *b = open_at(data, "b");
    unsigned char want[32], got[32];
    uint64_t size;
    bool copied;
    struct sl_error err;
    struct stat st;

    one_pack(a, name, want);
    cr_assert_eq(sl_store_copy_pack(a, b, 1, name, got, &size, &copied, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(copied);
    cr_expect_eq(size, 100000);
    cr_expect_arr_eq(got, want, 32);
    pack_file(data, "b", name, path, sizeof(path));
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_size, 100000);
    /* nothing left in the target's staging folder */
    snprintf(path, sizeof(path), "%s/%s.pack", b->staging, name);
    cr_expect_neq(stat(path, &st), 0, "staging file left behind");
    memset(got, 0, sizeof(got));
    cr_assert_eq(sl_store_copy_pack(a, b, 1, name, got, &size, &copied, &err), SL_OK, "%s",
                 err.msg);
    cr_expect(!copied, "already there with the same bytes");
    cr_expect_arr_eq(got, want, 32);
    /* a pack the source lacks */
    cr_expect_eq(
        sl_store_copy_pack(a, b, 2, "00112233445566778899aabbccddeeff", got, &size, &copied, &err),
        SL_ENOTFOUND);
    sl_store_free(a);
    sl_store_free(b);
    th_rmtree(data);
}

Test(store_copy, other_bytes_under_the_name_are_refused_and_kept)
{
    char *data = th_tmpdir(), name[SL_PACK_NAME_LEN + 1], path[1300], dir[1300];
    struct sl_store *a = open_at(data, "a"), *b = open_at(data, "b");
    unsigned char want[32], got[32];
    unsigned char junk[100000];
    uint64_t size;
    bool copied;
    struct sl_error err;

    one_pack(a, name, want);
    memset(junk, 0x5a, sizeof(junk));
    snprintf(dir, sizeof(dir), "%s/b/%.2s", data, name);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s.pack", name);
    th_write(dir, path, junk, sizeof(junk));
    cr_assert_eq(sl_store_copy_pack(a, b, 1, name, got, &size, &copied, &err), SL_ECONFLICT);
    cr_expect(strstr(err.msg, "holds other bytes under its name") != NULL, "%s", err.msg);
    cr_expect(!copied);
    /* shorter: refused by size */
    th_write(dir, path, junk, 10);
    cr_assert_eq(sl_store_copy_pack(a, b, 1, name, got, &size, &copied, &err), SL_ECONFLICT);
    cr_expect(strstr(err.msg, "holds 10 bytes") != NULL, "%s", err.msg);
    pack_file(data, "b", name, path, sizeof(path));
    {
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_expect_eq(st.st_size, 10, "never overwritten");
    }
    sl_store_free(a);
    sl_store_free(b);
    th_rmtree(data);
}

/* A target that damages what it stores: its put flips one byte. */
static const struct sl_store_ops *real_ops;
static char damaged_root[1200];

static enum sl_err damaging_put(struct sl_store *s, const char *name, const char *path,
                                uint64_t size, struct sl_error *err)
{
    enum sl_err rc = real_ops->put(s, name, path, size, err);
    char final[1300];
    unsigned char c;
    int fd;

    if (rc)
        return rc;
    snprintf(final, sizeof(final), "%s/%.2s/%s.pack", damaged_root, name, name);
    fd = open(final, O_RDWR);
    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, &c, 1, 777), 1);
    c ^= 1;
    cr_assert_eq(pwrite(fd, &c, 1, 777), 1);
    close(fd);
    return SL_OK;
}

Test(store_copy, a_copy_that_reads_back_differently_is_removed)
{
    char *data = th_tmpdir(), name[SL_PACK_NAME_LEN + 1], path[1300];
    struct sl_store *a = open_at(data, "a"), *b = open_at(data, "b");
    static struct sl_store_ops bad;
    unsigned char want[32], got[32];
    uint64_t size;
    bool copied;
    struct sl_error err;
    struct stat st;

    one_pack(a, name, want);
    real_ops = b->ops;
    bad = *b->ops;
    bad.put = damaging_put;
    b->ops = &bad;
    snprintf(damaged_root, sizeof(damaged_root), "%s/b", data);
    cr_assert_eq(sl_store_copy_pack(a, b, 1, name, got, &size, &copied, &err), SL_EIO);
    cr_expect(strstr(err.msg, "reads back as sha256") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "the copy was removed") != NULL, "%s", err.msg);
    pack_file(data, "b", name, path, sizeof(path));
    cr_expect_neq(stat(path, &st), 0, "the bad copy is still there");
    b->ops = real_ops;
    sl_store_free(a);
    sl_store_free(b);
    th_rmtree(data);
}
