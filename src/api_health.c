/*
 * api_health: the probes and the metrics page.  /healthz answers as long
 * as the process serves HTTP; /readyz answers 200 only while the store is
 * loaded, writes are taken and the server is not shutting down (503
 * before and after, and while read-only after a write-ahead log failure);
 * /metrics renders Prometheus text: the HTTP counters and histograms kept
 * by http_server.c, what the store holds, read under its read lock, and
 * the write-ahead log's figures; GET /v1/wal describes the log.  Every
 * metric here is measured, none is a placeholder.
 */
#include <stdio.h>

#include "api.h"
#include "wal.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

static int get_healthz(vs_req *req)
{
    return vs_reply_text(req, 200, "{\"status\":\"ok\"}", "application/json");
}

static int get_readyz(vs_req *req)
{
    int state = atomic_load(&vs_req_env(req)->state);
    vs_api_app *app = vs_api_app_of(req);
    char why[700];
    if (state == VS_HTTP_READY && app && app->ops &&
        vs_ops_read_only(app->ops, why, sizeof(why)))
        return vs_reply_json(
            req, 503,
            json_pack("{s:s,s:s}", "status", "read_only", "reason", why));
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

/* The write-ahead log's figures (its archive scanned for the count). */
static int render_wal(vs_buf *out, vs_ops *ops)
{
    vs_wal_stats s = {0};
    uint64_t narch = 0, abytes = 0;
    char why[8];
    int on = !!ops->wal;
    if (ops->wal) {
        vs_wal_stats_get(ops->wal, &s);
        if (vs_wal_archive_stats(&narch, &abytes, ops->wal_archive) < 0)
            vs_error_clear();
    }
    int error = vs_buf_printf(
        out,
        "# HELP vecsnap_wal_enabled 1 when writes go to the write-ahead "
        "log.\n"
        "# TYPE vecsnap_wal_enabled gauge\n"
        "vecsnap_wal_enabled %d\n"
        "# HELP vecsnap_wal_fsync_policy The log's fsync policy (1 for the "
        "one in use).\n"
        "# TYPE vecsnap_wal_fsync_policy gauge\n",
        on);
    for (int p = VS_WAL_FSYNC_ALWAYS; !error && p <= VS_WAL_FSYNC_NO; p++)
        error =
            vs_buf_printf(out, "vecsnap_wal_fsync_policy{policy=\"%s\"} %d\n",
                          vs_wal_fsync_name((vs_wal_fsync)p),
                          ops->wal && (int)vs_wal_policy(ops->wal) == p);
    if (!error)
        error = vs_buf_printf(
            out,
            "# HELP vecsnap_wal_appends_total Records appended to the log.\n"
            "# TYPE vecsnap_wal_appends_total counter\n"
            "vecsnap_wal_appends_total %llu\n"
            "# HELP vecsnap_wal_bytes_total Bytes appended, framing "
            "included.\n"
            "# TYPE vecsnap_wal_bytes_total counter\n"
            "vecsnap_wal_bytes_total %llu\n"
            "# HELP vecsnap_wal_syncs_total fdatasync calls on the log.\n"
            "# TYPE vecsnap_wal_syncs_total counter\n"
            "vecsnap_wal_syncs_total %llu\n"
            "# HELP vecsnap_wal_segments Live segment files.\n"
            "# TYPE vecsnap_wal_segments gauge\n"
            "vecsnap_wal_segments %llu\n"
            "# HELP vecsnap_wal_archived_segments Segments kept in the "
            "archive for point-in-time restore.\n"
            "# TYPE vecsnap_wal_archived_segments gauge\n"
            "vecsnap_wal_archived_segments %llu\n"
            "# HELP vecsnap_wal_last_seq Seq of the newest record.\n"
            "# TYPE vecsnap_wal_last_seq gauge\n"
            "vecsnap_wal_last_seq %llu\n"
            "# HELP vecsnap_wal_sync_max_seconds The longest fdatasync of "
            "the log.\n"
            "# TYPE vecsnap_wal_sync_max_seconds gauge\n"
            "vecsnap_wal_sync_max_seconds %llu.%06llu\n"
            "# HELP vecsnap_read_only 1 while writes are refused (a log "
            "failure).\n"
            "# TYPE vecsnap_read_only gauge\n"
            "vecsnap_read_only %d\n",
            (unsigned long long)s.appends, (unsigned long long)s.bytes,
            (unsigned long long)s.syncs, (unsigned long long)s.segments,
            (unsigned long long)narch, (unsigned long long)s.last_seq,
            (unsigned long long)(s.sync_max_us / 1000000),
            (unsigned long long)(s.sync_max_us % 1000000),
            vs_ops_read_only(ops, why, sizeof(why)));
    return error;
}

/* GET /v1/wal: what the log holds and how it syncs. */
static int get_wal(vs_req *req)
{
    vs_ops *ops = vs_api_app_of(req)->ops;
    vs_wal_stats s = {0};
    uint64_t narch = 0, abytes = 0;
    char why[700];
    if (ops->wal) {
        vs_wal_stats_get(ops->wal, &s);
        int error = vs_wal_archive_stats(&narch, &abytes, ops->wal_archive);
        if (error < 0)
            return error;
    }
    bool ro = vs_ops_read_only(ops, why, sizeof(why));
    const char *fsync =
        ops->wal ? vs_wal_fsync_name(vs_wal_policy(ops->wal)) : "off";
    json_t *j = json_pack(
        "{s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "enabled", !!ops->wal,
        "fsync", fsync, "last_seq", (json_int_t)s.last_seq, "segments",
        (json_int_t)s.segments, "bytes", (json_int_t)s.disk_bytes,
        "archived_segments", (json_int_t)narch, "archived_bytes",
        (json_int_t)abytes, "appends", (json_int_t)s.appends, "syncs",
        (json_int_t)s.syncs, "read_only", ro);
    if (j && ro && json_object_set_new(j, "reason", json_string(why)) < 0) {
        json_decref(j);
        j = NULL;
    }
    return vs_reply_json(req, 200, j);
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
    if (!error && state == VS_HTTP_READY && app && app->ops)
        error = render_wal(&out, app->ops);
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
    {"GET", "/v1/wal", get_wal, VS_ROUTE_NEEDS_STORE, 0, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
