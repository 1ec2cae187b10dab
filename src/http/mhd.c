/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dlopen shim for libmicrohttpd (mhd.h).
 */
#include "http/mhd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

const struct sl_mhd_api *sl_mhd;
static struct sl_mhd_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[300];

/* dlsym returns void *; converting through memcpy keeps ISO C happy about
 * object-to-function pointer conversion. */
#define BIND(field, sym)                                                                           \
    do {                                                                                           \
        void *p_ = dlsym(h, sym);                                                                  \
        if (!p_) {                                                                                 \
            snprintf(load_error, sizeof(load_error), "libmicrohttpd lacks %s", sym);               \
            return;                                                                                \
        }                                                                                          \
        memcpy(&api.field, &p_, sizeof(p_));                                                       \
    } while (0)

static void load(void)
{
    void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);

    if (!h) {
        snprintf(load_error, sizeof(load_error), "%s", dlerror());
        return;
    }
    BIND(start_daemon, "MHD_start_daemon");
    BIND(stop_daemon, "MHD_stop_daemon");
    BIND(quiesce_daemon, "MHD_quiesce_daemon");
    BIND(get_daemon_info, "MHD_get_daemon_info");
    BIND(create_response_from_buffer, "MHD_create_response_from_buffer");
    BIND(create_response_from_callback, "MHD_create_response_from_callback");
    BIND(add_response_header, "MHD_add_response_header");
    BIND(queue_response, "MHD_queue_response");
    BIND(destroy_response, "MHD_destroy_response");
    BIND(lookup_connection_value, "MHD_lookup_connection_value");
    BIND(get_connection_info, "MHD_get_connection_info");
    BIND(set_connection_option, "MHD_set_connection_option");
    BIND(suspend_connection, "MHD_suspend_connection");
    BIND(resume_connection, "MHD_resume_connection");
    BIND(get_connection_values, "MHD_get_connection_values");
    sl_mhd = &api;
}

enum sl_err sl_mhd_load(struct sl_error *err)
{
    pthread_once(&once, load);
    if (!sl_mhd)
        return sl_error_set(err, SL_EUNSUPPORTED,
                            "cannot load libmicrohttpd (%s): install the Debian package "
                            "libmicrohttpd12",
                            load_error);
    return SL_OK;
}
