/*
 * stream_async: stages that move the work of the stages below them onto a
 * thread of their own.  The writer is described here; the reader (read-ahead)
 * at its definition below.
 *
 * The writer stage moves the work of the stages below it
 * (a codec, the file hash, the writes) onto a thread of its own, so that a
 * format encoding on the caller's thread and a codec compressing overlap on
 * two cores.
 *
 * The caller's bytes are copied into one of ASYNC_BLOCKS blocks of
 * ASYNC_BLOCK bytes; a full block is handed to the thread, which writes it
 * to the inner stream.  A block is reused only after the thread is done
 * with it, so memory stays at ASYNC_BLOCKS * ASYNC_BLOCK.  The first error
 * the thread meets is reported by the next write or by finish.  Finish
 * hands over the last partial block and waits until everything reached the
 * inner stream (it does not finish the inner stream).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define ASYNC_BLOCK ((size_t)1 << 20)
#define ASYNC_BLOCKS 3

typedef struct async_writer {
    vs_stream base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stop;
    uint8_t *block[ASYNC_BLOCKS];
    size_t fill[ASYNC_BLOCKS]; /* bytes in each block */
    size_t head;               /* block the caller fills */
    size_t tail;               /* next block the thread writes */
    size_t queued;             /* blocks handed over, not yet written */
    int error;                 /* first error of the thread */
    char errmsg[VS_STREAM_ERRMSG_MAX];
} async_writer;

/* Shared by both stages: the blocks, and the lock and condition. */
static int alloc_blocks(uint8_t *block[ASYNC_BLOCKS])
{
    for (size_t i = 0; i < ASYNC_BLOCKS; i++) {
        block[i] = malloc(ASYNC_BLOCK);
        if (!block[i])
            return vs_error_oom();
    }
    return 0;
}

static int sync_init(pthread_mutex_t *mu, pthread_cond_t *cv)
{
    if (pthread_mutex_init(mu, NULL) != 0)
        return vs_error_set(VS_ERROR, "failed to initialise a mutex");
    if (pthread_cond_init(cv, NULL) != 0) {
        pthread_mutex_destroy(mu);
        return vs_error_set(VS_ERROR, "failed to initialise a condition");
    }
    return 0;
}

static void release(uint8_t *block[ASYNC_BLOCKS], pthread_mutex_t *mu,
                    pthread_cond_t *cv)
{
    for (size_t i = 0; i < ASYNC_BLOCKS; i++)
        free(block[i]);
    pthread_cond_destroy(cv);
    pthread_mutex_destroy(mu);
}

static void *async_main(void *arg)
{
    async_writer *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->queued == 0 && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->queued == 0)
            break;
        size_t i = a->tail;
        pthread_mutex_unlock(&a->mu);
        int error = 0;
        if (a->error == 0)
            error = vs_stream_write(a->base.inner, a->block[i], a->fill[i]);
        pthread_mutex_lock(&a->mu);
        if (error < 0 && a->error == 0) {
            a->error = error;
            memcpy(a->errmsg, vs_error_last(), sizeof(a->errmsg) - 1);
            a->errmsg[sizeof(a->errmsg) - 1] = '\0';
        }
        a->fill[i] = 0;
        a->tail = (a->tail + 1) % ASYNC_BLOCKS;
        a->queued--;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Under the lock: the thread's error as this thread's last error. */
static int thread_error(async_writer *a)
{
    return vs_error_set(a->error, "%s", a->errmsg);
}

static int start(async_writer *a)
{
    if (a->started)
        return 0;
    int error = alloc_blocks(a->block);
    if (error < 0)
        return error;
    if (pthread_create(&a->thread, NULL, async_main, a) != 0)
        return vs_error_set(VS_ERROR, "failed to start a writer thread");
    a->started = true;
    return 0;
}

/* Hand the caller's block to the thread and wait for a free one. */
static int hand_over(async_writer *a)
{
    pthread_mutex_lock(&a->mu);
    a->queued++;
    a->head = (a->head + 1) % ASYNC_BLOCKS;
    pthread_cond_broadcast(&a->cv);
    while (a->queued == ASYNC_BLOCKS && a->error == 0)
        pthread_cond_wait(&a->cv, &a->mu);
    int error = a->error ? thread_error(a) : 0;
    pthread_mutex_unlock(&a->mu);
    return error;
}

static int async_write(vs_stream *s, const void *data, size_t n)
{
    async_writer *a = (async_writer *)s;
    int error = start(a);
    const uint8_t *p = data;
    while (error == 0 && n > 0) {
        size_t i = a->head, room = ASYNC_BLOCK - a->fill[i];
        size_t take = n < room ? n : room;
        memcpy(a->block[i] + a->fill[i], p, take);
        a->fill[i] += take;
        p += take;
        n -= take;
        if (a->fill[i] == ASYNC_BLOCK)
            error = hand_over(a);
    }
    return error;
}

