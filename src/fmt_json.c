/*
 * fmt_json: the JSON writer.  Streams a store (or the collections chosen in
 * the save options) as one vecsnap JSON document, specified in
 * docs/format-json.md:
 *
 *   {"format":"vecsnap","version":1,"seq":N,"collections":[
 *   {"name":"c","dimension":3,"metric":"cosine","count":2,"records":[
 *   {"id":"a","vector":[0.1,-0,1e-45],"metadata":{}},
 *   {"id":"b","vector":[1,2,3],"metadata":{"k":1}}
 *   ]}
 *   ],"sha256":"<64 hex>"}
 *
 * Compact, one record per line.  The sha256 member is the SHA-256 of every
 * byte before the comma that precedes it.
 *
 * Memory: a document is never built whole; records are formatted block by
 * block (about 64K floats, under 1 MiB of text) into reusable buffers.
 *
 * Speed: formatting floats (vs_float_format) dominates, so
 * blocks are formatted on two threads.  The calling thread formats blocks
 * 0, 2, 4, ... and a helper thread blocks 1, 3, 5, ... into its own pair of
 * buffers; the calling thread writes every block in order.  Hashing runs on
 * the threaded hash stage (or on `out` itself when it already is a hash
 * stage), so the two formatting threads and the hash thread overlap.
 * The store must not change during a save (callers hold its read lock).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floatfmt.h"
#include "fmt.h"

#define BLOCK_FLOATS 65536   /* floats per formatted block (about 800 KB) */
#define BLOCK_RECORDS 4096   /* records per block when vectors are short */

static const char hexdigits[] = "0123456789abcdef";

/* ---- formatting ---------------------------------------------------------- */

/* Writes s[0..n) as the body of a JSON string (no quotes): '"', '\\' and
 * bytes below 0x20 escaped, everything else (UTF-8 included) verbatim.
 * `p` has room for 6 * n bytes. */
static char *put_escaped(char *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            *p++ = '\\';
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hexdigits[c >> 4];
            *p++ = hexdigits[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    return p;
}

static char *put_lit(char *p, const char *lit)
{
    size_t n = strlen(lit);
    memcpy(p, lit, n);
    return p + n;
}

/* Appends record `slot` of `c` (preceded by ",\n" unless it is slot 0). */
static int format_record(vs_buf *b, const vs_collection *c, size_t slot)
{
    vs_record r;
    vs_collection_slot(&r, c, slot);
    uint32_t dim = vs_collection_dimension(c);
    size_t mdlen = r.metadata && r.metadata_len ? r.metadata_len : 2;
    size_t need = 48 + 6 * r.id_len + (size_t)dim * (VS_FLOAT_TEXT_MAX + 1) +
                  mdlen;
    int error = vs_buf_reserve(b, need);
    if (error < 0)
        return error;
    char *p = b->ptr + b->len;
    if (slot > 0) {
        *p++ = ',';
        *p++ = '\n';
    }
    p = put_lit(p, "{\"id\":\"");
    p = put_escaped(p, r.id, r.id_len);
    p = put_lit(p, "\",\"vector\":[");
    for (uint32_t i = 0; i < dim; i++) {
        p += vs_float_format(p, r.vector[i]);
        *p++ = ',';
    }
    p[-1] = ']'; /* dim >= 1: replaces the last comma */
    p = put_lit(p, ",\"metadata\":");
    if (r.metadata && r.metadata_len) {
        memcpy(p, r.metadata, r.metadata_len);
        p += r.metadata_len;
    } else {
        p = put_lit(p, "{}");
    }
    *p++ = '}';
    b->len = (size_t)(p - b->ptr);
    b->ptr[b->len] = '\0';
    return 0;
}

static int format_block(vs_buf *b, const vs_collection *c, size_t begin,
                        size_t end)
{
    vs_buf_reset(b);
    for (size_t slot = begin; slot < end; slot++) {
        int error = format_record(b, c, slot);
        if (error < 0)
            return error;
    }
    return 0;
}

/* ---- the helper thread --------------------------------------------------- */

typedef struct worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started;
    bool busy; /* a job is queued or running */
    bool quit;
    /* the job */
    const vs_collection *c;
    size_t begin, end;
    vs_buf *out;
    int error;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit && !w->busy)
            break;
        const vs_collection *c = w->c;
        size_t begin = w->begin, end = w->end;
        vs_buf *out = w->out;
        pthread_mutex_unlock(&w->mu);
        /* The message of a failure stays on this thread; the code is
         * enough for the caller, which re-reports it. */
        int error = format_block(out, c, begin, end);
        pthread_mutex_lock(&w->mu);
        w->error = error;
        w->busy = false;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int worker_start(worker *w)
{
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return vs_error_set(VS_ERROR, "cannot create a mutex");
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return vs_error_set(VS_ERROR, "cannot create a condition variable");
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return vs_error_set(VS_ERROR, "cannot start the formatting thread");
    }
    w->started = true;
    return 0;
}

