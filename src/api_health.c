/*
 * api_health: the probes and the metrics page.  /healthz answers as long
 * as the process serves HTTP; /readyz answers 200 only while the store is
 * loaded and the server is not shutting down (503 before and after);
 * /metrics renders Prometheus text: the HTTP counters and histograms kept
 * by http_server.c, and what the store holds, read under its read lock.
 * Every metric here is measured, none is a placeholder.
 */
#include <stdio.h>

#include "api.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

static int get_healthz(vs_req *req)
{
    return vs_reply_text(req, 200, "{\"status\":\"ok\"}", "application/json");
}

static int get_readyz(vs_req *req)
{
    int state = atomic_load(&vs_req_env(req)->state);
    if (state == VS_HTTP_READY)
        return vs_reply_text(req, 200, "{\"status\":\"ready\"}",
                             "application/json");
    return vs_reply_text(req, 503,
                         state == VS_HTTP_STARTING
                             ? "{\"status\":\"loading\"}"
                             : "{\"status\":\"stopping\"}",
                         "application/json");
}

/* Label values: a collection name is [A-Za-z0-9._-], nothing to escape. */
static int render_store(vs_buf *out, vs_store *st)
{
    vs_store_rdlock(st);
    size_t n = vs_store_ncollections(st);
    int error = vs_buf_printf(
        out,
        "# HELP vecsnap_collections Collections in the store.\n"
        "# TYPE vecsnap_collections gauge\n"
        "vecsnap_collections %zu\n"
        "# HELP vecsnap_vectors Records held, all collections.\n"
        "# TYPE vecsnap_vectors gauge\n"
        "vecsnap_vectors %llu\n"
        "# HELP vecsnap_store_bytes Bytes held by vectors, ids and "
        "metadata.\n"
        "# TYPE vecsnap_store_bytes gauge\n"
        "vecsnap_store_bytes %llu\n"
        "# HELP vecsnap_store_seq Sequence number of the last write.\n"
        "# TYPE vecsnap_store_seq counter\n"
        "vecsnap_store_seq %llu\n"
        "# HELP vecsnap_collection_vectors Records held, by collection.\n"
        "# TYPE vecsnap_collection_vectors gauge\n",
        n, (unsigned long long)vs_store_nrecords(st),
        (unsigned long long)vs_store_bytes(st),
        (unsigned long long)vs_store_seq(st));
    for (size_t i = 0; !error && i < n; i++) {
        const vs_collection *c = vs_store_at(st, i);
        error = vs_buf_printf(out,
                              "vecsnap_collection_vectors{collection=\"%s\"} "
                              "%zu\n",
                              vs_collection_name(c), vs_collection_count(c));
    }
    vs_store_unlock(st);
    return error;
}

static int render_jobs(vs_buf *out, vs_jobs *jobs)
{
    size_t counts[5];
    vs_jobs_count(jobs, counts);
    int error = vs_buf_printf(out, "# HELP vecsnap_jobs Jobs by state.\n"
                                   "# TYPE vecsnap_jobs gauge\n");
    for (int s = 0; !error && s < 5; s++)
        error = vs_buf_printf(out, "vecsnap_jobs{state=\"%s\"} %zu\n",
                              vs_job_state_name((vs_job_state)s), counts[s]);
    return error;
}

static int get_metrics(vs_req *req)
{
    vs_http_env *env = vs_req_env(req);
    int state = atomic_load(&env->state);
    vs_buf out = VS_BUF_INIT(16u << 20);
    int error = vs_buf_printf(&out,
                              "# HELP vecsnap_ready 1 while the store is "
                              "loaded and the server takes work.\n"
                              "# TYPE vecsnap_ready gauge\n"
                              "vecsnap_ready %d\n",
                              state == VS_HTTP_READY);
    if (!error && state == VS_HTTP_READY)
        error = render_store(&out, env->store);
    vs_api_app *app = vs_api_app_of(req);
    if (!error && state == VS_HTTP_READY && app && app->ops)
        error = vs_ops_metrics_render(&out, app->ops);
    if (!error && env->jobs)
        error = render_jobs(&out, env->jobs);
    if (!error)
        error = vs_http_metrics_render(&out, vs_req_server(req));
    if (error < 0) {
        vs_buf_dispose(&out);
        return error;
    }
    return vs_reply_buf(req, 200, &out, PROM_TYPE);
}

const vs_route vs_api_health_routes[] = {
    {"GET", "/healthz", get_healthz, VS_ROUTE_PUBLIC, 0, NULL},
    {"GET", "/readyz", get_readyz, VS_ROUTE_PUBLIC, 0, NULL},
    {"GET", "/metrics", get_metrics, 0, 0, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
