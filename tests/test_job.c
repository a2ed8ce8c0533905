/* test_job: the job table, workers, cancellation, conflicts, progress rate
 * limit, watchers, SSE rendering (progress.c's ring too) and records. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "job.h"
#include "log.h"
#include "progress.h"
#include "testutil.h"

/* ck_assert records every passing check, which is slow in loops: REQUIRE
 * only reports failures. */
#define REQUIRE(cond, ...)                                                     \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- a gate that holds job functions until the test opens it ----------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered;
    bool open;
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->entered = 0;
    g->open = false;
}

static void gate_destroy(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void gate_pass(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->entered++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_await(gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->entered < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* ---- a configurable job function ----------------------------------------- */

typedef struct work {
    gate *gate;        /* wait here first (NULL: don't) */
    int steps;         /* progress reports i/steps, i = 1..steps */
    int sleep_ms;      /* after each report */
    bool until_cancel; /* then loop until cancelled, return VS_ECANCELLED */
    int fail;          /* then return this code (0: set a result) */
    int value;         /* result {"value": value} */
    atomic_int *ran;   /* counts calls */
    atomic_int *freed; /* counts free_payload calls */
    atomic_int *running;
    atomic_int *max_running;
} work;

static work *work_new(void)
{
    work *w = calloc(1, sizeof(*w));
    REQUIRE(w, "out of memory");
    return w;
}

static void work_free(void *p)
{
    work *w = p;
    if (w->freed)
        atomic_fetch_add(w->freed, 1);
    free(w);
}

static int work_fn(vs_job *job, void *p)
{
    work *w = p;
    if (w->ran)
        atomic_fetch_add(w->ran, 1);
    if (w->running) {
        int now = atomic_fetch_add(w->running, 1) + 1;
        int max = atomic_load(w->max_running);
        while (now > max &&
               !atomic_compare_exchange_weak(w->max_running, &max, now))
            ;
    }
    if (w->gate)
        gate_pass(w->gate);
    for (int i = 1; i <= w->steps; i++) {
        vs_job_progress(job, (uint64_t)i, (uint64_t)w->steps, "working");
        if (w->sleep_ms)
            msleep(w->sleep_ms);
    }
    if (w->running)
        atomic_fetch_sub(w->running, 1);
    if (w->until_cancel) {
        while (!vs_job_cancelled(job))
            msleep(1);
        return vs_error_set(VS_ECANCELLED, "stopped by request at step %d",
                            w->steps);
    }
    if (w->fail)
        return vs_error_set(w->fail, "injected failure: bad byte at 12");
    vs_job_set_result(job, json_pack("{s:i}", "value", w->value));
    return 0;
}

static vs_job *submit(vs_jobs *jobs, const char *op, const char *conflict,
                      work *w)
{
    vs_job *job = NULL;
    int r = vs_jobs_submit(&job, jobs, op, conflict, work_fn, w, work_free);
    REQUIRE(r == 0, "submit failed: %s", vs_error_last());
    return job;
}

/* ---- SSE frames --------------------------------------------------------- */

typedef struct frame {
    uint64_t id;
    char event[16];
    json_t *data;
} frame;

/* Parse "id: N\nevent: E\ndata: {...}\n\n" frames strictly. */
static size_t parse_frames(frame *out, size_t max, const char *text)
{
    size_t n = 0;
    const char *p = text;
    while (*p) {
        REQUIRE(n < max, "too many frames");
        const char *end = strstr(p, "\n\n");
        REQUIRE(end, "frame without a blank line: %s", p);
        unsigned long long id;
        int used = 0;
        REQUIRE(sscanf(p, "id: %llu\nevent: %15[a-z]\ndata: %n", &id,
                       out[n].event, &used) == 2 &&
                    used > 0,
                "bad frame: %.80s", p);
        out[n].id = id;
        const char *data = p + used;
        REQUIRE(!memchr(data, '\n', (size_t)(end - data)), "data spans lines");
        json_error_t jerr;
        out[n].data = json_loadb(data, (size_t)(end - data), 0, &jerr);
        REQUIRE(out[n].data, "data is not JSON: %s", jerr.text);
        n++;
        p = end + 2;
    }
    return n;
}

static void frames_free(frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(f[i].data);
}

static const char *data_str(const frame *f, const char *key)
{
    return json_string_value(json_object_get(f->data, key));
}

static json_int_t data_int(const frame *f, const char *key)
{
    return json_integer_value(json_object_get(f->data, key));
}

/* Counts watcher calls. */
static void count_cb(vs_job *job, void *payload)
{
    (void)job;
    atomic_fetch_add((atomic_int *)payload, 1);
}

static const char *rec_str(json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* ---- core --------------------------------------------------------------- */

START_TEST(test_job_runs_to_done_with_result)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 2), 0);
    work *w = work_new();
    w->steps = 5;
    w->value = 42;
    vs_job *job = submit(jobs, "snapshot", NULL, w);
    const char *id = vs_job_id(job);
    ck_assert_uint_eq(strlen(id), VS_JOB_ID_LEN);
    ck_assert_int_eq(strncmp(id, "j-", 2), 0);
    ck_assert_str_eq(vs_job_operation(job), "snapshot");
    vs_job_wait(job);
    ck_assert_int_eq(vs_job_state_of(job), VS_JOB_DONE);
    ck_assert(vs_job_finished(job));

    json_t *rec = vs_job_to_json(job);
    ck_assert_str_eq(rec_str(rec, "id"), id);
    ck_assert_str_eq(rec_str(rec, "operation"), "snapshot");
    ck_assert_str_eq(rec_str(rec, "state"), "done");
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "percentage")),
                     100);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "current")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "total")), 5);
    ck_assert_str_eq(rec_str(rec, "message"), "working");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(rec, "result"), "value")),
                     42);
    ck_assert(json_is_null(json_object_get(rec, "error")));
    const char *created = rec_str(rec, "created");
    ck_assert_ptr_nonnull(created);
    ck_assert_uint_eq(strlen(created), 24); /* 2026-01-02T03:04:05.678Z */
    ck_assert_int_eq(created[23], 'Z');
    ck_assert_ptr_nonnull(rec_str(rec, "started"));
    ck_assert_ptr_nonnull(rec_str(rec, "finished"));
    json_decref(rec);

    /* The record the table lists is the same job. */
    vs_job *again = vs_jobs_get(jobs, id);
    ck_assert_ptr_eq(again, job);
    vs_job_unref(again);
    json_t *list = vs_jobs_list_json(jobs);
    ck_assert_uint_eq(json_array_size(list), 1);
    ck_assert_str_eq(rec_str(json_array_get(list, 0), "id"), id);
    json_decref(list);

    /* A late listener: the current state, then the final event. */
    vs_buf out = VS_BUF_INIT(1 << 20);
    uint64_t last = 0;
    bool finished = false;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    ck_assert(finished);
    frame f[4];
    size_t n = parse_frames(f, 4, out.ptr);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(f[0].event, "progress");
    ck_assert_str_eq(f[1].event, "done");
    ck_assert_uint_eq(f[1].id, last);
    ck_assert_uint_eq(f[0].id, last - 1);
    ck_assert_str_eq(data_str(&f[1], "job"), id);
    ck_assert_str_eq(data_str(&f[1], "operation"), "snapshot");
    ck_assert_str_eq(data_str(&f[1], "state"), "done");
    ck_assert_int_eq(data_int(&f[1], "percentage"), 100);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(f[1].data, "result"), "value")),
                     42);
    ck_assert_ptr_null(json_object_get(f[1].data, "error"));
    frames_free(f, n);

    /* Nothing more after the final event. */
    vs_buf_reset(&out);
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    ck_assert_uint_eq(out.len, 0);
    ck_assert(finished);
    vs_buf_dispose(&out);
    ck_assert_int_eq(vs_job_cancel(job), VS_EINVALID);
    vs_job_unref(job);
    vs_jobs_free(jobs);
}
END_TEST

