/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linear-probing string map (strmap.h), kept at most half full.
 */
#include "common/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

uint64_t sl_strhash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static void rehash(struct sl_strmap *m, size_t cap)
{
    struct sl_strmap_slot *old = m->slots;
    size_t oldcap = old ? m->mask + 1 : 0;

    m->slots = sl_xcalloc(cap, sizeof(*m->slots));
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

bool sl_strmap_insert(struct sl_strmap *m, const char *key, size_t len, uint32_t value,
                      uint32_t *existing)
{
    uint64_t h;
    size_t j;

    if (!m->slots || (m->count + 1) * 2 > m->mask + 1)
        rehash(m, m->slots ? (m->mask + 1) * 2 : 64);
    h = sl_strhash(key, len);
    j = h & m->mask;
    while (m->slots[j].key) {
        struct sl_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            if (existing)
                *existing = s->value;
            return false;
        }
        j = (j + 1) & m->mask;
    }
    m->slots[j].key = key;
    m->slots[j].len = (uint32_t)len;
    m->slots[j].value = value;
    m->slots[j].hash = h;
    m->count++;
    return true;
}

bool sl_strmap_get(const struct sl_strmap *m, const char *key, size_t len, uint32_t *value)
{
    uint64_t h;
    size_t j;

    if (!m->slots)
        return false;
    h = sl_strhash(key, len);
    j = h & m->mask;
    while (m->slots[j].key) {
        const struct sl_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            if (value)
                *value = s->value;
            return true;
        }
        j = (j + 1) & m->mask;
    }
    return false;
}

void sl_strmap_release(struct sl_strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}
