/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small per-thread cache of download lookups: (org, name, rev, path) →
 * the resolved version, the file, and for small files the bytes themselves.
 * Popular small files (config.json) are then answered without touching the
 * database. Entries live one second from the moment the lookup that made
 * them began, and any change this process makes to refs or tiers bumps a
 * generation that voids them at once; changes made by another process
 * (sluice admin) are seen within the second. With many servers on
 * PostgreSQL each entry also carries the hub stamp it was read under
 * (sl_reg_hub_stamp) and is used only under the same stamp: while this
 * server's listening connection is heard from, a constant, and other
 * servers' NOTIFYs bump the generation (a change through another server is
 * seen within the NOTIFY's delivery time, never later than the second);
 * while it is not, the log's size, read for every lookup, so a change
 * committed through any server voids the entry for the next request. File
 * content is immutable (addressed by its SHA-256), so cached bytes are
 * never stale.
 * Access rules beyond the tier (grants, memberships) are never cached.
 */
#include "http/http_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/strmap.h"
#include "common/util.h"
#include "common/banned.h"

#define SLOTS  512
#define TTL_MS 1000

struct slot {
    char *key;
    size_t keylen;
    uint64_t hash;
    long long at_ms;
    unsigned long long gen;
    uint64_t hub;
    struct sl_version_ref v;
    struct sl_file_ref f;
    unsigned char *bytes; /* whole file when small, else NULL */
};

static atomic_ullong generation;
static _Thread_local struct slot *slots;
static pthread_key_t slots_key;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

/* Frees a thread's cache when the thread ends. */
static void free_slots(void *p)
{
    struct slot *ss = p;

    for (size_t i = 0; i < SLOTS; i++) {
        free(ss[i].key);
        free(ss[i].bytes);
    }
    free(ss);
}

static void make_key_once(void)
{
    if (pthread_key_create(&slots_key, free_slots) != 0)
        abort();
}

static long long mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sl_cache_bump(void)
{
    atomic_fetch_add(&generation, 1);
}

/* Builds "org\0name\0rev\0path" in `buf`. */
static size_t make_key(const struct sl_req *q, char *buf, size_t cap)
{
    const char *parts[4] = {q->org, q->name, q->rev ? q->rev : "main", q->path};
    size_t n = 0;

    for (int i = 0; i < 4; i++) {
        size_t len = strlen(parts[i]) + 1;
        if (n + len > cap)
            return 0;
        memcpy(buf + n, parts[i], len);
        n += len;
    }
    return n;
}

bool sl_cache_get(struct sl_req *q, struct sl_version_ref *v, struct sl_file_ref *f,
                  const unsigned char **bytes)
{
    char key[1400];
    size_t n;
    uint64_t h;
    struct slot *s;

    /* What is cached after a miss is stamped with the generation seen
     * before the database was read: a change (and its bump) that lands
     * between the read and sl_cache_put() then voids the entry at once
     * instead of leaving the old answer cached for a second. */
    q->cache_gen = atomic_load(&generation);
    q->cache_ms = mono_ms();
    if (!slots || !q->path || q->cache_hub == UINT64_MAX)
        return false;
    n = make_key(q, key, sizeof(key));
    if (!n)
        return false;
    h = sl_strhash(key, n);
    s = &slots[h % SLOTS];
    if (!s->key || s->hash != h || s->keylen != n || memcmp(s->key, key, n) != 0 ||
        s->gen != atomic_load(&generation) || s->hub != q->cache_hub ||
        q->cache_ms - s->at_ms >= TTL_MS)
        return false;
    *v = s->v;
    *f = s->f;
    *bytes = s->bytes;
    return true;
}

void sl_cache_put(struct sl_req *q, const struct sl_version_ref *v, const struct sl_file_ref *f,
                  const void *bytes)
{
    char key[1400];
    size_t n;
    uint64_t h;
    struct slot *s;

    if (!q->path || q->cache_hub == UINT64_MAX)
        return;
    n = make_key(q, key, sizeof(key));
    if (!n)
        return;
    if (!slots) {
        pthread_once(&slots_once, make_key_once);
        slots = sl_xcalloc(SLOTS, sizeof(*slots));
        pthread_setspecific(slots_key, slots);
    }
    h = sl_strhash(key, n);
    s = &slots[h % SLOTS];
    free(s->key);
    free(s->bytes);
    s->key = sl_xmalloc(n);
    memcpy(s->key, key, n);
    s->keylen = n;
    s->hash = h;
    s->at_ms = q->cache_ms; /* the data is as old as the lookup */
    s->gen = q->cache_gen;
    s->hub = q->cache_hub;
    s->v = *v;
    s->f = *f;
    s->bytes = NULL;
    if (bytes && f->size <= SL_CACHE_BYTES_MAX) {
        s->bytes = sl_xmalloc(f->size ? (size_t)f->size : 1);
        memcpy(s->bytes, bytes, (size_t)f->size);
    }
}