START_TEST(test_job_failure_carries_code_and_message)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    atomic_int freed = 0;
    work *w = work_new();
    w->steps = 3;
    w->fail = VS_ECORRUPT;
    w->freed = &freed;
    vs_job *job = submit(jobs, "verify", NULL, w);
    vs_job_wait(job);
    /* The payload is released before the final event. */
    ck_assert_int_eq(atomic_load(&freed), 1);
    ck_assert_int_eq(vs_job_state_of(job), VS_JOB_FAILED);
    json_t *rec = vs_job_to_json(job);
    ck_assert_str_eq(rec_str(rec, "state"), "failed");
    json_t *err = json_object_get(rec, "error");
    ck_assert_str_eq(rec_str(err, "code"), "corrupt");
    ck_assert_str_eq(rec_str(err, "message"),
                     "injected failure: bad byte at 12");
    ck_assert(json_is_null(json_object_get(rec, "result")));
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "percentage")),
                     99);
    json_decref(rec);

    vs_buf out = VS_BUF_INIT(1 << 20);
    uint64_t last = 0;
    bool finished = false;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    frame f[4];
    size_t n = parse_frames(f, 4, out.ptr);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(f[1].event, "error");
    ck_assert_str_eq(data_str(&f[1], "state"), "failed");
    ck_assert_str_eq(data_str(&f[1], "job"), vs_job_id(job));
    json_t *e = json_object_get(f[1].data, "error");
    ck_assert_str_eq(rec_str(e, "code"), "corrupt");
    ck_assert_str_eq(rec_str(e, "message"), "injected failure: bad byte at 12");
    frames_free(f, n);
    vs_buf_dispose(&out);
    vs_job_unref(job);
    vs_jobs_free(jobs);
}
END_TEST

START_TEST(test_job_cancel_queued_ends_at_once)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    gate g;
    gate_init(&g);
    atomic_int ran = 0, freed = 0;
    work *w1 = work_new();
    w1->gate = &g;
    w1->freed = &freed;
    vs_job *blocker = submit(jobs, "restore", NULL, w1);
    gate_await(&g, 1);
    work *w2 = work_new();
    w2->ran = &ran;
    w2->freed = &freed;
    vs_job *queued = submit(jobs, "snapshot", NULL, w2);
    ck_assert_int_eq(vs_job_state_of(queued), VS_JOB_QUEUED);
    atomic_int calls = 0;
    uint64_t h;
    ck_assert_int_eq(vs_job_watch(queued, count_cb, &calls, &h), 0);

    ck_assert_int_eq(vs_job_cancel(queued), 0);
    ck_assert_int_eq(vs_job_state_of(queued), VS_JOB_CANCELLED);
    ck_assert(vs_job_cancelled(queued));
    ck_assert_int_eq(atomic_load(&freed), 1);
    ck_assert_int_eq(atomic_load(&calls), 1);
    ck_assert_int_eq(vs_job_cancel(queued), VS_EINVALID);
    json_t *rec = vs_job_to_json(queued);
    ck_assert_str_eq(rec_str(rec, "state"), "cancelled");
    ck_assert_str_eq(rec_str(json_object_get(rec, "error"), "code"),
                     "cancelled");
    ck_assert(json_is_null(json_object_get(rec, "started")));
    json_decref(rec);

    /* Its only event is the final one: a listener gets just that. */
    vs_buf out = VS_BUF_INIT(1 << 20);
    uint64_t last = 0;
    bool finished = false;
    ck_assert_int_eq(vs_job_render_events(&out, queued, &last, &finished), 0);
    frame f[2];
    size_t n = parse_frames(f, 2, out.ptr);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(f[0].id, 1);
    ck_assert_str_eq(f[0].event, "error");
    ck_assert_str_eq(data_str(&f[0], "state"), "cancelled");
    frames_free(f, n);
    vs_buf_dispose(&out);
    vs_job_unwatch(queued, h);

    gate_open(&g);
    vs_job_wait(blocker);
    ck_assert_int_eq(vs_job_state_of(blocker), VS_JOB_DONE);
    vs_jobs_free(jobs);
    ck_assert_int_eq(atomic_load(&ran), 0);
    ck_assert_int_eq(atomic_load(&freed), 2);
    vs_job_unref(blocker);
    vs_job_unref(queued);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_job_cancel_running_ends_cancelled)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    gate g;
    gate_init(&g);
    g.open = true;
    work *w = work_new();
    w->gate = &g;
    w->steps = 3;
    w->until_cancel = true;
    vs_job *job = submit(jobs, "import", NULL, w);
    gate_await(&g, 1);
    ck_assert_int_eq(vs_job_state_of(job), VS_JOB_RUNNING);
    ck_assert(!vs_job_cancelled(job));
    ck_assert_int_eq(vs_job_progress_cb(job, 1, 2), 0);
    ck_assert_int_eq(vs_job_cancel(job), 0);
    ck_assert_int_eq(vs_job_progress_cb(job, 1, 2), 1);
    vs_job_wait(job);
    ck_assert_int_eq(vs_job_state_of(job), VS_JOB_CANCELLED);
    json_t *rec = vs_job_to_json(job);
    json_t *err = json_object_get(rec, "error");
    ck_assert_str_eq(rec_str(err, "code"), "cancelled");
    ck_assert_str_eq(rec_str(err, "message"), "stopped by request at step 3");
    json_decref(rec);

    vs_buf out = VS_BUF_INIT(1 << 20);
    uint64_t last = 0;
    bool finished = false;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    ck_assert(finished);
    frame f[4];
    size_t n = parse_frames(f, 4, out.ptr);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(f[1].event, "error");
    ck_assert_str_eq(data_str(&f[1], "state"), "cancelled");
    ck_assert_str_eq(rec_str(json_object_get(f[1].data, "error"), "code"),
                     "cancelled");
    frames_free(f, n);
    vs_buf_dispose(&out);
    vs_job_unref(job);
    vs_jobs_free(jobs);
    gate_destroy(&g);
}
END_TEST

