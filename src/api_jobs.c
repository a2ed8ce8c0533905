/*
 * api_jobs: the job table over HTTP.  It owns GET /v1/jobs, GET and DELETE
 * /v1/jobs/{id} and the Server-Sent Events stream GET /v1/jobs/{id}/events.
 *
 * Events.  Each listener is a streamed reply (vs_reply_stream) whose
 * producer thread renders the job's events (vs_job_render_events: a late
 * listener first gets the current state, then what follows; Last-Event-ID
 * replays from the ring) and sleeps in vs_reply_stream_idle between them.
 * The job wakes it through a watch callback that only kicks the stream: the
 * callback runs under the job's lock, so it never calls into the job.  A
 * comment line ": heartbeat" goes out after VECSNAP_SSE_HEARTBEAT_MS
 * milliseconds without a frame (read once, at the first stream; default
 * 15000, accepted 10..3600000) so that proxies keep the connection.  The
 * stream ends after the final event ("done", or "error" for a failed or
 * cancelled job).  Any number of listeners may follow one job; each holds
 * a reference to the job and one thread.
 *
 * The last event id comes from the Last-Event-ID header, or from the
 * `last_event_id` query argument for clients that cannot set headers (the
 * header wins); it must be a plain decimal number (400 otherwise).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

#define JSON_TYPE "application/json"
#define SSE_TYPE "text/event-stream"
#define HEARTBEAT_DEFAULT_MS 15000u
#define HEARTBEAT_MIN_MS 10u
#define HEARTBEAT_MAX_MS 3600000u
#define FRAMES_MAX ((size_t)4 << 20) /* one render of the ring */

static unsigned heartbeat_ms = HEARTBEAT_DEFAULT_MS;
static pthread_once_t heartbeat_once = PTHREAD_ONCE_INIT;

/* Strict decimal: digits only, no sign, no blanks, no overflow. */
static bool parse_u64(uint64_t *out, const char *s)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void read_heartbeat(void)
{
    const char *env = getenv("VECSNAP_SSE_HEARTBEAT_MS");
    uint64_t v;
    if (env && parse_u64(&v, env) && v >= HEARTBEAT_MIN_MS &&
        v <= HEARTBEAT_MAX_MS)
        heartbeat_ms = (unsigned)v;
}

/* The job named by {id}: a reference, or VS_ENOTFOUND. */
static int find_job(vs_job **out, vs_req *req)
{
    vs_jobs *jobs = vs_req_env(req)->jobs;
    const char *id = vs_req_param(req, "id", NULL);
    *out = jobs && id ? vs_jobs_get(jobs, id) : NULL;
    if (!*out)
        return vs_error_set(VS_ENOTFOUND, "no job '%s'", id ? id : "");
    return 0;
}

static int list_jobs(vs_req *req)
{
    vs_jobs *jobs = vs_req_env(req)->jobs;
    json_t *list = jobs ? vs_jobs_list_json(jobs) : json_array();
    return vs_reply_json(req, 200,
                         list ? json_pack("{s:o}", "jobs", list) : NULL);
}

static int get_job(vs_req *req)
{
    vs_job *job;
    int error = find_job(&job, req);
    if (error < 0)
        return error;
    json_t *rec = vs_job_to_json(job);
    vs_job_unref(job);
    return vs_reply_json(req, 200, rec ? json_pack("{s:o}", "job", rec) : NULL);
}

static int cancel_job(vs_req *req)
{
    vs_job *job;
    int error = find_job(&job, req);
    if (error < 0)
        return error;
    error = vs_job_cancel(job);
    if (error < 0) {
        vs_job_unref(job);
        if (error != VS_EINVALID)
            return error;
        /* finished already */
        return vs_reply_error_status(req, 409, "conflict", "%s",
                                     vs_error_last());
    }
    json_t *rec = vs_job_to_json(job);
    vs_job_unref(job);
    return vs_reply_json(req, 202, rec ? json_pack("{s:o}", "job", rec) : NULL);
}

/* ---- events -------------------------------------------------------------- */

typedef struct listener {
    vs_job *job; /* a reference */
    uint64_t last_id;
    bool head; /* HEAD: headers only */
} listener;

static void listener_free(void *p)
{
    listener *l = p;
    if (!l)
        return;
    if (l->job)
        vs_job_unref(l->job);
    free(l);
}

