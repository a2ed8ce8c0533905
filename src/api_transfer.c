/*
 * api_transfer: the whole store in and out over HTTP, streamed.  It owns
 * GET /v1/export and POST /v1/import.
 *
 * Export.  Every query argument is checked before anything else; then the
 * codec is chosen: an explicit `compression` makes a compressed FILE (the
 * suffix is in the file name, no Content-Encoding), otherwise Accept-Encoding
 * is negotiated (highest q first, zstd > br > gzip on a tie, q=0 refuses)
 * and the choice goes out as Content-Encoding, with `Vary: Accept-Encoding`.
 * The handler forks the writer itself (vs_snapfork_stream: a consistent
 * image of the store at one instant, writers are paused only for the fork),
 * so an unknown collection is a 404 and a failed fork (no memory, no
 * process slot, no descriptor) a 503 with Retry-After before any byte is
 * sent.  A producer thread then pumps the child's pipe into the
 * reply in large chunks, polling with a short timeout so that it notices a
 * client that went away (the child is killed) and keeps the child's
 * watchdog and progress pipe serviced.  A child that fails makes the
 * producer fail, and the transfer is cut without its final chunk: a client
 * never takes a truncated document for a complete one.
 *
 * Import.  `begin` checks the query and Content-Encoding (gzip, br, zstd,
 * identity; else 415), then submits a job of operation "import" in the
 * "store" conflict class: while a restore, load, save, snapshot or another
 * import is queued or running the request is refused with 409 before the
 * body is read, and while the import runs those are refused in turn.  The
 * job is a guard: its function only waits.  The work is done by the body's
 * consumer thread (which owns the body stream), once the job has started:
 * it decodes Content-Encoding (capped at max_decompressed_bytes: beyond it,
 * 413) and calls vs_ops_import, which detects the document's own format and
 * codec, verifies all of it, and switches it in atomically.  Progress goes
 * to the job (GET /v1/jobs/{id}/events follows an import) and DELETE
 * /v1/jobs/{id} cancels it.  The consumer hands its outcome to the guard
 * and waits for the job to be final before the reply is sent, so the job
 * record agrees with the answer.  A brotli document is recognised by its
 * content; Content-Encoding: br is decoded too.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "codec.h"
#include "snapfork.h"

#define JSON_TYPE "application/json"
#define CHUNK_MAX ((size_t)1 << 20)   /* one write to the reply */
#define CHUNK_MIN ((size_t)256 << 10) /* gather at least this when busy */
#define POLL_MS 100                   /* notice an abort this often */
#define SERVICE_MS 200                /* vs_snapfork_poll at least this often */
#define MSG_MAX 1024

/* ---- export: the query --------------------------------------------------- */

typedef struct export_plan {
    vs_format_id format;
    vs_codec_id codec;
    int level;
    bool file_codec; /* `compression` given: a compressed file */
    bool negotiated; /* codec from Accept-Encoding */
    const char **collections;
    size_t ncollections;
    char *names_buf;
} export_plan;

/* level=N: a decimal integer, strictly (no sign but '-', no spaces). */
static int parse_level(int *out, const char *text)
{
    const char *p = text;
    bool neg = *p == '-';
    long v = 0;
    if (neg)
        p++;
    if (!*p)
        return vs_error_set(VS_EINVALID, "level '%s' is not an integer", text);
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > 1000)
            return vs_error_set(VS_EINVALID,
                                "level '%s' is not an integer "
                                "in range",
                                text);
        v = v * 10 + (*p - '0');
    }
    *out = (int)(neg ? -v : v);
    return 0;
}

/* s[0..n) without blanks around it. */
static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* A q value "0", "0.5", "1.000" as thousandths; a malformed one is 0 (the
 * coding is not taken). */
