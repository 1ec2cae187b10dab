/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_inspect: `sluice inspect` on large sharded safetensors checkpoints, side
 * by side with python3 doing the same count the plain way (read the index, then
 * json.loads every shard's header), in one run. It writes header-only sparse
 * checkpoints to a temporary folder, runs both tools alternately as child
 * processes, and prints one table with wall time and peak RSS of each.
 *
 * Usage: bench_inspect [SLUICE_BIN [RUNS]]
 * Environment: SLUICE_BIN, BENCH_RUNS (default 10), BENCH_PYTHON (default
 * /usr/bin/python3, else python3 from PATH), BENCH_KEEP=1 keeps the folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

#define DEFAULT_RUNS   10
#define MAX_RUNS       1000
#define NAME_LEN       96                 /* longest tensor name we generate, with NUL */
#define SBUF_MAX       ((size_t)64 << 20) /* bound on any text we build or read */
#define CAPTURE_MAX    ((size_t)4 << 20)  /* bound on a child's captured output */
#define TARGET_RATIO   20.0
#define TARGET_RSS_MIB 64.0
#define PY_SCRIPT_NAME "count_params.py"
#define BLOCK          128 /* DeepSeek-V3 FP8 block size (weight_block_size) */

/* The Python side: what a person would write to count a checkpoint's
 * parameters without sluice. It counts every tensor of every header. */
static const char py_script[] =
    "# Counts the tensors and elements of a sharded safetensors checkpoint the\n"
    "# plain way: read the index, then each shard's 8-byte length and JSON header.\n"
    "import json, math, os, struct, sys\n"
    "\n"
    "d = sys.argv[1]\n"
    "with open(os.path.join(d, \"model.safetensors.index.json\")) as f:\n"
    "    index = json.load(f)\n"
    "tensors = elements = 0\n"
    "for shard in sorted(set(index[\"weight_map\"].values())):\n"
    "    with open(os.path.join(d, shard), \"rb\") as f:\n"
    "        (n,) = struct.unpack(\"<Q\", f.read(8))\n"
    "        header = json.loads(f.read(n))\n"
    "    for name, info in header.items():\n"
    "        if name != \"__metadata__\":\n"
    "            tensors += 1\n"
    "            elements += math.prod(info[\"shape\"])\n"
    "print(json.dumps({\"tensors\": tensors, \"elements\": elements}))\n";

static const char deepseek_config[] = "{\n"
                                      "  \"architectures\": [\"DeepseekV3ForCausalLM\"],\n"
                                      "  \"model_type\": \"deepseek_v3\",\n"
                                      "  \"hidden_size\": 7168,\n"
                                      "  \"intermediate_size\": 18432,\n"
                                      "  \"moe_intermediate_size\": 2048,\n"
                                      "  \"num_hidden_layers\": 61,\n"
                                      "  \"num_attention_heads\": 128,\n"
                                      "  \"num_key_value_heads\": 128,\n"
                                      "  \"n_routed_experts\": 256,\n"
                                      "  \"n_shared_experts\": 1,\n"
                                      "  \"num_experts_per_tok\": 8,\n"
                                      "  \"first_k_dense_replace\": 3,\n"
                                      "  \"moe_layer_freq\": 1,\n"
                                      "  \"q_lora_rank\": 1536,\n"
                                      "  \"kv_lora_rank\": 512,\n"
                                      "  \"qk_nope_head_dim\": 128,\n"
                                      "  \"qk_rope_head_dim\": 64,\n"
                                      "  \"v_head_dim\": 128,\n"
                                      "  \"vocab_size\": 129280,\n"
                                      "  \"max_position_embeddings\": 163840,\n"
                                      "  \"tie_word_embeddings\": false,\n"
                                      "  \"torch_dtype\": \"bfloat16\",\n"
                                      "  \"quantization_config\": {\n"
                                      "    \"activation_scheme\": \"dynamic\",\n"
                                      "    \"fmt\": \"e4m3\",\n"
                                      "    \"quant_method\": \"fp8\",\n"
                                      "    \"weight_block_size\": [128, 128]\n"
                                      "  }\n"
                                      "}\n";

static const char llama_config[] = "{\n"
                                   "  \"architectures\": [\"LlamaForCausalLM\"],\n"
                                   "  \"model_type\": \"llama\",\n"
                                   "  \"hidden_size\": 16384,\n"
                                   "  \"intermediate_size\": 53248,\n"
                                   "  \"num_hidden_layers\": 126,\n"
                                   "  \"num_attention_heads\": 128,\n"
                                   "  \"num_key_value_heads\": 8,\n"
                                   "  \"vocab_size\": 128256,\n"
                                   "  \"max_position_embeddings\": 131072,\n"
                                   "  \"rms_norm_eps\": 1e-05,\n"
                                   "  \"rope_theta\": 500000.0,\n"
                                   "  \"tie_word_embeddings\": false,\n"
                                   "  \"torch_dtype\": \"bfloat16\"\n"
                                   "}\n";

/* ---- growable text buffer with a cap and a sticky failure flag ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    int failed; /* once set, appends do nothing; check it when done */
};

static int sb_grow(struct sbuf *b, size_t need)
{
    size_t want = b->cap ? b->cap : 4096;
    char *np;

    if (need > SBUF_MAX - b->len)
        return -1;
    while (want - b->len < need)
        want = want > SBUF_MAX / 2 ? SBUF_MAX : want * 2;
    np = realloc(b->p, want);
    if (!np)
        return -1;
    b->p = np;
    b->cap = want;
    return 0;
}