/* Any error after a cancel request counts as cancelled. */
START_TEST(test_job_error_after_cancel_is_cancelled)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    gate g;
    gate_init(&g);
    work *w = work_new();
    w->gate = &g;
    w->fail = VS_EIO;
    vs_job *job = submit(jobs, "export", NULL, w);
    gate_await(&g, 1);
    ck_assert_int_eq(vs_job_cancel(job), 0);
    gate_open(&g);
    vs_job_wait(job);
    ck_assert_int_eq(vs_job_state_of(job), VS_JOB_CANCELLED);
    json_t *rec = vs_job_to_json(job);
    ck_assert_str_eq(rec_str(json_object_get(rec, "error"), "code"),
                     "cancelled");
    json_decref(rec);
    vs_job_unref(job);
    vs_jobs_free(jobs);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_job_conflict_is_busy_until_finished)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 2), 0);
    gate g;
    gate_init(&g);
    work *w = work_new();
    w->gate = &g;
    vs_job *first = submit(jobs, "restore", "store", w);
    gate_await(&g, 1);

    atomic_int freed = 0;
    work *w2 = work_new();
    w2->freed = &freed;
    vs_job *second = (vs_job *)1;
    int r =
        vs_jobs_submit(&second, jobs, "load", "store", work_fn, w2, work_free);
    ck_assert_int_eq(r, VS_EBUSY);
    ck_assert_ptr_null(second);
    char want[128];
    snprintf(want, sizeof(want), "a store job is already running (job %s)",
             vs_job_id(first));
    ck_assert_str_eq(vs_error_last(), want);
    /* A refused payload stays the caller's. */
    ck_assert_int_eq(atomic_load(&freed), 0);

    /* Other classes and unclassed jobs are not affected. */
    vs_job *other = submit(jobs, "upload", "remote", work_new());
    vs_job *plain = submit(jobs, "verify", NULL, work_new());
    vs_job_wait(other);
    vs_job_wait(plain);

    gate_open(&g);
    vs_job_wait(first);
    /* Released as soon as the final event is out. */
    vs_job *third = submit(jobs, "load", "store", w2);
    vs_job_wait(third);
    ck_assert_int_eq(vs_job_state_of(third), VS_JOB_DONE);
    ck_assert_int_eq(atomic_load(&freed), 1);

    size_t counts[5];
    vs_jobs_count(jobs, counts);
    ck_assert_uint_eq(counts[VS_JOB_DONE], 4);
    ck_assert_uint_eq(counts[VS_JOB_QUEUED] + counts[VS_JOB_RUNNING], 0);
    vs_job_unref(first);
    vs_job_unref(other);
    vs_job_unref(plain);
    vs_job_unref(third);
    vs_jobs_free(jobs);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_job_conflict_counts_queued_jobs)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    gate g;
    gate_init(&g);
    work *w = work_new();
    w->gate = &g;
    vs_job *blocker = submit(jobs, "verify", NULL, w);
    gate_await(&g, 1);
    vs_job *queued = submit(jobs, "restore", "store", work_new());
    work *w2 = work_new();
    int r = vs_jobs_submit(NULL, jobs, "load", "store", work_fn, w2, work_free);
    ck_assert_int_eq(r, VS_EBUSY);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "already queued"));
    ck_assert_ptr_nonnull(strstr(vs_error_last(), vs_job_id(queued)));
    /* Cancelling the queued one frees the class. */
    ck_assert_int_eq(vs_job_cancel(queued), 0);
    ck_assert_int_eq(
        vs_jobs_submit(NULL, jobs, "load", "store", work_fn, w2, work_free), 0);
    gate_open(&g);
    vs_jobs_free(jobs);
    vs_job_unref(blocker);
    vs_job_unref(queued);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_job_closed_table_refuses_jobs)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    vs_jobs_close(jobs);
    work *w = work_new();
    ck_assert_int_eq(
        vs_jobs_submit(NULL, jobs, "snapshot", NULL, work_fn, w, work_free),
        VS_EBUSY);
    ck_assert_str_eq(vs_error_last(), "shutting down");
    free(w);
    vs_jobs_free(jobs);
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 0), VS_EINVALID);
    ck_assert_ptr_null(jobs);
}
END_TEST

START_TEST(test_job_state_names)
{
    ck_assert_str_eq(vs_job_state_name(VS_JOB_QUEUED), "queued");
    ck_assert_str_eq(vs_job_state_name(VS_JOB_RUNNING), "running");
    ck_assert_str_eq(vs_job_state_name(VS_JOB_DONE), "done");
    ck_assert_str_eq(vs_job_state_name(VS_JOB_FAILED), "failed");
    ck_assert_str_eq(vs_job_state_name(VS_JOB_CANCELLED), "cancelled");
}
END_TEST

/* ---- progress ----------------------------------------------------------- */

START_TEST(test_progress_percentage_is_floored_below_100)
{
    ck_assert_int_eq(vs_progress_percentage(0, 0), 0);
    ck_assert_int_eq(vs_progress_percentage(5, 0), 0);
    ck_assert_int_eq(vs_progress_percentage(1, 3), 33);
    ck_assert_int_eq(vs_progress_percentage(2, 3), 66);
    ck_assert_int_eq(vs_progress_percentage(999, 1000), 99);
    ck_assert_int_eq(vs_progress_percentage(1000, 1000), 99);
    ck_assert_int_eq(vs_progress_percentage(2000, 1000), 99);
    ck_assert_int_eq(vs_progress_percentage(UINT64_MAX / 2, UINT64_MAX), 49);
    ck_assert_int_eq(vs_progress_percentage(UINT64_MAX - 1, UINT64_MAX), 99);
}
END_TEST

typedef struct tight {
    uint64_t steps;
} tight;

