/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON endpoints (docs/api.md). Permissions were checked by the router
 * before any of these run; they only do the work.
 */
#include "http/http_int.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "http/render_hf.h"
#include "http/render_read.h"
#include "common/banned.h"

#define MISSING_MAX 200000

static json_t *parse_body(struct sl_req *q)
{
    json_error_t je;
    json_t *v;

    if (q->body.len == 0) {
        sl_reply_status(q, 400, "bad_request", "this request needs a JSON body");
        return NULL;
    }
    v = json_loadb(q->body.data, q->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        sl_reply_status(q, 400, "bad_request", "malformed JSON at byte %d: %s", je.position,
                        je.text);
    return v;
}

void sl_h_health(struct sl_req *q)
{
    /* "leader": whether this server runs the governance clock now, so an
     * operator (or a test) behind a load balancer can see where it runs */
    sl_reply_json(q, 200,
                  json_pack("{s:b, s:s, s:b}", "ok", 1, "version", "0.1.0", "leader",
                            (int)atomic_load(&q->srv->leader)));
}

void sl_h_models(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_model_summary *v = NULL;
    size_t n = 0;
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_reg_models(q->srv->r, &q->who, &a, &v, &n, &err) != SL_OK)
        sl_reply_error(q, &err);
    else
        sl_reply_json(q, 200, sl_render_models(v, n));
    sl_arena_release(&a);
}

void sl_h_model(struct sl_req *q)
{
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_model_doc d;
    struct sl_error err;

    int64_t keep = 0;

    sl_error_clear(&err);
    if (sl_reg_model_doc(q->srv->r, q->model_id, &a, &d, &err) != SL_OK ||
        sl_reg_retention_get(q->srv->r, q->model_id, &keep, NULL, &err) != SL_OK) {
        sl_reply_error(q, &err);
    } else {
        /* the model page says whether the hosted gateway keeps prompts
         * (docs/hosted.md, "Retention") */
        json_t *doc = sl_render_model(q->org, q->name, &d);
        json_object_set_new(doc, "hosted_retention_days",
                            keep > 0 ? json_integer(keep) : json_null());
        sl_reply_json(q, 200, doc);
    }
    sl_arena_release(&a);
}

/* Withheld versions list their files only to members and evaluators;
 * answers 403 (and returns false) for others. */
static bool listing_allowed(struct sl_req *q)
{
    if (sl_reg_may_list(q->srv->r, &q->who, &q->v))
        return true;
    sl_reply_json(q, q->who.user_id ? 403 : 401,
                  json_pack("{s:s, s:s, s:s, s:s}", "error",
                            q->who.user_id ? "forbidden" : "unauthorized", "message",
                            "this version is in tier withheld: its files are listed only to "
                            "members of the publishing org and registered evaluators",
                            "tier", q->v.tier, "hint",
                            "the model, its tier and the decision that says why stay visible"));
    return false;
}

void sl_note_last_servable(struct sl_req *q, json_t *doc)
{
    struct sl_error err;
    int64_t seq = 0;
    char commit[65];
    const char *msg = json_string_value(json_object_get(doc, "message"));

    sl_error_clear(&err);
    if (sl_reg_last_servable(q->srv->r, &q->who, &q->v, &seq, commit, &err) != SL_OK)
        return; /* the refusal stays true without the note */
    if (seq) {
        json_object_set_new(doc, "last_servable",
                            json_pack("{s:I, s:s}", "version", (json_int_t)seq, "commit", commit));
        json_object_set_new(doc, "message",
                            json_sprintf("%s; the newest version you can download is v%lld "
                                         "(%s/%s@v%lld, commit %.12s)",
                                         msg ? msg : "", (long long)seq, q->org, q->name,
                                         (long long)seq, commit));
    } else {
        json_object_set_new(doc, "last_servable", json_null());
        json_object_set_new(doc, "message",
                            json_sprintf("%s; no version of %s/%s can be downloaded by you",
                                         msg ? msg : "", q->org, q->name));
    }
}

