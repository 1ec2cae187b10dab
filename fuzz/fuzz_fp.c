/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes what fingerprint tracing reads from a suspect copy: GGUF tensor
 * names, and tensor values (any float, NaN and infinities included) observed
 * against an original and a reference, then scored and decoded; plus the Q8_0
 * reference quantiser and the q/k unpermutation on the same values.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "fp/fp.h"

#define ROWS 64
#define COLS 64
#define N    (ROWS * COLS)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_fp_plan *plan;
static unsigned char orig[2 * N];
static struct sl_fp_recipient rcpt;
static const unsigned char master[SL_FP_KEY_LEN] = "fuzz_fp master secret, 32 bytes.";

static void init(void)
{
    struct sl_fp_tensor t = {"model.layers.0.mlp.up_proj.weight", SL_FP_BF16, ROWS, COLS, 0};
    unsigned char lk[SL_FP_KEY_LEN];
    uint32_t s = 12345;

    for (size_t i = 0; i < sizeof(orig); i++) {
        s = s * 1664525u + 1013904223u;
        orig[i] = (unsigned char)(s >> 24);
    }
    sl_fp_lineage_key(master, "fuzz", lk);
    if (sl_fp_plan_new(lk, 0.05, &t, 1, &plan, NULL) != SL_OK)
        abort();
    sl_fp_recipient_init(master, 7, &rcpt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float sv[N], ref[N], tmp[N];
    char name[128], buf[160];
    size_t nl = 0, nf;
    uint64_t shape[2] = {ROWS, COLS}, rd, tot;
    struct sl_fp_obs *o;
    struct sl_fp_score sc;
    uint32_t id;
    bool ok;

    if (!plan)
        init();
    while (nl < size && nl < sizeof(name) - 1 && data[nl] != '\0')
        nl++;
    memcpy(name, data, nl);
    name[nl] = '\0';
    (void)sl_fp_gguf_name(name, buf, sizeof(buf));
    (void)sl_fp_gguf_name(name, buf, 12);
    (void)sl_fp_eligible(name, SL_DT_BF16, shape, 2);
    data += nl < size ? nl + 1 : nl;
    size -= nl < size ? nl + 1 : nl;

    /* the rest: a flag byte, then floats for the suspect (and reference) */
    memset(sv, 0, sizeof(sv));
    memset(ref, 0, sizeof(ref));
    nf = size > 1 ? (size - 1) / 4 : 0;
    if (nf > N)
        nf = N;
    if (nf)
        memcpy(sv, data + 1, nf * 4);
    for (size_t i = nf; i < N; i++)
        sv[i] = sv[i % (nf ? nf : 1)];
    memcpy(ref, sv, sizeof(ref));
    for (size_t i = 0; i < N; i += 7)
        ref[i] = -ref[i];
    o = sl_fp_obs_new(plan);
    if (sl_fp_observe(o, "model.layers.0.mlp.up_proj.weight", SL_FP_BF16, orig, sv,
                      size && (data[0] & 1) ? ref : NULL, NULL) != SL_OK)
        abort();
    sl_fp_score(o, &rcpt, &sc);
    sl_fp_decode(o, master, &id, &ok);
    sl_fp_obs_counts(o, &rd, &tot);
    if (rd > tot || sc.readable > rd || (ok && id == 0))
        abort();
    sl_fp_obs_free(o);

    sl_fp_q8_0_roundtrip(sv, tmp, nf);
    sl_fp_q8_0_roundtrip(sv, sv, N);
    (void)sl_fp_unpermute_qk(ref, tmp, ROWS, COLS, size ? data[0] : 0, NULL);
    return 0;
}