static int tight_fn(vs_job *job, void *p)
{
    const tight *t = p;
    for (uint64_t i = 1; i <= t->steps; i++)
        vs_job_progress(job, i, t->steps, NULL);
    return 0;
}

START_TEST(test_job_tight_loop_is_rate_limited)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    tight t = {1000000};
    atomic_int calls = 0;
    uint64_t h;
    gate g;
    gate_init(&g);
    work *w = work_new();
    w->gate = &g;
    vs_job *blocker = submit(jobs, "verify", NULL, w);
    gate_await(&g, 1);
    vs_job *job = NULL;
    ck_assert_int_eq(
        vs_jobs_submit(&job, jobs, "import", NULL, tight_fn, &t, NULL), 0);
    ck_assert_int_eq(vs_job_watch(job, count_cb, &calls, &h), 0);
    uint64_t t0 = now_ms();
    gate_open(&g);
    vs_job_wait(job);
    uint64_t elapsed = now_ms() - t0;
    int progress = atomic_load(&calls) - 1; /* minus the final event */
    ck_assert_int_ge(progress, 1);
    ck_assert_int_le(progress, 101);
    /* Both halves of the rule: never more than one per 250 ms after the
     * first. */
    ck_assert_uint_le((uint64_t)progress, 1 + elapsed / 250);
    json_t *rec = vs_job_to_json(job);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "current")),
                     1000000);
    json_decref(rec);
    vs_job_unref(job);
    vs_job_unref(blocker);
    vs_jobs_free(jobs);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_job_slow_job_reports_every_step)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    atomic_int calls = 0;
    uint64_t h;
    gate g;
    gate_init(&g);
    work *w = work_new();
    w->gate = &g;
    w->steps = 4;
    w->sleep_ms = 300; /* each step: 25 points and more than 250 ms */
    vs_job *job = submit(jobs, "snapshot", NULL, w);
    ck_assert_int_eq(vs_job_watch(job, count_cb, &calls, &h), 0);
    gate_open(&g);
    vs_job_wait(job);
    ck_assert_int_eq(atomic_load(&calls), 4 + 1);
    vs_job_unref(job);

    /* Ten steps of 10 points, 100 ms apart: the time half holds them to
     * about one per 250 ms. */
    atomic_int calls2 = 0;
    gate g2;
    gate_init(&g2);
    w = work_new();
    w->gate = &g2;
    w->steps = 10;
    w->sleep_ms = 100;
    job = submit(jobs, "snapshot", NULL, w);
    ck_assert_int_eq(vs_job_watch(job, count_cb, &calls2, &h), 0);
    uint64_t t0 = now_ms();
    gate_open(&g2);
    vs_job_wait(job);
    uint64_t elapsed = now_ms() - t0;
    int progress = atomic_load(&calls2) - 1;
    ck_assert_int_ge(progress, 2);
    ck_assert_uint_le((uint64_t)progress, 1 + elapsed / 250);
    ck_assert_int_le(progress, 10);
    vs_job_unref(job);
    vs_jobs_free(jobs);
    gate_destroy(&g);
    gate_destroy(&g2);
}
END_TEST

/* Steps the job from the test: each command is one vs_job_progress. */
typedef struct stepper {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want, done; /* reports asked for / made */
    uint64_t current[16];
    const char *message[16];
    bool finish;
} stepper;

static int stepper_fn(vs_job *job, void *p)
{
    stepper *s = p;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->done == s->want && !s->finish)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->done == s->want)
            break;
        int i = s->done;
        pthread_mutex_unlock(&s->mu);
        vs_job_progress(job, s->current[i], 100, s->message[i]);
        pthread_mutex_lock(&s->mu);
        s->done++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    vs_job_set_result(job, json_pack("{s:b}", "ok", 1));
    return 0;
}

static void stepper_step(stepper *s, uint64_t current, const char *message)
{
    pthread_mutex_lock(&s->mu);
    s->current[s->want] = current;
    s->message[s->want] = message;
    s->want++;
    pthread_cond_broadcast(&s->cv);
    while (s->done < s->want)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

START_TEST(test_job_render_events_replays_after_last_id)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    stepper s = {.want = 0};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    vs_job *job = NULL;
    ck_assert_int_eq(
        vs_jobs_submit(&job, jobs, "snapshot", NULL, stepper_fn, &s, NULL), 0);
    vs_buf out = VS_BUF_INIT(1 << 20);
    uint64_t last = 0;
    bool finished = true;
    /* No events yet: nothing, not finished. */
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_uint_eq(last, 0);
    ck_assert(!finished);

    stepper_step(&s, 10, "phase one"); /* the first: always published */
    stepper_step(&s, 11, NULL);        /* too soon: not published */
    msleep(300);
    stepper_step(&s, 20, "phase two"); /* event 2 */
    msleep(300);
    stepper_step(&s, 30, NULL);    /* event 3 */
    stepper_step(&s, 35, "quick"); /* too soon */

    /* Replay after event 1: events 2 and 3 as published. */
    last = 1;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    ck_assert(!finished);
    ck_assert_uint_eq(last, 3);
    frame f[8];
    size_t n = parse_frames(f, 8, out.ptr);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(f[0].id, 2);
    ck_assert_uint_eq(f[1].id, 3);
    ck_assert_str_eq(f[0].event, "progress");
    ck_assert_int_eq(data_int(&f[0], "percentage"), 20);
    ck_assert_str_eq(data_str(&f[0], "message"), "phase two");
    ck_assert_str_eq(data_str(&f[0], "state"), "running");
    ck_assert_int_eq(data_int(&f[0], "current"), 20);
    ck_assert_int_eq(data_int(&f[0], "total"), 100);
    ck_assert_int_eq(data_int(&f[1], "percentage"), 30);
    ck_assert_str_eq(data_str(&f[1], "message"), "phase two");
    frames_free(f, n);

    /* A new listener: one frame with the current (unpublished) state under
     * the newest id. */
    vs_buf_reset(&out);
    last = 0;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    n = parse_frames(f, 8, out.ptr);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(f[0].id, 3);
    ck_assert_int_eq(data_int(&f[0], "current"), 35);
    ck_assert_str_eq(data_str(&f[0], "message"), "quick");
    frames_free(f, n);
    ck_assert_uint_eq(last, 3);

    /* A Last-Event-ID from the future is treated as a late listener too. */
    vs_buf_reset(&out);
    last = 99;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    ck_assert_uint_eq(last, 3);
    ck_assert_ptr_nonnull(strstr(out.ptr, "id: 3\nevent: progress\n"));

    /* A full buffer: VS_ETOOBIG, nothing appended, last_id kept. */
    vs_buf tiny = VS_BUF_INIT(40);
    last = 1;
    ck_assert_int_eq(vs_job_render_events(&tiny, job, &last, &finished),
                     VS_ETOOBIG);
    ck_assert_uint_eq(tiny.len, 0);
    ck_assert_uint_eq(last, 1);
    vs_buf_dispose(&tiny);

    /* Finish: a listener at 3 gets just the final event. */
    pthread_mutex_lock(&s.mu);
    s.finish = true;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    vs_job_wait(job);
    vs_buf_reset(&out);
    last = 3;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    ck_assert(finished);
    ck_assert_uint_eq(last, 4);
    n = parse_frames(f, 8, out.ptr);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(f[0].id, 4);
    ck_assert_str_eq(f[0].event, "done");
    ck_assert_int_eq(data_int(&f[0], "current"), 35);
    frames_free(f, n);

    /* The ring outlives the job: a listener at 1 after the end gets the
     * events as published, then the final one. */
    vs_buf_reset(&out);
    last = 1;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    n = parse_frames(f, 8, out.ptr);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(f[0].id, 2);
    ck_assert_str_eq(f[0].event, "progress");
    ck_assert_str_eq(data_str(&f[0], "state"), "running");
    ck_assert_uint_eq(f[1].id, 3);
    ck_assert_uint_eq(f[2].id, 4);
    ck_assert_str_eq(f[2].event, "done");
    ck_assert(finished);
    frames_free(f, n);

    /* A new listener after the end: current state (id 3), then final. */
    vs_buf_reset(&out);
    last = 0;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    n = parse_frames(f, 8, out.ptr);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(f[0].id, 3);
    ck_assert_str_eq(f[0].event, "progress");
    ck_assert_str_eq(data_str(&f[0], "state"), "done");
    ck_assert_int_eq(data_int(&f[0], "percentage"), 100);
    ck_assert_uint_eq(f[1].id, 4);
    ck_assert_str_eq(f[1].event, "done");
    frames_free(f, n);
    vs_buf_dispose(&out);
    vs_job_unref(job);
    vs_jobs_free(jobs);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
}
END_TEST

