/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The web UI's files (web/ in the source tree), compiled into the binary by
 * cmake/embed_web.cmake, and the small decisions serving them takes: which
 * file a name means, its type, whether the client takes gzip, whether its
 * cached copy is current. No I/O; src/http/pages.c serves them.
 */
#ifndef SL_WEB_WEB_H
#define SL_WEB_WEB_H

#include <stdbool.h>
#include <stddef.h>

/* One embedded file. `gz` is its gzip -9n copy, or NULL when that would not
 * be smaller. HTML files are stored as served: their references to the
 * other assets carry "?v=HASH8". */
struct sl_web_file {
    const char *name;          /* relative to web/: "app.js" */
    const unsigned char *data; /* `len` bytes (plus a NUL after them) */
    size_t len;
    const unsigned char *gz;
    size_t gzlen;
    const char *sha256; /* hex SHA-256 of `data` */
};

/* The table the build generates, ended by a row whose name is NULL. */
extern const struct sl_web_file sl__web_files[];

/* The embedded file called `name` ("app.js", "index.html"), or NULL. Names
 * are compared whole and exactly: "./app.js", "APP.JS" and "" find
 * nothing. */
const struct sl_web_file *sl_web_find(const char *name);

/* The Content-Type for a file name, by its extension
 * ("text/javascript; charset=utf-8"); application/octet-stream when the
 * extension is unknown. Never NULL. */
const char *sl_web_content_type(const char *name);

/* True when an Accept-Encoding header value (may be NULL) accepts gzip:
 * "gzip" or "x-gzip" with a q above 0, or "*" with a q above 0 when gzip is
 * not named. Codings are case-insensitive. */
bool sl_web_accepts_gzip(const char *accept_encoding);

/* True when an If-None-Match header value (may be NULL) matches the entity
 * tag `etag` (without quotes): "*", or the tag in the list, quoted, weak or
 * strong (the weak comparison RFC 9110 prescribes for If-None-Match). */
bool sl_web_etag_match(const char *if_none_match, const char *etag);

/* True when `v` (the ?v= of an asset URL, may be NULL) names the current
 * content of `f`: the first 8 hex digits of its SHA-256. */
bool sl_web_version_current(const struct sl_web_file *f, const char *v);

#endif
