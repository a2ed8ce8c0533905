/*
 * http: the contract between the HTTP core (http_server.c, http_router.c,
 * http_req.c, http_reply.c) and the API files (api_*.c).  It owns the route
 * table entry, the request context and its accessors, the reply helpers,
 * and the shared state every handler sees (vs_http_env).
 *
 * Routes.  Each api file exports one constant table, ended by an entry whose
 * method is NULL (a "slice"); vecsnapd.c hands the NULL-terminated list of
 * slices to vs_http_server_start.  To add routes, export a slice below and
 * list it there.  A pattern is a
 * path whose segments are literal or "{name}" (one whole segment, matched
 * against the percent-decoded segment, at most VS_HTTP_PARAM_MAX bytes, no
 * NUL).  No match: 404.  A path that matches under another method: 405 with
 * `Allow`.  HEAD is served by GET routes.
 *
 * Lifecycle of a request (the dispatcher in http_req.c):
 *   1. headers: route matched; readiness (VS_ROUTE_NEEDS_STORE answers 503
 *      until the store is loaded); body checks: Content-Length above the
 *      route's cap is 413 before any body is read; without VS_ROUTE_ENCODED a
 *      Content-Encoding other than identity is 415, and for body routes
 *      without VS_ROUTE_ANY_TYPE a Content-Type other than JSON is 415.  Then
 *      `begin` (may be NULL) runs: it may refuse (return < 0, or reply with
 *      a vs_reply_* function), or switch the body to a streaming consumer
 *      with vs_req_body_stream.  A refusal of a request that carries a body
 *      is sent at once (MHD then skips the body and closes the connection);
 *      without a body it is sent on the final call (keep-alive is kept).
 *   2. body: by default collected into a vs_buf capped at the route's limit
 *      (vs_req_body); a streamed body goes through a bounded pipe to the
 *      consumer thread.  Once an error reply is decided, the rest of the
 *      upload is drained and the error is sent on the final call.
 *   3. final: `handler` runs once the body is complete (and a streaming
 *      consumer has returned).  It queues exactly one reply with a
 *      vs_reply_* function and returns 0, or returns a negative vs_errcode
 *      without replying (the dispatcher answers vs_reply_error with this
 *      thread's last message), or calls vs_req_suspend and returns
 *      VS_HTTP_AGAIN: after vs_req_resume it runs again.
 *   4. completed: metrics and the access log get the status and latency;
 *      the state set with vs_req_set_state is freed with the request.
 *
 * Threads: handlers run on the server's polling threads and must not block
 * for long: take the store's locks only around store calls.  A streaming
 * consumer runs on its own thread and may block on its stream.
 */
#ifndef VS_HTTP_H
#define VS_HTTP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "job.h"
#include "snapshot.h"
#include "store.h"
#include "stream.h"

#define VS_HTTP_PARAM_MAX 256       /* decoded path parameter, bytes */
#define VS_HTTP_PARAMS_MAX 4        /* parameters in one pattern */
#define VS_HTTP_JSON_MAX (1u << 20) /* default cap of a buffered body */
#define VS_HTTP_AGAIN 1             /* handler: suspended, call again */

typedef struct vs_req vs_req;
typedef struct vs_http_server vs_http_server;

/* Server state seen by /readyz and VS_ROUTE_NEEDS_STORE. */
enum {
    VS_HTTP_STARTING = 0, /* the store is being loaded */
    VS_HTTP_READY = 1,
    VS_HTTP_STOPPING = 2
};

/* What every handler shares.  Owned by vecsnapd.c; the server borrows it.
 * `store` is set before the server starts (an empty store that the loaded
 * one is swapped into); `state` moves STARTING -> READY -> STOPPING. */
