/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-recipient fingerprints of weights (docs/fingerprint.md, research:
 * shared/research/formats-cdc-fingerprint.md §5). Pure computation: no I/O,
 * no clock; the registry gives keys, tensor layouts and bytes.
 *
 * Marks: secret positions per model lineage, (tensor name, element index) on
 * eligible 2-D float weight matrices, drawn with geometric gaps from a PRF
 * keyed by the lineage key; the same positions for every recipient. Each
 * position carries a Tardos bias p_i and a direction s_i = +-1 (lineage
 * keyed). A recipient's symbol at a position is X_ri = [PRF(Kr, i) < p_i];
 * symbol 1 moves the value one step in direction s_i, symbol 0 leaves it.
 * The step is one ulp of bf16/fp16 in the integer domain, and for f32 one
 * bf16 ulp (2^16 in the integer domain: a relative step of 2^-8..2^-7 that
 * survives conversion to bf16). Zeros, subnormals, infinities, NaNs, values
 * at the top of the range and steps that would cross an exponent boundary
 * are skipped (the skip depends only on the original value and s_i, so
 * detection skips the same). A keyed quarter of the positions carries a
 * payload instead: the recipient id and a 32-bit MAC, so a copy can name its
 * recipient directly.
 *
 * Marking is a pure function of (plan, recipient, file offset, original
 * bytes): any split of a file into ranges gives the same bytes as a whole
 * download, provided no range cuts an element of a planned tensor in two
 * (sl_fp_mark_span widens a range to whole elements; sl_fp_mark_range marks
 * a range that cuts elements, given the few original bytes around it).
 */
#ifndef SL_FP_FP_H
#define SL_FP_FP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SL_FP_KEY_LEN 32

/* The element types a fingerprint can mark. Storage bytes are little-endian
 * (safetensors, GGUF). */
enum sl_fp_dtype { SL_FP_BF16, SL_FP_F16, SL_FP_F32 };

/* Maps a storage type (enum sl_dtype of formats.h: safetensors BF16, F16,
 * F32 and the ggml types F32, F16, BF16) to a fingerprint type; false for
 * every other type. */
bool sl_fp_dtype_of(unsigned dtype, enum sl_fp_dtype *out);

/* Positions per eligible element for a lineage with `eligible` elements:
 * min(1/1000, 2^22 / eligible), so at most 0.1% of weights are positions
 * (and about half of those change for any one recipient). The density is a
 * property of the lineage: fix it once (at the first version) and pass the
 * same value for every later plan, or positions move. */
double sl_fp_density(uint64_t eligible);

/* True for the tensors marks go into: 2-D float matrices (BF16, F16, F32;
 * `dtype` an enum sl_dtype, ggml float types accepted too) of at least 4,096
 * elements whose name is not a norm, bias, router/gate of experts, scale or
 * position table. `name` is the canonical (Hugging Face) name. */
bool sl_fp_eligible(const char *name, unsigned dtype, const uint64_t *shape, size_t ndim);

/* Keys. `master` is the registry's fingerprint secret (never leaves the data
 * folder). The lineage key fixes positions, biases and directions for every
 * version of one model; the recipient key fixes one recipient's symbols; the
 * commitment SHA-256("sluice-fp-commit" || recipient key) goes into the log
 * entry of the grant. All are HMAC-SHA-256 derivations (docs/fingerprint.md
 * lists the labels). */
void sl_fp_lineage_key(const unsigned char master[SL_FP_KEY_LEN], const char *lineage,
                       unsigned char out[SL_FP_KEY_LEN]);
void sl_fp_recipient_key(const unsigned char master[SL_FP_KEY_LEN], uint32_t recipient,
                         unsigned char out[SL_FP_KEY_LEN]);
void sl_fp_commitment(const unsigned char rkey[SL_FP_KEY_LEN], unsigned char out[32]);

/* One recipient: its id (what the payload carries), key and payload MAC
 * (the MAC is keyed by the master secret: MAC32(master, id)). Holds a
 * secret: wipe it when done. */
struct sl_fp_recipient {
    uint32_t id;
    unsigned char key[SL_FP_KEY_LEN];
    uint32_t mac;
};
void sl_fp_recipient_init(const unsigned char master[SL_FP_KEY_LEN], uint32_t id,
                          struct sl_fp_recipient *r);

/* An eligible tensor of a file, in canonical layout. */
struct sl_fp_tensor {
    const char *name;       /* canonical name */
    enum sl_fp_dtype dtype; /* storage type in this file */
    uint64_t rows, cols;    /* shape [rows, cols], row-major */
    uint64_t offset;        /* file offset of element 0 (marking), or 0 */
};

/* The positions of a lineage restricted to some tensors (one file for
 * marking; all tensors of a version for tracing). Positions depend only on
 * (lineage key, density, tensor name, rows x cols), never on the file or
 * offset. */
struct sl_fp_plan;

