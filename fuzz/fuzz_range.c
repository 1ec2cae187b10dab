/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the Range header parser of downloads (files.c). The first eight
 * bytes give the file size (often small, so that ranges meet the end), the
 * rest up to a NUL is the header value. A range it accepts must lie inside
 * the file and not be empty, and agree with a plain reading of the three
 * forms the server supports ("a-b", "a-", "-n"); everything else is refused
 * with a reason.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Digits only (leading zeros allowed), at least one, no overflow. */
static int num(const char *s, size_t n, unsigned long long *v)
{
    *v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (*v > (~0ULL - (unsigned long long)(s[i] - '0')) / 10)
            return -1;
        *v = *v * 10 + (unsigned long long)(s[i] - '0');
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t fsize = 0, start = 0, end = 0;
    const char *why = NULL;
    char *h;
    size_t n;
    int rc;

    if (size < 9)
        return 0;
    for (int i = 0; i < 8; i++)
        fsize |= (uint64_t)data[i] << (8 * i);
    fsize >>= data[8] % 64;
    n = strnlen((const char *)data + 9, size - 9);
    h = malloc(n + 1);
    memcpy(h, data + 9, n);
    h[n] = '\0';
    rc = sl__parse_range(h, fsize, &start, &end, &why);
    if (rc == 0) {
        const char *p = h + 6, *dash;
        unsigned long long a, b;
        if (strncmp(h, "bytes=", 6) != 0 || !(start < end && end <= fsize))
            abort();
        dash = strchr(p, '-');
        if (!dash)
            abort();
        if (dash == p) { /* -n: the last n bytes */
            if (num(p + 1, strlen(p + 1), &b) != 0 || b == 0)
                abort();
            if (end != fsize || start != (b >= fsize ? 0 : fsize - b))
                abort();
        } else {
            if (num(p, (size_t)(dash - p), &a) != 0 || a != start)
                abort();
            if (dash[1] == '\0') {
                if (end != fsize)
                    abort();
            } else if (num(dash + 1, strlen(dash + 1), &b) != 0 || b < a ||
                       end != (b >= fsize ? fsize : b + 1)) {
                abort();
            }
        }
    } else if (rc != -1 || !why) {
        abort();
    }
    free(h);
    return 0;
}
