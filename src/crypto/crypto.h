/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The only module that includes OpenSSL: SHA-256 (one-shot and streaming),
 * Ed25519 keys and signatures, random bytes, constant-time comparison and
 * hex/base64 helpers.
 */
#ifndef SL_CRYPTO_CRYPTO_H
#define SL_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_SHA256_LEN       32
#define SL_ED25519_PUB_LEN  32
#define SL_ED25519_PRIV_LEN 32 /* the seed */
#define SL_ED25519_SIG_LEN  64

/* One-shot SHA-256 of `n` bytes. */
void sl_sha256(const void *data, size_t n, unsigned char out[SL_SHA256_LEN]);

/* Streaming SHA-256; the context is opaque and freed by _final or _free. */
struct sl_sha256_ctx;
struct sl_sha256_ctx *sl_sha256_new(void);
void sl_sha256_update(struct sl_sha256_ctx *c, const void *data, size_t n);
/* Writes the digest and frees the context. */
void sl_sha256_final(struct sl_sha256_ctx *c, unsigned char out[SL_SHA256_LEN]);
void sl_sha256_free(struct sl_sha256_ctx *c);

/* Updates `c` with cp[0..cn) and writes the SHA-256 of p[0..n) to `out`:
 * the same as sl_sha256_update then sl_sha256, but where the CPU has the
 * SHA extensions the whole blocks of the two run interleaved, which costs
 * little more than one of them (both sides of a push hash the same bytes
 * into a file's digest and a chunk's id). The two ranges may be the same. */
void sl_sha256_update_and_digest(struct sl_sha256_ctx *c, const void *cp, size_t cn, const void *p,
                                 size_t n, unsigned char out[SL_SHA256_LEN]);

/* The SHA-256 of a[0..na) into oa and of b[0..nb) into ob, interleaved as
 * above where the CPU allows (the server checks a request's chunks in
 * pairs). */
void sl_sha256_pair(const void *a, size_t na, unsigned char oa[SL_SHA256_LEN], const void *b,
                    size_t nb, unsigned char ob[SL_SHA256_LEN]);

/* SHA-256 of a || b (`b` may be NULL when nb is 0) for the many short
 * messages of the log's Merkle tree (65-byte nodes, leaves of a few hundred
 * bytes): OpenSSL's low-level SHA-256, the same SHA-NI block function
 * without EVP's per-call dispatch, which costs more than hashing 65 bytes. */
void sl_sha256_2(const void *a, size_t na, const void *b, size_t nb,
                 unsigned char out[SL_SHA256_LEN]);

/* HMAC-SHA-256 (RFC 2104) of `n` bytes under `key`. */
void sl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                    unsigned char out[SL_SHA256_LEN]);

/* Fills `buf` with `n` bytes from the OS CSPRNG; aborts if it cannot (there
 * is no safe fallback). */
void sl_random(void *buf, size_t n);

/* Constant-time equality of two secrets of `n` bytes. */
bool sl_secret_eq(const void *a, const void *b, size_t n);

/* Wipes `n` bytes so they do not linger in memory. */
void sl_wipe(void *p, size_t n);

/* Lower-case hex of `n` bytes into `out` (2n + 1 bytes). */
void sl_hex(const unsigned char *in, size_t n, char *out);

/* Parses exactly 2n hex digits into `out`; false on anything else. */
bool sl_unhex(const char *in, size_t inlen, unsigned char *out, size_t n);

/* Standard base64 (with padding); `out` needs 4 * ((n + 2) / 3) + 1 bytes.
 * Returns the length written. */
size_t sl_base64(const unsigned char *in, size_t n, char *out);

/* Decodes standard base64; returns false on bad input or when the result
 * would exceed `cap`. */
bool sl_unbase64(const char *in, size_t inlen, unsigned char *out, size_t cap, size_t *outlen);

/* Ed25519. Keys are raw 32-byte values (the private key is the seed). */
void sl_ed25519_keygen(unsigned char pub[SL_ED25519_PUB_LEN],
                       unsigned char priv[SL_ED25519_PRIV_LEN]);
enum sl_err sl_ed25519_public(const unsigned char priv[SL_ED25519_PRIV_LEN],
                              unsigned char pub[SL_ED25519_PUB_LEN]);
enum sl_err sl_ed25519_sign(const unsigned char priv[SL_ED25519_PRIV_LEN], const void *msg,
                            size_t n, unsigned char sig[SL_ED25519_SIG_LEN]);
bool sl_ed25519_verify(const unsigned char pub[SL_ED25519_PUB_LEN], const void *msg, size_t n,
                       const unsigned char sig[SL_ED25519_SIG_LEN]);

/* ---- keyed PRF (AES-256-CTR keystream), for fingerprints ---- */

#define SL_PRF_KEY_LEN 32

/* A keystream generator under one 32-byte key; not thread-safe (one per
 * thread). Block `i` of stream `nonce` is AES-256_key(be64(nonce) ||
 * be64(i)), so any part of a stream can be computed without the rest. */
struct sl_prf;

/* Returns a generator for `key`; aborts when out of memory. Free it with
 * sl_prf_free(); sl_prf_free(NULL) is a no-op. */
struct sl_prf *sl_prf_new(const unsigned char key[SL_PRF_KEY_LEN]);
/* Changes the key of `p` (cheaper than a new generator). */
void sl_prf_rekey(struct sl_prf *p, const unsigned char key[SL_PRF_KEY_LEN]);
/* Writes `n` bytes of stream `nonce` from block `block` on (16 bytes per
 * block; `n` need not be a multiple of 16). */
void sl_prf_blocks(struct sl_prf *p, uint64_t nonce, uint64_t block, unsigned char *out, size_t n);
void sl_prf_free(struct sl_prf *p);

#endif
