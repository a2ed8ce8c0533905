/*
 * job_int: private to the job module (job.c, the table, workers and
 * listeners; job_record.c, the records on disk); nothing else includes it.
 * It holds the layout of a job and of the table, and the vs_job__* helpers
 * the two files share.  The lock order, the reference rules and who runs the
 * watchers are described at the top of job.c.
 */
#ifndef VS_JOB_INT_H
#define VS_JOB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "progress.h"

typedef struct vs_job__watcher {
    uint64_t handle;
    vs_job_watch_fn fn;
    void *payload;
} vs_job__watcher;

struct vs_job {
    vs_jobs *table; /* NULL once the table is freed (the job is finished) */
    pthread_mutex_t lock;
    pthread_cond_t finished_cond;
    atomic_uint refs;
    atomic_int state; /* st.state, for readers that do not lock */
    atomic_bool cancel;
    vs_progress_status st; /* id and operation never change */
    char *conflict;        /* NULL: none */
    vs_job_fn fn;
    void *payload;
    void (*free_payload)(void *);
    vs_job *qnext; /* the table's queue */
    vs_progress_limiter limiter;
    vs_progress_ring events;
    vs_job__watcher *watchers;
    size_t nwatchers, capwatchers;
    uint64_t next_handle;
    uint64_t rev;       /* bumped on every state change (job lock) */
    uint64_t saved_rev; /* revision on disk (table io lock) */
    bool dropped;       /* pruned from the table (job lock) */
};

struct vs_jobs {
    pthread_mutex_t io;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* workers: a job is queued, or stopping */
    char *dir;           /* NULL: records are not kept */
    pthread_t *threads;
    size_t nthreads;
    bool closing;  /* refuse new jobs */
    bool stopping; /* workers exit once the queue is empty */
    vs_job **all;  /* every listed job, oldest first */
    size_t nall, capall;
    int64_t last_created_ms; /* creation times are kept distinct */
    vs_job *qhead, *qtail;
};

static inline bool vs_job__state_finished(int s)
{
    return s == VS_JOB_DONE || s == VS_JOB_FAILED || s == VS_JOB_CANCELLED;
}

/* ---- job objects (job.c) ------------------------------------------------ */

/* Wall-clock milliseconds since the epoch. */
int64_t vs_job__now_ms(void);
/* Whether `id` has the shape of a job id ("j-YYYYMMDDTHHMMSS-xxxxxx"). */
bool vs_job__id_valid(const char *id);
/* A queued job with one reference and nothing else; NULL on OOM. */
vs_job *vs_job__new(void);
/* Frees the job whatever its references (payload released first). */
void vs_job__destroy(vs_job *job);
/* st.state and the atomic copy together. */
void vs_job__set_state(vs_job *job, vs_job_state state);
/* Appends to the table's list, which takes over the caller's reference
 * (table lock held, or before the workers start); VS_ENOMEM. */
int vs_job__list_append(vs_jobs *jobs, vs_job *job);

/* ---- records on disk (job_record.c) ------------------------------------- */

/* Write the job's record if it changed since the last write (a failure is
 * logged, not returned).  Takes the io lock: call holding no lock. */
void vs_job__persist(vs_jobs *jobs, vs_job *job);
/* Drop the oldest finished jobs beyond VS_JOBS_KEEP, with their files.
 * Takes the io lock: call holding no lock. */
void vs_job__prune(vs_jobs *jobs);
/* At start-up, on a table with a dir and no workers yet: load every record
 * of jobs->dir, delete temp files left by a crash, rewrite interrupted
 * records, prune. */
int vs_job__load_records(vs_jobs *jobs);

#endif