typedef struct vs_http_env {
    vs_store *store;
    vs_catalog *catalog;       /* may be NULL */
    vs_jobs *jobs;             /* may be NULL */
    uint64_t max_body;         /* cap on VS_ROUTE_UPLOAD bodies as sent */
    uint64_t max_decompressed; /* cap on them after Content-Encoding */
    /* Bearer tokens ("" when unset).  With either set, every route but
     * VS_ROUTE_PUBLIC ones needs one: GET/HEAD and VS_ROUTE_READS routes
     * the read or the admin token, the others the admin token (401 without a valid token, 403 with
     * the read token).  Compared in constant time. */
    char token_read[128];
    char token_admin[128];
    void *app; /* the application's own state (vecsnapd: its daemon) */
    _Atomic int state;
} vs_http_env;

/* ---- routes ------------------------------------------------------------ */

typedef int (*vs_route_fn)(vs_req *req);

enum {
    VS_ROUTE_BODY = 1u << 0,       /* takes a body (others: 413 on one) */
    VS_ROUTE_UPLOAD = 1u << 1,     /* body cap is env->max_body */
    VS_ROUTE_ENCODED = 1u << 2,    /* handles Content-Encoding itself */
    VS_ROUTE_ANY_TYPE = 1u << 3,   /* checks Content-Type itself */
    VS_ROUTE_NEEDS_STORE = 1u << 4, /* 503 until the store is loaded */
    VS_ROUTE_PUBLIC = 1u << 5,      /* no token needed (probes, the page) */
    VS_ROUTE_READS = 1u << 6        /* not GET, but only reads (search):
                                       the read token suffices */
};

typedef struct vs_route {
    const char *method;  /* "GET", "PUT", ...; NULL ends a table */
    const char *pattern; /* "/v1/collections/{c}" */
    vs_route_fn handler; /* final call, see above */
    unsigned flags;      /* VS_ROUTE_* */
    uint64_t max_body;   /* 0: VS_HTTP_JSON_MAX (VS_ROUTE_UPLOAD: ignored) */
    vs_route_fn begin;   /* headers known, body not read; may be NULL */
} vs_route;

/* The slices (api_*.c). */
extern const vs_route vs_api_health_routes[];
extern const vs_route vs_api_collections_routes[];
extern const vs_route vs_api_snapshot_routes[]; /* api_snapshots.c */
extern const vs_route vs_api_snapjob_routes[];  /* api_snapjobs.c */
extern const vs_route vs_api_transfer_routes[]; /* api_transfer.c */
extern const vs_route vs_api_job_routes[];      /* api_jobs.c */
extern const vs_route vs_api_autosave_routes[]; /* api_autosave.c */
extern const vs_route vs_api_www_routes[];      /* api_www.c */
extern const vs_route vs_api_remote_routes[];   /* api_remote.c */
extern const vs_route vs_api_retention_routes[]; /* api_retention.c */

/* ---- the server (http_server.c) ---------------------------------------- */

