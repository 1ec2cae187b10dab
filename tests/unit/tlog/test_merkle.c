/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log's Merkle tree and tiles: the RFC 6962 reference tree, every proof of
 * the 8-leaf tree, the transparency-dev probes, the tlog-tiles vectors, and
 * random trees checked against a naive recursive RFC 6962 implementation
 * written here, with tampered proofs that must fail.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"
#include "crypto/crypto.h"
#include "tlog/merkle.h"
#include "tlog/tiles.h"

#define HL SL_MERKLE_HASH_LEN

typedef unsigned char hash_t[HL];

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform-enough in [0, n). */
static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);

    cr_assert_not_null(j, "%s: %s", path, je.text);
    return j;
}

/* The probes hold sizes up to 2^64 - 1, past jansson's integers: they are
 * read from the text instead (the JSON is loaded with integers as reals). */
static uint64_t u64_field(const char *text, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(text, pat);
    cr_assert_not_null(p, "no %s", key);
    return strtoull(p + strlen(pat), NULL, 10);
}

static void unhex32(const char *s, unsigned char out[HL])
{
    cr_assert(s && sl_unhex(s, strlen(s), out, HL), "bad hex %s", s ? s : "(null)");
}

static size_t unhex_any(const char *s, unsigned char *out, size_t cap)
{
    size_t n = strlen(s) / 2;

    cr_assert(n <= cap && sl_unhex(s, 2 * n, out, n), "bad hex %s", s);
    return n;
}

/* Decodes base64 into a 32-byte array, zero-padded or cut; returns the real
 * decoded length (so callers can tell a hash that was not 32 bytes). */
static size_t unb64_32(const char *s, unsigned char out[HL])
{
    unsigned char tmp[128];
    size_t n = 0;

    memset(out, 0, HL);
    if (!s)
        return 0;
    cr_assert(sl_unbase64(s, strlen(s), tmp, sizeof(tmp), &n), "bad base64 %s", s);
    memcpy(out, tmp, n < HL ? n : HL);
    return n;
}

/* ---- a naive RFC 6962 section 2.1 implementation over leaf hashes ---- */

static uint64_t naive_k(uint64_t n)
{
    uint64_t k = 1;

    while (k << 1 < n)
        k <<= 1;
    return k;
}

static void naive_mth(hash_t *d, uint64_t n, unsigned char out[HL])
{
    hash_t l, r;
    uint64_t k;

    if (n == 0) {
        sl_sha256("", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, d[0], HL);
        return;
    }
    k = naive_k(n);
    naive_mth(d, k, l);
    naive_mth(d + k, n - k, r);
    {
        unsigned char buf[1 + 2 * HL];
        buf[0] = 1;
        memcpy(buf + 1, l, HL);
        memcpy(buf + 1 + HL, r, HL);
        sl_sha256(buf, sizeof(buf), out);
    }
}

static size_t naive_path(uint64_t m, hash_t *d, uint64_t n, hash_t *out)
{
    uint64_t k;
    size_t c;

    if (n == 1)
        return 0;
    k = naive_k(n);
    if (m < k) {
        c = naive_path(m, d, k, out);
        naive_mth(d + k, n - k, out[c]);
    } else {
        c = naive_path(m - k, d + k, n - k, out);
        naive_mth(d, k, out[c]);
    }
    return c + 1;
}

static size_t naive_subproof(uint64_t m, hash_t *d, uint64_t n, bool b, hash_t *out)
{
    uint64_t k;
    size_t c;

    if (m == n) {
        if (b)
            return 0;
        naive_mth(d, n, out[0]);
        return 1;
    }
    k = naive_k(n);
    if (m <= k) {
        c = naive_subproof(m, d, k, b, out);
        naive_mth(d + k, n - k, out[c]);
    } else {
        c = naive_subproof(m - k, d + k, n - k, false, out);
        naive_mth(d, k, out[c]);
    }
    return c + 1;
}

/* ---- a tree of leaves with its stored-hash store ---- */

struct tree {
    hash_t *leaves;
    uint64_t n;
    struct sl_merkle_mem *mem;
};

static void tree_build(struct tree *t, uint64_t n, uint64_t seed)
{
    rng_state = seed;
    t->leaves = malloc((size_t)(n ? n : 1) * HL);
    t->n = n;
    t->mem = sl_merkle_mem_new();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = rnd();
        struct sl_error err;
        sl_merkle_leaf(&v, sizeof(v), t->leaves[i]);
        cr_assert_eq(sl_merkle_mem_append(t->mem, t->leaves[i], &err), SL_OK, "%s", err.msg);
    }
    cr_assert_eq(sl_merkle_mem_size(t->mem), n);
}

static void tree_free(struct tree *t)
{
    sl_merkle_mem_free(t->mem);
    free(t->leaves);
}

static void tree_root(struct tree *t, uint64_t size, unsigned char out[HL])
{
    struct sl_error err;

    cr_assert_eq(sl_merkle_root(size, sl_merkle_mem_read, t->mem, out, &err), SL_OK, "%s", err.msg);
}

/* ---- hashing ---- */

Test(merkle, hasher_vectors)
{
    json_t *j = load_json(SL_VECTORS_DIR "/merkle/rfc6962-reference-8-leaves.json");
    json_t *v;
    size_t i;
    int checked = 0;

    json_array_foreach(json_object_get(j, "hasher_vectors"), i, v)
    {
        unsigned char want[HL], got[HL], in[256], l[64], r[64];
        const char *s;

        unhex32(json_string_value(json_object_get(v, "want")), want);
        if ((s = json_string_value(json_object_get(v, "leaf_input_hex")))) {
            size_t n = unhex_any(s, in, sizeof(in));
            sl_merkle_leaf(n ? in : NULL, n, got);
        } else if ((s = json_string_value(json_object_get(v, "left_hex")))) {
            /* Raw children shorter than a hash: check the 0x01 convention with
             * SHA-256 directly (sl_merkle_node takes 32-byte children). */
            size_t nl = unhex_any(s, l, sizeof(l));
            size_t nr = unhex_any(json_string_value(json_object_get(v, "right_hex")), r, sizeof(r));
            in[0] = 0x01;
            memcpy(in + 1, l, nl);
            memcpy(in + 1 + nl, r, nr);
            sl_sha256(in, 1 + nl + nr, got);
        } else {
            cr_assert_eq(sl_merkle_root(0, NULL, NULL, got, NULL), SL_OK);
        }
        cr_expect_eq(memcmp(got, want, HL), 0, "%s", json_string_value(json_object_get(v, "what")));
        checked++;
    }
    cr_expect_eq(checked, 4);
    json_decref(j);

    /* sl_merkle_node is SHA-256(0x01 || l || r), also when out aliases l. */
    {
        unsigned char a[HL], b[HL], buf[1 + 2 * HL], want[HL];
        memset(a, 0xaa, HL);
        memset(b, 0x55, HL);
        buf[0] = 1;
        memcpy(buf + 1, a, HL);
        memcpy(buf + 1 + HL, b, HL);
        sl_sha256(buf, sizeof(buf), want);
        sl_merkle_node(a, b, a);
        cr_expect_eq(memcmp(a, want, HL), 0);
    }
    /* A long entry goes through the streaming path. */
    {
        size_t n = 100000;
        unsigned char *e = calloc(1, n + 1), want[HL], got[HL];
        for (size_t k = 0; k < n; k++)
            e[k + 1] = (unsigned char)k;
        sl_sha256(e, n + 1, want);
        sl_merkle_leaf(e + 1, n, got);
        cr_expect_eq(memcmp(got, want, HL), 0);
        free(e);
    }
}

/* ---- the RFC 6962 8-leaf reference tree ---- */

static struct sl_merkle_mem *mem_from_inputs(json_t *inputs, hash_t *leaves)
{
    struct sl_merkle_mem *m = sl_merkle_mem_new();
    json_t *v;
    size_t i;