static void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    while (!b->failed) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
        } else if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        } else if (sb_grow(b, (size_t)n + 1) != 0) {
            b->failed = 1;
        }
    }
}

static void sb_release(struct sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

/* ---- the tensors of a checkpoint ---- */

enum dtype { DT_F8_E4M3, DT_BF16, DT_F32 };

static const struct {
    const char *name;
    unsigned bytes;
    unsigned rank; /* the safetensors writer lays out data by dtype, larger first */
} dtypes[] = {
    [DT_F8_E4M3] = {"F8_E4M3", 1, 1},
    [DT_BF16] = {"BF16", 2, 2},
    [DT_F32] = {"F32", 4, 3},
};

struct tensor {
    char name[NAME_LEN];
    uint64_t shape[2];
    uint64_t bytes;
    unsigned ndim;
    unsigned shard; /* 0-based */
    enum dtype dt;
};

struct tlist {
    struct tensor *v;
    size_t n, cap;
    int failed; /* sticky: out of memory or a name too long */
};

/* Appends one tensor; cols == 0 makes it one-dimensional. */
static void add_tensor(struct tlist *l, enum dtype dt, uint64_t rows, uint64_t cols,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_tensor(struct tlist *l, enum dtype dt, uint64_t rows, uint64_t cols,
                       const char *fmt, ...)
{
    struct tensor *t;
    va_list ap;
    int n;

    if (l->failed)
        return;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        struct tensor *nv = realloc(l->v, ncap * sizeof(*nv));
        if (!nv) {
            l->failed = 1;
            return;
        }
        l->v = nv;
        l->cap = ncap;
    }
    t = &l->v[l->n];
    va_start(ap, fmt);
    n = vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(t->name)) {
        l->failed = 1;
        return;
    }
    t->dt = dt;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->ndim = cols ? 2 : 1;
    t->bytes = rows * (cols ? cols : 1) * dtypes[dt].bytes;
    t->shard = 0;
    l->n++;
}

/* A DeepSeek-V3 linear layer: F8_E4M3 weight [out, in] and its F32 block
 * scale [ceil(out/128), ceil(in/128)]. */
static void add_fp8_linear(struct tlist *l, uint64_t out, uint64_t in, const char *layer,
                           const char *what)
{
    add_tensor(l, DT_F8_E4M3, out, in, "%s.%s.weight", layer, what);
    add_tensor(l, DT_F32, (out + BLOCK - 1) / BLOCK, (in + BLOCK - 1) / BLOCK,
               "%s.%s.weight_scale_inv", layer, what);
}

/* DeepSeek-V3 in its released FP8 form, in state_dict (module) order. */
static void build_deepseek_v3(struct tlist *l)
{
    const uint64_t h = 7168, vocab = 129280, experts = 256;
    const uint64_t dense_inter = 18432, moe_inter = 2048;
    char layer[64], what[64];

    add_tensor(l, DT_BF16, vocab, h, "model.embed_tokens.weight");
    for (unsigned i = 0; i < 61; i++) {
        int n = snprintf(layer, sizeof(layer), "model.layers.%u", i);
        if (n < 0 || (size_t)n >= sizeof(layer)) {
            l->failed = 1;
            return;
        }
        /* Multi-head latent attention, 128 heads. */
        add_fp8_linear(l, 1536, h, layer, "self_attn.q_a_proj");
        add_tensor(l, DT_BF16, 1536, 0, "%s.self_attn.q_a_layernorm.weight", layer);
        add_fp8_linear(l, 128 * 192, 1536, layer, "self_attn.q_b_proj");
        add_fp8_linear(l, 512 + 64, h, layer, "self_attn.kv_a_proj_with_mqa");
        add_tensor(l, DT_BF16, 512, 0, "%s.self_attn.kv_a_layernorm.weight", layer);
        add_fp8_linear(l, 128 * (128 + 128), 512, layer, "self_attn.kv_b_proj");
        add_fp8_linear(l, h, 128 * 128, layer, "self_attn.o_proj");
        if (i < 3) {
            add_fp8_linear(l, dense_inter, h, layer, "mlp.gate_proj");
            add_fp8_linear(l, dense_inter, h, layer, "mlp.up_proj");
            add_fp8_linear(l, h, dense_inter, layer, "mlp.down_proj");
        } else {
            for (unsigned e = 0; e < experts; e++) {
                n = snprintf(what, sizeof(what), "mlp.experts.%u", e);
                if (n < 0 || (size_t)n >= sizeof(what)) {
                    l->failed = 1;
                    return;
                }
                add_tensor(l, DT_F8_E4M3, moe_inter, h, "%s.%s.gate_proj.weight", layer, what);
                add_tensor(l, DT_F32, moe_inter / BLOCK, h / BLOCK,
                           "%s.%s.gate_proj.weight_scale_inv", layer, what);
                add_tensor(l, DT_F8_E4M3, moe_inter, h, "%s.%s.up_proj.weight", layer, what);
                add_tensor(l, DT_F32, moe_inter / BLOCK, h / BLOCK,
                           "%s.%s.up_proj.weight_scale_inv", layer, what);
                add_tensor(l, DT_F8_E4M3, h, moe_inter, "%s.%s.down_proj.weight", layer, what);
                add_tensor(l, DT_F32, h / BLOCK, moe_inter / BLOCK,
                           "%s.%s.down_proj.weight_scale_inv", layer, what);
            }
            add_tensor(l, DT_BF16, experts, h, "%s.mlp.gate.weight", layer);
            add_tensor(l, DT_F32, experts, 0, "%s.mlp.gate.e_score_correction_bias", layer);
            add_fp8_linear(l, moe_inter, h, layer, "mlp.shared_experts.gate_proj");
            add_fp8_linear(l, moe_inter, h, layer, "mlp.shared_experts.up_proj");
            add_fp8_linear(l, h, moe_inter, layer, "mlp.shared_experts.down_proj");
        }
        add_tensor(l, DT_BF16, h, 0, "%s.input_layernorm.weight", layer);
        add_tensor(l, DT_BF16, h, 0, "%s.post_attention_layernorm.weight", layer);
    }
    add_tensor(l, DT_BF16, h, 0, "model.norm.weight");
    add_tensor(l, DT_BF16, vocab, h, "lm_head.weight");
}

