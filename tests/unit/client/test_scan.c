/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The push scan: which files a folder gives (hidden ones skipped, symbolic
 * links that leave the folder refused), and chunk ids and file hashes checked
 * against an independent computation (the whole file chunked in one call,
 * every piece hashed with OpenSSL directly).
 */
#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_int.h"
#include "store/store.h"
#include "../helpers.h"

static unsigned char *pseudo_random(uint64_t seed, size_t n)
{
    unsigned char *b = malloc(n + 8);
    uint64_t x = seed;

    for (size_t i = 0; i < n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(b + i, &x, 8);
    }
    return b;
}

/* The expected chunks of `d`: one sl_cdc_scan pass over all of it. */
static size_t reference_chunks(const unsigned char *d, size_t n, struct sl_cl_chunk *out)
{
    struct sl_cdc c;
    size_t pos = 0, start = 0, k = 0;

    sl_cdc_init(&c);
    while (pos < n) {
        bool cut;
        pos += sl_cdc_scan(&c, d + pos, n - pos, &cut);
        if (cut || pos == n) {
            SHA256(d + start, pos - start, out[k].id);
            out[k].len = (uint32_t)(pos - start);
            out[k].off = start;
            k++;
            start = pos;
        }
    }
    return k;
}

static void check_file(const struct sl_scan_file *f, const unsigned char *d, size_t n)
{
    struct sl_cl_chunk *want = calloc(n / SL_CDC_MIN + 2, sizeof(*want));
    size_t k = reference_chunks(d, n, want);
    unsigned char sha[32];

    SHA256(d, n, sha);
    cr_expect_eq(f->size, n, "%s size", f->rel);
    cr_expect(memcmp(f->sha, sha, 32) == 0, "%s: file sha256", f->rel);
    cr_assert_eq(f->nchunks, k, "%s: %zu chunks, expected %zu", f->rel, f->nchunks, k);
    for (size_t i = 0; i < k; i++) {
        cr_expect(memcmp(f->chunks[i].id, want[i].id, 32) == 0, "%s chunk %zu id", f->rel, i);
        cr_expect_eq(f->chunks[i].len, want[i].len, "%s chunk %zu len", f->rel, i);
        cr_expect_eq(f->chunks[i].off, want[i].off, "%s chunk %zu offset", f->rel, i);
    }
    free(want);
}

static void mkdir_in(const char *dir, const char *name)
{
    char *p = th_path(dir, name);
    cr_assert_eq(mkdir(p, 0755), 0);
    free(p);
}