static char *fixed_state(void *payload)
{
    return strdup(payload);
}

static char *event_data(uint64_t i)
{
    char text[32];
    snprintf(text, sizeof(text), "{\"n\":%" PRIu64 "}", i);
    char *d = strdup(text);
    REQUIRE(d, "out of memory");
    return d;
}

START_TEST(test_progress_ring_overflow_serves_current_state_first)
{
    vs_progress_ring r = {0};
    uint64_t total = VS_JOB_RING + 44;
    for (uint64_t i = 1; i <= total; i++)
        ck_assert_int_eq(vs_progress_ring_push(&r, event_data(i)), 0);
    ck_assert_uint_eq(r.newest, total);
    vs_buf out = VS_BUF_INIT(1 << 20);
    bool finished = true;
    char state[] = "{\"now\":true}";

    /* The oldest event held is total - RING + 1 = 45: from 44 replays. */
    uint64_t last = 44;
    ck_assert_int_eq(
        vs_progress_ring_render(&out, &r, &last, &finished, fixed_state, state),
        0);
    ck_assert(!finished);
    ck_assert_uint_eq(last, total);
    frame *f = calloc(VS_JOB_RING + 4, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    size_t n = parse_frames(f, VS_JOB_RING + 4, out.ptr);
    ck_assert_uint_eq(n, VS_JOB_RING);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(f[i].id == 45 + i, "frame %zu has id %" PRIu64, i, f[i].id);
        REQUIRE(data_int(&f[i], "n") == (json_int_t)(45 + i), "bad data");
    }
    frames_free(f, n);

    /* From 43 the ring has lost event 44: current state under the newest
     * id, nothing else. */
    vs_buf_reset(&out);
    last = 43;
    ck_assert_int_eq(
        vs_progress_ring_render(&out, &r, &last, &finished, fixed_state, state),
        0);
    n = parse_frames(f, 4, out.ptr);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(f[0].id, total);
    ck_assert(json_is_true(json_object_get(f[0].data, "now")));
    frames_free(f, n);

    /* The final event is kept apart from the ring. */
    vs_progress_ring_finish(&r, strdup("{\"end\":1}"), true);
    vs_buf_reset(&out);
    last = total - 1;
    ck_assert_int_eq(
        vs_progress_ring_render(&out, &r, &last, &finished, fixed_state, state),
        0);
    n = parse_frames(f, 4, out.ptr);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(f[0].id, total);
    ck_assert_int_eq(data_int(&f[0], "n"), (json_int_t)total);
    ck_assert_str_eq(f[1].event, "error");
    ck_assert_int_eq(data_int(&f[1], "end"), 1);
    ck_assert(finished);
    frames_free(f, n);
    ck_assert_int_eq(vs_progress_ring_push(&r, event_data(0)), VS_EINVALID);
    vs_buf_reset(&out);
    last = 2;
    ck_assert_int_eq(
        vs_progress_ring_render(&out, &r, &last, &finished, fixed_state, state),
        0);
    ck_assert(finished);
    ck_assert_uint_eq(last, total + 1);
    n = parse_frames(f, 4, out.ptr);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(f[0].id, total);
    ck_assert_str_eq(f[0].event, "progress");
    ck_assert_uint_eq(f[1].id, total + 1);
    ck_assert_str_eq(f[1].event, "error");
    frames_free(f, n);
    free(f);
    vs_buf_dispose(&out);
    vs_progress_ring_dispose(&r);
}
END_TEST

START_TEST(test_job_messages_are_valid_utf8_and_bounded)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    stepper s = {.want = 0};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    vs_job *job = NULL;
    ck_assert_int_eq(
        vs_jobs_submit(&job, jobs, "snapshot", NULL, stepper_fn, &s, NULL), 0);
    stepper_step(&s, 1, "bad \xff byte, \xc3\xa9 kept, \xed\xa0\x80 surrogate");
    json_t *rec = vs_job_to_json(job);
    ck_assert_str_eq(rec_str(rec, "message"),
                     "bad ? byte, \xc3\xa9 kept, ??? surrogate");
    json_decref(rec);
    char *longmsg = malloc(2000);
    ck_assert_ptr_nonnull(longmsg);
    memset(longmsg, 'a', 1999);
    longmsg[510] = '\xc3'; /* a two-byte character across the cut */
    longmsg[511] = '\xa9';
    longmsg[1999] = '\0';
    stepper_step(&s, 2, longmsg);
    rec = vs_job_to_json(job);
    const char *m = rec_str(rec, "message");
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(strlen(m), 512);
    json_decref(rec);
    stepper_step(&s, 3, longmsg + 1000);
    rec = vs_job_to_json(job);
    ck_assert_uint_eq(strlen(rec_str(rec, "message")), 512);
    json_decref(rec);
    free(longmsg);
    pthread_mutex_lock(&s.mu);
    s.finish = true;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    vs_job_wait(job);
    vs_job_unref(job);
    vs_jobs_free(jobs);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
}
END_TEST

