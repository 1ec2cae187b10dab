/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Renders the read API's typed results (registry.h) as JSON: times as ISO
 * 8601 in UTC, stored documents (inspection report, decision) parsed from
 * their canonical text rather than re-encoded from fields.
 */
#include "http/render_read.h"

#include <time.h>

#include "common/banned.h"

static const char *iso_time(int64_t t, char *buf, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

/* Stored canonical JSON text parsed (NULL for none or unreadable). */
static json_t *stored_json(const char *t)
{
    json_error_t je;

    return t ? json_loads(t, 0, &je) : NULL;
}

json_t *sl_render_models(const struct sl_reg_model_summary *v, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s++, s:s, s:{s:I, s:s}}", "model", v[i].org, "/",
                                             v[i].name, "tier", v[i].tier, "latest", "version",
                                             (json_int_t)v[i].seq, "commit", v[i].commit));
    return arr;
}

json_t *sl_render_model(const char *org, const char *name, const struct sl_reg_model_doc *d)
{
    json_t *refs = json_object(), *versions = json_array();
    char ts[40];

    for (size_t i = 0; i < d->nrefs; i++)
        json_object_set_new(refs, d->refs[i].name, json_string(d->refs[i].commit));
    for (size_t i = 0; i < d->nversions; i++) {
        const struct sl_reg_model_version *v = &d->versions[i];
        json_array_append_new(
            versions,
            json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "version", (json_int_t)v->seq,
                      "commit", v->commit, "tier", v->tier, "min_tier", v->min_tier, "created",
                      iso_time(v->created, ts, sizeof(ts)), "bytes_total",
                      (json_int_t)v->bytes_total, "downloads", (json_int_t)v->downloads,
                      "downloads_all_time", (json_int_t)v->downloads_all_time));
    }
    return json_pack("{s:s++, s:s?, s:o, s:o, s:I, s:I}", "model", org, "/", name, "tier", d->tier,
                     "refs", refs, "versions", versions, "downloads", (json_int_t)d->downloads,
                     "downloads_all_time", (json_int_t)d->downloads_all_time);
}

json_t *sl_render_version(const char *org, const char *name, const struct sl_version_ref *v,
                          const struct sl_reg_version_doc *d)
{
    char ts[40];
    json_t *out = json_pack(
        "{s:s++, s:I, s:s, s:s, s:s, s:s, s:I}", "model", org, "/", name, "version",
        (json_int_t)v->seq, "commit", v->commit, "tier", v->tier, "min_tier", v->min_tier,
        "created", iso_time(v->created, ts, sizeof(ts)), "bytes_total", (json_int_t)v->bytes_total);

    if (d->with_files) {
        json_t *arr = json_array();
        for (size_t i = 0; i < d->nfiles; i++)
            json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "path", d->files[i].path,
                                                 "size", (json_int_t)d->files[i].size, "sha256",
                                                 d->files[i].sha256));
        json_object_set_new(out, "files", arr);
    }
    if (d->stored) {
        json_t *dec = stored_json(d->decision);
        if (d->with_files) {
            json_t *ins = stored_json(d->inspect);
            json_object_set_new(out, "inspect", ins ? ins : json_null());
        }
        json_object_set_new(out, "decision", dec ? dec : json_null());
        json_object_set_new(out, "license", d->license ? json_string(d->license) : json_null());
        json_object_set_new(out, "floor_tier", json_string(d->floor_tier));
    }
    return out;
}
