/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the request path as the router sees it: percent-decoding, matching
 * against the route table and the name and path checks sl_permitted() applies
 * before any handler runs. The first byte picks the method; the rest, up to a
 * NUL, is the raw path. Beyond "never crash, never leak" it checks what the
 * handlers rely on: a route's captures are decoded without control
 * characters, a path the checks accept has no "." or ".." component and is
 * relative, and a refusal gives 400, 404 or 405 with no capture left behind.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libmicrohttpd never hands over an empty method (it closes the connection); the
 * router refuses one anyway, so it is among the choices */
static const char *const methods[] = {"GET",   "HEAD", "POST", "PUT", "DELETE",
                                      "PATCH", "get",  "G",    ""};

static void check_path(const char *p)
{
    size_t n = strlen(p), start = 0;
    const char *why = NULL;

    if (!sl_path_ok(p, n, &why)) {
        if (!why)
            abort();
        return;
    }
    if (n == 0 || p[0] == '/' || strchr(p, '\\'))
        abort();
    for (size_t i = 0; i <= n; i++) {
        if (i < n && ((unsigned char)p[i] < 0x20 || p[i] == 0x7f))
            abort();
        if (i == n || p[i] == '/') {
            size_t len = i - start;
            if (len == 0 || (len == 1 && p[start] == '.') ||
                (len == 2 && p[start] == '.' && p[start + 1] == '.'))
                abort();
            start = i + 1;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_req q;
    const struct sl_route *r;
    unsigned status = 0;
    const char *why = NULL;
    char *path;
    size_t n;

    if (size == 0)
        return 0;
    n = strnlen((const char *)data + 1, size - 1);
    path = malloc(n + 1);
    memcpy(path, data + 1, n);
    path[n] = '\0';
    memset(&q, 0, sizeof(q));
    q.method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
    q.raw_path = path;
    r = sl_route_match(&q, &status, &why);
    if (!r) {
        if ((status != 400 && status != 404 && status != 405) || !why)
            abort();
        for (size_t i = 0; i < MAX_PARAMS; i++)
            if (q.params[i])
                abort();
    } else {
        for (size_t i = 0; i < MAX_PARAMS; i++)
            for (const char *c = q.params[i]; c && *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    abort();
        /* an org route names its org; a model route (org and name) both;
         * org-only routes (members, evaluators) name no model */
        if (strstr(r->pattern, "{org}") && !q.org)
            abort();
        if (strstr(r->pattern, "{name}") && !q.name)
            abort();
        if (q.org)
            (void)sl_name_ok(q.org);
        if (q.name)
            (void)sl_name_ok(q.name);
        if (q.path)
            check_path(q.path);
        for (size_t i = 0; i < MAX_PARAMS; i++)
            free(q.params[i]);
    }
    free(path);
    return 0;
}
