/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GGUF reader: the synthetic vectors (expected offsets, sizes and counts from
 * ggml's own reader), real vocab-only files, every truncation of a file, and
 * corruptions of each header field.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "compute/compute.h"
#include "formats/formats.h"
#include "../helpers.h"

static void check_expected(json_t *e)
{
    char path[512];
    const char *paths[1] = {path};
    struct sl_model *m = NULL;
    struct sl_error err;
    struct sl_param_count pc;
    json_t *tensors = json_object_get(e, "tensors"), *t;
    size_t i;
    uint64_t data_start = (uint64_t)json_integer_value(json_object_get(e, "data_start"));

    snprintf(path, sizeof(path), "%s/gguf/%s", SL_GEN_VECTORS_DIR,
             json_string_value(json_object_get(e, "file")));
    cr_assert_eq(sl_model_open(paths, 1, &m, &err), SL_OK, "%s: %s", path, err.msg);
    cr_expect_eq(m->files[0].data_start, data_start);
    cr_expect_eq(m->files[0].size, (uint64_t)json_integer_value(json_object_get(e, "size")));
    cr_assert_eq(m->ntensors, json_array_size(tensors));
    json_array_foreach(tensors, i, t)
    {
        const struct sl_tensor *st = &m->tensors[i];
        json_t *dims = json_array_get(t, 1);
        cr_expect_str_eq(st->name, json_string_value(json_array_get(t, 0)));
        cr_expect_str_eq(sl_dtype_name(st->dtype), json_string_value(json_array_get(t, 2)));
        cr_expect_eq(st->offset, data_start + (uint64_t)json_integer_value(json_array_get(t, 3)));
        cr_expect_eq(st->nbytes, (uint64_t)json_integer_value(json_array_get(t, 4)));
        cr_assert_eq(st->ndim, json_array_size(dims));
        /* GGUF dims are innermost first; sluice keeps PyTorch order. */
        for (size_t d = 0; d < st->ndim; d++)
            cr_expect_eq(st->shape[d],
                         (uint64_t)json_integer_value(json_array_get(dims, st->ndim - 1 - d)));
    }
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, (uint64_t)json_integer_value(json_object_get(e, "total_params")));
    if (json_object_get(e, "active_params"))
        cr_expect_eq(pc.active, (uint64_t)json_integer_value(json_object_get(e, "active_params")));
    sl_model_free(m);
}

Test(gguf, synthetic_vectors_match_expected_json)
{
    json_error_t je;
    json_t *doc = json_load_file(SL_VECTORS_DIR "/gguf/synthetic/expected.json", 0, &je);
    json_t *e;
    size_t i;

    cr_assert_not_null(doc, "%s", je.text);
    cr_assert_eq(json_array_size(doc), 2);
    json_array_foreach(doc, i, e) check_expected(e);
    json_decref(doc);
}

Test(gguf, real_vocab_files_have_no_tensors_and_no_padding)
{
    static const char *const names[] = {"ggml-vocab-bert-bge.gguf", "ggml-vocab-llama-spm.gguf",
                                        "ggml-vocab-phi-3.gguf"};
    static const char *const arch[] = {"bert", "llama", "phi3"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        const char *paths[1] = {path};
        struct sl_model *m = NULL;
        struct sl_error err;
        snprintf(path, sizeof(path), "%s/gguf/llama-vocab/%s", SL_VECTORS_DIR, names[i]);
        cr_assert_eq(sl_model_open(paths, 1, &m, &err), SL_OK, "%s: %s", names[i], err.msg);
        cr_expect_eq(m->ntensors, 0);
        cr_expect_eq(m->files[0].data_start, m->files[0].size, "no padding with 0 tensors");
        cr_expect_str_eq(m->hints.arch, arch[i]);
        sl_model_free(m);
    }
}

static unsigned char *load_dense(size_t *len)
{
    unsigned char *b = th_read(SL_GEN_VECTORS_DIR "/gguf/synthetic-tiny-dense-align32.gguf", len);
    cr_assert_not_null(b);
    return b;
}

