/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bump allocator (h2o's pool): many small allocations that all die together,
 * such as the tensor names and shapes of one inspected model. Freed in one go.
 */
#ifndef SL_COMMON_ARENA_H
#define SL_COMMON_ARENA_H

#include <stddef.h>

struct sl_arena_block;

struct sl_arena {
    struct sl_arena_block *head;
    size_t used; /* total bytes handed out, for accounting */
};

#define SL_ARENA_INIT                                                                              \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* Returns `n` bytes aligned to 8, valid until sl_arena_release(). Aborts when
 * memory runs out; callers bound `n` first. */
void *sl_arena_alloc(struct sl_arena *a, size_t n);

/* Copies `n` bytes of `s` and a NUL into the arena. */
char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n);
char *sl_arena_strdup(struct sl_arena *a, const char *s);

/* Frees every block. The arena is empty and reusable afterwards. */
void sl_arena_release(struct sl_arena *a);

#endif
