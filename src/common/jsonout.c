/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Canonical JSON writer (jsonout.h).
 */
#include "common/jsonout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "common/banned.h"

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void sl_json_put_string(struct sl_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    sl_buf_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            sl_buf_adds(b, "\\\"");
            break;
        case '\\':
            sl_buf_adds(b, "\\\\");
            break;
        case '\n':
            sl_buf_adds(b, "\\n");
            break;
        case '\r':
            sl_buf_adds(b, "\\r");
            break;
        case '\t':
            sl_buf_adds(b, "\\t");
            break;
        case '\b':
            sl_buf_adds(b, "\\b");
            break;
        case '\f':
            sl_buf_adds(b, "\\f");
            break;
        default:
            if (c < 0x20) {
                char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
                sl_buf_adds(b, u);
            } else {
                sl_buf_addc(b, (char)c);
            }
        }
    }
    sl_buf_addc(b, '"');
}

static void newline(struct sl_buf *b, int indent, int depth)
{
    if (!indent)
        return;
    sl_buf_addc(b, '\n');
    for (int i = 0; i < indent * depth; i++)
        sl_buf_addc(b, ' ');
}

static void dump(struct sl_buf *b, json_t *v, int indent, int depth)
{
    char num[40];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys;
        const char *key;
        json_t *val;
        if (n == 0) {
            sl_buf_adds(b, "{}");
            return;
        }
        keys = sl_xcalloc(n, sizeof(*keys));
        json_object_foreach(v, key, val)
        {
            (void)val;
            keys[i++] = key;
        }
        qsort(keys, n, sizeof(*keys), cmp_key);
        sl_buf_addc(b, '{');
        for (i = 0; i < n; i++) {
            if (i)
                sl_buf_addc(b, ',');
            newline(b, indent, depth + 1);
            sl_json_put_string(b, keys[i], strlen(keys[i]));
            sl_buf_adds(b, indent ? ": " : ":");
            dump(b, json_object_get(v, keys[i]), indent, depth + 1);
        }
        newline(b, indent, depth);
        sl_buf_addc(b, '}');
        free(keys);
        return;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        if (json_array_size(v) == 0) {
            sl_buf_adds(b, "[]");
            return;
        }
        sl_buf_addc(b, '[');
        json_array_foreach(v, i, e)
        {
            if (i)
                sl_buf_addc(b, ',');
            newline(b, indent, depth + 1);
            dump(b, e, indent, depth + 1);
        }
        newline(b, indent, depth);
        sl_buf_addc(b, ']');
        return;
    }
    case JSON_STRING:
        sl_json_put_string(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        sl_buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        sl_buf_adds(b, sl_fmt_double(json_real_value(v), num, sizeof(num)));
        return;
    case JSON_TRUE:
        sl_buf_adds(b, "true");
        return;
    case JSON_FALSE:
        sl_buf_adds(b, "false");
        return;
    case JSON_NULL:
        sl_buf_adds(b, "null");
        return;
    }
}

char *sl_json_dump(json_t *v, int indent, size_t *len)
{
    struct sl_buf b = SL_BUF_INIT((size_t)1 << 31);

    dump(&b, v, indent, 0);
    return sl_buf_detach(&b, len);
}
