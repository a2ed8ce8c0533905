/*
 * stream_hash: the SHA-256 stage.  A pass-through writer or reader that
 * hashes every byte passing through it, so a file's digest comes for free
 * while it is written or read, and format code can ask for the digest of
 * the bytes so far (vs_stream_hash_peek) to write or check a trailer.
 *
 * Unthreaded, bytes are hashed inline.  Threaded, hashing runs on one helper
 * thread over NBLOCKS rotating blocks of BLOCK bytes:
 *   writer: writes fill the current block; a full block is handed to the
 *           hasher and then written to the inner stream while it is hashed;
 *           the caller goes on filling the next block, and waits for the
 *           hasher only before it reuses a block still being hashed.
 *   reader: reads are served from the current block, filled from the inner
 *           stream one block at a time; a block that was wholly delivered
 *           is handed to the hasher while the caller consumes the next one.
 * Peek waits until the hasher is idle, then hashes the not-yet-submitted
 * part of the current block (bytes written, or bytes delivered) into a copy
 * of the context.  The thread starts with the first block and is joined in
 * close; the lock is never held while hashing or calling another stream.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define BLOCK ((size_t)1 << 20)
#define NBLOCKS 3

typedef struct block {
    uint8_t *data;
    size_t len;
    bool busy; /* submitted, not yet hashed (guarded by mu) */
} block;

typedef struct hash_stream {
    vs_stream base;
    vs_sha256 *sha;
    bool threaded;
    /* threaded mode */
    block blocks[NBLOCKS];
    size_t cur;       /* block being filled (writer) or delivered (reader) */
    size_t pos;       /* reader: bytes of blocks[cur] delivered */
    bool cur_waited;  /* blocks[cur] is known not busy */
    bool eof;         /* reader: inner stream ended */
    bool started;     /* the hasher thread runs */
    bool no_thread;   /* it could not be started: blocks are hashed inline */
    bool stop;        /* guarded by mu */
    size_t submitted; /* blocks handed over (only the caller writes it) */
    size_t hashed;    /* blocks hashed (guarded by mu) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled when a block is submitted or on stop */
    pthread_cond_t done; /* signalled when a block has been hashed */
} hash_stream;

static void *hasher_main(void *arg)
{
    hash_stream *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->stop && h->hashed == h->submitted)
            pthread_cond_wait(&h->work, &h->mu);
        if (h->stop)
            break;
        block *b = &h->blocks[h->hashed % NBLOCKS];
        pthread_mutex_unlock(&h->mu);
        vs_sha256_update(h->sha, b->data, b->len);
        pthread_mutex_lock(&h->mu);
        b->busy = false;
        h->hashed++;
        pthread_cond_broadcast(&h->done);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Hand blocks[cur] to the hasher (or hash it here if no thread can be
 * started) and move on to the next block. */
static void submit(hash_stream *h)
{
    block *b = &h->blocks[h->cur];
    if (!h->started && !h->no_thread) {
        if (pthread_create(&h->thread, NULL, hasher_main, h) == 0)
            h->started = true;
        else
            h->no_thread = true; /* degrade to hashing blocks inline */
    }
    if (!h->started) {
        vs_sha256_update(h->sha, b->data, b->len);
    } else {
        pthread_mutex_lock(&h->mu);
        b->busy = true;
        h->submitted++;
        pthread_cond_signal(&h->work);
        pthread_mutex_unlock(&h->mu);
    }
    h->cur = (h->cur + 1) % NBLOCKS;
    h->cur_waited = false;
}

/* Make blocks[cur] usable: wait until it is hashed, allocate it once. */
static int take_block(hash_stream *h)
{
    block *b = &h->blocks[h->cur];
    if (!h->cur_waited) {
        if (h->started) {
            pthread_mutex_lock(&h->mu);
            while (b->busy)
                pthread_cond_wait(&h->done, &h->mu);
            pthread_mutex_unlock(&h->mu);
        }
        h->cur_waited = true;
        b->len = 0;
    }
    if (!b->data) {
        b->data = malloc(BLOCK);
        if (!b->data)
            return vs_error_oom();
    }
    return 0;
}

