/*
 * http_req: the life of one request, from its headers to its completion.
 * It owns the request context (route match, id, start time, body buffer,
 * headers for the reply, handler state), the dispatcher that MHD's access
 * callback runs (early rejections, body collection, draining after an
 * error, the final call), the body pipe that feeds a streaming consumer
 * thread, and the queueing of the one reply.
 *
 * MHD's call sequence: a first call with the headers only, calls with body
 * chunks (each consumed in full by setting *upload_data_size to 0, or in
 * part while the connection is suspended), then a final call with size 0.
 * A reply may be queued on the first call (MHD then discards the body and
 * closes the connection after the reply: that is how 404/405/413/415/503
 * are sent before any body is read) or on the final call; in between, an
 * error decided while the body arrives is remembered, the rest of the body
 * is drained, and the error goes out on the final call.
 *
 * The body pipe: a ring of PIPE_CAP bytes between the polling thread
 * (producer) and the consumer thread.  The producer never blocks: when the
 * ring is full it keeps the rest of the chunk unconsumed and suspends the
 * connection; the consumer resumes it once half the ring is free.  At the
 * end the producer suspends until the consumer returns.  Both decisions are
 * taken under the pipe's mutex, so a connection is resumed only after it
 * was suspended.  Lock order: pipe, then the server's suspension lock.
 */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "checksum.h"
#include "http.h"
#include "log.h"

#define PIPE_CAP ((size_t)256 << 10)
#define DRAIN_MAX ((uint64_t)64 << 20) /* drained after an error, at least */
#define CONSUMERS_MAX 16               /* streaming consumers at once */
#define HEADERS_MAX 8

typedef struct body_pipe {
    vs_stream base; /* the consumer's reader; must stay first */
    vs_req *req;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *ring;
    size_t head, len;
    bool eof;     /* the body is complete */
    bool aborted; /* the request is going away: reads fail */
    bool done;    /* consume returned */
    bool waiting; /* the producer suspended itself */
    bool started; /* the thread exists and must be joined */
    pthread_t thread;
    vs_consume_fn fn;
    void *payload;
    int result;
    char *result_msg;
} body_pipe;

typedef struct query_str {
    struct query_str *next;
    char s[];
} query_str;

struct vs_req {
    vs_http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url; /* MHD's, valid for the request */
    char id[32];
    uint64_t start_ns;
    vs_route_match m;
    const vs_route *route;
    unsigned status;
    bool replied;
    bool failing; /* an error reply waits for the final call */
    int fail_code;
    unsigned fail_status;
    char fail_word[24];
    char fail_msg[512];
    uint64_t body_cap, body_bytes, drained;
    uint64_t clen; /* Content-Length, when clen_known */
    bool clen_known;
    vs_buf body;
    char ctype[64];
    bool ctype_done;
    bool has_body; /* Content-Length > 0 or chunked */
    char *hnames[HEADERS_MAX], *hvalues[HEADERS_MAX];
    size_t nheaders;
    query_str *queries;
    void *state;
    void (*state_free)(void *);
    body_pipe *pipe;
    vs_reply_pipe *reply_pipe; /* a streamed reply (http_stream.c) */
};

static _Atomic uint64_t next_serial;
static _Atomic uint32_t id_prefix;
static _Atomic int consumers;

/* ---- accessors ----------------------------------------------------------- */

vs_http_env *vs_req_env(const vs_req *req)
{
    return vs_http_server__env(req->srv);
}

vs_http_server *vs_req_server(const vs_req *req)
{
    return req->srv;
}

const vs_route *vs_req_route(const vs_req *req)
{
    return req->route;
}

const char *vs_req_id(const vs_req *req)
{
    return req->id;
}

const char *vs_req_method(const vs_req *req)
{
    return req->method;
}

const char *vs_req_path(const vs_req *req)
{
    return req->url;
}

struct MHD_Connection *vs_req__connection(const vs_req *req)
{
    return req->conn;
}

const char *vs_req_param(const vs_req *req, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->m.nparams; i++) {
        const char *pn = req->m.names[i];
        if (strncmp(pn, name, n) == 0 && pn[n] == '}') {
            if (len)
                *len = req->m.lens[i];
            return req->m.values[i];
        }
    }
    return NULL;
}

