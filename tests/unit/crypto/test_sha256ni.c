/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two-stream SHA-256 (sha256ni.c behind sl_sha256_update_and_digest)
 * against OpenSSL's one-shot digest: every length from 0 to 300 bytes for
 * both streams, contexts that start with a partial block, the same range for
 * both, and random lengths up to 200 KiB with random splits. On a CPU
 * without the SHA extensions the function falls back to OpenSSL and the
 * block-function tests say so and pass.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

static unsigned char *noise(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n ? n : 1);
    unsigned x = seed * 2654435761u + 1;

    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (unsigned char)(x >> 16);
    }
    return b;
}

/* c fed `pre` bytes, then update_and_digest of (a, na) and (b, nb): c must
 * end as SHA-256(pre || a) and out must be SHA-256(b). */
static void check(const unsigned char *pre, size_t npre, const unsigned char *a, size_t na,
                  const unsigned char *b, size_t nb)
{
    unsigned char got[32], want[32], gotc[32], wantc[32];
    struct sl_sha256_ctx *c = sl_sha256_new();
    struct sl_sha256_ctx *w = sl_sha256_new();

    sl_sha256_update(c, pre, npre);
    sl_sha256_update_and_digest(c, a, na, b, nb, got);
    sl_sha256_final(c, gotc);
    sl_sha256(b, nb, want);
    sl_sha256_update(w, pre, npre);
    sl_sha256_update(w, a, na);
    sl_sha256_final(w, wantc);
    cr_assert(memcmp(got, want, 32) == 0, "digest of %zu bytes (pre %zu, a %zu)", nb, npre, na);
    cr_assert(memcmp(gotc, wantc, 32) == 0, "context after %zu + %zu bytes (b %zu)", npre, na, nb);
}

Test(sha256ni, every_small_length)
{
    unsigned char *x = noise(400, 1), *y = noise(400, 2);

    for (size_t na = 0; na <= 300; na += 1)
        for (size_t nb = 0; nb <= 300; nb += 7)
            check(x, 0, x + 50, na, y, nb);
    for (size_t pre = 0; pre <= 130; pre++)
        for (size_t n = 0; n <= 260; n += 13)
            check(x, pre, y, n, y, n); /* the same bytes, the context mid-block */
    free(x);
    free(y);
}

Test(sha256ni, random_lengths_and_splits)
{
    unsigned char *x = noise(220000, 3);
    unsigned r = 7;

    for (int i = 0; i < 300; i++) {
        size_t pre, na, nb;
        r = r * 1103515245u + 12345u;
        pre = (r >> 8) % 200;
        r = r * 1103515245u + 12345u;
        na = (r >> 4) % 200000;
        r = r * 1103515245u + 12345u;
        nb = i % 3 == 0 ? na : (r >> 4) % 200000;
        check(x, pre, x + 200, na, i % 3 == 0 ? x + 200 : x + 1000, nb);
    }
    free(x);
}

Test(sha256ni, block_functions_match_the_standard)
{
    /* FIPS 180-2 "abc" padded to one block, from the initial state */
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    static const uint32_t want[8] = {0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223,
                                     0xb00361a3, 0x96177a9c, 0xb410ff61, 0xf20015ad};
    unsigned char blk[64] = {'a', 'b', 'c', 0x80};
    uint32_t h[8], g[8];

    if (!sl__shani_available()) {
        cr_log_warn("this CPU has no SHA extensions: OpenSSL's code is used instead");
        return;
    }
    blk[63] = 24;
    memcpy(h, iv, sizeof(h));
    sl__shani_blocks(h, blk, 1);
    cr_assert(memcmp(h, want, sizeof(h)) == 0);
    memcpy(h, iv, sizeof(h));
    memcpy(g, iv, sizeof(g));
    sl__shani_x2(h, blk, g, blk, 1);
    cr_assert(memcmp(h, want, sizeof(h)) == 0);
    cr_assert(memcmp(g, want, sizeof(g)) == 0);
}

Test(sha256ni, pair_of_one_shots)
{
    unsigned char *x = noise(140000, 5);
    unsigned r = 11;

    for (int i = 0; i < 400; i++) {
        unsigned char ga[32], gb[32], wa[32], wb[32];
        size_t na, nb, oa, ob;
        r = r * 1103515245u + 12345u;
        na = i < 130 ? (size_t)i : (r >> 4) % 131073;
        r = r * 1103515245u + 12345u;
        nb = i < 130 ? (size_t)(129 - i) : (r >> 4) % 131073;
        oa = (size_t)(r % 5000);
        ob = (size_t)((r >> 12) % 5000);
        sl_sha256_pair(x + oa, na, ga, x + ob, nb, gb);
        sl_sha256(x + oa, na, wa);
        sl_sha256(x + ob, nb, wb);
        cr_assert(memcmp(ga, wa, 32) == 0 && memcmp(gb, wb, 32) == 0, "pair %zu, %zu", na, nb);
    }
    free(x);
}
