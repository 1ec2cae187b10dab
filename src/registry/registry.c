/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a data folder: folders, the server key, the first admin, one
 * database connection per thread, the policy packs. Also the name rules.
 */
#include "registry/registry_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "tlog/govdoc.h"
#include "common/util.h"
#include "common/vfs.h"
#include "db/repo_accounts.h"
#include "db/repo_hub.h"
#include "common/banned.h"

int64_t sl__now(void)
{
    return (int64_t)time(NULL);
}

void sl__token_hash(const char *token, unsigned char out[32])
{
    sl_sha256(token, strlen(token), out);
}

void sl__token_new(char *token)
{
    unsigned char rnd[32];

    sl_random(rnd, sizeof(rnd));
    memcpy(token, "sl_", 3);
    sl_hex(rnd, sizeof(rnd), token + 3);
    sl_wipe(rnd, sizeof(rnd));
}

bool sl_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SL_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

bool sl_path_ok(const char *s, size_t n, const char **why)
{
    size_t start = 0;

    if (n == 0 || n > 1024) {
        *why = "must be 1 to 1,024 bytes";
        return false;
    }
    if (s[0] == '/') {
        *why = "must be relative";
        return false;
    }
    if (!sl_utf8_valid((const unsigned char *)s, n, NULL)) {
        *why = "is not UTF-8";
        return false;
    }
    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == 0x7f) {
                *why = "holds a NUL or control character";
                return false;
            }
            if (c == '\\') {
                *why = "holds a backslash";
                return false;
            }
        }
        if (i == n || s[i] == '/') {
            size_t len = i - start;
            if (len == 0 || (len == 1 && s[start] == '.') ||
                (len == 2 && s[start] == '.' && s[start + 1] == '.')) {
                *why = "has an empty, \".\" or \"..\" component";
                return false;
            }
            start = i + 1;
        }
    }
    return true;
}

static bool device_name(const char *c, size_t len)
{
    static const char *const names[] = {"CON", "PRN", "AUX", "NUL"};
    size_t base = 0;

    while (base < len && c[base] != '.')
        base++;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (base == 3 && strncasecmp(c, names[i], 3) == 0)
            return true;
    return base == 4 && (strncasecmp(c, "COM", 3) == 0 || strncasecmp(c, "LPT", 3) == 0) &&
           c[3] >= '0' && c[3] <= '9';
}

/* Unicode characters that look like '.', '/' or '\\' in file names. */
static bool lookalike(unsigned cp)
{
    static const unsigned list[] = {0x2024, 0x2025, 0x2026, 0xfe52, 0xff0e, 0x3002, 0xff61,
                                    0x2215, 0x2044, 0xff0f, 0x29f8, 0x2571, 0x2216, 0xff3c,
                                    0x29f5, 0x29f9, 0xfe68, 0x2572, 0x01c0, 0x2223};
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
        if (cp == list[i])
            return true;
    return false;
}

bool sl_path_portable(const char *s, size_t n, const char **why)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            unsigned char c = (unsigned char)s[i];
            if (strchr("<>:\"|?*", c) && c != '\0') {
                *why = "holds one of < > : \" | ? * (not portable to Windows)";
                return false;
            }
            if (c >= 0x80) {
                /* sl_path_ok checked the UTF-8; a bad sequence counts as
                 * one byte here and was refused there */
                uint32_t cp = 0xfffd;
                size_t k = sl_utf8_next((const unsigned char *)s + i, n - i, &cp);
                if (k == 0)
                    k = 1;
                if (lookalike(cp)) {
                    *why = "holds a Unicode look-alike of '.', '/' or '\\'";
                    return false;
                }
                if (!sl_gov_char_ok(cp) || (cp >= 0x200b && cp <= 0x200f)) {
                    *why = "holds an invisible or bidirectional control character";
                    return false;
                }
                i += k - 1;
                continue;
            }
        }
        if (i == n || s[i] == '/') {
            size_t len = i - start;
            if (len > 0 && (s[i - 1] == '.' || s[i - 1] == ' ')) {
                *why = "has a component that ends in '.' or ' ' (Windows drops them)";
                return false;
            }
            if (device_name(s + start, len)) {
                *why = "has a Windows device name (CON, PRN, AUX, NUL, COM1, LPT1 ...) as a "
                       "component";
                return false;
            }
            start = i + 1;
        }
    }
    return true;
}

