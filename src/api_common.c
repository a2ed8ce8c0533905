/*
 * api_common: what the API files share (api.h): running a route's long
 * operation as a job and answering for it, and the parsers of the fields
 * several bodies have (format, compression, level, collections).
 *
 * Waiting for a job (?wait=true) never blocks a polling thread: the
 * handler registers a watch on the job, suspends the connection and
 * returns VS_HTTP_AGAIN.  The watch callback runs under the job's lock, so
 * it only resumes the connection (vs_job_finished is an atomic read, safe
 * there).  A job that ends between the watch and the suspension is caught
 * by a check after suspending.  On the re-entry the handler answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "codec.h"
#include "log.h"

#define WAIT_MAGIC 0x6a6f6277u /* "jobw" */

typedef struct job_wait {
    uint32_t magic; /* first: tells a waiting request from other state */
    vs_job *job;
    vs_req *req;
    uint64_t handle;
    bool watching;
    unsigned ok_status;
} job_wait;

vs_api_app *vs_api_app_of(const vs_req *req)
{
    return vs_req_env(req)->app;
}

static void job_wait_free(void *p)
{
    job_wait *w = p;
    if (w->watching)
        vs_job_unwatch(w->job, w->handle);
    vs_job_unref(w->job);
    free(w);
}

static void on_job_event(vs_job *job, void *payload)
{
    job_wait *w = payload;
    if (vs_job_finished(job))
        vs_req_resume(w->req);
}

/* 202 + Location + {"job": record}. */
static int answer_accepted(vs_req *req, vs_job *job)
{
    char loc[64 + VS_JOB_ID_LEN];
    snprintf(loc, sizeof(loc), "/v1/jobs/%s", vs_job_id(job));
    if (vs_reply_header(req, "Location", loc) < 0)
        return VS_ENOMEM;
    return vs_reply_json(req, 202, json_pack("{s:o}", "job",
                                             vs_job_to_json(job)));
}

/* The job has ended: its result, or its error with the record. */
static int answer_finished(vs_req *req, vs_job *job, unsigned ok_status)
{
    json_t *rec = vs_job_to_json(job);
    if (!rec)
        return vs_error_oom();
    if (vs_job_state_of(job) == VS_JOB_DONE) {
        json_t *result = json_object_get(rec, "result");
        json_t *body = json_is_object(result) ? json_deep_copy(result)
                                              : json_object();
        json_decref(rec);
        const char *id = json_string_value(
            json_object_get(json_object_get(body, "snapshot"), "id"));
        if (id && strlen(id) <= VS_SNAPSHOT_ID_LEN) {
            char loc[64];
            snprintf(loc, sizeof(loc), "/v1/snapshots/%s", id);
            if (vs_reply_header(req, "Location", loc) < 0) {
                json_decref(body);
                return VS_ENOMEM;
            }
        }
        return vs_reply_json(req, ok_status, body);
    }
    json_t *err = json_object_get(rec, "error");
    const char *word = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    int code = vs_error_code_of(word);
    unsigned status = code == VS_ECANCELLED ? 409 : vs_http_status_of(code);
    json_t *body = json_pack("{s:{s:s,s:s},s:O}", "error", "code",
                             word ? word : "error", "message",
                             msg ? msg : "the job failed", "job", rec);
    json_decref(rec);
    return vs_reply_json(req, status, body);
}

/* Suspend until the job ends (or answer at once if it has).  */
static int wait_more(vs_req *req, job_wait *w)
{
    if (vs_job_finished(w->job))
        return answer_finished(req, w->job, w->ok_status);
    if (vs_req_stopping(req) || vs_req_suspend(req) < 0) {
        if (vs_reply_header(req, "Retry-After", "1") < 0)
            return VS_ENOMEM;
        return vs_reply_error_status(
            req, 503, "unavailable",
            "the server is shutting down; job %s goes on or is cancelled, "
            "see /v1/jobs/%s",
            vs_job_id(w->job), vs_job_id(w->job));
    }
    if (vs_job_finished(w->job)) /* ended before the suspension */
        vs_req_resume(req);
    return VS_HTTP_AGAIN;
}

int vs_api_job_result(vs_job *job, json_t *result)
{
    if (!result)
        return vs_error_oom();
    vs_job_set_result(job, result);
    return 0;
}

