/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error descriptions and the error record helpers declared in err.h.
 */
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

const char *sl_err_name(enum sl_err code)
{
    switch (code) {
#define SL__ERR_NAME(name, exitc, text)                                                            \
    case SL_E##name:                                                                               \
        return #name;
        SL_ERRNO_MAP(SL__ERR_NAME)
#undef SL__ERR_NAME
    }
    return "UNKNOWN";
}

const char *sl_strerror(enum sl_err code)
{
    switch (code) {
#define SL__ERR_TEXT(name, exitc, text)                                                            \
    case SL_E##name:                                                                               \
        return text;
        SL_ERRNO_MAP(SL__ERR_TEXT)
#undef SL__ERR_TEXT
    }
    return "unknown error";
}

int sl_err_exit_code(enum sl_err code)
{
    switch (code) {
#define SL__ERR_EXIT(name, exitc, text)                                                            \
    case SL_E##name:                                                                               \
        return exitc;
        SL_ERRNO_MAP(SL__ERR_EXIT)
#undef SL__ERR_EXIT
    }
    return 1;
}

static void vset(struct sl_error *e, enum sl_err code, const char *kind, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

static void vset(struct sl_error *e, enum sl_err code, const char *kind, const char *fmt,
                 va_list ap)
{
    e->code = code;
    e->kind = kind;
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    /* a message quotes names and request bytes and may be cut inside a
     * character; it goes into JSON answers, which take only UTF-8 */
    sl_utf8_scrub(e->msg);
}

enum sl_err sl_error_set(struct sl_error *e, enum sl_err code, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return code;
    va_start(ap, fmt);
    vset(e, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

enum sl_err sl_error_setk(struct sl_error *e, enum sl_err code, const char *kind, const char *fmt,
                          ...)
{
    va_list ap;

    if (!e)
        return code;
    va_start(ap, fmt);
    vset(e, code, kind, fmt, ap);
    va_end(ap);
    return code;
}

void sl_error_prefix(struct sl_error *e, const char *fmt, ...)
{
    char prefix[256];
    char old[sizeof(e->msg)];
    va_list ap;

    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
}

void sl_error_clear(struct sl_error *e)
{
    if (!e)
        return;
    e->code = SL_OK;
    e->kind = NULL;
    e->msg[0] = '\0';
}
