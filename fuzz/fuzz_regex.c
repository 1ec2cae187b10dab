/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the hosted filters' regular-expression engine (common/regex.c):
 * the pattern compiler and the matcher. The first byte chooses the flags
 * and where the text is cut in two, the bytes up to the first NUL are the
 * pattern, the rest the text. A refused pattern must say where; a compiled
 * one must fit the program cap and match the text fed whole and fed in two
 * pieces alike; a literal ASCII pattern must agree with memmem.
 */
#include <stdlib.h>
#include <string.h>

#include "common/regex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ascii(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 0x80)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *pat, *nul, *text;
    size_t pn, tn, cut;
    unsigned flags;
    struct sl_re *re = NULL;
    struct sl_re_run *run;
    struct sl_error err;
    size_t pos = 0;
    enum sl_err rc;
    bool whole, pieces;

    if (size < 1)
        return 0;
    flags = data[0] & (SL_RE_ICASE | SL_RE_LITERAL);
    pat = data + 1;
    nul = memchr(pat, 0, size - 1);
    pn = nul ? (size_t)(nul - pat) : size - 1;
    text = nul ? nul + 1 : pat + pn;
    tn = size - 1 - pn - (nul ? 1 : 0);
    cut = tn ? (data[0] >> 2) % (tn + 1) : 0;

    rc = sl_re_compile((const char *)pat, pn, flags, &re, &pos, &err);
    if (rc != SL_OK) {
        if (re || (rc != SL_EINPUT && rc != SL_ELIMIT) || err.msg[0] == '\0')
            abort();
        if (pn > 0 && pn <= SL_RE_PATTERN_MAX && (pos > pn || !strstr(err.msg, "at offset")))
            abort();
        return 0;
    }
    if (sl_re_size(re) > SL_RE_PROG_MAX)
        abort();
    whole = sl_re_search(re, (const char *)text, tn);
    run = sl_re_run_new(re);
    if (!run)
        abort();
    sl_re_run_feed(run, (const char *)text, cut);
    sl_re_run_feed(run, (const char *)text + cut, tn - cut);
    pieces = sl_re_run_end(run);
    sl_re_run_free(run);
    if (whole != pieces)
        abort();
    if (flags == SL_RE_LITERAL && ascii(pat, pn) && ascii(text, tn) &&
        whole != (memmem(text, tn, pat, pn) != NULL))
        abort();
    sl_re_free(re);
    return 0;
}
