/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration file of `sluice serve` and `sluice admin` (`--config
 * FILE`, docs/cli.md "Configuration file"): `key = value` lines whose keys
 * are the long options. The file's options are put in front of the command
 * line's, so an option given on the command line wins (the last value wins).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/io.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "http/http.h"
#include "common/banned.h"

enum kind { K_PATH, K_DB, K_STORE, K_LISTEN, K_TEXT, K_HTTP, K_NUM };

struct keydef {
    const char *name;
    enum kind kind;
    unsigned long min, max; /* K_NUM */
    bool admin;             /* `sluice admin` takes it too (serve takes them all) */
};

/* The same names, meanings and limits as the options (cmd_serve.c). */
static const struct keydef keys[] = {
    {"data", K_PATH, 0, 0, true},
    {"db", K_DB, 0, 0, true},
    {"store", K_STORE, 0, 0, true},
    {"keys", K_PATH, 0, 0, true},
    {"listen", K_LISTEN, 0, 0, false},
    {"origin", K_TEXT, 0, 0, false},
    {"public-url", K_HTTP, 0, 0, false},
    {"mirror-of", K_HTTP, 0, 0, false},
    {"policy-dir", K_PATH, 0, 0, false},
    {"threads", K_NUM, 0, 3600, false},
    {"drain", K_NUM, 0, 3600, false},
    {"max-conns-per-ip", K_NUM, 1, 100000, false},
    {"trust-proxy", K_TEXT, 0, 0, false},
    {"signup", K_TEXT, 0, 0, false},
    {"session-hours", K_NUM, 1, 8760, false},
};

static const struct keydef *find_key(const char *name, size_t n)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++)
        if (strlen(keys[i].name) == n && memcmp(keys[i].name, name, n) == 0)
            return &keys[i];
    return NULL;
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool number_ok(const char *s, unsigned long min, unsigned long max)
{
    char *end;
    unsigned long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    return !errno && !*end && v >= min && v <= max;
}

/* Checks one value; on failure sets `err` to "FILE:LINE: KEY: why". The db
 * URL is quoted without its password. */
static enum sl_err check_value(const char *path, unsigned line, const struct keydef *k,
                               const char *v, struct sl_error *err)
{
    char safe[512];
    char host[128];
    uint16_t port;
    struct sl_error e2;

    switch (k->kind) {
    case K_PATH:
    case K_TEXT:
        return SL_OK;
    case K_DB:
        if (has_prefix(v, "postgresql://") || has_prefix(v, "postgres://") ||
            (has_prefix(v, "sqlite:") && v[7]))
            return SL_OK;
        sl_db_redact_url(v, safe, sizeof(safe));
        return sl_error_set(err, SL_EUSAGE,
                            "%s:%u: db: \"%s\" is not a database URL (use sqlite:PATH or "
                            "postgresql://...)",
                            path, line, safe);
    case K_STORE:
        if ((has_prefix(v, "file:") && v[5]) || (has_prefix(v, "s3://") && v[5]))
            return SL_OK;
        return sl_error_set(err, SL_EUSAGE,
                            "%s:%u: store: \"%.200s\" is not a store URL (use file:PATH or "
                            "s3://BUCKET/PREFIX)",
                            path, line, v);
    case K_LISTEN:
        sl_error_clear(&e2);
        if (sl_parse_listen(v, host, sizeof(host), &port, &e2) == SL_OK)
            return SL_OK;
        return sl_error_set(err, SL_EUSAGE, "%s:%u: listen: %s", path, line, e2.msg);
    case K_HTTP:
        if ((has_prefix(v, "http://") && v[7]) || (has_prefix(v, "https://") && v[8]))
            return SL_OK;
        return sl_error_set(err, SL_EUSAGE,
                            "%s:%u: %s: \"%.200s\" is not an http:// or https:// URL", path, line,
                            k->name, v);
    case K_NUM:
        if (number_ok(v, k->min, k->max))
            return SL_OK;
        return sl_error_set(err, SL_EUSAGE,
                            "%s:%u: %s: wants a number from %lu to %lu, got \"%.40s\"", path, line,
                            k->name, k->min, k->max, v);
    }
    return SL_OK;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

void sl_cli_conf_entries_free(struct sl_cli_conf_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].value)
            sl_wipe(e[i].value, strlen(e[i].value));
        free(e[i].value);
    }
    free(e);
}

