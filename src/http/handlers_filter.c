/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted gateway's filter endpoints (docs/hosted.md, "Filters"):
 * GET, PUT and DELETE /api/v1/models/{org}/{name}/hosted/filter, for the
 * model's publishers and org admins (the router checks P_MANAGE). The body
 * of a PUT is the policy file itself; it is validated and compiled here
 * (hosted/filter.c) and stored in canonical form with a log entry.
 */
#include "http/http_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "db/repo_hosted.h"
#include "hosted/filter.h"
#include "hosted/hosted.h"
#include "common/banned.h"

static void model_name(struct sl_req *q, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", q->org, q->name);
}

/* What the log entry of a change says about the filter: ids, places and
 * actions of the rules, the cap and the allowed parameters; no pattern. */
static json_t *summary(const struct sl_filter *f)
{
    json_t *s = json_object(), *rules = json_array();

    for (size_t i = 0; i < f->nrules; i++)
        json_array_append_new(rules,
                              json_pack("{s:s, s:s, s:s}", "id", f->rules[i].id, "where",
                                        f->rules[i].where == SL_FILTER_INPUT ? "input" : "output",
                                        "action", f->rules[i].refuse ? "refuse" : "flag"));
    json_object_set_new(s, "rules", rules);
    json_object_set_new(s, "max_tokens", f->max_tokens ? json_integer(f->max_tokens) : json_null());
    if (f->params_limited) {
        json_t *p = json_array();
        for (size_t i = 0; i < f->nparams; i++)
            json_array_append_new(p, json_string(f->params[i]));
        json_object_set_new(s, "allowed_parameters", p);
    } else {
        json_object_set_new(s, "allowed_parameters", json_null());
    }
    return s;
}

void sl_h_filter_set(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2], *text = NULL;
    struct sl_filter *f = NULL;
    struct sl_error err;
    json_t *sum = NULL;
    int64_t idx = -1;

    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    if (q->body.len == 0) {
        sl_reply_status(q, 400, "bad_request", "this request needs the filter's JSON as its body");
        return;
    }
    if (sl_filter_parse(q->body.data, q->body.len, &f, &err) != SL_OK) {
        sl_reply_status(q, 400, "bad_filter", "%s", err.msg);
        return;
    }
    text = sl_filter_json(f);
    sum = summary(f);
    if (sl_reg_filter_set(q->srv->r, &q->who, q->model_id, model, text, sum, &idx, &err) != SL_OK) {
        sl_reply_error(q, &err);
    } else {
        json_error_t je;
        sl_reply_json(q, 200,
                      json_pack("{s:s, s:o, s:I}", "model", model, "filter",
                                json_loads(text, 0, &je), "log_index", (json_int_t)idx));
    }
    json_decref(sum);
    free(text);
    sl_filter_free(f);
}

void sl_h_filter_get(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2], *text = NULL;
    struct sl_hosted_refusal *rows = NULL;
    struct sl_error err;
    json_t *filter = json_null(), *refusals;
    int64_t updated = 0;
    size_t n = 0;

    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    if (sl_reg_filter_get(q->srv->r, q->model_id, &text, &updated, &err) != SL_OK ||
        sl_reg_refusal_list(q->srv->r, q->model_id, 0, &rows, &n, &err) != SL_OK) {
        free(text);
        json_decref(filter);
        sl_reply_error(q, &err);
        return;
    }
    if (text) {
        json_error_t je;
        json_decref(filter);
        filter = json_loads(text, 0, &je);
        if (!filter)
            filter = json_null();
    }
    refusals = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            refusals, json_pack("{s:I, s:s, s:s, s:I}", "day", (json_int_t)rows[i].day, "reason",
                                rows[i].reason, "rule", rows[i].rule, "n", (json_int_t)rows[i].n));
    sl_reply_json(q, 200,
                  json_pack("{s:s, s:o, s:o, s:o}", "model", model, "filter", filter, "updated",
                            text ? json_integer(updated) : json_null(), "refusals", refusals));
    free(text);
    free(rows);
}

void sl_h_filter_clear(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    bool had = false;

    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    if (sl_reg_filter_clear(q->srv->r, &q->who, q->model_id, model, &had, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, json_pack("{s:s, s:b}", "model", model, "cleared", had));
}

/* ---- applying a filter to a call (v1_call in handlers_hosted.c) ---- */

/* Filters compiled once: the policy text is still read from the database on
 * every call (so a change applies at once, on every server), but it is
 * compiled again only when it differs from the one this server compiled
 * last for the model. One slot per model id modulo the size. */
#define FILTER_CACHE 64
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int64_t model_id;
    char *text;
    struct sl_filter *f;
} cache[FILTER_CACHE];

