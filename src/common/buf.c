/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capped growable buffer (buf.h).
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

void sl_buf_init(struct sl_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void sl_buf_release(struct sl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void sl_buf_reset(struct sl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

enum sl_err sl_buf_grow(struct sl_buf *b, size_t n)
{
    size_t want;

    if (n > b->cap || b->len > b->cap - n)
        return SL_ELIMIT;
    want = b->len + n + 1;
    if (want <= b->alloc)
        return SL_OK;
    {
        size_t a = b->alloc ? b->alloc : 64;
        while (a < want)
            a = a > SIZE_MAX / 2 ? want : a * 2;
        if (a > b->cap + 1)
            a = b->cap + 1;
        if (a < want)
            a = want;
        b->data = sl_xrealloc(b->data, a);
        b->alloc = a;
    }
    return SL_OK;
}

enum sl_err sl_buf_add(struct sl_buf *b, const void *p, size_t n)
{
    if (sl_buf_grow(b, n))
        return SL_ELIMIT;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SL_OK;
}

enum sl_err sl_buf_addc(struct sl_buf *b, char c)
{
    return sl_buf_add(b, &c, 1);
}

enum sl_err sl_buf_adds(struct sl_buf *b, const char *s)
{
    return sl_buf_add(b, s, strlen(s));
}

enum sl_err sl_buf_addf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SL_EINTERNAL;
    if (sl_buf_grow(b, (size_t)n))
        return SL_ELIMIT;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SL_OK;
}

const char *sl_buf_cstr(struct sl_buf *b)
{
    if (!b->data)
        return "";
    return b->data;
}

char *sl_buf_detach(struct sl_buf *b, size_t *len)
{
    char *p = b->data ? b->data : sl_xstrdup("");

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}
