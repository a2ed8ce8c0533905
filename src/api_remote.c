/*
 * api_remote: remote storage (remote.h) over HTTP.
 *
 *   GET    /v1/remote/snapshots                 the remote manifests
 *   GET    /v1/remote/snapshots/{id}            one of them
 *   POST   /v1/snapshots/{id}/upload            job "upload"
 *   POST   /v1/remote/snapshots/{id}/fetch      job "fetch"
 *   POST   /v1/remote/snapshots/{id}/restore    job "restore" (store class)
 *   DELETE /v1/remote/snapshots/{id}[?cascade=true]   job "delete"
 *
 * Without remote storage configured every route answers 400 (invalid)
 * "remote storage is not configured ...": the request asks for something
 * this server was not set up to do.  A failure of the storage itself is
 * 502 (upstream_error) with S3's code and message.
 *
 * The two GET routes answer at once from the client's point of view, but
 * talking to the storage may take long (a slow or unreachable server is
 * retried), so they never run on a polling thread: the connection is
 * suspended while a thread of its own makes the call, then resumed to
 * answer.  That thread and the request share a small reference-counted
 * record; the request forgets its end when it goes away first.
 *
 * Job results:
 *   upload   {"remote": remote manifest}
 *   fetch    {"snapshot": local manifest}; checked by size and SHA-256
 *            (memory stays flat), with "verify": true loaded in full too
 *   restore  {"restore": {"snapshot": id, "mode", "collections", "records",
 *             "seq"}, "fetched": bool}
 *   delete   {"deleted": [ids, newest first]}
 * A restore verifies the fetched snapshot by loading it in full before the
 * switch; when that fails (wrong key, damaged data) a snapshot the job
 * itself fetched is removed again, so nothing of it stays behind.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"

#define MSG_MAX 1024

/* ---- helpers ------------------------------------------------------------ */

static int remote_of(vs_remote **out, vs_req *req)
{
    *out = vs_api_app_of(req)->remote;
    if (!*out)
        return vs_error_set(VS_EINVALID,
                            "remote storage is not configured (set "
                            "s3_endpoint and s3_bucket)");
    return 0;
}

static int id_param(const char **out, vs_req *req)
{
    *out = vs_req_param(req, "id", NULL);
    if (!*out)
        return vs_error_set(VS_EINVALID, "no snapshot id");
    return vs_snapshot_check_id(*out);
}