/* Llama-3.1-405B in BF16, in state_dict order: just over the minimum
 * of 100 shards, 1,000 tensors and 4x10^11 parameters. */
static void build_llama_405b(struct tlist *l)
{
    const uint64_t h = 16384, kv = 8 * 128, inter = 53248, vocab = 128256;

    add_tensor(l, DT_BF16, vocab, h, "model.embed_tokens.weight");
    for (unsigned i = 0; i < 126; i++) {
        add_tensor(l, DT_BF16, h, h, "model.layers.%u.self_attn.q_proj.weight", i);
        add_tensor(l, DT_BF16, kv, h, "model.layers.%u.self_attn.k_proj.weight", i);
        add_tensor(l, DT_BF16, kv, h, "model.layers.%u.self_attn.v_proj.weight", i);
        add_tensor(l, DT_BF16, h, h, "model.layers.%u.self_attn.o_proj.weight", i);
        add_tensor(l, DT_BF16, inter, h, "model.layers.%u.mlp.gate_proj.weight", i);
        add_tensor(l, DT_BF16, inter, h, "model.layers.%u.mlp.up_proj.weight", i);
        add_tensor(l, DT_BF16, h, inter, "model.layers.%u.mlp.down_proj.weight", i);
        add_tensor(l, DT_BF16, h, 0, "model.layers.%u.input_layernorm.weight", i);
        add_tensor(l, DT_BF16, h, 0, "model.layers.%u.post_attention_layernorm.weight", i);
    }
    add_tensor(l, DT_BF16, h, 0, "model.norm.weight");
    add_tensor(l, DT_BF16, vocab, h, "lm_head.weight");
}

struct workload {
    const char *name; /* also the folder name */
    const char *label;
    void (*build)(struct tlist *l);
    const char *config;
    unsigned nshards;
    int count_width; /* digits of the shard count in file names (DeepSeek uses 6) */
};

static const struct workload workloads[] = {
    {"start-up", "process start-up only, no checkpoint", NULL, NULL, 0, 0},
    {"llama-405b", "minimum: Llama-3.1-405B-like, BF16", build_llama_405b, llama_config, 191, 5},
    {"deepseek-v3", "large MoE: DeepSeek-V3-like, FP8 + block scales", build_deepseek_v3,
     deepseek_config, 163, 6},
};

#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* What the generator wrote, sent back to the parent through a pipe. */
struct gen_stats {
    uint64_t tensors, elements, data_bytes;
    uint64_t header_min, header_max, header_total, index_bytes;
    unsigned shards;
};

/* ---- writing the checkpoint ---- */

static int write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes `len` bytes of `data` to a new file, then makes the file `size`
 * bytes long (sparse beyond what was written). */
static int write_file(const char *path, const void *data, size_t len, uint64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

    if (fd < 0) {
        fprintf(stderr, "bench_inspect: %s: cannot create: %s\n", path, strerror(errno));
        return -1;
    }
    if (write_full(fd, data, len) != 0 || (size > len && ftruncate(fd, (off_t)size) != 0)) {
        fprintf(stderr, "bench_inspect: %s: cannot write: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "bench_inspect: %s: cannot close: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "bench_inspect: path too long: %s/%s\n", dir, name);
        return -1;
    }
    return 0;
}