    cr_assert_eq(json_array_size(inputs), 8, "the reference tree has 8 leaves");
    json_array_foreach(inputs, i, v)
    {
        unsigned char in[64];
        size_t n = unhex_any(json_string_value(v), in, sizeof(in));
        sl_merkle_leaf(n ? in : NULL, n, leaves[i]);
        cr_assert_eq(sl_merkle_mem_append(m, leaves[i], NULL), SL_OK);
    }
    return m;
}

static void expect_proof(hash_t *got, size_t len, json_t *want, const char *what)
{
    json_t *v;
    size_t i;

    cr_assert_eq(len, json_array_size(want), "%s: %zu hashes, want %zu", what, len,
                 json_array_size(want));
    json_array_foreach(want, i, v)
    {
        unsigned char h[HL];
        unhex32(json_string_value(v), h);
        cr_expect_eq(memcmp(got[i], h, HL), 0, "%s: hash %zu", what, i);
    }
}

static size_t proof_from_hex(json_t *arr, hash_t *out)
{
    json_t *v;
    size_t i;

    json_array_foreach(arr, i, v) unhex32(json_string_value(v), out[i]);
    return json_array_size(arr);
}

Test(merkle, rfc6962_reference)
{
    json_t *j = load_json(SL_VECTORS_DIR "/merkle/rfc6962-reference-8-leaves.json");
    hash_t leaves[8], roots[9], proof[SL_MERKLE_MAX_HASHES];
    struct sl_merkle_mem *m = mem_from_inputs(json_object_get(j, "leaf_inputs_hex"), leaves);
    json_t *levels = json_object_get(j, "node_hashes_by_level"), *v;
    static const char *names[] = {"level0_leaf_hashes", "level1", "level2", "level3"};
    struct sl_error err;
    size_t i, len;
    unsigned char h[HL];

    cr_assert_eq(sl_merkle_mem_size(m), 8);
    /* Every stored hash, and nothing beyond them. */
    for (int l = 0; l < 4; l++) {
        json_t *arr = json_object_get(levels, names[l]);
        cr_assert_eq(json_array_size(arr), (size_t)(8 >> l), "%s", names[l]);
        json_array_foreach(arr, i, v)
        {
            unsigned char want[HL];
            unhex32(json_string_value(v), want);
            cr_assert_eq(sl_merkle_mem_read(m, l, i, h, &err), SL_OK, "%s", err.msg);
            cr_expect_eq(memcmp(h, want, HL), 0, "level %d index %zu", l, i);
        }
        cr_expect_eq(sl_merkle_mem_read(m, l, json_array_size(arr), h, &err), SL_ENOTFOUND);
    }
    cr_expect_eq(sl_merkle_mem_read(m, 4, 0, h, &err), SL_ENOTFOUND);
    cr_expect_eq(sl_merkle_mem_read(m, -1, 0, h, &err), SL_ENOTFOUND);
    cr_expect_eq(sl_merkle_mem_read(m, 64, 0, h, &err), SL_ENOTFOUND);

    for (int s = 0; s <= 8; s++) {
        char key[4];
        snprintf(key, sizeof(key), "%d", s);
        unhex32(
            json_string_value(json_object_get(json_object_get(j, "root_hashes_by_tree_size"), key)),
            roots[s]);
        cr_assert_eq(sl_merkle_root((uint64_t)s, sl_merkle_mem_read, m, h, &err), SL_OK);
        cr_expect_eq(memcmp(h, roots[s], HL), 0, "root of size %d", s);
    }
    sl_merkle_mem_root(m, h);
    cr_expect_eq(memcmp(h, roots[8], HL), 0);

    cr_assert_eq(json_array_size(json_object_get(j, "inclusion_proofs")), 7);
    cr_assert_eq(json_array_size(json_object_get(j, "consistency_proofs")), 4);
    json_array_foreach(json_object_get(j, "inclusion_proofs"), i, v)
    {
        uint64_t idx = (uint64_t)json_integer_value(json_object_get(v, "leaf_index"));
        uint64_t size = (uint64_t)json_integer_value(json_object_get(v, "tree_size"));
        cr_assert_eq(sl_merkle_inclusion(idx, size, sl_merkle_mem_read, m, proof, &len, &err),
                     SL_OK, "%s", err.msg);
        expect_proof(proof, len, json_object_get(v, "proof"), "reference inclusion");
        cr_expect_eq(sl_merkle_verify_inclusion(idx, size, leaves[idx],
                                                (const unsigned char(*)[HL])proof, len, roots[size],
                                                &err),
                     SL_OK, "%s", err.msg);
    }
    json_array_foreach(json_object_get(j, "consistency_proofs"), i, v)
    {
        uint64_t s1 = (uint64_t)json_integer_value(json_object_get(v, "size1"));
        uint64_t s2 = (uint64_t)json_integer_value(json_object_get(v, "size2"));
        cr_assert_eq(sl_merkle_consistency(s1, s2, sl_merkle_mem_read, m, proof, &len, &err), SL_OK,
                     "%s", err.msg);
        expect_proof(proof, len, json_object_get(v, "proof"), "reference consistency");
        cr_expect_eq(sl_merkle_verify_consistency(s1, s2, roots[s1], roots[s2],
                                                  (const unsigned char(*)[HL])proof, len, &err),
                     SL_OK, "%s", err.msg);
    }
    sl_merkle_mem_free(m);
    json_decref(j);
}

Test(merkle, derived_all_proofs_8_leaves)
{
    json_t *j = load_json(SL_VECTORS_DIR "/merkle/derived-all-proofs-8-leaves.json");
    hash_t leaves[8], proof[SL_MERKLE_MAX_HASHES], want[SL_MERKLE_MAX_HASHES];
    struct sl_merkle_mem *m = mem_from_inputs(json_object_get(j, "leaf_inputs_hex"), leaves);
    struct sl_error err;
    json_t *v;
    size_t i, len, wlen;
    int incl = 0, cons = 0;

    json_array_foreach(json_object_get(j, "inclusion_proofs"), i, v)
    {
        uint64_t idx = (uint64_t)json_integer_value(json_object_get(v, "leaf_index"));
        uint64_t size = (uint64_t)json_integer_value(json_object_get(v, "tree_size"));
        unsigned char leaf[HL], root[HL];

        unhex32(json_string_value(json_object_get(v, "leaf_hash")), leaf);
        unhex32(json_string_value(json_object_get(v, "root")), root);
        cr_expect_eq(memcmp(leaf, leaves[idx], HL), 0);
        cr_assert_eq(sl_merkle_inclusion(idx, size, sl_merkle_mem_read, m, proof, &len, &err),
                     SL_OK, "%s", err.msg);
        expect_proof(proof, len, json_object_get(v, "proof"), "derived inclusion");
        wlen = proof_from_hex(json_object_get(v, "proof"), want);
        cr_expect_eq(sl_merkle_verify_inclusion(idx, size, leaf, (const unsigned char(*)[HL])want,
                                                wlen, root, &err),
                     SL_OK, "(%llu, %llu): %s", (unsigned long long)idx, (unsigned long long)size,
                     err.msg);
        incl++;
    }
    json_array_foreach(json_object_get(j, "consistency_proofs"), i, v)
    {
        uint64_t s1 = (uint64_t)json_integer_value(json_object_get(v, "size1"));
        uint64_t s2 = (uint64_t)json_integer_value(json_object_get(v, "size2"));
        unsigned char r1[HL], r2[HL];

        unhex32(json_string_value(json_object_get(v, "root1")), r1);
        unhex32(json_string_value(json_object_get(v, "root2")), r2);
        cr_assert_eq(sl_merkle_consistency(s1, s2, sl_merkle_mem_read, m, proof, &len, &err), SL_OK,
                     "%s", err.msg);
        expect_proof(proof, len, json_object_get(v, "proof"), "derived consistency");
        wlen = proof_from_hex(json_object_get(v, "proof"), want);
        cr_expect_eq(sl_merkle_verify_consistency(s1, s2, r1, r2, (const unsigned char(*)[HL])want,
                                                  wlen, &err),
                     SL_OK, "(%llu -> %llu): %s", (unsigned long long)s1, (unsigned long long)s2,
                     err.msg);
        cons++;
    }
    cr_expect_eq(incl, 36);
    cr_expect_eq(cons, 36);
    sl_merkle_mem_free(m);
    json_decref(j);
}

