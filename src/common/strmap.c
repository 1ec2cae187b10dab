/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linear-probing string map (strmap.h), kept at most three quarters full: with
 * a hash that mixes every byte, probe runs stay short at that load, and a
 * 90,000-name map takes 3 MiB instead of 6.
 */
#include "common/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/util.h"
#include "common/banned.h"

#define MIN_CAPACITY 64

/* Tensor names are 20 to 100 bytes, so the loop takes whole words and the
 * tail is read as one zero-padded word; mixing in the length last keeps "a"
 * and "a\0" apart and lets scanners hash before they know the length. */
uint64_t sl_strhash(const char *s, size_t n)
{
    uint64_t h = SL_STRHASH_SEED;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = sl_strhash_word(h, w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, s + i, n - i);
        h = sl_strhash_word(h, w);
    }
    return sl_strhash_finish(h, n);
}

static void rehash(struct sl_strmap *m, size_t cap)
{
    struct sl_strmap_slot *old = m->slots;
    size_t oldcap = old ? m->mask + 1 : 0;

    m->slots = sl_xcalloc(cap, sizeof(*m->slots));
    /* Slots are touched in random order: back a big table at once rather
     * than with a page fault per first touch. */
    sl_populate(m->slots, cap * sizeof(*m->slots));
    m->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        size_t j;
        if (!old[i].key)
            continue;
        j = old[i].hash & m->mask;
        while (m->slots[j].key)
            j = (j + 1) & m->mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void sl_strmap_reserve(struct sl_strmap *m, size_t count)
{
    size_t cap = MIN_CAPACITY;

    while (cap / 4 * 3 < count)
        cap *= 2;
    if (!m->slots || cap > m->mask + 1)
        rehash(m, cap);
}

bool sl_strmap_insert_h(struct sl_strmap *m, const char *key, size_t len, uint64_t hash,
                        uint32_t value, uint32_t *existing)
{
    size_t j;

    if (!m->slots || m->count + 1 > (m->mask + 1) / 4 * 3)
        rehash(m, m->slots ? (m->mask + 1) * 2 : MIN_CAPACITY);
    j = hash & m->mask;
    while (m->slots[j].key) {
        struct sl_strmap_slot *s = &m->slots[j];
        if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0) {
            if (existing)
                *existing = s->value;
            return false;
        }
        j = (j + 1) & m->mask;
    }
    m->slots[j].key = key;
    m->slots[j].len = (uint32_t)len;
    m->slots[j].value = value;
    m->slots[j].hash = hash;
    m->count++;
    return true;
}

bool sl_strmap_insert(struct sl_strmap *m, const char *key, size_t len, uint32_t value,
                      uint32_t *existing)
{
    return sl_strmap_insert_h(m, key, len, sl_strhash(key, len), value, existing);
}

bool sl_strmap_get_h(const struct sl_strmap *m, const char *key, size_t len, uint64_t hash,
                     uint32_t *value)
{
    size_t j;

    if (!m->slots)
        return false;
    j = hash & m->mask;
    while (m->slots[j].key) {
        const struct sl_strmap_slot *s = &m->slots[j];
        if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0) {
            if (value)
                *value = s->value;
            return true;
        }
        j = (j + 1) & m->mask;
    }
    return false;
}

bool sl_strmap_get(const struct sl_strmap *m, const char *key, size_t len, uint32_t *value)
{
    return sl_strmap_get_h(m, key, len, sl_strhash(key, len), value);
}

void sl_strmap_release(struct sl_strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}
