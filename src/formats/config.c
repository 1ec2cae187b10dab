/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads the architecture hints sluice needs from a Hugging Face config.json:
 * model type, layers, hidden size, vocabulary, experts and experts per token
 * (under the several names different families use), tied embeddings, and the
 * quantisation method and bit width that tell how packed tensors count.
 * Multimodal configs keep the language model under text_config; its values
 * are used when the top level lacks them.
 */
#include "formats/formats_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

void sl__hints_init(struct sl_model_hints *h)
{
    memset(h, 0, sizeof(*h));
    h->layers = -1;
    h->hidden_size = -1;
    h->vocab_size = -1;
    h->experts = -1;
    h->experts_per_token = -1;
    h->quant_bits = -1;
    h->gguf_file_type = -1;
    h->tie_word_embeddings = -1;
}

static int64_t get_int(json_t *o, const char *const *names)
{
    for (; *names; names++) {
        json_t *v = json_object_get(o, *names);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            return (int64_t)json_integer_value(v);
        if (json_is_real(v)) {
            double d = json_real_value(v);
            if (d >= 0 && d < 9e18 && floor(d) == d)
                return (int64_t)d;
        }
    }
    return -1;
}

static void fill_from(json_t *o, struct sl_model_hints *h)
{
    static const char *const layers[] = {"num_hidden_layers", "n_layer", "num_layers", "n_layers",
                                         NULL};
    static const char *const hidden[] = {"hidden_size", "n_embd", "d_model", "dim", NULL};
    static const char *const vocab[] = {"vocab_size", "padded_vocab_size", NULL};
    static const char *const experts[] = {"num_local_experts", "num_experts", "n_routed_experts",
                                          "moe_num_experts",   "n_experts",   NULL};
    static const char *const per_tok[] = {"num_experts_per_tok",
                                          "experts_per_token",
                                          "num_experts_per_token",
                                          "moe_topk",
                                          "moe_k",
                                          "n_activated_experts",
                                          NULL};
    json_t *v;

    if (!h->arch[0]) {
        v = json_object_get(o, "model_type");
        if (json_is_string(v) && json_string_length(v) < sizeof(h->arch))
            snprintf(h->arch, sizeof(h->arch), "%s", json_string_value(v));
    }
    if (h->layers < 0)
        h->layers = get_int(o, layers);
    if (h->hidden_size < 0)
        h->hidden_size = get_int(o, hidden);
    if (h->vocab_size < 0)
        h->vocab_size = get_int(o, vocab);
    if (h->experts < 0)
        h->experts = get_int(o, experts);
    if (h->experts_per_token < 0)
        h->experts_per_token = get_int(o, per_tok);
    if (h->tie_word_embeddings < 0) {
        v = json_object_get(o, "tie_word_embeddings");
        if (json_is_boolean(v))
            h->tie_word_embeddings = json_is_true(v);
    }
}

static void fill_quant(json_t *q, struct sl_model_hints *h)
{
    json_t *v = json_object_get(q, "quant_method");
    const char *key;
    json_t *group;

    if (json_is_string(v) && json_string_length(v) < sizeof(h->quant_method))
        snprintf(h->quant_method, sizeof(h->quant_method), "%s", json_string_value(v));
    v = json_object_get(q, "bits");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 32)
        h->quant_bits = (int64_t)json_integer_value(v);
    v = json_object_get(q, "w_bit"); /* AWQ */
    if (h->quant_bits < 0 && json_is_integer(v) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= 32)
        h->quant_bits = (int64_t)json_integer_value(v);
    if (h->quant_bits < 0 && json_is_true(json_object_get(q, "load_in_4bit")))
        h->quant_bits = 4;
    /* compressed-tensors: config_groups.<group>.weights.num_bits */
    json_object_foreach(json_object_get(q, "config_groups"), key, group)
    {
        json_t *nb = json_object_get(json_object_get(group, "weights"), "num_bits");
        (void)key;
        if (h->quant_bits < 0 && json_is_integer(nb) && json_integer_value(nb) > 0 &&
            json_integer_value(nb) <= 32)
            h->quant_bits = (int64_t)json_integer_value(nb);
    }
}

enum sl_err sl__config_parse(const char *name, const char *data, size_t len,
                             struct sl_model_hints *h, struct sl_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    json_t *q;

    if (!root)
        return sl_error_set(err, SL_EINPUT, "%s: byte %d: %s", name, je.position, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return sl_error_set(err, SL_EINPUT, "%s: expected a JSON object", name);
    }
    fill_from(root, h);
    {
        static const char *const nested[] = {"text_config", "llm_config", "language_config",
                                             "thinker_config"};
        for (size_t i = 0; i < SL_ARRAY_LEN(nested); i++) {
            json_t *sub = json_object_get(root, nested[i]);
            if (json_is_object(sub))
                fill_from(sub, h);
        }
    }
    q = json_object_get(root, "quantization_config");
    if (json_is_object(q))
        fill_quant(q, h);
    h->from_config = true;
    json_decref(root);
    return SL_OK;
}
