/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client: where the server is and which token to send (config),
 * an HTTP connection to it (libcurl, loaded on first use), and the two
 * transfers, push (chunk, hash, upload what the server lacks, commit) and
 * pull (parallel ranged downloads, resumable, verified). The CLI commands
 * push, pull and login are thin layers over this module.
 */
#ifndef SL_CLIENT_CLIENT_H
#define SL_CLIENT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Where the server is and the token to send it. Strings are owned by the
 * struct (sl_client_config_release frees them). */
struct sl_client_config {
    char *url;   /* base URL without a trailing '/', or NULL when none is set */
    char *token; /* bearer token, or NULL (anonymous) */
    char *file;  /* the config file read, or NULL */
};

/* Resolves the server and token: SLUICE_URL and SLUICE_TOKEN win; otherwise
 * the config file ($XDG_CONFIG_HOME/sluice/config.json, default
 * ~/.config/sluice/config.json). A token in the file is only used for the URL
 * it was saved with, so pointing SLUICE_URL elsewhere never sends it to
 * another server. A missing file is not an error; a malformed one is
 * (SL_EINPUT). `c->url` stays NULL when nothing names a server. */
enum sl_err sl_client_config_load(struct sl_client_config *c, struct sl_error *err);

void sl_client_config_release(struct sl_client_config *c);

/* Returns the config file path (caller frees), or NULL when neither
 * XDG_CONFIG_HOME nor HOME can be found. */
char *sl_client_config_path(void);

/* Records `token` for `url` and makes `url` the default server: the file is
 * written with mode 0600 (its folder 0700), to a temporary name, fsynced and
 * renamed into place. Other servers' tokens in the file are kept. */
enum sl_err sl_client_config_save(const char *url, const char *token, struct sl_error *err);

/* Normalises a server URL: http:// or https:// with a host, no query or
 * fragment, trailing '/' removed. Returns a new string (caller frees) or NULL
 * with an SL_EUSAGE error. */
char *sl_client_url_normalize(const char *url, struct sl_error *err);

/* A token is sent in a header: printable ASCII without spaces, 1..512 bytes. */
bool sl_client_token_ok(const char *token);

/* A connection to a server. Creating it loads libcurl (SL_EIO with a clear
 * message when the library is missing). */
struct sl_client;

enum sl_err sl_client_new(const char *url, const char *token, struct sl_client **out,
                          struct sl_error *err);
void sl_client_free(struct sl_client *cl);

/* The JSON body of the last request the server refused (its `error`,
 * `message`, and for a refused version the `decision`), or NULL. Owned by
 * the client; valid until its next request. */
json_t *sl_client_last_error(struct sl_client *cl);

/* GET /api/v1/health and checks the answer is {"ok": true, ...}. */
enum sl_err sl_client_health(struct sl_client *cl, struct sl_error *err);

/* Validates "ORG/NAME" (and "@REV" when `rev` is not NULL; `*rev` is then
 * "main" when absent). Returns new strings the caller frees. */
enum sl_err sl_client_parse_model(const char *spec, char **org, char **name, char **rev,
                                  struct sl_error *err);

struct sl_push_opts {
    const char *org, *name;
    const char *path;      /* a folder or a single file */
    json_t *facts;         /* validated facts, or NULL */
    const char *tier;      /* requested tier, or NULL for the minimum */
    const char *license;   /* license text, or NULL */
    bool progress;         /* draw a progress bar on stderr */
    int threads;           /* hashing threads; 0 = number of CPUs, at most 8 */
    int streams;           /* parallel uploads; 0 = 4 */
    const char *cache_dir; /* scan cache folder; NULL = the default, "" = none */
};

/* Pushes a model version. On success `*result` (new reference) holds the
 * server's answer (`model`, `version`, `commit`, `tier`, `min_tier`,
 * `bytes_total`, `decision`) plus `bytes_uploaded` and `files` (count).
 * A refusal (4xx) is SL_EREFUSED with the server's message. */
enum sl_err sl_client_push(struct sl_client *cl, const struct sl_push_opts *o, json_t **result,
                           struct sl_error *err);

struct sl_pull_opts {
    const char *org, *name, *rev;
    const char *dest; /* folder to write into (created) */
    bool progress;
    int streams;           /* parallel downloads; 0 = 4 */
    uint64_t segment;      /* bytes per ranged request; 0 = 64 MiB */
    const char *cache_dir; /* scan cache folder; NULL = the default, "" = none */
};

/* Pulls a version into `dest`. `*result` (new reference): `commit`, `files`
 * [{`path`, `size`, `sha256`, `downloaded`}], `bytes_downloaded`, and
 * `model`, `version`, `tier` for the human summary. */
enum sl_err sl_client_pull(struct sl_client *cl, const struct sl_pull_opts *o, json_t **result,
                           struct sl_error *err);

#endif
