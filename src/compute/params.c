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

static void add_comp(struct comps *c, const char *start, const char *stop)
{
    if (c->count < MAX_COMPS) {
        c->p[c->count] = start;
        c->n[c->count] = (uint32_t)(stop - start);
        c->count++;
    } else {
        /* fold the rest into the last component */
        c->n[MAX_COMPS - 1] = (uint32_t)(stop - c->p[MAX_COMPS - 1]);
    }
}

/* Splits a name at its dots. Every tensor is split once per count, so dots
 * are found eight bytes at a time where the byte order allows. */
static void split(const char *name, size_t len, struct comps *c)
{
    const char *start = name;
    size_t i = 0;

    c->count = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= len; i += 8) {
        const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
        uint64_t w, x, dots;
        memcpy(&w, name + i, 8);
        x = w ^ 0x2e2e2e2e2e2e2e2eULL; /* '.' bytes become zero */
        /* 0x80 in exactly the zero bytes (no borrows between bytes) */
        dots = ~(((x & low7) + low7) | x | low7);
        while (dots) {
            const char *dot = name + i + (unsigned)__builtin_ctzll(dots) / 8;
            add_comp(c, start, dot);
            start = dot + 1;
            dots &= dots - 1;
        }
    }
#endif
    for (; i < len; i++) {
        if (name[i] == '.') {
            add_comp(c, start, name + i);
            start = name + i + 1;
        }
    }
    add_comp(c, start, name + len);
}

/* Component i exists and is `n` bytes equal to `lit`. */
static inline bool ceq(const struct comps *c, int i, const char *lit, size_t n)
{
    return i >= 0 && i < c->count && c->n[i] == n && memcmp(c->p[i], lit, n) == 0;
}

/* Component i equals string literal `lit`; the length is a constant. */
#define CEQ(c, i, lit) ceq((c), (i), (lit), sizeof(lit) - 1)

/* Component i exists and is in the set that `is` tests. */
static inline bool cin(const struct comps *c, int i, bool (*is)(const char *, uint32_t))
{
    return i >= 0 && i < c->count && is(c->p[i], c->n[i]);
}

/* Set membership by length, then by literal compares that the compiler turns
 * into a word or two; each tensor name meets these several times. */
#define EQ(p, lit) (memcmp((p), (lit), sizeof(lit) - 1) == 0)

/* Buffers stored beside the weights. */
static bool is_buffer_word(const char *p, uint32_t n)
{
    switch (n) {
    case 8:
        return EQ(p, "inv_freq");
    case 11:
        return EQ(p, "masked_bias");
    case 12:
        return EQ(p, "position_ids");
    default:
        return false;
    }
}

/* Quantisation bookkeeping. */
static bool is_quant_word(const char *p, uint32_t n)
{
    switch (n) {
    case 3:
        return EQ(p, "SCB");
    case 5:
        return EQ(p, "g_idx");
    case 6:
        return EQ(p, "qzeros") || EQ(p, "scales") || EQ(p, "absmax");
    case 7:
        return EQ(p, "k_scale") || EQ(p, "v_scale") || EQ(p, "q_scale");
    case 9:
        return EQ(p, "quant_map");
    case 11:
        return EQ(p, "input_scale");
    case 12:
        return EQ(p, "weight_scale") || EQ(p, "output_scale") || EQ(p, "weight_shape") ||
               EQ(p, "weight_g_idx");
    case 13:
        return EQ(p, "nested_absmax") || EQ(p, "weight_format");
    case 16:
        return EQ(p, "weight_scale_inv") || EQ(p, "nested_quant_map") || EQ(p, "input_zero_point");
    case 17:
        return EQ(p, "weight_zero_point");
    case 18:
        return EQ(p, "input_global_scale");
    case 19:
        return EQ(p, "weight_global_scale");
    default:
        return false;
    }
}

/* Components followed by a layer number. */
static bool is_layer_word(const char *p, uint32_t n)
{
    switch (n) {
    case 1:
        return EQ(p, "h");
    case 3:
        return EQ(p, "blk");
    case 5:
        return EQ(p, "layer") || EQ(p, "block");
    case 6:
        return EQ(p, "layers") || EQ(p, "blocks");
    default:
        return false;
    }
}

/* Token embeddings. */
static bool is_embed_word(const char *p, uint32_t n)
{
    switch (n) {
    case 3:
        return EQ(p, "wte");
    case 8:
        return EQ(p, "embed_in");
    case 10:
        return EQ(p, "token_embd");
    case 12:
        return EQ(p, "embed_tokens");
    case 14:
        return EQ(p, "tok_embeddings");
    case 15:
        return EQ(p, "word_embeddings");
    default:
        return false;
    }
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

static bool has_sibling(const struct sl_model *m, const struct sl_tensor *t, const char *suffix)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s%s", t->name, suffix);

    return n > 0 && (size_t)n < sizeof(buf) && sl_strmap_get(&m->names, buf, (size_t)n, NULL);
}

