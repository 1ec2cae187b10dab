/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bump allocator (arena.h). Blocks grow geometrically up to 1 MiB; an
 * allocation larger than a block gets a block of its own.
 */
#include "common/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/util.h"
#include "common/banned.h"

struct sl_arena_block {
    struct sl_arena_block *next;
    size_t size;
    size_t off;
    /* followed by `size` bytes */
};

#define HDR ((sizeof(struct sl_arena_block) + 15) & ~(size_t)15)

void *sl_arena_alloc(struct sl_arena *a, size_t n)
{
    struct sl_arena_block *b = a->head;
    size_t need = (n + 7) & ~(size_t)7;

    if (!b || b->size - b->off < need) {
        size_t size = b ? b->size * 2 : 4096;
        if (size > (1u << 20))
            size = 1u << 20;
        if (size < need)
            size = need;
        b = sl_xmalloc(HDR + size);
        sl_populate(b, HDR + size);
        b->size = size;
        b->off = 0;
        b->next = a->head;
        a->head = b;
    }
    {
        void *p = (char *)b + HDR + b->off;
        b->off += need;
        a->used += need;
        return p;
    }
}

void sl_populate(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    const uintptr_t page = 4096;
    uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);

    if (n >= ((size_t)256 << 10) && end > start)
        (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n)
{
    char *p = sl_arena_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sl_arena_strdup(struct sl_arena *a, const char *s)
{
    return sl_arena_strndup(a, s, strlen(s));
}

void sl_arena_adopt(struct sl_arena *a, struct sl_arena *from)
{
    struct sl_arena_block *tail = from->head;

    if (!tail)
        return;
    while (tail->next)
        tail = tail->next;
    /* Behind a's current block, which keeps taking allocations. */
    if (a->head) {
        tail->next = a->head->next;
        a->head->next = from->head;
    } else {
        a->head = from->head;
    }
    a->used += from->used;
    from->head = NULL;
    from->used = 0;
}

void sl_arena_release(struct sl_arena *a)
{
    struct sl_arena_block *b = a->head;

    while (b) {
        struct sl_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}
