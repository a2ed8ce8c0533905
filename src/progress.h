/*
 * progress: what a job shows to the outside.  It owns the job's status (the
 * fields of its record and events) with its JSON forms (event data, the
 * record, parsing a record file back), the percentage arithmetic, the rate
 * limiter that decides which progress reports become events, the ring of
 * recent events with its rendering as Server-Sent Events frames, and the
 * sanitising of message text.
 *
 * Nothing here locks: the job module holds the job's lock around every call
 * that touches a vs_progress_status, vs_progress_limiter or vs_progress_ring.
 *
 * A zeroed vs_progress_limiter or vs_progress_ring is a fresh one.
 *
 * Lifecycle of a ring: zeroed, then any number of
 * vs_progress_ring_push (ids 1, 2, ...), then at most one
 * vs_progress_ring_finish (the final event, next id), then
 * vs_progress_ring_dispose.  The ring keeps the newest VS_JOB_RING progress
 * events; the final event is kept apart, so it is never pushed out.
 */
#ifndef VS_PROGRESS_H
#define VS_PROGRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "job.h"

/* A job's status.  The job owns it and reads or writes it under its lock. */
typedef struct vs_progress_status {
    char id[VS_JOB_ID_LEN + 1];
    char *operation;
    vs_job_state state;
    int64_t created_ms, started_ms, finished_ms; /* Unix ms, -1: none */
    uint64_t current, total;                     /* of the latest report */
    int percentage;                              /* of the latest report */
    char *message;       /* latest progress message, NULL: none */
    json_t *result;      /* NULL: none */
    char *error_code;    /* a vs_error_name, NULL: no error */
    char *error_message; /* NULL: none */
} vs_progress_status;

/* Free what the status owns (operation, texts, result). */
void vs_progress_status_dispose(vs_progress_status *st);
/* Replace the error with copies of `code` and `message` (the message through
 * vs_progress_text_dup).  VS_ENOMEM (the error is then incomplete). */
int vs_progress_status_set_error(vs_progress_status *st, const char *code,
                                 const char *message) VS_WARN_UNUSED;
/* Event data as compact JSON: {"job","operation","state","percentage",
 * "current","total","message"}, plus "result" when done and
 * "error":{"code","message"} when failed or cancelled.  "percentage" is 100
 * when done.  malloc'd; NULL on allocation failure. */
char *vs_progress_event_text(const vs_progress_status *st);
/* The record: {"id","operation","state","percentage","current","total",
 * "message","created","started","finished","result","error"}, times as RFC
 * 3339 UTC with milliseconds or null.  New reference (the result is a deep
 * copy); NULL on allocation failure. */
json_t *vs_progress_record_json(const vs_progress_status *st);
/* Read a record written from vs_progress_record_json into *out (which the
 * caller disposes, also on failure).  Unknown or missing optional fields are
 * tolerated; id, operation, state and created are required.  `name` names
 * the record in messages.  VS_ECORRUPT, VS_ENOMEM. */
int vs_progress_record_parse(vs_progress_status *out, const char *text,
                             size_t len, const char *name) VS_WARN_UNUSED;

/* floor(current * 100 / total) capped at 99 (100 means finished); 0 when
 * total is 0. */
int vs_progress_percentage(uint64_t current, uint64_t total);

/* Monotonic clock in milliseconds. */
uint64_t vs_progress_now_ms(void);

#define VS_PROGRESS_MIN_MS 250 /* the time half of the rate limit */

/* The rate limiter: a report becomes an event when it is the first one, or
 * when its percentage differs from the last published one by at least one
 * point AND at least VS_PROGRESS_MIN_MS passed since that event. */
typedef struct vs_progress_limiter {
    bool published;   /* an event went out already */
    int last_pct;     /* percentage of that event */
    uint64_t last_ms; /* monotonic time of that event */
} vs_progress_limiter;

/* Decide for a report at `pct`; on yes, remember it as the last published
 * event.  Reads the clock only when the percentage changed. */
bool vs_progress_limiter_check(vs_progress_limiter *l, int pct);

#define VS_PROGRESS_TEXT_MAX 512

/* A copy of `s` fit for a message in events and records: valid UTF-8 (each
 * bad byte becomes '?', as do surrogates and overlong forms) and at most
 * VS_PROGRESS_TEXT_MAX bytes, cut at a character boundary.  NULL on
 * allocation failure. */
char *vs_progress_text_dup(const char *s);

typedef struct vs_progress_event {
    uint64_t id;
    char *data; /* compact JSON text (no newline) */
} vs_progress_event;

typedef struct vs_progress_ring {
    vs_progress_event *slots; /* VS_JOB_RING of them, from the first push */
    uint64_t newest;          /* id of the newest event, 0 when none */
    uint64_t final_id;        /* 0 until the final event */
    char *final_data;         /* NULL only after an allocation failure */
    bool final_error;         /* "error" rather than "done" */
} vs_progress_ring;

/* Append a "progress" event.  Takes ownership of `data` (malloc'd compact
 * JSON), also on failure.  VS_ENOMEM, VS_EINVALID after finish. */
int vs_progress_ring_push(vs_progress_ring *r, char *data) VS_WARN_UNUSED;
/* Append the final event ("error" when `error`, else "done").  Takes
 * ownership of `data` (NULL renders as "{}"). */
void vs_progress_ring_finish(vs_progress_ring *r, char *data, bool error);

/* Returns malloc'd compact JSON of the job's current state, NULL on
 * allocation failure. */
typedef char *(*vs_progress_state_fn)(void *payload);

/* Append to `out` the frames a listener that has seen events up to *last_id
 * is missing, and set *last_id to the newest event id:
 *  - nothing when *last_id is the newest id;
 *  - a replay of events *last_id + 1 ... newest when *last_id >= 1 and the
 *    ring still holds *last_id + 1 (or it is the final event);
 *  - otherwise (a new listener with *last_id 0 on a job that has events, an
 *    id older than the ring holds, an id from the future): one "progress"
 *    frame with the current state, `state(payload)`, under the id of the
 *    newest progress event (none when there is no progress event), then the
 *    final event if there is one.  A reconnect after the current-state frame
 *    thus still gets the final event.
 * *finished tells whether the listener has now got the final event.
 * VS_ETOOBIG, VS_ENOMEM: nothing appended, *last_id unchanged. */
int vs_progress_ring_render(vs_buf *out, const vs_progress_ring *r,
                            uint64_t *last_id, bool *finished,
                            vs_progress_state_fn state,
                            void *payload) VS_WARN_UNUSED;

void vs_progress_ring_dispose(vs_progress_ring *r);

#endif
