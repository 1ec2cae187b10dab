/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client configuration: which server to talk to and the token for it. The
 * environment (SLUICE_URL, SLUICE_TOKEN) wins over the file that
 * `sluice login` writes, $XDG_CONFIG_HOME/sluice/config.json:
 *
 *   {"url": "https://registry.example", "servers": {"https://registry.example":
 *    {"token": "sl_..."}}}
 *
 * Tokens are kept per server so one never reaches another server.
 */
#include "client/client_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "common/banned.h"

#define CONFIG_MAX (1u << 20)

char *sl_client_config_path(void)
{
    char *dir = sl__cl_xdg_dir("XDG_CONFIG_HOME", ".config"), *p;

    if (!dir)
        return NULL;
    p = sl_xasprintf("%s/config.json", dir);
    free(dir);
    return p;
}

char *sl_client_url_normalize(const char *url, struct sl_error *err)
{
    size_t n = strlen(url), skip;
    const char *host, *end;
    char *out;

    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else {
        sl_error_set(err, SL_EUSAGE, "\"%s\": the server URL must start with http:// or https://",
                     url);
        return NULL;
    }
    if (n > 2048) {
        sl_error_set(err, SL_EUSAGE, "the server URL is longer than 2048 bytes");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '\\') {
            sl_error_set(err, SL_EUSAGE,
                         "\"%s\": the server URL may not hold spaces, control characters, a "
                         "query or a fragment",
                         url);
            return NULL;
        }
    }
    host = url + skip;
    end = strchr(host, '/');
    if (!end)
        end = url + n;
    if (end == host) {
        sl_error_set(err, SL_EUSAGE, "\"%s\": the server URL has no host", url);
        return NULL;
    }
    if (memchr(host, '@', (size_t)(end - host))) {
        sl_error_set(err, SL_EUSAGE,
                     "\"%s\": put credentials in --token, not in the URL (they would be stored "
                     "in plain text)",
                     url);
        return NULL;
    }
    while (n > skip && url[n - 1] == '/')
        n--;
    out = sl_xstrndup(url, n);
    /* The scheme in lower case, so the same server is one key. */
    for (size_t i = 0; i < skip; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
    return out;
}

bool sl_client_token_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 512)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return false;
    return true;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* Reads the config file into a tree. A missing file gives an empty object. */
static enum sl_err read_config(const char *path, json_t **out, struct sl_error *err)
{
    char *text = NULL;
    size_t len;
    json_error_t je;
    json_t *v;
    enum sl_err rc;

    if (access(path, F_OK) != 0 && errno == ENOENT) {
        *out = json_object();
        return SL_OK;
    }
    rc = sl_read_file(path, CONFIG_MAX, &text, &len, err);
    if (rc)
        return rc;
    v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!v || !json_is_object(v)) {
        json_decref(v);
        return sl_error_set(err, SL_EINPUT, "%s: not a JSON object%s%s (run `sluice login` again)",
                            path, v ? "" : ": ", v ? "" : je.text);
    }
    *out = v;
    return SL_OK;
}

enum sl_err sl_client_config_load(struct sl_client_config *c, struct sl_error *err)
{
    const char *eurl = env("SLUICE_URL"), *etok = env("SLUICE_TOKEN");
    json_t *cfg = NULL, *v;
    char *path = NULL;
    enum sl_err rc = SL_OK;

