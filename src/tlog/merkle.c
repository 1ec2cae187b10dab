/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 6962 / RFC 9162 Merkle tree over stored hashes (research:
 * transparency-log.md §1). Proofs are built top-down with the RFC's recursion
 * unrolled into loops; every subtree the recursion names is aligned, so its
 * hash is the fold of at most 64 stored hashes. The verifiers are the RFC 9162
 * bit-walks, after checking the proof has exactly the length its sizes imply.
 */
#include "tlog/merkle.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "common/banned.h"

#define HLEN SL_MERKLE_HASH_LEN

/* Proof errors, stable names for callers and tests. */
#define K_RANGE    "IndexOutOfRange"
#define K_SIZES    "BadTreeSizes"
#define K_LENGTH   "WrongProofSize"
#define K_MISMATCH "RootMismatch"

typedef unsigned long long ull; /* for printf */

static int bit_len(uint64_t x)
{
    return x ? 64 - __builtin_clzll(x) : 0;
}

/* Largest power of two strictly below n, for n >= 2. */
static uint64_t pow2_below(uint64_t n)
{
    return 1ULL << (bit_len(n - 1) - 1);
}

/* x >> k that is defined for k = 64 (a proof for a tree of more than 2^63
 * leaves can have an inner part 64 levels deep). */
static uint64_t shr(uint64_t x, int k)
{
    return k >= 64 ? 0 : x >> k;
}

static bool is_pow2(uint64_t n)
{
    return n && !(n & (n - 1));
}

void sl_merkle_leaf(const void *entry, size_t n, unsigned char out[HLEN])
{
    static const unsigned char zero = 0x00;

    sl_sha256_2(&zero, 1, entry, n, out);
}

void sl_merkle_node(const unsigned char l[HLEN], const unsigned char r[HLEN],
                    unsigned char out[HLEN])
{
    unsigned char buf[1 + 2 * HLEN];

    buf[0] = 0x01;
    memcpy(buf + 1, l, HLEN);
    memcpy(buf + 1 + HLEN, r, HLEN);
    sl_sha256_2(buf, sizeof(buf), NULL, 0, out);
}

enum sl_err sl_merkle_append(uint64_t n, const unsigned char leaf[HLEN], sl_merkle_read_fn read,
                             void *ctx, unsigned char (*out)[HLEN], int *count,
                             struct sl_error *err)
{
    int level = 0;

    *count = 0;
    if (n == UINT64_MAX)
        return sl_error_set(err, SL_ELIMIT, "the log is full: leaf %llu would make 2^64 leaves",
                            (ull)n);
    memcpy(out[0], leaf, HLEN);
    /* The node at (level, n >> level) is a right child while that index is
     * odd; its left sibling is already stored, and together they complete the
     * parent. n < 2^64 - 1 has a zero bit, so this stops by level 63. */
    while ((n >> level) & 1) {
        unsigned char left[HLEN];
        enum sl_err rc = read(ctx, level, (n >> level) - 1, left, err);

        if (rc)
            return rc;
        sl_merkle_node(left, out[level], out[level + 1]);
        level++;
    }
    *count = level + 1;
    return SL_OK;
}

/* Hash of the aligned range [start, start + size): the fold, from the right,
 * of one stored hash per set bit of size. */
static enum sl_err fold_peaks(uint64_t start, uint64_t size, sl_merkle_read_fn read, void *ctx,
                              unsigned char out[HLEN], struct sl_error *err)
{
    bool have = false;

    for (int level = 0; level < 64; level++) {
        unsigned char peak[HLEN];
        enum sl_err rc;

        if (!((size >> level) & 1))
            continue;
        rc = read(ctx, level, (start >> level) + (size >> level) - 1, peak, err);
        if (rc)
            return rc;
        if (have)
            sl_merkle_node(peak, out, out);
        else
            memcpy(out, peak, HLEN);
        have = true;
    }
    return SL_OK;
}