/* The manifests as a JSON array, newest first. */
static json_t *manifests_json(const vs_snapshot *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = n; arr && i-- > 0;) {
        json_t *m = vs_snapshot_to_json(&v[i]);
        if (!m || json_array_append_new(arr, m) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* ---- reads on a thread of their own ------------------------------------- */

typedef struct call {
    pthread_mutex_t mu;
    int refs;         /* the request's and the thread's */
    vs_req *req;      /* NULL once the request has ended */
    bool done;
    vs_remote *remote;
    char id[VS_SNAPSHOT_ID_LEN + 1]; /* "": the list */
    int error;
    char message[MSG_MAX];
    json_t *result;
} call;

static pthread_mutex_t calls_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t calls_idle = PTHREAD_COND_INITIALIZER;
static unsigned calls_running;

static void call_unref(call *c)
{
    pthread_mutex_lock(&c->mu);
    int left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left)
        return;
    json_decref(c->result);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The request's end of the record (its state's free function). */
static void call_release(void *p)
{
    call *c = p;
    pthread_mutex_lock(&c->mu);
    c->req = NULL;
    pthread_mutex_unlock(&c->mu);
    call_unref(c);
}

static json_t *call_work(call *c)
{
    vs_snapshot *v = NULL;
    size_t n = 0;
    json_t *j = NULL;
    if (c->id[0]) {
        vs_snapshot s;
        if (vs_remote_get(&s, c->remote, c->id) < 0)
            return NULL;
        j = vs_snapshot_to_json(&s);
        vs_snapshot_dispose(&s);
        return j ? json_pack("{s:o}", "snapshot", j) : NULL;
    }
    if (vs_remote_list(&v, &n, c->remote) < 0)
        return NULL;
    j = manifests_json(v, n);
    vs_snapshot_list_free(v, n);
    return j ? json_pack("{s:o}", "snapshots", j) : NULL;
}

static void *call_thread(void *p)
{
    call *c = p;
    json_t *result = call_work(c);
    pthread_mutex_lock(&c->mu);
    c->result = result;
    if (!result) {
        c->error = vs_error_last_code() ? vs_error_last_code() : VS_ENOMEM;
        snprintf(c->message, sizeof(c->message), "%s",
                 vs_error_last()[0] ? vs_error_last() : "out of memory");
    }
    c->done = true;
    if (c->req)
        vs_req_resume(c->req);
    pthread_mutex_unlock(&c->mu);
    call_unref(c);
    pthread_mutex_lock(&calls_mu);
    if (--calls_running == 0)
        pthread_cond_broadcast(&calls_idle);
    pthread_mutex_unlock(&calls_mu);
    return NULL;
}

void vs_api_remote_drain(void)
{
    pthread_mutex_lock(&calls_mu);
    while (calls_running)
        pthread_cond_wait(&calls_idle, &calls_mu);
    pthread_mutex_unlock(&calls_mu);
}

static int answer_call(vs_req *req, call *c)
{
    pthread_mutex_lock(&c->mu);
    bool done = c->done;
    json_t *result = c->result;
    c->result = NULL;
    pthread_mutex_unlock(&c->mu);
    if (!done) /* resumed by a shutdown */
        return vs_reply_error_status(req, 503, "unavailable",
                                     "the server is shutting down");
    if (!result)
        return vs_error_set(c->error, "%s", c->message);
    return vs_reply_json(req, 200, result);
}

/* Run the read for `id` ("" for the list) on a thread; answer when it is
 * done. */
static int offload(vs_req *req, const char *id)
{
    call *c = vs_req_state(req);
    if (c)
        return answer_call(req, c);
    vs_remote *r;
    int error = remote_of(&r, req);
    if (error < 0)
        return error;
    if (!(c = calloc(1, sizeof(*c))))
        return vs_error_oom();
    pthread_mutex_init(&c->mu, NULL);
    c->refs = 1;
    c->req = req;
    c->remote = r;
    snprintf(c->id, sizeof(c->id), "%s", id);
    vs_req_set_state(req, c, call_release);
    if (vs_req_stopping(req) || vs_req_suspend(req) < 0)
        return vs_reply_error_status(req, 503, "unavailable",
                                     "the server is shutting down");
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    c->refs++;
    pthread_mutex_lock(&calls_mu);
    calls_running++;
    pthread_mutex_unlock(&calls_mu);
    if (pthread_create(&t, &attr, call_thread, c) != 0) {
        pthread_mutex_lock(&calls_mu);
        calls_running--;
        pthread_mutex_unlock(&calls_mu);
        c->refs--;
        c->done = true;
        c->error = VS_ENOMEM;
        snprintf(c->message, sizeof(c->message), "cannot start a thread");
        vs_req_resume(req);
    }
    pthread_attr_destroy(&attr);
    return VS_HTTP_AGAIN;
}

static int get_list(vs_req *req)
{
    return offload(req, "");
}

static int get_one(vs_req *req)
{
    const char *id = NULL;
    if (!vs_req_state(req)) {
        int error = id_param(&id, req);
        if (error < 0)
            return error;
    }
    return offload(req, id ? id : "");
}

/* ---- jobs --------------------------------------------------------------- */

typedef struct remote_job {
    vs_remote *remote;
    vs_catalog *cat;
    vs_ops *ops;
    char id[VS_SNAPSHOT_ID_LEN + 1];
    bool cascade;
    bool full_check; /* fetch: load it in full too */
    vs_ops_mode mode;
    json_t *body; /* restore: its "collections", checked */
    bool has_until; /* restore: a point-in-time one, over the remote log */
    vs_ops_until until;
} remote_job;

static void remote_job_free(void *p)
{
    remote_job *j = p;
    if (j)
        json_decref(j->body);
    free(j);
}

/* The job's result {key: manifest of *s}; *s is disposed of. */
static int snapshot_result(vs_job *job, const char *key, vs_snapshot *s)
{
    json_t *j = vs_snapshot_to_json(s);
    vs_snapshot_dispose(s);
    return vs_api_job_result(job, j ? json_pack("{s:o}", key, j) : NULL);
}

static int run_upload(vs_job *job, void *payload)
{
    remote_job *p = payload;
    vs_snapshot m;
    int error = vs_remote_upload(&m, p->remote, p->cat, p->id,
                                 vs_job_progress_cb, job);
    return error < 0 ? error : snapshot_result(job, "remote", &m);
}

static int run_fetch(vs_job *job, void *payload)
{
    remote_job *p = payload;
    vs_snapshot s;
    int error = vs_remote_fetch(&s, p->remote, p->cat, p->id, p->full_check,
                                vs_job_progress_cb, job);
    return error < 0 ? error : snapshot_result(job, "snapshot", &s);
}


/* A snapshot this job fetched and could not restore goes again. */
static void drop_fetched(remote_job *p, int error)
{
    char msg[MSG_MAX];
    if (error != VS_EKEY && error != VS_ECORRUPT && error != VS_EVERSION)
        return;
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    if (vs_catalog_delete(p->cat, p->id) < 0)
        vs_log(VS_LOG_WARN, "remote restore: cannot remove snapshot %s: %s",
               p->id, vs_error_last());
    else
        vs_log(VS_LOG_INFO, "remote restore: snapshot %s removed again "
               "(%s)", p->id, msg);
    vs_error_set(error, "%s", msg);
}

/* Remove a directory of plain files (fetched log segments). */
static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0)
            vs_log(VS_LOG_WARN, "cannot remove %s/%s", path, e->d_name);
    }
    if (d)
        closedir(d);
    if (rmdir(path) < 0)
        vs_log(VS_LOG_WARN, "cannot remove %s", path);
}

