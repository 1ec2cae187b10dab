/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fingerprint endpoints (docs/fingerprint.md): the signed manifest of the
 * caller's copy of a version, and tracing a suspect copy.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

void sl_h_manifest(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2], *note = NULL;
    struct sl_error err;

    snprintf(model, sizeof(model), "%s/%s", q->org, q->name);
    sl_error_clear(&err);
    if (sl_reg_manifest(q->srv->r, &q->who, &q->v, model, &note, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_text(q, 200, note);
}

void sl_h_trace(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    const char *paths[1];
    json_t *out = NULL;
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_upload_finish(q->upload, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    snprintf(model, sizeof(model), "%s/%s", q->org, q->name);
    paths[0] = sl_upload_dir(q->upload);
    if (sl_reg_trace(q->srv->r, &q->who, q->model_id, model, paths, 1, &out, &err) != SL_OK) {
        /* name the uploaded file, not the temporary folder */
        char *at = strstr(err.msg, paths[0]);
        if (at) {
            const char *after = at + strlen(paths[0]);
            size_t n = strlen(paths[0]) + (after[0] == '/'                      ? 1
                                           : after[0] == ':' && after[1] == ' ' ? 2
                                                                                : 0);
            /* "DIR/file: what" reads "file: what", "DIR: what" reads "what" */
            memmove(at, at + n, strlen(at + n) + 1);
        }
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, out);
}
