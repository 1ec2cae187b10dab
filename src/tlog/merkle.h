/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Merkle tree of the transparency log (RFC 6962 section 2.1, RFC 9162
 * section 2.1): leaf and node hashes, tree roots, inclusion and consistency
 * proofs and their verifiers. The module keeps no storage of its own: a log
 * stores the hash of every complete subtree ("stored hashes") wherever it likes
 * and hands this module a callback that reads them back. The tiles of
 * tlog-tiles (tiles.h) are made of the same stored hashes.
 */
#ifndef SL_TLOG_MERKLE_H
#define SL_TLOG_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_MERKLE_HASH_LEN 32

/*
 * The most hashes any function below writes into a caller's array: the stored
 * hashes one append creates (at most 64) and the longest proof for a tree of
 * fewer than 2^64 leaves (64 for inclusion, 65 for consistency).
 */
#define SL_MERKLE_MAX_HASHES 65

/*
 * Stored hash (level L, index k) is the Merkle tree hash of the complete
 * subtree over leaves [k * 2^L, (k + 1) * 2^L): level 0 holds the leaf hashes,
 * level L + 1 index k is sl_merkle_node() of level L indexes 2k and 2k + 1.
 * A tree of `size` leaves has the stored hashes with (k + 1) * 2^L <= size.
 */

/* Leaf hash of an entry: SHA-256(0x00 || entry). `entry` may be NULL when n is 0. */
void sl_merkle_leaf(const void *entry, size_t n, unsigned char out[SL_MERKLE_HASH_LEN]);

/* Interior node hash: SHA-256(0x01 || l || r). `out` may alias `l` or `r`. */
void sl_merkle_node(const unsigned char l[SL_MERKLE_HASH_LEN],
                    const unsigned char r[SL_MERKLE_HASH_LEN],
                    unsigned char out[SL_MERKLE_HASH_LEN]);

/*
 * Reads the stored hash at (level, index) into `out`. The functions below only
 * ask for hashes of complete subtrees inside the tree size they were given;
 * a store that lacks one should return an error (SL_ENOTFOUND) and describe
 * it in `err`, which is passed through unchanged to the caller.
 */
typedef enum sl_err (*sl_merkle_read_fn)(void *ctx, int level, uint64_t index,
                                         unsigned char out[SL_MERKLE_HASH_LEN],
                                         struct sl_error *err);

/*
 * Appending leaf number `n` (0-based, so the tree grows to n + 1 leaves) with
 * leaf hash `leaf`: computes the stored hashes that become complete. They are
 * written to out[0 .. *count), where out[L] is the stored hash at level L,
 * index n >> L; out[0] is the leaf hash itself. `out` holds
 * SL_MERKLE_MAX_HASHES hashes. Reads the *count - 1 left siblings through
 * `read` (none for an even n); costs *count - 1 SHA-256 calls, which averages
 * one per leaf. Fails with SL_ELIMIT when n + 1 does not fit in 64 bits.
 */
enum sl_err sl_merkle_append(uint64_t n, const unsigned char leaf[SL_MERKLE_HASH_LEN],
                             sl_merkle_read_fn read, void *ctx,
                             unsigned char (*out)[SL_MERKLE_HASH_LEN], int *count,
                             struct sl_error *err);

/*
 * Root hash of the tree of the first `size` leaves; SHA-256("") for size 0.
 * Reads one stored hash per set bit of `size`.
 */
enum sl_err sl_merkle_root(uint64_t size, sl_merkle_read_fn read, void *ctx,
                           unsigned char out[SL_MERKLE_HASH_LEN], struct sl_error *err);

/*
 * Root hash of the leaves [start, start + size), where size > 0 and start is
 * a multiple of the smallest power of two >= size (the only ranges the RFC's
 * recursion ever splits a tree into). SL_EINPUT for any other range.
 */
enum sl_err sl_merkle_subtree(uint64_t start, uint64_t size, sl_merkle_read_fn read, void *ctx,
                              unsigned char out[SL_MERKLE_HASH_LEN], struct sl_error *err);

/*
 * Inclusion proof (audit path, RFC 9162 2.1.3.1) of leaf `index` in the tree
 * of `size` leaves, leaf's sibling first. `proof` holds SL_MERKLE_MAX_HASHES
 * hashes; `*len` gets the number written. SL_EINPUT when index >= size.
 * O(log size) reads and at most log2(size) SHA-256 calls.
 */
