/*
 * http_server: the libmicrohttpd daemon.  It owns the daemon's options
 * (automatic polling backend on an internal thread pool, suspend/resume,
 * timeouts, per-connection memory, an identity unescaper so routing sees
 * the raw path), MHD's log routed into vs_log, the set of suspended
 * connections (so that shutdown can resume them all before stopping the
 * daemon, which MHD requires), and the request metrics: counters by route
 * and status and a latency histogram per route, all relaxed atomics.
 *
 * Shutdown order (vs_http_server_free): quiesce (close the listening
 * socket, mark stopping, resume every suspended connection), then
 * MHD_stop_daemon, which ends the remaining connections; each one's
 * completion callback frees its request and joins its streaming consumer.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

/* The statuses counted one by one; index 0 counts requests that ended
 * without a reply, the last one any other status. */
static const unsigned statuses[] = {0,   200, 201, 202, 204, 206, 304,
                                    400, 401, 403, 404, 405, 409, 413,
                                    415, 416, 422, 500, 502, 503};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

/* Latency bucket upper bounds in microseconds (+Inf is the last bucket). */
static const uint64_t bounds_us[] = {500,     1000,    2500,    5000,    10000,
                                     25000,   50000,   100000,  250000,  500000,
                                     1000000, 2500000, 5000000, 10000000};
#define NBOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

typedef struct route_stats {
    _Atomic uint64_t by_status[NSTATUS];
    _Atomic uint64_t buckets[NBOUNDS + 1];
    _Atomic uint64_t sum_ns;
} route_stats;

struct vs_http_server {
    struct MHD_Daemon *daemon;
    vs_http_env *env;
    vs_router *router;
    uint16_t port;
    route_stats *stats; /* router count + 1 (unmatched) */
    pthread_mutex_t mu; /* guards the fields below */
    bool stopping;
    bool quiesced;
    vs_req **suspended;
    size_t nsuspended, asuspended;
    size_t producers;      /* streamed replies still producing */
    pthread_cond_t idle;   /* producers reached 0 */
};

uint64_t vs_http__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

vs_http_env *vs_http_server__env(const vs_http_server *srv)
{
    return srv->env;
}

const vs_router *vs_http_server__router(const vs_http_server *srv)
{
    return srv->router;
}

uint16_t vs_http_server_port(const vs_http_server *srv)
{
    return srv->port;
}

