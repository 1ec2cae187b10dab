/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunking: xet-core's own boundary vectors (1 MB of SplitMix64 output and of
 * a constant byte), and boundaries that do not depend on how the input is fed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static unsigned char *splitmix(uint64_t seed, size_t n)
{
    unsigned char *b = malloc(n + 8);
    uint64_t state = seed;

    for (size_t i = 0; i < n; i += 8) {
        uint64_t z;
        state += 0x9E3779B97F4A7C15ULL;
        z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        for (int k = 0; k < 8; k++)
            b[i + (size_t)k] = (unsigned char)(z >> (8 * k));
    }
    return b;
}

/* Writes cumulative boundaries as "a,b,c" into out, feeding `step` bytes at a time. */
static void boundaries(const unsigned char *d, size_t n, size_t step, char *out, size_t outlen)
{
    struct sl_cdc c;
    size_t pos = 0, o = 0;

    sl_cdc_init(&c);
    out[0] = '\0';
    while (pos < n) {
        size_t take = n - pos < step ? n - pos : step, k = 0;
        while (k < take) {
            bool cut;
            k += sl_cdc_scan(&c, d + pos + k, take - k, &cut);
            if (cut)
                o += (size_t)snprintf(out + o, outlen - o, "%s%zu", o ? "," : "", pos + k);
        }
        pos += take;
    }
    if (c.len > 0)
        snprintf(out + o, outlen - o, "%s%zu", o ? "," : "", n);
}

static void check_row(const char *expected_list, const unsigned char *d, size_t n)
{
    static const size_t steps[] = {1000000, 65536, 4097, 1, 130000};
    char got[4096];

    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        if (steps[s] == 1 && n > 300000)
            continue;
        boundaries(d, n, steps[s], got, sizeof(got));
        cr_expect_str_eq(got, expected_list, "fed %zu bytes at a time", steps[s]);
    }
}

Test(cdc, xet_core_vectors)
{
    FILE *f = fopen(SL_VECTORS_DIR "/cdc/expected-boundaries.tsv", "r");
    char line[4096];
    int rows = 0;

    cr_assert_not_null(f);
    cr_assert_not_null(fgets(line, sizeof(line), f));
    while (fgets(line, sizeof(line), f)) {
        char input[200], list[2048];
        size_t n;
        unsigned char *d;
        if (sscanf(line, "%199[^\t]\t%zu\t%2047[^\t]", input, &n, list) != 3)
            continue;
        if (strstr(input, "seed=0")) {
            d = splitmix(0, n);
            cr_expect_eq(d[0], 175);
            cr_expect_eq(d[127], 132);
            cr_expect_eq(d[111111], 118);
        } else if (strstr(input, "seed=1")) {
            d = splitmix(1, n);
        } else {
            d = malloc(n);
            memset(d, 59, n);
        }
        check_row(list, d, n);
        free(d);
        rows++;
    }
    fclose(f);
    cr_expect_eq(rows, 3);
}
