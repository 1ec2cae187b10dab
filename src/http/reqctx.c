/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a request says about how it reached us: over TLS (through a trusted
 * proxy) or not, and whether a browser may be given the web UI there
 * (docs/web.md, "TLS").
 */
#include "http/http_int.h"

#include <string.h>

#include "common/banned.h"

bool sl_req_https(struct sl_req *q)
{
    const char *p;

    if (!q->srv->trust_proxy)
        return false;
    p = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    return p && strcmp(p, "https") == 0;
}

bool sl_req_ui_ok(struct sl_req *q)
{
    if (q->srv->trust_proxy)
        return sl_req_https(q);
    return q->srv->loopback;
}