char *sl_origin_from_url(const char *url, struct sl_error *err)
{
    const char *p;
    size_t n;

    if (strncmp(url, "https://", 8) == 0)
        p = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else {
        sl_error_set(err, SL_EUSAGE, "--public-url \"%.200s\" is not an http:// or https:// URL",
                     url);
        return NULL;
    }
    n = strcspn(p, "?#");
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0 || memchr(p, '@', n)) {
        sl_error_set(err, SL_EUSAGE, "--public-url \"%.200s\" names no host (or holds a user)",
                     url);
        return NULL;
    }
    return sl_xasprintf("%.*s/log", (int)n, p);
}

static void close_db(void *p)
{
    sl_db_close(p);
}

struct sl_db *sl_reg_db(struct sl_registry *r, struct sl_error *err)
{
    struct sl_db *db = pthread_getspecific(r->db_key);

    if (db)
        return db;
    if (sl_db_open(r->db_path, &db, err) != SL_OK)
        return NULL;
    pthread_setspecific(r->db_key, db);
    return db;
}

const char *sl_reg_root(const struct sl_registry *r)
{
    return r->root;
}

const struct sl_packset *sl_reg_packs(const struct sl_registry *r)
{
    return r->policy;
}

const unsigned char *sl_reg_public_key(const struct sl_registry *r)
{
    return r->key_pub;
}

enum sl_err sl__secret_file(const char *root, const char *name, unsigned char *key, size_t n,
                            bool *fresh, struct sl_error *err)
{
    char *path = sl_xasprintf("%s/%s", root, name), *text = NULL;
    size_t len;
    enum sl_err rc;

    *fresh = false;
    if (access(path, F_OK) != 0) {
        char hex[2 * 64 + 2];
        if (n > 64)
            abort();
        sl_random(key, n);
        sl_hex(key, n, hex);
        hex[2 * n] = '\n';
        rc = sl_vfs_write_file(path, hex, 2 * n + 1, 0600, err);
        sl_wipe(hex, sizeof(hex));
        *fresh = true;
        free(path);
        return rc;
    }
    rc = sl_read_file(path, 4096, &text, &len, err);
    if (!rc) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
            len--;
        if (!sl_unhex(text, len, key, n))
            rc = sl_error_set(err, SL_EINPUT, "%s: not a hex %zu-byte key", path, n);
        sl_wipe(text, len);
    }
    free(text);
    free(path);
    return rc;
}

static enum sl_err load_or_make_key(struct sl_registry *r, bool *fresh, struct sl_error *err)
{
    enum sl_err rc =
        sl__secret_file(r->keys, "server.key", r->key_priv, SL_ED25519_PRIV_LEN, fresh, err);

    if (!rc && sl_ed25519_public(r->key_priv, r->key_pub) != SL_OK)
        rc = sl_error_set(err, SL_EINPUT, "%s/server.key: not an Ed25519 key", r->keys);
    return rc;
}

/* The key files of a folder given with --keys: all there, or (for a new
 * hub only) none. A server given an empty folder beside a database that
 * already has a log would otherwise make keys of its own and sign
 * checkpoints no client can verify. */
static enum sl_err check_keys(struct sl_registry *r, struct sl_error *err)
{
    static const char *const names[] = {"server.key", "fp.key", "log.secret"};
    struct stat st;
    const char *missing = NULL;
    size_t have = 0;
    struct sl_db *db;
    uint64_t size = 0;
    enum sl_err rc;

    if (stat(r->keys, &st) != 0 || !S_ISDIR(st.st_mode))
        return sl_error_set(err, SL_EUSAGE, "--keys %s: no such folder", r->keys);
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
        char *path = sl_xasprintf("%s/%s", r->keys, names[i]);
        if (access(path, F_OK) == 0)
            have++;
        else if (!missing)
            missing = names[i];
        free(path);
    }
    if (have == SL_ARRAY_LEN(names))
        return SL_OK;
    if (have > 0)
        return sl_error_set(err, SL_EUSAGE,
                            "--keys %s: %s is missing; give every server all three key files "
                            "(server.key, fp.key, log.secret) of the hub",
                            r->keys, missing);
    db = sl_reg_db(r, err);
    if (!db)
        return err->code;
    rc = sl_reg_log_size(r, &size, err);
    if (rc)
        return rc;
    if (size > 0)
        return sl_error_set(err, SL_EUSAGE,
                            "--keys %s: no key files, but the database already has a log of %llu "
                            "entries signed by other keys; copy server.key, fp.key and "
                            "log.secret from the server that made them",
                            r->keys, (unsigned long long)size);
    return SL_OK;
}