enum sl_err sl_cli_conf_parse(const char *path, const char *text, size_t len,
                              struct sl_cli_conf_entry **out, size_t *nout, bool *password,
                              struct sl_error *err)
{
    struct sl_cli_conf_entry *e = NULL;
    size_t n = 0, pos = 0;
    unsigned line = 0;
    enum sl_err rc = SL_OK;

    *out = NULL;
    *nout = 0;
    *password = false;
    if (len > SL_CLI_CONF_MAX)
        return sl_error_set(err, SL_EUSAGE, "%s: a configuration file holds at most %u bytes", path,
                            (unsigned)SL_CLI_CONF_MAX);
    while (pos < len) {
        const char *l = text + pos, *nl = memchr(l, '\n', len - pos), *eq, *ks, *ke, *vs, *ve;
        size_t ll = nl ? (size_t)(nl - l) : len - pos;
        const struct keydef *k;
        char *value;

        pos += ll + (nl ? 1 : 0);
        line++;
        if (ll && l[ll - 1] == '\r')
            ll--;
        for (size_t i = 0; i < ll; i++) {
            unsigned char c = (unsigned char)l[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                rc = sl_error_set(err, SL_EUSAGE, "%s:%u: control character 0x%02x", path, line, c);
                goto fail;
            }
        }
        ks = l;
        while (ks < l + ll && is_blank(*ks))
            ks++;
        if (ks == l + ll || *ks == '#')
            continue; /* blank line or comment */
        eq = memchr(ks, '=', (size_t)(l + ll - ks));
        if (!eq) {
            rc = sl_error_set(err, SL_EUSAGE, "%s:%u: expected \"key = value\"", path, line);
            goto fail;
        }
        ke = eq;
        while (ke > ks && is_blank(ke[-1]))
            ke--;
        for (const char *p = ks; p < ke; p++) {
            if (!((*p >= 'a' && *p <= 'z') || *p == '-' || (*p >= '0' && *p <= '9'))) {
                rc = sl_error_set(err, SL_EUSAGE,
                                  "%s:%u: \"%.*s\" is not a key (keys are the long options, "
                                  "such as db, store, listen)",
                                  path, line, (int)(ke - ks > 64 ? 64 : ke - ks), ks);
                goto fail;
            }
        }
        if (ke == ks) {
            rc = sl_error_set(err, SL_EUSAGE, "%s:%u: a key is missing before \"=\"", path, line);
            goto fail;
        }
        k = find_key(ks, (size_t)(ke - ks));
        if (!k) {
            rc = sl_error_set(err, SL_EUSAGE,
                              "%s:%u: unknown key \"%.*s\" (known: data, db, store, keys, listen, "
                              "origin, public-url, mirror-of, policy-dir, threads, drain, "
                              "max-conns-per-ip)",
                              path, line, (int)(ke - ks), ks);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (e[i].key == k->name) {
                rc = sl_error_set(err, SL_EUSAGE,
                                  "%s:%u: duplicate key \"%s\" (first set on line %u)", path, line,
                                  k->name, e[i].line);
                goto fail;
            }
        }
        vs = eq + 1;
        ve = l + ll;
        while (vs < ve && is_blank(*vs))
            vs++;
        while (ve > vs && is_blank(ve[-1]))
            ve--;
        if (vs == ve) {
            rc = sl_error_set(err, SL_EUSAGE, "%s:%u: %s: empty value", path, line, k->name);
            goto fail;
        }
        value = sl_xmalloc((size_t)(ve - vs) + 1);
        memcpy(value, vs, (size_t)(ve - vs));
        value[ve - vs] = '\0';
        rc = check_value(path, line, k, value, err);
        if (rc) {
            sl_wipe(value, strlen(value));
            free(value);
            goto fail;
        }
        if (k->kind == K_DB) {
            char safe[1024];
            sl_db_redact_url(value, safe, sizeof(safe));
            if (strcmp(safe, value) != 0)
                *password = true;
        }
        e = sl_xrealloc(e, (n + 1) * sizeof(*e));
        e[n].key = k->name;
        e[n].admin = k->admin;
        e[n].value = value;
        e[n].line = line;
        n++;
    }
    *out = e;
    *nout = n;
    return SL_OK;
fail:
    sl_cli_conf_entries_free(e, n);
    return rc;
}

