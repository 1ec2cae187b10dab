/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Storage type tables: safetensors dtypes (the reference enum, with bit
 * widths, including the sub-byte F4/F6 and the F8 family) and ggml types with
 * their block geometry (sizeof(block_*) from ggml-common.h, see
 * tests/vectors/gguf/ggml-types.tsv).
 */
#include "formats/formats.h"

#include <string.h>

#include "common/banned.h"

/* Name, its length (parsing compares lengths first) and bits per element. */
#define ST(name, bits)                                                                             \
    {                                                                                              \
        name, sizeof(name) - 1, bits                                                               \
    }

static const struct {
    const char *name;
    unsigned len;
    unsigned bits;
} st_types[SL_DT_ST_COUNT] = {
    [SL_DT_BOOL] = ST("BOOL", 8),
    [SL_DT_F4] = ST("F4", 4),
    [SL_DT_F6_E2M3] = ST("F6_E2M3", 6),
    [SL_DT_F6_E3M2] = ST("F6_E3M2", 6),
    [SL_DT_U8] = ST("U8", 8),
    [SL_DT_I8] = ST("I8", 8),
    [SL_DT_F8_E5M2] = ST("F8_E5M2", 8),
    [SL_DT_F8_E4M3] = ST("F8_E4M3", 8),
    [SL_DT_F8_E8M0] = ST("F8_E8M0", 8),
    [SL_DT_F8_E4M3FNUZ] = ST("F8_E4M3FNUZ", 8),
    [SL_DT_F8_E5M2FNUZ] = ST("F8_E5M2FNUZ", 8),
    [SL_DT_I16] = ST("I16", 16),
    [SL_DT_U16] = ST("U16", 16),
    [SL_DT_F16] = ST("F16", 16),
    [SL_DT_BF16] = ST("BF16", 16),
    [SL_DT_I32] = ST("I32", 32),
    [SL_DT_U32] = ST("U32", 32),
    [SL_DT_F32] = ST("F32", 32),
    [SL_DT_C64] = ST("C64", 64),
    [SL_DT_F64] = ST("F64", 64),
    [SL_DT_I64] = ST("I64", 64),
    [SL_DT_U64] = ST("U64", 64),
};

/* id, name, elements per block, bytes per block; NULL name = removed id. */
static const struct {
    const char *name;
    uint32_t block_elems;
    uint32_t block_bytes;
} ggml_types[] = {
    [0] = {"F32", 1, 4},         [1] = {"F16", 1, 2},         [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},      [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},      [9] = {"Q8_1", 32, 36},      [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},   [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},   [15] = {"Q8_K", 256, 292},   [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},  [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},   [21] = {"IQ3_S", 256, 110},  [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},        [27] = {"I64", 1, 8},        [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},   [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},   [39] = {"MXFP4", 32, 17},    [40] = {"NVFP4", 64, 36},
    [41] = {"Q1_0", 128, 18},    [42] = {"Q2_0", 64, 18},
};

const char *sl_dtype_name(unsigned dtype)
{
    if (dtype < SL_DT_ST_COUNT)
        return st_types[dtype].name;
    if (dtype >= SL_DT_GGML) {
        const char *name;
        uint32_t be, bb;
        if (sl_ggml_type_info(dtype - SL_DT_GGML, &name, &be, &bb))
            return name;
    }
    return "unknown";
}

unsigned sl_st_dtype_bits(unsigned dtype)
{
    return dtype < SL_DT_ST_COUNT ? st_types[dtype].bits : 0;
}

bool sl_st_dtype_parse(const char *s, size_t n, unsigned *dtype)
{
    /* Called for every tensor with names of at most 11 bytes: a byte loop
     * after the length check beats calling memcmp(). */
    for (unsigned i = 0; i < SL_DT_ST_COUNT; i++) {
        const char *name = st_types[i].name;
        size_t k = 0;
        if (st_types[i].len != n)
            continue;
        while (k < n && name[k] == s[k])
            k++;
        if (k == n) {
            *dtype = i;
            return true;
        }
    }
    return false;
}

bool sl_ggml_type_info(uint32_t id, const char **name, uint32_t *block_elems, uint32_t *block_bytes)
{
    if (id >= sizeof(ggml_types) / sizeof(ggml_types[0]) || !ggml_types[id].name)
        return false;
    *name = ggml_types[id].name;
    *block_elems = ggml_types[id].block_elems;
    *block_bytes = ggml_types[id].block_bytes;
    return true;
}

bool sl_dtype_is_float(unsigned dtype)
{
    switch (dtype) {
    case SL_DT_F16:
    case SL_DT_BF16:
    case SL_DT_F32:
    case SL_DT_F64:
    case SL_DT_GGML + 0:
    case SL_DT_GGML + 1:
    case SL_DT_GGML + 28:
    case SL_DT_GGML + 30:
        return true;
    default:
        return false;
    }
}

const char *sl_format_name(enum sl_format f)
{
    switch (f) {
    case SL_FMT_SAFETENSORS:
        return "safetensors";
    case SL_FMT_GGUF:
        return "gguf";
    default:
        return "none";
    }
}
