/*
 * api: what the API files (api_*.c) share beyond the HTTP core: the
 * application state vecsnapd hangs on the server (vs_http_env.app), the
 * way a route runs a long operation as a job (202 + Location, or ?wait=true),
 * and the small parsers every body needs.  Implemented in api_common.c.
 */
#ifndef VS_API_H
#define VS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autosave.h"
#include "codec.h"
#include "fmt.h"
#include "http.h"
#include "job.h"
#include "ops.h"
#include "remote.h"
#include "retention.h"

/* vs_http_env.app in vecsnapd. */
typedef struct vs_api_app {
    vs_ops *ops;
    vs_autosave *autosave; /* may be NULL */
    /* POST /v1/save and auto-save: the configured defaults. */
    vs_format_id save_format;
    vs_codec_id save_codec;
    int save_level;
    /* Remote storage (api_remote.c); NULL when none is configured.
     * `upload_snapshots`: the default of "upload" in POST /v1/snapshots
     * and /v1/save. */
    vs_remote *remote;
    bool upload_snapshots;
    /* The configured retention policy (api_retention.c), applied after
     * each snapshot by ops.after_snapshot; its `remote` is set when it is
     * applied to remote storage too (upload_snapshots). */
    vs_retention_hook retention;
} vs_api_app;

vs_api_app *vs_api_app_of(const vs_req *req);

/* api_remote.c: wait until the remote calls its routes run on threads of
 * their own have returned (vecsnapd: after the server stopped, before
 * vs_remote_free). */
void vs_api_remote_drain(void);

/* Conflict class of every job that writes the live store or CURRENT. */
#define VS_API_CONFLICT_STORE "store"

/* Run `fn(job, payload)` as a job for this request (conflict class
 * `conflict`, may be NULL) and answer:
 *   - 202, `Location: /v1/jobs/{id}`, {"job": record};
 *   - with ?wait=true: suspend until the job ends, then `ok_status` with
 *     the job's result object as the body (a result {"snapshot":{...}}
 *     also gets `Location: /v1/snapshots/{id}`), or, when the job failed,
 *     the status of its error code with {"error":{...},"job": record}.
 * 409 when the conflict class is busy.  The job function sets its result
 * with vs_job_set_result.  Call it from a handler and return what it
 * returns; a handler that may call it must begin with vs_api_job_resumed.
 * `free_payload` is called whatever happens.  The request's handler state
 * (vs_req_set_state) is this function's: a route that calls it keeps none
 * of its own. */
int vs_api_job(vs_req *req, const char *operation, const char *conflict,
               vs_job_fn fn, void *payload, void (*free_payload)(void *),
               unsigned ok_status);
/* True when this handler call is the re-entry of a request waiting for its
 * job (?wait=true): the answer is then given, and *rc is what the handler
 * must return. */
bool vs_api_job_resumed(vs_req *req, int *rc);
/* For a job function's end: set `result` as the job's result and return 0,
 * or VS_ENOMEM when it is NULL (a json_pack that failed). */
int vs_api_job_result(vs_job *job, json_t *result);
/* A restore job's result: {"restore": {"snapshot": id, then
 * vs_ops_result_json's fields}}; NULL when out of memory. */
json_t *vs_api_restore_json(const char *id, const vs_ops_result *r);
/* A restore body's "until" (RFC 3339) and "until_seq" (>= 1) into *out
 * (log_dir NULL); *has: either was given.  VS_EINVALID naming the field.
 * (api_snapjobs.c) */
int vs_api_until(vs_ops_until *out, bool *has,
                 const json_t *obj) VS_WARN_UNUSED;

/* A monotonic clock in milliseconds. */
uint64_t vs_api_now_ms(void);
/* The request body's Content-Encoding as a codec (gzip, br, zstd, identity
 * or none).  Anything else: replies 415 and returns false. */
bool vs_api_body_codec(vs_codec_id *out, vs_req *req);

/* ?wait=true|false (absent: false); VS_EINVALID otherwise. */
int vs_api_query_bool(bool *out, vs_req *req, const char *name) VS_WARN_UNUSED;

/* The request's JSON object body, or an empty object when there is no
 * body (for routes whose body is optional).  New reference. */
int vs_api_body_object(json_t **out, vs_req *req) VS_WARN_UNUSED;
/* VS_EINVALID "unknown field \"x\"" for a key not in `keys`. */
int vs_api_check_keys(const json_t *obj, const char *const *keys,
                      size_t n) VS_WARN_UNUSED;
/* Optional string field: *out NULL when absent; VS_EINVALID when not a
 * string. */
int vs_api_opt_string(const char **out, const json_t *obj,
                      const char *key) VS_WARN_UNUSED;
/* "collections": an optional array of 1..VS_OPS_COLLECTIONS_MAX distinct
 * valid collection names (absent: *out NULL, *n 0).  Borrowed from `obj`. */
int vs_api_collections(const char ***out, size_t *n, const json_t *obj,
                       const char *key) VS_WARN_UNUSED;
/* The same from a query string "a,b,c" (copied into *buf, which the caller
 * frees; *out points into it). */
int vs_api_collections_query(const char ***out, size_t *n, char **buf,
                             const char *text) VS_WARN_UNUSED;
/* "format" / "compression" / "level" fields or query values, with the
 * names docs/API uses ("binary|json|sqlite", "none|gzip|brotli|zstd"). */
int vs_api_format(vs_format_id *out, const char *text) VS_WARN_UNUSED;
int vs_api_codec(vs_codec_id *out, const char *text) VS_WARN_UNUSED;
/* level: -1 (default) or within the codec's range. */
int vs_api_level(int *out, vs_codec_id codec, const json_t *v) VS_WARN_UNUSED;

#endif