static int async_finish(vs_stream *s)
{
    async_writer *a = (async_writer *)s;
    if (!a->started)
        return 0;
    int error = 0;
    if (a->fill[a->head] > 0)
        error = hand_over(a);
    pthread_mutex_lock(&a->mu);
    while (a->queued > 0 && a->error == 0)
        pthread_cond_wait(&a->cv, &a->mu);
    if (error == 0 && a->error)
        error = thread_error(a);
    pthread_mutex_unlock(&a->mu);
    return error;
}

static void async_close(vs_stream *s)
{
    async_writer *a = (async_writer *)s;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        /* Unfinished work is dropped: a writer freed without finish
         * discards, as every writer does. */
        if (a->error == 0 && !a->base.finished) {
            a->error = VS_ECANCELLED;
            a->errmsg[0] = '\0';
        }
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    release(a->block, &a->mu, &a->cv);
}

static const vs_stream_ops async_ops = {.name = "async",
                                        .write = async_write,
                                        .finish = async_finish,
                                        .close = async_close};

int vs_stream_async_new(vs_stream **out, vs_stream *inner)
{
    *out = NULL;
    async_writer *a = calloc(1, sizeof(*a));
    if (!a)
        return vs_error_oom();
    int error = sync_init(&a->mu, &a->cv);
    if (error < 0) {
        free(a);
        return error;
    }
    vs_stream__init(&a->base, &async_ops, inner, true);
    *out = &a->base;
    return 0;
}

/* ---- the reader: read-ahead on a thread ---- */

typedef struct async_reader {
    vs_stream base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stop, eof;
    uint8_t *block[ASYNC_BLOCKS];
    size_t fill[ASYNC_BLOCKS]; /* bytes read into each block */
    size_t head;               /* block the caller reads from */
    size_t pos;                /* caller's position in it */
    size_t tail;               /* next block the thread fills */
    size_t ready;              /* blocks filled, not yet consumed */
    int error;
    char errmsg[VS_STREAM_ERRMSG_MAX];
} async_reader;

static void *reader_main(void *arg)
{
    async_reader *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->ready == ASYNC_BLOCKS && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        size_t i = a->tail;
        pthread_mutex_unlock(&a->mu);
        size_t got = 0;
        int error = vs_stream_read(a->base.inner, a->block[i], ASYNC_BLOCK,
                                   &got);
        pthread_mutex_lock(&a->mu);
        if (error < 0) {
            a->error = error;
            memcpy(a->errmsg, vs_error_last(), sizeof(a->errmsg) - 1);
            a->errmsg[sizeof(a->errmsg) - 1] = '\0';
        }
        if (got > 0) {
            a->fill[i] = got;
            a->tail = (a->tail + 1) % ASYNC_BLOCKS;
            a->ready++;
        }
        if (error < 0 || got < ASYNC_BLOCK)
            a->eof = true;
        pthread_cond_broadcast(&a->cv);
        if (a->eof)
            break;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static int reader_start(async_reader *a)
{
    if (a->started)
        return 0;
    int error = alloc_blocks(a->block);
    if (error < 0)
        return error;
    if (pthread_create(&a->thread, NULL, reader_main, a) != 0)
        return vs_error_set(VS_ERROR, "failed to start a reader thread");
    a->started = true;
    return 0;
}

/* Bytes are delivered in order; an error is reported once the bytes read
 * before it were delivered. */
static int async_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    async_reader *a = (async_reader *)s;
    int error = reader_start(a);
    uint8_t *dst = data;
    *got = 0;
    pthread_mutex_lock(&a->mu);
    while (error == 0 && n > 0) {
        while (a->ready == 0 && !a->eof)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->ready == 0) {
            if (a->error)
                error = vs_error_set(a->error, "%s", a->errmsg);
            break;
        }
        size_t i = a->head, take = a->fill[i] - a->pos;
        if (take > n)
            take = n;
        /* The thread never touches a ready block: copy without the lock. */
        pthread_mutex_unlock(&a->mu);
        memcpy(dst, a->block[i] + a->pos, take);
        pthread_mutex_lock(&a->mu);
        dst += take;
        n -= take;
        *got += take;
        a->pos += take;
        if (a->pos == a->fill[i]) {
            a->pos = 0;
            a->head = (a->head + 1) % ASYNC_BLOCKS;
            a->ready--;
            pthread_cond_broadcast(&a->cv);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return error;
}

static void async_reader_close(vs_stream *s)
{
    async_reader *a = (async_reader *)s;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    release(a->block, &a->mu, &a->cv);
}

static const vs_stream_ops async_reader_ops = {
    .name = "async", .read = async_read, .close = async_reader_close};

int vs_stream_async_reader_new(vs_stream **out, vs_stream *inner)
{
    *out = NULL;
    async_reader *a = calloc(1, sizeof(*a));
    if (!a)
        return vs_error_oom();
    int error = sync_init(&a->mu, &a->cv);
    if (error < 0) {
        free(a);
        return error;
    }
    vs_stream__init(&a->base, &async_reader_ops, inner, false);
    *out = &a->base;
    return 0;
}
