/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 block functions on the x86 SHA extensions, for two messages at
 * once. One SHA-256 stream on these instructions is bound by the latency of
 * SHA256RNDS2 (each pair of rounds waits for the one before), so the CPU's
 * units sit half idle; two independent streams interleaved fill them. A push
 * hashes the same bytes twice on each side (the file's digest and each
 * chunk's id on the client; each chunk's id and the file's digest on the
 * server), which makes the second stream free to find. The block function
 * follows FIPS 180-4 with the round and message-schedule steps the
 * instructions implement (Intel's SHA extensions reference); crypto.c uses
 * it only when CPUID says the CPU has them, and the unit tests compare it
 * with OpenSSL on every length from 0 to a few blocks and on random splits.
 */
#include "crypto/crypto_int.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define SL_SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

bool sl__shani_available(void)
{
    static atomic_int cached = -1; /* every thread computes the same value */
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    unsigned a, b, c, d;

    if (v >= 0)
        return v == 1;
    v = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
        __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
    atomic_store_explicit(&cached, v, memory_order_relaxed);
    return v == 1;
}

/* The state in the instructions' order: s0 = (A, B, E, F), s1 = (C, D, G, H)
 * from the words A..H. */
SL_SHANI_TARGET static void load_state(const uint32_t h[8], __m128i *s0, __m128i *s1)
{
    __m128i abcd = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);
    __m128i efgh = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);
    __m128i badc = _mm_shuffle_epi32(abcd, 0xB1);
    __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);

    *s0 = _mm_alignr_epi8(badc, hgfe, 8);
    *s1 = _mm_blend_epi16(hgfe, badc, 0xF0);
}

SL_SHANI_TARGET static void store_state(uint32_t h[8], __m128i s0, __m128i s1)
{
    __m128i feba = _mm_shuffle_epi32(s0, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(s1, 0xB1);

    _mm_storeu_si128((__m128i *)(void *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)(void *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}

/* The next four schedule words W[4g..4g+3] from the last sixteen, m[g % 4]
 * holding W[4g-16..4g-13] and so on round the ring. */
#define SCHED(m, g)                                                                                \
    do {                                                                                           \
        __m128i t_ = _mm_sha256msg1_epu32((m)[(g)&3], (m)[((g) + 1) & 3]);                         \
        t_ = _mm_add_epi32(t_, _mm_alignr_epi8((m)[((g) + 3) & 3], (m)[((g) + 2) & 3], 4));        \
        (m)[(g)&3] = _mm_sha256msg2_epu32(t_, (m)[((g) + 3) & 3]);                                 \
    } while (0)

/* Four rounds with schedule words w. */
#define ROUNDS4(s0, s1, w, g)                                                                      \
    do {                                                                                           \
        __m128i k_ =                                                                               \
            _mm_add_epi32((w), _mm_loadu_si128((const __m128i *)(const void *)&K256[4 * (g)]));    \
        (s1) = _mm_sha256rnds2_epu32((s1), (s0), k_);                                              \
        (s0) = _mm_sha256rnds2_epu32((s0), (s1), _mm_shuffle_epi32(k_, 0x0E));                     \
    } while (0)

SL_SHANI_TARGET void sl__shani_blocks(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
    const __m128i be = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i s0, s1;

    load_state(h, &s0, &s1);
    for (; nblocks > 0; nblocks--, p += 64) {
        __m128i m[4], a0 = s0, a1 = s1;
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            m[g] =
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)), be);
            ROUNDS4(s0, s1, m[g], g);
        }
#pragma GCC unroll 12
        for (int g = 4; g < 16; g++) {
            SCHED(m, g);
            ROUNDS4(s0, s1, m[g & 3], g);
        }
        s0 = _mm_add_epi32(s0, a0);
        s1 = _mm_add_epi32(s1, a1);
    }
    store_state(h, s0, s1);
}

SL_SHANI_TARGET void sl__shani_x2(uint32_t ha[8], const unsigned char *pa, uint32_t hb[8],
                                  const unsigned char *pb, size_t nblocks)
{
    const __m128i be = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i x0, x1, y0, y1;

    load_state(ha, &x0, &x1);
    load_state(hb, &y0, &y1);
    for (; nblocks > 0; nblocks--, pa += 64, pb += 64) {
        __m128i m[4], n[4], a0 = x0, a1 = x1, b0 = y0, b1 = y1;
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            m[g] =
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(pa + 16 * g)), be);
            n[g] =
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(pb + 16 * g)), be);
            ROUNDS4(x0, x1, m[g], g);
            ROUNDS4(y0, y1, n[g], g);
        }
#pragma GCC unroll 12
        for (int g = 4; g < 16; g++) {
            SCHED(m, g);
            SCHED(n, g);
            ROUNDS4(x0, x1, m[g & 3], g);
            ROUNDS4(y0, y1, n[g & 3], g);
        }
        x0 = _mm_add_epi32(x0, a0);
        x1 = _mm_add_epi32(x1, a1);
        y0 = _mm_add_epi32(y0, b0);
        y1 = _mm_add_epi32(y1, b1);
    }
    store_state(ha, x0, x1);
    store_state(hb, y0, y1);
}

#else /* not x86-64: OpenSSL's own code everywhere */

bool sl__shani_available(void)
{
    return false;
}

void sl__shani_blocks(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
    (void)h;
    (void)p;
    (void)nblocks;
}

void sl__shani_x2(uint32_t ha[8], const unsigned char *pa, uint32_t hb[8], const unsigned char *pb,
                  size_t nblocks)
{
    (void)ha;
    (void)pa;
    (void)hb;
    (void)pb;
    (void)nblocks;
}

#endif