enum sl_err sl_merkle_inclusion(uint64_t index, uint64_t size, sl_merkle_read_fn read, void *ctx,
                                unsigned char (*proof)[SL_MERKLE_HASH_LEN], size_t *len,
                                struct sl_error *err);

/*
 * Consistency proof (RFC 9162 2.1.4.1) from the tree of `m` leaves to the tree
 * of `n` leaves; empty when m == n. `proof` holds SL_MERKLE_MAX_HASHES hashes.
 * SL_EINPUT unless 0 < m <= n (a proof from the empty tree proves nothing).
 */
enum sl_err sl_merkle_consistency(uint64_t m, uint64_t n, sl_merkle_read_fn read, void *ctx,
                                  unsigned char (*proof)[SL_MERKLE_HASH_LEN], size_t *len,
                                  struct sl_error *err);

/*
 * Verifiers, RFC 9162 2.1.3.2 and 2.1.4.2. They return SL_OK when the proof
 * holds. Otherwise `err->kind` says what failed:
 *   "IndexOutOfRange"  index >= size                           (SL_EINPUT)
 *   "BadTreeSizes"     m == 0 or m > n                          (SL_EINPUT)
 *   "WrongProofSize"   len is not the length this proof must have (SL_EINPUT)
 *   "RootMismatch"     the proof leads to a different root      (SL_EREFUSED)
 * `proof` may be NULL when len is 0. Nothing is read beyond proof[len - 1].
 */
enum sl_err sl_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                       const unsigned char leaf[SL_MERKLE_HASH_LEN],
                                       const unsigned char (*proof)[SL_MERKLE_HASH_LEN], size_t len,
                                       const unsigned char root[SL_MERKLE_HASH_LEN],
                                       struct sl_error *err);

/* For m == n the proof must be empty and the roots equal. */
enum sl_err sl_merkle_verify_consistency(uint64_t m, uint64_t n,
                                         const unsigned char root_m[SL_MERKLE_HASH_LEN],
                                         const unsigned char root_n[SL_MERKLE_HASH_LEN],
                                         const unsigned char (*proof)[SL_MERKLE_HASH_LEN],
                                         size_t len, struct sl_error *err);

/*
 * Root of a tree recomputed from an inclusion proof, without comparing it to
 * anything (what verify_inclusion compares). Same errors, minus RootMismatch.
 */
enum sl_err sl_merkle_root_from_inclusion(uint64_t index, uint64_t size,
                                          const unsigned char leaf[SL_MERKLE_HASH_LEN],
                                          const unsigned char (*proof)[SL_MERKLE_HASH_LEN],
                                          size_t len, unsigned char out[SL_MERKLE_HASH_LEN],
                                          struct sl_error *err);

/*
 * An in-memory store of stored hashes, for tests and for clients that rebuild
 * a whole tree (`sluice log verify --full`). Level L is an array of
 * size >> L hashes, so the store holds about 2 * size hashes (64 bytes per
 * leaf) and an append costs amortised O(1): one SHA-256 on average, no reads.
 */
struct sl_merkle_mem;

/* Returns an empty store (aborts if a few bytes cannot be had); free with
 * sl_merkle_mem_free(), which accepts NULL. */
struct sl_merkle_mem *sl_merkle_mem_new(void);
void sl_merkle_mem_free(struct sl_merkle_mem *m);

/* Appends one leaf hash. SL_ENOMEM when the arrays cannot grow (the store is
 * then unchanged). */
enum sl_err sl_merkle_mem_append(struct sl_merkle_mem *m,
                                 const unsigned char leaf[SL_MERKLE_HASH_LEN],
                                 struct sl_error *err);

/* Number of leaves appended so far. */
uint64_t sl_merkle_mem_size(const struct sl_merkle_mem *m);

/* Root of the whole tree held (SHA-256("") when empty). */
void sl_merkle_mem_root(const struct sl_merkle_mem *m, unsigned char out[SL_MERKLE_HASH_LEN]);

/* The read callback over a store: pass the store as `ctx`. SL_ENOTFOUND for
 * a hash the store does not hold. */
enum sl_err sl_merkle_mem_read(void *ctx, int level, uint64_t index,
                               unsigned char out[SL_MERKLE_HASH_LEN], struct sl_error *err);

#endif
