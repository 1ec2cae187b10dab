/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the policy pack loader; a pack that loads is then evaluated on a
 * fixed set of facts, so the evaluator sees every condition the loader
 * accepts.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char facts_text[] =
        "{\"params\": 7000000000, \"training\": {\"tokens\": 2e12}, \"modality\": [\"text\"],"
        " \"markets\": [\"EU\", \"US-CA\"], \"evaluations\": [{\"domain\": \"cyber\", \"level\": "
        "\"medium\"}], \"license\": {\"spdx\": \"MIT\"}}";
    struct sl_packset *ps = sl_packset_new();
    struct sl_error err;
    json_t *facts = NULL, *d = NULL;

    if (sl_packset_add(ps, "fuzz.json", (const char *)data, size, &err) == SL_OK &&
        sl_packset_check(ps, &err) == SL_OK &&
        sl_facts_parse("facts", facts_text, strlen(facts_text), &facts, &err) == SL_OK) {
        struct sl_classify_in in;
        struct sl_pack_info info;
        const char *ids[1];
        memset(&in, 0, sizeof(in));
        sl_packset_info(ps, 0, &info);
        ids[0] = info.id;
        in.facts = facts;
        in.packs = ids;
        in.npacks = 1;
        in.as_of = 20000;
        if (sl_classify(ps, &in, &d, &err) == SL_OK)
            json_decref(d);
        in.as_of = 22000;
        if (sl_classify(ps, &in, &d, &err) == SL_OK)
            json_decref(d);
    }
    json_decref(facts);
    sl_packset_free(ps);
    return 0;
}
