/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The static layout of c2sp.org/tlog-tiles: tile and entry-bundle paths
 * (written and parsed strictly), which tiles a tree size has, the bytes of a
 * hash tile built from the log's stored hashes (merkle.h), and the entry
 * bundle format. No I/O: the server maps paths to these calls.
 */
#ifndef SL_TLOG_TILES_H
#define SL_TLOG_TILES_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "tlog/merkle.h"

#define SL_TILE_HEIGHT    8    /* tree levels per tile level */
#define SL_TILE_WIDTH     256  /* hashes (or entries) in a full tile */
#define SL_TILE_MAX_LEVEL 63   /* highest level a path may name */
#define SL_TILE_ENTRIES   (-1) /* the `level` of an entry bundle */
#define SL_TILE_MAX_BYTES (SL_TILE_WIDTH * SL_MERKLE_HASH_LEN) /* a full hash tile: 8,192 */
#define SL_TILE_PATH_MAX  64    /* longest path plus NUL is 53 bytes */
#define SL_ENTRY_MAX      65535 /* longest entry a bundle can carry */

/*
 * A tile at level L (0..63), index N holds, for i in [0, width), the stored
 * hash at tree level 8L, index 256N + i: the Merkle tree hash of leaves
 * [(256N + i) * 256^L, (256N + i + 1) * 256^L). A full tile has 256 hashes; a
 * partial one 1..255, and only the rightmost tile of a level is ever partial.
 * The entry bundle with index N holds entries [256N, 256N + width) and has the
 * same paths as a level-0 tile under tile/entries/.
 *
 * Paths:    tile/<L>/<N>[.p/<W>]   and   tile/entries/<N>[.p/<W>]
 *   <L>  decimal 0..63, no leading zeros
 *   <N>  decimal in 3-digit groups, all but the last prefixed with "x":
 *        5 -> 005, 1000 -> x001/000, 1234067 -> x001/x234/067
 *   <W>  decimal 1..255, no leading zeros, only for a partial tile
 */
struct sl_tile {
    int level;      /* 0..63, or SL_TILE_ENTRIES */
    uint64_t index; /* N */
    unsigned width; /* 1..256; 256 is a full tile (no .p/ suffix) */
};

/* Writes the path of `t` (without a leading slash) into `out`, which holds
 * SL_TILE_PATH_MAX bytes, and returns its length. `t` must be valid. */
size_t sl_tile_path(const struct sl_tile *t, char out[SL_TILE_PATH_MAX]);

/*
 * Parses `path[0..len)` ("tile/..." as above, nothing before or after) into
 * `t`. Only the one canonical spelling of each tile is accepted: no leading
 * zeros in L or W, exactly three digits per group, no leading "x000/" group,
 * W in 1..255, L in 0..63, N within 64 bits. SL_EINPUT otherwise, with the
 * reason in `err`. `path` need not be NUL-terminated.
 */
enum sl_err sl_tile_parse(const char *path, size_t len, struct sl_tile *t, struct sl_error *err);

/*
 * How many hashes the tile (level, index) has in the tree of `size` leaves:
 * 256 when it is full, 1..255 when it is the partial tile at the right edge,
 * 0 when the tree has no such tile. SL_TILE_ENTRIES counts entries (as level 0).
 */
unsigned sl_tile_width_at(int level, uint64_t index, uint64_t size);

/* Tiles at `level` in the tree of `size` leaves: `*full` full tiles and one
 * partial tile of `*partial` hashes when that is not 0 (floor(size / 256^level)
 * mod 256, as the spec puts it). */
void sl_tile_count(uint64_t size, int level, uint64_t *full, unsigned *partial);

/*
 * The tile that holds hash number `n` of tile level `level` (the stored hash at
 * tree level 8 * level, index n), or entry number `n` when level is
 * SL_TILE_ENTRIES, as it is in the tree of `size` leaves: full or the partial
 * tile at that size. SL_ENOTFOUND when the tree has no such hash.
 */
enum sl_err sl_tile_for(int level, uint64_t n, uint64_t size, struct sl_tile *t,
                        struct sl_error *err);

/*
 * The bytes of hash tile `t` served for a tree of `size` leaves: t->width
 * hashes of 32 bytes, read through `read`, written to `out` (which holds
 * SL_TILE_MAX_BYTES); `*len` gets t->width * 32. A tile of width W exists once
 * the tree has the W hashes, so a partial tile stays buildable after its tile
 * fills up. SL_ENOTFOUND when the tree of `size` does not have them yet,
 * SL_EINPUT for an entry bundle (those hold entries, kept elsewhere).
 */
enum sl_err sl_tile_read(const struct sl_tile *t, uint64_t size, sl_merkle_read_fn read, void *ctx,
                         unsigned char *out, size_t *len, struct sl_error *err);

/*
 * Entry bundles: the entries of one tile back to back, each prefixed by its
 * length.
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       2     length n of entry 0, big-endian uint16 (0 is allowed)
 *   2       n     entry 0
 *   2+n     2     length of entry 1, and so on for 1..256 entries
 *
 * There is no count and no trailer; the width in the path says how many.
 */
struct sl_bundle_entry {
    const unsigned char *data; /* points into the bundle */
    size_t len;
};

/* Appends one entry to the bundle being built in `b`. SL_ELIMIT when `n` is
 * over SL_ENTRY_MAX or `b` would pass its cap (nothing is appended then). */
enum sl_err sl_bundle_add(struct sl_buf *b, const void *entry, size_t n, struct sl_error *err);

/*
 * Splits `p[0..len)` into its entries: out[0 .. *count) point into `p`. A
 * bundle holds 1..256 entries (`out` holds SL_TILE_WIDTH). SL_EINPUT when it is
 * empty, when an entry runs past the end, or when there are more than 256.
 */
enum sl_err sl_bundle_parse(const unsigned char *p, size_t len,
                            struct sl_bundle_entry out[SL_TILE_WIDTH], unsigned *count,
                            struct sl_error *err);

#endif
