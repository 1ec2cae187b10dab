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

/* sl_utf8_valid() for headers and indexes, which are nearly always ASCII:
 * skips the ASCII prefix 32 bytes at a time and checks only the rest. Same
 * result and same `*bad_at`. */
bool sl__utf8_valid(const char *s, size_t len, size_t *bad_at);

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

/* One safetensors file read on its own, so that many can be read at once
 * (st_shards.c). Reading fills the part without touching the model;
 * sl__st_parts_merge() then appends parts to the model in file order and
 * checks what needs the whole model (duplicate names, limits), so errors come
 * out exactly as if the files had been read one after another. */
struct sl_st_part {
    const char *path;          /* shown as m->files[].path; borrowed */
    const char *listed;        /* shard name as the index lists it (NULL without
                                  index), for the merge's "listed but missing" */
    const char *index_path;    /* the index, for "listed but missing"; NULL without */
    struct sl_arena *arena;    /* gets names and shapes; must end up in the model's */
    uint64_t size;             /* file size */
    uint64_t data_start;       /* 8 + header length, once validated */
    struct sl_tensor *tensors; /* the good tensors in header order, .file unset */
    size_t ntensors;
    size_t cap;
    char **warnings;
    size_t nwarnings;
    bool opened;    /* the file was opened, so the model lists it */
    enum sl_err rc; /* first failure, met after the ntensors good tensors */
    struct sl_error err;
};

/* Reads the file `p->path` into `p`, with `scratch` as the header buffer
 * (reused across files). Never fails itself: the outcome is in p->rc. */
struct sl_buf;
void sl__st_part_read(struct sl_st_part *p, struct sl_buf *scratch);

/* Frees what a part holds apart from its arena. */
void sl__st_part_release(struct sl_st_part *p);

/* Merging parts into a model, in file order: sl__st_merge_part() appends a
 * part's file, tensors and warnings (and may run while later parts are still
 * being read). Names go into m->names in model order, so that the first name
 * seen twice is the one a one-file-at-a-time reader met: from the start once
 * sl__st_merge_reserve() has sized the map, else all at the end.
 * sl__st_merge_end() returns the first error that reader would have met: a
 * part's own failure, a name seen before, or a model limit. */
struct sl_st_merge {
    size_t first_tensor; /* m->ntensors when the merge began */
    size_t named;        /* tensors before this one are in m->names */
    bool reserved;       /* enter names as parts are merged */
    bool stopped;        /* a failure was met; later parts are not appended */
    enum sl_err rc;      /* that failure */
    struct sl_error err;
    enum sl_err name_rc; /* a name seen twice, which comes before any failure */
    struct sl_error name_err;
};

void sl__st_merge_begin(struct sl_model *m, struct sl_st_merge *mg);

/* Sizes m->names for `count` more names and enters names from now on. */
void sl__st_merge_reserve(struct sl_model *m, struct sl_st_merge *mg, size_t count);

/* Appends `p` unless the merge has stopped; returns false once it has. The
 * part keeps its own storage (release it after). */
bool sl__st_merge_part(struct sl_model *m, struct sl_st_merge *mg, const struct sl_st_part *p);

enum sl_err sl__st_merge_end(struct sl_model *m, struct sl_st_merge *mg, struct sl_error *err);

/* Reads safetensors files into a model on up to 8 threads (st_shards.c),
 * with the result and the first error of reading them one after another in
 * the order they were added. Files can be added while earlier ones are being
 * read, so shards are read while their index is still being parsed. */
struct sl_st_reader;

/* Starts a reader for `m`; `index_path` (NULL without an index) is named in
 * the message about a missing shard. With `eager`, threads start as files
 * are added (the caller is busy meanwhile); otherwise when it finishes.
 * Never fails: without threads the caller reads every file. */
struct sl_st_reader *sl__st_reader_start(struct sl_model *m, const char *index_path, bool eager);

/* Adds file `path` (copied) to the model; `listed` (copied, NULL without
 * index) is its name as the index lists it. */
void sl__st_reader_add(struct sl_st_reader *r, const char *path, const char *listed);

/* Lets threads read `path` before it is known to be part of the model (a
 * file in the index's folder while the index is still being read). It is
 * merged only if sl__st_reader_add() names the same path later; otherwise
 * the work is dropped. */
void sl__st_reader_guess(struct sl_st_reader *r, const char *path);

/* Tells the reader how many tensors to expect in all (the index's count), so
 * that names enter the model's map while files are still being read. */
void sl__st_reader_expect(struct sl_st_reader *r, size_t ntensors);

/* Reads what is left, waits for the threads and fills `m`; returns the first
 * error. Frees the reader. */
enum sl_err sl__st_reader_finish(struct sl_st_reader *r, struct sl_error *err);

/* Stops the threads without merging anything more and frees the reader; for
 * when reading the index failed. */
void sl__st_reader_abort(struct sl_st_reader *r);

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

/* One weight_map member. */
struct sl_st_index_entry {
    const char *name; /* the key: into the index text, or the arena if it had
                         escapes; NOT NUL-terminated */
    uint64_t hash;    /* sl_strhash(name, len) */
    uint32_t len;
    uint32_t shard; /* the value, as an index into shards */
};

/* The parsed index: shard names and, per tensor, its shard. */
struct sl_st_index {
    char **shards; /* unique shard file names, in first-seen order */
    size_t nshards;
    struct sl_st_index_entry *tensors; /* weight_map members, in order */
    size_t ntensors;
    uint64_t total_size; /* metadata.total_size, 0 if absent */
    struct sl_arena arena;
};

/* Parses index text `data` (which must outlive `idx`: names point into it).
 * With `find_repeats` false it does not look for a key listed twice, which
 * needs a map of all names; the caller then must find out another way (the
 * check against the shards does) and parse again with it true to get the
 * exact error, which is the one a single careful pass reports. */
enum sl_err sl__st_index_parse(const char *name, const char *data, size_t len, bool find_repeats,
                               struct sl_st_index *idx, struct sl_error *err);

/* Same, calling on_shard(arg, name) for each shard name as soon as it is
 * found (in the order of idx->shards), so its reading can start. */
enum sl_err sl__st_index_parse_cb(const char *name, const char *data, size_t len, bool find_repeats,
                                  struct sl_st_index *idx,
                                  void (*on_shard)(void *arg, const char *shard), void *arg,
                                  struct sl_error *err);
void sl__st_index_release(struct sl_st_index *idx);

/* Reads config.json text into hints. */
enum sl_err sl__config_parse(const char *name, const char *data, size_t len,
                             struct sl_model_hints *h, struct sl_error *err);

void sl__hints_init(struct sl_model_hints *h);

#endif
