/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer with a hard cap (curl's dynbuf): appends beyond the cap
 * fail instead of growing without bound, so a buffer fed from the network or a
 * file can never be made to take more memory than its owner allowed.
 */
#ifndef SL_COMMON_BUF_H
#define SL_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct sl_buf {
    char *data; /* NUL-terminated when len > 0 or after sl_buf_cstr() */
    size_t len;
    size_t alloc;
    size_t cap; /* most bytes this buffer may ever hold */
};

#define SL_BUF_INIT(capacity)                                                                      \
    {                                                                                              \
        NULL, 0, 0, (capacity)                                                                     \
    }

/* Prepares an empty buffer that may grow to `cap` bytes. */
void sl_buf_init(struct sl_buf *b, size_t cap);

/* Frees the memory and leaves the buffer empty and reusable. */
void sl_buf_release(struct sl_buf *b);

/* Empties the buffer but keeps its memory. */
void sl_buf_reset(struct sl_buf *b);

/* Appends `n` bytes; returns SL_ELIMIT when the cap would be passed (nothing is
 * appended then). */
enum sl_err sl_buf_add(struct sl_buf *b, const void *p, size_t n);
enum sl_err sl_buf_addc(struct sl_buf *b, char c);
enum sl_err sl_buf_adds(struct sl_buf *b, const char *s);
enum sl_err sl_buf_addf(struct sl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes room for `n` more bytes without adding them. */
enum sl_err sl_buf_grow(struct sl_buf *b, size_t n);

/* Returns the contents as a NUL-terminated string (never NULL). */
const char *sl_buf_cstr(struct sl_buf *b);

/* Hands the memory to the caller (who frees it) and empties the buffer. */
char *sl_buf_detach(struct sl_buf *b, size_t *len);

#endif
