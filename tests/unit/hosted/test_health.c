/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hosted/health and hosted/pool: what a call's outcome does to a backend's
 * state, the gauge's text, the published snapshot read back (fresh, stale,
 * missing, garbage), the backend URL for a path, and the pool of backend
 * connections (same backend gets its pair back, another does not, the caps).
 * Each test runs in its own process, so the process-wide tables start empty.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "hosted/health.h"
#include "hosted/pool.h"

/* A backend with id `id` at a URL of its own. */
static struct sl_hosted_backend be(int64_t id)
{
    struct sl_hosted_backend b;

    memset(&b, 0, sizeof(b));
    b.id = id;
    b.model_id = 1;
    b.created = 1760000000;
    snprintf(b.url, sizeof(b.url), "http://127.0.0.1:%d/v1", (int)(9000 + id));
    return b;
}

Test(health, unknown_backends_are_up)
{
    struct sl_hosted_backend B7 = be(7);

    cr_assert_not(sl_hosted_backend_down(&B7));
}

Test(health, a_failed_call_marks_down_and_a_good_one_up)
{
    struct sl_hosted_backend B7 = be(7), B8 = be(8);

    sl_hosted_health_note(&B7, SL_HOSTED_BROKEN, "a call: answered HTTP 500");
    cr_assert(sl_hosted_backend_down(&B7));
    cr_assert_not(sl_hosted_backend_down(&B8), "only that backend");
    sl_hosted_health_note(&B7, SL_HOSTED_OK, NULL);
    cr_assert_not(sl_hosted_backend_down(&B7));
    sl_hosted_health_note(&B7, SL_HOSTED_UNREACHABLE, "a call: Couldn't connect to server");
    cr_assert(sl_hosted_backend_down(&B7));
}

Test(health, only_a_backend_that_did_not_answer_is_silent)
{
    struct sl_hosted_backend B5 = be(5), B6 = be(6), B99 = be(99);

    sl_hosted_health_note(&B5, SL_HOSTED_UNREACHABLE, "a call: Couldn't connect to server");
    cr_assert(sl_hosted_backend_down(&B5));
    cr_assert_not(sl_hosted_backend_silent(&B5), "a refused connection fails fast");
    sl_hosted_health_note(&B5, SL_HOSTED_SILENT, "a call: no answer within 2000 ms");
    cr_assert(sl_hosted_backend_silent(&B5));
    sl_hosted_health_note(&B5, SL_HOSTED_BROKEN, "a call: answered HTTP 500");
    cr_assert_not(sl_hosted_backend_silent(&B5));
    sl_hosted_health_note(&B6, SL_HOSTED_SILENT, "a call: no answer within 2000 ms");
    sl_hosted_health_note(&B6, SL_HOSTED_OK, NULL);
    cr_assert_not(sl_hosted_backend_silent(&B6), "it answered");
    cr_assert_not(sl_hosted_backend_silent(&B99), "never seen");
}

Test(health, an_id_given_to_another_backend_starts_afresh)
{
    struct sl_hosted_backend old = be(12), new = be(12);

    /* SQLite hands a removed backend's id to the next one added */
    snprintf(new.url, sizeof(new.url), "http://10.0.0.9:8080/v1");
    sl_hosted_health_note(&old, SL_HOSTED_SILENT, "a call: no answer within 2000 ms");
    cr_assert(sl_hosted_backend_down(&old));
    cr_assert_not(sl_hosted_backend_down(&new), "the new backend inherited the old one's state");
    cr_assert_not(sl_hosted_backend_silent(&new));
    new = be(12);
    new.created++;
    cr_assert_not(sl_hosted_backend_down(&new), "same URL, added again: another backend");
}

Test(health, the_gauge_names_ids_only)
{
    struct sl_hosted_backend B3 = be(3), B41 = be(41);

    struct sl_buf b = SL_BUF_INIT(1 << 16);
    const char *text;

    sl_hosted_health_note(&B3, SL_HOSTED_OK, NULL);
    sl_hosted_health_note(&B41, SL_HOSTED_BROKEN, "a call: http://10.1.2.3/v1 answered HTTP 502");
    sl_hosted_health_metrics(&b);
    text = sl_buf_cstr(&b);
    cr_assert(strstr(text, "# TYPE sluice_hosted_backend_up gauge\n"), "%s", text);
    cr_assert(strstr(text, "sluice_hosted_backend_up{backend=\"3\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "sluice_hosted_backend_up{backend=\"41\"} 0\n"), "%s", text);
    cr_assert_null(strstr(text, "10.1.2.3"), "an error message leaked into /metrics");
    sl_buf_release(&b);
}

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/sluice-health-XXXXXX";
    char *d = mkdtemp(tmpl);

    cr_assert_not_null(d);
    return strdup(d);
}

static void write_file(const char *dir, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, SL_HOSTED_HEALTH_FILE);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void cleanup(char *dir)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, SL_HOSTED_HEALTH_FILE);
    unlink(path);
    rmdir(dir);
    free(dir);
}

