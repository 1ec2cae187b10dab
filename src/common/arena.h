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

/* Moves every block of `from` into `a`, so that what was allocated from
 * `from` lives as long as `a`; `from` is left empty. For results built on
 * worker threads, each with its own arena. */
void sl_arena_adopt(struct sl_arena *a, struct sl_arena *from);

/* Backs p[0..n) with memory now, in one system call, when n is at least
 * 256 KiB. For big buffers about to be filled: touching fresh memory takes a
 * page fault per 4 KiB, and page faults get many times slower while another
 * thread of the process is allocating. Only a hint: where it cannot be done
 * (an older kernel, another system) memory is backed on first touch as
 * usual. */
void sl_populate(void *p, size_t n);

/* Frees every block. The arena is empty and reusable afterwards. */
void sl_arena_release(struct sl_arena *a);

#endif
