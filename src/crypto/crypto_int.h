/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the crypto module: the SHA-256 block functions on the x86 SHA
 * extensions (sha256ni.c), used by crypto.c when the CPU has them.
 */
#ifndef SL_CRYPTO_INT_H
#define SL_CRYPTO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when this CPU has the SHA extensions (and SSSE3, SSE4.1). */
bool sl__shani_available(void);
/* Runs `nblocks` 64-byte blocks of `p` through the SHA-256 compression of
 * state h[0..8) (the words A..H). Only where sl__shani_available(). */
void sl__shani_blocks(uint32_t h[8], const unsigned char *p, size_t nblocks);
/* The same for two independent states and messages at once. */
void sl__shani_x2(uint32_t ha[8], const unsigned char *pa, uint32_t hb[8], const unsigned char *pb,
                  size_t nblocks);

#endif
