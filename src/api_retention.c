/*
 * api_retention: the retention policy (retention.h) over HTTP.
 *
 *   GET  /v1/retention   the configured policy: {"policy": {...},
 *                        "enabled": applied after each snapshot, "remote":
 *                        on remote storage too}
 *   POST /v1/retention   apply a policy now: {"keep_last", "keep_within",
 *                        "keep_daily", "keep_weekly", "dry_run", "remote"}
 *
 * A policy field left out takes the configured value; 0 (or null for
 * keep_within) unsets that rule for this run.  The configured policy
 * itself does not change (the config file sets it).  "dry_run" (false)
 * lists what would go without deleting; "remote" (false) works on remote
 * storage instead of the local catalog.
 *
 * A local run answers at once, 200 {"retention": result}: planning is a
 * listing, and deletions are renames and unlinks in the data directory.
 * It never waits for a snapshot being written: that is 409, try again.
 * A remote run talks to the storage, which may take long, so it is a job
 * "retention" (api.h: 202, or with ?wait=true the same 200 body).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"

/* A POST's request. */
typedef struct retention_req {
    vs_retention_policy policy;
    bool dry_run;
    bool remote;
    vs_ops *ops;
    vs_remote *storage;
} retention_req;

static int get_retention(vs_req *req)
{
    const vs_retention_hook *h = &vs_api_app_of(req)->retention;
    json_t *pol = vs_retention_policy_json(&h->policy);
    if (!pol)
        return vs_error_oom();
    return vs_reply_json(
        req, 200,
        json_pack("{s:o,s:b,s:b}", "policy", pol, "enabled",
                  !vs_retention_policy_empty(&h->policy), "remote",
                  h->remote && !vs_retention_policy_empty(&h->policy)));
}

/* A count field: an integer 0 .. VS_RETENTION_COUNT_MAX, or absent (keep
 * *out). */
static int count_field(uint64_t *out, const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > VS_RETENTION_COUNT_MAX)
        return vs_error_set(VS_EINVALID,
                            "\"%s\" must be an integer from 0 to %llu", key,
                            (unsigned long long)VS_RETENTION_COUNT_MAX);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* keep_within: a duration text ("7d"), a number of seconds, or null (0:
 * unset). */
static int within_field(uint64_t *out, const json_t *obj)
{
    json_t *v = json_object_get(obj, "keep_within");
    if (!v)
        return 0;
    if (json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        (uint64_t)json_integer_value(v) <= VS_RETENTION_WITHIN_MAX) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return vs_error_set(VS_EINVALID,
                            "\"keep_within\" must be a duration such as "
                            "\"7d\", a number of seconds up to %llu, or "
                            "null",
                            (unsigned long long)VS_RETENTION_WITHIN_MAX);
    int error = vs_retention_parse_within(out, json_string_value(v));
    if (error < 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        return vs_error_set(error, "\"keep_within\": %s", why);
    }
    return 0;
}

static int bool_field(bool *out, const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return vs_error_set(VS_EINVALID, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int parse(retention_req *rq, const json_t *obj)
{
    static const char *const keys[] = {"keep_last",  "keep_within",
                                       "keep_daily", "keep_weekly",
                                       "dry_run",    "remote"};
    int error = vs_api_check_keys(obj, keys, sizeof(keys) / sizeof(*keys));
    if (!error)
        error = count_field(&rq->policy.keep_last, obj, "keep_last");
    if (!error)
        error = within_field(&rq->policy.keep_within_s, obj);
    if (!error)
        error = count_field(&rq->policy.keep_daily, obj, "keep_daily");
    if (!error)
        error = count_field(&rq->policy.keep_weekly, obj, "keep_weekly");
    if (!error)
        error = bool_field(&rq->dry_run, obj, "dry_run");
    if (!error)
        error = bool_field(&rq->remote, obj, "remote");
    return error;
}

/* {"retention": result} (new reference; NULL when out of memory). */
static json_t *answer(const vs_retention_result *r)
{
    json_t *j = vs_retention_result_json(r);
    return j ? json_pack("{s:o}", "retention", j) : NULL;
}

static int run_remote(vs_job *job, void *payload)
{
    retention_req *rq = payload;
    vs_retention_result r;
    vs_job_progress(job, 0, 1, rq->dry_run ? "planning" : "deleting");
    int error = vs_retention_apply_remote(&r, rq->storage, rq->ops, &rq->policy,
                                          rq->dry_run);
    if (error < 0)
        return error;
    json_t *j = answer(&r);
    vs_retention_result_dispose(&r);
    return vs_api_job_result(job, j);
}

static int post_retention(vs_req *req)
{
    int rc = 0;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    vs_api_app *app = vs_api_app_of(req);
    retention_req rq;
    memset(&rq, 0, sizeof(rq));
    rq.policy = app->retention.policy;
    rq.ops = app->ops;
    rq.storage = app->remote;
    json_t *body = NULL;
    int error = rq.ops ? vs_api_body_object(&body, req)
                       : vs_error_set(VS_EIO, "the server is not ready");
    if (!error)
        error = parse(&rq, body);
    json_decref(body);
    if (!error && rq.remote && !rq.storage)
        error = vs_error_set(VS_EINVALID,
                             "\"remote\": remote storage is not configured "
                             "(set s3_endpoint and s3_bucket)");
    if (error < 0)
        return error;
    if (rq.remote) {
        retention_req *p = malloc(sizeof(*p));
        if (!p)
            return vs_error_oom();
        *p = rq;
        return vs_api_job(req, "retention", NULL, run_remote, p, free, 200);
    }
    vs_retention_result r;
    error = vs_retention_apply_local(&r, rq.ops, &rq.policy, NULL, rq.dry_run,
                                     false);
    if (error < 0)
        return error;
    if (!rq.dry_run)
        vs_log(VS_LOG_INFO,
               "req %s: retention kept %zu snapshots, deleted %zu, %zu not "
               "deleted",
               vs_req_id(req), r.plan.nkeep, r.deleted, r.nskipped);
    json_t *j = answer(&r);
    vs_retention_result_dispose(&r);
    return vs_reply_json(req, 200, j);
}

const vs_route vs_api_retention_routes[] = {
    {"GET", "/v1/retention", get_retention, VS_ROUTE_NEEDS_STORE, 0, NULL},
    {"POST", "/v1/retention", post_retention,
     VS_ROUTE_BODY | VS_ROUTE_NEEDS_STORE, 0, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
