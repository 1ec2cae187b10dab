/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the unit tests: building safetensors bytes from a header
 * text, temporary folders and files.
 */
#ifndef SL_TESTS_HELPERS_H
#define SL_TESTS_HELPERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns a malloc'd safetensors image: 8-byte length, `json`, then
 * `data_len` zero bytes. */
static inline unsigned char *th_st_image(const char *json, size_t data_len, size_t *len)
{
    size_t n = strlen(json);
    unsigned char *b = calloc(1, 8 + n + data_len + 1);

    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    *len = 8 + n + data_len;
    return b;
}

/* Makes a fresh temporary folder; the caller removes it with th_rmtree(). */
static inline char *th_tmpdir(void)
{
    char *t = strdup("/tmp/sluice-test-XXXXXX");

    if (!mkdtemp(t))
        abort();
    return t;
}

static inline void th_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f)
        abort();
    if (len && fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
}

static inline void th_write_st(const char *dir, const char *name, const char *json, size_t data_len)
{
    size_t len;
    unsigned char *b = th_st_image(json, data_len, &len);

    th_write(dir, name, b, len);
    free(b);
}

static inline void th_rmtree(char *dir)
{
    char cmd[1100];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        abort();
    free(dir);
}

static inline char *th_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static inline unsigned char *th_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;
    unsigned char *b;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    b[n] = '\0'; /* callers may treat text files as strings */
    *len = (size_t)n;
    return b;
}

#endif