/* ---- transparency-dev probes ---- */

struct probe_stats {
    int run, ok, rejected, short_hash, skipped;
};

static void run_probe(const char *path, bool inclusion, struct probe_stats *st)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je), *v;
    size_t tlen = 0;
    char *text = (char *)th_read(path, &tlen);
    hash_t proof[80];
    unsigned char a[HL], b[HL], leaf[HL];
    size_t i, n = 0;
    bool short_hash = false, want_err = json_is_true(json_object_get(j, "wantErr"));
    struct sl_error err;
    enum sl_err rc;

    cr_assert_not_null(j, "%s: %s", path, je.text);
    cr_assert_not_null(text);
    text[tlen] = '\0';
    json_array_foreach(json_object_get(j, "proof"), i, v)
    {
        cr_assert(n < 80);
        short_hash |= unb64_32(json_string_value(v), proof[n++]) != HL;
    }
    if (inclusion) {
        short_hash |= unb64_32(json_string_value(json_object_get(j, "root")), a) != HL;
        short_hash |= unb64_32(json_string_value(json_object_get(j, "leafHash")), leaf) != HL;
        rc = sl_merkle_verify_inclusion(u64_field(text, "leafIdx"), u64_field(text, "treeSize"),
                                        leaf, (const unsigned char(*)[HL])proof, n, a, &err);
    } else {
        short_hash |= unb64_32(json_string_value(json_object_get(j, "root1")), a) != HL;
        short_hash |= unb64_32(json_string_value(json_object_get(j, "root2")), b) != HL;
        rc = sl_merkle_verify_consistency(u64_field(text, "size1"), u64_field(text, "size2"), a, b,
                                          (const unsigned char(*)[HL])proof, n, &err);
    }
    /* Our API takes 32-byte arrays, so a caller rejects a hash of another
     * length while decoding it: such a probe counts as rejected (the verifier
     * still ran on the zero-padded values above, without crashing). Every
     * such probe wants an error except one upstream quirk, equal 12-byte
     * "roots" for 1 -> 1 (see the README), which is skipped. */
    st->run++;
    if (short_hash) {
        st->short_hash++;
        if (strstr(path, "sizes-are-equal-one-and-proof-is-empty")) {
            cr_expect(!want_err);
            st->skipped++;
        } else {
            cr_expect(want_err, "%s: a hash that is not 32 bytes but no error wanted", path);
            st->rejected++;
        }
    } else {
        cr_expect_eq(rc != SL_OK, want_err, "%s (%s): got %s", path,
                     json_string_value(json_object_get(j, "desc")), rc ? err.msg : "ok");
        if (rc != SL_OK)
            cr_expect(err.kind != NULL && err.msg[0] != '\0', "%s: error without a kind", path);
        if (rc)
            st->rejected++;
        else
            st->ok++;
    }
    free(text);
    json_decref(j);
}

static void walk_probes(const char *dir, bool inclusion, struct probe_stats *st)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    cr_assert_not_null(d, "%s", dir);
    while ((e = readdir(d))) {
        char p[1024];
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0)
            run_probe(p, inclusion, st);
        else
            walk_probes(p, inclusion, st);
    }
    closedir(d);
}

Test(merkle, transparency_dev_inclusion_probes)
{
    struct probe_stats st = {0};

    walk_probes(SL_VECTORS_DIR "/merkle/transparency-dev-merkle/inclusion", true, &st);
    cr_expect_eq(st.run, 98);
    cr_expect_eq(st.skipped, 0);
    cr_log_info("inclusion probes: %d run, %d ok, %d rejected (%d with a hash not 32 bytes)",
                st.run, st.ok, st.rejected, st.short_hash);
}

Test(merkle, transparency_dev_consistency_probes)
{
    struct probe_stats st = {0};

    walk_probes(SL_VECTORS_DIR "/merkle/transparency-dev-merkle/consistency", false, &st);
    cr_expect_eq(st.run, 98);
    cr_expect_eq(st.skipped, 1);
    cr_log_info("consistency probes: %d run, %d ok, %d rejected (%d with a hash not 32 bytes), "
                "%d skipped",
                st.run, st.ok, st.rejected, st.short_hash, st.skipped);
}

/* ---- random trees against the naive implementation ---- */

static void check_inclusion(struct tree *t, hash_t *roots, uint64_t idx, uint64_t size)
{
    hash_t proof[SL_MERKLE_MAX_HASHES + 1], want[SL_MERKLE_MAX_HASHES];
    const unsigned char(*cp)[HL] = (const unsigned char(*)[HL])proof;
    struct sl_error err;
    size_t len, wlen;
    unsigned char leaf[HL];

    cr_assert_eq(sl_merkle_inclusion(idx, size, sl_merkle_mem_read, t->mem, proof, &len, &err),
                 SL_OK, "%s", err.msg);
    wlen = naive_path(idx, t->leaves, size, want);
    cr_assert_eq(len, wlen, "inclusion (%llu, %llu)", (unsigned long long)idx,
                 (unsigned long long)size);
    cr_assert_eq(memcmp(proof, want, len * HL), 0, "inclusion (%llu, %llu)",
                 (unsigned long long)idx, (unsigned long long)size);
    cr_assert_eq(sl_merkle_verify_inclusion(idx, size, t->leaves[idx], cp, len, roots[size], &err),
                 SL_OK, "%s", err.msg);

    /* Tampering. */
    memcpy(leaf, t->leaves[idx], HL);
    leaf[rnd_below(HL)] ^= (unsigned char)(1u << rnd_below(8));
    cr_expect_eq(sl_merkle_verify_inclusion(idx, size, leaf, cp, len, roots[size], &err),
                 SL_EREFUSED);
    if (len > 0) {
        size_t k = (size_t)rnd_below(len), bit = (size_t)rnd_below(8 * HL);
        proof[k][bit / 8] ^= (unsigned char)(1u << (bit % 8));
        cr_expect_eq(
            sl_merkle_verify_inclusion(idx, size, t->leaves[idx], cp, len, roots[size], &err),
            SL_EREFUSED);
        cr_expect_str_eq(err.kind, "RootMismatch");
        proof[k][bit / 8] ^= (unsigned char)(1u << (bit % 8));
        cr_expect_eq(
            sl_merkle_verify_inclusion(idx, size, t->leaves[idx], cp, len - 1, roots[size], &err),
            SL_EINPUT);
        cr_expect_str_eq(err.kind, "WrongProofSize");
    }
    memcpy(proof[len], t->leaves[0], HL);
    cr_expect_eq(
        sl_merkle_verify_inclusion(idx, size, t->leaves[idx], cp, len + 1, roots[size], &err),
        SL_EINPUT);
    cr_expect_str_eq(err.kind, "WrongProofSize");
    cr_expect_eq(sl_merkle_verify_inclusion(size, size, t->leaves[idx], cp, len, roots[size], &err),
                 SL_EINPUT);
    cr_expect_str_eq(err.kind, "IndexOutOfRange");
    if (size > 1) {
        uint64_t other = (idx + 1 + rnd_below(size - 1)) % size;
        cr_expect_neq(
            sl_merkle_verify_inclusion(other, size, t->leaves[idx], cp, len, roots[size], &err),
            SL_OK, "leaf %llu accepted as %llu of %llu", (unsigned long long)idx,
            (unsigned long long)other, (unsigned long long)size);
    }
    /* The wrong size, with the true root of that size. */
    if (size + 1 <= t->n)
        cr_expect_neq(sl_merkle_verify_inclusion(idx, size + 1, t->leaves[idx], cp, len,
                                                 roots[size + 1], &err),
                      SL_OK);
    if (size - 1 > idx)
        cr_expect_neq(sl_merkle_verify_inclusion(idx, size - 1, t->leaves[idx], cp, len,
                                                 roots[size - 1], &err),
                      SL_OK);
}

