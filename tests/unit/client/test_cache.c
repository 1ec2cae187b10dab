/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scan cache: an unchanged file's hashes are reused, a changed file or a
 * corrupt entry is a miss, and a second scan of a folder reads nothing.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "../helpers.h"

static void age(const char *path, time_t secs)
{
    struct timespec t[2];

    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= secs;
    t[1] = t[0];
    cr_assert_eq(utimensat(AT_FDCWD, path, t, 0), 0);
}

static unsigned char *data(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n);

    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
    return b;
}

static void scan(const char *dir, const char *cache, struct sl_scan *s)
{
    struct sl_scan_opts o = {0};
    struct sl_error err;

    o.cache_dir = cache;
    cr_assert_eq(sl__cl_scan_list(dir, s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl__cl_scan_hash(s, &o, &err), SL_OK, "%s", err.msg);
}

/* The only entry in the cache folder. */
static char *only_entry(const char *cache)
{
    char cmd[1200], line[1024];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "ls '%s'", cache);
    p = popen(cmd, "r");
    cr_assert(fgets(line, sizeof(line), p) != NULL);
    pclose(p);
    line[strcspn(line, "\n")] = '\0';
    return th_path(cache, line);
}

Test(cache, unchanged_file_is_reused)
{
    char *dir = th_tmpdir(), *cache = th_path(dir, "cache"), *model = th_path(dir, "m");
    char *file = th_path(model, "w.bin");
    unsigned char *d = data(500000, 7);
    struct sl_scan a, b;

    mkdir(model, 0755);
    th_write(model, "w.bin", d, 500000);
    age(file, 3600);
    scan(model, cache, &a);
    cr_expect(!a.files[0].cached);
    scan(model, cache, &b);
    cr_expect(b.files[0].cached, "second scan comes from the cache");
    cr_expect_eq(b.cached_bytes, 500000);
    cr_assert_eq(a.files[0].nchunks, b.files[0].nchunks);
    cr_expect(memcmp(a.files[0].sha, b.files[0].sha, 32) == 0);
    for (size_t i = 0; i < a.files[0].nchunks; i++) {
        cr_expect(memcmp(a.files[0].chunks[i].id, b.files[0].chunks[i].id, 32) == 0);
        cr_expect_eq(a.files[0].chunks[i].len, b.files[0].chunks[i].len);
        cr_expect_eq(a.files[0].chunks[i].off, b.files[0].chunks[i].off);
    }
    sl__cl_scan_release(&a);
    sl__cl_scan_release(&b);
    free(d);
    free(file);
    free(model);
    free(cache);
    th_rmtree(dir);
}

Test(cache, changed_file_is_hashed_again)
{
    char *dir = th_tmpdir(), *cache = th_path(dir, "cache"), *model = th_path(dir, "m");
    char *file = th_path(model, "w.bin");
    unsigned char *d = data(100000, 1);
    struct sl_scan a, b;

    mkdir(model, 0755);
    th_write(model, "w.bin", d, 100000);
    age(file, 3600);
    scan(model, cache, &a);
    d[500] ^= 1; /* same size, new content, new mtime */
    th_write(model, "w.bin", d, 100000);
    age(file, 1800);
    scan(model, cache, &b);
    cr_expect(!b.files[0].cached);
    cr_expect(memcmp(a.files[0].sha, b.files[0].sha, 32) != 0);
    sl__cl_scan_release(&a);
    sl__cl_scan_release(&b);
    free(d);
    free(file);
    free(model);
    free(cache);
    th_rmtree(dir);
}

Test(cache, recently_modified_file_is_not_cached)
{
    char *dir = th_tmpdir(), *cache = th_path(dir, "cache"), *model = th_path(dir, "m");
    struct sl_scan a, b;

    mkdir(model, 0755);
    th_write(model, "w.bin", "fresh", 5);
    scan(model, cache, &a);
    scan(model, cache, &b);
    cr_expect(!b.files[0].cached, "a file written just now may still change in the same tick");
    sl__cl_scan_release(&a);
    sl__cl_scan_release(&b);
    free(model);
    free(cache);
    th_rmtree(dir);
}

