/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The calls behind the hub-style commands (`sluice models`, `show`,
 * `whoami`): the model listing (GET /api/models, page by page), a model
 * with its versions, one version, its decision, and the caller's account
 * (GET /api/whoami-v2).
 */
#include "client/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "common/banned.h"

#define PAGE       1000
#define MODELS_MAX 100000

static enum sl_err get(struct sl_client *cl, struct sl_buf *path, json_t **out,
                       struct sl_error *err)
{
    enum sl_err rc;

    if (sl_buf_cstr(path)[0] != '/')
        return sl_error_set(err, SL_ENOMEM, "cannot build the request path");
    rc = sl__cl_http_json(cl, "GET", sl_buf_cstr(path), NULL, 0, 60, NULL, out, err);
    sl_buf_release(path);
    return rc;
}

enum sl_err sl_client_models(struct sl_client *cl, const char *search, const char *org,
                             json_t **out, struct sl_error *err)
{
    json_t *all = json_array();
    enum sl_err rc = SL_OK;

    *out = NULL;
    for (size_t cursor = 0; cursor < MODELS_MAX; cursor += PAGE) {
        struct sl_buf p = SL_BUF_INIT(4096);
        json_t *page = NULL;
        size_t n;
        sl_buf_addf(&p, "/api/models?limit=%d&cursor=%zu", PAGE, cursor);
        if (search) {
            sl_buf_adds(&p, "&search=");
            sl__cl_url_escape(&p, search, false);
        }
        if (org) {
            sl_buf_adds(&p, "&author=");
            sl__cl_url_escape(&p, org, false);
        }
        rc = get(cl, &p, &page, err);
        if (rc)
            break;
        if (!json_is_array(page)) {
            json_decref(page);
            rc = sl_error_set(err, SL_EINTERNAL, "the server's model list is not a JSON array");
            break;
        }
        n = json_array_size(page);
        json_array_extend(all, page);
        json_decref(page);
        if (n < PAGE)
            break;
    }
    if (rc) {
        json_decref(all);
        return rc;
    }
    *out = all;
    return SL_OK;
}

static void model_path(struct sl_buf *p, const char *org, const char *name)
{
    sl_buf_adds(p, "/api/v1/models/");
    sl__cl_url_escape(p, org, false);
    sl_buf_addc(p, '/');
    sl__cl_url_escape(p, name, false);
}

enum sl_err sl_client_model(struct sl_client *cl, const char *org, const char *name, json_t **out,
                            struct sl_error *err)
{
    struct sl_buf p = SL_BUF_INIT(4096);
    enum sl_err rc;

    model_path(&p, org, name);
    rc = get(cl, &p, out, err);
    if (rc && rc != SL_EUNREACHABLE)
        sl_error_prefix(err, "%s/%s", org, name);
    return rc;
}

enum sl_err sl_client_version(struct sl_client *cl, const char *org, const char *name,
                              const char *rev, const char *what, json_t **out, struct sl_error *err)
{
    struct sl_buf p = SL_BUF_INIT(4096);
    enum sl_err rc;

    model_path(&p, org, name);
    sl_buf_adds(&p, "/versions/");
    sl__cl_url_escape(&p, rev, false);
    if (what) {
        sl_buf_addc(&p, '/');
        sl_buf_adds(&p, what);
    }
    rc = get(cl, &p, out, err);
    if (rc && rc != SL_EUNREACHABLE)
        sl_error_prefix(err, "%s/%s@%s", org, name, rev);
    return rc;
}

enum sl_err sl_client_whoami(struct sl_client *cl, json_t **out, struct sl_error *err)
{
    struct sl_buf p = SL_BUF_INIT(64);

    sl_buf_adds(&p, "/api/whoami-v2");
    return get(cl, &p, out, err);
}
