/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Model folders: sharded checkpoints with an index, stray files, unsafe
 * names, gguf-split sets and config.json hints.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "compute/compute.h"
#include "formats/formats.h"
#include "../helpers.h"

#define T(name, off0, off1)                                                                        \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" #off0 "," #off1 "]}"

static enum sl_err open_dir(const char *dir, struct sl_model **m, struct sl_error *err)
{
    const char *paths[1] = {dir};
    sl_error_clear(err);
    *m = NULL;
    return sl_model_open(paths, 1, m, err);
}

static void write_shards(const char *dir)
{
    th_write_st(dir, "model-00001-of-00002.safetensors", "{" T("a", 0, 8) "," T("b", 8, 16) "}",
                16);
    th_write_st(dir, "model-00002-of-00002.safetensors", "{" T("c", 0, 8) "}", 8);
}

Test(model, sharded_folder_with_index)
{
    char *dir = th_tmpdir();
    struct sl_model *m;
    struct sl_error err;
    const char *idx = "{\"metadata\":{\"total_size\":24},\"weight_map\":{"
                      "\"a\":\"model-00001-of-00002.safetensors\","
                      "\"b\":\"model-00001-of-00002.safetensors\","
                      "\"c\":\"model-00002-of-00002.safetensors\"}}";

    write_shards(dir);
    th_write(dir, "model.safetensors.index.json", idx, strlen(idx));
    th_write_st(dir, "consolidated.safetensors", "{" T("z", 0, 8) "}", 8);
    th_write(dir, "pytorch_model.bin", "x", 1);
    {
        const char *cfg = "{\"model_type\":\"llama\",\"num_hidden_layers\":7}";
        th_write(dir, "config.json", cfg, strlen(cfg));
    }
    cr_assert_eq(open_dir(dir, &m, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(m->ntensors, 3, "consolidated.safetensors is not in the index");
    cr_expect_eq(m->nfiles, 2);
    cr_expect(m->sharded);
    cr_expect_eq(m->index_total_size, 24);
    cr_expect_str_eq(m->hints.arch, "llama");
    cr_expect_eq(m->hints.layers, 7);
    cr_expect_geq(m->nwarnings, 2, "pickle and stray shard are reported");
    sl_model_free(m);
    th_rmtree(dir);
}

Test(model, index_and_shards_must_agree)
{
    static const struct {
        const char *index, *needle;
    } cases[] = {
        {"{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\"}}", "does not list"},
        {"{\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\","
         "\"b\":\"model-00001-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"}}",
         "is in"},
        {"{\"weight_map\":{\"a\":\"../evil.safetensors\"}}", "unsafe shard name"},
        {"{\"weight_map\":{\"a\":\"/etc/passwd\"}}", "unsafe shard name"},
        {"{\"weight_map\":{\"a\":\"missing.safetensors\"}}", "missing"},
        {"{\"weight_map\":{\"a\":\"m.safetensors\",\"a\":\"m.safetensors\"}}", "twice"},
        {"{\"metadata\":{}}", "no \"weight_map\""},
        {"{\"weight_map\":[1]}", "expected an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = th_tmpdir();
        struct sl_model *m;
        struct sl_error err;
        write_shards(dir);
        th_write(dir, "model.safetensors.index.json", cases[i].index, strlen(cases[i].index));
        cr_expect_eq(open_dir(dir, &m, &err), SL_EINPUT, "case %zu", i);
        cr_expect(strstr(err.msg, cases[i].needle) != NULL, "case %zu: %s", i, err.msg);
        sl_model_free(m);
        th_rmtree(dir);
    }
}

Test(model, shards_without_index_must_not_repeat_names)
{
    char *dir = th_tmpdir();
    struct sl_model *m;
    struct sl_error err;

    write_shards(dir);
    cr_assert_eq(open_dir(dir, &m, &err), SL_OK, "%s", err.msg);
    cr_expect_eq(m->ntensors, 3);
    sl_model_free(m);
    th_write_st(dir, "extra.safetensors", "{" T("a", 0, 8) "}", 8);
    cr_expect_eq(open_dir(dir, &m, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "appears in both") != NULL, "%s", err.msg);
    th_rmtree(dir);
}

Test(model, empty_folder_and_missing_path)
{
    char *dir = th_tmpdir();
    struct sl_model *m;
    struct sl_error err;

    cr_expect_eq(open_dir(dir, &m, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "no safetensors or GGUF") != NULL, "%s", err.msg);
    {
        const char *paths[1] = {"/nonexistent/sluice/model.safetensors"};
        cr_expect_eq(sl_model_open(paths, 1, &m, &err), SL_EIO);
        cr_expect_eq(sl_err_exit_code(err.code), 3);
    }
    th_rmtree(dir);
}

Test(model, several_unrelated_gguf_files_are_refused)
{
    char *dir = th_tmpdir();
    struct sl_model *m;
    struct sl_error err;
    size_t len = 0;
    unsigned char *b = th_read(SL_GEN_VECTORS_DIR "/gguf/synthetic-tiny-dense-align32.gguf", &len);

    cr_assert_not_null(b);
    th_write(dir, "a-Q4_K_M.gguf", b, len);
    th_write(dir, "a-Q8_0.gguf", b, len);
    cr_expect_eq(open_dir(dir, &m, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "not one gguf-split set") != NULL, "%s", err.msg);
    free(b);
    th_rmtree(dir);
}

Test(model, config_json_gives_experts_per_token)
{
    char *dir = th_tmpdir();
    struct sl_model *m;
    struct sl_error err;
    struct sl_param_count pc;
    const char *cfg = "{\"model_type\":\"mixtral\",\"num_local_experts\":4,"
                      "\"num_experts_per_tok\":2,\"tie_word_embeddings\":false}";
    th_write_st(dir, "model.safetensors",
                "{\"embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[0,"
                "32]},"
                "\"layers.0.experts.0.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,"
                "40]},"
                "\"layers.0.experts.1.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[40,"
                "48]},"
                "\"layers.0.experts.2.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,"
                "56]},"
                "\"layers.0.experts.3.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[56,"
                "64]}}",
                64);
    cr_assert_eq(open_dir(dir, &m, &err), SL_OK, "%s", err.msg);
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, 16);
    cr_expect(!pc.active_known, "no config: k unknown");
    sl_model_free(m);
    th_write(dir, "config.json", cfg, strlen(cfg));
    cr_assert_eq(open_dir(dir, &m, &err), SL_OK, "%s", err.msg);
    sl_count_params(m, &pc);
    cr_expect(pc.active_known);
    cr_expect_eq(pc.active, 8 + 4, "embeddings + 2 of 4 experts");
    cr_expect_eq(pc.experts, 4);
    cr_expect_eq(pc.experts_per_token, 2);
    sl_model_free(m);
    th_write(dir, "config.json", "{\"a\":", 5);
    cr_expect_eq(open_dir(dir, &m, &err), SL_EINPUT);
    cr_expect(strstr(err.msg, "config.json") != NULL, "%s", err.msg);
    th_rmtree(dir);
}
