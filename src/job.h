/*
 * job: long operations (snapshot, restore, import, verify, ...) run on a
 * small pool of worker threads, each with a record, progress, cancellation
 * and a ring of recent events for Server-Sent Events listeners.
 *
 * Lifecycle of a job: queued -> running -> done | failed | cancelled.
 * vs_jobs_submit creates it queued; a worker runs its function; the
 * function reports progress with vs_job_progress, checks
 * vs_job_cancelled, sets a result with vs_job_set_result and returns 0 or a
 * negative vs_errcode (the worker copies vs_error_last() into the record).
 *
 * Events: every job has a sequence of events numbered from 1: "progress"
 * events, then exactly one final "done" or "error" (a cancelled job ends
 * with "error" and code "cancelled").  Each event's data is a JSON object
 * {"job","operation","state","percentage","current","total","message"}
 * (+ "result" on done, "error":{"code","message"} on error).  Progress is
 * published at least every 1 % or every 250 ms of work, whichever comes
 * later; the newest VS_JOB_RING events are kept, and the final event is
 * always kept, so a late listener can replay from the ring (Last-Event-ID)
 * and always learns how the job ended.
 *
 * Listeners: vs_job_watch registers a callback invoked (under the job's
 * lock: it must not call back into the job, only wake someone up) after
 * each new event.
 *
 * Conflicts: a job submitted with a conflict class ("store" for anything
 * that writes the live store or the catalog's current state) is refused
 * with VS_EBUSY while another job of that class is queued or running.
 *
 * Persistence: with a directory, each job's record is written atomically
 * to DIR/<id>.json on every state change (not on every progress event).  At
 * start-up, records of jobs that were queued or running are rewritten as
 * failed, "interrupted by a restart": a job cut off by a crash never shows
 * as running forever.  The newest VS_JOBS_KEEP finished records are kept.
 *
 * References: vs_jobs_submit and vs_jobs_get return a reference the caller
 * drops with vs_job_unref; the table holds its own.
 */
#ifndef VS_JOB_H
#define VS_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define VS_JOB_ID_LEN 24 /* "j-20261124T220055-1a2b3c" */
#define VS_JOB_RING 256
#define VS_JOBS_KEEP 200

typedef enum vs_job_state {
    VS_JOB_QUEUED,
    VS_JOB_RUNNING,
    VS_JOB_DONE,
    VS_JOB_FAILED,
    VS_JOB_CANCELLED
} vs_job_state;

typedef struct vs_job vs_job;
typedef struct vs_jobs vs_jobs;

typedef int (*vs_job_fn)(vs_job *job, void *payload);
typedef void (*vs_job_watch_fn)(vs_job *job, void *payload);

const char *vs_job_state_name(vs_job_state s);

/* A table with `nworkers` threads (>= 1).  `dir` (may be NULL) keeps the
 * records; it is created if missing, and interrupted records found there
 * are marked failed. */
int vs_jobs_new(vs_jobs **out, const char *dir,
                size_t nworkers) VS_WARN_UNUSED;
/* Stop taking jobs, cancel queued ones, ask running ones to cancel, wait for
 * the workers, free.  Listeners get the final events first. */
void vs_jobs_free(vs_jobs *jobs);
/* Stop taking new jobs (VS_EBUSY "shutting down") without waiting. */
void vs_jobs_close(vs_jobs *jobs);

/* Queue `fn(job, payload)`.  `free_payload` (may be NULL) is called once
 * when the job no longer needs it.  `conflict` (may be NULL) is the
 * conflict class.  *out (may be NULL) gets a reference.  VS_EBUSY. */
int vs_jobs_submit(vs_job **out, vs_jobs *jobs, const char *operation,
                   const char *conflict, vs_job_fn fn, void *payload,
                   void (*free_payload)(void *)) VS_WARN_UNUSED;
/* A reference to a job by id, NULL when unknown (finished jobs loaded from
 * the directory included). */
vs_job *vs_jobs_get(vs_jobs *jobs, const char *id);
/* Every job's record, newest first (new reference to a JSON array). */
json_t *vs_jobs_list_json(vs_jobs *jobs);
/* Count of jobs by state, for metrics. */
void vs_jobs_count(const vs_jobs *jobs, size_t counts[5]);

void vs_job_ref(vs_job *job);
void vs_job_unref(vs_job *job);

const char *vs_job_id(const vs_job *job);
const char *vs_job_operation(const vs_job *job);
vs_job_state vs_job_state_of(const vs_job *job);
bool vs_job_finished(const vs_job *job);
/* The record: id, operation, state, created, started, finished (RFC 3339 or
 * null), percentage, current, total, message, result, error {code,message}
 * (new reference). */
json_t *vs_job_to_json(const vs_job *job);

/* Ask a job to stop: a queued job ends cancelled at once; a running one
 * when its function next checks.  VS_EINVALID when already finished. */
int vs_job_cancel(vs_job *job) VS_WARN_UNUSED;

/* ---- for job functions ---- */
bool vs_job_cancelled(const vs_job *job);
/* Report progress; rate-limited as described above.  `message` may be
 * NULL. */
void vs_job_progress(vs_job *job, uint64_t current, uint64_t total,
                     const char *message);
/* A vs_progress_fn adapter (fmt.h): payload is the job; returns non-zero
 * when the job was cancelled. */
int vs_job_progress_cb(void *job, uint64_t done, uint64_t total);
/* The result shown in the record and the "done" event (takes ownership). */
void vs_job_set_result(vs_job *job, json_t *result);

/* ---- for listeners ---- */
/* Register a wake-up callback; returns a handle for vs_job_unwatch.  The
 * callback runs under the job's lock after each new event. */
int vs_job_watch(vs_job *job, vs_job_watch_fn fn, void *payload,
                 uint64_t *handle) VS_WARN_UNUSED;
void vs_job_unwatch(vs_job *job, uint64_t handle);
/* Append to `out` the SSE frames of events with id > *last_id ("id: N\n
 * event: progress\ndata: {...}\n\n"), and advance *last_id.  When the ring
 * no longer holds the events right after *last_id, starts with the current
 * state as one "progress" frame (a late listener first gets the current
 * state).  *finished is set when the final event has been appended.  VS_ETOOBIG
 * if out's cap is hit (nothing appended). */
int vs_job_render_events(vs_buf *out, vs_job *job, uint64_t *last_id,
                         bool *finished) VS_WARN_UNUSED;
/* Block until the job finishes (for callers that may block: tests, the
 * tool; HTTP handlers use vs_job_watch instead). */
void vs_job_wait(vs_job *job);

#endif