Test(scan, folder_chunks_and_hashes_match_reference)
{
    char *dir = th_tmpdir();
    size_t na = 300000, nb = 9u << 20, nc = 100; /* b spans more than one read buffer */
    unsigned char *a = pseudo_random(1, na), *b = pseudo_random(2, nb), *c = pseudo_random(3, nc);
    struct sl_scan s;
    struct sl_scan_opts o = {0};
    struct sl_error err;

    mkdir_in(dir, "sub");
    mkdir_in(dir, ".git");
    mkdir_in(dir, "sub/.cache");
    th_write(dir, "a.bin", a, na);
    th_write(dir, "sub/b.bin", b, nb);
    th_write(dir, "sub/c.txt", c, nc);
    th_write(dir, "empty", "", 0);
    th_write(dir, ".hidden", "x", 1);
    th_write(dir, ".git/config", "x", 1);
    th_write(dir, "sub/.cache/blob", "x", 1);
    th_write(dir, "sub/w.bin.sluice-part", "x", 1);
    th_write(dir, "sub/w.bin.sluice-part.state", "{}", 2);

    cr_assert_eq(sl__cl_scan_list(dir, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(s.nfiles, 4);
    cr_expect_str_eq(s.files[0].rel, "a.bin");
    cr_expect_str_eq(s.files[1].rel, "empty");
    cr_expect_str_eq(s.files[2].rel, "sub/b.bin");
    cr_expect_str_eq(s.files[3].rel, "sub/c.txt");
    cr_expect_eq(s.bytes, na + nb + nc);
    o.threads = 3;
    cr_assert_eq(sl__cl_scan_hash(&s, &o, &err), SL_OK, "%s", err.msg);
    check_file(&s.files[0], a, na);
    check_file(&s.files[2], b, nb);
    check_file(&s.files[3], c, nc);
    cr_expect_eq(s.files[1].nchunks, 0, "an empty file has no chunks");
    cr_expect_eq(atomic_load(&s.hashed), na + nb + nc);
    sl__cl_scan_release(&s);
    free(a);
    free(b);
    free(c);
    th_rmtree(dir);
}

Test(scan, single_file_is_named_by_its_base_name)
{
    char *dir = th_tmpdir();
    unsigned char *d = pseudo_random(9, 200000);
    char *p;
    struct sl_scan s;
    struct sl_scan_opts o = {0};
    struct sl_error err;

    th_write(dir, "model.safetensors", d, 200000);
    p = th_path(dir, "model.safetensors");
    cr_assert_eq(sl__cl_scan_list(p, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(s.nfiles, 1);
    cr_expect_str_eq(s.files[0].rel, "model.safetensors");
    cr_assert_eq(sl__cl_scan_hash(&s, &o, &err), SL_OK, "%s", err.msg);
    check_file(&s.files[0], d, 200000);
    sl__cl_scan_release(&s);
    free(p);
    free(d);
    th_rmtree(dir);
}

Test(scan, symlink_inside_is_followed)
{
    char *dir = th_tmpdir(), *link = NULL;
    struct sl_scan s;
    struct sl_error err;

    mkdir_in(dir, "real");
    th_write(dir, "real/w.bin", "weights", 7);
    link = th_path(dir, "alias.bin");
    cr_assert_eq(symlink("real/w.bin", link), 0);
    cr_assert_eq(sl__cl_scan_list(dir, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(s.nfiles, 2);
    cr_expect_str_eq(s.files[0].rel, "alias.bin");
    cr_expect_str_eq(s.files[1].rel, "real/w.bin");
    sl__cl_scan_release(&s);
    free(link);
    th_rmtree(dir);
}

Test(scan, symlink_leaving_the_folder_is_refused)
{
    char *dir = th_tmpdir(), *out = th_tmpdir(), *target, *link;
    struct sl_scan s;
    struct sl_error err;

    mkdir_in(dir, "m");
    th_write(out, "secret", "s", 1);
    target = th_path(out, "secret");
    link = th_path(dir, "m/leak");
    cr_assert_eq(symlink(target, link), 0);
    {
        char *m = th_path(dir, "m");
        cr_expect_eq(sl__cl_scan_list(m, &s, &err), SL_EINPUT);
        cr_expect(strstr(err.msg, "outside the folder") != NULL, "%s", err.msg);
        free(m);
    }
    cr_assert_eq(unlink(link), 0);
    free(link);
    /* A relative link climbing out with .. is refused the same way. */
    link = th_path(dir, "m/up");
    cr_assert_eq(symlink("../../", link), 0);
    {
        char *m = th_path(dir, "m");
        cr_expect_eq(sl__cl_scan_list(m, &s, &err), SL_EINPUT);
        free(m);
    }
    free(link);
    free(target);
    th_rmtree(out);
    th_rmtree(dir);
}

Test(scan, symlink_loop_is_refused)
{
    char *dir = th_tmpdir(), *link;
    struct sl_scan s;
    struct sl_error err;

    mkdir_in(dir, "a");
    th_write(dir, "a/f", "x", 1);
    link = th_path(dir, "a/again");
    cr_assert_eq(symlink("..", link), 0);
    cr_expect_eq(sl__cl_scan_list(dir, &s, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "loop") != NULL, "%s", err.msg);
    free(link);
    th_rmtree(dir);
}

Test(scan, unrepresentable_names_are_refused)
{
    char *dir = th_tmpdir();
    struct sl_scan s;
    struct sl_error err;

    th_write(dir, "bad\nname", "x", 1);
    cr_expect_eq(sl__cl_scan_list(dir, &s, &err), SL_EINPUT);
    th_rmtree(dir);
}

Test(scan, empty_folder_is_an_error)
{
    char *dir = th_tmpdir();
    struct sl_scan s;
    struct sl_error err;

    th_write(dir, ".only-hidden", "x", 1);
    cr_expect_eq(sl__cl_scan_list(dir, &s, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "no files") != NULL, "%s", err.msg);
    th_rmtree(dir);
}

Test(scan, large_file_on_two_threads_matches_reference)
{
    char *dir = th_tmpdir();
    size_t n = (40u << 20) + 12345; /* over the size that gets a helper thread */
    unsigned char *d = pseudo_random(77, n);
    struct sl_scan s;
    struct sl_scan_opts o = {0};
    struct sl_error err;

    th_write(dir, "big.bin", d, n);
    cr_assert_eq(sl__cl_scan_list(dir, &s, &err), SL_OK, "%s", err.msg);
    o.threads = 2; /* one file, two CPUs: the second one hashes chunks */
    cr_assert_eq(sl__cl_scan_hash(&s, &o, &err), SL_OK, "%s", err.msg);
    check_file(&s.files[0], d, n);
    sl__cl_scan_release(&s);
    free(d);
    th_rmtree(dir);
}