Test(gguf, every_truncation_fails_cleanly)
{
    size_t len;
    unsigned char *b = load_dense(&len);
    /* The last tensor (Q4_0, 144 bytes at data offset 5248) ends at 352 + 5392;
     * what follows is optional padding. */
    size_t data_end = 352 + 5248 + 144;

    cr_assert_leq(data_end, len);
    for (size_t n = 0; n < data_end; n++) {
        struct sl_model *m = NULL;
        struct sl_error err;
        enum sl_err rc = sl_gguf_parse_mem("t.gguf", b, n, &m, &err);
        cr_assert_neq(rc, SL_OK, "prefix of %zu bytes must fail", n);
        cr_assert_eq(sl_err_exit_code(rc), 2, "prefix %zu: %s", n, err.msg);
        cr_assert(strncmp(err.msg, "t.gguf", 6) == 0, "prefix %zu: %s", n, err.msg);
    }
    free(b);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void expect_fail(unsigned char *b, size_t len, const char *needle)
{
    struct sl_model *m = NULL;
    struct sl_error err;
    enum sl_err rc = sl_gguf_parse_mem("c.gguf", b, len, &m, &err);

    cr_expect_neq(rc, SL_OK, "corruption (%s) must fail", needle);
    if (rc == SL_OK) {
        sl_model_free(m);
        return;
    }
    cr_expect(strstr(err.msg, needle) != NULL, "want \"%s\" in \"%s\"", needle, err.msg);
}

/* Offsets in the dense file: header 24 bytes; KV 0 is general.architecture. */
Test(gguf, corrupted_header_fields_are_named)
{
    size_t len;
    unsigned char *orig = load_dense(&len), *b = malloc(len);

#define RESET() memcpy(b, orig, len)
    RESET();
    b[0] = 'X';
    expect_fail(b, len, "magic");
    RESET();
    put32(b + 4, 1);
    expect_fail(b, len, "no longer supported");
    RESET();
    put32(b + 4, 4);
    expect_fail(b, len, "newer than");
    RESET();
    put32(b + 4, 0x03000000);
    expect_fail(b, len, "big-endian");
    RESET();
    put64(b + 8, 1ULL << 40);
    expect_fail(b, len, "tensor_count");
    RESET();
    put64(b + 16, 1ULL << 40);
    expect_fail(b, len, "metadata_kv_count");
    RESET();
    put64(b + 24, 0); /* first key length 0 */
    expect_fail(b, len, "empty");
    RESET();
    put64(b + 24, 1ULL << 62); /* absurd key length */
    expect_fail(b, len, "limit");
    free(orig);
    free(b);
#undef RESET
}

/* Builds a small GGUF by hand so each rule can be broken in isolation. */
struct gb {
    unsigned char buf[4096];
    size_t n;
};

static void gb_u32(struct gb *g, uint32_t v)
{
    put32(g->buf + g->n, v);
    g->n += 4;
}

static void gb_u64(struct gb *g, uint64_t v)
{
    put64(g->buf + g->n, v);
    g->n += 8;
}

static void gb_str(struct gb *g, const char *s)
{
    gb_u64(g, strlen(s));
    memcpy(g->buf + g->n, s, strlen(s));
    g->n += strlen(s);
}

/* One KV (general.alignment = align, as u32 or the given type) and one F32
 * tensor "w" of ne = [ne0, 2] with the given type and offset. */
static size_t build(struct gb *g, uint32_t align_type, uint32_t align, uint32_t ndim,
                    uint32_t ggml_type, uint64_t ne0, uint64_t offset, bool dup_key)
{
    size_t pad;
    memset(g, 0, sizeof(*g));
    memcpy(g->buf, "GGUF", 4);
    g->n = 4;
    gb_u32(g, 3);
    gb_u64(g, 1);
    gb_u64(g, dup_key ? 2 : 1);
    gb_str(g, "general.alignment");
    gb_u32(g, align_type);
    gb_u32(g, align);
    if (dup_key) {
        gb_str(g, "general.alignment");
        gb_u32(g, 4);
        gb_u32(g, align);
    }
    gb_str(g, "w");
    gb_u32(g, ndim);
    for (uint32_t d = 0; d < ndim; d++)
        gb_u64(g, d == 0 ? ne0 : 2);
    gb_u32(g, ggml_type);
    gb_u64(g, offset);
    pad = (32 - g->n % 32) % 32;
    g->n += pad + ne0 * 2 * 4;
    return g->n;
}

Test(gguf, handmade_file_is_valid_and_each_rule_bites)
{
    struct gb g;
    struct sl_model *m = NULL;
    struct sl_error err;
    size_t n = build(&g, 4, 32, 2, 0, 8, 0, false);

    cr_assert_eq(sl_gguf_parse_mem("h.gguf", g.buf, n, &m, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(m->tensors[0].nelem, 16);
    sl_model_free(m);

    n = build(&g, 5, 32, 2, 0, 8, 0, false);
    expect_fail(g.buf, n, "must be a u32");
    n = build(&g, 4, 24, 2, 0, 8, 0, false);
    expect_fail(g.buf, n, "power of two");
    n = build(&g, 4, 32, 5, 0, 8, 0, false);
    expect_fail(g.buf, n, "dimensions");
    n = build(&g, 4, 32, 2, 4, 8, 0, false);
    expect_fail(g.buf, n, "unknown or removed");
    n = build(&g, 4, 32, 2, 8, 8, 0, false); /* Q8_0 needs rows of 32 */
    expect_fail(g.buf, n, "block size");
    n = build(&g, 4, 32, 2, 0, 8, 32, false);
    expect_fail(g.buf, n, "expected 0");
    n = build(&g, 4, 32, 2, 0, 8, 0, true);
    expect_fail(g.buf, n, "duplicate metadata key");
    n = build(&g, 4, 32, 2, 0, 8, 0, false);
    expect_fail(g.buf, n - 4, "truncated");
}
