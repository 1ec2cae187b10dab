/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded with dlopen on first use and called through a table of
 * function pointers. Shared by the client commands (client/) and the S3 store
 * back end (store/s3.c); offline commands start without mapping libcurl.
 */
#ifndef SL_COMMON_CURL_H
#define SL_COMMON_CURL_H

#define CURL_DISABLE_TYPECHECK 1
#define CURL_NO_OLDIES         1
#include <curl/curl.h>

#include <stdbool.h>

#include "common/err.h"

/* The few libcurl functions sluice calls, resolved with dlsym. Types and
 * constants come from <curl/curl.h> at build time. */
struct sl_curl_api {
    CURLcode (*global_init)(long flags);
    curl_version_info_data *(*version_info)(CURLversion v);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *h);
    void (*easy_reset)(CURL *h);
    const char *(*easy_strerror)(CURLcode c);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_perform)(CURLM *m, int *running);
    CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd extra[], unsigned n, int timeout_ms,
                            int *numfds);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_cleanup)(CURLM *m);
    const char *(*multi_strerror)(CURLMcode c);
    CURLcode (*easy_pause)(CURL *h, int bitmask);
};

/* Loads libcurl.so.4 (or libcurl-gnutls.so.4) once and returns the table,
 * which lives as long as the process. Thread-safe, but call it before
 * starting threads that use libcurl (curl_global_init is not thread-safe in
 * older libcurl). Fails with SL_EIO naming what is missing. */
enum sl_err sl_curl_load(const struct sl_curl_api **api, struct sl_error *err);

/* Whether the loaded libcurl is at least version `num` (0xXXYYZZ). */
bool sl_curl_at_least(unsigned num);

#endif