    memset(c, 0, sizeof(*c));
    if (etok && !sl_client_token_ok(etok))
        return sl_error_set(err, SL_EUSAGE,
                            "SLUICE_TOKEN holds spaces or control characters; it is not a token");
    if (eurl) {
        c->url = sl_client_url_normalize(eurl, err);
        if (!c->url) {
            sl_error_prefix(err, "SLUICE_URL");
            return err ? err->code : SL_EUSAGE;
        }
    }
    if (eurl && etok) {
        c->token = sl_xstrdup(etok);
        return SL_OK;
    }
    path = sl_client_config_path();
    if (path) {
        rc = read_config(path, &cfg, err);
        if (rc)
            goto out;
        c->file = sl_xstrdup(path);
    }
    if (!c->url && cfg) {
        const char *u = json_string_value(json_object_get(cfg, "url"));
        if (u) {
            c->url = sl_client_url_normalize(u, err);
            if (!c->url) {
                sl_error_prefix(err, "%s", path);
                rc = err ? err->code : SL_EINPUT;
                goto out;
            }
        }
    }
    if (etok) {
        c->token = sl_xstrdup(etok);
    } else if (c->url && cfg) {
        v = json_object_get(json_object_get(json_object_get(cfg, "servers"), c->url), "token");
        if (json_is_string(v)) {
            if (!sl_client_token_ok(json_string_value(v))) {
                rc =
                    sl_error_set(err, SL_EINPUT, "%s: the token for %s is malformed", path, c->url);
                goto out;
            }
            c->token = sl_xstrdup(json_string_value(v));
        }
    }
out:
    json_decref(cfg);
    free(path);
    if (rc)
        sl_client_config_release(c);
    return rc;
}

void sl_client_config_release(struct sl_client_config *c)
{
    if (c->token)
        sl_wipe(c->token, strlen(c->token));
    free(c->url);
    free(c->token);
    free(c->file);
    memset(c, 0, sizeof(*c));
}

enum sl_err sl_client_config_save(const char *url, const char *token, struct sl_error *err)
{
    char *path = sl_client_config_path(), *dir = NULL, *text = NULL;
    json_t *cfg = NULL, *servers, *entry;
    struct sl_error ignored;
    size_t len;
    enum sl_err rc;

    if (!path)
        return sl_error_set(err, SL_EIO, "no home folder: set HOME or XDG_CONFIG_HOME");
    if (!sl_client_token_ok(token)) {
        rc = sl_error_set(err, SL_EUSAGE, "the token holds spaces or control characters");
        goto out;
    }
    dir = sl_xstrndup(path, strlen(path) - strlen("/config.json"));
    rc = sl__cl_mkdirs(dir, 0700, err);
    if (rc)
        goto out;
    /* Our own folder holds secrets: owner only, even if it existed wider. */
    if (chmod(dir, 0700) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot set mode 0700: %s", dir, strerror(errno));
        goto out;
    }
    /* A malformed old file is replaced: the user is logging in afresh. */
    if (read_config(path, &cfg, &ignored) != SL_OK)
        cfg = json_object();
    json_object_set_new(cfg, "url", json_string(url));
    servers = json_object_get(cfg, "servers");
    if (!json_is_object(servers)) {
        servers = json_object();
        json_object_set_new(cfg, "servers", servers);
    }
    entry = json_object();
    json_object_set_new(entry, "token", json_string(token));
    json_object_set_new(servers, url, entry);
    text = sl_json_dump(cfg, 2, &len);
    rc = sl__cl_write_atomic(path, text, len, 0600, true, err);
out:
    if (text) {
        sl_wipe(text, strlen(text));
        free(text);
    }
    json_decref(cfg);
    free(dir);
    free(path);
    return rc;
}

enum sl_err sl_client_config_forget(const char *url, bool *removed, struct sl_error *err)
{
    char *path = sl_client_config_path(), *text = NULL;
    json_t *cfg = NULL, *servers;
    size_t len;
    enum sl_err rc;

    *removed = false;
    if (!path)
        return sl_error_set(err, SL_EIO, "no home folder: set HOME or XDG_CONFIG_HOME");
    rc = read_config(path, &cfg, err);
    if (rc)
        goto out;
    servers = json_object_get(cfg, "servers");
    if (json_object_get(servers, url)) {
        json_object_del(servers, url);
        *removed = true;
    }
    if (json_is_string(json_object_get(cfg, "url")) &&
        strcmp(json_string_value(json_object_get(cfg, "url")), url) == 0) {
        json_object_del(cfg, "url");
        *removed = true;
    }
    if (!*removed)
        goto out;
    text = sl_json_dump(cfg, 2, &len);
    rc = sl__cl_write_atomic(path, text, len, 0600, true, err);
out:
    if (text) {
        sl_wipe(text, strlen(text));
        free(text);
    }
    json_decref(cfg);
    free(path);
    return rc;
}
