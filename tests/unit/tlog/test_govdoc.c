/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlog/govdoc: the license note's optional "fingerprint recipient N" line
 * (docs/fingerprint.md): written only for fingerprinted licenses, read back
 * exactly, and every malformed form of it refused with a message.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlog/govdoc.h"

static struct sl_license sample(uint32_t fingerprint)
{
    struct sl_license l;

    memset(&l, 0, sizeof(l));
    snprintf(l.id, sizeof(l.id), "9f2c4e1ab07d3355");
    snprintf(l.model, sizeof(l.model), "acme/big");
    snprintf(l.commit, sizeof(l.commit), "%064d", 7);
    snprintf(l.tier, sizeof(l.tier), "gated");
    snprintf(l.licensee, sizeof(l.licensee), "acct:7d0e5f3a9c1b2e44");
    snprintf(l.purpose, sizeof(l.purpose), "evaluation");
    l.issued = 1795888800;
    l.fingerprint = fingerprint;
    return l;
}

Test(govdoc, license_says_it_is_fingerprinted_and_round_trips)
{
    struct sl_license l = sample(17), back;
    struct sl_error err;
    char *text = sl_license_text(&l, &err);

    cr_assert_not_null(text, "%s", err.msg);
    cr_assert_not_null(strstr(text, "\nexpires never\nuse fingerprinted-copy: "), "%s", text);
    {
        static const char tail[] = "\nfingerprint recipient 17\n";
        size_t n = strlen(text), t = sizeof(tail) - 1;
        cr_assert(n > t && strcmp(text + n - t, tail) == 0, "%s", text);
    }
    cr_assert_eq(sl_license_parse(text, strlen(text), &back, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(back.fingerprint, 17);
    free(text);

    l = sample(UINT32_MAX);
    text = sl_license_text(&l, &err);
    cr_assert_eq(sl_license_parse(text, strlen(text), &back, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(back.fingerprint, UINT32_MAX);
    free(text);
}

Test(govdoc, unfingerprinted_license_has_no_line)
{
    struct sl_license l = sample(0), back;
    struct sl_error err;
    char *text = sl_license_text(&l, &err);

    cr_assert_not_null(text, "%s", err.msg);
    cr_assert_null(strstr(text, "\nfingerprint recipient"), "%s", text);
    cr_assert_eq(sl_license_parse(text, strlen(text), &back, &err), SL_OK, "%s", err.msg);
    cr_assert_eq(back.fingerprint, 0);
    free(text);
}

Test(govdoc, only_gated_licenses_carry_a_fingerprint)
{
    struct sl_license l = sample(17), back;
    struct sl_error err;
    char *text;
    static const char click[] =
        "sluice license v1\nid 9f2c4e1ab07d3355\nmodel acme/big\ncommit "
        "0000000000000000000000000000000000000000000000000000000000000007\ntier click\nlicensee "
        "acct:7d0e5f3a9c1b2e44\npurpose evaluation\nissued 2026-11-28T18:00:00Z\nexpires "
        "never\nfingerprint recipient 17\n";

    snprintf(l.tier, sizeof(l.tier), "click");
    cr_assert_null(sl_license_text(&l, &err));
    cr_assert_eq(err.code, SL_EINPUT);
    cr_assert_eq(sl_license_parse(click, strlen(click), &back, &err), SL_EINPUT);
    l = sample(0);
    snprintf(l.tier, sizeof(l.tier), "click");
    text = sl_license_text(&l, &err);
    cr_assert_not_null(text, "%s", err.msg);
    cr_assert_eq(sl_license_parse(text, strlen(text), &back, &err), SL_OK, "%s", err.msg);
    free(text);
}

Test(govdoc, malformed_fingerprint_lines_are_refused)
{
    static const char *const bad[] = {
        "fingerprint recipient 0\n",
        "fingerprint recipient -1\n",
        "fingerprint recipient 4294967296\n",
        "fingerprint recipient 12x\n",
        "fingerprint recipient\n",
        "fingerprint 17\n",
        "fingerprint recipient 017\n",
        "fingerprints recipient 17\n",
        "fingerprint recipient 17\nmore\n",
        "fingerprint recipient  17\n",
    };
    struct sl_license l = sample(0), back;
    struct sl_error err;
    char *base = sl_license_text(&l, &err);

    cr_assert_not_null(base, "%s", err.msg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(base) + strlen(bad[i]) + 1;
        char *text = malloc(n);
        snprintf(text, n, "%s%s", base, bad[i]);
        sl_error_clear(&err);
        cr_assert_eq(sl_license_parse(text, strlen(text), &back, &err), SL_EINPUT, "accepted: %s",
                     bad[i]);
        cr_assert(strstr(err.msg, "line 11") || strstr(err.msg, "line 12"), "%s", err.msg);
        free(text);
    }
    free(base);
}