static enum sl_err bootstrap_admin(struct sl_registry *r, char *first_token, struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    int64_t n = 0;
    enum sl_err rc;
    char token[SL_TOKEN_LEN + 2];
    char *path;

    if (!db)
        return err->code;
    rc = sl_repo_user_admin_count(db, &n, err);
    if (rc || n > 0)
        return rc;
    rc = sl_reg_user_add(r, "admin", NULL, NULL, NULL, true, token, err);
    if (rc == SL_ECONFLICT) {
        /* another server sharing the database made it at the same moment */
        rc = sl_repo_user_admin_count(db, &n, err);
        if (!rc && n == 0)
            rc = sl_error_set(err, SL_ECONFLICT, "a user named \"admin\" exists but is no admin");
        return rc;
    }
    if (rc)
        return rc;
    path = sl_xasprintf("%s/admin.token", r->root);
    token[SL_TOKEN_LEN] = '\n';
    rc = sl_vfs_write_file(path, token, SL_TOKEN_LEN + 1, 0600, err);
    token[SL_TOKEN_LEN] = '\0';
    free(path);
    if (!rc && first_token)
        memcpy(first_token, token, SL_TOKEN_LEN + 1);
    sl_wipe(token, sizeof(token));
    return rc;
}

/* The log's origin is chosen once, when the log is new, and kept in the
 * database: a checkpoint's origin never changes under its verifiers. A data
 * folder whose log predates the stored origin keeps the one it is opened
 * with (the old default "sluice"). */
static enum sl_err resolve_origin(struct sl_registry *r, const struct sl_registry_opts *opts,
                                  struct sl_error *err)
{
    struct sl_db *db = sl_reg_db(r, err);
    struct sl_arena a = SL_ARENA_INIT;
    char *stored = NULL, *kept;
    int64_t entries = 0;
    enum sl_err rc;

    if (!db)
        return err->code;
    rc = sl_repo_log_origin_get(db, &a, &kept, err);
    if (!rc && kept)
        stored = sl_xstrdup(kept);
    sl_arena_release(&a);
    if (rc)
        return rc;
    if (stored) {
        if (opts && opts->origin && !opts->origin_derived && strcmp(opts->origin, stored) != 0) {
            rc = sl_error_set(err, SL_EUSAGE,
                              "this data folder's log has the origin \"%s\"; --origin \"%s\" "
                              "would make its checkpoints unverifiable (drop --origin, or give "
                              "the same one)",
                              stored, opts->origin);
            free(stored);
            return rc;
        }
        free(r->origin);
        r->origin = stored;
        return SL_OK;
    }
    rc = sl_repo_log_entry_count(db, &entries, err);
    if (rc)
        return rc;
    if (entries == 0 && opts && opts->require_origin && !opts->origin)
        return sl_error_set(err, SL_EUSAGE,
                            "a new transparency log needs a globally unique origin: give "
                            "--origin HOST/PATH (for example registry.example.org/log) or "
                            "--public-url URL to derive it from");
    if (!sl_note_name_ok(r->origin))
        return SL_OK; /* refused with its reason by the caller */
    return sl_repo_log_origin_put(db, r->origin, err);
}

enum sl_err sl_registry_open(const char *root, struct sl_registry_opts *opts,
                             struct sl_registry **out, char *first_token, struct sl_error *err)
{
    struct sl_registry *r;
    struct stat st;
    bool fresh;
    enum sl_err rc;