typedef struct vs_http_options {
    int version;
    const char *address;           /* IPv4 or IPv6 literal */
    uint16_t port;                 /* 0: any free port (vs_http_server_port) */
    unsigned threads;              /* polling threads (>= 1) */
    unsigned connection_timeout;   /* idle seconds before a connection ends */
    size_t memory_limit;           /* per-connection buffer pool, bytes */
    const vs_route *const *slices; /* NULL-terminated */
    /* TLS: PEM text of the certificate (chain) and key; NULL: plain HTTP.
     * Borrowed until vs_http_server_free. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
} vs_http_options;

#define VS_HTTP_OPTIONS_VERSION 1
#define VS_HTTP_OPTIONS_INIT                                                   \
    {                                                                          \
        VS_HTTP_OPTIONS_VERSION, "127.0.0.1", 8080, 2, 60, 128 * 1024, NULL,   \
            NULL, NULL                                                         \
    }

/* Start listening.  `env` is borrowed and must outlive the server.
 * VS_EINVALID (options, a bad route pattern), VS_EIO (bind failed). */
int vs_http_server_start(vs_http_server **out, vs_http_env *env,
                         const vs_http_options *opts) VS_WARN_UNUSED;
/* The port actually bound. */
uint16_t vs_http_server_port(const vs_http_server *srv);
/* Stop taking work: close the listening socket, refuse new suspensions and
 * resume every suspended connection (their handlers see vs_req_stopping).
 * Idempotent. */
void vs_http_server_quiesce(vs_http_server *srv);
/* Quiesce, stop the daemon (closing connections, waiting for its threads and
 * for streaming consumers), free.  NULL is a no-op. */
void vs_http_server_free(vs_http_server *srv);
/* Prometheus text of the request counters and latency histograms. */
int vs_http_metrics_render(vs_buf *out,
                           const vs_http_server *srv) VS_WARN_UNUSED;

/* ---- the request (http_req.c) ------------------------------------------ */

vs_http_env *vs_req_env(const vs_req *req);
vs_http_server *vs_req_server(const vs_req *req);
const vs_route *vs_req_route(const vs_req *req);
const char *vs_req_id(const vs_req *req); /* "1f2e3d4c-000042" */
const char *vs_req_method(const vs_req *req);
const char *vs_req_path(const vs_req *req); /* as sent, not decoded */
/* A path parameter by name, percent-decoded and NUL-terminated; NULL when
 * the pattern has none of that name.  *len (may be NULL) gets its length. */
const char *vs_req_param(const vs_req *req, const char *name, size_t *len);
/* A request header (case-insensitive name), NULL when absent. */
const char *vs_req_header(const vs_req *req, const char *name);
/* A query argument, percent-decoded ('+' is a space) into storage owned by
 * the request.  *out is NULL when absent.  VS_EINVALID for a bad escape. */
int vs_req_query(const char **out, vs_req *req,
                 const char *name) VS_WARN_UNUSED;
/* Content-Type without parameters, lower-cased ("" when absent). */
const char *vs_req_content_type(vs_req *req);
/* True once the server is shutting down. */
bool vs_req_stopping(const vs_req *req);

/* The buffered body (empty without one).  Borrowed from the request. */
const vs_buf *vs_req_body(const vs_req *req);
/* Parse the buffered body as a JSON object (new reference).  VS_EINVALID
 * naming line and column. */
int vs_req_json(json_t **out, const vs_req *req) VS_WARN_UNUSED;

/* Handler state, freed with `free_fn` (may be NULL) when the request ends. */
void vs_req_set_state(vs_req *req, void *state, void (*free_fn)(void *));
void *vs_req_state(const vs_req *req);

/* Streaming bodies.  From `begin`: the body is fed through a bounded pipe to
 * `consume(req, body, payload)`, run on a new thread, which reads `body`
 * (a reader stream owned by the request; it blocks for data; short reads
 * only at the end of the body) and returns 0 or a vs_errcode.  The
 * connection is suspended while the pipe is full and, at the end, until
 * `consume` returns; then `handler` runs and reads the outcome with
 * vs_req_body_result.  `consume` must not reply.  If the client goes away
 * or the server stops, `body` fails with VS_ECANCELLED. */
typedef int (*vs_consume_fn)(vs_req *req, vs_stream *body, void *payload);
int vs_req_body_stream(vs_req *req, vs_consume_fn consume,
                       void *payload) VS_WARN_UNUSED;
/* In `handler` after vs_req_body_stream: consume's return code; its
 * message is this thread's last error again. */
int vs_req_body_result(const vs_req *req);
/* The body's length from Content-Length: true when known (false for a
 * chunked body or no body). */
bool vs_req_body_length(const vs_req *req, uint64_t *len);
/* Bytes of body received so far (as sent, before any decoding). */
uint64_t vs_req_body_bytes(const vs_req *req);

/* Suspend the connection (from a handler on its polling thread) until
 * vs_req_resume (any thread).  Resuming a request that is not suspended is
 * a no-op.  VS_EBUSY when the server is stopping (do not wait then). */
int vs_req_suspend(vs_req *req) VS_WARN_UNUSED;
void vs_req_resume(vs_req *req);

/* ---- replies (http_reply.c) -------------------------------------------- */

/* Every reply carries X-Request-Id and the headers added with
 * vs_reply_header before it.  Each vs_reply_* queues the one reply of the
 * request and returns 0, or VS_ERROR when it could not (the dispatcher
 * then closes the connection). */

/* Add a header to the coming reply (copied).  At most 8. */
int vs_reply_header(vs_req *req, const char *name, const char *value);
/* JSON reply; takes ownership of `json` (NULL: 500 out of memory). */
int vs_reply_json(vs_req *req, unsigned status, json_t *json);
/* Takes the allocation of `body` (left empty). */
int vs_reply_buf(vs_req *req, unsigned status, vs_buf *body,
                 const char *content_type);
/* Copies `text`. */
int vs_reply_text(vs_req *req, unsigned status, const char *text,
                  const char *content_type);
/* No body (204, 304, ...). */
int vs_reply_empty(vs_req *req, unsigned status);
/* The status for a vs_errcode: NOTFOUND 404, INVALID 400, EXISTS/BUSY 409,
 * TOOBIG 413, CORRUPT/VERSION 422, UPSTREAM 502, else 500. */
unsigned vs_http_status_of(int code);
/* {"error":{"code":vs_error_name(code),"message":vs_error_last()}}. */
int vs_reply_error(vs_req *req, int code);
/* The same with `extra` (taken; may be NULL) merged in at the top level. */
int vs_reply_error_extra(vs_req *req, int code, json_t *extra);
/* An error with an explicit status and code word (415, 503, 405, ...). */
int vs_reply_error_status(vs_req *req, unsigned status, const char *code,
                          const char *fmt, ...) VS_FMT_PRINTF(4, 5);

/* A file as the reply (sendfile where the kernel can): `len` bytes of `fd`
 * from `offset`.  Takes `fd` whatever happens.  For downloads; Range
 * handling is the caller's (it picks offset, len and the status). */
int vs_reply_file(vs_req *req, unsigned status, int fd, uint64_t offset,
                  uint64_t len, const char *content_type);

/* ---- streamed replies (http_stream.c) ---------------------------------- */

/* A reply whose body is produced as it is sent (chunked): `produce(out,
 * payload)` runs on a thread of its own and writes the body to `out`, a
 * writer stream.  A write blocks while the client is behind (a bounded
 * ring, so memory stays flat however large the body) and fails with
 * VS_ECANCELLED once the client has gone away or the server stops.  The
 * status and headers go out with the first bytes, so decide every error
 * before calling this.  If `produce` returns an error, the connection is
 * cut without the final chunk: the client sees a truncated transfer, never
 * a short body that looks complete.  `produce` must not touch the request
 * (it may outlive it): everything it needs is in `payload`, which is freed
 * with `free_payload` (may be NULL) when the thread ends.  The server waits
 * for producers when it stops. */
typedef int (*vs_produce_fn)(vs_stream *out, void *payload);
int vs_reply_stream(vs_req *req, unsigned status, const char *content_type,
                    vs_produce_fn produce, void *payload,
                    void (*free_payload)(void *));
/* For producers that wait for something other than the client (an SSE
 * stream waiting for job events): block until vs_reply_stream_kick, the
 * client going away or the server stopping (true: stop producing), or
 * `timeout_ms` passing (false).  A kick that came before the wait is not
 * lost. */
bool vs_reply_stream_idle(vs_stream *out, unsigned timeout_ms);
/* Wake a producer in vs_reply_stream_idle.  Safe from any thread and under
 * other locks (it takes only the stream's own mutex). */
void vs_reply_stream_kick(vs_stream *out);
/* True once the client has gone away or the server stops. */
bool vs_reply_stream_aborted(vs_stream *out);

/* JSON text helpers for handlers that write replies straight into a vs_buf
 * (no tree): a string with its quotes and escapes, and a float32 in its
 * shortest exact form (non-finite values are written as null). */
int vs_http_put_string(vs_buf *out, const char *s, size_t n) VS_WARN_UNUSED;
int vs_http_put_float(vs_buf *out, float v) VS_WARN_UNUSED;

/* ---- for the core only (http_*.c) -------------------------------------- */

/* The compiled router (http_router.c). */
typedef struct vs_router vs_router;
typedef struct vs_route_match {
    const vs_route *route; /* NULL: no route */
    size_t index;          /* route number for metrics */
    size_t nparams;
    const char *names[VS_HTTP_PARAMS_MAX]; /* into the pattern, '}'-ended */
    char values[VS_HTTP_PARAMS_MAX][VS_HTTP_PARAM_MAX + 1];
    size_t lens[VS_HTTP_PARAMS_MAX];
    char allow[64]; /* 405: "GET, HEAD, PUT" */
} vs_route_match;

int vs_router__new(vs_router **out,
                   const vs_route *const *slices) VS_WARN_UNUSED;
void vs_router__free(vs_router *r);
size_t vs_router__count(const vs_router *r);
const vs_route *vs_router__at(const vs_router *r, size_t i);
/* 0 with m->route set; VS_ENOTFOUND (no path match); VS_EBUSY (405: path
 * matches, method does not; m->allow set); VS_EINVALID (bad escape, a
 * parameter too long). */
int vs_router__match(vs_route_match *m, const vs_router *r, const char *method,
                     const char *path);
/* Percent-decode s[0..n) into out (room for cap bytes + NUL); `plus`
 * turns '+' into ' '.  VS_EINVALID for a bad escape or %00, VS_ETOOBIG. */
int vs_http__decode(char *out, size_t cap, size_t *len, const char *s, size_t n,
                    bool plus);

/* http_req.c, for http_server.c: the bodies of the MHD callbacks. */
struct MHD_Connection;
struct MHD_Response;
int vs_req__access(vs_http_server *srv, struct MHD_Connection *conn,
                   const char *url, const char *method, const char *upload_data,
                   size_t *upload_data_size, void **con_cls);
void vs_req__completed(vs_req *req, int toe);
struct MHD_Connection *vs_req__connection(const vs_req *req);

/* http_req.c, for http_reply.c: queue the reply.  Takes `body` (freed
 * with free_fn, which may be NULL for static text) whatever happens.
 * `content_type` may be NULL. */
int vs_req__send(vs_req *req, unsigned status, void *body, size_t len,
                 void (*free_fn)(void *), const char *content_type);
/* Queue a response MHD built (adds X-Request-Id, the headers given with
 * vs_reply_header and the content type; destroys `resp` whatever happens). */
int vs_req__queue(vs_req *req, unsigned status, struct MHD_Response *resp,
                  const char *content_type);
/* The request's streamed reply, if any, is told when the request ends. */
typedef struct vs_reply_pipe vs_reply_pipe;
void vs_req__set_reply_pipe(vs_req *req, vs_reply_pipe *p);
void vs_reply_pipe__release(vs_reply_pipe *p); /* http_stream.c */

/* http_server.c, for http_req.c. */
vs_http_env *vs_http_server__env(const vs_http_server *srv);
const vs_router *vs_http_server__router(const vs_http_server *srv);
/* Suspend `req`'s connection and remember it (VS_EBUSY when stopping);
 * resume it if remembered.  Both under the server's suspension lock. */
int vs_http_server__suspend(vs_http_server *srv, vs_req *req);
void vs_http_server__resume(vs_http_server *srv, vs_req *req);
/* Streamed replies: a producer thread started / ended (the server waits
 * for the count to reach zero when it stops). */
void vs_http_server__producer_add(vs_http_server *srv);
void vs_http_server__producer_done(vs_http_server *srv);
/* Record a finished request in the metrics. */
void vs_http_server__observe(vs_http_server *srv, size_t route_index,
                             unsigned status, uint64_t ns);
/* Monotonic clock, nanoseconds. */
uint64_t vs_http__now_ns(void);

#endif