/* ---- MHD callbacks ------------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap) VS_FMT_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    vs_log(VS_LOG_WARN, "http: %s", line);
}

/* Routing works on the raw path: a %2F inside an id must not split it. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    int error = vs_req__access(cls, conn, url, method, upload_data,
                               upload_data_size, con_cls);
    return error < 0 ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    vs_http_server *srv = cls;
    (void)conn;
    vs_req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&srv->mu); /* never leave a freed request listed */
    for (size_t i = 0; i < srv->nsuspended; i++) {
        if (srv->suspended[i] == req) {
            srv->suspended[i] = srv->suspended[--srv->nsuspended];
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    vs_req__completed(req, (int)toe);
}

/* ---- suspension ---------------------------------------------------------- */

int vs_http_server__suspend(vs_http_server *srv, vs_req *req)
{
    int error = 0;
    pthread_mutex_lock(&srv->mu);
    if (srv->stopping) {
        error = vs_error_set(VS_EBUSY, "the server is shutting down");
    } else if (srv->nsuspended == srv->asuspended) {
        size_t a = srv->asuspended ? srv->asuspended * 2 : 16;
        vs_req **p = realloc(srv->suspended, a * sizeof(*p));
        if (!p)
            error = vs_error_oom();
        else {
            srv->suspended = p;
            srv->asuspended = a;
        }
    }
    if (!error) {
        srv->suspended[srv->nsuspended++] = req;
        MHD_suspend_connection(vs_req__connection(req));
    }
    pthread_mutex_unlock(&srv->mu);
    return error;
}

void vs_http_server__resume(vs_http_server *srv, vs_req *req)
{
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->nsuspended; i++) {
        if (srv->suspended[i] == req) {
            srv->suspended[i] = srv->suspended[--srv->nsuspended];
            MHD_resume_connection(vs_req__connection(req));
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
}

void vs_http_server__producer_add(vs_http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    srv->producers++;
    pthread_mutex_unlock(&srv->mu);
}

void vs_http_server__producer_done(vs_http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    if (--srv->producers == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
}

/* ---- metrics ------------------------------------------------------------- */

void vs_http_server__observe(vs_http_server *srv, size_t route_index,
                             unsigned status, uint64_t ns)
{
    route_stats *rs = &srv->stats[route_index];
    size_t si = NSTATUS - 1;
    for (size_t i = 0; i < NSTATUS - 1; i++) {
        if (statuses[i] == status) {
            si = i;
            break;
        }
    }
    size_t b = NBOUNDS;
    for (size_t i = 0; i < NBOUNDS; i++) {
        if (ns <= bounds_us[i] * 1000u) {
            b = i;
            break;
        }
    }
    atomic_fetch_add_explicit(&rs->by_status[si], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->sum_ns, ns, memory_order_relaxed);
}

static void route_label(char *out, size_t size, const vs_http_server *srv,
                        size_t i)
{
    if (i == vs_router__count(srv->router)) {
        snprintf(out, size, "unmatched");
        return;
    }
    const vs_route *rt = vs_router__at(srv->router, i);
    snprintf(out, size, "%s %s", rt->method, rt->pattern);
}

static int render_counts(vs_buf *out, const vs_http_server *srv, size_t n)
{
    int error = vs_buf_puts(
        out, "# HELP vecsnap_http_requests_total HTTP requests answered, by "
             "route and status (0: ended without a reply).\n"
             "# TYPE vecsnap_http_requests_total counter\n");
    for (size_t i = 0; !error && i < n; i++) {
        char label[300];
        route_label(label, sizeof(label), srv, i);
        for (size_t s = 0; !error && s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&srv->stats[i].by_status[s],
                                              memory_order_relaxed);
            if (!v)
                continue;
            char st[16];
            if (s == NSTATUS - 1)
                snprintf(st, sizeof(st), "other");
            else
                snprintf(st, sizeof(st), "%u", statuses[s]);
            error = vs_buf_printf(out,
                                  "vecsnap_http_requests_total{route=\"%s\","
                                  "status=\"%s\"} %llu\n",
                                  label, st, (unsigned long long)v);
        }
    }
    return error;
}

static int render_histograms(vs_buf *out, const vs_http_server *srv, size_t n)
{
    int error = vs_buf_puts(
        out, "# HELP vecsnap_http_request_duration_seconds Time from the "
             "request's headers to its completion, by route.\n"
             "# TYPE vecsnap_http_request_duration_seconds histogram\n");
    for (size_t i = 0; !error && i < n; i++) {
        const route_stats *rs = &srv->stats[i];
        uint64_t counts[NBOUNDS + 1], total = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            counts[b] =
                atomic_load_explicit(&rs->buckets[b], memory_order_relaxed);
            total += counts[b];
        }
        if (!total)
            continue;
        char label[300];
        route_label(label, sizeof(label), srv, i);
        uint64_t cum = 0;
        for (size_t b = 0; !error && b <= NBOUNDS; b++) {
            cum += counts[b];
            char le[32];
            if (b == NBOUNDS)
                snprintf(le, sizeof(le), "+Inf");
            else
                snprintf(le, sizeof(le), "%g", (double)bounds_us[b] / 1e6);
            error = vs_buf_printf(
                out,
                "vecsnap_http_request_duration_seconds_bucket{route=\"%s\","
                "le=\"%s\"} %llu\n",
                label, le, (unsigned long long)cum);
        }
        uint64_t sum = atomic_load_explicit(&rs->sum_ns, memory_order_relaxed);
        if (!error)
            error = vs_buf_printf(
                out,
                "vecsnap_http_request_duration_seconds_sum{route=\"%s\"} "
                "%.9f\n"
                "vecsnap_http_request_duration_seconds_count{route=\"%s\"} "
                "%llu\n",
                label, (double)sum / 1e9, label, (unsigned long long)cum);
    }
    return error;
}

int vs_http_metrics_render(vs_buf *out, const vs_http_server *srv)
{
    size_t n = vs_router__count(srv->router) + 1;
    int error = render_counts(out, srv, n);
    return error < 0 ? error : render_histograms(out, srv, n);
}

/* ---- start and stop ------------------------------------------------------ */

static int check_options(const vs_http_options *o)
{
    if (o->version != VS_HTTP_OPTIONS_VERSION)
        return vs_error_set(VS_EINVALID, "http options version %d unknown",
                            o->version);
    if (o->threads < 1 || o->threads > 256)
        return vs_error_set(VS_EINVALID, "threads must be 1..256, not %u",
                            o->threads);
    if (o->memory_limit < 16 * 1024)
        return vs_error_set(VS_EINVALID, "connection memory limit below "
                                         "16 KiB");
    return 0;
}

/* Fills *ss from an address literal and port; *v6 tells the family. */
static int make_addr(struct sockaddr_storage *ss, bool *v6, const char *addr,
                     uint16_t port)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *v6 = false;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *v6 = true;
        return 0;
    }
    return vs_error_set(VS_EINVALID, "'%s' is not an IPv4 or IPv6 address",
                        addr);
}

