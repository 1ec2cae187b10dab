/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store (DESIGN §5): content-defined chunks, addressed by their
 * SHA-256, appended to pack files of at most 64 MiB. The chunk index and the
 * file manifests live in the metadata database (db/); this module owns the
 * bytes: chunking, pack files, reading chunk runs back, garbage collection of
 * unreferenced bytes and checking that every stored byte hashes right.
 */
#ifndef SL_STORE_STORE_H
#define SL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_CDC_MIN  (8u * 1024u)
#define SL_CDC_MAX  (128u * 1024u)
#define SL_CDC_MASK 0xFFFF000000000000ULL

/* Chunker state: feed bytes in any pieces, get the same cut points. */
struct sl_cdc {
    uint64_t h;
    size_t len; /* bytes in the current chunk so far */
};

void sl_cdc_init(struct sl_cdc *c);

/* Scans `p[0..n)`. When a chunk ends inside it, sets `*cut` and returns the
 * number of bytes up to and including the chunk's last byte; otherwise
 * consumes everything and returns n. The caller ends the last chunk at EOF. */
size_t sl_cdc_scan(struct sl_cdc *c, const unsigned char *p, size_t n, bool *cut);

#endif