static void check_consistency(struct tree *t, hash_t *roots, uint64_t m, uint64_t n)
{
    hash_t proof[SL_MERKLE_MAX_HASHES + 1], want[SL_MERKLE_MAX_HASHES];
    const unsigned char(*cp)[HL] = (const unsigned char(*)[HL])proof;
    struct sl_error err;
    size_t len, wlen;

    cr_assert_eq(sl_merkle_consistency(m, n, sl_merkle_mem_read, t->mem, proof, &len, &err), SL_OK,
                 "%s", err.msg);
    wlen = naive_subproof(m, t->leaves, n, true, want);
    cr_assert_eq(len, wlen, "consistency %llu -> %llu", (unsigned long long)m,
                 (unsigned long long)n);
    cr_assert_eq(memcmp(proof, want, len * HL), 0, "consistency %llu -> %llu",
                 (unsigned long long)m, (unsigned long long)n);
    cr_assert_eq(sl_merkle_verify_consistency(m, n, roots[m], roots[n], cp, len, &err), SL_OK,
                 "%llu -> %llu: %s", (unsigned long long)m, (unsigned long long)n, err.msg);

    if (len > 0) {
        size_t k = (size_t)rnd_below(len), bit = (size_t)rnd_below(8 * HL);
        proof[k][bit / 8] ^= (unsigned char)(1u << (bit % 8));
        cr_expect_eq(sl_merkle_verify_consistency(m, n, roots[m], roots[n], cp, len, &err),
                     SL_EREFUSED, "%llu -> %llu bit flip", (unsigned long long)m,
                     (unsigned long long)n);
        proof[k][bit / 8] ^= (unsigned char)(1u << (bit % 8));
        cr_expect_eq(sl_merkle_verify_consistency(m, n, roots[m], roots[n], cp, len - 1, &err),
                     SL_EINPUT);
        cr_expect_str_eq(err.kind, "WrongProofSize");
        /* Swapped roots. */
        cr_expect_neq(sl_merkle_verify_consistency(m, n, roots[n], roots[m], cp, len, &err), SL_OK);
    }
    memcpy(proof[len], t->leaves[0], HL);
    cr_expect_eq(sl_merkle_verify_consistency(m, n, roots[m], roots[n], cp, len + 1, &err),
                 SL_EINPUT);
    cr_expect_str_eq(err.kind, "WrongProofSize");
    cr_expect_eq(sl_merkle_verify_consistency(n + 1, n, roots[m], roots[n], cp, len, &err),
                 SL_EINPUT);
    cr_expect_str_eq(err.kind, "BadTreeSizes");
    cr_expect_eq(sl_merkle_verify_consistency(0, n, roots[0], roots[n], cp, len, &err), SL_EINPUT);
    /* Other sizes with their true roots. */
    if (m > 1)
        cr_expect_neq(sl_merkle_verify_consistency(m - 1, n, roots[m - 1], roots[n], cp, len, &err),
                      SL_OK, "%llu -> %llu accepted for m - 1", (unsigned long long)m,
                      (unsigned long long)n);
    if (m < n)
        cr_expect_neq(sl_merkle_verify_consistency(m + 1, n, roots[m + 1], roots[n], cp, len, &err),
                      SL_OK, "%llu -> %llu accepted for m + 1", (unsigned long long)m,
                      (unsigned long long)n);
    if (n + 1 <= t->n)
        cr_expect_neq(sl_merkle_verify_consistency(m, n + 1, roots[m], roots[n + 1], cp, len, &err),
                      SL_OK, "%llu -> %llu accepted for n + 1", (unsigned long long)m,
                      (unsigned long long)n);
    if (n - 1 >= m && n > 1 && m != n)
        cr_expect_neq(sl_merkle_verify_consistency(m, n - 1, roots[m], roots[n - 1], cp, len, &err),
                      SL_OK, "%llu -> %llu accepted for n - 1", (unsigned long long)m,
                      (unsigned long long)n);
}

/* Roots of every prefix, from the store, checked against the naive MTH for
 * the sizes in `check` (and all sizes up to 80). */
static hash_t *all_roots(struct tree *t)
{
    hash_t *roots = malloc((size_t)(t->n + 1) * HL);

    for (uint64_t s = 0; s <= t->n; s++)
        tree_root(t, s, roots[s]);
    return roots;
}

Test(merkle, small_trees_exhaustive)
{
    struct tree t;
    hash_t *roots;
    int nincl = 0, ncons = 0;

    tree_build(&t, 70, 1);
    roots = all_roots(&t);
    for (uint64_t s = 0; s <= t.n; s++) {
        unsigned char h[HL];
        naive_mth(t.leaves, s, h);
        cr_assert_eq(memcmp(h, roots[s], HL), 0, "root of %llu", (unsigned long long)s);
    }
    for (uint64_t n = 1; n <= t.n; n++) {
        for (uint64_t i = 0; i < n; i++, nincl++)
            check_inclusion(&t, roots, i, n);
        for (uint64_t m = 1; m <= n; m++, ncons++)
            check_consistency(&t, roots, m, n);
    }
    cr_log_info("exhaustive: %d inclusion and %d consistency proofs", nincl, ncons);
    free(roots);
    tree_free(&t);
}

Test(merkle, random_trees_against_naive)
{
    for (int round = 0; round < 3; round++) {
        struct tree t;
        hash_t *roots;
        uint64_t sizes[40];
        int ns = 0;

        rng_state = 1000 + (uint64_t)round;
        tree_build(&t, 1500 + rnd_below(600), 77 + (uint64_t)round);
        roots = all_roots(&t);
        /* Powers of two and their neighbours, the whole tree, random sizes. */
        for (uint64_t p = 64; p <= t.n; p <<= 1) {
            sizes[ns++] = p - 1;
            sizes[ns++] = p;
            if (p + 1 <= t.n)
                sizes[ns++] = p + 1;
        }
        sizes[ns++] = t.n;
        while (ns < 30)
            sizes[ns++] = 71 + rnd_below(t.n - 70);
        for (int k = 0; k < ns; k++) {
            uint64_t n = sizes[k];
            unsigned char h[HL];

            naive_mth(t.leaves, n, h);
            cr_assert_eq(memcmp(h, roots[n], HL), 0, "root of %llu", (unsigned long long)n);
            check_inclusion(&t, roots, 0, n);
            check_inclusion(&t, roots, n - 1, n);
            check_consistency(&t, roots, 1, n);
            check_consistency(&t, roots, n, n);
            check_consistency(&t, roots, n - 1, n);
            for (int r = 0; r < 12; r++) {
                check_inclusion(&t, roots, rnd_below(n), n);
                check_consistency(&t, roots, 1 + rnd_below(n), n);
            }
        }
        free(roots);
        tree_free(&t);
    }
}

/* ---- appending ---- */

struct counting {
    struct sl_merkle_mem *mem;
    int reads;
    bool fail;
};

static enum sl_err counting_read(void *ctx, int level, uint64_t index, unsigned char out[HL],
                                 struct sl_error *err)
{
    struct counting *c = ctx;

