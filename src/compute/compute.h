/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counting parameters from a model's tensor list and estimating training
 * compute (DESIGN §3). Pure functions: no I/O, no clock.
 */
#ifndef SL_COMPUTE_COMPUTE_H
#define SL_COMPUTE_COMPUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "formats/formats.h"

/* What a tensor is, for counting. */
enum sl_tensor_role {
    SL_ROLE_PARAM,  /* counted */
    SL_ROLE_BUFFER, /* stored but not a parameter (attention masks, position ids) */
    SL_ROLE_QUANT,  /* quantisation bookkeeping (scales, zero points, indexes) */
};

struct sl_dtype_count {
    unsigned dtype;
    uint64_t params;
};

struct sl_param_count {
    uint64_t total;           /* parameters */
    uint64_t active;          /* active per token; == total for dense models */
    bool active_known;        /* false for a mixture of experts whose k is unknown */
    uint64_t header_elements; /* raw sum of all tensors' elements */
    uint64_t buffer_elements; /* excluded as buffers */
    uint64_t quant_elements;  /* excluded as quantisation bookkeeping */
    uint64_t packed_tensors;  /* tensors counted by packed elements */
    uint64_t data_bytes;      /* sum of tensor bytes */
    struct sl_dtype_count by_dtype[40];
    size_t n_dtypes;
    /* architecture */
    char arch[64];
    int64_t layers, hidden_size, vocab_size; /* -1 unknown */
    int64_t experts, experts_per_token;      /* 0 for dense; -1 unknown */
    int tied_embeddings;                     /* 1, 0, -1 unknown */
    uint64_t expert_params;                  /* routed expert parameters */
    uint32_t moe_groups;                     /* expert groups (usually one per MoE layer) */
    char note[256];                          /* why something is unknown, "" if nothing */
};

/* Classifies one tensor of `m` by name (and, for packed containers, sets
 * `*num`/`*den` so that elements * num / den is its parameter count). */
enum sl_tensor_role sl_tensor_role(const struct sl_model *m, const struct sl_tensor *t,
                                   uint64_t *num, uint64_t *den);

/* Counts the parameters of `m`: total, active per token (routed experts
 * scaled by k/E), per dtype, and reads the architecture. */
void sl_count_params(const struct sl_model *m, struct sl_param_count *out);

/* ---- training compute ---- */

#define SL_MAX_HARDWARE 16

struct sl_hardware_use {
    char chip[48];
    char precision[16]; /* bf16 when empty */
    double count;
    double hours;
    double utilization; /* 0 < u <= 1; 0 means not given (0.4 is used) */
    double peak_flops;  /* optional override, 0 when not given */
};

struct sl_compute_in {
    double active_params; /* 0 when unknown */
    double tokens;        /* < 0 when unknown */
    double epochs;        /* 1 when not given */
    double fine_tune_tokens;
    double declared_flop; /* < 0 when not given */
    double synthetic_data_flop;
    double base_flop; /* < 0 when not given */
    struct sl_hardware_use hw[SL_MAX_HARDWARE];
    size_t nhw;
    int32_t date; /* training date (day number) for the cost table */
};

struct sl_compute_method {
    char method[24]; /* "operation_counting", "hardware", "declared" */
    double flop;
    char detail[200];
};

struct sl_compute_out {
    bool known;                /* own compute could be estimated */
    double own;                /* this developer's training, central */
    double param_update;       /* own + base */
    double cumulative;         /* param_update + synthetic data generation */
    double modification_ratio; /* own / base, < 0 when no base */
    struct sl_compute_method methods[3];
    size_t nmethods;
    /* Conflict: the highest method figure is more than SL_COMPUTE_RANGE above
     * the lowest. Then `own` is the highest figure (never a mean or a lower
     * declared figure) and lo/hi index `methods`. */
    bool conflict;
    size_t conflict_lo, conflict_hi;
    double cost_usd; /* < 0 when unknown */
    double flop_per_usd;
    char cost_basis[200];
    char note[256];
};

#define SL_COMPUTE_RANGE 0.30 /* the EU's accepted error (Guidelines Annex A.2) */

/* Estimates training compute by every method the inputs allow (DESIGN §3).
 * The central estimate is the declared figure, else the geometric mean of the
 * methods; but when the methods differ by more than the +/-30% band (the
 * highest is above the lowest * 1.3), it is the highest figure and `conflict`
 * is set, so that no disagreement is averaged below a threshold. Fails with SL_EINPUT naming the
 * chip or precision that has no peak figure. */
enum sl_err sl_compute_estimate(const struct sl_compute_in *in, struct sl_compute_out *out,
                                struct sl_error *err);

/* Peak dense FLOP/s of `chip` at `precision` (bf16, fp16, fp8, int8, tf32,
 * fp32); returns false when the table has no figure. */
bool sl_peak_flops(const char *chip, const char *precision, double *flops);

/* Lists the chip ids of the peak table (NULL-terminated). */
const char *const *sl_peak_chips(void);

/* FLOP per US dollar on `date` from the dated table; `basis` describes the
 * row used (at least 200 bytes). */
double sl_flop_per_usd(int32_t date, char *basis, size_t basis_len);

/* Builds the `sluice inspect --json` document for a model (docs/cli.md):
 * format, files, tensor_count, params_total, params_active, params_by_dtype,
 * architecture, excluded, warnings; with `tensors`, one entry per tensor.
 * Returns a new reference. */
json_t *sl_model_report(const struct sl_model *m, const struct sl_param_count *pc, bool tensors);

#endif
