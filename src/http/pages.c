/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The web UI's pages and assets (docs/web.md): every page path answers the
 * one HTML shell, /ui/NAME the embedded files of web/, all with the UI's
 * security headers, entity tags and gzip. Off loopback without TLS every
 * page answers a small static page saying why the UI needs https
 * (sl_req_ui_ok); the JSON API is unaffected.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "web/web.h"
#include "common/banned.h"

#define CSP_UI                                                                                     \
    "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; "             \
    "form-action 'self'"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"

static const char tls_page_direct[] =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>sluice: the web interface needs https</title>\n</head>\n<body>\n<main>\n"
    "<h1>The web interface needs https or localhost</h1>\n"
    "<p>This sluice server is reached over plain http at an address other than localhost. "
    "Browsers give the web interface's secure session cookie and its signature checks "
    "(WebCrypto) only to https pages and to http://localhost, so it is not served here.</p>\n"
    "<p>To use it, put a TLS proxy in front of sluice and start <code>sluice serve</code> "
    "with <code>--trust-proxy yes</code> (the proxy must send <code>X-Forwarded-Proto: "
    "https</code>; see docs/deploy.md), or open it on the server itself at "
    "http://127.0.0.1.</p>\n"
    "<p>The JSON API (<code>/api/v1/</code>) and the <code>sluice</code> command work here as "
    "before.</p>\n</main>\n</body>\n</html>\n";

static const char tls_page_proxy[] =
    "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>sluice: the web interface needs https</title>\n</head>\n<body>\n<main>\n"
    "<h1>The web interface needs https</h1>\n"
    "<p>This sluice server trusts its proxy (<code>--trust-proxy yes</code>), and this request "
    "did not come with <code>X-Forwarded-Proto: https</code>. Browsers give the web "
    "interface's secure session cookie and its signature checks (WebCrypto) only to https "
    "pages, so it is not served over plain http.</p>\n"
    "<p>Open the https address of this server. If that is what you did, the proxy must "
    "terminate TLS and set <code>X-Forwarded-Proto: https</code> (see docs/deploy.md).</p>\n"
    "<p>The JSON API (<code>/api/v1/</code>) and the <code>sluice</code> command work here as "
    "before.</p>\n</main>\n</body>\n</html>\n";

/* The headers of every page and asset answer (docs/web.md, "Assets and
 * headers"). */
static void ui_headers(struct MHD_Response *resp)
{
    sl_mhd->add_response_header(resp, "Content-Security-Policy", CSP_UI);
    sl_mhd->add_response_header(resp, "X-Frame-Options", "DENY");
    sl_mhd->add_response_header(resp, "Referrer-Policy", "same-origin");
    sl_mhd->add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* Answers the TLS rule's 403 page when the UI may not be served here;
 * returns true after answering. */
static bool refused_without_tls(struct sl_req *q)
{
    const char *page;
    struct MHD_Response *resp;
    size_t n;

    if (sl_req_ui_ok(q))
        return false;
    page = q->srv->trust_proxy ? tls_page_proxy : tls_page_direct;
    n = strlen(page);
    resp = sl_mhd->create_response_from_buffer(n, (void *)page, MHD_RESPMEM_PERSISTENT);
    ui_headers(resp);
    sl_mhd->add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    sl_mhd->add_response_header(resp, "Cache-Control", "no-store");
    sl_reply(q, 403, resp, q->head ? 0 : n);
    return true;
}

/* Answers embedded file `f` with `status` and `cache` (Cache-Control):
 * gzip when the client takes it, 304 when its copy is current. */
static void send_file(struct sl_req *q, const struct sl_web_file *f, unsigned status,
                      const char *cache)
{
    const char *ae = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Accept-Encoding");
    const char *inm = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "If-None-Match");
    bool gz = f->gz && sl_web_accepts_gzip(ae);
    struct MHD_Response *resp;
    char tag[80], quoted[84];
    size_t n = gz ? f->gzlen : f->len;

    /* each encoding is its own representation, with its own strong tag */
    snprintf(tag, sizeof(tag), "%s%s", f->sha256, gz ? "-gzip" : "");
    snprintf(quoted, sizeof(quoted), "\"%s\"", tag);
    if (status == 200 && sl_web_etag_match(inm, tag)) {
        resp = sl_mhd->create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = 304;
        n = 0;
    } else {
        resp = sl_mhd->create_response_from_buffer(n, (void *)(gz ? f->gz : f->data),
                                                   MHD_RESPMEM_PERSISTENT);
        sl_mhd->add_response_header(resp, "Content-Type", sl_web_content_type(f->name));
        if (gz)
            sl_mhd->add_response_header(resp, "Content-Encoding", "gzip");
    }
    ui_headers(resp);
    sl_mhd->add_response_header(resp, "ETag", quoted);
    sl_mhd->add_response_header(resp, "Cache-Control", cache);
    sl_mhd->add_response_header(resp, "Vary", "Accept-Encoding");
    sl_reply(q, status, resp, q->head ? 0 : n);
}

static void send_shell(struct sl_req *q, unsigned status)
{
    const struct sl_web_file *f = sl_web_find("index.html");

    if (!f) {
        struct sl_error e;
        sl_error_set(&e, SL_EINTERNAL, "this build has no web/index.html");
        sl_reply_error(q, &e);
        return;
    }
    send_file(q, f, status, "no-cache");
}

bool sl__page_path_reserved(const char *raw_path)
{
    const char *seg = raw_path + (raw_path[0] == '/');
    size_t n = strcspn(seg, "/");

    if (n == 0)
        return false;
    for (const struct sl_route *r = sl_routes; r->methods; r++) {
        const char *p = r->pattern + 1;
        if (r->handler == sl_h_page || *p == '{')
            continue;
        if (strncmp(p, seg, n) == 0 && (p[n] == '/' || p[n] == '\0'))
            return true;
    }
    return false;
}

void sl_h_page(struct sl_req *q)
{
    struct sl_error err;

    if (refused_without_tls(q))
        return;
    if (q->org && q->name && !q->srv->mirror) {
        /* a model's pages: the shell, with 404 when there is no such model
         * (a mirror holds no models: its pages ask the upstream) */
        sl_error_clear(&err);
        if (sl_reg_model_id(q->srv->r, q->org, q->name, &q->org_id, &q->model_id, &err) != SL_OK) {
            if (err.code != SL_ENOTFOUND) {
                sl_reply_error(q, &err);
                return;
            }
            send_shell(q, 404);
            return;
        }
    }
    send_shell(q, 200);
}

void sl_h_ui(struct sl_req *q)
{
    const struct sl_web_file *f;
    const char *v;

    if (refused_without_tls(q))
        return;
    f = sl_web_find(q->path);
    if (!f) {
        sl_reply_status(q, 404, "not_found", "/ui/%s: the web interface has no such file", q->path);
        return;
    }
    /* a URL naming the current version is immutable; any other (no ?v=, an
     * old one after an upgrade) is revalidated */
    v = sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "v");
    send_file(q, f, 200,
              sl_web_version_current(f, v) && !strstr(f->name, ".html") ? CACHE_IMMUTABLE
                                                                        : "no-cache");
}