enum sl_err sl_merkle_subtree(uint64_t start, uint64_t size, sl_merkle_read_fn read, void *ctx,
                              unsigned char out[HLEN], struct sl_error *err)
{
    uint64_t end;
    int span;

    if (size == 0 || sl_add_u64_overflow(start, size, &end))
        return sl_error_set(err, SL_EINPUT, "bad subtree range [%llu, +%llu)", (ull)start,
                            (ull)size);
    span = bit_len(size - 1); /* the smallest power of two >= size is 2^span */
    if (span == 64 ? start != 0 : (start & ((1ULL << span) - 1)) != 0)
        return sl_error_set(err, SL_EINPUT, "subtree range [%llu, %llu) is not aligned", (ull)start,
                            (ull)end);
    return fold_peaks(start, size, read, ctx, out, err);
}

enum sl_err sl_merkle_root(uint64_t size, sl_merkle_read_fn read, void *ctx,
                           unsigned char out[HLEN], struct sl_error *err)
{
    if (size == 0) {
        sl_sha256("", 0, out);
        return SL_OK;
    }
    return fold_peaks(0, size, read, ctx, out, err);
}

static void reverse(unsigned char (*h)[HLEN], size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        unsigned char t[HLEN];
        memcpy(t, h[i], HLEN);
        memcpy(h[i], h[n - 1 - i], HLEN);
        memcpy(h[n - 1 - i], t, HLEN);
    }
}

/*
 * PATH(index, D[lo:hi]) of RFC 9162 2.1.3.1, unrolled: walk down from the
 * root, noting the sibling of the half that holds the leaf, then reverse.
 * Once the walk turns left the range is a complete subtree, so at most one
 * sibling (the first right one) needs more than one read.
 */
enum sl_err sl_merkle_inclusion(uint64_t index, uint64_t size, sl_merkle_read_fn read, void *ctx,
                                unsigned char (*proof)[HLEN], size_t *len, struct sl_error *err)
{
    uint64_t lo = 0, hi = size;
    size_t n = 0;

    *len = 0;
    if (index >= size)
        return sl_error_setk(err, SL_EINPUT, K_RANGE,
                             "leaf index %llu is not below the tree size %llu", (ull)index,
                             (ull)size);
    while (hi - lo > 1) {
        uint64_t k = pow2_below(hi - lo);
        enum sl_err rc;

        if (index < lo + k) {
            rc = fold_peaks(lo + k, hi - lo - k, read, ctx, proof[n], err);
            hi = lo + k;
        } else {
            rc = fold_peaks(lo, k, read, ctx, proof[n], err);
            lo += k;
        }
        if (rc)
            return rc;
        n++;
    }
    reverse(proof, n);
    *len = n;
    return SL_OK;
}

/*
 * SUBPROOF(m, D[lo:hi], b) of RFC 9162 2.1.4.1, unrolled the same way; `m`
 * counts the old tree's leaves inside [lo, hi) and `whole` is b (the range
 * still starts at leaf 0, so the verifier knows its hash as the old root).
 */
enum sl_err sl_merkle_consistency(uint64_t m, uint64_t n, sl_merkle_read_fn read, void *ctx,
                                  unsigned char (*proof)[HLEN], size_t *len, struct sl_error *err)
{
    uint64_t lo = 0, hi = n;
    bool whole = true;
    size_t c = 0;
    enum sl_err rc = SL_OK;

    *len = 0;
    if (m == 0 || m > n)
        return sl_error_setk(err, SL_EINPUT, K_SIZES,
                             "no consistency proof from tree size %llu to %llu", (ull)m, (ull)n);
    while (m != hi - lo) {
        uint64_t k = pow2_below(hi - lo);

        if (m <= k) {
            rc = fold_peaks(lo + k, hi - lo - k, read, ctx, proof[c], err);
            hi = lo + k;
        } else {
            rc = fold_peaks(lo, k, read, ctx, proof[c], err);
            lo += k;
            m -= k;
            whole = false;
        }
        if (rc)
            return rc;
        c++;
    }
    if (!whole) {
        rc = fold_peaks(lo, hi - lo, read, ctx, proof[c], err);
        if (rc)
            return rc;
        c++;
    }
    reverse(proof, c);
    *len = c;
    return SL_OK;
}