int vs_http_server_start(vs_http_server **out, vs_http_env *env,
                         const vs_http_options *opts)
{
    *out = NULL;
    struct sockaddr_storage ss;
    bool v6 = false;
    int error = check_options(opts);
    if (!error)
        error = make_addr(&ss, &v6, opts->address, opts->port);
    if (error < 0)
        return error;
    vs_http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return vs_error_oom();
    srv->env = env;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);
    error = vs_router__new(&srv->router, opts->slices);
    if (error < 0)
        goto done;
    srv->stats = calloc(vs_router__count(srv->router) + 1, sizeof(*srv->stats));
    if (!srv->stats) {
        error = vs_error_oom();
        goto done;
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* One thread is the internal polling thread itself: MHD warns when a
     * pool of one is asked for. */
    struct MHD_OptionItem extra[4];
    size_t ne = 0;
    if (opts->threads > 1)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                              (intptr_t)opts->threads, NULL};
    if (opts->tls_cert_pem) {
        flags |= MHD_USE_TLS;
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                              (void *)opts->tls_cert_pem};
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                              (void *)opts->tls_key_pem};
    }
    extra[ne] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
        opts->connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->memory_limit,
        MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    if (!srv->daemon) {
        error = vs_error_set(VS_EIO,
                             "cannot listen on %s port %u "
                             "(address in use or not local?)",
                             opts->address, (unsigned)opts->port);
        goto done;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info && info->port ? info->port : opts->port;
done:
    if (error < 0) {
        vs_http_server_free(srv);
        return error;
    }
    *out = srv;
    return 0;
}

void vs_http_server_quiesce(vs_http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    bool first = !srv->quiesced;
    srv->quiesced = true;
    pthread_mutex_unlock(&srv->mu);
    if (first && srv->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    for (size_t i = 0; i < srv->nsuspended; i++)
        MHD_resume_connection(vs_req__connection(srv->suspended[i]));
    srv->nsuspended = 0;
    pthread_mutex_unlock(&srv->mu);
}

void vs_http_server_free(vs_http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon) {
        vs_http_server_quiesce(srv);
        MHD_stop_daemon(srv->daemon);
    }
    /* Every request has ended, so every pipe is aborted: producers stop at
     * their next write or idle wait. */
    pthread_mutex_lock(&srv->mu);
    while (srv->producers > 0)
        pthread_cond_wait(&srv->idle, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    pthread_cond_destroy(&srv->idle);
    vs_router__free(srv->router);
    free(srv->stats);
    free(srv->suspended);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
