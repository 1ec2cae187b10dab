/* SPDX-License-Identifier: Apache-2.0 */
/*
 * c2sp.org/tlog-tiles (research: transparency-log.md §2.5): tile paths, tile
 * widths per tree size, hash tiles from the stored hashes, entry bundles.
 * Paths arrive from the network, so the parser accepts exactly the spelling
 * sl_tile_path() writes and nothing else.
 */
#include "tlog/tiles.h"

#include <stdbool.h>
#include <string.h>

#include "common/banned.h"

typedef unsigned long long ull; /* for printf */

#define K_PATH "BadTilePath"

/* Hashes at tree level 8 * level in a tree of `size` leaves (entries for
 * SL_TILE_ENTRIES). No tree of fewer than 2^64 leaves reaches level 64. */
static uint64_t hashes_at(int level, uint64_t size)
{
    if (level == SL_TILE_ENTRIES)
        level = 0;
    if (level < 0 || level >= 64 / SL_TILE_HEIGHT)
        return 0;
    return size >> (SL_TILE_HEIGHT * level);
}

static size_t put_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t sl_tile_path(const struct sl_tile *t, char out[SL_TILE_PATH_MAX])
{
    unsigned groups[8];
    int ng = 0;
    uint64_t n = t->index;
    size_t o = 0;

    memcpy(out, "tile/", 5);
    o = 5;
    if (t->level == SL_TILE_ENTRIES) {
        memcpy(out + o, "entries/", 8);
        o += 8;
    } else {
        o += put_u64(out + o, (unsigned)t->level); /* at most 10 digits, even if bad */
        out[o++] = '/';
    }
    do {
        groups[ng++] = (unsigned)(n % 1000);
        n /= 1000;
    } while (n);
    while (ng-- > 0) {
        if (ng > 0)
            out[o++] = 'x';
        out[o++] = (char)('0' + groups[ng] / 100);
        out[o++] = (char)('0' + groups[ng] / 10 % 10);
        out[o++] = (char)('0' + groups[ng] % 10);
        if (ng > 0)
            out[o++] = '/';
    }
    if (t->width < SL_TILE_WIDTH) {
        memcpy(out + o, ".p/", 3);
        o += 3;
        o += put_u64(out + o, t->width);
    }
    out[o] = '\0';
    return o;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A decimal of 1..maxdig digits without leading zeros at p[*i..len). */
static bool parse_small(const char *p, size_t len, size_t *i, int maxdig, unsigned *v)
{
    size_t start = *i;

    *v = 0;
    while (*i < len && is_digit(p[*i]) && (int)(*i - start) < maxdig)
        *v = *v * 10 + (unsigned)(p[(*i)++] - '0');
    if (*i == start || (*i - start > 1 && p[start] == '0'))
        return false;
    return *i == len || !is_digit(p[*i]);
}

enum sl_err sl_tile_parse(const char *path, size_t len, struct sl_tile *t, struct sl_error *err)
{
    size_t i = 5;
    uint64_t n = 0;
    unsigned v;
    bool first = true;

    if (len < 5 || memcmp(path, "tile/", 5) != 0)
        return sl_error_setk(err, SL_EINPUT, K_PATH, "tile path does not start with \"tile/\"");
    if (len - i >= 8 && memcmp(path + i, "entries/", 8) == 0) {
        t->level = SL_TILE_ENTRIES;
        i += 8;
    } else {
        if (!parse_small(path, len, &i, 2, &v) || i == len || path[i] != '/')
            return sl_error_setk(err, SL_EINPUT, K_PATH,
                                 "tile level is not a decimal number without leading zeros");
        if (v > SL_TILE_MAX_LEVEL)
            return sl_error_setk(err, SL_EINPUT, K_PATH, "tile level %u is over %d", v,
                                 SL_TILE_MAX_LEVEL);
        t->level = (int)v;
        i++;
    }
    /* Groups "xDDD/" then a final "DDD". */
    for (;;) {
        bool x = i < len && path[i] == 'x';
        unsigned g;

        if (x)
            i++;
        if (len - i < 3 || !is_digit(path[i]) || !is_digit(path[i + 1]) || !is_digit(path[i + 2]))
            return sl_error_setk(err, SL_EINPUT, K_PATH,
                                 "tile index is not made of 3-digit groups");
        g = (unsigned)(path[i] - '0') * 100 + (unsigned)(path[i + 1] - '0') * 10 +
            (unsigned)(path[i + 2] - '0');
        i += 3;
        if (first && x && g == 0)
            return sl_error_setk(err, SL_EINPUT, K_PATH, "tile index starts with a zero group");
        if (n > (UINT64_MAX - g) / 1000)
            return sl_error_setk(err, SL_EINPUT, K_PATH, "tile index does not fit in 64 bits");
        n = n * 1000 + g;
        first = false;
        if (!x)
            break;
        if (i == len || path[i] != '/')
            return sl_error_setk(err, SL_EINPUT, K_PATH,
                                 "tile index group \"x%03u\" is not followed by \"/\"", g);
        i++;
    }
    t->index = n;
    t->width = SL_TILE_WIDTH;
    if (i == len)
        return SL_OK;
    if (len - i < 3 || memcmp(path + i, ".p/", 3) != 0)
        return sl_error_setk(err, SL_EINPUT, K_PATH, "unexpected text after the tile index");
    i += 3;
    if (!parse_small(path, len, &i, 3, &v) || i != len)
        return sl_error_setk(err, SL_EINPUT, K_PATH,
                             "partial tile width is not a decimal number without leading zeros");
    if (v == 0 || v >= SL_TILE_WIDTH)
        return sl_error_setk(err, SL_EINPUT, K_PATH, "partial tile width %u is not in 1..255", v);
    t->width = v;
    return SL_OK;
}

unsigned sl_tile_width_at(int level, uint64_t index, uint64_t size)
{
    uint64_t have = hashes_at(level, size);

    if (index > have / SL_TILE_WIDTH)
        return 0;
    have -= index * SL_TILE_WIDTH;
    return have >= SL_TILE_WIDTH ? SL_TILE_WIDTH : (unsigned)have;
}

void sl_tile_count(uint64_t size, int level, uint64_t *full, unsigned *partial)
{
    uint64_t have = hashes_at(level, size);

    *full = have / SL_TILE_WIDTH;
    *partial = (unsigned)(have % SL_TILE_WIDTH);
}

enum sl_err sl_tile_for(int level, uint64_t n, uint64_t size, struct sl_tile *t,
                        struct sl_error *err)
{
    if (n >= hashes_at(level, size))
        return sl_error_set(err, SL_ENOTFOUND, "the tree of size %llu has no %s %llu%s", (ull)size,
                            level == SL_TILE_ENTRIES ? "entry" : "hash", (ull)n,
                            level == SL_TILE_ENTRIES ? "" : " at that tile level");
    t->level = level;
    t->index = n / SL_TILE_WIDTH;
    t->width = sl_tile_width_at(level, t->index, size);
    return SL_OK;
}

enum sl_err sl_tile_read(const struct sl_tile *t, uint64_t size, sl_merkle_read_fn read, void *ctx,
                         unsigned char *out, size_t *len, struct sl_error *err)
{
    char path[SL_TILE_PATH_MAX];
    uint64_t have, base;

    *len = 0;
    if (t->level == SL_TILE_ENTRIES)
        return sl_error_set(err, SL_EINPUT, "an entry bundle holds entries, not hashes");
    if (t->level < 0 || t->level > SL_TILE_MAX_LEVEL || t->width < 1 || t->width > SL_TILE_WIDTH)
        return sl_error_set(err, SL_EINPUT, "bad tile (level %d, width %u)", t->level, t->width);
    have = hashes_at(t->level, size);
    if (t->index > have / SL_TILE_WIDTH || have - t->index * SL_TILE_WIDTH < t->width) {
        sl_tile_path(t, path);
        return sl_error_set(err, SL_ENOTFOUND, "the tree of size %llu has no tile \"%s\"",
                            (ull)size, path);
    }
    base = t->index * SL_TILE_WIDTH;
    for (unsigned i = 0; i < t->width; i++) {
        enum sl_err rc = read(ctx, SL_TILE_HEIGHT * t->level, base + i,
                              out + (size_t)i * SL_MERKLE_HASH_LEN, err);
        if (rc)
            return rc;
    }
    *len = (size_t)t->width * SL_MERKLE_HASH_LEN;
    return SL_OK;
}

enum sl_err sl_bundle_add(struct sl_buf *b, const void *entry, size_t n, struct sl_error *err)
{
    unsigned char hdr[2];

    if (n > SL_ENTRY_MAX)
        return sl_error_set(err, SL_ELIMIT, "log entry of %zu bytes is over the limit of %d bytes",
                            n, SL_ENTRY_MAX);
    if (sl_buf_grow(b, 2 + n) != SL_OK)
        return sl_error_set(err, SL_ELIMIT, "entry bundle would pass %zu bytes", b->cap);
    hdr[0] = (unsigned char)(n >> 8);
    hdr[1] = (unsigned char)n;
    /* Cannot fail after the grow above. */
    (void)sl_buf_add(b, hdr, 2);
    (void)sl_buf_add(b, entry, n);
    return SL_OK;
}

enum sl_err sl_bundle_parse(const unsigned char *p, size_t len,
                            struct sl_bundle_entry out[SL_TILE_WIDTH], unsigned *count,
                            struct sl_error *err)
{
    size_t off = 0;
    unsigned c = 0;

    *count = 0;
    if (len == 0)
        return sl_error_set(err, SL_EINPUT, "entry bundle is empty");
    while (off < len) {
        size_t n;

        if (c == SL_TILE_WIDTH)
            return sl_error_set(err, SL_EINPUT, "entry bundle has more than %d entries",
                                SL_TILE_WIDTH);
        if (len - off < 2)
            return sl_error_set(err, SL_EINPUT,
                                "entry bundle ends inside the length of entry %u (byte %zu)", c,
                                off);
        n = (size_t)p[off] << 8 | p[off + 1];
        off += 2;
        if (len - off < n)
            return sl_error_set(err, SL_EINPUT,
                                "entry %u of the bundle runs past its end (%zu bytes at byte "
                                "%zu, %zu left)",
                                c, n, off, len - off);
        out[c].data = p + off;
        out[c].len = n;
        off += n;
        c++;
    }
    *count = c;
    return SL_OK;
}
