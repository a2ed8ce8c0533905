/*
 * autosave: the save schedule (autosave.h).  One thread wakes once a
 * second, or at once when the settings change, and submits a "save" job
 * when the rule holds.  The rule reads two figures kept by ops.c: the
 * writes since the state was last saved or restored, and the time of the
 * last whole-store save (by anyone: a manual save also resets the clock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autosave.h"
#include "log.h"
#include "manifest.h"
#include "retention.h"

struct vs_autosave {
    vs_ops *ops;
    vs_jobs *jobs;
    vs_ops_snapshot_req rq;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;
    uint64_t interval_s, after_changes;
    uint64_t keep; /* auto-saves kept (0: all) */
    bool incremental;
    uint64_t full_every; /* with incremental: every Nth save full */
    vs_remote *remote;   /* upload each save there (NULL: no) */
    int64_t started_ms; /* the clock's origin before any save */
    uint64_t saves;     /* autosaves that succeeded */
    char last_error[256];
    vs_job *job; /* the last submitted save, while it may still run */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_autosave(const vs_snapshot *s)
{
    return strcmp(s->name, "autosave") == 0 && strcmp(s->origin, "save") == 0;
}

/* Keep the newest `keep` auto-saves: older snapshots named "autosave"
 * go, never CURRENT, never a snapshot someone named, never one a kept
 * snapshot depends on (the retention plan with keep_last over the
 * auto-saves only).  A failure here is logged; the save itself
 * succeeded. */
static void prune(vs_autosave *a)
{
    static const vs_retention_scope scope = {is_autosave, "not an auto-save"};
    pthread_mutex_lock(&a->mu);
    vs_retention_policy pol = {a->keep, 0, 0, 0};
    pthread_mutex_unlock(&a->mu);
    if (pol.keep_last == 0)
        return;
    vs_retention_result r;
    if (vs_retention_apply_local(&r, a->ops, &pol, &scope, false, true) < 0) {
        vs_log(VS_LOG_WARN, "auto-save: cannot prune: %s", vs_error_last());
        vs_error_clear();
        return;
    }
    if (r.deleted > 0)
        vs_log(VS_LOG_INFO, "auto-save: pruned %zu (keeping %llu)", r.deleted,
               (unsigned long long)pol.keep_last);
    vs_retention_result_dispose(&r);
}

/* Upload a fresh auto-save.  A failure is logged and remembered
 * (last_error) but does not fail the save: the snapshot is on disk. */
static void upload(vs_autosave *a, const vs_snapshot *snap, json_t *result,
                   vs_job *job)
{
    vs_snapshot remote;
    memset(&remote, 0, sizeof(remote));
    int error = vs_ops_pin(a->ops, snap->id, "upload");
    if (error == 0) {
        error = vs_remote_upload(&remote, a->remote, a->ops->catalog,
                                 snap->id, vs_job_progress_cb, job);
        vs_ops_unpin(a->ops, snap->id);
    }
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "auto-save: upload of %s failed: %s", snap->id,
               vs_error_last());
        pthread_mutex_lock(&a->mu);
        snprintf(a->last_error, sizeof(a->last_error), "upload: %s",
                 vs_error_last());
        pthread_mutex_unlock(&a->mu);
        return;
    }
    vs_log(VS_LOG_INFO, "auto-save: uploaded %s", snap->id);
    if (result)
        json_object_set_new(result, "remote", vs_snapshot_to_json(&remote));
    vs_snapshot_dispose(&remote);
}

static int save_job(vs_job *job, void *payload)
{
    vs_autosave *a = payload;
    vs_snapshot snap;
    memset(&snap, 0, sizeof(snap));
    pthread_mutex_lock(&a->mu);
    bool incremental = a->incremental && a->full_every != 1;
    unsigned links = a->full_every > 1
                         ? (unsigned)(a->full_every > 1000 ? 999
                                                           : a->full_every - 1)
                         : 0;
    pthread_mutex_unlock(&a->mu);
    int error =
        incremental
            ? vs_ops_snapshot_incremental(&snap, a->ops, &a->rq, links,
                                          vs_job_progress_cb, job)
            : vs_ops_snapshot(&snap, a->ops, &a->rq, vs_job_progress_cb, job);
    pthread_mutex_lock(&a->mu);
    if (error < 0) {
        snprintf(a->last_error, sizeof(a->last_error), "%s", vs_error_last());
    } else {
        a->saves++;
        a->last_error[0] = '\0';
    }
    pthread_mutex_unlock(&a->mu);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "auto-save failed: %s", vs_error_last());
        return error;
    }
    vs_log(VS_LOG_INFO, "auto-save: snapshot %s, %llu records, %llu bytes",
           snap.id, (unsigned long long)snap.records,
           (unsigned long long)snap.bytes);
    prune(a);
    json_t *result =
        json_pack("{s:o}", "snapshot", vs_snapshot_to_json(&snap));
    if (a->remote)
        upload(a, &snap, result, job);
    vs_job_set_result(job, result);
    vs_snapshot_dispose(&snap);
    return 0;
}