static int shard_name(char *out, size_t cap, const struct workload *w, unsigned shard)
{
    int n =
        snprintf(out, cap, "model-%05u-of-%0*u.safetensors", shard + 1, w->count_width, w->nshards);

    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Spreads tensors over shards in order, by the position of their first byte in
 * the whole checkpoint, as a size-limited writer would; every shard gets at
 * least one tensor as long as no tensor is larger than a shard's share. */
static int assign_shards(struct tlist *l, unsigned nshards)
{
    uint64_t total = 0, chunk, start = 0;

    for (size_t i = 0; i < l->n; i++)
        if (__builtin_add_overflow(total, l->v[i].bytes, &total))
            return -1;
    if (l->n == 0 || nshards == 0)
        return -1;
    chunk = total / nshards + (total % nshards != 0);
    for (size_t i = 0; i < l->n; i++) {
        l->v[i].shard = (unsigned)(start / chunk);
        start += l->v[i].bytes;
        if (i > 0 && l->v[i].shard > l->v[i - 1].shard + 1)
            return -1;
    }
    return l->v[0].shard == 0 && l->v[l->n - 1].shard == nshards - 1 ? 0 : -1;
}

/* Data layout of the safetensors writer: larger dtypes first, then by name. */
static int cmp_layout(const void *a, const void *b)
{
    const struct tensor *x = *(const struct tensor *const *)a;
    const struct tensor *y = *(const struct tensor *const *)b;

    if (dtypes[x->dt].rank != dtypes[y->dt].rank)
        return dtypes[x->dt].rank > dtypes[y->dt].rank ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b)
{
    const struct tensor *x = *(const struct tensor *const *)a;
    const struct tensor *y = *(const struct tensor *const *)b;

    return strcmp(x->name, y->name);
}

/* Writes one shard: 8-byte little-endian header length, the JSON header padded
 * with spaces to a multiple of 8, then a hole as long as the tensor data. */
static int write_shard(const struct workload *w, const char *dir, struct tensor **order,
                       size_t count, unsigned shard, struct sbuf *hb, struct gen_stats *st)
{
    char name[64], path[PATH_MAX];
    unsigned char len8[8];
    uint64_t off = 0, hlen;
    int rc;

    if (shard_name(name, sizeof(name), w, shard) != 0 || join(path, sizeof(path), dir, name) != 0)
        return -1;
    qsort(order, count, sizeof(*order), cmp_layout);
    hb->len = 0;
    sb_addf(hb, "%8s", ""); /* room for the length prefix */
    sb_addf(hb, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < count; i++) {
        const struct tensor *t = order[i];
        sb_addf(hb, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%llu", t->name, dtypes[t->dt].name,
                (unsigned long long)t->shape[0]);
        if (t->ndim == 2)
            sb_addf(hb, ",%llu", (unsigned long long)t->shape[1]);
        sb_addf(hb, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                (unsigned long long)(off + t->bytes));
        off += t->bytes;
    }
    sb_addf(hb, "}");
    while (!hb->failed && hb->len % 8 != 0)
        sb_addf(hb, " ");
    if (hb->failed) {
        fprintf(stderr, "bench_inspect: %s: header too large\n", path);
        return -1;
    }
    hlen = hb->len - 8;
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(hb->p, len8, sizeof(len8));
    rc = write_file(path, hb->p, hb->len, hb->len + off);
    if (rc == 0) {
        st->header_total += hlen;
        if (st->header_min == 0 || hlen < st->header_min)
            st->header_min = hlen;
        if (hlen > st->header_max)
            st->header_max = hlen;
        st->data_bytes += off;
    }
    return rc;
}

/* model.safetensors.index.json as transformers writes it (sorted keys,
 * indent 2). */
static int write_index(const struct workload *w, const char *dir, struct tlist *l,
                       struct gen_stats *st)
{
    struct tensor **byname = calloc(l->n, sizeof(*byname));
    struct sbuf b = {NULL, 0, 0, 0};
    char path[PATH_MAX], name[64];
    int rc = -1;

    if (!byname)
        goto out;
    for (size_t i = 0; i < l->n; i++)
        byname[i] = &l->v[i];
    qsort(byname, l->n, sizeof(*byname), cmp_name);
    sb_addf(&b, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {\n",
            (unsigned long long)st->data_bytes);
    for (size_t i = 0; i < l->n; i++) {
        if (shard_name(name, sizeof(name), w, byname[i]->shard) != 0)
            goto out;
        sb_addf(&b, "    \"%s\": \"%s\"%s\n", byname[i]->name, name, i + 1 < l->n ? "," : "");
    }
    sb_addf(&b, "  }\n}\n");
    if (b.failed || join(path, sizeof(path), dir, "model.safetensors.index.json") != 0)
        goto out;
    rc = write_file(path, b.p, b.len, b.len);
    st->index_bytes = b.len;
out:
    sb_release(&b);
    free(byname);
    return rc;
}

/* Writes the whole checkpoint of `w` into the folder `dir` (which exists). */
static int generate(const struct workload *w, const char *dir, struct gen_stats *st)
{
    struct tlist l = {NULL, 0, 0, 0};
    struct tensor **order = NULL;
    struct sbuf hb = {NULL, 0, 0, 0};
    char path[PATH_MAX];
    size_t first = 0;
    int rc = -1;

    memset(st, 0, sizeof(*st));
    w->build(&l);
    if (l.failed) {
        fprintf(stderr, "bench_inspect: %s: cannot build the tensor list\n", w->name);
        goto out;
    }
    if (assign_shards(&l, w->nshards) != 0) {
        fprintf(stderr, "bench_inspect: %s: cannot spread %zu tensors over %u shards\n", w->name,
                l.n, w->nshards);
        goto out;
    }
    order = calloc(l.n, sizeof(*order));
    if (!order)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        uint64_t e = l.v[i].shape[0] * (l.v[i].ndim == 2 ? l.v[i].shape[1] : 1);
        st->elements += e;
    }
    while (first < l.n) {
        size_t last = first;
        while (last < l.n && l.v[last].shard == l.v[first].shard)
            last++;
        for (size_t i = first; i < last; i++)
            order[i - first] = &l.v[i];
        if (write_shard(w, dir, order, last - first, l.v[first].shard, &hb, st) != 0)
            goto out;
        first = last;
    }
    if (write_index(w, dir, &l, st) != 0)
        goto out;
    if (join(path, sizeof(path), dir, "config.json") != 0 ||
        write_file(path, w->config, strlen(w->config), strlen(w->config)) != 0)
        goto out;
    st->tensors = l.n;
    st->shards = w->nshards;
    rc = 0;
out:
    sb_release(&hb);
    free(order);
    free(l.v);
    return rc;
}

/* Generates in a child process, so the memory it takes never shows up in the
 * peak RSS of the children forked later for measuring. */
static int generate_in_child(const struct workload *w, const char *dir, struct gen_stats *st)
{
    int fds[2], status;
    pid_t pid, r;
    size_t got = 0;

    if (pipe(fds) != 0) {
        perror("bench_inspect: pipe");
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("bench_inspect: fork");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        struct gen_stats s;
        int ok;
        close(fds[0]);
        ok = generate(w, dir, &s) == 0 && write_full(fds[1], &s, sizeof(s)) == 0;
        fflush(NULL);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    while (got < sizeof(*st)) {
        ssize_t n = read(fds[0], (char *)st + got, sizeof(*st) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != sizeof(*st)) {
        fprintf(stderr, "bench_inspect: generating %s failed\n", w->name);
        return -1;
    }
    return 0;
}

/* ---- running and measuring ---- */

struct sample {
    double ms;
    double rss_mib;
};

/* Runs argv (argv[0] an absolute path) with stdout and stderr sent to the
 * given files; measures wall time around fork/exec/wait and peak RSS from
 * wait4(). Returns 0 when the child ran and exited 0. */
static int run_once(char *const argv[], const char *out_path, const char *err_path,
                    struct sample *s)
{
    struct timespec t0, t1;
    struct rusage ru;
    int status = 0;
    pid_t pid, r;

    fflush(NULL);
    if (clock_gettime(CLOCK_MONOTONIC, &t0) != 0) {
        perror("bench_inspect: clock_gettime");
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        perror("bench_inspect: fork");
        return -1;
    }
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    do {
        r = wait4(pid, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    if (clock_gettime(CLOCK_MONOTONIC, &t1) != 0) {
        perror("bench_inspect: clock_gettime");
        return -1;
    }
    if (r < 0) {
        perror("bench_inspect: wait4");
        return -1;
    }
    s->ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    s->rss_mib = (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_inspect: %s exited with %s %d\n", argv[0],
                WIFEXITED(status) ? "status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

/* Reads at most CAPTURE_MAX bytes of a small file into a new NUL-terminated
 * string; the caller frees it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(CAPTURE_MAX + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, CAPTURE_MAX, f);
    buf[n] = '\0';
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Prints the first lines of a child's stderr after a failure. */
static void show_stderr(const char *path)
{
    char *e = slurp(path);

    if (e) {
        fprintf(stderr, "%.2000s\n", e);
        free(e);
    }
}

/* Finds `"key":` in JSON text and reads the unsigned integer after it. */
static int json_u64(const char *text, const char *key, unsigned long long *out)
{
    char pat[64];
    const char *p;
    char *end;
    int n = snprintf(pat, sizeof(pat), "\"%s\":", key);

    if (n < 0 || (size_t)n >= sizeof(pat) || !text)
        return -1;
    p = strstr(text, pat);
    if (!p)
        return -1;
    p += n;
    while (*p == ' ')
        p++;
    errno = 0;
    *out = strtoull(p, &end, 10);
    return end == p || errno ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

struct stats {
    double first_ms, median_ms, min_ms, max_rss_mib;
};

static void summarise(const struct sample *first, const struct sample *v, int n, double *scratch,
                      struct stats *out)
{
    out->first_ms = first->ms;
    out->max_rss_mib = first->rss_mib;
    out->min_ms = v[0].ms;
    for (int i = 0; i < n; i++) {
        scratch[i] = v[i].ms;
        if (v[i].ms < out->min_ms)
            out->min_ms = v[i].ms;
        if (v[i].rss_mib > out->max_rss_mib)
            out->max_rss_mib = v[i].rss_mib;
    }
    qsort(scratch, (size_t)n, sizeof(*scratch), cmp_double);
    out->median_ms = n % 2 ? scratch[n / 2] : (scratch[n / 2 - 1] + scratch[n / 2]) / 2.0;
}

/* ---- environment: binaries, machine, temporary folder ---- */

static int is_exec(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Looks `name` up in PATH the way execvp would; 0 and the path in `out` when
 * found. */
static int find_in_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    const char *p;

    if (!path || !*path)
        return -1;
    p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        int n = snprintf(out, cap, "%.*s/%s", (int)(len ? len : 1), len ? p : ".", name);
        if (n >= 0 && (size_t)n < cap && len < INT_MAX && is_exec(out))
            return 0;
        if (!colon)
            break;
        p = colon + 1;
    }
    return -1;
}

/* The sluice binary: argv[1], else $SLUICE_BIN, else ../sluice next to this
 * program (build/bench/bench_inspect -> build/sluice), else build/sluice. The
 * absolute path goes to `out`. */
static int find_sluice(const char *arg, char *out, size_t cap)
{
    const char *want = arg && *arg ? arg : getenv("SLUICE_BIN");
    char self[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
    ssize_t n;
    int len;

    if (!want || !*want) {
        want = "build/sluice";
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
            char *slash;
            self[n] = '\0';
            slash = strrchr(self, '/');
            if (slash) {
                *slash = '\0';
                if (join(cand, sizeof(cand), self, "../sluice") == 0 && is_exec(cand))
                    want = cand;
            }
        }
    }
    if (!realpath(want, real) || !is_exec(real)) {
        fprintf(stderr,
                "bench_inspect: no sluice binary at %s (build it, or give its path as the first "
                "argument or in SLUICE_BIN)\n",
                want);
        return -1;
    }
    len = snprintf(out, cap, "%s", real);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

static void cpu_model(char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];

    snprintf(out, cap, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                size_t n;
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                n = strcspn(colon, "\n");
                snprintf(out, cap, "%.*s", (int)n, colon);
            }
            break;
        }
    }
    fclose(f);
}

/* First line of `argv`'s stdout (e.g. a --version), or "?". */
static void first_line_of(char *const argv[], const char *dir, char *out, size_t cap)
{
    char op[PATH_MAX], ep[PATH_MAX];
    struct sample s;
    char *text;

    snprintf(out, cap, "?");
    if (join(op, sizeof(op), dir, "version.out") != 0 ||
        join(ep, sizeof(ep), dir, "version.err") != 0 || run_once(argv, op, ep, &s) != 0)
        return;
    text = slurp(op);
    if (!text || !*text) {
        free(text);
        text = slurp(ep); /* python2-era interpreters print the version there */
    }
    if (text) {
        snprintf(out, cap, "%.*s", (int)strcspn(text, "\n"), text);
        free(text);
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "bench_inspect: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* ---- one workload ---- */

#define PY_IMPORTS "import json, math, os, struct, sys"

struct result {
    int ok;
    struct gen_stats gen;
    struct stats sluice, python;
    unsigned long long sluice_tensors, sluice_elements, sluice_params, py_tensors, py_elements;
    char sluice_cmd[PATH_MAX + 64], python_cmd[2 * PATH_MAX + 64];
};

/* One first run of each command, then `runs` measured runs of each,
 * alternating so that drift on the machine hits both alike. */
static int measure_pair(char *const sargv[], char *const pargv[], int runs, const char *err,
                        struct result *res)
{
    struct sample s_first, p_first;
    struct sample *sv = calloc((size_t)runs, sizeof(*sv));
    struct sample *pv = calloc((size_t)runs, sizeof(*pv));
    double *scratch = calloc((size_t)runs, sizeof(*scratch));
    int rc = -1;

    if (!sv || !pv || !scratch)
        goto out;
    /* The first runs are reported apart: the checkpoint is in the page cache
     * (just written) but the programs may not be. */
    if (run_once(sargv, "/dev/null", err, &s_first) != 0 ||
        run_once(pargv, "/dev/null", err, &p_first) != 0) {
        show_stderr(err);
        goto out;
    }
    for (int i = 0; i < runs; i++) {
        if (run_once(sargv, "/dev/null", err, &sv[i]) != 0 ||
            run_once(pargv, "/dev/null", err, &pv[i]) != 0) {
            show_stderr(err);
            goto out;
        }
    }
    summarise(&s_first, sv, runs, scratch, &res->sluice);
    summarise(&p_first, pv, runs, scratch, &res->python);
    rc = 0;
out:
    free(scratch);
    free(pv);
    free(sv);
    return rc;
}

/* Runs both tools once with their output kept and reads what each counted,
 * to show that they did the same job. */
static int cross_check(char *const sargv[], char *const pargv[], const char *out, const char *err,
                       struct result *res)
{
    struct sample s;
    char *text;

    if (run_once(sargv, out, err, &s) != 0) {
        show_stderr(err);
        return -1;
    }
    text = slurp(out);
    if (json_u64(text, "tensor_count", &res->sluice_tensors) != 0 ||
        json_u64(text, "header_elements", &res->sluice_elements) != 0 ||
        json_u64(text, "params_total", &res->sluice_params) != 0)
        fprintf(stderr, "bench_inspect: cannot read sluice's JSON output\n");
    free(text);
    if (run_once(pargv, out, err, &s) != 0) {
        show_stderr(err);
        return -1;
    }
    text = slurp(out);
    if (json_u64(text, "tensors", &res->py_tensors) != 0 ||
        json_u64(text, "elements", &res->py_elements) != 0)
        fprintf(stderr, "bench_inspect: cannot read python's output\n");
    free(text);
    return 0;
}

/* Measures one workload; a workload without a builder measures start-up only
 * (`sluice --version` against python3 importing what the script imports). */
static int bench_workload(const struct workload *w, const char *tmp, const char *sluice,
                          const char *python, int runs, struct result *res)
{
    char dir[PATH_MAX], script[PATH_MAX], out[PATH_MAX], err[PATH_MAX];

    memset(res, 0, sizeof(*res));
    if (join(dir, sizeof(dir), tmp, w->name) != 0 ||
        join(script, sizeof(script), tmp, PY_SCRIPT_NAME) != 0 ||
        join(out, sizeof(out), tmp, "out.txt") != 0 || join(err, sizeof(err), tmp, "err.txt") != 0)
        return -1;
    if (!w->build) {
        char *sargv[] = {(char *)sluice, "--version", NULL};
        char *pargv[] = {(char *)python, "-c", PY_IMPORTS, NULL};
        snprintf(res->sluice_cmd, sizeof(res->sluice_cmd), "%s --version >/dev/null", sluice);
        snprintf(res->python_cmd, sizeof(res->python_cmd), "%s -c '%s' >/dev/null", python,
                 PY_IMPORTS);
        if (measure_pair(sargv, pargv, runs, err, res) != 0)
            return -1;
        res->ok = 1;
        return 0;
    }
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "bench_inspect: %s: cannot create: %s\n", dir, strerror(errno));
        return -1;
    }
    printf("  %-12s writing %u shards ...", w->name, w->nshards);
    fflush(stdout);
    if (generate_in_child(w, dir, &res->gen) != 0) {
        printf("\n");
        return -1;
    }
    printf(" %llu tensors, %.3g elements, headers %.1f-%.1f KiB (%.1f MiB in all), index "
           "%.1f MiB\n",
           (unsigned long long)res->gen.tensors, (double)res->gen.elements,
           (double)res->gen.header_min / 1024.0, (double)res->gen.header_max / 1024.0,
           (double)res->gen.header_total / 1048576.0, (double)res->gen.index_bytes / 1048576.0);
    snprintf(res->sluice_cmd, sizeof(res->sluice_cmd), "%s inspect $D/%s --json >/dev/null", sluice,
             w->name);
    snprintf(res->python_cmd, sizeof(res->python_cmd), "%s $D/%s $D/%s >/dev/null", python,
             PY_SCRIPT_NAME, w->name);
    {
        char *sargv[] = {(char *)sluice, "inspect", dir, "--json", NULL};
        char *pargv[] = {(char *)python, script, dir, NULL};
        if (measure_pair(sargv, pargv, runs, err, res) != 0 ||
            cross_check(sargv, pargv, out, err, res) != 0)
            return -1;
    }
    res->ok = 1;
    return 0;
}

/* ---- main ---- */

static int parse_runs(const char *s, int *runs)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > MAX_RUNS) {
        fprintf(stderr, "bench_inspect: runs must be a number from 1 to %d, not \"%s\"\n", MAX_RUNS,
                s);
        return -1;
    }
    *runs = (int)v;
    return 0;
}

static const char *verdict(int ok)
{
    return ok ? "PASS" : "FAIL";
}

int main(int argc, char **argv)
{
    char sluice[PATH_MAX], python[PATH_MAX], path_python[PATH_MAX], tmp[PATH_MAX];
    char script[PATH_MAX], cpu[256], pyver[128], slver[128], date[64];
    struct result res[NWORKLOADS];
    struct sample floor_s;
    struct utsname un;
    struct tm tm;
    time_t now;
    const char *tmpdir = getenv("TMPDIR"), *env;
    int runs = DEFAULT_RUNS, have_tmp = 0, code = 1, all_ok = 1;

    if (argc > 3 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: bench_inspect [SLUICE_BIN [RUNS]]\n"
                        "environment: SLUICE_BIN, BENCH_RUNS, BENCH_PYTHON, BENCH_KEEP=1\n");
        return 2;
    }
    env = getenv("BENCH_RUNS");
    if (argc > 2 ? parse_runs(argv[2], &runs) != 0 : env && *env && parse_runs(env, &runs) != 0)
        return 2;
    if (find_sluice(argc > 1 ? argv[1] : NULL, sluice, sizeof(sluice)) != 0)
        return 2;
    if (find_in_path("python3", path_python, sizeof(path_python)) != 0)
        snprintf(path_python, sizeof(path_python), "(none)");
    env = getenv("BENCH_PYTHON");
    if (env && *env)
        snprintf(python, sizeof(python), "%s", env);
    else if (is_exec("/usr/bin/python3"))
        snprintf(python, sizeof(python), "/usr/bin/python3");
    else
        snprintf(python, sizeof(python), "%s", path_python);
    if (!is_exec(python)) {
        fprintf(stderr, "bench_inspect: no python3 to compare with (%s)\n", python);
        return 2;
    }

    if (!tmpdir || !*tmpdir)
        tmpdir = "/tmp";
    if (join(tmp, sizeof(tmp), tmpdir, "sluice-bench-XXXXXX") != 0)
        return 1;
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "bench_inspect: cannot create a folder in %s: %s\n", tmpdir,
                strerror(errno));
        return 1;
    }
    have_tmp = 1;
    if (join(script, sizeof(script), tmp, PY_SCRIPT_NAME) != 0 ||
        write_file(script, py_script, strlen(py_script), strlen(py_script)) != 0)
        goto out;

    now = time(NULL);
    if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(date, sizeof(date), "unknown");
    if (uname(&un) != 0)
        memset(&un, 0, sizeof(un));
    cpu_model(cpu, sizeof(cpu));
    {
        char *pv[] = {python, "--version", NULL};
        char *sv[] = {sluice, "--version", NULL};
        char *tv[] = {"/bin/true", NULL};
        first_line_of(pv, tmp, pyver, sizeof(pyver));
        first_line_of(sv, tmp, slver, sizeof(slver));
        if (!is_exec("/bin/true") || run_once(tv, "/dev/null", "/dev/null", &floor_s) != 0)
            floor_s.rss_mib = -1;
    }

    printf("sluice inspect vs python3 on sharded header-only safetensors checkpoints\n");
    printf("date     %s\n", date);
    printf("machine  %s, %ld CPUs online, Linux %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           un.release);
    printf("sluice   %s (%s)\n", sluice, slver);
    printf("python3  %s (%s)%s%s\n", python, pyver,
           strcmp(python, path_python) != 0 ? "; PATH's python3 is " : "",
           strcmp(python, path_python) != 0 ? path_python : "");
    printf("D        %s (files are sparse: headers written, tensor data left as holes)\n", tmp);
    printf("runs     1 first run of each, then %d measured runs of each, alternating; wall "
           "time around fork/exec/wait, peak RSS from wait4() (floor: /bin/true %.1f MiB)\n",
           runs, floor_s.rss_mib);
    printf("\n");

    for (size_t i = 0; i < NWORKLOADS; i++) {
        if (bench_workload(&workloads[i], tmp, sluice, python, runs, &res[i]) != 0)
            all_ok = 0;
    }

    printf("\n%-12s %-7s %8s %9s %8s %9s %9s %5s %6s  %s\n", "workload", "tool", "1st ms",
           "median ms", "min ms", "peak MiB", "py/sluice", ">=20x", "<64MiB", "command");
    for (size_t i = 0; i < NWORKLOADS; i++) {
        const struct result *r = &res[i];
        int judged = workloads[i].build != NULL;
        double ratio;
        if (!r->ok) {
            printf("%-12s (failed, see above)\n", workloads[i].name);
            continue;
        }
        ratio = r->python.median_ms / r->sluice.median_ms;
        printf("%-12s %-7s %8.1f %9.1f %8.1f %9.1f %8.1fx %5s %6s  %s\n", workloads[i].name,
               "sluice", r->sluice.first_ms, r->sluice.median_ms, r->sluice.min_ms,
               r->sluice.max_rss_mib, ratio, judged ? verdict(ratio >= TARGET_RATIO) : "-",
               judged ? verdict(r->sluice.max_rss_mib < TARGET_RSS_MIB) : "-", r->sluice_cmd);
        printf("%-12s %-7s %8.1f %9.1f %8.1f %9.1f %9s %5s %6s  %s\n", "", "python3",
               r->python.first_ms, r->python.median_ms, r->python.min_ms, r->python.max_rss_mib, "",
               "", "", r->python_cmd);
    }
    printf("py/sluice is python3's median over sluice's median; peak MiB is the largest "
           "ru_maxrss of all runs.\n");

    printf("\nWorkloads:\n");
    for (size_t i = 0; i < NWORKLOADS; i++) {
        const struct result *r = &res[i];
        int same;
        if (!r->ok)
            continue;
        if (!workloads[i].build) {
            printf("  %-12s %s\n", workloads[i].name, workloads[i].label);
            continue;
        }
        same = r->sluice_tensors == r->py_tensors && r->sluice_elements == r->py_elements;
        printf("  %-12s %s: %u shards, %llu tensors, %.4g elements; both tools counted %s "
               "(%llu tensors, %llu elements; sluice reports %.4g parameters, leaving out "
               "quantisation scales)\n",
               workloads[i].name, workloads[i].label, r->gen.shards,
               (unsigned long long)r->gen.tensors, (double)r->gen.elements,
               same ? "the same" : "DIFFERENT FIGURES", r->py_tensors, r->py_elements,
               (double)r->sluice_params);
        if (!same)
            all_ok = 0;
    }

    printf("\nVerdict (targets: sluice >= %.0fx faster than python3 by median wall time, sluice "
           "peak RSS < %.0f MiB):\n",
           TARGET_RATIO, TARGET_RSS_MIB);
    for (size_t i = 0; i < NWORKLOADS; i++) {
        const struct result *r = &res[i];
        const struct result *up = &res[0]; /* the start-up row */
        double ratio;
        if (!workloads[i].build)
            continue;
        if (!r->ok) {
            printf("  %-12s not measured\n", workloads[i].name);
            continue;
        }
        ratio = r->python.median_ms / r->sluice.median_ms;
        printf("  %-12s speed %s (%.1fx by median, %.1fx by min), memory %s (%.1f MiB)\n",
               workloads[i].name, ratio >= TARGET_RATIO ? "meets 20x" : "MISSES 20x", ratio,
               r->python.min_ms / r->sluice.min_ms,
               r->sluice.max_rss_mib < TARGET_RSS_MIB ? "meets" : "MISSES", r->sluice.max_rss_mib);
        if (!workloads[0].build && up->ok && r->sluice.median_ms > up->sluice.median_ms)
            printf("  %-12s beyond start-up: sluice %.1f ms, python3 %.1f ms of work (%.1fx)\n", "",
                   r->sluice.median_ms - up->sluice.median_ms,
                   r->python.median_ms - up->python.median_ms,
                   (r->python.median_ms - up->python.median_ms) /
                       (r->sluice.median_ms - up->sluice.median_ms));
    }
    if (!all_ok)
        printf("\nSome workloads failed or disagreed; see the messages above.\n");
    code = 0; /* a measurement: the verdict is printed, not returned */
out:
    if (have_tmp) {
        env = getenv("BENCH_KEEP");
        if (env && strcmp(env, "1") == 0)
            printf("kept %s\n", tmp);
        else if (nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            fprintf(stderr, "bench_inspect: cannot remove %s\n", tmp);
    }
    return code;
}