/* sl_tensor_role() on a name already split into `c`. */
static enum sl_tensor_role role_of(const struct sl_model *m, const struct sl_tensor *t,
                                   const struct comps *c, uint64_t *num, uint64_t *den)
{
    int last = c->count - 1;

    *num = 1;
    *den = 1;
    if (cin(c, last, is_buffer_word))
        return SL_ROLE_BUFFER;
    /* Causal-mask buffers: GPT-2's h.N.attn.bias [1,1,n_ctx,n_ctx], GPT-Neo's
     * attn.attention.bias. A real attention bias is never 4-D. */
    if (CEQ(c, last, "bias") && (CEQ(c, last - 1, "attn") || CEQ(c, last - 1, "attention")) &&
        t->ndim == 4)
        return SL_ROLE_BUFFER;
    if (cin(c, last, is_quant_word) || cends(c, last, "_scales"))
        return SL_ROLE_QUANT;
    for (int i = 0; i < c->count; i++)
        if (CEQ(c, i, "quant_state"))
            return SL_ROLE_QUANT;
    /* Packed containers. */
    if (CEQ(c, last, "qweight") || CEQ(c, last, "weight_packed")) {
        uint64_t bits = m->hints.quant_bits > 0 ? (uint64_t)m->hints.quant_bits : 4;
        *num = sl_st_dtype_bits(t->dtype);
        *den = bits;
        return SL_ROLE_PARAM;
    }
    if (t->dtype == SL_DT_U8 && cends(c, last, "_blocks")) {
        *num = 2; /* MXFP4: two 4-bit values per byte (gpt-oss) */
        return SL_ROLE_PARAM;
    }
    if (t->dtype == SL_DT_U8 && CEQ(c, last, "weight") &&
        (has_sibling(m, t, ".absmax") || has_sibling(m, t, ".quant_state.bitsandbytes__nf4") ||
         has_sibling(m, t, ".quant_state.bitsandbytes__fp4"))) {
        *num = 2; /* bitsandbytes 4-bit: two values per byte */
        return SL_ROLE_PARAM;
    }
    return SL_ROLE_PARAM;
}

enum sl_tensor_role sl_tensor_role(const struct sl_model *m, const struct sl_tensor *t,
                                   uint64_t *num, uint64_t *den)
{
    struct comps c;

    if (t->dtype >= SL_DT_GGML) {
        *num = 1;
        *den = 1;
        return SL_ROLE_PARAM; /* GGUF stores no buffers or bookkeeping tensors */
    }
    split(t->name, t->name_len, &c);
    return role_of(m, t, &c, num, den);
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
        if (!CEQ(c, i, "experts"))
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

/* What the architecture scan must find: only what config.json or the GGUF
 * metadata leave unknown. */
struct arch_need {
    bool layers; /* the highest layer number */
    bool embed;  /* vocabulary and hidden size from the embedding */
    bool head;   /* whether an output head exists (for tied embeddings) */
};

static void read_arch(const struct sl_tensor *t, const struct comps *c,
                      const struct arch_need *need, int64_t *max_layer, int64_t *vocab,
                      int64_t *hidden, bool *head)
{
    int last = c->count - 1;

    for (int i = 0; need->layers && i + 1 < c->count; i++) {
        uint64_t n;
        if (cin(c, i, is_layer_word) && cdigits(c, i + 1, &n)) {
            if ((int64_t)n > *max_layer)
                *max_layer = (int64_t)n;
            break;
        }
    }
    if (!CEQ(c, last, "weight"))
        return;
    if (need->embed && cin(c, last - 1, is_embed_word) && t->ndim == 2 && *vocab < 0) {
        *vocab = (int64_t)t->shape[0];
        *hidden = (int64_t)t->shape[1];
    }
    if (need->head && (CEQ(c, last - 1, "lm_head") || CEQ(c, last - 1, "embed_out") ||
                       (c->count == 2 && CEQ(c, 0, "output"))))
        *head = true;
}

void sl_count_params(const struct sl_model *m, struct sl_param_count *out)
{
    struct sl_strmap gmap = SL_STRMAP_INIT;
    struct group *groups = NULL;
    size_t ngroups = 0, last_glen = 0;
    const char *last_gname = NULL;
    uint32_t last_gi = 0;
    int64_t max_layer = -1, vocab = -1, hidden = -1;
    bool head = false;
    uint64_t e_model = 0, inactive = 0;
    struct arch_need need;

    /* The tied-embeddings answer needs the vocabulary as well as the head. */
    need.layers = m->hints.layers < 0;
    need.head = m->hints.tie_word_embeddings < 0;
    need.embed = m->hints.hidden_size < 0 || m->hints.vocab_size < 0 || need.head;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < m->ntensors; i++) {
        const struct sl_tensor *t = &m->tensors[i];
        struct comps c;
        uint64_t num = 1, den = 1, p, e_implied = 0;
        bool merged = false;
        size_t glen;
        enum sl_tensor_role role = SL_ROLE_PARAM;

        split(t->name, t->name_len, &c);
        if (t->dtype < SL_DT_GGML)
            role = role_of(m, t, &c, &num, &den);
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
        p = num == den ? t->nelem : sl_muldiv_u64(t->nelem, num, den);
        if (num != 1 || den != 1)
            out->packed_tensors++;
        out->total += p;
        add_dtype(out, t->dtype, p);

        read_arch(t, &c, &need, &max_layer, &vocab, &hidden, &head);
        glen = expert_group(t, &c, &e_implied, &merged);
        if (glen > 0) {
            uint32_t gi;
            /* Tensors of one group come together: try the last group first. */
            if (glen == last_glen && memcmp(t->name, last_gname, glen) == 0) {
                gi = last_gi;
            } else if (!sl_strmap_get(&gmap, t->name, glen, &gi)) {
                gi = (uint32_t)ngroups;
                groups = sl_xrealloc(groups, (ngroups + 1) * sizeof(*groups));
                memset(&groups[ngroups], 0, sizeof(*groups));
                ngroups++;
                sl_strmap_insert(&gmap, t->name, glen, gi, NULL);
            }
            last_gname = t->name;
            last_glen = glen;
            last_gi = gi;
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
