/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/formats/: the helpers the readers share, and the byte layouts
 * they parse, written down where the code lives (mirrored in docs/formats/).
 *
 * safetensors (reference: huggingface/safetensors, safetensors/src/tensor.rs)
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       8     N, u64 little-endian: length of the JSON header
 *   8       N     UTF-8 JSON object: "__metadata__" (string -> string, optional)
 *                 and one member per tensor {"dtype","shape","data_offsets"}
 *   8+N     ...   tensor data; data_offsets [begin, end) are relative to 8+N
 *
 *   Rules, in the reference reader's order: file < 8 bytes -> HeaderTooSmall;
 *   N > 100,000,000 -> HeaderTooLarge; 8+N > file size -> InvalidHeaderLength;
 *   not UTF-8 -> InvalidHeader; not JSON of that shape ->
 *   InvalidHeaderDeserialization; sorted by data_offsets, each begin must equal
 *   the previous end (first 0) and end >= begin -> InvalidOffset; element and
 *   bit counts must not overflow -> ValidationOverflow; bits % 8 == 0 ->
 *   MisalignedSlice; end - begin == bits / 8 -> TensorInvalidInfo; last end + 8
 *   + N == file size -> MetadataIncompleteBuffer. sluice also rejects duplicate
 *   names and names with a NUL character.
 *
 * GGUF v3 (reference: ggml-org/ggml docs/gguf.md and src/gguf.cpp)
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     magic "GGUF"
 *   4       4     version, u32 (2 and 3 accepted)
 *   8       8     tensor_count, u64
 *   16      8     metadata_kv_count, u64
 *   24      ...   KV: string key, u32 value type, value
 *                 string = u64 length + bytes (no NUL); array = u32 element
 *                 type, u64 count, elements
 *   ...     ...   tensor info: string name, u32 n_dims (<= 4), u64 ne[n_dims]
 *                 (innermost first), u32 ggml type, u64 offset (relative to
 *                 the data section)
 *   ...     ...   zero padding to general.alignment (default 32), only when
 *                 tensor_count > 0
 *   ...     ...   tensor data, in info order, each padded to the alignment
 *
 *   Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
 *   8 string, 9 array, 10 u64, 11 i64, 12 f64.
 */
#ifndef SL_FORMATS_FORMATS_INT_H
#define SL_FORMATS_FORMATS_INT_H

#include "formats/formats.h"

/* Adds a file to the model; returns its index. */
uint16_t sl__model_add_file(struct sl_model *m, const char *path, uint64_t size,
                            enum sl_format fmt);

/* Appends a tensor (copying `name` and `shape` into the arena) after checking
 * the tensor limit and that the name is new. `shape` is in PyTorch order. */
enum sl_err sl__model_add_tensor(struct sl_model *m, uint16_t file, const char *name,
                                 size_t name_len, unsigned dtype, const uint64_t *shape,
                                 unsigned ndim, uint64_t offset, uint64_t nbytes,
                                 struct sl_error *err);

/* Records a warning shown by `sluice inspect`. */
void sl__model_warn(struct sl_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct sl_model *sl__model_new(void);

/* Parses the safetensors header of file `file` (`size` bytes in total).
 * `json` holds the N header bytes that follow the 8-byte length. */
enum sl_err sl__st_parse_header(struct sl_model *m, uint16_t file, const char *json, size_t n,
                                uint64_t size, struct sl_error *err);

/* Reads a safetensors file's header from an open descriptor. `scratch` is
 * reused across shards. */
struct sl_buf;
enum sl_err sl__st_read_fd(struct sl_model *m, uint16_t file, int fd, struct sl_buf *scratch,
                           struct sl_error *err);

/* A byte source for the GGUF reader: a file descriptor or memory. */
struct sl_src {
    int fd;                   /* -1 for memory */
    const unsigned char *mem; /* whole file when fd == -1 */
    uint64_t size;
    uint64_t pos;
    const char *name;
    unsigned char *buf; /* read-ahead window for fd sources */
    uint64_t buf_off;
    size_t buf_len;
};

/* Reads the GGUF file behind `src` into file `file` of `m`. */
enum sl_err sl__gguf_read(struct sl_model *m, uint16_t file, struct sl_src *src,
                          struct sl_error *err);

/* The parsed index: shard names and, per tensor, its shard. */
struct sl_st_index {
    char **shards; /* unique shard file names, in first-seen order */
    size_t nshards;
    const char **tensor_names; /* weight_map keys, in the arena */
    uint32_t *tensor_shard;    /* weight_map values as shard indexes */
    size_t ntensors;
    uint64_t total_size; /* metadata.total_size, 0 if absent */
    struct sl_arena arena;
};

enum sl_err sl__st_index_parse(const char *name, const char *data, size_t len,
                               struct sl_st_index *idx, struct sl_error *err);
void sl__st_index_release(struct sl_st_index *idx);

/* Reads config.json text into hints. */
enum sl_err sl__config_parse(const char *name, const char *data, size_t len,
                             struct sl_model_hints *h, struct sl_error *err);

void sl__hints_init(struct sl_model_hints *h);

#endif