json_t *vs_api_restore_json(const char *id, const vs_ops_result *r)
{
    json_t *fields = vs_ops_result_json(r);
    json_t *o = fields ? json_pack("{s:s}", "snapshot", id) : NULL;
    if (o && json_object_update(o, fields) < 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(fields);
    return o ? json_pack("{s:o}", "restore", o) : NULL;
}

bool vs_api_job_resumed(vs_req *req, int *rc)
{
    job_wait *w = vs_req_state(req);
    if (!w || w->magic != WAIT_MAGIC)
        return false;
    *rc = wait_more(req, w);
    return true;
}

int vs_api_job(vs_req *req, const char *operation, const char *conflict,
               vs_job_fn fn, void *payload, void (*free_payload)(void *),
               unsigned ok_status)
{
    bool wait = false;
    vs_http_env *env = vs_req_env(req);
    int error = vs_api_query_bool(&wait, req, "wait");
    if (error < 0 || !env->jobs) {
        if (free_payload)
            free_payload(payload);
        return error < 0 ? error
                         : vs_error_set(VS_EIO, "no job table is configured");
    }
    vs_job *job = NULL;
    error = vs_jobs_submit(&job, env->jobs, operation, conflict, fn, payload,
                           free_payload);
    if (error < 0) { /* a refused job never owned the payload */
        if (free_payload)
            free_payload(payload);
        return error;
    }
    vs_log(VS_LOG_INFO, "req %s: job %s (%s) submitted", vs_req_id(req),
           vs_job_id(job), operation);
    if (!wait) {
        error = answer_accepted(req, job);
        vs_job_unref(job);
        return error;
    }
    job_wait *w = calloc(1, sizeof(*w));
    if (!w) {
        vs_job_unref(job);
        return vs_error_oom();
    }
    w->magic = WAIT_MAGIC;
    w->job = job;
    w->req = req;
    w->ok_status = ok_status;
    vs_req_set_state(req, w, job_wait_free);
    error = vs_job_watch(job, on_job_event, w, &w->handle);
    if (error < 0)
        return error;
    w->watching = true;
    return wait_more(req, w);
}

/* ---- parsers ------------------------------------------------------------ */

uint64_t vs_api_now_ms(void)
{
    return vs_http__now_ns() / 1000000u;
}

bool vs_api_body_codec(vs_codec_id *out, vs_req *req)
{
    const char *enc = vs_req_header(req, "Content-Encoding");
    *out = VS_CODEC_NONE;
    if (enc && strcasecmp(enc, "gzip") == 0)
        *out = VS_CODEC_GZIP;
    else if (enc && strcasecmp(enc, "br") == 0)
        *out = VS_CODEC_BROTLI;
    else if (enc && strcasecmp(enc, "zstd") == 0)
        *out = VS_CODEC_ZSTD;
    else if (enc && strcasecmp(enc, "identity") != 0) {
        vs_reply_error_status(req, 415, "unsupported_media_type",
                              "Content-Encoding '%s': send gzip, br, zstd or "
                              "identity",
                              enc);
        return false;
    }
    return true;
}

int vs_api_query_bool(bool *out, vs_req *req, const char *name)
{
    const char *v = NULL;
    int error = vs_req_query(&v, req, name);
    if (error < 0)
        return error;
    *out = false;
    if (!v)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || v[0] == '\0')
        *out = true;
    else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
        return vs_error_set(VS_EINVALID,
                            "query parameter '%s' must be true or false",
                            name);
    return 0;
}

int vs_api_body_object(json_t **out, vs_req *req)
{
    *out = NULL;
    if (vs_req_body(req)->len == 0) {
        *out = json_object();
        return *out ? 0 : vs_error_oom();
    }
    return vs_req_json(out, req);
}

int vs_api_check_keys(const json_t *obj, const char *const *keys, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(key, keys[i]) != 0)
            i++;
        if (i == n)
            return vs_error_set(VS_EINVALID, "unknown field \"%s\"", key);
    }
    return 0;
}

int vs_api_opt_string(const char **out, const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return vs_error_set(VS_EINVALID, "\"%s\" must be a string", key);
    *out = json_string_value(v);
    return 0;
}

