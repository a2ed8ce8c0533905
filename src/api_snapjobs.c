/*
 * api_snapjobs: the snapshot routes that run as jobs: taking a snapshot
 * (POST /v1/snapshots, POST /v1/save), restoring one (POST
 * /v1/snapshots/{id}/restore, POST /v1/load), verifying one (POST
 * /v1/snapshots/{id}/verify) and compacting a chain (POST
 * /v1/snapshots/{id}/compact).  Each handler parses and checks its whole
 * body first -- unknown fields, bad values (400 naming the field), an
 * unknown snapshot or collection (404) -- and only then submits a job
 * (api.h: 202, or the result with ?wait=true).  The job functions call
 * ops.h and turn what it did into the job's result:
 *
 *   snapshot, save   {"snapshot": manifest}, + "remote": remote manifest
 *                    when "upload" (default: upload_snapshots) sent it
 *                    to remote storage in the same job
 *   restore, load    {"restore": {"snapshot": id, "mode", "collections":
 *                                 [{name, dimension, metric, count}],
 *                                 "records", "seq"}}
 *   verify           {"verify": {"snapshot": id, "ok": true, "bytes",
 *                                "sha256", "records"}}
 *   compact          {"snapshot": the new full manifest, "compacted": id,
 *                     "current": whether CURRENT moved to it}
 *
 * A snapshot with "kind": "incremental" holds the changes since CURRENT
 * (ops.h says when it is taken full instead; the manifest's kind tells).
 *

 * A job's payload is self-contained (names copied out of the request): it
 * runs on a worker thread and may outlive the request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

/* ---- payloads ----------------------------------------------------------- */

typedef struct names {
    size_t n;
    char (*v)[VS_NAME_MAX + 1];
    const char **ptrs; /* into v, for ops.h */
} names;

static int names_copy(names *out, const char **v, size_t n)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return 0;
    out->v = calloc(n, sizeof(*out->v));
    out->ptrs = calloc(n, sizeof(*out->ptrs));
    if (!out->v || !out->ptrs) {
        free(out->v);
        free(out->ptrs);
        return vs_error_oom();
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(out->v[i], sizeof(out->v[i]), "%s", v[i]);
        out->ptrs[i] = out->v[i];
    }
    out->n = n;
    return 0;
}

static void names_dispose(names *x)
{
    free(x->v);
    free(x->ptrs);
    memset(x, 0, sizeof(*x));
}

typedef struct snap_job {
    vs_ops *ops;
    vs_remote *upload; /* upload the snapshot there afterwards; NULL: no */
    vs_catalog *cat;
    bool has_name;
    char name[VS_SNAPSHOT_NAME_MAX + 1];
    vs_format_id format;
    vs_codec_id codec;
    int level;
    bool incremental; /* "kind": "incremental" */
    names cols;
} snap_job;

typedef struct restore_job {
    vs_ops *ops;
    char id[VS_SNAPSHOT_ID_LEN + 1];
    vs_ops_mode mode;
    names cols;
    bool has_until; /* a point-in-time restore: "until" / "until_seq" */
    vs_ops_until until;
} restore_job;

typedef struct verify_job {
    vs_ops *ops;
    char id[VS_SNAPSHOT_ID_LEN + 1];
} verify_job;

static void snap_job_free(void *p)
{
    snap_job *j = p;
    if (j)
        names_dispose(&j->cols);
    free(j);
}

static void restore_job_free(void *p)
{
    restore_job *j = p;
    if (j)
        names_dispose(&j->cols);
    free(j);
}

/* ---- job functions ------------------------------------------------------ */

/* Progress of the upload that follows a snapshot, in bytes. */
static int upload_progress(void *job, uint64_t done, uint64_t total)
{
    vs_job_progress(job, done, total, "uploading");
    return vs_job_cancelled(job);
}

/* "upload": true -- the same job sends the new snapshot to remote storage
 * and adds {"remote": remote manifest} to `result`. */