/* ---- watchers ----------------------------------------------------------- */

START_TEST(test_job_watchers_are_woken_per_event)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 1), 0);
    gate g;
    gate_init(&g);
    work *w = work_new();
    w->gate = &g;
    w->steps = 2;
    w->sleep_ms = 300;
    vs_job *job = submit(jobs, "snapshot", NULL, w);
    atomic_int a = 0, b = 0;
    uint64_t ha, hb;
    ck_assert_int_eq(vs_job_watch(job, count_cb, &a, &ha), 0);
    ck_assert_int_eq(vs_job_watch(job, count_cb, &b, &hb), 0);
    ck_assert_uint_ne(ha, hb);
    vs_job_unwatch(job, hb);
    vs_job_unwatch(job, hb + 1000); /* unknown handles are ignored */
    gate_open(&g);
    vs_job_wait(job);
    vs_buf out = VS_BUF_INIT(1 << 20);
    uint64_t last = 0;
    bool finished;
    ck_assert_int_eq(vs_job_render_events(&out, job, &last, &finished), 0);
    vs_buf_dispose(&out);
    ck_assert_int_eq(atomic_load(&a), (int)last); /* one call per event */
    ck_assert_int_eq(atomic_load(&a), 3);
    ck_assert_int_eq(atomic_load(&b), 0);
    vs_job_unref(job);
    vs_jobs_free(jobs);
    gate_destroy(&g);
}
END_TEST

#define WATCH_JOBS 120
#define WATCH_THREADS 4

/* Each watcher thread's current registration, 0 when none.  A callback's
 * payload encodes (thread, cycle): a call whose cycle is not the thread's
 * current one came after vs_job_unwatch returned. */
static atomic_uint_fast64_t watch_active[WATCH_THREADS];
static atomic_int watch_violations;
static atomic_int watch_calls;

static void probe_cb(vs_job *job, void *payload)
{
    uintptr_t v = (uintptr_t)payload;
    size_t slot = v % WATCH_THREADS;
    if (atomic_load(&watch_active[slot]) != v)
        atomic_fetch_add(&watch_violations, 1);
    (void)vs_job_finished(job); /* lock-free accessors are allowed here */
    atomic_fetch_add(&watch_calls, 1);
}

typedef struct watch_ctx {
    vs_job **jobs;
    size_t slot;
    unsigned seed;
} watch_ctx;

/* Watch and unwatch each job in turn, over and over while it runs, so that
 * unwatch races with the job's events. */
static void *watch_thread(void *arg)
{
    watch_ctx *c = arg;
    uintptr_t cycle = 0;
    for (size_t i = 0; i < WATCH_JOBS; i++) {
        vs_job *job = c->jobs[i];
        while (!vs_job_finished(job)) {
            uintptr_t v = ++cycle * WATCH_THREADS + c->slot;
            atomic_store(&watch_active[c->slot], v);
            uint64_t h;
            if (vs_job_watch(job, probe_cb, (void *)v, &h) < 0)
                abort();
            if (rand_r(&c->seed) % 2)
                sched_yield();
            vs_job_unwatch(job, h);
            atomic_store(&watch_active[c->slot], 0);
        }
    }
    return NULL;
}

START_TEST(test_job_unwatch_is_safe_against_publishers)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 2), 0);
    atomic_store(&watch_violations, 0);
    atomic_store(&watch_calls, 0);
    vs_job *all[WATCH_JOBS];
    for (size_t i = 0; i < WATCH_JOBS; i++) {
        work *w = work_new();
        w->steps = 3;
        w->sleep_ms = 1;
        all[i] = submit(jobs, "snapshot", NULL, w);
    }
    pthread_t t[WATCH_THREADS];
    watch_ctx ctx[WATCH_THREADS];
    for (size_t i = 0; i < WATCH_THREADS; i++) {
        ctx[i] = (watch_ctx){all, i, (unsigned)i + 1};
        ck_assert_int_eq(pthread_create(&t[i], NULL, watch_thread, &ctx[i]), 0);
    }
    for (size_t i = 0; i < WATCH_THREADS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < WATCH_JOBS; i++) {
        vs_job_wait(all[i]);
        vs_job_unref(all[i]);
    }
    vs_jobs_free(jobs);
    ck_assert_int_eq(atomic_load(&watch_violations), 0);
    /* The callbacks did run while watchers came and went. */
    ck_assert_int_gt(atomic_load(&watch_calls), 0);
}
END_TEST

/* ---- concurrency and shutdown ------------------------------------------- */

START_TEST(test_job_many_jobs_share_two_workers)
{
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, NULL, 2), 0);
    enum { N = 150 };
    atomic_int running = 0, max_running = 0, freed = 0;
    vs_job *all[N];
    for (int i = 0; i < N; i++) {
        work *w = work_new();
        w->steps = 3;
        w->value = i;
        w->freed = &freed;
        w->running = &running;
        w->max_running = &max_running;
        w->fail = i % 10 == 9 ? VS_EIO : 0;
        all[i] = submit(jobs, "snapshot", NULL, w);
    }
    for (int i = 0; i < N; i++) {
        vs_job_wait(all[i]);
        json_t *rec = vs_job_to_json(all[i]);
        if (i % 10 == 9) {
            REQUIRE(vs_job_state_of(all[i]) == VS_JOB_FAILED, "job %d", i);
            REQUIRE(strcmp(rec_str(json_object_get(rec, "error"), "code"),
                           "io_error") == 0,
                    "job %d code", i);
        } else {
            REQUIRE(vs_job_state_of(all[i]) == VS_JOB_DONE, "job %d", i);
            json_int_t v = json_integer_value(
                json_object_get(json_object_get(rec, "result"), "value"));
            REQUIRE(v == i, "job %d has result %lld", i, (long long)v);
        }
        json_decref(rec);
    }
    ck_assert_int_le(atomic_load(&max_running), 2);
    ck_assert_int_ge(atomic_load(&max_running), 1);
    size_t counts[5];
    vs_jobs_count(jobs, counts);
    ck_assert_uint_eq(counts[VS_JOB_DONE], N - N / 10);
    ck_assert_uint_eq(counts[VS_JOB_FAILED], N / 10);
    json_t *list = vs_jobs_list_json(jobs);
    ck_assert_uint_eq(json_array_size(list), N);
    /* Newest first. */
    ck_assert_str_eq(rec_str(json_array_get(list, 0), "id"),
                     vs_job_id(all[N - 1]));
    ck_assert_str_eq(rec_str(json_array_get(list, N - 1), "id"),
                     vs_job_id(all[0]));
    json_decref(list);
    /* Ids are unique. */
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++)
            REQUIRE(strcmp(vs_job_id(all[i]), vs_job_id(all[j])) != 0,
                    "duplicate id");
    }
    for (int i = 0; i < N; i++)
        vs_job_unref(all[i]);
    vs_jobs_free(jobs);
    ck_assert_int_eq(atomic_load(&freed), N);
}
END_TEST

