/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Readers for model weight files: safetensors (single and sharded with
 * model.safetensors.index.json), GGUF v3 (single and gguf-split sets) and model
 * folders with config.json. They read headers only, never tensor data, and
 * every read is bounded. The result is one flat tensor list per model plus
 * architecture hints; compute/ turns it into parameter counts.
 */
#ifndef SL_FORMATS_FORMATS_H
#define SL_FORMATS_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/strmap.h"

/* Limits on outside bytes. */
#define SL_ST_MAX_HEADER     100000000ULL /* safetensors MAX_HEADER_SIZE */
#define SL_ST_MAX_DIMS       32           /* more dims than any real model uses */
#define SL_INDEX_MAX_BYTES   (256u << 20) /* model.safetensors.index.json */
#define SL_INDEX_MAX_SHARDS  10000        /* as huggingface.js */
#define SL_CONFIG_MAX_BYTES  (16u << 20)  /* config.json */
#define SL_GGUF_MAX_DIMS     4            /* GGML_MAX_DIMS */
#define SL_GGUF_MAX_NAME     63           /* GGML_MAX_NAME - 1 */
#define SL_GGUF_MAX_STRING   (1ULL << 30)
#define SL_GGUF_MAX_ARRAY    (1ULL << 30)
#define SL_GGUF_MAX_NEST     8           /* arrays of arrays */
#define SL_MODEL_MAX_TENSORS (16u << 20) /* across all files of one model */
#define SL_MODEL_MAX_FILES   10000

enum sl_format {
    SL_FMT_NONE = 0,
    SL_FMT_SAFETENSORS = 1,
    SL_FMT_GGUF = 2,
};

/* Storage types. Values below SL_DT_GGML are safetensors dtypes (in the order
 * of the reference enum); SL_DT_GGML + id is ggml type `id`. */
enum sl_dtype {
    SL_DT_BOOL,
    SL_DT_F4,
    SL_DT_F6_E2M3,
    SL_DT_F6_E3M2,
    SL_DT_U8,
    SL_DT_I8,
    SL_DT_F8_E5M2,
    SL_DT_F8_E4M3,
    SL_DT_F8_E8M0,
    SL_DT_F8_E4M3FNUZ,
    SL_DT_F8_E5M2FNUZ,
    SL_DT_I16,
    SL_DT_U16,
    SL_DT_F16,
    SL_DT_BF16,
    SL_DT_I32,
    SL_DT_U32,
    SL_DT_F32,
    SL_DT_C64,
    SL_DT_F64,
    SL_DT_I64,
    SL_DT_U64,
    SL_DT_ST_COUNT,
    SL_DT_GGML = 256,
};

/* Returns the name of a storage type ("BF16", "Q4_K"); never NULL. */
const char *sl_dtype_name(unsigned dtype);

/* Bits per element of a safetensors dtype, or 0 for an unknown one. */
unsigned sl_st_dtype_bits(unsigned dtype);

/* Looks a safetensors dtype name up; returns false when unknown. */
bool sl_st_dtype_parse(const char *s, size_t n, unsigned *dtype);

/* Block geometry of ggml type `id`; returns false for removed or unknown ids. */
bool sl_ggml_type_info(uint32_t id, const char **name, uint32_t *block_elems,
                       uint32_t *block_bytes);

/* True for the float types a fingerprint or a dtype check cares about. */
bool sl_dtype_is_float(unsigned dtype);

struct sl_tensor {
    const char *name; /* NUL-terminated, in the model's arena */
    uint64_t *shape;  /* PyTorch order (outermost first), in the arena */
    uint64_t nelem;   /* product of shape; 1 for a scalar */
    uint64_t offset;  /* absolute file offset of the data */
    uint64_t nbytes;  /* bytes of data */
    uint64_t hash;    /* sl_strhash(name, name_len), so the name is hashed once */
    uint32_t name_len;
    uint16_t dtype; /* enum sl_dtype */
    uint16_t file;  /* index into sl_model.files */
    uint8_t ndim;
};

struct sl_model_file {
    char *path;       /* as given or joined with its folder */
    const char *name; /* final path component (points into path) */
    uint64_t size;
    enum sl_format format;
    uint64_t data_start; /* first byte of tensor data */
    uint32_t tensors;    /* tensors read from this file */
    int32_t split_no;    /* GGUF split.no (0-based), -1 if absent */
    int32_t split_count; /* GGUF split.count, -1 if absent */
};

/* Architecture facts from config.json or GGUF metadata; -1 when unknown. */
struct sl_model_hints {
    char arch[64];         /* model_type / general.architecture, "" if unknown */
    char quant_method[32]; /* quantization_config.quant_method, "" if none */
    int64_t layers;
    int64_t hidden_size;
    int64_t vocab_size;
    int64_t experts;
    int64_t experts_per_token;
    int64_t quant_bits; /* quantization_config.bits (GPTQ/AWQ), -1 if unknown */
    int64_t gguf_file_type;
    int tie_word_embeddings; /* 1, 0 or -1 */
    bool from_config;        /* a config.json was read */
    bool from_gguf;          /* GGUF metadata was read */
};

struct sl_model {
    struct sl_arena arena;
    struct sl_model_file *files;
    size_t nfiles;
    struct sl_tensor *tensors;
    size_t ntensors;
    size_t tensors_cap;
    struct sl_strmap names; /* tensor name -> index, for duplicate checks */
    struct sl_model_hints hints;
    enum sl_format format;
    bool sharded;              /* several weight files form the model */
    uint64_t index_total_size; /* metadata.total_size of the index, 0 if none */
    char **warnings;
    size_t nwarnings;
};

/* Reads the model made of `paths` (files or folders; all of them together are
 * one model) and returns it in `*out`; the caller frees it with
 * sl_model_free(). Folders contribute their *.safetensors, *.gguf, index and
 * config.json files (see docs/formats/README.md for the rules). On failure the
 * error names the file, the field or byte offset, and what is wrong. */
enum sl_err sl_model_open(const char *const *paths, size_t npaths, struct sl_model **out,
                          struct sl_error *err);

void sl_model_free(struct sl_model *m);

/* Parses a safetensors file held in memory (`data[0..len)` is the whole file)
 * into a new model. Used by the fuzzer and tests; sl_model_open() reads files. */
enum sl_err sl_safetensors_parse_mem(const char *name, const unsigned char *data, size_t len,
                                     struct sl_model **out, struct sl_error *err);

/* Same for a GGUF file held in memory. */
enum sl_err sl_gguf_parse_mem(const char *name, const unsigned char *data, size_t len,
                              struct sl_model **out, struct sl_error *err);

/* Parses the text of a model.safetensors.index.json into `m` as expected
 * shards: for tests and the fuzzer. Returns the number of shards in `*nshards`. */
enum sl_err sl_st_index_parse_mem(const char *name, const char *data, size_t len, size_t *nshards,
                                  size_t *nweights, struct sl_error *err);

/* Name of a model's format as shown to users ("safetensors", "gguf"). */
const char *sl_format_name(enum sl_format f);

#endif