static int upload_after(json_t *result, snap_job *p, const char *id,
                        vs_job *job)
{
    vs_snapshot rm;
    int error = vs_remote_upload(&rm, p->upload, p->cat, id, upload_progress,
                                 job);
    if (error < 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        return vs_error_set(error, "snapshot %s was taken, but uploading it "
                            "failed: %s", id, why);
    }
    json_t *j = vs_snapshot_to_json(&rm);
    vs_snapshot_dispose(&rm);
    if (!j || json_object_set_new(result, "remote", j) < 0)
        return vs_error_oom();
    return 0;
}

static int run_snapshot(vs_job *job, void *payload)
{
    snap_job *p = payload;
    vs_ops_snapshot_req rq = {p->has_name ? p->name : NULL,
                              p->format,
                              p->codec,
                              p->level,
                              p->cols.ptrs,
                              p->cols.n};
    vs_snapshot s;
    int error = p->incremental
                    ? vs_ops_snapshot_incremental(&s, p->ops, &rq, 0,
                                                  vs_job_progress_cb, job)
                    : vs_ops_snapshot(&s, p->ops, &rq, vs_job_progress_cb, job);
    if (error < 0)
        return error;
    json_t *m = vs_snapshot_to_json(&s);
    json_t *result = m ? json_pack("{s:o}", "snapshot", m) : NULL;
    if (result && p->upload)
        error = upload_after(result, p, s.id, job);
    vs_snapshot_dispose(&s);
    if (error < 0) {
        json_decref(result);
        return error;
    }
    return vs_api_job_result(job, result);
}

static int run_restore(vs_job *job, void *payload)
{
    restore_job *p = payload;
    vs_ops_result r;
    int error = p->has_until
                    ? vs_ops_restore_until(&r, p->ops, p->id, p->mode,
                                           p->cols.ptrs, p->cols.n, &p->until,
                                           vs_job_progress_cb, job)
                    : vs_ops_restore(&r, p->ops, p->id, p->mode, p->cols.ptrs,
                                     p->cols.n, vs_job_progress_cb, job);
    if (error < 0)
        return error;
    json_t *result = vs_api_restore_json(p->id, &r);
    vs_ops_result_dispose(&r);
    return vs_api_job_result(job, result);
}

static int run_verify(vs_job *job, void *payload)
{
    verify_job *p = payload;
    vs_file_info info;
    int error = vs_ops_verify(&info, p->ops, p->id, vs_job_progress_cb, job);
    if (error < 0)
        return error;
    char hex[VS_SHA256_HEX_LEN + 1];
    vs_sha256_hex(hex, info.sha256);
    json_t *result =
        json_pack("{s:{s:s,s:b,s:I,s:s,s:I}}", "verify", "snapshot", p->id,
                  "ok", 1, "bytes", (json_int_t)info.bytes, "sha256", hex,
                  "records", (json_int_t)info.records);
    return vs_api_job_result(job, result);
}

/* {"snapshot": the new full manifest, "compacted": id, "current": bool} */
static int run_compact(vs_job *job, void *payload)
{
    verify_job *p = payload;
    vs_snapshot s;
    bool moved = false;
    int error = vs_ops_compact(&s, &moved, p->ops, p->id, vs_job_progress_cb,
                               job);
    if (error < 0)
        return error;
    json_t *m = vs_snapshot_to_json(&s);
    vs_snapshot_dispose(&s);
    json_t *result = m ? json_pack("{s:o,s:s,s:b}", "snapshot", m, "compacted",
                                   p->id, "current", moved)
                       : NULL;
    return vs_api_job_result(job, result);
}

/* ---- parsing ------------------------------------------------------------ */

/* The snapshot the path names exists: its manifest into *s (dispose). */
static int path_snapshot(vs_snapshot *s, vs_req *req)
{
    memset(s, 0, sizeof(*s));
    vs_catalog *cat = vs_req_env(req)->catalog;
    const char *id = vs_req_param(req, "id", NULL);
    if (!cat)
        return vs_error_set(VS_EIO, "no data directory is configured");
    if (!id)
        return vs_error_set(VS_EINVALID, "no snapshot id");
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    return vs_catalog_get(s, cat, id);
}

