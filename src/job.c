/*
 * job: the job table, its worker threads, cancellation, conflict classes,
 * locking and listeners.  The records as DIR/<id>.json files (writing,
 * pruning, loading at start-up) live in job_record.c, the layout of a job
 * and of the table in job_int.h.  What a job shows (its status and their
 * JSON forms, the event ring, the rate limiter, SSE frames) lives in
 * progress.c.
 *
 * Locks, always taken in this order: the table's `io` mutex (serialises
 * record writes and deletions), the table's `lock` (queue, job list,
 * conflicts, closing), a job's `lock` (everything mutable in the job).  A
 * job's state is written holding both the table lock and the job lock, and
 * is an atomic: vs_job_state_of, vs_job_finished and vs_job_cancelled never
 * lock, so a watcher callback may call them.
 *
 * Rate limit (the header's "at least every 1 % or every 250 ms of work,
 * whichever comes later"): a vs_job_progress report becomes a "progress"
 * event when it is the job's first report, or when its whole percentage
 * differs from the last published event's by at least one point AND at least
 * 250 ms (monotonic) passed since that event.  A fast job thus publishes at
 * most one event per 250 ms, a slow one every percentage point, and any job
 * at most about 100 + (run time / 250 ms) events.  The record always holds
 * the latest report, published or not.
 *
 * References: the table holds one per job it lists, a worker one while it
 * runs the job, and callers the ones vs_jobs_submit/vs_jobs_get gave them.
 * A job's `table` is NULL once the table let go of it (pruned or freed);
 * only finished jobs outlive their table's hold.
 *
 * Watchers run under the job's lock on the thread that made the event: a
 * worker (progress, end of a job), a vs_job_cancel caller (a queued job) or
 * the vs_jobs_free caller (queued jobs at shut-down).  A final event also
 * holds the table lock.
 *
 * Payloads: free_payload runs before the final event of a job that ran (a
 * listener that sees the job finished may rely on its resources being
 * released), right after it for a job cancelled while queued, and never when
 * vs_jobs_submit fails (the caller keeps the payload then).
 */
#include "job_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "progress.h"

#define WORKERS_MAX 64

static const char *const state_names[] = {"queued", "running", "done", "failed",
                                          "cancelled"};

const char *vs_job_state_name(vs_job_state s)
{
    if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
        return "unknown";
    return state_names[s];
}

static void lock(pthread_mutex_t *m)
{
    pthread_mutex_lock(m);
}

static void unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
}

/* ---- small helpers ------------------------------------------------------ */

int64_t vs_job__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool vs_job__id_valid(const char *id)
{
    if (!id || strnlen(id, VS_JOB_ID_LEN + 1) != VS_JOB_ID_LEN)
        return false;
    if (id[0] != 'j' || id[1] != '-' || id[10] != 'T' || id[17] != '-')
        return false;
    for (size_t i = 2; i < 17; i++) {
        if (i != 10 && (id[i] < '0' || id[i] > '9'))
            return false;
    }
    for (size_t i = 18; i < VS_JOB_ID_LEN; i++) {
        bool hex =
            (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
        if (!hex)
            return false;
    }
    return true;
}

static void make_id(char out[VS_JOB_ID_LEN + 1], int64_t ms)
{
    unsigned char r[3];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* Never expected; uniqueness is still checked by the caller. */
        uint64_t x = (uint64_t)vs_progress_now_ms() * 2654435761u;
        r[0] = (unsigned char)x;
        r[1] = (unsigned char)(x >> 8);
        r[2] = (unsigned char)(x >> 16);
    }
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[20];
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    char text[64]; /* exactly VS_JOB_ID_LEN chars until the year 9999 */
    snprintf(text, sizeof(text), "j-%s-%02x%02x%02x", stamp, r[0], r[1], r[2]);
    memcpy(out, text, VS_JOB_ID_LEN);
    out[VS_JOB_ID_LEN] = '\0';
}

/* ---- job objects -------------------------------------------------------- */

/* A queued job with one reference and nothing else; NULL on OOM. */
vs_job *vs_job__new(void)
{
    vs_job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->finished_cond, NULL);
    atomic_init(&job->refs, 1);
    atomic_init(&job->state, VS_JOB_QUEUED);
    atomic_init(&job->cancel, false);
    job->st.state = VS_JOB_QUEUED;
    job->st.created_ms = vs_job__now_ms();
    job->st.started_ms = -1;
    job->st.finished_ms = -1;
    job->rev = 1;
    return job;
}

