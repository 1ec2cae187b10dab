/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Training compute estimation (DESIGN §3; research: governance.md §2):
 *
 *   operation counting  6 * N_active * (tokens * epochs + fine_tune_tokens)
 *   hardware            sum(chips * hours * 3600 * peak(chip, precision) * utilisation)
 *   declared            the publisher's figure
 *
 * The central estimate is the declared figure when given, else the geometric
 * mean of the methods present (as Epoch AI does for Phi-4). When the figures
 * differ by more than the EU's accepted +/-30% error, neither rule holds: a
 * declared 4.7e25 and a count of 4.2e21 must not become 4.5e23 (or a declared
 * figure under a larger count), so the central estimate is the highest figure
 * and the conflict is reported for the caller to block on. Cost divides the
 * publisher's own compute by a dated FLOP-per-dollar table.
 */
#include "compute/compute.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/date.h"
#include "common/util.h"
#include "common/banned.h"

/* Peak dense (no sparsity) throughput in FLOP/s, from Epoch AI's ML hardware
 * data (training-cost-trends, "Chip dataset-Grid view.csv"); 0 = no figure.
 * Columns: bf16/fp16 tensor, fp8/int8, tf32, fp32. */
static const struct {
    const char *chip;
    double bf16, fp8, tf32, fp32;
} peaks[] = {
    {"nvidia-v100", 1.25e14, 0, 0, 1.57e13},
    {"nvidia-a100", 3.12e14, 6.24e14, 1.56e14, 1.95e13},
    {"nvidia-a800", 3.118e14, 0, 1.559e14, 1.949e13},
    {"nvidia-h100-sxm", 9.894e14, 1.979e15, 4.947e14, 6.691e13},
    {"nvidia-h100-pcie", 7.56e14, 0, 3.78e14, 5.122e13},
    {"nvidia-h800", 9.89e14, 1.979e15, 4.545e14, 5.93e13},
    {"nvidia-h20", 1.48e14, 2.96e14, 7.4e13, 4.4e13},
    {"nvidia-h200", 9.895e14, 1.979e15, 4.945e14, 6.691e13},
    {"nvidia-b200", 2.25e15, 4.5e15, 1.125e15, 6.208e13},
    {"google-tpu-v4", 2.75e14, 2.75e14, 0, 0},
    {"google-tpu-v5e", 1.97e14, 3.93e14, 0, 0},
    {"google-tpu-v5p", 4.59e14, 9.18e14, 0, 0},
    {"google-tpu-v6e", 9.18e14, 1.836e15, 0, 0},
    {"amd-mi300x", 1.3074e15, 2.6149e15, 6.537e14, 1.634e14},
};

/* Aliases people write for the same chip. */
static const struct {
    const char *alias, *chip;
} aliases[] = {
    {"nvidia-v100-sxm2", "nvidia-v100"},
    {"nvidia-a100-sxm", "nvidia-a100"},
    {"nvidia-a100-40gb", "nvidia-a100"},
    {"nvidia-a100-80gb", "nvidia-a100"},
    {"nvidia-h100", "nvidia-h100-sxm"},
    {"nvidia-h100-sxm5", "nvidia-h100-sxm"},
    {"nvidia-h800-sxm", "nvidia-h800"},
    {"nvidia-h200-sxm", "nvidia-h200"},
    {"google-tpu-v6e-trillium", "google-tpu-v6e"},
};

static const char *chip_ids[SL_ARRAY_LEN(peaks) + 1];

const char *const *sl_peak_chips(void)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(peaks); i++)
        chip_ids[i] = peaks[i].chip;
    chip_ids[SL_ARRAY_LEN(peaks)] = NULL;
    return chip_ids;
}

