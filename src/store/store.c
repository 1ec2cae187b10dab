/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a blob store from its URL (store.h) and the pack key rule every
 * back end shares.
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io.h"
#include "common/util.h"
#include "common/vfs.h"
#include "common/banned.h"

bool sl_store_pack_key(const char *key, char *name)
{
    /* "XX/" + 32 hex + ".pack" */
    size_t len = strlen(key);

    if (len != 3 + SL_PACK_NAME_LEN + 5 || key[2] != '/' ||
        strcmp(key + 3 + SL_PACK_NAME_LEN, ".pack") != 0 || key[0] != key[3] || key[1] != key[4])
        return false;
    for (size_t i = 3; i < 3 + SL_PACK_NAME_LEN; i++) {
        char c = key[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    if (name) {
        memcpy(name, key + 3, SL_PACK_NAME_LEN);
        name[SL_PACK_NAME_LEN] = '\0';
    }
    return true;
}

enum sl_err sl_store_open(const char *url, const char *data, const struct sl_store_opts *opts,
                          struct sl_store **out, struct sl_error *err)
{
    enum sl_err rc;

    *out = NULL;
    if (!url || !url[0]) {
        /* the store the server last ran with, else the folder default */
        char *rec = sl_xasprintf("%s/" SL_STORE_RECORD, data), *text = NULL;
        size_t len = 0;
        if (sl_read_file(rec, 4096, &text, &len, NULL) == SL_OK) {
            while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                text[--len] = '\0';
            if (len > 0) {
                rc = sl_store_open(text, data, opts, out, err);
                free(text);
                free(rec);
                return rc;
            }
        }
        free(text);
        free(rec);
        {
            char *path = sl_xasprintf("%s/packs", data);
            rc = sl__store_file_open(path, out, err);
            free(path);
        }
        return rc;
    }
    if (strncmp(url, "file:", 5) == 0)
        return sl__store_file_open(url + 5, out, err);
    if (strncmp(url, "s3://", 5) == 0)
        return sl__store_s3_open(url, url + 5, data, opts, out, err);
    return sl_error_set(err, SL_EUSAGE,
                        "store \"%.200s\" is not a store URL: use file:PATH or s3://BUCKET/PREFIX",
                        url);
}

enum sl_err sl_store_remember(const struct sl_store *s, const char *data, struct sl_error *err)
{
    char *rec = sl_xasprintf("%s/" SL_STORE_RECORD, data);
    char *line = sl_xasprintf("%s\n", s->url);
    enum sl_err rc = sl_vfs_write_file(rec, line, strlen(line), 0600, err);

    free(rec);
    free(line);
    return rc;
}

void sl_store_free(struct sl_store *s)
{
    if (s)
        s->ops->free(s);
}
