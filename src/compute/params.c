/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parameter counting from tensor headers (research: formats-cdc-fingerprint.md
 * §3). The sum of tensor elements over-counts: buffers such as GPT-2's causal
 * masks and quantisation bookkeeping (scales, zero points, group indexes) are
 * stored beside the weights, and packed containers (4-bit values in I32 or U8)
 * hold several parameters per element. Active parameters per token scale each
 * group of routed experts by k/E; embeddings, output head, routers and shared
 * experts stay fully active.
 */
#include "compute/compute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"
#include "common/util.h"
#include "common/banned.h"

#define MAX_COMPS 48

struct comps {
    const char *p[MAX_COMPS];
    uint32_t n[MAX_COMPS];
    int count;
};

static void split(const char *name, size_t len, struct comps *c)
{
    size_t start = 0;

    c->count = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '.') {
            if (c->count < MAX_COMPS) {
                c->p[c->count] = name + start;
                c->n[c->count] = (uint32_t)(i - start);
                c->count++;
            } else {
                /* fold the rest into the last component */
                c->n[MAX_COMPS - 1] = (uint32_t)(i - (size_t)(c->p[MAX_COMPS - 1] - name));
            }
            start = i + 1;
        }
    }
}

static bool ceq(const struct comps *c, int i, const char *s)
{
    size_t n = strlen(s);

    return i >= 0 && i < c->count && c->n[i] == n && memcmp(c->p[i], s, n) == 0;
}

static bool cends(const struct comps *c, int i, const char *suffix)
{
    return i >= 0 && i < c->count && sl_str_has_suffix(c->p[i], c->n[i], suffix);
}

static bool cdigits(const struct comps *c, int i, uint64_t *v)
{
    uint64_t acc = 0;

    if (i < 0 || i >= c->count || c->n[i] == 0 || c->n[i] > 9)
        return false;
    for (uint32_t k = 0; k < c->n[i]; k++) {
        char ch = c->p[i][k];
        if (ch < '0' || ch > '9')
            return false;
        acc = acc * 10 + (uint64_t)(ch - '0');
    }
    *v = acc;
    return true;
}

static bool cin(const struct comps *c, int i, const char *const *set)
{
    for (; *set; set++)
        if (ceq(c, i, *set))
            return true;
    return false;
}

static bool has_sibling(const struct sl_model *m, const struct sl_tensor *t, const char *suffix)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s%s", t->name, suffix);

    return n > 0 && (size_t)n < sizeof(buf) && sl_strmap_get(&m->names, buf, (size_t)n, NULL);
}

enum sl_tensor_role sl_tensor_role(const struct sl_model *m, const struct sl_tensor *t,
                                   uint64_t *num, uint64_t *den)
{
    static const char *const buffers[] = {"position_ids", "inv_freq", "masked_bias", NULL};
    static const char *const quant[] = {"weight_scale",
                                        "weight_scale_inv",
                                        "weight_zero_point",
                                        "input_scale",
                                        "output_scale",
                                        "k_scale",
                                        "v_scale",
                                        "q_scale",
                                        "qzeros",
                                        "g_idx",
                                        "scales",
                                        "absmax",
                                        "quant_map",
                                        "nested_absmax",
                                        "nested_quant_map",
                                        "weight_shape",
                                        "weight_g_idx",
                                        "SCB",
                                        "weight_format",
                                        "input_zero_point",
                                        "weight_global_scale",
                                        "input_global_scale",
                                        NULL};
    struct comps c;
    int last;

    *num = 1;
    *den = 1;
    if (t->dtype >= SL_DT_GGML)
        return SL_ROLE_PARAM; /* GGUF stores no buffers or bookkeeping tensors */
    split(t->name, t->name_len, &c);
    last = c.count - 1;
    if (cin(&c, last, buffers))
        return SL_ROLE_BUFFER;
    /* Causal-mask buffers: GPT-2's h.N.attn.bias [1,1,n_ctx,n_ctx], GPT-Neo's
     * attn.attention.bias. A real attention bias is never 4-D. */
    if (ceq(&c, last, "bias") && (ceq(&c, last - 1, "attn") || ceq(&c, last - 1, "attention")) &&
        t->ndim == 4)
        return SL_ROLE_BUFFER;
    if (cin(&c, last, quant) || cends(&c, last, "_scales"))
        return SL_ROLE_QUANT;
    for (int i = 0; i < c.count; i++)
        if (ceq(&c, i, "quant_state"))
            return SL_ROLE_QUANT;
    /* Packed containers. */
    if (ceq(&c, last, "qweight") || ceq(&c, last, "weight_packed")) {
        uint64_t bits = m->hints.quant_bits > 0 ? (uint64_t)m->hints.quant_bits : 4;
        *num = sl_st_dtype_bits(t->dtype);
        *den = bits;
        return SL_ROLE_PARAM;
    }
    if (t->dtype == SL_DT_U8 && cends(&c, last, "_blocks")) {
        *num = 2; /* MXFP4: two 4-bit values per byte (gpt-oss) */
        return SL_ROLE_PARAM;
    }
    if (t->dtype == SL_DT_U8 && ceq(&c, last, "weight") &&
        (has_sibling(m, t, ".absmax") || has_sibling(m, t, ".quant_state.bitsandbytes__nf4") ||
         has_sibling(m, t, ".quant_state.bitsandbytes__fp4"))) {
        *num = 2; /* bitsandbytes 4-bit: two values per byte */
        return SL_ROLE_PARAM;
    }
    return SL_ROLE_PARAM;
}