static void wait_idle(hash_stream *h)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->mu);
    while (h->hashed != h->submitted)
        pthread_cond_wait(&h->done, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

/* Submit the current (full or final) writer block and pass it on. */
static int flush_block(hash_stream *h)
{
    block *b = &h->blocks[h->cur];
    submit(h);
    /* The hasher only reads the block, so writing it concurrently is safe;
     * the block is not refilled before the hasher is done with it. */
    return vs_stream_write(h->base.inner, b->data, b->len);
}

static int hash_write(vs_stream *s, const void *data, size_t n)
{
    hash_stream *h = (hash_stream *)s;
    if (!h->threaded) {
        vs_sha256_update(h->sha, data, n);
        return vs_stream_write(s->inner, data, n);
    }
    const uint8_t *p = data;
    while (n > 0) {
        int error = take_block(h);
        if (error < 0)
            return error;
        block *b = &h->blocks[h->cur];
        size_t take = BLOCK - b->len < n ? BLOCK - b->len : n;
        memcpy(b->data + b->len, p, take);
        b->len += take;
        p += take;
        n -= take;
        if (b->len == BLOCK) {
            error = flush_block(h);
            if (error < 0)
                return error;
        }
    }
    return 0;
}

static int hash_finish(vs_stream *s)
{
    hash_stream *h = (hash_stream *)s;
    int error = 0;
    if (h->cur_waited && h->blocks[h->cur].len > 0)
        error = flush_block(h);
    wait_idle(h);
    return error;
}

static int hash_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    hash_stream *h = (hash_stream *)s;
    if (!h->threaded) {
        int error = vs_stream_read(s->inner, data, n, got);
        if (error < 0)
            return error;
        vs_sha256_update(h->sha, data, *got);
        return 0;
    }
    uint8_t *p = data;
    *got = 0;
    while (n > 0) {
        block *b = &h->blocks[h->cur];
        if (h->cur_waited && h->pos < b->len) {
            size_t take = b->len - h->pos < n ? b->len - h->pos : n;
            memcpy(p, b->data + h->pos, take);
            h->pos += take;
            p += take;
            n -= take;
            *got += take;
            continue;
        }
        if (h->eof)
            break;
        /* The current block is wholly delivered: hash it, fill the next. */
        if (h->cur_waited && b->len > 0)
            submit(h);
        int error = take_block(h);
        if (error < 0)
            return error;
        b = &h->blocks[h->cur];
        h->pos = 0;
        error = vs_stream_read(s->inner, b->data, BLOCK, &b->len);
        if (error < 0)
            return error;
        if (b->len < BLOCK)
            h->eof = true;
    }
    return 0;
}

static void hash_close(vs_stream *s)
{
    hash_stream *h = (hash_stream *)s;
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->work);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->work);
    pthread_cond_destroy(&h->done);
    for (size_t i = 0; i < NBLOCKS; i++)
        free(h->blocks[i].data);
    vs_sha256_free(h->sha);
}

static const vs_stream_ops hash_writer_ops = {.name = "sha256",
                                              .write = hash_write,
                                              .finish = hash_finish,
                                              .close = hash_close};
static const vs_stream_ops hash_reader_ops = {
    .name = "sha256", .read = hash_read, .close = hash_close};

int vs_stream_hash_new(vs_stream **out, vs_stream *inner, bool threaded)
{
    *out = NULL;
    /* Fetch the digest before any thread exists. */
    int error = vs_checksum_global_init();
    if (error < 0)
        return error;
    hash_stream *h = calloc(1, sizeof(*h));
    if (!h)
        return vs_error_oom();
    error = vs_sha256_new(&h->sha);
    if (error < 0) {
        free(h);
        return error;
    }
    vs_stream__init(&h->base,
                    inner->is_writer ? &hash_writer_ops : &hash_reader_ops,
                    inner, inner->is_writer);
    h->threaded = threaded;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->done, NULL);
    *out = &h->base;
    return 0;
}

bool vs_stream_is_hash(const vs_stream *s)
{
    return s && (s->ops == &hash_writer_ops || s->ops == &hash_reader_ops);
}

int vs_stream_hash_peek(vs_stream *s, uint8_t out[VS_SHA256_LEN])
{
    if (!vs_stream_is_hash(s))
        return vs_error_set(VS_EINVALID, "%s stream is not a sha256 stage",
                            s ? s->ops->name : "null");
    if (s->error)
        return vs_stream_error(s);
    hash_stream *h = (hash_stream *)s;
    wait_idle(h);
    vs_sha256 *copy;
    int error = vs_sha256_copy(&copy, h->sha);
    if (error < 0)
        return error;
    /* Bytes of the current block not yet submitted: all of a writer's,
     * the delivered part of a reader's. */
    block *b = &h->blocks[h->cur];
    if (h->threaded && h->cur_waited)
        vs_sha256_update(copy, b->data, s->is_writer ? b->len : h->pos);
    vs_sha256_final(copy, out);
    vs_sha256_free(copy);
    return 0;
}
