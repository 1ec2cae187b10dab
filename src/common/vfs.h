/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Storage operations go through this table (SQLite's VFS seam) so tests can
 * inject ENOSPC, EIO, short writes, failed fsync and failed rename at any call
 * site. Production uses the POSIX calls. Every function keeps POSIX
 * semantics: -1 and errno on failure.
 */
#ifndef SL_COMMON_VFS_H
#define SL_COMMON_VFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

struct sl_vfs {
    int (*open)(const char *path, int flags, mode_t mode);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*close)(int fd);
};

/* The operations in use (never NULL). */
extern const struct sl_vfs *sl_vfs;

/* Replaces the operations (tests); NULL restores the POSIX ones. */
void sl_vfs_set(const struct sl_vfs *ops);

/* The POSIX operations, for wrappers that fail some calls and pass the rest. */
extern const struct sl_vfs sl_vfs_posix;

/* Writes all `n` bytes at `off`, retrying short writes; maps errno to an
 * error that names `path` (ENOSPC and EDQUOT become SL_ENOSPACE). */
enum sl_err sl_vfs_write_all(int fd, const void *buf, size_t n, uint64_t off, const char *path,
                             struct sl_error *err);

/* fsync with the error mapped and the path named. */
enum sl_err sl_vfs_sync(int fd, const char *path, struct sl_error *err);

/* fsyncs the folder holding `path` (after a rename or create in it). */
enum sl_err sl_vfs_sync_dir(const char *dir, struct sl_error *err);

/* Writes `data` to `path` atomically: a temporary file in the same folder,
 * fsync, rename, fsync of the folder. `mode` is the new file's mode. */
enum sl_err sl_vfs_write_file(const char *path, const void *data, size_t n, mode_t mode,
                              struct sl_error *err);

/* Creates `path` and missing parents with `mode`. */
enum sl_err sl_vfs_mkdirs(const char *path, mode_t mode, struct sl_error *err);

#endif