/* Under the job's lock: only wake the producer. */
static void wake(vs_job *job, void *payload)
{
    (void)job;
    vs_reply_stream_kick(payload);
}

/* Writes what is new; *finished once the final event went out. */
static int send_new(vs_stream *out, listener *l, vs_buf *frames, bool *finished,
                    bool *sent)
{
    vs_buf_reset(frames);
    int error = vs_job_render_events(frames, l->job, &l->last_id, finished);
    *sent = !error && frames->len > 0;
    if (*sent)
        error = vs_stream_write(out, frames->ptr, frames->len);
    return error;
}

static int produce_events(vs_stream *out, void *payload)
{
    listener *l = payload;
    if (l->head)
        return 0;
    vs_buf frames = VS_BUF_INIT(FRAMES_MAX);
    uint64_t handle;
    int error = vs_job_watch(l->job, wake, out, &handle);
    if (error < 0)
        goto done;
    bool finished = false, sent = false;
    error = send_new(out, l, &frames, &finished, &sent);
    /* Headers go out with the first bytes: a listener of a job with no
     * event yet learns at once that the stream is open. */
    if (!error && !sent && !finished)
        error = vs_stream_write(out, ": waiting\n\n", 11);
    uint64_t last_write = vs_api_now_ms();
    while (!error && !finished) {
        uint64_t waited = vs_api_now_ms() - last_write;
        unsigned left =
            waited >= heartbeat_ms ? 0 : heartbeat_ms - (unsigned)waited;
        if (left && vs_reply_stream_idle(out, left)) {
            error = vs_error_set(VS_ECANCELLED, "the listener went away");
            break;
        }
        error = send_new(out, l, &frames, &finished, &sent);
        if (!error && !sent && vs_api_now_ms() - last_write >= heartbeat_ms) {
            error = vs_stream_write(out, ": heartbeat\n\n", 13);
            sent = true;
        }
        if (sent)
            last_write = vs_api_now_ms();
    }
    vs_job_unwatch(l->job, handle);
done:
    vs_buf_dispose(&frames);
    /* A listener that left is not a failure of the stream's content. */
    return error == VS_ECANCELLED ? 0 : error;
}

/* Last-Event-ID (header) or ?last_event_id=; 0 when neither. */
static int last_event_id(uint64_t *out, vs_req *req)
{
    const char *q, *h = vs_req_header(req, "Last-Event-ID");
    int error = vs_req_query(&q, req, "last_event_id");
    *out = 0;
    if (error < 0)
        return error;
    if (h && !parse_u64(out, h))
        return vs_error_set(VS_EINVALID,
                            "Last-Event-ID '%.64s' is not a decimal event "
                            "number",
                            h);
    if (!h && q && !parse_u64(out, q))
        return vs_error_set(VS_EINVALID,
                            "last_event_id '%.64s' is not a decimal event "
                            "number",
                            q);
    return 0;
}

static int job_events(vs_req *req)
{
    pthread_once(&heartbeat_once, read_heartbeat);
    uint64_t last;
    vs_job *job = NULL;
    int error = last_event_id(&last, req);
    if (!error)
        error = find_job(&job, req);
    if (error < 0)
        return error;
    listener *l = calloc(1, sizeof(*l));
    if (!l) {
        vs_job_unref(job);
        return vs_error_oom();
    }
    l->job = job;
    l->last_id = last;
    l->head = strcmp(vs_req_method(req), "HEAD") == 0;
    if (vs_reply_header(req, "Cache-Control", "no-cache") < 0 ||
        vs_reply_header(req, "X-Accel-Buffering", "no") < 0) {
        listener_free(l);
        return VS_ERROR;
    }
    return vs_reply_stream(req, 200, SSE_TYPE, produce_events, l,
                           listener_free);
}

/* ---- routes -------------------------------------------------------------- */

const vs_route vs_api_job_routes[] = {
    {"GET", "/v1/jobs", list_jobs, 0, 0, NULL},
    {"GET", "/v1/jobs/{id}", get_job, 0, 0, NULL},
    {"DELETE", "/v1/jobs/{id}", cancel_job, 0, 0, NULL},
    {"GET", "/v1/jobs/{id}/events", job_events, 0, 0, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
