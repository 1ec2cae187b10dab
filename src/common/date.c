/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Day-number arithmetic (date.h), after Howard Hinnant's public-domain
 * days_from_civil algorithm.
 */
#include "common/date.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/banned.h"

int32_t sl_days_from_civil(int y, unsigned m, unsigned d)
{
    int era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

static void civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
    int era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (int)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool sl_date_parse(const char *s, int32_t *days)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    unsigned max;

    if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != '\0')
        return false;
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    max = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        max = 29;
    if ((unsigned)d > max)
        return false;
    *days = sl_days_from_civil(y, (unsigned)m, (unsigned)d);
    return true;
}

const char *sl_date_format(int32_t days, char *buf)
{
    int y;
    unsigned m, d;

    civil_from_days(days, &y, &m, &d);
    snprintf(buf, 11, "%04d-%02u-%02u", y % 10000, m % 100, d % 100);
    return buf;
}

int32_t sl_date_today(void)
{
    const char *env = getenv("SLUICE_TODAY");
    int32_t days;
    time_t now;

    if (env && sl_date_parse(env, &days))
        return days;
    now = time(NULL);
    return (int32_t)(now / 86400);
}
