/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/registry/.
 */
#ifndef SL_REGISTRY_REGISTRY_INT_H
#define SL_REGISTRY_REGISTRY_INT_H

#include <pthread.h>

#include "db/db.h"
#include "formats/formats.h"
#include "policy/policy.h"
#include "registry/registry.h"
#include "store/store.h"

struct sl_registry {
    char *root;
    char *db_path;
    char *origin;
    pthread_key_t db_key;
    struct sl_pack_cache *packs;
    struct sl_packset *policy;
    unsigned char key_priv[SL_ED25519_PRIV_LEN];
    unsigned char key_pub[SL_ED25519_PUB_LEN];
};

/* Seconds since the epoch (the one place the registry reads the clock). */
int64_t sl__now(void);

/* Hashes a token for storage and lookup. */
void sl__token_hash(const char *token, unsigned char out[32]);

/* Formats a new random token. */
void sl__token_new(char *token);

/* Runs `sql` expecting one integer result; `*found` tells whether a row came. */
enum sl_err sl__db_int(struct sl_db *db, struct sl_stmt *st, int64_t *v, bool *found,
                       struct sl_error *err);

/* A file of a version being committed, for inspection. */
struct sl__ifile {
    const char *path;
    uint64_t size;
    int64_t blob_id;          /* a stored file, or 0 */
    const int64_t *chunk_ids; /* in order; NULL for a stored file */
    const uint32_t *chunk_len;
    size_t nchunks;
};

/* Reads the weight headers of `files` (the top-level *.safetensors, index,
 * *.gguf and config.json, by the rules of `sluice inspect`) from the store.
 * SL_ENOTFOUND when the version holds no weights. */
enum sl_err sl__reg_inspect(struct sl_registry *r, struct sl_db *db, const struct sl__ifile *files,
                            size_t n, struct sl_model **out, struct sl_error *err);

#endif