/* Builds the plan of `n` tensors (names distinct; for marking the tensors'
 * byte ranges must not overlap). Copies what it needs from `tensors`. About
 * 12 bytes per position (so ~12 MB for 10^6 positions) and, per 10^6
 * positions, ~0.15 s of one core. Returns SL_EINPUT for a bad tensor or a
 * density outside [1e-9, 0.5], SL_ELIMIT when the plan would exceed 2^26
 * positions. Free with sl_fp_plan_free(); NULL is a no-op. A plan is
 * read-only after this, so threads may mark and observe with it
 * concurrently. */
enum sl_err sl_fp_plan_new(const unsigned char lineage_key[SL_FP_KEY_LEN], double density,
                           const struct sl_fp_tensor *tensors, size_t n, struct sl_fp_plan **out,
                           struct sl_error *err);
void sl_fp_plan_free(struct sl_fp_plan *p);
uint64_t sl_fp_plan_positions(const struct sl_fp_plan *p);

/* The range a caller must hold so that no element of a planned tensor is
 * cut by its ends: [*start, *end) contains [offset, offset + len) and grows
 * it by less than one element (at most 3 bytes) at either end. Read that,
 * mark it with sl_fp_mark(p, r, *start, ...), send the part asked for. */
void sl_fp_mark_span(const struct sl_fp_plan *p, uint64_t offset, uint64_t len, uint64_t *start,
                     uint64_t *end);

/* Marks `buf`, which holds the original bytes of file range [offset,
 * offset + len), for recipient `r`, in place. Costs a binary search per
 * tensor touched plus a few nanoseconds per position in the range (about
 * 500 positions per MiB of bf16 at density 10^-3). Returns the number of
 * positions it left unmarked because an end of the range cut their element
 * (0 when the range came from sl_fp_mark_span; treat anything else as a
 * caller bug: that copy is not the same as a whole download). */
size_t sl_fp_mark(const struct sl_fp_plan *p, const struct sl_fp_recipient *r, uint64_t offset,
                  unsigned char *buf, size_t len);

/* Like sl_fp_mark, for a range whose ends may cut elements, without
 * re-reading it: `head` holds the original bytes [start, offset) and `tail`
 * the original bytes [offset + len, end), where [start, end) is what
 * sl_fp_mark_span returns (each at most 3 bytes; either may be NULL when
 * empty). Only `buf` changes. Returns 0, or what sl_fp_mark would return
 * when a needed head or tail is NULL. */
size_t sl_fp_mark_range(const struct sl_fp_plan *p, const struct sl_fp_recipient *r,
                        uint64_t offset, unsigned char *buf, size_t len, const unsigned char *head,
                        const unsigned char *tail);

/* ---- reading a suspect ---- */

/* Observations of a suspect over a plan's positions: for each position,
 * unread, unchanged, or moved in the keyed direction. Refers to the plan,
 * which must outlive it. */
struct sl_fp_obs;

/* Returns a fresh observation set (nothing read yet); aborts when out of
 * memory. Free with sl_fp_obs_free(); NULL is a no-op. */
struct sl_fp_obs *sl_fp_obs_new(const struct sl_fp_plan *p);
void sl_fp_obs_free(struct sl_fp_obs *o);

/* Observes tensor `name` of the plan: `orig` the original bytes (storage
 * type `dtype`, which must be the plan's, canonical layout, rows x cols
 * elements), `suspect` the suspect's values dequantised to float in the same
 * layout (rows x cols), and `ref` (or NULL) the reference the suspect's
 * values are compared against when it was re-quantised. Observing a tensor
 * again replaces what was read from it. The rules (docs/fingerprint.md):
 *
 * - `ref` NULL (lossless copies, dtype conversions, small noise): a value
 *   within a quarter step of the original (or, for f32 originals, of the
 *   original rounded to bf16) is "unchanged", one within a quarter step of
 *   the marked value (or its bf16 rounding) is "moved", anything else (NaN,
 *   infinity, wrong direction, half steps, larger changes) is unread. When
 *   that reads fewer than 90% of the tensor's positions, the copy is not a
 *   near-exact one (fine-tuned, noised, quantised by an unknown quantiser)
 *   and the tensor is read again by the sign rule below against the
 *   original's values.
 * - `ref` given (re-quantised copies; for example Q8_0 of the original,
 *   dequantised; or the original itself as floats for a quantiser that
 *   cannot be reproduced): a value equal to the reference is unread (the
 *   quantiser hid the mark), one above it in direction s_i is "moved", one
 *   below is "unchanged"; NaN and infinity are unread.
 *
 * Returns SL_ENOTFOUND when the plan has no tensor `name`, SL_EINPUT when
 * `dtype` is not the plan's; suspect values may be anything (NaN included). */
enum sl_err sl_fp_observe(struct sl_fp_obs *o, const char *name, enum sl_fp_dtype dtype,
                          const void *orig, const float *suspect, const float *ref,
                          struct sl_error *err);

