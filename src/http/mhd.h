/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd, loaded on first use. Linking it would make every sluice
 * process pay for loading it and GnuTLS (about 1 ms, measured), including the
 * offline commands that never serve; so `sluice serve` dlopens it and calls
 * it through this table. Types and constants come from <microhttpd.h>.
 */
#ifndef SL_HTTP_MHD_H
#define SL_HTTP_MHD_H

#include <microhttpd.h>

#include "common/err.h"

struct sl_mhd_api {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *d);
    MHD_socket (*quiesce_daemon)(struct MHD_Daemon *d);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *d, enum MHD_DaemonInfoType t,
                                                   ...);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    struct MHD_Response *(*create_response_from_callback)(uint64_t size, size_t block_size,
                                                          MHD_ContentReaderCallback crc,
                                                          void *crc_cls,
                                                          MHD_ContentReaderFreeCallback crfc);
    enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *h, const char *v);
    enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status,
                                      struct MHD_Response *r);
    void (*destroy_response)(struct MHD_Response *r);
    const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind k,
                                           const char *key);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *c,
                                                           enum MHD_ConnectionInfoType t, ...);
    enum MHD_Result (*set_connection_option)(struct MHD_Connection *c, enum MHD_CONNECTION_OPTION o,
                                             ...);

    /* streaming answers that wait for data (the hosted gateway) */
    void (*suspend_connection)(struct MHD_Connection *c);
    void (*resume_connection)(struct MHD_Connection *c);

    /* every value of a kind, repeated keys included (lookup gives the first) */
    int (*get_connection_values)(struct MHD_Connection *c, enum MHD_ValueKind k,
                                 MHD_KeyValueIterator it, void *cls);
};

/* The loaded functions, or NULL before sl_mhd_load() succeeds. */
extern const struct sl_mhd_api *sl_mhd;

/* Loads libmicrohttpd once; SL_EUNSUPPORTED with an install hint when it is
 * missing. */
enum sl_err sl_mhd_load(struct sl_error *err);

#endif