static void worker_submit(worker *w, const vs_collection *c, size_t begin,
                          size_t end, vs_buf *out)
{
    pthread_mutex_lock(&w->mu);
    w->c = c;
    w->begin = begin;
    w->end = end;
    w->out = out;
    w->error = 0;
    w->busy = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits for the queued job; returns its result code. */
static int worker_wait(worker *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->busy)
        pthread_cond_wait(&w->cv, &w->mu);
    int error = w->error;
    pthread_mutex_unlock(&w->mu);
    return error;
}

static void worker_stop(worker *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* finishes a running job first */
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->started = false;
}

/* ---- the document -------------------------------------------------------- */

typedef struct writer {
    vs_stream *h; /* hash stage everything goes through */
    vs_buf mine;  /* blocks formatted on this thread */
    vs_buf theirs[2];
    worker w;
    const vs_save_options *opts;
    uint64_t done, total;
} writer;

static int report_format_error(int error)
{
    if (error == VS_ENOMEM)
        return vs_error_oom();
    return vs_error_set(error, "json: cannot format records (%s)",
                        vs_error_name(error));
}

static int write_buf(writer *wr, const vs_buf *b)
{
    return vs_stream_write(wr->h, b->ptr, b->len);
}

static int progress(writer *wr, size_t records)
{
    wr->done += records;
    return vs_fmt__progress(wr->opts->progress, wr->opts->payload, wr->done,
                            wr->total);
}

/* The records of one collection, in blocks, two formatting threads. */
static int write_records(writer *wr, const vs_collection *c)
{
    size_t count = vs_collection_count(c);
    uint32_t dim = vs_collection_dimension(c);
    size_t per = BLOCK_FLOATS / dim;
    if (per < 1)
        per = 1;
    if (per > BLOCK_RECORDS)
        per = BLOCK_RECORDS;
    size_t nblocks = (count + per - 1) / per;
    int error = 0;
    if (nblocks > 1 && !wr->w.started) {
        error = worker_start(&wr->w);
        if (error < 0)
            return error;
    }
    /* Block b covers [b * per, min(count, (b + 1) * per)). */
    size_t queued = 0; /* theirs[] index the helper fills next */
    if (nblocks > 1)
        worker_submit(&wr->w, c, per, per * 2 < count ? per * 2 : count,
                      &wr->theirs[0]);
    for (size_t b = 0; b < nblocks; b += 2) {
        size_t begin = b * per;
        size_t end = begin + per < count ? begin + per : count;
        error = format_block(&wr->mine, c, begin, end);
        if (error < 0)
            goto done;
        error = write_buf(wr, &wr->mine);
        if (error < 0)
            goto done;
        error = progress(wr, end - begin);
        if (error < 0)
            goto done;
        if (b + 1 >= nblocks)
            break;
        error = worker_wait(&wr->w);
        if (error < 0) {
            error = report_format_error(error);
            goto done;
        }
        vs_buf *ready = &wr->theirs[queued];
        queued ^= 1;
        if (b + 3 < nblocks) {
            size_t nb = (b + 3) * per;
            worker_submit(&wr->w, c, nb, nb + per < count ? nb + per : count,
                          &wr->theirs[queued]);
        }
        error = write_buf(wr, ready);
        if (error < 0)
            goto done;
        size_t rb = (b + 1) * per;
        error = progress(wr, (rb + per < count ? rb + per : count) - rb);
        if (error < 0)
            goto done;
    }
done:
    if (error < 0 && wr->w.started)
        (void)worker_wait(&wr->w); /* never leave it writing our buffers */
    return error;
}

