/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes `sluice verify-bundle`: the tar reader (headers, pax records,
 * names, sizes, truncation), the manifest and the chain of checks. The
 * trusted key is the first "sluice+...+..." line of the input when there is
 * one, so mutations of a real bundle (the seed) get past the key check into
 * the checkpoint, proof and file checks. Beyond "never crash": a bundle that
 * verifies must name a 64-hex commit and list its files.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool env_set;
    char path[64], key[512] = "";
    const char *k = NULL;
    struct sl_bundle_opts o;
    struct sl_error err;
    json_t *res = NULL;
    int fd;

    if (!env_set) {
        /* no real state folder: nothing pinned, no verified logs */
        setenv("HOME", "/nonexistent-sluice-fuzz", 1);
        setenv("XDG_STATE_HOME", "/nonexistent-sluice-fuzz/state", 1);
        env_set = true;
    }
    {
        const uint8_t *p = memmem(data, size, "sluice+", 7);
        if (p) {
            size_t n = 0;
            while (p + n < data + size && p[n] != '\n' && n < sizeof(key) - 1)
                n++;
            memcpy(key, p, n);
            key[n] = '\0';
            k = key;
        }
    }
    fd = memfd_create("bundle", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    memset(&o, 0, sizeof(o));
    o.file = path;
    o.key = k;
    if (sl_bundle_verify(&o, &res, &err) == SL_OK) {
        const char *c = json_string_value(json_object_get(res, "commit"));
        if (!c || strlen(c) != 64 || !json_is_array(json_object_get(res, "files")))
            abort();
        json_decref(res);
    }
    close(fd);
    return 0;
}