START_TEST(test_job_free_cancels_running_and_queued_jobs)
{
    char *dir = vs_test_tmpdir_new();
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 2), 0);
    gate g;
    gate_init(&g);
    g.open = true;
    atomic_int freed = 0, ran = 0, calls = 0;
    vs_job *all[7];
    uint64_t h;
    for (int i = 0; i < 7; i++) {
        work *w = work_new();
        w->gate = &g;
        w->freed = &freed;
        w->ran = &ran;
        w->until_cancel = true;
        all[i] = submit(jobs, "restore", NULL, w);
        ck_assert_int_eq(vs_job_watch(all[i], count_cb, &calls, &h), 0);
    }
    gate_await(&g, 2);
    vs_jobs_free(jobs);
    ck_assert_int_eq(atomic_load(&freed), 7);
    ck_assert_int_eq(atomic_load(&ran), 2);
    ck_assert_int_eq(atomic_load(&calls), 7); /* final events only */
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(vs_job_state_of(all[i]), VS_JOB_CANCELLED);
        ck_assert_int_eq(vs_job_cancel(all[i]), VS_EINVALID);
        json_t *rec = vs_job_to_json(all[i]);
        const char *msg = rec_str(json_object_get(rec, "error"), "message");
        if (i < 2)
            ck_assert_str_eq(msg, "stopped by request at step 0");
        else
            ck_assert_str_eq(msg, "cancelled by a shutdown");
        json_decref(rec);
    }
    /* The records say so too. */
    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 1), 0);
    for (int i = 0; i < 7; i++) {
        vs_job *back = vs_jobs_get(jobs, vs_job_id(all[i]));
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(vs_job_state_of(back), VS_JOB_CANCELLED);
        vs_job_unref(back);
        vs_job_unref(all[i]);
    }
    vs_jobs_free(jobs);
    vs_test_tmpdir_free(dir);
    gate_destroy(&g);
}
END_TEST

/* ---- records ------------------------------------------------------------ */

START_TEST(test_job_records_survive_a_new_table)
{
    char *dir = vs_test_tmpdir_new();
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 1), 0);
    work *w = work_new();
    w->steps = 4;
    w->value = 7;
    vs_job *done = submit(jobs, "snapshot", NULL, w);
    w = work_new();
    w->fail = VS_ENOTFOUND;
    vs_job *failed = submit(jobs, "restore", NULL, w);
    vs_job_wait(done);
    vs_job_wait(failed);
    json_t *before = vs_job_to_json(done);
    char done_id[VS_JOB_ID_LEN + 1], failed_id[VS_JOB_ID_LEN + 1];
    memcpy(done_id, vs_job_id(done), sizeof(done_id));
    memcpy(failed_id, vs_job_id(failed), sizeof(failed_id));
    vs_job_unref(done);
    vs_job_unref(failed);
    vs_jobs_free(jobs);
    ck_assert_uint_eq(vs_test_dir_count(dir), 2);

    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 1), 0);
    vs_job *back = vs_jobs_get(jobs, done_id);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(vs_job_state_of(back), VS_JOB_DONE);
    json_t *after = vs_job_to_json(back);
    ck_assert(json_equal(before, after));
    json_decref(after);
    json_decref(before);
    /* A loaded job's listener gets its final event. */
    vs_buf out = VS_BUF_INIT(1 << 20);
    uint64_t last = 0;
    bool finished = false;
    ck_assert_int_eq(vs_job_render_events(&out, back, &last, &finished), 0);
    ck_assert(finished);
    frame f[2];
    size_t n = parse_frames(f, 2, out.ptr);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(f[0].event, "done");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(f[0].data, "result"), "value")),
                     7);
    frames_free(f, n);
    vs_buf_dispose(&out);
    vs_job_unref(back);

    back = vs_jobs_get(jobs, failed_id);
    ck_assert_ptr_nonnull(back);
    json_t *rec = vs_job_to_json(back);
    ck_assert_str_eq(rec_str(rec, "state"), "failed");
    ck_assert_str_eq(rec_str(json_object_get(rec, "error"), "code"),
                     "not_found");
    json_decref(rec);
    vs_job_unref(back);

    json_t *list = vs_jobs_list_json(jobs);
    ck_assert_uint_eq(json_array_size(list), 2);
    ck_assert_str_eq(rec_str(json_array_get(list, 0), "id"), failed_id);
    json_decref(list);

    /* New jobs go on next to the loaded ones. */
    vs_job *more = submit(jobs, "verify", NULL, work_new());
    vs_job_wait(more);
    vs_job_unref(more);
    vs_jobs_free(jobs);
    ck_assert_uint_eq(vs_test_dir_count(dir), 3);
    vs_test_tmpdir_free(dir);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = vs_test_path(dir, name);
    FILE *f = fopen(path, "w");
    REQUIRE(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    free(path);
}