const char *vs_req_header(const vs_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int vs_req_query(const char **out, vs_req *req, const char *name)
{
    *out = NULL;
    const char *raw =
        MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!raw)
        return 0;
    size_t n = strlen(raw), len;
    query_str *q = malloc(sizeof(*q) + n + 1);
    if (!q)
        return vs_error_oom();
    int error = vs_http__decode(q->s, n, &len, raw, n, true);
    if (error < 0) {
        char why[128];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        free(q);
        return vs_error_set(VS_EINVALID, "query parameter '%s': %s", name, why);
    }
    q->next = req->queries;
    req->queries = q;
    *out = q->s;
    return 0;
}

const char *vs_req_content_type(vs_req *req)
{
    if (req->ctype_done)
        return req->ctype;
    req->ctype_done = true;
    const char *v = vs_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = 0;
    while (v && *v == ' ')
        v++;
    while (v && v[n] && v[n] != ';' && v[n] != ' ' &&
           n + 1 < sizeof(req->ctype)) {
        char c = v[n];
        req->ctype[n++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    req->ctype[n] = '\0';
    return req->ctype;
}

bool vs_req_stopping(const vs_req *req)
{
    return atomic_load(&vs_req_env(req)->state) == VS_HTTP_STOPPING;
}

const vs_buf *vs_req_body(const vs_req *req)
{
    return &req->body;
}

bool vs_req_body_length(const vs_req *req, uint64_t *len)
{
    *len = req->clen;
    return req->clen_known;
}

uint64_t vs_req_body_bytes(const vs_req *req)
{
    return req->body_bytes;
}

int vs_req_json(json_t **out, const vs_req *req)
{
    *out = NULL;
    if (req->body.len == 0)
        return vs_error_set(VS_EINVALID,
                            "request body is empty; a JSON object is "
                            "expected");
    json_error_t jerr;
    json_t *j =
        json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return vs_error_set(VS_EINVALID, "body: %s at line %d column %d",
                            jerr.text, jerr.line, jerr.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return vs_error_set(VS_EINVALID, "body: a JSON object is expected");
    }
    *out = j;
    return 0;
}

void vs_req_set_state(vs_req *req, void *state, void (*free_fn)(void *))
{
    if (req->state_free)
        req->state_free(req->state);
    req->state = state;
    req->state_free = free_fn;
}

void *vs_req_state(const vs_req *req)
{
    return req->state;
}

int vs_req_suspend(vs_req *req)
{
    return vs_http_server__suspend(req->srv, req);
}

void vs_req_resume(vs_req *req)
{
    vs_http_server__resume(req->srv, req);
}

/* ---- replies ------------------------------------------------------------- */

int vs_reply_header(vs_req *req, const char *name, const char *value)
{
    if (req->nheaders == HEADERS_MAX)
        return vs_error_set(VS_ETOOBIG, "more than %d reply headers",
                            HEADERS_MAX);
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return vs_error_oom();
    }
    req->hnames[req->nheaders] = n;
    req->hvalues[req->nheaders++] = v;
    return 0;
}

int vs_req__queue(vs_req *req, unsigned status, struct MHD_Response *resp,
                  const char *content_type)
{
    if (req->replied) {
        MHD_destroy_response(resp);
        vs_log(VS_LOG_ERROR, "req %s: a second reply", req->id);
        return VS_ERROR;
    }
    bool ok =
        MHD_add_response_header(resp, "X-Request-Id", req->id) == MHD_YES &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store") == MHD_YES;
    if (content_type)
        ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                           content_type) == MHD_YES;
    for (size_t i = 0; ok && i < req->nheaders; i++) {
        /* A handler's Cache-Control replaces the default no-store. */
        if (strcasecmp(req->hnames[i], MHD_HTTP_HEADER_CACHE_CONTROL) == 0)
            MHD_del_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                    "no-store");
        ok = MHD_add_response_header(resp, req->hnames[i], req->hvalues[i]) ==
             MHD_YES;
    }
    ok = ok && MHD_queue_response(req->conn, status, resp) == MHD_YES;
    MHD_destroy_response(resp);
    req->replied = true;
    req->status = ok ? status : 0;
    if (!ok)
        vs_log(VS_LOG_ERROR, "req %s: cannot queue the reply", req->id);
    return ok ? 0 : VS_ERROR;
}