bool sl_peak_flops(const char *chip, const char *precision, double *flops)
{
    const char *prec = precision && precision[0] ? precision : "bf16";

    for (size_t i = 0; i < SL_ARRAY_LEN(aliases); i++)
        if (strcmp(chip, aliases[i].alias) == 0)
            chip = aliases[i].chip;
    for (size_t i = 0; i < SL_ARRAY_LEN(peaks); i++) {
        double v = 0;
        if (strcmp(peaks[i].chip, chip) != 0)
            continue;
        if (strcmp(prec, "bf16") == 0 || strcmp(prec, "fp16") == 0)
            v = peaks[i].bf16;
        else if (strcmp(prec, "fp8") == 0 || strcmp(prec, "int8") == 0)
            v = peaks[i].fp8;
        else if (strcmp(prec, "tf32") == 0)
            v = peaks[i].tf32;
        else if (strcmp(prec, "fp32") == 0)
            v = peaks[i].fp32;
        if (v <= 0)
            return false;
        *flops = v;
        return true;
    }
    return false;
}

/* FLOP per dollar: a chip-hour price times the FLOP that hour buys at 40%
 * utilisation. Prices: Epoch AI "Hardware prices.csv" (observations 2023-06
 * to 2025-03), on-demand medians. Dates are when the chip became the usual
 * choice for large runs. */
static const struct {
    const char *from;
    const char *chip;
    double peak, usd_per_hour;
} price_rows[] = {
    {"2020-06-01", "A100-80GB", 3.12e14, 2.93},
    {"2023-06-01", "H100 SXM", 9.894e14, 4.40},
};

#define PRICE_MFU            0.4
#define PRICE_DOUBLING_YEARS 2.46 /* GPU FLOP/s per $ (Hobbhahn & Besiroglu, Epoch) */

double sl_flop_per_usd(int32_t date, char *basis, size_t basis_len)
{
    size_t pick = 0;
    int32_t first;
    double fpu;
    char d[11];

    for (size_t i = 0; i < SL_ARRAY_LEN(price_rows); i++) {
        int32_t from;
        if (sl_date_parse(price_rows[i].from, &from) && from <= date)
            pick = i;
    }
    fpu = price_rows[pick].peak * PRICE_MFU * 3600.0 / price_rows[pick].usd_per_hour;
    sl_date_parse(price_rows[0].from, &first);
    if (date < first) {
        /* Before the table: step back along Epoch's price-performance trend. */
        double years = (first - date) / 365.25;
        fpu /= pow(2.0, years / PRICE_DOUBLING_YEARS);
        snprintf(basis, basis_len,
                 "%s at $%.2f/h and 40%% utilisation, extrapolated back to %s (price-performance "
                 "doubles every %.2f years)",
                 price_rows[0].chip, price_rows[0].usd_per_hour, sl_date_format(date, d),
                 PRICE_DOUBLING_YEARS);
        return fpu;
    }
    snprintf(basis, basis_len,
             "%s at $%.2f/h (Epoch AI on-demand median) and 40%% utilisation, table row from %s",
             price_rows[pick].chip, price_rows[pick].usd_per_hour, price_rows[pick].from);
    return fpu;
}

static void add_method(struct sl_compute_out *out, const char *method, double flop,
                       const char *detail)
{
    struct sl_compute_method *m = &out->methods[out->nmethods++];

    snprintf(m->method, sizeof(m->method), "%s", method);
    m->flop = flop;
    snprintf(m->detail, sizeof(m->detail), "%s", detail);
}

enum sl_err sl_compute_estimate(const struct sl_compute_in *in, struct sl_compute_out *out,
                                struct sl_error *err)
{
    char a[32], b[32], c[32], detail[200];
    double counting = -1, hardware = -1;

    memset(out, 0, sizeof(*out));
    out->cost_usd = -1;
    out->modification_ratio = -1;

