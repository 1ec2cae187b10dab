/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An open-addressing hash map from byte strings to 32-bit values. Keys are not
 * copied: they must outlive the map (usually they live in an arena). Used to
 * find duplicate tensor names and to look tensors up by name.
 *
 * Callers that touch the same key several times (a tensor name is inserted
 * once and looked up again later) hash it once with sl_strhash() and use the
 * _h variants, which take the hash instead of computing it.
 */
#ifndef SL_COMMON_STRMAP_H
#define SL_COMMON_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_strmap_slot {
    const char *key;
    uint32_t len;
    uint32_t value;
    uint64_t hash;
};

struct sl_strmap {
    struct sl_strmap_slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
};

#define SL_STRMAP_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Hashes `n` bytes of `s`, eight bytes at a time with a multiply-xorshift mix
 * and a final avalanche. Not keyed: it is for speed, not against crafted
 * collisions. */
uint64_t sl_strhash(const char *s, size_t n);

/* The steps of sl_strhash(), for scanners that hash a string while they look
 * for its end: start with SL_STRHASH_SEED, feed each 8-byte word (loaded with
 * memcpy) from the start, then the last 0-7 bytes as one zero-padded word,
 * then finish with the length. The result equals sl_strhash(). */
#define SL_STRHASH_SEED 0xcbf29ce484222325ULL

static inline uint64_t sl_strhash_word(uint64_t h, uint64_t w)
{
    /* The multiply does not depend on h, so words overlap in the pipeline;
     * the rotation carries each word's high bits into the next. */
    return ((h << 29) | (h >> 35)) ^ (w * 0x9e3779b97f4a7c15ULL);
}

static inline uint64_t sl_strhash_finish(uint64_t h, size_t n)
{
    h = sl_strhash_word(h, (uint64_t)n);
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

/* Makes room for `count` keys in all, so that inserting that many never
 * rehashes. A map that already holds more is left alone. */
void sl_strmap_reserve(struct sl_strmap *m, size_t count);

/* Inserts `key` -> `value`. Returns false (and changes nothing) when the key
 * is already present; `*existing` then gets the stored value if non-NULL. */
bool sl_strmap_insert(struct sl_strmap *m, const char *key, size_t len, uint32_t value,
                      uint32_t *existing);

/* Same with `hash` == sl_strhash(key, len) computed by the caller. */
bool sl_strmap_insert_h(struct sl_strmap *m, const char *key, size_t len, uint64_t hash,
                        uint32_t value, uint32_t *existing);

/* Looks `key` up; returns true and sets `*value` when found. */
bool sl_strmap_get(const struct sl_strmap *m, const char *key, size_t len, uint32_t *value);

/* Same with `hash` == sl_strhash(key, len) computed by the caller. */
bool sl_strmap_get_h(const struct sl_strmap *m, const char *key, size_t len, uint64_t hash,
                     uint32_t *value);

/* Hints that the key with `hash` is about to be inserted or looked up, so its
 * slot can be fetched into the cache meanwhile. Has no other effect. */
static inline void sl_strmap_prefetch(const struct sl_strmap *m, uint64_t hash)
{
    if (m->slots)
        __builtin_prefetch(&m->slots[hash & m->mask]);
}

/* The second stage for lookups: when the slot of `hash` was prefetched a few
 * steps earlier, fetches the key stored there, which the lookup compares. */
static inline void sl_strmap_prefetch_key(const struct sl_strmap *m, uint64_t hash)
{
    if (m->slots && m->slots[hash & m->mask].key)
        __builtin_prefetch(m->slots[hash & m->mask].key);
}

void sl_strmap_release(struct sl_strmap *m);

#endif