Test(health, the_snapshot_read_back)
{
    char *dir = tmpdir(), doc[256];
    bool fresh = true;
    json_t *m = sl_hosted_health_load(dir, &fresh);

    /* none written: no state, not fresh */
    cr_assert_not(fresh);
    cr_assert_eq(json_object_size(m), 0);
    json_decref(m);
    /* a fresh one */
    snprintf(doc, sizeof(doc),
             "{\"written\": %lld, \"probe_ms\": 5000, \"backends\": {\"4\": {\"state\": "
             "\"down\", \"fails\": 2}}}",
             (long long)time(NULL));
    write_file(dir, doc);
    m = sl_hosted_health_load(dir, &fresh);
    cr_assert(fresh);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "4"), "state")), "down");
    json_decref(m);
    /* three rounds old: its server is gone */
    snprintf(doc, sizeof(doc),
             "{\"written\": %lld, \"probe_ms\": 5000, \"backends\": {\"4\": {\"state\": "
             "\"down\"}}}",
             (long long)time(NULL) - 30);
    write_file(dir, doc);
    m = sl_hosted_health_load(dir, &fresh);
    cr_assert_not(fresh);
    cr_assert_eq(json_object_size(m), 0);
    json_decref(m);
    /* garbage, and a document of the wrong shape */
    write_file(dir, "{\"written\": ");
    m = sl_hosted_health_load(dir, &fresh);
    cr_assert_not(fresh);
    cr_assert_eq(json_object_size(m), 0);
    json_decref(m);
    write_file(dir, "[1, 2]");
    m = sl_hosted_health_load(dir, &fresh);
    cr_assert_not(fresh);
    json_decref(m);
    cleanup(dir);
}

Test(health, a_published_state_is_only_its_own_backends)
{
    struct sl_hosted_backend b = be(4);
    json_t *loaded = json_pack("{s:{s:s, s:s}, s:{s:s}}", "4", "state", "down", "ident",
                               "0123456789abcdef", "5", "state", "down");

    /* a state published for another backend that had the id, or for one
     * of an older server that said nothing of identity: not this one's */
    cr_assert_null(sl_hosted_health_of(loaded, &b));
    b.id = 5;
    cr_assert_null(sl_hosted_health_of(loaded, &b));
    b.id = 6;
    cr_assert_null(sl_hosted_health_of(loaded, &b));
    json_decref(loaded);
}

Test(health, the_endpoint_of_a_base)
{
    struct sl_hosted_backend b;
    const char *bases[] = {"http://h:1/v1", "http://h:1/v1/", "http://h:1", "http://h:1/"};

    memset(&b, 0, sizeof(b));
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        char *u;
        snprintf(b.url, sizeof(b.url), "%s", bases[i]);
        u = sl__hosted_endpoint(&b, "/models");
        cr_assert_str_eq(u, "http://h:1/v1/models", "%s", bases[i]);
        free(u);
    }
    snprintf(b.url, sizeof(b.url), "http://h:1/api/v1");
    {
        char *u = sl__hosted_endpoint(&b, "/chat/completions");
        cr_assert_str_eq(u, "http://h:1/api/v1/chat/completions");
        free(u);
    }
}

static const struct sl_curl_api *curl_api(void)
{
    const struct sl_curl_api *cu = NULL;
    struct sl_error err;

    sl_error_clear(&err);
    cr_assert_eq(sl_curl_load(&cu, &err), SL_OK, "%s", err.msg);
    return cu;
}

Test(pool, a_backend_gets_its_own_pair_back)
{
    const struct sl_curl_api *cu = curl_api();
    struct sl_hosted_conn *a = sl_hosted_conn_take(cu, 1), *b = sl_hosted_conn_take(cu, 2), *k;

    cr_assert_neq(a, b);
    cr_assert_eq(a->backend_id, 1);
    sl_hosted_conn_give(cu, a);
    k = sl_hosted_conn_take(cu, 2);
    cr_assert_neq(k, a, "backend 2 was given backend 1's connection");
    sl_hosted_conn_give(cu, k);
    k = sl_hosted_conn_take(cu, 1);
    cr_assert_eq(k, a, "backend 1's pair was not kept");
    sl_hosted_conn_give(cu, k);
    sl_hosted_conn_give(cu, b);
    sl_hosted_conn_drain();
    k = sl_hosted_conn_take(cu, 1);
    cr_assert_neq(k, a, "drained pairs came back");
    sl_hosted_conn_give(cu, k);
    sl_hosted_conn_drain();
}

Test(pool, at_most_so_many_idle)
{
    const struct sl_curl_api *cu = curl_api();
    struct sl_hosted_conn *k[SL_HOSTED_POOL_PER_BACKEND + 4];
    size_t n = sizeof(k) / sizeof(k[0]);

    for (size_t i = 0; i < n; i++)
        k[i] = sl_hosted_conn_take(cu, 9);
    cr_assert_eq(sl_hosted_conn_idle(9), 0);
    for (size_t i = 0; i < n; i++)
        sl_hosted_conn_give(cu, k[i]);
    cr_assert_eq(sl_hosted_conn_idle(9), SL_HOSTED_POOL_PER_BACKEND);
    /* and in all, over several backends */
    for (int64_t id = 10; id < 16; id++) {
        for (size_t i = 0; i < n; i++)
            k[i] = sl_hosted_conn_take(cu, id);
        for (size_t i = 0; i < n; i++)
            sl_hosted_conn_give(cu, k[i]);
    }
    cr_assert_eq(sl_hosted_conn_idle(0), SL_HOSTED_POOL_MAX);
    cr_assert_leq(sl_hosted_conn_idle(9), SL_HOSTED_POOL_PER_BACKEND);
    sl_hosted_conn_drain();
    cr_assert_eq(sl_hosted_conn_idle(0), 0);
}
