/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The S3 blob store against a real S3 server (moto, started by
 * tests/integration/with_s3.py, which CTest runs this binary under): put,
 * ranged reads, list, delete, stat, multipart uploads, retries through a
 * proxy that answers 503 SlowDown, and the errors a careless operator meets.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../helpers.h"
#include "crypto/crypto.h"
#include "store/store.h"

static const char *need(const char *name)
{
    const char *v = getenv(name);

    if (!v || !v[0])
        cr_assert_fail("%s is not set: run this binary under tests/integration/with_s3.py, which "
                       "starts the moto S3 server (CTest does)",
                       name);
    return v;
}

/* Points the AWS variables at `endpoint` (or the moto server). */
static void aws_env(const char *endpoint)
{
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL_S3", endpoint ? endpoint : need("SLUICE_TEST_S3_ENDPOINT"), 1);
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_SESSION_TOKEN");
}

/* "s3://BUCKET/<tag>-<random>" so tests never see each other's objects. */
static char *store_url(const char *tag)
{
    unsigned char r[6];
    char hex[13], *url = malloc(256);

    sl_random(r, sizeof(r));
    sl_hex(r, sizeof(r), hex);
    snprintf(url, 256, "s3://%s/%s-%s", need("SLUICE_TEST_S3_BUCKET"), tag, hex);
    return url;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    return b;
}

static enum sl_err open_store(const char *url, const char *data, const struct sl_store_opts *o,
                              struct sl_store **s, struct sl_error *err)
{
    sl_error_clear(err);
    return sl_store_open(url, data, o, s, err);
}

/* Writes `n` bytes as one pack in `s`; its name goes to `name`. */
static void write_pack(struct sl_store *s, const unsigned char *b, size_t n, char *name)
{
    struct sl_pack_writer *w;
    struct sl_error err;
    uint64_t off;
    size_t done = 0;

    cr_assert_eq(sl_pack_begin(s, &w, &err), SL_OK, "%s", err.msg);
    while (done < n) {
        size_t take = n - done < 100000 ? n - done : 100000;
        cr_assert_eq(sl_pack_append(w, b + done, take, &off, &err), SL_OK, "%s", err.msg);
        cr_assert_eq(off, done);
        done += take;
    }
    cr_assert_eq(sl_pack_seal(w, name, &err), SL_OK, "%s", err.msg);
}

struct seen {
    int packs, foreign;
    char pack[SL_PACK_NAME_LEN + 1];
    uint64_t size;
    char foreign_key[200];
};

static int count(void *arg, const struct sl_store_obj *o)
{
    struct seen *s = arg;

    if (o->pack) {
        s->packs++;
        snprintf(s->pack, sizeof(s->pack), "%s", o->pack);
        s->size = o->size;
        cr_assert(o->mtime > 1700000000, "LastModified parsed: %lld", (long long)o->mtime);
    } else {
        s->foreign++;
        snprintf(s->foreign_key, sizeof(s->foreign_key), "%s", o->key);
    }
    return 0;
}

