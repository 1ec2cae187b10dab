/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for bringing a suspect into the original's layout: float
 * conversions, llama.cpp's GGUF tensor names and q/k row permutation, and
 * ggml's reference Q8_0 quantiser (for the reference a Q8_0 copy is read
 * against).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp/fp_int.h"
#include "common/util.h"

#include "common/banned.h"

void sl_fp_to_float(enum sl_fp_dtype dt, const void *in, float *out, size_t n)
{
    const unsigned char *b = in;

    switch (dt) {
    case SL_FP_BF16:
        for (size_t i = 0; i < n; i++)
            out[i] = sl__bf16_f(sl__ld16(b + 2 * i));
        break;
    case SL_FP_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = sl__f16_f(sl__ld16(b + 2 * i));
        break;
    case SL_FP_F32:
        for (size_t i = 0; i < n; i++)
            out[i] = sl__f32(sl__ld32(b + 4 * i));
        break;
    }
}

void sl_fp_from_float(enum sl_fp_dtype dt, const float *in, void *out, size_t n)
{
    unsigned char *b = out;

    switch (dt) {
    case SL_FP_BF16:
        for (size_t i = 0; i < n; i++)
            sl__st16(b + 2 * i, sl__f_bf16(in[i]));
        break;
    case SL_FP_F16:
        for (size_t i = 0; i < n; i++)
            sl__st16(b + 2 * i, sl__f_f16(in[i]));
        break;
    case SL_FP_F32:
        for (size_t i = 0; i < n; i++)
            sl__st32(b + 4 * i, sl__u32(in[i]));
        break;
    }
}

/* ---- Q8_0 ---- */

void sl_fp_q8_0_roundtrip(const float *in, float *out, size_t n)
{
    size_t nb = n / 32;

    for (size_t i = 0; i < nb; i++) {
        const float *x = in + 32 * i;
        float *y = out + 32 * i;
        float amax = 0.0f, d, id, dd, q[32];
        for (int j = 0; j < 32; j++) {
            float v = fabsf(x[j]);
            amax = amax > v ? amax : v; /* ggml's MAX(amax, v) */
        }
        d = amax / 127;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        dd = sl__f16_f(sl__f_f16(d));
        for (int j = 0; j < 32; j++) {
            float r = roundf(x[j] * id);
            /* ggml stores (int8_t)roundf(); out-of-range and NaN values
             * are undefined there and only come from non-finite input */
            if (!(r >= -128.0f && r <= 127.0f))
                q[j] = NAN;
            else
                q[j] = r;
        }
        for (int j = 0; j < 32; j++)
            y[j] = q[j] * dd;
    }
    if (out != in)
        memmove(out + 32 * nb, in + 32 * nb, (n - 32 * nb) * sizeof(float));
}

/* ---- llama.cpp layout ---- */

enum sl_err sl_fp_unpermute_qk(const float *in, float *out, uint64_t rows, uint64_t cols,
                               uint32_t n_head, struct sl_error *err)
{
    uint64_t hd, half;

    if (n_head == 0 || rows % (2 * (uint64_t)n_head) != 0)
        return sl_error_set(err, SL_EINPUT,
                            "cannot undo the q/k permutation: %llu rows is not a multiple of "
                            "2 x %u heads",
                            (unsigned long long)rows, n_head);
    hd = rows / n_head;
    half = hd / 2;
    /* convert_hf_to_gguf.py: w.reshape(n_head, 2, hd / 2, cols).swapaxes(1, 2):
     * GGUF row h*hd + 2i + a holds HF row h*hd + a*hd/2 + i */
    for (uint64_t h = 0; h < n_head; h++)
        for (uint64_t i = 0; i < half; i++)
            for (uint64_t a = 0; a < 2; a++)
                memcpy(out + (h * hd + a * half + i) * cols, in + (h * hd + 2 * i + a) * cols,
                       cols * sizeof(float));
    return SL_OK;
}

static const struct {
    const char *gguf, *hf;
} blk_names[] = {
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
};

static const struct {
    const char *gguf, *hf;
} top_names[] = {
    {"token_embd", "model.embed_tokens"},
    {"output", "lm_head"},
    {"output_norm", "model.norm"},
};

const char *sl_fp_gguf_name(const char *gguf, char *buf, size_t n)
{
    const char *dot, *suffix, *part;
    size_t plen;
    unsigned long layer = 0;
    int w;

    if (!gguf || !buf || n == 0)
        return NULL;
    dot = strrchr(gguf, '.');
    if (!dot || (strcmp(dot, ".weight") != 0 && strcmp(dot, ".bias") != 0))
        return NULL;
    suffix = dot + 1;
    if (strncmp(gguf, "blk.", 4) != 0) {
        plen = (size_t)(dot - gguf);
        for (size_t i = 0; i < sizeof(top_names) / sizeof(top_names[0]); i++) {
            if (strlen(top_names[i].gguf) == plen && strncmp(gguf, top_names[i].gguf, plen) == 0) {
                w = snprintf(buf, n, "%s.%s", top_names[i].hf, suffix);
                return w > 0 && (size_t)w < n ? buf : NULL;
            }
        }
        return NULL;
    }
    part = gguf + 4;
    if (*part < '0' || *part > '9' || (part[0] == '0' && part[1] >= '0' && part[1] <= '9'))
        return NULL;
    while (*part >= '0' && *part <= '9') {
        layer = layer * 10 + (unsigned long)(*part - '0');
        if (layer > 1000000)
            return NULL;
        part++;
    }
    if (*part != '.')
        return NULL;
    part++;
    plen = (size_t)(dot - part);
    for (size_t i = 0; i < sizeof(blk_names) / sizeof(blk_names[0]); i++) {
        if (strlen(blk_names[i].gguf) == plen && strncmp(part, blk_names[i].gguf, plen) == 0) {
            w = snprintf(buf, n, "model.layers.%lu.%s.%s", layer, blk_names[i].hf, suffix);
            return w > 0 && (size_t)w < n ? buf : NULL;
        }
    }
    return NULL;
}

bool sl_fp_suspect_name_ok(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len > SL_FP_SUSPECT_NAME_MAX || n[0] == '.')
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return sl_str_has_suffix(n, len, ".safetensors") || sl_str_has_suffix(n, len, ".gguf") ||
           sl_str_has_suffix(n, len, ".json");
}