static int write_collection(writer *wr, const vs_collection *c, bool first)
{
    char head[160 + VS_NAME_MAX * 6];
    const char *name = vs_collection_name(c);
    char *p = head;
    if (!first)
        p = put_lit(p, ",\n");
    p = put_lit(p, "{\"name\":\"");
    p = put_escaped(p, name, strlen(name));
    int n = snprintf(p, sizeof(head) - (size_t)(p - head),
                     "\",\"dimension\":%" PRIu32
                     ",\"metric\":\"%s\",\"count\":%zu,\"records\":[\n",
                     vs_collection_dimension(c),
                     vs_metric_name(vs_collection_metric(c)),
                     vs_collection_count(c));
    p += n;
    int error = vs_stream_write(wr->h, head, (size_t)(p - head));
    if (error < 0)
        return error;
    error = write_records(wr, c);
    if (error < 0)
        return error;
    return vs_stream_write(wr->h, "\n]}", 3);
}

int vs_fmt_json_save(vs_stream *out, vs_store *st, const vs_save_options *opts)
{
    static const vs_save_options defaults = VS_SAVE_OPTIONS_INIT;
    writer wr;
    memset(&wr, 0, sizeof(wr));
    wr.opts = opts ? opts : &defaults;
    wr.mine = (vs_buf)VS_BUF_INIT((size_t)1 << 30);
    wr.theirs[0] = (vs_buf)VS_BUF_INIT((size_t)1 << 30);
    wr.theirs[1] = (vs_buf)VS_BUF_INIT((size_t)1 << 30);
    vs_collection **cols = NULL;
    size_t ncols = 0;
    vs_stream *own = NULL;

    int error = vs_fmt__select(&cols, &ncols, st, wr.opts);
    if (error < 0)
        goto done;
    for (size_t i = 0; i < ncols; i++)
        wr.total += vs_collection_count(cols[i]);
    if (vs_stream_is_hash(out)) {
        wr.h = out;
    } else {
        error = vs_stream_hash_new(&own, out, true);
        if (error < 0)
            goto done;
        wr.h = own;
    }

    char head[128];
    int n = snprintf(head, sizeof(head),
                     "{\"format\":\"vecsnap\",\"version\":1,\"seq\":%" PRIu64
                     ",\"collections\":[\n",
                     vs_store_seq(st));
    error = vs_stream_write(wr.h, head, (size_t)n);
    if (error < 0)
        goto done;
    error = vs_fmt__progress(wr.opts->progress, wr.opts->payload, 0,
                             wr.total);
    if (error < 0)
        goto done;
    for (size_t i = 0; i < ncols; i++) {
        error = write_collection(&wr, cols[i], i == 0);
        if (error < 0)
            goto done;
    }
    error = vs_stream_write(wr.h, ncols ? "\n]" : "]", ncols ? 2 : 1);
    if (error < 0)
        goto done;

    uint8_t digest[VS_SHA256_LEN];
    error = vs_stream_hash_peek(wr.h, digest);
    if (error < 0)
        goto done;
    char tail[16 + VS_SHA256_HEX_LEN + 8];
    memcpy(tail, ",\"sha256\":\"", 11);
    vs_sha256_hex(tail + 11, digest);
    memcpy(tail + 11 + VS_SHA256_HEX_LEN, "\"}\n", 3);
    error = vs_stream_write(wr.h, tail, 11 + VS_SHA256_HEX_LEN + 3);
    if (error < 0)
        goto done;
    if (own)
        error = vs_stream_finish(own);

done:
    worker_stop(&wr.w);
    vs_stream_free(own);
    free(cols);
    vs_buf_dispose(&wr.mine);
    vs_buf_dispose(&wr.theirs[0]);
    vs_buf_dispose(&wr.theirs[1]);
    return error;
}
