/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the parsers of the governance documents (tlog/govdoc.h): licenses,
 * evaluator attestations and the revocation list, which clients read from
 * the server and from files. The first byte picks the document. The parsers
 * are strict, so a document they accept must format back to a text that
 * parses to the same fields, and that text must be the input itself: one
 * spelling per document. Either failing aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "tlog/govdoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen || memcmp(a, b, alen) != 0)
        abort();
}

static void license(const char *s, size_t n)
{
    struct sl_license l, again;
    char *text;

    memset(&l, 0, sizeof(l));
    if (sl_license_parse(s, n, &l, NULL) != SL_OK)
        return;
    text = sl_license_text(&l, NULL);
    if (!text)
        abort();
    memset(&again, 0, sizeof(again));
    if (sl_license_parse(text, strlen(text), &again, NULL) != SL_OK ||
        memcmp(&l, &again, sizeof(l)) != 0)
        abort();
    same_or_abort(text, strlen(text), s, n);
    free(text);
}

static void attestation(const char *s, size_t n)
{
    struct sl_attestation a, again;
    char *text;

    memset(&a, 0, sizeof(a));
    if (sl_attestation_parse(s, n, &a, NULL) != SL_OK)
        return;
    text = sl_attestation_text(&a, NULL);
    if (!text)
        abort();
    memset(&again, 0, sizeof(again));
    if (sl_attestation_parse(text, strlen(text), &again, NULL) != SL_OK ||
        memcmp(&a, &again, sizeof(a)) != 0)
        abort();
    same_or_abort(text, strlen(text), s, n);
    free(text);
}

static void revocations(const char *s, size_t n)
{
    char origin[256], origin2[256];
    int64_t updated, updated2;
    struct sl_revocation *r = NULL, *r2 = NULL;
    size_t count, count2;
    char *text;

    if (sl_revocations_parse(s, n, origin, &updated, &r, &count, NULL) != SL_OK)
        return;
    text = sl_revocations_text(origin, updated, r, count, NULL);
    if (!text)
        abort();
    if (sl_revocations_parse(text, strlen(text), origin2, &updated2, &r2, &count2, NULL) != SL_OK ||
        strcmp(origin, origin2) != 0 || updated != updated2 || count != count2)
        abort();
    for (size_t i = 0; i < count; i++)
        if (strcmp(r[i].id, r2[i].id) != 0 || r[i].revoked != r2[i].revoked)
            abort();
    same_or_abort(text, strlen(text), s, n);
    free(text);
    free(r);
    free(r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s;

    if (size == 0)
        return 0;
    s = (const char *)data + 1;
    switch (data[0] % 4) {
    case 0:
        license(s, size - 1);
        break;
    case 1:
        attestation(s, size - 1);
        break;
    case 2:
        revocations(s, size - 1);
        break;
    default: /* the time syntax every document uses */
    {
        char *t = malloc(size);
        int64_t v;
        memcpy(t, s, size - 1);
        t[size - 1] = '\0';
        if (sl_gov_parse_time(t, &v)) {
            char buf[32];
            int64_t v2;
            if (!sl_gov_parse_time(sl_gov_time(v, buf), &v2) || v2 != v)
                abort();
        }
        (void)sl_gov_text_ok(t, 2000);
        free(t);
        break;
    }
    }
    return 0;
}