Test(s3, put_read_stat_list_remove)
{
    char *data = th_tmpdir(), *url = store_url("basic"), name[SL_PACK_NAME_LEN + 1];
    struct sl_store *s;
    struct sl_error err;
    size_t n = 300000;
    unsigned char *b = pattern(n, 1), got[1000];
    uint64_t size = 0;
    struct seen seen = {0};
    char *staged;
    struct stat st;

    aws_env(NULL);
    cr_assert_eq(open_store(url, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_str_eq(s->ops->kind, "s3");
    write_pack(s, b, n, name);
    /* the staged copy is gone once uploaded */
    staged = th_path(s->staging, name);
    cr_assert_neq(stat(staged, &st), 0, "staged pack left behind: %s", staged);
    cr_assert_eq(sl_store_stat(s, name, &size, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(size, n);
    /* a ranged read in the middle and one ending at the last byte */
    cr_assert_eq(sl_store_read(s, 1, name, got, 1000, 123456, &err), SL_OK, "%s", err.msg);
    cr_assert_arr_eq(got, b + 123456, 1000);
    cr_assert_eq(sl_store_read(s, 1, name, got, 10, n - 10, &err), SL_OK, "%s", err.msg);
    cr_assert_arr_eq(got, b + n - 10, 10);
    /* past the end: an error naming the pack, never short bytes */
    cr_assert_eq(sl_store_read(s, 1, name, got, 20, n - 10, &err), SL_EIO);
    cr_assert(strstr(err.msg, name), "%s", err.msg);
    cr_assert_eq(sl_store_read(s, 1, name, got, 10, n + 5, &err), SL_EIO);
    /* list: one pack with its size */
    cr_assert_eq(sl_store_list(s, count, &seen, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(seen.packs, 1);
    cr_assert_eq(seen.foreign, 0);
    cr_assert_str_eq(seen.pack, name);
    cr_assert_eq(seen.size, n);
    /* remove; removing again is fine; then it is gone */
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_store_stat(s, name, &size, &err), SL_ENOTFOUND);
    cr_assert_eq(sl_store_read(s, 1, name, got, 10, 0, &err), SL_EIO);
    cr_assert(strstr(err.msg, "missing"), "%s", err.msg);
    memset(&seen, 0, sizeof(seen));
    cr_assert_eq(sl_store_list(s, count, &seen, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(seen.packs, 0);
    sl_store_free(s);
    free(staged);
    free(b);
    free(url);
    th_rmtree(data);
}

Test(s3, multipart_above_the_part_size, .timeout = 120)
{
    char *data = th_tmpdir(), *url = store_url("multi"), name[SL_PACK_NAME_LEN + 1];
    struct sl_store_opts o = {.part_size = 5u << 20};
    struct sl_store *s;
    struct sl_error err;
    size_t n = (11u << 20) + 12345; /* three parts, the last short */
    unsigned char *b = pattern(n, 2), got[64];
    uint64_t size = 0, edges[] = {0, (5u << 20) - 32, (10u << 20) - 32, n - 64};

    aws_env(NULL);
    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_OK, "%s", err.msg);
    write_pack(s, b, n, name);
    cr_assert_eq(sl_store_stat(s, name, &size, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(size, n);
    /* reads across the part boundaries see the bytes in order */
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        cr_assert_eq(sl_store_read(s, 1, name, got, 64, edges[i], &err), SL_OK, "%s", err.msg);
        cr_assert_arr_eq(got, b + edges[i], 64, "at %llu", (unsigned long long)edges[i]);
    }
    sl_store_free(s);
    free(b);
    free(url);
    th_rmtree(data);
}

Test(s3, objects_of_other_tools_are_listed_as_foreign)
{
    /* with_s3.py put "foreign/README.txt" and "foreign/ab/abcd.pack" (not a
     * pack name) into the bucket */
    char *data = th_tmpdir(), url[256], name[SL_PACK_NAME_LEN + 1];
    struct sl_store *s;
    struct sl_error err;
    struct seen seen = {0};
    unsigned char *b = pattern(1000, 3);

    aws_env(NULL);
    snprintf(url, sizeof(url), "s3://%s/foreign", need("SLUICE_TEST_S3_BUCKET"));
    cr_assert_eq(open_store(url, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    write_pack(s, b, 1000, name);
    cr_assert_eq(sl_store_list(s, count, &seen, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(seen.packs, 1);
    cr_assert_eq(seen.foreign, 2);
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    sl_store_free(s);
    free(b);
    th_rmtree(data);
}

Test(s3, slowdown_answers_are_retried)
{
    /* The proxy answers 503 SlowDown twice to every request under a
     * "fault503-" prefix: with retries every operation still succeeds. */
    char *data = th_tmpdir(), *url = store_url("fault503"), name[SL_PACK_NAME_LEN + 1];
    struct sl_store_opts o = {.attempts = 4};
    struct sl_store *s;
    struct sl_error err;
    unsigned char *b = pattern(5000, 4), got[100];
    uint64_t size;

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_OK, "%s", err.msg);
    write_pack(s, b, 5000, name);
    cr_assert_eq(sl_store_stat(s, name, &size, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(size, 5000);
    cr_assert_eq(sl_store_read(s, 1, name, got, 100, 4900, &err), SL_OK, "%s", err.msg);
    cr_assert_arr_eq(got, b + 4900, 100);
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    sl_store_free(s);
    free(b);
    free(url);
    th_rmtree(data);
}

Test(s3, without_retries_a_slowdown_fails_clearly)
{
    char *data = th_tmpdir(), *url = store_url("fault503");
    struct sl_store_opts o = {.attempts = 1};
    struct sl_store *s = NULL;
    struct sl_error err;

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_EUNREACHABLE);
    cr_assert_null(s);
    cr_assert(strstr(err.msg, "503") && strstr(err.msg, "SlowDown") && strstr(err.msg, url), "%s",
              err.msg);
    free(url);
    th_rmtree(data);
}

Test(s3, a_server_that_keeps_failing_is_given_up_on)
{
    char *data = th_tmpdir(), *url = store_url("always503");
    struct sl_store_opts o = {.attempts = 3};
    struct sl_store *s = NULL;
    struct sl_error err;

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_EUNREACHABLE);
    cr_assert(strstr(err.msg, "gave up"), "%s", err.msg);
    free(url);
    th_rmtree(data);
}

Test(s3, an_unreachable_endpoint_names_the_url_and_cause)
{
    char *data = th_tmpdir();
    struct sl_store *s = NULL;
    struct sl_error err;
    struct sl_store_opts o = {.attempts = 2};

    aws_env("http://127.0.0.1:1");
    cr_assert_eq(open_store("s3://some-bucket/p", data, &o, &s, &err), SL_EUNREACHABLE);
    cr_assert(strstr(err.msg, "s3://some-bucket/p") && strstr(err.msg, "connect"), "%s", err.msg);
    th_rmtree(data);
}

Test(s3, a_missing_bucket_is_named)
{
    char *data = th_tmpdir();
    struct sl_store *s = NULL;
    struct sl_error err;

    aws_env(NULL);
    cr_assert_eq(open_store("s3://no-such-bucket-here/p", data, NULL, &s, &err), SL_EUNREACHABLE);
    cr_assert(strstr(err.msg, "NoSuchBucket") && strstr(err.msg, "s3://no-such-bucket-here/p"),
              "%s", err.msg);
    th_rmtree(data);
}

Test(s3, careless_configuration_is_refused_before_any_request)
{
    char *data = th_tmpdir();
    struct sl_store *s = NULL;
    struct sl_error err;

    aws_env(NULL);
    cr_assert_eq(open_store("s3://Bad_Bucket/p", data, NULL, &s, &err), SL_EUSAGE);
    cr_assert(strstr(err.msg, "bucket name"), "%s", err.msg);
    cr_assert_eq(open_store("s3://good-bucket/a b", data, NULL, &s, &err), SL_EUSAGE);
    cr_assert(strstr(err.msg, "prefix"), "%s", err.msg);
    cr_assert_eq(open_store("s3://good-bucket/a/../b", data, NULL, &s, &err), SL_EUSAGE);
    cr_assert_eq(open_store("gs://bucket", data, NULL, &s, &err), SL_EUSAGE);
    cr_assert(strstr(err.msg, "file:PATH or s3://"), "%s", err.msg);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    cr_assert_eq(open_store("s3://good-bucket/p", data, NULL, &s, &err), SL_EUSAGE);
    cr_assert(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"), "%s", err.msg);
    aws_env("ftp://127.0.0.1:1");
    cr_assert_eq(open_store("s3://good-bucket/p", data, NULL, &s, &err), SL_EUSAGE);
    cr_assert(strstr(err.msg, "http://"), "%s", err.msg);
    cr_assert_null(s);
    th_rmtree(data);
}

Test(s3, aws_endpoint_url_is_used_when_the_s3_one_is_unset)
{
    char *data = th_tmpdir(), *url = store_url("generic");
    struct sl_store *s = NULL;
    struct sl_error err;

    aws_env(NULL);
    setenv("AWS_ENDPOINT_URL", getenv("AWS_ENDPOINT_URL_S3"), 1);
    unsetenv("AWS_ENDPOINT_URL_S3");
    cr_assert_eq(open_store(url, data, NULL, &s, &err), SL_OK, "%s", err.msg);
    sl_store_free(s);
    /* the S3-specific variable wins over the generic one */
    setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1", 1);
    cr_assert_eq(open_store(url, data, &(struct sl_store_opts){.attempts = 1}, &s, &err),
                 SL_EUNREACHABLE);
    free(url);
    th_rmtree(data);
}

/* Runs put, stat, ranged read, list and remove on `url`; fails the test on
 * any error. `big` makes the pack a multipart upload. */
static void round_trip(const char *url, bool big)
{
    char *data = th_tmpdir(), name[SL_PACK_NAME_LEN + 1];
    struct sl_store_opts o = {.part_size = 5u << 20};
    struct sl_store *s;
    struct sl_error err;
    size_t n = big ? (6u << 20) + 7 : 70000;
    unsigned char *b = pattern(n, 9), got[100];
    uint64_t size;
    struct seen seen = {0};

    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_OK, "%s: %s", url, err.msg);
    write_pack(s, b, n, name);
    cr_assert_eq(sl_store_stat(s, name, &size, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(size, n);
    cr_assert_eq(sl_store_read(s, 1, name, got, 100, n - 100, &err), SL_OK, "%s", err.msg);
    cr_assert_arr_eq(got, b + n - 100, 100);
    cr_assert_eq(sl_store_list(s, count, &seen, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(seen.packs, 1);
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    sl_store_free(s);
    free(b);
    th_rmtree(data);
}

Test(s3, every_request_carries_a_valid_sigv4_signature, .timeout = 120)
{
    /* The proxy checks signatures as S3 does (moto does not): canonical
     * query, signed x-amz-* headers, the payload hash of XML bodies. */
    char *url = store_url("sigv4");

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    round_trip(url, false);
    round_trip(url, true);
    /* temporary credentials: the token header is sent and signed */
    setenv("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEBYaDH+token/with=odd+chars", 1);
    round_trip(url, false);
    free(url);
}

Test(s3, a_wrong_secret_is_refused_by_a_checking_server)
{
    char *data = th_tmpdir(), *url = store_url("sigv4");
    struct sl_store *s = NULL;
    struct sl_error err;

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    cr_assert_eq(open_store(url, data, NULL, &s, &err), SL_EUNREACHABLE);
    cr_assert(strstr(err.msg, "403 SignatureDoesNotMatch"), "%s", err.msg);
    cr_assert_null(strstr(err.msg, "not-the-secret"), "%s", err.msg);
    free(url);
    th_rmtree(data);
}

Test(s3, the_region_comes_from_aws_region_then_aws_default_region)
{
    char url[256];

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    setenv("AWS_REGION", "eu-west-3", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    snprintf(url, sizeof(url), "s3://%s/sigv4-wantregion.eu-west-3.-r1",
             need("SLUICE_TEST_S3_BUCKET"));
    round_trip(url, false);
    unsetenv("AWS_REGION");
    snprintf(url, sizeof(url), "s3://%s/sigv4-wantregion.ap-south-1.-r2",
             need("SLUICE_TEST_S3_BUCKET"));
    round_trip(url, false);
    unsetenv("AWS_DEFAULT_REGION");
    snprintf(url, sizeof(url), "s3://%s/sigv4-wantregion.us-east-1.-r3",
             need("SLUICE_TEST_S3_BUCKET"));
    round_trip(url, false);
}

Test(s3, server_errors_throttling_timeouts_and_drops_are_retried, .timeout = 120)
{
    /* each twice per request, then the real answer; 4 attempts by default */
    static const char *const kinds[] = {"fault500", "fault502", "fault504",  "fault429",
                                        "fault400", "drop2",    "fault503x3"};

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char *url = store_url(kinds[i]);
        round_trip(url, false);
        free(url);
    }
}

Test(s3, four_failures_in_a_row_are_one_too_many)
{
    char *data = th_tmpdir(), *url = store_url("fault503x4");
    struct sl_store *s = NULL;
    struct sl_error err;

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    cr_assert_eq(open_store(url, data, NULL, &s, &err), SL_EUNREACHABLE);
    cr_assert(strstr(err.msg, "SlowDown"), "%s", err.msg);
    free(url);
    th_rmtree(data);
}

Test(s3, an_error_inside_a_200_completion_fails_the_upload, .timeout = 60)
{
    char *data = th_tmpdir(), *url = store_url("completeerr");
    struct sl_store_opts o = {.part_size = 5u << 20};
    struct sl_store *s;
    struct sl_error err;
    struct sl_pack_writer *w;
    size_t n = (5u << 20) + 100;
    unsigned char *b = pattern(n, 5);
    char name[SL_PACK_NAME_LEN + 1];
    uint64_t off;
    struct seen seen = {0};

    aws_env(need("SLUICE_TEST_S3_FAULT"));
    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_pack_begin(s, &w, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_pack_append(w, b, n, &off, &err), SL_OK, "%s", err.msg);
    cr_assert_neq(sl_pack_seal(w, name, &err), SL_OK);
    cr_assert(strstr(err.msg, "InternalError"), "%s", err.msg);
    /* nothing named, nothing staged left behind (with_s3.py checks that the
     * upload was aborted) */
    cr_assert_eq(sl_store_list(s, count, &seen, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(seen.packs, 0);
    sl_store_free(s);
    free(b);
    free(url);
    th_rmtree(data);
}

Test(s3, reads_in_any_order_see_the_right_bytes_through_the_read_ahead, .timeout = 120)
{
    /* sequential reads that cross the 4 MiB read-ahead window, reads going
     * backwards, a read bigger than the window, and the last bytes */
    char *data = th_tmpdir(), *url = store_url("ra"), name[SL_PACK_NAME_LEN + 1];
    struct sl_store_opts o = {.part_size = 5u << 20};
    struct sl_store *s;
    struct sl_error err;
    size_t n = (9u << 20) + 333, step = 100003;
    unsigned char *b = pattern(n, 11), *got = malloc(5u << 20);

    aws_env(NULL);
    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_OK, "%s", err.msg);
    write_pack(s, b, n, name);
    for (size_t off = 0; off < n; off += step) {
        size_t take = n - off < step ? n - off : step;
        cr_assert_eq(sl_store_read(s, 1, name, got, take, off, &err), SL_OK, "%s", err.msg);
        cr_assert_arr_eq(got, b + off, take, "at %zu", off);
    }
    for (size_t off = n - 1000; off > (1u << 20); off -= 1u << 20) {
        cr_assert_eq(sl_store_read(s, 1, name, got, 1000, off, &err), SL_OK, "%s", err.msg);
        cr_assert_arr_eq(got, b + off, 1000, "at %zu", off);
    }
    cr_assert_eq(sl_store_read(s, 1, name, got, 5u << 20, 12345, &err), SL_OK, "%s", err.msg);
    cr_assert_arr_eq(got, b + 12345, 5u << 20);
    /* a window ending at the end of the pack does not hide a read past it */
    cr_assert_eq(sl_store_read(s, 1, name, got, 100, n - 100, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(sl_store_read(s, 1, name, got, 101, n - 100, &err), SL_EIO);
    cr_assert_eq(sl_store_remove(s, name, &err), SL_OK, "%s", err.msg);
    sl_store_free(s);
    free(got);
    free(b);
    free(url);
    th_rmtree(data);
}

/* Lists through pages of `page` keys; `url` decides the server. */
static void paged_list(const char *url)
{
    char *data = th_tmpdir(), names[5][SL_PACK_NAME_LEN + 1];
    struct sl_store_opts o = {.list_page = 2};
    struct sl_store *s;
    struct sl_error err;
    struct seen seen = {0};
    unsigned char *b = pattern(3000, 12);

    cr_assert_eq(open_store(url, data, &o, &s, &err), SL_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++)
        write_pack(s, b + i, 1000, names[i]);
    cr_assert_eq(sl_store_list(s, count, &seen, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(seen.packs, 5, "pages lost keys: %d of 5", seen.packs);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sl_store_remove(s, names[i], &err), SL_OK, "%s", err.msg);
    sl_store_free(s);
    free(b);
    th_rmtree(data);
}

Test(s3, a_list_of_many_pages_sees_every_key, .timeout = 60)
{
    char *url = store_url("pages");

    aws_env(NULL);
    paged_list(url);
    free(url);
    /* continuation tokens are signed as S3 wants them (escaped, sorted) */
    url = store_url("sigv4-pages");
    aws_env(need("SLUICE_TEST_S3_FAULT"));
    paged_list(url);
    free(url);
}