static int q_value(const char *s, size_t n)
{
    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1'))
        return 0;
    if (n > 1 && (s[1] != '.' || n == 2))
        return 0;
    int q = (s[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? 0 : q;
}

/* One element "token;param;q=x": its token and q (1000 without one). */
static void element(const char **tok, size_t *tlen, int *q, const char *s,
                    size_t n)
{
    const char *semi = memchr(s, ';', n);
    *tok = s;
    *tlen = semi ? (size_t)(semi - s) : n;
    trim(tok, tlen);
    *q = 1000;
    while (semi) {
        const char *p = semi + 1;
        size_t left = n - (size_t)(p - s);
        semi = memchr(p, ';', left);
        size_t plen = semi ? (size_t)(semi - p) : left;
        trim(&p, &plen);
        if (plen >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            const char *v = p + 2;
            size_t vlen = plen - 2;
            trim(&v, &vlen);
            *q = q_value(v, vlen);
        }
    }
}

/* The best coding the client accepts among ours (RFC 9110, 12.5.3):
 * highest q, zstd > br > gzip on a tie; "*" stands for any coding not
 * named; q=0 refuses.  VS_CODEC_NONE when none is acceptable. */
static vs_codec_id negotiate(const char *header)
{
    static const struct {
        const char *token;
        vs_codec_id id;
    } ours[] = {{"zstd", VS_CODEC_ZSTD},
                {"br", VS_CODEC_BROTLI},
                {"gzip", VS_CODEC_GZIP}};
    int q[3] = {-1, -1, -1}, star = -1;
    for (const char *p = header; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *tok;
        size_t tlen;
        int qv;
        element(&tok, &tlen, &qv, p, len);
        if (tlen == 1 && *tok == '*')
            star = qv;
        for (int i = 0; i < 3; i++)
            if (strlen(ours[i].token) == tlen &&
                strncasecmp(tok, ours[i].token, tlen) == 0)
                q[i] = qv;
        p = end ? end + 1 : NULL;
    }
    int best = -1, bestq = 0;
    for (int i = 0; i < 3; i++) {
        int v = q[i] >= 0 ? q[i] : star;
        if (v > bestq) {
            best = i;
            bestq = v;
        }
    }
    return best < 0 ? VS_CODEC_NONE : ours[best].id;
}

static void plan_dispose(export_plan *pl)
{
    free(pl->collections);
    free(pl->names_buf);
}

static int parse_export(export_plan *pl, vs_req *req)
{
    const char *format, *compression, *level, *names;
    int error = vs_req_query(&format, req, "format");
    if (!error)
        error = vs_req_query(&compression, req, "compression");
    if (!error)
        error = vs_req_query(&level, req, "level");
    if (!error)
        error = vs_req_query(&names, req, "collections");
    if (error < 0)
        return error;
    pl->format = VS_FORMAT_BIN;
    pl->codec = VS_CODEC_NONE;
    pl->level = -1;
    if (format && (error = vs_api_format(&pl->format, format)) < 0)
        return error;
    if (compression) {
        if ((error = vs_api_codec(&pl->codec, compression)) < 0)
            return error;
        pl->file_codec = pl->codec != VS_CODEC_NONE;
    } else {
        pl->negotiated = true;
        pl->codec = negotiate(vs_req_header(req, "Accept-Encoding"));
    }
    if (level) {
        int v = 0;
        if ((error = parse_level(&v, level)) < 0)
            return error;
        json_t *jv = json_integer(v);
        error = jv ? vs_api_level(&pl->level, pl->codec, jv) : vs_error_oom();
        json_decref(jv);
        if (error < 0)
            return error;
    }
    if (names)
        error = vs_api_collections_query(&pl->collections, &pl->ncollections,
                                         &pl->names_buf, names);
    return error;
}

static const char *content_type_of(vs_format_id f)
{
    switch (f) {
    case VS_FORMAT_JSON:
        return "application/json";
    case VS_FORMAT_SQLITE:
        return "application/vnd.sqlite3";
    default:
        return "application/octet-stream";
    }
}

/* ---- export: the producer ------------------------------------------------ */

typedef struct pump {
    vs_snapfork *h; /* NULL for HEAD */
    char *buf;
} pump;

static void pump_free(void *p)
{
    pump *pm = p;
    if (!pm)
        return;
    vs_snapfork_free(pm->h);
    free(pm->buf);
    free(pm);
}

/* Fill pm->buf from the pipe: blocks (in POLL_MS steps) for the first
 * bytes, then takes what is there without waiting until CHUNK_MIN.  *eof
 * at end of data.  VS_ECANCELLED when the client went away. */
static int gather(size_t *len, bool *eof, pump *pm, vs_stream *out,
                  uint64_t *serviced)
{
    int fd = vs_snapfork_fd(pm->h);
    *len = 0;
    *eof = false;
    for (;;) {
        uint64_t now = vs_api_now_ms();
        if (now - *serviced >= SERVICE_MS) {
            vs_snapfork_poll(pm->h, NULL, NULL); /* watchdog, progress */
            *serviced = now;
        }
        if (vs_reply_stream_aborted(out))
            return vs_error_set(VS_ECANCELLED, "the client went away");
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, *len ? 0 : POLL_MS);
        if (r < 0 && errno != EINTR)
            return vs_error_set_os(VS_EIO, "poll on the export pipe");
        if (r <= 0) {
            if (*len)
                return 0;
            continue;
        }
        ssize_t got = read(fd, pm->buf + *len, CHUNK_MAX - *len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0)
            return vs_error_set_os(VS_EIO, "read from the snapshot writer");
        if (got == 0) {
            *eof = true;
            return 0;
        }
        *len += (size_t)got;
        if (*len >= CHUNK_MIN)
            return 0;
    }
}

static int produce_export(vs_stream *out, void *payload)
{
    pump *pm = payload;
    if (!pm->h)
        return 0; /* HEAD: headers only */
    uint64_t serviced = vs_api_now_ms();
    int error = 0;
    for (bool eof = false; !eof;) {
        size_t len;
        error = gather(&len, &eof, pm, out, &serviced);
        if (!error && len)
            error = vs_stream_write(out, pm->buf, len);
        if (error < 0) {
            vs_snapfork_cancel(pm->h);
            return error;
        }
    }
    /* The child's verdict: a failure cuts the transfer. */
    return vs_snapfork_finish(NULL, pm->h);
}

static int export_handler(vs_req *req)
{
    export_plan pl;
    memset(&pl, 0, sizeof(pl));
    pump *pm = NULL;
    char disp[96];
    bool head = strcmp(vs_req_method(req), "HEAD") == 0;
    int error = parse_export(&pl, req);
    if (error < 0)
        goto done;
    snprintf(disp, sizeof(disp), "attachment; filename=\"vecsnap-export%s%s\"",
             vs_format_suffix(pl.format),
             pl.file_codec ? vs_codec_info_of(pl.codec)->suffix : "");
    if (!(pm = calloc(1, sizeof(*pm))) ||
        (!head && !(pm->buf = malloc(CHUNK_MAX)))) {
        error = vs_error_oom();
        goto done;
    }
    if (!head) {
        vs_save_options o = VS_SAVE_OPTIONS_INIT;
        o.format = pl.format;
        o.codec = pl.codec;
        o.level = pl.level;
        o.collections = pl.collections;
        o.ncollections = pl.ncollections;
        error = vs_snapfork_stream(&pm->h, vs_req_env(req)->store, &o);
        if (error == VS_ENOMEM || error == VS_EIO) {
            /* no memory, process or descriptor for the writer: transient */
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", vs_error_last());
            error = vs_reply_header(req, "Retry-After", "5");
            if (!error)
                error = vs_reply_error_status(req, 503, "unavailable",
                                              "%s; try again later", msg);
            goto done;
        }
        if (error < 0)
            goto done;
    }
    error = vs_reply_header(req, "Content-Disposition", disp);
    if (!error && pl.negotiated)
        error = vs_reply_header(req, "Vary", "Accept-Encoding");
    if (!error && pl.negotiated && pl.codec != VS_CODEC_NONE)
        error = vs_reply_header(req, "Content-Encoding",
                                vs_codec_info_of(pl.codec)->encoding);
    if (!error)
        error = vs_reply_header(req, "Cache-Control", "no-store");
    if (error < 0)
        goto done;
    error = vs_reply_stream(req, 200, content_type_of(pl.format),
                            produce_export, pm, pump_free);
    pm = NULL; /* the reply owns it now */
done:
    pump_free(pm);
    plan_dispose(&pl);
    return error;
}

/* ---- import -------------------------------------------------------------- */

typedef struct import_ctx {
    atomic_int refs; /* the request's and the job's */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started;  /* the guard job runs */
    bool consumed; /* the consumer is through (or never will run) */
    int rc;
    char msg[MSG_MAX];
    json_t *job_result; /* {"import":{...}} for the job record */
    json_t *reply;      /* the same for the answer */
    vs_job *job;        /* NULL without a job table */
    vs_ops *ops;
    vs_ops_mode mode;
    vs_codec_id codec;
    uint64_t max_decompressed;
} import_ctx;

static void ctx_unref(void *p)
{
    import_ctx *ctx = p;
    if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&ctx->mu);
    pthread_cond_destroy(&ctx->cv);
    json_decref(ctx->job_result);
    json_decref(ctx->reply);
    if (ctx->job)
        vs_job_unref(ctx->job);
    free(ctx);
}