/* The remote log from snapshot seq `after` on, into a fresh directory
 * under the catalog's tmp (*dir, malloc'd): a point-in-time restore from
 * remote storage replays the log of the server that took the snapshot,
 * never this server's own. */
static int fetch_log(char **dir, remote_job *p, uint64_t after)
{
    const char *tmp = vs_catalog_tmpdir(p->cat);
    size_t n = strlen(tmp) + sizeof("/pitr-XXXXXX");
    char *path = malloc(n);
    if (!path)
        return vs_error_oom();
    snprintf(path, n, "%s/pitr-XXXXXX", tmp);
    if (!mkdtemp(path)) {
        int error = vs_error_set_os(VS_EIO, "cannot create a directory in "
                                    "'%s'", tmp);
        free(path);
        return error;
    }
    size_t got = 0;
    int error = vs_remote_fetch_wal(&got, p->remote, path, after);
    if (error < 0) {
        remove_dir(path);
        free(path);
        return error;
    }
    vs_log(VS_LOG_INFO, "remote restore: %zu log segments fetched for a "
           "point-in-time restore of %s", got, p->id);
    *dir = path;
    return 0;
}

static int run_restore(vs_job *job, void *payload)
{
    remote_job *p = payload;
    vs_snapshot s;
    vs_ops_result res;
    const char **cols = NULL;
    size_t ncols = 0;
    bool was_local = vs_catalog_get(&s, p->cat, p->id) == 0;
    if (was_local)
        vs_snapshot_dispose(&s);
    vs_error_clear();
    int error = vs_remote_fetch(&s, p->remote, p->cat, p->id, false,
                                vs_job_progress_cb, job);
    if (error < 0)
        return error;
    uint64_t snap_seq = s.seq;
    vs_snapshot_dispose(&s);
    error = vs_api_collections(&cols, &ncols, p->body, "collections");
    char *logs = NULL;
    if (!error && p->has_until)
        error = fetch_log(&logs, p, snap_seq);
    p->until.log_dir = logs;
    if (!error)
        error = vs_ops_restore_until(&res, p->ops, p->id, p->mode, cols,
                                     ncols, p->has_until ? &p->until : NULL,
                                     vs_job_progress_cb, job);
    if (logs)
        remove_dir(logs);
    free(logs);
    free(cols);
    if (error < 0) {
        if (!was_local)
            drop_fetched(p, error);
        return error;
    }
    /* vs_api_restore_json's reply, and "fetched": bool */
    json_t *result = vs_api_restore_json(p->id, &res);
    vs_ops_result_dispose(&res);
    if (result && json_object_set_new(result, "fetched",
                                      json_boolean(!was_local)) < 0) {
        json_decref(result);
        result = NULL;
    }
    return vs_api_job_result(job, result);
}

static int run_delete(vs_job *job, void *payload)
{
    remote_job *p = payload;
    char (*ids)[VS_SNAPSHOT_ID_LEN + 1] = NULL;
    size_t n = 0;
    int error = vs_remote_delete_ids(&ids, &n, p->remote, p->id, p->cascade);
    if (error < 0)
        return error;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(ids[i])) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(ids);
    json_t *result = arr ? json_pack("{s:o}", "deleted", arr) : NULL;
    return vs_api_job_result(job, result);
}

/* ---- handlers ----------------------------------------------------------- */

/* The payload every remote job starts from: remote, catalog, the id of the
 * path; the body parsed as an object and its keys checked against
 * keys[0..nkeys). */
