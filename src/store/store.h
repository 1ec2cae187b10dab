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

/* ---- pack files ----
 *
 * A pack is an append-only file of chunk bytes, at most SL_PACK_MAX bytes,
 * named by 16 random bytes in hex and kept at ROOT/packs/XX/NAME.pack (XX =
 * first two hex digits). Packs carry no header: the database records where
 * each chunk lies. A pack is written under ROOT/packs/tmp/, fsynced, then
 * renamed into place (and the folder fsynced) before any transaction names it,
 * so a crash leaves at worst an unnamed file that garbage collection removes.
 */
#define SL_PACK_MAX      (64ull * 1024 * 1024)
#define SL_PACK_NAME_LEN 32

struct sl_pack_writer;

/* Starts a new pack under `root`. */
enum sl_err sl_pack_begin(const char *root, struct sl_pack_writer **w, struct sl_error *err);

/* Appends `n` bytes; `*offset` gets where they start. Fails with SL_ELIMIT
 * when the pack would pass SL_PACK_MAX. */
enum sl_err sl_pack_append(struct sl_pack_writer *w, const void *data, size_t n, uint64_t *offset,
                           struct sl_error *err);

uint64_t sl_pack_size(const struct sl_pack_writer *w);

/* Flushes, fsyncs and renames the pack into place; its name is copied to
 * `name` (SL_PACK_NAME_LEN + 1 bytes). The writer is freed either way. */
enum sl_err sl_pack_seal(struct sl_pack_writer *w, char *name, struct sl_error *err);

/* Drops an unsealed pack and its temporary file. NULL is a no-op. */
void sl_pack_abort(struct sl_pack_writer *w);

/* Path of pack `name` under `root`; the caller frees it. */
char *sl_pack_path(const char *root, const char *name);

/* Removes a sealed pack file (garbage collection). */
enum sl_err sl_pack_remove(const char *root, const char *name, struct sl_error *err);

/* A cache of open pack descriptors shared by reader threads. */
struct sl_pack_cache;

struct sl_pack_cache *sl_pack_cache_new(const char *root);
void sl_pack_cache_free(struct sl_pack_cache *c);

/* Reads `n` bytes at `off` of pack (`id`, `name`). */
enum sl_err sl_pack_read(struct sl_pack_cache *c, int64_t id, const char *name, void *buf, size_t n,
                         uint64_t off, struct sl_error *err);

/* Forgets (and closes) pack `id`, after it was removed. */
void sl_pack_cache_drop(struct sl_pack_cache *c, int64_t id);

#endif