void sl_h_version(struct sl_req *q)
{
    struct sl_error err, derr;
    bool list = sl_reg_may_list(q->srv->r, &q->who, &q->v);
    struct sl_arena a = SL_ARENA_INIT;
    struct sl_reg_version_doc d;
    json_t *v = NULL;
    char model[2 * SL_NAME_MAX + 2], hint[300];

    sl_error_clear(&err);
    if (sl_reg_version_doc(q->srv->r, &q->v, list, &a, &d, &err) == SL_OK)
        v = sl_render_version(q->org, q->name, &q->v, &d);
    sl_arena_release(&a);
    if (!v) {
        sl_reply_error(q, &err);
        return;
    }
    if (!list)
        json_object_set_new(v, "files_hidden", json_true());
    /* Whether the caller may download it, and if not why and what else:
     * `sluice pull` says so before it asks for any file. */
    snprintf(model, sizeof(model), "%s/%s", q->org, q->name);
    sl_error_clear(&derr);
    if (sl_reg_may_download(q->srv->r, &q->who, &q->v, model, hint, sizeof(hint), &derr) == SL_OK) {
        json_object_set_new(v, "downloadable", json_true());
    } else {
        json_t *why = json_pack("{s:s, s:s, s:s}", "error",
                                derr.code == SL_EAUTH ? "unauthorized" : "forbidden", "message",
                                derr.msg, "hint", hint);
        sl_note_last_servable(q, why);
        json_object_set_new(v, "downloadable", json_false());
        json_object_set_new(v, "download_refused", why);
    }
    sl_reply_json(q, 200, v);
}

void sl_h_decision(struct sl_req *q)
{
    struct sl_error err;
    json_t *v = sl_reg_decision_json(q->srv->r, &q->v, &err);

    if (!v) {
        sl_reply_error(q, &err);
        return;
    }
    sl_attach_log_proof(q, v, q->v.version_id);
    sl_reply_json(q, 200, v);
}

/* The Hugging Face tree of the request's version below `dir`. */
static json_t *hf_tree(struct sl_req *q, const char *dir, bool recursive, struct sl_error *err)
{
    struct sl_hf_file *files = NULL;
    size_t n = 0;
    json_t *v;

    if (sl_reg_hf_files(q->srv->r, &q->who, &q->v, &files, &n, err) != SL_OK)
        return NULL;
    v = sl_render_hf_tree(files, n, dir, recursive, err);
    sl_hf_files_free(files, n);
    return v;
}

void sl_h_hf_info(struct sl_req *q)
{
    struct sl_error err;
    struct sl_hf_info info;
    json_t *v;

    if (sl_reg_hf_info(q->srv->r, &q->who, &q->v, &info, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    v = sl_render_hf_info(&q->v, q->org, q->name, &info);
    sl_hf_info_release(&info);
    if (!sl_reg_may_list(q->srv->r, &q->who, &q->v))
        json_object_set_new(v, "siblings", json_array());
    sl_reply_json(q, 200, v);
}

void sl_h_hf_tree(struct sl_req *q)
{
    struct sl_error err;
    const char *rec = sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "recursive");
    bool recursive = rec && (strcmp(rec, "true") == 0 || strcmp(rec, "1") == 0);
    json_t *v;

    if (!listing_allowed(q))
        return;
    v = hf_tree(q, q->path, recursive, &err);
    if (!v) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, v);
}

void sl_h_missing(struct sl_req *q)
{
    json_t *body = parse_body(q), *ids, *e, *out;
    unsigned char(*raw)[32] = NULL;
    bool *missing = NULL;
    struct sl_error err;
    size_t i, n;

    if (!body)
        return;
    ids = json_object_get(body, "chunks");
    if (!json_is_array(ids)) {
        sl_reply_status(q, 400, "bad_request", "the body needs \"chunks\": [hex, ...]");
        goto out;
    }
    n = json_array_size(ids);
    if (n > MISSING_MAX) {
        sl_reply_status(q, 413, "too_large", "at most %d chunk ids per request", MISSING_MAX);
        goto out;
    }
    raw = sl_xcalloc(n + 1, sizeof(*raw));
    missing = sl_xcalloc(n + 1, sizeof(*missing));
    json_array_foreach(ids, i, e)
    {
        if (!json_is_string(e) ||
            !sl_unhex(json_string_value(e), json_string_length(e), raw[i], 32)) {
            sl_reply_status(q, 400, "bad_request", "chunks[%zu] is not 64 hex digits", i);
            goto out;
        }
    }
    if (sl_reg_chunks_missing(q->srv->r, q->org_id, (const unsigned char(*)[32])raw, n, missing,
                              &err) != SL_OK) {
        sl_reply_error(q, &err);
        goto out;
    }
    out = json_array();
    json_array_foreach(ids, i, e)
    {
        if (missing[i])
            json_array_append(out, e);
    }
    sl_reply_json(q, 200, json_pack("{s:o}", "missing", out));
out:
    free(raw);
    free(missing);
    json_decref(body);
}

