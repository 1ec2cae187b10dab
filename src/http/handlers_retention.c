/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hosted model's publisher endpoints beyond the filter (docs/hosted.md,
 * "Retention", "Quotas", "Usage"): the prompt retention (GET, PUT, DELETE
 * .../hosted/retention) and what it kept (GET .../hosted/retention/items),
 * the quotas (GET, PUT .../hosted/quota) and the usage (GET
 * .../hosted/usage). The router lets only the model's publishers and org
 * admins through (P_MANAGE) and only write tokens to the changes.
 */
#include "http/http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/date.h"
#include "common/util.h"
#include "db/repo_hosted.h"
#include "common/banned.h"

#define QUOTA_MAX 1000000000000LL /* the largest limit accepted, as the CLI's */

static void model_name(struct sl_req *q, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", q->org, q->name);
}

static const char *query(struct sl_req *q, const char *key)
{
    return sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* The request's JSON object body; NULL after answering 400. Keys other
 * than `keys` are refused, naming the first. */
static json_t *object_body(struct sl_req *q, const char *const *keys)
{
    json_error_t je;
    json_t *v, *val;
    const char *k;

    if (q->body.len == 0) {
        sl_reply_status(q, 400, "bad_request", "this request needs a JSON object as its body");
        return NULL;
    }
    v = json_loadb(q->body.data, q->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        sl_reply_status(q, 400, "bad_request", "the body is not a JSON object: %s",
                        je.text[0] ? je.text : "another JSON value");
        return NULL;
    }
    json_object_foreach(v, k, val)
    {
        bool known = false;
        for (size_t i = 0; keys[i]; i++)
            known = known || strcmp(k, keys[i]) == 0;
        if (!known) {
            sl_reply_status(q, 400, "bad_request", "unknown key \"%.64s\" in the body", k);
            json_decref(v);
            return NULL;
        }
    }
    return v;
}

/* `?since=YYYY-MM-DD` as a day number (0 when absent); false after
 * answering 400. */
static bool since_day(struct sl_req *q, int32_t *day)
{
    const char *s = query(q, "since");

    *day = 0;
    if (!s)
        return true;
    if (!sl_date_parse(s, day)) {
        sl_reply_status(q, 400, "bad_request", "since must be a date YYYY-MM-DD, got \"%.32s\"", s);
        return false;
    }
    return true;
}

/* ---- retention ---- */

static json_t *retention_json(const char *model, int64_t days, int64_t updated)
{
    return json_pack("{s:s, s:o, s:o}", "model", model, "retention_days",
                     days > 0 ? json_integer(days) : json_null(), "updated",
                     days > 0 ? json_integer(updated) : json_null());
}

void sl_h_retention_get(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    int64_t days = 0, updated = 0;

    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    if (sl_reg_retention_get(q->srv->r, q->model_id, &days, &updated, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, retention_json(model, days, updated));
}

void sl_h_retention_set(struct sl_req *q)
{
    static const char *const keys[] = {"days", NULL};
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    json_t *body = object_body(q, keys), *d;
    int64_t days, updated = 0, idx = -1;

    if (!body)
        return;
    d = json_object_get(body, "days");
    if (!json_is_integer(d) || json_integer_value(d) < 1 ||
        json_integer_value(d) > SL_HOSTED_RETAIN_DAYS_MAX) {
        json_decref(body);
        sl_reply_status(q, 400, "bad_request",
                        "days must be a whole number from 1 to %d (to keep nothing, DELETE the "
                        "retention)",
                        SL_HOSTED_RETAIN_DAYS_MAX);
        return;
    }
    days = json_integer_value(d);
    json_decref(body);
    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    if (sl_reg_retention_set(q->srv->r, &q->who, q->model_id, model, days, NULL, &idx, &err) !=
            SL_OK ||
        sl_reg_retention_get(q->srv->r, q->model_id, &days, &updated, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    {
        json_t *j = retention_json(model, days, updated);
        json_object_set_new(j, "log_index", json_integer(idx));
        sl_reply_json(q, 200, j);
    }
}

void sl_h_retention_clear(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    struct sl_error err;
    bool had = false;
    int64_t idx = -1;

    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    if (sl_reg_retention_set(q->srv->r, &q->who, q->model_id, model, 0, &had, &idx, &err) !=
        SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200,
                  json_pack("{s:s, s:b, s:o}", "model", model, "cleared", had, "log_index",
                            idx >= 0 ? json_integer(idx) : json_null()));
}

void sl_h_retained_list(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2], day[16];
    struct sl_hosted_retained *rows = NULL;
    struct sl_error err;
    int64_t days = 0;
    int32_t since = 0;
    int64_t after = 0;
    size_t n = 0;
    bool more = false;
    json_t *items;
    const char *a = query(q, "after");

    if (!since_day(q, &since))
        return;
    if (a) {
        /* the id of the last item of the previous answer */
        if (!*a || strspn(a, "0123456789") != strlen(a) || strlen(a) > 18) {
            sl_reply_status(q, 400, "bad_request",
                            "after must be the id of an item (a whole number), got \"%.32s\"", a);
            return;
        }
        after = strtoll(a, NULL, 10);
    }
    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    if (sl_reg_retention_get(q->srv->r, q->model_id, &days, NULL, &err) != SL_OK ||
        sl_reg_retained_list(q->srv->r, q->model_id, (int64_t)since * 86400, after, &rows, &n,
                             &more, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct sl_hosted_retained *w = &rows[i];
        json_array_append_new(
            items, json_pack("{s:I, s:I, s:I, s:s?, s:s, s:I, s:s, s:b, s:s, s:b}", "id",
                             (json_int_t)w->id, "time", (json_int_t)w->created, "version",
                             (json_int_t)w->version_seq, "user", w->user[0] ? w->user : NULL,
                             "endpoint", w->endpoint, "expires", (json_int_t)w->expires, "prompt",
                             w->prompt, "prompt_truncated", w->prompt_truncated, "completion",
                             w->completion, "completion_truncated", w->completion_truncated));
    }
    sl_repo_retained_free(rows, n);
    sl_reply_json(q, 200,
                  json_pack("{s:s, s:o, s:o, s:o, s:b}", "model", model, "retention_days",
                            days > 0 ? json_integer(days) : json_null(), "since",
                            since ? json_string(sl_date_format(since, day)) : json_null(), "items",
                            items, "more", more));
}

/* ---- quotas ---- */

static json_t *limit_json(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *quota_json(const char *user, const struct sl_hosted_quota *qt)
{
    return json_pack("{s:s?, s:I, s:I, s:I}", "user", user, "rpm", (json_int_t)qt->rpm,
                     "tokens_per_day", (json_int_t)qt->tokens_per_day, "concurrency",
                     (json_int_t)qt->concurrency);
}

/* The user named by `name`'s id; false after answering 404. */
static bool user_id(struct sl_req *q, struct sl_db *db, const char *name, int64_t *id)
{
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_repo_user_id(db, name, id, &err) != SL_OK) {
        if (err.code == SL_ENOTFOUND)
            sl_reply_status(q, 404, "not_found", "no user \"%.96s\"", name);
        else
            sl_reply_error(q, &err);
        return false;
    }
    return true;
}

void sl_h_quota_get(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2];
    struct sl_hosted_quota_row *rows = NULL;
    struct sl_hosted_quota eff;
    struct sl_error err;
    const char *user = query(q, "user");
    struct sl_db *db;
    json_t *def = NULL, *users;
    int64_t uid = 0;
    size_t n = 0;

    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    db = sl_reg_db(q->srv->r, &err);
    if (!db) {
        sl_reply_error(q, &err);
        return;
    }
    if (user) {
        /* what applies to one caller now */
        if (!user_id(q, db, user, &uid))
            return;
        if (sl_repo_quota_get(db, q->model_id, uid, &eff, &err) != SL_OK) {
            sl_reply_error(q, &err);
            return;
        }
        json_t *j = quota_json(user, &eff);
        json_object_set_new(j, "model", json_string(model));
        sl_reply_json(q, 200, j);
        return;
    }
    if (sl_repo_quota_list(db, q->model_id, &rows, &n, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    users = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_pack("{s:o, s:o, s:o}", "rpm", limit_json(rows[i].rpm), "tokens_per_day",
                              limit_json(rows[i].tokens_per_day), "concurrency",
                              limit_json(rows[i].concurrency));
        if (rows[i].user_id == 0) {
            def = j;
        } else {
            json_object_set_new(j, "user", json_string(rows[i].user));
            json_array_append_new(users, j);
        }
    }
    free(rows);
    if (!def)
        def = json_pack("{s:n, s:n, s:n}", "rpm", "tokens_per_day", "concurrency");
    sl_reply_json(q, 200,
                  json_pack("{s:s, s:o, s:o}", "model", model, "default", def, "users", users));
}

/* A limit from the body: -1 when absent, -2 after answering 400. */
static int64_t limit_member(struct sl_req *q, json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);

    if (!v)
        return -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > QUOTA_MAX) {
        sl_reply_status(q, 400, "bad_request",
                        "%s must be a whole number from 0 (no limit) to %lld", key, QUOTA_MAX);
        return -2;
    }
    return json_integer_value(v);
}

void sl_h_quota_set(struct sl_req *q)
{
    static const char *const keys[] = {"user", "rpm", "tokens_per_day", "concurrency", NULL};
    char model[2 * SL_NAME_MAX + 2];
    struct sl_hosted_quota qt;
    struct sl_error err;
    json_t *body = object_body(q, keys), *u;
    const char *user = NULL;
    struct sl_db *db;
    int64_t uid = 0;

    if (!body)
        return;
    u = json_object_get(body, "user");
    if (u && !json_is_string(u) && !json_is_null(u)) {
        json_decref(body);
        sl_reply_status(q, 400, "bad_request",
                        "user must be a user name, or null for the "
                        "model's default");
        return;
    }
    user = json_string_value(u);
    qt.rpm = limit_member(q, body, "rpm");
    if (qt.rpm == -2)
        goto out;
    qt.tokens_per_day = limit_member(q, body, "tokens_per_day");
    if (qt.tokens_per_day == -2)
        goto out;
    qt.concurrency = limit_member(q, body, "concurrency");
    if (qt.concurrency == -2)
        goto out;
    if (qt.rpm < 0 && qt.tokens_per_day < 0 && qt.concurrency < 0) {
        sl_reply_status(q, 400, "bad_request",
                        "the body sets nothing: give rpm, tokens_per_day or concurrency");
        goto out;
    }
    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    db = sl_reg_db(q->srv->r, &err);
    if (!db) {
        sl_reply_error(q, &err);
        goto out;
    }
    if (user && !user_id(q, db, user, &uid))
        goto out;
    if (sl_repo_quota_set(db, q->model_id, uid, &qt, &err) != SL_OK ||
        sl_repo_quota_get(db, q->model_id, uid, &qt, &err) != SL_OK) {
        sl_reply_error(q, &err);
        goto out;
    }
    {
        json_t *j = quota_json(user, &qt);
        json_object_set_new(j, "model", json_string(model));
        sl_reply_json(q, 200, j);
    }
out:
    json_decref(body);
}

/* ---- usage ---- */

void sl_h_usage_get(struct sl_req *q)
{
    char model[2 * SL_NAME_MAX + 2], d[16];
    struct sl_hosted_usage *u = NULL;
    struct sl_hosted_refusal *rf = NULL;
    struct sl_error err;
    int32_t since = 0;
    size_t n = 0, nr = 0;
    struct sl_db *db;
    json_t *usage, *refusals;

    if (!since_day(q, &since))
        return;
    sl_error_clear(&err);
    model_name(q, model, sizeof(model));
    db = sl_reg_db(q->srv->r, &err);
    if (!db || sl_repo_usage_list(db, q->model_id, since, &u, &n, &err) != SL_OK ||
        sl_repo_refusal_list(db, q->model_id, since, &rf, &nr, &err) != SL_OK) {
        free(u);
        sl_reply_error(q, &err);
        return;
    }
    usage = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(usage, json_pack("{s:s, s:I, s:s?, s:I, s:I, s:I}", "day",
                                               sl_date_format((int32_t)u[i].day, d), "version",
                                               (json_int_t)u[i].version_seq, "user",
                                               u[i].user[0] ? u[i].user : NULL, "calls",
                                               (json_int_t)u[i].calls, "prompt_tokens",
                                               (json_int_t)u[i].prompt_tokens, "completion_tokens",
                                               (json_int_t)u[i].completion_tokens));
    refusals = json_array();
    for (size_t i = 0; i < nr; i++)
        json_array_append_new(refusals, json_pack("{s:s, s:s, s:s, s:I}", "day",
                                                  sl_date_format((int32_t)rf[i].day, d), "reason",
                                                  rf[i].reason, "rule", rf[i].rule, "n",
                                                  (json_int_t)rf[i].n));
    free(u);
    free(rf);
    sl_reply_json(q, 200,
                  json_pack("{s:s, s:o, s:o, s:o}", "model", model, "since",
                            since ? json_string(sl_date_format(since, d)) : json_null(), "usage",
                            usage, "refusals", refusals));
}
