/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes what a log client takes from the network: inclusion and consistency
 * proofs (sizes and hashes as given), tile paths and entry bundles. The first
 * byte picks the target; beyond "never crash" each target checks a property
 * and aborts when it breaks (paths and bundles round-trip, true proofs over
 * a real tree verify and altered ones do not).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tlog/merkle.h"
#include "tlog/tiles.h"

#define HL       SL_MERKLE_HASH_LEN
#define MAXPROOF 80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t take_u64(const uint8_t **p, size_t *n)
{
    uint64_t v = 0;

    for (int i = 0; i < 8 && *n > 0; i++, (*p)++, (*n)--)
        v |= (uint64_t) * *p << (8 * i);
    return v;
}

/* Sizes from the input, often small so that proof lengths can match. */
static uint64_t take_size(const uint8_t **p, size_t *n)
{
    uint64_t v = take_u64(p, n);
    int shift = *n > 0 ? **p % 64 : 0;

    if (*n > 0) {
        (*p)++;
        (*n)--;
    }
    return v >> shift;
}

static void take_hash(const uint8_t **p, size_t *n, unsigned char out[HL])
{
    size_t k = *n < HL ? *n : HL;

    memset(out, 0, HL);
    memcpy(out, *p, k);
    *p += k;
    *n -= k;
}

static void fuzz_verifiers(const uint8_t *p, size_t n)
{
    static unsigned char proof[MAXPROOF][HL];
    unsigned char leaf[HL], r1[HL], r2[HL], got[HL];
    uint64_t index = take_size(&p, &n), tsize = take_size(&p, &n);
    uint64_t m = take_size(&p, &n), nn = take_size(&p, &n);
    size_t len = 0;

    take_hash(&p, &n, leaf);
    take_hash(&p, &n, r1);
    take_hash(&p, &n, r2);
    while (n > 0 && len < MAXPROOF)
        take_hash(&p, &n, proof[len++]);
    (void)sl_merkle_verify_inclusion(index, tsize, leaf, (const unsigned char(*)[HL])proof, len, r1,
                                     NULL);
    if (sl_merkle_root_from_inclusion(index, tsize, leaf, (const unsigned char(*)[HL])proof, len,
                                      got, NULL) == SL_OK &&
        sl_merkle_verify_inclusion(index, tsize, leaf, (const unsigned char(*)[HL])proof, len, got,
                                   NULL) != SL_OK)
        abort();
    (void)sl_merkle_verify_consistency(m, nn, r1, r2, (const unsigned char(*)[HL])proof, len, NULL);
}

static void fuzz_path(const uint8_t *p, size_t n)
{
    struct sl_tile t;
    struct sl_error err;
    char back[SL_TILE_PATH_MAX];
    size_t blen;

    if (sl_tile_parse((const char *)p, n, &t, &err) != SL_OK)
        return;
    /* One spelling per tile: what parses must print back the same. */
    blen = sl_tile_path(&t, back);
    if (blen != n || memcmp(back, p, n) != 0)
        abort();
    (void)sl_tile_width_at(t.level, t.index, UINT64_MAX);
}

static void fuzz_bundle(const uint8_t *p, size_t n)
{
    struct sl_bundle_entry e[SL_TILE_WIDTH];
    struct sl_buf b;
    struct sl_error err;
    unsigned count;

    if (sl_bundle_parse(p, n, e, &count, &err) != SL_OK)
        return;
    if (count < 1 || count > SL_TILE_WIDTH)
        abort();
    sl_buf_init(&b, n);
    for (unsigned i = 0; i < count; i++)
        if (sl_bundle_add(&b, e[i].data, e[i].len, &err) != SL_OK)
            abort();
    if (b.len != n || memcmp(b.data, p, n) != 0)
        abort();
    sl_buf_release(&b);
}

/* A real tree, built once, for proofs that must verify. */
#define TREE 300
static struct sl_merkle_mem *tree;
static unsigned char leaves[TREE][HL];
static unsigned char roots[TREE + 1][HL];

static void build_tree(void)
{
    tree = sl_merkle_mem_new();
    for (uint64_t i = 0; i < TREE; i++) {
        sl_merkle_leaf(&i, sizeof(i), leaves[i]);
        if (sl_merkle_mem_append(tree, leaves[i], NULL) != SL_OK)
            abort();
    }
    for (uint64_t s = 0; s <= TREE; s++)
        if (sl_merkle_root(s, sl_merkle_mem_read, tree, roots[s], NULL) != SL_OK)
            abort();
}

static void fuzz_real_proofs(const uint8_t *p, size_t n)
{
    unsigned char proof[SL_MERKLE_MAX_HASHES + 1][HL];
    const unsigned char(*cp)[HL] = (const unsigned char(*)[HL])proof;
    uint64_t a = take_u64(&p, &n), b = take_u64(&p, &n), mut = take_u64(&p, &n);
    uint64_t size = 1 + b % TREE, index = a % size, m = 1 + a % size;
    size_t len;
    bool incl = mut & 1;

    if (!tree)
        build_tree();
    if (incl) {
        if (sl_merkle_inclusion(index, size, sl_merkle_mem_read, tree, proof, &len, NULL) ||
            sl_merkle_verify_inclusion(index, size, leaves[index], cp, len, roots[size], NULL))
            abort();
    } else {
        if (sl_merkle_consistency(m, size, sl_merkle_mem_read, tree, proof, &len, NULL) ||
            sl_merkle_verify_consistency(m, size, roots[m], roots[size], cp, len, NULL))
            abort();
    }
    /* One change the fuzzer picks; each must be refused. */
    switch ((mut >> 1) % 4) {
    case 0: /* flip one bit */
        if (len == 0)
            return;
        proof[(mut >> 3) % len][(mut >> 16) % HL] ^= (unsigned char)(1u << ((mut >> 24) % 8));
        break;
    case 1: /* drop the last hash */
        if (len == 0)
            return;
        len--;
        break;
    case 2: /* an extra hash */
        memset(proof[len], (int)(mut >> 8), HL);
        len++;
        break;
    default: /* another size or index, with the true root for it */
        if (incl) {
            uint64_t other = (mut >> 8) % size;
            if (other == index)
                return;
            if (sl_merkle_verify_inclusion(other, size, leaves[index], cp, len, roots[size],
                                           NULL) == SL_OK)
                abort();
        } else {
            uint64_t other = 1 + (mut >> 8) % size;
            if (other == m)
                return;
            if (sl_merkle_verify_consistency(other, size, roots[other], roots[size], cp, len,
                                             NULL) == SL_OK)
                abort();
        }
        return;
    }
    if (incl ? sl_merkle_verify_inclusion(index, size, leaves[index], cp, len, roots[size], NULL) ==
                   SL_OK
             : sl_merkle_verify_consistency(m, size, roots[m], roots[size], cp, len, NULL) == SL_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0:
        fuzz_verifiers(data + 1, size - 1);
        break;
    case 1:
        fuzz_path(data + 1, size - 1);
        break;
    case 2:
        fuzz_bundle(data + 1, size - 1);
        break;
    default:
        fuzz_real_proofs(data + 1, size - 1);
        break;
    }
    return 0;
}