void sl_h_chunks(struct sl_req *q)
{
    struct sl_ingest *in = q->ingest;
    json_t *result = NULL;
    struct sl_error err;

    q->ingest = NULL; /* finish frees it */
    if (sl_ingest_finish(in, &result, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    sl_reply_json(q, 200, result);
}

void sl_h_commit(struct sl_req *q)
{
    json_t *body = parse_body(q), *result = NULL;
    struct sl_error err;
    bool created = false;
    enum sl_err rc;

    if (!body)
        return;
    sl_error_clear(&err);
    rc = sl_reg_commit(q->srv->r, &q->who, q->org, q->name, body, &result, &created, &err);
    json_decref(body);
    if (rc == SL_EREFUSED && result) {
        json_object_set_new(result, "error", json_string("unprocessable"));
        json_object_set_new(result, "message", json_string(err.msg));
        sl_reply_json(q, 422, result);
        return;
    }
    if (rc) {
        json_decref(result);
        sl_reply_error(q, &err);
        return;
    }
    if (created || json_is_true(json_object_get(result, "on_main")))
        sl_hub_changed(q->srv); /* main may have moved */
    {
        struct sl_version_ref v;
        const char *commit = json_string_value(json_object_get(result, "commit"));
        json_t *d = json_object_get(result, "decision");
        if (commit && sl_reg_resolve(q->srv->r, q->org, q->name, commit, &v, &err) == SL_OK) {
            sl_attach_log_proof(q, result, v.version_id);
            /* the decision is a document of its own (docs/log.md): it
             * carries the proof of the entry it rests on, as GET
             * .../decision does */
            if (json_is_object(d) && json_object_get(result, "log_proof")) {
                json_object_set(d, "log_index", json_object_get(result, "log_index"));
                json_object_set(d, "log_proof", json_object_get(result, "log_proof"));
            }
        }
    }
    sl_reply_json(q, created ? 201 : 200, result);
}

static int hexdig(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one application/x-www-form-urlencoded value ('+' is a space). */
static char *form_decode(const char *s, size_t n)
{
    char *out = sl_xmalloc(n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexdig(s[i + 1]) >= 0 && hexdig(s[i + 2]) >= 0) {
            out[o++] = (char)(hexdig(s[i + 1]) << 4 | hexdig(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* The paths a paths-info request names: a JSON {"paths": [...]} body or a
 * form body with repeated "paths" fields (what huggingface clients send). */
static json_t *requested_paths(struct sl_req *q, bool *expand)
{
    json_t *paths = json_array();
    const char *b = q->body.data ? q->body.data : "";
    size_t n = q->body.len;

    if (n > 0 && b[0] == '{') {
        json_error_t je;
        json_t *doc = json_loadb(b, n, 0, &je), *arr = json_object_get(doc, "paths"), *e;
        size_t i;
        *expand = json_is_true(json_object_get(doc, "expand"));
        json_array_foreach(arr, i, e)
        {
            if (json_is_string(e))
                json_array_append(paths, e);
        }
        json_decref(doc);
        return paths;
    }
    for (size_t i = 0; i < n;) {
        const char *amp = memchr(b + i, '&', n - i), *eq;
        size_t end = amp ? (size_t)(amp - b) : n;
        eq = memchr(b + i, '=', end - i);
        if (eq) {
            char *key = form_decode(b + i, (size_t)(eq - (b + i)));
            char *val = form_decode(eq + 1, (size_t)(b + end - (eq + 1)));
            if (strcmp(key, "paths") == 0 || strcmp(key, "paths[]") == 0)
                json_array_append_new(paths, json_string(val));
            else if (strcmp(key, "expand") == 0)
                *expand = strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
            free(val);
            free(key);
        }
        i = end + 1;
    }
    return paths;
}

void sl_h_hf_paths_info(struct sl_req *q)
{
    struct sl_error err;
    json_t *all, *want, *out, *e, *w;
    json_t *last = NULL;
    bool expand = false;
    size_t i, k;

    if (!listing_allowed(q))
        return;
    all = hf_tree(q, NULL, true, &err);
    if (!all) {
        sl_reply_error(q, &err);
        return;
    }
    want = requested_paths(q, &expand);
    out = json_array();
    if (expand) {
        /* The Hub names the commit that last touched each path; here every
         * file of a version belongs to that version's commit. */
        char ts[40], title[64];
        struct tm tm;
        time_t t = (time_t)q->v.created;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        char commit[65];
        bool marked = false;
        struct sl_error ignore;
        snprintf(title, sizeof(title), "version %lld", (long long)q->v.seq);
        /* a licensee's copy is known by its own commit id (model info's
         * sha, X-Repo-Commit): the JS client keeps the snapshot under it */
        if (sl_reg_copy_commit(q->srv->r, &q->who, &q->v, commit, &marked, &ignore) != SL_OK)
            snprintf(commit, sizeof(commit), "%s", q->v.commit);
        last = json_pack("{s:s, s:s, s:s}", "id", commit, "title", title, "date", ts);
    }
    json_array_foreach(want, k, w)
    {
        json_array_foreach(all, i, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "path")), json_string_value(w)) == 0) {
                if (last)
                    json_object_set(e, "lastCommit", last);
                json_array_append(out, e);
            }
        }
    }
    json_decref(last);
    json_decref(want);
    json_decref(all);
    sl_reply_json(q, 200, out);
}

void sl_h_file_store(struct sl_req *q)
{
    const char *size_text = sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "size");
    const char *session =
        sl_mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "session");
    unsigned char sha[32], sid[16];
    char *end;
    unsigned long long size;
    struct sl_error err;
    uint64_t reread = 0;
    bool created;

    if (!sl_unhex(q->sha, strlen(q->sha), sha, 32)) {
        sl_reply_status(q, 400, "bad_request", "the file's SHA-256 must be 64 hex digits");
        return;
    }
    if (!size_text || !*size_text) {
        sl_reply_status(q, 400, "bad_request", "give the file's size: ?size=BYTES");
        return;
    }
    size = strtoull(size_text, &end, 10);
    if (*end || size > (1ULL << 50)) {
        sl_reply_status(q, 400, "bad_request", "?size must be a number of bytes");
        return;
    }
    if (q->body.len % 32 != 0) {
        sl_reply_status(q, 400, "bad_request",
                        "the body must be the file's chunk ids, 32 raw bytes each (got %zu bytes)",
                        q->body.len);
        return;
    }
    if (session && !sl_unhex(session, strlen(session), sid, sizeof(sid))) {
        sl_reply_status(q, 400, "bad_request",
                        "?session must be the 32 hex digits the chunk uploads named in ?file");
        return;
    }
    sl_error_clear(&err);
    if (sl_reg_file_store(q->srv->r, &q->who, q->org_id, sha, size,
                          (const unsigned char(*)[32])q->body.data, q->body.len / 32,
                          session ? sid : NULL, &created, &reread, &err) != SL_OK) {
        sl_reply_error(q, &err);
        return;
    }
    /* reread: bytes read back from the packs to check the SHA-256 (the
     * rest was hashed as the chunks arrived) */
    sl_reply_json(q, created ? 201 : 200,
                  json_pack("{s:s, s:I, s:b, s:I}", "sha256", q->sha, "size", (json_int_t)size,
                            "created", created, "reread", (json_int_t)reread));
}
