/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parameter counting: buffers, quantisation bookkeeping, packed containers,
 * mixtures of experts (per-expert and merged tensors) and architecture.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "common/buf.h"
#include "compute/compute.h"
#include "formats/formats.h"
#include "../helpers.h"

/* Builds a safetensors header with contiguous offsets. */
struct tb {
    struct sl_buf json;
    uint64_t off;
};

static void tb_init(struct tb *t)
{
    sl_buf_init(&t->json, 1 << 24);
    sl_buf_adds(&t->json, "{");
    t->off = 0;
}

static unsigned bits(const char *dt)
{
    if (!strcmp(dt, "F32") || !strcmp(dt, "I32") || !strcmp(dt, "U32"))
        return 32;
    if (!strcmp(dt, "BF16") || !strcmp(dt, "F16") || !strcmp(dt, "I16"))
        return 16;
    if (!strcmp(dt, "F4"))
        return 4;
    if (!strcmp(dt, "I64") || !strcmp(dt, "F64"))
        return 64;
    return 8;
}

/* tb_add(t, name, dtype, ndim, dims...) */
static void tb_add(struct tb *t, const char *name, const char *dt, int ndim, ...)
{
    va_list ap;
    uint64_t n = 1, bytes;

    if (t->json.len > 1)
        sl_buf_adds(&t->json, ",");
    sl_buf_addf(&t->json, "\"%s\":{\"dtype\":\"%s\",\"shape\":[", name, dt);
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) {
        uint64_t d = va_arg(ap, uint64_t);
        sl_buf_addf(&t->json, "%s%llu", i ? "," : "", (unsigned long long)d);
        n *= d;
    }
    va_end(ap);
    bytes = n * bits(dt) / 8;
    sl_buf_addf(&t->json, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)t->off,
                (unsigned long long)(t->off + bytes));
    t->off += bytes;
}

/* Parses the built header (data all zero) and counts; the model is kept
 * for checks and freed by the caller. */
static struct sl_model *tb_model(struct tb *t, const char *config)
{
    size_t len;
    unsigned char *img;
    struct sl_model *m;
    struct sl_error err;

    sl_buf_adds(&t->json, "}");
    img = th_st_image(sl_buf_cstr(&t->json), (size_t)t->off, &len);
    cr_assert_eq(sl_safetensors_parse_mem("t.safetensors", img, len, &m, &err), SL_OK, "%s",
                 err.msg);
    free(img);
    sl_buf_release(&t->json);
    if (config) {
        /* config hints are read by the folder reader; set them directly */
        if (strstr(config, "k=")) {
            m->hints.experts_per_token = atoi(strstr(config, "k=") + 2);
        }
        if (strstr(config, "bits="))
            m->hints.quant_bits = atoi(strstr(config, "bits=") + 5);
    }
    return m;
}

#define U(x) ((uint64_t)(x))

Test(params, gpt2_buffers_are_not_parameters)
{
    struct tb t;
    struct sl_model *m;
    struct sl_param_count pc;

    tb_init(&t);
    tb_add(&t, "wte.weight", "F32", 2, U(50257), U(768));
    tb_add(&t, "h.0.attn.bias", "F32", 4, U(1), U(1), U(1024), U(1024));
    tb_add(&t, "h.0.attn.c_attn.bias", "F32", 1, U(2304));
    tb_add(&t, "h.0.attn.masked_bias", "F32", 0);
    tb_add(&t, "position_ids", "I64", 2, U(1), U(512));
    m = tb_model(&t, NULL);
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, U(50257) * 768 + 2304);
    cr_expect_eq(pc.buffer_elements, U(1024) * 1024 + 1 + 512);
    cr_expect_eq(pc.vocab_size, 50257);
    cr_expect_eq(pc.hidden_size, 768);
    cr_expect_eq(pc.tied_embeddings, 1, "no lm_head: tied");
    sl_model_free(m);
}

Test(params, gptq_and_awq_pack_by_bits)
{
    struct tb t;
    struct sl_model *m;
    struct sl_param_count pc;

    tb_init(&t);
    tb_add(&t, "l.q_proj.qweight", "I32", 2, U(512), U(4096)); /* 4096x4096 at 4 bits */
    tb_add(&t, "l.q_proj.qzeros", "I32", 2, U(32), U(512));
    tb_add(&t, "l.q_proj.scales", "F16", 2, U(32), U(4096));
    tb_add(&t, "l.q_proj.g_idx", "I32", 1, U(4096));
    tb_add(&t, "l.q_proj.bias", "F16", 1, U(4096));
    m = tb_model(&t, NULL);
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, U(4096) * 4096 + 4096);
    cr_expect_eq(pc.quant_elements, U(32) * 512 + U(32) * 4096 + 4096);
    cr_expect_eq(pc.packed_tensors, 1);
    /* 3-bit: 32/3 values per I32 */
    m->hints.quant_bits = 3;
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, U(512) * 4096 * 32 / 3 + 4096);
    sl_model_free(m);
}

