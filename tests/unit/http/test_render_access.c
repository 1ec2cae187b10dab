/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The access and account answers rendered from typed results
 * (src/http/render_access.c): the exact bytes of each wire format (key
 * order included, as clients and the integration tests see them), NULL
 * text as null, unset times as null, a license only when one was issued,
 * and stored JSON text that is damaged answered as an empty object or list
 * instead of a crash.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http/render_access.h"

static void same(json_t *v, const char *want)
{
    char *got;

    cr_assert(v, "no JSON rendered");
    got = json_dumps(v, JSON_COMPACT);
    cr_assert_str_eq(got, want);
    free(got);
    json_decref(v);
}

static struct sl_reg_request request(void)
{
    struct sl_reg_request q;

    memset(&q, 0, sizeof(q));
    snprintf(q.row.user, sizeof(q.row.user), "carol");
    snprintf(q.row.status, sizeof(q.row.status), "approved");
    snprintf(q.status, sizeof(q.status), "expired");
    q.row.purpose = "research";
    q.row.fields = "{\"org\":\"uni\"}";
    q.row.created = 86400;
    q.row.expires = 2 * 86400;
    q.row.history = "[{\"status\":\"revoked\"}]";
    return q;
}

Test(render, request_exact_bytes)
{
    struct sl_reg_request q = request();

    same(sl_render_request("acme/m", &q),
         "{\"model\":\"acme/m\",\"user\":\"carol\",\"status\":\"expired\",\"purpose\":\"research\","
         "\"fields\":{\"org\":\"uni\"},\"created\":\"1970-01-02T00:00:00Z\",\"decided\":null,"
         "\"reason\":null,\"appeal\":null,\"appealed\":null,\"expires\":\"1970-01-03T00:00:00Z\","
         "\"auto_rule\":null,\"final\":false,\"history\":[{\"status\":\"revoked\"}]}");
    q.license = "NOTE";
    q.final = true;
    q.row.reason = "no";
    same(sl_render_request("acme/m", &q),
         "{\"model\":\"acme/m\",\"user\":\"carol\",\"status\":\"expired\",\"purpose\":\"research\","
         "\"fields\":{\"org\":\"uni\"},\"created\":\"1970-01-02T00:00:00Z\",\"decided\":null,"
         "\"reason\":\"no\",\"appeal\":null,\"appealed\":null,\"expires\":"
         "\"1970-01-03T00:00:00Z\",\"auto_rule\":null,\"final\":true,\"history\":[{\"status\":"
         "\"revoked\"}],\"license\":\"NOTE\"}");
}

Test(render, damaged_stored_json_is_empty_not_a_crash)
{
    struct sl_reg_request q = request();
    json_t *v;

    q.row.fields = "{not json";
    q.row.history = "{\"an\":\"object\"}";
    v = sl_render_request("acme/m", &q);
    cr_assert(json_is_object(json_object_get(v, "fields")));
    cr_assert_eq(json_object_size(json_object_get(v, "fields")), 0);
    cr_assert(json_is_array(json_object_get(v, "history")));
    cr_assert_eq(json_array_size(json_object_get(v, "history")), 0);
    json_decref(v);
    q.row.fields = NULL;
    q.row.history = NULL;
    v = sl_render_request("acme/m", &q);
    cr_assert(json_is_object(json_object_get(v, "fields")));
    cr_assert(json_is_array(json_object_get(v, "history")));
    json_decref(v);
}

Test(render, request_list)
{
    struct sl_reg_request q[2] = {request(), request()};

    snprintf(q[1].row.user, sizeof(q[1].row.user), "dave");
    json_t *v = sl_render_requests("acme/m", q, 2);
    cr_assert_eq(json_array_size(v), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(v, 1), "user")), "dave");
    json_decref(v);
    same(sl_render_requests("acme/m", NULL, 0), "[]");
}

Test(render, terms_and_acceptance)
{
    struct sl_version_ref v;
    struct sl_reg_terms t;
    struct sl_reg_acceptance a;
    const char *fields[] = {"institution", "country"};

    memset(&v, 0, sizeof(v));
    v.seq = 3;
    snprintf(v.commit, sizeof(v.commit), "abc");
    snprintf(v.tier, sizeof(v.tier), "click");
    memset(&t, 0, sizeof(t));
    snprintf(t.license_sha256, sizeof(t.license_sha256), "0123");
    t.license = "TERMS";
    t.given = true;
    same(sl_render_terms("acme/m", &v, &t),
         "{\"model\":\"acme/m\",\"version\":3,\"commit\":\"abc\",\"tier\":\"click\","
         "\"license_sha256\":\"0123\",\"license\":\"TERMS\",\"license_given\":true,"
         "\"accepted\":false,\"retention_days\":null,\"fields\":[]}");
    /* a hosted model whose gateway keeps prompts says for how long */
    t.retention_days = 30;
    t.fields = fields;
    t.nfields = 2;
    same(sl_render_terms("acme/m", &v, &t),
         "{\"model\":\"acme/m\",\"version\":3,\"commit\":\"abc\",\"tier\":\"click\","
         "\"license_sha256\":\"0123\",\"license\":\"TERMS\",\"license_given\":true,"
         "\"accepted\":false,\"retention_days\":30,\"fields\":[\"institution\",\"country\"]}");
    memset(&a, 0, sizeof(a));
    snprintf(a.license_sha256, sizeof(a.license_sha256), "0123");
    same(sl_render_acceptance("acme/m", &v, &a),
         "{\"model\":\"acme/m\",\"version\":3,\"license_sha256\":\"0123\",\"accepted\":true,"
         "\"new\":false}");
}