int vs_req__send(vs_req *req, unsigned status, void *body, size_t len,
                 void (*free_fn)(void *), const char *content_type)
{
    struct MHD_Response *resp = NULL;
    if (!req->replied) {
        if (free_fn)
            resp = MHD_create_response_from_buffer_with_free_callback(len, body,
                                                                      free_fn);
        else
            resp = MHD_create_response_from_buffer(
                len, body ? body : (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        if (free_fn)
            free_fn(body);
        vs_log(VS_LOG_ERROR, "req %s: cannot build a reply", req->id);
        return VS_ERROR;
    }
    return vs_req__queue(req, status, resp, content_type);
}

void vs_req__set_reply_pipe(vs_req *req, vs_reply_pipe *p)
{
    req->reply_pipe = p;
}

/* Remember an error for the final call (the first one wins). */
static void fail_later(vs_req *req, int code, unsigned status, const char *word)
{
    if (req->failing)
        return;
    req->failing = true;
    req->fail_code = code;
    req->fail_status = status;
    snprintf(req->fail_word, sizeof(req->fail_word), "%s", word ? word : "");
    snprintf(req->fail_msg, sizeof(req->fail_msg), "%s", vs_error_last());
}

static int reply_failure(vs_req *req)
{
    if (req->fail_status)
        return vs_reply_error_status(req, req->fail_status, req->fail_word,
                                     "%s", req->fail_msg);
    vs_error_set(req->fail_code, "%s", req->fail_msg);
    return vs_reply_error(req, req->fail_code);
}

/* ---- the body pipe ------------------------------------------------------- */

static int pipe_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    body_pipe *p = (body_pipe *)s;
    char *dst = data;
    size_t k = 0;
    int error = 0;
    pthread_mutex_lock(&p->mu);
    while (k < n) {
        if (p->aborted) {
            error = vs_error_set(VS_ECANCELLED, "request body cancelled");
            break;
        }
        if (p->len == 0 && p->eof)
            break;
        if (p->len == 0) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        size_t take = p->len < n - k ? p->len : n - k;
        size_t first = PIPE_CAP - p->head < take ? PIPE_CAP - p->head : take;
        memcpy(dst + k, p->ring + p->head, first);
        memcpy(dst + k + first, p->ring, take - first);
        p->head = (p->head + take) % PIPE_CAP;
        p->len -= take;
        k += take;
        if (p->waiting && !p->eof && p->len <= PIPE_CAP / 2) {
            p->waiting = false;
            vs_req_resume(p->req);
        }
    }
    pthread_mutex_unlock(&p->mu);
    *got = k;
    return error;
}

static void pipe_close(vs_stream *s)
{
    body_pipe *p = (body_pipe *)s;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p->result_msg);
}

static const vs_stream_ops pipe_ops = {
    .name = "request body", .read = pipe_read, .close = pipe_close};

