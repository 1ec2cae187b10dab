/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transparency log over HTTP (docs/log.md): the signed checkpoint, the
 * C2SP tlog-tiles layout (hash tiles and entry bundles), inclusion and
 * consistency proofs, entries as JSON, and the offline proofs attached to
 * decisions and licenses.
 */
#include "http/http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "http/render_log.h"
#include "tlog/merkle.h"
#include "common/banned.h"

/* A query parameter as a decimal uint64: digits only, no leading zeros, no
 * overflow. False after answering 400. */
static bool query_u64(struct sl_req *q, const char *key, uint64_t *out)
{
    const char *s = sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
    uint64_t v = 0;

    if (!s || !*s) {
        sl_reply_status(q, 400, "bad_request", "the query needs %s=N", key);
        return false;
    }
    if (s[0] == '0' && s[1]) {
        sl_reply_status(q, 400, "bad_request", "%s: no leading zeros", key);
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || p - s >= 20) {
            sl_reply_status(q, 400, "bad_request", "%s must be a decimal number", key);
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
            sl_reply_status(q, 400, "bad_request", "%s is out of range", key);
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

void sl_attach_log_proof(struct sl_req *q, json_t *doc, int64_t version_id)
{
    struct sl_error err;
    int64_t idx = sl_reg_version_log_index(q->srv->r, version_id);
    char *proof = NULL;

    if (idx < 0)
        return;
    sl_error_clear(&err);
    if (sl_reg_log_proof(q->srv->r, idx, &proof, &err) != SL_OK)
        return; /* the document stays useful; the proof can be fetched later */
    json_object_set_new(doc, "log_index", json_integer(idx));
    json_object_set_new(doc, "log_proof", json_string(proof));
    free(proof);
}

void sl_h_log_checkpoint(struct sl_req *q)
{
    struct sl_error err;
    char *note = NULL;
    uint64_t size;

    sl_error_clear(&err);
    if (sl_reg_log_checkpoint(q->srv->r, &note, &size, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_text(q, 200, note);
}

void sl_h_log_tile(struct sl_req *q)
{
    struct sl_error err;
    struct sl_buf b = SL_BUF_INIT(1u << 24);
    struct MHD_Response *resp;
    char *path = sl_xasprintf("tile/%s", q->path), *data;
    size_t len;
    bool full = false;
    enum sl_err rc;

    sl_error_clear(&err);
    rc = sl_reg_log_tile(q->srv->r, path, &b, &full, &err);
    free(path);
    if (rc) {
        sl_buf_release(&b);
        sl_reply_error(q, &err);
        return;
    }
    data = sl_buf_detach(&b, &len);
    resp = sl_mhd->create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    sl_mhd->add_response_header(resp, "Content-Type", "application/octet-stream");
    /* full tiles never change; partial ones grow */
    sl_mhd->add_response_header(resp, "Cache-Control",
                                full ? "public, max-age=31536000, immutable" : "no-cache");
    sl_reply(q, 200, resp, len);
}

static json_t *hashes_json(unsigned char (*h)[32], size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        char b64[45];
        sl_base64(h[i], 32, b64);
        json_array_append_new(arr, json_string(b64));
    }
    return arr;
}

void sl_h_log_inclusion(struct sl_req *q)
{
    unsigned char proof[SL_MERKLE_MAX_HASHES][32];
    uint64_t index, size;
    size_t n = 0;
    struct sl_error err;

    if (!query_u64(q, "index", &index) || !query_u64(q, "size", &size))
        return;
    sl_error_clear(&err);
    if (sl_reg_log_inclusion(q->srv->r, index, size, proof, &n, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200,
                  json_pack("{s:I, s:I, s:o}", "index", (json_int_t)index, "size", (json_int_t)size,
                            "proof", hashes_json(proof, n)));
}

void sl_h_log_consistency(struct sl_req *q)
{
    unsigned char proof[SL_MERKLE_MAX_HASHES][32];
    uint64_t from, to;
    size_t n = 0;
    struct sl_error err;

    if (!query_u64(q, "from", &from) || !query_u64(q, "to", &to))
        return;
    sl_error_clear(&err);
    if (sl_reg_log_consistency(q->srv->r, from, to, proof, &n, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200,
                  json_pack("{s:I, s:I, s:o}", "from", (json_int_t)from, "to", (json_int_t)to,
                            "proof", hashes_json(proof, n)));
}

void sl_h_log_entries(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_log_entry *v = NULL;
    uint64_t start, end;
    size_t n = 0;
    struct sl_error err;

    if (!query_u64(q, "start", &start) || !query_u64(q, "end", &end))
        return;
    sl_error_clear(&err);
    if (sl_reg_log_entries(q->srv->r, start, end, &a, &v, &n, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_log_entries(v, n));
    sl_arena_release(&a);
}

void sl_h_report(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_report rep;
    struct sl_error err;

    snprintf(model, sizeof(model), "%s/%s", q->org, q->name);
    sl_error_clear(&err);
    if (sl_reg_report(q->srv->r, q->model_id, model, &a, &rep, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_report(&rep));
    sl_arena_release(&a);
}