    c->reads++;
    if (c->fail)
        return sl_error_set(err, SL_EIO, "disk on fire at level %d index %llu", level,
                            (unsigned long long)index);
    return sl_merkle_mem_read(c->mem, level, index, out, err);
}

Test(merkle, append_stored_hashes)
{
    struct tree t;
    struct counting c = {0};
    hash_t out[SL_MERKLE_MAX_HASHES];
    struct sl_error err;
    int count, total_reads = 0;

    tree_build(&t, 1000, 5);
    c.mem = sl_merkle_mem_new();
    for (uint64_t n = 0; n < t.n; n++) {
        c.reads = 0;
        cr_assert_eq(sl_merkle_append(n, t.leaves[n], counting_read, &c, out, &count, &err), SL_OK);
        /* The new stored hashes are levels 0..ctz(n + 1), each the MTH of its
         * aligned range, read only for the left siblings. */
        cr_assert_eq(count, __builtin_ctzll(n + 1) + 1);
        cr_assert_eq(c.reads, count - 1);
        total_reads += c.reads;
        for (int l = 0; l < count; l++) {
            unsigned char want[HL];
            uint64_t span = 1ULL << l, start = (n >> l) << l;
            naive_mth(t.leaves + start, span, want);
            cr_assert_eq(memcmp(out[l], want, HL), 0, "leaf %llu level %d", (unsigned long long)n,
                         l);
        }
        cr_assert_eq(sl_merkle_mem_append(c.mem, t.leaves[n], &err), SL_OK);
    }
    /* About one read (and one node hash) per leaf. */
    cr_expect_lt(total_reads, 1000);
    sl_merkle_mem_free(c.mem);

    /* A failing store: the error comes back untouched. */
    c.mem = t.mem;
    c.fail = true;
    cr_expect_eq(sl_merkle_append(1, t.leaves[1], counting_read, &c, out, &count, &err), SL_EIO);
    cr_expect(strstr(err.msg, "disk on fire") != NULL);
    cr_expect_eq(sl_merkle_append(2, t.leaves[2], counting_read, &c, out, &count, &err), SL_OK);
    cr_expect_eq(count, 1);
    {
        hash_t proof[SL_MERKLE_MAX_HASHES];
        size_t len;
        unsigned char h[HL];
        cr_expect_eq(sl_merkle_root(5, counting_read, &c, h, &err), SL_EIO);
        cr_expect_eq(sl_merkle_inclusion(3, 5, counting_read, &c, proof, &len, &err), SL_EIO);
        cr_expect_eq(sl_merkle_consistency(3, 5, counting_read, &c, proof, &len, &err), SL_EIO);
        cr_expect_eq(len, 0);
        /* Input errors before any read. */
        c.reads = 0;
        cr_expect_eq(sl_merkle_inclusion(5, 5, counting_read, &c, proof, &len, &err), SL_EINPUT);
        cr_expect_eq(sl_merkle_consistency(0, 5, counting_read, &c, proof, &len, &err), SL_EINPUT);
        cr_expect_eq(sl_merkle_consistency(6, 5, counting_read, &c, proof, &len, &err), SL_EINPUT);
        cr_expect_eq(c.reads, 0);
        cr_expect_eq(sl_merkle_append(UINT64_MAX, h, counting_read, &c, proof, &count, &err),
                     SL_ELIMIT);
    }
    /* A store that lacks a hash says so. */
    {
        unsigned char h[HL];
        cr_expect_eq(sl_merkle_root(1001, sl_merkle_mem_read, t.mem, h, &err), SL_ENOTFOUND);
    }
    tree_free(&t);
}

Test(merkle, proof_reads_are_logarithmic)
{
    struct tree t;
    struct counting c = {0};
    hash_t proof[SL_MERKLE_MAX_HASHES];
    struct sl_error err;
    size_t len;

    tree_build(&t, 4099, 9);
    c.mem = t.mem;
    for (uint64_t i = 0; i < t.n; i += 37) {
        c.reads = 0;
        cr_assert_eq(sl_merkle_inclusion(i, t.n, counting_read, &c, proof, &len, &err), SL_OK);
        /* One read per proof hash, plus the peaks of at most one right edge. */
        cr_expect_leq(c.reads, 2 * 13, "%d reads for leaf %llu", c.reads, (unsigned long long)i);
        c.reads = 0;
        cr_assert_eq(sl_merkle_consistency(i + 1, t.n, counting_read, &c, proof, &len, &err),
                     SL_OK);
        cr_expect_leq(c.reads, 2 * 14);
    }
    tree_free(&t);
}

Test(merkle, subtree_and_edges)
{
    struct tree t;
    struct sl_error err;
    unsigned char h[HL], want[HL], root[HL];
    hash_t proof[SL_MERKLE_MAX_HASHES];

    tree_build(&t, 100, 11);
    cr_expect_eq(sl_merkle_subtree(64, 36, sl_merkle_mem_read, t.mem, h, &err), SL_OK);
    naive_mth(t.leaves + 64, 36, want);
    cr_expect_eq(memcmp(h, want, HL), 0);
    cr_expect_eq(sl_merkle_subtree(32, 36, sl_merkle_mem_read, t.mem, h, &err), SL_EINPUT);
    cr_expect_eq(sl_merkle_subtree(0, 0, sl_merkle_mem_read, t.mem, h, &err), SL_EINPUT);
    cr_expect_eq(sl_merkle_subtree(UINT64_MAX, 2, sl_merkle_mem_read, t.mem, h, &err), SL_EINPUT);
    tree_free(&t);

    /* The verifiers take sizes up to 2^64 - 1 without overflowing (the
     * longest consistency proof has 65 hashes). */
    memset(h, 1, HL);
    memset(root, 2, HL);
    memset(proof, 3, sizeof(proof));
    cr_expect_eq(sl_merkle_verify_inclusion(0, UINT64_MAX, h, (const unsigned char(*)[HL])proof, 64,
                                            root, &err),
                 SL_EREFUSED, "%s", err.msg);
    cr_expect_eq(sl_merkle_verify_inclusion(UINT64_MAX - 1, UINT64_MAX, h,
                                            (const unsigned char(*)[HL])proof, 64, root, &err),
                 SL_EINPUT, "%s", err.msg);
    cr_expect_eq(sl_merkle_verify_consistency(3, UINT64_MAX, h, root,
                                              (const unsigned char(*)[HL])proof, 65, &err),
                 SL_EREFUSED, "%s", err.msg);
    cr_expect_eq(sl_merkle_verify_consistency(3, UINT64_MAX, h, root,
                                              (const unsigned char(*)[HL])proof, 64, &err),
                 SL_EINPUT, "%s", err.msg);
    /* 2^63 -> 2^64 - 1: the old tree is the new one's left half, so the proof
     * is the right half's hash alone. */
    cr_expect_eq(sl_merkle_verify_consistency(1ULL << 63, UINT64_MAX, h, root,
                                              (const unsigned char(*)[HL])proof, 1, &err),
                 SL_EREFUSED, "%s", err.msg);
    cr_expect_eq(sl_merkle_verify_consistency(1ULL << 63, UINT64_MAX, h, root,
                                              (const unsigned char(*)[HL])proof, 63, &err),
                 SL_EINPUT, "%s", err.msg);
    cr_expect_eq(sl_merkle_verify_inclusion(0, 1, h, NULL, 0, h, &err), SL_OK);
    cr_expect_eq(sl_merkle_verify_consistency(5, 5, h, h, NULL, 0, &err), SL_OK);
    cr_expect_eq(sl_merkle_verify_consistency(5, 5, h, root, NULL, 0, &err), SL_EREFUSED);
}