START_TEST(test_job_interrupted_record_comes_back_failed)
{
    char *dir = vs_test_tmpdir_new();
    const char *id = "j-20250101T000000-abcdef";
    write_file(dir, "j-20250101T000000-abcdef.json",
               "{\"id\":\"j-20250101T000000-abcdef\",\"operation\":"
               "\"snapshot\",\"state\":\"running\",\"created\":"
               "\"2025-01-01T00:00:00.250Z\",\"started\":"
               "\"2025-01-01T00:00:01Z\",\"finished\":null,\"percentage\":"
               "40,\"current\":4,\"total\":10,\"message\":\"writing\","
               "\"result\":null,\"error\":null}");
    write_file(dir, "j-20250101T000000-000000.json", "{not json");
    write_file(dir, "j-20250101T000001-000000.json",
               "{\"id\":\"j-20250101T000009-000000\",\"operation\":\"x\","
               "\"state\":\"done\",\"created\":\"2025-01-01T00:00:00Z\"}");
    write_file(dir, ".j-20250101T000002-000000.json.tmp-Ab12Cd", "{");
    write_file(dir, "notes.txt", "left alone");

    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 1), 0);
    vs_job *job = vs_jobs_get(jobs, id);
    ck_assert_ptr_nonnull(job);
    ck_assert_int_eq(vs_job_state_of(job), VS_JOB_FAILED);
    json_t *rec = vs_job_to_json(job);
    ck_assert_str_eq(rec_str(rec, "operation"), "snapshot");
    ck_assert_str_eq(rec_str(rec, "created"), "2025-01-01T00:00:00.250Z");
    ck_assert_str_eq(rec_str(rec, "started"), "2025-01-01T00:00:01.000Z");
    ck_assert_ptr_nonnull(rec_str(rec, "finished"));
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "percentage")),
                     40);
    ck_assert_str_eq(rec_str(json_object_get(rec, "error"), "message"),
                     "interrupted by a restart");
    json_decref(rec);
    vs_job_unref(job);
    /* Bad records are skipped, temp files removed, other files kept. */
    ck_assert_ptr_null(vs_jobs_get(jobs, "j-20250101T000000-000000"));
    ck_assert_ptr_null(vs_jobs_get(jobs, "j-20250101T000001-000000"));
    ck_assert_ptr_null(vs_jobs_get(jobs, "j-20250101T000009-000000"));
    ck_assert_uint_eq(vs_test_dir_count(dir), 4);
    json_t *list = vs_jobs_list_json(jobs);
    ck_assert_uint_eq(json_array_size(list), 1);
    json_decref(list);
    vs_jobs_free(jobs);

    /* The file itself was rewritten. */
    char *path = vs_test_path(dir, "j-20250101T000000-abcdef.json");
    json_error_t jerr;
    json_t *disk = json_load_file(path, 0, &jerr);
    ck_assert_ptr_nonnull(disk);
    ck_assert_str_eq(rec_str(disk, "state"), "failed");
    json_decref(disk);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_job_bad_ids_are_unknown)
{
    char *dir = vs_test_tmpdir_new();
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 1), 0);
    vs_job *job = submit(jobs, "snapshot", NULL, work_new());
    vs_job_wait(job);
    const char *bad[] = {
        "../x",
        "",
        "j-",
        "j-20250101T000000-abcde",
        "j-20250101T000000-abcdef0",
        "j-20250101T000000-ABCDEF",
        "j-20250101T000000-abcdeg",
        "j-20250101X000000-abcdef",
        "k-20250101T000000-abcdef",
        "j-2025010aT000000-abcdef",
        "j-20250101T000000/abcdef",
        "../../../../etc/passwd00",
        "j-20250101T000000-abcdef", /* well formed, unknown */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REQUIRE(!vs_jobs_get(jobs, bad[i]), "'%s' was found", bad[i]);
    ck_assert_ptr_null(vs_jobs_get(jobs, NULL));
    /* The real id, copied, is found. */
    char id[VS_JOB_ID_LEN + 1];
    memcpy(id, vs_job_id(job), sizeof(id));
    for (size_t i = 18; i < VS_JOB_ID_LEN; i++)
        ck_assert((id[i] >= '0' && id[i] <= '9') ||
                  (id[i] >= 'a' && id[i] <= 'f'));
    vs_job *found = vs_jobs_get(jobs, id);
    ck_assert_ptr_eq(found, job);
    vs_job_unref(found);
    vs_job_unref(job);
    vs_jobs_free(jobs);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_job_keeps_newest_finished_records)
{
    char *dir = vs_test_tmpdir_new();
    vs_jobs *jobs;
    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 2), 0);
    enum { N = VS_JOBS_KEEP + 5 };
    char(*ids)[VS_JOB_ID_LEN + 1] = calloc(N, sizeof(*ids));
    ck_assert_ptr_nonnull(ids);
    for (int i = 0; i < N; i++) {
        vs_job *job = submit(jobs, "verify", NULL, work_new());
        memcpy(ids[i], vs_job_id(job), VS_JOB_ID_LEN + 1);
        vs_job_wait(job); /* one at a time: a definite order */
        vs_job_unref(job);
    }
    vs_jobs_free(jobs);
    ck_assert_uint_eq(vs_test_dir_count(dir), VS_JOBS_KEEP);
    ck_assert_int_eq(vs_jobs_new(&jobs, dir, 1), 0);
    for (int i = 0; i < N; i++) {
        vs_job *job = vs_jobs_get(jobs, ids[i]);
        REQUIRE(!!job == (i >= N - VS_JOBS_KEEP), "job %d", i);
        vs_job_unref(job);
    }
    vs_jobs_free(jobs);
    free(ids);
    vs_test_tmpdir_free(dir);
}
END_TEST

static Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_job_runs_to_done_with_result);
    tcase_add_test(tc, test_job_failure_carries_code_and_message);
    tcase_add_test(tc, test_job_cancel_queued_ends_at_once);
    tcase_add_test(tc, test_job_cancel_running_ends_cancelled);
    tcase_add_test(tc, test_job_error_after_cancel_is_cancelled);
    tcase_add_test(tc, test_job_conflict_is_busy_until_finished);
    tcase_add_test(tc, test_job_conflict_counts_queued_jobs);
    tcase_add_test(tc, test_job_closed_table_refuses_jobs);
    tcase_add_test(tc, test_job_state_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("progress");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_progress_percentage_is_floored_below_100);
    tcase_add_test(tc, test_job_tight_loop_is_rate_limited);
    tcase_add_test(tc, test_job_slow_job_reports_every_step);
    tcase_add_test(tc, test_job_render_events_replays_after_last_id);
    tcase_add_test(tc, test_progress_ring_overflow_serves_current_state_first);
    tcase_add_test(tc, test_job_messages_are_valid_utf8_and_bounded);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_job_watchers_are_woken_per_event);
    tcase_add_test(tc, test_job_unwatch_is_safe_against_publishers);
    tcase_add_test(tc, test_job_many_jobs_share_two_workers);
    tcase_add_test(tc, test_job_free_cancels_running_and_queued_jobs);
    suite_add_tcase(s, tc);

    tc = tcase_create("records");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_job_records_survive_a_new_table);
    tcase_add_test(tc, test_job_interrupted_record_comes_back_failed);
    tcase_add_test(tc, test_job_bad_ids_are_unknown);
    tcase_add_test(tc, test_job_keeps_newest_finished_records);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    vs_log_set_level(VS_LOG_ERROR);
    SRunner *sr = srunner_create(job_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