/* The consumer's outcome, handed to the guard (under ctx->mu). */
static void ctx_conclude(import_ctx *ctx, int rc, const char *msg)
{
    pthread_mutex_lock(&ctx->mu);
    if (!ctx->consumed) {
        ctx->consumed = true;
        ctx->rc = rc;
        snprintf(ctx->msg, sizeof(ctx->msg), "%s", msg);
        pthread_cond_broadcast(&ctx->cv);
    }
    pthread_mutex_unlock(&ctx->mu);
}

/* The request's state: a consumer that never ran still releases the
 * guard. */
static void ctx_request_free(void *p)
{
    import_ctx *ctx = p;
    ctx_conclude(ctx, VS_ECANCELLED, "the import request ended early");
    ctx_unref(ctx);
}

/* The job function: holds the "store" class while the consumer works. */
static int guard(vs_job *job, void *payload)
{
    import_ctx *ctx = payload;
    pthread_mutex_lock(&ctx->mu);
    ctx->started = true;
    pthread_cond_broadcast(&ctx->cv);
    while (!ctx->consumed)
        pthread_cond_wait(&ctx->cv, &ctx->mu);
    int rc = ctx->rc;
    json_t *result = ctx->job_result;
    ctx->job_result = NULL;
    pthread_mutex_unlock(&ctx->mu);
    if (result)
        vs_job_set_result(job, result);
    return rc < 0 ? vs_error_set(rc, "%s", ctx->msg) : 0;
}