/* The compiled filter of `text` for `model_id` (a new reference), or NULL
 * with `err` set when the stored text no longer parses. */
static struct sl_filter *compiled(int64_t model_id, const char *text, struct sl_error *err)
{
    size_t slot = (size_t)model_id % FILTER_CACHE;
    struct sl_filter *f = NULL, *old = NULL;
    char *old_text = NULL;

    pthread_mutex_lock(&cache_lock);
    if (cache[slot].f && cache[slot].model_id == model_id && strcmp(cache[slot].text, text) == 0)
        f = sl_filter_ref(cache[slot].f);
    pthread_mutex_unlock(&cache_lock);
    if (f)
        return f;
    if (sl_filter_parse(text, strlen(text), &f, err) != SL_OK)
        return NULL;
    pthread_mutex_lock(&cache_lock);
    old = cache[slot].f;
    old_text = cache[slot].text;
    cache[slot].model_id = model_id;
    cache[slot].text = sl_xstrdup(text);
    cache[slot].f = sl_filter_ref(f);
    pthread_mutex_unlock(&cache_lock);
    sl_filter_free(old);
    free(old_text);
    return f;
}

static void oai_refuse(struct sl_req *q, unsigned status, const char *type, const char *param,
                       const char *code, const char *msg)
{
    char *body = sl_hosted_error_json(msg, type, param, code);
    size_t len = strlen(body);
    struct MHD_Response *resp =
        sl_mhd->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

    sl_mhd->add_response_header(resp, "Content-Type", "application/json");
    sl_mhd->add_response_header(resp, "X-Error-Code", code);
    sl_add_error_message(resp, msg);
    if (status >= 500)
        snprintf(q->reason, sizeof(q->reason), "%s", msg);
    sl_reply(q, status, resp, len);
}

bool sl__hosted_filter_request(struct sl_req *q, int64_t model_id, const char *model, json_t *body,
                               struct sl_filter **out)
{
    char name[2 * SL_NAME_MAX + 2], msg[300], *text = NULL;
    struct sl_filter *f = NULL;
    struct sl_filter_verdict v;
    struct sl_error err;
    const char *param = NULL;

    *out = NULL;
    sl_error_clear(&err);
    /* the model without @REV: counts and pseudonyms are per model */
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(model, "@"), model);
    if (sl_reg_filter_get(q->srv->r, model_id, &text, NULL, &err) != SL_OK) {
        oai_refuse(q, 503, "api_error", NULL, "unavailable",
                   "the model's filter cannot be read now; retry later");
        return false;
    }
    if (!text)
        return true;
    f = compiled(model_id, text, &err);
    if (!f) {
        /* fail closed: a filter that no longer compiles lets nothing through */
        free(text);
        snprintf(msg, sizeof(msg), "the model's stored filter is invalid: %s", err.msg);
        oai_refuse(q, 503, "api_error", NULL, "unavailable", msg);
        return false;
    }
    free(text);
    if (sl_filter_request(f, body, &param, &v) != SL_OK) {
        sl_filter_free(f);
        oai_refuse(q, 503, "api_error", NULL, "unavailable", "out of memory");
        return false;
    }
    if (param) {
        snprintf(msg, sizeof(msg), "The parameter `%.64s` is not allowed for this model.", param);
        sl_hosted_filter_note(q->srv->r, model_id, name, q->who.user_id, "parameter", "");
        oai_refuse(q, 400, "invalid_request_error", param, "unsupported_parameter", msg);
        sl_filter_free(f);
        return false;
    }
    for (size_t i = 0; i < v.nflagged; i++)
        sl_hosted_filter_note(q->srv->r, model_id, name, q->who.user_id, "flag_input",
                              v.flagged[i]->id);
    if (v.refused) {
        snprintf(msg, sizeof(msg), "The request was refused by the model's filter (rule `%s`).",
                 v.refused->id);
        sl_hosted_filter_note(q->srv->r, model_id, name, q->who.user_id, "input", v.refused->id);
        oai_refuse(q, 400, "invalid_request_error", NULL, "content_policy", msg);
        sl_filter_free(f);
        return false;
    }
    *out = f;
    return true;
}
