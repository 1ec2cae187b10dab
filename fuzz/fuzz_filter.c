/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the hosted filter policy parser (hosted/filter.c), the file a
 * publisher uploads: a policy it refuses must say why; one it accepts must
 * have the canonical form that parses to itself, and its output rules must
 * scan the input's own bytes fed in two pieces without failing.
 */
#include <stdlib.h>
#include <string.h>

#include "hosted/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_filter *f = NULL, *g = NULL;
    struct sl_error err;
    struct sl_filter_verdict v;
    struct sl_filter_out *o;
    char *a, *b;

    if (sl_filter_parse((const char *)data, size, &f, &err) != SL_OK) {
        if (f || err.msg[0] == '\0')
            abort();
        return 0;
    }
    a = sl_filter_json(f);
    if (sl_filter_parse(a, strlen(a), &g, &err) != SL_OK)
        abort();
    b = sl_filter_json(g);
    if (strcmp(a, b) != 0)
        abort();
    memset(&v, 0, sizeof(v));
    o = sl_filter_out_new(f);
    if (!o)
        abort();
    sl_filter_out_feed(o, (const char *)data, size / 2, &v);
    sl_filter_out_feed(o, (const char *)data + size / 2, size - size / 2, &v);
    sl_filter_out_end(o, &v);
    sl_filter_out_free(o);
    free(a);
    free(b);
    sl_filter_free(f);
    sl_filter_free(g);
    return 0;
}
