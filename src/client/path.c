/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path rules and careful file writing for the client: which manifest paths
 * are acceptable, opening a destination folder without following planted
 * symbolic links, atomic writes, and the XDG folders.
 */
#include "client/client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

bool sl__cl_path_ok(const char *p)
{
    size_t n = strlen(p), comp = 0;

    if (n == 0 || n > SL_PATH_MAX_LEN || p[0] == '/')
        return false;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '/' || c == '\0') {
            size_t len = i - comp;
            if (len == 0)
                return false;
            if (len == 1 && p[comp] == '.')
                return false;
            if (len == 2 && p[comp] == '.' && p[comp + 1] == '.')
                return false;
            comp = i + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    /* Manifests are JSON: names must be UTF-8. */
    return sl_utf8_valid((const unsigned char *)p, n, &comp);
}

bool sl__cl_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 96)
        return false;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

enum sl_err sl__cl_open_parent(int rootfd, const char *rel, const char **base, int *dirfd,
                               struct sl_error *err)
{
    int fd = dup(rootfd);
    const char *p = rel, *slash;

    if (fd < 0)
        return sl_error_set(err, SL_EIO, "cannot duplicate a descriptor: %s", strerror(errno));
    if (!sl__cl_path_ok(rel)) {
        close(fd);
        return sl_error_set(err, SL_EINPUT, "\"%s\": refusing a path that could leave the folder",
                            rel);
    }
    while ((slash = strchr(p, '/')) != NULL) {
        char comp[SL_PATH_MAX_LEN + 1];
        size_t len = (size_t)(slash - p);
        int next;

        memcpy(comp, p, len);
        comp[len] = '\0';
        if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            return sl_error_set(err, SL_EIO, "%s: cannot create folder \"%s\": %s", rel, comp,
                                strerror(e));
        }
        next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int e = errno;
            close(fd);
            if (e == ELOOP || e == ENOTDIR)
                return sl_error_set(err, SL_EINPUT,
                                    "%s: \"%s\" in the destination is not a folder (a symbolic "
                                    "link or a file); refusing to write through it",
                                    rel, comp);
            return sl_error_set(err, SL_EIO, "%s: cannot open folder \"%s\": %s", rel, comp,
                                strerror(e));
        }
        close(fd);
        fd = next;
        p = slash + 1;
    }
    *base = p;
    *dirfd = fd;
    return SL_OK;
}

enum sl_err sl__cl_mkdirs(const char *dir, mode_t mode, struct sl_error *err)
{
    char *d = sl_xstrdup(dir);
    size_t n = strlen(d);
    enum sl_err rc = SL_OK;

    while (n > 1 && d[n - 1] == '/')
        d[--n] = '\0';
    for (size_t i = 1; i <= n; i++) {
        if (d[i] != '/' && d[i] != '\0')
            continue;
        d[i] = '\0';
        if (mkdir(d, mode) != 0 && errno != EEXIST) {
            rc = sl_error_set(err, SL_EIO, "%s: cannot create folder: %s", d, strerror(errno));
            break;
        }
        if (i < n)
            d[i] = '/';
    }
    if (!rc) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = sl_error_set(err, SL_EIO, "%s: not a folder", dir);
    }
    free(d);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return sl_xstrdup(".");
    if (slash == path)
        return sl_xstrdup("/");
    return sl_xstrndup(path, (size_t)(slash - path));
}

enum sl_err sl__cl_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                bool durable, struct sl_error *err)
{
    char *tmp = NULL, *dir = NULL;
    unsigned char rnd[6];
    char hex[13];
    const char *p = data;
    size_t done = 0;
    int fd = -1;
    enum sl_err rc = SL_OK;

    sl_random(rnd, sizeof(rnd));
    sl_hex(rnd, sizeof(rnd), hex);
    tmp = sl_xasprintf("%s.tmp-%s", path, hex);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    /* The umask may have narrowed the mode; it never widens it, but be exact. */
    if (fchmod(fd, mode) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot set mode: %s", tmp, strerror(errno));
        goto out;
    }
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", tmp, strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    if (durable && fsync(fd) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = sl_error_set(err, SL_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
        goto out;
    }
    if (durable) {
        int dfd;
        dir = dir_of(path);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        (void)unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

static char *home_dir(void)
{
    const char *h = getenv("HOME");
    struct passwd *pw;

    if (h && h[0] == '/')
        return sl_xstrdup(h);
    pw = getpwuid(getuid());
    if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
        return sl_xstrdup(pw->pw_dir);
    return NULL;
}

char *sl__cl_xdg_dir(const char *var, const char *fallback)
{
    const char *v = getenv(var);
    char *home, *out;

    if (v && v[0] == '/')
        return sl_xasprintf("%s/sluice", v);
    home = home_dir();
    if (!home)
        return NULL;
    out = sl_xasprintf("%s/%s/sluice", home, fallback);
    free(home);
    return out;
}

char *sl__cl_state_dir(void)
{
    return sl__cl_xdg_dir("XDG_STATE_HOME", ".local/state");
}
