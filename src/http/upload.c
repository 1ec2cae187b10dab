/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streaming a set of files into a private temporary folder, for `POST
 * .../trace`. The body is a sequence of frames:
 *
 *   u16 LE name length | name | u64 LE size | size bytes
 *
 * Names are plain file names ([A-Za-z0-9._-], 1..200 bytes, not starting
 * with '.', ending in .safetensors, .gguf or .json); at most 1,000 files.
 * Nothing outside the folder is touched; the folder goes when the request
 * ends.
 */
#include "http/http_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fp/fp.h"
#include "common/vfs.h"
#include "common/banned.h"

#define MAX_FILES    1000
#define NAME_MAX_LEN SL_FP_SUSPECT_NAME_MAX

enum state { S_NAMELEN, S_NAME, S_SIZE, S_DATA };

struct sl_upload {
    char *dir;
    enum state st;
    unsigned char hdr[8];
    size_t have;
    size_t name_len;
    char name[NAME_MAX_LEN + 1];
    uint64_t left;
    uint64_t pos; /* in the file being written */
    int fd;
    size_t files;
    uint64_t offset; /* in the body, for messages */
};

enum sl_err sl_upload_begin(const char *root, struct sl_upload **out, struct sl_error *err)
{
    struct sl_upload *u = sl_xcalloc(1, sizeof(*u));

    u->dir = sl_xasprintf("%s/packs/tmp/trace-XXXXXX", root);
    u->fd = -1;
    if (!mkdtemp(u->dir)) {
        enum sl_err rc =
            sl_error_set(err, SL_EIO, "cannot create a folder for the upload: %s", strerror(errno));
        free(u->dir);
        free(u);
        return rc;
    }
    *out = u;
    return SL_OK;
}

static enum sl_err bad(struct sl_upload *u, struct sl_error *err, const char *what)
{
    return sl_error_set(err, SL_EINPUT, "upload: byte %llu: %s", (unsigned long long)u->offset,
                        what);
}

enum sl_err sl_upload_feed(struct sl_upload *u, const char *data, size_t n, struct sl_error *err)
{
    while (n > 0) {
        size_t take = 0;
        switch (u->st) {
        case S_NAMELEN:
        case S_SIZE: {
            size_t need = u->st == S_NAMELEN ? 2 : 8;
            take = need - u->have < n ? need - u->have : n;
            memcpy(u->hdr + u->have, data, take);
            u->have += take;
            if (u->have < need)
                break;
            u->have = 0;
            if (u->st == S_NAMELEN) {
                u->name_len = (size_t)(u->hdr[0] | u->hdr[1] << 8);
                if (u->name_len == 0 || u->name_len > NAME_MAX_LEN)
                    return bad(u, err, "a file name must be 1 to 200 bytes");
                if (u->files == MAX_FILES)
                    return bad(u, err, "more than 1,000 files");
                u->st = S_NAME;
            } else {
                char *path;
                u->left = sl_load_le64(u->hdr);
                path = sl_path_join(u->dir, u->name);
                u->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                free(path);
                if (u->fd < 0)
                    return errno == EEXIST ? bad(u, err, "a file name appears twice")
                                           : sl_error_set(err, SL_EIO, "upload: cannot write: %s",
                                                          strerror(errno));
                u->files++;
                u->pos = 0;
                u->st = S_DATA;
                if (u->left == 0) {
                    close(u->fd);
                    u->fd = -1;
                    u->st = S_NAMELEN;
                }
            }
            break;
        }
        case S_NAME:
            take = u->name_len - u->have < n ? u->name_len - u->have : n;
            memcpy(u->name + u->have, data, take);
            u->have += take;
            if (u->have < u->name_len)
                break;
            u->name[u->name_len] = '\0';
            u->have = 0;
            if (memchr(u->name, '\0', u->name_len) || !sl_fp_suspect_name_ok(u->name))
                return bad(u, err,
                           "a file name must be a plain name of letters, digits, '.', '_' and "
                           "'-' ending in .safetensors, .gguf or .json");
            u->st = S_SIZE;
            break;
        case S_DATA: {
            enum sl_err rc;
            take = u->left < n ? (size_t)u->left : n;
            rc = sl_vfs_write_all(u->fd, data, take, u->pos, u->name, err);
            if (rc)
                return rc;
            u->pos += take;
            u->left -= take;
            if (u->left == 0) {
                close(u->fd);
                u->fd = -1;
                u->st = S_NAMELEN;
            }
            break;
        }
        }
        data += take;
        n -= take;
        u->offset += take;
    }
    return SL_OK;
}

enum sl_err sl_upload_finish(struct sl_upload *u, struct sl_error *err)
{
    if (u->st != S_NAMELEN || u->have != 0)
        return bad(u, err, "the body ends in the middle of a file");
    if (u->files == 0)
        return bad(u, err, "no files");
    return SL_OK;
}

const char *sl_upload_dir(const struct sl_upload *u)
{
    return u->dir;
}

void sl_upload_free(struct sl_upload *u)
{
    DIR *d;
    struct dirent *e;

    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    d = opendir(u->dir);
    if (d) {
        while ((e = readdir(d)) != NULL) {
            char *p;
            if (e->d_name[0] == '.')
                continue;
            p = sl_path_join(u->dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(u->dir);
    free(u->dir);
    free(u);
}
