/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice org members|member add|member remove`: an org's admins manage its
 * members over HTTP (server admins do the same offline with `sluice admin
 * org member`). Roles: admin, publisher, member (docs/access.md).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "client/client.h"
#include "common/banned.h"

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int sl_cmd_org(int argc, char **argv)
{
    static const struct sl_cli_optdef defs[] = {
        {"--json", SL_OPT_FLAG}, {"--role", SL_OPT_VALUE}, {NULL, SL_OPT_FLAG}};
    struct sl_cli_args a;
    struct sl_client_config cfg = {0};
    struct sl_client *cl = NULL;
    struct sl_error err;
    json_t *res = NULL, *e;
    const char *role;
    bool list, add, rm;
    size_t i;
    int code = sl_cli_args_parse(&a, "org", defs, argc, argv);

    sl_error_clear(&err);
    if (code)
        return code;
    list = a.npos == 2 && strcmp(a.pos[0], "members") == 0;
    add = a.npos == 4 && strcmp(a.pos[0], "member") == 0 && strcmp(a.pos[1], "add") == 0;
    rm = a.npos == 4 && strcmp(a.pos[0], "member") == 0 && strcmp(a.pos[1], "remove") == 0;
    if (!list && !add && !rm)
        return sl_cli_usage("org", "expected members ORG, member add ORG USER [--role R] or "
                                   "member remove ORG USER");
    role = sl_cli_val(&a, "--role");
    if (role && !add)
        return sl_cli_usage("org", "--role goes with member add");
    if (role && strcmp(role, "admin") != 0 && strcmp(role, "publisher") != 0 &&
        strcmp(role, "member") != 0)
        return sl_cli_usage("org member add", "--role is admin, publisher or member, not \"%s\"",
                            role);
    code = sl_cli_connect(&cfg, &cl);
    if (code)
        return code;
    if (list)
        code = sl_client_org_members(cl, a.pos[1], &res, &err);
    else if (add)
        code = sl_client_org_member_set(cl, a.pos[2], a.pos[3], role ? role : "member", &res, &err);
    else
        code = sl_client_org_member_remove(cl, a.pos[2], a.pos[3], &res, &err);
    if (code) {
        code = sl_cli_fail(&err);
        goto out;
    }
    if (sl_cli_has(&a, "--json")) {
        sl_cli_print_json(res);
    } else if (list) {
        printf("%-24s %s\n", "USER", "ROLE");
        json_array_foreach(res, i, e)
        {
            sl_cli_put_safe(stdout, str(e, "user"));
            printf("%*s %s\n", (int)(strlen(str(e, "user")) < 24 ? 24 - strlen(str(e, "user")) : 0),
                   "", str(e, "role"));
        }
    } else if (add) {
        printf("%s is now a%s %s of %s\n", a.pos[3], strcmp(str(res, "role"), "admin") ? "" : "n",
               str(res, "role"), a.pos[2]);
    } else {
        printf("%s is no longer a member of %s\n", a.pos[3], a.pos[2]);
    }
out:
    json_decref(res);
    sl_client_free(cl);
    sl_client_config_release(&cfg);
    return code;
}
