/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded file reading. Every read of outside bytes goes through a size check
 * first; errors name the file and what failed.
 */
#ifndef SL_COMMON_IO_H
#define SL_COMMON_IO_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Opens `path` read-only and returns its descriptor and size. Fails with
 * SL_EIO (naming the path and the OS error) when it cannot be opened, and with
 * SL_EINPUT when it is not a regular file. */
enum sl_err sl_file_open(const char *path, int *fd, uint64_t *size, struct sl_error *err);

/* Reads exactly `n` bytes at `off`. Short reads are retried; an early end of
 * file or an OS error fails with SL_EIO. */
enum sl_err sl_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *path,
                          struct sl_error *err);

/* Reads a whole file of at most `limit` bytes into a new NUL-terminated buffer
 * that the caller frees. A bigger file fails with SL_ELIMIT. */
enum sl_err sl_read_file(const char *path, size_t limit, char **data, size_t *len,
                         struct sl_error *err);

#endif
