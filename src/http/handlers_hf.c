/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Hugging Face Hub routes beyond model info, trees and files: the model
 * listing (GET /api/models, with the Hub's parameters and GitHub-style Link
 * pagination) and the account (GET /api/whoami-v2), shaped as
 * huggingface_hub and @huggingface/hub read them (docs/api.md).
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "http/render_access.h"
#include "common/banned.h"

#define LIST_LIMIT_MAX     1000
#define LIST_LIMIT_DEFAULT 500
#define SEARCH_MAX         200

/* What iterating the query found: the query again without `cursor`
 * (percent-encoded, for the next page's link) and the first bad value. */
struct query_walk {
    struct sl_buf rest;
    const char *bad; /* a parameter over its limit, or NULL */
};

static void add_escaped(struct sl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            sl_buf_addc(b, (char)*p);
        } else {
            sl_buf_addc(b, '%');
            sl_buf_addc(b, hex[*p >> 4]);
            sl_buf_addc(b, hex[*p & 15]);
        }
    }
}

static enum MHD_Result walk_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct query_walk *w = cls;

    (void)kind;
    if (!key || strcmp(key, "cursor") == 0)
        return MHD_YES;
    /* `search` may repeat (huggingface_hub sends a list): each is checked */
    if ((strcmp(key, "search") == 0 || strcmp(key, "author") == 0) && value &&
        strlen(value) > SEARCH_MAX && !w->bad)
        w->bad = strcmp(key, "search") == 0 ? "search" : "author";
    if (w->rest.len)
        sl_buf_addc(&w->rest, '&');
    add_escaped(&w->rest, key);
    if (value) {
        sl_buf_addc(&w->rest, '=');
        add_escaped(&w->rest, value);
    }
    return MHD_YES;
}

static const char *arg(struct sl_req *q, const char *key)
{
    return sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* A decimal in [lo, hi]; false when malformed or out of range. */
static bool decimal(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v = 0;

    if (!s || !*s || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The scheme and host the client used, for absolute links (the JavaScript
 * client follows only absolute ones); false when Host is unusable. */
static bool base_url(struct sl_req *q, struct sl_buf *b)
{
    const char *host = sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "Host");
    const char *proto =
        sl_mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");

    if (!host || !*host || strlen(host) > 255)
        return false;
    for (const char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
            return false;
    sl_buf_addf(b, "%s://%s", proto && strcmp(proto, "https") == 0 ? "https" : "http", host);
    return true;
}

void sl_h_hf_list(struct sl_req *q)
{
    struct sl_hf_list_query lq;
    struct query_walk w = {SL_BUF_INIT(1 << 16), NULL};
    struct sl_buf link = SL_BUF_INIT(1 << 17);
    const char *limit = arg(q, "limit"), *cursor = arg(q, "cursor");
    const char *direction = arg(q, "direction");
    struct sl_error err;
    struct MHD_Response *resp;
    struct sl_arena arena = SL_ARENA_INIT;
    struct sl_repo_model_item *rows;
    size_t nrows;
    json_t *items;
    bool more = false;
    char *text;
    size_t len;

    memset(&lq, 0, sizeof(lq));
    lq.limit = LIST_LIMIT_DEFAULT;
    sl_mhd->get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, walk_arg, &w);
    if (w.bad) {
        sl_reply_status(q, 400, "bad_request", "%s: at most %d bytes", w.bad, SEARCH_MAX);
        goto out;
    }
    if (limit && !decimal(limit, 1, LIST_LIMIT_MAX, &lq.limit)) {
        sl_reply_status(q, 400, "bad_request", "limit: a whole number from 1 to %d, not \"%.40s\"",
                        LIST_LIMIT_MAX, limit);
        goto out;
    }
    if (cursor && !decimal(cursor, 0, INT64_MAX / 4, &lq.offset)) {
        sl_reply_status(q, 400, "bad_request",
                        "cursor: use the link of the previous page (a whole number), not "
                        "\"%.40s\"",
                        cursor);
        goto out;
    }
    lq.sort = arg(q, "sort");
    if (lq.sort && !*lq.sort)
        lq.sort = NULL;
    if (lq.sort && !sl_reg_hf_sort_ok(lq.sort)) {
        sl_reply_status(q, 400, "bad_request",
                        "sort: unknown key \"%.60s\" (id, author, createdAt, lastModified, "
                        "downloads, downloadsAllTime, likes, likes30d, trendingScore, mainSize, "
                        "num_parameters)",
                        lq.sort);
        goto out;
    }
    if (direction && strcmp(direction, "-1") != 0 && strcmp(direction, "1") != 0) {
        sl_reply_status(q, 400, "bad_request", "direction: -1 (descending) or 1, not \"%.20s\"",
                        direction);
        goto out;
    }
    lq.ascending = direction && strcmp(direction, "1") == 0;
    lq.search = arg(q, "search");
    lq.author = arg(q, "author");
    if (lq.search && !*lq.search)
        lq.search = NULL;
    if (lq.author && !*lq.author)
        lq.author = NULL;
    sl_error_clear(&err);
    if (sl_reg_hf_list(q->srv->r, &q->who, &lq, &arena, &rows, &nrows, &more, &err) != SL_OK) {
        sl_reply_error(q, &err);
        goto out;
    }
    items = sl_render_hf_models(rows, nrows);
    if (more && !base_url(q, &link)) {
        json_decref(items);
        sl_reply_status(q, 400, "bad_request",
                        "the Host header is missing or malformed (needed for the next page's "
                        "link)");
        goto out;
    }
    text = sl_json_dump(items, 0, &len);
    json_decref(items);
    resp = sl_mhd->create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    if (more) {
        /* the format @huggingface/hub parses: <absolute>; rel="next" */
        sl_buf_adds(&link, "/api/models?");
        sl_buf_add(&link, w.rest.data ? w.rest.data : "", w.rest.len);
        sl_buf_addf(&link, "%scursor=%lld", w.rest.len ? "&" : "",
                    (long long)(lq.offset + lq.limit));
        {
            struct sl_buf h = SL_BUF_INIT(1 << 17);
            sl_buf_addc(&h, '<');
            sl_buf_add(&h, link.data, link.len);
            sl_buf_adds(&h, ">; rel=\"next\"");
            sl_mhd->add_response_header(resp, "Link", sl_buf_cstr(&h));
            sl_buf_release(&h);
        }
    }
    sl_reply(q, 200, resp, len);
out:
    sl_arena_release(&arena);
    sl_buf_release(&w.rest);
    sl_buf_release(&link);
}

void sl_h_whoami(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_whoami w;
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_reg_whoami(q->srv->r, &q->who, &a, &w, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_whoami(&q->who, &w));
    sl_arena_release(&a);
}
