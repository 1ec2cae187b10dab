/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry fixture shared by test_access.c and test_hub.c: a data folder
 * with a publisher of org "acme", chunk uploads and commits.
 */
#ifndef SL_TEST_REGISTRY_FIXTURE_H
#define SL_TEST_REGISTRY_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

struct fixture {
    char *dir;
    struct sl_registry *r;
    struct sl_principal pub;
    char tok[SL_TOKEN_LEN + 1];
    int64_t org;
};

void setup(struct fixture *f);
void teardown(struct fixture *f);
json_t *upload(struct fixture *f, const char *path, size_t n);
json_t *small_facts(void);
json_t *commit(struct fixture *f, const char *name, json_t *facts, bool force, bool *created);

#endif
