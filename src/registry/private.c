/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data folder is private whatever the operator did first (issue 11,
 * item 10): `sluice serve` calls sl_registry_make_private() before it opens
 * the folder. A folder whose mode lets the group or others in (even only to
 * traverse it: they could open server.key by name) is tightened, and with it
 * everything under it; a folder that is already 0700 is left alone without
 * a walk, since nothing under it can be reached (docs/storage.md). Only a
 * folder that already holds sluice's database is walked: pointed at some
 * other folder (a project folder with scripts in it, say), serve makes the
 * folder itself private and leaves what it did not create alone.
 */
#include "registry/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "common/banned.h"

#define MAX_DEPTH 16

static enum sl_err refuse(const char *root, const char *path, int e, struct sl_error *err)
{
    return sl_error_set(err, SL_EIO,
                        "cannot make the data folder private: chmod %s: %s; run `chmod -R "
                        "go-rwx %s` and start again",
                        path, strerror(e), root);
}

/* Tightens the entries of the open folder `dfd` (named `path`) and walks
 * into its folders. Symbolic links are neither followed nor changed. */
static enum sl_err walk(const char *root, int dfd, const char *path, int depth,
                        unsigned long long *changed, struct sl_error *err)
{
    DIR *d;
    struct dirent *e;
    enum sl_err rc = SL_OK;

    if (depth > MAX_DEPTH)
        return sl_error_set(err, SL_EIO, "%s: folders nested too deep to make private", path);
    d = fdopendir(dfd);
    if (!d) {
        int saved = errno;
        close(dfd);
        return refuse(root, path, saved, err);
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        char sub[4096];
        mode_t want;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* removed meanwhile (a temporary file) */
            rc = refuse(root, sub, errno, err);
            break;
        }
        if (S_ISLNK(st.st_mode))
            continue;
        want = S_ISDIR(st.st_mode) ? 0700 : (st.st_mode & 0600);
        if ((st.st_mode & 07777) != want) {
            if (fchmodat(dirfd(d), e->d_name, want, 0) != 0) {
                rc = refuse(root, sub, errno, err);
                break;
            }
            (*changed)++;
        }
        if (S_ISDIR(st.st_mode)) {
            int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                rc = refuse(root, sub, errno, err);
                break;
            }
            rc = walk(root, fd, sub, depth + 1, changed, err);
            if (rc)
                break;
        }
    }
    closedir(d);
    return rc;
}

enum sl_err sl_registry_make_private(const char *root, unsigned *mode_was,
                                     unsigned long long *changed, struct sl_error *err)
{
    struct stat st;
    int fd;

    *changed = 0;
    *mode_was = 0;
    if (stat(root, &st) != 0) {
        if (errno == ENOENT)
            return SL_OK; /* created private on first start */
        return sl_error_set(err, SL_EIO, "%s: %s", root, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return sl_error_set(err, SL_EIO, "%s: not a folder", root);
    *mode_was = (unsigned)(st.st_mode & 07777);
    if ((st.st_mode & 077) == 0)
        return SL_OK;
    /* The folder first, so nothing new under it can be reached meanwhile. */
    if (chmod(root, 0700) != 0)
        return refuse(root, root, errno, err);
    (*changed)++;
    {
        /* A data folder: its SQLite database, or on PostgreSQL (no
         * sluice.db) the first admin token or the server key that every
         * first start leaves there. */
        static const char *const marks[] = {"sluice.db", "admin.token", "server.key"};
        int found = 0;
        for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]) && !found; i++) {
            char *p = sl_xasprintf("%s/%s", root, marks[i]);
            found = access(p, F_OK) == 0;
            free(p);
        }
        if (!found)
            return SL_OK;
    }
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return refuse(root, root, errno, err);
    return walk(root, fd, root, 0, changed, err);
}