static int job_payload(remote_job **out, json_t **body, vs_req *req,
                       const char *const *keys, size_t nkeys)
{
    const char *id = NULL;
    vs_remote *r = NULL;
    remote_job *p = NULL;
    *out = NULL;
    *body = NULL;
    int error = remote_of(&r, req);
    if (!error)
        error = id_param(&id, req);
    if (!error && !vs_req_env(req)->catalog)
        error = vs_error_set(VS_EIO, "no data directory is configured");
    if (!error)
        error = vs_api_body_object(body, req);
    if (!error)
        error = vs_api_check_keys(*body, keys, nkeys);
    if (!error && !(p = calloc(1, sizeof(*p))))
        error = vs_error_oom();
    if (error < 0) {
        json_decref(*body);
        *body = NULL;
        return error;
    }
    p->remote = r;
    p->cat = vs_req_env(req)->catalog;
    p->ops = vs_api_app_of(req)->ops;
    snprintf(p->id, sizeof(p->id), "%s", id);
    *out = p;
    return 0;
}

static int post_upload(vs_req *req)
{
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    remote_job *p = NULL;
    json_t *body = NULL;
    vs_snapshot s;
    int error = job_payload(&p, &body, req, NULL, 0);
    json_decref(body);
    if (!error)
        error = vs_catalog_get(&s, p->cat, p->id); /* local, or 404 now */
    if (error < 0) {
        remote_job_free(p);
        return error;
    }
    vs_snapshot_dispose(&s);
    return vs_api_job(req, "upload", NULL, run_upload, p, remote_job_free,
                      200);
}

static int post_fetch(vs_req *req)
{
    static const char *const keys[] = {"verify"};
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    remote_job *p = NULL;
    json_t *body = NULL;
    int error = job_payload(&p, &body, req, keys, 1);
    json_t *v = body ? json_object_get(body, "verify") : NULL;
    if (!error && v && !json_is_null(v) && !json_is_boolean(v))
        error = vs_error_set(VS_EINVALID, "\"verify\" must be true or false");
    if (!error)
        p->full_check = json_is_true(v);
    json_decref(body);
    if (error < 0) {
        remote_job_free(p);
        return error;
    }
    return vs_api_job(req, "fetch", NULL, run_fetch, p, remote_job_free,
                      200);
}

static int post_restore(vs_req *req)
{
    static const char *const keys[] = {"mode", "collections", "until",
                                       "until_seq"};
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    remote_job *p = NULL;
    json_t *body = NULL;
    const char *mode = NULL, **cols = NULL;
    size_t ncols = 0;
    int error = job_payload(&p, &body, req, keys, 4);
    if (!error && body)
        error = vs_api_until(&p->until, &p->has_until, body);
    if (!error && p->has_until && !p->ops->wal)
        error = vs_error_set(VS_EINVALID,
                             "a point-in-time restore replays the "
                             "write-ahead log, which is off (wal_fsync off)");
    if (!error && !p->ops)
        error = vs_error_set(VS_EIO, "the server is not ready");
    if (!error)
        error = vs_api_opt_string(&mode, body, "mode");
    if (!error && mode && strcmp(mode, "merge") == 0)
        p->mode = VS_OPS_MERGE;
    else if (!error && mode && strcmp(mode, "replace") != 0)
        error = vs_error_set(VS_EINVALID,
                             "\"mode\" must be replace or merge, not "
                             "'%.64s'", mode);
    if (!error) /* checked now; read again in the job */
        error = vs_api_collections(&cols, &ncols, body, "collections");
    free(cols);
    if (error < 0) {
        json_decref(body);
        remote_job_free(p);
        return error;
    }
    p->body = body;
    return vs_api_job(req, "restore", VS_API_CONFLICT_STORE, run_restore, p,
                      remote_job_free, 200);
}

static int delete_remote(vs_req *req)
{
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    remote_job *p = NULL;
    json_t *body = NULL;
    bool cascade = false;
    int error = job_payload(&p, &body, req, NULL, 0);
    json_decref(body);
    if (!error)
        error = vs_api_query_bool(&cascade, req, "cascade");
    if (error < 0) {
        remote_job_free(p);
        return error;
    }
    p->cascade = cascade;
    return vs_api_job(req, "delete", NULL, run_delete, p, remote_job_free,
                      200);
}

/* ---- routes ------------------------------------------------------------- */

const vs_route vs_api_remote_routes[] = {
    {"GET", "/v1/remote/snapshots", get_list, 0, 0, NULL},
    {"GET", "/v1/remote/snapshots/{id}", get_one, 0, 0, NULL},
    {"DELETE", "/v1/remote/snapshots/{id}", delete_remote, 0, 0, NULL},
    {"POST", "/v1/remote/snapshots/{id}/fetch", post_fetch, VS_ROUTE_BODY, 0,
     NULL},
    {"POST", "/v1/remote/snapshots/{id}/restore", post_restore,
     VS_ROUTE_BODY | VS_ROUTE_NEEDS_STORE, 0, NULL},
    {"POST", "/v1/snapshots/{id}/upload", post_upload, VS_ROUTE_BODY, 0,
     NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