Test(merkle, mem_store_large)
{
    struct sl_merkle_mem *m = sl_merkle_mem_new();
    hash_t proof[SL_MERKLE_MAX_HASHES];
    unsigned char leaf[HL], root[HL];
    struct sl_error err;
    size_t len;
    const uint64_t n = 200003;

    for (uint64_t i = 0; i < n; i++) {
        memset(leaf, 0, HL);
        memcpy(leaf, &i, sizeof(i));
        cr_assert_eq(sl_merkle_mem_append(m, leaf, &err), SL_OK);
    }
    sl_merkle_mem_root(m, root);
    for (uint64_t i = 0; i < n; i += 9973) {
        memset(leaf, 0, HL);
        memcpy(leaf, &i, sizeof(i));
        cr_assert_eq(sl_merkle_inclusion(i, n, sl_merkle_mem_read, m, proof, &len, &err), SL_OK);
        cr_assert_eq(sl_merkle_verify_inclusion(i, n, leaf, (const unsigned char(*)[HL])proof, len,
                                                root, &err),
                     SL_OK, "%s", err.msg);
    }
    sl_merkle_mem_free(m);
    sl_merkle_mem_free(NULL);
}

/* ---- tiles ---- */

static void expect_path(const struct sl_tile *t, const char *want)
{
    char got[SL_TILE_PATH_MAX];
    struct sl_tile back;
    struct sl_error err;
    size_t n = sl_tile_path(t, got);

    cr_expect_str_eq(got, want);
    cr_expect_eq(n, strlen(want));
    cr_assert_eq(sl_tile_parse(want, strlen(want), &back, &err), SL_OK, "%s: %s", want, err.msg);
    cr_expect_eq(back.level, t->level, "%s", want);
    cr_expect_eq(back.index, t->index, "%s", want);
    cr_expect_eq(back.width, t->width, "%s", want);
}

static void expect_bad_path(const char *path)
{
    struct sl_tile t;
    struct sl_error err;

    cr_expect_eq(sl_tile_parse(path, strlen(path), &t, &err), SL_EINPUT, "accepted \"%s\"", path);
}

Test(tiles, path_vectors)
{
    json_t *j = load_json(SL_VECTORS_DIR "/tiles/tlog-tiles-vectors.json"), *v;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(j, "n_encoding"), i, v)
    {
        struct sl_tile t = {0, (uint64_t)json_integer_value(json_object_get(v, "n")), 256};
        char want[SL_TILE_PATH_MAX];
        snprintf(want, sizeof(want), "tile/0/%s", json_string_value(json_object_get(v, "path")));
        expect_path(&t, want);
        n++;
    }
    json_array_foreach(json_object_get(j, "tile_paths"), i, v)
    {
        unsigned w = (unsigned)json_integer_value(json_object_get(v, "width"));
        struct sl_tile t = {(int)json_integer_value(json_object_get(v, "level")),
                            (uint64_t)json_integer_value(json_object_get(v, "index")), w ? w : 256};
        expect_path(&t, json_string_value(json_object_get(v, "path")));
        n++;
    }
    json_array_foreach(json_object_get(j, "entries_paths"), i, v)
    {
        unsigned w = (unsigned)json_integer_value(json_object_get(v, "width"));
        struct sl_tile t = {SL_TILE_ENTRIES,
                            (uint64_t)json_integer_value(json_object_get(v, "index")), w ? w : 256};
        expect_path(&t, json_string_value(json_object_get(v, "path")));
        n++;
    }
    json_array_foreach(json_object_get(j, "entries_path_for_log_index"), i, v)
    {
        struct sl_tile t;
        struct sl_error err;
        char got[SL_TILE_PATH_MAX];
        cr_assert_eq(sl_tile_for(SL_TILE_ENTRIES,
                                 (uint64_t)json_integer_value(json_object_get(v, "entry_index")),
                                 (uint64_t)json_integer_value(json_object_get(v, "tree_size")), &t,
                                 &err),
                     SL_OK, "%s", err.msg);
        sl_tile_path(&t, got);
        cr_expect_str_eq(got, json_string_value(json_object_get(v, "path")));
        n++;
    }
    json_array_foreach(json_object_get(j, "parse_ok_tessera"), i, v)
    {
        char path[128];
        struct sl_tile t;
        struct sl_error err;
        json_t *w = json_object_get(v, "want");
        unsigned width = (unsigned)json_integer_value(json_array_get(w, 2));
        snprintf(path, sizeof(path), "tile/%s/%s", json_string_value(json_object_get(v, "level")),
                 json_string_value(json_object_get(v, "index")));
        cr_assert_eq(sl_tile_parse(path, strlen(path), &t, &err), SL_OK, "%s: %s", path, err.msg);
        cr_expect_eq(t.level, (int)json_integer_value(json_array_get(w, 0)));
        cr_expect_eq(t.index, (uint64_t)json_integer_value(json_array_get(w, 1)));
        cr_expect_eq(t.width, width ? width : 256);
        n++;
    }
    json_array_foreach(json_object_get(j, "parse_errors_tessera"), i, v)
    {
        char path[128];
        snprintf(path, sizeof(path), "tile/%s/%s", json_string_value(json_object_get(v, "level")),
                 json_string_value(json_object_get(v, "index")));
        expect_bad_path(path);
        n++;
    }
    /* The Go checksum-database layout is a different one: none of its paths
     * is a C2SP path. */
    json_array_foreach(json_object_get(json_object_get(j, "go_sumdb_layout_for_contrast"), "paths"),
                       i, v)
    {
        expect_bad_path(json_string_value(json_object_get(v, "path")));
        n++;
    }
    json_array_foreach(json_object_get(j, "tiles_for_tree_size"), i, v)
    {
        uint64_t size = (uint64_t)json_integer_value(json_object_get(v, "tree_size"));
        json_t *e;
        size_t k;
        json_array_foreach(json_object_get(v, "tiles"), k, e)
        {
            uint64_t full;
            unsigned partial;
            int level = (int)json_integer_value(json_object_get(e, "level"));
            sl_tile_count(size, level, &full, &partial);
            cr_expect_eq(full, (uint64_t)json_integer_value(json_object_get(e, "full_tiles")));
            cr_expect_eq(partial,
                         (unsigned)json_integer_value(json_object_get(e, "partial_width")));
            cr_expect_eq(sl_tile_width_at(level, full, size), partial);
            if (full)
                cr_expect_eq(sl_tile_width_at(level, full - 1, size), 256);
        }
        /* Nothing above the listed levels. */
        {
            uint64_t full;
            unsigned partial;
            sl_tile_count(size, (int)json_array_size(json_object_get(v, "tiles")), &full, &partial);
            cr_expect_eq(full + partial, 0);
        }
        n++;
    }
    cr_log_info("%d tile path and size vectors", n);
    cr_expect_eq(n, 50, "tlog-tiles-vectors.json changed: update the count");
    json_decref(j);
}

Test(tiles, strict_parsing)
{
    static const char *bad[] = {
        "",
        "tile",
        "tile/",
        "/tile/0/000",
        "tiles/0/000",
        "tile/0/000/",
        "tile/0/000 ",
        "tile/0/00",
        "tile/0/0000",
        "tile/00/000",
        "tile/01/000",
        "tile/+1/000",
        "tile/100/000",
        "tile/0/x000/001",
        "tile/0/x001/x000",
        "tile/0/X001/000",
        "tile/0/x1/000",
        "tile/0/x001//000",
        "tile/0/x001/000/",
        "tile/0/000.p/0",
        "tile/0/000.p/00",
        "tile/0/000.p/08",
        "tile/0/000.p/256",
        "tile/0/000.p/1000",
        "tile/0/000.p/-1",
        "tile/0/000.p/",
        "tile/0/000.p/1/",
        "tile/0/000.p/1x",
        "tile/0/000.q/1",
        "tile/0/000p/1",
        "tile/0/x000.p/1",
        "tile/entries",
        "tile/entries/",
        "tile/entries/0",
        "tile/entries/000.p/256",
        "tile/entry/000",
        "tile/data/000",
        "tile/8/0/000",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
    };
    struct sl_tile t;
    struct sl_error err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_path(bad[i]);
    /* A NUL inside the length is not the end. */
    cr_expect_eq(sl_tile_parse("tile/0/000\0", 11, &t, &err), SL_EINPUT);
    /* The length bounds the parse. */
    cr_expect_eq(sl_tile_parse("tile/0/001.p/5junk", 14, &t, &err), SL_OK);
    cr_expect_eq(t.width, 5);
    cr_expect_eq(sl_tile_parse("tile/0/001.p/5junk", 7, &t, &err), SL_EINPUT);
    /* The largest index there is. */
    {
        struct sl_tile max = {63, UINT64_MAX, 255};
        expect_path(&max, "tile/63/x018/x446/x744/x073/x709/x551/615.p/255");
        max.level = SL_TILE_ENTRIES;
        expect_path(&max, "tile/entries/x018/x446/x744/x073/x709/x551/615.p/255");
    }
}

