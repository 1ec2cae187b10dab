/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice trace`: streams suspect weight files to POST .../trace (frames:
 * u16 LE name length, name, u64 LE size, bytes; docs/fingerprint.md) and
 * reads the server's report. Folders contribute their top-level
 * *.safetensors, *.gguf and *.json files.
 */
#include "client/client_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "fp/fp.h"
#include "common/banned.h"

#define MAX_FILES 1000

struct tfile {
    char *path;
    const char *name;
    uint64_t size;
};

struct sender {
    struct tfile *f;
    size_t n, i;
    unsigned char hdr[2 + 200 + 8];
    size_t hdr_len, hdr_at;
    uint64_t left;
    int fd;
    bool failed;
    char why[300];
};

static enum sl_err add(struct tfile **f, size_t *n, const char *path, struct sl_error *err)
{
    struct stat st;
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    if (stat(path, &st) != 0)
        return sl_error_set(err, SL_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sl_error_set(err, SL_EUSAGE, "%s: not a regular file", path);
    if (!sl_fp_suspect_name_ok(base))
        return sl_error_set(err, SL_EUSAGE,
                            "%s: trace reads *.safetensors, *.gguf and *.json files named with "
                            "letters, digits, '.', '_' and '-'",
                            path);
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*f)[i].name, base) == 0)
            return sl_error_set(err, SL_EUSAGE, "%s: two files are named %s", path, base);
    if (*n == MAX_FILES)
        return sl_error_set(err, SL_ELIMIT, "more than %d files", MAX_FILES);
    *f = sl_xrealloc(*f, (*n + 1) * sizeof(**f));
    (*f)[*n].path = sl_xstrdup(path);
    (*f)[*n].name = strrchr((*f)[*n].path, '/') ? strrchr((*f)[*n].path, '/') + 1 : (*f)[*n].path;
    (*f)[*n].size = (uint64_t)st.st_size;
    (*n)++;
    return SL_OK;
}

static enum sl_err collect_files(const char *const *paths, size_t npaths, struct tfile **f,
                                 size_t *n, struct sl_error *err)
{
    enum sl_err rc = SL_OK;

    for (size_t i = 0; i < npaths && !rc; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(paths[i]);
            struct dirent *e;
            char **names = NULL;
            size_t nn = 0;
            if (!d)
                return sl_error_set(err, SL_EIO, "%s: %s", paths[i], strerror(errno));
            while ((e = readdir(d)) != NULL) {
                if (!sl_fp_suspect_name_ok(e->d_name))
                    continue;
                names = sl_xrealloc(names, (nn + 1) * sizeof(*names));
                names[nn++] = sl_path_join(paths[i], e->d_name);
            }
            closedir(d);
            for (size_t k = 0; k < nn; k++) {
                if (!rc)
                    rc = add(f, n, names[k], err);
                free(names[k]);
            }
            free(names);
        } else {
            rc = add(f, n, paths[i], err);
        }
    }
    if (!rc && *n == 0)
        rc = sl_error_set(err, SL_EUSAGE, "no weight files to trace");
    return rc;
}

static void next_header(struct sender *s)
{
    const struct tfile *t = &s->f[s->i];
    size_t nl = strlen(t->name);

    s->hdr[0] = (unsigned char)(nl & 0xff);
    s->hdr[1] = (unsigned char)(nl >> 8);
    memcpy(s->hdr + 2, t->name, nl);
    for (int k = 0; k < 8; k++)
        s->hdr[2 + nl + (size_t)k] = (unsigned char)(t->size >> (8 * k));
    s->hdr_len = 2 + nl + 8;
    s->hdr_at = 0;
    s->left = t->size;
}

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct sender *s = arg;
    size_t max = size * nmemb, done = 0;

    while (done < max && s->i < s->n) {
        if (s->hdr_at < s->hdr_len) {
            size_t take = s->hdr_len - s->hdr_at < max - done ? s->hdr_len - s->hdr_at : max - done;
            memcpy(buf + done, s->hdr + s->hdr_at, take);
            s->hdr_at += take;
            done += take;
            continue;
        }
        if (s->left == 0) {
            if (s->fd >= 0)
                close(s->fd);
            s->fd = -1;
            if (++s->i < s->n)
                next_header(s);
            continue;
        }
        if (s->fd < 0) {
            s->fd = open(s->f[s->i].path, O_RDONLY | O_CLOEXEC);
            if (s->fd < 0) {
                snprintf(s->why, sizeof(s->why), "%s: %s", s->f[s->i].path, strerror(errno));
                s->failed = true;
                return CURL_READFUNC_ABORT;
            }
        }
        {
            size_t want = s->left < max - done ? (size_t)s->left : max - done;
            ssize_t got = read(s->fd, buf + done, want);
            if (got <= 0) {
                snprintf(s->why, sizeof(s->why), "%s: %s", s->f[s->i].path,
                         got < 0 ? strerror(errno) : "the file shrank while being sent");
                s->failed = true;
                return CURL_READFUNC_ABORT;
            }
            done += (size_t)got;
            s->left -= (uint64_t)got;
        }
    }
    return done;
}

static size_t collect(char *p, size_t size, size_t nmemb, void *arg)
{
    struct sl_buf *b = arg;
    return sl_buf_add(b, p, size * nmemb) == SL_OK ? size * nmemb : 0;
}

enum sl_err sl_client_trace(struct sl_client *cl, const char *org, const char *name,
                            const char *const *paths, size_t npaths, json_t **answer,
                            struct sl_error *err)
{
    const struct sl_curl_api *c = cl->c;
    struct sender s;
    struct sl_buf resp = SL_BUF_INIT(64u << 20);
    struct sl_buf url = SL_BUF_INIT(4096);
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    uint64_t total = 0;
    long st = 0;
    CURLcode cc;
    enum sl_err rc;

    *answer = NULL;
    memset(&s, 0, sizeof(s));
    s.fd = -1;
    rc = collect_files(paths, npaths, &s.f, &s.n, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < s.n; i++)
        total += 2 + strlen(s.f[i].name) + 8 + s.f[i].size;
    next_header(&s);
    sl_buf_addf(&url, "%s/api/v1/models/", cl->url);
    sl__cl_url_escape(&url, org, false);
    sl_buf_adds(&url, "/");
    sl__cl_url_escape(&url, name, false);
    sl_buf_adds(&url, "/trace");
    json_decref(cl->last_error);
    cl->last_error = NULL;
    c->easy_reset(cl->easy);
    /* a caller who is not the publisher hears so before sending the file */
    sl__cl_http_setup_expect(cl, cl->easy, sl_buf_cstr(&url), &headers,
                             "Content-Type: application/octet-stream", 0);
    c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, errbuf);
    c->easy_setopt(cl->easy, CURLOPT_POST, 1L);
    c->easy_setopt(cl->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)total);
    c->easy_setopt(cl->easy, CURLOPT_READFUNCTION, read_cb);
    c->easy_setopt(cl->easy, CURLOPT_READDATA, &s);
    c->easy_setopt(cl->easy, CURLOPT_WRITEFUNCTION, collect);
    c->easy_setopt(cl->easy, CURLOPT_WRITEDATA, &resp);
    /* the analysis can take a while after the last byte */
    c->easy_setopt(cl->easy, CURLOPT_TIMEOUT, 0L);
    cc = c->easy_perform(cl->easy);
    c->easy_getinfo(cl->easy, CURLINFO_RESPONSE_CODE, &st);
    c->easy_setopt(cl->easy, CURLOPT_ERRORBUFFER, NULL);
    if (s.failed) {
        rc = sl_error_set(err, SL_EIO, "%s", s.why);
    } else if (cc != CURLE_OK) {
        rc = sl__cl_http_curl_error(cl, cc, errbuf, err);
    } else if (st < 200 || st >= 300) {
        rc = sl__cl_http_status_error(st, resp.data, resp.len, "trace", err);
        if (resp.len)
            cl->last_error = json_loadb(resp.data, resp.len, 0, NULL);
    } else {
        json_error_t je;
        *answer = json_loadb(resp.data ? resp.data : "", resp.len, 0, &je);
        if (!*answer)
            rc = sl_error_set(err, SL_EINTERNAL, "trace: the server's answer is not JSON");
    }
out:
    if (s.fd >= 0)
        close(s.fd);
    for (size_t i = 0; i < s.n; i++)
        free(s.f[i].path);
    free(s.f);
    c->slist_free_all(headers);
    sl_buf_release(&resp);
    sl_buf_release(&url);
    return rc;
}