/* Finds --config FILE / --config=FILE in argv[1..] before "--". Returns 0 with
 * *file (NULL when absent) and its argv positions, or 2 after a usage error. */
static int find_config(const char *cmd, int argc, char **argv, const char **file, int *at,
                       int *width)
{
    *file = NULL;
    *at = -1;
    *width = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = NULL;
        int w = 0;
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return sl_cli_usage(cmd, "--config needs a value");
            f = argv[i + 1];
            w = 2;
        } else if (has_prefix(argv[i], "--config=")) {
            f = argv[i] + strlen("--config=");
            w = 1;
        } else {
            continue;
        }
        if (*file)
            return sl_cli_usage(cmd, "--config given twice");
        if (!f[0])
            return sl_cli_usage(cmd, "--config needs a file");
        *file = f;
        *at = i;
        *width = w;
        i += w - 1;
    }
    return 0;
}

int sl_cli_conf_expand(struct sl_cli_conf *c, const char *cmd, bool serve, int argc, char **argv)
{
    const char *file;
    int at, width, code;
    char *text = NULL;
    size_t len, n = 0;
    struct sl_cli_conf_entry *e = NULL;
    struct sl_error err;
    bool password;
    struct stat st;

    memset(c, 0, sizeof(*c));
    c->argc = argc;
    c->argv = argv;
    code = find_config(cmd, argc, argv, &file, &at, &width);
    if (code || !file)
        return code;
    sl_error_clear(&err);
    if (sl_read_file(file, SL_CLI_CONF_MAX, &text, &len, &err) != SL_OK) {
        if (err.code == SL_ELIMIT)
            return sl_cli_usage(cmd, "%s: a configuration file holds at most %u bytes", file,
                                (unsigned)SL_CLI_CONF_MAX);
        return sl_cli_fail(&err);
    }
    if (sl_cli_conf_parse(file, text, len, &e, &n, &password, &err) != SL_OK) {
        sl_wipe(text, len);
        free(text);
        return sl_cli_usage(cmd, "%s", err.msg);
    }
    sl_wipe(text, len);
    free(text);
    if (password && stat(file, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
        fprintf(stderr,
                "sluice: warning: %s holds a database password and group or others may read it "
                "(mode %04o); chmod 600 it\n",
                file, (unsigned)(st.st_mode & 07777));
    /* argv[0], the file's options, then the command line without --config */
    c->argv = sl_xmalloc(((size_t)argc + n + 1) * sizeof(char *));
    c->owned = sl_xmalloc((n + 1) * sizeof(char *));
    c->argv[0] = argv[0];
    c->argc = 1;
    for (size_t i = 0; i < n; i++) {
        if (!serve && !e[i].admin)
            continue; /* a server's setting: `admin` has no use for it */
        c->owned[c->nowned] = sl_xasprintf("--%s=%s", e[i].key, e[i].value);
        c->argv[c->argc++] = c->owned[c->nowned++];
    }
    for (int i = 1; i < argc; i++) {
        if (i == at) {
            i += width - 1;
            continue;
        }
        c->argv[c->argc++] = argv[i];
    }
    c->argv[c->argc] = NULL;
    sl_cli_conf_entries_free(e, n);
    return 0;
}

void sl_cli_conf_release(struct sl_cli_conf *c)
{
    if (c->owned) {
        for (size_t i = 0; i < c->nowned; i++) {
            sl_wipe(c->owned[i], strlen(c->owned[i]));
            free(c->owned[i]);
        }
        free(c->owned);
        free(c->argv);
    }
    memset(c, 0, sizeof(*c));
}