Test(tiles, path_round_trip)
{
    rng_state = 42;
    for (int i = 0; i < 20000; i++) {
        struct sl_tile t, back;
        struct sl_error err;
        char p[SL_TILE_PATH_MAX];
        size_t n;

        t.level = (int)rnd_below(65) - 1;
        t.index = rnd() >> rnd_below(64);
        t.width = 1 + (unsigned)rnd_below(256);
        n = sl_tile_path(&t, p);
        cr_assert_lt(n, SL_TILE_PATH_MAX);
        cr_assert_eq(sl_tile_parse(p, n, &back, &err), SL_OK, "%s: %s", p, err.msg);
        cr_assert(back.level == t.level && back.index == t.index && back.width == t.width, "%s", p);
    }
}

Test(tiles, tile_for_and_widths)
{
    struct sl_tile t;
    struct sl_error err;

    cr_expect_eq(sl_tile_for(0, 69999, 70000, &t, &err), SL_OK);
    cr_expect(t.level == 0 && t.index == 273 && t.width == 112);
    cr_expect_eq(sl_tile_for(0, 70000, 70000, &t, &err), SL_ENOTFOUND);
    cr_expect_eq(sl_tile_for(1, 272, 70000, &t, &err), SL_OK);
    cr_expect(t.level == 1 && t.index == 1 && t.width == 17);
    cr_expect_eq(sl_tile_for(1, 273, 70000, &t, &err), SL_ENOTFOUND);
    cr_expect_eq(sl_tile_for(2, 0, 70000, &t, &err), SL_OK);
    cr_expect(t.index == 0 && t.width == 1);
    cr_expect_eq(sl_tile_for(3, 0, 70000, &t, &err), SL_ENOTFOUND);
    cr_expect_eq(sl_tile_for(0, 0, 0, &t, &err), SL_ENOTFOUND);
    cr_expect_eq(sl_tile_width_at(0, 0, 0), 0);
    cr_expect_eq(sl_tile_width_at(0, 1, 256), 0);
    cr_expect_eq(sl_tile_width_at(0, UINT64_MAX, UINT64_MAX), 0);
    cr_expect_eq(sl_tile_width_at(7, 0, UINT64_MAX), 255);
    cr_expect_eq(sl_tile_width_at(8, 0, UINT64_MAX), 0);
    cr_expect_eq(sl_tile_width_at(63, 0, UINT64_MAX), 0);
    cr_expect_eq(sl_tile_width_at(SL_TILE_ENTRIES, 1, 300), 44);
}