enum sl_err sl_merkle_root_from_inclusion(uint64_t index, uint64_t size,
                                          const unsigned char leaf[HLEN],
                                          const unsigned char (*proof)[HLEN], size_t len,
                                          unsigned char out[HLEN], struct sl_error *err)
{
    uint64_t fn = index, sn;
    int inner;
    size_t want;

    if (index >= size)
        return sl_error_setk(err, SL_EINPUT, K_RANGE,
                             "leaf index %llu is not below the tree size %llu", (ull)index,
                             (ull)size);
    sn = size - 1;
    inner = bit_len(index ^ sn);
    want = (size_t)inner + (size_t)__builtin_popcountll(shr(index, inner));
    if (len != want)
        return sl_error_setk(err, SL_EINPUT, K_LENGTH,
                             "inclusion proof for leaf %llu of %llu has %zu hashes, want %zu",
                             (ull)index, (ull)size, len, want);
    memcpy(out, leaf, HLEN);
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return sl_error_setk(err, SL_EINPUT, K_LENGTH, "inclusion proof is too long");
        if ((fn & 1) || fn == sn) {
            sl_merkle_node(proof[i], out, out);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            sl_merkle_node(out, proof[i], out);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return sl_error_setk(err, SL_EINPUT, K_LENGTH, "inclusion proof is too short");
    return SL_OK;
}

enum sl_err sl_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                       const unsigned char leaf[HLEN],
                                       const unsigned char (*proof)[HLEN], size_t len,
                                       const unsigned char root[HLEN], struct sl_error *err)
{
    unsigned char got[HLEN];
    enum sl_err rc = sl_merkle_root_from_inclusion(index, size, leaf, proof, len, got, err);

    if (rc)
        return rc;
    if (memcmp(got, root, HLEN) != 0)
        return sl_error_setk(err, SL_EREFUSED, K_MISMATCH,
                             "inclusion proof for leaf %llu of %llu leads to a different root",
                             (ull)index, (ull)size);
    return SL_OK;
}

enum sl_err sl_merkle_verify_consistency(uint64_t m, uint64_t n, const unsigned char root_m[HLEN],
                                         const unsigned char root_n[HLEN],
                                         const unsigned char (*proof)[HLEN], size_t len,
                                         struct sl_error *err)
{
    unsigned char fr[HLEN], sr[HLEN];
    uint64_t fn, sn;
    int shift, inner;
    size_t want, i = 0;