struct group {
    uint64_t params;
    uint64_t experts; /* E */
    bool merged;
};

/* Finds the routed-expert group a tensor belongs to. Returns the length of
 * the group key (a prefix of the name) and sets the expert count it implies. */
static size_t expert_group(const struct sl_tensor *t, const struct comps *c, uint64_t *e_implied,
                           bool *merged)
{
    int last = c->count - 1;

    for (int i = 0; i < c->count - 1; i++) {
        uint64_t id;
        if (!ceq(c, i, "experts"))
            continue;
        if (cdigits(c, i + 1, &id)) {
            *e_implied = id + 1;
            *merged = false;
        } else {
            *e_implied = t->ndim > 0 ? t->shape[0] : 1;
            *merged = true;
        }
        return (size_t)(c->p[i] - t->name) + c->n[i];
    }
    /* GGUF: blk.N.ffn_{gate,up,down}_exps.weight, experts on the outer dim. */
    if (t->dtype >= SL_DT_GGML && last >= 1 && cends(c, last - 1, "_exps")) {
        *e_implied = t->ndim > 0 ? t->shape[0] : 1;
        *merged = true;
        return last >= 2 ? (size_t)(c->p[last - 2] - t->name) + c->n[last - 2] : 0;
    }
    return 0;
}

static void add_dtype(struct sl_param_count *out, unsigned dtype, uint64_t params)
{
    for (size_t i = 0; i < out->n_dtypes; i++) {
        if (out->by_dtype[i].dtype == dtype) {
            out->by_dtype[i].params += params;
            return;
        }
    }
    if (out->n_dtypes < SL_ARRAY_LEN(out->by_dtype)) {
        out->by_dtype[out->n_dtypes].dtype = dtype;
        out->by_dtype[out->n_dtypes].params = params;
        out->n_dtypes++;
    }
}

static void read_arch(const struct sl_tensor *t, const struct comps *c, int64_t *max_layer,
                      int64_t *vocab, int64_t *hidden, bool *head)
{
    static const char *const layer_words[] = {"layers", "h",     "blk", "layer",
                                              "blocks", "block", NULL};
    static const char *const embeds[] = {
        "embed_tokens", "wte", "token_embd", "word_embeddings", "tok_embeddings", "embed_in", NULL};
    int last = c->count - 1;

    for (int i = 0; i + 1 < c->count; i++) {
        uint64_t n;
        if (cin(c, i, layer_words) && cdigits(c, i + 1, &n)) {
            if ((int64_t)n > *max_layer)
                *max_layer = (int64_t)n;
            break;
        }
    }
    if (ceq(c, last, "weight") && cin(c, last - 1, embeds) && t->ndim == 2 && *vocab < 0) {
        *vocab = (int64_t)t->shape[0];
        *hidden = (int64_t)t->shape[1];
    }
    if (ceq(c, last, "weight") && (ceq(c, last - 1, "lm_head") || ceq(c, last - 1, "embed_out") ||
                                   (c->count == 2 && ceq(c, 0, "output"))))
        *head = true;
}

