/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the configuration file reader of `sluice serve --config FILE`
 * (src/cli/config.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_cli_conf_entry *e = NULL;
    size_t n = 0;
    bool password;
    struct sl_error err;

    sl_error_clear(&err);
    if (sl_cli_conf_parse("fuzz.conf", (const char *)data, size, &e, &n, &password, &err) == SL_OK)
        sl_cli_conf_entries_free(e, n);
    return 0;
}