static void corrupt_and_rescan(long offset, bool truncate_it)
{
    char *dir = th_tmpdir(), *cache = th_path(dir, "cache"), *model = th_path(dir, "m");
    char *file = th_path(model, "w.bin"), *entry;
    unsigned char *d = data(300000, 3);
    struct sl_scan a, b;
    struct stat st;
    int fd;

    mkdir(model, 0755);
    th_write(model, "w.bin", d, 300000);
    age(file, 3600);
    scan(model, cache, &a);
    entry = only_entry(cache);
    cr_assert_eq(stat(entry, &st), 0);
    fd = open(entry, O_RDWR);
    cr_assert(fd >= 0);
    if (truncate_it) {
        cr_assert_eq(ftruncate(fd, st.st_size / 2), 0);
    } else {
        unsigned char c;
        off_t at = offset >= 0 ? offset : st.st_size + offset;
        cr_assert_eq(pread(fd, &c, 1, at), 1);
        c ^= 0x40;
        cr_assert_eq(pwrite(fd, &c, 1, at), 1);
    }
    close(fd);
    scan(model, cache, &b);
    cr_expect(!b.files[0].cached, "a corrupt entry is ignored");
    cr_expect(memcmp(a.files[0].sha, b.files[0].sha, 32) == 0);
    cr_expect_eq(a.files[0].nchunks, b.files[0].nchunks);
    sl__cl_scan_release(&a);
    sl__cl_scan_release(&b);
    free(entry);
    free(d);
    free(file);
    free(model);
    free(cache);
    th_rmtree(dir);
}

Test(cache, corrupt_magic_is_ignored)
{
    corrupt_and_rescan(0, false);
}

Test(cache, corrupt_chunk_is_ignored)
{
    corrupt_and_rescan(-100, false);
}

Test(cache, truncated_entry_is_ignored)
{
    corrupt_and_rescan(0, true);
}

Test(cache, entry_without_chunks_serves_only_hash_lookups)
{
    char *dir = th_tmpdir(), *cache = th_path(dir, "cache");
    struct sl_scan_file f, g;

    memset(&f, 0, sizeof(f));
    f.src = "/nowhere/w.bin";
    f.size = 12345;
    f.mtime_ns = 1;
    f.ctime_ns = 2;
    f.ino = 3;
    f.dev = 4;
    memset(f.sha, 0xab, 32);
    sl__cl_cache_put(cache, &f);
    g = f;
    memset(g.sha, 0, 32);
    cr_expect(!sl__cl_cache_get(cache, &g, true));
    cr_expect(sl__cl_cache_get(cache, &g, false));
    cr_expect(memcmp(g.sha, f.sha, 32) == 0);
    g.ino = 99;
    cr_expect(!sl__cl_cache_get(cache, &g, false), "another inode is another file");
    free(cache);
    th_rmtree(dir);
}

Test(cache, prune_keeps_the_total_bounded)
{
    char *dir = th_tmpdir(), *cache = th_path(dir, "cache");
    struct sl_scan_file f;
    char src[64];
    char cmd[1200], line[64];
    FILE *p;
    int n;

    memset(&f, 0, sizeof(f));
    for (int i = 0; i < 20; i++) {
        snprintf(src, sizeof(src), "/model/%d", i);
        f.src = src;
        f.size = 7;
        sl__cl_cache_put(cache, &f);
    }
    sl__cl_cache_prune(cache, 10 * 120);
    snprintf(cmd, sizeof(cmd), "ls '%s' | wc -l", cache);
    p = popen(cmd, "r");
    cr_assert(fgets(line, sizeof(line), p) != NULL);
    pclose(p);
    n = (int)strtol(line, NULL, 10);
    cr_expect(n > 0 && n <= 10, "%d entries left", n);
    free(cache);
    th_rmtree(dir);
}
