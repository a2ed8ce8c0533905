/*
 * api_autosave: GET|PUT /v1/autosave, the auto-save schedule (autosave.h)
 * as JSON.  PUT takes {"interval_s": N, "after_changes": N}; a field left
 * out keeps its value.  The settings live as long as the process: the
 * config file (autosave_interval_s, autosave_after_changes) gives them at
 * start-up.
 */
#include "api.h"

static vs_autosave *autosave_of(vs_req *req)
{
    vs_api_app *app = vs_api_app_of(req);
    return app ? app->autosave : NULL;
}

static int get_autosave(vs_req *req)
{
    vs_autosave *a = autosave_of(req);
    if (!a)
        return vs_reply_error_status(req, 404, "not_found",
                                     "auto-save is not available");
    return vs_reply_json(req, 200, vs_autosave_json(a));
}

/* A field that must be an integer 0 .. max, or absent (keep *out). */
static int count_field(uint64_t *out, const json_t *obj, const char *key,
                       uint64_t max)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return vs_error_set(VS_EINVALID,
                            "\"%s\" must be an integer from 0 to %llu", key,
                            (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int put_autosave(vs_req *req)
{
    static const char *const keys[] = {"interval_s", "after_changes", "keep"};
    vs_autosave *a = autosave_of(req);
    if (!a)
        return vs_reply_error_status(req, 404, "not_found",
                                     "auto-save is not available");
    json_t *body = NULL, *now = vs_autosave_json(a);
    int error = now ? vs_req_json(&body, req) : vs_error_oom();
    uint64_t interval = 0, changes = 0, keep = 0;
    if (!error) {
        interval = (uint64_t)json_integer_value(
            json_object_get(now, "interval_s"));
        changes = (uint64_t)json_integer_value(
            json_object_get(now, "after_changes"));
        keep = (uint64_t)json_integer_value(json_object_get(now, "keep"));
        error = vs_api_check_keys(body, keys, 3);
    }
    if (!error)
        error = count_field(&interval, body, "interval_s",
                            VS_AUTOSAVE_INTERVAL_MAX);
    if (!error)
        error = count_field(&changes, body, "after_changes",
                            (uint64_t)1 << 53);
    if (!error)
        error = count_field(&keep, body, "keep", 1000000);
    if (!error)
        error = vs_autosave_set(a, interval, changes, keep);
    json_decref(body);
    json_decref(now);
    if (error < 0)
        return error;
    return vs_reply_json(req, 200, vs_autosave_json(a));
}

const vs_route vs_api_autosave_routes[] = {
    {"GET", "/v1/autosave", get_autosave, 0, 0, NULL},
    {"PUT", "/v1/autosave", put_autosave, VS_ROUTE_BODY, 0, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
