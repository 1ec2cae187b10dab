/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the command handlers: error printing, JSON output,
 * option parsing and loading policy packs from disk.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io.h"
#include "common/jsonout.h"
#include "common/util.h"
#include "policy/policy.h"
#include "common/banned.h"

void sl_cli_put_safe(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

int sl_cli_fail(const struct sl_error *e)
{
    /* Names from files may hold newlines or escape codes: one line, always. */
    fputs("sluice: error: ", stderr);
    sl_cli_put_safe(stderr, e->msg[0] ? e->msg : sl_strerror(e->code));
    fputc('\n', stderr);
    return sl_err_exit_code(e->code);
}

int sl_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "sluice %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `sluice %s --help`)\n", cmd);
    return 2;
}

void sl_cli_print_json(json_t *v)
{
    size_t len;
    char *s = sl_json_dump(v, 2, &len);

    fwrite(s, 1, len, stdout);
    fputc('\n', stdout);
    free(s);
}

void sl_opt_init(struct sl_opt *o, const char *cmd, int argc, char **argv)
{
    o->i = 1;
    o->argc = argc;
    o->argv = argv;
    o->cmd = cmd;
    o->value = NULL;
    o->positional_only = false;
}

const char *sl_opt_next(struct sl_opt *o, bool *is_opt)
{
    char *a;

    o->value = NULL;
    if (o->i >= o->argc)
        return NULL;
    a = o->argv[o->i++];
    if (!o->positional_only && strcmp(a, "--") == 0) {
        o->positional_only = true;
        return sl_opt_next(o, is_opt);
    }
    *is_opt = !o->positional_only && a[0] == '-' && a[1] != '\0';
    if (*is_opt) {
        /* "--name=value": split in place (argv strings are writable), so the
         * value lives as long as argv */
        char *eq = strchr(a, '=');
        if (eq) {
            *eq = '\0';
            o->value = eq + 1;
        }
    }
    return a;
}

const char *sl_opt_value(struct sl_opt *o, const char *name)
{
    if (o->value)
        return o->value;
    if (o->i >= o->argc) {
        sl_cli_usage(o->cmd, "%s needs a value", name);
        return NULL;
    }
    return o->argv[o->i++];
}

void sl_opt_release(struct sl_opt *o)
{
    o->value = NULL;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum sl_err sl_cli_load_packs(const char *dir, struct sl_packset **out, struct sl_error *err)
{
    struct sl_packset *ps;
    enum sl_err rc = sl_packset_builtin(&ps, err);
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;

    if (rc)
        return rc;
    if (!dir)
        dir = getenv("SLUICE_POLICY_DIR");
    if (!dir || !dir[0]) {
        *out = ps;
        return SL_OK;
    }
    d = opendir(dir);
    if (!d) {
        sl_packset_free(ps);
        return sl_error_set(err, SL_EIO, "%s: cannot open policy folder: %s", dir, strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !sl_str_has_suffix(e->d_name, strlen(e->d_name), ".json"))
            continue;
        if (n >= 1000)
            break;
        names = sl_xrealloc(names, (n + 1) * sizeof(char *));
        names[n++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(char *), cmp_name);
    for (size_t i = 0; i < n; i++) {
        char *path = sl_path_join(dir, names[i]), *text = NULL;
        size_t len;
        if (!rc)
            rc = sl_read_file(path, 4u << 20, &text, &len, err);
        if (!rc)
            rc = sl_packset_add(ps, path, text, len, err);
        free(text);
        free(path);
        free(names[i]);
    }
    free(names);
    if (!rc)
        rc = sl_packset_check(ps, err);
    if (rc) {
        sl_packset_free(ps);
        return rc;
    }
    *out = ps;
    return SL_OK;
}
