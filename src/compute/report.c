/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inspection report of a model as JSON, shared by `sluice inspect` and
 * the server.
 */
#include "compute/compute.h"

#include <jansson.h>
#include <string.h>

#include "common/util.h"
#include "common/banned.h"

static json_t *known_or_null(int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *sl_model_report(const struct sl_model *m, const struct sl_param_count *pc, bool tensors)
{
    json_t *r = json_object(), *files = json_array(), *dt = json_object(), *arch = json_object();
    json_t *warn = json_array();

    json_object_set_new(r, "format", json_string(sl_format_name(m->format)));
    json_object_set_new(r, "sharded", json_boolean(m->sharded));
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct sl_model_file *f = &m->files[i];
        json_array_append_new(
            files, json_pack("{s:s, s:s, s:I, s:I, s:I}", "path", f->path, "format",
                             sl_format_name(f->format), "size", (json_int_t)f->size, "tensors",
                             (json_int_t)f->tensors, "data_start", (json_int_t)f->data_start));
    }
    json_object_set_new(r, "files", files);
    json_object_set_new(r, "tensor_count", json_integer((json_int_t)m->ntensors));
    json_object_set_new(r, "params_total", json_integer((json_int_t)pc->total));
    json_object_set_new(r, "params_active",
                        pc->active_known ? json_integer((json_int_t)pc->active) : json_null());
    for (size_t i = 0; i < pc->n_dtypes; i++)
        json_object_set_new(dt, sl_dtype_name(pc->by_dtype[i].dtype),
                            json_integer((json_int_t)pc->by_dtype[i].params));
    json_object_set_new(r, "params_by_dtype", dt);
    if (pc->arch[0])
        json_object_set_new(arch, "type", json_string(pc->arch));
    if (pc->layers >= 0)
        json_object_set_new(arch, "layers", json_integer(pc->layers));
    if (pc->hidden_size >= 0)
        json_object_set_new(arch, "hidden_size", json_integer(pc->hidden_size));
    if (pc->vocab_size >= 0)
        json_object_set_new(arch, "vocab_size", json_integer(pc->vocab_size));
    json_object_set_new(arch, "experts", known_or_null(pc->experts));
    if (pc->experts != 0)
        json_object_set_new(arch, "experts_per_token", known_or_null(pc->experts_per_token));
    if (pc->tied_embeddings >= 0)
        json_object_set_new(arch, "tied_embeddings", json_boolean(pc->tied_embeddings));
    json_object_set_new(r, "architecture", arch);
    json_object_set_new(r, "excluded",
                        json_pack("{s:I, s:I}", "buffer_elements", (json_int_t)pc->buffer_elements,
                                  "quantization_elements", (json_int_t)pc->quant_elements));
    json_object_set_new(r, "header_elements", json_integer((json_int_t)pc->header_elements));
    json_object_set_new(r, "data_bytes", json_integer((json_int_t)pc->data_bytes));
    if (m->index_total_size)
        json_object_set_new(r, "index_total_size", json_integer((json_int_t)m->index_total_size));
    for (size_t i = 0; i < m->nwarnings; i++)
        json_array_append_new(warn, json_string(m->warnings[i]));
    if (m->index_total_size && m->index_total_size != pc->data_bytes)
        json_array_append_new(warn, json_sprintf("index metadata.total_size %llu differs from the "
                                                 "%llu data bytes in the shards",
                                                 (unsigned long long)m->index_total_size,
                                                 (unsigned long long)pc->data_bytes));
    json_object_set_new(r, "warnings", warn);
    json_object_set_new(r, "note", pc->note[0] ? json_string(pc->note) : json_null());
    if (tensors) {
        json_t *tl = json_array();
        static const char *const roles[] = {"param", "buffer", "quantization"};
        for (size_t i = 0; i < m->ntensors; i++) {
            const struct sl_tensor *t = &m->tensors[i];
            json_t *shape = json_array();
            uint64_t num, den;
            enum sl_tensor_role role = sl_tensor_role(m, t, &num, &den);
            for (unsigned d = 0; d < t->ndim; d++)
                json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
            json_array_append_new(
                tl,
                json_pack("{s:s, s:s, s:o, s:s, s:I, s:s, s:I, s:I}", "name", t->name, "dtype",
                          sl_dtype_name(t->dtype), "shape", shape, "role", roles[role], "params",
                          role == SL_ROLE_PARAM ? (json_int_t)sl_muldiv_u64(t->nelem, num, den)
                                                : (json_int_t)0,
                          "file", m->files[t->file].name, "offset", (json_int_t)t->offset, "bytes",
                          (json_int_t)t->nbytes));
        }
        json_object_set_new(r, "tensors", tl);
    }
    return r;
}
