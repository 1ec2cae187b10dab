/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the GGUF reader with whole-file images, then counts parameters.
 */
#include <stddef.h>
#include <stdint.h>

#include "compute/compute.h"
#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_model *m = NULL;
    struct sl_error err;
    struct sl_param_count pc;

    if (sl_gguf_parse_mem("fuzz.gguf", data, size, &m, &err) == SL_OK) {
        sl_count_params(m, &pc);
        sl_model_free(m);
    }
    return 0;
}