/* Under a->mu: does the rule ask for a save now? */
static bool due(vs_autosave *a)
{
    if (a->interval_s == 0 || (a->job && !vs_job_finished(a->job)))
        return false;
    uint64_t changes = vs_ops_unsaved(a->ops);
    if (changes == 0 || changes < a->after_changes)
        return false;
    int64_t last = atomic_load(&a->ops->last_save_ms);
    if (last < a->started_ms)
        last = a->started_ms;
    /* A failed save waits a whole interval before it is tried again. */
    return now_ms() - last >= (int64_t)(a->interval_s * 1000);
}

static void *autosave_main(void *arg)
{
    vs_autosave *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        if (due(a)) {
            vs_job *job = NULL;
            int error = vs_jobs_submit(&job, a->jobs, "save", "store",
                                       save_job, a, NULL);
            if (error == 0) {
                if (a->job)
                    vs_job_unref(a->job);
                a->job = job;
                a->started_ms = now_ms(); /* a failure waits an interval */
            } else if (error != VS_EBUSY) {
                vs_log(VS_LOG_WARN, "auto-save not started: %s",
                       vs_error_last());
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&a->cv, &a->mu, &until);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int vs_autosave_start(vs_autosave **out, vs_ops *ops, vs_jobs *jobs,
                      const vs_ops_snapshot_req *rq, uint64_t interval_s,
                      uint64_t after_changes, uint64_t keep)
{
    *out = NULL;
    if (interval_s > VS_AUTOSAVE_INTERVAL_MAX)
        return vs_error_set(VS_EINVALID,
                            "auto-save interval %llu s is above %llu s",
                            (unsigned long long)interval_s,
                            (unsigned long long)VS_AUTOSAVE_INTERVAL_MAX);
    vs_autosave *a = calloc(1, sizeof(*a));
    if (!a)
        return vs_error_oom();
    a->ops = ops;
    a->jobs = jobs;
    a->rq = *rq;
    a->rq.name = "autosave";
    a->rq.collections = NULL;
    a->rq.ncollections = 0;
    a->interval_s = interval_s;
    a->after_changes = after_changes;
    a->keep = keep;
    a->started_ms = now_ms();
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    int rc = pthread_create(&a->thread, NULL, autosave_main, a);
    if (rc != 0) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        free(a);
        errno = rc;
        return vs_error_set_os(VS_EIO, "cannot start the auto-save thread");
    }
    *out = a;
    return 0;
}

void vs_autosave_configure(vs_autosave *a, bool incremental,
                           uint64_t full_every, vs_remote *remote)
{
    pthread_mutex_lock(&a->mu);
    a->incremental = incremental;
    a->full_every = full_every;
    a->remote = remote;
    pthread_mutex_unlock(&a->mu);
}

void vs_autosave_stop(vs_autosave *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    /* A submitted save still uses `a`: the jobs table runs it to its end
     * before it is freed, so wait for it here. */
    if (a->job) {
        vs_job_wait(a->job);
        vs_job_unref(a->job);
    }
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

int vs_autosave_set(vs_autosave *a, uint64_t interval_s, uint64_t after_changes,
                    uint64_t keep)
{
    if (interval_s > VS_AUTOSAVE_INTERVAL_MAX)
        return vs_error_set(VS_EINVALID,
                            "\"interval_s\" must be at most %llu",
                            (unsigned long long)VS_AUTOSAVE_INTERVAL_MAX);
    pthread_mutex_lock(&a->mu);
    a->interval_s = interval_s;
    a->after_changes = after_changes;
    a->keep = keep;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    vs_log(VS_LOG_NOTICE,
           "auto-save: every %llu s after %llu changes, keeping %llu%s",
           (unsigned long long)interval_s, (unsigned long long)after_changes,
           (unsigned long long)keep, interval_s ? "" : " (off)");
    return 0;
}

json_t *vs_autosave_json(vs_autosave *a)
{
    char when[VS_MANIFEST_TIME_LEN + 1];
    int64_t last = atomic_load(&a->ops->last_save_ms);
    bool has_last = last > 0 && vs_manifest_time_format(when, last) == 0;
    const vs_codec_info *ci = vs_codec_info_of(a->rq.codec);
    pthread_mutex_lock(&a->mu);
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:b,s:I,s:o,s:o,s:s,s:s,s:I,s:b,s:I,s:b}",
        "interval_s",
        (json_int_t)a->interval_s, "after_changes",
        (json_int_t)a->after_changes, "keep", (json_int_t)a->keep, "enabled",
        a->interval_s > 0, "changes",
        (json_int_t)vs_ops_unsaved(a->ops), "last_save",
        has_last ? json_string(when) : json_null(), "last_error",
        a->last_error[0] ? json_string(a->last_error) : json_null(), "format",
        vs_format_name(a->rq.format), "compression", ci ? ci->name : "none",
        "saves", (json_int_t)a->saves, "incremental", a->incremental,
        "full_every", (json_int_t)a->full_every, "upload", a->remote ? 1 : 0);
    pthread_mutex_unlock(&a->mu);
    return j;
}

bool vs_autosave_enabled(vs_autosave *a)
{
    pthread_mutex_lock(&a->mu);
    bool on = a->interval_s > 0;
    pthread_mutex_unlock(&a->mu);
    return on;
}
