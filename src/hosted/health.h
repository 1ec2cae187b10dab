/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The health of the hosted gateway's backends (docs/hosted.md, "Health
 * checks"), kept in memory per server process: every `sluice serve` probes
 * every backend (GET {url}/v1/models with its key) every few seconds and
 * judges the calls it makes itself; the gateway skips backends that are
 * down. The state is published to the data folder (SL_HOSTED_HEALTH_FILE)
 * for `sluice hosted backend list` and to /metrics by backend id.
 */
#ifndef SL_HOSTED_HEALTH_H
#define SL_HOSTED_HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "db/repo_hosted.h"
#include "registry/registry.h"

#define SL_HOSTED_PROBE_MS         5000  /* between probe rounds (SLUICE_HOSTED_PROBE_MS) */
#define SL_HOSTED_PROBE_TIMEOUT_MS 2000  /* one probe, at most the interval */
#define SL_HOSTED_PROBE_FAILS      2     /* failed probes in a row that mark a backend down */
#define SL_HOSTED_DOWN_MS          10000 /* a backend whose call failed is skipped this long */
#define SL_HOSTED_HEALTH_FILE      "hosted-health.json"

/* How a call to a backend ended, for its health. */
enum sl_hosted_outcome {
    SL_HOSTED_OK,          /* it answered as a backend should */
    SL_HOSTED_UNREACHABLE, /* no connection: a good probe undoes it */
    SL_HOSTED_SILENT,      /* no answer in time: as unreachable, and not tried even when
                              every backend is down (the call would wait the timeout) */
    SL_HOSTED_BROKEN,      /* it answered, badly (5xx, garbage, a dropped stream): skipped
                              SL_HOSTED_DOWN_MS whatever the probes say */
};

/* Backends are known by id and by what they are (URL, model, key variable,
 * creation time): SQLite gives a removed backend's id to the next one added,
 * which must not inherit its health. */

/* Records the outcome of a call to backend `b` (any thread). `why` says
 * what went wrong (NULL for SL_HOSTED_OK); it is shown to the operator only. */
void sl_hosted_health_note(const struct sl_hosted_backend *b, enum sl_hosted_outcome o,
                           const char *why);

/* Whether backend `b` is down now: SL_HOSTED_PROBE_FAILS probes in a row
 * failed, or a call failed less than SL_HOSTED_DOWN_MS ago (an unreachable
 * one only until a probe succeeds). A backend never seen is up. */
bool sl_hosted_backend_down(const struct sl_hosted_backend *b);

/* Whether backend `b` is down because it did not answer in time (its last
 * failed probe or call timed out): a call would wait for nothing, so it is
 * not tried even when every backend of the model is down. */
bool sl_hosted_backend_silent(const struct sl_hosted_backend *b);

/* The backend's URL for `path` (after /v1): its base, with or without a
 * trailing /v1, then /v1 and the path. The caller frees it. */
char *sl__hosted_endpoint(const struct sl_hosted_backend *b, const char *path);

/* Starts the probe thread of this server: every SLUICE_HOSTED_PROBE_MS
 * (default SL_HOSTED_PROBE_MS) it reads every backend from the database,
 * probes them all at once and writes the state to the data folder. Fails
 * only when the thread cannot start. */
enum sl_err sl_hosted_prober_start(struct sl_registry *r, struct sl_error *err);

/* Stops the probe thread (within about 100 ms) and waits for it. A no-op
 * when it was not started. */
void sl_hosted_prober_stop(void);

/* Appends the gauge sluice_hosted_backend_up{backend="ID"} (1 up, 0 down)
 * of every backend this server knows to `out` as Prometheus text. Labels
 * are backend ids only: /metrics is public, model names and URLs are not. */
struct sl_buf;
void sl_hosted_health_metrics(struct sl_buf *out);

/* The state the server in data folder `root` last published, by backend
 * id: a new JSON object {"ID": {"state", "since", "last_probe", "fails",
 * "last_error", "error_at", "ident"}} the caller frees, or an empty one when
 * no server published (or its file is older than three probe rounds: state
 * unknown). `*fresh` says which. Never fails: a missing or unreadable file
 * is no state. */
json_t *sl_hosted_health_load(const char *root, bool *fresh);

/* The published state of backend `b` from what sl_hosted_health_load
 * returned (borrowed), without its "ident"; NULL when there is none for
 * this backend (a backend that had its id before it is another). The caller
 * frees the copy. */
json_t *sl_hosted_health_of(json_t *loaded, const struct sl_hosted_backend *b);

#endif