struct sl_fp_score {
    double z;          /* the score over the readable positions, in standard deviations */
    double fp_bound;   /* P(an innocent scores >= z): Bernstein bound, about exp(-z^2/2) */
    uint64_t readable; /* Tardos positions read */
};

/* Scores recipient `r`: the symmetric Tardos score S over the readable
 * Tardos positions, z = S / sqrt(readable); for an innocent recipient z has
 * mean 0 and variance 1 whatever the suspect is. fp_bound is Bernstein's
 * bound exp(-(z^2/2) / (1 + B z / (3 sqrt(readable)))) with B the largest
 * term (~34.6), which tends to exp(-z^2/2); 1 for z <= 0. */
void sl_fp_score(const struct sl_fp_obs *o, const struct sl_fp_recipient *r,
                 struct sl_fp_score *out);

/* The z from which a trace may name recipients: the smallest z at which
 * `recipients` times the fp_bound above (with `readable` the score's
 * readable count) is at most `fp_total`, the expected number of innocents
 * named that the caller accepts (for example 1e-9). About 8 for 10^4
 * recipients, 10^6 positions read and 1e-9; higher when fewer are read. */
double sl_fp_threshold(uint64_t readable, uint64_t recipients, double fp_total);

/* Scores `n` recipients at once (the fast path for thousands: keystreams
 * with AES-NI, one thread per core up to 8). */
void sl_fp_score_many(const struct sl_fp_obs *o, const struct sl_fp_recipient *r, size_t n,
                      struct sl_fp_score *out);

/* Decodes the payload: `*ok` when every one of the 64 bits has a clear
 * majority among its readable chips and the MAC checks under `master`; `*id`
 * is then the recipient (a false id has probability 2^-32 per decode;
 * confirm it with sl_fp_score). Coalitions and heavy damage make it fail
 * (`*ok` false, `*id` 0), never return a wrong id short of that chance. */
void sl_fp_decode(const struct sl_fp_obs *o, const unsigned char master[SL_FP_KEY_LEN],
                  uint32_t *id, bool *ok);

/* Positions read (unchanged or moved, Tardos and payload) and positions that
 * carry a mark (all positions of the plan less those the edit rule skips in
 * the tensors observed), for the report. */
void sl_fp_obs_counts(const struct sl_fp_obs *o, uint64_t *read, uint64_t *total);

/* ---- helpers for alignment ---- */

/* Canonical (Hugging Face) name of a llama.cpp GGUF tensor name of a
 * llama-style model ("blk.3.attn_q.weight" ->
 * "model.layers.3.self_attn.q_proj.weight"; token_embd, output, output_norm,
 * attn_q/k/v/output, attn_q_norm/attn_k_norm, ffn_gate/up/down, attn_norm,
 * ffn_norm; .weight or .bias). Writes into `buf` and returns it; NULL when
 * the name is unknown or does not fit in `n` bytes. */
const char *sl_fp_gguf_name(const char *gguf, char *buf, size_t n);

/* Undoes llama.cpp's row permutation of attn_q (n_head = the model's heads)
 * and attn_k (pass n_head_kv) weights, which convert_hf_to_gguf.py applies
 * for rotary embeddings: within each head, GGUF row 2i + a is HF row
 * a * head_dim / 2 + i. `in` and `out` hold rows x cols floats (distinct
 * buffers). Returns SL_EINPUT when rows is not a multiple of 2 * n_head. */
enum sl_err sl_fp_unpermute_qk(const float *in, float *out, uint64_t rows, uint64_t cols,
                               uint32_t n_head, struct sl_error *err);

/* The file names a suspect copy may be sent to the tracer under (client and
 * server apply the same rule): 1 to SL_FP_SUSPECT_NAME_MAX bytes of
 * [A-Za-z0-9._-], not starting with a dot, ending in .safetensors, .gguf or
 * .json. */
#define SL_FP_SUSPECT_NAME_MAX 200
bool sl_fp_suspect_name_ok(const char *name);

/* Q8_0 (ggml): quantise `n` floats as llama.cpp's reference quantiser does
 * (quantize_row_q8_0_ref: d = amax / 127 stored as fp16, q = roundf(x * (1 /
 * d))) and dequantise back (q * d); for references. `n` should be a multiple
 * of 32; a shorter tail is copied unchanged. `in` and `out` may be equal. */
void sl_fp_q8_0_roundtrip(const float *in, float *out, size_t n);

/* Converts `n` storage values (little-endian bytes, any alignment) to float,
 * exactly. */
void sl_fp_to_float(enum sl_fp_dtype dt, const void *in, float *out, size_t n);

/* Converts `n` floats to storage values (little-endian bytes), rounding to
 * nearest even as PyTorch and ggml do; NaN stays NaN. */
void sl_fp_from_float(enum sl_fp_dtype dt, const float *in, void *out, size_t n);

#endif