Test(params, bitsandbytes_4bit_and_fp8_scales)
{
    struct tb t;
    struct sl_model *m;
    struct sl_param_count pc;

    tb_init(&t);
    tb_add(&t, "a.weight", "U8", 2, U(8388608), U(1));
    tb_add(&t, "a.weight.absmax", "F32", 1, U(262144));
    tb_add(&t, "a.weight.quant_map", "F32", 1, U(16));
    tb_add(&t, "a.weight.quant_state.bitsandbytes__nf4", "U8", 1, U(80));
    tb_add(&t, "b.weight", "F8_E4M3", 2, U(256), U(256));
    tb_add(&t, "b.weight_scale_inv", "F32", 2, U(2), U(2));
    tb_add(&t, "c.weight", "U8", 1, U(10)); /* a plain U8 tensor stays 1 per element */
    m = tb_model(&t, NULL);
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, U(16777216) + 65536 + 10);
    cr_expect_eq(pc.quant_elements, U(262144) + 16 + 80 + 4);
    sl_model_free(m);
}

Test(params, per_expert_moe_active_count)
{
    struct tb t;
    struct sl_model *m;
    struct sl_param_count pc;
    char name[128];

    tb_init(&t);
    tb_add(&t, "model.embed_tokens.weight", "BF16", 2, U(100), U(16));
    tb_add(&t, "lm_head.weight", "BF16", 2, U(100), U(16));
    for (int l = 0; l < 2; l++) {
        snprintf(name, sizeof(name), "model.layers.%d.block_sparse_moe.gate.weight", l);
        tb_add(&t, name, "BF16", 2, U(8), U(16));
        for (int e = 0; e < 8; e++) {
            snprintf(name, sizeof(name), "model.layers.%d.block_sparse_moe.experts.%d.w1.weight", l,
                     e);
            tb_add(&t, name, "BF16", 2, U(32), U(16));
        }
        snprintf(name, sizeof(name), "model.layers.%d.mlp.shared_experts.up_proj.weight", l);
        tb_add(&t, name, "BF16", 2, U(32), U(16));
    }
    m = tb_model(&t, "k=2");
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, 3200 + 2 * (128 + 8 * 512 + 512));
    cr_expect_eq(pc.experts, 8);
    cr_expect_eq(pc.moe_groups, 2);
    cr_expect(pc.active_known);
    cr_expect_eq(pc.active, 3200 + 2 * (128 + 2 * 512 + 512), "shared expert always active");
    cr_expect_eq(pc.layers, 2);
    cr_expect_eq(pc.tied_embeddings, 0);
    m->hints.experts_per_token = -1;
    sl_count_params(m, &pc);
    cr_expect(!pc.active_known);
    cr_expect(strstr(pc.note, "experts per token") != NULL, "%s", pc.note);
    sl_model_free(m);
}

Test(params, merged_mxfp4_experts_gpt_oss_layer)
{
    struct tb t;
    struct sl_model *m;
    struct sl_param_count pc;
    uint64_t experts;

    tb_init(&t);
    tb_add(&t, "model.layers.0.mlp.router.weight", "BF16", 2, U(32), U(2880));
    tb_add(&t, "model.layers.0.mlp.experts.gate_up_proj_blocks", "U8", 4, U(32), U(5760), U(90),
           U(16));
    tb_add(&t, "model.layers.0.mlp.experts.gate_up_proj_scales", "U8", 3, U(32), U(5760), U(90));
    tb_add(&t, "model.layers.0.mlp.experts.gate_up_proj_bias", "BF16", 2, U(32), U(5760));
    tb_add(&t, "model.layers.0.mlp.experts.down_proj_blocks", "U8", 4, U(32), U(2880), U(90),
           U(16));
    tb_add(&t, "model.layers.0.mlp.experts.down_proj_scales", "U8", 3, U(32), U(2880), U(90));
    tb_add(&t, "model.layers.0.mlp.experts.down_proj_bias", "BF16", 2, U(32), U(2880));
    m = tb_model(&t, "k=4");
    sl_count_params(m, &pc);
    experts = U(796538880);
    cr_expect_eq(pc.total, U(92160) + experts);
    cr_expect_eq(pc.expert_params, experts);
    cr_expect_eq(pc.experts, 32);
    cr_expect_eq(pc.active, U(92160) + experts / 32 * 4);
    cr_expect_eq(pc.quant_elements, U(32) * 5760 * 90 + U(32) * 2880 * 90);
    sl_model_free(m);
}

Test(params, roles_do_not_catch_real_parameters)
{
    struct tb t;
    struct sl_model *m;
    struct sl_param_count pc;

    tb_init(&t);
    tb_add(&t, "encoder.layer.0.attention.output.dense.bias", "F32", 1, U(8));
    tb_add(&t, "model.layers.0.self_attn.q_proj.bias", "F32", 1, U(8));
    tb_add(&t, "gemma.norm.scale", "F32", 1, U(8));
    tb_add(&t, "x.attn.bias", "F32", 1, U(8)); /* a 1-D attn bias is a parameter */
    m = tb_model(&t, NULL);
    sl_count_params(m, &pc);
    cr_expect_eq(pc.total, 32);
    cr_expect_eq(pc.buffer_elements + pc.quant_elements, 0);
    sl_model_free(m);
}
