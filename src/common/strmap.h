/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An open-addressing hash map from byte strings to 32-bit values. Keys are not
 * copied: they must outlive the map (usually they live in an arena). Used to
 * find duplicate tensor names and to look tensors up by name.
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

/* Hashes `n` bytes of `s` (FNV-1a variant with a final mix). */
uint64_t sl_strhash(const char *s, size_t n);

/* Inserts `key` -> `value`. Returns false (and changes nothing) when the key
 * is already present; `*existing` then gets the stored value if non-NULL. */
bool sl_strmap_insert(struct sl_strmap *m, const char *key, size_t len, uint32_t value,
                      uint32_t *existing);

/* Looks `key` up; returns true and sets `*value` when found. */
bool sl_strmap_get(const struct sl_strmap *m, const char *key, size_t len, uint32_t *value);

void sl_strmap_release(struct sl_strmap *m);

#endif
