/*
 * job_record: the job table's records on disk.  With a directory, each job's
 * record (progress.c's JSON form) is written atomically to DIR/<id>.json
 * whenever its revision moved on since the last write; finished jobs beyond
 * the newest VS_JOBS_KEEP are dropped from the table with their files.  At
 * start-up every record found is loaded (a file that does not parse or names
 * another job is logged and skipped), temp files a crash left behind are
 * deleted, and jobs that were queued or running come back failed,
 * "interrupted by a restart", with their records rewritten.
 *
 * All writes and deletions hold the table's `io` lock, so a record on disk
 * never goes back to an older revision and a pruned job's file is not
 * written again.  The job objects, the table and the lock order belong to
 * job.c (job_int.h).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "job_int.h"
#include "log.h"
#include "progress.h"

#define RECORD_MAX (4u << 20) /* bytes of one record file */

static char *record_path(const vs_jobs *jobs, const char *id)
{
    size_t n = strlen(jobs->dir) + VS_JOB_ID_LEN + 8;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s.json", jobs->dir, id);
    return path;
}

/* ---- writing and pruning ------------------------------------------------ */

/* Write the job's record if it changed since the last write.  Takes the io
 * lock, so must be called holding no lock. */
void vs_job__persist(vs_jobs *jobs, vs_job *job)
{
    if (!jobs->dir)
        return;
    pthread_mutex_lock(&jobs->io);
    pthread_mutex_lock(&job->lock);
    char *text = NULL;
    uint64_t rev = job->rev;
    bool skip = job->dropped || rev == job->saved_rev;
    if (!skip) {
        json_t *rec = vs_progress_record_json(&job->st);
        text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        json_decref(rec);
    }
    pthread_mutex_unlock(&job->lock);
    if (skip)
        goto done;
    char *path = record_path(jobs, job->st.id);
    int error = !text || !path ? vs_error_oom() : 0;
    if (error == 0)
        error = vs_fs_write_atomic(path, text, strlen(text));
    if (error == 0)
        job->saved_rev = rev;
    else
        vs_log(VS_LOG_WARN, "job %s: record not saved: %s", job->st.id,
               vs_error_last());
    free(path);
done:
    free(text);
    pthread_mutex_unlock(&jobs->io);
}

/* Drop the oldest finished jobs beyond VS_JOBS_KEEP, with their files. */
void vs_job__prune(vs_jobs *jobs)
{
    pthread_mutex_lock(&jobs->io);
    for (;;) {
        vs_job *victim = NULL;
        pthread_mutex_lock(&jobs->lock);
        size_t nfinished = 0, first = 0;
        for (size_t i = jobs->nall; i-- > 0;) {
            if (vs_job_finished(jobs->all[i])) {
                nfinished++;
                first = i;
            }
        }
        if (nfinished > VS_JOBS_KEEP) {
            victim = jobs->all[first];
            memmove(&jobs->all[first], &jobs->all[first + 1],
                    (jobs->nall - first - 1) * sizeof(*jobs->all));
            jobs->nall--;
            pthread_mutex_lock(&victim->lock);
            victim->dropped = true;
            victim->table = NULL;
            pthread_mutex_unlock(&victim->lock);
        }
        pthread_mutex_unlock(&jobs->lock);
        if (!victim)
            break;
        char *path = jobs->dir ? record_path(jobs, victim->st.id) : NULL;
        if (path && unlink(path) < 0 && errno != ENOENT)
            vs_log(VS_LOG_WARN, "job %s: failed to delete '%s': %s",
                   victim->st.id, path, strerror(errno));
        free(path);
        vs_job_unref(victim);
    }
    pthread_mutex_unlock(&jobs->io);
}

/* ---- loading at start-up ------------------------------------------------ */

/* A job object from a record file; an interrupted job comes back failed,
 * with a revision that makes vs_job__persist rewrite its record. */
static int load_one(vs_job **out, const char *path, const char *id)
{
    *out = NULL;
    char *text = NULL;
    size_t len;
    int error = vs_fs_read_all(&text, &len, path, RECORD_MAX);
    if (error < 0)
        return error;
    vs_job *job = vs_job__new();
    if (!job) {
        free(text);
        return vs_error_oom();
    }
    error = vs_progress_record_parse(&job->st, text, len, path);
    free(text);
    if (error == 0 && strcmp(job->st.id, id) != 0)
        error = vs_error_set(VS_ECORRUPT, "job record '%s' names job '%s'",
                             path, job->st.id);
    if (error < 0) {
        vs_job__destroy(job);
        return error;
    }
    job->rev = job->saved_rev = 1;
    if (!vs_job__state_finished(job->st.state)) {
        job->st.state = VS_JOB_FAILED;
        job->st.finished_ms = vs_job__now_ms();
        if (vs_progress_status_set_error(&job->st, vs_error_name(VS_ERROR),
                                         "interrupted by a restart") < 0)
            vs_error_clear();
        job->rev++;
    }
    vs_job__set_state(job, job->st.state);
    vs_progress_ring_finish(&job->events, vs_progress_event_text(&job->st),
                            job->st.state != VS_JOB_DONE);
    *out = job;
    return 0;
}

static int compare_jobs(const void *a, const void *b)
{
    const vs_job *x = *(vs_job *const *)a, *y = *(vs_job *const *)b;
    if (x->st.created_ms != y->st.created_ms)
        return x->st.created_ms < y->st.created_ms ? -1 : 1;
    return strcmp(x->st.id, y->st.id);
}

/* Read DIR: load every record, delete temp files left by a crash, rewrite
 * interrupted records, prune. */
int vs_job__load_records(vs_jobs *jobs)
{
    DIR *d = opendir(jobs->dir);
    if (!d)
        return vs_error_set_os(VS_EIO, "failed to open '%s'", jobs->dir);
    int error = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        char *path;
        size_t n = strlen(name);
        bool temp = name[0] == '.' && name[1] == 'j' && strstr(name, ".tmp-");
        bool record = n == VS_JOB_ID_LEN + 5 && vs_fs_has_suffix(name, ".json");
        char id[VS_JOB_ID_LEN + 1];
        if (record) {
            memcpy(id, name, VS_JOB_ID_LEN);
            id[VS_JOB_ID_LEN] = '\0';
            record = vs_job__id_valid(id);
        }
        if (!temp && !record)
            continue;
        size_t plen = strlen(jobs->dir) + n + 2;
        path = malloc(plen);
        if (!path) {
            error = vs_error_oom();
            break;
        }
        snprintf(path, plen, "%s/%s", jobs->dir, name);
        if (temp) {
            unlink(path);
            free(path);
            continue;
        }
        vs_job *job;
        int e = load_one(&job, path, id);
        free(path);
        if (e == VS_ENOMEM) {
            error = e;
            break;
        }
        if (e < 0) {
            vs_log(VS_LOG_WARN, "job records: skipped: %s", vs_error_last());
            vs_error_clear();
            continue;
        }
        job->table = jobs;
        error = vs_job__list_append(jobs, job);
        if (error < 0) {
            vs_job_unref(job);
            break;
        }
    }
    closedir(d);
    if (error < 0)
        return error;
    if (jobs->nall) {
        qsort(jobs->all, jobs->nall, sizeof(*jobs->all), compare_jobs);
        jobs->last_created_ms = jobs->all[jobs->nall - 1]->st.created_ms;
    }
    for (size_t i = 0; i < jobs->nall; i++)
        vs_job__persist(jobs, jobs->all[i]);
    vs_job__prune(jobs);
    return 0;
}