    if (first_token)
        first_token[0] = '\0';
    if (stat(root, &st) != 0) {
        if (!opts || !opts->create)
            return sl_error_set(err, SL_EIO,
                                "%s: no data folder here (start `sluice serve "
                                "--data %s` once to create it)",
                                root, root);
        rc = sl_vfs_mkdirs(root, 0700, err);
        if (rc)
            return rc;
    } else if (!S_ISDIR(st.st_mode)) {
        return sl_error_set(err, SL_EIO, "%s: not a folder", root);
    }
    r = sl_xcalloc(1, sizeof(*r));
    r->root = sl_xstrdup(root);
    r->keys = sl_xstrdup(opts && opts->keys && opts->keys[0] ? opts->keys : root);
    if (opts && opts->db && opts->db[0])
        r->db_path = sl_xstrdup(opts->db);
    else
        r->db_path = sl_xasprintf("sqlite:%s/sluice.db", root);
    r->origin = sl_xstrdup(opts && opts->origin ? opts->origin : "sluice");
    pthread_key_create(&r->db_key, close_db);
    pthread_mutex_init(&r->log_lock, NULL);
    pthread_mutex_init(&r->dl_lock, NULL);
    pthread_mutex_init(&r->dl_flush, NULL);
    r->fh = sl__fh_table_new();
    {
        char *packs = sl_xasprintf("%s/packs/tmp", root);
        rc = sl_vfs_mkdirs(packs, 0700, err);
        free(packs);
    }
    if (!rc && opts && opts->keys && opts->keys[0])
        rc = check_keys(r, err);
    if (!rc)
        rc = load_or_make_key(r, &fresh, err);
    if (!rc) {
        struct sl_db *db = sl_reg_db(r, err);
        rc = db ? SL_OK : err->code;
        r->shared = db && sl_db_kind(db) == SL_DB_POSTGRESQL;
    }
    if (!rc)
        rc = resolve_origin(r, opts, err);
    if (!rc && !sl_note_name_ok(r->origin))
        rc = sl_error_set(err, SL_EUSAGE,
                          "origin \"%s\" is not a valid key name (no spaces or '+', at most 255 "
                          "bytes)",
                          r->origin);
    if (!rc)
        rc = sl_note_key_from_seed(r->origin, r->key_priv, &r->note_key, err);
    if (!rc)
        rc = sl__fp_load_key(r, err);
    if (!rc) {
        bool made;
        rc = sl__secret_file(r->keys, "log.secret", r->log_secret, sizeof(r->log_secret), &made,
                             err);
    }
    if (!rc)
        rc = sl_reg_db(r, err) ? SL_OK : err->code;
    if (!rc)
        rc = bootstrap_admin(r, first_token, err);
    if (!rc) {
        if (opts && opts->packs) {
            r->policy = opts->packs;
            opts->packs = NULL;
        } else {
            rc = sl_packset_builtin(&r->policy, err);
        }
    }
    if (!rc)
        rc = sl_store_open(opts ? opts->store : NULL, root, NULL, &r->store, err);
    if (!rc && opts && opts->store && opts->store[0] && opts->remember_store)
        rc = sl_store_remember(r->store, root, err);
    if (rc) {
        sl_registry_close(r);
        return rc;
    }
    r->fp_cache = sl__fp_cache_new();
    *out = r;
    return SL_OK;
}

void sl_registry_close(struct sl_registry *r)
{
    struct sl_db *db;

    if (!r)
        return;
    if (r->ndl) {
        /* downloads counted since the last flush are written now */
        struct sl_error ignore;
        (void)sl_reg_flush_downloads(r, &ignore);
    }
    db = pthread_getspecific(r->db_key);
    if (db) {
        sl_db_close(db);
        pthread_setspecific(r->db_key, NULL);
    }
    pthread_key_delete(r->db_key);
    sl_db_close(r->lead_db);
    sl_db_close(r->watch_db);
    pthread_mutex_destroy(&r->log_lock);
    pthread_mutex_destroy(&r->dl_lock);
    pthread_mutex_destroy(&r->dl_flush);
    free(r->dl);
    sl__fh_table_free(r->fh);
    sl_store_free(r->store);
    sl__fp_cache_free(r->fp_cache);
    sl_wipe(r->fp_master, sizeof(r->fp_master));
    sl_packset_free(r->policy);
    sl_wipe(r->key_priv, sizeof(r->key_priv));
    sl_wipe(r->log_secret, sizeof(r->log_secret));
    sl_note_key_clear(&r->note_key);
    free(r->root);
    free(r->keys);
    free(r->db_path);
    free(r->origin);
    free(r);
}
