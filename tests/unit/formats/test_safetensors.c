/* SPDX-License-Identifier: Apache-2.0 */
/*
 * safetensors reader: the reference implementation's own test vectors with
 * their expected results, old unpadded files, and hostile headers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "formats/formats.h"
#include "../helpers.h"

/* Parses a file and returns its error kind, or "OK". */
static const char *parse_kind(const char *path, struct sl_error *err)
{
    struct sl_model *m = NULL;
    const char *paths[1] = {path};
    enum sl_err rc;

    sl_error_clear(err);
    rc = sl_model_open(paths, 1, &m, err);
    sl_model_free(m);
    if (rc == SL_OK)
        return "OK";
    return err->kind ? err->kind : "(no kind)";
}

Test(safetensors, reference_vectors_match_expected_tsv)
{
    char line[512];
    FILE *f = fopen(SL_VECTORS_DIR "/safetensors/rust-tests/expected.tsv", "r");
    int n = 0;

    cr_assert_not_null(f);
    cr_assert_not_null(fgets(line, sizeof(line), f)); /* header */
    while (fgets(line, sizeof(line), f)) {
        char file[256], expected[64], path[512];
        struct sl_error err;
        const char *got;
        if (sscanf(line, "%255s %63s", file, expected) != 2)
            continue;
        snprintf(path, sizeof(path), "%s/safetensors/rust-tests/%s", SL_VECTORS_DIR, file);
        got = parse_kind(path, &err);
        cr_expect_str_eq(got, expected, "%s: expected %s, got %s (%s)", file, expected, got,
                         err.msg);
        if (strcmp(expected, "OK") != 0) {
            cr_expect_eq(sl_err_exit_code(err.code), 2, "%s: bad input must exit 2", file);
            cr_expect(strstr(err.msg, file) != NULL, "%s: message names the file: %s", file,
                      err.msg);
        }
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 21, "all 21 reference vectors checked");
}

Test(safetensors, old_unpadded_files_are_accepted)
{
    static const char *const names[] = {"B", "H", "I", "b", "d", "e", "f", "h", "i"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[512];
        const char *paths[1] = {path};
        struct sl_model *m = NULL;
        struct sl_error err;
        snprintf(path, sizeof(path), "%s/safetensors/pr84/%s.safetensors", SL_VECTORS_DIR,
                 names[i]);
        cr_assert_eq(sl_model_open(paths, 1, &m, &err), SL_OK, "%s: %s", names[i], err.msg);
        cr_expect_eq(m->ntensors, 1);
        cr_expect_eq(m->tensors[0].nelem, 6, "%s holds 6 values", names[i]);
        sl_model_free(m);
    }
    {
        const char *paths[1] = {SL_VECTORS_DIR "/safetensors/pr84/overall.safetensors"};
        struct sl_model *m = NULL;
        struct sl_error err;
        cr_assert_eq(sl_model_open(paths, 1, &m, &err), SL_OK, "%s", err.msg);
        cr_expect_eq(m->ntensors, 9);
        sl_model_free(m);
    }
}

static enum sl_err parse_mem(const char *json, size_t data_len, struct sl_model **m,
                             struct sl_error *err)
{
    size_t len;
    unsigned char *img = th_st_image(json, data_len, &len);
    enum sl_err rc;

    sl_error_clear(err);
    *m = NULL;
    rc = sl_safetensors_parse_mem("x.safetensors", img, len, m, err);
    free(img);
    return rc;
}

