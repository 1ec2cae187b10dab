/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One error enum for all of sluice, generated from one X-macro table (libuv's
 * UV_ERRNO_MAP). Fallible functions return an enum sl_err and, when the caller
 * passes a struct sl_error, a one-line message a person can act on.
 */
#ifndef SL_COMMON_ERR_H
#define SL_COMMON_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* X(NAME, exit code of the CLI, short description) */
#define SL_ERRNO_MAP(X)                                                                            \
    X(OK, 0, "ok")                                                                                 \
    X(NOMEM, 3, "out of memory")                                                                   \
    X(USAGE, 2, "bad usage")                                                                       \
    X(INPUT, 2, "bad input")                                                                       \
    X(LIMIT, 2, "over a limit")                                                                    \
    X(UNSUPPORTED, 2, "unsupported")                                                               \
    X(NOTFOUND, 1, "not found")                                                                    \
    X(REFUSED, 1, "refused")                                                                       \
    X(IO, 3, "local input/output failure")                                                         \
    X(NOSPACE, 3, "no space left on the device")                                                   \
    X(AUTH, 1, "not authenticated")                                                                \
    X(FORBIDDEN, 1, "forbidden")                                                                   \
    X(CONFLICT, 1, "conflict")                                                                     \
    X(UNREACHABLE, 3, "server unreachable")                                                        \
    X(UNAVAILABLE, 3, "temporarily unavailable, try again")                                        \
    X(INTERNAL, 1, "internal error")

enum sl_err {
#define SL__ERR_ENUM(name, code, text) SL_E##name,
    SL_ERRNO_MAP(SL__ERR_ENUM)
#undef SL__ERR_ENUM
};

#define SL_OK SL_EOK

/* Describes an error. Filled by sl_error_set(); `kind` is a stable machine-readable
 * name for the failure (for example "InvalidOffset" for safetensors, the variant the
 * reference reader uses), or NULL. */
struct sl_error {
    enum sl_err code;
    const char *kind;
    char msg[512];
};

/* Returns the enum's name of `code` ("IO", "NOTFOUND"), for metrics and
 * logs; never NULL. */
const char *sl_err_name(enum sl_err code);

/* Returns the short description of `code`; never NULL. */
const char *sl_strerror(enum sl_err code);

/* Returns the exit code the CLI uses for `code` (0 done, 1 refused or failed,
 * 2 bad usage or bad input, 3 server unreachable or local I/O failure). */
int sl_err_exit_code(enum sl_err code);

/* Records `code` and a printf-style message in `e` (which may be NULL) and
 * returns `code`, so callers can write `return sl_error_set(e, ...)`. */
enum sl_err sl_error_set(struct sl_error *e, enum sl_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like sl_error_set() but also records a stable `kind` name. */
enum sl_err sl_error_setk(struct sl_error *e, enum sl_err code, const char *kind, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

/* Prefixes the message already in `e` with "prefix: " (for example a file name). */
void sl_error_prefix(struct sl_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears `e` to SL_OK with an empty message. */
void sl_error_clear(struct sl_error *e);

#endif
