/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the facts file reader; facts that validate are classified against
 * the built-in packs, so estimation and evaluation see them too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_packset *ps;
    struct sl_error err;
    json_t *facts = NULL, *d = NULL;

    if (!ps && sl_packset_builtin(&ps, &err) != SL_OK)
        abort();
    if (sl_facts_parse("facts.json", (const char *)data, size, &facts, &err) == SL_OK) {
        struct sl_classify_in in;
        memset(&in, 0, sizeof(in));
        in.facts = facts;
        in.as_of = 20800;
        if (sl_classify(ps, &in, &d, &err) == SL_OK)
            json_decref(d);
        json_decref(facts);
    }
    return 0;
}