void vs_job__destroy(vs_job *job)
{
    if (job->free_payload)
        job->free_payload(job->payload);
    vs_progress_ring_dispose(&job->events);
    vs_progress_status_dispose(&job->st);
    free(job->conflict);
    free(job->watchers);
    pthread_cond_destroy(&job->finished_cond);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

void vs_job_ref(vs_job *job)
{
    atomic_fetch_add(&job->refs, 1);
}

void vs_job_unref(vs_job *job)
{
    if (job && atomic_fetch_sub(&job->refs, 1) == 1)
        vs_job__destroy(job);
}

const char *vs_job_id(const vs_job *job)
{
    return job->st.id;
}

const char *vs_job_operation(const vs_job *job)
{
    return job->st.operation;
}

vs_job_state vs_job_state_of(const vs_job *job)
{
    return (vs_job_state)atomic_load(&job->state);
}

bool vs_job_finished(const vs_job *job)
{
    return vs_job__state_finished(atomic_load(&job->state));
}

bool vs_job_cancelled(const vs_job *job)
{
    return atomic_load(&job->cancel);
}

static char *state_text(void *payload)
{
    const vs_job *job = payload;
    return vs_progress_event_text(&job->st);
}

void vs_job__set_state(vs_job *job, vs_job_state state)
{
    job->st.state = state;
    atomic_store(&job->state, (int)state);
}

json_t *vs_job_to_json(const vs_job *job)
{
    lock((pthread_mutex_t *)&job->lock);
    json_t *o = vs_progress_record_json(&job->st);
    unlock((pthread_mutex_t *)&job->lock);
    return o;
}

/* Detach the payload under the job lock and release it holding no lock. */
static void release_payload(vs_job *job)
{
    lock(&job->lock);
    void *payload = job->payload;
    void (*free_payload)(void *) = job->free_payload;
    job->payload = NULL;
    job->free_payload = NULL;
    unlock(&job->lock);
    if (free_payload)
        free_payload(payload);
}

static void notify(vs_job *job)
{
    for (size_t i = 0; i < job->nwatchers; i++)
        job->watchers[i].fn(job, job->watchers[i].payload);
}

/* End the job: state, time, error, final event, watchers, waiters.  Table
 * lock and job lock held. */
static void finish_locked(vs_job *job, vs_job_state state, const char *code,
                          const char *message)
{
    vs_job__set_state(job, state);
    job->st.finished_ms = vs_job__now_ms();
    job->rev++;
    if (code && vs_progress_status_set_error(&job->st, code, message) < 0)
        vs_error_clear(); /* shown incomplete rather than not at all */
    vs_progress_ring_finish(&job->events, vs_progress_event_text(&job->st),
                            state != VS_JOB_DONE);
    notify(job);
    pthread_cond_broadcast(&job->finished_cond);
}

int vs_job__list_append(vs_jobs *jobs, vs_job *job)
{
    if (jobs->nall == jobs->capall) {
        size_t cap = jobs->capall ? jobs->capall * 2 : 64;
        vs_job **all = realloc(jobs->all, cap * sizeof(*all));
        if (!all)
            return vs_error_oom();
        jobs->all = all;
        jobs->capall = cap;
    }
    jobs->all[jobs->nall++] = job;
    return 0;
}

/* ---- workers ------------------------------------------------------------ */

static void run_one(vs_jobs *jobs, vs_job *job)
{
    vs_job__persist(jobs, job);
    vs_log(VS_LOG_DEBUG, "job %s: %s started", job->st.id, job->st.operation);
    vs_error_clear();
    int rc = job->fn(job, job->payload);
    vs_job_state state = VS_JOB_DONE;
    const char *code = NULL;
    char *message = NULL;
    if (rc < 0) {
        const char *last = vs_error_last();
        bool cancelled = rc == VS_ECANCELLED || vs_job_cancelled(job);
        state = cancelled ? VS_JOB_CANCELLED : VS_JOB_FAILED;
        code = vs_error_name(cancelled ? VS_ECANCELLED : rc);
        if (*last)
            message = strdup(last);
        else if (cancelled)
            message = strdup("cancelled by request");
        else
            message = strdup(vs_error_name(rc));
    }
    /* The payload goes before the final event: a listener that sees the job
     * finished may rely on its resources being released. */
    release_payload(job);

    lock(&jobs->lock);
    lock(&job->lock);
    finish_locked(job, state, code, message ? message : "out of memory");
    unlock(&job->lock);
    unlock(&jobs->lock);
    vs_log(state == VS_JOB_DONE ? VS_LOG_INFO : VS_LOG_WARN,
           "job %s: %s %s%s%s", job->st.id, job->st.operation,
           vs_job_state_name(state), message ? ": " : "",
           message ? message : "");
    free(message);
    vs_job__persist(jobs, job);
    vs_job__prune(jobs);
}

static void *worker_main(void *arg)
{
    vs_jobs *jobs = arg;
    lock(&jobs->lock);
    for (;;) {
        while (!jobs->qhead && !jobs->stopping)
            pthread_cond_wait(&jobs->wake, &jobs->lock);
        vs_job *job = jobs->qhead;
        if (!job)
            break;
        jobs->qhead = job->qnext;
        if (!jobs->qhead)
            jobs->qtail = NULL;
        job->qnext = NULL;
        vs_job_ref(job);
        lock(&job->lock);
        vs_job__set_state(job, VS_JOB_RUNNING);
        job->st.started_ms = vs_job__now_ms();
        job->rev++;
        unlock(&job->lock);
        unlock(&jobs->lock);
        run_one(jobs, job);
        vs_job_unref(job);
        lock(&jobs->lock);
    }
    unlock(&jobs->lock);
    return NULL;
}

/* ---- the table ---------------------------------------------------------- */

static void table_free(vs_jobs *jobs)
{
    for (size_t i = 0; i < jobs->nall; i++) {
        vs_job *job = jobs->all[i];
        lock(&job->lock);
        job->table = NULL;
        unlock(&job->lock);
        vs_job_unref(job);
    }
    free(jobs->all);
    free(jobs->threads);
    free(jobs->dir);
    pthread_cond_destroy(&jobs->wake);
    pthread_mutex_destroy(&jobs->lock);
    pthread_mutex_destroy(&jobs->io);
    free(jobs);
}

static void join_workers(vs_jobs *jobs)
{
    lock(&jobs->lock);
    jobs->stopping = true;
    pthread_cond_broadcast(&jobs->wake);
    unlock(&jobs->lock);
    for (size_t i = 0; i < jobs->nthreads; i++)
        pthread_join(jobs->threads[i], NULL);
    jobs->nthreads = 0;
}

int vs_jobs_new(vs_jobs **out, const char *dir, size_t nworkers)
{
    *out = NULL;
    if (nworkers < 1 || nworkers > WORKERS_MAX)
        return vs_error_set(VS_EINVALID, "job workers must be 1 to %d",
                            WORKERS_MAX);
    vs_jobs *jobs = calloc(1, sizeof(*jobs));
    if (!jobs)
        return vs_error_oom();
    pthread_mutex_init(&jobs->io, NULL);
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_cond_init(&jobs->wake, NULL);
    int error = 0;
    jobs->threads = calloc(nworkers, sizeof(*jobs->threads));
    if (!jobs->threads || (dir && !(jobs->dir = strdup(dir)))) {
        error = vs_error_oom();
        goto done;
    }
    if (dir) {
        error = vs_fs_mkdirs(dir);
        if (error == 0)
            error = vs_job__load_records(jobs);
        if (error < 0)
            goto done;
    }
    for (size_t i = 0; i < nworkers; i++) {
        int rc = pthread_create(&jobs->threads[i], NULL, worker_main, jobs);
        if (rc != 0) {
            errno = rc;
            error = vs_error_set_os(VS_ERROR, "failed to start job worker");
            goto done;
        }
        jobs->nthreads++;
    }
done:
    if (error < 0) {
        join_workers(jobs);
        table_free(jobs);
        return error;
    }
    *out = jobs;
    return 0;
}

void vs_jobs_close(vs_jobs *jobs)
{
    lock(&jobs->lock);
    jobs->closing = true;
    unlock(&jobs->lock);
}

void vs_jobs_free(vs_jobs *jobs)
{
    if (!jobs)
        return;
    lock(&jobs->lock);
    jobs->closing = true;
    vs_job *chain = jobs->qhead;
    jobs->qhead = jobs->qtail = NULL;
    for (vs_job *job = chain; job; job = job->qnext) {
        lock(&job->lock);
        atomic_store(&job->cancel, true);
        finish_locked(job, VS_JOB_CANCELLED, vs_error_name(VS_ECANCELLED),
                      "cancelled by a shutdown");
        unlock(&job->lock);
    }
    for (size_t i = 0; i < jobs->nall; i++) {
        if (vs_job_state_of(jobs->all[i]) == VS_JOB_RUNNING)
            atomic_store(&jobs->all[i]->cancel, true);
    }
    unlock(&jobs->lock);
    while (chain) {
        vs_job *job = chain;
        chain = job->qnext;
        job->qnext = NULL;
        release_payload(job);
        vs_job__persist(jobs, job);
    }
    join_workers(jobs);
    vs_job__prune(jobs);
    table_free(jobs);
}

/* A job of class `conflict` that is queued or running.  Table lock held. */
static vs_job *find_conflict(const vs_jobs *jobs, const char *conflict)
{
    for (size_t i = jobs->nall; i-- > 0;) {
        vs_job *job = jobs->all[i];
        if (job->conflict && !vs_job_finished(job) &&
            strcmp(job->conflict, conflict) == 0)
            return job;
    }
    return NULL;
}

static bool id_taken(const vs_jobs *jobs, const char *id)
{
    for (size_t i = 0; i < jobs->nall; i++) {
        if (strcmp(jobs->all[i]->st.id, id) == 0)
            return true;
    }
    return false;
}

int vs_jobs_submit(vs_job **out, vs_jobs *jobs, const char *operation,
                   const char *conflict, vs_job_fn fn, void *payload,
                   void (*free_payload)(void *))
{
    if (out)
        *out = NULL;
    if (!operation || !*operation || !fn)
        return vs_error_set(VS_EINVALID, "a job needs an operation and a "
                                         "function");
    vs_job *job = vs_job__new();
    if (job) {
        job->st.operation = strdup(operation);
        job->conflict = conflict ? strdup(conflict) : NULL;
    }
    if (!job || !job->st.operation || (conflict && !job->conflict)) {
        if (job)
            vs_job__destroy(job);
        return vs_error_oom();
    }
    int error = 0;
    lock(&jobs->lock);
    vs_job *other = conflict ? find_conflict(jobs, conflict) : NULL;
    if (jobs->closing) {
        error = vs_error_set(VS_EBUSY, "shutting down");
    } else if (other) {
        error = vs_error_set(
            VS_EBUSY, "a %s job is already %s (job %s)", conflict,
            vs_job_state_of(other) == VS_JOB_QUEUED ? "queued" : "running",
            other->st.id);
    } else {
        /* Distinct creation times keep the order of records stable across
         * restarts (a burst of jobs is spread over a few milliseconds). */
        if (job->st.created_ms <= jobs->last_created_ms)
            job->st.created_ms = jobs->last_created_ms + 1;
        jobs->last_created_ms = job->st.created_ms;
        do
            make_id(job->st.id, job->st.created_ms);
        while (id_taken(jobs, job->st.id));
        error = vs_job__list_append(jobs, job);
    }
    if (error < 0) {
        unlock(&jobs->lock);
        vs_job__destroy(job);
        return error;
    }
    job->table = jobs;
    job->fn = fn;
    job->payload = payload;
    job->free_payload = free_payload;
    vs_job_ref(job); /* the table's, plus the one for *out */
    if (jobs->qtail)
        jobs->qtail->qnext = job;
    else
        jobs->qhead = job;
    jobs->qtail = job;
    pthread_cond_signal(&jobs->wake);
    unlock(&jobs->lock);
    vs_job__persist(jobs, job);
    if (out)
        *out = job;
    else
        vs_job_unref(job);
    return 0;
}

vs_job *vs_jobs_get(vs_jobs *jobs, const char *id)
{
    if (!vs_job__id_valid(id))
        return NULL;
    vs_job *found = NULL;
    lock(&jobs->lock);
    for (size_t i = 0; i < jobs->nall && !found; i++) {
        if (strcmp(jobs->all[i]->st.id, id) == 0) {
            found = jobs->all[i];
            vs_job_ref(found);
        }
    }
    unlock(&jobs->lock);
    return found;
}

json_t *vs_jobs_list_json(vs_jobs *jobs)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    lock(&jobs->lock);
    for (size_t i = jobs->nall; i-- > 0;) {
        json_t *rec = vs_job_to_json(jobs->all[i]);
        if (json_array_append_new(arr, rec) < 0) {
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    unlock(&jobs->lock);
    return arr;
}

void vs_jobs_count(const vs_jobs *jobs, size_t counts[5])
{
    memset(counts, 0, 5 * sizeof(*counts));
    lock((pthread_mutex_t *)&jobs->lock);
    for (size_t i = 0; i < jobs->nall; i++) {
        int s = atomic_load(&jobs->all[i]->state);
        if (s >= 0 && s < 5)
            counts[s]++;
    }
    unlock((pthread_mutex_t *)&jobs->lock);
}

/* ---- cancellation ------------------------------------------------------- */

int vs_job_cancel(vs_job *job)
{
    lock(&job->lock);
    vs_jobs *jobs = job->table;
    int s = atomic_load(&job->state);
    unlock(&job->lock);
    /* A job that is not finished keeps its table alive; the table lock
     * comes first, and the state may have moved on meanwhile. */
    if (!vs_job__state_finished(s)) {
        lock(&jobs->lock);
        lock(&job->lock);
        s = atomic_load(&job->state);
        if (!vs_job__state_finished(s))
            atomic_store(&job->cancel, true);
        if (s == VS_JOB_QUEUED) {
            vs_job **link = &jobs->qhead, *prev = NULL;
            while (*link != job) {
                prev = *link;
                link = &prev->qnext;
            }
            *link = job->qnext;
            if (jobs->qtail == job)
                jobs->qtail = prev;
            job->qnext = NULL;
            finish_locked(job, VS_JOB_CANCELLED, vs_error_name(VS_ECANCELLED),
                          "cancelled before it started");
        }
        unlock(&job->lock);
        unlock(&jobs->lock);
    }
    if (vs_job__state_finished(s))
        return vs_error_set(VS_EINVALID, "job %s has already finished",
                            job->st.id);
    if (s == VS_JOB_QUEUED) {
        release_payload(job);
        vs_job__persist(jobs, job);
        vs_job__prune(jobs);
    }
    return 0;
}

/* ---- for job functions -------------------------------------------------- */

/* A NULL message keeps the previous one; reports outside the running state
 * are ignored. */
void vs_job_progress(vs_job *job, uint64_t current, uint64_t total,
                     const char *message)
{
    lock(&job->lock);
    if (atomic_load(&job->state) != VS_JOB_RUNNING)
        goto done;
    job->st.current = current;
    job->st.total = total;
    job->st.percentage = vs_progress_percentage(current, total);
    if (message &&
        (!job->st.message || strcmp(message, job->st.message) != 0)) {
        char *copy = vs_progress_text_dup(message);
        if (copy) {
            free(job->st.message);
            job->st.message = copy;
        }
    }
    if (!vs_progress_limiter_check(&job->limiter, job->st.percentage))
        goto done;
    char *text = vs_progress_event_text(&job->st);
    if (text && vs_progress_ring_push(&job->events, text) == 0)
        notify(job);
done:
    unlock(&job->lock);
}

int vs_job_progress_cb(void *job, uint64_t done, uint64_t total)
{
    vs_job_progress(job, done, total, NULL);
    return vs_job_cancelled(job) ? 1 : 0;
}

void vs_job_set_result(vs_job *job, json_t *result)
{
    lock(&job->lock);
    json_t *old = job->st.result;
    job->st.result = result;
    unlock(&job->lock);
    json_decref(old);
}

/* ---- for listeners ------------------------------------------------------ */

int vs_job_watch(vs_job *job, vs_job_watch_fn fn, void *payload,
                 uint64_t *handle)
{
    int error = 0;
    lock(&job->lock);
    if (job->nwatchers == job->capwatchers) {
        size_t cap = job->capwatchers ? job->capwatchers * 2 : 4;
        vs_job__watcher *w = realloc(job->watchers, cap * sizeof(*w));
        if (!w) {
            error = vs_error_oom();
            goto done;
        }
        job->watchers = w;
        job->capwatchers = cap;
    }
    *handle = ++job->next_handle;
    job->watchers[job->nwatchers++] = (vs_job__watcher){*handle, fn, payload};
done:
    unlock(&job->lock);
    return error;
}

void vs_job_unwatch(vs_job *job, uint64_t handle)
{
    lock(&job->lock);
    for (size_t i = 0; i < job->nwatchers; i++) {
        if (job->watchers[i].handle == handle) {
            memmove(&job->watchers[i], &job->watchers[i + 1],
                    (job->nwatchers - i - 1) * sizeof(*job->watchers));
            job->nwatchers--;
            break;
        }
    }
    unlock(&job->lock);
}

int vs_job_render_events(vs_buf *out, vs_job *job, uint64_t *last_id,
                         bool *finished)
{
    lock(&job->lock);
    int error = vs_progress_ring_render(out, &job->events, last_id, finished,
                                        state_text, job);
    unlock(&job->lock);
    return error;
}

void vs_job_wait(vs_job *job)
{
    lock(&job->lock);
    while (!vs_job_finished(job))
        pthread_cond_wait(&job->finished_cond, &job->lock);
    unlock(&job->lock);
}
