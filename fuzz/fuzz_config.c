/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the config.json reader of model folders.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/formats_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_model_hints h;
    struct sl_error err;

    sl__hints_init(&h);
    (void)sl__config_parse("config.json", (const char *)data, size, &h, &err);
    return 0;
}
