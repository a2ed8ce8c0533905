/*
 * progress: a job's status and its JSON forms, the percentage, the rate
 * limiter and the event ring rendered as Server-Sent Events frames.  The job
 * module serialises every call with the job's lock; this file keeps no state
 * of its own.
 */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int vs_progress_percentage(uint64_t current, uint64_t total)
{
    if (total == 0)
        return 0;
    if (current >= total)
        return 99;
    if (current <= UINT64_MAX / 100)
        return (int)(current * 100 / total);
    /* current * 100 would overflow: add current to a remainder 100 times,
     * counting how often it reaches total (remainder < total throughout). */
    int pct = 0;
    uint64_t rem = 0;
    for (int i = 0; i < 100; i++) {
        if (rem >= total - current) {
            rem -= total - current;
            pct++;
        } else {
            rem += current;
        }
    }
    return pct;
}

uint64_t vs_progress_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool vs_progress_limiter_check(vs_progress_limiter *l, int pct)
{
    /* The percentage test comes first so that a tight loop of tiny steps
     * costs no clock read until the next whole point. */
    if (l->published && pct == l->last_pct)
        return false;
    uint64_t now = vs_progress_now_ms();
    if (l->published && now - l->last_ms < VS_PROGRESS_MIN_MS)
        return false;
    l->published = true;
    l->last_pct = pct;
    l->last_ms = now;
    return true;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 when invalid (overlong
 * forms, surrogates and code points above U+10FFFF are invalid, as jansson
 * requires). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return c ? 1 : 0;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

char *vs_progress_text_dup(const char *s)
{
    size_t n = strlen(s);
    size_t keep = n < VS_PROGRESS_TEXT_MAX ? n : VS_PROGRESS_TEXT_MAX;
    char *out = malloc(keep + 1);
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t len = utf8_seq(u + i, n - i);
        if (o + (len ? len : 1) > keep)
            break;
        if (len) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            out[o++] = '?';
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- status, events and records ----------------------------------------- */

void vs_progress_status_dispose(vs_progress_status *st)
{
    free(st->operation);
    free(st->message);
    free(st->error_code);
    free(st->error_message);
    json_decref(st->result);
    st->operation = st->message = st->error_code = st->error_message = NULL;
    st->result = NULL;
}

int vs_progress_status_set_error(vs_progress_status *st, const char *code,
                                 const char *message)
{
    free(st->error_code);
    free(st->error_message);
    st->error_code = strdup(code);
    st->error_message = vs_progress_text_dup(message);
    return st->error_code && st->error_message ? 0 : vs_error_oom();
}

static void format_time(char out[32], int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* RFC 3339 UTC as format_time writes it (the fraction optional); -1 when
 * malformed. */
static int64_t parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        }
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    time_t secs = timegm(&tm);
    if (secs < 0)
        return -1;
    return (int64_t)secs * 1000 + ms;
}

static json_t *time_json(int64_t ms)
{
    if (ms < 0)
        return json_null();
    char text[32];
    format_time(text, ms);
    return json_string(text);
}

static json_t *uint_json(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX
                                                : (json_int_t)v);
}

static json_t *error_json(const vs_progress_status *st)
{
    if (!st->error_code)
        return json_null();
    return json_pack("{s:s,s:s}", "code", st->error_code, "message",
                     st->error_message ? st->error_message : "");
}

/* The fields events and records share.  0 or VS_ENOMEM. */
static int add_common(json_t *o, const vs_progress_status *st)
{
    int pct = st->state == VS_JOB_DONE ? 100 : st->percentage;
    json_t *msg = st->message ? json_string(st->message) : json_null();
    int bad = json_object_set_new(o, "operation", json_string(st->operation)) |
              json_object_set_new(o, "state",
                                  json_string(vs_job_state_name(st->state))) |
              json_object_set_new(o, "percentage", json_integer(pct)) |
              json_object_set_new(o, "current", uint_json(st->current)) |
              json_object_set_new(o, "total", uint_json(st->total)) |
              json_object_set_new(o, "message", msg);
    return bad ? VS_ENOMEM : 0;
}

char *vs_progress_event_text(const vs_progress_status *st)
{
    json_t *o = json_object();
    char *text = NULL;
    if (!o || json_object_set_new(o, "job", json_string(st->id)) < 0 ||
        add_common(o, st) < 0)
        goto done;
    bool failed = st->state == VS_JOB_FAILED || st->state == VS_JOB_CANCELLED;
    /* The result is shared with the event object only for the dump. */
    if (st->state == VS_JOB_DONE &&
        json_object_set(o, "result", st->result ? st->result : json_null()))
        goto done;
    if (failed && json_object_set_new(o, "error", error_json(st)) < 0)
        goto done;
    text = json_dumps(o, JSON_COMPACT);
done:
    json_decref(o);
    return text;
}

