/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transfer options of push and pull: --limit-rate in curl's syntax,
 * --retry-for durations, and the Hugging Face pattern rules of --include
 * and --exclude (expected answers worked out with Python's fnmatchcase).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "client/client_int.h"

Test(rate, curl_units_are_1024_based)
{
    struct sl_error e;
    uint64_t v = 0;

    cr_assert_eq(sl_client_parse_rate("500K", &v, &e), SL_OK);
    cr_assert_eq(v, 500u * 1024);
    cr_assert_eq(sl_client_parse_rate("2M", &v, &e), SL_OK);
    cr_assert_eq(v, 2u * 1024 * 1024);
    cr_assert_eq(sl_client_parse_rate("2m", &v, &e), SL_OK);
    cr_assert_eq(v, 2u * 1024 * 1024);
    cr_assert_eq(sl_client_parse_rate("1G", &v, &e), SL_OK);
    cr_assert_eq(v, 1024ull * 1024 * 1024);
    cr_assert_eq(sl_client_parse_rate("12345", &v, &e), SL_OK);
    cr_assert_eq(v, 12345u);
}

Test(rate, zero_fractions_and_garbage_are_usage_errors)
{
    static const char *const bad[] = {
        "0",    "0K", "",   "2.5M", "-1",  "+2M",  "2MB",
        "2 M",  "M",  "2X", "2KK",  "1e6", "0x10", "99999999999999999999",
        "1025G"};
    struct sl_error e;
    uint64_t v = 7;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(sl_client_parse_rate(bad[i], &v, &e), SL_EUSAGE, "%s", bad[i]);
        cr_assert(strstr(e.msg, bad[i]) != NULL, "%s: %s", bad[i], e.msg);
    }
    cr_assert_eq(v, 7u);
}

Test(duration, units_and_limits)
{
    struct sl_error e;
    double s = -1;

    cr_assert_eq(sl_client_parse_duration("30s", &s, &e), SL_OK);
    cr_assert_float_eq(s, 30.0, 1e-9);
    cr_assert_eq(sl_client_parse_duration("10m", &s, &e), SL_OK);
    cr_assert_float_eq(s, 600.0, 1e-9);
    cr_assert_eq(sl_client_parse_duration("1h", &s, &e), SL_OK);
    cr_assert_float_eq(s, 3600.0, 1e-9);
    cr_assert_eq(sl_client_parse_duration("45", &s, &e), SL_OK);
    cr_assert_float_eq(s, 45.0, 1e-9);
    cr_assert_eq(sl_client_parse_duration("0", &s, &e), SL_OK);
    cr_assert_float_eq(s, 0.0, 1e-9);
    cr_assert_eq(sl_client_parse_duration("168h", &s, &e), SL_OK);
    static const char *const bad[] = {"", "abc", "1d", "-5s", "10 m", "1.5m", "169h", "10ms", "m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(sl_client_parse_duration(bad[i], &s, &e), SL_EUSAGE, "%s", bad[i]);
}

Test(glob, hugging_face_rules)
{
    /* '*' crosses '/' (fnmatch without FNM_PATHNAME) */
    cr_assert(sl__cl_glob_match("*.json", "config.json"));
    cr_assert(sl__cl_glob_match("*.json", "a/b/config.json"));
    cr_assert(sl__cl_glob_match("data/*.json", "data/a/b.json"));
    /* '**' is no different from '*' */
    cr_assert(sl__cl_glob_match("**/*.txt", "sub/dir/x.txt"));
    cr_assert(!sl__cl_glob_match("**/*.txt", "x.txt"));
    /* a trailing '/' is a folder */
    cr_assert(sl__cl_glob_match("sub/", "sub/dir/x.txt"));
    cr_assert(!sl__cl_glob_match("sub/", "subway.txt"));
    /* backslash is '/', never an escape */
    cr_assert(sl__cl_glob_match("sub\\dir\\*", "sub/dir/x.txt"));
    /* case-sensitive */
    cr_assert(!sl__cl_glob_match("*.JSON", "config.json"));
    /* brackets and '?' as fnmatchcase; dot files are not special */
    cr_assert(sl__cl_glob_match("model-0000[1-2].bin", "model-00002.bin"));
    cr_assert(!sl__cl_glob_match("model-0000[1-2].bin", "model-00003.bin"));
    cr_assert(sl__cl_glob_match("model-0000[!1].bin", "model-00003.bin"));
    cr_assert(sl__cl_glob_match("?onfig.json", "config.json"));
    cr_assert(sl__cl_glob_match("*", ".hidden"));
    cr_assert(sl__cl_glob_match("*.safetensors", "model.safetensors"));
    cr_assert(!sl__cl_glob_match("*.safetensors", "model.safetensors.index.json"));
}