/* Every requested collection is in the manifest. */
static int in_manifest(const vs_snapshot *s, const char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < s->ncollections && strcmp(s->collections[k].name, v[i]))
            k++;
        if (k == s->ncollections)
            return vs_error_set(VS_ENOTFOUND,
                                "snapshot %s has no collection '%s'", s->id,
                                v[i]);
    }
    return 0;
}

/* Every requested collection is in the live store now. */
static int in_store(vs_req *req, const char **v, size_t n)
{
    vs_store *st = vs_req_env(req)->store;
    int error = 0;
    vs_store_rdlock(st);
    for (size_t i = 0; !error && i < n; i++)
        if (!vs_store_find(st, v[i]))
            error = vs_error_set(VS_ENOTFOUND, "no collection '%s'", v[i]);
    vs_store_unlock(st);
    return error;
}

/* "upload": a boolean, by default the configured upload_snapshots. */
static int parse_upload(snap_job *p, vs_req *req, const json_t *obj)
{
    vs_api_app *app = vs_api_app_of(req);
    json_t *v = json_object_get(obj, "upload");
    bool upload = app->upload_snapshots;
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return vs_error_set(VS_EINVALID, "\"upload\" must be true or "
                                "false");
        upload = json_is_true(v);
    }
    if (upload && !app->remote)
        return vs_error_set(VS_EINVALID, "\"upload\": remote storage is not "
                            "configured (set s3_endpoint and s3_bucket)");
    p->upload = upload ? app->remote : NULL;
    p->cat = vs_req_env(req)->catalog;
    return 0;
}

/* The body of POST /v1/snapshots and /v1/save into a payload. */
/* "kind": "full" (default) or "incremental": whole-store, and binary when
 * the request names a format (without one, ops makes a link binary and a
 * full snapshot taken instead the configured format). */
static int parse_kind(snap_job *p, const json_t *obj, const char *format_named,
                      size_t ncols)

{
    const char *kind = NULL;
    int error = vs_api_opt_string(&kind, obj, "kind");
    if (error < 0 || !kind || strcmp(kind, "full") == 0)
        return error;
    if (strcmp(kind, "incremental") != 0)
        return vs_error_set(VS_EINVALID,
                            "\"kind\" must be full or incremental, not "
                            "'%.64s'",
                            kind);
    if (format_named && p->format != VS_FORMAT_BIN)
        return vs_error_set(VS_EINVALID,
                            "\"kind\": incremental snapshots are binary, "
                            "not %s",
                            vs_format_name(p->format));
    if (ncols)
        return vs_error_set(VS_EINVALID,
                            "\"kind\": an incremental snapshot is of the "
                            "whole store; leave out \"collections\"");
    p->incremental = true;
    return 0;

}

static int parse_snapshot(snap_job *p, vs_req *req)
{

    static const char *const keys[] = {"name",        "format", "compression",
                                       "level",       "kind",   "collections",
                                       "upload"};
    vs_api_app *app = vs_api_app_of(req);
    json_t *obj = NULL;
    const char *name = NULL, *fmt = NULL, *comp = NULL, **cols = NULL;
    size_t ncols = 0;
    p->ops = app->ops;
    p->format = app->save_format;
    p->codec = app->save_codec;
    p->level = app->save_level;
    int error = vs_api_body_object(&obj, req);
    if (!error)
        error = vs_api_check_keys(obj, keys, sizeof(keys) / sizeof(keys[0]));
    if (!error)
        error = vs_api_opt_string(&name, obj, "name");
    if (!error && name && vs_snapshot_check_name(name) < 0) {
        char why[200];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        error = vs_error_set(VS_EINVALID, "\"name\": %s", why);
    }
    if (!error)
        error = vs_api_opt_string(&fmt, obj, "format");
    if (!error && fmt)
        error = vs_api_format(&p->format, fmt);
    if (!error)
        error = vs_api_opt_string(&comp, obj, "compression");
    if (!error && comp) {
        error = vs_api_codec(&p->codec, comp);
        p->level = -1; /* the configured level is for the configured codec */
    }
    json_t *level = json_object_get(obj, "level");
    if (!error && level && !json_is_null(level))
        error = vs_api_level(&p->level, p->codec, level);
    if (!error)
        error = vs_api_collections(&cols, &ncols, obj, "collections");
    if (!error)
        error = parse_kind(p, obj, fmt, ncols);
    if (!error)
        error = in_store(req, cols, ncols);
    if (!error)
        error = names_copy(&p->cols, cols, ncols);
    if (!error && name) {
        p->has_name = true;
        snprintf(p->name, sizeof(p->name), "%s", name);
    }
    if (!error)
        error = parse_upload(p, req, obj);
    free(cols);
    json_decref(obj);
    return error;
}