Test(render, members_and_whoami)
{
    struct sl_member_row rows[2];
    struct sl_principal p;
    struct sl_reg_whoami w;

    memset(rows, 0, sizeof(rows));
    snprintf(rows[0].user, sizeof(rows[0].user), "alice");
    snprintf(rows[0].role, sizeof(rows[0].role), "admin");
    snprintf(rows[1].user, sizeof(rows[1].user), "bob");
    snprintf(rows[1].role, sizeof(rows[1].role), "member");
    same(sl_render_org_members(rows, 2),
         "[{\"user\":\"alice\",\"role\":\"admin\"},{\"user\":\"bob\",\"role\":\"member\"}]");
    same(sl_render_org_members(NULL, 0), "[]");

    memset(&p, 0, sizeof(p));
    p.user_id = 7;
    snprintf(p.name, sizeof(p.name), "alice");
    p.scopes = SL_SCOPE_READ | SL_SCOPE_WRITE;
    rows[0].org_id = 2;
    snprintf(rows[0].org, sizeof(rows[0].org), "acme");
    snprintf(rows[0].role, sizeof(rows[0].role), "publisher");
    memset(&w, 0, sizeof(w));
    w.orgs = rows;
    w.norgs = 1;
    same(sl_render_whoami(&p, &w),
         "{\"type\":\"user\",\"id\":\"user-7\",\"name\":\"alice\",\"fullname\":\"alice\","
         "\"email\":null,\"emailVerified\":false,\"isPro\":false,\"canPay\":false,"
         "\"avatarUrl\":\"\",\"orgs\":[{\"type\":\"org\",\"id\":\"org-2\",\"name\":\"acme\","
         "\"fullname\":\"acme\",\"canPay\":false,\"avatarUrl\":\"\",\"roleInOrg\":\"write\"}],"
         "\"isAdmin\":false,\"auth\":{\"type\":\"access_token\",\"accessToken\":{"
         "\"displayName\":\"sluice token\",\"role\":\"write\"}}}");
    w.email = "a@example.org";
    w.norgs = 0;
    p.scopes = SL_SCOPE_READ;
    json_t *v = sl_render_whoami(&p, &w);
    cr_assert_str_eq(json_string_value(json_object_get(v, "email")), "a@example.org");
    cr_assert_eq(json_array_size(json_object_get(v, "orgs")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(v, "auth"), "accessToken"), "role")),
                     "read");
    json_decref(v);
}

Test(render, hf_model_listing)
{
    struct sl_repo_model_item it;
    json_t *v, *e;

    memset(&it, 0, sizeof(it));
    snprintf(it.id, sizeof(it.id), "acme/m");
    snprintf(it.org, sizeof(it.org), "acme");
    snprintf(it.tier, sizeof(it.tier), "gated");
    snprintf(it.commit, sizeof(it.commit), "abc");
    it.version_created = 86400 + 3661;
    it.model_created = 0;
    it.dl_recent = 3;
    it.dl_all = 9;
    it.seq = 2;
    v = sl_render_hf_models(&it, 1);
    cr_assert_eq(json_array_size(v), 1);
    e = json_array_get(v, 0);
    /* the Hub's keys in the Hub's order, then sluice's own */
    {
        static const char *const keys[] = {"_id",     "id",    "modelId",      "author",
                                           "private", "gated", "downloads",    "downloadsAllTime",
                                           "likes",   "sha",   "lastModified", "createdAt",
                                           "tags",    "sluice"};
        size_t i = 0;
        const char *k;
        json_t *x;
        json_object_foreach(e, k, x)
        {
            cr_assert_lt(i, sizeof(keys) / sizeof(keys[0]));
            cr_assert_str_eq(k, keys[i]);
            i++;
        }
        cr_assert_eq(i, sizeof(keys) / sizeof(keys[0]));
    }
    cr_assert_eq(strlen(json_string_value(json_object_get(e, "_id"))), 24);
    cr_assert_str_eq(json_string_value(json_object_get(e, "gated")), "manual");
    cr_assert_str_eq(json_string_value(json_object_get(e, "lastModified")),
                     "1970-01-02T01:01:01.000Z");
    cr_assert_str_eq(json_string_value(json_object_get(e, "createdAt")),
                     "1970-01-01T00:00:00.000Z");
    cr_assert_eq(json_integer_value(json_object_get(e, "downloads")), 3);
    cr_assert_eq(json_integer_value(json_object_get(e, "downloadsAllTime")), 9);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "sluice"), "tier")),
                     "gated");
    json_decref(v);
    snprintf(it.tier, sizeof(it.tier), "open");
    v = sl_render_hf_models(&it, 1);
    cr_assert(json_is_false(json_object_get(json_array_get(v, 0), "gated")));
    json_decref(v);
    same(sl_render_hf_models(NULL, 0), "[]");
}
