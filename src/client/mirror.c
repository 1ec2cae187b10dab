/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream side of a pull-through mirror (docs/mirror.md): one request
 * sent on as it came (any status is an answer), and one file of an open or
 * click version fetched into the mirror's store by the delta pull, so only
 * chunks no stored file holds cross the link and every file is verified.
 * The serving side is src/http/mirror.c; `sluice serve` joins the two.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "common/buf.h"
#include "common/util.h"
#include "common/banned.h"

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    struct sl_buf *b = ud;

    if (sl_buf_add(b, p, size * n) != SL_OK)
        return 0; /* over the cap: stops the transfer */
    return size * n;
}

enum sl_err sl_client_mirror_request(const char *url, const char *token, const char *method,
                                     const char *path, const char *ctype, const char *body,
                                     size_t blen, size_t max, long *status, char **out, size_t *len,
                                     char *out_ctype, size_t ctype_cap, struct sl_error *err)
{
    struct sl_client *cl = NULL;
    const struct sl_curl_api *c;
    struct sl_buf resp = SL_BUF_INIT(max);
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *full = NULL, *hdr = NULL, *ct = NULL;
    CURLcode cc;
    enum sl_err rc = sl_client_new(url, token, &cl, err);

    if (rc)
        goto out;
    c = cl->c;
    full = sl_xasprintf("%s%s", cl->url, path);
    hdr = body ? sl_xasprintf("Content-Type: %s", ctype ? ctype : "application/json") : NULL;
    sl__cl_http_setup(cl, cl->easy, full, &headers, hdr, 30);
    c->easy_setopt(cl->easy, CURLOPT_CONNECTTIMEOUT, 5L);
    c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, errbuf);
    c->easy_setopt(cl->easy, CURLOPT_WRITEFUNCTION, collect);
    c->easy_setopt(cl->easy, CURLOPT_WRITEDATA, &resp);
    if (body) {
        c->easy_setopt(cl->easy, CURLOPT_POSTFIELDS, body);
        c->easy_setopt(cl->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    if (strcmp(method, "GET") == 0)
        c->easy_setopt(cl->easy, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        c->easy_setopt(cl->easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") != 0 || !body)
        c->easy_setopt(cl->easy, CURLOPT_CUSTOMREQUEST, method);
    cc = c->easy_perform(cl->easy);
    if (cc == CURLE_WRITE_ERROR) {
        rc = sl_error_set(err, SL_ELIMIT, "%s %s: the upstream's answer is larger than %zu bytes",
                          method, path, max);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = sl__cl_http_curl_error(cl, cc, errbuf, err);
        goto out;
    }
    c->easy_getinfo(cl->easy, CURLINFO_RESPONSE_CODE, status);
    c->easy_getinfo(cl->easy, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(out_ctype, ctype_cap, "%s", ct ? ct : "application/octet-stream");
    *out = sl_buf_detach(&resp, len);
out:
    if (cl)
        cl->c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, NULL);
    if (headers)
        cl->c->slist_free_all(headers);
    sl_buf_release(&resp);
    free(hdr);
    free(full);
    sl_client_free(cl);
    return rc;
}

/* A manifest path as an --include pattern that matches only itself: the
 * Hugging Face rules have no escape character, so each of * ? [ becomes a
 * one-character class. */
static char *exact_pattern(const char *path)
{
    struct sl_buf b = SL_BUF_INIT(4 * SL_PATH_MAX_LEN + 8);

    for (const char *p = path; *p; p++) {
        if (*p == '*' || *p == '?' || *p == '[') {
            char cls[4] = {'[', *p, ']', '\0'};
            sl_buf_adds(&b, cls);
        } else {
            sl_buf_add(&b, p, 1);
        }
    }
    return sl_buf_detach(&b, NULL);
}

enum sl_err sl_client_mirror_fetch(const char *url, const char *token, const char *org,
                                   const char *name, const char *commit, const char *path,
                                   const char *store, json_t **result, struct sl_error *err)
{
    struct sl_client *cl = NULL;
    struct sl_pull_opts o;
    char *dest = sl_xasprintf("%s/files/%s/%s/%s", store, org, name, commit);
    char *seed = sl_xasprintf("%s/files/%s/%s", store, org, name);
    char *cache = sl_xasprintf("%s/scan-cache", store);
    char *pat = exact_pattern(path);
    const char *include[1] = {pat};
    const char *seeds[1] = {seed};
    json_t *res = NULL;
    const char *tier;
    enum sl_err rc = sl_client_new(url, token, &cl, err);

    if (rc)
        goto out;
    sl_client_set_transfer(cl, 0, 60.0);
    memset(&o, 0, sizeof(o));
    o.org = org;
    o.name = name;
    o.rev = commit;
    o.dest = dest;
    o.cache_dir = cache;
    o.seeds = seeds;
    o.nseeds = 1;
    o.include = include;
    o.ninclude = 1;
    rc = sl_client_pull(cl, &o, &res, err);
    if (rc)
        goto out;
    tier = json_string_value(json_object_get(res, "tier"));
    if (!tier || (strcmp(tier, "open") != 0 && strcmp(tier, "click") != 0)) {
        /* The caller checked the tier first; a version that changed tier
         * meanwhile is not kept either. */
        char *f = sl_path_join(dest, path);
        remove(f);
        free(f);
        rc = sl_error_set(err, SL_EFORBIDDEN,
                          "%s/%s@%s is %s: a mirror keeps only open and click "
                          "versions",
                          org, name, commit, tier ? tier : "of no known tier");
        goto out;
    }
    *result = res;
    res = NULL;
out:
    json_decref(res);
    sl_client_free(cl);
    free(pat);
    free(cache);
    free(seed);
    free(dest);
    return rc;
}