static void *pipe_main(void *arg)
{
    body_pipe *p = arg;
    int result = p->fn(p->req, &p->base, p->payload);
    char *msg = result < 0 ? strdup(vs_error_last()) : NULL;
    pthread_mutex_lock(&p->mu);
    p->done = true;
    p->result = result;
    p->result_msg = msg;
    if (p->waiting) {
        p->waiting = false;
        vs_req_resume(p->req);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int vs_req_body_stream(vs_req *req, vs_consume_fn consume, void *payload)
{
    if (req->pipe)
        return vs_error_set(VS_EINVALID, "the body is already streamed");
    if (atomic_fetch_add(&consumers, 1) >= CONSUMERS_MAX) {
        atomic_fetch_sub(&consumers, 1);
        return vs_error_set(VS_EBUSY, "too many uploads in progress (%d)",
                            CONSUMERS_MAX);
    }
    body_pipe *p = calloc(1, sizeof(*p));
    char *ring = malloc(PIPE_CAP);
    if (!p || !ring) {
        free(p);
        free(ring);
        atomic_fetch_sub(&consumers, 1);
        return vs_error_oom();
    }
    vs_stream__init(&p->base, &pipe_ops, NULL, false);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->ring = ring;
    p->req = req;
    p->fn = consume;
    p->payload = payload;
    if (pthread_create(&p->thread, NULL, pipe_main, p) != 0) {
        vs_stream_free(&p->base);
        atomic_fetch_sub(&consumers, 1);
        return vs_error_set(VS_EBUSY, "cannot start an upload thread");
    }
    p->started = true;
    req->pipe = p;
    return 0;
}

int vs_req_body_result(const vs_req *req)
{
    const body_pipe *p = req->pipe;
    if (!p)
        return 0;
    if (p->result < 0)
        vs_error_set(p->result, "%s", p->result_msg ? p->result_msg : "");
    return p->result;
}

/* Stops the consumer (if it still runs) and waits for its thread. */
static void pipe_stop(body_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    if (!p->done)
        p->aborted = true;
    p->waiting = false;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->started) {
        pthread_join(p->thread, NULL);
        p->started = false;
        atomic_fetch_sub(&consumers, 1);
    }
}

/* Producer: copies what fits; suspends when the ring is full.  The rest of
 * the chunk is handed back to MHD, which offers it again after resume. */
static size_t pipe_feed(vs_req *req, const char *data, size_t n)
{
    body_pipe *p = req->pipe;
    size_t used = n;
    pthread_mutex_lock(&p->mu);
    p->waiting = false; /* we run, so we are not suspended */
    if (!p->done && !p->aborted) {
        size_t room = PIPE_CAP - p->len, tail = (p->head + p->len) % PIPE_CAP;
        used = n < room ? n : room;
        size_t first = PIPE_CAP - tail < used ? PIPE_CAP - tail : used;
        memcpy(p->ring + tail, data, first);
        memcpy(p->ring, data + first, used - first);
        p->len += used;
        pthread_cond_broadcast(&p->cv);
        if (used < n) {
            if (vs_req_suspend(req) == 0) {
                p->waiting = true;
            } else { /* stopping: the consumer ends, the rest is drained */
                p->aborted = true;
                pthread_cond_broadcast(&p->cv);
                used = n;
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    return used;
}

/* Producer at the end: true when the consumer has returned; otherwise the
 * connection is suspended until it does. */
static bool pipe_finish(vs_req *req)
{
    body_pipe *p = req->pipe;
    bool done;
    pthread_mutex_lock(&p->mu);
    p->waiting = false;
    p->eof = true;
    pthread_cond_broadcast(&p->cv);
    done = p->done;
    if (!done) {
        if (vs_req_suspend(req) == 0)
            p->waiting = true;
        else
            done = true; /* stopping: cancel below */
    }
    pthread_mutex_unlock(&p->mu);
    if (done)
        pipe_stop(p);
    return done;
}

/* ---- dispatching --------------------------------------------------------- */

static int req_new(vs_req **out, vs_http_server *srv,
                   struct MHD_Connection *conn, const char *url,
                   const char *method)
{
    vs_req *req = calloc(1, sizeof(*req));
    if (!req)
        return vs_error_oom();
    req->srv = srv;
    req->conn = conn;
    req->url = url;
    req->method = method;
    req->start_ns = vs_http__now_ns();
    uint32_t prefix = atomic_load(&id_prefix);
    if (!prefix) {
        if (getrandom(&prefix, sizeof(prefix), 0) != sizeof(prefix))
            prefix = (uint32_t)req->start_ns;
        prefix |= 1u;
        atomic_store(&id_prefix, prefix);
    }
    snprintf(req->id, sizeof(req->id), "%08x-%06llx", (unsigned)prefix,
             (unsigned long long)(atomic_fetch_add(&next_serial, 1) + 1));
    req->body = (vs_buf)VS_BUF_INIT(0);
    *out = req;
    return 0;
}

/* Content-Length (UINT64_MAX when unknown: chunked); false if malformed. */
static bool content_length(const vs_req *req, uint64_t *len, bool *present)
{
    const char *cl = vs_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = vs_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    *present = cl || te;
    *len = te ? UINT64_MAX : 0;
    if (!cl || te)
        return true;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno || end == cl || *end || cl[0] == '-')
        return false;
    *len = v;
    *present = v > 0;
    return true;
}

/* A refusal decided on the first call: with a body on its way it is sent
 * at once (MHD then skips the body and closes the connection); without
 * one it waits for the final call, which keeps the connection alive. */
static int refuse(vs_req *req, int code, unsigned status, const char *word)
{
    fail_later(req, code, status, word);
    return req->has_body ? reply_failure(req) : 0;
}

static int body_checks(vs_req *req)
{
    const vs_route *rt = req->route;
    vs_http_env *env = vs_req_env(req);
    uint64_t len;
    bool present;
    content_length(req, &len, &present);
    req->clen_known = len != UINT64_MAX;
    req->clen = req->clen_known ? len : 0;
    if (!(rt->flags & VS_ROUTE_BODY)) {
        req->body_cap = 0;
        if (!present)
            return 0;
        vs_error_set(VS_ETOOBIG, "%s %s takes no request body", rt->method,
                     rt->pattern);
        return refuse(req, 0, 413, "too_large");
    }
    req->body_cap = rt->flags & VS_ROUTE_UPLOAD ? env->max_body
                    : rt->max_body              ? rt->max_body
                                                : VS_HTTP_JSON_MAX;
    if (present && len != UINT64_MAX && len > req->body_cap) {
        vs_error_set(
            VS_ETOOBIG, "request body of %llu bytes exceeds the limit of %llu",
            (unsigned long long)len, (unsigned long long)req->body_cap);
        return refuse(req, 0, 413, "too_large");
    }
    const char *enc = vs_req_header(req, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (!(rt->flags & VS_ROUTE_ENCODED) && enc && strcasecmp(enc, "identity")) {
        vs_error_set(VS_EINVALID, "Content-Encoding '%s' is not accepted here",
                     enc);
        return refuse(req, 0, 415, "unsupported_media_type");
    }
    const char *ct = vs_req_content_type(req);
    if (!(rt->flags & VS_ROUTE_ANY_TYPE) && present && ct[0] &&
        strcmp(ct, "application/json") != 0) {
        vs_error_set(VS_EINVALID,
                     "Content-Type '%s' is not accepted; send "
                     "application/json",
                     ct);
        return refuse(req, 0, 415, "unsupported_media_type");
    }
    req->body.max =
        (size_t)(req->body_cap < VS_HTTP_JSON_MAX * 64 ? req->body_cap
                                                       : VS_HTTP_JSON_MAX * 64);
    return 0;
}

/* One token against one configured token ("" never matches).  The
 * digests are compared, in constant time, so neither the length nor the
 * content of a token leaks through timing. */
static bool token_is(const char *given, size_t n, const char *want)
{
    uint8_t a[VS_SHA256_LEN], b[VS_SHA256_LEN];
    if (!want[0] || vs_sha256_buffer(a, given, n) < 0 ||
        vs_sha256_buffer(b, want, strlen(want)) < 0)
        return false;
    return vs_sha256_equal(a, b);
}

/* Bearer tokens: see vs_http_env.  0, or a refusal. */
static int authorize(vs_req *req)
{
    const vs_http_env *env = vs_req_env(req);
    if ((!env->token_read[0] && !env->token_admin[0]) ||
        (req->route->flags & VS_ROUTE_PUBLIC))
        return 0;
    const char *h = vs_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        tok = h + 7;
        while (*tok == ' ')
            tok++;
    }
    size_t n = tok ? strlen(tok) : 0;
    while (n > 0 && tok[n - 1] == ' ')
        n--;
    bool admin = n > 0 && token_is(tok, n, env->token_admin);
    bool reader = !admin && n > 0 && token_is(tok, n, env->token_read);
    if (!admin && !reader) {
        if (vs_reply_header(req, "WWW-Authenticate",
                            "Bearer realm=\"vecsnap\"") < 0)
            return refuse(req, VS_ENOMEM, 0, NULL);
        vs_error_set(VS_EINVALID, "%s",
                     tok ? "the bearer token is not valid"
                         : "a bearer token is required (Authorization: "
                           "Bearer <token>)");
        return refuse(req, 0, 401, "unauthorized");
    }
    bool reads = strcmp(req->method, "GET") == 0 ||
                 strcmp(req->method, "HEAD") == 0 ||
                 (req->route->flags & VS_ROUTE_READS);
    if (!reads && !admin) {
        vs_error_set(VS_EINVALID, "%s %s needs the admin token; this token "
                                  "may only read",
                     req->method, req->route->pattern);
        return refuse(req, 0, 403, "forbidden");
    }
    return 0;
}

/* The first call: route, tokens, readiness, body checks, `begin`. */
static int on_headers(vs_req *req)
{
    uint64_t len;
    if (!content_length(req, &len, &req->has_body)) {
        vs_error_set(VS_EINVALID, "malformed Content-Length");
        req->has_body = true; /* do not read what cannot be framed */
        return refuse(req, VS_EINVALID, 0, NULL);
    }
    int error = vs_router__match(&req->m, vs_http_server__router(req->srv),
                                 req->method, req->url);
    if (error == VS_EBUSY) {
        if (vs_reply_header(req, MHD_HTTP_HEADER_ALLOW, req->m.allow) < 0)
            return refuse(req, VS_ENOMEM, 0, NULL);
        return refuse(req, 0, 405, "method_not_allowed");
    }
    if (error < 0)
        return refuse(req, error, 0, NULL);
    req->route = req->m.route;
    error = authorize(req);
    if (error < 0 || req->replied || req->failing)
        return error;
    int state = atomic_load(&vs_req_env(req)->state);
    if ((req->route->flags & VS_ROUTE_NEEDS_STORE) && state != VS_HTTP_READY) {
        if (vs_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, "1") < 0)
            return refuse(req, VS_ENOMEM, 0, NULL);
        vs_error_set(VS_EBUSY, "%s",
                     state == VS_HTTP_STARTING ? "the store is being loaded"
                                               : "the server is shutting down");
        return refuse(req, 0, 503, "unavailable");
    }
    error = body_checks(req);
    if (error < 0 || req->replied || req->failing || !req->route->begin)
        return error;
    error = req->route->begin(req);
    if (error < 0 && !req->replied)
        return refuse(req, error, 0, NULL);
    return 0;
}

/* A chunk of body; returns bytes consumed or -1 to close the connection. */
static long on_data(vs_req *req, const char *data, size_t n)
{
    if (req->replied)
        return (long)n;
    if (req->failing) {
        /* MHD 0.9.75 refuses a reply while the body arrives, so the rest
         * is read and dropped; a client that keeps sending far past the
         * limit is cut off without a reply. */
        uint64_t cap = req->body_cap > DRAIN_MAX ? req->body_cap : DRAIN_MAX;
        req->drained += n;
        return req->drained > cap ? -1 : (long)n;
    }
    if (req->body_bytes + n > req->body_cap) {
        vs_error_set(VS_ETOOBIG, "request body exceeds the limit of %llu bytes",
                     (unsigned long long)req->body_cap);
        fail_later(req, VS_ETOOBIG, 0, NULL);
        if (req->pipe)
            pipe_stop(req->pipe);
        return (long)n;
    }
    size_t used = n;
    if (req->pipe) {
        used = pipe_feed(req, data, n);
    } else {
        int error = vs_buf_put(&req->body, data, n);
        if (error < 0)
            fail_later(req, error, 0, NULL);
    }
    req->body_bytes += used;
    return (long)used;
}

static int on_final(vs_req *req)
{
    if (req->replied)
        return 0;
    if (req->failing) {
        if (req->pipe)
            pipe_stop(req->pipe);
        return reply_failure(req);
    }
    if (req->pipe && req->pipe->started && !pipe_finish(req))
        return 0; /* suspended until the consumer returns */
    int error = req->route->handler(req);
    if (error == VS_HTTP_AGAIN && !req->replied)
        return 0;
    if (error < 0 && !req->replied)
        return vs_reply_error(req, error);
    if (!req->replied)
        return vs_reply_error_status(req, 500, "error",
                                     "the handler queued no reply");
    return 0;
}

int vs_req__access(vs_http_server *srv, struct MHD_Connection *conn,
                   const char *url, const char *method, const char *upload_data,
                   size_t *upload_data_size, void **con_cls)
{
    vs_req *req = *con_cls;
    if (!req) {
        int error = req_new(&req, srv, conn, url, method);
        if (error < 0)
            return error;
        *con_cls = req;
        error = on_headers(req);
        return req->replied ? (req->status ? 0 : VS_ERROR) : error;
    }
    if (*upload_data_size > 0) {
        long used = on_data(req, upload_data, *upload_data_size);
        if (used < 0)
            return VS_ERROR;
        *upload_data_size -= (size_t)used;
        return 0;
    }
    int error = on_final(req);
    return error < 0 && !req->status ? error : 0;
}

void vs_req__completed(vs_req *req, int toe)
{
    if (req->reply_pipe)
        vs_reply_pipe__release(req->reply_pipe);
    if (req->pipe) {
        pipe_stop(req->pipe);
        vs_stream_free(&req->pipe->base);
    }
    uint64_t ns = vs_http__now_ns() - req->start_ns;
    size_t index = req->route
                       ? req->m.index
                       : vs_router__count(vs_http_server__router(req->srv));
    vs_http_server__observe(req->srv, index, req->status, ns);
    bool fault = req->status >= 500 && req->status != 503;
    vs_log(fault          ? VS_LOG_WARN
           : !req->status ? VS_LOG_INFO
                          : VS_LOG_DEBUG,
           "req %s: %s %s -> %u in %.3f ms%s", req->id, req->method, req->url,
           req->status, (double)ns / 1e6,
           toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                                                      : " (connection lost)");
    if (req->state_free)
        req->state_free(req->state);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->hnames[i]);
        free(req->hvalues[i]);
    }
    while (req->queries) {
        query_str *q = req->queries;
        req->queries = q->next;
        free(q);
    }
    vs_buf_dispose(&req->body);
    free(req);
}