    if (in->active_params > 0 && in->tokens >= 0) {
        double epochs = in->epochs > 0 ? in->epochs : 1;
        double d = in->tokens * epochs + (in->fine_tune_tokens > 0 ? in->fine_tune_tokens : 0);
        counting = 6.0 * in->active_params * d;
        snprintf(detail, sizeof(detail), "6 x %s active parameters x %s tokens",
                 sl_fmt_sig(in->active_params, 4, a, sizeof(a)), sl_fmt_sig(d, 4, b, sizeof(b)));
        add_method(out, "operation_counting", counting, detail);
    } else if (in->active_params > 0 && in->fine_tune_tokens > 0) {
        counting = 6.0 * in->active_params * in->fine_tune_tokens;
        snprintf(detail, sizeof(detail), "6 x %s active parameters x %s fine-tuning tokens",
                 sl_fmt_sig(in->active_params, 4, a, sizeof(a)),
                 sl_fmt_sig(in->fine_tune_tokens, 4, b, sizeof(b)));
        add_method(out, "operation_counting", counting, detail);
    }
    if (in->nhw > 0) {
        double total = 0;
        bool default_u = false;
        for (size_t i = 0; i < in->nhw; i++) {
            const struct sl_hardware_use *h = &in->hw[i];
            double peak = h->peak_flops, u = h->utilization > 0 ? h->utilization : 0.4;
            if (h->utilization <= 0)
                default_u = true;
            if (peak <= 0 && !sl_peak_flops(h->chip, h->precision, &peak))
                return sl_error_set(err, SL_EINPUT,
                                    "training.hardware[%zu]: no peak figure for chip \"%s\" at "
                                    "precision \"%s\" (see `sluice classify --help` for the "
                                    "chips; or give \"peak_flops\")",
                                    i, h->chip, h->precision[0] ? h->precision : "bf16");
            total += h->count * h->hours * 3600.0 * peak * u;
        }
        hardware = total;
        if (in->nhw == 1) {
            const struct sl_hardware_use *h = &in->hw[0];
            double peak = h->peak_flops;
            char u[32], d4[32];
            if (peak <= 0)
                sl_peak_flops(h->chip, h->precision, &peak);
            snprintf(u, sizeof(u), "%s",
                     h->utilization > 0 ? sl_fmt_sig(h->utilization, 4, d4, sizeof(d4))
                                        : "0.4 (assumed)");
            snprintf(detail, sizeof(detail), "%s x %s x %s h x %s FLOP/s x %s utilisation",
                     sl_fmt_double(h->count, a, sizeof(a)), h->chip,
                     sl_fmt_double(h->hours, b, sizeof(b)), sl_fmt_sig(peak, 4, c, sizeof(c)), u);
        } else {
            snprintf(detail, sizeof(detail),
                     "%zu hardware periods: chips x hours x peak x utilisation%s", in->nhw,
                     default_u ? " (0.4 assumed where not given)" : "");
        }
        add_method(out, "hardware", hardware, detail);
    }
    if (in->declared_flop >= 0)
        add_method(out, "declared", in->declared_flop, "declared by the publisher");

    if (out->nmethods >= 2) {
        size_t lo = 0, hi = 0;
        for (size_t i = 1; i < out->nmethods; i++) {
            if (out->methods[i].flop < out->methods[lo].flop)
                lo = i;
            if (out->methods[i].flop > out->methods[hi].flop)
                hi = i;
        }
        if (out->methods[hi].flop > out->methods[lo].flop * (1 + SL_COMPUTE_RANGE)) {
            out->conflict = true;
            out->conflict_lo = lo;
            out->conflict_hi = hi;
        }
    }
    if (out->conflict) {
        out->own = out->methods[out->conflict_hi].flop;
        out->known = true;
    } else if (in->declared_flop >= 0) {
        out->own = in->declared_flop;
        out->known = true;
    } else if (counting >= 0 && hardware >= 0) {
        out->own = sqrt(counting * hardware);
        out->known = true;
    } else if (counting >= 0 || hardware >= 0) {
        out->own = counting >= 0 ? counting : hardware;
        out->known = true;
    } else {
        snprintf(out->note, sizeof(out->note),
                 "training compute unknown: give training.tokens (with parameters), "
                 "training.hardware or training.declared_flop");
    }
    if (!out->known)
        return SL_OK;
    out->param_update = out->own + (in->base_flop > 0 ? in->base_flop : 0);
    out->cumulative =
        out->param_update + (in->synthetic_data_flop > 0 ? in->synthetic_data_flop : 0);
    if (in->base_flop > 0)
        out->modification_ratio = out->own / in->base_flop;
    out->flop_per_usd = sl_flop_per_usd(in->date, out->cost_basis, sizeof(out->cost_basis));
    out->cost_usd = out->own / out->flop_per_usd;
    return SL_OK;
}
