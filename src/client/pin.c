/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's verifier key, pinned per server URL at first contact in
 * $XDG_STATE_HOME/sluice/servers.json (format in client.h). Licenses and
 * log checkpoints are then verified offline against the key seen first,
 * and a server that later presents another key is refused until the user
 * removes the old entry on purpose.
 */
#include "client/client_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "tlog/govdoc.h"
#include "tlog/note.h"
#include "common/banned.h"

#define PIN_FILE_MAX (4u << 20)

char *sl_client_pin_path(void)
{
    char *dir = sl__cl_state_dir(), *p;

    if (!dir)
        return NULL;
    p = sl_xasprintf("%s/servers.json", dir);
    free(dir);
    return p;
}

/* Reads the pin file; a missing file is an empty object. */
static enum sl_err read_pins(const char *path, json_t **out, struct sl_error *err)
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
    rc = sl_read_file(path, PIN_FILE_MAX, &text, &len, err);
    if (rc)
        return rc;
    v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!v || !json_is_object(v) ||
        (json_object_get(v, "servers") && !json_is_object(json_object_get(v, "servers")))) {
        json_decref(v);
        return sl_error_set(err, SL_EINPUT,
                            "%s: not the pinned server keys sluice writes (%s); move it aside "
                            "and the keys are pinned again at the next contact",
                            path, v ? "unexpected layout" : je.text);
    }
    *out = v;
    return SL_OK;
}

static const char *entry_key(json_t *pins, const char *url)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(pins, "servers"), url), "log_key"));
}

enum sl_err sl_client_pin_get(const char *url, char **vkey, struct sl_error *err)
{
    char *path = sl_client_pin_path();
    json_t *pins = NULL;
    const char *k;
    enum sl_err rc;

    *vkey = NULL;
    if (!path)
        return SL_OK;
    rc = read_pins(path, &pins, err);
    if (!rc) {
        k = entry_key(pins, url);
        if (k)
            *vkey = sl_xstrdup(k);
    }
    json_decref(pins);
    free(path);
    return rc;
}

enum sl_err sl_client_pin_check(const char *url, const char *vkey, bool *pinned_now,
                                struct sl_error *err)
{
    char *path = sl_client_pin_path(), *dir = NULL, *text = NULL;
    json_t *pins = NULL, *servers, *entry;
    const char *old;
    char when[24];
    size_t len;
    enum sl_err rc;

    if (pinned_now)
        *pinned_now = false;
    if (!path)
        return sl_error_set(err, SL_EIO,
                            "no home folder to keep the server's key in: set HOME or "
                            "XDG_STATE_HOME");
    rc = read_pins(path, &pins, err);
    if (rc)
        goto out;
    old = entry_key(pins, url);
    if (old) {
        if (strcmp(old, vkey) != 0) {
            const char *since = json_string_value(
                json_object_get(json_object_get(json_object_get(pins, "servers"), url), "pinned"));
            rc = sl_error_setk(
                err, SL_EREFUSED, "ServerKeyChanged",
                "the server's key changed: %s now presents \"%s\", but \"%s\" was pinned%s%s; "
                "licenses and log checkpoints from it cannot be trusted. If this is expected "
                "(the server's key was replaced), remove the entry for %s from %s and run the "
                "command again",
                url, vkey, old, since ? " on " : "", since ? since : "", url, path);
        }
        goto out;
    }
    /* First contact: pin it. */
    dir = sl_xstrndup(path, strlen(path) - strlen("/servers.json"));
    rc = sl__cl_mkdirs(dir, 0700, err);
    if (rc)
        goto out;
    servers = json_object_get(pins, "servers");
    if (!servers) {
        servers = json_object();
        json_object_set_new(pins, "servers", servers);
    }
    entry = json_object();
    json_object_set_new(entry, "log_key", json_string(vkey));
    json_object_set_new(entry, "pinned", json_string(sl_gov_time((int64_t)time(NULL), when)));
    json_object_set_new(servers, url, entry);
    text = sl_json_dump(pins, 2, &len);
    rc = sl__cl_write_atomic(path, text, len, 0600, true, err);
    if (!rc && pinned_now)
        *pinned_now = true;
out:
    free(text);
    json_decref(pins);
    free(dir);
    free(path);
    return rc;
}

enum sl_err sl_client_server_key(struct sl_client *cl, struct sl_note_key *k, bool *pinned_now,
                                 struct sl_error *err)
{
    char *vkey = NULL;
    struct sl_error e;
    enum sl_err rc = sl_client_log_key(cl, &vkey, err);

    if (rc)
        return rc;
    rc = sl_note_vkey_parse(vkey, strlen(vkey), k, &e);
    if (rc) {
        /* The server is at fault, not the user's input. */
        rc = sl_error_set(err, SL_EINTERNAL, "GET %s/log/key: the server's key is not usable: %s",
                          cl->url, e.msg);
        goto out;
    }
    rc = sl_client_pin_check(cl->url, vkey, pinned_now, err);
out:
    free(vkey);
    return rc;
}

enum sl_err sl_client_pinned_key(const char *url, struct sl_note_key *k, struct sl_error *err)
{
    char *vkey = NULL, *path;
    enum sl_err rc = sl_client_pin_get(url, &vkey, err);

    if (rc)
        return rc;
    if (!vkey) {
        path = sl_client_pin_path();
        rc = sl_error_set(err, SL_ENOTFOUND, "no key is pinned for %s in %s", url,
                          path ? path : "the state folder");
        free(path);
        return rc;
    }
    rc = sl_note_vkey_parse(vkey, strlen(vkey), k, err);
    if (rc) {
        path = sl_client_pin_path();
        sl_error_prefix(err, "%s: the key pinned for %s", path ? path : "servers.json", url);
        free(path);
    }
    free(vkey);
    return rc;
}
