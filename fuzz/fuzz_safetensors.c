/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the safetensors header reader with whole-file images, then counts
 * parameters and builds the inspect report of whatever parsed.
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

    if (sl_safetensors_parse_mem("fuzz.safetensors", data, size, &m, &err) == SL_OK) {
        json_t *r;
        sl_count_params(m, &pc);
        r = sl_model_report(m, &pc, true);
        json_decref(r);
        sl_model_free(m);
    }
    return 0;
}
