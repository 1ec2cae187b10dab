/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded on first use (curl.h). Linking libcurl costs every process
 * start about 4 ms (its TLS stack and dependencies are mapped and relocated),
 * and most sluice commands never touch the network, so the client commands
 * and the S3 store load it with dlopen when they first need it and call it
 * through a table of function pointers. The header gives the types and
 * constants at build time.
 */
#include "common/curl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

/* The sonames of the Debian packages libcurl4 (OpenSSL) and libcurl3-gnutls,
 * which share one ABI. */
static const char *const sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};

#define SYM(field, name)                                                                           \
    {                                                                                              \
        name, offsetof(struct sl_curl_api, field)                                                  \
    }

static const struct {
    const char *name;
    size_t off;
} syms[] = {
    SYM(global_init, "curl_global_init"),
    SYM(version_info, "curl_version_info"),
    SYM(easy_init, "curl_easy_init"),
    SYM(easy_setopt, "curl_easy_setopt"),
    SYM(easy_perform, "curl_easy_perform"),
    SYM(easy_getinfo, "curl_easy_getinfo"),
    SYM(easy_cleanup, "curl_easy_cleanup"),
    SYM(easy_reset, "curl_easy_reset"),
    SYM(easy_strerror, "curl_easy_strerror"),
    SYM(slist_append, "curl_slist_append"),
    SYM(slist_free_all, "curl_slist_free_all"),
    SYM(multi_init, "curl_multi_init"),
    SYM(multi_add_handle, "curl_multi_add_handle"),
    SYM(multi_remove_handle, "curl_multi_remove_handle"),
    SYM(multi_perform, "curl_multi_perform"),
    SYM(multi_poll, "curl_multi_poll"),
    SYM(multi_info_read, "curl_multi_info_read"),
    SYM(multi_cleanup, "curl_multi_cleanup"),
    SYM(multi_strerror, "curl_multi_strerror"),
    SYM(easy_pause, "curl_easy_pause"),
};

static struct sl_curl_api api;
static bool loaded;
static unsigned version_num;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static enum sl_err load(struct sl_error *err)
{
    void *lib = NULL;
    char why[256] = "";
    curl_version_info_data *vi;

    if (loaded)
        return SL_OK;
    for (size_t i = 0; i < sizeof(sonames) / sizeof(sonames[0]) && !lib; i++) {
        lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
        /* dlerror's text is overwritten by the next call: keep the first. */
        if (!lib && !why[0]) {
            const char *e = dlerror();
            snprintf(why, sizeof(why), "%s", e ? e : "not found");
        }
    }
    if (!lib)
        return sl_error_set(err, SL_EIO,
                            "cannot load libcurl (%s); the client commands and the S3 store need "
                            "it: install the libcurl4 package",
                            why);
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *p = dlsym(lib, syms[i].name);
        if (!p) {
            dlclose(lib);
            return sl_error_set(err, SL_EIO,
                                "the libcurl found lacks %s; sluice needs libcurl 7.66 or newer",
                                syms[i].name);
        }
        /* POSIX guarantees data and function pointers convert; memcpy keeps
         * ISO C quiet about it. */
        memcpy((char *)&api + syms[i].off, &p, sizeof(p));
    }
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        dlclose(lib);
        return sl_error_set(err, SL_EIO, "libcurl failed to initialise");
    }
    vi = api.version_info(CURLVERSION_NOW);
    if (!vi || vi->version_num < 0x074200) {
        dlclose(lib);
        return sl_error_set(err, SL_EIO, "libcurl %s is too old; sluice needs 7.66 or newer",
                            vi && vi->version ? vi->version : "(unknown)");
    }
    /* The library stays loaded for the life of the process. */
    version_num = vi->version_num;
    loaded = true;
    return SL_OK;
}

enum sl_err sl_curl_load(const struct sl_curl_api **out, struct sl_error *err)
{
    enum sl_err rc;

    pthread_mutex_lock(&load_lock);
    rc = load(err);
    pthread_mutex_unlock(&load_lock);
    if (!rc)
        *out = &api;
    return rc;
}

bool sl_curl_at_least(unsigned num)
{
    return loaded && version_num >= num;
}