/* Waits until the guard runs; false when the job ended first (cancelled
 * while queued, or the job table shut down) or the server stops (the job
 * is then cancelled). */
static bool wait_started(import_ctx *ctx, vs_req *req)
{
    pthread_mutex_lock(&ctx->mu);
    while (!ctx->started && !vs_job_finished(ctx->job)) {
        if (vs_req_stopping(req)) {
            pthread_mutex_unlock(&ctx->mu);
            if (vs_job_cancel(ctx->job) < 0) /* it has just ended */
                vs_error_clear();
            pthread_mutex_lock(&ctx->mu);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ctx->cv, &ctx->mu, &ts);
    }
    bool started = ctx->started;
    pthread_mutex_unlock(&ctx->mu);
    return started;
}

/* A pass-through reader over the body that fails once the job is
 * cancelled: a DELETE is noticed at the next read, even when the client
 * sends slowly and no progress is reported for a while. */
typedef struct watched {
    vs_stream base;
    vs_job *job;
} watched;

static int watched_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    watched *w = (watched *)s;
    if (vs_job_cancelled(w->job))
        return vs_error_set(VS_ECANCELLED, "import job %s was cancelled",
                            vs_job_id(w->job));
    return vs_stream_read(s->inner, data, n, got);
}

static const vs_stream_ops watched_ops = {.name = "cancellable",
                                          .read = watched_read};

static int progress(void *payload, uint64_t done, uint64_t total)
{
    import_ctx *ctx = payload;
    return ctx->job ? vs_job_progress_cb(ctx->job, done, total) : 0;
}

/* Gives a failure the code of its cause: the decoder's cap (413), the
 * connection (cancelled), else what the import said. */
static int explain(const vs_stream *body, const vs_stream *dec, int error)
{
    if (dec && dec->error == VS_ETOOBIG)
        return vs_error_set(VS_ETOOBIG, "%s", dec->errmsg);
    if (dec && dec->error == VS_ECORRUPT && error != VS_ECORRUPT)
        return vs_error_set(VS_ECORRUPT, "Content-Encoding: %s", dec->errmsg);
    if (body->error == VS_ECANCELLED)
        return vs_error_set(VS_ECANCELLED, "%s", body->errmsg);
    return error;
}

static int run_import(import_ctx *ctx, vs_stream *body)
{
    watched w;
    vs_stream *dec = NULL, *in = body;
    vs_ops_result res;
    memset(&res, 0, sizeof(res));
    int error = 0;
    if (ctx->job) {
        vs_stream__init(&w.base, &watched_ops, body, false);
        w.job = ctx->job;
        in = &w.base;
    }
    if (ctx->codec != VS_CODEC_NONE) {
        error =
            vs_codec_reader_new(&dec, in, ctx->codec, ctx->max_decompressed);
        in = dec;
    }
    if (!error)
        error = vs_ops_import(&res, ctx->ops, in, ctx->mode, NULL,
                              ctx->max_decompressed, progress, ctx);
    if (error < 0)
        error = explain(body, dec, error);
    if (error < 0 && error != VS_ECANCELLED && ctx->job &&
        vs_job_cancelled(ctx->job))
        error = vs_error_set(VS_ECANCELLED, "import job %s was cancelled",
                             vs_job_id(ctx->job));
    if (!error) {
        json_t *r = vs_ops_result_json(&res);
        ctx->reply = r ? json_pack("{s:o}", "import", r) : NULL;
        ctx->job_result = ctx->reply ? json_deep_copy(ctx->reply) : NULL;
        if (!ctx->reply || !ctx->job_result)
            error = vs_error_oom(); /* the import itself happened */
    }
    vs_ops_result_dispose(&res);
    vs_stream_free(dec);
    return error;
}

