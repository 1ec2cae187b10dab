/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calendar dates as day numbers (days since 1970-01-01, proleptic Gregorian,
 * UTC). Policy rules compare dates; nothing here depends on the time zone.
 */
#ifndef SL_COMMON_DATE_H
#define SL_COMMON_DATE_H

#include <stdbool.h>
#include <stdint.h>

/* Parses exactly "YYYY-MM-DD" (a real calendar date, years 1900-9999) into
 * `*days`. Returns false on anything else. */
bool sl_date_parse(const char *s, int32_t *days);

/* Writes "YYYY-MM-DD" into `buf` (at least 11 bytes) and returns it. */
const char *sl_date_format(int32_t days, char *buf);

/* Returns today's date in UTC; SOURCE_DATE-style override: when the environment
 * variable SLUICE_TODAY holds a valid date, that date is used instead. */
int32_t sl_date_today(void);

/* Converts a civil date to a day number. */
int32_t sl_days_from_civil(int y, unsigned m, unsigned d);

#endif
