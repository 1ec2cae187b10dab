/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the model.safetensors.index.json reader.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t shards, weights;
    struct sl_error err;

    (void)sl_st_index_parse_mem("fuzz.index.json", (const char *)data, size, &shards, &weights,
                                &err);
    return 0;
}
