/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation wrappers, UTF-8 validation and number formatting (util.h).
 */
#include "common/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/banned.h"

static void oom(size_t n)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        oom(n);
    return p;
}

void *sl_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);

    if (!p)
        oom(count * size);
    return p;
}

void *sl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        oom(n);
    return q;
}

char *sl_xstrdup(const char *s)
{
    return sl_xstrndup(s, strlen(s));
}

char *sl_xstrndup(const char *s, size_t n)
{
    char *p = sl_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    p = sl_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t sl_utf8_next(const unsigned char *p, size_t n, uint32_t *cp_out)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80) {
        *cp_out = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *cp_out = cp;
    return len;
}

void sl_utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s);

    while (n > 0) {
        uint32_t cp;
        size_t k = *p < 0x80 ? 1 : sl_utf8_next(p, n, &cp);
        if (k == 0) {
            *p = '?';
            k = 1;
        }
        p += k;
        n -= k;
    }
}

bool sl_utf8_valid(const unsigned char *s, size_t len, size_t *bad_at)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        uint32_t cp;

        /* Fast path: eight ASCII bytes at a time. */
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        need = sl_utf8_next(s + i, len - i, &cp);
        if (need == 0)
            goto bad;
        i += need;
    }
    return true;
bad:
    if (bad_at)
        *bad_at = i;
    return false;
}

const char *sl_fmt_count(uint64_t v, char *buf, size_t bufsz)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    size_t o = 0;

    for (int i = 0; i < n && o + 1 < bufsz; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 2 < bufsz)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o < bufsz ? o : bufsz - 1] = '\0';
    return buf;
}

const char *sl_fmt_double(double v, char *buf, size_t bufsz)
{
    if (isnan(v) || isinf(v)) {
        snprintf(buf, bufsz, "%s", isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        return buf;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, bufsz, "%.0f", v);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, bufsz, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return buf;
    }
    return buf;
}

const char *sl_fmt_sig(double v, int sig, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%.*g", sig, v);
    return buf;
}

char *sl_path_join(const char *dir, const char *s)
{
    size_t n = strlen(dir);

    if (n == 0)
        return sl_xstrdup(s);
    if (dir[n - 1] == '/')
        return sl_xasprintf("%s%s", dir, s);
    return sl_xasprintf("%s/%s", dir, s);
}

const char *sl_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}