    if (m == 0 || m > n)
        return sl_error_setk(err, SL_EINPUT, K_SIZES,
                             "no consistency proof from tree size %llu to %llu", (ull)m, (ull)n);
    if (m == n) {
        if (len != 0)
            return sl_error_setk(err, SL_EINPUT, K_LENGTH,
                                 "consistency proof between equal sizes has %zu hashes, want 0",
                                 len);
        if (memcmp(root_m, root_n, HLEN) != 0)
            return sl_error_setk(err, SL_EREFUSED, K_MISMATCH,
                                 "two roots for tree size %llu differ", (ull)m);
        return SL_OK;
    }
    /* The old tree's last leaf is m - 1; its path in the new tree, less the
     * levels below the largest complete subtree holding it (which the old
     * root covers), plus that subtree's hash unless it is the old root. */
    shift = __builtin_ctzll(m);
    inner = bit_len((m - 1) ^ (n - 1));
    want = (size_t)(inner - shift) + (size_t)__builtin_popcountll(shr(m - 1, inner)) +
           (is_pow2(m) ? 0 : 1);
    if (len != want)
        return sl_error_setk(err, SL_EINPUT, K_LENGTH,
                             "consistency proof from %llu to %llu has %zu hashes, want %zu", (ull)m,
                             (ull)n, len, want);
    if (is_pow2(m))
        memcpy(fr, root_m, HLEN);
    else
        memcpy(fr, proof[i++], HLEN);
    memcpy(sr, fr, HLEN);
    fn = m - 1;
    sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < len; i++) {
        if (sn == 0)
            return sl_error_setk(err, SL_EINPUT, K_LENGTH, "consistency proof is too long");
        if ((fn & 1) || fn == sn) {
            sl_merkle_node(proof[i], fr, fr);
            sl_merkle_node(proof[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            sl_merkle_node(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return sl_error_setk(err, SL_EINPUT, K_LENGTH, "consistency proof is too short");
    if (memcmp(fr, root_m, HLEN) != 0)
        return sl_error_setk(err, SL_EREFUSED, K_MISMATCH,
                             "consistency proof does not lead to the root of tree size %llu",
                             (ull)m);
    if (memcmp(sr, root_n, HLEN) != 0)
        return sl_error_setk(err, SL_EREFUSED, K_MISMATCH,
                             "consistency proof does not lead to the root of tree size %llu",
                             (ull)n);
    return SL_OK;
}

/* ---- in-memory store ---- */

struct mem_level {
    unsigned char (*h)[HLEN];
    uint64_t len, cap;
};

struct sl_merkle_mem {
    uint64_t size;
    struct mem_level lv[64]; /* level L holds size >> L hashes */
};

struct sl_merkle_mem *sl_merkle_mem_new(void)
{
    return sl_xcalloc(1, sizeof(struct sl_merkle_mem));
}

void sl_merkle_mem_free(struct sl_merkle_mem *m)
{
    if (!m)
        return;
    for (int i = 0; i < 64; i++)
        free(m->lv[i].h);
    free(m);
}

uint64_t sl_merkle_mem_size(const struct sl_merkle_mem *m)
{
    return m->size;
}

enum sl_err sl_merkle_mem_read(void *ctx, int level, uint64_t index, unsigned char out[HLEN],
                               struct sl_error *err)
{
    const struct sl_merkle_mem *m = ctx;

    if (level < 0 || level >= 64 || index >= m->lv[level].len)
        return sl_error_set(err, SL_ENOTFOUND, "no stored hash at level %d index %llu", level,
                            (ull)index);
    memcpy(out, m->lv[level].h[index], HLEN);
    return SL_OK;
}

enum sl_err sl_merkle_mem_append(struct sl_merkle_mem *m, const unsigned char leaf[HLEN],
                                 struct sl_error *err)
{
    unsigned char out[SL_MERKLE_MAX_HASHES][HLEN];
    int count;
    enum sl_err rc = sl_merkle_append(m->size, leaf, sl_merkle_mem_read, m, out, &count, err);

    if (rc)
        return rc;
    /* Make room everywhere first, so a failure leaves the store as it was. */
    for (int l = 0; l < count; l++) {
        struct mem_level *v = &m->lv[l];
        if (v->len == v->cap) {
            uint64_t cap = v->cap ? 2 * v->cap : 64;
            void *p = cap > SIZE_MAX / HLEN ? NULL : realloc(v->h, (size_t)cap * HLEN);
            if (!p)
                return sl_error_set(err, SL_ENOMEM, "no memory for %llu stored hashes", (ull)cap);
            v->h = p;
            v->cap = cap;
        }
    }
    for (int l = 0; l < count; l++)
        memcpy(m->lv[l].h[m->lv[l].len++], out[l], HLEN);
    m->size++;
    return SL_OK;
}

void sl_merkle_mem_root(const struct sl_merkle_mem *m, unsigned char out[HLEN])
{
    /* Cannot fail: every peak of m->size is stored. */
    if (sl_merkle_root(m->size, sl_merkle_mem_read, (void *)m, out, NULL) != SL_OK)
        abort();
}