/* Leaf hashes of the 8-entry log and its entry bundle. */
Test(tiles, derived_8_entry_log)
{
    json_t *j = load_json(SL_VECTORS_DIR "/tiles/tlog-tiles-vectors.json");
    json_t *ref = load_json(SL_VECTORS_DIR "/merkle/rfc6962-reference-8-leaves.json");
    json_t *d = json_object_get(j, "DERIVED_8_entry_log"), *v;
    hash_t leaves[8];
    struct sl_merkle_mem *m = mem_from_inputs(json_object_get(ref, "leaf_inputs_hex"), leaves);
    unsigned char want[SL_TILE_MAX_BYTES], got[SL_TILE_MAX_BYTES], inputs[8][64];
    size_t inlen[8], wlen, len;
    struct sl_tile t;
    struct sl_error err;
    struct sl_buf b;
    struct sl_bundle_entry e[SL_TILE_WIDTH];
    unsigned count;
    char path[SL_TILE_PATH_MAX];
    size_t i;

    cr_assert_eq(sl_tile_for(0, 0, 8, &t, &err), SL_OK);
    sl_tile_path(&t, path);
    cr_expect_str_eq(path, json_string_value(json_object_get(d, "tile_path")));
    wlen = unhex_any(json_string_value(json_object_get(d, "tile_hex")), want, sizeof(want));
    cr_assert_eq(sl_tile_read(&t, 8, sl_merkle_mem_read, m, got, &len, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(len, wlen);
    cr_expect_eq(memcmp(got, want, len), 0);

    /* Smaller widths exist; wider ones and the full tile do not yet. */
    t.width = 3;
    cr_expect_eq(sl_tile_read(&t, 8, sl_merkle_mem_read, m, got, &len, &err), SL_OK);
    cr_expect_eq(len, 3 * HL);
    t.width = 9;
    cr_expect_eq(sl_tile_read(&t, 8, sl_merkle_mem_read, m, got, &len, &err), SL_ENOTFOUND);
    cr_expect(strstr(err.msg, "tile/0/000.p/9") != NULL, "%s", err.msg);
    t.width = 256;
    cr_expect_eq(sl_tile_read(&t, 8, sl_merkle_mem_read, m, got, &len, &err), SL_ENOTFOUND);
    t.width = 8;
    t.level = 1;
    cr_expect_eq(sl_tile_read(&t, 8, sl_merkle_mem_read, m, got, &len, &err), SL_ENOTFOUND);
    t.level = SL_TILE_ENTRIES;
    cr_expect_eq(sl_tile_read(&t, 8, sl_merkle_mem_read, m, got, &len, &err), SL_EINPUT);

    /* The entry bundle. */
    sl_buf_init(&b, 1 << 20);
    json_array_foreach(json_object_get(ref, "leaf_inputs_hex"), i, v)
    {
        inlen[i] = unhex_any(json_string_value(v), inputs[i], sizeof(inputs[i]));
        cr_assert_eq(sl_bundle_add(&b, inputs[i], inlen[i], &err), SL_OK);
    }
    wlen =
        unhex_any(json_string_value(json_object_get(d, "entries_bundle_hex")), want, sizeof(want));
    cr_expect_eq(b.len, wlen);
    cr_expect_eq(memcmp(b.data, want, wlen), 0);
    cr_assert_eq(sl_bundle_parse((const unsigned char *)b.data, b.len, e, &count, &err), SL_OK);
    cr_assert_eq(count, 8);
    for (i = 0; i < 8; i++) {
        unsigned char h[HL];
        cr_expect_eq(e[i].len, inlen[i]);
        cr_expect_eq(memcmp(e[i].data, inputs[i], inlen[i]), 0);
        sl_merkle_leaf(e[i].data, e[i].len, h);
        cr_expect_eq(memcmp(h, leaves[i], HL), 0);
    }
    t.level = SL_TILE_ENTRIES;
    t.index = 0;
    t.width = count;
    sl_tile_path(&t, path);
    cr_expect_str_eq(path, json_string_value(json_object_get(d, "entries_path")));
    sl_buf_release(&b);
    sl_merkle_mem_free(m);
    json_decref(ref);
    json_decref(j);
}

Test(tiles, derived_300_entry_log)
{
    json_t *j = load_json(SL_VECTORS_DIR "/tiles/tlog-tiles-vectors.json");
    json_t *d = json_object_get(j, "DERIVED_300_entry_log"), *v;
    struct sl_merkle_mem *m = sl_merkle_mem_new();
    unsigned char want[HL], got[SL_TILE_MAX_BYTES], root[HL];
    struct sl_tile t;
    struct sl_error err;
    char path[SL_TILE_PATH_MAX];
    size_t len, i;

    for (unsigned k = 0; k < 300; k++) {
        unsigned char e[2] = {(unsigned char)(k >> 8), (unsigned char)k}, h[HL];
        sl_merkle_leaf(e, 2, h);
        cr_assert_eq(sl_merkle_mem_append(m, h, &err), SL_OK);
    }
    cr_assert_eq(sl_tile_for(1, 0, 300, &t, &err), SL_OK);
    sl_tile_path(&t, path);
    cr_expect_str_eq(path, json_string_value(json_object_get(d, "level1_partial_tile_path")));
    cr_assert_eq(sl_tile_read(&t, 300, sl_merkle_mem_read, m, got, &len, &err), SL_OK);
    cr_expect_eq(len, HL);
    unhex32(json_string_value(json_object_get(d, "level1_hash_hex")), want);
    cr_expect_eq(memcmp(got, want, HL), 0);
    sl_merkle_mem_root(m, root);
    unhex32(json_string_value(json_object_get(d, "root_size_300_hex")), want);
    cr_expect_eq(memcmp(root, want, HL), 0);
    cr_assert_eq(json_array_size(json_object_get(d, "tiles")), 2);
    json_array_foreach(json_object_get(d, "tiles"), i, v)
    {
        uint64_t full;
        unsigned partial;
        sl_tile_count(300, (int)json_integer_value(json_object_get(v, "level")), &full, &partial);
        cr_expect_eq(full, (uint64_t)json_integer_value(json_object_get(v, "full_tiles")));
        cr_expect_eq(partial, (unsigned)json_integer_value(json_object_get(v, "partial_width")));
    }
    sl_merkle_mem_free(m);
    json_decref(j);
}

/* Root of the 256 hashes of a full tile, as a height-8 subtree. */
static void tile_root(const unsigned char *tile, unsigned char out[HL])
{
    hash_t lv[256];

    memcpy(lv, tile, sizeof(lv));
    for (int w = 256; w > 1; w /= 2)
        for (int k = 0; k < w / 2; k++)
            sl_merkle_node(lv[2 * k], lv[2 * k + 1], lv[k]);
    memcpy(out, lv[0], HL);
}

Test(tiles, tiles_of_70000_leaves)
{
    struct sl_merkle_mem *m = sl_merkle_mem_new();
    unsigned char l0[SL_TILE_MAX_BYTES], l1[SL_TILE_MAX_BYTES], l2[SL_TILE_MAX_BYTES], h[HL];
    struct sl_tile t;
    struct sl_error err;
    size_t len;

    for (uint64_t k = 0; k < 70000; k++) {
        sl_merkle_leaf(&k, sizeof(k), h);
        cr_assert_eq(sl_merkle_mem_append(m, h, &err), SL_OK);
    }
    /* Each level-1 hash is the root of the full level-0 tile below it. */
    t = (struct sl_tile){1, 0, 256};
    cr_assert_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l1, &len, &err), SL_OK);
    cr_expect_eq(len, SL_TILE_MAX_BYTES);
    for (uint64_t n = 0; n < 256; n += 51) {
        t = (struct sl_tile){0, n, 256};
        cr_assert_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l0, &len, &err), SL_OK);
        tile_root(l0, h);
        cr_expect_eq(memcmp(h, l1 + n * HL, HL), 0, "level-1 hash %llu", (unsigned long long)n);
    }
    /* And the level-2 hash is the root of the full level-1 tile. */
    t = (struct sl_tile){2, 0, 1};
    cr_assert_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l2, &len, &err), SL_OK);
    cr_expect_eq(len, HL);
    tile_root(l1, h);
    cr_expect_eq(memcmp(h, l2, HL), 0);
    /* The partial tiles the spec lists, and nothing past them. */
    t = (struct sl_tile){0, 273, 112};
    cr_expect_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l0, &len, &err), SL_OK);
    t = (struct sl_tile){1, 1, 17};
    cr_expect_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l0, &len, &err), SL_OK);
    t = (struct sl_tile){1, 1, 18};
    cr_expect_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l0, &len, &err), SL_ENOTFOUND);
    t = (struct sl_tile){0, 274, 1};
    cr_expect_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l0, &len, &err), SL_ENOTFOUND);
    t = (struct sl_tile){8, 0, 1};
    cr_expect_eq(sl_tile_read(&t, UINT64_MAX, sl_merkle_mem_read, m, l0, &len, &err), SL_ENOTFOUND);
    t = (struct sl_tile){0, 0, 0};
    cr_expect_eq(sl_tile_read(&t, 70000, sl_merkle_mem_read, m, l0, &len, &err), SL_EINPUT);
    sl_merkle_mem_free(m);
}

Test(tiles, bundles)
{
    struct sl_buf b;
    struct sl_error err;
    struct sl_bundle_entry e[SL_TILE_WIDTH];
    unsigned count;
    unsigned char *big = calloc(1, SL_ENTRY_MAX + 1);

    sl_buf_init(&b, 1 << 24);
    /* The largest entry fits, one byte more does not. */
    cr_expect_eq(sl_bundle_add(&b, big, SL_ENTRY_MAX, &err), SL_OK);
    cr_expect_eq(sl_bundle_add(&b, big, SL_ENTRY_MAX + 1, &err), SL_ELIMIT);
    cr_expect_eq(b.len, 2 + SL_ENTRY_MAX);
    cr_expect_eq(sl_bundle_add(&b, NULL, 0, &err), SL_OK);
    cr_assert_eq(sl_bundle_parse((const unsigned char *)b.data, b.len, e, &count, &err), SL_OK);
    cr_expect_eq(count, 2);
    cr_expect_eq(e[0].len, SL_ENTRY_MAX);
    cr_expect_eq(e[1].len, 0);
    /* Truncations anywhere fail. */
    cr_expect_eq(sl_bundle_parse((const unsigned char *)b.data, b.len - 1, e, &count, &err),
                 SL_EINPUT);
    cr_expect_eq(sl_bundle_parse((const unsigned char *)b.data, 1, e, &count, &err), SL_EINPUT);
    cr_expect_eq(sl_bundle_parse((const unsigned char *)b.data, 100, e, &count, &err), SL_EINPUT);
    cr_expect_eq(sl_bundle_parse((const unsigned char *)b.data, 0, e, &count, &err), SL_EINPUT);
    cr_expect_eq(count, 0);

    /* 256 entries are a full bundle; 257 are too many. */
    sl_buf_reset(&b);
    for (int i = 0; i < 256; i++)
        cr_assert_eq(sl_bundle_add(&b, "abc", (size_t)(i % 4), &err), SL_OK);
    cr_expect_eq(sl_bundle_parse((const unsigned char *)b.data, b.len, e, &count, &err), SL_OK);
    cr_expect_eq(count, 256);
    cr_expect_eq(e[255].len, 3);
    cr_expect_eq(sl_bundle_add(&b, "x", 1, &err), SL_OK);
    cr_expect_eq(sl_bundle_parse((const unsigned char *)b.data, b.len, e, &count, &err), SL_EINPUT);
    sl_buf_release(&b);

    /* The buffer's cap holds: nothing is appended past it. */
    sl_buf_init(&b, 10);
    cr_expect_eq(sl_bundle_add(&b, "12345678", 8, &err), SL_OK);
    cr_expect_eq(sl_bundle_add(&b, "1", 1, &err), SL_ELIMIT);
    cr_expect_eq(b.len, 10);
    sl_buf_release(&b);
    free(big);
}
