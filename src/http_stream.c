/*
 * http_stream: replies whose body is produced while it is sent (exports,
 * Server-Sent Events).  It owns the reply pipe: a bounded ring between a
 * producer thread, which writes through a vs_stream, and libmicrohttpd's
 * content reader callback, which runs on the polling thread and must never
 * block.
 *
 * The callback copies what the ring holds.  When the ring is empty and the
 * producer has not ended, it suspends the connection (libmicrohttpd allows
 * suspension from a content reader callback) and returns 0; the producer
 * resumes it after its next write or when it ends.  Both decisions are
 * taken under the pipe's mutex, so a connection is resumed only after it
 * was suspended.  Lock order: pipe, then the server's suspension lock.
 *
 * A producer blocked on a full ring waits on a condition variable that the
 * callback signals once half the ring is free.  When the request ends (the
 * client went away, the reply is complete, or the server stops) the pipe
 * is marked aborted: writes fail with VS_ECANCELLED and an idle producer
 * wakes up.
 *
 * Lifetime: three references -- the producer thread, the MHD response
 * (released by its free callback) and the request (released when it
 * completes).  The last one frees the pipe.
 */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"

#define RING_CAP ((size_t)1 << 20)
#define BLOCK_SIZE ((size_t)256 << 10) /* one callback's buffer, at most */

struct vs_reply_pipe {
    vs_stream base; /* the producer's writer; must stay first */
    vs_http_server *srv;
    vs_req *req; /* NULL once the request ended */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *ring;
    size_t head, len;
    bool produced;     /* the producer returned */
    int result;        /* its return code */
    bool aborted;      /* the request ended: writes fail */
    bool waiting;      /* the callback suspended the connection */
    bool space_wanted; /* the producer waits for room */
    bool kicked;
    int refs;
    vs_produce_fn fn;
    void *payload;
    void (*free_payload)(void *);
};

static void pipe_unref(vs_reply_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    int left = --p->refs;
    pthread_mutex_unlock(&p->mu);
    if (left)
        return;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->ring);
    free(p);
}

/* Under p->mu: let the callback run again if it suspended itself. */
static void wake_reader(vs_reply_pipe *p)
{
    if (p->waiting && p->req) {
        p->waiting = false;
        vs_http_server__resume(p->srv, p->req);
    }
}