json_t *vs_progress_record_json(const vs_progress_status *st)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_t *result = st->result ? json_deep_copy(st->result) : json_null();
    int bad = json_object_set_new(o, "id", json_string(st->id)) |
              add_common(o, st) |
              json_object_set_new(o, "created", time_json(st->created_ms)) |
              json_object_set_new(o, "started", time_json(st->started_ms)) |
              json_object_set_new(o, "finished", time_json(st->finished_ms)) |
              json_object_set_new(o, "result", result) |
              json_object_set_new(o, "error", error_json(st));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *str_field(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static uint64_t uint_field(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

static int64_t time_field(const json_t *o, const char *key)
{
    const char *text = str_field(o, key);
    return text ? parse_time(text) : -1;
}

int vs_progress_record_parse(vs_progress_status *out, const char *text,
                             size_t len, const char *name)
{
    json_error_t jerr;
    json_t *rec = json_loadb(text, len, 0, &jerr);
    int error = 0;
    const char *id = str_field(rec, "id");
    const char *op = str_field(rec, "operation");
    const char *state = str_field(rec, "state");
    int s = -1;
    for (int i = VS_JOB_QUEUED; state && i <= VS_JOB_CANCELLED; i++) {
        if (strcmp(state, vs_job_state_name(i)) == 0)
            s = i;
    }
    out->created_ms = time_field(rec, "created");
    if (!id || strlen(id) != VS_JOB_ID_LEN || !op || s < 0 ||
        out->created_ms < 0) {
        error = vs_error_set(VS_ECORRUPT, "bad job record '%s'%s%s", name,
                             rec ? "" : ": ", rec ? "" : jerr.text);
        goto done;
    }
    memcpy(out->id, id, VS_JOB_ID_LEN + 1);
    out->state = (vs_job_state)s;
    out->started_ms = time_field(rec, "started");
    out->finished_ms = time_field(rec, "finished");
    out->current = uint_field(rec, "current");
    out->total = uint_field(rec, "total");
    json_int_t pct = json_integer_value(json_object_get(rec, "percentage"));
    out->percentage = pct >= 0 && pct <= 100 ? (int)pct : 0;
    const char *msg = str_field(rec, "message");
    json_t *result = json_object_get(rec, "result");
    const json_t *err = json_object_get(rec, "error");
    const char *code = str_field(err, "code");
    const char *emsg = str_field(err, "message");
    out->operation = vs_progress_text_dup(op);
    out->message = msg ? vs_progress_text_dup(msg) : NULL;
    out->result = json_is_null(result) ? NULL : json_incref(result);
    if (!out->operation || (msg && !out->message))
        error = vs_error_oom();
    if (error == 0 && code)
        error = vs_progress_status_set_error(out, code, emsg ? emsg : "");
done:
    json_decref(rec);
    return error;
}

/* ---- the event ring ------------------------------------------------------ */

int vs_progress_ring_push(vs_progress_ring *r, char *data)
{
    if (r->final_id) {
        free(data);
        return vs_error_set(VS_EINVALID, "event after the final event");
    }
    if (!r->slots) {
        r->slots = calloc(VS_JOB_RING, sizeof(*r->slots));
        if (!r->slots) {
            free(data);
            return vs_error_oom();
        }
    }
    uint64_t id = r->newest + 1;
    vs_progress_event *slot = &r->slots[id % VS_JOB_RING];
    free(slot->data);
    slot->id = id;
    slot->data = data;
    r->newest = id;
    return 0;
}

static void drop_slots(vs_progress_ring *r)
{
    if (!r->slots)
        return;
    for (size_t i = 0; i < VS_JOB_RING; i++)
        free(r->slots[i].data);
    free(r->slots);
    r->slots = NULL;
}

void vs_progress_ring_finish(vs_progress_ring *r, char *data, bool error)
{
    free(r->final_data);
    r->final_data = data;
    r->final_error = error;
    r->final_id = r->newest + 1;
    r->newest = r->final_id;
}

void vs_progress_ring_dispose(vs_progress_ring *r)
{
    drop_slots(r);
    free(r->final_data);
    r->final_data = NULL;
}

static int frame(vs_buf *out, uint64_t id, const char *event, const char *data)
{
    return vs_buf_printf(out, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", id,
                         event, data ? data : "{}");
}

/* Id of the newest progress event, 0 when none. */
static uint64_t last_progress(const vs_progress_ring *r)
{
    return r->final_id ? r->final_id - 1 : r->newest;
}

/* Can the listener be served by replaying held events?  The events right
 * after `from` must still be there: the final one alone, or progress events
 * still in the ring.  A new listener (from == 0) on a job that has events
 * never replays: it is served the current state. */
static bool can_replay(const vs_progress_ring *r, uint64_t from)
{
    if (r->final_id && from + 1 == r->final_id)
        return true;
    if (from == 0 || from > r->newest || !r->slots)
        return false;
    uint64_t last = last_progress(r);
    uint64_t oldest = last > VS_JOB_RING ? last - VS_JOB_RING + 1 : 1;
    return from + 1 >= oldest;
}

static int render_final(vs_buf *out, const vs_progress_ring *r)
{
    if (!r->final_id)
        return 0;
    return frame(out, r->final_id, r->final_error ? "error" : "done",
                 r->final_data);
}

int vs_progress_ring_render(vs_buf *out, const vs_progress_ring *r,
                            uint64_t *last_id, bool *finished,
                            vs_progress_state_fn state, void *payload)
{
    uint64_t from = *last_id;
    size_t mark = out->len;
    int error = 0;
    char *text = NULL;
    if (from == r->newest)
        goto done;
    if (can_replay(r, from)) {
        for (uint64_t id = from + 1; id <= last_progress(r); id++) {
            const vs_progress_event *ev = &r->slots[id % VS_JOB_RING];
            error = frame(out, id, "progress", ev->data);
            if (error < 0)
                goto done;
        }
        error = render_final(out, r);
        goto done;
    }
    /* A late listener: one frame with the current state, under the id of
     * the newest progress event (so that a reconnect after it still gets
     * the final event), then the final event when there is one. */
    uint64_t cur = last_progress(r);
    if (cur > 0) {
        text = state(payload);
        if (!text) {
            error = vs_error_oom();
            goto done;
        }
        error = frame(out, cur, "progress", text);
        if (error < 0)
            goto done;
    }
    error = render_final(out, r);
done:
    free(text);
    if (error < 0) {
        out->len = mark;
        if (out->ptr)
            out->ptr[mark] = '\0';
        return error;
    }
    *last_id = r->newest;
    *finished = r->final_id != 0;
    return 0;
}