static int consume_import(vs_req *req, vs_stream *body, void *payload)
{
    import_ctx *ctx = payload;
    int error;
    if (ctx->job && !wait_started(ctx, req))
        error = vs_error_set(VS_ECANCELLED,
                             "import job %s was cancelled before it started",
                             vs_job_id(ctx->job));
    else
        error = run_import(ctx, body);
    char msg[MSG_MAX];
    snprintf(msg, sizeof(msg), "%s", error < 0 ? vs_error_last() : "");
    ctx_conclude(ctx, error, msg);
    /* The answer goes out once the job record is final. */
    if (ctx->job)
        vs_job_wait(ctx->job);
    if (error < 0)
        vs_error_set(error, "%s", msg);
    return error;
}

static int begin_import(vs_req *req)
{
    const char *mode_text;
    vs_ops_mode mode = VS_OPS_MERGE;
    vs_codec_id codec = VS_CODEC_NONE;
    int error = vs_req_query(&mode_text, req, "mode");
    if (error < 0)
        return error;
    if (mode_text && strcmp(mode_text, "replace") == 0)
        mode = VS_OPS_REPLACE;
    else if (mode_text && strcmp(mode_text, "merge") != 0)
        return vs_error_set(
            VS_EINVALID, "mode '%s': use \"merge\" or \"replace\"", mode_text);
    if (!vs_api_body_codec(&codec, req))
        return 0; /* 415 sent */
    vs_http_env *env = vs_req_env(req);
    vs_api_app *app = vs_api_app_of(req);
    if (!app || !app->ops)
        return vs_reply_error_status(req, 503, "unavailable",
                                     "imports are not available");
    import_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return vs_error_oom();
    atomic_init(&ctx->refs, 1);
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_cond_init(&ctx->cv, NULL);
    ctx->ops = app->ops;
    ctx->mode = mode;
    ctx->codec = codec;
    ctx->max_decompressed = env->max_decompressed;
    vs_req_set_state(req, ctx, ctx_request_free);
    if (env->jobs) {
        atomic_fetch_add(&ctx->refs, 1);
        error = vs_jobs_submit(&ctx->job, env->jobs, "import",
                               VS_API_CONFLICT_STORE, guard, ctx, ctx_unref);
        if (error < 0) {
            atomic_fetch_sub(&ctx->refs, 1); /* the job never took it */
            if (error == VS_EBUSY && vs_req_stopping(req))
                return vs_reply_error_status(req, 503, "unavailable", "%s",
                                             vs_error_last());
            return error; /* 409 busy: another store job runs */
        }
    }
    error = vs_req_body_stream(req, consume_import, ctx);
    if (error == VS_EBUSY)
        return vs_reply_error_status(req, 503, "unavailable", "%s",
                                     vs_error_last());
    return error; /* on failure the request's state releases the guard */
}

static int import_handler(vs_req *req)
{
    import_ctx *ctx = vs_req_state(req);
    int error = vs_req_body_result(req);
    if (error == VS_ECANCELLED && vs_req_stopping(req))
        return vs_reply_error_status(req, 503, "unavailable", "%s",
                                     vs_error_last());
    if (error == VS_ECANCELLED)
        return vs_reply_error_status(req, 409, "cancelled", "%s",
                                     vs_error_last());
    if (error < 0)
        return error;
    json_t *reply = ctx->reply;
    ctx->reply = NULL;
    return vs_reply_json(req, 200, reply);
}

/* ---- routes -------------------------------------------------------------- */

#define IMPORT_FLAGS                                                           \
    (VS_ROUTE_BODY | VS_ROUTE_UPLOAD | VS_ROUTE_ENCODED | VS_ROUTE_ANY_TYPE |  \
     VS_ROUTE_NEEDS_STORE)

const vs_route vs_api_transfer_routes[] = {
    {"GET", "/v1/export", export_handler, VS_ROUTE_NEEDS_STORE, 0, NULL},
    {"POST", "/v1/import", import_handler, IMPORT_FLAGS, 0, begin_import},
    {NULL, NULL, NULL, 0, 0, NULL},
};