void sl_count_params(const struct sl_model *m, struct sl_param_count *out)
{
    struct sl_strmap gmap = SL_STRMAP_INIT;
    struct group *groups = NULL;
    size_t ngroups = 0;
    int64_t max_layer = -1, vocab = -1, hidden = -1;
    bool head = false;
    uint64_t e_model = 0, inactive = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < m->ntensors; i++) {
        const struct sl_tensor *t = &m->tensors[i];
        struct comps c;
        uint64_t num, den, p, e_implied = 0;
        bool merged = false;
        size_t glen;
        enum sl_tensor_role role = sl_tensor_role(m, t, &num, &den);

        out->header_elements += t->nelem;
        out->data_bytes += t->nbytes;
        if (role == SL_ROLE_BUFFER) {
            out->buffer_elements += t->nelem;
            continue;
        }
        if (role == SL_ROLE_QUANT) {
            out->quant_elements += t->nelem;
            continue;
        }
        p = sl_muldiv_u64(t->nelem, num, den);
        if (num != 1 || den != 1)
            out->packed_tensors++;
        out->total += p;
        add_dtype(out, t->dtype, p);

        split(t->name, t->name_len, &c);
        read_arch(t, &c, &max_layer, &vocab, &hidden, &head);
        glen = expert_group(t, &c, &e_implied, &merged);
        if (glen > 0) {
            uint32_t gi;
            if (!sl_strmap_get(&gmap, t->name, glen, &gi)) {
                gi = (uint32_t)ngroups;
                groups = sl_xrealloc(groups, (ngroups + 1) * sizeof(*groups));
                memset(&groups[ngroups], 0, sizeof(*groups));
                ngroups++;
                sl_strmap_insert(&gmap, t->name, glen, gi, NULL);
            }
            groups[gi].params += p;
            if (e_implied > groups[gi].experts)
                groups[gi].experts = e_implied;
            groups[gi].merged |= merged;
        }
    }

    /* Architecture: declared hints first, then what the shapes say. */
    snprintf(out->arch, sizeof(out->arch), "%s", m->hints.arch);
    out->layers = m->hints.layers >= 0 ? m->hints.layers : (max_layer >= 0 ? max_layer + 1 : -1);
    out->hidden_size = m->hints.hidden_size >= 0 ? m->hints.hidden_size : hidden;
    out->vocab_size = m->hints.vocab_size >= 0 ? m->hints.vocab_size : vocab;
    if (m->hints.tie_word_embeddings >= 0)
        out->tied_embeddings = m->hints.tie_word_embeddings;
    else
        out->tied_embeddings = vocab >= 0 ? !head : -1;

    out->active = out->total;
    out->active_known = true;
    out->moe_groups = (uint32_t)ngroups;
    for (size_t g = 0; g < ngroups; g++) {
        out->expert_params += groups[g].params;
        if (groups[g].experts > e_model)
            e_model = groups[g].experts;
    }
    if (ngroups == 0) {
        out->experts = 0;
        out->experts_per_token = 0;
    } else {
        int64_t k = m->hints.experts_per_token;
        out->experts = (int64_t)e_model;
        out->experts_per_token = k;
        if (m->hints.experts > 0 && (uint64_t)m->hints.experts != e_model)
            snprintf(out->note, sizeof(out->note),
                     "config declares %lld experts but the tensors hold %llu",
                     (long long)m->hints.experts, (unsigned long long)e_model);
        if (k <= 0 || (uint64_t)k > e_model) {
            out->active_known = false;
            snprintf(out->note, sizeof(out->note),
                     "mixture of %llu experts but experts per token is unknown (no config.json "
                     "num_experts_per_tok or GGUF expert_used_count): active parameters unknown",
                     (unsigned long long)e_model);
        } else {
            for (size_t g = 0; g < ngroups; g++) {
                uint64_t e = groups[g].experts;
                if (e > (uint64_t)k)
                    inactive += sl_muldiv_u64(groups[g].params, e - (uint64_t)k, e);
            }
            out->active = out->total - inactive;
        }
    }
    sl_strmap_release(&gmap);
    free(groups);
}