Test(safetensors, reads_all_dtypes_including_subbyte)
{
    struct sl_model *m;
    struct sl_error err;
    const char *json = "{\"a\":{\"dtype\":\"F4\",\"shape\":[4,2],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[4,7]},"
                       "\"c\":{\"dtype\":\"F8_E4M3\",\"shape\":[3],\"data_offsets\":[7,10]},"
                       "\"d\":{\"dtype\":\"F8_E8M0\",\"shape\":[2],\"data_offsets\":[10,12]},"
                       "\"e\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[12,20]},"
                       "\"f\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[20,22]}}";

    cr_assert_eq(parse_mem(json, 22, &m, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(m->ntensors, 6);
    cr_expect_eq(m->tensors[0].nelem, 8);
    cr_expect_eq(m->tensors[5].nelem, 1, "shape [] is a scalar");
    cr_expect_eq(m->tensors[0].offset, 8 + strlen(json), "offsets become absolute");
    sl_model_free(m);
}

Test(safetensors, sub_byte_tensor_must_fill_bytes)
{
    struct sl_model *m;
    struct sl_error err;

    cr_assert_eq(
        parse_mem("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, &m, &err),
        SL_EINPUT);
    cr_expect_str_eq(err.kind, "MisalignedSlice");
}

struct bad_case {
    const char *json;
    size_t data;
    const char *kind;
    const char *needle; /* part of the message */
};

Test(safetensors, hostile_headers_fail_with_clear_errors)
{
    static const struct bad_case cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         16, NULL, "appears twice"},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "InvalidHeaderDeserialization", "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
         "InvalidHeaderDeserialization", "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
         "InvalidHeaderDeserialization", "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8,
         "InvalidHeaderDeserialization", "2 entries"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, "InvalidHeaderDeserialization",
         "missing \"data_offsets\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8,
         "InvalidHeaderDeserialization", "after the end"},
        {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "InvalidHeaderDeserialization", "NUL"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 100,
         "MetadataIncompleteBuffer", "trailing"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "InvalidOffset",
         "before begin"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 8,
         "TensorInvalidInfo", NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}",
         8, "ValidationOverflow", "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8,
         "InvalidHeaderDeserialization", "64 bits"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "InvalidHeaderDeserialization", "must be strings"},
        {"[1,2]", 0, "InvalidHeaderDeserialization", "expected an object"},
        {"{\"a\x01\":{}}", 0, "InvalidHeaderDeserialization", "control character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_model *m;
        struct sl_error err;
        enum sl_err rc = parse_mem(cases[i].json, cases[i].data, &m, &err);
        cr_expect_eq(rc, SL_EINPUT, "case %zu must fail: %s", i, cases[i].json);
        if (rc == SL_OK) {
            sl_model_free(m);
            continue;
        }
        if (cases[i].kind)
            cr_expect(err.kind && strcmp(err.kind, cases[i].kind) == 0,
                      "case %zu: kind %s, want %s (%s)", i, err.kind ? err.kind : "none",
                      cases[i].kind, err.msg);
        if (cases[i].needle)
            cr_expect(strstr(err.msg, cases[i].needle) != NULL, "case %zu: message \"%s\"", i,
                      err.msg);
        cr_expect(strncmp(err.msg, "x.safetensors", 13) == 0, "case %zu names the file: %s", i,
                  err.msg);
    }
}

Test(safetensors, deep_json_is_refused_without_recursion_trouble)
{
    size_t depth = 100000, len;
    char *json = malloc(depth * 2 + 16);
    struct sl_model *m;
    struct sl_error err;
    unsigned char *img;

    strcpy(json, "{\"a\":");
    for (size_t i = 0; i < depth; i++)
        json[5 + i] = '[';
    for (size_t i = 0; i < depth; i++)
        json[5 + depth + i] = ']';
    strcpy(json + 5 + 2 * depth, "}");
    img = th_st_image(json, 0, &len);
    cr_assert_eq(sl_safetensors_parse_mem("deep.safetensors", img, len, &m, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "byte") != NULL, "%s", err.msg);
    free(img);
    free(json);
}

Test(safetensors, bad_utf8_in_name_names_the_byte)
{
    struct sl_model *m;
    struct sl_error err;

    cr_assert_eq(parse_mem("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                           0, &m, &err),
                 SL_EINPUT);
    cr_expect_str_eq(err.kind, "InvalidHeader");
    cr_expect(strstr(err.msg, "byte 11") != NULL, "%s", err.msg);
}

Test(safetensors, header_length_is_checked_before_reading)
{
    unsigned char img[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    struct sl_model *m;
    struct sl_error err;

    cr_assert_eq(sl_safetensors_parse_mem("big.safetensors", img, sizeof(img), &m, &err),
                 SL_EINPUT);
    cr_expect_str_eq(err.kind, "HeaderTooLarge");
}