/* ---- handlers ----------------------------------------------------------- */

static int take_snapshot(vs_req *req, const char *operation)
{
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    snap_job *p = calloc(1, sizeof(*p));
    if (!p)
        return vs_error_oom();
    int error = parse_snapshot(p, req);
    if (error < 0) {
        snap_job_free(p);
        return error;
    }
    return vs_api_job(req, operation, VS_API_CONFLICT_STORE, run_snapshot, p,
                      snap_job_free, 201);
}

static int post_snapshots(vs_req *req)
{
    return take_snapshot(req, "snapshot");
}

static int post_save(vs_req *req)
{
    return take_snapshot(req, "save");
}

/* N digits at *p (advanced); -1 when they are not all digits. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* An RFC 3339 time ("2026-11-24T22:00:55.123Z", "...+01:00") in Unix ms;
 * a date that does not exist (02-30) is refused too. */
static int parse_rfc3339(uint64_t *ms, const char *s)
{
    const char *p = s;
    struct tm tm, back;
    int frac = 0, off = 0;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = digits(&p, 4) - 1900;
    bool ok = tm.tm_year >= 70 && *p++ == '-';
    tm.tm_mon = ok ? digits(&p, 2) - 1 : -1;
    ok = ok && tm.tm_mon >= 0 && tm.tm_mon < 12 && *p++ == '-';
    tm.tm_mday = ok ? digits(&p, 2) : -1;
    ok = ok && tm.tm_mday >= 1 && (*p == 'T' || *p == 't' || *p == ' ');
    p += ok;
    tm.tm_hour = ok ? digits(&p, 2) : -1;
    ok = ok && tm.tm_hour >= 0 && tm.tm_hour < 24 && *p++ == ':';
    tm.tm_min = ok ? digits(&p, 2) : -1;
    ok = ok && tm.tm_min >= 0 && tm.tm_min < 60 && *p++ == ':';
    tm.tm_sec = ok ? digits(&p, 2) : -1;
    ok = ok && tm.tm_sec >= 0 && tm.tm_sec < 60;
    if (ok && *p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        for (int k = n; k < 3; k++)
            frac *= 10;
        ok = n > 0;
    }
    if (ok && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (ok && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1, h = digits(&p, 2);
        ok = h >= 0 && h < 24 && *p++ == ':';
        int m = ok ? digits(&p, 2) : -1;
        ok = ok && m >= 0 && m < 60;
        off = sign * (h * 60 + m);
    } else {
        ok = false;
    }
    int mday = tm.tm_mday; /* timegm normalises 02-30 into 03-02 */
    time_t t = ok && !*p ? timegm(&tm) : (time_t)-1;
    int64_t secs = (int64_t)t - (int64_t)off * 60;
    if (t == (time_t)-1 || !gmtime_r(&t, &back) ||
        back.tm_mday != mday || secs < 0)
        return vs_error_set(VS_EINVALID,
                            "\"until\" must be an RFC 3339 time such as "
                            "2026-11-24T22:00:55.123Z, not '%.64s'",
                            s);
    *ms = (uint64_t)secs * 1000u + (uint64_t)frac;
    return 0;
}

/* "until" (RFC 3339) and "until_seq" (>= 1): a point-in-time restore,
 * whose bound may not come before the snapshot. */
int vs_api_until(vs_ops_until *out, bool *has, const json_t *obj)
{
    const char *until = NULL;
    json_t *seq = json_object_get(obj, "until_seq");
    memset(out, 0, sizeof(*out));
    int error = vs_api_opt_string(&until, obj, "until");
    if (!error && until)
        error = parse_rfc3339(&out->ms, until);
    if (!error && seq) {
        json_int_t v = json_is_integer(seq) ? json_integer_value(seq) : 0;
        if (v < 1)
            return vs_error_set(VS_EINVALID,
                                "\"until_seq\" must be an integer >= 1");
        out->seq = (uint64_t)v;
    }
    *has = out->seq || out->ms;
    return error;
}

static int parse_until(restore_job *p, const json_t *obj, const vs_snapshot *s)
{
    const char *until = NULL;
    int error = vs_api_until(&p->until, &p->has_until, obj);
    if (!error)
        error = vs_api_opt_string(&until, obj, "until");
    if (error < 0)
        return error;
    if (!error && p->until.seq && p->until.seq < s->seq)
        error = vs_error_set(VS_EINVALID,
                             "\"until_seq\" %llu is before snapshot %s, "
                             "which holds the writes up to seq %llu",
                             (unsigned long long)p->until.seq, s->id,
                             (unsigned long long)s->seq);
    if (!error && p->until.ms && p->until.ms < (uint64_t)s->created_ms)
        error = vs_error_set(VS_EINVALID,
                             "\"until\" %s is before snapshot %s was taken: "
                             "pick an older snapshot",
                             until, s->id);
    if (!error && p->has_until && strcmp(s->origin, "upload") == 0)
        error = vs_error_set(VS_EINVALID,
                             "snapshot %s was uploaded: the log does not go "
                             "on from it (restore it without a bound)",
                             s->id);
    if (!error && p->has_until && !p->ops->wal)
        error = vs_error_set(VS_EINVALID,
                             "a point-in-time restore replays the "
                             "write-ahead log, which is off (wal_fsync off)");
    return error;
}

static int post_restore(vs_req *req)
{
    static const char *const keys[] = {"mode", "collections", "until",
                                       "until_seq"};
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    json_t *obj = NULL;
    const char *mode = NULL, **cols = NULL;
    size_t ncols = 0;
    vs_snapshot s;
    restore_job *p = calloc(1, sizeof(*p));
    if (!p)
        return vs_error_oom();
    p->ops = vs_api_app_of(req)->ops;
    p->mode = VS_OPS_REPLACE;
    int error = path_snapshot(&s, req);
    if (!error)
        error = vs_api_body_object(&obj, req);
    if (!error)
        error = vs_api_check_keys(obj, keys, sizeof(keys) / sizeof(keys[0]));
    if (!error)
        error = vs_api_opt_string(&mode, obj, "mode");
    if (!error && mode) {
        if (strcmp(mode, "merge") == 0)
            p->mode = VS_OPS_MERGE;
        else if (strcmp(mode, "replace") != 0)
            error = vs_error_set(VS_EINVALID,
                                 "\"mode\" must be replace or merge, not "
                                 "'%.64s'",
                                 mode);
    }
    if (!error)
        error = vs_api_collections(&cols, &ncols, obj, "collections");
    if (!error)
        error = in_manifest(&s, cols, ncols);
    if (!error)
        error = parse_until(p, obj, &s);
    if (!error)
        error = names_copy(&p->cols, cols, ncols);
    if (!error)
        memcpy(p->id, s.id, sizeof(p->id));
    free(cols);
    json_decref(obj);
    vs_snapshot_dispose(&s);
    if (error < 0) {
        restore_job_free(p);
        return error;
    }
    return vs_api_job(req, "restore", VS_API_CONFLICT_STORE, run_restore, p,
                      restore_job_free, 200);
}

static int post_load(vs_req *req)
{
    static const char *const keys[] = {"snapshot"};
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    vs_catalog *cat = vs_req_env(req)->catalog;
    if (!cat)
        return vs_error_set(VS_EIO, "no data directory is configured");
    json_t *obj = NULL;
    const char *id = NULL;
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    vs_snapshot s;
    memset(&s, 0, sizeof(s));
    int error = vs_api_body_object(&obj, req);
    if (!error)
        error = vs_api_check_keys(obj, keys, sizeof(keys) / sizeof(keys[0]));
    if (!error)
        error = vs_api_opt_string(&id, obj, "snapshot");
    if (!error && id && vs_snapshot_check_id(id) < 0) {
        char why[200];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        error = vs_error_set(VS_EINVALID, "\"snapshot\": %s", why);
    }
    if (!error && !id) {
        error = vs_catalog_current(cur, cat);
        if (error == VS_ENOTFOUND)
            error = vs_error_set(VS_ENOTFOUND,
                                 "no CURRENT snapshot to load; name one "
                                 "with \"snapshot\"");
        id = cur;
    }
    if (!error)
        error = vs_catalog_get(&s, cat, id);
    restore_job *p = error ? NULL : calloc(1, sizeof(*p));
    if (!error && !p)
        error = vs_error_oom();
    if (!error) {
        p->ops = vs_api_app_of(req)->ops;
        p->mode = VS_OPS_REPLACE;
        memcpy(p->id, s.id, sizeof(p->id));
    }
    vs_snapshot_dispose(&s);
    json_decref(obj);
    if (error < 0)
        return error;
    return vs_api_job(req, "load", VS_API_CONFLICT_STORE, run_restore, p,
                      restore_job_free, 200);
}

/* The payload of verify and compact: snapshot {id} of the path, an empty
 * body; `chain`: the snapshot must be an incremental one. */
static int verify_request(verify_job **out, vs_req *req, bool chain)
{
    json_t *obj = NULL;
    vs_snapshot s;
    *out = NULL;
    int error = path_snapshot(&s, req);
    if (!error)
        error = vs_api_body_object(&obj, req);
    if (!error)
        error = vs_api_check_keys(obj, NULL, 0);
    json_decref(obj);
    if (!error && chain && !vs_snapshot_is_incremental(&s))
        error = vs_error_set(VS_EINVALID,
                             "snapshot %s is a full snapshot: there is no "
                             "chain to compact",
                             s.id);
    verify_job *p = error ? NULL : calloc(1, sizeof(*p));
    if (!error && !p)
        error = vs_error_oom();
    if (!error) {
        p->ops = vs_api_app_of(req)->ops;
        memcpy(p->id, s.id, sizeof(p->id));
        *out = p;
    }
    vs_snapshot_dispose(&s);
    return error;
}

static int post_verify(vs_req *req)
{
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    verify_job *p;
    int error = verify_request(&p, req, false);
    if (error < 0)
        return error;
    return vs_api_job(req, "verify", NULL, run_verify, p, free, 200);
}

static int post_compact(vs_req *req)
{
    int rc;
    if (vs_api_job_resumed(req, &rc))
        return rc;
    verify_job *p;
    int error = verify_request(&p, req, true);
    if (error < 0)
        return error;
    return vs_api_job(req, "compact", VS_API_CONFLICT_STORE, run_compact, p,
                      free, 201);
}

/* ---- routes ------------------------------------------------------------- */

#define JOB_STORE (VS_ROUTE_BODY | VS_ROUTE_NEEDS_STORE)

const vs_route vs_api_snapjob_routes[] = {
    {"POST", "/v1/snapshots", post_snapshots, JOB_STORE, 0, NULL},
    {"POST", "/v1/save", post_save, JOB_STORE, 0, NULL},
    {"POST", "/v1/load", post_load, JOB_STORE, 0, NULL},
    {"POST", "/v1/snapshots/{id}/restore", post_restore, JOB_STORE, 0, NULL},
    {"POST", "/v1/snapshots/{id}/verify", post_verify, JOB_STORE, 0, NULL},
    {"POST", "/v1/snapshots/{id}/compact", post_compact, JOB_STORE, 0, NULL},

    {NULL, NULL, NULL, 0, 0, NULL},
};
