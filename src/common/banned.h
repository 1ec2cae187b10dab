/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Functions we never call (git's banned.h): each is easy to misuse with
 * untrusted sizes or is not thread-safe. Include this last in every .c file.
 */
#ifndef SL_COMMON_BANNED_H
#define SL_COMMON_BANNED_H

#define SL__BANNED(func) sorry_##func##_is_banned_in_sluice

#undef strcpy
#define strcpy(x, y) SL__BANNED(strcpy)
#undef strcat
#define strcat(x, y) SL__BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) SL__BANNED(strncpy)
#undef sprintf
#define sprintf(...) SL__BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) SL__BANNED(vsprintf)
#undef strtok
#define strtok(x, y) SL__BANNED(strtok)
#undef gmtime
#define gmtime(t) SL__BANNED(gmtime)
#undef localtime
#define localtime(t) SL__BANNED(localtime)
#undef atoi
#define atoi(s) SL__BANNED(atoi)

#endif