static int pipe_write(vs_stream *s, const void *data, size_t n)
{
    vs_reply_pipe *p = (vs_reply_pipe *)s;
    const char *src = data;
    int error = 0;
    pthread_mutex_lock(&p->mu);
    while (n > 0) {
        if (p->aborted) {
            error = vs_error_set(VS_ECANCELLED,
                                 "the client went away or the server is "
                                 "stopping");
            break;
        }
        size_t room = RING_CAP - p->len;
        if (room == 0) {
            p->space_wanted = true;
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        size_t tail = (p->head + p->len) % RING_CAP;
        size_t k = n < room ? n : room;
        if (k > RING_CAP - tail)
            k = RING_CAP - tail;
        memcpy(p->ring + tail, src, k);
        p->len += k;
        src += k;
        n -= k;
        wake_reader(p);
    }
    pthread_mutex_unlock(&p->mu);
    return error < 0 ? vs_stream__fail(s, error) : 0;
}

static const vs_stream_ops pipe_ops = {"reply", pipe_write, NULL, NULL, NULL};

static ssize_t content_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    vs_reply_pipe *p = cls;
    ssize_t rc;
    pthread_mutex_lock(&p->mu);
    if (p->aborted || !p->req) {
        rc = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (p->len > 0) {
        size_t k = p->len < max ? p->len : max;
        if (k > RING_CAP - p->head)
            k = RING_CAP - p->head;
        memcpy(buf, p->ring + p->head, k);
        p->head = (p->head + k) % RING_CAP;
        p->len -= k;
        if (p->space_wanted && RING_CAP - p->len >= RING_CAP / 2) {
            p->space_wanted = false;
            pthread_cond_broadcast(&p->cv);
        }
        rc = (ssize_t)k;
    } else if (p->produced) {
        rc = p->result == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                            : MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
        p->waiting = true;
        if (vs_http_server__suspend(p->srv, p->req) < 0) {
            p->waiting = false;
            rc = MHD_CONTENT_READER_END_WITH_ERROR; /* stopping */
        } else {
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void response_released(void *cls)
{
    pipe_unref(cls);
}

/* The request ended (http_req.c calls this from vs_req__completed). */
void vs_reply_pipe__release(vs_reply_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->aborted = true;
    p->req = NULL;
    p->waiting = false;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pipe_unref(p);
}

static void *producer_main(void *arg)
{
    vs_reply_pipe *p = arg;
    vs_http_server *srv = p->srv;
    int rc = p->fn(&p->base, p->payload);
    if (rc < 0 && rc != VS_ECANCELLED)
        vs_log(VS_LOG_WARN, "streamed reply cut short: %s", vs_error_last());
    if (p->free_payload)
        p->free_payload(p->payload);
    pthread_mutex_lock(&p->mu);
    p->produced = true;
    p->result = rc < 0 ? rc : 0;
    wake_reader(p);
    pthread_mutex_unlock(&p->mu);
    pipe_unref(p);
    vs_http_server__producer_done(srv);
    return NULL;
}

int vs_reply_stream(vs_req *req, unsigned status, const char *content_type,
                    vs_produce_fn produce, void *payload,
                    void (*free_payload)(void *))
{
    vs_reply_pipe *p = calloc(1, sizeof(*p));
    char *ring = p ? malloc(RING_CAP) : NULL;
    if (!p || !ring) {
        free(p);
        free(ring);
        if (free_payload)
            free_payload(payload);
        return vs_error_oom();
    }
    vs_stream__init(&p->base, &pipe_ops, NULL, true);
    p->ring = ring;
    p->srv = vs_req_server(req);
    p->req = req;
    p->fn = produce;
    p->payload = payload;
    p->free_payload = free_payload;
    p->refs = 3; /* producer, response, request */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);

    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, BLOCK_SIZE, content_reader, p, response_released);
    if (!resp) {
        p->refs = 1;
        pipe_unref(p);
        if (free_payload)
            free_payload(payload);
        return vs_error_oom();
    }
    vs_req__set_reply_pipe(req, p);
    vs_http_server__producer_add(p->srv);
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, producer_main, p);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        vs_http_server__producer_done(p->srv);
        p->fn = NULL;
        pthread_mutex_lock(&p->mu);
        p->produced = true;
        p->result = VS_EIO;
        p->refs--; /* the producer's */
        pthread_mutex_unlock(&p->mu);
        if (free_payload)
            free_payload(payload);
        MHD_destroy_response(resp);
        errno = rc;
        return vs_error_set_os(VS_EIO, "cannot start a reply thread");
    }
    return vs_req__queue(req, status, resp, content_type);
}

bool vs_reply_stream_idle(vs_stream *out, unsigned timeout_ms)
{
    vs_reply_pipe *p = (vs_reply_pipe *)out;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    bool stop;
    pthread_mutex_lock(&p->mu);
    while (!p->kicked && !p->aborted) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
            break;
    }
    p->kicked = false;
    stop = p->aborted;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

void vs_reply_stream_kick(vs_stream *out)
{
    vs_reply_pipe *p = (vs_reply_pipe *)out;
    pthread_mutex_lock(&p->mu);
    p->kicked = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

bool vs_reply_stream_aborted(vs_stream *out)
{
    vs_reply_pipe *p = (vs_reply_pipe *)out;
    pthread_mutex_lock(&p->mu);
    bool a = p->aborted;
    pthread_mutex_unlock(&p->mu);
    return a;
}
