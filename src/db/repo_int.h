/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the repository files (src/db/repo_*.c): the few steps every
 * operation repeats.
 * Every loop over rows checks its last step, so a failed step is an error,
 * never a shorter list.
 */
#ifndef SL_DB_REPO_INT_H
#define SL_DB_REPO_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "db/db.h"

/* The code of a failed call that recorded it in `err` (which may be NULL). */
static inline enum sl_err sl__repo_code(const struct sl_error *err)
{
    return err && err->code != SL_OK ? err->code : SL_EINTERNAL;
}

/* Steps `st` once for an integer in column 0; `*found` tells whether a row
 * came. Resets the statement. */
static inline enum sl_err sl__repo_int(struct sl_stmt *st, int64_t *v, bool *found,
                                       struct sl_error *err)
{
    int row = sl_stmt_step(st, err);

    *found = row == 1;
    if (row == 1)
        *v = sl_stmt_col_int(st, 0);
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

/* Steps `st` once: `*yes` when a row came. Resets the statement. */
static inline enum sl_err sl__repo_exists(struct sl_stmt *st, bool *yes, struct sl_error *err)
{
    int row = sl_stmt_step(st, err);

    *yes = row == 1;
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

/* Runs `st` (no rows) and gives the rows it changed in `*changes`. */
static inline enum sl_err sl__repo_run_changes(struct sl_db *db, struct sl_stmt *st, int *changes,
                                               struct sl_error *err)
{
    enum sl_err rc = sl_stmt_run(st, err);

    *changes = rc ? 0 : sl_db_changes(db);
    return rc;
}

/* Returns the arena array `arr` of `*cap` elements of `size` bytes with room
 * for element `n`: `arr` itself, or a copy twice as large (the old block
 * stays in the arena until it is released). */
static inline void *sl__repo_grow(struct sl_arena *a, void *arr, size_t *cap, size_t n, size_t size)
{
    void *p;

    if (n < *cap)
        return arr;
    *cap = *cap ? 2 * *cap : 16;
    p = sl_arena_alloc(a, *cap * size);
    if (n)
        memcpy(p, arr, n * size);
    return p;
}

/* Copies the text of column `col` into the fixed array `out` of `n` bytes
 * ("" for NULL). */
static inline void sl__repo_copy(struct sl_stmt *st, int col, char *out, size_t n)
{
    const char *s = sl_stmt_col_text(st, col);
    size_t len = s ? strlen(s) : 0;

    if (len >= n)
        len = n - 1;
    if (len)
        memcpy(out, s, len);
    out[len] = '\0';
}

/* Resets `st` after a loop over its rows that ended with step result `row`:
 * a failed step (row < 0) is the loop's error, never a shorter list. */
static inline enum sl_err sl__repo_done(struct sl_stmt *st, int row, struct sl_error *err)
{
    sl_stmt_done(st);
    return row < 0 ? sl__repo_code(err) : SL_OK;
}

/* The text of column `col` copied into `a`, or NULL for SQL NULL. */
static inline char *sl__repo_dup(struct sl_stmt *st, int col, struct sl_arena *a)
{
    const char *s = sl_stmt_col_text(st, col);

    return s ? sl_arena_strdup(a, s) : NULL;
}

/* Copies `s` (NULL as "") into the fixed array `dst` of `n` bytes. */
static inline void sl__repo_text(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "");
}

#endif