/* Names in v[0..n) valid and distinct. */
static int check_names(const char *const *v, size_t n, const char *what)
{
    if (n == 0 || n > VS_OPS_COLLECTIONS_MAX)
        return vs_error_set(VS_EINVALID,
                            "\"%s\" must name 1 to %d collections", what,
                            VS_OPS_COLLECTIONS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (vs_store_check_name(v[i]) < 0) {
            char why[200];
            snprintf(why, sizeof(why), "%s", vs_error_last());
            return vs_error_set(VS_EINVALID, "\"%s\": %s", what, why);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[i], v[j]) == 0)
                return vs_error_set(VS_EINVALID,
                                    "\"%s\" names '%s' twice", what, v[i]);
    }
    return 0;
}

int vs_api_collections(const char ***out, size_t *n, const json_t *obj,
                       const char *key)
{
    *out = NULL;
    *n = 0;
    json_t *arr = json_object_get(obj, key);
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return vs_error_set(VS_EINVALID,
                            "\"%s\" must be an array of collection names",
                            key);
    size_t len = json_array_size(arr);
    if (len == 0 || len > VS_OPS_COLLECTIONS_MAX)
        return vs_error_set(VS_EINVALID,
                            "\"%s\" must name 1 to %d collections", key,
                            VS_OPS_COLLECTIONS_MAX);
    const char **v = calloc(len, sizeof(*v));
    if (!v)
        return vs_error_oom();
    for (size_t i = 0; i < len; i++) {
        v[i] = json_string_value(json_array_get(arr, i));
        if (!v[i]) {
            free(v);
            return vs_error_set(VS_EINVALID,
                                "\"%s\"[%zu] must be a string", key, i);
        }
    }
    int error = check_names(v, len, key);
    if (error < 0) {
        free(v);
        return error;
    }
    *out = v;
    *n = len;
    return 0;
}

int vs_api_collections_query(const char ***out, size_t *n, char **buf,
                             const char *text)
{
    *out = NULL;
    *n = 0;
    *buf = NULL;
    if (!text)
        return 0;
    size_t len = strlen(text), count = 1;
    for (size_t i = 0; i < len; i++)
        count += text[i] == ',';
    if (count > VS_OPS_COLLECTIONS_MAX)
        return vs_error_set(VS_EINVALID, "\"collections\" must name 1 to %d "
                                         "collections",
                            VS_OPS_COLLECTIONS_MAX);
    char *copy = strdup(text);
    const char **v = calloc(count, sizeof(*v));
    if (!copy || !v) {
        free(copy);
        free(v);
        return vs_error_oom();
    }
    size_t k = 0;
    char *p = copy;
    for (;;) {
        v[k++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    int error = check_names(v, k, "collections");
    if (error < 0) {
        free(copy);
        free(v);
        return error;
    }
    *out = v;
    *n = k;
    *buf = copy;
    return 0;
}

int vs_api_format(vs_format_id *out, const char *text)
{
    if (!text || vs_format_parse(out, text) < 0 ||
        *out == VS_FORMAT_RUVECTOR || *out == VS_FORMAT_AUTO)
        return vs_error_set(VS_EINVALID,
                            "\"format\" must be binary, json or sqlite, not "
                            "'%s'",
                            text ? text : "");
    return 0;
}

int vs_api_codec(vs_codec_id *out, const char *text)
{
    if (!text || vs_codec_parse(out, text) < 0 || *out == VS_CODEC_AUTO)
        return vs_error_set(VS_EINVALID,
                            "\"compression\" must be none, gzip, brotli or "
                            "zstd, not '%s'",
                            text ? text : "");
    return 0;
}

int vs_api_level(int *out, vs_codec_id codec, const json_t *v)
{
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return vs_error_set(VS_EINVALID, "\"level\" must be an integer");
    json_int_t l = json_integer_value(v);
    const vs_codec_info *ci = vs_codec_info_of(codec);
    if (codec == VS_CODEC_NONE)
        return vs_error_set(VS_EINVALID,
                            "\"level\" needs a \"compression\" other than "
                            "none");
    if (l < ci->level_min || l > ci->level_max)
        return vs_error_set(VS_EINVALID,
                            "\"level\" for %s must be %d to %d, not %lld",
                            ci->name, ci->level_min, ci->level_max,
                            (long long)l);
    *out = (int)l;
    return 0;
}
